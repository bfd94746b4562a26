/* conflict: turning a recorded PC into function, file:line and inlined frames, offline, with libdw. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

#include "conflict/dwframes.h"
#include "conflict/symbolize.h"

/*
 * Each module gets its own Dwfl session: modules of a recording may overlap
 * (one unloaded, another loaded at its place later), which a single session
 * refuses, and a module that cannot be opened then costs nothing to the
 * others. Sessions are opened on first use, so a report that shows ten
 * stacks does not open every library the program had loaded.
 */
struct rec_symmod {
	const struct rec_module *m;
	Dwfl *dwfl;
	Dwfl_Module *dm;   /* NULL: unusable (missing, not ELF, build-id mismatch) */
};

/* The frames at one looked-up address (pc fields are filled per call). */
struct rec_symentry {
	uint64_t addr;
	const struct rec_module *m;  /* the module it was resolved in */
	uint32_t n;
	struct rec_frame frames[];
};

struct rec_symbolizer {
	struct rec_reader *r;
	char *debuginfo_path;      /* NULL: libdw's default search path */
	Dwfl_Callbacks callbacks;
	struct rec_symmod *mods;
	size_t nmods, capmods;
	struct rec_symentry **cache; /* open addressing by addr; NULL: empty */
	size_t ccap, cn;
	char *warn;
	size_t warnlen, warncap;
};

static const char rec_unknown[] = "??";

/* ------------------------------------------------------------ warnings */

__attribute__((format(printf, 2, 3)))
static void rec_sym_warn(struct rec_symbolizer *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	n = strlen(line);
	if (s->warnlen + n + 2 > s->warncap) {
		size_t cap = (s->warncap ? 2 * s->warncap : 512) + n + 2;
		char *w = realloc(s->warn, cap);

		if (!w)
			return; /* a warning lost is better than a report lost */
		s->warn = w;
		s->warncap = cap;
	}
	memcpy(s->warn + s->warnlen, line, n);
	s->warnlen += n;
	s->warn[s->warnlen++] = '\n';
	s->warn[s->warnlen] = '\0';
}

const char *rec_sym_warning(const struct rec_symbolizer *s)
{
	return s->warnlen ? s->warn : NULL;
}

static void rec_hex(char *out, size_t outlen, const uint8_t *p, size_t n)
{
	size_t k = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && k + 3 <= outlen; i++, k += 2)
		snprintf(out + k, outlen - k, "%02x", p[i]);
	if (!n)
		snprintf(out, outlen, "none");
}

/* ------------------------------------------------------------ modules */

static void rec_sym_open(struct rec_symbolizer *s, struct rec_symmod *sm)
{
	const struct rec_module *m = sm->m;
	char name[512];
	const unsigned char *bits = NULL;
	GElf_Addr vaddr;
	int n;

	rec_escape(name, sizeof(name), m->path, strlen(m->path));
	/* "[vdso]" and the like have no file; nothing to say about them. */
	if (!m->path[0] || m->path[0] == '[')
		return;
	sm->dwfl = dwfl_begin(&s->callbacks);
	if (!sm->dwfl) {
		rec_sym_warn(s, "%s: %s", name, dwfl_errmsg(-1));
		return;
	}
	dwfl_report_begin(sm->dwfl);
	sm->dm = dwfl_report_elf(sm->dwfl, m->path, m->path, -1, m->base, true);
	dwfl_report_end(sm->dwfl, NULL, NULL);
	if (!sm->dm) {
		rec_sym_warn(s, "%s: cannot read: %s; its frames are not symbolized", name,
			     dwfl_errmsg(-1));
		return;
	}
	if (!m->build_id_len)
		return;
	n = dwfl_module_build_id(sm->dm, &bits, &vaddr);
	if (n < 0 || (size_t)n != m->build_id_len || memcmp(bits, m->build_id, (size_t)n) != 0) {
		char want[2 * 64 + 1], have[2 * 64 + 1];

		rec_hex(want, sizeof(want), m->build_id, m->build_id_len);
		rec_hex(have, sizeof(have), bits, n > 0 ? (size_t)n : 0);
		rec_sym_warn(s, "%s: build-id %s, but the recording has %s: the file changed since "
			     "the recording; its frames are not symbolized", name, have, want);
		sm->dm = NULL;
	}
}

/* The Dwfl module for a recorded module, opened on first use; NULL when
 * unusable (or out of memory). */
static Dwfl_Module *rec_sym_module(struct rec_symbolizer *s, const struct rec_module *m)
{
	struct rec_symmod *sm;

	for (size_t i = 0; i < s->nmods; i++)
		if (s->mods[i].m == m)
			return s->mods[i].dm;
	if (s->nmods == s->capmods) {
		size_t cap = s->capmods ? 2 * s->capmods : 16;
		struct rec_symmod *v = realloc(s->mods, cap * sizeof(*v));

		if (!v)
			return NULL;
		s->mods = v;
		s->capmods = cap;
	}
	sm = &s->mods[s->nmods++];
	memset(sm, 0, sizeof(*sm));
	sm->m = m;
	rec_sym_open(s, sm);
	return sm->dm;
}

/* ------------------------------------------------------------ resolving */

struct rec_frames {
	struct rec_frame *v;
	uint32_t n, cap;
	bool oom;
};

static void rec_frames_push(struct rec_frames *fr, const char *function, const char *file,
			    int line, int column, bool inlined, const char *module)
{
	if (fr->n == fr->cap) {
		uint32_t cap = fr->cap ? 2 * fr->cap : 4;
		struct rec_frame *v = realloc(fr->v, cap * sizeof(*v));

		if (!v) {
			fr->oom = true;
			return;
		}
		fr->v = v;
		fr->cap = cap;
	}
	fr->v[fr->n++] = (struct rec_frame){
		.function = function ? function : rec_unknown,
		.file = file ? file : rec_unknown,
		.line = line > 0 ? (unsigned)line : 0,
		.column = column > 0 ? (unsigned)column : 0,
		.inlined = inlined,
		.module = module,
	};
}

/* What a frame walk (rec_dwarf_frames) gives the frames of one address. */
struct rec_frames_at {
	struct rec_frames *fr;
	const char *module;
};

static void rec_frame_found(void *arg, const char *function, const char *file, int line,
			    int col, bool inlined)
{
	struct rec_frames_at *at = arg;

	rec_frames_push(at->fr, function, file, line, col, inlined, at->module);
}

static struct rec_symentry *rec_sym_resolve(struct rec_symbolizer *s, const struct rec_module *m,
					    uint64_t addr)
{
	Dwfl_Module *dm = rec_sym_module(s, m);
	struct rec_frames fr = { NULL, 0, 0, false };
	struct rec_symentry *e;

	if (dm) {
		Dwarf_Addr bias = 0;
		Dwarf_Die *cu = rec_dwarf_unit(dm, addr, &bias);
		int line, col;
		const char *file = rec_dwarf_line(cu, bias, addr, &line, &col);
		struct rec_frames_at at = { &fr, m->path };

		if (!rec_dwarf_frames(cu, bias, addr, &file, &line, &col, rec_frame_found, &at)) {
			/* No DWARF for it, or inlined calls without their
			 * function: the ELF symbol table still names it. */
			GElf_Off off;
			GElf_Sym sym;

			rec_frames_push(&fr, dwfl_module_addrinfo(dm, addr, &off, &sym, NULL, NULL, NULL),
					file, line, col, false, m->path);
		}
	} else {
		rec_frames_push(&fr, NULL, NULL, 0, 0, false, m->path);
	}
	e = fr.oom ? NULL : malloc(sizeof(*e) + fr.n * sizeof(struct rec_frame));
	if (e) {
		e->addr = addr;
		e->m = m;
		e->n = fr.n;
		memcpy(e->frames, fr.v, fr.n * sizeof(struct rec_frame));
	}
	free(fr.v);
	return e;
}

/* ------------------------------------------------------------ the cache */

static size_t rec_cache_slot(const struct rec_symbolizer *s, uint64_t addr)
{
	size_t i = (size_t)((addr * 0x9e3779b97f4a7c15ull) >> 32) & (s->ccap - 1);

	while (s->cache[i] && s->cache[i]->addr != addr)
		i = (i + 1) & (s->ccap - 1);
	return i;
}

static int rec_cache_put(struct rec_symbolizer *s, struct rec_symentry *e)
{
	if ((s->cn + 1) * 4 > s->ccap * 3) {
		size_t cap = s->ccap ? 2 * s->ccap : 256, oldcap = s->ccap;
		struct rec_symentry **old = s->cache, **v = calloc(cap, sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->cache = v;
		s->ccap = cap;
		for (size_t i = 0; i < oldcap; i++)
			if (old[i])
				s->cache[rec_cache_slot(s, old[i]->addr)] = old[i];
		free(old);
	}
	s->cache[rec_cache_slot(s, e->addr)] = e;
	s->cn++;
	return 0;
}

/* ------------------------------------------------------------ API */

struct rec_symbolizer *rec_sym_new(struct rec_reader *r)
{
	struct rec_symbolizer *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->r = r;
	s->callbacks.find_elf = dwfl_build_id_find_elf;
	s->callbacks.find_debuginfo = dwfl_standard_find_debuginfo;
	s->callbacks.section_address = dwfl_offline_section_address;
	s->callbacks.debuginfo_path = &s->debuginfo_path;
	return s;
}

void rec_sym_free(struct rec_symbolizer *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nmods; i++)
		if (s->mods[i].dwfl)
			dwfl_end(s->mods[i].dwfl);
	for (size_t i = 0; i < s->ccap; i++)
		free(s->cache[i]);
	free(s->cache);
	free(s->mods);
	free(s->warn);
	free(s);
}

int rec_sym_lookup(struct rec_symbolizer *s, uint64_t pc, bool return_address,
		   int (*fn)(const struct rec_frame *f, void *arg), void *arg)
{
	uint64_t addr = return_address && pc ? pc - 1 : pc;
	const struct rec_module *m = rec_reader_module_for(s->r, addr);
	struct rec_symentry *e = NULL;

	if (!m) {
		/* Not cached: a MODULE read later may still cover it. */
		struct rec_frame f = { rec_unknown, rec_unknown, 0, 0, false, NULL, pc };

		return fn(&f, arg);
	}
	if (s->ccap)
		e = s->cache[rec_cache_slot(s, addr)];
	if (e && e->m != m) {
		/* A module read since has replaced the one it was resolved in
		 * (a library loaded at an unloaded one's place). */
		struct rec_symentry *fresh = rec_sym_resolve(s, m, addr);

		if (!fresh)
			return -ENOMEM;
		s->cache[rec_cache_slot(s, addr)] = fresh;
		free(e);
		e = fresh;
	}
	if (!e) {
		e = rec_sym_resolve(s, m, addr);
		if (!e)
			return -ENOMEM;
		if (rec_cache_put(s, e) < 0) {
			free(e);
			return -ENOMEM;
		}
	}
	for (uint32_t i = 0; i < e->n; i++) {
		struct rec_frame f = e->frames[i];
		int rc;

		f.pc = pc;
		rc = fn(&f, arg);
		if (rc)
			return rc;
	}
	return 0;
}
