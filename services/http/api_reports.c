/* api_reports.c — the reports of the recall and ERP work:
 *   GET /v1/lots/{lot_id}/partners   a lot's suppliers and customers with
 *                                    quantities (lot_partners.c)
 *   GET /v1/lots?property=KEY:VALUE  the filter (the list is api_read.c's)
 *   GET /v1/lots/{lot_id}/balance    per location: opening, in, out,
 *                                    closing over ?from=&to= (lot_balance.c)
 *   GET /v1/balance?location=        the same per lot of a location
 *   GET /v1/locations/{location_id}/lots?as_of=
 *                                    what the location held then (the
 *                                    current list is api_trace.c's)
 *   GET /v1/alerts?since=            the date alerts (services/alerts),
 *                                    by sequence or by place
 * and the product-scoped form. Each read opens one views snapshot and
 * answers with its position, as the other reads do. */
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "api_internal.h"
#include "ll_event.h"
#include "ll_mem.h"
#include "ll_time.h"

/* ---- shared by the reports ---- */

static ll_views_reader *open_snapshot(api_request *rq, api_reply *r) {
  ll_err err = {0};
  ll_views_reader *vr = ll_views_reader_open(rq->api->deps.views, &err);
  if (vr == NULL)
    api_reply_storage_error(r, &err);
  return vr;
}

static void reply_snapshot(api_reply *r, ll_views_reader *vr, json_t *body) {
  api_reply_json(r, MHD_HTTP_OK, body);
  r->position = ll_views_reader_position(vr);
}

/* The lot the route names, in the snapshot; 0, or non-zero with r filled
 * (404, 409 AMBIGUOUS_LOT, 503). lot is initialised either way. */
static int named_lot(api_request *rq, ll_views_reader *vr, const char *lot_id,
                     ll_lot *lot, api_reply *r) {
  ll_lot_init(lot);
  char *product = api_lot_product(rq, vr, lot_id, r);
  if (product == NULL)
    return -1;
  bool found = false;
  ll_err err = {0};
  int rc = ll_views_reader_get_lot(vr, product, lot_id, lot, &found, &err);
  free(product);
  if (rc != 0) {
    api_reply_storage_error(r, &err);
    return -1;
  }
  if (!found) {
    api_reply_unknown_lot(r, api_path_param(rq, "product_id"), lot_id);
    return -1;
  }
  return 0;
}

/* ---- GET /v1/lots?property=KEY:VALUE ---- */

int api_query_property(const api_request *rq, char **held, ll_lot_filter *f,
                       api_reply *r) {
  *held = NULL;
  const char *p = api_query(rq, "property");
  if (p == NULL)
    return 0;
  const char *colon = strchr(p, ':');
  if (colon == NULL || colon == p) {
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "property must be KEY:VALUE, e.g. supplier_batch:B-7");
    return -1;
  }
  *held = ll_strdup(p);
  (*held)[colon - p] = '\0';
  f->property_key = *held;
  f->property_value = *held + (colon - p) + 1;
  return 0;
}

/* ---- /v1/lots/{lot_id}/partners ---- */

static json_t *partners_json(const ll_partner_total *items, size_t n) {
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(
        arr, json_pack("{s:o, s:o, s:o, s:I}", "id", api_json_text(items[i].id),
                       "name", api_json_text(items[i].name), "quantity",
                       api_json_decimal(items[i].quantity_micro), "moves",
                       (json_int_t)items[i].moves));
  return arr;
}

void api_get_lot_partners(api_request *rq, const char *lot_id, api_reply *r) {
  ll_views_reader *vr = open_snapshot(rq, r);
  if (vr == NULL)
    return;
  ll_lot lot;
  ll_lot_partners p;
  memset(&p, 0, sizeof p);
  ll_err err = {0};
  if (named_lot(rq, vr, lot_id, &lot, r) != 0) {
    /* r is filled */
  } else if (ll_views_lot_partners(vr, lot.product_id, lot_id, &p, &err) != 0) {
    api_reply_storage_error(r, &err);
  } else {
    json_t *body = json_object();
    json_object_set_new(body, "lot_id", api_json_text(lot.lot_id));
    json_object_set_new(body, "product_id", api_json_text(lot.product_id));
    json_object_set_new(body, "uom", api_json_text(lot.uom));
    json_object_set_new(body, "suppliers",
                        partners_json(p.suppliers, p.n_suppliers));
    json_object_set_new(body, "customers",
                        partners_json(p.customers, p.n_customers));
    reply_snapshot(r, vr, body);
  }
  ll_lot_partners_free(&p);
  ll_lot_free(&lot);
  ll_views_reader_close(vr);
}

/* ---- balances ---- */

/* A log position (digits) or an RFC 3339 time, as as_of takes. */
static int parse_cut(const char *s, const char *name, ll_as_of *at,
                     api_reply *r) {
  memset(at, 0, sizeof *at);
  if (api_parse_u64(s, &at->position))
    return 0;
  if (ll_time_parse(s, &at->time_ms)) {
    at->by_time = true;
    return 0;
  }
  api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                  "%s must be a log position (digits) or an RFC 3339 time "
                  "such as 2027-03-01T00:00:00Z",
                  name);
  return -1;
}

static int parse_window(const api_request *rq, ll_window *w, api_reply *r) {
  memset(w, 0, sizeof *w);
  const char *from = api_query(rq, "from"), *to = api_query(rq, "to");
  if (from != NULL && parse_cut(from, "from", &w->from, r) != 0)
    return -1;
  if (to != NULL && parse_cut(to, "to", &w->to, r) != 0)
    return -1;
  w->has_from = from != NULL;
  w->has_to = to != NULL;
  return 0;
}

/* A report over a location is gathered from every owner in a cluster of
 * several instances (api_cluster.c), and a log position is one
 * instance's (docs/cluster-design.md, decision 3): there its cuts must be
 * times, which mean the same on every instance (the log clock). */
static int check_cut_in_cluster(api_request *rq, const char *name,
                                const ll_as_of *at, api_reply *r) {
  if (at->by_time || !api_cluster_has_peers(rq->api))
    return 0;
  api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                  "%s must be an RFC 3339 time such as 2027-03-01T00:00:00Z "
                  "in a cluster of several instances: a log position is one "
                  "instance's (docs/api.md)",
                  name);
  return -1;
}

static int check_window_in_cluster(api_request *rq, const ll_window *w,
                                   api_reply *r) {
  if (w->has_from && check_cut_in_cluster(rq, "from", &w->from, r) != 0)
    return -1;
  return w->has_to ? check_cut_in_cluster(rq, "to", &w->to, r) : 0;
}

static json_t *cut_json(bool set, const ll_as_of *at) {
  if (!set)
    return json_null();
  return at->by_time ? api_json_time_ms(at->time_ms)
                     : json_integer((json_int_t)at->position);
}

static json_t *balance_row_json(const ll_balance_row *row) {
  json_t *j = json_object();
  if (row->location != NULL) {
    json_object_set_new(j, "location", api_json_text(row->location));
    json_object_set_new(j, "usage", json_string(ll_usage_name(row->usage)));
  } else {
    json_object_set_new(j, "lot_id", api_json_text(row->lot_id));
    json_object_set_new(j, "product_id", api_json_text(row->product_id));
  }
  json_object_set_new(j, "opening", api_json_decimal(row->opening_micro));
  json_object_set_new(j, "in", api_json_decimal(row->in_micro));
  json_object_set_new(j, "out", api_json_decimal(row->out_micro));
  json_object_set_new(j, "closing", api_json_decimal(row->closing_micro));
  return j;
}

static json_t *window_body(const ll_window *w) {
  json_t *body = json_object();
  json_object_set_new(body, "from", cut_json(w->has_from, &w->from));
  json_object_set_new(body, "to", cut_json(w->has_to, &w->to));
  return body;
}

void api_get_lot_balance(api_request *rq, const char *lot_id, api_reply *r) {
  ll_window w;
  bool all = false;
  if (parse_window(rq, &w, r) != 0 || api_query_flag(rq, "all", &all, r) != 0)
    return;
  ll_views_reader *vr = open_snapshot(rq, r);
  if (vr == NULL)
    return;
  ll_lot lot;
  ll_balance b;
  memset(&b, 0, sizeof b);
  ll_err err = {0};
  if (named_lot(rq, vr, lot_id, &lot, r) != 0) {
    /* r is filled */
  } else if (ll_views_lot_balance(vr, lot.product_id, lot_id, &w, all, &b,
                                  &err) != 0) {
    api_reply_storage_error(r, &err);
  } else {
    json_t *rows = json_array();
    for (size_t i = 0; i < b.n; i++)
      json_array_append_new(rows, balance_row_json(&b.rows[i]));
    json_t *body = window_body(&w);
    json_object_set_new(body, "lot_id", api_json_text(lot.lot_id));
    json_object_set_new(body, "product_id", api_json_text(lot.product_id));
    json_object_set_new(body, "uom", api_json_text(lot.uom));
    json_object_set_new(body, "locations", rows);
    reply_snapshot(r, vr, body);
  }
  ll_balance_free(&b);
  ll_lot_free(&lot);
  ll_views_reader_close(vr);
}

/* Each lot row with its unit, read from the lot. */
/* The rows of the lots this instance serves (api_serves_product): in a
 * cluster every owner answers for its own products. */
static int balance_lots_json(api_request *rq, ll_views_reader *vr,
                             const ll_balance *b, json_t *rows, ll_err *err) {
  for (size_t i = 0; i < b->n; i++) {
    if (!api_serves_product(rq->api, b->rows[i].product_id))
      continue;
    ll_lot lot;
    bool found = false;
    ll_lot_init(&lot);
    if (ll_views_reader_get_lot(vr, b->rows[i].product_id, b->rows[i].lot_id,
                                &lot, &found, err) != 0)
      return -1;
    json_t *j = balance_row_json(&b->rows[i]);
    json_object_set_new(j, "uom", api_json_text(found ? lot.uom : NULL));
    json_array_append_new(rows, j);
    ll_lot_free(&lot);
  }
  return 0;
}

void api_get_balance(api_request *rq, const char *id, api_reply *r) {
  (void)id; /* the path has no {parameter} */
  ll_window w;
  bool children = false;
  const char *location = api_query(rq, "location");
  if (location == NULL) {
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "location is required: GET /v1/balance?location=WH/Stock");
    return;
  }
  if (parse_window(rq, &w, r) != 0 || check_window_in_cluster(rq, &w, r) != 0 ||
      api_query_flag(rq, "children", &children, r) != 0)
    return;
  ll_views_reader *vr = open_snapshot(rq, r);
  if (vr == NULL)
    return;
  ll_balance b;
  ll_err err = {0};
  json_t *rows = json_array();
  if (ll_views_location_balance(vr, location, children, &w, &b, &err) != 0 ||
      balance_lots_json(rq, vr, &b, rows, &err) != 0) {
    json_decref(rows);
    api_reply_storage_error(r, &err);
  } else {
    json_t *body = window_body(&w);
    json_object_set_new(body, "location", api_json_text(location));
    json_object_set_new(body, "children", json_boolean(children));
    json_object_set_new(body, "lots", rows);
    json_object_set_new(body, "truncated", json_boolean(b.truncated));
    reply_snapshot(r, vr, body);
  }
  ll_balance_free(&b);
  ll_views_reader_close(vr);
}

/* ---- GET /v1/locations/{location_id}/lots?as_of= ---- */

/* The lots this instance serves (api_serves_product), as balance. */
static json_t *as_of_lots_json(api_request *rq, ll_views_reader *vr,
                               const ll_location_lot *rows, size_t n,
                               bool children, ll_err *err) {
  json_t *lots = json_array();
  for (size_t i = 0; i < n; i++) {
    if (!api_serves_product(rq->api, rows[i].product_id))
      continue;
    ll_lot lot;
    bool found = false;
    ll_lot_init(&lot);
    if (ll_views_reader_get_lot(vr, rows[i].product_id, rows[i].lot_id, &lot,
                                &found, err) != 0) {
      json_decref(lots);
      return NULL;
    }
    json_t *j = json_object();
    json_object_set_new(j, "lot_id", api_json_text(rows[i].lot_id));
    json_object_set_new(j, "product_id", api_json_text(rows[i].product_id));
    json_object_set_new(j, "name", api_json_text(found ? lot.name : NULL));
    json_object_set_new(j, "usage",
                        children ? json_null()
                                 : json_string(ll_usage_name(rows[i].usage)));
    json_object_set_new(j, "quantity",
                        api_json_decimal(rows[i].quantity_micro));
    json_object_set_new(j, "on_hand", api_json_decimal(rows[i].on_hand_micro));
    json_array_append_new(lots, j);
    ll_lot_free(&lot);
  }
  return lots;
}

void api_get_location_lots_as_of(api_request *rq, const char *location,
                                 api_reply *r) {
  ll_as_of at;
  bool children = false;
  if (parse_cut(api_query(rq, "as_of"), "as_of", &at, r) != 0 ||
      check_cut_in_cluster(rq, "as_of", &at, r) != 0 ||
      api_query_flag(rq, "children", &children, r) != 0)
    return;
  ll_views_reader *vr = open_snapshot(rq, r);
  if (vr == NULL)
    return;
  ll_location_lot *rows = NULL;
  size_t n = 0;
  bool truncated = false;
  ll_err err = {0};
  json_t *lots = NULL;
  if (ll_views_location_lots_as_of(vr, location, children, &at, &rows, &n,
                                   &truncated, &err) != 0 ||
      (lots = as_of_lots_json(rq, vr, rows, n, children, &err)) == NULL) {
    api_reply_storage_error(r, &err);
  } else {
    json_t *body = json_object();
    json_object_set_new(body, "location", api_json_text(location));
    json_object_set_new(body, "children", json_boolean(children));
    json_object_set_new(body, "lots", lots);
    json_object_set_new(body, "next_cursor", json_null());
    json_object_set_new(body, "as_of", cut_json(true, &at));
    json_object_set_new(body, "truncated", json_boolean(truncated));
    reply_snapshot(r, vr, body);
  }
  ll_location_lots_free(rows, n);
  ll_views_reader_close(vr);
}

/* ---- GET /v1/alerts ----
 *
 * Two ways to follow the alerts. By this instance's sequence numbers
 * (since=N, next_since an integer): what its own worker found, as a
 * single instance has always answered. By place in lots.alerts
 * (since=P:O,..., next_since such a cursor, ll_alerts_cursor): every
 * instance's alerts, the same on every instance; the answer of a cluster
 * of several, where a sequence number is one instance's and lists only
 * what that instance published. */

static json_t *alert_json(const ll_alert *al) {
  json_t *j = json_object();
  if (al->partition < 0) {
    json_object_set_new(j, "sequence", json_integer((json_int_t)al->sequence));
  } else {
    json_object_set_new(j, "partition", json_integer(al->partition));
    json_object_set_new(j, "offset", json_integer((json_int_t)al->offset));
  }
  json_object_set_new(j, "lot_id", api_json_text(al->lot_id));
  json_object_set_new(j, "product_id", api_json_text(al->product_id));
  json_object_set_new(j, "kind", json_string(ll_date_kind_name(al->kind)));
  json_object_set_new(j, "at", api_json_time_ms(al->at_ms));
  json_object_set_new(j, "on_hand", api_json_decimal(al->on_hand_micro));
  json_object_set_new(j, "emitted_at", api_json_time_ms(al->emitted_at_ms));
  json_object_set_new(j, "sent", json_boolean(al->sent));
  return j;
}

static void reply_alerts(api_reply *r, const ll_alert *list, size_t n,
                         json_t *next_since) {
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(arr, alert_json(&list[i]));
  json_t *body = json_object();
  json_object_set_new(body, "alerts", arr);
  json_object_set_new(body, "next_since", next_since);
  api_reply_json(r, MHD_HTTP_OK, body);
}

static void list_by_sequence(api_request *rq, uint64_t since, size_t limit,
                             api_reply *r) {
  ll_alert *list = NULL;
  size_t n = 0;
  ll_err err = {0};
  if (ll_alerts_list(rq->api->deps.alerts, since, limit, &list, &n, &err)) {
    api_reply_storage_error(r, &err);
    return;
  }
  uint64_t next = n > 0 ? list[n - 1].sequence : since;
  reply_alerts(r, list, n, json_integer((json_int_t)next));
  ll_alerts_free(list, n);
}

static void list_by_place(api_request *rq, const char *since, size_t limit,
                          api_reply *r) {
  ll_alerts_cursor *c = ll_xcalloc(1, sizeof *c);
  if (since != NULL && !ll_alerts_cursor_parse(since, c)) {
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "since must be the next_since of a previous answer: "
                    "PARTITION:OFFSET pairs of lots.alerts, partitions "
                    "ascending, separated by commas (e.g. 0:12,3:7)");
    free(c);
    return;
  }
  ll_alert *list = NULL;
  size_t n = 0;
  ll_err err = {0};
  if (ll_alerts_list_placed(rq->api->deps.alerts, c, limit, &list, &n, &err)) {
    api_reply_storage_error(r, &err);
  } else {
    char *next = ll_alerts_cursor_format(c);
    reply_alerts(r, list, n, json_string(next));
    free(next);
  }
  ll_alerts_free(list, n);
  free(c);
}

void api_get_alerts(api_request *rq, const char *id, api_reply *r) {
  (void)id; /* the path has no {parameter} */
  size_t limit = 0;
  uint64_t since = 0;
  const char *s = api_query(rq, "since");
  bool by_place = (s != NULL && strchr(s, ':') != NULL) ||
                  (s == NULL && api_cluster_has_peers(rq->api));
  if (api_query_limit(rq, &limit, r) != 0)
    return;
  if (!by_place && s != NULL && !api_parse_u64(s, &since)) {
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "since must be a sequence number (digits), e.g. the "
                    "next_since of the previous answer");
    return;
  }
  if (!by_place && api_cluster_has_peers(rq->api)) {
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "in a cluster of several instances since is the "
                    "next_since of a previous answer (PARTITION:OFFSET,...): "
                    "a sequence number is one instance's; leave since out to "
                    "start from the first alert");
    return;
  }
  if (rq->api->deps.alerts == NULL) {
    api_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                    "this process runs no alerts worker (lotlined all or "
                    "project, with a broker)");
    return;
  }
  if (by_place)
    list_by_place(rq, s, limit, r);
  else
    list_by_sequence(rq, since, limit, r);
}
