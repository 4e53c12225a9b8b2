/* crash_check.h — what the crash tests check after lotline was killed,
 * stopped or starved of disk: the expectations written by crash_producer
 * against the log store and the views.
 *
 *   cc_expect_load     reads the producer's expectations file
 *   cc_snapshot_take   what a stopped service left durable: last log
 *                      position, last rejection, the stored input offsets
 *   cc_check_*         each returns the number of mismatches found (0 =
 *                      good) and prints the first few to stderr
 *
 * The checks, in the contract's words: every accepted event is in the log
 * exactly once and in order per partition; every rejection is recorded
 * exactly once; the stored offsets are exactly what was consumed (at every
 * snapshot: the log and rejections up to the snapshot hold exactly the
 * messages below the stored offsets); the views hold the reference model's
 * lots and quantities; the views equal a rebuild from the log. */
#ifndef CRASH_CHECK_H
#define CRASH_CHECK_H

#include <stdint.h>

#include "ll_store.h"
#include "ll_views.h"

#define CC_PARTITIONS_MAX 256
#define CC_OUTCOME_ACCEPTED (-1)
#define CC_OUTCOME_DUPLICATE (-2)

/* One message on lots.inbound and what lotline must make of it. */
typedef struct cc_msg {
  int outcome;    /* CC_OUTCOME_* or an ll_code (a rejection) */
  char *event_id; /* NULL when the bytes carry none */
} cc_msg;

typedef struct cc_loc {
  char *location;
  int64_t quantity_micro;
} cc_loc;

typedef struct cc_lot {
  char *lot_id, *product_id, *description; /* description NULL = none */
  ll_tracking tracking;
  int64_t version, move_count, on_hand_micro, created_at_ms, updated_at_ms;
  cc_loc *locs; /* non-zero quantities, sorted by location */
  size_t n_locs;
} cc_lot;

typedef struct cc_expect {
  /* messages by partition and offset (offsets are dense from 0) */
  cc_msg *by_partition[CC_PARTITIONS_MAX];
  int64_t count[CC_PARTITIONS_MAX];
  int n_partitions; /* highest partition seen + 1 */
  int64_t messages, accepted, rejected, duplicates;
  cc_lot *lots; /* sorted by lot_id */
  size_t n_lots;
} cc_expect;

int cc_expect_load(const char *path, cc_expect *x, ll_err *err);
void cc_expect_free(cc_expect *x);

/* What the log store holds durably right now (opened read-only). */
typedef struct cc_snapshot {
  uint64_t last_position;
  uint64_t last_rejection;
  int64_t next_offset[CC_PARTITIONS_MAX]; /* -1 = none stored */
} cc_snapshot;

int cc_snapshot_take(ll_store *s, const char *cluster, const char *topic,
                     int partitions, cc_snapshot *out, ll_err *err);

/* The log and the rejections as stored, read once for all the checks. */
typedef struct cc_entry {
  uint64_t seq; /* log position or rejection sequence */
  int32_t partition;
  int64_t offset;
  ll_code code; /* rejections */
  char *event_id;
} cc_entry;

typedef struct cc_stored {
  cc_entry *log; /* by position */
  size_t n_log;
  cc_entry *rej; /* by sequence */
  size_t n_rej;
} cc_stored;

/* max_rejections bounds the read (more stored than that is a mismatch the
 * rejection check reports). */
int cc_stored_load(ll_store *s, size_t max_rejections, cc_stored *out,
                   ll_err *err);
void cc_stored_free(cc_stored *st);

/* The log: positions dense from 1, input offsets strictly increasing per
 * partition, no event id twice, only accepted messages and (when
 * whole_stream) all of them. */
int cc_check_log(const cc_stored *st, const cc_expect *x, bool whole_stream);
/* The rejections column family: rejected messages only, each at most once,
 * with its code and event id; (when whole_stream) all of them. */
int cc_check_rejections(const cc_stored *st, const cc_expect *x,
                        bool whole_stream);
/* Stored offsets = one past the last message of every partition. */
/* lots.rejected (read to its end through brokers) against the stored
 * rejections: each at least once (a repeat after a kill is allowed and
 * counted), none other; and the outbox empty (the service was stopped
 * cleanly with Kafka up, so everything was acknowledged). */
int cc_check_rejected_topic(ll_store *s, const cc_stored *st,
                            const char *brokers, const char *topic);
int cc_check_offsets(ll_store *s, const char *cluster, const char *topic,
                     const cc_expect *x);
/* A snapshot is consistent: the first last_position log entries and the
 * first last_rejection rejections are exactly the accepted / rejected
 * messages below the snapshot's stored offsets. */
int cc_check_snapshot(const cc_stored *st, const cc_expect *x,
                      const cc_snapshot *snap);
/* The views hold every expected lot, its details and its quantities. */
int cc_check_views(ll_views *v, const cc_expect *x);
/* Two views databases answer the same for every lot (details, all
 * locations) and list the same lots. */
int cc_compare_views(ll_views *a, ll_views *b);
/* Replay the whole log into a fresh views database at dir. */
ll_views *cc_rebuild_views(ll_store *s, const char *dir, ll_err *err);

#endif
