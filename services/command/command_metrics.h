/* command_metrics.h — the command consumer's metrics (see command.c).
 *
 *   lotline_events_accepted_total           counter
 *   lotline_events_rejected_total{code}     counter, one series per code
 *   lotline_events_duplicate_total          counter (redeliveries: no-ops)
 *   lotline_decode_retries_total            counter (registry unreachable)
 *   lotline_batch_size_messages             histogram (messages per batch)
 *   lotline_batch_commit_seconds            histogram (synced RocksDB write)
 *   lotline_consumer_assigned_partitions    gauge
 *   lotline_consumer_lag_messages{topic,partition}
 *       gauge: the partition's high watermark (librdkafka's cached value,
 *       refreshed by every fetch) minus the next offset stored durably in
 *       the log, every LL_COMMAND_LAG_REFRESH_MS; shown only while the
 *       partition is assigned.
 *   lotline_task_position{topic,partition}
 *       gauge: the task position of the last entry in the log decided
 *       from the partition (docs/cluster-design.md), refreshed with the
 *       lag, shown only while the partition is assigned: the same number
 *       on every instance that holds the task once it has caught up.
 *   lotline_standby_lag_messages{topic,partition}
 *       gauge: as the consumer lag, for the partitions this instance
 *       stands by for (command_standby.c), shown only while it does.
 *   lotline_standby_promotions_total    counter (standby -> owner)
 *   lotline_rejections_parked           gauge (a standby's rejections,
 *       waiting for their owner's acknowledgement or a promotion)
 *   lotline_restore_entries_total       counter (entries restored from
 *       lots.events and lots.changelog: command_restore.c)
 *   lotline_restore_rejections_total    counter (rejections restored)
 *   lotline_restore_in_progress{topic,partition}
 *       gauge: 1 while the partition is being restored, else 0
 * All of it is owned by the consumer's thread except the series' values. */
#ifndef LL_COMMAND_METRICS_H
#define LL_COMMAND_METRICS_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ll_metrics.h"
#include "ll_store.h"
#include "ll_types.h"

#define LL_COMMAND_LAG_REFRESH_MS 1000
#define LL_COMMAND_METRICS_PARTITIONS_MAX 1024 /* partition ids tracked */

typedef struct command_partition {
  bool assigned;
  int64_t next; /* next offset durable in the log; < 0: from the start */
  bool standby; /* stood by for, not assigned */
  ll_series *lag;
  ll_series *task_position;
  ll_series *standby_lag;
} command_partition;

typedef struct command_metrics {
  const char *topic;
  ll_series *accepted, *duplicates, *retries;
  ll_series *rejected[LL_CODE_COUNT];
  ll_series *batch_size, *commit_latency, *assigned;
  ll_metric *lag;
  ll_metric *task_position;
  ll_metric *standby_lag;
  ll_series *promotions, *parked;
  ll_series *restore_entries, *restore_rejections;
  ll_metric *restoring;
  command_partition parts[LL_COMMAND_METRICS_PARTITIONS_MAX];
  uint64_t lag_refreshed_ns;
} command_metrics;

/* m may be NULL: every update is then a no-op. */
void command_metrics_init(command_metrics *cm, ll_metrics *m,
                          const char *topic);
void command_metrics_rejected(command_metrics *cm, ll_code code);
/* After the rebalance callback chose the start offsets. */
void command_metrics_assigned(command_metrics *cm,
                              const rd_kafka_topic_partition_list_t *parts);
void command_metrics_revoked(command_metrics *cm);
/* A batch is durable: its size, its commit time, its partitions' offsets. */
void command_metrics_batch(command_metrics *cm, size_t messages,
                           uint64_t commit_ns);
void command_metrics_committed(command_metrics *cm, int32_t partition,
                               int64_t next);
/* The partitions now stood by for (each from its stored offset, set by
 * command_metrics_committed as batches go). */
void command_metrics_standby(command_metrics *cm, const int32_t *parts,
                             size_t n);
void command_metrics_promoted(command_metrics *cm);
void command_metrics_parked(command_metrics *cm, uint64_t parked);
/* A restore of partition p starts (on) or ends (!on). */
void command_metrics_restoring(command_metrics *cm, int32_t p, bool on);
void command_metrics_restored(command_metrics *cm, uint64_t entries,
                              uint64_t rejections);
/* Recompute the lag and task position gauges if LL_COMMAND_LAG_REFRESH_MS
 * passed (log: where the task positions are read; may be NULL; standby:
 * the standby consumer, NULL when none). */
void command_metrics_refresh_lag(command_metrics *cm, rd_kafka_t *rk,
                                 rd_kafka_t *standby, ll_store *log);

#endif
