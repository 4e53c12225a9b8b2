/* ll_cluster.c — the ownership directory (ll_cluster.h): claims out to
 * lots.members, every instance's claims in from it.
 *
 * One thread follows the members topic from its beginning with a plain
 * assign (no consumer group: every instance reads every claim) and also
 * serves the claim producer's delivery reports. The table (ll_members.c)
 * and this instance's own partitions are under one mutex; readers (the
 * API's workers) hold it for a lookup only. */
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ll_cluster.h"
#include "ll_hash.h"
#include "ll_kafka.h"
#include "ll_logging.h"
#include "ll_mem.h"

#define CLUSTER_POLL_MS 100
#define CLUSTER_METADATA_WAIT_MS 1000
/* A clean stop waits this long for its tombstone to reach Kafka: the
 * others then forget it at once rather than at the next rebalance. Kept
 * short: a stop must end within its 5 s even when Kafka is gone. */
#define CLUSTER_STOP_FLUSH_MS 500

struct ll_cluster {
  char *id, *url, *topic;
  char member[LL_MEMBER_GROUP_ID_MAX]; /* the consumer's, in the group */
  rd_kafka_t *producer, *consumer;
  pthread_t thread;
  atomic_bool stopping;
  pthread_mutex_t mu; /* members, owns, partitions, generation */
  ll_members members;
  uint8_t owns[LL_MEMBERS_PARTITIONS_MAX / 8];
  int32_t partitions;
  int64_t generation; /* claims this instance has made */
  int standby_replicas;
  uint8_t standby[LL_MEMBERS_PARTITIONS_MAX / 8]; /* as last claimed */
  /* The members topic read to its end once (every partition's EOF), so
   * that "no peers" means none, not "not read yet". */
  int32_t members_partitions;
  uint8_t eof[LL_MEMBERS_PARTITIONS_MAX / 8];
  int32_t n_eof;
  atomic_bool caught_up;
  atomic_uint_fast64_t publish_epoch; /* ll_cluster_publish_epoch */
};

/* ---- clients ---- */

static rd_kafka_t *make_client(const ll_cluster_opts *o, rd_kafka_type_t type,
                               ll_err *err) {
  bool producer = type == RD_KAFKA_PRODUCER;
  /* librdkafka polls a consumer through its group's queue, so it needs a
   * group.id; this one never subscribes nor commits: a plain assign. */
  char group[LL_MEMBER_ID_MAX + 32];
  snprintf(group, sizeof group, "lotline-members-%s", o->instance_id);
  const char *producer_settings[][2] = {
      {"bootstrap.servers", o->brokers},
      {"client.id", "lotline-members"},
      {"linger.ms", "0"}, /* a claim is one record: send it now */
  };
  const char *consumer_settings[][2] = {
      {"bootstrap.servers", o->brokers},
      {"client.id", "lotline-members"},
      {"group.id", group},
      {"enable.auto.commit", "false"},
      {"fetch.wait.max.ms", "100"},     /* a tiny topic: claims promptly */
      {"enable.partition.eof", "true"}, /* to know it was read through */
  };
  rd_kafka_conf_t *conf =
      producer
          ? ll_kafka_conf_new(producer_settings, 3, o->cfg, "members", err)
          : ll_kafka_conf_new(consumer_settings, 6, o->cfg, "members", err);
  if (conf == NULL)
    return NULL;
  char errstr[512];
  rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
  if (rk == NULL)
    ll_fail(err, LL_ERR_KAFKA, "cannot create the members %s: %s",
            producer ? "producer" : "consumer", errstr);
  return rk;
}

/* ---- claims out ---- */

static bool has_bit(const uint8_t *bits, int32_t p) {
  return p >= 0 && p < LL_MEMBERS_PARTITIONS_MAX &&
         (bits[p / 8] & (1u << (p % 8))) != 0;
}

/* The partitions of bits (below n) into out; returns their count. */
static size_t list_bits(const uint8_t *bits, int32_t n, int32_t *out) {
  size_t k = 0;
  for (int32_t p = 0; p < n && p < LL_MEMBERS_PARTITIONS_MAX; p++)
    if (has_bit(bits, p))
      out[k++] = p;
  return k;
}

/* Send this instance's claim (called with mu held). */
static void publish_claim_locked(ll_cluster *c) {
  int32_t parts[LL_MEMBERS_PARTITIONS_MAX], standby[LL_MEMBERS_PARTITIONS_MAX];
  size_t n = list_bits(c->owns, c->partitions, parts);
  size_t n_standby = list_bits(c->standby, c->partitions, standby);
  ll_claim claim_of = {.id = c->id,
                       .url = c->url,
                       .member = c->member,
                       .parts = parts,
                       .n = n,
                       .standby = standby,
                       .n_standby = n_standby,
                       .partition_count = c->partitions,
                       .generation = ++c->generation};
  char *claim = ll_claim_encode_full(&claim_of);
  rd_kafka_resp_err_t e = rd_kafka_producev(
      c->producer, RD_KAFKA_V_TOPIC(c->topic),
      RD_KAFKA_V_KEY(c->id, strlen(c->id)),
      RD_KAFKA_V_VALUE(claim, strlen(claim)),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
  if (e)
    ll_log(LL_WARN, "cluster", "cannot send the claim of %zu partition(s): %s",
           n, rd_kafka_err2str(e));
  else
    ll_log(LL_INFO, "cluster",
           "claimed %zu of %d partition(s) as %s at %s, standing by for %zu", n,
           (int)c->partitions, c->id, c->url, n_standby);
  free(claim);
}

void ll_cluster_set_owned(ll_cluster *c, const int32_t *parts, size_t n,
                          int32_t partition_count, const char *member_id) {
  pthread_mutex_lock(&c->mu);
  snprintf(c->member, sizeof c->member, "%s",
           member_id != NULL ? member_id : "");
  memset(c->owns, 0, sizeof c->owns);
  if (partition_count > 0 && partition_count <= LL_MEMBERS_PARTITIONS_MAX)
    c->partitions = partition_count;
  for (size_t i = 0; i < n; i++)
    if (parts[i] >= 0 && parts[i] < LL_MEMBERS_PARTITIONS_MAX) {
      c->owns[parts[i] / 8] |= (uint8_t)(1u << (parts[i] % 8));
      c->standby[parts[i] / 8] &= (uint8_t) ~(1u << (parts[i] % 8));
    }
  publish_claim_locked(c);
  atomic_fetch_add(&c->publish_epoch, 1);
  pthread_mutex_unlock(&c->mu);
}

static bool has_peers_locked(const ll_cluster *c);
static int32_t partitions_locked(const ll_cluster *c);

size_t ll_cluster_standby(ll_cluster *c, int32_t *out, size_t cap) {
  uint8_t bits[LL_MEMBERS_PARTITIONS_MAX / 8];
  pthread_mutex_lock(&c->mu);
  int32_t n = partitions_locked(c);
  ll_members_standby(&c->members, c->id, n, c->standby_replicas, bits);
  for (size_t i = 0; i < sizeof bits; i++)
    bits[i] &= (uint8_t)~c->owns[i];
  if (memcmp(bits, c->standby, sizeof bits) != 0) {
    memcpy(c->standby, bits, sizeof bits);
    if (c->partitions > 0)
      publish_claim_locked(c); /* GET /v1/cluster shows them */
  }
  int32_t all[LL_MEMBERS_PARTITIONS_MAX];
  size_t k = list_bits(bits, n, all);
  pthread_mutex_unlock(&c->mu);
  if (k > cap)
    k = cap;
  memcpy(out, all, k * sizeof *out);
  return k;
}

/* ---- claims in ---- */

/* A partition of the members topic was read to its end. */
static void note_eof(ll_cluster *c, int32_t p) {
  if (atomic_load(&c->caught_up) || p < 0 || p >= LL_MEMBERS_PARTITIONS_MAX ||
      has_bit(c->eof, p))
    return;
  c->eof[p / 8] |= (uint8_t)(1u << (p % 8));
  if (++c->n_eof < c->members_partitions)
    return;
  atomic_store(&c->caught_up, true);
  atomic_fetch_add(&c->publish_epoch, 1);
  ll_log(LL_INFO, "cluster", "read %s through: the directory is complete",
         c->topic);
}

static void apply_record(ll_cluster *c, const rd_kafka_message_t *m) {
  if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    note_eof(c, m->partition);
    return;
  }
  if (m->err) {
    ll_log(LL_WARN, "cluster", "members topic: %s", rd_kafka_message_errstr(m));
    return;
  }
  rd_kafka_timestamp_type_t tstype;
  int64_t ts = rd_kafka_message_timestamp(m, &tstype);
  ll_err e = {0};
  pthread_mutex_lock(&c->mu);
  bool had_peers = has_peers_locked(c);
  int rc = ll_members_apply(&c->members, m->key, m->key_len, m->payload, m->len,
                            ts, m->offset, &e);
  if (has_peers_locked(c) != had_peers)
    atomic_fetch_add(&c->publish_epoch, 1);
  pthread_mutex_unlock(&c->mu);
  if (rc != 0)
    ll_log(LL_WARN, "cluster", "members topic offset %lld skipped (%s): %s",
           (long long)m->offset, ll_err_kind_name(e.kind), e.message);
}

/* Assign every partition of the members topic from its beginning; false
 * while the topic does not exist yet. */
static bool assign_all(ll_cluster *c) {
  rd_kafka_topic_t *t = rd_kafka_topic_new(c->consumer, c->topic, NULL);
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t e =
      rd_kafka_metadata(c->consumer, 0, t, &md, CLUSTER_METADATA_WAIT_MS);
  rd_kafka_topic_destroy(t);
  bool ok = e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
            md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
            md->topics[0].partition_cnt > 0;
  if (ok) {
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
      rd_kafka_topic_partition_list_add(l, c->topic, i)->offset =
          RD_KAFKA_OFFSET_BEGINNING;
    ok = rd_kafka_assign(c->consumer, l) == RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_topic_partition_list_destroy(l);
    c->members_partitions = md->topics[0].partition_cnt;
  }
  if (md != NULL)
    rd_kafka_metadata_destroy(md);
  return ok;
}

static void *follow_members(void *arg) {
  ll_cluster *c = arg;
  bool assigned = false, told = false;
  while (!atomic_load(&c->stopping)) {
    rd_kafka_poll(c->producer, 0); /* delivery reports */
    if (!assigned) {
      assigned = assign_all(c);
      if (assigned)
        ll_log(LL_INFO, "cluster", "following %s from its beginning", c->topic);
      if (!assigned && !told)
        ll_log(LL_WARN, "cluster",
               "waiting for topic %s (docs/operations.md: create it "
               "compacted, 1 to 3 partitions)",
               c->topic);
      told = true;
      continue;
    }
    rd_kafka_message_t *m =
        rd_kafka_consumer_poll(c->consumer, CLUSTER_POLL_MS);
    if (m != NULL) {
      apply_record(c, m);
      rd_kafka_message_destroy(m);
    }
  }
  return NULL;
}

/* ---- life cycle ---- */

static void cluster_free(ll_cluster *c) {
  /* It never joined a group: nothing to leave, nothing to wait for. */
  if (c->consumer != NULL)
    rd_kafka_destroy_flags(c->consumer, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  if (c->producer != NULL) {
    rd_kafka_purge(c->producer,
                   RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_destroy(c->producer);
  }
  pthread_mutex_destroy(&c->mu);
  free(c->id);
  free(c->url);
  free(c->topic);
  free(c);
}

ll_cluster *ll_cluster_start(const ll_cluster_opts *o, ll_err *err) {
  ll_cluster *c = ll_xcalloc(1, sizeof *c);
  c->id = ll_strdup(o->instance_id);
  c->url = ll_strdup(o->url);
  c->topic = ll_strdup(o->members_topic);
  c->standby_replicas = o->standby_replicas;
  pthread_mutex_init(&c->mu, NULL);
  atomic_init(&c->stopping, false);
  c->producer = make_client(o, RD_KAFKA_PRODUCER, err);
  if (c->producer != NULL)
    c->consumer = make_client(o, RD_KAFKA_CONSUMER, err);
  if (c->consumer == NULL) {
    cluster_free(c);
    return NULL;
  }
  rd_kafka_poll_set_consumer(c->consumer);
  if (pthread_create(&c->thread, NULL, follow_members, c) != 0) {
    ll_fail(err, LL_ERR_INTERNAL, "cannot start the members thread");
    cluster_free(c);
    return NULL;
  }
  ll_log(LL_INFO, "cluster", "instance %s, advertised as %s, following %s",
         c->id, c->url, c->topic);
  return c;
}

/* A clean stop: a tombstone under this instance's id removes it from
 * every directory at once (and from the topic at its next compaction). */
static void publish_leaving(ll_cluster *c) {
  rd_kafka_resp_err_t e =
      rd_kafka_producev(c->producer, RD_KAFKA_V_TOPIC(c->topic),
                        RD_KAFKA_V_KEY(c->id, strlen(c->id)),
                        RD_KAFKA_V_VALUE(NULL, 0), RD_KAFKA_V_END);
  if (e)
    ll_log(LL_WARN, "cluster", "cannot send the end of the claims of %s: %s",
           c->id, rd_kafka_err2str(e));
  else
    ll_log(LL_INFO, "cluster", "left the cluster as %s", c->id);
}

void ll_cluster_stop(ll_cluster *c) {
  if (c == NULL)
    return;
  pthread_mutex_lock(&c->mu);
  memset(c->owns, 0, sizeof c->owns);
  pthread_mutex_unlock(&c->mu);
  publish_leaving(c);
  rd_kafka_flush(c->producer, CLUSTER_STOP_FLUSH_MS);
  atomic_store(&c->stopping, true);
  pthread_join(c->thread, NULL);
  cluster_free(c);
}

/* ---- lookups ---- */

const char *ll_cluster_id(const ll_cluster *c) {
  return c->id;
}

static bool owns_locked(const ll_cluster *c, int32_t p) {
  return p >= 0 && p < LL_MEMBERS_PARTITIONS_MAX &&
         (c->owns[p / 8] & (1u << (p % 8))) != 0;
}

static int32_t partitions_locked(const ll_cluster *c) {
  return c->partitions > 0 ? c->partitions
                           : ll_members_partition_count(&c->members);
}

int32_t ll_cluster_partitions(ll_cluster *c) {
  pthread_mutex_lock(&c->mu);
  int32_t n = partitions_locked(c);
  pthread_mutex_unlock(&c->mu);
  return n;
}

bool ll_cluster_owns(ll_cluster *c, int32_t p) {
  pthread_mutex_lock(&c->mu);
  bool owns = owns_locked(c, p);
  pthread_mutex_unlock(&c->mu);
  return owns;
}

static bool has_peers_locked(const ll_cluster *c) {
  for (size_t i = 0; i < c->members.n; i++)
    if (strcmp(c->members.m[i].id, c->id) != 0)
      return true;
  return false;
}

bool ll_cluster_serves_product(ll_cluster *c, const char *product_id) {
  if (!ll_cluster_has_peers(c))
    return true;
  int32_t n = ll_cluster_partitions(c);
  return n <= 0 || ll_cluster_owns(c, ll_partition_of_key(
                                          product_id, strlen(product_id), n));
}

bool ll_cluster_has_peers(ll_cluster *c) {
  pthread_mutex_lock(&c->mu);
  bool peers = has_peers_locked(c);
  pthread_mutex_unlock(&c->mu);
  return peers;
}

static ll_owner_kind owner_locked(const ll_cluster *c, int32_t p, int *index) {
  *index = -1;
  if (owns_locked(c, p))
    return LL_OWNER_SELF;
  *index = ll_members_owner(&c->members, p, c->id);
  return *index >= 0 ? LL_OWNER_PEER : LL_OWNER_NONE;
}

ll_owner_kind ll_cluster_owner(ll_cluster *c, int32_t p, char *url,
                               size_t url_cap) {
  pthread_mutex_lock(&c->mu);
  int i;
  ll_owner_kind k = owner_locked(c, p, &i);
  if (k == LL_OWNER_PEER)
    snprintf(url, url_cap, "%s", c->members.m[i].url);
  pthread_mutex_unlock(&c->mu);
  return k;
}

/* Is member i the winning owner of at least one partition? */
static bool wins_some_locked(const ll_cluster *c, size_t i, int32_t n) {
  for (int32_t p = 0; p < n; p++) {
    int w;
    if (owner_locked(c, p, &w) == LL_OWNER_PEER && (size_t)w == i)
      return true;
  }
  return false;
}

size_t ll_cluster_peer_urls(ll_cluster *c, char (*urls)[LL_MEMBER_URL_MAX],
                            size_t cap) {
  pthread_mutex_lock(&c->mu);
  int32_t n = partitions_locked(c);
  size_t k = 0;
  for (size_t i = 0; i < c->members.n && k < cap; i++)
    if (strcmp(c->members.m[i].id, c->id) != 0 && wins_some_locked(c, i, n))
      snprintf(urls[k++], LL_MEMBER_URL_MAX, "%s", c->members.m[i].url);
  pthread_mutex_unlock(&c->mu);
  return k;
}

bool ll_cluster_complete(ll_cluster *c) {
  pthread_mutex_lock(&c->mu);
  int32_t n = partitions_locked(c);
  bool complete = n > 0;
  for (int32_t p = 0; p < n && complete; p++) {
    int i;
    complete = owner_locked(c, p, &i) != LL_OWNER_NONE;
  }
  pthread_mutex_unlock(&c->mu);
  return complete;
}

static json_t *instance_json(const char *id, const char *url, bool self,
                             const ll_cluster *c, int index, int32_t n) {
  json_t *parts = json_array(), *standby = json_array();
  const uint8_t *stands = self ? c->standby : c->members.m[index].standby;
  for (int32_t p = 0; p < n; p++) {
    int w;
    ll_owner_kind k = owner_locked(c, p, &w);
    if ((self && k == LL_OWNER_SELF) ||
        (!self && k == LL_OWNER_PEER && w == index))
      json_array_append_new(parts, json_integer(p));
    if (has_bit(stands, p))
      json_array_append_new(standby, json_integer(p));
  }
  return json_pack("{s:s, s:s, s:o, s:o, s:b}", "id", id, "url", url,
                   "partitions", parts, "standby", standby, "self", self);
}

json_t *ll_cluster_json(ll_cluster *c) {
  pthread_mutex_lock(&c->mu);
  int32_t n = partitions_locked(c);
  json_t *list = json_array();
  json_array_append_new(list, instance_json(c->id, c->url, true, c, -1, n));
  for (size_t i = 0; i < c->members.n; i++)
    if (strcmp(c->members.m[i].id, c->id) != 0)
      json_array_append_new(list, instance_json(c->members.m[i].id,
                                                c->members.m[i].url, false, c,
                                                (int)i, n));
  json_t *out = json_pack("{s:s, s:i, s:o}", "self", c->id, "partitions",
                          (int)n, "instances", list);
  pthread_mutex_unlock(&c->mu);
  return out;
}

bool ll_cluster_publishes(ll_cluster *c, int32_t p) {
  pthread_mutex_lock(&c->mu);
  bool yes =
      owns_locked(c, p) || (atomic_load(&c->caught_up) && !has_peers_locked(c));
  pthread_mutex_unlock(&c->mu);
  return yes;
}

uint64_t ll_cluster_publish_epoch(ll_cluster *c) {
  return atomic_load(&c->publish_epoch);
}
