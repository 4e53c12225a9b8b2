/* workload.c — see workload.h. A small inventory simulation: it keeps the
 * quantity of every lot at every location it touched, so each valid move it
 * emits is valid by construction, and each invalid one is invalid for a
 * known reason. Everything derives from the seed (xorshift64*). */
#include "workload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ll_event.h"
#include "ll_mem.h"

#define WL_WAREHOUSES 5
#define WL_ZONES 10
#define WL_SHELVES 10
#define WL_SHELF_COUNT (WL_WAREHOUSES * WL_ZONES * WL_SHELVES) /* 500 */
#define WL_LOC_STOCK0 WL_SHELF_COUNT /* WH<n>/Stock, one per warehouse */
#define WL_SUPPLIERS 50
#define WL_CUSTOMERS 200
#define WL_LINES 5
#define WL_SLOTS 6 /* locations a lot can be at once in this simulation */

typedef struct wl_slot {
  int16_t loc;
  int64_t qty_micro;
} wl_slot;

typedef struct wl_lot {
  int32_t product;
  uint8_t n_slots;
  bool serial;
  bool received;
  wl_slot slot[WL_SLOTS];
} wl_lot;

struct workload {
  wl_config cfg;
  ll_codec *codec;
  uint64_t rng;
  wl_lot *lots;
  int64_t n_created;
  int64_t n_orders;
  wl_stats stats;
  char key[32];
  /* a second event queued by a two-event flow (production) */
  bool has_pending;
  ll_event pending;
};

static uint64_t rnd(workload *w) {
  w->rng ^= w->rng >> 12;
  w->rng ^= w->rng << 25;
  w->rng ^= w->rng >> 27;
  return w->rng * 2685821657736338717ull;
}

static int64_t rnd_range(workload *w, int64_t lo, int64_t hi) {
  return lo + (int64_t)(rnd(w) % (uint64_t)(hi - lo + 1));
}

workload *wl_new(const wl_config *cfg, ll_codec *codec) {
  workload *w = ll_xcalloc(1, sizeof *w);
  w->cfg = *cfg;
  w->codec = codec;
  w->rng = cfg->seed ? cfg->seed : 0x9e3779b97f4a7c15ull;
  w->lots = ll_xcalloc((size_t)cfg->lots, sizeof *w->lots);
  for (int i = 0; i < cfg->lots; i++) {
    w->lots[i].product = i % cfg->products;
    w->lots[i].serial = (w->lots[i].product % 100) < cfg->serial_pct;
  }
  return w;
}

void wl_free(workload *w) {
  if (!w)
    return;
  if (w->has_pending)
    ll_event_free(&w->pending);
  free(w->lots);
  free(w);
}

const wl_stats *wl_stats_get(const workload *w) {
  return &w->stats;
}
int64_t wl_lots_created(const workload *w) {
  return w->n_created;
}

void wl_extend(workload *w, int64_t more) {
  /* A later phase creates new lots too: a fifth of its events, as before. */
  int64_t lots = w->cfg.lots + more / 5 + 1;
  w->lots = ll_xrealloc(w->lots, (size_t)lots * sizeof *w->lots);
  for (int64_t i = w->cfg.lots; i < lots; i++) {
    memset(&w->lots[i], 0, sizeof w->lots[i]);
    w->lots[i].product = (int32_t)(i % w->cfg.products);
    w->lots[i].serial = (w->lots[i].product % 100) < w->cfg.serial_pct;
  }
  w->cfg.lots = (int)lots;
  w->cfg.events += more;
}

const char *wl_lot_id(const workload *w, int64_t i, char *buf, size_t n) {
  (void)w;
  snprintf(buf, n, "L%07lld", (long long)i);
  return buf;
}

static void loc_name(int loc, char *buf, size_t n) {
  if (loc < WL_SHELF_COUNT)
    snprintf(buf, n, "WH%d/Stock/Z%02d/S%02d", loc / 100 + 1,
             (loc / 10) % 10 + 1, loc % 10 + 1);
  else
    snprintf(buf, n, "WH%d/Stock", loc - WL_LOC_STOCK0 + 1);
}

static void product_name(int p, char *buf, size_t n) {
  snprintf(buf, n, "P%05d", p);
}

static void base_event(workload *w, ll_event *ev, ll_event_type type,
                       int product) {
  char id[48], prod[16];
  ll_event_init(ev);
  ev->type = type;
  snprintf(id, sizeof id, "ev-%llx-%lld", (unsigned long long)w->cfg.seed,
           (long long)w->stats.generated + (w->has_pending ? 1 : 0));
  ev->event_id = ll_strdup(id);
  ev->occurred_at_ms = w->cfg.start_ms + w->stats.generated;
  product_name(product, prod, sizeof prod);
  ev->product_id = ll_strdup(prod);
}

static void set_move(ll_event *ev, int64_t lot, int64_t qty_micro,
                     const char *from, ll_usage from_usage, const char *to,
                     ll_usage to_usage, const char *reference) {
  char id[32];
  snprintf(id, sizeof id, "L%07lld", (long long)lot);
  ev->lot_id = ll_strdup(id);
  ev->quantity_valid = true;
  ev->quantity_micro = qty_micro;
  ev->from.id = ll_strdup(from);
  ev->from.usage = from_usage;
  ev->to.id = ll_strdup(to);
  ev->to.usage = to_usage;
  ev->reference = ll_strdup(reference);
}

static wl_slot *slot_of(wl_lot *l, int loc, bool create) {
  for (int i = 0; i < l->n_slots; i++)
    if (l->slot[i].loc == loc)
      return &l->slot[i];
  if (!create || l->n_slots == WL_SLOTS)
    return NULL;
  l->slot[l->n_slots] = (wl_slot){(int16_t)loc, 0};
  return &l->slot[l->n_slots++];
}

static void drop_empty(wl_lot *l) {
  int j = 0;
  for (int i = 0; i < l->n_slots; i++)
    if (l->slot[i].qty_micro != 0)
      l->slot[j++] = l->slot[i];
  l->n_slots = (uint8_t)j;
}

/* A random lot that has stock somewhere, or -1. */
static int64_t lot_with_stock(workload *w) {
  for (int tries = 0; tries < 8 && w->n_created > 0; tries++) {
    int64_t i = rnd_range(w, 0, w->n_created - 1);
    if (w->lots[i].n_slots > 0)
      return i;
  }
  return -1;
}

static bool gen_create(workload *w, ll_event *ev) {
  if (w->n_created >= w->cfg.lots)
    return false;
  int64_t i = w->n_created++;
  wl_lot *l = &w->lots[i];
  char id[32], name[32];
  base_event(w, ev, LL_EV_LOT_CREATED, l->product);
  snprintf(id, sizeof id, "L%07lld", (long long)i);
  snprintf(name, sizeof name, "%s-%07lld", l->serial ? "SN" : "LOT",
           (long long)i);
  ev->lot_id = ll_strdup(id);
  ev->name = ll_strdup(name);
  ev->tracking = l->serial ? LL_TRACK_SERIAL : LL_TRACK_LOT;
  if (i % 4 == 0) {
    ev->expiration_at.set = true;
    ev->expiration_at.ms = w->cfg.start_ms + 400LL * 86400000;
  }
  w->stats.creates++;
  return true;
}

static bool gen_receipt(workload *w, ll_event *ev) {
  if (w->n_created == 0)
    return false;
  int64_t i = rnd_range(w, 0, w->n_created - 1);
  wl_lot *l = &w->lots[i];
  if (l->serial && (l->received || l->n_slots > 0))
    return false;
  int loc = WL_LOC_STOCK0 + (int)rnd_range(w, 0, WL_WAREHOUSES - 1);
  wl_slot *s = slot_of(l, loc, true);
  if (!s)
    return false;
  int64_t qty = l->serial ? LL_MICRO : rnd_range(w, 1, 2000) * 250000;
  char from[32], to[32], ref[32];
  snprintf(from, sizeof from, "Vendors/V%02d",
           (int)rnd_range(w, 1, WL_SUPPLIERS));
  loc_name(loc, to, sizeof to);
  snprintf(ref, sizeof ref, "PO-%lld", (long long)rnd_range(w, 1, 99999));
  base_event(w, ev, LL_EV_STOCK_MOVED, l->product);
  set_move(ev, i, qty, from, LL_USAGE_SUPPLIER, to, LL_USAGE_INTERNAL, ref);
  s->qty_micro += qty;
  l->received = true;
  w->stats.receipts++;
  return true;
}

/* Part (or, for a serial, all) of a slot's quantity. */
static int64_t take(workload *w, const wl_lot *l, const wl_slot *s) {
  if (l->serial || s->qty_micro <= LL_MICRO)
    return s->qty_micro;
  return rnd_range(w, 1, s->qty_micro / 10000) * 10000;
}

static bool gen_transfer(workload *w, ll_event *ev) {
  int64_t i = lot_with_stock(w);
  if (i < 0)
    return false;
  wl_lot *l = &w->lots[i];
  wl_slot *s = &l->slot[rnd_range(w, 0, l->n_slots - 1)];
  int dest = (int)rnd_range(w, 0, WL_SHELF_COUNT - 1);
  if (dest == s->loc)
    return false;
  int src_loc = s->loc;
  int64_t qty = take(w, l, s);
  wl_slot *d = slot_of(l, dest, true);
  if (!d)
    return false;
  s = slot_of(l, src_loc, false); /* slot_of may have moved nothing */
  char from[32], to[32], ref[32];
  loc_name(src_loc, from, sizeof from);
  loc_name(dest, to, sizeof to);
  snprintf(ref, sizeof ref, "INT-%lld", (long long)w->stats.generated);
  base_event(w, ev, LL_EV_STOCK_MOVED, l->product);
  set_move(ev, i, qty, from, LL_USAGE_INTERNAL, to, LL_USAGE_INTERNAL, ref);
  s->qty_micro -= qty;
  d->qty_micro += qty;
  drop_empty(l);
  w->stats.transfers++;
  return true;
}

static bool gen_delivery(workload *w, ll_event *ev) {
  int64_t i = lot_with_stock(w);
  if (i < 0)
    return false;
  wl_lot *l = &w->lots[i];
  wl_slot *s = &l->slot[rnd_range(w, 0, l->n_slots - 1)];
  int64_t qty = take(w, l, s);
  char from[32], to[32], ref[32];
  loc_name(s->loc, from, sizeof from);
  snprintf(to, sizeof to, "Customers/C%03d",
           (int)rnd_range(w, 1, WL_CUSTOMERS));
  snprintf(ref, sizeof ref, "SO-%lld", (long long)w->stats.generated);
  base_event(w, ev, LL_EV_STOCK_MOVED, l->product);
  set_move(ev, i, qty, from, LL_USAGE_INTERNAL, to, LL_USAGE_CUSTOMER, ref);
  s->qty_micro -= qty;
  drop_empty(l);
  w->stats.deliveries++;
  return true;
}

/* Consume part of lot A into a production line, and queue the output: a
 * lot B of another product moved out of the line with the same order. */
static bool gen_production(workload *w, ll_event *ev) {
  int64_t a = lot_with_stock(w);
  if (a < 0 || w->n_created < 2)
    return false;
  int64_t b = rnd_range(w, 0, w->n_created - 1);
  wl_lot *la = &w->lots[a], *lb = &w->lots[b];
  if (b == a || lb->serial || lb->product == la->product)
    return false;
  int out_loc = WL_LOC_STOCK0 + (int)rnd_range(w, 0, WL_WAREHOUSES - 1);
  wl_slot *d = slot_of(lb, out_loc, true);
  if (!d)
    return false;
  wl_slot *s = &la->slot[rnd_range(w, 0, la->n_slots - 1)];
  int64_t qty = take(w, la, s);
  int64_t out_qty = rnd_range(w, 1, 400) * 500000;
  char from[32], line[32], to[32], ref[32];
  loc_name(s->loc, from, sizeof from);
  snprintf(line, sizeof line, "Production/Line%d",
           (int)rnd_range(w, 1, WL_LINES));
  loc_name(out_loc, to, sizeof to);
  snprintf(ref, sizeof ref, "MO-%lld", (long long)++w->n_orders);
  base_event(w, ev, LL_EV_STOCK_MOVED, la->product);
  set_move(ev, a, qty, from, LL_USAGE_INTERNAL, line, LL_USAGE_PRODUCTION, ref);
  s->qty_micro -= qty;
  drop_empty(la);
  w->has_pending = true; /* ids: base_event counts the pending one */
  base_event(w, &w->pending, LL_EV_STOCK_MOVED, lb->product);
  set_move(&w->pending, b, out_qty, line, LL_USAGE_PRODUCTION, to,
           LL_USAGE_INTERNAL, ref);
  d->qty_micro += out_qty;
  lb->received = true;
  w->stats.production += 2;
  return true;
}

/* Invalid on purpose; returns 1 for an event, 2 for raw garbage. */
static int gen_invalid(workload *w, ll_event *ev) {
  int kind = (int)rnd_range(w, 0, 3);
  int64_t i = lot_with_stock(w);
  if (kind == 0 && i >= 0) { /* INSUFFICIENT_STOCK */
    wl_lot *l = &w->lots[i];
    if (l->serial)
      kind = 1;
    else {
      wl_slot *s = &l->slot[0];
      char from[32];
      loc_name(s->loc, from, sizeof from);
      base_event(w, ev, LL_EV_STOCK_MOVED, l->product);
      set_move(ev, i, s->qty_micro + LL_MICRO, from, LL_USAGE_INTERNAL,
               "Customers/C001", LL_USAGE_CUSTOMER, "SO-X");
      return 1;
    }
  }
  if (kind <= 1) { /* UNKNOWN_LOT */
    int p = (int)rnd_range(w, 0, w->cfg.products - 1);
    base_event(w, ev, LL_EV_STOCK_MOVED, p);
    set_move(ev, 0, LL_MICRO, "Vendors/V01", LL_USAGE_SUPPLIER, "WH1/Stock",
             LL_USAGE_INTERNAL, NULL);
    char id[32]; /* no lot ever has this id */
    snprintf(id, sizeof id, "NOLOT-%lld", (long long)rnd_range(w, 0, 999999));
    free(ev->lot_id);
    ev->lot_id = ll_strdup(id);
    return 1;
  }
  if (kind == 2 && w->n_created > 0) { /* DUPLICATE_LOT */
    int64_t j = rnd_range(w, 0, w->n_created - 1);
    char id[32], name[32];
    base_event(w, ev, LL_EV_LOT_CREATED, w->lots[j].product);
    snprintf(id, sizeof id, "DUP%07lld", (long long)w->stats.generated);
    snprintf(name, sizeof name, "%s-%07lld", w->lots[j].serial ? "SN" : "LOT",
             (long long)j);
    ev->lot_id = ll_strdup(id);
    ev->name = ll_strdup(name);
    ev->tracking = w->lots[j].serial ? LL_TRACK_SERIAL : LL_TRACK_LOT;
    return 1;
  }
  return 2; /* MALFORMED */
}

static void encode(workload *w, const ll_event *ev, ll_buf *value) {
  ll_err e;
  if (ll_codec_encode(w->codec, ev, value, &e) != 0) {
    fprintf(stderr, "bench: encode failed: %s: %s\n", ll_err_kind_name(e.kind),
            e.message);
    abort();
  }
  snprintf(w->key, sizeof w->key, "%s", ev->product_id);
}

bool wl_next(workload *w, const char **key, ll_buf *value) {
  if (w->stats.generated >= w->cfg.events)
    return false;
  ll_buf_reset(value);
  *key = w->key;
  ll_event ev;
  ll_event_init(&ev);
  if (w->has_pending) {
    encode(w, &w->pending, value);
    ll_event_free(&w->pending);
    w->has_pending = false;
    w->stats.generated++;
    w->stats.valid++;
    return true;
  }
  if ((int)rnd_range(w, 0, 999) < w->cfg.invalid_pm) {
    int r = gen_invalid(w, &ev);
    if (r == 2) {
      static const char garbage[] = "\xc3\x01not-a-fingerprint";
      ll_buf_put(value, garbage, sizeof garbage - 1);
      product_name((int)rnd_range(w, 0, w->cfg.products - 1), w->key,
                   sizeof w->key);
      w->stats.malformed++;
    } else {
      encode(w, &ev, value);
      ll_event_free(&ev);
    }
    w->stats.generated++;
    w->stats.invalid++;
    return true;
  }
  for (;;) {
    int r = (int)rnd_range(w, 0, 99);
    bool ok = r < 20   ? gen_create(w, &ev)
              : r < 40 ? gen_receipt(w, &ev)
              : r < 70 ? gen_transfer(w, &ev)
              : r < 90 ? gen_delivery(w, &ev)
                       : gen_production(w, &ev);
    if (ok)
      break;
    ll_event_free(&ev);
  }
  encode(w, &ev, value);
  ll_event_free(&ev);
  w->stats.generated++;
  w->stats.valid++;
  return true;
}
