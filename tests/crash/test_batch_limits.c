/* test_batch_limits.c — the command consumer's durable batch is bounded by
 * count (batch.max.events) and closes as soon as the consumer runs dry
 * (group commit: batch.max.ms only bounds a batch while messages keep
 * coming); bad values are refused before anything starts.
 *
 * The batches are observed in the service's debug log ("batch of N
 * message(s) synced"): with a backlog and batch.max.events=7 every batch
 * holds at most 7 messages; with a slow stream and batch.max.ms=10000 the
 * batches stay small, each message synced without waiting for the timer.
 * Each run is then checked like the crash test (crash_check.h): small
 * batches change nothing in what is stored. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "crash_rig.h"
#include "ll_types.h"

#define EXIT_USAGE 2
#define USAGE_TIMEOUT_MS 10000
#define ASSIGN_TIMEOUT_MS 60000
#define PRODUCER_TIMEOUT_MS 120000
#define CONSUME_TIMEOUT_MS 120000
#define STOP_TIMEOUT_MS 5000
#define PRODUCTS 16

static rig r;

static int teardown(void **state) {
  (void)state;
  if (r.dir)
    rig_finish(&r, false);
  return 0;
}

/* ---- bad values ---- */

/* The exit status of a process that should exit by itself; -1 (and it is
 * killed) if it does not within timeout_ms. */
static int wait_exit(h_proc *p, int timeout_ms) {
  for (int waited = 0; waited < timeout_ms; waited += 20) {
    int status;
    if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
      p->pid = 0;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
  }
  h_kill9(p);
  return -1;
}

typedef struct bad_value {
  const char *setting;
  const char *message;
} bad_value;

static void test_bad_values_are_usage_errors(void **state) {
  (void)state;
  static const bad_value cases[] = {
      {"batch.max.events=0",
       "'batch.max.events': '0' is not an integer from 1 to 100000"},
      {"batch.max.events=100001",
       "'batch.max.events': '100001' is not an integer from 1 to 100000"},
      {"batch.max.ms=-1",
       "'batch.max.ms': '-1' is not an integer from 0 to 10000"},
      {"batch.max.ms=10001",
       "'batch.max.ms': '10001' is not an integer from 0 to 10000"},
      {"batch.max.ms=soon",
       "'batch.max.ms': 'soon' is not an integer from 0 to 10000"},
      {"storage.min.free.mb=-5",
       "'storage.min.free.mb': '-5' is not an integer from 0 to"},
  };
  char *dir = h_tempdir("batchlimits");
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    for (int mode = 0; mode < 2; mode++) {
      char bin[512], log[600], data[600], path[700];
      snprintf(log, sizeof log, "%s/run-%zu-%d.log", dir, i, mode);
      snprintf(data, sizeof data, "%s/data", dir);
      const char *argv[] = {h_bin("lotlined", bin, sizeof bin),
                            mode ? "all" : "command",
                            "--data",
                            data,
                            "--brokers",
                            "127.0.0.1:1",
                            "--http",
                            "127.0.0.1:0",
                            "--set",
                            cases[i].setting,
                            NULL};
      h_proc p = h_spawn_tied(log, argv);
      int status = wait_exit(&p, USAGE_TIMEOUT_MS);
      if (status != EXIT_USAGE || !rig_file_contains(log, cases[i].message)) {
        h_dump_log(&p);
        fail_msg("%s: want exit %d and '%s', got %d", cases[i].setting,
                 EXIT_USAGE, cases[i].message, status);
      }
      /* Refused before anything started: no log store was created. */
      struct stat st;
      snprintf(path, sizeof path, "%s/log", data);
      assert_int_not_equal(stat(path, &st), 0);
    }
  }
  h_rmrf(dir);
  free(dir);
}

/* ---- the bounds at work ---- */

typedef struct batch_sizes {
  long count, max, at_max;
} batch_sizes;

static batch_sizes read_batch_sizes(long bound) {
  batch_sizes b = {0};
  FILE *f = fopen(r.svc.log_path, "r");
  assert_non_null(f);
  char line[4096];
  while (fgets(line, sizeof line, f)) {
    const char *p = strstr(line, "command: batch of ");
    long n;
    if (!p || sscanf(p, "command: batch of %ld message", &n) != 1)
      continue;
    b.count++;
    if (n > b.max)
      b.max = n;
    b.at_max += n == bound;
  }
  fclose(f);
  return b;
}

/* Consume the whole stream, stop, check everything; the batch sizes. */
static batch_sizes finish(cc_expect *x, long bound) {
  assert_int_equal(rig_wait_producer(&r, PRODUCER_TIMEOUT_MS), 0);
  ll_err e;
  if (cc_expect_load(r.expect_path, x, &e) != 0)
    fail_msg("expectations: %s: %s", ll_err_kind_name(e.kind), e.message);
  if (!rig_wait_consumed(&r, x, CONSUME_TIMEOUT_MS)) {
    h_dump_log(&r.svc);
    fail_msg("the stream was not consumed");
  }
  assert_int_equal(h_stop(&r.svc, STOP_TIMEOUT_MS), 0);
  assert_int_equal(rig_verify(&r, x, false), 0);
  return read_batch_sizes(bound);
}

static void test_count_bound(void **state) {
  (void)state;
  enum { EVENTS = 3000, BOUND = 7 };
  rig_start(&r, "batchcount");
  /* A backlog first, so that batches fill up to the count bound. */
  rig_start_producer(&r, (uint64_t)time(NULL), EVENTS, PRODUCTS, 0);
  assert_int_equal(rig_wait_producer(&r, PRODUCER_TIMEOUT_MS), 0);
  const char *extra[] = {
      "--log-level",        "debug", "--set", "batch.max.events=7", "--set",
      "batch.max.ms=10000", NULL};
  rig_start_service_with(&r, "command", extra);
  cc_expect x;
  batch_sizes b = finish(&x, BOUND);
  printf("count bound %d: %ld batches, largest %ld, %ld full\n", BOUND, b.count,
         b.max, b.at_max);
  assert_int_equal(b.max, BOUND);
  assert_true(b.count >= EVENTS / BOUND);
  assert_true(b.at_max >= b.count * 9 / 10); /* the backlog fills them */
  cc_expect_free(&x);
  rig_finish(&r, true);
}

static void test_lone_events_do_not_wait_for_the_timer(void **state) {
  (void)state;
  /* A trickle, one message every 1000 / RATE ms, under a time bound of
   * 10 s and a count bound far away: a batch that waited for either would
   * hold the whole stream. Group commit syncs each message as soon as the
   * consumer has nothing more ready, so the batches hold one message, a
   * few when a sync is slow. The margins allow for a slow machine (a
   * sanitizer build beside other tests stalled once for about a second:
   * 42 messages): a batch held by the timer would gather the 10 s, 400
   * messages; most batches must hold one. */
  enum { EVENTS = 200, RATE = 40 };
  enum { LARGEST_ALLOWED = 120, FEWEST_BATCHES = 20 };
  rig_start(&r, "batchlone");
  const char *extra[] = {"--log-level", "debug",
                         "--set",       "batch.max.events=100000",
                         "--set",       "batch.max.ms=10000",
                         NULL};
  rig_start_service_with(&r, "command", extra);
  if (!rig_wait_assigned(&r, ASSIGN_TIMEOUT_MS)) {
    h_dump_log(&r.svc);
    fail_msg("no partitions assigned");
  }
  rig_start_producer(&r, (uint64_t)time(NULL), EVENTS, PRODUCTS, RATE);
  cc_expect x;
  batch_sizes b = finish(&x, 1);
  printf("a trickle at %d messages/s under batch.max.ms=10000: %ld batches, "
         "largest %ld, %ld of one message\n",
         RATE, b.count, b.max, b.at_max);
  assert_true(b.count >= FEWEST_BATCHES);
  assert_true(b.max <= LARGEST_ALLOWED);
  assert_true(b.at_max * 2 >= b.count); /* most hold one message */
  cc_expect_free(&x);
  rig_finish(&r, true);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_values_are_usage_errors),
      cmocka_unit_test_teardown(test_count_bound, teardown),
      cmocka_unit_test_teardown(test_lone_events_do_not_wait_for_the_timer,
                                teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
