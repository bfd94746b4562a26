/* tui: `lucid record`: runs a program with LUCID_RECORD set, forwards how it ended, and prints a one-line summary. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conflict/format.h"
#include "conflict/reader.h"
#include "tui/cmd.h"
#include "tui/model.h"
#include "tui/output.h"

static void record_usage(FILE *f)
{
	fprintf(f,
		"usage: lucid record [-o FILE] [-f] [--] PROGRAM [ARGS...]\n"
		"\n"
		"Runs PROGRAM with every aborted transaction recorded into FILE (LUCID_RECORD=FILE),\n"
		"then prints a one-line summary on stderr. Exits with PROGRAM's status (or dies of\n"
		"the same signal); %d when lucid record itself fails, %d when PROGRAM cannot be\n"
		"run, %d when it is not found.\n"
		"\n"
		"  -o, --output=FILE  the recording (default %s)\n"
		"  -f, --force        replace FILE if it exists (only a Lucid recording is replaced)\n"
		"  -h, --help         this help\n",
		TUI_EXIT_FAILED, TUI_EXIT_CANNOT_RUN, TUI_EXIT_NOT_FOUND, TUI_DEFAULT_FILE);
}

/* The escaped form of a path, for messages. */
static const char *record_name(char *buf, size_t len, const char *path)
{
	rec_escape(buf, len, path, strlen(path));
	return buf;
}

/*
 * Whether path may be written: it does not exist, or (with force) it is a
 * regular file that is empty or a Lucid recording, which the library then
 * replaces. Says why not on stderr.
 */
static bool record_may_write(const char *path, bool force)
{
	char name[512], magic[REC_MAGIC_LEN];
	struct stat st;
	ssize_t n;
	int fd;

	record_name(name, sizeof(name), path);
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return true;
		fprintf(stderr, "lucid record: %s: %s\n", name, strerror(errno));
		return false;
	}
	if (!force) {
		fprintf(stderr, "lucid record: %s exists; use -f to replace it, or -o to record into "
			"another file\n", name);
		return false;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "lucid record: %s is not a regular file; -f replaces only a Lucid "
			"recording\n", name);
		return false;
	}
	if (st.st_size == 0)
		return true;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "lucid record: %s: %s\n", name, strerror(errno));
		return false;
	}
	n = read(fd, magic, sizeof(magic));
	close(fd);
	if (n != REC_MAGIC_LEN || memcmp(magic, REC_MAGIC, REC_MAGIC_LEN) != 0) {
		fprintf(stderr, "lucid record: %s is not a Lucid recording; -f replaces only a "
			"recording, so it is left as it is\n", name);
		return false;
	}
	return true;
}

static uint64_t record_realtime_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static volatile sig_atomic_t record_child;

/* SIGTERM and SIGHUP sent to lucid record go on to the program, which
 * then ends and lets its recording be read. */
static void record_forward(int sig)
{
	if (record_child > 0)
		kill((pid_t)record_child, sig);
}

/* Reads the recording back and prints the summary line; false when no
 * recording of this run is there. */
static bool record_summary(const char *path, uint64_t started_ns)
{
	char err[600], name[512], wasted[16], dur[16];
	struct tui_summary s;
	struct tui_model *m;
	const char *w;

	record_name(name, sizeof(name), path);
	m = tui_model_open(path, err, sizeof(err));
	if (!m) {
		fprintf(stderr, "lucid record: no recording was written: %s\n", err);
		return false;
	}
	tui_model_summary(m, &s);
	/* A file the program did not write (it never started recording, and
	 * an older recording is still there) has an older start time. */
	if (!s.start_realtime_ns) {
		fprintf(stderr, "lucid record: %s holds no header: the program ended before recording "
			"started\n", name);
		tui_model_free(m);
		return false;
	}
	if (s.start_realtime_ns < started_ns) {
		fprintf(stderr, "lucid record: the program wrote no recording to %s (is it linked with "
			"Lucid?); the file there is older\n", name);
		tui_model_free(m);
		return false;
	}
	w = tui_model_warning(m);
	if (w)
		fprintf(stderr, "lucid record: warning: %s\n", w);
	fprintf(stderr, "lucid record: %" PRIu64 " commits, %" PRIu64 " aborts, %s wasted (%.2f%% of %u "
		"thread%s x %s)", s.commits, s.aborts, tui_fmt_ns(wasted, sizeof(wasted), s.wasted_ns),
		s.wasted_share * 100, s.threads, s.threads == 1 ? "" : "s",
		tui_fmt_ns(dur, sizeof(dur), s.duration_ns));
	if (s.dropped)
		fprintf(stderr, ", %" PRIu64 " dropped", s.dropped);
	fprintf(stderr, "; recorded in %s\n", name);
	tui_model_free(m);
	return true;
}

/* Ends lucid record the way the program ended. */
static int record_exit_like(int status)
{
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		struct rlimit no_core = { 0, 0 };
		sigset_t set;

		/* The program's core is the program's; do not add ours. */
		setrlimit(RLIMIT_CORE, &no_core);
		signal(sig, SIG_DFL);
		sigemptyset(&set);
		sigaddset(&set, sig);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		fflush(NULL);
		raise(sig);
		return 128 + sig;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : TUI_EXIT_FAILED;
}

int tui_cmd_record(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = TUI_DEFAULT_FILE;
	bool force = false;
	struct sigaction ign = { .sa_handler = SIG_IGN }, fwd = { .sa_handler = record_forward };
	struct sigaction old_int, old_quit;
	uint64_t started;
	int c, pipefd[2], status, child_errno = 0;
	pid_t pid;
	ssize_t n;

	optind = 1;
	/* "+": options end at PROGRAM, whose own options are its own. */
	while ((c = getopt_long(argc, argv, "+o:fh", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			path = optarg;
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			record_usage(stdout);
			return 0;
		default:
			record_usage(stderr);
			return TUI_EXIT_FAILED;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "lucid record: no program to run\n");
		record_usage(stderr);
		return TUI_EXIT_FAILED;
	}
	if (!*path) {
		fprintf(stderr, "lucid record: -o needs a file name\n");
		return TUI_EXIT_FAILED;
	}
	if (!record_may_write(path, force))
		return TUI_EXIT_FAILED;
	if (setenv("LUCID_RECORD", path, 1) != 0 || pipe2(pipefd, O_CLOEXEC) != 0) {
		fprintf(stderr, "lucid record: %s\n", strerror(errno));
		return TUI_EXIT_FAILED;
	}
	started = record_realtime_ns();
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "lucid record: cannot start the program: %s\n", strerror(errno));
		return TUI_EXIT_FAILED;
	}
	if (pid == 0) {
		close(pipefd[0]);
		execvp(argv[optind], argv + optind);
		/* Tell the parent why; the pipe closes on a successful exec. */
		child_errno = errno;
		n = write(pipefd[1], &child_errno, sizeof(child_errno));
		(void)n;
		_exit(TUI_EXIT_CANNOT_RUN);
	}
	record_child = pid;
	close(pipefd[1]);
	/* Like system(3): ^C and ^\ are for the program, which gets them from
	 * the terminal; lucid record waits for it and then reports. */
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	sigaction(SIGTERM, &fwd, NULL);
	sigaction(SIGHUP, &fwd, NULL);
	do
		n = read(pipefd[0], &child_errno, sizeof(child_errno));
	while (n < 0 && errno == EINTR);
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "lucid record: waitpid: %s\n", strerror(errno));
			return TUI_EXIT_FAILED;
		}
	}
	record_child = 0;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	if (n == (ssize_t)sizeof(child_errno)) {
		char name[512];

		record_name(name, sizeof(name), argv[optind]);
		fprintf(stderr, "lucid record: cannot run %s: %s\n", name, strerror(child_errno));
		return child_errno == ENOENT ? TUI_EXIT_NOT_FOUND : TUI_EXIT_CANNOT_RUN;
	}
	record_summary(path, started);
	return record_exit_like(status);
}
