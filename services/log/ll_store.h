/* ll_store.h — the append-only log and the command side's state, in RocksDB.
 *
 * One RocksDB database (<data>/log) owned by the command consumer, with
 * column families:
 *   log         position (8-byte big-endian, from 1) -> log entry
 *   state       the validation state (keys owned by rules/ll_state.c), as
 *               of the last apply (below)
 *   journal     sequence (8-byte big-endian) -> the state changes of one
 *               batch, not yet applied to `state`
 *   offsets     "<cluster>\x1f<topic>\x1f<partition>" -> next input offset
 *   rejections  sequence (8-byte big-endian, from 1) -> rejection record
 *   default     meta: last position, last rejection sequence, last journal;
 *               the task index (task, task position) -> position
 *               (ll_store_task.c); the rejections outbox
 * Everything one input batch changes (log entries, its state changes as one
 * journal record, rejections, offsets) goes into one WriteBatch, committed
 * with one synced write: after a crash either all of a batch is there or
 * none of it.
 *
 * Why a journal: state keys are random (lot ids, hashed event ids), and
 * inserting random keys into RocksDB's memtable costs microseconds each
 * (skip-list cache misses), several per event. So a batch writes its state
 * changes as one record under a sequential key, and the primary keeps them
 * in memory; in the background, once enough have gathered, the applier
 * writes them, folded (one final value per key) and sorted, into an SST
 * file, ingests it into `state` and deletes the journal records it covers
 * (ll_store_apply.c). The state is always `state` overlaid with the
 * journal's records, newest first; an apply changes how it is stored, never
 * what it is (a crash between ingest and delete leaves records whose
 * values `state` already holds: reading or re-applying them is harmless).
 *
 * The primary's batches read the state through its in-memory copy
 * (ll_store_state.c): every key changed since the last apply, plus a
 * bounded cache of what was read. Everybody else (other threads, other
 * processes) reads through ll_store_state_reader(): the journal records,
 * newest first, then `state`.
 *
 * The projection worker opens the same directory read-only as a RocksDB
 * secondary instance (private info-log dir <dir>.secondary/<pid>-XXXXXX) and
 * calls ll_store_catch_up() to see new entries.
 *
 * Tasks: every entry belongs to the task of its input partition (entries
 * not from Kafka to task -1), and carries its task position: dense from 1
 * within the task, the same on every instance that holds the task
 * (docs/cluster-design.md). The log's own position is local: the order
 * this store appended entries in, across tasks.
 *
 * Tamper evidence: every log entry carries a SHA-256 hash chained to the
 * previous entry of its task,
 *   hash_0 = 32 zero bytes
 *   hash_n = SHA-256(hash_{n-1} || task position n as 8 bytes big-endian ||
 *                    the stored value without its 32 hash bytes)
 * (value layout in ll_store_record.c). The batch computes the hashes as it
 * appends, so entries chain within a batch too, and each task's last
 * entry (task position, local position, hash, clock) is kept in meta
 * ("task/" + partition, ll_store_task.c), written in the same WriteBatch.
 * Changing, removing or reordering any stored entry breaks its task's
 * chain from that entry on; ll_store_verify() finds the first such
 * position. */
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
/* The sequence of the last stored rejection (0: none). Any thread. */
uint64_t ll_store_last_rejection(ll_store *s);
/* A counter that moves after each commit (primary) or each catch-up that
 * found new writes (secondary), and a wait for it to move past seen until
 * deadline_ns (ll_mono_ns clock): read the counter, look at the log, then
 * wait (ll_notify.h). Any thread. */
uint64_t ll_store_changes(ll_store *s);
uint64_t ll_store_wait_change(ll_store *s, uint64_t seen, uint64_t deadline_ns);
/* That counter itself, for ll_notify_listen (ll_notify.h). */
struct ll_notify *ll_store_notifier(ll_store *s);
ll_store_mode ll_store_get_mode(const ll_store *s);

/* Where an event came from. */
typedef struct ll_input {
  const char *topic;
  int32_t partition;
  int64_t offset;
} ll_input;

/* One log entry as read back. */
#define LL_ENTRY_HASH_BYTES 32 /* SHA-256 */

typedef struct ll_entry {
  uint64_t position;                 /* in this store's log (local) */
  uint64_t task_position;            /* within its task (the input partition) */
  uint8_t hash[LL_ENTRY_HASH_BYTES]; /* chain hash (see above) */
  int64_t recorded_at_ms;
  int32_t partition; /* input partition and offset (-1 when not from Kafka) */
  int64_t offset;
  /* StockMoved: the lot's quantity at the source and at the destination
   * after the move, as the rules decided it (0 for other events). They
   * depend on the task's input alone, so every instance holds the same. */
  int64_t from_after_micro;
  int64_t to_after_micro;
  uint8_t flags;  /* LL_ENTRY_* */
  ll_event event; /* owned: ll_entry_free */
} ll_entry;

/* An entry's flags: what the event as received looked like where the log
 * holds it otherwise. A redelivery is recognised by the digest of the
 * event as received (rules/ll_state.c), so whoever decides the entry again
 * from the log's form (a restore from lots.events) must undo these first.
 *   LL_ENTRY_LOT_ID_FILLED  the event named its lot by lot_name alone
 *                           (lot_id absent); the log holds the lot_id the
 *                           rules found (ll_decision_logged_event). */
#define LL_ENTRY_LOT_ID_FILLED 0x01
#define LL_ENTRY_FLAGS_KNOWN LL_ENTRY_LOT_ID_FILLED

void ll_entry_free(ll_entry *e);

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

/* A write batch (primary only). Reads through ll_store_batch_reader() see
 * the batch's own pending state writes on top of the committed state. Not
 * thread-safe: one batch at a time, always from the same thread (the
 * command consumer's), which owns the primary's in-memory state. */
typedef struct ll_store_batch ll_store_batch;

ll_store_batch *ll_store_batch_begin(ll_store *s);
ll_state_reader ll_store_batch_reader(ll_store_batch *b);
/* What a StockMoved left behind: the lot's quantity at its source and at
 * its destination after the move (ll_decision's from/to_qty_micro). */
typedef struct ll_move_after {
  int64_t from_after_micro;
  int64_t to_after_micro;
} ll_move_after;

/* Append an accepted event; assigns and returns its log position (the
 * task position is the next of the task of in->partition, or of task -1
 * when in is NULL), and indexes it under (task, task position)
 * (ll_store_task_local). recorded_at_ms must not be earlier than the
 * task's clock, which it becomes. For a StockMoved, after holds the
 * quantities the move left (NULL: other events); flags are the entry's
 * LL_ENTRY_* flags. */
uint64_t ll_store_batch_append_decided(ll_store_batch *b, const ll_event *ev,
                                       const ll_input *in,
                                       int64_t recorded_at_ms,
                                       const ll_move_after *after,
                                       uint8_t flags);
/* The same without the quantities (stored as 0): for logs written by
 * tests and tools whose moves are never published downstream. */
uint64_t ll_store_batch_append(ll_store_batch *b, const ll_event *ev,
                               const ll_input *in, int64_t recorded_at_ms);
/* The task position of the last entry the batch appended to the task of
 * partition (the store's, when the batch appended none there). */
uint64_t ll_store_batch_task_position(ll_store_batch *b, int32_t partition);
void ll_store_batch_mutate(ll_store_batch *b, const ll_mutations *m);
/* Returns the rejection's sequence. r->rejected_at_ms must not be earlier
 * than the clock of the task of r->partition, which it becomes. */
uint64_t ll_store_batch_reject(ll_store_batch *b, const ll_stored_rejection *r);
/* Keep the rejection's Kafka record (for lots.rejected) in the outbox under
 * its sequence, in the same atomic write (ll_store_outbox.c). */
void ll_store_batch_outbox(ll_store_batch *b, uint64_t sequence,
                           const void *key, size_t key_len, bool has_key,
                           const void *value, size_t value_len);
void ll_store_batch_offset(ll_store_batch *b, const char *cluster,
                           const char *topic, int32_t partition,
                           int64_t next_offset);
size_t ll_store_batch_count(const ll_store_batch *b); /* events appended */
/* Fetch, in one RocksDB MultiGet, what the batch's reader will be asked
 * for next: keys as ll_facts_prefetch_keys() lists them. Keys held in
 * memory are skipped; the answers last until the next prefetch or the end
 * of the batch. Only a matter of speed: reads are the same without it. */
int ll_store_batch_prefetch(ll_store_batch *b, const ll_buf *keys, ll_err *err);
/* Commit atomically; sync = fsync the WAL. Frees the batch either way. On
 * failure nothing of the batch is visible and err says why (also when an
 * earlier background apply failed: from then on every commit fails). */
int ll_store_batch_commit(ll_store_batch *b, bool sync, ll_err *err);
void ll_store_batch_abort(ll_store_batch *b);

/* Reader over the committed state (thread-safe; journal, then `state`). */
ll_state_reader ll_store_state_reader(ll_store *s);

/* Primary, between batches: apply every journal record to `state` now and
 * wait for it (tests, maintenance). */
int ll_store_apply_state(ll_store *s, ll_err *err);

/* The primary's in-memory state, for logs and metrics. */
typedef struct ll_store_state_stats {
  size_t entries;    /* in memory: dirty + cached */
  size_t dirty;      /* changed, not yet applied */
  size_t hits;       /* batch reads answered from memory */
  size_t misses;     /* batch reads not answered by the table */
  size_t prefetched; /* keys fetched ahead from `state` */
  size_t evictions;  /* times the clean entries were dropped */
  size_t applies;    /* background applies finished */
} ll_store_state_stats;
void ll_store_get_state_stats(ll_store *s, ll_store_state_stats *out);

/* Next input offset stored for a partition; *found false if none. */
int ll_store_get_offset(ll_store *s, const char *cluster, const char *topic,
                        int32_t partition, int64_t *next_offset, bool *found,
                        ll_err *err);

/* Read up to max entries starting at position `from` (>= 1), in order.
 * entries must hold max slots; *n_out is how many were filled. */
int ll_store_read_log(ll_store *s, uint64_t from, ll_entry *entries, size_t max,
                      size_t *n_out, ll_err *err);

/* Most recent rejections, newest first; *n_out filled. */
int ll_store_recent_rejections(ll_store *s, size_t limit,
                               ll_stored_rejection *out, size_t *n_out,
                               ll_err *err);
/* The same for those with a sequence below before (paging back). */
int ll_store_rejections_before(ll_store *s, uint64_t before, size_t limit,
                               ll_stored_rejection *out, size_t *n_out,
                               ll_err *err);

/* A task's last entry and its clock, as last committed. */
typedef struct ll_task_last {
  int32_t partition;
  uint64_t position; /* task position of its last entry (0: none yet) */
  uint64_t local;    /* that entry's position in this store's log */
  uint8_t hash[LL_ENTRY_HASH_BYTES]; /* that entry's chain hash */
  /* The task's log clock: the latest recorded_at or rejected_at it
   * stamped (0: none). Stamps are never earlier (ll_log_clock_advance), so
   * a restart, or another instance that takes the task over, goes on from
   * here. */
  int64_t clock_ms;
} ll_task_last;

/* The task of partition; all zeros but the partition when it has no entry
 * and no rejection yet. Any thread. */
void ll_store_task_last(ll_store *s, int32_t partition, ll_task_last *out);

/* The local position of the entry at task position task_position of the
 * task of partition (index "tix/", ll_store_task.c); *found false when
 * this store holds no such entry. Any thread, primary or secondary (after
 * ll_store_catch_up). */
int ll_store_task_local(ll_store *s, int32_t partition, uint64_t task_position,
                        uint64_t *local, bool *found, ll_err *err);

/* The task's clock as the open batch left it: what the next entry or
 * rejection of the task is stamped from. */
int64_t ll_store_batch_task_clock(ll_store_batch *b, int32_t partition);

/* The consumer group the log belongs to. The first primary to consume into
 * a log records its group.id; a later start with another group is refused
 * (LL_ERR_CONFIG, with the remedy): two groups feeding one log would each
 * see only part of the input, and offsets stored for one mean nothing to
 * the other. Primary only. */
int ll_store_bind_group(ll_store *s, const char *group_id, ll_err *err);

/* The partition count of the input topic, bound the same way: products are
 * spread over partitions by that count (docs/events.md, WRONG_PARTITION),
 * so a log written under one count is refused under another
 * (LL_ERR_CONFIG, with the remedy). Primary only. */
int ll_store_bind_partitions(ll_store *s, const char *topic, int32_t partitions,
                             ll_err *err);

/* The log clock after a record stamped record_ms (a Kafka timestamp, -1
 * when the record has none): never earlier than clock_ms. */
static inline int64_t ll_log_clock_advance(int64_t clock_ms,
                                           int64_t record_ms) {
  return record_ms > clock_ms ? record_ms : clock_ms;
}

/* ---- the rejections outbox (ll_store_outbox.c) ----
 * Every rejection's lots.rejected record is written to the outbox in the
 * batch that stores the rejection, and deleted once Kafka acknowledged it:
 * a crash or a broker outage between the commit and the delivery loses no
 * record; what is still in the outbox at start is sent again. Keys live in
 * the default column family: "outbox/" + 8-byte big-endian sequence. */
typedef struct ll_outbox_record {
  uint64_t sequence;
  bool has_key;
  ll_buf key;
  ll_buf value;
} ll_outbox_record;

void ll_outbox_record_free(ll_outbox_record *r);
/* Up to max records with sequence > after, in sequence order; out must hold
 * max slots (filled slots are the caller's to free). */
int ll_store_outbox_read(ll_store *s, uint64_t after, ll_outbox_record *out,
                         size_t max, size_t *n_out, ll_err *err);
/* How many records the outbox holds. */
int ll_store_outbox_count(ll_store *s, uint64_t *count, ll_err *err);
/* Forget delivered records (an unsynced write: after a crash a deleted
 * record may come back and is sent again, never lost). */
int ll_store_outbox_delete(ll_store *s, const uint64_t *sequences, size_t n,
                           ll_err *err);

/* ---- rejections a standby decided (ll_store_parked.c) ----
 * A standby stores its rejections like the owner but parks their
 * lots.rejected records under (partition, input offset, sequence) instead
 * of putting them in the outbox: the owner sends them. On a promotion they
 * move to the outbox; once the owner's acknowledged progress passes them
 * they are pruned. */
void ll_store_batch_park(ll_store_batch *b, int32_t partition,
                         int64_t input_offset, uint64_t sequence,
                         const void *key, size_t key_len, bool has_key,
                         const void *value, size_t value_len);
/* Move every parked record of partition into the outbox under its
 * sequence (in writes of at most a thousand records); *seqs (malloc'd, the
 * caller frees it) and *n name the records moved. */
int ll_store_parked_release(ll_store *s, int32_t partition, uint64_t **seqs,
                            size_t *n, ll_err *err);
/* Forget the parked records of partition whose input offset is below
 * below_offset; *pruned says how many. */
int ll_store_parked_prune(ll_store *s, int32_t partition, int64_t below_offset,
                          size_t *pruned, ll_err *err);
/* How many records of partition are parked. */
int ll_store_parked_count(ll_store *s, int32_t partition, uint64_t *count,
                          ll_err *err);

/* ---- each task's rejections for lots.changelog (ll_store_changelog.c) ----
 * Every rejection's lots.changelog record (ll_changelog.h: the stored
 * rejection and its seen record) is kept under (partition, input offset)
 * in the batch that stores the rejection, so that the publisher finds a
 * task's rejections in task order beside its entries. */
struct ll_chg_rejection;
void ll_store_batch_changelog(ll_store_batch *b, int32_t partition,
                              const struct ll_chg_rejection *r);
/* fn(ctx, input offset, record bytes, err) for each record of partition
 * with after < offset < before (before -1: no bound), in offset order;
 * fn returns 0 to go on, 1 to stop, -1 (err set) to fail. */
typedef int (*ll_changelog_fn)(void *ctx, int64_t offset, const void *record,
                               size_t len, ll_err *err);
int ll_store_changelog_each(ll_store *s, int32_t partition, int64_t after,
                            int64_t before, ll_changelog_fn fn, void *ctx,
                            ll_err *err);

/* RocksDB's own estimates for a whole database (ll_store_stats.c), for
 * metrics. A property RocksDB cannot give reads 0. */
typedef struct ll_db_stats {
  uint64_t sst_bytes;           /* rocksdb.total-sst-files-size */
  uint64_t live_data_bytes;     /* rocksdb.estimate-live-data-size */
  uint64_t memtable_bytes;      /* rocksdb.cur-size-all-mem-tables */
  uint64_t table_readers_bytes; /* rocksdb.estimate-table-readers-mem */
  uint64_t block_cache_bytes;   /* the block cache's usage */
  /* rocksdb.estimate-pending-compaction-bytes: compaction work owed. */
  uint64_t compaction_pending_bytes;
  uint64_t l0_files; /* rocksdb.num-files-at-level0 */
  /* Time writers were held back (slowed or stopped) by RocksDB since the
   * database was opened: the "Cumulative stall" of rocksdb.dbstats. */
  uint64_t stall_micros;
} ll_db_stats;

void ll_store_stats(ll_store *s, ll_db_stats *out);

/* ---- administration (ll_store_verify.c) ---- */

/* What ll_store_verify() found. ok is true when every entry from position 1
 * to the end decodes, carries its task's chain hash, positions are dense
 * (in the log and within each task) and the meta records (last position,
 * each task's last entry) name the last entries. Otherwise bad_position is
 * the first position found wrong and why says how. */
typedef struct ll_verify_report {
  bool ok;
  uint64_t entries; /* entries checked and found good */
  size_t tasks;     /* tasks those entries belong to */
  /* The chain hash of the last entry checked (that entry's task). */
  uint8_t last_hash[LL_ENTRY_HASH_BYTES];
  uint64_t meta_last_position;    /* what meta says */
  uint64_t bad_position;          /* when !ok */
  char why[LL_MESSAGE_MAX_BYTES]; /* when !ok */
} ll_verify_report;

/* Called every LL_VERIFY_PROGRESS_EVERY entries and at the end. */
#define LL_VERIFY_PROGRESS_EVERY 4096
typedef void (*ll_verify_progress)(void *ctx, uint64_t checked, uint64_t total);

/* Check the whole chain of the log store at dir. Opens it as a secondary,
 * so it works while the command consumer writes (it checks the log as it
 * stood when opened). Returns 0 with *report filled, or -1 with err set
 * when the store could not be opened or read at all. progress may be
 * NULL. */
int ll_store_verify(const char *dir, ll_verify_progress progress, void *ctx,
                    ll_verify_report *report, ll_err *err);

/* Write an online RocksDB checkpoint of a primary store into dir (which
 * must not exist; same filesystem = hard links). Consistent across column
 * families. *position is the last position committed when it began (the
 * checkpoint holds at least that much). Fails on a secondary: a checkpoint
 * must come from the process that owns the log. */
int ll_store_checkpoint(ll_store *s, const char *dir, uint64_t *position,
                        ll_err *err);

/* Lowercase hex of a hash; out holds 2 * LL_ENTRY_HASH_BYTES + 1. */
void ll_entry_hash_hex(const uint8_t hash[LL_ENTRY_HASH_BYTES],
                       char out[2 * LL_ENTRY_HASH_BYTES + 1]);

#endif
