/* publisher.h — the downstream streams: the log, published to Kafka.
 *
 * Every accepted event goes to lots.events (key product_id, Avro
 * single-object encoding, header lotline-position) and every quantity
 * change to the compacted lots.quantities (key lot_id "\x1f" location id,
 * QuantityChanged with the new quantity), in log order, through a
 * transactional producer. The design and the exact guarantee are in
 * publisher.c's header and docs/streams.md. */
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
/* The entry's position in the publishing instance's own log: how the
 * publisher recognises its records when it reads back an unfinished
 * transaction. Not for consumers (docs/streams.md). */
#define LL_LOG_POSITION_HEADER "lotline-log-position"

/* Points where a test may make the publisher stop as if the process had
 * been killed there (no cleanup, nothing stored locally). */
typedef enum ll_publisher_point {
  /* Half of a transaction's entries produced and delivered, not committed. */
  LL_PUB_MID_TRANSACTION = 1,
  /* The Kafka transaction committed, the local position not yet stored. */
  LL_PUB_AFTER_COMMIT = 2,
} ll_publisher_point;

/* Return true to crash at `point`; last_position is the last log position
 * of the transaction in flight. */
typedef bool (*ll_publisher_crash_fn)(void *ctx, ll_publisher_point point,
                                      uint64_t last_position);

typedef struct ll_publisher_opts {
  const ll_config *cfg; /* kafka.* keys go to librdkafka */
  const char *brokers;
  const char *state_dir; /* the publisher's RocksDB, <data>/publisher */
  ll_store *log;         /* primary or secondary */
  ll_codec *codec;
  ll_topics topics;
  const char *transactional_id;
  int batch_max_events;        /* 1..LL_PUBLISH_BATCH_MAX_LIMIT */
  ll_publisher_crash_fn crash; /* tests only; NULL in production */
  void *crash_ctx;
} ll_publisher_opts;

typedef struct ll_publisher_stats {
  atomic_ullong position;    /* last log position published */
  atomic_llong events;       /* records written to lots.events */
  atomic_llong quantities;   /* records written to lots.quantities */
  atomic_llong transactions; /* committed */
  atomic_llong recovered;    /* positions found already published at start */
  atomic_llong republished;  /* positions published again after a crash */
  atomic_llong producer_restarts;
} ll_publisher_stats;

typedef struct ll_publisher ll_publisher;

/* Open the state directory; nothing talks to Kafka yet. */
ll_publisher *ll_publisher_new(const ll_publisher_opts *o, ll_err *err);
/* Publish until *stop is set (returns 0) or a failure the publisher cannot
 * get past by retrying (returns -1 with err): the log or the state store
 * failing, the log ending before what was published (another log), another
 * publisher with the same transactional.id. Broker outages are retried. */
int ll_publisher_run(ll_publisher *p, volatile sig_atomic_t *stop, ll_err *err);
const ll_publisher_stats *ll_publisher_get_stats(const ll_publisher *p);
void ll_publisher_free(ll_publisher *p);

#endif
