/* api_trace.c — the traceability read routes and their JSON shapes.
 *
 * Each lot route exists twice: /v1/lots/{lot_id}/... and
 * /v1/products/{product_id}/lots/{lot_id}/..., the same answer; the first
 * needs the lot id to be used by one product only (api_lot.c: else 409
 * AMBIGUOUS_LOT).
 *
 *   GET /v1/lots/{lot_id}/locations[?all=1][&as_of=P|T]
 *       {"lot_id","product_id","on_hand","locations":[{"location","usage",
 *       "quantity"}]}. With as_of, what that answer was at log position P
 *       (digits) or at time T (RFC 3339: the entries recorded at or before
 *       T), replayed from the lot's history, plus "as_of":{"position":P} or
 *       {"time":T} and "last_event_position" (the lot's last event taken
 *       in, 0 for none). A position the views have not reached yet is
 *       waited for like ?min_position=. 404 UNKNOWN_LOT if the lot does not
 *       exist, or did not exist yet at that moment. This is the one route
 *       that takes as_of: only the lot's history can be replayed to a past
 *       moment; the trace and location views keep the present only, so
 *       their routes refuse as_of like any unknown parameter.
 *   GET /v1/lots/{lot_id}/moves[?limit=&cursor=]
 *       {"lot_id","events":[event],"next_cursor"}: every accepted event of
 *       the lot, oldest first. An event is {"position","type","event_id",
 *       "occurred_at","recorded_at","product_id"} plus, for StockMoved,
 *       "quantity","from":{"id","usage"},"to":{...},"reference"; for
 *       LotCreated "name","tracking","reference","description" and the four
 *       dates; for LotUpdated only the values it changed ("" = cleared,
 *       "new_product_id", "expected_version"). The cursor is the last
 *       position of the page, as a string.
 *   GET /v1/lots/{lot_id}/trace[?direction=downstream|upstream][&depth=N]
 *       {"lot_id","direction","depth_limit","truncated","lot_count","tree",
 *       "deliveries"}. tree is a node {"lot_id","product_id","name",
 *       "links":[{"reference","consumed","produced"}],"repeat","truncated",
 *       "children":[node]}; links join a node to its parent. repeat: the lot
 *       is expanded elsewhere in the tree (a cycle or a diamond).
 *       truncated: it has more links than shown (depth or size limit).
 *       deliveries (downstream only): [{"position","lot_id","product_id",
 *       "location","quantity","reference","occurred_at","recorded_at"}] of
 *       every lot in the tree to CUSTOMER locations. depth 1..32, default
 *       32 (LL_TRACE_DEPTH_MAX). In a cluster of several instances the
 *       same answer is walked over every owner (api_trace_cluster.c),
 *       without Lotline-Position.
 *   GET /v1/locations/{location_id}/lots[?children=1][&limit=&cursor=]
 *       {"location","children","lots":[{"lot_id","product_id","name",
 *       "usage","quantity","on_hand"}],"next_cursor"}: lots with a non-zero
 *       quantity in the location, or with children=1 in it and every
 *       location below it ("WH/Stock/..."; usage is null there). (lot_id,
 *       product_id) order; the cursor is opaque.
 *   GET /v1/lots?expiring_before=T&location=L[&children=1][&product_id=]
 *       {"lots":[lot + "location_on_hand" with a location],"next_cursor"}:
 *       on-hand lots in FEFO order (removal date, or expiration when there
 *       is none, then expiration), only those due before T, only those on
 *       hand at L (or under it with children=1). name= and q= do not
 *       combine with these (400).
 *
 * Every answer is read from one views snapshot and carries the log position
 * it stands at in the Lotline-Position header, so a client can tell exactly
 * which events an answer includes. */
#include <assert.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "ll_event.h"
#include "ll_mem.h"
#include "ll_time.h"
#include "ll_views.h"

#define NS_PER_MS 1000000ULL

/* ---- JSON writers ---- */

static json_t *json_location(const ll_location *loc) {
  json_t *j = json_object();
  json_object_set_new(j, "id", api_json_text(loc->id));
  json_object_set_new(j, "usage", json_string(ll_usage_name(loc->usage)));
  return j;
}

static json_t *json_lot_locations(const ll_lot_location *locs, size_t n) {
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) {
    json_t *l = json_object();
    json_object_set_new(l, "location", api_json_text(locs[i].location));
    json_object_set_new(l, "usage", json_string(ll_usage_name(locs[i].usage)));
    json_object_set_new(l, "quantity",
                        api_json_decimal(locs[i].quantity_micro));
    json_array_append_new(arr, l);
  }
  return arr;
}

/* A LotUpdated date is shown only when the event sets it. */
static void set_time_if(json_t *j, const char *key, const ll_opt_time *t) {
  if (t->set)
    json_object_set_new(j, key, api_json_time(t));
}

static void set_text_if(json_t *j, const char *key, const char *s) {
  if (s != NULL)
    json_object_set_new(j, key, api_json_text(s));
}

static json_t *json_history_entry(const ll_history_entry *h) {
  const ll_event *ev = &h->event;
  json_t *j = json_object();
  json_object_set_new(j, "position", json_integer((json_int_t)h->position));
  json_object_set_new(j, "token",
                      api_json_token(h->partition, h->task_position));
  json_object_set_new(j, "type", json_string(ll_event_type_name(ev->type)));
  json_object_set_new(j, "event_id", api_json_text(ev->event_id));
  json_object_set_new(j, "occurred_at", api_json_time_ms(ev->occurred_at_ms));
  json_object_set_new(j, "recorded_at", api_json_time_ms(h->recorded_at_ms));
  json_object_set_new(j, "product_id", api_json_text(ev->product_id));
  switch (ev->type) {
  case LL_EV_STOCK_MOVED:
    json_object_set_new(j, "quantity", api_json_decimal(ev->quantity_micro));
    json_object_set_new(j, "from", json_location(&ev->from));
    json_object_set_new(j, "to", json_location(&ev->to));
    json_object_set_new(j, "reference", api_json_text(ev->reference));
    break;
  case LL_EV_LOT_CREATED:
    json_object_set_new(j, "name", api_json_text(ev->name));
    json_object_set_new(j, "tracking",
                        json_string(ll_tracking_name(ev->tracking)));
    json_object_set_new(j, "reference", api_json_text(ev->reference));
    json_object_set_new(j, "description", api_json_text(ev->description));
    json_object_set_new(j, "expiration_at", api_json_time(&ev->expiration_at));
    json_object_set_new(j, "use_by_at", api_json_time(&ev->use_by_at));
    json_object_set_new(j, "removal_at", api_json_time(&ev->removal_at));
    json_object_set_new(j, "alert_at", api_json_time(&ev->alert_at));
    break;
  default: /* LotUpdated: what it changes */
    set_text_if(j, "name", ev->name);
    set_text_if(j, "new_product_id", ev->new_product_id);
    set_text_if(j, "reference", ev->reference);
    set_text_if(j, "description", ev->description);
    set_time_if(j, "expiration_at", &ev->expiration_at);
    set_time_if(j, "use_by_at", &ev->use_by_at);
    set_time_if(j, "removal_at", &ev->removal_at);
    set_time_if(j, "alert_at", &ev->alert_at);
    if (ev->has_expected_version)
      json_object_set_new(j, "expected_version",
                          json_integer(ev->expected_version));
    break;
  }
  api_json_event_extras(j, ev);
  return j;
}

static json_t *json_trace_node(const ll_trace_node *n) {
  json_t *j = json_object();
  json_object_set_new(j, "lot_id", api_json_text(n->lot_id));
  json_object_set_new(j, "product_id", api_json_text(n->product_id));
  json_object_set_new(j, "name", api_json_text(n->name));
  json_t *links = json_array();
  for (size_t i = 0; i < n->n_links; i++) {
    json_t *l = json_object();
    json_object_set_new(l, "reference", api_json_text(n->links[i].reference));
    json_object_set_new(l, "consumed",
                        api_json_decimal(n->links[i].consumed_micro));
    json_object_set_new(l, "produced",
                        api_json_decimal(n->links[i].produced_micro));
    json_array_append_new(links, l);
  }
  json_object_set_new(j, "links", links);
  json_object_set_new(j, "repeat", json_boolean(n->repeat));
  json_object_set_new(j, "truncated", json_boolean(n->truncated));
  json_object_set_new(j, "children", json_array());
  return j;
}

static json_t *json_delivery(const ll_delivery *d) {
  json_t *j = json_object();
  json_object_set_new(j, "position", json_integer((json_int_t)d->position));
  json_object_set_new(j, "token",
                      api_json_token(d->partition, d->task_position));
  json_object_set_new(j, "lot_id", api_json_text(d->lot_id));
  json_object_set_new(j, "product_id", api_json_text(d->product_id));
  json_object_set_new(j, "location", api_json_text(d->location));
  json_object_set_new(j, "quantity", api_json_decimal(d->quantity_micro));
  json_object_set_new(j, "reference", api_json_text(d->reference));
  json_object_set_new(j, "occurred_at", api_json_time_ms(d->occurred_at_ms));
  json_object_set_new(j, "recorded_at", api_json_time_ms(d->recorded_at_ms));
  json_object_set_new(j, "partner",
                      api_json_partner(d->partner_id, d->partner_name));
  return j;
}

/* The nodes (breadth-first, parents first) as one nested tree. */
static json_t *json_trace_tree(const ll_trace *t) {
  assert(t->n_nodes > 0);
  json_t **made = ll_xcalloc(t->n_nodes, sizeof *made);
  for (size_t i = 0; i < t->n_nodes; i++) {
    made[i] = json_trace_node(&t->nodes[i]);
    if (i == 0)
      continue;
    size_t parent = t->nodes[i].parent;
    assert(parent < i);
    json_array_append_new(json_object_get(made[parent], "children"), made[i]);
  }
  json_t *root = made[0];
  free(made);
  return root;
}

/* ---- shared steps ---- */

/* Open a reader; on failure r holds a 503. */
static ll_views_reader *open_reader(api_request *rq, api_reply *r) {
  ll_err err = {0};
  ll_views_reader *vr = ll_views_reader_open(rq->api->deps.views, &err);
  if (vr == NULL)
    api_reply_storage_error(r, &err);
  return vr;
}

/* Reply with body, stamped with the reader's position. */
static void reply_read(api_reply *r, ll_views_reader *vr, json_t *body) {
  api_reply_json(r, MHD_HTTP_OK, body);
  r->position = ll_views_reader_position(vr);
}

static void bad_request(api_reply *r, const char *message) {
  api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST", "%s", message);
}

/* The lot the route names (api_lot.c), in the reader's snapshot. lot is
 * initialised either way. On a storage error r is filled and -1 returned;
 * a lot that is not there (or not one: AMBIGUOUS_LOT) fills r and returns
 * 1. */
static int require_lot(api_request *rq, ll_views_reader *vr, const char *lot_id,
                       ll_lot *lot, api_reply *r) {
  bool found = false;
  ll_err err = {0};
  ll_lot_init(lot);
  char *product = api_lot_product(rq, vr, lot_id, r);
  if (product == NULL)
    return 1;
  int rc = 0;
  if (ll_views_reader_get_lot(vr, product, lot_id, lot, &found, &err) != 0) {
    api_reply_storage_error(r, &err);
    rc = -1;
  } else if (!found) {
    api_reply_unknown_lot(r, api_path_param(rq, "product_id"), lot_id);
    rc = 1;
  }
  free(product);
  return rc;
}

/* ---- /v1/lots/{lot_id}/locations ---- */

/* ?as_of=: digits are a log position, P:N a token (task position N of
 * partition P), anything else an RFC 3339 time. */
static int parse_as_of(const char *s, ll_as_of *at, int32_t *partition,
                       api_reply *r) {
  memset(at, 0, sizeof *at);
  if (api_parse_u64(s, &at->position))
    return 0;
  if (api_parse_token(s, partition, &at->task_position)) {
    at->by_task = true;
    return 0;
  }
  if (ll_time_parse(s, &at->time_ms)) {
    at->by_time = true;
    return 0;
  }
  bad_request(r, "as_of must be a log position (digits), a token P:N (as "
                 "Lotline-Token carries) or an RFC 3339 time such as "
                 "2027-03-01T00:00:00Z");
  return -1;
}

static void current_locations(api_request *rq, const char *lot_id, bool all,
                              api_reply *r) {
  ll_views_reader *vr = open_reader(rq, r);
  if (vr == NULL)
    return;
  ll_lot lot;
  ll_lot_location *locs = NULL;
  size_t n = 0;
  ll_err err = {0};
  if (require_lot(rq, vr, lot_id, &lot, r) == 0) {
    if (ll_views_reader_lot_locations(vr, lot.product_id, lot_id, all, &locs,
                                      &n, &err) != 0) {
      api_reply_storage_error(r, &err);
    } else {
      json_t *body = json_object();
      json_object_set_new(body, "lot_id", api_json_text(lot.lot_id));
      json_object_set_new(body, "product_id", api_json_text(lot.product_id));
      json_object_set_new(body, "on_hand", api_json_decimal(lot.on_hand_micro));
      json_object_set_new(body, "uom", api_json_text(lot.uom));
      json_object_set_new(body, "locations", json_lot_locations(locs, n));
      reply_read(r, vr, body);
    }
  }
  ll_lot_locations_free(locs, n);
  ll_lot_free(&lot);
  ll_views_reader_close(vr);
}

/* The views cannot answer for a position they have not applied: wait for
 * it like ?min_position= (a time needs no wait: it cuts what is there). */
static int wait_for_cut(api_request *rq, const ll_as_of *at, int32_t partition,
                        api_reply *r) {
  if (at->by_time)
    return 0;
  uint64_t deadline_ns =
      ll_mono_ns() + (uint64_t)LL_API_MIN_POSITION_WAIT_MS * NS_PER_MS;
  if (at->by_task ? ll_views_wait_task(rq->api->deps.views, partition,
                                       at->task_position, deadline_ns)
                  : api_wait_views(rq->api, at->position, deadline_ns))
    return 0;
  api_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                  "the views did not reach the as_of position within %d ms",
                  LL_API_MIN_POSITION_WAIT_MS);
  return -1;
}

static json_t *cut_json(const ll_as_of *at, int32_t partition) {
  json_t *as_of = json_object();
  if (at->by_time)
    json_object_set_new(as_of, "time", api_json_time_ms(at->time_ms));
  else if (at->by_task)
    json_object_set_new(as_of, "token",
                        api_json_token(partition, at->task_position));
  else
    json_object_set_new(as_of, "position",
                        json_integer((json_int_t)at->position));
  return as_of;
}

static json_t *past_json(const char *lot_id, const ll_lot_as_of *past,
                         json_t *as_of) {
  json_t *body = json_object();
  json_object_set_new(body, "lot_id", api_json_text(lot_id));
  json_object_set_new(body, "product_id", api_json_text(past->product_id));
  json_object_set_new(body, "on_hand", api_json_decimal(past->on_hand_micro));
  json_object_set_new(body, "locations",
                      json_lot_locations(past->locations, past->n_locations));
  json_object_set_new(body, "as_of", as_of);
  json_object_set_new(body, "last_event_position",
                      json_integer((json_int_t)past->last_event_position));
  json_object_set_new(
      body, "last_event_token",
      past->last_event_position > 0
          ? api_json_token(past->partition, past->last_event_task_position)
          : json_null());
  return body;
}

static void past_locations(api_request *rq, const char *lot_id, bool all,
                           const ll_as_of *at, int32_t partition,
                           api_reply *r) {
  if (wait_for_cut(rq, at, partition, r) != 0)
    return;
  ll_views_reader *vr = open_reader(rq, r);
  if (vr == NULL)
    return;
  ll_lot lot;
  ll_lot_as_of past;
  ll_err err = {0};
  memset(&past, 0, sizeof past);
  char when[64];
  if (at->by_time)
    ll_time_format(at->time_ms, when);
  else if (at->by_task)
    snprintf(when, sizeof when, "%d:%" PRIu64, (int)partition,
             at->task_position);
  else
    snprintf(when, sizeof when, "position %" PRIu64, at->position);
  if (require_lot(rq, vr, lot_id, &lot, r) != 0) {
    /* r is filled */
  } else if (ll_views_lot_as_of(vr, lot.product_id, lot_id, at, all, &past,
                                &err) != 0) {
    api_reply_storage_error(r, &err);
  } else if (at->by_task && past.partition >= 0 &&
             past.partition != partition) {
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "as_of names partition %d, but the events of lot %s of "
                    "product %s are in partition %d",
                    (int)partition, lot_id, lot.product_id,
                    (int)past.partition);
  } else if (!past.existed) {
    api_reply_error(r, MHD_HTTP_NOT_FOUND, ll_code_name(LL_UNKNOWN_LOT),
                    "lot %s did not exist yet at %s", lot_id, when);
  } else {
    reply_read(r, vr, past_json(lot_id, &past, cut_json(at, partition)));
  }
  ll_lot_as_of_free(&past);
  ll_lot_free(&lot);
  ll_views_reader_close(vr);
}

void api_get_lot_locations(api_request *rq, const char *lot_id, api_reply *r) {
  bool all = false;
  if (api_query_flag(rq, "all", &all, r) != 0)
    return;
  const char *as_of = api_query(rq, "as_of");
  if (as_of == NULL) {
    current_locations(rq, lot_id, all, r);
    return;
  }
  ll_as_of at;
  int32_t partition = -1;
  if (parse_as_of(as_of, &at, &partition, r) == 0)
    past_locations(rq, lot_id, all, &at, partition, r);
}

/* ---- /v1/lots/{lot_id}/moves ---- */

void api_get_lot_moves(api_request *rq, const char *lot_id, api_reply *r) {
  size_t limit = 0;
  if (api_query_limit(rq, &limit, r) != 0)
    return;
  const char *cursor = api_query(rq, "cursor");
  uint64_t after = 0;
  if (cursor != NULL && !api_parse_u64(cursor, &after)) {
    bad_request(r, "cursor must be a next_cursor this list gave out");
    return;
  }
  ll_views_reader *vr = open_reader(rq, r);
  if (vr == NULL)
    return;
  ll_lot lot;
  ll_history_entry *rows = NULL;
  size_t n = 0;
  bool more = false;
  ll_err err = {0};
  if (require_lot(rq, vr, lot_id, &lot, r) != 0) {
    /* r is filled */
  } else if (ll_views_lot_history(vr, lot.product_id, lot_id, after, limit,
                                  &rows, &n, &more, &err) != 0) {
    api_reply_storage_error(r, &err);
  } else {
    json_t *events = json_array();
    for (size_t i = 0; i < n; i++)
      json_array_append_new(events, json_history_entry(&rows[i]));
    json_t *body = json_object();
    json_object_set_new(body, "lot_id", api_json_text(lot_id));
    json_object_set_new(body, "events", events);
    if (more) {
      char next[24];
      snprintf(next, sizeof next, "%" PRIu64, rows[n - 1].position);
      json_object_set_new(body, "next_cursor", json_string(next));
    } else {
      json_object_set_new(body, "next_cursor", json_null());
    }
    reply_read(r, vr, body);
  }
  ll_history_free(rows, n);
  ll_lot_free(&lot);
  ll_views_reader_close(vr);
}

/* ---- /v1/lots/{lot_id}/trace ---- */

static int trace_params(api_request *rq, ll_trace_direction *dir,
                        unsigned *depth, api_reply *r) {
  const char *d = api_query(rq, "direction");
  *dir = LL_TRACE_DOWNSTREAM;
  if (d != NULL && strcmp(d, "upstream") == 0) {
    *dir = LL_TRACE_UPSTREAM;
  } else if (d != NULL && strcmp(d, "downstream") != 0) {
    bad_request(r, "direction must be downstream or upstream");
    return -1;
  }
  const char *s = api_query(rq, "depth");
  uint64_t v = LL_TRACE_DEPTH_MAX;
  if (s != NULL && (!api_parse_u64(s, &v) || v < 1 || v > LL_TRACE_DEPTH_MAX)) {
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "depth must be an integer from 1 to %d",
                    LL_TRACE_DEPTH_MAX);
    return -1;
  }
  *depth = (unsigned)v;
  return 0;
}

static json_t *json_deliveries(const ll_trace *t) {
  json_t *arr = json_array();
  for (size_t i = 0; i < t->n_deliveries; i++)
    json_array_append_new(arr, json_delivery(&t->deliveries[i]));
  return arr;
}

/* The trace from this instance's views, or in a cluster walked over every
 * owner (api_trace_cluster.c); -1 with r filled. */
static int collect_trace(api_request *rq, ll_views_reader *vr,
                         const char *product, const char *lot_id,
                         ll_trace_direction dir, unsigned depth, ll_trace *t,
                         api_reply *r) {
  if (api_cluster_has_peers(rq->api))
    return api_trace_gather(rq, vr, product, lot_id, dir, depth, t, r);
  ll_err err = {0};
  if (ll_views_trace(vr, product, lot_id, dir, depth, t, &err) != 0) {
    api_reply_storage_error(r, &err);
    return -1;
  }
  return 0;
}

static json_t *json_trace(const char *lot_id, ll_trace_direction dir,
                          unsigned depth, const ll_trace *t) {
  size_t lots = 0;
  for (size_t i = 0; i < t->n_nodes; i++)
    lots += t->nodes[i].repeat ? 0 : 1;
  json_t *body = json_object();
  json_object_set_new(body, "lot_id", api_json_text(lot_id));
  json_object_set_new(
      body, "direction",
      json_string(dir == LL_TRACE_UPSTREAM ? "upstream" : "downstream"));
  json_object_set_new(body, "depth_limit", json_integer(depth));
  json_object_set_new(body, "truncated", json_boolean(t->truncated));
  json_object_set_new(body, "lot_count", json_integer((json_int_t)lots));
  json_object_set_new(body, "tree", json_trace_tree(t));
  if (dir == LL_TRACE_DOWNSTREAM)
    json_object_set_new(body, "deliveries", json_deliveries(t));
  return body;
}

void api_get_lot_trace(api_request *rq, const char *lot_id, api_reply *r) {
  ll_trace_direction dir;
  unsigned depth = 0;
  if (trace_params(rq, &dir, &depth, r) != 0)
    return;
  ll_views_reader *vr = open_reader(rq, r);
  if (vr == NULL)
    return;
  ll_trace t;
  memset(&t, 0, sizeof t);
  char *product = api_lot_product(rq, vr, lot_id, r);
  if (product == NULL ||
      collect_trace(rq, vr, product, lot_id, dir, depth, &t, r) != 0) {
    /* r is filled */
  } else if (t.n_nodes == 0) {
    api_reply_unknown_lot(r, api_path_param(rq, "product_id"), lot_id);
  } else if (api_cluster_has_peers(rq->api)) {
    /* Gathered from several logs: no one position stands for it. */
    api_reply_json(r, MHD_HTTP_OK, json_trace(lot_id, dir, depth, &t));
  } else {
    reply_read(r, vr, json_trace(lot_id, dir, depth, &t));
  }
  free(product);
  ll_trace_free(&t);
  ll_views_reader_close(vr);
}

/* ---- /v1/locations/{location_id}/lots ---- */

/* Move the rows of page this instance serves into kept (up to limit);
 * the index of the first row not looked at. */
static size_t keep_served_rows(ll_api *api, ll_location_lot *page, size_t n,
                               ll_location_lot *kept, size_t *n_kept,
                               size_t limit) {
  size_t i = 0;
  for (; i < n && *n_kept < limit; i++) {
    if (!api_serves_product(api, page[i].product_id))
      continue;
    kept[(*n_kept)++] = page[i];
    page[i].lot_id = page[i].product_id = NULL; /* moved */
  }
  return i;
}

typedef struct location_query {
  const char *location;
  bool children;
  const char *cursor;
  size_t limit;
} location_query;

/* The rows of a location this instance serves (api_serves_product), as
 * served_lots (api_read.c) does for the lot list. */
static int served_location_lots(ll_api *api, ll_views_reader *vr,
                                const location_query *q, ll_location_lot **out,
                                size_t *n_out, char **next, ll_err *err) {
  ll_location_lot *kept = ll_xcalloc(q->limit, sizeof *kept);
  size_t n = 0;
  bool more = true;
  char *cursor = q->cursor != NULL ? ll_strdup(q->cursor) : NULL;
  while (n < q->limit && more) {
    ll_location_lot *page = NULL;
    size_t pn = 0;
    char *page_next = NULL;
    if (ll_views_location_lots(vr, q->location, q->children, cursor, q->limit,
                               &page, &pn, &page_next, err) != 0) {
      free(cursor);
      ll_location_lots_free(kept, n);
      return -1;
    }
    size_t looked = keep_served_rows(api, page, pn, kept, &n, q->limit);
    more = page_next != NULL || looked < pn;
    ll_location_lots_free(page, pn);
    free(cursor);
    cursor = page_next;
  }
  free(cursor);
  *next = more && n > 0 ? ll_views_lot_page_cursor(kept[n - 1].lot_id,
                                                   kept[n - 1].product_id)
                        : NULL;
  *out = kept;
  *n_out = n;
  return 0;
}

static json_t *location_row_json(ll_views_reader *vr,
                                 const ll_location_lot *row, bool children,
                                 ll_err *err, int *rc) {
  ll_lot lot;
  bool found = false;
  ll_lot_init(&lot);
  *rc = ll_views_reader_get_lot(vr, row->product_id, row->lot_id, &lot, &found,
                                err);
  json_t *j = json_object();
  json_object_set_new(j, "lot_id", api_json_text(row->lot_id));
  json_object_set_new(j, "product_id", api_json_text(row->product_id));
  json_object_set_new(j, "name", api_json_text(found ? lot.name : NULL));
  json_object_set_new(j, "usage",
                      children ? json_null()
                               : json_string(ll_usage_name(row->usage)));
  json_object_set_new(j, "quantity", api_json_decimal(row->quantity_micro));
  json_object_set_new(j, "on_hand", api_json_decimal(row->on_hand_micro));
  if (found)
    ll_lot_free(&lot);
  return j;
}

void api_get_location_lots(api_request *rq, const char *location,
                           api_reply *r) {
  if (api_query(rq, "as_of") != NULL) {
    api_get_location_lots_as_of(rq, location, r); /* api_reports.c */
    return;
  }
  location_query q = {.location = location, .cursor = api_query(rq, "cursor")};
  if (api_query_flag(rq, "children", &q.children, r) != 0 ||
      api_query_limit(rq, &q.limit, r) != 0)
    return;
  ll_views_reader *vr = open_reader(rq, r);
  if (vr == NULL)
    return;
  ll_location_lot *rows = NULL;
  size_t n = 0;
  char *next = NULL;
  ll_err err = {0};
  if (served_location_lots(rq->api, vr, &q, &rows, &n, &next, &err) != 0) {
    api_reply_storage_error(r, &err);
    ll_views_reader_close(vr);
    return;
  }
  json_t *lots = json_array();
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++)
    json_array_append_new(
        lots, location_row_json(vr, &rows[i], q.children, &err, &rc));
  if (rc != 0) {
    json_decref(lots);
    api_reply_storage_error(r, &err);
  } else {
    json_t *body = json_object();
    json_object_set_new(body, "location", api_json_text(location));
    json_object_set_new(body, "children", json_boolean(q.children));
    json_object_set_new(body, "lots", lots);
    json_object_set_new(body, "next_cursor", api_json_text(next));
    reply_read(r, vr, body);
  }
  free(next);
  ll_location_lots_free(rows, n);
  ll_views_reader_close(vr);
}

/* ---- GET /v1/lots?expiring_before=&location= ---- */

bool api_wants_fefo(const api_request *rq) {
  /* Only GET /v1/lots takes these (other routes may not ask for them). */
  if (!api_route_takes(rq->route, "expiring_before"))
    return false;
  return api_query(rq, "expiring_before") != NULL ||
         api_query(rq, "location") != NULL;
}

/* Move the rows of page this instance serves into kept (up to limit);
 * the index of the first row not looked at. */
static size_t keep_served_fefo(ll_api *api, ll_fefo_lot *page, size_t n,
                               ll_fefo_lot *kept, size_t *n_kept,
                               size_t limit) {
  size_t i = 0;
  for (; i < n && *n_kept < limit; i++) {
    if (!api_serves_product(api, page[i].lot.product_id))
      continue;
    kept[(*n_kept)++] = page[i];
    ll_lot_init(&page[i].lot); /* moved */
  }
  return i;
}

/* The FEFO rows this instance serves (api_serves_product), as
 * served_lots (api_read.c) does for the lot list. */
static int served_fefo(ll_api *api, ll_views_reader *vr, ll_fefo_filter f,
                       ll_fefo_lot **out, size_t *n_out, char **next,
                       ll_err *err) {
  ll_fefo_lot *kept = ll_xcalloc(f.limit, sizeof *kept);
  size_t n = 0;
  bool more = true;
  char *cursor = f.cursor != NULL ? ll_strdup(f.cursor) : NULL;
  while (n < f.limit && more) {
    ll_fefo_lot *page = NULL;
    size_t pn = 0;
    char *page_next = NULL;
    f.cursor = cursor;
    if (ll_views_fefo(vr, &f, &page, &pn, &page_next, err) != 0) {
      free(cursor);
      ll_fefo_lots_free(kept, n);
      return -1;
    }
    size_t looked = keep_served_fefo(api, page, pn, kept, &n, f.limit);
    more = page_next != NULL || looked < pn;
    ll_fefo_lots_free(page, pn);
    free(cursor);
    cursor = page_next;
  }
  free(cursor);
  *next = more && n > 0 ? ll_views_fefo_page_cursor(&kept[n - 1].lot) : NULL;
  *out = kept;
  *n_out = n;
  return 0;
}

/* The filter from the query; -1 with r filled (400). */
static int fefo_filter(api_request *rq, ll_fefo_filter *f, api_reply *r) {
  *f = (ll_fefo_filter){
      .location = api_query(rq, "location"),
      .product_id = api_query(rq, "product_id"),
      .cursor = api_query(rq, "cursor"),
  };
  if (api_query(rq, "name") != NULL || api_query(rq, "q") != NULL) {
    bad_request(r, "name and q do not combine with expiring_before or "
                   "location");
    return -1;
  }
  const char *before = api_query(rq, "expiring_before");
  if (before != NULL) {
    if (!ll_time_parse(before, &f->before_ms)) {
      bad_request(r, "expiring_before must be an RFC 3339 time such as "
                     "2027-03-01T00:00:00Z");
      return -1;
    }
    f->has_before = true;
  }
  if (api_query_flag(rq, "children", &f->children, r) != 0 ||
      api_query_limit(rq, &f->limit, r) != 0)
    return -1;
  return 0;
}

void api_get_lots_fefo(api_request *rq, api_reply *r) {
  ll_fefo_filter f;
  if (fefo_filter(rq, &f, r) != 0)
    return;
  ll_views_reader *vr = open_reader(rq, r);
  if (vr == NULL)
    return;
  ll_fefo_lot *rows = NULL;
  size_t n = 0;
  char *next = NULL;
  ll_err err = {0};
  if (served_fefo(rq->api, vr, f, &rows, &n, &next, &err) != 0) {
    if (err.code == LL_INVALID_FIELD)
      bad_request(r, err.message);
    else
      api_reply_storage_error(r, &err);
  } else {
    json_t *lots = json_array();
    for (size_t i = 0; i < n; i++) {
      json_t *j = api_json_lot(&rows[i].lot);
      if (f.location != NULL)
        json_object_set_new(j, "location_on_hand",
                            api_json_decimal(rows[i].location_on_hand_micro));
      json_array_append_new(lots, j);
    }
    json_t *body = json_object();
    json_object_set_new(body, "lots", lots);
    json_object_set_new(body, "next_cursor", api_json_text(next));
    reply_read(r, vr, body);
  }
  free(next);
  ll_fefo_lots_free(rows, n);
  ll_views_reader_close(vr);
}
