/* views_read.c — consistent reads of the views, and prefix scans for the
 * read models.
 *
 * A reader pins one RocksDB snapshot. The checkpoint ("meta/position") is
 * written in the same batch as the rows it describes, so reading it through
 * the snapshot tells exactly which log position every answer made through
 * the reader stands at; the HTTP API sends it back as Lotline-Position. A
 * reader holds nothing but the snapshot: open one per request.
 *
 * Scans walk the rows that start with a prefix. Inside an apply run they
 * merge the committed rows (a database iterator bounded to the prefix) with
 * the run's own rows of the same scan group (the overlay links them, so a
 * scan never walks the whole run); the rows are collected first and handed
 * to the callback afterwards, because the callback may write to the run. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ll_buf.h"
#include "ll_mem.h"
#include "ll_rocks.h"
#include "ll_types.h"
#include "views_internal.h"

/* A scan prefix is "<family><reference>\x1f": a reference is at most
 * LL_TEXT_MAX_CHARS characters of UTF-8 (4 bytes each at most). */
#define LL_VIEWS_SCAN_PREFIX_MAX (4 * LL_TEXT_MAX_CHARS + 16)

static bool has_prefix(const char *k, size_t klen, const ll_buf *prefix) {
  return klen >= prefix->len && memcmp(k, prefix->data, prefix->len) == 0;
}

/* ---- scans inside an apply run ---- */

/* Rows copied out, key/value pairs back to back. */
typedef struct row_list {
  ll_buf bytes; /* uvar klen, key, uvar vlen, value; repeated */
  size_t n;
} row_list;

static void row_list_add(row_list *l, const void *k, size_t klen, const void *v,
                         size_t vlen) {
  ll_buf_put_bytes(&l->bytes, k, klen);
  ll_buf_put_bytes(&l->bytes, v, vlen);
  l->n++;
}

static bool row_list_next(ll_rd *rd, const uint8_t **k, size_t *klen,
                          const uint8_t **v, size_t *vlen) {
  if (ll_rd_left(rd) == 0)
    return false;
  bool ok = ll_rd_bytes(rd, k, klen) && ll_rd_bytes(rd, v, vlen);
  assert(ok); /* written by row_list_add */
  return ok;
}

static int compare_rows(const void *a, const void *b) {
  const ll_vrow *x = *(const ll_vrow *const *)a;
  const ll_vrow *y = *(const ll_vrow *const *)b;
  return ll_views_compare_keys(x->bytes, x->key_len, y->bytes, y->key_len);
}

/* Visit the rows from `from` on while their keys start with prefix; fn
 * returns false to stop. */
static int iterate(rocksdb_t *db, const rocksdb_readoptions_t *ro,
                   const ll_buf *prefix, const ll_buf *from, ll_views_row_fn fn,
                   void *arg, ll_err *err) {
  rocksdb_iterator_t *it = rocksdb_create_iterator(db, ro);
  for (rocksdb_iter_seek(it, (const char *)from->data, from->len);
       rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
    size_t klen = 0, vlen = 0;
    const char *k = rocksdb_iter_key(it, &klen);
    if (!has_prefix(k, klen, prefix))
      break;
    const char *val = rocksdb_iter_value(it, &vlen);
    if (!fn(k, klen, val, vlen, arg))
      break;
  }
  return ll_rocks_iter_end(it, "views: scan failed", err);
}

static bool add_row(const char *k, size_t klen, const char *v, size_t vlen,
                    void *list) {
  row_list_add(list, k, klen, v, vlen);
  return true;
}

/* The committed rows of the group, in key order. */
static int scan_db(ll_views *v, const ll_buf *prefix, row_list *out,
                   ll_err *err) {
  /* The upper bound is the prefix with its last byte (the separator)
   * raised by one: the iterator stops there instead of reading on. */
  uint8_t bound[LL_VIEWS_SCAN_PREFIX_MAX];
  if (prefix->len == 0 || prefix->len > sizeof bound)
    return ll_fail(err, LL_ERR_INTERNAL, "views: scan prefix of %zu bytes",
                   prefix->len);
  memcpy(bound, prefix->data, prefix->len);
  bound[prefix->len - 1]++;
  rocksdb_readoptions_set_iterate_upper_bound(v->scan_opts, (const char *)bound,
                                              prefix->len);
  int rc = iterate(v->db, v->scan_opts, prefix, prefix, add_row, out, err);
  rocksdb_readoptions_set_iterate_upper_bound(v->scan_opts, NULL, 0);
  return rc;
}

int ll_views_txn_scan(ll_views_txn *t, const ll_buf *prefix, ll_views_row_fn fn,
                      void *arg, ll_err *err) {
  ll_views *v = t->v;
  /* Only whole scan groups: their rows of the run are linked together. */
  assert(ll_views_scan_group_len(prefix->data, prefix->len) == prefix->len);
  row_list db = {.n = 0}, merged = {.n = 0};
  ll_buf_init(&db.bytes);
  ll_buf_init(&merged.bytes);
  int rc = scan_db(v, prefix, &db, err);

  /* The run's rows of the group, sorted. */
  const ll_vrow **mine = NULL;
  size_t n_mine = 0, cap_mine = 0;
  for (uint32_t i = ll_views_rows_group(&v->rows, prefix->data, prefix->len);
       rc == 0 && i != LL_VROW_NONE; i = v->rows.dirty[i]->group_next) {
    if (n_mine == cap_mine) {
      cap_mine = cap_mine ? cap_mine * 2 : 8;
      mine = ll_xrealloc(mine, cap_mine * sizeof *mine);
    }
    mine[n_mine++] = v->rows.dirty[i];
  }
  if (n_mine > 1)
    qsort(mine, n_mine, sizeof *mine, compare_rows);

  /* Merge: the run's row wins over the committed one, a delete hides it.
   * Everything is copied before fn runs, since fn may write to the run. */
  ll_rd rd;
  ll_rd_init(&rd, db.bytes.data, db.bytes.len);
  const uint8_t *k = NULL, *val = NULL;
  size_t klen = 0, vlen = 0;
  bool have_db = rc == 0 && row_list_next(&rd, &k, &klen, &val, &vlen);
  size_t m = 0;
  while (rc == 0 && (have_db || m < n_mine)) {
    int c = !have_db      ? 1
            : m == n_mine ? -1
                          : ll_views_compare_keys(k, klen, mine[m]->bytes,
                                                  mine[m]->key_len);
    if (c < 0) {
      row_list_add(&merged, k, klen, val, vlen);
    } else {
      if (ll_vrow_present(mine[m]))
        row_list_add(&merged, mine[m]->bytes, mine[m]->key_len,
                     ll_vrow_value(mine[m]), mine[m]->value_len);
      m++;
    }
    if (c <= 0)
      have_db = row_list_next(&rd, &k, &klen, &val, &vlen);
  }
  free(mine);

  ll_rd_init(&rd, merged.bytes.data, merged.bytes.len);
  while (rc == 0 && row_list_next(&rd, &k, &klen, &val, &vlen)) {
    if (!fn((const char *)k, klen, (const char *)val, vlen, arg))
      break;
  }
  ll_buf_free(&db.bytes);
  ll_buf_free(&merged.bytes);
  return rc;
}

/* ---- readers ----
 *
 * Readers share one snapshot while the views stand still. Taking a
 * snapshot and releasing it each lock RocksDB's database mutex, which
 * every API worker would otherwise take twice a request (a worker
 * descheduled while holding it stalls the others), and the checkpoint is
 * read once per snapshot instead of once per request. The first reader
 * after the projector publishes a new position (ll_views.position, stored
 * after the batch is written) takes a new snapshot and shares it from then
 * on, so a reader never stands before the position published when it
 * opened: ?min_position= and the writes' waits keep their meaning. While
 * no reader comes, the shared snapshot keeps the row versions it sees from
 * compaction: at most one older version of each row. */

static void snap_release(ll_views *v, ll_views_snap *s) {
  if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1)
    return;
  rocksdb_readoptions_destroy(s->ro);
  rocksdb_release_snapshot(v->db, s->snap);
  free(s);
}

/* A new snapshot, with one reference, and the checkpoint it stands at. */
static ll_views_snap *snap_take(ll_views *v, uint64_t published, ll_err *err) {
  ll_views_snap *s = ll_xcalloc(1, sizeof *s);
  atomic_init(&s->refs, 1);
  s->published = published;
  s->snap = rocksdb_create_snapshot(v->db);
  s->ro = rocksdb_readoptions_create();
  rocksdb_readoptions_set_snapshot(s->ro, s->snap);

  ll_buf val;
  ll_buf_init(&val);
  bool found = false;
  int rc = ll_rocks_get(v->db, s->ro, LL_VK_POSITION, strlen(LL_VK_POSITION),
                        &val, &found, "views: the checkpoint", err);
  if (rc == 0 && found && val.len != 8)
    rc = ll_fail(err, LL_ERR_CORRUPT, "views: corrupt checkpoint record");
  else if (rc == 0)
    s->position = found ? ll_be64_decode(val.data) : 0;
  ll_buf_free(&val);
  if (rc != 0) {
    snap_release(v, s);
    return NULL;
  }
  assert(s->position >= published); /* written before it was published */
  return s;
}

/* The shared snapshot when it was taken at the position published now,
 * else a new one that is shared from now on; one reference for the
 * caller. */
static ll_views_snap *snap_acquire(ll_views *v, ll_err *err) {
  uint64_t published = atomic_load(&v->position);
  pthread_mutex_lock(&v->snap_mu);
  ll_views_snap *s = v->snap_shared;
  if (s != NULL && s->published == published)
    atomic_fetch_add(&s->refs, 1);
  else
    s = NULL;
  pthread_mutex_unlock(&v->snap_mu);
  if (s != NULL)
    return s;

  s = snap_take(v, published, err);
  if (s == NULL)
    return NULL;
  ll_views_snap *old = NULL;
  pthread_mutex_lock(&v->snap_mu);
  if (v->snap_shared == NULL || v->snap_shared->published != published) {
    old = v->snap_shared;
    atomic_fetch_add(&s->refs, 1); /* the share's */
    v->snap_shared = s;
  }
  pthread_mutex_unlock(&v->snap_mu);
  snap_release(v, old); /* its readers keep it until they close */
  return s;
}

void ll_views_readers_close(ll_views *v) {
  pthread_mutex_lock(&v->snap_mu);
  ll_views_snap *s = v->snap_shared;
  v->snap_shared = NULL;
  pthread_mutex_unlock(&v->snap_mu);
  assert(s == NULL || atomic_load(&s->refs) == 1); /* no reader outlives */
  snap_release(v, s);
}

ll_views_reader *ll_views_reader_open(ll_views *v, ll_err *err) {
  assert(v != NULL);
  ll_views_snap *s = snap_acquire(v, err);
  if (s == NULL)
    return NULL;
  ll_views_reader *r = ll_xmalloc(sizeof *r);
  r->v = v;
  r->snap = s;
  return r;
}

void ll_views_reader_close(ll_views_reader *r) {
  if (r == NULL)
    return;
  snap_release(r->v, r->snap);
  free(r);
}

uint64_t ll_views_reader_position(const ll_views_reader *r) {
  return r->snap->position;
}

int ll_views_reader_get_lot(ll_views_reader *r, const char *product_id,
                            const char *lot_id, ll_lot *lot, bool *found,
                            ll_err *err) {
  return ll_lot_details_get(r->v, r->snap->ro, product_id, lot_id, lot, found,
                            err);
}

int ll_views_reader_lot_locations(ll_views_reader *r, const char *product_id,
                                  const char *lot_id, bool include_virtual,
                                  ll_lot_location **out, size_t *n_out,
                                  ll_err *err) {
  return ll_lot_locations_get(r->v, r->snap->ro, product_id, lot_id,
                              include_virtual, out, n_out, err);
}

int ll_views_reader_get(ll_views_reader *r, const ll_buf *key, ll_buf *value,
                        bool *found, ll_err *err) {
  return ll_rocks_get(r->v->db, r->snap->ro, key->data, key->len, value, found,
                      "views", err);
}

int ll_views_reader_scan(ll_views_reader *r, const ll_buf *prefix,
                         const ll_buf *start, ll_views_row_fn fn, void *arg,
                         ll_err *err) {
  const ll_buf *from = start != NULL ? start : prefix;
  return iterate(r->v->db, r->snap->ro, prefix, from, fn, arg, err);
}
