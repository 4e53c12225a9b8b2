/* ll_store_table.c — the hash table behind the primary's in-memory state
 * (ll_store_state.c): byte-string keys to a value or "absent", each entry
 * tagged with the journal record that last changed it (gen; 0 when the
 * state column family already holds the value).
 *
 * Open addressing with linear probing over a slot array of entry indexes,
 * each with the top 32 bits of its key's hash as a tag, so that probing
 * past other keys reads only the slot array; the entries themselves sit in
 * a dense array so that an index stays valid for the entry's whole life
 * (the state layer keeps lists of them: the open batch's undo list, the
 * event-id entries to remove). Removal shifts the following probe run
 * back (no tombstones), and the freed entry goes on a free list.
 * Each entry's key and value share one malloc'd block; a new value is
 * written in place when it fits, so rewriting a lot's record does not
 * allocate. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ll_mem.h"
#include "ll_store_internal.h"
#include "ll_types.h"

#define TABLE_MIN_SLOTS 1024u
#define NO_ENTRY UINT32_MAX
#define EMPTY_SLOT UINT64_MAX /* idx NO_ENTRY, which no entry has */
/* Values grow in steps of this many bytes, so a record that grows by a
 * byte or two (a varint crossing a boundary) is not reallocated each time. */
#define VALUE_CAP_STEP 16u

void ll_table_init(ll_table *t) {
  memset(t, 0, sizeof *t);
  t->n_slots = TABLE_MIN_SLOTS;
  t->slots = ll_xmalloc(t->n_slots * sizeof *t->slots);
  memset(t->slots, 0xff, t->n_slots * sizeof *t->slots); /* EMPTY_SLOT */
  t->free_head = NO_ENTRY;
}

void ll_table_free(ll_table *t) {
  for (size_t i = 0; i < t->n_entries; i++)
    free(t->entries[i].bytes);
  free(t->entries);
  free(t->slots);
  memset(t, 0, sizeof *t);
}

static size_t slot_of(const ll_table *t, uint64_t hash) {
  return (size_t)hash & (t->n_slots - 1);
}

static uint64_t make_slot(uint32_t idx, uint64_t hash) {
  return (hash & 0xFFFFFFFF00000000ull) | idx;
}

static uint32_t slot_idx(uint64_t slot) {
  return (uint32_t)slot;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t find_slot(const ll_table *t, const void *key, size_t n,
                        uint64_t hash) {
  size_t mask = t->n_slots - 1;
  uint64_t tag = hash & 0xFFFFFFFF00000000ull;
  for (size_t i = slot_of(t, hash);; i = (i + 1) & mask) {
    uint64_t slot = t->slots[i];
    if (slot == EMPTY_SLOT)
      return i;
    if ((slot & 0xFFFFFFFF00000000ull) != tag)
      continue;
    const ll_table_entry *e = &t->entries[slot_idx(slot)];
    if (e->hash == hash && e->key_len == n && memcmp(e->bytes, key, n) == 0)
      return i;
  }
}

ll_table_entry *ll_table_find(ll_table *t, const void *key, size_t n,
                              uint64_t hash) {
  uint64_t slot = t->slots[find_slot(t, key, n, hash)];
  return slot == EMPTY_SLOT ? NULL : &t->entries[slot_idx(slot)];
}

void ll_table_warm_slot(const ll_table *t, uint64_t hash) {
  __builtin_prefetch(&t->slots[slot_of(t, hash)]);
}

void ll_table_warm_entry(const ll_table *t, uint64_t hash) {
  uint64_t slot = t->slots[slot_of(t, hash)];
  if (slot != EMPTY_SLOT)
    __builtin_prefetch(&t->entries[slot_idx(slot)]);
}

void ll_table_warm_entry_at(const ll_table *t, uint32_t idx) {
  __builtin_prefetch(&t->entries[idx]);
}

void ll_table_warm_removal(const ll_table *t, uint32_t idx) {
  const ll_table_entry *e = &t->entries[idx];
  __builtin_prefetch(&t->slots[slot_of(t, e->hash)]);
  __builtin_prefetch(e->bytes);
}

static void grow_slots(ll_table *t) {
  free(t->slots);
  t->n_slots *= 2;
  t->slots = ll_xmalloc(t->n_slots * sizeof *t->slots);
  memset(t->slots, 0xff, t->n_slots * sizeof *t->slots);
  for (size_t i = 0; i < t->n_entries; i++) {
    ll_table_entry *e = &t->entries[i];
    if (!e->bytes)
      continue;
    size_t mask = t->n_slots - 1;
    size_t s = slot_of(t, e->hash);
    while (t->slots[s] != EMPTY_SLOT)
      s = (s + 1) & mask;
    t->slots[s] = make_slot((uint32_t)i, e->hash);
  }
}

static uint32_t new_entry(ll_table *t) {
  if (t->free_head != NO_ENTRY) {
    uint32_t idx = t->free_head;
    t->free_head = t->entries[idx].next_free;
    return idx;
  }
  if (t->n_entries == t->cap_entries) {
    t->cap_entries = t->cap_entries ? t->cap_entries * 2 : TABLE_MIN_SLOTS;
    /* Entry indexes are 32-bit with one value reserved: far above any
     * table the state layer allows (its limits are in the millions). */
    assert(t->cap_entries < NO_ENTRY);
    t->entries = ll_xrealloc(t->entries, t->cap_entries * sizeof *t->entries);
  }
  return (uint32_t)t->n_entries++;
}

static uint32_t cap_for(uint32_t value_len) {
  if (value_len == LL_TABLE_ABSENT || value_len == 0)
    return 0;
  return (value_len + VALUE_CAP_STEP - 1) / VALUE_CAP_STEP * VALUE_CAP_STEP;
}

void ll_table_set_value(ll_table_entry *e, const void *value,
                        uint32_t value_len) {
  if (value_len != LL_TABLE_ABSENT && value_len > e->value_cap) {
    e->value_cap = cap_for(value_len);
    e->bytes = ll_xrealloc(e->bytes, (size_t)e->key_len + e->value_cap);
  }
  e->value_len = value_len;
  if (value_len != LL_TABLE_ABSENT && value_len > 0)
    memcpy(e->bytes + e->key_len, value, value_len);
}

uint32_t ll_table_put(ll_table *t, const void *key, size_t n, uint64_t hash,
                      const void *value, uint32_t value_len, uint64_t gen,
                      bool *created) {
  assert(n > 0 && n < LL_TABLE_ABSENT);
  size_t s = find_slot(t, key, n, hash);
  uint32_t idx = slot_idx(t->slots[s]);
  *created = t->slots[s] == EMPTY_SLOT;
  if (*created) {
    idx = new_entry(t);
    ll_table_entry *e = &t->entries[idx];
    e->hash = hash;
    e->key_len = (uint32_t)n;
    e->value_cap = cap_for(value_len);
    e->bytes = ll_xmalloc(n + e->value_cap);
    memcpy(e->bytes, key, n);
    t->slots[s] = make_slot(idx, hash);
    t->live++;
  }
  ll_table_entry *e = &t->entries[idx];
  e->gen = gen;
  ll_table_set_value(e, value, value_len);
  /* Keep probe runs short: at most half the slots in use. */
  if (*created && t->live * 2 > t->n_slots)
    grow_slots(t);
  return idx;
}

void ll_table_remove(ll_table *t, uint32_t idx) {
  assert(idx < t->n_entries && t->entries[idx].bytes);
  ll_table_entry *e = &t->entries[idx];
  size_t mask = t->n_slots - 1;
  size_t i = find_slot(t, e->bytes, e->key_len, e->hash);
  assert(slot_idx(t->slots[i]) == idx);
  /* Backward-shift deletion: move later members of the probe run into the
   * hole when their home slot allows it, so lookups never need tombstones. */
  for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
    uint64_t other = t->slots[j];
    if (other == EMPTY_SLOT)
      break;
    size_t home = slot_of(t, t->entries[slot_idx(other)].hash);
    /* other may move to i if i lies cyclically in [home, j). */
    bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
    if (movable) {
      t->slots[i] = other;
      i = j;
    }
  }
  t->slots[i] = EMPTY_SLOT;
  free(e->bytes);
  memset(e, 0, sizeof *e);
  e->next_free = t->free_head;
  t->free_head = idx;
  t->live--;
}
