/* rejection_outbox.c — lots.rejected, fed from the log store's outbox.
 *
 * The command consumer writes each rejection's Kafka record into the store's
 * outbox in the batch that records the rejection (ll_store.h), so nothing
 * between the commit and Kafka's acknowledgement can lose it: not a crash,
 * not a broker outage, not a delivery error. This file sends the outbox:
 *
 *   pump (command thread, after every commit and when idle):
 *     1. delete from the store the records Kafka acknowledged since the last
 *        pump (one unsynced write: a record that comes back after a crash
 *        is sent again, never lost);
 *     2. send again the ones librdkafka gave up on, or acknowledged only
 *        by inference (see on_delivered);
 *     3. read the records after the highest sequence sent so far and send
 *        them, while fewer than LL_OUTBOX_INFLIGHT_MAX are in flight.
 *   delivery report (producer thread): the sequence goes on the acked or
 *   the failed list.
 *
 * Records are sent in sequence order, so with an idempotent producer a
 * partition of lots.rejected carries them in the order they were decided,
 * except for a record sent again after a failure. At the first pump of a
 * process everything still in the outbox is sent: records a crash left
 * between Kafka's acknowledgement and the delete come a second time, with
 * the same original topic, partition and offset (docs/streams.md).
 *
 * Memory is bounded: at most LL_OUTBOX_INFLIGHT_MAX sequences in flight;
 * the rest waits in the store. Records a standby parked (ll_store_parked.c)
 * join the outbox when it is promoted (ll_outbox_requeue); they may be
 * sequenced before records already sent, so those are sent like records
 * librdkafka gave up on, by their sequence.
 *
 * Metric: lotline_rejections_unpublished (gauge) — records in the outbox
 * that Kafka has not acknowledged yet. */
#include "rejection_outbox.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "ll_logging.h"
#include "ll_mem.h"
#include "ll_time.h"
#include "ll_types.h"

#define OUTBOX_DRAIN_PAUSE_MS 5 /* between pumps while draining */

typedef struct seq_list {
  uint64_t *v;
  size_t n, cap;
} seq_list;

struct ll_outbox {
  ll_store *store;
  ll_producer *producer;
  const char *topic;
  ll_series *unpublished_gauge;
  uint64_t sent_through; /* highest sequence sent (command thread) */
  _Atomic uint64_t held; /* records in the store's outbox */
  _Atomic uint64_t inflight;
  /* No record below this sequence is in the store's outbox (command
   * thread): the lowest one found last, or lower where a requeue brought
   * older ones. A seek from 0 would walk the tombstones of every record
   * deleted since the last compaction, thousands after a burst of
   * rejections. */
  uint64_t floor;
  pthread_mutex_t mu; /* guards acked and failed */
  seq_list acked, failed;
  seq_list scratch; /* the pump's own copy */
  bool warned_refused;
};

static void seq_push(seq_list *l, uint64_t s) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 256;
    l->v = ll_xrealloc(l->v, l->cap * sizeof *l->v);
  }
  l->v[l->n++] = s;
}

static void update_gauge(ll_outbox *o) {
  ll_gauge_set(o->unpublished_gauge, (int64_t)atomic_load(&o->held));
}

/* An acknowledgement librdkafka only inferred (ll_delivery_report) is
 * not trusted: the embedded broker can have lost such a record, so it is
 * sent again, a byte-identical repeat where Kafka did have it
 * (docs/streams.md). */
static void on_delivered(void *arg, const ll_delivery_report *d) {
  ll_outbox *o = arg;
  pthread_mutex_lock(&o->mu);
  seq_push(d->err || d->inferred ? &o->failed : &o->acked, d->tag);
  pthread_mutex_unlock(&o->mu);
  bool purged = d->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
                d->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT; /* at shutdown */
  if (d->err && !purged)
    ll_log(LL_WARN, "outbox",
           "rejection %" PRIu64 " was not delivered to %s (%s); sending "
           "it again",
           d->tag, o->topic, rd_kafka_err2str((rd_kafka_resp_err_t)d->err));
  else if (d->inferred)
    ll_log(LL_INFO, "outbox",
           "rejection %" PRIu64 " was acknowledged by %s [%d] only "
           "implicitly, after its request failed; sending it again",
           d->tag, o->topic, (int)d->partition);
  else if (!d->err)
    ll_log(LL_DEBUG, "outbox",
           "rejection %" PRIu64 " is on %s [%d] at offset %" PRId64, d->tag,
           o->topic, (int)d->partition, d->offset);
}

ll_outbox *ll_outbox_new(ll_store *store, ll_producer *producer,
                         const char *topic, ll_metrics *metrics, ll_err *err) {
  uint64_t held = 0;
  if (ll_store_outbox_count(store, &held, err) != 0)
    return NULL;
  ll_outbox *o = ll_xcalloc(1, sizeof *o);
  o->store = store;
  o->producer = producer;
  o->topic = topic;
  atomic_store(&o->held, held);
  pthread_mutex_init(&o->mu, NULL);
  o->unpublished_gauge = ll_metric_with(
      ll_metrics_gauge(metrics, "lotline_rejections_unpublished",
                       "Rejections stored but not yet acknowledged by the "
                       "rejections topic",
                       NULL));
  update_gauge(o);
  if (held > 0)
    ll_log(LL_INFO, "outbox",
           "%" PRIu64 " rejection(s) from an earlier run not yet "
           "acknowledged by %s: sending them",
           held, topic);
  return o;
}

void ll_outbox_committed(ll_outbox *o, uint64_t n) {
  atomic_fetch_add(&o->held, n);
  update_gauge(o);
}

uint64_t ll_outbox_unpublished(ll_outbox *o) {
  return atomic_load(&o->held);
}

/* Take the list's contents into the pump's scratch list. */
static void take(ll_outbox *o, seq_list *from) {
  pthread_mutex_lock(&o->mu);
  seq_list t = o->scratch;
  o->scratch = *from;
  *from = t;
  from->n = 0;
  pthread_mutex_unlock(&o->mu);
}

/* Queue one record; false when librdkafka's queue is full (try later). */
static bool send_record(ll_outbox *o, const ll_outbox_record *r) {
  ll_err e;
  if (ll_producer_send_tracked(
          o->producer, o->topic, r->has_key ? r->key.data : NULL,
          r->has_key ? r->key.len : 0, r->value.data, r->value.len,
          on_delivered, o, r->sequence, &e) != 0) {
    if (!o->warned_refused)
      ll_log(LL_WARN, "outbox", "%s: %s; rejections wait in the outbox",
             ll_err_kind_name(e.kind), e.message);
    o->warned_refused = true;
    return false;
  }
  o->warned_refused = false;
  atomic_fetch_add(&o->inflight, 1);
  return true;
}

/* Send again the records librdkafka gave up on (each read back by its
 * sequence; one still in the store is sent, one already gone is not). */
static int resend_failed(ll_outbox *o, ll_err *err) {
  take(o, &o->failed);
  int rc = 0;
  size_t i = 0;
  for (; i < o->scratch.n && rc == 0; i++) {
    uint64_t seq = o->scratch.v[i];
    atomic_fetch_sub(&o->inflight, 1);
    ll_outbox_record r;
    size_t n = 0;
    if (ll_store_outbox_read(o->store, seq - 1, &r, 1, &n, err) != 0) {
      rc = -1;
      break;
    }
    if (n == 1) {
      bool same = r.sequence == seq;
      bool sent = same && send_record(o, &r);
      ll_outbox_record_free(&r);
      if (same && !sent)
        break; /* queue full: keep it and the rest for the next pump */
    }
  }
  /* What was not handled goes back on the failed list. */
  pthread_mutex_lock(&o->mu);
  for (; i < o->scratch.n; i++) {
    seq_push(&o->failed, o->scratch.v[i]);
    atomic_fetch_add(&o->inflight, 1);
  }
  pthread_mutex_unlock(&o->mu);
  o->scratch.n = 0;
  return rc;
}

int ll_outbox_pump(ll_outbox *o, ll_err *err) {
  take(o, &o->acked);
  if (o->scratch.n > 0) {
    if (ll_store_outbox_delete(o->store, o->scratch.v, o->scratch.n, err) != 0)
      return -1;
    atomic_fetch_sub(&o->inflight, o->scratch.n);
    atomic_fetch_sub(&o->held, o->scratch.n);
    o->scratch.n = 0;
    update_gauge(o);
  }
  if (resend_failed(o, err) != 0)
    return -1;
  ll_outbox_record recs[LL_OUTBOX_READ_MAX];
  /* Every record the store holds is in flight: nothing to read. */
  while (atomic_load(&o->held) > atomic_load(&o->inflight) &&
         atomic_load(&o->inflight) < LL_OUTBOX_INFLIGHT_MAX) {
    size_t room = LL_OUTBOX_INFLIGHT_MAX - atomic_load(&o->inflight);
    size_t n = 0;
    if (ll_store_outbox_read(o->store, o->sent_through, recs,
                             room < LL_OUTBOX_READ_MAX ? room
                                                       : LL_OUTBOX_READ_MAX,
                             &n, err) != 0)
      return -1;
    size_t i = 0;
    for (; i < n && send_record(o, &recs[i]); i++)
      o->sent_through = recs[i].sequence;
    bool full = i < n;
    for (size_t j = 0; j < n; j++)
      ll_outbox_record_free(&recs[j]);
    if (full || n < LL_OUTBOX_READ_MAX)
      break;
  }
  return 0;
}

void ll_outbox_requeue(ll_outbox *o, const uint64_t *seqs, size_t n) {
  atomic_fetch_add(&o->held, n);
  /* Those after sent_through are read from the store by the next pump;
   * the others are sent like records librdkafka gave up on. */
  pthread_mutex_lock(&o->mu);
  for (size_t i = 0; i < n; i++) {
    if (seqs[i] < o->floor)
      o->floor = seqs[i];
    if (seqs[i] > o->sent_through)
      continue;
    seq_push(&o->failed, seqs[i]);
    atomic_fetch_add(&o->inflight, 1);
  }
  pthread_mutex_unlock(&o->mu);
  update_gauge(o);
}

int ll_outbox_lowest_unacked(ll_outbox *o, uint64_t *sequence, ll_err *err) {
  *sequence = UINT64_MAX;
  if (atomic_load(&o->held) == 0)
    return 0;
  ll_outbox_record r;
  size_t n = 0;
  if (ll_store_outbox_read(o->store, o->floor > 0 ? o->floor - 1 : 0, &r, 1, &n,
                           err) != 0)
    return -1;
  if (n == 1) {
    *sequence = r.sequence;
    o->floor = r.sequence;
    ll_outbox_record_free(&r);
  }
  return 0;
}

int ll_outbox_drain(ll_outbox *o, int max_ms, int stall_ms, ll_err *err) {
  const uint64_t ms = 1000000u;
  uint64_t start = ll_mono_ns(), progress = start;
  uint64_t left = atomic_load(&o->held);
  while (left > 0) {
    if (ll_outbox_pump(o, err) != 0)
      return -1;
    uint64_t now = ll_mono_ns(), held = atomic_load(&o->held);
    if (held < left)
      progress = now;
    left = held;
    if (left == 0 || now - start >= (uint64_t)max_ms * ms ||
        now - progress >= (uint64_t)stall_ms * ms)
      break;
    struct timespec pause = {0, OUTBOX_DRAIN_PAUSE_MS * 1000000L};
    nanosleep(&pause, NULL);
  }
  /* What is left is reported once, by ll_outbox_free(). */
  return 0;
}

void ll_outbox_free(ll_outbox *o) {
  if (!o)
    return;
  ll_err e;
  /* Forget what was acknowledged, so the next start does not send it
   * again; anything else stays in the store for the next start. */
  take(o, &o->acked);
  if (o->scratch.n > 0 &&
      ll_store_outbox_delete(o->store, o->scratch.v, o->scratch.n, &e) != 0)
    ll_log(LL_WARN, "outbox", "%s: %s", ll_err_kind_name(e.kind), e.message);
  else
    atomic_fetch_sub(&o->held, o->scratch.n);
  uint64_t left = atomic_load(&o->held);
  if (left > 0)
    ll_log(LL_WARN, "outbox",
           "%" PRIu64 " rejection(s) not yet acknowledged by %s stay in the "
           "outbox and are sent at the next start",
           left, o->topic);
  pthread_mutex_destroy(&o->mu);
  free(o->acked.v);
  free(o->failed.v);
  free(o->scratch.v);
  free(o);
}
