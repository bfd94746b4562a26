/* conflict: symbolizing return addresses of the running process itself, with libdw, for LUCID_BREAK. */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

#include "conflict/dwframes.h"
#include "conflict/selfsym.h"

#define SS_MAX_FRAMES 32          /* inlined calls kept per address */
#define SS_MAX_CACHED 65536       /* addresses cached; later ones are looked up each time */
#define SS_REREAD_NS 1000000000ull /* re-read the module list at most once a second */

/* The frames at one address, with their strings after them: nothing in it
 * points into libdw, so it survives the module list being read again. */
struct ss_entry {
	uintptr_t pc;
	unsigned n;
	struct conflict_frame frames[];
};

static const char ss_unknown[] = "??";

static pthread_mutex_t ss_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t ss_once = PTHREAD_ONCE_INIT;
static Dwfl *ss_dwfl;
static char *ss_debuginfo_path;   /* NULL: libdw's default search path */
static const Dwfl_Callbacks ss_callbacks = {
	.find_elf = dwfl_linux_proc_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.debuginfo_path = &ss_debuginfo_path,
};
static uint64_t ss_read_ns;       /* when the module list was last read */
static struct ss_entry **ss_cache; /* open addressing by pc; NULL: empty */
static size_t ss_cap, ss_n;

/* A child of fork() may symbolize too: the lock must not be left held by
 * a thread that did not survive. */
static void ss_lock(void)
{
	pthread_mutex_lock(&ss_mutex);
}

static void ss_unlock(void)
{
	pthread_mutex_unlock(&ss_mutex);
}

static void ss_init(void)
{
	pthread_atfork(ss_lock, ss_unlock, ss_unlock);
}

static uint64_t ss_now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* Reads /proc/self/maps (again): libraries loaded since are found then. */
static void ss_read_modules(void)
{
	if (!ss_dwfl && !(ss_dwfl = dwfl_begin(&ss_callbacks)))
		return;
	ss_read_ns = ss_now_ns();
	dwfl_report_begin(ss_dwfl);
	dwfl_linux_proc_report(ss_dwfl, getpid());
	dwfl_report_end(ss_dwfl, NULL, NULL);
}

/* ------------------------------------------------------------ DWARF */

struct ss_frames {
	struct conflict_frame v[SS_MAX_FRAMES];
	unsigned n;
};

static void ss_push(struct ss_frames *fr, const char *function, const char *file, int line,
                    bool inlined, const char *module)
{
	if (fr->n == SS_MAX_FRAMES)
		return;
	fr->v[fr->n++] = (struct conflict_frame){
		.function = function ? function : ss_unknown,
		.file = file ? file : ss_unknown,
		.line = line > 0 ? (unsigned)line : 0,
		.inlined = inlined,
		.module = module ? module : ss_unknown,
	};
}

/* What a frame walk (rec_dwarf_frames) gives the frames of one address. */
struct ss_frames_at {
	struct ss_frames *fr;
	const char *module;
};

static void ss_frame_found(void *arg, const char *function, const char *file, int line, int col,
                           bool inlined)
{
	struct ss_frames_at *at = arg;

	(void)col;
	ss_push(at->fr, function, file, line, inlined, at->module);
}

/* The frames at @p addr in @p m: inlined calls innermost first, then the
 * function that holds them. */
static void ss_module_frames(Dwfl_Module *m, Dwarf_Addr addr, struct ss_frames *fr)
{
	struct ss_frames_at at = { fr, dwfl_module_info(m, NULL, NULL, NULL, NULL, NULL, NULL, NULL) };
	Dwarf_Addr bias = 0;
	Dwarf_Die *cu = rec_dwarf_unit(m, addr, &bias);
	int line, col;
	const char *file = rec_dwarf_line(cu, bias, addr, &line, &col);

	/* No DWARF, or inlined calls without a function around them: the
	 * symbol table still names the function. */
	if (!rec_dwarf_frames(cu, bias, addr, &file, &line, &col, ss_frame_found, &at))
		ss_push(fr, dwfl_module_addrname(m, addr), file, line, false, at.module);
}

/* A copy of the frames at @p pc that owns its strings; NULL when out of memory. */
static struct ss_entry *ss_resolve(uintptr_t pc)
{
	struct ss_frames fr = { .n = 0 };
	Dwarf_Addr addr = pc ? pc - 1 : 0;
	Dwfl_Module *m = NULL;

	if (!ss_dwfl)
		ss_read_modules();
	if (ss_dwfl && !(m = dwfl_addrmodule(ss_dwfl, addr)) &&
	    ss_now_ns() - ss_read_ns > SS_REREAD_NS) {
		ss_read_modules();
		m = dwfl_addrmodule(ss_dwfl, addr);
	}
	if (m)
		ss_module_frames(m, addr, &fr);
	else
		ss_push(&fr, NULL, NULL, 0, false, NULL);

	size_t bytes = sizeof(struct ss_entry) + fr.n * sizeof(struct conflict_frame);

	for (unsigned i = 0; i < fr.n; i++)
		bytes += strlen(fr.v[i].function) + strlen(fr.v[i].file) + strlen(fr.v[i].module) + 3;

	struct ss_entry *e = malloc(bytes);

	if (!e)
		return NULL;
	char *s = (char *)&e->frames[fr.n];

	e->pc = pc;
	e->n = fr.n;
	for (unsigned i = 0; i < fr.n; i++) {
		const char **dst[3] = { &e->frames[i].function, &e->frames[i].file, &e->frames[i].module };
		const char *src[3] = { fr.v[i].function, fr.v[i].file, fr.v[i].module };

		e->frames[i] = fr.v[i];
		for (int k = 0; k < 3; k++) {
			size_t n = strlen(src[k]) + 1;

			memcpy(s, src[k], n);
			*dst[k] = s;
			s += n;
		}
	}
	return e;
}

/* ------------------------------------------------------------ the cache */

static size_t ss_slot(uintptr_t pc)
{
	size_t i = (size_t)(((uint64_t)pc * 0x9E3779B97F4A7C15ull) >> 32) & (ss_cap - 1);

	while (ss_cache[i] && ss_cache[i]->pc != pc)
		i = (i + 1) & (ss_cap - 1);
	return i;
}

/* Keeps @p e for good; false when the cache is full (or out of memory). */
static bool ss_keep(struct ss_entry *e)
{
	if (ss_n >= SS_MAX_CACHED)
		return false;
	if ((ss_n + 1) * 4 > ss_cap * 3) {
		size_t cap = ss_cap ? 2 * ss_cap : 256, oldcap = ss_cap;
		struct ss_entry **old = ss_cache, **v = calloc(cap, sizeof(*v));

		if (!v)
			return false;
		ss_cache = v;
		ss_cap = cap;
		for (size_t i = 0; i < oldcap; i++)
			if (old[i])
				ss_cache[ss_slot(old[i]->pc)] = old[i];
		free(old);
	}
	ss_cache[ss_slot(e->pc)] = e;
	ss_n++;
	return true;
}

int conflict_selfsym(uintptr_t pc, int (*fn)(const struct conflict_frame *f, void *arg), void *arg)
{
	struct ss_entry *e = NULL;
	bool kept = true;
	int rc = 0;

	pthread_once(&ss_once, ss_init);
	ss_lock();
	if (ss_cap)
		e = ss_cache[ss_slot(pc)];
	if (!e && (e = ss_resolve(pc)) != NULL)
		kept = ss_keep(e);
	ss_unlock();
	if (!e) {
		struct conflict_frame f = { ss_unknown, ss_unknown, 0, false, ss_unknown };

		return fn(&f, arg);
	}
	/* Kept entries are never changed or freed: no lock needed to read. */
	for (unsigned i = 0; i < e->n && !rc; i++)
		rc = fn(&e->frames[i], arg);
	if (!kept)
		free(e);
	return rc;
}

bool conflict_selfsym_is_lucid(const struct conflict_frame *f)
{
	size_t n = strlen(f->function);

	return f->inlined && n > 7 && strncmp(f->function, "lucid_", 6) == 0 && f->function[n - 1] == '_';
}
