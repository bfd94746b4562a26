/* tests: placeholder until written. */
#include "tests/testutil.h"
static Suite *suite(void) { return suite_create("conflict"); }
int main(void) { return test_run_suite(suite()); }
