/* tui: the report model: a recording loaded, grouped, sorted and filtered, for every front end of `lucid report`. */
#ifndef LUCID_TUI_MODEL_H
#define LUCID_TUI_MODEL_H

/*
 * The model is what `lucid report` shows, with no output code in it: the
 * --stdio, --json and --folded printers and the ncurses browser are thin
 * front ends over it (as perf's ui/stdio and ui/browsers are over its
 * hists). It links libconflict (reader and symbolizer) and never the
 * engine.
 *
 * Layers:
 *   struct tui_model  the recording: every abort, kept compactly (64 bytes
 *                     each), the stacks, atomic blocks and threads met so
 *                     far, and the header figures. Loaded incrementally:
 *                     tui_model_update() reads what was appended since, so
 *                     a live recording can be followed.
 *   struct tui_view   one grouping of the model's aborts (enum tui_group),
 *                     filtered, sorted and limited: the rows of a report.
 *                     A view is a snapshot; after tui_model_update() call
 *                     tui_view_refresh() to see the new aborts. Several
 *                     views of one model may exist at once (the browser's
 *                     main view and the JSON's exact-stack grouping).
 *
 * Cost: loading does no symbolization. Stacks are symbolized per distinct
 * stack, lazily (when a grouping, a filter or a caller needs their
 * frames), and cached for the model's life; the symbolizer caches per PC.
 * The first view numbers each abort's (kind, stack, other stack) once (4
 * bytes an abort and about 100 a distinct triple, kept with the model and
 * extended after an update). Grouping is then one pass over the aborts:
 * the pair, function and exact-stack groupings and the filter look up each
 * distinct triple once, the other groupings do one hash lookup per abort;
 * a row finds its stack pairs by counting its aborts' triples. Sorting
 * again is a sort of the groups only (BENCHMARKS.md has figures).
 *
 * Strings: every string the model returns (names, files, modules, labels,
 * the program and its arguments) has its control characters, DEL,
 * backslash and invalid UTF-8 escaped (rec_escape), so a recording cannot
 * drive a terminal. They stay valid as long as the model.
 *
 * Frames: stacks are shown from the user's conflicting access outwards.
 * Lucid's own frames are left out: the inlined frames of Lucid's installed
 * headers (a file under include/lucid/) and frames of functions named
 * lucid_* or of a module named liblucid.* (lucid_run's frame between a
 * transaction's function and its caller).
 *
 * Threads: one thread at a time per model and its views. The library never
 * prints; problems are returned as text (tui_model_warning).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ the model */

struct tui_model;

/*
 * Opens a recording and reads everything already in it. Returns NULL with
 * a one-line reason in err (naming the file) when it cannot be opened or
 * is not a Lucid recording of a version this code reads. Damage or a
 * record cut short does not fail the open: what came before is loaded and
 * tui_model_warning() says what happened.
 */
struct tui_model *tui_model_open(const char *path, char *err, size_t errlen);

/* Frees the model; its views must be freed first. NULL is a no-op. */
void tui_model_free(struct tui_model *m);

/* What tui_model_update() found. */
enum tui_update {
	TUI_UPDATE_NONE = 0,  /* nothing new (the file ends where it did) */
	TUI_UPDATE_NEW,       /* new records were read (aborts or figures) */
	TUI_UPDATE_DAMAGED,   /* reading stopped for good at damage (warning says where) */
	TUI_UPDATE_ERROR,     /* read error or out of memory (warning says which); may be retried */
};

/*
 * Reads the records appended since the last call (or since the open) and
 * adds them to the model; for --follow, call it every second or so. Views
 * keep showing what they showed until tui_view_refresh(). Pointers to
 * threads, rows and aborts returned before may be invalidated (frames,
 * stacks' and blocks' strings stay valid).
 */
enum tui_update tui_model_update(struct tui_model *m);

/*
 * Warnings, one per line, or NULL: damage, a read error, or a record cut
 * short at the end of the file as of the last update (which a live file
 * may show for a moment, while a record is being written), and the
 * symbolization problems met so far (a missing file, a build-id mismatch).
 */
const char *tui_model_warning(struct tui_model *m);

/* Whether the recording is complete: the program's final STATS record was
 * read (written when it exits normally). */
bool tui_model_finished(const struct tui_model *m);

/* The header of a report. Figures cover everything read so far. */
struct tui_summary {
	const char *path;          /* the recording's file name (escaped) */
	const char *program;       /* the executable's path (escaped) */
	const char *cmdline;       /* its arguments, space-separated (escaped); "" if unknown */
	uint32_t pid;
	uint64_t start_realtime_ns; /* CLOCK_REALTIME at recording start */
	uint64_t start_mono_ns;    /* CLOCK_MONOTONIC at recording start */
	uint64_t end_mono_ns;      /* the latest abort's time (start_mono_ns if none) */
	uint64_t duration_ns;      /* end_mono_ns - start_mono_ns: the run as far as
	                              the aborts show it (the format has no end time) */
	uint64_t commits;          /* process total (STATS) when finished, else the sum
	                              of the latest COMMITS per atomic block (site 0,
	                              the blocks past the recording's site ids,
	                              included) */
	uint64_t aborts;           /* ABORT records read */
	uint64_t conflicts;        /* of which conflicts between two transactions */
	uint64_t process_aborts;   /* the process's own total (STATS), 0 until finished;
	                              differs from aborts by what was dropped */
	uint64_t wasted_ns;        /* sum of the aborts' wasted time */
	unsigned threads;          /* distinct thread ids in the aborts (either side);
	                              tui_model_threads may list more (threads that
	                              only committed) */
	double wasted_share;       /* wasted_ns / (duration_ns * threads), 0 when either
	                              is 0: the share of the threads' run time lost */
	uint64_t dropped;          /* records the recorder dropped (latest DROPS) */
	unsigned blocks;           /* atomic blocks (SITE records) read */
	unsigned stacks;           /* distinct stacks (STACK records) read */
	bool finished;             /* as tui_model_finished() */
};

/* Fills *s; its strings stay valid as long as the model. */
void tui_model_summary(const struct tui_model *m, struct tui_summary *s);

/* Short name of an abort reason as recorded ("rw", "ww", "read-invalid",
 * "write-invalid", "commit-invalid", "abort", "retry", "capacity",
 * "irrevocable"; the names of lucid_abort_reason_name()), "unknown" for
 * others. Also what --json writes as "kind". */
const char *tui_kind_name(int reason);

/* Whether the reason is a conflict between two transactions (rw, ww and
 * the three invalidations). */
bool tui_kind_is_conflict(int reason);

/* ------------------------------------------------------------ aborts */

/*
 * Handles: stacks and atomic blocks are numbered by the model from 1 in
 * the order read; 0 means "none" (no stack recorded, other side unknown).
 * A STACK or SITE record that redefines an id gets a new handle; aborts
 * read after it refer to the new one.
 */

/* One abort, as recorded (tui_model_abort). */
struct tui_abort {
	uint64_t mono_ns;          /* when it aborted (CLOCK_MONOTONIC) */
	uint64_t wasted_ns;        /* the aborted attempt's duration */
	uint64_t address;          /* the aborted side's conflicting address, 0 if none */
	uint64_t other_address;    /* the other side's address (differs: false conflict) */
	uint32_t stack;            /* aborted side's stack at its conflicting access */
	uint32_t other_stack;      /* other side's stack at its access; 0 if unknown */
	uint32_t alloc_stack;      /* the lucid_malloc that allocated the word's block, or 0 */
	uint32_t block;            /* aborted transaction's atomic block */
	uint32_t other_block;      /* other transaction's, 0 if unknown */
	uint32_t tid, other_tid;   /* kernel thread ids (other_tid 0 if unknown) */
	uint16_t attempt;          /* 1 for a first attempt (saturates at 65535) */
	uint8_t reason;            /* enum lucid_abort_reason */
	uint8_t flags;             /* REC_ABORT_* of conflict/format.h: other known,
	                              false conflict, other committed, alloc stack */
};

/* Number of aborts read so far; they are numbered 0 .. n-1 in file order. */
uint64_t tui_model_aborts(const struct tui_model *m);

/* Copies abort i into *out; false when i is out of range. */
bool tui_model_abort(const struct tui_model *m, uint64_t i, struct tui_abort *out);

/* One frame of a stack, symbolized. */
struct tui_frame {
	const char *function;      /* "0x..." (the PC) when unknown */
	const char *file;          /* source file; "??" when unknown */
	unsigned line;             /* 0 when unknown */
	const char *module;        /* the module's path, "??" when the PC is in none */
	uint64_t pc;               /* the return address recorded */
	bool inlined;              /* an inlined call: the next frame is its caller */
};

/*
 * The frames of a stack (a handle from an abort or a row), innermost
 * first, starting at the user's conflicting access (Lucid's frames left
 * out), inlined calls as frames of their own. *n is their number; NULL
 * with *n 0 for handle 0, an unknown handle, or out of memory. Symbolized
 * on first use and cached: the array is valid as long as the model.
 */
const struct tui_frame *tui_model_frames(struct tui_model *m, uint32_t stack, size_t *n);

/* The top user frame of a stack (its first frame), or NULL (handle 0). */
const struct tui_frame *tui_model_top_frame(struct tui_model *m, uint32_t stack);

/* An atomic block (a LUCID_ATOMIC, or a transaction started by lucid_run). */
struct tui_block {
	const char *function;      /* enclosing function (__func__) */
	const char *file;          /* source file as compiled (__FILE__) */
	unsigned line;             /* the LUCID_ATOMIC's line; 0 for lucid_run */
	uint64_t commits;          /* latest COMMITS count (0 if none seen) */
	uint64_t aborts;           /* aborts read whose aborted side ran this block */
	uint64_t wasted_ns;        /* their wasted time */
	double abort_rate;         /* aborts / (aborts + commits); -1 when no COMMITS
	                              record has been read yet (rate unknown) */
};

/* Block handle b, or NULL (0 or unknown). Valid until tui_model_update(). */
const struct tui_block *tui_model_block(const struct tui_model *m, uint32_t b);

/* ------------------------------------------------------------ threads */

/* One thread, as the aborts and the THREADS records show it. */
struct tui_thread {
	uint32_t tid;
	uint64_t aborts;           /* its aborted attempts */
	uint64_t wasted_ns;        /* their time */
	double wasted_share;       /* wasted_ns / the run's duration (0..1, may
	                              exceed 1 only through clock skew) */
	uint64_t caused;           /* aborts of others where it was the other side */
	uint64_t commits;          /* its commits: the latest THREADS count (0 if
	                              none names it) */
	bool commits_known;        /* false: the recording has no THREADS record
	                              (written by older recorders): show commits and
	                              the abort rate as unknown */
	double abort_rate;         /* aborts / (aborts + commits); -1 when commits
	                              are unknown */
};

/*
 * The per-thread table, by wasted time (most first, then by tid): *n
 * threads, those met in aborts (either side) and those that THREADS
 * records name (threads that committed and never aborted too). Valid until
 * the next tui_model_update() or tui_model_threads(). NULL (and *n 0) when
 * there is no thread or on out of memory.
 */
const struct tui_thread *tui_model_threads(struct tui_model *m, size_t *n);

/* ------------------------------------------------------------ views */

/* How a view groups aborts (the rows of the report). */
enum tui_group {
	/* Conflict pair: (kind, aborted side's top user frame, other side's
	 * top user frame), frames compared by function, file and line (by PC
	 * when unsymbolized). The default. */
	TUI_GROUP_PAIR = 0,
	/* The aborted transaction's atomic block. */
	TUI_GROUP_BLOCK,
	/* The aborted side's conflicting address (0: aborts with none). */
	TUI_GROUP_ADDRESS,
	/* The function of the aborted side's top user frame. */
	TUI_GROUP_FUNCTION,
	/* The aborted transaction's thread. */
	TUI_GROUP_THREAD,
	/* Exact stacks: (kind, aborted stack, other stack); the grouping of
	 * the "conflicts" array of --json (../CONTRACT). */
	TUI_GROUP_STACKS,
	TUI_GROUPS
};

/* How rows are ordered: most first; ties by aborts, then wasted time,
 * then by the group's first abort in the file, so that outputs are
 * stable. */
enum tui_sort {
	TUI_SORT_WASTED = 0,       /* wasted time (the default) */
	TUI_SORT_ABORTS,           /* number of aborts */
	TUI_SORT_RATE,             /* abort rate of the row's atomic block (unknown last) */
	TUI_SORTS
};

/* Names used on the command line and in the browser: "pair", "block",
 * "address", "function", "thread", "stacks"; "wasted", "aborts", "rate".
 * The parse functions return -1 for an unknown name. */
const char *tui_group_name(enum tui_group g);
int tui_group_parse(const char *name);
const char *tui_sort_name(enum tui_sort s);
int tui_sort_parse(const char *name);

/* What a view shows. */
struct tui_query {
	enum tui_group group;
	enum tui_sort sort;
	/* Keep only aborts where either stack (aborted or other side) has a
	 * frame whose function or file contains this text, ignoring case;
	 * NULL or "" keeps all. Matched against the escaped strings shown. */
	const char *filter;
	/* At most this many rows (the first ones in sort order); 0: all. */
	size_t limit;
};

/* Top user frame of one side of a row, for display. */
struct tui_loc {
	uint32_t stack;            /* the representative stack (0: unknown side) */
	const char *function;      /* "?" when the side is unknown */
	const char *file;
	unsigned line;
};

/* One row: a group of aborts. */
struct tui_row {
	/* What the group is, escaped, for display: for pairs and exact
	 * stacks "function file:line -> function file:line" (base names of
	 * the files; no "-> ..." without an other side); a block's
	 * "function file:line" (its file as compiled; "function file
	 * (lucid_run)" for lucid_run); an address "0x..." ("none" for
	 * aborts without one); a function name; "tid N". */
	const char *label;
	uint64_t aborts;
	uint64_t wasted_ns;
	double share;              /* wasted_ns / all the model's wasted time
	                              (not just the filtered aborts') */
	int kind;                  /* the reason when all its aborts share one, else -1 */
	uint64_t false_conflicts;  /* its aborts that were false conflicts */
	uint32_t block;            /* the atomic block most of its aborts ran (0: none) */
	double abort_rate;         /* that block's abort rate (tui_block), -1 unknown */
	struct tui_loc aborted;    /* top user frame of the aborted side, of the
	                              row's most frequent (stack, other stack) */
	struct tui_loc other;      /* the same for the other side */
	uint64_t first_abort;      /* the first abort of the group (file order) */
	uint64_t first_ns, last_ns; /* when its first and last aborts happened */
	/* Grouping keys: which of these mean something depends on the
	 * grouping (tid for THREAD, address for ADDRESS, block for BLOCK). */
	uint32_t tid;
	uint64_t address;
};

/* How every front end writes a row's parts, into buf (len bytes, cut if
 * needed): a side as "function file:line" with the file's base name ("?"
 * for an unknown side); the other side, or "-" when the row's aborts are
 * not conflicts between two transactions; the kind ("mixed" when the row
 * has several), with how many of its aborts were false conflicts. */
void tui_side_text(char *buf, size_t len, const struct tui_loc *l);
void tui_row_other_text(char *buf, size_t len, const struct tui_row *r);
void tui_row_kind_text(char *buf, size_t len, const struct tui_row *r);

struct tui_view;

/* Builds a view of the model's current aborts; q is copied (the filter
 * too). NULL on out of memory. */
struct tui_view *tui_view_new(struct tui_model *m, const struct tui_query *q);
void tui_view_free(struct tui_view *v);

/* Changes the query and recomputes (0, or -ENOMEM: the view is then empty).
 * When only the sort key or the limit changed, and the model did not, the
 * groups are only sorted again, without a pass over the aborts. */
int tui_view_set_query(struct tui_view *v, const struct tui_query *q);
const struct tui_query *tui_view_query(const struct tui_view *v);

/* Recomputes from the model's aborts (after tui_model_update()); 0 or -ENOMEM. */
int tui_view_refresh(struct tui_view *v);

/*
 * Rows after the limit, and row i of them (NULL when i is out of range, or
 * out of memory). A row's label and frames are made on first access, so
 * that views of a hundred thousand groups cost only what is looked at.
 * Row pointers are valid until the view changes (set_query, refresh, free).
 */
size_t tui_view_rows(const struct tui_view *v);
const struct tui_row *tui_view_row(const struct tui_view *v, size_t i);

/* Totals of the aborts the filter kept (all rows, the limit aside), and
 * how many rows there were before the limit. */
struct tui_view_totals {
	uint64_t aborts;
	uint64_t wasted_ns;
	size_t groups;
};
void tui_view_totals(const struct tui_view *v, struct tui_view_totals *t);

/*
 * The aborts of row i, in file order: *n indices for tui_model_abort.
 * Valid until the view changes. (Every abort belongs to exactly one row
 * before the limit.)
 */
const uint64_t *tui_view_members(const struct tui_view *v, size_t i, size_t *n);

/*
 * Histogram of when row i's aborts happened: the run (the summary's
 * start_mono_ns to end_mono_ns at the last refresh) cut into nbuckets equal
 * slices, counts[k] the aborts in slice k. Returns the largest count.
 */
uint64_t tui_view_histogram(const struct tui_view *v, size_t i, uint64_t *counts, size_t nbuckets);

/*
 * The same from an even sample of at most max_samples of the row's aborts
 * (every k-th in file order; all of them when there are fewer, or when
 * max_samples is 0): counts are of the sample. For a sparkline, whose
 * shape is all it shows, on rows of many aborts: the browser redraws one
 * per visible row, and a row of half a million aborts costs milliseconds.
 */
uint64_t tui_view_histogram_sample(const struct tui_view *v, size_t i, uint64_t *counts, size_t nbuckets,
				   size_t max_samples);

/*
 * Writes a sparkline of counts into buf (NUL-terminated, cut to fit):
 * one character per bucket, scaled to the largest count, empty buckets as
 * a space; with utf8, the eight block characters U+2581..U+2588, else the
 * ASCII ramp "_.-=+*#@". Returns buf.
 */
char *tui_sparkline(const uint64_t *counts, size_t nbuckets, bool utf8, char *buf, size_t buflen);

/* One distinct (aborted stack, other stack) of a row: what the stack
 * views show (a pair row may gather several). */
struct tui_stack_pair {
	uint32_t stack, other_stack;
	uint64_t aborts, wasted_ns;
	uint64_t example;          /* an abort with these stacks: the first one */
};

/*
 * The distinct stack pairs of row i, most aborts first: fills out[0 ..
 * max-1] and returns how many there are in all (may exceed max), or 0
 * with errno ENOMEM.
 */
size_t tui_view_stack_pairs(const struct tui_view *v, size_t i, struct tui_stack_pair *out, size_t max);

/* One conflicting address of a row. */
struct tui_address {
	uint64_t address;          /* the aborted side's */
	uint64_t other_address;    /* the other side's (differs: false conflict) */
	uint32_t alloc_stack;      /* its allocation stack, 0 if unknown */
	bool false_conflict;
	uint64_t aborts;
};

/* The distinct (address, other address) of row i, most aborts first; as
 * tui_view_stack_pairs. */
size_t tui_view_addresses(const struct tui_view *v, size_t i, struct tui_address *out, size_t max);

/*
 * The distinct thread ids on one side of row i (other: the other side's,
 * unknown ones left out), ascending: fills out[0 .. max-1] and returns how
 * many there are in all; as tui_view_stack_pairs.
 */
size_t tui_view_threads(const struct tui_view *v, size_t i, bool other, uint32_t *out, size_t max);

#endif /* LUCID_TUI_MODEL_H */
