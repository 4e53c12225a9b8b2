/* api_internal.h — what the HTTP API's files share (not a public header).
 *
 * A request flows through the files in this order:
 *   ll_api.c      the daemon: listening, the request life cycle, matching
 *                 the path against the route table and dispatching
 *   api_routes.c  the route table: every route once, with its method,
 *                 path, handler, flags, query parameters, body fields and
 *                 statuses; routing, tokens, metrics and the docs check
 *                 (api_routes_main.c prints it) all read it
 *   api_ops.c     tokens, metrics, TLS, /healthz and /readyz
 *   api_cluster.c in a cluster, forwarding to the instance that owns
 *                 what a request names, and scatter-gather; GET
 *                 /v1/cluster
 *   api_read.c    GET /v1/lots, /v1/lots/{lot_id}
 *   api_rejections.c  GET /v1/rejections, paged by next_before
 *   api_trace.c   the traceability reads: history, as-of, genealogy,
 *                 location contents, FEFO
 *   api_trace_cluster.c  a trace walked over every owner of a cluster,
 *                 and GET /v1/cluster/genealogy that it asks
 *   api_write.c   the write routes: event, field checks, publish, await
 *   api_admin.c   POST /v1/admin/backup
 *   api_ui.c      GET /ui/...: the web console's page and files
 *   api_json.c    the mapping between JSON and lotline's types, and the
 *                 body fields each write accepts
 *   api_reply.c   replies, query parameters, waiting for the views
 * A handler fills an api_reply (status + JSON body); ll_api.c turns it into
 * an HTTP response. */
#ifndef LL_API_INTERNAL_H
#define LL_API_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "ll_api.h"
#include "ll_buf.h"
#include "ll_event.h"
#include "ll_metrics.h"
#include "ll_state.h"
#include "ll_types.h"
#include "ll_views.h"

#define LL_API_BODY_MAX_BYTES (1024 * 1024) /* request bodies: 1 MiB */
/* libmicrohttpd's workers (http.threads; 0: one per core, at least
 * LL_API_THREADS_MIN). A write does not hold one while it waits, nor a
 * read waiting for ?min_position= (api_wait.c), so the pool is sized for
 * the work: more runnable workers than cores only lengthen the tail of the
 * reads (docs/performance.md). What still holds one: a forward to another
 * instance of a cluster, a read `as_of` a position. */
#define LL_API_THREADS_MIN 2
#define LL_API_THREADS_MAX 64
#define LL_API_CONNECTIONS_MAX 1024
#define LL_API_IDLE_TIMEOUT_S 60         /* idle keep-alive connections */
#define LL_API_WRITE_TIMEOUT_MS_MAX 5000 /* docs/api.md: within 5 s */
#define LL_API_MIN_POSITION_WAIT_MS 5000 /* ?min_position= */
/* A write or read waiting for the log or the views is woken by their
 * change; it also looks at api->stopping at least this often. */
#define LL_API_WAIT_SLICE_MS 50
#define LL_API_READY_LAG_MAX 1000 /* /readyz: views this close to the log */
#define LL_API_ADDRESS_MAX 320    /* "HOST:PORT", host up to 255 + [] */
#define LL_API_SEGMENTS_MAX 6     /* path segments we route on */
/* Per-connection memory of libmicrohttpd: the request line and headers
 * must fit in it (beyond, MHD answers 431 or 414 itself); the body is
 * streamed through it in pieces. MHD clears all of it before each request
 * of a kept-alive connection, so it costs CPU on every read: 16 KiB holds
 * the longest path or query a lot, product or location id makes (255
 * characters, percent-encoded) with room for the headers. */
#define LL_API_CONNECTION_MEMORY_BYTES (16 * 1024)
#define LL_API_TOKEN_DIGEST_BYTES 32 /* SHA-256 */
#define LL_API_QUERY_PARAMS_MAX 64   /* routes take a handful */
#define LL_API_ALLOW_MAX 48          /* "GET, HEAD, PATCH, POST" */
#define LL_API_REPLY_HEADERS_MAX 8   /* the console's: api_ui.c */

struct ll_api {
  struct MHD_Daemon *daemon;
  ll_api_deps deps; /* inbound_topic points at our own copy */
  char *inbound_topic;
  int write_timeout_ms; /* clamped to 1..LL_API_WRITE_TIMEOUT_MS_MAX */
  char address[LL_API_ADDRESS_MAX];
  /* The other instances' listener (cluster.listen); NULL: none. */
  struct MHD_Daemon *cluster_daemon;
  char cluster_address[LL_API_ADDRESS_MAX];
  pthread_mutex_t codec_mu; /* the codec does not promise thread safety */
  atomic_bool stopping;     /* waits end early when the API stops */
  /* Operations (api_ops.c): metrics, bearer tokens, TLS. */
  ll_metrics *metrics;     /* deps.metrics or own_metrics */
  ll_metrics *own_metrics; /* when the caller gave none */
  ll_metric *m_requests;   /* lotline_http_requests_total */
  ll_metric *m_duration;   /* lotline_http_request_duration_seconds */
  ll_series *m_log_position, *m_views_position, *m_projection_lag;
  ll_metric *m_db_memory, *m_db_sst, *m_db_compaction, *m_db_l0, *m_db_stall;
  ll_series *m_log_size;
  bool read_protected, write_protected;
  unsigned char read_digest[LL_API_TOKEN_DIGEST_BYTES];
  unsigned char write_digest[LL_API_TOKEN_DIGEST_BYTES];
  bool tls;
  char *tls_cert_pem, *tls_key_pem; /* our copies, alive until MHD stops */
  /* The ownership directory (api_cluster.c); NULL: a single instance. */
  _Atomic(struct ll_cluster *) cluster;
  /* Writes waiting for their outcome (api_wait.c). */
  struct api_waits *waits;
  /* The rejections' sequences per partition (api_rejections.c). */
  struct api_rejection_index *rejections;
  bool waits_running; /* the waker thread is up */
};

/* A position token "partition:task position" (docs/api.md). */
#define LL_API_TOKEN_MAX 48

/* "P:N" as JSON. */
json_t *api_json_token(int32_t partition, uint64_t task_position);
/* Parse a token; false when text is not one. */
bool api_parse_token(const char *text, int32_t *partition,
                     uint64_t *task_position);

typedef struct api_reply {
  unsigned int status;
  char *body; /* malloc'd */
  size_t body_len;
  const char *content_type;     /* static; NULL = application/json */
  char allow[LL_API_ALLOW_MAX]; /* Allow header for 405, "" for none */
  uint64_t position;            /* Lotline-Position header when > 0 */
  char token[LL_API_TOKEN_MAX]; /* Lotline-Token header when not "" */
  /* WWW-Authenticate header for 401, static */
  const char *www_authenticate;
  /* More headers, {name, value}, static strings; a Cache-Control among
   * them replaces the default no-store (the console's files, api_ui.c). */
  const char *headers[LL_API_REPLY_HEADERS_MAX][2];
  size_t header_count;
} api_reply;

/* A path split on '/' and percent-decoded segment by segment. */
typedef struct api_path {
  char *seg[LL_API_SEGMENTS_MAX];
  size_t n;
  bool too_long; /* more segments than any route has */
} api_path;

struct api_route;

/* One HTTP request, from the URI callback to the completion callback. */
typedef struct api_request {
  ll_api *api;
  struct MHD_Connection *conn;
  char *raw_uri;      /* as sent, still percent-encoded */
  const char *method; /* MHD's string, valid during the request */
  bool started;
  bool on_cluster_listener; /* came in on cluster.listen */
  bool body_too_large;
  ll_buf body;
  uint64_t started_ns;
  unsigned int status; /* answered status, for the request log */
  bool routed;         /* dispatched on a route's path: label metrics */
  bool query_too_long; /* more than LL_API_QUERY_PARAMS_MAX parameters */
  /* Set once method and headers are known (ll_api.c, api_match). */
  bool matched;
  bool path_bad;                      /* a bad percent-escape */
  api_path path;                      /* the decoded segments */
  const struct api_route *route;      /* method and path match, else NULL */
  const struct api_route *path_route; /* the path matches (any method) */
  /* A write waiting for its outcome, or a read for ?min_position=, its
   * connection suspended until it can be answered (api_wait.c); NULL
   * otherwise. */
  struct api_pending *pending;
  /* The read's wait ended (reached, timed out or stopping): it is
   * answered now, never suspended again. */
  bool read_resumed;
} api_request;

/* ---- the route table (api_routes.c) ---- */

/* A query parameter or a body field a route accepts. type is the
 * OpenAPI type: "string", "integer", "boolean" or "object". */
typedef struct api_param {
  const char *name;
  const char *type;
  const char *what; /* one line for people */
} api_param;

/* The id is the path's one {parameter} (decoded), NULL when it has none. */
typedef void (*api_handler)(api_request *rq, const char *id, api_reply *r);

enum {
  API_READ = 1 << 0,  /* GET (and HEAD): the read token */
  API_WRITE = 1 << 1, /* changes something: the write token */
  API_OPEN = 1 << 2,  /* no token ever: probes */
  API_OPS = 1 << 3,   /* also served by an ops-only listener */
  API_VIEWS = 1 << 4, /* reads the views: takes ?min_position= */
  API_ADMIN = 1 << 5, /* loopback clients only */
  API_TAIL = 1 << 6,  /* the last {parameter} takes the rest of the path */
  /* In a cluster (api_cluster.c): answered by the owner of the lot id's
   * product; of the body's product; by every owner, merged. A route whose
   * path names {product_id} goes to that product's owner. */
  API_BY_LOT = 1 << 7,
  API_BY_BODY = 1 << 8,
  API_SCATTER = 1 << 9,
};

typedef struct api_route {
  const char *method;  /* "GET" (HEAD too), "POST" or "PATCH" */
  const char *pattern; /* "/v1/lots/{lot_id}": a {name} is one segment */
  api_handler handler;
  unsigned flags;
  const api_param *query;   /* {NULL}-terminated; with API_VIEWS add
                               min_position */
  const api_param *body;    /* writes: the fields accepted, else NULL */
  const unsigned *statuses; /* 0-terminated: every status it answers */
  const char *summary;
} api_route;

extern const api_route api_routes[];
extern const size_t api_routes_count;
extern const api_param api_min_position_param;

/* Does the pattern match these segments? */
bool api_route_path_is(const api_route *rt, const api_path *p);
/* "a, b, c" (then extra, when not NULL); "none" for none. */
void api_param_names(const api_param *list, const char *extra, char *out,
                     size_t cap);
/* Does the route accept this query parameter? */
bool api_route_takes(const api_route *rt, const char *key);
/* "GET, HEAD, POST": the methods the path of rt takes. */
void api_route_allow(const api_route *rt, char *out, size_t cap);
/* 400 naming the first query parameter the route does not accept; false
 * then, with r filled. */
bool api_route_check_query(const api_request *rq, api_reply *r);
/* The whole table as JSON (api_routes_main.c prints it for the docs). */
json_t *api_routes_json(void);

/* ---- replies (api_reply.c) ---- */
void api_reply_init(api_reply *r);
void api_reply_free(api_reply *r);
/* Takes ownership of body (a JSON object or array). */
void api_reply_json(api_reply *r, unsigned int status, json_t *body);
void api_reply_error(api_reply *r, unsigned int status, const char *code,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Wait (at most one slice) for the log to change past seen (read with
 * ll_store_changes() before looking); false when deadline_ns (monotonic)
 * has passed or the API is stopping. */
bool api_wait_log(ll_api *api, uint64_t seen, uint64_t deadline_ns);
/* Wait until the views reach position or deadline_ns (monotonic) passes,
 * woken by each apply. */
bool api_wait_views(ll_api *api, uint64_t position, uint64_t deadline_ns);

/* Read helpers (api_reply.c): a query parameter (NULL when absent or
 * empty; the route must declare it), decimal digits, ?limit= (default
 * LL_LIST_LIMIT_DEFAULT, 400 outside 1..LL_LIST_LIMIT_MAX), a 1/0 flag,
 * ?min_position=, and the common error replies. The int ones return -1
 * with r filled on a bad value. */
const char *api_query(const api_request *rq, const char *key);
int api_await_min_position(api_request *rq, api_reply *r);
bool api_parse_u64(const char *s, uint64_t *out);
int api_query_limit(const api_request *rq, size_t *limit, api_reply *r);
int api_query_flag(const api_request *rq, const char *key, bool *out,
                   api_reply *r);
void api_reply_storage_error(api_reply *r, const ll_err *err);
/* 404 UNKNOWN_LOT; product_id NULL when the route named none. */
void api_reply_unknown_lot(api_reply *r, const char *product_id,
                           const char *lot_id);
/* The decoded path segment under {name} in the matched route's pattern,
 * or NULL when the pattern has none (ll_api.c). */
const char *api_path_param(const api_request *rq, const char *name);

/* ---- which lot a route names (api_lot.c) ----
 * A lot is (product_id, lot_id). The product-scoped routes name both
 * (/v1/products/{product_id}/lots/{lot_id}...); the plain ones
 * (/v1/lots/{lot_id}...) name the lot id only, which works while exactly
 * one product has a lot with that id. */
/* The product: the path's {product_id}, else the one product that has a
 * lot lot_id in the reader's snapshot. NULL with r filled when there is
 * none (404 UNKNOWN_LOT), two or more (409 AMBIGUOUS_LOT, listing them) or
 * the views cannot be read (503). Free the result. */
char *api_lot_product(api_request *rq, ll_views_reader *vr, const char *lot_id,
                      api_reply *r);
/* The same for a lot id given without a product where no path names one
 * (PATCH /v1/lots/{lot_id}, a move with only lot_id); unknown_status is the
 * status of UNKNOWN_LOT there. */
char *api_lot_product_of(ll_api *api, const char *lot_id,
                         unsigned unknown_status, api_reply *r);
/* 409 AMBIGUOUS_LOT naming the products (sorted). */
void api_reply_ambiguous_lot(api_reply *r, const char *lot_id,
                             char *const *products, size_t n);

/* ---- a cluster of instances (api_cluster.c) ---- */
struct ll_cluster *api_cluster(ll_api *api);
/* Another instance answers this request (forwarded, or asked of every
 * owner and merged): true with r filled; false when this one answers. */
bool api_cluster_route(api_request *rq, api_reply *r);
/* Does this instance serve the rows of this partition (or product)? It
 * does when it owns it, and always without peers. */
bool api_serves_partition(ll_api *api, int32_t partition);
/* Other instances are known: the API is one of a cluster of several. */
bool api_cluster_has_peers(ll_api *api);
bool api_serves_product(ll_api *api, const char *product_id);
/* A request on the cluster listener (ll_api_listen_cluster) that another
 * instance did not forward: that listener serves the instances only. */
bool api_cluster_misdirected(const api_request *rq);
/* GET /v1/cluster */
void api_get_cluster(api_request *rq, const char *id, api_reply *r);

/* ---- lots (api_read.c) ---- */
void api_get_lots(api_request *rq, const char *id, api_reply *r);
void api_get_lot(api_request *rq, const char *lot_id, api_reply *r);

/* ---- rejections (api_rejections.c) ---- */
void api_get_rejections(api_request *rq, const char *id, api_reply *r);
typedef struct api_rejection_index api_rejection_index;
api_rejection_index *api_rejection_index_new(void);
void api_rejection_index_free(api_rejection_index *ix);

/* Where a rejection stands in the rejections' order (newest first by
 * rejected_at, then partition, then offset), on one instance and merged
 * in a cluster; its text "REJECTED_AT_MS:PARTITION:OFFSET" is next_before. */
typedef struct api_rejection_key {
  int64_t rejected_at_ms;
  int32_t partition;
  int64_t offset;
} api_rejection_key;

#define API_REJECTION_KEY_MAX_BYTES 64
/* < 0 when a comes first (is newer), 0 when the same, > 0 after. */
int api_rejection_key_compare(const api_rejection_key *a,
                              const api_rejection_key *b);
/* false when text is not a key (digits, no signs, as formatted). */
bool api_rejection_key_parse(const char *text, api_rejection_key *k);
void api_rejection_key_format(const api_rejection_key *k,
                              char out[API_REJECTION_KEY_MAX_BYTES]);

/* ---- traceability reads (api_trace.c) ---- */
void api_get_lot_locations(api_request *rq, const char *lot_id, api_reply *r);
void api_get_lot_moves(api_request *rq, const char *lot_id, api_reply *r);
void api_get_lot_trace(api_request *rq, const char *lot_id, api_reply *r);
/* A trace in a cluster (api_trace_cluster.c): GET /v1/cluster/genealogy,
 * what one owner knows; api_trace_gather, the trace walked over every
 * owner (0 with out filled, n_nodes 0 for an unknown lot; -1 with r
 * filled). */
void api_get_cluster_genealogy(api_request *rq, const char *id, api_reply *r);
int api_trace_gather(api_request *rq, ll_views_reader *vr,
                     const char *product_id, const char *lot_id,
                     ll_trace_direction direction, unsigned depth_limit,
                     ll_trace *out, api_reply *r);
void api_get_location_lots(api_request *rq, const char *location, api_reply *r);
/* GET /v1/lots with expiring_before= or location=: the FEFO list. */
bool api_wants_fefo(const api_request *rq);
void api_get_lots_fefo(api_request *rq, api_reply *r);

/* ---- operations (api_ops.c) ---- */
/* Metrics families, collector, tokens, TLS check; -1 with err. */
int api_ops_start(ll_api *api, const ll_api_deps *deps, ll_err *err);
void api_ops_stop(ll_api *api);
/* Bearer-token check before dispatching, by the matched route's flags
 * (by the method when no route matched); false with r filled (401/403). */
bool api_authorize(api_request *rq, api_reply *r);
/* Called by the URI callback with MHD's own buffer: true when the query
 * has more than LL_API_QUERY_PARAMS_MAX parameters, and then the query is
 * emptied so that MHD does not parse it (see api_ops.c). */
bool api_guard_query(char *uri);
/* GET /healthz, /readyz, /metrics. */
void api_get_healthz(api_request *rq, const char *id, api_reply *r);
void api_get_readyz(api_request *rq, const char *id, api_reply *r);
void api_get_metrics(api_request *rq, const char *id, api_reply *r);
/* Count and time one finished request. */
void api_observe(api_request *rq);
/* GnuTLS priority string for HTTPS. */
const char *api_tls_priorities(void);

/* ---- writes (api_write.c) ---- */
/* POST /v1/lots (lot_id NULL), PATCH /v1/lots/{lot_id} and
 * /v1/products/{product_id}/lots/{lot_id}, POST /v1/moves. */
void api_write(api_request *rq, ll_event_type type, const char *lot_id,
               api_reply *r);
/* HTTP status for a rejection code of an event type (documented in
 * api_write.c). */
unsigned int api_status_for_rejection(ll_event_type type, ll_code code);

/* The answer of a write whose wait ended (its connection resumed). */
void api_write_finish(api_request *rq, api_reply *r);

/* ---- writes waiting for their outcome (api_wait.c) ---- */
typedef struct api_waits api_waits;

/* How far a waiting write got; or a read waiting for ?min_position=. */
typedef enum api_wait_phase {
  API_WAIT_DELIVERY, /* sent, Kafka has not acknowledged it yet */
  API_WAIT_OUTCOME,  /* acknowledged: the command consumer decides */
  API_WAIT_VIEWS,    /* accepted: the views have not reached it yet */
  API_WAIT_READ,     /* a read: the views have not reached its position */
} api_wait_phase;

/* Where a read waits for the views to be: a log position of this
 * instance, or a task position (a token P:N). */
typedef struct api_read_target {
  bool token;
  uint64_t position;      /* !token */
  int32_t partition;      /* token */
  uint64_t task_position; /* token */
} api_read_target;

/* A published write waiting for its answer. The waker thread alone moves
 * phase, seen and err on while the connection is suspended; the request
 * reads them once resumed. */
typedef struct api_pending {
  struct MHD_Connection *conn;
  ll_event ev;          /* what was published (owned) */
  uint64_t deadline_ns; /* ll_mono_ns clock: answer by then */
  api_wait_phase phase;
  api_read_target read; /* API_WAIT_READ: where the views must be */
  ll_seen seen;         /* the outcome, once found */
  bool maybe_rejected;  /* a rejection of its event id was stored */
  bool storage_failed;  /* reading the state failed: err says why */
  ll_err err;
  bool send_failed; /* the producer did not take it: send_error says why */
  char send_error[LL_MESSAGE_MAX_BYTES + 32]; /* a message and its kind */
  /* Under api_wait.c's lock: */
  int refs;         /* the request's and the delivery report's */
  bool delivered;   /* the report came */
  int delivery_err; /* librdkafka's code, 0: acknowledged */
  api_waits *waits; /* whose waker the report wakes (a reference) */
} api_pending;

/* Start / stop the waker (ll_api.c). close resumes every waiting write
 * and waits a little for their answers; free after libmicrohttpd stopped. */
int api_waits_start(ll_api *api, ll_err *err);
void api_waits_close(ll_api *api);
void api_waits_free(ll_api *api);
/* A pending write for ev (moved into it), to publish with
 * api_pending_delivered as the delivery callback and p as its argument;
 * api_pending_undelivered when the send failed (no report will come). */
api_pending *api_pending_new(ll_api *api, struct MHD_Connection *conn,
                             ll_event *ev, uint64_t deadline_ns);
void api_pending_delivered(void *arg, const ll_delivery_report *d);
void api_pending_undelivered(api_pending *p);
/* A read that waits until the views reach *t (API_WAIT_READ): nothing is
 * sent, so no report holds it; api_pending_drop it when it could not be
 * suspended. */
api_pending *api_pending_new_read(ll_api *api, struct MHD_Connection *conn,
                                  const api_read_target *t,
                                  uint64_t deadline_ns);
void api_pending_drop(api_pending *p);
/* Whether the views have reached *t. */
bool api_read_reached(ll_api *api, const api_read_target *t);
/* Whether the report came, and its code. */
bool api_pending_delivery(api_pending *p, int *err);
/* Suspend rq's connection until p can be answered; false (nothing
 * suspended) when the API is stopping. From the access handler only,
 * before the event is sent: an outcome is looked for among what the log
 * gets after this. */
bool api_wait_suspend(api_request *rq, api_pending *p);
/* The send of rq's suspended write failed: answer with why. */
void api_wait_send_failed(api_request *rq, const char *why);
/* The request is done with its pending write (answered, or the
 * connection ended). */
void api_wait_release(api_request *rq);

/* ---- holds (api_hold.c) ---- */
/* POST /v1/lots/{lot_id}/hold and /release (and the product-scoped
 * forms): a LotHeld or LotReleased through api_write. */
void api_post_hold(api_request *rq, const char *lot_id, api_reply *r);
void api_post_release(api_request *rq, const char *lot_id, api_reply *r);

/* ---- reports (api_reports.c) ---- */
void api_get_lot_partners(api_request *rq, const char *lot_id, api_reply *r);
void api_get_lot_balance(api_request *rq, const char *lot_id, api_reply *r);
void api_get_balance(api_request *rq, const char *id, api_reply *r);
void api_get_alerts(api_request *rq, const char *id, api_reply *r);
/* GET /v1/locations/{location_id}/lots with ?as_of= (api_trace.c hands
 * it over). */
void api_get_location_lots_as_of(api_request *rq, const char *location,
                                 api_reply *r);
/* ?property=KEY:VALUE into f (split at the first ':'); *held is the
 * malloc'd text f points into, to free after the list. -1 with a 400 in r
 * when it is not KEY:VALUE. */
int api_query_property(const api_request *rq, char **held, ll_lot_filter *f,
                       api_reply *r);

/* ---- the web console (api_ui.c) ---- */
/* GET /ui and /ui/{page}: the console's page or one of its files. */
void api_get_ui(api_request *rq, const char *id, api_reply *r);

/* ---- admin (api_admin.c) ---- */
/* POST /v1/admin/backup */
void api_admin_backup(api_request *rq, const char *id, api_reply *r);
extern const api_param api_backup_fields[];
/* Is the client on a loopback address? */
bool api_peer_is_loopback(struct MHD_Connection *conn);

/* ---- JSON mapping (api_json.c) ---- */
/* A JSON string for s (null when s is NULL); bytes that are not valid
 * UTF-8 become U+FFFD so the answer stays valid JSON. */
json_t *api_json_text(const char *s);
json_t *api_json_time(const ll_opt_time *t);
json_t *api_json_time_ms(int64_t ms);
json_t *api_json_decimal(int64_t micro);
json_t *api_json_lot(const ll_lot *lot);
/* A property map as a JSON object; a partner as {id, name} (null when
 * id is NULL); what an event carries beyond the fields every history
 * entry shows (uom, properties, partner, reason), added to j. */
json_t *api_json_props(const ll_props *p);
json_t *api_json_partner(const char *id, const char *name);
void api_json_event_extras(json_t *j, const ll_event *ev);
json_t *api_json_rejection(const struct ll_stored_rejection *rej);

/* The body fields each write accepts (the route table points at them). */
extern const api_param api_lot_create_fields[];
extern const api_param api_lot_update_fields[];
extern const api_param api_move_fields[];
extern const api_param api_lot_hold_fields[]; /* hold and release */
extern const api_param api_partner_fields[];  /* inside "partner" */
extern const api_param api_location_fields[]; /* inside "from" and "to" */
/* 400 naming the first member of obj not in fields (where: "the body",
 * "from"); false then, with r filled. */
bool api_check_fields(const json_t *obj, const api_param *fields,
                      const char *where, api_reply *r);

/* Fill ev's client-given fields from a JSON body. On failure returns -1
 * with r filled: 400 for an unknown field or a wrong JSON type, 422 for a
 * value that cannot be an event field (an unknown usage, a bad time or
 * quantity). lot_id is the path's lot id for LotUpdated. */
int api_event_from_json(ll_event_type type, const json_t *body,
                        const char *lot_id, ll_event *ev, api_reply *r);

#endif
