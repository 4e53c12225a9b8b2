/* cmd_balance.c — lotline balance: opening, in, out and closing over a
 * window of the log, per location of a lot (GET /v1/lots/{lot_id}/balance)
 * or per lot of a location (GET /v1/balance?location=), as ERPs print a
 * batch-wise balance history. --from and --to are log positions or times
 * (a date is midnight UTC). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum {
  OPT_FROM = CLI_OPT_COMMAND_FIRST,
  OPT_TO,
  OPT_ALL,
  OPT_LOCATION,
  OPT_CHILDREN,
};

static const struct option balance_options[] = {
    {"from", required_argument, NULL, OPT_FROM},
    {"to", required_argument, NULL, OPT_TO},
    {"all", no_argument, NULL, OPT_ALL},
    {"location", required_argument, NULL, OPT_LOCATION},
    {"children", no_argument, NULL, OPT_CHILDREN},
    {NULL, 0, NULL, 0},
};

/* A window end: digits are a log position, else a time (cli_parse_time). */
static int window_end(const cli_command *cmd, const char *option,
                      const char *value, char out[CLI_TIME_STR_MAX]) {
  if (value[0] != '\0' && strspn(value, "0123456789") == strlen(value) &&
      strlen(value) < CLI_TIME_STR_MAX) {
    strcpy(out, value);
    return CLI_EXIT_OK;
  }
  return cli_parse_time(cmd, option, value, out);
}

static void add_param(char **path, const char *key, const char *value) {
  char *escaped = cli_escape(value);
  char *next = cli_sprintf(
      "%s%c%s=%s", *path, strchr(*path, '?') != NULL ? '&' : '?', key, escaped);
  free(escaped);
  free(*path);
  *path = next;
}

static int add_window(const cli_command *cmd,
                      const char *const vals[CLI_OPT_SLOTS], char **path) {
  static const struct {
    int opt;
    const char *option, *key;
  } ends[] = {{OPT_FROM, "--from", "from"}, {OPT_TO, "--to", "to"}};
  for (size_t i = 0; i < 2; i++) {
    const char *value = CLI_VAL(vals, ends[i].opt);
    if (value == NULL) {
      continue;
    }
    char text[CLI_TIME_STR_MAX];
    int rc = window_end(cmd, ends[i].option, value, text);
    if (rc != CLI_EXIT_OK) {
      return rc;
    }
    add_param(path, ends[i].key, text);
  }
  return CLI_EXIT_OK;
}

static void print_rows(const json_t *answer, const json_t *rows,
                       bool by_location) {
  static const char *const headers[] = {"LOCATION", "USAGE", "OPENING",
                                        "IN",       "OUT",   "CLOSING"};
  static const char *const lot_headers[] = {"LOT", "PRODUCT", "OPENING",
                                            "IN",  "OUT",     "CLOSING"};
  static const cli_align align[] = {CLI_ALIGN_LEFT,  CLI_ALIGN_LEFT,
                                    CLI_ALIGN_RIGHT, CLI_ALIGN_RIGHT,
                                    CLI_ALIGN_RIGHT, CLI_ALIGN_RIGHT};
  cli_table t;
  cli_table_init(&t, 6, by_location ? headers : lot_headers, align);
  size_t i;
  const json_t *row;
  json_array_foreach(rows, i, row) {
    char q[4][LL_DECIMAL_STR_MAX];
    const char *cells[] = {
        cli_json_str(row, by_location ? "location" : "lot_id"),
        cli_json_str(row, by_location ? "usage" : "product_id"),
        cli_json_quantity(row, "opening", q[0]),
        cli_json_quantity(row, "in", q[1]),
        cli_json_quantity(row, "out", q[2]),
        cli_json_quantity(row, "closing", q[3]),
    };
    cli_table_add(&t, cells);
  }
  cli_table_print(&t, stdout);
  cli_table_free(&t);
  const char *uom = cli_json_str(answer, "uom");
  if (uom != NULL) {
    printf("\nQuantities in %s.\n", uom);
  }
  if (json_is_true(json_object_get(answer, "truncated"))) {
    printf("\nINCOMPLETE: the location had more lots than one report "
           "reads.\n");
  }
}

static int show_balance(cli_ctx *ctx, const char *path, bool by_location) {
  cli_request req = {.method = "GET", .path = path};
  json_t *answer = NULL;
  int rc = cli_call(ctx, &req, &answer);
  const char *key = by_location ? "locations" : "lots";
  const json_t *rows = NULL;
  if (rc == CLI_EXIT_OK && ctx->json) {
    rc = cli_print_json(answer);
  } else if (rc == CLI_EXIT_OK &&
             (rows = cli_answer_array(answer, key)) == NULL) {
    rc = CLI_EXIT_FAILURE;
  } else if (rc == CLI_EXIT_OK) {
    print_rows(answer, rows, by_location);
  }
  json_decref(answer);
  return rc;
}

/* The path: a lot's balance with LOT_ID, a location's with --location. */
static int balance_path(const cli_args *a,
                        const char *const vals[CLI_OPT_SLOTS], char **path,
                        bool *by_location) {
  const char *location = CLI_VAL(vals, OPT_LOCATION);
  *by_location = location == NULL;
  if (location != NULL) {
    if (a->first_arg < a->argc || CLI_VAL(vals, OPT_ALL) != NULL ||
        CLI_VAL(vals, CLI_OPT_LOT_PRODUCT) != NULL) {
      return cli_usage_error(a->cmd, "--location takes no LOT_ID, --all nor "
                                     "--product");
    }
    *path = cli_sprintf("/v1/balance");
    add_param(path, "location", location);
    if (CLI_VAL(vals, OPT_CHILDREN) != NULL) {
      add_param(path, "children", "1");
    }
    return CLI_EXIT_OK;
  }
  const char *lot_id = NULL;
  int rc = cli_one_lot_id(a, &lot_id);
  if (rc == CLI_EXIT_OK && CLI_VAL(vals, OPT_CHILDREN) != NULL) {
    rc = cli_usage_error(a->cmd, "--children goes with --location");
  }
  if (rc != CLI_EXIT_OK) {
    return rc;
  }
  *path = cli_lot_path(CLI_VAL(vals, CLI_OPT_LOT_PRODUCT), lot_id, "/balance");
  if (CLI_VAL(vals, OPT_ALL) != NULL) {
    add_param(path, "all", "1");
  }
  return CLI_EXIT_OK;
}

static int run_balance(cli_ctx *ctx, const cli_command *cmd, int argc,
                       char **argv) {
  cli_args a;
  cli_args_init(&a, ctx, cmd, argc, argv, balance_options);
  cli_args_add(&a, cli_lot_product_options);
  const char *vals[CLI_OPT_SLOTS] = {NULL};
  int rc = CLI_EXIT_OK;
  if (!cli_args_parse(&a, vals, &rc)) {
    return rc;
  }
  char *path = NULL;
  bool by_location = true;
  rc = balance_path(&a, vals, &path, &by_location);
  if (rc == CLI_EXIT_OK) {
    rc = add_window(cmd, vals, &path);
  }
  if (rc == CLI_EXIT_OK) {
    rc = show_balance(ctx, path, by_location);
  }
  free(path);
  return rc;
}

static const char balance_usage[] =
    "Usage: lotline balance LOT_ID [--product P] [--from X] [--to Y] [--all]\n"
    "       lotline balance --location L [--children] [--from X] [--to Y]\n"
    "\n"
    "Opening, in, out and closing quantities over a window of the log: per\n"
    "location of a lot (its INTERNAL and TRANSIT locations; --all adds the\n"
    "virtual ones), or per lot that was ever at location L (--children:\n"
    "or below it). Opening is what the moves before --from left, in and out\n"
    "what the moves from --from to --to brought and took, closing = opening\n"
    "+ in - out. Rows that are zero throughout are left out.\n"
    "\n"
    "Options:\n"
    "  --from X      the window's start: a log position (digits), a date\n"
    "                (midnight UTC) or an RFC 3339 time; default the start\n"
    "  --to Y        the window's end, inclusive; default now\n"
    "  --all         with LOT_ID: also the virtual locations\n"
    "  --location L  the balance of a location, per lot\n"
    "  --children    with --location: also the locations below it\n"
    "  --product P   the lot's product: a lot is (product, LOT_ID)\n"
    "  -h, --help    this text\n"
    "Global options --api, --data, --json and --timeout-ms work here too.\n"
    "\n"
    "Examples:\n"
    "  lotline balance LOT-2027-001 --from 2027-01-01 --to 2027-01-31\n"
    "  lotline balance --location WH --children --from 2027-01-01\n";

const cli_command cli_cmd_balance = {
    .name = "balance",
    .summary = "opening, in, out, closing per location or per lot",
    .usage = balance_usage,
    .run = run_balance,
};
