/* command_topics.c — see command_topics.h. */
#include "command_topics.h"

#include <string.h>

/* The partition count of name in md; 0 when absent or in error. */
static int32_t partitions_of(const struct rd_kafka_metadata *md,
                             const char *name) {
  for (int i = 0; i < md->topic_cnt; i++) {
    const struct rd_kafka_metadata_topic *t = &md->topics[i];
    if (strcmp(t->topic, name) == 0)
      return t->err ? 0 : t->partition_cnt;
  }
  return 0;
}

/* out (count n, 0 when missing) must have the input's count. */
static int check_copartitioned(const char *input, int32_t inbound,
                               const char *out, int32_t n, ll_err *err) {
  if (n == 0)
    return ll_fail(err, LL_ERR_CONFIG,
                   "topic %s does not exist: create it with %d partitions, "
                   "like %s (docs/operations.md, \"Partition counts\")",
                   out, (int)inbound, input);
  if (n != inbound)
    return ll_fail(err, LL_ERR_CONFIG,
                   "topics %s (%d partitions) and %s (%d partitions) must have "
                   "the same partition count: what is accepted from "
                   "partition p of %s goes to partition p of %s "
                   "(docs/operations.md, \"Partition counts\")",
                   input, (int)inbound, out, (int)n, input, out);
  return 0;
}

int cmd_check_start(rd_kafka_t *rk, const char *topic, int32_t partition,
                    bool allow_truncated, int timeout_ms, int64_t *start,
                    ll_err *err) {
  int64_t lo = 0, hi = 0;
  rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
      rk, topic, partition, &lo, &hi, timeout_ms);
  if (e)
    return ll_fail(err, LL_ERR_KAFKA, "cannot read where %s/%d begins: %s",
                   topic, (int)partition, rd_kafka_err2str(e));
  *start = lo;
  if (lo == 0 || allow_truncated)
    return 0;
  return ll_fail(err, LL_ERR_CONFIG,
                 "%s/%d begins at offset %lld: its first events were deleted "
                 "by retention, and this data directory holds nothing of the "
                 "partition, so deciding it from there would leave out every "
                 "lot created before. Start from a backup of a data directory "
                 "that holds the partition (docs/operations.md, \"Backup and "
                 "restore\"), or set input.allow_truncated = true to decide "
                 "it from its oldest remaining event",
                 topic, (int)partition, (long long)lo);
}

int cmd_check_topics(rd_kafka_t *rk, const ll_topics *topics, int timeout_ms,
                     int32_t *inbound, ll_err *err) {
  const struct rd_kafka_metadata *md = NULL;
  /* All topics: asking for one by name may create it on brokers that
   * auto-create topics, with whatever partition count they default to. */
  rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
  if (e)
    return ll_fail(err, LL_ERR_KAFKA, "cannot read the topics' metadata: %s",
                   rd_kafka_err2str(e));
  *inbound = partitions_of(md, topics->inbound);
  int32_t events = partitions_of(md, topics->events);
  int32_t quantities = partitions_of(md, topics->quantities);
  int32_t changelog =
      topics->changelog ? partitions_of(md, topics->changelog) : 0;
  rd_kafka_metadata_destroy(md);
  if (*inbound == 0)
    return 0;
  if (check_copartitioned(topics->inbound, *inbound, topics->events, events,
                          err) != 0 ||
      check_copartitioned(topics->inbound, *inbound, topics->quantities,
                          quantities, err) != 0)
    return -1;
  /* Absent from the settings only in tools and tests that restore nothing. */
  if (topics->changelog == NULL)
    return 0;
  return check_copartitioned(topics->inbound, *inbound, topics->changelog,
                             changelog, err);
}
