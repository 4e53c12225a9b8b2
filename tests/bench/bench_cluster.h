/* bench_cluster.h — what bench_cluster.c and bench_cluster_standby.c
 * share: the options, the pre-generated workload, the instances and the
 * helpers that start, feed and watch them. */
#ifndef BENCH_CLUSTER_H
#define BENCH_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "harness.h"
#include "ll_buf.h"
#include "ll_codec.h"
#include "ll_store.h"

#define BC_INSTANCES_MAX 8
#define BC_STANDBY_INSTANCES 3 /* the instances of the --standby runs */
#define BC_PARTITIONS_MAX 256
#define BC_POLL_MS 20
#define BC_STABLE_MS 1000      /* assignment unchanged this long */
#define BC_JOIN_TIMEOUT_S 120  /* group formed */
#define BC_DRAIN_TIMEOUT_S 900 /* everything durable */
#define BC_STOP_TIMEOUT_MS 15000
/* About 110 bytes an event: 40,000 stay under the embedded broker's 5 MB
 * per partition. */
#define BC_EVENTS_PER_PARTITION_MAX 40000

typedef struct bc_opts {
  int64_t events;
  int partitions;
  int counts[BC_INSTANCES_MAX];
  int n_counts;
  bool kill;
  uint64_t seed;
  const char *out;
  /* --standby: failover of 3 `lotlined all` instances with and without
   * standbys after histories[0..n_histories) events (bench_cluster_standby.c)
   */
  bool standby;
  int64_t histories[BC_INSTANCES_MAX];
  int n_histories;
  int replicas; /* cluster.standby.replicas of the standby runs */
} bc_opts;

typedef struct bc_msg {
  char *key;
  ll_buf value;
} bc_msg;

typedef struct bc_result {
  int instances;
  double events_per_s;
  double cpu_us_per_event;
  double join_s;      /* spawn to a stable group */
  double failover_s;  /* kill to every orphaned partition decided again */
  double caught_up_s; /* kill to those partitions back where they stood */
  /* The events those partitions held at the kill, decided again by their
   * new owners, over the time from failover to caught up. */
  double takeover_eps;
} bc_result;

typedef struct bc_node {
  h_proc proc;
  char data[1024];
  char *metrics; /* host:port of metrics.listen */
  ll_store *log; /* secondary */
  bool dead;
  double cpu_at_death;
} bc_node;

double now_s(void);
void sleep_ms(int ms);
void die(const char *what, const char *why);
bc_msg *generate(const bc_opts *o, ll_codec *codec, int64_t *n_out);
void produce_all(const char *brokers, const bc_msg *msgs, int64_t n);
/* Until the instances' assigned partitions add up to every partition. */
void wait_stable_group(bc_node *nodes, int k, int partitions);
/* Each partition's highest next offset stored by any instance (and by a
 * live one); returns their sum. */
int64_t progress(bc_node *nodes, int k, const char *cluster, int partitions,
                 int64_t *per_partition, int64_t *alive_per_partition);
/* --standby: runs and prints its own table. */
void bc_standby_bench(const bc_opts *o, const bc_msg *msgs, int64_t total,
                      const char *bin);

#endif
