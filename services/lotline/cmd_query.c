/* cmd_query.c — the listing commands: locations (where a lot is, the
 * "Locations" tab) and lots (list and search).
 *
 * Both print an aligned table with quantities right-aligned in canonical
 * decimal form, so columns of numbers line up. lots pages with the API's
 * cursor: the next cursor is printed under the table, to pass back with
 * --cursor. An answer without the expected array is reported, not shown as
 * an empty table, so a client/server mismatch cannot pass for "nothing". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum {
  OPT_ALL = CLI_OPT_COMMAND_FIRST,
  OPT_PRODUCT,
  OPT_NAME,
  OPT_Q,
  OPT_LIMIT,
  OPT_CURSOR,
  OPT_PROPERTY,
};

static const struct option locations_options[] = {
    {"all", no_argument, NULL, OPT_ALL},
    {NULL, 0, NULL, 0},
};

static const struct option lots_options[] = {
    {"product", required_argument, NULL, OPT_PRODUCT},
    {"name", required_argument, NULL, OPT_NAME},
    {"q", required_argument, NULL, OPT_Q},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"cursor", required_argument, NULL, OPT_CURSOR},
    {"property", required_argument, NULL, OPT_PROPERTY},
    {NULL, 0, NULL, 0},
};

static void print_locations(const json_t *answer, const json_t *locations) {
  static const char *const headers[] = {"LOCATION", "USAGE", "QUANTITY"};
  static const cli_align align[] = {CLI_ALIGN_LEFT, CLI_ALIGN_LEFT,
                                    CLI_ALIGN_RIGHT};
  cli_table t;
  cli_table_init(&t, 3, headers, align);
  size_t i;
  const json_t *row;
  json_array_foreach(locations, i, row) {
    char usage_buf[LL_DECIMAL_STR_MAX], qty_buf[LL_DECIMAL_STR_MAX];
    const char *cells[] = {
        cli_json_str(row, "location"),
        cli_json_text(row, "usage", usage_buf, sizeof usage_buf),
        cli_json_quantity(row, "quantity", qty_buf),
    };
    cli_table_add(&t, cells);
  }
  cli_table_print(&t, stdout);
  cli_table_free(&t);
  char buf[LL_DECIMAL_STR_MAX];
  const char *uom = cli_json_str(answer, "uom");
  printf("\nOn hand: %s%s%s\n", cli_json_quantity(answer, "on_hand", buf),
         uom != NULL ? " " : "", uom != NULL ? uom : "");
}

/* GET path and show the answer: its JSON with --json, else its `key`
 * array through print (given the whole answer too). */
static int show_list(cli_ctx *ctx, const char *path, const char *key,
                     void (*print)(const json_t *answer, const json_t *rows)) {
  cli_request req = {.method = "GET", .path = path};
  json_t *answer = NULL;
  int rc = cli_call(ctx, &req, &answer);
  if (rc == CLI_EXIT_OK) {
    const json_t *rows = NULL;
    if (ctx->json) {
      rc = cli_print_json(answer);
    } else if ((rows = cli_answer_array(answer, key)) == NULL) {
      rc = CLI_EXIT_FAILURE;
    } else {
      print(answer, rows);
    }
  }
  json_decref(answer);
  return rc;
}

static int run_locations(cli_ctx *ctx, const cli_command *cmd, int argc,
                         char **argv) {
  cli_args a;
  cli_args_init(&a, ctx, cmd, argc, argv, locations_options);
  const char *vals[CLI_OPT_SLOTS] = {NULL};
  int rc = CLI_EXIT_OK;
  const char *lot_id = NULL;
  if (!cli_args_parse_lot(&a, vals, &lot_id, &rc)) {
    return rc;
  }
  bool all = CLI_VAL(vals, OPT_ALL) != NULL;
  char *path = cli_lot_path(CLI_VAL(vals, CLI_OPT_LOT_PRODUCT), lot_id,
                            all ? "/locations?all=1" : "/locations");
  rc = show_list(ctx, path, "locations", print_locations);
  free(path);
  return rc;
}

static void query_add(FILE *q, bool *first, const char *key,
                      const char *value) {
  if (value == NULL) {
    return;
  }
  char *escaped = cli_escape(value);
  fprintf(q, "%c%s=%s", *first ? '?' : '&', key, escaped);
  *first = false;
  free(escaped);
}

/* "/v1/lots?product_id=...": malloc'd; the filters in this order. */
static char *lots_path(const char *const vals[CLI_OPT_SLOTS]) {
  char *query = NULL;
  size_t query_len = 0;
  FILE *q = open_memstream(&query, &query_len);
  if (q == NULL) {
    abort(); /* out of memory */
  }
  bool first = true;
  query_add(q, &first, "product_id", CLI_VAL(vals, OPT_PRODUCT));
  query_add(q, &first, "name", CLI_VAL(vals, OPT_NAME));
  query_add(q, &first, "q", CLI_VAL(vals, OPT_Q));
  query_add(q, &first, "limit", CLI_VAL(vals, OPT_LIMIT));
  query_add(q, &first, "cursor", CLI_VAL(vals, OPT_CURSOR));
  /* --property KEY=VALUE is ?property=KEY:VALUE (the first '=' splits). */
  const char *property = CLI_VAL(vals, OPT_PROPERTY);
  if (property != NULL) {
    char *kv = cli_sprintf("%s", property);
    char *eq = strchr(kv, '=');
    if (eq != NULL) {
      *eq = ':';
    }
    query_add(q, &first, "property", kv);
    free(kv);
  }
  if (fclose(q) != 0) {
    abort(); /* open_memstream only fails on out of memory */
  }
  char *path = cli_sprintf("/v1/lots%s", query);
  free(query);
  return path;
}

static void print_lots(const json_t *answer, const json_t *lots) {
  static const char *const headers[] = {"LOT_ID", "PRODUCT", "NAME", "TRACKING",
                                        "ON_HAND"};
  static const cli_align align[] = {CLI_ALIGN_LEFT, CLI_ALIGN_LEFT,
                                    CLI_ALIGN_LEFT, CLI_ALIGN_LEFT,
                                    CLI_ALIGN_RIGHT};
  cli_table t;
  cli_table_init(&t, 5, headers, align);
  size_t i;
  const json_t *lot;
  json_array_foreach(lots, i, lot) {
    char buf[4][LL_DECIMAL_STR_MAX];
    const char *cells[] = {
        cli_json_text(lot, "lot_id", buf[0], sizeof buf[0]),
        cli_json_text(lot, "product_id", buf[1], sizeof buf[1]),
        cli_json_text(lot, "name", buf[2], sizeof buf[2]),
        cli_json_text(lot, "tracking", buf[3], sizeof buf[3]),
        NULL,
    };
    char qty[LL_DECIMAL_STR_MAX];
    cells[4] = cli_json_quantity(lot, "on_hand", qty);
    char *with_unit = NULL;
    if (cli_json_str(lot, "uom") != NULL) {
      with_unit = cli_sprintf("%s %s", cells[4], cli_json_str(lot, "uom"));
      cells[4] = with_unit;
    }
    cli_table_add(&t, cells);
    free(with_unit);
  }
  cli_table_print(&t, stdout);
  cli_table_free(&t);
  const char *next = cli_json_str(answer, "next_cursor");
  if (next != NULL && next[0] != '\0') {
    char *shown = cli_one_line(next, 0);
    printf("\nNext cursor: %s\n", shown);
    free(shown);
  }
}

static int run_lots(cli_ctx *ctx, const cli_command *cmd, int argc,
                    char **argv) {
  cli_args a;
  cli_args_init(&a, ctx, cmd, argc, argv, lots_options);
  const char *vals[CLI_OPT_SLOTS] = {NULL};
  int rc = CLI_EXIT_OK;
  if (!cli_args_parse(&a, vals, &rc)) {
    return rc;
  }
  rc = cli_no_args(&a);
  const char *property = CLI_VAL(vals, OPT_PROPERTY);
  if (rc == CLI_EXIT_OK && property != NULL &&
      (strchr(property, '=') == NULL || property[0] == '=')) {
    rc = cli_usage_error(cmd, "--property must be KEY=VALUE");
  }
  if (rc == CLI_EXIT_OK && CLI_VAL(vals, OPT_LIMIT) != NULL) {
    /* The API owns the upper bound; this only catches typos. */
    int64_t limit = 0;
    rc = cli_parse_int(cmd, "--limit", CLI_VAL(vals, OPT_LIMIT), 1, INT32_MAX,
                       &limit);
  }
  if (rc != CLI_EXIT_OK) {
    return rc;
  }
  char *path = lots_path(vals);
  rc = show_list(ctx, path, "lots", print_lots);
  free(path);
  return rc;
}

static const char locations_usage[] =
    "Usage: lotline locations LOT_ID [--product P] [--all]\n"
    "\n"
    "Print where a lot is: a table LOCATION USAGE QUANTITY of the internal\n"
    "and transit locations that hold some of it, then the quantity on hand\n"
    "(their sum).\n"
    "\n"
    "Options:\n"
    "  --product P  the lot's product: a lot is (product, LOT_ID); needed\n"
    "               when two or more products have a lot LOT_ID (else\n"
    "               AMBIGUOUS_LOT, which lists them)\n"
    "  --all        also list virtual locations (supplier, customer,\n"
    "               inventory, production, scrap): with them the quantities\n"
    "               of a lot add up to 0\n"
    "  -h, --help   this text\n"
    "Global options --api, --data, --json and --timeout-ms work here too.\n"
    "\n"
    "Example:\n"
    "  lotline locations LOT-2027-001 --all\n";

static const char lots_usage[] =
    "Usage: lotline lots [--product P] [--name N] [--q TEXT] [--limit N]\n"
    "                    [--cursor C] [--property KEY=VALUE]\n"
    "\n"
    "List lots in lot id order as a table LOT_ID PRODUCT NAME TRACKING\n"
    "ON_HAND. When there are more, the next cursor is printed below the\n"
    "table: pass it with --cursor for the next page.\n"
    "\n"
    "Options:\n"
    "  --product P   only lots of product P\n"
    "  --name N      only lots named N\n"
    "  --q TEXT      lots whose id, name or reference contains TEXT (any\n"
    "                case)\n"
    "  --limit N     at most N lots (the API's default otherwise)\n"
    "  --cursor C    continue after a previous page\n"
    "  --property KEY=VALUE  only lots whose property KEY is VALUE\n"
    "  -h, --help    this text\n"
    "Global options --api, --data, --json and --timeout-ms work here too.\n"
    "\n"
    "Examples:\n"
    "  lotline lots --product P-100 --limit 20\n"
    "  lotline lots --q 2027 --cursor LOT-2027-020\n";

const cli_command cli_cmd_locations = {
    .name = "locations",
    .summary = "show where a lot is and how much of it",
    .usage = locations_usage,
    .run = run_locations,
};

const cli_command cli_cmd_lots = {
    .name = "lots",
    .summary = "list and search lots",
    .usage = lots_usage,
    .run = run_lots,
};
