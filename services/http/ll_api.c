/* ll_api.c — the HTTP API daemon: listening, the request life cycle and
 * dispatching on the route table (docs/api.md, docs/openapi.yaml).
 *
 * libmicrohttpd runs a pool of worker threads (http.threads: one per core
 * by default), each with its own epoll loop. A handler runs to completion
 * on its worker, except a write once published and a read waiting for
 * ?min_position=: the connection is suspended while it waits (<= 5 s,
 * api_wait.c) and resumed to answer, so waits hold no thread and the pool
 * is sized for the work.
 *
 * In a cluster a second daemon with a pool of its own (cluster.listen)
 * serves the requests other instances forward: a worker of the API that
 * forwards waits for the other instance, and if both instances' workers
 * all waited for each other on one pool, nothing would be left to answer
 * (every forward would end at its timeout). What arrives there is
 * answered from this instance's data, never forwarded again, so its
 * workers never wait for another instance.
 *
 * Request life cycle: MHD's URI callback creates the api_request with the
 * URI exactly as sent; once method and headers are known the path is
 * matched against the route table (api_routes.c), since the token a
 * request needs depends on its route; the access handler collects the body
 * (at most LL_API_BODY_MAX_BYTES: a larger one is read and dropped, then
 * answered 400, so the client always gets an answer rather than a reset
 * connection); once the body is complete, dispatch() fills an api_reply
 * and it is queued (or a write suspends the connection, and the access
 * handler, called again once it is resumed, queues the write's answer);
 * the completion callback logs the request at debug level and frees it.
 *
 * Paths are routed on the raw URI, split on '/' and then percent-decoded
 * segment by segment, so a lot id containing '/' works when the client
 * sends it as %2F (GET /v1/lots/LOT%2F0001). Query parameters are decoded
 * by MHD ('+' is a space there).
 *
 * dispatch() answers, in this order: 404 NOT_FOUND on an ops-only listener
 * (deps.ops_only: `lotlined command`, metrics.listen) for anything but
 * /healthz, /readyz and /metrics; 400 for a bad percent-escape in the
 * path; 404 NOT_FOUND for a path no route has; 405 METHOD_NOT_ALLOWED with
 * an Allow header listing the methods the table has for the path (HEAD
 * wherever GET); 403 for an admin route from a non-loopback client; 400
 * for a query parameter the route does not accept; for routes that read
 * the views, the ?min_position=N wait (up to 5 s, else 503); then the
 * route's handler. Bearer tokens are checked before all of it (api_ops.c):
 * 401/403. Every error is JSON {"code","message"} with Content-Type:
 * application/json. */
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

static bool method_takes(const api_route *rt, const char *method) {
  return strcmp(rt->method, method) == 0 ||
         (strcmp(method, MHD_HTTP_METHOD_HEAD) == 0 &&
          strcmp(rt->method, MHD_HTTP_METHOD_GET) == 0);
}

/* Find the request's route in the table, once method and URI are known. */
static void api_match(api_request *rq) {
  if (rq->matched)
    return;
  rq->matched = true;
  if (path_split(rq->raw_uri, &rq->path) != 0) {
    rq->path_bad = true;
    return;
  }
  for (size_t i = 0; i < api_routes_count; i++) {
    const api_route *rt = &api_routes[i];
    if (!api_route_path_is(rt, &rq->path))
      continue;
    if (rq->path_route == NULL)
      rq->path_route = rt;
    if (method_takes(rt, rq->method)) {
      rq->route = rt;
      return;
    }
  }
}

/* The id a handler gets: the segment under the pattern's last
 * {parameter} (the lot in /v1/products/{product_id}/lots/{lot_id}). */
static const char *path_id(const api_request *rq) {
  const char *s = rq->route->pattern, *id = NULL;
  for (size_t i = 0; *s == '/' && i < rq->path.n; i++) {
    s++;
    if (s[0] == '{')
      id = rq->path.seg[i];
    s += strcspn(s, "/");
  }
  return id;
}

const char *api_path_param(const api_request *rq, const char *name) {
  if (rq->route == NULL)
    return NULL;
  const char *s = rq->route->pattern;
  size_t name_len = strlen(name);
  for (size_t i = 0; *s == '/' && i < rq->path.n; i++) {
    s++;
    size_t n = strcspn(s, "/");
    if (s[0] == '{' && n == name_len + 2 && strncmp(s + 1, name, name_len) == 0)
      return rq->path.seg[i];
    s += n;
  }
  return NULL;
}

static void method_not_allowed(api_request *rq, api_reply *r) {
  api_route_allow(rq->path_route, r->allow, sizeof r->allow);
  api_reply_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED",
                  "%s is not allowed on %s (allowed: %s)", rq->method,
                  rq->path_route->pattern, r->allow);
}

/* Dispatch on the table (api_routes.c): 404 for a path no route has, 405
 * for a method its routes do not take, then the route's own checks. */
static void dispatch(api_request *rq, api_reply *r) {
  api_match(rq);
  bool ops_only = rq->api->deps.ops_only;
  if (ops_only &&
      (rq->path_route == NULL || !(rq->path_route->flags & API_OPS))) {
    api_reply_error(r, MHD_HTTP_NOT_FOUND, "NOT_FOUND",
                    "this address serves /healthz, /readyz and /metrics "
                    "only");
    return;
  }
  if (rq->path_bad) {
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "the path has a bad percent-escape, or a segment that "
                    "is not UTF-8 text without control characters");
    return;
  }
  if (rq->path_route == NULL) {
    api_reply_error(r, MHD_HTTP_NOT_FOUND, "NOT_FOUND", "no route for %s %s",
                    rq->method, rq->raw_uri);
    return;
  }
  rq->routed = true;
  if (rq->route == NULL) {
    method_not_allowed(rq, r);
    return;
  }
  const api_route *rt = rq->route;
  if ((rt->flags & API_ADMIN) && !api_peer_is_loopback(rq->conn)) {
    api_reply_error(r, MHD_HTTP_FORBIDDEN, "FORBIDDEN",
                    "the admin endpoints answer loopback clients only");
    return;
  }
  if (!api_route_check_query(rq, r))
    return;
  if (api_cluster_route(rq, r))
    return; /* the owner answered (a position to wait for is its own) */
  if ((rt->flags & API_VIEWS) && api_await_min_position(rq, r) != 0)
    return;
  rt->handler(rq, path_id(rq), r);
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

/* The same on the cluster listener (ll_api_listen_cluster). */
static void *on_cluster_uri(void *cls, const char *uri,
                            struct MHD_Connection *conn) {
  api_request *rq = on_uri(cls, uri, conn);
  rq->on_cluster_listener = true;
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
  bool cache_control = false;
  for (size_t i = 0; i < r->header_count; i++) {
    MHD_add_response_header(resp, r->headers[i][0], r->headers[i][1]);
    cache_control |=
        strcasecmp(r->headers[i][0], MHD_HTTP_HEADER_CACHE_CONTROL) == 0;
  }
  if (!cache_control)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  if (r->allow[0] != '\0')
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
  if (r->www_authenticate != NULL)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                            r->www_authenticate);
  if (r->position > 0) {
    char pos[24];
    snprintf(pos, sizeof pos, "%" PRIu64, r->position);
    MHD_add_response_header(resp, "Lotline-Position", pos);
  }
  if (r->token[0] != '\0')
    MHD_add_response_header(resp, "Lotline-Token", r->token);
  enum MHD_Result ret = MHD_queue_response(rq->conn, r->status, resp);
  MHD_destroy_response(resp);
  rq->status = r->status;
  return ret;
}

static bool body_expected_too_large(struct MHD_Connection *conn) {
  const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_CONTENT_LENGTH);
  uint64_t n;
  return cl != NULL && api_parse_u64(cl, &n) && n > LL_API_BODY_MAX_BYTES;
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
  if (rq->pending != NULL && rq->pending->phase == API_WAIT_READ) {
    /* a read's wait ended: dispatched again, answered now */
    api_wait_release(rq);
    rq->read_resumed = true;
    api_reply r;
    api_reply_init(&r);
    dispatch(rq, &r);
    return queue_reply(rq, &r);
  }
  if (rq->pending != NULL) { /* a write's wait ended: resumed to answer */
    api_reply r;
    api_reply_init(&r);
    api_write_finish(rq, &r);
    return queue_reply(rq, &r);
  }
  if (!rq->started) {
    rq->started = true;
    rq->conn = conn;
    rq->method = method;
    rq->started_ns = ll_mono_ns();
    api_match(rq); /* the token a request needs depends on its route */
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
  else if (allowed && api_cluster_misdirected(rq))
    api_reply_error(&r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "this address (cluster.listen) serves the other "
                    "instances of the cluster only; send requests to the "
                    "API's address (http.listen)");
  else if (allowed)
    dispatch(rq, &r);
  if (rq->pending != NULL) { /* suspended: answered once resumed */
    assert(r.status == 0);
    api_reply_free(&r);
    return MHD_YES;
  }
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
  api_wait_release(rq); /* ended while suspended (the API stopping) */
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
  path_free(&rq->path);
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

/* http.threads, or one worker per core (at least LL_API_THREADS_MIN). */
static unsigned int pool_size(const ll_api_deps *deps) {
  long n = deps->threads;
  if (n <= 0)
    n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < LL_API_THREADS_MIN)
    n = LL_API_THREADS_MIN;
  return (unsigned int)(n > LL_API_THREADS_MAX ? LL_API_THREADS_MAX : n);
}

/* "HOST:PORT" or "[V6]:PORT" into host and port. */
static int parse_listen(const char *addr, char *host, size_t host_cap,
                        char *port, size_t port_cap, ll_err *err) {
  const char *colon;
  const char *h = addr;
  size_t hn;
  if (addr[0] == '[') {
    const char *close = strchr(addr, ']');
    if (close == NULL || close[1] != ':')
      return ll_fail(err, LL_ERR_CONFIG,
                     "bad listen address '%s': want [V6]:PORT", addr);
    h = addr + 1;
    hn = (size_t)(close - h);
    colon = close + 1;
  } else {
    colon = strrchr(addr, ':');
    if (colon == NULL || memchr(addr, ':', (size_t)(colon - addr)))
      return ll_fail(err, LL_ERR_CONFIG,
                     "bad listen address '%s': want HOST:PORT (IPv6 "
                     "hosts in brackets)",
                     addr);
    hn = (size_t)(colon - addr);
  }
  const char *p = colon + 1;
  uint64_t port_v;
  if (hn == 0 || hn >= host_cap || !api_parse_u64(p, &port_v) ||
      port_v > 65535 || strlen(p) >= port_cap)
    return ll_fail(err, LL_ERR_CONFIG,
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
    return ll_fail(err, LL_ERR_CONFIG, "cannot resolve '%s': %s", host,
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
    return ll_fail(err, LL_ERR_IO, "cannot listen on %s: %s", addr,
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
    return ll_fail(err, LL_ERR_IO, "cannot read the bound address of %s: %s",
                   addr, strerror(e));
  }
  snprintf(address, address_cap, *v6_out ? "[%s]:%s" : "%s:%s", numeric,
           bound_port);
  *fd_out = fd;
  return 0;
}

/* One MHD daemon on listen with the API's callbacks and TLS; the bound
 * address into address. */
static int start_daemon(ll_api *api, const char *listen, bool cluster,
                        struct MHD_Daemon **daemon, char *address,
                        size_t address_cap, ll_err *err) {
  int fd = -1;
  bool v6 = false;
  if (open_listener(listen, &fd, &v6, address, address_cap, err) != 0)
    return -1;
  unsigned int flags =
      MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
      MHD_ALLOW_SUSPEND_RESUME; /* waiting writes, api_wait.c */
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
  *daemon = MHD_start_daemon(
      flags, 0, NULL, NULL, on_access, api, MHD_OPTION_EXTERNAL_LOGGER,
      on_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
      MHD_OPTION_THREAD_POOL_SIZE, pool_size(&api->deps),
      MHD_OPTION_CONNECTION_LIMIT, (unsigned int)LL_API_CONNECTIONS_MAX,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)LL_API_IDLE_TIMEOUT_S,
      MHD_OPTION_URI_LOG_CALLBACK, cluster ? on_cluster_uri : on_uri, api,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, api, MHD_OPTION_ARRAY, extra,
      MHD_OPTION_END);
  if (*daemon == NULL) {
    close(fd);
    return ll_fail(err, LL_ERR_IO, "cannot start the HTTP server on %s%s",
                   listen,
                   api->tls ? " (HTTPS: see the log for GnuTLS's reason)" : "");
  }
  return 0;
}

ll_api *ll_api_start(const char *listen, const ll_api_deps *deps, ll_err *err) {
  assert(listen != NULL && deps != NULL);
  assert((deps->views != NULL || deps->ops_only) && deps->log != NULL);
  if (deps->producer != NULL &&
      (deps->codec == NULL || deps->inbound_topic == NULL)) {
    ll_fail(err, LL_ERR_CONFIG,
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
  api->rejections = api_rejection_index_new();
  atomic_init(&api->stopping, false);
  atomic_init(&api->cluster, NULL);
  if (api_ops_start(api, deps, err) != 0) {
    api_rejection_index_free(api->rejections);
    pthread_mutex_destroy(&api->codec_mu);
    free(api->inbound_topic);
    free(api);
    return NULL;
  }

  if (api_waits_start(api, err) != 0)
    goto fail;
  if (start_daemon(api, listen, false, &api->daemon, api->address,
                   sizeof api->address, err) != 0)
    goto fail;
  ll_log(LL_INFO, "http", "listening on %s://%s", api->tls ? "https" : "http",
         api->address);
  return api;
fail:
  api_waits_close(api);
  api_waits_free(api);
  api_ops_stop(api);
  api_rejection_index_free(api->rejections);
  pthread_mutex_destroy(&api->codec_mu);
  free(api->inbound_topic);
  free(api);
  return NULL;
}

const char *ll_api_address(const ll_api *api) {
  return api->address;
}

int ll_api_listen_cluster(ll_api *api, const char *listen, ll_err *err) {
  assert(api->cluster_daemon == NULL);
  if (start_daemon(api, listen, true, &api->cluster_daemon,
                   api->cluster_address, sizeof api->cluster_address, err) != 0)
    return -1;
  ll_log(LL_INFO, "http", "serving the other instances on %s://%s",
         api->tls ? "https" : "http", api->cluster_address);
  return 0;
}

const char *ll_api_cluster_address(const ll_api *api) {
  return api->cluster_address;
}

bool ll_api_tls(const ll_api *api) {
  return api->tls;
}

void ll_api_stop(ll_api *api) {
  if (api == NULL)
    return;
  atomic_store(&api->stopping, true); /* waiting writes give up now */
  api_waits_close(api);               /* none may be suspended when MHD stops */
  MHD_stop_daemon(api->daemon);       /* joins the workers, closes fd */
  if (api->cluster_daemon != NULL)
    MHD_stop_daemon(api->cluster_daemon);
  api_waits_free(api);
  api_ops_stop(api);
  api_rejection_index_free(api->rejections);
  pthread_mutex_destroy(&api->codec_mu);
  free(api->inbound_topic);
  free(api);
}
