/* views.c — the views database: open/close, the checkpoint, and applying
 * runs of log entries.
 *
 * The read models live in their own RocksDB (<data>/views), separate from
 * the log, because they are derived data: the log is the source of truth and
 * the views can always be rebuilt from it. So view writes go out with
 * sync=false; what matters is that a run's view updates and the checkpoint
 * ("meta/position", the last applied log position) land in one WriteBatch,
 * so after a crash the views stand exactly at their checkpoint and the
 * projector resumes from there.
 *
 * ll_views_apply() takes entries in log order. Entries at or below the
 * checkpoint are skipped (re-applying is a no-op); a hole in the positions is
 * an error and nothing of the run is written. The appliers read and write
 * rows through the run (ll_views_txn_*, views_txn.c), which keeps them in
 * memory (views_rows.h): an entry sees what earlier entries of the same run
 * changed (a lot created and moved in one run), a row rewritten by many
 * entries is written to RocksDB once, with its final value, and rows read
 * before come from the row cache instead of RocksDB. At the end of the run
 * its rows, sorted by key, and the checkpoint go out in one plain
 * WriteBatch (views_write.c). The projector is the views
 * database's only writer, which is what keeps the cache exact; a failed
 * run drops it.
 *
 * One apply runs at a time (apply_lock); reads never take the lock:
 * RocksDB reads are thread-safe and each write is atomic. The position is
 * published only after its batch is written, so a reader that sees position
 * N also sees every view row of entries up to N.
 *
 * A rebuild opens the views for a bulk load (ll_views_open_tuned): no WAL,
 * a bigger cache, and each run written as one sorted table file that
 * RocksDB ingests, instead of going through the memtable.
 *
 * Key layout: see views_internal.h. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ll_buf.h"
#include "ll_logging.h"
#include "ll_mem.h"
#include "ll_rocks.h"
#include "ll_rocks_logger.h"
#include "ll_time.h"
#include "ll_types.h"
#include "views_internal.h"

#define VIEWS_BLOOM_BITS_PER_KEY 10
#define VIEWS_MEMTABLE_BLOOM_RATIO 0.02 /* of the memtable's size */
/* A run's rows go into the memtable in key order. RocksDB's plain insert
 * searches the skip list again from its top level whenever a key is not
 * next to the previous one, which is nearly always in a memtable that
 * already holds many steps. With an insert hint per first key byte (one
 * per row family, near enough) it climbs only as far up as the distance
 * to the previous key needs: at 10,000 entries/s the skip list's searches
 * went from 12.5 % to 4.4 % of lotlined all's CPU (docs/performance.md,
 * fifth round). */
#define VIEWS_MEMTABLE_HINT                                                    \
  "memtable_insert_with_hint_prefix_extractor=rocksdb.FixedPrefix.1"

/* ---- open / close ---- */

/* The checkpoint: 8 bytes big-endian; *found false when absent. */
static int read_position(ll_views *v, uint64_t *out, bool *found, ll_err *err) {
  ll_buf val;
  ll_buf_init(&val);
  int rc = ll_rocks_get(v->db, v->read_opts, LL_VK_POSITION,
                        strlen(LL_VK_POSITION), &val, found, "views", err);
  if (rc == 0 && *found && val.len != 8)
    rc = ll_fail(err, LL_ERR_CORRUPT, "views: corrupt %s record",
                 LL_VK_POSITION);
  else if (rc == 0 && *found)
    *out = ll_be64_decode(val.data);
  ll_buf_free(&val);
  return rc;
}

/* A new database gets its format mark; an existing one must carry ours.
 * A checkpoint without a mark is some other database: it is not stamped. */
static int check_format(ll_views *v, const char *dir, ll_err *err) {
  uint64_t position = 0;
  bool has_format = false, has_position = false;
  if (read_position(v, &position, &has_position, err) != 0)
    return -1;
  const ll_rocks_format f = {
      .name = "views",
      .dir = dir,
      .key = LL_VK_FORMAT,
      .version = LL_VIEWS_FORMAT,
      .remedy = ": run 'lotline rebuild' to rebuild the views from the log",
  };
  if (ll_rocks_check_format(v->db, v->read_opts,
                            has_position ? NULL : v->write_opts, &f,
                            &has_format, err) != 0)
    return -1;
  if (!has_format && has_position)
    return ll_fail(err, LL_ERR_CORRUPT,
                   "views: %s has a checkpoint but no format mark: not a "
                   "lotline views database",
                   dir);
  atomic_store(&v->position, has_position ? position : 0);
  return 0;
}

ll_views *ll_views_open_tuned(const char *dir, const ll_views_tuning *tuning,
                              ll_err *err) {
  assert(dir != NULL && tuning != NULL);
  ll_views *v = ll_xcalloc(1, sizeof *v);
  v->options = rocksdb_options_create();
  rocksdb_options_set_create_if_missing(v->options, 1);
  ll_rocks_log_to_service(v->options, "views");
  /* Most reads the cache misses are first lookups of rows that do not
   * exist yet (a lot's first quantity at a location): bloom filters in the
   * table files and the memtable answer those without a search. */
  v->table_opts = rocksdb_block_based_options_create();
  rocksdb_block_based_options_set_filter_policy(
      v->table_opts,
      rocksdb_filterpolicy_create_bloom_full(VIEWS_BLOOM_BITS_PER_KEY));
  v->block_cache = rocksdb_cache_create_lru(LL_VIEWS_BLOCK_CACHE_BYTES);
  rocksdb_block_based_options_set_block_cache(v->table_opts, v->block_cache);
  rocksdb_block_based_options_set_index_type(
      v->table_opts,
      rocksdb_block_based_table_index_type_two_level_index_search);
  rocksdb_block_based_options_set_partition_filters(v->table_opts, 1);
  rocksdb_block_based_options_set_cache_index_and_filter_blocks(v->table_opts,
                                                                1);
  rocksdb_block_based_options_set_cache_index_and_filter_blocks_with_high_priority(
      v->table_opts, 1);
  rocksdb_block_based_options_set_pin_top_level_index_and_filter(v->table_opts,
                                                                 1);
  rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(
      v->table_opts, 1);
  rocksdb_options_set_block_based_table_factory(v->options, v->table_opts);
  rocksdb_options_set_memtable_whole_key_filtering(v->options, 1);
  rocksdb_options_set_memtable_prefix_bloom_size_ratio(
      v->options, VIEWS_MEMTABLE_BLOOM_RATIO);
  if (tuning->write_buffer_bytes > 0)
    rocksdb_options_set_write_buffer_size(v->options,
                                          tuning->write_buffer_bytes);
  if (tuning->memtables_merged > 1) {
    /* Two more than a flush takes: writes go on while one runs. */
    rocksdb_options_set_min_write_buffer_number_to_merge(
        v->options, tuning->memtables_merged);
    rocksdb_options_set_max_write_buffer_number(v->options,
                                                tuning->memtables_merged + 2);
  }
  v->read_opts = rocksdb_readoptions_create();
  v->scan_opts = rocksdb_readoptions_create();
  v->write_opts = rocksdb_writeoptions_create();
  /* Derived data: a lost tail after a power cut is re-projected from the
   * log. The WAL stays on so a process crash loses nothing, except in a
   * rebuild, which nobody reads until it is flushed and swapped in. */
  rocksdb_writeoptions_set_sync(v->write_opts, 0);
  if (tuning->bulk_load) {
    rocksdb_writeoptions_disable_WAL(v->write_opts, 1);
    v->bulk_load = true;
  }
  /* Big runs (a rebuild's, a projector's that is behind) go in as table
   * files (views_write.c). */
  v->env_opts = rocksdb_envoptions_create();
  v->ingest_opts = rocksdb_ingestexternalfileoptions_create();
  rocksdb_ingestexternalfileoptions_set_move_files(v->ingest_opts, 1);
  rocksdb_ingestexternalfileoptions_set_allow_global_seqno(v->ingest_opts, 1);
  rocksdb_ingestexternalfileoptions_set_allow_blocking_flush(v->ingest_opts, 1);
  v->file_min_rows = tuning->file_min_rows > 0 ? tuning->file_min_rows
                                               : LL_VIEWS_FILE_MIN_ROWS;
  v->dir = ll_strdup(dir);
  pthread_mutex_init(&v->apply_lock, NULL);
  pthread_mutex_init(&v->tasks_mu, NULL);
  pthread_mutex_init(&v->snap_mu, NULL);
  ll_rocks_latch_init(&v->write_latch);
  atomic_init(&v->position, 0);
  ll_notify_init(&v->applied);
  ll_views_rows_init(&v->rows, tuning->cache_max_entries,
                     tuning->cache_max_bytes);
  ll_views_quant_init(&v->quant, tuning->quant_max_bytes > 0
                                     ? tuning->quant_max_bytes
                                     : LL_VIEWS_QUANT_MAX_BYTES);
  v->wb = rocksdb_writebatch_create();

  if (ll_rocks_options_apply(&v->options, VIEWS_MEMTABLE_HINT, err) != 0) {
    ll_views_close(v);
    return NULL;
  }
  v->db = ll_rocks_open(v->options, dir, "views", err);
  if (v->db == NULL || check_format(v, dir, err) != 0 ||
      ll_views_tasks_load(v, err) != 0) {
    ll_views_close(v);
    return NULL;
  }
  /* Nothing applied yet means no view rows (they are written together
   * with the checkpoint): the row table knows them all. */
  if (atomic_load(&v->position) == 0)
    ll_views_rows_set_complete(&v->rows);
  return v;
}

ll_views *ll_views_open(const char *dir, ll_err *err) {
  const ll_views_tuning tuning = {
      .cache_max_entries = LL_VIEWS_CACHE_MAX_ENTRIES,
      .cache_max_bytes = LL_VIEWS_CACHE_MAX_BYTES,
      .write_buffer_bytes = LL_VIEWS_WRITE_BUFFER_BYTES,
      .memtables_merged = LL_VIEWS_MEMTABLES_MERGED,
  };
  return ll_views_open_tuned(dir, &tuning, err);
}

void ll_views_close(ll_views *v) {
  if (v == NULL)
    return;
  if (v->db != NULL) {
    ll_views_readers_close(v);
    rocksdb_close(v->db);
  }
  rocksdb_writebatch_destroy(v->wb);
  free(v->sorted);
  free(v->dir);
  if (v->env_opts != NULL)
    rocksdb_envoptions_destroy(v->env_opts);
  if (v->ingest_opts != NULL)
    rocksdb_ingestexternalfileoptions_destroy(v->ingest_opts);
  ll_views_rows_free(&v->rows);
  ll_views_quant_free(&v->quant);
  rocksdb_writeoptions_destroy(v->write_opts);
  rocksdb_readoptions_destroy(v->scan_opts);
  rocksdb_readoptions_destroy(v->read_opts);
  rocksdb_options_destroy(v->options);
  rocksdb_block_based_options_destroy(v->table_opts);
  if (v->block_cache)
    rocksdb_cache_destroy(v->block_cache);
  pthread_mutex_destroy(&v->apply_lock);
  pthread_mutex_destroy(&v->tasks_mu);
  pthread_mutex_destroy(&v->snap_mu);
  ll_rocks_latch_destroy(&v->write_latch);
  free(v->tasks);
  ll_notify_destroy(&v->applied);
  free(v);
}

uint64_t ll_views_position(ll_views *v) {
  return atomic_load(&v->position);
}

bool ll_views_wait_position(ll_views *v, uint64_t position,
                            uint64_t deadline_ns) {
  for (;;) {
    /* The counter first: an apply after the check wakes the wait. */
    uint64_t seen = ll_notify_seq(&v->applied);
    if (atomic_load(&v->position) >= position)
      return true;
    if (ll_mono_ns() >= deadline_ns)
      return false;
    ll_notify_wait(&v->applied, seen, deadline_ns);
  }
}

ll_notify *ll_views_notifier(ll_views *v) {
  return &v->applied;
}

/* ---- apply ---- */

static int apply_entry(ll_views_txn *t, const ll_entry *e, ll_err *err) {
  switch (e->event.type) {
  case LL_EV_LOT_CREATED:
  case LL_EV_LOT_UPDATED:
  case LL_EV_STOCK_MOVED:
  case LL_EV_LOT_HELD:
  case LL_EV_LOT_RELEASED:
    break;
  default:
    return ll_fail(err, LL_ERR_CORRUPT,
                   "views: log position %llu holds an unknown event "
                   "type %d",
                   (unsigned long long)e->position, (int)e->event.type);
  }
  bool indexed_changed = true;
  if (ll_lot_details_apply(t, e, &indexed_changed, err) != 0 ||
      ll_lot_locations_apply(t, e, err) != 0 ||
      ll_lot_history_apply(t, e, err) != 0 ||
      ll_genealogy_apply(t, e, err) != 0 ||
      ll_location_tree_apply(t, e, err) != 0)
    return -1;
  if (indexed_changed && (ll_lot_expiry_apply(t, e, err) != 0 ||
                          ll_lot_dates_apply(t, e, err) != 0))
    return -1;
  ll_views_task_note(t, e);
  return 0;
}

/* Load the database's quantity rows into the compact index, at the first
 * run (readers that never apply do not pay for it). Views with nothing
 * applied have no rows: the index knows them all from the start. A row the
 * index refuses, or a failed read, leaves it incomplete: it still answers
 * for the rows it holds, and the others are read from RocksDB. */
static void load_quantities(ll_views *v) {
  v->quant.loaded = true;
  if (atomic_load(&v->position) == 0) {
    ll_views_quant_set_complete(&v->quant);
    return;
  }
  const char *const families[] = {LL_VK_QTY, LL_VK_TREE};
  uint64_t t0 = ll_mono_ns();
  bool all = true;
  rocksdb_iterator_t *it = rocksdb_create_iterator(v->db, v->read_opts);
  for (size_t f = 0; all && f < sizeof families / sizeof families[0]; f++) {
    size_t plen = strlen(families[f]);
    for (rocksdb_iter_seek(it, families[f], plen);
         all && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
      size_t klen = 0, vlen = 0;
      const char *k = rocksdb_iter_key(it, &klen);
      if (klen < plen || memcmp(k, families[f], plen) != 0)
        break;
      const char *val = rocksdb_iter_value(it, &vlen);
      all = ll_views_quant_set(&v->quant, k, klen, val, vlen, true);
    }
  }
  ll_err e;
  if (ll_rocks_iter_end(it, "cannot load the quantity rows", &e) != 0) {
    ll_log(LL_WARN, "views", "%s", e.message);
    all = false;
  }
  ll_views_quant_stats st;
  ll_views_quant_get_stats(&v->quant, &st);
  if (all)
    ll_views_quant_set_complete(&v->quant);
  ll_log(LL_INFO, "views",
         "%zu quantity rows loaded into memory in %.2f s (room for %zu)%s",
         st.rows, (double)(ll_mono_ns() - t0) / 1e9, st.capacity,
         all ? "" : "; not all of them: the rest are read from the database");
}

static int apply_run(ll_views *v, const ll_entry *entries, size_t n,
                     bool at_head, ll_err *err) {
  assert(v != NULL);
  assert(entries != NULL || n == 0);
  pthread_mutex_lock(&v->apply_lock);
  if (!v->quant.loaded)
    load_quantities(v);
  uint64_t position = atomic_load(&v->position);
  ll_views_txn t = {.v = v};
  assert(v->rows.n_dirty == 0);
  int rc = 0;
  size_t applied = 0;

  for (size_t i = 0; i < n; i++) {
    const ll_entry *e = &entries[i];
    if (e->position <= position)
      continue; /* applied before: idempotent */
    if (e->position != position + 1) {
      rc = ll_fail(err, LL_ERR_INTERNAL,
                   "views: log position %llu follows %llu: entries "
                   "missing in between",
                   (unsigned long long)e->position,
                   (unsigned long long)position);
      break;
    }
    if (apply_entry(&t, e, err) != 0) {
      rc = -1;
      break;
    }
    position = e->position;
    applied++;
  }

  if (rc == 0 && applied > 0) {
    rc = ll_views_commit_run(v, position, at_head, err);
    if (rc == 0) {
      ll_views_tasks_committed(v, entries, n);
      atomic_store(&v->position, position);
      ll_notify_bump(&v->applied);
    }
  }
  /* A failed run wrote nothing: its rows go, and the rows read before
   * with them, so no doubt about them can outlive the error. */
  if (rc != 0)
    ll_views_rows_reset(&v->rows);
  pthread_mutex_unlock(&v->apply_lock);
  return rc;
}

int ll_views_apply(ll_views *v, const ll_entry *entries, size_t n,
                   ll_err *err) {
  return apply_run(v, entries, n, false, err);
}

int ll_views_apply_at_head(ll_views *v, const ll_entry *entries, size_t n,
                           ll_err *err) {
  return apply_run(v, entries, n, true, err);
}
