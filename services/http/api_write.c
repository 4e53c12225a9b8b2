/* api_write.c — the write routes: POST /v1/lots, PATCH /v1/lots/{lot_id},
 * POST /v1/moves.
 *
 * The API never changes state itself. A write becomes one event, published
 * to the inbound topic like any upstream system's, and the answer is the
 * command consumer's decision, read back from the log store's state:
 *
 *   1. parse the body (api_json.c) and build the event: event_id from the
 *      Idempotency-Key header or a random UUID v4, occurred_at = now (a
 *      retry of a key this process published keeps the first time);
 *   2. fill in the product where the client does not give it (a lot is
 *      (product_id, lot_id), and event ids are scoped by product): for
 *      PATCH the path's {product_id}, or on /v1/lots/{lot_id} the one
 *      product with a lot of that id (404 UNKNOWN_LOT when none, 409
 *      AMBIGUOUS_LOT when several: api_lot.c), and the lot must exist in
 *      the state (404); the body's "product_id" is new_product_id, which
 *      the rules refuse when it differs (409 PRODUCT_LOCKED). For a move
 *      without product_id, the one product with a lot of that lot_id;
 *   3. if the state already knows the event id under that product (a
 *      retried Idempotency-Key), answer without publishing again, whatever
 *      the route: the recorded outcome if the retry is the same request
 *      (same digest once the fields the API fills in itself are taken from
 *      the first attempt), else 409 EVENT_ID_REUSED (the one rule:
 *      docs/concepts.md, "Event ids and idempotency"). Then
 *      ll_check_fields(): what needs no state is answered at once (422),
 *      without publishing;
 *   4. encode (Avro single-object), send to the inbound topic keyed by
 *      product_id; the broker's acknowledgement comes back on the
 *      producer's thread;
 *   5. wait for the event id's outcome in the state, woken by each commit
 *      of the log (no polling);
 *   6. accepted: wait for the views to reach the event's log position so
 *      that a following GET sees the write, then answer with the lot.
 * All of it within write_timeout_ms (<= 5 s) from the moment the body is
 * read. Steps 4 to 6 hold no MHD worker thread: the connection is
 * suspended while the write waits (api_wait.c), and resumed to answer
 * (api_write_finish).
 *
 * Status mapping:
 *   201  POST /v1/lots accepted: the lot. POST /v1/moves accepted:
 *        {"event_id","position","token","lot"}. Headers Lotline-Position:
 *        N (this instance's log) and Lotline-Token: P:N (partition, task
 *        position: the same on every instance).
 *   200  PATCH accepted: the lot. The same headers.
 *   400  BAD_REQUEST: body missing, not JSON, not an object, a field of the
 *        wrong JSON type (a quantity must be a string), body over 1 MiB, an
 *        Idempotency-Key that is not 1..255 characters of printable text,
 *        lot_id in a PATCH body that differs from the path.
 *   404  UNKNOWN_LOT on PATCH (checked before publishing, and the rule's
 *        answer if the lot vanished in between).
 *   409  AMBIGUOUS_LOT: PATCH /v1/lots/{lot_id} or a move without
 *        product_id whose lot id two or more products use (body also has
 *        "products"), before publishing.
 *   409  DUPLICATE_LOT, LOT_ID_TAKEN, VERSION_CONFLICT, EVENT_ID_REUSED,
 *        PRODUCT_LOCKED, SERIAL_ALREADY_IN_STOCK, LOCATION_USAGE_CONFLICT.
 *   422  every other rejection code (field checks before publishing, rules
 *        after), including UNKNOWN_LOT on a move.
 *   503  UNAVAILABLE: no producer in this process, the broker did not
 *        acknowledge in time, the outcome did not arrive in time ("timed
 *        out waiting for the outcome": the event may still be decided
 *        later; retry with the same Idempotency-Key), a storage error.
 * Every error body is {"code","message"}.
 *
 * If the views are still behind when the deadline comes, an accepted write
 * is answered from the state's copy of the lot (it is accepted: a 503 would
 * invite a retry without an Idempotency-Key) and the Lotline-Position
 * header tells the client which ?min_position= to read at. */
#include <assert.h>
#include <librdkafka/rdkafka.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "ll_codec.h"
#include "ll_event.h"
#include "ll_kafka.h"
#include "ll_logging.h"
#include "ll_mem.h"
#include "ll_rules.h"
#include "ll_state.h"
#include "ll_store.h"
#include "ll_text.h"
#include "ll_time.h"
#include "ll_views.h"

#define NS_PER_MS 1000000ULL
/* Event ids published lately, remembered with their occurred_at (see
 * published_time). A client retries within seconds; this many writes is
 * minutes of traffic for one API process. */
#define API_PUBLISHED_MAX 4096

/* A publication that timed out may still reach Kafka, and a retry with the
 * same Idempotency-Key publishes again. Both copies must be the same event
 * (the second is then a silent duplicate), not two events under one id
 * (EVENT_ID_REUSED): so a retry reuses the first attempt's occurred_at.
 * Process-wide ring of recent publications; a retry that reaches another
 * API process gets a fresh occurred_at. */
typedef struct published {
  char *event_id;
  int64_t occurred_at_ms;
} published;

static pthread_mutex_t published_mu = PTHREAD_MUTEX_INITIALIZER;
static published published_ring[API_PUBLISHED_MAX];
static size_t published_next;

static void published_remember(const char *event_id, int64_t occurred_at_ms) {
  pthread_mutex_lock(&published_mu);
  published *p = &published_ring[published_next++ % API_PUBLISHED_MAX];
  free(p->event_id);
  p->event_id = ll_strdup(event_id);
  p->occurred_at_ms = occurred_at_ms;
  pthread_mutex_unlock(&published_mu);
}

/* The occurred_at an event id was last published with, else now. */
static int64_t published_time(const char *event_id) {
  int64_t t = ll_now_ms();
  pthread_mutex_lock(&published_mu);
  for (size_t i = 0; i < API_PUBLISHED_MAX; i++) {
    /* Newest first: a key reused long ago and again now gets the latest. */
    size_t k = (published_next + API_PUBLISHED_MAX - 1 - i) % API_PUBLISHED_MAX;
    if (published_ring[k].event_id == NULL)
      break;
    if (strcmp(published_ring[k].event_id, event_id) == 0) {
      t = published_ring[k].occurred_at_ms;
      break;
    }
  }
  pthread_mutex_unlock(&published_mu);
  return t;
}

unsigned int api_status_for_rejection(ll_event_type type, ll_code code) {
  switch (code) {
  case LL_UNKNOWN_LOT:
    return type == LL_EV_STOCK_MOVED || type == LL_EV_LOT_CREATED
               ? MHD_HTTP_UNPROCESSABLE_CONTENT
               : MHD_HTTP_NOT_FOUND; /* the lot the path names */
  case LL_DUPLICATE_LOT:
  case LL_LOT_ID_TAKEN:
  case LL_VERSION_CONFLICT:
  case LL_EVENT_ID_REUSED:
  case LL_PRODUCT_LOCKED:
  case LL_SERIAL_ALREADY_IN_STOCK:
  case LL_LOCATION_USAGE_CONFLICT:
    return MHD_HTTP_CONFLICT;
  default:
    return MHD_HTTP_UNPROCESSABLE_CONTENT;
  }
}

static void reply_rejection(api_reply *r, ll_event_type type, ll_code code,
                            const char *message) {
  api_reply_error(r, api_status_for_rejection(type, code), ll_code_name(code),
                  "%s", message);
}

static void reply_storage_error(api_reply *r, const ll_err *err) {
  api_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                  "storage error: %s", err->message);
}

/* A random UUID v4 (RFC 4122 section 4.4). */
static int new_uuid_v4(char out[37]) {
  uint8_t b[16];
  if (RAND_bytes(b, sizeof b) != 1)
    return -1;
  b[6] = (uint8_t)((b[6] & 0x0F) | 0x40);
  b[8] = (uint8_t)((b[8] & 0x3F) | 0x80);
  snprintf(out, 37,
           "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
           "%02x%02x%02x%02x%02x%02x",
           b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
           b[11], b[12], b[13], b[14], b[15]);
  return 0;
}

/* The event id: the Idempotency-Key, else a random UUID (*keyed false:
 * no earlier request can have used it). */
static int take_event_id(api_request *rq, ll_event *ev, bool *keyed,
                         api_reply *r) {
  const char *key =
      MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Idempotency-Key");
  *keyed = key != NULL;
  if (key != NULL) {
    if (ll_text_blank(key) ||
        ll_text_check(key, LL_TEXT_MAX_CHARS, 0, false) != LL_TEXT_OK) {
      api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                      "Idempotency-Key must be 1..%d characters of "
                      "printable UTF-8",
                      LL_TEXT_MAX_CHARS);
      return -1;
    }
    ev->event_id = ll_strdup(key);
    return 0;
  }
  char uuid[37];
  if (new_uuid_v4(uuid) != 0) {
    api_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                    "no random bytes for an event id; send an "
                    "Idempotency-Key header");
    return -1;
  }
  ev->event_id = ll_strdup(uuid);
  return 0;
}

/* PATCH, hold and release name their lot in the path. */
static bool lot_from_path(const ll_event *ev) {
  return ev->type == LL_EV_LOT_UPDATED || ev->type == LL_EV_LOT_HELD ||
         ev->type == LL_EV_LOT_RELEASED;
}

/* Does the event carry a product the API fills in itself (PATCH: the lot's
 * product; a move given only lot_id: the lot's product)? */
static bool product_derived(const ll_event *ev) {
  return lot_from_path(ev) || (ev->type == LL_EV_STOCK_MOVED &&
                               ev->product_id == NULL && ev->lot_id != NULL);
}

/* A PATCH must name a lot the state has: 404 before anything is
 * published. Not 0 with r filled. */
static int require_state_lot(ll_api *api, const ll_event *ev, api_reply *r) {
  ll_state_reader reader = ll_store_state_reader(api->deps.log);
  ll_lot lot;
  ll_lot_init(&lot);
  ll_err err = {0};
  bool found = false;
  int rc =
      ll_state_get_lot(&reader, ev->product_id, ev->lot_id, &lot, &found, &err);
  ll_lot_free(&lot);
  if (rc != 0) {
    reply_storage_error(r, &err);
    return -1;
  }
  if (!found) {
    api_reply_unknown_lot(r, ev->product_id, ev->lot_id);
    return -1;
  }
  return 0;
}

/* The product the event must carry when the client did not (or, for PATCH,
 * cannot) give it: the path's, else the one product with a lot of that id
 * (api_lot.c). */
static int fill_product(api_request *rq, ll_event *ev, api_reply *r) {
  if (!product_derived(ev))
    return 0;
  const char *named = api_path_param(rq, "product_id");
  char *product =
      named != NULL
          ? ll_strdup(named)
          : api_lot_product_of(
                rq->api, ev->lot_id,
                api_status_for_rejection(ev->type, LL_UNKNOWN_LOT), r);
  if (product == NULL)
    return -1;
  free(ev->product_id);
  ev->product_id = product;
  return lot_from_path(ev) ? require_state_lot(rq->api, ev, r) : 0;
}

static int get_seen(ll_api *api, const ll_event *ev, ll_seen *seen,
                    api_reply *r) {
  ll_state_reader reader = ll_store_state_reader(api->deps.log);
  ll_err err = {0};
  memset(seen, 0, sizeof *seen);
  if (ll_state_get_seen(&reader, ev->product_id, ev->event_id, seen, &err) !=
      0) {
    reply_storage_error(r, &err);
    return -1;
  }
  return 0;
}

/* 503 for a write Kafka did not take: it may still arrive (librdkafka
 * retries until its message timeout), so only a retry with the same event
 * id is safe: say which. */
static void reply_unpublished(ll_api *api, const ll_event *ev, const char *why,
                              api_reply *r) {
  ll_log(LL_WARN, "http", "publishing event %s failed: %s", ev->event_id, why);
  api_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                  "could not publish to %s: %s; the event may still be "
                  "delivered: retry with Idempotency-Key: %s",
                  api->deps.inbound_topic, why, ev->event_id);
}

static void reply_no_outcome(const ll_event *ev, api_reply *r) {
  api_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                  "timed out waiting for the outcome of event %s; it "
                  "may still be decided: retry with Idempotency-Key: %s",
                  ev->event_id, ev->event_id);
}

static int encode_event(ll_api *api, const ll_event *ev, ll_buf *value,
                        api_reply *r) {
  ll_err err = {0};
  pthread_mutex_lock(&api->codec_mu);
  int rc = ll_codec_encode(api->deps.codec, ev, value, &err);
  pthread_mutex_unlock(&api->codec_mu);
  if (rc != 0)
    api_reply_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT,
                    ll_code_name(LL_INVALID_FIELD), "%s", err.message);
  return rc;
}

/* Publish the event and suspend the connection until its answer is known
 * (api_wait.c): no worker thread is held while Kafka acknowledges, the
 * command consumer decides and the views catch up. ev is moved into the
 * pending write. Without a suspension r is filled. */
static void publish_and_wait(api_request *rq, ll_event *ev,
                             uint64_t deadline_ns, api_reply *r) {
  ll_api *api = rq->api;
  assert(ev->product_id != NULL); /* ll_check_fields requires it */
  ll_buf value;
  ll_buf_init(&value);
  if (encode_event(api, ev, &value, r) != 0) {
    ll_buf_free(&value);
    return;
  }
  if (ll_mono_ns() >= deadline_ns) {
    reply_unpublished(api, ev, "no time left to publish", r);
    ll_buf_free(&value);
    return;
  }
  api_pending *p = api_pending_new(api, rq->conn, ev, deadline_ns);
  if (!api_wait_suspend(rq, p)) {
    api_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                    "the API is stopping; event %s was not published",
                    p->ev.event_id);
    api_pending_undelivered(p); /* nothing sent */
    api_pending_undelivered(p); /* and the request's reference */
    ll_buf_free(&value);
    return;
  }
  /* Even a random id: a 503 tells the client to retry with it as its
   * key. */
  published_remember(p->ev.event_id, p->ev.occurred_at_ms);
  ll_err err = {0};
  int rc = ll_producer_send_tracked(api->deps.producer, api->deps.inbound_topic,
                                    p->ev.product_id, strlen(p->ev.product_id),
                                    value.data, value.len,
                                    api_pending_delivered, p, 0, &err);
  ll_buf_free(&value);
  if (rc != 0) {
    char why[LL_MESSAGE_MAX_BYTES + 32];
    snprintf(why, sizeof why, "%s (%s)", err.message,
             ll_err_kind_name(err.kind));
    api_wait_send_failed(rq, why);
    api_pending_undelivered(p); /* no report will come */
  }
}

/* The log entry at position, or false. */
static bool read_entry(ll_api *api, uint64_t position, ll_entry *e) {
  size_t n = 0;
  ll_err err = {0};
  if (ll_store_read_log(api->deps.log, position, e, 1, &n, &err) != 0) {
    ll_log(LL_WARN, "http", "reading log position %llu (%s): %s",
           (unsigned long long)position, ll_err_kind_name(err.kind),
           err.message);
    return false;
  }
  return n == 1;
}

/* The lot a move addressed only by name: the views' lot with that
 * (product, name). */
static int find_lot_by_name(ll_api *api, const char *product_id,
                            const char *name, ll_lot *lot, bool *found,
                            ll_err *err) {
  char *trimmed = ll_text_trim_dup(name);
  ll_lot_filter f = {.product_id = product_id, .name = trimmed, .limit = 1};
  ll_lot *lots = NULL;
  size_t n = 0;
  char *next = NULL;
  int rc = ll_views_list_lots(api->deps.views, &f, &lots, &n, &next, err);
  free(trimmed);
  if (rc != 0)
    return -1;
  *found = n > 0;
  if (n > 0)
    ll_lot_copy(lot, &lots[0]);
  ll_lots_free(lots, n);
  free(next);
  return 0;
}

/* The lot to answer an accepted write with: from the views once they hold
 * the write, else the state's copy. */
static int load_answer_lot(ll_api *api, const ll_event *ev, uint64_t position,
                           uint64_t deadline_ns, ll_lot *lot, bool *found,
                           api_reply *r) {
  bool caught_up = api_wait_views(api, position, deadline_ns);
  ll_err err = {0};
  *found = false;
  char *lot_id = ll_strdup(ev->lot_id);
  if (lot_id == NULL) {
    /* A move by lot_name: the log entry may carry the resolved id. */
    ll_entry e;
    memset(&e, 0, sizeof e);
    if (read_entry(api, position, &e)) {
      lot_id = ll_strdup(e.event.lot_id);
      ll_entry_free(&e);
    }
  }
  int rc = 0;
  if (caught_up) {
    if (lot_id != NULL)
      rc = ll_views_get_lot(api->deps.views, ev->product_id, lot_id, lot, found,
                            &err);
    else
      rc =
          find_lot_by_name(api, ev->product_id, ev->lot_name, lot, found, &err);
  } else {
    ll_log(LL_WARN, "http",
           "views at %llu have not reached position %llu in time; answering "
           "from the command state",
           (unsigned long long)ll_views_position(api->deps.views),
           (unsigned long long)position);
  }
  if (rc == 0 && !*found && lot_id != NULL) {
    ll_state_reader reader = ll_store_state_reader(api->deps.log);
    ll_lot_free(lot);
    ll_lot_init(lot);
    rc = ll_state_get_lot(&reader, ev->product_id, lot_id, lot, found, &err);
  }
  free(lot_id);
  if (rc != 0) {
    reply_storage_error(r, &err);
    return -1;
  }
  return 0;
}

static void answer_outcome(ll_api *api, const ll_event *ev, const ll_seen *seen,
                           uint64_t deadline_ns, api_reply *r) {
  assert(seen->found);
  if (!seen->accepted) {
    reply_rejection(r, ev->type, seen->code, seen->message);
    return;
  }
  ll_lot lot;
  ll_lot_init(&lot);
  bool found = false;
  if (load_answer_lot(api, ev, seen->position, deadline_ns, &lot, &found, r) !=
      0) {
    ll_lot_free(&lot);
    return;
  }
  json_t *lot_json = found ? api_json_lot(&lot) : json_null();
  ll_lot_free(&lot);
  snprintf(r->token, sizeof r->token, "%d:%llu", (int)seen->partition,
           (unsigned long long)seen->task_position);
  if (ev->type == LL_EV_STOCK_MOVED) {
    json_t *body = json_object();
    json_object_set_new(body, "event_id", api_json_text(ev->event_id));
    json_object_set_new(body, "position",
                        json_integer((json_int_t)seen->position));
    json_object_set_new(body, "token", json_string(r->token));
    json_object_set_new(body, "lot", lot_json);
    api_reply_json(r, MHD_HTTP_CREATED, body);
  } else if (!found) {
    json_decref(lot_json);
    api_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                    "event %s was accepted at position %llu but the lot is "
                    "not readable yet",
                    ev->event_id, (unsigned long long)seen->position);
  } else {
    api_reply_json(
        r, ev->type == LL_EV_LOT_CREATED ? MHD_HTTP_CREATED : MHD_HTTP_OK,
        lot_json);
  }
  r->position = seen->position;
}

/* The digest the command consumer computed: over the event as decoded from
 * the wire, so whatever the Avro round trip normalizes is normalized here
 * too. Without a codec (or if it fails) the event as built. */
static void digest_as_published(ll_api *api, const ll_event *ev,
                                uint8_t digest[32]) {
  if (api->deps.codec != NULL) {
    ll_buf wire;
    ll_buf_init(&wire);
    ll_event decoded;
    ll_event_init(&decoded);
    ll_err err = {0};
    bool retry_later = false;
    pthread_mutex_lock(&api->codec_mu);
    bool ok = ll_codec_encode(api->deps.codec, ev, &wire, &err) == 0 &&
              ll_codec_decode(api->deps.codec, wire.data, wire.len, &decoded,
                              &retry_later, &err) == LL_OK &&
              !retry_later;
    pthread_mutex_unlock(&api->codec_mu);
    if (ok)
      ll_event_digest(&decoded, digest);
    ll_event_free(&decoded);
    ll_buf_free(&wire);
    if (ok)
      return;
  }
  ll_event_digest(ev, digest);
}

/* Put back into a retried request the fields the API filled in itself the
 * first time, so that its digest can be compared with the recorded one.
 * Accepted: occurred_at from the log entry. Rejected: occurred_at from the
 * event id's record (records written before it was kept: the time this
 * process published the id with, already in ev from published_time). The
 * derived product is the one the id was found under (fill_product).
 * Returns -1 with a 503 answer when the log cannot be read. */
static int restore_filled_fields(ll_api *api, ll_event *ev, const ll_seen *seen,
                                 api_reply *r) {
  if (seen->accepted) {
    ll_entry e;
    memset(&e, 0, sizeof e);
    if (!read_entry(api, seen->position, &e)) {
      /* Not a 409: a client told to change its key could apply the write
       * twice. */
      api_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                      "event %s was accepted at log position %llu, which "
                      "cannot be read now: retry",
                      ev->event_id, (unsigned long long)seen->position);
      return -1;
    }
    if (e.event.type == ev->type)
      ev->occurred_at_ms = e.event.occurred_at_ms;
    ll_entry_free(&e);
    return 0;
  }
  if (seen->occurred_at_known)
    ev->occurred_at_ms = seen->occurred_at_ms;
  return 0;
}

static void reply_reused(api_reply *r, const ll_event *ev,
                         const ll_seen *seen) {
  if (seen->accepted)
    api_reply_error(r, MHD_HTTP_CONFLICT, ll_code_name(LL_EVENT_ID_REUSED),
                    "event id %s was already used for a different event "
                    "(accepted at position %llu of partition %d); send a "
                    "new Idempotency-Key for a new request",
                    ev->event_id, (unsigned long long)seen->task_position,
                    (int)seen->partition);
  else
    api_reply_error(r, MHD_HTTP_CONFLICT, ll_code_name(LL_EVENT_ID_REUSED),
                    "event id %s was already used for a different event "
                    "(rejected with %s); send a new Idempotency-Key for a "
                    "new request",
                    ev->event_id, ll_code_name(seen->code));
}

/* A used event id (a retried Idempotency-Key), before any other check, as
 * the command consumer does (docs/concepts.md, "Event ids and
 * idempotency"): the same request gets the recorded outcome, accepted or
 * rejected; any other request, on any route, is 409 EVENT_ID_REUSED. */
static void answer_replay(ll_api *api, ll_event *ev, const ll_seen *seen,
                          uint64_t deadline_ns, api_reply *r) {
  if (restore_filled_fields(api, ev, seen, r) != 0)
    return;
  uint8_t digest[32];
  bool same = false;
  if (ev->product_id != NULL) { /* every published event has one */
    digest_as_published(api, ev, digest);
    same = memcmp(digest, seen->digest, sizeof digest) == 0;
  }
  if (!same) {
    reply_reused(r, ev, seen);
    return;
  }
  answer_outcome(api, ev, seen, deadline_ns, r);
}

void api_write(api_request *rq, ll_event_type type, const char *lot_id,
               api_reply *r) {
  ll_api *api = rq->api;
  uint64_t deadline_ns =
      ll_mono_ns() + (uint64_t)api->write_timeout_ms * NS_PER_MS;
  if (rq->body.len == 0) {
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "a JSON object body is required");
    return;
  }
  json_error_t jerr;
  json_t *body = json_loadb((const char *)rq->body.data, rq->body.len,
                            JSON_REJECT_DUPLICATES, &jerr);
  if (body == NULL) {
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "malformed JSON at line %d, column %d: %s", jerr.line,
                    jerr.column, jerr.text);
    return;
  }
  ll_event ev;
  ll_event_init(&ev);
  ev.type = type;
  if (!json_is_object(body)) {
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "the body must be a JSON object");
    goto out;
  }
  bool keyed = false;
  if (take_event_id(rq, &ev, &keyed, r) != 0)
    goto out;
  ev.occurred_at_ms = keyed ? published_time(ev.event_id) : ll_now_ms();
  if (api_event_from_json(type, body, lot_id, &ev, r) != 0)
    goto out;

  if (fill_product(rq, &ev, r) != 0)
    goto out;
  /* Only a client's key can name an event id used before. Looking for
   * one the state does not know reads every journal record not applied
   * yet (ll_store_journal.c): a random id is spared that. */
  ll_seen seen;
  if (keyed && get_seen(api, &ev, &seen, r) != 0)
    goto out;
  if (keyed && seen.found) {
    answer_replay(api, &ev, &seen, deadline_ns, r);
    goto out;
  }

  ll_err err = {0};
  ll_code code = ll_check_fields(&ev, &err);
  if (code != LL_OK) {
    reply_rejection(r, type, code, err.message);
    goto out;
  }

  if (api->deps.producer == NULL) {
    api_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                    "writes are disabled: this process has no Kafka "
                    "producer");
    goto out;
  }
  publish_and_wait(rq, &ev, deadline_ns, r);
out:
  ll_event_free(&ev);
  json_decref(body);
}

void api_write_finish(api_request *rq, api_reply *r) {
  api_pending *p = rq->pending;
  assert(p != NULL);
  int kafka_err = 0;
  bool delivered = api_pending_delivery(p, &kafka_err);
  if (p->send_failed)
    reply_unpublished(rq->api, &p->ev, p->send_error, r);
  else if (p->storage_failed)
    reply_storage_error(r, &p->err);
  else if (p->seen.found)
    answer_outcome(rq->api, &p->ev, &p->seen, p->deadline_ns, r);
  else if (delivered && kafka_err != 0)
    reply_unpublished(rq->api, &p->ev, rd_kafka_err2str(kafka_err), r);
  else if (!delivered)
    reply_unpublished(rq->api, &p->ev, "Kafka did not acknowledge it in time",
                      r);
  else
    reply_no_outcome(&p->ev, r);
  api_wait_release(rq);
}
