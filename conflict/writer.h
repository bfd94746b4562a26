/* conflict: placeholder until written. */
#ifndef LUCID_CONFLICT_WRITER_H
#define LUCID_CONFLICT_WRITER_H
#endif
