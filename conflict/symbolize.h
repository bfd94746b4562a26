/* conflict: placeholder until written. */
#ifndef LUCID_CONFLICT_SYMBOLIZE_H
#define LUCID_CONFLICT_SYMBOLIZE_H
#endif
