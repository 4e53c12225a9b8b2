/* lot_locations.c — quantity per (lot, location): the "Locations" tab, and
 * its mirror for "what is in a location".
 *
 * Each StockMoved takes its quantity from one row and adds it to another
 * (the fold and its checks: quantity_fold.h, shared with the publisher):
 *   qty/<lot_id>\x1f<product_id>\x1f<location>  u8 usage, svar quantity_micro
 *   loc/<location>\x1f<lot_id>\x1f<product_id>  the same value, keyed the
 *                                                other way round
 * A lot is (product_id, lot_id); the loc/ rows list a location's lots in
 * (lot_id, product_id) order. The lot is written lot id first in both, as
 * in tree/ (location_tree.c), so the quantity index in memory
 * (views_quant.h) keeps one name per lot for all three.
 * Virtual locations (SUPPLIER, CUSTOMER, ...) are kept too. A row whose
 * quantity comes back to zero is deleted: reads list only non-zero
 * quantities without filtering, and the rows present depend only on the
 * log, not on how it was batched. The views keep each location's usage and
 * ask the fold to check the stock floor: a log that breaks either stops
 * the projection.
 *
 * The fold also writes lot_balance.c's locl/ row ("the lot was once at
 * this location") when the lot had no row at the location before the
 * move. Only moves make qty/ rows, each move of a lot to or from a
 * location writes its locl/ row, and locl/ rows are never deleted: so
 * when a qty/ row is there, its locl/ row is too, and writing it again
 * would change nothing. The rows are those of writing it for every end
 * of every move (test_balance, test_rebuild), at about 0.6 rows
 * an entry fewer (docs/performance.md, thirteenth round). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ll_buf.h"
#include "ll_mem.h"
#include "ll_rocks.h"
#include "ll_types.h"
#include "quantity_fold.h"
#include "views_internal.h"

/* The rows of one (lot, location) while the fold works on it. */
typedef struct views_rows_at {
  ll_views_txn *t;
  ll_buf qty_key, loc_key, val;
  ll_buf ever_key; /* lot_balance.c's locl/ row of the lot at the location */
  bool first_at;   /* the lot had no row at the location before the move */
} views_rows_at;

static int views_qty_get(void *ctx, const ll_entry *e, const ll_location *loc,
                         int64_t *qty_micro, ll_usage *usage, bool *found,
                         ll_err *err) {
  views_rows_at *at = ctx;
  const char *lot_id = e->event.lot_id;
  const char *product_id = e->event.product_id;
  if (!ll_views_key3(&at->qty_key, LL_VK_QTY, lot_id, product_id, loc->id) ||
      !ll_views_key3(&at->loc_key, LL_VK_LOC, loc->id, lot_id, product_id) ||
      !ll_lot_balance_ever_key(&at->ever_key, e, loc))
    return ll_fail(err, LL_ERR_CORRUPT,
                   "views: log position %llu: StockMoved with an unusable "
                   "lot or location id",
                   (unsigned long long)e->position);
  if (ll_views_txn_get(at->t, &at->qty_key, &at->val, found, err) != 0)
    return -1;
  at->first_at = !*found;
  if (*found &&
      !ll_views_qty_unpack(at->val.data, at->val.len, usage, qty_micro))
    return ll_fail(err, LL_ERR_CORRUPT,
                   "views: corrupt quantity record for lot %s at %s", lot_id,
                   loc->id);
  return 0;
}

/* Both rows, qty/ and its mirror loc/, with the same value; and the
 * lot's locl/ row at the location when it had no row there before. */
static void views_qty_put(void *ctx, const ll_location *loc,
                          int64_t qty_micro) {
  views_rows_at *at = ctx;
  if (at->first_at)
    ll_views_txn_put(at->t, &at->ever_key, "", 0);
  if (qty_micro == 0) {
    ll_views_txn_del(at->t, &at->qty_key);
    ll_views_txn_del(at->t, &at->loc_key);
    return;
  }
  ll_views_qty_pack(loc->usage, qty_micro, &at->val);
  ll_views_txn_put(at->t, &at->qty_key, at->val.data, at->val.len);
  ll_views_txn_put(at->t, &at->loc_key, at->val.data, at->val.len);
}

static const ll_qty_holder views_holder = {
    .name = "views",
    .check_stock_floor = true,
    .get = views_qty_get,
    .put = views_qty_put,
};

int ll_lot_locations_apply(ll_views_txn *t, const ll_entry *e, ll_err *err) {
  if (e->event.type != LL_EV_STOCK_MOVED)
    return 0;
  views_rows_at at = {.t = t};
  ll_buf_init(&at.qty_key);
  ll_buf_init(&at.loc_key);
  ll_buf_init(&at.val);
  ll_buf_init(&at.ever_key);
  int rc = ll_quantity_fold(&views_holder, &at, e, NULL, NULL, err);
  ll_buf_free(&at.qty_key);
  ll_buf_free(&at.loc_key);
  ll_buf_free(&at.val);
  ll_buf_free(&at.ever_key);
  return rc;
}

/* ---- query ---- */

void ll_lot_locations_free(ll_lot_location *a, size_t n) {
  if (a == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    free(a[i].location);
  free(a);
}

int ll_views_lot_locations(ll_views *v, const char *product_id,
                           const char *lot_id, bool include_virtual,
                           ll_lot_location **out, size_t *n_out, ll_err *err) {
  return ll_lot_locations_get(v, v->read_opts, product_id, lot_id,
                              include_virtual, out, n_out, err);
}

int ll_lot_locations_get(ll_views *v, const rocksdb_readoptions_t *ro,
                         const char *product_id, const char *lot_id,
                         bool include_virtual, ll_lot_location **out,
                         size_t *n_out, ll_err *err) {
  assert(v != NULL && product_id != NULL && lot_id != NULL && out != NULL &&
         n_out != NULL);
  *out = NULL;
  *n_out = 0;
  ll_buf prefix;
  ll_buf_init(&prefix);
  if (!ll_views_key2(&prefix, LL_VK_QTY, lot_id, product_id)) {
    ll_buf_free(&prefix);
    return 0; /* no lot id holds the separator */
  }
  ll_buf_put_u8(&prefix, (uint8_t)LL_VK_SEP);

  ll_lot_location *rows = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  /* One iterator reads one consistent version of the rows. Keys sort by
   * location id in byte order, which is the order the API promises. */
  rocksdb_iterator_t *it = rocksdb_create_iterator(v->db, ro);
  for (rocksdb_iter_seek(it, (const char *)prefix.data, prefix.len);
       rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
    size_t klen = 0, vlen = 0;
    const char *k = rocksdb_iter_key(it, &klen);
    if (klen < prefix.len || memcmp(k, prefix.data, prefix.len) != 0)
      break;
    const char *val = rocksdb_iter_value(it, &vlen);
    ll_usage usage;
    int64_t qty = 0;
    if (!ll_views_qty_unpack(val, vlen, &usage, &qty)) {
      rc = ll_fail(err, LL_ERR_CORRUPT,
                   "views: corrupt quantity record for lot %s", lot_id);
      break;
    }
    if (qty == 0 || (!include_virtual && !ll_usage_is_stock(usage)))
      continue;
    if (n == cap) {
      cap = cap == 0 ? 8 : cap * 2;
      rows = ll_xrealloc(rows, cap * sizeof *rows);
    }
    size_t id_len = klen - prefix.len;
    char *loc = ll_strndup(k + prefix.len, id_len);
    rows[n++] = (ll_lot_location){
        .location = loc, .usage = usage, .quantity_micro = qty};
  }
  if (rc == 0) {
    char *iter_err = NULL;
    rocksdb_iter_get_error(it, &iter_err);
    if (iter_err != NULL) {
      rc = ll_rocks_fail(err, iter_err, "views: cannot read locations of %s",
                         lot_id);
    }
  }
  rocksdb_iter_destroy(it);
  ll_buf_free(&prefix);
  if (rc != 0) {
    ll_lot_locations_free(rows, n);
    return -1;
  }
  *out = rows;
  *n_out = n;
  return 0;
}
