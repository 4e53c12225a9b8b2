/* publisher.h — the downstream streams: the log, published to Kafka.
 *
 * Every accepted event of task p goes to partition p of lots.events (key
 * product_id, Avro single-object encoding, header lotline-position = its
 * task position) and every quantity change to partition p of the
 * compacted lots.quantities (key product_id "\x1f" lot_id "\x1f" location
 * id, QuantityChanged with the quantity after the move), in task order,
 * through a transactional producer, and in the same transactions each
 * task's rejections and progress marks to partition p of lots.changelog
 * (restore: services/command/command_restore.c). The publisher keeps no
 * state: Kafka says where each task stands. The design and the exact guarantee
 * are in publisher.c's header and docs/streams.md. */
#ifndef LL_PUBLISHER_H
#define LL_PUBLISHER_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ll_codec.h"
#include "ll_config.h"
#include "ll_kafka.h"
#include "ll_store.h"
#include "ll_types.h"

#define LL_PUBLISH_BATCH_MAX_LIMIT 10000 /* log entries per transaction */
#define LL_POSITION_HEADER "lotline-position"

/* Points where a test may make the publisher stop as if the process had
 * been killed there (no cleanup, nothing stored locally). */
typedef enum ll_publisher_point {
  /* Half of a transaction's entries produced and delivered, not committed. */
  LL_PUB_MID_TRANSACTION = 1,
  /* The Kafka transaction committed, the publisher not moved on yet. */
  LL_PUB_AFTER_COMMIT = 2,
} ll_publisher_point;

/* Return true to crash at `point`; last_position is the last local log
 * position of the transaction in flight. */
typedef bool (*ll_publisher_crash_fn)(void *ctx, ll_publisher_point point,
                                      uint64_t last_position);

typedef struct ll_publisher_opts {
  const ll_config *cfg; /* kafka.* keys go to librdkafka */
  const char *brokers;
  ll_store *log; /* primary or secondary */
  ll_codec *codec;
  ll_topics topics;
  const char *transactional_id; /* one per instance: never shared */
  int batch_max_events;         /* 1..LL_PUBLISH_BATCH_MAX_LIMIT */
  ll_publisher_crash_fn crash;  /* tests only; NULL in production */
  void *crash_ctx;
  /* Which tasks this instance publishes (a cluster: those it owns, never
   * those it stands by for), and a number that moves whenever that may
   * have changed: the publisher then reads where each task stands again.
   * NULL: every task its log holds. */
  bool (*publishes)(void *ctx, int32_t partition);
  uint64_t (*publish_epoch)(void *ctx);
  void *tasks_ctx;
} ll_publisher_opts;

typedef struct ll_publisher_stats {
  atomic_ullong position;    /* last local log position dealt with */
  atomic_llong events;       /* records written to lots.events */
  atomic_llong quantities;   /* records written to lots.quantities */
  atomic_llong changelog;    /* records written to lots.changelog */
  atomic_llong transactions; /* committed */
  atomic_llong skipped;      /* entries found in Kafka already */
  atomic_llong producer_restarts;
} ll_publisher_stats;

typedef struct ll_publisher ll_publisher;

/* Check the options; nothing talks to Kafka yet. */
ll_publisher *ll_publisher_new(const ll_publisher_opts *o, ll_err *err);
/* Publish until *stop is set (returns 0) or a failure the publisher cannot
 * get past by retrying (returns -1 with err): the log failing, an entry
 * whose task has no partition in the topics, another publisher with the
 * same transactional.id. Broker outages are retried. */
int ll_publisher_run(ll_publisher *p, volatile sig_atomic_t *stop, ll_err *err);
const ll_publisher_stats *ll_publisher_get_stats(const ll_publisher *p);
void ll_publisher_free(ll_publisher *p);

#endif
