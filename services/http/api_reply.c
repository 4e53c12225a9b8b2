/* api_reply.c — what every route uses to answer: the JSON replies and
 * error bodies, the query parameters and waiting for the views.
 *
 * Every error is {"code","message"} (docs/api.md, "Conventions"). A query
 * parameter is read only by a route that declares it in the route table
 * (api_routes.c): api_query() asserts it, so a parameter a handler reads
 * is one the route accepts, the docs list and the unknown-parameter check
 * lets through. */
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api_internal.h"
#include "ll_time.h"
#include "ll_views.h"

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

void api_reply_storage_error(api_reply *r, const ll_err *err) {
  api_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                  "storage error: %s", err->message);
}

void api_reply_unknown_lot(api_reply *r, const char *product_id,
                           const char *lot_id) {
  if (product_id != NULL)
    api_reply_error(r, MHD_HTTP_NOT_FOUND, ll_code_name(LL_UNKNOWN_LOT),
                    "product %s has no lot %s", product_id, lot_id);
  else
    api_reply_error(r, MHD_HTTP_NOT_FOUND, ll_code_name(LL_UNKNOWN_LOT),
                    "lot %s does not exist", lot_id);
}

/* ---- waiting ---- */

/* Waits are cut into slices so that a stopping API lets its workers go;
 * a slice ends early when what is waited for changes. */
static uint64_t slice_end(uint64_t deadline_ns) {
  uint64_t end = ll_mono_ns() + (uint64_t)LL_API_WAIT_SLICE_MS * NS_PER_MS;
  return end < deadline_ns ? end : deadline_ns;
}

bool api_wait_log(ll_api *api, uint64_t seen, uint64_t deadline_ns) {
  if (atomic_load(&api->stopping) || ll_mono_ns() >= deadline_ns)
    return false;
  ll_store_wait_change(api->deps.log, seen, slice_end(deadline_ns));
  return true;
}

bool api_wait_views(ll_api *api, uint64_t position, uint64_t deadline_ns) {
  for (;;) {
    uint64_t until = slice_end(deadline_ns);
    if (ll_views_wait_position(api->deps.views, position, until))
      return true;
    if (until >= deadline_ns || atomic_load(&api->stopping))
      return false;
  }
}

/* ---- query parameters ---- */

const char *api_query(const api_request *rq, const char *key) {
  assert(rq->route != NULL && api_route_takes(rq->route, key));
  const char *v =
      MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, key);
  return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Decimal digits only, no sign, no overflow. */
bool api_parse_u64(const char *s, uint64_t *out) {
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

int api_query_limit(const api_request *rq, size_t *limit, api_reply *r) {
  const char *s = api_query(rq, "limit");
  uint64_t v = LL_LIST_LIMIT_DEFAULT;
  if (s != NULL && (!api_parse_u64(s, &v) || v < 1 || v > LL_LIST_LIMIT_MAX)) {
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "limit must be an integer from 1 to %d", LL_LIST_LIMIT_MAX);
    return -1;
  }
  *limit = (size_t)v;
  return 0;
}

/* A boolean flag: absent, 0, false -> false; present without a value, 1,
 * true -> true. */
int api_query_flag(const api_request *rq, const char *key, bool *out,
                   api_reply *r) {
  assert(rq->route != NULL && api_route_takes(rq->route, key));
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

bool api_parse_token(const char *text, int32_t *partition,
                     uint64_t *task_position) {
  const char *colon = strchr(text, ':');
  if (colon == NULL || colon == text || colon - text > 10)
    return false;
  char part[16];
  memcpy(part, text, (size_t)(colon - text));
  part[colon - text] = '\0';
  uint64_t p;
  if (!api_parse_u64(part, &p) || p > INT32_MAX ||
      !api_parse_u64(colon + 1, task_position))
    return false;
  *partition = (int32_t)p;
  return true;
}

/* ?min_position=N (this instance's log position) or =P:N (a token: task
 * position N of partition P, the same on every instance): read-your-writes
 * for clients that know a position. Views behind it: the request is
 * suspended without holding a worker (api_wait.c) until they reach it or
 * LL_API_MIN_POSITION_WAIT_MS pass, then dispatched again. 0: read now;
 * 1: suspended; -1: r holds the answer. */
int api_await_min_position(api_request *rq, api_reply *r) {
  const char *s = api_query(rq, "min_position");
  if (s == NULL)
    return 0;
  api_read_target t = {.token = strchr(s, ':') != NULL, .partition = -1};
  if (t.token ? !api_parse_token(s, &t.partition, &t.task_position)
              : !api_parse_u64(s, &t.position)) {
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "min_position must be a log position (a non-negative "
                    "integer) or a token P:N (partition P of lots.inbound, "
                    "task position N), as Lotline-Token carries");
    return -1;
  }
  if (api_read_reached(rq->api, &t))
    return 0;
  if (!rq->read_resumed) {
    uint64_t deadline_ns =
        ll_mono_ns() + (uint64_t)LL_API_MIN_POSITION_WAIT_MS * NS_PER_MS;
    api_pending *p = api_pending_new_read(rq->api, rq->conn, &t, deadline_ns);
    if (api_wait_suspend(rq, p))
      return 1;
    api_pending_drop(p); /* the API is stopping: answer now */
  }
  if (t.token) {
    api_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                    "the views did not reach %s in time", s);
    return -1;
  }
  api_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                  "the views did not reach position %" PRIu64
                  " within %d ms (at %" PRIu64 ")",
                  t.position, LL_API_MIN_POSITION_WAIT_MS,
                  ll_views_position(rq->api->deps.views));
  return -1;
}
