/* ll_members.c — the ownership directory's table (ll_members.h). */
#include <assert.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "ll_members.h"

static json_t *int_list(const int32_t *v, size_t n) {
  json_t *list = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(list, json_integer(v[i]));
  return list;
}

char *ll_claim_encode_full(const ll_claim *c) {
  json_t *claim = json_pack("{s:s, s:s, s:o, s:i, s:I}", "id", c->id, "url",
                            c->url, "partitions", int_list(c->parts, c->n),
                            "partition_count", (int)c->partition_count,
                            "generation", (json_int_t)c->generation);
  if (c->n_standby > 0)
    json_object_set_new(claim, "standby", int_list(c->standby, c->n_standby));
  if (c->member != NULL && c->member[0] != '\0')
    json_object_set_new(claim, "member", json_string(c->member));
  char *out = json_dumps(claim, JSON_COMPACT);
  json_decref(claim);
  return out;
}

char *ll_claim_encode(const char *id, const char *url, const int32_t *parts,
                      size_t n, int32_t partition_count, int64_t generation) {
  ll_claim c = {.id = id,
                .url = url,
                .parts = parts,
                .n = n,
                .partition_count = partition_count,
                .generation = generation};
  return ll_claim_encode_full(&c);
}

static int find(const ll_members *ms, const char *id) {
  for (size_t i = 0; i < ms->n; i++)
    if (strcmp(ms->m[i].id, id) == 0)
      return (int)i;
  return -1;
}

static void remove_at(ll_members *ms, int i) {
  assert(i >= 0 && (size_t)i < ms->n);
  ms->m[i] = ms->m[ms->n - 1];
  ms->n--;
}

bool ll_member_owns(const ll_member *m, int32_t p) {
  return p >= 0 && p < LL_MEMBERS_PARTITIONS_MAX &&
         (m->owns[p / 8] & (1u << (p % 8))) != 0;
}

/* Fill the bitmap from a claim's array (*n counts the new bits); -1 on a
 * bad number. */
static int read_partitions(ll_member *m, const json_t *list, uint8_t *bits,
                           size_t *n, ll_err *err) {
  size_t i;
  json_t *v;
  json_array_foreach(list, i, v) {
    json_int_t p = json_is_integer(v) ? json_integer_value(v) : -1;
    if (p < 0 || p >= LL_MEMBERS_PARTITIONS_MAX)
      return ll_fail(err, LL_ERR_CORRUPT,
                     "claim of %s: partition %zu is not 0..%d", m->id, i,
                     LL_MEMBERS_PARTITIONS_MAX - 1);
    if ((bits[p / 8] & (1u << (p % 8))) == 0)
      (*n)++;
    bits[p / 8] |= (uint8_t)(1u << (p % 8));
  }
  return 0;
}

/* Parse a claim into m; -1 with err when it is not one. */
static int parse_claim(ll_member *m, const void *value, size_t len,
                       ll_err *err) {
  json_error_t jerr;
  json_t *claim = json_loadb(value, len, 0, &jerr);
  const char *url = NULL;
  json_t *list = NULL;
  json_int_t count = 0;
  if (claim == NULL ||
      json_unpack(claim, "{s:s, s:o, s:I}", "url", &url, "partitions", &list,
                  "partition_count", &count) != 0 ||
      !json_is_array(list) || strlen(url) >= LL_MEMBER_URL_MAX || count < 0 ||
      count > LL_MEMBERS_PARTITIONS_MAX) {
    json_decref(claim);
    return ll_fail(err, LL_ERR_CORRUPT,
                   "the record of %s in the members topic is not a claim",
                   m->id);
  }
  snprintf(m->url, sizeof m->url, "%s", url);
  m->partition_count = (int32_t)count;
  int rc = read_partitions(m, list, m->owns, &m->n_owned, err);
  json_t *standby = json_object_get(claim, "standby");
  size_t n_standby = 0;
  if (rc == 0 && json_is_array(standby))
    rc = read_partitions(m, standby, m->standby, &n_standby, err);
  const char *member = json_string_value(json_object_get(claim, "member"));
  if (member != NULL && strlen(member) < sizeof m->member)
    snprintf(m->member, sizeof m->member, "%s", member);
  json_decref(claim);
  return rc;
}

int ll_members_apply(ll_members *ms, const char *key, size_t key_len,
                     const void *value, size_t value_len, int64_t timestamp_ms,
                     int64_t offset, ll_err *err) {
  if (key == NULL || key_len == 0 || key_len >= LL_MEMBER_ID_MAX)
    return ll_fail(err, LL_ERR_CORRUPT,
                   "a record of the members topic has no instance id key");
  ll_member m = {.timestamp_ms = timestamp_ms, .offset = offset};
  memcpy(m.id, key, key_len);
  m.id[key_len] = '\0';
  int at = find(ms, m.id);
  if (value == NULL || value_len == 0) { /* a tombstone */
    if (at >= 0)
      remove_at(ms, at);
    return 0;
  }
  if (parse_claim(&m, value, value_len, err) != 0)
    return -1;
  if (at >= 0) {
    ms->m[at] = m;
    return 0;
  }
  if (ms->n == LL_MEMBERS_MAX)
    return ll_fail(err, LL_ERR_FULL,
                   "more than %d instances claim partitions: %s ignored",
                   LL_MEMBERS_MAX, m.id);
  ms->m[ms->n++] = m;
  return 0;
}

static bool later(const ll_member *a, const ll_member *b) {
  if (a->timestamp_ms != b->timestamp_ms)
    return a->timestamp_ms > b->timestamp_ms;
  return a->offset > b->offset;
}

int ll_members_owner(const ll_members *ms, int32_t p, const char *except_id) {
  int best = -1;
  for (size_t i = 0; i < ms->n; i++) {
    const ll_member *m = &ms->m[i];
    if (!ll_member_owns(m, p) ||
        (except_id != NULL && strcmp(m->id, except_id) == 0))
      continue;
    if (best < 0 || later(m, &ms->m[best]))
      best = (int)i;
  }
  return best;
}

int32_t ll_members_partition_count(const ll_members *ms) {
  int32_t n = 0;
  for (size_t i = 0; i < ms->n; i++)
    if (ms->m[i].partition_count > n)
      n = ms->m[i].partition_count;
  return n;
}

bool ll_members_live(const ll_members *ms, size_t i) {
  assert(i < ms->n);
  const ll_member *m = &ms->m[i];
  if (m->n_owned == 0)
    return true;
  for (int32_t p = 0; p < LL_MEMBERS_PARTITIONS_MAX; p++)
    if (ll_member_owns(m, p) && ll_members_owner(ms, p, NULL) == (int)i)
      return true;
  return false;
}

/* The live members' indices, sorted by id; returns their count. */
static size_t live_by_id(const ll_members *ms, int *order) {
  size_t n = 0;
  for (size_t i = 0; i < ms->n; i++) {
    if (!ll_members_live(ms, i))
      continue;
    size_t at = n++;
    while (at > 0 && strcmp(ms->m[order[at - 1]].id, ms->m[i].id) > 0) {
      order[at] = order[at - 1];
      at--;
    }
    order[at] = (int)i;
  }
  return n;
}

/* The live members' indices sorted by group member id, as the range
 * assignor lays them out; 0 when one of them has no member id. */
static size_t live_by_member(const ll_members *ms, int *order) {
  size_t n = 0;
  for (size_t i = 0; i < ms->n; i++) {
    if (!ll_members_live(ms, i))
      continue;
    if (ms->m[i].member[0] == '\0')
      return 0;
    size_t at = n++;
    while (at > 0 && strcmp(ms->m[order[at - 1]].member, ms->m[i].member) > 0) {
      order[at] = order[at - 1];
      at--;
    }
    order[at] = (int)i;
  }
  return n;
}

/* The range assignor's share of the member at `rank` among `members`:
 * partitions [*first, *first + *count). */
static void range_share(int32_t partitions, size_t members, size_t rank,
                        int32_t *first, int32_t *count) {
  int32_t each = partitions / (int32_t)members;
  int32_t extra = partitions % (int32_t)members;
  int32_t r = (int32_t)rank;
  *first = r * each + (r < extra ? r : extra);
  *count = each + (r < extra ? 1 : 0);
}

/* One replica where the assignor will put the partitions (see the
 * header); false when a member id is unknown. */
static bool standby_by_assignor(const ll_members *ms, const char *self,
                                int32_t partitions, uint8_t *out,
                                size_t *count) {
  int order[LL_MEMBERS_MAX];
  size_t live = live_by_member(ms, order);
  size_t me = live;
  for (size_t i = 0; i < live; i++)
    if (strcmp(ms->m[order[i]].id, self) == 0)
      me = i;
  if (live < 2 || me == live)
    return false;
  const ll_member *m = &ms->m[order[me]];
  for (size_t gone = 0; gone < live; gone++) {
    if (gone == me)
      continue;
    int32_t first, n; /* self's share if `gone` left: one rank fewer */
    range_share(partitions, live - 1, me > gone ? me - 1 : me, &first, &n);
    for (int32_t p = first; p < first + n; p++) {
      if (ll_member_owns(m, p) || (out[p / 8] & (1u << (p % 8))) != 0)
        continue;
      out[p / 8] |= (uint8_t)(1u << (p % 8));
      (*count)++;
    }
  }
  return true;
}

size_t ll_members_standby(const ll_members *ms, const char *self,
                          int32_t partitions, int replicas, uint8_t *out) {
  memset(out, 0, LL_MEMBERS_PARTITIONS_MAX / 8);
  if (partitions > LL_MEMBERS_PARTITIONS_MAX)
    partitions = LL_MEMBERS_PARTITIONS_MAX;
  size_t by_assignor = 0;
  if (replicas == 1 &&
      standby_by_assignor(ms, self, partitions, out, &by_assignor))
    return by_assignor;
  memset(out, 0, LL_MEMBERS_PARTITIONS_MAX / 8);
  int order[LL_MEMBERS_MAX];
  size_t live = live_by_id(ms, order);
  size_t k = replicas > 0 ? (size_t)replicas : 0;
  if (live < 2 || k == 0)
    return 0;
  if (k > live - 1)
    k = live - 1;
  size_t count = 0;
  for (int32_t p = 0; p < partitions; p++) {
    int owner = ll_members_owner(ms, p, NULL);
    size_t at = 0;
    while (at < live && order[at] != owner)
      at++;
    if (at == live)
      continue; /* no owner, or one not live: no one stands by */
    for (size_t step = 1; step <= k; step++) {
      const ll_member *m = &ms->m[order[(at + step) % live]];
      if (strcmp(m->id, self) == 0) {
        out[p / 8] |= (uint8_t)(1u << (p % 8));
        count++;
      }
    }
  }
  return count;
}
