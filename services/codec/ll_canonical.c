/* ll_canonical.c — the Parsing Canonical Form of an Avro schema.
 *
 * The fingerprint in single-object encoding is CRC-64-AVRO over this form,
 * so it must match what the Java reference implementation
 * (SchemaNormalization.toParsingForm) produces byte for byte. The schema
 * JSON is parsed with jansson and written back out applying the
 * specification's transformations in one walk:
 *
 *   PRIMITIVES  {"type":"int", ...} becomes "int" (logical types too: a
 *               timestamp-millis long is "long", as in Java);
 *   FULLNAMES   every name and named-type reference becomes a full name.
 *               A named type's namespace is the namespace part of its
 *               full name, inherited by the types nested in it; a bare
 *               reference is looked up in the enclosing namespace first,
 *               then in the null namespace (as Java does);
 *   STRIP       only name, type, fields, symbols, items, values, size;
 *   ORDER       in that order;
 *   STRINGS     jansson has already turned escapes into UTF-8; names are
 *               validated against the Avro name grammar, so nothing in the
 *               output needs escaping;
 *   INTEGERS    sizes are printed from the parsed integer;
 *   WHITESPACE  none is written.
 *
 * Names defined so far are kept in a small list for reference lookup; a
 * second definition of the same full name is an error, as in Avro. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ll_buf.h"
#include "ll_codec_internal.h"
#include "ll_mem.h"
#include "ll_types.h"

#define CANON_MAX_NAMES 1024

typedef struct canon {
  ll_buf out;
  char *names[CANON_MAX_NAMES];
  size_t name_count;
  ll_err *err;
} canon;

static const char *const primitive_names[] = {
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
};

static bool is_primitive(const char *s) {
  for (size_t i = 0; i < sizeof primitive_names / sizeof *primitive_names;
       i++) {
    if (strcmp(s, primitive_names[i]) == 0)
      return true;
  }
  return false;
}

/* [A-Za-z_][A-Za-z0-9_]* */
static bool is_simple_name(const char *s, size_t n) {
  if (n == 0)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    if (!letter && !(digit && i > 0))
      return false;
  }
  return true;
}

/* A dotted sequence of simple names; empty is allowed when allow_empty. */
static bool is_dotted_name(const char *s, bool allow_empty) {
  if (*s == '\0')
    return allow_empty;
  const char *start = s;
  for (const char *p = s;; p++) {
    if (*p == '.' || *p == '\0') {
      if (!is_simple_name(start, (size_t)(p - start)))
        return false;
      if (*p == '\0')
        return true;
      start = p + 1;
    }
  }
}

static bool name_defined(const canon *c, const char *fullname) {
  for (size_t i = 0; i < c->name_count; i++) {
    if (strcmp(c->names[i], fullname) == 0)
      return true;
  }
  return false;
}

/* Join namespace and name; malloc'd. */
static char *join_name(const char *ns, const char *name) {
  if (!ns || !*ns)
    return ll_strdup(name);
  size_t n = strlen(ns) + 1 + strlen(name) + 1;
  char *full = ll_xmalloc(n);
  snprintf(full, n, "%s.%s", ns, name);
  return full;
}

static int put_reference(canon *c, const char *ref, const char *ns) {
  if (!is_dotted_name(ref, false))
    return ll_fail(c->err, LL_ERR_CORRUPT, "invalid type name \"%.100s\"", ref);
  char *full = NULL;
  if (strchr(ref, '.')) {
    full = ll_strdup(ref);
  } else {
    full = join_name(ns, ref);
    if (!name_defined(c, full) && name_defined(c, ref)) {
      free(full);
      full = ll_strdup(ref);
    }
  }
  if (!name_defined(c, full)) {
    ll_fail(c->err, LL_ERR_CORRUPT, "unknown type \"%.100s\"", ref);
    free(full);
    return -1;
  }
  ll_buf_printf(&c->out, "\"%s\"", full);
  free(full);
  return 0;
}

static int put_schema(canon *c, const json_t *s, const char *ns, int depth);

static int put_named(canon *c, const json_t *s, const char *type,
                     const char *ns, int depth) {
  const char *name = json_string_value(json_object_get(s, "name"));
  if (!name)
    return ll_fail(c->err, LL_ERR_CORRUPT, "a %s has no \"name\"", type);
  if (!is_dotted_name(name, false))
    return ll_fail(c->err, LL_ERR_CORRUPT, "invalid name \"%.100s\"", name);

  char *full;
  if (strchr(name, '.')) {
    full = ll_strdup(name);
  } else {
    const json_t *ns_json = json_object_get(s, "namespace");
    const char *own_ns = ns;
    if (ns_json && !json_is_null(ns_json)) {
      own_ns = json_string_value(ns_json);
      if (!own_ns || !is_dotted_name(own_ns, true))
        return ll_fail(c->err, LL_ERR_CORRUPT, "invalid namespace in %.100s",
                       name);
    }
    full = join_name(own_ns, name);
  }
  if (name_defined(c, full)) {
    ll_fail(c->err, LL_ERR_CORRUPT, "type %.100s is defined twice", full);
    free(full);
    return -1;
  }
  if (c->name_count == CANON_MAX_NAMES) {
    free(full);
    return ll_fail(c->err, LL_ERR_FULL, "more than %d named types",
                   CANON_MAX_NAMES);
  }
  c->names[c->name_count++] = full;

  /* Nested types inherit the namespace part of this type's full name. */
  char inner_ns[512] = "";
  const char *dot = strrchr(full, '.');
  if (dot) {
    size_t n = (size_t)(dot - full);
    if (n >= sizeof inner_ns)
      return ll_fail(c->err, LL_ERR_FULL, "namespace too long in %.100s", full);
    memcpy(inner_ns, full, n);
    inner_ns[n] = '\0';
  }

  ll_buf_printf(&c->out, "{\"name\":\"%s\",\"type\":\"%s\"", full, type);
  if (strcmp(type, "record") == 0) {
    const json_t *fields = json_object_get(s, "fields");
    if (!json_is_array(fields))
      return ll_fail(c->err, LL_ERR_CORRUPT, "record %.100s has no \"fields\"",
                     full);
    ll_buf_printf(&c->out, ",\"fields\":[");
    for (size_t i = 0; i < json_array_size(fields); i++) {
      const json_t *f = json_array_get(fields, i);
      const char *fname = json_string_value(json_object_get(f, "name"));
      if (!fname || !is_simple_name(fname, strlen(fname)))
        return ll_fail(c->err, LL_ERR_CORRUPT, "record %.100s: bad field name",
                       full);
      const json_t *ftype = json_object_get(f, "type");
      if (!ftype)
        return ll_fail(c->err, LL_ERR_CORRUPT, "field %.100s has no \"type\"",
                       fname);
      ll_buf_printf(&c->out, "%s{\"name\":\"%s\",\"type\":", i ? "," : "",
                    fname);
      if (put_schema(c, ftype, inner_ns, depth + 1) != 0)
        return -1;
      ll_buf_put_u8(&c->out, '}');
    }
    ll_buf_put_u8(&c->out, ']');
  } else if (strcmp(type, "enum") == 0) {
    const json_t *symbols = json_object_get(s, "symbols");
    if (!json_is_array(symbols))
      return ll_fail(c->err, LL_ERR_CORRUPT, "enum %.100s has no \"symbols\"",
                     full);
    ll_buf_printf(&c->out, ",\"symbols\":[");
    for (size_t i = 0; i < json_array_size(symbols); i++) {
      const char *sym = json_string_value(json_array_get(symbols, i));
      if (!sym || !is_simple_name(sym, strlen(sym)))
        return ll_fail(c->err, LL_ERR_CORRUPT, "enum %.100s: bad symbol", full);
      ll_buf_printf(&c->out, "%s\"%s\"", i ? "," : "", sym);
    }
    ll_buf_put_u8(&c->out, ']');
  } else { /* fixed */
    const json_t *size = json_object_get(s, "size");
    if (!json_is_integer(size) || json_integer_value(size) < 0)
      return ll_fail(c->err, LL_ERR_CORRUPT,
                     "fixed %.100s has no valid \"size\"", full);
    ll_buf_printf(&c->out, ",\"size\":%lld",
                  (long long)json_integer_value(size));
  }
  ll_buf_put_u8(&c->out, '}');
  return 0;
}

static int put_schema(canon *c, const json_t *s, const char *ns, int depth) {
  if (depth > LL_AVRO_MAX_DEPTH)
    return ll_fail(c->err, LL_ERR_FULL, "schema nested deeper than %d",
                   LL_AVRO_MAX_DEPTH);
  if (json_is_string(s)) {
    const char *name = json_string_value(s);
    if (is_primitive(name)) {
      ll_buf_printf(&c->out, "\"%s\"", name);
      return 0;
    }
    return put_reference(c, name, ns);
  }
  if (json_is_array(s)) {
    ll_buf_put_u8(&c->out, '[');
    for (size_t i = 0; i < json_array_size(s); i++) {
      if (i)
        ll_buf_put_u8(&c->out, ',');
      if (put_schema(c, json_array_get(s, i), ns, depth + 1) != 0)
        return -1;
    }
    ll_buf_put_u8(&c->out, ']');
    return 0;
  }
  if (!json_is_object(s))
    return ll_fail(c->err, LL_ERR_CORRUPT,
                   "a schema must be a string, array or "
                   "object");

  const char *type = json_string_value(json_object_get(s, "type"));
  if (!type)
    return ll_fail(c->err, LL_ERR_CORRUPT,
                   "schema object without a string "
                   "\"type\"");
  if (is_primitive(type)) {
    ll_buf_printf(&c->out, "\"%s\"", type);
    return 0;
  }
  if (strcmp(type, "record") == 0 || strcmp(type, "error") == 0)
    return put_named(c, s, "record", ns, depth);
  if (strcmp(type, "enum") == 0 || strcmp(type, "fixed") == 0)
    return put_named(c, s, type, ns, depth);
  if (strcmp(type, "array") == 0 || strcmp(type, "map") == 0) {
    bool array = strcmp(type, "array") == 0;
    const char *key = array ? "items" : "values";
    const json_t *inner = json_object_get(s, key);
    if (!inner)
      return ll_fail(c->err, LL_ERR_CORRUPT, "%s without \"%s\"", type, key);
    ll_buf_printf(&c->out, "{\"type\":\"%s\",\"%s\":", type, key);
    if (put_schema(c, inner, ns, depth + 1) != 0)
      return -1;
    ll_buf_put_u8(&c->out, '}');
    return 0;
  }
  /* {"type": "SomeName"} refers to a named type. */
  return put_reference(c, type, ns);
}

char *ll_avro_canonical_form(const char *schema_json, ll_err *err) {
  if (!schema_json) {
    ll_fail(err, LL_ERR_INTERNAL, "no schema text");
    return NULL;
  }
  json_error_t jerr;
  json_t *doc = json_loads(schema_json, JSON_DECODE_ANY, &jerr);
  if (!doc) {
    ll_fail(err, LL_ERR_CORRUPT, "schema is not JSON: %s (line %d)", jerr.text,
            jerr.line);
    return NULL;
  }
  canon c = {.err = err};
  ll_buf_init(&c.out);
  int rc = put_schema(&c, doc, "", 0);
  json_decref(doc);
  for (size_t i = 0; i < c.name_count; i++)
    free(c.names[i]);
  if (rc != 0) {
    ll_buf_free(&c.out);
    return NULL;
  }
  ll_buf_put_u8(&c.out, '\0');
  return (char *)c.out.data; /* ll_buf memory is plain malloc */
}
