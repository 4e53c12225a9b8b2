/* test_alerts_worker.c — the date alerts worker in-process, against the
 * embedded broker, through the windows a kill -9 can hit.
 *
 * Views fed by hand: a lot with stock whose alert date passed, one whose
 * expiration passed but has no stock, one whose use-by date passes later.
 * Then, each time reading lots.alerts to its end:
 *   - a round publishes the one due alert, a second round nothing;
 *   - killed after Kafka acknowledged but before the store said so (the
 *     alert put back to pending in the store): the next worker finds it in
 *     the topic and does not send it again;
 *   - killed after recording but before sending (a pending alert that is
 *     not in the topic): the next worker sends it, once;
 *   - the clock moves past the use-by date: one more, once.
 * And two workers of a cluster on the same views: only the owner alerts,
 * and a new owner does not publish again what the old one did, nor misses
 * what came due while it did not own the lots. And what a round reads of
 * the views' dates index: a date moved later or earlier, a lot back on
 * hand after its date, and many lots with one due (the round reads the
 * due rows, not every lot). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "harness.h"
#include "ll_event.h"
#include "ll_mem.h"
#include "ll_views.h"

#define T0 1800000000000LL
#define DAY_MS 86400000LL

typedef struct world {
  char *dir;
  ll_views *views;
  ll_broker *broker;
  ll_codec *codec;
  ll_config cfg;
  char alerts_dir[1024];
} world;

static ll_entry *push(ll_entry *e, size_t *n, ll_event_type type,
                      const char *lot) {
  ll_entry *x = &e[*n];
  memset(x, 0, sizeof *x);
  x->position = ++*n;
  x->recorded_at_ms = T0 - DAY_MS;
  ll_event_init(&x->event);
  x->event.type = type;
  char id[32];
  snprintf(id, sizeof id, "e-%zu", *n);
  x->event.event_id = ll_strdup(id);
  x->event.occurred_at_ms = T0 - DAY_MS;
  x->event.product_id = ll_strdup("MILK");
  x->event.lot_id = ll_strdup(lot);
  return x;
}

static void receive(ll_entry *e, size_t *n, const char *lot) {
  ll_event *ev = &push(e, n, LL_EV_STOCK_MOVED, lot)->event;
  ev->quantity_valid = true;
  ev->quantity_micro = 5 * LL_MICRO;
  ev->from = (ll_location){ll_strdup("V"), LL_USAGE_SUPPLIER};
  ev->to = (ll_location){ll_strdup("WH"), LL_USAGE_INTERNAL};
}

static void fill_views(ll_views *v) {
  ll_entry e[8];
  size_t n = 0;
  ll_event *a = &push(e, &n, LL_EV_LOT_CREATED, "A1")->event;
  a->name = ll_strdup("A1");
  a->alert_at = (ll_opt_time){true, T0 - DAY_MS};
  receive(e, &n, "A1");
  ll_event *b = &push(e, &n, LL_EV_LOT_CREATED, "A2")->event;
  b->name = ll_strdup("A2");
  b->expiration_at = (ll_opt_time){true, T0 - DAY_MS}; /* no stock */
  ll_event *c = &push(e, &n, LL_EV_LOT_CREATED, "A3")->event;
  c->name = ll_strdup("A3");
  c->use_by_at = (ll_opt_time){true, T0 + DAY_MS};
  receive(e, &n, "A3");
  ll_err err = {0};
  if (ll_views_apply(v, e, n, &err) != 0)
    fail_msg("apply: %s", err.message);
  for (size_t i = 0; i < n; i++)
    ll_event_free(&e[i].event);
}

/* Apply entries after what the views hold (positions follow on). */
static void apply_more(ll_views *v, ll_entry *e, size_t n) {
  for (size_t i = 0; i < n; i++)
    e[i].position = ll_views_position(v) + 1 + i;
  ll_err err = {0};
  if (ll_views_apply(v, e, n, &err) != 0)
    fail_msg("apply: %s", err.message);
  for (size_t i = 0; i < n; i++)
    ll_event_free(&e[i].event);
}

static void create_with_alert(ll_views *v, const char *lot, int64_t at_ms) {
  ll_entry e[2];
  size_t n = 0;
  ll_event *c = &push(e, &n, LL_EV_LOT_CREATED, lot)->event;
  c->name = ll_strdup(lot);
  c->alert_at = (ll_opt_time){true, at_ms};
  receive(e, &n, lot);
  apply_more(v, e, n);
}

static void move_alert(ll_views *v, const char *lot, int64_t at_ms) {
  ll_entry e[1];
  size_t n = 0;
  ll_event *u = &push(e, &n, LL_EV_LOT_UPDATED, lot)->event;
  u->alert_at = (ll_opt_time){true, at_ms};
  apply_more(v, e, n);
}

static void receive_more(ll_views *v, const char *lot) {
  ll_entry e[1];
  size_t n = 0;
  receive(e, &n, lot);
  apply_more(v, e, n);
}

static ll_alerts *open_worker_in(world *w, const char *dir, bool await_filter) {
  ll_alerts_opts o = {.dir = dir,
                      .views = w->views,
                      .codec = w->codec,
                      .cfg = &w->cfg,
                      .brokers = ll_broker_bootstraps(w->broker),
                      .topic = "lots.alerts",
                      .await_filter = await_filter};
  ll_err err = {0};
  ll_alerts *a = ll_alerts_open(&o, &err);
  if (a == NULL)
    fail_msg("open: %s", err.message);
  return a;
}

static ll_alerts *open_worker(world *w) {
  return open_worker_in(w, w->alerts_dir, false);
}

static int round_at(ll_alerts *a, int64_t now_ms) {
  ll_err err = {0};
  int n = ll_alerts_round(a, now_ms, &err);
  if (n < 0)
    fail_msg("round: %s", err.message);
  return n;
}

static void count_record(const rd_kafka_message_t *m, void *arg) {
  (void)m;
  (*(int *)arg)++;
}

static int topic_count(world *w) {
  int n = 0;
  char why[256];
  if (h_read_topic(ll_broker_bootstraps(w->broker), "lots.alerts", 20000,
                   count_record, &n, why, sizeof why) != 0)
    fail_msg("reading lots.alerts: %s", why);
  return n;
}

/* Rewrite alert seq in the closed store as pending (sent 0, p/ row), as a
 * kill -9 leaves it between recording and the acknowledgement. */
static void put_pending(world *w, uint64_t seq, const char *lot,
                        ll_date_kind kind, int64_t at_ms) {
  rocksdb_options_t *o = rocksdb_options_create();
  char *e = NULL;
  rocksdb_t *db = rocksdb_open(o, w->alerts_dir, &e);
  assert_null(e);
  rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
  ll_buf k, v;
  ll_buf_init(&k);
  ll_buf_init(&v);
  ll_buf_put_u8(&v, 0);
  ll_buf_put_str(&v, "MILK");
  ll_buf_put_str(&v, lot);
  ll_buf_put_u8(&v, (uint8_t)kind);
  ll_buf_put_svar(&v, at_ms);
  ll_buf_put_svar(&v, 5 * LL_MICRO);
  ll_buf_put_svar(&v, T0);
  const char kinds[2] = {'s', 'p'};
  for (int i = 0; i < 2; i++) {
    ll_buf_reset(&k);
    ll_buf_put_u8(&k, (uint8_t)kinds[i]);
    ll_buf_put_u8(&k, '/');
    ll_buf_put_be64(&k, seq);
    rocksdb_put(db, wo, (const char *)k.data, k.len,
                i == 0 ? (const char *)v.data : "", i == 0 ? v.len : 0, &e);
    assert_null(e);
  }
  ll_buf_reset(&v);
  ll_buf_put_be64(&v, seq + 1);
  rocksdb_put(db, wo, "meta/next", 9, (const char *)v.data, v.len, &e);
  assert_null(e);
  ll_buf_free(&k);
  ll_buf_free(&v);
  rocksdb_writeoptions_destroy(wo);
  rocksdb_close(db);
  rocksdb_options_destroy(o);
}

static void expect_list(ll_alerts *a, size_t want) {
  ll_alert *list = NULL;
  size_t n = 0;
  ll_err err = {0};
  assert_int_equal(ll_alerts_list(a, 0, 100, &list, &n, &err), 0);
  assert_int_equal(n, want);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(list[i].sequence, i + 1);
    assert_true(list[i].sent);
  }
  ll_alerts_free(list, n);
}

static void world_open(world *w) {
  memset(w, 0, sizeof *w);
  w->dir = h_tempdir("alerts-worker");
  char views_dir[1024];
  snprintf(views_dir, sizeof views_dir, "%s/views", w->dir);
  snprintf(w->alerts_dir, sizeof w->alerts_dir, "%s/alerts", w->dir);
  ll_err err = {0};
  w->views = ll_views_open(views_dir, &err);
  assert_non_null(w->views);
  fill_views(w->views);
  ll_topics topics = {"lots.inbound", "lots.events", "lots.rejected",
                      "lots.quantities", "lots.alerts"};
  w->broker = ll_broker_start(&topics, 1, 4, &err);
  assert_non_null(w->broker);
  w->codec = h_codec_open();
  assert_non_null(w->codec);
  ll_config_init(&w->cfg);
}

static void world_close(world *w) {
  ll_config_free(&w->cfg);
  ll_codec_close(w->codec);
  ll_broker_stop(w->broker);
  ll_views_close(w->views);
  h_rmrf(w->dir);
  free(w->dir);
}

static void test_once_through_the_crash_windows(void **state) {
  (void)state;
  world w;
  world_open(&w);

  ll_alerts *a = open_worker(&w);
  assert_int_equal(round_at(a, T0), 1); /* A1's alert; A2 has no stock */
  assert_int_equal(round_at(a, T0), 0);
  assert_int_equal(topic_count(&w), 1);
  ll_alerts_close(a);

  /* Acknowledged, then killed before the store knew: not sent again. */
  put_pending(&w, 1, "A1", LL_DATE_ALERT, T0 - DAY_MS);
  a = open_worker(&w);
  assert_int_equal(round_at(a, T0), 0);
  assert_int_equal(topic_count(&w), 1);
  expect_list(a, 1);
  ll_alerts_close(a);

  /* Recorded, then killed before sending: sent once. */
  put_pending(&w, 2, "A9", LL_DATE_EXPIRATION, T0 - 2 * DAY_MS);
  a = open_worker(&w);
  assert_int_equal(round_at(a, T0), 0);
  assert_int_equal(topic_count(&w), 2);
  expect_list(a, 2);

  /* The clock passes A3's use-by date: one more, once. */
  assert_int_equal(round_at(a, T0 + 2 * DAY_MS), 1);
  assert_int_equal(round_at(a, T0 + 2 * DAY_MS), 0);
  assert_int_equal(topic_count(&w), 3);
  expect_list(a, 3);
  ll_alerts_close(a);
  world_close(&w);
}

/* The filter of a cluster's instance: does it own the product now? */
static bool owns(void *ctx, const char *product_id) {
  (void)product_id;
  return *(bool *)ctx;
}

/* Two instances of a cluster whose views both hold the lots (one owns
 * them, the other stands by): only the owner alerts; after a failover the
 * new owner does not publish again what the old one did, and publishes
 * what falls due after. */
static void test_a_cluster_alerts_once(void **state) {
  (void)state;
  world w;
  world_open(&w);
  char dir_b[1100];
  snprintf(dir_b, sizeof dir_b, "%s/alerts-b", w.dir);
  bool a_owns = true, b_owns = false;

  ll_alerts *a = open_worker_in(&w, w.alerts_dir, true);
  assert_int_equal(round_at(a, T0), 0); /* no filter yet: nothing looked at */
  ll_alerts_serves(a, owns, &a_owns);
  assert_int_equal(round_at(a, T0), 1); /* A1's alert */
  ll_alerts *b = open_worker_in(&w, dir_b, true);
  ll_alerts_serves(b, owns, &b_owns);
  assert_int_equal(round_at(b, T0), 0); /* it stands by */
  assert_int_equal(topic_count(&w), 1);

  /* B takes the partition over (A is gone): A1's alert is in the topic. */
  ll_alerts_close(a);
  b_owns = true;
  assert_int_equal(round_at(b, T0), 0);
  assert_int_equal(topic_count(&w), 1);
  expect_list(b, 0); /* B's own list: it published nothing */
  /* A3's use-by date passes: B publishes it, once. */
  assert_int_equal(round_at(b, T0 + 2 * DAY_MS), 1);
  assert_int_equal(round_at(b, T0 + 2 * DAY_MS), 0);
  assert_int_equal(topic_count(&w), 2);
  ll_alerts_close(b);
  world_close(&w);
}

/* A due date moved later before the round saw it alerts at the new date
 * only; one moved earlier than where the rounds stand alerts at once. */
static void test_dates_moved_later_and_earlier(void **state) {
  (void)state;
  world w;
  world_open(&w);
  ll_alerts *a = open_worker(&w);
  assert_int_equal(round_at(a, T0), 1); /* A1's alert */
  create_with_alert(w.views, "B1", T0 + DAY_MS);
  create_with_alert(w.views, "B2", T0 + 20 * DAY_MS);
  assert_int_equal(round_at(a, T0), 0);
  move_alert(w.views, "B1", T0 + 5 * DAY_MS);        /* later */
  move_alert(w.views, "B2", T0 - 2 * DAY_MS);        /* earlier: passed */
  assert_int_equal(round_at(a, T0), 1);              /* B2 */
  assert_int_equal(round_at(a, T0 + 2 * DAY_MS), 1); /* A3's use-by */
  assert_int_equal(round_at(a, T0 + 4 * DAY_MS), 0); /* B1's old date */
  assert_int_equal(round_at(a, T0 + 5 * DAY_MS), 1); /* B1's new date */
  assert_int_equal(round_at(a, T0 + 5 * DAY_MS), 0);
  assert_int_equal(topic_count(&w), 4);
  expect_list(a, 4);
  ll_alerts_close(a);
  world_close(&w);
}

/* A2's expiration passed while it had no stock: received later, it
 * alerts once, at the round after. */
static void test_back_on_hand_after_the_date(void **state) {
  (void)state;
  world w;
  world_open(&w);
  ll_alerts *a = open_worker(&w);
  assert_int_equal(round_at(a, T0), 1); /* A1 only */
  assert_int_equal(round_at(a, T0 + DAY_MS / 2), 0);
  receive_more(w.views, "A2");
  assert_int_equal(round_at(a, T0 + DAY_MS / 2), 1);
  receive_more(w.views, "A2"); /* more stock: nothing new */
  assert_int_equal(round_at(a, T0 + DAY_MS / 2), 0);
  ll_alert *list = NULL;
  size_t n = 0;
  ll_err err = {0};
  assert_int_equal(ll_alerts_list(a, 1, 10, &list, &n, &err), 0);
  assert_int_equal(n, 1);
  assert_string_equal(list[0].lot_id, "A2");
  assert_int_equal(list[0].kind, LL_DATE_EXPIRATION);
  ll_alerts_free(list, n);
  ll_alerts_close(a);
  world_close(&w);
}

#define MANY_LOTS 2000

/* Many lots, one due: a round reads the rows that can be due, not the
 * lots; a round with nothing new reads one row (the next date). */
static void test_a_round_reads_what_can_be_due(void **state) {
  (void)state;
  world w;
  world_open(&w);
  ll_entry *e = ll_xcalloc(2 * MANY_LOTS, sizeof *e);
  size_t n = 0;
  for (int i = 0; i < MANY_LOTS; i++) {
    char lot[16];
    snprintf(lot, sizeof lot, "M%04d", i);
    ll_event *c = &push(e, &n, LL_EV_LOT_CREATED, lot)->event;
    c->name = ll_strdup(lot);
    c->expiration_at = (ll_opt_time){true, T0 + (30 + i) * DAY_MS};
    receive(e, &n, lot);
  }
  apply_more(w.views, e, n);
  free(e);
  ll_alerts *a = open_worker(&w);
  /* The first round walks every date from the earliest: A1's, which is
   * due, and the first one to come (A3's). */
  assert_int_equal(round_at(a, T0), 1);
  assert_int_equal(ll_alerts_rows_read(a), 2);
  assert_int_equal(round_at(a, T0), 0);
  assert_int_equal(ll_alerts_rows_read(a), 3);
  /* One lot of many comes due: the round reads it and the next date. */
  assert_int_equal(round_at(a, T0 + 30 * DAY_MS), 2); /* A3, M0000 */
  uint64_t before = ll_alerts_rows_read(a);
  assert_int_equal(round_at(a, T0 + 31 * DAY_MS), 1); /* M0001 */
  assert_int_equal(ll_alerts_rows_read(a) - before, 2);
  ll_alerts_close(a);
  world_close(&w);
}

/* An instance that did not own the lots when their dates passed, and
 * nobody published them: once it owns them, it does. */
static void test_a_new_owner_alerts_what_came_due_before(void **state) {
  (void)state;
  world w;
  world_open(&w);
  bool b_owns = false;
  ll_alerts *b = open_worker_in(&w, w.alerts_dir, true);
  ll_alerts_serves(b, owns, &b_owns);
  assert_int_equal(round_at(b, T0 + 2 * DAY_MS), 0);
  assert_int_equal(round_at(b, T0 + 2 * DAY_MS), 0);
  b_owns = true;
  assert_int_equal(round_at(b, T0 + 2 * DAY_MS), 2); /* A1, A3 */
  assert_int_equal(round_at(b, T0 + 2 * DAY_MS), 0);
  assert_int_equal(topic_count(&w), 2);
  ll_alerts_close(b);
  world_close(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_once_through_the_crash_windows),
      cmocka_unit_test(test_a_cluster_alerts_once),
      cmocka_unit_test(test_dates_moved_later_and_earlier),
      cmocka_unit_test(test_back_on_hand_after_the_date),
      cmocka_unit_test(test_a_round_reads_what_can_be_due),
      cmocka_unit_test(test_a_new_owner_alerts_what_came_due_before),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
