/* cli_output.c — what the lotline CLI prints on stdout.
 *
 * Three shapes: aligned tables (lists), "Label:  value" views (one lot)
 * and, with --json, the API's JSON pretty-printed. Everything shown in a
 * table or view came over the network, so it is flattened first: a control
 * character in a value must not move the cursor or break a column.
 * Quantities go through ll_decimal so they always read the same way
 * ("2.5", never "2.500000"); a value that is not a decimal is shown as it
 * came rather than hidden. */
#include <assert.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ll_mem.h"
#include "ll_types.h"

#define COLUMN_GAP "  "
#define VIEW_LABEL_WIDTH 14 /* "Description:" and two spaces */

char *cli_sprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  int n = vasprintf(&s, fmt, ap);
  va_end(ap);
  if (n < 0) {
    abort(); /* out of memory: see ll_xmalloc */
  }
  return s;
}

static bool is_continuation(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

/* Code points in s (invalid bytes count as one each). */
static size_t display_width(const char *s) {
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    n += !is_continuation(*p);
  }
  return n;
}

char *cli_one_line(const char *s, size_t max_chars) {
  static const char ellipsis[] = "...";
  size_t n = strlen(s);
  char *out = ll_xmalloc(n + sizeof ellipsis);
  char *w = out;
  size_t chars = 0;
  const unsigned char *p = (const unsigned char *)s;
  while (*p) {
    if (max_chars > 0 && !is_continuation(*p) && chars == max_chars) {
      memcpy(w, ellipsis, sizeof ellipsis - 1);
      w += sizeof ellipsis - 1;
      break;
    }
    if (*p < 0x20 || *p == 0x7F) {
      *w++ = ' ';
      p++;
      chars++;
    } else if (p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F) {
      *w++ = ' '; /* C1 control, U+0080..U+009F */
      p += 2;
      chars++;
    } else {
      chars += !is_continuation(*p);
      *w++ = (char)*p++;
    }
  }
  *w = '\0';
  return out;
}

void cli_table_init(cli_table *t, size_t n_cols, const char *const *headers,
                    const cli_align *align) {
  assert(n_cols > 0 && n_cols <= CLI_TABLE_COLS_MAX);
  memset(t, 0, sizeof *t);
  t->n_cols = n_cols;
  for (size_t c = 0; c < n_cols; c++) {
    t->headers[c] = headers[c];
    t->align[c] = align[c];
  }
}

void cli_table_add(cli_table *t, const char *const *cells) {
  if (t->n_rows == t->cap_rows) {
    t->cap_rows = t->cap_rows ? 2 * t->cap_rows : 16;
    t->cells =
        ll_xrealloc(t->cells, t->cap_rows * t->n_cols * sizeof t->cells[0]);
  }
  char **row = &t->cells[t->n_rows * t->n_cols];
  for (size_t c = 0; c < t->n_cols; c++) {
    row[c] = cli_one_line(cells[c] ? cells[c] : "-", 0);
  }
  t->n_rows++;
}

static void print_cell(FILE *out, const char *text, size_t width,
                       cli_align align, bool last) {
  size_t pad = width - display_width(text);
  if (align == CLI_ALIGN_RIGHT) {
    fprintf(out, "%*s", (int)pad, "");
  }
  fputs(text, out);
  if (align == CLI_ALIGN_LEFT && !last) {
    fprintf(out, "%*s", (int)pad, "");
  }
  fputs(last ? "\n" : COLUMN_GAP, out);
}

void cli_table_print(const cli_table *t, FILE *out) {
  size_t width[CLI_TABLE_COLS_MAX];
  for (size_t c = 0; c < t->n_cols; c++) {
    width[c] = display_width(t->headers[c]);
    for (size_t r = 0; r < t->n_rows; r++) {
      size_t w = display_width(t->cells[r * t->n_cols + c]);
      width[c] = w > width[c] ? w : width[c];
    }
  }
  for (size_t c = 0; c < t->n_cols; c++) {
    print_cell(out, t->headers[c], width[c], t->align[c], c + 1 == t->n_cols);
  }
  for (size_t r = 0; r < t->n_rows; r++) {
    for (size_t c = 0; c < t->n_cols; c++) {
      print_cell(out, t->cells[r * t->n_cols + c], width[c], t->align[c],
                 c + 1 == t->n_cols);
    }
  }
}

void cli_table_free(cli_table *t) {
  for (size_t i = 0; i < t->n_rows * t->n_cols; i++) {
    free(t->cells[i]);
  }
  free(t->cells);
  memset(t, 0, sizeof *t);
}

void cli_view_line(FILE *out, int label_width, const char *label,
                   const char *value) {
  int used = (int)display_width(label) + 1;
  fprintf(out, "%s:%*s", label, label_width > used ? label_width - used : 1,
          "");
  /* Descriptions may hold line breaks: keep them, indented. */
  const char *line = value;
  for (bool first = true;; first = false) {
    const char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    if (len > 0 && line[len - 1] == '\r') {
      len--; /* a CRLF line break is one break */
    }
    char *piece = strndup(line, len);
    if (piece == NULL) {
      abort(); /* out of memory */
    }
    char *clean = cli_one_line(piece, 0);
    if (!first) {
      fprintf(out, "%*s", label_width, "");
    }
    fprintf(out, "%s\n", clean);
    free(clean);
    free(piece);
    if (nl == NULL) {
      break;
    }
    line = nl + 1;
  }
}

const char *cli_json_str(const json_t *obj, const char *key) {
  const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
  return json_is_string(v) ? json_string_value(v) : NULL;
}

const char *cli_json_text(const json_t *obj, const char *key, char *buf,
                          size_t buf_size) {
  const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    return s[0] != '\0' ? s : "-";
  }
  if (json_is_integer(v)) {
    snprintf(buf, buf_size, "%lld", (long long)json_integer_value(v));
    return buf;
  }
  if (json_is_real(v)) {
    snprintf(buf, buf_size, "%.17g", json_real_value(v));
    return buf;
  }
  if (json_is_boolean(v)) {
    return json_is_true(v) ? "yes" : "no";
  }
  return "-";
}

const char *cli_json_quantity(const json_t *obj, const char *key,
                              char buf[LL_DECIMAL_STR_MAX]) {
  const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
  int64_t micro = 0;
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    if (ll_decimal_parse(s, &micro) == LL_DEC_OK) {
      return ll_decimal_format(micro, buf);
    }
    return s;
  }
  if (json_is_integer(v) && json_integer_value(v) <= INT64_MAX / LL_MICRO &&
      json_integer_value(v) >= INT64_MIN / LL_MICRO) {
    return ll_decimal_format(json_integer_value(v) * LL_MICRO, buf);
  }
  return cli_json_text(obj, key, buf, LL_DECIMAL_STR_MAX);
}

int cli_print_json(const json_t *value) {
  if (json_dumpf(value, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY) != 0) {
    return cli_fail("cannot write the answer to stdout");
  }
  fputc('\n', stdout);
  return CLI_EXIT_OK;
}

/* The hold and the properties, only when the lot has them: a lot without
 * either reads as it always did. */
static void print_lot_extras(FILE *out, const json_t *lot) {
  const json_t *hold = json_object_get(lot, "hold");
  if (json_is_object(hold)) {
    char *text = cli_sprintf("since %s: %s", cli_json_str(hold, "since"),
                             cli_json_str(hold, "reason"));
    cli_view_line(out, VIEW_LABEL_WIDTH, "On hold", text);
    free(text);
  }
  const json_t *props = json_object_get(lot, "properties");
  const char *key;
  const json_t *value;
  json_object_foreach((json_t *)props, key, value) {
    char *text = cli_sprintf("%s=%s", key, json_string_value(value));
    cli_view_line(out, VIEW_LABEL_WIDTH, "Property", text);
    free(text);
  }
}

void cli_print_lot(FILE *out, const json_t *lot) {
  static const struct {
    const char *label;
    const char *key;
  } fields[] = {
      {"Lot ID", "lot_id"},
      {"Name", "name"},
      {"Product", "product_id"},
      {"Tracking", "tracking"},
      {"Reference", "reference"},
      {"Description", "description"},
      {"Expiration", "expiration_at"},
      {"Use by", "use_by_at"},
      {"Removal", "removal_at"},
      {"Alert", "alert_at"},
      {"On hand", "on_hand"},
      {"Version", "version"},
      {"Created", "created_at"},
      {"Updated", "updated_at"},
  };
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    char buf[LL_DECIMAL_STR_MAX];
    const char *value =
        strcmp(fields[i].key, "on_hand") == 0
            ? cli_json_quantity(lot, fields[i].key, buf)
            : cli_json_text(lot, fields[i].key, buf, sizeof buf);
    if (strcmp(fields[i].key, "on_hand") == 0 &&
        cli_json_str(lot, "uom") != NULL) {
      char *with_unit = cli_sprintf("%s %s", value, cli_json_str(lot, "uom"));
      cli_view_line(out, VIEW_LABEL_WIDTH, fields[i].label, with_unit);
      free(with_unit);
    } else {
      cli_view_line(out, VIEW_LABEL_WIDTH, fields[i].label, value);
    }
  }
  print_lot_extras(out, lot);
}
