/* test_views_rows.c — the projector's rows in memory (views_rows.c): a
 * run reads its own writes, the cache keeps exact copies (absences too)
 * and drops the rows nobody reads, CLOCK eviction within the bounds, dirty
 * rows never evicted, scan groups, "complete" tables; then the views fed
 * through a tiny cache (evicting all the time, reading RocksDB back), a
 * restart, and a bulk load, all against one big run: the same bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "views_fixture.h"
#include "views_internal.h"

#define Q(units) ((int64_t)(units)*LL_MICRO)

/* ---- the table ---- */

static uint64_t h(const char *key) {
  return ll_hash64(key, strlen(key));
}

static void put(ll_views_rows *t, const char *key, const char *value) {
  size_t group = ll_views_scan_group_len(key, strlen(key));
  ll_views_rows_put(t, h(key), key, strlen(key), value,
                    value ? strlen(value) : 0, value != NULL, group);
}

static void fill(ll_views_rows *t, const char *key, const char *value) {
  ll_views_rows_fill(t, h(key), key, strlen(key), value,
                     value ? strlen(value) : 0, value != NULL);
}

/* The row's value as a string, "<absent>" or NULL when not in the table. */
static const char *get(ll_views_rows *t, const char *key) {
  static char buf[256];
  const ll_vrow *r = ll_views_rows_get(t, h(key), key, strlen(key));
  if (r == NULL)
    return NULL;
  if (!ll_vrow_present(r))
    return "<absent>";
  assert_true(r->value_len < sizeof buf);
  memcpy(buf, ll_vrow_value(r), r->value_len);
  buf[r->value_len] = '\0';
  return buf;
}

static void test_a_run_reads_its_own_writes(void **state) {
  (void)state;
  ll_views_rows t;
  ll_views_rows_init(&t, 100, 1 << 20);
  assert_null(get(&t, "lot/A"));
  fill(&t, "lot/A", NULL); /* the database has no such row */
  assert_string_equal(get(&t, "lot/A"), "<absent>");
  put(&t, "lot/A", "v1");
  assert_string_equal(get(&t, "lot/A"), "v1");
  put(&t, "lot/A", "a much longer second value, the block has to grow");
  assert_string_equal(get(&t, "lot/A"),
                      "a much longer second value, the block has to grow");
  put(&t, "qty/A\x1fS", "5");
  ll_views_rows_put(&t, h("qty/A\x1fS"), "qty/A\x1fS", 7, NULL, 0, false, 0);
  assert_string_equal(get(&t, "qty/A\x1fS"), "<absent>");
  /* One row per key, however often it was written. */
  assert_int_equal(t.n_dirty, 2);
  assert_int_equal(t.dirty[0]->bytes[0], 'l');

  ll_views_rows_stats st;
  ll_views_rows_get_stats(&t, &st);
  assert_int_equal(st.misses, 1);
  assert_int_equal(st.entries, 2);
  ll_views_rows_free(&t);
}

static void test_commit_keeps_what_was_read(void **state) {
  (void)state;
  ll_views_rows t;
  ll_views_rows_init(&t, 100, 1 << 20);
  fill(&t, "lot/A", "old");
  put(&t, "lot/A", "new"); /* read, then written */
  put(&t,
      "hist/A\x1f"
      "1",
      "event");            /* written blind */
  fill(&t, "lot/B", NULL); /* read: absent */
  ll_views_rows_commit(&t);
  assert_int_equal(t.n_dirty, 0);
  assert_string_equal(get(&t, "lot/A"), "new");
  assert_string_equal(get(&t, "lot/B"), "<absent>");
  assert_null(get(&t, "hist/A\x1f"
                      "1")); /* gone: nobody reads it back */
  assert_int_equal(t.n, 2);
  /* A blind row read later in its run is kept. */
  put(&t, "fefok/A", "k");
  assert_string_equal(get(&t, "fefok/A"), "k");
  ll_views_rows_commit(&t);
  assert_string_equal(get(&t, "fefok/A"), "k");
  ll_views_rows_free(&t);
}

static void test_clock_evicts_rows_not_read_again(void **state) {
  (void)state;
  ll_views_rows t;
  ll_views_rows_init(&t, 3, 1 << 20);
  fill(&t, "A", "a");
  fill(&t, "B", "b");
  fill(&t, "C", "c");
  assert_int_equal(t.n, 3);
  fill(&t, "D", "d"); /* one full turn clears the marks, A goes */
  assert_int_equal(t.n, 3);
  assert_non_null(get(&t, "B")); /* B is read again... */
  fill(&t, "E", "e");            /* ...so D, not B, makes room */
  assert_int_equal(t.n, 3);
  assert_null(get(&t, "A"));
  assert_null(get(&t, "D"));
  assert_string_equal(get(&t, "B"), "b");
  assert_string_equal(get(&t, "C"), "c");
  assert_string_equal(get(&t, "E"), "e");
  ll_views_rows_stats st;
  ll_views_rows_get_stats(&t, &st);
  assert_int_equal(st.evictions, 2);

  /* Many more: the bound holds after every fill. */
  for (int i = 0; i < 1000; i++) {
    char key[16];
    snprintf(key, sizeof key, "k%d", i);
    fill(&t, key, "v");
    assert_true(t.n <= 3);
  }
  ll_views_rows_free(&t);
}

static void test_the_bytes_bound_holds(void **state) {
  (void)state;
  ll_views_rows t;
  size_t max_bytes = 4096;
  ll_views_rows_init(&t, 1000000, max_bytes);
  char value[200];
  memset(value, 'x', sizeof value - 1);
  value[sizeof value - 1] = '\0';
  for (int i = 0; i < 500; i++) {
    char key[16];
    snprintf(key, sizeof key, "lot/%d", i);
    fill(&t, key, value);
    assert_true(t.bytes <= max_bytes);
  }
  assert_true(t.n > 1 && t.n < 500);
  /* A clean row that grows past the bound pushes others out. */
  fill(&t, "lot/grow", "small");
  put(&t, "lot/grow", value);
  ll_views_rows_commit(&t);
  assert_true(t.bytes <= max_bytes);
  assert_string_equal(get(&t, "lot/grow"), value);
  ll_views_rows_free(&t);
}

static void test_dirty_rows_are_never_evicted(void **state) {
  (void)state;
  ll_views_rows t;
  ll_views_rows_init(&t, 2, 1 << 20);
  for (int i = 0; i < 50; i++) {
    char key[16];
    snprintf(key, sizeof key, "lot/%02d", i);
    fill(&t, key, NULL);
    put(&t, key, key);
  }
  assert_int_equal(t.n_dirty, 50);
  for (int i = 0; i < 50; i++) {
    char key[16];
    snprintf(key, sizeof key, "lot/%02d", i);
    assert_string_equal(get(&t, key), key);
  }
  ll_views_rows_commit(&t); /* now clean: back within the bound */
  assert_int_equal(t.n, 2);
  ll_views_rows_free(&t);
}

static void test_scan_groups_link_the_runs_rows(void **state) {
  (void)state;
  ll_views_rows t;
  ll_views_rows_init(&t, 100, 1 << 20);
  assert_int_equal(ll_views_scan_group_len("gcon/R1\x1fL1", 10), 8);
  assert_int_equal(ll_views_scan_group_len("lot/L1", 6), 0);
  put(&t, "gcon/R1\x1fL1", "1");
  put(&t, "gcon/R1\x1fL2", "2");
  put(&t, "gpro/R1\x1fL3", "3");
  put(&t, "gcon/R2\x1fL1", "4");
  put(&t, "gcon/R1\x1fL1", "a longer value: the block moves"); /* again */
  size_t n = 0;
  bool seen[2] = {false, false};
  for (uint32_t i = ll_views_rows_group(&t, "gcon/R1\x1f", 8);
       i != LL_VROW_NONE; i = t.dirty[i]->group_next) {
    const ll_vrow *r = t.dirty[i];
    assert_int_equal(r->key_len, 10);
    assert_memory_equal(r->bytes, "gcon/R1\x1f", 8);
    seen[r->bytes[9] - '1'] = true;
    n++;
  }
  assert_int_equal(n, 2);
  assert_true(seen[0] && seen[1]);
  assert_int_not_equal(ll_views_rows_group(&t, "gpro/R1\x1f", 8), LL_VROW_NONE);
  assert_int_equal(ll_views_rows_group(&t, "gcon/R3\x1f", 8), LL_VROW_NONE);
  ll_views_rows_commit(&t);
  assert_int_equal(ll_views_rows_group(&t, "gcon/R1\x1f", 8), LL_VROW_NONE);
  ll_views_rows_free(&t);
}

static void test_complete_until_a_row_is_dropped(void **state) {
  (void)state;
  ll_views_rows t;
  ll_views_rows_init(&t, 2, 1 << 20);
  ll_views_rows_set_complete(&t);
  fill(&t, "A", "a");
  fill(&t, "B", "b");
  assert_true(t.complete);
  fill(&t, "C", "c"); /* evicts */
  assert_false(t.complete);
  ll_views_rows_reset(&t);
  assert_int_equal(t.n, 0);
  assert_null(get(&t, "B"));
  ll_views_rows_set_complete(&t);
  fill(&t, "A", "a");
  ll_views_rows_reset(&t); /* a failed run */
  assert_false(t.complete);
  ll_views_rows_free(&t);
}

/* ---- the views through a tiny cache, a restart and a bulk load ---- */

#define GEN_LOTS 40
#define GEN_MOVES 900
#define GEN_SEED 7

typedef struct gen_loc {
  const char *id;
  ll_usage usage;
} gen_loc;

static const gen_loc gen_locs[] = {
    {"Vendors/V1", LL_USAGE_SUPPLIER},  {"WH", LL_USAGE_INTERNAL},
    {"WH/A", LL_USAGE_INTERNAL},        {"WH/A/1", LL_USAGE_INTERNAL},
    {"WH/A/2", LL_USAGE_INTERNAL},      {"WH/B", LL_USAGE_TRANSIT},
    {"WH/Scrap", LL_USAGE_INVENTORY},   {"Customers/C1", LL_USAGE_CUSTOMER},
    {"Prod/Line1", LL_USAGE_PRODUCTION}};
#define GEN_LOCS (sizeof gen_locs / sizeof gen_locs[0])

static uint64_t gen_next(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return *s >> 33;
}

/* Lots created, then moves that keep stock non-negative (the rules'
 * promise), production under a few references, a few updates. */
static void build_random_log(tlog *l) {
  uint64_t s = GEN_SEED;
  int64_t qty[GEN_LOTS][GEN_LOCS];
  memset(qty, 0, sizeof qty);
  for (int i = 0; i < GEN_LOTS; i++) {
    char lot[16], name[16];
    snprintf(lot, sizeof lot, "L%02d", i);
    snprintf(name, sizeof name, "N%d", i % 7);
    ll_event *ev = tlog_created(l, lot, i % 2 ? "P1" : "P2", name, NULL);
    if (i % 3 == 0) {
      ev->expiration_at.set = true;
      ev->expiration_at.ms = T_EPOCH_MS + (int64_t)(i % 5) * 86400000;
    }
  }
  for (int m = 0; m < GEN_MOVES; m++) {
    int lot = (int)(gen_next(&s) % GEN_LOTS);
    size_t from = gen_next(&s) % GEN_LOCS, to = gen_next(&s) % GEN_LOCS;
    if (from == to)
      continue;
    int64_t q = Q(1 + (int64_t)(gen_next(&s) % 20));
    if (ll_usage_is_stock(gen_locs[from].usage)) {
      if (qty[lot][from] <= 0)
        continue;
      if (q > qty[lot][from])
        q = qty[lot][from];
    }
    qty[lot][from] -= q;
    qty[lot][to] += q;
    char id[16];
    snprintf(id, sizeof id, "L%02d", lot);
    ll_event *ev =
        tlog_moved(l, id, lot % 2 ? "P1" : "P2", q, gen_locs[from].id,
                   gen_locs[from].usage, gen_locs[to].id, gen_locs[to].usage);
    char ref[16];
    snprintf(ref, sizeof ref, "MO-%d", (int)(gen_next(&s) % 4));
    if (gen_locs[from].usage == LL_USAGE_PRODUCTION ||
        gen_locs[to].usage == LL_USAGE_PRODUCTION || m % 5 == 0)
      ev->reference = ll_strdup(ref);
    if (m % 97 == 0)
      tlog_updated(l, id, lot % 2 ? "P1" : "P2", "Renamed", NULL, "R", NULL);
  }
}

static void apply_ok(ll_views *v, const ll_entry *e, size_t n) {
  ll_err err = {0};
  if (ll_views_apply(v, e, n, &err) != 0)
    fail_msg("apply: %s", err.message);
}

static void test_tiny_cache_restart_and_bulk_load_agree(void **state) {
  (void)state;
  tlog log = {0};
  build_random_log(&log);
  ll_err err = {0};

  /* The reference: one run, the default cache. */
  char *dir_ref = scratch_dir();
  ll_views *ref = ll_views_open(dir_ref, &err);
  assert_non_null(ref);
  apply_ok(ref, log.e, log.n);

  /* A cache of 8 rows, runs of 1 to 37 entries, a restart half way. */
  const ll_views_tuning tiny = {.cache_max_entries = 8,
                                .cache_max_bytes = 2048};
  char *dir_tiny = scratch_dir();
  ll_views *v = ll_views_open_tuned(dir_tiny, &tiny, &err);
  assert_non_null(v);
  uint64_t s = GEN_SEED;
  size_t at = 0;
  bool restarted = false;
  while (at < log.n) {
    size_t n = 1 + gen_next(&s) % 37;
    if (n > log.n - at)
      n = log.n - at;
    apply_ok(v, &log.e[at], n);
    at += n;
    if (!restarted && at > log.n / 2) {
      ll_views_close(v);
      v = ll_views_open_tuned(dir_tiny, &tiny, &err);
      assert_non_null(v);
      assert_false(v->rows.complete); /* not empty: it reads RocksDB */
      restarted = true;
    }
  }
  ll_views_rows_stats st;
  ll_views_rows_get_stats(&v->rows, &st);
  assert_true(st.evictions > 100); /* the test did evict and read back */
  assert_true(st.misses > 100);

  /* A bulk load, as a rebuild does it, in runs of 50. */
  const ll_views_tuning bulk = {
      .cache_max_entries = 64, .cache_max_bytes = 1 << 20, .bulk_load = true};
  char *dir_bulk = scratch_dir();
  ll_views *b = ll_views_open_tuned(dir_bulk, &bulk, &err);
  assert_non_null(b);
  for (size_t i = 0; i < log.n; i += 50)
    apply_ok(b, &log.e[i], log.n - i < 50 ? log.n - i : 50);
  assert_true(b->files_ingested > 1);

  ll_buf want;
  ll_buf_init(&want);
  views_dump(ref, &want);
  assert_true(want.len > 10000);
  assert_views_dump(v, &want);
  assert_views_dump(b, &want);

  ll_buf_free(&want);
  ll_views_close(ref);
  ll_views_close(v);
  ll_views_close(b);
  rm_tree(dir_ref);
  rm_tree(dir_tiny);
  rm_tree(dir_bulk);
  tlog_free(&log);
}

/* A failed run drops the cache: what it read or wrote cannot leak into
 * the next run. */
static void test_a_failed_run_leaves_no_trace(void **state) {
  (void)state;
  tlog log = {0};
  tlog_created(&log, "L1", "P1", "A", NULL);
  tlog_moved(&log, "L1", "P1", Q(5), "V", LL_USAGE_SUPPLIER, "S",
             LL_USAGE_INTERNAL);
  tlog_moved(&log, "L1", "P1", Q(9), "S", LL_USAGE_INTERNAL, "C",
             LL_USAGE_CUSTOMER); /* more than there is: the views refuse */
  char *dir = scratch_dir();
  ll_err err = {0};
  ll_views *v = ll_views_open(dir, &err);
  assert_non_null(v);
  apply_ok(v, log.e, 1);
  assert_int_equal(ll_views_apply(v, log.e + 1, 2, &err), -1);
  assert_int_equal(v->rows.n, 0);
  assert_int_equal(v->rows.n_dirty, 0);
  assert_false(v->rows.complete);
  apply_ok(v, log.e + 1, 1); /* the good part alone */
  ll_lot lot;
  ll_lot_init(&lot);
  bool found = false;
  assert_int_equal(ll_views_get_lot(v, "P1", "L1", &lot, &found, &err), 0);
  assert_true(found);
  assert_int_equal(lot.on_hand_micro, Q(5));
  ll_lot_free(&lot);
  ll_views_close(v);
  rm_tree(dir);
  tlog_free(&log);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_run_reads_its_own_writes),
      cmocka_unit_test(test_commit_keeps_what_was_read),
      cmocka_unit_test(test_clock_evicts_rows_not_read_again),
      cmocka_unit_test(test_the_bytes_bound_holds),
      cmocka_unit_test(test_dirty_rows_are_never_evicted),
      cmocka_unit_test(test_scan_groups_link_the_runs_rows),
      cmocka_unit_test(test_complete_until_a_row_is_dropped),
      cmocka_unit_test(test_tiny_cache_restart_and_bulk_load_agree),
      cmocka_unit_test(test_a_failed_run_leaves_no_trace),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
