/* state_cache.c — see state_cache.h. Two open-addressing hash tables
 * (linear probing, FNV-1a, power-of-two capacity) of byte-string keys:
 * `overlay` for the pending batch, `cache` for committed state. A value is
 * either bytes or "absent" (a delete, or a cached negative answer). */
#include "state_cache.h"

#include <stdlib.h>
#include <string.h>

#include "ll_event.h"

#define TABLE_MIN_CAPACITY 1024
#define EVENT_ID_PREFIX 'e' /* ll_state.c's key prefix of event-id records */

typedef struct entry {
  uint8_t *key; /* NULL = empty slot */
  size_t key_len;
  uint8_t *value; /* NULL with present == false: absent */
  size_t value_len;
  bool present;
  uint64_t hash;
} entry;

typedef struct table {
  entry *slots;
  size_t capacity; /* power of two */
  size_t len;
} table;

struct ll_state_cache {
  ll_state_reader below;
  size_t max_entries;
  table overlay;
  table cache;
  ll_state_cache_stats stats;
};

static uint64_t hash_bytes(const void *p, size_t n) {
  const uint8_t *b = p;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 1099511628211ull;
  }
  return h;
}

static void table_init(table *t) {
  t->capacity = TABLE_MIN_CAPACITY;
  t->len = 0;
  t->slots = ll_xcalloc(t->capacity, sizeof *t->slots);
}

/* Empty the table, keeping its capacity (the overlay refills each batch). */
static void table_clear(table *t) {
  for (size_t i = 0; i < t->capacity; i++) {
    free(t->slots[i].key);
    free(t->slots[i].value);
  }
  memset(t->slots, 0, t->capacity * sizeof *t->slots);
  t->len = 0;
}

static void table_free(table *t) {
  table_clear(t);
  free(t->slots);
  t->slots = NULL;
}

static entry *table_find(const table *t, const void *key, size_t n,
                         uint64_t h) {
  size_t mask = t->capacity - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    entry *e = &t->slots[i];
    if (!e->key)
      return e; /* the empty slot where it would go */
    if (e->hash == h && e->key_len == n && memcmp(e->key, key, n) == 0)
      return e;
  }
}

static void table_grow(table *t) {
  table old = *t;
  t->capacity *= 2;
  t->len = 0;
  t->slots = ll_xcalloc(t->capacity, sizeof *t->slots);
  for (size_t i = 0; i < old.capacity; i++) {
    if (old.slots[i].key) {
      *table_find(t, old.slots[i].key, old.slots[i].key_len,
                  old.slots[i].hash) = old.slots[i];
      t->len++;
    }
  }
  free(old.slots);
}

/* Insert or replace; takes a copy of key and value. */
static void table_put(table *t, const void *key, size_t n, uint64_t h,
                      const void *value, size_t value_len, bool present) {
  if ((t->len + 1) * 4 > t->capacity * 3)
    table_grow(t);
  entry *e = table_find(t, key, n, h);
  if (!e->key) {
    e->key = ll_xmalloc(n);
    memcpy(e->key, key, n);
    e->key_len = n;
    e->hash = h;
    t->len++;
  } else {
    free(e->value);
  }
  e->present = present;
  e->value = NULL;
  e->value_len = 0;
  if (present) {
    e->value = ll_xmalloc(value_len);
    memcpy(e->value, value, value_len);
    e->value_len = value_len;
  }
}

static int cache_get(void *ctx, const void *key, size_t key_len, ll_buf *out,
                     bool *found, ll_err *err) {
  ll_state_cache *c = ctx;
  uint64_t h = hash_bytes(key, key_len);
  const entry *e = table_find(&c->overlay, key, key_len, h);
  if (!e->key)
    e = table_find(&c->cache, key, key_len, h);
  if (e->key) {
    c->stats.hits++;
    ll_buf_reset(out);
    *found = e->present;
    if (e->present)
      ll_buf_put(out, e->value, e->value_len);
    return 0;
  }
  c->stats.misses++;
  if (c->below.get(c->below.ctx, key, key_len, out, found, err) != 0)
    return -1;
  if (key_len > 0 && ((const uint8_t *)key)[0] == EVENT_ID_PREFIX)
    return 0;
  if (c->cache.len >= c->max_entries) {
    table_clear(&c->cache);
    c->stats.resets++;
  }
  table_put(&c->cache, key, key_len, h, out->data, out->len, *found);
  return 0;
}

ll_state_cache *ll_state_cache_new(const ll_state_reader *below,
                                   size_t max_entries) {
  ll_state_cache *c = ll_xcalloc(1, sizeof *c);
  c->below = *below;
  c->max_entries = max_entries ? max_entries : LL_STATE_CACHE_MAX_ENTRIES;
  table_init(&c->overlay);
  table_init(&c->cache);
  return c;
}

void ll_state_cache_free(ll_state_cache *c) {
  if (!c)
    return;
  table_free(&c->overlay);
  table_free(&c->cache);
  free(c);
}

ll_state_reader ll_state_cache_reader(ll_state_cache *c) {
  return (ll_state_reader){.ctx = c, .get = cache_get};
}

void ll_state_cache_stage(ll_state_cache *c, const ll_mutations *m) {
  for (size_t i = 0; i < m->len; i++) {
    const ll_mutation *mu = &m->items[i];
    table_put(&c->overlay, mu->key.data, mu->key.len,
              hash_bytes(mu->key.data, mu->key.len), mu->value.data,
              mu->value.len, !mu->is_delete);
  }
}

void ll_state_cache_commit(ll_state_cache *c) {
  if (c->cache.len + c->overlay.len > c->max_entries) {
    table_clear(&c->cache);
    c->stats.resets++;
  }
  for (size_t i = 0; i < c->overlay.capacity; i++) {
    entry *e = &c->overlay.slots[i];
    if (!e->key || (e->key_len > 0 && e->key[0] == EVENT_ID_PREFIX))
      continue;
    table_put(&c->cache, e->key, e->key_len, e->hash, e->value, e->value_len,
              e->present);
  }
  table_clear(&c->overlay);
}

void ll_state_cache_abort(ll_state_cache *c) {
  table_clear(&c->overlay);
}

void ll_state_cache_get_stats(const ll_state_cache *c,
                              ll_state_cache_stats *out) {
  *out = c->stats;
  out->entries = c->cache.len;
}
