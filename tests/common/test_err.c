/* test_err.c — error values (common/ll_types.c): a kind, a rejection code
 * and a message.
 *
 * Callers branch on the kind (retry a TIMEOUT, stop on CORRUPT, report a
 * REJECTED event with its code) and logs print the kind's name, so both
 * must be what the maker of the error said. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ll_types.h"

static void test_fail_sets_kind_and_message(void **state) {
  (void)state;
  ll_err err;
  memset(&err, 0x5a, sizeof err);
  assert_int_equal(ll_fail(&err, LL_ERR_IO, "cannot read %s: %s", "/var/x",
                           "Input/output error"),
                   -1);
  assert_int_equal(err.kind, LL_ERR_IO);
  assert_int_equal(err.code, LL_OK);
  assert_string_equal(err.message, "cannot read /var/x: Input/output error");

  assert_int_equal(ll_fail(&err, LL_ERR_TIMEOUT, "no answer in %d ms", 5000),
                   -1);
  assert_int_equal(err.kind, LL_ERR_TIMEOUT);
  assert_string_equal(err.message, "no answer in 5000 ms");
}

static void test_rejection_has_kind_rejected(void **state) {
  (void)state;
  ll_err err;
  memset(&err, 0, sizeof err);
  assert_int_equal(ll_err_set(&err, LL_INSUFFICIENT_STOCK,
                              "%s available, %s requested", "1", "2"),
                   -1);
  assert_int_equal(err.kind, LL_ERR_REJECTED);
  assert_int_equal(err.code, LL_INSUFFICIENT_STOCK);
  assert_string_equal(err.message, "1 available, 2 requested");
}

/* One ll_err is reused along a call chain: a failure made after a
 * rejection must not keep the rejection's code, nor the other way round. */
static void test_reused_err_keeps_nothing_stale(void **state) {
  (void)state;
  ll_err err;
  ll_err_set(&err, LL_MALFORMED, "bad bytes");
  ll_fail(&err, LL_ERR_KAFKA, "broker down");
  assert_int_equal(err.kind, LL_ERR_KAFKA);
  assert_int_equal(err.code, LL_OK);
  assert_string_equal(err.message, "broker down");
  ll_err_set(&err, LL_UNKNOWN_LOT, "no lot");
  assert_int_equal(err.kind, LL_ERR_REJECTED);
  assert_int_equal(err.code, LL_UNKNOWN_LOT);
}

/* A long message is cut, never overflows, and stays a C string. */
static void test_long_message_is_cut(void **state) {
  (void)state;
  char detail[2 * LL_MESSAGE_MAX_BYTES];
  memset(detail, 'x', sizeof detail - 1);
  detail[sizeof detail - 1] = '\0';
  ll_err err;
  ll_fail(&err, LL_ERR_CORRUPT, "record: %s", detail);
  assert_int_equal(strlen(err.message), LL_MESSAGE_MAX_BYTES - 1);
  assert_memory_equal(err.message, "record: xxx", 11);
}

/* Callers that do not want the detail pass NULL and still get -1. */
static void test_null_err_returns_failure(void **state) {
  (void)state;
  assert_int_equal(ll_fail(NULL, LL_ERR_INTERNAL, "ignored"), -1);
  assert_int_equal(ll_err_set(NULL, LL_MALFORMED, "ignored"), -1);
}

/* Logs and exit reasons print these names; operators grep for them. */
static void test_kind_names(void **state) {
  (void)state;
  static const struct {
    ll_err_kind kind;
    const char *name;
  } names[] = {
      {LL_ERR_NONE, "NONE"},       {LL_ERR_REJECTED, "REJECTED"},
      {LL_ERR_IO, "IO"},           {LL_ERR_CORRUPT, "CORRUPT"},
      {LL_ERR_KAFKA, "KAFKA"},     {LL_ERR_CONFIG, "CONFIG"},
      {LL_ERR_FULL, "FULL"},       {LL_ERR_BUSY, "BUSY"},
      {LL_ERR_TIMEOUT, "TIMEOUT"}, {LL_ERR_INTERNAL, "INTERNAL"},
  };
  assert_int_equal(sizeof names / sizeof names[0], LL_ERR_KIND_COUNT);
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    assert_string_equal(ll_err_kind_name(names[i].kind), names[i].name);
  assert_string_equal(ll_err_kind_name(LL_ERR_KIND_COUNT), "?");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fail_sets_kind_and_message),
      cmocka_unit_test(test_rejection_has_kind_rejected),
      cmocka_unit_test(test_reused_err_keeps_nothing_stale),
      cmocka_unit_test(test_long_message_is_cut),
      cmocka_unit_test(test_null_err_returns_failure),
      cmocka_unit_test(test_kind_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
