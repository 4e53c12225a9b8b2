/* ll_avro_scan.c — a bounds check of Avro binary against its writer schema,
 * run on every message before Avro-C reads it.
 *
 * Avro-C reads what lengths say: a string length of 2^40 makes it try to
 * allocate 1 TiB, an array block count of 2^62 of nulls makes it loop, a
 * union or enum index out of range reaches code that assumes it is in
 * range, and bytes left over after the datum go unnoticed. Rather than
 * trust it with hostile input, this walk reads the bytes the way the
 * schema says (no allocation, no values kept) and refuses anything that
 * does not end exactly at the end of the input. It also gives the
 * MALFORMED message its detail: which field, what was wrong.
 *
 * Recursion is bounded by LL_AVRO_MAX_DEPTH and item counts by
 * LL_AVRO_MAX_ITEMS, so time and stack stay bounded on any input. */
#include <inttypes.h>
#include <string.h>

#include "ll_codec_internal.h"

typedef struct scan {
  const uint8_t *p;
  const uint8_t *end;
  size_t items; /* array/map items seen so far */
  ll_err *err;
  const char *field; /* innermost record field, for messages */
} scan;

static int scan_fail(scan *s, const char *what) {
  return ll_err_set(s->err, LL_MALFORMED,
                    "Avro data does not match its schema: %s (field %s, "
                    "byte %zu from the end)",
                    what, s->field ? s->field : "-", (size_t)(s->end - s->p));
}

/* Zig-zag varint of at most max_bytes bytes. */
static int scan_varint(scan *s, int max_bytes, int64_t *out) {
  uint64_t v = 0;
  for (int i = 0; i < max_bytes; i++) {
    if (s->p >= s->end)
      return scan_fail(s, "input ends inside a number");
    uint8_t b = *s->p++;
    v |= (uint64_t)(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) {
      *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
      return 0;
    }
  }
  return scan_fail(s, "number encoded in too many bytes");
}

static int scan_skip(scan *s, int64_t n, const char *what) {
  if (n < 0)
    return scan_fail(s, what);
  if ((uint64_t)n > (uint64_t)(s->end - s->p))
    return scan_fail(s, "length runs past the end of the input");
  s->p += n;
  return 0;
}

static int scan_value(scan *s, avro_schema_t schema, int depth);

/* Arrays and maps: blocks of (count, [byte size,] items), ended by 0. */
static int scan_blocks(scan *s, avro_schema_t item, bool map, int depth) {
  for (;;) {
    int64_t count = 0;
    if (scan_varint(s, 10, &count) != 0)
      return -1;
    if (count == 0)
      return 0;
    if (count < 0) {
      if (count == INT64_MIN)
        return scan_fail(s, "bad block count");
      count = -count;
      int64_t block_bytes = 0;
      if (scan_varint(s, 10, &block_bytes) != 0)
        return -1;
      if (block_bytes < 0)
        return scan_fail(s, "negative block size");
    }
    if ((uint64_t)count > LL_AVRO_MAX_ITEMS - s->items)
      return scan_fail(s, "too many array or map items");
    s->items += (size_t)count;
    for (int64_t i = 0; i < count; i++) {
      if (map) {
        int64_t key_len = 0;
        if (scan_varint(s, 10, &key_len) != 0 ||
            scan_skip(s, key_len, "negative map key length") != 0)
          return -1;
      }
      if (scan_value(s, item, depth + 1) != 0)
        return -1;
    }
  }
}

static int scan_value(scan *s, avro_schema_t schema, int depth) {
  if (depth > LL_AVRO_MAX_DEPTH)
    return scan_fail(s, "data nested too deeply");
  schema = ll_avro_deref(schema);
  int64_t v;
  switch (avro_typeof(schema)) {
  case AVRO_NULL:
    return 0;
  case AVRO_BOOLEAN:
    if (s->p >= s->end)
      return scan_fail(s, "input ends inside a boolean");
    if (*s->p > 1)
      return scan_fail(s, "boolean that is neither 0 nor 1");
    s->p++;
    return 0;
  case AVRO_INT32:
    if (scan_varint(s, 5, &v) != 0)
      return -1;
    if (v < INT32_MIN || v > INT32_MAX)
      return scan_fail(s, "int out of range");
    return 0;
  case AVRO_INT64:
    return scan_varint(s, 10, &v);
  case AVRO_FLOAT:
    return scan_skip(s, 4, "float");
  case AVRO_DOUBLE:
    return scan_skip(s, 8, "double");
  case AVRO_STRING:
  case AVRO_BYTES:
    if (scan_varint(s, 10, &v) != 0)
      return -1;
    return scan_skip(s, v, "negative string or bytes length");
  case AVRO_FIXED:
    return scan_skip(s, avro_schema_fixed_size(schema), "fixed");
  case AVRO_ENUM:
    if (scan_varint(s, 5, &v) != 0)
      return -1;
    if (v < 0 || v >= avro_schema_enum_number_of_symbols(schema))
      return scan_fail(s, "enum index out of range");
    return 0;
  case AVRO_UNION:
    if (scan_varint(s, 10, &v) != 0)
      return -1;
    if (v < 0 || (uint64_t)v >= avro_schema_union_size(schema))
      return scan_fail(s, "union branch index out of range");
    return scan_value(s, avro_schema_union_branch(schema, (int)v), depth + 1);
  case AVRO_RECORD: {
    const char *outer = s->field;
    size_t n = avro_schema_record_size(schema);
    for (size_t i = 0; i < n; i++) {
      s->field = avro_schema_record_field_name(schema, (int)i);
      if (scan_value(s, avro_schema_record_field_get_by_index(schema, (int)i),
                     depth + 1) != 0)
        return -1;
    }
    s->field = outer;
    return 0;
  }
  case AVRO_ARRAY:
    return scan_blocks(s, avro_schema_array_items(schema), false, depth);
  case AVRO_MAP:
    return scan_blocks(s, avro_schema_map_values(schema), true, depth);
  default:
    return scan_fail(s, "schema type the codec cannot read");
  }
}

int ll_avro_scan(avro_schema_t schema, const uint8_t *p, size_t n,
                 ll_err *err) {
  scan s = {.p = p, .end = p + n, .err = err};
  if (scan_value(&s, schema, 0) != 0)
    return -1;
  if (s.p != s.end) {
    return ll_err_set(err, LL_MALFORMED,
                      "%zu unexpected bytes after the Avro record",
                      (size_t)(s.end - s.p));
  }
  return 0;
}
