/* cmd_trace.c — the traceability commands: history (every event of a lot),
 * trace (its genealogy as a tree), recall (everything made from a lot and
 * every customer delivery of it, as a table, CSV or JSON), stock (what is
 * in a location) and expiring (on-hand lots in FEFO order).
 *
 * Lists are read to the end: the commands follow the API's cursors, a page
 * of CLI_PAGE_LIMIT at a time, and print one table (or, with --json, one
 * JSON answer with every page's rows), so a script never sees half a
 * history. A cursor that does not move on, or more than CLI_PAGES_MAX
 * pages, is reported as a failure rather than looping. recall works from
 * GET /v1/lots/{id}/trace (downstream, the deepest depth the API allows);
 * when the API says the tree was cut short, every output says so too and a
 * warning goes to stderr, because a silently partial recall list is worse
 * than none. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CLI_PAGE_LIMIT 1000 /* rows per request, the API's maximum */
#define CLI_PAGES_MAX 100000
#define CLI_TRACE_DEPTH_MAX 32 /* the API's LL_TRACE_DEPTH_MAX */

enum {
  OPT_UP = CLI_OPT_COMMAND_FIRST,
  OPT_DOWN,
  OPT_DEPTH,
  OPT_FORMAT,
  OPT_CHILDREN,
  OPT_BEFORE,
  OPT_LOCATION,
  OPT_PRODUCT,
  OPT_HOLD,
  OPT_REASON,
};

/* ---- shared pieces ---- */

/* GET path (which has no '?' yet when has_query is false) page by page:
 * *out is the first page's answer with the key array holding every page's
 * rows and next_cursor null. */
static int fetch_all(cli_ctx *ctx, const char *path, bool has_query,
                     const char *key, json_t **out) {
  *out = NULL;
  json_t *all = NULL;
  char *cursor = NULL;
  int rc = CLI_EXIT_OK;
  for (size_t page = 0; rc == CLI_EXIT_OK; page++) {
    if (page == CLI_PAGES_MAX) {
      rc = cli_fail("more than %d pages: giving up", CLI_PAGES_MAX);
      break;
    }
    char *escaped = cursor != NULL ? cli_escape(cursor) : NULL;
    char *full = cli_sprintf("%s%climit=%d%s%s", path, has_query ? '&' : '?',
                             CLI_PAGE_LIMIT, escaped != NULL ? "&cursor=" : "",
                             escaped != NULL ? escaped : "");
    free(escaped);
    cli_request req = {.method = "GET", .path = full};
    json_t *answer = NULL;
    rc = cli_call(ctx, &req, &answer);
    free(full);
    if (rc != CLI_EXIT_OK) {
      break;
    }
    const json_t *rows = cli_answer_array(answer, key);
    if (rows == NULL) {
      json_decref(answer);
      rc = CLI_EXIT_FAILURE;
      break;
    }
    if (all == NULL) {
      all = json_incref(answer);
    } else {
      json_array_extend(json_object_get(all, key), (json_t *)rows);
    }
    const char *next = cli_json_str(answer, "next_cursor");
    if (next == NULL) {
      json_decref(answer);
      break;
    }
    if (cursor != NULL && strcmp(cursor, next) == 0) {
      json_decref(answer);
      rc = cli_fail("the lotline API returned the same cursor twice");
      break;
    }
    free(cursor);
    cursor = strdup(next);
    if (cursor == NULL) {
      abort(); /* out of memory */
    }
    json_decref(answer);
  }
  free(cursor);
  if (rc != CLI_EXIT_OK) {
    json_decref(all);
    return rc;
  }
  json_object_set_new(all, "next_cursor", json_null());
  *out = all;
  return CLI_EXIT_OK;
}

/* "Vendors:SUPPLIER"; INTERNAL, the default, is left out as in `move`. */
static char *location_text(const json_t *loc) {
  const char *id = cli_json_str(loc, "id");
  const char *usage = cli_json_str(loc, "usage");
  if (usage == NULL || strcmp(usage, "INTERNAL") == 0) {
    return cli_sprintf("%s", id != NULL ? id : "-");
  }
  return cli_sprintf("%s:%s", id != NULL ? id : "-", usage);
}

/* ---- history ---- */

static const struct option history_options[] = {
    {NULL, 0, NULL, 0},
};

/* What an event sets or says beyond the table's columns, as "key=value"
 * pairs: a LotCreated's or LotUpdated's values, a hold's reason, a move's
 * partner and unit. */
static char *event_details(const json_t *ev) {
  static const char *const keys[] = {
      "name",      "new_product_id", "description", "tracking", "expiration_at",
      "use_by_at", "removal_at",     "alert_at",    "uom",      "reason"};
  char *out = cli_sprintf("%s", "");
  const json_t *partner = json_object_get(ev, "partner");
  if (json_is_object(partner)) {
    const char *name = cli_json_str(partner, "name");
    free(out);
    out = cli_sprintf("partner=%s%s%s%s", cli_json_str(partner, "id"),
                      name != NULL ? " (" : "", name != NULL ? name : "",
                      name != NULL ? ")" : "");
  }
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    const char *v = cli_json_str(ev, keys[i]);
    if (v == NULL) {
      continue;
    }
    char *next =
        cli_sprintf("%s%s%s=%s", out, out[0] != '\0' ? " " : "", keys[i], v);
    free(out);
    out = next;
  }
  return out;
}

static void print_history(const json_t *events) {
  static const char *const headers[] = {"POS",       "OCCURRED_AT", "EVENT",
                                        "QTY",       "FROM",        "TO",
                                        "REFERENCE", "DETAILS"};
  static const cli_align align[] = {
      CLI_ALIGN_RIGHT, CLI_ALIGN_LEFT, CLI_ALIGN_LEFT, CLI_ALIGN_RIGHT,
      CLI_ALIGN_LEFT,  CLI_ALIGN_LEFT, CLI_ALIGN_LEFT, CLI_ALIGN_LEFT};
  cli_table t;
  cli_table_init(&t, 8, headers, align);
  size_t i;
  const json_t *ev;
  json_array_foreach(events, i, ev) {
    char pos[32], qty[LL_DECIMAL_STR_MAX], when[CLI_TIME_STR_MAX];
    const char *type = cli_json_str(ev, "type");
    bool moved = type != NULL && strcmp(type, "StockMoved") == 0;
    char *from = moved ? location_text(json_object_get(ev, "from")) : NULL;
    char *to = moved ? location_text(json_object_get(ev, "to")) : NULL;
    char *details = event_details(ev);
    const char *what = type == NULL                       ? "-"
                       : moved                            ? "moved"
                       : strcmp(type, "LotCreated") == 0  ? "created"
                       : strcmp(type, "LotHeld") == 0     ? "held"
                       : strcmp(type, "LotReleased") == 0 ? "released"
                                                          : "updated";
    const char *cells[] = {
        cli_json_text(ev, "position", pos, sizeof pos),
        cli_json_text(ev, "occurred_at", when, sizeof when),
        what,
        moved ? cli_json_quantity(ev, "quantity", qty) : "",
        from != NULL ? from : "",
        to != NULL ? to : "",
        cli_json_str(ev, "reference"),
        details != NULL ? details : "",
    };
    cli_table_add(&t, cells);
    free(from);
    free(to);
    free(details);
  }
  cli_table_print(&t, stdout);
  cli_table_free(&t);
}

static int run_history(cli_ctx *ctx, const cli_command *cmd, int argc,
                       char **argv) {
  cli_args a;
  cli_args_init(&a, ctx, cmd, argc, argv, history_options);
  const char *vals[CLI_OPT_SLOTS] = {NULL};
  int rc = CLI_EXIT_OK;
  const char *lot_id = NULL;
  if (!cli_args_parse_lot(&a, vals, &lot_id, &rc)) {
    return rc;
  }
  char *path =
      cli_lot_path(CLI_VAL(vals, CLI_OPT_LOT_PRODUCT), lot_id, "/moves");
  json_t *answer = NULL;
  rc = fetch_all(ctx, path, false, "events", &answer);
  if (rc == CLI_EXIT_OK) {
    if (ctx->json) {
      rc = cli_print_json(answer);
    } else {
      print_history(json_object_get(answer, "events"));
    }
  }
  json_decref(answer);
  free(path);
  return rc;
}

/* ---- trace ---- */

static const struct option trace_options[] = {
    {"up", no_argument, NULL, OPT_UP},
    {"down", no_argument, NULL, OPT_DOWN},
    {"depth", required_argument, NULL, OPT_DEPTH},
    {NULL, 0, NULL, 0},
};

/* "MO-1: 30 consumed -> 50 produced; MO-4: ..." */
static char *links_text(const json_t *node) {
  char *out = cli_sprintf("%s", "");
  size_t i;
  const json_t *link;
  json_array_foreach(json_object_get(node, "links"), i, link) {
    char c[LL_DECIMAL_STR_MAX], p[LL_DECIMAL_STR_MAX];
    const char *ref = cli_json_str(link, "reference");
    char *next = cli_sprintf("%s%s%s: %s consumed -> %s produced", out,
                             i > 0 ? "; " : "", ref != NULL ? ref : "-",
                             cli_json_quantity(link, "consumed", c),
                             cli_json_quantity(link, "produced", p));
    free(out);
    out = next;
  }
  return out;
}

static void print_line(const char *prefix, const char *branch,
                       const char *text) {
  char *clean = cli_one_line(text, 0);
  printf("%s%s%s\n", prefix, branch, clean);
  free(clean);
}

/* The key group_deliveries() files a node's or a delivery's lot under
 * (product and lot id; no id holds a control character), or NULL:
 * malloc'd. */
static char *lot_key(const json_t *obj) {
  const char *lot = cli_json_str(obj, "lot_id");
  const char *product = cli_json_str(obj, "product_id");
  if (lot == NULL) {
    return NULL;
  }
  return cli_sprintf("%s\x1f%s", product != NULL ? product : "", lot);
}

/* One node and, below it, its deliveries and its children. */
static void print_tree(const json_t *node, const json_t *deliveries_by_lot,
                       const char *prefix, bool root, bool last) {
  const char *lot = cli_json_str(node, "lot_id");
  const char *product = cli_json_str(node, "product_id");
  char *links = links_text(node);
  bool repeat = json_is_true(json_object_get(node, "repeat"));
  bool truncated = json_is_true(json_object_get(node, "truncated"));
  char *text = cli_sprintf(
      "%s  (%s)%s%s%s%s", lot != NULL ? lot : "-",
      product != NULL ? product : "-", links[0] != '\0' ? "  " : "", links,
      repeat ? "  [shown above]" : "", truncated ? "  [more not shown]" : "");
  print_line(prefix, root ? "" : (last ? "└── " : "├── "), text);
  free(text);
  free(links);
  char *inner =
      cli_sprintf("%s%s", prefix, root ? "" : (last ? "    " : "│   "));
  const json_t *children = json_object_get(node, "children");
  char *key = repeat ? NULL : lot_key(node);
  const json_t *mine =
      key == NULL ? NULL : json_object_get(deliveries_by_lot, key);
  free(key);
  size_t n_children = json_array_size(children);
  size_t n_mine = json_array_size(mine);
  size_t i;
  const json_t *d;
  json_array_foreach(mine, i, d) {
    char q[LL_DECIMAL_STR_MAX];
    const char *where = cli_json_str(d, "location");
    const char *ref = cli_json_str(d, "reference");
    const char *when = cli_json_str(d, "occurred_at");
    char *line = cli_sprintf(
        "delivered %s to %s  %s  %s", cli_json_quantity(d, "quantity", q),
        where != NULL ? where : "-", ref != NULL ? ref : "-",
        when != NULL ? when : "-");
    bool is_last = i + 1 == n_mine && n_children == 0;
    print_line(inner, is_last ? "└── " : "├── ", line);
    free(line);
  }
  const json_t *c;
  json_array_foreach(children, i, c) {
    print_tree(c, deliveries_by_lot, inner, false, i + 1 == n_children);
  }
  free(inner);
}

/* {"<product_id> <lot_id>": [delivery, ...]} from the flat list: a lot is
 * (product_id, lot_id), and two products may have lots with one id. */
static json_t *group_deliveries(const json_t *deliveries) {
  json_t *by_lot = json_object();
  size_t i;
  const json_t *d;
  json_array_foreach(deliveries, i, d) {
    char *key = lot_key(d);
    if (key == NULL) {
      continue;
    }
    json_t *list = json_object_get(by_lot, key);
    if (list == NULL) {
      list = json_array();
      json_object_set_new(by_lot, key, list);
    }
    json_array_append(list, (json_t *)d);
    free(key);
  }
  return by_lot;
}

static int get_trace(cli_ctx *ctx, const char *product_id, const char *lot_id,
                     bool up, int64_t depth, json_t **answer) {
  char *query = cli_sprintf("/trace?direction=%s&depth=%lld",
                            up ? "upstream" : "downstream", (long long)depth);
  char *path = cli_lot_path(product_id, lot_id, query);
  cli_request req = {.method = "GET", .path = path};
  int rc = cli_call(ctx, &req, answer);
  free(path);
  free(query);
  if (rc == CLI_EXIT_OK && !json_is_object(json_object_get(*answer, "tree"))) {
    json_decref(*answer);
    *answer = NULL;
    return cli_fail("unexpected answer from the lotline API: no \"tree\"");
  }
  return rc;
}

static int run_trace(cli_ctx *ctx, const cli_command *cmd, int argc,
                     char **argv) {
  cli_args a;
  cli_args_init(&a, ctx, cmd, argc, argv, trace_options);
  cli_args_add(&a, cli_lot_product_options);
  const char *vals[CLI_OPT_SLOTS] = {NULL};
  int rc = CLI_EXIT_OK;
  if (!cli_args_parse(&a, vals, &rc)) {
    return rc;
  }
  if (CLI_VAL(vals, OPT_UP) != NULL && CLI_VAL(vals, OPT_DOWN) != NULL) {
    return cli_usage_error(cmd, "--up and --down exclude each other");
  }
  int64_t depth = CLI_TRACE_DEPTH_MAX;
  if (CLI_VAL(vals, OPT_DEPTH) != NULL) {
    rc = cli_parse_int(cmd, "--depth", CLI_VAL(vals, OPT_DEPTH), 1,
                       CLI_TRACE_DEPTH_MAX, &depth);
    if (rc != CLI_EXIT_OK) {
      return rc;
    }
  }
  const char *lot_id = NULL;
  rc = cli_one_lot_id(&a, &lot_id);
  if (rc != CLI_EXIT_OK) {
    return rc;
  }
  bool up = CLI_VAL(vals, OPT_UP) != NULL;
  json_t *answer = NULL;
  rc = get_trace(ctx, CLI_VAL(vals, CLI_OPT_LOT_PRODUCT), lot_id, up, depth,
                 &answer);
  if (rc != CLI_EXIT_OK) {
    return rc;
  }
  if (ctx->json) {
    rc = cli_print_json(answer);
  } else {
    json_t *by_lot = group_deliveries(json_object_get(answer, "deliveries"));
    print_tree(json_object_get(answer, "tree"), by_lot, "", true, true);
    json_decref(by_lot);
    char n[32];
    printf("\n%s lots %s, %zu customer deliveries\n",
           cli_json_text(answer, "lot_count", n, sizeof n),
           up ? "upstream (the lot included)" : "downstream (the lot included)",
           json_array_size(json_object_get(answer, "deliveries")));
    if (json_is_true(json_object_get(answer, "truncated"))) {
      printf("The tree was cut short (depth %lld or size limit): more lots "
             "lie beyond the ones marked [more not shown].\n",
             (long long)depth);
    }
  }
  json_decref(answer);
  return rc;
}

/* ---- recall ---- */

static const struct option recall_options[] = {
    {"format", required_argument, NULL, OPT_FORMAT},
    {"hold", no_argument, NULL, OPT_HOLD},
    {"reason", required_argument, NULL, OPT_REASON},
    {NULL, 0, NULL, 0},
};

typedef enum recall_format {
  RECALL_TABLE,
  RECALL_CSV,
  RECALL_JSON,
} recall_format;

/* The trace flattened for a recall: lots in level order, deliveries. */
static json_t *recall_report(const json_t *answer) {
  json_t *lots = json_array();
  /* Breadth-first over the tree: (node, parent lot, level) triples. */
  json_t *queue = json_array();
  json_t *first = json_array();
  json_array_append(first, json_object_get(answer, "tree"));
  json_array_append_new(first, json_null());
  json_array_append_new(first, json_integer(0));
  json_array_append_new(queue, first);
  for (size_t q = 0; q < json_array_size(queue); q++) {
    const json_t *item = json_array_get(queue, q);
    const json_t *node = json_array_get(item, 0);
    const json_t *parent = json_array_get(item, 1);
    json_int_t level = json_integer_value(json_array_get(item, 2));
    if (json_is_true(json_object_get(node, "repeat"))) {
      continue;
    }
    json_t *refs = json_array();
    int64_t produced = 0;
    bool exact = true;
    size_t i;
    const json_t *link;
    json_array_foreach(json_object_get(node, "links"), i, link) {
      json_array_append(refs, json_object_get(link, "reference"));
      int64_t p = 0;
      const char *ps = cli_json_str(link, "produced");
      exact = exact && ps != NULL && ll_decimal_parse(ps, &p) == LL_DEC_OK &&
              ll_decimal_add(produced, p, &produced);
    }
    char buf[LL_DECIMAL_STR_MAX];
    json_t *row = json_object();
    json_object_set_new(row, "level", json_integer(level));
    json_object_set(row, "lot_id", json_object_get(node, "lot_id"));
    json_object_set(row, "product_id", json_object_get(node, "product_id"));
    json_object_set(row, "name", json_object_get(node, "name"));
    json_object_set(row, "made_from", (json_t *)parent);
    json_object_set_new(row, "references", refs);
    json_object_set_new(row, "produced",
                        level > 0 && exact
                            ? json_string(ll_decimal_format(produced, buf))
                            : json_null());
    json_array_append_new(lots, row);
    const json_t *c;
    json_array_foreach(json_object_get(node, "children"), i, c) {
      json_t *next = json_array();
      json_array_append(next, (json_t *)c);
      json_array_append(next, json_object_get(node, "lot_id"));
      json_array_append_new(next, json_integer(level + 1));
      json_array_append_new(queue, next);
    }
  }
  json_decref(queue);
  json_t *report = json_object();
  json_object_set(report, "lot_id", json_object_get(answer, "lot_id"));
  json_object_set(
      report, "product_id",
      json_object_get(json_object_get(answer, "tree"), "product_id"));
  json_object_set(report, "truncated", json_object_get(answer, "truncated"));
  json_object_set_new(report, "lots", lots);
  json_t *deliveries = json_array();
  size_t i;
  const json_t *d;
  json_array_foreach(json_object_get(answer, "deliveries"), i, d) {
    json_t *row = json_object();
    static const char *const keys[] = {"location", "lot_id",    "product_id",
                                       "quantity", "reference", "occurred_at",
                                       "position"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
      json_object_set(row, keys[k], json_object_get(d, keys[k]));
    }
    const json_t *partner = json_object_get(d, "partner");
    json_object_set(row, "partner_id", json_object_get(partner, "id"));
    json_object_set(row, "partner_name", json_object_get(partner, "name"));
    json_array_append_new(deliveries, row);
  }
  json_object_set_new(report, "deliveries", deliveries);
  return report;
}

/* References of a recall lot row, "MO-1,MO-4". */
static char *refs_text(const json_t *row) {
  char *out = cli_sprintf("%s", "");
  size_t i;
  const json_t *r;
  json_array_foreach(json_object_get(row, "references"), i, r) {
    char *next = cli_sprintf("%s%s%s", out, i > 0 ? "," : "",
                             json_is_string(r) ? json_string_value(r) : "-");
    free(out);
    out = next;
  }
  return out;
}

static void print_recall_deliveries(const json_t *deliveries);
static void print_recall_held(const json_t *report);

static void print_recall_table(const json_t *report) {
  const json_t *lots = json_object_get(report, "lots");
  const json_t *deliveries = json_object_get(report, "deliveries");
  char *lot = cli_one_line(cli_json_str(report, "lot_id"), 0);
  const char *product = cli_json_str(report, "product_id");
  printf("Recall of lot %s (product %s): %zu lots made from it, %zu "
         "deliveries to customers.\n\n",
         lot, product != NULL ? product : "-",
         json_array_size(lots) > 0 ? json_array_size(lots) - 1 : 0,
         json_array_size(deliveries));
  free(lot);

  static const char *const lot_headers[] = {
      "LEVEL", "LOT", "PRODUCT", "NAME", "MADE FROM", "REFERENCE", "PRODUCED"};
  static const cli_align lot_align[] = {
      CLI_ALIGN_RIGHT, CLI_ALIGN_LEFT, CLI_ALIGN_LEFT, CLI_ALIGN_LEFT,
      CLI_ALIGN_LEFT,  CLI_ALIGN_LEFT, CLI_ALIGN_RIGHT};
  cli_table t;
  cli_table_init(&t, 7, lot_headers, lot_align);
  size_t i;
  const json_t *row;
  json_array_foreach(lots, i, row) {
    char level[32], q[LL_DECIMAL_STR_MAX];
    char *refs = refs_text(row);
    const char *cells[] = {
        cli_json_text(row, "level", level, sizeof level),
        cli_json_str(row, "lot_id"),
        cli_json_str(row, "product_id"),
        cli_json_str(row, "name"),
        cli_json_str(row, "made_from"),
        refs[0] != '\0' ? refs : NULL,
        json_is_string(json_object_get(row, "produced"))
            ? cli_json_quantity(row, "produced", q)
            : NULL,
    };
    cli_table_add(&t, cells);
    free(refs);
  }
  printf("Lots (level 0 is the lot recalled):\n");
  cli_table_print(&t, stdout);
  cli_table_free(&t);

  print_recall_deliveries(deliveries);
  print_recall_held(report);
  if (json_is_true(json_object_get(report, "truncated"))) {
    printf("\nINCOMPLETE: the genealogy was cut short by a size or depth "
           "limit; more lots and deliveries exist.\n");
  }
}

static void print_recall_deliveries(const json_t *deliveries) {
  static const char *const d_headers[] = {
      "CUSTOMER", "PARTNER",  "PARTNER NAME", "LOT",
      "PRODUCT",  "QUANTITY", "REFERENCE",    "DELIVERED"};
  static const cli_align d_align[] = {
      CLI_ALIGN_LEFT, CLI_ALIGN_LEFT,  CLI_ALIGN_LEFT, CLI_ALIGN_LEFT,
      CLI_ALIGN_LEFT, CLI_ALIGN_RIGHT, CLI_ALIGN_LEFT, CLI_ALIGN_LEFT};
  cli_table t;
  cli_table_init(&t, 8, d_headers, d_align);
  size_t i;
  const json_t *row;
  json_array_foreach(deliveries, i, row) {
    char q[LL_DECIMAL_STR_MAX];
    const char *cells[] = {
        cli_json_str(row, "location"),
        cli_json_str(row, "partner_id"),
        cli_json_str(row, "partner_name"),
        cli_json_str(row, "lot_id"),
        cli_json_str(row, "product_id"),
        cli_json_quantity(row, "quantity", q),
        cli_json_str(row, "reference"),
        cli_json_str(row, "occurred_at"),
    };
    cli_table_add(&t, cells);
  }
  printf("\nDeliveries to customers (already left):\n");
  if (json_array_size(deliveries) == 0) {
    printf("(none)\n");
  } else {
    cli_table_print(&t, stdout);
  }
  cli_table_free(&t);
}

/* recall --hold: what it held (the report has "held" only then). */
static void print_recall_held(const json_t *report) {
  const json_t *held = json_object_get(report, "held");
  if (!json_is_array(held)) {
    return;
  }
  static const char *const headers[] = {"LOT",  "PRODUCT",    "ON HAND",
                                        "UNIT", "HELD SINCE", "REASON"};
  static const cli_align align[] = {CLI_ALIGN_LEFT,  CLI_ALIGN_LEFT,
                                    CLI_ALIGN_RIGHT, CLI_ALIGN_LEFT,
                                    CLI_ALIGN_LEFT,  CLI_ALIGN_LEFT};
  cli_table t;
  cli_table_init(&t, 6, headers, align);
  size_t i;
  const json_t *row;
  json_array_foreach(held, i, row) {
    char q[LL_DECIMAL_STR_MAX];
    const char *cells[] = {
        cli_json_str(row, "lot_id"),          cli_json_str(row, "product_id"),
        cli_json_quantity(row, "on_hand", q), cli_json_str(row, "uom"),
        cli_json_str(row, "since"),           cli_json_str(row, "reason")};
    cli_table_add(&t, cells);
  }
  printf("\nHeld (the recalled lot and every lot with stock on hand):\n");
  if (json_array_size(held) == 0) {
    printf("(none)\n");
  } else {
    cli_table_print(&t, stdout);
  }
  cli_table_free(&t);
}

/* One CSV field, quoted when it needs to be (RFC 4180). */
static void csv_field(const char *s, bool last) {
  if (s == NULL) {
    s = "";
  }
  if (strpbrk(s, ",\"\r\n") != NULL) {
    putchar('"');
    for (; *s != '\0'; s++) {
      if (*s == '"') {
        putchar('"');
      }
      putchar(*s);
    }
    putchar('"');
  } else {
    fputs(s, stdout);
  }
  fputs(last ? "\r\n" : ",", stdout);
}

/* recall --hold: one row per lot held (record=held; quantity = on hand,
 * time = held since, reference = the reason). */
static void print_recall_held_csv(const json_t *report) {
  size_t i;
  const json_t *row;
  json_array_foreach(json_object_get(report, "held"), i, row) {
    const char *cells[] = {"held",
                           NULL,
                           cli_json_str(row, "lot_id"),
                           cli_json_str(row, "product_id"),
                           NULL,
                           cli_json_str(row, "reason"),
                           cli_json_str(row, "on_hand"),
                           NULL,
                           NULL,
                           NULL,
                           cli_json_str(row, "since"),
                           NULL};
    enum { N = sizeof cells / sizeof cells[0] };
    for (size_t k = 0; k < N; k++) {
      csv_field(cells[k], k + 1 == N);
    }
  }
}

static void print_recall_csv(const json_t *report) {
  static const char *const header[] = {
      "record",     "level",        "lot_id",   "product_id",
      "made_from",  "reference",    "quantity", "customer",
      "partner_id", "partner_name", "time",     "position"};
  enum { N = sizeof header / sizeof header[0] };
  for (size_t k = 0; k < N; k++) {
    csv_field(header[k], k + 1 == N);
  }
  size_t i;
  const json_t *row;
  json_array_foreach(json_object_get(report, "lots"), i, row) {
    char level[32];
    char *refs = refs_text(row);
    const char *cells[N] = {
        "lot",
        cli_json_text(row, "level", level, sizeof level),
        cli_json_str(row, "lot_id"),
        cli_json_str(row, "product_id"),
        cli_json_str(row, "made_from"),
        refs,
        cli_json_str(row, "produced"),
        NULL,
        NULL,
        NULL,
        NULL,
        NULL,
    };
    for (size_t k = 0; k < N; k++) {
      csv_field(cells[k], k + 1 == N);
    }
    free(refs);
  }
  json_array_foreach(json_object_get(report, "deliveries"), i, row) {
    char pos[32];
    const char *cells[N] = {
        "delivery",
        NULL,
        cli_json_str(row, "lot_id"),
        cli_json_str(row, "product_id"),
        NULL,
        cli_json_str(row, "reference"),
        cli_json_str(row, "quantity"),
        cli_json_str(row, "location"),
        cli_json_str(row, "partner_id"),
        cli_json_str(row, "partner_name"),
        cli_json_str(row, "occurred_at"),
        cli_json_text(row, "position", pos, sizeof pos),
    };
    for (size_t k = 0; k < N; k++) {
      csv_field(cells[k], k + 1 == N);
    }
  }
  print_recall_held_csv(report);
}

static int run_recall(cli_ctx *ctx, const cli_command *cmd, int argc,
                      char **argv) {
  cli_args a;
  cli_args_init(&a, ctx, cmd, argc, argv, recall_options);
  cli_args_add(&a, cli_lot_product_options);
  const char *vals[CLI_OPT_SLOTS] = {NULL};
  int rc = CLI_EXIT_OK;
  if (!cli_args_parse(&a, vals, &rc)) {
    return rc;
  }
  recall_format format = ctx->json ? RECALL_JSON : RECALL_TABLE;
  const char *f = CLI_VAL(vals, OPT_FORMAT);
  if (f != NULL) {
    if (strcmp(f, "table") == 0) {
      format = RECALL_TABLE;
    } else if (strcmp(f, "csv") == 0) {
      format = RECALL_CSV;
    } else if (strcmp(f, "json") == 0) {
      format = RECALL_JSON;
    } else {
      return cli_usage_error(cmd, "--format must be table, csv or json");
    }
  }
  bool hold = CLI_VAL(vals, OPT_HOLD) != NULL;
  if (hold && CLI_VAL(vals, OPT_REASON) == NULL) {
    return cli_usage_error(cmd, "--hold needs --reason: the hold's reason");
  }
  if (!hold && CLI_VAL(vals, OPT_REASON) != NULL) {
    return cli_usage_error(cmd, "--reason goes with --hold");
  }
  if (hold && (rc = cli_require(cmd, "--reason", CLI_VAL(vals, OPT_REASON))) !=
                  CLI_EXIT_OK) {
    return rc;
  }
  const char *lot_id = NULL;
  rc = cli_one_lot_id(&a, &lot_id);
  if (rc != CLI_EXIT_OK) {
    return rc;
  }
  json_t *answer = NULL;
  rc = get_trace(ctx, CLI_VAL(vals, CLI_OPT_LOT_PRODUCT), lot_id, false,
                 CLI_TRACE_DEPTH_MAX, &answer);
  if (rc != CLI_EXIT_OK) {
    return rc;
  }
  json_t *report = recall_report(answer);
  if (hold) {
    rc = cli_recall_hold(ctx, report, CLI_VAL(vals, OPT_REASON));
  }
  switch (format) {
  case RECALL_JSON:
    rc = cli_print_json(report);
    break;
  case RECALL_CSV:
    print_recall_csv(report);
    break;
  case RECALL_TABLE:
    print_recall_table(report);
    break;
  }
  if (json_is_true(json_object_get(report, "truncated"))) {
    fprintf(stderr, "lotline recall: warning: the list is incomplete (the "
                    "genealogy hit a depth or size limit)\n");
  }
  json_decref(report);
  json_decref(answer);
  return rc;
}

/* ---- stock ---- */

static const struct option stock_options[] = {
    {"children", no_argument, NULL, OPT_CHILDREN},
    {NULL, 0, NULL, 0},
};

/* Add row[key] to the product's total in totals {product: micro}. */
static void add_total(json_t *totals, const json_t *row, const char *key) {
  const char *product = cli_json_str(row, "product_id");
  const char *q = cli_json_str(row, key);
  int64_t micro = 0, sum = 0;
  if (product == NULL || q == NULL ||
      ll_decimal_parse(q, &micro) != LL_DEC_OK) {
    return;
  }
  json_t *cur = json_object_get(totals, product);
  if (cur != NULL) {
    sum = json_integer_value(cur);
  }
  if (ll_decimal_add(sum, micro, &sum)) {
    json_object_set_new(totals, product, json_integer(sum));
  }
}

static void print_stock(const json_t *lots, bool children) {
  static const char *const headers[] = {"LOT_ID", "PRODUCT", "NAME", "USAGE",
                                        "QUANTITY"};
  static const char *const headers_children[] = {"LOT_ID", "PRODUCT", "NAME",
                                                 "QUANTITY", "ON_HAND"};
  static const cli_align align[] = {CLI_ALIGN_LEFT, CLI_ALIGN_LEFT,
                                    CLI_ALIGN_LEFT, CLI_ALIGN_LEFT,
                                    CLI_ALIGN_RIGHT};
  static const cli_align align_children[] = {CLI_ALIGN_LEFT, CLI_ALIGN_LEFT,
                                             CLI_ALIGN_LEFT, CLI_ALIGN_RIGHT,
                                             CLI_ALIGN_RIGHT};
  cli_table t;
  cli_table_init(&t, 5, children ? headers_children : headers,
                 children ? align_children : align);
  json_t *totals = json_object();
  size_t i;
  const json_t *row;
  json_array_foreach(lots, i, row) {
    char q[LL_DECIMAL_STR_MAX], h[LL_DECIMAL_STR_MAX];
    const char *cells[] = {
        cli_json_str(row, "lot_id"),
        cli_json_str(row, "product_id"),
        cli_json_str(row, "name"),
        children ? cli_json_quantity(row, "quantity", q)
                 : cli_json_str(row, "usage"),
        children ? cli_json_quantity(row, "on_hand", h)
                 : cli_json_quantity(row, "quantity", q),
    };
    cli_table_add(&t, cells);
    add_total(totals, row, "quantity");
  }
  cli_table_print(&t, stdout);
  cli_table_free(&t);
  size_t n_lots = json_array_size(lots);
  printf("\n%zu lot%s", n_lots, n_lots == 1 ? "" : "s");
  const char *product;
  json_t *sum;
  bool first = true;
  json_object_foreach(totals, product, sum) {
    char buf[LL_DECIMAL_STR_MAX];
    char *p = cli_one_line(product, 0);
    printf("%s %s %s", first ? "; total" : ",", p,
           ll_decimal_format(json_integer_value(sum), buf));
    free(p);
    first = false;
  }
  printf("\n");
  json_decref(totals);
}

static int run_stock(cli_ctx *ctx, const cli_command *cmd, int argc,
                     char **argv) {
  cli_args a;
  cli_args_init(&a, ctx, cmd, argc, argv, stock_options);
  const char *vals[CLI_OPT_SLOTS] = {NULL};
  int rc = CLI_EXIT_OK;
  if (!cli_args_parse(&a, vals, &rc)) {
    return rc;
  }
  const char *location = NULL;
  rc = cli_one_arg(&a, "LOCATION", &location);
  if (rc != CLI_EXIT_OK) {
    return rc;
  }
  if (location[0] == '\0') {
    return cli_usage_error(cmd, "LOCATION must not be empty");
  }
  bool children = CLI_VAL(vals, OPT_CHILDREN) != NULL;
  char *segment = cli_escape(location);
  char *path = cli_sprintf("/v1/locations/%s/lots%s", segment,
                           children ? "?children=1" : "");
  json_t *answer = NULL;
  rc = fetch_all(ctx, path, children, "lots", &answer);
  if (rc == CLI_EXIT_OK) {
    if (ctx->json) {
      rc = cli_print_json(answer);
    } else {
      print_stock(json_object_get(answer, "lots"), children);
    }
  }
  json_decref(answer);
  free(path);
  free(segment);
  return rc;
}

/* ---- expiring ---- */

static const struct option expiring_options[] = {
    {"before", required_argument, NULL, OPT_BEFORE},
    {"location", required_argument, NULL, OPT_LOCATION},
    {"children", no_argument, NULL, OPT_CHILDREN},
    {"product", required_argument, NULL, OPT_PRODUCT},
    {NULL, 0, NULL, 0},
};

static void print_expiring(const json_t *lots, bool at_location) {
  static const char *const headers[] = {"LOT_ID",     "PRODUCT", "NAME",
                                        "REMOVAL",    "EXPIRES", "ON_HAND",
                                        "AT_LOCATION"};
  static const cli_align align[] = {
      CLI_ALIGN_LEFT, CLI_ALIGN_LEFT,  CLI_ALIGN_LEFT, CLI_ALIGN_LEFT,
      CLI_ALIGN_LEFT, CLI_ALIGN_RIGHT, CLI_ALIGN_RIGHT};
  cli_table t;
  cli_table_init(&t, at_location ? 7 : 6, headers, align);
  size_t i;
  const json_t *row;
  json_array_foreach(lots, i, row) {
    char h[LL_DECIMAL_STR_MAX], l[LL_DECIMAL_STR_MAX];
    const char *cells[] = {
        cli_json_str(row, "lot_id"),
        cli_json_str(row, "product_id"),
        cli_json_str(row, "name"),
        cli_json_str(row, "removal_at"),
        cli_json_str(row, "expiration_at"),
        cli_json_quantity(row, "on_hand", h),
        at_location ? cli_json_quantity(row, "location_on_hand", l) : NULL,
    };
    cli_table_add(&t, cells);
  }
  cli_table_print(&t, stdout);
  cli_table_free(&t);
}

static int run_expiring(cli_ctx *ctx, const cli_command *cmd, int argc,
                        char **argv) {
  cli_args a;
  cli_args_init(&a, ctx, cmd, argc, argv, expiring_options);
  const char *vals[CLI_OPT_SLOTS] = {NULL};
  int rc = CLI_EXIT_OK;
  if (!cli_args_parse(&a, vals, &rc)) {
    return rc;
  }
  rc = cli_no_args(&a);
  if (rc != CLI_EXIT_OK) {
    return rc;
  }
  const char *location = CLI_VAL(vals, OPT_LOCATION);
  const char *before = CLI_VAL(vals, OPT_BEFORE);
  const char *product = CLI_VAL(vals, OPT_PRODUCT);
  if (before == NULL && location == NULL) {
    return cli_usage_error(cmd, "give --before, --location or both");
  }
  if (CLI_VAL(vals, OPT_CHILDREN) != NULL && location == NULL) {
    return cli_usage_error(cmd, "--children needs --location");
  }
  char when[CLI_TIME_STR_MAX] = "";
  if (before != NULL) {
    rc = cli_parse_time(cmd, "--before", before, when);
    if (rc != CLI_EXIT_OK) {
      return rc;
    }
  }
  char *w = cli_escape(when);
  char *l = location != NULL ? cli_escape(location) : NULL;
  char *p = product != NULL ? cli_escape(product) : NULL;
  char *path = cli_sprintf(
      "/v1/lots?expiring_before=%s&location=%s&children=%s&product_id=%s", w,
      l != NULL ? l : "", CLI_VAL(vals, OPT_CHILDREN) != NULL ? "1" : "0",
      p != NULL ? p : "");
  json_t *answer = NULL;
  rc = fetch_all(ctx, path, true, "lots", &answer);
  if (rc == CLI_EXIT_OK) {
    if (ctx->json) {
      rc = cli_print_json(answer);
    } else {
      print_expiring(json_object_get(answer, "lots"), location != NULL);
    }
  }
  json_decref(answer);
  free(path);
  free(w);
  free(l);
  free(p);
  return rc;
}

/* ---- the commands ---- */

static const char history_usage[] =
    "Usage: lotline history LOT_ID [--product P]\n"
    "\n"
    "Print every accepted event of a lot, oldest first: a table POS\n"
    "(log position) OCCURRED_AT EVENT (created, updated, moved) QTY FROM TO\n"
    "REFERENCE DETAILS. Locations read LOC or LOC:USAGE (INTERNAL is not\n"
    "written); DETAILS lists what a creation or update set. With --json,\n"
    "the API's events (with recorded_at and event_id), every page.\n"
    "\n"
    "Options:\n"
    "  --product P  the lot's product: a lot is (product, LOT_ID); needed\n"
    "               when two or more products have a lot LOT_ID (else\n"
    "               AMBIGUOUS_LOT, which lists them)\n"
    "  -h, --help   this text\n"
    "Global options --api, --data, --json and --timeout-ms work here too.\n"
    "\n"
    "Example:\n"
    "  lotline history LOT-2027-001\n";

static const char trace_usage[] =
    "Usage: lotline trace LOT_ID [--product P] [--down | --up] [--depth N]\n"
    "\n"
    "Print the lot's genealogy as a tree. Moves into and out of a\n"
    "PRODUCTION location with the same reference (the manufacturing order)\n"
    "link the lots consumed to the lots produced; each branch shows the\n"
    "reference and the quantities consumed and produced under it.\n"
    "Downstream (the default) is what was made from the lot, with every\n"
    "delivery to a CUSTOMER location; upstream is what it was made from.\n"
    "A lot met a second time is marked [shown above] (cycles are safe); a\n"
    "lot with more beyond the depth limit is marked [more not shown].\n"
    "\n"
    "Options:\n"
    "  --product P  the lot's product: a lot is (product, LOT_ID); needed\n"
    "               when two or more products have a lot LOT_ID (else\n"
    "               AMBIGUOUS_LOT, which lists them)\n"
    "  --down       what was made from the lot (default)\n"
    "  --up         what the lot was made from\n"
    "  --depth N    levels below the lot, 1 to 32 (default 32)\n"
    "  -h, --help   this text\n"
    "Global options --api, --data, --json and --timeout-ms work here too.\n"
    "\n"
    "Examples:\n"
    "  lotline trace FLOUR-0001\n"
    "  lotline trace BREAD-0042 --up\n";

static const char recall_usage[] =
    "Usage: lotline recall LOT_ID [--product P] [--format table|csv|json]\n"
    "                      [--hold --reason R]\n"
    "\n"
    "List everything a recall of the lot concerns: every lot made from it,\n"
    "transitively through production (level 1 was made from it, level 2\n"
    "from those, ...), and every delivery of any of them (the lot itself\n"
    "included) to a CUSTOMER location: customer location, partner id and\n"
    "name (the customer the move named), lot, product, quantity, reference\n"
    "and time.\n"
    "\n"
    "With --hold it also acts: it holds the lot and every lot of the list\n"
    "that still has stock on hand (lotline hold), and lists them under\n"
    "\"Held\" (JSON \"held\", CSV record=held); the deliveries are what had\n"
    "already left.\n"
    "\n"
    "The CSV has one row per lot (record=lot), per delivery\n"
    "(record=delivery) and per lot held (record=held). If the genealogy is\n"
    "too large for one answer the output says INCOMPLETE (truncated=true)\n"
    "and a warning goes to stderr.\n"
    "\n"
    "Options:\n"
    "  --product P  the lot's product: a lot is (product, LOT_ID); needed\n"
    "               when two or more products have a lot LOT_ID (else\n"
    "               AMBIGUOUS_LOT, which lists them)\n"
    "  --format F   table (default), csv or json (--json means json)\n"
    "  --hold       hold the lot and every lot with stock on hand\n"
    "  --reason R   the hold's reason (required with --hold)\n"
    "  -h, --help   this text\n"
    "Global options --api, --data, --json and --timeout-ms work here too.\n"
    "\n"
    "Examples:\n"
    "  lotline recall FLOUR-0001\n"
    "  lotline recall FLOUR-0001 --hold --reason RC-7\n"
    "  lotline recall FLOUR-0001 --format csv > recall.csv\n";

static const char stock_usage[] =
    "Usage: lotline stock LOCATION [--children]\n"
    "\n"
    "Print what is in a location: a table LOT_ID PRODUCT NAME USAGE\n"
    "QUANTITY of the lots with a non-zero quantity there, then the number\n"
    "of lots and the total per product. Location ids are paths: with\n"
    "--children the location and every location below it count\n"
    "(WH/Stock covers WH/Stock/Shelf-2, not WH/Stock2), and the table shows\n"
    "QUANTITY and ON_HAND (internal and transit locations only).\n"
    "\n"
    "Options:\n"
    "  --children   include the locations below LOCATION\n"
    "  -h, --help   this text\n"
    "Global options --api, --data, --json and --timeout-ms work here too.\n"
    "\n"
    "Examples:\n"
    "  lotline stock WH/Stock/Shelf-2\n"
    "  lotline stock WH --children\n";

static const char expiring_usage[] =
    "Usage: lotline expiring [--before TIME] [--location LOC [--children]]\n"
    "                        [--product P]\n"
    "\n"
    "List lots on hand in FEFO order (first expired, first out): by removal\n"
    "date (the expiration date when a lot has none), then expiration date;\n"
    "lots without dates come last. A table LOT_ID PRODUCT NAME REMOVAL\n"
    "EXPIRES ON_HAND, and AT_LOCATION with --location.\n"
    "\n"
    "Options:\n"
    "  --before TIME   only lots due for removal before TIME (2027-03-01 or\n"
    "                  2027-03-01T00:00:00Z)\n"
    "  --location LOC  only lots on hand at LOC\n"
    "  --children      ... or at a location below LOC\n"
    "  --product P     only lots of product P\n"
    "  -h, --help      this text\n"
    "Global options --api, --data, --json and --timeout-ms work here too.\n"
    "\n"
    "Examples:\n"
    "  lotline expiring --before 2027-03-01\n"
    "  lotline expiring --location WH/Stock --children\n";

const cli_command cli_cmd_history = {
    .name = "history",
    .summary = "list every event of a lot, oldest first",
    .usage = history_usage,
    .run = run_history,
};

const cli_command cli_cmd_trace = {
    .name = "trace",
    .summary = "show a lot's genealogy as a tree (--up, --down)",
    .usage = trace_usage,
    .run = run_trace,
};

const cli_command cli_cmd_recall = {
    .name = "recall",
    .summary = "list every lot made from a lot and every delivery of them",
    .usage = recall_usage,
    .run = run_recall,
};

const cli_command cli_cmd_stock = {
    .name = "stock",
    .summary = "show what is in a location (--children: and below it)",
    .usage = stock_usage,
    .run = run_stock,
};

const cli_command cli_cmd_expiring = {
    .name = "expiring",
    .summary = "list on-hand lots in FEFO order",
    .usage = expiring_usage,
    .run = run_expiring,
};
