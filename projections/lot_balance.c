/* lot_balance.c — balances over a window of the log, and what a location
 * held at a past moment.
 *
 * One index of its own, for both ends of every move:
 *   locl/<location>\x1f<lot_id>\x1f<product_id>   (empty)
 * "this lot was once at this location", written by the quantity fold
 * (lot_locations.c) when the lot comes to or leaves a location where it
 * had no row. It is never deleted, so a report
 * about the past finds lots that have left since. Everything else is
 * replayed from the lots' histories (lot_history.c), which hold every move
 * in log order with its recorded_at:
 *
 *   - a lot's balance (ERPNext's batch-wise balance history): per location,
 *     opening = what the moves before the window left there, in and out =
 *     what the window's moves brought and took, closing = opening + in -
 *     out;
 *   - a location's balance: the same per lot, for the lots of the index,
 *     summed over the location (and, with children, the ones below it);
 *   - a location as of a moment: each indexed lot replayed up to the cut.
 *
 * A window's ends are log positions or times, as as_of is: from takes the
 * entries at or after it, to those at or before it (times against each
 * entry's recorded_at, the log clock, so the answer does not depend on
 * when it is asked). A location report looks at LL_REPORT_LOTS_MAX lots at
 * most and says when it stopped there. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ll_decimal.h"
#include "ll_event.h"
#include "ll_mem.h"
#include "views_internal.h"

/* ---- apply ---- */

bool ll_lot_balance_ever_key(ll_buf *key, const ll_entry *e,
                             const ll_location *loc) {
  const ll_event *ev = &e->event;
  return ll_views_key3(key, LL_VK_LOC_EVER, loc->id, ev->lot_id,
                       ev->product_id);
}

/* ---- the window ---- */

enum { BEFORE = -1, INSIDE = 0, AFTER = 1 };

static int place_of(const ll_history_entry *h, const ll_window *w) {
  if (w->has_to && ll_history_after(h, &w->to))
    return AFTER;
  if (w->has_from && ll_history_before(h, &w->from))
    return BEFORE;
  return INSIDE;
}

/* Is loc the location, or (children) below it? */
static bool location_matches(const char *loc, const char *location,
                             bool children) {
  size_t n = strlen(location);
  if (strncmp(loc, location, n) != 0)
    return false;
  return loc[n] == '\0' || (children && loc[n] == '/');
}

/* Add one end of a move (delta signed) to a balance row. */
static bool add_end(ll_balance_row *row, int place, int64_t delta) {
  int64_t q = delta < 0 ? -delta : delta;
  bool ok = true;
  if (place == BEFORE)
    ok = ll_decimal_add(row->opening_micro, delta, &row->opening_micro);
  else if (delta > 0)
    ok = ll_decimal_add(row->in_micro, q, &row->in_micro);
  else
    ok = ll_decimal_add(row->out_micro, q, &row->out_micro);
  return ok;
}

static bool close_row(ll_balance_row *row) {
  int64_t c = 0;
  bool ok = ll_decimal_add(row->opening_micro, row->in_micro, &c) &&
            ll_decimal_sub(c, row->out_micro, &c);
  row->closing_micro = c;
  return ok;
}

static bool row_is_zero(const ll_balance_row *row) {
  return row->opening_micro == 0 && row->in_micro == 0 && row->out_micro == 0 &&
         row->closing_micro == 0;
}

void ll_balance_free(ll_balance *b) {
  for (size_t i = 0; i < b->n; i++) {
    free(b->rows[i].location);
    free(b->rows[i].lot_id);
    free(b->rows[i].product_id);
  }
  free(b->rows);
  memset(b, 0, sizeof *b);
}

/* ---- a lot's balance ---- */

typedef struct lot_scan {
  const ll_window *w;
  bool all;
  ll_balance *out;
  bool overflow;
} lot_scan;

static ll_balance_row *row_for_location(ll_balance *b, const ll_location *loc) {
  for (size_t i = 0; i < b->n; i++)
    if (strcmp(b->rows[i].location, loc->id) == 0)
      return &b->rows[i];
  b->rows = ll_xrealloc(b->rows, (b->n + 1) * sizeof *b->rows);
  ll_balance_row *row = &b->rows[b->n++];
  memset(row, 0, sizeof *row);
  row->location = ll_strdup(loc->id);
  row->usage = loc->usage;
  return row;
}

static bool lot_move(const ll_history_entry *h, void *arg) {
  lot_scan *s = arg;
  const ll_event *ev = &h->event;
  int place = place_of(h, s->w);
  if (place == AFTER)
    return false; /* the history is in log order */
  if (ev->type != LL_EV_STOCK_MOVED)
    return true;
  const ll_location *ends[2] = {&ev->from, &ev->to};
  for (int i = 0; i < 2; i++) {
    if (!s->all && !ll_usage_is_stock(ends[i]->usage))
      continue;
    int64_t delta = i == 0 ? -ev->quantity_micro : ev->quantity_micro;
    if (!add_end(row_for_location(s->out, ends[i]), place, delta))
      s->overflow = true;
  }
  return !s->overflow;
}

static int compare_by_location(const void *a, const void *b) {
  return strcmp(((const ll_balance_row *)a)->location,
                ((const ll_balance_row *)b)->location);
}

/* Close every row, drop the zero ones. */
static bool finish(ll_balance *b) {
  size_t kept = 0;
  bool ok = true;
  for (size_t i = 0; i < b->n; i++) {
    ok = close_row(&b->rows[i]) && ok;
    if (row_is_zero(&b->rows[i])) {
      free(b->rows[i].location);
      free(b->rows[i].lot_id);
      free(b->rows[i].product_id);
    } else {
      b->rows[kept++] = b->rows[i];
    }
  }
  b->n = kept;
  return ok;
}

int ll_views_lot_balance(ll_views_reader *r, const char *product_id,
                         const char *lot_id, const ll_window *w, bool all,
                         ll_balance *out, ll_err *err) {
  memset(out, 0, sizeof *out);
  lot_scan s = {.w = w, .all = all, .out = out};
  int rc = ll_views_lot_history_each(r, product_id, lot_id, lot_move, &s, err);
  if (rc == 0 && (s.overflow || !finish(out)))
    rc = ll_fail(err, LL_ERR_CORRUPT, "views: a balance of lot %s overflows",
                 lot_id);
  if (rc != 0) {
    ll_balance_free(out);
    return -1;
  }
  if (out->n > 1)
    qsort(out->rows, out->n, sizeof *out->rows, compare_by_location);
  return 0;
}

/* ---- the lots once at a location ---- */

typedef struct lot_ref {
  char *lot_id;
  char *product_id;
} lot_ref;

typedef struct ever_scan {
  const char *location;
  size_t prefix_len; /* "locl/" + location */
  bool children;
  lot_ref *lots;
  size_t n;
  bool truncated, corrupt;
} ever_scan;

/* Rows "locl/<loc>\x1f<L>\x1f<P>" with <loc> the location or below it. */
static bool collect_ever(const char *k, size_t klen, const char *v, size_t vlen,
                         void *arg) {
  (void)v;
  (void)vlen;
  ever_scan *s = arg;
  const char *rest = k + s->prefix_len, *end = k + klen;
  if (rest < end && *rest == '/') {
    if (!s->children)
      return true;
    rest = memchr(rest, LL_VK_SEP, (size_t)(end - rest));
    if (rest == NULL)
      return (s->corrupt = true, false);
  } else if (rest >= end || *rest != LL_VK_SEP) {
    return true; /* "WH/Stock2" is not under "WH/Stock" */
  }
  const char *lot = rest + 1;
  const char *sep = memchr(lot, LL_VK_SEP, (size_t)(end - lot));
  if (sep == NULL)
    return (s->corrupt = true, false);
  if (s->n == LL_REPORT_LOTS_MAX) {
    s->truncated = true;
    return false;
  }
  s->lots = ll_xrealloc(s->lots, (s->n + 1) * sizeof *s->lots);
  s->lots[s->n].lot_id = ll_strndup(lot, (size_t)(sep - lot));
  s->lots[s->n].product_id = ll_strndup(sep + 1, (size_t)(end - sep - 1));
  s->n++;
  return true;
}

static int compare_refs(const void *a, const void *b) {
  const lot_ref *x = a, *y = b;
  int c = strcmp(x->lot_id, y->lot_id);
  return c != 0 ? c : strcmp(x->product_id, y->product_id);
}

static void free_refs(lot_ref *lots, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(lots[i].lot_id);
    free(lots[i].product_id);
  }
  free(lots);
}

/* The distinct lots once at location (or below it), in (lot_id,
 * product_id) order. */
static int lots_ever_at(ll_views_reader *r, const char *location, bool children,
                        ever_scan *s, ll_err *err) {
  memset(s, 0, sizeof *s);
  s->location = location;
  s->children = children;
  ll_buf prefix;
  ll_buf_init(&prefix);
  if (!ll_views_key1(&prefix, LL_VK_LOC_EVER, location)) {
    ll_buf_free(&prefix);
    return 0; /* no location id holds the separator */
  }
  s->prefix_len = prefix.len;
  int rc = ll_views_reader_scan(r, &prefix, NULL, collect_ever, s, err);
  ll_buf_free(&prefix);
  if (rc == 0 && s->corrupt)
    rc = ll_fail(err, LL_ERR_CORRUPT, "views: corrupt location index of %s",
                 location);
  if (s->n > 1)
    qsort(s->lots, s->n, sizeof *s->lots, compare_refs);
  size_t kept = 0;
  for (size_t i = 0; i < s->n; i++) {
    if (kept > 0 && compare_refs(&s->lots[kept - 1], &s->lots[i]) == 0) {
      free(s->lots[i].lot_id);
      free(s->lots[i].product_id);
    } else {
      s->lots[kept++] = s->lots[i];
    }
  }
  s->n = kept;
  return rc;
}

/* ---- a location's balance, and its lots as of a moment ---- */

typedef struct at_location_scan {
  const char *location;
  bool children;
  const ll_window *w;
  ll_balance_row row;    /* the balance */
  int64_t on_hand_micro; /* as of: the INTERNAL/TRANSIT part of closing */
  bool usage_known;
  bool overflow;
} at_location_scan;

static bool location_move(const ll_history_entry *h, void *arg) {
  at_location_scan *s = arg;
  const ll_event *ev = &h->event;
  int place = place_of(h, s->w);
  if (place == AFTER)
    return false;
  if (ev->type != LL_EV_STOCK_MOVED)
    return true;
  const ll_location *ends[2] = {&ev->from, &ev->to};
  for (int i = 0; i < 2; i++) {
    if (!location_matches(ends[i]->id, s->location, s->children))
      continue;
    int64_t delta = i == 0 ? -ev->quantity_micro : ev->quantity_micro;
    if (!add_end(&s->row, place, delta) ||
        (ll_usage_is_stock(ends[i]->usage) &&
         !ll_decimal_add(s->on_hand_micro, delta, &s->on_hand_micro)))
      s->overflow = true;
    s->row.usage = ends[i]->usage;
    s->usage_known = true;
  }
  return !s->overflow;
}

/* Replay one lot over the window at the location. */
static int replay_at_location(ll_views_reader *r, const lot_ref *lot,
                              at_location_scan *s, ll_err *err) {
  int rc = ll_views_lot_history_each(r, lot->product_id, lot->lot_id,
                                     location_move, s, err);
  if (rc == 0 && (s->overflow || !close_row(&s->row)))
    rc = ll_fail(err, LL_ERR_CORRUPT,
                 "views: a balance of lot %s at %s overflows", lot->lot_id,
                 s->location);
  return rc;
}

int ll_views_location_balance(ll_views_reader *r, const char *location,
                              bool children, const ll_window *w,
                              ll_balance *out, ll_err *err) {
  memset(out, 0, sizeof *out);
  ever_scan ever;
  int rc = lots_ever_at(r, location, children, &ever, err);
  for (size_t i = 0; rc == 0 && i < ever.n; i++) {
    at_location_scan s = {.location = location, .children = children, .w = w};
    rc = replay_at_location(r, &ever.lots[i], &s, err);
    if (rc != 0 || row_is_zero(&s.row))
      continue;
    s.row.lot_id = ever.lots[i].lot_id;
    s.row.product_id = ever.lots[i].product_id;
    ever.lots[i].lot_id = ever.lots[i].product_id = NULL;
    out->rows = ll_xrealloc(out->rows, (out->n + 1) * sizeof *out->rows);
    out->rows[out->n++] = s.row;
  }
  out->truncated = ever.truncated;
  free_refs(ever.lots, ever.n);
  if (rc != 0)
    ll_balance_free(out);
  return rc;
}

int ll_views_location_lots_as_of(ll_views_reader *r, const char *location,
                                 bool children, const ll_as_of *at,
                                 ll_location_lot **out, size_t *n_out,
                                 bool *truncated, ll_err *err) {
  *out = NULL;
  *n_out = 0;
  ever_scan ever;
  int rc = lots_ever_at(r, location, children, &ever, err);
  ll_window w = {.has_to = true, .to = *at};
  for (size_t i = 0; rc == 0 && i < ever.n; i++) {
    at_location_scan s = {.location = location, .children = children, .w = &w};
    rc = replay_at_location(r, &ever.lots[i], &s, err);
    if (rc != 0 || s.row.closing_micro == 0)
      continue;
    *out = ll_xrealloc(*out, (*n_out + 1) * sizeof **out);
    (*out)[(*n_out)++] = (ll_location_lot){
        .lot_id = ever.lots[i].lot_id,
        .product_id = ever.lots[i].product_id,
        .usage = s.row.usage,
        .quantity_micro = s.row.closing_micro,
        .on_hand_micro = s.on_hand_micro,
    };
    ever.lots[i].lot_id = ever.lots[i].product_id = NULL;
  }
  *truncated = ever.truncated;
  free_refs(ever.lots, ever.n);
  if (rc != 0) {
    ll_location_lots_free(*out, *n_out);
    *out = NULL;
    *n_out = 0;
  }
  return rc;
}
