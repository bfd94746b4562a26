/* conflict: symbolizing return addresses of the running process itself, with libdw, for LUCID_BREAK. */
#ifndef LUCID_CONFLICT_SELFSYM_H
#define LUCID_CONFLICT_SELFSYM_H

#include <stdbool.h>
#include <stdint.h>

/*
 * The offline symbolizer (symbolize.h) reads a recording's module map; this
 * one reads the live process's (/proc/self/maps, through libdw's Dwfl),
 * opened on first use, so programs that never print a conflict never load
 * debug information. Callable from any thread (one lock around libdw);
 * results are cached per address and never freed.
 */

/* One frame at an address. Strings stay valid until the process exits. */
struct conflict_frame {
	const char *function;  /* "??" when unknown */
	const char *file;      /* source file, "??" when unknown */
	unsigned line;         /* 0 when unknown */
	bool inlined;          /* an inlined call: the next frame is its caller */
	const char *module;    /* the file the address lies in; "??" when none */
};

/*
 * Calls fn once per frame at return address @p pc (pc - 1 is looked up, so
 * the line is the call's): the innermost inlined function first, the
 * function that contains them last. An address nothing is known about
 * still gives one frame. Stops when fn returns nonzero and returns that;
 * otherwise 0. fn runs without the lock held.
 */
int conflict_selfsym(uintptr_t pc, int (*fn)(const struct conflict_frame *f, void *arg), void *arg);

/* Lucid's own inline header functions (lucid_load_, lucid_store_fast_, ...),
 * which a recorded stack starts in: not the user's frames. */
bool conflict_selfsym_is_lucid(const struct conflict_frame *f);

#endif /* LUCID_CONFLICT_SELFSYM_H */
