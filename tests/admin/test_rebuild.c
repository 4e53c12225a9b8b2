/* test_rebuild.c — `lotline rebuild` under the hood (ll_views_rebuild):
 * replaying the whole log into fresh views gives byte for byte the views
 * the projector built incrementally, the swap happens only when the new
 * views are complete, and a running owner of the views is never pulled
 * from under.
 *
 * The log is made the way the command consumer makes it: a few thousand
 * random events (creations, receipts, transfers, deliveries, scrap,
 * production with genealogy, renames; some of them invalid on purpose) go
 * through the real rules against the real store's batch reader, and the
 * accepted ones are appended, in batches of random sizes. The incremental
 * views are projected in random small steps. */
#include <errno.h>
#include <limits.h>
#include <rocksdb/c.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ll_event.h"
#include "ll_mem.h"
#include "ll_rules.h"
#include "ll_state.h"
#include "ll_store.h"
#include "ll_views.h"
#include "mem_state.h"
#include "support.h"

#define N_EVENTS 4000     /* events offered to the rules (default) */
#define MIN_ACCEPTED 3000 /* of which at least this many are logged */
/* The main test: enough entries for several of the rebuild's runs
 * (REBUILD_RUN_ENTRIES = 16384 in views_admin.c). */
#define N_EVENTS_MAIN 24000
/* LOTLINE_TEST_REBUILD_EVENTS=N runs the main test on a bigger log, for
 * figures (e.g. 1000000); the default run stays small. */
#define EVENTS_ENV "LOTLINE_TEST_REBUILD_EVENTS"
#define BATCH_MAX 64 /* events per store batch: 1..BATCH_MAX */
#define STEP_MAX 50  /* entries per incremental projector step */
#define LOTS_MAX 400
#define N_PRODUCTS 6 /* P-0..P-3 by lot, P-4, P-5 by serial */
#define SEED 0x5eed2027u

/* ---- fixture ---- */

typedef struct fixture {
  char *root; /* temp directory (tests/support) */
  char log_dir[600];
  char views_dir[600];
  ll_store *log;
  uint64_t accepted;
  uint64_t rejected;
} fixture;

/* ---- a random but valid flow ---- */

static const struct {
  const char *id;
  ll_usage usage;
} locations[] = {
    {"WH/Stock", LL_USAGE_INTERNAL},
    {"WH/Stock/Shelf-1", LL_USAGE_INTERNAL},
    {"WH/Stock/Shelf-2", LL_USAGE_INTERNAL},
    {"WH2/Stock", LL_USAGE_INTERNAL},
    {"Transit/Truck-1", LL_USAGE_TRANSIT},
    {"Partners/Vendors", LL_USAGE_SUPPLIER},
    {"Partners/Customers", LL_USAGE_CUSTOMER},
    {"Virtual/Production", LL_USAGE_PRODUCTION},
    {"Virtual/Scrap", LL_USAGE_SCRAP},
};
#define N_LOCATIONS (sizeof locations / sizeof locations[0])
#define N_STOCK 5 /* the first five hold stock (internal, transit) */
enum { VENDORS = 5, CUSTOMERS, PRODUCTION, SCRAP };

typedef struct model_lot {
  char id[32];
  int product;
  int64_t qty[N_STOCK]; /* what the rules accepted, by stock location */
} model_lot;

typedef struct gen {
  uint64_t rng;
  model_lot lots[LOTS_MAX];
  int n_lots;
  int next_event;
  int next_mo;
  fixture *f;
  ll_store_batch *batch;
} gen;

static uint32_t rnd(gen *g, uint32_t n) {
  g->rng ^= g->rng << 13;
  g->rng ^= g->rng >> 7;
  g->rng ^= g->rng << 17;
  return (uint32_t)(g->rng % n);
}

static bool is_serial(int product) {
  return product >= 4;
}

static void event_id(gen *g, char *out, size_t n) {
  snprintf(out, n, "e-%d", g->next_event++);
}

static void product_id(int p, char *out, size_t n) {
  snprintf(out, n, "P-%d", p);
}

/* Run ev through the rules in the open batch; true when accepted. */
static bool offer(gen *g, ll_event *ev) {
  ll_state_reader reader = ll_store_batch_reader(g->batch);
  ll_facts facts;
  ll_decision d;
  ll_mutations muts;
  ll_err e = {0};
  ll_facts_init(&facts);
  ll_decision_init(&d);
  ll_mutations_init(&muts);
  if (ll_facts_load(&reader, ev, &facts, &e) != 0)
    fail_msg("facts: %s", e.message);
  ll_decide(&facts, ev, NULL, &d);
  assert_false(d.duplicate);
  uint64_t position = 0;
  if (d.accepted) {
    ll_input in = {
        .topic = "lots.inbound", .partition = 0, .offset = g->next_event};
    position = ll_store_batch_append(g->batch, ev, &in, 1900000000000LL);
    g->f->accepted++;
  } else {
    g->f->rejected++;
  }
  ll_log_at at = {position, -1, position};
  ll_decision_mutations(ev, &d, d.accepted ? &at : NULL, &muts);
  ll_store_batch_mutate(g->batch, &muts);
  bool accepted = d.accepted;
  ll_mutations_free(&muts);
  ll_decision_free(&d);
  ll_facts_free(&facts);
  ll_event_free(ev);
  return accepted;
}

static void create_lot(gen *g) {
  if (g->n_lots == LOTS_MAX)
    return;
  model_lot *l = &g->lots[g->n_lots];
  memset(l, 0, sizeof *l);
  l->product = (int)rnd(g, N_PRODUCTS);
  snprintf(l->id, sizeof l->id, "LOT-%04d", g->n_lots);
  char eid[32], pid[16], name[32];
  event_id(g, eid, sizeof eid);
  product_id(l->product, pid, sizeof pid);
  snprintf(name, sizeof name, "%s-%04d", is_serial(l->product) ? "SN" : "L",
           g->n_lots);
  ll_event ev;
  ev_created(&ev, eid, pid, l->id, name,
             is_serial(l->product) ? LL_TRACK_SERIAL : LL_TRACK_LOT);
  if (rnd(g, 3) == 0) {
    ev.expiration_at =
        (ll_opt_time){true, ev.occurred_at_ms + 86400000LL * 365};
    ev.alert_at = (ll_opt_time){true, ev.occurred_at_ms + 86400000LL * 300};
  }
  if (rnd(g, 2) == 0)
    ev.reference = ll_strdup("PO-1");
  if (offer(g, &ev))
    g->n_lots++;
}

static void move(gen *g, model_lot *l, int from, int to, int64_t qty,
                 const char *reference) {
  char eid[32], pid[16];
  event_id(g, eid, sizeof eid);
  product_id(l->product, pid, sizeof pid);
  ll_event ev;
  ev_moved(&ev, eid, pid, l->id, qty, locations[from].id, locations[from].usage,
           locations[to].id, locations[to].usage);
  if (reference != NULL)
    ev.reference = ll_strdup(reference);
  if (offer(g, &ev)) {
    if (from < N_STOCK)
      l->qty[from] -= qty;
    if (to < N_STOCK)
      l->qty[to] += qty;
  }
}

/* A stock location where the lot has something, or -1. */
static int stocked(gen *g, model_lot *l) {
  int start = (int)rnd(g, N_STOCK);
  for (int i = 0; i < N_STOCK; i++) {
    int loc = (start + i) % N_STOCK;
    if (l->qty[loc] > 0)
      return loc;
  }
  return -1;
}

static int64_t some_qty(gen *g, model_lot *l, int64_t available) {
  if (is_serial(l->product))
    return LL_MICRO;
  int64_t q =
      1 + (int64_t)rnd(g, (uint32_t)(available < 4000000000LL ? available
                                                              : 4000000000LL));
  return q;
}

static void one_event(gen *g) {
  uint32_t kind = rnd(g, 100);
  if (g->n_lots < 10 || kind < 8) {
    create_lot(g);
    return;
  }
  model_lot *l = &g->lots[rnd(g, (uint32_t)g->n_lots)];
  int at = stocked(g, l);
  int64_t on_hand = 0;
  for (int i = 0; i < N_STOCK; i++)
    on_hand += l->qty[i];
  if (kind < 30 || at < 0) { /* receive */
    if (is_serial(l->product) && on_hand > 0)
      return;
    int64_t q = is_serial(l->product) ? LL_MICRO
                                      : (int64_t)(1 + rnd(g, 500)) * LL_MICRO +
                                            (int64_t)rnd(g, 1000000);
    move(g, l, VENDORS, (int)rnd(g, N_STOCK), q, "PO-7");
  } else if (kind < 55) { /* transfer */
    int to = (int)rnd(g, N_STOCK);
    if (to == at)
      to = (to + 1) % N_STOCK;
    move(g, l, at, to, some_qty(g, l, l->qty[at]), NULL);
  } else if (kind < 70) { /* deliver */
    move(g, l, at, CUSTOMERS, some_qty(g, l, l->qty[at]), "SO-42");
  } else if (kind < 75) { /* scrap */
    move(g, l, at, SCRAP, some_qty(g, l, l->qty[at]), NULL);
  } else if (kind < 85) { /* production: consume one lot, produce another */
    model_lot *out = &g->lots[rnd(g, (uint32_t)g->n_lots)];
    if (out == l || (is_serial(out->product) && stocked(g, out) >= 0))
      return;
    char mo[32];
    snprintf(mo, sizeof mo, "MO-%d", g->next_mo++);
    move(g, l, at, PRODUCTION, some_qty(g, l, l->qty[at]), mo);
    move(g, out, PRODUCTION, (int)rnd(g, N_STOCK),
         is_serial(out->product) ? LL_MICRO : 10 * LL_MICRO, mo);
  } else if (kind < 93) { /* update */
    char eid[32], pid[16], text[64];
    event_id(g, eid, sizeof eid);
    product_id(l->product, pid, sizeof pid);
    ll_event ev;
    ev_updated(&ev, eid, pid, l->id);
    snprintf(text, sizeof text, "ref %d", g->next_event);
    ev.reference = ll_strdup(text);
    if (rnd(g, 2) == 0)
      ev.description = ll_strdup(rnd(g, 2) ? "" : "checked by QA");
    if (rnd(g, 3) == 0) /* the dates index: a date moved either way */
      ev.alert_at = (ll_opt_time){true, ev.occurred_at_ms +
                                            86400000LL * (int64_t)rnd(g, 200)};
    (void)offer(g, &ev);
  } else { /* invalid on purpose: more than there is */
    move(g, l, at, CUSTOMERS, l->qty[at] + LL_MICRO, "SO-BAD");
  }
}

static int n_events(int at_least) {
  const char *env = getenv(EVENTS_ENV);
  int n = env != NULL ? atoi(env) : 0;
  return n > at_least ? n : at_least;
}

static void write_log(fixture *f, int total) {
  gen *g = calloc(1, sizeof *g);
  g->rng = SEED;
  g->f = f;
  ll_err err = {0};
  int done = 0;
  while (done < total) {
    g->batch = ll_store_batch_begin(f->log);
    int n = 1 + (int)rnd(g, BATCH_MAX);
    for (int i = 0; i < n && done < total; i++, done++)
      one_event(g);
    if (ll_store_batch_commit(g->batch, false, &err) != 0)
      fail_msg("commit: %s: %s", ll_err_kind_name(err.kind), err.message);
  }
  free(g);
  assert_int_equal(ll_store_last_position(f->log), f->accepted);
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  f->root = ts_tempdir("rebuild");
  if (f->root == NULL) {
    free(f);
    return -1;
  }
  snprintf(f->log_dir, sizeof f->log_dir, "%s/log", f->root);
  snprintf(f->views_dir, sizeof f->views_dir, "%s/views", f->root);
  ll_err err = {0};
  f->log = ll_store_open(f->log_dir, LL_STORE_PRIMARY, &err);
  if (!f->log) {
    fprintf(stderr, "open log: %s: %s\n", ll_err_kind_name(err.kind),
            err.message);
    return -1;
  }
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  ll_store_close(f->log);
  int rc = ts_rmtree(f->root);
  free(f->root);
  free(f);
  return rc;
}

/* ---- helpers ---- */

static ll_views *views_open(const char *dir) {
  ll_err err = {0};
  ll_views *v = ll_views_open(dir, &err);
  if (!v)
    fail_msg("views open %s: %s: %s", dir, ll_err_kind_name(err.kind),
             err.message);
  return v;
}

/* The incremental way: the projector in random steps of 1..STEP_MAX. */
static void project_incrementally(fixture *f) {
  ll_views *v = views_open(f->views_dir);
  ll_projector *p = ll_projector_new(f->log, v);
  uint64_t rng = SEED ^ 0xabcdefu;
  size_t applied;
  ll_err err = {0};
  do {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    if (ll_projector_step(p, 1 + (size_t)(rng % STEP_MAX), &applied, &err) != 0)
      fail_msg("step: %s: %s", ll_err_kind_name(err.kind), err.message);
  } while (applied > 0);
  assert_int_equal(ll_views_position(v), f->accepted);
  ll_projector_free(p);
  ll_views_close(v);
}

/* malloc'd dump of the views at dir, *n bytes. */
static char *dump(const char *dir, size_t *n) {
  char *buf = NULL;
  FILE *out = open_memstream(&buf, n);
  ll_err err = {0};
  if (ll_views_dump_dir(dir, out, &err) != 0)
    fail_msg("dump: %s: %s", ll_err_kind_name(err.kind), err.message);
  fclose(out);
  return buf;
}

static void assert_same_dump(const char *a, size_t an, const char *b,
                             size_t bn) {
  if (an == bn && memcmp(a, b, an) == 0)
    return;
  /* Say where, so a failure is readable. */
  size_t line = 1, i = 0;
  for (; i < an && i < bn && a[i] == b[i]; i++)
    if (a[i] == '\n')
      line++;
  fail_msg("dumps differ (%zu vs %zu bytes) at line %zu", an, bn, line);
}

typedef struct progress_log {
  int calls;
  int cancel_after; /* 0: never */
  uint64_t last, target;
} progress_log;

static bool on_progress(void *ctx, uint64_t position, uint64_t target) {
  progress_log *pl = ctx;
  assert_true(position > pl->last);
  assert_true(position <= target);
  pl->last = position;
  pl->target = target;
  pl->calls++;
  return pl->cancel_after == 0 || pl->calls < pl->cancel_after;
}

static void put_raw(const char *dir, const char *key, const char *value) {
  rocksdb_options_t *o = rocksdb_options_create();
  char *rerr = NULL;
  rocksdb_t *db = rocksdb_open(o, dir, &rerr);
  rocksdb_options_destroy(o);
  if (!db)
    fail_msg("raw open: %s", rerr);
  rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
  rocksdb_put(db, wo, key, strlen(key), value, strlen(value), &rerr);
  assert_null(rerr);
  rocksdb_writeoptions_destroy(wo);
  rocksdb_close(db);
}

static bool leftovers_in(const char *root) {
  char cmd[700];
  snprintf(cmd, sizeof cmd, "ls -d %s/views.rebuild-* >/dev/null 2>&1", root);
  return system(cmd) == 0;
}

/* ---- tests ---- */

/* The heart of it: rebuild == incremental, byte for byte; and the rebuild
 * drops whatever the old views held. */
static void test_rebuild_equals_incremental(void **state) {
  fixture *f = *state;
  write_log(f, n_events(N_EVENTS_MAIN));
  assert_true(f->accepted >= MIN_ACCEPTED);
  assert_true(f->rejected > 0);
  project_incrementally(f);
  size_t inc_n;
  char *inc = dump(f->views_dir, &inc_n);
  assert_true(inc_n > f->accepted); /* several rows, not just a checkpoint */

  /* A stale row the log does not explain must not survive. */
  put_raw(f->views_dir, "zzz/stale", "x");
  /* Nor a crashed rebuild's leftovers. */
  char leftover[700];
  snprintf(leftover, sizeof leftover, "%s/views.rebuild-crashed", f->root);
  assert_int_equal(mkdir(leftover, 0755), 0);

  progress_log pl = {0};
  ll_rebuild_stats st;
  ll_err err = {0};
  if (ll_views_rebuild(f->log, f->views_dir, on_progress, &pl, &st, &err) != 0)
    fail_msg("rebuild: %s: %s", ll_err_kind_name(err.kind), err.message);
  assert_int_equal(st.entries, f->accepted);
  assert_int_equal(st.position, f->accepted);
  assert_int_equal(pl.last, f->accepted);
  assert_true(pl.calls >= 1);
  assert_false(leftovers_in(f->root));

  size_t reb_n;
  char *reb = dump(f->views_dir, &reb_n);
  assert_same_dump(inc, inc_n, reb, reb_n);
  printf("rebuild: %llu entries (%llu events offered) in %.3f s "
         "(%.0f entries/s), dump %zu bytes identical\n",
         (unsigned long long)st.entries,
         (unsigned long long)(f->accepted + f->rejected),
         (double)st.elapsed_ns / 1e9,
         (double)st.entries / ((double)st.elapsed_ns / 1e9), reb_n);
  free(inc);
  free(reb);

  /* The rebuilt views serve and keep following the log. */
  ll_views *v = views_open(f->views_dir);
  ll_lot_filter first = {.limit = 1};
  ll_lot *lots = NULL;
  size_t n = 0;
  char *next = NULL;
  assert_int_equal(ll_views_list_lots(v, &first, &lots, &n, &next, &err), 0);
  assert_int_equal(n, 1);
  assert_string_equal(lots[0].lot_id, "LOT-0000");
  ll_lot lot;
  bool found = false;
  ll_lot_init(&lot);
  assert_int_equal(
      ll_views_get_lot(v, lots[0].product_id, "LOT-0000", &lot, &found, &err),
      0);
  assert_true(found);
  ll_lot_free(&lot);
  ll_lots_free(lots, n);
  free(next);
  ll_views_close(v);
}

/* Cancelled (a crash before the swap looks the same): the old views stay
 * exactly as they were — a stale row a rebuild would drop is still there —
 * and no temporary directory is left. The cancel comes at the last
 * progress call, when the new views are complete but not yet swapped in:
 * the latest moment it can come. */
static void test_cancelled_rebuild_keeps_old_views(void **state) {
  fixture *f = *state;
  write_log(f, N_EVENTS);
  project_incrementally(f);
  put_raw(f->views_dir, "zzz/stale", "x");
  size_t before_n;
  char *before = dump(f->views_dir, &before_n);
  assert_non_null(strstr(before, "7a7a7a2f7374616c65 78\n")); /* zzz/stale */

  progress_log pl = {.cancel_after = 1};
  ll_rebuild_stats st;
  ll_err err = {0};
  assert_int_equal(
      ll_views_rebuild(f->log, f->views_dir, on_progress, &pl, &st, &err), -1);
  assert_non_null(strstr(err.message, "cancelled"));
  assert_int_equal(pl.last, pl.target); /* the new views were complete */
  assert_false(leftovers_in(f->root));
  size_t after_n;
  char *after = dump(f->views_dir, &after_n);
  assert_same_dump(before, before_n, after, after_n);
  free(before);
  free(after);
}

/* While a process has the views open, rebuild refuses and says why. */
static void test_rebuild_refuses_views_in_use(void **state) {
  fixture *f = *state;
  write_log(f, N_EVENTS);
  project_incrementally(f);
  ll_views *v = views_open(f->views_dir);
  ll_rebuild_stats st;
  ll_err err = {0};
  assert_int_equal(
      ll_views_rebuild(f->log, f->views_dir, NULL, NULL, &st, &err), -1);
  assert_non_null(strstr(err.message, "stop it first"));
  assert_int_equal(ll_views_position(v), f->accepted);
  ll_views_close(v);
  assert_false(leftovers_in(f->root));
  /* Once closed, it goes. */
  assert_int_equal(
      ll_views_rebuild(f->log, f->views_dir, NULL, NULL, &st, &err), 0);
}

/* No views yet (never projected, or deleted): rebuild makes them. And an
 * empty log makes empty views. */
static void test_rebuild_without_views(void **state) {
  fixture *f = *state;
  ll_rebuild_stats st;
  ll_err err = {0};
  assert_int_equal(
      ll_views_rebuild(f->log, f->views_dir, NULL, NULL, &st, &err), 0);
  assert_int_equal(st.entries, 0);
  ll_views *v = views_open(f->views_dir);
  assert_int_equal(ll_views_position(v), 0);
  ll_views_close(v);

  write_log(f, N_EVENTS);
  char other[700];
  snprintf(other, sizeof other, "%s/views-fresh", f->root);
  assert_int_equal(ll_views_rebuild(f->log, other, NULL, NULL, &st, &err), 0);
  assert_int_equal(st.entries, f->accepted);
}

/* Views of the format before lots were scoped by product (2) are refused
 * with the remedy, and the remedy works: rebuild replaces them. */
static void test_rebuild_replaces_views_of_an_older_format(void **state) {
  fixture *f = *state;
  write_log(f, N_EVENTS);
  project_incrementally(f);
  put_raw(f->views_dir, "meta/format", "\x02");
  ll_err err = {0};
  assert_null(ll_views_open(f->views_dir, &err));
  assert_int_equal(err.kind, LL_ERR_CORRUPT);
  assert_non_null(strstr(err.message, "format version 2"));
  assert_non_null(strstr(err.message, "lotline rebuild"));
  ll_rebuild_stats st;
  assert_int_equal(
      ll_views_rebuild(f->log, f->views_dir, NULL, NULL, &st, &err), 0);
  ll_views *v = views_open(f->views_dir);
  assert_int_equal(ll_views_position(v), f->accepted);
  ll_views_close(v);
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
      T(test_rebuild_equals_incremental),
      T(test_cancelled_rebuild_keeps_old_views),
      T(test_rebuild_refuses_views_in_use),
      T(test_rebuild_without_views),
      T(test_rebuild_replaces_views_of_an_older_format),
#undef T
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
