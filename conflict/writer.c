/* conflict: the engine side of a recording: safe file creation, appends, the module map. */
#include "config.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conflict/writer.h"

struct rec_file {
	int fd;
	uint64_t size;
};

/* ------------------------------------------------------------ the file */

static int rec_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO; /* not expected from a regular file; do not spin */
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Opens an existing PATH for replacement, or explains why not. lstat first,
 * so that a device or a FIFO is never even opened (opening has side effects
 * on some devices, and a FIFO would block); then open with O_NOFOLLOW and
 * compare the inode, so a file swapped in between is not truncated either.
 * The content is checked on the open descriptor, which is what gets
 * truncated.
 */
static int rec_open_existing(const char *path, bool replace, char *err, size_t errlen)
{
	struct stat ls, fs;
	char magic[REC_MAGIC_LEN];
	ssize_t n;
	int fd, flags;

	if (lstat(path, &ls) < 0) {
		if (errno == ENOENT)
			return -EAGAIN; /* removed meanwhile: the caller creates again */
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (S_ISLNK(ls.st_mode)) {
		snprintf(err, errlen, "%s: is a symbolic link; not followed", path);
		return -1;
	}
	if (!S_ISREG(ls.st_mode)) {
		snprintf(err, errlen, "%s: exists and is not a regular file; not replaced", path);
		return -1;
	}
	if (!replace) {
		snprintf(err, errlen, "%s: already exists; not replaced", path);
		return -1;
	}
	fd = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP)
			snprintf(err, errlen, "%s: is a symbolic link; not followed", path);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &fs) < 0 || !S_ISREG(fs.st_mode) || fs.st_dev != ls.st_dev ||
	    fs.st_ino != ls.st_ino) {
		snprintf(err, errlen, "%s: changed while being checked; not replaced", path);
		goto fail;
	}
	do
		n = pread(fd, magic, sizeof(magic), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (n != 0 && (n != REC_MAGIC_LEN || memcmp(magic, REC_MAGIC, REC_MAGIC_LEN) != 0)) {
		snprintf(err, errlen, "%s: exists and is not a Lucid recording; not replaced", path);
		goto fail;
	}
	if (ftruncate(fd, 0) < 0) {
		snprintf(err, errlen, "%s: cannot truncate: %s", path, strerror(errno));
		goto fail;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		(void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	return fd;
fail:
	close(fd);
	return -1;
}

struct rec_file *rec_file_create(const char *path, bool replace, char *err, size_t errlen)
{
	struct rec_file *f;
	bool created = false;
	int fd = -1, r;

	if (errlen)
		err[0] = '\0';
	else
		err = NULL; /* snprintf(NULL, 0, ...) writes nothing */
	/* Bounded: each round needs someone else to create or remove the file. */
	for (int tries = 0; tries < 8 && fd < 0; tries++) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
		if (fd >= 0) {
			created = true;
			break;
		}
		if (errno != EEXIST) {
			snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
			return NULL;
		}
		fd = rec_open_existing(path, replace, err, errlen);
		if (fd == -1)
			return NULL;
	}
	if (fd < 0) {
		snprintf(err, errlen, "%s: keeps appearing and disappearing; not created", path);
		return NULL;
	}
	f = malloc(sizeof(*f));
	if (!f) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	f->fd = fd;
	f->size = 0;
	r = rec_file_append(f, REC_MAGIC, REC_MAGIC_LEN);
	if (r < 0) {
		snprintf(err, errlen, "%s: cannot write: %s", path, strerror(-r));
		free(f);
		goto fail;
	}
	return f;
fail:
	close(fd);
	if (created)
		unlink(path);
	return NULL;
}

int rec_file_append(struct rec_file *f, const void *data, size_t len)
{
	struct stat st;
	int r;

	/* Appending to a file that has been deleted succeeds, and everything
	 * appended vanishes with the last descriptor: refuse, so the caller
	 * can say so once instead of writing into nowhere until exit. */
	if (fstat(f->fd, &st) == 0 && st.st_nlink == 0)
		return REC_FILE_DELETED;
	r = rec_write_all(f->fd, data, len);

	if (r == 0)
		f->size += len;
	return r;
}

const char *rec_file_strerror(int err)
{
	if (err == REC_FILE_DELETED)
		return "the file was deleted";
	return strerror(-err);
}

uint64_t rec_file_size(const struct rec_file *f)
{
	return f->size;
}

int rec_file_close(struct rec_file *f)
{
	int r = 0;

	if (!f)
		return 0;
	/* Linux closes the descriptor even when close reports an error:
	 * never retry. */
	if (close(f->fd) < 0 && errno != EINTR)
		r = -errno;
	free(f);
	return r;
}

/* ------------------------------------------------------------ header */

/* readlink into a malloc'd, NUL-terminated string, or NULL. */
static char *rec_readlink(const char *link)
{
	for (size_t size = 256; size <= 65536; size *= 2) {
		char *s = malloc(size);
		ssize_t n;

		if (!s)
			return NULL;
		n = readlink(link, s, size);
		if (n < 0) {
			free(s);
			return NULL;
		}
		if ((size_t)n < size) {
			s[n] = '\0';
			return s;
		}
		free(s);
	}
	return NULL;
}

/* The whole of a small /proc file, malloc'd; *len its size. */
static char *rec_slurp(const char *path, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *s = malloc(cap);
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*len = 0;
	if (!s || fd < 0)
		goto fail;
	for (;;) {
		ssize_t k;

		if (n == cap) {
			char *t = cap < ((size_t)64 << 20) ? realloc(s, cap * 2) : NULL;

			if (!t)
				goto fail;
			s = t;
			cap *= 2;
		}
		k = read(fd, s + n, cap - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			goto fail;
		if (k == 0)
			break;
		n += (size_t)k;
	}
	close(fd);
	*len = n;
	return s;
fail:
	if (fd >= 0)
		close(fd);
	free(s);
	return NULL;
}

static uint64_t rec_clock_ns(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int rec_put_header_self(struct rec_buf *b, uint32_t orec_bits, uint32_t word_shift)
{
	struct rec_header h = {
		.version = REC_VERSION,
		.pid = (uint32_t)getpid(),
		.ppid = (uint32_t)getppid(),
		.orec_bits = orec_bits,
		.word_shift = word_shift,
	};
	size_t len = 0;
	char *exe = rec_readlink("/proc/self/exe");
	char *cmd = rec_slurp("/proc/self/cmdline", &len);
	const char **argv = NULL;
	int r;

	h.start_realtime_ns = rec_clock_ns(CLOCK_REALTIME);
	h.start_mono_ns = rec_clock_ns(CLOCK_MONOTONIC);
	h.program = exe ? exe : "";
	if (cmd && len) {
		uint32_t argc = 0;

		/* Arguments are NUL-terminated; a program that rewrote its
		 * argv may leave the last one unterminated. */
		for (size_t i = 0; i < len; i++)
			argc += cmd[i] == '\0';
		argc += cmd[len - 1] != '\0';
		argv = malloc(argc * sizeof(*argv) + 1);
		if (argv) {
			char *t = realloc(cmd, len + 1);

			if (t) {
				cmd = t;
				cmd[len] = '\0';
				h.argc = 0;
				for (size_t i = 0; i < len; i += strlen(cmd + i) + 1)
					argv[h.argc++] = cmd + i;
				h.argv = argv;
			}
		}
	}
	r = rec_put_header(b, &h);
	free(argv);
	free(cmd);
	free(exe);
	return r;
}

/* ------------------------------------------------------------ modules */

struct rec_modent {
	uint64_t base, low, high;
	char *path;
};

struct rec_modmap {
	struct rec_modent *v; /* sorted by low, ranges disjoint */
	size_t n, cap;
	bool scanned;
	unsigned long long adds, subs; /* the loader's counters at the last scan */
};

struct rec_modmap *rec_modmap_new(void)
{
	return calloc(1, sizeof(struct rec_modmap));
}

void rec_modmap_free(struct rec_modmap *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].path);
	free(m->v);
	free(m);
}

/* Index of the first entry whose high is above pc. */
static size_t rec_modmap_find(const struct rec_modmap *m, uint64_t pc)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->v[mid].high <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool rec_modmap_contains(const struct rec_modmap *m, uint64_t pc)
{
	size_t i = rec_modmap_find(m, pc);

	return i < m->n && m->v[i].low <= pc;
}

static bool rec_modmap_has(const struct rec_modmap *m, const struct rec_modent *e)
{
	size_t i = rec_modmap_find(m, e->low);

	return i < m->n && m->v[i].low == e->low && m->v[i].high == e->high &&
	       m->v[i].base == e->base && strcmp(m->v[i].path, e->path) == 0;
}

/*
 * Adds e (taking its path), first dropping entries it overlaps: those were
 * unloaded, and a stack that reaches this range now means the new module.
 * The caller has made room for one more entry.
 */
static void rec_modmap_insert(struct rec_modmap *m, struct rec_modent *e)
{
	size_t i = rec_modmap_find(m, e->low), j = i;

	while (j < m->n && m->v[j].low < e->high)
		free(m->v[j++].path);
	memmove(&m->v[i + 1], &m->v[j], (m->n - j) * sizeof(*m->v));
	m->n = m->n - (j - i) + 1;
	m->v[i] = *e;
}

/* A loaded object as the scan sees it. */
struct rec_scan {
	struct rec_buf *b;
	const struct rec_modmap *map;
	struct rec_modent *found; /* new entries, to add when all went well */
	size_t nfound, capfound;
	char *exe;
	uintptr_t exe_phdr, vdso;
	int emitted;
	bool oom;
};

/* The GNU build-id in the object's PT_NOTE segments, read in place. */
static const uint8_t *rec_build_id(const struct dl_phdr_info *info, size_t *len)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uint64_t align = ph->p_align < 4 ? 4 : ph->p_align;
		const uint8_t *p, *end;
		bool mapped = false;

		if (ph->p_type != PT_NOTE || (align != 4 && align != 8))
			continue;
		/* Read only notes that a loaded segment's file part covers. */
		for (int k = 0; k < info->dlpi_phnum; k++) {
			const ElfW(Phdr) *ld = &info->dlpi_phdr[k];

			if (ld->p_type == PT_LOAD && ph->p_vaddr >= ld->p_vaddr &&
			    ph->p_vaddr + ph->p_memsz <= ld->p_vaddr + ld->p_filesz)
				mapped = true;
		}
		if (!mapped)
			continue;
		p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
		end = p + ph->p_memsz;
		while ((size_t)(end - p) >= 12) {
			ElfW(Nhdr) nh;
			size_t name_at = 12, desc_at, next;

			memcpy(&nh, p, sizeof(nh));
			desc_at = name_at + ((nh.n_namesz + align - 1) & ~(align - 1));
			next = desc_at + ((nh.n_descsz + align - 1) & ~(align - 1));
			if (nh.n_namesz > (size_t)(end - p) || nh.n_descsz > (size_t)(end - p) ||
			    next > (size_t)(end - p))
				break;
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
			    memcmp(p + name_at, "GNU", 4) == 0) {
				*len = nh.n_descsz;
				return p + desc_at;
			}
			p += next;
		}
	}
	*len = 0;
	return NULL;
}

static int rec_scan_one(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct rec_scan *s = arg;
	struct rec_modent e = { .base = info->dlpi_addr, .low = UINT64_MAX, .high = 0 };
	struct rec_module mod;
	const char *name = info->dlpi_name;
	char *resolved = NULL;
	bool is_vdso = false;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD)
			continue;
		if (ph->p_offset == 0 && s->vdso && info->dlpi_addr + ph->p_vaddr == s->vdso)
			is_vdso = true;
		if (!(ph->p_flags & PF_X))
			continue;
		if (info->dlpi_addr + ph->p_vaddr < e.low)
			e.low = info->dlpi_addr + ph->p_vaddr;
		if (info->dlpi_addr + ph->p_vaddr + ph->p_memsz > e.high)
			e.high = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
	}
	if (e.low >= e.high)
		return 0; /* no code: no PC can point into it */
	if ((uintptr_t)info->dlpi_phdr == s->exe_phdr)
		name = s->exe ? s->exe : "";
	else if (is_vdso)
		name = "[vdso]";
	else if (!name || !*name)
		return 0; /* nameless and not the executable: nothing to look up */
	else if (name[0] != '/' && (resolved = realpath(name, NULL)) != NULL)
		name = resolved;
	e.path = (char *)name;
	if (rec_modmap_has(s->map, &e)) {
		free(resolved);
		return 0;
	}
	e.path = strdup(name);
	free(resolved);
	if (!e.path)
		goto oom;
	if (s->nfound == s->capfound) {
		size_t cap = s->capfound ? 2 * s->capfound : 16;
		struct rec_modent *v = realloc(s->found, cap * sizeof(*v));

		if (!v) {
			free(e.path);
			goto oom;
		}
		s->found = v;
		s->capfound = cap;
	}
	mod.base = e.base;
	mod.low = e.low;
	mod.high = e.high;
	mod.path = e.path;
	mod.build_id = rec_build_id(info, &mod.build_id_len);
	if (rec_put_module(s->b, &mod) < 0) {
		free(e.path);
		goto oom;
	}
	s->found[s->nfound++] = e;
	s->emitted++;
	return 0;
oom:
	s->oom = true;
	return 1;
}

/* Reads the loader's load and unload counters from its first entry. */
static int rec_scan_counters(struct dl_phdr_info *info, size_t size, void *arg)
{
	unsigned long long *c = arg;

	if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
		c[0] = info->dlpi_adds;
		c[1] = info->dlpi_subs;
		c[2] = 1;
	}
	return 1;
}

int rec_put_modules(struct rec_buf *b, struct rec_modmap *m)
{
	unsigned long long c[3] = { 0, 0, 0 };
	struct rec_scan s = { .b = b, .map = m };
	size_t start = b->len;

	dl_iterate_phdr(rec_scan_counters, c);
	if (m->scanned && c[2] && c[0] == m->adds && c[1] == m->subs)
		return 0;
	s.exe = rec_readlink("/proc/self/exe");
	s.exe_phdr = (uintptr_t)getauxval(AT_PHDR);
	s.vdso = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
	dl_iterate_phdr(rec_scan_one, &s);
	if (!s.oom && m->n + s.nfound > m->cap) {
		size_t cap = m->n + s.nfound + 16;
		struct rec_modent *v = realloc(m->v, cap * sizeof(*v));

		if (v) {
			m->v = v;
			m->cap = cap;
		} else {
			s.oom = true;
		}
	}
	if (s.oom) {
		for (size_t i = 0; i < s.nfound; i++)
			free(s.found[i].path);
		free(s.found);
		free(s.exe);
		b->len = start;
		b->oom = true;
		return -ENOMEM;
	}
	for (size_t i = 0; i < s.nfound; i++)
		rec_modmap_insert(m, &s.found[i]);
	free(s.found);
	free(s.exe);
	m->scanned = true;
	m->adds = c[0];
	m->subs = c[1];
	return s.emitted;
}
