/* test_store_outbox.c — the rejections outbox of the log store: a record
 * staged with its rejection is durable exactly when the batch is, comes
 * back in sequence order after a restart, and is gone once deleted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "ll_store.h"
#include "log_fixture.h"

/* One batch rejecting n inputs (offsets from first), each with its record
 * "value-<offset>" keyed "key-<offset>" (the odd ones without a key). */
static void reject_batch(ll_store *s, int first, int n, bool commit) {
  ll_store_batch *b = ll_store_batch_begin(s);
  for (int i = first; i < first + n; i++) {
    uint64_t seq = log_reject_malformed(b, 0, i);
    char key[32], value[32];
    snprintf(key, sizeof key, "key-%d", i);
    snprintf(value, sizeof value, "value-%d", i);
    ll_store_batch_outbox(b, seq, key, strlen(key), i % 2 == 0, value,
                          strlen(value));
  }
  if (!commit) {
    ll_store_batch_abort(b);
    return;
  }
  ll_err e = {0};
  if (ll_store_batch_commit(b, true, &e) != 0)
    fail_msg("commit: %s", e.message);
}

static size_t read_all(ll_store *s, uint64_t after, ll_outbox_record *out,
                       size_t max) {
  ll_err e = {0};
  size_t n = 0;
  if (ll_store_outbox_read(s, after, out, max, &n, &e) != 0)
    fail_msg("read: %s", e.message);
  return n;
}

static void expect_record(const ll_outbox_record *r, uint64_t seq, int offset) {
  char want[32];
  assert_int_equal(r->sequence, seq);
  assert_int_equal(r->has_key, offset % 2 == 0);
  if (r->has_key) {
    snprintf(want, sizeof want, "key-%d", offset);
    assert_int_equal(r->key.len, strlen(want));
    assert_memory_equal(r->key.data, want, r->key.len);
  }
  snprintf(want, sizeof want, "value-%d", offset);
  assert_int_equal(r->value.len, strlen(want));
  assert_memory_equal(r->value.data, want, r->value.len);
}

static void free_records(ll_outbox_record *r, size_t n) {
  for (size_t i = 0; i < n; i++)
    ll_outbox_record_free(&r[i]);
}

static uint64_t count(ll_store *s) {
  ll_err e = {0};
  uint64_t c = 0;
  if (ll_store_outbox_count(s, &c, &e) != 0)
    fail_msg("count: %s", e.message);
  return c;
}

static void test_records_come_back_in_order_after_restart(void **state) {
  log_fixture *f = *state;
  ll_store *s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  assert_int_equal(count(s), 0);
  reject_batch(s, 0, 3, true);
  reject_batch(s, 3, 2, false); /* aborted: neither rejection nor record */
  reject_batch(s, 5, 2, true);  /* sequences 4 and 5 */
  ll_store_close(s);

  s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  assert_int_equal(count(s), 5);
  ll_outbox_record r[8];
  size_t n = read_all(s, 0, r, 8);
  assert_int_equal(n, 5);
  const int offsets[] = {0, 1, 2, 5, 6};
  for (size_t i = 0; i < n; i++)
    expect_record(&r[i], i + 1, offsets[i]);
  free_records(r, n);

  /* Reading after a sequence, and at most max. */
  n = read_all(s, 2, r, 2);
  assert_int_equal(n, 2);
  expect_record(&r[0], 3, 2);
  expect_record(&r[1], 4, 5);
  free_records(r, n);
  assert_int_equal(read_all(s, 5, r, 8), 0);
  ll_store_close(s);
}

static void test_deleted_records_stay_deleted(void **state) {
  log_fixture *f = *state;
  ll_store *s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  reject_batch(s, 0, 4, true);
  ll_err e = {0};
  const uint64_t acked[] = {1, 3};
  assert_int_equal(ll_store_outbox_delete(s, acked, 2, &e), 0);
  assert_int_equal(count(s), 2);
  ll_store_close(s);

  s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  ll_outbox_record r[4];
  size_t n = read_all(s, 0, r, 4);
  assert_int_equal(n, 2);
  expect_record(&r[0], 2, 1);
  expect_record(&r[1], 4, 3);
  free_records(r, n);
  /* The rejections themselves are untouched. */
  ll_stored_rejection rej[4];
  assert_int_equal(ll_store_recent_rejections(s, 4, rej, &n, &e), 0);
  assert_int_equal(n, 4);
  for (size_t i = 0; i < n; i++)
    ll_stored_rejection_free(&rej[i]);
  /* Other meta keys in the same column family are not records. */
  reject_batch(s, 4, 1, true);
  assert_int_equal(count(s), 3);
  ll_store_close(s);
}

static void test_secondary_cannot_delete(void **state) {
  log_fixture *f = *state;
  ll_store *s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  reject_batch(s, 0, 1, true);
  ll_err e = {0};
  ll_store *sec = ll_store_open(f->dir, LL_STORE_SECONDARY, &e);
  assert_non_null(sec);
  const uint64_t acked[] = {1};
  assert_int_equal(ll_store_outbox_delete(sec, acked, 1, &e), -1);
  assert_non_null(strstr(e.message, "secondary"));
  ll_store_close(sec);
  assert_int_equal(count(s), 1);
  ll_store_close(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_records_come_back_in_order_after_restart, log_fixture_setup,
          log_fixture_teardown),
      cmocka_unit_test_setup_teardown(test_deleted_records_stay_deleted,
                                      log_fixture_setup, log_fixture_teardown),
      cmocka_unit_test_setup_teardown(test_secondary_cannot_delete,
                                      log_fixture_setup, log_fixture_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
