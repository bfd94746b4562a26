/* conflict: LUCID_BREAK specifications: parsing one, and deciding whether an abort matches it. */
#ifndef LUCID_CONFLICT_BREAK_SPEC_H
#define LUCID_CONFLICT_BREAK_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lucid/conflict.h>

/* Longest function pattern or block file a specification may hold, with
 * its terminating NUL. */
#define CONFLICT_BREAK_TEXT_MAX 256

/*
 * A parsed specification: every condition given must hold (an empty one
 * matches every abort). The structure holds no pointers, so a parsed
 * specification can be copied and compared as plain bytes.
 */
struct conflict_break {
	uint32_t kinds;           /* bit r set: enum lucid_abort_reason r matches; 0: any */
	bool has_address;         /* address= was given */
	uintptr_t address;        /* the first byte of the range address= names */
	uintptr_t address_len;    /* its length in bytes (1 when no +LEN) */
	char function[CONFLICT_BREAK_TEXT_MAX];   /* fnmatch(3) pattern; "": any */
	char block_file[CONFLICT_BREAK_TEXT_MAX]; /* "": any block */
	int block_line;           /* 0: any line of block_file */
	uint64_t hits;            /* stop first at this match; 0: not given */
	uint64_t every;           /* then at every this many matches; 0: not given */
};

/* The keys and the form of their values, in one line, for messages. */
extern const char conflict_break_keys[];

/*
 * Parses @p spec: conditions separated by commas, each KEY=VALUE, blanks
 * around keys and values ignored, each key at most once:
 *   kind=NAME[|NAME...]    lucid_abort_reason_name()s, or "conflict" for
 *                          the five conflicts between two transactions
 *   function=PATTERN       a function (fnmatch(3) pattern) of either stack
 *   address=ADDR[+LEN]     a byte of either side's conflicting word
 *   block=FILE[:LINE]      either transaction's atomic block
 *   hits=N                 stop at the Nth match (only there, unless every=)
 *   every=N                stop at every Nth match (from hits=, if given)
 * On success fills @p out and returns 0. Otherwise returns -EINVAL, leaves
 * @p out unspecified and, when @p errlen > 0, writes into @p err a
 * NUL-terminated message saying what is wrong (truncated to errlen). Never
 * allocates; safe from any thread; @p spec may be any NUL-terminated bytes.
 */
int conflict_break_parse(const char *spec, struct conflict_break *out, char *err, size_t errlen);

/* Whether the @p n th match (counting from 1) stops, by hits= and every=;
 * with neither, every match stops. */
bool conflict_break_stops_at(const struct conflict_break *b, uint64_t n);

/*
 * Whether function pattern @p pattern names a frame at @p pc, a return
 * address of a recorded stack (so pc - 1 is the call): the matcher's only
 * way to symbolize.
 */
typedef bool (*conflict_break_frame_fn)(uintptr_t pc, const char *pattern, void *arg);

/*
 * Whether abort @p c satisfies every condition of @p b but hits= and
 * every=. Cheap conditions come first; @p has_function (with @p arg) is
 * asked only when the others hold and a function= is given.
 */
bool conflict_break_matches(const struct conflict_break *b, const struct lucid_conflict *c,
                            conflict_break_frame_fn has_function, void *arg);

/* Whether function= pattern @p pattern names function @p name (fnmatch(3),
 * no flags: C names hold neither '/' nor leading dots); false for NULL. */
bool conflict_break_name_matches(const char *pattern, const char *name);

/* Whether block=@p file:@p line names the atomic block at @p at_file:@p at_line
 * (line 0: any line). Files match when one is the other with directories
 * in front ("hotspot.c" names "../samples/hotspot.c"). */
bool conflict_break_block_matches(const char *file, int line, const char *at_file, int at_line);

#endif /* LUCID_CONFLICT_BREAK_SPEC_H */
