/* cmd_hold.c — hold and release: quarantine a lot, and let it go again.
 *
 * lotline hold LOT_ID --reason R   POST /v1/lots/{lot_id}/hold
 * lotline release LOT_ID --reason R POST /v1/lots/{lot_id}/release
 * (the product-scoped routes with --product). While a lot is held, moves
 * of it from stock to a customer or into production are refused
 * (LOT_ON_HOLD, docs/rejections.md); the answer is the lot, printed as
 * its View with the hold. recall --hold (cmd_trace.c) uses cli_hold_lot. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ll_decimal.h"

enum {
  OPT_REASON = CLI_OPT_COMMAND_FIRST,
  OPT_IDEMPOTENCY_KEY,
};

static const struct option hold_options[] = {
    {"reason", required_argument, NULL, OPT_REASON},
    {"idempotency-key", required_argument, NULL, OPT_IDEMPOTENCY_KEY},
    {NULL, 0, NULL, 0},
};

int cli_hold_lot(cli_ctx *ctx, const char *product_id, const char *lot_id,
                 bool hold, const char *reason, const char *idempotency_key,
                 json_t **lot_out) {
  json_t *body = json_pack("{s:s}", "reason", reason);
  if (body == NULL) {
    return cli_fail("the reason is not valid UTF-8");
  }
  char *path = cli_lot_path(product_id, lot_id, hold ? "/hold" : "/release");
  cli_request req = {.method = "POST",
                     .path = path,
                     .body = body,
                     .idempotency_key = idempotency_key};
  int rc = cli_call(ctx, &req, lot_out);
  free(path);
  json_decref(body);
  return rc;
}

/* Is the lot's on_hand above zero? */
static bool has_stock(const json_t *lot) {
  int64_t micro = 0;
  const char *q = cli_json_str(lot, "on_hand");
  return q != NULL && ll_decimal_parse(q, &micro) == LL_DEC_OK && micro > 0;
}

/* Hold one lot of the recall when it is the recalled lot or still has
 * stock; append what was held to held. */
static int hold_recall_lot(cli_ctx *ctx, const json_t *row, const char *reason,
                           json_t *held) {
  const char *product = cli_json_str(row, "product_id");
  const char *lot_id = cli_json_str(row, "lot_id");
  char *path = cli_lot_path(product, lot_id, "");
  cli_request get = {.method = "GET", .path = path};
  json_t *lot = NULL;
  int rc = cli_call(ctx, &get, &lot);
  free(path);
  bool root = json_integer_value(json_object_get(row, "level")) == 0;
  if (rc == CLI_EXIT_OK && (root || has_stock(lot))) {
    json_t *after = NULL;
    rc = cli_hold_lot(ctx, product, lot_id, true, reason, NULL, &after);
    if (rc == CLI_EXIT_OK) {
      const json_t *hold = json_object_get(after, "hold");
      json_array_append_new(
          held, json_pack("{s:O, s:O, s:O, s:O, s:O, s:O}", "lot_id",
                          json_object_get(after, "lot_id"), "product_id",
                          json_object_get(after, "product_id"), "on_hand",
                          json_object_get(after, "on_hand"), "uom",
                          json_object_get(after, "uom"), "reason",
                          json_object_get(hold, "reason"), "since",
                          json_object_get(hold, "since")));
    }
    json_decref(after);
  }
  json_decref(lot);
  return rc;
}

int cli_recall_hold(cli_ctx *ctx, json_t *report, const char *reason) {
  json_t *held = json_array();
  size_t i;
  const json_t *row;
  int rc = CLI_EXIT_OK;
  json_array_foreach(json_object_get(report, "lots"), i, row) {
    rc = hold_recall_lot(ctx, row, reason, held);
    if (rc != CLI_EXIT_OK) {
      break;
    }
  }
  json_object_set_new(report, "held", held);
  return rc;
}

static int run_hold_or_release(cli_ctx *ctx, const cli_command *cmd, int argc,
                               char **argv, bool hold) {
  cli_args a;
  cli_args_init(&a, ctx, cmd, argc, argv, hold_options);
  const char *vals[CLI_OPT_SLOTS] = {NULL};
  int rc = CLI_EXIT_OK;
  const char *lot_id = NULL;
  if (!cli_args_parse_lot(&a, vals, &lot_id, &rc)) {
    return rc;
  }
  const char *reason = CLI_VAL(vals, OPT_REASON);
  if (reason == NULL) {
    return cli_usage_error(cmd, "missing --reason: say why, for the history");
  }
  rc = cli_require(cmd, "--reason", reason);
  if (rc == CLI_EXIT_OK) {
    rc = cli_check_idempotency_key(cmd, CLI_VAL(vals, OPT_IDEMPOTENCY_KEY));
  }
  json_t *lot = NULL;
  if (rc == CLI_EXIT_OK) {
    rc = cli_hold_lot(ctx, CLI_VAL(vals, CLI_OPT_LOT_PRODUCT), lot_id, hold,
                      reason, CLI_VAL(vals, OPT_IDEMPOTENCY_KEY), &lot);
  }
  if (rc == CLI_EXIT_OK && ctx->json) {
    rc = cli_print_json(lot);
  } else if (rc == CLI_EXIT_OK) {
    char *id = cli_one_line(lot_id, 0);
    printf("Lot %s %s.\n\n", id, hold ? "held" : "released");
    free(id);
    cli_print_lot(stdout, lot);
  }
  json_decref(lot);
  return rc;
}

static int run_hold(cli_ctx *ctx, const cli_command *cmd, int argc,
                    char **argv) {
  return run_hold_or_release(ctx, cmd, argc, argv, true);
}

static int run_release(cli_ctx *ctx, const cli_command *cmd, int argc,
                       char **argv) {
  return run_hold_or_release(ctx, cmd, argc, argv, false);
}

static const char hold_usage[] =
    "Usage: lotline hold LOT_ID --reason R [--product P]\n"
    "                    [--idempotency-key K]\n"
    "\n"
    "Put the lot on hold (quarantine). While it is held, moving it from\n"
    "stock to a CUSTOMER or PRODUCTION location is refused with\n"
    "LOT_ON_HOLD; moves inside the company (to a quarantine location), to\n"
    "SCRAP and INVENTORY stay allowed. Holding a held lot keeps the first\n"
    "hold (its reason and time); the history shows both.\n"
    "\n"
    "Options:\n"
    "  --reason R   why: a recall number, a quality finding (required)\n"
    "  --product P  the lot's product: a lot is (product, LOT_ID); needed\n"
    "               when two or more products have a lot LOT_ID\n"
    "  --idempotency-key K  the event id; a retry with the same key is\n"
    "               answered, not applied twice\n"
    "  -h, --help   this text\n"
    "Global options --api, --data, --json and --timeout-ms work here too.\n"
    "\n"
    "Example:\n"
    "  lotline hold FLOUR-0001 --reason \"RC-7: salmonella suspicion\"\n";

static const char release_usage[] =
    "Usage: lotline release LOT_ID --reason R [--product P]\n"
    "                       [--idempotency-key K]\n"
    "\n"
    "Release a held lot: its moves are allowed again. Releasing a lot that\n"
    "is not held changes nothing (the history shows the release).\n"
    "\n"
    "Options:\n"
    "  --reason R   why it may go again (required)\n"
    "  --product P  the lot's product, as for hold\n"
    "  --idempotency-key K  the event id, as for hold\n"
    "  -h, --help   this text\n"
    "Global options --api, --data, --json and --timeout-ms work here too.\n"
    "\n"
    "Example:\n"
    "  lotline release FLOUR-0001 --reason \"RC-7: lab result negative\"\n";

const cli_command cli_cmd_hold = {
    .name = "hold",
    .summary = "put a lot on hold (no delivery, no consumption)",
    .usage = hold_usage,
    .run = run_hold,
};

const cli_command cli_cmd_release = {
    .name = "release",
    .summary = "release a held lot",
    .usage = release_usage,
    .run = run_release,
};
