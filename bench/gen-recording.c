/* bench: writes a synthetic recording (any number of aborts, skewed like a real hot spot) for report benchmarks and golden tests. */
/*
 * Usage: gen-recording -o FILE [-n aborts] [-k stacks] [-c clusters] [-d depth]
 *                      [-b blocks] [-t threads] [-s seed] [-S] [-T]
 *
 * The same options always write the same bytes (nothing is taken from the
 * machine), except with -S: then the stacks' PCs lie in this program's own
 * code and a MODULE record describes it, so that reports symbolize them
 * with libdw as they would a real program's.
 *
 * The shape, modelled on real hot spots: -k distinct stacks of -d frames
 * fall into -c clusters (default 50, at most k/4), each a piece of shared
 * data with the code that touches it: the stacks of a cluster conflict
 * with each other only, their innermost frames come from the cluster's 4
 * access sites, and its words lie together. Aborts pick a cluster, then the
 * aborted and the other stack in it, each with a skewed distribution, so
 * that a few pairs take most of the wasted time. 5% are explicit aborts
 * with no other side, 2% of conflicts are false ones. The run lasts 10 s;
 * COMMITS, THREADS, DROPS and a final STATS are written as the recorder
 * writes them; with -T, no THREADS, as recorders wrote before that record.
 */
#include "config.h"

#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conflict/format.h"

static uint64_t rng_state;

/* xorshift64*: the same sequence everywhere. */
static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [0, n). */
static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

/* Skewed in [0, n): index k with probability falling like a fifth power, so
 * that the first few take most draws. */
static uint64_t rnd_skewed(uint64_t n)
{
	double u = (double)(rnd() >> 11) / (double)(1ull << 53);

	return (uint64_t)((double)n * u * u * u * u * u);
}

struct text {
	uint64_t base, low, high;
	char path[PATH_MAX];
};

static int find_text(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct text *t = arg;

	(void)size;
	/* The first object is the program itself. */
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *p = &info->dlpi_phdr[i];

		if (p->p_type == PT_LOAD && (p->p_flags & PF_X)) {
			uint64_t lo = info->dlpi_addr + p->p_vaddr, hi = lo + p->p_memsz;

			if (!t->low || lo < t->low)
				t->low = lo;
			if (hi > t->high)
				t->high = hi;
		}
	}
	t->base = info->dlpi_addr;
	return 1;
}

static FILE *out;
static struct rec_buf buf;

/* Writes what the buffer holds once it is large. */
static void flush(bool force)
{
	if (buf.oom) {
		fprintf(stderr, "gen-recording: out of memory\n");
		exit(1);
	}
	if (force || buf.len > (1u << 20)) {
		if (fwrite(buf.data, 1, buf.len, out) != buf.len) {
			fprintf(stderr, "gen-recording: write: %s\n", strerror(errno));
			exit(1);
		}
		rec_buf_reset(&buf);
	}
}

static long opt_num(const char *name, const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "gen-recording: -%s takes a number from %ld to %ld\n", name, lo, hi);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	long n = 1000000, nstacks = 1000, nclusters = 50, depth = 12, nblocks = 20, nthreads = 16, seed = 1;
	bool self = false, threads_rec = true;
	const char *path = NULL;
	struct text text = { 0 };
	uint64_t *pcs, *blk_commits, *thr_commits, start_mono = 1000000000ull, dur = 10000000000ull;
	uint32_t *stack_block;
	int c;

	while ((c = getopt(argc, argv, "o:n:k:c:d:b:t:s:STh")) != -1) {
		switch (c) {
		case 'o': path = optarg; break;
		case 'n': n = opt_num("n", optarg, 0, 1L << 40); break;
		case 'k': nstacks = opt_num("k", optarg, 4, 1L << 20); break;
		case 'c': nclusters = opt_num("c", optarg, 1, 1L << 20); break;
		case 'd': depth = opt_num("d", optarg, 1, REC_MAX_DEPTH); break;
		case 'b': nblocks = opt_num("b", optarg, 1, 1L << 16); break;
		case 't': nthreads = opt_num("t", optarg, 2, 1L << 20); break;
		case 's': seed = opt_num("s", optarg, 0, LONG_MAX); break;
		case 'S': self = true; break;
		case 'T': threads_rec = false; break;
		default:
			fprintf(stderr, "usage: gen-recording -o FILE [-n aborts] [-k stacks] [-c clusters] "
				"[-d depth] [-b blocks] [-t threads] [-s seed] [-S] [-T]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (!path) {
		fprintf(stderr, "gen-recording: -o FILE is required\n");
		return 2;
	}
	if (nclusters > nstacks / 4)
		nclusters = nstacks / 4;
	rng_state = ((uint64_t)seed + 1) * 0x9E3779B97F4A7C15ull;
	out = fopen(path, "wb");
	if (!out) {
		fprintf(stderr, "gen-recording: %s: %s\n", path, strerror(errno));
		return 1;
	}
	fwrite(REC_MAGIC, 1, REC_MAGIC_LEN, out);
	rec_put_header(&buf, &(struct rec_header){ .pid = 4242, .ppid = 1,
		.start_realtime_ns = 1700000000000000000ull, .start_mono_ns = start_mono,
		.orec_bits = 20, .word_shift = 3, .program = "synthetic", .argc = 0 });
	if (self) {
		ssize_t k;

		dl_iterate_phdr(find_text, &text);
		k = readlink("/proc/self/exe", text.path, sizeof(text.path) - 1);
		text.path[k > 0 ? k : 0] = '\0';
		rec_put_module(&buf, &(struct rec_module){ .base = text.base, .low = text.low,
			.high = text.high, .path = text.path });
	}

	/* Blocks, then stacks: the innermost frame from a pool of access sites,
	 * the outer ones shared by many stacks, like real call trees. */
	for (long b = 1; b <= nblocks; b++) {
		char fn[32];

		snprintf(fn, sizeof(fn), "block%ld", b);
		rec_put_site(&buf, &(struct rec_site){ .id = (uint32_t)b, .line = (uint32_t)(10 * b),
			.pc = 0x400000 + (uint64_t)b * 0x100, .file = "synthetic.c", .function = fn });
	}
	pcs = calloc((size_t)depth, sizeof(*pcs));
	stack_block = calloc((size_t)nstacks + 1, sizeof(*stack_block));
	blk_commits = calloc((size_t)nblocks + 1, sizeof(*blk_commits));
	thr_commits = calloc((size_t)nthreads, sizeof(*thr_commits));
	if (!pcs || !stack_block || !blk_commits || !thr_commits) {
		fprintf(stderr, "gen-recording: out of memory\n");
		return 1;
	}
	/* Stack s is in cluster (s - 1) % nclusters; its innermost frame is
	 * one of the cluster's 4 access sites. */
	for (long s = 1; s <= nstacks; s++) {
		long sites = 4 * nclusters;

		for (long d = 0; d < depth; d++) {
			/* Frame d comes from a pool that shrinks outwards. */
			uint64_t pool = (uint64_t)(sites >> (d < 8 ? d : 8)) + 1;
			uint64_t pick = d == 0 ? (uint64_t)((s - 1) % nclusters * 4 + (s - 1) / nclusters % 4)
				       : rnd_below(pool);
			uint64_t off = 0x1000 + (uint64_t)d * 0x10000 + pick * 0x40 + 5;

			if (self)
				off = text.low + (((uint64_t)d * 7919 + pick * 104729) % (text.high - text.low - 1)) + 1;
			else
				off += 0x400000;
			pcs[d] = off;
		}
		rec_put_stack(&buf, (uint32_t)s, pcs, (uint32_t)depth);
		stack_block[s] = (uint32_t)(1 + rnd_below((uint64_t)nblocks));
		flush(false);
	}

	for (long i = 0; i < n; i++) {
		/* A cluster, then two of its stacks (it has at least 4). */
		uint64_t cl = rnd_skewed((uint64_t)nclusters);
		uint64_t members = (uint64_t)(nstacks - 1 - (long)cl) / (uint64_t)nclusters + 1;
		uint32_t s = (uint32_t)(1 + cl + rnd_skewed(members) * (uint64_t)nclusters);
		uint32_t o = (uint32_t)(1 + cl + rnd_skewed(members) * (uint64_t)nclusters);
		uint32_t tid = (uint32_t)(1000 + rnd_below((uint64_t)nthreads));
		uint32_t otid = (uint32_t)(1000 + rnd_below((uint64_t)nthreads - 1));
		uint64_t r = rnd_below(100), addr = 0x7f0000001000ull + cl * 0x1000 + rnd_skewed(8) * 8;
		struct rec_abort a = {
			.mono_ns = start_mono + (uint64_t)((double)dur * (double)i / (double)(n ? n : 1)),
			.wasted_ns = 500 + rnd_skewed(100000),
			.attempt = (uint32_t)(1 + rnd_skewed(8)),
			.tid = tid,
			.site = stack_block[s],
			.stack = s,
			.address = addr,
		};

		if (otid >= tid)
			otid++;
		if (r < 5) {
			a.reason = 5; /* lucid_abort: no other side */
		} else {
			a.reason = (uint8_t)(r < 50 ? 0 : r < 80 ? 1 : r < 90 ? 2 : r < 95 ? 3 : 4);
			a.flags = REC_ABORT_OTHER_KNOWN;
			a.other_tid = otid;
			a.other_site = stack_block[o];
			a.other_stack = o;
			a.other_address = addr;
			if (r % 50 == 7) {
				a.flags |= REC_ABORT_FALSE_CONFLICT;
				a.other_address = addr + 8;
			}
			if (a.reason >= 2)
				a.flags |= REC_ABORT_OTHER_COMMITTED;
		}
		rec_put_abort(&buf, &a);
		{
			/* The aborted thread's commits meanwhile, in its block. */
			uint64_t k = 3 + rnd_below(20);

			blk_commits[a.site] += k;
			thr_commits[tid - 1000] += k;
		}
		/* Every 100000 aborts, the commit counts so far, as the
		 * recorder writes them every 100 ms. */
		if ((i + 1) % 100000 == 0 || i + 1 == n) {
			struct rec_commit *pairs = calloc((size_t)nblocks, sizeof(*pairs));
			struct rec_tid_commits *tp = calloc((size_t)nthreads, sizeof(*tp));

			if (!pairs || !tp) {
				fprintf(stderr, "gen-recording: out of memory\n");
				return 1;
			}
			for (long b = 1; b <= nblocks; b++)
				pairs[b - 1] = (struct rec_commit){ (uint32_t)b, blk_commits[b] };
			rec_put_commits(&buf, pairs, (uint32_t)nblocks);
			for (long t = 0; t < nthreads; t++)
				tp[t] = (struct rec_tid_commits){ (uint32_t)(1000 + t), thr_commits[t] };
			if (threads_rec)
				rec_put_threads(&buf, tp, (uint32_t)nthreads);
			rec_put_drops(&buf, 0);
			free(pairs);
			free(tp);
		}
		flush(false);
	}
	{
		uint64_t commits = 0;

		for (long b = 1; b <= nblocks; b++)
			commits += blk_commits[b];
		rec_put_stats(&buf, &(struct rec_stats){ .commits = commits, .aborts = (uint64_t)n });
	}
	flush(true);
	if (fclose(out) != 0) {
		fprintf(stderr, "gen-recording: %s: %s\n", path, strerror(errno));
		return 1;
	}
	rec_buf_free(&buf);
	free(pcs);
	free(stack_block);
	free(blk_commits);
	free(thr_commits);
	return 0;
}
