/* tests: a program that keeps computing while faults are injected around it (tests/faults.sh, tests/security.sh). */
/*
 * Usage:
 *   fault_prog work [-n threads] [-i iterations] [-f]
 *       threads increment one shared counter (and conflict on it); with -f
 *       the program forks after a first phase and both processes go on.
 *       Exits 0 when the counter holds exactly the increments made.
 *   fault_prog delete PATH
 *       the same work, recording to PATH (LUCID_RECORD), which it deletes
 *       halfway through.
 *   fault_prog oom-wlog
 *       a child runs one transaction whose write log outgrows the memory
 *       it may have; the parent checks that it was stopped (SIGABRT) and
 *       that not one word of the data it was writing changed.
 *   fault_prog cancel-inside | cancel-outside | cancel-disabled
 *       pthread_cancel of a thread blocked at a cancellation point inside
 *       an (irrevocable) transaction, outside one, or inside one with
 *       cancellation disabled until the transaction has committed.
 *   fault_prog sanitizer
 *       prints which sanitizer it was built with: thread, address or none.
 * Prints one line saying what held; the shell tests check that line, the
 * exit status and what Lucid printed on stderr.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lucid.h>

#define MAX_THREADS 16

static long counter;
static long slots[MAX_THREADS * 8];
static long iterations = 2000;

static void sleep_ms(long ms)
{
	struct timespec d = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&d, &d) != 0 && errno == EINTR)
		;
}

/* ------------------------------------------------------------ work */

struct worker {
	int index;
	int yield;    /* in memory: cleared by the attempt that yields */
};

/* One increment; every fourth yields once between its read and its write,
 * so that the threads conflict even on one core. (A function of its own:
 * the loop's locals stay out of the block's sigsetjmp.) */
static void bump(struct worker *w, int slot, int yield)
{
	w->yield = yield;
	LUCID_ATOMIC {
		long c = lucid_read(counter);

		if (w->yield) {
			w->yield = 0;
			sched_yield();
		}
		lucid_write(counter, c + 1);
		lucid_write(slots[slot], lucid_read(slots[slot]) + 1);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (long i = 0; i < iterations; i++)
		bump(w, w->index * 8, i % 4 == 0);
	return NULL;
}

/* Runs n threads to the end; returns the increments they made. */
static long phase(int n)
{
	pthread_t t[MAX_THREADS];
	struct worker w[MAX_THREADS];

	for (int i = 0; i < n; i++) {
		w[i] = (struct worker){ .index = i };
		if (pthread_create(&t[i], NULL, worker_main, &w[i]) != 0) {
			fprintf(stderr, "fault_prog: cannot create a thread\n");
			exit(2);
		}
	}
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	return n * iterations;
}

static int check(const char *who, long expected)
{
	struct lucid_stats st;

	lucid_stats_get(&st);
	printf("fault_prog: %s: counter %ld, expected %ld, %" PRIu64 " commits, %" PRIu64
	       " aborts: %s\n", who, counter, expected, st.commits, st.aborts,
	       counter == expected ? "ok" : "WRONG");
	fflush(stdout);
	return counter == expected ? 0 : 1;
}

static int cmd_work(int argc, char **argv)
{
	int threads = 4, fork_too = 0, c;
	long expected;

	while ((c = getopt(argc, argv, "n:i:f")) != -1) {
		switch (c) {
		case 'n': threads = atoi(optarg); break;
		case 'i': iterations = atol(optarg); break;
		case 'f': fork_too = 1; break;
		default: return 2;
		}
	}
	if (threads < 1 || threads > MAX_THREADS || iterations < 1)
		return 2;
	expected = phase(threads);
	if (fork_too) {
		int status;
		pid_t pid = fork();

		if (pid < 0)
			return 2;
		expected += phase(threads);
		if (pid == 0)
			return check("child", expected);
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
			return 1;
	}
	return check("work", expected);
}

static int cmd_delete(const char *path)
{
	long expected = phase(4);

	/* The writer drains every 20 ms: by now the file holds records. */
	sleep_ms(150);
	if (unlink(path) != 0) {
		fprintf(stderr, "fault_prog: unlink %s: %s\n", path, strerror(errno));
		return 2;
	}
	expected += phase(4);
	sleep_ms(250);  /* the writer meets the deleted file */
	expected += phase(4);
	return check("delete", expected);
}

/* ------------------------------------------------------------ memory */

#define OOM_WORDS ((size_t)1 << 21)   /* 16 MiB of data; a log for all of it: 128 MiB */

static int cmd_oom_wlog(void)
{
	/* Shared with the child, so that the parent sees what it did. */
	uint64_t *data = mmap(NULL, OOM_WORDS * sizeof(*data), PROT_READ | PROT_WRITE,
	                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int status;
	size_t changed = 0;
	pid_t pid;

	if (data == MAP_FAILED)
		return 2;
	for (size_t i = 0; i < OOM_WORDS; i++)
		data[i] = i * 3;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return 2;
	if (pid == 0) {
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
		/* Leave room for what the process has and 96 MiB more: the
		 * log's growth to 128 MiB cannot fit. (The sanitizers reserve
		 * terabytes of address space; there tests/faults.sh caps each
		 * allocation through the sanitizer's options instead.) */
		struct rlimit rl;
		long pages = 0, resident;
		FILE *f = fopen("/proc/self/statm", "r");

		if (!f || fscanf(f, "%ld %ld", &pages, &resident) != 2)
			_exit(2);
		fclose(f);
		rl.rlim_cur = rl.rlim_max = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (96u << 20);
		if (setrlimit(RLIMIT_AS, &rl) != 0)
			_exit(2);
#endif
		LUCID_ATOMIC {
			for (size_t i = 0; i < OOM_WORDS; i++)
				lucid_write(data[i], lucid_read(data[i]) + 1);
		}
		printf("fault_prog: oom-wlog: the transaction committed; memory was not exhausted\n");
		_exit(3);
	}
	if (waitpid(pid, &status, 0) != pid)
		return 2;
	for (size_t i = 0; i < OOM_WORDS; i++)
		changed += data[i] != i * 3;
	printf("fault_prog: oom-wlog: child %s %d, %zu of %zu words changed: %s\n",
	       WIFSIGNALED(status) ? "killed by signal" : "exited with",
	       WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), changed, OOM_WORDS,
	       WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && changed == 0 ? "ok" : "WRONG");
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && changed == 0 ? 0 : 1;
}

/* ------------------------------------------------------------ cancel */

static int pipe_fds[2];
static int inside;

/*
 * What the threads below keep while they can be cancelled lives outside
 * their stack frames. Cancellation unwinds those frames without
 * AddressSanitizer clearing the redzones around their locals, and the
 * thread-exit code that runs next on the same stack (liburcu's, not
 * instrumented) would be reported writing into them: a false positive
 * of the tool, not of the program.
 */
static __thread char cancel_byte;
static __thread int cancel_state;
static __thread struct worker cancel_worker = { .index = 2 };

static void *blocked_inside(void *arg)
{
	(void)arg;
	LUCID_ATOMIC {
		lucid_write(counter, lucid_read(counter) + 1);
		lucid_irrevocable();   /* from here on it may do I/O */
		__atomic_store_n(&inside, 1, __ATOMIC_SEQ_CST);
		/* read(2) is a cancellation point. */
		if (read(pipe_fds[0], &cancel_byte, 1) < 0)
			perror("read");
	}
	return NULL;
}

/* The documented way: cancellation is disabled around the transaction and
 * acted on after it. */
static void *blocked_disabled(void *arg)
{
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
	blocked_inside(arg);
	pthread_setcancelstate(cancel_state, NULL);
	pthread_testcancel();
	return NULL;
}

static void *blocked_outside(void *arg)
{
	(void)arg;
	for (int i = 0; i < 100; i++)
		bump(&cancel_worker, 0, 0);
	__atomic_store_n(&inside, 1, __ATOMIC_SEQ_CST);
	if (read(pipe_fds[0], &cancel_byte, 1) < 0)
		perror("read");
	return NULL;
}

/* in_tx: 0 outside, 1 inside, 2 inside with cancellation disabled. */
static int cmd_cancel(int in_tx)
{
	pthread_t t, others[2];
	struct worker w[2] = { { .index = 0 }, { .index = 1 } };
	void *ret;
	long expected;

	if (pipe(pipe_fds) != 0)
		return 2;
	iterations = 500;
	if (pthread_create(&t, NULL, in_tx == 2 ? blocked_disabled : in_tx ? blocked_inside
	                                                                   : blocked_outside,
	                   NULL) != 0)
		return 2;
	while (!__atomic_load_n(&inside, __ATOMIC_SEQ_CST))
		sleep_ms(1);
	sleep_ms(20);   /* let it reach read(2) */
	printf("fault_prog: cancelling a thread blocked %s a transaction\n",
	       in_tx ? "inside" : "outside");
	fflush(stdout);
	pthread_cancel(t);
	/* With cancellation disabled, the read goes on: give it its byte. */
	if (in_tx == 2 && write(pipe_fds[1], "x", 1) != 1)
		return 2;
	pthread_join(t, &ret);
	if (ret != PTHREAD_CANCELED) {
		printf("fault_prog: the thread was not cancelled\n");
		return 1;
	}
	/* The cancelled thread left nothing locked: others still commit. */
	for (int i = 0; i < 2; i++)
		if (pthread_create(&others[i], NULL, worker_main, &w[i]) != 0)
			return 2;
	for (int i = 0; i < 2; i++)
		pthread_join(others[i], NULL);
	expected = (in_tx ? 1 : 100) + 2 * iterations;
	return check(in_tx ? "cancel-disabled" : "cancel-outside", expected);
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "sanitizer") == 0) {
#if defined(__SANITIZE_THREAD__)
		puts("thread");
#elif defined(__SANITIZE_ADDRESS__)
		puts("address");
#else
		puts("none");
#endif
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "work") == 0)
		return cmd_work(argc - 1, argv + 1);
	if (argc == 3 && strcmp(argv[1], "delete") == 0)
		return cmd_delete(argv[2]);
	if (argc == 2 && strcmp(argv[1], "oom-wlog") == 0)
		return cmd_oom_wlog();
	if (argc == 2 && strcmp(argv[1], "cancel-inside") == 0)
		return cmd_cancel(1);
	if (argc == 2 && strcmp(argv[1], "cancel-outside") == 0)
		return cmd_cancel(0);
	if (argc == 2 && strcmp(argv[1], "cancel-disabled") == 0)
		return cmd_cancel(2);
	fprintf(stderr, "usage: fault_prog work [-n threads] [-i iterations] [-f] | delete PATH | "
	                "oom-wlog | cancel-inside | cancel-outside | cancel-disabled\n");
	return 2;
}
