/* views_internal.h — what the read-model files share, not part of the API.
 *
 * All read models live in the default column family of the views database,
 * told apart by a key prefix. Keys join their parts with "\x1f" (unit
 * separator), which validated ids and names never contain, so every prefix
 * scan is exact and rows sort by their parts in byte order:
 *
 *   meta/position                 8-byte big-endian last applied position
 *   meta/format                   uvar LL_VIEWS_FORMAT
 *   meta/task/<be32 partition>    be64 task position of the task's last
 *                                 entry applied (views_tasks.c)
 * A lot is (product_id, lot_id): <P> is its product id, <L> its lot id,
 * <lot> the two as "<P>\x1f<L>".
 *
 *   lot/<P>\x1f<L>                ll_lot_pack(lot)
 *   prod/<P>\x1f<L>               (empty)          lots of a product
 *   name/<name>\x1f<L>\x1f<P>      (empty)          lots by trimmed name
 *   lotp/<L>\x1f<P>               (empty)          every lot, by lot id
 *   qty/<L>\x1f<P>\x1f<location>   u8 usage, svar quantity_micro (never 0)
 *   loc/<location>\x1f<L>\x1f<P>   u8 usage, svar quantity_micro (never 0)
 *   hist/<P>\x1f<L>\x1f<be64 pos>  svar recorded_at_ms, ll_event_pack(event)
 *   dlv/<P>\x1f<L>\x1f<be64 pos>   a delivery to a CUSTOMER location
 *   gcon/<reference>\x1f<lot>     svar quantity consumed under reference
 *   gpro/<reference>\x1f<lot>     svar quantity produced under reference
 *   gdn/<lot>\x1f<made>\x1f<ref>   svar consumed, svar produced (edge down)
 *   gup/<made>\x1f<lot>\x1f<ref>   the same value (edge up)
 *   tree/<path>\x1f<L>\x1f<P>      svar quantity, svar on_hand below path
 *                                 (not at it: loc/ says that)
 *   fefo/<be64 removal><be64 expiration><L>\x1f<P>  (empty)  on-hand lots
 *   fefok/<P>\x1f<L>              the lot's fefo/ key, while it has one
 *   dates/<be64 at><u8 kind><P>\x1f<L>  (empty)  each date of a lot on hand
 *   datesk/<P>\x1f<L>             be64 position, the lot's dates (u8 kind,
 *                                 be64 at each), while it has dates/ rows
 *   datesn/<be64 position><P>\x1f<L>  the lot's dates: the position of the
 *                                 entry that last gave it a dates/ row
 *   puom/<P>                      the product's unit of measure
 *   locl/<location>\x1f<L>\x1f<P>  (empty)  every lot a move ever took to
 *                                 or from the location (never deleted)
 *
 * Lists of lots (by lot id, name, location, path) are in (lot_id,
 * product_id) order: the lot id first, so a lot id that two products use
 * lists its lots together. qty/, loc/ and tree/ write the lot the same way
 * (<L>\x1f<P>), so the quantity index in memory interns one name per lot.
 *
 * Every value is a function of the log entries applied so far (no wall
 * clock, no randomness) and a row whose quantity returns to zero is deleted,
 * so two view databases that applied the same log hold the same rows
 * whatever the batching was. */
#ifndef LL_VIEWS_INTERNAL_H
#define LL_VIEWS_INTERNAL_H

#include <pthread.h>
#include <rocksdb/c.h>
#include <stdatomic.h>

#include "ll_buf.h"
#include "ll_notify.h"
#include "ll_rocks.h"
#include "ll_views.h"
#include "views_quant.h"
#include "views_rows.h"

#define LL_VIEWS_FORMAT                                                        \
  8 /* 2: history, genealogy, tree, fefo; 3: lots by (product, lot id);        \
       4: units, holds, lots ever at a location (balances); 5: each task's     \
       applied position; 6: history rows and deliveries carry their task       \
       position; 7: the dates index (lot_dates.c); 8: tree/ rows sum what is   \
       below a path, not at it (location_tree.c) */

#define LL_VK_POSITION "meta/position"
#define LL_VK_TASK "meta/task/"
#define LL_VK_FORMAT "meta/format"
#define LL_VK_LOT "lot/"
#define LL_VK_PRODUCT "prod/"
#define LL_VK_NAME "name/"
#define LL_VK_LOT_PRODUCTS "lotp/"
#define LL_VK_QTY "qty/"
#define LL_VK_LOC "loc/"
#define LL_VK_HISTORY "hist/"
#define LL_VK_DELIVERY "dlv/"
#define LL_VK_CONSUMED "gcon/"
#define LL_VK_PRODUCED "gpro/"
#define LL_VK_EDGE_DOWN "gdn/"
#define LL_VK_EDGE_UP "gup/"
#define LL_VK_TREE "tree/"
#define LL_VK_FEFO "fefo/"
#define LL_VK_FEFO_OF "fefok/"
#define LL_VK_DATES "dates/"
#define LL_VK_DATES_OF "datesk/"
#define LL_VK_DATES_ENTERED "datesn/"
#define LL_VK_PRODUCT_UOM "puom/"
#define LL_VK_LOC_EVER "locl/"
#define LL_VK_SEP '\x1f'

/* The projector's row cache (views_rows.h), clean rows: a row costs its
 * block (about 50 bytes plus key and value) and about 40 bytes of table.
 * The quantity rows live in the quantity index, so what it holds is
 * mostly lot records (about 150 bytes each: 48 MiB hold some 300,000
 * lots) and their expiry index rows. */
#define LL_VIEWS_CACHE_MAX_ENTRIES (384 * 1024)
#define LL_VIEWS_CACHE_MAX_BYTES (48 * 1024 * 1024)
/* The projector's quantity rows in memory (views_quant.h): 128 MiB hold
 * 3.67 million qty/ and tree/ rows (24-byte slots, at most three quarters
 * full, and the interned names). */
#define LL_VIEWS_QUANT_MAX_BYTES (128 * 1024 * 1024)
/* The projector's memtables. Each run inserts ~12 rows per entry at keys
 * spread over the whole memtable, and a small skip list takes them faster
 * (fewer levels, closer to the CPU caches: its inserts cost about 30 %
 * less at 4 MiB than at 16 MiB). A flush waits for
 * LL_VIEWS_MEMTABLES_MERGED of them and writes them as one level-0 file,
 * so level 0 fills, and compacts, no more often than with one 16 MiB
 * memtable (docs/performance.md has the measurements). */
#define LL_VIEWS_WRITE_BUFFER_BYTES (4 * 1024 * 1024)
#define LL_VIEWS_MEMTABLES_MERGED 4
/* A run with at least this many rows to write (a projector working off a
 * backlog) is written as one sorted table file that RocksDB ingests, like
 * a rebuild's runs: no memtable inserts, no WAL, no flush. Small runs (a
 * projector keeping up) go through the memtable, which is cheaper for a
 * handful of rows than a file. */
#define LL_VIEWS_FILE_MIN_ROWS 16384
/* The views' RocksDB block cache. Index and filter blocks live in it too
 * (partitioned, top level pinned), so the memory the views take stays
 * bounded however big the database grows, instead of every table file
 * keeping its whole index and bloom filter in memory. */
#define LL_VIEWS_BLOCK_CACHE_BYTES (64 * 1024 * 1024)

typedef struct ll_views_tuning {
  size_t cache_max_entries;
  size_t cache_max_bytes;
  size_t write_buffer_bytes; /* RocksDB memtable size, 0: default */
  int memtables_merged;      /* memtables a flush writes as one file; 0: 1 */
  size_t quant_max_bytes;    /* views_quant.h; 0: LL_VIEWS_QUANT_MAX_BYTES */
  size_t file_min_rows;      /* 0: LL_VIEWS_FILE_MIN_ROWS */
  bool bulk_load; /* a rebuild: no WAL, runs ingested as table files */
} ll_views_tuning;

typedef struct ll_views_task {
  int32_t partition;
  uint64_t position;
} ll_views_task;

struct ll_views {
  rocksdb_t *db;
  rocksdb_options_t *options;
  rocksdb_block_based_table_options_t *table_opts;
  rocksdb_cache_t *block_cache;
  rocksdb_readoptions_t *read_opts;
  rocksdb_writeoptions_t *write_opts;
  ll_rocks_latch write_latch; /* sticky: see ll_rocks_latch */
  pthread_mutex_t apply_lock; /* one ll_views_apply() at a time */
  _Atomic uint64_t position;  /* published after the batch is written */
  ll_notify applied;          /* bumped after position moves */
  /* Owned by the apply in progress (apply_lock): */
  ll_views_rows rows;         /* the run's writes, and rows read before */
  ll_views_quant quant;       /* committed quantity rows, compact */
  rocksdb_writebatch_t *wb;   /* the run's commit, reused */
  struct ll_sort_rec *sorted; /* the run's rows in key order, reused */
  size_t sorted_cap;
  /* Bulk load (a rebuild): each run becomes a table file, ingested. */
  bool bulk_load;
  size_t file_min_rows; /* a run this big is written as a table file */
  char *dir;
  uint64_t files_ingested;
  rocksdb_envoptions_t *env_opts;
  rocksdb_ingestexternalfileoptions_t *ingest_opts;
  rocksdb_readoptions_t *scan_opts; /* upper-bounded prefix scans */
  /* The snapshot readers share (views_read.c); snap_mu guards the
   * pointer, the snapshot's refs its life. */
  pthread_mutex_t snap_mu;
  struct ll_views_snap *snap_shared;
  /* Each task's last applied task position (views_tasks.c), any thread. */
  pthread_mutex_t tasks_mu;
  ll_views_task *tasks;
  size_t n_tasks, cap_tasks;
};

ll_views *ll_views_open_tuned(const char *dir, const ll_views_tuning *tuning,
                              ll_err *err);
/* Write the run's rows and its checkpoint (views_write.c), then commit
 * them in the row table; -1 when RocksDB refused (nothing written).
 * at_head: the run reaches the end of the log (a projector keeping up),
 * so it goes through the memtable whatever its size. */
int ll_views_commit_run(ll_views *v, uint64_t position, bool at_head,
                        ll_err *err);

/* One ll_views_apply() run: reads see the run's own writes (the overlay),
 * then the cache, then the database. */
typedef struct ll_views_txn {
  ll_views *v;
} ll_views_txn;

int ll_views_txn_get(ll_views_txn *t, const ll_buf *key, ll_buf *value,
                     bool *found, ll_err *err);
void ll_views_txn_put(ll_views_txn *t, const ll_buf *key, const void *value,
                      size_t value_len);
void ll_views_txn_del(ll_views_txn *t, const ll_buf *key);

/* Key builders: prefix + a [+ "\x1f" + b]. Return false (key untouched
 * beyond reset) when a part contains the separator, which validation rules
 * out for anything in the log; callers report that as corruption. */
bool ll_views_key1(ll_buf *key, const char *prefix, const char *a);
bool ll_views_key2(ll_buf *key, const char *prefix, const char *a,
                   const char *b);
/* prefix + a + "\x1f" + b + "\x1f" + c. */
bool ll_views_key3(ll_buf *key, const char *prefix, const char *a,
                   const char *b, const char *c);
/* "\x1f" + part at the end of key; false (key reset) when part is NULL
 * or holds the separator. */
bool ll_views_key_append(ll_buf *key, const char *part);
/* A page cursor over lots listed in (lot_id, product_id) order. The text
 * form is "<bytes of lot_id>:<lot_id><product_id>", opaque to clients; a
 * text of another form is a plain lot id (the form before lots were
 * scoped by product): the page starts after every lot with that id. */
typedef struct ll_lot_cursor {
  char *lot_id;     /* NULL: no cursor */
  char *product_id; /* NULL: after every product of lot_id */
} ll_lot_cursor;

void ll_lot_cursor_parse(const char *text, ll_lot_cursor *c);
void ll_lot_cursor_free(ll_lot_cursor *c);
char *ll_lot_cursor_format(const char *lot_id, const char *product_id);
/* Is the lot (lot_id, product_id) at or before the cursor (not on the
 * page that starts after it)? */
bool ll_lot_cursor_before(const ll_lot_cursor *c, const char *lot_id,
                          size_t lot_len, const char *product_id,
                          size_t product_len);
/* Split "<a>\x1f<b>" (exactly one separator, both parts non-empty) into
 * two malloc'd strings; false when it is not so. */
bool ll_views_split2(const char *p, size_t n, char **a, char **b);
/* Byte order of keys, the shorter first on a tie: RocksDB's order. */
int ll_views_compare_keys(const uint8_t *a, size_t alen, const uint8_t *b,
                          size_t blen);

/* Visit every row of the run (overlay over database) whose key starts with
 * prefix, in key order; fn returns false to stop. The rows are read before
 * fn runs, so fn may write to the run. Only the scan groups of the
 * scannable families can be scanned: prefix is "<family><part>\x1f" with
 * family one of LL_VK_CONSUMED, LL_VK_PRODUCED (views.c lists them). */
typedef bool (*ll_views_row_fn)(const char *key, size_t key_len,
                                const char *value, size_t value_len, void *arg);
int ll_views_txn_scan(ll_views_txn *t, const ll_buf *prefix, ll_views_row_fn fn,
                      void *arg, ll_err *err);
/* The length of key's scan group ("<family><part>\x1f"), or 0 when its
 * family is not scannable. */
size_t ll_views_scan_group_len(const void *key, size_t key_len);

/* A snapshot readers share while the views stand still (views_read.c). */
typedef struct ll_views_snap {
  const rocksdb_snapshot_t *snap;
  rocksdb_readoptions_t *ro; /* reads the snapshot */
  uint64_t published;        /* ll_views.position when it was taken */
  uint64_t position;         /* the checkpoint in the snapshot */
  _Atomic uint32_t refs;     /* its readers, + 1 while it is shared */
} ll_views_snap;

/* A consistent read (views_read.c). */
struct ll_views_reader {
  ll_views *v;
  ll_views_snap *snap;
};

/* Release the shared snapshot: before the database closes. */
void ll_views_readers_close(ll_views *v);

int ll_views_reader_get(ll_views_reader *r, const ll_buf *key, ll_buf *value,
                        bool *found, ll_err *err);
/* Visit the snapshot's rows from start (inclusive) while they begin with
 * prefix; fn returns false to stop. */
int ll_views_reader_scan(ll_views_reader *r, const ll_buf *prefix,
                         const ll_buf *start, ll_views_row_fn fn, void *arg,
                         ll_err *err);

/* Per-read-model appliers, called in log order inside one run, in this
 * order (lot_expiry and lot_dates read the lot row lot_details has just
 * written). lot_details says whether the entry may have changed what
 * those two indexes follow, the lot's dates and whether it has stock on
 * hand: false for a move that leaves the lot with stock on hand as it
 * was, which leaves both indexes as they are, so they are not called
 * (five moves in six at the head of the benchmark's log). */
int ll_lot_details_apply(ll_views_txn *t, const ll_entry *e,
                         bool *indexed_changed, ll_err *err);
int ll_lot_locations_apply(ll_views_txn *t, const ll_entry *e, ll_err *err);
int ll_lot_history_apply(ll_views_txn *t, const ll_entry *e, ll_err *err);
int ll_genealogy_apply(ll_views_txn *t, const ll_entry *e, ll_err *err);
int ll_location_tree_apply(ll_views_txn *t, const ll_entry *e, ll_err *err);
int ll_lot_expiry_apply(ll_views_txn *t, const ll_entry *e, ll_err *err);
int ll_lot_dates_apply(ll_views_txn *t, const ll_entry *e, ll_err *err);
/* The locl/ key of e's lot at loc (one end of its move), which the
 * quantity fold writes (lot_locations.c); false when an id holds the
 * separator. */
bool ll_lot_balance_ever_key(ll_buf *key, const ll_entry *e,
                             const ll_location *loc);

/* Read paths the readers share with the older entry points. */
int ll_lot_details_get(ll_views *v, const rocksdb_readoptions_t *ro,
                       const char *product_id, const char *lot_id, ll_lot *lot,
                       bool *found, ll_err *err);
int ll_lot_locations_get(ll_views *v, const rocksdb_readoptions_t *ro,
                         const char *product_id, const char *lot_id,
                         bool include_virtual, ll_lot_location **out,
                         size_t *n_out, ll_err *err);

/* Quantity row value: u8 usage, svar quantity_micro. */
void ll_views_qty_pack(ll_usage usage, int64_t quantity_micro, ll_buf *out);
bool ll_views_qty_unpack(const void *p, size_t n, ll_usage *usage,
                         int64_t *quantity_micro);
/* Rollup row value (location_tree.c): svar quantity, svar on_hand. */
void ll_views_tree_pack(int64_t quantity_micro, int64_t on_hand_micro,
                        ll_buf *out);
bool ll_views_tree_unpack(const void *p, size_t n, int64_t *quantity_micro,
                          int64_t *on_hand_micro);

/* views_tasks.c */
void ll_views_task_note(ll_views_txn *t, const ll_entry *e);
void ll_views_tasks_committed(ll_views *v, const ll_entry *entries, size_t n);
int ll_views_tasks_load(ll_views *v, ll_err *err);

#endif
