/* lot_dates.c — every date of the lots on hand, by date: what the date
 * alerts worker (services/alerts) reads to find what has come due without
 * listing every lot.
 *
 *   dates/<be64 at><u8 kind><P>\x1f<L>    (empty)  one per date of a lot
 *                                          with stock on hand
 *   datesk/<P>\x1f<L>                     be64 position, then u8 kind and
 *                                          be64 at per date: the lot's
 *                                          dates/ and datesn/ rows
 *   datesn/<be64 position><P>\x1f<L>      u8 kind and be64 at per date
 *
 * at is milliseconds with the sign bit flipped (sorted as numbers); kind
 * is an ll_views_date_kind. A date of a lot gets its dates/ row when the
 * lot has stock on hand and the date is set, and loses it when either
 * stops being so, in the same run as the lot row, so a snapshot's index
 * and lot rows agree.
 *
 * A reader that walked the index up to a date has still to learn of the
 * rows put in after it at dates it passed (a date moved earlier, a lot
 * back on hand after its date, a lot created with a date in the past).
 * datesn/ says which: whenever a lot gains a dates/ row, its datesn/ row
 * moves to the log position of that entry, so "the lots whose dates
 * entered the index after position N" is a walk from datesn/<N + 1>.
 * Each lot has at most one datesn/ row, so neither family grows with the
 * history, only with the lots on hand.
 *
 * The applier runs after lot_details.c and reads the lot row that has just
 * been written for the same entry. Dates change only by LotCreated and
 * LotUpdated, so a lot without dates that is not being updated has no
 * rows here, and its moves cost no read. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ll_event.h"
#include "ll_mem.h"
#include "views_internal.h"

#define AT_BYTES 8
#define DATE_BYTES (1 + AT_BYTES) /* u8 kind, be64 at */

/* A lot's dates as the index holds them, in kind order. */
typedef struct lot_dates {
  int n;
  uint8_t kind[LL_VIEWS_DATE_KINDS];
  uint64_t at[LL_VIEWS_DATE_KINDS]; /* sign bit flipped */
} lot_dates;

static uint64_t at_key(int64_t ms) {
  return (uint64_t)ms ^ (1ULL << 63);
}

static int64_t at_ms(uint64_t key) {
  return (int64_t)(key ^ (1ULL << 63));
}

static void lot_date_times(const ll_lot *lot,
                           const ll_opt_time *out[LL_VIEWS_DATE_KINDS]) {
  out[LL_VIEWS_DATE_ALERT] = &lot->alert_at;
  out[LL_VIEWS_DATE_USE_BY] = &lot->use_by_at;
  out[LL_VIEWS_DATE_REMOVAL] = &lot->removal_at;
  out[LL_VIEWS_DATE_EXPIRATION] = &lot->expiration_at;
}

/* The dates the index should hold for the lot: none without stock. */
static void want_dates(const ll_lot *lot, bool on_hand, lot_dates *d) {
  const ll_opt_time *times[LL_VIEWS_DATE_KINDS];
  lot_date_times(lot, times);
  d->n = 0;
  for (int k = 0; on_hand && k < LL_VIEWS_DATE_KINDS; k++)
    if (times[k]->set) {
      d->kind[d->n] = (uint8_t)k;
      d->at[d->n++] = at_key(times[k]->ms);
    }
}

static bool has_date(const lot_dates *d, uint8_t kind, uint64_t at) {
  for (int i = 0; i < d->n; i++)
    if (d->kind[i] == kind && d->at[i] == at)
      return true;
  return false;
}

static bool same_dates(const lot_dates *a, const lot_dates *b) {
  if (a->n != b->n)
    return false;
  for (int i = 0; i < a->n; i++)
    if (!has_date(b, a->kind[i], a->at[i]))
      return false;
  return true;
}

static void pack_dates(ll_buf *b, const lot_dates *d) {
  for (int i = 0; i < d->n; i++) {
    ll_buf_put_u8(b, d->kind[i]);
    ll_buf_put_be64(b, d->at[i]);
  }
}

static bool unpack_dates(const uint8_t *p, size_t n, lot_dates *d) {
  d->n = 0;
  if (n % DATE_BYTES != 0 || n / DATE_BYTES > LL_VIEWS_DATE_KINDS)
    return false;
  for (size_t i = 0; i < n; i += DATE_BYTES) {
    if (p[i] >= LL_VIEWS_DATE_KINDS)
      return false;
    d->kind[d->n] = p[i];
    d->at[d->n++] = ll_be64_decode(p + i + 1);
  }
  return true;
}

/* dates/<be64 at><u8 kind><P>\x1f<L> */
static void date_row_key(ll_buf *k, uint64_t at, uint8_t kind,
                         const char *product_id, const char *lot_id) {
  ll_buf_reset(k);
  ll_buf_put(k, LL_VK_DATES, strlen(LL_VK_DATES));
  ll_buf_put_be64(k, at);
  ll_buf_put_u8(k, kind);
  ll_buf_put(k, product_id, strlen(product_id));
  ll_buf_put_u8(k, (uint8_t)LL_VK_SEP);
  ll_buf_put(k, lot_id, strlen(lot_id));
}

/* datesn/<be64 position><P>\x1f<L> */
static void entered_key(ll_buf *k, uint64_t position, const char *product_id,
                        const char *lot_id) {
  ll_buf_reset(k);
  ll_buf_put(k, LL_VK_DATES_ENTERED, strlen(LL_VK_DATES_ENTERED));
  ll_buf_put_be64(k, position);
  if (product_id == NULL)
    return;
  ll_buf_put(k, product_id, strlen(product_id));
  ll_buf_put_u8(k, (uint8_t)LL_VK_SEP);
  ll_buf_put(k, lot_id, strlen(lot_id));
}

/* ---- the applier ---- */

/* Put the dates/ rows of want that have does not hold, delete those of
 * have that want does not; true when a row was put. */
static bool write_date_rows(ll_views_txn *t, const ll_lot *lot,
                            const lot_dates *have, const lot_dates *want) {
  ll_buf k;
  ll_buf_init(&k);
  bool added = false;
  for (int i = 0; i < have->n; i++)
    if (!has_date(want, have->kind[i], have->at[i])) {
      date_row_key(&k, have->at[i], have->kind[i], lot->product_id,
                   lot->lot_id);
      ll_views_txn_del(t, &k);
    }
  for (int i = 0; i < want->n; i++)
    if (!has_date(have, want->kind[i], want->at[i])) {
      date_row_key(&k, want->at[i], want->kind[i], lot->product_id,
                   lot->lot_id);
      ll_views_txn_put(t, &k, "", 0);
      added = true;
    }
  ll_buf_free(&k);
  return added;
}

/* Bring the lot's rows from have (its datesn/ row at have_position, when
 * indexed) to want, at log position `position`. */
static void write_lot(ll_views_txn *t, const ll_lot *lot, const ll_buf *of_key,
                      bool indexed, uint64_t have_position,
                      const lot_dates *have, const lot_dates *want,
                      uint64_t position) {
  bool added = write_date_rows(t, lot, have, want);
  ll_buf k, v;
  ll_buf_init(&k);
  ll_buf_init(&v);
  uint64_t at = added || !indexed ? position : have_position;
  if (indexed && (want->n == 0 || at != have_position)) {
    entered_key(&k, have_position, lot->product_id, lot->lot_id);
    ll_views_txn_del(t, &k);
  }
  if (want->n == 0) {
    ll_views_txn_del(t, of_key);
  } else {
    pack_dates(&v, want);
    entered_key(&k, at, lot->product_id, lot->lot_id);
    ll_views_txn_put(t, &k, v.data, v.len);
    ll_buf_reset(&v);
    ll_buf_put_be64(&v, at);
    pack_dates(&v, want);
    ll_views_txn_put(t, of_key, v.data, v.len);
  }
  ll_buf_free(&k);
  ll_buf_free(&v);
}

static bool any_date(const ll_lot *lot) {
  return lot->alert_at.set || lot->use_by_at.set || lot->removal_at.set ||
         lot->expiration_at.set;
}

/* The lot's datesk/ row: *indexed false when it has none. */
static int read_have(ll_views_txn *t, const ll_buf *of_key, bool *indexed,
                     uint64_t *position, lot_dates *have, ll_err *err) {
  ll_buf v;
  ll_buf_init(&v);
  have->n = 0;
  *position = 0;
  int rc = ll_views_txn_get(t, of_key, &v, indexed, err);
  if (rc == 0 && *indexed &&
      (v.len < AT_BYTES ||
       !unpack_dates(v.data + AT_BYTES, v.len - AT_BYTES, have)))
    rc = ll_fail(err, LL_ERR_CORRUPT, "views: corrupt dates index record");
  else if (rc == 0 && *indexed)
    *position = ll_be64_decode(v.data);
  ll_buf_free(&v);
  return rc;
}

int ll_lot_dates_apply(ll_views_txn *t, const ll_entry *e, ll_err *err) {
  const ll_event *ev = &e->event;
  if (ev->type == LL_EV_LOT_CREATED)
    return 0; /* nothing on hand yet */
  ll_buf lot_key, of_key, v;
  ll_buf_init(&lot_key);
  ll_buf_init(&of_key);
  ll_buf_init(&v);
  ll_lot lot;
  ll_lot_init(&lot);
  bool found = false, indexed = false;
  int rc = 0;
  if (!ll_views_key2(&lot_key, LL_VK_LOT, ev->product_id, ev->lot_id) ||
      !ll_views_key2(&of_key, LL_VK_DATES_OF, ev->product_id, ev->lot_id))
    rc = ll_fail(err, LL_ERR_CORRUPT,
                 "views: log position %llu: unusable lot_id for the dates "
                 "index",
                 (unsigned long long)e->position);
  else
    rc = ll_views_txn_get(t, &lot_key, &v, &found, err);
  if (rc == 0 &&
      (!found || !ll_lot_unpack(v.data, v.len, &lot) || lot.lot_id == NULL))
    rc = ll_fail(err, LL_ERR_CORRUPT,
                 "views: log position %llu: the lot row of %s is missing "
                 "or corrupt",
                 (unsigned long long)e->position, ev->lot_id);
  if (rc == 0 && (any_date(&lot) || ev->type == LL_EV_LOT_UPDATED)) {
    lot_dates have, want;
    uint64_t have_position = 0;
    want_dates(&lot, lot.on_hand_micro > 0, &want);
    rc = read_have(t, &of_key, &indexed, &have_position, &have, err);
    if (rc == 0 && !(indexed ? same_dates(&have, &want) : want.n == 0))
      write_lot(t, &lot, &of_key, indexed, have_position, &have, &want,
                e->position);
  }
  ll_lot_free(&lot);
  ll_buf_free(&lot_key);
  ll_buf_free(&of_key);
  ll_buf_free(&v);
  return rc;
}

/* ---- walks ---- */

typedef struct dates_walk {
  ll_dates_walk *w;
  ll_buf *from; /* set to where the next walk starts */
  size_t rows;  /* rows read by this walk */
  bool entered; /* datesn/ rows, else dates/ */
  bool done, corrupt;
} dates_walk;

static void add_date(ll_dates_walk *w, const char *ids, size_t ids_len,
                     uint8_t kind, uint64_t at, bool *ok) {
  char *product_id = NULL, *lot_id = NULL;
  if (!ll_views_split2(ids, ids_len, &product_id, &lot_id)) {
    *ok = false;
    return;
  }
  if (w->n == w->cap) {
    w->cap = w->cap ? w->cap * 2 : 64;
    w->dates = ll_xrealloc(w->dates, w->cap * sizeof *w->dates);
  }
  w->dates[w->n++] = (ll_lot_date){.product_id = product_id,
                                   .lot_id = lot_id,
                                   .kind = (ll_views_date_kind)kind,
                                   .at_ms = at_ms(at)};
}

/* A dates/ row: taken when at or before until_ms, else the walk is done
 * (the rows are in date order). */
static bool take_date_row(dates_walk *s, ll_dates_walk *w, const char *k,
                          size_t klen) {
  size_t p = strlen(LL_VK_DATES);
  if (klen <= p + DATE_BYTES || (uint8_t)k[p + AT_BYTES] >= LL_VIEWS_DATE_KINDS)
    return !(s->corrupt = true);
  uint64_t at = ll_be64_decode(k + p);
  if (at_ms(at) > w->until_ms) {
    s->done = true;
    return false;
  }
  bool ok = true;
  add_date(w, k + p + DATE_BYTES, klen - p - DATE_BYTES,
           (uint8_t)k[p + AT_BYTES], at, &ok);
  s->corrupt = !ok;
  return ok;
}

/* A datesn/ row: its dates at or before until_ms are taken (the later
 * ones a walk of dates/ finds when they come due). */
static bool take_entered_row(dates_walk *s, ll_dates_walk *w, const char *k,
                             size_t klen, const char *v, size_t vlen) {
  size_t p = strlen(LL_VK_DATES_ENTERED);
  lot_dates d;
  if (klen <= p + AT_BYTES || !unpack_dates((const uint8_t *)v, vlen, &d))
    return !(s->corrupt = true);
  bool ok = true;
  for (int i = 0; ok && i < d.n; i++)
    if (at_ms(d.at[i]) <= w->until_ms)
      add_date(w, k + p + AT_BYTES, klen - p - AT_BYTES, d.kind[i], d.at[i],
               &ok);
  s->corrupt = !ok;
  return ok;
}

static bool walk_row(const char *k, size_t klen, const char *v, size_t vlen,
                     void *arg) {
  dates_walk *s = arg;
  ll_dates_walk *w = s->w;
  if (s->rows == w->limit)
    return false; /* not done: the next walk goes on from here */
  s->rows++;
  w->rows_read++;
  bool go = s->entered ? take_entered_row(s, w, k, klen, v, vlen)
                       : take_date_row(s, w, k, klen);
  if (go) { /* the next walk starts right after this row */
    ll_buf_reset(s->from);
    ll_buf_put(s->from, k, klen);
    ll_buf_put_u8(s->from, 0);
  }
  return go;
}

static int walk(ll_views_reader *r, ll_dates_walk *w, bool entered,
                ll_err *err) {
  assert(w->limit > 0);
  const char *family = entered ? LL_VK_DATES_ENTERED : LL_VK_DATES;
  ll_buf prefix;
  ll_buf_init(&prefix);
  ll_buf_put(&prefix, family, strlen(family));
  if (entered && w->from.len == 0) /* a first walk starts at the reader */
    entered_key(&w->from, ll_views_reader_position(r) + 1, NULL, NULL);
  dates_walk s = {.w = w, .from = &w->from, .entered = entered};
  ll_buf start;
  ll_buf_init(&start);
  ll_buf_put(&start, w->from.data, w->from.len);
  int rc = ll_views_reader_scan(r, &prefix, w->from.len ? &start : NULL,
                                walk_row, &s, err);
  if (rc == 0 && s.corrupt)
    rc = ll_fail(err, LL_ERR_CORRUPT, "views: corrupt dates index row");
  /* Done unless the limit stopped the walk: what follows was not read. */
  w->done = rc == 0 && (s.done || s.rows < w->limit);
  if (w->done && entered)
    entered_key(&w->from, ll_views_reader_position(r) + 1, NULL, NULL);
  else if (w->done) { /* on past until_ms: later dates, or a clock set back */
    ll_buf_reset(&w->from);
    ll_buf_put(&w->from, LL_VK_DATES, strlen(LL_VK_DATES));
    uint64_t next = at_key(w->until_ms);
    ll_buf_put_be64(&w->from, next == UINT64_MAX ? next : next + 1);
  }
  ll_buf_free(&prefix);
  ll_buf_free(&start);
  return rc;
}

int ll_views_dates_due(ll_views_reader *r, ll_dates_walk *w, ll_err *err) {
  return walk(r, w, false, err);
}

int ll_views_dates_entered(ll_views_reader *r, ll_dates_walk *w, ll_err *err) {
  return walk(r, w, true, err);
}

void ll_dates_walk_init(ll_dates_walk *w, size_t limit) {
  memset(w, 0, sizeof *w);
  ll_buf_init(&w->from);
  w->limit = limit;
}

void ll_dates_walk_clear(ll_dates_walk *w) {
  for (size_t i = 0; i < w->n; i++) {
    free(w->dates[i].product_id);
    free(w->dates[i].lot_id);
  }
  w->n = 0;
}

void ll_dates_walk_restart(ll_dates_walk *w) {
  ll_buf_reset(&w->from);
}

void ll_dates_walk_free(ll_dates_walk *w) {
  ll_dates_walk_clear(w);
  free(w->dates);
  ll_buf_free(&w->from);
  memset(w, 0, sizeof *w);
}
