/* test_trace_api.c — the traceability routes over real sockets: history,
 * as-of locations, genealogy trace, location contents and FEFO lists.
 *
 * The fixture is a real log store and real views in a temporary directory.
 * Events are decided by the rules and appended like the command consumer
 * does, then projected, so the API reads what production would hold. No
 * Kafka: these routes only read. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "ll_api.h"
#include "ll_event.h"
#include "ll_mem.h"
#include "ll_rules.h"
#include "ll_state.h"
#include "ll_store.h"
#include "ll_views.h"
#include "support.h"

#define T_EPOCH_MS 1798761600000LL /* 2027-01-01T00:00:00Z */
#define DAY_MS 86400000LL
#define Q(units) ((int64_t)(units)*LL_MICRO)

/* ---- fixture ---- */

/* A log store and views in a temp directory, the API on them
 * (tests/support). */
static ts_api_fixture *F;
static int next_offset; /* input offsets of hand-fed events */

/* Decide one event like the command consumer and commit it; it must be
 * accepted. recorded_at is the event's occurred_at + 1 s. */
static uint64_t feed(ll_event *ev) {
  ll_store_batch *b = ll_store_batch_begin(F->store);
  ll_state_reader reader = ll_store_batch_reader(b);
  ll_facts facts;
  ll_decision d;
  ll_mutations muts;
  ll_err err = {0};
  ll_facts_init(&facts);
  ll_decision_init(&d);
  ll_mutations_init(&muts);
  assert_int_equal(ll_facts_load(&reader, ev, &facts, &err), 0);
  ll_rule_opts opts = {0};
  ll_decide(&facts, ev, &opts, &d);
  if (!d.accepted)
    fail_msg("%s rejected: %s %s", ev->event_id, ll_code_name(d.code),
             d.message);
  /* FLOUR's events on partition 1, the others on 0: task positions (the
   * tokens) are then not the log positions. */
  ll_input in = {"lots.inbound", strcmp(ev->product_id, "FLOUR") == 0,
                 next_offset++};
  uint64_t pos = ll_store_batch_append(b, ev, &in, ev->occurred_at_ms + 1000);
  ll_log_at at = {pos, -1, pos};
  ll_decision_mutations(ev, &d, d.accepted ? &at : NULL, &muts);
  ll_store_batch_mutate(b, &muts);
  ll_mutations_free(&muts);
  ll_decision_free(&d);
  ll_facts_free(&facts);
  assert_int_equal(ll_store_batch_commit(b, false, &err), 0);
  ll_event_free(ev);
  return pos;
}

/* Apply to the views whatever the log holds beyond their position. */
static void project(void) {
  assert_int_equal(ts_fixture_project(F), 0);
}

static int seconds_now;

static void ev_base(ll_event *ev, ll_event_type type, const char *product_id,
                    const char *lot_id) {
  char id[32];
  ll_event_init(ev);
  ev->type = type;
  snprintf(id, sizeof id, "ev-%d", ++seconds_now);
  ev->event_id = ll_strdup(id);
  ev->occurred_at_ms = T_EPOCH_MS + seconds_now * 1000LL;
  ev->product_id = ll_strdup(product_id);
  ev->lot_id = ll_strdup(lot_id);
}

static uint64_t create(const char *product, const char *lot, int removal_day,
                       int expiration_day) {
  ll_event ev;
  ev_base(&ev, LL_EV_LOT_CREATED, product, lot);
  ev.name = ll_strdup(lot);
  ev.tracking = LL_TRACK_LOT;
  if (removal_day > 0)
    ev.removal_at = (ll_opt_time){true, T_EPOCH_MS + removal_day * DAY_MS};
  if (expiration_day > 0)
    ev.expiration_at =
        (ll_opt_time){true, T_EPOCH_MS + expiration_day * DAY_MS};
  return feed(&ev);
}

static uint64_t move(const char *product, const char *lot, int64_t qty,
                     const char *from, ll_usage fu, const char *to, ll_usage tu,
                     const char *reference) {
  ll_event ev;
  ev_base(&ev, LL_EV_STOCK_MOVED, product, lot);
  ev.quantity_valid = true;
  ev.quantity_micro = qty;
  ev.from = (ll_location){ll_strdup(from), fu};
  ev.to = (ll_location){ll_strdup(to), tu};
  ev.reference = ll_strdup(reference);
  return feed(&ev);
}

#define SUP LL_USAGE_SUPPLIER
#define INT LL_USAGE_INTERNAL
#define PRD LL_USAGE_PRODUCTION
#define CUS LL_USAGE_CUSTOMER

static uint64_t pos_shelf;    /* RAW put on Shelf-2 */
static uint64_t pos_consumed; /* RAW consumed by MO-1 */
static uint64_t pos_last;

/* RAW (flour) -> MO-1 -> MIX (dough) -> MO-2 -> BREAD -> two customers. */
static void seed(void) {
  create("FLOUR", "RAW", 0, 150);
  create("DOUGH", "MIX", 31, 40);
  create("BREAD", "BREAD", 0, 20);
  create("FLOUR", "L-9", 10, 12);
  move("FLOUR", "RAW", Q(100), "Vendors", SUP, "WH/Stock", INT, "PO-1");
  pos_shelf = move("FLOUR", "RAW", Q(40), "WH/Stock", INT, "WH/Stock/Shelf-2",
                   INT, NULL);
  pos_consumed = move("FLOUR", "RAW", Q(30), "WH/Stock/Shelf-2", INT,
                      "Production", PRD, "MO-1");
  move("DOUGH", "MIX", Q(50), "Production", PRD, "WH/Stock", INT, "MO-1");
  move("DOUGH", "MIX", Q(20), "WH/Stock", INT, "Production", PRD, "MO-2");
  move("BREAD", "BREAD", Q(200), "Production", PRD, "WH/Stock/Shelf-2", INT,
       "MO-2");
  move("BREAD", "BREAD", Q(80), "WH/Stock/Shelf-2", INT, "Customers/ACME", CUS,
       "SO-1");
  move("BREAD", "BREAD", Q(20), "WH/Stock/Shelf-2", INT, "Customers/Globex",
       CUS, "SO-2");
  pos_last = move("FLOUR", "L-9", Q(5), "Vendors", SUP, "WH/Stock2", INT, NULL);
  project();
}

static int group_setup(void **state) {
  (void)state;
  F = calloc(1, sizeof *F);
  if (F == NULL || ts_fixture_open(F, "trace", false) != 0)
    return -1;
  return ts_fixture_start_api(F, (ll_api_deps){0});
}

static int group_teardown(void **state) {
  (void)state;
  ts_fixture_close(F);
  free(F);
  return 0;
}

/* ---- the client ---- */

typedef ts_resp resp;

static resp request(const char *method, const char *path) {
  char url[4096];
  snprintf(url, sizeof url, "%s%s", F->base_url, path);
  ts_request q = {.method = method, .url = url};
  return ts_send(&q, NULL);
}

static resp get_ok(const char *path) {
  resp r = request("GET", path);
  if (r.status != 200 || r.json == NULL)
    fail_msg("GET %s: %ld %s", path, r.status, r.body ? r.body : "");
  return r;
}

static void expect_error(const char *method, const char *path, long status,
                         const char *code) {
  resp r = request(method, path);
  if (r.status != status || r.json == NULL || ts_jstr(r.json, "code") == NULL ||
      strcmp(ts_jstr(r.json, "code"), code) != 0)
    fail_msg("%s %s: want %ld %s, got %ld %s", method, path, status, code,
             r.status, r.body != NULL ? r.body : "(no body)");
  assert_non_null(ts_jstr(r.json, "message"));
  ts_resp_free(&r);
}

/* Space-separated values of key over an array of objects. */
static void join(const json_t *arr, const char *key, char *out, size_t cap) {
  size_t i;
  const json_t *row;
  out[0] = '\0';
  json_array_foreach(arr, i, row) {
    const char *v = ts_jstr(row, key);
    strncat(out, v != NULL ? v : "-", cap - strlen(out) - 1);
    strncat(out, " ", cap - strlen(out) - 1);
  }
}

/* ---- tests ---- */

static void test_seed(void **state) {
  (void)state;
  seed();
  assert_int_equal(ll_views_position(F->views), pos_last);
}

static void test_history_route(void **state) {
  (void)state;
  resp r = get_ok("/v1/lots/RAW/moves");
  assert_string_equal(r.position, "13");
  const json_t *events = ts_jarr(r.json, "events");
  assert_int_equal(json_array_size(events), 4);
  char types[256];
  join(events, "type", types, sizeof types);
  assert_string_equal(types, "LotCreated StockMoved StockMoved StockMoved ");
  const json_t *created = json_array_get(events, 0);
  assert_string_equal(ts_jstr(created, "name"), "RAW");
  assert_string_equal(ts_jstr(created, "expiration_at"),
                      "2027-05-31T00:00:00Z");
  const json_t *consumed = json_array_get(events, 3);
  assert_int_equal(ts_jint(consumed, "position"), (long long)pos_consumed);
  /* FLOUR's fifth event: RAW, L-9 created, then three moves of RAW */
  assert_string_equal(ts_jstr(consumed, "token"), "1:5");
  assert_string_equal(ts_jstr(consumed, "quantity"), "30");
  assert_string_equal(ts_jstr(consumed, "reference"), "MO-1");
  const json_t *to = json_object_get(consumed, "to");
  assert_string_equal(ts_jstr(to, "id"), "Production");
  assert_string_equal(ts_jstr(to, "usage"), "PRODUCTION");
  assert_string_equal(ts_jstr(json_object_get(consumed, "from"), "id"),
                      "WH/Stock/Shelf-2");
  /* recorded 1 s after it occurred (the fixture's clock) */
  assert_string_equal(ts_jstr(consumed, "occurred_at"), "2027-01-01T00:00:07Z");
  assert_string_equal(ts_jstr(consumed, "recorded_at"), "2027-01-01T00:00:08Z");
  assert_true(json_is_null(json_object_get(r.json, "next_cursor")));
  ts_resp_free(&r);

  /* pages of 3 */
  r = get_ok("/v1/lots/RAW/moves?limit=3");
  assert_int_equal(json_array_size(ts_jarr(r.json, "events")), 3);
  char path[128];
  snprintf(path, sizeof path, "/v1/lots/RAW/moves?limit=3&cursor=%s",
           ts_jstr(r.json, "next_cursor"));
  ts_resp_free(&r);
  r = get_ok(path);
  assert_int_equal(json_array_size(ts_jarr(r.json, "events")), 1);
  assert_int_equal(
      ts_jint(json_array_get(ts_jarr(r.json, "events"), 0), "position"),
      (long long)pos_consumed);
  ts_resp_free(&r);

  expect_error("GET", "/v1/lots/NOPE/moves", 404, "UNKNOWN_LOT");
  expect_error("GET", "/v1/lots/RAW/moves?cursor=abc", 400, "BAD_REQUEST");
  expect_error("GET", "/v1/lots/RAW/moves?limit=0", 400, "BAD_REQUEST");
  expect_error("POST", "/v1/lots/RAW/moves", 405, "METHOD_NOT_ALLOWED");
}

static void test_locations_now_and_as_of(void **state) {
  (void)state;
  resp now = get_ok("/v1/lots/RAW/locations");
  assert_string_equal(now.position, "13");
  assert_string_equal(ts_jstr(now.json, "on_hand"), "70");
  ts_resp_free(&now);

  char path[160];
  /* just after the shelf move: 60 on WH/Stock, 40 on Shelf-2 */
  snprintf(path, sizeof path, "/v1/lots/RAW/locations?as_of=%llu",
           (unsigned long long)pos_shelf);
  resp r = get_ok(path);
  assert_string_equal(ts_jstr(r.json, "on_hand"), "100");
  char locs[256], qtys[256];
  join(ts_jarr(r.json, "locations"), "location", locs, sizeof locs);
  join(ts_jarr(r.json, "locations"), "quantity", qtys, sizeof qtys);
  assert_string_equal(locs, "WH/Stock WH/Stock/Shelf-2 ");
  assert_string_equal(qtys, "60 40 ");
  assert_int_equal(ts_jint(json_object_get(r.json, "as_of"), "position"),
                   (long long)pos_shelf);
  assert_int_equal(ts_jint(r.json, "last_event_position"),
                   (long long)pos_shelf);
  ts_resp_free(&r);

  /* the same moment by time: the shelf move was recorded at 00:00:07 (it
   * occurred at 00:00:06); with all=1 the virtual locations show */
  r = get_ok("/v1/lots/RAW/locations?all=1&as_of=2027-01-01T00:00:07Z");
  join(ts_jarr(r.json, "locations"), "location", locs, sizeof locs);
  assert_string_equal(locs, "Vendors WH/Stock WH/Stock/Shelf-2 ");
  assert_string_equal(ts_jstr(json_object_get(r.json, "as_of"), "time"),
                      "2027-01-01T00:00:07Z");
  ts_resp_free(&r);
  r = get_ok("/v1/lots/RAW/locations?as_of=2027-01-01T01:00:07%2B01:00");
  assert_int_equal(ts_jint(r.json, "last_event_position"),
                   (long long)pos_shelf);
  ts_resp_free(&r);

  /* the same moment by its token, the same on every instance of a
   * cluster: FLOUR's fourth event */
  r = get_ok("/v1/lots/RAW/locations?as_of=1:4");
  join(ts_jarr(r.json, "locations"), "quantity", qtys, sizeof qtys);
  assert_string_equal(qtys, "60 40 ");
  assert_string_equal(ts_jstr(json_object_get(r.json, "as_of"), "token"),
                      "1:4");
  assert_string_equal(ts_jstr(r.json, "last_event_token"), "1:4");
  assert_int_equal(ts_jint(r.json, "last_event_position"),
                   (long long)pos_shelf);
  ts_resp_free(&r);
  expect_error("GET", "/v1/lots/RAW/locations?as_of=0:4", 400, "BAD_REQUEST");
  expect_error("GET", "/v1/lots/RAW/locations?as_of=1:0", 404, "UNKNOWN_LOT");

  /* before it was created; never existed; nonsense */
  expect_error("GET", "/v1/lots/RAW/locations?as_of=0", 404, "UNKNOWN_LOT");
  expect_error("GET", "/v1/lots/RAW/locations?as_of=2026-12-31T00:00:00Z", 404,
               "UNKNOWN_LOT");
  expect_error("GET", "/v1/lots/NOPE/locations?as_of=3", 404, "UNKNOWN_LOT");
  expect_error("GET", "/v1/lots/RAW/locations?as_of=yesterday", 400,
               "BAD_REQUEST");
}

/* Find the child of node whose lot_id is lot. */
static const json_t *child(const json_t *node, const char *lot) {
  size_t i;
  const json_t *c;
  json_array_foreach(json_object_get(node, "children"), i, c) {
    if (strcmp(ts_jstr(c, "lot_id"), lot) == 0)
      return c;
  }
  fail_msg("no child %s", lot);
  return NULL;
}

static void test_trace_route(void **state) {
  (void)state;
  resp r = get_ok("/v1/lots/RAW/trace");
  assert_string_equal(ts_jstr(r.json, "direction"), "downstream");
  assert_int_equal(ts_jint(r.json, "depth_limit"), LL_TRACE_DEPTH_MAX);
  assert_true(json_is_false(json_object_get(r.json, "truncated")));
  assert_int_equal(ts_jint(r.json, "lot_count"), 3);
  const json_t *tree = json_object_get(r.json, "tree");
  assert_string_equal(ts_jstr(tree, "lot_id"), "RAW");
  assert_string_equal(ts_jstr(tree, "product_id"), "FLOUR");
  const json_t *mix = child(tree, "MIX");
  const json_t *link = json_array_get(ts_jarr(mix, "links"), 0);
  assert_string_equal(ts_jstr(link, "reference"), "MO-1");
  assert_string_equal(ts_jstr(link, "consumed"), "30");
  assert_string_equal(ts_jstr(link, "produced"), "50");
  const json_t *bread = child(mix, "BREAD");
  link = json_array_get(ts_jarr(bread, "links"), 0);
  assert_string_equal(ts_jstr(link, "consumed"), "20");
  assert_string_equal(ts_jstr(link, "produced"), "200");
  assert_int_equal(json_array_size(ts_jarr(bread, "children")), 0);
  const json_t *dl = ts_jarr(r.json, "deliveries");
  char where[256], qty[64];
  join(dl, "location", where, sizeof where);
  join(dl, "quantity", qty, sizeof qty);
  assert_string_equal(where, "Customers/ACME Customers/Globex ");
  assert_string_equal(qty, "80 20 ");
  join(dl, "token", qty, sizeof qty); /* partition 0's sixth and seventh */
  assert_string_equal(qty, "0:6 0:7 ");
  assert_string_equal(ts_jstr(json_array_get(dl, 0), "product_id"), "BREAD");
  assert_string_equal(ts_jstr(json_array_get(dl, 0), "reference"), "SO-1");
  ts_resp_free(&r);

  r = get_ok("/v1/lots/BREAD/trace?direction=upstream");
  tree = json_object_get(r.json, "tree");
  assert_string_equal(ts_jstr(child(child(tree, "MIX"), "RAW"), "product_id"),
                      "FLOUR");
  assert_null(json_object_get(r.json, "deliveries"));
  ts_resp_free(&r);

  r = get_ok("/v1/lots/RAW/trace?depth=1");
  assert_true(json_is_true(json_object_get(r.json, "truncated")));
  mix = child(json_object_get(r.json, "tree"), "MIX");
  assert_true(json_is_true(json_object_get(mix, "truncated")));
  assert_int_equal(json_array_size(ts_jarr(r.json, "deliveries")), 0);
  ts_resp_free(&r);

  expect_error("GET", "/v1/lots/NOPE/trace", 404, "UNKNOWN_LOT");
  expect_error("GET", "/v1/lots/RAW/trace?direction=sideways", 400,
               "BAD_REQUEST");
  expect_error("GET", "/v1/lots/RAW/trace?depth=0", 400, "BAD_REQUEST");
  expect_error("GET", "/v1/lots/RAW/trace?depth=33", 400, "BAD_REQUEST");
  r = request("HEAD", "/v1/lots/RAW/trace");
  assert_int_equal(r.status, 200);
  ts_resp_free(&r);
}

static void test_location_lots_route(void **state) {
  (void)state;
  /* exact: WH/Stock holds MIX 30 and RAW 60 */
  resp r = get_ok("/v1/locations/WH%2FStock/lots");
  assert_string_equal(ts_jstr(r.json, "location"), "WH/Stock");
  assert_true(json_is_false(json_object_get(r.json, "children")));
  char ids[256], qty[128];
  join(ts_jarr(r.json, "lots"), "lot_id", ids, sizeof ids);
  join(ts_jarr(r.json, "lots"), "quantity", qty, sizeof qty);
  assert_string_equal(ids, "MIX RAW ");
  assert_string_equal(qty, "30 60 ");
  assert_string_equal(
      ts_jstr(json_array_get(ts_jarr(r.json, "lots"), 0), "usage"), "INTERNAL");
  assert_string_equal(
      ts_jstr(json_array_get(ts_jarr(r.json, "lots"), 0), "product_id"),
      "DOUGH");
  ts_resp_free(&r);

  /* children: plus Shelf-2 (BREAD 100, RAW 10); not WH/Stock2 */
  r = get_ok("/v1/locations/WH%2FStock/lots?children=1");
  join(ts_jarr(r.json, "lots"), "lot_id", ids, sizeof ids);
  join(ts_jarr(r.json, "lots"), "on_hand", qty, sizeof qty);
  assert_string_equal(ids, "BREAD MIX RAW ");
  assert_string_equal(qty, "100 30 70 ");
  assert_string_equal(r.position, "13");
  ts_resp_free(&r);

  /* the whole warehouse, a page at a time */
  r = get_ok("/v1/locations/WH/lots?children=1&limit=3");
  join(ts_jarr(r.json, "lots"), "lot_id", ids, sizeof ids);
  assert_string_equal(ids, "BREAD L-9 MIX ");
  assert_string_equal(ts_jstr(r.json, "next_cursor"), "3:MIXDOUGH");
  ts_resp_free(&r);
  r = get_ok("/v1/locations/WH/lots?children=1&limit=3&cursor=MIX");
  join(ts_jarr(r.json, "lots"), "lot_id", ids, sizeof ids);
  assert_string_equal(ids, "RAW ");
  assert_true(json_is_null(json_object_get(r.json, "next_cursor")));
  ts_resp_free(&r);

  /* customers: what was delivered where */
  r = get_ok("/v1/locations/Customers/lots?children=1");
  join(ts_jarr(r.json, "lots"), "quantity", qty, sizeof qty);
  assert_string_equal(qty, "100 ");
  join(ts_jarr(r.json, "lots"), "on_hand", qty, sizeof qty);
  assert_string_equal(qty, "0 ");
  ts_resp_free(&r);

  r = get_ok("/v1/locations/Nowhere/lots");
  assert_int_equal(json_array_size(ts_jarr(r.json, "lots")), 0);
  ts_resp_free(&r);
  expect_error("GET", "/v1/locations/WH/lots?children=maybe", 400,
               "BAD_REQUEST");
  expect_error("PUT", "/v1/locations/WH/lots", 405, "METHOD_NOT_ALLOWED");
}

static void test_fefo_route(void **state) {
  (void)state;
  /* removal dates: L-9 day 10, BREAD day 20 (its expiration), MIX day 31,
   * RAW day 150 */
  resp r = get_ok("/v1/lots?location=WH&children=1");
  char ids[256];
  join(ts_jarr(r.json, "lots"), "lot_id", ids, sizeof ids);
  assert_string_equal(ids, "L-9 BREAD MIX RAW ");
  join(ts_jarr(r.json, "lots"), "location_on_hand", ids, sizeof ids);
  assert_string_equal(ids, "5 100 30 70 ");
  ts_resp_free(&r);

  r = get_ok("/v1/lots?expiring_before=2027-02-01T00:00:00Z");
  join(ts_jarr(r.json, "lots"), "lot_id", ids, sizeof ids);
  assert_string_equal(ids, "L-9 BREAD ");
  assert_null(json_object_get(json_array_get(ts_jarr(r.json, "lots"), 0),
                              "location_on_hand"));
  ts_resp_free(&r);

  r = get_ok("/v1/lots?expiring_before=2027-02-02T00:00:00Z&location=WH%2FStock"
             "&product_id=DOUGH");
  join(ts_jarr(r.json, "lots"), "lot_id", ids, sizeof ids);
  assert_string_equal(ids, "MIX ");
  ts_resp_free(&r);

  r = get_ok("/v1/lots?location=WH&children=1&limit=2");
  const char *next = ts_jstr(r.json, "next_cursor");
  assert_non_null(next);
  char path[256];
  snprintf(path, sizeof path, "/v1/lots?location=WH&children=1&cursor=%s",
           next);
  ts_resp_free(&r);
  r = get_ok(path);
  join(ts_jarr(r.json, "lots"), "lot_id", ids, sizeof ids);
  assert_string_equal(ids, "MIX RAW ");
  ts_resp_free(&r);

  /* without these parameters, the plain list */
  r = get_ok("/v1/lots?product_id=FLOUR");
  join(ts_jarr(r.json, "lots"), "lot_id", ids, sizeof ids);
  assert_string_equal(ids, "L-9 RAW ");
  ts_resp_free(&r);

  expect_error("GET", "/v1/lots?expiring_before=soon", 400, "BAD_REQUEST");
  expect_error("GET", "/v1/lots?location=WH&q=x", 400, "BAD_REQUEST");
  expect_error("GET", "/v1/lots?location=WH&cursor=zz", 400, "BAD_REQUEST");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_seed),
      cmocka_unit_test(test_history_route),
      cmocka_unit_test(test_locations_now_and_as_of),
      cmocka_unit_test(test_trace_route),
      cmocka_unit_test(test_location_lots_route),
      cmocka_unit_test(test_fefo_route),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
