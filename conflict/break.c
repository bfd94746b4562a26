/* conflict: LUCID_BREAK: stopping in the debugger, or printing the conflict, at the aborts a specification matches. */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lucid/stats.h>
#include "conflict/break.h"
#include "conflict/selfsym.h"
#include "stm/stm-internal.h"

#define BREAK_TEXT_SHOWN 512      /* bytes of the specification repeated in reports */

static struct conflict_break break_spec;
static char break_text[BREAK_TEXT_SHOWN];
static bool break_on;
static uint64_t break_matches;    /* aborts that matched so far, all threads */

/*
 * LUCID_BREAK is read when the library is loaded, before main(), so that a
 * bad specification stops the program at once rather than at its first
 * transaction; a good one is kept for rec_init(), which turns capture on.
 */
__attribute__((constructor)) static void conflict_break_env(void)
{
	const char *spec = getenv("LUCID_BREAK");
	char err[256], fix[512];

	if (!spec || !*spec)
		return;
	if (conflict_break_parse(spec, &break_spec, err, sizeof(err)) != 0) {
		snprintf(fix, sizeof(fix), "unset LUCID_BREAK, or give conditions separated by commas; "
		         "the keys are %s", conflict_break_keys);
		lucid_misuse(fix, "LUCID_BREAK=\"%.200s\": %s", spec, err);
	}
	snprintf(break_text, sizeof(break_text), "%s", spec);
	break_on = true;
}

bool conflict_break_active(void)
{
	return break_on;
}

/* Whether a tracer (a debugger) is attached: TracerPid in /proc/self/status.
 * Read at each stop, so a debugger attached later is noticed. */
static bool debugger_attached(void)
{
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	const char *t = strstr(buf, "\nTracerPid:");

	return t && strtol(t + strlen("\nTracerPid:"), NULL, 10) > 0;
}

/* What the thread stopped in conflict_break_trap is at, for the gdb
 * extension (`lucid conflict`): the arguments' locations in the debug
 * information are not always right at the call to raise() (clang describes
 * the match number by its argument register, which raise() reuses). */
__attribute__((visibility("hidden"))) __thread struct lucid_break_trap_ {
	const struct lucid_conflict *c;
	uint64_t n;
} lucid_break_trap_;

void conflict_break_trap(const struct lucid_conflict *c, uint64_t n)
{
	lucid_break_trap_.c = c;
	lucid_break_trap_.n = n;
	raise(SIGTRAP);
	lucid_break_trap_.c = NULL;
	/* Both arguments also live past the call, so the compiler keeps them
	 * where a debugger without the variable above finds them (volatile
	 * locals do not survive AddressSanitizer's frame layout in the debug
	 * information). */
	__asm__ __volatile__("" : : "r"(c), "r"(n) : "memory");
}

/* ------------------------------------------------------------ the report */

struct text {
	char *s;
	size_t len, cap;
	bool oom;
};

__attribute__((format(printf, 2, 3)))
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->oom = true;
			return;
		}
		if (t->s && t->len + (size_t)n < t->cap) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = (t->cap ? 2 * t->cap : 2048) + (size_t)n;
		char *s = realloc(t->s, cap);

		if (!s) {
			t->oom = true;
			return;
		}
		t->s = s;
		t->cap = cap;
	}
}

struct frame_out {
	struct text *t;
	uintptr_t pc;
	unsigned n;
};

static int put_frame(const struct conflict_frame *f, void *arg)
{
	struct frame_out *o = arg;

	if (conflict_selfsym_is_lucid(f))
		return 0;
	put(o->t, "    #%-2u 0x%016" PRIxPTR " %s", o->n++, o->pc, f->function);
	if (f->line)
		put(o->t, " at %s:%u", f->file, f->line);
	else if (strcmp(f->module, "??") != 0)
		put(o->t, " in %s", f->module);
	put(o->t, "%s\n", f->inlined ? " (inlined)" : "");
	return 0;
}

static void put_stack(struct text *t, const uintptr_t *pcs, unsigned depth)
{
	struct frame_out o = { t, 0, 0 };

	if (!pcs || !depth) {
		put(t, "    (no stack was captured)\n");
		return;
	}
	for (unsigned i = 0; i < depth; i++) {
		o.pc = pcs[i];
		conflict_selfsym(pcs[i], put_frame, &o);
	}
}

static void put_block(struct text *t, const char *file, int line, const char *function)
{
	if (!file)
		put(t, "an unknown atomic block");
	else if (line == 0)
		put(t, "a function run by lucid_run()");
	else
		put(t, "the atomic block at %s:%d (in %s())", file, line, function ? function : "??");
}

char *conflict_break_describe(const struct lucid_conflict *c, uint64_t n, const char *spec)
{
	struct text t = { NULL, 0, 0, false };
	bool conflict = lucid_abort_reason_is_conflict(c->reason);

	put(&t, "LUCID_BREAK match %" PRIu64 " (%s): %s abort (%s), attempt %" PRIu32 ", %" PRIu64
	    " ns wasted\n", n, spec, lucid_abort_reason_name(c->reason),
	    lucid_abort_reason_describe(c->reason), c->attempt, c->wasted_ns);
	put(&t, "  aborted transaction: thread %d, ", c->tid);
	put_block(&t, c->file, c->line, c->function);
	if (c->address)
		put(&t, ", at address 0x%" PRIxPTR, c->address);
	put(&t, "\n");
	put_stack(&t, c->stack, c->stack_depth);
	if (c->flags & LUCID_CONFLICT_OTHER_KNOWN) {
		put(&t, "  other transaction: thread %d, ", c->other_tid);
		put_block(&t, c->other_file, c->other_line, c->other_function);
		if (c->other_address)
			put(&t, ", at address 0x%" PRIxPTR, c->other_address);
		if (c->flags & LUCID_CONFLICT_OTHER_COMMITTED)
			put(&t, ", committed");
		put(&t, "\n");
		if (c->flags & LUCID_CONFLICT_FALSE)
			put(&t, "  false conflict: two different words share ownership record %" PRIu32
			    " (a layout or table-size problem, not a code one)\n", c->orec);
		put_stack(&t, c->other_stack, c->other_depth);
	} else if (conflict) {
		put(&t, "  other transaction: not known (it moved on before it could be read)\n");
	}
	if ((c->flags & LUCID_CONFLICT_ALLOC_STACK) && c->alloc_stack) {
		put(&t, "  the word's block was allocated (lucid_malloc) at:\n");
		put_stack(&t, c->alloc_stack, c->alloc_depth);
	}
	if (t.oom) {
		free(t.s);
		return NULL;
	}
	return t.s;
}

/* ------------------------------------------------------------ matching */

struct name_match {
	const char *pattern;
	bool found;
};

static int frame_named(const struct conflict_frame *f, void *arg)
{
	struct name_match *m = arg;

	if (conflict_selfsym_is_lucid(f) || !conflict_break_name_matches(m->pattern, f->function))
		return 0;
	m->found = true;
	return 1;
}

static bool has_function(uintptr_t pc, const char *pattern, void *arg)
{
	struct name_match m = { pattern, false };

	(void)arg;
	conflict_selfsym(pc, frame_named, &m);
	return m.found;
}

void conflict_break_check(const struct lucid_conflict *c)
{
	if (!break_on || !conflict_break_matches(&break_spec, c, has_function, NULL))
		return;
	uint64_t n = __atomic_add_fetch(&break_matches, 1, __ATOMIC_RELAXED);

	if (!conflict_break_stops_at(&break_spec, n))
		return;
	if (debugger_attached()) {
		conflict_break_trap(c, n);
		return;
	}
	static const char trailer[] = "  (no debugger attached: the program goes on)\n";
	char *text = conflict_break_describe(c, n, break_text);
	char *all = text ? realloc(text, strlen(text) + sizeof(trailer)) : NULL;

	if (!all) {
		free(text);
		lucid_diag("LUCID_BREAK match %" PRIu64 ": out of memory describing the conflict", n);
		return;
	}
	/* One write for the whole report: reports of threads that stop at
	 * once do not interleave. */
	strcat(all, trailer);
	lucid_diag_text(all);
	free(all);
}
