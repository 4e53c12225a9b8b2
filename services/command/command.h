/* command.h — the command consumer: lots.inbound -> rules -> the log. */
#ifndef LL_COMMAND_H
#define LL_COMMAND_H

#include <signal.h>
#include <stdatomic.h>

#include "ll_codec.h"
#include "ll_config.h"
#include "ll_kafka.h"
#include "ll_metrics.h"
#include "ll_rules.h"
#include "ll_store.h"
#include "rejection_outbox.h"

#define LL_BATCH_MAX_EVENTS_LIMIT 100000
#define LL_BATCH_MAX_MS_LIMIT 10000
#define LL_MIN_FREE_MB_LIMIT (1024 * 1024) /* storage.min.free.mb: 1 TiB */

typedef struct ll_command_opts {
  const ll_config *cfg;
  const char *brokers;
  ll_store *store; /* primary */
  ll_codec *codec;
  ll_outbox *outbox; /* publishes rejections (rejection_outbox.h) */
  ll_topics topics;
  ll_rule_opts rule_opts;
  /* Start a partition the log holds nothing of from its oldest remaining
   * event even when retention deleted earlier ones (otherwise a setup
   * error: cmd_check_start). */
  bool allow_truncated;
  /* A durable batch ends when the consumer has nothing more ready (group
   * commit), at batch_max_events messages, or batch_max_ms after its first
   * message while more keep coming. */
  int batch_max_events;
  int batch_max_ms;
  /* The brokers are the embedded one (librdkafka's mock cluster): it holds
   * an empty fetch for all of fetch.wait.max.ms, so keep that short. */
  bool embedded_broker;
  const char *log_dir;    /* the log's directory: its filesystem is watched */
  int64_t min_free_bytes; /* no batch is committed with less free (0: off) */
  ll_metrics *metrics;    /* NULL: none (command_metrics.h lists them) */
  /* Told every assignment change, from the rebalance callback: the
   * partitions of the input topic now held (n 0 on a revocation) and the
   * topic's partition count, and the consumer's member id in the group
   * ("" when unknown). It must not block (the cluster directory only
   * records it and sends a claim asynchronously). NULL: none. */
  void (*on_assignment)(void *ctx, const int32_t *parts, size_t n,
                        int32_t partition_count, const char *member_id);
  void *assignment_ctx;
  /* Standbys (command_standby.c): the partitions this instance should
   * stand by for now, as the cluster directory derives them (written into
   * out, at most cap; returns the count), asked from the loop every
   * CMD_STANDBY_CHECK_MS with assignment_ctx. NULL: no standbys (no
   * directory, or cluster.standby.replicas = 0). */
  size_t (*standby_of)(void *ctx, int32_t *out, size_t cap);
} ll_command_opts;

/* Counters, readable from other threads (metrics, logs). */
typedef struct ll_command_stats {
  atomic_llong accepted;
  atomic_llong rejected;
  atomic_llong duplicates;
  atomic_llong batches;
  atomic_bool assigned; /* has partitions */
} ll_command_stats;

/* Runs until *stop becomes non-zero; the batch in flight is finished and
 * synced first. Returns 0, or -1 with err on a fatal failure (storage
 * errors: offsets are not advanced past what was written). */
int ll_command_run(const ll_command_opts *opts, ll_command_stats *stats,
                   volatile sig_atomic_t *stop, ll_err *err);

#endif
