/* test_api.c — the HTTP API as a client sees it, over real sockets with
 * libcurl.
 *
 * The fixture is a real log store and real views in a temporary directory.
 * Events go through the same steps as in the command consumer (facts ->
 * rules -> log append + state mutations, or a stored rejection) and the
 * views are fed from the log, so the API reads what production would hold.
 * There is no Kafka producer: writes that pass every check answer 503,
 * which lets these tests show everything that must be answered before
 * publishing (400, 404, 422, a replayed Idempotency-Key).
 *
 * A second group runs `lotlined all` (the integration harness spawns it,
 * with its embedded broker) for what needs a write to be published and
 * decided: a retried Idempotency-Key after an acceptance or a rejection. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "harness.h"
#include "ll_api.h"
#include "ll_codec.h"
#include "ll_event.h"
#include "ll_mem.h"
#include "ll_rules.h"
#include "ll_state.h"
#include "ll_store.h"
#include "ll_time.h"
#include "ll_views.h"
#include "support.h"

#define T_EPOCH_MS 1798761600000LL      /* 2027-01-01T00:00:00Z */
#define T_EXPIRATION_MS 1803859200000LL /* 2027-03-01T00:00:00Z */
#define BODY_LIMIT_BYTES (1024 * 1024)
#define READY_LAG_MAX 1000

/* ---- fixture ---- */

/* A log store, views and codec in a temp directory (tests/support); the
 * first test starts the API on them. */
static ts_api_fixture *F;
static int next_offset; /* input offsets of hand-fed events */

/* Decide events like the command consumer does and commit them in one
 * batch: accepted ones are appended to the log (addressed by lot_id),
 * rejected ones stored as rejections; both are remembered by event id. */
static void feed(ll_event *events, size_t n) {
  ll_store_batch *b = ll_store_batch_begin(F->store);
  for (size_t i = 0; i < n; i++) {
    ll_event *ev = &events[i];
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
    assert_false(d.duplicate);
    ll_input in = {"lots.inbound", 0, next_offset++};
    if (d.accepted) {
      uint64_t pos = ll_store_batch_append(b, ev, &in, ev->occurred_at_ms);
      ll_log_at at = {pos, -1, pos};
      ll_decision_mutations(ev, &d, &at, &muts);
    } else {
      ll_decision_mutations(ev, &d, NULL, &muts);
      ll_stored_rejection r = {.rejected_at_ms = ev->occurred_at_ms,
                               .event_id = ev->event_id,
                               .code = d.code,
                               .message = d.message,
                               .topic = "lots.inbound",
                               .partition = 0,
                               .offset = in.offset};
      ll_store_batch_reject(b, &r);
    }
    ll_store_batch_mutate(b, &muts);
    ll_mutations_free(&muts);
    ll_decision_free(&d);
    ll_facts_free(&facts);
  }
  ll_err err = {0};
  assert_int_equal(ll_store_batch_commit(b, false, &err), 0);
}

/* Apply to the views whatever the log holds beyond their position. */
static void project(void) {
  assert_int_equal(ts_fixture_project(F), 0);
}

static void ev_base(ll_event *ev, ll_event_type type, const char *event_id,
                    int seconds, const char *product_id, const char *lot_id) {
  ll_event_init(ev);
  ev->type = type;
  ev->event_id = ll_strdup(event_id);
  ev->occurred_at_ms = T_EPOCH_MS + seconds * 1000LL;
  ev->product_id = ll_strdup(product_id);
  ev->lot_id = ll_strdup(lot_id);
}

static void ev_created(ll_event *ev, const char *event_id, int seconds,
                       const char *product_id, const char *lot_id,
                       const char *name, ll_tracking tracking) {
  ev_base(ev, LL_EV_LOT_CREATED, event_id, seconds, product_id, lot_id);
  ev->name = ll_strdup(name);
  ev->tracking = tracking;
}

static void ev_moved(ll_event *ev, const char *event_id, int seconds,
                     const char *product_id, const char *lot_id,
                     int64_t quantity_micro, const char *from,
                     ll_usage from_usage, const char *to, ll_usage to_usage) {
  ev_base(ev, LL_EV_STOCK_MOVED, event_id, seconds, product_id, lot_id);
  ev->quantity_valid = true;
  ev->quantity_micro = quantity_micro;
  ev->from.id = ll_strdup(from);
  ev->from.usage = from_usage;
  ev->to.id = ll_strdup(to);
  ev->to.usage = to_usage;
}

/* The starting data: 6 accepted events (positions 1..6), 2 rejections. */
#define SEED_EVENTS 8
#define SEED_POSITIONS 6

static void seed(void) {
  ll_event evs[SEED_EVENTS];
  ev_created(&evs[0], "ev-1", 1, "P-1", "L-1", "A-001", LL_TRACK_LOT);
  evs[0].reference = ll_strdup("PO-1");
  evs[0].expiration_at = (ll_opt_time){true, T_EXPIRATION_MS};
  ev_created(&evs[1], "ev-2", 2, "P-1", "L-2", "A-002", LL_TRACK_LOT);
  ev_created(&evs[2], "ev-3", 3, "P-2", "L-3", "S-100", LL_TRACK_SERIAL);
  ev_created(&evs[3], "ev-4", 4, "P-1", "L/4", "A-004", LL_TRACK_LOT);
  ev_moved(&evs[4], "ev-5", 5, "P-1", "L-1", 10500000, "Vendors",
           LL_USAGE_SUPPLIER, "WH/Stock", LL_USAGE_INTERNAL);
  ev_moved(&evs[5], "ev-6", 6, "P-1", "L-1", 2000000, "WH/Stock",
           LL_USAGE_INTERNAL, "Customers", LL_USAGE_CUSTOMER);
  /* rejected: same (product, name) as L-1 */
  ev_created(&evs[6], "ev-dup", 7, "P-1", "L-5", "A-001", LL_TRACK_LOT);
  /* rejected: nothing of L-2 in stock */
  ev_moved(&evs[7], "ev-short", 8, "P-1", "L-2", 5000000, "WH/Stock",
           LL_USAGE_INTERNAL, "Customers", LL_USAGE_CUSTOMER);
  feed(evs, SEED_EVENTS);
  for (size_t i = 0; i < SEED_EVENTS; i++)
    ll_event_free(&evs[i]);
  project();
  assert_int_equal(ll_store_last_position(F->store), SEED_POSITIONS);
  assert_int_equal(ll_views_position(F->views), SEED_POSITIONS);
}

static int group_setup(void **state) {
  (void)state;
  F = calloc(1, sizeof *F);
  return F != NULL ? ts_fixture_open(F, "http", true) : -1;
}

static int group_teardown(void **state) {
  (void)state;
  ts_fixture_close(F);
  free(F);
  return 0;
}

/* ---- the client ---- */

typedef ts_resp resp;

/* One request. body may be NULL; extra headers NULL-terminated. */
static resp request_n(const char *method, const char *path, const char *body,
                      size_t body_len, const char *const *headers) {
  char url[4096];
  snprintf(url, sizeof url, "%s%s", F->base_url, path);
  ts_request q = {.method = method,
                  .url = url,
                  .body = body,
                  .body_len = body_len,
                  .content_type = "application/json",
                  .headers = headers};
  return ts_send(&q, NULL);
}

static resp request(const char *method, const char *path, const char *body,
                    const char *const *headers) {
  return request_n(method, path, body, body != NULL ? strlen(body) : 0,
                   headers);
}

static resp get(const char *path) {
  return request("GET", path, NULL, NULL);
}

/* An error answer: status, JSON {"code","message"} with a message. */
static void expect_error(resp *r, long status, const char *code) {
  if (r->status != status || r->json == NULL ||
      ts_jstr(r->json, "code") == NULL ||
      strcmp(ts_jstr(r->json, "code"), code) != 0)
    fail_msg("want %ld %s, got %ld %s", status, code, r->status,
             r->body != NULL ? r->body : "(no body)");
  assert_string_equal(r->content_type, "application/json");
  const char *message = ts_jstr(r->json, "message");
  assert_non_null(message);
  assert_true(strlen(message) > 0);
}

static void expect_status(const char *method, const char *path,
                          const char *body, long status, const char *code) {
  resp r = request(method, path, body, NULL);
  expect_error(&r, status, code);
  ts_resp_free(&r);
}

/* ---- start-up ---- */

static void test_start_binds_a_free_port(void **state) {
  (void)state;
  ll_api_deps deps = {.views = F->views,
                      .log = F->store,
                      .codec = F->codec,
                      .producer = NULL,
                      .inbound_topic = "lots.inbound",
                      .write_timeout_ms = 2000};
  ll_err err = {0};
  F->api = ll_api_start("127.0.0.1:0", &deps, &err);
  if (F->api == NULL)
    fail_msg("ll_api_start: %s: %s", ll_err_kind_name(err.kind), err.message);
  const char *addr = ll_api_address(F->api);
  assert_int_equal(strncmp(addr, "127.0.0.1:", 10), 0);
  assert_true(atoi(addr + 10) > 0);
  snprintf(F->base_url, sizeof F->base_url, "http://%s", addr);
  seed();
}

static void test_start_refuses_bad_or_busy_addresses(void **state) {
  (void)state;
  ll_api_deps deps = {.views = F->views, .log = F->store};
  const char *bad[] = {"nonsense", "127.0.0.1:99999", "127.0.0.1:",
                       ":80",      "127.0.0.1:8o",    "::1:80"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ll_err err = {0};
    ll_api *api = ll_api_start(bad[i], &deps, &err);
    if (api != NULL)
      fail_msg("%s was accepted", bad[i]);
    assert_true(strlen(err.message) > 0);
  }
  ll_err err = {0};
  ll_api *api = ll_api_start(ll_api_address(F->api), &deps, &err);
  assert_null(api);
  assert_non_null(strstr(err.message, "in use"));
}

/* ---- health ---- */

static void test_healthz_and_readyz(void **state) {
  (void)state;
  resp r = get("/healthz");
  assert_int_equal(r.status, 200);
  assert_string_equal(r.content_type, "application/json");
  assert_string_equal(ts_jstr(r.json, "status"), "ok");
  ts_resp_free(&r);

  r = get("/readyz");
  assert_int_equal(r.status, 200);
  assert_string_equal(ts_jstr(r.json, "status"), "ready");
  assert_int_equal(ts_jint(r.json, "position"), SEED_POSITIONS);
  assert_int_equal(ts_jint(r.json, "log_position"), SEED_POSITIONS);
  ts_resp_free(&r);

  r = get("/metrics");
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.content_type, "text/plain"));
  assert_non_null(strstr(r.body, "lotline_views_position 6\n"));
  ts_resp_free(&r);
}

/* ---- reads ---- */

static void test_get_lot(void **state) {
  (void)state;
  resp r = get("/v1/lots/L-1");
  assert_int_equal(r.status, 200);
  assert_string_equal(r.content_type, "application/json");
  assert_non_null(r.json);
  assert_string_equal(ts_jstr(r.json, "lot_id"), "L-1");
  assert_string_equal(ts_jstr(r.json, "name"), "A-001");
  assert_string_equal(ts_jstr(r.json, "product_id"), "P-1");
  assert_string_equal(ts_jstr(r.json, "tracking"), "LOT");
  assert_string_equal(ts_jstr(r.json, "reference"), "PO-1");
  assert_true(ts_jnull(r.json, "description"));
  assert_string_equal(ts_jstr(r.json, "expiration_at"), "2027-03-01T00:00:00Z");
  assert_true(ts_jnull(r.json, "use_by_at"));
  assert_true(ts_jnull(r.json, "removal_at"));
  assert_true(ts_jnull(r.json, "alert_at"));
  assert_int_equal(ts_jint(r.json, "version"), 1);
  /* 10.5 received, 2 delivered: a decimal string, never a number */
  assert_string_equal(ts_jstr(r.json, "on_hand"), "8.5");
  assert_string_equal(ts_jstr(r.json, "created_at"), "2027-01-01T00:00:01Z");
  assert_string_equal(ts_jstr(r.json, "updated_at"), "2027-01-01T00:00:06Z");
  ts_resp_free(&r);

  r = get("/v1/lots/L-3");
  assert_int_equal(r.status, 200);
  assert_string_equal(ts_jstr(r.json, "tracking"), "SERIAL");
  assert_string_equal(ts_jstr(r.json, "on_hand"), "0");
  ts_resp_free(&r);

  r = request("HEAD", "/v1/lots/L-1", NULL, NULL);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.len, 0);
  ts_resp_free(&r);
}

static void test_lot_id_with_slash_is_percent_encoded(void **state) {
  (void)state;
  resp r = get("/v1/lots/L%2F4");
  assert_int_equal(r.status, 200);
  assert_string_equal(ts_jstr(r.json, "lot_id"), "L/4");
  ts_resp_free(&r);
  /* unencoded, it is another path */
  expect_status("GET", "/v1/lots/L/4", NULL, 404, "NOT_FOUND");
  r = get("/v1/lots/L%2F4/locations");
  assert_int_equal(r.status, 200);
  assert_string_equal(ts_jstr(r.json, "lot_id"), "L/4");
  ts_resp_free(&r);
}

static void test_unknown_lot_is_404(void **state) {
  (void)state;
  expect_status("GET", "/v1/lots/NOPE", NULL, 404, "UNKNOWN_LOT");
  expect_status("GET", "/v1/lots/NOPE/locations", NULL, 404, "UNKNOWN_LOT");
  expect_status("GET", "/v1/lots/%C3%A9t%C3%A9", NULL, 404, "UNKNOWN_LOT");
}

static void test_locations(void **state) {
  (void)state;
  resp r = get("/v1/lots/L-1/locations");
  assert_int_equal(r.status, 200);
  assert_string_equal(ts_jstr(r.json, "lot_id"), "L-1");
  assert_string_equal(ts_jstr(r.json, "product_id"), "P-1");
  assert_string_equal(ts_jstr(r.json, "on_hand"), "8.5");
  json_t *locs = json_object_get(r.json, "locations");
  assert_int_equal(json_array_size(locs), 1);
  json_t *l = json_array_get(locs, 0);
  assert_string_equal(ts_jstr(l, "location"), "WH/Stock");
  assert_string_equal(ts_jstr(l, "usage"), "INTERNAL");
  assert_string_equal(ts_jstr(l, "quantity"), "8.5");
  ts_resp_free(&r);

  /* virtual locations too: sorted by id, summing to zero */
  r = get("/v1/lots/L-1/locations?all=1");
  assert_int_equal(r.status, 200);
  locs = json_object_get(r.json, "locations");
  assert_int_equal(json_array_size(locs), 3);
  const char *want[3][3] = {{"Customers", "CUSTOMER", "2"},
                            {"Vendors", "SUPPLIER", "-10.5"},
                            {"WH/Stock", "INTERNAL", "8.5"}};
  for (size_t i = 0; i < 3; i++) {
    l = json_array_get(locs, i);
    assert_string_equal(ts_jstr(l, "location"), want[i][0]);
    assert_string_equal(ts_jstr(l, "usage"), want[i][1]);
    assert_string_equal(ts_jstr(l, "quantity"), want[i][2]);
  }
  ts_resp_free(&r);

  r = get("/v1/lots/L-2/locations");
  assert_int_equal(r.status, 200);
  assert_int_equal(json_array_size(json_object_get(r.json, "locations")), 0);
  ts_resp_free(&r);

  expect_status("GET", "/v1/lots/L-1/locations?all=maybe", NULL, 400,
                "BAD_REQUEST");
}

/* The lot ids of a list answer, joined by ','. */
static void list_ids(const resp *r, char *out, size_t cap) {
  out[0] = '\0';
  json_t *lots = json_object_get(r->json, "lots");
  assert_true(json_is_array(lots));
  for (size_t i = 0; i < json_array_size(lots); i++) {
    const char *id = ts_jstr(json_array_get(lots, i), "lot_id");
    assert_non_null(id);
    if (i > 0)
      strncat(out, ",", cap - strlen(out) - 1);
    strncat(out, id, cap - strlen(out) - 1);
  }
}

static void test_list_and_paging(void **state) {
  (void)state;
  char ids[256];
  resp r = get("/v1/lots");
  assert_int_equal(r.status, 200);
  list_ids(&r, ids, sizeof ids);
  assert_string_equal(ids, "L-1,L-2,L-3,L/4");
  assert_true(ts_jnull(r.json, "next_cursor"));
  /* whole lots, as GET /v1/lots/{id} */
  json_t *first = json_array_get(json_object_get(r.json, "lots"), 0);
  assert_string_equal(ts_jstr(first, "on_hand"), "8.5");
  ts_resp_free(&r);

  /* pages of 2 for product P-1: L-1, L-2 | L/4 */
  r = get("/v1/lots?product_id=P-1&limit=2");
  assert_int_equal(r.status, 200);
  list_ids(&r, ids, sizeof ids);
  assert_string_equal(ids, "L-1,L-2");
  const char *cursor = ts_jstr(r.json, "next_cursor");
  assert_non_null(cursor);
  char *esc = curl_easy_escape(NULL, cursor, 0);
  char path[512];
  snprintf(path, sizeof path, "/v1/lots?product_id=P-1&limit=2&cursor=%s", esc);
  curl_free(esc);
  ts_resp_free(&r);
  r = get(path);
  assert_int_equal(r.status, 200);
  list_ids(&r, ids, sizeof ids);
  assert_string_equal(ids, "L/4");
  assert_true(ts_jnull(r.json, "next_cursor"));
  ts_resp_free(&r);

  r = get("/v1/lots?q=s-10");
  list_ids(&r, ids, sizeof ids);
  assert_string_equal(ids, "L-3");
  ts_resp_free(&r);

  r = get("/v1/lots?product_id=P-1&name=A-002");
  list_ids(&r, ids, sizeof ids);
  assert_string_equal(ids, "L-2");
  ts_resp_free(&r);

  r = get("/v1/lots?product_id=P-9");
  assert_int_equal(r.status, 200);
  list_ids(&r, ids, sizeof ids);
  assert_string_equal(ids, "");
  ts_resp_free(&r);

  r = get("/v1/lots?limit=1000");
  assert_int_equal(r.status, 200);
  ts_resp_free(&r);
  const char *bad[] = {"0", "1001", "abc", "-1", "1.5", "99999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(path, sizeof path, "/v1/lots?limit=%s", bad[i]);
    expect_status("GET", path, NULL, 400, "BAD_REQUEST");
  }
}

static void test_rejections(void **state) {
  (void)state;
  resp r = get("/v1/rejections");
  assert_int_equal(r.status, 200);
  json_t *rej = json_object_get(r.json, "rejections");
  assert_int_equal(json_array_size(rej), 2);
  /* newest first */
  json_t *a = json_array_get(rej, 0);
  json_t *b = json_array_get(rej, 1);
  assert_string_equal(ts_jstr(a, "code"), "INSUFFICIENT_STOCK");
  assert_string_equal(ts_jstr(a, "event_id"), "ev-short");
  assert_int_equal(ts_jint(a, "sequence"), 2);
  assert_string_equal(ts_jstr(a, "topic"), "lots.inbound");
  assert_int_equal(ts_jint(a, "partition"), 0);
  assert_int_equal(ts_jint(a, "offset"), 7);
  assert_string_equal(ts_jstr(a, "rejected_at"), "2027-01-01T00:00:08Z");
  assert_non_null(strstr(ts_jstr(a, "message"), "L-2"));
  assert_string_equal(ts_jstr(b, "code"), "DUPLICATE_LOT");
  assert_int_equal(ts_jint(b, "sequence"), 1);
  ts_resp_free(&r);

  r = get("/v1/rejections?limit=1");
  assert_int_equal(json_array_size(json_object_get(r.json, "rejections")), 1);
  ts_resp_free(&r);
  expect_status("GET", "/v1/rejections?limit=0", NULL, 400, "BAD_REQUEST");
}

static void test_unknown_routes_and_methods(void **state) {
  (void)state;
  expect_status("GET", "/", NULL, 404, "NOT_FOUND");
  expect_status("GET", "/v2/lots", NULL, 404, "NOT_FOUND");
  expect_status("GET", "/v1/lots/L-1/locations/x", NULL, 404, "NOT_FOUND");
  expect_status("GET", "/a/b/c/d/e/f/g/h/i", NULL, 404, "NOT_FOUND");
  expect_status("GET", "/v1/lots/%zz", NULL, 400, "BAD_REQUEST");
  expect_status("GET", "/v1/lots/a%00b", NULL, 400, "BAD_REQUEST");
  expect_status("GET", "/v1/lots/a%4", NULL, 400, "BAD_REQUEST");

  resp r = request("DELETE", "/v1/lots/L-1", NULL, NULL);
  expect_error(&r, 405, "METHOD_NOT_ALLOWED");
  assert_string_equal(r.allow, "GET, HEAD, PATCH");
  ts_resp_free(&r);
  expect_status("POST", "/healthz", "{}", 405, "METHOD_NOT_ALLOWED");
  expect_status("GET", "/v1/moves", NULL, 405, "METHOD_NOT_ALLOWED");
  expect_status("PUT", "/v1/lots", "{}", 405, "METHOD_NOT_ALLOWED");
}

/* ---- min_position ---- */

static void *apply_later(void *arg) {
  (void)arg;
  struct timespec ts = {0, 300 * 1000000L};
  nanosleep(&ts, NULL);
  ll_event ev;
  ev_base(&ev, LL_EV_LOT_UPDATED, "ev-7", 9, "P-1", "L-2");
  ev.name = ll_strdup("A-002-renamed");
  feed(&ev, 1);
  ll_event_free(&ev);
  project();
  return NULL;
}

static void test_min_position_waits_for_the_views(void **state) {
  (void)state;
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, apply_later, NULL), 0);
  resp r = get("/v1/lots/L-2?min_position=7");
  pthread_join(t, NULL);
  assert_int_equal(r.status, 200);
  assert_string_equal(ts_jstr(r.json, "name"), "A-002-renamed");
  assert_int_equal(ts_jint(r.json, "version"), 2);
  ts_resp_free(&r);

  r = get("/v1/lots/L-2?min_position=7");
  assert_int_equal(r.status, 200);
  ts_resp_free(&r);
  /* The same as a token: every entry here is from partition 0, where it
   * is task position 7 too. */
  r = get("/v1/lots/L-2?min_position=0:7");
  assert_int_equal(r.status, 200);
  ts_resp_free(&r);
  expect_status("GET", "/v1/lots/L-2?min_position=x", NULL, 400, "BAD_REQUEST");
  expect_status("GET", "/v1/lots/L-2?min_position=0:x", NULL, 400,
                "BAD_REQUEST");
  expect_status("GET", "/v1/lots/L-2?min_position=-1:3", NULL, 400,
                "BAD_REQUEST");
  expect_status("GET", "/v1/lots/L-2?min_position=:3", NULL, 400,
                "BAD_REQUEST");
  /* a partition the views have applied nothing of: 503 after the wait */
  expect_status("GET", "/v1/lots/L-2?min_position=5:1", NULL, 503,
                "UNAVAILABLE");
  /* never reached: 503 after the 5 s wait */
  expect_status("GET", "/v1/lots?min_position=100", NULL, 503, "UNAVAILABLE");
}

/* Reads waiting for ?min_position= hold no worker: more of them than the
 * pool could ever have (http.threads at most 64) wait at once, and a
 * plain read is still answered at once; each waiting one gets its 503
 * when its wait ends. Holding a worker each, they would keep every
 * other read waiting for the 5 s. */
#define WAITING_READS 70
#define PLAIN_READ_MAX_MS 1500

typedef struct waiting_read {
  pthread_t thread;
  long status;
  char code[32];
} waiting_read;

static void *read_far_ahead(void *arg) {
  waiting_read *w = arg;
  resp r = get("/v1/lots/L-2?min_position=1000000");
  w->status = r.status;
  snprintf(w->code, sizeof w->code, "%s",
           r.json != NULL && ts_jstr(r.json, "code") ? ts_jstr(r.json, "code")
                                                     : "-");
  ts_resp_free(&r);
  return NULL;
}

static void test_waiting_reads_hold_no_worker(void **state) {
  (void)state;
  waiting_read ws[WAITING_READS];
  for (int i = 0; i < WAITING_READS; i++)
    assert_int_equal(
        pthread_create(&ws[i].thread, NULL, read_far_ahead, &ws[i]), 0);
  struct timespec settle = {0, 500 * 1000000L}; /* the reads are waiting */
  nanosleep(&settle, NULL);
  uint64_t t0 = ll_mono_ns();
  resp r = get("/v1/lots/L-1");
  uint64_t took_ms = (ll_mono_ns() - t0) / 1000000;
  assert_int_equal(r.status, 200);
  ts_resp_free(&r);
  if (took_ms > PLAIN_READ_MAX_MS)
    fail_msg("a plain read took %llu ms while %d reads waited",
             (unsigned long long)took_ms, WAITING_READS);
  for (int i = 0; i < WAITING_READS; i++) {
    pthread_join(ws[i].thread, NULL);
    if (ws[i].status != 503 || strcmp(ws[i].code, "UNAVAILABLE") != 0)
      fail_msg("waiting read %d: %ld %s", i, ws[i].status, ws[i].code);
  }
}

/* ---- writes: what is answered before publishing ---- */

static const char *const NO_HEADERS[] = {NULL};

static void test_write_body_errors_are_400(void **state) {
  (void)state;
  expect_status("POST", "/v1/lots", "{", 400, "BAD_REQUEST");
  expect_status("POST", "/v1/lots", "", 400, "BAD_REQUEST");
  expect_status("POST", "/v1/lots", "[1,2]", 400, "BAD_REQUEST");
  expect_status("POST", "/v1/lots", "\"lot\"", 400, "BAD_REQUEST");
  expect_status("POST", "/v1/lots", "{\"lot_id\": 5}", 400, "BAD_REQUEST");
  expect_status("POST", "/v1/lots", "{\"name\": [\"x\"]}", 400, "BAD_REQUEST");
  expect_status("POST", "/v1/lots", "{\"expiration_at\": 1803859200000}", 400,
                "BAD_REQUEST");
  expect_status("POST", "/v1/lots", "{\"lot_id\": \"a\", \"lot_id\": \"b\"}",
                400, "BAD_REQUEST");
  expect_status("POST", "/v1/lots", "{\"lot_id\": \"\xff\"}", 400,
                "BAD_REQUEST");
  expect_status("POST", "/v1/lots", "{\"lot_id\": \"a\\u0000b\"}", 400,
                "BAD_REQUEST");
  expect_status("PATCH", "/v1/lots/L-1", "{\"expected_version\": \"1\"}", 400,
                "BAD_REQUEST");
  expect_status("PATCH", "/v1/lots/L-1", "{\"lot_id\": \"L-2\"}", 400,
                "BAD_REQUEST");
  expect_status("POST", "/v1/moves",
                "{\"lot_id\": \"L-1\", \"quantity\": 1.5, "
                "\"from\": {\"id\": \"A\", \"usage\": \"INTERNAL\"}, "
                "\"to\": {\"id\": \"B\", \"usage\": \"INTERNAL\"}}",
                400, "BAD_REQUEST");
  expect_status("POST", "/v1/moves",
                "{\"lot_id\": \"L-1\", \"quantity\": \"1\", "
                "\"from\": \"WH/Stock\", "
                "\"to\": {\"id\": \"B\", \"usage\": \"INTERNAL\"}}",
                400, "BAD_REQUEST");

  char key[400];
  memset(key, 'k', 300);
  strcpy(key + 300, "");
  char header[420];
  snprintf(header, sizeof header, "Idempotency-Key: %s", key);
  const char *h[] = {header, NULL};
  resp r = request("POST", "/v1/lots",
                   "{\"lot_id\":\"L-9\",\"product_id\":\"P-1\","
                   "\"name\":\"A-009\"}",
                   h);
  expect_error(&r, 400, "BAD_REQUEST");
  ts_resp_free(&r);
}

static void test_oversized_body_is_400(void **state) {
  (void)state;
  size_t n = BODY_LIMIT_BYTES + 100;
  char *big = malloc(n);
  memset(big, ' ', n);
  big[0] = '{';
  big[n - 1] = '}';
  /* curl asks "Expect: 100-continue" for a large body: refused up front */
  resp r = request_n("POST", "/v1/lots", big, n, NO_HEADERS);
  expect_error(&r, 400, "BAD_REQUEST");
  assert_non_null(strstr(ts_jstr(r.json, "message"), "1 MiB"));
  ts_resp_free(&r);
  /* without it the body is read, dropped and answered */
  const char *no_expect[] = {"Expect:", NULL};
  r = request_n("POST", "/v1/lots", big, n, no_expect);
  expect_error(&r, 400, "BAD_REQUEST");
  assert_non_null(strstr(ts_jstr(r.json, "message"), "1 MiB"));
  ts_resp_free(&r);
  free(big);
  /* the server is still fine */
  r = get("/healthz");
  assert_int_equal(r.status, 200);
  ts_resp_free(&r);
}

#define MOVE_BODY(qty, from, from_usage, to, to_usage)                         \
  "{\"lot_id\": \"L-1\", \"quantity\": \"" qty "\", "                          \
  "\"from\": {\"id\": \"" from "\", \"usage\": \"" from_usage "\"}, "          \
  "\"to\": {\"id\": \"" to "\", \"usage\": \"" to_usage "\"}}"

static void test_field_checks_are_422_before_publishing(void **state) {
  (void)state;
  expect_status("POST", "/v1/lots",
                "{\"lot_id\": \"L-9\", \"product_id\": "
                "\"P-1\"}",
                422, "MISSING_FIELD");
  expect_status("POST", "/v1/lots",
                "{\"lot_id\": \"L-9\", \"product_id\": \"P-1\", \"name\": "
                "\"A\", \"tracking\": \"BATCH\"}",
                422, "INVALID_FIELD");
  expect_status("POST", "/v1/lots",
                "{\"lot_id\": \"L-9\", \"product_id\": \"P-1\", \"name\": "
                "\"A\", \"expiration_at\": \"2027-13-45\"}",
                422, "INVALID_FIELD");
  expect_status("POST", "/v1/lots",
                "{\"lot_id\": \"L-9\", \"product_id\": \"P-1\", \"name\": "
                "\"A\", \"expiration_at\": \"2027-03-01T00:00:00Z\", "
                "\"alert_at\": \"2027-04-01T00:00:00Z\"}",
                422, "INVALID_DATES");
  expect_status("POST", "/v1/moves",
                MOVE_BODY("-1", "A", "INTERNAL", "B", "INTERNAL"), 422,
                "INVALID_QUANTITY");
  expect_status("POST", "/v1/moves",
                MOVE_BODY("0", "A", "INTERNAL", "B", "INTERNAL"), 422,
                "INVALID_QUANTITY");
  expect_status("POST", "/v1/moves",
                MOVE_BODY("1.1234567", "A", "INTERNAL", "B", "INTERNAL"), 422,
                "INVALID_QUANTITY");
  expect_status("POST", "/v1/moves",
                MOVE_BODY("1e3", "A", "INTERNAL", "B", "INTERNAL"), 422,
                "INVALID_QUANTITY");
  expect_status("POST", "/v1/moves",
                MOVE_BODY("1", "WH/Stock", "INTERNAL", "WH/Stock", "INTERNAL"),
                422, "SAME_LOCATION");
  expect_status("POST", "/v1/moves",
                MOVE_BODY("1", "A", "WAREHOUSE", "B", "INTERNAL"), 422,
                "INVALID_FIELD");
  expect_status("POST", "/v1/moves",
                "{\"lot_id\": \"L-1\", \"quantity\": \"1\", "
                "\"to\": {\"id\": \"B\", \"usage\": \"INTERNAL\"}}",
                422, "MISSING_FIELD");
  expect_status("POST", "/v1/moves",
                "{\"lot_id\": \"L-1\", \"from\": {\"id\": \"A\", \"usage\": "
                "\"INTERNAL\"}, \"to\": {\"id\": \"B\", \"usage\": "
                "\"INTERNAL\"}}",
                422, "MISSING_FIELD");
  /* a move for a lot that does not exist, with no product to key it by */
  expect_status("POST", "/v1/moves",
                "{\"lot_id\": \"NOPE\", \"quantity\": \"1\", "
                "\"from\": {\"id\": \"A\", \"usage\": \"SUPPLIER\"}, "
                "\"to\": {\"id\": \"B\", \"usage\": \"INTERNAL\"}}",
                422, "UNKNOWN_LOT");
  /* PATCH of an unknown lot: 404 without publishing */
  expect_status("PATCH", "/v1/lots/NOPE", "{\"name\": \"x\"}", 404,
                "UNKNOWN_LOT");
}

static void test_writes_without_producer_are_503(void **state) {
  (void)state;
  /* valid: only publishing is missing */
  expect_status("POST", "/v1/lots",
                "{\"lot_id\": \"L-9\", \"product_id\": \"P-1\", \"name\": "
                "\"A-009\"}",
                503, "UNAVAILABLE");
  expect_status("PATCH", "/v1/lots/L-1", "{\"name\": \"A-001b\"}", 503,
                "UNAVAILABLE");
  expect_status(
      "POST", "/v1/moves",
      MOVE_BODY("1.5", "WH/Stock", "INTERNAL", "WH/Shelf-2", "INTERNAL"), 503,
      "UNAVAILABLE");
  /* nothing was decided meanwhile */
  resp r = get("/v1/lots/L-1");
  assert_string_equal(ts_jstr(r.json, "name"), "A-001");
  assert_string_equal(ts_jstr(r.json, "on_hand"), "8.5");
  ts_resp_free(&r);
}

/* ---- a retried Idempotency-Key gets the recorded outcome ---- */

/* The request an event of the seed was: ev-1 created L-1. */
#define EV1_BODY                                                               \
  "{\"lot_id\": \"L-1\", \"product_id\": \"P-1\", \"name\": \"A-001\", "       \
  "\"reference\": \"PO-1\", \"expiration_at\": \"2027-03-01T00:00:00Z\"}"
/* ev-5 received 10.5 of L-1 (the product taken from the lot) */
#define EV5_BODY(qty)                                                          \
  "{\"lot_id\": \"L-1\", \"quantity\": \"" qty "\", "                          \
  "\"from\": {\"id\": \"Vendors\", \"usage\": \"SUPPLIER\"}, "                 \
  "\"to\": {\"id\": \"WH/Stock\", \"usage\": \"INTERNAL\"}}"

/* One request under an Idempotency-Key: status and code. */
static void expect_keyed(const char *key, const char *method, const char *path,
                         const char *body, long status, const char *code) {
  char header[300];
  snprintf(header, sizeof header, "Idempotency-Key: %s", key);
  const char *h[] = {header, NULL};
  resp r = request(method, path, body, h);
  expect_error(&r, status, code);
  ts_resp_free(&r);
}

/* Accepted first: the same request again is the recorded answer; another
 * request under the key, on the same route or another, is EVENT_ID_REUSED
 * (docs/concepts.md, "Event ids and idempotency"). Nothing is appended. */
static void test_replayed_idempotency_key(void **state) {
  (void)state;
  uint64_t log_before = ll_store_last_position(F->store);
  const char *h1[] = {"Idempotency-Key: ev-1", NULL};
  resp r = request("POST", "/v1/lots", EV1_BODY, h1);
  if (r.status != 201)
    fail_msg("replay: %ld %s", r.status, r.body);
  assert_string_equal(ts_jstr(r.json, "lot_id"), "L-1");
  assert_string_equal(r.position, "1");
  ts_resp_free(&r);

  /* ... another lot, a move, a PATCH under that key: EVENT_ID_REUSED */
  expect_keyed("ev-1", "POST", "/v1/lots",
               "{\"lot_id\": \"L-1\", \"product_id\": \"P-1\", "
               "\"name\": \"A-001\"}",
               409, "EVENT_ID_REUSED");
  expect_keyed("ev-1", "POST", "/v1/moves", EV5_BODY("1"), 409,
               "EVENT_ID_REUSED");
  expect_keyed("ev-1", "PATCH", "/v1/lots/L-1", "{\"reference\": \"PO-1\"}",
               409, "EVENT_ID_REUSED");

  /* ev-5, a move: the same request is 201 with the lot ... */
  const char *h5[] = {"Idempotency-Key: ev-5", NULL};
  r = request("POST", "/v1/moves", EV5_BODY("10.5"), h5);
  if (r.status != 201)
    fail_msg("move replay: %ld %s", r.status, r.body);
  assert_string_equal(ts_jstr(r.json, "event_id"), "ev-5");
  assert_int_equal(ts_jint(r.json, "position"), 5);
  assert_string_equal(ts_jstr(json_object_get(r.json, "lot"), "lot_id"), "L-1");
  ts_resp_free(&r);
  /* ... the quantity changed, or the key sent to another route, is not */
  expect_keyed("ev-5", "POST", "/v1/moves", EV5_BODY("5"), 409,
               "EVENT_ID_REUSED");
  expect_keyed("ev-5", "POST", "/v1/lots",
               "{\"lot_id\": \"L-8\", \"product_id\": \"P-1\", "
               "\"name\": \"A-008\"}",
               409, "EVENT_ID_REUSED");

  /* ev-7, the rename of L-2: PATCH replays give 200 */
  const char *h7[] = {"Idempotency-Key: ev-7", NULL};
  r = request("PATCH", "/v1/lots/L-2", "{\"name\": \"A-002-renamed\"}", h7);
  if (r.status != 200)
    fail_msg("patch replay: %ld %s", r.status, r.body);
  assert_string_equal(ts_jstr(r.json, "name"), "A-002-renamed");
  ts_resp_free(&r);
  expect_keyed("ev-7", "PATCH", "/v1/lots/L-2", "{\"name\": \"A-002-other\"}",
               409, "EVENT_ID_REUSED");
  assert_int_equal(ll_store_last_position(F->store), log_before);
}

/* Rejected first (the seed's ev-dup and ev-short, decided by the rules):
 * the same request again is the recorded rejection, its code and message;
 * any other request under the key, on the same route or another, is
 * EVENT_ID_REUSED naming that rejection, even one that would fail a field
 * check. Nothing is appended. */
static void test_rejected_key_replayed(void **state) {
  (void)state;
  uint64_t log_before = ll_store_last_position(F->store);
  const char *h2[] = {"Idempotency-Key: ev-dup", NULL};
  resp r = request("POST", "/v1/lots",
                   "{\"lot_id\": \"L-5\", \"product_id\": \"P-1\", "
                   "\"name\": \"A-001\"}",
                   h2);
  expect_error(&r, 409, "DUPLICATE_LOT");
  ts_resp_free(&r);
  r = request("POST", "/v1/lots",
              "{\"lot_id\": \"L-5\", \"product_id\": \"P-1\", "
              "\"name\": \"A-005\"}",
              h2);
  expect_error(&r, 409, "EVENT_ID_REUSED");
  assert_non_null(strstr(ts_jstr(r.json, "message"), "DUPLICATE_LOT"));
  ts_resp_free(&r);

  /* ev-short (INSUFFICIENT_STOCK): the same move, then a corrected one */
  expect_keyed("ev-short", "POST", "/v1/moves",
               "{\"lot_id\": \"L-2\", \"product_id\": \"P-1\", "
               "\"quantity\": \"5\", "
               "\"from\": {\"id\": \"WH/Stock\", \"usage\": \"INTERNAL\"}, "
               "\"to\": {\"id\": \"Customers\", \"usage\": \"CUSTOMER\"}}",
               422, "INSUFFICIENT_STOCK");
  expect_keyed("ev-short", "POST", "/v1/moves",
               "{\"lot_id\": \"L-2\", \"product_id\": \"P-1\", "
               "\"quantity\": \"0.5\", "
               "\"from\": {\"id\": \"WH/Stock\", \"usage\": \"INTERNAL\"}, "
               "\"to\": {\"id\": \"Customers\", \"usage\": \"CUSTOMER\"}}",
               409, "EVENT_ID_REUSED");
  expect_keyed("ev-short", "POST", "/v1/lots",
               "{\"lot_id\": \"L-6\", \"product_id\": \"P-1\", "
               "\"name\": \"A-006\"}",
               409, "EVENT_ID_REUSED");
  expect_keyed("ev-short", "POST", "/v1/moves",
               MOVE_BODY("0", "A", "INTERNAL", "B", "INTERNAL"), 409,
               "EVENT_ID_REUSED");
  assert_int_equal(ll_store_last_position(F->store), log_before);
}

/* A PATCH with no field to change is MISSING_FIELD before publishing
 * (docs/rejections.md): no version bump, nothing in the log. */
static void test_patch_that_changes_nothing_is_422(void **state) {
  (void)state;
  uint64_t log_before = ll_store_last_position(F->store);
  static const char *const bodies[] = {"{}", "{\"expected_version\": 1}"};
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
    resp r = request("PATCH", "/v1/lots/L-1", bodies[i], NO_HEADERS);
    expect_error(&r, 422, "MISSING_FIELD");
    assert_non_null(strstr(ts_jstr(r.json, "message"), "changes nothing"));
    ts_resp_free(&r);
  }
  /* Only unknown fields: refused before anything else, naming the field. */
  resp u =
      request("PATCH", "/v1/lots/L-1", "{\"colour\": \"blue\"}", NO_HEADERS);
  expect_error(&u, 400, "BAD_REQUEST");
  assert_non_null(strstr(ts_jstr(u.json, "message"), "'colour'"));
  ts_resp_free(&u);
  assert_int_equal(ll_store_last_position(F->store), log_before);
  resp r = get("/v1/lots/L-1");
  assert_int_equal(ts_jint(r.json, "version"), 1);
  ts_resp_free(&r);
}

/* ---- hostile input never drops the connection ---- */

static void test_odd_requests_get_json_answers(void **state) {
  (void)state;
  const char *paths[] = {"/v1/lots/%FF%FE",
                         "/v1/lots?q=%FF",
                         "/v1/lots?cursor=%FF%FF",
                         "/v1//lots",
                         "/v1/lots/L-1?min_position=",
                         "/v1/rejections?limit=%00"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    resp r = get(paths[i]);
    if (r.json == NULL)
      fail_msg("%s: %ld %s", paths[i], r.status, r.body);
    assert_string_equal(r.content_type, "application/json");
    ts_resp_free(&r);
  }
}

/* ---- readiness: last, it grows the log beyond the views ---- */

static void test_readyz_when_views_lag(void **state) {
  (void)state;
  ll_store_batch *b = ll_store_batch_begin(F->store);
  for (int i = 0; i < READY_LAG_MAX + 10; i++) {
    ll_event ev;
    char id[32], lot[32];
    snprintf(id, sizeof id, "lag-%d", i);
    snprintf(lot, sizeof lot, "LAG-%d", i);
    ev_created(&ev, id, 100 + i, "P-3", lot, lot, LL_TRACK_LOT);
    ll_input in = {"lots.inbound", 1, i};
    ll_store_batch_append(b, &ev, &in, ev.occurred_at_ms);
    ll_event_free(&ev);
  }
  ll_err err = {0};
  assert_int_equal(ll_store_batch_commit(b, false, &err), 0);

  resp r = get("/readyz");
  expect_error(&r, 503, "UNAVAILABLE");
  assert_int_equal(ts_jint(r.json, "position"), 7);
  assert_int_equal(ts_jint(r.json, "log_position"), 7 + READY_LAG_MAX + 10);
  ts_resp_free(&r);
  /* liveness does not depend on it */
  r = get("/healthz");
  assert_int_equal(r.status, 200);
  ts_resp_free(&r);

  project();
  r = get("/readyz");
  assert_int_equal(r.status, 200);
  ts_resp_free(&r);
}

/* A lot is (product_id, lot_id). D-1 under two products: the plain
 * routes answer 409 AMBIGUOUS_LOT with both products, before anything is
 * published; the product-scoped routes answer for each lot. */
static void test_lot_id_of_two_products(void **state) {
  (void)state;
  ll_event evs[3];
  ev_created(&evs[0], "two-1", 301, "P-8", "D-1", "Eight", LL_TRACK_LOT);
  ev_created(&evs[1], "two-2", 302, "P-7", "D-1", "Seven", LL_TRACK_LOT);
  ev_moved(&evs[2], "two-3", 303, "P-8", "D-1", 3000000, "Vendors",
           LL_USAGE_SUPPLIER, "WH/Stock", LL_USAGE_INTERNAL);
  feed(evs, 3);
  for (size_t i = 0; i < 3; i++)
    ll_event_free(&evs[i]);
  project();

  static const char *const plain[] = {"/v1/lots/D-1", "/v1/lots/D-1/locations",
                                      "/v1/lots/D-1/moves",
                                      "/v1/lots/D-1/trace"};
  for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
    resp r = get(plain[i]);
    expect_error(&r, 409, "AMBIGUOUS_LOT");
    const json_t *products = ts_jarr(r.json, "products");
    assert_int_equal(json_array_size(products), 2);
    assert_string_equal(json_string_value(json_array_get(products, 0)), "P-7");
    assert_string_equal(json_string_value(json_array_get(products, 1)), "P-8");
    ts_resp_free(&r);
  }

  resp r = get("/v1/products/P-8/lots/D-1");
  assert_int_equal(r.status, 200);
  assert_string_equal(ts_jstr(r.json, "name"), "Eight");
  assert_string_equal(ts_jstr(r.json, "on_hand"), "3");
  ts_resp_free(&r);
  r = get("/v1/products/P-7/lots/D-1");
  assert_int_equal(r.status, 200);
  assert_string_equal(ts_jstr(r.json, "name"), "Seven");
  assert_string_equal(ts_jstr(r.json, "on_hand"), "0");
  ts_resp_free(&r);
  r = get("/v1/products/P-8/lots/D-1/locations");
  assert_int_equal(r.status, 200);
  assert_string_equal(ts_jstr(r.json, "product_id"), "P-8");
  assert_int_equal(json_array_size(ts_jarr(r.json, "locations")), 1);
  ts_resp_free(&r);
  r = get("/v1/products/P-8/lots/D-1/moves");
  assert_int_equal(r.status, 200);
  assert_int_equal(json_array_size(ts_jarr(r.json, "events")), 2);
  ts_resp_free(&r);
  r = get("/v1/products/P-7/lots/D-1/trace");
  assert_int_equal(r.status, 200);
  assert_string_equal(ts_jstr(json_object_get(r.json, "tree"), "product_id"),
                      "P-7");
  ts_resp_free(&r);
  r = get("/v1/products/P-7/lots/D-1/locations?as_of=1");
  expect_error(&r, 404, "UNKNOWN_LOT"); /* not created yet at position 1 */
  ts_resp_free(&r);
  expect_status("GET", "/v1/products/P-9/lots/D-1", NULL, 404, "UNKNOWN_LOT");
  expect_status("GET", "/v1/products/P-9/lots/D-1/moves", NULL, 404,
                "UNKNOWN_LOT");
  /* A lot id one product uses still works on the plain routes. */
  r = get("/v1/lots/L-1");
  assert_int_equal(r.status, 200);
  ts_resp_free(&r);
  r = get("/v1/products/P-1/lots/L-1");
  assert_int_equal(r.status, 200);
  ts_resp_free(&r);

  /* Writes that need the product find it the same way, before publishing:
   * a PATCH or a move without product_id is ambiguous. */
  expect_status("PATCH", "/v1/lots/D-1", "{\"reference\": \"x\"}", 409,
                "AMBIGUOUS_LOT");
  expect_status("POST", "/v1/moves",
                "{\"lot_id\": \"D-1\", \"quantity\": \"1\", "
                "\"from\": {\"id\": \"WH/Stock\", \"usage\": "
                "\"INTERNAL\"}, \"to\": {\"id\": \"C\", \"usage\": "
                "\"CUSTOMER\"}}",
                409, "AMBIGUOUS_LOT");
  expect_status("PATCH", "/v1/products/P-9/lots/D-1", "{\"reference\": \"x\"}",
                404, "UNKNOWN_LOT");
  /* The product-scoped PATCH passes every check: only the missing
   * producer stops it. */
  expect_status("PATCH", "/v1/products/P-7/lots/D-1", "{\"reference\": \"x\"}",
                503, "UNAVAILABLE");
}

/* ---- through lotlined all: the API publishes, the command consumer
 * decides ----
 *
 * The one idempotency rule (docs/concepts.md, "Event ids and idempotency")
 * where the first outcome was decided by the command consumer: the same
 * request under a used key gets the recorded outcome, accepted or
 * rejected; another request under it, on any route, is 409
 * EVENT_ID_REUSED; neither appends anything. */

#define DAEMON_START_MS 30000
#define DAEMON_STOP_MS 15000

typedef struct lotlined_all {
  char *dir;
  char *http; /* "127.0.0.1:PORT" */
  h_proc proc;
} lotlined_all;

static lotlined_all *D;

/* One request to lotlined all, under an Idempotency-Key when key is set. */
static ts_resp daemon_request(const char *method, const char *path,
                              const char *body, const char *key) {
  char url[512], header[300];
  snprintf(url, sizeof url, "http://%s%s", D->http, path);
  snprintf(header, sizeof header, "Idempotency-Key: %s", key ? key : "");
  const char *headers[] = {key != NULL ? header : NULL, NULL};
  ts_request q = {.method = method,
                  .url = url,
                  .body = body,
                  .content_type = "application/json",
                  .headers = headers};
  return ts_send(&q, NULL);
}

static void daemon_expect(const char *key, const char *method, const char *path,
                          const char *body, long status, const char *code) {
  ts_resp r = daemon_request(method, path, body, key);
  const char *got = r.json != NULL ? ts_jstr(r.json, "code") : NULL;
  if (r.status != status ||
      (code != NULL && (got == NULL || strcmp(got, code) != 0)))
    fail_msg("%s %s (%s): want %ld %s, got %ld %s", method, path, key, status,
             code != NULL ? code : "", r.status, r.body ? r.body : "");
  ts_resp_free(&r);
}

/* The log's last position, as /readyz tells it. */
static long long daemon_log_position(void) {
  ts_resp r = daemon_request("GET", "/readyz", NULL, NULL);
  long long pos = ts_jint(r.json, "log_position");
  ts_resp_free(&r);
  return pos;
}

static bool daemon_ready(void) {
  char url[512];
  snprintf(url, sizeof url, "http://%s/readyz", D->http);
  ts_request q = {.url = url, .timeout_ms = 2000};
  CURLcode rc;
  ts_resp r = ts_send(&q, &rc);
  bool ready = rc == CURLE_OK && r.status == 200;
  ts_resp_free(&r);
  return ready;
}

static int daemon_setup(void **state) {
  (void)state;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  D = calloc(1, sizeof *D);
  D->dir = ts_tempdir("http-all");
  if (D->dir == NULL)
    return -1;
  char bin[512], log[4200];
  snprintf(log, sizeof log, "%s/lotlined.log", D->dir);
  const char *argv[] = {h_bin("lotlined", bin, sizeof bin),
                        "all",
                        "--data",
                        D->dir,
                        "--http",
                        "127.0.0.1:0",
                        NULL};
  D->proc = h_spawn_tied(log, argv);
  D->http = h_wait_file(D->dir, "http.addr", DAEMON_START_MS);
  for (int waited_ms = 0; D->http != NULL && !daemon_ready(); waited_ms += 50) {
    if (waited_ms >= DAEMON_START_MS) {
      free(D->http);
      D->http = NULL;
      break;
    }
    usleep(50 * 1000);
  }
  if (D->http == NULL) {
    h_dump_log(&D->proc);
    return -1;
  }
  return 0;
}

static int daemon_teardown(void **state) {
  (void)state;
  int rc = h_stop(&D->proc, DAEMON_STOP_MS);
  if (rc != 0)
    h_dump_log(&D->proc);
  ts_rmtree(D->dir);
  free(D->dir);
  free(D->http);
  free(D);
  curl_global_cleanup();
  return rc == 0 ? 0 : -1;
}

#define K1_CREATE(name)                                                        \
  "{\"lot_id\": \"K-1\", \"product_id\": \"P-9\", \"name\": \"" name "\"}"
#define K1_MOVE(qty, from, from_usage, to, to_usage)                           \
  "{\"lot_id\": \"K-1\", \"quantity\": \"" qty "\", "                          \
  "\"from\": {\"id\": \"" from "\", \"usage\": \"" from_usage "\"}, "          \
  "\"to\": {\"id\": \"" to "\", \"usage\": \"" to_usage "\"}}"
#define K1_RECEIVE(qty)                                                        \
  K1_MOVE(qty, "Vendors", "SUPPLIER", "WH/Stock", "INTERNAL")
#define K1_PICK(qty)                                                           \
  K1_MOVE(qty, "WH/Stock", "INTERNAL", "Customers", "CUSTOMER")

static const char *k1_on_hand(char out[32]) {
  ts_resp r = daemon_request("GET", "/v1/lots/K-1", NULL, NULL);
  assert_int_equal(r.status, 200);
  snprintf(out, 32, "%s", ts_jstr(r.json, "on_hand"));
  ts_resp_free(&r);
  return out;
}

static void test_daemon_accepted_first(void **state) {
  (void)state;
  daemon_expect("c-1", "POST", "/v1/lots", K1_CREATE("B-1"), 201, NULL);
  ts_resp first = daemon_request("POST", "/v1/moves", K1_RECEIVE("10"), "r-1");
  assert_int_equal(first.status, 201);
  long long log_pos = daemon_log_position();
  assert_int_equal(log_pos, 2);
  /* Its token: the product's partition, task position 2 there (the lot's
   * creation is 1); reading at it works. */
  const char *token = ts_jstr(first.json, "token");
  assert_non_null(token);
  assert_non_null(strstr(token, ":2"));
  char path[128];
  snprintf(path, sizeof path, "/v1/lots/K-1?min_position=%s", token);
  daemon_expect(NULL, "GET", path, NULL, 200, NULL);

  /* the same requests: the recorded answers */
  daemon_expect("c-1", "POST", "/v1/lots", K1_CREATE("B-1"), 201, NULL);
  ts_resp again = daemon_request("POST", "/v1/moves", K1_RECEIVE("10"), "r-1");
  assert_int_equal(again.status, 201);
  assert_int_equal(ts_jint(again.json, "position"),
                   ts_jint(first.json, "position"));
  assert_string_equal(ts_jstr(again.json, "token"), token);
  ts_resp_free(&again);
  ts_resp_free(&first);

  /* other requests under those keys */
  daemon_expect("c-1", "POST", "/v1/lots", K1_CREATE("B-2"), 409,
                "EVENT_ID_REUSED");
  daemon_expect("c-1", "PATCH", "/v1/lots/K-1", "{\"reference\": \"PO-1\"}",
                409, "EVENT_ID_REUSED");
  daemon_expect("r-1", "POST", "/v1/moves", K1_RECEIVE("11"), 409,
                "EVENT_ID_REUSED");
  daemon_expect("r-1", "POST", "/v1/lots",
                "{\"lot_id\": \"K-2\", \"product_id\": \"P-9\", "
                "\"name\": \"B-2\"}",
                409, "EVENT_ID_REUSED");
  assert_int_equal(daemon_log_position(), log_pos);
  char q[32];
  assert_string_equal(k1_on_hand(q), "10");
}

static void test_daemon_rejected_first(void **state) {
  (void)state;
  long long log_pos = daemon_log_position();
  ts_resp first =
      daemon_request("POST", "/v1/moves", K1_PICK("500"), "pick-77");
  if (first.status != 422 ||
      strcmp(ts_jstr(first.json, "code"), "INSUFFICIENT_STOCK") != 0)
    fail_msg("pick-77: %ld %s", first.status, first.body);

  /* the same request: the recorded rejection, code and message */
  ts_resp again =
      daemon_request("POST", "/v1/moves", K1_PICK("500"), "pick-77");
  assert_int_equal(again.status, 422);
  assert_string_equal(ts_jstr(again.json, "code"), "INSUFFICIENT_STOCK");
  assert_string_equal(ts_jstr(again.json, "message"),
                      ts_jstr(first.json, "message"));
  ts_resp_free(&again);
  ts_resp_free(&first);

  /* the corrected move, a lot, a PATCH under that key: EVENT_ID_REUSED */
  daemon_expect("pick-77", "POST", "/v1/moves", K1_PICK("5"), 409,
                "EVENT_ID_REUSED");
  daemon_expect("pick-77", "POST", "/v1/lots",
                "{\"lot_id\": \"K-3\", \"product_id\": \"P-9\", "
                "\"name\": \"B-3\"}",
                409, "EVENT_ID_REUSED");
  daemon_expect("pick-77", "PATCH", "/v1/lots/K-1", "{\"reference\": \"x\"}",
                409, "EVENT_ID_REUSED");
  assert_int_equal(daemon_log_position(), log_pos);
  char q[32];
  assert_string_equal(k1_on_hand(q), "10");

  /* one rejection recorded under pick-77, however often it was sent */
  ts_resp r = daemon_request("GET", "/v1/rejections", NULL, NULL);
  size_t i, n = 0;
  const json_t *row;
  json_array_foreach(ts_jarr(r.json, "rejections"), i, row) {
    const char *id = ts_jstr(row, "event_id");
    n += id != NULL && strcmp(id, "pick-77") == 0;
  }
  ts_resp_free(&r);
  assert_int_equal(n, 1);
}

/* Many writes waiting at once, more than the API has worker threads
 * (their connections are suspended while they wait), each get their own
 * outcome: an accepted move its own log position, a refused one its
 * rejection, with or without an Idempotency-Key. */
#define CW_WRITES 24
#define CW_LOT(qty, from, from_usage, to, to_usage)                            \
  "{\"product_id\": \"P-CW\", \"lot_id\": \"CW-1\", \"quantity\": \"" qty      \
  "\", \"from\": {\"id\": \"" from "\", \"usage\": \"" from_usage "\"}, "      \
  "\"to\": {\"id\": \"" to "\", \"usage\": \"" to_usage "\"}}"

typedef struct cw_write {
  int i;
  pthread_t thread;
  long status;
  char code[64];
  long long position;
} cw_write;

static void *cw_post(void *arg) {
  cw_write *w = arg;
  char key[32];
  snprintf(key, sizeof key, "cw-%d", w->i);
  /* Even: a receipt (accepted); odd: a pick of more than there is. */
  const char *body =
      w->i % 2 == 0
          ? CW_LOT("1", "Vendors", "SUPPLIER", "WH/Stock", "INTERNAL")
          : CW_LOT("5000", "WH/Stock", "INTERNAL", "Customers", "CUSTOMER");
  ts_resp r =
      daemon_request("POST", "/v1/moves", body, w->i % 4 < 2 ? key : NULL);
  w->status = r.status;
  const char *code = r.json != NULL ? ts_jstr(r.json, "code") : NULL;
  snprintf(w->code, sizeof w->code, "%s", code != NULL ? code : "");
  w->position = r.status == 201 ? ts_jint(r.json, "position") : 0;
  ts_resp_free(&r);
  return NULL;
}

static void test_daemon_concurrent_writes(void **state) {
  (void)state;
  daemon_expect(NULL, "POST", "/v1/lots",
                "{\"lot_id\": \"CW-1\", \"product_id\": \"P-CW\", "
                "\"name\": \"CW\"}",
                201, NULL);
  cw_write ws[CW_WRITES];
  for (int i = 0; i < CW_WRITES; i++) {
    ws[i] = (cw_write){.i = i};
    assert_int_equal(pthread_create(&ws[i].thread, NULL, cw_post, &ws[i]), 0);
  }
  for (int i = 0; i < CW_WRITES; i++)
    pthread_join(ws[i].thread, NULL);
  for (int i = 0; i < CW_WRITES; i++) {
    if (i % 2 == 0) {
      if (ws[i].status != 201 || ws[i].position <= 0)
        fail_msg("receipt %d: %ld %s", i, ws[i].status, ws[i].code);
      for (int k = 0; k < i; k += 2)
        assert_true(ws[k].position != ws[i].position);
    } else if (ws[i].status != 422 ||
               strcmp(ws[i].code, "INSUFFICIENT_STOCK") != 0) {
      fail_msg("pick %d: %ld %s", i, ws[i].status, ws[i].code);
    }
  }
  ts_resp r = daemon_request("GET", "/v1/products/P-CW/lots/CW-1", NULL, NULL);
  assert_int_equal(r.status, 200);
  char want[16];
  snprintf(want, sizeof want, "%d", CW_WRITES / 2);
  assert_string_equal(ts_jstr(r.json, "on_hand"), want);
  ts_resp_free(&r);
}

/* A lot is (product_id, lot_id), and every rule is local to a product,
 * through the whole path: API, Kafka, command consumer, views. */
#define K7_CREATE(product, name)                                               \
  "{\"lot_id\": \"K-7\", \"product_id\": \"" product "\", \"name\": \"" name   \
  "\"}"
#define K7_MOVE(product, to, usage)                                            \
  "{\"product_id\": \"" product "\", \"lot_id\": \"K-7\", \"quantity\": "      \
  "\"1\", \"from\": {\"id\": \"Vendors\", \"usage\": \"SUPPLIER\"}, "          \
  "\"to\": {\"id\": \"" to "\", \"usage\": \"" usage "\"}}"

static void test_daemon_lots_are_scoped_by_product(void **state) {
  (void)state;
  /* The same lot id under two products: two lots. */
  daemon_expect("k7-a", "POST", "/v1/lots", K7_CREATE("P-9", "Nine"), 201,
                NULL);
  daemon_expect("k7-b", "POST", "/v1/lots", K7_CREATE("P-8", "Eight"), 201,
                NULL);
  daemon_expect("k7-c", "POST", "/v1/lots", K7_CREATE("P-9", "Other"), 409,
                "LOT_ID_TAKEN");
  ts_resp r = daemon_request("GET", "/v1/lots/K-7", NULL, NULL);
  assert_int_equal(r.status, 409);
  assert_string_equal(ts_jstr(r.json, "code"), "AMBIGUOUS_LOT");
  assert_int_equal(json_array_size(ts_jarr(r.json, "products")), 2);
  ts_resp_free(&r);
  r = daemon_request("GET", "/v1/products/P-8/lots/K-7", NULL, NULL);
  assert_int_equal(r.status, 200);
  assert_string_equal(ts_jstr(r.json, "name"), "Eight");
  ts_resp_free(&r);

  /* An Idempotency-Key is per product: the same key under another product
   * is another event; under the same product with other content, reused. */
  daemon_expect("k7-m", "POST", "/v1/moves", K7_MOVE("P-9", "Dock", "INTERNAL"),
                201, NULL);
  daemon_expect("k7-m", "POST", "/v1/moves", K7_MOVE("P-8", "Dock", "TRANSIT"),
                201, NULL);
  daemon_expect("k7-m", "POST", "/v1/moves", K7_MOVE("P-9", "Dock", "TRANSIT"),
                409, "EVENT_ID_REUSED");
  /* A location's usage is fixed per product: Dock is INTERNAL for P-9 and
   * TRANSIT for P-8. */
  daemon_expect("k7-n", "POST", "/v1/moves", K7_MOVE("P-9", "Dock", "TRANSIT"),
                409, "LOCATION_USAGE_CONFLICT");
  r = daemon_request("GET", "/v1/products/P-8/lots/K-7/locations", NULL, NULL);
  assert_int_equal(r.status, 200);
  const json_t *loc = json_array_get(ts_jarr(r.json, "locations"), 0);
  assert_string_equal(ts_jstr(loc, "usage"), "TRANSIT");
  ts_resp_free(&r);

  /* A lot's product cannot be changed; naming its own is no change. */
  r = daemon_request("PATCH", "/v1/products/P-9/lots/K-7",
                     "{\"product_id\": \"P-7\"}", "k7-p");
  assert_int_equal(r.status, 409);
  assert_string_equal(ts_jstr(r.json, "code"), "PRODUCT_LOCKED");
  assert_non_null(strstr(ts_jstr(r.json, "message"), "cannot be changed"));
  ts_resp_free(&r);
  daemon_expect("k7-q", "PATCH", "/v1/products/P-9/lots/K-7",
                "{\"product_id\": \"P-9\", \"reference\": \"R\"}", 200, NULL);
}

/* A PATCH that changes nothing: 422 before publishing, as over Kafka. */
static void test_daemon_patch_that_changes_nothing(void **state) {
  (void)state;
  long long log_pos = daemon_log_position();
  daemon_expect("p-0", "PATCH", "/v1/lots/K-1", "{}", 422, "MISSING_FIELD");
  daemon_expect(NULL, "PATCH", "/v1/lots/K-1", "{\"expected_version\": 1}", 422,
                "MISSING_FIELD");
  assert_int_equal(daemon_log_position(), log_pos);
  ts_resp r = daemon_request("GET", "/v1/lots/K-1", NULL, NULL);
  assert_int_equal(ts_jint(r.json, "version"), 1);
  ts_resp_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_start_binds_a_free_port),
      cmocka_unit_test(test_start_refuses_bad_or_busy_addresses),
      cmocka_unit_test(test_healthz_and_readyz),
      cmocka_unit_test(test_get_lot),
      cmocka_unit_test(test_lot_id_with_slash_is_percent_encoded),
      cmocka_unit_test(test_unknown_lot_is_404),
      cmocka_unit_test(test_locations),
      cmocka_unit_test(test_list_and_paging),
      cmocka_unit_test(test_rejections),
      cmocka_unit_test(test_unknown_routes_and_methods),
      cmocka_unit_test(test_min_position_waits_for_the_views),
      cmocka_unit_test(test_waiting_reads_hold_no_worker),
      cmocka_unit_test(test_write_body_errors_are_400),
      cmocka_unit_test(test_oversized_body_is_400),
      cmocka_unit_test(test_field_checks_are_422_before_publishing),
      cmocka_unit_test(test_writes_without_producer_are_503),
      cmocka_unit_test(test_replayed_idempotency_key),
      cmocka_unit_test(test_rejected_key_replayed),
      cmocka_unit_test(test_patch_that_changes_nothing_is_422),
      cmocka_unit_test(test_odd_requests_get_json_answers),
      cmocka_unit_test(test_readyz_when_views_lag),
      cmocka_unit_test(test_lot_id_of_two_products),
  };
  const struct CMUnitTest through_kafka[] = {
      cmocka_unit_test(test_daemon_accepted_first),
      cmocka_unit_test(test_daemon_rejected_first),
      cmocka_unit_test(test_daemon_patch_that_changes_nothing),
      cmocka_unit_test(test_daemon_lots_are_scoped_by_product),
      cmocka_unit_test(test_daemon_concurrent_writes),
  };
  int failed = cmocka_run_group_tests_name("without a producer", tests,
                                           group_setup, group_teardown);
  return failed + cmocka_run_group_tests_name("through lotlined all",
                                              through_kafka, daemon_setup,
                                              daemon_teardown);
}
