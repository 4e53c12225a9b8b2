/* ll_broker.c — the embedded broker: librdkafka's mock cluster on loopback.
 *
 * The mock cluster lives inside a dedicated rd_kafka_t handle; its brokers
 * listen on random 127.0.0.1 ports and speak the real Kafka protocol, so
 * any client (librdkafka, kcat, Python, kafkajs) can use it. It keeps data
 * in memory only, and each partition keeps just its last few megabytes:
 * topics are created up front with enough partitions. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdlib.h>
#include <string.h>

#include "ll_kafka.h"
#include "ll_logging.h"
#include "ll_mem.h"
#include "ll_types.h"

#define BROKER_PARTITIONS_MAX 256
#define BROKER_COUNT_MAX 9

struct ll_broker {
  rd_kafka_t *host; /* owns the mock cluster */
  rd_kafka_mock_cluster_t *cluster;
  char *bootstraps;
};

void ll_topics_from_config(const ll_config *cfg, ll_topics *out) {
  out->inbound = ll_config_get(cfg, "topic.inbound");
  out->events = ll_config_get(cfg, "topic.events");
  out->rejected = ll_config_get(cfg, "topic.rejected");
  out->quantities = ll_config_get(cfg, "topic.quantities");
  out->members = ll_config_get(cfg, "topic.members");
  out->alerts = ll_config_get(cfg, "topic.alerts");
  out->changelog = ll_config_get(cfg, "topic.changelog");
}

/* Create one topic; -1 with err. */
static int create_topic(rd_kafka_mock_cluster_t *cluster, const char *name,
                        int partitions, int broker_count, ll_err *err) {
  rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(
      cluster, name, partitions, broker_count < 3 ? broker_count : 3);
  if (e)
    return ll_fail(err, LL_ERR_KAFKA, "cannot create topic %s: %s", name,
                   rd_kafka_err2str(e));
  return 0;
}

ll_broker *ll_broker_start(const ll_topics *topics, int broker_count,
                           int partitions, ll_err *err) {
  char errstr[512];
  if (broker_count < 1 || broker_count > BROKER_COUNT_MAX) {
    ll_fail(err, LL_ERR_CONFIG, "broker count %d out of range 1..%d",
            broker_count, BROKER_COUNT_MAX);
    return NULL;
  }
  if (partitions < 1 || partitions > BROKER_PARTITIONS_MAX) {
    ll_fail(err, LL_ERR_CONFIG, "partitions %d out of range 1..%d", partitions,
            BROKER_PARTITIONS_MAX);
    return NULL;
  }
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  /* The host handle never connects anywhere itself. */
  if (rd_kafka_conf_set(conf, "bootstrap.servers", "", errstr, sizeof errstr) !=
          RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr) !=
          RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    ll_fail(err, LL_ERR_KAFKA, "broker config: %s", errstr);
    return NULL;
  }
  rd_kafka_t *host =
      rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!host) {
    ll_fail(err, LL_ERR_KAFKA, "cannot create the broker host handle: %s",
            errstr);
    return NULL;
  }
  rd_kafka_mock_cluster_t *cluster =
      rd_kafka_mock_cluster_new(host, broker_count);
  if (!cluster) {
    rd_kafka_destroy(host);
    ll_fail(err, LL_ERR_KAFKA, "cannot start the embedded broker");
    return NULL;
  }
  const char *names[] = {topics->inbound,    topics->events,  topics->rejected,
                         topics->quantities, topics->members, topics->alerts,
                         topics->changelog};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    /* The members topic is tiny: one partition keeps its claims in order. */
    bool members = names[i] == topics->members;
    if (names[i] == NULL || names[i][0] == '\0' ||
        create_topic(cluster, names[i], members ? 1 : partitions, broker_count,
                     err) == 0)
      continue; /* absent: a caller that needs no such topic */
    rd_kafka_mock_cluster_destroy(cluster);
    rd_kafka_destroy(host);
    return NULL;
  }
  ll_broker *b = ll_xcalloc(1, sizeof *b);
  b->host = host;
  b->cluster = cluster;
  b->bootstraps = ll_strdup(rd_kafka_mock_cluster_bootstraps(cluster));
  ll_log(LL_INFO, "broker",
         "embedded broker listening on %s (%d broker(s), %d partitions per "
         "topic)",
         b->bootstraps, broker_count, partitions);
  return b;
}

const char *ll_broker_bootstraps(const ll_broker *b) {
  return b->bootstraps;
}

void *ll_broker_mock_cluster(ll_broker *b) {
  return b->cluster;
}

void ll_broker_stop(ll_broker *b) {
  if (!b)
    return;
  rd_kafka_mock_cluster_destroy(b->cluster);
  rd_kafka_destroy(b->host);
  free(b->bootstraps);
  free(b);
}
