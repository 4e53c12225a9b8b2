/* ll_codec_map.c — Avro values <-> lotline structs (events, rejections,
 * quantity entries).
 *
 * Reading goes by field name through the resolved-reader view (reader
 * schema field names, writer data). Avro-C's resolver cannot supply a
 * default for a reader field the writer lacks, so the codec leaves such
 * fields out of the reader schema it resolves against, and here a field
 * missing from the value takes the default written in the reader schema's
 * JSON. A field that exists nowhere reads as absent (NULL / unset), which
 * the rules turn into MISSING_FIELD where it matters.
 *
 * Enums are read as symbols, never as indexes: the codec resolves enums
 * against the writer's own enum schema (Avro-C would pass the writer's
 * index through unchanged), and the symbol is looked up by name here.
 *
 * Writing fills a generic value of the chosen writer schema: first every
 * field gets its declared default or a zero value (so a newer schema's
 * unknown fields are still encodable), then the fields lotline knows are
 * set. A field the writer schema lacks is left out: that is what an older
 * producer does. */
#include <stdlib.h>
#include <string.h>

#include "ll_codec_internal.h"
#include "ll_decimal.h"
#include "ll_event.h"
#include "ll_mem.h"
#include "ll_text.h"
#include "ll_types.h"

/* ---- JSON helpers ---- */

const json_t *ll_json_find_field(const json_t *fields, const char *name) {
  for (size_t i = 0; i < json_array_size(fields); i++) {
    const json_t *f = json_array_get(fields, i);
    const char *fname = json_string_value(json_object_get(f, "name"));
    if (fname && strcmp(fname, name) == 0)
      return f;
  }
  return NULL;
}

static bool name_matches(const char *defined, const char *wanted) {
  if (strcmp(defined, wanted) == 0)
    return true;
  const char *dot_d = strrchr(defined, '.');
  const char *dot_w = strrchr(wanted, '.');
  const char *short_d = dot_d ? dot_d + 1 : defined;
  const char *short_w = dot_w ? dot_w + 1 : wanted;
  /* A full name must match exactly; a short one matches any namespace. */
  return (!dot_w || !dot_d) && strcmp(short_d, short_w) == 0;
}

static const json_t *find_named(const json_t *s, const char *name, int depth) {
  if (depth > LL_AVRO_MAX_DEPTH)
    return NULL;
  if (json_is_array(s)) {
    for (size_t i = 0; i < json_array_size(s); i++) {
      const json_t *hit = find_named(json_array_get(s, i), name, depth + 1);
      if (hit)
        return hit;
    }
    return NULL;
  }
  if (!json_is_object(s))
    return NULL;
  const char *type = json_string_value(json_object_get(s, "type"));
  const char *sname = json_string_value(json_object_get(s, "name"));
  if (type && sname &&
      (!strcmp(type, "record") || !strcmp(type, "enum") ||
       !strcmp(type, "fixed") || !strcmp(type, "error")) &&
      name_matches(sname, name))
    return s;
  const json_t *fields = json_object_get(s, "fields");
  for (size_t i = 0; i < json_array_size(fields); i++) {
    const json_t *hit = find_named(
        json_object_get(json_array_get(fields, i), "type"), name, depth + 1);
    if (hit)
      return hit;
  }
  const char *keys[] = {"type", "items", "values"};
  for (size_t i = 0; i < 3; i++) {
    const json_t *inner = json_object_get(s, keys[i]);
    if (inner && !json_is_string(inner)) {
      const json_t *hit = find_named(inner, name, depth + 1);
      if (hit)
        return hit;
    }
  }
  return NULL;
}

const json_t *ll_json_find_named(const json_t *doc, const char *name) {
  return name ? find_named(doc, name, 0) : NULL;
}

/* ---- reading ---- */

/* Where one field's value comes from. */
typedef struct fieldval {
  bool present;
  bool is_json;
  avro_value_t value;
  const json_t *json;
  const char *name;
} fieldval;

static ll_code read_fail(ll_err *err, const char *field, const char *what) {
  ll_err_set(err, LL_MALFORMED, "field %s: %s", field, what);
  return LL_MALFORMED;
}

static ll_code rec_get(const ll_rec *r, const char *name, fieldval *fv,
                       ll_err *err) {
  memset(fv, 0, sizeof *fv);
  fv->name = name;
  if (r->has_value) {
    avro_value_t v;
    if (avro_value_get_by_name(&r->value, name, &v, NULL) == 0) {
      /* A union holds one branch; the reader's view picks it. */
      while (avro_value_get_type(&v) == AVRO_UNION) {
        avro_value_t branch;
        if (avro_value_get_current_branch(&v, &branch) != 0)
          return read_fail(err, name, avro_strerror());
        v = branch;
      }
      fv->present = true;
      fv->value = v;
      return LL_OK;
    }
  } else if (r->json_value) {
    const json_t *j = json_object_get(r->json_value, name);
    if (j) {
      fv->present = fv->is_json = true;
      fv->json = j;
      return LL_OK;
    }
  }
  const json_t *def =
      json_object_get(ll_json_find_field(r->fields_json, name), "default");
  if (def) {
    fv->present = fv->is_json = true;
    fv->json = def;
  }
  return LL_OK;
}

static bool fv_is_null(const fieldval *fv) {
  if (!fv->present)
    return true;
  if (fv->is_json)
    return json_is_null(fv->json);
  return avro_value_get_type(&fv->value) == AVRO_NULL;
}

/* The field's value: LL_OK with fv->present false when it is absent or
 * null (nothing to read). */
static ll_code get_set(const ll_rec *r, const char *name, fieldval *fv,
                       ll_err *err) {
  if (rec_get(r, name, fv, err) != LL_OK)
    return LL_MALFORMED;
  if (fv_is_null(fv))
    fv->present = false;
  return LL_OK;
}

/* What a getter accepts: the JSON type of a default and the Avro type of a
 * value, with what to say when the field holds something else. */
typedef struct field_type {
  json_type json;
  avro_type_t avro;
  const char *not_json;
  const char *not_avro;
} field_type;

static const field_type string_type = {
    JSON_STRING, AVRO_STRING, "default is not a string", "not a string"};
static const field_type symbol_type = {
    JSON_STRING, AVRO_ENUM, "default is not a symbol", "not an enum"};
static const field_type bytes_type = {JSON_STRING, AVRO_BYTES,
                                      "default is not a string", "not bytes"};
static const field_type record_type = {
    JSON_OBJECT, AVRO_RECORD, "default is not a record", "not a record"};

/* get_set, and a present value must be of type t. */
static ll_code get_typed(const ll_rec *r, const char *name, const field_type *t,
                         fieldval *fv, ll_err *err) {
  if (get_set(r, name, fv, err) != LL_OK)
    return LL_MALFORMED;
  if (!fv->present)
    return LL_OK;
  if (fv->is_json && json_typeof(fv->json) != t->json)
    return read_fail(err, name, t->not_json);
  if (!fv->is_json && avro_value_get_type(&fv->value) != t->avro)
    return read_fail(err, name, t->not_avro);
  return LL_OK;
}

/* NULL when absent or null. */
static ll_code get_str(const ll_rec *r, const char *name, char **out,
                       ll_err *err) {
  fieldval fv;
  *out = NULL;
  if (get_typed(r, name, &string_type, &fv, err) != LL_OK)
    return LL_MALFORMED;
  if (!fv.present)
    return LL_OK;
  if (fv.is_json) {
    *out = ll_strdup(json_string_value(fv.json));
    return LL_OK;
  }
  const char *s = NULL;
  size_t size = 0; /* Avro-C counts the terminating NUL */
  if (avro_value_get_string(&fv.value, &s, &size) != 0 || !s || size == 0)
    return read_fail(err, name, "unreadable string");
  if (memchr(s, '\0', size - 1))
    return read_fail(err, name, "string holds a NUL byte");
  *out = ll_strdup(s);
  return LL_OK;
}

static ll_code get_long(const ll_rec *r, const char *name, bool *set,
                        int64_t *out, ll_err *err) {
  fieldval fv;
  *set = false;
  *out = 0;
  if (get_set(r, name, &fv, err) != LL_OK)
    return LL_MALFORMED;
  if (!fv.present)
    return LL_OK;
  if (fv.is_json) {
    if (!json_is_integer(fv.json))
      return read_fail(err, name, "default is not an integer");
    *out = (int64_t)json_integer_value(fv.json);
  } else if (avro_value_get_type(&fv.value) == AVRO_INT64) {
    if (avro_value_get_long(&fv.value, out) != 0)
      return read_fail(err, name, avro_strerror());
  } else if (avro_value_get_type(&fv.value) == AVRO_INT32) {
    int32_t v32;
    if (avro_value_get_int(&fv.value, &v32) != 0)
      return read_fail(err, name, avro_strerror());
    *out = v32;
  } else {
    return read_fail(err, name, "not an integer");
  }
  *set = true;
  return LL_OK;
}

static ll_code get_time(const ll_rec *r, const char *name, ll_opt_time *t,
                        ll_err *err) {
  return get_long(r, name, &t->set, &t->ms, err);
}

/* A required long: absent reads as 0 (only a broken reader schema lacks
 * it, and then there is nothing better to say). */
static ll_code get_req_long(const ll_rec *r, const char *name, int64_t *out,
                            ll_err *err) {
  bool set;
  return get_long(r, name, &set, out, err);
}

/* The enum symbol; *sym stays NULL when absent. */
static ll_code get_symbol(const ll_rec *r, const char *name, const char **sym,
                          ll_err *err) {
  fieldval fv;
  *sym = NULL;
  if (get_typed(r, name, &symbol_type, &fv, err) != LL_OK)
    return LL_MALFORMED;
  if (!fv.present)
    return LL_OK;
  if (fv.is_json) {
    *sym = json_string_value(fv.json);
    return LL_OK;
  }
  int index;
  if (avro_value_get_enum(&fv.value, &index) != 0)
    return read_fail(err, name, avro_strerror());
  avro_schema_t schema = ll_avro_deref(avro_value_get_schema(&fv.value));
  if (index < 0 || index >= avro_schema_enum_number_of_symbols(schema))
    return read_fail(err, name, "enum index out of range");
  *sym = avro_schema_enum_get(schema, index);
  return LL_OK;
}

/* Bytes, copied; *out stays NULL when absent or null. A JSON default for
 * bytes is a string whose code points 0-255 are the bytes. */
static ll_code get_bytes(const ll_rec *r, const char *name, uint8_t **out,
                         size_t *len, ll_err *err) {
  fieldval fv;
  *out = NULL;
  *len = 0;
  if (get_typed(r, name, &bytes_type, &fv, err) != LL_OK)
    return LL_MALFORMED;
  if (!fv.present)
    return LL_OK;
  if (fv.is_json) {
    const uint8_t *s = (const uint8_t *)json_string_value(fv.json);
    size_t n = json_string_length(fv.json);
    uint8_t *b = ll_xmalloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
      if (s[i] < 0x80) {
        b[k++] = s[i];
      } else if ((s[i] & 0xE0) == 0xC0 && i + 1 < n && s[i] <= 0xC3) {
        b[k++] = (uint8_t)(((s[i] & 0x1F) << 6) | (s[i + 1] & 0x3F));
        i++;
      } else {
        free(b);
        return read_fail(err, name, "bytes default above U+00FF");
      }
    }
    *out = b;
    *len = k;
    return LL_OK;
  }
  const void *p = NULL;
  size_t n = 0;
  if (avro_value_get_bytes(&fv.value, &p, &n) != 0)
    return read_fail(err, name, avro_strerror());
  *out = ll_xmalloc(n ? n : 1);
  if (n)
    memcpy(*out, p, n);
  *len = n;
  return LL_OK;
}

/* The reader's "fields" of the record type named name, remembered. */
static const json_t *nested_fields(const ll_rec *r, const char *name) {
  ll_names_memo *m = r->names;
  for (size_t i = 0; m && i < m->n; i++)
    if (m->name[i] == name)
      return m->fields[i];
  const json_t *fields =
      json_object_get(ll_json_find_named(r->reader_doc, name), "fields");
  if (m && m->n < LL_NAMES_MEMO_MAX && name) {
    m->name[m->n] = name;
    m->fields[m->n] = fields;
    m->n++;
  }
  return fields;
}

/* A nested record; sub reads as all-absent when the field is absent. */
static ll_code get_record(const ll_rec *r, const char *name, ll_rec *sub,
                          ll_err *err) {
  fieldval fv;
  memset(sub, 0, sizeof *sub);
  sub->reader_doc = r->reader_doc;
  if (get_typed(r, name, &record_type, &fv, err) != LL_OK)
    return LL_MALFORMED;
  if (!fv.present)
    return LL_OK;
  if (fv.is_json) {
    sub->json_value = fv.json;
    return LL_OK;
  }
  sub->has_value = true;
  sub->value = fv.value;
  sub->names = r->names;
  sub->fields_json =
      nested_fields(r, avro_schema_name(avro_value_get_schema(&fv.value)));
  return LL_OK;
}

static ll_code get_quantity(const ll_rec *r, const char *name, bool *valid,
                            int64_t *micro, ll_err *err) {
  uint8_t *bytes;
  size_t n;
  *valid = false;
  *micro = 0;
  if (get_bytes(r, name, &bytes, &n, err) != LL_OK)
    return LL_MALFORMED;
  if (bytes)
    *valid = ll_decimal_from_avro(bytes, n, micro);
  free(bytes);
  if (!*valid)
    *micro = 0;
  return LL_OK;
}

static ll_code get_location(const ll_rec *r, const char *name, ll_location *loc,
                            ll_err *err) {
  ll_rec sub;
  const char *usage;
  if (get_record(r, name, &sub, err) != LL_OK ||
      get_str(&sub, "id", &loc->id, err) != LL_OK ||
      get_symbol(&sub, "usage", &usage, err) != LL_OK)
    return LL_MALFORMED;
  if (!usage) {
    if (!loc->id)
      return LL_OK; /* no location at all: the rules say MISSING_FIELD */
    return read_fail(err, name, "location without a usage");
  }
  if (!ll_usage_parse(usage, &loc->usage)) {
    ll_err_set(err, LL_MALFORMED, "field %s: unknown usage %.64s", name, usage);
    return LL_MALFORMED;
  }
  return LL_OK;
}

/* A map of strings, sorted by key; absent or null leaves it empty. More
 * than LL_PROPERTIES_MAX entries is malformed (a bound on what one event
 * may add to a lot). */
static ll_code get_string_map(const ll_rec *r, const char *name, ll_props *out,
                              ll_err *err) {
  fieldval fv;
  if (get_set(r, name, &fv, err) != LL_OK)
    return LL_MALFORMED;
  if (!fv.present)
    return LL_OK;
  if (fv.is_json) {
    if (!json_is_object(fv.json))
      return read_fail(err, name, "default is not a map");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)fv.json, k, v) {
      if (!json_is_string(v))
        return read_fail(err, name, "default value is not a string");
      ll_props_add(out, k, json_string_value(v));
    }
  } else {
    if (avro_value_get_type(&fv.value) != AVRO_MAP)
      return read_fail(err, name, "not a map");
    size_t n = 0;
    avro_value_get_size(&fv.value, &n);
    if (n > LL_PROPERTIES_MAX)
      return read_fail(err, name, "more entries than lotline keeps");
    for (size_t i = 0; i < n; i++) {
      avro_value_t v;
      const char *k = NULL, *s = NULL;
      size_t size = 0;
      if (avro_value_get_by_index(&fv.value, i, &v, &k) != 0 || k == NULL ||
          avro_value_get_type(&v) != AVRO_STRING ||
          avro_value_get_string(&v, &s, &size) != 0 || s == NULL || size == 0)
        return read_fail(err, name, "unreadable entry");
      if (memchr(s, '\0', size - 1))
        return read_fail(err, name, "string holds a NUL byte");
      ll_props_add(out, k, s);
    }
  }
  ll_props_sort(out);
  return LL_OK;
}

/* StockMoved.partner: {id, name}; absent leaves both NULL. */
static ll_code get_partner(const ll_rec *r, ll_event *ev, ll_err *err) {
  ll_rec sub;
  if (get_record(r, "partner", &sub, err) != LL_OK)
    return LL_MALFORMED;
  if (!sub.has_value && !sub.json_value)
    return LL_OK;
  if (get_str(&sub, "id", &ev->partner_id, err) != LL_OK ||
      get_str(&sub, "name", &ev->partner_name, err) != LL_OK)
    return LL_MALFORMED;
  if (!ev->partner_id)
    ev->partner_id = ll_strdup(""); /* the rules answer MISSING_FIELD */
  return LL_OK;
}

#define TRY(call)                                                              \
  do {                                                                         \
    if ((call) != LL_OK)                                                       \
      return LL_MALFORMED;                                                     \
  } while (0)

static ll_code read_common(const ll_rec *r, ll_event *ev, ll_err *err) {
  TRY(get_str(r, "event_id", &ev->event_id, err));
  TRY(get_req_long(r, "occurred_at", &ev->occurred_at_ms, err));
  TRY(get_str(r, "product_id", &ev->product_id, err));
  TRY(get_str(r, "lot_id", &ev->lot_id, err));
  TRY(get_str(r, "reference", &ev->reference, err));
  return LL_OK;
}

static ll_code read_dates(const ll_rec *r, ll_event *ev, ll_err *err) {
  TRY(get_time(r, "expiration_at", &ev->expiration_at, err));
  TRY(get_time(r, "use_by_at", &ev->use_by_at, err));
  TRY(get_time(r, "removal_at", &ev->removal_at, err));
  TRY(get_time(r, "alert_at", &ev->alert_at, err));
  return LL_OK;
}

/* A move's blank lot_id is an absent one (docs/rejections.md,
 * MISSING_FIELD): the move names its lot by lot_name, and the log holds it
 * with the lot_id the rules find (command_entry.h). Made absent here,
 * before anything takes the event's digest, so that a blank and a missing
 * lot_id are the same event, and the log never holds a blank lot id. */
static void absent_if_blank(char **s) {
  if (*s != NULL && ll_text_blank(*s)) {
    free(*s);
    *s = NULL;
  }
}

ll_code ll_map_read_event(ll_kind kind, const ll_rec *r, ll_event *ev,
                          ll_err *err) {
  TRY(read_common(r, ev, err));
  switch (kind) {
  case LL_KIND_LOT_CREATED: {
    ev->type = LL_EV_LOT_CREATED;
    const char *tracking;
    TRY(get_str(r, "name", &ev->name, err));
    TRY(get_str(r, "description", &ev->description, err));
    TRY(get_symbol(r, "tracking", &tracking, err));
    if (!tracking)
      return read_fail(err, "tracking", "no value");
    if (!ll_tracking_parse(tracking, &ev->tracking)) {
      ll_err_set(err, LL_MALFORMED, "field tracking: unknown symbol %.64s",
                 tracking);
      return LL_MALFORMED;
    }
    TRY(get_str(r, "uom", &ev->uom, err));
    TRY(get_string_map(r, "properties", &ev->properties, err));
    return read_dates(r, ev, err);
  }
  case LL_KIND_LOT_UPDATED:
    ev->type = LL_EV_LOT_UPDATED;
    TRY(get_long(r, "expected_version", &ev->has_expected_version,
                 &ev->expected_version, err));
    TRY(get_str(r, "name", &ev->name, err));
    TRY(get_str(r, "new_product_id", &ev->new_product_id, err));
    TRY(get_str(r, "description", &ev->description, err));
    TRY(get_string_map(r, "properties", &ev->properties, err));
    return read_dates(r, ev, err);
  case LL_KIND_LOT_HELD:
  case LL_KIND_LOT_RELEASED:
    ev->type = kind == LL_KIND_LOT_HELD ? LL_EV_LOT_HELD : LL_EV_LOT_RELEASED;
    TRY(get_str(r, "reason", &ev->reason, err));
    return LL_OK;
  case LL_KIND_STOCK_MOVED:
    ev->type = LL_EV_STOCK_MOVED;
    absent_if_blank(&ev->lot_id);
    TRY(get_str(r, "lot_name", &ev->lot_name, err));
    TRY(get_quantity(r, "quantity", &ev->quantity_valid, &ev->quantity_micro,
                     err));
    TRY(get_location(r, "from", &ev->from, err));
    TRY(get_location(r, "to", &ev->to, err));
    TRY(get_partner(r, ev, err));
    TRY(get_str(r, "uom", &ev->uom, err));
    return LL_OK;
  default:
    ll_err_set(err, LL_UNKNOWN_SCHEMA, "%s is not an event",
               ll_kind_record_name(kind));
    return LL_UNKNOWN_SCHEMA;
  }
}

ll_code ll_map_read_rejection(const ll_rec *r, ll_rejection *rj, ll_err *err) {
  char *code = NULL;
  int64_t partition = 0;
  TRY(get_str(r, "event_id", &rj->event_id, err));
  TRY(get_str(r, "code", &code, err));
  bool known = code && ll_code_parse(code, &rj->code) && rj->code != LL_OK;
  if (!known) {
    ll_err_set(err, LL_MALFORMED, "field code: unknown rejection code %.64s",
               code ? code : "(none)");
    free(code);
    return LL_MALFORMED;
  }
  free(code);
  TRY(get_str(r, "message", &rj->message, err));
  TRY(get_str(r, "topic", &rj->topic, err));
  TRY(get_req_long(r, "partition", &partition, err));
  if (partition < INT32_MIN || partition > INT32_MAX)
    return read_fail(err, "partition", "out of range");
  rj->partition = (int32_t)partition;
  TRY(get_req_long(r, "offset", &rj->offset, err));
  TRY(get_req_long(r, "rejected_at", &rj->rejected_at_ms, err));
  TRY(get_bytes(r, "key", &rj->key, &rj->key_len, err));
  TRY(get_bytes(r, "value", &rj->value, &rj->value_len, err));
  return LL_OK;
}

ll_code ll_map_read_quantity(const ll_rec *r, ll_quantity_changed *q,
                             ll_err *err) {
  const char *usage;
  bool valid;
  TRY(get_str(r, "lot_id", &q->lot_id, err));
  TRY(get_str(r, "product_id", &q->product_id, err));
  TRY(get_str(r, "location", &q->location, err));
  TRY(get_symbol(r, "usage", &usage, err));
  if (!usage || !ll_usage_parse(usage, &q->usage))
    return read_fail(err, "usage", "unknown or missing usage");
  TRY(get_quantity(r, "quantity", &valid, &q->quantity_micro, err));
  if (!valid)
    return read_fail(err, "quantity", "not a decimal that fits");
  TRY(get_req_long(r, "position", &q->position, err));
  TRY(get_req_long(r, "occurred_at", &q->occurred_at_ms, err));
  return LL_OK;
}

/* ---- writing ---- */

static int write_fail(ll_err *err, const char *field, const char *what) {
  return ll_fail(err, LL_ERR_INTERNAL, "cannot encode field %s: %s", field,
                 what);
}

/* Give a fresh value something writable: first union branch, empty
 * string/bytes, zeroed fixed, recursively. */
static int fill_zero(avro_value_t *v, int depth, ll_err *err) {
  if (depth > LL_AVRO_MAX_DEPTH)
    return write_fail(err, "-", "schema nests too deeply to fill");
  switch (avro_value_get_type(v)) {
  case AVRO_STRING:
    return avro_value_set_string(v, "") ? write_fail(err, "-", "string") : 0;
  case AVRO_BYTES:
    return avro_value_set_bytes(v, (void *)"", 0)
               ? write_fail(err, "-", "bytes")
               : 0;
  case AVRO_FIXED: {
    avro_schema_t s = ll_avro_deref(avro_value_get_schema(v));
    size_t n = (size_t)avro_schema_fixed_size(s);
    void *zeros = ll_xcalloc(n ? n : 1, 1);
    int rc = avro_value_set_fixed(v, zeros, n);
    free(zeros);
    return rc ? write_fail(err, "-", "fixed") : 0;
  }
  case AVRO_UNION: {
    avro_value_t branch;
    if (avro_value_set_branch(v, 0, &branch) != 0)
      return write_fail(err, "-", avro_strerror());
    return fill_zero(&branch, depth + 1, err);
  }
  case AVRO_RECORD: {
    size_t n = 0;
    avro_value_get_size(v, &n);
    for (size_t i = 0; i < n; i++) {
      avro_value_t field;
      if (avro_value_get_by_index(v, i, &field, NULL) != 0 ||
          fill_zero(&field, depth + 1, err) != 0)
        return -1;
    }
    return 0;
  }
  default:
    return 0; /* numbers, enums, null, empty arrays and maps are fine */
  }
}

/* A declared default (JSON) into a value; for a union it is the first
 * branch's value, as the specification says. */
static int fill_json(avro_value_t *v, const json_t *j, const char *field,
                     int depth, ll_err *err) {
  if (depth > LL_AVRO_MAX_DEPTH)
    return write_fail(err, field, "default nests too deeply");
  int rc = 0;
  switch (avro_value_get_type(v)) {
  case AVRO_UNION: {
    avro_value_t branch;
    if (avro_value_set_branch(v, 0, &branch) != 0)
      return write_fail(err, field, avro_strerror());
    return fill_json(&branch, j, field, depth + 1, err);
  }
  case AVRO_NULL:
    return 0;
  case AVRO_BOOLEAN:
    rc = avro_value_set_boolean(v, json_is_true(j));
    break;
  case AVRO_INT32:
    rc = avro_value_set_int(v, (int32_t)json_integer_value(j));
    break;
  case AVRO_INT64:
    rc = avro_value_set_long(v, (int64_t)json_integer_value(j));
    break;
  case AVRO_FLOAT:
    rc = avro_value_set_float(v, (float)json_number_value(j));
    break;
  case AVRO_DOUBLE:
    rc = avro_value_set_double(v, json_number_value(j));
    break;
  case AVRO_STRING:
    rc =
        avro_value_set_string(v, json_is_string(j) ? json_string_value(j) : "");
    break;
  case AVRO_ENUM: {
    avro_schema_t s = ll_avro_deref(avro_value_get_schema(v));
    int index = json_is_string(j)
                    ? avro_schema_enum_get_by_name(s, json_string_value(j))
                    : -1;
    rc = avro_value_set_enum(v, index < 0 ? 0 : index);
    break;
  }
  case AVRO_RECORD: {
    size_t n = 0;
    avro_value_get_size(v, &n);
    for (size_t i = 0; i < n; i++) {
      avro_value_t sub;
      const char *name = NULL;
      if (avro_value_get_by_index(v, i, &sub, &name) != 0)
        return write_fail(err, field, avro_strerror());
      const json_t *sj = json_object_get(j, name);
      if (sj && fill_json(&sub, sj, name, depth + 1, err) != 0)
        return -1;
    }
    return 0;
  }
  default:
    return 0; /* bytes, fixed, arrays, maps keep their zero value */
  }
  return rc ? write_fail(err, field, avro_strerror()) : 0;
}

static int fill_defaults(avro_value_t *rec, const json_t *writer_doc,
                         ll_err *err) {
  if (fill_zero(rec, 0, err) != 0)
    return -1;
  const json_t *fields = json_object_get(writer_doc, "fields");
  for (size_t i = 0; i < json_array_size(fields); i++) {
    const json_t *f = json_array_get(fields, i);
    const json_t *def = json_object_get(f, "default");
    const char *name = json_string_value(json_object_get(f, "name"));
    avro_value_t v;
    if (def && name && avro_value_get_by_name(rec, name, &v, NULL) == 0 &&
        fill_json(&v, def, name, 1, err) != 0)
      return -1;
  }
  return 0;
}

/* Select the union branch of type `want` (or use the plain value if it has
 * that type). Returns 0, 1 when there is no such branch, -1 on error. */
static int select_type(avro_value_t *f, avro_type_t want, avro_value_t *out) {
  if (avro_value_get_type(f) == want) {
    *out = *f;
    return 0;
  }
  if (avro_value_get_type(f) != AVRO_UNION)
    return 1;
  avro_schema_t u = ll_avro_deref(avro_value_get_schema(f));
  size_t n = avro_schema_union_size(u);
  for (size_t i = 0; i < n; i++) {
    avro_schema_t b = ll_avro_deref(avro_schema_union_branch(u, (int)i));
    if (avro_typeof(b) == want)
      return avro_value_set_branch(f, (int)i, out) == 0 ? 0 : -1;
  }
  return 1;
}

/* Look the field up; 1 when the writer schema does not have it. */
static int field_of(avro_value_t *rec, const char *name, avro_value_t *out) {
  return avro_value_get_by_name(rec, name, out, NULL) == 0 ? 0 : 1;
}

static int put_null(avro_value_t *f, const char *name, ll_err *err) {
  avro_value_t b;
  if (select_type(f, AVRO_NULL, &b) != 0)
    return write_fail(err, name, "required by the schema, but absent");
  return 0;
}

static int put_str(avro_value_t *rec, const char *name, const char *s,
                   ll_err *err) {
  avro_value_t f, b;
  if (field_of(rec, name, &f))
    return 0;
  /* An absent required text goes out empty: the rules then answer
   * MISSING_FIELD, the same as for an empty one. */
  if (!s && select_type(&f, AVRO_NULL, &b) == 0)
    return 0;
  if (select_type(&f, AVRO_STRING, &b) != 0)
    return write_fail(err, name, "the schema has no string here");
  return avro_value_set_string(&b, s ? s : "")
             ? write_fail(err, name, avro_strerror())
             : 0;
}

static int put_long(avro_value_t *rec, const char *name, bool set, int64_t v,
                    ll_err *err) {
  avro_value_t f, b;
  if (field_of(rec, name, &f))
    return 0;
  if (!set)
    return put_null(&f, name, err);
  if (select_type(&f, AVRO_INT64, &b) == 0)
    return avro_value_set_long(&b, v) ? write_fail(err, name, avro_strerror())
                                      : 0;
  if (select_type(&f, AVRO_INT32, &b) == 0) {
    if (v < INT32_MIN || v > INT32_MAX)
      return write_fail(err, name, "does not fit an Avro int");
    return avro_value_set_int(&b, (int32_t)v)
               ? write_fail(err, name, avro_strerror())
               : 0;
  }
  return write_fail(err, name, "the schema has no number here");
}

static int put_time(avro_value_t *rec, const char *name, ll_opt_time t,
                    ll_err *err) {
  return put_long(rec, name, t.set, t.ms, err);
}

static int put_symbol(avro_value_t *rec, const char *name, const char *sym,
                      ll_err *err) {
  avro_value_t f, b;
  if (field_of(rec, name, &f))
    return 0;
  if (select_type(&f, AVRO_ENUM, &b) != 0)
    return write_fail(err, name, "the schema has no enum here");
  avro_schema_t s = ll_avro_deref(avro_value_get_schema(&b));
  int index = avro_schema_enum_get_by_name(s, sym);
  if (index < 0)
    return write_fail(err, name, "symbol not in the writer schema");
  return avro_value_set_enum(&b, index) ? write_fail(err, name, avro_strerror())
                                        : 0;
}

static int put_bytes(avro_value_t *rec, const char *name, const void *p,
                     size_t n, ll_err *err) {
  avro_value_t f, b;
  if (field_of(rec, name, &f))
    return 0;
  if (!p)
    return put_null(&f, name, err);
  if (select_type(&f, AVRO_BYTES, &b) != 0)
    return write_fail(err, name, "the schema has no bytes here");
  return avro_value_set_bytes(&b, (void *)p, n)
             ? write_fail(err, name, avro_strerror())
             : 0;
}

static int put_quantity(avro_value_t *rec, const char *name, int64_t micro,
                        ll_err *err) {
  uint8_t bytes[8];
  size_t n = ll_decimal_to_avro(micro, bytes);
  return put_bytes(rec, name, bytes, n, err);
}

static int put_location(avro_value_t *rec, const char *name,
                        const ll_location *loc, ll_err *err) {
  avro_value_t f, b;
  if (field_of(rec, name, &f))
    return 0;
  if (select_type(&f, AVRO_RECORD, &b) != 0)
    return write_fail(err, name, "the schema has no record here");
  if ((int)loc->usage < 0 || loc->usage >= LL_USAGE_COUNT)
    return write_fail(err, name, "usage out of range");
  if (put_str(&b, "id", loc->id, err) != 0 ||
      put_symbol(&b, "usage", ll_usage_name(loc->usage), err) != 0)
    return -1;
  return 0;
}

/* A map of strings, or null when empty and the schema allows it. */
static int put_string_map(avro_value_t *rec, const char *name,
                          const ll_props *p, ll_err *err) {
  avro_value_t f, b;
  if (field_of(rec, name, &f))
    return 0;
  if (p->n == 0 && select_type(&f, AVRO_NULL, &b) == 0)
    return 0;
  if (select_type(&f, AVRO_MAP, &b) != 0)
    return write_fail(err, name, "the schema has no map here");
  for (size_t i = 0; i < p->n; i++) {
    avro_value_t elem;
    if (avro_value_add(&b, p->items[i].key, &elem, NULL, NULL) != 0 ||
        avro_value_set_string(&elem,
                              p->items[i].value ? p->items[i].value : "") != 0)
      return write_fail(err, name, avro_strerror());
  }
  return 0;
}

static int put_partner(avro_value_t *rec, const ll_event *ev, ll_err *err) {
  avro_value_t f, b;
  if (field_of(rec, "partner", &f))
    return 0;
  if (!ev->partner_id && !ev->partner_name)
    return put_null(&f, "partner", err);
  if (select_type(&f, AVRO_RECORD, &b) != 0)
    return write_fail(err, "partner", "the schema has no record here");
  if (put_str(&b, "id", ev->partner_id, err) != 0 ||
      put_str(&b, "name", ev->partner_name, err) != 0)
    return -1;
  return 0;
}

#define PUT(call)                                                              \
  do {                                                                         \
    if ((call) != 0)                                                           \
      return -1;                                                               \
  } while (0)

int ll_map_write_event(avro_value_t *rec, const json_t *writer_doc,
                       const ll_event *ev, ll_err *err) {
  PUT(fill_defaults(rec, writer_doc, err));
  PUT(put_str(rec, "event_id", ev->event_id, err));
  PUT(put_long(rec, "occurred_at", true, ev->occurred_at_ms, err));
  PUT(put_str(rec, "product_id", ev->product_id, err));
  PUT(put_str(rec, "lot_id", ev->lot_id, err));
  PUT(put_str(rec, "reference", ev->reference, err));
  switch (ev->type) {
  case LL_EV_LOT_CREATED:
    PUT(put_str(rec, "name", ev->name, err));
    PUT(put_str(rec, "description", ev->description, err));
    PUT(put_symbol(rec, "tracking", ll_tracking_name(ev->tracking), err));
    PUT(put_str(rec, "uom", ev->uom, err));
    PUT(put_string_map(rec, "properties", &ev->properties, err));
    break;
  case LL_EV_LOT_UPDATED:
    PUT(put_long(rec, "expected_version", ev->has_expected_version,
                 ev->expected_version, err));
    PUT(put_str(rec, "name", ev->name, err));
    PUT(put_str(rec, "new_product_id", ev->new_product_id, err));
    PUT(put_str(rec, "description", ev->description, err));
    PUT(put_string_map(rec, "properties", &ev->properties, err));
    break;
  case LL_EV_LOT_HELD:
  case LL_EV_LOT_RELEASED:
    PUT(put_str(rec, "reason", ev->reason, err));
    return 0;
  case LL_EV_STOCK_MOVED:
    if (!ev->quantity_valid)
      return write_fail(err, "quantity", "no valid quantity");
    PUT(put_str(rec, "lot_name", ev->lot_name, err));
    PUT(put_quantity(rec, "quantity", ev->quantity_micro, err));
    PUT(put_location(rec, "from", &ev->from, err));
    PUT(put_location(rec, "to", &ev->to, err));
    PUT(put_partner(rec, ev, err));
    PUT(put_str(rec, "uom", ev->uom, err));
    return 0;
  default:
    return write_fail(err, "type", "not an event type");
  }
  PUT(put_time(rec, "expiration_at", ev->expiration_at, err));
  PUT(put_time(rec, "use_by_at", ev->use_by_at, err));
  PUT(put_time(rec, "removal_at", ev->removal_at, err));
  PUT(put_time(rec, "alert_at", ev->alert_at, err));
  return 0;
}

int ll_map_write_rejection(avro_value_t *rec, const json_t *writer_doc,
                           const ll_rejection *r, ll_err *err) {
  if ((int)r->code <= LL_OK || r->code >= LL_CODE_COUNT)
    return write_fail(err, "code", "not a rejection code");
  PUT(fill_defaults(rec, writer_doc, err));
  PUT(put_str(rec, "event_id", r->event_id, err));
  PUT(put_str(rec, "code", ll_code_name(r->code), err));
  PUT(put_str(rec, "message", r->message ? r->message : "", err));
  PUT(put_str(rec, "topic", r->topic ? r->topic : "", err));
  PUT(put_long(rec, "partition", true, r->partition, err));
  PUT(put_long(rec, "offset", true, r->offset, err));
  PUT(put_long(rec, "rejected_at", true, r->rejected_at_ms, err));
  PUT(put_bytes(rec, "key", r->key, r->key_len, err));
  PUT(put_bytes(rec, "value", r->value ? (const void *)r->value : "",
                r->value ? r->value_len : 0, err));
  return 0;
}

int ll_map_write_quantity(avro_value_t *rec, const json_t *writer_doc,
                          const ll_quantity_changed *q, ll_err *err) {
  if ((int)q->usage < 0 || q->usage >= LL_USAGE_COUNT)
    return write_fail(err, "usage", "out of range");
  PUT(fill_defaults(rec, writer_doc, err));
  PUT(put_str(rec, "lot_id", q->lot_id, err));
  PUT(put_str(rec, "product_id", q->product_id, err));
  PUT(put_str(rec, "location", q->location, err));
  PUT(put_symbol(rec, "usage", ll_usage_name(q->usage), err));
  PUT(put_quantity(rec, "quantity", q->quantity_micro, err));
  PUT(put_long(rec, "position", true, q->position, err));
  PUT(put_long(rec, "occurred_at", true, q->occurred_at_ms, err));
  return 0;
}

const char *ll_date_kind_name(ll_date_kind kind) {
  static const char *const names[LL_DATE_KIND_COUNT] = {
      "ALERT", "USE_BY", "REMOVAL", "EXPIRATION"};
  return (int)kind >= 0 && kind < LL_DATE_KIND_COUNT ? names[kind] : "?";
}

int ll_map_write_date_reached(avro_value_t *rec, const json_t *writer_doc,
                              const ll_date_reached *a, ll_err *err) {
  if ((int)a->kind < 0 || a->kind >= LL_DATE_KIND_COUNT)
    return write_fail(err, "kind", "out of range");
  PUT(fill_defaults(rec, writer_doc, err));
  PUT(put_str(rec, "lot_id", a->lot_id, err));
  PUT(put_str(rec, "product_id", a->product_id, err));
  PUT(put_symbol(rec, "kind", ll_date_kind_name(a->kind), err));
  PUT(put_long(rec, "at", true, a->at_ms, err));
  PUT(put_quantity(rec, "on_hand", a->on_hand_micro, err));
  return 0;
}
