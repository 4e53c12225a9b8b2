/* lot_history.c — every accepted event of a lot, oldest first, and the
 * lot's locations as they stood at a past moment.
 *
 * One row per event that names the lot (its LotCreated, every LotUpdated,
 * every StockMoved):
 *   hist/<product_id>\x1f<lot_id>\x1f<be64 position>
 *                                     svar recorded_at_ms, svar partition,
 *                                     uvar task position, ll_event_pack()
 * The big-endian position sorts the rows in log order within the lot, so
 * the history is one prefix scan and a page starts with one seek. The
 * value is the event as the log holds it (normalized: moves carry lot_id),
 * plus the time the command consumer appended it, which is what "as of a
 * time" is measured against.
 *
 * As of: replaying the lot's rows up to a cut gives what the Locations view
 * showed at that moment, because that view is a sum of the same moves. The
 * cut is a log position (entries <= P), or a time: the rows are taken in
 * log order while recorded_at <= T, stopping at the first one recorded
 * later. recorded_at is the log clock (docs/concepts.md, "Log time"),
 * non-decreasing along a task, and stopping at the first later entry
 * yields a state the view really showed, never a mix of before and after.
 * A task position (a token P:N) cuts the same way: the lot's rows are all
 * of one task (its product's partition), in task order.
 * The replay sorts the moves' ends by location and adds them up, so it is
 * O(n log n) in the lot's moves whatever the number of locations. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ll_decimal.h"
#include "ll_event.h"
#include "ll_mem.h"
#include "views_internal.h"

static bool history_prefix(ll_buf *key, const char *product_id,
                           const char *lot_id) {
  if (!ll_views_key2(key, LL_VK_HISTORY, product_id, lot_id))
    return false;
  ll_buf_put_u8(key, (uint8_t)LL_VK_SEP);
  return true;
}

int ll_lot_history_apply(ll_views_txn *t, const ll_entry *e, ll_err *err) {
  const ll_event *ev = &e->event;
  if (ev->lot_id == NULL)
    return ll_fail(
        err, LL_ERR_CORRUPT, "views: log position %llu: %s without lot_id",
        (unsigned long long)e->position, ll_event_type_name(ev->type));
  ll_buf key, val;
  ll_buf_init(&key);
  ll_buf_init(&val);
  int rc = 0;
  if (!history_prefix(&key, ev->product_id, ev->lot_id)) {
    rc = ll_fail(err, LL_ERR_CORRUPT,
                 "views: log position %llu: unusable lot_id for the "
                 "history",
                 (unsigned long long)e->position);
  } else {
    ll_buf_put_be64(&key, e->position);
    ll_buf_put_svar(&val, e->recorded_at_ms);
    ll_buf_put_svar(&val, e->partition);
    ll_buf_put_uvar(&val, e->task_position);
    ll_event_pack(ev, &val);
    ll_views_txn_put(t, &key, val.data, val.len);
  }
  ll_buf_free(&key);
  ll_buf_free(&val);
  return rc;
}

/* ---- reading rows ---- */

/* Decode one history row; the position is the key's last 8 bytes. */
static bool decode_row(const char *k, size_t klen, const ll_buf *prefix,
                       const char *v, size_t vlen, ll_history_entry *out) {
  if (klen != prefix->len + 8)
    return false;
  ll_rd rd;
  ll_rd_init(&rd, v, vlen);
  memset(out, 0, sizeof *out);
  out->position = ll_be64_decode(k + prefix->len);
  int64_t partition;
  if (!ll_rd_svar(&rd, &out->recorded_at_ms) || !ll_rd_svar(&rd, &partition) ||
      partition < INT32_MIN || partition > INT32_MAX ||
      !ll_rd_uvar(&rd, &out->task_position))
    return false;
  out->partition = (int32_t)partition;
  return ll_event_unpack(rd.p, ll_rd_left(&rd), &out->event);
}

bool ll_history_after(const ll_history_entry *h, const ll_as_of *at) {
  if (at->by_time)
    return h->recorded_at_ms > at->time_ms;
  return at->by_task ? h->task_position > at->task_position
                     : h->position > at->position;
}

bool ll_history_before(const ll_history_entry *h, const ll_as_of *at) {
  if (at->by_time)
    return h->recorded_at_ms < at->time_ms;
  return at->by_task ? h->task_position < at->task_position
                     : h->position < at->position;
}

void ll_history_free(ll_history_entry *a, size_t n) {
  if (a == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    ll_event_free(&a[i].event);
  free(a);
}

typedef struct page_scan {
  const ll_buf *prefix;
  ll_history_entry *rows;
  size_t n, limit;
  bool more;
  bool corrupt;
} page_scan;

static bool collect_page(const char *k, size_t klen, const char *v, size_t vlen,
                         void *arg) {
  page_scan *s = arg;
  if (s->n == s->limit) {
    s->more = true;
    return false;
  }
  if (!decode_row(k, klen, s->prefix, v, vlen, &s->rows[s->n])) {
    s->corrupt = true;
    return false;
  }
  s->n++;
  return true;
}

int ll_views_lot_history(ll_views_reader *r, const char *product_id,
                         const char *lot_id, uint64_t after_position,
                         size_t limit, ll_history_entry **out, size_t *n_out,
                         bool *more, ll_err *err) {
  assert(r != NULL && lot_id != NULL && out != NULL && n_out != NULL &&
         more != NULL);
  assert(limit >= 1 && limit <= LL_LIST_LIMIT_MAX);
  *out = NULL;
  *n_out = 0;
  *more = false;
  ll_buf prefix, start;
  ll_buf_init(&prefix);
  ll_buf_init(&start);
  if (!history_prefix(&prefix, product_id, lot_id)) {
    ll_buf_free(&prefix);
    return 0; /* no lot id holds the separator */
  }
  ll_buf_put(&start, prefix.data, prefix.len);
  ll_buf_put_be64(&start, after_position == UINT64_MAX ? UINT64_MAX
                                                       : after_position + 1);
  page_scan s = {.prefix = &prefix, .limit = limit};
  s.rows = ll_xcalloc(limit, sizeof *s.rows);
  int rc = ll_views_reader_scan(r, &prefix, &start, collect_page, &s, err);
  if (rc == 0 && s.corrupt)
    rc = ll_fail(err, LL_ERR_CORRUPT, "views: corrupt history record of lot %s",
                 lot_id);
  ll_buf_free(&prefix);
  ll_buf_free(&start);
  if (rc != 0) {
    ll_history_free(s.rows, s.n);
    return -1;
  }
  *out = s.rows;
  *n_out = s.n;
  *more = s.more;
  return 0;
}

/* ---- every row, for the reports ---- */

typedef struct each_scan {
  const ll_buf *prefix;
  ll_history_fn fn;
  void *arg;
  bool corrupt;
} each_scan;

static bool each_row(const char *k, size_t klen, const char *v, size_t vlen,
                     void *arg) {
  each_scan *s = arg;
  ll_history_entry h;
  if (!decode_row(k, klen, s->prefix, v, vlen, &h)) {
    s->corrupt = true;
    return false;
  }
  bool more = s->fn(&h, s->arg);
  ll_event_free(&h.event);
  return more;
}

int ll_views_lot_history_each(ll_views_reader *r, const char *product_id,
                              const char *lot_id, ll_history_fn fn, void *arg,
                              ll_err *err) {
  ll_buf prefix;
  ll_buf_init(&prefix);
  if (!history_prefix(&prefix, product_id, lot_id)) {
    ll_buf_free(&prefix);
    return 0;
  }
  each_scan s = {.prefix = &prefix, .fn = fn, .arg = arg};
  int rc = ll_views_reader_scan(r, &prefix, NULL, each_row, &s, err);
  if (rc == 0 && s.corrupt)
    rc = ll_fail(err, LL_ERR_CORRUPT, "views: corrupt history record of lot %s",
                 lot_id);
  ll_buf_free(&prefix);
  return rc;
}

/* ---- as of ---- */

/* One end of a move: delta_micro at a location. */
typedef struct move_end {
  char *location;
  ll_usage usage;
  int64_t delta_micro;
} move_end;

typedef struct replay {
  const ll_buf *prefix;
  const ll_as_of *at;
  ll_lot_as_of *out;
  move_end *ends;
  size_t n_ends, cap_ends;
  bool corrupt, overflow;
} replay;

static void push_end(replay *rp, const ll_location *loc, int64_t delta) {
  if (rp->n_ends == rp->cap_ends) {
    rp->cap_ends = rp->cap_ends == 0 ? 16 : rp->cap_ends * 2;
    rp->ends = ll_xrealloc(rp->ends, rp->cap_ends * sizeof *rp->ends);
  }
  rp->ends[rp->n_ends++] = (move_end){.location = ll_strdup(loc->id),
                                      .usage = loc->usage,
                                      .delta_micro = delta};
}

static bool replay_row(const char *k, size_t klen, const char *v, size_t vlen,
                       void *arg) {
  replay *rp = arg;
  ll_history_entry h;
  if (!decode_row(k, klen, rp->prefix, v, vlen, &h)) {
    rp->corrupt = true;
    return false;
  }
  if (rp->out->partition < 0)
    rp->out->partition = h.partition;
  if (ll_history_after(&h, rp->at)) {
    ll_event_free(&h.event);
    return false;
  }
  ll_lot_as_of *out = rp->out;
  const ll_event *ev = &h.event;
  const char *product = NULL;
  if (ev->type == LL_EV_LOT_CREATED) {
    out->existed = true;
    product = ev->product_id;
  } else if (ev->type == LL_EV_LOT_UPDATED || ev->type == LL_EV_LOT_HELD ||
             ev->type == LL_EV_LOT_RELEASED) {
    /* No quantity; a lot's product never changes (docs/events.md). */
  } else if (ev->quantity_micro > 0 && ev->from.id != NULL &&
             ev->to.id != NULL) {
    push_end(rp, &ev->from, -ev->quantity_micro);
    push_end(rp, &ev->to, ev->quantity_micro);
    int64_t on_hand = out->on_hand_micro;
    bool ok = true;
    if (ll_usage_is_stock(ev->to.usage))
      ok = ok && ll_decimal_add(on_hand, ev->quantity_micro, &on_hand);
    if (ll_usage_is_stock(ev->from.usage))
      ok = ok && ll_decimal_sub(on_hand, ev->quantity_micro, &on_hand);
    if (!ok)
      rp->overflow = true;
    out->on_hand_micro = on_hand;
  } else {
    rp->corrupt = true;
  }
  if (product != NULL && product[0] != '\0') {
    free(out->product_id);
    out->product_id = ll_strdup(product);
  }
  out->last_event_position = h.position;
  out->last_event_task_position = h.task_position;
  ll_event_free(&h.event);
  return !rp->corrupt && !rp->overflow;
}

static int compare_ends(const void *a, const void *b) {
  const move_end *x = a, *y = b;
  return strcmp(x->location, y->location);
}

/* Sum the ends per location into the answer's locations list. */
static int sum_ends(replay *rp, bool include_virtual, ll_err *err) {
  if (rp->n_ends > 0) /* qsort wants a real array, even for zero items */
    qsort(rp->ends, rp->n_ends, sizeof *rp->ends, compare_ends);
  ll_lot_as_of *out = rp->out;
  for (size_t i = 0; i < rp->n_ends;) {
    size_t j = i;
    int64_t sum = 0;
    for (; j < rp->n_ends &&
           strcmp(rp->ends[j].location, rp->ends[i].location) == 0;
         j++) {
      if (!ll_decimal_add(sum, rp->ends[j].delta_micro, &sum))
        return ll_fail(err, LL_ERR_CORRUPT,
                       "views: quantity at %s overflows in the history",
                       rp->ends[i].location);
    }
    ll_usage usage = rp->ends[i].usage;
    if (sum != 0 && (include_virtual || ll_usage_is_stock(usage))) {
      out->locations = ll_xrealloc(out->locations, (out->n_locations + 1) *
                                                       sizeof *out->locations);
      out->locations[out->n_locations++] =
          (ll_lot_location){.location = ll_strdup(rp->ends[i].location),
                            .usage = usage,
                            .quantity_micro = sum};
    }
    i = j;
  }
  return 0;
}

void ll_lot_as_of_free(ll_lot_as_of *a) {
  if (a == NULL)
    return;
  free(a->product_id);
  ll_lot_locations_free(a->locations, a->n_locations);
  memset(a, 0, sizeof *a);
}

int ll_views_lot_as_of(ll_views_reader *r, const char *product_id,
                       const char *lot_id, const ll_as_of *at,
                       bool include_virtual, ll_lot_as_of *out, ll_err *err) {
  assert(r != NULL && lot_id != NULL && at != NULL && out != NULL);
  memset(out, 0, sizeof *out);
  out->partition = -1;
  ll_buf prefix;
  ll_buf_init(&prefix);
  if (!history_prefix(&prefix, product_id, lot_id)) {
    ll_buf_free(&prefix);
    return 0;
  }
  replay rp = {.prefix = &prefix, .at = at, .out = out};
  int rc = ll_views_reader_scan(r, &prefix, NULL, replay_row, &rp, err);
  if (rc == 0 && rp.corrupt)
    rc = ll_fail(err, LL_ERR_CORRUPT, "views: corrupt history record of lot %s",
                 lot_id);
  if (rc == 0 && rp.overflow)
    rc = ll_fail(err, LL_ERR_CORRUPT, "views: on hand of lot %s overflows",
                 lot_id);
  if (rc == 0 && out->existed)
    rc = sum_ends(&rp, include_virtual, err);
  for (size_t i = 0; i < rp.n_ends; i++)
    free(rp.ends[i].location);
  free(rp.ends);
  ll_buf_free(&prefix);
  if (rc != 0 || !out->existed) {
    int32_t partition = out->partition; /* the free clears it */
    ll_lot_as_of_free(out);
    out->partition = partition;
    return rc;
  }
  return 0;
}
