/* test_metrics.c — the metrics registry and its Prometheus text.
 *
 * What a scraper relies on: the exact text format (HELP, TYPE, labels,
 * cumulative buckets with le in the base unit, _sum and _count), counters
 * that do not lose increments under concurrent updates, label values
 * escaped, a hidden gauge left out, and bounded series. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ll_metrics.h"

static char *expose(ll_metrics *m) {
  ll_buf out;
  ll_buf_init(&out);
  ll_metrics_expose(m, &out);
  char *text = malloc(out.len + 1);
  memcpy(text, out.data, out.len);
  text[out.len] = '\0';
  ll_buf_free(&out);
  return text;
}

static void expect_line(const char *text, const char *line) {
  char *want = malloc(strlen(line) + 3);
  sprintf(want, "\n%s\n", line);
  /* the first line has no newline before it */
  bool found = strstr(text, want) != NULL ||
               strncmp(text, want + 1, strlen(want + 1)) == 0;
  if (!found)
    fail_msg("line not found: %s\n--- in ---\n%s", line, text);
  free(want);
}

static void test_counter_and_gauge_text(void **state) {
  (void)state;
  ll_metrics *m = ll_metrics_new();
  ll_series *c = ll_metric_with(
      ll_metrics_counter(m, "t_events_total", "Events.\nSecond line", NULL));
  ll_counter_add(c, 3);
  ll_metric *g = ll_metrics_gauge(m, "t_lag", "Lag.", "topic,partition");
  ll_gauge_set(ll_metric_with(g, "in", "0"), 42);
  ll_gauge_set(ll_metric_with(g, "in", "1"), -5);
  char *text = expose(m);
  expect_line(text, "# HELP t_events_total Events.\\nSecond line");
  expect_line(text, "# TYPE t_events_total counter");
  expect_line(text, "t_events_total 3");
  expect_line(text, "# TYPE t_lag gauge");
  expect_line(text, "t_lag{topic=\"in\",partition=\"0\"} 42");
  expect_line(text, "t_lag{topic=\"in\",partition=\"1\"} -5");
  free(text);

  /* a hidden gauge is left out until set again */
  ll_series_hide(ll_metric_with(g, "in", "1"));
  text = expose(m);
  assert_null(strstr(text, "partition=\"1\""));
  free(text);
  ll_gauge_add(ll_metric_with(g, "in", "1"), 1);
  text = expose(m);
  expect_line(text, "t_lag{topic=\"in\",partition=\"1\"} -4");
  free(text);
  ll_metrics_free(m);
}

static void test_histogram_text(void **state) {
  (void)state;
  ll_metrics *m = ll_metrics_new();
  const uint64_t bounds[] = {500, 1000, 2500000};
  ll_metric *h = ll_metrics_histogram(m, "t_latency_seconds", "Latency.",
                                      "route", bounds, 3, 1000000);
  ll_series *s = ll_metric_with(h, "/v1/lots");
  ll_histogram_observe(s, 100);     /* <= 0.0005 */
  ll_histogram_observe(s, 500);     /* <= 0.0005: bounds are inclusive */
  ll_histogram_observe(s, 700);     /* <= 0.001 */
  ll_histogram_observe(s, 9000000); /* +Inf */
  char *text = expose(m);
  expect_line(text, "# TYPE t_latency_seconds histogram");
  expect_line(text,
              "t_latency_seconds_bucket{route=\"/v1/lots\",le=\"0.0005\"} 2");
  expect_line(text,
              "t_latency_seconds_bucket{route=\"/v1/lots\",le=\"0.001\"} 3");
  expect_line(text,
              "t_latency_seconds_bucket{route=\"/v1/lots\",le=\"2.5\"} 3");
  expect_line(text,
              "t_latency_seconds_bucket{route=\"/v1/lots\",le=\"+Inf\"} 4");
  expect_line(text, "t_latency_seconds_sum{route=\"/v1/lots\"} 9.0013");
  expect_line(text, "t_latency_seconds_count{route=\"/v1/lots\"} 4");
  assert_int_equal(ll_histogram_count(s), 4);
  free(text);

  /* no labels, scale 1 */
  const uint64_t sizes[] = {1, 10};
  ll_series *b = ll_metric_with(
      ll_metrics_histogram(m, "t_batch", "Batch.", NULL, sizes, 2, 1));
  ll_histogram_observe(b, 7);
  text = expose(m);
  expect_line(text, "t_batch_bucket{le=\"1\"} 0");
  expect_line(text, "t_batch_bucket{le=\"10\"} 1");
  expect_line(text, "t_batch_sum 7");
  expect_line(text, "t_batch_count 1");
  free(text);
  ll_metrics_free(m);
}

static void test_label_values_are_escaped_and_cut(void **state) {
  (void)state;
  ll_metrics *m = ll_metrics_new();
  ll_metric *f = ll_metrics_counter(m, "t_total", "T.", "v");
  ll_counter_add(ll_metric_with(f, "a\"b\\c\nd"), 1);
  char long_value[LL_METRICS_LABEL_VALUE_MAX + 50];
  memset(long_value, 'x', sizeof long_value - 1);
  long_value[sizeof long_value - 1] = '\0';
  ll_series *s1 = ll_metric_with(f, long_value);
  long_value[LL_METRICS_LABEL_VALUE_MAX + 10] = '\0';
  /* the same first LL_METRICS_LABEL_VALUE_MAX bytes: the same series */
  assert_ptr_equal(ll_metric_with(f, long_value), s1);
  char *text = expose(m);
  expect_line(text, "t_total{v=\"a\\\"b\\\\c\\nd\"} 1");
  free(text);
  ll_metrics_free(m);
}

static void test_same_name_same_family(void **state) {
  (void)state;
  ll_metrics *m = ll_metrics_new();
  ll_metric *a = ll_metrics_counter(m, "t_total", "T.", "code");
  assert_ptr_equal(ll_metrics_counter(m, "t_total", "T.", "code"), a);
  /* another type or other labels under the same name: refused */
  assert_null(ll_metrics_gauge(m, "t_total", "T.", "code"));
  assert_null(ll_metrics_counter(m, "t_total", "T.", "route"));
  assert_ptr_equal(ll_metric_with(a, "X"), ll_metric_with(a, "X"));
  assert_ptr_not_equal(ll_metric_with(a, "X"), ll_metric_with(a, "Y"));
  ll_metrics_free(m);
}

static void test_null_is_no_metric(void **state) {
  (void)state;
  assert_null(ll_metrics_counter(NULL, "t_total", "T.", NULL));
  assert_null(ll_metric_with(NULL, "x"));
  ll_counter_add(NULL, 1);
  ll_gauge_set(NULL, 1);
  ll_histogram_observe(NULL, 1);
  ll_series_hide(NULL);
  assert_int_equal(ll_counter_value(NULL), 0);
}

static void test_series_are_bounded(void **state) {
  (void)state;
  ll_metrics *m = ll_metrics_new();
  ll_metric *f = ll_metrics_counter(m, "t_total", "T.", "id");
  char id[32];
  for (int i = 0; i < LL_METRICS_SERIES_MAX; i++) {
    snprintf(id, sizeof id, "%d", i);
    assert_non_null(ll_metric_with(f, id));
  }
  assert_null(ll_metric_with(f, "one-too-many"));
  ll_counter_add(ll_metric_with(f, "one-too-many"), 1); /* harmless */
  ll_metrics_free(m);
}

typedef struct worker_arg {
  ll_metric *family;
  int n;
} worker_arg;

static void *worker(void *arg) {
  worker_arg *w = arg;
  for (int i = 0; i < w->n; i++) {
    /* half on a shared series, half on per-iteration lookups that race
     * with creation */
    ll_counter_add(ll_metric_with(w->family, "shared"), 1);
    char id[16];
    snprintf(id, sizeof id, "s%d", i % 64);
    ll_counter_add(ll_metric_with(w->family, id), 1);
  }
  return NULL;
}

static void test_concurrent_updates_add_up(void **state) {
  (void)state;
  enum { THREADS = 4, PER_THREAD = 50000 };
  ll_metrics *m = ll_metrics_new();
  worker_arg arg = {ll_metrics_counter(m, "t_total", "T.", "id"), PER_THREAD};
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(pthread_create(&t[i], NULL, worker, &arg), 0);
  /* scrape while they run: must not crash or block them */
  for (int i = 0; i < 20; i++)
    free(expose(m));
  for (int i = 0; i < THREADS; i++)
    pthread_join(t[i], NULL);
  assert_int_equal(ll_counter_value(ll_metric_with(arg.family, "shared")),
                   THREADS * PER_THREAD);
  uint64_t total = 0;
  for (int i = 0; i < 64; i++) {
    char id[16];
    snprintf(id, sizeof id, "s%d", i);
    total += ll_counter_value(ll_metric_with(arg.family, id));
  }
  assert_int_equal(total, THREADS * PER_THREAD);
  ll_metrics_free(m);
}

typedef struct collected {
  ll_series *gauge;
  int calls;
} collected;

static void collect(void *arg) {
  collected *c = arg;
  c->calls++;
  ll_gauge_set(c->gauge, c->calls * 10);
}

static void test_collectors_run_at_each_exposition(void **state) {
  (void)state;
  ll_metrics *m = ll_metrics_new();
  collected c = {
      ll_metric_with(ll_metrics_gauge(m, "t_position", "Position.", NULL)), 0};
  assert_int_equal(ll_metrics_add_collector(m, collect, &c), 0);
  char *text = expose(m);
  expect_line(text, "t_position 10");
  free(text);
  text = expose(m);
  expect_line(text, "t_position 20");
  free(text);
  ll_metrics_remove_collector(m, collect, &c);
  text = expose(m);
  expect_line(text, "t_position 20");
  free(text);
  assert_int_equal(c.calls, 2);
  ll_metrics_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_counter_and_gauge_text),
      cmocka_unit_test(test_histogram_text),
      cmocka_unit_test(test_label_values_are_escaped_and_cut),
      cmocka_unit_test(test_same_name_same_family),
      cmocka_unit_test(test_null_is_no_metric),
      cmocka_unit_test(test_series_are_bounded),
      cmocka_unit_test(test_concurrent_updates_add_up),
      cmocka_unit_test(test_collectors_run_at_each_exposition),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
