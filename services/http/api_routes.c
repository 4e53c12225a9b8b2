/* api_routes.c — the route table: every route of the HTTP API, once.
 *
 * As Redis's commands.def declares each command with its flags and
 * handler, each row here is one method on one path: its handler, its
 * flags (read or write, open to probes, served by the ops-only listener,
 * reads the views, loopback only, last parameter takes the rest of the
 * path), the query parameters it accepts, the
 * body fields a write accepts and every status it answers. Everything
 * else reads the rows: ll_api.c matches and dispatches on them and answers
 * 405 with the Allow header they imply; api_ops.c picks the token a
 * request needs and labels the metrics by the row's path; a query
 * parameter not in the row is refused (400) before the handler runs; the
 * writes refuse body fields not in the row (api_json.c); and
 * api_routes_main.c prints the table as JSON so that tests/deploy/
 * test_docs.py can hold docs/openapi.yaml and docs/api.md to it, both
 * ways. A route is added here, or it does not exist. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "api_internal.h"
#include "ll_types.h"

#define UNKNOWN_NAME_MAX 64 /* bytes of an unknown name quoted back */

/* ---- handlers of the write routes ---- */

static void post_lot(api_request *rq, const char *id, api_reply *r) {
  (void)id; /* the path has no {parameter} */
  api_write(rq, LL_EV_LOT_CREATED, NULL, r);
}

static void patch_lot(api_request *rq, const char *lot_id, api_reply *r) {
  api_write(rq, LL_EV_LOT_UPDATED, lot_id, r);
}

static void post_move(api_request *rq, const char *id, api_reply *r) {
  (void)id; /* the path has no {parameter} */
  api_write(rq, LL_EV_STOCK_MOVED, NULL, r);
}

/* ---- the table ---- */

const api_param api_min_position_param = {
    "min_position", "string",
    "wait (up to 5 s) until the views have applied this log position N, or "
    "this token P:N (task position N of partition P, as Lotline-Token "
    "carries), else 503"};

#define LIMIT_PARAM                                                            \
  { "limit", "integer", "page size, 1..1000 (default 50)" }
#define CURSOR_PARAM                                                           \
  { "cursor", "string", "the next_cursor of the previous page" }
#define END_PARAMS                                                             \
  { NULL, NULL, NULL }

static const api_param no_params[] = {END_PARAMS};

static const api_param lots_params[] = {
    {"product_id", "string", "only lots of this product"},
    {"name", "string", "only lots with this name (exact, after trimming)"},
    {"q", "string", "lots whose id, name or reference contains this text"},
    {"property", "string",
     "KEY:VALUE: only lots whose property KEY is exactly VALUE"},
    LIMIT_PARAM,
    CURSOR_PARAM,
    {"expiring_before", "string",
     "FEFO list: lots whose removal date is before this RFC 3339 time"},
    {"location", "string", "FEFO list: lots on hand at this location"},
    {"children", "boolean", "with location: also the locations below it"},
    END_PARAMS};

static const api_param lot_locations_params[] = {
    {"all", "boolean", "also the virtual locations (SUPPLIER, CUSTOMER, ...)"},
    {"as_of", "string",
     "a past moment: a log position (digits) or an RFC 3339 time"},
    END_PARAMS};

static const api_param paged_params[] = {LIMIT_PARAM, CURSOR_PARAM, END_PARAMS};

static const api_param trace_params[] = {
    {"direction", "string", "downstream (default) or upstream"},
    {"depth", "integer", "levels to follow, 1..32 (default 32)"},
    END_PARAMS};

static const api_param location_lots_params[] = {
    {"children", "boolean", "also the locations below this one"},
    {"as_of", "string",
     "a past moment: a log position (digits) or an RFC 3339 time"},
    LIMIT_PARAM,
    CURSOR_PARAM,
    END_PARAMS};

static const api_param rejections_params[] = {
    LIMIT_PARAM,
    {"before", "string",
     "the next_before of the previous page: the rejections after it"},
    END_PARAMS};

static const api_param genealogy_params[] = {
    {"reference", "string",
     "the lots consumed and produced under this reference"},
    {"product_id", "string", "with lot_id: the facts of this lot"},
    {"lot_id", "string", "with product_id: the facts of this lot"},
    {"deliveries", "boolean", "with a lot: also its deliveries"},
    END_PARAMS};

#define WINDOW_PARAMS                                                          \
  {"from", "string",                                                           \
   "the window's start: a log position (digits) or an RFC 3339 time"},         \
  {                                                                            \
    "to", "string",                                                            \
        "the window's end (inclusive): a log position or an RFC 3339 time"     \
  }

static const api_param alerts_params[] = {
    {"since", "string",
     "a sequence number (only alerts above it), or a next_since cursor "
     "PARTITION:OFFSET,... of lots.alerts"},
    LIMIT_PARAM,
    END_PARAMS};

static const api_param lot_balance_params[] = {
    WINDOW_PARAMS,
    {"all", "boolean", "also the virtual locations (SUPPLIER, CUSTOMER, ...)"},
    END_PARAMS};

static const api_param balance_params[] = {
    {"location", "string", "the location (required)"},
    {"children", "boolean", "also the locations below it"},
    WINDOW_PARAMS,
    END_PARAMS};

static const unsigned healthz_statuses[] = {200, 400, 0};
static const unsigned readyz_statuses[] = {200, 400, 503, 0};
static const unsigned metrics_statuses[] = {200, 400, 401, 0};
static const unsigned cluster_statuses[] = {200, 400, 401, 0};
static const unsigned list_statuses[] = {200, 400, 401, 503, 0};
static const unsigned genealogy_statuses[] = {200, 400, 401, 503, 0};
/* The plain lot routes answer 409 AMBIGUOUS_LOT when two or more products
 * use the lot id (api_lot.c); the product-scoped ones cannot. */
static const unsigned lot_read_statuses[] = {200, 400, 401, 404, 409, 503, 0};
static const unsigned product_lot_read_statuses[] = {200, 400, 401,
                                                     404, 503, 0};
static const unsigned create_statuses[] = {201, 400, 401, 403,
                                           409, 422, 503, 0};
static const unsigned update_statuses[] = {200, 400, 401, 403, 404,
                                           409, 422, 503, 0};
static const unsigned backup_statuses[] = {200, 400, 401, 403,
                                           409, 422, 500, 0};
/* Hold and release: a write on an existing lot, like PATCH. */
static const unsigned hold_statuses[] = {200, 400, 401, 403, 404,
                                         409, 422, 503, 0};
static const unsigned ui_statuses[] = {200, 304, 400, 0};
static const unsigned ui_file_statuses[] = {200, 304, 400, 404, 0};

#define READ (API_READ | API_VIEWS)

const api_route api_routes[] = {
    {"GET", "/healthz", api_get_healthz, API_READ | API_OPEN | API_OPS,
     no_params, NULL, healthz_statuses, "liveness"},
    {"GET", "/readyz", api_get_readyz, API_READ | API_OPEN | API_OPS, no_params,
     NULL, readyz_statuses, "readiness: the views are close to the log"},
    {"GET", "/metrics", api_get_metrics, API_READ | API_OPS, no_params, NULL,
     metrics_statuses, "Prometheus metrics"},
    {"POST", "/v1/lots", post_lot, API_WRITE | API_BY_BODY, no_params,
     api_lot_create_fields, create_statuses, "create a lot or serial number"},
    {"GET", "/v1/lots", api_get_lots, READ | API_SCATTER, lots_params, NULL,
     list_statuses,
     "list and search lots; FEFO with expiring_before or location"},
    {"GET", "/v1/lots/{lot_id}", api_get_lot, READ | API_BY_LOT, no_params,
     NULL, lot_read_statuses, "one lot"},
    {"PATCH", "/v1/lots/{lot_id}", patch_lot, API_WRITE | API_BY_LOT, no_params,
     api_lot_update_fields, update_statuses, "change a lot"},
    {"GET", "/v1/lots/{lot_id}/locations", api_get_lot_locations,
     READ | API_BY_LOT, lot_locations_params, NULL, lot_read_statuses,
     "where the lot is, now or as of a past moment"},
    {"GET", "/v1/lots/{lot_id}/moves", api_get_lot_moves, READ | API_BY_LOT,
     paged_params, NULL, lot_read_statuses, "the lot's history, oldest first"},
    {"GET", "/v1/lots/{lot_id}/trace", api_get_lot_trace, READ | API_BY_LOT,
     trace_params, NULL, lot_read_statuses, "genealogy through production"},
    {"POST", "/v1/lots/{lot_id}/hold", api_post_hold, API_WRITE | API_BY_LOT,
     no_params, api_lot_hold_fields, hold_statuses,
     "put a lot on hold: no delivery, no consumption"},
    {"POST", "/v1/lots/{lot_id}/release", api_post_release,
     API_WRITE | API_BY_LOT, no_params, api_lot_hold_fields, hold_statuses,
     "release a held lot"},
    {"POST", "/v1/products/{product_id}/lots/{lot_id}/hold", api_post_hold,
     API_WRITE, no_params, api_lot_hold_fields, hold_statuses,
     "put a lot of a product on hold"},
    {"POST", "/v1/products/{product_id}/lots/{lot_id}/release",
     api_post_release, API_WRITE, no_params, api_lot_hold_fields, hold_statuses,
     "release a held lot of a product"},
    {"GET", "/v1/lots/{lot_id}/partners", api_get_lot_partners,
     READ | API_BY_LOT, no_params, NULL, lot_read_statuses,
     "the lot's suppliers and customers with quantities"},
    {"GET", "/v1/lots/{lot_id}/balance", api_get_lot_balance, READ | API_BY_LOT,
     lot_balance_params, NULL, lot_read_statuses,
     "per location: opening, in, out, closing over a window"},
    {"GET", "/v1/products/{product_id}/lots/{lot_id}/balance",
     api_get_lot_balance, READ, lot_balance_params, NULL,
     product_lot_read_statuses, "the balance of a lot of a product"},
    {"GET", "/v1/balance", api_get_balance, READ | API_SCATTER, balance_params,
     NULL, list_statuses, "per lot of a location: opening, in, out, closing"},
    {"GET", "/v1/products/{product_id}/lots/{lot_id}/partners",
     api_get_lot_partners, READ, no_params, NULL, product_lot_read_statuses,
     "the suppliers and customers of a lot of a product"},
    {"GET", "/v1/products/{product_id}/lots/{lot_id}", api_get_lot, READ,
     no_params, NULL, product_lot_read_statuses, "one lot of a product"},
    {"PATCH", "/v1/products/{product_id}/lots/{lot_id}", patch_lot, API_WRITE,
     no_params, api_lot_update_fields, update_statuses,
     "change a lot of a product"},
    {"GET", "/v1/products/{product_id}/lots/{lot_id}/locations",
     api_get_lot_locations, READ, lot_locations_params, NULL,
     product_lot_read_statuses,
     "where a lot of a product is, now or as of a past moment"},
    {"GET", "/v1/products/{product_id}/lots/{lot_id}/moves", api_get_lot_moves,
     READ, paged_params, NULL, product_lot_read_statuses,
     "the history of a lot of a product, oldest first"},
    {"GET", "/v1/products/{product_id}/lots/{lot_id}/trace", api_get_lot_trace,
     READ, trace_params, NULL, product_lot_read_statuses,
     "genealogy of a lot of a product through production"},
    {"GET", "/v1/locations/{location_id}/lots", api_get_location_lots,
     READ | API_SCATTER, location_lots_params, NULL, list_statuses,
     "what is in a location"},
    {"POST", "/v1/moves", post_move, API_WRITE | API_BY_BODY, no_params,
     api_move_fields, create_statuses, "move a quantity of a lot"},
    {"GET", "/v1/rejections", api_get_rejections, READ | API_SCATTER,
     rejections_params, NULL, list_statuses,
     "the rejections, newest first, paged by next_before"},
    {"GET", "/v1/cluster", api_get_cluster, API_READ, no_params, NULL,
     cluster_statuses, "the instances of the cluster and their partitions"},
    {"GET", "/v1/cluster/genealogy", api_get_cluster_genealogy, READ,
     genealogy_params, NULL, genealogy_statuses,
     "internal: what this instance's partitions hold of the genealogy"},
    {"GET", "/v1/alerts", api_get_alerts, API_READ, alerts_params, NULL,
     list_statuses, "date alerts (LotDateReached), oldest first"},
    {"POST", "/v1/admin/backup", api_admin_backup, API_WRITE | API_ADMIN,
     no_params, api_backup_fields, backup_statuses,
     "online backup of the views and the log"},
    {"GET", "/ui", api_get_ui, API_READ | API_OPEN, no_params, NULL,
     ui_statuses, "the web console (docs/console.md)"},
    {"GET", "/ui/{page}", api_get_ui, API_READ | API_OPEN | API_TAIL, no_params,
     NULL, ui_file_statuses, "a page of the web console, or one of its files"},
};

const size_t api_routes_count = sizeof api_routes / sizeof api_routes[0];

/* ---- matching ---- */

bool api_route_path_is(const api_route *rt, const api_path *p) {
  if (p->too_long)
    return false;
  const char *s = rt->pattern;
  size_t i = 0;
  while (*s == '/') {
    s++;
    size_t n = strcspn(s, "/");
    if (i == p->n)
      return false;
    bool param = s[0] == '{';
    if (param && (rt->flags & API_TAIL) && s[n] == '\0')
      return true; /* the rest of the path, one segment or more */
    if (!param && (strlen(p->seg[i]) != n || strncmp(p->seg[i], s, n) != 0))
      return false;
    i++;
    s += n;
  }
  return i == p->n;
}

bool api_route_takes(const api_route *rt, const char *key) {
  if ((rt->flags & API_VIEWS) && strcmp(key, api_min_position_param.name) == 0)
    return true;
  for (const api_param *q = rt->query; q->name != NULL; q++)
    if (strcmp(q->name, key) == 0)
      return true;
  return false;
}

static bool same_pattern(const api_route *a, const api_route *b) {
  return strcmp(a->pattern, b->pattern) == 0;
}

void api_route_allow(const api_route *rt, char *out, size_t cap) {
  size_t len = 0;
  out[0] = '\0';
  for (size_t i = 0; i < api_routes_count; i++) {
    const api_route *o = &api_routes[i];
    if (!same_pattern(o, rt))
      continue;
    bool get = strcmp(o->method, "GET") == 0;
    int w = snprintf(out + len, cap - len, "%s%s%s", len > 0 ? ", " : "",
                     o->method, get ? ", HEAD" : "");
    assert(w > 0 && (size_t)w < cap - len); /* LL_API_ALLOW_MAX */
    len += (size_t)w;
  }
}

static void append_name(char *out, size_t cap, size_t *len, const char *name) {
  int w = snprintf(out + *len, cap - *len, "%s%s", *len > 0 ? ", " : "", name);
  if (w > 0)
    *len = *len + (size_t)w < cap ? *len + (size_t)w : cap - 1;
}

void api_param_names(const api_param *list, const char *extra, char *out,
                     size_t cap) {
  assert(cap > 0);
  size_t len = 0;
  out[0] = '\0';
  for (const api_param *q = list; q != NULL && q->name != NULL; q++)
    append_name(out, cap, &len, q->name);
  if (extra != NULL)
    append_name(out, cap, &len, extra);
  if (len == 0)
    snprintf(out, cap, "none");
}

typedef struct unknown_search {
  const api_route *route;
  char name[UNKNOWN_NAME_MAX];
  bool found;
} unknown_search;

static enum MHD_Result find_unknown(void *cls, enum MHD_ValueKind kind,
                                    const char *key, const char *value) {
  (void)kind;
  (void)value;
  unknown_search *s = cls;
  /* "?a=1&" and "?&" hold an empty name: no parameter at all. */
  if (key == NULL || key[0] == '\0' || api_route_takes(s->route, key))
    return MHD_YES;
  snprintf(s->name, sizeof s->name, "%s", key);
  s->found = true;
  return MHD_NO;
}

bool api_route_check_query(const api_request *rq, api_reply *r) {
  assert(rq->route != NULL);
  unknown_search s = {.route = rq->route};
  MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, find_unknown, &s);
  if (!s.found)
    return true;
  char accepted[512];
  api_param_names(rq->route->query,
                  (rq->route->flags & API_VIEWS) ? api_min_position_param.name
                                                 : NULL,
                  accepted, sizeof accepted);
  api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                  "unknown query parameter '%s': %s %s accepts %s", s.name,
                  rq->route->method, rq->route->pattern, accepted);
  return false;
}

/* ---- the table as JSON ---- */

static json_t *params_json(const api_param *list, bool min_position) {
  json_t *arr = json_array();
  for (const api_param *q = list; q != NULL && q->name != NULL; q++)
    json_array_append_new(arr,
                          json_pack("{s:s, s:s, s:s}", "name", q->name, "type",
                                    q->type, "description", q->what));
  if (min_position)
    json_array_append_new(
        arr, json_pack("{s:s, s:s, s:s}", "name", api_min_position_param.name,
                       "type", api_min_position_param.type, "description",
                       api_min_position_param.what));
  return arr;
}

static json_t *flags_json(unsigned flags) {
  static const struct {
    unsigned flag;
    const char *name;
  } names[] = {{API_READ, "read"}, {API_WRITE, "write"}, {API_OPEN, "open"},
               {API_OPS, "ops"},   {API_VIEWS, "views"}, {API_ADMIN, "admin"},
               {API_TAIL, "tail"}};
  json_t *arr = json_array();
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (flags & names[i].flag)
      json_array_append_new(arr, json_string(names[i].name));
  return arr;
}

static json_t *route_json(const api_route *rt) {
  json_t *statuses = json_array();
  for (const unsigned *s = rt->statuses; *s != 0; s++)
    json_array_append_new(statuses, json_integer(*s));
  json_t *body = rt->body == NULL ? json_null() : params_json(rt->body, false);
  return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "method", rt->method,
                   "path", rt->pattern, "summary", rt->summary, "flags",
                   flags_json(rt->flags), "query",
                   params_json(rt->query, rt->flags & API_VIEWS), "body", body,
                   "statuses", statuses);
}

/* Every rejection code with the status each write answers it with
 * (api_status_for_rejection), for docs/rejections.md's table. */
static json_t *rejections_json(void) {
  json_t *codes = json_array();
  for (int c = LL_OK + 1; c < LL_CODE_COUNT; c++)
    json_array_append_new(
        codes,
        json_pack(
            "{s:s, s:i, s:i, s:i}", "code", ll_code_name((ll_code)c),
            "post_lots",
            (int)api_status_for_rejection(LL_EV_LOT_CREATED, (ll_code)c),
            "patch_lot",
            (int)api_status_for_rejection(LL_EV_LOT_UPDATED, (ll_code)c),
            "post_moves",
            (int)api_status_for_rejection(LL_EV_STOCK_MOVED, (ll_code)c)));
  return codes;
}

json_t *api_routes_json(void) {
  json_t *routes = json_array();
  for (size_t i = 0; i < api_routes_count; i++)
    json_array_append_new(routes, route_json(&api_routes[i]));
  return json_pack("{s:o, s:o, s:o}", "routes", routes, "location_fields",
                   params_json(api_location_fields, false), "rejections",
                   rejections_json());
}
