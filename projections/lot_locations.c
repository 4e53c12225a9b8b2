/* lot_locations.c — quantity per (lot, location): the "Locations" tab, and
 * its mirror for "what is in a location".
 *
 * Each StockMoved takes its quantity from one row and adds it to another:
 *   qty/<lot_id>\x1f<location>   u8 usage, svar quantity_micro
 *   loc/<location>\x1f<lot_id>   the same value, keyed the other way round
 * Quantities are exact int64 micro-units with checked arithmetic. Virtual
 * locations (SUPPLIER, CUSTOMER, ...) are kept too, so their quantities go
 * negative where stock came from and the sum over all of a lot's rows is
 * zero. A row whose quantity comes back to zero is deleted: reads list only
 * non-zero quantities without filtering, and the rows present depend only
 * on the log, not on how it was batched.
 *
 * The rules guarantee that an INTERNAL/TRANSIT quantity never goes below
 * zero and that a location keeps one usage; the projection checks both and
 * stops with an error if the log says otherwise, because views built on a
 * broken invariant would be wrong from then on. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ll_buf.h"
#include "ll_decimal.h"
#include "ll_mem.h"
#include "ll_types.h"
#include "views_internal.h"

/* Add delta_micro to the lot's row at loc. */
static int adjust(ll_views_txn *t, const ll_entry *e, const char *lot_id,
                  const ll_location *loc, int64_t delta_micro, ll_err *err) {
  ll_buf qty_key, loc_key, val;
  ll_buf_init(&qty_key);
  ll_buf_init(&loc_key);
  ll_buf_init(&val);
  int rc = 0;
  bool found = false;
  int64_t qty = 0;
  ll_usage usage = loc->usage;

  if (!ll_views_key2(&qty_key, LL_VK_QTY, lot_id, loc->id) ||
      !ll_views_key2(&loc_key, LL_VK_LOC, loc->id, lot_id)) {
    rc = ll_err_set(err, LL_OK,
                    "views: log position %llu: StockMoved with an unusable "
                    "lot or location id",
                    (unsigned long long)e->position);
    goto done;
  }
  if (ll_views_txn_get(t, &qty_key, &val, &found, err) != 0) {
    rc = -1;
    goto done;
  }
  if (found && !ll_views_qty_unpack(val.data, val.len, &usage, &qty)) {
    rc = ll_err_set(err, LL_OK,
                    "views: corrupt quantity record for lot %s at %s", lot_id,
                    loc->id);
    goto done;
  }
  if (found && usage != loc->usage) {
    rc = ll_err_set(err, LL_OK,
                    "views: log position %llu: location %s used as %s, the "
                    "views hold it as %s",
                    (unsigned long long)e->position, loc->id,
                    ll_usage_name(loc->usage), ll_usage_name(usage));
    goto done;
  }
  if (!ll_decimal_add(qty, delta_micro, &qty)) {
    rc = ll_err_set(err, LL_OK,
                    "views: log position %llu: quantity of lot %s at %s "
                    "overflows",
                    (unsigned long long)e->position, lot_id, loc->id);
    goto done;
  }
  if (qty < 0 && ll_usage_is_stock(loc->usage)) {
    rc = ll_err_set(err, LL_OK,
                    "views: log position %llu: quantity of lot %s at %s "
                    "would go below zero",
                    (unsigned long long)e->position, lot_id, loc->id);
    goto done;
  }
  if (qty == 0) {
    ll_views_txn_del(t, &qty_key);
    ll_views_txn_del(t, &loc_key);
  } else {
    ll_views_qty_pack(loc->usage, qty, &val);
    ll_views_txn_put(t, &qty_key, val.data, val.len);
    ll_views_txn_put(t, &loc_key, val.data, val.len);
  }
done:
  ll_buf_free(&qty_key);
  ll_buf_free(&loc_key);
  ll_buf_free(&val);
  return rc;
}

int ll_lot_locations_apply(ll_views_txn *t, const ll_entry *e, ll_err *err) {
  const ll_event *ev = &e->event;
  if (ev->type != LL_EV_STOCK_MOVED)
    return 0;
  if (ev->lot_id == NULL || ev->from.id == NULL || ev->to.id == NULL ||
      !ev->quantity_valid || ev->quantity_micro <= 0)
    return ll_err_set(err, LL_OK,
                      "views: log position %llu: StockMoved without lot_id, "
                      "locations or a positive quantity",
                      (unsigned long long)e->position);
  if (adjust(t, e, ev->lot_id, &ev->from, -ev->quantity_micro, err) != 0 ||
      adjust(t, e, ev->lot_id, &ev->to, ev->quantity_micro, err) != 0)
    return -1;
  return 0;
}

/* ---- query ---- */

void ll_lot_locations_free(ll_lot_location *a, size_t n) {
  if (a == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    free(a[i].location);
  free(a);
}

int ll_views_lot_locations(ll_views *v, const char *lot_id,
                           bool include_virtual, ll_lot_location **out,
                           size_t *n_out, ll_err *err) {
  return ll_lot_locations_get(v, v->read_opts, lot_id, include_virtual, out,
                              n_out, err);
}

int ll_lot_locations_get(ll_views *v, const rocksdb_readoptions_t *ro,
                         const char *lot_id, bool include_virtual,
                         ll_lot_location **out, size_t *n_out, ll_err *err) {
  assert(v != NULL && lot_id != NULL && out != NULL && n_out != NULL);
  *out = NULL;
  *n_out = 0;
  ll_buf prefix;
  ll_buf_init(&prefix);
  if (!ll_views_key1(&prefix, LL_VK_QTY, lot_id)) {
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
      rc = ll_err_set(err, LL_OK, "views: corrupt quantity record for lot %s",
                      lot_id);
      break;
    }
    if (qty == 0 || (!include_virtual && !ll_usage_is_stock(usage)))
      continue;
    if (n == cap) {
      cap = cap == 0 ? 8 : cap * 2;
      rows = ll_xrealloc(rows, cap * sizeof *rows);
    }
    size_t id_len = klen - prefix.len;
    char *loc = ll_xmalloc(id_len + 1);
    memcpy(loc, k + prefix.len, id_len);
    loc[id_len] = '\0';
    rows[n++] = (ll_lot_location){
        .location = loc, .usage = usage, .quantity_micro = qty};
  }
  if (rc == 0) {
    char *iter_err = NULL;
    rocksdb_iter_get_error(it, &iter_err);
    if (iter_err != NULL) {
      rc = ll_err_set(err, LL_OK, "views: cannot read locations of %s: %s",
                      lot_id, iter_err);
      rocksdb_free(iter_err);
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
