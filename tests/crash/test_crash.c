/* test_crash.c — kill -9 the service at random moments under load; nothing
 * accepted may be lost or doubled, nothing rejected twice.
 *
 * The broker runs as its own process and survives; the service runs as
 * `lotlined all` (command consumer + projector + API in one process) and is
 * killed with SIGKILL at random times after it got its partitions: right
 * after the assignment (between fetch and the first write), mid-batch,
 * during projection — wherever the moment falls under a steady stream from
 * crash_producer. It is restarted after each kill. After each kill the rig
 * records what the dead service left durable. At the end the stream is
 * consumed to the last message and the service stopped with SIGTERM (exit
 * 0 within 5 s), then everything is checked (crash_check.h). At least half
 * of the kills of the command consumer must have come mid-stream (the run
 * had appended, input remained for the next): a test that killed an idle
 * service would prove nothing.
 *
 * Split (LOTLINE_CRASH_SPLIT=1): the service runs as `lotlined command` and
 * `lotlined project` (the projection following the log as a RocksDB
 * secondary in its own process); each kill takes the command consumer, the
 * projector, or both.
 *
 * Settings (environment): LOTLINE_CRASH_EVENTS (default 30000),
 * LOTLINE_CRASH_KILLS (10), LOTLINE_CRASH_SEED (default: the clock; the
 * seed is printed, and replays the same stream), LOTLINE_CRASH_RATE
 * (messages/s; default: spread the stream over the kills),
 * LOTLINE_CRASH_PRODUCTS (64), LOTLINE_CRASH_SPLIT (0). ctest runs it as
 * test_crash (the defaults, about a minute), test_crash_split (split, 20,000
 * events, 9 kills) and test_crash_long (labels crash;long: 200,000 events,
 * 15 kills). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "crash_rig.h"
#include "ll_time.h"
#include "ll_types.h"

#define ASSIGN_TIMEOUT_MS 60000
#define KILL_SOON_MAX_MS 150   /* a quarter of the kills: just assigned */
#define KILL_LATE_MAX_MS 2500  /* the others: anywhere in this window */
#define CYCLE_ESTIMATE_MS 6000 /* restart + assignment + the random wait */
#define RATE_MIN 200           /* messages/s */
#define PRODUCER_TIMEOUT_MS 600000
#define CONSUME_TIMEOUT_MS 600000
#define STOP_TIMEOUT_MS 5000

static long long env_ll(const char *name, long long fallback) {
  const char *v = getenv(name);
  return v && *v ? atoll(v) : fallback;
}

static void sleep_ms(long long ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static rig r; /* static: the teardown cleans up after a failed assertion */

/* The kills of the log's writer that came mid-stream (rig_mid_stream);
 * at least half of them must. */
static void check_kills_mid_stream(const cc_expect *x) {
  size_t mid = 0;
  for (size_t i = 0; i < r.n_snaps; i++) {
    char why[256];
    if (rig_mid_stream(&r, i, x, why, sizeof why))
      mid++;
    else
      printf("kill of the command consumer %zu was not mid-stream: %s\n", i + 1,
             why);
  }
  printf("crash: %zu of %zu kills of the command consumer mid-stream\n", mid,
         r.n_snaps);
  if (r.n_snaps == 0 || mid * 2 < r.n_snaps)
    fail_msg("%zu of %zu kills of the command consumer came mid-stream; at "
             "least half must (is the stream too short for the kills?)",
             mid, r.n_snaps);
}

static int teardown(void **state) {
  (void)state;
  if (r.dir)
    rig_finish(&r, false);
  return 0;
}

/* The run's settings, from the environment. */
typedef struct settings {
  long long events, kills_wanted, products, rate;
  bool split;
  uint64_t seed;
} settings;

static settings read_settings(void) {
  settings st = {.events = env_ll("LOTLINE_CRASH_EVENTS", 30000),
                 .kills_wanted = env_ll("LOTLINE_CRASH_KILLS", 10),
                 .products = env_ll("LOTLINE_CRASH_PRODUCTS", 64),
                 .rate = env_ll("LOTLINE_CRASH_RATE", 0),
                 .split = env_ll("LOTLINE_CRASH_SPLIT", 0) != 0,
                 .seed = (uint64_t)env_ll("LOTLINE_CRASH_SEED", 0)};
  if (st.seed == 0)
    st.seed = (uint64_t)time(NULL);
  if (st.rate == 0) {
    st.rate = st.events * 1000 / (st.kills_wanted * CYCLE_ESTIMATE_MS);
    if (st.rate < RATE_MIN)
      st.rate = RATE_MIN;
  }
  return st;
}

/* Whatever of the service is down, started again. */
static void restart_service(const settings *st) {
  if (!rig_service_running(&r))
    rig_start_service(&r, st->split ? "command" : "all");
  if (st->split && !rig_projector_running(&r))
    rig_start_projector(&r);
}

/* Kill (the command consumer, the projector or both) until the kills are
 * done and the stream has ended; the kill counts go to *kills and
 * *kills_streaming, the time spent waiting for assignments to
 * *downtime_s. */
static void kill_under_load(const settings *st, int *kills,
                            int *kills_streaming, double *downtime_s) {
  uint64_t rng = st->seed ^ 0x5DEECE66Dull;
  while (*kills < st->kills_wanted || rig_producer_running(&r)) {
    uint64_t t0 = ll_mono_ns();
    restart_service(st);
    if (!rig_wait_assigned(&r, ASSIGN_TIMEOUT_MS)) {
      h_dump_log(&r.svc);
      fail_msg("run %d: no partitions assigned", r.runs);
    }
    *downtime_s += (double)(ll_mono_ns() - t0) / 1e9;
    /* Every fourth kill comes right after the assignment (fetching, first
     * batch), the others anywhere in a wider window. */
    long long delay =
        *kills % 4 == 0
            ? (long long)(rig_rand(&rng) % KILL_SOON_MAX_MS)
            : KILL_SOON_MAX_MS + (long long)(rig_rand(&rng) % KILL_LATE_MAX_MS);
    sleep_ms(delay);
    if (!rig_service_running(&r) || (st->split && !rig_projector_running(&r))) {
      h_dump_log(&r.svc);
      if (st->split)
        h_dump_log(&r.proj);
      fail_msg("run %d: the service died by itself", r.runs);
    }
    /* Split: the command consumer, the projector, or both at once. */
    enum {
      VICTIM_COMMAND,
      VICTIM_PROJECTOR,
      VICTIM_BOTH
    } victim = st->split ? *kills % 3 : VICTIM_COMMAND;
    bool streaming = rig_producer_running(&r);
    if (victim != VICTIM_PROJECTOR)
      h_kill9(&r.svc);
    if (victim != VICTIM_COMMAND)
      h_kill9(&r.proj);
    (*kills)++;
    *kills_streaming += streaming;
    printf("kill %d (%s) at %.1f s, %lld ms after the assignment%s", *kills,
           victim == VICTIM_COMMAND     ? st->split ? "command" : "all"
           : victim == VICTIM_PROJECTOR ? "project"
                                        : "command and project",
           rig_elapsed_s(&r), delay, streaming ? "" : " (stream ended)");
    if (victim != VICTIM_PROJECTOR) {
      rig_snapshot(&r); /* the log's writer is dead: what did it leave? */
      printf(": log at %llu, %llu rejections",
             (unsigned long long)r.snaps[r.n_snaps - 1].last_position,
             (unsigned long long)r.snaps[r.n_snaps - 1].last_rejection);
    }
    printf("\n");
    fflush(stdout);
  }
}

/* The whole stream consumed, then SIGTERM: exit 0 within 5 s; the time it
 * took. */
static double consume_and_stop(const settings *st, const cc_expect *x) {
  restart_service(st);
  if (!rig_wait_consumed(&r, x, CONSUME_TIMEOUT_MS) ||
      !rig_wait_views(&r, (uint64_t)x->accepted, CONSUME_TIMEOUT_MS)) {
    h_dump_log(&r.svc);
    fail_msg("the stream was not consumed to its end");
  }
  uint64_t stop_t0 = ll_mono_ns();
  int status = h_stop(&r.svc, STOP_TIMEOUT_MS);
  double stop_s = (double)(ll_mono_ns() - stop_t0) / 1e9;
  if (status != 0)
    h_dump_log(&r.svc);
  assert_int_equal(status, 0);
  if (st->split) {
    status = h_stop(&r.proj, STOP_TIMEOUT_MS);
    if (status != 0)
      h_dump_log(&r.proj);
    assert_int_equal(status, 0);
  }
  return stop_s;
}

static void test_kill9_under_load(void **state) {
  (void)state;
  settings st = read_settings();
  printf("crash: seed %llu, %lld events over %lld products at %lld/s, %lld "
         "kills of %s\n",
         (unsigned long long)st.seed, st.events, st.products, st.rate,
         st.kills_wanted,
         st.split ? "lotlined command + lotlined project" : "lotlined all");
  fflush(stdout);

  rig_start(&r, "crash");
  rig_start_producer(&r, st.seed, st.events, (int)st.products, st.rate);
  int kills = 0, kills_streaming = 0;
  double downtime_s = 0;
  kill_under_load(&st, &kills, &kills_streaming, &downtime_s);
  assert_int_equal(rig_wait_producer(&r, PRODUCER_TIMEOUT_MS), 0);

  cc_expect x;
  ll_err e;
  if (cc_expect_load(r.expect_path, &x, &e) != 0)
    fail_msg("expectations: %s: %s", ll_err_kind_name(e.kind), e.message);
  check_kills_mid_stream(&x);
  double stop_s = consume_and_stop(&st, &x);

  int bad = rig_verify(&r, &x, true);
  printf("crash: seed %llu, %lld messages (%lld accepted, %lld rejected, %lld "
         "duplicates), %d kills (%d while streaming), %d runs, %.1f s "
         "waiting for assignments, final stop %.2f s, %d mismatches, %.1f s "
         "in all\n",
         (unsigned long long)st.seed, (long long)x.messages,
         (long long)x.accepted, (long long)x.rejected, (long long)x.duplicates,
         kills, kills_streaming, r.runs, downtime_s, stop_s, bad,
         rig_elapsed_s(&r));
  cc_expect_free(&x);
  rig_finish(&r, bad == 0);
  assert_int_equal(bad, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_kill9_under_load, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
