/* test_api_strict.c — the route table decides what a request may say.
 *
 * Every route refuses a query parameter it does not declare, and every
 * write a body field it does not declare, with 400 BAD_REQUEST whose
 * message names the stray name and lists the accepted ones: a misspelt
 * ?chidren=1 or "referense" silently ignored would answer another
 * question, or record an event without what the client meant to give.
 * What a route declares is accepted. A method the table does not have for
 * a path is 405 with exactly the table's methods in Allow.
 *
 * The cases are driven by the table itself (api_routes.c), so a route
 * added there is tested here without a line more; a few named cases pin
 * the mistakes users actually make. The API runs on an empty log store
 * and views, without a Kafka producer: every check here comes before
 * publishing. */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "api_internal.h"
#include "ll_api.h"
#include "ll_codec.h"
#include "ll_store.h"
#include "ll_views.h"

typedef struct fixture {
  char root[512];
  ll_store *store;
  ll_views *views;
  ll_codec *codec;
  ll_api *api;
  char base[400];
} fixture;

static fixture *F;

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static int group_setup(void **state) {
  (void)state;
  F = calloc(1, sizeof *F);
  const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  snprintf(F->root, sizeof F->root, "%s/ll-strict-XXXXXX", tmp);
  if (mkdtemp(F->root) == NULL)
    return -1;
  char path[600];
  ll_err err = {0};
  snprintf(path, sizeof path, "%s/log", F->root);
  F->store = ll_store_open(path, LL_STORE_PRIMARY, &err);
  snprintf(path, sizeof path, "%s/views", F->root);
  F->views = ll_views_open(path, &err);
  F->codec = ll_codec_open(getenv("LOTLINE_SCHEMAS"), NULL, &err);
  if (F->store == NULL || F->views == NULL || F->codec == NULL) {
    fprintf(stderr, "setup: %s\n", err.message);
    return -1;
  }
  ll_api_deps deps = {.views = F->views,
                      .log = F->store,
                      .codec = F->codec,
                      .inbound_topic = "lots.inbound",
                      .write_timeout_ms = 1000};
  F->api = ll_api_start("127.0.0.1:0", &deps, &err);
  if (F->api == NULL) {
    fprintf(stderr, "ll_api_start: %s\n", err.message);
    return -1;
  }
  snprintf(F->base, sizeof F->base, "http://%s", ll_api_address(F->api));
  curl_global_init(CURL_GLOBAL_DEFAULT);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  ll_api_stop(F->api);
  ll_views_close(F->views);
  ll_store_close(F->store);
  ll_codec_close(F->codec);
  nftw(F->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  curl_global_cleanup();
  free(F);
  return 0;
}

/* ---- requests ---- */

typedef struct resp {
  long status;
  char *body;
  size_t len;
  char allow[128];
  json_t *json;
} resp;

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
  resp *r = arg;
  r->body = realloc(r->body, r->len + size * n + 1);
  memcpy(r->body + r->len, p, size * n);
  r->len += size * n;
  r->body[r->len] = '\0';
  return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg) {
  resp *r = arg;
  size_t len = size * n;
  if (len > 6 && strncasecmp(p, "Allow:", 6) == 0) {
    size_t i = 6;
    while (i < len && p[i] == ' ')
      i++;
    size_t end = len;
    while (end > i && (p[end - 1] == '\r' || p[end - 1] == '\n'))
      end--;
    snprintf(r->allow, sizeof r->allow, "%.*s", (int)(end - i), p + i);
  }
  return len;
}

static resp request(const char *method, const char *path, const char *body) {
  resp r = {0};
  char url[2048];
  snprintf(url, sizeof url, "%s%s", F->base, path);
  CURL *c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (strcmp(method, "HEAD") == 0)
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  else if (strcmp(method, "GET") != 0)
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  if (body != NULL)
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK)
    fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  if (r.body != NULL)
    r.json = json_loadb(r.body, r.len, 0, NULL);
  curl_easy_cleanup(c);
  return r;
}

static void resp_free(resp *r) {
  free(r->body);
  json_decref(r->json);
}

static const char *message_of(const resp *r) {
  const char *m = json_string_value(json_object_get(r->json, "message"));
  return m != NULL ? m : "";
}

/* A 400 BAD_REQUEST whose message holds every one of want (NULL-ended). */
static void expect_refused(const char *method, const char *path,
                           const char *body, const char *const *want) {
  resp r = request(method, path, body);
  const char *code = json_string_value(json_object_get(r.json, "code"));
  if (r.status != 400 || code == NULL || strcmp(code, "BAD_REQUEST") != 0)
    fail_msg("%s %s %s: want 400 BAD_REQUEST, got %ld %s", method, path,
             body != NULL ? body : "", r.status,
             r.body != NULL ? r.body : "(no body)");
  for (const char *const *w = want; *w != NULL; w++)
    if (strstr(message_of(&r), *w) == NULL)
      fail_msg("%s %s: the message does not say %s: %s", method, path, *w,
               message_of(&r));
  resp_free(&r);
}

/* A request path for a route: each {parameter} becomes "X-1". */
static void concrete_path(const api_route *rt, char *out, size_t cap) {
  size_t len = 0;
  for (const char *p = rt->pattern; *p != '\0' && len + 8 < cap;) {
    if (*p == '{') {
      len += (size_t)snprintf(out + len, cap - len, "X-1");
      p += strcspn(p, "}") + 1;
    } else {
      out[len++] = *p++;
    }
  }
  out[len] = '\0';
}

/* Every route's answer to a request with no body must not be waited for:
 * writes get "{}", reads none. */
static const char *empty_body(const api_route *rt) {
  return strcmp(rt->method, "GET") == 0 ? NULL : "{}";
}

/* ---- the table ---- */

static bool lists_status(const api_route *rt, unsigned status) {
  for (const unsigned *s = rt->statuses; *s != 0; s++)
    if (*s == status)
      return true;
  return false;
}

/* What the docs promise of every route holds in the table: one row per
 * method and path; 400 everywhere (an unknown parameter); 401 wherever a
 * token can be asked for and 403 on writes (the read token); 503 where
 * the views are waited for; a body exactly on writes. */
static void test_the_table_is_consistent(void **state) {
  (void)state;
  for (size_t i = 0; i < api_routes_count; i++) {
    const api_route *rt = &api_routes[i];
    for (size_t k = i + 1; k < api_routes_count; k++)
      if (strcmp(rt->method, api_routes[k].method) == 0 &&
          strcmp(rt->pattern, api_routes[k].pattern) == 0)
        fail_msg("%s %s is in the table twice", rt->method, rt->pattern);
    assert_true(lists_status(rt, 400));
    assert_true(lists_status(rt, 401) == !(rt->flags & API_OPEN));
    if (rt->flags & API_WRITE)
      assert_true(lists_status(rt, 403));
    if (rt->flags & API_VIEWS)
      assert_true(lists_status(rt, 503));
    assert_true((rt->body != NULL) == ((rt->flags & API_WRITE) != 0));
    assert_true(((rt->flags & API_READ) != 0) ==
                (strcmp(rt->method, "GET") == 0));
  }
}

/* ---- query parameters ---- */

/* Any route, any stray name: 400 naming it and every accepted one. */
static void test_every_route_refuses_an_unknown_parameter(void **state) {
  (void)state;
  for (size_t i = 0; i < api_routes_count; i++) {
    const api_route *rt = &api_routes[i];
    char path[256], url[320];
    concrete_path(rt, path, sizeof path);
    snprintf(url, sizeof url, "%s?zz_stray=1", path);
    const char *want[16] = {"'zz_stray'"};
    size_t n = 1;
    for (const api_param *q = rt->query; q->name != NULL && n < 14; q++)
      want[n++] = q->name;
    if (rt->flags & API_VIEWS)
      want[n++] = "min_position";
    want[n] = NULL;
    expect_refused(rt->method, url, empty_body(rt), want);
  }
}

/* The mistakes users make: a field name for a parameter, a typo, as_of
 * where no past state can be answered. */
static void test_named_unknown_parameters(void **state) {
  (void)state;
  expect_refused("GET", "/v1/lots?product=P-100", NULL,
                 (const char *const[]){"'product'", "product_id", NULL});
  expect_refused("GET", "/v1/locations/WH%2FStock/lots?chidren=1", NULL,
                 (const char *const[]){"'chidren'", "children", NULL});
  expect_refused("GET", "/v1/lots/L-1?as_of=2027-01-01T00:00:00Z", NULL,
                 (const char *const[]){"'as_of'", NULL});
  expect_refused("GET", "/v1/lots/L-1/trace?as_of=3", NULL,
                 (const char *const[]){"'as_of'", "direction", "depth", NULL});
  /* A location answers as of a moment (as_of); "at" is not its name. */
  expect_refused("GET", "/v1/locations/WH/lots?at=3", NULL,
                 (const char *const[]){"'at'", "as_of", NULL});
  expect_refused("GET", "/v1/lots/L-1/moves?direction=upstream", NULL,
                 (const char *const[]){"'direction'", "limit", "cursor", NULL});
  expect_refused("GET", "/v1/rejections?cursor=5", NULL,
                 (const char *const[]){"'cursor'", "limit", NULL});
  expect_refused("POST", "/v1/moves?dry_run=1", "{}",
                 (const char *const[]){"'dry_run'", "none", NULL});
  /* refused even when it comes after accepted ones */
  expect_refused("GET", "/v1/lots?limit=5&cursor=A&sort=name", NULL,
                 (const char *const[]){"'sort'", NULL});
  /* an empty name is no parameter */
  resp r = request("GET", "/v1/lots?limit=5&", NULL);
  assert_int_equal(r.status, 200);
  resp_free(&r);
}

/* children widens a location to its subtree: without a location it would
 * be ignored, so it is refused; children=0 asks for nothing and passes
 * (`lotline expiring` sends it). */
static void test_children_needs_a_location(void **state) {
  (void)state;
  expect_refused("GET", "/v1/lots?children=1", NULL,
                 (const char *const[]){"children", "location", NULL});
  expect_refused("GET",
                 "/v1/lots?expiring_before=2027-01-01T00:00:00Z&children=1",
                 NULL, (const char *const[]){"children", "location", NULL});
  static const char *const fine[] = {
      "/v1/lots?expiring_before=2027-01-01T00:00:00Z&location=&children=0",
      "/v1/lots?location=WH&children=1",
      "/v1/lots?children=0",
  };
  for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
    resp r = request("GET", fine[i], NULL);
    if (r.status != 200)
      fail_msg("GET %s: want 200, got %ld %s", fine[i], r.status,
               r.body != NULL ? r.body : "");
    resp_free(&r);
  }
}

/* What a route declares is never "unknown". Empty values read as absent
 * (a flag as set), so each parameter alone gets through the check. */
static void test_declared_parameters_pass(void **state) {
  (void)state;
  for (size_t i = 0; i < api_routes_count; i++) {
    const api_route *rt = &api_routes[i];
    char path[256], url[512];
    concrete_path(rt, path, sizeof path);
    for (const api_param *q = rt->query; q->name != NULL; q++) {
      snprintf(url, sizeof url, "%s?%s=", path, q->name);
      resp r = request(rt->method, url, empty_body(rt));
      if (strstr(message_of(&r), "unknown query parameter") != NULL)
        fail_msg("%s %s: %s", rt->method, url, message_of(&r));
      resp_free(&r);
    }
  }
}

/* as_of is the one past-moment parameter, on the one route whose view can
 * replay history: there it answers (here: the lot does not exist). */
static void test_as_of_on_locations_answers(void **state) {
  (void)state;
  resp r =
      request("GET", "/v1/lots/L-1/locations?as_of=2027-01-01T00:00:00Z", NULL);
  assert_int_equal(r.status, 404);
  assert_string_equal(json_string_value(json_object_get(r.json, "code")),
                      "UNKNOWN_LOT");
  resp_free(&r);
  expect_refused("GET", "/v1/lots/L-1/locations?as_of=yesterday", NULL,
                 (const char *const[]){"as_of", NULL});
}

/* ---- body fields ---- */

static void test_each_write_refuses_an_unknown_field(void **state) {
  (void)state;
  expect_refused(
      "POST", "/v1/lots",
      "{\"lot_id\":\"L-9\",\"product_id\":\"P\",\"name\":\"9\","
      "\"expiry_date\":\"2027-01-01T00:00:00Z\"}",
      (const char *const[]){"'expiry_date'", "expiration_at", "lot_id", NULL});
  expect_refused("POST", "/v1/moves",
                 "{\"lot_id\":\"L-1\",\"quantity\":\"1\",\"ref\":\"PO-7\","
                 "\"from\":{\"id\":\"A\",\"usage\":\"SUPPLIER\"},"
                 "\"to\":{\"id\":\"B\",\"usage\":\"INTERNAL\"}}",
                 (const char *const[]){"'ref'", "reference", "lot_name", NULL});
  expect_refused(
      "POST", "/v1/moves",
      "{\"lot_id\":\"L-1\",\"quantity\":\"1\","
      "\"from\":{\"id\":\"A\",\"usage\":\"SUPPLIER\",\"site\":\"S1\"},"
      "\"to\":{\"id\":\"B\",\"usage\":\"INTERNAL\"}}",
      (const char *const[]){"'site'", "from", "id", "usage", NULL});
  /* tracking is set at creation only */
  expect_refused("PATCH", "/v1/lots/L-1", "{\"tracking\":\"SERIAL\"}",
                 (const char *const[]){"'tracking'", "expected_version", NULL});
  expect_refused(
      "POST", "/v1/admin/backup",
      "{\"dir\":\"/nonexistent\",\"compress\":true}",
      (const char *const[]){"'compress'", "dir", "views", "log", NULL});
}

/* Every write route's declared fields pass the check (null = absent). */
static void test_declared_fields_pass(void **state) {
  (void)state;
  for (size_t i = 0; i < api_routes_count; i++) {
    const api_route *rt = &api_routes[i];
    if (rt->body == NULL)
      continue;
    char path[256];
    concrete_path(rt, path, sizeof path);
    json_t *body = json_object();
    for (const api_param *f = rt->body; f->name != NULL; f++)
      json_object_set_new(body, f->name, json_null());
    char *text = json_dumps(body, JSON_COMPACT);
    resp r = request(rt->method, path, text);
    if (strstr(message_of(&r), "unknown field") != NULL)
      fail_msg("%s %s %s: %s", rt->method, path, text, message_of(&r));
    resp_free(&r);
    free(text);
    json_decref(body);
  }
}

/* ---- methods ---- */

/* For every path of the table: its own methods are routed (HEAD wherever
 * GET), any other is 405 with Allow listing exactly the table's. */
static void test_the_table_drives_405(void **state) {
  (void)state;
  static const char *const methods[] = {"GET", "POST", "PATCH", "PUT",
                                        "DELETE"};
  for (size_t i = 0; i < api_routes_count; i++) {
    const api_route *rt = &api_routes[i];
    char path[256], allow[LL_API_ALLOW_MAX];
    concrete_path(rt, path, sizeof path);
    api_route_allow(rt, allow, sizeof allow);
    for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
      bool listed = false;
      for (size_t k = 0; k < api_routes_count; k++)
        listed |= strcmp(api_routes[k].pattern, rt->pattern) == 0 &&
                  strcmp(api_routes[k].method, methods[m]) == 0;
      resp r = request(methods[m], path,
                       strcmp(methods[m], "GET") == 0 ? NULL : "{}");
      if (listed && r.status == 405)
        fail_msg("%s %s is in the table but answered 405", methods[m], path);
      if (!listed && (r.status != 405 || strcmp(r.allow, allow) != 0))
        fail_msg("%s %s: want 405 with Allow: %s, got %ld with Allow: %s",
                 methods[m], path, allow, r.status, r.allow);
      resp_free(&r);
    }
  }
  resp r = request("DELETE", "/v1/lots/X-1", NULL);
  assert_int_equal(r.status, 405);
  assert_string_equal(r.allow, "GET, HEAD, PATCH");
  resp_free(&r);
  r = request("HEAD", "/v1/rejections", NULL);
  assert_int_equal(r.status, 200);
  resp_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_the_table_is_consistent),
      cmocka_unit_test(test_every_route_refuses_an_unknown_parameter),
      cmocka_unit_test(test_named_unknown_parameters),
      cmocka_unit_test(test_children_needs_a_location),
      cmocka_unit_test(test_declared_parameters_pass),
      cmocka_unit_test(test_as_of_on_locations_answers),
      cmocka_unit_test(test_each_write_refuses_an_unknown_field),
      cmocka_unit_test(test_declared_fields_pass),
      cmocka_unit_test(test_the_table_drives_405),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
