/* publisher_state.h — what the publisher remembers, in its own RocksDB
 * (<data>/publisher). Private to the publisher (publisher.c) and its tests.
 *
 * Three things, all written together in one WriteBatch per transaction:
 *   meta/position            8-byte big-endian: the log position the
 *                            quantities below stand at
 *   qty/<product_id>\x1f<lot_id>\x1f<loc>
 *                            svar quantity_micro after that position (rows
 *                            that come back to zero are deleted)
 *   cluster/<cluster id>     per Kafka cluster: the last log position
 *                            published there, and for each partition of
 *                            lots.events and lots.quantities the offset just
 *                            after what the publisher had written there
 *
 * The quantities are the publisher's own copy of "quantity per (lot,
 * location)", so it can publish the NEW quantity of each change without
 * asking the views (which move on their own schedule). Like the views they
 * are derived from the log and can be rebuilt from it at any time
 * (pub_state_reset + replay). */
#ifndef LL_PUBLISHER_STATE_H
#define LL_PUBLISHER_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "ll_store.h"
#include "ll_types.h"

#define PUB_TOPIC_EVENTS 0
#define PUB_TOPIC_QUANTITIES 1
#define PUB_TOPICS 2
#define PUB_PARTITIONS_MAX 1024 /* per topic */
#define PUB_CLUSTER_ID_MAX 255  /* bytes */

typedef struct pub_state pub_state;

/* Where the publisher stands in one Kafka cluster. */
typedef struct pub_cluster {
  bool found;
  uint64_t position; /* last log position published (0 = none) */
  int32_t partitions[PUB_TOPICS];
  /* Offset after the publisher's last committed message in each partition,
   * or the partition's end when the publisher last looked; -1 = unknown. */
  int64_t next_offset[PUB_TOPICS][PUB_PARTITIONS_MAX];
} pub_cluster;

pub_state *pub_state_open(const char *dir, ll_err *err);
/* The same with at most quant_max_bytes of quantities in memory (tests:
 * an index too small for them, the rest read from RocksDB). */
pub_state *pub_state_open_bounded(const char *dir, size_t quant_max_bytes,
                                  ll_err *err);
void pub_state_close(pub_state *s);
/* The log position the stored quantities stand at. */
uint64_t pub_state_position(const pub_state *s);
int pub_state_get_cluster(pub_state *s, const char *cluster_id,
                          pub_cluster *out, ll_err *err);
/* Forget every quantity: position 0. Cluster records are kept. */
int pub_state_reset(pub_state *s, ll_err *err);

/* A run of log entries applied to the quantities, staged until committed.
 * Reads go through the staged writes, so an entry sees what earlier entries
 * of the same run changed. One run at a time. */
typedef struct pub_run pub_run;

pub_run *pub_run_begin(pub_state *s);
/* Apply the next entry (its position must follow the last one applied).
 * For a StockMoved, *from_after and *to_after are the new quantities at its
 * source and destination; other events change no quantity. */
int pub_run_apply(pub_run *r, const ll_entry *e, int64_t *from_after,
                  int64_t *to_after, ll_err *err);
uint64_t pub_run_position(const pub_run *r); /* last entry applied */
/* Write the run atomically (sync = fsync the WAL), with the cluster record
 * when cluster_id is not NULL. Frees the run either way. */
int pub_run_commit(pub_run *r, const char *cluster_id, const pub_cluster *c,
                   bool sync, ll_err *err);
void pub_run_abort(pub_run *r);

/* The quantity stored for the lot (product_id, lot_id) at a location, at
 * the state's position (tests). */
int pub_state_quantity(pub_state *s, const char *product_id, const char *lot_id,
                       const char *location, int64_t *quantity_micro,
                       ll_err *err);

#endif
