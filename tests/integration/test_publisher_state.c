/* test_publisher_state.c — the downstream publisher's quantities
 * (publisher_state.c): the new quantities it reports for each move match a
 * plain model, whether its in-memory index holds every row or is far too
 * small for them (the rest read from RocksDB), across aborted runs (their
 * changes must not leak), a reopen (the index loaded back) and a reset
 * with a replay; they are the views' quantities, row for row (what
 * lots.quantities says is what the API says); a state of another format
 * is refused and left as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <rocksdb/c.h>

#include "ll_views.h"
#include "publisher_state.h"
#include "views_fixture.h"

#define LOTS 40
#define LOCS 6
#define MOVES 3000

static const char *const locs[LOCS] = {"Vendors/V1", "WH/A",    "WH/B",
                                       "WH/A/1",     "Cust/C1", "Cust/C2"};

typedef struct model {
  int64_t q[LOTS][LOCS];
} model;

static void build(tlog *l, int from_loc[], int to_loc[], int lot_of[]) {
  uint64_t s = 11;
  char lot[16];
  for (int m = 0; m < MOVES; m++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    int i = (int)((s >> 33) % LOTS), f = (int)((s >> 40) % LOCS),
        t = (int)((s >> 50) % LOCS);
    if (t == f)
      t = (t + 1) % LOCS;
    /* Small quantities, so rows often come back to zero (deleted). */
    int64_t q = (int64_t)(1 + (s >> 20) % 3) * LL_MICRO;
    snprintf(lot, sizeof lot, "L%02d", i);
    tlog_moved(l, lot, "P", q, locs[f], LL_USAGE_INTERNAL, locs[t],
               LL_USAGE_INTERNAL);
    from_loc[m] = f;
    to_loc[m] = t;
    lot_of[m] = i;
  }
}

typedef struct rig {
  tlog log;
  int from[MOVES], to[MOVES], lot[MOVES];
  model m;
  uint64_t seed;
} rig;

/* Apply [at, at + n) as one run and check every reported quantity; the
 * run is committed (model updated) or aborted (model untouched). */
static void run(rig *g, pub_state *s, size_t at, size_t n, bool commit) {
  model m = g->m;
  ll_err err = {0};
  pub_run *r = pub_run_begin(s);
  for (size_t k = at; k < at + n; k++) {
    int64_t from_after = 0, to_after = 0;
    if (pub_run_apply(r, &g->log.e[k], &from_after, &to_after, &err) != 0)
      fail_msg("apply: %s", err.message);
    int64_t q = g->log.e[k].event.quantity_micro;
    m.q[g->lot[k]][g->from[k]] -= q;
    m.q[g->lot[k]][g->to[k]] += q;
    assert_int_equal(from_after, m.q[g->lot[k]][g->from[k]]);
    assert_int_equal(to_after, m.q[g->lot[k]][g->to[k]]);
  }
  if (!commit) {
    pub_run_abort(r);
    return;
  }
  if (pub_run_commit(r, NULL, NULL, false, &err) != 0)
    fail_msg("commit: %s", err.message);
  g->m = m;
}

/* Runs of 1 to 40 entries over [from, to), every fifth one aborted first
 * and then redone. */
static void play(rig *g, pub_state *s, size_t from, size_t to) {
  for (size_t at = from; at < to;) {
    g->seed = g->seed * 6364136223846793005ULL + 1442695040888963407ULL;
    size_t n = 1 + (g->seed >> 33) % 40;
    if (n > to - at)
      n = to - at;
    if ((g->seed >> 45) % 5 == 0)
      run(g, s, at, n, false);
    run(g, s, at, n, true);
    at += n;
  }
}

static void check_stored(rig *g, pub_state *s) {
  ll_err err = {0};
  char lot[16];
  for (int i = 0; i < LOTS; i++)
    for (int c = 0; c < LOCS; c++) {
      int64_t q = -1;
      snprintf(lot, sizeof lot, "L%02d", i);
      assert_int_equal(pub_state_quantity(s, "P", lot, locs[c], &q, &err), 0);
      assert_int_equal(q, g->m.q[i][c]);
    }
}

static void scenario(size_t quant_max_bytes) {
  rig *g = calloc(1, sizeof *g);
  assert_non_null(g);
  g->seed = 3;
  build(&g->log, g->from, g->to, g->lot);
  char *dir = scratch_dir();
  ll_err err = {0};
  pub_state *s = pub_state_open_bounded(dir, quant_max_bytes, &err);
  assert_non_null(s);
  play(g, s, 0, MOVES / 2);
  check_stored(g, s);
  pub_state_close(s);
  s = pub_state_open_bounded(dir, quant_max_bytes, &err);
  assert_non_null(s);
  assert_int_equal(pub_state_position(s), MOVES / 2);
  play(g, s, MOVES / 2, MOVES);
  check_stored(g, s);
  /* Reset and replay: the same quantities again. */
  assert_int_equal(pub_state_reset(s, &err), 0);
  memset(&g->m, 0, sizeof g->m);
  play(g, s, 0, MOVES);
  check_stored(g, s);
  pub_state_close(s);
  rm_tree(dir);
  tlog_free(&g->log);
  free(g);
}

static void test_every_row_in_memory(void **state) {
  (void)state;
  scenario(8u * 1024 * 1024);
}

static void test_index_far_too_small(void **state) {
  (void)state;
  scenario(8192);
}

/* A valid log over real usages: receipts from a supplier, transfers
 * inside the warehouse, deliveries to customers, never more than is in
 * stock (what the rules let through). */
#define AGREE_LOTS 12
#define AGREE_MOVES 1500
static const char *const agree_locs[] = {"Vendors/V1", "WH/A", "WH/B",
                                         "Cust/C1"};
static const ll_usage agree_usage[] = {LL_USAGE_SUPPLIER, LL_USAGE_INTERNAL,
                                       LL_USAGE_INTERNAL, LL_USAGE_CUSTOMER};

static void build_valid(tlog *l) {
  char lot[16];
  int64_t stock[AGREE_LOTS][2] = {{0}}; /* WH/A, WH/B */
  for (int i = 0; i < AGREE_LOTS; i++) {
    snprintf(lot, sizeof lot, "L%02d", i);
    tlog_created(l, lot, "P", lot, NULL);
  }
  uint64_t s = 5;
  for (int m = 0; m < AGREE_MOVES; m++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    int i = (int)((s >> 33) % AGREE_LOTS);
    int64_t q = (int64_t)(1 + (s >> 20) % 4) * LL_MICRO / 2;
    int from = 0, to = 1; /* a receipt, unless stock allows more */
    int step = (int)((s >> 40) % 3);
    if (step == 1 && stock[i][0] >= q)
      from = 1, to = 2;
    else if (step == 2 && stock[i][1] >= q)
      from = 2, to = 3;
    if (from >= 1)
      stock[i][from - 1] -= q;
    if (to <= 2)
      stock[i][to - 1] += q;
    snprintf(lot, sizeof lot, "L%02d", i);
    tlog_moved(l, lot, "P", q, agree_locs[from], agree_usage[from],
               agree_locs[to], agree_usage[to]);
  }
}

static void test_quantities_are_the_views(void **state) {
  (void)state;
  tlog log = {0};
  build_valid(&log);
  char *vdir = scratch_dir(), *pdir = scratch_dir();
  ll_err err = {0};
  ll_views *v = ll_views_open(vdir, &err);
  pub_state *s = pub_state_open(pdir, &err);
  assert_non_null(v);
  assert_non_null(s);
  for (size_t at = 0; at < log.n; at += 100) {
    size_t n = log.n - at < 100 ? log.n - at : 100;
    if (ll_views_apply(v, &log.e[at], n, &err) != 0)
      fail_msg("views: %s", err.message);
    pub_run *r = pub_run_begin(s);
    for (size_t k = at; k < at + n; k++)
      if (pub_run_apply(r, &log.e[k], NULL, NULL, &err) != 0)
        fail_msg("publisher: %s", err.message);
    assert_int_equal(pub_run_commit(r, NULL, NULL, false, &err), 0);
  }
  char lot[16];
  size_t rows = 0;
  for (int i = 0; i < AGREE_LOTS; i++) {
    snprintf(lot, sizeof lot, "L%02d", i);
    ll_lot_location *ls = NULL;
    size_t n = 0;
    assert_int_equal(ll_views_lot_locations(v, "P", lot, true, &ls, &n, &err),
                     0);
    for (size_t c = 0; c < sizeof agree_locs / sizeof agree_locs[0]; c++) {
      int64_t views_q = 0, pub_q = -1;
      for (size_t k = 0; k < n; k++)
        if (strcmp(ls[k].location, agree_locs[c]) == 0)
          views_q = ls[k].quantity_micro;
      assert_int_equal(
          pub_state_quantity(s, "P", lot, agree_locs[c], &pub_q, &err), 0);
      assert_int_equal(pub_q, views_q);
      rows += views_q != 0;
    }
    ll_lot_locations_free(ls, n);
  }
  assert_true(rows > AGREE_LOTS); /* the log moved stock around */
  pub_state_close(s);
  ll_views_close(v);
  rm_tree(vdir);
  rm_tree(pdir);
  tlog_free(&log);
}

/* The format mark: uvar version at meta/format. */
static void put_format(const char *dir, uint8_t version) {
  rocksdb_options_t *o = rocksdb_options_create();
  char *rerr = NULL;
  rocksdb_t *db = rocksdb_open(o, dir, &rerr);
  assert_null(rerr);
  rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
  rocksdb_put(db, wo, "meta/format", strlen("meta/format"),
              (const char *)&version, 1, &rerr);
  assert_null(rerr);
  rocksdb_writeoptions_destroy(wo);
  rocksdb_close(db);
  rocksdb_options_destroy(o);
}

static void test_other_format_is_refused(void **state) {
  (void)state;
  char *dir = scratch_dir();
  ll_err err = {0};
  pub_state *s = pub_state_open(dir, &err);
  assert_non_null(s);
  pub_state_close(s);
  put_format(dir, 7);
  s = pub_state_open(dir, &err);
  assert_null(s);
  assert_int_equal(err.kind, LL_ERR_CORRUPT);
  assert_non_null(strstr(err.message, dir));
  assert_non_null(strstr(err.message, "format version 7"));
  assert_non_null(strstr(err.message, "delete the directory"));
  /* Refused, not converted: the mark is still 7. */
  s = pub_state_open(dir, &err);
  assert_null(s);
  assert_non_null(strstr(err.message, "format version 7"));
  /* Format 1 kept quantities by lot id alone: refused as well. */
  put_format(dir, 1);
  s = pub_state_open(dir, &err);
  assert_null(s);
  assert_non_null(strstr(err.message, "format version 1"));
  put_format(dir, 2);
  s = pub_state_open(dir, &err);
  assert_non_null(s);
  pub_state_close(s);
  rm_tree(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_row_in_memory),
      cmocka_unit_test(test_index_far_too_small),
      cmocka_unit_test(test_quantities_are_the_views),
      cmocka_unit_test(test_other_format_is_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
