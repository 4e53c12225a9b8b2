/* cmd_move.c — `lotline move`: one StockMoved through POST /v1/moves.
 *
 * Locations are written LOC[:USAGE], split at the last ':' so ids may hold
 * colons when the usage is spelled out ("Dock:3:INTERNAL"); the usage is
 * case-insensitive and defaults to INTERNAL, the common case inside a
 * warehouse. The quantity is checked and sent as a canonical decimal
 * string, never through floating point. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum {
  OPT_PRODUCT = CLI_OPT_COMMAND_FIRST,
  OPT_LOT_ID,
  OPT_LOT_NAME,
  OPT_QTY,
  OPT_FROM,
  OPT_TO,
  OPT_REFERENCE,
  OPT_IDEMPOTENCY_KEY,
  OPT_PARTNER,
  OPT_PARTNER_NAME,
  OPT_UOM,
};

static const struct option move_options[] = {
    {"product", required_argument, NULL, OPT_PRODUCT},
    {"lot-id", required_argument, NULL, OPT_LOT_ID},
    {"lot-name", required_argument, NULL, OPT_LOT_NAME},
    {"qty", required_argument, NULL, OPT_QTY},
    {"from", required_argument, NULL, OPT_FROM},
    {"to", required_argument, NULL, OPT_TO},
    {"reference", required_argument, NULL, OPT_REFERENCE},
    {"idempotency-key", required_argument, NULL, OPT_IDEMPOTENCY_KEY},
    {"partner", required_argument, NULL, OPT_PARTNER},
    {"partner-name", required_argument, NULL, OPT_PARTNER_NAME},
    {"uom", required_argument, NULL, OPT_UOM},
    {NULL, 0, NULL, 0},
};

/* A parsed end of the move. */
typedef struct move_end {
  char *id;
  ll_usage usage;
} move_end;

static int put_location(const cli_command *cmd, json_t *body, const char *key,
                        const char *option, const move_end *end) {
  json_t *loc = json_object();
  int rc = cli_put_text(cmd, loc, "id", option, end->id);
  if (rc == CLI_EXIT_OK) {
    rc = cli_put_text(cmd, loc, "usage", option, ll_usage_name(end->usage));
  }
  if (rc == CLI_EXIT_OK) {
    json_object_set_new(body, key, loc);
  } else {
    json_decref(loc);
  }
  return rc;
}

/* --partner ID [--partner-name N] and --uom U, when given. */
static int put_partner_and_uom(const cli_command *cmd,
                               const char *const vals[CLI_OPT_SLOTS],
                               json_t *body) {
  const char *id = CLI_VAL(vals, OPT_PARTNER);
  const char *name = CLI_VAL(vals, OPT_PARTNER_NAME);
  const char *uom = CLI_VAL(vals, OPT_UOM);
  int rc = CLI_EXIT_OK;
  if (name != NULL && id == NULL) {
    return cli_usage_error(cmd, "--partner-name needs --partner ID");
  }
  if (id != NULL) {
    json_t *partner = json_object();
    json_object_set_new(body, "partner", partner);
    rc = cli_require(cmd, "--partner", id);
    if (rc == CLI_EXIT_OK) {
      rc = cli_put_text(cmd, partner, "id", "--partner", id);
    }
    if (rc == CLI_EXIT_OK && name != NULL) {
      rc = cli_put_text(cmd, partner, "name", "--partner-name", name);
    }
  }
  if (rc == CLI_EXIT_OK && uom != NULL) {
    rc = cli_require(cmd, "--uom", uom);
    if (rc == CLI_EXIT_OK) {
      rc = cli_put_text(cmd, body, "uom", "--uom", uom);
    }
  }
  return rc;
}

/* Check the input and fill body; the two ends are kept for the summary. */
static int build_move(const cli_command *cmd,
                      const char *const vals[CLI_OPT_SLOTS], json_t *body,
                      move_end *from, move_end *to,
                      char qty[LL_DECIMAL_STR_MAX]) {
  const char *product = CLI_VAL(vals, OPT_PRODUCT);
  const char *lot_id = CLI_VAL(vals, OPT_LOT_ID);
  const char *lot_name = CLI_VAL(vals, OPT_LOT_NAME);
  int rc = cli_require(cmd, "--product", product);
  if (rc == CLI_EXIT_OK && (lot_id == NULL) == (lot_name == NULL)) {
    rc = cli_usage_error(cmd, "give exactly one of --lot-id and --lot-name");
  }
  if (rc == CLI_EXIT_OK) {
    rc = lot_id ? cli_require(cmd, "--lot-id", lot_id)
                : cli_require(cmd, "--lot-name", lot_name);
  }
  static const struct {
    int opt;
    const char *option;
  } required[] = {{OPT_QTY, "--qty"}, {OPT_FROM, "--from"}, {OPT_TO, "--to"}};
  for (size_t i = 0; i < 3 && rc == CLI_EXIT_OK; i++) {
    rc = cli_require(cmd, required[i].option, CLI_VAL(vals, required[i].opt));
  }
  if (rc == CLI_EXIT_OK) {
    rc = cli_check_idempotency_key(cmd, CLI_VAL(vals, OPT_IDEMPOTENCY_KEY));
  }
  if (rc == CLI_EXIT_OK) {
    rc = cli_parse_quantity(cmd, "--qty", CLI_VAL(vals, OPT_QTY), qty);
  }
  if (rc == CLI_EXIT_OK) {
    rc = cli_parse_location(cmd, "--from", CLI_VAL(vals, OPT_FROM), &from->id,
                            &from->usage);
  }
  if (rc == CLI_EXIT_OK) {
    rc = cli_parse_location(cmd, "--to", CLI_VAL(vals, OPT_TO), &to->id,
                            &to->usage);
  }
  if (rc == CLI_EXIT_OK) {
    rc = cli_put_text(cmd, body, "product_id", "--product", product);
  }
  if (rc == CLI_EXIT_OK) {
    rc = lot_id ? cli_put_text(cmd, body, "lot_id", "--lot-id", lot_id)
                : cli_put_text(cmd, body, "lot_name", "--lot-name", lot_name);
  }
  if (rc == CLI_EXIT_OK) {
    rc = cli_put_text(cmd, body, "quantity", "--qty", qty);
  }
  if (rc == CLI_EXIT_OK) {
    rc = put_location(cmd, body, "from", "--from", from);
  }
  if (rc == CLI_EXIT_OK) {
    rc = put_location(cmd, body, "to", "--to", to);
  }
  const char *reference = CLI_VAL(vals, OPT_REFERENCE);
  if (rc == CLI_EXIT_OK && reference != NULL && reference[0] != '\0') {
    rc = cli_put_text(cmd, body, "reference", "--reference", reference);
  }
  if (rc == CLI_EXIT_OK) {
    rc = put_partner_and_uom(cmd, vals, body);
  }
  return rc;
}

/* The answer is {"event_id","position","lot"}: the lot names the id a
 * move by --lot-name resolved to, and its new quantity on hand. */
static void print_summary(const char *const vals[CLI_OPT_SLOTS],
                          const json_t *answer, const char *qty,
                          const move_end *from, const move_end *to) {
  const json_t *lot_json = json_object_get(answer, "lot");
  const char *lot_id = cli_json_str(lot_json, "lot_id");
  char *lot = cli_one_line(lot_id != NULL ? lot_id
                           : CLI_VAL(vals, OPT_LOT_ID) != NULL
                               ? CLI_VAL(vals, OPT_LOT_ID)
                               : CLI_VAL(vals, OPT_LOT_NAME),
                           0);
  char *src = cli_one_line(from->id, 0);
  char *dst = cli_one_line(to->id, 0);
  printf("Moved %s of lot %s from %s (%s) to %s (%s).\n", qty, lot, src,
         ll_usage_name(from->usage), dst, ll_usage_name(to->usage));
  if (json_object_get(lot_json, "on_hand") != NULL) {
    char buf[LL_DECIMAL_STR_MAX];
    const char *uom = cli_json_str(lot_json, "uom");
    printf("On hand: %s%s%s\n", cli_json_quantity(lot_json, "on_hand", buf),
           uom != NULL ? " " : "", uom != NULL ? uom : "");
  }
  free(dst);
  free(src);
  free(lot);
}

static int run_move(cli_ctx *ctx, const cli_command *cmd, int argc,
                    char **argv) {
  cli_args a;
  cli_args_init(&a, ctx, cmd, argc, argv, move_options);
  const char *vals[CLI_OPT_SLOTS] = {NULL};
  int rc = CLI_EXIT_OK;
  if (!cli_args_parse(&a, vals, &rc)) {
    return rc;
  }
  rc = cli_no_args(&a);
  if (rc != CLI_EXIT_OK) {
    return rc;
  }
  json_t *body = json_object();
  move_end from = {0}, to = {0};
  char qty[LL_DECIMAL_STR_MAX] = "";
  rc = build_move(cmd, vals, body, &from, &to, qty);
  if (rc == CLI_EXIT_OK) {
    cli_request req = {.method = "POST",
                       .path = "/v1/moves",
                       .body = body,
                       .idempotency_key = CLI_VAL(vals, OPT_IDEMPOTENCY_KEY)};
    json_t *answer = NULL;
    rc = cli_call(ctx, &req, &answer);
    if (rc == CLI_EXIT_OK) {
      if (ctx->json) {
        rc = cli_print_json(answer);
      } else {
        print_summary(vals, answer, qty, &from, &to);
      }
    }
    json_decref(answer);
  }
  free(from.id);
  free(to.id);
  json_decref(body);
  return rc;
}

static const char move_usage[] =
    "Usage: lotline move --product P (--lot-id ID | --lot-name N) --qty Q\n"
    "                    --from LOC[:USAGE] --to LOC[:USAGE] [OPTIONS]\n"
    "\n"
    "Move a quantity of one lot from one location to another.\n"
    "\n"
    "Options:\n"
    "  --product P          the lot's product (required)\n"
    "  --lot-id ID          the lot, by id, or\n"
    "  --lot-name N         the lot, by its name within the product\n"
    "  --qty Q              a decimal > 0 with at most 6 decimals, e.g. 2.5\n"
    "                       (a serial number moves with quantity 1)\n"
    "  --from LOC[:USAGE]   where the quantity leaves (required)\n"
    "  --to LOC[:USAGE]     where it arrives (required)\n"
    "  --reference R        the picking, purchase or manufacturing order;\n"
    "                       moves into and out of a PRODUCTION location with\n"
    "                       the same reference link consumed and produced "
    "lots\n"
    "  --partner ID         the supplier of a receipt, the customer of a\n"
    "                       delivery (shown by recall and partners)\n"
    "  --partner-name N     that partner's name\n"
    "  --uom U              the quantity's unit; must be the product's\n"
    "  --idempotency-key K  the same key applies the move only once\n"
    "  -h, --help           this text\n"
    "Global options --api, --data, --json and --timeout-ms work here too.\n"
    "\n"
    "USAGE is one of INTERNAL (the default), TRANSIT, SUPPLIER, CUSTOMER,\n"
    "INVENTORY, PRODUCTION, SCRAP, in any case. The location is split at\n"
    "the last ':', so write Dock:3:INTERNAL for an id that holds a ':'.\n"
    "\n"
    "Examples:\n"
    "  lotline move --product P-100 --lot-id LOT-2027-001 --qty 10 \\\n"
    "      --from Vendors:SUPPLIER --to WH/Stock --reference PO-7\n"
    "  lotline move --product P-100 --lot-name 0001 --qty 2.5 \\\n"
    "      --from WH/Stock --to Customers:customer --reference SO-42\n";

const cli_command cli_cmd_move = {
    .name = "move",
    .summary = "move a quantity of a lot between two locations",
    .usage = move_usage,
    .run = run_move,
};
