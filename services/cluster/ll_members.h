/* ll_members.h — the ownership directory's table: which instance claims
 * which partitions of lots.inbound (docs/cluster-design.md, decision 5).
 *
 * Every instance publishes a claim to the compacted topic lots.members,
 * keyed by its instance id, on every assignment change: {"id", "url",
 * "partitions": [...], "partition_count", "generation"}. A claim replaces
 * the instance's previous one; a claim with no partitions (a revocation:
 * a rebalance under way) keeps the instance known, owning nothing; a
 * tombstone (a clean stop) removes it. This table is the
 * pure part: it applies records and answers "who owns partition p", with
 * no Kafka inside, so that it is tested alone (tests/http).
 *
 * Order of claims. Two claims may name the same partition for a moment:
 * the new owner's claim and the old owner's, not yet replaced (a killed
 * instance never replaces it). The later claim wins, by the Kafka record
 * timestamp and then the offset. librdkafka 2.0.2 does not expose the
 * group generation to the application, so the timestamp is the order; it
 * is safe because a stale winner only costs a retry: an instance answers
 * a forwarded request only for partitions its own consumer holds, else
 * 503 (docs/operations.md, "Running a cluster"). */
#ifndef LL_MEMBERS_H
#define LL_MEMBERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ll_types.h"

#define LL_MEMBERS_MAX 64              /* instances in one cluster */
#define LL_MEMBER_ID_MAX 64            /* bytes of an instance id, with NUL */
#define LL_MEMBER_URL_MAX 320          /* bytes of an advertised URL */
#define LL_MEMBERS_PARTITIONS_MAX 1024 /* partitions of lots.inbound */
#define LL_CLAIM_MAX_BYTES (16 * 1024) /* one claim record */
#define LL_MEMBER_GROUP_ID_MAX 256     /* bytes of a group member id */

typedef struct ll_member {
  char id[LL_MEMBER_ID_MAX];
  char url[LL_MEMBER_URL_MAX]; /* "http://127.0.0.1:8080", no trailing / */
  int64_t timestamp_ms;        /* of the claim's Kafka record */
  int64_t offset;              /* of the claim's Kafka record */
  int32_t partition_count;     /* of lots.inbound, as the claimer saw it */
  uint8_t owns[LL_MEMBERS_PARTITIONS_MAX / 8];
  size_t n_owned;
  /* The partitions it stands by for, as its claim said (shown by GET
   * /v1/cluster; every instance derives them itself). */
  uint8_t standby[LL_MEMBERS_PARTITIONS_MAX / 8];
  /* Its consumer's member id in the group ("" when its claim has none):
   * the group's assignor orders the members by it. */
  char member[LL_MEMBER_GROUP_ID_MAX];
} ll_member;

typedef struct ll_members {
  ll_member m[LL_MEMBERS_MAX];
  size_t n;
} ll_members;

/* A claim as JSON (malloc'd): what an instance publishes. */
char *ll_claim_encode(const char *id, const char *url, const int32_t *parts,
                      size_t n, int32_t partition_count, int64_t generation);
/* A claim with everything it may say. */
typedef struct ll_claim {
  const char *id, *url;
  const char *member; /* the consumer's member id; NULL or "": none */
  const int32_t *parts;
  size_t n;
  const int32_t *standby; /* the partitions it stands by for */
  size_t n_standby;
  int32_t partition_count;
  int64_t generation;
} ll_claim;
char *ll_claim_encode_full(const ll_claim *c);

/* Apply one record of lots.members: key = instance id; value NULL (a
 * tombstone: the instance is removed) or a claim. -1 with err for a record that
 * is not a claim (it is skipped: one bad record never hides the others). */
int ll_members_apply(ll_members *ms, const char *key, size_t key_len,
                     const void *value, size_t value_len, int64_t timestamp_ms,
                     int64_t offset, ll_err *err);

/* Does member m claim partition p? */
bool ll_member_owns(const ll_member *m, int32_t p);

/* The member whose claim of p is the latest, other than except_id (NULL:
 * none excluded); -1 when no one claims p. */
int ll_members_owner(const ll_members *ms, int32_t p, const char *except_id);

/* Is member i live? Yes, unless its claim names partitions and every one
 * of them has a later claim by another member: it was killed (a claim is
 * replaced at every assignment change and ended by a tombstone at a clean
 * stop, so only a dead instance's claim is superseded and stays). */
bool ll_members_live(const ll_members *ms, size_t i);

/* The partitions member `self` stands by for (docs/cluster-design.md,
 * "Standbys"), as a bitmap of LL_MEMBERS_PARTITIONS_MAX bits into out;
 * returns their count. Every instance computes the same from the same
 * table.
 *
 * One replica, when every live member's claim names its group member id:
 * where the group will put the partitions. The group's range assignor
 * lays the members out in the order of their member ids and gives each a
 * contiguous range of partitions; so self stands by for every partition
 * it would own, not owning it now, if any one other live member left.
 * A single failure then always lands on warm copies.
 *
 * Otherwise (more replicas, or a member id unknown): for each partition p
 * < partitions with an owner O (ll_members_owner), the `replicas` live
 * members that follow O in the order of their instance ids (wrapping
 * around, O excluded) stand by for p. */
size_t ll_members_standby(const ll_members *ms, const char *self,
                          int32_t partitions, int replicas, uint8_t *out);

/* The largest partition count any claim carries (0: no claim). */
int32_t ll_members_partition_count(const ll_members *ms);

#endif
