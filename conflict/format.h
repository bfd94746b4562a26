/* conflict: placeholder until written. */
#ifndef LUCID_CONFLICT_FORMAT_H
#define LUCID_CONFLICT_FORMAT_H
#endif
