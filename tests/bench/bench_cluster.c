/* bench_cluster.c — lotline as a cluster: throughput of 1, 2, 3 ...
 * `lotlined command` instances sharing one consumer group, the CPU each
 * event costs, and what a SIGKILL of one instance costs.
 *
 * For each instance count (a fresh embedded broker hosted in this process
 * every time):
 *   1. start the instances, each on its own data directory, and wait until
 *      the group is stable: every partition of lots.inbound assigned (the
 *      instances' lotline_consumer_assigned_partitions add up) and
 *      unchanged for a second;
 *   2. produce the same pre-generated workload (workload.c) as fast as
 *      librdkafka goes, while the instances consume;
 *   3. watch every instance's log through a RocksDB secondary: a
 *      partition's progress is the highest next offset any instance stored
 *      for it; done when the partitions' progress adds up to every event;
 *   4. with --kill (and two instances or more): when half the events are
 *      durable, SIGKILL the first instance; "failover" is the time until
 *      every partition it held is being decided again by another instance
 *      (an offset stored there), "caught up" until those partitions are
 *      back where they stood at the kill (an instance that takes a
 *      partition over without its state decides it again from its first
 *      offset: docs/cluster-design.md).
 * Throughput is events over the time from the first durable batch to the
 * last; CPU per event is the instances' user+system CPU over the run
 * (/proc/<pid>/stat) divided by the events. Prints a table, writes JSON
 * (--out). Not a test: run by hand, figures in docs/performance.md. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "ll_buf.h"
#include "ll_kafka.h"
#include "ll_mem.h"
#include "ll_store.h"
#include "workload.h"

#include "bench_cluster.h"

double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

void die(const char *what, const char *why) {
  fprintf(stderr, "bench_cluster: %s: %s\n", what, why);
  exit(1);
}

/* User + system CPU seconds of pid so far (0 when it is gone). */
static double cpu_s(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
  unsigned long utime = 0, stime = 0;
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                   &utime, &stime) != 2)
    return 0;
  return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- the workload, generated once ---- */

bc_msg *generate(const bc_opts *o, ll_codec *codec, int64_t *n_out) {
  wl_config cfg = {.seed = o->seed,
                   .events = o->events,
                   .products = 2000,
                   .lots = 40000,
                   .serial_pct = 10,
                   .invalid_pm = 20,
                   .start_ms = 1800000000000LL};
  workload *wl = wl_new(&cfg, codec);
  bc_msg *msgs = ll_xcalloc((size_t)o->events, sizeof *msgs);
  const char *key;
  int64_t n = 0;
  ll_buf v;
  ll_buf_init(&v);
  while (n < o->events && wl_next(wl, &key, &v)) {
    msgs[n].key = ll_strdup(key);
    ll_buf_init(&msgs[n].value);
    ll_buf_put(&msgs[n].value, v.data, v.len);
    n++;
  }
  ll_buf_free(&v);
  wl_free(wl);
  *n_out = n;
  return msgs;
}

void produce_all(const char *brokers, const bc_msg *msgs, int64_t n) {
  char err[256];
  rd_kafka_conf_t *c = rd_kafka_conf_new();
  const char *kv[][2] = {{"bootstrap.servers", brokers},
                         {"linger.ms", "20"},
                         {"batch.num.messages", "10000"},
                         {"queue.buffering.max.messages", "2000000"},
                         {"queue.buffering.max.kbytes", "2000000"},
                         {"enable.idempotence", "true"},
                         {"partitioner", "murmur2_random"}};
  for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
    if (rd_kafka_conf_set(c, kv[i][0], kv[i][1], err, sizeof err))
      die("producer config", err);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
  if (!rk)
    die("producer", err);
  for (int64_t i = 0; i < n; i++) {
    rd_kafka_resp_err_t e;
    while ((e = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC("lots.inbound"),
                RD_KAFKA_V_KEY(msgs[i].key, strlen(msgs[i].key)),
                RD_KAFKA_V_VALUE(msgs[i].value.data, msgs[i].value.len),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL)
      rd_kafka_poll(rk, 5);
    if (e)
      die("produce", rd_kafka_err2str(e));
    rd_kafka_poll(rk, 0);
  }
  if (rd_kafka_flush(rk, 120000))
    die("produce", "flush timed out");
  rd_kafka_destroy(rk);
}

/* ---- the instances ---- */

static void start_node(bc_node *node, const char *bin, const char *root, int i,
                       const char *brokers) {
  snprintf(node->data, sizeof node->data, "%s/i%d", root, i);
  char log[1200];
  snprintf(log, sizeof log, "%s.log", node->data);
  const char *argv[] = {bin,           "command",
                        "--data",      node->data,
                        "--brokers",   brokers,
                        "--set",       "metrics.listen=127.0.0.1:0",
                        "--set",       "group.id=bench-cluster",
                        "--log-level", "warn",
                        NULL};
  node->proc = h_spawn(log, argv);
  node->metrics = h_wait_file(node->data, "metrics.addr", 30000);
  if (!node->metrics) {
    h_dump_log(&node->proc);
    die("instance", "no metrics.addr");
  }
}

/* Until the instances' assigned partitions add up to every partition and
 * stay so for BC_STABLE_MS. */
void wait_stable_group(bc_node *nodes, int k, int partitions) {
  double deadline = now_s() + BC_JOIN_TIMEOUT_S, since = 0;
  for (;;) {
    long sum = 0;
    for (int i = 0; i < k; i++) {
      long a =
          h_metric(nodes[i].metrics, "lotline_consumer_assigned_partitions");
      sum += a > 0 ? a : 0;
    }
    if (sum == partitions) {
      if (since == 0)
        since = now_s();
      if ((now_s() - since) * 1000 >= BC_STABLE_MS)
        return;
    } else {
      since = 0;
    }
    if (now_s() > deadline)
      die("group", "not stable in time");
    sleep_ms(100);
  }
}

/* Each partition's progress: the highest next offset any instance stored;
 * returns their sum. */
int64_t progress(bc_node *nodes, int k, const char *cluster, int partitions,
                 int64_t *per_partition, int64_t *alive_per_partition) {
  int64_t sum = 0;
  for (int p = 0; p < partitions; p++)
    per_partition[p] = alive_per_partition[p] = 0;
  for (int i = 0; i < k; i++) {
    ll_err e;
    if (!nodes[i].log) {
      char dir[1200];
      snprintf(dir, sizeof dir, "%s/log", nodes[i].data);
      nodes[i].log = ll_store_open(dir, LL_STORE_SECONDARY, &e);
      if (!nodes[i].log)
        continue;
    }
    if (ll_store_catch_up(nodes[i].log, &e) != 0)
      continue;
    for (int p = 0; p < partitions; p++) {
      int64_t next = 0;
      bool found = false;
      if (ll_store_get_offset(nodes[i].log, cluster, "lots.inbound", p, &next,
                              &found, &e) != 0 ||
          !found)
        continue;
      if (next > per_partition[p])
        per_partition[p] = next;
      if (!nodes[i].dead && next > alive_per_partition[p])
        alive_per_partition[p] = next;
    }
  }
  for (int p = 0; p < partitions; p++)
    sum += per_partition[p];
  return sum;
}

/* What the kill left to do: the partitions the killed instance was ahead
 * on, and where they stood. */
typedef struct bc_kill {
  double at;
  int64_t stood[BC_PARTITIONS_MAX];
  bool orphan[BC_PARTITIONS_MAX];
  double failover_at, caught_up_at;
  int64_t orphan_events;
} bc_kill;

static void kill_first(bc_node *nodes, int partitions, const int64_t *per,
                       bc_kill *kl) {
  memset(kl, 0, sizeof *kl);
  kl->at = now_s();
  nodes[0].cpu_at_death = cpu_s(nodes[0].proc.pid);
  h_kill9(&nodes[0].proc);
  nodes[0].dead = true;
  for (int p = 0; p < partitions; p++)
    kl->stood[p] = per[p];
}

/* Mark orphans once, after the kill: partitions no live instance is at
 * least as far on as the dead one was. */
static void note_orphans(bc_kill *kl, int partitions, const int64_t *per,
                         const int64_t *alive) {
  for (int p = 0; p < partitions; p++) {
    kl->orphan[p] = alive[p] < per[p];
    if (kl->orphan[p])
      kl->orphan_events += kl->stood[p];
  }
}

static void watch_failover(bc_kill *kl, int partitions, const int64_t *alive) {
  bool all_started = true, all_caught_up = true;
  for (int p = 0; p < partitions; p++) {
    if (!kl->orphan[p])
      continue;
    all_started = all_started && alive[p] > 0;
    all_caught_up = all_caught_up && alive[p] >= kl->stood[p];
  }
  if (all_started && kl->failover_at == 0)
    kl->failover_at = now_s();
  if (all_caught_up && kl->caught_up_at == 0)
    kl->caught_up_at = now_s();
}

static void stop_nodes(bc_node *nodes, int k) {
  for (int i = 0; i < k; i++) {
    if (nodes[i].log)
      ll_store_close(nodes[i].log);
    if (!nodes[i].dead && h_stop(&nodes[i].proc, BC_STOP_TIMEOUT_MS) != 0)
      die("stop", "an instance did not stop cleanly");
    free(nodes[i].metrics);
  }
}

/* Steps 3 and 4: until every event is durable. */
static void drain(bc_node *nodes, int k, const char *cluster, int partitions,
                  int64_t total, bool kill, bc_result *r, double *t_first,
                  double *t_end, bc_kill *kl) {
  int64_t per[BC_PARTITIONS_MAX], alive[BC_PARTITIONS_MAX];
  double deadline = now_s() + BC_DRAIN_TIMEOUT_S;
  bool killed = false, orphans_noted = false;
  int64_t done = 0;
  *t_first = 0;
  while (done < total) {
    sleep_ms(BC_POLL_MS);
    done = progress(nodes, k, cluster, partitions, per, alive);
    if (done > 0 && *t_first == 0)
      *t_first = now_s();
    if (kill && !killed && done >= total / 2) {
      kill_first(nodes, partitions, per, kl);
      killed = true;
      continue;
    }
    if (killed && !orphans_noted) {
      note_orphans(kl, partitions, per, alive);
      orphans_noted = true;
    }
    if (killed)
      watch_failover(kl, partitions, alive);
    if (now_s() > deadline)
      die("drain", "timed out");
  }
  if (killed) {
    while (kl->caught_up_at == 0 && now_s() < deadline) {
      progress(nodes, k, cluster, partitions, per, alive);
      watch_failover(kl, partitions, alive);
      sleep_ms(BC_POLL_MS);
    }
    r->failover_s = kl->failover_at - kl->at;
    r->caught_up_s = kl->caught_up_at - kl->at;
    if (kl->caught_up_at > kl->failover_at)
      r->takeover_eps =
          (double)kl->orphan_events / (kl->caught_up_at - kl->failover_at);
  }
  *t_end = now_s();
}

static void run_count(const bc_opts *o, int k, const bc_msg *msgs,
                      int64_t total, const char *bin, bc_result *r) {
  ll_topics topics = {"lots.inbound", "lots.events", "lots.rejected",
                      "lots.quantities"};
  topics.changelog = "lots.changelog"; /* lotlined checks it exists */
  ll_err e;
  ll_broker *broker = ll_broker_start(&topics, 1, o->partitions, &e);
  if (!broker)
    die("broker", e.message);
  const char *brokers = ll_broker_bootstraps(broker);
  char *cluster = h_cluster_id(brokers, 10000);
  char *root = h_tempdir("bench-cluster");
  bc_node nodes[BC_INSTANCES_MAX];
  memset(nodes, 0, sizeof nodes);
  double t_spawn = now_s();
  for (int i = 0; i < k; i++)
    start_node(&nodes[i], bin, root, i, brokers);
  wait_stable_group(nodes, k, o->partitions);
  r->instances = k;
  r->join_s = now_s() - t_spawn;
  double cpu0[BC_INSTANCES_MAX];
  for (int i = 0; i < k; i++)
    cpu0[i] = cpu_s(nodes[i].proc.pid);
  produce_all(brokers, msgs, total);
  double t_first, t_end;
  bc_kill kl;
  memset(&kl, 0, sizeof kl);
  drain(nodes, k, cluster, o->partitions, total, o->kill && k >= 2, r, &t_first,
        &t_end, &kl);
  double cpu = 0;
  for (int i = 0; i < k; i++)
    cpu += (nodes[i].dead ? nodes[i].cpu_at_death : cpu_s(nodes[i].proc.pid)) -
           cpu0[i];
  r->events_per_s = (double)total / (t_end - t_first);
  r->cpu_us_per_event = cpu * 1e6 / (double)total;
  stop_nodes(nodes, k);
  ll_broker_stop(broker);
  h_rmrf(root);
  free(root);
  free(cluster);
}

/* ---- options, report ---- */

static void usage(FILE *out) {
  fprintf(out,
          "Usage: lotline_bench_cluster [--events N] [--partitions P]\n"
          "                             [--instances 1,2,3] [--kill]\n"
          "                             [--seed S] [--out FILE]\n"
          "       lotline_bench_cluster --standby [--histories 20000,80000]\n"
          "                             [--replicas 2]\n"
          "\n"
          "Throughput and CPU per event of N `lotlined command` instances in\n"
          "one consumer group on an embedded broker; with --kill, the cost\n"
          "of a SIGKILL of one instance halfway (runs of 2 instances or "
          "more).\n"
          "Needs LOTLINE_BIN (the build's bin/) and LOTLINE_SCHEMAS.\n"
          "Defaults: 300000 events, 12 partitions, instances 1,2,3.\n"
          "--standby: failover of 3 `lotlined all` instances after each\n"
          "history, without standbys (cluster.standby.replicas 0: the new\n"
          "owner decides the input again, or with publishing on restores\n"
          "from lots.changelog) and with (--replicas, default 2: every\n"
          "instance warm; 1 is the shipped default), in one run.\n");
}

static int parse_counts(const char *arg, bc_opts *o) {
  o->n_counts = 0;
  char *copy = ll_strdup(arg), *save = NULL;
  for (char *t = strtok_r(copy, ",", &save); t;
       t = strtok_r(NULL, ",", &save)) {
    char *end;
    long v = strtol(t, &end, 10);
    if (*end || v < 1 || v > BC_INSTANCES_MAX ||
        o->n_counts == BC_INSTANCES_MAX) {
      free(copy);
      return -1;
    }
    o->counts[o->n_counts++] = (int)v;
  }
  free(copy);
  return o->n_counts > 0 ? 0 : -1;
}

static int parse_histories(const char *arg, bc_opts *o) {
  o->n_histories = 0;
  char *copy = ll_strdup(arg), *save = NULL;
  for (char *t = strtok_r(copy, ",", &save); t;
       t = strtok_r(NULL, ",", &save)) {
    char *end;
    long long v = strtoll(t, &end, 10);
    if (*end || v < 1000 || o->n_histories == BC_INSTANCES_MAX) {
      free(copy);
      return -1;
    }
    o->histories[o->n_histories++] = v;
  }
  free(copy);
  return o->n_histories > 0 ? 0 : -1;
}

/* -1: go on; otherwise the exit status. */
static int parse_opts(int argc, char **argv, bc_opts *o) {
  static const struct option longs[] = {
      {"events", required_argument, NULL, 'e'},
      {"partitions", required_argument, NULL, 'p'},
      {"instances", required_argument, NULL, 'i'},
      {"kill", no_argument, NULL, 'k'},
      {"seed", required_argument, NULL, 's'},
      {"standby", no_argument, NULL, 'S'},
      {"histories", required_argument, NULL, 'H'},
      {"replicas", required_argument, NULL, 'r'},
      {"out", required_argument, NULL, 'o'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
    switch (c) {
    case 'e':
      o->events = strtoll(optarg, NULL, 10);
      break;
    case 'p':
      o->partitions = atoi(optarg);
      break;
    case 'i':
      if (parse_counts(optarg, o) != 0) {
        fprintf(stderr, "bench_cluster: --instances: 1..%d, comma-separated\n",
                BC_INSTANCES_MAX);
        return 2;
      }
      break;
    case 'k':
      o->kill = true;
      break;
    case 's':
      o->seed = strtoull(optarg, NULL, 10);
      break;
    case 'S':
      o->standby = true;
      break;
    case 'H':
      if (parse_histories(optarg, o) != 0) {
        fprintf(stderr, "bench_cluster: --histories: event counts >= 1000, "
                        "comma-separated\n");
        return 2;
      }
      break;
    case 'r':
      o->replicas = atoi(optarg);
      if (o->replicas < 1 || o->replicas > BC_STANDBY_INSTANCES - 1) {
        fprintf(stderr, "bench_cluster: --replicas: 1..%d\n",
                BC_STANDBY_INSTANCES - 1);
        return 2;
      }
      break;
    case 'o':
      o->out = optarg;
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return 2;
    }
  }
  if (o->standby)
    o->events = 0; /* generate the longest history */
  for (int i = 0; o->standby && i < o->n_histories; i++)
    if (o->histories[i] > o->events)
      o->events = o->histories[i];
  if (o->events > (int64_t)o->partitions * BC_EVENTS_PER_PARTITION_MAX) {
    fprintf(stderr,
            "bench_cluster: at most %d events per partition (%d partitions: "
            "--events %lld at most): the embedded broker keeps about 5 MB "
            "per partition and drops older records\n",
            BC_EVENTS_PER_PARTITION_MAX, o->partitions,
            (long long)o->partitions * BC_EVENTS_PER_PARTITION_MAX);
    return 2;
  }
  if (o->events < 1000 || o->partitions < 1 ||
      o->partitions > BC_PARTITIONS_MAX) {
    fprintf(stderr, "bench_cluster: --events >= 1000, --partitions 1..%d\n",
            BC_PARTITIONS_MAX);
    return 2;
  }
  return -1;
}

static void report(const bc_opts *o, const bc_result *r, int n, int64_t total) {
  printf("\nlotline cluster: %" PRId64 " events, %d partitions%s\n", total,
         o->partitions, o->kill ? ", first instance killed halfway" : "");
  printf("%-10s %12s %8s %14s %8s", "instances", "events/s", "ratio",
         "CPU us/event", "join s");
  if (o->kill)
    printf(" %11s %12s %15s", "failover s", "caught up s", "takeover ev/s");
  printf("\n");
  for (int i = 0; i < n; i++) {
    printf("%-10d %12.0f %8.2f %14.1f %8.1f", r[i].instances, r[i].events_per_s,
           r[i].events_per_s / r[0].events_per_s, r[i].cpu_us_per_event,
           r[i].join_s);
    if (o->kill && r[i].instances >= 2)
      printf(" %11.1f %12.1f %15.0f", r[i].failover_s, r[i].caught_up_s,
             r[i].takeover_eps);
    printf("\n");
  }
  if (!o->out)
    return;
  FILE *f = fopen(o->out, "w");
  if (!f)
    die(o->out, strerror(errno));
  fprintf(f,
          "{\"events\": %" PRId64 ", \"partitions\": %d, \"kill\": %s, "
          "\"runs\": [",
          total, o->partitions, o->kill ? "true" : "false");
  for (int i = 0; i < n; i++)
    fprintf(f,
            "%s{\"instances\": %d, \"events_per_s\": %.0f, "
            "\"cpu_us_per_event\": %.2f, \"join_s\": %.2f, "
            "\"failover_s\": %.2f, \"caught_up_s\": %.2f, "
            "\"takeover_eps\": %.0f}",
            i ? ", " : "", r[i].instances, r[i].events_per_s,
            r[i].cpu_us_per_event, r[i].join_s, r[i].failover_s,
            r[i].caught_up_s, r[i].takeover_eps);
  fprintf(f, "]}\n");
  fclose(f);
}

int main(int argc, char **argv) {
  bc_opts o = {.events = 300000,
               .partitions = 12,
               .counts = {1, 2, 3},
               .n_counts = 3,
               .seed = 42,
               .histories = {20000, 80000},
               .n_histories = 2,
               .replicas = BC_STANDBY_INSTANCES - 1};
  int status = parse_opts(argc, argv, &o);
  if (status >= 0)
    return status;
  signal(SIGPIPE, SIG_IGN);
  char bin[1024];
  h_bin("lotlined", bin, sizeof bin);
  ll_err e;
  ll_codec *codec = ll_codec_open(getenv("LOTLINE_SCHEMAS"), NULL, &e);
  if (!codec)
    die("schemas (set LOTLINE_SCHEMAS)", e.message);
  int64_t total = 0;
  fprintf(stderr, "generating %" PRId64 " events\n", o.events);
  bc_msg *msgs = generate(&o, codec, &total);
  bc_result results[BC_INSTANCES_MAX];
  memset(results, 0, sizeof results);
  if (o.standby)
    bc_standby_bench(&o, msgs, total, bin);
  for (int i = 0; i < o.n_counts && !o.standby; i++) {
    fprintf(stderr, "%d instance(s)\n", o.counts[i]);
    run_count(&o, o.counts[i], msgs, total, bin, &results[i]);
  }
  if (!o.standby)
    report(&o, results, o.n_counts, total);
  for (int64_t i = 0; i < total; i++) {
    free(msgs[i].key);
    ll_buf_free(&msgs[i].value);
  }
  free(msgs);
  ll_codec_close(codec);
  return 0;
}
