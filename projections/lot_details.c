/* lot_details.c — the lot details read model (the "View" tab), list and
 * search.
 *
 * One row per lot, "lot/<product_id>\x1f<lot_id>" -> ll_lot_pack(lot): a
 * lot is (product_id, lot_id). Kept as the rules keep it: a LotCreated
 * makes the row (version 1, name trimmed, an empty optional text stored as
 * none); a LotUpdated applies the values it carries (absent = unchanged,
 * "" clears reference/description; a lot's product never changes) and
 * bumps the version and merges its properties; LotHeld and LotReleased set
 * and clear the hold as the rules do (a second hold keeps the first);
 * a StockMoved adds to
 * on_hand what it brings into INTERNAL/TRANSIT locations, subtracts what it
 * takes out, and counts the move. updated_at is the occurred_at of the last
 * event on the lot: view values never depend on when they were projected.
 *
 * Three index rows with empty values make the list filters cheap and keep
 * lists in (lot_id, product_id) order:
 *   prod/<product_id>\x1f<lot_id>
 *   name/<trimmed name>\x1f<lot_id>\x1f<product_id>  (moved on rename)
 *   lotp/<lot_id>\x1f<product_id>     every lot; also which products use a
 *                                    lot id (ll_views_lot_products)
 * and "puom/<product_id>" -> the product's unit, fixed by its first lot
 * that states one: a lot created without a unit shows the product's. The
 * log
 * holds validated events, so an event that does not fit the view (an update of
 * an unknown lot, a second LotCreated) means the views and the log disagree;
 * that is reported as an error rather than skipped, so the projector stops at
 * the first inconsistency instead of drifting.
 *
 * Listing walks one prefix in key order (the name index when a name is
 * given, else the product index, else the lot id index), applies the remaining
 * filters to each lot, and reads one lot past the page to know whether a
 * next cursor is needed. It reads from one snapshot so a page is
 * consistent. q matches ASCII letters case-insensitively (other bytes
 * exactly): no locale-dependent folding in the service. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ll_decimal.h"
#include "ll_event.h"
#include "ll_mem.h"
#include "ll_rocks.h"
#include "ll_text.h"
#include "views_internal.h"

static const char *entry_what(const ll_entry *e) {
  return ll_event_type_name(e->event.type);
}

/* A lot record as this view writes it: the required texts are there. */
static bool unpack_lot(const void *p, size_t n, ll_lot *lot) {
  if (!ll_lot_unpack(p, n, lot))
    return false;
  if (lot->lot_id == NULL || lot->product_id == NULL || lot->name == NULL) {
    ll_lot_free(lot);
    return false;
  }
  return true;
}

/* An optional text as the view stores it: "" is the same as none. */
static char *opt_text_dup(const char *s) {
  return (s == NULL || s[0] == '\0') ? NULL : ll_strdup(s);
}

static int load_lot(ll_views_txn *t, const ll_entry *e, ll_buf *key,
                    ll_buf *val, ll_lot *lot, bool *found, ll_err *err) {
  const char *lot_id = e->event.lot_id;
  if (!ll_views_key2(key, LL_VK_LOT, e->event.product_id, lot_id))
    return ll_fail(err, LL_ERR_CORRUPT,
                   "views: log position %llu: %s with an unusable lot_id",
                   (unsigned long long)e->position, entry_what(e));
  if (ll_views_txn_get(t, key, val, found, err) != 0)
    return -1;
  if (*found && !unpack_lot(val->data, val->len, lot))
    return ll_fail(err, LL_ERR_CORRUPT, "views: corrupt lot record for %s",
                   lot_id);
  return 0;
}

static void store_lot(ll_views_txn *t, const ll_buf *key, const ll_lot *lot,
                      ll_buf *val) {
  ll_buf_reset(val);
  ll_lot_pack(lot, val);
  ll_views_txn_put(t, key, val->data, val->len);
}

/* Put or delete one index row "<prefix><a>\x1f<b>[\x1f<c>]". */
static int index_row(ll_views_txn *t, const ll_entry *e, const char *prefix,
                     const char *a, const char *b, const char *c, bool put,
                     ll_err *err) {
  ll_buf key;
  ll_buf_init(&key);
  if (!ll_views_key2(&key, prefix, a, b) ||
      (c != NULL && !ll_views_key_append(&key, c))) {
    ll_buf_free(&key);
    return ll_fail(err, LL_ERR_CORRUPT,
                   "views: log position %llu: %s with an unusable "
                   "product id or name",
                   (unsigned long long)e->position, entry_what(e));
  }
  if (put)
    ll_views_txn_put(t, &key, "", 0);
  else
    ll_views_txn_del(t, &key);
  ll_buf_free(&key);
  return 0;
}

/* The lot's unit: its own, else the product's (and the first lot that
 * states one fixes the product's, as in the rules). */
static int apply_uom(ll_views_txn *t, const ll_event *ev, ll_lot *lot,
                     ll_err *err) {
  ll_buf key, val;
  ll_buf_init(&key);
  ll_buf_init(&val);
  bool found = false;
  int rc = 0;
  ll_buf_put(&key, LL_VK_PRODUCT_UOM, strlen(LL_VK_PRODUCT_UOM));
  ll_buf_put(&key, ev->product_id, strlen(ev->product_id));
  if (ll_views_txn_get(t, &key, &val, &found, err) != 0)
    rc = -1;
  else if (found)
    lot->uom = ll_strndup(val.data, val.len);
  else if (ev->uom != NULL)
    ll_views_txn_put(t, &key, ev->uom, strlen(ev->uom));
  if (rc == 0 && ev->uom != NULL) {
    free(lot->uom);
    lot->uom = ll_strdup(ev->uom);
  }
  ll_buf_free(&key);
  ll_buf_free(&val);
  return rc;
}

static int apply_created(ll_views_txn *t, const ll_entry *e, ll_buf *key,
                         ll_buf *val, ll_err *err) {
  const ll_event *ev = &e->event;
  if (ev->lot_id == NULL || ev->product_id == NULL || ev->name == NULL)
    return ll_fail(err, LL_ERR_CORRUPT,
                   "views: log position %llu: LotCreated without lot_id, "
                   "product_id or name",
                   (unsigned long long)e->position);
  ll_lot lot;
  ll_lot_init(&lot);
  bool found = false;
  if (load_lot(t, e, key, val, &lot, &found, err) != 0) {
    ll_lot_free(&lot);
    return -1;
  }
  if (found) {
    ll_lot_free(&lot);
    return ll_fail(err, LL_ERR_CORRUPT,
                   "views: log position %llu creates lot %s, which the "
                   "views already hold: views and log disagree, rebuild "
                   "the views",
                   (unsigned long long)e->position, ev->lot_id);
  }
  lot.lot_id = ll_strdup(ev->lot_id);
  lot.product_id = ll_strdup(ev->product_id);
  lot.name = ll_text_trim_dup(ev->name);
  lot.tracking = ev->tracking;
  lot.reference = opt_text_dup(ev->reference);
  lot.description = opt_text_dup(ev->description);
  lot.expiration_at = ev->expiration_at;
  lot.use_by_at = ev->use_by_at;
  lot.removal_at = ev->removal_at;
  lot.alert_at = ev->alert_at;
  lot.version = 1;
  lot.on_hand_micro = 0;
  lot.move_count = 0;
  lot.created_at_ms = ev->occurred_at_ms;
  lot.updated_at_ms = ev->occurred_at_ms;
  ll_props_merge(&lot.properties, &ev->properties);
  if (apply_uom(t, ev, &lot, err) != 0) {
    ll_lot_free(&lot);
    return -1;
  }
  store_lot(t, key, &lot, val);
  int rc = 0;
  if (index_row(t, e, LL_VK_PRODUCT, lot.product_id, lot.lot_id, NULL, true,
                err) != 0 ||
      index_row(t, e, LL_VK_NAME, lot.name, lot.lot_id, lot.product_id, true,
                err) != 0 ||
      index_row(t, e, LL_VK_LOT_PRODUCTS, lot.lot_id, lot.product_id, NULL,
                true, err) != 0)
    rc = -1;
  ll_lot_free(&lot);
  return rc;
}

static int apply_updated(ll_views_txn *t, const ll_entry *e, ll_lot *lot,
                         ll_err *err) {
  const ll_event *ev = &e->event;
  if (ev->name != NULL) {
    char *name = ll_text_trim_dup(ev->name);
    if (strcmp(name, lot->name) != 0) {
      if (index_row(t, e, LL_VK_NAME, lot->name, lot->lot_id, lot->product_id,
                    false, err) != 0 ||
          index_row(t, e, LL_VK_NAME, name, lot->lot_id, lot->product_id, true,
                    err) != 0) {
        free(name);
        return -1;
      }
    }
    free(lot->name);
    lot->name = name;
  }
  if (ev->new_product_id != NULL &&
      strcmp(ev->new_product_id, lot->product_id) != 0)
    return ll_fail(err, LL_ERR_CORRUPT,
                   "views: log position %llu changes the product of lot %s, "
                   "which the rules refuse (PRODUCT_LOCKED)",
                   (unsigned long long)e->position, lot->lot_id);
  if (ev->reference != NULL) {
    free(lot->reference);
    lot->reference = opt_text_dup(ev->reference);
  }
  if (ev->description != NULL) {
    free(lot->description);
    lot->description = opt_text_dup(ev->description);
  }
  if (ev->expiration_at.set)
    lot->expiration_at = ev->expiration_at;
  if (ev->use_by_at.set)
    lot->use_by_at = ev->use_by_at;
  if (ev->removal_at.set)
    lot->removal_at = ev->removal_at;
  if (ev->alert_at.set)
    lot->alert_at = ev->alert_at;
  ll_props_merge(&lot->properties, &ev->properties);
  lot->version++;
  lot->updated_at_ms = ev->occurred_at_ms;
  return 0;
}

static void apply_hold(const ll_event *ev, ll_lot *lot) {
  if (ev->type == LL_EV_LOT_HELD && lot->hold_reason == NULL) {
    lot->hold_reason = ll_strdup(ev->reason);
    lot->hold_since_ms = ev->occurred_at_ms;
  } else if (ev->type == LL_EV_LOT_RELEASED) {
    free(lot->hold_reason);
    lot->hold_reason = NULL;
    lot->hold_since_ms = 0;
  }
  lot->updated_at_ms = ev->occurred_at_ms;
}

static int apply_moved(const ll_entry *e, ll_lot *lot, ll_err *err) {
  const ll_event *ev = &e->event;
  int64_t on_hand = lot->on_hand_micro;
  bool ok = true;
  if (ll_usage_is_stock(ev->to.usage))
    ok = ok && ll_decimal_add(on_hand, ev->quantity_micro, &on_hand);
  if (ll_usage_is_stock(ev->from.usage))
    ok = ok && ll_decimal_sub(on_hand, ev->quantity_micro, &on_hand);
  if (!ok || on_hand < 0)
    return ll_fail(err, LL_ERR_CORRUPT,
                   "views: log position %llu: on hand of lot %s would "
                   "overflow or go below zero",
                   (unsigned long long)e->position, lot->lot_id);
  lot->on_hand_micro = on_hand;
  lot->move_count++;
  lot->updated_at_ms = ev->occurred_at_ms;
  return 0;
}

int ll_lot_details_apply(ll_views_txn *t, const ll_entry *e,
                         bool *indexed_changed, ll_err *err) {
  *indexed_changed = true;
  ll_buf key, val;
  ll_buf_init(&key);
  ll_buf_init(&val);
  int rc = 0;
  if (e->event.type == LL_EV_LOT_CREATED) {
    rc = apply_created(t, e, &key, &val, err);
  } else {
    ll_lot lot;
    ll_lot_init(&lot);
    bool found = false;
    if (e->event.lot_id == NULL)
      rc = ll_fail(err, LL_ERR_CORRUPT,
                   "views: log position %llu: %s without lot_id (the log "
                   "holds normalized events)",
                   (unsigned long long)e->position, entry_what(e));
    else
      rc = load_lot(t, e, &key, &val, &lot, &found, err);
    if (rc == 0 && !found)
      rc = ll_fail(err, LL_ERR_CORRUPT,
                   "views: log position %llu: %s of lot %s, which the "
                   "views do not hold: views and log disagree, rebuild "
                   "the views",
                   (unsigned long long)e->position, entry_what(e),
                   e->event.lot_id);
    if (rc == 0 && e->event.type == LL_EV_LOT_UPDATED)
      rc = apply_updated(t, e, &lot, err);
    else if (rc == 0 && e->event.type == LL_EV_STOCK_MOVED) {
      bool had_stock = lot.on_hand_micro > 0;
      rc = apply_moved(e, &lot, err);
      *indexed_changed = (lot.on_hand_micro > 0) != had_stock;
    } else if (rc == 0) {
      apply_hold(&e->event, &lot);
    }
    if (rc == 0)
      store_lot(t, &key, &lot, &val);
    ll_lot_free(&lot);
  }
  ll_buf_free(&key);
  ll_buf_free(&val);
  return rc;
}

/* ---- queries ---- */

int ll_views_get_lot(ll_views *v, const char *product_id, const char *lot_id,
                     ll_lot *lot, bool *found, ll_err *err) {
  return ll_lot_details_get(v, v->read_opts, product_id, lot_id, lot, found,
                            err);
}

int ll_lot_details_get(ll_views *v, const rocksdb_readoptions_t *ro,
                       const char *product_id, const char *lot_id, ll_lot *lot,
                       bool *found, ll_err *err) {
  assert(v != NULL && product_id != NULL && lot_id != NULL && lot != NULL &&
         found != NULL);
  *found = false;
  ll_buf key;
  ll_buf_init(&key);
  if (!ll_views_key2(&key, LL_VK_LOT, product_id, lot_id)) {
    ll_buf_free(&key);
    return 0; /* no lot id holds the separator */
  }
  ll_buf val;
  ll_buf_init(&val);
  int rc =
      ll_rocks_get(v->db, ro, key.data, key.len, &val, found, "views", err);
  ll_buf_free(&key);
  if (rc == 0 && *found) {
    ll_lot_init(lot);
    if (!unpack_lot(val.data, val.len, lot)) {
      ll_lot_free(lot);
      *found = false;
      rc = ll_fail(err, LL_ERR_CORRUPT, "views: corrupt lot record for %s",
                   lot_id);
    }
  }
  ll_buf_free(&val);
  return rc;
}

void ll_lots_free(ll_lot *a, size_t n) {
  if (a == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    ll_lot_free(&a[i]);
  free(a);
}

static bool blank(const char *s) {
  return s == NULL || s[0] == '\0';
}

static char fold(char c) {
  return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Is needle (already folded) a substring of hay, ASCII case-insensitive? */
static bool contains_folded(const char *hay, const char *needle) {
  if (hay == NULL)
    return false;
  size_t n = strlen(needle);
  for (; *hay != '\0'; hay++) {
    size_t i = 0;
    while (i < n && hay[i] != '\0' && fold(hay[i]) == needle[i])
      i++;
    if (i == n)
      return true;
  }
  return false;
}

/* The filter, prepared once per list call. Empty strings mean "no filter"
 * (an HTTP "?name=" with nothing after it). */
typedef struct list_plan {
  const char *product_id;
  char *name; /* trimmed */
  char *q;    /* folded */
  ll_lot_cursor cursor;
  size_t limit;
  const char *property_key; /* with property_value: that property's value */
  const char *property_value;
} list_plan;

static void plan_init(list_plan *pl, const ll_lot_filter *f) {
  memset(pl, 0, sizeof *pl);
  pl->product_id = blank(f->product_id) ? NULL : f->product_id;
  pl->name = blank(f->name) ? NULL : ll_text_trim_dup(f->name);
  if (!blank(f->q)) {
    pl->q = ll_strdup(f->q);
    for (char *c = pl->q; *c != '\0'; c++)
      *c = fold(*c);
  }
  ll_lot_cursor_parse(f->cursor, &pl->cursor);
  pl->property_key = blank(f->property_key) ? NULL : f->property_key;
  pl->property_value = f->property_value ? f->property_value : "";
  pl->limit = f->limit == 0 ? LL_LIST_LIMIT_DEFAULT : f->limit;
  if (pl->limit > LL_LIST_LIMIT_MAX)
    pl->limit = LL_LIST_LIMIT_MAX;
}

static void plan_free(list_plan *pl) {
  free(pl->name);
  free(pl->q);
  ll_lot_cursor_free(&pl->cursor);
}

static bool plan_matches(const list_plan *pl, const ll_lot *lot) {
  if (pl->product_id != NULL && strcmp(lot->product_id, pl->product_id) != 0)
    return false;
  if (pl->property_key != NULL) {
    const char *have = ll_props_get(&lot->properties, pl->property_key);
    if (have == NULL || strcmp(have, pl->property_value) != 0)
      return false;
  }
  if (pl->name != NULL && strcmp(lot->name, pl->name) != 0)
    return false;
  if (pl->q != NULL && !contains_folded(lot->lot_id, pl->q) &&
      !contains_folded(lot->name, pl->q) &&
      !contains_folded(lot->reference, pl->q))
    return false;
  return true;
}

/* Read the lot (product_id, lot_id) through the snapshot. */
static int read_lot_at(ll_views *v, const rocksdb_readoptions_t *ro,
                       const char *product_id, const char *lot_id, ll_buf *key,
                       ll_buf *val, ll_lot *lot, bool *found, ll_err *err) {
  if (!ll_views_key2(key, LL_VK_LOT, product_id, lot_id))
    return ll_fail(err, LL_ERR_CORRUPT,
                   "views: unusable lot %s of %s in an index", lot_id,
                   product_id);
  if (ll_rocks_get(v->db, ro, key->data, key->len, val, found, "views", err) !=
      0)
    return -1;
  if (*found && !unpack_lot(val->data, val->len, lot))
    return ll_fail(err, LL_ERR_CORRUPT, "views: corrupt lot record for %s",
                   lot_id);
  return 0;
}

/* Which index to walk: the most selective the filter names. Rows of the
 * name and lot id indexes end in "<lot_id>\x1f<product_id>", rows of the
 * product index in "<lot_id>" (the product is the filter's). False when no
 * row can match (a filter value holds the separator). */
static bool plan_prefix(const list_plan *pl, ll_buf *prefix,
                        const char **fixed_product) {
  bool possible = true;
  *fixed_product = NULL;
  if (pl->name != NULL) {
    possible = ll_views_key1(prefix, LL_VK_NAME, pl->name);
  } else if (pl->product_id != NULL) {
    possible = ll_views_key1(prefix, LL_VK_PRODUCT, pl->product_id);
    *fixed_product = pl->product_id;
  } else {
    ll_buf_put(prefix, LL_VK_LOT_PRODUCTS, strlen(LL_VK_LOT_PRODUCTS));
    return true;
  }
  if (possible)
    ll_buf_put_u8(prefix, (uint8_t)LL_VK_SEP);
  return possible;
}

/* One page of lots, and whether more match after it. */
typedef struct list_page {
  ll_lot *lots; /* pl->limit slots */
  size_t n;
  bool more;
} list_page;

/* The walk's buffers and where it reads. */
typedef struct list_walk {
  ll_views *v;
  const rocksdb_readoptions_t *ro;
  const list_plan *pl;
  const ll_buf *prefix;
  const char *fixed_product; /* the product index's product, or NULL */
  ll_buf key, val;
} list_walk;

/* The lot an index row names (which must exist), or *skip when the row is
 * at or before the cursor. */
static int row_lot(list_walk *w, const char *id, size_t id_len, ll_lot *lot,
                   bool *skip, ll_err *err) {
  char *lot_id = NULL, *product_id = NULL;
  bool ok = w->fixed_product != NULL
                ? (lot_id = ll_strndup(id, id_len), true)
                : ll_views_split2(id, id_len, &lot_id, &product_id);
  if (!ok)
    return ll_fail(err, LL_ERR_CORRUPT, "views: corrupt lot index row");
  const char *product = w->fixed_product ? w->fixed_product : product_id;
  *skip = ll_lot_cursor_before(&w->pl->cursor, lot_id, strlen(lot_id), product,
                               strlen(product));
  bool found = true;
  int rc = *skip ? 0
                 : read_lot_at(w->v, w->ro, product, lot_id, &w->key, &w->val,
                               lot, &found, err);
  if (rc == 0 && !found)
    rc = ll_fail(err, LL_ERR_CORRUPT,
                 "views: index row without its lot %s of %s: rebuild the views",
                 lot_id, product);
  free(lot_id);
  free(product_id);
  return rc;
}

/* Walk the rows under the prefix from the cursor, keeping the lots that
 * match, up to the page's limit. */
static int walk_lots(list_walk *w, list_page *page, ll_err *err) {
  const list_plan *pl = w->pl;
  const ll_buf *prefix = w->prefix;
  rocksdb_iterator_t *it = rocksdb_create_iterator(w->v->db, w->ro);
  ll_buf seek;
  ll_buf_init(&seek);
  ll_buf_put(&seek, prefix->data, prefix->len);
  if (pl->cursor.lot_id != NULL)
    ll_buf_put(&seek, pl->cursor.lot_id, strlen(pl->cursor.lot_id));
  int rc = 0;
  for (rocksdb_iter_seek(it, (const char *)seek.data, seek.len);
       rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
    size_t klen = 0;
    const char *k = rocksdb_iter_key(it, &klen);
    if (klen < prefix->len || memcmp(k, prefix->data, prefix->len) != 0)
      break;
    ll_lot lot;
    ll_lot_init(&lot);
    bool skip = false;
    rc = row_lot(w, k + prefix->len, klen - prefix->len, &lot, &skip, err);
    if (rc != 0 || skip || !plan_matches(pl, &lot)) {
      ll_lot_free(&lot);
      if (rc != 0)
        break;
      continue;
    }
    if (page->n == pl->limit) {
      ll_lot_free(&lot);
      page->more = true;
      break;
    }
    page->lots[page->n++] = lot;
  }
  ll_buf_free(&seek);
  if (rc == 0) {
    char *rerr = NULL;
    rocksdb_iter_get_error(it, &rerr);
    if (rerr != NULL)
      rc = ll_rocks_fail(err, rerr, "views: list failed");
  }
  rocksdb_iter_destroy(it);
  return rc;
}

int ll_views_list_lots(ll_views *v, const ll_lot_filter *f, ll_lot **out,
                       size_t *n_out, char **next_cursor, ll_err *err) {
  assert(v != NULL && f != NULL && out != NULL && n_out != NULL &&
         next_cursor != NULL);
  *out = NULL;
  *n_out = 0;
  *next_cursor = NULL;

  list_plan pl;
  plan_init(&pl, f);
  ll_buf prefix;
  ll_buf_init(&prefix);
  list_walk w = {.v = v, .pl = &pl, .prefix = &prefix};
  bool possible = plan_prefix(&pl, &prefix, &w.fixed_product);
  ll_buf_init(&w.key);
  ll_buf_init(&w.val);
  list_page page = {.lots = ll_xcalloc(pl.limit, sizeof *page.lots)};
  int rc = 0;
  if (possible) {
    /* One snapshot: an index row and the lot it names agree. */
    const rocksdb_snapshot_t *snap = rocksdb_create_snapshot(v->db);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_snapshot(ro, snap);
    w.ro = ro;
    rc = walk_lots(&w, &page, err);
    rocksdb_readoptions_destroy(ro);
    rocksdb_release_snapshot(v->db, snap);
  }
  ll_buf_free(&prefix);
  ll_buf_free(&w.key);
  ll_buf_free(&w.val);
  plan_free(&pl);

  if (rc != 0) {
    ll_lots_free(page.lots, page.n);
    return -1;
  }
  if (page.more) {
    assert(page.n > 0);
    *next_cursor = ll_lot_cursor_format(page.lots[page.n - 1].lot_id,
                                        page.lots[page.n - 1].product_id);
  }
  *out = page.lots;
  *n_out = page.n;
  return 0;
}

/* ---- which products use a lot id ---- */

void ll_views_lot_products_free(char **products, size_t n) {
  for (size_t i = 0; products != NULL && i < n; i++)
    free(products[i]);
  free(products);
}

typedef struct products_scan {
  size_t prefix_len;
  char **products;
  size_t n;
  bool corrupt;
} products_scan;

static bool collect_product(const char *k, size_t klen, const char *v,
                            size_t vlen, void *arg) {
  (void)v;
  (void)vlen;
  products_scan *s = arg;
  if (klen <= s->prefix_len ||
      memchr(k + s->prefix_len, LL_VK_SEP, klen - s->prefix_len) != NULL) {
    s->corrupt = true;
    return false;
  }
  if (s->n == LL_LOT_PRODUCTS_MAX)
    return false;
  s->products = ll_xrealloc(s->products, (s->n + 1) * sizeof *s->products);
  s->products[s->n++] = ll_strndup(k + s->prefix_len, klen - s->prefix_len);
  return true;
}

int ll_views_lot_products(ll_views_reader *r, const char *lot_id,
                          char ***products, size_t *n_out, ll_err *err) {
  assert(r != NULL && lot_id != NULL && products != NULL && n_out != NULL);
  *products = NULL;
  *n_out = 0;
  ll_buf prefix;
  ll_buf_init(&prefix);
  if (!ll_views_key1(&prefix, LL_VK_LOT_PRODUCTS, lot_id)) {
    ll_buf_free(&prefix);
    return 0; /* no lot id holds the separator */
  }
  ll_buf_put_u8(&prefix, (uint8_t)LL_VK_SEP);
  products_scan s = {.prefix_len = prefix.len};
  int rc = ll_views_reader_scan(r, &prefix, NULL, collect_product, &s, err);
  ll_buf_free(&prefix);
  if (rc == 0 && s.corrupt)
    rc = ll_fail(err, LL_ERR_CORRUPT, "views: corrupt lot id index row of %s",
                 lot_id);
  if (rc != 0) {
    ll_views_lot_products_free(s.products, s.n);
    return -1;
  }
  *products = s.products;
  *n_out = s.n;
  return 0;
}
