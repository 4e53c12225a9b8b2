/* cmd_lot.c — the commands about one lot: create, update, show.
 *
 * create and update share the lot's text and date options; both send the
 * event field names of docs/events.md as JSON (POST /v1/lots, PATCH
 * /v1/lots/{lot_id}) and print the lot the API answers with as a "View",
 * the same one `show` prints. lotline never makes up a lot id: the id is
 * the producer's stable key (docs/events.md), so create requires --lot-id.
 * Absent options mean "unchanged" for update; an empty --reference or
 * --description clears it. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum {
  OPT_PRODUCT = CLI_OPT_COMMAND_FIRST,
  OPT_LOT_ID,
  OPT_NAME,
  OPT_TRACKING,
  OPT_REFERENCE,
  OPT_DESCRIPTION,
  OPT_EXPIRATION_AT,
  OPT_USE_BY_AT,
  OPT_REMOVAL_AT,
  OPT_ALERT_AT,
  OPT_IDEMPOTENCY_KEY,
  OPT_EXPECTED_VERSION,
};

#define N_DATES 4
static const struct {
  int opt;
  const char *option;
  const char *key;
} dates[N_DATES] = {
    {OPT_EXPIRATION_AT, "--expiration-at", "expiration_at"},
    {OPT_USE_BY_AT, "--use-by-at", "use_by_at"},
    {OPT_REMOVAL_AT, "--removal-at", "removal_at"},
    {OPT_ALERT_AT, "--alert-at", "alert_at"},
};

/* create and update share the detail options; create adds the id and the
 * tracking (fixed at birth), update the optimistic version check. */
static const struct option create_options[] = {
    {"lot-id", required_argument, NULL, OPT_LOT_ID},
    {"tracking", required_argument, NULL, OPT_TRACKING},
    {"product", required_argument, NULL, OPT_PRODUCT},
    {"name", required_argument, NULL, OPT_NAME},
    {"reference", required_argument, NULL, OPT_REFERENCE},
    {"description", required_argument, NULL, OPT_DESCRIPTION},
    {"expiration-at", required_argument, NULL, OPT_EXPIRATION_AT},
    {"use-by-at", required_argument, NULL, OPT_USE_BY_AT},
    {"removal-at", required_argument, NULL, OPT_REMOVAL_AT},
    {"alert-at", required_argument, NULL, OPT_ALERT_AT},
    {"idempotency-key", required_argument, NULL, OPT_IDEMPOTENCY_KEY},
    {NULL, 0, NULL, 0},
};

static const struct option update_options[] = {
    {"expected-version", required_argument, NULL, OPT_EXPECTED_VERSION},
    {"product", required_argument, NULL, OPT_PRODUCT},
    {"name", required_argument, NULL, OPT_NAME},
    {"reference", required_argument, NULL, OPT_REFERENCE},
    {"description", required_argument, NULL, OPT_DESCRIPTION},
    {"expiration-at", required_argument, NULL, OPT_EXPIRATION_AT},
    {"use-by-at", required_argument, NULL, OPT_USE_BY_AT},
    {"removal-at", required_argument, NULL, OPT_REMOVAL_AT},
    {"alert-at", required_argument, NULL, OPT_ALERT_AT},
    {"idempotency-key", required_argument, NULL, OPT_IDEMPOTENCY_KEY},
    {NULL, 0, NULL, 0},
};

static const struct option no_options[] = {
    {NULL, 0, NULL, 0},
};

/* The options as given; NULL = absent. */
typedef struct lot_input {
  const char *product;
  const char *lot_id;
  const char *name;
  const char *tracking;
  const char *reference;
  const char *description;
  const char *dates[N_DATES];
  const char *idempotency_key;
  const char *expected_version;
} lot_input;

/* Collect the options. Returns CLI_EXIT_OK (with *help set for --help) or
 * CLI_EXIT_USAGE after a printed error. */
static int collect(cli_args *a, lot_input *in, bool *help) {
  for (;;) {
    int opt = cli_args_next(a);
    switch (opt) {
    case CLI_ARGS_END:
      return CLI_EXIT_OK;
    case CLI_ARGS_HELP:
      *help = true;
      return CLI_EXIT_OK;
    case CLI_ARGS_ERROR:
      return CLI_EXIT_USAGE;
    case OPT_PRODUCT:
      in->product = a->value;
      break;
    case OPT_LOT_ID:
      in->lot_id = a->value;
      break;
    case OPT_NAME:
      in->name = a->value;
      break;
    case OPT_TRACKING:
      in->tracking = a->value;
      break;
    case OPT_REFERENCE:
      in->reference = a->value;
      break;
    case OPT_DESCRIPTION:
      in->description = a->value;
      break;
    case OPT_IDEMPOTENCY_KEY:
      in->idempotency_key = a->value;
      break;
    case OPT_EXPECTED_VERSION:
      in->expected_version = a->value;
      break;
    default: {
      size_t i = 0;
      while (i < N_DATES && dates[i].opt != opt) {
        i++;
      }
      assert(i < N_DATES && "getopt returned an option without a case");
      in->dates[i] = a->value;
      break;
    }
    }
  }
}

/* Reference, description and the dates: the same for create and update.
 * clearable: an empty text is sent (update clears it) rather than left
 * out (create has nothing to clear). */
static int put_details(const cli_command *cmd, json_t *body,
                       const lot_input *in, bool clearable) {
  int rc = CLI_EXIT_OK;
  if (in->reference != NULL && (clearable || in->reference[0] != '\0')) {
    rc = cli_put_text(cmd, body, "reference", "--reference", in->reference);
  }
  if (rc == CLI_EXIT_OK && in->description != NULL &&
      (clearable || in->description[0] != '\0')) {
    rc = cli_put_text(cmd, body, "description", "--description",
                      in->description);
  }
  for (size_t i = 0; i < N_DATES && rc == CLI_EXIT_OK; i++) {
    if (in->dates[i] == NULL) {
      continue;
    }
    char text[CLI_TIME_STR_MAX];
    rc = cli_parse_time(cmd, dates[i].option, in->dates[i], text);
    if (rc == CLI_EXIT_OK) {
      rc = cli_put_text(cmd, body, dates[i].key, dates[i].option, text);
    }
  }
  return rc;
}

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

static int build_create(const cli_command *cmd, const lot_input *in,
                        json_t *body) {
  if (in->lot_id == NULL) {
    return cli_usage_error(cmd,
                           "missing --lot-id: lotline does not make up lot "
                           "ids; give the stable id your other systems use");
  }
  int rc = cli_require(cmd, "--lot-id", in->lot_id);
  if (rc == CLI_EXIT_OK) {
    rc = cli_require(cmd, "--product", in->product);
  }
  if (rc == CLI_EXIT_OK) {
    rc = cli_require(cmd, "--name", in->name);
  }
  if (rc == CLI_EXIT_OK) {
    rc = cli_check_idempotency_key(cmd, in->idempotency_key);
  }
  ll_tracking tracking = LL_TRACK_LOT;
  if (rc == CLI_EXIT_OK && in->tracking != NULL) {
    rc = cli_parse_tracking(cmd, in->tracking, &tracking);
  }
  if (rc == CLI_EXIT_OK) {
    rc = cli_put_text(cmd, body, "lot_id", "--lot-id", in->lot_id);
  }
  if (rc == CLI_EXIT_OK) {
    rc = cli_put_text(cmd, body, "product_id", "--product", in->product);
  }
  if (rc == CLI_EXIT_OK) {
    rc = cli_put_text(cmd, body, "name", "--name", in->name);
  }
  if (rc == CLI_EXIT_OK) {
    rc = cli_put_text(cmd, body, "tracking", "--tracking",
                      ll_tracking_name(tracking));
  }
  if (rc == CLI_EXIT_OK) {
    rc = put_details(cmd, body, in, false);
  }
  return rc;
}

static int run_create(cli_ctx *ctx, const cli_command *cmd, int argc,
                      char **argv) {
  cli_args a;
  cli_args_init(&a, ctx, cmd, argc, argv, create_options);
  lot_input in = {0};
  bool help = false;
  int rc = collect(&a, &in, &help);
  if (rc != CLI_EXIT_OK || help) {
    return help ? cli_print_usage(cmd) : rc;
  }
  if (a.first_arg < argc) {
    return cli_usage_error(cmd, "unexpected argument '%s'", argv[a.first_arg]);
  }
  json_t *body = json_object();
  rc = build_create(cmd, &in, body);
  if (rc == CLI_EXIT_OK) {
    cli_request req = {.method = "POST",
                       .path = "/v1/lots",
                       .body = body,
                       .idempotency_key = in.idempotency_key};
    json_t *lot = NULL;
    rc = cli_call(ctx, &req, &lot);
    if (rc == CLI_EXIT_OK) {
      rc = print_lot_answer(ctx, lot, in.lot_id, "created");
    }
    json_decref(lot);
  }
  json_decref(body);
  return rc;
}

static int build_update(const cli_command *cmd, const lot_input *in,
                        json_t *body) {
  int rc = cli_check_idempotency_key(cmd, in->idempotency_key);
  if (rc == CLI_EXIT_OK && in->name != NULL) {
    rc = cli_require(cmd, "--name", in->name);
    if (rc == CLI_EXIT_OK) {
      rc = cli_put_text(cmd, body, "name", "--name", in->name);
    }
  }
  /* Over HTTP, product_id in a PATCH body is the new product. */
  if (rc == CLI_EXIT_OK && in->product != NULL) {
    rc = cli_require(cmd, "--product", in->product);
    if (rc == CLI_EXIT_OK) {
      rc = cli_put_text(cmd, body, "product_id", "--product", in->product);
    }
  }
  if (rc == CLI_EXIT_OK) {
    rc = put_details(cmd, body, in, true);
  }
  if (rc == CLI_EXIT_OK && json_object_size(body) == 0) {
    return cli_usage_error(cmd, "nothing to update: give at least one of "
                                "--name, --product, --reference, "
                                "--description or a date");
  }
  if (rc == CLI_EXIT_OK && in->expected_version != NULL) {
    int64_t version = 0;
    rc = cli_parse_int(cmd, "--expected-version", in->expected_version, 1,
                       INT64_MAX, &version);
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
  lot_input in = {0};
  bool help = false;
  int rc = collect(&a, &in, &help);
  if (rc != CLI_EXIT_OK || help) {
    return help ? cli_print_usage(cmd) : rc;
  }
  const char *lot_id = NULL;
  rc = cli_one_lot_id(&a, &lot_id);
  if (rc != CLI_EXIT_OK) {
    return rc;
  }
  json_t *body = json_object();
  rc = build_update(cmd, &in, body);
  if (rc == CLI_EXIT_OK) {
    char *segment = cli_escape(lot_id);
    char *path = cli_sprintf("/v1/lots/%s", segment);
    cli_request req = {.method = "PATCH",
                       .path = path,
                       .body = body,
                       .idempotency_key = in.idempotency_key};
    json_t *lot = NULL;
    rc = cli_call(ctx, &req, &lot);
    if (rc == CLI_EXIT_OK) {
      rc = print_lot_answer(ctx, lot, lot_id, "updated");
    }
    json_decref(lot);
    free(path);
    free(segment);
  }
  json_decref(body);
  return rc;
}

static int run_show(cli_ctx *ctx, const cli_command *cmd, int argc,
                    char **argv) {
  cli_args a;
  cli_args_init(&a, ctx, cmd, argc, argv, no_options);
  int opt = cli_args_next(&a);
  if (opt == CLI_ARGS_HELP) {
    return cli_print_usage(cmd);
  }
  if (opt != CLI_ARGS_END) {
    return CLI_EXIT_USAGE; /* the only other outcome is a printed error */
  }
  const char *lot_id = NULL;
  int rc = cli_one_lot_id(&a, &lot_id);
  if (rc != CLI_EXIT_OK) {
    return rc;
  }
  char *segment = cli_escape(lot_id);
  char *path = cli_sprintf("/v1/lots/%s", segment);
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
  free(segment);
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
    "  --idempotency-key K    sending the same request again with the same\n"
    "                         key creates the lot only once\n"
    "  -h, --help             this text\n"
    "Global options --api, --data, --json and --timeout-ms work here too.\n"
    "\n"
    "Example:\n"
    "  lotline create --product P-100 --lot-id LOT-2027-001 --name 0001 \\\n"
    "      --reference PO-7 --expiration-at 2027-03-01\n";

static const char update_usage[] =
    "Usage: lotline update LOT_ID [OPTIONS]\n"
    "\n"
    "Change a lot's details and print it. Only the options given change;\n"
    "an empty --reference \"\" or --description \"\" clears it. The product\n"
    "can change only while the lot has no stock moves.\n"
    "\n"
    "Options:\n"
    "  --name N               the new lot or serial number\n"
    "  --product P            the new product\n"
    "  --reference R\n"
    "  --description D\n"
    "  --expiration-at T      T is a date (2027-03-01, midnight UTC) or an\n"
    "  --use-by-at T          RFC 3339 time\n"
    "  --removal-at T\n"
    "  --alert-at T\n"
    "  --expected-version V   refuse (VERSION_CONFLICT) unless the lot is\n"
    "                         still at version V\n"
    "  --idempotency-key K    the same key applies the change only once\n"
    "  -h, --help             this text\n"
    "Global options --api, --data, --json and --timeout-ms work here too.\n"
    "\n"
    "Example:\n"
    "  lotline update LOT-2027-001 --expiration-at 2027-06-30 \\\n"
    "      --expected-version 1\n";

static const char show_usage[] =
    "Usage: lotline show LOT_ID\n"
    "\n"
    "Print one lot's details: name, product, tracking, reference,\n"
    "description, dates, quantity on hand, version and times.\n"
    "\n"
    "Options:\n"
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
    .summary = "change a lot's name, product, reference, description or "
               "dates",
    .usage = update_usage,
    .run = run_update,
};

const cli_command cli_cmd_show = {
    .name = "show",
    .summary = "show one lot's details",
    .usage = show_usage,
    .run = run_show,
};
