/* test_rules.c — the inventory rules, one table per rejection code.
 *
 * Each table is the story of a few lots told as events, with the outcome
 * expected for each: the boundary just inside a rule is accepted and the
 * one just outside it rejected. run_steps() also checks that a rejection
 * changes nothing but event id records. The acceptance tests at the end
 * check the state an accepted event leaves behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ll_decimal.h"
#include "ll_event.h"
#include "ll_text.h"
#include "rules/mem_state.h"
#include "rules/rules_steps.h"

#define DUPLICATE_LOT_SENTENCE                                                 \
  "The combination of lot/serial number and product must be unique."
#define PRODUCT_LOCKED_SENTENCE "The product of a lot cannot be changed."
#define SERIAL_ASSIGNED_SENTENCE "The serial number has already been assigned."

#define RECEIVE(p, l, q, to) MOVE(p, l, q, "Vendors", SUPPLIER, to, INTERNAL)
#define SERIAL .tracking = LL_TRACK_SERIAL

/* Texts at and just past the limits, filled by setup_texts(). */
static char NAME255[256], NAME256[257];
static char NAME255_PADDED[260];    /* 255 after trimming 2+2 spaces */
static char ACCENT255[2 * 255 + 1]; /* 255 two-byte characters */
static char ACCENT256[2 * 256 + 1];
static char BOX255[4 * 255 + 1]; /* 255 four-byte characters */
static char ID255[256], ID256[257];
static char DESC_MAX[65536 + 1]; /* exactly 64 KiB */
static char DESC_OVER[65537 + 1];

static void fill(char *dst, const char *unit, size_t count) {
  size_t n = strlen(unit);
  for (size_t i = 0; i < count; i++)
    memcpy(dst + i * n, unit, n);
  dst[count * n] = '\0';
}

static int setup_texts(void **state) {
  (void)state;
  fill(NAME255, "a", 255);
  fill(NAME256, "a", 256);
  strcpy(NAME255_PADDED, "  ");
  fill(NAME255_PADDED + 2, "b", 255);
  strcat(NAME255_PADDED, "  ");
  fill(ACCENT255, "\xc3\xa9", 255);
  fill(ACCENT256, "\xc3\xa9", 256);
  fill(BOX255, "\xf0\x9f\x93\xa6", 255);
  fill(ID255, "i", 255);
  fill(ID256, "i", 256);
  fill(DESC_MAX, "d", 65536);
  fill(DESC_OVER, "d", 65537);
  return 0;
}

static void run_table(const char *name, const step *steps, size_t n,
                      bool allow_expired) {
  rules_env env;
  env_init(&env);
  env.opts.allow_expired_delivery = allow_expired;
  run_steps(&env, name, steps, n);
  env_free(&env);
}
#define TABLE(steps)                                                           \
  run_table(#steps, (steps), sizeof(steps) / sizeof((steps)[0]), false)

/* ---- one table per rejection code ---- */

static void test_missing_field(void **state) {
  (void)state;
  static const step missing[] = {
      {CREATE("P", "L1", "A"), .id = "", .expect = LL_MISSING_FIELD,
       .msg = "event_id"},
      {CREATE("P", "L1", "A"), .id = "  ", .expect = LL_MISSING_FIELD},
      {CREATE("P", "L1", "A"), .no_id = true, .expect = LL_MISSING_FIELD},
      {CREATE(NULL, "L1", "A"), .expect = LL_MISSING_FIELD,
       .msg = "product_id"},
      {CREATE("P", "", "A"), .expect = LL_MISSING_FIELD, .msg = "lot_id"},
      {CREATE("P", "L1", NULL), .expect = LL_MISSING_FIELD, .msg = "name"},
      {CREATE("P", "L1", " \t "), .expect = LL_MISSING_FIELD, .msg = "name"},
      {CREATE("P", "L1", "A")},
      {UPDATE("P", "L1"), .name = "  ", .expect = LL_MISSING_FIELD,
       .msg = "name"},
      {UPDATE("P", "L1"), .new_product = "", .expect = LL_MISSING_FIELD,
       .msg = "new_product_id"},
      {UPDATE("P", NULL), .name = "B", .expect = LL_MISSING_FIELD,
       .msg = "lot_id"},
      {MOVE("P", NULL, "1", "Vendors", SUPPLIER, "WH/Stock", INTERNAL),
       .expect = LL_MISSING_FIELD, .msg = "lot_id or lot_name"},
      {MOVE("P", "", "1", "Vendors", SUPPLIER, "WH/Stock", INTERNAL),
       .lot_name = " ", .expect = LL_MISSING_FIELD},
      {MOVE("P", "L1", "1", "", SUPPLIER, "WH/Stock", INTERNAL),
       .expect = LL_MISSING_FIELD, .msg = "from.id"},
      {MOVE("P", "L1", "1", "Vendors", SUPPLIER, NULL, INTERNAL),
       .expect = LL_MISSING_FIELD, .msg = "to.id"},
      /* Optional texts may be empty: that clears them. */
      {UPDATE("P", "L1"), .reference = "", .description = ""},
      {MOVE("P", "L1", "1", "Vendors", SUPPLIER, "WH/Stock", INTERNAL)},
  };
  TABLE(missing);
}

static void test_invalid_field(void **state) {
  (void)state;
  static const step invalid[] = {
      /* Names: 255 characters, counted in code points after trimming. */
      {CREATE("P", "L1", NAME255)},
      {CREATE("P", "L2", NAME256), .expect = LL_INVALID_FIELD, .msg = "name",
       .msg2 = "256 characters"},
      {CREATE("P", "L2", ACCENT255)},
      {CREATE("P", "L3", ACCENT256), .expect = LL_INVALID_FIELD},
      {CREATE("P", "L3", NAME255_PADDED)},
      {CREATE("P", "L4", BOX255)},
      /* Ids and references: 255 characters. */
      {CREATE("P", ID255, "id at the limit")},
      {CREATE("P", ID256, "id past the limit"), .expect = LL_INVALID_FIELD,
       .msg = "lot_id"},
      {CREATE(ID256, "L5", "x"), .expect = LL_INVALID_FIELD,
       .msg = "product_id"},
      {CREATE("P", "L5", "x"), .id = ID256, .expect = LL_INVALID_FIELD,
       .msg = "event_id"},
      {CREATE("P", "L5", "x"), .id = ID255, .reference = NAME255},
      {CREATE("P", "L6", "y"), .reference = NAME256, .expect = LL_INVALID_FIELD,
       .msg = "reference"},
      /* Descriptions: 64 KiB, and they may hold line breaks and tabs. */
      {CREATE("P", "L6", "y"), .description = DESC_MAX},
      {CREATE("P", "L7", "z"), .description = DESC_OVER,
       .expect = LL_INVALID_FIELD, .msg = "description", .msg2 = "65537 bytes"},
      {CREATE("P", "L7", "z"), .description = "line 1\nline 2\r\n\tindented"},
      {CREATE("P", "L8", "w"), .description = "bell\x07",
       .expect = LL_INVALID_FIELD, .msg = "description"},
      /* Control characters: C0, DEL, C1. Nowhere but descriptions. */
      {CREATE("P", "L8", "bad\nname"), .expect = LL_INVALID_FIELD,
       .msg = "control"},
      {CREATE("P", "L8", "\tname"), .expect = LL_INVALID_FIELD},
      {CREATE("P", "L8", "bad\x7fname"), .expect = LL_INVALID_FIELD},
      {CREATE("P", "L8", "bad\xc2\x85name"), .expect = LL_INVALID_FIELD},
      {CREATE("P\x1fQ", "L8", "n"), .expect = LL_INVALID_FIELD,
       .msg = "product_id"},
      {CREATE("P", "L8", "n"), .reference = "PO\x1b",
       .expect = LL_INVALID_FIELD, .msg = "reference"},
      /* Malformed UTF-8: overlong, surrogate, truncated, > U+10FFFF. */
      {CREATE("P", "L8", "bad\xc0\xafname"), .expect = LL_INVALID_FIELD,
       .msg = "UTF-8"},
      {CREATE("P", "L8", "bad\xed\xa0\x80name"), .expect = LL_INVALID_FIELD},
      {CREATE("P", "L8", "bad\xe2\x82"), .expect = LL_INVALID_FIELD},
      {CREATE("P", "L8", "\xf4\x90\x80\x80"), .expect = LL_INVALID_FIELD},
      {CREATE("P", "L8", "Caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa6")},
      {UPDATE("P", "L8"), .name = NAME256, .expect = LL_INVALID_FIELD},
      {UPDATE("P", "L8"), .new_product = "Q\x01", .expect = LL_INVALID_FIELD},
      /* Enumerations out of range. */
      {CREATE("P", "L9", "t"), .tracking = (ll_tracking)7,
       .expect = LL_INVALID_FIELD, .msg = "tracking"},
      {.type = 'M',
       .product = "P",
       .lot = "L8",
       .qty = "1",
       .from = "Vendors",
       .from_usage = (ll_usage)9,
       .to = "WH/Stock",
       .expect = LL_INVALID_FIELD,
       .msg = "from.id"},
      /* Locations. */
      {MOVE("P", "L8", "1", "Vendors", SUPPLIER, ID256, INTERNAL),
       .expect = LL_INVALID_FIELD, .msg = "to.id"},
      {MOVE("P", "L8", "1", "Vendors", SUPPLIER, "WH/\xff", INTERNAL),
       .expect = LL_INVALID_FIELD, .msg = "to.id"},
      /* lot_id and lot_name must name the same lot. */
      {MOVE("P", "L8", "1", "Vendors", SUPPLIER, "WH/Stock", INTERNAL),
       .lot_name = "y", .expect = LL_INVALID_FIELD, .msg = "disagree"},
      {MOVE("P", "L8", "1", "Vendors", SUPPLIER, "WH/Stock", INTERNAL),
       .lot_name = " Caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa6 "},
      {MOVE("P", NULL, "1", "Vendors", SUPPLIER, "WH/Stock", INTERNAL),
       .lot_name = NAME256, .expect = LL_INVALID_FIELD, .msg = "lot_name"},
  };
  TABLE(invalid);
}

static void test_duplicate_lot(void **state) {
  (void)state;
  static const step duplicate[] = {
      {CREATE("P", "L1", "A")},
      {CREATE("P", "L2", "A"), .expect = LL_DUPLICATE_LOT,
       .msg = DUPLICATE_LOT_SENTENCE, .msg2 = "'L1'"},
      {CREATE("P", "L2", "  A "), .expect = LL_DUPLICATE_LOT},
      {CREATE("P", "L2", "a")}, /* exact comparison: case matters */
      {CREATE("Q", "L3", "A")}, /* names are unique per product */
      {UPDATE("P", "L2"), .name = " A", .expect = LL_DUPLICATE_LOT},
      {UPDATE("P", "L1"), .name = "A "}, /* rename to its own name */
      {UPDATE("P", "L1"), .name = "B"},
      {CREATE("P", "L4", "A")}, /* the old name is free again */
      {CREATE("P", "L5", "B"), .expect = LL_DUPLICATE_LOT},
      /* A rename within Q frees its old name in Q only. */
      {UPDATE("Q", "L3"), .name = "C"},
      {CREATE("Q", "L6", "A")}, /* L3 left its name in Q behind */
      {CREATE("P", "L7", "C")}, /* Q's C is no concern of P */
      {CREATE("P", "L8", "C"), .expect = LL_DUPLICATE_LOT},
  };
  TABLE(duplicate);
}

static void test_lot_id_taken(void **state) {
  (void)state;
  static const step taken[] = {
      {CREATE("P", "L1", "A")},
      {CREATE("P", "L1", "B"), .expect = LL_LOT_ID_TAKEN, .msg = "'L1'",
       .msg2 = "'A'"},
      /* A lot is (product, lot id): another product may have an L1. */
      {CREATE("Q", "L1", "A")},
      {CREATE("Q", "L1", "C"), .expect = LL_LOT_ID_TAKEN,
       .msg = "of product 'Q'"},
      /* Contract order: the name rule comes first. */
      {CREATE("P", "L1", "A"), .expect = LL_DUPLICATE_LOT},
      {CREATE("P", "L2", "B")},
      /* Each L1 is its own lot: moves and updates name it by product. */
      {RECEIVE("P", "L1", "5", "WH/Stock")},
      {RECEIVE("Q", "L1", "2", "WH/Stock")},
      {UPDATE("Q", "L1"), .name = "Q-one"},
      {MOVE("Q", "L1", "3", "WH/Stock", INTERNAL, "Customers", CUSTOMER),
       .expect = LL_INSUFFICIENT_STOCK, .msg = "2 available"},
      {MOVE("P", "L1", "3", "WH/Stock", INTERNAL, "Customers", CUSTOMER)},
  };
  TABLE(taken);
}

static void test_tracking_mismatch(void **state) {
  (void)state;
  static const step tracking[] = {
      {CREATE("P", "L1", "A")},
      {CREATE("P", "S1", "SN-1"), SERIAL, .expect = LL_TRACKING_MISMATCH,
       .msg = "tracked by LOT"},
      {CREATE("Q", "S1", "SN-1"), SERIAL},
      {CREATE("Q", "L2", "B"), .expect = LL_TRACKING_MISMATCH},
      {CREATE("Q", "S2", "SN-2"), SERIAL},
      {CREATE("NEW", "S3", "SN-3"), SERIAL}, /* NEW's first lot */
      {CREATE("NEW", "L4", "D"), .expect = LL_TRACKING_MISMATCH},
      {CREATE("P", "S3", "SN-3"), SERIAL, .expect = LL_TRACKING_MISMATCH},
      {CREATE("P", "L3", "C")},
  };
  TABLE(tracking);
}

static void test_unknown_lot(void **state) {
  (void)state;
  static const step unknown[] = {
      {UPDATE("P", "NOPE"), .name = "X", .expect = LL_UNKNOWN_LOT,
       .msg = "Product 'P' has no lot with id 'NOPE'"},
      {MOVE("P", "NOPE", "1", "Vendors", SUPPLIER, "WH/Stock", INTERNAL),
       .expect = LL_UNKNOWN_LOT},
      {CREATE("P", "L1", "A")},
      {CREATE("Q", "L2", "Z")},
      /* By name, within the move's product only. */
      {MOVE("P", NULL, "1", "Vendors", SUPPLIER, "WH/Stock", INTERNAL),
       .lot_name = "Z", .expect = LL_UNKNOWN_LOT, .msg = "no lot named 'Z'"},
      {MOVE("P", NULL, "1", "Vendors", SUPPLIER, "WH/Stock", INTERNAL),
       .lot_name = " A "},
      {UPDATE("P", "L1"), .name = "A2"},
      {MOVE("P", NULL, "1", "Vendors", SUPPLIER, "WH/Stock", INTERNAL),
       .lot_name = "A", .expect = LL_UNKNOWN_LOT},
      {MOVE("P", NULL, "1", "WH/Stock", INTERNAL, "Customers", CUSTOMER),
       .lot_name = "A2"},
      /* A rejected creation leaves no lot behind. */
      {CREATE("P", "L3", "A2"), .expect = LL_DUPLICATE_LOT},
      {UPDATE("P", "L3"), .name = "A3", .expect = LL_UNKNOWN_LOT},
  };
  TABLE(unknown);
}

static void test_version_conflict(void **state) {
  (void)state;
  static const step version[] = {
      {CREATE("P", "L1", "A")},
      {UPDATE("P", "L1"), .has_version = true, .version = 1,
       .reference = "PO-1"},
      {UPDATE("P", "L1"), .has_version = true, .version = 1,
       .reference = "PO-2", .expect = LL_VERSION_CONFLICT,
       .msg = "at version 2", .msg2 = "expected version 1"},
      {UPDATE("P", "L1"), .has_version = true, .version = 3,
       .reference = "PO-3", .expect = LL_VERSION_CONFLICT},
      {UPDATE("P", "L1"), .has_version = true, .version = 2,
       .reference = "PO-4"},
      {UPDATE("P", "L1"), .reference = "PO-5"}, /* no expectation: last
                                                   writer wins */
      /* Moves do not change the version. */
      {RECEIVE("P", "L1", "5", "WH/Stock")},
      {UPDATE("P", "L1"), .has_version = true, .version = 4,
       .reference = "PO-6"},
  };
  TABLE(version);
}

/* A lot's product cannot be changed, moves or not: the migration is to
 * create the lot under the right product, where its id is free. */
static void test_product_locked(void **state) {
  (void)state;
  static const step locked[] = {
      {CREATE("P", "L1", "A")},
      {UPDATE("P", "L1"), .new_product = "Q", .expect = LL_PRODUCT_LOCKED,
       .msg = PRODUCT_LOCKED_SENTENCE, .msg2 = "create it there"},
      {UPDATE("P", "L1"), .new_product = "Q", .name = "B",
       .expect = LL_PRODUCT_LOCKED, .msg2 = "Lot 'A' (L1)"},
      /* Naming the current product is no change. */
      {UPDATE("P", "L1"), .new_product = "P", .name = "A-renamed"},
      /* The migration: the same lot id under the right product. */
      {CREATE("Q", "L1", "A")},
      {RECEIVE("P", "L1", "5", "WH/Stock")},
      {UPDATE("P", "L1"), .new_product = "Q", .expect = LL_PRODUCT_LOCKED},
      /* The stale version is reported first, as for any update. */
      {UPDATE("P", "L1"), .new_product = "Q", .has_version = true, .version = 9,
       .expect = LL_VERSION_CONFLICT},
  };
  TABLE(locked);
}

/* A lot of another product is unknown within this one: the old
 * LOT_PRODUCT_MISMATCH cannot happen any more. */
static void test_lot_of_another_product(void **state) {
  (void)state;
  static const step other[] = {
      {CREATE("P", "L1", "A")},
      {RECEIVE("Q", "L1", "1", "WH/Stock"), .expect = LL_UNKNOWN_LOT,
       .msg = "Product 'Q' has no lot with id 'L1'"},
      {UPDATE("Q", "L1"), .name = "B", .expect = LL_UNKNOWN_LOT},
      {MOVE("Q", NULL, "1", "Vendors", SUPPLIER, "WH/Stock", INTERNAL),
       .lot_name = "A", .expect = LL_UNKNOWN_LOT},
      {RECEIVE("P", "L1", "1", "WH/Stock")},
      {UPDATE("P", "L1"), .name = "B"},
  };
  TABLE(other);
}

static void test_invalid_quantity(void **state) {
  (void)state;
  static const step quantity[] = {
      {CREATE("P", "L1", "A")},
      {RECEIVE("P", "L1", "0", "WH/Stock"), .expect = LL_INVALID_QUANTITY},
      {RECEIVE("P", "L1", "-1", "WH/Stock"), .expect = LL_INVALID_QUANTITY,
       .msg = "not -1"},
      {RECEIVE("P", "L1", "-0.000001", "WH/Stock"),
       .expect = LL_INVALID_QUANTITY},
      {RECEIVE("P", "L1", "!", "WH/Stock"), .expect = LL_INVALID_QUANTITY},
      /* The Avro schemas' decimal(18, 6) is the limit, even though int64
       * micro-units would go further. */
      {RECEIVE("P", "L1", "1000000000000", "WH/Stock"),
       .expect = LL_INVALID_QUANTITY, .msg = "1000000000000",
       .msg2 = "largest quantity lotline accepts, 999999999999.999999"},
      {RECEIVE("P", "L1", "9223372036854.775807", "WH/Stock"),
       .expect = LL_INVALID_QUANTITY},
      /* Exactly the limit: a virtual location goes to -max, another to
       * +max. One micro-unit more at either end is rejected, not kept. */
      {MOVE("P", "L1", "999999999999.999999", "Vendors", SUPPLIER, "Customers",
            CUSTOMER)},
      {MOVE("P", "L1", "0.000001", "Vendors", SUPPLIER, "Customers-2",
            CUSTOMER),
       .expect = LL_INVALID_QUANTITY, .msg = "largest quantity",
       .msg2 = "its quantity at 'Vendors' to -1000000000000,"},
      {MOVE("P", "L1", "0.000001", "Production", PRODUCTION, "Customers",
            CUSTOMER),
       .expect = LL_INVALID_QUANTITY, .msg = "999999999999.999999",
       .msg2 = "its quantity at 'Customers' to 1000000000000,"},
      /* On hand is bounded too, although each shelf stays within it. */
      {MOVE("P", "L1", "0.000001", "Vendors-2", SUPPLIER, "WH/Stock",
            INTERNAL)},
      {MOVE("P", "L1", "999999999999.999999", "Vendors-3", SUPPLIER, "WH/Other",
            INTERNAL),
       .expect = LL_INVALID_QUANTITY, .msg = "largest quantity",
       .msg2 = "its quantity on hand to 1000000000000,"},
      {MOVE("P", "L1", "999999999999.999998", "Vendors-3", SUPPLIER, "WH/Other",
            INTERNAL)},
      {MOVE("P", "L1", "0.000001", "Vendors-2", SUPPLIER, "WH/Stock", INTERNAL),
       .expect = LL_INVALID_QUANTITY},
      {MOVE("P", "L1", "0.000001", "WH/Stock", INTERNAL, "Customers-2",
            CUSTOMER)},
      {MOVE("P", "L1", "0.000001", "Vendors-2", SUPPLIER, "WH/Stock",
            INTERNAL)},
  };
  TABLE(quantity);
}

static void test_same_location(void **state) {
  (void)state;
  static const step same[] = {
      {CREATE("P", "L1", "A")},
      {MOVE("P", "L1", "1", "WH/Stock", INTERNAL, "WH/Stock", INTERNAL),
       .expect = LL_SAME_LOCATION, .msg = "'WH/Stock'"},
      {MOVE("P", "L1", "1", "WH/Stock", INTERNAL, "WH/Stock", TRANSIT),
       .expect = LL_SAME_LOCATION},
      {RECEIVE("P", "L1", "1", "WH/Stock")},
      /* A child location is another location. */
      {MOVE("P", "L1", "1", "WH/Stock", INTERNAL, "WH/Stock/Shelf-2",
            INTERNAL)},
  };
  TABLE(same);
}

static void test_location_usage_conflict(void **state) {
  (void)state;
  static const step usage[] = {
      {CREATE("P", "L1", "A")},
      {RECEIVE("P", "L1", "5", "WH/Stock")},
      {MOVE("P", "L1", "1", "WH/Stock", TRANSIT, "Customers", CUSTOMER),
       .expect = LL_LOCATION_USAGE_CONFLICT, .msg = "'WH/Stock'",
       .msg2 = "INTERNAL"},
      {MOVE("P", "L1", "1", "WH/Stock", INTERNAL, "Vendors", CUSTOMER),
       .expect = LL_LOCATION_USAGE_CONFLICT, .msg = "'Vendors'"},
      /* A rejected move does not fix a location's usage. */
      {MOVE("P", "L1", "99", "WH/Stock", INTERNAL, "Dock", TRANSIT),
       .expect = LL_INSUFFICIENT_STOCK},
      {MOVE("P", "L1", "1", "WH/Stock", INTERNAL, "Dock", INTERNAL)},
      {MOVE("P", "L1", "1", "Dock", TRANSIT, "WH/Stock", INTERNAL),
       .expect = LL_LOCATION_USAGE_CONFLICT},
      /* Within a product, usages belong to locations, whatever the lot. */
      {CREATE("P", "L2", "B")},
      {MOVE("P", "L2", "1", "Vendors", SUPPLIER, "Dock", TRANSIT),
       .expect = LL_LOCATION_USAGE_CONFLICT, .msg2 = "product 'P'"},
      {MOVE("P", "L2", "1", "Vendors", SUPPLIER, "Dock", INTERNAL)},
      /* Each product fixes its own: Q may see Dock as TRANSIT... */
      {CREATE("Q", "L2", "B")},
      {MOVE("Q", "L2", "1", "Vendors", SUPPLIER, "Dock", TRANSIT)},
      /* ...and then keeps it so. */
      {MOVE("Q", "L2", "1", "Vendors", SUPPLIER, "Dock", INTERNAL),
       .expect = LL_LOCATION_USAGE_CONFLICT, .msg = "usage TRANSIT"},
  };
  TABLE(usage);
}

static void test_serial_quantity(void **state) {
  (void)state;
  static const step serial[] = {
      {CREATE("P", "S1", "SN-1"), SERIAL},
      {RECEIVE("P", "S1", "2", "WH/Stock"), .expect = LL_SERIAL_QUANTITY,
       .msg = "'SN-1'", .msg2 = "not 2"},
      {RECEIVE("P", "S1", "0.5", "WH/Stock"), .expect = LL_SERIAL_QUANTITY},
      {RECEIVE("P", "S1", "1.000001", "WH/Stock"),
       .expect = LL_SERIAL_QUANTITY},
      {RECEIVE("P", "S1", "1", "WH/Stock")},
      /* Lots are not limited. */
      {CREATE("Q", "L1", "A")},
      {RECEIVE("Q", "L1", "2.5", "WH/Stock")},
  };
  TABLE(serial);
}

static void test_serial_not_at_source(void **state) {
  (void)state;
  static const step source[] = {
      {CREATE("P", "S1", "SN-1"), SERIAL},
      {MOVE("P", "S1", "1", "WH/Stock", INTERNAL, "Customers", CUSTOMER),
       .expect = LL_SERIAL_NOT_AT_SOURCE, .msg = "'WH/Stock'",
       .msg2 = "quantity there: 0"},
      {RECEIVE("P", "S1", "1", "WH/Stock")},
      {MOVE("P", "S1", "1", "WH/Shelf", INTERNAL, "Customers", CUSTOMER),
       .expect = LL_SERIAL_NOT_AT_SOURCE},
      {MOVE("P", "S1", "1", "WH/Stock", INTERNAL, "Truck", TRANSIT)},
      {MOVE("P", "S1", "1", "WH/Stock", INTERNAL, "Customers", CUSTOMER),
       .expect = LL_SERIAL_NOT_AT_SOURCE},
      {MOVE("P", "S1", "1", "Truck", TRANSIT, "Customers", CUSTOMER)},
      /* Out of a virtual location it need not be "there": a return. */
      {MOVE("P", "S1", "1", "Customers", CUSTOMER, "WH/Stock", INTERNAL)},
      {MOVE("P", "S1", "1", "WH/Stock", INTERNAL, "Scrap", SCRAP)},
  };
  TABLE(source);
}

static void test_serial_already_in_stock(void **state) {
  (void)state;
  static const step assigned[] = {
      {CREATE("P", "S1", "SN-1"), SERIAL},
      {RECEIVE("P", "S1", "1", "WH/Stock")},
      {RECEIVE("P", "S1", "1", "WH/Shelf"),
       .expect = LL_SERIAL_ALREADY_IN_STOCK, .msg = SERIAL_ASSIGNED_SENTENCE,
       .msg2 = "'SN-1'"},
      {MOVE("P", "S1", "1", "Production", PRODUCTION, "Truck", TRANSIT),
       .expect = LL_SERIAL_ALREADY_IN_STOCK},
      /* Moving within stock is fine. */
      {MOVE("P", "S1", "1", "WH/Stock", INTERNAL, "WH/Shelf", INTERNAL)},
      {MOVE("P", "S1", "1", "WH/Shelf", INTERNAL, "Customers", CUSTOMER)},
      /* The serial comes back. */
      {MOVE("P", "S1", "1", "Customers", CUSTOMER, "WH/Stock", INTERNAL)},
      {MOVE("P", "S1", "1", "Customers", CUSTOMER, "WH/Shelf", INTERNAL),
       .expect = LL_SERIAL_ALREADY_IN_STOCK},
      /* A move that does not enter stock (drop-shipping) is no receipt. */
      {MOVE("P", "S1", "1", "Vendors", SUPPLIER, "Customers", CUSTOMER)},
  };
  TABLE(assigned);
}

static void test_insufficient_stock(void **state) {
  (void)state;
  static const step insufficient[] = {
      {CREATE("P", "L1", "A")},
      {RECEIVE("P", "L1", "10", "WH/Stock")},
      {MOVE("P", "L1", "10.000001", "WH/Stock", INTERNAL, "Customers",
            CUSTOMER),
       .expect = LL_INSUFFICIENT_STOCK,
       .msg = "lot 'A' (L1) of product 'P' at location 'WH/Stock': 10 "
              "available",
       .msg2 = "10.000001 requested"},
      {MOVE("P", "L1", "10", "WH/Stock", INTERNAL, "Truck", TRANSIT)},
      {MOVE("P", "L1", "0.000001", "WH/Stock", INTERNAL, "Customers", CUSTOMER),
       .expect = LL_INSUFFICIENT_STOCK, .msg = ": 0 available"},
      {MOVE("P", "L1", "10.5", "Truck", TRANSIT, "Customers", CUSTOMER),
       .expect = LL_INSUFFICIENT_STOCK},
      {MOVE("P", "L1", "4.25", "Truck", TRANSIT, "Customers", CUSTOMER)},
      /* Virtual locations may go below zero. */
      {MOVE("P", "L1", "100", "Inventory loss", INVENTORY, "Scrap", SCRAP)},
      {MOVE("P", "L1", "100", "Customers", CUSTOMER, "Scrap", SCRAP)},
  };
  TABLE(insufficient);
}

static void test_invalid_dates(void **state) {
  (void)state;
  static const step dates[] = {
      {CREATE("P", "L1", "A"), .expiration = AT(T0 + 10 * DAY_MS),
       .alert = AT(T0 + 11 * DAY_MS), .expect = LL_INVALID_DATES,
       .msg = "alert date (2027-01-26T08:00:00Z)",
       .msg2 = "expiration date (2027-01-25T08:00:00Z)"},
      {CREATE("P", "L1", "A"), .expiration = AT(T0 + 10 * DAY_MS),
       .use_by = AT(T0 + 10 * DAY_MS + 1), .expect = LL_INVALID_DATES,
       .msg = "use-by"},
      {CREATE("P", "L1", "A"), .expiration = AT(T0 + 10 * DAY_MS),
       .removal = AT(T0 + 20 * DAY_MS), .expect = LL_INVALID_DATES,
       .msg = "removal"},
      /* On the expiration date itself is fine. */
      {CREATE("P", "L1", "A"), .expiration = AT(T0 + 10 * DAY_MS),
       .alert = AT(T0 + 10 * DAY_MS), .removal = AT(T0 + 10 * DAY_MS),
       .use_by = AT(T0 + 9 * DAY_MS)},
      /* Without an expiration date there is nothing to be later than. */
      {CREATE("P", "L2", "B"), .alert = AT(T0 + 50 * DAY_MS)},
      /* Updates are checked merged with the lot's current dates. */
      {UPDATE("P", "L2"), .expiration = AT(T0 + 40 * DAY_MS),
       .expect = LL_INVALID_DATES, .msg = "Lot 'B' (L2)"},
      {UPDATE("P", "L2"), .expiration = AT(T0 + 60 * DAY_MS)},
      {UPDATE("P", "L1"), .alert = AT(T0 + 11 * DAY_MS),
       .expect = LL_INVALID_DATES},
      {UPDATE("P", "L1"), .alert = AT(T0 + 11 * DAY_MS),
       .expiration = AT(T0 + 12 * DAY_MS)},
      {UPDATE("P", "L1"), .expiration = AT(T0 + 10 * DAY_MS),
       .expect = LL_INVALID_DATES},
  };
  TABLE(dates);
}

static const step expired_story[] = {
    {CREATE("P", "L1", "A"), .expiration = AT(T0 + 10 * DAY_MS)},
    {RECEIVE("P", "L1", "5", "WH/Stock")},
    {MOVE("P", "L1", "1", "WH/Stock", INTERNAL, "Customers", CUSTOMER),
     .at = T0 + 10 * DAY_MS - 1},
    {MOVE("P", "L1", "1", "WH/Stock", INTERNAL, "Customers", CUSTOMER),
     .at = T0 + 10 * DAY_MS, .expect = LL_EXPIRED_LOT,
     .msg = "expired at 2027-01-25T08:00:00Z", .msg2 = "'Customers'"},
    /* Only deliveries to customers are stopped. */
    {MOVE("P", "L1", "1", "WH/Stock", INTERNAL, "Scrap", SCRAP),
     .at = T0 + 11 * DAY_MS},
    {MOVE("P", "L1", "1", "WH/Stock", INTERNAL, "Truck", TRANSIT),
     .at = T0 + 11 * DAY_MS},
    /* A lot without an expiration date never expires. */
    {CREATE("P", "L2", "B")},
    {MOVE("P", "L2", "1", "Vendors", SUPPLIER, "Customers", CUSTOMER),
     .at = T0 + 1000 * DAY_MS},
};

static void test_expired_lot(void **state) {
  (void)state;
  run_table("expired_story", expired_story,
            sizeof expired_story / sizeof expired_story[0], false);
}

static void test_expired_lot_allowed(void **state) {
  (void)state;
  static const step allowed[] = {
      {CREATE("P", "L1", "A"), .expiration = AT(T0 + 10 * DAY_MS)},
      {RECEIVE("P", "L1", "5", "WH/Stock")},
      {MOVE("P", "L1", "1", "WH/Stock", INTERNAL, "Customers", CUSTOMER),
       .at = T0 + 11 * DAY_MS},
  };
  run_table("allowed", allowed, sizeof allowed / sizeof allowed[0], true);
}

static void test_event_id_reused(void **state) {
  (void)state;
  static const step ids[] = {
      {CREATE("P", "L1", "A"), .id = "e1"},
      {CREATE("P", "L1", "A"), .id = "e1", .expect = EXPECT_DUP},
      {CREATE("P", "L1", "B"), .id = "e1", .expect = LL_EVENT_ID_REUSED,
       .msg = "'e1'", .msg2 = "accepted at position 1 of partition -1"},
      /* The reuse did not overwrite the record of e1. */
      {CREATE("P", "L1", "A"), .id = "e1", .expect = EXPECT_DUP},
      /* Reuse is found before anything else is wrong with the event. */
      {CREATE("P", "", "A"), .id = "e1", .expect = LL_EVENT_ID_REUSED},
      /* A rejected event's redelivery is a no-op too... */
      {CREATE("P", "L2", "A"), .id = "r1", .expect = LL_DUPLICATE_LOT},
      {CREATE("P", "L2", "A"), .id = "r1", .expect = EXPECT_DUP},
      /* ...even when the state has changed so that it would now pass. */
      {UPDATE("P", "L1"), .name = "A2"},
      {CREATE("P", "L2", "A"), .id = "r1", .expect = EXPECT_DUP},
      {CREATE("P", "L2", "A "), .id = "r1", .expect = LL_EVENT_ID_REUSED,
       .msg2 = "rejected with DUPLICATE_LOT"},
      /* A move redelivered moves nothing. */
      {RECEIVE("P", "L1", "1", "WH/Stock"), .id = "m1"},
      {RECEIVE("P", "L1", "1", "WH/Stock"), .id = "m1", .expect = EXPECT_DUP},
      {RECEIVE("P", "L1", "2", "WH/Stock"), .id = "m1",
       .expect = LL_EVENT_ID_REUSED},
      /* Ids are unique across event types. */
      {UPDATE("P", "L1"), .id = "m1", .name = "A3",
       .expect = LL_EVENT_ID_REUSED},
      /* ...within a product: under another product an id is new. */
      {CREATE("Q", "L1", "A"), .id = "e1"},
      {CREATE("Q", "L1", "A"), .id = "e1", .expect = EXPECT_DUP},
      {CREATE("Q", "L9", "Z"), .id = "e1", .expect = LL_EVENT_ID_REUSED},
      {RECEIVE("Q", "L1", "7", "WH/Stock"), .id = "m1"},
  };
  rules_env env;
  env_init(&env);
  RUN(&env, ids);
  assert_int_equal(env_qty(&env, "P", "L1", "WH/Stock"), 1 * LL_MICRO);
  assert_int_equal(env_qty(&env, "Q", "L1", "WH/Stock"), 7 * LL_MICRO);
  ll_lot lot;
  assert_true(env_lot(&env, "P", "L1", &lot));
  assert_string_equal(lot.name, "A2");
  assert_int_equal(lot.move_count, 1);
  ll_lot_free(&lot);
  assert_false(env_lot(&env, "P", "L2", &lot));
  env_free(&env);
}

/* ---- the state an accepted event leaves ---- */

static void process_ok(rules_env *env, ll_event *ev, ll_decision *d) {
  env_process(env, ev, d);
  if (!d->accepted)
    fail_msg("%s rejected: %s %s", ev->event_id, ll_code_name(d->code),
             d->message);
}

static void test_accept_create(void **state) {
  (void)state;
  rules_env env;
  env_init(&env);
  ll_event ev;
  ll_decision d;
  ev_created(&ev, "c1", "P", "L1", "  Lot 42  ", LL_TRACK_LOT);
  ev_set(&ev.reference, "");
  ev_set(&ev.description, "Blue\nbatch");
  ev.expiration_at = AT(T0 + 30 * DAY_MS);
  ev.alert_at = AT(T0 + 20 * DAY_MS);
  ev.occurred_at_ms = T0 + 5;
  process_ok(&env, &ev, &d);
  assert_true(d.set_tracking); /* the product's first lot */
  ll_decision_free(&d);
  ll_event_free(&ev);

  ll_lot lot;
  assert_true(env_lot(&env, "P", "L1", &lot));
  assert_string_equal(lot.lot_id, "L1");
  assert_string_equal(lot.product_id, "P");
  assert_string_equal(lot.name, "Lot 42");
  assert_int_equal(lot.tracking, LL_TRACK_LOT);
  assert_null(lot.reference);
  assert_string_equal(lot.description, "Blue\nbatch");
  assert_true(lot.expiration_at.set);
  assert_int_equal(lot.expiration_at.ms, T0 + 30 * DAY_MS);
  assert_int_equal(lot.alert_at.ms, T0 + 20 * DAY_MS);
  assert_false(lot.use_by_at.set);
  assert_int_equal(lot.version, 1);
  assert_int_equal(lot.on_hand_micro, 0);
  assert_int_equal(lot.move_count, 0);
  assert_int_equal(lot.created_at_ms, T0 + 5);
  assert_int_equal(lot.updated_at_ms, T0 + 5);
  ll_lot_free(&lot);

  ev_created(&ev, "c2", "P", "L2", "Lot 43", LL_TRACK_LOT);
  process_ok(&env, &ev, &d);
  assert_false(d.set_tracking);
  ll_decision_free(&d);
  ll_event_free(&ev);

  ll_seen seen;
  ll_err err;
  ll_state_reader reader = mem_state_reader(env.state);
  assert_int_equal(ll_state_get_seen(&reader, "P", "c2", &seen, &err), 0);
  assert_true(seen.found);
  assert_true(seen.accepted);
  assert_int_equal(seen.position, 2);
  env_free(&env);
}

static void test_accept_moves(void **state) {
  (void)state;
  static const step moves[] = {
      {CREATE("P", "L1", "A")},
      {RECEIVE("P", "L1", "10", "WH/Stock")},
      {MOVE("P", "L1", "3.5", "WH/Stock", INTERNAL, "Truck", TRANSIT)},
      {MOVE("P", "L1", "2", "Truck", TRANSIT, "Customers", CUSTOMER)},
      {MOVE("P", "L1", "0.5", "WH/Stock", INTERNAL, "Scrap", SCRAP),
       .at = T0 + 77},
  };
  rules_env env;
  env_init(&env);
  RUN(&env, moves);
  assert_int_equal(env_qty(&env, "P", "L1", "Vendors"), -10 * LL_MICRO);
  assert_int_equal(env_qty(&env, "P", "L1", "WH/Stock"), 6 * LL_MICRO);
  assert_int_equal(env_qty(&env, "P", "L1", "Truck"), 1500000);
  assert_int_equal(env_qty(&env, "P", "L1", "Customers"), 2 * LL_MICRO);
  assert_int_equal(env_qty(&env, "P", "L1", "Scrap"), 500000);
  ll_lot lot;
  assert_true(env_lot(&env, "P", "L1", &lot));
  assert_int_equal(lot.on_hand_micro, 7500000); /* 6 + 1.5 */
  assert_int_equal(lot.move_count, 4);
  assert_int_equal(lot.version, 1);
  assert_int_equal(lot.updated_at_ms, T0 + 77);
  assert_int_equal(lot.created_at_ms, T0);
  ll_lot_free(&lot);

  /* Emptying a location removes its record (env_qty checks for 0). */
  ll_event ev;
  ll_decision d;
  ev_moved(&ev, "out", "P", "L1", 6 * LL_MICRO, "WH/Stock", LL_USAGE_INTERNAL,
           "Customers", LL_USAGE_CUSTOMER);
  process_ok(&env, &ev, &d);
  assert_int_equal(d.from_qty_micro, 0);
  assert_int_equal(d.to_qty_micro, 8 * LL_MICRO);
  assert_false(d.set_from_usage);
  assert_false(d.set_to_usage);
  assert_int_equal(d.lot.on_hand_micro, 1500000);
  ll_decision_free(&d);
  ll_event_free(&ev);
  assert_int_equal(env_qty(&env, "P", "L1", "WH/Stock"), 0);

  /* First sighting of a location fixes its usage. */
  ev_moved(&ev, "in", "P", "L1", 1, "Vendors", LL_USAGE_SUPPLIER, "New bin",
           LL_USAGE_INTERNAL);
  process_ok(&env, &ev, &d);
  assert_false(d.set_from_usage);
  assert_true(d.set_to_usage);
  ll_decision_free(&d);
  ll_event_free(&ev);
  env_free(&env);
}

static void test_accept_update(void **state) {
  (void)state;
  static const step story[] = {
      {CREATE("P", "L1", "Lot 1"), .reference = "PO-1", .description = "d",
       .expiration = AT(T0 + 10 * DAY_MS), .alert = AT(T0 + 5 * DAY_MS)},
      {UPDATE("P", "L1"), .name = " New name ", .description = "",
       .removal = AT(T0 + 6 * DAY_MS), .at = T0 + 9},
      {MOVE("P", NULL, "1", "Vendors", SUPPLIER, "WH/Stock", INTERNAL),
       .lot_name = "New name", .at = T0 + 3},
      {MOVE("P", NULL, "1", "Vendors", SUPPLIER, "WH/Stock", INTERNAL),
       .lot_name = "Lot 1", .expect = LL_UNKNOWN_LOT},
      {CREATE("P", "L2", "Lot 1")},
  };
  rules_env env;
  env_init(&env);
  RUN(&env, story);
  ll_lot lot;
  assert_true(env_lot(&env, "P", "L1", &lot));
  assert_string_equal(lot.name, "New name");
  assert_string_equal(lot.reference, "PO-1"); /* absent: unchanged */
  assert_null(lot.description);               /* "": cleared */
  assert_int_equal(lot.expiration_at.ms, T0 + 10 * DAY_MS);
  assert_int_equal(lot.alert_at.ms, T0 + 5 * DAY_MS);
  assert_int_equal(lot.removal_at.ms, T0 + 6 * DAY_MS);
  assert_int_equal(lot.version, 2);
  assert_int_equal(lot.created_at_ms, T0);
  assert_int_equal(lot.updated_at_ms, T0 + 3); /* the move came last */
  assert_int_equal(lot.on_hand_micro, LL_MICRO);
  ll_lot_free(&lot);
  env_free(&env);
}

/* The same lot id under two products: two lots, each with its own fields,
 * quantities and name, and an update of one leaves the other alone. */
static void test_same_lot_id_two_products(void **state) {
  (void)state;
  static const step story[] = {
      {CREATE("P", "L1", "A")},
      {CREATE("Q", "L1", "A"), SERIAL},
      {UPDATE("P", "L1"), .new_product = "P", .name = "B"},
      {MOVE("Q", NULL, "1", "Vendors", SUPPLIER, "WH/Stock", INTERNAL),
       .lot_name = "A"},
      {RECEIVE("P", "L1", "4", "WH/Stock")},
      {CREATE("P", "L2", "A")}, /* P's A is free after the rename */
      {CREATE("Q", "L2", "A"), SERIAL, .expect = LL_DUPLICATE_LOT},
  };
  rules_env env;
  env_init(&env);
  RUN(&env, story);
  ll_lot lot;
  assert_true(env_lot(&env, "P", "L1", &lot));
  assert_string_equal(lot.product_id, "P");
  assert_string_equal(lot.name, "B");
  assert_int_equal(lot.version, 2);
  assert_int_equal(lot.on_hand_micro, 4 * LL_MICRO);
  ll_lot_free(&lot);
  assert_true(env_lot(&env, "Q", "L1", &lot));
  assert_string_equal(lot.product_id, "Q");
  assert_string_equal(lot.name, "A");
  assert_int_equal(lot.version, 1);
  assert_int_equal(lot.tracking, LL_TRACK_SERIAL);
  assert_int_equal(lot.on_hand_micro, LL_MICRO);
  ll_lot_free(&lot);
  assert_int_equal(env_qty(&env, "P", "L1", "WH/Stock"), 4 * LL_MICRO);
  assert_int_equal(env_qty(&env, "Q", "L1", "WH/Stock"), LL_MICRO);
  env_free(&env);
}

/* ---- the field checks alone, as the HTTP API uses them ---- */

static void test_check_fields_alone(void **state) {
  (void)state;
  ll_event ev;
  /* The HTTP API answers 422 from this err: whatever it held before, it
   * must come back a rejection, not a runtime failure. */
  ll_err err = {.kind = LL_ERR_IO};
  ev_moved(&ev, "m", "P", "L1", LL_MICRO, "A", LL_USAGE_INTERNAL, "B",
           LL_USAGE_CUSTOMER);
  assert_int_equal(ll_check_fields(&ev, &err), LL_OK);
  ev.quantity_micro = 0;
  assert_int_equal(ll_check_fields(&ev, &err), LL_INVALID_QUANTITY);
  assert_int_equal(err.kind, LL_ERR_REJECTED);
  assert_int_equal(err.code, LL_INVALID_QUANTITY);
  assert_non_null(strstr(err.message, "greater than zero"));
  assert_int_equal(ll_check_fields(&ev, NULL), LL_INVALID_QUANTITY);
  ev.quantity_micro = LL_QUANTITY_MAX_MICRO;
  assert_int_equal(ll_check_fields(&ev, &err), LL_OK);
  ev.quantity_micro = LL_QUANTITY_MAX_MICRO + 1;
  assert_int_equal(ll_check_fields(&ev, &err), LL_INVALID_QUANTITY);
  assert_non_null(strstr(err.message, "1000000000000 is more than"));
  ev.quantity_micro = INT64_MAX;
  assert_int_equal(ll_check_fields(&ev, &err), LL_INVALID_QUANTITY);
  ev.quantity_micro = LL_MICRO;
  ev_set(&ev.to.id, "A");
  assert_int_equal(ll_check_fields(&ev, &err), LL_SAME_LOCATION);
  ev.type = LL_EV_NONE;
  assert_int_equal(ll_check_fields(&ev, &err), LL_MALFORMED);
  ll_event_free(&ev);
}

/* Long names make long messages: they are cut, but stay valid UTF-8. */
static void test_long_message_is_valid_utf8(void **state) {
  (void)state;
  rules_env env;
  env_init(&env);
  ll_event ev;
  ll_decision d;
  ev_created(&ev, "c1", BOX255, "L1", BOX255, LL_TRACK_LOT);
  process_ok(&env, &ev, &d);
  ll_decision_free(&d);
  ll_event_free(&ev);
  ev_created(&ev, "c2", BOX255, "L2", BOX255, LL_TRACK_LOT);
  env_process(&env, &ev, &d);
  assert_int_equal(d.code, LL_DUPLICATE_LOT);
  size_t len = strlen(d.message);
  assert_true(len < LL_MESSAGE_MAX_BYTES);
  assert_true(len > LL_MESSAGE_MAX_BYTES - 8);
  assert_int_equal(ll_text_check(d.message, 0, 0, false), LL_TEXT_OK);
  assert_string_equal(d.message + len - 3, "\xe2\x80\xa6");
  assert_memory_equal(d.message, DUPLICATE_LOT_SENTENCE,
                      strlen(DUPLICATE_LOT_SENTENCE));
  ll_decision_free(&d);
  ll_event_free(&ev);
  env_free(&env);
}

/* An update with no field to change would only bump the version and fill
 * the permanent log: MISSING_FIELD, before any state is read (so even for
 * a lot that does not exist). Clearing a text ("") is a change. */
static void test_update_that_changes_nothing(void **state) {
  (void)state;
  static const step nothing[] = {
      {CREATE("P", "L1", "A")},
      {UPDATE("P", "L1"), .expect = LL_MISSING_FIELD,
       .msg = "LotUpdated changes nothing", .msg2 = "new_product_id"},
      {UPDATE("P", "L1"), .has_version = true, .version = 1,
       .expect = LL_MISSING_FIELD, .msg = "changes nothing"},
      {UPDATE("P", "NOPE"), .expect = LL_MISSING_FIELD},
      {UPDATE("P", "L1"), .has_version = true, .version = 1, .reference = ""},
      {UPDATE("P", "L1"), .has_version = true, .version = 2,
       .use_by = AT(1800000000000)},
  };
  TABLE(nothing);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_missing_field),
      cmocka_unit_test(test_invalid_field),
      cmocka_unit_test(test_duplicate_lot),
      cmocka_unit_test(test_lot_id_taken),
      cmocka_unit_test(test_tracking_mismatch),
      cmocka_unit_test(test_unknown_lot),
      cmocka_unit_test(test_version_conflict),
      cmocka_unit_test(test_product_locked),
      cmocka_unit_test(test_lot_of_another_product),
      cmocka_unit_test(test_invalid_quantity),
      cmocka_unit_test(test_same_location),
      cmocka_unit_test(test_location_usage_conflict),
      cmocka_unit_test(test_serial_quantity),
      cmocka_unit_test(test_serial_not_at_source),
      cmocka_unit_test(test_serial_already_in_stock),
      cmocka_unit_test(test_insufficient_stock),
      cmocka_unit_test(test_invalid_dates),
      cmocka_unit_test(test_expired_lot),
      cmocka_unit_test(test_expired_lot_allowed),
      cmocka_unit_test(test_event_id_reused),
      cmocka_unit_test(test_accept_create),
      cmocka_unit_test(test_accept_moves),
      cmocka_unit_test(test_accept_update),
      cmocka_unit_test(test_same_lot_id_two_products),
      cmocka_unit_test(test_check_fields_alone),
      cmocka_unit_test(test_long_message_is_valid_utf8),
      cmocka_unit_test(test_update_that_changes_nothing),
  };
  return cmocka_run_group_tests(tests, setup_texts, NULL);
}
