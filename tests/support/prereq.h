/* prereq.h — a test case whose prerequisite (a command, a privilege) is
 * missing says so: ctest reports it Skipped, never Passed, and where the
 * coverage must not have gaps (tests/run.sh, hence CI) it fails instead.
 *
 * cmocka's skip() only marks the case; ctest knows the process skipped
 * when it exits PREREQ_SKIP_EXIT, the SKIP_RETURN_CODE that
 * lotline_add_test (tests/CMakeLists.txt) sets on every test. So a test
 * that can skip ends main with prereq_exit(cmocka_run_group_tests(...)).
 *
 * LOTLINE_TEST_REQUIRE_PREREQS=1 (tests/run.sh sets it) turns every
 * prereq_missing() into a failure naming what is missing. Include after
 * <cmocka.h>. */
#ifndef LOTLINE_TESTS_PREREQ_H
#define LOTLINE_TESTS_PREREQ_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREREQ_SKIP_EXIT 77
#define PREREQ_REQUIRE_ENV "LOTLINE_TEST_REQUIRE_PREREQS"

static int prereq_skipped_cases;

static inline int prereq_required(void) {
  const char *v = getenv(PREREQ_REQUIRE_ENV);
  return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}

/* Skip the running case for want of `what` (or fail it when required).
 * Does not return: cmocka leaves the case either way. */
#define prereq_missing(what) prereq_missing_at((what), __FILE__, __LINE__)

static inline void prereq_missing_at(const char *what, const char *file,
                                     int line) {
  if (prereq_required()) {
    print_error("ERROR: prerequisite missing: %s; " PREREQ_REQUIRE_ENV
                " is set (tests/run.sh sets it), so this case must run\n",
                what);
    _fail(file, line);
  }
  printf("SKIPPED: prerequisite missing: %s\n", what);
  fflush(stdout);
  prereq_skipped_cases++;
  _skip(file, line);
}

/* main's exit status: cmocka's failure count, else the skip code when a
 * case was skipped. */
static inline int prereq_exit(int failed) {
  if (failed != 0)
    return failed;
  return prereq_skipped_cases > 0 ? PREREQ_SKIP_EXIT : 0;
}

#endif
