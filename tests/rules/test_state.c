/* test_state.c — the validation state's stored form (rules/ll_state.c).
 *
 * The command consumer stores exactly what these tests read back: which keys
 * an event writes, what an event id's record says, which outcomes are not
 * remembered, and that a damaged record or a failing store is an error, not
 * a silently wrong decision. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ll_event.h"
#include "ll_mem.h"
#include "rules/mem_state.h"

static bool has_key(rules_env *env, const char *key, size_t key_len,
                    const char *value, size_t value_len) {
  const uint8_t *v;
  size_t n;
  if (!mem_state_get(env->state, key, key_len, &v, &n))
    return false;
  return !value || (n == value_len && memcmp(v, value, n) == 0);
}
#define HAS(env, key) has_key((env), key, sizeof(key) - 1, NULL, 0)

/* Seen records are keyed by the product and a hash of the event id. */
static bool has_seen(rules_env *env, const char *product_id,
                     const char *event_id) {
  ll_buf k;
  ll_buf_init(&k);
  ll_state_event_key(&k, product_id, event_id);
  bool found = has_key(env, (const char *)k.data, k.len, NULL, 0);
  assert_int_equal(k.len, 1 + strlen(product_id) + 1 + 16);
  assert_memory_equal(k.data + 1, product_id, strlen(product_id));
  assert_int_equal(k.data[1 + strlen(product_id)], 0x1f);
  ll_buf_free(&k);
  return found;
}

static void put_seen_raw(rules_env *env, const char *event_id,
                         const char *value, size_t value_len) {
  ll_buf k;
  ll_buf_init(&k);
  ll_state_event_key(&k, "P", event_id);
  mem_state_put(env->state, k.data, k.len, value, value_len);
  ll_buf_free(&k);
}
#define HAS_VALUE(env, key, value)                                             \
  has_key((env), key, sizeof(key) - 1, value, sizeof(value) - 1)

static void process(rules_env *env, ll_event *ev, ll_decision *d) {
  env_process(env, ev, d);
}

static void test_keys_written_by_a_creation(void **state) {
  (void)state;
  rules_env env;
  env_init(&env);
  ll_event ev;
  ll_decision d;
  ev_created(&ev, "c1", "P", "L1", " A ", LL_TRACK_SERIAL);
  process(&env, &ev, &d);
  assert_true(d.accepted);
  ll_decision_free(&d);
  ll_event_free(&ev);
  assert_int_equal(mem_state_count(env.state), 4);
  assert_true(has_seen(&env, "P", "c1"));
  assert_false(has_seen(&env, "Q", "c1"));
  assert_true(HAS(&env, "lP\x1fL1"));
  assert_true(HAS_VALUE(&env,
                        "nP\x1f"
                        "A",
                        "L1"));
  assert_true(HAS_VALUE(&env, "tP", "\x01"));
  env_free(&env);
}

static void test_keys_written_by_a_move(void **state) {
  (void)state;
  rules_env env;
  env_init(&env);
  ll_event ev;
  ll_decision d;
  ev_created(&ev, "c1", "P", "L1", "A", LL_TRACK_LOT);
  process(&env, &ev, &d);
  ll_decision_free(&d);
  ll_event_free(&ev);
  ev_moved(&ev, "m1", "P", "L1", 2500000, "Vendors", LL_USAGE_SUPPLIER,
           "WH/Stock", LL_USAGE_INTERNAL);
  process(&env, &ev, &d);
  assert_true(d.accepted);
  ll_decision_free(&d);
  ll_event_free(&ev);
  /* Usages and quantities are keyed by the product first. */
  assert_true(HAS_VALUE(&env, "uP\x1fVendors", "\x02"));
  assert_true(HAS_VALUE(&env, "uP\x1fWH/Stock", "\x00"));
  /* Zig-zag varints: -2500000 -> 4999999, 2500000 -> 5000000. */
  assert_true(HAS_VALUE(&env, "qP\x1fL1\x1fVendors", "\xbf\x96\xb1\x02"));
  assert_true(HAS_VALUE(&env, "qP\x1fL1\x1fWH/Stock", "\xc0\x96\xb1\x02"));
  assert_int_equal(mem_state_count(env.state), 9);
  env_free(&env);
}

static void test_rename_moves_the_name_key(void **state) {
  (void)state;
  rules_env env;
  env_init(&env);
  ll_event ev;
  ll_decision d;
  ev_created(&ev, "c1", "P", "L1", "A", LL_TRACK_LOT);
  process(&env, &ev, &d);
  ll_decision_free(&d);
  ll_event_free(&ev);
  ev_updated(&ev, "u1", "P", "L1");
  ev_set(&ev.name, "B");
  ev_set(&ev.new_product_id, "P"); /* the same product: no change */
  process(&env, &ev, &d);
  assert_true(d.accepted);
  assert_false(d.set_tracking);
  assert_string_equal(d.old_name_key_product, "P");
  assert_string_equal(d.old_name_key_name, "A");
  ll_decision_free(&d);
  ll_event_free(&ev);
  assert_false(HAS(&env, "nP\x1f"
                         "A"));
  assert_true(HAS_VALUE(&env,
                        "nP\x1f"
                        "B",
                        "L1"));
  assert_true(HAS(&env, "tP")); /* a product's tracking stays fixed */

  /* An update that keeps the name leaves the index alone. */
  ev_updated(&ev, "u2", "P", "L1");
  ev_set(&ev.reference, "PO-7");
  process(&env, &ev, &d);
  assert_true(d.accepted);
  assert_null(d.old_name_key_product);
  assert_false(d.set_tracking);
  ll_decision_free(&d);
  ll_event_free(&ev);
  assert_true(HAS_VALUE(&env,
                        "nP\x1f"
                        "B",
                        "L1"));
  env_free(&env);
}

static void test_seen_records(void **state) {
  (void)state;
  rules_env env;
  env_init(&env);
  ll_event ev;
  ll_decision d;
  ll_seen seen;
  ll_err err = {0};
  ll_state_reader reader = mem_state_reader(env.state);

  ev_updated(&ev, "u1", "P", "NOPE");
  ev_set(&ev.reference, "PO-1");
  process(&env, &ev, &d);
  assert_int_equal(d.code, LL_UNKNOWN_LOT);
  assert_int_equal(ll_state_get_seen(&reader, "P", "u1", &seen, &err), 0);
  assert_true(seen.found);
  assert_false(seen.accepted);
  assert_int_equal(seen.code, LL_UNKNOWN_LOT);
  assert_string_equal(seen.message, d.message);
  uint8_t digest[32];
  ll_event_digest(&ev, digest);
  assert_memory_equal(seen.digest, digest, 32);
  /* a rejection keeps the event's occurred_at: the log does not have it */
  assert_true(seen.occurred_at_known);
  assert_int_equal(seen.occurred_at_ms, ev.occurred_at_ms);
  ll_decision_free(&d);
  ll_event_free(&ev);

  /* a rejection recorded before occurred_at was kept still reads */
  ll_buf old;
  ll_buf_init(&old);
  ll_buf_put_u8(&old, 1); /* the format */
  ll_buf_put_bytes(&old, digest, sizeof digest);
  ll_buf_put_u8(&old, 0); /* rejected */
  ll_buf_put_uvar(&old, LL_UNKNOWN_LOT);
  ll_buf_put_str(&old, "no");
  put_seen_raw(&env, "u-old", (const char *)old.data, old.len);
  ll_buf_free(&old);
  assert_int_equal(ll_state_get_seen(&reader, "P", "u-old", &seen, &err), 0);
  assert_true(seen.found);
  assert_int_equal(seen.code, LL_UNKNOWN_LOT);
  assert_string_equal(seen.message, "no");
  assert_false(seen.occurred_at_known);

  ev_created(&ev, "c1", "P", "L1", "A", LL_TRACK_LOT);
  process(&env, &ev, &d);
  ll_decision_free(&d);
  ll_event_free(&ev);
  assert_int_equal(ll_state_get_seen(&reader, "P", "c1", &seen, &err), 0);
  assert_true(seen.found);
  assert_true(seen.accepted);
  assert_int_equal(seen.position, 1);
  /* The same id under another product is another event. */
  assert_int_equal(ll_state_get_seen(&reader, "Q", "c1", &seen, &err), 0);
  assert_false(seen.found);

  assert_int_equal(ll_state_get_seen(&reader, "P", "never", &seen, &err), 0);
  assert_false(seen.found);
  assert_int_equal(ll_state_get_seen(&reader, "P", "", &seen, &err), 0);
  assert_false(seen.found);
  env_free(&env);
}

/* Outcomes that must leave no trace: a blank or invalid event id (nothing
 * sound to key it by), a duplicate, EVENT_ID_REUSED (it must not replace
 * the owner's record), and the wire-level codes. */
static void test_outcomes_not_remembered(void **state) {
  (void)state;
  rules_env env;
  env_init(&env);
  ll_event ev;
  ll_decision d;
  char long_id[300];
  memset(long_id, 'x', 299);
  long_id[299] = '\0';
  const char *bad_ids[] = {"", "  ", long_id, "id\x01", "\xc0\xaf"};
  for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
    ev_created(&ev, bad_ids[i], "P", "L1", "A", LL_TRACK_LOT);
    process(&env, &ev, &d);
    assert_false(d.accepted);
    ll_decision_free(&d);
    ll_event_free(&ev);
  }
  assert_int_equal(mem_state_count(env.state), 0);

  ll_mutations muts;
  ll_mutations_init(&muts);
  ev_created(&ev, "k1", "P", "L1", "A", LL_TRACK_LOT);
  const ll_code silent[] = {LL_MALFORMED, LL_UNKNOWN_SCHEMA, LL_KEY_MISMATCH,
                            LL_WRONG_PARTITION, LL_EVENT_ID_REUSED};
  for (size_t i = 0; i < sizeof silent / sizeof silent[0]; i++) {
    ll_decision_init(&d);
    d.code = silent[i];
    ll_decision_mutations(&ev, &d, NULL, &muts);
    assert_int_equal(muts.len, 0);
  }
  ll_decision_init(&d);
  d.duplicate = true;
  ll_decision_mutations(&ev, &d, NULL, &muts);
  assert_int_equal(muts.len, 0);
  ll_mutations_free(&muts);
  ll_event_free(&ev);
  env_free(&env);
}

static void load_expect_error(rules_env *env, const ll_event *ev,
                              const char *what) {
  ll_state_reader reader = mem_state_reader(env->state);
  ll_facts facts;
  ll_err err = {0};
  ll_facts_init(&facts);
  assert_int_equal(ll_facts_load(&reader, ev, &facts, &err), -1);
  if (!strstr(err.message, what))
    fail_msg("error \"%s\" does not mention \"%s\"", err.message, what);
  ll_facts_free(&facts);
}

static void test_corrupt_records_are_errors(void **state) {
  (void)state;
  rules_env env;
  env_init(&env);
  ll_event ev;
  ev_moved(&ev, "m1", "P", "L1", LL_MICRO, "Vendors", LL_USAGE_SUPPLIER,
           "WH/Stock", LL_USAGE_INTERNAL);

  mem_state_put(env.state, "lP\x1fL1", 5, "\x07junk", 5);
  load_expect_error(&env, &ev, "corrupt lot");

  ll_event good;
  ll_decision d;
  env_free(&env);
  env_init(&env);
  ev_created(&good, "c1", "P", "L1", "A", LL_TRACK_LOT);
  env_process(&env, &good, &d);
  ll_decision_free(&d);
  ll_event_free(&good);

  mem_state_put(env.state, "uP\x1fVendors", 10, "\x09", 1);
  load_expect_error(&env, &ev, "corrupt location");
  mem_state_put(env.state, "uP\x1fVendors", 10, "\x02", 1);

  mem_state_put(env.state, "qP\x1fL1\x1fWH/Stock", 14, "\x80", 1);
  load_expect_error(&env, &ev, "corrupt quantity");
  mem_state_put(env.state, "qP\x1fL1\x1fWH/Stock", 14, "\x02", 1);

  /* A lot stored under a product it does not belong to is corrupt. */
  ll_buf lot_value;
  ll_buf_init(&lot_value);
  ll_lot other;
  ll_lot_init(&other);
  other.lot_id = ll_strdup("L1");
  other.product_id = ll_strdup("Q");
  other.name = ll_strdup("A");
  ll_lot_pack(&other, &lot_value);
  ll_lot_free(&other);
  const uint8_t *kept;
  size_t kept_len;
  assert_true(mem_state_get(env.state, "lP\x1fL1", 5, &kept, &kept_len));
  ll_buf saved;
  ll_buf_init(&saved);
  ll_buf_put(&saved, kept, kept_len);
  mem_state_put(env.state, "lP\x1fL1", 5, lot_value.data, lot_value.len);
  load_expect_error(&env, &ev, "corrupt lot");
  mem_state_put(env.state, "lP\x1fL1", 5, saved.data, saved.len);
  ll_buf_free(&saved);
  ll_buf_free(&lot_value);

  put_seen_raw(&env, "m1", "\x01\x02", 2);
  load_expect_error(&env, &ev, "corrupt event");
  ll_event_free(&ev);
  env_free(&env);
}

static int failing_get(void *ctx, const void *key, size_t key_len, ll_buf *out,
                       bool *found, ll_err *err) {
  (void)ctx;
  (void)key;
  (void)key_len;
  (void)out;
  *found = false;
  return ll_fail(err, LL_ERR_IO, "disk on fire");
}

static void test_reader_errors_propagate(void **state) {
  (void)state;
  ll_state_reader reader = {.ctx = NULL, .get = failing_get};
  ll_event ev;
  ll_facts facts;
  ll_err err = {0};
  ev_created(&ev, "c1", "P", "L1", "A", LL_TRACK_LOT);
  assert_int_equal(ll_facts_load(&reader, &ev, &facts, &err), -1);
  assert_string_equal(err.message, "disk on fire");
  ll_facts_free(&facts);
  ll_event_free(&ev);

  ll_lot lot;
  bool found = true;
  memset(&err, 0, sizeof err);
  assert_int_equal(ll_state_get_lot(&reader, "P", "L1", &lot, &found, &err),
                   -1);
  assert_false(found);
  assert_string_equal(err.message, "disk on fire");
  ll_lot_free(&lot);
  ll_seen seen;
  assert_int_equal(ll_state_get_seen(&reader, "P", "c1", &seen, &err), -1);
}

/* ---- prefetch keys ---- */

#define READS_MAX 32

/* Reads through to a mem_state, noting every key asked for, and whether
 * an earlier read had found something (later keys may depend on it). */
typedef struct recorder {
  ll_state_reader below;
  ll_buf keys[READS_MAX];
  bool after_found[READS_MAX];
  int n;
  bool found_any;
} recorder;

static int recording_get(void *ctx, const void *key, size_t key_len,
                         ll_buf *out, bool *found, ll_err *err) {
  recorder *r = ctx;
  assert_true(r->n < READS_MAX);
  ll_buf_init(&r->keys[r->n]);
  ll_buf_put(&r->keys[r->n], key, key_len);
  r->after_found[r->n] = r->found_any;
  r->n++;
  int rc = r->below.get(r->below.ctx, key, key_len, out, found, err);
  r->found_any = r->found_any || *found;
  return rc;
}

static bool listed(const ll_buf *keys, const ll_buf *key) {
  ll_rd rd;
  ll_rd_init(&rd, keys->data, keys->len);
  uint64_t len;
  while (ll_rd_uvar(&rd, &len)) {
    assert_true(ll_rd_left(&rd) >= len);
    if (len == key->len && memcmp(rd.p, key->data, len) == 0)
      return true;
    rd.p += len;
  }
  return false;
}

/* Every read ll_facts_load makes for ev whose key could not depend on an
 * earlier answer is among ll_facts_prefetch_keys(ev); with all_of, every
 * read at all. */
static void check_prefetch(rules_env *env, const ll_event *ev, bool all_of) {
  recorder r = {.below = mem_state_reader(env->state)};
  ll_state_reader reader = {.ctx = &r, .get = recording_get};
  ll_facts facts;
  ll_err err = {0};
  assert_int_equal(ll_facts_load(&reader, ev, &facts, &err), 0);
  ll_facts_free(&facts);
  ll_buf keys;
  ll_buf_init(&keys);
  ll_facts_prefetch_keys(ev, &keys);
  for (int i = 0; i < r.n; i++) {
    if ((all_of || !r.after_found[i]) && !listed(&keys, &r.keys[i]))
      fail_msg("event %s: read %d (kind '%c') was not prefetched",
               ev->event_id ? ev->event_id : "(none)", i, r.keys[i].data[0]);
    ll_buf_free(&r.keys[i]);
  }
  ll_buf_free(&keys);
}

static void test_prefetch_keys_cover_the_reads(void **state) {
  (void)state;
  rules_env env;
  env_init(&env);
  ll_event created, renamed, moved, by_name, no_id;
  ev_created(&created, "c1", "P", "L1", " A ", LL_TRACK_SERIAL);
  ev_updated(&renamed, "u1", "P", "L1");
  ev_set(&renamed.name, "B");
  ev_set(&renamed.new_product_id, "P");
  ev_moved(&moved, "m1", "P", "L1", LL_MICRO, "Vendors", LL_USAGE_SUPPLIER,
           "WH/Stock", LL_USAGE_INTERNAL);
  ev_moved(&by_name, "m2", "P", NULL, LL_MICRO, "WH/Stock", LL_USAGE_INTERNAL,
           "Customers", LL_USAGE_CUSTOMER);
  ev_set(&by_name.lot_name, "A");
  ev_moved(&no_id, NULL, "P", "L1", LL_MICRO, "Vendors", LL_USAGE_SUPPLIER,
           "WH/Stock", LL_USAGE_INTERNAL);
  const ll_event *all[] = {&created, &renamed, &moved, &by_name, &no_id};

  /* Empty state: nothing is found, so every read is known in advance. */
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    check_prefetch(&env, all[i], true);
  /* With the lot there: a move by lot id still reads only listed keys;
   * the others read what the lot says (its product, its name) too. */
  ll_decision d;
  env_process(&env, &created, &d);
  assert_true(d.accepted);
  ll_decision_free(&d);
  env_process(&env, &moved, &d);
  assert_true(d.accepted);
  ll_decision_free(&d);
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    check_prefetch(&env, all[i], all[i] == &moved || all[i] == &no_id);
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    ll_event_free((ll_event *)all[i]);
  env_free(&env);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_keys_written_by_a_creation),
      cmocka_unit_test(test_keys_written_by_a_move),
      cmocka_unit_test(test_rename_moves_the_name_key),
      cmocka_unit_test(test_seen_records),
      cmocka_unit_test(test_outcomes_not_remembered),
      cmocka_unit_test(test_corrupt_records_are_errors),
      cmocka_unit_test(test_reader_errors_propagate),
      cmocka_unit_test(test_prefetch_keys_cover_the_reads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
