/* alerts.c — the date alerts worker (alerts.h).
 *
 * Its store, <data>/alerts (RocksDB, synced writes):
 *   meta/format                  the format mark (1)
 *   meta/next                    be64 the next sequence number
 *   k/<P>\x1f<L>\x1f<kind>\x1f<be64 date>
 *                                be64 sequence: "already emitted"; the
 *                                kind is one digit, the date the date
 *   s/<be64 sequence>            the alert: u8 sent, str product, str lot,
 *                                u8 kind, svar at, svar on_hand, svar
 *                                emitted_at
 *   p/<be64 sequence>            (empty) while the alert is not known to
 *                                be in Kafka
 *   t/<be64 partition><be64 offset>
 *                                a record of lots.alerts, by any instance:
 *                                the alert as s/ holds it, emitted_at the
 *                                record's timestamp
 *   l/<P>\x1f<L>\x1f<kind>\x1f<be64 date>
 *                                be64 partition, be64 offset: the t/ row
 *                                that lists this alert (its first record)
 *
 * Once per (lot, kind, date), across kill -9: a due alert is first
 * recorded (k/, s/ and p/ in one synced write), then sent and
 * acknowledged, then its p/ row is deleted. A restart, or a round after a
 * failed send, finds p/ rows; the message may or may not have reached
 * Kafka, so before sending any of them again the worker reads lots.alerts
 * back from the start (read_committed) and drops the p/ rows whose
 * records are there: the encoding is deterministic (the same alert, codec
 * and schema give the same bytes), so a record is recognised by its
 * bytes. What is not found is sent again. Hence each alert is in the
 * topic once, and in the store once (the k/ row is written before
 * anything else, so a date is never recorded twice).
 *
 * Due: a lot with on_hand > 0 in the views, and one of its four dates at
 * or before the server's clock. The clock decides only when an alert is
 * emitted, never a rule or a log entry. A lot whose date is moved later
 * after an alert gets another one for the new date. A round finds what is
 * due in the views' dates index, reading from where the last round stood
 * ("finding what is due" below), and checks each date on the lot row.
 *
 * In a cluster every instance runs a worker, and its views hold more than
 * the partitions it owns (standbys, what it kept of partitions it lost):
 * a worker alerts only for the lots of its own partitions (the filter,
 * ll_alerts_serves), and follows lots.alerts (a consumer of its own, from
 * the start, each round reading up to where the topic ended when the
 * round began) to write a k/ row for every alert another instance
 * published, so that a new owner does not publish again what the old one
 * did. Two owners at once (a rebalance between the old owner's round and
 * the new owner's reading of it) can still publish one alert twice: the
 * same (lot, kind, date), which docs/events.md tells consumers to treat
 * as one.
 *
 * What it follows is also what GET /v1/alerts lists in a cluster of
 * several (ll_alerts_list_placed): every record of lots.alerts, whoever
 * published it, under its place in the topic, which every instance reads
 * the same; so any instance lists the same alerts, also those of an
 * instance that is gone. Of two records of one alert only the first is
 * listed: both are in the partition of the product (the record's key),
 * where every instance reads them in the same order. */
#include "alerts.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ll_buf.h"
#include "ll_event.h"
#include "ll_hash.h"
#include "ll_logging.h"
#include "ll_mem.h"
#include "ll_rocks.h"
#include "ll_rocks_logger.h"
#include "ll_time.h"

#define ALERTS_FORMAT 1
#define KEY_SEP '\x1f'
#define SLEEP_SLICE_MS 50
#define READ_BACK_POLL_MS 100
/* A wait on Kafka is cut in slices of this, so that a stop is seen. */
#define KAFKA_SLICE_MS 100
#define SEND_POLL_US 1000 /* how often a send looks for its report */
#define PARTITIONS_MAX 1024
/* Index rows a walk reads in one round; a round that has more to read
 * goes on at once. */
#define ROUND_ROWS_MAX 4096

struct ll_alerts {
  rocksdb_t *db;
  rocksdb_options_t *options;
  rocksdb_writeoptions_t *wo;
  rocksdb_readoptions_t *ro;
  ll_rocks_latch write_latch;
  ll_views *views;
  ll_codec *codec;
  const ll_config *cfg;
  char *brokers, *topic;
  ll_producer *producer;
  ll_series *m_emitted;
  uint64_t next_seq; /* the worker thread's only */
  /* lots.alerts as published by every instance (the worker thread's) */
  rd_kafka_t *follower;
  int follow_parts;
  int64_t follow_next[PARTITIONS_MAX]; /* the next offset of each */
  /* the filter (ll_alerts_serves), under filter_mu */
  pthread_mutex_t filter_mu;
  ll_alerts_serves_fn serves;
  void *serves_ctx;
  bool await_filter;
  volatile sig_atomic_t *stop; /* ll_alerts_run's: a round gives up at once */
  uint64_t send_tag;           /* the worker's last send (its thread's) */
  _Atomic uint64_t sent_tag;   /* the last send Kafka reported on */
  _Atomic int sent_err;        /* and its outcome (rd_kafka_resp_err_t) */
  /* the walks of the views' dates index (the worker thread's) */
  ll_dates_walk due, entered;
  bool more;      /* the last round stopped at a walk's limit */
  char **skipped; /* products passed, not served (open addressing) */
  size_t skipped_mask, n_skipped;
  bool skipped_overflow;
  _Atomic uint64_t rows_read; /* index rows the walks read */
  ll_series *m_rows_read;
};

/* ---- keys and values ---- */

static void seq_key(ll_buf *k, char kind, uint64_t seq) {
  ll_buf_reset(k);
  ll_buf_put_u8(k, (uint8_t)kind);
  ll_buf_put_u8(k, '/');
  ll_buf_put_be64(k, seq);
}

static void done_key(ll_buf *k, const char *product, const char *lot,
                     ll_date_kind kind, int64_t at_ms) {
  ll_buf_reset(k);
  ll_buf_printf(k, "k/%s%c%s%c%d%c", product, KEY_SEP, lot, KEY_SEP, (int)kind,
                KEY_SEP);
  ll_buf_put_be64(k, (uint64_t)at_ms);
}

/* t/<be64 partition><be64 offset>: a record of lots.alerts. */
static void place_key(ll_buf *k, int32_t partition, int64_t offset) {
  ll_buf_reset(k);
  ll_buf_put(k, "t/", 2);
  ll_buf_put_be64(k, (uint64_t)partition);
  ll_buf_put_be64(k, (uint64_t)offset);
}

#define PLACE_KEY_BYTES 18

static void listed_key(ll_buf *k, const char *product, const char *lot,
                       ll_date_kind kind, int64_t at_ms) {
  done_key(k, product, lot, kind, at_ms);
  k->data[0] = 'l';
}

static void pack_alert(const ll_alert *al, ll_buf *v) {
  ll_buf_reset(v);
  ll_buf_put_u8(v, al->sent ? 1 : 0);
  ll_buf_put_str(v, al->product_id);
  ll_buf_put_str(v, al->lot_id);
  ll_buf_put_u8(v, (uint8_t)al->kind);
  ll_buf_put_svar(v, al->at_ms);
  ll_buf_put_svar(v, al->on_hand_micro);
  ll_buf_put_svar(v, al->emitted_at_ms);
}

static bool unpack_alert(uint64_t seq, const void *p, size_t n, ll_alert *al) {
  ll_rd r;
  uint8_t sent = 0, kind = 0;
  memset(al, 0, sizeof *al);
  al->sequence = seq;
  al->partition = -1; /* listed by sequence; take_placed sets its place */
  ll_rd_init(&r, p, n);
  ll_rd_u8(&r, &sent);
  ll_rd_str(&r, &al->product_id);
  ll_rd_str(&r, &al->lot_id);
  ll_rd_u8(&r, &kind);
  ll_rd_svar(&r, &al->at_ms);
  ll_rd_svar(&r, &al->on_hand_micro);
  ll_rd_svar(&r, &al->emitted_at_ms);
  al->sent = sent == 1;
  al->kind = (ll_date_kind)kind;
  if (r.bad || ll_rd_left(&r) != 0 || kind >= LL_DATE_KIND_COUNT ||
      al->product_id == NULL || al->lot_id == NULL) {
    free(al->product_id);
    free(al->lot_id);
    return false;
  }
  return true;
}

void ll_alerts_free(ll_alert *list, size_t n) {
  for (size_t i = 0; list != NULL && i < n; i++) {
    free(list[i].product_id);
    free(list[i].lot_id);
  }
  free(list);
}

static int encode(ll_alerts *a, const ll_alert *al, ll_buf *out, ll_err *err) {
  ll_date_reached r = {.lot_id = al->lot_id,
                       .product_id = al->product_id,
                       .kind = al->kind,
                       .at_ms = al->at_ms,
                       .on_hand_micro = al->on_hand_micro};
  ll_buf_reset(out);
  return ll_codec_encode_date_reached(a->codec, &r, out, err);
}

/* ---- the store ---- */

static int write_batch(ll_alerts *a, rocksdb_writebatch_t *wb, ll_err *err) {
  int rc = ll_rocks_write(a->db, a->wo, wb, &a->write_latch, err, "alerts");
  rocksdb_writebatch_destroy(wb);
  return rc;
}

/* Record a due alert: k/, s/, p/ and meta/next in one synced write. */
static int record_alert(ll_alerts *a, ll_alert *al, const ll_buf *done,
                        ll_err *err) {
  al->sequence = a->next_seq;
  ll_buf k, v;
  ll_buf_init(&k);
  ll_buf_init(&v);
  rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
  uint8_t be[8];
  ll_buf_put_be64(&v, al->sequence);
  memcpy(be, v.data, sizeof be);
  rocksdb_writebatch_put(wb, (const char *)done->data, done->len,
                         (const char *)be, sizeof be);
  pack_alert(al, &v);
  seq_key(&k, 's', al->sequence);
  rocksdb_writebatch_put(wb, (const char *)k.data, k.len, (const char *)v.data,
                         v.len);
  seq_key(&k, 'p', al->sequence);
  rocksdb_writebatch_put(wb, (const char *)k.data, k.len, "", 0);
  ll_buf_reset(&v);
  ll_buf_put_be64(&v, al->sequence + 1);
  rocksdb_writebatch_put(wb, "meta/next", 9, (const char *)v.data, v.len);
  ll_buf_free(&k);
  ll_buf_free(&v);
  if (write_batch(a, wb, err) != 0)
    return -1;
  a->next_seq++;
  return 0;
}

/* The alert is in Kafka: s/ says sent, p/ goes. */
static int mark_sent(ll_alerts *a, ll_alert *al, ll_err *err) {
  ll_buf k, v;
  ll_buf_init(&k);
  ll_buf_init(&v);
  al->sent = true;
  rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
  pack_alert(al, &v);
  seq_key(&k, 's', al->sequence);
  rocksdb_writebatch_put(wb, (const char *)k.data, k.len, (const char *)v.data,
                         v.len);
  seq_key(&k, 'p', al->sequence);
  rocksdb_writebatch_delete(wb, (const char *)k.data, k.len);
  ll_buf_free(&k);
  ll_buf_free(&v);
  return write_batch(a, wb, err);
}

static int get_alert(ll_alerts *a, uint64_t seq, ll_alert *al, ll_err *err) {
  ll_buf k, v;
  ll_buf_init(&k);
  ll_buf_init(&v);
  bool found = false;
  seq_key(&k, 's', seq);
  int rc = ll_rocks_get(a->db, a->ro, k.data, k.len, &v, &found, "alerts", err);
  if (rc == 0 && (!found || !unpack_alert(seq, v.data, v.len, al)))
    rc = ll_fail(err, LL_ERR_CORRUPT,
                 "alerts: record %llu is missing or "
                 "corrupt",
                 (unsigned long long)seq);
  ll_buf_free(&k);
  ll_buf_free(&v);
  return rc;
}

/* The alerts whose p/ row is there: recorded, not known to be in Kafka. */
static int list_pending(ll_alerts *a, ll_alert **out, size_t *n, ll_err *err) {
  *out = NULL;
  *n = 0;
  rocksdb_iterator_t *it = rocksdb_create_iterator(a->db, a->ro);
  int rc = 0;
  for (rocksdb_iter_seek(it, "p/", 2); rc == 0 && rocksdb_iter_valid(it);
       rocksdb_iter_next(it)) {
    size_t klen;
    const char *k = rocksdb_iter_key(it, &klen);
    if (klen != 10 || memcmp(k, "p/", 2) != 0)
      break;
    *out = ll_xrealloc(*out, (*n + 1) * sizeof **out);
    rc = get_alert(a, ll_be64_decode(k + 2), &(*out)[*n], err);
    if (rc == 0)
      (*n)++;
  }
  if (ll_rocks_iter_end(it, "alerts: reading the pending alerts", err) != 0)
    rc = -1;
  return rc;
}

/* ---- reading lots.alerts back ---- */

/* The pending alerts' encodings; found[i] when the topic holds pending[i]. */
typedef struct read_back {
  ll_buf *wanted;
  bool *found;
  size_t n;
} read_back;

static void match_record(read_back *rb, const rd_kafka_message_t *m) {
  for (size_t i = 0; i < rb->n; i++)
    if (!rb->found[i] && m->len == rb->wanted[i].len &&
        memcmp(m->payload, rb->wanted[i].data, m->len) == 0)
      rb->found[i] = true;
}

/* The readers assign partitions and commit nothing: they never join the
 * group, so there is nothing to leave, and a consumer close would wait on
 * the group coordinator (for long, with Kafka gone). */
static void destroy_reader(rd_kafka_t *rk) {
  rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

static rd_kafka_t *read_back_consumer(ll_alerts *a, ll_err *err) {
  const char *settings[][2] = {{"bootstrap.servers", a->brokers},
                               {"group.id", "lotline-alerts-read-back"},
                               {"enable.auto.commit", "false"},
                               {"isolation.level", "read_committed"}};
  rd_kafka_conf_t *conf =
      ll_kafka_conf_new(settings, sizeof settings / sizeof settings[0], a->cfg,
                        "alerts read-back consumer", err);
  if (conf == NULL)
    return NULL;
  char errstr[512];
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (rk == NULL) {
    rd_kafka_conf_destroy(conf);
    ll_fail(err, LL_ERR_KAFKA, "alerts: cannot create a consumer: %s", errstr);
  }
  return rk;
}

/* Is the worker stopping? Every step of a round that waits on Kafka asks
 * between its waits, so that a stop is never held by a round: what the
 * round left (unsent alerts, records not followed) the next start takes
 * up again. */
static bool stopping(const ll_alerts *a) {
  return a->stop != NULL && *a->stop;
}

/* A partition's high watermark, asked in slices of KAFKA_SLICE_MS for at
 * most LL_ALERTS_SEND_TIMEOUT_MS: 0, 1 when the worker is stopping, -1
 * with err. */
static int query_end(ll_alerts *a, rd_kafka_t *rk, int p, int64_t *end,
                     ll_err *err) {
  uint64_t deadline =
      ll_mono_ns() + (uint64_t)LL_ALERTS_SEND_TIMEOUT_MS * 1000000;
  for (;;) {
    if (stopping(a))
      return 1;
    int64_t lo = 0;
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
        rk, a->topic, p, &lo, end, KAFKA_SLICE_MS);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
      return 0;
    if (e != RD_KAFKA_RESP_ERR__TIMED_OUT || ll_mono_ns() > deadline)
      return ll_fail(err, LL_ERR_KAFKA, "alerts: no offsets for %s/%d: %s",
                     a->topic, p, rd_kafka_err2str(e));
  }
}

/* The topic's partition count, asked like query_end. */
static int count_partitions(ll_alerts *a, rd_kafka_t *rk, int *n, ll_err *err) {
  uint64_t deadline =
      ll_mono_ns() + (uint64_t)LL_ALERTS_SEND_TIMEOUT_MS * 1000000;
  rd_kafka_topic_t *t = rd_kafka_topic_new(rk, a->topic, NULL);
  int rc = 1;
  while (rc == 1 && !stopping(a)) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, KAFKA_SLICE_MS);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
        md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      *n = md->topics[0].partition_cnt;
      rc = 0;
    } else if (e != RD_KAFKA_RESP_ERR__TIMED_OUT || ll_mono_ns() > deadline) {
      rc = ll_fail(err, LL_ERR_KAFKA, "alerts: no metadata for %s: %s",
                   a->topic, rd_kafka_err2str(e ? e : md->topics[0].err));
    }
    if (md)
      rd_kafka_metadata_destroy(md);
  }
  rd_kafka_topic_destroy(t);
  return rc;
}

/* Assign every partition from its start; ends[p] = its high watermark.
 * 1 when the worker is stopping. */
static int assign_all(ll_alerts *a, rd_kafka_t *rk, int64_t *ends, int *n_parts,
                      ll_err *err) {
  int n = 0;
  int rc = count_partitions(a, rk, &n, err);
  if (rc != 0)
    return rc;
  if (n > PARTITIONS_MAX)
    return ll_fail(err, LL_ERR_KAFKA, "alerts: %s has %d partitions", a->topic,
                   n);
  rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(n);
  for (int p = 0; p < n && rc == 0; p++) {
    rc = query_end(a, rk, p, &ends[p], err);
    rd_kafka_topic_partition_list_add(parts, a->topic, p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
  if (rc == 0)
    e = rd_kafka_assign(rk, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  *n_parts = n;
  if (rc == 0 && e != RD_KAFKA_RESP_ERR_NO_ERROR)
    rc = ll_fail(err, LL_ERR_KAFKA, "alerts: cannot assign %s: %s", a->topic,
                 rd_kafka_err2str(e));
  return rc;
}

static bool all_read(const int64_t *next, const int64_t *ends, int n) {
  for (int p = 0; p < n; p++)
    if (next[p] < ends[p])
      return false;
  return true;
}

/* Read every partition up to its high watermark, matching the records.
 * 1 when the worker is stopping before it got there. */
static int read_topic(ll_alerts *a, read_back *rb, ll_err *err) {
  rd_kafka_t *rk = read_back_consumer(a, err);
  if (rk == NULL)
    return -1;
  int64_t ends[PARTITIONS_MAX], next[PARTITIONS_MAX] = {0};
  int n = 0;
  int rc = assign_all(a, rk, ends, &n, err);
  uint64_t deadline = ll_mono_ns() + (uint64_t)LL_ALERTS_READ_BACK_MS * 1000000;
  while (rc == 0 && !all_read(next, ends, n)) {
    if (stopping(a)) {
      rc = 1;
      break;
    }
    if (ll_mono_ns() > deadline) {
      rc = ll_fail(err, LL_ERR_TIMEOUT,
                   "alerts: reading %s back took too "
                   "long",
                   a->topic);
      break;
    }
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, READ_BACK_POLL_MS);
    if (m == NULL)
      continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->partition >= 0 &&
        m->partition < n) {
      match_record(rb, m);
      next[m->partition] = m->offset + 1;
    }
    rd_kafka_message_destroy(m);
  }
  destroy_reader(rk);
  return rc;
}

/* ---- sending ---- */

/* The delivery report of the alert being sent (the producer's thread):
 * a report of an earlier send the worker stopped waiting for is told
 * apart by its tag. */
static void on_sent(void *arg, const ll_delivery_report *d) {
  ll_alerts *a = arg;
  atomic_store(&a->sent_err, d->err);
  atomic_store(&a->sent_tag, d->tag);
}

/* Send an alert and wait for Kafka's acknowledgement, at most
 * LL_ALERTS_SEND_TIMEOUT_MS: 0, 1 when the worker is stopping first (the
 * alert stays pending: the next start reads the topic back and sends it
 * only if it is not there), -1 with err. */
static int send_alert(ll_alerts *a, const ll_buf *value, const ll_alert *al,
                      ll_err *err) {
  uint64_t tag = ++a->send_tag;
  if (ll_producer_send_tracked(a->producer, a->topic, al->product_id,
                               strlen(al->product_id), value->data, value->len,
                               on_sent, a, tag, err) != 0)
    return -1;
  uint64_t deadline =
      ll_mono_ns() + (uint64_t)LL_ALERTS_SEND_TIMEOUT_MS * 1000000;
  while (atomic_load(&a->sent_tag) != tag) {
    if (stopping(a))
      return 1;
    if (ll_mono_ns() > deadline)
      return ll_fail(err, LL_ERR_TIMEOUT,
                     "alerts: %s did not acknowledge an alert within %d ms",
                     a->topic, LL_ALERTS_SEND_TIMEOUT_MS);
    usleep(SEND_POLL_US);
  }
  int e = atomic_load(&a->sent_err);
  return e == 0 ? 0
                : ll_fail(err, LL_ERR_KAFKA, "alerts: sending to %s: %s",
                          a->topic, rd_kafka_err2str((rd_kafka_resp_err_t)e));
}

/* Publish a recorded alert and mark it sent; 1 when the worker is
 * stopping before Kafka acknowledged it. */
static int publish(ll_alerts *a, ll_alert *al, ll_err *err) {
  ll_buf v;
  ll_buf_init(&v);
  int rc = encode(a, al, &v, err);
  if (rc == 0)
    rc = send_alert(a, &v, al, err);
  ll_buf_free(&v);
  if (rc != 0)
    return rc; /* 1: stopping, the alert stays pending */
  if (mark_sent(a, al, err) != 0)
    return -1;
  if (a->m_emitted)
    ll_counter_add(a->m_emitted, 1);
  ll_log(LL_INFO, "alerts", "%s of lot %s (product %s) reached: %s",
         ll_date_kind_name(al->kind), al->lot_id, al->product_id,
         ll_time_format(al->at_ms, (char[32]){0}));
  return 0;
}

/* What an earlier run or round left unsent: the ones already in the topic
 * are marked sent, the others published. 1 when the worker is stopping. */
static int settle_pending(ll_alerts *a, ll_err *err) {
  ll_alert *pending = NULL;
  size_t n = 0;
  if (list_pending(a, &pending, &n, err) != 0) {
    ll_alerts_free(pending, n);
    return -1;
  }
  read_back rb = {.wanted = ll_xcalloc(n ? n : 1, sizeof *rb.wanted),
                  .found = ll_xcalloc(n ? n : 1, sizeof *rb.found),
                  .n = n};
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    ll_buf_init(&rb.wanted[i]);
    rc = encode(a, &pending[i], &rb.wanted[i], err);
  }
  if (rc == 0 && n > 0)
    rc = read_topic(a, &rb, err);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    if (stopping(a))
      rc = 1; /* the rest stays pending for the next start */
    else
      rc = rb.found[i] ? mark_sent(a, &pending[i], err)
                       : publish(a, &pending[i], err);
  }
  for (size_t i = 0; i < n; i++)
    ll_buf_free(&rb.wanted[i]);
  free(rb.wanted);
  free(rb.found);
  ll_alerts_free(pending, n);
  return rc;
}

/* ---- what the other instances published ---- */

/* Is the alert of the l/ row listed already (from this record or an
 * earlier one)? */
static int is_listed(ll_alerts *a, const ll_buf *listed, bool *yes,
                     ll_err *err) {
  ll_buf place;
  ll_buf_init(&place);
  int rc = ll_rocks_get(a->db, a->ro, listed->data, listed->len, &place, yes,
                        "alerts", err);
  if (rc == 0 && *yes && place.len != 16)
    rc = ll_fail(err, LL_ERR_CORRUPT, "alerts: a corrupt listing row");
  ll_buf_free(&place);
  return rc;
}

/* The alert of a record of lots.alerts, as t/ keeps it. */
static void placed_alert(const ll_date_reached_key *key,
                         const rd_kafka_message_t *m, ll_alert *al) {
  memset(al, 0, sizeof *al);
  al->product_id = ll_strndup(key->product_id, key->product_len);
  al->lot_id = ll_strndup(key->lot_id, key->lot_len);
  al->kind = key->kind;
  al->at_ms = key->at_ms;
  al->on_hand_micro = key->on_hand_micro;
  al->emitted_at_ms = rd_kafka_message_timestamp(m, NULL);
  al->sent = true;
}

/* Put the l/ and t/ rows that list the alert of record m. */
static void put_listing(ll_buf *k, ll_buf *v, const ll_alert *al,
                        const rd_kafka_message_t *m, rocksdb_writebatch_t *wb) {
  uint8_t place[16];
  ll_buf_reset(v);
  ll_buf_put_be64(v, (uint64_t)m->partition);
  ll_buf_put_be64(v, (uint64_t)m->offset);
  memcpy(place, v->data, sizeof place);
  rocksdb_writebatch_put(wb, (const char *)k->data, k->len, (const char *)place,
                         sizeof place);
  pack_alert(al, v);
  place_key(k, m->partition, m->offset);
  rocksdb_writebatch_put(wb, (const char *)k->data, k->len,
                         (const char *)v->data, v->len);
}

/* A record of lots.alerts, by this instance or another: a k/ row for its
 * alert unless there is one (it is published), and, unless the alert is
 * listed already, its l/ and t/ rows (listed from its first record).
 * Reading the topic again at a start finds both and writes nothing. */
static int note_published(ll_alerts *a, const rd_kafka_message_t *m,
                          ll_err *err) {
  ll_date_reached_key key;
  if (!ll_codec_date_reached_peek(a->codec, m->payload, m->len, &key))
    return 0; /* not one of ours: nothing to note */
  ll_alert al;
  placed_alert(&key, m, &al);
  ll_buf k, v;
  ll_buf_init(&k);
  ll_buf_init(&v);
  rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
  done_key(&k, al.product_id, al.lot_id, al.kind, al.at_ms);
  bool done = false, listed = false;
  int rc = ll_rocks_get(a->db, a->ro, k.data, k.len, &v, &done, "alerts", err);
  uint8_t elsewhere[8] = {0}; /* sequence 0: not this instance's */
  if (rc == 0 && !done)
    rocksdb_writebatch_put(wb, (const char *)k.data, k.len,
                           (const char *)elsewhere, sizeof elsewhere);
  listed_key(&k, al.product_id, al.lot_id, al.kind, al.at_ms);
  if (rc == 0)
    rc = is_listed(a, &k, &listed, err);
  if (rc == 0 && !listed)
    put_listing(&k, &v, &al, m, wb);
  if (rc == 0 && rocksdb_writebatch_count(wb) > 0)
    rc = write_batch(a, wb, err);
  else
    rocksdb_writebatch_destroy(wb);
  ll_buf_free(&k);
  ll_buf_free(&v);
  free(al.product_id);
  free(al.lot_id);
  return rc;
}

/* The high watermarks of the partitions the follower reads; 1 when the
 * worker is stopping. */
static int follow_ends(ll_alerts *a, int64_t *ends, ll_err *err) {
  for (int p = 0; p < a->follow_parts; p++) {
    int rc = query_end(a, a->follower, p, &ends[p], err);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* Take in every record of lots.alerts published before this round (the
 * first round reads the topic from its start), so that what another
 * instance published is known before this one looks for what is due.
 * 1 when the worker is stopping before it got there. */
static int follow_published(ll_alerts *a, ll_err *err) {
  int64_t ends[PARTITIONS_MAX];
  if (a->follower == NULL) {
    a->follower = read_back_consumer(a, err);
    int rc = a->follower == NULL
                 ? -1
                 : assign_all(a, a->follower, ends, &a->follow_parts, err);
    if (rc != 0) {
      if (a->follower != NULL)
        destroy_reader(a->follower);
      a->follower = NULL;
      return rc;
    }
  } else {
    int rc = follow_ends(a, ends, err);
    if (rc != 0)
      return rc;
  }
  uint64_t deadline = ll_mono_ns() + (uint64_t)LL_ALERTS_READ_BACK_MS * 1000000;
  while (!all_read(a->follow_next, ends, a->follow_parts)) {
    if (stopping(a))
      return 1; /* the next start reads the topic again */
    if (ll_mono_ns() > deadline)
      return ll_fail(err, LL_ERR_TIMEOUT, "alerts: following %s took too long",
                     a->topic);
    rd_kafka_message_t *m =
        rd_kafka_consumer_poll(a->follower, READ_BACK_POLL_MS);
    if (m == NULL)
      continue;
    int rc = 0;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->partition >= 0 &&
        m->partition < a->follow_parts) {
      a->follow_next[m->partition] = m->offset + 1;
      rc = note_published(a, m, err);
    }
    rd_kafka_message_destroy(m);
    if (rc != 0)
      return -1;
  }
  return 0;
}

void ll_alerts_serves(ll_alerts *a, ll_alerts_serves_fn serves, void *ctx) {
  pthread_mutex_lock(&a->filter_mu);
  a->serves = serves;
  a->serves_ctx = ctx;
  a->await_filter = false;
  pthread_mutex_unlock(&a->filter_mu);
}

void ll_alerts_hold(ll_alerts *a) {
  pthread_mutex_lock(&a->filter_mu);
  a->await_filter = true;
  a->serves = NULL;
  pthread_mutex_unlock(&a->filter_mu);
}

/* Does this instance alert for the lot's product? */
static bool serves(ll_alerts *a, const char *product_id) {
  pthread_mutex_lock(&a->filter_mu);
  bool yes = !a->await_filter &&
             (a->serves == NULL || a->serves(a->serves_ctx, product_id));
  pthread_mutex_unlock(&a->filter_mu);
  return yes;
}

/* Is the worker to look at no lot (no filter yet, or held)? */
static bool holding(ll_alerts *a) {
  pthread_mutex_lock(&a->filter_mu);
  bool yes = a->await_filter;
  pthread_mutex_unlock(&a->filter_mu);
  return yes;
}

/* ---- products skipped ----
 *
 * A due date of a lot this instance does not serve is passed by the walk
 * and not read again. The instance may come to serve the lot's product
 * later (a partition handed over): so the products passed so are kept,
 * and when the filter says yes to one of them, the walk of due dates
 * starts again from the earliest date. Past LL_ALERTS_SKIPPED_MAX
 * products it starts again at every round. */

static void skipped_grow(ll_alerts *a) {
  size_t cap = a->skipped_mask ? (a->skipped_mask + 1) * 2 : 64;
  char **old = a->skipped;
  size_t old_cap = a->skipped_mask ? a->skipped_mask + 1 : 0;
  a->skipped = ll_xcalloc(cap, sizeof *a->skipped);
  a->skipped_mask = cap - 1;
  for (size_t i = 0; i < old_cap; i++) {
    if (old[i] == NULL)
      continue;
    size_t j = ll_hash64(old[i], strlen(old[i])) & a->skipped_mask;
    while (a->skipped[j] != NULL)
      j = (j + 1) & a->skipped_mask;
    a->skipped[j] = old[i];
  }
  free(old);
}

static void note_skipped(ll_alerts *a, const char *product_id) {
  if (a->skipped_overflow)
    return;
  if (a->n_skipped == LL_ALERTS_SKIPPED_MAX) {
    a->skipped_overflow = true;
    return;
  }
  if ((a->n_skipped + 1) * 2 > (a->skipped_mask ? a->skipped_mask + 1 : 0))
    skipped_grow(a);
  size_t len = strlen(product_id);
  size_t i = ll_hash64(product_id, len) & a->skipped_mask;
  for (; a->skipped[i] != NULL; i = (i + 1) & a->skipped_mask)
    if (strcmp(a->skipped[i], product_id) == 0)
      return;
  a->skipped[i] = ll_strdup(product_id);
  a->n_skipped++;
}

static void skipped_clear(ll_alerts *a) {
  for (size_t i = 0; a->skipped != NULL && i <= a->skipped_mask; i++) {
    free(a->skipped[i]);
    a->skipped[i] = NULL;
  }
  a->n_skipped = 0;
  a->skipped_overflow = false;
}

/* Does the filter now say yes to a product a walk passed? Then the walk
 * of due dates starts again (and notes anew what it passes). */
static bool skipped_served(ll_alerts *a) {
  bool again = a->skipped_overflow;
  for (size_t i = 0; !again && a->skipped != NULL && i <= a->skipped_mask; i++)
    again = a->skipped[i] != NULL && serves(a, a->skipped[i]);
  if (again)
    skipped_clear(a);
  return again;
}

static void count_rows_read(ll_alerts *a, uint64_t n) {
  atomic_fetch_add(&a->rows_read, n);
  if (a->m_rows_read != NULL && n > 0)
    ll_counter_add(a->m_rows_read, n);
}

static void copy_buf(ll_buf *to, const ll_buf *from) {
  ll_buf_reset(to);
  ll_buf_put(to, from->data, from->len);
}

/* ---- finding what is due ----
 *
 * The views keep every date of the lots on hand in date order, and which
 * lots entered that index after a log position (lot_dates.c). A round
 * walks the dates from where the last one stopped (just after its clock)
 * to its own clock, and the lots that entered since the views position
 * the last one read: between them every date at or before the clock has
 * been read once since it was last put in the index (moved earlier, the
 * lot back on hand after it passed, a lot created with a date gone by).
 * The first round after a start walks every date from the earliest: the
 * k/ rows say what was published. So a round reads what can be due, not
 * every lot. */

enum { CHECK_STOPPED = -2 }; /* check_dates: the worker is stopping */

_Static_assert(LL_VIEWS_DATE_ALERT == (int)LL_DATE_ALERT &&
                   LL_VIEWS_DATE_USE_BY == (int)LL_DATE_USE_BY &&
                   LL_VIEWS_DATE_REMOVAL == (int)LL_DATE_REMOVAL &&
                   LL_VIEWS_DATE_EXPIRATION == (int)LL_DATE_EXPIRATION &&
                   LL_VIEWS_DATE_KINDS == (int)LL_DATE_KIND_COUNT,
               "the views' date kinds are the alerts' kinds");

/* Record and publish the alert of (lot, kind, date) unless its k/ row
 * says it was. 1 when it was published now. */
static int emit_if_new(ll_alerts *a, const ll_lot *lot, ll_date_kind kind,
                       int64_t at_ms, int64_t now_ms, ll_err *err) {
  ll_buf done, v;
  ll_buf_init(&done);
  ll_buf_init(&v);
  done_key(&done, lot->product_id, lot->lot_id, kind, at_ms);
  bool found = false;
  int rc = ll_rocks_get(a->db, a->ro, done.data, done.len, &v, &found, "alerts",
                        err);
  ll_alert al = {.product_id = lot->product_id,
                 .lot_id = lot->lot_id,
                 .kind = kind,
                 .at_ms = at_ms,
                 .on_hand_micro = lot->on_hand_micro,
                 .emitted_at_ms = now_ms};
  if (rc == 0 && !found) {
    rc = record_alert(a, &al, &done, err);
    if (rc == 0) {
      int sent = publish(a, &al, err); /* 1: stopping, the alert pending */
      rc = sent == 0 ? 1 : sent == 1 ? 0 : -1;
    }
  }
  ll_buf_free(&done);
  ll_buf_free(&v);
  return rc;
}

/* Is the lot's date of d still d's, on hand and at or before the clock?
 * The index and the lot row come from one snapshot, so they agree; the
 * check makes the alert follow the lot row whatever the index says. */
static bool still_due(const ll_lot *lot, const ll_lot_date *d, int64_t now_ms) {
  const ll_opt_time *dates[LL_DATE_KIND_COUNT] = {
      [LL_DATE_ALERT] = &lot->alert_at,
      [LL_DATE_USE_BY] = &lot->use_by_at,
      [LL_DATE_REMOVAL] = &lot->removal_at,
      [LL_DATE_EXPIRATION] = &lot->expiration_at};
  const ll_opt_time *t = dates[d->kind];
  return lot->on_hand_micro > 0 && t->set && t->ms == d->at_ms &&
         t->ms <= now_ms;
}

/* A date the walks found: alert unless the lot moved on since, or it is
 * another instance's (then its product is noted, see skipped_served). 1
 * when it was published now. */
static int check_date(ll_alerts *a, ll_views_reader *r, const ll_lot_date *d,
                      int64_t now_ms, ll_err *err) {
  ll_lot lot;
  ll_lot_init(&lot);
  bool found = false;
  int rc =
      ll_views_reader_get_lot(r, d->product_id, d->lot_id, &lot, &found, err);
  if (rc == 0 && found && still_due(&lot, d, now_ms)) {
    if (serves(a, lot.product_id))
      rc = emit_if_new(a, &lot, (ll_date_kind)d->kind, d->at_ms, now_ms, err);
    else
      note_skipped(a, lot.product_id);
  }
  ll_lot_free(&lot);
  return rc;
}

static int check_dates(ll_alerts *a, ll_views_reader *r, const ll_dates_walk *w,
                       int64_t now_ms, ll_err *err) {
  int emitted = 0;
  for (size_t i = 0; i < w->n; i++) {
    if (stopping(a))
      return CHECK_STOPPED;
    int rc = check_date(a, r, &w->dates[i], now_ms, err);
    if (rc < 0)
      return -1;
    emitted += rc;
  }
  return emitted;
}

/* Walk both indexes from where the last round stood to now_ms and check
 * what they give. A round that fails (or is stopped) puts the walks back
 * where they were, so that the next one reads the same rows again: what
 * this one published has its k/ row then. */
static int walk_due(ll_alerts *a, int64_t now_ms, ll_err *err) {
  ll_views_reader *r = ll_views_reader_open(a->views, err);
  if (r == NULL)
    return -1;
  ll_buf due_from, entered_from;
  ll_buf_init(&due_from);
  ll_buf_init(&entered_from);
  ll_buf_put(&due_from, a->due.from.data, a->due.from.len);
  ll_buf_put(&entered_from, a->entered.from.data, a->entered.from.len);
  uint64_t read_before = a->due.rows_read + a->entered.rows_read;
  a->due.until_ms = now_ms;
  a->entered.until_ms = now_ms;
  int rc = ll_views_dates_due(r, &a->due, err);
  if (rc == 0)
    rc = ll_views_dates_entered(r, &a->entered, err);
  int emitted = 0;
  for (int i = 0; i < 2 && rc == 0; i++) {
    int e = check_dates(a, r, i == 0 ? &a->due : &a->entered, now_ms, err);
    rc = e < 0 ? e : 0;
    emitted += e > 0 ? e : 0;
  }
  a->more = rc == 0 && (!a->due.done || !a->entered.done);
  if (rc != 0) {
    copy_buf(&a->due.from, &due_from);
    copy_buf(&a->entered.from, &entered_from);
  }
  count_rows_read(a, a->due.rows_read + a->entered.rows_read - read_before);
  ll_dates_walk_clear(&a->due);
  ll_dates_walk_clear(&a->entered);
  ll_buf_free(&due_from);
  ll_buf_free(&entered_from);
  ll_views_reader_close(r);
  return rc == CHECK_STOPPED ? 0 : rc < 0 ? -1 : emitted;
}

int ll_alerts_round(ll_alerts *a, int64_t now_ms, ll_err *err) {
  a->more = false;
  int settled = settle_pending(a, err);
  if (settled != 0)
    return settled < 0 ? -1 : 0; /* stopping: nothing looked at */
  int followed = follow_published(a, err);
  if (followed != 0)
    return followed < 0 ? -1 : 0;
  if (holding(a))
    return 0; /* no filter yet: the walks wait where they are */
  if (skipped_served(a))
    ll_dates_walk_restart(&a->due);
  return walk_due(a, now_ms, err);
}

uint64_t ll_alerts_rows_read(ll_alerts *a) {
  return atomic_load(&a->rows_read);
}

int ll_alerts_run(ll_alerts *a, volatile sig_atomic_t *stop, ll_err *err) {
  a->stop = stop;
  while (!*stop) {
    ll_err e = {0};
    if (ll_alerts_round(a, ll_now_ms(), &e) < 0) {
      if (ll_rocks_latch_failed(&a->write_latch)) {
        *err = e;
        return -1;
      }
      ll_log(LL_WARN, "alerts", "round failed, trying again (%s): %s",
             ll_err_kind_name(e.kind), e.message);
    }
    /* A round that stopped at a walk's limit goes on at once. */
    for (int slept = 0;
         !a->more && slept < LL_ALERTS_SCAN_INTERVAL_MS && !*stop;
         slept += SLEEP_SLICE_MS)
      usleep(SLEEP_SLICE_MS * 1000);
  }
  return 0;
}

/* ---- listing ---- */

int ll_alerts_list(ll_alerts *a, uint64_t since, size_t limit, ll_alert **out,
                   size_t *n_out, ll_err *err) {
  *out = NULL;
  *n_out = 0;
  ll_buf k;
  ll_buf_init(&k);
  seq_key(&k, 's', since + 1);
  rocksdb_iterator_t *it = rocksdb_create_iterator(a->db, a->ro);
  bool corrupt = false;
  for (rocksdb_iter_seek(it, (const char *)k.data, k.len);
       rocksdb_iter_valid(it) && *n_out < limit; rocksdb_iter_next(it)) {
    size_t klen, vlen;
    const char *key = rocksdb_iter_key(it, &klen);
    const char *v = rocksdb_iter_value(it, &vlen);
    if (klen != 10 || memcmp(key, "s/", 2) != 0)
      break;
    *out = ll_xrealloc(*out, (*n_out + 1) * sizeof **out);
    if (!unpack_alert(ll_be64_decode(key + 2), v, vlen, &(*out)[*n_out])) {
      corrupt = true;
      break;
    }
    (*n_out)++;
  }
  ll_buf_free(&k);
  int rc = ll_rocks_iter_end(it, "alerts: listing", err);
  if (rc == 0 && corrupt)
    rc = ll_fail(err, LL_ERR_CORRUPT, "alerts: a corrupt record");
  if (rc != 0) {
    ll_alerts_free(*out, *n_out);
    *out = NULL;
    *n_out = 0;
  }
  return rc;
}

/* ---- listing by place ---- */

/* Append the t/ row under the iterator to *out; false when corrupt. */
static bool take_placed(rocksdb_iterator_t *it, ll_alert **out, size_t *n) {
  size_t klen, vlen;
  const char *key = rocksdb_iter_key(it, &klen);
  const char *v = rocksdb_iter_value(it, &vlen);
  *out = ll_xrealloc(*out, (*n + 1) * sizeof **out);
  ll_alert *al = &(*out)[*n];
  if (!unpack_alert(0, v, vlen, al))
    return false;
  al->partition = (int32_t)ll_be64_decode(key + 2);
  al->offset = (int64_t)ll_be64_decode(key + 10);
  (*n)++;
  return true;
}

/* The partition of the t/ row under the iterator; -1 past the t/ rows. */
static int64_t placed_partition(rocksdb_iterator_t *it) {
  if (!rocksdb_iter_valid(it))
    return -1;
  size_t klen;
  const char *key = rocksdb_iter_key(it, &klen);
  if (klen != PLACE_KEY_BYTES || memcmp(key, "t/", 2) != 0)
    return -1;
  uint64_t p = ll_be64_decode(key + 2);
  return p < LL_ALERTS_PARTITIONS_MAX ? (int64_t)p : -1;
}

/* Up to limit rows of each partition from its cursor offset on, grouped
 * by partition in offset order. */
static int read_placed(ll_alerts *a, const ll_alerts_cursor *c, size_t limit,
                       ll_alert **out, size_t *n, ll_err *err) {
  rocksdb_iterator_t *it = rocksdb_create_iterator(a->db, a->ro);
  ll_buf k;
  ll_buf_init(&k);
  bool corrupt = false;
  place_key(&k, 0, c->next[0]);
  rocksdb_iter_seek(it, (const char *)k.data, k.len);
  for (int64_t p = placed_partition(it); p >= 0 && !corrupt;
       p = placed_partition(it)) {
    size_t klen;
    int64_t offset = (int64_t)ll_be64_decode(rocksdb_iter_key(it, &klen) + 10);
    if (offset < c->next[p]) { /* before the cursor: skip to it */
      place_key(&k, (int32_t)p, c->next[p]);
      rocksdb_iter_seek(it, (const char *)k.data, k.len);
      continue;
    }
    size_t taken = 0;
    for (; placed_partition(it) == p && taken < limit; taken++) {
      if (!take_placed(it, out, n)) {
        corrupt = true;
        break;
      }
      rocksdb_iter_next(it);
    }
    if (!corrupt && taken == limit) { /* on to the next partition */
      if (p + 1 == LL_ALERTS_PARTITIONS_MAX)
        break;
      place_key(&k, (int32_t)(p + 1), c->next[p + 1]);
      rocksdb_iter_seek(it, (const char *)k.data, k.len);
    }
  }
  ll_buf_free(&k);
  int rc = ll_rocks_iter_end(it, "alerts: listing by place", err);
  return rc == 0 && corrupt
             ? ll_fail(err, LL_ERR_CORRUPT, "alerts: a corrupt record")
             : rc;
}

int ll_alerts_list_placed(ll_alerts *a, ll_alerts_cursor *c, size_t limit,
                          ll_alert **out, size_t *n_out, ll_err *err) {
  *out = NULL;
  *n_out = 0;
  size_t n = 0;
  if (read_placed(a, c, limit, out, &n, err) != 0) {
    ll_alerts_free(*out, n);
    *out = NULL;
    return -1;
  }
  *n_out = ll_alerts_merge_placed(*out, n, limit, c);
  return 0;
}

/* ---- open and close ---- */

static int load_next_seq(ll_alerts *a, ll_err *err) {
  ll_buf v;
  ll_buf_init(&v);
  bool found = false;
  int rc =
      ll_rocks_get(a->db, a->ro, "meta/next", 9, &v, &found, "alerts", err);
  a->next_seq = 1;
  if (rc == 0 && found && v.len == 8)
    a->next_seq = ll_be64_decode(v.data);
  else if (rc == 0 && found)
    rc = ll_fail(err, LL_ERR_CORRUPT, "alerts: corrupt meta/next");
  ll_buf_free(&v);
  return rc;
}

static int open_store(ll_alerts *a, const char *dir, ll_err *err) {
  a->options = rocksdb_options_create();
  rocksdb_options_set_create_if_missing(a->options, 1);
  ll_rocks_log_to_service(a->options, "alerts");
  a->wo = rocksdb_writeoptions_create();
  rocksdb_writeoptions_set_sync(a->wo, 1);
  a->ro = rocksdb_readoptions_create();
  a->db = ll_rocks_open(a->options, dir, "alerts", err);
  if (a->db == NULL)
    return -1;
  ll_rocks_format f = {.name = "alerts store",
                       .dir = dir,
                       .key = "meta/format",
                       .version = ALERTS_FORMAT,
                       .remedy = "; delete the directory to start over (every "
                                 "alert due then is emitted again)"};
  if (ll_rocks_check_format(a->db, a->ro, a->wo, &f, NULL, err) != 0)
    return -1;
  return load_next_seq(a, err);
}

ll_alerts *ll_alerts_open(const ll_alerts_opts *o, ll_err *err) {
  ll_alerts *a = ll_xcalloc(1, sizeof *a);
  a->views = o->views;
  a->codec = o->codec;
  a->cfg = o->cfg;
  a->brokers = ll_strdup(o->brokers);
  a->topic = ll_strdup(o->topic);
  pthread_mutex_init(&a->filter_mu, NULL);
  ll_rocks_latch_init(&a->write_latch);
  a->await_filter = o->await_filter;
  ll_dates_walk_init(&a->due, ROUND_ROWS_MAX);
  ll_dates_walk_init(&a->entered, ROUND_ROWS_MAX);
  if (open_store(a, o->dir, err) != 0) {
    ll_alerts_close(a);
    return NULL;
  }
  a->producer =
      ll_producer_new(o->cfg, o->brokers, LL_ALERTS_SEND_TIMEOUT_MS, err);
  if (a->producer == NULL) {
    ll_alerts_close(a);
    return NULL;
  }
  if (o->metrics) {
    ll_metric *m = ll_metrics_counter(
        o->metrics, "lotline_alerts_emitted_total",
        "LotDateReached alerts published to lots.alerts", NULL);
    a->m_emitted = m ? ll_metric_with(m) : NULL;
    m = ll_metrics_counter(o->metrics, "lotline_alerts_rows_read_total",
                           "Rows of the views' dates index the date alerts "
                           "worker read",
                           NULL);
    a->m_rows_read = m ? ll_metric_with(m) : NULL;
  }
  return a;
}

void ll_alerts_close(ll_alerts *a) {
  if (a == NULL)
    return;
  if (a->producer)
    ll_producer_free(a->producer);
  if (a->follower) {
    destroy_reader(a->follower);
  }
  pthread_mutex_destroy(&a->filter_mu);
  ll_rocks_latch_destroy(&a->write_latch);
  ll_dates_walk_free(&a->due);
  ll_dates_walk_free(&a->entered);
  skipped_clear(a);
  free(a->skipped);
  if (a->db)
    rocksdb_close(a->db);
  if (a->options)
    rocksdb_options_destroy(a->options);
  if (a->wo)
    rocksdb_writeoptions_destroy(a->wo);
  if (a->ro)
    rocksdb_readoptions_destroy(a->ro);
  free(a->brokers);
  free(a->topic);
  free(a);
}
