/* cmd_lot.c — the commands about one lot: create, update, show.
 *
 * create and update share the lot's text and date options; both send the
 * event field names of docs/events.md as JSON (POST /v1/lots, PATCH
 * /v1/lots/{lot_id}) and print the lot the API answers with as a "View",
 * the same one `show` prints. lotline never makes up a lot id: the id is
 * the producer's stable key (docs/events.md), so create requires --lot-id.
 * Absent options mean "unchanged" for update; an empty --reference or
 * --description clears it. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum {
  OPT_PRODUCT = CLI_OPT_LOT_DETAILS_END,
  OPT_LOT_ID,
  OPT_NAME,
  OPT_TRACKING,
  OPT_IDEMPOTENCY_KEY,
  OPT_EXPECTED_VERSION,
  OPT_UOM,
  OPT_PROPERTY,
};

/* create and update share the detail options (cli_lot_detail_options);
 * create adds the id and the tracking (fixed at birth), update the
 * optimistic version check. */
static const struct option create_options[] = {
    {"lot-id", required_argument, NULL, OPT_LOT_ID},
    {"tracking", required_argument, NULL, OPT_TRACKING},
    {"product", required_argument, NULL, OPT_PRODUCT},
    {"name", required_argument, NULL, OPT_NAME},
    {"idempotency-key", required_argument, NULL, OPT_IDEMPOTENCY_KEY},
    {"uom", required_argument, NULL, OPT_UOM},
    {"property", required_argument, NULL, OPT_PROPERTY},
    {NULL, 0, NULL, 0},
};

static const struct option update_options[] = {
    {"expected-version", required_argument, NULL, OPT_EXPECTED_VERSION},
    {"name", required_argument, NULL, OPT_NAME},
    {"idempotency-key", required_argument, NULL, OPT_IDEMPOTENCY_KEY},
    {"property", required_argument, NULL, OPT_PROPERTY},
    {NULL, 0, NULL, 0},
};

static const struct option no_options[] = {
    {NULL, 0, NULL, 0},
};

static int print_lot_answer(const cli_ctx *ctx, const json_t *lot,
                            const char *lot_id, const char *what) {
  if (ctx->json) {
    return cli_print_json(lot);
  }
  char *id = cli_one_line(lot_id, 0);
  printf("Lot %s %s.\n\n", id, what);
  free(id);
  cli_print_lot(stdout, lot);
  return CLI_EXIT_OK;
}

static int build_create(const cli_command *cmd,
                        const char *const vals[CLI_OPT_SLOTS], json_t *body) {
  const char *lot_id = CLI_VAL(vals, OPT_LOT_ID);
  const char *product = CLI_VAL(vals, OPT_PRODUCT);
  const char *name = CLI_VAL(vals, OPT_NAME);
  if (lot_id == NULL) {
    return cli_usage_error(cmd,
                           "missing --lot-id: lotline does not make up lot "
                           "ids; give the stable id your other systems use");
  }
  int rc = cli_require(cmd, "--lot-id", lot_id);
  if (rc == CLI_EXIT_OK) {
    rc = cli_require(cmd, "--product", product);
  }
  if (rc == CLI_EXIT_OK) {
    rc = cli_require(cmd, "--name", name);
  }
  if (rc == CLI_EXIT_OK) {
    rc = cli_check_idempotency_key(cmd, CLI_VAL(vals, OPT_IDEMPOTENCY_KEY));
  }
  ll_tracking tracking = LL_TRACK_LOT;
  if (rc == CLI_EXIT_OK && CLI_VAL(vals, OPT_TRACKING) != NULL) {
    rc = cli_parse_tracking(cmd, CLI_VAL(vals, OPT_TRACKING), &tracking);
  }
  if (rc == CLI_EXIT_OK) {
    rc = cli_put_text(cmd, body, "lot_id", "--lot-id", lot_id);
  }
  if (rc == CLI_EXIT_OK) {
    rc = cli_put_text(cmd, body, "product_id", "--product", product);
  }
  if (rc == CLI_EXIT_OK) {
    rc = cli_put_text(cmd, body, "name", "--name", name);
  }
  if (rc == CLI_EXIT_OK) {
    rc = cli_put_text(cmd, body, "tracking", "--tracking",
                      ll_tracking_name(tracking));
  }
  if (rc == CLI_EXIT_OK) {
    rc = cli_put_lot_details(cmd, body, vals, false);
  }
  if (rc == CLI_EXIT_OK && CLI_VAL(vals, OPT_UOM) != NULL) {
    rc = cli_require(cmd, "--uom", CLI_VAL(vals, OPT_UOM));
    if (rc == CLI_EXIT_OK) {
      rc = cli_put_text(cmd, body, "uom", "--uom", CLI_VAL(vals, OPT_UOM));
    }
  }
  return rc;
}

/* Send the request and print the lot the API answers with. */
static int send_lot(cli_ctx *ctx, const cli_request *req, const char *lot_id,
                    const char *what) {
  json_t *lot = NULL;
  int rc = cli_call(ctx, req, &lot);
  if (rc == CLI_EXIT_OK) {
    rc = print_lot_answer(ctx, lot, lot_id, what);
  }
  json_decref(lot);
  return rc;
}

static int run_create(cli_ctx *ctx, const cli_command *cmd, int argc,
                      char **argv) {
  cli_args a;
  cli_args_init(&a, ctx, cmd, argc, argv, create_options);
  cli_args_add(&a, cli_lot_detail_options);
  a.repeat_opt = OPT_PROPERTY;
  const char *vals[CLI_OPT_SLOTS] = {NULL};
  int rc = CLI_EXIT_OK;
  if (!cli_args_parse(&a, vals, &rc)) {
    return rc;
  }
  rc = cli_no_args(&a);
  json_t *body = json_object();
  if (rc == CLI_EXIT_OK) {
    rc = build_create(cmd, vals, body);
  }
  if (rc == CLI_EXIT_OK) {
    rc = cli_put_properties(&a, body, false);
  }
  if (rc == CLI_EXIT_OK) {
    cli_request req = {.method = "POST",
                       .path = "/v1/lots",
                       .body = body,
                       .idempotency_key = CLI_VAL(vals, OPT_IDEMPOTENCY_KEY)};
    rc = send_lot(ctx, &req, CLI_VAL(vals, OPT_LOT_ID), "created");
  }
  json_decref(body);
  return rc;
}

/* name or product: absent is unchanged; given, it must not be blank. */
static int put_changed(const cli_command *cmd, json_t *body, const char *key,
                       const char *option, const char *value) {
  if (value == NULL) {
    return CLI_EXIT_OK;
  }
  int rc = cli_require(cmd, option, value);
  if (rc == CLI_EXIT_OK) {
    rc = cli_put_text(cmd, body, key, option, value);
  }
  return rc;
}

static int build_update(const cli_command *cmd,
                        const char *const vals[CLI_OPT_SLOTS], json_t *body) {
  int rc = cli_check_idempotency_key(cmd, CLI_VAL(vals, OPT_IDEMPOTENCY_KEY));
  if (rc == CLI_EXIT_OK) {
    rc = put_changed(cmd, body, "name", "--name", CLI_VAL(vals, OPT_NAME));
  }
  /* --product names the lot (a lot's product cannot be changed): it goes
   * into the path, not the body. */
  if (rc == CLI_EXIT_OK) {
    rc = cli_put_lot_details(cmd, body, vals, true);
  }
  if (rc == CLI_EXIT_OK && json_object_size(body) == 0) {
    return cli_usage_error(cmd, "nothing to update: give at least one of "
                                "--name, --reference, --description, a "
                                "date or --property");
  }
  const char *expected = CLI_VAL(vals, OPT_EXPECTED_VERSION);
  if (rc == CLI_EXIT_OK && expected != NULL) {
    int64_t version = 0;
    rc = cli_parse_int(cmd, "--expected-version", expected, 1, INT64_MAX,
                       &version);
    if (rc == CLI_EXIT_OK) {
      json_object_set_new(body, "expected_version", json_integer(version));
    }
  }
  return rc;
}

static int run_update(cli_ctx *ctx, const cli_command *cmd, int argc,
                      char **argv) {
  cli_args a;
  cli_args_init(&a, ctx, cmd, argc, argv, update_options);
  cli_args_add(&a, cli_lot_detail_options);
  a.repeat_opt = OPT_PROPERTY;
  const char *vals[CLI_OPT_SLOTS] = {NULL};
  int rc = CLI_EXIT_OK;
  const char *lot_id = NULL;
  if (!cli_args_parse_lot(&a, vals, &lot_id, &rc)) {
    return rc;
  }
  json_t *body = json_object();
  rc = cli_put_properties(&a, body, true);
  if (rc == CLI_EXIT_OK) {
    rc = build_update(cmd, vals, body);
  }
  if (rc == CLI_EXIT_OK) {
    char *path = cli_lot_path(CLI_VAL(vals, CLI_OPT_LOT_PRODUCT), lot_id, "");
    cli_request req = {.method = "PATCH",
                       .path = path,
                       .body = body,
                       .idempotency_key = CLI_VAL(vals, OPT_IDEMPOTENCY_KEY)};
    rc = send_lot(ctx, &req, lot_id, "updated");
    free(path);
  }
  json_decref(body);
  return rc;
}

static int run_show(cli_ctx *ctx, const cli_command *cmd, int argc,
                    char **argv) {
  cli_args a;
  cli_args_init(&a, ctx, cmd, argc, argv, no_options);
  const char *vals[CLI_OPT_SLOTS] = {NULL};
  int rc = CLI_EXIT_OK;
  const char *lot_id = NULL;
  if (!cli_args_parse_lot(&a, vals, &lot_id, &rc)) {
    return rc;
  }
  char *path = cli_lot_path(CLI_VAL(vals, CLI_OPT_LOT_PRODUCT), lot_id, "");
  cli_request req = {.method = "GET", .path = path};
  json_t *lot = NULL;
  rc = cli_call(ctx, &req, &lot);
  if (rc == CLI_EXIT_OK) {
    if (ctx->json) {
      rc = cli_print_json(lot);
    } else {
      cli_print_lot(stdout, lot);
    }
  }
  json_decref(lot);
  free(path);
  return rc;
}

static const char create_usage[] =
    "Usage: lotline create --product P --lot-id ID --name N [OPTIONS]\n"
    "\n"
    "Register a new lot (or serial number) of product P and print it.\n"
    "--lot-id is required: lotline does not make up lot ids. Use the\n"
    "stable id your ERP or warehouse system already has, so that retries\n"
    "and other systems name the same lot.\n"
    "\n"
    "Options:\n"
    "  --product P            the product (required)\n"
    "  --lot-id ID            the lot's stable id (required)\n"
    "  --name N               the lot or serial number, unique within the\n"
    "                         product (required)\n"
    "  --tracking lot|serial  how the product is tracked (default lot); the\n"
    "                         product's first lot decides for all its lots\n"
    "  --reference R          e.g. the purchase order\n"
    "  --description D\n"
    "  --expiration-at T      T is a date (2027-03-01, midnight UTC) or an\n"
    "  --use-by-at T          RFC 3339 time (2027-03-01T08:00:00+02:00);\n"
    "  --removal-at T         use-by, removal and alert must not be later\n"
    "  --alert-at T           than the expiration\n"
    "  --uom U                the unit of its quantities (kg, pcs); the\n"
    "                         product's first lot with one fixes it\n"
    "  --property KEY=VALUE   a property of the lot; repeat for more\n"
    "  --idempotency-key K    sending the same request again with the same\n"
    "                         key creates the lot only once\n"
    "  -h, --help             this text\n"
    "Global options --api, --data, --json and --timeout-ms work here too.\n"
    "\n"
    "Example:\n"
    "  lotline create --product P-100 --lot-id LOT-2027-001 --name 0001 \\\n"
    "      --reference PO-7 --expiration-at 2027-03-01\n";

static const char update_usage[] =
    "Usage: lotline update LOT_ID [--product P] [OPTIONS]\n"
    "\n"
    "Change a lot's details and print it. Only the options given change;\n"
    "an empty --reference \"\" or --description \"\" clears it. A lot's\n"
    "product cannot be changed: create the lot under the right product.\n"
    "\n"
    "Options:\n"
    "  --product P            the lot's product: a lot is (product, LOT_ID);\n"
    "                         needed when two or more products have a lot\n"
    "                         LOT_ID (else AMBIGUOUS_LOT)\n"
    "  --name N               the new lot or serial number\n"
    "  --reference R\n"
    "  --description D\n"
    "  --expiration-at T      T is a date (2027-03-01, midnight UTC) or an\n"
    "  --use-by-at T          RFC 3339 time\n"
    "  --removal-at T\n"
    "  --alert-at T\n"
    "  --expected-version V   refuse (VERSION_CONFLICT) unless the lot is\n"
    "                         still at version V\n"
    "  --property KEY=VALUE   set a property; KEY= removes it; repeat for\n"
    "                         more (the others stay)\n"
    "  --idempotency-key K    the same key applies the change only once\n"
    "  -h, --help             this text\n"
    "Global options --api, --data, --json and --timeout-ms work here too.\n"
    "\n"
    "Example:\n"
    "  lotline update LOT-2027-001 --expiration-at 2027-06-30 \\\n"
    "      --expected-version 1\n";

static const char show_usage[] =
    "Usage: lotline show LOT_ID [--product P]\n"
    "\n"
    "Print one lot's details: name, product, tracking, reference,\n"
    "description, dates, quantity on hand, version and times.\n"
    "\n"
    "Options:\n"
    "  --product P  the lot's product: a lot is (product, LOT_ID); needed\n"
    "               when two or more products have a lot LOT_ID (else\n"
    "               AMBIGUOUS_LOT, which lists them)\n"
    "  -h, --help   this text\n"
    "Global options --api, --data, --json and --timeout-ms work here too.\n"
    "\n"
    "Example:\n"
    "  lotline show LOT-2027-001\n";

const cli_command cli_cmd_create = {
    .name = "create",
    .summary = "register a new lot or serial number",
    .usage = create_usage,
    .run = run_create,
};

const cli_command cli_cmd_update = {
    .name = "update",
    .summary = "change a lot's name, reference, description or dates",
    .usage = update_usage,
    .run = run_update,
};

const cli_command cli_cmd_show = {
    .name = "show",
    .summary = "show one lot's details",
    .usage = show_usage,
    .run = run_show,
};
