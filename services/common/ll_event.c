/* ll_event.c — life cycle and storage form of events and lots.
 *
 * Storage form (ll_buf encoding): a version byte, then every field in a
 * fixed order. Version 1 is the only one so far; a new field means a new
 * version, and unpack keeps reading the old ones. */
#include "ll_event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ll_mem.h"
#include "ll_sha256.h"

#define EVENT_FORMAT_V1 1
#define LOT_FORMAT_V1 1

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
  ll_buf_put_u8(out, EVENT_FORMAT_V1);
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
}

bool ll_event_unpack(const void *p, size_t n, ll_event *ev) {
  ll_rd r;
  uint8_t version = 0, type = 0, tracking = 0, flag = 0, from_usage = 0,
          to_usage = 0, qvalid = 0;
  ll_rd_init(&r, p, n);
  ll_event_init(ev);
  if (!ll_rd_u8(&r, &version) || version != EVENT_FORMAT_V1)
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
  if (r.bad || ll_rd_left(&r) != 0 || type < LL_EV_LOT_CREATED ||
      type > LL_EV_STOCK_MOVED || tracking > LL_TRACK_SERIAL ||
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
  memset(lot, 0, sizeof *lot);
}

void ll_lot_copy(ll_lot *dst, const ll_lot *src) {
  *dst = *src;
  dst->lot_id = ll_strdup(src->lot_id);
  dst->product_id = ll_strdup(src->product_id);
  dst->name = ll_strdup(src->name);
  dst->reference = ll_strdup(src->reference);
  dst->description = ll_strdup(src->description);
}

void ll_lot_pack(const ll_lot *lot, ll_buf *out) {
  ll_buf_put_u8(out, LOT_FORMAT_V1);
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
}

bool ll_lot_unpack(const void *p, size_t n, ll_lot *lot) {
  ll_rd r;
  uint8_t version = 0, tracking = 0;
  ll_rd_init(&r, p, n);
  ll_lot_init(lot);
  if (!ll_rd_u8(&r, &version) || version != LOT_FORMAT_V1)
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
  if (r.bad || ll_rd_left(&r) != 0 || tracking > LL_TRACK_SERIAL) {
    ll_lot_free(lot);
    return false;
  }
  lot->tracking = (ll_tracking)tracking;
  return true;
}
