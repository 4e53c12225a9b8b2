/* ll_event.c — life cycle and storage form of events and lots.
 *
 * Storage form (ll_buf encoding): a version byte, then every field in a
 * fixed order. A new field means a new version, and unpack keeps reading
 * the old ones. Version 2 appends, to an event, reason, partner, uom and
 * properties, and to a lot, its hold, uom and properties. Version 1 is
 * still written whenever none of them is set: the packed form is what the
 * redelivery digest is computed over, so an event as old producers send it
 * keeps the digest recorded before version 2 existed. */
#include "ll_event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ll_mem.h"
#include "ll_sha256.h"

#define EVENT_FORMAT_V1 1
#define EVENT_FORMAT_V2 2
#define LOT_FORMAT_V1 1
#define LOT_FORMAT_V2 2

/* ---- properties ---- */

void ll_props_free(ll_props *p) {
  for (size_t i = 0; i < p->n; i++) {
    free(p->items[i].key);
    free(p->items[i].value);
  }
  free(p->items);
  p->items = NULL;
  p->n = 0;
}

void ll_props_copy(ll_props *dst, const ll_props *src) {
  dst->n = src->n;
  dst->items = src->n ? ll_xmalloc(src->n * sizeof *dst->items) : NULL;
  for (size_t i = 0; i < src->n; i++) {
    dst->items[i].key = ll_strdup(src->items[i].key);
    dst->items[i].value = ll_strdup(src->items[i].value);
  }
}

static int compare_props(const void *a, const void *b) {
  const ll_prop *x = a, *y = b;
  return strcmp(x->key ? x->key : "", y->key ? y->key : "");
}

void ll_props_sort(ll_props *p) {
  if (p->n > 1)
    qsort(p->items, p->n, sizeof *p->items, compare_props);
}

void ll_props_add(ll_props *p, const char *key, const char *value) {
  p->items = ll_xrealloc(p->items, (p->n + 1) * sizeof *p->items);
  p->items[p->n].key = ll_strdup(key);
  p->items[p->n].value = ll_strdup(value);
  p->n++;
}

const char *ll_props_get(const ll_props *p, const char *key) {
  for (size_t i = 0; i < p->n; i++)
    if (p->items[i].key && strcmp(p->items[i].key, key) == 0)
      return p->items[i].value;
  return NULL;
}

void ll_props_merge(ll_props *into, const ll_props *update) {
  for (size_t u = 0; u < update->n; u++) {
    const ll_prop *up = &update->items[u];
    size_t i = 0;
    while (i < into->n && strcmp(into->items[i].key, up->key) != 0)
      i++;
    bool remove = up->value == NULL || up->value[0] == '\0';
    if (i < into->n) {
      free(into->items[i].value);
      if (remove) {
        free(into->items[i].key);
        into->items[i] = into->items[--into->n];
      } else {
        into->items[i].value = ll_strdup(up->value);
      }
    } else if (!remove) {
      ll_props_add(into, up->key, up->value);
    }
  }
  ll_props_sort(into);
}

static void put_props(ll_buf *b, const ll_props *p) {
  ll_buf_put_uvar(b, p->n);
  for (size_t i = 0; i < p->n; i++) {
    ll_buf_put_str(b, p->items[i].key);
    ll_buf_put_str(b, p->items[i].value);
  }
}

static bool rd_props(ll_rd *r, ll_props *p) {
  uint64_t n = 0;
  if (!ll_rd_uvar(r, &n) || n > LL_PROPERTIES_MAX * 4 || n > ll_rd_left(r))
    return (r->bad = true, false);
  for (uint64_t i = 0; i < n; i++) {
    char *k = NULL, *v = NULL;
    ll_rd_str(r, &k);
    ll_rd_str(r, &v);
    p->items = ll_xrealloc(p->items, (p->n + 1) * sizeof *p->items);
    p->items[p->n++] = (ll_prop){k, v};
    if (r->bad || k == NULL)
      return (r->bad = true, false);
  }
  return true;
}

/* ---- events ---- */

void ll_event_init(ll_event *ev) {
  memset(ev, 0, sizeof *ev);
}

void ll_event_free(ll_event *ev) {
  free(ev->event_id);
  free(ev->product_id);
  free(ev->lot_id);
  free(ev->lot_name);
  free(ev->name);
  free(ev->new_product_id);
  free(ev->reference);
  free(ev->description);
  free(ev->from.id);
  free(ev->to.id);
  free(ev->reason);
  free(ev->partner_id);
  free(ev->partner_name);
  free(ev->uom);
  ll_props_free(&ev->properties);
  memset(ev, 0, sizeof *ev);
}

void ll_event_copy(ll_event *dst, const ll_event *src) {
  *dst = *src;
  dst->event_id = ll_strdup(src->event_id);
  dst->product_id = ll_strdup(src->product_id);
  dst->lot_id = ll_strdup(src->lot_id);
  dst->lot_name = ll_strdup(src->lot_name);
  dst->name = ll_strdup(src->name);
  dst->new_product_id = ll_strdup(src->new_product_id);
  dst->reference = ll_strdup(src->reference);
  dst->description = ll_strdup(src->description);
  dst->from.id = ll_strdup(src->from.id);
  dst->to.id = ll_strdup(src->to.id);
  dst->reason = ll_strdup(src->reason);
  dst->partner_id = ll_strdup(src->partner_id);
  dst->partner_name = ll_strdup(src->partner_name);
  dst->uom = ll_strdup(src->uom);
  ll_props_copy(&dst->properties, &src->properties);
}

/* Version 1 is kept for every event it can carry (see the header). */
static bool event_needs_v2(const ll_event *ev) {
  return ev->type > LL_EV_STOCK_MOVED || ev->reason || ev->partner_id ||
         ev->partner_name || ev->uom || ev->properties.n > 0;
}

static void put_time(ll_buf *b, ll_opt_time t) {
  ll_buf_put_u8(b, t.set ? 1 : 0);
  if (t.set)
    ll_buf_put_svar(b, t.ms);
}

static bool rd_time(ll_rd *r, ll_opt_time *t) {
  uint8_t set;
  t->set = false;
  t->ms = 0;
  if (!ll_rd_u8(r, &set))
    return false;
  if (set > 1)
    return (r->bad = true, false);
  t->set = set;
  return set ? ll_rd_svar(r, &t->ms) : true;
}

void ll_event_pack(const ll_event *ev, ll_buf *out) {
  bool v2 = event_needs_v2(ev);
  ll_buf_put_u8(out, v2 ? EVENT_FORMAT_V2 : EVENT_FORMAT_V1);
  ll_buf_put_u8(out, (uint8_t)ev->type);
  ll_buf_put_str(out, ev->event_id);
  ll_buf_put_svar(out, ev->occurred_at_ms);
  ll_buf_put_str(out, ev->product_id);
  ll_buf_put_str(out, ev->lot_id);
  ll_buf_put_str(out, ev->lot_name);
  ll_buf_put_str(out, ev->name);
  ll_buf_put_u8(out, (uint8_t)ev->tracking);
  ll_buf_put_str(out, ev->new_product_id);
  ll_buf_put_str(out, ev->reference);
  ll_buf_put_str(out, ev->description);
  put_time(out, ev->expiration_at);
  put_time(out, ev->use_by_at);
  put_time(out, ev->removal_at);
  put_time(out, ev->alert_at);
  ll_buf_put_u8(out, ev->has_expected_version ? 1 : 0);
  if (ev->has_expected_version)
    ll_buf_put_svar(out, ev->expected_version);
  ll_buf_put_u8(out, ev->quantity_valid ? 1 : 0);
  ll_buf_put_svar(out, ev->quantity_micro);
  ll_buf_put_str(out, ev->from.id);
  ll_buf_put_u8(out, (uint8_t)ev->from.usage);
  ll_buf_put_str(out, ev->to.id);
  ll_buf_put_u8(out, (uint8_t)ev->to.usage);
  if (!v2)
    return;
  ll_buf_put_str(out, ev->reason);
  ll_buf_put_str(out, ev->partner_id);
  ll_buf_put_str(out, ev->partner_name);
  ll_buf_put_str(out, ev->uom);
  put_props(out, &ev->properties);
}

bool ll_event_unpack(const void *p, size_t n, ll_event *ev) {
  ll_rd r;
  uint8_t version = 0, type = 0, tracking = 0, flag = 0, from_usage = 0,
          to_usage = 0, qvalid = 0;
  ll_rd_init(&r, p, n);
  ll_event_init(ev);
  if (!ll_rd_u8(&r, &version) ||
      (version != EVENT_FORMAT_V1 && version != EVENT_FORMAT_V2))
    return false;
  ll_rd_u8(&r, &type);
  ll_rd_str(&r, &ev->event_id);
  ll_rd_svar(&r, &ev->occurred_at_ms);
  ll_rd_str(&r, &ev->product_id);
  ll_rd_str(&r, &ev->lot_id);
  ll_rd_str(&r, &ev->lot_name);
  ll_rd_str(&r, &ev->name);
  ll_rd_u8(&r, &tracking);
  ll_rd_str(&r, &ev->new_product_id);
  ll_rd_str(&r, &ev->reference);
  ll_rd_str(&r, &ev->description);
  rd_time(&r, &ev->expiration_at);
  rd_time(&r, &ev->use_by_at);
  rd_time(&r, &ev->removal_at);
  rd_time(&r, &ev->alert_at);
  if (ll_rd_u8(&r, &flag) && flag)
    ll_rd_svar(&r, &ev->expected_version);
  ev->has_expected_version = flag == 1;
  ll_rd_u8(&r, &qvalid);
  ev->quantity_valid = qvalid == 1;
  ll_rd_svar(&r, &ev->quantity_micro);
  ll_rd_str(&r, &ev->from.id);
  ll_rd_u8(&r, &from_usage);
  ll_rd_str(&r, &ev->to.id);
  ll_rd_u8(&r, &to_usage);
  if (version == EVENT_FORMAT_V2) {
    ll_rd_str(&r, &ev->reason);
    ll_rd_str(&r, &ev->partner_id);
    ll_rd_str(&r, &ev->partner_name);
    ll_rd_str(&r, &ev->uom);
    rd_props(&r, &ev->properties);
  }
  if (r.bad || ll_rd_left(&r) != 0 || type < LL_EV_LOT_CREATED ||
      type > LL_EV_LAST || tracking > LL_TRACK_SERIAL ||
      from_usage >= LL_USAGE_COUNT || to_usage >= LL_USAGE_COUNT) {
    ll_event_free(ev);
    return false;
  }
  ev->type = (ll_event_type)type;
  ev->tracking = (ll_tracking)tracking;
  ev->from.usage = (ll_usage)from_usage;
  ev->to.usage = (ll_usage)to_usage;
  return true;
}

void ll_event_digest(const ll_event *ev, uint8_t digest[32]) {
  ll_buf b;
  ll_buf_init(&b);
  ll_event_pack(ev, &b);
  ll_sha256(b.data, b.len, digest);
  ll_buf_free(&b);
}

/* ---- lots ---- */

void ll_lot_init(ll_lot *lot) {
  memset(lot, 0, sizeof *lot);
}

void ll_lot_free(ll_lot *lot) {
  free(lot->lot_id);
  free(lot->product_id);
  free(lot->name);
  free(lot->reference);
  free(lot->description);
  free(lot->hold_reason);
  free(lot->uom);
  ll_props_free(&lot->properties);
  memset(lot, 0, sizeof *lot);
}

void ll_lot_copy(ll_lot *dst, const ll_lot *src) {
  *dst = *src;
  dst->lot_id = ll_strdup(src->lot_id);
  dst->product_id = ll_strdup(src->product_id);
  dst->name = ll_strdup(src->name);
  dst->reference = ll_strdup(src->reference);
  dst->description = ll_strdup(src->description);
  dst->hold_reason = ll_strdup(src->hold_reason);
  dst->uom = ll_strdup(src->uom);
  ll_props_copy(&dst->properties, &src->properties);
}

void ll_lot_pack(const ll_lot *lot, ll_buf *out) {
  bool v2 = lot->hold_reason || lot->uom || lot->properties.n > 0;
  ll_buf_put_u8(out, v2 ? LOT_FORMAT_V2 : LOT_FORMAT_V1);
  ll_buf_put_str(out, lot->lot_id);
  ll_buf_put_str(out, lot->product_id);
  ll_buf_put_str(out, lot->name);
  ll_buf_put_u8(out, (uint8_t)lot->tracking);
  ll_buf_put_str(out, lot->reference);
  ll_buf_put_str(out, lot->description);
  put_time(out, lot->expiration_at);
  put_time(out, lot->use_by_at);
  put_time(out, lot->removal_at);
  put_time(out, lot->alert_at);
  ll_buf_put_svar(out, lot->version);
  ll_buf_put_svar(out, lot->on_hand_micro);
  ll_buf_put_svar(out, lot->move_count);
  ll_buf_put_svar(out, lot->created_at_ms);
  ll_buf_put_svar(out, lot->updated_at_ms);
  if (!v2)
    return;
  ll_buf_put_str(out, lot->hold_reason);
  ll_buf_put_svar(out, lot->hold_since_ms);
  ll_buf_put_str(out, lot->uom);
  put_props(out, &lot->properties);
}

bool ll_lot_unpack(const void *p, size_t n, ll_lot *lot) {
  ll_rd r;
  uint8_t version = 0, tracking = 0;
  ll_rd_init(&r, p, n);
  ll_lot_init(lot);
  if (!ll_rd_u8(&r, &version) ||
      (version != LOT_FORMAT_V1 && version != LOT_FORMAT_V2))
    return false;
  ll_rd_str(&r, &lot->lot_id);
  ll_rd_str(&r, &lot->product_id);
  ll_rd_str(&r, &lot->name);
  ll_rd_u8(&r, &tracking);
  ll_rd_str(&r, &lot->reference);
  ll_rd_str(&r, &lot->description);
  rd_time(&r, &lot->expiration_at);
  rd_time(&r, &lot->use_by_at);
  rd_time(&r, &lot->removal_at);
  rd_time(&r, &lot->alert_at);
  ll_rd_svar(&r, &lot->version);
  ll_rd_svar(&r, &lot->on_hand_micro);
  ll_rd_svar(&r, &lot->move_count);
  ll_rd_svar(&r, &lot->created_at_ms);
  ll_rd_svar(&r, &lot->updated_at_ms);
  if (version == LOT_FORMAT_V2) {
    ll_rd_str(&r, &lot->hold_reason);
    ll_rd_svar(&r, &lot->hold_since_ms);
    ll_rd_str(&r, &lot->uom);
    rd_props(&r, &lot->properties);
  }
  if (r.bad || ll_rd_left(&r) != 0 || tracking > LL_TRACK_SERIAL) {
    ll_lot_free(lot);
    return false;
  }
  lot->tracking = (ll_tracking)tracking;
  return true;
}
