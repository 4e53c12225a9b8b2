/* location_tree.c — what is in a location, and in everything below it.
 *
 * Location ids are paths: "WH/Stock/Shelf-2" lies under "WH/Stock", which
 * lies under "WH". A location's own contents are the loc/ rows that
 * lot_locations.c keeps. For what lies below it, every move also adjusts
 * one rollup row per path above each of its ends (the end itself not
 * included: its loc/ row says what it holds):
 *   tree/<path>\x1f<lot_id>\x1f<product_id>
 *                             svar quantity_micro, svar on_hand_micro
 * quantity sums every location under <path>; on_hand only the INTERNAL
 * and TRANSIT ones, so a subtree that mixes stock and virtual locations
 * still answers "how much is on hand here". A row whose two sums return
 * to zero is deleted, like the loc/ rows. The paths above a location are
 * the prefixes that end just before a '/', so "WH/Stock2" is not under
 * "WH/Stock" (the '/' is part of the rule, not a string prefix test), and
 * a move costs two times its ends' depth above them in row updates (a
 * location at the top costs none); answering "what is in WH/Stock and
 * below" is then two prefix scans in (lot_id, product_id) order, loc/ and
 * tree/ of WH/Stock, summed lot by lot, cheap to page. (Until views
 * format 8 the rollup included the location itself: one more row per end
 * of every move, about two an entry; docs/performance.md, thirteenth
 * round.) */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ll_buf.h"
#include "ll_decimal.h"
#include "ll_mem.h"
#include "ll_types.h"
#include "views_internal.h"

/* ---- apply ---- */

/* Add delta to the rollup row of (path, lot). */
static int adjust_row(ll_views_txn *t, const ll_entry *e, const char *path,
                      const char *lot_id, const char *product_id,
                      int64_t delta_micro, bool stock, ll_err *err) {
  ll_buf key, val;
  ll_buf_init(&key);
  ll_buf_init(&val);
  int rc = 0;
  bool found = false;
  int64_t quantity = 0, on_hand = 0;
  if (!ll_views_key3(&key, LL_VK_TREE, path, lot_id, product_id)) {
    rc = ll_fail(err, LL_ERR_CORRUPT,
                 "views: log position %llu: unusable location or lot id",
                 (unsigned long long)e->position);
    goto done;
  }
  if (ll_views_txn_get(t, &key, &val, &found, err) != 0) {
    rc = -1;
    goto done;
  }
  if (found && !ll_views_tree_unpack(val.data, val.len, &quantity, &on_hand)) {
    rc = ll_fail(err, LL_ERR_CORRUPT,
                 "views: corrupt rollup record of %s under %s", lot_id, path);
    goto done;
  }
  if (!ll_decimal_add(quantity, delta_micro, &quantity) ||
      (stock && !ll_decimal_add(on_hand, delta_micro, &on_hand))) {
    rc = ll_fail(err, LL_ERR_CORRUPT,
                 "views: log position %llu: quantity of lot %s under %s "
                 "overflows",
                 (unsigned long long)e->position, lot_id, path);
    goto done;
  }
  if (on_hand < 0) {
    rc = ll_fail(err, LL_ERR_CORRUPT,
                 "views: log position %llu: on hand of lot %s under %s "
                 "would go below zero",
                 (unsigned long long)e->position, lot_id, path);
    goto done;
  }
  if (quantity == 0 && on_hand == 0) {
    ll_views_txn_del(t, &key);
  } else {
    ll_views_tree_pack(quantity, on_hand, &val);
    ll_views_txn_put(t, &key, val.data, val.len);
  }
done:
  ll_buf_free(&key);
  ll_buf_free(&val);
  return rc;
}

/* Adjust the rows of every path above loc longer than skip_len bytes. */
static int adjust_path(ll_views_txn *t, const ll_entry *e,
                       const ll_location *loc, size_t skip_len,
                       int64_t delta_micro, ll_err *err) {
  bool stock = ll_usage_is_stock(loc->usage);
  size_t len = strlen(loc->id);
  char *path = ll_xmalloc(len + 1);
  int rc = 0;
  for (size_t i = skip_len + 1; rc == 0 && i < len; i++) {
    if (loc->id[i] != '/')
      continue;
    memcpy(path, loc->id, i);
    path[i] = '\0';
    rc = adjust_row(t, e, path, e->event.lot_id, e->event.product_id,
                    delta_micro, stock, err);
  }
  free(path);
  return rc;
}

/* The length of the longest path above both a and b ("WH/A/1" and
 * "WH/A/2" share "WH/A"; "WH/A" and "WH/A/1" share "WH", and so do
 * "WH/A" and "WH/AB"); 0 when there is none. */
static size_t common_above_len(const char *a, const char *b) {
  size_t common = 0;
  for (size_t i = 0; a[i] != '\0' && a[i] == b[i]; i++)
    if (i > 0 && a[i] == '/')
      common = i;
  return common;
}

int ll_location_tree_apply(ll_views_txn *t, const ll_entry *e, ll_err *err) {
  const ll_event *ev = &e->event;
  if (ev->type != LL_EV_STOCK_MOVED)
    return 0;
  if (ev->lot_id == NULL || ev->from.id == NULL || ev->to.id == NULL ||
      ev->quantity_micro <= 0)
    return ll_fail(err, LL_ERR_CORRUPT,
                   "views: log position %llu: StockMoved without lot_id, "
                   "locations or a positive quantity",
                   (unsigned long long)e->position);
  /* A path both ends lie under gets the quantity taken out and put back:
   * when both ends count the same way (both on hand or both not), its row
   * ends as it was, so it is left alone (a move from a shelf to the next
   * one touches no row; from WH/A/1 to WH/B/2, the rows of WH/A and
   * WH/B). */
  size_t common = 0;
  if (ll_usage_is_stock(ev->from.usage) == ll_usage_is_stock(ev->to.usage))
    common = common_above_len(ev->from.id, ev->to.id);
  if (adjust_path(t, e, &ev->from, common, -ev->quantity_micro, err) != 0 ||
      adjust_path(t, e, &ev->to, common, ev->quantity_micro, err) != 0)
    return -1;
  return 0;
}

/* ---- query ---- */

void ll_location_lots_free(ll_location_lot *a, size_t n) {
  if (a == NULL)
    return;
  for (size_t i = 0; i < n; i++) {
    free(a[i].lot_id);
    free(a[i].product_id);
  }
  free(a);
}

/* One family's rows of a location, after a cursor: loc/ (what it holds
 * itself) or tree/ (what lies below it), at most limit of them. */
typedef struct lots_scan {
  size_t prefix_len;
  bool below; /* tree/ rows */
  const ll_lot_cursor *cursor;
  ll_location_lot *rows;
  size_t n, limit;
  bool more, corrupt;
} lots_scan;

static bool collect_lot(const char *k, size_t klen, const char *v, size_t vlen,
                        void *arg) {
  lots_scan *s = arg;
  /* After the prefix: <lot_id>\x1f<product_id>. */
  const char *id = k + s->prefix_len;
  size_t id_len = klen - s->prefix_len;
  const char *sep = memchr(id, LL_VK_SEP, id_len);
  size_t lot_len = sep ? (size_t)(sep - id) : 0;
  if (sep != NULL && ll_lot_cursor_before(s->cursor, id, lot_len, sep + 1,
                                          id_len - lot_len - 1))
    return true; /* at or before the cursor: the page starts after it */
  if (s->n == s->limit) {
    s->more = true;
    return false;
  }
  ll_location_lot row = {.usage = LL_USAGE_INTERNAL};
  bool ok;
  if (s->below) {
    ok = ll_views_tree_unpack(v, vlen, &row.quantity_micro, &row.on_hand_micro);
  } else {
    ok = ll_views_qty_unpack(v, vlen, &row.usage, &row.quantity_micro);
    row.on_hand_micro = ll_usage_is_stock(row.usage) ? row.quantity_micro : 0;
  }
  if (!ok || !ll_views_split2(id, id_len, &row.lot_id, &row.product_id)) {
    s->corrupt = true;
    return false;
  }
  s->rows[s->n++] = row;
  return true;
}

/* Fill s (rows malloc'd, limit of them at most) with the family's rows of
 * location after cursor c. */
static int scan_family(ll_views_reader *r, const char *location, bool below,
                       const ll_lot_cursor *c, size_t limit, lots_scan *s,
                       ll_err *err) {
  memset(s, 0, sizeof *s);
  s->below = below;
  s->cursor = c;
  s->limit = limit;
  s->rows = ll_xcalloc(limit, sizeof *s->rows);
  ll_buf prefix, start;
  ll_buf_init(&prefix);
  ll_buf_init(&start);
  if (!ll_views_key1(&prefix, below ? LL_VK_TREE : LL_VK_LOC, location)) {
    ll_buf_free(&prefix);
    return 0; /* no location id holds the separator */
  }
  ll_buf_put_u8(&prefix, (uint8_t)LL_VK_SEP);
  s->prefix_len = prefix.len;
  ll_buf_put(&start, prefix.data, prefix.len);
  if (c->lot_id != NULL)
    ll_buf_put(&start, c->lot_id, strlen(c->lot_id));
  int rc = ll_views_reader_scan(r, &prefix, &start, collect_lot, s, err);
  if (rc == 0 && s->corrupt)
    rc = ll_fail(err, LL_ERR_CORRUPT, "views: corrupt quantity record at %s",
                 location);
  ll_buf_free(&prefix);
  ll_buf_free(&start);
  return rc;
}

static int compare_lots(const ll_location_lot *a, const ll_location_lot *b) {
  int c = strcmp(a->lot_id, b->lot_id);
  return c != 0 ? c : strcmp(a->product_id, b->product_id);
}

/* A page of one family: the location's own lots. */
static int own_lots(ll_views_reader *r, const char *location,
                    const ll_lot_cursor *c, size_t limit, lots_scan *s,
                    char **next_cursor, ll_err *err) {
  int rc = scan_family(r, location, false, c, limit, s, err);
  if (rc == 0 && s->more) {
    assert(s->n > 0);
    *next_cursor = ll_lot_cursor_format(s->rows[s->n - 1].lot_id,
                                        s->rows[s->n - 1].product_id);
  }
  return rc;
}

/* The smaller of the last rows of the families read only in part: every
 * lot up to it is complete in both (NULL: both were read to their end). */
static const ll_location_lot *complete_through(const lots_scan fam[2]) {
  const ll_location_lot *bound = NULL;
  for (int f = 0; f < 2; f++) {
    const ll_location_lot *end =
        fam[f].more ? &fam[f].rows[fam[f].n - 1] : NULL;
    if (end != NULL && (bound == NULL || compare_lots(end, bound) < 0))
      bound = end;
  }
  return bound;
}

static bool add_sums(ll_location_lot *sum, const ll_location_lot *row) {
  return ll_decimal_add(sum->quantity_micro, row->quantity_micro,
                        &sum->quantity_micro) &&
         ll_decimal_add(sum->on_hand_micro, row->on_hand_micro,
                        &sum->on_hand_micro);
}

/* One pass over the two families' rows read after the cursor: each lot up
 * to the bound summed into out, a lot at zero left out, until out holds
 * limit. *last is the last lot looked at (NULL: none); *unread says rows
 * were read but not looked at. */
static int merge_pass(const lots_scan fam[2], const char *location,
                      size_t limit, lots_scan *out,
                      const ll_location_lot **last, bool *unread, ll_err *err) {
  const ll_location_lot *bound = complete_through(fam);
  size_t i = 0, j = 0;
  *last = NULL;
  int rc = 0;
  while (rc == 0 && (i < fam[0].n || j < fam[1].n)) {
    const ll_location_lot *a = i < fam[0].n ? &fam[0].rows[i] : NULL;
    const ll_location_lot *b = j < fam[1].n ? &fam[1].rows[j] : NULL;
    int order = a == NULL ? 1 : b == NULL ? -1 : compare_lots(a, b);
    const ll_location_lot *lot = order <= 0 ? a : b;
    if ((bound != NULL && compare_lots(lot, bound) > 0) || out->n == limit)
      break;
    ll_location_lot sum = {.usage = LL_USAGE_INTERNAL};
    if ((order <= 0 && !add_sums(&sum, a)) ||
        (order >= 0 && !add_sums(&sum, b)))
      rc = ll_fail(err, LL_ERR_CORRUPT,
                   "views: quantity of lot %s at and under %s overflows",
                   lot->lot_id, location);
    else if (sum.quantity_micro != 0 || sum.on_hand_micro != 0) {
      sum.lot_id = ll_strdup(lot->lot_id);
      sum.product_id = ll_strdup(lot->product_id);
      out->rows[out->n++] = sum;
    }
    *last = lot;
    i += order <= 0;
    j += order >= 0;
  }
  *unread = i < fam[0].n || j < fam[1].n;
  return rc;
}

/* The page of a location and below it: its loc/ and tree/ rows after the
 * cursor, summed lot by lot. Each family is read limit + 1 rows ahead, so
 * every lot up to the first family's last row read is complete; a sum
 * that comes to zero (a virtual location's negative row and the positive
 * one of a location below it) is no row, and the walk goes on from there
 * until the page is full or both families are read to their end. */
static int subtree_lots(ll_views_reader *r, const char *location,
                        ll_lot_cursor *c, size_t limit, lots_scan *out,
                        char **next_cursor, ll_err *err) {
  memset(out, 0, sizeof *out);
  out->rows = ll_xcalloc(limit, sizeof *out->rows);
  int rc = 0;
  bool more = true;
  while (rc == 0 && more && out->n < limit) {
    lots_scan fam[2] = {{0}, {0}};
    const ll_location_lot *last = NULL;
    bool unread = false;
    rc = scan_family(r, location, false, c, limit + 1, &fam[0], err);
    if (rc == 0)
      rc = scan_family(r, location, true, c, limit + 1, &fam[1], err);
    if (rc == 0)
      rc = merge_pass(fam, location, limit, out, &last, &unread, err);
    more = rc == 0 && (unread || fam[0].more || fam[1].more);
    if (more && out->n < limit) {
      assert(last != NULL);  /* the bound is a row, looked at on every pass */
      ll_lot_cursor_free(c); /* the next pass starts after last */
      c->lot_id = ll_strdup(last->lot_id);
      c->product_id = ll_strdup(last->product_id);
    }
    for (int f = 0; f < 2; f++)
      ll_location_lots_free(fam[f].rows, fam[f].n);
  }
  if (rc == 0 && more) {
    assert(out->n == limit);
    *next_cursor = ll_lot_cursor_format(out->rows[out->n - 1].lot_id,
                                        out->rows[out->n - 1].product_id);
  }
  return rc;
}

int ll_views_location_lots(ll_views_reader *r, const char *location,
                           bool children, const char *cursor, size_t limit,
                           ll_location_lot **out, size_t *n_out,
                           char **next_cursor, ll_err *err) {
  assert(r != NULL && location != NULL && out != NULL && n_out != NULL &&
         next_cursor != NULL);
  assert(limit >= 1 && limit <= LL_LIST_LIMIT_MAX);
  *out = NULL;
  *n_out = 0;
  *next_cursor = NULL;
  ll_lot_cursor c;
  ll_lot_cursor_parse(cursor, &c);
  lots_scan s;
  int rc = children ? subtree_lots(r, location, &c, limit, &s, next_cursor, err)
                    : own_lots(r, location, &c, limit, &s, next_cursor, err);
  ll_lot_cursor_free(&c);
  if (rc != 0) {
    ll_location_lots_free(s.rows, s.n);
    free(*next_cursor);
    *next_cursor = NULL;
    return -1;
  }
  *out = s.rows;
  *n_out = s.n;
  return 0;
}
