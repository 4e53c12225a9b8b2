/* test_outbox_sender.c — the sender of the rejections outbox
 * (services/command/rejection_outbox.c) against an embedded broker: what
 * it sends is acknowledged and leaves the store, and the lowest record
 * Kafka has not acknowledged (what gates the group's offset commits) is
 * always the lowest one the store holds: after acknowledgements, and when
 * a promotion brings back records older than any it saw. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "harness.h"
#include "ll_config.h"
#include "ll_kafka.h"
#include "ll_store.h"
#include "log_fixture.h"
#include "rejection_outbox.h"

#define ACK_WAIT_MS 20000
#define TOPIC "lots.rejected"

typedef struct rig {
  log_fixture *f;
  ll_broker *broker;
  ll_producer *producer;
  ll_store *store;
  ll_outbox *outbox;
  ll_config cfg;
} rig;

/* One batch rejecting offsets [first, first + n) of partition 0; each
 * record goes to the outbox, or is parked (a standby's) when park. */
static void reject_batch(ll_store *s, int first, int n, bool park) {
  ll_store_batch *b = ll_store_batch_begin(s);
  for (int i = first; i < first + n; i++) {
    uint64_t seq = log_reject_malformed(b, 0, i);
    char value[32];
    snprintf(value, sizeof value, "value-%d", i);
    if (park)
      ll_store_batch_park(b, 0, i, seq, "k", 1, true, value, strlen(value));
    else
      ll_store_batch_outbox(b, seq, "k", 1, true, value, strlen(value));
  }
  ll_err e = {0};
  if (ll_store_batch_commit(b, true, &e) != 0)
    fail_msg("commit: %s", e.message);
}

static uint64_t lowest(rig *r) {
  ll_err e = {0};
  uint64_t seq = 0;
  if (ll_outbox_lowest_unacked(r->outbox, &seq, &e) != 0)
    fail_msg("lowest unacknowledged: %s", e.message);
  return seq;
}

static void pump(rig *r) {
  ll_err e = {0};
  if (ll_outbox_pump(r->outbox, &e) != 0)
    fail_msg("pump: %s", e.message);
}

/* Pump until Kafka acknowledged everything and the store holds nothing. */
static void pump_until_empty(rig *r) {
  for (int waited = 0; waited < ACK_WAIT_MS; waited += 5) {
    pump(r);
    if (ll_outbox_unpublished(r->outbox) == 0) {
      uint64_t n = 0;
      ll_err e = {0};
      if (ll_store_outbox_count(r->store, &n, &e) != 0)
        fail_msg("count: %s", e.message);
      assert_int_equal(n, 0);
      return;
    }
    nanosleep(&(struct timespec){0, 5000000L}, NULL);
  }
  fail_msg("%llu rejections still unacknowledged after %d ms",
           (unsigned long long)ll_outbox_unpublished(r->outbox), ACK_WAIT_MS);
}

static int setup(void **state) {
  if (log_fixture_setup(state) != 0)
    return -1;
  rig *r = calloc(1, sizeof *r);
  r->f = *state;
  const ll_topics topics = {.inbound = "lots.inbound",
                            .events = "lots.events",
                            .rejected = TOPIC,
                            .quantities = "lots.quantities",
                            .members = "lots.members",
                            .alerts = "lots.alerts",
                            .changelog = "lots.changelog"};
  ll_err e = {0};
  r->broker = ll_broker_start(&topics, 1, 4, &e);
  if (!r->broker)
    fail_msg("broker: %s", e.message);
  ll_config_init(&r->cfg);
  r->producer =
      ll_producer_new(&r->cfg, ll_broker_bootstraps(r->broker), 0, &e);
  if (!r->producer)
    fail_msg("producer: %s", e.message);
  r->store = log_open_ok(r->f->dir, LL_STORE_PRIMARY);
  r->outbox = ll_outbox_new(r->store, r->producer, TOPIC, NULL, &e);
  if (!r->outbox)
    fail_msg("outbox: %s", e.message);
  *state = r;
  return 0;
}

static int teardown(void **state) {
  rig *r = *state;
  ll_producer_free(r->producer);
  ll_outbox_free(r->outbox);
  ll_store_close(r->store);
  ll_broker_stop(r->broker);
  ll_config_free(&r->cfg);
  void *f = r->f;
  free(r);
  return log_fixture_teardown(&f);
}

/* Records sent and acknowledged leave the store; the lowest unacknowledged
 * one is then the next committed, not one already gone. */
static void test_lowest_follows_acknowledgements(void **state) {
  rig *r = *state;
  assert_int_equal(lowest(r), UINT64_MAX); /* nothing held */
  reject_batch(r->store, 0, 300, false);   /* sequences 1..300 */
  ll_outbox_committed(r->outbox, 300);
  assert_int_equal(lowest(r), 1);
  pump_until_empty(r);
  assert_int_equal(lowest(r), UINT64_MAX);
  reject_batch(r->store, 300, 2, false); /* 301, 302 */
  ll_outbox_committed(r->outbox, 2);
  assert_int_equal(lowest(r), 301);
  pump_until_empty(r);
  assert_int_equal(lowest(r), UINT64_MAX);
}

/* A promoted standby's parked records join the outbox under their own,
 * older sequences: the lowest unacknowledged record is theirs, though the
 * outbox had already seen newer ones. */
static void test_lowest_sees_requeued_older_records(void **state) {
  rig *r = *state;
  reject_batch(r->store, 0, 3, true);  /* parked: 1..3 */
  reject_batch(r->store, 3, 4, false); /* outbox: 4..7 */
  ll_outbox_committed(r->outbox, 4);
  assert_int_equal(lowest(r), 4);
  pump_until_empty(r);
  reject_batch(r->store, 7, 2, false); /* 8, 9 */
  ll_outbox_committed(r->outbox, 2);
  assert_int_equal(lowest(r), 8);

  uint64_t *seqs = NULL;
  size_t n = 0;
  ll_err e = {0};
  if (ll_store_parked_release(r->store, 0, &seqs, &n, &e) != 0)
    fail_msg("release: %s", e.message);
  assert_int_equal(n, 3);
  ll_outbox_requeue(r->outbox, seqs, n);
  free(seqs);
  assert_int_equal(lowest(r), 1);
  pump_until_empty(r);
  assert_int_equal(lowest(r), UINT64_MAX);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_lowest_follows_acknowledgements,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_lowest_sees_requeued_older_records,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
