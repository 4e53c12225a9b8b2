/* test_store_parked.c — the rejections a standby parks in the log store
 * (ll_store_parked.c): never in the outbox while parked, pruned below the
 * owner's acknowledged offset and no further, moved to the outbox under
 * their own sequences at a promotion (all of them, however many), and the
 * other partitions' records left alone. */
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

/* One batch rejecting offsets [first, first + n) of partition p, each
 * record parked as "value-<p>-<offset>". */
static void park_batch(ll_store *s, int32_t p, int first, int n) {
  ll_store_batch *b = ll_store_batch_begin(s);
  for (int i = first; i < first + n; i++) {
    uint64_t seq = log_reject_malformed(b, p, i);
    char value[48];
    snprintf(value, sizeof value, "value-%d-%d", (int)p, i);
    ll_store_batch_park(b, p, i, seq, "k", 1, true, value, strlen(value));
  }
  ll_err e = {0};
  if (ll_store_batch_commit(b, true, &e) != 0)
    fail_msg("commit: %s", e.message);
}

static uint64_t parked(ll_store *s, int32_t p) {
  ll_err e = {0};
  uint64_t n = 0;
  if (ll_store_parked_count(s, p, &n, &e) != 0)
    fail_msg("count: %s", e.message);
  return n;
}

static uint64_t in_outbox(ll_store *s) {
  ll_err e = {0};
  uint64_t n = 0;
  if (ll_store_outbox_count(s, &n, &e) != 0)
    fail_msg("count: %s", e.message);
  return n;
}

static void test_parked_records_are_not_sent(void **state) {
  log_fixture *f = *state;
  ll_store *s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  park_batch(s, 0, 0, 4);
  park_batch(s, 1, 0, 2);
  ll_store_close(s);
  s = log_open_ok(f->dir, LL_STORE_PRIMARY); /* durable with the batch */
  assert_int_equal(in_outbox(s), 0);
  assert_int_equal(parked(s, 0), 4);
  assert_int_equal(parked(s, 1), 2);
  assert_int_equal(ll_store_last_rejection(s), 6);
  ll_store_close(s);
}

static void test_prune_stops_at_the_acknowledged_offset(void **state) {
  log_fixture *f = *state;
  ll_store *s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  park_batch(s, 0, 0, 5);
  park_batch(s, 1, 0, 5);
  ll_err e = {0};
  size_t pruned = 0;
  assert_int_equal(ll_store_parked_prune(s, 0, 3, &pruned, &e), 0);
  assert_int_equal(pruned, 3); /* offsets 0, 1, 2 */
  assert_int_equal(parked(s, 0), 2);
  assert_int_equal(parked(s, 1), 5);
  assert_int_equal(ll_store_parked_prune(s, 0, 3, &pruned, &e), 0);
  assert_int_equal(pruned, 0);
  ll_store_close(s);
}

static void test_release_moves_them_to_the_outbox(void **state) {
  log_fixture *f = *state;
  ll_store *s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  park_batch(s, 1, 0, 2);     /* sequences 1, 2 */
  park_batch(s, 0, 10, 3);    /* 3, 4, 5 */
  park_batch(s, 0, 13, 2500); /* more than one write's worth */
  ll_err e = {0};
  uint64_t *seqs = NULL;
  size_t n = 0;
  assert_int_equal(ll_store_parked_release(s, 0, &seqs, &n, &e), 0);
  assert_int_equal(n, 2503);
  assert_int_equal(seqs[0], 3);
  assert_int_equal(seqs[n - 1], 2505);
  free(seqs);
  assert_int_equal(parked(s, 0), 0);
  assert_int_equal(parked(s, 1), 2);
  assert_int_equal(in_outbox(s), 2503);
  ll_outbox_record r[2];
  size_t got = 0;
  assert_int_equal(ll_store_outbox_read(s, 0, r, 2, &got, &e), 0);
  assert_int_equal(got, 2);
  assert_int_equal(r[0].sequence, 3);
  assert_int_equal(r[0].value.len, strlen("value-0-10"));
  assert_memory_equal(r[0].value.data, "value-0-10", r[0].value.len);
  assert_true(r[0].has_key);
  assert_int_equal(r[1].sequence, 4);
  for (size_t i = 0; i < got; i++)
    ll_outbox_record_free(&r[i]);
  /* Nothing left: a second release moves nothing. */
  assert_int_equal(ll_store_parked_release(s, 0, &seqs, &n, &e), 0);
  assert_int_equal(n, 0);
  free(seqs);
  ll_store_close(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_parked_records_are_not_sent,
                                      log_fixture_setup, log_fixture_teardown),
      cmocka_unit_test_setup_teardown(
          test_prune_stops_at_the_acknowledged_offset, log_fixture_setup,
          log_fixture_teardown),
      cmocka_unit_test_setup_teardown(test_release_moves_them_to_the_outbox,
                                      log_fixture_setup, log_fixture_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
