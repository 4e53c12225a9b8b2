/* test_balance.c — balances and locations as of a past moment, against a
 * model, over a random stream of moves.
 *
 * A few lots of two products (one lot id under both) move at random
 * between a small tree of stock locations (WH, WH/A, WH/A/1, WH/B, WH2)
 * and virtual ones (suppliers V and V/2, a customer, production, scrap), never
 * below zero in stock. Entries are recorded at non-decreasing times, often
 * equal, so that a cut by time and a cut by position differ. The model is
 * the list of moves and nothing else: every answer is summed from it
 * directly; the views are closed and opened again half-way. Checked at
 * random cuts and windows, by position and by time:
 *   ll_views_location_lots_as_of (with and without children),
 *   ll_views_lot_balance (stock locations, and all with all),
 *   ll_views_location_balance (with and without children);
 * and what each location holds now, page by page (ll_views_location_lots).
 * The seed is printed; LOTLINE_SEED=<n> replays a run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "views_fixture.h"

#define N_LOTS 6
#define N_LOCS 10
#define N_MOVES 400
#define N_CHECKS 60

static const char *const LOTS[N_LOTS][2] = {{"L1", "P1"}, {"L2", "P1"},
                                            {"L3", "P1"}, {"L1", "P2"},
                                            {"L4", "P2"}, {"L5", "P2"}};
/* V/2 lies under V: a move between them leaves V with children at zero
 * while both rows (V's own, the one below it) are there. */
static const char *const LOCS[N_LOCS] = {"WH", "WH/A", "WH/A/1", "WH/B", "WH2",
                                         "V",  "C",    "M",      "X",    "V/2"};
static const ll_usage USAGE[N_LOCS] = {LL_USAGE_INTERNAL, LL_USAGE_INTERNAL,
                                       LL_USAGE_TRANSIT,  LL_USAGE_INTERNAL,
                                       LL_USAGE_INTERNAL, LL_USAGE_SUPPLIER,
                                       LL_USAGE_CUSTOMER, LL_USAGE_PRODUCTION,
                                       LL_USAGE_SCRAP,    LL_USAGE_SUPPLIER};
#define N_STOCK 5 /* LOCS[0..4] */

static uint64_t rng;

static uint64_t rnd(void) {
  uint64_t z = (rng += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

static int pick(int n) {
  return (int)(rnd() % (uint64_t)n);
}

/* ---- the stream and the model ---- */

typedef struct mmove {
  uint64_t position;
  int64_t recorded_at_ms;
  int lot, from, to;
  int64_t q;
} mmove;

typedef struct world {
  tlog log;
  mmove moves[N_MOVES];
  int n;
} world;

static int64_t stock_now(const world *w, int lot, int loc) {
  int64_t s = 0;
  for (int i = 0; i < w->n; i++) {
    if (w->moves[i].lot != lot)
      continue;
    if (w->moves[i].to == loc)
      s += w->moves[i].q;
    if (w->moves[i].from == loc)
      s -= w->moves[i].q;
  }
  return s;
}

static void build(world *w) {
  memset(w, 0, sizeof *w);
  for (int k = 0; k < N_LOTS; k++)
    tlog_created(&w->log, LOTS[k][0], LOTS[k][1], LOTS[k][0], NULL);
  int64_t clock_ms = T_EPOCH_MS;
  for (int i = 0; i < N_MOVES; i++) {
    int lot = pick(N_LOTS), from = pick(N_LOCS), to = pick(N_LOCS);
    while (to == from)
      to = pick(N_LOCS);
    int64_t q = (1 + pick(20)) * LL_MICRO / 2;
    if (from < N_STOCK) {
      int64_t have = stock_now(w, lot, from);
      if (have == 0) {
        from = 5; /* receive from the supplier instead */
        if (to == from)
          to = pick(N_STOCK);
      } else if (q > have) {
        q = have;
      }
    }
    ll_event *ev = tlog_moved(&w->log, LOTS[lot][0], LOTS[lot][1], q,
                              LOCS[from], USAGE[from], LOCS[to], USAGE[to]);
    (void)ev;
    ll_entry *e = &w->log.e[w->log.n - 1];
    clock_ms += pick(3) * 1000; /* equal times are common */
    e->recorded_at_ms = clock_ms;
    w->moves[w->n++] = (mmove){e->position, clock_ms, lot, from, to, q};
  }
}

/* ---- cuts ---- */

static bool at_or_before(const mmove *m, const ll_as_of *at) {
  return at->by_time ? m->recorded_at_ms <= at->time_ms
                     : m->position <= at->position;
}

static bool before(const mmove *m, const ll_as_of *at) {
  return at->by_time ? m->recorded_at_ms < at->time_ms
                     : m->position < at->position;
}

static ll_as_of random_cut(const world *w) {
  const mmove *m = &w->moves[pick(w->n)];
  ll_as_of at = {0};
  if (pick(2)) {
    at.by_time = true;
    at.time_ms = m->recorded_at_ms + (pick(3) - 1) * 500;
  } else {
    at.position = m->position + (uint64_t)pick(2);
  }
  return at;
}

static bool under(int loc, int root, bool children) {
  size_t n = strlen(LOCS[root]);
  return loc == root || (children && strncmp(LOCS[loc], LOCS[root], n) == 0 &&
                         LOCS[loc][n] == '/');
}

/* ---- checks ---- */

static ll_views_reader *reader(ll_views *v) {
  ll_err err = {0};
  ll_views_reader *r = ll_views_reader_open(v, &err);
  if (r == NULL)
    fail_msg("reader: %s", err.message);
  return r;
}

static int lot_of(const char *lot_id, const char *product_id) {
  for (int k = 0; k < N_LOTS; k++)
    if (strcmp(LOTS[k][0], lot_id) == 0 && strcmp(LOTS[k][1], product_id) == 0)
      return k;
  fail_msg("unknown lot %s/%s", product_id, lot_id);
  return -1;
}

/* What each lot holds at root (and below it, with children), in all and on
 * hand, after the moves up to the cut at (NULL: all of them). */
static void model_at(const world *w, int root, bool children,
                     const ll_as_of *at, int64_t want[N_LOTS],
                     int64_t want_hand[N_LOTS]) {
  for (int i = 0; i < w->n; i++) {
    const mmove *m = &w->moves[i];
    if (at != NULL && !at_or_before(m, at))
      continue;
    int ends[2] = {m->from, m->to};
    for (int j = 0; j < 2; j++) {
      if (!under(ends[j], root, children))
        continue;
      int64_t d = j == 0 ? -m->q : m->q;
      want[m->lot] += d;
      if (ends[j] < N_STOCK)
        want_hand[m->lot] += d;
    }
  }
}

static void check_location_as_of(const world *w, ll_views_reader *r) {
  int root = pick(N_LOCS);
  bool children = pick(2);
  ll_as_of at = random_cut(w);
  int64_t want[N_LOTS] = {0}, want_hand[N_LOTS] = {0};
  model_at(w, root, children, &at, want, want_hand);
  ll_location_lot *rows = NULL;
  size_t n = 0;
  bool truncated = true;
  ll_err err = {0};
  if (ll_views_location_lots_as_of(r, LOCS[root], children, &at, &rows, &n,
                                   &truncated, &err) != 0)
    fail_msg("as of: %s", err.message);
  assert_false(truncated);
  size_t expected = 0;
  for (int k = 0; k < N_LOTS; k++)
    expected += want[k] != 0;
  if (n != expected)
    fail_msg("%s%s as of %s %lld: %zu lots, model %zu", LOCS[root],
             children ? " (children)" : "", at.by_time ? "time" : "position",
             at.by_time ? (long long)at.time_ms : (long long)at.position, n,
             expected);
  for (size_t i = 0; i < n; i++) {
    int k = lot_of(rows[i].lot_id, rows[i].product_id);
    assert_int_equal(rows[i].quantity_micro, want[k]);
    assert_int_equal(rows[i].on_hand_micro, want_hand[k]);
  }
  ll_location_lots_free(rows, n);
}

/* The model's balance of one lot (or, lot < 0, of every lot) at the
 * locations under root (root < 0: each stock location, all: each). */
typedef struct mrow {
  int64_t opening, in, out;
} mrow;

static void model_add(mrow *row, const mmove *m, const ll_window *w,
                      int64_t delta) {
  if (w->has_from && before(m, &w->from))
    row->opening += delta;
  else if (delta > 0)
    row->in += delta;
  else
    row->out -= delta;
}

static ll_window random_window(const world *w) {
  ll_window win = {0};
  win.has_from = pick(4) != 0;
  win.has_to = pick(4) != 0;
  if (win.has_from)
    win.from = random_cut(w);
  if (win.has_to)
    win.to = random_cut(w);
  return win;
}

static bool in_window(const mmove *m, const ll_window *w) {
  return !w->has_to || at_or_before(m, &w->to);
}

static void check_row(const ll_balance_row *got, const mrow *want,
                      const char *what) {
  if (got->opening_micro != want->opening || got->in_micro != want->in ||
      got->out_micro != want->out ||
      got->closing_micro != want->opening + want->in - want->out)
    fail_msg("%s: got %lld/%lld/%lld/%lld, model %lld/%lld/%lld", what,
             (long long)got->opening_micro, (long long)got->in_micro,
             (long long)got->out_micro, (long long)got->closing_micro,
             (long long)want->opening, (long long)want->in,
             (long long)want->out);
}

static bool mrow_zero(const mrow *r) {
  return r->opening == 0 && r->in == 0 && r->out == 0;
}

static void check_lot_balance(const world *w, ll_views_reader *r) {
  int lot = pick(N_LOTS);
  bool all = pick(2);
  ll_window win = random_window(w);
  mrow want[N_LOCS];
  memset(want, 0, sizeof want);
  for (int i = 0; i < w->n; i++) {
    const mmove *m = &w->moves[i];
    if (m->lot != lot || !in_window(m, &win))
      continue;
    if (all || m->from < N_STOCK)
      model_add(&want[m->from], m, &win, -m->q);
    if (all || m->to < N_STOCK)
      model_add(&want[m->to], m, &win, m->q);
  }
  ll_balance b;
  ll_err err = {0};
  if (ll_views_lot_balance(r, LOTS[lot][1], LOTS[lot][0], &win, all, &b,
                           &err) != 0)
    fail_msg("lot balance: %s", err.message);
  size_t expected = 0;
  for (int k = 0; k < N_LOCS; k++)
    expected += !mrow_zero(&want[k]);
  assert_int_equal(b.n, expected);
  for (size_t i = 0; i < b.n; i++) {
    int k = 0;
    while (strcmp(LOCS[k], b.rows[i].location) != 0)
      k++;
    check_row(&b.rows[i], &want[k], b.rows[i].location);
    assert_int_equal(b.rows[i].usage, USAGE[k]);
  }
  ll_balance_free(&b);
}

static void check_location_balance(const world *w, ll_views_reader *r) {
  int root = pick(N_LOCS);
  bool children = pick(2);
  ll_window win = random_window(w);
  mrow want[N_LOTS];
  memset(want, 0, sizeof want);
  for (int i = 0; i < w->n; i++) {
    const mmove *m = &w->moves[i];
    if (!in_window(m, &win))
      continue;
    if (under(m->from, root, children))
      model_add(&want[m->lot], m, &win, -m->q);
    if (under(m->to, root, children))
      model_add(&want[m->lot], m, &win, m->q);
  }
  ll_balance b;
  ll_err err = {0};
  if (ll_views_location_balance(r, LOCS[root], children, &win, &b, &err) != 0)
    fail_msg("location balance: %s", err.message);
  size_t expected = 0;
  for (int k = 0; k < N_LOTS; k++)
    expected += !mrow_zero(&want[k]);
  if (b.n != expected)
    fail_msg("balance of %s%s: %zu lots, model %zu", LOCS[root],
             children ? " (children)" : "", b.n, expected);
  for (size_t i = 0; i < b.n; i++) {
    int k = lot_of(b.rows[i].lot_id, b.rows[i].product_id);
    check_row(&b.rows[i], &want[k], b.rows[i].lot_id);
  }
  ll_balance_free(&b);
}

/* What is in a location now (and below it), page after page. */
static void check_location_lots(const world *w, ll_views_reader *r) {
  int root = pick(N_LOCS);
  bool children = pick(2);
  int64_t want[N_LOTS] = {0}, want_hand[N_LOTS] = {0};
  model_at(w, root, children, NULL, want, want_hand);
  size_t limit = 1 + (size_t)pick(3), seen = 0;
  char *cursor = NULL;
  int last = -1;
  do {
    ll_location_lot *rows = NULL;
    size_t n = 0;
    char *next = NULL;
    ll_err err = {0};
    if (ll_views_location_lots(r, LOCS[root], children, cursor, limit, &rows,
                               &n, &next, &err) != 0)
      fail_msg("location lots: %s", err.message);
    for (size_t i = 0; i < n; i++) {
      int k = lot_of(rows[i].lot_id, rows[i].product_id);
      int order = last < 0 ? 1 : strcmp(LOTS[k][0], LOTS[last][0]);
      if (order < 0 || (order == 0 && strcmp(LOTS[k][1], LOTS[last][1]) <= 0))
        fail_msg("%s: lot %s/%s out of (lot_id, product_id) order", LOCS[root],
                 LOTS[k][1], LOTS[k][0]);
      last = k;
      if (rows[i].quantity_micro != want[k] ||
          rows[i].on_hand_micro != want_hand[k])
        fail_msg("%s%s: lot %s/%s holds %lld (%lld on hand), model %lld "
                 "(%lld)",
                 LOCS[root], children ? " (children)" : "", LOTS[k][1],
                 LOTS[k][0], (long long)rows[i].quantity_micro,
                 (long long)rows[i].on_hand_micro, (long long)want[k],
                 (long long)want_hand[k]);
      seen++;
    }
    assert_true(n <= limit);
    assert_true(next == NULL || n == limit);
    ll_location_lots_free(rows, n);
    free(cursor);
    cursor = next;
  } while (cursor != NULL);
  size_t expected = 0;
  for (int k = 0; k < N_LOTS; k++)
    expected += want[k] != 0 || want_hand[k] != 0;
  if (seen != expected)
    fail_msg("%s%s: %zu lots, model %zu", LOCS[root],
             children ? " (children)" : "", seen, expected);
}

static void test_balances_against_model(void **state) {
  (void)state;
  const char *env_seed = getenv("LOTLINE_SEED");
  uint64_t seed = env_seed ? strtoull(env_seed, NULL, 10)
                           : (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
  printf("test_balance: seed=%llu (LOTLINE_SEED reproduces)\n",
         (unsigned long long)seed);
  rng = seed;
  world *w = calloc(1, sizeof *w);
  build(w);
  char *dir = scratch_dir();
  ll_err err = {0};
  ll_views *v = ll_views_open(dir, &err);
  if (v == NULL)
    fail_msg("open: %s", err.message);
  /* Applied in runs of random length, as the projector does, with a
   * restart half-way: the second half finds the rows of the first in the
   * database (the quantity index loaded at the first run), not in memory
   * it wrote them from. */
  bool restarted = false;
  for (size_t i = 0; i < w->log.n;) {
    size_t run = 1 + (size_t)pick(50);
    if (run > w->log.n - i)
      run = w->log.n - i;
    if (ll_views_apply(v, w->log.e + i, run, &err) != 0)
      fail_msg("apply: %s", err.message);
    i += run;
    if (!restarted && i >= w->log.n / 2) {
      ll_views_close(v);
      if ((v = ll_views_open(dir, &err)) == NULL)
        fail_msg("reopen: %s", err.message);
      restarted = true;
    }
  }
  ll_views_reader *r = reader(v);
  for (int i = 0; i < N_CHECKS; i++) {
    check_location_as_of(w, r);
    check_lot_balance(w, r);
    check_location_balance(w, r);
    check_location_lots(w, r);
  }
  ll_views_reader_close(r);
  ll_views_close(v);
  rm_tree(dir);
  tlog_free(&w->log);
  free(w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_balances_against_model),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
