/* test_rules_codes.c — every rejection code of docs/rejections.md, for real.
 *
 * One `lotlined all` on its embedded broker. The Kafka path, as an upstream
 * system would use it (a plain librdkafka producer and ll_codec):
 *   1. set up a few lots and stock, and wait until they are visible: events
 *      keyed by different products travel on different partitions, so a
 *      trigger must not be able to overtake the state it is about;
 *   2. send one event per rejection code, and two identical redeliveries
 *      (of an accepted and of a rejected event) that must be silent no-ops;
 *   3. send one accepted event per key used and wait until each is visible:
 *      partitions are read in order, so by then every earlier event on them
 *      has been decided.
 * Every rejection is then read back from lots.rejected (code, event id,
 * original topic, partition and offset as the producer's delivery report
 * gave them, original key and bytes) and from GET /v1/rejections, each
 * exactly once; the lots are unchanged.
 *
 * Then the HTTP path: every code a request can reach (all but MALFORMED,
 * UNKNOWN_SCHEMA and KEY_MISMATCH), with the status api_write.c promises,
 * the same code in the JSON body and a message that names what matters;
 * and the quantity strings that must all be INVALID_QUANTITY.
 *
 * Each message received is printed ("KAFKA <code>: <message>" and
 * "HTTP <status> <code>: <message>"): docs/rejections.md quotes them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "ll_codec.h"
#include "ll_decimal.h"
#include "ll_event.h"
#include "ll_hash.h"
#include "ll_mem.h"

#define START_TIMEOUT_MS 20000
#define VIEW_TIMEOUT_MS 30000
#define STOP_TIMEOUT_MS 5000
#define MAX_SENT 48
#define MAX_WORDS 4

/* Fixed event times, so that a resent event is the same content. */
#define OCCURRED_AT_MS 1795000000000LL /* 2026-11-18T07:06:40Z */
#define EXPIRED_AT_MS 1577836800000LL  /* 2020-01-01T00:00:00Z */
#define EXPIRES_AT_MS 1803859200000LL  /* 2027-03-01T00:00:00Z */
#define DAY_MS 86400000LL

static ll_codec *codec;

/* ---- what was sent ---- */

typedef struct sent {
  const char *label;
  ll_code expect; /* the rejection it must get; LL_OK = none */
  const char *key;
  char *event_id; /* NULL when the bytes are not an event */
  ll_buf value;
  const char *words[MAX_WORDS]; /* the message must contain each */
  bool wrong_partition;         /* sent to the partition after its own */
  int delivered;                /* 1 delivered, -1 failed */
  int32_t partition;
  int64_t offset;
  int seen_topic, seen_api;
  char *message; /* as read from lots.rejected */
} sent;

typedef struct sent_list {
  sent items[MAX_SENT];
  size_t len;
} sent_list;

static sent *add_raw(sent_list *l, const char *label, ll_code expect,
                     const char *key, const void *bytes, size_t len) {
  assert_true(l->len < MAX_SENT);
  sent *s = &l->items[l->len++];
  memset(s, 0, sizeof *s);
  s->label = label;
  s->expect = expect;
  s->key = key;
  ll_buf_init(&s->value);
  ll_buf_put(&s->value, bytes, len);
  return s;
}

/* Encode ev (single-object Avro) and free it. */
static sent *add_event(sent_list *l, const char *label, ll_code expect,
                       const char *key, ll_event *ev) {
  ll_buf b;
  ll_err e;
  ll_buf_init(&b);
  if (ll_codec_encode(codec, ev, &b, &e) != 0)
    fail_msg("%s: cannot encode: %s", label, e.message);
  sent *s = add_raw(l, label, expect, key, b.data, b.len);
  s->event_id = ll_strdup(ev->event_id);
  ll_buf_free(&b);
  ll_event_free(ev);
  return s;
}

static void words(sent *s, const char *a, const char *b, const char *c,
                  const char *d) {
  s->words[0] = a;
  s->words[1] = b;
  s->words[2] = c;
  s->words[3] = d;
}

static void sent_list_free(sent_list *l) {
  for (size_t i = 0; i < l->len; i++) {
    ll_buf_free(&l->items[i].value);
    free(l->items[i].event_id);
    free(l->items[i].message);
  }
  l->len = 0;
}

static sent *find_sent(sent_list *l, const char *topic, int32_t partition,
                       int64_t offset) {
  if (!topic || strcmp(topic, "lots.inbound") != 0)
    return NULL;
  for (size_t i = 0; i < l->len; i++) {
    sent *s = &l->items[i];
    if (s->delivered == 1 && s->partition == partition && s->offset == offset)
      return s;
  }
  return NULL;
}

static void check_words(const char *where, const char *code,
                        const char *message, const char *const *w, size_t n) {
  for (size_t i = 0; i < n && w[i]; i++) {
    if (!message || !strstr(message, w[i]))
      fail_msg("%s %s: message \"%s\" does not contain \"%s\"", where, code,
               message ? message : "(none)", w[i]);
  }
}

/* ---- events ---- */

static void ev_create(ll_event *ev, const char *id, const char *product,
                      const char *lot, const char *name, ll_tracking t) {
  h_ev_create(ev, id, product, lot, name, t);
  ev->occurred_at_ms = OCCURRED_AT_MS;
}

static void ev_move(ll_event *ev, const char *id, const char *product,
                    const char *lot, const char *qty, const char *from,
                    ll_usage fu, const char *to, ll_usage tu) {
  h_ev_move(ev, id, product, lot, qty, from, fu, to, tu);
  assert_true(ev->quantity_valid);
  ev->occurred_at_ms = OCCURRED_AT_MS;
}

static void ev_update(ll_event *ev, const char *id, const char *product,
                      const char *lot) {
  ll_event_init(ev);
  ev->type = LL_EV_LOT_UPDATED;
  ev->event_id = ll_strdup(id);
  ev->occurred_at_ms = OCCURRED_AT_MS;
  ev->product_id = ll_strdup(product);
  ev->lot_id = ll_strdup(lot);
}

static void ev_hold(ll_event *ev, const char *id, const char *product,
                    const char *lot, const char *reason) {
  ll_event_init(ev);
  ev->type = LL_EV_LOT_HELD;
  ev->event_id = ll_strdup(id);
  ev->occurred_at_ms = OCCURRED_AT_MS;
  ev->product_id = ll_strdup(product);
  ev->lot_id = ll_strdup(lot);
  ev->reason = ll_strdup(reason);
}

/* ---- Kafka: a producer that remembers where each message went ---- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque) {
  (void)rk;
  (void)opaque;
  sent *s = m->_private;
  if (m->err) {
    s->delivered = -1;
    return;
  }
  s->delivered = 1;
  s->partition = m->partition;
  s->offset = m->offset;
}

/* The partition count of lots.inbound. */
static int32_t inbound_partitions(rd_kafka_t *rk) {
  const struct rd_kafka_metadata *md = NULL;
  assert_int_equal(rd_kafka_metadata(rk, 1, NULL, &md, 10000), 0);
  int32_t n = 0;
  for (int i = 0; i < md->topic_cnt; i++)
    if (strcmp(md->topics[i].topic, "lots.inbound") == 0)
      n = md->topics[i].partition_cnt;
  rd_kafka_metadata_destroy(md);
  assert_true(n > 1);
  return n;
}

/* Where s goes: the partition Kafka's default partitioner gives its key
 * (the producer's own choice), or the next one. */
static int32_t partition_for(rd_kafka_t *rk, const sent *s) {
  if (!s->wrong_partition)
    return RD_KAFKA_PARTITION_UA;
  int32_t n = inbound_partitions(rk);
  return (ll_partition_of_key(s->key, strlen(s->key), n) + 1) % n;
}

/* Produce items [from, to) in order, wait for every delivery report. */
static void send_range(const char *brokers, sent_list *l, size_t from,
                       size_t to) {
  rd_kafka_t *rk = h_idempotent_producer(brokers, on_delivery);
  for (size_t i = from; i < to; i++) {
    sent *s = &l->items[i];
    rd_kafka_resp_err_t e;
    do {
      e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("lots.inbound"),
                            RD_KAFKA_V_PARTITION(partition_for(rk, s)),
                            RD_KAFKA_V_KEY((void *)s->key, strlen(s->key)),
                            RD_KAFKA_V_VALUE(s->value.data, s->value.len),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                            RD_KAFKA_V_OPAQUE(s), RD_KAFKA_V_END);
      if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(rk, 10);
    } while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
    if (e)
      fail_msg("produce %s: %s", s->label, rd_kafka_err2str(e));
  }
  assert_int_equal(rd_kafka_flush(rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_destroy(rk);
  for (size_t i = from; i < to; i++) {
    if (l->items[i].delivered != 1)
      fail_msg("%s was not delivered", l->items[i].label);
  }
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Read a whole topic: every partition from its beginning up to the high
 * watermark, once the watermarks add up to at least `want` (or the time is
 * up). No consumer group: assigned partitions, so no rebalance to wait for.
 * Returns the number of messages read. */
static int read_topic(const char *brokers, const char *topic, int want,
                      int timeout_ms,
                      void (*fn)(const rd_kafka_message_t *m, void *arg),
                      void *arg) {
  char errstr[256];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr);
  rd_kafka_conf_set(conf, "group.id", "rules-codes-reader", errstr,
                    sizeof errstr);
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof errstr);
  rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr,
                    sizeof errstr);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (!rk)
    fail_msg("consumer: %s", errstr);
  rd_kafka_poll_set_consumer(rk);

  int n_parts = 0, waited = 0;
  for (; n_parts == 0 && waited < timeout_ms; waited += 100) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && !md->topics[0].err)
      n_parts = md->topics[0].partition_cnt;
    if (md)
      rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    if (n_parts == 0)
      sleep_ms(100);
  }
  if (n_parts == 0)
    fail_msg("no metadata for %s", topic);

  int64_t *high = ll_xcalloc((size_t)n_parts, sizeof *high);
  for (; waited < timeout_ms; waited += 100) {
    int64_t sum = 0;
    for (int p = 0; p < n_parts; p++) {
      int64_t lo = 0;
      if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &high[p], 5000))
        high[p] = 0;
      sum += high[p];
    }
    if (sum >= want)
      break;
    sleep_ms(100);
  }

  rd_kafka_topic_partition_list_t *parts =
      rd_kafka_topic_partition_list_new(n_parts);
  bool *done = ll_xcalloc((size_t)n_parts, sizeof *done);
  int remaining = 0;
  for (int p = 0; p < n_parts; p++) {
    rd_kafka_topic_partition_list_add(parts, topic, p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    done[p] = high[p] == 0;
    remaining += !done[p];
  }
  assert_int_equal(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_topic_partition_list_destroy(parts);
  int got = 0;
  for (int w = 0; remaining > 0 && w < timeout_ms; w += 100) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
    if (!m)
      continue;
    int p = m->partition;
    if (!m->err && p >= 0 && p < n_parts && m->offset < high[p]) {
      fn(m, arg);
      got++;
      if (m->offset + 1 >= high[p] && !done[p]) {
        done[p] = true;
        remaining--;
      }
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  free(high);
  free(done);
  return got;
}

/* ---- HTTP helpers ---- */

static bool any_json(json_t *j, const void *arg) {
  (void)arg;
  return j != NULL;
}

static bool on_hand_is(json_t *j, const void *arg) {
  json_t *v = json_object_get(j, "on_hand");
  return json_is_string(v) && strcmp(json_string_value(v), arg) == 0;
}

static void wait_lot(const char *http, const char *lot_id,
                     const char *on_hand) {
  char path[256];
  snprintf(path, sizeof path, "/v1/lots/%s", lot_id);
  json_t *j = h_http_wait(http, path, on_hand ? on_hand_is : any_json, on_hand,
                          VIEW_TIMEOUT_MS);
  if (!j || !(on_hand ? on_hand_is(j, on_hand) : true))
    fail_msg("lot %s did not become visible%s%s", lot_id,
             on_hand ? " with on hand " : "", on_hand ? on_hand : "");
  json_decref(j);
}

static const char *jstr(json_t *j, const char *key) {
  return json_string_value(json_object_get(j, key));
}

/* The lot as the API shows it, checked field by field. */
static void check_lot(const char *http, const char *lot_id, const char *product,
                      const char *name, const char *on_hand, int version) {
  char path[256];
  json_t *j = NULL;
  snprintf(path, sizeof path, "/v1/lots/%s", lot_id);
  assert_int_equal(h_http("GET", http, path, NULL, NULL, &j), 200);
  assert_string_equal(jstr(j, "product_id"), product);
  assert_string_equal(jstr(j, "name"), name);
  assert_string_equal(jstr(j, "on_hand"), on_hand);
  assert_int_equal(json_integer_value(json_object_get(j, "version")), version);
  assert_true(json_is_null(json_object_get(j, "reference")));
  json_decref(j);
}

static void check_no_lot(const char *http, const char *lot_id) {
  char path[256];
  json_t *j = NULL;
  snprintf(path, sizeof path, "/v1/lots/%s", lot_id);
  int st = h_http("GET", http, path, NULL, NULL, &j);
  json_decref(j);
  if (st != 404)
    fail_msg("GET %s answered %d: a rejected event created a lot", path, st);
}

/* The lot's stock: exactly one internal location with this quantity. */
static void check_stock(const char *http, const char *lot_id,
                        const char *location, const char *qty) {
  char path[256];
  json_t *j = NULL;
  snprintf(path, sizeof path, "/v1/lots/%s/locations", lot_id);
  assert_int_equal(h_http("GET", http, path, NULL, NULL, &j), 200);
  json_t *locs = json_object_get(j, "locations");
  assert_int_equal(json_array_size(locs), 1);
  assert_string_equal(jstr(json_array_get(locs, 0), "location"), location);
  assert_string_equal(jstr(json_array_get(locs, 0), "quantity"), qty);
  json_decref(j);
}

/* ---- the Kafka path ---- */

static char NAME256[257]; /* one character over the limit */

/* The state the triggers are about. */
static void build_setup(sent_list *l) {
  ll_event ev;
  ev_create(&ev, "rc-s1", "PAINT", "RC-L1", "LOT-001", LL_TRACK_LOT);
  add_event(l, "setup: lot RC-L1", LL_OK, "PAINT", &ev);
  ev_move(&ev, "rc-s2", "PAINT", "RC-L1", "10", "Vendors", LL_USAGE_SUPPLIER,
          "WH/Stock", LL_USAGE_INTERNAL);
  add_event(l, "setup: receive 10 of RC-L1", LL_OK, "PAINT", &ev);
  ev_create(&ev, "rc-s3", "PAINT", "RC-LX", "LOT-EXP", LL_TRACK_LOT);
  ev.expiration_at = (ll_opt_time){true, EXPIRED_AT_MS};
  add_event(l, "setup: expired lot RC-LX", LL_OK, "PAINT", &ev);
  ev_move(&ev, "rc-s4", "PAINT", "RC-LX", "5", "Vendors", LL_USAGE_SUPPLIER,
          "WH/Stock", LL_USAGE_INTERNAL);
  add_event(l, "setup: receive 5 of RC-LX", LL_OK, "PAINT", &ev);
  ev_create(&ev, "rc-s5", "DRILL", "RC-S1", "SN-1", LL_TRACK_SERIAL);
  add_event(l, "setup: serial RC-S1", LL_OK, "DRILL", &ev);
  ev_move(&ev, "rc-s6", "DRILL", "RC-S1", "1", "Vendors", LL_USAGE_SUPPLIER,
          "WH/Stock", LL_USAGE_INTERNAL);
  add_event(l, "setup: receive serial RC-S1", LL_OK, "DRILL", &ev);
  /* A lot in kg (which fixes PAINT's unit), received, then held. */
  ev_create(&ev, "rc-s7", "PAINT", "RC-LH", "LOT-HOLD", LL_TRACK_LOT);
  ev.uom = ll_strdup("kg");
  add_event(l, "setup: lot RC-LH in kg", LL_OK, "PAINT", &ev);
  ev_move(&ev, "rc-s8", "PAINT", "RC-LH", "5", "Vendors", LL_USAGE_SUPPLIER,
          "WH/Stock", LL_USAGE_INTERNAL);
  add_event(l, "setup: receive 5 of RC-LH", LL_OK, "PAINT", &ev);
  ev_hold(&ev, "rc-s9", "PAINT", "RC-LH", "RC-7 recall");
  add_event(l, "setup: hold RC-LH", LL_OK, "PAINT", &ev);
}

/* One event per code, then the redeliveries. */
static void build_triggers(sent_list *l) {
  ll_event ev;
  sent *s;
  s = add_raw(l, "bytes that are not Avro", LL_MALFORMED, "PAINT", "not avro",
              8);
  /* A single-object header with a fingerprint no schema has. */
  s = add_raw(l, "unknown fingerprint", LL_UNKNOWN_SCHEMA, "PAINT",
              "\xc3\x01\x01\x02\x03\x04\x05\x06\x07\x08\x02", 11);
  s->words[0] = "0807060504030201";

  ev_move(&ev, "rc-t-key", "PAINT", "RC-L1", "1", "Vendors", LL_USAGE_SUPPLIER,
          "WH/Stock", LL_USAGE_INTERNAL);
  s = add_event(l, "keyed by another product", LL_KEY_MISMATCH, "GLUE", &ev);
  words(s, "'GLUE'", "'PAINT'", NULL, NULL);

  ev_move(&ev, "rc-t-partition", "PAINT", "RC-L1", "1", "Vendors",
          LL_USAGE_SUPPLIER, "WH/Stock", LL_USAGE_INTERNAL);
  s = add_event(l, "on another product's partition", LL_WRONG_PARTITION,
                "PAINT", &ev);
  s->wrong_partition = true;
  words(s, "'PAINT'", "partitioner=murmur2_random", NULL, NULL);

  ev_create(&ev, "rc-t-missing", "PAINT", "RC-L7", "   ", LL_TRACK_LOT);
  s = add_event(l, "blank name", LL_MISSING_FIELD, "PAINT", &ev);
  words(s, "name", NULL, NULL, NULL);

  ev_create(&ev, "rc-t-invalid", "PAINT", "RC-L7", NAME256, LL_TRACK_LOT);
  s = add_event(l, "name of 256 characters", LL_INVALID_FIELD, "PAINT", &ev);
  words(s, "name", "256 characters, at most 255", NULL, NULL);

  ev_create(&ev, "rc-t-dup", "PAINT", "RC-L9", "  LOT-001 ", LL_TRACK_LOT);
  s = add_event(l, "name taken (after trimming)", LL_DUPLICATE_LOT, "PAINT",
                &ev);
  words(s, "The combination of lot/serial number and product must be unique.",
        "'PAINT'", "'LOT-001'", "'RC-L1'");

  ev_create(&ev, "rc-t-taken", "PAINT", "RC-L1", "LOT-NEW", LL_TRACK_LOT);
  s = add_event(l, "lot id taken", LL_LOT_ID_TAKEN, "PAINT", &ev);
  words(s, "'RC-L1'", "'LOT-001'", "'PAINT'", NULL);

  ev_create(&ev, "rc-t-tracking", "DRILL", "RC-S2", "SN-2", LL_TRACK_LOT);
  s = add_event(l, "lot tracking for a serial product", LL_TRACKING_MISMATCH,
                "DRILL", &ev);
  words(s, "'DRILL'", "SERIAL", "'SN-2'", NULL);

  ev_move(&ev, "rc-t-unknown", "PAINT", "RC-NOPE", "1", "Vendors",
          LL_USAGE_SUPPLIER, "WH/Stock", LL_USAGE_INTERNAL);
  s = add_event(l, "move of a lot that does not exist", LL_UNKNOWN_LOT, "PAINT",
                &ev);
  words(s, "'RC-NOPE'", NULL, NULL, NULL);

  ev_update(&ev, "rc-t-version", "PAINT", "RC-L1");
  ev.has_expected_version = true;
  ev.expected_version = 7;
  ev.reference = ll_strdup("PO-1");
  s = add_event(l, "update against version 7", LL_VERSION_CONFLICT, "PAINT",
                &ev);
  words(s, "'LOT-001' (RC-L1)", "version 1", "expected version 7", NULL);

  ev_update(&ev, "rc-t-locked", "PAINT", "RC-L1");
  ev.new_product_id = ll_strdup("GLUE");
  s = add_event(l, "product change", LL_PRODUCT_LOCKED, "PAINT", &ev);
  words(s, "The product of a lot cannot be changed.", "'LOT-001' (RC-L1)",
        "create it there", "'GLUE'");

  ev_move(&ev, "rc-t-quantity", "PAINT", "RC-L1", "1000000000000", "Vendors",
          LL_USAGE_SUPPLIER, "WH/Stock", LL_USAGE_INTERNAL);
  s = add_event(l, "quantity over decimal(18, 6)", LL_INVALID_QUANTITY, "PAINT",
                &ev);
  words(s, "1000000000000", "999999999999.999999", NULL, NULL);

  ev_move(&ev, "rc-t-same", "PAINT", "RC-L1", "1", "WH/Stock",
          LL_USAGE_INTERNAL, "WH/Stock", LL_USAGE_INTERNAL);
  s = add_event(l, "from = to", LL_SAME_LOCATION, "PAINT", &ev);
  words(s, "'WH/Stock'", NULL, NULL, NULL);

  ev_move(&ev, "rc-t-usage", "PAINT", "RC-L1", "1", "Vendors",
          LL_USAGE_SUPPLIER, "WH/Stock", LL_USAGE_TRANSIT);
  s = add_event(l, "internal location sent as transit",
                LL_LOCATION_USAGE_CONFLICT, "PAINT", &ev);
  words(s, "'WH/Stock' has usage INTERNAL", "usage TRANSIT", NULL, NULL);

  ev_move(&ev, "rc-t-serial-qty", "DRILL", "RC-S1", "2", "WH/Stock",
          LL_USAGE_INTERNAL, "Customers/ACME", LL_USAGE_CUSTOMER);
  s = add_event(l, "serial moved by 2", LL_SERIAL_QUANTITY, "DRILL", &ev);
  words(s, "'SN-1' (RC-S1)", "'DRILL'", "not 2", NULL);

  ev_move(&ev, "rc-t-serial-source", "DRILL", "RC-S1", "1", "WH/Stock/Shelf-9",
          LL_USAGE_INTERNAL, "Customers/ACME", LL_USAGE_CUSTOMER);
  s = add_event(l, "serial taken from a shelf it is not on",
                LL_SERIAL_NOT_AT_SOURCE, "DRILL", &ev);
  words(s, "'SN-1' (RC-S1)", "'WH/Stock/Shelf-9'", "quantity there: 0", NULL);

  ev_move(&ev, "rc-t-serial-stock", "DRILL", "RC-S1", "1", "Vendors",
          LL_USAGE_SUPPLIER, "WH/Stock", LL_USAGE_INTERNAL);
  s = add_event(l, "serial received twice", LL_SERIAL_ALREADY_IN_STOCK, "DRILL",
                &ev);
  words(s, "The serial number has already been assigned.", "'SN-1' (RC-S1)",
        "'WH/Stock'", NULL);

  ev_move(&ev, "rc-t-insufficient", "PAINT", "RC-L1", "100", "WH/Stock",
          LL_USAGE_INTERNAL, "Customers/ACME", LL_USAGE_CUSTOMER);
  s = add_event(l, "delivering 100 of 10", LL_INSUFFICIENT_STOCK, "PAINT", &ev);
  words(s, "'LOT-001' (RC-L1)", "'WH/Stock'", "10 available, 100 requested",
        "'PAINT'");

  ev_create(&ev, "rc-t-dates", "PAINT", "RC-L8", "LOT-008", LL_TRACK_LOT);
  ev.expiration_at = (ll_opt_time){true, EXPIRES_AT_MS};
  ev.alert_at = (ll_opt_time){true, EXPIRES_AT_MS + DAY_MS};
  s = add_event(l, "alert after expiration", LL_INVALID_DATES, "PAINT", &ev);
  words(s, "alert date (2027-03-02T00:00:00Z)",
        "expiration date (2027-03-01T00:00:00Z)", NULL, NULL);

  ev_move(&ev, "rc-t-expired", "PAINT", "RC-LX", "1", "WH/Stock",
          LL_USAGE_INTERNAL, "Customers/ACME", LL_USAGE_CUSTOMER);
  s = add_event(l, "expired lot to a customer", LL_EXPIRED_LOT, "PAINT", &ev);
  words(s, "'LOT-EXP' (RC-LX)", "2020-01-01T00:00:00Z", "'Customers/ACME'",
        NULL);

  ev_move(&ev, "rc-t-held", "PAINT", "RC-LH", "1", "WH/Stock",
          LL_USAGE_INTERNAL, "Customers/ACME", LL_USAGE_CUSTOMER);
  s = add_event(l, "held lot to a customer", LL_LOT_ON_HOLD, "PAINT", &ev);
  words(s, "'LOT-HOLD' (RC-LH)", "on hold since 2026-11-18T11:06:40Z",
        "RC-7 recall", "'Customers/ACME'");

  ev_create(&ev, "rc-t-uom", "PAINT", "RC-L10", "LOT-010", LL_TRACK_LOT);
  ev.uom = ll_strdup("l");
  s = add_event(l, "a lot in litres of a product in kg", LL_UOM_MISMATCH,
                "PAINT", &ev);
  words(s, "'PAINT' is measured in 'kg'", "'LOT-010' (RC-L10)", "'l'", NULL);

  ev_move(&ev, "rc-s2", "PAINT", "RC-L1", "11", "Vendors", LL_USAGE_SUPPLIER,
          "WH/Stock", LL_USAGE_INTERNAL);
  s = add_event(l, "accepted event id, other content", LL_EVENT_ID_REUSED,
                "PAINT", &ev);
  words(s, "'rc-s2'", "accepted at position", "of partition", NULL);

  /* Identical redeliveries: of an accepted event and of a rejected one. */
  ev_move(&ev, "rc-s2", "PAINT", "RC-L1", "10", "Vendors", LL_USAGE_SUPPLIER,
          "WH/Stock", LL_USAGE_INTERNAL);
  add_event(l, "redelivery of an accepted receipt", LL_OK, "PAINT", &ev);
  ev_move(&ev, "rc-t-insufficient", "PAINT", "RC-L1", "100", "WH/Stock",
          LL_USAGE_INTERNAL, "Customers/ACME", LL_USAGE_CUSTOMER);
  add_event(l, "redelivery of a rejected delivery", LL_OK, "PAINT", &ev);
}

/* One accepted event per key the triggers used. */
static void build_sentinels(sent_list *l) {
  ll_event ev;
  ev_create(&ev, "rc-e1", "PAINT", "RC-END-P", "END", LL_TRACK_LOT);
  add_event(l, "end of PAINT", LL_OK, "PAINT", &ev);
  ev_create(&ev, "rc-e2", "DRILL", "RC-END-D", "END", LL_TRACK_SERIAL);
  add_event(l, "end of DRILL", LL_OK, "DRILL", &ev);
  ev_create(&ev, "rc-e3", "GLUE", "RC-END-G", "END", LL_TRACK_LOT);
  add_event(l, "end of GLUE", LL_OK, "GLUE", &ev);
}

/* A code kept in the enum for stability that can no longer happen: with
 * lots scoped by product, a lot of another product is UNKNOWN_LOT
 * (docs/rejections.md). */
static bool code_retired(int c) {
  return c == LL_LOT_PRODUCT_MISMATCH;
}

/* The triggers cover every code of the contract that can happen, each
 * once. */
static size_t check_coverage(const sent_list *l) {
  int count[LL_CODE_COUNT] = {0};
  size_t rejections = 0;
  for (size_t i = 0; i < l->len; i++) {
    count[l->items[i].expect]++;
    rejections += l->items[i].expect != LL_OK;
  }
  for (int c = 1; c < LL_CODE_COUNT; c++) {
    if (count[c] != (code_retired(c) ? 0 : 1))
      fail_msg("%d triggers for %s", count[c], ll_code_name((ll_code)c));
  }
  assert_int_equal(rejections, LL_CODE_COUNT - 2);
  return rejections;
}

static void on_rejected(const rd_kafka_message_t *m, void *arg) {
  sent_list *l = arg;
  ll_rejection r;
  ll_err e;
  memset(&r, 0, sizeof r);
  assert_int_equal(ll_codec_decode_rejection(codec, m->payload, m->len, &r, &e),
                   LL_OK);
  sent *s = find_sent(l, r.topic, r.partition, r.offset);
  if (!s)
    fail_msg("lots.rejected: %s for %s/%d@%lld, which was not sent",
             ll_code_name(r.code), r.topic ? r.topic : "?", (int)r.partition,
             (long long)r.offset);
  if (r.code != s->expect)
    fail_msg("%s: rejected as %s (%s), expected %s", s->label,
             ll_code_name(r.code), r.message, ll_code_name(s->expect));
  if (s->event_id)
    assert_string_equal(r.event_id, s->event_id);
  else
    assert_null(r.event_id);
  /* The original key and bytes, and the record keyed like the original. */
  assert_int_equal(r.key_len, strlen(s->key));
  assert_memory_equal(r.key, s->key, r.key_len);
  assert_int_equal(m->key_len, strlen(s->key));
  assert_memory_equal(m->key, s->key, m->key_len);
  assert_int_equal(r.value_len, s->value.len);
  assert_memory_equal(r.value, s->value.data, r.value_len);
  assert_true(r.message && r.message[0]);
  check_words("lots.rejected", ll_code_name(r.code), r.message, s->words,
              MAX_WORDS);
  s->seen_topic++;
  if (!s->message)
    s->message = ll_strdup(r.message);
  printf("KAFKA %s: %s\n", ll_code_name(r.code), r.message);
  ll_rejection_free(&r);
}

static void check_rejected_topic(const char *brokers, sent_list *l,
                                 size_t want) {
  int got = read_topic(brokers, "lots.rejected", (int)want, VIEW_TIMEOUT_MS,
                       on_rejected, l);
  assert_int_equal(got, (int)want);
  for (size_t i = 0; i < l->len; i++) {
    const sent *s = &l->items[i];
    int expected = s->expect != LL_OK;
    if (s->seen_topic != expected)
      fail_msg("%s: %d rejections on lots.rejected, expected %d", s->label,
               s->seen_topic, expected);
  }
}

static void check_rejections_api(const char *http, sent_list *l, size_t want) {
  json_t *j = NULL;
  assert_int_equal(
      h_http("GET", http, "/v1/rejections?limit=100", NULL, NULL, &j), 200);
  json_t *rows = json_object_get(j, "rejections");
  assert_int_equal(json_array_size(rows), want);
  size_t i;
  json_t *row;
  json_array_foreach(rows, i, row) {
    sent *s = find_sent(
        l, jstr(row, "topic"),
        (int32_t)json_integer_value(json_object_get(row, "partition")),
        json_integer_value(json_object_get(row, "offset")));
    if (!s)
      fail_msg("GET /v1/rejections: %s for a message that was not sent",
               jstr(row, "code"));
    assert_string_equal(jstr(row, "code"), ll_code_name(s->expect));
    if (s->event_id)
      assert_string_equal(jstr(row, "event_id"), s->event_id);
    else
      assert_true(json_is_null(json_object_get(row, "event_id")));
    /* The same message as on lots.rejected. */
    assert_non_null(s->message);
    assert_string_equal(jstr(row, "message"), s->message);
    assert_non_null(jstr(row, "rejected_at"));
    s->seen_api++;
  }
  for (i = 0; i < l->len; i++) {
    const sent *s = &l->items[i];
    if (s->seen_api != (s->expect != LL_OK))
      fail_msg("%s: %d rejections in GET /v1/rejections", s->label,
               s->seen_api);
  }
  json_decref(j);
}

/* Nothing a rejection or a redelivery touched has changed. */
static void check_state_unchanged(const char *http) {
  check_lot(http, "RC-L1", "PAINT", "LOT-001", "10", 1);
  check_stock(http, "RC-L1", "WH/Stock", "10");
  check_lot(http, "RC-LX", "PAINT", "LOT-EXP", "5", 1);
  check_stock(http, "RC-LX", "WH/Stock", "5");
  check_lot(http, "RC-S1", "DRILL", "SN-1", "1", 1);
  check_stock(http, "RC-S1", "WH/Stock", "1");
  check_no_lot(http, "RC-L7");
  check_no_lot(http, "RC-L8");
  check_no_lot(http, "RC-L9");
  check_no_lot(http, "RC-S2");
  check_no_lot(http, "RC-L10");
  check_stock(http, "RC-LH", "WH/Stock", "5");
}

static void run_kafka_path(const char *brokers, const char *http) {
  sent_list *l = ll_xcalloc(1, sizeof *l);
  build_setup(l);
  size_t setup_end = l->len;
  build_triggers(l);
  size_t triggers_end = l->len;
  build_sentinels(l);
  size_t want = check_coverage(l);

  send_range(brokers, l, 0, setup_end);
  wait_lot(http, "RC-L1", "10");
  wait_lot(http, "RC-LX", "5");
  wait_lot(http, "RC-S1", "1");
  wait_lot(http, "RC-LH", "5");
  send_range(brokers, l, setup_end, triggers_end);
  send_range(brokers, l, triggers_end, l->len);
  wait_lot(http, "RC-END-P", NULL);
  wait_lot(http, "RC-END-D", NULL);
  wait_lot(http, "RC-END-G", NULL);

  check_rejected_topic(brokers, l, want);
  check_rejections_api(http, l, want);
  check_state_unchanged(http);
  sent_list_free(l);
  free(l);
}

/* ---- the HTTP path ---- */

typedef struct http_case {
  const char *method;
  const char *path;
  const char *body;
  const char *header;
  int status;
  const char *code;
  const char *words[3];
} http_case;

#define MOVE_BODY(product, lot, qty, from, fu, to, tu)                         \
  "{\"product_id\":\"" product "\",\"lot_id\":\"" lot "\",\"quantity\":\"" qty \
  "\",\"from\":{\"id\":\"" from "\",\"usage\":\"" fu                           \
  "\"},\"to\":{\"id\":\"" to "\",\"usage\":\"" tu "\"}}"

static void run_http_case(const char *http, const http_case *c,
                          bool covered[LL_CODE_COUNT]) {
  json_t *j = NULL;
  int st = h_http(c->method, http, c->path, c->body, c->header, &j);
  const char *code = jstr(j, "code");
  const char *message = jstr(j, "message");
  printf("HTTP %d %s: %s\n", st, code ? code : "-", message ? message : "-");
  if (st != c->status || !code || strcmp(code, c->code) != 0)
    fail_msg("%s %s %s: answered %d %s (%s), expected %d %s", c->method,
             c->path, c->body, st, code ? code : "-", message ? message : "-",
             c->status, c->code);
  check_words("HTTP", c->code, message, c->words, 3);
  ll_code parsed;
  assert_true(ll_code_parse(c->code, &parsed));
  covered[parsed] = true;
  json_decref(j);
}

static void run_http_path(const char *http, bool covered[LL_CODE_COUNT]) {
  static char long_name_body[512];
  snprintf(long_name_body, sizeof long_name_body,
           "{\"lot_id\":\"RC-H7\",\"product_id\":\"PAINT\",\"name\":\"%s\","
           "\"tracking\":\"LOT\"}",
           NAME256);
  const http_case cases[] = {
      {"POST",
       "/v1/lots",
       "{\"lot_id\":\"RC-H7\",\"product_id\":\"PAINT\",\"name\":\"  \","
       "\"tracking\":\"LOT\"}",
       NULL,
       422,
       "MISSING_FIELD",
       {"name"}},
      {"POST",
       "/v1/lots",
       long_name_body,
       NULL,
       422,
       "INVALID_FIELD",
       {"name", "256 characters, at most 255"}},
      {"POST",
       "/v1/lots",
       "{\"lot_id\":\"RC-H9\",\"product_id\":\"PAINT\",\"name\":\" LOT-001\","
       "\"tracking\":\"LOT\"}",
       NULL,
       409,
       "DUPLICATE_LOT",
       {"The combination of lot/serial number and product must be unique.",
        "'LOT-001'", "'RC-L1'"}},
      {"POST",
       "/v1/lots",
       "{\"lot_id\":\"RC-L1\",\"product_id\":\"PAINT\",\"name\":\"LOT-NEW\","
       "\"tracking\":\"LOT\"}",
       NULL,
       409,
       "LOT_ID_TAKEN",
       {"'RC-L1'"}},
      {"POST",
       "/v1/lots",
       "{\"lot_id\":\"RC-S2\",\"product_id\":\"DRILL\",\"name\":\"SN-2\","
       "\"tracking\":\"LOT\"}",
       NULL,
       422,
       "TRACKING_MISMATCH",
       {"'DRILL'", "SERIAL"}},
      {"PATCH",
       "/v1/lots/RC-NOPE",
       "{\"reference\":\"PO-1\"}",
       NULL,
       404,
       "UNKNOWN_LOT",
       {"RC-NOPE"}},
      {"POST",
       "/v1/moves",
       MOVE_BODY("PAINT", "RC-NOPE", "1", "Vendors", "SUPPLIER", "WH/Stock",
                 "INTERNAL"),
       NULL,
       422,
       "UNKNOWN_LOT",
       {"'RC-NOPE'"}},
      {"PATCH",
       "/v1/lots/RC-L1",
       "{\"reference\":\"PO-1\",\"expected_version\":7}",
       NULL,
       409,
       "VERSION_CONFLICT",
       {"version 1", "expected version 7"}},
      {"PATCH",
       "/v1/lots/RC-L1",
       "{\"product_id\":\"GLUE\"}",
       NULL,
       409,
       "PRODUCT_LOCKED",
       {"The product of a lot cannot be changed.", "'LOT-001' (RC-L1)",
        "create it there"}},
      {"POST",
       "/v1/moves",
       MOVE_BODY("PAINT", "RC-L1", "1", "WH/Stock", "INTERNAL", "WH/Stock",
                 "INTERNAL"),
       NULL,
       422,
       "SAME_LOCATION",
       {"'WH/Stock'"}},
      {"POST",
       "/v1/moves",
       MOVE_BODY("PAINT", "RC-L1", "1", "Vendors", "SUPPLIER", "WH/Stock",
                 "TRANSIT"),
       NULL,
       409,
       "LOCATION_USAGE_CONFLICT",
       {"'WH/Stock'", "INTERNAL"}},
      {"POST",
       "/v1/moves",
       MOVE_BODY("DRILL", "RC-S1", "2", "WH/Stock", "INTERNAL",
                 "Customers/ACME", "CUSTOMER"),
       NULL,
       422,
       "SERIAL_QUANTITY",
       {"'SN-1' (RC-S1)", "not 2"}},
      {"POST",
       "/v1/moves",
       MOVE_BODY("DRILL", "RC-S1", "1", "WH/Stock/Shelf-9", "INTERNAL",
                 "Customers/ACME", "CUSTOMER"),
       NULL,
       422,
       "SERIAL_NOT_AT_SOURCE",
       {"'WH/Stock/Shelf-9'"}},
      {"POST",
       "/v1/moves",
       MOVE_BODY("DRILL", "RC-S1", "1", "Vendors", "SUPPLIER", "WH/Stock",
                 "INTERNAL"),
       NULL,
       409,
       "SERIAL_ALREADY_IN_STOCK",
       {"The serial number has already been assigned.", "'SN-1' (RC-S1)"}},
      {"POST",
       "/v1/moves",
       MOVE_BODY("PAINT", "RC-L1", "100", "WH/Stock", "INTERNAL",
                 "Customers/ACME", "CUSTOMER"),
       NULL,
       422,
       "INSUFFICIENT_STOCK",
       {"'LOT-001' (RC-L1)", "'WH/Stock'", "10 available, 100 requested"}},
      {"POST",
       "/v1/lots",
       "{\"lot_id\":\"RC-H8\",\"product_id\":\"PAINT\",\"name\":\"LOT-H8\","
       "\"tracking\":\"LOT\",\"expiration_at\":\"2027-03-01T00:00:00Z\","
       "\"use_by_at\":\"2027-03-05T00:00:00Z\"}",
       NULL,
       422,
       "INVALID_DATES",
       {"use-by date (2027-03-05T00:00:00Z)", "2027-03-01T00:00:00Z"}},
      {"POST",
       "/v1/moves",
       MOVE_BODY("PAINT", "RC-LX", "1", "WH/Stock", "INTERNAL",
                 "Customers/ACME", "CUSTOMER"),
       NULL,
       422,
       "EXPIRED_LOT",
       {"'LOT-EXP' (RC-LX)", "expired at 2020-01-01T00:00:00Z"}},
      {"POST",
       "/v1/moves",
       MOVE_BODY("PAINT", "RC-LH", "1", "WH/Stock", "INTERNAL",
                 "Customers/ACME", "CUSTOMER"),
       NULL,
       422,
       "LOT_ON_HOLD",
       {"'LOT-HOLD' (RC-LH)", "on hold since", "RC-7 recall"}},
      {"POST",
       "/v1/lots",
       "{\"lot_id\":\"RC-H10\",\"product_id\":\"PAINT\",\"name\":\"LOT-H10\","
       "\"uom\":\"l\"}",
       NULL,
       422,
       "UOM_MISMATCH",
       {"'PAINT' is measured in 'kg'", "'l'"}},
      /* The Kafka event rc-s1 created RC-L1; this is another request. */
      {"POST",
       "/v1/lots",
       "{\"lot_id\":\"RC-H1\",\"product_id\":\"PAINT\",\"name\":\"LOT-H1\","
       "\"tracking\":\"LOT\"}",
       "Idempotency-Key: rc-s1",
       409,
       "EVENT_ID_REUSED",
       {"rc-s1"}},
  };
  const size_t n = sizeof cases / sizeof cases[0];
  for (size_t i = 0; i < n; i++)
    run_http_case(http, &cases[i], covered);
}

/* Every code but the wire-level ones was answered over HTTP. */
static void check_http_coverage(const bool covered[LL_CODE_COUNT]) {
  for (int c = 1; c < LL_CODE_COUNT; c++) {
    bool wire_only = c == LL_MALFORMED || c == LL_UNKNOWN_SCHEMA ||
                     c == LL_KEY_MISMATCH || c == LL_WRONG_PARTITION;
    if (!wire_only && !code_retired(c) && !covered[c])
      fail_msg("no HTTP case for %s", ll_code_name((ll_code)c));
  }
}

/* Every quantity string that is not a positive decimal with at most 6
 * decimals within decimal(18, 6) is INVALID_QUANTITY, 422. */
static void run_http_quantities(const char *http, bool covered[LL_CODE_COUNT]) {
  static const struct {
    const char *qty;
    const char *word;
  } bad[] = {
      {"1000000000000", "999999999999.999999"},        /* over decimal(18, 6) */
      {"9223372036854.775807", "999999999999.999999"}, /* int64 max */
      {"99999999999999999999", NULL}, /* beyond int64 micro-units */
      {"1.0000001", "6"},             /* 7 decimals */
      {"0", "greater than zero"},
      {"-1", "greater than zero"},
      {"-0.000001", NULL},
      {"NaN", NULL},
      {"Infinity", NULL},
      {"1e3", NULL},
      {" 1", NULL},
      {"1 ", NULL},
      {"+1", NULL},
      {".5", NULL},
      {"1.", NULL},
      {"", NULL},
      {"0x10", NULL},
      {"1,5", NULL},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char body[512];
    snprintf(body, sizeof body,
             "{\"product_id\":\"PAINT\",\"lot_id\":\"RC-L1\",\"quantity\":"
             "\"%s\",\"from\":{\"id\":\"Vendors\",\"usage\":\"SUPPLIER\"},"
             "\"to\":{\"id\":\"WH/Stock\",\"usage\":\"INTERNAL\"}}",
             bad[i].qty);
    http_case c = {"POST", "/v1/moves",        body,         NULL,
                   422,    "INVALID_QUANTITY", {bad[i].word}};
    printf("quantity \"%s\" -> ", bad[i].qty);
    run_http_case(http, &c, covered);
  }

  /* The limit itself is a quantity; one micro-unit more on hand is not. */
  json_t *j = NULL;
  assert_int_equal(h_http("POST", http, "/v1/lots",
                          "{\"lot_id\":\"RC-BIG\",\"product_id\":\"BULK\","
                          "\"name\":\"BIG\",\"tracking\":\"LOT\"}",
                          NULL, &j),
                   201);
  json_decref(j);
  assert_int_equal(
      h_http("POST", http, "/v1/moves",
             MOVE_BODY("BULK", "RC-BIG", "999999999999.999999", "Vendors",
                       "SUPPLIER", "WH/Bulk", "INTERNAL"),
             NULL, &j),
      201);
  json_decref(j);
  http_case over = {"POST",
                    "/v1/moves",
                    MOVE_BODY("BULK", "RC-BIG", "0.000001", "Vendors-2",
                              "SUPPLIER", "WH/Bulk-2", "INTERNAL"),
                    NULL,
                    422,
                    "INVALID_QUANTITY",
                    {"'BIG' (RC-BIG)", "largest quantity lotline can hold",
                     "its quantity on hand to 1000000000000,"}};
  run_http_case(http, &over, covered);
  check_lot(http, "RC-BIG", "BULK", "BIG", "999999999999.999999", 1);
}

/* ---- the test ---- */

static void test_every_code(void **state) {
  (void)state;
  char log[600];
  char *dir = h_tempdir("codes");
  snprintf(log, sizeof log, "%s/lotlined.log", dir);
  h_all all = h_start_all(dir, log, NULL, START_TIMEOUT_MS);
  run_kafka_path(all.brokers, all.http);
  bool covered[LL_CODE_COUNT] = {false};
  run_http_path(all.http, covered);
  run_http_quantities(all.http, covered);
  check_http_coverage(covered);
  check_state_unchanged(all.http); /* no HTTP rejection changed anything */
  fflush(stdout);
  assert_int_equal(h_stop_all(&all, STOP_TIMEOUT_MS), 0);
  h_rmrf(dir);
  free(dir);
}

static int setup(void **state) {
  (void)state;
  memset(NAME256, 'a', 256);
  NAME256[256] = '\0';
  codec = h_codec_open();
  if (!codec)
    return -1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  ll_codec_close(codec);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_code),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
