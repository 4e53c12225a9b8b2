/* test_views.c — the read models, fed hand-made log entries through
 * ll_views_apply(): lot details, quantities by location, the list filters,
 * checkpoint and idempotence, and that batching never changes the views. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "views_fixture.h"
#include "views_internal.h"

#define Q(units) ((int64_t)(units)*LL_MICRO)

typedef struct ctx {
  char *dir;
  ll_views *v;
  tlog log;
} ctx;

static int setup(void **state) {
  ctx *c = calloc(1, sizeof *c);
  c->dir = scratch_dir();
  assert_non_null(c->dir);
  ll_err err = {0};
  c->v = ll_views_open(c->dir, &err);
  if (c->v == NULL)
    fail_msg("open: %s", err.message);
  *state = c;
  return 0;
}

static int teardown(void **state) {
  ctx *c = *state;
  ll_views_close(c->v);
  tlog_free(&c->log);
  rm_tree(c->dir);
  free(c);
  return 0;
}

static void apply_ok(ll_views *v, const ll_entry *e, size_t n) {
  ll_err err = {0};
  if (ll_views_apply(v, e, n, &err) != 0)
    fail_msg("apply: %s", err.message);
}

static void apply_all(ctx *c) {
  apply_ok(c->v, c->log.e, c->log.n);
}

static ll_lot get_lot(ll_views *v, const char *product_id, const char *lot_id) {
  ll_lot lot;
  ll_lot_init(&lot);
  bool found = false;
  ll_err err = {0};
  if (ll_views_get_lot(v, product_id, lot_id, &lot, &found, &err) != 0)
    fail_msg("get_lot: %s", err.message);
  if (!found)
    fail_msg("lot %s not found", lot_id);
  return lot;
}

static bool lot_exists(ll_views *v, const char *product_id,
                       const char *lot_id) {
  ll_lot lot;
  ll_lot_init(&lot);
  bool found = true;
  ll_err err = {0};
  assert_int_equal(ll_views_get_lot(v, product_id, lot_id, &lot, &found, &err),
                   0);
  if (found)
    ll_lot_free(&lot);
  return found;
}

typedef struct locs {
  ll_lot_location *a;
  size_t n;
} locs;

static locs get_locs(ll_views *v, const char *product_id, const char *lot_id,
                     bool all) {
  locs l = {0};
  ll_err err = {0};
  if (ll_views_lot_locations(v, product_id, lot_id, all, &l.a, &l.n, &err) != 0)
    fail_msg("lot_locations: %s", err.message);
  return l;
}

static void assert_loc(const locs *l, size_t i, const char *id, ll_usage usage,
                       int64_t quantity_micro) {
  assert_true(i < l->n);
  assert_string_equal(l->a[i].location, id);
  assert_int_equal(l->a[i].usage, usage);
  assert_int_equal(l->a[i].quantity_micro, quantity_micro);
}

/* Is the raw row there? key is NUL-terminated ("\x1f" is not NUL). */
static bool raw_has(ll_views *v, const char *key) {
  char *rerr = NULL;
  size_t len = 0;
  char *p = rocksdb_get(v->db, v->read_opts, key, strlen(key), &len, &rerr);
  assert_null(rerr);
  rocksdb_free(p);
  return p != NULL;
}

/* A receipt, internal and transit moves and a delivery, with quantities
 * that only exact decimals get right. */
static void build_receipt_log(tlog *l) {
  tlog_created(l, "L1", "P1", "LOT-001", NULL);
  tlog_moved(l, "L1", "P1", 10500000, "Partners/Vendor", LL_USAGE_SUPPLIER,
             "WH/Stock", LL_USAGE_INTERNAL);
  tlog_moved(l, "L1", "P1", 2250000, "WH/Stock", LL_USAGE_INTERNAL,
             "WH/Transit", LL_USAGE_TRANSIT);
  tlog_moved(l, "L1", "P1", 3000001, "WH/Stock", LL_USAGE_INTERNAL,
             "Partners/Customers", LL_USAGE_CUSTOMER);
  tlog_moved(l, "L1", "P1", 100000, "WH/Stock", LL_USAGE_INTERNAL,
             "WH/Stock/Shelf-2", LL_USAGE_INTERNAL);
}

static void test_moves_give_locations_and_on_hand(void **state) {
  ctx *c = *state;
  build_receipt_log(&c->log);
  apply_all(c);
  assert_int_equal(ll_views_position(c->v), 5);

  ll_lot lot = get_lot(c->v, "P1", "L1");
  /* 10.5 in, 3.000001 delivered; the transit and shelf moves stay on hand */
  assert_int_equal(lot.on_hand_micro, 7499999);
  assert_int_equal(lot.move_count, 4);
  assert_int_equal(lot.version, 1);
  assert_int_equal(lot.created_at_ms, T_EPOCH_MS + 1000);
  assert_int_equal(lot.updated_at_ms, T_EPOCH_MS + 5000);
  ll_lot_free(&lot);

  locs l = get_locs(c->v, "P1", "L1", false);
  assert_int_equal(l.n, 3);
  assert_loc(&l, 0, "WH/Stock", LL_USAGE_INTERNAL, 5149999);
  assert_loc(&l, 1, "WH/Stock/Shelf-2", LL_USAGE_INTERNAL, 100000);
  assert_loc(&l, 2, "WH/Transit", LL_USAGE_TRANSIT, 2250000);
  ll_lot_locations_free(l.a, l.n);

  l = get_locs(c->v, "P1", "L1", true);
  assert_int_equal(l.n, 5);
  assert_loc(&l, 0, "Partners/Customers", LL_USAGE_CUSTOMER, 3000001);
  assert_loc(&l, 1, "Partners/Vendor", LL_USAGE_SUPPLIER, -10500000);
  assert_loc(&l, 2, "WH/Stock", LL_USAGE_INTERNAL, 5149999);
  int64_t sum = 0;
  for (size_t i = 0; i < l.n; i++)
    sum += l.a[i].quantity_micro;
  assert_int_equal(sum, 0); /* what leaves one place arrives at another */
  ll_lot_locations_free(l.a, l.n);

  /* The "what is in a location" mirror. */
  assert_true(raw_has(c->v, "loc/WH/Transit\x1fL1\x1fP1"));
  assert_true(raw_has(c->v, "qty/L1\x1fP1\x1fWH/Transit"));
}

static void test_emptied_location_disappears(void **state) {
  ctx *c = *state;
  build_receipt_log(&c->log);
  tlog_moved(&c->log, "L1", "P1", 2250000, "WH/Transit", LL_USAGE_TRANSIT,
             "WH/Stock", LL_USAGE_INTERNAL);
  tlog_moved(&c->log, "L1", "P1", 3000001, "Partners/Customers",
             LL_USAGE_CUSTOMER, "WH/Stock", LL_USAGE_INTERNAL);
  apply_all(c);

  locs l = get_locs(c->v, "P1", "L1", true);
  assert_int_equal(l.n, 3);
  assert_loc(&l, 0, "Partners/Vendor", LL_USAGE_SUPPLIER, -10500000);
  assert_loc(&l, 1, "WH/Stock", LL_USAGE_INTERNAL, 10400000);
  assert_loc(&l, 2, "WH/Stock/Shelf-2", LL_USAGE_INTERNAL, 100000);
  ll_lot_locations_free(l.a, l.n);
  assert_false(raw_has(c->v, "qty/L1\x1fP1\x1fWH/Transit"));
  assert_false(raw_has(c->v, "loc/WH/Transit\x1fL1\x1fP1"));

  ll_lot lot = get_lot(c->v, "P1", "L1");
  assert_int_equal(lot.on_hand_micro, 10500000);
  assert_int_equal(lot.move_count, 6);
  ll_lot_free(&lot);
}

static void test_locations_of_unknown_lot_are_empty(void **state) {
  ctx *c = *state;
  locs l = get_locs(c->v, "P1", "nope", true);
  assert_int_equal(l.n, 0);
  ll_lot_locations_free(l.a, l.n);
  assert_false(lot_exists(c->v, "P1", "nope"));
}

static size_t list(ll_views *v, const ll_lot_filter *f, ll_lot **out,
                   char **next) {
  size_t n = 0;
  ll_err err = {0};
  if (ll_views_list_lots(v, f, out, &n, next, &err) != 0)
    fail_msg("list_lots: %s", err.message);
  return n;
}

/* The lot ids of a list call, comma-joined, and its next cursor. */
static void list_ids(ll_views *v, const ll_lot_filter *f, char *ids,
                     size_t ids_size, char **next) {
  ll_lot *lots = NULL;
  size_t n = list(v, f, &lots, next);
  ids[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    strncat(ids, i ? "," : "", ids_size - strlen(ids) - 1);
    strncat(ids, lots[i].lot_id, ids_size - strlen(ids) - 1);
  }
  ll_lots_free(lots, n);
}

static void test_update_renames_and_clears(void **state) {
  ctx *c = *state;
  tlog_created(&c->log, "L1", "P1", "  Old  ", "PO-7");
  ll_event *ev =
      tlog_updated(&c->log, "L1", "P1", NULL, NULL, NULL, "first description");
  ev->expiration_at = (ll_opt_time){.set = true, .ms = T_EPOCH_MS + 86400000};
  /* new_product_id equal to the product: no change. */
  tlog_updated(&c->log, "L1", "P1", "  New name ", "P1", "", NULL);
  apply_all(c);

  ll_lot lot = get_lot(c->v, "P1", "L1");
  assert_string_equal(lot.name, "New name");
  assert_string_equal(lot.product_id, "P1");
  assert_null(lot.reference);
  assert_string_equal(lot.description, "first description");
  assert_true(lot.expiration_at.set);
  assert_int_equal(lot.expiration_at.ms, T_EPOCH_MS + 86400000);
  assert_false(lot.use_by_at.set);
  assert_int_equal(lot.version, 3);
  assert_int_equal(lot.created_at_ms, T_EPOCH_MS + 1000);
  assert_int_equal(lot.updated_at_ms, T_EPOCH_MS + 3000);
  ll_lot_free(&lot);

  /* The name index follows. */
  char ids[256];
  char *next = NULL;
  list_ids(c->v, &(ll_lot_filter){.product_id = "P1"}, ids, sizeof ids, &next);
  assert_string_equal(ids, "L1");
  list_ids(c->v, &(ll_lot_filter){.name = "Old"}, ids, sizeof ids, &next);
  assert_string_equal(ids, "");
  list_ids(c->v, &(ll_lot_filter){.name = " New name"}, ids, sizeof ids, &next);
  assert_string_equal(ids, "L1");
  assert_null(next);
  assert_true(raw_has(c->v, "prod/P1\x1fL1"));
  assert_true(raw_has(c->v, "name/New name\x1fL1\x1fP1"));
  assert_false(raw_has(c->v, "name/Old\x1fL1\x1fP1"));
}

/* A log that changes a lot's product breaks what the rules promise
 * (PRODUCT_LOCKED): the projection stops there. */
static void test_product_change_in_the_log_is_an_error(void **state) {
  ctx *c = *state;
  tlog_created(&c->log, "L1", "P1", "A", NULL);
  tlog_updated(&c->log, "L1", "P1", NULL, "P2", NULL, NULL);
  ll_err err = {0};
  assert_int_equal(ll_views_apply(c->v, c->log.e, 2, &err), -1);
  assert_non_null(strstr(err.message, "product"));
  assert_int_equal(ll_views_position(c->v), 0);
}

/* A lot is (product, lot id): two products with a lot L1 are two lots,
 * each with its own row, quantities and history; lists show both, lot id
 * first; the lot id index says which products use L1. */
static void test_same_lot_id_in_two_products(void **state) {
  ctx *c = *state;
  tlog_created(&c->log, "L1", "P2", "B", NULL);
  tlog_created(&c->log, "L1", "P1", "A", NULL);
  tlog_created(&c->log, "L0", "P3", "C", NULL);
  tlog_moved(&c->log, "L1", "P2", Q(2), "V", LL_USAGE_SUPPLIER, "S",
             LL_USAGE_INTERNAL);
  tlog_moved(&c->log, "L1", "P1", Q(5), "V", LL_USAGE_SUPPLIER, "S",
             LL_USAGE_INTERNAL);
  apply_all(c);

  ll_lot a = get_lot(c->v, "P1", "L1"), b = get_lot(c->v, "P2", "L1");
  assert_string_equal(a.name, "A");
  assert_int_equal(a.on_hand_micro, Q(5));
  assert_string_equal(b.name, "B");
  assert_int_equal(b.on_hand_micro, Q(2));
  ll_lot_free(&a);
  ll_lot_free(&b);
  assert_false(lot_exists(c->v, "P3", "L1"));
  locs l = get_locs(c->v, "P2", "L1", false);
  assert_int_equal(l.n, 1);
  assert_loc(&l, 0, "S", LL_USAGE_INTERNAL, Q(2));
  ll_lot_locations_free(l.a, l.n);

  ll_lot *lots = NULL;
  char *next = NULL;
  size_t n = list(c->v, &(ll_lot_filter){.limit = 2}, &lots, &next);
  assert_int_equal(n, 2);
  assert_string_equal(lots[0].lot_id, "L0");
  assert_string_equal(lots[1].lot_id, "L1");
  assert_string_equal(lots[1].product_id, "P1");
  ll_lots_free(lots, n);
  /* The page ended inside L1: the cursor names the product too. */
  assert_string_equal(next, "2:L1P1");
  char *cursor = next;
  n = list(c->v, &(ll_lot_filter){.limit = 2, .cursor = cursor}, &lots, &next);
  free(cursor);
  assert_int_equal(n, 1);
  assert_string_equal(lots[0].product_id, "P2");
  assert_null(next);
  ll_lots_free(lots, n);

  ll_err err = {0};
  ll_views_reader *r = ll_views_reader_open(c->v, &err);
  assert_non_null(r);
  char **products = NULL;
  assert_int_equal(ll_views_lot_products(r, "L1", &products, &n, &err), 0);
  assert_int_equal(n, 2);
  assert_string_equal(products[0], "P1");
  assert_string_equal(products[1], "P2");
  ll_views_lot_products_free(products, n);
  assert_int_equal(ll_views_lot_products(r, "L9", &products, &n, &err), 0);
  assert_int_equal(n, 0);
  ll_views_lot_products_free(products, n);
  ll_views_reader_close(r);
}

/* Is the lot there for the reader (its snapshot)? */
static bool reader_has_lot(ll_views_reader *r, const char *product_id,
                           const char *lot_id) {
  ll_lot lot;
  ll_lot_init(&lot);
  bool found = false;
  ll_err err = {0};
  assert_int_equal(
      ll_views_reader_get_lot(r, product_id, lot_id, &lot, &found, &err), 0);
  ll_lot_free(&lot);
  return found;
}

static ll_views_reader *open_reader(ll_views *v) {
  ll_err err = {0};
  ll_views_reader *r = ll_views_reader_open(v, &err);
  if (r == NULL)
    fail_msg("reader: %s", err.message);
  return r;
}

/* Readers opened while the position stands still share one snapshot; the
 * first after an apply stands at the new position, and a reader opened
 * before keeps its own moment until it closes. */
static void
test_readers_share_a_snapshot_until_the_position_moves(void **state) {
  ctx *c = *state;
  tlog_created(&c->log, "L1", "P1", "A", "PO-1");
  apply_ok(c->v, c->log.e, 1);
  ll_views_reader *r1 = open_reader(c->v), *r2 = open_reader(c->v);
  assert_ptr_equal(r1->snap, r2->snap);
  assert_int_equal(ll_views_reader_position(r1), 1);

  tlog_created(&c->log, "L2", "P1", "B", "PO-2");
  apply_ok(c->v, &c->log.e[1], 1);
  ll_views_reader *r3 = open_reader(c->v);
  assert_ptr_not_equal(r3->snap, r1->snap);
  assert_int_equal(ll_views_reader_position(r3), 2);
  assert_true(reader_has_lot(r3, "P1", "L2"));
  assert_false(reader_has_lot(r1, "P1", "L2"));
  assert_true(reader_has_lot(r2, "P1", "L1"));
  ll_views_reader_close(r1);
  ll_views_reader_close(r2); /* the last of the old snapshot's readers */

  ll_views_reader *r4 = open_reader(c->v);
  assert_ptr_equal(r4->snap, r3->snap);
  assert_int_equal(ll_views_reader_position(r4), 2);
  ll_views_reader_close(r3);
  ll_views_reader_close(r4);
  /* The views close with the shared snapshot still held (teardown). */
}

static void test_update_keeps_what_it_does_not_name(void **state) {
  ctx *c = *state;
  ll_event *ev = tlog_created(&c->log, "L1", "P1", "A", "PO-7");
  ev->description = ll_strdup("desc");
  ev->use_by_at = (ll_opt_time){.set = true, .ms = 5000};
  tlog_moved(&c->log, "L1", "P1", Q(4), "V", LL_USAGE_SUPPLIER, "S",
             LL_USAGE_INTERNAL);
  tlog_updated(&c->log, "L1", "P1", NULL, NULL, NULL, "");
  apply_all(c);
  ll_lot lot = get_lot(c->v, "P1", "L1");
  assert_string_equal(lot.name, "A");
  assert_string_equal(lot.product_id, "P1");
  assert_string_equal(lot.reference, "PO-7");
  assert_null(lot.description);
  assert_true(lot.use_by_at.set);
  assert_int_equal(lot.use_by_at.ms, 5000);
  assert_int_equal(lot.on_hand_micro, Q(4));
  assert_int_equal(lot.move_count, 1);
  assert_int_equal(lot.version, 2);
  ll_lot_free(&lot);
}

static void test_reapplying_old_positions_is_a_no_op(void **state) {
  ctx *c = *state;
  build_receipt_log(&c->log);
  apply_ok(c->v, c->log.e, 3);
  ll_buf before;
  ll_buf_init(&before);
  views_dump(c->v, &before);

  apply_ok(c->v, c->log.e, 3);     /* all old */
  apply_ok(c->v, c->log.e + 1, 1); /* one old */
  assert_views_dump(c->v, &before);
  assert_int_equal(ll_views_position(c->v), 3);

  apply_ok(c->v, c->log.e + 1, 4); /* 2,3 old; 4,5 new */
  assert_int_equal(ll_views_position(c->v), 5);
  ll_lot lot = get_lot(c->v, "P1", "L1");
  assert_int_equal(lot.on_hand_micro, 7499999);
  assert_int_equal(lot.move_count, 4);
  ll_lot_free(&lot);

  apply_ok(c->v, NULL, 0);
  assert_int_equal(ll_views_position(c->v), 5);
  ll_buf_free(&before);
}

static void test_gap_is_an_error_and_writes_nothing(void **state) {
  ctx *c = *state;
  build_receipt_log(&c->log);
  ll_err err = {0};
  /* 2 without 1 */
  assert_int_equal(ll_views_apply(c->v, c->log.e + 1, 2, &err), -1);
  assert_non_null(strstr(err.message, "missing"));
  assert_int_equal(ll_views_position(c->v), 0);

  /* 1, 2, then 4: the whole run is refused, even 1 and 2 */
  ll_entry run[3] = {c->log.e[0], c->log.e[1], c->log.e[3]};
  assert_int_equal(ll_views_apply(c->v, run, 3, &err), -1);
  assert_int_equal(ll_views_position(c->v), 0);
  assert_false(lot_exists(c->v, "P1", "L1"));

  apply_ok(c->v, c->log.e, 2);
  assert_int_equal(ll_views_apply(c->v, c->log.e + 3, 1, &err), -1);
  assert_int_equal(ll_views_position(c->v), 2);
  ll_lot lot = get_lot(c->v, "P1", "L1");
  assert_int_equal(lot.on_hand_micro, 10500000);
  ll_lot_free(&lot);
}

static void test_log_that_does_not_fit_is_an_error(void **state) {
  ctx *c = *state;
  tlog_created(&c->log, "L1", "P1", "A", NULL);
  tlog_moved(&c->log, "L2", "P1", Q(1), "V", LL_USAGE_SUPPLIER, "S",
             LL_USAGE_INTERNAL);
  ll_err err = {0};
  assert_int_equal(ll_views_apply(c->v, c->log.e, 2, &err), -1);
  assert_non_null(strstr(err.message, "L2"));
  assert_false(lot_exists(c->v, "P1", "L1"));
  assert_int_equal(ll_views_position(c->v), 0);

  /* A second LotCreated of the same lot. */
  tlog_free(&c->log);
  tlog_created(&c->log, "L1", "P1", "A", NULL);
  tlog_created(&c->log, "L1", "P1", "B", NULL);
  assert_int_equal(ll_views_apply(c->v, c->log.e, 2, &err), -1);
  assert_int_equal(ll_views_position(c->v), 0);

  /* Stock going below zero breaks an invariant the rules promise. */
  tlog_free(&c->log);
  tlog_created(&c->log, "L1", "P1", "A", NULL);
  tlog_moved(&c->log, "L1", "P1", Q(1), "S", LL_USAGE_INTERNAL, "C",
             LL_USAGE_CUSTOMER);
  assert_int_equal(ll_views_apply(c->v, c->log.e, 2, &err), -1);
  assert_int_equal(err.kind, LL_ERR_CORRUPT);
  assert_non_null(strstr(err.message, "below zero"));
  assert_int_equal(ll_views_position(c->v), 0);

  /* A location used with two usages: the same. */
  tlog_free(&c->log);
  tlog_created(&c->log, "L1", "P1", "A", NULL);
  tlog_moved(&c->log, "L1", "P1", Q(2), "V", LL_USAGE_SUPPLIER, "S",
             LL_USAGE_INTERNAL);
  tlog_moved(&c->log, "L1", "P1", Q(1), "S", LL_USAGE_TRANSIT, "C",
             LL_USAGE_CUSTOMER);
  assert_int_equal(ll_views_apply(c->v, c->log.e, 3, &err), -1);
  assert_int_equal(err.kind, LL_ERR_CORRUPT);
  assert_non_null(strstr(err.message, "used as TRANSIT"));
  assert_int_equal(ll_views_position(c->v), 0);
}

/* L01..L09 over two products; names repeat across products. */
static void build_catalogue(tlog *l) {
  static const struct {
    const char *lot, *product, *name, *ref;
  } rows[] = {
      {"L05", "P1", "Batch-A", "PO-100"}, {"L02", "P2", "Batch-A", NULL},
      {"L09", "P1", "Batch-B", "mo-42"},  {"L01", "P1", "Batch-C", NULL},
      {"L07", "P2", "Batch-D", "MO-42x"}, {"L03", "P1", "Batch-E", NULL},
      {"L08", "P1", "batch-f", NULL},     {"L04", "P2", "Batch-G", NULL},
      {"L06", "P1", "Batch-H", NULL},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    tlog_created(l, rows[i].lot, rows[i].product, rows[i].name, rows[i].ref);
}

static void test_list_filters(void **state) {
  ctx *c = *state;
  build_catalogue(&c->log);
  apply_all(c);
  char ids[512];
  char *next = NULL;

  list_ids(c->v, &(ll_lot_filter){0}, ids, sizeof ids, &next);
  assert_string_equal(ids, "L01,L02,L03,L04,L05,L06,L07,L08,L09");
  assert_null(next);
  list_ids(c->v, &(ll_lot_filter){.product_id = "P2"}, ids, sizeof ids, &next);
  assert_string_equal(ids, "L02,L04,L07");
  list_ids(c->v, &(ll_lot_filter){.product_id = "P3"}, ids, sizeof ids, &next);
  assert_string_equal(ids, "");
  list_ids(c->v, &(ll_lot_filter){.name = "Batch-A"}, ids, sizeof ids, &next);
  assert_string_equal(ids, "L02,L05");
  list_ids(c->v, &(ll_lot_filter){.name = "Batch-A", .product_id = "P1"}, ids,
           sizeof ids, &next);
  assert_string_equal(ids, "L05");
  list_ids(c->v, &(ll_lot_filter){.name = "batch-a"}, ids, sizeof ids, &next);
  assert_string_equal(ids, ""); /* name is exact */
  /* q: case-insensitive, over lot_id, name and reference */
  list_ids(c->v, &(ll_lot_filter){.q = "MO-42"}, ids, sizeof ids, &next);
  assert_string_equal(ids, "L07,L09");
  list_ids(c->v, &(ll_lot_filter){.q = "BATCH-F"}, ids, sizeof ids, &next);
  assert_string_equal(ids, "L08");
  list_ids(c->v, &(ll_lot_filter){.q = "l0"}, ids, sizeof ids, &next);
  assert_string_equal(ids, "L01,L02,L03,L04,L05,L06,L07,L08,L09");
  list_ids(c->v, &(ll_lot_filter){.q = "po-1", .product_id = "P2"}, ids,
           sizeof ids, &next);
  assert_string_equal(ids, "");
  /* empty strings are no filter */
  list_ids(c->v, &(ll_lot_filter){.q = "", .name = "", .product_id = ""}, ids,
           sizeof ids, &next);
  assert_string_equal(ids, "L01,L02,L03,L04,L05,L06,L07,L08,L09");
}

/* Walk every page of f with the given limit; ids of all pages joined. */
static size_t walk_pages(ll_views *v, ll_lot_filter f, char *ids,
                         size_t ids_size) {
  size_t pages = 0;
  char *cursor = NULL;
  ids[0] = '\0';
  do {
    char page[512];
    char *next = NULL;
    f.cursor = cursor;
    list_ids(v, &f, page, sizeof page, &next);
    if (ids[0] != '\0' && page[0] != '\0')
      strncat(ids, "|", ids_size - strlen(ids) - 1);
    strncat(ids, page, ids_size - strlen(ids) - 1);
    free(cursor);
    cursor = next;
    pages++;
    assert_true(pages < 100);
  } while (cursor != NULL);
  return pages;
}

static void test_list_pages_with_cursor(void **state) {
  ctx *c = *state;
  build_catalogue(&c->log);
  apply_all(c);
  char ids[512];

  assert_int_equal(
      walk_pages(c->v, (ll_lot_filter){.limit = 4}, ids, sizeof ids), 3);
  assert_string_equal(ids, "L01,L02,L03,L04|L05,L06,L07,L08|L09");
  /* An exact fit ends without an empty extra page. */
  assert_int_equal(
      walk_pages(c->v, (ll_lot_filter){.limit = 3}, ids, sizeof ids), 3);
  assert_string_equal(ids, "L01,L02,L03|L04,L05,L06|L07,L08,L09");
  assert_int_equal(walk_pages(c->v,
                              (ll_lot_filter){.limit = 2, .product_id = "P1"},
                              ids, sizeof ids),
                   3);
  assert_string_equal(ids, "L01,L03|L05,L06|L08,L09");
  assert_int_equal(walk_pages(c->v, (ll_lot_filter){.limit = 1, .q = "batch-a"},
                              ids, sizeof ids),
                   2);
  assert_string_equal(ids, "L02|L05");

  /* A plain lot id as the cursor still means "after it". */
  char *next = NULL;
  list_ids(c->v, &(ll_lot_filter){.cursor = "L055", .limit = 2}, ids,
           sizeof ids, &next);
  assert_string_equal(ids, "L06,L07");
  assert_string_equal(next, "3:L07P2"); /* lot id and product */
  free(next);
  list_ids(c->v, &(ll_lot_filter){.cursor = "L09"}, ids, sizeof ids, &next);
  assert_string_equal(ids, "");
  assert_null(next);
}

static void test_list_limit_default_and_clamp(void **state) {
  ctx *c = *state;
  size_t total = LL_LIST_LIMIT_MAX + 5;
  for (size_t i = 0; i < total; i++) {
    char id[32], name[32];
    snprintf(id, sizeof id, "L%05zu", i);
    snprintf(name, sizeof name, "N%05zu", i);
    tlog_created(&c->log, id, "P1", name, NULL);
  }
  apply_all(c);

  ll_lot *lots = NULL;
  char *next = NULL;
  size_t n = list(c->v, &(ll_lot_filter){0}, &lots, &next);
  assert_int_equal(n, LL_LIST_LIMIT_DEFAULT);
  assert_string_equal(next, "6:L00049P1");
  ll_lots_free(lots, n);
  free(next);

  n = list(c->v, &(ll_lot_filter){.limit = 100000, .product_id = "P1"}, &lots,
           &next);
  assert_int_equal(n, LL_LIST_LIMIT_MAX);
  assert_string_equal(lots[n - 1].lot_id, "L00999");
  assert_string_equal(next, "6:L00999P1");
  ll_lots_free(lots, n);

  ll_lot_filter f = {.limit = 100000, .cursor = next};
  n = list(c->v, &f, &lots, &next);
  free((char *)f.cursor);
  assert_int_equal(n, 5);
  assert_null(next);
  ll_lots_free(lots, n);
}

static void test_reopen_resumes_at_checkpoint(void **state) {
  ctx *c = *state;
  build_receipt_log(&c->log);
  apply_ok(c->v, c->log.e, 3);
  ll_views_close(c->v);

  ll_err err = {0};
  c->v = ll_views_open(c->dir, &err);
  if (c->v == NULL)
    fail_msg("reopen: %s", err.message);
  assert_int_equal(ll_views_position(c->v), 3);
  ll_lot lot = get_lot(c->v, "P1", "L1");
  assert_int_equal(lot.on_hand_micro, 10500000);
  ll_lot_free(&lot);

  /* The projector re-reads from an older position after a crash: only the
   * new tail counts. */
  apply_all(c);
  assert_int_equal(ll_views_position(c->v), 5);
  lot = get_lot(c->v, "P1", "L1");
  assert_int_equal(lot.on_hand_micro, 7499999);
  assert_int_equal(lot.move_count, 4);
  ll_lot_free(&lot);
}

static void test_batching_does_not_change_the_views(void **state) {
  ctx *c = *state;
  build_catalogue(&c->log);
  build_receipt_log(&c->log);
  tlog_moved(&c->log, "L05", "P1", 1, "V", LL_USAGE_SUPPLIER, "S",
             LL_USAGE_INTERNAL);
  tlog_updated(&c->log, "L05", "P1", "Renamed", NULL, "", "d");
  tlog_moved(&c->log, "L05", "P1", 1, "S", LL_USAGE_INTERNAL, "V",
             LL_USAGE_SUPPLIER);
  tlog_moved(&c->log, "L1", "P1", 2250000, "WH/Transit", LL_USAGE_TRANSIT,
             "WH/Stock", LL_USAGE_INTERNAL);

  apply_all(c); /* one run */

  char *dir2 = scratch_dir();
  ll_err err = {0};
  ll_views *v2 = ll_views_open(dir2, &err);
  assert_non_null(v2);
  for (size_t i = 0; i < c->log.n; i++) /* one entry per run */
    apply_ok(v2, &c->log.e[i], 1);

  char *dir3 = scratch_dir();
  ll_views *v3 = ll_views_open(dir3, &err);
  assert_non_null(v3);
  for (size_t i = 0; i < c->log.n; i += 4) /* overlapping runs */
    apply_ok(v3, &c->log.e[i], i + 6 <= c->log.n ? 6 : c->log.n - i);

  ll_buf a;
  ll_buf_init(&a);
  views_dump(c->v, &a);
  assert_views_dump(v2, &a);
  assert_views_dump(v3, &a);
  /* L05 went in and out again: no zero rows are left behind. */
  assert_false(raw_has(c->v, "qty/L05\x1fP1\x1fS"));
  assert_false(raw_has(c->v, "qty/L05\x1fP1\x1fV"));

  ll_buf_free(&a);
  ll_views_close(v2);
  ll_views_close(v3);
  rm_tree(dir2);
  rm_tree(dir3);
}

static void test_open_refuses_a_foreign_database(void **state) {
  ctx *c = *state;
  /* A database with a checkpoint but no format mark is not ours. */
  char *rerr = NULL;
  rocksdb_delete(c->v->db, c->v->write_opts, LL_VK_FORMAT, strlen(LL_VK_FORMAT),
                 &rerr);
  assert_null(rerr);
  rocksdb_put(c->v->db, c->v->write_opts, LL_VK_POSITION,
              strlen(LL_VK_POSITION), "\0\0\0\0\0\0\0\1", 8, &rerr);
  assert_null(rerr);
  ll_views_close(c->v);
  ll_err err = {0};
  c->v = ll_views_open(c->dir, &err);
  assert_null(c->v);
  assert_int_equal(err.kind, LL_ERR_CORRUPT);
  assert_non_null(strstr(err.message, "format"));
}

static void test_open_refuses_another_format(void **state) {
  ctx *c = *state;
  /* Views written by another build: refused with the remedy, untouched. */
  const char newer = LL_VIEWS_FORMAT + 1; /* uvar of a small number */
  char *rerr = NULL;
  rocksdb_put(c->v->db, c->v->write_opts, LL_VK_FORMAT, strlen(LL_VK_FORMAT),
              &newer, 1, &rerr);
  assert_null(rerr);
  ll_views_close(c->v);
  ll_err err = {0};
  c->v = ll_views_open(c->dir, &err);
  assert_null(c->v);
  assert_int_equal(err.kind, LL_ERR_CORRUPT);
  assert_non_null(strstr(err.message, c->dir));
  assert_non_null(strstr(err.message, "lotline rebuild"));
  c->v = ll_views_open(c->dir, &err);
  assert_null(c->v);
  assert_int_equal(err.kind, LL_ERR_CORRUPT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_moves_give_locations_and_on_hand,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_emptied_location_disappears, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_locations_of_unknown_lot_are_empty,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_update_renames_and_clears, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_product_change_in_the_log_is_an_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_same_lot_id_in_two_products, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_update_keeps_what_it_does_not_name,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_reapplying_old_positions_is_a_no_op,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_gap_is_an_error_and_writes_nothing,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_log_that_does_not_fit_is_an_error,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_readers_share_a_snapshot_until_the_position_moves, setup,
          teardown),
      cmocka_unit_test_setup_teardown(test_list_filters, setup, teardown),
      cmocka_unit_test_setup_teardown(test_list_pages_with_cursor, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_list_limit_default_and_clamp, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_reopen_resumes_at_checkpoint, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_batching_does_not_change_the_views,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_open_refuses_a_foreign_database,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_open_refuses_another_format, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
