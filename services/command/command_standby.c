/* command_standby.c — the standby consumer: warm copies of tasks.
 *
 * An instance stands by for a few partitions other instances own
 * (ll_members_standby: the next instances after the owner, by id). It
 * decides their input in the shadow, with the same rules, into its own
 * log store: the same entries, task positions, stamps and hashes as the
 * owner's (a task is deterministic). When the group hands it one of them
 * (a promotion), its consumer starts the partition at the offset stored
 * in the log, as for any assignment, and only the tail since is left to
 * decide: failover time does not grow with the partition's history.
 *
 * Why a second consumer, plain assign, polled by the same loop: the log
 * store has one writer, the command loop, and stays so; the group's
 * consumer keeps exactly the assignment the group gives (its rebalances,
 * its commits and its metrics are what they were), and changing the
 * standby set re-assigns only this consumer. Its group.id is never joined
 * nor committed to (librdkafka polls a consumer through a group queue).
 *
 * A standby has no outputs: its rejections are parked in the store
 * (ll_store_parked.c), the publisher publishes only owned tasks, and no
 * offset of a standby partition is committed to the group (the owner's).
 * What it parked is released to the outbox at promotion, and pruned once
 * the group's committed offset passed it (the owner commits an offset
 * only once the rejections before it are acknowledged). */
#include "command_standby.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command_topics.h"
#include "ll_kafka.h"
#include "ll_logging.h"
#include "ll_mem.h"

#define STANDBY_START_WAIT_MS 2000
#define STANDBY_GROUP_SUFFIX ".standby"
#define STANDBY_GROUP_MAX 300 /* bytes of the group.id, with NUL */

struct cmd_standby {
  cmd_standby_opts o;
  rd_kafka_t *rk; /* NULL until a first partition */
  uint8_t held[CMD_STANDBY_PARTITIONS_MAX / 8];
  size_t n_held;
  uint64_t epoch;
};

static bool bit(const uint8_t *bits, int32_t p) {
  return p >= 0 && p < CMD_STANDBY_PARTITIONS_MAX &&
         (bits[p / 8] & (1u << (p % 8))) != 0;
}

cmd_standby *cmd_standby_new(const cmd_standby_opts *o) {
  cmd_standby *s = ll_xcalloc(1, sizeof *s);
  s->o = *o;
  return s;
}

static rd_kafka_t *make_consumer(const cmd_standby_opts *o, ll_err *err) {
  char group[STANDBY_GROUP_MAX];
  snprintf(group, sizeof group, "%s" STANDBY_GROUP_SUFFIX,
           ll_config_get(o->cfg, "group.id"));
  const char *settings[][2] = {
      {"bootstrap.servers", o->brokers},
      {"group.id", group},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      /* as the group's consumer (command.c, on_offset_lost) */
      {"auto.offset.reset", o->allow_truncated ? "earliest" : "error"},
      {"client.id", "lotline-standby"},
      {"fetch.wait.max.ms", o->fetch_wait_max_ms},
      {"reconnect.backoff.max.ms", "1000"},
  };
  rd_kafka_conf_t *conf = ll_kafka_conf_new(
      settings, sizeof settings / sizeof settings[0], o->cfg, "consumer", err);
  if (conf == NULL)
    return NULL;
  char errstr[512];
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (rk == NULL) {
    ll_fail(err, LL_ERR_KAFKA, "cannot create the standby consumer: %s",
            errstr);
    return NULL;
  }
  rd_kafka_poll_set_consumer(rk);
  return rk;
}

/* Where partition p starts: its stored offset, else its first event; false
 * (logged) when it cannot start. */
static bool start_of(cmd_standby *s, ll_store *store, const char *cluster_id,
                     int32_t p, int64_t *start) {
  bool found = false;
  ll_err e = {0};
  if (ll_store_get_offset(store, cluster_id, s->o.topic, p, start, &found,
                          &e) == 0 &&
      (found || cmd_check_start(s->rk, s->o.topic, p, s->o.allow_truncated,
                                STANDBY_START_WAIT_MS, start, &e) == 0))
    return true;
  ll_log(LL_WARN, "standby", "not standing by for %s/%d: %s: %s", s->o.topic,
         (int)p, ll_err_kind_name(e.kind), e.message);
  return false;
}

int cmd_standby_assign(cmd_standby *s, ll_store *store, const char *cluster_id,
                       const int32_t *parts, size_t n, ll_err *err) {
  s->epoch++;
  if (s->rk == NULL && n == 0)
    return 0;
  if (s->rk == NULL && (s->rk = make_consumer(&s->o, err)) == NULL)
    return -1;
  rd_kafka_topic_partition_list_t *list =
      rd_kafka_topic_partition_list_new((int)n);
  uint8_t before[sizeof s->held];
  memcpy(before, s->held, sizeof before);
  memset(s->held, 0, sizeof s->held);
  s->n_held = 0;
  for (size_t i = 0; i < n; i++) {
    int64_t start = 0;
    if (parts[i] < 0 || parts[i] >= CMD_STANDBY_PARTITIONS_MAX ||
        !start_of(s, store, cluster_id, parts[i], &start))
      continue;
    rd_kafka_topic_partition_list_add(list, s->o.topic, parts[i])->offset =
        start;
    s->held[parts[i] / 8] |= (uint8_t)(1u << (parts[i] % 8));
    s->n_held++;
    if (!bit(before, parts[i])) /* a new copy, not one re-assigned */
      ll_log(LL_INFO, "standby", "standing by for %s/%d from offset %lld",
             s->o.topic, (int)parts[i], (long long)start);
  }
  rd_kafka_resp_err_t e = rd_kafka_assign(s->rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
    return ll_fail(err, LL_ERR_KAFKA, "standby consumer: cannot assign: %s",
                   rd_kafka_err2str(e));
  return 0;
}

bool cmd_standby_holds(const cmd_standby *s, int32_t partition) {
  return bit(s->held, partition);
}

size_t cmd_standby_count(const cmd_standby *s) {
  return s->n_held;
}

bool cmd_standby_differs(const cmd_standby *s, const int32_t *parts, size_t n) {
  if (n != s->n_held)
    return true;
  for (size_t i = 0; i < n; i++)
    if (!bit(s->held, parts[i]))
      return true;
  return false;
}

uint64_t cmd_standby_epoch(const cmd_standby *s) {
  return s->epoch;
}

rd_kafka_t *cmd_standby_consumer(cmd_standby *s) {
  return s->rk;
}

int64_t cmd_standby_high(cmd_standby *s, int32_t partition) {
  int64_t lo = -1, hi = -1;
  if (s->rk == NULL ||
      rd_kafka_get_watermark_offsets(s->rk, s->o.topic, partition, &lo, &hi) !=
          RD_KAFKA_RESP_ERR_NO_ERROR)
    return -1;
  return hi;
}

int cmd_standby_prune(cmd_standby *s, rd_kafka_t *group, ll_store *store,
                      const uint8_t *owned, int32_t partitions,
                      uint64_t *parked, ll_err *err) {
  rd_kafka_topic_partition_list_t *list =
      rd_kafka_topic_partition_list_new(partitions);
  for (int32_t p = 0; p < partitions && p < CMD_STANDBY_PARTITIONS_MAX; p++)
    if (!bit(owned, p))
      rd_kafka_topic_partition_list_add(list, s->o.topic, p);
  *parked = 0;
  int rc = 0;
  rd_kafka_resp_err_t e =
      list->cnt > 0
          ? rd_kafka_committed(group, list, CMD_STANDBY_COMMITTED_WAIT_MS)
          : RD_KAFKA_RESP_ERR_NO_ERROR;
  for (int i = 0; i < list->cnt && rc == 0; i++) {
    const rd_kafka_topic_partition_t *tp = &list->elems[i];
    size_t pruned = 0;
    uint64_t left = 0;
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR && tp->err == 0 && tp->offset > 0)
      rc =
          ll_store_parked_prune(store, tp->partition, tp->offset, &pruned, err);
    if (rc == 0)
      rc = ll_store_parked_count(store, tp->partition, &left, err);
    *parked += left;
    if (pruned > 0)
      ll_log(LL_DEBUG, "standby",
             "%s/%d: %zu parked rejection(s) acknowledged by the owner "
             "(committed offset %lld), %llu left",
             s->o.topic, (int)tp->partition, pruned, (long long)tp->offset,
             (unsigned long long)left);
  }
  rd_kafka_topic_partition_list_destroy(list);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
    ll_log(LL_DEBUG, "standby", "the group's committed offsets: %s",
           rd_kafka_err2str(e));
  return rc;
}

void cmd_standby_free(cmd_standby *s) {
  if (s == NULL)
    return;
  if (s->rk != NULL) {
    rd_kafka_assign(s->rk, NULL);
    /* It never joined its group: nothing to leave. */
    rd_kafka_destroy_flags(s->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  }
  free(s);
}
