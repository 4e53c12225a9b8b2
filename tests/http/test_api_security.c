/* test_api_security.c — bearer tokens, HTTPS, the ops-only listener and
 * readiness, as a client sees them.
 *
 * Tokens: with http.token.read and http.token.write set, reads need either
 * token, writes need the write token (the read token is 403), a missing or
 * wrong token is 401 with WWW-Authenticate: Bearer, and /healthz and
 * /readyz stay open for probes. HTTPS: a self-signed certificate made with
 * `openssl req` at test time; the client verifies it. */
#include <ftw.h>
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

#define READ_TOKEN "read-token-0123456789"
#define WRITE_TOKEN "write-token-9876543210"

typedef struct fixture {
  char root[512];
  ll_store *store;
  ll_views *views;
  ll_codec *codec;
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
  snprintf(F->root, sizeof F->root, "%s/ll-security-XXXXXX", tmp);
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
  curl_global_init(CURL_GLOBAL_DEFAULT);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  ll_views_close(F->views);
  ll_store_close(F->store);
  ll_codec_close(F->codec);
  nftw(F->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  curl_global_cleanup();
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
    fail_msg("ll_api_start: %s", err.message);
  return api;
}

/* ---- requests ---- */

typedef struct resp {
  long status;
  char *body;
  size_t len;
  char www_authenticate[256];
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
  static const char name[] = "WWW-Authenticate:";
  if (len > sizeof name && strncasecmp(p, name, sizeof name - 1) == 0) {
    size_t v = sizeof name - 1;
    while (v < len && p[v] == ' ')
      v++;
    size_t end = len;
    while (end > v && (p[end - 1] == '\r' || p[end - 1] == '\n'))
      end--;
    snprintf(r->www_authenticate, sizeof r->www_authenticate, "%.*s",
             (int)(end - v), p + v);
  }
  return len;
}

typedef struct req {
  const char *method;
  const char *path;
  const char *body;
  const char *auth; /* full Authorization header, or NULL */
  const char *cainfo;
  bool https;
} req;

static resp send_req(const ll_api *api, req q, CURLcode *rc_out) {
  resp r = {0};
  char url[512];
  snprintf(url, sizeof url, "%s://%s%s", q.https ? "https" : "http",
           ll_api_address(api), q.path);
  CURL *c = curl_easy_init();
  struct curl_slist *h = NULL;
  if (q.auth != NULL)
    h = curl_slist_append(h, q.auth);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (q.cainfo != NULL)
    curl_easy_setopt(c, CURLOPT_CAINFO, q.cainfo);
  if (strcmp(q.method, "GET") != 0)
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q.method);
  if (q.body != NULL)
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, q.body);
  CURLcode rc = curl_easy_perform(c);
  if (rc_out != NULL)
    *rc_out = rc;
  else if (rc != CURLE_OK)
    fail_msg("%s %s: %s", q.method, q.path, curl_easy_strerror(rc));
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  if (r.body != NULL)
    r.json = json_loadb(r.body, r.len, 0, NULL);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  return r;
}

static void resp_free(resp *r) {
  free(r->body);
  json_decref(r->json);
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
