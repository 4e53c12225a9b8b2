/* crash_producer.c — the crash tests' independent producer process.
 *
 * Streams a seeded, reproducible mix of valid and invalid messages to
 * lots.inbound and, once every message is acknowledged, writes what lotline
 * must make of each one to an expectations file (crash_check.h reads it).
 *
 * The outcome of every message is known by construction. The generator
 * keeps its own small model of each product's lots and quantities, written
 * apart from services/rules and covering only the rules its events
 * exercise. Products never depend on each other: each has its own lot ids,
 * names and event ids, and shared locations always carry the same usage.
 * Kafka keeps one product's events in order (one key, one partition,
 * idempotent producer), so the order in which lotline consumes partitions
 * cannot change any outcome. Redeliveries and reused ids point back at
 * earlier messages of the same product, hence of the same partition.
 *
 * Expectations file, one record per line:
 *   M <partition> <offset> <outcome> <event_id|->   every message, send order;
 *       outcome = ACCEPTED, DUPLICATE or a rejection code name
 *   L <lot_id> <product_id> <LOT|SERIAL> <version> <move_count>
 *     <on_hand_micro> <created_at_ms> <updated_at_ms> <description|->
 *   Q <lot_id> <location> <quantity_micro>   non-zero, virtual ones included
 *   T <messages> <accepted> <rejected> <duplicates>
 *
 * usage: crash_producer --brokers LIST --schemas DIR --expect FILE
 *          [--seed N] [--events N] [--products N] [--rate N/s]
 *          [--topic NAME]
 * Exit status 0 when every message was delivered and the file written. */
#include <errno.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ll_codec.h"
#include "ll_event.h"
#include "ll_mem.h"
#include "ll_time.h"

#define CP_PRODUCTS_MAX 512
#define CP_LOTS_PER_PRODUCT_MAX 24
#define CP_RING_SIZE 32 /* recent recordable events, for redelivery/reuse */
#define CP_ID_MAX 64
#define CP_PRODUCT_ID_MAX 24
#define CP_NAME_MAX 32
#define CP_RECEIVE_MAX_MICRO (500 * LL_MICRO)
#define CP_OVERDRAW_MAX_MICRO (3 * LL_MICRO)
#define CP_GARBAGE_MAX_BYTES 60
#define CP_FLUSH_TIMEOUT_MS 120000
#define CP_OCCURRED_BASE_MS 1800000000000LL

/* ---- fixed locations: every product uses them with the same usage ---- */

enum {
  LOC_VENDORS,
  LOC_CUSTOMERS,
  LOC_SCRAP,
  LOC_ADJUST,
  LOC_STOCK_FIRST, /* INTERNAL and TRANSIT from here on */
  LOC_COUNT = LOC_STOCK_FIRST + 5,
};
#define LOC_STOCK_COUNT (LOC_COUNT - LOC_STOCK_FIRST)

static const struct {
  const char *id;
  ll_usage usage;
} LOCS[LOC_COUNT] = {
    {"Vendors", LL_USAGE_SUPPLIER},
    {"Customers", LL_USAGE_CUSTOMER},
    {"Scrap", LL_USAGE_SCRAP},
    {"Inventory/Adjust", LL_USAGE_INVENTORY},
    {"WH/Stock", LL_USAGE_INTERNAL},
    {"WH/Stock/Shelf-1", LL_USAGE_INTERNAL},
    {"WH/Stock/Shelf-2", LL_USAGE_INTERNAL},
    {"WH/Stock/Shelf-3", LL_USAGE_INTERNAL},
    {"WH/Transit", LL_USAGE_TRANSIT},
};

/* ---- the model ---- */

typedef struct cp_lot {
  char lot_id[CP_ID_MAX];
  char name[CP_NAME_MAX];
  int64_t qty[LOC_COUNT];
  int64_t version, move_count, created_at_ms, updated_at_ms;
  char description[CP_ID_MAX]; /* "" = none */
} cp_lot;

typedef struct cp_sent {
  char event_id[CP_ID_MAX];
  ll_buf bytes;
} cp_sent;

typedef struct cp_product {
  char id[CP_PRODUCT_ID_MAX];
  ll_tracking tracking;
  cp_lot lots[CP_LOTS_PER_PRODUCT_MAX];
  int n_lots;
  int next_lot;       /* lot id / name counter (rejected ones use it too) */
  bool vendors_known; /* an accepted move of this product used Vendors */
  cp_sent ring[CP_RING_SIZE];
  int n_ring, ring_next;
} cp_product;

/* One message as sent, and what lotline must do with it. */
typedef struct cp_msg {
  int32_t partition; /* from the delivery report */
  int64_t offset;
  bool delivered;
  bool duplicate;
  ll_code code; /* LL_OK = accepted (unless duplicate) */
  char *event_id;
} cp_msg;

typedef struct gen {
  uint64_t rng;
  ll_codec *codec;
  cp_product *products;
  int n_products;
  int64_t seq; /* messages generated */
  /* the message being built */
  char key[CP_ID_MAX];
  ll_buf value;
  bool duplicate;
  ll_code code;
  char event_id[CP_ID_MAX];
  bool has_event_id;
} gen;

static uint64_t rnd(gen *g) { /* splitmix64 */
  uint64_t z = (g->rng += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static int64_t rnd_range(gen *g, int64_t lo, int64_t hi) { /* [lo, hi] */
  return lo + (int64_t)(rnd(g) % (uint64_t)(hi - lo + 1));
}

static void die(const char *what, const char *detail) {
  fprintf(stderr, "crash_producer: %s: %s\n", what, detail);
  exit(1);
}

static void die_err(const char *what, const ll_err *e) {
  fprintf(stderr, "crash_producer: %s: %s: %s\n", what,
          ll_err_kind_name(e->kind), e->message);
  exit(1);
}

static int64_t on_hand(const cp_lot *l) {
  int64_t sum = 0;
  for (int i = LOC_STOCK_FIRST; i < LOC_COUNT; i++)
    sum += l->qty[i];
  return sum;
}

static int64_t occurred_at(const gen *g) {
  return CP_OCCURRED_BASE_MS + g->seq * 1000;
}

static void new_event_id(gen *g, const cp_product *p) {
  snprintf(g->event_id, sizeof g->event_id, "%s-e%lld", p->id,
           (long long)g->seq);
  g->has_event_id = true;
}

/* Encode ev as the message value; the message's key is the product. */
static void emit(gen *g, const cp_product *p, ll_event *ev, ll_code code) {
  ll_err e;
  ll_buf_reset(&g->value);
  if (ll_codec_encode(g->codec, ev, &g->value, &e) != 0)
    die_err("encode", &e);
  snprintf(g->key, sizeof g->key, "%s", p->id);
  g->code = code;
  ll_event_free(ev);
}

/* Events of the recordable kind (accepted, or rejected by a rule that
 * records the event id) can be redelivered as no-ops later. */
static void remember(gen *g, cp_product *p) {
  cp_sent *s = &p->ring[p->ring_next];
  if (p->n_ring < CP_RING_SIZE) {
    ll_buf_init(&s->bytes);
    p->n_ring++;
  }
  snprintf(s->event_id, sizeof s->event_id, "%s", g->event_id);
  ll_buf_reset(&s->bytes);
  ll_buf_put(&s->bytes, g->value.data, g->value.len);
  p->ring_next = (p->ring_next + 1) % CP_RING_SIZE;
}

static void base_event(gen *g, cp_product *p, ll_event *ev,
                       ll_event_type type) {
  ll_event_init(ev);
  ev->type = type;
  new_event_id(g, p);
  ev->event_id = ll_strdup(g->event_id);
  ev->occurred_at_ms = occurred_at(g);
  ev->product_id = ll_strdup(p->id);
}

static void set_move(ll_event *ev, const char *lot_id, int64_t qty_micro,
                     int from, int to) {
  ev->lot_id = ll_strdup(lot_id);
  ev->quantity_valid = true;
  ev->quantity_micro = qty_micro;
  ev->from.id = ll_strdup(LOCS[from].id);
  ev->from.usage = LOCS[from].usage;
  ev->to.id = ll_strdup(LOCS[to].id);
  ev->to.usage = LOCS[to].usage;
}

static cp_lot *any_lot(gen *g, cp_product *p) {
  return p->n_lots ? &p->lots[rnd(g) % (uint64_t)p->n_lots] : NULL;
}

/* A stock location of the lot holding something, or -1. */
static int stocked_location(gen *g, const cp_lot *l) {
  int start = (int)(rnd(g) % LOC_STOCK_COUNT);
  for (int i = 0; i < LOC_STOCK_COUNT; i++) {
    int loc = LOC_STOCK_FIRST + (start + i) % LOC_STOCK_COUNT;
    if (l->qty[loc] > 0)
      return loc;
  }
  return -1;
}

static int other_stock_location(gen *g, int not_this) {
  int loc;
  do
    loc = LOC_STOCK_FIRST + (int)(rnd(g) % LOC_STOCK_COUNT);
  while (loc == not_this);
  return loc;
}

/* Apply an accepted move to the model. */
static void model_move(gen *g, cp_product *p, cp_lot *l, int64_t qty, int from,
                       int to) {
  l->qty[from] -= qty;
  l->qty[to] += qty;
  l->move_count++;
  l->updated_at_ms = occurred_at(g);
  if (from == LOC_VENDORS || to == LOC_VENDORS)
    p->vendors_known = true;
}

/* ---- valid events ---- */

static bool gen_create(gen *g, cp_product *p) {
  if (p->n_lots == CP_LOTS_PER_PRODUCT_MAX)
    return false;
  ll_event ev;
  base_event(g, p, &ev, LL_EV_LOT_CREATED);
  cp_lot *l = &p->lots[p->n_lots++];
  memset(l, 0, sizeof *l);
  int n = p->next_lot++;
  char lot_id[CP_ID_MAX]; /* l lives inside p: no snprintf from p to l */
  snprintf(lot_id, sizeof lot_id, "%s-L%d", p->id, n);
  memcpy(l->lot_id, lot_id, sizeof l->lot_id);
  snprintf(l->name, sizeof l->name, "%s-%d",
           p->tracking == LL_TRACK_SERIAL ? "SN" : "LOT", n);
  l->version = 1;
  l->created_at_ms = l->updated_at_ms = occurred_at(g);
  ev.lot_id = ll_strdup(l->lot_id);
  ev.name = ll_strdup(l->name);
  ev.tracking = p->tracking;
  emit(g, p, &ev, LL_OK);
  remember(g, p);
  return true;
}

static bool gen_receive(gen *g, cp_product *p) {
  cp_lot *l = any_lot(g, p);
  if (!l)
    return false;
  int64_t qty = rnd_range(g, 1, CP_RECEIVE_MAX_MICRO);
  if (p->tracking == LL_TRACK_SERIAL) {
    if (on_hand(l) != 0)
      return false;
    qty = LL_MICRO;
  }
  int to = LOC_STOCK_FIRST + (int)(rnd(g) % LOC_STOCK_COUNT);
  ll_event ev;
  base_event(g, p, &ev, LL_EV_STOCK_MOVED);
  set_move(&ev, l->lot_id, qty, LOC_VENDORS, to);
  model_move(g, p, l, qty, LOC_VENDORS, to);
  emit(g, p, &ev, LL_OK);
  remember(g, p);
  return true;
}

/* Internal move (to_virtual < 0) or out of stock to a virtual location. */
static bool gen_move_out(gen *g, cp_product *p, int to_virtual) {
  cp_lot *l = any_lot(g, p);
  if (!l)
    return false;
  int from = stocked_location(g, l);
  if (from < 0)
    return false;
  int to = to_virtual >= 0 ? to_virtual : other_stock_location(g, from);
  int64_t qty = l->qty[from];
  if (p->tracking == LL_TRACK_LOT && rnd(g) % 8 != 0)
    qty = rnd_range(g, 1, l->qty[from]);
  ll_event ev;
  base_event(g, p, &ev, LL_EV_STOCK_MOVED);
  set_move(&ev, l->lot_id, qty, from, to);
  model_move(g, p, l, qty, from, to);
  emit(g, p, &ev, LL_OK);
  remember(g, p);
  return true;
}

static bool gen_update(gen *g, cp_product *p, bool conflict) {
  cp_lot *l = any_lot(g, p);
  if (!l)
    return false;
  ll_event ev;
  base_event(g, p, &ev, LL_EV_LOT_UPDATED);
  ev.lot_id = ll_strdup(l->lot_id);
  char desc[CP_ID_MAX];
  snprintf(desc, sizeof desc, "rev-%lld", (long long)g->seq);
  ev.description = ll_strdup(desc);
  if (conflict) {
    ev.has_expected_version = true;
    ev.expected_version = l->version + rnd_range(g, 1, 5);
    emit(g, p, &ev, LL_VERSION_CONFLICT);
  } else {
    ev.has_expected_version = rnd(g) % 2 == 0;
    ev.expected_version = l->version;
    l->version++;
    l->updated_at_ms = occurred_at(g);
    snprintf(l->description, sizeof l->description, "%s", desc);
    emit(g, p, &ev, LL_OK);
  }
  remember(g, p);
  return true;
}

/* ---- invalid events (a rejection whose code the model knows) ---- */

static bool gen_bad_create(gen *g, cp_product *p, ll_code code) {
  cp_lot *l = any_lot(g, p);
  if (!l && code != LL_MISSING_FIELD && code != LL_INVALID_FIELD)
    return false;
  ll_event ev;
  base_event(g, p, &ev, LL_EV_LOT_CREATED);
  int n = p->next_lot++;
  char buf[CP_ID_MAX];
  snprintf(buf, sizeof buf, "%s-L%d", p->id, n);
  ev.lot_id = ll_strdup(code == LL_LOT_ID_TAKEN ? l->lot_id : buf);
  snprintf(buf, sizeof buf, "X-%d", n);
  if (code == LL_DUPLICATE_LOT)
    snprintf(buf, sizeof buf, " %s ", l->name); /* names are trimmed */
  else if (code == LL_INVALID_FIELD)
    snprintf(buf, sizeof buf, "bad\x07name-%d", n);
  ev.name = code == LL_MISSING_FIELD ? NULL : ll_strdup(buf);
  ev.tracking = p->tracking;
  if (code == LL_TRACKING_MISMATCH)
    ev.tracking = p->tracking == LL_TRACK_LOT ? LL_TRACK_SERIAL : LL_TRACK_LOT;
  emit(g, p, &ev, code);
  remember(g, p);
  return true;
}

static bool gen_bad_move(gen *g, cp_product *p, ll_code code) {
  cp_lot *l = any_lot(g, p);
  bool serial = p->tracking == LL_TRACK_SERIAL;
  int from = LOC_VENDORS, to = LOC_STOCK_FIRST;
  int64_t qty = LL_MICRO;
  const char *lot_id = l ? l->lot_id : NULL;
  char unknown[CP_ID_MAX];
  switch (code) {
  case LL_UNKNOWN_LOT:
    snprintf(unknown, sizeof unknown, "%s-nope-%lld", p->id, (long long)g->seq);
    lot_id = unknown;
    break;
  case LL_INVALID_QUANTITY:
    qty = 0;
    break;
  case LL_SAME_LOCATION:
    from = to = LOC_STOCK_FIRST + (int)(rnd(g) % LOC_STOCK_COUNT);
    break;
  case LL_INSUFFICIENT_STOCK: /* LOT lots: more than there is */
    if (!l || serial)
      return false;
    from = LOC_STOCK_FIRST + (int)(rnd(g) % LOC_STOCK_COUNT);
    to = rnd(g) % 2 ? LOC_CUSTOMERS : other_stock_location(g, from);
    qty = l->qty[from] + rnd_range(g, 1, CP_OVERDRAW_MAX_MICRO);
    break;
  case LL_SERIAL_NOT_AT_SOURCE: /* from a stock location it is not at */
    if (!l || !serial)
      return false;
    from = LOC_STOCK_FIRST + (int)(rnd(g) % LOC_STOCK_COUNT);
    if (l->qty[from] != 0)
      return false;
    to = LOC_CUSTOMERS;
    break;
  case LL_SERIAL_QUANTITY:
    if (!l || !serial)
      return false;
    qty = 2 * LL_MICRO;
    break;
  case LL_SERIAL_ALREADY_IN_STOCK:
    if (!l || !serial || on_hand(l) == 0)
      return false;
    break;
  case LL_LOCATION_USAGE_CONFLICT: /* Vendors is known as SUPPLIER */
    if (!l || !p->vendors_known)
      return false;
    break;
  default:
    return false;
  }
  if (!lot_id)
    return false;
  ll_event ev;
  base_event(g, p, &ev, LL_EV_STOCK_MOVED);
  set_move(&ev, lot_id, qty, from, to);
  if (code == LL_LOCATION_USAGE_CONFLICT)
    ev.from.usage = LL_USAGE_INTERNAL;
  emit(g, p, &ev, code);
  remember(g, p);
  return true;
}

static bool gen_redelivery(gen *g, cp_product *p) {
  if (p->n_ring == 0)
    return false;
  cp_sent *s = &p->ring[rnd(g) % (uint64_t)p->n_ring];
  ll_buf_reset(&g->value);
  ll_buf_put(&g->value, s->bytes.data, s->bytes.len);
  snprintf(g->key, sizeof g->key, "%s", p->id);
  snprintf(g->event_id, sizeof g->event_id, "%s", s->event_id);
  g->has_event_id = true;
  g->duplicate = true;
  g->code = LL_OK;
  return true;
}

/* A different event under an id already recorded. Not recordable itself. */
static bool gen_reuse(gen *g, cp_product *p) {
  cp_lot *l = any_lot(g, p);
  if (p->n_ring == 0 || !l)
    return false;
  cp_sent *s = &p->ring[rnd(g) % (uint64_t)p->n_ring];
  ll_event ev;
  base_event(g, p, &ev, LL_EV_STOCK_MOVED);
  free(ev.event_id);
  ev.event_id = ll_strdup(s->event_id);
  snprintf(g->event_id, sizeof g->event_id, "%s", s->event_id);
  set_move(&ev, l->lot_id, rnd_range(g, 1, CP_RECEIVE_MAX_MICRO), LOC_VENDORS,
           LOC_STOCK_FIRST);
  emit(g, p, &ev, LL_EVENT_ID_REUSED);
  return true;
}

/* A valid event keyed by another product: lands on that product's
 * partition and changes nothing. */
static bool gen_key_mismatch(gen *g, cp_product *p) {
  if (g->n_products < 2)
    return false;
  cp_product *other = &g->products[rnd(g) % (uint64_t)g->n_products];
  if (other == p)
    return false;
  ll_event ev;
  base_event(g, p, &ev, LL_EV_STOCK_MOVED);
  set_move(&ev, p->n_lots ? p->lots[0].lot_id : "none", LL_MICRO, LOC_VENDORS,
           LOC_STOCK_FIRST);
  emit(g, other, &ev, LL_KEY_MISMATCH);
  return true;
}

/* Bytes that are no event: garbage (MALFORMED, also the empty value) or a
 * framing whose schema nobody knows (UNKNOWN_SCHEMA). */
static bool gen_garbage(gen *g, cp_product *p, ll_code code) {
  ll_buf_reset(&g->value);
  snprintf(g->key, sizeof g->key, "%s", p->id);
  g->has_event_id = false;
  g->code = code;
  if (code == LL_UNKNOWN_SCHEMA) {
    if (rnd(g) % 2) {
      static const uint8_t single_object[2] = {0xC3, 0x01};
      ll_buf_put(&g->value, single_object, 2);
      uint64_t fingerprint = rnd(g);
      ll_buf_put(&g->value, &fingerprint, 8);
    } else {
      uint8_t confluent[5] = {0x00, 0x00, 0x01, 0x86, 0xA0}; /* id 100000 */
      ll_buf_put(&g->value, confluent, sizeof confluent);
    }
  }
  int64_t n = code == LL_MALFORMED && rnd(g) % 16 == 0
                  ? 0
                  : rnd_range(g, 1, CP_GARBAGE_MAX_BYTES);
  for (int64_t i = 0; i < n; i++) {
    uint8_t b = (uint8_t)rnd(g);
    if (i == 0 && code == LL_MALFORMED && (b == 0x00 || b == 0xC3))
      b = 0x42; /* not a framing we read */
    ll_buf_put(&g->value, &b, 1);
  }
  return true;
}

/* Choose and build the next message. Kinds whose preconditions fail fall
 * through to the next draw; creating or receiving always works in the end. */
static void gen_next(gen *g) {
  cp_product *p = &g->products[rnd(g) % (uint64_t)g->n_products];
  g->duplicate = false;
  g->has_event_id = false;
  for (;;) {
    int r = (int)(rnd(g) % 1000);
    bool ok;
    if (p->n_lots == 0 || r < 50)
      ok = gen_create(g, p);
    else if (r < 230)
      ok = gen_receive(g, p);
    else if (r < 450)
      ok = gen_move_out(g, p, -1);
    else if (r < 540)
      ok = gen_move_out(g, p, LOC_CUSTOMERS);
    else if (r < 560)
      ok = gen_move_out(g, p, rnd(g) % 2 ? LOC_SCRAP : LOC_ADJUST);
    else if (r < 590)
      ok = gen_update(g, p, false);
    else if (r < 640)
      ok = gen_redelivery(g, p);
    else if (r < 700)
      ok = gen_bad_move(g, p,
                        p->tracking == LL_TRACK_LOT ? LL_INSUFFICIENT_STOCK
                                                    : LL_SERIAL_NOT_AT_SOURCE);
    else if (r < 730)
      ok = gen_bad_move(g, p, LL_UNKNOWN_LOT);
    else if (r < 750)
      ok = gen_bad_create(g, p, LL_DUPLICATE_LOT);
    else if (r < 765)
      ok = gen_bad_create(g, p, LL_LOT_ID_TAKEN);
    else if (r < 775)
      ok = gen_bad_create(g, p, LL_TRACKING_MISMATCH);
    else if (r < 785)
      ok = gen_bad_create(g, p, LL_MISSING_FIELD);
    else if (r < 792)
      ok = gen_bad_create(g, p, LL_INVALID_FIELD);
    else if (r < 810)
      ok = gen_update(g, p, true);
    else if (r < 830)
      ok = gen_bad_move(g, p, LL_INVALID_QUANTITY);
    else if (r < 845)
      ok = gen_bad_move(g, p, LL_SAME_LOCATION);
    else if (r < 860)
      ok = gen_bad_move(g, p, LL_LOCATION_USAGE_CONFLICT);
    else if (r < 875)
      ok = gen_bad_move(
          g, p, rnd(g) % 2 ? LL_SERIAL_QUANTITY : LL_SERIAL_ALREADY_IN_STOCK);
    else if (r < 900)
      ok = gen_reuse(g, p);
    else if (r < 925)
      ok = gen_key_mismatch(g, p);
    else if (r < 975)
      ok = gen_garbage(g, p, LL_MALFORMED);
    else
      ok = gen_garbage(g, p, LL_UNKNOWN_SCHEMA);
    if (ok)
      break;
  }
  g->seq++;
}

/* ---- Kafka ---- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque) {
  (void)rk;
  (void)opaque;
  cp_msg *msg = m->_private;
  if (m->err) {
    fprintf(stderr, "crash_producer: delivery failed: %s\n",
            rd_kafka_err2str(m->err));
    return;
  }
  msg->partition = m->partition;
  msg->offset = m->offset;
  msg->delivered = true;
}

static rd_kafka_t *make_producer(const char *brokers) {
  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  const char *settings[][2] = {
      {"bootstrap.servers", brokers},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"linger.ms", "5"},
      {"message.timeout.ms", "0"},
      {"client.id", "crash-producer"},
      {"partitioner", "murmur2_random"},
  };
  for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
    if (rd_kafka_conf_set(conf, settings[i][0], settings[i][1], errstr,
                          sizeof errstr) != RD_KAFKA_CONF_OK)
      die(settings[i][0], errstr);
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk)
    die("producer", errstr);
  return rk;
}

static void send_msg(rd_kafka_t *rk, const char *topic, gen *g, cp_msg *msg) {
  for (;;) {
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(g->key, strlen(g->key)),
        RD_KAFKA_V_VALUE(g->value.len ? g->value.data : NULL, g->value.len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(msg),
        RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(rk, 10);
      continue;
    }
    if (e)
      die("produce", rd_kafka_err2str(e));
    break;
  }
  rd_kafka_poll(rk, 0);
}

static void sleep_until_ns(uint64_t t) {
  uint64_t now = ll_mono_ns();
  if (t <= now)
    return;
  struct timespec ts = {(time_t)((t - now) / 1000000000ull),
                        (long)((t - now) % 1000000000ull)};
  nanosleep(&ts, NULL);
}

/* ---- the expectations file ---- */

static void write_expectations(const char *path, const gen *g,
                               const cp_msg *msgs, int64_t n) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f)
    die(tmp, strerror(errno));
  int64_t accepted = 0, rejected = 0, duplicates = 0;
  for (int64_t i = 0; i < n; i++) {
    const cp_msg *m = &msgs[i];
    const char *outcome = m->duplicate       ? "DUPLICATE"
                          : m->code == LL_OK ? "ACCEPTED"
                                             : ll_code_name(m->code);
    fprintf(f, "M %d %lld %s %s\n", (int)m->partition, (long long)m->offset,
            outcome, m->event_id ? m->event_id : "-");
    if (m->duplicate)
      duplicates++;
    else if (m->code == LL_OK)
      accepted++;
    else
      rejected++;
  }
  for (int i = 0; i < g->n_products; i++) {
    const cp_product *p = &g->products[i];
    for (int j = 0; j < p->n_lots; j++) {
      const cp_lot *l = &p->lots[j];
      fprintf(f, "L %s %s %s %lld %lld %lld %lld %lld %s\n", l->lot_id, p->id,
              ll_tracking_name(p->tracking), (long long)l->version,
              (long long)l->move_count, (long long)on_hand(l),
              (long long)l->created_at_ms, (long long)l->updated_at_ms,
              l->description[0] ? l->description : "-");
      for (int k = 0; k < LOC_COUNT; k++)
        if (l->qty[k] != 0)
          fprintf(f, "Q %s %s %lld\n", l->lot_id, LOCS[k].id,
                  (long long)l->qty[k]);
    }
  }
  fprintf(f, "T %lld %lld %lld %lld\n", (long long)n, (long long)accepted,
          (long long)rejected, (long long)duplicates);
  if (fclose(f) != 0 || rename(tmp, path) != 0)
    die(path, strerror(errno));
  printf("crash_producer: %lld messages: %lld accepted, %lld rejected, %lld "
         "duplicates\n",
         (long long)n, (long long)accepted, (long long)rejected,
         (long long)duplicates);
}

int main(int argc, char **argv) {
  const char *brokers = NULL, *schemas = NULL, *expect = NULL;
  const char *topic = "lots.inbound";
  uint64_t seed = 1;
  long long events = 10000, products = 64, rate = 0;
  static const struct option opts[] = {
      {"brokers", required_argument, NULL, 'b'},
      {"schemas", required_argument, NULL, 's'},
      {"expect", required_argument, NULL, 'x'},
      {"topic", required_argument, NULL, 't'},
      {"seed", required_argument, NULL, 'S'},
      {"events", required_argument, NULL, 'n'},
      {"products", required_argument, NULL, 'p'},
      {"rate", required_argument, NULL, 'r'},
      {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'b':
      brokers = optarg;
      break;
    case 's':
      schemas = optarg;
      break;
    case 'x':
      expect = optarg;
      break;
    case 't':
      topic = optarg;
      break;
    case 'S':
      seed = strtoull(optarg, NULL, 10);
      break;
    case 'n':
      events = atoll(optarg);
      break;
    case 'p':
      products = atoll(optarg);
      break;
    case 'r':
      rate = atoll(optarg);
      break;
    default:
      fprintf(stderr, "usage: crash_producer --brokers LIST --schemas DIR "
                      "--expect FILE [--seed N] [--events N] [--products N] "
                      "[--rate N] [--topic NAME]\n");
      return 2;
    }
  }
  if (!brokers || !schemas || !expect || events < 1 || products < 1 ||
      products > CP_PRODUCTS_MAX || rate < 0) {
    fprintf(stderr, "crash_producer: --brokers, --schemas and --expect are "
                    "required; --events >= 1; --products 1..512\n");
    return 2;
  }
  ll_err e;
  gen g = {.rng = seed, .n_products = (int)products};
  g.codec = ll_codec_open(schemas, NULL, &e);
  if (!g.codec)
    die_err("codec", &e);
  ll_buf_init(&g.value);
  g.products = ll_xcalloc((size_t)products, sizeof *g.products);
  for (int i = 0; i < g.n_products; i++) {
    snprintf(g.products[i].id, sizeof g.products[i].id, "P%03d-%llu", i,
             (unsigned long long)(seed % 100000));
    g.products[i].tracking = i % 8 == 7 ? LL_TRACK_SERIAL : LL_TRACK_LOT;
  }
  cp_msg *msgs = ll_xcalloc((size_t)events, sizeof *msgs);
  rd_kafka_t *rk = make_producer(brokers);
  uint64_t start_ns = ll_mono_ns();
  for (int64_t i = 0; i < events; i++) {
    gen_next(&g);
    cp_msg *m = &msgs[i];
    m->duplicate = g.duplicate;
    m->code = g.code;
    m->event_id = g.has_event_id ? ll_strdup(g.event_id) : NULL;
    send_msg(rk, topic, &g, m);
    if (rate > 0)
      sleep_until_ns(start_ns + (uint64_t)i * 1000000000ull / (uint64_t)rate);
  }
  if (rd_kafka_flush(rk, CP_FLUSH_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
    die("flush", "messages still queued");
  rd_kafka_destroy(rk);
  for (int64_t i = 0; i < events; i++)
    if (!msgs[i].delivered)
      die("delivery", "a message was not acknowledged");
  write_expectations(expect, &g, msgs, events);
  for (int64_t i = 0; i < events; i++)
    free(msgs[i].event_id);
  free(msgs);
  for (int i = 0; i < g.n_products; i++)
    for (int j = 0; j < g.products[i].n_ring; j++)
      ll_buf_free(&g.products[i].ring[j].bytes);
  free(g.products);
  ll_buf_free(&g.value);
  ll_codec_close(g.codec);
  return 0;
}
