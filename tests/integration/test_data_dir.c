/* test_data_dir.c — one process per role on a data directory
 * (services/lotlined/data_lock.h, docs/operations.md).
 *
 * A `lotlined all` runs on a directory; a second `all`, a `command`, a
 * `project` and a `broker` on the same directory must each exit 2 at once,
 * naming the process that holds the role, and leave broker.addr and the
 * running service untouched. `command` and `project` share a directory
 * (test_end_to_end covers it). After a kill -9 of the holder the locks are
 * gone with it: a new `all` starts on the directory. A log that belongs to
 * one consumer group is refused to another (exit 2), and so are a
 * partition count of the input other than the log was written under and a
 * lots.events with another partition count than lots.inbound, and a
 * partition of the input whose first events retention deleted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "harness.h"

#define START_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS 10000
#define REFUSAL_TIMEOUT_MS 5000 /* a refusal comes before anything starts */
/* Refusals that need Kafka's answer (topics, partition counts) come after
 * the embedded broker started and the consumer connected. */
#define KAFKA_REFUSAL_TIMEOUT_MS 20000
#define POLL_SLEEP_NS (20 * 1000 * 1000)

static char *read_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return NULL;
  char *buf = calloc(1, 4096);
  size_t n = fread(buf, 1, 4095, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

/* Run lotlined MODE on dir with the extra arguments (NULL-terminated, may
 * be NULL) and wait for it to end by itself; returns its exit status, or
 * -1 if it was still running after the timeout (then it is killed: it
 * started instead of refusing). */
static int run_to_exit_argv(const char *dir, const char *mode, const char *log,
                            const char *const *extra, int timeout_ms) {
  char bin[512];
  const char *argv[16] = {h_bin("lotlined", bin, sizeof bin),
                          mode,
                          "--data",
                          dir,
                          "--http",
                          "127.0.0.1:0"};
  size_t n = 6;
  for (size_t i = 0; extra && extra[i]; i++) {
    assert_true(n < 15);
    argv[n++] = extra[i];
  }
  const char *argv_broker[] = {argv[0], mode, "--data", dir, NULL};
  h_proc p = h_spawn(log, strcmp(mode, "broker") == 0 ? argv_broker : argv);
  struct timespec pause = {0, POLL_SLEEP_NS};
  for (int waited_ms = 0; waited_ms < timeout_ms; waited_ms += 20) {
    int status;
    if (waitpid(p.pid, &status, WNOHANG) == p.pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    nanosleep(&pause, NULL);
  }
  h_kill9(&p);
  return -1;
}

static int run_to_exit_with(const char *dir, const char *mode, const char *log,
                            const char *set) {
  const char *extra[] = {"--set", set, NULL};
  return run_to_exit_argv(dir, mode, log, set ? extra : NULL,
                          REFUSAL_TIMEOUT_MS);
}

static int run_to_exit(const char *dir, const char *mode, const char *log) {
  return run_to_exit_with(dir, mode, log, NULL);
}

static h_proc start_all(const char *dir, const char *log) {
  h_all a = h_start_all(dir, log, NULL, START_TIMEOUT_MS);
  free(a.brokers);
  free(a.http);
  return a.proc;
}

static void test_second_owner_is_refused(void **state) {
  (void)state;
  char *dir = h_tempdir("datadir");
  char log[600], pid[32];
  snprintf(log, sizeof log, "%s/first.log", dir);
  h_proc first = start_all(dir, log);
  snprintf(pid, sizeof pid, "pid %ld", (long)first.pid);
  char addr_path[600];
  snprintf(addr_path, sizeof addr_path, "%s/broker.addr", dir);
  char *broker_addr = read_file(addr_path);
  assert_non_null(broker_addr);

  static const char *const modes[] = {"all", "command", "project", "broker"};
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    char second_log[600];
    snprintf(second_log, sizeof second_log, "%s/second-%s.log", dir, modes[i]);
    int rc = run_to_exit(dir, modes[i], second_log);
    char *said = read_file(second_log);
    if (rc != 2 || !said || !strstr(said, "is in use") || !strstr(said, pid))
      fail_msg("a second '%s' on the directory: exit %d, said: %s", modes[i],
               rc, said ? said : "(nothing)");
    free(said);
    char *now = read_file(addr_path);
    assert_non_null(now);
    assert_string_equal(now, broker_addr); /* not overwritten */
    free(now);
  }
  /* The first one was not disturbed: it still stops cleanly. */
  assert_int_equal(h_stop(&first, STOP_TIMEOUT_MS), 0);
  free(broker_addr);
  h_rmrf(dir);
  free(dir);
}

static void test_kill9_leaves_no_stale_lock(void **state) {
  (void)state;
  char *dir = h_tempdir("datadir");
  char log[600];
  snprintf(log, sizeof log, "%s/first.log", dir);
  h_proc first = start_all(dir, log);
  h_kill9(&first);
  /* (h_start_all removes the dead one's http.addr first.) */
  snprintf(log, sizeof log, "%s/again.log", dir);
  h_proc again = start_all(dir, log);
  assert_int_equal(h_stop(&again, STOP_TIMEOUT_MS), 0);
  h_rmrf(dir);
  free(dir);
}

static void test_log_of_another_group_is_refused(void **state) {
  (void)state;
  char *dir = h_tempdir("datadir");
  char log[600];
  snprintf(log, sizeof log, "%s/first.log", dir);
  h_proc first = start_all(dir, log); /* group.id = lotline, the default */
  assert_int_equal(h_stop(&first, STOP_TIMEOUT_MS), 0);
  snprintf(log, sizeof log, "%s/other.log", dir);
  int rc = run_to_exit_with(dir, "all", log, "group.id=other-group");
  char *said = read_file(log);
  if (rc != 2 || !said ||
      !strstr(said, "belongs to consumer group 'lotline', not 'other-group'"))
    fail_msg("another group on the log: exit %d, said: %s", rc,
             said ? said : "(nothing)");
  free(said);
  snprintf(log, sizeof log, "%s/again.log", dir);
  h_proc again = start_all(dir, log); /* its own group: it starts */
  assert_int_equal(h_stop(&again, STOP_TIMEOUT_MS), 0);
  h_rmrf(dir);
  free(dir);
}

/* Until the service on dir answers /readyz 200: its consumer holds
 * partitions, so it has checked the topics and bound the log to them. */
static void wait_ready(const char *dir) {
  char *http = h_wait_file(dir, "http.addr", START_TIMEOUT_MS);
  assert_non_null(http);
  struct timespec pause = {0, POLL_SLEEP_NS};
  int status = -1;
  for (int waited_ms = 0; waited_ms < START_TIMEOUT_MS && status != 200;
       waited_ms += 20) {
    status = h_http("GET", http, "/readyz", NULL, NULL, NULL);
    if (status != 200)
      nanosleep(&pause, NULL);
  }
  free(http);
  assert_int_equal(status, 200);
}

/* Products are spread over partitions by the count: a log written under
 * 16 partitions is refused under 8. */
static void test_other_partition_count_is_refused(void **state) {
  (void)state;
  char *dir = h_tempdir("datadir");
  char log[600];
  snprintf(log, sizeof log, "%s/first.log", dir);
  h_proc first = start_all(dir, log); /* broker.partitions = 16, the default */
  wait_ready(dir);
  assert_int_equal(h_stop(&first, STOP_TIMEOUT_MS), 0);
  snprintf(log, sizeof log, "%s/fewer.log", dir);
  const char *extra[] = {"--set", "broker.partitions=8", NULL};
  int rc = run_to_exit_argv(dir, "all", log, extra, KAFKA_REFUSAL_TIMEOUT_MS);
  char *said = read_file(log);
  if (rc != 2 || !said || !strstr(said, "written from 16 partitions") ||
      !strstr(said, "lots.inbound now has 8"))
    fail_msg("8 partitions on a log of 16: exit %d, said: %s", rc,
             said ? said : "(nothing)");
  free(said);
  h_rmrf(dir);
  free(dir);
}

/* A broker of the test's own whose lots.events has fewer partitions than
 * lots.inbound: the command consumer refuses to start (exit 2). */
static void test_events_not_copartitioned_is_refused(void **state) {
  (void)state;
  char errstr[256];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  assert_non_null(rk);
  rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
  assert_non_null(mc);
  assert_int_equal(rd_kafka_mock_topic_create(mc, "lots.inbound", 8, 1), 0);
  assert_int_equal(rd_kafka_mock_topic_create(mc, "lots.events", 4, 1), 0);
  assert_int_equal(rd_kafka_mock_topic_create(mc, "lots.rejected", 4, 1), 0);
  assert_int_equal(rd_kafka_mock_topic_create(mc, "lots.quantities", 4, 1), 0);
  char *dir = h_tempdir("datadir");
  char log[600];
  snprintf(log, sizeof log, "%s/mismatch.log", dir);
  const char *extra[] = {"--brokers", rd_kafka_mock_cluster_bootstraps(mc),
                         NULL};
  int rc = run_to_exit_argv(dir, "all", log, extra, KAFKA_REFUSAL_TIMEOUT_MS);
  char *said = read_file(log);
  if (rc != 2 || !said ||
      !strstr(said, "lots.inbound (8 partitions) and lots.events (4 "
                    "partitions) must have the same partition count"))
    fail_msg("lots.events of 4 partitions for 8: exit %d, said: %s", rc,
             said ? said : "(nothing)");
  free(said);
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  h_rmrf(dir);
  free(dir);
}

/* 8 records of 800 KB on partition 0: past the embedded broker's 5 MB per
 * partition, so it drops the oldest and the partition no longer starts at
 * offset 0, as retention would leave it. */
static void fill_past_retention(rd_kafka_t *rk) {
  enum { RECORDS = 8, RECORD_BYTES = 800 * 1000 };
  char *value = calloc(1, RECORD_BYTES);
  for (int i = 0; i < RECORDS; i++)
    assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("lots.inbound"),
                                       RD_KAFKA_V_PARTITION(0),
                                       RD_KAFKA_V_VALUE(value, RECORD_BYTES),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                       RD_KAFKA_V_END),
                     0);
  assert_int_equal(rd_kafka_flush(rk, 30000), 0);
  free(value);
  int64_t lo = -1, hi = -1;
  assert_int_equal(
      rd_kafka_query_watermark_offsets(rk, "lots.inbound", 0, &lo, &hi, 10000),
      0);
  assert_true(lo > 0); /* the broker did drop the first records */
}

/* A partition whose first events are gone cannot be decided from the
 * start: a fresh data directory refuses it (exit 2) unless
 * input.allow_truncated says to decide from the oldest event left. */
static void test_truncated_input_is_refused(void **state) {
  (void)state;
  char errstr[256];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
  rd_kafka_conf_set(conf, "message.max.bytes", "1000000", errstr,
                    sizeof errstr);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  assert_non_null(rk);
  rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
  assert_non_null(mc);
  static const char *const names[] = {"lots.inbound", "lots.events",
                                      "lots.rejected", "lots.quantities",
                                      "lots.changelog"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    assert_int_equal(rd_kafka_mock_topic_create(mc, names[i], 4, 1), 0);
  rd_kafka_conf_t *pconf = rd_kafka_conf_new();
  rd_kafka_conf_set(pconf, "bootstrap.servers",
                    rd_kafka_mock_cluster_bootstraps(mc), errstr,
                    sizeof errstr);
  rd_kafka_t *producer =
      rd_kafka_new(RD_KAFKA_PRODUCER, pconf, errstr, sizeof errstr);
  assert_non_null(producer);
  fill_past_retention(producer);
  rd_kafka_destroy(producer);

  char *dir = h_tempdir("datadir");
  char log[600];
  snprintf(log, sizeof log, "%s/truncated.log", dir);
  const char *extra[] = {"--brokers", rd_kafka_mock_cluster_bootstraps(mc),
                         NULL};
  int rc = run_to_exit_argv(dir, "all", log, extra, KAFKA_REFUSAL_TIMEOUT_MS);
  char *said = read_file(log);
  /* No changelog to restore from: the input must be decided again, and it
   * lost its beginning (docs/operations.md, "Partition counts"). */
  if (rc != 2 || !said || !strstr(said, "lots.inbound/0 cannot be restored") ||
      !strstr(said, "the input begins at offset") ||
      !strstr(said, "input.allow_truncated"))
    fail_msg("a truncated partition: exit %d, said: %s", rc,
             said ? said : "(nothing)");
  free(said);
  /* Allowed: it starts (and is still running when the wait ends). */
  snprintf(log, sizeof log, "%s/allowed.log", dir);
  const char *allowed[] = {"--brokers", rd_kafka_mock_cluster_bootstraps(mc),
                           "--set", "input.allow_truncated=true", NULL};
  assert_int_equal(run_to_exit_argv(dir, "all", log, allowed, 8000), -1);
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  h_rmrf(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_log_of_another_group_is_refused),
      cmocka_unit_test(test_other_partition_count_is_refused),
      cmocka_unit_test(test_events_not_copartitioned_is_refused),
      cmocka_unit_test(test_truncated_input_is_refused),
      cmocka_unit_test(test_second_owner_is_refused),
      cmocka_unit_test(test_kill9_leaves_no_stale_lock),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
