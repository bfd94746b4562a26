/* conflict: turning a recorded PC into function, file:line and inlined frames, offline, with libdw. */
#ifndef LUCID_CONFLICT_SYMBOLIZE_H
#define LUCID_CONFLICT_SYMBOLIZE_H

/*
 * Uses the recording's module map: a PC is looked up in the file the
 * module was loaded from, at the recorded load address, after checking the
 * recorded build-id. Debug information is found as libdw finds it (in the
 * file, by .gnu_debuglink, or under /usr/lib/debug/.build-id). Results are
 * cached per PC. One thread at a time; the reader must outlive the
 * symbolizer, and may go on reading (new modules are taken into account).
 */

#include <stdbool.h>
#include <stdint.h>

#include "conflict/reader.h"

/* One frame at a PC. Strings stay valid as long as the symbolizer. */
struct rec_frame {
	const char *function; /* "??" when unknown */
	const char *file;     /* source file, "??" when unknown */
	unsigned line;        /* 0 when unknown */
	unsigned column;      /* 0 when unknown */
	bool inlined;         /* an inlined call: the next frame is its caller */
	const char *module;   /* the module's path; NULL when the PC is in none */
	uint64_t pc;          /* the PC asked about */
};

struct rec_symbolizer;

/* NULL when out of memory. */
struct rec_symbolizer *rec_sym_new(struct rec_reader *r);
void rec_sym_free(struct rec_symbolizer *s);

/*
 * Calls fn once per frame at pc: the innermost inlined function first,
 * each inlined call's caller next (at the call's file:line), the function
 * that contains them last (inlined false). A PC nothing is known about
 * still gives one frame ("??"). With return_address, pc is a return
 * address (every frame of a recorded stack, the first included) and pc - 1
 * is looked up, so that the line is the call's, not the next statement's. Stops when fn
 * returns nonzero and returns that value; otherwise returns 0, or -ENOMEM.
 */
int rec_sym_lookup(struct rec_symbolizer *s, uint64_t pc, bool return_address,
		   int (*fn)(const struct rec_frame *f, void *arg), void *arg);

/* Problems met so far (a missing file, a build-id that does not match,
 * no debug information), one per line, each module once; or NULL. */
const char *rec_sym_warning(const struct rec_symbolizer *s);

#endif /* LUCID_CONFLICT_SYMBOLIZE_H */
