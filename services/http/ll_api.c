/* ll_api.c — the HTTP API daemon: listening, the request life cycle,
 * routing and the read routes (contract section 5).
 *
 * libmicrohttpd runs a pool of LL_API_THREADS worker threads, each with its
 * own epoll loop. A handler runs to completion on its worker; the write
 * routes block it while they wait for the outcome (<= 5 s, api_write.c),
 * which is why the pool is not sized to the cores.
 *
 * Request life cycle: MHD's URI callback creates the api_request with the
 * URI exactly as sent; the access handler collects the body (at most
 * LL_API_BODY_MAX_BYTES: a larger one is read and dropped, then answered
 * 400, so the client always gets an answer rather than a reset connection);
 * once the body is complete, route() fills an api_reply and it is queued;
 * the completion callback logs the request at debug level and frees it.
 *
 * Paths are routed on the raw URI, split on '/' and then percent-decoded
 * segment by segment, so a lot id containing '/' works when the client
 * sends it as %2F (GET /v1/lots/LOT%2F0001). Query parameters are decoded
 * by MHD ('+' is a space there).
 *
 * Routes:
 *   GET  /healthz                     {"status":"ok"}
 *   GET  /readyz                      200 {"status":"ready",...} when the
 *                                     views are within ready_lag_max
 *                                     positions of the log and the command
 *                                     consumer of this process (if any)
 *                                     holds partitions, else 503
 *   GET  /metrics                     Prometheus text format (api_ops.c)
 *   POST /v1/lots                     LotCreated (api_write.c)
 *   GET  /v1/lots                     ?product_id=&name=&q=&limit=&cursor=
 *                                     (with expiring_before= or location=:
 *                                     FEFO order, api_trace.c)
 *   GET  /v1/lots/{lot_id}            the lot
 *   PATCH /v1/lots/{lot_id}           LotUpdated (api_write.c)
 *   GET  /v1/lots/{lot_id}/locations  ?all=1 adds virtual locations,
 *                                     ?as_of= a past moment (api_trace.c)
 *   GET  /v1/lots/{lot_id}/moves      history (api_trace.c)
 *   GET  /v1/lots/{lot_id}/trace      genealogy (api_trace.c)
 *   GET  /v1/locations/{id}/lots      contents, ?children=1 (api_trace.c)
 *   POST /v1/moves                    StockMoved (api_write.c)
 *   GET  /v1/rejections               ?limit=
 *   POST /v1/admin/backup             online backup, loopback only
 *                                     (api_admin.c)
 * An ops-only API (deps.ops_only: `lotlined command`, metrics.listen)
 * serves the first three and answers 404 to the rest. Bearer tokens, when
 * configured, are checked before routing (api_ops.c): 401/403.
 * Reads take ?min_position=N: wait up to 5 s for the views to apply log
 * position N, else 503. HEAD works wherever GET does.
 *
 * Read status mapping: 200; 400 BAD_REQUEST for a bad query parameter or
 * a bad percent-escape in the path; 404 UNKNOWN_LOT for a lot that does
 * not exist, 404 NOT_FOUND for any other path; 405 METHOD_NOT_ALLOWED
 * (with an Allow header); 503 UNAVAILABLE for a storage error or an
 * unreached min_position. Every answer is JSON {"code","message"} on error
 * and carries Content-Type: application/json (except /metrics). */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api_internal.h"
#include "ll_event.h"
#include "ll_logging.h"
#include "ll_mem.h"
#include "ll_text.h"
#include "ll_time.h"
#include "ll_views.h"

#define JSON_CONTENT_TYPE "application/json"
#define LISTEN_BACKLOG 128
#define NS_PER_MS 1000000ULL

/* ---- replies ---- */

void api_reply_init(api_reply *r) {
  memset(r, 0, sizeof *r);
}

void api_reply_free(api_reply *r) {
  free(r->body);
  r->body = NULL;
  r->body_len = 0;
}

void api_reply_json(api_reply *r, unsigned int status, json_t *body) {
  assert(body != NULL);
  api_reply_free(r);
  char *text = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  if (text == NULL) /* jansson only fails on out-of-memory */
    abort();
  r->status = status;
  r->body = text;
  r->body_len = strlen(text);
  r->content_type = NULL;
}

void api_reply_error(api_reply *r, unsigned int status, const char *code,
                     const char *fmt, ...) {
  char message[2 * LL_MESSAGE_MAX_BYTES];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  json_t *body = json_object();
  json_object_set_new(body, "code", json_string(code));
  json_object_set_new(body, "message", api_json_text(message));
  api_reply_json(r, status, body);
}

/* ---- waiting ---- */

bool api_poll_pause(ll_api *api) {
  if (atomic_load(&api->stopping))
    return false;
  struct timespec ts = {.tv_sec = 0,
                        .tv_nsec = LL_API_POLL_INTERVAL_MS * 1000000L};
  nanosleep(&ts, NULL);
  return !atomic_load(&api->stopping);
}

bool api_wait_views(ll_api *api, uint64_t position, uint64_t deadline_ns) {
  for (;;) {
    if (ll_views_position(api->deps.views) >= position)
      return true;
    if (ll_mono_ns() >= deadline_ns || !api_poll_pause(api))
      return false;
  }
}

/* ---- query parameters ---- */

/* A query parameter, NULL when absent or empty. */
static const char *query(const api_request *rq, const char *key) {
  const char *v =
      MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, key);
  return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Decimal digits only, no sign, no overflow. */
static bool parse_u64(const char *s, uint64_t *out) {
  if (s == NULL || *s == '\0')
    return false;
  uint64_t v = 0;
  for (; *s != '\0'; s++) {
    if (*s < '0' || *s > '9')
      return false;
    uint64_t d = (uint64_t)(*s - '0');
    if (v > (UINT64_MAX - d) / 10)
      return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

/* ?limit=: default LL_LIST_LIMIT_DEFAULT, 1..LL_LIST_LIMIT_MAX. */
static int query_limit(const api_request *rq, size_t *limit, api_reply *r) {
  const char *s = query(rq, "limit");
  uint64_t v = LL_LIST_LIMIT_DEFAULT;
  if (s != NULL && (!parse_u64(s, &v) || v < 1 || v > LL_LIST_LIMIT_MAX)) {
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "limit must be an integer from 1 to %d", LL_LIST_LIMIT_MAX);
    return -1;
  }
  *limit = (size_t)v;
  return 0;
}

/* A boolean flag: absent, 0, false -> false; present without a value, 1,
 * true -> true. */
static int query_flag(const api_request *rq, const char *key, bool *out,
                      api_reply *r) {
  const char *v = NULL;
  *out = false;
  if (MHD_lookup_connection_value_n(rq->conn, MHD_GET_ARGUMENT_KIND, key,
                                    strlen(key), &v, NULL) != MHD_YES)
    return 0;
  if (v == NULL || v[0] == '\0' || strcmp(v, "1") == 0 ||
      strcasecmp(v, "true") == 0) {
    *out = true;
    return 0;
  }
  if (strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0)
    return 0;
  api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST", "%s must be 1 or 0",
                  key);
  return -1;
}

/* ?min_position=N: read-your-writes for clients that know a position. */
static int await_min_position(api_request *rq, api_reply *r) {
  const char *s = query(rq, "min_position");
  if (s == NULL)
    return 0;
  uint64_t position;
  if (!parse_u64(s, &position)) {
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "min_position must be a non-negative integer");
    return -1;
  }
  uint64_t deadline_ns =
      ll_mono_ns() + (uint64_t)LL_API_MIN_POSITION_WAIT_MS * NS_PER_MS;
  if (api_wait_views(rq->api, position, deadline_ns))
    return 0;
  api_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                  "the views did not reach position %" PRIu64
                  " within %d ms (at %" PRIu64 ")",
                  position, LL_API_MIN_POSITION_WAIT_MS,
                  ll_views_position(rq->api->deps.views));
  return -1;
}

static void reply_storage_error(api_reply *r, const ll_err *err) {
  api_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                  "storage error: %s", err->message);
}

static void reply_unknown_lot(api_reply *r, const char *lot_id) {
  api_reply_error(r, MHD_HTTP_NOT_FOUND, ll_code_name(LL_UNKNOWN_LOT),
                  "lot %s does not exist", lot_id);
}

/* The helpers above, for the other read routes (api_trace.c). */
const char *api_query(const api_request *rq, const char *key) {
  return query(rq, key);
}

bool api_parse_u64(const char *s, uint64_t *out) {
  return parse_u64(s, out);
}

int api_query_limit(const api_request *rq, size_t *limit, api_reply *r) {
  return query_limit(rq, limit, r);
}

int api_query_flag(const api_request *rq, const char *key, bool *out,
                   api_reply *r) {
  return query_flag(rq, key, out, r);
}

void api_reply_storage_error(api_reply *r, const ll_err *err) {
  reply_storage_error(r, err);
}

void api_reply_unknown_lot(api_reply *r, const char *lot_id) {
  reply_unknown_lot(r, lot_id);
}

/* ---- read routes ---- */

static void get_healthz(api_reply *r) {
  json_t *body = json_object();
  json_object_set_new(body, "status", json_string("ok"));
  api_reply_json(r, MHD_HTTP_OK, body);
}

/* Ready: the views trail the log by at most ready_lag_max positions (when
 * this process has views), and the command consumer of this process (when
 * there is one) holds partitions. */
static void get_readyz(api_request *rq, api_reply *r) {
  const ll_api_deps *deps = &rq->api->deps;
  uint64_t lag_max =
      deps->ready_lag_max > 0 ? deps->ready_lag_max : LL_API_READY_LAG_MAX;
  uint64_t log_pos = ll_store_last_position(deps->log);
  uint64_t views_pos = deps->views != NULL ? ll_views_position(deps->views) : 0;
  bool caught_up = deps->views == NULL || log_pos <= views_pos ||
                   log_pos - views_pos <= lag_max;
  bool assigned =
      deps->consumer_assigned == NULL || atomic_load(deps->consumer_assigned);
  bool ready = caught_up && assigned;
  json_t *body = json_object();
  json_object_set_new(body, "status",
                      json_string(ready ? "ready" : "catching_up"));
  if (deps->views != NULL)
    json_object_set_new(body, "position", json_integer((json_int_t)views_pos));
  json_object_set_new(body, "log_position", json_integer((json_int_t)log_pos));
  if (deps->consumer_assigned != NULL)
    json_object_set_new(body, "consumer",
                        json_string(assigned ? "assigned" : "unassigned"));
  if (!ready) {
    char message[200];
    if (!caught_up)
      snprintf(message, sizeof message,
               "the views are %" PRIu64 " positions behind the log (ready "
               "within %" PRIu64 ")",
               log_pos - views_pos, lag_max);
    else
      snprintf(message, sizeof message,
               "the command consumer holds no partitions of the input topic "
               "(yet)");
    json_object_set_new(body, "code", json_string("UNAVAILABLE"));
    json_object_set_new(body, "message", json_string(message));
  }
  api_reply_json(r, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, body);
}

static void get_metrics(api_request *rq, api_reply *r) {
  api_get_metrics(rq, r);
}

static void get_lot(api_request *rq, const char *lot_id, api_reply *r) {
  ll_lot lot;
  ll_lot_init(&lot);
  bool found = false;
  ll_err err = {0};
  if (ll_views_get_lot(rq->api->deps.views, lot_id, &lot, &found, &err) != 0)
    reply_storage_error(r, &err);
  else if (!found)
    reply_unknown_lot(r, lot_id);
  else
    api_reply_json(r, MHD_HTTP_OK, api_json_lot(&lot));
  ll_lot_free(&lot);
}

static void get_lots(api_request *rq, api_reply *r) {
  ll_lot_filter f = {
      .product_id = query(rq, "product_id"),
      .name = query(rq, "name"),
      .q = query(rq, "q"),
      .cursor = query(rq, "cursor"),
  };
  if (query_limit(rq, &f.limit, r) != 0)
    return;
  ll_lot *lots = NULL;
  size_t n = 0;
  char *next = NULL;
  ll_err err = {0};
  if (ll_views_list_lots(rq->api->deps.views, &f, &lots, &n, &next, &err) !=
      0) {
    reply_storage_error(r, &err);
    return;
  }
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(arr, api_json_lot(&lots[i]));
  json_t *body = json_object();
  json_object_set_new(body, "lots", arr);
  json_object_set_new(body, "next_cursor", api_json_text(next));
  api_reply_json(r, MHD_HTTP_OK, body);
  ll_lots_free(lots, n);
  free(next);
}

static void get_rejections(api_request *rq, api_reply *r) {
  size_t limit;
  if (query_limit(rq, &limit, r) != 0)
    return;
  ll_stored_rejection *rejs = ll_xcalloc(limit, sizeof *rejs);
  size_t n = 0;
  ll_err err = {0};
  if (ll_store_recent_rejections(rq->api->deps.log, limit, rejs, &n, &err) !=
      0) {
    reply_storage_error(r, &err);
  } else {
    assert(n <= limit);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
      json_array_append_new(arr, api_json_rejection(&rejs[i]));
    json_t *body = json_object();
    json_object_set_new(body, "rejections", arr);
    api_reply_json(r, MHD_HTTP_OK, body);
  }
  for (size_t i = 0; i < n; i++)
    ll_stored_rejection_free(&rejs[i]);
  free(rejs);
}

/* ---- routing ---- */

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Percent-decode one path segment; NULL on a bad escape, or when the
 * result is not UTF-8 text without control characters (%00, %FF, %0A):
 * no lot or location id can be such. */
static char *decode_segment(const char *p, size_t n) {
  char *out = ll_xmalloc(n + 1);
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] != '%') {
      out[len++] = p[i];
      continue;
    }
    int hi = i + 2 < n ? hex_value(p[i + 1]) : -1;
    int lo = i + 2 < n ? hex_value(p[i + 2]) : -1;
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
      free(out);
      return NULL;
    }
    out[len++] = (char)(hi * 16 + lo);
    i += 2;
  }
  out[len] = '\0';
  if (ll_text_check(out, 0, 0, false) != LL_TEXT_OK) {
    free(out);
    return NULL;
  }
  return out;
}

typedef struct api_path {
  char *seg[LL_API_SEGMENTS_MAX];
  size_t n;
  bool too_long;
} api_path;

static void path_free(api_path *p) {
  for (size_t i = 0; i < p->n; i++)
    free(p->seg[i]);
  p->n = 0;
}

/* Split "/a/b%2Fc?x=1" into ["a", "b/c"]. A trailing '/' is ignored. */
static int path_split(const char *raw_uri, api_path *p) {
  memset(p, 0, sizeof *p);
  size_t end = strcspn(raw_uri, "?#");
  if (end == 0 || raw_uri[0] != '/')
    return -1;
  size_t i = 1;
  while (i < end) {
    size_t j = i;
    while (j < end && raw_uri[j] != '/')
      j++;
    if (j == i && j == end)
      break; /* trailing '/' */
    if (p->n == LL_API_SEGMENTS_MAX) {
      p->too_long = true;
      return 0;
    }
    char *seg = decode_segment(raw_uri + i, j - i);
    if (seg == NULL) {
      path_free(p);
      return -1;
    }
    p->seg[p->n++] = seg;
    i = j + 1;
  }
  return 0;
}

static bool path_is(const api_path *p, size_t n, ...) {
  if (p->too_long || p->n != n)
    return false;
  va_list ap;
  va_start(ap, n);
  bool match = true;
  for (size_t i = 0; i < n && match; i++) {
    const char *want = va_arg(ap, const char *);
    if (want != NULL && strcmp(p->seg[i], want) != 0)
      match = false;
  }
  va_end(ap);
  return match;
}

static bool method_is(const api_request *rq, const char *m) {
  return strcmp(rq->method, m) == 0;
}

static bool is_read(const api_request *rq) {
  return method_is(rq, MHD_HTTP_METHOD_GET) ||
         method_is(rq, MHD_HTTP_METHOD_HEAD);
}

static void method_not_allowed(api_request *rq, api_reply *r,
                               const char *allow) {
  api_reply_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED",
                  "%s is not allowed here (allowed: %s)", rq->method, allow);
  r->allow = allow;
}

/* Reads wait for ?min_position= first. */
static bool read_ready(api_request *rq, api_reply *r) {
  return await_min_position(rq, r) == 0;
}

static void route(api_request *rq, api_reply *r) {
  api_path p;
  if (rq->api->deps.ops_only && !api_ops_path(rq->raw_uri)) {
    api_reply_error(r, MHD_HTTP_NOT_FOUND, "NOT_FOUND",
                    "this address serves /healthz, /readyz and /metrics "
                    "only");
    return;
  }
  if (path_split(rq->raw_uri, &p) != 0) {
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "the path has a bad percent-escape, or a segment that "
                    "is not UTF-8 text without control characters");
    return;
  }
  rq->routed = true; /* unless the last branch below says otherwise */
  static const char read_only[] = "GET, HEAD";
  if (path_is(&p, 1, "healthz")) {
    if (is_read(rq))
      get_healthz(r);
    else
      method_not_allowed(rq, r, read_only);
  } else if (path_is(&p, 1, "readyz")) {
    if (is_read(rq))
      get_readyz(rq, r);
    else
      method_not_allowed(rq, r, read_only);
  } else if (path_is(&p, 1, "metrics")) {
    if (is_read(rq))
      get_metrics(rq, r);
    else
      method_not_allowed(rq, r, read_only);
  } else if (path_is(&p, 2, "v1", "lots")) {
    if (is_read(rq)) {
      if (read_ready(rq, r)) {
        if (api_wants_fefo(rq))
          api_get_lots_fefo(rq, r);
        else
          get_lots(rq, r);
      }
    } else if (method_is(rq, MHD_HTTP_METHOD_POST)) {
      api_write(rq, LL_EV_LOT_CREATED, NULL, r);
    } else {
      method_not_allowed(rq, r, "GET, HEAD, POST");
    }
  } else if (path_is(&p, 3, "v1", "lots", NULL)) {
    if (is_read(rq)) {
      if (read_ready(rq, r))
        get_lot(rq, p.seg[2], r);
    } else if (method_is(rq, MHD_HTTP_METHOD_PATCH)) {
      api_write(rq, LL_EV_LOT_UPDATED, p.seg[2], r);
    } else {
      method_not_allowed(rq, r, "GET, HEAD, PATCH");
    }
  } else if (path_is(&p, 4, "v1", "lots", NULL, "locations")) {
    if (!is_read(rq))
      method_not_allowed(rq, r, read_only);
    else if (read_ready(rq, r))
      api_get_lot_locations(rq, p.seg[2], r);
  } else if (path_is(&p, 4, "v1", "lots", NULL, "moves")) {
    if (!is_read(rq))
      method_not_allowed(rq, r, read_only);
    else if (read_ready(rq, r))
      api_get_lot_moves(rq, p.seg[2], r);
  } else if (path_is(&p, 4, "v1", "lots", NULL, "trace")) {
    if (!is_read(rq))
      method_not_allowed(rq, r, read_only);
    else if (read_ready(rq, r))
      api_get_lot_trace(rq, p.seg[2], r);
  } else if (path_is(&p, 4, "v1", "locations", NULL, "lots")) {
    if (!is_read(rq))
      method_not_allowed(rq, r, read_only);
    else if (read_ready(rq, r))
      api_get_location_lots(rq, p.seg[2], r);
  } else if (path_is(&p, 2, "v1", "moves")) {
    if (method_is(rq, MHD_HTTP_METHOD_POST))
      api_write(rq, LL_EV_STOCK_MOVED, NULL, r);
    else
      method_not_allowed(rq, r, "POST");
  } else if (path_is(&p, 3, "v1", "admin", "backup")) {
    if (method_is(rq, MHD_HTTP_METHOD_POST))
      api_admin_backup(rq, r);
    else
      method_not_allowed(rq, r, "POST");
  } else if (path_is(&p, 2, "v1", "rejections")) {
    if (!is_read(rq))
      method_not_allowed(rq, r, read_only);
    else if (read_ready(rq, r))
      get_rejections(rq, r);
  } else {
    rq->routed = false;
    api_reply_error(r, MHD_HTTP_NOT_FOUND, "NOT_FOUND", "no route for %s %s",
                    rq->method, rq->raw_uri);
  }
  path_free(&p);
}

/* ---- MHD callbacks ---- */

static api_request *request_new(ll_api *api, const char *uri) {
  api_request *rq = ll_xcalloc(1, sizeof *rq);
  rq->api = api;
  rq->raw_uri = ll_strdup(uri != NULL ? uri : "");
  ll_buf_init(&rq->body);
  return rq;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
  (void)conn;
  api_request *rq = request_new(cls, uri);
  rq->query_too_long = api_guard_query((char *)uri);
  return rq;
}

static enum MHD_Result queue_reply(api_request *rq, api_reply *r) {
  if (r->status == 0) /* every route fills a reply; never answer nothing */
    api_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                    "no answer was produced");
  struct MHD_Response *resp = MHD_create_response_from_buffer(
      r->body_len, r->body, MHD_RESPMEM_MUST_FREE);
  if (resp == NULL) {
    api_reply_free(r);
    return MHD_NO;
  }
  r->body = NULL; /* the response owns it now */
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                          r->content_type != NULL ? r->content_type
                                                  : JSON_CONTENT_TYPE);
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  if (r->allow != NULL)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
  if (r->www_authenticate != NULL)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                            r->www_authenticate);
  if (r->position > 0) {
    char pos[24];
    snprintf(pos, sizeof pos, "%" PRIu64, r->position);
    MHD_add_response_header(resp, "Lotline-Position", pos);
  }
  enum MHD_Result ret = MHD_queue_response(rq->conn, r->status, resp);
  MHD_destroy_response(resp);
  rq->status = r->status;
  return ret;
}

static bool body_expected_too_large(struct MHD_Connection *conn) {
  const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_CONTENT_LENGTH);
  uint64_t n;
  return cl != NULL && parse_u64(cl, &n) && n > LL_API_BODY_MAX_BYTES;
}

static void reply_too_large(api_reply *r) {
  api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                  "the request body is larger than the limit of %d bytes "
                  "(1 MiB)",
                  LL_API_BODY_MAX_BYTES);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn,
                                 const char *url, const char *method,
                                 const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls) {
  (void)version;
  api_request *rq = *con_cls;
  if (rq == NULL) { /* the URI callback always runs first; be safe */
    rq = request_new(cls, url);
    *con_cls = rq;
  }
  if (!rq->started) {
    rq->started = true;
    rq->conn = conn;
    rq->method = method;
    rq->started_ns = ll_mono_ns();
    /* A client waiting for "100 Continue" can be told no before it sends
     * the body. Others send it anyway: it is read and dropped. */
    const char *expect =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Expect");
    if (expect != NULL && strcasecmp(expect, "100-continue") == 0) {
      api_reply r;
      api_reply_init(&r);
      if (!api_authorize(rq, &r))
        return queue_reply(rq, &r);
      if (body_expected_too_large(conn)) {
        reply_too_large(&r);
        return queue_reply(rq, &r);
      }
    }
    return MHD_YES;
  }
  if (*upload_data_size > 0) {
    if (!rq->body_too_large) {
      if (rq->body.len + *upload_data_size > LL_API_BODY_MAX_BYTES) {
        rq->body_too_large = true;
        ll_buf_free(&rq->body);
        ll_buf_init(&rq->body);
      } else {
        ll_buf_put(&rq->body, upload_data, *upload_data_size);
      }
    }
    *upload_data_size = 0;
    return MHD_YES;
  }
  api_reply r;
  api_reply_init(&r);
  bool allowed = api_authorize(rq, &r); /* else r holds the 401/403 */
  if (allowed && rq->query_too_long)
    api_reply_error(&r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "the query string has more than %d parameters",
                    LL_API_QUERY_PARAMS_MAX);
  else if (allowed && rq->body_too_large)
    reply_too_large(&r);
  else if (allowed)
    route(rq, &r);
  return queue_reply(rq, &r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)conn;
  api_request *rq = *con_cls;
  if (rq == NULL)
    return;
  *con_cls = NULL;
  api_observe(rq);
  uint64_t took_us =
      rq->started_ns != 0 ? (ll_mono_ns() - rq->started_ns) / 1000 : 0;
  if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
    ll_log(LL_DEBUG, "http", "%s %s -> %u (%" PRIu64 " us)",
           rq->method != NULL ? rq->method : "-", rq->raw_uri, rq->status,
           took_us);
  else
    ll_log(LL_DEBUG, "http", "%s %s -> %u, connection ended early (%d)",
           rq->method != NULL ? rq->method : "-", rq->raw_uri, rq->status,
           (int)toe);
  ll_buf_free(&rq->body);
  free(rq->raw_uri);
  free(rq);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char line[LL_MESSAGE_MAX_BYTES];
  vsnprintf(line, sizeof line, fmt, ap);
  size_t n = strlen(line);
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    line[--n] = '\0';
  ll_log(LL_WARN, "http", "libmicrohttpd: %s", line);
}

/* ---- listening ---- */

/* "HOST:PORT" or "[V6]:PORT" into host and port. */
static int parse_listen(const char *addr, char *host, size_t host_cap,
                        char *port, size_t port_cap, ll_err *err) {
  const char *colon;
  const char *h = addr;
  size_t hn;
  if (addr[0] == '[') {
    const char *close = strchr(addr, ']');
    if (close == NULL || close[1] != ':')
      return ll_err_set(err, LL_OK, "bad listen address '%s': want [V6]:PORT",
                        addr);
    h = addr + 1;
    hn = (size_t)(close - h);
    colon = close + 1;
  } else {
    colon = strrchr(addr, ':');
    if (colon == NULL || memchr(addr, ':', (size_t)(colon - addr)))
      return ll_err_set(err, LL_OK,
                        "bad listen address '%s': want HOST:PORT (IPv6 "
                        "hosts in brackets)",
                        addr);
    hn = (size_t)(colon - addr);
  }
  const char *p = colon + 1;
  uint64_t port_v;
  if (hn == 0 || hn >= host_cap || !parse_u64(p, &port_v) || port_v > 65535 ||
      strlen(p) >= port_cap)
    return ll_err_set(err, LL_OK,
                      "bad listen address '%s': want HOST:PORT with a port "
                      "from 0 to 65535",
                      addr);
  memcpy(host, h, hn);
  host[hn] = '\0';
  snprintf(port, port_cap, "%" PRIu64, port_v);
  return 0;
}

/* Bind and listen ourselves: errno gives a better reason than
 * MHD_start_daemon's NULL, and getsockname() the port picked for 0. */
static int open_listener(const char *addr, int *fd_out, bool *v6_out,
                         char *address, size_t address_cap, ll_err *err) {
  char host[256], port[8];
  if (parse_listen(addr, host, sizeof host, port, sizeof port, err) != 0)
    return -1;
  struct addrinfo hints = {.ai_family = AF_UNSPEC,
                           .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_NUMERICSERV};
  struct addrinfo *res = NULL;
  int gai = getaddrinfo(host, port, &hints, &res);
  if (gai != 0)
    return ll_err_set(err, LL_OK, "cannot resolve '%s': %s", host,
                      gai_strerror(gai));
  int fd = -1;
  int last_errno = 0;
  for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                ai->ai_protocol);
    if (fd < 0) {
      last_errno = errno;
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
        listen(fd, LISTEN_BACKLOG) == 0) {
      *v6_out = ai->ai_family == AF_INET6;
      break;
    }
    last_errno = errno;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0)
    return ll_err_set(err, LL_OK, "cannot listen on %s: %s", addr,
                      strerror(last_errno));
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  char numeric[INET6_ADDRSTRLEN];
  char bound_port[8];
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0 ||
      getnameinfo((struct sockaddr *)&ss, sl, numeric, sizeof numeric,
                  bound_port, sizeof bound_port,
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    int e = errno;
    close(fd);
    return ll_err_set(err, LL_OK, "cannot read the bound address of %s: %s",
                      addr, strerror(e));
  }
  snprintf(address, address_cap, *v6_out ? "[%s]:%s" : "%s:%s", numeric,
           bound_port);
  *fd_out = fd;
  return 0;
}

ll_api *ll_api_start(const char *listen, const ll_api_deps *deps, ll_err *err) {
  assert(listen != NULL && deps != NULL);
  assert((deps->views != NULL || deps->ops_only) && deps->log != NULL);
  if (deps->producer != NULL &&
      (deps->codec == NULL || deps->inbound_topic == NULL)) {
    ll_err_set(err, LL_OK,
               "the HTTP API needs a codec and an inbound topic "
               "to publish writes");
    return NULL;
  }
  ll_api *api = ll_xcalloc(1, sizeof *api);
  api->deps = *deps;
  api->inbound_topic = ll_strdup(deps->inbound_topic);
  api->deps.inbound_topic = api->inbound_topic;
  api->write_timeout_ms = deps->write_timeout_ms;
  if (api->write_timeout_ms <= 0 ||
      api->write_timeout_ms > LL_API_WRITE_TIMEOUT_MS_MAX)
    api->write_timeout_ms = LL_API_WRITE_TIMEOUT_MS_MAX;
  pthread_mutex_init(&api->codec_mu, NULL);
  atomic_init(&api->stopping, false);
  if (api_ops_start(api, deps, err) != 0) {
    pthread_mutex_destroy(&api->codec_mu);
    free(api->inbound_topic);
    free(api);
    return NULL;
  }

  int fd = -1;
  bool v6 = false;
  if (open_listener(listen, &fd, &v6, api->address, sizeof api->address, err) !=
      0)
    goto fail;
  unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
  if (v6)
    flags |= MHD_USE_IPv6;
  struct MHD_OptionItem extra[] = {
      {MHD_OPTION_CONNECTION_MEMORY_LIMIT,
       (intptr_t)LL_API_CONNECTION_MEMORY_BYTES, NULL},
      {MHD_OPTION_END, 0, NULL}, /* the TLS options go here */
      {MHD_OPTION_END, 0, NULL},
      {MHD_OPTION_END, 0, NULL},
      {MHD_OPTION_END, 0, NULL}};
  if (api->tls) {
    flags |= MHD_USE_TLS;
    extra[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
                                       api->tls_cert_pem};
    extra[2] =
        (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, api->tls_key_pem};
    extra[3] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                       (void *)api_tls_priorities()};
  }
  api->daemon = MHD_start_daemon(
      flags, 0, NULL, NULL, on_access, api, MHD_OPTION_EXTERNAL_LOGGER,
      on_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
      MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)LL_API_THREADS,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned int)LL_API_CONNECTIONS_MAX,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)LL_API_IDLE_TIMEOUT_S,
      MHD_OPTION_URI_LOG_CALLBACK, on_uri, api, MHD_OPTION_NOTIFY_COMPLETED,
      on_completed, api, MHD_OPTION_ARRAY, extra, MHD_OPTION_END);
  if (api->daemon == NULL) {
    close(fd);
    ll_err_set(err, LL_OK, "cannot start the HTTP server on %s%s", listen,
               api->tls ? " (HTTPS: see the log for GnuTLS's reason)" : "");
    goto fail;
  }
  ll_log(LL_INFO, "http", "listening on %s://%s", api->tls ? "https" : "http",
         api->address);
  return api;
fail:
  api_ops_stop(api);
  pthread_mutex_destroy(&api->codec_mu);
  free(api->inbound_topic);
  free(api);
  return NULL;
}

const char *ll_api_address(const ll_api *api) {
  return api->address;
}

bool ll_api_tls(const ll_api *api) {
  return api->tls;
}

void ll_api_stop(ll_api *api) {
  if (api == NULL)
    return;
  atomic_store(&api->stopping, true); /* waiting writes give up now */
  MHD_stop_daemon(api->daemon);       /* joins the workers, closes fd */
  api_ops_stop(api);
  pthread_mutex_destroy(&api->codec_mu);
  free(api->inbound_topic);
  free(api);
}
