/* tests: the lucid command end to end: record samples/hotspot, then report it as text, JSON and folded stacks. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/testutil.h"

#define LUCID "./lucid"
#define HOTSPOT "samples/hotspot"

/* ------------------------------------------------------------ helpers */

static char tmpdir[200];

static void tmp_setup(void)
{
	test_tmpdir_make(tmpdir, sizeof(tmpdir), "check-lucid");
}

static void tmp_teardown(void)
{
	test_tmpdir_remove(tmpdir);
}

static char *tpath(char *buf, const char *name)
{
	snprintf(buf, PATH_MAX, "%s/%s", tmpdir, name);
	return buf;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *text = NULL;
	size_t len = 0, cap = 0, n;

	ck_assert_msg(f != NULL, "fopen %s: %s", path, strerror(errno));
	do {
		if (len + 4096 + 1 > cap) {
			cap = 2 * cap + 4096 + 1;
			text = realloc(text, cap);
			ck_assert_ptr_nonnull(text);
		}
		n = fread(text + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	fclose(f);
	text[len] = '\0';
	return text;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");

	ck_assert_msg(f != NULL, "fopen %s: %s", path, strerror(errno));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* What a command printed and how it ended. */
struct run {
	char *out, *err;
	int status;
};

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

/* Starts argv with stdout and stderr into files named after tag. */
static pid_t start(char *const argv[], const char *tag)
{
	char out[PATH_MAX], err[PATH_MAX], name[64];
	pid_t pid;

	ck_assert_msg(access(argv[0], X_OK) == 0 || strchr(argv[0], '/') == NULL,
		      "%s: %s (run this test from the build directory, after make)", argv[0],
		      strerror(errno));
	snprintf(name, sizeof(name), "%s.out", tag);
	tpath(out, name);
	snprintf(name, sizeof(name), "%s.err", tag);
	tpath(err, name);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		int in = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (o < 0 || e < 0 || in < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0 || dup2(in, 0) < 0)
			_exit(99);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		unsetenv("LUCID_RECORD");
		unsetenv("LUCID_BREAK");
		setenv("LC_ALL", "C", 1);
		execvp(argv[0], argv);
		_exit(98);
	}
	return pid;
}

/* Waits for a command started with tag (at most 120 s) and collects it. */
static struct run finish(pid_t pid, const char *tag)
{
	char path[PATH_MAX], name[64];
	double end = now_s() + 120;
	struct run r;
	pid_t w;

	while ((w = waitpid(pid, &r.status, WNOHANG)) == 0) {
		if (now_s() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &r.status, 0);
			ck_abort_msg("%s did not end within 120 s", tag);
		}
		struct timespec step = { 0, 5000000 };
		nanosleep(&step, NULL);
	}
	ck_assert_int_eq(w, pid);
	snprintf(name, sizeof(name), "%s.out", tag);
	r.out = read_file(tpath(path, name));
	snprintf(name, sizeof(name), "%s.err", tag);
	r.err = read_file(tpath(path, name));
	return r;
}

static struct run run(char *const argv[], const char *tag)
{
	return finish(start(argv, tag), tag);
}

static bool exited(const struct run *r, int code)
{
	return WIFEXITED(r->status) && WEXITSTATUS(r->status) == code;
}

#define assert_exit(r, code)                                                                       \
	ck_assert_msg(exited(&(r), (code)), "expected exit status %d, got %s %d; stderr:\n%s", (code), \
		      WIFSIGNALED((r).status) ? "signal" : "status",                               \
		      WIFSIGNALED((r).status) ? WTERMSIG((r).status) : WEXITSTATUS((r).status), (r).err)

/* The number after "key" (e.g. "commits=") in text; fails when absent. */
static uint64_t number_after(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	ck_assert_msg(p != NULL, "\"%s\" not in:\n%s", key, text);
	return strtoull(p + strlen(key), NULL, 10);
}

/* ------------------------------------------------------------ JSON */

/* A small JSON parser: enough to check that --json is valid JSON and to
 * read it back. */
enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jnode {
	enum jtype type;
	double num;
	uint64_t u;                /* the number, exact when it is an integer */
	char *str;                 /* J_STR: the value; object members: the key */
	struct jnode *kids;        /* J_ARR, J_OBJ */
	size_t n;
	char *key;
};

struct jparser {
	const char *p;
	const char *error;
};

static void jws(struct jparser *j)
{
	while (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r')
		j->p++;
}

static bool jvalue(struct jparser *j, struct jnode *out);

static char *jstring(struct jparser *j)
{
	size_t cap = 16, n = 0;
	char *s = malloc(cap);

	if (*j->p != '"') {
		j->error = "expected a string";
		free(s);
		return NULL;
	}
	j->p++;
	for (;;) {
		unsigned char c = (unsigned char)*j->p++;

		if (n + 8 > cap)
			s = realloc(s, cap *= 2);
		if (c == '"')
			break;
		if (c < 0x20) {
			j->error = c ? "control character in a string" : "unterminated string";
			free(s);
			return NULL;
		}
		if (c == '\\') {
			c = (unsigned char)*j->p++;
			switch (c) {
			case '"': case '\\': case '/': s[n++] = (char)c; break;
			case 'n': s[n++] = '\n'; break;
			case 't': s[n++] = '\t'; break;
			case 'r': s[n++] = '\r'; break;
			case 'b': s[n++] = '\b'; break;
			case 'f': s[n++] = '\f'; break;
			case 'u': {
				unsigned v = 0;

				for (int i = 0; i < 4; i++) {
					char h = *j->p++;

					v = v * 16 + (unsigned)(h >= 'a' ? h - 'a' + 10 : h >= 'A' ? h - 'A' + 10 : h - '0');
				}
				s[n++] = v < 0x80 ? (char)v : '?';
				break;
			}
			default:
				j->error = "bad escape";
				free(s);
				return NULL;
			}
			continue;
		}
		s[n++] = (char)c;
	}
	s[n] = '\0';
	return s;
}

static bool jvalue(struct jparser *j, struct jnode *out)
{
	memset(out, 0, sizeof(*out));
	jws(j);
	if (*j->p == '{' || *j->p == '[') {
		bool obj = *j->p == '{';
		size_t cap = 0;

		out->type = obj ? J_OBJ : J_ARR;
		j->p++;
		jws(j);
		if (*j->p == (obj ? '}' : ']')) {
			j->p++;
			return true;
		}
		for (;;) {
			struct jnode kid;
			char *key = NULL;

			jws(j);
			if (obj) {
				if (!(key = jstring(j)))
					return false;
				jws(j);
				if (*j->p++ != ':') {
					j->error = "expected ':'";
					free(key);
					return false;
				}
			}
			if (!jvalue(j, &kid)) {
				free(key);
				return false;
			}
			kid.key = key;
			if (out->n == cap)
				out->kids = realloc(out->kids, (cap = cap ? 2 * cap : 8) * sizeof(kid));
			out->kids[out->n++] = kid;
			jws(j);
			if (*j->p == ',') {
				j->p++;
				continue;
			}
			if (*j->p++ != (obj ? '}' : ']')) {
				j->error = obj ? "expected ',' or '}'" : "expected ',' or ']'";
				return false;
			}
			return true;
		}
	}
	if (*j->p == '"') {
		out->type = J_STR;
		return (out->str = jstring(j)) != NULL;
	}
	if (strncmp(j->p, "true", 4) == 0 || strncmp(j->p, "false", 5) == 0) {
		out->type = J_BOOL;
		out->u = *j->p == 't';
		j->p += out->u ? 4 : 5;
		return true;
	}
	if (strncmp(j->p, "null", 4) == 0) {
		j->p += 4;
		return true;
	}
	if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')) {
		char *end;

		out->type = J_NUM;
		out->num = strtod(j->p, &end);
		out->u = strtoull(j->p, NULL, 10);
		j->p = end;
		return true;
	}
	j->error = "unexpected character";
	return false;
}

static void jfree(struct jnode *n)
{
	for (size_t i = 0; i < n->n; i++)
		jfree(&n->kids[i]);
	free(n->kids);
	free(n->str);
	free(n->key);
}

/* Parses a whole document; fails the test with the place of the error. */
static struct jnode jparse(const char *text)
{
	struct jparser j = { text, NULL };
	struct jnode root;

	if (jvalue(&j, &root)) {
		jws(&j);
		if (*j.p)
			j.error = "text after the document";
	}
	ck_assert_msg(!j.error, "invalid JSON (%s) at offset %td: %.60s", j.error, j.p - text, j.p);
	return root;
}

static const struct jnode *jget(const struct jnode *o, const char *key)
{
	ck_assert_msg(o->type == J_OBJ, "not an object, looking for \"%s\"", key);
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->kids[i].key, key) == 0)
			return &o->kids[i];
	ck_abort_msg("no member \"%s\"", key);
	return NULL;
}

static bool jhas(const struct jnode *o, const char *key)
{
	for (size_t i = 0; o->type == J_OBJ && i < o->n; i++)
		if (strcmp(o->kids[i].key, key) == 0)
			return true;
	return false;
}

static uint64_t jnum(const struct jnode *o, const char *key)
{
	const struct jnode *n = jget(o, key);

	ck_assert_msg(n->type == J_NUM, "\"%s\" is not a number", key);
	return n->u;
}

static const char *jstr(const struct jnode *o, const char *key)
{
	const struct jnode *n = jget(o, key);

	ck_assert_msg(n->type == J_STR, "\"%s\" is not a string", key);
	return n->str;
}

/* ------------------------------------------------------------ hotspot */

/* Lines of samples/hotspot.c marked HOT-WRITE and HOT-READ. */
static unsigned marker_line(const char *marker)
{
	char path[PATH_MAX], *text, *p;
	const char *srcdir = getenv("srcdir");
	unsigned line = 1;

	snprintf(path, sizeof(path), "%s/samples/hotspot.c", srcdir && *srcdir ? srcdir : ".");
	text = read_file(path);
	p = strstr(text, marker);
	ck_assert_msg(p != NULL, "%s not in %s", marker, path);
	for (char *q = text; q < p; q++)
		line += *q == '\n';
	free(text);
	return line;
}

/* One recording of the hotspot sample, made once for the cases below. */
static char hot_rec[PATH_MAX];
static uint64_t hot_commits, hot_aborts;

static void record_hotspot(void)
{
	char *argv[] = { LUCID, "record", "-o", tpath(hot_rec, "hot.data"), "--", HOTSPOT, "-n", "4",
			 "-d", "300", NULL };
	struct run r;

	if (hot_rec[0] && access(hot_rec, R_OK) == 0)
		return;
	r = run(argv, "record-hotspot");
	assert_exit(r, 0);
	ck_assert_msg(strstr(r.out, "invariant=ok") != NULL, "%s", r.out);
	/* The summary line, read back from the file, agrees with the sample. */
	ck_assert_msg(strstr(r.err, "lucid record: ") != NULL && strstr(r.err, "recorded in") != NULL,
		      "no summary in:\n%s", r.err);
	hot_commits = number_after(r.out, " commits=");
	hot_aborts = number_after(r.out, " aborts=");
	ck_assert_uint_eq(number_after(r.err, "lucid record: "), hot_commits);
	ck_assert_uint_eq(number_after(r.err, " commits, "), hot_aborts);
	ck_assert_msg(strstr(r.err, "% of 4 threads") != NULL, "%s", r.err);
	ck_assert_uint_gt(hot_aborts, 0);
	run_free(&r);
}

START_TEST(test_report_json)
{
	char *argv[] = { LUCID, "report", hot_rec, "--json", NULL };
	unsigned wline = marker_line("/* HOT-WRITE */"), rline = marker_line("/* HOT-READ */");
	uint64_t sum = 0, wasted = 0, prev = UINT64_MAX;
	const struct jnode *c, *first, *fa, *fo;
	struct jnode doc;
	struct run r;

	record_hotspot();
	r = run(argv, "json");
	assert_exit(r, 0);
	doc = jparse(r.out);
	ck_assert_uint_eq(jnum(&doc, "aborts"), hot_aborts);
	ck_assert_uint_eq(jnum(&doc, "dropped"), 0);
	c = jget(&doc, "conflicts");
	ck_assert_int_eq(c->type, J_ARR);
	ck_assert_uint_gt(c->n, 0);
	for (size_t i = 0; i < c->n; i++) {
		const struct jnode *e = &c->kids[i];
		const char *kind = jstr(e, "kind");

		sum += jnum(e, "aborts");
		wasted += jnum(e, "wasted_ns");
		ck_assert_msg(jnum(e, "wasted_ns") <= prev, "conflict %zu is hotter than the one before", i);
		prev = jnum(e, "wasted_ns");
		ck_assert_msg(strncmp(jstr(e, "address"), "0x", 2) == 0, "%s", jstr(e, "address"));
		ck_assert_int_eq(jget(jget(e, "aborted"), "threads")->type, J_ARR);
		/* Every conflict between two transactions has an other side. */
		ck_assert_msg(strcmp(kind, "abort") == 0 || strcmp(kind, "retry") == 0 ||
			      strcmp(kind, "irrevocable") == 0 || jhas(e, "other"), "conflict %zu (%s) has no "
			      "\"other\"", i, kind);
	}
	ck_assert_uint_eq(sum, jnum(&doc, "aborts"));
	ck_assert_uint_eq(wasted, jnum(&doc, "wasted_ns"));

	/* The hottest conflict is the shared counter: read or written in
	 * counter_get or counter_add, against counter_add's write. */
	first = &c->kids[0];
	fa = jget(jget(first, "aborted"), "frames");
	fo = jget(jget(first, "other"), "frames");
	ck_assert_uint_gt(fa->n, 2);
	ck_assert_uint_gt(fo->n, 2);
	ck_assert_msg((strcmp(jstr(&fa->kids[0], "function"), "counter_add") == 0 &&
		       jnum(&fa->kids[0], "line") == wline) ||
		      (strcmp(jstr(&fa->kids[0], "function"), "counter_get") == 0 &&
		       jnum(&fa->kids[0], "line") == rline),
		      "hottest aborted side: %s line %" PRIu64, jstr(&fa->kids[0], "function"),
		      jnum(&fa->kids[0], "line"));
	ck_assert_str_eq(jstr(&fo->kids[0], "function"), "counter_add");
	ck_assert_uint_eq(jnum(&fo->kids[0], "line"), wline);
	/* Lucid's own frames are left out; the stacks go on to the caller. */
	for (size_t i = 0; i < fa->n; i++)
		ck_assert_msg(strncmp(jstr(&fa->kids[i], "function"), "lucid_", 6) != 0, "frame %zu: %s",
			      i, jstr(&fa->kids[i], "function"));
	ck_assert_str_eq(jstr(&fo->kids[3], "function"), "serve_request");

	/* Per thread: the 4 workers (main runs no transaction), each with
	 * commits; their commits add up to the program's, their aborts to the
	 * recorded ones. */
	c = jget(&doc, "per_thread");
	ck_assert_int_eq(c->type, J_ARR);
	ck_assert_msg(c->n == 4, "%zu threads in \"per_thread\", the sample ran 4", c->n);
	uint64_t thr_commits = 0, thr_aborts = 0;

	for (size_t i = 0; i < c->n; i++) {
		const struct jnode *t = &c->kids[i];
		uint64_t commits = jnum(t, "commits"), aborts = jnum(t, "aborts");
		double off = jget(t, "abort_rate")->num - (double)aborts / (double)(aborts + commits);

		ck_assert_msg(commits > 0, "thread %" PRIu64 " has no commit", jnum(t, "tid"));
		ck_assert_msg(jget(t, "abort_rate")->type == J_NUM && off < 1e-6 && off > -1e-6,
			      "thread %" PRIu64 ": abort rate %g with %" PRIu64 " aborts and %" PRIu64 " commits",
			      jnum(t, "tid"), jget(t, "abort_rate")->num, aborts, commits);
		thr_commits += commits;
		thr_aborts += aborts;
	}
	ck_assert_uint_eq(thr_commits, hot_commits);
	ck_assert_uint_eq(thr_aborts, hot_aborts);
	jfree(&doc);
	run_free(&r);

	/* --limit keeps the sums whole with "omitted". */
	char *lim[] = { LUCID, "report", hot_rec, "--json", "--limit=1", "--group=function", NULL };
	r = run(lim, "json-limit");
	assert_exit(r, 0);
	doc = jparse(r.out);
	c = jget(&doc, "conflicts");
	ck_assert_uint_eq(c->n, 1);
	if (jhas(&doc, "omitted"))
		ck_assert_uint_eq(jnum(&c->kids[0], "aborts") + jnum(jget(&doc, "omitted"), "aborts"),
				  jnum(&doc, "aborts"));
	else
		ck_assert_uint_eq(jnum(&c->kids[0], "aborts"), jnum(&doc, "aborts"));
	ck_assert_str_eq(jstr(&doc, "group"), "function");
	ck_assert_uint_eq(jget(&doc, "groups")->n, 1);
	jfree(&doc);
	run_free(&r);
}
END_TEST

START_TEST(test_report_stdio)
{
	char *argv[] = { LUCID, "report", hot_rec, "--stdio", NULL };
	char hot[64];
	struct run r;
	char *row;

	record_hotspot();
	r = run(argv, "stdio");
	assert_exit(r, 0);
	ck_assert_msg(strstr(r.out, "# Lucid report: ") == r.out, "%s", r.out);
	snprintf(hot, sizeof(hot), "aborts: %" PRIu64 " (", hot_aborts);
	ck_assert_msg(strstr(r.out, hot) != NULL, "\"%s\" not in:\n%s", hot, r.out);
	snprintf(hot, sizeof(hot), "commits: %" PRIu64 ",", hot_commits);
	ck_assert_msg(strstr(r.out, hot) != NULL, "\"%s\" not in:\n%s", hot, r.out);
	/* The first row names the hot pair: the counter's lines, both sides. */
	row = strstr(r.out, "  When\n");
	ck_assert_ptr_nonnull(row);
	row += strlen("  When\n");
	snprintf(hot, sizeof(hot), "counter_add hotspot.c:%u", marker_line("/* HOT-WRITE */"));
	ck_assert_msg(strstr(row, hot) != NULL && strstr(row, hot) < strchr(row, '\n'),
		      "the first row does not name %s:\n%s", hot, r.out);
	ck_assert_msg(strstr(r.out, "# Threads") != NULL, "%s", r.out);
	/* Commits per thread are in the recording: no "-" in their column. */
	ck_assert_msg(strstr(r.out, "commits per thread are not in the recording") == NULL, "%s", r.out);
	row = strstr(r.out, "Caused\n");
	ck_assert_ptr_nonnull(row);
	for (int i = 0; i < 4; i++) {
		unsigned long tid, commits;

		row = strchr(row, '\n') + 1;
		ck_assert_msg(sscanf(row, "%lu %lu", &tid, &commits) == 2 && commits > 0,
			      "thread row %d: %.80s", i, row);
	}
	run_free(&r);

	/* Off a terminal, plain `lucid report` prints the same. */
	char *plain[] = { LUCID, "report", hot_rec, NULL };
	struct run p = run(plain, "plain");
	assert_exit(p, 0);
	r = run(argv, "stdio2");
	ck_assert_str_eq(p.out, r.out);
	run_free(&p);
	run_free(&r);

	/* Each grouping and sort key, with a limit, and --stacks. */
	static const char *const groups[] = { "pair", "block", "address", "function", "thread", "stacks" };
	static const char *const sorts[] = { "wasted", "aborts", "rate" };
	for (size_t g = 0; g < 6; g++) {
		char ga[32], sa[32];

		snprintf(ga, sizeof(ga), "--group=%s", groups[g]);
		snprintf(sa, sizeof(sa), "--sort=%s", sorts[g % 3]);
		char *v[] = { LUCID, "report", hot_rec, "--stdio", ga, sa, "--limit=2", "--stacks", NULL };
		r = run(v, "variant");
		assert_exit(r, 0);
		ck_assert_msg(strstr(r.out, "# 2 of ") || strstr(r.out, "# 1 of 1 rows"), "%s %s:\n%s", ga,
			      sa, r.out);
		ck_assert_msg(strstr(r.out, "aborted side (thread ") != NULL, "%s:\n%s", ga, r.out);
		run_free(&r);
	}

	/* A filter keeps the aborts with a matching frame on either side
	 * (ignoring case): every hotspot conflict has counter_add on one side
	 * (the hot counter's write), however few aborts a slow build makes. */
	char *f[] = { LUCID, "report", hot_rec, "--stdio", "--filter=COUNTER_ADD", NULL };
	r = run(f, "filter");
	assert_exit(r, 0);
	ck_assert_msg(strstr(r.out, "counter_add hotspot.c:") != NULL, "%s", r.out);
	ck_assert_msg(strstr(r.out, "filter \"COUNTER_ADD\"") != NULL, "%s", r.out);
	ck_assert_msg(strstr(r.out, "(no aborts)") == NULL, "%s", r.out);
	run_free(&r);
	char *none[] = { LUCID, "report", hot_rec, "--stdio", "--filter=no_such_function_here", NULL };
	r = run(none, "filter none");
	assert_exit(r, 0);
	ck_assert_msg(strstr(r.out, "(no aborts)") != NULL, "%s", r.out);
	run_free(&r);
}
END_TEST

START_TEST(test_report_folded)
{
	char *argv[] = { LUCID, "report", hot_rec, "--folded", NULL };
	char *json[] = { LUCID, "report", hot_rec, "--json", NULL };
	uint64_t total = 0;
	struct jnode doc;
	struct run r, j;
	char *line, *save = NULL;
	bool hot = false;

	record_hotspot();
	r = run(argv, "folded");
	assert_exit(r, 0);
	ck_assert_msg(r.out[0] != '\0', "no output");
	for (line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strrchr(line, ' '), *end;
		uint64_t w;

		ck_assert_msg(sp && sp > line, "no weight: %s", line);
		w = strtoull(sp + 1, &end, 10);
		ck_assert_msg(*end == '\0' && end > sp + 1 && w > 0, "bad weight: %s", line);
		*sp = '\0';
		ck_assert_msg(!strstr(line, ";;") && line[0] != ';' && sp[-1] != ';', "empty frame: %s", line);
		total += w;
		/* Outermost first: the access is the last frame. */
		if (strstr(line, ";serve_request;handle_request;stats_count_request;counter_add") &&
		    strcmp(strrchr(line, ';'), ";counter_add") == 0)
			hot = true;
	}
	ck_assert_msg(hot, "no folded stack ends in the counter's write");
	j = run(json, "folded-json");
	doc = jparse(j.out);
	ck_assert_uint_eq(total, jnum(&doc, "wasted_ns"));
	jfree(&doc);
	run_free(&j);
	run_free(&r);
}
END_TEST

START_TEST(test_record_refuses)
{
	char path[PATH_MAX];
	char *argv[] = { LUCID, "record", "-o", tpath(path, "precious.txt"), "--", "true", NULL };
	char *force[] = { LUCID, "record", "-f", "-o", path, "--", "true", NULL };
	struct run r;
	char *text;

	write_text(path, "precious\n");
	r = run(argv, "refuse");
	assert_exit(r, 125);
	ck_assert_msg(strstr(r.err, "exists") && strstr(r.err, "-f"), "%s", r.err);
	run_free(&r);
	/* -f replaces only a recording. */
	r = run(force, "refuse-f");
	assert_exit(r, 125);
	ck_assert_msg(strstr(r.err, "not a Lucid recording"), "%s", r.err);
	run_free(&r);
	text = read_file(path);
	ck_assert_str_eq(text, "precious\n");
	free(text);
	/* A directory is not replaced either. */
	char *dir[] = { LUCID, "record", "-f", "-o", tmpdir, "--", "true", NULL };
	r = run(dir, "refuse-dir");
	assert_exit(r, 125);
	run_free(&r);

	/* An older recording is replaced with -f, and refused without. */
	char rec[PATH_MAX];
	char *first[] = { LUCID, "record", "-o", tpath(rec, "r.data"), "--", HOTSPOT, "-n", "2", "-i", "500",
			  NULL };
	char *again[] = { LUCID, "record", "-f", "-o", rec, "--", HOTSPOT, "-n", "2", "-i", "600", NULL };
	struct stat st1, st2;
	r = run(first, "first");
	assert_exit(r, 0);
	run_free(&r);
	ck_assert_int_eq(stat(rec, &st1), 0);
	r = run(first, "second");
	assert_exit(r, 125);
	run_free(&r);
	r = run(again, "again");
	assert_exit(r, 0);
	ck_assert_msg(strstr(r.err, "recorded in"), "%s", r.err);
	ck_assert_uint_eq(number_after(r.err, "lucid record: "), number_after(r.out, " commits="));
	ck_assert_int_eq(stat(rec, &st2), 0);
	run_free(&r);
}
END_TEST

START_TEST(test_record_exit_status)
{
	char path[PATH_MAX];
	char *seven[] = { LUCID, "record", "-o", tpath(path, "a.data"), "--", "sh", "-c", "exit 7", NULL };
	char *killed[] = { LUCID, "record", "-o", tpath(path, "b.data"), "--", "sh", "-c", "kill -TERM $$",
			   NULL };
	char *missing[] = { LUCID, "record", "-o", tpath(path, "c.data"), "--", "no-such-program-here",
			    NULL };
	char *noexec[] = { LUCID, "record", "-o", tpath(path, "d.data"), "--", tmpdir, NULL };
	char *usage[] = { LUCID, "record", "-o", tpath(path, "e.data"), NULL };
	char *bad[] = { LUCID, "record", "-o", tpath(path, "f.data"), "--", HOTSPOT, "-n", "0", NULL };
	struct run r;

	r = run(seven, "seven");
	assert_exit(r, 7);
	/* sh uses no Lucid: no recording, and it says so. */
	ck_assert_msg(strstr(r.err, "no recording"), "%s", r.err);
	run_free(&r);
	r = run(killed, "killed");
	ck_assert_msg(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGTERM, "status %#x: %s", r.status,
		      r.err);
	run_free(&r);
	r = run(missing, "missing");
	assert_exit(r, 127);
	ck_assert_msg(strstr(r.err, "cannot run no-such-program-here"), "%s", r.err);
	run_free(&r);
	r = run(noexec, "noexec");
	assert_exit(r, 126);
	run_free(&r);
	r = run(usage, "usage");
	assert_exit(r, 125);
	run_free(&r);
	/* The program's own failure (a bad option) is its status. */
	r = run(bad, "bad");
	assert_exit(r, 2);
	run_free(&r);
}
END_TEST

START_TEST(test_report_errors)
{
	char path[PATH_MAX];
	char *missing[] = { LUCID, "report", tpath(path, "none.data"), "--stdio", NULL };
	char *sort[] = { LUCID, "report", path, "--sort=hot", NULL };
	char *group[] = { LUCID, "report", path, "--group=pairs", NULL };
	char *limit[] = { LUCID, "report", path, "--limit=-3", NULL };
	char *both[] = { LUCID, "report", path, "--json", "--folded", NULL };
	char *follow[] = { LUCID, "report", path, "--json", "--follow", NULL };
	char *help[] = { LUCID, "report", "--help", NULL };
	char *version[] = { LUCID, "--version", NULL };
	char *text[] = { LUCID, "report", path, "--stdio", NULL };
	struct run r;

	r = run(missing, "missing");
	assert_exit(r, 1);
	ck_assert_msg(strstr(r.err, "none.data: No such file"), "%s", r.err);
	run_free(&r);
	char **bad[] = { sort, group, limit, both, follow };
	for (size_t i = 0; i < 5; i++) {
		r = run(bad[i], "bad");
		assert_exit(r, 2);
		run_free(&r);
	}
	r = run(help, "help");
	assert_exit(r, 0);
	ck_assert_msg(strstr(r.out, "usage: lucid report") && strstr(r.out, "--folded"), "%s", r.out);
	run_free(&r);
	r = run(version, "version");
	assert_exit(r, 0);
	ck_assert_str_eq(r.out, "lucid " PACKAGE_VERSION "\n");
	run_free(&r);
	write_text(tpath(path, "plain.txt"), "not a recording\n");
	r = run(text, "text");
	assert_exit(r, 1);
	ck_assert_msg(strstr(r.err, "not a Lucid recording"), "%s", r.err);
	run_free(&r);
}
END_TEST

START_TEST(test_follow_stdio)
{
	char rec[PATH_MAX];
	char *record[] = { LUCID, "record", "-o", tpath(rec, "live.data"), "--", HOTSPOT, "-n", "2", "-d",
			   "1500", NULL };
	char *follow[] = { LUCID, "report", rec, "--stdio", "--follow", "--limit=3", NULL };
	struct run rr, fr;
	pid_t rp, fp;
	char *last, *p, want[64];

	/* The report may start first: it waits for the file. */
	fp = start(follow, "follow");
	rp = start(record, "live");
	rr = finish(rp, "live");
	fr = finish(fp, "follow");
	assert_exit(rr, 0);
	assert_exit(fr, 0);
	/* Its last report is of the finished recording. */
	ck_assert_msg(strstr(fr.out, "# Lucid report: "), "%s\n%s", fr.out, fr.err);
	for (last = p = fr.out; (p = strstr(p, "# Lucid report: ")); last = p++)
		;
	ck_assert_msg(!strstr(last, "still running"), "%s", last);
	snprintf(want, sizeof(want), "aborts: %" PRIu64 " (", number_after(rr.out, " aborts="));
	ck_assert_msg(strstr(last, want), "\"%s\" not in the last report:\n%s", want, last);
	run_free(&rr);
	run_free(&fr);
}
END_TEST

static void add(Suite *s, const char *name, const TTest *t, int timeout)
{
	TCase *tc = tcase_create(name);

	tcase_add_unchecked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, t);
	tcase_set_timeout(tc, timeout);
	suite_add_tcase(s, tc);
}

static Suite *suite(void)
{
	Suite *s = suite_create("lucid");

	add(s, "report --json", test_report_json, 120);
	add(s, "report --stdio", test_report_stdio, 120);
	add(s, "report --folded", test_report_folded, 120);
	add(s, "record refuses to clobber", test_record_refuses, 120);
	add(s, "record forwards the exit status", test_record_exit_status, 60);
	add(s, "report errors", test_report_errors, 60);
	add(s, "report --stdio --follow", test_follow_stdio, 120);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
