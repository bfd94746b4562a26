/* conflict: LUCID_BREAK: stopping in the debugger, or printing the conflict, at the aborts a specification matches. */
#ifndef LUCID_CONFLICT_BREAK_H
#define LUCID_CONFLICT_BREAK_H

#include <stdbool.h>
#include <stdint.h>

#include <lucid/conflict.h>
#include "conflict/break-spec.h"

/* Whether LUCID_BREAK is set (and valid: a bad one stopped the program
 * when the library was loaded). Aborts are then captured with both stacks. */
bool conflict_break_active(void);

/*
 * Called for every captured abort, in the aborting thread, after
 * lucid_debug_abort(): when it matches the specification and its match
 * number stops, raises SIGTRAP if a debugger is attached, and otherwise
 * prints the conflict with both stacks symbolized; the program goes on.
 */
void conflict_break_check(const struct lucid_conflict *c);

/* Where the aborting thread raises SIGTRAP: the frame a debugger stops in,
 * with the abort in @p c and its match number in @p n. Never inlined. */
#if defined(__has_attribute) && __has_attribute(noclone)
__attribute__((noclone))   /* GCC: no specialized copy under another name */
#endif
__attribute__((noinline, used)) void conflict_break_trap(const struct lucid_conflict *c, uint64_t n);

/* The conflict as text, both stacks symbolized in-process, for LUCID_BREAK's
 * report: lines ending in '\n', each but the first indented. @p n is the
 * match number, @p spec the specification's text (both for the first line).
 * Returns a malloc'd string, or NULL when out of memory. */
char *conflict_break_describe(const struct lucid_conflict *c, uint64_t n, const char *spec);

#endif /* LUCID_CONFLICT_BREAK_H */
