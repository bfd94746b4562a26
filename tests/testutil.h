/* tests: helpers shared by the check runners. */
#ifndef LUCID_TESTS_TESTUTIL_H
#define LUCID_TESTS_TESTUTIL_H

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Seconds each stress case runs per thread count; LUCID_STRESS_SECONDS
 * overrides it (e.g. longer runs by hand, shorter under sanitizers). */
static inline double test_stress_seconds(double def)
{
	const char *s = getenv("LUCID_STRESS_SECONDS");

	if (s && *s)
		return atof(s);
	return def;
}

/* Runs one suite with its own runner; returns the process exit status. */
static inline int test_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* Makes a fresh directory $TMPDIR/lucid-NAME-XXXXXX (or under /tmp) in dir. */
static inline void test_tmpdir_make(char *dir, size_t size, const char *name)
{
	const char *base = getenv("TMPDIR");

	snprintf(dir, size, "%s/lucid-%s-XXXXXX", base && *base ? base : "/tmp", name);
	ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s: %s", dir, strerror(errno));
}

static inline int test_tmpdir_remove_one(const char *path, const struct stat *st, int flag,
                                         struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Removes the directory and everything in it. */
static inline void test_tmpdir_remove(const char *dir)
{
	nftw(dir, test_tmpdir_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* What a child process printed on stderr and how it ended. */
struct outcome {
	char err[4096];
	int status;
};

/* Runs fn in a child with stderr captured; used for misuse, which stops the
 * program. */
static inline void run_child(void (*fn)(void), struct outcome *out)
{
	int fds[2];

	ck_assert_int_eq(pipe(fds), 0);
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], STDERR_FILENO);
		fn();
		exit(0);   /* not _exit: the exit-time checks must run */
	}
	close(fds[1]);
	size_t n = 0;
	ssize_t r;
	while (n < sizeof(out->err) - 1 && (r = read(fds[0], out->err + n, sizeof(out->err) - 1 - n)) > 0)
		n += (size_t)r;
	out->err[n] = '\0';
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &out->status, 0), pid);
}

/* fn must stop the program with a misuse message containing both needles
 * (needle2 may be NULL) and a fix. */
static inline void assert_misuse(void (*fn)(void), const char *needle1, const char *needle2)
{
	struct outcome o;

	run_child(fn, &o);
	ck_assert_msg(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGABRT,
	              "expected the program to stop with SIGABRT, status %#x, stderr: %s", o.status, o.err);
	ck_assert_msg(strstr(o.err, "lucid: misuse: ") != NULL, "no misuse message in: %s", o.err);
	ck_assert_msg(strstr(o.err, "lucid: fix: ") != NULL, "no fix in: %s", o.err);
	ck_assert_msg(strstr(o.err, needle1) != NULL, "\"%s\" not in: %s", needle1, o.err);
	if (needle2)
		ck_assert_msg(strstr(o.err, needle2) != NULL, "\"%s\" not in: %s", needle2, o.err);
}

#endif /* LUCID_TESTS_TESTUTIL_H */
