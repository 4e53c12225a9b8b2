/* views_rows.c — the projector's rows in memory: the run's writes and the
 * cache of committed rows, in one table (views_rows.h says what each holds
 * and why).
 *
 * Each row is one malloc'd block (header, key, value with some room to
 * grow), so rewriting a row with a value of the same size allocates
 * nothing. Three places point at a block: its slot, its place in the dense
 * array, and (while dirty) its place in the run's list; the block records
 * all three, so a block that has to grow is moved with three stores.
 * Removing a row (eviction, or a row nobody reads after its commit) closes
 * the probe chain by shifting the following slots back, and moves the
 * last row of the dense array into the hole. */
#include "views_rows.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ll_mem.h"
#include "ll_types.h"

#define TABLE_MIN_SLOTS 1024
#define VALUE_ROUND_BYTES 16 /* values get room to grow in steps */

/* ---- slots ---- */

static size_t row_bytes(const ll_vrow *r) {
  return sizeof *r + r->key_len + r->value_cap;
}

static bool same_key(const ll_vrow *r, const void *key, size_t key_len) {
  return r->key_len == key_len && memcmp(r->bytes, key, key_len) == 0;
}

static size_t find_slot(const ll_views_rows *t, uint64_t hash, const void *key,
                        size_t key_len) {
  for (size_t i = hash & t->slot_mask;; i = (i + 1) & t->slot_mask) {
    const ll_vslot *s = &t->slots[i];
    if (s->row == NULL || (s->hash == hash && same_key(s->row, key, key_len)))
      return i;
  }
}

static void place(ll_views_rows *t, ll_vrow *r) {
  size_t i = r->hash & t->slot_mask;
  while (t->slots[i].row != NULL)
    i = (i + 1) & t->slot_mask;
  t->slots[i] = (ll_vslot){.hash = r->hash, .row = r};
  r->slot = (uint32_t)i;
}

static void grow_slots(ll_views_rows *t) {
  size_t n_slots = (t->slot_mask + 1) * 2;
  assert(n_slots - 1 <= UINT32_MAX);
  free(t->slots);
  t->slots = ll_xcalloc(n_slots, sizeof *t->slots);
  t->slot_mask = n_slots - 1;
  for (size_t i = 0; i < t->n; i++)
    place(t, t->dense[i]);
}

/* Take row r out of the slots and the dense array; the caller frees it. */
static void unlink_row(ll_views_rows *t, ll_vrow *r) {
  size_t mask = t->slot_mask;
  size_t hole = r->slot;
  for (size_t j = (hole + 1) & mask; t->slots[j].row != NULL;
       j = (j + 1) & mask) {
    size_t home = t->slots[j].hash & mask;
    /* The row at j moves back into the hole unless its home lies
     * cyclically in (hole, j]. */
    bool stays =
        hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (stays)
      continue;
    t->slots[hole] = t->slots[j];
    t->slots[hole].row->slot = (uint32_t)hole;
    hole = j;
  }
  t->slots[hole] = (ll_vslot){0};
  ll_vrow *last = t->dense[t->n - 1];
  t->dense[r->dense] = last;
  last->dense = r->dense;
  t->n--;
  t->bytes -= row_bytes(r);
}

/* A new row, not yet dirty, with room for value_len bytes of value. */
static ll_vrow *add_row(ll_views_rows *t, uint64_t hash, const void *key,
                        size_t key_len, size_t value_len) {
  assert(key_len > 0 && key_len <= UINT32_MAX && value_len <= UINT32_MAX);
  if ((t->n + 1) * 2 > t->slot_mask + 1)
    grow_slots(t);
  if (t->n == t->dense_cap) {
    t->dense_cap = t->dense_cap ? t->dense_cap * 2 : TABLE_MIN_SLOTS;
    t->dense = ll_xrealloc(t->dense, t->dense_cap * sizeof *t->dense);
  }
  ll_vrow *r = ll_xmalloc(sizeof *r + key_len + value_len);
  memset(r, 0, sizeof *r);
  r->hash = hash;
  r->key_len = (uint32_t)key_len;
  r->value_cap = (uint32_t)value_len;
  r->dirty = LL_VROW_NONE;
  r->group_next = LL_VROW_NONE;
  memcpy(r->bytes, key, key_len);
  r->dense = (uint32_t)t->n;
  t->dense[t->n++] = r;
  place(t, r);
  t->bytes += row_bytes(r);
  return r;
}

/* Set a row's value, moving the block when it has to grow. */
static ll_vrow *set_value(ll_views_rows *t, ll_vrow *r, const void *value,
                          size_t value_len, bool present) {
  assert(value_len <= UINT32_MAX);
  if (!present)
    value_len = 0;
  if (value_len > r->value_cap) {
    size_t cap = (value_len + VALUE_ROUND_BYTES - 1) / VALUE_ROUND_BYTES *
                 VALUE_ROUND_BYTES;
    size_t before = row_bytes(r);
    r = ll_xrealloc(r, sizeof *r + r->key_len + cap);
    r->value_cap = (uint32_t)cap;
    t->bytes += row_bytes(r) - before;
    if (r->dirty != LL_VROW_NONE)
      t->dirty_bytes += row_bytes(r) - before;
    t->slots[r->slot].row = r;
    t->dense[r->dense] = r;
    if (r->dirty != LL_VROW_NONE)
      t->dirty[r->dirty] = r;
  }
  if (value_len > 0)
    memcpy(r->bytes + r->key_len, value, value_len);
  r->value_len = (uint32_t)value_len;
  r->flags = (uint8_t)((r->flags & ~LL_VROW_PRESENT) |
                       (present ? LL_VROW_PRESENT : 0));
  return r;
}

/* ---- eviction ---- */

/* The bounds are on clean rows: the run's own rows wait for its commit. */
static bool over_bounds(const ll_views_rows *t) {
  assert(t->n >= t->n_dirty && t->bytes >= t->dirty_bytes);
  size_t clean = t->n - t->n_dirty;
  return clean > 0 &&
         (clean > t->max_entries || t->bytes - t->dirty_bytes > t->max_bytes);
}

/* CLOCK: pass over rows read since the last pass (clearing the mark) and
 * over dirty rows; evict the first clean row that was not read. Gives up
 * after two full turns (only dirty rows left). */
static void trim(ll_views_rows *t) {
  size_t looked = 0;
  while (over_bounds(t) && looked < 2 * t->n) {
    if (t->hand >= t->n)
      t->hand = 0;
    ll_vrow *r = t->dense[t->hand];
    looked++;
    if (r->dirty != LL_VROW_NONE || (r->flags & LL_VROW_REFERENCED)) {
      r->flags &= (uint8_t)~LL_VROW_REFERENCED;
      t->hand++;
      continue;
    }
    unlink_row(t, r);
    free(r);
    t->stats.evictions++;
    t->complete = false;
    looked = 0; /* the last row moved into the hand's place */
  }
}

/* ---- the table ---- */

static void clear_groups(ll_views_rows *t);

void ll_views_rows_init(ll_views_rows *t, size_t max_entries,
                        size_t max_bytes) {
  assert(max_entries > 0 && max_bytes > 0);
  memset(t, 0, sizeof *t);
  t->max_entries = max_entries;
  t->max_bytes = max_bytes;
  t->slots = ll_xcalloc(TABLE_MIN_SLOTS, sizeof *t->slots);
  t->slot_mask = TABLE_MIN_SLOTS - 1;
  t->groups = ll_xmalloc(TABLE_MIN_SLOTS * sizeof *t->groups);
  t->group_mask = TABLE_MIN_SLOTS - 1;
  t->n_groups = 1; /* so clear_groups() marks every slot empty */
  clear_groups(t);
}

static void clear_groups(ll_views_rows *t) {
  if (t->n_groups == 0)
    return;
  for (size_t i = 0; i <= t->group_mask; i++)
    t->groups[i] = (ll_vgroup){.first = LL_VROW_NONE};
  t->n_groups = 0;
}

static void drop_all(ll_views_rows *t) {
  for (size_t i = 0; i < t->n; i++)
    free(t->dense[i]);
  memset(t->slots, 0, (t->slot_mask + 1) * sizeof *t->slots);
  t->n = 0;
  t->n_dirty = 0;
  t->bytes = 0;
  t->dirty_bytes = 0;
  t->hand = 0;
  clear_groups(t);
}

void ll_views_rows_free(ll_views_rows *t) {
  drop_all(t);
  free(t->slots);
  free(t->dense);
  free(t->dirty);
  free(t->groups);
  memset(t, 0, sizeof *t);
}

void ll_views_rows_set_complete(ll_views_rows *t) {
  assert(t->n == 0);
  t->complete = true;
}

void ll_views_rows_reset(ll_views_rows *t) {
  drop_all(t);
  t->complete = false;
  t->stats.resets++;
}

const ll_vrow *ll_views_rows_get(ll_views_rows *t, uint64_t hash,
                                 const void *key, size_t key_len) {
  ll_vrow *r = t->slots[find_slot(t, hash, key, key_len)].row;
  if (r == NULL) {
    t->stats.misses++;
    return NULL;
  }
  t->stats.hits++;
  r->flags |= LL_VROW_READ | LL_VROW_REFERENCED;
  return r;
}

void ll_views_rows_fill(ll_views_rows *t, uint64_t hash, const void *key,
                        size_t key_len, const void *value, size_t value_len,
                        bool present) {
  assert(t->slots[find_slot(t, hash, key, key_len)].row == NULL);
  ll_vrow *r = add_row(t, hash, key, key_len, present ? value_len : 0);
  r = set_value(t, r, value, value_len, present);
  r->flags |= LL_VROW_READ | LL_VROW_REFERENCED;
  /* Back within the bounds; the new row, just marked as read, is passed
   * over in favour of rows that were not read since the last turn. */
  trim(t);
}

/* The run's scan group of key's first group_len bytes: its slot in the
 * group table (empty when the run has no row of it yet). A group is known
 * by its latest row, whose key starts with the group's bytes. */
static ll_vgroup *find_group(const ll_views_rows *t, uint64_t hash,
                             const void *group, size_t group_len) {
  for (size_t i = hash & t->group_mask;; i = (i + 1) & t->group_mask) {
    ll_vgroup *g = &t->groups[i];
    if (g->first == LL_VROW_NONE ||
        (g->hash == hash && g->key_len == group_len &&
         memcmp(t->dirty[g->first]->bytes, group, group_len) == 0))
      return g;
  }
}

static void grow_groups(ll_views_rows *t) {
  size_t old_n = t->group_mask + 1;
  ll_vgroup *old = t->groups;
  t->group_mask = old_n * 2 - 1;
  t->groups = ll_xmalloc(old_n * 2 * sizeof *t->groups);
  for (size_t i = 0; i < old_n * 2; i++)
    t->groups[i] = (ll_vgroup){.first = LL_VROW_NONE};
  for (size_t i = 0; i < old_n; i++) {
    if (old[i].first == LL_VROW_NONE)
      continue;
    size_t j = old[i].hash & t->group_mask;
    while (t->groups[j].first != LL_VROW_NONE)
      j = (j + 1) & t->group_mask;
    t->groups[j] = old[i];
  }
  free(old);
}

static void link_group(ll_views_rows *t, ll_vrow *r, size_t group_len) {
  assert(r->dirty != LL_VROW_NONE && group_len < r->key_len);
  if ((t->n_groups + 1) * 2 > t->group_mask + 1)
    grow_groups(t);
  uint64_t h = ll_hash64(r->bytes, group_len);
  ll_vgroup *g = find_group(t, h, r->bytes, group_len);
  if (g->first == LL_VROW_NONE) {
    *g = (ll_vgroup){.hash = h, .key_len = (uint32_t)group_len};
    t->n_groups++;
    r->group_next = LL_VROW_NONE;
  } else {
    r->group_next = g->first;
  }
  g->first = r->dirty;
}

void ll_views_rows_put(ll_views_rows *t, uint64_t hash, const void *key,
                       size_t key_len, const void *value, size_t value_len,
                       bool present, size_t group_len) {
  ll_vrow *r = t->slots[find_slot(t, hash, key, key_len)].row;
  if (r == NULL)
    r = add_row(t, hash, key, key_len, present ? value_len : 0);
  r = set_value(t, r, value, value_len, present);
  if (r->dirty != LL_VROW_NONE)
    return;
  if (t->n_dirty == t->dirty_cap) {
    t->dirty_cap = t->dirty_cap ? t->dirty_cap * 2 : TABLE_MIN_SLOTS;
    t->dirty = ll_xrealloc(t->dirty, t->dirty_cap * sizeof *t->dirty);
  }
  assert(t->n_dirty < LL_VROW_NONE);
  r->dirty = (uint32_t)t->n_dirty;
  t->dirty[t->n_dirty++] = r;
  t->dirty_bytes += row_bytes(r);
  if (group_len > 0)
    link_group(t, r, group_len);
}

uint32_t ll_views_rows_group(const ll_views_rows *t, const void *group,
                             size_t group_len) {
  if (t->n_groups == 0)
    return LL_VROW_NONE;
  return find_group(t, ll_hash64(group, group_len), group, group_len)->first;
}

void ll_views_rows_commit(ll_views_rows *t) {
  for (size_t i = 0; i < t->n_dirty; i++) {
    ll_vrow *r = t->dirty[i];
    r->dirty = LL_VROW_NONE;
    r->group_next = LL_VROW_NONE;
    t->dirty_bytes -= row_bytes(r);
    if (!(r->flags & LL_VROW_READ)) {
      unlink_row(t, r); /* written blind: nobody reads it back */
      free(r);
    }
  }
  t->n_dirty = 0;
  clear_groups(t);
  trim(t);
}

void ll_views_rows_get_stats(const ll_views_rows *t, ll_views_rows_stats *out) {
  *out = t->stats;
  out->entries = t->n;
  out->dirty = t->n_dirty;
  out->bytes = t->bytes;
}
