/* test_cluster_standby.c — which instance stands by for which partition
 * (ll_members_standby, services/cluster/ll_members.c): every instance
 * computes it from the same lots.members table, so the answers must
 * cover each owned partition with the asked number of standbys, never the
 * owner itself, and follow a failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ll_members.h"

#define PARTITIONS 6

static void claim(ll_members *ms, const char *id, const int32_t *parts,
                  size_t n, int64_t ts_ms) {
  char *value = ll_claim_encode(id, "http://x:1", parts, n, PARTITIONS, ts_ms);
  ll_err err = {0};
  assert_int_equal(ll_members_apply(ms, id, strlen(id), value, strlen(value),
                                    ts_ms, ts_ms, &err),
                   0);
  free(value);
}

/* A claim naming the consumer's group member id too. */
static void claim_member(ll_members *ms, const char *id, const char *member,
                         int32_t partitions, const int32_t *parts, size_t n,
                         int64_t ts_ms) {
  ll_claim c = {.id = id,
                .url = "http://x:1",
                .member = member,
                .parts = parts,
                .n = n,
                .partition_count = partitions,
                .generation = ts_ms};
  char *value = ll_claim_encode_full(&c);
  ll_err err = {0};
  assert_int_equal(ll_members_apply(ms, id, strlen(id), value, strlen(value),
                                    ts_ms, ts_ms, &err),
                   0);
  free(value);
}

static bool has(const uint8_t *bits, int32_t p) {
  return (bits[p / 8] & (1u << (p % 8))) != 0;
}

/* How many of ids stand by for p, and whether owner is among them. */
static int standbys_of(const ll_members *ms, const char *const *ids, size_t n,
                       int replicas, int32_t p, const char *owner) {
  int count = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t bits[LL_MEMBERS_PARTITIONS_MAX / 8];
    ll_members_standby(ms, ids[i], PARTITIONS, replicas, bits);
    if (has(bits, p)) {
      assert_string_not_equal(ids[i], owner);
      count++;
    }
  }
  return count;
}

static void three_instances(ll_members *ms) {
  memset(ms, 0, sizeof *ms);
  const int32_t a[] = {0, 1}, b[] = {2, 3}, c[] = {4, 5};
  claim(ms, "B", b, 2, 1000); /* table order is not id order */
  claim(ms, "A", a, 2, 1001);
  claim(ms, "C", c, 2, 1002);
}

/* One standby each: the next instance by id after the owner, wrapping. */
static void the_next_instance_stands_by(void **state) {
  (void)state;
  static ll_members ms;
  three_instances(&ms);
  uint8_t bits[LL_MEMBERS_PARTITIONS_MAX / 8];
  assert_int_equal(ll_members_standby(&ms, "B", PARTITIONS, 1, bits), 2);
  assert_true(has(bits, 0) && has(bits, 1)); /* A's */
  assert_int_equal(ll_members_standby(&ms, "C", PARTITIONS, 1, bits), 2);
  assert_true(has(bits, 2) && has(bits, 3)); /* B's */
  assert_int_equal(ll_members_standby(&ms, "A", PARTITIONS, 1, bits), 2);
  assert_true(has(bits, 4) && has(bits, 5)); /* C's, wrapped */
}

/* Every partition gets exactly min(replicas, others) standbys, never its
 * owner; 0 replicas turns them off. */
static void each_partition_has_its_count(void **state) {
  (void)state;
  static ll_members ms;
  three_instances(&ms);
  const char *ids[] = {"A", "B", "C"};
  const char *owners[PARTITIONS] = {"A", "A", "B", "B", "C", "C"};
  for (int32_t p = 0; p < PARTITIONS; p++) {
    assert_int_equal(standbys_of(&ms, ids, 3, 1, p, owners[p]), 1);
    assert_int_equal(standbys_of(&ms, ids, 3, 2, p, owners[p]), 2);
    assert_int_equal(standbys_of(&ms, ids, 3, 5, p, owners[p]), 2);
    assert_int_equal(standbys_of(&ms, ids, 3, 0, p, owners[p]), 0);
  }
}

/* A cluster of one has no standby. */
static void alone_no_one_stands_by(void **state) {
  (void)state;
  static ll_members ms;
  memset(&ms, 0, sizeof ms);
  const int32_t all[] = {0, 1, 2, 3, 4, 5};
  claim(&ms, "A", all, 6, 1000);
  uint8_t bits[LL_MEMBERS_PARTITIONS_MAX / 8];
  assert_int_equal(ll_members_standby(&ms, "A", PARTITIONS, 1, bits), 0);
  assert_int_equal(ll_members_standby(&ms, "Z", PARTITIONS, 1, bits), 0);
}

/* A killed instance never replaces its claim; once the group gave all its
 * partitions away it is no longer live, and no one counts on it as a
 * standby: C's partitions go to the next live one. Until then, the
 * standbys of its partitions stay where they were (warm copies). */
static void a_dead_instance_is_skipped(void **state) {
  (void)state;
  static ll_members ms;
  three_instances(&ms);
  uint8_t bits[LL_MEMBERS_PARTITIONS_MAX / 8];
  /* Before the group noticed: B still stands by for A's partitions. */
  assert_int_equal(ll_members_standby(&ms, "B", PARTITIONS, 1, bits), 2);
  assert_true(has(bits, 0) && has(bits, 1));
  /* The group hands A's partitions to B and C. */
  const int32_t b[] = {0, 2, 3}, c[] = {1, 4, 5};
  claim(&ms, "B", b, 3, 2000);
  claim(&ms, "C", c, 3, 2001);
  size_t a_index = 0;
  while (strcmp(ms.m[a_index].id, "A") != 0)
    a_index++;
  assert_false(ll_members_live(&ms, a_index));
  assert_int_equal(ll_members_standby(&ms, "A", PARTITIONS, 1, bits), 0);
  /* Two live: each stands by for all the other's partitions. */
  assert_int_equal(ll_members_standby(&ms, "B", PARTITIONS, 1, bits), 3);
  assert_true(has(bits, 1) && has(bits, 4) && has(bits, 5));
  assert_int_equal(ll_members_standby(&ms, "C", PARTITIONS, 1, bits), 3);
  assert_true(has(bits, 0) && has(bits, 2) && has(bits, 3));
}

/* An instance between two assignments (an empty claim) is live: it stays
 * a standby candidate for the partitions of others. */
static void an_empty_claim_is_live(void **state) {
  (void)state;
  static ll_members ms;
  three_instances(&ms);
  claim(&ms, "B", NULL, 0, 3000);
  size_t b_index = 0;
  while (strcmp(ms.m[b_index].id, "B") != 0)
    b_index++;
  assert_true(ll_members_live(&ms, b_index));
  uint8_t bits[LL_MEMBERS_PARTITIONS_MAX / 8];
  assert_int_equal(ll_members_standby(&ms, "B", PARTITIONS, 1, bits), 2);
  assert_true(has(bits, 0) && has(bits, 1));
  /* Partitions 2 and 3 have no owner: no one stands by for them. */
  assert_int_equal(ll_members_standby(&ms, "C", PARTITIONS, 1, bits), 0);
}

/* With member ids, one replica stands by where the group's range
 * assignor (members in member id order, contiguous shares) would put each
 * partition if any one instance left: B, A, C in member id order own
 * [0,1], [2,3], [4,5]; without B: A [0..2], C [3..5]; without A: B
 * [0..2], C [3..5]; without C: B [0..2], A [3..5]. */
static void one_replica_follows_the_assignor(void **state) {
  (void)state;
  static ll_members ms;
  memset(&ms, 0, sizeof ms);
  const int32_t a[] = {2, 3}, b[] = {0, 1}, c[] = {4, 5};
  claim_member(&ms, "A", "rdkafka-2", PARTITIONS, a, 2, 1000);
  claim_member(&ms, "B", "rdkafka-1", PARTITIONS, b, 2, 1001);
  claim_member(&ms, "C", "rdkafka-3", PARTITIONS, c, 2, 1002);
  uint8_t bits[LL_MEMBERS_PARTITIONS_MAX / 8];
  const char *want[] = {"A", "0 1 4 5 ", "B", "2 ", "C", "3 "};
  for (size_t i = 0; i < 6; i += 2) {
    size_t n = ll_members_standby(&ms, want[i], PARTITIONS, 1, bits);
    char got[64] = "";
    for (int32_t p = 0; p < PARTITIONS; p++)
      if (has(bits, p))
        snprintf(got + strlen(got), sizeof got - strlen(got), "%d ", (int)p);
    assert_string_equal(got, want[i + 1]);
    assert_int_equal(n, (strlen(want[i + 1]) + 1) / 2);
  }
}

/* Any one of five instances over 23 partitions leaves: each survivor
 * owns or stands by for every partition of its new range share. */
static void any_single_failure_lands_on_warm_copies(void **state) {
  (void)state;
  enum { N = 5, P = 23 };
  static ll_members ms;
  memset(&ms, 0, sizeof ms);
  const char *ids[N] = {"e", "d", "c", "b", "a"};
  const char *members[N] = {"m-4", "m-1", "m-3", "m-0", "m-2"};
  /* rank by member id: b m-0, d m-1, a m-2, c m-3, e m-4 */
  const int rank[N] = {4, 1, 3, 0, 2};
  for (int i = 0; i < N; i++) {
    int32_t parts[P];
    size_t n = 0;
    int32_t each = P / N, extra = P % N, r = rank[i];
    int32_t first = r * each + (r < extra ? r : extra);
    for (int32_t p = first; p < first + each + (r < extra); p++)
      parts[n++] = p;
    claim_member(&ms, ids[i], members[i], P, parts, n, 1000 + i);
  }
  for (int gone = 0; gone < N; gone++) {
    for (int i = 0; i < N; i++) {
      if (i == gone)
        continue;
      uint8_t bits[LL_MEMBERS_PARTITIONS_MAX / 8];
      ll_members_standby(&ms, ids[i], P, 1, bits);
      int32_t each = P / (N - 1), extra = P % (N - 1);
      int32_t r = rank[i] > rank[gone] ? rank[i] - 1 : rank[i];
      int32_t first = r * each + (r < extra ? r : extra);
      for (int32_t p = first; p < first + each + (r < extra); p++) {
        int32_t own_first =
            rank[i] * (P / N) + (rank[i] < P % N ? rank[i] : P % N);
        bool owns = p >= own_first && p < own_first + P / N + (rank[i] < P % N);
        if (!owns && !has(bits, p))
          fail_msg("%s gone: %s gets partition %d cold", ids[gone], ids[i],
                   (int)p);
      }
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(the_next_instance_stands_by),
      cmocka_unit_test(one_replica_follows_the_assignor),
      cmocka_unit_test(any_single_failure_lands_on_warm_copies),
      cmocka_unit_test(each_partition_has_its_count),
      cmocka_unit_test(alone_no_one_stands_by),
      cmocka_unit_test(a_dead_instance_is_skipped),
      cmocka_unit_test(an_empty_claim_is_live),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
