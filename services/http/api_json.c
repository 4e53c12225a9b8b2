/* api_json.c — the HTTP API's mapping between JSON and lotline's types.
 *
 * Outgoing: lots, rejections, times (RFC 3339 UTC via ll_time_format) and
 * quantities (decimal strings via ll_decimal_format; a quantity is never a
 * JSON number, so no client parses it into a double). Absent optional
 * values are JSON null.
 *
 * Incoming: request bodies use the event field names of docs/events.md.
 * Each write accepts the fields of its list below (the route table,
 * api_routes.c, points at the same lists, so the docs check sees them); a
 * field not in the list is refused with 400 BAD_REQUEST naming it and the
 * accepted ones: a misspelt "referense" silently dropped would record an
 * event without the reference the client meant to give. The split between
 * 400 and 422 is: an unknown field or a value of the wrong JSON type is a
 * malformed request (400 BAD_REQUEST); a value of the right type that
 * cannot be an event field (an unknown usage, a time that is not RFC 3339,
 * a quantity that is not a decimal with at most 6 decimals) is a rule
 * failure (422 with the rule's code). JSON null means absent.
 * Everything else (required fields, text limits, positive quantity,
 * from != to, date order) is ll_check_fields()'s job in api_write.c. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "ll_buf.h"
#include "ll_decimal.h"
#include "ll_event.h"
#include "ll_mem.h"
#include "ll_store.h"
#include "ll_text.h"
#include "ll_time.h"
#include "ll_types.h"

/* ---- outgoing ---- */

json_t *api_json_text(const char *s) {
  if (s == NULL)
    return json_null();
  json_t *j = json_string(s);
  if (j != NULL)
    return j;
  /* Not valid UTF-8 (a rejection message may quote raw input bytes). */
  size_t len = strlen(s);
  ll_buf out;
  ll_buf_init(&out);
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < len;) {
    size_t n = ll_utf8_decode(p + i, len - i, NULL);
    if (n == 0) {
      ll_buf_put(&out, "\xEF\xBF\xBD", 3); /* U+FFFD */
      i++;
    } else {
      ll_buf_put(&out, p + i, n);
      i += n;
    }
  }
  j = json_stringn((const char *)out.data, out.len);
  ll_buf_free(&out);
  assert(j != NULL);
  return j;
}

json_t *api_json_time_ms(int64_t ms) {
  char buf[64];
  return json_string(ll_time_format(ms, buf));
}

json_t *api_json_time(const ll_opt_time *t) {
  return t->set ? api_json_time_ms(t->ms) : json_null();
}

json_t *api_json_decimal(int64_t micro) {
  char buf[LL_DECIMAL_STR_MAX];
  return json_string(ll_decimal_format(micro, buf));
}

json_t *api_json_lot(const ll_lot *lot) {
  json_t *j = json_object();
  json_object_set_new(j, "lot_id", api_json_text(lot->lot_id));
  json_object_set_new(j, "name", api_json_text(lot->name));
  json_object_set_new(j, "product_id", api_json_text(lot->product_id));
  json_object_set_new(j, "tracking",
                      json_string(ll_tracking_name(lot->tracking)));
  json_object_set_new(j, "reference", api_json_text(lot->reference));
  json_object_set_new(j, "description", api_json_text(lot->description));
  json_object_set_new(j, "expiration_at", api_json_time(&lot->expiration_at));
  json_object_set_new(j, "use_by_at", api_json_time(&lot->use_by_at));
  json_object_set_new(j, "removal_at", api_json_time(&lot->removal_at));
  json_object_set_new(j, "alert_at", api_json_time(&lot->alert_at));
  json_object_set_new(j, "version", json_integer(lot->version));
  json_object_set_new(j, "on_hand", api_json_decimal(lot->on_hand_micro));
  json_object_set_new(j, "created_at", api_json_time_ms(lot->created_at_ms));
  json_object_set_new(j, "updated_at", api_json_time_ms(lot->updated_at_ms));
  json_object_set_new(j, "uom", api_json_text(lot->uom));
  json_object_set_new(j, "properties", api_json_props(&lot->properties));
  json_t *hold = json_null();
  if (lot->hold_reason != NULL)
    hold = json_pack("{s:o, s:o}", "reason", api_json_text(lot->hold_reason),
                     "since", api_json_time_ms(lot->hold_since_ms));
  json_object_set_new(j, "hold", hold);
  return j;
}

json_t *api_json_props(const ll_props *p) {
  json_t *j = json_object();
  for (size_t i = 0; i < p->n; i++)
    json_object_set_new(j, p->items[i].key, api_json_text(p->items[i].value));
  return j;
}

json_t *api_json_partner(const char *id, const char *name) {
  if (id == NULL)
    return json_null();
  return json_pack("{s:o, s:o}", "id", api_json_text(id), "name",
                   api_json_text(name));
}

void api_json_event_extras(json_t *j, const ll_event *ev) {
  switch (ev->type) {
  case LL_EV_LOT_CREATED:
    json_object_set_new(j, "uom", api_json_text(ev->uom));
    json_object_set_new(j, "properties", api_json_props(&ev->properties));
    break;
  case LL_EV_LOT_UPDATED:
    if (ev->properties.n > 0)
      json_object_set_new(j, "properties", api_json_props(&ev->properties));
    break;
  case LL_EV_STOCK_MOVED:
    json_object_set_new(j, "partner",
                        api_json_partner(ev->partner_id, ev->partner_name));
    json_object_set_new(j, "uom", api_json_text(ev->uom));
    break;
  case LL_EV_LOT_HELD:
  case LL_EV_LOT_RELEASED:
    json_object_set_new(j, "reason", api_json_text(ev->reason));
    break;
  default:
    break;
  }
}

json_t *api_json_rejection(const ll_stored_rejection *rej) {
  json_t *j = json_object();
  json_object_set_new(j, "sequence", json_integer((json_int_t)rej->sequence));
  json_object_set_new(j, "event_id", api_json_text(rej->event_id));
  json_object_set_new(j, "code", json_string(ll_code_name(rej->code)));
  json_object_set_new(j, "message", api_json_text(rej->message));
  json_object_set_new(j, "topic", api_json_text(rej->topic));
  json_object_set_new(j, "partition", json_integer(rej->partition));
  json_object_set_new(j, "offset", json_integer(rej->offset));
  json_object_set_new(j, "rejected_at", api_json_time_ms(rej->rejected_at_ms));
  return j;
}

/* ---- incoming ---- */

#define DATE_FIELDS                                                            \
  {"expiration_at", "string", "RFC 3339 time"},                                \
      {"use_by_at", "string", "RFC 3339 time"},                                \
      {"removal_at", "string", "RFC 3339 time"}, {                             \
    "alert_at", "string", "RFC 3339 time"                                      \
  }

const api_param api_lot_create_fields[] = {
    {"lot_id", "string", "the lot's id, unique within its product"},
    {"product_id", "string", "the product"},
    {"name", "string", "the lot or serial number, unique per product"},
    {"tracking", "string", "LOT (default) or SERIAL"},
    {"reference", "string", "free text, e.g. the purchase order"},
    {"description", "string", "free text"},
    DATE_FIELDS,
    {"uom", "string",
     "unit of measure; the product's first lot that states one fixes it"},
    {"properties", "object",
     "key-value texts, e.g. {\"supplier_batch\": \"B7\"}"},
    {NULL, NULL, NULL}};

const api_param api_lot_update_fields[] = {
    {"lot_id", "string", "optional; must equal the path's lot id"},
    {"name", "string", "the new name"},
    {"product_id", "string",
     "the lot's own product only: another one is 409 PRODUCT_LOCKED (a "
     "lot's product cannot be changed)"},
    {"reference", "string", "the new reference; \"\" clears it"},
    {"description", "string", "the new description; \"\" clears it"},
    DATE_FIELDS,
    {"expected_version", "integer",
     "refuse with 409 VERSION_CONFLICT unless the lot is at this version"},
    {"properties", "object",
     "merged into the lot's properties; an empty value removes the key"},
    {NULL, NULL, NULL}};

const api_param api_lot_hold_fields[] = {
    {"reason", "string", "why, for people (a recall number, a finding)"},
    {NULL, NULL, NULL}};

const api_param api_partner_fields[] = {
    {"id", "string", "the partner's id"},
    {"name", "string", "the partner's name"},
    {NULL, NULL, NULL}};

const api_param api_move_fields[] = {
    {"product_id", "string",
     "the product; may be left out with a lot_id that one product uses"},
    {"lot_id", "string", "the lot (or lot_name)"},
    {"lot_name", "string", "the lot by its name within the product"},
    {"quantity", "string", "a decimal string, at most 6 decimals"},
    {"from", "object", "the source location {id, usage}"},
    {"to", "object", "the destination location {id, usage}"},
    {"reference", "string", "free text, e.g. the order"},
    {"partner", "object",
     "the supplier of a receipt, the customer of a delivery {id, name}"},
    {"uom", "string", "the quantity's unit: must be the product's"},
    {NULL, NULL, NULL}};

const api_param api_location_fields[] = {
    {"id", "string", "the location id"},
    {"usage", "string", "INTERNAL, TRANSIT, SUPPLIER, CUSTOMER, ..."},
    {NULL, NULL, NULL}};

static bool field_known(const api_param *fields, const char *key) {
  for (const api_param *f = fields; f->name != NULL; f++)
    if (strcmp(f->name, key) == 0)
      return true;
  return false;
}

bool api_check_fields(const json_t *obj, const api_param *fields,
                      const char *where, api_reply *r) {
  const char *key;
  const json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    (void)v;
    if (field_known(fields, key))
      continue;
    char accepted[512];
    api_param_names(fields, NULL, accepted, sizeof accepted);
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "unknown field '%.64s' in %s; accepted: %s", key, where,
                    accepted);
    return false;
  }
  return true;
}

/* obj[key] when it is a string: *out NULL when absent or null; -1 after a
 * 400 reply "<label> must be <kind>" when it is something else. */
static int take_string(const json_t *obj, const char *key, const char *label,
                       const char *kind, const char **out, api_reply *r) {
  const json_t *v = json_object_get(obj, key);
  *out = NULL;
  if (v == NULL || json_is_null(v))
    return 0;
  if (!json_is_string(v)) {
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST", "%s must be %s",
                    label, kind);
    return -1;
  }
  *out = json_string_value(v);
  return 0;
}

/* A string member of a nested object, copied; absent leaves *out NULL. */
static int take_string_copy(const json_t *obj, const char *key,
                            const char *label, char **out, api_reply *r) {
  const char *text = NULL;
  if (take_string(obj, key, label, "a string", &text, r) != 0)
    return -1;
  if (text != NULL)
    *out = ll_strdup(text);
  return 0;
}

/* An optional string field: absent or null leaves *out NULL. */
static int take_text(const json_t *body, const char *key, char **out,
                     api_reply *r) {
  const char *text = NULL;
  if (take_string(body, key, key, "a string", &text, r) != 0)
    return -1;
  if (text != NULL) {
    /* jansson rejects \u0000 unless asked, so strlen is the full text. */
    free(*out);
    *out = ll_strdup(text);
  }
  return 0;
}

/* An optional RFC 3339 time: absent or null leaves *out unset. */
static int take_time(const json_t *body, const char *key, ll_opt_time *out,
                     api_reply *r) {
  const char *text = NULL;
  if (take_string(body, key, key, "an RFC 3339 string", &text, r) != 0)
    return -1;
  if (text == NULL)
    return 0;
  int64_t ms;
  if (!ll_time_parse(text, &ms)) {
    api_reply_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT,
                    ll_code_name(LL_INVALID_FIELD),
                    "%s is not an RFC 3339 time such as "
                    "2027-03-01T00:00:00Z",
                    key);
    return -1;
  }
  out->set = true;
  out->ms = ms;
  return 0;
}

static int take_dates(const json_t *body, ll_event *ev, api_reply *r) {
  if (take_time(body, "expiration_at", &ev->expiration_at, r) != 0 ||
      take_time(body, "use_by_at", &ev->use_by_at, r) != 0 ||
      take_time(body, "removal_at", &ev->removal_at, r) != 0 ||
      take_time(body, "alert_at", &ev->alert_at, r) != 0)
    return -1;
  return 0;
}

static int take_tracking(const json_t *body, ll_tracking *out, api_reply *r) {
  const char *text = NULL;
  *out = LL_TRACK_LOT;
  if (take_string(body, "tracking", "tracking", "a string", &text, r) != 0)
    return -1;
  if (text != NULL && !ll_tracking_parse(text, out)) {
    api_reply_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT,
                    ll_code_name(LL_INVALID_FIELD),
                    "tracking must be LOT or SERIAL");
    return -1;
  }
  return 0;
}

/* "from.usage": a location key and its member, for messages. */
#define LOCATION_LABEL_MAX 64

/* from / to: {"id": "...", "usage": "INTERNAL"}. */
static int take_location(const json_t *body, const char *key, ll_location *out,
                         api_reply *r) {
  const json_t *v = json_object_get(body, key);
  if (v == NULL || json_is_null(v)) {
    api_reply_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT,
                    ll_code_name(LL_MISSING_FIELD),
                    "%s is required: {\"id\": ..., \"usage\": ...}", key);
    return -1;
  }
  if (!json_is_object(v)) {
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "%s must be an object {\"id\": ..., \"usage\": ...}", key);
    return -1;
  }
  if (!api_check_fields(v, api_location_fields, key, r))
    return -1;
  char label[LOCATION_LABEL_MAX];
  snprintf(label, sizeof label, "%s.id", key);
  const char *id = NULL;
  if (take_string(v, "id", label, "a string", &id, r) != 0)
    return -1;
  if (id != NULL) {
    free(out->id);
    out->id = ll_strdup(id);
  }
  snprintf(label, sizeof label, "%s.usage", key);
  const char *usage = NULL;
  if (take_string(v, "usage", label, "a string", &usage, r) != 0)
    return -1;
  if (usage == NULL) {
    api_reply_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT,
                    ll_code_name(LL_MISSING_FIELD), "%s.usage is required",
                    key);
    return -1;
  }
  if (!ll_usage_parse(usage, &out->usage)) {
    api_reply_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT,
                    ll_code_name(LL_INVALID_FIELD),
                    "%s.usage must be one of INTERNAL, TRANSIT, SUPPLIER, "
                    "CUSTOMER, INVENTORY, PRODUCTION, SCRAP",
                    key);
    return -1;
  }
  return 0;
}

/* Quantities are decimal strings only: a JSON number would have passed
 * through a double in most clients already. */
static int take_quantity(const json_t *body, ll_event *ev, api_reply *r) {
  const json_t *v = json_object_get(body, "quantity");
  if (v == NULL || json_is_null(v)) {
    api_reply_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT,
                    ll_code_name(LL_MISSING_FIELD), "quantity is required");
    return -1;
  }
  if (!json_is_string(v)) {
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "quantity must be a decimal string such as \"1.5\"");
    return -1;
  }
  switch (ll_decimal_parse(json_string_value(v), &ev->quantity_micro)) {
  case LL_DEC_OK:
    ev->quantity_valid = true;
    return 0;
  case LL_DEC_SCALE:
    api_reply_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT,
                    ll_code_name(LL_INVALID_QUANTITY),
                    "quantity has more than %d decimals", LL_QUANTITY_SCALE);
    return -1;
  case LL_DEC_OVERFLOW:
    api_reply_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT,
                    ll_code_name(LL_INVALID_QUANTITY), "quantity is too large");
    return -1;
  case LL_DEC_SYNTAX:
  default:
    api_reply_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT,
                    ll_code_name(LL_INVALID_QUANTITY),
                    "quantity is not a decimal number such as \"1.5\"");
    return -1;
  }
}

/* "properties": an object of strings. */
static int take_properties(const json_t *body, ll_props *out, api_reply *r) {
  const json_t *v = json_object_get(body, "properties");
  if (v == NULL || json_is_null(v))
    return 0;
  if (!json_is_object(v)) {
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "properties must be an object of strings");
    return -1;
  }
  const char *key;
  const json_t *value;
  json_object_foreach((json_t *)v, key, value) {
    if (!json_is_string(value)) {
      api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                      "properties must be an object of strings");
      return -1;
    }
    ll_props_add(out, key, json_string_value(value));
  }
  ll_props_sort(out);
  return 0;
}

/* "partner": {"id", "name"}. */
static int take_partner(const json_t *body, ll_event *ev, api_reply *r) {
  const json_t *v = json_object_get(body, "partner");
  if (v == NULL || json_is_null(v))
    return 0;
  if (!json_is_object(v)) {
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "partner must be an object {\"id\": ..., \"name\": ...}");
    return -1;
  }
  if (!api_check_fields(v, api_partner_fields, "partner", r) ||
      take_string_copy(v, "id", "partner.id", &ev->partner_id, r) != 0 ||
      take_string_copy(v, "name", "partner.name", &ev->partner_name, r) != 0)
    return -1;
  if (ev->partner_id == NULL)
    ev->partner_id = ll_strdup(""); /* the rules answer MISSING_FIELD */
  return 0;
}

static int created_from_json(const json_t *body, ll_event *ev, api_reply *r) {
  if (take_text(body, "lot_id", &ev->lot_id, r) != 0 ||
      take_text(body, "product_id", &ev->product_id, r) != 0 ||
      take_text(body, "name", &ev->name, r) != 0 ||
      take_tracking(body, &ev->tracking, r) != 0 ||
      take_text(body, "reference", &ev->reference, r) != 0 ||
      take_text(body, "description", &ev->description, r) != 0 ||
      take_dates(body, ev, r) != 0 ||
      take_text(body, "uom", &ev->uom, r) != 0 ||
      take_properties(body, &ev->properties, r) != 0)
    return -1;
  return 0;
}

/* PATCH takes new values under their plain names: "product_id" is the new
 * product. The lot id comes from the path; the current product from the
 * state (api_write.c). */
static int updated_from_json(const json_t *body, const char *lot_id,
                             ll_event *ev, api_reply *r) {
  char *body_lot_id = NULL;
  if (take_text(body, "lot_id", &body_lot_id, r) != 0)
    return -1;
  bool differs = body_lot_id != NULL && strcmp(body_lot_id, lot_id) != 0;
  free(body_lot_id);
  if (differs) {
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "lot_id in the body differs from the lot id in the path");
    return -1;
  }
  free(ev->lot_id);
  ev->lot_id = ll_strdup(lot_id);
  if (take_text(body, "name", &ev->name, r) != 0 ||
      take_text(body, "product_id", &ev->new_product_id, r) != 0 ||
      take_text(body, "reference", &ev->reference, r) != 0 ||
      take_text(body, "description", &ev->description, r) != 0 ||
      take_dates(body, ev, r) != 0 ||
      take_properties(body, &ev->properties, r) != 0)
    return -1;
  const json_t *v = json_object_get(body, "expected_version");
  if (v != NULL && !json_is_null(v)) {
    if (!json_is_integer(v)) {
      api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                      "expected_version must be an integer");
      return -1;
    }
    ev->has_expected_version = true;
    ev->expected_version = (int64_t)json_integer_value(v);
  }
  return 0;
}

static int moved_from_json(const json_t *body, ll_event *ev, api_reply *r) {
  if (take_text(body, "product_id", &ev->product_id, r) != 0 ||
      take_text(body, "lot_id", &ev->lot_id, r) != 0 ||
      take_text(body, "lot_name", &ev->lot_name, r) != 0 ||
      take_text(body, "reference", &ev->reference, r) != 0 ||
      take_quantity(body, ev, r) != 0 ||
      take_location(body, "from", &ev->from, r) != 0 ||
      take_location(body, "to", &ev->to, r) != 0 ||
      take_partner(body, ev, r) != 0 ||
      take_text(body, "uom", &ev->uom, r) != 0)
    return -1;
  return 0;
}

/* POST .../hold and .../release: the lot from the path, the reason from
 * the body. */
static int hold_from_json(const json_t *body, const char *lot_id, ll_event *ev,
                          api_reply *r) {
  free(ev->lot_id);
  ev->lot_id = ll_strdup(lot_id);
  return take_text(body, "reason", &ev->reason, r);
}

int api_event_from_json(ll_event_type type, const json_t *body,
                        const char *lot_id, ll_event *ev, api_reply *r) {
  assert(json_is_object(body));
  switch (type) {
  case LL_EV_LOT_CREATED:
    if (!api_check_fields(body, api_lot_create_fields, "the body", r))
      return -1;
    return created_from_json(body, ev, r);
  case LL_EV_LOT_UPDATED:
    assert(lot_id != NULL);
    if (!api_check_fields(body, api_lot_update_fields, "the body", r))
      return -1;
    return updated_from_json(body, lot_id, ev, r);
  case LL_EV_STOCK_MOVED:
    if (!api_check_fields(body, api_move_fields, "the body", r))
      return -1;
    return moved_from_json(body, ev, r);
  case LL_EV_LOT_HELD:
  case LL_EV_LOT_RELEASED:
    assert(lot_id != NULL);
    if (!api_check_fields(body, api_lot_hold_fields, "the body", r))
      return -1;
    return hold_from_json(body, lot_id, ev, r);
  case LL_EV_NONE:
  default:
    break;
  }
  assert(!"api_event_from_json: unknown event type");
  return -1;
}

json_t *api_json_token(int32_t partition, uint64_t task_position) {
  char token[LL_API_TOKEN_MAX];
  snprintf(token, sizeof token, "%d:%llu", (int)partition,
           (unsigned long long)task_position);
  return json_string(token);
}
