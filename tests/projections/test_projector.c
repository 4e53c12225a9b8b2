/* test_projector.c — the projector against the real log store: a primary
 * appends, the projector follows through a secondary instance (as the
 * projection worker does), resumes after a restart, and refuses views that
 * run ahead of their log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "views_fixture.h"
#include "views_internal.h"

typedef struct ctx {
  char *dir;
  char log_dir[4200];
  char views_dir[4200];
  ll_store *primary;
  ll_store *follower;
  ll_views *views;
  tlog log;
  size_t appended; /* entries of `log` in the store */
} ctx;

static int setup(void **state) {
  ctx *c = calloc(1, sizeof *c);
  c->dir = scratch_dir();
  assert_non_null(c->dir);
  snprintf(c->log_dir, sizeof c->log_dir, "%s/log", c->dir);
  snprintf(c->views_dir, sizeof c->views_dir, "%s/views", c->dir);
  ll_err err = {0};
  c->primary = ll_store_open(c->log_dir, LL_STORE_PRIMARY, &err);
  if (c->primary == NULL)
    fail_msg("open log: %s", err.message);
  c->follower = ll_store_open(c->log_dir, LL_STORE_SECONDARY, &err);
  if (c->follower == NULL)
    fail_msg("open secondary: %s", err.message);
  c->views = ll_views_open(c->views_dir, &err);
  if (c->views == NULL)
    fail_msg("open views: %s", err.message);
  *state = c;
  return 0;
}

static int teardown(void **state) {
  ctx *c = *state;
  ll_views_close(c->views);
  ll_store_close(c->follower);
  ll_store_close(c->primary);
  tlog_free(&c->log);
  rm_tree(c->dir);
  free(c);
  return 0;
}

/* Append the entries of c->log not yet in the store, in one batch. */
static void append_pending(ctx *c) {
  ll_store_batch *b = ll_store_batch_begin(c->primary);
  for (; c->appended < c->log.n; c->appended++) {
    ll_input in = {.topic = "lots.inbound",
                   .partition = 0,
                   .offset = (int64_t)c->appended};
    uint64_t pos =
        ll_store_batch_append(b, &c->log.e[c->appended].event, &in, T_EPOCH_MS);
    assert_int_equal(pos, c->appended + 1);
  }
  ll_err err = {0};
  if (ll_store_batch_commit(b, false, &err) != 0)
    fail_msg("commit: %s", err.message);
}

static size_t step(ll_projector *p, size_t max) {
  size_t applied = 99;
  ll_err err = {0};
  if (ll_projector_step(p, max, &applied, &err) != 0)
    fail_msg("step: %s", err.message);
  return applied;
}

static int64_t on_hand(ll_views *v, const char *lot_id) {
  ll_lot lot;
  ll_lot_init(&lot);
  bool found = false;
  ll_err err = {0};
  assert_int_equal(ll_views_get_lot(v, "P1", lot_id, &lot, &found, &err), 0);
  assert_true(found);
  int64_t q = lot.on_hand_micro;
  ll_lot_free(&lot);
  return q;
}

static void receipt(ctx *c) {
  tlog_created(&c->log, "L1", "P1", "LOT-001", NULL);
  tlog_moved(&c->log, "L1", "P1", 10500000, "Partners/Vendor",
             LL_USAGE_SUPPLIER, "WH/Stock", LL_USAGE_INTERNAL);
  tlog_moved(&c->log, "L1", "P1", 2250000, "WH/Stock", LL_USAGE_INTERNAL,
             "WH/Transit", LL_USAGE_TRANSIT);
  tlog_moved(&c->log, "L1", "P1", 3000001, "WH/Stock", LL_USAGE_INTERNAL,
             "Partners/Customers", LL_USAGE_CUSTOMER);
  tlog_created(&c->log, "L2", "P1", "LOT-002", NULL);
}

static void test_projector_follows_the_log(void **state) {
  ctx *c = *state;
  ll_projector *p = ll_projector_new(c->follower, c->views);
  assert_int_equal(step(p, 10), 0); /* empty log: caught up */

  receipt(c);
  append_pending(c);
  assert_int_equal(step(p, 2), 2);
  assert_int_equal(ll_views_position(c->views), 2);
  assert_int_equal(on_hand(c->views, "L1"), 10500000);
  assert_int_equal(step(p, 100), 3);
  assert_int_equal(ll_views_position(c->views), 5);
  assert_int_equal(on_hand(c->views, "L1"), 7499999);
  assert_int_equal(step(p, 100), 0);

  /* Written after the follower last looked: step catches up first. */
  tlog_moved(&c->log, "L1", "P1", 2250000, "WH/Transit", LL_USAGE_TRANSIT,
             "Partners/Customers", LL_USAGE_CUSTOMER);
  tlog_updated(&c->log, "L2", "P1", "LOT-002b", NULL, NULL, NULL);
  append_pending(c);
  assert_int_equal(step(p, 0), 2);
  assert_int_equal(ll_views_position(c->views), 7);
  assert_int_equal(on_hand(c->views, "L1"), 5249999);

  ll_lot_location *locs = NULL;
  size_t n = 0;
  ll_err err = {0};
  assert_int_equal(
      ll_views_lot_locations(c->views, "P1", "L1", false, &locs, &n, &err), 0);
  assert_int_equal(n, 1);
  assert_string_equal(locs[0].location, "WH/Stock");
  assert_int_equal(locs[0].quantity_micro, 5249999);
  ll_lot_locations_free(locs, n);
  ll_projector_free(p);
}

static void test_projector_resumes_after_restart(void **state) {
  ctx *c = *state;
  receipt(c);
  append_pending(c);
  ll_projector *p = ll_projector_new(c->follower, c->views);
  assert_int_equal(step(p, 3), 3);
  ll_projector_free(p);
  ll_views_close(c->views);

  ll_err err = {0};
  c->views = ll_views_open(c->views_dir, &err);
  assert_non_null(c->views);
  assert_int_equal(ll_views_position(c->views), 3);
  p = ll_projector_new(c->follower, c->views);
  assert_int_equal(step(p, 100), 2);
  assert_int_equal(step(p, 100), 0);
  assert_int_equal(on_hand(c->views, "L1"), 7499999);
  ll_projector_free(p);
}

static uint64_t l0_files(ll_views *v) {
  ll_db_stats st;
  ll_views_stats(v, &st);
  return st.l0_files;
}

/* Freshness: a step that reaches the end of the log goes through the
 * memtable however many rows it has; only a full step (a backlog) is
 * written as a table file, which lands in level 0. The views read the same
 * either way. */
static void test_projector_at_the_head_writes_no_table_file(void **state) {
  ctx *c = *state;
  ll_views_close(c->views);
  const ll_views_tuning tiny_files = {.cache_max_entries = 1024,
                                      .cache_max_bytes = 1 << 20,
                                      .file_min_rows = 2};
  ll_err err = {0};
  c->views = ll_views_open_tuned(c->views_dir, &tiny_files, &err);
  if (c->views == NULL)
    fail_msg("open views: %s", err.message);
  ll_projector *p = ll_projector_new(c->follower, c->views);
  /* The reopen flushed what the first open wrote (its format mark). */
  uint64_t files_before = l0_files(c->views);

  receipt(c);
  append_pending(c);
  assert_int_equal(step(p, 100), 5); /* all of the log: at the head */
  assert_int_equal(l0_files(c->views), files_before);
  assert_int_equal(on_hand(c->views, "L1"), 7499999);

  tlog_moved(&c->log, "L1", "P1", 2250000, "WH/Transit", LL_USAGE_TRANSIT,
             "Partners/Customers", LL_USAGE_CUSTOMER);
  tlog_updated(&c->log, "L2", "P1", "LOT-002b", NULL, NULL, NULL);
  tlog_moved(&c->log, "L1", "P1", 1000000, "WH/Stock", LL_USAGE_INTERNAL,
             "WH/Transit", LL_USAGE_TRANSIT);
  append_pending(c);
  assert_int_equal(step(p, 2), 2); /* one entry more than the step: behind */
  assert_true(l0_files(c->views) > files_before);
  assert_int_equal(on_hand(c->views, "L1"), 5249999);
  assert_int_equal(step(p, 2), 1);
  assert_int_equal(on_hand(c->views, "L1"), 5249999);
  ll_projector_free(p);
}

static void test_views_ahead_of_the_log_is_an_error(void **state) {
  ctx *c = *state;
  receipt(c);
  ll_err err = {0};
  assert_int_equal(ll_views_apply(c->views, c->log.e, c->log.n, &err), 0);
  /* The store holds only the first two entries. */
  ll_store_batch *b = ll_store_batch_begin(c->primary);
  ll_store_batch_append(b, &c->log.e[0].event, NULL, T_EPOCH_MS);
  ll_store_batch_append(b, &c->log.e[1].event, NULL, T_EPOCH_MS);
  assert_int_equal(ll_store_batch_commit(b, false, &err), 0);

  ll_projector *p = ll_projector_new(c->follower, c->views);
  size_t applied = 99;
  assert_int_equal(ll_projector_step(p, 10, &applied, &err), -1);
  assert_int_equal(applied, 0);
  assert_non_null(strstr(err.message, "another log"));
  ll_projector_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_projector_follows_the_log, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_projector_resumes_after_restart,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_projector_at_the_head_writes_no_table_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_views_ahead_of_the_log_is_an_error,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
