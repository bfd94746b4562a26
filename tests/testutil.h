/* tests: helpers shared by the check runners. */
#ifndef LUCID_TESTS_TESTUTIL_H
#define LUCID_TESTS_TESTUTIL_H

#include <check.h>
#include <stdlib.h>
#include <string.h>

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

#endif /* LUCID_TESTS_TESTUTIL_H */
