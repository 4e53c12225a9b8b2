/* command_metrics.c — the command consumer's metrics (see the header).
 *
 * Lag is computed from what is already in memory: librdkafka keeps each
 * assigned partition's high watermark from its fetch responses
 * (rd_kafka_get_watermark_offsets makes no request), and the consumer knows
 * the next offset it made durable. So the refresh costs a few lookups a
 * second and no round trip to the brokers. */
#include "command_metrics.h"

#include <stdio.h>
#include <string.h>

#include "ll_time.h"
#include "ll_types.h"

void command_metrics_init(command_metrics *cm, ll_metrics *m,
                          const char *topic) {
  memset(cm, 0, sizeof *cm);
  cm->topic = topic;
  if (m == NULL)
    return;
  cm->accepted = ll_metric_with(
      ll_metrics_counter(m, "lotline_events_accepted_total",
                         "Events accepted and appended to the log.", NULL));
  cm->duplicates = ll_metric_with(ll_metrics_counter(
      m, "lotline_events_duplicate_total",
      "Redelivered events (same event_id, same content): no-ops.", NULL));
  cm->retries = ll_metric_with(ll_metrics_counter(
      m, "lotline_decode_retries_total",
      "Messages put back because the schema registry could not be reached.",
      NULL));
  ll_metric *rejected =
      ll_metrics_counter(m, "lotline_events_rejected_total",
                         "Events rejected, by rejection code.", "code");
  for (int c = 1; c < LL_CODE_COUNT; c++)
    cm->rejected[c] = ll_metric_with(rejected, ll_code_name((ll_code)c));
  cm->batch_size = ll_metric_with(ll_metrics_histogram(
      m, "lotline_batch_size_messages",
      "Input messages per durable batch (one synced RocksDB write).", NULL,
      ll_metrics_size_buckets, ll_metrics_size_buckets_len, 1));
  cm->commit_latency = ll_metric_with(
      ll_metrics_histogram(m, "lotline_batch_commit_seconds",
                           "Time to commit a batch to the log (synced write).",
                           NULL, ll_metrics_latency_us_buckets,
                           ll_metrics_latency_us_buckets_len, 1000000));
  cm->assigned = ll_metric_with(ll_metrics_gauge(
      m, "lotline_consumer_assigned_partitions",
      "Partitions of the input topic assigned to this consumer.", NULL));
  cm->lag = ll_metrics_gauge(
      m, "lotline_consumer_lag_messages",
      "Messages in the partition not yet durable in the log (high "
      "watermark minus the next stored offset).",
      "topic,partition");
  cm->task_position = ll_metrics_gauge(
      m, "lotline_task_position",
      "Task position of the last log entry decided from the partition.",
      "topic,partition");
  cm->standby_lag = ll_metrics_gauge(
      m, "lotline_standby_lag_messages",
      "Messages of a partition this instance stands by for not yet decided "
      "in its shadow copy.",
      "topic,partition");
  cm->promotions = ll_metric_with(ll_metrics_counter(
      m, "lotline_standby_promotions_total",
      "Partitions this instance was handed while it stood by for them.", NULL));
  cm->parked = ll_metric_with(ll_metrics_gauge(
      m, "lotline_rejections_parked",
      "Rejections decided as a standby, kept until their owner has had them "
      "acknowledged or this instance is promoted.",
      NULL));
  cm->restore_entries = ll_metric_with(ll_metrics_counter(
      m, "lotline_restore_entries_total",
      "Entries a new owner restored from lots.events and lots.changelog.",
      NULL));
  cm->restore_rejections = ll_metric_with(ll_metrics_counter(
      m, "lotline_restore_rejections_total",
      "Rejections a new owner restored from lots.changelog.", NULL));
  cm->restoring = ll_metrics_gauge(
      m, "lotline_restore_in_progress",
      "1 while the partition is being restored from the changelog.",
      "topic,partition");
}

void command_metrics_restoring(command_metrics *cm, int32_t p, bool on) {
  char id[16];
  snprintf(id, sizeof id, "%d", (int)p);
  ll_gauge_set(ll_metric_with(cm->restoring, cm->topic, id), on ? 1 : 0);
}

void command_metrics_restored(command_metrics *cm, uint64_t entries,
                              uint64_t rejections) {
  ll_counter_add(cm->restore_entries, entries);
  ll_counter_add(cm->restore_rejections, rejections);
}

void command_metrics_rejected(command_metrics *cm, ll_code code) {
  if (code > LL_OK && code < LL_CODE_COUNT)
    ll_counter_add(cm->rejected[code], 1);
}

static command_partition *partition(command_metrics *cm, int32_t p) {
  return p >= 0 && p < LL_COMMAND_METRICS_PARTITIONS_MAX ? &cm->parts[p] : NULL;
}

void command_metrics_assigned(command_metrics *cm,
                              const rd_kafka_topic_partition_list_t *parts) {
  int n = 0;
  for (int i = 0; i < parts->cnt; i++) {
    command_partition *cp = partition(cm, parts->elems[i].partition);
    if (cp == NULL)
      continue;
    if (cp->lag == NULL && cm->lag != NULL) {
      char id[16];
      snprintf(id, sizeof id, "%d", (int)parts->elems[i].partition);
      cp->lag = ll_metric_with(cm->lag, cm->topic, id);
      cp->task_position = ll_metric_with(cm->task_position, cm->topic, id);
    }
    cp->assigned = true;
    cp->next = parts->elems[i].offset;
    n++;
  }
  ll_gauge_set(cm->assigned, n);
  cm->lag_refreshed_ns = 0; /* refresh at the next chance */
}

void command_metrics_revoked(command_metrics *cm) {
  for (size_t i = 0; i < LL_COMMAND_METRICS_PARTITIONS_MAX; i++) {
    if (cm->parts[i].assigned) {
      ll_series_hide(cm->parts[i].lag);
      ll_series_hide(cm->parts[i].task_position);
    }
    cm->parts[i].assigned = false;
  }
  ll_gauge_set(cm->assigned, 0);
}

void command_metrics_standby(command_metrics *cm, const int32_t *parts,
                             size_t n) {
  for (size_t i = 0; i < LL_COMMAND_METRICS_PARTITIONS_MAX; i++) {
    if (cm->parts[i].standby)
      ll_series_hide(cm->parts[i].standby_lag);
    cm->parts[i].standby = false;
  }
  for (size_t i = 0; i < n; i++) {
    command_partition *cp = partition(cm, parts[i]);
    if (cp == NULL || cm->standby_lag == NULL)
      continue;
    if (cp->standby_lag == NULL) {
      char id[16];
      snprintf(id, sizeof id, "%d", (int)parts[i]);
      cp->standby_lag = ll_metric_with(cm->standby_lag, cm->topic, id);
    }
    cp->standby = true;
    cp->next = -1; /* from its start, until a stored offset says more */
  }
  cm->lag_refreshed_ns = 0;
}

void command_metrics_promoted(command_metrics *cm) {
  ll_counter_add(cm->promotions, 1);
}

void command_metrics_parked(command_metrics *cm, uint64_t parked) {
  ll_gauge_set(cm->parked, (int64_t)parked);
}

void command_metrics_batch(command_metrics *cm, size_t messages,
                           uint64_t commit_ns) {
  ll_histogram_observe(cm->batch_size, messages);
  ll_histogram_observe(cm->commit_latency, commit_ns / 1000);
}

void command_metrics_committed(command_metrics *cm, int32_t p, int64_t next) {
  command_partition *cp = partition(cm, p);
  if (cp != NULL && next > cp->next)
    cp->next = next;
}

/* A standby partition's lag: its next offset is the one stored when it
 * was assigned or moved to by a batch; with none, the partition is read
 * from its start, as for an owned one. */
static void refresh_standby(command_metrics *cm, command_partition *cp,
                            rd_kafka_t *standby, int32_t p) {
  int64_t lo = 0, hi = 0;
  if (rd_kafka_get_watermark_offsets(standby, cm->topic, p, &lo, &hi) !=
          RD_KAFKA_RESP_ERR_NO_ERROR ||
      hi < 0)
    return; /* not fetched yet: no number rather than a wrong one */
  int64_t next = cp->next >= 0 ? cp->next : (lo >= 0 ? lo : 0);
  ll_gauge_set(cp->standby_lag, hi > next ? hi - next : 0);
}

void command_metrics_refresh_lag(command_metrics *cm, rd_kafka_t *rk,
                                 rd_kafka_t *standby, ll_store *log) {
  if (cm->lag == NULL)
    return;
  uint64_t now = ll_mono_ns();
  if (cm->lag_refreshed_ns != 0 &&
      now - cm->lag_refreshed_ns < LL_COMMAND_LAG_REFRESH_MS * 1000000ull)
    return;
  cm->lag_refreshed_ns = now;
  for (int32_t p = 0; p < LL_COMMAND_METRICS_PARTITIONS_MAX; p++) {
    command_partition *cp = &cm->parts[p];
    if (cp->standby && standby != NULL) {
      refresh_standby(cm, cp, standby, p);
      continue;
    }
    if (!cp->assigned)
      continue;
    if (log != NULL) {
      ll_task_last t;
      ll_store_task_last(log, p, &t);
      ll_gauge_set(cp->task_position, (int64_t)t.position);
    }
    int64_t lo = 0, hi = 0;
    if (rd_kafka_get_watermark_offsets(rk, cm->topic, p, &lo, &hi) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        hi < 0)
      continue; /* not fetched yet: no number rather than a wrong one */
    int64_t next = cp->next >= 0 ? cp->next : (lo >= 0 ? lo : 0);
    ll_gauge_set(cp->lag, hi > next ? hi - next : 0);
  }
}
