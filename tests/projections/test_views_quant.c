/* test_views_quant.c — the quantity rows in memory (views_quant.c): values
 * of both families as the appliers pack them, absences only while
 * complete, the bound (refused rows make it incomplete, held rows still
 * change), probe chains intact after removals against a reference map;
 * then the views through an index too small for them and across a restart
 * that loads it: the same bytes as one plain run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "views_fixture.h"
#include "views_internal.h"

static void qty_value(ll_usage usage, int64_t q, ll_buf *out) {
  ll_views_qty_pack(usage, q, out);
}

static bool set_qty(ll_views_quant *q, const char *lot, const char *loc,
                    ll_usage usage, int64_t qty) {
  ll_buf key, val;
  ll_buf_init(&key);
  ll_buf_init(&val);
  assert_true(ll_views_key3(&key, LL_VK_QTY, lot, "P", loc));
  qty_value(usage, qty, &val);
  bool ok =
      ll_views_quant_set(q, key.data, key.len, val.data, val.len, qty != 0);
  ll_buf_free(&key);
  ll_buf_free(&val);
  return ok;
}

/* The answer for qty/<lot>\x1fP\x1f<loc>; *qty set when FOUND. */
static ll_vq_answer get_qty(ll_views_quant *q, const char *lot, const char *loc,
                            ll_usage *usage, int64_t *qty) {
  ll_buf key, val;
  ll_buf_init(&key);
  ll_buf_init(&val);
  assert_true(ll_views_key3(&key, LL_VK_QTY, lot, "P", loc));
  ll_vq_answer a = ll_views_quant_get(q, key.data, key.len, &val);
  if (a == LL_VQ_FOUND)
    assert_true(ll_views_qty_unpack(val.data, val.len, usage, qty));
  ll_buf_free(&key);
  ll_buf_free(&val);
  return a;
}

static void test_both_families_round_trip(void **state) {
  (void)state;
  ll_views_quant q;
  ll_views_quant_init(&q, 1 << 20);
  ll_views_quant_set_complete(&q);
  ll_usage usage;
  int64_t qty = 0;
  assert_int_equal(get_qty(&q, "L1", "WH/A", &usage, &qty), LL_VQ_ABSENT);
  assert_true(set_qty(&q, "L1", "WH/A", LL_USAGE_TRANSIT, -12345678));
  assert_int_equal(get_qty(&q, "L1", "WH/A", &usage, &qty), LL_VQ_FOUND);
  assert_int_equal(usage, LL_USAGE_TRANSIT);
  assert_int_equal(qty, -12345678);
  /* The same names in the other family, and the other order, are other
   * rows: tree/<path>\x1f<lot>\x1f<product>. */
  ll_buf key, val, got;
  ll_buf_init(&key);
  ll_buf_init(&val);
  ll_buf_init(&got);
  assert_true(ll_views_key3(&key, LL_VK_TREE, "WH/A", "L1", "P"));
  assert_int_equal(ll_views_quant_get(&q, key.data, key.len, &got),
                   LL_VQ_ABSENT);
  ll_views_tree_pack(INT64_MAX, INT64_MIN, &val);
  assert_true(
      ll_views_quant_set(&q, key.data, key.len, val.data, val.len, true));
  assert_int_equal(ll_views_quant_get(&q, key.data, key.len, &got),
                   LL_VQ_FOUND);
  assert_int_equal(got.len, val.len);
  assert_memory_equal(got.data, val.data, val.len);
  /* Removal: absent again, the other row untouched. */
  assert_true(set_qty(&q, "L1", "WH/A", LL_USAGE_TRANSIT, 0));
  assert_int_equal(get_qty(&q, "L1", "WH/A", &usage, &qty), LL_VQ_ABSENT);
  assert_int_equal(ll_views_quant_get(&q, key.data, key.len, &got),
                   LL_VQ_FOUND);
  /* Keys it does not hold are not covered; a value it cannot read is
   * refused, and the index no longer claims to know everything. */
  assert_false(ll_views_quant_covers("lot/L1", 6));
  assert_false(ll_views_quant_covers("qty/", 4));
  assert_true(ll_views_quant_covers(key.data, key.len));
  assert_false(ll_views_quant_set(&q, key.data, key.len, "\xff", 1, true));
  assert_int_equal(get_qty(&q, "L2", "WH/A", &usage, &qty), LL_VQ_UNKNOWN);
  ll_buf_free(&key);
  ll_buf_free(&val);
  ll_buf_free(&got);
  ll_views_quant_free(&q);
}

static void test_the_bound_refuses_new_rows_only(void **state) {
  (void)state;
  ll_views_quant q;
  ll_views_quant_init(&q, 64 * 1024);
  ll_views_quant_set_complete(&q);
  char lot[32], loc[32];
  int held = 0;
  /* Few names, many rows: the slots are what runs out. */
  for (int i = 0; i < 10000; i++) {
    snprintf(lot, sizeof lot, "LOT-%05d", i / 100);
    snprintf(loc, sizeof loc, "WH/%d", i % 100);
    if (!set_qty(&q, lot, loc, LL_USAGE_INTERNAL, i + 1))
      break;
    held++;
  }
  assert_true(held > 100 && held < 10000);
  ll_views_quant_stats st;
  ll_views_quant_get_stats(&q, &st);
  assert_false(st.complete);
  assert_int_equal(st.rows, (size_t)held);
  assert_true(st.bytes <= 64 * 1024);
  ll_usage usage;
  int64_t qty = 0;
  /* Refused: unknown, not absent. Held: still updated and removed. */
  snprintf(lot, sizeof lot, "LOT-%05d", held / 100);
  snprintf(loc, sizeof loc, "WH/%d", held % 100);
  assert_int_equal(get_qty(&q, lot, loc, &usage, &qty), LL_VQ_UNKNOWN);
  assert_true(set_qty(&q, "LOT-00000", "WH/7", LL_USAGE_INTERNAL, 777));
  assert_int_equal(get_qty(&q, "LOT-00000", "WH/7", &usage, &qty), LL_VQ_FOUND);
  assert_int_equal(qty, 777);
  assert_true(set_qty(&q, "LOT-00000", "WH/8", LL_USAGE_INTERNAL, 0));
  assert_int_equal(get_qty(&q, "LOT-00000", "WH/8", &usage, &qty),
                   LL_VQ_UNKNOWN);
  /* Room again after the removal: a new row is taken. */
  assert_true(set_qty(&q, lot, loc, LL_USAGE_INTERNAL, 5));
  assert_int_equal(get_qty(&q, lot, loc, &usage, &qty), LL_VQ_FOUND);
  ll_views_quant_free(&q);
}

/* Many rows in few slots, removed and re-added at random: every answer
 * matches a plain array. */
static void test_removals_keep_probe_chains(void **state) {
  (void)state;
  enum { LOTS = 60, LOCS = 12 };
  int64_t want[LOTS][LOCS];
  memset(want, 0, sizeof want);
  ll_views_quant q;
  ll_views_quant_init(&q, 64 * 1024);
  ll_views_quant_set_complete(&q);
  uint64_t s = 99;
  char lot[16], loc[16];
  for (int step = 0; step < 20000; step++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    int l = (int)((s >> 33) % LOTS), c = (int)((s >> 45) % LOCS);
    int64_t v = (s >> 20) % 3 == 0 ? 0 : (int64_t)(s >> 40) - 5000;
    snprintf(lot, sizeof lot, "L%d", l);
    snprintf(loc, sizeof loc, "WH/%d", c);
    assert_true(set_qty(&q, lot, loc, LL_USAGE_CUSTOMER, v));
    want[l][c] = v;
    if (step % 1000 != 999)
      continue;
    for (l = 0; l < LOTS; l++)
      for (c = 0; c < LOCS; c++) {
        ll_usage usage;
        int64_t got = 0;
        snprintf(lot, sizeof lot, "L%d", l);
        snprintf(loc, sizeof loc, "WH/%d", c);
        ll_vq_answer a = get_qty(&q, lot, loc, &usage, &got);
        assert_int_equal(a, want[l][c] != 0 ? LL_VQ_FOUND : LL_VQ_ABSENT);
        if (a == LL_VQ_FOUND)
          assert_int_equal(got, want[l][c]);
      }
  }
  ll_views_quant_stats st;
  ll_views_quant_get_stats(&q, &st);
  assert_true(st.complete);
  assert_int_equal(st.refused, 0);
  ll_views_quant_free(&q);
}

/* ---- through the views ---- */

#define GEN_LOTS 60
#define GEN_MOVES 700

static const struct {
  const char *id;
  ll_usage usage;
} locs[] = {
    {"Vendors/V1", LL_USAGE_SUPPLIER},  {"WH/A/1", LL_USAGE_INTERNAL},
    {"WH/A/2", LL_USAGE_INTERNAL},      {"WH/B", LL_USAGE_TRANSIT},
    {"WH/A", LL_USAGE_INTERNAL},        {"Customers/C1", LL_USAGE_CUSTOMER},
    {"Customers/C2", LL_USAGE_CUSTOMER}};
#define GEN_LOCS (sizeof locs / sizeof locs[0])

static void build_log(tlog *l) {
  uint64_t s = 5;
  int64_t qty[GEN_LOTS][GEN_LOCS];
  memset(qty, 0, sizeof qty);
  char lot[16];
  for (int i = 0; i < GEN_LOTS; i++) {
    snprintf(lot, sizeof lot, "L%02d", i);
    tlog_created(l, lot, "P1", lot, NULL);
  }
  for (int m = 0; m < GEN_MOVES; m++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    int i = (int)((s >> 33) % GEN_LOTS);
    size_t from = (s >> 40) % GEN_LOCS, to = (s >> 50) % GEN_LOCS;
    int64_t q = (int64_t)(1 + (s >> 20) % 9) * LL_MICRO;
    if (from == to)
      continue;
    if (ll_usage_is_stock(locs[from].usage)) {
      if (qty[i][from] == 0)
        continue;
      if (q > qty[i][from])
        q = qty[i][from];
    }
    qty[i][from] -= q;
    qty[i][to] += q;
    snprintf(lot, sizeof lot, "L%02d", i);
    tlog_moved(l, lot, "P1", q, locs[from].id, locs[from].usage, locs[to].id,
               locs[to].usage);
  }
}

/* Runs of 1 to 23 entries. */
static void apply_runs(ll_views *v, const tlog *l, size_t from, size_t to) {
  ll_err err = {0};
  for (size_t at = from; at < to;) {
    size_t n = 1 + at % 23;
    if (n > to - at)
      n = to - at;
    if (ll_views_apply(v, &l->e[at], n, &err) != 0)
      fail_msg("apply: %s", err.message);
    at += n;
  }
}

static void test_views_agree_whatever_the_index_holds(void **state) {
  (void)state;
  tlog log = {0};
  build_log(&log);
  ll_err err = {0};
  char *dir_ref = scratch_dir();
  ll_views *ref = ll_views_open(dir_ref, &err);
  assert_non_null(ref);
  apply_runs(ref, &log, 0, log.n);
  ll_views_quant_stats st;
  ll_views_quant_get_stats(&ref->quant, &st);
  assert_true(st.complete && st.rows > 100 && st.hits > 100);

  /* An index far too small: part of the rows in it, the rest read from
   * RocksDB through a tiny row cache; runs written as table files or
   * through the memtable by their size; a restart half way. */
  const ll_views_tuning small = {.cache_max_entries = 8,
                                 .cache_max_bytes = 2048,
                                 .quant_max_bytes = 16384,
                                 .file_min_rows = 60};
  char *dir_small = scratch_dir();
  ll_views *v = ll_views_open_tuned(dir_small, &small, &err);
  assert_non_null(v);
  apply_runs(v, &log, 0, log.n / 2);
  ll_views_close(v);
  v = ll_views_open_tuned(dir_small, &small, &err);
  assert_non_null(v);
  apply_runs(v, &log, log.n / 2, log.n);
  assert_true(v->files_ingested > 3 && v->files_ingested < 50);
  ll_views_quant_get_stats(&v->quant, &st);
  assert_false(st.complete);
  assert_true(st.refused > 0 && st.hits > 0 && st.unknown > 0);

  /* A restart with room: the first run loads every row, and the index is
   * complete again. */
  char *dir_load = scratch_dir();
  ll_views *w = ll_views_open(dir_load, &err);
  assert_non_null(w);
  apply_runs(w, &log, 0, log.n / 3);
  ll_views_close(w);
  w = ll_views_open(dir_load, &err);
  assert_non_null(w);
  apply_runs(w, &log, log.n / 3, log.n);
  ll_views_quant_get_stats(&w->quant, &st);
  assert_true(st.complete && st.rows > 100);

  ll_buf want;
  ll_buf_init(&want);
  views_dump(ref, &want);
  assert_true(want.len > 10000);
  assert_views_dump(v, &want);
  assert_views_dump(w, &want);
  ll_buf_free(&want);
  ll_views_close(ref);
  ll_views_close(v);
  ll_views_close(w);
  rm_tree(dir_ref);
  rm_tree(dir_small);
  rm_tree(dir_load);
  tlog_free(&log);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_both_families_round_trip),
      cmocka_unit_test(test_the_bound_refuses_new_rows_only),
      cmocka_unit_test(test_removals_keep_probe_chains),
      cmocka_unit_test(test_views_agree_whatever_the_index_holds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
