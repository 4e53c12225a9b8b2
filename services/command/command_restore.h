/* command_restore.h — restoring a task from Kafka (command_restore.c). */
#ifndef LL_COMMAND_RESTORE_H
#define LL_COMMAND_RESTORE_H

#include <stdbool.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "command_metrics.h"
#include "ll_codec.h"
#include "ll_config.h"
#include "ll_kafka.h"
#include "ll_rules.h"
#include "ll_store.h"

typedef struct cmd_restore_opts {
  const ll_config *cfg; /* kafka.* keys */
  const char *brokers;
  const ll_topics *topics;
  ll_store *store; /* primary, no batch open */
  ll_codec *codec;
  const ll_rule_opts *rule_opts;
  const char *cluster_id; /* the input offsets are stored under it */
  /* The group's consumer: its committed offsets say which rejections the
   * old owner had acknowledged on lots.rejected. */
  rd_kafka_t *group;
  bool allow_truncated; /* input.allow_truncated */
  command_metrics *metrics;
} cmd_restore_opts;

/* Where the local task stands when partition p is assigned, and what the
 * restore did. */
typedef struct cmd_restore_task {
  int32_t partition;
  bool have_offset; /* the log stores a next input offset for p */
  int64_t next;     /* that offset */
  /* Out: restored, the input resumes at next (then have_offset). */
  bool restored;
  uint64_t entries, rejections;
  uint64_t started_ns; /* ll_mono_ns when the restore began */
  /* Rejections restored into the outbox (their sequences, malloc'd: the
   * caller hands them to the outbox and frees them). */
  uint64_t *resend;
  size_t n_resend;
} cmd_restore_task;

/* Restore task t->partition from lots.changelog, lots.events (and the
 * rules) when the changelog's last mark is beyond the local task: the
 * entries after it and the rejections after its input offset are
 * appended and applied, in input order, as deciding them did, and the
 * input resumes after the mark. Nothing to restore (no mark, or the local
 * task is as far): t->restored false. A changelog that does not cover the
 * task (written by an older version) falls back to deciding the input
 * again, if the input still holds what that needs. Fails LL_ERR_CONFIG
 * (lotlined exits 2) when neither can rebuild the task (retention), or
 * when the rules do not accept an entry of the changelog again; other
 * kinds for Kafka and the store. The rejections at or after the group's
 * committed offset (the old owner commits an offset only once every
 * rejection before it is acknowledged) may not have reached
 * lots.rejected: their records are rebuilt from the input, byte for byte,
 * and put in the outbox (t->resend). */
int cmd_restore(const cmd_restore_opts *o, cmd_restore_task *t, ll_err *err);

#endif
