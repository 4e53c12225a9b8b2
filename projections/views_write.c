/* views_write.c — writing a run of view rows to RocksDB.
 *
 * A run ends with its rows (views_rows.h) sorted by key, its checkpoint
 * ("meta/position") in its place among them, written at once, so the rows
 * and the checkpoint land together. Two ways: a small run (a projector
 * keeping up) is one WriteBatch: sorted keys go into RocksDB's memtable
 * faster than the same keys in hash order (consecutive inserts share most
 * of the skip list's search path, which then stays in the CPU caches). A
 * big one (a rebuild's, a projector's working off a backlog:
 * LL_VIEWS_FILE_MIN_ROWS) is written straight into one table file that
 * RocksDB ingests atomically, skipping the WAL, the memtable and its
 * flush (docs/performance.md has the measurements). Not at the head of
 * the log, however big the run: each ingested file lands in level 0 and
 * first forces a flush of the memtable it overlaps (writes wait for it),
 * so a projector a few thousand entries behind that wrote every step as a
 * file made a level-0 file per step and a compaction every few steps,
 * and fell further behind; the memtable gathers many steps into one
 * flush.
 *
 * Sorting: each row gets the first 16 bytes of its key as two big-endian
 * numbers, so most comparisons never touch the row itself, and the sort
 * is a quicksort with the comparison inlined (qsort's callback cannot be). */
#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ll_buf.h"
#include "ll_logging.h"
#include "ll_mem.h"
#include "ll_rocks.h"
#include "ll_types.h"
#include "views_internal.h"

/* ---- sorting ---- */

/* A row of the run with the first 16 bytes of its key as two big-endian
 * numbers, so most comparisons of the sort never touch the row. */
typedef struct ll_sort_rec {
  uint64_t k0, k1;
  const ll_vrow *row;
} ll_sort_rec;

static uint64_t key_word(const uint8_t *key, size_t len, size_t at) {
  uint8_t w[8] = {0};
  if (at < len)
    memcpy(w, key + at, len - at < 8 ? len - at : 8);
  return ll_be64_decode(w);
}

static inline int compare_recs(const ll_sort_rec *x, const ll_sort_rec *y) {
  if (x->k0 != y->k0)
    return x->k0 < y->k0 ? -1 : 1;
  if (x->k1 != y->k1)
    return x->k1 < y->k1 ? -1 : 1;
  /* Equal first 16 bytes (zero-padded): compare the whole keys. */
  return ll_views_compare_keys(x->row->bytes, x->row->key_len, y->row->bytes,
                               y->row->key_len);
}

#define SORT_INSERTION_MAX 16   /* ranges this short: insertion sort */
#define SORTED_PREFETCH_AHEAD 8 /* rows */

static void swap_recs(ll_sort_rec *a, ll_sort_rec *b) {
  ll_sort_rec t = *a;
  *a = *b;
  *b = t;
}

/* Quicksort (median of three, recursing into the smaller side so the
 * stack stays logarithmic) finished by insertion sort; the comparison
 * inlines, which qsort's callback cannot. Keys are distinct. */
static void sort_recs(ll_sort_rec *a, size_t n) {
  while (n > SORT_INSERTION_MAX) {
    size_t mid = n / 2;
    if (compare_recs(&a[mid], &a[0]) < 0)
      swap_recs(&a[mid], &a[0]);
    if (compare_recs(&a[n - 1], &a[0]) < 0)
      swap_recs(&a[n - 1], &a[0]);
    if (compare_recs(&a[n - 1], &a[mid]) < 0)
      swap_recs(&a[n - 1], &a[mid]);
    ll_sort_rec pivot = a[mid];
    size_t i = 0, j = n - 1;
    for (;;) {
      while (compare_recs(&a[i], &pivot) < 0)
        i++;
      while (compare_recs(&pivot, &a[j]) < 0)
        j--;
      if (i >= j)
        break;
      swap_recs(&a[i], &a[j]);
      i++;
      j--;
    }
    /* a[0..j] <= pivot <= a[j+1..n-1] */
    size_t left = j + 1, right = n - left;
    if (left < right) {
      sort_recs(a, left);
      a += left;
      n = right;
    } else {
      sort_recs(a + left, right);
      n = left;
    }
  }
  for (size_t i = 1; i < n; i++) {
    ll_sort_rec x = a[i];
    size_t j = i;
    for (; j > 0 && compare_recs(&x, &a[j - 1]) < 0; j--)
      a[j] = a[j - 1];
    a[j] = x;
  }
}

/* Where a run's rows go, in key order: a WriteBatch or a table file. */
typedef struct run_sink {
  void (*put)(void *arg, const char *k, size_t klen, const char *v,
              size_t vlen);
  void (*del)(void *arg, const char *k, size_t klen);
  void *arg;
} run_sink;

/* The run's rows, sorted, and the checkpoint in its place, into sink. */
static void emit_run(ll_views *v, uint64_t position, const run_sink *sink) {
  size_t n = v->rows.n_dirty;
  if (v->sorted_cap < n) {
    v->sorted_cap = n;
    v->sorted = ll_xrealloc(v->sorted, v->sorted_cap * sizeof *v->sorted);
  }
  for (size_t i = 0; i < n; i++) {
    const ll_vrow *r = v->rows.dirty[i];
    v->sorted[i] = (ll_sort_rec){.k0 = key_word(r->bytes, r->key_len, 0),
                                 .k1 = key_word(r->bytes, r->key_len, 8),
                                 .row = r};
  }
  sort_recs(v->sorted, n);

  uint8_t pos[8];
  ll_be64_encode(pos, position);
  const uint8_t *pos_key = (const uint8_t *)LL_VK_POSITION;
  const size_t pos_key_len = strlen(LL_VK_POSITION);
  bool pos_done = false;
  for (size_t i = 0; i <= n; i++) {
    /* The rows are scattered over the heap: ask for one a little ahead. */
    if (i + SORTED_PREFETCH_AHEAD < n)
      __builtin_prefetch(v->sorted[i + SORTED_PREFETCH_AHEAD].row);
    const ll_vrow *r = i < n ? v->sorted[i].row : NULL;
    if (!pos_done &&
        (r == NULL || ll_views_compare_keys(r->bytes, r->key_len, pos_key,
                                            pos_key_len) > 0)) {
      sink->put(sink->arg, LL_VK_POSITION, pos_key_len, (const char *)pos,
                sizeof pos);
      pos_done = true;
    }
    if (r == NULL)
      break;
    assert(ll_views_compare_keys(r->bytes, r->key_len, pos_key, pos_key_len) !=
           0);
    if (ll_vrow_present(r))
      sink->put(sink->arg, (const char *)r->bytes, r->key_len,
                (const char *)ll_vrow_value(r), r->value_len);
    else
      sink->del(sink->arg, (const char *)r->bytes, r->key_len);
  }
}

static void batch_put(void *arg, const char *k, size_t klen, const char *val,
                      size_t vlen) {
  rocksdb_writebatch_put(arg, k, klen, val, vlen);
}

static void batch_delete(void *arg, const char *k, size_t klen) {
  rocksdb_writebatch_delete(arg, k, klen);
}

/* ---- writing ---- */

typedef struct file_fill {
  rocksdb_sstfilewriter_t *w;
  char *rerr; /* the first error; the rest is skipped */
} file_fill;

static void file_put(void *arg, const char *k, size_t klen, const char *val,
                     size_t vlen) {
  file_fill *f = arg;
  if (f->rerr == NULL)
    rocksdb_sstfilewriter_put(f->w, k, klen, val, vlen, &f->rerr);
}

static void file_delete(void *arg, const char *k, size_t klen) {
  file_fill *f = arg;
  if (f->rerr == NULL)
    rocksdb_sstfilewriter_delete(f->w, k, klen, &f->rerr);
}

/* The run (sorted) into one table file that RocksDB then takes in,
 * skipping the memtable. Deletes are kept as tombstones, since an earlier
 * file may hold the key. */
static int write_file(ll_views *v, uint64_t position, ll_err *err) {
  char path[PATH_MAX];
  int len = snprintf(path, sizeof path, "%s/run-%llu.sst", v->dir,
                     (unsigned long long)v->files_ingested);
  if (len < 0 || (size_t)len >= sizeof path)
    return ll_fail(err, LL_ERR_CONFIG, "views: path too long: %s", v->dir);
  file_fill f = {.w = rocksdb_sstfilewriter_create(v->env_opts, v->options)};
  rocksdb_sstfilewriter_open(f.w, path, &f.rerr);
  if (f.rerr == NULL) {
    const run_sink sink = {.put = file_put, .del = file_delete, .arg = &f};
    emit_run(v, position, &sink);
  }
  if (f.rerr == NULL)
    rocksdb_sstfilewriter_finish(f.w, &f.rerr);
  rocksdb_sstfilewriter_destroy(f.w);
  if (f.rerr != NULL) {
    (void)remove(path);
    return ll_rocks_fail(err, f.rerr, "views: cannot write a table file");
  }
  const char *files[1] = {path};
  char *rerr = NULL;
  rocksdb_ingest_external_file(v->db, files, 1, v->ingest_opts, &rerr);
  if (rerr != NULL) {
    (void)remove(path);
    return ll_rocks_fail(err, rerr, "views: cannot ingest a table file");
  }
  v->files_ingested++;
  return 0;
}

/* The run's quantity rows, now in RocksDB, go to the compact index; the
 * row table then drops them at its commit (as rows nobody reads back),
 * except the ones the index refused, which it keeps as before. */
static void hand_over_quantities(ll_views *v) {
  ll_views_rows *t = &v->rows;
  for (size_t i = 0; i < t->n_dirty; i++) {
    ll_vrow *r = t->dirty[i];
    if (!ll_views_quant_covers(r->bytes, r->key_len))
      continue;
    uint64_t refused = v->quant.stats.refused;
    if (ll_views_quant_set(&v->quant, r->bytes, r->key_len, ll_vrow_value(r),
                           r->value_len, ll_vrow_present(r))) {
      r->flags &= (uint8_t)~LL_VROW_READ;
    } else if (refused == 0) {
      ll_views_quant_stats st;
      ll_views_quant_get_stats(&v->quant, &st);
      ll_log(LL_WARN, "views",
             "the quantity rows in memory reached their bound (%zu rows, "
             "room for %zu): further ones are read from the views database",
             st.rows, st.capacity);
    }
  }
}

int ll_views_commit_run(ll_views *v, uint64_t position, bool at_head,
                        ll_err *err) {
  int rc = 0;
  if (v->bulk_load || (!at_head && v->rows.n_dirty >= v->file_min_rows)) {
    rc = write_file(v, position, err);
  } else {
    rocksdb_writebatch_clear(v->wb);
    const run_sink sink = {.put = batch_put, .del = batch_delete, .arg = v->wb};
    emit_run(v, position, &sink);
    rc = ll_rocks_write(v->db, v->write_opts, v->wb, &v->write_latch, err,
                        "views: write failed");
    rocksdb_writebatch_clear(v->wb);
  }
  if (rc == 0) {
    hand_over_quantities(v);
    ll_views_rows_commit(&v->rows);
  }
  return rc;
}
