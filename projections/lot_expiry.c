/* lot_expiry.c — on-hand lots in FEFO order (first expired, first out).
 *
 * One index row per lot that has stock on hand:
 *   fefo/<be64 removal><be64 expiration><lot_id>\x1f<product_id>  (empty)
 *   fefok/<product_id>\x1f<lot_id>                 that fefo/ key
 * removal is the lot's removal date, or its expiration date when it has no
 * removal date (the rules keep removal <= expiration, so this is "the date
 * the lot must leave stock"); expiration is the expiration date. Both are
 * milliseconds with the sign bit flipped, so they sort as numbers, and a
 * missing date is all ones: lots without dates come last. The fefok/ row
 * remembers where a lot's index row is, so a date change or the lot going
 * to zero on hand can delete it without knowing the lot's former state.
 *
 * The applier runs after lot_details.c and reads the lot row that has just
 * been written for the same entry (the run reads through its batch), so the
 * index follows on_hand and the dates exactly.
 *
 * A query walks the index in order and stops at the first removal date at
 * or after the bound, so "what must leave stock before Friday" reads only
 * those lots. A location filter is a point read per candidate (the loc/ row
 * for one location, the tree/ rollup with children); without a date bound
 * that is one read per lot on hand. Cursors are the hex of the two dates
 * followed by the lot's page cursor (views_internal.h, ll_lot_cursor). */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ll_decimal.h"
#include "ll_event.h"
#include "ll_mem.h"
#include "views_internal.h"

#define DATE_NONE UINT64_MAX
#define DATES_LEN 16      /* two be64 */
#define CURSOR_HEX_LEN 32 /* DATES_LEN in hex */

static uint64_t date_key(const ll_opt_time *t) {
  return t->set ? (uint64_t)t->ms ^ (1ULL << 63) : DATE_NONE;
}

static int64_t date_ms(uint64_t key) {
  return (int64_t)(key ^ (1ULL << 63));
}

/* The fefo/ key of a lot on hand. */
static void fefo_key(ll_buf *key, const ll_lot *lot) {
  const ll_opt_time *removal =
      lot->removal_at.set ? &lot->removal_at : &lot->expiration_at;
  ll_buf_reset(key);
  ll_buf_put(key, LL_VK_FEFO, strlen(LL_VK_FEFO));
  ll_buf_put_be64(key, date_key(removal));
  ll_buf_put_be64(key, date_key(&lot->expiration_at));
  ll_buf_put(key, lot->lot_id, strlen(lot->lot_id));
  ll_buf_put_u8(key, (uint8_t)LL_VK_SEP);
  ll_buf_put(key, lot->product_id, strlen(lot->product_id));
}

int ll_lot_expiry_apply(ll_views_txn *t, const ll_entry *e, ll_err *err) {
  const ll_event *ev = &e->event;
  if (ev->type == LL_EV_LOT_CREATED)
    return 0; /* nothing on hand yet */
  ll_buf lot_key, of_key, want, have;
  ll_buf_init(&lot_key);
  ll_buf_init(&of_key);
  ll_buf_init(&want);
  ll_buf_init(&have);
  ll_lot lot;
  ll_lot_init(&lot);
  bool found = false, indexed = false;
  int rc = 0;

  if (!ll_views_key2(&lot_key, LL_VK_LOT, ev->product_id, ev->lot_id) ||
      !ll_views_key2(&of_key, LL_VK_FEFO_OF, ev->product_id, ev->lot_id)) {
    rc = ll_fail(err, LL_ERR_CORRUPT,
                 "views: log position %llu: unusable lot_id for the "
                 "expiry index",
                 (unsigned long long)e->position);
    goto done;
  }
  if (ll_views_txn_get(t, &lot_key, &want, &found, err) != 0) {
    rc = -1;
    goto done;
  }
  if (!found || !ll_lot_unpack(want.data, want.len, &lot) ||
      lot.lot_id == NULL) {
    rc = ll_fail(err, LL_ERR_CORRUPT,
                 "views: log position %llu: the lot row of %s is missing "
                 "or corrupt",
                 (unsigned long long)e->position, ev->lot_id);
    goto done;
  }
  if (lot.on_hand_micro > 0)
    fefo_key(&want, &lot);
  else
    ll_buf_reset(&want);
  if (ll_views_txn_get(t, &of_key, &have, &indexed, err) != 0) {
    rc = -1;
    goto done;
  }
  if (indexed && want.len == have.len &&
      memcmp(want.data, have.data, want.len) == 0)
    goto done; /* unchanged */
  if (indexed)
    ll_views_txn_del(t, &have);
  if (want.len > 0) {
    ll_views_txn_put(t, &want, "", 0);
    ll_views_txn_put(t, &of_key, want.data, want.len);
  } else if (indexed) {
    ll_views_txn_del(t, &of_key);
  }
done:
  ll_lot_free(&lot);
  ll_buf_free(&lot_key);
  ll_buf_free(&of_key);
  ll_buf_free(&want);
  ll_buf_free(&have);
  return rc;
}

/* ---- query ---- */

void ll_fefo_lots_free(ll_fefo_lot *a, size_t n) {
  if (a == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    ll_lot_free(&a[i].lot);
  free(a);
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* Cursor "<32 hex digits><lot cursor>" -> the fefo/ key it names. */
static bool cursor_key(const char *cursor, ll_buf *key) {
  size_t len = strlen(cursor);
  if (len <= CURSOR_HEX_LEN)
    return false;
  ll_buf_reset(key);
  ll_buf_put(key, LL_VK_FEFO, strlen(LL_VK_FEFO));
  for (size_t i = 0; i < CURSOR_HEX_LEN; i += 2) {
    int hi = hex_digit(cursor[i]), lo = hex_digit(cursor[i + 1]);
    if (hi < 0 || lo < 0)
      return false;
    ll_buf_put_u8(key, (uint8_t)(hi * 16 + lo));
  }
  ll_lot_cursor c;
  ll_lot_cursor_parse(cursor + CURSOR_HEX_LEN, &c);
  if (c.lot_id != NULL)
    ll_buf_put(key, c.lot_id, strlen(c.lot_id));
  if (c.product_id != NULL) {
    ll_buf_put_u8(key, (uint8_t)LL_VK_SEP);
    ll_buf_put(key, c.product_id, strlen(c.product_id));
  }
  ll_lot_cursor_free(&c);
  return true;
}

static char *key_cursor(const char *k, size_t klen, const ll_lot *lot) {
  size_t p = strlen(LL_VK_FEFO);
  assert(klen > p + DATES_LEN);
  (void)klen;
  char *tail = ll_lot_cursor_format(lot->lot_id, lot->product_id);
  size_t tail_len = strlen(tail);
  char *c = ll_xmalloc(CURSOR_HEX_LEN + tail_len + 1);
  for (size_t i = 0; i < DATES_LEN; i++)
    snprintf(c + 2 * i, 3, "%02x", (unsigned)(uint8_t)k[p + i]);
  memcpy(c + CURSOR_HEX_LEN, tail, tail_len + 1);
  free(tail);
  return c;
}

typedef struct fefo_scan {
  ll_views_reader *r;
  const ll_fefo_filter *f;
  const ll_buf *skip; /* the cursor's own key, or NULL */
  ll_fefo_lot *rows;
  size_t n;
  bool more;
  char *last_key_cursor; /* cursor of the last row taken */
  int rc;
  ll_err *err;
  ll_buf key, val; /* scratch */
} fefo_scan;

/* The lot's on-hand quantity in one family's row of the filter's location
 * (loc/: at it, tree/: below it; 0 when there is none). */
static int on_hand_in(fefo_scan *s, const ll_lot *lot, bool below,
                      int64_t *out) {
  const ll_fefo_filter *f = s->f;
  bool found = false;
  *out = 0;
  if (!ll_views_key3(&s->key, below ? LL_VK_TREE : LL_VK_LOC, f->location,
                     lot->lot_id, lot->product_id))
    return 0; /* a location with the separator holds nothing */
  if (ll_views_reader_get(s->r, &s->key, &s->val, &found, s->err) != 0)
    return -1;
  if (!found)
    return 0;
  if (below) {
    int64_t quantity = 0;
    if (!ll_views_tree_unpack(s->val.data, s->val.len, &quantity, out))
      return ll_fail(s->err, LL_ERR_CORRUPT, "views: corrupt rollup record");
    return 0;
  }
  ll_usage usage;
  int64_t quantity = 0;
  if (!ll_views_qty_unpack(s->val.data, s->val.len, &usage, &quantity))
    return ll_fail(s->err, LL_ERR_CORRUPT, "views: corrupt quantity record");
  *out = ll_usage_is_stock(usage) ? quantity : 0;
  return 0;
}

/* The lot's on-hand quantity at the filter's location (and below it, with
 * children). */
static int on_hand_at(fefo_scan *s, const ll_lot *lot, int64_t *out) {
  int64_t below = 0;
  if (on_hand_in(s, lot, false, out) != 0 ||
      (s->f->children && on_hand_in(s, lot, true, &below) != 0))
    return -1;
  if (!ll_decimal_add(*out, below, out))
    return ll_fail(s->err, LL_ERR_CORRUPT,
                   "views: on hand of lot %s under %s overflows", lot->lot_id,
                   s->f->location);
  return 0;
}

static bool collect_fefo(const char *k, size_t klen, const char *v, size_t vlen,
                         void *arg) {
  (void)v;
  (void)vlen;
  fefo_scan *s = arg;
  size_t p = strlen(LL_VK_FEFO);
  if (klen <= p + DATES_LEN) {
    s->rc = ll_fail(s->err, LL_ERR_CORRUPT, "views: corrupt expiry index row");
    return false;
  }
  if (s->skip != NULL && s->skip->len == klen &&
      memcmp(s->skip->data, k, klen) == 0)
    return true;
  uint64_t removal = ll_be64_decode(k + p);
  if (s->f->has_before &&
      (removal == DATE_NONE || date_ms(removal) >= s->f->before_ms))
    return false; /* the index is in removal order: nothing later is due */
  size_t id_len = klen - p - DATES_LEN;
  char *lot_id = NULL, *product_id = NULL;
  if (!ll_views_split2(k + p + DATES_LEN, id_len, &lot_id, &product_id)) {
    s->rc = ll_fail(s->err, LL_ERR_CORRUPT, "views: corrupt expiry index row");
    return false;
  }
  ll_fefo_lot row = {.location_on_hand_micro = 0};
  ll_lot_init(&row.lot);
  bool found = false;
  bool take = true;
  if (ll_views_reader_get_lot(s->r, product_id, lot_id, &row.lot, &found,
                              s->err) != 0) {
    s->rc = -1;
  } else if (!found) {
    s->rc = ll_fail(s->err, LL_ERR_CORRUPT,
                    "views: expiry index row without its lot %s: rebuild "
                    "the views",
                    lot_id);
  } else if (s->f->product_id != NULL &&
             strcmp(s->f->product_id, row.lot.product_id) != 0) {
    take = false;
  } else if (s->f->location != NULL) {
    if (on_hand_at(s, &row.lot, &row.location_on_hand_micro) != 0)
      s->rc = -1;
    else
      take = row.location_on_hand_micro > 0;
  }
  free(lot_id);
  free(product_id);
  if (s->rc != 0 || !take) {
    if (found)
      ll_lot_free(&row.lot);
    return s->rc == 0;
  }
  if (s->n == s->f->limit) { /* one more match: there is a next page */
    ll_lot_free(&row.lot);
    s->more = true;
    return false;
  }
  s->rows[s->n++] = row;
  free(s->last_key_cursor);
  s->last_key_cursor = key_cursor(k, klen, &row.lot);
  return true;
}

int ll_views_fefo(ll_views_reader *r, const ll_fefo_filter *f,
                  ll_fefo_lot **out, size_t *n_out, char **next_cursor,
                  ll_err *err) {
  assert(r != NULL && f != NULL && out != NULL && n_out != NULL &&
         next_cursor != NULL);
  assert(f->limit >= 1 && f->limit <= LL_LIST_LIMIT_MAX);
  *out = NULL;
  *n_out = 0;
  *next_cursor = NULL;
  ll_buf prefix, start;
  ll_buf_init(&prefix);
  ll_buf_init(&start);
  ll_buf_put(&prefix, LL_VK_FEFO, strlen(LL_VK_FEFO));
  bool has_cursor = f->cursor != NULL && f->cursor[0] != '\0';
  if (has_cursor && !cursor_key(f->cursor, &start)) {
    ll_buf_free(&prefix);
    ll_buf_free(&start);
    return ll_err_set(err, LL_INVALID_FIELD,
                      "cursor is not one this list gave out");
  }
  fefo_scan s = {
      .r = r, .f = f, .skip = has_cursor ? &start : NULL, .err = err};
  ll_buf_init(&s.key);
  ll_buf_init(&s.val);
  s.rows = ll_xcalloc(f->limit, sizeof *s.rows);
  int rc = ll_views_reader_scan(r, &prefix, has_cursor ? &start : NULL,
                                collect_fefo, &s, err);
  if (rc == 0)
    rc = s.rc;
  ll_buf_free(&prefix);
  ll_buf_free(&start);
  ll_buf_free(&s.key);
  ll_buf_free(&s.val);
  if (rc != 0) {
    ll_fefo_lots_free(s.rows, s.n);
    free(s.last_key_cursor);
    return -1;
  }
  if (s.more) {
    *next_cursor = s.last_key_cursor;
    s.last_key_cursor = NULL;
  }
  free(s.last_key_cursor);
  *out = s.rows;
  *n_out = s.n;
  return 0;
}

char *ll_views_fefo_page_cursor(const ll_lot *lot) {
  ll_buf key;
  ll_buf_init(&key);
  fefo_key(&key, lot);
  char *cursor = key_cursor((const char *)key.data, key.len, lot);
  ll_buf_free(&key);
  return cursor;
}
