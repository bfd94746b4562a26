/* tests: a program whose source file name carries terminal escape sequences, so that its recording tests that the browser shows them escaped. */
/*
 * The #line below gives this file a name with an OSC "set title" and a
 * "clear screen" sequence in it; the compiler puts that name into
 * __FILE__ (the atomic block's file in the recording) and into the debug
 * information (every frame's file). A recording of this program is what a
 * hostile build could hand to `lucid report`.
 *
 * It makes a few conflicts on purpose: the writer locks a word and holds
 * it while the reader, told by a flag, reads it and aborts.
 */
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include <lucid.h>

#line 1 "names\033]0;pwned\007\033[2J.c"
static long word;
static int written, done;

static void pause_ms(long ms)
{
	struct timespec t = { 0, ms * 1000000L };

	nanosleep(&t, NULL);
}

static void hold_word(void)
{
	lucid_write(word, lucid_read(word) + 1);
	__atomic_store_n(&written, 1, __ATOMIC_RELEASE);
	pause_ms(30);
}

/* The blocks live in functions of their own, so that no local of a
 * caller's loop is live across their checkpoints. */
static void write_once(void)
{
	LUCID_ATOMIC {
		hold_word();
	}
}

static void *writer(void *arg)
{
	for (int i = 0; i < 3; i++) {
		write_once();
		while (__atomic_load_n(&done, __ATOMIC_ACQUIRE) <= i)
			pause_ms(1);
	}
	return arg;
}

static long read_word(void)
{
	return lucid_read(word);
}

static long read_once(void)
{
	volatile long v = 0; /* set inside the block, read after it */

	LUCID_ATOMIC {
		v = read_word();
	}
	return v;
}

int main(void)
{
	pthread_t t;
	long seen = 0;

	if (pthread_create(&t, NULL, writer, NULL) != 0)
		return 1;
	for (int i = 0; i < 3; i++) {
		while (!__atomic_load_n(&written, __ATOMIC_ACQUIRE))
			pause_ms(1);
		seen = read_once();
		__atomic_store_n(&written, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&done, i + 1, __ATOMIC_RELEASE);
	}
	pthread_join(t, NULL);
	printf("names: read %ld\n", seen);
	return 0;
}
