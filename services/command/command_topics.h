/* command_topics.h — what the command consumer checks about its topics
 * before it consumes: the partition count of the input, and that the
 * accepted events' and the quantities' topics have the same
 * (docs/operations.md, "Partition counts"). */
#ifndef LL_COMMAND_TOPICS_H
#define LL_COMMAND_TOPICS_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "ll_kafka.h"
#include "ll_types.h"

/* The partition counts of the input, events, quantities and changelog
 * topics as the cluster reports them. *inbound is 0 while the input topic
 * does not exist (the caller waits for it). Fails LL_ERR_CONFIG when the
 * input exists but one of the others does not, or has another partition
 * count: each partition of the input is a task whose accepted events,
 * quantity changes and changelog go to the same partition of those
 * topics (topics->changelog NULL: not checked). Fails LL_ERR_KAFKA
 * when the cluster does not answer within timeout_ms. */
int cmd_check_topics(rd_kafka_t *rk, const ll_topics *topics, int timeout_ms,
                     int32_t *inbound, ll_err *err);

/* A partition the log holds nothing of is decided from its first event:
 * fails LL_ERR_CONFIG when Kafka no longer holds it (retention deleted the
 * partition's first events), unless allow_truncated, and LL_ERR_KAFKA when
 * the cluster does not say within timeout_ms. *start is where to begin
 * (the partition's low watermark). */
int cmd_check_start(rd_kafka_t *rk, const char *topic, int32_t partition,
                    bool allow_truncated, int timeout_ms, int64_t *start,
                    ll_err *err);

#endif
