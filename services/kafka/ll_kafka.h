/* ll_kafka.h — lotline's Kafka edges: the embedded broker and a producer
 * that waits for delivery.
 *
 * The embedded broker is librdkafka's mock cluster, speaking the Kafka
 * protocol on loopback; it is for first runs, demos and tests. Production
 * points --brokers at a real cluster. */
#ifndef LL_KAFKA_H
#define LL_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ll_config.h"
#include "ll_types.h"

/* Topic names in use (defaults from the contract; config may rename). */
typedef struct ll_topics {
  const char *inbound;    /* lots.inbound */
  const char *events;     /* lots.events */
  const char *rejected;   /* lots.rejected */
  const char *quantities; /* lots.quantities */
  const char *members;    /* lots.members: the cluster's ownership claims */
  const char *alerts;     /* lots.alerts (services/alerts) */
  const char *changelog;  /* lots.changelog: what restores a task */
} ll_topics;

void ll_topics_from_config(const ll_config *cfg, ll_topics *out);

/* ---- embedded broker ---- */
typedef struct ll_broker ll_broker;

/* Start a mock cluster of broker_count brokers on loopback and create the
 * topics with `partitions` partitions each, and the members topic with one
 * (the claims of the instances: services/cluster). */
ll_broker *ll_broker_start(const ll_topics *topics, int broker_count,
                           int partitions, ll_err *err);
const char *ll_broker_bootstraps(const ll_broker *b); /* "127.0.0.1:port,..." */
void *ll_broker_mock_cluster(
    ll_broker *b); /* rd_kafka_mock_cluster_t *, for fault injection */
void ll_broker_stop(ll_broker *b);

/* ---- producer that waits for the outcome of each send ---- */
typedef struct ll_producer ll_producer;

/* Idempotent producer (acks=all) for the given brokers; kafka.* keys of cfg
 * are passed to librdkafka. message_timeout_ms bounds how long librdkafka
 * keeps retrying one message (0 = forever). */
ll_producer *ll_producer_new(const ll_config *cfg, const char *brokers,
                             int message_timeout_ms, ll_err *err);
/* Apply cfg's kafka.* keys to a librdkafka conf (rd_kafka_conf_t *). */
int ll_kafka_conf_apply(void *rd_conf, const ll_config *cfg, ll_err *err);
/* A new librdkafka conf (rd_kafka_conf_t *, the caller's): the client's
 * own settings (name, value pairs), then cfg's kafka.* keys over them.
 * NULL with err when librdkafka refuses one; `what` names the client in
 * the message ("producer config linger.ms: ..."). */
void *ll_kafka_conf_new(const char *(*settings)[2], size_t n_settings,
                        const ll_config *cfg, const char *what, ll_err *err);
/* Send one message and wait (at most timeout_ms) for the broker's
 * acknowledgement. Thread-safe. Returns 0, or -1 with err (timeout, broker
 * unreachable) — the caller answers 503. */
int ll_producer_send_sync(ll_producer *p, const char *topic, const void *key,
                          size_t key_len, const void *value, size_t value_len,
                          int timeout_ms, ll_err *err);
/* Send without waiting; fn(arg, report) runs on the producer's delivery
 * thread when Kafka acknowledged the message (report->err 0, and where it
 * put it) or librdkafka gave up on it (report->err = librdkafka's error
 * code); report->tag is the sender's tag. Returns -1 with err when the
 * message could not even be queued (say the local queue is full): nothing
 * was sent and fn will not run. */
typedef struct ll_delivery_report {
  uint64_t tag;      /* the sender's, as given to ll_producer_send_tracked */
  int err;           /* 0, or librdkafka's error code */
  int32_t partition; /* where Kafka put it (err 0), else -1 */
  int64_t offset;    /* its offset there (err 0), else negative */
  /* err 0 without an offset: the message's own request failed with an
   * uncertain outcome (a timeout, a lost connection) and librdkafka took
   * a later request's acknowledgement as proof that it was written, which
   * holds only on a broker that checks the idempotent producer's sequence
   * numbers (the embedded broker checks none). */
  bool inferred;
} ll_delivery_report;
typedef void (*ll_delivery_fn)(void *arg, const ll_delivery_report *d);
int ll_producer_send_tracked(ll_producer *p, const char *topic, const void *key,
                             size_t key_len, const void *value,
                             size_t value_len, ll_delivery_fn fn, void *arg,
                             uint64_t tag, ll_err *err);
int ll_producer_flush(ll_producer *p, int timeout_ms, ll_err *err);
void ll_producer_free(ll_producer *p);

/* rd_kafka_destroy(rk) (an rd_kafka_t *), waiting for it at most
 * timeout_ms: false when it is still running then (it is left to finish
 * on its own thread; `what` names the client in the warning logged). */
bool ll_kafka_destroy_within(void *rk, int timeout_ms, const char *what);

#endif
