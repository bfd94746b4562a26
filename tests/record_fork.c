/* tests: a recorded program that forks and goes on in both processes (run by check_record). */
/*
 * Usage: record_fork [-n threads] [-i iterations]
 *
 * Run with LUCID_RECORD=FILE. Phase one: the threads increment one shared
 * counter (conflicts), each also aborting every 16th transaction on
 * purpose (aborts that happen with any scheduling). Then the main thread
 * forks, and both processes run phase two the same way and exit normally,
 * so that the parent writes FILE and the child FILE.<its pid>, each ending
 * with its STATS. (ThreadSanitizer cannot run it while recording: it stops
 * a child of a multi-threaded process that starts a thread, and the
 * recorder starts its writer thread in the child.) Prints, each process
 * one line:
 *     fork pid=P aborts=A commits=C              (the parent, just before forking)
 *     child pid=P ppid=Q aborts=A commits=C      (the child, at its end)
 *     parent pid=P child=Q aborts=A commits=C    (the parent, at its end)
 * with A and C from lucid_stats_get. Exits 0 when both processes ran
 * to the end with the right counter, 1 otherwise.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lucid.h>

#ifdef __SANITIZE_ADDRESS__
/* A child forked from a multi-threaded process cannot scan the threads it
 * inherited the list of (see check_features.c): no leak check there. */
static int lsan_off;

int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
	return lsan_off;
}
#define LSAN_OFF_IN_CHILD() (lsan_off = 1)
#else
#define LSAN_OFF_IN_CHILD() ((void)0)
#endif

static long counter;
static long iterations = 2000;

static void bump(void *arg)
{
	long i = *(long *)arg;

	lucid_write(counter, lucid_read(counter) + 1);
	if (i % 16 == 0)
		lucid_abort();
}

static void *worker(void *arg)
{
	(void)arg;
	for (long i = 1; i <= iterations; i++)
		lucid_run(bump, &i);
	return NULL;
}

/* Runs n threads; returns the counter's increase that it expects. */
static long phase(long n)
{
	pthread_t t[64];

	for (long i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, worker, NULL) != 0) {
			fprintf(stderr, "record_fork: cannot create a thread\n");
			exit(1);
		}
	for (long i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	return n * (iterations - iterations / 16);
}

static void print_stats(const char *what)
{
	struct lucid_stats st;

	lucid_stats_get(&st);
	printf("%s aborts=%" PRIu64 " commits=%" PRIu64 "\n", what, st.aborts, st.commits);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	long threads = 2;
	char what[96];
	int c;

	while ((c = getopt(argc, argv, "n:i:")) != -1) {
		switch (c) {
		case 'n': threads = atol(optarg); break;
		case 'i': iterations = atol(optarg); break;
		default: return 2;
		}
	}
	if (threads < 1 || threads > 64 || iterations < 1)
		return 2;

	long expected = phase(threads);
	snprintf(what, sizeof(what), "fork pid=%ld", (long)getpid());
	print_stats(what);
	pid_t pid = fork();
	if (pid < 0) {
		perror("record_fork: fork");
		return 1;
	}
	if (pid == 0) {
		LSAN_OFF_IN_CHILD();
		expected += phase(threads);
		snprintf(what, sizeof(what), "child pid=%ld ppid=%ld", (long)getpid(), (long)getppid());
		print_stats(what);
		return counter == expected ? 0 : 1;
	}
	expected += phase(threads);
	int status;
	if (waitpid(pid, &status, 0) != pid)
		return 1;
	snprintf(what, sizeof(what), "parent pid=%ld child=%ld", (long)getpid(), (long)pid);
	print_stats(what);
	return counter == expected && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
