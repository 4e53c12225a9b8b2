/* bulk_parse.c — the pure half of bulk creation: name series and rows of
 * CSV or NDJSON made into API requests (see bulk.h). No I/O here, so the
 * unit tests (tests/cli/test_bulk.c) can feed it anything.
 *
 * The CLI checks form, not rules: a row that cannot become a request at all
 * (bad CSV quoting, not a JSON object, unknown type) is a BAD_ROW; a value
 * of the right shape but wrong for the domain (an unknown usage, a quantity
 * with 7 decimals, a time that is not RFC 3339) goes to the API, which
 * answers with its code (docs/rejections.md), so the rejects file always says
 * what lotline itself would say. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulk.h"
#include "ll_mem.h"
#include "ll_text.h"
#include "ll_time.h"
#include "ll_types.h"

#define ENUM_NAME_MAX 16

static int bad(char *msg, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(char *msg, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, n, fmt, ap);
  va_end(ap);
  return -1;
}

/* ---- name series ---- */

char *bulk_name_add(const char *name, uint64_t step) {
  size_t len = strlen(name);
  size_t end = len;
  while (end > 0 && !isdigit((unsigned char)name[end - 1])) {
    end--;
  }
  if (end == 0) {
    return NULL; /* no digit at all */
  }
  size_t start = end;
  while (start > 0 && isdigit((unsigned char)name[start - 1])) {
    start--;
  }
  /* Add step to the digit string from the right, with carry; one more
   * digit in front if it overflows. */
  size_t digits = end - start;
  char *sum = ll_xmalloc(digits + 21 + 1);
  size_t w = digits + 21; /* write position (exclusive), from the right */
  sum[w] = '\0';
  uint64_t carry = step;
  for (size_t i = end; i > start; i--) {
    uint64_t d = (uint64_t)(name[i - 1] - '0') + carry % 10;
    carry = carry / 10 + d / 10;
    sum[--w] = (char)('0' + d % 10);
  }
  while (carry > 0) {
    sum[--w] = (char)('0' + carry % 10);
    carry /= 10;
  }
  size_t sum_len = digits + 21 - w;
  char *out = ll_xmalloc(start + sum_len + (len - end) + 1);
  memcpy(out, name, start);
  memcpy(out + start, sum + w, sum_len);
  memcpy(out + start + sum_len, name + end, len - end + 1);
  free(sum);
  return out;
}

/* ---- requests ---- */

void bulk_request_free(bulk_request *r) {
  json_decref(r->body);
  free(r->product);
  free(r->idempotency_key);
  memset(r, 0, sizeof *r);
}

void bulk_fields_free(bulk_fields *f) {
  for (size_t i = 0; i < f->n; i++) {
    free(f->v[i]);
  }
  f->n = 0;
}

/* ---- CSV ---- */

typedef struct field_buf {
  char *p;
  size_t len, cap;
  bool too_long;
} field_buf;

static void fb_put(field_buf *b, char c) {
  if (b->len + 1 >= BULK_FIELD_MAX_BYTES) {
    b->too_long = true;
    return;
  }
  if (b->len + 2 > b->cap) {
    b->cap = b->cap ? b->cap * 2 : 64;
    b->p = ll_xrealloc(b->p, b->cap);
  }
  b->p[b->len++] = c;
}

static char *fb_take(field_buf *b, bool trim) {
  size_t s = 0, e = b->len;
  if (trim) {
    while (s < e && (b->p[s] == ' ' || b->p[s] == '\t')) {
      s++;
    }
    while (e > s && (b->p[e - 1] == ' ' || b->p[e - 1] == '\t')) {
      e--;
    }
  }
  char *out = ll_xmalloc(e - s + 1);
  if (e > s) {
    memcpy(out, b->p + s, e - s);
  }
  out[e - s] = '\0';
  b->len = 0;
  return out;
}

/* Skip to just past the end of the current line (error recovery). */
static void skip_line(const char **p, const char *end, size_t *lines) {
  while (*p < end && **p != '\n') {
    (*p)++;
  }
  if (*p < end) {
    (*p)++;
    (*lines)++;
  }
}

int bulk_csv_record(const char **p, const char *end, bulk_fields *out,
                    size_t *lines, char *msg, size_t msg_size) {
  memset(out, 0, sizeof *out);
  field_buf b = {0};
  const char *s = *p;
  const size_t lines_before = *lines;
  bool quoted = false;   /* the current field started with a quote */
  bool in_quote = false; /* inside its quotes */
  bool after_quote = false;
  int rc = 0;
  for (;;) {
    if (s == end && in_quote) {
      /* Reading on would swallow the rest of the file: take this line as
       * the bad record and go on with the next one. */
      rc = bad(msg, msg_size, "a quoted field is not closed");
      s = *p;
      *lines = lines_before;
      skip_line(&s, end, lines);
      break;
    }
    char c = s < end ? *s : '\n';
    if (in_quote) {
      s++;
      if (c == '"' && s < end && *s == '"') {
        fb_put(&b, '"');
        s++;
      } else if (c == '"') {
        in_quote = false;
        after_quote = true;
      } else {
        if (c == '\n') {
          (*lines)++;
        }
        fb_put(&b, c);
      }
      continue;
    }
    if (c == ',' || c == '\n' || (c == '\r' && s + 1 < end && s[1] == '\n') ||
        (c == '\r' && s + 1 == end)) {
      if (out->n == BULK_FIELDS_MAX) {
        rc = bad(msg, msg_size, "more than %d fields", BULK_FIELDS_MAX);
        break;
      }
      if (b.too_long) {
        rc = bad(msg, msg_size, "a field is longer than %d bytes",
                 BULK_FIELD_MAX_BYTES);
        break;
      }
      out->v[out->n++] = fb_take(&b, !quoted);
      quoted = after_quote = false;
      if (c == ',') {
        s++;
        continue;
      }
      if (s < end) {
        s += c == '\r' && s + 1 < end ? 2 : 1;
        (*lines)++;
      }
      break;
    }
    s++;
    if (after_quote) {
      rc = bad(msg, msg_size, "text after the closing quote of a field");
      break;
    }
    if (c == '"') {
      bool blank = true;
      for (size_t i = 0; i < b.len; i++) {
        blank = blank && (b.p[i] == ' ' || b.p[i] == '\t');
      }
      if (!blank) {
        rc = bad(msg, msg_size, "a quote inside an unquoted field");
        break;
      }
      b.len = 0;
      quoted = in_quote = true;
      continue;
    }
    fb_put(&b, c);
  }
  free(b.p);
  if (rc != 0) {
    bulk_fields_free(out);
    if (s > *p && s < end && s[-1] != '\n') {
      skip_line(&s, end, lines);
    }
  }
  *p = s;
  return rc;
}

static const struct {
  const char *name;
  bulk_column col;
} columns[] = {
    {"type", BULK_COL_TYPE},
    {"lot_id", BULK_COL_LOT_ID},
    {"lot_name", BULK_COL_LOT_NAME},
    {"product_id", BULK_COL_PRODUCT_ID},
    {"name", BULK_COL_NAME},
    {"tracking", BULK_COL_TRACKING},
    {"reference", BULK_COL_REFERENCE},
    {"description", BULK_COL_DESCRIPTION},
    {"expiration_at", BULK_COL_EXPIRATION_AT},
    {"use_by_at", BULK_COL_USE_BY_AT},
    {"removal_at", BULK_COL_REMOVAL_AT},
    {"alert_at", BULK_COL_ALERT_AT},
    {"quantity", BULK_COL_QUANTITY},
    {"from", BULK_COL_FROM},
    {"from_usage", BULK_COL_FROM_USAGE},
    {"to", BULK_COL_TO},
    {"to_usage", BULK_COL_TO_USAGE},
    {"idempotency_key", BULK_COL_IDEMPOTENCY_KEY},
    {"error_line", BULK_COL_IGNORED},
    {"error_code", BULK_COL_IGNORED},
    {"error_message", BULK_COL_IGNORED},
};

int bulk_csv_header(const bulk_fields *f, bulk_header *h, char *msg,
                    size_t msg_size) {
  memset(h, 0, sizeof *h);
  bool seen[BULK_COL_COUNT] = {false};
  for (size_t i = 0; i < f->n; i++) {
    size_t k = 0;
    while (k < sizeof columns / sizeof columns[0] &&
           strcasecmp(columns[k].name, f->v[i]) != 0) {
      k++;
    }
    if (k == sizeof columns / sizeof columns[0]) {
      return bad(msg, msg_size,
                 "unknown column '%.64s' (columns: type, lot_id, lot_name, "
                 "product_id, name, tracking, reference, description, "
                 "expiration_at, use_by_at, removal_at, alert_at, quantity, "
                 "from, from_usage, to, to_usage, idempotency_key)",
                 f->v[i]);
    }
    bulk_column c = columns[k].col;
    if (c != BULK_COL_IGNORED && seen[c]) {
      return bad(msg, msg_size, "column '%s' appears twice", columns[k].name);
    }
    seen[c] = true;
    h->col[i] = c;
  }
  h->n = f->n;
  if (!seen[BULK_COL_TYPE]) {
    return bad(msg, msg_size, "the header has no 'type' column");
  }
  return 0;
}

static int put(json_t *obj, const char *key, const char *value, char *msg,
               size_t msg_size) {
  json_t *v = json_string(value);
  if (v == NULL) {
    return bad(msg, msg_size, "%s is not valid UTF-8", key);
  }
  json_object_set_new(obj, key, v);
  return 0;
}

/* YYYY-MM-DD becomes midnight UTC; RFC 3339 is normalised to UTC; anything
 * else goes as it is, for the API to answer INVALID_FIELD. */
static int put_time(json_t *obj, const char *key, const char *value, char *msg,
                    size_t msg_size) {
  int64_t ms = 0;
  char full[64], out[40];
  bool ok = ll_time_parse(value, &ms);
  if (!ok && strlen(value) == 10) {
    snprintf(full, sizeof full, "%sT00:00:00Z", value);
    ok = ll_time_parse(full, &ms);
  }
  return put(obj, key, ok ? ll_time_format(ms, out) : value, msg, msg_size);
}

static int put_location(json_t *body, const char *key, const char *id,
                        const char *usage, char *msg, size_t msg_size) {
  char name[ENUM_NAME_MAX] = "INTERNAL";
  const char *shown = name;
  if (usage != NULL && !ll_text_upper(usage, name, sizeof name)) {
    shown = usage; /* too long to be a usage: the API says so */
  }
  json_t *loc = json_object();
  int rc = 0;
  if (id != NULL) {
    rc = put(loc, "id", id, msg, msg_size);
  }
  if (rc == 0) {
    rc = put(loc, "usage", shown, msg, msg_size);
  }
  if (rc == 0) {
    json_object_set_new(body, key, loc);
  } else {
    json_decref(loc);
  }
  return rc;
}

int bulk_csv_request(const bulk_header *h, const bulk_fields *row,
                     bulk_request *out, char *msg, size_t msg_size) {
  memset(out, 0, sizeof *out);
  if (row->n != h->n) {
    return bad(msg, msg_size, "%zu field(s), the header has %zu", row->n, h->n);
  }
  const char *cell[BULK_COL_COUNT] = {NULL};
  for (size_t i = 0; i < row->n; i++) {
    if (h->col[i] != BULK_COL_IGNORED && row->v[i][0] != '\0') {
      cell[h->col[i]] = row->v[i];
    }
  }
  char type[ENUM_NAME_MAX];
  if (cell[BULK_COL_TYPE] == NULL ||
      !ll_text_upper(cell[BULK_COL_TYPE], type, sizeof type) ||
      (strcmp(type, "LOT") != 0 && strcmp(type, "MOVE") != 0)) {
    return bad(msg, msg_size, "type must be lot or move, not '%.32s'",
               cell[BULK_COL_TYPE] ? cell[BULK_COL_TYPE] : "");
  }
  out->kind = strcmp(type, "LOT") == 0 ? BULK_LOT : BULK_MOVE;
  out->body = json_object();
  int rc = 0;
  static const struct {
    bulk_column col;
    const char *key;
    bool lot, move, time;
  } map[] = {
      {BULK_COL_LOT_ID, "lot_id", true, true, false},
      {BULK_COL_LOT_NAME, "lot_name", false, true, false},
      {BULK_COL_PRODUCT_ID, "product_id", true, true, false},
      {BULK_COL_NAME, "name", true, false, false},
      {BULK_COL_REFERENCE, "reference", true, true, false},
      {BULK_COL_DESCRIPTION, "description", true, false, false},
      {BULK_COL_EXPIRATION_AT, "expiration_at", true, false, true},
      {BULK_COL_USE_BY_AT, "use_by_at", true, false, true},
      {BULK_COL_REMOVAL_AT, "removal_at", true, false, true},
      {BULK_COL_ALERT_AT, "alert_at", true, false, true},
      {BULK_COL_QUANTITY, "quantity", false, true, false},
  };
  for (size_t i = 0; i < sizeof map / sizeof map[0] && rc == 0; i++) {
    const char *v = cell[map[i].col];
    bool wanted = out->kind == BULK_LOT ? map[i].lot : map[i].move;
    if (v == NULL) {
      continue;
    }
    if (!wanted) {
      rc = bad(msg, msg_size, "column %s does not apply to a %s row",
               map[i].key, out->kind == BULK_LOT ? "lot" : "move");
    } else if (map[i].time) {
      rc = put_time(out->body, map[i].key, v, msg, msg_size);
    } else {
      rc = put(out->body, map[i].key, v, msg, msg_size);
    }
  }
  const char *tracking = cell[BULK_COL_TRACKING];
  if (rc == 0 && tracking != NULL) {
    char t[ENUM_NAME_MAX];
    rc = out->kind != BULK_LOT
             ? bad(msg, msg_size, "column tracking does not apply to a move")
             : put(out->body, "tracking",
                   ll_text_upper(tracking, t, sizeof t) ? t : tracking, msg,
                   msg_size);
  }
  bool has_loc = cell[BULK_COL_FROM] || cell[BULK_COL_FROM_USAGE] ||
                 cell[BULK_COL_TO] || cell[BULK_COL_TO_USAGE];
  if (rc == 0 && out->kind == BULK_LOT && has_loc) {
    rc = bad(msg, msg_size, "locations do not apply to a lot row");
  }
  if (rc == 0 && out->kind == BULK_MOVE) {
    /* A move without a source or destination id is left for the API to
     * answer MISSING_FIELD, like any other producer. */
    rc = put_location(out->body, "from", cell[BULK_COL_FROM],
                      cell[BULK_COL_FROM_USAGE], msg, msg_size);
    if (rc == 0) {
      rc = put_location(out->body, "to", cell[BULK_COL_TO],
                        cell[BULK_COL_TO_USAGE], msg, msg_size);
    }
  }
  if (rc == 0 && cell[BULK_COL_IDEMPOTENCY_KEY] != NULL) {
    out->idempotency_key = ll_strdup(cell[BULK_COL_IDEMPOTENCY_KEY]);
  }
  if (rc == 0) {
    out->product =
        ll_strdup(cell[BULK_COL_PRODUCT_ID] ? cell[BULK_COL_PRODUCT_ID] : "");
  } else {
    bulk_request_free(out);
  }
  return rc;
}

/* ---- NDJSON ---- */

/* The members an NDJSON row may have: the body of POST /v1/lots or
 * POST /v1/moves (docs/api.md, docs/openapi.yaml) and what import reads
 * itself (type, idempotency_key, and the error member of a rejects file,
 * none of them sent). Anything else refuses the file, as an unknown CSV
 * column does (docs/import.md): a typo never silently drops data. */
static const struct {
  const char *key;
  bool lot, move;
} ndjson_members[] = {
    {"type", true, true},
    {"idempotency_key", true, true},
    {"error", true, true},
    {"lot_id", true, true},
    {"lot_name", false, true},
    {"product_id", true, true},
    {"name", true, false},
    {"tracking", true, false},
    {"reference", true, true},
    {"description", true, false},
    {"expiration_at", true, false},
    {"use_by_at", true, false},
    {"removal_at", true, false},
    {"alert_at", true, false},
    {"quantity", false, true},
    {"from", false, true},
    {"to", false, true},
};
#define NDJSON_MEMBER_COUNT (sizeof ndjson_members / sizeof ndjson_members[0])
#define NDJSON_MEMBER_NAMES                                                    \
  "type, idempotency_key, lot_id, lot_name, product_id, name, tracking, "      \
  "reference, description, expiration_at, use_by_at, removal_at, alert_at, "   \
  "quantity, from, to"

static int member_index(const char *key) {
  for (size_t i = 0; i < NDJSON_MEMBER_COUNT; i++) {
    if (strcmp(ndjson_members[i].key, key) == 0) {
      return (int)i;
    }
  }
  return -1;
}

/* Every member known, and a location's too ({"id", "usage"}). */
static int check_known_members(const json_t *obj, char *msg, size_t msg_size) {
  const char *key;
  const json_t *value;
  json_object_foreach((json_t *)obj, key, value) {
    if (member_index(key) < 0) {
      bad(msg, msg_size, "unknown key '%.64s' (keys: " NDJSON_MEMBER_NAMES ")",
          key);
      return BULK_UNKNOWN_KEY;
    }
    if ((strcmp(key, "from") == 0 || strcmp(key, "to") == 0) &&
        json_is_object(value)) {
      const char *inner;
      const json_t *v;
      json_object_foreach((json_t *)value, inner, v) {
        if (strcmp(inner, "id") != 0 && strcmp(inner, "usage") != 0) {
          bad(msg, msg_size,
              "unknown key '%s.%.64s' (a location has id and "
              "usage)",
              key, inner);
          return BULK_UNKNOWN_KEY;
        }
      }
    }
  }
  return 0;
}

/* A known member of the other kind of row: this row is a BAD_ROW, as a
 * CSV cell in a column of the other row type. */
static int check_members_apply(const json_t *obj, bulk_kind kind, char *msg,
                               size_t msg_size) {
  const char *key;
  const json_t *value;
  json_object_foreach((json_t *)obj, key, value) {
    int i = member_index(key);
    bool wanted =
        kind == BULK_LOT ? ndjson_members[i].lot : ndjson_members[i].move;
    if (!wanted && !json_is_null(value)) {
      return bad(msg, msg_size, "%s does not apply to a %s row", key,
                 kind == BULK_LOT ? "lot" : "move");
    }
  }
  return 0;
}

int bulk_ndjson_request(const char *line, size_t len, bulk_request *out,
                        char *msg, size_t msg_size) {
  memset(out, 0, sizeof *out);
  json_error_t jerr;
  json_t *obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
  if (obj == NULL) {
    return bad(msg, msg_size, "not JSON: %s (column %d)", jerr.text,
               jerr.column);
  }
  if (!json_is_object(obj)) {
    json_decref(obj);
    return bad(msg, msg_size, "not a JSON object");
  }
  int rc = check_known_members(obj, msg, msg_size);
  if (rc != 0) {
    json_decref(obj);
    return rc;
  }
  const char *type = json_string_value(json_object_get(obj, "type"));
  char t[ENUM_NAME_MAX];
  if (type == NULL || !ll_text_upper(type, t, sizeof t) ||
      (strcmp(t, "LOT") != 0 && strcmp(t, "MOVE") != 0)) {
    json_decref(obj);
    return bad(msg, msg_size, "\"type\" must be \"lot\" or \"move\"");
  }
  out->kind = strcmp(t, "LOT") == 0 ? BULK_LOT : BULK_MOVE;
  if (check_members_apply(obj, out->kind, msg, msg_size) != 0) {
    json_decref(obj);
    return -1;
  }
  const json_t *key = json_object_get(obj, "idempotency_key");
  if (key != NULL && !json_is_null(key)) {
    if (!json_is_string(key)) {
      json_decref(obj);
      return bad(msg, msg_size, "\"idempotency_key\" must be a string");
    }
    out->idempotency_key = ll_strdup(json_string_value(key));
  }
  const char *product = json_string_value(json_object_get(obj, "product_id"));
  out->product = ll_strdup(product ? product : "");
  json_object_del(obj, "type");
  json_object_del(obj, "idempotency_key");
  json_object_del(obj, "error");
  /* null is absent (docs/api.md): only fields of this kind of request go */
  const char *member;
  json_t *value;
  void *tmp;
  json_object_foreach_safe(obj, tmp, member, value) {
    if (json_is_null(value)) {
      json_object_del(obj, member);
    }
  }
  out->body = obj;
  return 0;
}
