/* views_read.c — consistent reads of the views, and prefix scans for the
 * read models.
 *
 * A reader pins one RocksDB snapshot. The checkpoint ("meta/position") is
 * written in the same batch as the rows it describes, so reading it through
 * the snapshot tells exactly which log position every answer made through
 * the reader stands at; the HTTP API sends it back as Lotline-Position. A
 * reader holds nothing but the snapshot: open one per request.
 *
 * Scans walk the rows that start with a prefix. Inside an apply run they go
 * through the run's WriteBatchWithIndex on top of the database (so an entry
 * sees what earlier entries of the same run wrote); the rows are collected
 * first and handed to the callback after the iterator is gone, because a
 * batch iterator does not survive writes to its batch. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ll_event.h"
#include "views_internal.h"

bool ll_views_key3(ll_buf *key, const char *prefix, const char *a,
                   const char *b, const char *c) {
  if (!ll_views_key2(key, prefix, a, b))
    return false;
  if (c == NULL || strchr(c, LL_VK_SEP) != NULL) {
    ll_buf_reset(key);
    return false;
  }
  ll_buf_put_u8(key, (uint8_t)LL_VK_SEP);
  ll_buf_put(key, c, strlen(c));
  return true;
}

static bool has_prefix(const char *k, size_t klen, const ll_buf *prefix) {
  return klen >= prefix->len && memcmp(k, prefix->data, prefix->len) == 0;
}

static int iter_error(rocksdb_iterator_t *it, const char *what, ll_err *err) {
  char *iter_err = NULL;
  rocksdb_iter_get_error(it, &iter_err);
  if (iter_err == NULL)
    return 0;
  ll_err_set(err, LL_OK, "views: %s failed: %s", what, iter_err);
  rocksdb_free(iter_err);
  return -1;
}

/* ---- scans inside an apply run ---- */

/* Rows copied out of a batch iterator: key/value pairs, back to back. */
typedef struct row_list {
  ll_buf bytes; /* uvar klen, key, uvar vlen, value; repeated */
  size_t n;
} row_list;

int ll_views_txn_scan(ll_views_txn *t, const ll_buf *prefix, ll_views_row_fn fn,
                      void *arg, ll_err *err) {
  row_list rows = {.n = 0};
  ll_buf_init(&rows.bytes);
  rocksdb_iterator_t *base = rocksdb_create_iterator(t->v->db, t->v->read_opts);
  /* The batch iterator takes over the base iterator. */
  rocksdb_iterator_t *it =
      rocksdb_writebatch_wi_create_iterator_with_base(t->batch, base);
  for (rocksdb_iter_seek(it, (const char *)prefix->data, prefix->len);
       rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
    size_t klen = 0, vlen = 0;
    const char *k = rocksdb_iter_key(it, &klen);
    if (!has_prefix(k, klen, prefix))
      break;
    const char *val = rocksdb_iter_value(it, &vlen);
    ll_buf_put_bytes(&rows.bytes, k, klen);
    ll_buf_put_bytes(&rows.bytes, val, vlen);
    rows.n++;
  }
  int rc = iter_error(it, "scan", err);
  rocksdb_iter_destroy(it);

  ll_rd rd;
  ll_rd_init(&rd, rows.bytes.data, rows.bytes.len);
  for (size_t i = 0; rc == 0 && i < rows.n; i++) {
    const uint8_t *k = NULL, *val = NULL;
    size_t klen = 0, vlen = 0;
    bool ok = ll_rd_bytes(&rd, &k, &klen) && ll_rd_bytes(&rd, &val, &vlen);
    assert(ok); /* we wrote these bytes just above */
    (void)ok;
    if (!fn((const char *)k, klen, (const char *)val, vlen, arg))
      break;
  }
  ll_buf_free(&rows.bytes);
  return rc;
}

/* ---- readers ---- */

ll_views_reader *ll_views_reader_open(ll_views *v, ll_err *err) {
  assert(v != NULL);
  ll_views_reader *r = ll_xcalloc(1, sizeof *r);
  r->v = v;
  r->snap = rocksdb_create_snapshot(v->db);
  r->ro = rocksdb_readoptions_create();
  rocksdb_readoptions_set_snapshot(r->ro, r->snap);

  char *rerr = NULL;
  size_t len = 0;
  char *p = rocksdb_get(v->db, r->ro, LL_VK_POSITION, strlen(LL_VK_POSITION),
                        &len, &rerr);
  int rc = 0;
  if (rerr != NULL) {
    rc = ll_err_set(err, LL_OK, "views: cannot read the checkpoint: %s", rerr);
    rocksdb_free(rerr);
  } else if (p != NULL && len != 8) {
    rc = ll_err_set(err, LL_OK, "views: corrupt checkpoint record");
  } else {
    r->position = p != NULL ? ll_be64_decode(p) : 0;
  }
  rocksdb_free(p);
  if (rc != 0) {
    ll_views_reader_close(r);
    return NULL;
  }
  return r;
}

void ll_views_reader_close(ll_views_reader *r) {
  if (r == NULL)
    return;
  rocksdb_readoptions_destroy(r->ro);
  rocksdb_release_snapshot(r->v->db, r->snap);
  free(r);
}

uint64_t ll_views_reader_position(const ll_views_reader *r) {
  return r->position;
}

int ll_views_reader_get_lot(ll_views_reader *r, const char *lot_id, ll_lot *lot,
                            bool *found, ll_err *err) {
  return ll_lot_details_get(r->v, r->ro, lot_id, lot, found, err);
}

int ll_views_reader_lot_locations(ll_views_reader *r, const char *lot_id,
                                  bool include_virtual, ll_lot_location **out,
                                  size_t *n_out, ll_err *err) {
  return ll_lot_locations_get(r->v, r->ro, lot_id, include_virtual, out, n_out,
                              err);
}

int ll_views_reader_get(ll_views_reader *r, const ll_buf *key, ll_buf *value,
                        bool *found, ll_err *err) {
  char *rerr = NULL;
  size_t len = 0;
  char *p = rocksdb_get(r->v->db, r->ro, (const char *)key->data, key->len,
                        &len, &rerr);
  ll_buf_reset(value);
  *found = false;
  if (rerr != NULL) {
    ll_err_set(err, LL_OK, "views: read failed: %s", rerr);
    rocksdb_free(rerr);
    rocksdb_free(p);
    return -1;
  }
  if (p == NULL)
    return 0;
  ll_buf_put(value, p, len);
  rocksdb_free(p);
  *found = true;
  return 0;
}

int ll_views_reader_scan(ll_views_reader *r, const ll_buf *prefix,
                         const ll_buf *start, ll_views_row_fn fn, void *arg,
                         ll_err *err) {
  const ll_buf *from = start != NULL ? start : prefix;
  rocksdb_iterator_t *it = rocksdb_create_iterator(r->v->db, r->ro);
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
  int rc = iter_error(it, "scan", err);
  rocksdb_iter_destroy(it);
  return rc;
}
