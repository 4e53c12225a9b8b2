/* test_cluster_members.c — the ownership directory's table
 * (services/cluster/ll_members.c): which instance answers for a
 * partition, as every instance computes it from lots.members. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ll_members.h"

/* Apply a claim of id for parts, as read at (ts_ms, offset). */
static void claim(ll_members *ms, const char *id, const char *url,
                  const int32_t *parts, size_t n, int64_t ts_ms,
                  int64_t offset) {
  char *value = ll_claim_encode(id, url, parts, n, 4, offset);
  ll_err err = {0};
  assert_int_equal(ll_members_apply(ms, id, strlen(id), value, strlen(value),
                                    ts_ms, offset, &err),
                   0);
  free(value);
}

static const char *owner_of(const ll_members *ms, int32_t p,
                            const char *except) {
  int i = ll_members_owner(ms, p, except);
  return i < 0 ? NULL : ms->m[i].id;
}

static void each_partition_has_its_claimer(void **state) {
  (void)state;
  static ll_members ms;
  memset(&ms, 0, sizeof ms);
  const int32_t a[] = {0, 1}, b[] = {2, 3};
  claim(&ms, "A", "http://a:1", a, 2, 1000, 0);
  claim(&ms, "B", "http://b:1", b, 2, 1000, 1);
  assert_string_equal(owner_of(&ms, 0, NULL), "A");
  assert_string_equal(owner_of(&ms, 3, NULL), "B");
  assert_string_equal(ms.m[ll_members_owner(&ms, 3, NULL)].url, "http://b:1");
  assert_null(owner_of(&ms, 1, "A")); /* an instance's own claim excluded */
  assert_int_equal(ll_members_partition_count(&ms), 4);
}

/* A killed instance never replaces its claim: the new owner's later claim
 * of the same partition wins, whatever order the table saw them in. */
static void a_later_claim_supersedes_a_stale_one(void **state) {
  (void)state;
  static ll_members ms;
  memset(&ms, 0, sizeof ms);
  const int32_t all[] = {0, 1, 2, 3}, taken[] = {2, 3};
  claim(&ms, "A", "http://a:1", all, 4, 1000, 0);
  claim(&ms, "B", "http://b:1", taken, 2, 2000, 1);
  assert_string_equal(owner_of(&ms, 2, NULL), "B");
  assert_string_equal(owner_of(&ms, 0, NULL), "A");
  /* Read from another partition of the members topic, out of order: an
   * older claim arriving late still loses on its timestamp. */
  claim(&ms, "C", "http://c:1", taken, 2, 1500, 7);
  assert_string_equal(owner_of(&ms, 3, NULL), "B");
  /* Same timestamp: the later offset wins. */
  claim(&ms, "C", "http://c:1", taken, 2, 2000, 8);
  assert_string_equal(owner_of(&ms, 3, NULL), "C");
}

/* A revocation publishes an empty claim: the instance stays known (a
 * rebalance is under way, its partitions have no owner); a clean stop
 * publishes a tombstone, which removes it. */
static void an_empty_claim_owns_nothing_a_tombstone_removes(void **state) {
  (void)state;
  static ll_members ms;
  memset(&ms, 0, sizeof ms);
  const int32_t a[] = {0, 1}, b[] = {2, 3};
  claim(&ms, "A", "http://a:1", a, 2, 1000, 0);
  claim(&ms, "B", "http://b:1", b, 2, 1000, 1);
  claim(&ms, "B", "http://b:1", NULL, 0, 3000, 2);
  assert_int_equal(ms.n, 2);
  assert_null(owner_of(&ms, 2, NULL));
  assert_string_equal(owner_of(&ms, 0, NULL), "A");
  ll_err err = {0};
  assert_int_equal(ll_members_apply(&ms, "B", 1, NULL, 0, 4000, 3, &err), 0);
  assert_int_equal(ms.n, 1);
  assert_string_equal(ms.m[0].id, "A");
  assert_int_equal(ll_members_apply(&ms, "A", 1, NULL, 0, 5000, 4, &err), 0);
  assert_int_equal(ms.n, 0);
  assert_null(owner_of(&ms, 0, NULL));
}

/* A claim replaces the instance's previous one: partitions it gave up
 * are no longer its. */
static void a_new_claim_replaces_the_previous(void **state) {
  (void)state;
  static ll_members ms;
  memset(&ms, 0, sizeof ms);
  const int32_t all[] = {0, 1, 2, 3}, half[] = {0, 1};
  claim(&ms, "A", "http://a:1", all, 4, 1000, 0);
  claim(&ms, "A", "http://a:2", half, 2, 2000, 1);
  assert_int_equal(ms.n, 1);
  assert_null(owner_of(&ms, 3, NULL));
  assert_string_equal(ms.m[0].url, "http://a:2");
}

/* A record that is not a claim is refused and changes nothing. */
static void a_bad_record_is_skipped(void **state) {
  (void)state;
  static ll_members ms;
  memset(&ms, 0, sizeof ms);
  const int32_t a[] = {0};
  claim(&ms, "A", "http://a:1", a, 1, 1000, 0);
  ll_err err = {0};
  const char *junk = "{\"url\":\"http://x\",\"partitions\":[9999],"
                     "\"partition_count\":4}";
  assert_int_equal(
      ll_members_apply(&ms, "A", 1, junk, strlen(junk), 2000, 1, &err), -1);
  assert_int_equal(err.kind, LL_ERR_CORRUPT);
  assert_int_equal(ll_members_apply(&ms, "A", 1, "not json", 8, 2000, 1, &err),
                   -1);
  assert_int_equal(ll_members_apply(&ms, NULL, 0, "{}", 2, 2000, 1, &err), -1);
  assert_string_equal(owner_of(&ms, 0, NULL), "A");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(each_partition_has_its_claimer),
      cmocka_unit_test(a_later_claim_supersedes_a_stale_one),
      cmocka_unit_test(an_empty_claim_owns_nothing_a_tombstone_removes),
      cmocka_unit_test(a_new_claim_replaces_the_previous),
      cmocka_unit_test(a_bad_record_is_skipped),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
