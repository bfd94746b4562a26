/* tests: LUCID_BREAK's specification parser and matcher, the in-process symbolizer, lucid_debug_capture. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lucid.h>
#include "conflict/break.h"
#include "conflict/break-spec.h"
#include "conflict/recorder.h"
#include "conflict/selfsym.h"
#include "tests/testutil.h"

/* ------------------------------------------------------------ parsing */

static struct conflict_break parse_ok(const char *spec)
{
	struct conflict_break b;
	char err[256];
	int rc = conflict_break_parse(spec, &b, err, sizeof(err));

	ck_assert_msg(rc == 0, "\"%s\" refused: %s", spec, err);
	return b;
}

static void parse_bad(const char *spec, const char *needle)
{
	struct conflict_break b;
	char err[256] = "unchanged";
	int rc = conflict_break_parse(spec, &b, err, sizeof(err));

	ck_assert_msg(rc == -EINVAL, "\"%s\" accepted (rc %d)", spec ? spec : "(null)", rc);
	ck_assert_msg(strstr(err, needle) != NULL, "\"%s\": message \"%s\" lacks \"%s\"",
	              spec ? spec : "(null)", err, needle);
}

START_TEST(test_parse_keys)
{
	struct conflict_break b = parse_ok("kind=ww");

	ck_assert_uint_eq(b.kinds, 1u << LUCID_ABORT_WRITE_LOCKED);
	ck_assert(!b.has_address && !b.function[0] && !b.block_file[0] && !b.hits && !b.every);

	b = parse_ok("kind=rw|commit-invalid");
	ck_assert_uint_eq(b.kinds, 1u << LUCID_ABORT_READ_LOCKED | 1u << LUCID_ABORT_COMMIT_INVALID);
	b = parse_ok("kind=conflict");
	ck_assert_uint_eq(b.kinds, 0x1fu);
	b = parse_ok("kind=irrevocable|abort");
	ck_assert_uint_eq(b.kinds, 1u << LUCID_ABORT_IRREVOCABLE | 1u << LUCID_ABORT_EXPLICIT);

	b = parse_ok(" kind = ww ,\thits = 3 , function= counter_* ");
	ck_assert_uint_eq(b.kinds, 1u << LUCID_ABORT_WRITE_LOCKED);
	ck_assert_uint_eq(b.hits, 3);
	ck_assert_str_eq(b.function, "counter_*");

	b = parse_ok("address=0x7ffd1000");
	ck_assert(b.has_address);
	ck_assert_uint_eq(b.address, 0x7ffd1000);
	ck_assert_uint_eq(b.address_len, 1);
	b = parse_ok("address=4096+0x10");
	ck_assert_uint_eq(b.address, 4096);
	ck_assert_uint_eq(b.address_len, 16);

	b = parse_ok("block=samples/hotspot.c:125");
	ck_assert_str_eq(b.block_file, "samples/hotspot.c");
	ck_assert_int_eq(b.block_line, 125);
	b = parse_ok("block=hotspot.c");
	ck_assert_str_eq(b.block_file, "hotspot.c");
	ck_assert_int_eq(b.block_line, 0);
	/* Only a number after the last colon is a line. */
	b = parse_ok("block=a:b.c:12");
	ck_assert_str_eq(b.block_file, "a:b.c");
	ck_assert_int_eq(b.block_line, 12);
	b = parse_ok("block=a:b");
	ck_assert_str_eq(b.block_file, "a:b");
	ck_assert_int_eq(b.block_line, 0);

	b = parse_ok("hits=3,every=2");
	ck_assert_uint_eq(b.hits, 3);
	ck_assert_uint_eq(b.every, 2);
}
END_TEST

START_TEST(test_parse_errors)
{
	/* Every message says what is wrong with which part. */
	parse_bad(NULL, "no specification");
	parse_bad("", "empty");
	parse_bad("  ", "empty");
	parse_bad("color=red", "unknown key \"color\"");
	parse_bad("kind", "\"kind\" is not KEY=VALUE");
	parse_bad("kind=", "kind= has no value");
	parse_bad("kind=xx", "unknown kind \"xx\"");
	parse_bad("kind=xx", "read-invalid");
	parse_bad("kind=rw|", "unknown kind \"\"");
	parse_bad("kind=ww,kind=rw", "kind= is given twice");
	parse_bad("kind=ww,,hits=1", "empty condition");
	parse_bad("kind=ww,", "empty condition");
	parse_bad(",kind=ww", "empty condition");
	parse_bad("hits=0", "hits=0: want a whole number");
	parse_bad("hits=-1", "want a whole number");
	parse_bad("hits=0x10", "want a whole number");
	parse_bad("every=99999999999999999999", "want a whole number");
	parse_bad("every=3x", "want a whole number");
	parse_bad("address=0", "nonzero address");
	parse_bad("address=zz", "nonzero address");
	parse_bad("address=-5", "nonzero address");
	parse_bad("address=0x10+0", "LEN after +");
	parse_bad("address=0x10+", "LEN after +");
	parse_bad("address=0xffffffffffffffff+2", "past the address space");
	parse_bad("block=:12", "needs a file");
	parse_bad("block=x.c:", "a line number must follow");
	parse_bad("block=x.c:0", "1 or more");

	char longname[400];

	memset(longname, 'f', sizeof(longname));
	memcpy(longname, "function=", 9);
	longname[sizeof(longname) - 1] = '\0';
	parse_bad(longname, "longer than 255 bytes");

	/* A short buffer gets a truncated, terminated message; none at all is fine. */
	struct conflict_break b;
	char err[8];

	memset(err, 'x', sizeof(err));
	ck_assert_int_eq(conflict_break_parse("color=red", &b, err, sizeof(err)), -EINVAL);
	ck_assert_uint_eq(strlen(err), sizeof(err) - 1);
	ck_assert_int_eq(conflict_break_parse("color=red", &b, NULL, 0), -EINVAL);
	/* The keys listed for messages are the keys accepted. */
	for (const char *k = conflict_break_keys; (k = strstr(k, "=")) != NULL; k++) {
		const char *start = k;

		while (start > conflict_break_keys && start[-1] >= 'a' && start[-1] <= 'z')
			start--;
		char spec[64];

		snprintf(spec, sizeof(spec), "%.*s=", (int)(k - start), start);
		parse_bad(spec, "has no value");   /* known key, so not "unknown key" */
	}
}
END_TEST

START_TEST(test_stops_at)
{
	struct conflict_break b = parse_ok("kind=ww");

	for (uint64_t n = 1; n < 10; n++)
		ck_assert(conflict_break_stops_at(&b, n));
	b = parse_ok("hits=3");
	for (uint64_t n = 1; n < 10; n++)
		ck_assert_msg(conflict_break_stops_at(&b, n) == (n == 3), "hits=3, match %lu", (unsigned long)n);
	b = parse_ok("every=2");
	for (uint64_t n = 1; n < 10; n++)
		ck_assert_msg(conflict_break_stops_at(&b, n) == (n % 2 == 0), "every=2, match %lu",
		              (unsigned long)n);
	b = parse_ok("hits=3,every=2");
	for (uint64_t n = 1; n < 10; n++)
		ck_assert_msg(conflict_break_stops_at(&b, n) == (n >= 3 && n % 2 == 1),
		              "hits=3,every=2, match %lu", (unsigned long)n);
}
END_TEST

/* ------------------------------------------------------------ matching */

static const uintptr_t mine[] = { 11, 12, 13 }, theirs[] = { 21, 22 };

static struct lucid_conflict sample_conflict(void)
{
	return (struct lucid_conflict){
		.reason = LUCID_ABORT_READ_LOCKED, .flags = LUCID_CONFLICT_OTHER_KNOWN, .attempt = 1,
		.address = 0x1004, .other_address = 0x1000, .tid = 10, .other_tid = 20,
		.file = "../samples/hotspot.c", .line = 148, .function = "take_report",
		.other_file = "../samples/hotspot.c", .other_line = 129, .other_function = "serve_request",
		.stack = mine, .stack_depth = 3, .other_stack = theirs, .other_depth = 2,
	};
}

static int frame_calls;

/* Pretends the function named "f<pc>" is at pc. */
static bool fake_frames(uintptr_t pc, const char *pattern, void *arg)
{
	char name[32];

	ck_assert_ptr_eq(arg, &frame_calls);
	frame_calls++;
	snprintf(name, sizeof(name), "f%lu", (unsigned long)pc);
	return conflict_break_name_matches(pattern, name);
}

static bool matches(const char *spec, const struct lucid_conflict *c)
{
	struct conflict_break b = parse_ok(spec);

	return conflict_break_matches(&b, c, fake_frames, &frame_calls);
}

START_TEST(test_match_conditions)
{
	struct lucid_conflict c = sample_conflict();

	ck_assert(matches("every=1", &c));
	ck_assert(matches("kind=rw", &c));
	ck_assert(matches("kind=conflict", &c));
	ck_assert(!matches("kind=ww|abort", &c));

	/* The 8-byte word of either side. */
	ck_assert(matches("address=0x1000", &c));
	ck_assert(matches("address=0x1007", &c));
	ck_assert(!matches("address=0x1008", &c));
	ck_assert(matches("address=0xff8+9", &c));
	ck_assert(!matches("address=0xff8+8", &c));
	c.address = 0x2000;
	ck_assert(matches("address=0x1003", &c));    /* the other side's word */
	c.other_address = 0;
	ck_assert(!matches("address=0x1003", &c));
	c = sample_conflict();

	/* Either block, by file suffix at a '/' and line. */
	ck_assert(matches("block=samples/hotspot.c:148", &c));
	ck_assert(matches("block=hotspot.c:129", &c));
	ck_assert(matches("block=hotspot.c", &c));
	ck_assert(matches("block=/home/me/lucid/samples/hotspot.c:148", &c));
	ck_assert(!matches("block=otspot.c:148", &c));
	ck_assert(!matches("block=hotspot.c:150", &c));
	ck_assert(!matches("block=bank.c", &c));
	c.line = 0;                 /* lucid_run(): no block */
	ck_assert(!matches("block=hotspot.c:148", &c));
	c = sample_conflict();

	/* Frames of either stack; patterns. */
	ck_assert(matches("function=f12", &c));
	ck_assert(matches("function=f22", &c));
	ck_assert(matches("function=f2?", &c));
	ck_assert(!matches("function=f14", &c));
	c.other_stack = NULL;
	c.other_depth = 0;
	c.flags = 0;
	ck_assert(!matches("function=f22", &c));
	c = sample_conflict();

	/* All conditions must hold; symbolizing comes last. */
	frame_calls = 0;
	ck_assert(!matches("kind=ww,function=f11", &c));
	ck_assert(!matches("block=bank.c,function=f11", &c));
	ck_assert_int_eq(frame_calls, 0);
	ck_assert(matches("kind=rw,block=hotspot.c:148,address=0x1000,function=f13", &c));
	ck_assert(!matches("kind=rw,block=hotspot.c:148,address=0x1000,function=f99", &c));
}
END_TEST

/* ------------------------------------------------------ self symbolizer */

static volatile int sink;

static __attribute__((noinline)) uintptr_t return_address(void)
{
	sink++;
	return (uintptr_t)__builtin_return_address(0);
}

static int call_line;

/* The return address of a call made on a known line of this function. */
static __attribute__((noinline)) uintptr_t break_test_caller(void)
{
	call_line = __LINE__ + 1;
	uintptr_t pc = return_address();

	sink++;   /* not a tail call: the return address stays in this function */
	return pc;
}

struct seen_frames {
	int n;
	bool found;
	unsigned line;
	char file[256];
};

static int look(const struct conflict_frame *f, void *arg)
{
	struct seen_frames *s = arg;

	s->n++;
	if (strcmp(f->function, "break_test_caller") == 0 && !f->inlined) {
		s->found = true;
		s->line = f->line;
		snprintf(s->file, sizeof(s->file), "%s", f->file);
	}
	return 0;
}

START_TEST(test_selfsym)
{
	uintptr_t pc = break_test_caller();
	struct seen_frames s = { 0, false, 0, "" };

	ck_assert_int_eq(conflict_selfsym(pc, look, &s), 0);
	ck_assert_msg(s.found, "break_test_caller not found at %#lx (%d frames)", (unsigned long)pc, s.n);
	ck_assert_msg(strstr(s.file, "check_break.c") != NULL, "file %s", s.file);
	ck_assert_int_eq((int)s.line, call_line);
	/* Cached: the same answer again. */
	memset(&s, 0, sizeof(s));
	conflict_selfsym(pc, look, &s);
	ck_assert(s.found && (int)s.line == call_line);
	/* An address in nothing still gives one frame, unknown. */
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(conflict_selfsym(16, look, &s), 0);
	ck_assert_int_eq(s.n, 1);
	ck_assert(!s.found);
}
END_TEST

START_TEST(test_describe)
{
	uintptr_t here[] = { break_test_caller() }, alloc[] = { break_test_caller() };
	struct lucid_conflict c = sample_conflict();
	char want[64];

	c.stack = here;
	c.stack_depth = 1;
	c.other_stack = here;
	c.other_depth = 1;
	c.flags |= LUCID_CONFLICT_OTHER_COMMITTED | LUCID_CONFLICT_ALLOC_STACK;
	c.alloc_stack = alloc;
	c.alloc_depth = 1;

	char *t = conflict_break_describe(&c, 7, "kind=rw");

	ck_assert_ptr_nonnull(t);
	ck_assert_msg(strstr(t, "LUCID_BREAK match 7 (kind=rw): rw abort") == t, "%s", t);
	ck_assert_msg(strstr(t, "aborted transaction: thread 10, the atomic block at "
	                        "../samples/hotspot.c:148 (in take_report()), at address 0x1004") != NULL,
	              "%s", t);
	ck_assert_msg(strstr(t, "other transaction: thread 20, the atomic block at "
	                        "../samples/hotspot.c:129 (in serve_request()), at address 0x1000, "
	                        "committed") != NULL, "%s", t);
	ck_assert_msg(strstr(t, "allocated (lucid_malloc) at:") != NULL, "%s", t);
	snprintf(want, sizeof(want), "check_break.c:%d", call_line);
	/* One frame per stack, three stacks. */
	int n = 0;

	for (const char *p = t; (p = strstr(p, "break_test_caller at ")) != NULL; p++)
		n++;
	ck_assert_msg(n == 3, "%d frames named in: %s", n, t);
	ck_assert_msg(strstr(t, want) != NULL, "%s not in: %s", want, t);
	free(t);

	/* A conflict whose other side is unknown, and an abort that is none. */
	c = sample_conflict();
	c.flags = 0;
	c.stack = NULL;
	t = conflict_break_describe(&c, 1, "every=1");
	ck_assert_ptr_nonnull(t);
	ck_assert_msg(strstr(t, "(no stack was captured)") != NULL, "%s", t);
	ck_assert_msg(strstr(t, "other transaction: not known") != NULL, "%s", t);
	free(t);
	c.reason = LUCID_ABORT_EXPLICIT;
	c.line = 0;
	t = conflict_break_describe(&c, 1, "kind=abort");
	ck_assert_ptr_nonnull(t);
	ck_assert_msg(strstr(t, "a function run by lucid_run()") != NULL, "%s", t);
	ck_assert_msg(strstr(t, "other transaction") == NULL, "%s", t);
	free(t);
}
END_TEST

/* ------------------------------------------------------- capture switch */

static void noop_hook(const struct lucid_conflict *c, void *arg)
{
	(void)c;
	(void)arg;
}

START_TEST(test_debug_capture)
{
	ck_assert(!conflict_break_active());   /* LUCID_BREAK is not set for this test */
	ck_assert(!rec_capturing());
	ck_assert_int_eq(lucid_debug_capture(1), 0);
	ck_assert(rec_capturing());
	/* A hook that comes and goes leaves it on. */
	lucid_set_abort_hook(noop_hook, NULL);
	lucid_set_abort_hook(NULL, NULL);
	ck_assert(rec_capturing());
	ck_assert_int_eq(lucid_debug_capture(0), 0);
	ck_assert(!rec_capturing());
}
END_TEST

static long word;

static void capture_env_bad(void)
{
	setenv("LUCID_CAPTURE", "yes", 1);
	LUCID_ATOMIC {
		lucid_write(word, 1);
	}
}

START_TEST(test_capture_env)
{
	assert_misuse(capture_env_bad, "LUCID_CAPTURE=\"yes\"", "neither 0 nor 1");
	setenv("LUCID_CAPTURE", "1", 1);
	LUCID_ATOMIC {
		lucid_write(word, 1);
	}
	ck_assert(rec_capturing());
	unsetenv("LUCID_CAPTURE");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("break");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{ "parse_keys", test_parse_keys },
		{ "parse_errors", test_parse_errors },
		{ "stops_at", test_stops_at },
		{ "match_conditions", test_match_conditions },
		{ "selfsym", test_selfsym },
		{ "describe", test_describe },
		{ "debug_capture", test_debug_capture },
		{ "capture_env", test_capture_env },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);

		tcase_set_timeout(tc, 60);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return test_run_suite(s);
}
