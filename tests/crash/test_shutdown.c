/* test_shutdown.c — SIGTERM under a steady stream: the service stops
 * fetching, finishes and syncs the batch in flight, closes its consumer and
 * producers and exits 0 within 5 s; what it leaves is consistent.
 *
 * `lotlined all` is stopped and restarted several times while crash_producer
 * streams. After each stop the rig records what is durable (last log
 * position, last rejection, the stored offsets); at the end, with the whole
 * stream consumed, every such snapshot must match the log exactly (the
 * offsets stored are what was consumed: nothing past them is in the log,
 * nothing before them is missing) and the final state must match the
 * producer's reference model (crash_check.h). Every stop must have come
 * mid-stream: the run had appended, and input remained for the next. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "crash_rig.h"
#include "ll_time.h"
#include "ll_types.h"

#define STOPS 6
#define EVENTS 40000
#define PRODUCTS 64
/* Messages/s: the stream (50 s) outlasts the stops (6 runs of about 5 s,
 * more under ASan), so that every stop leaves input for the next run. */
#define RATE 800
#define ASSIGN_TIMEOUT_MS 60000
#define STOP_DELAY_MIN_MS 200 /* after the run's first append: busy */
#define STOP_DELAY_SPAN_MS 1500
#define STOP_TIMEOUT_MS 5000 /* docs/durability.md: exit 0 within 5 s */
#define PRODUCER_TIMEOUT_MS 300000
#define CONSUME_TIMEOUT_MS 300000

static rig r;

static int teardown(void **state) {
  (void)state;
  if (r.dir)
    rig_finish(&r, false);
  return 0;
}

static void sleep_ms(long long ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* SIGTERM; the exit status, and how long the exit took. */
static int stop_service(double *seconds) {
  uint64_t t0 = ll_mono_ns();
  int status = h_stop(&r.svc, STOP_TIMEOUT_MS);
  *seconds = (double)(ll_mono_ns() - t0) / 1e9;
  if (status != 0) {
    h_dump_log(&r.svc);
    fail_msg("run %d: SIGTERM gave exit status %d after %.2f s (want 0 "
             "within %d ms)",
             r.runs, status, *seconds, STOP_TIMEOUT_MS);
  }
  return status;
}

static void test_sigterm_under_load(void **state) {
  (void)state;
  uint64_t seed = (uint64_t)time(NULL);
  uint64_t rng = seed;
  printf("shutdown: seed %llu\n", (unsigned long long)seed);
  rig_start(&r, "shutdown");
  rig_start_producer(&r, seed, EVENTS, PRODUCTS, RATE);
  int stops = 0;
  double slowest_s = 0;
  while (stops < STOPS) {
    rig_start_service(&r, "all");
    if (!rig_wait_assigned(&r, ASSIGN_TIMEOUT_MS)) {
      h_dump_log(&r.svc);
      fail_msg("run %d: no partitions assigned", r.runs);
    }
    uint64_t run_start = rig_run_start(&r, r.n_snaps);
    if (!rig_wait_log_past(&r, run_start, ASSIGN_TIMEOUT_MS)) {
      h_dump_log(&r.svc);
      fail_msg("run %d: the log stayed at %llu", r.runs,
               (unsigned long long)run_start);
    }
    sleep_ms(STOP_DELAY_MIN_MS +
             (long long)(rig_rand(&rng) % STOP_DELAY_SPAN_MS));
    bool streaming = rig_producer_running(&r);
    double seconds;
    stop_service(&seconds);
    assert_true(rig_log_contains(&r, "command: closing consumer"));
    if (seconds > slowest_s)
      slowest_s = seconds;
    stops++;
    rig_snapshot(&r);
    printf("stop %d (%s): exit 0 in %.2f s; log at %llu, %llu rejections\n",
           stops, streaming ? "while streaming" : "stream ended", seconds,
           (unsigned long long)r.snaps[r.n_snaps - 1].last_position,
           (unsigned long long)r.snaps[r.n_snaps - 1].last_rejection);
    fflush(stdout);
  }
  assert_int_equal(rig_wait_producer(&r, PRODUCER_TIMEOUT_MS), 0);

  cc_expect x;
  ll_err e;
  if (cc_expect_load(r.expect_path, &x, &e) != 0)
    fail_msg("expectations: %s: %s", ll_err_kind_name(e.kind), e.message);
  assert_int_equal(r.n_snaps, STOPS);
  for (size_t i = 0; i < r.n_snaps; i++) {
    char why[256];
    if (!rig_mid_stream(&r, i, &x, why, sizeof why))
      fail_msg("stop %zu was not mid-stream: %s", i + 1, why);
  }
  rig_start_service(&r, "all");
  if (!rig_wait_consumed(&r, &x, CONSUME_TIMEOUT_MS) ||
      !rig_wait_views(&r, (uint64_t)x.accepted, CONSUME_TIMEOUT_MS)) {
    h_dump_log(&r.svc);
    fail_msg("the stream was not consumed to its end");
  }
  double seconds;
  stop_service(&seconds);
  int bad = rig_verify(&r, &x, true);
  printf("shutdown: %d stops under load, slowest %.2f s; %lld messages, %d "
         "mismatches, %.1f s in all\n",
         stops, slowest_s, (long long)x.messages, bad, rig_elapsed_s(&r));
  cc_expect_free(&x);
  rig_finish(&r, bad == 0);
  assert_int_equal(bad, 0);
}

/* The broker dies under load, then SIGTERM: librdkafka cannot leave the
 * group nor deliver the last rejections, and the service must still exit
 * 0 within 5 s with what it consumed durable and consistent. The broker
 * dies once the service is working through the backlog, which must not be
 * through when it stops. */
static void test_sigterm_with_kafka_gone(void **state) {
  (void)state;
  enum { GONE_EVENTS = 60000, BUSY_ENTRIES = 1000 };
  uint64_t seed = (uint64_t)time(NULL);
  rig_start(&r, "kafkagone");
  rig_start_producer(&r, seed, GONE_EVENTS, PRODUCTS, 0);
  assert_int_equal(rig_wait_producer(&r, PRODUCER_TIMEOUT_MS), 0);
  cc_expect x;
  ll_err e;
  if (cc_expect_load(r.expect_path, &x, &e) != 0)
    fail_msg("expectations: %s: %s", ll_err_kind_name(e.kind), e.message);
  rig_start_service(&r, "all");
  if (!rig_wait_assigned(&r, ASSIGN_TIMEOUT_MS)) {
    h_dump_log(&r.svc);
    fail_msg("no partitions assigned");
  }
  if (!rig_wait_log_past(&r, BUSY_ENTRIES, CONSUME_TIMEOUT_MS)) {
    h_dump_log(&r.svc);
    fail_msg("the log never got past %d entries", BUSY_ENTRIES);
  }
  h_kill9(&r.broker);
  double seconds;
  stop_service(&seconds);
  rig_snapshot(&r);
  printf("Kafka gone: exit 0 in %.2f s; log at %llu of %lld accepted\n",
         seconds, (unsigned long long)r.snaps[0].last_position,
         (long long)x.accepted);
  char why[256];
  if (!rig_mid_stream(&r, 0, &x, why, sizeof why))
    fail_msg("the stop was not mid-stream: %s", why);
  int bad = rig_verify_prefix(&r, &x);
  cc_expect_free(&x);
  rig_finish(&r, bad == 0);
  assert_int_equal(bad, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_sigterm_under_load, teardown),
      cmocka_unit_test_teardown(test_sigterm_with_kafka_gone, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
