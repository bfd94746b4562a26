/* tests: placeholder until written. */
#include "tests/testutil.h"
static Suite *suite(void) { return suite_create("features"); }
int main(void) { return test_run_suite(suite()); }
