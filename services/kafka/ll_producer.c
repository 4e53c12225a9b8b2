/* ll_producer.c — an idempotent producer with a synchronous send.
 *
 * A background thread serves librdkafka's delivery reports. A synchronous
 * send parks the caller on a per-message waiter until the report arrives or
 * its deadline passes. A caller that gives up marks the waiter abandoned;
 * the report, when it comes, frees it. So a timed-out message may still be
 * delivered later: clients retry with the same Idempotency-Key, and the
 * command side turns the second copy into a no-op. A tracked send hands
 * its outcome to a callback instead (the rejections outbox). Each message's
 * opaque is a `delivery` header: a waiter or a tracker. */
#include <assert.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ll_kafka.h"
#include "ll_logging.h"
#include "ll_mem.h"
#include "ll_time.h"
#include "ll_types.h"

#define PRODUCER_POLL_MS 100
/* At close, undelivered messages get this long: lotlined's whole shutdown
 * must fit in 5 s even with Kafka unreachable (two producers and the
 * consumer's close share that). */
#define PRODUCER_CLOSE_FLUSH_MS 750
#define PRODUCER_PURGE_REPORTS_MS 100 /* purged messages' reports */
#define PRODUCER_LINGER_MS "0"
#define PRODUCER_RECONNECT_BACKOFF_MAX_MS "1000"

typedef enum delivery_kind {
  DELIVERY_WAITER = 1,
  DELIVERY_TRACKER
} delivery_kind;

typedef struct waiter {
  delivery_kind kind; /* first: DELIVERY_WAITER */
  pthread_mutex_t mu;
  pthread_cond_t cond;
  bool done;
  bool abandoned;
  rd_kafka_resp_err_t err;
} waiter;

typedef struct tracker {
  delivery_kind kind; /* first: DELIVERY_TRACKER */
  ll_delivery_fn fn;
  void *arg;
  uint64_t tag;
} tracker;

/* lotline's four topics (ll_topics): their handles live as long as the
 * producer (see know_topics). */
#define PRODUCER_TOPICS 4

struct ll_producer {
  rd_kafka_t *rk;
  rd_kafka_topic_t *topics[PRODUCER_TOPICS];
  pthread_t poller;
  atomic_bool stopping;
};

static void waiter_free(waiter *w) {
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cond);
  free(w);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque) {
  (void)rk;
  (void)opaque;
  assert(m->_private); /* every send has a waiter or a tracker */
  if (*(const delivery_kind *)m->_private == DELIVERY_TRACKER) {
    tracker *t = m->_private;
    ll_delivery_report d = {.tag = t->tag,
                            .err = (int)m->err,
                            .partition = m->err ? -1 : m->partition,
                            .offset = m->err ? -1 : m->offset,
                            .inferred = !m->err && m->offset < 0};
    t->fn(t->arg, &d);
    free(t);
    return;
  }
  waiter *w = m->_private;
  pthread_mutex_lock(&w->mu);
  if (w->abandoned) {
    pthread_mutex_unlock(&w->mu);
    waiter_free(w);
    return;
  }
  w->done = true;
  w->err = m->err;
  pthread_cond_signal(&w->cond);
  pthread_mutex_unlock(&w->mu);
}

static void *poll_loop(void *arg) {
  ll_producer *p = arg;
  while (!atomic_load(&p->stopping))
    rd_kafka_poll(p->rk, PRODUCER_POLL_MS);
  return NULL;
}

/* librdkafka's log lines go through ll_log, so log.format=json holds for
 * them too. Syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug. */
static void on_rdkafka_log(const rd_kafka_t *rk, int level, const char *fac,
                           const char *buf) {
  (void)rk;
  ll_level l = level <= 3   ? LL_ERROR
               : level == 4 ? LL_WARN
               : level <= 6 ? LL_INFO
                            : LL_DEBUG;
  ll_log(l, "kafka", "%s: %s", fac, buf);
}

int ll_kafka_conf_apply(void *rd_conf, const ll_config *cfg, ll_err *err) {
  char errstr[512];
  rd_kafka_conf_set_log_cb(rd_conf, on_rdkafka_log);
  for (size_t i = 0; i < cfg->len; i++) {
    const char *key = cfg->entries[i].key;
    if (strncmp(key, "kafka.", 6) != 0)
      continue;
    if (rd_kafka_conf_set(rd_conf, key + 6, cfg->entries[i].value, errstr,
                          sizeof errstr) != RD_KAFKA_CONF_OK)
      return ll_fail(err, LL_ERR_CONFIG, "config key '%s': %s", key, errstr);
  }
  return 0;
}

void *ll_kafka_conf_new(const char *(*settings)[2], size_t n_settings,
                        const ll_config *cfg, const char *what, ll_err *err) {
  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  for (size_t i = 0; i < n_settings; i++) {
    if (rd_kafka_conf_set(conf, settings[i][0], settings[i][1], errstr,
                          sizeof errstr) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      ll_fail(err, LL_ERR_CONFIG, "%s config %s: %s", what, settings[i][0],
              errstr);
      return NULL;
    }
  }
  if (ll_kafka_conf_apply(conf, cfg, err) != 0) {
    rd_kafka_conf_destroy(conf);
    return NULL;
  }
  return conf;
}

/* Name the topics before the first connection is up: librdkafka 2.0 then
 * fetches their metadata with the connection's. A topic first named by a
 * send after that waits for the client's next topic scan (once a second)
 * before anything is sent to it: a first write would wait up to 1 s. */
static void know_topics(ll_producer *p, const ll_config *cfg) {
  ll_topics t;
  ll_topics_from_config(cfg, &t);
  const char *names[PRODUCER_TOPICS] = {t.inbound, t.events, t.rejected,
                                        t.quantities};
  for (size_t i = 0; i < PRODUCER_TOPICS; i++)
    if (names[i] && *names[i])
      p->topics[i] = rd_kafka_topic_new(p->rk, names[i], NULL);
}

static void forget_topics(ll_producer *p) {
  for (size_t i = 0; i < PRODUCER_TOPICS; i++)
    if (p->topics[i])
      rd_kafka_topic_destroy(p->topics[i]);
}

ll_producer *ll_producer_new(const ll_config *cfg, const char *brokers,
                             int message_timeout_ms, ll_err *err) {
  char errstr[512], timeout[32];
  snprintf(timeout, sizeof timeout, "%d", message_timeout_ms);
  const char *settings[][2] = {
      {"bootstrap.servers", brokers},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      /* An API write waits for its acknowledgement: send at once. Under
       * load the messages that queue while a request is in flight still
       * go out together. */
      {"linger.ms", PRODUCER_LINGER_MS},
      /* librdkafka's default (10 s) would keep the API answering 503 for
       * up to 10 s after Kafka is back; writes have 5 s. */
      {"reconnect.backoff.max.ms", PRODUCER_RECONNECT_BACKOFF_MAX_MS},
      {"message.timeout.ms", timeout},
      {"client.id", "lotline-producer"},
      /* Kafka's default partitioner: a product's events must reach the
       * partition lotline computes for it (docs/events.md). */
      {"partitioner", "murmur2_random"},
  };
  rd_kafka_conf_t *conf = ll_kafka_conf_new(
      settings, sizeof settings / sizeof settings[0], cfg, "producer", err);
  if (conf == NULL)
    return NULL;
  ll_producer *p = ll_xcalloc(1, sizeof *p);
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, p);
  p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!p->rk) {
    free(p);
    ll_fail(err, LL_ERR_KAFKA, "cannot create producer: %s", errstr);
    return NULL;
  }
  know_topics(p, cfg);
  if (pthread_create(&p->poller, NULL, poll_loop, p) != 0) {
    forget_topics(p);
    rd_kafka_destroy(p->rk);
    free(p);
    ll_fail(err, LL_ERR_INTERNAL, "cannot start producer thread");
    return NULL;
  }
  return p;
}

static int produce(ll_producer *p, const char *topic, const void *key,
                   size_t key_len, const void *value, size_t value_len, void *w,
                   ll_err *err) {
  rd_kafka_resp_err_t e = rd_kafka_producev(
      p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY((void *)key, key_len),
      RD_KAFKA_V_VALUE((void *)value, value_len),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(w),
      RD_KAFKA_V_END);
  if (e)
    return ll_fail(
        err, e == RD_KAFKA_RESP_ERR__QUEUE_FULL ? LL_ERR_FULL : LL_ERR_KAFKA,
        "cannot queue message for %s: %s", topic, rd_kafka_err2str(e));
  return 0;
}

int ll_producer_send_tracked(ll_producer *p, const char *topic, const void *key,
                             size_t key_len, const void *value,
                             size_t value_len, ll_delivery_fn fn, void *arg,
                             uint64_t tag, ll_err *err) {
  tracker *t = ll_xcalloc(1, sizeof *t);
  *t = (tracker){DELIVERY_TRACKER, fn, arg, tag};
  if (produce(p, topic, key, key_len, value, value_len, t, err) != 0) {
    free(t);
    return -1;
  }
  return 0;
}

int ll_producer_send_sync(ll_producer *p, const char *topic, const void *key,
                          size_t key_len, const void *value, size_t value_len,
                          int timeout_ms, ll_err *err) {
  waiter *w = ll_xcalloc(1, sizeof *w);
  w->kind = DELIVERY_WAITER;
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cond, NULL);
  if (produce(p, topic, key, key_len, value, value_len, w, err) != 0) {
    waiter_free(w);
    return -1;
  }
  struct timespec deadline = ll_deadline_after_ms(timeout_ms);
  pthread_mutex_lock(&w->mu);
  while (!w->done) {
    if (pthread_cond_timedwait(&w->cond, &w->mu, &deadline) != 0 && !w->done) {
      w->abandoned = true; /* the delivery report frees it */
      pthread_mutex_unlock(&w->mu);
      return ll_fail(err, LL_ERR_TIMEOUT,
                     "Kafka did not acknowledge the message within %d ms",
                     timeout_ms);
    }
  }
  rd_kafka_resp_err_t e = w->err;
  pthread_mutex_unlock(&w->mu);
  waiter_free(w);
  if (e)
    return ll_fail(err,
                   e == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT ? LL_ERR_TIMEOUT
                                                         : LL_ERR_KAFKA,
                   "Kafka refused the message: %s", rd_kafka_err2str(e));
  return 0;
}

int ll_producer_flush(ll_producer *p, int timeout_ms, ll_err *err) {
  rd_kafka_resp_err_t e = rd_kafka_flush(p->rk, timeout_ms);
  if (e)
    return ll_fail(
        err, e == RD_KAFKA_RESP_ERR__TIMED_OUT ? LL_ERR_TIMEOUT : LL_ERR_KAFKA,
        "producer flush: %s (%d message(s) left)", rd_kafka_err2str(e),
        rd_kafka_outq_len(p->rk));
  return 0;
}

void ll_producer_free(ll_producer *p) {
  if (!p)
    return;
  rd_kafka_resp_err_t e = rd_kafka_flush(p->rk, PRODUCER_CLOSE_FLUSH_MS);
  if (e) {
    ll_log(LL_WARN, "producer", "closing with %d undelivered message(s)",
           rd_kafka_outq_len(p->rk));
    /* Their delivery reports (error: purged) free what each send left
     * with librdkafka and tell the outbox the record stays for later. */
    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(p->rk, PRODUCER_PURGE_REPORTS_MS);
  }
  atomic_store(&p->stopping, true);
  pthread_join(p->poller, NULL);
  forget_topics(p);
  rd_kafka_destroy(p->rk);
  free(p);
}
