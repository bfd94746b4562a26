/* samples: queue: a bounded producer/consumer queue that blocks with lucid_retry. */
/*
 * Usage: queue [-p producers] [-c consumers] [-b bound] [-n items_per_producer]
 *
 * The queue is a linked list of nodes made with lucid_malloc and released
 * with lucid_free, holding at most -b items. A producer that finds it full
 * and a consumer that finds it empty call lucid_retry(): the thread sleeps
 * until another transaction changes what it read, then tries again. No lock,
 * no condition variable, no busy waiting. At the end every item must have
 * been consumed exactly once. Prints one result line; exits 0 when it held.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <lucid.h>

struct node {
	long value;
	struct node *next;
};

struct queue {
	struct node *head, *tail;
	long count, bound;
};

static struct queue q;
static long items_per_producer = 100000;
static unsigned char *seen;   /* per item: times consumed (checked after joining) */

static void put(long value)
{
	LUCID_ATOMIC {
		if (lucid_read(q.count) == lucid_read(q.bound))
			lucid_retry();   /* full: sleep until a consumer takes one */
		struct node *n = lucid_malloc(sizeof(*n));
		if (!n) {
			fprintf(stderr, "queue: out of memory\n");
			exit(1);
		}
		lucid_write(n->value, value);
		lucid_write(n->next, (struct node *)NULL);
		struct node *tail = lucid_read(q.tail);
		if (tail)
			lucid_write(tail->next, n);
		else
			lucid_write(q.head, n);
		lucid_write(q.tail, n);
		lucid_write(q.count, lucid_read(q.count) + 1);
	}
}

static long take(void)
{
	volatile long value = -1;   /* set inside the block, read after it */

	LUCID_ATOMIC {
		struct node *n = lucid_read(q.head);
		if (!n)
			lucid_retry();   /* empty: sleep until a producer adds one */
		struct node *next = lucid_read(n->next);
		lucid_write(q.head, next);
		if (!next)
			lucid_write(q.tail, (struct node *)NULL);
		lucid_write(q.count, lucid_read(q.count) - 1);
		value = lucid_read(n->value);
		lucid_free(n);   /* reclaimed once no transaction can still read it */
	}
	return value;
}

struct worker {
	pthread_t thread;
	long first, count;   /* producers: the items to make; consumers: how many to take */
};

static void *producer(void *arg)
{
	struct worker *w = arg;

	for (long i = 0; i < w->count; i++)
		put(w->first + i);
	return NULL;
}

static void *consumer(void *arg)
{
	struct worker *w = arg;

	for (long i = 0; i < w->count; i++) {
		long v = take();
		__atomic_add_fetch(&seen[v], 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static long parse(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi) {
		fprintf(stderr, "queue: -%s must be a number from %ld to %ld, not \"%s\"\n", opt, lo, hi, s);
		exit(2);
	}
	return v;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: queue [-p producers] [-c consumers] [-b bound] [-n items_per_producer]\n"
	           "  -p  producer threads (default 2)\n"
	           "  -c  consumer threads (default 2)\n"
	           "  -b  most items in the queue at once (default 16)\n"
	           "  -n  items each producer makes (default 100000)\n");
}

int main(int argc, char **argv)
{
	long producers = 2, consumers = 2;
	int c;

	q.bound = 16;
	while ((c = getopt(argc, argv, "p:c:b:n:h")) != -1) {
		switch (c) {
		case 'p': producers = parse("p", optarg, 1, 256); break;
		case 'c': consumers = parse("c", optarg, 1, 256); break;
		case 'b': q.bound = parse("b", optarg, 1, 1L << 20); break;
		case 'n': items_per_producer = parse("n", optarg, 1, 1L << 24); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	long total = producers * items_per_producer;
	seen = calloc((size_t)total, 1);
	struct worker *p = calloc((size_t)producers, sizeof(*p));
	struct worker *w = calloc((size_t)consumers, sizeof(*w));
	if (!seen || !p || !w) {
		fprintf(stderr, "queue: out of memory\n");
		return 1;
	}

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < consumers; i++) {
		/* Share the items out; the first consumers take the remainder. */
		w[i].count = total / consumers + (i < total % consumers);
		pthread_create(&w[i].thread, NULL, consumer, &w[i]);
	}
	for (long i = 0; i < producers; i++) {
		p[i].first = i * items_per_producer;
		p[i].count = items_per_producer;
		pthread_create(&p[i].thread, NULL, producer, &p[i]);
	}
	for (long i = 0; i < producers; i++)
		pthread_join(p[i].thread, NULL);
	for (long i = 0; i < consumers; i++)
		pthread_join(w[i].thread, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

	long once = 0;
	for (long i = 0; i < total; i++)
		once += seen[i] == 1;
	int ok = once == total && q.count == 0 && q.head == NULL && q.tail == NULL;

	struct lucid_stats st;
	lucid_stats_get(&st);
	printf("queue producers=%ld consumers=%ld bound=%ld items=%ld seconds=%.3f items_per_s=%.0f "
	       "commits=%" PRIu64 " aborts=%" PRIu64 " retry=%" PRIu64 " retry_waits=%" PRIu64
	       " max_retries=%" PRIu64 " delivered_once=%ld invariant=%s\n",
	       producers, consumers, q.bound, total, secs, (double)total / secs, st.commits, st.aborts,
	       st.aborts_by_reason[LUCID_ABORT_RETRY], st.retry_waits, st.max_retries, once,
	       ok ? "ok" : "VIOLATED");
	free(seen);
	free(p);
	free(w);
	return ok ? 0 : 1;
}
