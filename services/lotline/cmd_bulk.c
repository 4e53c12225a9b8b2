/* cmd_bulk.c — `lotline generate` and `lotline import`: many lots and moves
 * through the HTTP API.
 *
 * generate makes a series of lot names from the first one (bulk_name_add:
 * the last run of digits counts up, padding, prefix and suffix kept) and
 * creates one lot per name, lot id = prefix + name. import reads a CSV or
 * NDJSON file of lots and moves (bulk_parse.c). Both hand the requests to
 * bulk_send.c, which keeps each product's rows in order and runs products
 * side by side, then print a summary by rejection code.
 *
 * Running either twice is safe: every request carries an Idempotency-Key
 * (the event id) derived from what the request says, so the same input
 * always yields the same key and changed input a new one (docs/import.md) —
 *   generate  "generate:" + lot id + ":" + 16 hex digits of the SHA-256 of
 *             the lot's body
 *   import    "import:" + 32 hex digits of the SHA-256 of the row's kind
 *             and body + ":" + which identical row of the file it is (1,
 *             2, ...), unless the row gives its own
 * — and the API answers a key it has seen with the first outcome instead of
 * applying the event again. A corrected rerun (another --tracking, a fixed
 * quantity) is a new request with a new key, not the old rejection again;
 * rows left as they were keep their keys however the file around them
 * changed.
 *
 * Rejected rows go to FILE.rejected (or --rejects PATH) in the input's own
 * format with the reason added — CSV columns error_line, error_code,
 * error_message; an NDJSON "error" member — which import ignores, so the
 * file can be fixed and imported again. Exit status: 0 when every row was
 * accepted, 1 when some were rejected (or the API could not be reached),
 * 2 on bad usage. */
#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bulk.h"
#include "cli.h"
#include "ll_buf.h"
#include "ll_mem.h"
#include "ll_text.h"
#include "ll_types.h"

#define GENERATE_COUNT_MAX 100000
#define IMPORT_FILE_MAX_BYTES (1024L * 1024 * 1024)
#define REJECTIONS_SHOWN_MAX 20
#define KEY_HASH_HEX 32      /* import: 128 bits, no chance meetings */
#define GENERATE_HASH_HEX 16 /* beside the lot id, which already differs */
#define GENERATE_KEY_PREFIX "generate:"
#define IMPORT_KEY_PREFIX "import:"

enum {
  OPT_PRODUCT = CLI_OPT_LOT_DETAILS_END,
  OPT_FIRST,
  OPT_COUNT,
  OPT_TRACKING,
  OPT_LOT_ID_PREFIX,
  OPT_CONCURRENCY,
  OPT_DRY_RUN,
  OPT_QUIET,
  OPT_FORMAT,
  OPT_REJECTS,
};

/* ---- shared ---- */

/* Lowercase hex SHA-256 of data, first `hex_digits` digits. */
static void sha256_hex(const void *data, size_t n, char *out,
                       size_t hex_digits) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data, n, md, &len, EVP_sha256(), NULL) != 1) {
    abort(); /* SHA-256 is always there */
  }
  static const char hex[] = "0123456789abcdef";
  size_t i = 0;
  for (; i < hex_digits && i / 2 < len; i++) {
    out[i] = hex[(md[i / 2] >> (i % 2 ? 0 : 4)) & 0xF];
  }
  out[i] = '\0';
}

/* SHA-256 of what a request says: its kind and its body with the keys
 * sorted, so the same row always hashes the same (CSV values are already
 * normalised: dates in UTC, enum names upper case). */
static void content_hash(bulk_kind kind, const json_t *body, char *out,
                         size_t hex_digits) {
  char *json = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
  if (json == NULL) {
    abort(); /* a body is always an object of strings */
  }
  char *text = cli_sprintf("%s\n%s", kind == BULK_LOT ? "lot" : "move", json);
  sha256_hex(text, strlen(text), out, hex_digits);
  free(text);
  free(json);
}

static int parse_concurrency(const cli_command *cmd, const char *text,
                             int *out) {
  int64_t v = 0;
  int rc =
      cli_parse_int(cmd, "--concurrency", text, 1, BULK_CONCURRENCY_MAX, &v);
  if (rc == CLI_EXIT_OK) {
    *out = (int)v;
  }
  return rc;
}

/* Is the API there at all? Saves a file's worth of retries. */
static int check_api(cli_ctx *ctx) {
  json_t *answer = NULL;
  cli_request req = {.method = "GET", .path = "/healthz"};
  int rc = cli_call(ctx, &req, &answer);
  json_decref(answer);
  return rc;
}

static int send_batch(cli_ctx *ctx, bulk_batch *b, int concurrency, bool quiet,
                      const char *what, bulk_summary *s) {
  bulk_send_opts o = {.api_url = ctx->api_url,
                      .timeout_ms = ctx->timeout_ms,
                      .concurrency = concurrency,
                      .progress = !quiet,
                      .what = what};
  if (bulk_send(b, &o, s) != 0) {
    return cli_fail("libcurl failed while sending");
  }
  return CLI_EXIT_OK;
}

static void print_codes(const bulk_summary *s) {
  if (s->n_codes == 0) {
    return;
  }
  printf("Rejected by code:\n");
  for (size_t i = 0; i < s->n_codes; i++) {
    printf("  %-26s %zu\n", s->codes[i].code, s->codes[i].count);
  }
}

static json_t *codes_json(const bulk_summary *s) {
  json_t *o = json_object();
  for (size_t i = 0; i < s->n_codes; i++) {
    json_object_set_new(o, s->codes[i].code,
                        json_integer((json_int_t)s->codes[i].count));
  }
  return o;
}

/* ---- generate ---- */

/* Besides the lot details (cli_lot_detail_options), the same for every
 * lot. */
static const struct option generate_options[] = {
    {"product", required_argument, NULL, OPT_PRODUCT},
    {"first", required_argument, NULL, OPT_FIRST},
    {"count", required_argument, NULL, OPT_COUNT},
    {"tracking", required_argument, NULL, OPT_TRACKING},
    {"lot-id-prefix", required_argument, NULL, OPT_LOT_ID_PREFIX},
    {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {NULL, 0, NULL, 0},
};

/* The fields every generated lot shares. */
static int generate_template(const cli_command *cmd,
                             const char *const vals[CLI_OPT_SLOTS],
                             json_t *tmpl) {
  ll_tracking tracking = LL_TRACK_LOT;
  int rc = CLI_EXIT_OK;
  if (CLI_VAL(vals, OPT_TRACKING) != NULL) {
    rc = cli_parse_tracking(cmd, CLI_VAL(vals, OPT_TRACKING), &tracking);
  }
  if (rc == CLI_EXIT_OK) {
    rc = cli_put_text(cmd, tmpl, "product_id", "--product",
                      CLI_VAL(vals, OPT_PRODUCT));
  }
  if (rc == CLI_EXIT_OK) {
    rc = cli_put_text(cmd, tmpl, "tracking", "--tracking",
                      ll_tracking_name(tracking));
  }
  if (rc == CLI_EXIT_OK) {
    rc = cli_put_lot_details(cmd, tmpl, vals, false);
  }
  return rc;
}

/* The idempotency key of a generated lot: its id and the hash of its
 * body, so `--tracking serial` after a TRACKING_MISMATCH is a new event;
 * only the hash when the id is too long for a key. */
static char *generate_key(const char *lot_id, const json_t *body) {
  char hex[65];
  content_hash(BULK_LOT, body, hex, 64);
  if (strlen(GENERATE_KEY_PREFIX) + ll_text_chars(lot_id) + 1 +
          GENERATE_HASH_HEX <=
      LL_TEXT_MAX_CHARS) {
    return cli_sprintf("%s%s:%.*s", GENERATE_KEY_PREFIX, lot_id,
                       GENERATE_HASH_HEX, hex);
  }
  return cli_sprintf("%ssha256:%s", GENERATE_KEY_PREFIX, hex);
}

static void generate_report(const cli_ctx *ctx, const char *product,
                            const bulk_batch *b, const bulk_summary *s) {
  const bulk_item *first = &b->items[0], *last = &b->items[b->n - 1];
  const char *first_id =
      json_string_value(json_object_get(first->body, "lot_id"));
  const char *last_id =
      json_string_value(json_object_get(last->body, "lot_id"));
  if (ctx->json) {
    json_t *j = json_object();
    json_object_set_new(j, "product_id", json_string(product));
    json_object_set_new(j, "first", json_string(first->label));
    json_object_set_new(j, "last", json_string(last->label));
    json_object_set_new(j, "count", json_integer((json_int_t)b->n));
    json_object_set_new(j, "accepted", json_integer((json_int_t)s->accepted));
    json_object_set_new(j, "rejected", json_integer((json_int_t)s->rejected));
    json_object_set_new(j, "by_code", codes_json(s));
    json_t *rej = json_array();
    for (size_t i = 0; i < b->n; i++) {
      const bulk_item *it = &b->items[i];
      if (it->code != NULL) {
        json_t *r = json_object();
        json_object_set_new(r, "name", json_string(it->label));
        json_object_set(r, "lot_id", json_object_get(it->body, "lot_id"));
        json_object_set_new(r, "code", json_string(it->code));
        json_object_set_new(r, "message", json_string(it->message));
        json_array_append_new(rej, r);
      }
    }
    json_object_set_new(j, "rejections", rej);
    cli_print_json(j);
    json_decref(j);
    return;
  }
  char *p = cli_one_line(product, 0);
  char *f = cli_one_line(first->label, 0), *l = cli_one_line(last->label, 0);
  char *fi = cli_one_line(first_id, 0), *li = cli_one_line(last_id, 0);
  printf("Generated %zu %s of product %s: %s .. %s (lot ids %s .. %s).\n", b->n,
         b->n == 1 ? "lot" : "lots", p, f, l, fi, li);
  printf("%zu accepted, %zu rejected.\n", s->accepted, s->rejected);
  free(p);
  free(f);
  free(l);
  free(fi);
  free(li);
  print_codes(s);
  size_t shown = 0;
  if (s->rejected > 0) {
    printf("Rejected lots:\n");
  }
  for (size_t i = 0; i < b->n && shown < REJECTIONS_SHOWN_MAX; i++) {
    const bulk_item *it = &b->items[i];
    if (it->code == NULL) {
      continue;
    }
    char *name = cli_one_line(it->label, 0);
    char *msg = cli_one_line(it->message, 0);
    printf("  %s: %s: %s\n", name, it->code, msg);
    free(name);
    free(msg);
    shown++;
  }
  if (s->rejected > shown) {
    printf("  ... and %zu more\n", s->rejected - shown);
  }
}

/* The required options and the numbers. */
static int generate_check(const cli_command *cmd,
                          const char *const vals[CLI_OPT_SLOTS], int64_t *count,
                          int *concurrency) {
  const char *first = CLI_VAL(vals, OPT_FIRST);
  int rc = cli_require(cmd, "--product", CLI_VAL(vals, OPT_PRODUCT));
  if (rc == CLI_EXIT_OK) {
    rc = cli_require(cmd, "--first", first);
  }
  if (rc == CLI_EXIT_OK) {
    rc = cli_require(cmd, "--count", CLI_VAL(vals, OPT_COUNT));
  }
  if (rc == CLI_EXIT_OK) {
    rc = cli_parse_int(cmd, "--count", CLI_VAL(vals, OPT_COUNT), 1,
                       GENERATE_COUNT_MAX, count);
  }
  if (rc == CLI_EXIT_OK && CLI_VAL(vals, OPT_CONCURRENCY) != NULL) {
    rc = parse_concurrency(cmd, CLI_VAL(vals, OPT_CONCURRENCY), concurrency);
  }
  if (rc == CLI_EXIT_OK && strpbrk(first, "0123456789") == NULL) {
    rc = cli_usage_error(cmd,
                         "--first '%s' has no digits to count up (e.g. "
                         "SN-0001)",
                         first);
  }
  return rc;
}

/* One lot per name, each a copy of tmpl with its name and lot id. */
static int generate_batch(const cli_command *cmd,
                          const char *const vals[CLI_OPT_SLOTS], int64_t count,
                          const json_t *tmpl, bulk_batch *b) {
  char *default_prefix = cli_sprintf("%s-", CLI_VAL(vals, OPT_PRODUCT));
  const char *prefix = CLI_VAL(vals, OPT_LOT_ID_PREFIX) != NULL
                           ? CLI_VAL(vals, OPT_LOT_ID_PREFIX)
                           : default_prefix;
  int rc = CLI_EXIT_OK;
  for (int64_t i = 0; i < count && rc == CLI_EXIT_OK; i++) {
    char *name = bulk_name_add(CLI_VAL(vals, OPT_FIRST), (uint64_t)i);
    char *lot_id = cli_sprintf("%s%s", prefix, name);
    bulk_item *it = bulk_batch_add(b, 0);
    it->label = name;
    it->kind = BULK_LOT;
    it->lane = ll_strdup(lot_id); /* lots do not wait for one another */
    it->body = json_deep_copy(tmpl);
    rc = cli_put_text(cmd, it->body, "name", "--first", name);
    if (rc == CLI_EXIT_OK) {
      rc = cli_put_text(cmd, it->body, "lot_id", "--lot-id-prefix", lot_id);
    }
    it->idempotency_key = generate_key(lot_id, it->body);
    free(lot_id);
  }
  free(default_prefix);
  return rc;
}

static void print_dry_run(const bulk_batch *b) {
  for (size_t i = 0; i < b->n; i++) {
    char *name = cli_one_line(b->items[i].label, 0);
    char *id = cli_one_line(
        json_string_value(json_object_get(b->items[i].body, "lot_id")), 0);
    printf("%s\t%s\n", name, id);
    free(name);
    free(id);
  }
}

static int run_generate(cli_ctx *ctx, const cli_command *cmd, int argc,
                        char **argv) {
  cli_args a;
  cli_args_init(&a, ctx, cmd, argc, argv, generate_options);
  cli_args_add(&a, cli_lot_detail_options);
  const char *vals[CLI_OPT_SLOTS] = {NULL};
  int rc = CLI_EXIT_OK;
  if (!cli_args_parse(&a, vals, &rc)) {
    return rc;
  }
  int64_t count = 0;
  int concurrency = BULK_CONCURRENCY_DEFAULT;
  rc = cli_no_args(&a);
  if (rc == CLI_EXIT_OK) {
    rc = generate_check(cmd, vals, &count, &concurrency);
  }
  json_t *tmpl = json_object();
  if (rc == CLI_EXIT_OK) {
    rc = generate_template(cmd, vals, tmpl);
  }
  bulk_batch b = {0};
  if (rc == CLI_EXIT_OK) {
    rc = generate_batch(cmd, vals, count, tmpl, &b);
  }
  json_decref(tmpl);
  if (rc == CLI_EXIT_OK && CLI_VAL(vals, OPT_DRY_RUN) != NULL) {
    print_dry_run(&b);
  } else if (rc == CLI_EXIT_OK) {
    bool quiet = CLI_VAL(vals, OPT_QUIET) != NULL || ctx->json;
    rc = check_api(ctx);
    bulk_summary s;
    if (rc == CLI_EXIT_OK) {
      rc = send_batch(ctx, &b, concurrency, quiet, "lots", &s);
    }
    if (rc == CLI_EXIT_OK) {
      generate_report(ctx, CLI_VAL(vals, OPT_PRODUCT), &b, &s);
      rc = s.rejected > 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
    }
  }
  bulk_batch_free(&b);
  return rc;
}

static const char generate_usage[] =
    "Usage: lotline generate --product P --first NAME --count N [OPTIONS]\n"
    "\n"
    "Create N lots (or serial numbers) of one product in a row. The names\n"
    "count up from NAME in its LAST run of digits, keeping the zero padding\n"
    "and what comes before and after the digits:\n"
    "  SN-0001, SN-0002, ... SN-0009, SN-0010, ...\n"
    "  LOT-98-A, LOT-99-A, LOT-100-A   (the digits grow past their width)\n"
    "Each lot's id is PREFIX + name, PREFIX being the product and a dash\n"
    "unless --lot-id-prefix says otherwise: product P-100 and name SN-0001\n"
    "give lot id P-100-SN-0001.\n"
    "\n"
    "Options:\n"
    "  --product P          the product (required)\n"
    "  --first NAME         the first name; it must contain a digit\n"
    "  --count N            how many lots, 1..100000 (required)\n"
    "  --tracking T         lot (the default) or serial\n"
    "  --lot-id-prefix X    lot id = X + name (default: P + \"-\")\n"
    "  --reference R        the same reference for every lot\n"
    "  --description D      the same description for every lot\n"
    "  --expiration-at T, --use-by-at T, --removal-at T, --alert-at T\n"
    "                       the same dates for every lot (2027-03-01 or\n"
    "                       RFC 3339)\n"
    "  --concurrency N      requests in flight, 1..64 (default 8)\n"
    "  --dry-run            print each name and lot id; create nothing\n"
    "  --quiet              no progress on stderr\n"
    "  -h, --help           this text\n"
    "Global options --api, --data, --json and --timeout-ms work here too.\n"
    "\n"
    "Running the same command again is safe: each lot is sent with the\n"
    "Idempotency-Key \"generate:<lot id>:<hash of the lot's fields>\", and\n"
    "the API answers a key it has seen with its first outcome. A corrected\n"
    "run (say --tracking serial after TRACKING_MISMATCH) changes the hash,\n"
    "so it is decided afresh. A summary by rejection code ends the run;\n"
    "the exit status is 1 when any lot was rejected.\n"
    "\n"
    "Examples:\n"
    "  lotline generate --product P-100 --first SN-0001 --count 50 \\\n"
    "      --tracking serial\n"
    "  lotline generate --product RESIN --first 2027-001 --count 12 \\\n"
    "      --lot-id-prefix RESIN/ --expiration-at 2028-01-01\n";

const cli_command cli_cmd_generate = {
    .name = "generate",
    .summary = "create a series of lots: SN-0001, SN-0002, ...",
    .usage = generate_usage,
    .run = run_generate,
};

/* ---- import ---- */

static const struct option import_options[] = {
    {"format", required_argument, NULL, OPT_FORMAT},
    {"rejects", required_argument, NULL, OPT_REJECTS},
    {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {NULL, 0, NULL, 0},
};

typedef enum import_format {
  FORMAT_GUESS = 0,
  FORMAT_CSV,
  FORMAT_NDJSON,
} import_format;

/* The whole input in memory (rows point into it). */
typedef struct input_file {
  char *data;
  size_t len;
} input_file;

static int read_input(const char *path, input_file *in) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (f == NULL) {
    return cli_fail("cannot open %s: %s", path, strerror(errno));
  }
  ll_buf buf;
  ll_buf_init(&buf);
  char chunk[65536];
  size_t n;
  int rc = CLI_EXIT_OK;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (buf.len + n > (size_t)IMPORT_FILE_MAX_BYTES) {
      rc = cli_fail("%s is larger than %ld bytes: split it", path,
                    IMPORT_FILE_MAX_BYTES);
      break;
    }
    ll_buf_put(&buf, chunk, n);
  }
  if (rc == CLI_EXIT_OK && ferror(f)) {
    rc = cli_fail("cannot read %s: %s", path, strerror(errno));
  }
  if (f != stdin) {
    fclose(f);
  }
  ll_buf_put_u8(&buf, 0); /* NUL after the data, not counted */
  in->data = (char *)buf.data;
  in->len = buf.len - 1;
  if (rc != CLI_EXIT_OK) {
    free(in->data);
    in->data = NULL;
  }
  return rc;
}

static import_format guess_format(const char *path, const input_file *in) {
  const char *dot = strrchr(path, '.');
  if (dot != NULL && strcasecmp(dot, ".csv") == 0) {
    return FORMAT_CSV;
  }
  if (dot != NULL &&
      (strcasecmp(dot, ".ndjson") == 0 || strcasecmp(dot, ".jsonl") == 0 ||
       strcasecmp(dot, ".json") == 0)) {
    return FORMAT_NDJSON;
  }
  for (size_t i = 0; i < in->len; i++) {
    char c = in->data[i];
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
      return c == '{' ? FORMAT_NDJSON : FORMAT_CSV;
    }
  }
  return FORMAT_CSV;
}

static void take_request(bulk_item *it, bulk_request *r) {
  it->kind = r->kind;
  it->body = r->body;
  it->lane = r->product;
  it->idempotency_key = r->idempotency_key; /* the row's own, or NULL */
  r->body = NULL;
  r->product = NULL;
  r->idempotency_key = NULL;
  bulk_request_free(r);
}

/* A row's content hash and where it is, to number identical rows. */
typedef struct row_hash {
  char hex[KEY_HASH_HEX + 1];
  size_t item;
} row_hash;

static int by_hash_then_item(const void *a, const void *b) {
  const row_hash *x = a, *y = b;
  int c = strcmp(x->hex, y->hex);
  if (c != 0) {
    return c;
  }
  return x->item < y->item ? -1 : x->item > y->item;
}

/* Keys for rows without their own: "import:" + content hash + ":" + the
 * row's number among identical rows of the file, in file order. So a
 * rerun sends the same keys, a changed row gets a new one, and two equal
 * moves in one file stay two events. */
static void derive_import_keys(bulk_batch *b) {
  row_hash *h = ll_xmalloc(sizeof *h * (b->n > 0 ? b->n : 1));
  size_t n = 0;
  for (size_t i = 0; i < b->n; i++) {
    const bulk_item *it = &b->items[i];
    if (it->body != NULL && it->idempotency_key == NULL) {
      content_hash(it->kind, it->body, h[n].hex, KEY_HASH_HEX);
      h[n++].item = i;
    }
  }
  qsort(h, n, sizeof *h, by_hash_then_item);
  size_t occurrence = 0;
  for (size_t j = 0; j < n; j++) {
    bool same = j > 0 && strcmp(h[j].hex, h[j - 1].hex) == 0;
    occurrence = same ? occurrence + 1 : 1;
    b->items[h[j].item].idempotency_key =
        cli_sprintf("%s%s:%zu", IMPORT_KEY_PREFIX, h[j].hex, occurrence);
  }
  free(h);
}

static bool is_blank_line(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r') {
      return false;
    }
  }
  return true;
}

/* NDJSON: one row per non-blank line. A member no row may have refuses
 * the whole file (exit 2), as an unknown CSV column does. */
static int load_ndjson(const cli_command *cmd, const char *path,
                       const input_file *in, bulk_batch *b) {
  const char *p = in->data, *end = in->data + in->len;
  size_t line = 0;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *stop = nl ? nl : end;
    line++;
    size_t n = (size_t)(stop - p);
    if (!is_blank_line(p, n)) {
      bulk_item *it = bulk_batch_add(b, line);
      it->raw = p;
      it->raw_len = n > 0 && p[n - 1] == '\r' ? n - 1 : n;
      it->label = cli_sprintf("line %zu", line);
      bulk_request r;
      char msg[BULK_MESSAGE_MAX];
      if (n > BULK_FIELD_MAX_BYTES) {
        bulk_item_fail(it, BULK_CODE_BAD_ROW, "the line is too long");
      } else {
        int rc = bulk_ndjson_request(p, n, &r, msg, sizeof msg);
        if (rc == BULK_UNKNOWN_KEY) {
          return cli_usage_error(cmd, "%s: line %zu: %s", path, line, msg);
        }
        if (rc != 0) {
          bulk_item_fail(it, BULK_CODE_BAD_ROW, msg);
        } else {
          take_request(it, &r);
        }
      }
    }
    p = nl ? nl + 1 : end;
  }
  return CLI_EXIT_OK;
}

/* CSV: a header record, then one row per record. An unusable header (an
 * unknown or repeated column, none at all) is bad usage: exit 2. */
static int load_csv(const cli_command *cmd, const char *path,
                    const input_file *in, bulk_batch *b, bulk_header *h,
                    const char **header_raw, size_t *header_len) {
  const char *p = in->data, *end = in->data + in->len;
  if (end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
    p += 3; /* a byte order mark from a spreadsheet */
  }
  size_t line = 1;
  bool have_header = false;
  char msg[BULK_MESSAGE_MAX];
  while (p < end) {
    const char *start = p;
    size_t first_line = line, lines = 0;
    bulk_fields f;
    int prc = bulk_csv_record(&p, end, &f, &lines, msg, sizeof msg);
    line += lines;
    const char *raw_end = p;
    while (raw_end > start && (raw_end[-1] == '\n' || raw_end[-1] == '\r')) {
      raw_end--;
    }
    if (prc == 0 && f.n == 1 && f.v[0][0] == '\0') {
      bulk_fields_free(&f); /* a blank line */
      continue;
    }
    if (!have_header) {
      int rc = prc != 0 ? -1 : bulk_csv_header(&f, h, msg, sizeof msg);
      bulk_fields_free(&f);
      if (rc != 0) {
        return cli_usage_error(cmd, "%s: line %zu: %s", path, first_line, msg);
      }
      *header_raw = start;
      *header_len = (size_t)(raw_end - start);
      have_header = true;
      continue;
    }
    bulk_item *it = bulk_batch_add(b, first_line);
    it->raw = start;
    it->raw_len = (size_t)(raw_end - start);
    it->label = cli_sprintf("line %zu", first_line);
    bulk_request r;
    if (prc != 0 || bulk_csv_request(h, &f, &r, msg, sizeof msg) != 0) {
      bulk_item_fail(it, BULK_CODE_BAD_ROW, msg);
    } else {
      take_request(it, &r);
    }
    bulk_fields_free(&f);
  }
  if (!have_header) {
    return cli_usage_error(
        cmd, "%s: no header row (type,lot_id,product_id,...)", path);
  }
  return CLI_EXIT_OK;
}

/* ---- the rejects file ---- */

static void csv_cell(FILE *out, const char *s, size_t n) {
  bool quote = false;
  for (size_t i = 0; i < n && !quote; i++) {
    quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r' ||
            s[i] == ' ' || s[i] == '\t';
  }
  if (!quote) {
    fwrite(s, 1, n, out);
    return;
  }
  fputc('"', out);
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '"') {
      fputc('"', out);
    }
    fputc(s[i], out);
  }
  fputc('"', out);
}

/* The row again without the columns import ignores (old error columns),
 * so a rejects file of a rejects file stays tidy. A row that could not be
 * read as one cell per column is kept whole, as text, in the first column:
 * the rejects file stays valid CSV with the error columns in place. */
static void csv_row(FILE *out, const bulk_header *h, const char *raw,
                    size_t raw_len) {
  const char *p = raw;
  bulk_fields f;
  size_t lines = 0;
  char msg[BULK_MESSAGE_MAX];
  bool readable =
      bulk_csv_record(&p, raw + raw_len, &f, &lines, msg, sizeof msg) == 0;
  if (readable && f.n != h->n) {
    bulk_fields_free(&f);
    readable = false;
  }
  bool first = true;
  for (size_t i = 0; i < h->n; i++) {
    if (h->col[i] == BULK_COL_IGNORED) {
      continue;
    }
    if (!first) {
      fputc(',', out);
    }
    if (readable) {
      csv_cell(out, f.v[i], strlen(f.v[i]));
    } else if (first) {
      csv_cell(out, raw, raw_len);
    }
    first = false;
  }
  fputc(',', out);
  if (readable) {
    bulk_fields_free(&f);
  }
}

static int write_rejects(const char *path, import_format format,
                         const bulk_batch *b, const bulk_header *h,
                         const char *header_raw, size_t header_len) {
  FILE *out = fopen(path, "w");
  if (out == NULL) {
    return cli_fail("cannot write %s: %s", path, strerror(errno));
  }
  if (format == FORMAT_CSV) {
    csv_row(out, h, header_raw, header_len);
    fputs("error_line,error_code,error_message\n", out);
  }
  for (size_t i = 0; i < b->n; i++) {
    const bulk_item *it = &b->items[i];
    if (it->code == NULL) {
      continue;
    }
    if (format == FORMAT_CSV) {
      csv_row(out, h, it->raw, it->raw_len);
      fprintf(out, "%zu,", it->line);
      csv_cell(out, it->code, strlen(it->code));
      fputc(',', out);
      csv_cell(out, it->message, strlen(it->message));
      fputc('\n', out);
      continue;
    }
    json_t *obj = json_loadb(it->raw, it->raw_len, 0, NULL);
    if (!json_is_object(obj)) {
      json_decref(obj);
      obj = json_object();
      json_t *raw = json_stringn(it->raw, it->raw_len);
      json_object_set_new(obj, "raw",
                          raw ? raw : json_string("(not UTF-8 text)"));
    }
    json_t *e = json_object();
    json_object_set_new(e, "line", json_integer((json_int_t)it->line));
    json_object_set_new(e, "code", json_string(it->code));
    json_object_set_new(e, "message", json_string(it->message));
    json_object_set_new(obj, "error", e);
    char *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text != NULL) {
      fprintf(out, "%s\n", text);
    }
    free(text);
    json_decref(obj);
  }
  if (fclose(out) != 0) {
    return cli_fail("cannot write %s: %s", path, strerror(errno));
  }
  return CLI_EXIT_OK;
}

static void import_report(const cli_ctx *ctx, const char *path,
                          const bulk_batch *b, const bulk_summary *s,
                          const char *rejects) {
  if (ctx->json) {
    json_t *j = json_object();
    json_object_set_new(j, "file", json_string(path));
    json_object_set_new(j, "rows", json_integer((json_int_t)b->n));
    json_object_set_new(j, "accepted", json_integer((json_int_t)s->accepted));
    json_object_set_new(j, "rejected", json_integer((json_int_t)s->rejected));
    json_object_set_new(j, "by_code", codes_json(s));
    json_object_set_new(j, "rejects_file",
                        s->rejected > 0 ? json_string(rejects) : json_null());
    cli_print_json(j);
    json_decref(j);
    return;
  }
  char *file = cli_one_line(path, 0);
  printf("Imported %s: %zu %s, %zu accepted, %zu rejected.\n", file, b->n,
         b->n == 1 ? "row" : "rows", s->accepted, s->rejected);
  free(file);
  print_codes(s);
  if (s->rejected > 0) {
    char *r = cli_one_line(rejects, 0);
    printf("Rejected rows and their reasons: %s\n", r);
    free(r);
  }
}

/* What `lotline import` was asked. */
typedef struct import_input {
  const char *path;
  const char *rejects; /* --rejects, or NULL for FILE.rejected */
  bool quiet;
  import_format format;
  int conc;
} import_input;

/* The one FILE argument and the options' values. */
static int import_check(const cli_args *a,
                        const char *const vals[CLI_OPT_SLOTS],
                        import_input *in) {
  const cli_command *cmd = a->cmd;
  int rc = cli_one_arg(a, "FILE", &in->path);
  if (rc != CLI_EXIT_OK) {
    return rc;
  }
  const char *format = CLI_VAL(vals, OPT_FORMAT);
  in->format = FORMAT_GUESS;
  if (format != NULL && strcasecmp(format, "csv") == 0) {
    in->format = FORMAT_CSV;
  } else if (format != NULL && strcasecmp(format, "ndjson") == 0) {
    in->format = FORMAT_NDJSON;
  } else if (format != NULL) {
    return cli_usage_error(cmd, "--format must be csv or ndjson");
  }
  in->conc = BULK_CONCURRENCY_DEFAULT;
  if (CLI_VAL(vals, OPT_CONCURRENCY) != NULL &&
      parse_concurrency(cmd, CLI_VAL(vals, OPT_CONCURRENCY), &in->conc) != 0) {
    return CLI_EXIT_USAGE;
  }
  in->rejects = CLI_VAL(vals, OPT_REJECTS);
  if (in->rejects != NULL && ll_text_blank(in->rejects)) {
    return cli_usage_error(cmd, "--rejects needs a path");
  }
  in->quiet = CLI_VAL(vals, OPT_QUIET) != NULL;
  return CLI_EXIT_OK;
}

/* The file's rows as requests, with their keys. */
typedef struct import_rows {
  input_file file;
  bulk_batch batch;
  bulk_header header;
  const char *header_raw; /* CSV: the header as written, for rejects */
  size_t header_len;
} import_rows;

static int import_load(const cli_command *cmd, import_input *in,
                       import_rows *rows) {
  int rc = read_input(in->path, &rows->file);
  if (rc != CLI_EXIT_OK) {
    return rc;
  }
  if (in->format == FORMAT_GUESS) {
    in->format = guess_format(in->path, &rows->file);
  }
  if (in->format == FORMAT_CSV) {
    rc = load_csv(cmd, in->path, &rows->file, &rows->batch, &rows->header,
                  &rows->header_raw, &rows->header_len);
  } else {
    rc = load_ndjson(cmd, in->path, &rows->file, &rows->batch);
  }
  if (rc == CLI_EXIT_OK && rows->batch.n == 0) {
    rc = cli_fail("%s holds no rows", in->path);
  }
  if (rc == CLI_EXIT_OK) {
    derive_import_keys(&rows->batch);
  }
  return rc;
}

/* Send, write (or remove) the rejects file, report. */
static int import_send(cli_ctx *ctx, const import_input *in,
                       import_rows *rows) {
  char *rejects_path = in->rejects ? ll_strdup(in->rejects)
                       : strcmp(in->path, "-") == 0
                           ? ll_strdup("stdin.rejected")
                           : cli_sprintf("%s.rejected", in->path);
  bulk_summary s;
  memset(&s, 0, sizeof s);
  int rc = check_api(ctx);
  if (rc == CLI_EXIT_OK) {
    rc = send_batch(ctx, &rows->batch, in->conc, in->quiet || ctx->json, "rows",
                    &s);
  }
  if (rc == CLI_EXIT_OK && s.rejected > 0) {
    rc = write_rejects(rejects_path, in->format, &rows->batch, &rows->header,
                       rows->header_raw, rows->header_len);
  } else if (rc == CLI_EXIT_OK) {
    /* A rejects file from an earlier run would now mislead. */
    if (unlink(rejects_path) != 0 && errno != ENOENT) {
      rc = cli_fail("cannot remove the old %s: %s", rejects_path,
                    strerror(errno));
    }
  }
  if (rc == CLI_EXIT_OK) {
    import_report(ctx, in->path, &rows->batch, &s, rejects_path);
    rc = s.rejected > 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
  }
  free(rejects_path);
  return rc;
}

static int run_import(cli_ctx *ctx, const cli_command *cmd, int argc,
                      char **argv) {
  cli_args a;
  cli_args_init(&a, ctx, cmd, argc, argv, import_options);
  const char *vals[CLI_OPT_SLOTS] = {NULL};
  int rc = CLI_EXIT_OK;
  if (!cli_args_parse(&a, vals, &rc)) {
    return rc;
  }
  import_input in = {0};
  rc = import_check(&a, vals, &in);
  if (rc != CLI_EXIT_OK) {
    return rc;
  }
  import_rows rows = {0};
  rc = import_load(cmd, &in, &rows);
  if (rc == CLI_EXIT_OK) {
    rc = import_send(ctx, &in, &rows);
  }
  bulk_batch_free(&rows.batch);
  free(rows.file.data);
  return rc;
}

static const char import_usage[] =
    "Usage: lotline import FILE [OPTIONS]\n"
    "\n"
    "Create lots and move stock from a CSV or NDJSON file (FILE '-' reads\n"
    "standard input), through the HTTP API. Rows of one product are sent\n"
    "in file order, one at a time; different products go in parallel.\n"
    "\n"
    "CSV: a header row names the columns, in any order (case-insensitive):\n"
    "  type            lot or move (required)\n"
    "  lot_id          lot: its stable id; move: the lot (or lot_name)\n"
    "  lot_name        move: the lot by its name within the product\n"
    "  product_id      the product\n"
    "  name            lot: the lot or serial number\n"
    "  tracking        lot: lot (default) or serial\n"
    "  reference       lot: e.g. the purchase order; move: the picking\n"
    "  description     lot\n"
    "  expiration_at, use_by_at, removal_at, alert_at\n"
    "                  lot: 2027-03-01 or RFC 3339\n"
    "  quantity        move: a decimal > 0, at most 6 decimals\n"
    "  from, to        move: location ids\n"
    "  from_usage, to_usage\n"
    "                  move: INTERNAL (default), TRANSIT, SUPPLIER,\n"
    "                  CUSTOMER, INVENTORY, PRODUCTION, SCRAP\n"
    "  idempotency_key the event id (default: derived from the row)\n"
    "Empty cells are absent; cells may be quoted (\"a, b\"); spaces around\n"
    "unquoted cells are dropped.\n"
    "\n"
    "NDJSON: one JSON object per line, \"type\": \"lot\" or \"move\" plus\n"
    "the body of POST /v1/lots or POST /v1/moves (quantity as a string,\n"
    "from/to as {\"id\",\"usage\"}), and optionally \"idempotency_key\".\n"
    "\n"
    "Options:\n"
    "  --format F       csv or ndjson (default: by the file name's ending,\n"
    "                   .csv or .ndjson/.jsonl/.json, else by the content)\n"
    "  --rejects PATH   where rejected rows go (default FILE.rejected)\n"
    "  --concurrency N  requests in flight, 1..64 (default 8)\n"
    "  --quiet          no progress on stderr\n"
    "  -h, --help       this text\n"
    "Global options --api, --data, --json and --timeout-ms work here too.\n"
    "\n"
    "A progress bar goes to stderr (plain lines when it is not a terminal).\n"
    "The run ends with a summary of accepted rows and rejected rows by\n"
    "code; rejected rows are written to the rejects file in the input's\n"
    "format with the reason added (CSV columns error_line, error_code,\n"
    "error_message; an NDJSON \"error\" member). import ignores those, so\n"
    "the file can be fixed and imported again. BAD_ROW marks a row that\n"
    "could not be read (a CSV row that does not fit the columns is kept\n"
    "whole in the first column); UNAVAILABLE one the API did not take\n"
    "after retries.\n"
    "\n"
    "Importing the same file again is safe: each row's event id is\n"
    "\"import:\" + the SHA-256 of what the row says + \":\" + its number\n"
    "among identical rows, and the API answers an id it has seen with the\n"
    "first outcome. A row you corrected is new and is decided afresh; rows\n"
    "left as they were keep their ids, wherever they move in the file.\n"
    "An unknown column (CSV) or key (NDJSON) refuses the whole file.\n"
    "Exit status: 0 all rows accepted, 1 some rejected (or the API could\n"
    "not be reached), 2 bad usage (an unknown column or key included).\n"
    "\n"
    "Example (CSV):\n"
    "  type,lot_id,product_id,name,tracking,quantity,from,from_usage,to\n"
    "  lot,L-1,RESIN,R-2027-01,lot,,,,\n"
    "  move,L-1,RESIN,,,12.5,Vendors/Acme,SUPPLIER,WH/Stock\n";

const cli_command cli_cmd_import = {
    .name = "import",
    .summary = "create lots and moves from a CSV or NDJSON file",
    .usage = import_usage,
    .run = run_import,
};
