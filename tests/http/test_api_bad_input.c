/* test_api_bad_input.c — every kind of bad request gets a 4xx answer:
 * never a 5xx, never a dropped connection.
 *
 * The API runs on a real (empty) log store and views in a temporary
 * directory. Requests the API itself answers must come back as JSON
 * {"code","message"} with Content-Type application/json. A few requests
 * never reach the API: libmicrohttpd refuses them while reading the
 * request line and headers (headers over the connection's memory, a URI
 * too long, a header line without a colon, a bad chunk). For those the
 * test checks what can be promised with libmicrohttpd 0.9.75: a complete
 * HTTP answer with the right 4xx status and Connection: close (its body is
 * MHD's fixed HTML page), sent over raw sockets so that nothing in a
 * client library smooths it over. Two things only MHD decides: an
 * unknown HTTP version is 505, and bytes that are not a request line at
 * all get the connection closed at once. At the end the server is still up
 * and the API itself answered no 5xx. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "ll_api.h"
#include "ll_codec.h"
#include "ll_store.h"
#include "ll_types.h"
#include "ll_views.h"
#include "support.h"

#define BODY_LIMIT_BYTES (1024 * 1024)
/* The request line and headers share the connection's 16 KiB
 * (LL_API_CONNECTION_MEMORY_BYTES). */
#define HEADER_OVER_LIMIT_BYTES (17 * 1024)
#define HEADER_ROOM_BYTES (8 * 1024) /* fits, with the longest ids */
#define RAW_TIMEOUT_S 10
#define RAW_ANSWER_MAX (256 * 1024)

/* A log store, views and codec in a temp directory, the API on them
 * (tests/support), with a metrics registry of the test's own. */
static ts_api_fixture *F;
static ll_metrics *metrics;
static int api_port;

static int group_setup(void **state) {
  (void)state;
  F = calloc(1, sizeof *F);
  if (F == NULL || ts_fixture_open(F, "bad-input", true) != 0)
    return -1;
  metrics = ll_metrics_new();
  ll_api_deps deps = {.inbound_topic = "lots.inbound",
                      .write_timeout_ms = 1000,
                      .metrics = metrics};
  if (ts_fixture_start_api(F, deps) != 0)
    return -1;
  api_port = atoi(strrchr(ll_api_address(F->api), ':') + 1);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  ts_fixture_close(F); /* stops the API before its metrics go */
  ll_metrics_free(metrics);
  free(F);
  return 0;
}

/* ---- libcurl requests ---- */

typedef ts_resp resp;

/* path is sent exactly as given (no "../" squashing by libcurl). */
static resp request(const char *method, const char *path, const char *body,
                    size_t body_len, const char *header) {
  char url[4096];
  snprintf(url, sizeof url, "%s%s", F->base_url, path);
  const char *headers[] = {header, NULL};
  ts_request q = {.method = method,
                  .url = url,
                  .body = body,
                  .body_len = body_len,
                  .headers = headers,
                  .path_as_is = true};
  return ts_send(&q, NULL);
}

/* A bad request answered by the API: status, JSON code and message. */
static void expect(const char *method, const char *path, const char *body,
                   long status, const char *code) {
  resp r = request(method, path, body, body != NULL ? strlen(body) : 0, NULL);
  const char *got = json_string_value(json_object_get(r.json, "code"));
  const char *message = json_string_value(json_object_get(r.json, "message"));
  if (r.status != status || got == NULL || strcmp(got, code) != 0 ||
      message == NULL || message[0] == '\0')
    fail_msg("%s %s: want %ld %s, got %ld %s", method, path, status, code,
             r.status, r.body != NULL ? r.body : "(no body)");
  assert_string_equal(r.content_type, "application/json");
  ts_resp_free(&r);
}

/* ---- the cases ---- */

static void test_malformed_json_and_wrong_types(void **state) {
  (void)state;
  static const char *const bodies[] = {
      "{",
      "",
      "   ",
      "[1,2]",
      "\"a string\"",
      "null",
      "{\"lot_id\": 5}",
      "{\"name\": [\"x\"]}",
      "{\"name\": {\"nested\": true}}",
      "{\"tracking\": 1}",
      "{\"expiration_at\": 1803859200000}",
      "{\"lot_id\": \"a\", \"lot_id\": \"b\"}",
      "{\"lot_id\": \"L\"} trailing",
      "{\"lot_id\": 1e999}",
      "{'lot_id': 'single quotes'}",
  };
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
    expect("POST", "/v1/lots", bodies[i], 400, "BAD_REQUEST");
  expect("PATCH", "/v1/lots/L-1", "{\"expected_version\": \"1\"}", 400,
         "BAD_REQUEST");
  expect("PATCH", "/v1/lots/L-1", "{\"expected_version\": 1.5}", 400,
         "BAD_REQUEST");
  expect("POST", "/v1/moves",
         "{\"lot_id\": \"L-1\", \"quantity\": 1.5, "
         "\"from\": {\"id\": \"A\", \"usage\": \"INTERNAL\"}, "
         "\"to\": {\"id\": \"B\", \"usage\": \"INTERNAL\"}}",
         400, "BAD_REQUEST");
  expect("POST", "/v1/moves",
         "{\"lot_id\": \"L-1\", \"quantity\": \"1\", \"from\": \"A\", "
         "\"to\": {\"id\": \"B\", \"usage\": \"INTERNAL\"}}",
         400, "BAD_REQUEST");
}

static void test_deep_nesting(void **state) {
  (void)state;
  enum { DEPTH = 100000 };
  char *deep = malloc(2 * DEPTH + 1);
  memset(deep, '[', DEPTH);
  memset(deep + DEPTH, ']', DEPTH);
  deep[2 * DEPTH] = '\0';
  expect("POST", "/v1/lots", deep, 400, "BAD_REQUEST");
  free(deep);
}

static void test_invalid_utf8_in_json(void **state) {
  (void)state;
  static const char *const bodies[] = {
      "{\"lot_id\": \"\xff\"}",         /* not UTF-8 at all */
      "{\"lot_id\": \"\xc0\xaf\"}",     /* overlong '/' */
      "{\"lot_id\": \"\xed\xa0\x80\"}", /* encoded surrogate */
      "{\"lot_id\": \"\\ud800\"}",      /* lone surrogate escape */
      "{\"lot_id\": \"a\\u0000b\"}",    /* NUL inside */
      "{\"name\": \"\xe2\x82\"}",       /* cut sequence */
      "{\"\xff\": \"key not UTF-8\"}",  /* in a key */
  };
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
    expect("POST", "/v1/lots", bodies[i], 400, "BAD_REQUEST");
}

static void test_text_rules_are_422(void **state) {
  (void)state;
  /* Valid JSON, but a text the rules refuse: a control character, too
   * long. Answered before anything is published. */
  expect("POST", "/v1/lots",
         "{\"lot_id\":\"L-9\",\"product_id\":\"P\",\"name\":\"a\\u0001b\","
         "\"tracking\":\"LOT\"}",
         422, "INVALID_FIELD");
  char body[2000];
  char name[400];
  memset(name, 'n', 300);
  name[300] = '\0';
  snprintf(body, sizeof body,
           "{\"lot_id\":\"L-9\",\"product_id\":\"P\",\"name\":\"%s\","
           "\"tracking\":\"LOT\"}",
           name);
  expect("POST", "/v1/lots", body, 422, "INVALID_FIELD");
}

static void test_oversized_body(void **state) {
  (void)state;
  size_t n = BODY_LIMIT_BYTES + 1;
  char *big = malloc(n);
  memset(big, ' ', n);
  big[0] = '{';
  big[n - 1] = '}';
  /* libcurl sends "Expect: 100-continue": refused before the upload */
  resp r = request("POST", "/v1/lots", big, n, NULL);
  assert_int_equal(r.status, 400);
  assert_non_null(strstr(r.body, "1 MiB"));
  ts_resp_free(&r);
  /* without it, the body is read, dropped and answered */
  r = request("POST", "/v1/lots", big, n, "Expect:");
  assert_int_equal(r.status, 400);
  assert_string_equal(json_string_value(json_object_get(r.json, "code")),
                      "BAD_REQUEST");
  ts_resp_free(&r);
  free(big);
}

static void test_unknown_routes_and_methods(void **state) {
  (void)state;
  expect("GET", "/", NULL, 404, "NOT_FOUND");
  expect("GET", "/nope", NULL, 404, "NOT_FOUND");
  expect("GET", "/v1", NULL, 404, "NOT_FOUND");
  expect("GET", "/v2/lots", NULL, 404, "NOT_FOUND");
  expect("GET", "/v1/lots/a/b/c/d/e/f/g", NULL, 404, "NOT_FOUND");
  expect("GET", "/v1//lots", NULL, 404, "NOT_FOUND");
  expect("DELETE", "/v1/lots/L-1", NULL, 405, "METHOD_NOT_ALLOWED");
  expect("PUT", "/v1/moves", "{}", 405, "METHOD_NOT_ALLOWED");
  expect("BREW", "/v1/lots", NULL, 405, "METHOD_NOT_ALLOWED");
}

static void test_odd_path_segments(void **state) {
  (void)state;
  static const char *const bad[] = {
      "/v1/lots/%00",       "/v1/lots/a%00b", "/v1/lots/%zz",
      "/v1/lots/%4",        "/v1/lots/%FF",   "/v1/lots/%C0%AF",
      "/v1/lots/%ED%A0%80", "/v1/lots/a%0Ab", "/v1/lots/a%7Fb",
      "/v1/lots/%E2%82",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    expect("GET", bad[i], NULL, 400, "BAD_REQUEST");
  expect("PATCH", "/v1/lots/%FF", "{}", 400, "BAD_REQUEST");
  /* ".." is an id like any other: no such lot, nothing above */
  expect("GET", "/v1/lots/..", NULL, 404, "UNKNOWN_LOT");
  expect("GET", "/v1/lots/%2e%2e", NULL, 404, "UNKNOWN_LOT");
  expect("GET", "/v1/lots/../../etc/passwd", NULL, 404, "NOT_FOUND");
  expect("GET", "/v1/../healthz", NULL, 404, "NOT_FOUND");
  expect("GET", "/v1/lots/%2F..%2F..", NULL, 404, "UNKNOWN_LOT");
}

static void test_query_parameters(void **state) {
  (void)state;
  static const char *const bad[] = {
      "/v1/lots?limit=99999999999999999999999",
      "/v1/lots?limit=1001",
      "/v1/lots?limit=0",
      "/v1/lots?limit=-1",
      "/v1/lots?limit=1e3",
      "/v1/lots?limit=%31%30%30%31", /* 1001 */
      "/v1/rejections?limit=abc",
      "/v1/lots/L-1?min_position=-1",
      "/v1/lots/L-1?min_position=1e3",
      "/v1/lots/L-1?min_position=99999999999999999999999",
      "/v1/lots/L-1/locations?all=maybe",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    expect("GET", bad[i], NULL, 400, "BAD_REQUEST");
  char many[4096] = "/v1/lots?";
  for (int i = 0; i < 300; i++)
    snprintf(many + strlen(many), sizeof many - strlen(many), "p%d=1&", i);
  expect("GET", many, NULL, 400, "BAD_REQUEST");
}

static void test_bad_headers_the_api_sees(void **state) {
  (void)state;
  char header[600];
  memset(header, 0, sizeof header);
  strcpy(header, "Idempotency-Key: ");
  memset(header + strlen(header), 'k', 400);
  static const char body[] =
      "{\"lot_id\":\"L-9\",\"product_id\":\"P\",\"name\":\"N\"}";
  resp r = request("POST", "/v1/lots", body, strlen(body), header);
  assert_int_equal(r.status, 400);
  assert_string_equal(r.content_type, "application/json");
  ts_resp_free(&r);
}

/* ---- raw sockets ---- */

typedef struct raw_answer {
  int status;  /* 0: none */
  bool closed; /* the server closed the connection after answering */
  char head[2048];
} raw_answer;

/* Send raw bytes, read until the server closes (or the timeout). */
static raw_answer raw_request(const char *data, size_t len) {
  raw_answer a = {0};
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)api_port)};
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  struct timeval tv = {RAW_TIMEOUT_S, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  size_t sent = 0;
  while (sent < len) {
    ssize_t n = send(fd, data + sent, len - sent, MSG_NOSIGNAL);
    if (n <= 0)
      break; /* the server may answer and close before reading it all */
    sent += (size_t)n;
  }
  char *buf = malloc(RAW_ANSWER_MAX);
  size_t got = 0;
  for (;;) {
    ssize_t n = recv(fd, buf + got, RAW_ANSWER_MAX - 1 - got, 0);
    if (n == 0) {
      a.closed = true;
      break;
    }
    if (n < 0)
      break;
    got += (size_t)n;
  }
  buf[got] = '\0';
  close(fd);
  if (got > 0)
    sscanf(buf, "HTTP/1.%*d %d", &a.status);
  snprintf(a.head, sizeof a.head, "%s", buf);
  free(buf);
  return a;
}

static void expect_raw(const char *label, const char *data, size_t len,
                       int status) {
  raw_answer a = raw_request(data, len);
  if (a.status != status || !a.closed)
    fail_msg("%s: want %d and a closed connection, got %d%s: %.300s", label,
             status, a.status, a.closed ? "" : " (not closed)", a.head);
}

static char *repeat_into(const char *prefix, char fill, size_t n,
                         const char *suffix, size_t *len) {
  size_t pl = strlen(prefix), sl = strlen(suffix);
  char *s = malloc(pl + n + sl + 1);
  memcpy(s, prefix, pl);
  memset(s + pl, fill, n);
  memcpy(s + pl + n, suffix, sl + 1);
  *len = pl + n + sl;
  return s;
}

static void test_what_libmicrohttpd_answers(void **state) {
  (void)state;
  size_t len;
  char *s = repeat_into("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ", 'a',
                        HEADER_OVER_LIMIT_BYTES, "\r\n\r\n", &len);
  expect_raw("oversized header", s, len, 431);
  free(s);

  /* many small headers: the same limit */
  size_t cap = 200000;
  s = malloc(cap);
  len = (size_t)snprintf(s, cap, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
  for (int i = 0; i < 2000; i++)
    len += (size_t)snprintf(s + len, cap - len, "X-H%d: %060d\r\n", i, 0);
  len += (size_t)snprintf(s + len, cap - len, "\r\n");
  expect_raw("2000 headers", s, len, 431);
  free(s);

  s = repeat_into("GET /", 'a', HEADER_OVER_LIMIT_BYTES,
                  " HTTP/1.1\r\nHost: x\r\n\r\n", &len);
  expect_raw("oversized URI", s, len, 414);
  free(s);

  const char *no_colon =
      "GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n";
  expect_raw("header line without a colon", no_colon, strlen(no_colon), 400);
  const char *bad_chunk = "POST /v1/lots HTTP/1.1\r\nHost: x\r\n"
                          "Transfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n"
                          "0\r\n\r\n";
  expect_raw("bad chunked encoding", bad_chunk, strlen(bad_chunk), 400);
  const char *bad_length = "POST /v1/lots HTTP/1.1\r\nHost: x\r\n"
                           "Content-Length: lots\r\n\r\n{}";
  expect_raw("bad Content-Length", bad_length, strlen(bad_length), 400);
  const char *http09 = "GET /healthz\r\n\r\n";
  expect_raw("no HTTP version", http09, strlen(http09), 400);

  /* What libmicrohttpd does and this API cannot change: an HTTP version it
   * does not speak is 505, and a request line that is not HTTP at all
   * (no URI) closes the connection at once, with nothing to answer to. */
  const char *http99 = "GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n";
  expect_raw("HTTP/9.9", http99, strlen(http99), 505);
  const char *garbage = "GARBAGE\r\n\r\n";
  expect_raw("not HTTP", garbage, strlen(garbage), 0);

  /* Answered by the API itself, as JSON, over the same raw path. */
  const char *raw_bytes = "GET /v1/lots/\xff\xfe HTTP/1.1\r\nHost: x\r\n"
                          "Connection: close\r\n\r\n";
  expect_raw("raw bytes in the path", raw_bytes, strlen(raw_bytes), 400);
  cap = 40000;
  s = malloc(cap);
  len = (size_t)snprintf(s, cap, "GET /v1/lots?");
  for (int i = 0; i < 500; i++) /* 3.4 KB: within the connection's memory */
    len += (size_t)snprintf(s + len, cap - len, "a%d=1&", i);
  len += (size_t)snprintf(s + len, cap - len,
                          " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  raw_answer a = raw_request(s, len);
  free(s);
  assert_int_equal(a.status, 400); /* not a hang until the idle timeout */
  assert_non_null(strstr(a.head, "application/json"));
}

/* The longest ids a path names (255 characters of four UTF-8 bytes each,
 * percent-encoded: 3,060 bytes apiece) fit in the connection's memory
 * together with an 8 KiB header: the API answers (404 UNKNOWN_LOT, JSON),
 * libmicrohttpd does not refuse it (414, 431). */
static void test_longest_ids_fit(void **state) {
  (void)state;
  char id[LL_TEXT_MAX_CHARS * 12 + 1];
  for (int i = 0; i < LL_TEXT_MAX_CHARS; i++)
    memcpy(id + i * 12, "%F0%9F%93%A6", 12); /* U+1F4E6 */
  id[LL_TEXT_MAX_CHARS * 12] = '\0';
  size_t cap = 4 * sizeof id + HEADER_ROOM_BYTES + 256;
  char *s = malloc(cap);
  int len = snprintf(s, cap,
                     "GET /v1/products/%s/lots/%s/locations HTTP/1.1\r\n"
                     "Host: x\r\nConnection: close\r\nX-Room: ",
                     id, id);
  memset(s + len, 'a', HEADER_ROOM_BYTES);
  len += HEADER_ROOM_BYTES;
  len += snprintf(s + len, cap - (size_t)len, "\r\n\r\n");
  raw_answer a = raw_request(s, (size_t)len);
  free(s);
  if (a.status != 404 || strstr(a.head, "UNKNOWN_LOT") == NULL)
    fail_msg("longest ids: want 404 UNKNOWN_LOT, got %d: %.300s", a.status,
             a.head);
}

/* Last: after all of the above, the server answers, and nothing it
 * answered itself was a 5xx. */
static void test_still_up_and_no_5xx(void **state) {
  (void)state;
  resp r = request("GET", "/healthz", NULL, 0, NULL);
  assert_int_equal(r.status, 200);
  ts_resp_free(&r);
  r = request("GET", "/metrics", NULL, 0, NULL);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.body, "status=\"400\""));
  assert_non_null(strstr(r.body, "status=\"404\""));
  if (strstr(r.body, "status=\"5") != NULL)
    fail_msg("a 5xx was answered:\n%s", r.body);
  ts_resp_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_malformed_json_and_wrong_types),
      cmocka_unit_test(test_deep_nesting),
      cmocka_unit_test(test_invalid_utf8_in_json),
      cmocka_unit_test(test_text_rules_are_422),
      cmocka_unit_test(test_oversized_body),
      cmocka_unit_test(test_unknown_routes_and_methods),
      cmocka_unit_test(test_odd_path_segments),
      cmocka_unit_test(test_query_parameters),
      cmocka_unit_test(test_bad_headers_the_api_sees),
      cmocka_unit_test(test_what_libmicrohttpd_answers),
      cmocka_unit_test(test_longest_ids_fit),
      cmocka_unit_test(test_still_up_and_no_5xx),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
