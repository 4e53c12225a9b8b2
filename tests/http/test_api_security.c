/* test_api_security.c — bearer tokens, HTTPS, the ops-only listener and
 * readiness, as a client sees them.
 *
 * Tokens: with http.token.read and http.token.write set, reads need either
 * token, writes need the write token (the read token is 403), a missing or
 * wrong token is 401 with WWW-Authenticate: Bearer, and /healthz and
 * /readyz stay open for probes. HTTPS: a self-signed certificate made with
 * `openssl req` at test time; the client verifies it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
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

#include "ll_api.h"
#include "ll_codec.h"
#include "ll_store.h"
#include "ll_types.h"
#include "ll_views.h"
#include "prereq.h"
#include "support.h"

#define READ_TOKEN "read-token-0123456789"
#define WRITE_TOKEN "write-token-9876543210"

/* A log store, views and codec in a temp directory (tests/support); each
 * test starts the APIs it needs on them. */
static ts_api_fixture *F;

static int group_setup(void **state) {
  (void)state;
  F = calloc(1, sizeof *F);
  return F != NULL ? ts_fixture_open(F, "security", true) : -1;
}

static int group_teardown(void **state) {
  (void)state;
  ts_fixture_close(F);
  free(F);
  return 0;
}

static ll_api_deps base_deps(void) {
  return (ll_api_deps){.views = F->views,
                       .log = F->store,
                       .codec = F->codec,
                       .inbound_topic = "lots.inbound",
                       .write_timeout_ms = 1000};
}

static ll_api *start(const ll_api_deps *deps) {
  ll_err err = {0};
  ll_api *api = ll_api_start("127.0.0.1:0", deps, &err);
  if (api == NULL)
    fail_msg("ll_api_start: %s: %s", ll_err_kind_name(err.kind), err.message);
  return api;
}

/* ---- requests ---- */

typedef ts_resp resp;

typedef struct req {
  const char *method;
  const char *path;
  const char *body;
  const char *auth; /* full Authorization header, or NULL */
  const char *cainfo;
  bool https;
} req;

static resp send_req(const ll_api *api, req q, CURLcode *rc_out) {
  char url[512];
  snprintf(url, sizeof url, "%s://%s%s", q.https ? "https" : "http",
           ll_api_address(api), q.path);
  const char *headers[] = {q.auth, NULL};
  ts_request tq = {.method = q.method,
                   .url = url,
                   .body = q.body,
                   .headers = headers,
                   .cainfo = q.cainfo,
                   .timeout_ms = 10000L};
  return ts_send(&tq, rc_out);
}

static void resp_free(resp *r) {
  ts_resp_free(r);
}

static const char *code_of(const resp *r) {
  return json_string_value(json_object_get(r->json, "code"));
}

/* status (and JSON code when given) for one request. */
static void expect(const ll_api *api, req q, long status, const char *code) {
  resp r = send_req(api, q, NULL);
  if (r.status != status ||
      (code != NULL && (code_of(&r) == NULL || strcmp(code_of(&r), code))))
    fail_msg("%s %s (%s): want %ld %s, got %ld %s", q.method, q.path,
             q.auth != NULL ? q.auth : "no token", status,
             code != NULL ? code : "", r.status, r.body ? r.body : "");
  if (status == 401)
    assert_string_equal(r.www_authenticate, "Bearer realm=\"lotline\"");
  resp_free(&r);
}

#define AUTH(t) "Authorization: Bearer " t
#define BAD_BODY "{" /* past the token check, this is a 400 */

static void test_read_and_write_tokens(void **state) {
  (void)state;
  ll_api_deps deps = base_deps();
  deps.read_token = READ_TOKEN;
  deps.write_token = WRITE_TOKEN;
  ll_api *api = start(&deps);

  /* probes stay open */
  expect(api, (req){"GET", "/healthz"}, 200, NULL);
  expect(api, (req){"GET", "/readyz"}, 200, NULL);
  /* reads: either token */
  expect(api, (req){"GET", "/v1/lots"}, 401, "UNAUTHORIZED");
  expect(api, (req){"GET", "/v1/lots", NULL, AUTH("nope")}, 401,
         "UNAUTHORIZED");
  expect(api, (req){"GET", "/v1/lots", NULL, AUTH("read-token-012345678")}, 401,
         "UNAUTHORIZED"); /* a prefix is not the token */
  expect(api, (req){"GET", "/v1/lots", NULL, AUTH(READ_TOKEN "x")}, 401,
         "UNAUTHORIZED");
  expect(
      api,
      (req){"GET", "/v1/lots", NULL, "Authorization: Basic cmVhZDp0b2tlbg=="},
      401, "UNAUTHORIZED");
  expect(api, (req){"GET", "/v1/lots", NULL, AUTH(READ_TOKEN)}, 200, NULL);
  expect(api, (req){"GET", "/v1/lots", NULL, AUTH(WRITE_TOKEN)}, 200, NULL);
  expect(api,
         (req){"GET", "/v1/lots", NULL, "Authorization: bearer  " READ_TOKEN},
         200, NULL);
  expect(api, (req){"GET", "/v1/lots/nope", NULL, AUTH(READ_TOKEN)}, 404,
         "UNKNOWN_LOT");
  /* unknown routes do not tell more than the token check */
  expect(api, (req){"GET", "/no/such/route"}, 401, "UNAUTHORIZED");
  /* /metrics is a read */
  expect(api, (req){"GET", "/metrics"}, 401, "UNAUTHORIZED");
  expect(api, (req){"GET", "/metrics", NULL, AUTH(READ_TOKEN)}, 200, NULL);
  /* writes: the write token only */
  expect(api, (req){"POST", "/v1/lots", BAD_BODY}, 401, "UNAUTHORIZED");
  expect(api, (req){"POST", "/v1/lots", BAD_BODY, AUTH("nope")}, 401,
         "UNAUTHORIZED");
  expect(api, (req){"POST", "/v1/lots", BAD_BODY, AUTH(READ_TOKEN)}, 403,
         "FORBIDDEN");
  expect(api, (req){"PATCH", "/v1/lots/L-1", BAD_BODY, AUTH(READ_TOKEN)}, 403,
         "FORBIDDEN");
  expect(api, (req){"POST", "/v1/lots", BAD_BODY, AUTH(WRITE_TOKEN)}, 400,
         "BAD_REQUEST");
  expect(api, (req){"POST", "/v1/moves", BAD_BODY, AUTH(WRITE_TOKEN)}, 400,
         "BAD_REQUEST");
  ll_api_stop(api);
}

static void test_write_token_only(void **state) {
  (void)state;
  ll_api_deps deps = base_deps();
  deps.write_token = WRITE_TOKEN;
  ll_api *api = start(&deps);
  expect(api, (req){"GET", "/v1/lots"}, 200, NULL);
  expect(api, (req){"GET", "/metrics"}, 200, NULL);
  expect(api, (req){"POST", "/v1/lots", BAD_BODY}, 401, "UNAUTHORIZED");
  expect(api, (req){"POST", "/v1/lots", BAD_BODY, AUTH(WRITE_TOKEN)}, 400,
         "BAD_REQUEST");
  ll_api_stop(api);
}

static void test_no_tokens_means_open(void **state) {
  (void)state;
  ll_api_deps deps = base_deps();
  deps.read_token = ""; /* empty is unset */
  ll_api *api = start(&deps);
  expect(api, (req){"GET", "/v1/lots"}, 200, NULL);
  expect(api, (req){"POST", "/v1/lots", BAD_BODY}, 400, "BAD_REQUEST");
  ll_api_stop(api);
}

/* ---- HTTPS ---- */

static bool make_cert(const char *name, char *cert, char *key, size_t n) {
  snprintf(cert, n, "%s/%s.crt", F->root, name);
  snprintf(key, n, "%s/%s.key", F->root, name);
  char cmd[2000];
  snprintf(cmd, sizeof cmd,
           "openssl req -x509 -newkey rsa:2048 -nodes -days 2 "
           "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
           "-keyout '%s' -out '%s' >/dev/null 2>&1",
           key, cert);
  return system(cmd) == 0;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  char *buf = calloc(1, 65536);
  size_t n = fread(buf, 1, 65535, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static void test_https(void **state) {
  (void)state;
  char cert[600], key[600], cert_b[600], key_b[600];
  if (!make_cert("a", cert, key, sizeof cert) ||
      !make_cert("b", cert_b, key_b, sizeof cert_b))
    prereq_missing("the openssl command (deploy/install-deps.sh installs it)");
  char *cert_pem = slurp(cert), *key_pem = slurp(key);
  char *key_b_pem = slurp(key_b);
  ll_api_deps deps = base_deps();
  deps.tls_cert_pem = cert_pem;
  deps.tls_key_pem = key_pem;
  deps.write_token = WRITE_TOKEN;
  ll_api *api = start(&deps);
  assert_true(ll_api_tls(api));

  expect(api, (req){"GET", "/healthz", .cainfo = cert, .https = true}, 200,
         NULL);
  expect(api, (req){"GET", "/v1/lots", .cainfo = cert, .https = true}, 200,
         NULL);
  expect(api,
         (req){"POST", "/v1/lots", BAD_BODY, .cainfo = cert, .https = true},
         401, "UNAUTHORIZED");
  expect(api,
         (req){"POST", "/v1/lots", BAD_BODY, AUTH(WRITE_TOKEN), cert, true},
         400, "BAD_REQUEST");
  /* a client that does not trust the certificate gets no answer */
  CURLcode rc;
  resp r = send_req(api, (req){"GET", "/healthz", .https = true}, &rc);
  assert_int_not_equal(rc, CURLE_OK);
  resp_free(&r);
  /* plain HTTP to the HTTPS port is not served */
  r = send_req(api, (req){"GET", "/healthz"}, &rc);
  assert_true(rc != CURLE_OK || r.status != 200);
  resp_free(&r);
  ll_api_stop(api);

  /* a key that is not the certificate's: refused at start, naming it */
  deps.tls_key_pem = key_b_pem;
  ll_err err = {0};
  assert_null(ll_api_start("127.0.0.1:0", &deps, &err));
  assert_non_null(strstr(err.message, "http.tls.key"));
  assert_int_equal(ll_api_check_tls(cert_pem, key_b_pem, &err), -1);
  assert_int_equal(ll_api_check_tls(cert_pem, cert_pem, &err), -1);
  assert_non_null(strstr(err.message, "'http.tls.key'"));
  assert_int_equal(ll_api_check_tls(key_pem, key_pem, &err), -1);
  assert_non_null(strstr(err.message, "'http.tls.cert'"));
  assert_int_equal(ll_api_check_tls(cert_pem, key_pem, &err), 0);
  free(cert_pem);
  free(key_pem);
  free(key_b_pem);
}

/* ---- ops-only listener and readiness ---- */

static void test_ops_only_and_readiness(void **state) {
  (void)state;
  atomic_bool assigned;
  atomic_init(&assigned, false);
  ll_api_deps deps = {
      .log = F->store, .ops_only = true, .consumer_assigned = &assigned};
  ll_api *api = start(&deps);
  expect(api, (req){"GET", "/healthz"}, 200, NULL);
  expect(api, (req){"GET", "/metrics"}, 200, NULL);
  expect(api, (req){"GET", "/v1/lots"}, 404, "NOT_FOUND");
  expect(api, (req){"POST", "/v1/lots", "{}"}, 404, "NOT_FOUND");
  resp r = send_req(api, (req){"GET", "/readyz"}, NULL);
  assert_int_equal(r.status, 503);
  assert_string_equal(json_string_value(json_object_get(r.json, "consumer")),
                      "unassigned");
  assert_string_equal(code_of(&r), "UNAVAILABLE");
  resp_free(&r);
  atomic_store(&assigned, true);
  r = send_req(api, (req){"GET", "/readyz"}, NULL);
  assert_int_equal(r.status, 200);
  assert_string_equal(json_string_value(json_object_get(r.json, "status")),
                      "ready");
  assert_null(json_object_get(r.json, "position")); /* no views here */
  resp_free(&r);
  ll_api_stop(api);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_read_and_write_tokens),
      cmocka_unit_test(test_write_token_only),
      cmocka_unit_test(test_no_tokens_means_open),
      cmocka_unit_test(test_https),
      cmocka_unit_test(test_ops_only_and_readiness),
  };
  return prereq_exit(
      cmocka_run_group_tests(tests, group_setup, group_teardown));
}
