/* ll_store.h — the append-only log and the command side's state, in RocksDB.
 *
 * One RocksDB database (<data>/log) owned by the command consumer, with
 * column families:
 *   log         position (8-byte big-endian, from 1) -> log entry
 *   state       the validation state (keys owned by rules/ll_state.c)
 *   offsets     "<cluster>\x1f<topic>\x1f<partition>" -> next input offset
 *   rejections  sequence (8-byte big-endian, from 1) -> rejection record
 *   default     meta: last position, last rejection sequence
 * Everything one input batch changes (log entries, state, rejections,
 * offsets) goes into one WriteBatch, committed with one synced write: after
 * a crash either all of a batch is there or none of it.
 *
 * The projection worker opens the same directory read-only as a RocksDB
 * secondary instance (private info-log dir <dir>.secondary/<pid>-XXXXXX) and
 * calls ll_store_catch_up() to see new entries. */
#ifndef LL_STORE_H
#define LL_STORE_H

#include <stdint.h>

#include "ll_buf.h"
#include "ll_state.h"
#include "ll_types.h"

typedef struct ll_store ll_store;

typedef enum ll_store_mode {
  LL_STORE_PRIMARY = 0,   /* read-write owner (the command consumer) */
  LL_STORE_SECONDARY = 1, /* follows a primary in another process */
} ll_store_mode;

ll_store *ll_store_open(const char *dir, ll_store_mode mode, ll_err *err);
void ll_store_close(ll_store *s);
/* Secondary: see what the primary wrote since. Primary: no-op. */
int ll_store_catch_up(ll_store *s, ll_err *err);
uint64_t ll_store_last_position(ll_store *s);

/* Where an event came from. */
typedef struct ll_input {
  const char *topic;
  int32_t partition;
  int64_t offset;
} ll_input;

/* One log entry as read back. */
typedef struct ll_log_entry {
  uint64_t position;
  int64_t recorded_at_ms;
  int32_t partition; /* input partition and offset (-1 when not from Kafka) */
  int64_t offset;
  ll_event event; /* owned: ll_log_entry_free */
} ll_log_entry;

void ll_log_entry_free(ll_log_entry *e);

/* A stored rejection. */
typedef struct ll_stored_rejection {
  uint64_t sequence;
  int64_t rejected_at_ms;
  char *event_id; /* may be NULL */
  ll_code code;
  char *message;
  char *topic;
  int32_t partition;
  int64_t offset;
} ll_stored_rejection;

void ll_stored_rejection_free(ll_stored_rejection *r);

/* A write batch. Reads through ll_store_batch_reader() see the batch's own
 * pending state writes on top of the database. Not thread-safe: one batch
 * at a time, from the command consumer's thread. */
typedef struct ll_store_batch ll_store_batch;

ll_store_batch *ll_store_batch_begin(ll_store *s);
ll_state_reader ll_store_batch_reader(ll_store_batch *b);
/* Append an accepted event; assigns and returns its log position. */
uint64_t ll_store_batch_append(ll_store_batch *b, const ll_event *ev,
                               const ll_input *in, int64_t recorded_at_ms);
void ll_store_batch_mutate(ll_store_batch *b, const ll_mutations *m);
void ll_store_batch_reject(ll_store_batch *b, const ll_stored_rejection *r);
void ll_store_batch_offset(ll_store_batch *b, const char *cluster,
                           const char *topic, int32_t partition,
                           int64_t next_offset);
size_t ll_store_batch_count(const ll_store_batch *b); /* events appended */
/* Commit atomically; sync = fsync the WAL. Frees the batch either way. On
 * failure nothing of the batch is visible and err says why. */
int ll_store_batch_commit(ll_store_batch *b, bool sync, ll_err *err);
void ll_store_batch_abort(ll_store_batch *b);

/* Reader over the committed state (thread-safe). */
ll_state_reader ll_store_state_reader(ll_store *s);

/* Next input offset stored for a partition; *found false if none. */
int ll_store_get_offset(ll_store *s, const char *cluster, const char *topic,
                        int32_t partition, int64_t *next_offset, bool *found,
                        ll_err *err);

/* Read up to max entries starting at position `from` (>= 1), in order.
 * entries must hold max slots; *n_out is how many were filled. */
int ll_store_read_log(ll_store *s, uint64_t from, ll_log_entry *entries,
                      size_t max, size_t *n_out, ll_err *err);

/* Most recent rejections, newest first; *n_out filled. */
int ll_store_recent_rejections(ll_store *s, size_t limit,
                               ll_stored_rejection *out, size_t *n_out,
                               ll_err *err);

/* RocksDB's own estimates for a whole database (ll_store_stats.c), for
 * metrics. A property RocksDB cannot give reads 0. */
typedef struct ll_db_stats {
  uint64_t sst_bytes;           /* rocksdb.total-sst-files-size */
  uint64_t live_data_bytes;     /* rocksdb.estimate-live-data-size */
  uint64_t memtable_bytes;      /* rocksdb.cur-size-all-mem-tables */
  uint64_t table_readers_bytes; /* rocksdb.estimate-table-readers-mem */
  uint64_t block_cache_bytes;   /* the block cache's usage */
} ll_db_stats;

void ll_store_stats(ll_store *s, ll_db_stats *out);

#endif
