/* publisher.c — publishes the log to lots.events and lots.quantities.
 *
 * Where it lives: services/publisher/ holds the publisher (this file) and
 * its state (publisher_state.c). It follows the log as the projector
 * (projections/projector.c) does, and folds quantities with the views' own
 * fold (projections/quantity_fold.h), but it is not a read model: it
 * writes to Kafka, and projections/ is linked by readers (the HTTP API,
 * the CLI's offline commands) that must not pull a producer in. So it is a
 * library of its own, started by lotlined (services/lotlined/main.c) like
 * the command consumer (services/command/).
 *
 * The publisher follows the log store like the projector does (catch up,
 * read the entries after its position) and publishes each run of entries
 * (at most publish.batch.max.events) as ONE Kafka transaction:
 *   for each entry, in log order, to the partition of its task (the input
 *   partition it was decided from: the topics are co-partitioned):
 *     lots.events      key product_id, value = the event in Avro
 *                      single-object encoding (current schema), headers
 *                      lotline-position = the task position in decimal
 *                      (the same on every instance that decides the task)
 *                      and lotline-log-position = the position in this
 *                      instance's log (for reading back, below)
 *     lots.quantities  for a StockMoved, two records, source then
 *                      destination: key product_id "\x1f" lot_id "\x1f"
 *                      location id (a lot is (product_id, lot_id)), value =
 *                      QuantityChanged with the quantity AFTER the move,
 *                      same header
 * then commits the transaction, then stores locally, in one synced RocksDB
 * write (<data>/publisher, publisher_state.c): the quantities after the run,
 * the run's last position, and per partition the offset after the last
 * record it wrote there. The quantities are the publisher's own: the new
 * quantity published for position P is the one after P, whatever the views
 * are doing.
 *
 * The producer is transactional (transactional.id = publish.transactional.id,
 * default "<group.id>-publisher": one publisher per deployment) and so
 * idempotent: within a partition, records land once each and in the order
 * produced. Topics keep per-partition order, so every partition of both
 * topics carries its task's positions in increasing order.
 *
 * Restart. At start (and after a producer had to be replaced) the publisher
 * calls init_transactions(), which fences any earlier instance and, on a
 * real Kafka cluster, aborts its unfinished transaction. Then it looks up
 * its record for this cluster (keyed by cluster id, like the command
 * consumer's offsets: a new, empty cluster gets the whole log) and reads
 * back, with isolation.level=read_committed, every record written after the
 * stored offsets: that is the transaction that was in doubt when the last
 * instance stopped. It resumes after the longest run of positions whose
 * records are ALL there (the event, and for a move both quantity records):
 *   - killed after the Kafka commit but before the local write: the whole
 *     transaction is found, nothing is published twice;
 *   - killed mid-transaction on a real cluster: the transaction was aborted,
 *     read_committed finds nothing, it is published again — consumers with
 *     read_committed see it once;
 *   - the embedded broker (librdkafka's mock cluster) and read_uncommitted
 *     consumers see records of an unfinished or aborted transaction. The
 *     scan finds the delivered prefix, resumes after it, and the records of
 *     that transaction past the prefix come a second time.
 * Never a skip: a position is only counted as published when every one of
 * its records was read back.
 *
 * THE GUARANTEE (docs/streams.md says the same for consumers):
 *   1. Every log position appears in lots.events, and every quantity change
 *      in lots.quantities, at least once; none is skipped across restarts.
 *   2. Within a partition, positions first appear in increasing order.
 *   3. A repeat is byte-identical to the first copy (key, value, header), on
 *      the same partition, later, with a lotline-position not above the
 *      highest one already seen on that partition. Repeats come only from a
 *      transaction that was unfinished or aborted (crash, kill -9, broker
 *      error) and visible to the consumer: never from a clean stop, never
 *      from a crash between commit and the local write, never to
 *      read_committed consumers of a real Kafka cluster. One such event
 *      repeats at most one transaction (publish.batch.max.events positions).
 * So a consumer that skips records whose lotline-position is not above the
 * last it saw on that partition gets each record exactly once, in order.
 *
 * Broker errors are retried: abortable transaction errors abort and redo the
 * run; a fatal producer error replaces the producer (and recovers as at
 * start). Fencing by another live publisher, a failing log or state store,
 * and a log shorter than what was published stop the publisher. */
#include "publisher.h"

#include <assert.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ll_buf.h"
#include "ll_logging.h"
#include "ll_mem.h"
#include "ll_time.h"
#include "ll_types.h"
#include "publisher_state.h"

#define PUB_IDLE_POLL_MS 5
#define PUB_RETRY_BACKOFF_MS 1000
#define PUB_INIT_TIMEOUT_MS 10000
#define PUB_METADATA_TIMEOUT_MS 5000
#define PUB_CLUSTER_ID_TIMEOUT_MS 2000
#define PUB_SCAN_TIMEOUT_MS 30000
#define PUB_SCAN_POLL_MS 100
#define PUB_QUEUE_FULL_POLL_MS 50
#define PUB_TRANSACTION_TIMEOUT_MS "60000"
#define PUB_LINGER_MS "5"
#define PUB_POSITION_STR_MAX 24

/* What one attempt came to. */
typedef enum step_result {
  STEP_OK = 0,    /* progress (or idle) */
  STEP_AGAIN,     /* transaction aborted: redo the same run */
  STEP_RECONNECT, /* drop the producer, recover with a new one */
  STEP_FATAL,     /* stop with err */
  STEP_CRASH,     /* test hook: stop as if killed */
} step_result;

struct ll_publisher {
  ll_publisher_opts o;
  ll_publisher_stats stats;
  pub_state *state;
  rd_kafka_t *rk; /* NULL until connected */
  char *cluster_id;
  pub_cluster rec;   /* where we stand in this cluster (stored copy) */
  ll_entry *entries; /* batch_max_events slots */
  /* The transaction in flight: delivery reports land here. */
  int64_t txn_next[PUB_TOPICS][PUB_PARTITIONS_MAX];
  rd_kafka_resp_err_t txn_delivery_err;
  /* Recovery: each partition's low and high watermark, and which ones the
   * read-back has finished. */
  int64_t lo[PUB_TOPICS][PUB_PARTITIONS_MAX];
  int64_t hi[PUB_TOPICS][PUB_PARTITIONS_MAX];
  bool scanned[PUB_TOPICS][PUB_PARTITIONS_MAX];
  ll_buf key, value;
  bool crashed; /* the test hook fired: leave everything as it is */
};

/* ---- small helpers ---- */

static void sleep_ms(volatile sig_atomic_t *stop, int ms) {
  for (int waited = 0; waited < ms && !*stop; waited += 50)
    usleep(50 * 1000);
}

static int topic_index(const ll_publisher *p, const char *topic) {
  return strcmp(topic, p->o.topics.events) == 0 ? PUB_TOPIC_EVENTS
                                                : PUB_TOPIC_QUANTITIES;
}

static const char *topic_name(const ll_publisher *p, int t) {
  return t == PUB_TOPIC_EVENTS ? p->o.topics.events : p->o.topics.quantities;
}

static void release_entries(ll_publisher *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    ll_entry_free(&p->entries[i]);
}

static bool parse_position(const void *v, size_t n, uint64_t *out) {
  if (v == NULL || n == 0 || n >= PUB_POSITION_STR_MAX)
    return false;
  uint64_t x = 0;
  for (size_t i = 0; i < n; i++) {
    char c = ((const char *)v)[i];
    if (c < '0' || c > '9' || x > (UINT64_MAX - 9) / 10)
      return false;
    x = x * 10 + (uint64_t)(c - '0');
  }
  *out = x;
  return true;
}

/* product_id "\x1f" lot_id "\x1f" location: the lots.quantities key. */
static void quantity_key(ll_buf *key, const char *product_id,
                         const char *lot_id, const char *loc) {
  ll_buf_reset(key);
  ll_buf_put(key, product_id, strlen(product_id));
  ll_buf_put_u8(key, 0x1f);
  ll_buf_put(key, lot_id, strlen(lot_id));
  ll_buf_put_u8(key, 0x1f);
  ll_buf_put(key, loc, strlen(loc));
}

/* ---- the producer ---- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque) {
  (void)rk;
  ll_publisher *p = opaque;
  if (m->err) {
    if (!p->txn_delivery_err)
      p->txn_delivery_err = m->err;
    return;
  }
  int t = topic_index(p, rd_kafka_topic_name(m->rkt));
  if (m->partition >= 0 && m->partition < PUB_PARTITIONS_MAX &&
      m->offset + 1 > p->txn_next[t][m->partition])
    p->txn_next[t][m->partition] = m->offset + 1;
}

static rd_kafka_t *new_producer(ll_publisher *p, ll_err *err) {
  char errstr[512];
  const char *settings[][2] = {
      {"bootstrap.servers", p->o.brokers},
      {"transactional.id", p->o.transactional_id},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"linger.ms", PUB_LINGER_MS},
      {"transaction.timeout.ms", PUB_TRANSACTION_TIMEOUT_MS},
      {"client.id", "lotline-publisher"},
  };
  rd_kafka_conf_t *conf =
      ll_kafka_conf_new(settings, sizeof settings / sizeof settings[0],
                        p->o.cfg, "publisher", err);
  if (conf == NULL)
    return NULL;
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, p);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (rk == NULL)
    ll_fail(err, LL_ERR_KAFKA, "cannot create the publisher's producer: %s",
            errstr);
  return rk;
}

static void drop_producer(ll_publisher *p) {
  if (p->rk != NULL)
    rd_kafka_destroy(p->rk);
  p->rk = NULL;
  free(p->cluster_id);
  p->cluster_id = NULL;
}

static bool fenced(rd_kafka_t *rk, const rd_kafka_error_t *e) {
  rd_kafka_resp_err_t code = rd_kafka_error_code(e);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    char buf[256];
    code = rd_kafka_fatal_error(rk, buf, sizeof buf);
  }
  return code == RD_KAFKA_RESP_ERR__FENCED ||
         code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
         code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
}

/* Classify a transactional API error; destroys it. */
typedef enum txn_class {
  TXN_DONE,
  TXN_RETRY,   /* retriable: call again */
  TXN_ABORT,   /* abort the transaction and redo the run */
  TXN_RESTART, /* this producer is done for */
  TXN_FENCED,  /* another publisher took over */
} txn_class;

static txn_class classify(ll_publisher *p, rd_kafka_error_t *e, const char *op,
                          ll_err *err) {
  if (e == NULL)
    return TXN_DONE;
  txn_class c;
  if (rd_kafka_error_is_fatal(e))
    c = fenced(p->rk, e) ? TXN_FENCED : TXN_RESTART;
  else if (rd_kafka_error_txn_requires_abort(e))
    c = TXN_ABORT;
  else if (rd_kafka_error_is_retriable(e))
    c = TXN_RETRY;
  else
    c = TXN_RESTART;
  ll_fail(err, LL_ERR_KAFKA, "publisher: %s: %s", op, rd_kafka_error_string(e));
  rd_kafka_error_destroy(e);
  return c;
}

static step_result fenced_result(ll_publisher *p, ll_err *err) {
  ll_fail(err, LL_ERR_BUSY,
          "publisher: another publisher with transactional.id '%s' took "
          "over (two deployments with the same group.id on one cluster? "
          "set publish.transactional.id)",
          p->o.transactional_id);
  return STEP_FATAL;
}

static int topic_partitions(rd_kafka_t *rk, const char *topic, int32_t *n,
                            ll_err *err) {
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t e =
      rd_kafka_metadata(rk, 0, rkt, &md, PUB_METADATA_TIMEOUT_MS);
  int rc = 0;
  if (e)
    rc = ll_fail(err, LL_ERR_KAFKA, "publisher: metadata of %s: %s", topic,
                 rd_kafka_err2str(e));
  else if (md->topic_cnt != 1 || md->topics[0].err ||
           md->topics[0].partition_cnt <= 0)
    rc = ll_fail(err, LL_ERR_CONFIG,
                 "publisher: topic %s is not available (%s): create it", topic,
                 md->topic_cnt == 1 ? rd_kafka_err2str(md->topics[0].err)
                                    : "no metadata");
  else
    *n = md->topics[0].partition_cnt;
  if (md != NULL)
    rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(rkt);
  return rc;
}

/* ---- bringing the quantities to a position ---- */

/* Replay log entries into the quantities without publishing, until they
 * stand at `target`. A state ahead of the target is rebuilt from scratch. */
static step_result replay_to(ll_publisher *p, uint64_t target,
                             volatile sig_atomic_t *stop, ll_err *err) {
  if (pub_state_position(p->state) > target) {
    ll_log(LL_INFO, "publish",
           "rebuilding the publisher's quantities from the log up to "
           "position %" PRIu64,
           target);
    if (pub_state_reset(p->state, err) != 0)
      return STEP_FATAL;
  }
  while (pub_state_position(p->state) < target && !*stop) {
    uint64_t from = pub_state_position(p->state) + 1;
    uint64_t left = target - from + 1;
    size_t max = left < (uint64_t)p->o.batch_max_events
                     ? (size_t)left
                     : (size_t)p->o.batch_max_events;
    size_t n = 0;
    if (ll_store_read_log(p->o.log, from, p->entries, max, &n, err) != 0)
      return STEP_FATAL;
    if (n == 0) {
      ll_fail(err, LL_ERR_CORRUPT,
              "publisher: the log ends at %" PRIu64 ", before position %" PRIu64
              " the publisher must reach",
              ll_store_last_position(p->o.log), target);
      return STEP_FATAL;
    }
    pub_run *run = pub_run_begin(p->state);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
      rc = pub_run_apply(run, &p->entries[i], NULL, NULL, err);
    release_entries(p, n);
    if (rc != 0) {
      pub_run_abort(run);
      return STEP_FATAL;
    }
    if (pub_run_commit(run, NULL, NULL, false, err) != 0)
      return STEP_FATAL;
  }
  return STEP_OK;
}

/* ---- reading back the transaction in doubt ---- */

typedef struct scan_found {
  bool event;
  bool from, to;
} scan_found;

static rd_kafka_t *new_scanner(ll_publisher *p, ll_err *err) {
  char errstr[512];
  char group[PUB_CLUSTER_ID_MAX + 64];
  snprintf(group, sizeof group, "%s-scan", p->o.transactional_id);
  const char *settings[][2] = {
      {"bootstrap.servers", p->o.brokers},
      {"group.id", group},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"isolation.level", "read_committed"},
      {"enable.partition.eof", "true"},
      {"client.id", "lotline-publisher-scan"},
  };
  rd_kafka_conf_t *conf =
      ll_kafka_conf_new(settings, sizeof settings / sizeof settings[0],
                        p->o.cfg, "publisher scan", err);
  if (conf == NULL)
    return NULL;
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (rk == NULL)
    ll_fail(err, LL_ERR_KAFKA,
            "cannot create the publisher's scan consumer: %s", errstr);
  return rk;
}

/* Note one record read back: which of the expected records it is. */
static void scan_note(ll_publisher *p, const rd_kafka_message_t *m, int t,
                      uint64_t base, size_t n, scan_found *found) {
  rd_kafka_headers_t *hdrs = NULL;
  const void *v = NULL;
  size_t vlen = 0;
  uint64_t pos = 0;
  if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      rd_kafka_header_get_last(hdrs, LL_LOG_POSITION_HEADER, &v, &vlen) !=
          RD_KAFKA_RESP_ERR_NO_ERROR ||
      !parse_position(v, vlen, &pos) || pos <= base || pos > base + n)
    return;
  size_t i = (size_t)(pos - base - 1);
  const ll_event *ev = &p->entries[i].event;
  if (t == PUB_TOPIC_EVENTS) {
    found[i].event = true;
    return;
  }
  if (ev->type != LL_EV_STOCK_MOVED || m->key == NULL)
    return;
  quantity_key(&p->key, ev->product_id, ev->lot_id, ev->from.id);
  if (m->key_len == p->key.len && memcmp(m->key, p->key.data, p->key.len) == 0)
    found[i].from = true;
  quantity_key(&p->key, ev->product_id, ev->lot_id, ev->to.id);
  if (m->key_len == p->key.len && memcmp(m->key, p->key.data, p->key.len) == 0)
    found[i].to = true;
}

/* Read every record after the stored offsets up to the partitions' ends
 * (hi), note which records of positions base+1..base+n are there. Returns
 * the number of records read, or -1 on a consumer error. A timeout ends the
 * scan early: less found means more published again, never a skip. */
static long scan_tail(ll_publisher *p, rd_kafka_t *c, uint64_t base, size_t n,
                      scan_found *found, ll_err *err) {
  rd_kafka_topic_partition_list_t *list =
      rd_kafka_topic_partition_list_new(PUB_TOPICS * 16);
  int pending = 0;
  int64_t(*hi)[PUB_PARTITIONS_MAX] = p->hi;
  bool(*done)[PUB_PARTITIONS_MAX] = p->scanned;
  memset(p->scanned, 0, sizeof p->scanned);
  for (int t = 0; t < PUB_TOPICS; t++) {
    for (int32_t q = 0; q < p->rec.partitions[t]; q++) {
      int64_t start = p->rec.next_offset[t][q];
      if (start < p->lo[t][q])
        start = p->lo[t][q]; /* unknown (-1), or trimmed by retention */
      if (start >= hi[t][q]) {
        done[t][q] = true;
        continue;
      }
      rd_kafka_topic_partition_list_add(list, topic_name(p, t), q)->offset =
          start;
      pending++;
    }
  }
  long read = 0;
  if (pending == 0) {
    rd_kafka_topic_partition_list_destroy(list);
    return 0;
  }
  rd_kafka_resp_err_t e = rd_kafka_assign(c, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (e) {
    ll_fail(err, LL_ERR_KAFKA, "publisher: cannot read back %s: %s",
            p->o.topics.events, rd_kafka_err2str(e));
    return -1;
  }
  uint64_t deadline = ll_mono_ns() + (uint64_t)PUB_SCAN_TIMEOUT_MS * 1000000ULL;
  while (pending > 0 && ll_mono_ns() < deadline) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c, PUB_SCAN_POLL_MS);
    if (m == NULL)
      continue;
    int t = m->rkt ? topic_index(p, rd_kafka_topic_name(m->rkt)) : -1;
    bool in_range =
        t >= 0 && m->partition >= 0 && m->partition < p->rec.partitions[t];
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (in_range && !done[t][m->partition]) {
        done[t][m->partition] = true;
        pending--;
      }
    } else if (m->err) {
      ll_log(LL_WARN, "publish", "reading back the last transaction: %s",
             rd_kafka_message_errstr(m));
    } else if (in_range) {
      read++;
      scan_note(p, m, t, base, n, found);
      if (m->offset + 1 >= hi[t][m->partition] && !done[t][m->partition]) {
        done[t][m->partition] = true;
        pending--;
      }
    }
    rd_kafka_message_destroy(m);
  }
  if (pending > 0)
    ll_log(LL_WARN, "publish",
           "reading back the last transaction timed out with %d "
           "partition(s) unread: publishing their positions again",
           pending);
  rd_kafka_assign(c, NULL);
  return read;
}

/* ---- recovery: where to resume in this cluster ---- */

/* Both topics' partition counts, within what the publisher supports. */
static step_result count_partitions(ll_publisher *p, int32_t parts[PUB_TOPICS],
                                    ll_err *err) {
  for (int t = 0; t < PUB_TOPICS; t++) {
    if (topic_partitions(p->rk, topic_name(p, t), &parts[t], err) != 0)
      return STEP_RECONNECT;
    if (parts[t] > PUB_PARTITIONS_MAX) {
      ll_fail(err, LL_ERR_CONFIG,
              "publisher: %s has %d partitions, more than the %d the "
              "publisher supports",
              topic_name(p, t), (int)parts[t], PUB_PARTITIONS_MAX);
      return STEP_FATAL;
    }
  }
  return STEP_OK;
}

/* What this cluster's record says was published must be in the log:
 * a log that ends before it is another log. */
static step_result load_cluster_record(ll_publisher *p, pub_cluster *stored,
                                       ll_err *err) {
  if (pub_state_get_cluster(p->state, p->cluster_id, stored, err) != 0)
    return STEP_FATAL;
  if (ll_store_catch_up(p->o.log, err) != 0)
    return STEP_FATAL;
  uint64_t log_end = ll_store_last_position(p->o.log);
  if (stored->found && stored->position > log_end) {
    /* The counter may trail the entries by one commit (see step()). */
    size_t n = 0;
    if (ll_store_read_log(p->o.log, stored->position, p->entries, 1, &n, err) !=
        0)
      return STEP_FATAL;
    release_entries(p, n);
    if (n == 1)
      log_end = stored->position;
  }
  if (stored->found && stored->position > log_end) {
    ll_fail(err, LL_ERR_CORRUPT,
            "publisher: cluster %s has the log published up to position "
            "%" PRIu64 " but the log ends at %" PRIu64
            ": this is another log (restored backup?); publish it to a "
            "new cluster or other topics",
            p->cluster_id, stored->position, log_end);
    return STEP_FATAL;
  }
  return STEP_OK;
}

/* Each partition's low and high watermark into p->lo and p->hi. */
static step_result read_watermarks(ll_publisher *p, rd_kafka_t *c,
                                   const int32_t parts[PUB_TOPICS],
                                   ll_err *err) {
  for (int t = 0; t < PUB_TOPICS; t++) {
    for (int32_t q = 0; q < parts[t]; q++) {
      rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
          c, topic_name(p, t), q, &p->lo[t][q], &p->hi[t][q],
          PUB_METADATA_TIMEOUT_MS);
      if (e) {
        ll_fail(err, LL_ERR_KAFKA, "publisher: watermarks of %s [%d]: %s",
                topic_name(p, t), (int)q, rd_kafka_err2str(e));
        return STEP_RECONNECT;
      }
    }
  }
  return STEP_OK;
}

/* A stored offset past a partition's end means the topic was recreated
 * or truncated: what we published there is gone. */
static bool record_usable(const ll_publisher *p, const pub_cluster *stored,
                          const int32_t parts[PUB_TOPICS]) {
  if (!stored->found)
    return false;
  for (int t = 0; t < PUB_TOPICS; t++) {
    if (stored->partitions[t] > parts[t])
      return false;
    for (int32_t q = 0; q < stored->partitions[t]; q++)
      if (stored->next_offset[t][q] > p->hi[t][q])
        return false;
  }
  return true;
}

/* The longest run of positions after base whose records are all in
 * Kafka (the event, and for a move both quantity records); logs what the
 * read-back found. */
static size_t count_complete(ll_publisher *p, uint64_t base, size_t n,
                             const scan_found *found, long read) {
  size_t done = 0;
  while (done < n && found[done].event &&
         (p->entries[done].event.type != LL_EV_STOCK_MOVED ||
          (found[done].from && found[done].to)))
    done++;
  uint64_t resume = base + done;
  if (read > 0)
    ll_log(LL_INFO, "publish",
           "read back %ld record(s) after the stored position %" PRIu64
           ": positions up to %" PRIu64 " are complete in Kafka",
           read, base, resume);
  atomic_fetch_add(&p->stats.recovered, (long long)done);
  /* Records past the complete prefix will come again. */
  size_t visible = 0;
  for (size_t i = done; i < n; i++)
    visible += found[i].event || found[i].from || found[i].to;
  if (visible > 0) {
    ll_log(LL_WARN, "publish",
           "%zu position(s) after %" PRIu64
           " are partly in Kafka (an unfinished transaction the broker "
           "did not abort): they are published again",
           visible, resume);
    atomic_fetch_add(&p->stats.republished, (long long)visible);
  }
  return done;
}

/* Continue from the stored record: read back what was written after it
 * (the transaction in doubt) and resume after its complete prefix. */
static step_result resume_from_record(ll_publisher *p, rd_kafka_t *c,
                                      const pub_cluster *stored,
                                      const int32_t parts[PUB_TOPICS],
                                      uint64_t *resume, ll_err *err) {
  p->rec = *stored;
  for (int t = 0; t < PUB_TOPICS; t++) {
    for (int32_t q = stored->partitions[t]; q < parts[t]; q++)
      p->rec.next_offset[t][q] = -1; /* added since: read from the start */
    p->rec.partitions[t] = parts[t];
  }
  size_t n = 0;
  uint64_t base = stored->position;
  if (ll_store_read_log(p->o.log, base + 1, p->entries,
                        (size_t)p->o.batch_max_events, &n, err) != 0)
    return STEP_FATAL;
  scan_found *found = ll_xcalloc(n ? n : 1, sizeof *found);
  long read = n ? scan_tail(p, c, base, n, found, err) : 0;
  step_result result = STEP_OK;
  if (read < 0)
    result = STEP_RECONNECT;
  else
    *resume = base + count_complete(p, base, n, found, read);
  free(found);
  release_entries(p, n);
  return result;
}

/* No usable record: publish the whole log again, and say why. */
static void start_over(ll_publisher *p, const pub_cluster *stored,
                       const int32_t parts[PUB_TOPICS]) {
  memset(&p->rec, 0, sizeof p->rec);
  long existing = 0;
  for (int32_t q = 0; q < parts[PUB_TOPIC_EVENTS]; q++)
    existing += (long)(p->hi[PUB_TOPIC_EVENTS][q] - p->lo[PUB_TOPIC_EVENTS][q]);
  if (stored->found)
    ll_log(LL_WARN, "publish",
           "%s in cluster %s no longer holds what was published there "
           "(topic recreated?): publishing the whole log again",
           p->o.topics.events, p->cluster_id);
  else if (existing > 0)
    ll_log(LL_WARN, "publish",
           "%s in cluster %s already holds %ld record(s) this publisher "
           "has no record of writing: publishing the whole log from "
           "position 1 (consumers will see those positions again)",
           p->o.topics.events, p->cluster_id, existing);
  else
    ll_log(LL_INFO, "publish",
           "first publication to cluster %s: publishing the log from "
           "position 1",
           p->cluster_id);
}

/* Where to resume, from the record and the read-back, with a scan
 * consumer of its own. */
static step_result find_resume(ll_publisher *p, const pub_cluster *stored,
                               const int32_t parts[PUB_TOPICS],
                               uint64_t *resume, ll_err *err) {
  rd_kafka_t *c = new_scanner(p, err);
  if (c == NULL)
    return STEP_FATAL;
  *resume = 0;
  step_result result = read_watermarks(p, c, parts, err);
  if (result == STEP_OK && record_usable(p, stored, parts))
    result = resume_from_record(p, c, stored, parts, resume, err);
  else if (result == STEP_OK)
    start_over(p, stored, parts);
  rd_kafka_consumer_close(c);
  rd_kafka_destroy(c);
  return result;
}

/* Store the new record (from here on, whatever we find after hi was
 * written by us) once the quantities stand at resume. */
static step_result settle_at(ll_publisher *p, const int32_t parts[PUB_TOPICS],
                             uint64_t resume, volatile sig_atomic_t *stop,
                             ll_err *err) {
  p->rec.found = true;
  p->rec.position = resume;
  for (int t = 0; t < PUB_TOPICS; t++) {
    p->rec.partitions[t] = parts[t];
    for (int32_t q = 0; q < parts[t]; q++)
      p->rec.next_offset[t][q] = p->hi[t][q];
  }
  step_result result = replay_to(p, resume, stop, err);
  if (result != STEP_OK || *stop)
    return result;
  pub_run *run = pub_run_begin(p->state);
  if (pub_run_commit(run, p->cluster_id, &p->rec, true, err) != 0)
    return STEP_FATAL;
  atomic_store(&p->stats.position, resume);
  ll_log(LL_INFO, "publish",
         "publishing to %s and %s from log position %" PRIu64
         " (transactional.id %s)",
         p->o.topics.events, p->o.topics.quantities, resume + 1,
         p->o.transactional_id);
  return STEP_OK;
}

/* Recovery, in phases: the topics' shapes, this cluster's record checked
 * against the log, where to resume (read back the transaction in doubt),
 * then the quantities brought there and the new record stored. */
static step_result recover(ll_publisher *p, volatile sig_atomic_t *stop,
                           ll_err *err) {
  int32_t parts[PUB_TOPICS];
  pub_cluster stored;
  uint64_t resume = 0;
  step_result r = count_partitions(p, parts, err);
  if (r == STEP_OK)
    r = load_cluster_record(p, &stored, err);
  if (r == STEP_OK)
    r = find_resume(p, &stored, parts, &resume, err);
  if (r == STEP_OK)
    r = settle_at(p, parts, resume, stop, err);
  return r;
}

static step_result pub_connect(ll_publisher *p, volatile sig_atomic_t *stop,
                               ll_err *err) {
  assert(p->rk == NULL);
  p->rk = new_producer(p, err);
  if (p->rk == NULL)
    return STEP_FATAL;
  for (;;) {
    if (*stop)
      return STEP_RECONNECT;
    txn_class c =
        classify(p, rd_kafka_init_transactions(p->rk, PUB_INIT_TIMEOUT_MS),
                 "init_transactions", err);
    if (c == TXN_DONE)
      break;
    if (c == TXN_FENCED)
      return fenced_result(p, err);
    if (c != TXN_RETRY)
      return STEP_RECONNECT;
    ll_log(LL_WARN, "publish", "%s: %s (retrying)", ll_err_kind_name(err->kind),
           err->message);
  }
  while (!*stop && p->cluster_id == NULL)
    p->cluster_id = rd_kafka_clusterid(p->rk, PUB_CLUSTER_ID_TIMEOUT_MS);
  if (p->cluster_id == NULL)
    return STEP_RECONNECT;
  if (strlen(p->cluster_id) > PUB_CLUSTER_ID_MAX) {
    ll_fail(err, LL_ERR_FULL, "publisher: cluster id %.64s... is too long",
            p->cluster_id);
    return STEP_FATAL;
  }
  return recover(p, stop, err);
}

/* ---- one transaction ---- */

/* An entry's two positions as header values. */
typedef struct pub_positions {
  char task[PUB_POSITION_STR_MAX];
  char log[PUB_POSITION_STR_MAX];
  int32_t partition; /* the task's, or RD_KAFKA_PARTITION_UA */
} pub_positions;

static void entry_positions(const ll_entry *e, pub_positions *out) {
  snprintf(out->task, sizeof out->task, "%" PRIu64, e->task_position);
  snprintf(out->log, sizeof out->log, "%" PRIu64, e->position);
  /* Entries not from Kafka (partition -1) exist only in tests. */
  out->partition = e->partition >= 0 ? e->partition : RD_KAFKA_PARTITION_UA;
}

static step_result produce(ll_publisher *p, const char *topic,
                           const ll_buf *key, const ll_buf *value,
                           const pub_positions *at, ll_err *err) {
  for (;;) {
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(at->partition),
        RD_KAFKA_V_KEY((void *)key->data, key->len),
        RD_KAFKA_V_VALUE((void *)value->data, value->len),
        RD_KAFKA_V_HEADER(LL_POSITION_HEADER, at->task, -1),
        RD_KAFKA_V_HEADER(LL_LOG_POSITION_HEADER, at->log, -1),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
      return STEP_OK;
    if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      ll_fail(err, LL_ERR_KAFKA, "publisher: cannot queue a record for %s: %s",
              topic, rd_kafka_err2str(e));
      return e == RD_KAFKA_RESP_ERR__FATAL ? STEP_RECONNECT : STEP_AGAIN;
    }
    rd_kafka_poll(p->rk, PUB_QUEUE_FULL_POLL_MS);
  }
}

static step_result produce_quantity(ll_publisher *p, const ll_entry *e,
                                    const ll_location *loc, int64_t after,
                                    const pub_positions *at, ll_err *err) {
  ll_quantity_changed q = {.lot_id = e->event.lot_id,
                           .product_id = e->event.product_id,
                           .location = loc->id,
                           .usage = loc->usage,
                           .quantity_micro = after,
                           .position = (int64_t)e->task_position,
                           .occurred_at_ms = e->event.occurred_at_ms};
  ll_buf_reset(&p->value);
  if (ll_codec_encode_quantity(p->o.codec, &q, &p->value, err) != 0)
    return STEP_FATAL;
  quantity_key(&p->key, e->event.product_id, e->event.lot_id, loc->id);
  return produce(p, p->o.topics.quantities, &p->key, &p->value, at, err);
}

/* Stage one entry in the run and queue its records. */
static step_result produce_entry(ll_publisher *p, pub_run *run,
                                 const ll_entry *e, ll_err *err) {
  pub_positions at;
  entry_positions(e, &at);
  int64_t from_after = 0, to_after = 0;
  if (pub_run_apply(run, e, &from_after, &to_after, err) != 0)
    return STEP_FATAL;
  ll_buf_reset(&p->value);
  if (ll_codec_encode(p->o.codec, &e->event, &p->value, err) != 0)
    return STEP_FATAL;
  ll_buf_reset(&p->key);
  ll_buf_put(&p->key, e->event.product_id, strlen(e->event.product_id));
  step_result r = produce(p, p->o.topics.events, &p->key, &p->value, &at, err);
  if (r == STEP_OK && e->event.type == LL_EV_STOCK_MOVED) {
    r = produce_quantity(p, e, &e->event.from, from_after, &at, err);
    if (r == STEP_OK)
      r = produce_quantity(p, e, &e->event.to, to_after, &at, err);
  }
  return r;
}

static step_result abort_transaction(ll_publisher *p, ll_err *err) {
  ll_err e2;
  for (;;) {
    txn_class c = classify(p, rd_kafka_abort_transaction(p->rk, -1),
                           "abort_transaction", &e2);
    if (c == TXN_DONE)
      return STEP_AGAIN;
    if (c == TXN_FENCED)
      return fenced_result(p, err);
    if (c != TXN_RETRY) {
      ll_log(LL_WARN, "publish", "%s: %s", ll_err_kind_name(e2.kind),
             e2.message);
      return STEP_RECONNECT;
    }
  }
}

static step_result commit_transaction(ll_publisher *p, ll_err *err) {
  for (;;) {
    txn_class c = classify(p, rd_kafka_commit_transaction(p->rk, -1),
                           "commit_transaction", err);
    switch (c) {
    case TXN_DONE:
      return STEP_OK;
    case TXN_RETRY:
      continue; /* resumable: the commit goes on in the background */
    case TXN_ABORT:
      ll_log(LL_WARN, "publish", "%s: %s: aborting and retrying",
             ll_err_kind_name(err->kind), err->message);
      return abort_transaction(p, err);
    case TXN_FENCED:
      return fenced_result(p, err);
    case TXN_RESTART:
    default:
      return STEP_RECONNECT;
    }
  }
}

static bool crash_here(ll_publisher *p, ll_publisher_point point,
                       uint64_t last) {
  if (p->o.crash == NULL || !p->o.crash(p->o.crash_ctx, point, last))
    return false;
  p->crashed = true;
  return true;
}

/* Publish entries[0..n) as one transaction, then store where we stand. */
static step_result publish_run(ll_publisher *p, size_t n, ll_err *err) {
  assert(n > 0 && p->rec.position == pub_state_position(p->state));
  uint64_t last = p->entries[n - 1].position;
  for (int t = 0; t < PUB_TOPICS; t++)
    for (int32_t q = 0; q < p->rec.partitions[t]; q++)
      p->txn_next[t][q] = -1;
  p->txn_delivery_err = RD_KAFKA_RESP_ERR_NO_ERROR;

  uint64_t t0 = ll_mono_ns();
  txn_class c =
      classify(p, rd_kafka_begin_transaction(p->rk), "begin_transaction", err);
  if (c == TXN_FENCED)
    return fenced_result(p, err);
  if (c != TXN_DONE)
    return STEP_RECONNECT;
  pub_run *run = pub_run_begin(p->state);
  step_result r = STEP_OK;
  for (size_t i = 0; i < n && r == STEP_OK; i++) {
    if (p->o.crash != NULL && n >= 2 && i == n / 2) {
      rd_kafka_flush(p->rk, PUB_INIT_TIMEOUT_MS);
      if (crash_here(p, LL_PUB_MID_TRANSACTION, last))
        r = STEP_CRASH;
    }
    if (r == STEP_OK)
      r = produce_entry(p, run, &p->entries[i], err);
  }
  uint64_t t1 = ll_mono_ns();
  if (r == STEP_OK)
    r = commit_transaction(p, err);
  else if (r == STEP_AGAIN)
    r = abort_transaction(p, err);
  uint64_t t2 = ll_mono_ns();
  if (r == STEP_OK && crash_here(p, LL_PUB_AFTER_COMMIT, last))
    r = STEP_CRASH;
  if (r != STEP_OK) {
    pub_run_abort(run);
    return r;
  }
  /* Committed: every record was delivered, the reports are in. */
  assert(p->txn_delivery_err == RD_KAFKA_RESP_ERR_NO_ERROR);
  p->rec.position = last;
  for (int t = 0; t < PUB_TOPICS; t++)
    for (int32_t q = 0; q < p->rec.partitions[t]; q++)
      if (p->txn_next[t][q] > p->rec.next_offset[t][q])
        p->rec.next_offset[t][q] = p->txn_next[t][q];
  if (pub_run_commit(run, p->cluster_id, &p->rec, true, err) != 0)
    return STEP_FATAL;
  ll_log(LL_DEBUG, "publish",
         "positions %" PRIu64 "..%" PRIu64 ": produce %.1f ms, commit %.1f "
         "ms, store %.1f ms",
         p->entries[0].position, last, (double)(t1 - t0) / 1e6,
         (double)(t2 - t1) / 1e6, (double)(ll_mono_ns() - t2) / 1e6);
  long long quantities = 0;
  for (size_t i = 0; i < n; i++)
    quantities += p->entries[i].event.type == LL_EV_STOCK_MOVED ? 2 : 0;
  atomic_store(&p->stats.position, last);
  atomic_fetch_add(&p->stats.events, (long long)n);
  atomic_fetch_add(&p->stats.quantities, quantities);
  atomic_fetch_add(&p->stats.transactions, 1);
  return STEP_OK;
}

/* Publish what the log holds after our position (one transaction). */
static step_result step(ll_publisher *p, ll_err *err) {
  uint64_t seen = ll_store_changes(p->o.log);
  if (ll_store_catch_up(p->o.log, err) != 0)
    return STEP_FATAL;
  size_t n = 0;
  if (ll_store_read_log(p->o.log, p->rec.position + 1, p->entries,
                        (size_t)p->o.batch_max_events, &n, err) != 0)
    return STEP_FATAL;
  if (n == 0) {
    /* The primary bumps its last-position counter just after the write
     * that made the entries readable, so the counter may trail what we
     * published: only a missing entry at our position means another log. */
    if (ll_store_last_position(p->o.log) < p->rec.position &&
        p->rec.position > 0) {
      if (ll_store_read_log(p->o.log, p->rec.position, p->entries, 1, &n,
                            err) != 0)
        return STEP_FATAL;
      release_entries(p, n);
      if (n == 0) {
        ll_fail(err, LL_ERR_CORRUPT,
                "publisher: published up to position %" PRIu64
                " but the log ends at %" PRIu64 ": another log",
                p->rec.position, ll_store_last_position(p->o.log));
        return STEP_FATAL;
      }
    }
    /* Serve Kafka's callbacks, then sleep until the log changes. */
    rd_kafka_poll(p->rk, 0);
    ll_store_wait_change(p->o.log, seen,
                         ll_mono_ns() + PUB_IDLE_POLL_MS * 1000000ull);
    return STEP_OK;
  }
  step_result r = publish_run(p, n, err);
  release_entries(p, n);
  return r;
}

/* ---- life cycle ---- */

ll_publisher *ll_publisher_new(const ll_publisher_opts *o, ll_err *err) {
  assert(o->log != NULL && o->codec != NULL && o->brokers != NULL);
  if (o->batch_max_events < 1 ||
      o->batch_max_events > LL_PUBLISH_BATCH_MAX_LIMIT) {
    ll_fail(err, LL_ERR_CONFIG, "publish.batch.max.events must be 1..%d",
            LL_PUBLISH_BATCH_MAX_LIMIT);
    return NULL;
  }
  if (o->transactional_id == NULL || o->transactional_id[0] == '\0' ||
      strlen(o->transactional_id) > PUB_CLUSTER_ID_MAX) {
    ll_fail(err, LL_ERR_CONFIG,
            "publisher: transactional.id must be 1..%d bytes",
            PUB_CLUSTER_ID_MAX);
    return NULL;
  }
  pub_state *s = pub_state_open(o->state_dir, err);
  if (s == NULL)
    return NULL;
  ll_publisher *p = ll_xcalloc(1, sizeof *p);
  p->o = *o;
  p->o.brokers = ll_strdup(o->brokers);
  p->o.transactional_id = ll_strdup(o->transactional_id);
  p->state = s;
  p->entries = ll_xcalloc((size_t)o->batch_max_events, sizeof *p->entries);
  ll_buf_init(&p->key);
  ll_buf_init(&p->value);
  atomic_init(&p->stats.position, pub_state_position(s));
  return p;
}

int ll_publisher_run(ll_publisher *p, volatile sig_atomic_t *stop,
                     ll_err *err) {
  while (!*stop) {
    step_result r = p->rk == NULL ? pub_connect(p, stop, err) : step(p, err);
    switch (r) {
    case STEP_OK:
      break;
    case STEP_AGAIN:
      ll_log(LL_WARN, "publish", "transaction aborted (%s: %s): retrying",
             ll_err_kind_name(err->kind), err->message);
      sleep_ms(stop, PUB_RETRY_BACKOFF_MS / 10);
      break;
    case STEP_RECONNECT:
      if (*stop)
        break;
      ll_log(LL_WARN, "publish", "%s: %s: starting a new producer",
             ll_err_kind_name(err->kind), err->message);
      drop_producer(p);
      atomic_fetch_add(&p->stats.producer_restarts, 1);
      sleep_ms(stop, PUB_RETRY_BACKOFF_MS);
      break;
    case STEP_CRASH:
      ll_fail(err, LL_ERR_INTERNAL, "publisher: simulated crash");
      return -1;
    case STEP_FATAL:
    default:
      return -1;
    }
  }
  ll_log(LL_INFO, "publish",
         "stopped at log position %llu: %lld event(s) and %lld quantity "
         "record(s) in %lld transaction(s) since start",
         (unsigned long long)atomic_load(&p->stats.position),
         (long long)atomic_load(&p->stats.events),
         (long long)atomic_load(&p->stats.quantities),
         (long long)atomic_load(&p->stats.transactions));
  return 0;
}

const ll_publisher_stats *ll_publisher_get_stats(const ll_publisher *p) {
  return &p->stats;
}

void ll_publisher_free(ll_publisher *p) {
  if (p == NULL)
    return;
  if (p->rk != NULL && p->crashed) {
    /* As if killed: whatever was delivered stays, nothing more is sent. */
    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  }
  drop_producer(p);
  pub_state_close(p->state);
  free(p->entries);
  ll_buf_free(&p->key);
  ll_buf_free(&p->value);
  free((char *)p->o.brokers);
  free((char *)p->o.transactional_id);
  free(p);
}
