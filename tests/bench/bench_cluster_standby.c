/* bench_cluster_standby.c — failover with standbys against takeover
 * and restore without them, at several history sizes
 * (lotline_bench_cluster --standby; figures in docs/performance.md).
 *
 * For each history size H, three ways a partition comes to a new owner:
 *   decide   cluster.standby.replicas = 0, publishing off: nothing in
 *            lots.changelog, so a new owner decides the partition again
 *            from its first event;
 *   restore  replicas 0, publishing on: a new owner restores it from
 *            lots.events and lots.changelog (services/command/
 *            command_restore.c), then decides what follows the last mark;
 *   standby  replicas 2 (with 3 instances every instance keeps a warm copy
 *            of every partition it does not own), publishing off.
 * A fresh embedded broker, 3 `lotlined all` instances, the group stable,
 * H events produced, then
 *   1. "warm": every partition decided to its end by its owner, with
 *      standbys by every instance, and with publishing on published
 *      (lotline_publish_lag 0 everywhere);
 *   2. SIGKILL of the first instance; its partitions are the orphans;
 *   3. "reassigned": every orphan owned by a live instance (its
 *      lotline_consumer_lag_messages series shown);
 *   4. "failover": every orphan owned by a live instance whose log
 *      (read through a RocksDB secondary) holds it to its end.
 * A restore runs in the rebalance callback, before the partition shows as
 * owned, so "reassigned" includes it there; its own rate is read from the
 * new owners' logs ("restored lots.inbound/P: N of M entries ... in S s",
 * partitions restored one after the other on each instance): the entries
 * over the longest instance's total.
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

#define SB_INSTANCES BC_STANDBY_INSTANCES
#define SB_WARM_TIMEOUT_S 900
#define SB_FAILOVER_TIMEOUT_S 900
#define SB_POLL_MS 50

typedef enum sb_mode { SB_DECIDE, SB_RESTORE, SB_STANDBY, SB_MODES } sb_mode;
static const char *const sb_mode_names[SB_MODES] = {"decide", "restore",
                                                    "standby"};

typedef struct sb_result {
  int64_t history;
  sb_mode mode;
  double warm_s; /* produced to warm */
  int64_t orphan_events;
  double reassigned_s; /* kill to every orphan owned again */
  double failover_s;   /* kill to every orphan owned and decided to its end */
  int64_t restored;    /* entries restored (restore) */
  double restore_s;    /* the longest instance's restore time */
} sb_result;

static void start_all(bc_node *node, const char *bin, const char *root, int i,
                      const char *brokers, sb_mode mode, int replicas) {
  snprintf(node->data, sizeof node->data, "%s/i%d", root, i);
  char log[1200], set_replicas[64];
  snprintf(log, sizeof log, "%s.log", node->data);
  snprintf(set_replicas, sizeof set_replicas, "cluster.standby.replicas=%d",
           mode == SB_STANDBY ? replicas : 0);
  const char *argv[] = {bin,
                        "all",
                        "--data",
                        node->data,
                        "--brokers",
                        brokers,
                        "--http",
                        "127.0.0.1:0",
                        "--set",
                        "metrics.listen=127.0.0.1:0",
                        "--set",
                        "group.id=bench-standby",
                        "--set",
                        mode == SB_RESTORE ? "publish.enabled=true"
                                           : "publish.enabled=false",
                        "--set",
                        set_replicas,
                        "--log-level",
                        mode == SB_RESTORE ? "info" : "warn",
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

/* Every partition at its end at its owner, with standbys at as many
 * instances as there are replicas, and with publishing on in Kafka. */
static bool warm(bc_node *nodes, const char *cluster, int partitions,
                 const int64_t *end, sb_mode mode, int replicas) {
  for (int p = 0; p < partitions; p++) {
    int at_end = 0;
    for (int i = 0; i < SB_INSTANCES; i++)
      at_end += stored(&nodes[i], cluster, p) >= end[p];
    if (at_end < (mode == SB_STANDBY ? 1 + replicas : 1))
      return false;
  }
  for (int i = 0; mode == SB_RESTORE && i < SB_INSTANCES; i++)
    if (h_metric(nodes[i].metrics, "lotline_publish_lag") != 0)
      return false;
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

/* The restores the live instances logged (see the top of the file). */
static void read_restores(bc_node *nodes, sb_result *r) {
  for (int i = 0; i < SB_INSTANCES; i++) {
    if (nodes[i].dead)
      continue;
    char path[1200], line[1024];
    snprintf(path, sizeof path, "%s.log", nodes[i].data);
    FILE *f = fopen(path, "r");
    double total_s = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
      const char *at = strstr(line, "restored lots.inbound/");
      int p = 0;
      long long n = 0, m = 0, rej = 0;
      double s = 0;
      if (at != NULL &&
          sscanf(at,
                 "restored lots.inbound/%d: %lld of %lld entries and %lld "
                 "rejection(s) in %lf s",
                 &p, &n, &m, &rej, &s) == 5) {
        r->restored += n;
        total_s += s;
      }
    }
    if (f != NULL)
      fclose(f);
    if (total_s > r->restore_s)
      r->restore_s = total_s;
  }
}

static void run_one(const bc_opts *o, const bc_msg *msgs, int64_t history,
                    sb_mode mode, const char *bin, sb_result *r) {
  ll_topics topics = {"lots.inbound",    "lots.events",  "lots.rejected",
                      "lots.quantities", "lots.members", "lots.alerts",
                      "lots.changelog"};
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
    start_all(&nodes[i], bin, root, i, brokers, mode, o->replicas);
  wait_stable_group(nodes, SB_INSTANCES, o->partitions);
  int64_t end[BC_PARTITIONS_MAX] = {0};
  for (int64_t i = 0; i < history; i++)
    end[ll_partition_of_key(msgs[i].key, strlen(msgs[i].key), o->partitions)]++;
  produce_all(brokers, msgs, history);
  double t0 = now_s();
  while (!warm(nodes, cluster, o->partitions, end, mode, o->replicas)) {
    if (now_s() - t0 > SB_WARM_TIMEOUT_S)
      die("warm", "the instances did not decide the history in time");
    sleep_ms(200);
  }
  *r = (sb_result){.history = history, .mode = mode};
  r->warm_s = now_s() - t0;
  fail_over(nodes, cluster, o->partitions, end, r);
  if (mode == SB_RESTORE)
    read_restores(nodes, r);
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

/* decide: the orphans' events over the time from their reassignment to
 * their end; restore: the entries restored over the restore's time. */
static double takeover_eps(const sb_result *r) {
  if (r->mode == SB_RESTORE)
    return r->restore_s > 0 ? (double)r->restored / r->restore_s : 0;
  double s = r->failover_s - r->reassigned_s;
  return s > 0 ? (double)r->orphan_events / s : 0;
}

void bc_standby_bench(const bc_opts *o, const bc_msg *msgs, int64_t total,
                      const char *bin) {
  sb_result r[SB_MODES * BC_INSTANCES_MAX];
  int n = 0;
  for (int h = 0; h < o->n_histories; h++) {
    int64_t history = o->histories[h] < total ? o->histories[h] : total;
    for (int m = 0; m < SB_MODES; m++) {
      fprintf(stderr, "history %" PRId64 ", %s\n", history, sb_mode_names[m]);
      run_one(o, msgs, history, (sb_mode)m, bin, &r[n++]);
    }
  }
  printf("\nlotline cluster: %d instances, %d partitions, the first killed "
         "once the history is decided\n",
         SB_INSTANCES, o->partitions);
  printf("%-10s %9s %15s %8s %13s %11s %17s %12s\n", "history", "new owner",
         "orphan events", "warm s", "reassigned s", "failover s",
         "entries restored", "takeover/s");
  for (int i = 0; i < n; i++)
    printf("%-10" PRId64 " %9s %15" PRId64 " %8.1f %13.1f %11.1f %17" PRId64
           " %12.0f\n",
           r[i].history, sb_mode_names[r[i].mode], r[i].orphan_events,
           r[i].warm_s, r[i].reassigned_s, r[i].failover_s, r[i].restored,
           r[i].mode == SB_STANDBY ? 0.0 : takeover_eps(&r[i]));
}
