/* test_end_to_end.c — events from Kafka to the Locations view, for real:
 * lotlined processes on the embedded broker, events produced by a plain
 * librdkafka producer (not through the API), answers read over HTTP and
 * from lots.rejected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ll_codec.h"
#include "ll_event.h"
#include "ll_mem.h"

#define START_TIMEOUT_MS 20000
#define VIEW_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS 5000

static ll_codec *codec;

static int setup(void **state) {
  (void)state;
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

/* Encode ev as single-object Avro and produce it keyed by `key`. */
static void send_event(h_producer *p, const char *key, ll_event *ev) {
  ll_buf b;
  ll_err e;
  ll_buf_init(&b);
  assert_int_equal(ll_codec_encode(codec, ev, &b, &e), 0);
  h_produce(p, "lots.inbound", key, b.data, b.len);
  ll_buf_free(&b);
  ll_event_free(ev);
}

static bool on_hand_is(json_t *j, const void *arg) {
  const char *want = arg;
  json_t *v = json_object_get(j, "on_hand");
  return json_is_string(v) && strcmp(json_string_value(v), want) == 0;
}

static bool has_n_rejections(json_t *j, const void *arg) {
  json_t *a = json_object_get(j, "rejections");
  return json_is_array(a) && json_array_size(a) >= *(const size_t *)arg;
}

static const char *location_qty(json_t *j, const char *location) {
  json_t *locs = json_object_get(j, "locations");
  size_t i;
  json_t *row;
  json_array_foreach(locs, i, row) {
    if (strcmp(json_string_value(json_object_get(row, "location")), location) ==
        0)
      return json_string_value(json_object_get(row, "quantity"));
  }
  return NULL;
}

static bool has_code(json_t *rejections, const char *code) {
  size_t i;
  json_t *row;
  json_array_foreach(rejections, i, row) {
    if (strcmp(json_string_value(json_object_get(row, "code")), code) == 0)
      return true;
  }
  return false;
}

/* The sample flow: receive 10, put 3 on a shelf, deliver 2.5 from it. */
static void produce_flow(const char *brokers, const char *prefix) {
  h_producer *p = h_producer_new(brokers);
  ll_event ev;
  char id[128], lot[64];
  snprintf(lot, sizeof lot, "%s-L1", prefix);
#define EID(n) (snprintf(id, sizeof id, "%s-%s", prefix, n), id)
  h_ev_create(&ev, EID("c1"), "PAINT", lot, "LOT-001", LL_TRACK_LOT);
  send_event(p, "PAINT", &ev);
  h_ev_move(&ev, EID("m1"), "PAINT", lot, "10", "Vendors", LL_USAGE_SUPPLIER,
            "WH/Stock", LL_USAGE_INTERNAL);
  send_event(p, "PAINT", &ev);
  h_ev_move(&ev, EID("m2"), "PAINT", lot, "3", "WH/Stock", LL_USAGE_INTERNAL,
            "WH/Stock/Shelf-2", LL_USAGE_INTERNAL);
  send_event(p, "PAINT", &ev);
  h_ev_move(&ev, EID("m3"), "PAINT", lot, "2.5", "WH/Stock/Shelf-2",
            LL_USAGE_INTERNAL, "Customers/ACME", LL_USAGE_CUSTOMER);
  send_event(p, "PAINT", &ev);
#undef EID
  h_producer_free(p);
}

/* One event for each rejection this test checks. Sent once the lot is
 * visible: events keyed by another product travel on another partition,
 * so they could otherwise overtake the LotCreated. */
static void produce_rejections(const char *brokers, const char *prefix) {
  h_producer *p = h_producer_new(brokers);
  ll_event ev;
  char id[128], lot[64];
  snprintf(lot, sizeof lot, "%s-L1", prefix);
#define EID(n) (snprintf(id, sizeof id, "%s-%s", prefix, n), id)
  h_ev_move(&ev, EID("r1"), "PAINT", lot, "100", "WH/Stock", LL_USAGE_INTERNAL,
            "Customers/ACME", LL_USAGE_CUSTOMER);
  send_event(p, "PAINT", &ev); /* INSUFFICIENT_STOCK */
  snprintf(lot, sizeof lot, "%s-L2", prefix);
  h_ev_create(&ev, EID("r2"), "PAINT", lot, "  LOT-001 ", LL_TRACK_LOT);
  send_event(p, "PAINT", &ev); /* DUPLICATE_LOT (names are trimmed) */
  h_ev_move(&ev, EID("r3"), "PAINT", "no-such-lot", "1", "Vendors",
            LL_USAGE_SUPPLIER, "WH/Stock", LL_USAGE_INTERNAL);
  send_event(p, "PAINT", &ev); /* UNKNOWN_LOT */
  snprintf(lot, sizeof lot, "%s-L1", prefix);
  /* A lot's product cannot be changed (a lot is (product, lot id)). */
  ll_event_init(&ev);
  ev.type = LL_EV_LOT_UPDATED;
  ev.event_id = ll_strdup(EID("r4"));
  ev.occurred_at_ms = 1795000000000LL; /* the harness events' time */
  ev.product_id = ll_strdup("PAINT");
  ev.lot_id = ll_strdup(lot);
  ev.new_product_id = ll_strdup("GLUE");
  send_event(p, "PAINT", &ev); /* PRODUCT_LOCKED */
  h_ev_move(&ev, EID("r5"), "PAINT", lot, "1", "Vendors", LL_USAGE_SUPPLIER,
            "WH/Stock", LL_USAGE_INTERNAL);
  send_event(p, "GLUE", &ev); /* KEY_MISMATCH */
  /* Single-object header with a fingerprint no schema has. */
  h_produce(p, "lots.inbound", "PAINT",
            "\xc3\x01\x01\x02\x03\x04\x05\x06\x07\x08\x02",
            11);                                        /* UNKNOWN_SCHEMA */
  h_produce(p, "lots.inbound", "PAINT", "not avro", 8); /* MALFORMED */
  /* Redelivery of an accepted event: a silent no-op. */
  h_ev_move(&ev, EID("m1"), "PAINT", lot, "10", "Vendors", LL_USAGE_SUPPLIER,
            "WH/Stock", LL_USAGE_INTERNAL);
  send_event(p, "PAINT", &ev);
#undef EID
  h_producer_free(p);
}

static const size_t flow_rejections = 7;
static const char *const flow_codes[] = {
    "INSUFFICIENT_STOCK", "DUPLICATE_LOT",  "UNKNOWN_LOT", "PRODUCT_LOCKED",
    "KEY_MISMATCH",       "UNKNOWN_SCHEMA", "MALFORMED"};

static void check_locations(const char *http, const char *lot_id) {
  char path[256];
  snprintf(path, sizeof path, "/v1/lots/%s/locations", lot_id);
  json_t *j = h_http_wait(http, path, on_hand_is, "7.5", VIEW_TIMEOUT_MS);
  assert_non_null(j);
  assert_true(on_hand_is(j, "7.5"));
  assert_string_equal(location_qty(j, "WH/Stock"), "7");
  assert_string_equal(location_qty(j, "WH/Stock/Shelf-2"), "0.5");
  assert_null(location_qty(j, "Customers/ACME")); /* virtual: only with all=1 */
  assert_int_equal(json_array_size(json_object_get(j, "locations")), 2);
  json_decref(j);
  snprintf(path, sizeof path, "/v1/lots/%s/locations?all=1", lot_id);
  assert_int_equal(h_http("GET", http, path, NULL, NULL, &j), 200);
  assert_string_equal(location_qty(j, "Customers/ACME"), "2.5");
  assert_string_equal(location_qty(j, "Vendors"), "-10");
  json_decref(j);
}

static void check_rejections_api(const char *http) {
  json_t *j = h_http_wait(http, "/v1/rejections?limit=50", has_n_rejections,
                          &flow_rejections, VIEW_TIMEOUT_MS);
  assert_non_null(j);
  json_t *a = json_object_get(j, "rejections");
  assert_int_equal(json_array_size(a), flow_rejections);
  for (size_t i = 0; i < flow_rejections; i++) {
    if (!has_code(a, flow_codes[i]))
      fail_msg("no %s in GET /v1/rejections", flow_codes[i]);
  }
  json_decref(j);
}

typedef struct seen_codes {
  int count[LL_CODE_COUNT];
} seen_codes;

static void on_rejection(const void *key, size_t key_len, const void *value,
                         size_t len, void *arg) {
  (void)key;
  (void)key_len;
  seen_codes *s = arg;
  ll_rejection r;
  ll_err e;
  memset(&r, 0, sizeof r);
  assert_int_equal(ll_codec_decode_rejection(codec, value, len, &r, &e), LL_OK);
  s->count[r.code]++;
  assert_string_equal(r.topic, "lots.inbound");
  assert_true(r.value_len > 0);
  ll_rejection_free(&r);
}

static void check_rejected_topic(const char *brokers) {
  seen_codes s = {0};
  int got = h_consume_all(brokers, "lots.rejected", (int)flow_rejections,
                          VIEW_TIMEOUT_MS, on_rejection, &s);
  assert_int_equal(got, (int)flow_rejections);
  for (size_t i = 0; i < flow_rejections; i++) {
    ll_code c;
    assert_true(ll_code_parse(flow_codes[i], &c));
    if (s.count[c] != 1)
      fail_msg("%s seen %d times on lots.rejected", flow_codes[i], s.count[c]);
  }
}

/* The write API: publishes to Kafka, waits for the outcome. */
static void check_http_writes(const char *http) {
  json_t *j = NULL;
  int st = h_http("POST", http, "/v1/lots",
                  "{\"lot_id\":\"H1\",\"product_id\":\"DRILL\",\"name\":"
                  "\"SN-0001\",\"tracking\":\"SERIAL\"}",
                  "Idempotency-Key: http-create-1", &j);
  assert_int_equal(st, 201);
  assert_string_equal(json_string_value(json_object_get(j, "lot_id")), "H1");
  assert_string_equal(json_string_value(json_object_get(j, "tracking")),
                      "SERIAL");
  json_decref(j);
  st = h_http("POST", http, "/v1/moves",
              "{\"product_id\":\"DRILL\",\"lot_id\":\"H1\",\"quantity\":\"1\","
              "\"from\":{\"id\":\"Vendors\",\"usage\":\"SUPPLIER\"},"
              "\"to\":{\"id\":\"WH/Stock\",\"usage\":\"INTERNAL\"}}",
              NULL, &j);
  assert_int_equal(st, 201);
  json_decref(j);
  /* The same serial received again: rejected with the code and status
   * docs/api.md gives it. */
  st = h_http("POST", http, "/v1/moves",
              "{\"product_id\":\"DRILL\",\"lot_id\":\"H1\",\"quantity\":\"1\","
              "\"from\":{\"id\":\"Vendors\",\"usage\":\"SUPPLIER\"},"
              "\"to\":{\"id\":\"WH/Stock\",\"usage\":\"INTERNAL\"}}",
              NULL, &j);
  assert_int_equal(st, 409);
  assert_string_equal(json_string_value(json_object_get(j, "code")),
                      "SERIAL_ALREADY_IN_STOCK");
  json_decref(j);
  /* Idempotent retry of the create answers the same lot, not a conflict. */
  st = h_http("POST", http, "/v1/lots",
              "{\"lot_id\":\"H1\",\"product_id\":\"DRILL\",\"name\":"
              "\"SN-0001\",\"tracking\":\"SERIAL\"}",
              "Idempotency-Key: http-create-1", &j);
  assert_int_equal(st, 201);
  json_decref(j);
  st = h_http("PATCH", http, "/v1/lots/H1",
              "{\"reference\":\"PO-77\",\"expected_version\":1}", NULL, &j);
  assert_int_equal(st, 200);
  assert_int_equal(json_integer_value(json_object_get(j, "version")), 2);
  json_decref(j);
  st = h_http("GET", http, "/v1/lots/H1", NULL, NULL, &j);
  assert_int_equal(st, 200);
  assert_string_equal(json_string_value(json_object_get(j, "reference")),
                      "PO-77");
  assert_string_equal(json_string_value(json_object_get(j, "on_hand")), "1");
  json_decref(j);
  st = h_http("POST", http, "/v1/lots", "{not json", NULL, &j);
  assert_int_equal(st, 400);
  assert_non_null(json_object_get(j, "code"));
  json_decref(j);
}

static void test_all_in_one(void **state) {
  (void)state;
  char log[600];
  char *dir = h_tempdir("e2e");
  snprintf(log, sizeof log, "%s/lotlined.log", dir);
  h_all all = h_start_all(dir, log, NULL, START_TIMEOUT_MS);
  produce_flow(all.brokers, "A");
  check_locations(all.http, "A-L1");
  produce_rejections(all.brokers, "A");
  check_rejections_api(all.http);
  check_locations(all.http,
                  "A-L1"); /* the redelivered receipt changed nothing */
  check_rejected_topic(all.brokers);
  check_http_writes(all.http);
  assert_int_equal(h_stop_all(&all, STOP_TIMEOUT_MS), 0);

  /* Restart on the same data: the views are still there. */
  remove(log);
  all = h_start_all(dir, log, NULL, START_TIMEOUT_MS);
  json_t *j = NULL;
  assert_int_equal(h_http("GET", all.http, "/v1/lots/A-L1", NULL, NULL, &j),
                   200);
  assert_string_equal(json_string_value(json_object_get(j, "on_hand")), "7.5");
  assert_string_equal(json_string_value(json_object_get(j, "name")), "LOT-001");
  json_decref(j);
  assert_int_equal(h_stop_all(&all, STOP_TIMEOUT_MS), 0);
  h_rmrf(dir);
  free(dir);
}

/* command and project as two processes on one data directory: the
 * projector follows the log as a RocksDB secondary instance. */
static void test_split_processes(void **state) {
  (void)state;
  char bin_b[512], bin_c[512], bin_p[512], log_b[600], log_c[600], log_p[600];
  char *dir = h_tempdir("split");
  snprintf(log_b, sizeof log_b, "%s/broker.log", dir);
  snprintf(log_c, sizeof log_c, "%s/command.log", dir);
  snprintf(log_p, sizeof log_p, "%s/project.log", dir);
  const char *argv_b[] = {h_bin("lotlined", bin_b, sizeof bin_b), "broker",
                          "--data", dir, NULL};
  h_proc broker = h_spawn(log_b, argv_b);
  char *brokers = h_wait_file(dir, "broker.addr", START_TIMEOUT_MS);
  assert_non_null(brokers);
  const char *argv_c[] = {h_bin("lotlined", bin_c, sizeof bin_c), "command",
                          "--data", dir, NULL};
  const char *argv_p[] = {h_bin("lotlined", bin_p, sizeof bin_p),
                          "project",
                          "--data",
                          dir,
                          "--http",
                          "127.0.0.1:0",
                          NULL};
  /* The projector may start first: it waits for the log to appear. */
  h_proc project = h_spawn(log_p, argv_p);
  h_proc command = h_spawn(log_c, argv_c);
  produce_flow(brokers, "S");
  char *http = h_wait_file(dir, "http.addr", START_TIMEOUT_MS);
  if (!http) {
    h_dump_log(&command);
    h_dump_log(&project);
    fail_msg("lotlined project did not start");
  }
  check_locations(http, "S-L1");
  produce_rejections(brokers, "S");
  check_rejections_api(http);
  check_http_writes(http);
  int rc_p = h_stop(&project, STOP_TIMEOUT_MS);
  int rc_c = h_stop(&command, STOP_TIMEOUT_MS);
  if (rc_p != 0)
    h_dump_log(&project);
  if (rc_c != 0)
    h_dump_log(&command);
  assert_int_equal(rc_p, 0);
  assert_int_equal(rc_c, 0);
  assert_int_equal(h_stop(&broker, STOP_TIMEOUT_MS), 0);
  free(brokers);
  free(http);
  h_rmrf(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_all_in_one),
      cmocka_unit_test(test_split_processes),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
