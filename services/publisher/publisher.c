/* publisher.c — publishes the log to lots.events and lots.quantities, and
 * each task's rejections and progress marks to lots.changelog.
 *
 * Where it lives: services/publisher/ holds the publisher (this file),
 * the reading of where each task stands in Kafka (publisher_tail.c) and
 * the run's lots.changelog records (publisher_changelog.c). It
 * follows the log as the projector (projections/projector.c) does, but it
 * is not a read model: it writes to Kafka, and projections/ is linked by
 * readers (the HTTP API, the CLI's offline commands) that must not pull a
 * producer in. So it is a library of its own, started by lotlined
 * (services/lotlined/main.c) like the command consumer.
 *
 * What it writes. Each entry of task p (input partition p: the topics are
 * co-partitioned) goes to partition p of
 *     lots.events      key product_id, value = the event in Avro
 *                      single-object encoding (current schema), header
 *                      lotline-position = the task position in decimal
 *     lots.quantities  for a StockMoved, two records, source then
 *                      destination: key product_id "\x1f" lot_id "\x1f"
 *                      location id, value = QuantityChanged with the
 *                      quantity AFTER the move (stored in the entry by the
 *                      command consumer: ll_entry.from/to_after_micro),
 *                      same header
 *     lots.changelog   the task's rejections stored since its last mark,
 *                      then a mark "decided up to input offset o, last
 *                      task position n" (publisher_changelog.c), from
 *                      which a new owner restores the task
 *                      (services/command/command_restore.c)
 * A task's entries, their after-quantities, and so these records, are the
 * same bytes on every instance that decides the task.
 *
 * Stateless: Kafka is the truth of what is published. At every
 * (re)connect the publisher reads, read_committed, the end of every
 * partition p (publisher_tail.c): X_p, the last task position on
 * lots.events p, and the last record of lots.quantities p. published_p is
 * the last task position whose records are all there: X_p, unless a move
 * at or before X_p lacks its quantity records (lots.quantities p ends
 * before its destination record), then the position before that move.
 * Every entry must also be named by a mark of lots.changelog p: when the
 * last mark there names a position below published_p (an interrupted
 * transaction left entries without their mark), published_p drops to it.
 * Whoever wrote them — this instance before a crash, or another instance
 * that held the task — does not matter.
 *
 * Then it follows its local log in local order, from the smallest local
 * position of an entry (p, published_p + 1) over all p (the task index,
 * ll_store_task_local; a task this log holds nothing new of does not hold
 * the cursor back), and publishes entry (p, n) iff n > published_p, then
 * published_p = n. Entries at or below published_p were published already
 * (by another instance, or by this one before a crash) and are skipped.
 * Each run of up to publish.batch.max.events entries read from the log is
 * one Kafka transaction of the entries it publishes, with the tasks'
 * changelog records (also a run of rejections alone, when the store
 * stored some since). After any producer
 * error the publisher reconnects and reads where each task stands again.
 *
 * The producer is transactional (idempotent: within a partition, records
 * land once each and in the order produced). Its transactional.id is per
 * instance (lotlined's default "<group.id>-publisher-<instance>"): two
 * instances never fence each other; the same instance restarted fences
 * its own earlier incarnation and, on a real cluster, aborts its
 * unfinished transaction.
 *
 * Repeats (docs/streams.md says the same for consumers). A record appears
 * a second time, byte-identical, on the same partition, later, only when
 *   - a transaction was unfinished or aborted and its records are visible
 *     (read_uncommitted consumers, the embedded broker, which does not
 *     abort): the publisher resumes after the complete positions, so what
 *     lay past them comes again; or
 *   - two instances publish the same task position concurrently: during a
 *     failover, the old owner (still running, or restarting with entries
 *     it decided but never published) and the new one each read the task's
 *     end before the other's transaction committed. Both write the same
 *     bytes; consumers drop the second copy by its lotline-position.
 * Never a skip: a task position counts as published only when all its
 * records are read back from Kafka.
 *
 * In a cluster the publisher publishes only the tasks its instance owns
 * (ll_publisher_opts.publishes): a standby decides a task in the shadow
 * and publishes none of it; when the tasks owned change it reads where
 * each task stands again, so a promoted instance continues a task where
 * Kafka stands, whoever wrote it.
 *
 * Broker errors are retried: abortable transaction errors abort the
 * transaction, a fatal producer error replaces the producer; either way
 * the publisher reads the ends again before it goes on. Fencing by another live
 * publisher with the same transactional.id, a failing log, and an entry that
 * has no partition of the topics stop the publisher. */
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
#include "publisher_changelog.h"
#include "publisher_tail.h"

#define PUB_IDLE_POLL_MS 5
#define PUB_RETRY_BACKOFF_MS 1000
#define PUB_INIT_TIMEOUT_MS 10000
#define PUB_METADATA_TIMEOUT_MS 5000
#define PUB_QUEUE_FULL_POLL_MS 50
#define PUB_TRANSACTION_TIMEOUT_MS "60000"
#define PUB_LINGER_MS "5"
#define PUB_TRANSACTIONAL_ID_MAX 255 /* bytes */

/* What one attempt came to. */
typedef enum step_result {
  STEP_OK = 0,    /* progress (or idle) */
  STEP_AGAIN,     /* transaction aborted: redo the same run */
  STEP_RECONNECT, /* drop the producer, read the ends again */
  STEP_FATAL,     /* stop with err */
  STEP_CRASH,     /* test hook: stop as if killed */
} step_result;

struct ll_publisher {
  ll_publisher_opts o;
  ll_publisher_stats stats;
  rd_kafka_t *rk;     /* NULL until connected */
  int32_t partitions; /* of lots.events and lots.quantities (connected) */
  /* Per partition: the last task position whose records are all in Kafka
   * (as read at connect, then moved by what this publisher committed). */
  uint64_t published[PUB_PARTITIONS_MAX];
  uint64_t staged[PUB_PARTITIONS_MAX]; /* published, with the run in flight */
  pub_tail tails[PUB_TOPICS][PUB_PARTITIONS_MAX];
  uint64_t cursor;      /* the next local log position to look at */
  ll_entry *entries;    /* batch_max_events slots: what was read */
  const ll_entry **run; /* batch_max_events slots: what to publish */
  rd_kafka_resp_err_t txn_delivery_err;
  ll_buf key, value;
  bool crashed;   /* the test hook fired: leave everything as it is */
  bool reread;    /* a transaction was aborted: read the ends again */
  uint64_t epoch; /* publish_epoch when the ends were last read */
  /* The tasks published, as they were when the ends were read: a task
   * handed over since waits for the next read of the ends. */
  bool mine[PUB_PARTITIONS_MAX];
  pub_changelog chg;        /* lots.changelog (publisher_changelog.c) */
  uint64_t rejections_seen; /* the store's last rejection, last looked at */
};

/* ---- small helpers ---- */

static bool publishes(const ll_publisher *p, int32_t q) {
  return p->o.publishes == NULL || p->o.publishes(p->o.tasks_ctx, q);
}

/* The tasks published may have changed since the ends were read. */
static bool tasks_changed(const ll_publisher *p) {
  return p->o.publish_epoch != NULL &&
         p->o.publish_epoch(p->o.tasks_ctx) != p->epoch;
}

static void sleep_ms(volatile sig_atomic_t *stop, int ms) {
  for (int waited = 0; waited < ms && !*stop; waited += 50)
    usleep(50 * 1000);
}

static void release_entries(ll_publisher *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    ll_entry_free(&p->entries[i]);
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
  if (m->err && !p->txn_delivery_err)
    p->txn_delivery_err = m->err;
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
          "over (publish.transactional.id set to the same value on two "
          "instances? each instance needs its own)",
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

/* ---- where each task stands in Kafka ---- */

/* The topics' partition count (they must agree: co-partitioned). */
static step_result count_partitions(ll_publisher *p, ll_err *err) {
  int32_t n[PUB_TOPICS];
  const char *names[PUB_TOPICS] = {p->o.topics.events, p->o.topics.quantities,
                                   p->o.topics.changelog};
  for (int t = 0; t < PUB_TOPICS; t++) {
    n[t] = 0;
    if (names[t] != NULL && topic_partitions(p->rk, names[t], &n[t], err) != 0)
      return STEP_RECONNECT;
  }
  for (int t = 1; t < PUB_TOPICS; t++) {
    if (names[t] == NULL || n[t] == n[0])
      continue;
    ll_fail(err, LL_ERR_CONFIG,
            "publisher: %s has %d partitions and %s %d: they must have as "
            "many as the input topic (docs/operations.md)",
            names[0], (int)n[0], names[t], (int)n[t]);
    return STEP_FATAL;
  }
  if (n[0] > PUB_PARTITIONS_MAX) {
    ll_fail(err, LL_ERR_CONFIG,
            "publisher: %s has %d partitions, more than the %d the "
            "publisher supports",
            names[0], (int)n[0], PUB_PARTITIONS_MAX);
    return STEP_FATAL;
  }
  p->partitions = n[0];
  return STEP_OK;
}

/* The entry of task q at task position n from the local log; *found
 * false when this log does not hold it. */
static int read_task_entry(ll_publisher *p, int32_t q, uint64_t n, ll_entry *e,
                           bool *found, ll_err *err) {
  uint64_t local = 0;
  if (ll_store_task_local(p->o.log, q, n, &local, found, err) != 0)
    return -1;
  if (!*found)
    return 0;
  size_t got = 0;
  if (ll_store_read_log(p->o.log, local, e, 1, &got, err) != 0)
    return -1;
  if (got == 1 && e->partition == q && e->task_position == n)
    return 0;
  if (got == 1)
    ll_entry_free(e);
  return ll_fail(err, LL_ERR_CORRUPT,
                 "publisher: the task index says task %d position %" PRIu64
                 " is at log position %" PRIu64 ", but it is not there",
                 (int)q, n, local);
}

/* The last task position of q whose quantity records are complete as far
 * as lots.quantities q shows: its last record is the destination of the
 * move at its position (complete), or its source (the position before). */
static int quantities_done(ll_publisher *p, int32_t q, uint64_t *done,
                           ll_err *err) {
  const pub_tail *tail = &p->tails[PUB_TOPIC_QUANTITIES][q];
  *done = tail->position;
  if (tail->position == 0)
    return 0;
  ll_entry e;
  bool found = false;
  if (read_task_entry(p, q, tail->position, &e, &found, err) != 0)
    return -1;
  if (!found)
    return 0; /* beyond this log: all it holds of q is before it */
  quantity_key(&p->key, e.event.product_id, e.event.lot_id, e.event.to.id);
  bool destination = e.event.type == LL_EV_STOCK_MOVED &&
                     tail->key.len == p->key.len &&
                     memcmp(tail->key.data, p->key.data, p->key.len) == 0;
  ll_entry_free(&e);
  if (!destination)
    *done = tail->position - 1;
  return 0;
}

/* published_q: X_q, unless a move after what lots.quantities q completes
 * and at or before X_q lacks its records: then the position before it. */
static int task_published(ll_publisher *p, int32_t q, ll_err *err) {
  uint64_t x = p->tails[PUB_TOPIC_EVENTS][q].position;
  ll_task_last last;
  ll_store_task_last(p->o.log, q, &last);
  /* Every entry must be covered by a mark of lots.changelog: entries an
   * interrupted transaction left without their mark go again. */
  int64_t covered = pub_chg_covered(&p->chg, q);
  if (covered >= 0 && (uint64_t)covered < x)
    x = (uint64_t)covered;
  p->published[q] = x;
  uint64_t done = 0;
  if (x == 0 || last.position == 0)
    return 0; /* nothing published, or nothing of q here to publish */
  if (quantities_done(p, q, &done, err) != 0)
    return -1;
  uint64_t end = x < last.position ? x : last.position;
  for (uint64_t n = done + 1; n <= end; n++) {
    ll_entry e;
    bool found = false;
    if (read_task_entry(p, q, n, &e, &found, err) != 0)
      return -1;
    bool move = found && e.event.type == LL_EV_STOCK_MOVED;
    if (found)
      ll_entry_free(&e);
    if (move) {
      ll_log(LL_WARN, "publish",
             "%s [%d] ends at task position %" PRIu64 " but %s [%d] lacks "
             "the records of the move at %" PRIu64
             " (an unfinished transaction the broker did not abort): "
             "publishing from there again",
             p->o.topics.events, (int)q, x, p->o.topics.quantities, (int)q, n);
      p->published[q] = n - 1;
      break;
    }
  }
  return 0;
}

/* The cursor: the smallest local position of an entry (q, published_q+1)
 * over the tasks this log holds beyond what Kafka has. */
static int place_cursor(ll_publisher *p, ll_err *err) {
  if (ll_store_catch_up(p->o.log, err) != 0)
    return -1;
  p->cursor = ll_store_last_position(p->o.log) + 1;
  for (int32_t q = 0; q < p->partitions; q++) {
    p->mine[q] = publishes(p, q);
    if (!p->mine[q])
      continue; /* not this instance's: does not hold the cursor back */
    if (task_published(p, q, err) != 0)
      return -1;
    uint64_t local = 0;
    bool found = false;
    if (ll_store_task_local(p->o.log, q, p->published[q] + 1, &local, &found,
                            err) != 0)
      return -1;
    if (found && local < p->cursor)
      p->cursor = local;
  }
  atomic_store(&p->stats.position, p->cursor - 1);
  return 0;
}

/* Read the ends of both topics, then where to resume. */
static step_result find_where_tasks_stand(ll_publisher *p, ll_err *err) {
  /* Taken before reading: a change while reading reads again. */
  if (p->o.publish_epoch != NULL)
    p->epoch = p->o.publish_epoch(p->o.tasks_ctx);
  step_result r = count_partitions(p, err);
  if (r != STEP_OK)
    return r;
  pub_tail *tails[PUB_TOPICS] = {p->tails[0], p->tails[1], p->tails[2]};
  pub_tail_opts o = {.cfg = p->o.cfg,
                     .brokers = p->o.brokers,
                     .topics = {p->o.topics.events, p->o.topics.quantities,
                                p->o.topics.changelog},
                     .partitions = p->partitions,
                     .client_id = p->o.transactional_id};
  if (pub_tails_read(&o, tails, err) != 0)
    return STEP_RECONNECT;
  pub_chg_from_tails(&p->chg, p->tails[PUB_TOPIC_CHANGELOG], p->partitions);
  if (place_cursor(p, err) != 0)
    return STEP_FATAL;
  ll_log(LL_INFO, "publish",
         "publishing to %s and %s (%d partitions) from log position %" PRIu64
         " (transactional.id %s)",
         p->o.topics.events, p->o.topics.quantities, (int)p->partitions,
         p->cursor, p->o.transactional_id);
  return STEP_OK;
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
  return find_where_tasks_stand(p, err);
}

/* ---- one transaction ---- */

/* An entry's task position as the header's value (empty: no header),
 * and its partition. */
typedef struct pub_position {
  char task[PUB_POSITION_STR_MAX];
  int32_t partition;
} pub_position;

static rd_kafka_resp_err_t producev(ll_publisher *p, const char *topic,
                                    const ll_buf *key, const void *value,
                                    size_t len, const pub_position *at) {
  if (at->task[0] == '\0')
    return rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(at->partition),
        RD_KAFKA_V_KEY(key ? (void *)key->data : NULL, key ? key->len : 0),
        RD_KAFKA_V_VALUE((void *)value, len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
  return rd_kafka_producev(
      p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(at->partition),
      RD_KAFKA_V_KEY(key ? (void *)key->data : NULL, key ? key->len : 0),
      RD_KAFKA_V_VALUE((void *)value, len),
      RD_KAFKA_V_HEADER(LL_POSITION_HEADER, at->task, -1),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
}

/* key NULL: a record without key. */
static step_result produce_bytes(ll_publisher *p, const char *topic,
                                 const ll_buf *key, const void *value,
                                 size_t len, const pub_position *at,
                                 ll_err *err) {
  for (;;) {
    rd_kafka_resp_err_t e = producev(p, topic, key, value, len, at);
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

static step_result produce(ll_publisher *p, const char *topic,
                           const ll_buf *key, const ll_buf *value,
                           const pub_position *at, ll_err *err) {
  return produce_bytes(p, topic, key, value->data, value->len, at, err);
}

/* The run's lots.changelog records of one kind (marks or rejections). */
static step_result produce_chg_kind(ll_publisher *p, bool marks, ll_err *err) {
  step_result r = STEP_OK;
  for (size_t i = 0; i < p->chg.n_records && r == STEP_OK; i++) {
    const pub_chg_record *rec = &p->chg.records[i];
    if (rec->mark != marks)
      continue;
    pub_position at = {.partition = rec->partition};
    if (rec->mark)
      snprintf(at.task, sizeof at.task, "%" PRIu64, rec->mark_position);
    r = produce_bytes(p, p->chg.topic, NULL, p->chg.bytes.data + rec->at,
                      rec->len, &at, err);
  }
  return r;
}

/* The run's lots.changelog records (publisher_changelog.c): the tasks'
 * rejections, then, once everything the run produced is delivered, their
 * marks. A broker that does not abort an interrupted transaction (the
 * embedded one) may keep part of it visible; the wait makes sure that a
 * mark it keeps comes with everything the mark claims. */
static step_result produce_changelog(ll_publisher *p, ll_err *err) {
  if (p->chg.n_records == 0)
    return STEP_OK;
  step_result r = produce_chg_kind(p, false, err);
  if (r == STEP_OK && rd_kafka_flush(p->rk, PUB_INIT_TIMEOUT_MS) !=
                          RD_KAFKA_RESP_ERR_NO_ERROR) {
    ll_fail(err, LL_ERR_KAFKA,
            "publisher: the run's records were not delivered within %d ms",
            PUB_INIT_TIMEOUT_MS);
    r = STEP_AGAIN;
  }
  return r == STEP_OK ? produce_chg_kind(p, true, err) : r;
}

static step_result produce_quantity(ll_publisher *p, const ll_entry *e,
                                    const ll_location *loc, int64_t after,
                                    const pub_position *at, ll_err *err) {
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

/* Queue one entry's records: the event, and a move's two quantities. */
static step_result produce_entry(ll_publisher *p, const ll_entry *e,
                                 ll_err *err) {
  pub_position at;
  assert(e->partition >= 0 && e->partition < p->partitions);
  snprintf(at.task, sizeof at.task, "%" PRIu64, e->task_position);
  at.partition = e->partition;
  ll_buf_reset(&p->value);
  if (ll_codec_encode(p->o.codec, &e->event, &p->value, err) != 0)
    return STEP_FATAL;
  ll_buf_reset(&p->key);
  ll_buf_put(&p->key, e->event.product_id, strlen(e->event.product_id));
  step_result r = produce(p, p->o.topics.events, &p->key, &p->value, &at, err);
  if (r == STEP_OK && e->event.type == LL_EV_STOCK_MOVED) {
    r = produce_quantity(p, e, &e->event.from, e->from_after_micro, &at, err);
    if (r == STEP_OK)
      r = produce_quantity(p, e, &e->event.to, e->to_after_micro, &at, err);
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

/* Produce run[0..n) inside an open transaction, then commit it. */
static step_result produce_and_commit(ll_publisher *p, size_t n, uint64_t last,
                                      ll_err *err) {
  step_result r = STEP_OK;
  for (size_t i = 0; i < n && r == STEP_OK; i++) {
    if (p->o.crash != NULL && n >= 2 && i == n / 2) {
      rd_kafka_flush(p->rk, PUB_INIT_TIMEOUT_MS);
      if (crash_here(p, LL_PUB_MID_TRANSACTION, last))
        r = STEP_CRASH;
    }
    if (r == STEP_OK)
      r = produce_entry(p, p->run[i], err);
  }
  if (r == STEP_OK)
    r = produce_changelog(p, err);
  if (r == STEP_OK)
    r = commit_transaction(p, err);
  else if (r == STEP_AGAIN)
    r = abort_transaction(p, err);
  if (r == STEP_OK && crash_here(p, LL_PUB_AFTER_COMMIT, last))
    r = STEP_CRASH;
  return r;
}

/* Publish run[0..n) and the changelog's records as one transaction; the
 * tasks' published positions move only once it committed. */
static step_result publish_run(ll_publisher *p, size_t n, ll_err *err) {
  assert(n > 0 || p->chg.n_records > 0);
  uint64_t last = n > 0 ? p->run[n - 1]->position : p->cursor - 1;
  p->txn_delivery_err = RD_KAFKA_RESP_ERR_NO_ERROR;
  uint64_t t0 = ll_mono_ns();
  txn_class c =
      classify(p, rd_kafka_begin_transaction(p->rk), "begin_transaction", err);
  if (c == TXN_FENCED)
    return fenced_result(p, err);
  if (c != TXN_DONE)
    return STEP_RECONNECT;
  step_result r = produce_and_commit(p, n, last, err);
  if (r != STEP_OK)
    return r;
  /* Committed: every record was delivered, the reports are in. */
  assert(p->txn_delivery_err == RD_KAFKA_RESP_ERR_NO_ERROR);
  long long quantities = 0;
  memcpy(p->published, p->staged, (size_t)p->partitions * sizeof *p->staged);
  atomic_fetch_add(&p->stats.changelog, (long long)p->chg.n_records);
  pub_chg_committed(&p->chg);
  for (size_t i = 0; i < n; i++)
    quantities += p->run[i]->event.type == LL_EV_STOCK_MOVED ? 2 : 0;
  ll_log(LL_DEBUG, "publish",
         "%zu entries up to log position %" PRIu64 " in %.1f ms", n, last,
         (double)(ll_mono_ns() - t0) / 1e6);
  atomic_fetch_add(&p->stats.events, (long long)n);
  atomic_fetch_add(&p->stats.quantities, quantities);
  atomic_fetch_add(&p->stats.transactions, 1);
  return STEP_OK;
}

/* Of the n entries read, the ones Kafka does not hold yet, into p->run.
 * Within a task, entries come in task position order and the first one
 * not published follows the last published: anything else is a log the
 * publisher cannot publish faithfully. */
static step_result select_run(ll_publisher *p, size_t n, size_t *m,
                              ll_err *err) {
  *m = 0;
  memcpy(p->staged, p->published, (size_t)p->partitions * sizeof *p->staged);
  for (size_t i = 0; i < n; i++) {
    const ll_entry *e = &p->entries[i];
    if (e->partition < 0 || e->partition >= p->partitions) {
      ll_fail(err, LL_ERR_CONFIG,
              "publisher: the entry at log position %" PRIu64
              " is of task %d, which %s (%d partitions) has no partition for",
              e->position, (int)e->partition, p->o.topics.events,
              (int)p->partitions);
      return STEP_FATAL;
    }
    if (!p->mine[e->partition])
      continue; /* another instance's task (this one stands by) */
    uint64_t next = p->staged[e->partition] + 1;
    if (e->task_position < next) {
      atomic_fetch_add(&p->stats.skipped, 1);
      continue;
    }
    if (e->task_position != next) {
      ll_fail(err, LL_ERR_CORRUPT,
              "publisher: task %d is published up to %" PRIu64
              " but the log's next entry of it is %" PRIu64,
              (int)e->partition, next - 1, e->task_position);
      return STEP_FATAL;
    }
    p->staged[e->partition] = e->task_position;
    p->run[(*m)++] = e;
  }
  return STEP_OK;
}

/* The run's changelog records, after select_run. */
static step_result gather_changelog(ll_publisher *p, size_t m, ll_err *err) {
  pub_chg_run r = {.log = p->o.log,
                   .run = p->run,
                   .n = m,
                   .staged = p->staged,
                   .mine = p->mine};
  return pub_chg_gather(&p->chg, &r, err) == 0 ? STEP_OK : STEP_FATAL;
}

/* Publish what the log holds from the cursor on (one transaction): its
 * entries, and the rejections stored since with them. */
static step_result step(ll_publisher *p, ll_err *err) {
  uint64_t seen = ll_store_changes(p->o.log);
  if (ll_store_catch_up(p->o.log, err) != 0)
    return STEP_FATAL;
  size_t n = 0, m = 0;
  uint64_t rejections = ll_store_last_rejection(p->o.log);
  if (ll_store_read_log(p->o.log, p->cursor, p->entries,
                        (size_t)p->o.batch_max_events, &n, err) != 0)
    return STEP_FATAL;
  bool rejected = p->chg.topic != NULL && rejections != p->rejections_seen;
  if (n == 0 && !rejected) {
    /* Serve Kafka's callbacks, then sleep until the log changes. */
    rd_kafka_poll(p->rk, 0);
    ll_store_wait_change(p->o.log, seen,
                         ll_mono_ns() + PUB_IDLE_POLL_MS * 1000000ull);
    return STEP_OK;
  }
  step_result r = select_run(p, n, &m, err);
  if (r == STEP_OK)
    r = gather_changelog(p, m, err);
  if (r == STEP_OK && (m > 0 || p->chg.n_records > 0))
    r = publish_run(p, m, err);
  if (r == STEP_OK && n > 0) {
    p->cursor = p->entries[n - 1].position + 1;
    atomic_store(&p->stats.position, p->cursor - 1);
  }
  if (r == STEP_OK)
    p->rejections_seen = rejections;
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
      strlen(o->transactional_id) > PUB_TRANSACTIONAL_ID_MAX) {
    ll_fail(err, LL_ERR_CONFIG,
            "publisher: transactional.id must be 1..%d bytes",
            PUB_TRANSACTIONAL_ID_MAX);
    return NULL;
  }
  ll_publisher *p = ll_xcalloc(1, sizeof *p);
  p->o = *o;
  p->o.brokers = ll_strdup(o->brokers);
  p->o.transactional_id = ll_strdup(o->transactional_id);
  p->entries = ll_xcalloc((size_t)o->batch_max_events, sizeof *p->entries);
  p->run = ll_xcalloc((size_t)o->batch_max_events, sizeof *p->run);
  for (int t = 0; t < PUB_TOPICS; t++)
    for (int q = 0; q < PUB_PARTITIONS_MAX; q++) {
      ll_buf_init(&p->tails[t][q].key);
      ll_buf_init(&p->tails[t][q].value);
    }
  ll_buf_init(&p->key);
  ll_buf_init(&p->value);
  pub_chg_init(&p->chg, o->topics.changelog, o->batch_max_events);
  return p;
}

int ll_publisher_run(ll_publisher *p, volatile sig_atomic_t *stop,
                     ll_err *err) {
  while (!*stop) {
    step_result r;
    if (p->rk == NULL)
      r = pub_connect(p, stop, err);
    else if (p->reread || tasks_changed(p))
      r = find_where_tasks_stand(p, err);
    else
      r = step(p, err);
    p->reread = r == STEP_AGAIN;
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
         "record(s) in %lld transaction(s) since start, %lld entr(ies) "
         "found published already",
         (unsigned long long)atomic_load(&p->stats.position),
         (long long)atomic_load(&p->stats.events),
         (long long)atomic_load(&p->stats.quantities),
         (long long)atomic_load(&p->stats.transactions),
         (long long)atomic_load(&p->stats.skipped));
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
  for (int t = 0; t < PUB_TOPICS; t++)
    for (int q = 0; q < PUB_PARTITIONS_MAX; q++) {
      ll_buf_free(&p->tails[t][q].key);
      ll_buf_free(&p->tails[t][q].value);
    }
  pub_chg_free(&p->chg);
  free(p->entries);
  free(p->run);
  ll_buf_free(&p->key);
  ll_buf_free(&p->value);
  free((char *)p->o.brokers);
  free((char *)p->o.transactional_id);
  free(p);
}
