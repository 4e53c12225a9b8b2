/* command_standby.h — the command consumer's standby partitions: warm
 * copies of tasks other instances own (docs/cluster-design.md,
 * "Standbys"; command_standby.c). */
#ifndef LL_COMMAND_STANDBY_H
#define LL_COMMAND_STANDBY_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

#include "ll_config.h"
#include "ll_store.h"
#include "ll_types.h"

#define CMD_STANDBY_PARTITIONS_MAX 1024 /* partition ids followed */
/* How often the loop asks the directory which partitions to stand by for. */
#define CMD_STANDBY_CHECK_MS 500
/* How often parked rejections the owner has had acknowledged are pruned,
 * and how long the group's committed offsets are waited for then. */
#define CMD_STANDBY_PRUNE_MS 5000
#define CMD_STANDBY_COMMITTED_WAIT_MS 1000

typedef struct cmd_standby cmd_standby;

/* Where the standby consumer connects and how it fetches: as the group's
 * consumer, without the group. */
typedef struct cmd_standby_opts {
  const ll_config *cfg;
  const char *brokers;
  const char *topic; /* the input */
  const char *fetch_wait_max_ms;
  bool allow_truncated;
} cmd_standby_opts;

cmd_standby *cmd_standby_new(const cmd_standby_opts *o);
/* Follow exactly parts[0..n), each from its offset stored in the log
 * (cluster_id keys them), else from its first event as the group's
 * consumer would (cmd_check_start; a partition that cannot start is left
 * out with a warning: a standby never stops the instance). The consumer is
 * made at the first call with n > 0. Bumps the epoch: whatever was polled
 * before is stale (it comes again from the stored offsets). */
int cmd_standby_assign(cmd_standby *s, ll_store *store, const char *cluster_id,
                       const int32_t *parts, size_t n, ll_err *err);
bool cmd_standby_holds(const cmd_standby *s, int32_t partition);
size_t cmd_standby_count(const cmd_standby *s);
/* Do the partitions held differ from parts[0..n)? */
bool cmd_standby_differs(const cmd_standby *s, const int32_t *parts, size_t n);
uint64_t cmd_standby_epoch(const cmd_standby *s);
/* The plain-assign consumer (NULL until a first partition). */
rd_kafka_t *cmd_standby_consumer(cmd_standby *s);
/* The partition's high watermark as the standby consumer last saw it
 * (-1: unknown). */
int64_t cmd_standby_high(cmd_standby *s, int32_t partition);
/* Forget the rejections parked for the partitions not owned whose owner
 * has had them acknowledged (below the group's committed offset, asked
 * through group, the group's consumer); *parked is what stays. */
int cmd_standby_prune(cmd_standby *s, rd_kafka_t *group, ll_store *store,
                      const uint8_t *owned, int32_t partitions,
                      uint64_t *parked, ll_err *err);
/* Stop following anything and close the consumer. */
void cmd_standby_free(cmd_standby *s);

#endif
