/* test_rules_model.c — the rules against a reference model, at random.
 *
 * The generator and the reference model (rules_model_gen.c, world
 * RM_WORLD_RULES: 3 products, 8 lot ids and 5 names at any time, 8
 * locations) draw events that collide often and predict each outcome; the
 * real rules run on the in-memory state. After every event the outcome and
 * the touched lot must agree and the contract's invariants must hold in
 * the real state; every 1000 events the recent lots and the name index
 * (the model's against a linear scan, the real one entry by entry) and
 * every 10000 events the whole state are compared.
 *
 * The seed is printed; LOTLINE_SEED=<n> replays a run, LOTLINE_MODEL_EVENTS
 * sets the number of events (default 100000). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "ll_event.h"
#include "ll_mem.h"
#include "rules/mem_state.h"
#include "rules/rules_model_gen.h"

#define RECENT_LOTS 50 /* lots behind the window checked every 1000 events */

/* ---- checks against the real state ---- */

static uint64_t seed;
static uint64_t step_no;

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      print_error("seed %llu, event %llu: ", (unsigned long long)seed,         \
                  (unsigned long long)step_no);                                \
      fail_msg(__VA_ARGS__);                                                   \
    }                                                                          \
  } while (0)

/* The real lot agrees with the model; the contract's invariants hold. */
static void check_lot(rules_env *env, const model *m, int i) {
  const mlot *want = &m->lots[i];
  ll_lot got;
  const char *id = lot_str(lot_number(m, i));
  const char *product = product_str(i / m->n_lots);
  bool found = env_lot(env, product, id, &got);
  CHECK(found == want->exists, "lot %s: found %d, model %d", id, found,
        want->exists);
  if (found) {
    CHECK(strcmp(got.product_id, product) == 0 &&
              strcmp(product, product_str(want->product)) == 0,
          "lot %s: product %s, model %s", id, got.product_id,
          product_str(want->product));
    CHECK(strcmp(got.name, want->name) == 0, "lot %s: name '%s', model '%s'",
          id, got.name, want->name);
    CHECK(got.tracking == want->tracking, "lot %s: tracking", id);
    CHECK(got.version == want->version, "lot %s: version %lld, model %lld", id,
          (long long)got.version, (long long)want->version);
    CHECK(got.move_count == want->move_count, "lot %s: move_count", id);
    CHECK(got.created_at_ms == want->created_at, "lot %s: created_at", id);
    CHECK(got.updated_at_ms == want->updated_at, "lot %s: updated_at", id);
    CHECK((got.hold_reason != NULL) == want->held, "lot %s: held %d, model %d",
          id, got.hold_reason != NULL, want->held);
    CHECK(!want->held || (strcmp(got.hold_reason, want->hold_reason) == 0 &&
                          got.hold_since_ms == want->hold_since),
          "lot %s: hold '%s' since %lld, model '%s' since %lld", id,
          got.hold_reason, (long long)got.hold_since_ms, want->hold_reason,
          (long long)want->hold_since);
    CHECK(want->uom < 0
              ? got.uom == NULL
              : got.uom != NULL && strcmp(got.uom, UOMS[want->uom]) == 0,
          "lot %s: unit %s, model %s", id, got.uom ? got.uom : "none",
          want->uom < 0 ? "none" : UOMS[want->uom]);
    CHECK(opt_time_eq(got.expiration_at, want->expiration) &&
              opt_time_eq(got.use_by_at, want->use_by) &&
              opt_time_eq(got.removal_at, want->removal) &&
              opt_time_eq(got.alert_at, want->alert),
          "lot %s: dates", id);
    __int128 sum = 0, stock = 0;
    for (int k = 0; k < N_LOCS; k++) {
      int64_t q = env_qty(env, product, id, LOCS[k]);
      CHECK(q == want->qty[k], "lot %s at %s: %lld, model %lld", id, LOCS[k],
            (long long)q, (long long)want->qty[k]);
      sum += q;
      if (usage_known(m, want->product, k) &&
          is_stock(usage_of(m, want->product, k))) {
        CHECK(q >= 0, "invariant: lot %s below zero at stock location %s", id,
              LOCS[k]);
        stock += q;
      }
    }
    CHECK(sum == 0, "invariant: lot %s does not sum to zero", id);
    CHECK(stock == got.on_hand_micro, "lot %s: on_hand %lld, sum %lld", id,
          (long long)got.on_hand_micro, (long long)stock);
    CHECK(got.tracking != LL_TRACK_SERIAL || got.on_hand_micro == 0 ||
              got.on_hand_micro == LL_MICRO,
          "invariant: serial %s on hand %lld", id,
          (long long)got.on_hand_micro);
  }
  ll_lot_free(&got);
}

static void count_names(void *ctx, const uint8_t *key, size_t key_len,
                        const uint8_t *value, size_t value_len) {
  (void)value;
  (void)value_len;
  if (key_len > 0 && key[0] == 'n')
    (*(int *)ctx)++;
}

/* The real state's name index key of a lot of the model. */
static int name_key(char *key, size_t size, const mlot *l) {
  int n = snprintf(key, size, "n%s\x1f%s", product_str(l->product), l->name);
  assert_true(n > 0 && (size_t)n < size);
  return n;
}

/* The lot's name index entry, in the real state, points at it. */
static void check_name_entry(rules_env *env, const model *m, int lot) {
  char key[64];
  int n = name_key(key, sizeof key, &m->lots[lot]);
  const char *id = lot_str(lot_number(m, lot));
  const uint8_t *v;
  size_t vn;
  CHECK(mem_state_get(env->state, key, (size_t)n, &v, &vn) &&
            vn == strlen(id) && memcmp(v, id, vn) == 0,
        "name index: %s/%s does not point at %s",
        product_str(m->lots[lot].product), m->lots[lot].name, id);
}

/* After an accepted update: the lot's entry is there, and its previous
 * one is gone if the key changed (a rename or product change frees it). */
static void check_name_moved(rules_env *env, const model *m, int lot,
                             const char *old_key, int old_n) {
  check_name_entry(env, m, lot);
  char key[64];
  int n = name_key(key, sizeof key, &m->lots[lot]);
  const uint8_t *v;
  size_t vn;
  if (n != old_n || memcmp(key, old_key, (size_t)n) != 0)
    CHECK(!mem_state_get(env->state, old_key, (size_t)old_n, &v, &vn),
          "name index: %s still there after lot %s left it", old_key + 1,
          lot_str(lot_number(m, lot)));
}

/* Every lot has its name index entry, in the real state and in the
 * model's table, and the table holds nothing else. When `walk`, the real
 * state holds nothing else either (that walk visits every event record, so
 * it runs now and then). */
static void check_name_index(rules_env *env, const model *m, bool walk) {
  int lots = 0, names = 0;
  for (int i = 0; i < m->n_products * m->n_lots; i++) {
    if (!m->lots[i].exists)
      continue;
    lots++;
    check_name_entry(env, m, i);
    CHECK(name_owner(m, m->lots[i].product, m->lots[i].name) == i,
          "model name index: %s/%s does not point at %s",
          product_str(m->lots[i].product), m->lots[i].name,
          lot_str(lot_number(m, i)));
  }
  CHECK(m->n_named == lots, "model name index: %d entries for %d lots",
        m->n_named, lots);
  if (!walk)
    return;
  mem_state_foreach(env->state, count_names, &names);
  CHECK(names == lots, "name index: %d entries for %d lots", names, lots);
}

static const char *outcome(int code) {
  return code == DUP ? "duplicate" : ll_code_name((ll_code)code);
}

/* What one run has seen so far. */
typedef struct run {
  rules_env env;
  rm_gen g;
  uint64_t counts[LL_CODE_COUNT + 1]; /* [LL_CODE_COUNT] = dup */
  uint64_t held_limit;                /* INVALID_QUANTITY for a quantity kept */
  uint64_t other_product_new;         /* a used id under another product,
                                         accepted as a new event */
} run;

/* Every 1000 events the lots around the window, every 10000 all of them:
 * a change to a lot no event addressed shows up either way. */
static void check_periodically(run *rn, uint64_t n_events) {
  if (step_no % 1000 != 0)
    return;
  const model *m = &rn->g.m;
  bool full = step_no % 10000 == 0 || step_no == n_events;
  int from =
      full ? 0 : (int)(step_no / (uint64_t)m->w->slide_lots) - RECENT_LOTS;
  int first_product =
      full ? 0 : (int)(step_no / (uint64_t)m->w->slide_products) - 1;
  for (int p = first_product < 0 ? 0 : first_product; p < m->n_products; p++)
    for (int k = from < 0 ? 0 : from; k < m->n_lots; k++)
      check_lot(&rn->env, m, lot_index(m, p, k));
  check_name_index(&rn->env, m, full);
}

/* One event through the model and the real rules; they must agree. */
static void step(run *rn, uint64_t n_events) {
  ll_event ev;
  field changed;
  int lot = -1;
  int want = rm_gen_next(&rn->g, step_no, &ev, &changed, &lot);
  /* The test's own comparison must see the change it made; an id under
   * another product is another event, judged afresh. */
  CHECK(changed == F_COUNT || changed == F_PRODUCT ||
            want == LL_EVENT_ID_REUSED,
        "%s %s re-sent with %s changed: the model says %s",
        ll_event_type_name(ev.type), ev.event_id, FIELD_NAMES[changed],
        outcome(want));
  char old_key[64];
  int old_n = 0;
  if (want == LL_OK && ev.type == LL_EV_LOT_UPDATED)
    old_n = name_key(old_key, sizeof old_key, &rn->g.m.lots[lot]);
  ll_decision d;
  env_process(&rn->env, &ev, &d);
  int got = d.duplicate ? DUP : d.accepted ? LL_OK : (int)d.code;
  CHECK(got == want, "%s %s%s%s%s: got %s (%s), model says %s",
        ll_event_type_name(ev.type), ev.event_id,
        changed == F_COUNT ? "" : " re-sent with only its ",
        changed == F_COUNT ? "" : FIELD_NAMES[changed],
        changed == F_COUNT ? "" : " changed", outcome(got), d.message,
        outcome(want));
  rn->counts[got == DUP ? LL_CODE_COUNT : got]++;
  if (changed == F_PRODUCT && got == LL_OK)
    rn->other_product_new++;
  if (got == LL_INVALID_QUANTITY && strstr(d.message, "can hold"))
    rn->held_limit++;

  rm_gen_commit(&rn->g, &ev, want, lot); /* takes ev */
  if (lot >= 0)
    check_lot(&rn->env, &rn->g.m, lot);
  if (old_n > 0)
    check_name_moved(&rn->env, &rn->g.m, lot, old_key, old_n);
  check_periodically(rn, n_events);
  ll_decision_free(&d);
}

static void print_outcomes(const run *rn) {
  printf("rules_model: outcomes:");
  for (int c = 0; c <= LL_CODE_COUNT; c++) {
    if (rn->counts[c])
      printf(" %s=%llu", c == LL_CODE_COUNT ? "duplicate" : ll_code_name(c),
             (unsigned long long)rn->counts[c]);
  }
  printf(" (of which a quantity kept beyond the limit: %llu)\n",
         (unsigned long long)rn->held_limit);
  uint64_t changed = 0;
  for (size_t t = 0; t < N_TYPES; t++)
    for (int i = 0; i < FIELDS[t].n; i++)
      changed += rn->g.rs.changed[t][i];
  printf("rules_model: used ids re-sent: %llu with one field changed, %llu "
         "unchanged\n",
         (unsigned long long)changed, (unsigned long long)rn->g.rs.unchanged);
}

/* The world is small enough that every rule fires in a long run. */
static void check_every_rule_fired(const run *rn) {
  const ll_code expected[] = {
      LL_OK,
      LL_MISSING_FIELD,
      LL_INVALID_FIELD,
      LL_DUPLICATE_LOT,
      LL_LOT_ID_TAKEN,
      LL_TRACKING_MISMATCH,
      LL_UNKNOWN_LOT,
      LL_VERSION_CONFLICT,
      LL_PRODUCT_LOCKED,
      LL_INVALID_QUANTITY,
      LL_SAME_LOCATION,
      LL_LOCATION_USAGE_CONFLICT,
      LL_SERIAL_QUANTITY,
      LL_SERIAL_NOT_AT_SOURCE,
      LL_SERIAL_ALREADY_IN_STOCK,
      LL_INSUFFICIENT_STOCK,
      LL_INVALID_DATES,
      LL_EXPIRED_LOT,
      LL_EVENT_ID_REUSED,
      LL_LOT_ON_HOLD,
      LL_UOM_MISMATCH,
  };
  for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
    CHECK(rn->counts[expected[i]] > 0, "no event ended as %s",
          ll_code_name(expected[i]));
  CHECK(rn->counts[LL_CODE_COUNT] > 0, "no duplicate was seen");
  CHECK(rn->held_limit > 0, "no move was stopped at the quantity limit");
  CHECK(rn->other_product_new > 0,
        "no used id was accepted as a new event under another product");
  CHECK(rn->counts[LL_LOT_PRODUCT_MISMATCH] == 0,
        "LOT_PRODUCT_MISMATCH cannot happen with lots scoped by product");
}

static void test_rules_against_model(void **state) {
  (void)state;
  const char *env_seed = getenv("LOTLINE_SEED");
  const char *env_events = getenv("LOTLINE_MODEL_EVENTS");
  seed = env_seed ? strtoull(env_seed, NULL, 10)
                  : (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
  uint64_t n_events = env_events ? strtoull(env_events, NULL, 10) : 100000;
  printf("rules_model: seed=%llu events=%llu (LOTLINE_SEED reproduces)\n",
         (unsigned long long)seed, (unsigned long long)n_events);
  fflush(stdout);
  run *rn = ll_xcalloc(1, sizeof *rn);
  env_init(&rn->env);
  rm_gen_init(&rn->g, &RM_WORLD_RULES, seed, n_events);
  for (step_no = 1; step_no <= n_events; step_no++)
    step(rn, n_events);

  print_outcomes(rn);
  if (n_events >= 100000)
    check_every_rule_fired(rn);
  if (n_events >= 10000)
    check_resends_cover_fields(&rn->g.rs);

  rm_gen_free(&rn->g);
  env_free(&rn->env);
  free(rn);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rules_against_model),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
