/* bench_cluster_standby.c — failover with standbys against takeover
 * without them, at several history sizes (lotline_bench_cluster
 * --standby; figures in docs/performance.md).
 *
 * For each history size H and each of cluster.standby.replicas = 0 (no
 * standbys: a new owner decides a partition again from its first event)
 * and 2 (with 3 instances, every instance keeps a warm copy of every
 * partition it does not own): a fresh embedded broker, 3 `lotlined all`
 * instances (publishing off: the command consumer's failover alone), the
 * group stable, H events produced, then
 *   1. "warm": every partition decided to its end by its owner, and with
 *      standbys by every instance;
 *   2. SIGKILL of the first instance; its partitions are the orphans;
 *   3. "reassigned": every orphan owned by a live instance (its
 *      lotline_consumer_lag_messages series shown);
 *   4. "failover": every orphan owned by a live instance whose log
 *      (read through a RocksDB secondary) holds it to its end.
 * Without standbys failover grows with H (the orphans' events are decided
 * again); with them it is the group's reassignment plus the tail. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_cluster.h"
#include "ll_hash.h"
#include "ll_kafka.h"
#include "ll_mem.h"

#define SB_INSTANCES 3
#define SB_REPLICAS_WARM (SB_INSTANCES - 1)
#define SB_WARM_TIMEOUT_S 900
#define SB_FAILOVER_TIMEOUT_S 900
#define SB_POLL_MS 50

typedef struct sb_result {
  int64_t history;
  int replicas;
  double warm_s; /* produced to warm */
  int64_t orphan_events;
  double reassigned_s; /* kill to every orphan owned again */
  double failover_s;   /* kill to every orphan owned and decided to its end */
} sb_result;

static void start_all(bc_node *node, const char *bin, const char *root, int i,
                      const char *brokers, int replicas) {
  snprintf(node->data, sizeof node->data, "%s/i%d", root, i);
  char log[1200], set_replicas[64];
  snprintf(log, sizeof log, "%s.log", node->data);
  snprintf(set_replicas, sizeof set_replicas, "cluster.standby.replicas=%d",
           replicas);
  const char *argv[] = {bin,           "all",
                        "--data",      node->data,
                        "--brokers",   brokers,
                        "--http",      "127.0.0.1:0",
                        "--set",       "metrics.listen=127.0.0.1:0",
                        "--set",       "group.id=bench-standby",
                        "--set",       "publish.enabled=false",
                        "--set",       set_replicas,
                        "--log-level", "warn",
                        NULL};
  node->proc = h_spawn(log, argv);
  node->metrics = h_wait_file(node->data, "metrics.addr", 30000);
  if (!node->metrics) {
    h_dump_log(&node->proc);
    die("instance", "no metrics.addr");
  }
}

/* The node's consumer holds p: its lag series is shown. */
static bool owns(const bc_node *n, int p) {
  char name[160];
  snprintf(name, sizeof name,
           "lotline_consumer_lag_messages{topic=\"lots.inbound\","
           "partition=\"%d\"}",
           p);
  return !n->dead && h_metric(n->metrics, name) >= 0;
}

/* The next offset of p the node's log holds (0: none). */
static int64_t stored(bc_node *n, const char *cluster, int p) {
  ll_err e;
  if (!n->log) {
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/log", n->data);
    n->log = ll_store_open(dir, LL_STORE_SECONDARY, &e);
    if (!n->log)
      return 0;
  }
  int64_t next = 0;
  bool found = false;
  if (ll_store_catch_up(n->log, &e) != 0 ||
      ll_store_get_offset(n->log, cluster, "lots.inbound", p, &next, &found,
                          &e) != 0 ||
      !found)
    return 0;
  return next;
}

/* Every partition at its end at its owner, and with standbys at every
 * instance. */
static bool warm(bc_node *nodes, const char *cluster, int partitions,
                 const int64_t *end, bool everywhere) {
  for (int p = 0; p < partitions; p++) {
    int at_end = 0;
    for (int i = 0; i < SB_INSTANCES; i++)
      at_end += stored(&nodes[i], cluster, p) >= end[p];
    if (at_end < (everywhere ? SB_INSTANCES : 1))
      return false;
  }
  return true;
}

/* Steps 2 to 4: kill the first instance and time its orphans' failover. */
static void fail_over(bc_node *nodes, const char *cluster, int partitions,
                      const int64_t *end, sb_result *r) {
  bool orphan[BC_PARTITIONS_MAX];
  for (int p = 0; p < partitions; p++) {
    orphan[p] = owns(&nodes[0], p);
    r->orphan_events += orphan[p] ? end[p] : 0;
  }
  double at = now_s();
  h_kill9(&nodes[0].proc);
  nodes[0].dead = true;
  while (r->failover_s == 0 && now_s() - at < SB_FAILOVER_TIMEOUT_S) {
    bool owned = true, done = true;
    for (int p = 0; p < partitions; p++) {
      bool o = false, d = false;
      for (int i = 1; i < SB_INSTANCES && orphan[p] && !d; i++) {
        bool mine = owns(&nodes[i], p);
        o = o || mine;
        d = mine && stored(&nodes[i], cluster, p) >= end[p];
      }
      owned = owned && (!orphan[p] || o);
      done = done && (!orphan[p] || d);
    }
    if (owned && r->reassigned_s == 0)
      r->reassigned_s = now_s() - at;
    if (done)
      r->failover_s = now_s() - at;
    sleep_ms(SB_POLL_MS);
  }
  if (r->failover_s == 0)
    die("failover", "orphans not decided to their end in time");
}

static void run_one(const bc_opts *o, const bc_msg *msgs, int64_t history,
                    int replicas, const char *bin, sb_result *r) {
  ll_topics topics = {"lots.inbound",    "lots.events",  "lots.rejected",
                      "lots.quantities", "lots.members", "lots.alerts"};
  ll_err e;
  ll_broker *broker = ll_broker_start(&topics, 1, o->partitions, &e);
  if (!broker)
    die("broker", e.message);
  const char *brokers = ll_broker_bootstraps(broker);
  char *cluster = h_cluster_id(brokers, 10000);
  char *root = h_tempdir("bench-standby");
  bc_node nodes[SB_INSTANCES];
  memset(nodes, 0, sizeof nodes);
  for (int i = 0; i < SB_INSTANCES; i++)
    start_all(&nodes[i], bin, root, i, brokers, replicas);
  wait_stable_group(nodes, SB_INSTANCES, o->partitions);
  int64_t end[BC_PARTITIONS_MAX] = {0};
  for (int64_t i = 0; i < history; i++)
    end[ll_partition_of_key(msgs[i].key, strlen(msgs[i].key), o->partitions)]++;
  produce_all(brokers, msgs, history);
  double t0 = now_s();
  while (!warm(nodes, cluster, o->partitions, end, replicas > 0)) {
    if (now_s() - t0 > SB_WARM_TIMEOUT_S)
      die("warm", "the instances did not decide the history in time");
    sleep_ms(200);
  }
  *r = (sb_result){.history = history, .replicas = replicas};
  r->warm_s = now_s() - t0;
  fail_over(nodes, cluster, o->partitions, end, r);
  for (int i = 0; i < SB_INSTANCES; i++) {
    if (nodes[i].log)
      ll_store_close(nodes[i].log);
    if (!nodes[i].dead)
      h_stop(&nodes[i].proc, BC_STOP_TIMEOUT_MS);
    free(nodes[i].metrics);
  }
  ll_broker_stop(broker);
  h_rmrf(root);
  free(root);
  free(cluster);
}

void bc_standby_bench(const bc_opts *o, const bc_msg *msgs, int64_t total,
                      const char *bin) {
  sb_result r[2 * BC_INSTANCES_MAX];
  int n = 0;
  for (int h = 0; h < o->n_histories; h++) {
    int64_t history = o->histories[h] < total ? o->histories[h] : total;
    for (int replicas = 0; replicas <= SB_REPLICAS_WARM;
         replicas += SB_REPLICAS_WARM) {
      fprintf(stderr, "history %" PRId64 ", cluster.standby.replicas %d\n",
              history, replicas);
      run_one(o, msgs, history, replicas, bin, &r[n++]);
    }
  }
  printf("\nlotline cluster: %d instances, %d partitions, the first killed "
         "once the history is decided\n",
         SB_INSTANCES, o->partitions);
  printf("%-10s %9s %15s %8s %13s %11s\n", "history", "replicas",
         "orphan events", "warm s", "reassigned s", "failover s");
  for (int i = 0; i < n; i++)
    printf("%-10" PRId64 " %9d %15" PRId64 " %8.1f %13.1f %11.1f\n",
           r[i].history, r[i].replicas, r[i].orphan_events, r[i].warm_s,
           r[i].reassigned_s, r[i].failover_s);
}
