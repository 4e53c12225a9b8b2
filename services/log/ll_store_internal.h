/* ll_store_internal.h — what the files of services/log/ share and nobody
 * else may use: the store's struct, the column family indexes, the meta
 * keys, the record codecs (ll_store_record.c) and the error helper.
 *
 * Split: ll_store.c opens, closes and reads; ll_store_batch.c builds and
 * commits write batches; ll_store_record.c knows the bytes on disk;
 * ll_store_state.c keeps the primary's state in memory (ll_store_table.c
 * is its hash table); ll_store_journal.c knows the journal records and
 * reads the state for everybody else; ll_store_apply.c folds the journal
 * into the state column family in the background. */
#ifndef LL_STORE_INTERNAL_H
#define LL_STORE_INTERNAL_H

#include <pthread.h>
#include <rocksdb/c.h>
#include <stdatomic.h>

#include "ll_hash.h"
#include "ll_notify.h"
#include "ll_rocks.h"
#include "ll_store.h"

/* Column families, in the order they are opened. */
enum {
  LL_CF_DEFAULT = 0, /* meta */
  LL_CF_LOG,
  LL_CF_STATE,
  LL_CF_OFFSETS,
  LL_CF_REJECTIONS,
  LL_CF_JOURNAL,
  LL_CF_COUNT,
};

/* Meta keys in the default column family. Values are 8-byte big-endian
 * counters, except the format version (one byte) and the tasks' records
 * (ll_store_task.c). Version 2: log entries carry the chain hash. Version
 * 3: state changes go through the journal column family, event-id records
 * are keyed by a hash of the id. Version 4: every state key is scoped by
 * product (a lot is (product_id, lot_id); services/rules/ll_state.c).
 * Version 5: entries carry their task position and chain within their
 * task; meta holds each task's last entry instead of one last hash. */
#define LL_META_FORMAT "format_version"
#define LL_META_LAST_POSITION "last_position"
#define LL_META_LAST_REJECTION "last_rejection"
#define LL_META_LAST_JOURNAL "last_journal"
#define LL_META_TASK_PREFIX "task/" /* + be32 partition: ll_store_task.c */
/* + be32 partition + be64 task position -> be64 local position. */
#define LL_TASK_INDEX_PREFIX "tix/"
#define LL_TASK_INDEX_KEY_BYTES (4 + 4 + 8)
#define LL_META_GROUP "group_id"
/* The input topic's partition count when the log was first written. */
#define LL_META_PARTITIONS "input_partitions"
#define LL_STORE_FORMAT_VERSION 5
#define LL_OUTBOX_PREFIX "outbox/" /* + be64 sequence: ll_store_outbox.c */

/* A batch holds one poll's worth of input; far above any sane poll size,
 * low enough that a runaway loop is caught before memory runs out. */
#define LL_STORE_BATCH_MAX_ENTRIES 1000000u

/* ---- the primary's in-memory state (ll_store_state.c) ---- */

/* Bounds. The cache keeps what was read from the state column family;
 * past LL_STATE_CACHE_MAX_ENTRIES entries the clean ones (those the column
 * family holds as they are) are dropped at the next batch. Dirty entries
 * (changed, not yet folded into the column family) stay until applied:
 * an apply starts at LL_STATE_APPLY_MIN_ENTRIES of them, or when
 * LL_STATE_APPLY_MAX_RECORDS journal records wait (readers on other
 * threads scan those, so they must stay few); a commit waits for the
 * running apply when LL_STATE_DIRTY_MAX_ENTRIES are dirty, or when the
 * records waiting hold LL_STATE_RECORD_CHANGES_PER_DIRTY times as many
 * changes (a workload that rewrites few keys). Handing an apply over and
 * taking it back cost the command thread a constant, not a pass over the
 * job's changes (docs/performance.md, eighth round). */
#define LL_STATE_CACHE_MAX_ENTRIES (512u * 1024)
#define LL_STATE_APPLY_MIN_ENTRIES (256u * 1024)
#define LL_STATE_APPLY_MAX_RECORDS 256u
#define LL_STATE_DIRTY_MAX_ENTRIES (768u * 1024)
#define LL_STATE_RECORD_CHANGES_PER_DIRTY 2u
/* Event-id entries an apply leaves are removed this many per commit
 * (about 0.2 µs each: a free and a probe run's shift), so that taking an
 * apply back is no stop of its own (tens of thousands of them at 10,000
 * events/s). */
#define LL_STATE_LEAVING_PER_COMMIT 4096u

#define LL_TABLE_ABSENT UINT32_MAX /* value_len of a key without value */

typedef struct ll_table_entry {
  uint64_t hash;
  /* The journal record that changed it last, or the open batch's
   * record-to-be. Below the state layer's first_journal (0 for what was
   * read from the column family): the column family holds this value and
   * the entry is a clean cache entry. */
  uint64_t gen;
  uint8_t *bytes; /* key_len bytes of key, then the value; NULL: unused */
  uint32_t key_len;
  uint32_t value_len; /* LL_TABLE_ABSENT: no value (deleted, or unknown) */
  uint32_t value_cap;
  uint32_t next_free; /* free-list link while unused */
} ll_table_entry;

typedef struct ll_table {
  uint64_t *slots; /* hash tag << 32 | entry index; all ones: empty */
  size_t n_slots;  /* power of two, at least twice the live entries */
  ll_table_entry *entries;
  size_t n_entries, cap_entries;
  uint32_t free_head;
  size_t live;
} ll_table;

void ll_table_init(ll_table *t);
void ll_table_free(ll_table *t);
ll_table_entry *ll_table_find(ll_table *t, const void *key, size_t n,
                              uint64_t hash);
/* Insert or overwrite; returns the entry's index (stable until removed). */
uint32_t ll_table_put(ll_table *t, const void *key, size_t n, uint64_t hash,
                      const void *value, uint32_t value_len, uint64_t gen,
                      bool *created);
void ll_table_set_value(ll_table_entry *e, const void *value,
                        uint32_t value_len);
/* Hints for looking many keys up at once: start loading the key's home
 * slot, then (once that is in cache) the entry it names, so the lookups
 * that follow wait for memory in parallel rather than one after another. */
void ll_table_warm_slot(const ll_table *t, uint64_t hash);
void ll_table_warm_entry(const ll_table *t, uint64_t hash);
/* The same for removing many entries: the entry, then (once that is in
 * cache) its home slot and its bytes. */
void ll_table_warm_entry_at(const ll_table *t, uint32_t idx);
void ll_table_warm_removal(const ll_table *t, uint32_t idx);
void ll_table_remove(ll_table *t, uint32_t idx);

/* Answers fetched ahead from the state column family for a chunk of
 * events (ll_store_state.c): open addressing over copies of the keys and
 * values in one buffer, emptied at each prefetch. */
typedef struct ll_prefetch_slot {
  uint64_t hash;
  uint32_t key_off, key_len;     /* key_len 0: empty slot */
  uint32_t value_off, value_len; /* value_len LL_TABLE_ABSENT: absent */
  bool dropped;                  /* written since: the answer no longer holds */
} ll_prefetch_slot;

typedef struct ll_prefetch {
  ll_prefetch_slot *slots;
  size_t n_slots; /* power of two */
  size_t live;
  ll_buf bytes;
} ll_prefetch;

/* One state change, as journal records and the applier hold it. */
typedef struct ll_state_change {
  const uint8_t *key;
  size_t key_len;
  const uint8_t *value; /* NULL when !present */
  size_t value_len;
  bool present;
} ll_state_change;

/* RocksDB's bytewise order, which SST files follow. */
int ll_state_key_cmp(const void *a, size_t a_len, const void *b, size_t b_len);

/* What the open batch changed first, to undo it on abort. */
typedef struct ll_state_undo {
  uint32_t idx;
  bool created; /* the batch made the entry */
  uint64_t old_gen;
  uint32_t old_len; /* LL_TABLE_ABSENT or the length at old_off */
  size_t old_off;   /* in undo_bytes */
} ll_state_undo;

/* The journal records handed to the applier, and what it needs to take
 * them back. */
typedef struct ll_apply_job {
  ll_buf records;   /* each: u32 length (host order), then the record */
  size_t n_changes; /* in all records; a key may be in several */
  /* The event-id entries among the records' keys (batch thread's table
   * indexes): they leave the table once applied. */
  uint32_t *once;
  size_t n_once, cap_once;
  uint64_t first_journal; /* journal records [first, through] it covers */
  uint64_t through_journal;
  /* The applier's own: the changes, in key order. */
  struct ll_apply_item *items;
  size_t cap_items;
} ll_apply_job;

/* The bounds above, per store so that tests can make them small. */
typedef struct ll_state_limits {
  size_t cache_max_entries;
  size_t apply_min_entries;
  size_t apply_max_records;
  size_t dirty_max_entries;
  size_t leaving_per_commit;
} ll_state_limits;

typedef struct ll_state_mem {
  ll_state_limits limits;
  ll_table table;
  size_t n_dirty; /* entries with gen > snap_through */
  /* The event-id entries among them, each once. */
  uint32_t *once;
  size_t n_once, cap_once;
  /* An applied job's event-id entries, left to remove a few at a time
   * (ll_state_mem_drop_leaving): [leaving_at, n_leaving) are left. */
  uint32_t *leaving;
  size_t n_leaving, cap_leaving, leaving_at;
  /* The journal records after snap_through, as ll_apply_job.records. */
  ll_buf records;
  size_t record_changes;
  uint64_t last_journal;  /* newest journal record committed */
  uint64_t first_journal; /* oldest record not yet applied */
  uint64_t snap_through;  /* records up to here are in an apply job */
  size_t in_flight;       /* entries of the job being applied */
  /* The open batch: it writes journal record batch_gen when it commits. */
  uint64_t batch_gen; /* 0 when no batch is open */
  ll_state_undo *undo;
  size_t n_undo, cap_undo;
  ll_buf undo_bytes;
  size_t dirty_at_begin, once_at_begin;
  ll_state_reader below; /* the state column family itself */
  /* Column-family answers fetched ahead for the keys the next events will
   * read (ll_store_batch_prefetch), gen 0. A write removes its key here:
   * from then on the table has it, and an apply may change the column
   * family under it. */
  ll_prefetch prefetched;
  /* Scratch of ll_state_mem_prefetch, kept between calls. */
  struct ll_prefetch_key {
    const uint8_t *key;
    size_t len;
    uint64_t hash;
  } * pf_keys;
  size_t cap_pf_keys;
  const char **pf_list;
  size_t *pf_lens;
  ll_prefetch_slot **pf_slots;
  rocksdb_pinnableslice_t **pf_values;
  char **pf_errs;
  size_t cap_pf_list;
  ll_buf record; /* the open batch's journal record, once encoded */
  ll_store_state_stats stats;
} ll_state_mem;

/* The background applier (ll_store_apply.c). */
typedef struct ll_applier {
  pthread_t thread;
  bool started;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool busy;     /* a job was handed over and not collected yet */
  bool finished; /* the thread is done with it (rc, err say how) */
  bool stop;
  ll_apply_job job;
  int rc;
  ll_err err;
  uint64_t next_file; /* names the SST files */
} ll_applier;

/* ---- ll_store_jindex.c: a filter of each record not applied yet ---- */
#define LL_JINDEX_BITS_PER_KEY 16 /* about 0.3 % false candidates */
#define LL_JINDEX_PROBES 6        /* bits a key sets in its block */
/* Records a lookup reads at most; more candidates: it scans instead. */
#define LL_JINDEX_CANDIDATES_MAX 16
typedef struct ll_jfilter ll_jfilter;
typedef struct ll_jindex {
  pthread_mutex_t mu;
  ll_jfilter *items; /* a ring, oldest record at head */
  size_t head, n, cap;
  /* A record could not be indexed: lookups scan the records instead. */
  _Atomic bool broken;
} ll_jindex;
void ll_jindex_init(ll_jindex *x);
void ll_jindex_free(ll_jindex *x);
/* Index record seq (newer than every record indexed), dropping the ones at
 * or below applied. False when the record is corrupt (nothing indexed). */
bool ll_jindex_add(ll_jindex *x, uint64_t seq, const void *rec, size_t n,
                   uint64_t applied);
/* The records above applied whose filters may hold the key of hash h,
 * newest first, at most cap of them in out; *complete is false when
 * there were more. */
size_t ll_jindex_candidates(ll_jindex *x, uint64_t h, uint64_t applied,
                            uint64_t *out, size_t cap, bool *complete);

struct ll_store {
  char *dir;
  ll_store_mode mode;
  rocksdb_t *db;
  rocksdb_cache_t *block_cache;
  rocksdb_column_family_handle_t *cf[LL_CF_COUNT];
  rocksdb_readoptions_t *read_opts; /* shared, never modified after open */
  rocksdb_writeoptions_t *write_sync;
  rocksdb_writeoptions_t *write_nosync;
  char *secondary_path; /* private info-log dir of a secondary; else NULL */
  /* Advanced only after a successful commit (primary) or catch-up
   * (secondary); read from any thread. */
  _Atomic uint64_t last_position;
  _Atomic uint64_t last_rejection;
  /* Each task's last entry and clock, sorted by partition (ll_store_task.c).
   * Loaded at open; changed by the command thread after a commit; read by
   * any thread under tasks_mu. */
  ll_task_last *tasks;
  size_t n_tasks, cap_tasks;
  pthread_mutex_t tasks_mu;
  bool batch_open;             /* the command thread's own bookkeeping */
  ll_store_batch *spare_batch; /* the last batch, reused by the next */
  /* Primary only: the state in memory and its applier. The batch thread
   * owns mem; the applier thread sees only the job it was handed. */
  ll_state_mem *mem;
  ll_applier applier;
  rocksdb_options_t *state_cf_opts; /* for the applier's SST files */
  char *ingest_dir;                 /* "<dir>.ingest", where they are built */
  bool apply_failed;                /* sticky: commits refuse from then on */
  ll_err apply_err;
  /* Sticky, any thread: a write failed (see ll_store_write). */
  ll_rocks_latch write_latch;
  /* Bumped after each commit (primary) or each catch-up that found new
   * writes (secondary): what waiters for the log sleep on. */
  ll_notify changed;
  _Atomic uint64_t caught_up_seq; /* secondary: RocksDB sequence last seen */
  /* Primary: every journal record up to this one has its changes in
   * `state` (set once the applier's ingest is done, before it deletes the
   * records). Readers' journal scans stop there instead of walking back
   * through the applied records' deletions; 0 on a secondary: all. */
  _Atomic uint64_t journal_applied;
  /* Primary: which records above journal_applied may hold a key
   * (ll_store_jindex.c); the command thread adds each one it commits. */
  ll_jindex jindex;
  pthread_mutex_t catch_up_mu; /* secondary: one catch-up at a time */
};

/* Turn a RocksDB error string into err ("log store DIR: OP: why"), free it,
 * return -1. */
int ll_store_fail(const ll_store *s, ll_err *err, const char *op, char *rerr);

/* Every write to the store goes through here, behind the store's latch
 * (ll_rocks_write): after a failed write the store refuses every later
 * one. Returns 0, or -1 with err set. */
int ll_store_write(ll_store *s, const rocksdb_writeoptions_t *wo,
                   rocksdb_writebatch_t *wb, const char *op, ll_err *err);

/* ll_store_open() without the meta consistency checks (format still
 * checked): for ll_store_verify(), which reports those differences by
 * position instead of refusing to open. */
ll_store *ll_store_open_unchecked(const char *dir, ll_store_mode mode,
                                  ll_err *err);

/* Outbox keys and values (ll_store_outbox.c). */
void ll_store_outbox_key(ll_buf *key, uint64_t sequence);
void ll_store_encode_outbox(ll_buf *out, const void *key, size_t key_len,
                            bool has_key, const void *value, size_t value_len);

/* Parked rejections' keys (ll_store_parked.c). */
void ll_store_parked_key(ll_buf *key, int32_t partition, int64_t input_offset,
                         uint64_t sequence);

void ll_store_batch_destroy(ll_store_batch *b); /* ll_store_batch.c */

/* Stage a rejection's lots.changelog record under (partition, its input
 * offset) in wb (ll_store_changelog.c); key and value are scratch. */
struct ll_chg_rejection;
void ll_store_changelog_put(rocksdb_writebatch_t *wb, ll_store *s, ll_buf *key,
                            ll_buf *value, int32_t partition,
                            const struct ll_chg_rejection *r);

/* ---- ll_store_task.c: each task's last entry ---- */
/* Read every task record from meta (at open, and on a secondary's
 * catch-up). */
int ll_store_tasks_load(ll_store *s, ll_err *err);
/* Invariant at open: each task's record names an entry of the log that
 * belongs to the task, at that task position, with that hash. */
int ll_store_tasks_check(ll_store *s, ll_err *err);
void ll_store_tasks_free(ll_store *s);
/* The pending records of one batch (the tasks it touched). */
typedef struct ll_task_pending {
  ll_task_last *items;
  size_t n, cap;
} ll_task_pending;
/* The batch's record of partition's task, copied from the store the first
 * time the batch touches it. */
ll_task_last *ll_task_pending_get(ll_task_pending *p, ll_store *s,
                                  int32_t partition);
/* Stage the records in wb (the batch commits them with its entries). */
void ll_task_pending_write(const ll_task_pending *p, ll_store *s,
                           rocksdb_writebatch_t *wb, ll_buf *key,
                           ll_buf *value);
/* After the write: the store adopts them. */
void ll_task_pending_adopt(const ll_task_pending *p, ll_store *s);
void ll_task_pending_free(ll_task_pending *p);
void ll_store_task_key(ll_buf *key, int32_t partition);
void ll_store_encode_task(ll_buf *out, const ll_task_last *t);
bool ll_store_decode_task(const void *p, size_t n, ll_task_last *t);

/* ---- ll_store_state.c: the primary's state layer ---- */
int ll_state_mem_open(ll_store *s, ll_err *err); /* loads the journal */
void ll_state_mem_close(ll_store *s);
void ll_state_mem_begin(ll_store *s);
ll_state_reader ll_state_mem_reader(ll_store *s);
void ll_state_mem_mutate(ll_store *s, const ll_mutations *m);
int ll_state_mem_prefetch(ll_store *s, const ll_buf *keys, ll_err *err);
/* The open batch's changes as a journal record (empty when the batch
 * changed no state), valid until the batch ends. */
const ll_buf *ll_state_mem_encode_batch(ll_store *s);
/* The batch and its record are durable. */
void ll_state_mem_committed(ll_store *s);
void ll_state_mem_abort(ll_store *s);
/* Hand the records after the last snapshot over to a job (no copy):
 * records [first, last_journal]. */
void ll_state_mem_snapshot(ll_store *s, ll_apply_job *job);
/* The job is in the state column family and its records are deleted.
 * Takes the job's list of event-id entries. */
void ll_state_mem_applied(ll_store *s, ll_apply_job *job);
/* Remove up to max of the event-id entries applied jobs left. */
void ll_state_mem_drop_leaving(ll_store *s, size_t max);
bool ll_state_mem_wants_apply(const ll_store *s);
void ll_state_mem_set_limits(ll_store *s, const ll_state_limits *limits);
bool ll_state_mem_must_wait(const ll_store *s);

/* ---- ll_store_journal.c ---- */
/* Encode distinct changes (any order) as a journal record. */
void ll_journal_encode(ll_buf *out, const ll_state_change *changes, size_t n);
/* Find key in a record: *found, and when found *change (borrowing the
 * record). False when the record is corrupt. */
bool ll_journal_lookup(const void *rec, size_t n, const void *key,
                       size_t key_len, ll_state_change *change, bool *found);
/* Call fn for every change of a record, in hash order. False when the
 * record is corrupt. */
bool ll_journal_each(const void *rec, size_t n,
                     void (*fn)(void *ctx, const ll_state_change *c),
                     void *ctx);
/* The same for a record this process encoded: lengths are checked (false
 * when one is wrong), hashes and their order are not. */
bool ll_journal_each_own(const void *rec, size_t n,
                         void (*fn)(void *ctx, const ll_state_change *c),
                         void *ctx);
/* Append rec to a job's list of records (ll_apply_job.records). */
void ll_journal_list_put(ll_buf *list, const void *rec, size_t n);
/* The next record of a list at *off (advanced): false at the end. */
bool ll_journal_list_next(const ll_buf *list, size_t *off, const uint8_t **rec,
                          size_t *n);
/* Reader of the state column family alone (no journal). */
ll_state_reader ll_store_cf_state_reader(ll_store *s);
/* A record's change count; false when its header is not one. */
bool ll_journal_count(const void *rec, size_t n, uint32_t *count);
/* Call fn with the key hash of every change of a record, from its index.
 * False when the record is corrupt. */
bool ll_journal_hashes(const void *rec, size_t n,
                       void (*fn)(void *ctx, uint64_t hash), void *ctx);

/* ---- ll_store_apply.c ---- */
/* Hand a job to the applier thread (starting it if needed). Precondition:
 * !applier.busy. */
int ll_applier_start(ll_store *s, ll_err *err);
/* If the running job is finished, collect it: true, and the state layer
 * has been told. wait: block until it is. */
bool ll_applier_collect(ll_store *s, bool wait);
void ll_applier_shutdown(ll_store *s);
/* Everything between commits: collect a finished apply, start the next
 * one when due. */
void ll_store_state_maintain(ll_store *s);

/* Records (ll_store_record.c). */
/* Encode the entry at task position `task_position`, chained on prev_hash
 * (the task's previous entry's); its own hash is stored in the value and
 * copied to hash_out. */
void ll_store_encode_log_value(ll_buf *out, uint64_t task_position,
                               const uint8_t prev_hash[LL_ENTRY_HASH_BYTES],
                               const ll_event *ev, const ll_input *in,
                               int64_t recorded_at_ms,
                               const ll_move_after *after, uint8_t flags,
                               uint8_t hash_out[LL_ENTRY_HASH_BYTES]);
/* The task index's key of (partition, task_position). */
void ll_store_task_index_key(ll_buf *key, int32_t partition,
                             uint64_t task_position);
bool ll_store_decode_log_value(const void *p, size_t n, ll_entry *e);
/* The hash stored in a log value (borrowed), or NULL when the value is too
 * short or of another version to hold one. */
const uint8_t *ll_store_log_value_hash(const void *p, size_t n);
/* The hash the value at `task_position` must carry when the task's previous
 * entry's is prev_hash. Precondition: ll_store_log_value_hash(p, n) !=
 * NULL. */
void ll_store_chain_hash(const void *p, size_t n, uint64_t task_position,
                         const uint8_t prev_hash[LL_ENTRY_HASH_BYTES],
                         uint8_t out[LL_ENTRY_HASH_BYTES]);
void ll_store_encode_rejection(ll_buf *out, const ll_stored_rejection *r);
bool ll_store_decode_rejection(const void *p, size_t n, ll_stored_rejection *r);
void ll_store_offset_key(ll_buf *out, const char *cluster, const char *topic,
                         int32_t partition);
void ll_store_encode_offset(ll_buf *out, int64_t next_offset);
bool ll_store_decode_offset(const void *p, size_t n, int64_t *next_offset);

#endif
