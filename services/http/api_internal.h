/* api_internal.h — what the HTTP API's files share (not a public header).
 *
 * The API is three files:
 *   ll_api.c     the daemon: listening, the request life cycle, routing and
 *                the read routes
 *   api_write.c  the write routes: event, field checks, publish, await
 *   api_json.c   the mapping between JSON and lotline's types
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
#include "ll_types.h"

#define LL_API_BODY_MAX_BYTES (1024 * 1024) /* request bodies: 1 MiB */
#define LL_API_THREADS 8 /* writes block a worker up to 5 s */
#define LL_API_CONNECTIONS_MAX 1024
#define LL_API_IDLE_TIMEOUT_S 60         /* idle keep-alive connections */
#define LL_API_WRITE_TIMEOUT_MS_MAX 5000 /* contract: outcome within 5 s */
#define LL_API_MIN_POSITION_WAIT_MS 5000 /* ?min_position= */
#define LL_API_POLL_INTERVAL_MS 2        /* outcome / views polling */
#define LL_API_READY_LAG_MAX 1000 /* /readyz: views this close to the log */
#define LL_API_ADDRESS_MAX 320    /* "HOST:PORT", host up to 255 + [] */
#define LL_API_SEGMENTS_MAX 6     /* path segments we route on */

struct ll_api {
  struct MHD_Daemon *daemon;
  ll_api_deps deps; /* inbound_topic points at our own copy */
  char *inbound_topic;
  int write_timeout_ms; /* clamped to 1..LL_API_WRITE_TIMEOUT_MS_MAX */
  char address[LL_API_ADDRESS_MAX];
  pthread_mutex_t codec_mu; /* the codec does not promise thread safety */
  atomic_bool stopping;     /* waits end early when the API stops */
  atomic_uint_fast64_t responses_by_class[6]; /* [2] = 2xx ... [5] = 5xx */
};

typedef struct api_reply {
  unsigned int status;
  char *body; /* malloc'd */
  size_t body_len;
  const char *content_type; /* static; NULL = application/json */
  const char *allow;        /* Allow header for 405, static */
  uint64_t position;        /* Lotline-Position header when > 0 */
} api_reply;

/* One HTTP request, from the URI callback to the completion callback. */
typedef struct api_request {
  ll_api *api;
  struct MHD_Connection *conn;
  char *raw_uri;      /* as sent, still percent-encoded */
  const char *method; /* MHD's string, valid during the request */
  bool started;
  bool body_too_large;
  ll_buf body;
  uint64_t started_ns;
  unsigned int status; /* answered status, for the request log */
} api_request;

/* ---- replies (ll_api.c) ---- */
void api_reply_init(api_reply *r);
void api_reply_free(api_reply *r);
/* Takes ownership of body (a JSON object or array). */
void api_reply_json(api_reply *r, unsigned int status, json_t *body);
void api_reply_error(api_reply *r, unsigned int status, const char *code,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Sleep one polling interval; false when the API is stopping. */
bool api_poll_pause(ll_api *api);
/* Wait until the views reach position or deadline_ns (monotonic) passes. */
bool api_wait_views(ll_api *api, uint64_t position, uint64_t deadline_ns);

/* ---- writes (api_write.c) ---- */
/* POST /v1/lots (lot_id NULL), PATCH /v1/lots/{lot_id}, POST /v1/moves. */
void api_write(api_request *rq, ll_event_type type, const char *lot_id,
               api_reply *r);
/* HTTP status for a rejection code of an event type (documented in
 * api_write.c). */
unsigned int api_status_for_rejection(ll_event_type type, ll_code code);

/* ---- admin (api_admin.c) ---- */
/* POST /v1/admin/backup */
void api_admin_backup(api_request *rq, api_reply *r);

/* ---- JSON mapping (api_json.c) ---- */
/* A JSON string for s (null when s is NULL); bytes that are not valid
 * UTF-8 become U+FFFD so the answer stays valid JSON. */
json_t *api_json_text(const char *s);
json_t *api_json_time(const ll_opt_time *t);
json_t *api_json_time_ms(int64_t ms);
json_t *api_json_decimal(int64_t micro);
json_t *api_json_lot(const ll_lot *lot);
json_t *api_json_rejection(const struct ll_stored_rejection *rej);

/* Fill ev's client-given fields from a JSON body. On failure returns -1
 * with r filled: 400 for a wrong JSON type, 422 for a value that cannot be
 * an event field (an unknown usage, a bad time or quantity). lot_id is the
 * path's lot id for LotUpdated. */
int api_event_from_json(ll_event_type type, const json_t *body,
                        const char *lot_id, ll_event *ev, api_reply *r);

#endif
