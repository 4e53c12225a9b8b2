/* test_trace_views.c — the traceability read models, fed hand-made log
 * entries: lot history and as-of replay, genealogy and deliveries, the
 * location tree, the FEFO index, consistent readers, and that any batching
 * of the same log leaves byte-identical views. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "views_fixture.h"
#include "views_internal.h"

#define Q(units) ((int64_t)(units)*LL_MICRO)
#define DAY_MS 86400000LL

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

static ll_views_reader *reader(ll_views *v) {
  ll_err err = {0};
  ll_views_reader *r = ll_views_reader_open(v, &err);
  if (r == NULL)
    fail_msg("reader: %s", err.message);
  return r;
}

/* A move with a reference; recorded_at is occurred_at + 500 ms. */
static ll_event *move(tlog *l, const char *lot, const char *product,
                      int64_t quantity_micro, const char *from,
                      ll_usage from_usage, const char *to, ll_usage to_usage,
                      const char *reference) {
  ll_event *ev = tlog_moved(l, lot, product, quantity_micro, from, from_usage,
                            to, to_usage);
  ev->reference = ll_strdup(reference);
  return ev;
}

static void stamp_recorded_times(tlog *l) {
  for (size_t i = 0; i < l->n; i++)
    l->e[i].recorded_at_ms = l->e[i].event.occurred_at_ms + 500;
}

/* How many rows start with prefix. */
static size_t count_rows(ll_views *v, const char *prefix) {
  size_t n = 0, plen = strlen(prefix);
  rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
  rocksdb_iterator_t *it = rocksdb_create_iterator(v->db, ro);
  for (rocksdb_iter_seek(it, prefix, plen); rocksdb_iter_valid(it);
       rocksdb_iter_next(it)) {
    size_t kl;
    const char *k = rocksdb_iter_key(it, &kl);
    if (kl < plen || memcmp(k, prefix, plen) != 0)
      break;
    n++;
  }
  rocksdb_iter_destroy(it);
  rocksdb_readoptions_destroy(ro);
  return n;
}

/* ---- the three-level chain used by several tests ----
 * RAW (flour) -> MO-1 -> MIX (dough) -> MO-2 -> BREAD, delivered to two
 * customers; STARCH also goes into MO-1. In MO-2 the output is declared
 * before the component is consumed. */
static void build_chain(tlog *l) {
  tlog_created(l, "RAW", "FLOUR", "F-001", NULL);
  tlog_created(l, "STARCH", "STARCH", "S-001", NULL);
  tlog_created(l, "MIX", "DOUGH", "D-001", NULL);
  tlog_created(l, "BREAD", "BREAD", "B-001", NULL);
  move(l, "RAW", "FLOUR", Q(100), "Vendors", LL_USAGE_SUPPLIER, "WH/Stock",
       LL_USAGE_INTERNAL, "PO-1");
  move(l, "STARCH", "STARCH", Q(5), "Vendors", LL_USAGE_SUPPLIER, "WH/Stock",
       LL_USAGE_INTERNAL, "PO-2");
  move(l, "RAW", "FLOUR", Q(40), "WH/Stock", LL_USAGE_INTERNAL,
       "Virtual/Production", LL_USAGE_PRODUCTION, "MO-1");
  move(l, "STARCH", "STARCH", Q(2), "WH/Stock", LL_USAGE_INTERNAL,
       "Virtual/Production", LL_USAGE_PRODUCTION, "MO-1");
  move(l, "MIX", "DOUGH", Q(60), "Virtual/Production", LL_USAGE_PRODUCTION,
       "WH/Stock", LL_USAGE_INTERNAL, "MO-1");
  /* a second consumption after the output: the edge total follows */
  move(l, "RAW", "FLOUR", Q(10), "WH/Stock", LL_USAGE_INTERNAL,
       "Virtual/Production", LL_USAGE_PRODUCTION, "MO-1");
  /* MO-2: output first, then the component */
  move(l, "BREAD", "BREAD", Q(120), "Virtual/Production", LL_USAGE_PRODUCTION,
       "WH/Stock", LL_USAGE_INTERNAL, "MO-2");
  move(l, "MIX", "DOUGH", Q(60), "WH/Stock", LL_USAGE_INTERNAL,
       "Virtual/Production", LL_USAGE_PRODUCTION, "MO-2");
  move(l, "BREAD", "BREAD", Q(30), "WH/Stock", LL_USAGE_INTERNAL,
       "Partners/Customers/ACME", LL_USAGE_CUSTOMER, "SO-1");
  move(l, "BREAD", "BREAD", Q(45), "WH/Stock", LL_USAGE_INTERNAL,
       "Partners/Customers/Globex", LL_USAGE_CUSTOMER, "SO-2");
  /* not production: no reference, and production to production */
  move(l, "RAW", "FLOUR", Q(1), "WH/Stock", LL_USAGE_INTERNAL,
       "Virtual/Production", LL_USAGE_PRODUCTION, NULL);
  move(l, "RAW", "FLOUR", Q(1), "Virtual/Production", LL_USAGE_PRODUCTION,
       "Virtual/Production-2", LL_USAGE_PRODUCTION, "MO-1");
  stamp_recorded_times(l);
}

/* The product of each lot these tests create: a lot is (product, lot id). */
static const char *product_of(const char *lot) {
  static const char *const map[][2] = {{"RAW", "FLOUR"},
                                       {"RAW1", "FLOUR"},
                                       {"STARCH", "STARCH"},
                                       {"MIX", "DOUGH"},
                                       {"BREAD", "BREAD"}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strcmp(map[i][0], lot) == 0)
      return map[i][1];
  return "P";
}

static ll_trace trace(ll_views *v, const char *lot, ll_trace_direction dir,
                      unsigned depth) {
  ll_views_reader *r = reader(v);
  ll_trace t;
  ll_err err = {0};
  if (ll_views_trace(r, product_of(lot), lot, dir, depth, &t, &err) != 0)
    fail_msg("trace: %s", err.message);
  ll_views_reader_close(r);
  return t;
}

static size_t node_index(const ll_trace *t, const char *lot) {
  for (size_t i = 0; i < t->n_nodes; i++) {
    if (strcmp(t->nodes[i].lot_id, lot) == 0 && !t->nodes[i].repeat)
      return i;
  }
  fail_msg("lot %s is not in the trace", lot);
  return SIZE_MAX;
}

/* ---- history ---- */

static void test_history_lists_the_lots_events_in_order(void **state) {
  ctx *c = *state;
  build_chain(&c->log);
  /* L10 must not show up in the history of a lot "RAW1"-like prefix. */
  tlog_created(&c->log, "RAW1", "FLOUR", "F-002", NULL);
  tlog_updated(&c->log, "RAW", "FLOUR", NULL, NULL, "PO-1", "bag 3");
  apply_all(c);

  ll_views_reader *r = reader(c->v);
  assert_int_equal(ll_views_reader_position(r), c->log.n);
  ll_history_entry *h = NULL;
  size_t n = 0;
  bool more = true;
  ll_err err = {0};
  assert_int_equal(ll_views_lot_history(r, product_of("RAW"), "RAW", 0,
                                        LL_LIST_LIMIT_MAX, &h, &n, &more, &err),
                   0);
  assert_false(more);
  /* created, received, 2 consumptions, unlinked consumption, p->p, update */
  assert_int_equal(n, 7);
  assert_int_equal(h[0].event.type, LL_EV_LOT_CREATED);
  assert_int_equal(h[0].position, 1);
  assert_int_equal(h[1].event.type, LL_EV_STOCK_MOVED);
  assert_int_equal(h[1].event.quantity_micro, Q(100));
  assert_string_equal(h[1].event.to.id, "WH/Stock");
  assert_string_equal(h[1].event.reference, "PO-1");
  assert_int_equal(h[1].recorded_at_ms, h[1].event.occurred_at_ms + 500);
  for (size_t i = 1; i < n; i++)
    assert_true(h[i].position > h[i - 1].position);
  assert_int_equal(h[6].event.type, LL_EV_LOT_UPDATED);
  assert_string_equal(h[6].event.description, "bag 3");
  uint64_t third = h[2].position;
  ll_history_free(h, n);

  /* pages: two at a time, after a position */
  assert_int_equal(ll_views_lot_history(r, product_of("RAW"), "RAW", 0, 2, &h,
                                        &n, &more, &err),
                   0);
  assert_int_equal(n, 2);
  assert_true(more);
  uint64_t after = h[1].position;
  ll_history_free(h, n);
  assert_int_equal(ll_views_lot_history(r, product_of("RAW"), "RAW", after, 2,
                                        &h, &n, &more, &err),
                   0);
  assert_int_equal(n, 2);
  assert_int_equal(h[0].position, third);
  ll_history_free(h, n);

  assert_int_equal(ll_views_lot_history(r, product_of("NOPE"), "NOPE", 0, 10,
                                        &h, &n, &more, &err),
                   0);
  assert_int_equal(n, 0);
  assert_false(more);
  ll_history_free(h, n);
  assert_int_equal(ll_views_lot_history(r, product_of("RAW1"), "RAW1", 0, 10,
                                        &h, &n, &more, &err),
                   0);
  assert_int_equal(n, 1);
  ll_history_free(h, n);
  ll_views_reader_close(r);
}

/* ---- as of ---- */

static void assert_same_locations(const ll_lot_location *a, size_t na,
                                  const ll_lot_location *b, size_t nb) {
  assert_int_equal(na, nb);
  for (size_t i = 0; i < na; i++) {
    assert_string_equal(a[i].location, b[i].location);
    assert_int_equal(a[i].usage, b[i].usage);
    assert_int_equal(a[i].quantity_micro, b[i].quantity_micro);
  }
}

/* For every prefix of the log, as_of(P) on the full views equals what a
 * second views database showed after applying exactly 1..P. */
static void test_as_of_position_replays_the_locations_view(void **state) {
  ctx *c = *state;
  build_chain(&c->log);
  apply_all(c);
  char *dir2 = scratch_dir();
  ll_err err = {0};
  ll_views *v2 = ll_views_open(dir2, &err);
  assert_non_null(v2);
  static const char *const lots[] = {"RAW", "MIX", "BREAD", "STARCH"};
  ll_views_reader *full = reader(c->v);
  for (size_t p = 0; p <= c->log.n; p++) {
    if (p > 0)
      apply_ok(v2, &c->log.e[p - 1], 1);
    for (size_t k = 0; k < 4; k++) {
      for (int all = 0; all <= 1; all++) {
        ll_as_of at = {.by_time = false, .position = p};
        ll_lot_as_of past;
        assert_int_equal(ll_views_lot_as_of(full, product_of(lots[k]), lots[k],
                                            &at, all, &past, &err),
                         0);
        ll_lot then;
        bool found = false;
        ll_lot_init(&then);
        assert_int_equal(ll_views_get_lot(v2, product_of(lots[k]), lots[k],
                                          &then, &found, &err),
                         0);
        assert_int_equal(past.existed, found);
        if (found) {
          ll_lot_location *now = NULL;
          size_t n = 0;
          assert_int_equal(ll_views_lot_locations(v2, product_of(lots[k]),
                                                  lots[k], all, &now, &n, &err),
                           0);
          assert_same_locations(past.locations, past.n_locations, now, n);
          assert_int_equal(past.on_hand_micro, then.on_hand_micro);
          assert_string_equal(past.product_id, then.product_id);
          assert_true(past.last_event_position <= p);
          ll_lot_locations_free(now, n);
          ll_lot_free(&then);
        }
        ll_lot_as_of_free(&past);
      }
    }
  }
  ll_views_reader_close(full);
  ll_views_close(v2);
  rm_tree(dir2);
}

static void test_as_of_time_uses_recorded_at(void **state) {
  ctx *c = *state;
  build_chain(&c->log);
  apply_all(c);
  ll_views_reader *r = reader(c->v);
  ll_err err = {0};
  /* Entry 5 (RAW received) is recorded at T+5.5 s; 7 (consumed) at 7.5 s. */
  ll_as_of before = {.by_time = true, .time_ms = T_EPOCH_MS + 5499};
  ll_as_of at5 = {.by_time = true, .time_ms = T_EPOCH_MS + 5500};
  ll_as_of at7 = {.by_time = true, .time_ms = T_EPOCH_MS + 7600};
  ll_lot_as_of a;
  assert_int_equal(
      ll_views_lot_as_of(r, product_of("RAW"), "RAW", &before, false, &a, &err),
      0);
  assert_true(a.existed);
  assert_int_equal(a.n_locations, 0);
  assert_int_equal(a.last_event_position, 1);
  ll_lot_as_of_free(&a);
  assert_int_equal(
      ll_views_lot_as_of(r, product_of("RAW"), "RAW", &at5, false, &a, &err),
      0);
  assert_int_equal(a.n_locations, 1);
  assert_int_equal(a.locations[0].quantity_micro, Q(100));
  assert_int_equal(a.last_event_position, 5);
  ll_lot_as_of_free(&a);
  assert_int_equal(
      ll_views_lot_as_of(r, product_of("RAW"), "RAW", &at7, true, &a, &err), 0);
  assert_int_equal(a.on_hand_micro, Q(60));
  assert_int_equal(a.n_locations, 3); /* Vendors, Production, WH/Stock */
  ll_lot_as_of_free(&a);
  /* before the lot was created */
  ll_as_of early = {.by_time = true, .time_ms = T_EPOCH_MS};
  assert_int_equal(
      ll_views_lot_as_of(r, product_of("RAW"), "RAW", &early, false, &a, &err),
      0);
  assert_false(a.existed);
  ll_lot_as_of_free(&a);
  ll_views_reader_close(r);
}

/* ---- genealogy ---- */

static void test_chain_downstream_with_quantities_and_deliveries(void **state) {
  ctx *c = *state;
  build_chain(&c->log);
  apply_all(c);
  ll_trace t = trace(c->v, "RAW", LL_TRACE_DOWNSTREAM, LL_TRACE_DEPTH_MAX);
  assert_false(t.truncated);
  assert_int_equal(t.n_nodes, 3);
  assert_string_equal(t.nodes[0].lot_id, "RAW");
  assert_string_equal(t.nodes[0].product_id, "FLOUR");
  assert_int_equal(t.nodes[0].n_links, 0);
  size_t mix = node_index(&t, "MIX"), bread = node_index(&t, "BREAD");
  assert_int_equal(t.nodes[mix].parent, 0);
  assert_int_equal(t.nodes[mix].depth, 1);
  assert_string_equal(t.nodes[mix].product_id, "DOUGH");
  assert_int_equal(t.nodes[mix].n_links, 1);
  assert_string_equal(t.nodes[mix].links[0].reference, "MO-1");
  /* 40 + 10 consumed (the unlinked and p->p moves do not count) */
  assert_int_equal(t.nodes[mix].links[0].consumed_micro, Q(50));
  assert_int_equal(t.nodes[mix].links[0].produced_micro, Q(60));
  assert_int_equal(t.nodes[bread].parent, mix);
  assert_int_equal(t.nodes[bread].depth, 2);
  assert_int_equal(t.nodes[bread].links[0].consumed_micro, Q(60));
  assert_int_equal(t.nodes[bread].links[0].produced_micro, Q(120));
  /* deliveries of every lot in the tree: BREAD's two */
  assert_int_equal(t.n_deliveries, 2);
  assert_string_equal(t.deliveries[0].lot_id, "BREAD");
  assert_string_equal(t.deliveries[0].location, "Partners/Customers/ACME");
  assert_int_equal(t.deliveries[0].quantity_micro, Q(30));
  assert_string_equal(t.deliveries[0].reference, "SO-1");
  assert_string_equal(t.deliveries[1].location, "Partners/Customers/Globex");
  assert_int_equal(t.deliveries[1].quantity_micro, Q(45));
  assert_true(t.deliveries[0].position < t.deliveries[1].position);
  ll_trace_free(&t);

  /* STARCH went into MO-1 too: its downstream reaches the same bread */
  t = trace(c->v, "STARCH", LL_TRACE_DOWNSTREAM, LL_TRACE_DEPTH_MAX);
  assert_int_equal(t.n_nodes, 3);
  assert_int_equal(t.n_deliveries, 2);
  ll_trace_free(&t);
}

static void test_chain_upstream(void **state) {
  ctx *c = *state;
  build_chain(&c->log);
  apply_all(c);
  ll_trace t = trace(c->v, "BREAD", LL_TRACE_UPSTREAM, LL_TRACE_DEPTH_MAX);
  /* BREAD <- MIX <- {RAW, STARCH} */
  assert_int_equal(t.n_nodes, 4);
  assert_string_equal(t.nodes[1].lot_id, "MIX");
  assert_string_equal(t.nodes[2].lot_id, "RAW");
  assert_string_equal(t.nodes[3].lot_id, "STARCH");
  assert_int_equal(t.nodes[3].parent, 1);
  assert_int_equal(t.nodes[3].links[0].consumed_micro, Q(2));
  assert_int_equal(t.nodes[3].links[0].produced_micro, Q(60));
  assert_int_equal(t.n_deliveries, 0); /* only downstream lists them */
  ll_trace_free(&t);
  /* unknown lot: empty trace */
  t = trace(c->v, "NOPE", LL_TRACE_UPSTREAM, 3);
  assert_int_equal(t.n_nodes, 0);
  ll_trace_free(&t);
}

static void test_trace_is_cycle_safe_and_depth_limited(void **state) {
  ctx *c = *state;
  tlog *l = &c->log;
  /* A -> B -> C -> A (a rework loop), and A -> D -> C (a diamond). */
  tlog_created(l, "A", "P", "a", NULL);
  tlog_created(l, "B", "P", "b", NULL);
  tlog_created(l, "C", "P", "c", NULL);
  tlog_created(l, "D", "P", "d", NULL);
  move(l, "A", "P", Q(9), "V", LL_USAGE_SUPPLIER, "S", LL_USAGE_INTERNAL, NULL);
  move(l, "A", "P", Q(1), "S", LL_USAGE_INTERNAL, "Prod", LL_USAGE_PRODUCTION,
       "R1");
  move(l, "B", "P", Q(1), "Prod", LL_USAGE_PRODUCTION, "S", LL_USAGE_INTERNAL,
       "R1");
  move(l, "B", "P", Q(1), "S", LL_USAGE_INTERNAL, "Prod", LL_USAGE_PRODUCTION,
       "R2");
  move(l, "C", "P", Q(1), "Prod", LL_USAGE_PRODUCTION, "S", LL_USAGE_INTERNAL,
       "R2");
  move(l, "C", "P", Q(1), "S", LL_USAGE_INTERNAL, "Prod", LL_USAGE_PRODUCTION,
       "R3");
  move(l, "A", "P", Q(1), "Prod", LL_USAGE_PRODUCTION, "S", LL_USAGE_INTERNAL,
       "R3");
  move(l, "A", "P", Q(1), "S", LL_USAGE_INTERNAL, "Prod", LL_USAGE_PRODUCTION,
       "R4");
  move(l, "D", "P", Q(1), "Prod", LL_USAGE_PRODUCTION, "S", LL_USAGE_INTERNAL,
       "R4");
  move(l, "D", "P", Q(1), "S", LL_USAGE_INTERNAL, "Prod", LL_USAGE_PRODUCTION,
       "R5");
  move(l, "C", "P", Q(1), "Prod", LL_USAGE_PRODUCTION, "S", LL_USAGE_INTERNAL,
       "R5");
  /* a rework: B consumed and produced under the same reference */
  move(l, "B", "P", Q(1), "Prod", LL_USAGE_PRODUCTION, "S", LL_USAGE_INTERNAL,
       "R2");
  apply_all(c);

  ll_trace t = trace(c->v, "A", LL_TRACE_DOWNSTREAM, LL_TRACE_DEPTH_MAX);
  /* A; B, D (depth 1); C via B, C via D (repeat); A via C (repeat) */
  assert_false(t.truncated);
  assert_int_equal(t.n_nodes, 6);
  size_t b = node_index(&t, "B"), cc = node_index(&t, "C");
  assert_int_equal(t.nodes[b].depth, 1);
  assert_int_equal(t.nodes[node_index(&t, "D")].depth, 1);
  assert_int_equal(t.nodes[cc].depth, 2);
  assert_int_equal(t.nodes[cc].parent, b);
  assert_true(t.nodes[4].repeat); /* C again, under D */
  assert_string_equal(t.nodes[4].lot_id, "C");
  assert_int_equal(t.nodes[4].parent, node_index(&t, "D"));
  assert_true(t.nodes[5].repeat); /* A again, under C: the cycle */
  assert_string_equal(t.nodes[5].lot_id, "A");
  assert_int_equal(t.nodes[5].parent, cc);
  assert_int_equal(t.nodes[5].depth, 3);
  /* B -> C only once (R2), although B is also produced under R2 */
  assert_int_equal(t.nodes[cc].n_links, 1);
  ll_trace_free(&t);

  t = trace(c->v, "A", LL_TRACE_DOWNSTREAM, 1);
  assert_true(t.truncated);
  assert_int_equal(t.n_nodes, 3);
  assert_true(t.nodes[1].truncated);
  assert_true(t.nodes[2].truncated);
  assert_false(t.nodes[0].truncated);
  ll_trace_free(&t);
  /* a rework (B consumed and produced under R2): no edge B -> B */
  assert_int_equal(count_rows(c->v, "gdn/P\x1f"
                                    "B\x1fP\x1f"
                                    "B\x1f"),
                   0);
  assert_true(count_rows(c->v, "gdn/P\x1f"
                               "B\x1fP\x1f"
                               "C\x1f") > 0);
}

/* A lot is (product, lot id): lot L of product X goes into a production
 * order that makes lot L of product Y. They are two lots, linked like any
 * other pair, not a rework; each node and delivery names its product. */
static void test_trace_links_lots_by_product_and_id(void **state) {
  ctx *c = *state;
  tlog *l = &c->log;
  tlog_created(l, "L", "X", "x", NULL);
  tlog_created(l, "L", "Y", "y", NULL);
  move(l, "L", "X", Q(5), "V", LL_USAGE_SUPPLIER, "S", LL_USAGE_INTERNAL, NULL);
  move(l, "L", "X", Q(2), "S", LL_USAGE_INTERNAL, "Prod", LL_USAGE_PRODUCTION,
       "MO-9");
  move(l, "L", "Y", Q(1), "Prod", LL_USAGE_PRODUCTION, "S", LL_USAGE_INTERNAL,
       "MO-9");
  move(l, "L", "Y", Q(1), "S", LL_USAGE_INTERNAL, "Customers",
       LL_USAGE_CUSTOMER, "SO-9");
  apply_all(c);

  ll_views_reader *r = reader(c->v);
  ll_trace t;
  ll_err err = {0};
  assert_int_equal(
      ll_views_trace(r, "X", "L", LL_TRACE_DOWNSTREAM, 32, &t, &err), 0);
  assert_int_equal(t.n_nodes, 2);
  assert_string_equal(t.nodes[0].product_id, "X");
  assert_string_equal(t.nodes[1].product_id, "Y");
  assert_string_equal(t.nodes[1].lot_id, "L");
  assert_string_equal(t.nodes[1].name, "y");
  assert_false(t.nodes[1].repeat);
  assert_int_equal(t.nodes[1].n_links, 1);
  assert_int_equal(t.nodes[1].links[0].consumed_micro, Q(2));
  assert_int_equal(t.nodes[1].links[0].produced_micro, Q(1));
  assert_int_equal(t.n_deliveries, 1);
  assert_string_equal(t.deliveries[0].product_id, "Y");
  assert_string_equal(t.deliveries[0].lot_id, "L");
  ll_trace_free(&t);
  assert_int_equal(ll_views_trace(r, "Y", "L", LL_TRACE_UPSTREAM, 32, &t, &err),
                   0);
  assert_int_equal(t.n_nodes, 2);
  assert_string_equal(t.nodes[1].product_id, "X");
  ll_trace_free(&t);
  /* a product without such a lot: nothing */
  assert_int_equal(
      ll_views_trace(r, "Z", "L", LL_TRACE_DOWNSTREAM, 32, &t, &err), 0);
  assert_int_equal(t.n_nodes, 0);
  ll_trace_free(&t);
  ll_views_reader_close(r);
}

/* ---- location tree ---- */

static void test_location_contents_and_rollup(void **state) {
  ctx *c = *state;
  tlog *l = &c->log;
  tlog_created(l, "L1", "P", "1", NULL);
  tlog_created(l, "L2", "P", "2", NULL);
  tlog_created(l, "L3", "Q", "3", NULL);
  move(l, "L1", "P", Q(10), "V", LL_USAGE_SUPPLIER, "WH/Stock",
       LL_USAGE_INTERNAL, NULL);
  move(l, "L1", "P", Q(3), "WH/Stock", LL_USAGE_INTERNAL, "WH/Stock/Shelf-2",
       LL_USAGE_INTERNAL, NULL);
  move(l, "L2", "P", Q(4), "V", LL_USAGE_SUPPLIER, "WH/Stock/Shelf-2/Bin-1",
       LL_USAGE_INTERNAL, NULL);
  move(l, "L3", "Q", Q(7), "V", LL_USAGE_SUPPLIER, "WH/Stock2",
       LL_USAGE_INTERNAL, NULL);
  move(l, "L2", "P", Q(1), "WH/Stock/Shelf-2/Bin-1", LL_USAGE_INTERNAL,
       "WH/Stock/Transit", LL_USAGE_TRANSIT, NULL);
  move(l, "L1", "P", Q(2), "WH/Stock", LL_USAGE_INTERNAL, "WH/Stock/Scrap",
       LL_USAGE_SCRAP, NULL);
  apply_all(c);

  ll_views_reader *r = reader(c->v);
  ll_location_lot *rows = NULL;
  size_t n = 0;
  char *next = NULL;
  ll_err err = {0};
  /* exact: WH/Stock holds 10 - 3 - 2 of L1 only */
  assert_int_equal(ll_views_location_lots(r, "WH/Stock", false, NULL, 50, &rows,
                                          &n, &next, &err),
                   0);
  assert_int_equal(n, 1);
  assert_string_equal(rows[0].lot_id, "L1");
  assert_int_equal(rows[0].quantity_micro, Q(5));
  assert_int_equal(rows[0].usage, LL_USAGE_INTERNAL);
  assert_null(next);
  ll_location_lots_free(rows, n);
  /* children: L1 5 + 3 + 2 scrap (on hand 8), L2 3 + 1 in transit; never
   * L3 in WH/Stock2 */
  assert_int_equal(ll_views_location_lots(r, "WH/Stock", true, NULL, 50, &rows,
                                          &n, &next, &err),
                   0);
  assert_int_equal(n, 2);
  assert_string_equal(rows[0].lot_id, "L1");
  assert_int_equal(rows[0].quantity_micro, Q(10));
  assert_int_equal(rows[0].on_hand_micro, Q(8));
  assert_string_equal(rows[1].lot_id, "L2");
  assert_int_equal(rows[1].quantity_micro, Q(4));
  assert_int_equal(rows[1].on_hand_micro, Q(4));
  ll_location_lots_free(rows, n);
  /* WH covers WH/Stock2 as well; pages of one */
  assert_int_equal(
      ll_views_location_lots(r, "WH", true, NULL, 1, &rows, &n, &next, &err),
      0);
  assert_int_equal(n, 1);
  assert_string_equal(next, "2:L1P"); /* lot id, then product */
  assert_string_equal(rows[0].product_id, "P");
  ll_location_lots_free(rows, n);
  char *cursor = next;
  assert_int_equal(
      ll_views_location_lots(r, "WH", true, cursor, 2, &rows, &n, &next, &err),
      0);
  free(cursor);
  assert_int_equal(n, 2);
  assert_string_equal(rows[0].lot_id, "L2");
  assert_string_equal(rows[1].lot_id, "L3");
  assert_null(next);
  ll_location_lots_free(rows, n);
  /* a prefix that is not a path boundary holds nothing of its own */
  assert_int_equal(ll_views_location_lots(r, "WH/Sto", true, NULL, 50, &rows,
                                          &n, &next, &err),
                   0);
  assert_int_equal(n, 0);
  ll_location_lots_free(rows, n);
  ll_views_reader_close(r);
  /* a rollup row sums what lies below its path (Bin-1 under Shelf-2),
   * not what is at it (L1 on Shelf-2 itself, the loc/ row); a location
   * with nothing below has none; rows that come back to zero are gone */
  assert_int_equal(count_rows(c->v, "tree/WH/Stock/Shelf-2\x1f"), 1);
  assert_int_equal(count_rows(c->v, "tree/WH/Stock/Shelf-2\x1fL2\x1f"), 1);
  assert_int_equal(count_rows(c->v, "tree/WH/Stock/Shelf-2/Bin-1\x1f"), 0);
  move(l, "L2", "P", Q(3), "WH/Stock/Shelf-2/Bin-1", LL_USAGE_INTERNAL, "V",
       LL_USAGE_SUPPLIER, NULL);
  apply_all(c);
  assert_int_equal(count_rows(c->v, "tree/WH/Stock/Shelf-2\x1f"), 0);
}

/* A lot whose quantity under a location sums to zero (a supplier's own
 * row and the one of a supplier below it) is not on the location's page,
 * and the page goes on past it; a lot with rows in both families is summed
 * whole even where one family's rows are read further than the other's
 * (L4, after two lots at zero and L3, which only S itself holds). */
static void test_subtree_page_skips_lots_at_zero(void **state) {
  ctx *c = *state;
  tlog *l = &c->log;
  static const char *const lots[] = {"L1", "L2", "L3", "L4"};
  for (int i = 0; i < 4; i++)
    tlog_created(l, lots[i], "P", lots[i], NULL);
  move(l, "L1", "P", Q(2), "S", LL_USAGE_SUPPLIER, "S/1", LL_USAGE_SUPPLIER,
       NULL);
  move(l, "L2", "P", Q(5), "S", LL_USAGE_SUPPLIER, "S/1", LL_USAGE_SUPPLIER,
       NULL);
  move(l, "L3", "P", Q(4), "S", LL_USAGE_SUPPLIER, "WH", LL_USAGE_INTERNAL,
       NULL);
  move(l, "L4", "P", Q(3), "S", LL_USAGE_SUPPLIER, "WH", LL_USAGE_INTERNAL,
       NULL);
  move(l, "L4", "P", Q(1), "S", LL_USAGE_SUPPLIER, "S/1", LL_USAGE_SUPPLIER,
       NULL);
  apply_all(c);
  ll_views_reader *r = reader(c->v);
  ll_err err = {0};
  for (size_t limit = 1; limit <= 3; limit++) {
    /* every page, in order: L3 at -4, L4 at -4 + 1 */
    const char *want_lot[] = {"L3", "L4"};
    const int64_t want_q[] = {-Q(4), -Q(3)};
    size_t seen = 0;
    char *cursor = NULL;
    do {
      ll_location_lot *rows = NULL;
      size_t n = 0;
      char *next = NULL;
      assert_int_equal(ll_views_location_lots(r, "S", true, cursor, limit,
                                              &rows, &n, &next, &err),
                       0);
      assert_true(n <= limit);
      for (size_t i = 0; i < n; i++, seen++) {
        assert_true(seen < 2);
        assert_string_equal(rows[i].lot_id, want_lot[seen]);
        assert_int_equal(rows[i].quantity_micro, want_q[seen]);
        assert_int_equal(rows[i].on_hand_micro, 0);
      }
      ll_location_lots_free(rows, n);
      free(cursor);
      cursor = next;
    } while (cursor != NULL);
    assert_int_equal(seen, 2);
  }
  /* S alone: every lot left it */
  ll_location_lot *rows = NULL;
  size_t n = 0;
  char *next = NULL;
  assert_int_equal(
      ll_views_location_lots(r, "S", false, NULL, 50, &rows, &n, &next, &err),
      0);
  assert_int_equal(n, 4);
  ll_location_lots_free(rows, n);
  ll_views_reader_close(r);
}

/* ---- FEFO ---- */

static ll_event *dated(tlog *l, const char *lot, const char *product,
                       int removal_day, int expiration_day) {
  ll_event *ev = tlog_created(l, lot, product, lot, NULL);
  if (removal_day > 0)
    ev->removal_at = (ll_opt_time){true, T_EPOCH_MS + removal_day * DAY_MS};
  if (expiration_day > 0)
    ev->expiration_at =
        (ll_opt_time){true, T_EPOCH_MS + expiration_day * DAY_MS};
  return ev;
}

static void fefo_ids(ll_views *v, const ll_fefo_filter *f, char *out,
                     size_t cap, char **next) {
  ll_views_reader *r = reader(v);
  ll_fefo_lot *rows = NULL;
  size_t n = 0;
  ll_err err = {0};
  if (ll_views_fefo(r, f, &rows, &n, next, &err) != 0)
    fail_msg("fefo: %s", err.message);
  out[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    strncat(out, rows[i].lot.lot_id, cap - strlen(out) - 1);
    strncat(out, " ", cap - strlen(out) - 1);
  }
  ll_fefo_lots_free(rows, n);
  ll_views_reader_close(r);
}

static void test_fefo_order_filters_and_pages(void **state) {
  ctx *c = *state;
  tlog *l = &c->log;
  dated(l, "E10", "P", 0, 10);   /* removal = expiration: day 10 */
  dated(l, "R5E30", "P", 5, 30); /* removal day 5 */
  dated(l, "R10E20", "P", 10, 20);
  dated(l, "NONE", "P", 0, 0);
  dated(l, "EMPTY", "P", 1, 2); /* never on hand */
  dated(l, "OTHER", "Q", 3, 4);
  static const char *const lots[] = {"E10", "R5E30", "R10E20", "NONE", "OTHER"};
  for (size_t i = 0; i < 5; i++)
    move(l, lots[i], i == 4 ? "Q" : "P", Q(1), "V", LL_USAGE_SUPPLIER,
         i == 1 ? "WH/Cold" : "WH/Stock", LL_USAGE_INTERNAL, NULL);
  apply_all(c);

  char ids[256], *next = NULL;
  ll_fefo_filter f = {.limit = 50};
  fefo_ids(c->v, &f, ids, sizeof ids, &next);
  assert_string_equal(ids, "OTHER R5E30 E10 R10E20 NONE ");
  assert_null(next);

  f.has_before = true;
  f.before_ms = T_EPOCH_MS + 10 * DAY_MS; /* strictly before day 10 */
  fefo_ids(c->v, &f, ids, sizeof ids, &next);
  assert_string_equal(ids, "OTHER R5E30 ");
  f.product_id = "P";
  fefo_ids(c->v, &f, ids, sizeof ids, &next);
  assert_string_equal(ids, "R5E30 ");

  ll_fefo_filter g = {.limit = 50, .location = "WH/Stock"};
  fefo_ids(c->v, &g, ids, sizeof ids, &next);
  assert_string_equal(ids, "OTHER E10 R10E20 NONE ");
  g.location = "WH";
  fefo_ids(c->v, &g, ids, sizeof ids, &next);
  assert_string_equal(ids, ""); /* nothing directly in WH */
  g.children = true;
  fefo_ids(c->v, &g, ids, sizeof ids, &next);
  assert_string_equal(ids, "OTHER R5E30 E10 R10E20 NONE ");

  /* pages of two */
  ll_fefo_filter p = {.limit = 2};
  fefo_ids(c->v, &p, ids, sizeof ids, &next);
  assert_string_equal(ids, "OTHER R5E30 ");
  assert_non_null(next);
  p.cursor = next;
  char *next2 = NULL;
  fefo_ids(c->v, &p, ids, sizeof ids, &next2);
  assert_string_equal(ids, "E10 R10E20 ");
  free(next);
  p.cursor = next2;
  fefo_ids(c->v, &p, ids, sizeof ids, &next);
  assert_string_equal(ids, "NONE ");
  assert_null(next);
  free(next2);

  /* a bad cursor is the caller's mistake */
  ll_views_reader *r = reader(c->v);
  ll_fefo_lot *rows = NULL;
  size_t n = 0;
  ll_err err = {0};
  ll_fefo_filter bad = {.limit = 5, .cursor = "xyz"};
  assert_int_equal(ll_views_fefo(r, &bad, &rows, &n, &next, &err), -1);
  assert_int_equal(err.code, LL_INVALID_FIELD);
  ll_views_reader_close(r);

  /* a date change moves the lot, and a lot that leaves stock leaves the
   * index */
  ll_event *up = tlog_updated(l, "NONE", "P", NULL, NULL, NULL, NULL);
  up->expiration_at = (ll_opt_time){true, T_EPOCH_MS + 1 * DAY_MS};
  move(l, "OTHER", "Q", Q(1), "WH/Stock", LL_USAGE_INTERNAL, "C",
       LL_USAGE_CUSTOMER, NULL);
  apply_all(c);
  fefo_ids(c->v, &f, ids, sizeof ids, &next); /* before day 10, product P */
  assert_string_equal(ids, "NONE R5E30 ");
  assert_int_equal(count_rows(c->v, "fefo/"), 4);
  assert_int_equal(count_rows(c->v, "fefok/"), 4);
}

/* ---- readers and batching ---- */

static void test_reader_sees_one_moment(void **state) {
  ctx *c = *state;
  build_chain(&c->log);
  apply_ok(c->v, c->log.e, 5);
  ll_views_reader *r = reader(c->v);
  apply_ok(c->v, c->log.e, c->log.n); /* later entries land after the open */
  assert_int_equal(ll_views_reader_position(r), 5);
  ll_lot lot;
  bool found = false;
  ll_err err = {0};
  ll_lot_init(&lot);
  assert_int_equal(
      ll_views_reader_get_lot(r, "FLOUR", "RAW", &lot, &found, &err), 0);
  assert_true(found);
  assert_int_equal(lot.on_hand_micro, Q(100));
  ll_lot_free(&lot);
  ll_lot_location *locs = NULL;
  size_t n = 0;
  assert_int_equal(
      ll_views_reader_lot_locations(r, "FLOUR", "RAW", false, &locs, &n, &err),
      0);
  assert_int_equal(n, 1);
  assert_int_equal(locs[0].quantity_micro, Q(100));
  ll_lot_locations_free(locs, n);
  ll_trace t;
  assert_int_equal(
      ll_views_trace(r, "FLOUR", "RAW", LL_TRACE_DOWNSTREAM, 5, &t, &err), 0);
  assert_int_equal(t.n_nodes, 1); /* MO-1 had not happened yet */
  ll_trace_free(&t);
  ll_views_reader_close(r);
}

static void test_any_batching_gives_identical_views(void **state) {
  ctx *c = *state;
  build_chain(&c->log);
  dated(&c->log, "X", "FLOUR", 3, 9);
  move(&c->log, "X", "FLOUR", Q(2), "Vendors", LL_USAGE_SUPPLIER,
       "WH/Stock/Shelf-1", LL_USAGE_INTERNAL, "PO-9");
  move(&c->log, "X", "FLOUR", Q(2), "WH/Stock/Shelf-1", LL_USAGE_INTERNAL,
       "Virtual/Production", LL_USAGE_PRODUCTION, "MO-2");
  stamp_recorded_times(&c->log);
  apply_all(c); /* one run */
  ll_buf want;
  ll_buf_init(&want);
  views_dump(c->v, &want);
  assert_true(count_rows(c->v, "hist/") == c->log.n);
  assert_true(count_rows(c->v, "gdn/") > 0);
  assert_true(count_rows(c->v, "tree/") > 0);
  assert_true(count_rows(c->v, "fefo/") > 0);

  static const size_t steps[] = {1, 2, 3, 7};
  for (size_t s = 0; s < 4; s++) {
    char *dir = scratch_dir();
    ll_err err = {0};
    ll_views *v = ll_views_open(dir, &err);
    assert_non_null(v);
    for (size_t i = 0; i < c->log.n; i += steps[s]) {
      size_t n = i + steps[s] <= c->log.n ? steps[s] : c->log.n - i;
      apply_ok(v, &c->log.e[i], n);
    }
    assert_views_dump(v, &want);
    ll_views_close(v);
    rm_tree(dir);
  }
  ll_buf_free(&want);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_history_lists_the_lots_events_in_order, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_as_of_position_replays_the_locations_view, setup, teardown),
      cmocka_unit_test_setup_teardown(test_as_of_time_uses_recorded_at, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_chain_downstream_with_quantities_and_deliveries, setup,
          teardown),
      cmocka_unit_test_setup_teardown(test_chain_upstream, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_trace_is_cycle_safe_and_depth_limited, setup, teardown),
      cmocka_unit_test_setup_teardown(test_trace_links_lots_by_product_and_id,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_location_contents_and_rollup, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_subtree_page_skips_lots_at_zero,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_fefo_order_filters_and_pages, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_reader_sees_one_moment, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_any_batching_gives_identical_views,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
