/* conflict: placeholder until written. */
#ifndef LUCID_CONFLICT_READER_H
#define LUCID_CONFLICT_READER_H
#endif
