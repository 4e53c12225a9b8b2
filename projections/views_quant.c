/* views_quant.c — the quantity rows in memory, compact (views_quant.h says
 * what it holds and why). */
#include "views_quant.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ll_buf.h"
#include "ll_hash.h"
#include "ll_mem.h"
#include "ll_types.h"
#include "views_internal.h"

#define LL_VQ_EMPTY 0 /* no key is 0: the lot id is stored plus one */
#define NAMES_MIN_SLOTS 8
#define NAME_BYTES_MIN 64
/* Slots are at most this full (numerator / denominator). */
#define LOAD_NUM 3
#define LOAD_DEN 4
/* Of max_bytes, the part left for interned names; the rest are slots. */
#define NAMES_SHARE_DEN 8

/* ---- interned names ---- */

static size_t names_bytes(const ll_vq_names *s) {
  return (s->mask + 1) * sizeof *s->slots + s->cap * sizeof *s->names +
         s->bytes_cap;
}

static void names_free(ll_vq_names *s) {
  free(s->slots);
  free(s->names);
  free(s->bytes);
  memset(s, 0, sizeof *s);
}

static size_t names_find(const ll_vq_names *s, uint64_t h, const char *p,
                         size_t len) {
  for (size_t i = h & s->mask;; i = (i + 1) & s->mask) {
    uint32_t id = s->slots[i];
    if (id == 0)
      return i;
    const ll_vq_name *nm = &s->names[id - 1];
    if (nm->hash == h && nm->len == len &&
        memcmp(s->bytes + nm->off, p, len) == 0)
      return i;
  }
}

/* The id of p, or -1 when not interned. */
static int64_t names_lookup(const ll_vq_names *s, const char *p, size_t len) {
  if (s->slots == NULL)
    return -1;
  uint32_t id = s->slots[names_find(s, ll_hash64(p, len), p, len)];
  return id == 0 ? -1 : (int64_t)id - 1;
}

static void names_grow_slots(ll_vq_names *s) {
  size_t n_slots = s->slots == NULL ? NAMES_MIN_SLOTS : (s->mask + 1) * 2;
  free(s->slots);
  s->slots = ll_xcalloc(n_slots, sizeof *s->slots);
  s->mask = n_slots - 1;
  for (size_t id = 0; id < s->n; id++) {
    size_t i = s->names[id].hash & s->mask;
    while (s->slots[i] != 0)
      i = (i + 1) & s->mask;
    s->slots[i] = (uint32_t)id + 1;
  }
}

/* The id of p, interned if new; -1 when that would pass room bytes more
 * than the names take now. */
static int64_t names_intern(ll_vq_names *s, const char *p, size_t len,
                            size_t room) {
  int64_t id = names_lookup(s, p, len);
  if (id >= 0)
    return id;
  /* What growing would take, checked before anything changes. */
  size_t more = 0;
  if (s->slots == NULL || (s->n + 1) * 2 > s->mask + 1)
    more += (s->slots == NULL ? NAMES_MIN_SLOTS : s->mask + 1) *
            sizeof *s->slots * 2;
  if (s->n == s->cap)
    more += (s->cap ? s->cap : 4) * sizeof *s->names;
  if (s->bytes_len + len > s->bytes_cap)
    more += s->bytes_cap + len + NAME_BYTES_MIN;
  if (more > room || s->n >= UINT32_MAX - 1 || len > UINT32_MAX ||
      s->bytes_len + len > UINT32_MAX)
    return -1;
  if (s->slots == NULL || (s->n + 1) * 2 > s->mask + 1)
    names_grow_slots(s);
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 4;
    s->names = ll_xrealloc(s->names, s->cap * sizeof *s->names);
  }
  if (s->bytes_len + len > s->bytes_cap) {
    s->bytes_cap = s->bytes_cap * 2 + len + NAME_BYTES_MIN;
    s->bytes = ll_xrealloc(s->bytes, s->bytes_cap);
  }
  uint64_t h = ll_hash64(p, len);
  memcpy(s->bytes + s->bytes_len, p, len);
  s->names[s->n] = (ll_vq_name){
      .hash = h, .off = (uint32_t)s->bytes_len, .len = (uint32_t)len};
  s->bytes_len += len;
  s->slots[names_find(s, h, p, len)] = (uint32_t)s->n + 1;
  return (int64_t)s->n++;
}

/* ---- keys ---- */

/* A covered key split into its family and its lot and place strings. */
typedef struct vq_key {
  int family;
  const char *lot, *place;
  size_t lot_len, place_len;
} vq_key;

static bool has_prefix(const char *k, size_t n, const char *prefix,
                       size_t plen) {
  return n > plen && memcmp(k, prefix, plen) == 0;
}

bool ll_views_quant_covers(const void *key, size_t key_len) {
  return has_prefix(key, key_len, LL_VK_QTY, strlen(LL_VK_QTY)) ||
         has_prefix(key, key_len, LL_VK_TREE, strlen(LL_VK_TREE));
}

static bool split_key(const void *key, size_t key_len, vq_key *out) {
  const char *k = key;
  size_t plen;
  if (has_prefix(k, key_len, LL_VK_QTY, strlen(LL_VK_QTY))) {
    out->family = LL_VQ_QTY;
    plen = strlen(LL_VK_QTY);
  } else if (has_prefix(k, key_len, LL_VK_TREE, strlen(LL_VK_TREE))) {
    out->family = LL_VQ_TREE;
    plen = strlen(LL_VK_TREE);
  } else {
    return false;
  }
  /* qty/<lot_id>\x1f<product>\x1f<location>,
   * tree/<path>\x1f<lot_id>\x1f<product>: two separators; the lot string
   * is its two parts with the separator between them, the same in both
   * families. */
  const char *first = k + plen, *end = k + key_len;
  const char *s1 = memchr(first, LL_VK_SEP, (size_t)(end - first));
  const char *s2 =
      s1 == NULL ? NULL : memchr(s1 + 1, LL_VK_SEP, (size_t)(end - s1 - 1));
  if (s2 == NULL || s1 == first || s2 == s1 + 1 || s2 + 1 == end ||
      memchr(s2 + 1, LL_VK_SEP, (size_t)(end - s2 - 1)) != NULL)
    return false;
  const char *sep = out->family == LL_VQ_QTY ? s2 : s1;
  const char *a = first, *b = sep + 1;
  size_t a_len = (size_t)(sep - first), b_len = (size_t)(end - b);
  if (out->family == LL_VQ_QTY) {
    out->lot = a, out->lot_len = a_len, out->place = b, out->place_len = b_len;
  } else {
    out->place = a, out->place_len = a_len, out->lot = b, out->lot_len = b_len;
  }
  return true;
}

static uint64_t slot_key(int family, uint32_t lot, uint32_t place) {
  return ((uint64_t)lot + 1) << 32 | (uint64_t)place << 1 | (uint64_t)family;
}

/* ---- slots ---- */

static size_t home_of(const ll_views_quant *q, uint64_t key) {
  /* murmur3's finaliser, then the range reduction by multiplication */
  uint64_t h = key;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return (size_t)(((unsigned __int128)h * q->capacity) >> 64);
}

static size_t next_slot(const ll_views_quant *q, size_t i) {
  return i + 1 == q->capacity ? 0 : i + 1;
}

/* The slot of key, or the free slot ending its probe chain. */
static size_t find_slot(const ll_views_quant *q, uint64_t key) {
  for (size_t i = home_of(q, key);; i = next_slot(q, i)) {
    uint64_t k = q->slots[i].key;
    if (k == key || k == LL_VQ_EMPTY)
      return i;
  }
}

/* Whether cyclic position x lies in (lo, hi]. */
static bool cyc_in(size_t lo, size_t x, size_t hi) {
  return lo <= hi ? (x > lo && x <= hi) : (x > lo || x <= hi);
}

static void remove_slot(ll_views_quant *q, size_t hole) {
  for (size_t j = next_slot(q, hole); q->slots[j].key != LL_VQ_EMPTY;
       j = next_slot(q, j)) {
    if (cyc_in(hole, home_of(q, q->slots[j].key), j))
      continue; /* its home lies after the hole: it stays */
    q->slots[hole] = q->slots[j];
    hole = j;
  }
  q->slots[hole].key = LL_VQ_EMPTY;
  q->rows--;
}

/* ---- the index ---- */

void ll_views_quant_init(ll_views_quant *q, size_t max_bytes) {
  memset(q, 0, sizeof *q);
  q->max_bytes = max_bytes;
  q->capacity = (max_bytes - max_bytes / NAMES_SHARE_DEN) / sizeof *q->slots;
  assert(q->capacity >= 4);
  q->max_rows = q->capacity / LOAD_DEN * LOAD_NUM;
  /* Zeroed (empty) pages nobody touched cost no memory: the slots take
   * it as rows land. */
  q->slots = ll_xcalloc(q->capacity, sizeof *q->slots);
}

void ll_views_quant_free(ll_views_quant *q) {
  free(q->slots);
  names_free(&q->lots);
  names_free(&q->places);
  memset(q, 0, sizeof *q);
}

void ll_views_quant_set_complete(ll_views_quant *q) {
  q->complete = true;
}

static bool unpack(int family, const void *p, size_t n, int64_t *a,
                   int64_t *b) {
  if (family == LL_VQ_QTY) {
    ll_usage usage;
    if (!ll_views_qty_unpack(p, n, &usage, a))
      return false;
    *b = (int64_t)usage;
    return true;
  }
  return ll_views_tree_unpack(p, n, a, b);
}

static void pack(int family, int64_t a, int64_t b, ll_buf *out) {
  if (family == LL_VQ_QTY)
    ll_views_qty_pack((ll_usage)b, a, out);
  else
    ll_views_tree_pack(a, b, out);
}

/* A row by its parts, its values unpacked. */
static ll_vq_answer get_pair(ll_views_quant *q, int family, const char *lot_id,
                             size_t lot_len, const char *place,
                             size_t place_len, int64_t *a, int64_t *b) {
  assert(family == LL_VQ_QTY || family == LL_VQ_TREE);
  int64_t lot = names_lookup(&q->lots, lot_id, lot_len);
  int64_t pl = lot < 0 ? -1 : names_lookup(&q->places, place, place_len);
  if (pl >= 0) {
    const ll_vq_slot *s =
        &q->slots[find_slot(q, slot_key(family, (uint32_t)lot, (uint32_t)pl))];
    if (s->key != LL_VQ_EMPTY) {
      q->stats.hits++;
      *a = s->a;
      *b = s->b;
      return LL_VQ_FOUND;
    }
  }
  if (q->complete) {
    q->stats.absent++;
    return LL_VQ_ABSENT;
  }
  q->stats.unknown++;
  return LL_VQ_UNKNOWN;
}

ll_vq_answer ll_views_quant_get(ll_views_quant *q, const void *key,
                                size_t key_len, ll_buf *value) {
  vq_key k = {0};
  if (!split_key(key, key_len, &k)) {
    /* Not a row it could hold (callers ask for covered keys only). */
    q->stats.unknown++;
    return LL_VQ_UNKNOWN;
  }
  int64_t a = 0, b = 0;
  ll_vq_answer ans =
      get_pair(q, k.family, k.lot, k.lot_len, k.place, k.place_len, &a, &b);
  if (ans == LL_VQ_FOUND)
    pack(k.family, a, b, value);
  return ans;
}

static bool refuse(ll_views_quant *q) {
  q->complete = false;
  q->stats.refused++;
  return false;
}

bool ll_views_quant_set_pair(ll_views_quant *q, int family, const char *lot_id,
                             size_t lot_len, const char *place,
                             size_t place_len, bool present, int64_t a,
                             int64_t b) {
  assert(family == LL_VQ_QTY || family == LL_VQ_TREE);
  int64_t lot = names_lookup(&q->lots, lot_id, lot_len);
  int64_t pl = lot < 0 ? -1 : names_lookup(&q->places, place, place_len);
  if (pl >= 0) {
    size_t i = find_slot(q, slot_key(family, (uint32_t)lot, (uint32_t)pl));
    if (q->slots[i].key != LL_VQ_EMPTY) {
      if (present) {
        q->slots[i].a = a;
        q->slots[i].b = b;
      } else {
        remove_slot(q, i);
      }
      return true;
    }
  }
  if (!present)
    return true; /* not held: nothing to remove */
  if (q->rows >= q->max_rows)
    return refuse(q);
  size_t names_room = q->max_bytes / NAMES_SHARE_DEN;
  size_t used = names_bytes(&q->lots) + names_bytes(&q->places);
  size_t room = names_room > used ? names_room - used : 0;
  if (lot < 0)
    lot = names_intern(&q->lots, lot_id, lot_len, room);
  if (lot >= 0 && pl < 0) {
    used = names_bytes(&q->lots) + names_bytes(&q->places);
    room = names_room > used ? names_room - used : 0;
    pl = names_intern(&q->places, place, place_len, room);
  }
  /* Place ids take 31 bits of the slot key, the lot id plus one 32. */
  if (lot < 0 || pl < 0 || pl >= (int64_t)1 << 31 || lot >= (int64_t)UINT32_MAX)
    return refuse(q);
  uint64_t sk = slot_key(family, (uint32_t)lot, (uint32_t)pl);
  size_t i = find_slot(q, sk);
  q->slots[i] = (ll_vq_slot){.key = sk, .a = a, .b = b};
  q->rows++;
  return true;
}

bool ll_views_quant_set(ll_views_quant *q, const void *key, size_t key_len,
                        const void *value, size_t value_len, bool present) {
  vq_key k = {0};
  int64_t a = 0, b = 0;
  if (!split_key(key, key_len, &k) ||
      (present && !unpack(k.family, value, value_len, &a, &b)))
    return refuse(q);
  return ll_views_quant_set_pair(q, k.family, k.lot, k.lot_len, k.place,
                                 k.place_len, present, a, b);
}

void ll_views_quant_get_stats(const ll_views_quant *q,
                              ll_views_quant_stats *out) {
  *out = q->stats;
  out->rows = q->rows;
  out->capacity = q->max_rows;
  out->bytes = q->capacity * sizeof *q->slots + names_bytes(&q->lots) +
               names_bytes(&q->places);
  out->complete = q->complete;
}
