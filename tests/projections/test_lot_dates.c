/* test_lot_dates.c — the dates index of lots on hand (lot_dates.c), fed
 * hand-made log entries: walks of the due dates and of the lots that
 * entered the index, a date moved later or earlier, a lot back on hand
 * after its date, rows gone with the stock, and the same rows whatever
 * the batching (as a rebuild's runs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "views_fixture.h"
#include "views_internal.h"

#define DAY_MS 86400000LL
#define T0 T_EPOCH_MS
#define WALK_LIMIT 100

typedef struct ctx {
  char *dir;
  ll_views *v;
  tlog log;
  size_t applied; /* entries of log applied */
  ll_dates_walk due, entered;
} ctx;

static int setup(void **state) {
  ctx *c = calloc(1, sizeof *c);
  c->dir = scratch_dir();
  ll_err err = {0};
  c->v = ll_views_open(c->dir, &err);
  if (c->v == NULL)
    fail_msg("open: %s", err.message);
  ll_dates_walk_init(&c->due, WALK_LIMIT);
  ll_dates_walk_init(&c->entered, WALK_LIMIT);
  *state = c;
  return 0;
}

static int teardown(void **state) {
  ctx *c = *state;
  ll_dates_walk_free(&c->due);
  ll_dates_walk_free(&c->entered);
  ll_views_close(c->v);
  tlog_free(&c->log);
  rm_tree(c->dir);
  free(c);
  return 0;
}

/* Apply what the log gained since the last call. */
static void apply_new(ctx *c) {
  ll_err err = {0};
  if (ll_views_apply(c->v, c->log.e + c->applied, c->log.n - c->applied,
                     &err) != 0)
    fail_msg("apply: %s", err.message);
  c->applied = c->log.n;
}

static void created(ctx *c, const char *lot, ll_opt_time alert,
                    ll_opt_time expiration) {
  ll_event *ev = tlog_created(&c->log, lot, "P1", lot, NULL);
  ev->alert_at = alert;
  ev->expiration_at = expiration;
}

static void receive(ctx *c, const char *lot) {
  tlog_moved(&c->log, lot, "P1", 5 * LL_MICRO, "V", LL_USAGE_SUPPLIER, "WH",
             LL_USAGE_INTERNAL);
}

static void ship_all(ctx *c, const char *lot) {
  tlog_moved(&c->log, lot, "P1", 5 * LL_MICRO, "WH", LL_USAGE_INTERNAL, "C",
             LL_USAGE_CUSTOMER);
}

static void move_alert(ctx *c, const char *lot, int64_t at_ms) {
  ll_event *ev = tlog_updated(&c->log, lot, "P1", NULL, NULL, NULL, NULL);
  ev->alert_at = (ll_opt_time){true, at_ms};
}

static ll_opt_time at(int64_t ms) {
  return (ll_opt_time){true, ms};
}

static const ll_opt_time NONE = {false, 0};

/* Walk both indexes up to until_ms from where they stood; the dates taken
 * as "lot:kind" joined by spaces, due ones first, then " | " and the
 * entered ones. */
static void walk_to(ctx *c, int64_t until_ms, char *out, size_t cap) {
  ll_err err = {0};
  ll_views_reader *r = ll_views_reader_open(c->v, &err);
  assert_non_null(r);
  c->due.until_ms = until_ms;
  c->entered.until_ms = until_ms;
  if (ll_views_dates_due(r, &c->due, &err) != 0 ||
      ll_views_dates_entered(r, &c->entered, &err) != 0)
    fail_msg("walk: %s", err.message);
  ll_views_reader_close(r);
  out[0] = '\0';
  size_t len = 0;
  for (int w = 0; w < 2; w++) {
    const ll_dates_walk *walk = w == 0 ? &c->due : &c->entered;
    if (w == 1)
      len += (size_t)snprintf(out + len, cap - len, "|");
    for (size_t i = 0; i < walk->n; i++) {
      assert_string_equal(walk->dates[i].product_id, "P1");
      len += (size_t)snprintf(out + len, cap - len, "%s%s:%d",
                              len && out[len - 1] != '|' ? " " : "",
                              walk->dates[i].lot_id, walk->dates[i].kind);
    }
  }
  ll_dates_walk_clear(&c->due);
  ll_dates_walk_clear(&c->entered);
}

/* Rows of the views whose key starts with prefix. */
static size_t count_rows(ll_views *v, const char *prefix) {
  rocksdb_iterator_t *it = rocksdb_create_iterator(v->db, v->read_opts);
  size_t n = 0, plen = strlen(prefix);
  for (rocksdb_iter_seek(it, prefix, plen); rocksdb_iter_valid(it);
       rocksdb_iter_next(it)) {
    size_t klen;
    const char *k = rocksdb_iter_key(it, &klen);
    if (klen < plen || memcmp(k, prefix, plen) != 0)
      break;
    n++;
  }
  rocksdb_iter_destroy(it);
  return n;
}

static void test_walks_read_what_has_come_due(void **state) {
  ctx *c = *state;
  char got[512];
  created(c, "A", at(T0 + 1 * DAY_MS), at(T0 + 9 * DAY_MS));
  created(c, "B", at(T0 + 2 * DAY_MS), NONE);
  created(c, "C", at(T0 + 3 * DAY_MS), NONE);
  created(c, "D", NONE, NONE); /* no dates: no rows */
  receive(c, "A");
  receive(c, "B");
  receive(c, "C");
  receive(c, "D");
  apply_new(c);
  assert_int_equal(count_rows(c->v, LL_VK_DATES), 4);

  /* The first walk of what entered only notes where the views stand. */
  walk_to(c, T0 + 2 * DAY_MS, got, sizeof got);
  assert_string_equal(got, "A:0 B:0|");
  assert_int_equal(c->due.rows_read, 3); /* and the first date past it */
  assert_int_equal(c->entered.rows_read, 0);
  /* Nothing new: one row read, the next date to come. */
  walk_to(c, T0 + 2 * DAY_MS, got, sizeof got);
  assert_string_equal(got, "|");
  assert_int_equal(c->due.rows_read, 4);
  walk_to(c, T0 + 10 * DAY_MS, got, sizeof got);
  assert_string_equal(got, "C:0 A:3|");
  assert_true(c->due.done && c->entered.done);
}

static void test_date_moved_later_leaves_no_row(void **state) {
  ctx *c = *state;
  char got[512];
  created(c, "A", at(T0 + 1 * DAY_MS), NONE);
  receive(c, "A");
  apply_new(c);
  walk_to(c, T0, got, sizeof got);
  assert_string_equal(got, "|");
  move_alert(c, "A", T0 + 3 * DAY_MS);
  apply_new(c);
  assert_int_equal(count_rows(c->v, LL_VK_DATES), 1);
  /* The old date passes: nothing is due; what entered is the new date,
   * not due yet. */
  walk_to(c, T0 + 2 * DAY_MS, got, sizeof got);
  assert_string_equal(got, "|");
  walk_to(c, T0 + 3 * DAY_MS, got, sizeof got);
  assert_string_equal(got, "A:0|");
}

static void test_date_moved_earlier_is_read_once(void **state) {
  ctx *c = *state;
  char got[512];
  created(c, "A", at(T0 + 20 * DAY_MS), NONE);
  receive(c, "A");
  apply_new(c);
  walk_to(c, T0 + 10 * DAY_MS, got, sizeof got);
  assert_string_equal(got, "|");
  /* Moved before where the walk of due dates stands. */
  move_alert(c, "A", T0 + 5 * DAY_MS);
  apply_new(c);
  walk_to(c, T0 + 10 * DAY_MS, got, sizeof got);
  assert_string_equal(got, "|A:0");
  walk_to(c, T0 + 10 * DAY_MS, got, sizeof got);
  assert_string_equal(got, "|");
}

static void test_back_on_hand_after_the_date(void **state) {
  ctx *c = *state;
  char got[512];
  created(c, "A", NONE, at(T0 + 1 * DAY_MS));
  receive(c, "A");
  apply_new(c);
  walk_to(c, T0, got, sizeof got);
  ship_all(c, "A"); /* out of stock: its rows go, all three families */
  apply_new(c);
  assert_int_equal(count_rows(c->v, LL_VK_DATES), 0);
  assert_int_equal(count_rows(c->v, LL_VK_DATES_OF), 0);
  assert_int_equal(count_rows(c->v, LL_VK_DATES_ENTERED), 0);
  walk_to(c, T0 + 2 * DAY_MS, got, sizeof got);
  assert_string_equal(got, "|");
  receive(c, "A"); /* on hand again, its date passed */
  apply_new(c);
  walk_to(c, T0 + 2 * DAY_MS, got, sizeof got);
  assert_string_equal(got, "|A:3");
  /* A move that keeps stock on hand enters nothing again. */
  tlog_moved(&c->log, "A", "P1", LL_MICRO, "WH", LL_USAGE_INTERNAL, "WH2",
             LL_USAGE_INTERNAL);
  apply_new(c);
  walk_to(c, T0 + 2 * DAY_MS, got, sizeof got);
  assert_string_equal(got, "|");
  assert_int_equal(count_rows(c->v, LL_VK_DATES_ENTERED), 1);
}

/* A walk stopped by its limit goes on where it stopped. */
static void test_a_walk_goes_on_after_its_limit(void **state) {
  ctx *c = *state;
  char id[16];
  for (int i = 0; i < WALK_LIMIT + 10; i++) {
    snprintf(id, sizeof id, "L%03d", i);
    created(c, id, at(T0 - DAY_MS + i), NONE);
    receive(c, id);
  }
  apply_new(c);
  char *got = malloc(8192);
  walk_to(c, T0, got, 8192);
  assert_false(c->due.done);
  assert_int_equal(c->due.rows_read, WALK_LIMIT);
  assert_non_null(strstr(got, "L099:0"));
  assert_null(strstr(got, "L100:0"));
  walk_to(c, T0, got, 8192);
  assert_true(c->due.done);
  assert_string_equal(got, "L100:0 L101:0 L102:0 L103:0 L104:0 L105:0 "
                           "L106:0 L107:0 L108:0 L109:0|");
  free(got);
}

/* Runs of any size, as a rebuild's, give the same rows. */
static void test_batching_gives_the_same_index(void **state) {
  ctx *c = *state;
  created(c, "A", at(T0 + DAY_MS), at(T0 + 9 * DAY_MS));
  created(c, "B", NONE, at(T0 + 2 * DAY_MS));
  receive(c, "A");
  receive(c, "B");
  move_alert(c, "A", T0 + 3 * DAY_MS);
  ship_all(c, "B");
  move_alert(c, "A", T0 - DAY_MS);
  receive(c, "B");
  apply_new(c); /* one run */

  char *dir2 = scratch_dir();
  ll_err err = {0};
  ll_views_tuning bulk = {.cache_max_entries = 1024,
                          .cache_max_bytes = 1 << 20,
                          .file_min_rows = 1,
                          .bulk_load = true};
  ll_views *v2 = ll_views_open_tuned(dir2, &bulk, &err);
  assert_non_null(v2);
  for (size_t i = 0; i < c->log.n; i++) /* one entry per run */
    if (ll_views_apply(v2, &c->log.e[i], 1, &err) != 0)
      fail_msg("apply: %s", err.message);
  ll_buf a;
  ll_buf_init(&a);
  views_dump(c->v, &a);
  assert_views_dump(v2, &a);
  assert_int_equal(count_rows(c->v, LL_VK_DATES), 3);
  assert_int_equal(count_rows(c->v, LL_VK_DATES_ENTERED), 2);
  ll_buf_free(&a);
  ll_views_close(v2);
  rm_tree(dir2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_walks_read_what_has_come_due, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_date_moved_later_leaves_no_row,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_date_moved_earlier_is_read_once,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_back_on_hand_after_the_date, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_a_walk_goes_on_after_its_limit,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_batching_gives_the_same_index, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
