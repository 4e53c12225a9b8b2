/* mem_state.c — the rules' state in memory, for tests.
 *
 * Separate chaining over a power-of-two bucket array that doubles when the
 * load factor passes 1: the model test keeps a few hundred thousand event
 * records, so a linear list would be too slow. */
#include "mem_state.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ll_event.h"
#include "ll_mem.h"

typedef struct entry {
  struct entry *next;
  uint64_t hash;
  uint8_t *key;
  size_t key_len;
  uint8_t *value;
  size_t value_len;
} entry;

struct mem_state {
  entry **buckets;
  size_t n_buckets;
  size_t count;
};

static uint64_t hash_bytes(const void *p, size_t n) {
  const uint8_t *b = p;
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 1099511628211ULL;
  }
  return h;
}

mem_state *mem_state_new(void) {
  mem_state *m = ll_xcalloc(1, sizeof *m);
  m->n_buckets = 64;
  m->buckets = ll_xcalloc(m->n_buckets, sizeof *m->buckets);
  return m;
}

void mem_state_free(mem_state *m) {
  if (!m)
    return;
  for (size_t i = 0; i < m->n_buckets; i++) {
    entry *e = m->buckets[i];
    while (e) {
      entry *next = e->next;
      free(e->key);
      free(e->value);
      free(e);
      e = next;
    }
  }
  free(m->buckets);
  free(m);
}

static entry **find_slot(mem_state *m, const void *key, size_t key_len,
                         uint64_t h) {
  entry **slot = &m->buckets[h & (m->n_buckets - 1)];
  while (*slot) {
    entry *e = *slot;
    if (e->hash == h && e->key_len == key_len &&
        memcmp(e->key, key, key_len) == 0)
      return slot;
    slot = &e->next;
  }
  return slot;
}

static void grow(mem_state *m) {
  size_t n = m->n_buckets * 2;
  entry **buckets = ll_xcalloc(n, sizeof *buckets);
  for (size_t i = 0; i < m->n_buckets; i++) {
    entry *e = m->buckets[i];
    while (e) {
      entry *next = e->next;
      e->next = buckets[e->hash & (n - 1)];
      buckets[e->hash & (n - 1)] = e;
      e = next;
    }
  }
  free(m->buckets);
  m->buckets = buckets;
  m->n_buckets = n;
}

bool mem_state_get(mem_state *m, const void *key, size_t key_len,
                   const uint8_t **value, size_t *value_len) {
  entry **slot = find_slot(m, key, key_len, hash_bytes(key, key_len));
  if (!*slot)
    return false;
  *value = (*slot)->value;
  *value_len = (*slot)->value_len;
  return true;
}

void mem_state_put(mem_state *m, const void *key, size_t key_len,
                   const void *value, size_t value_len) {
  uint64_t h = hash_bytes(key, key_len);
  entry **slot = find_slot(m, key, key_len, h);
  entry *e = *slot;
  if (!e) {
    e = ll_xcalloc(1, sizeof *e);
    e->hash = h;
    e->key = ll_xmalloc(key_len);
    memcpy(e->key, key, key_len);
    e->key_len = key_len;
    *slot = e;
    m->count++;
  } else {
    free(e->value);
  }
  e->value = ll_xmalloc(value_len);
  if (value_len)
    memcpy(e->value, value, value_len);
  e->value_len = value_len;
  if (m->count > m->n_buckets)
    grow(m);
}

static void mem_state_del(mem_state *m, const void *key, size_t key_len) {
  entry **slot = find_slot(m, key, key_len, hash_bytes(key, key_len));
  entry *e = *slot;
  if (!e)
    return;
  *slot = e->next;
  free(e->key);
  free(e->value);
  free(e);
  m->count--;
}

size_t mem_state_count(const mem_state *m) {
  return m->count;
}

void mem_state_foreach(mem_state *m,
                       void (*fn)(void *ctx, const uint8_t *key, size_t key_len,
                                  const uint8_t *value, size_t value_len),
                       void *ctx) {
  for (size_t i = 0; i < m->n_buckets; i++) {
    for (entry *e = m->buckets[i]; e; e = e->next)
      fn(ctx, e->key, e->key_len, e->value, e->value_len);
  }
}

uint64_t mem_state_fingerprint(mem_state *m, char skip_kind) {
  uint64_t sum = 0;
  for (size_t i = 0; i < m->n_buckets; i++) {
    for (entry *e = m->buckets[i]; e; e = e->next) {
      if (skip_kind && e->key_len > 0 && e->key[0] == (uint8_t)skip_kind)
        continue;
      uint64_t h = e->hash * 31 + hash_bytes(e->value, e->value_len);
      sum += h * 0x9E3779B97F4A7C15ULL + 1;
    }
  }
  return sum;
}

void mem_state_apply(mem_state *m, const ll_mutations *muts) {
  for (size_t i = 0; i < muts->len; i++) {
    const ll_mutation *mu = &muts->items[i];
    if (mu->is_delete)
      mem_state_del(m, mu->key.data, mu->key.len);
    else
      mem_state_put(m, mu->key.data, mu->key.len, mu->value.data,
                    mu->value.len);
  }
}

static int reader_get(void *ctx, const void *key, size_t key_len, ll_buf *out,
                      bool *found, ll_err *err) {
  (void)err;
  const uint8_t *v;
  size_t n;
  ll_buf_reset(out);
  *found = mem_state_get(ctx, key, key_len, &v, &n);
  if (*found)
    ll_buf_put(out, v, n);
  return 0;
}

ll_state_reader mem_state_reader(mem_state *m) {
  ll_state_reader r = {.ctx = m, .get = reader_get};
  return r;
}

/* ---- harness ---- */

void env_init(rules_env *env) {
  memset(env, 0, sizeof *env);
  env->state = mem_state_new();
}

void env_free(rules_env *env) {
  mem_state_free(env->state);
  memset(env, 0, sizeof *env);
}

void env_process(rules_env *env, const ll_event *ev, ll_decision *d) {
  ll_state_reader reader = mem_state_reader(env->state);
  ll_facts facts;
  ll_err err = {0};
  ll_facts_init(&facts);
  if (ll_facts_load(&reader, ev, &facts, &err) != 0)
    fail_msg("ll_facts_load failed: %s", err.message);
  ll_decide(&facts, ev, &env->opts, d);
  ll_facts_free(&facts);

  uint64_t position = 0;
  if (d->accepted)
    position = ++env->last_position;
  ll_mutations muts;
  ll_mutations_init(&muts);
  ll_log_at at = {position, -1, position};
  ll_decision_mutations(ev, d, d->accepted ? &at : NULL, &muts);
  mem_state_apply(env->state, &muts);
  ll_mutations_free(&muts);
}

bool env_lot(rules_env *env, const char *product_id, const char *lot_id,
             ll_lot *lot) {
  ll_state_reader reader = mem_state_reader(env->state);
  ll_err err = {0};
  bool found = false;
  if (ll_state_get_lot(&reader, product_id, lot_id, lot, &found, &err) != 0)
    fail_msg("ll_state_get_lot failed: %s", err.message);
  return found;
}

int64_t env_qty(rules_env *env, const char *product_id, const char *lot_id,
                const char *location_id) {
  ll_buf key;
  ll_buf_init(&key);
  ll_buf_printf(&key, "q%s\x1f%s\x1f%s", product_id, lot_id, location_id);
  const uint8_t *v;
  size_t n;
  int64_t qty = 0;
  if (mem_state_get(env->state, key.data, key.len, &v, &n)) {
    ll_rd r;
    ll_rd_init(&r, v, n);
    if (!ll_rd_svar(&r, &qty) || ll_rd_left(&r) != 0)
      fail_msg("corrupt quantity record for %s at %s", lot_id, location_id);
    if (qty == 0)
      fail_msg("a zero quantity is stored for %s at %s (should be deleted)",
               lot_id, location_id);
  }
  ll_buf_free(&key);
  return qty;
}

/* ---- event builders ---- */

void ev_set(char **field, const char *s) {
  free(*field);
  *field = ll_strdup(s);
}

static void ev_base(ll_event *ev, ll_event_type type, const char *event_id,
                    const char *product_id) {
  ll_event_init(ev);
  ev->type = type;
  ev->event_id = ll_strdup(event_id);
  ev->occurred_at_ms = 1800000000000; /* 2027-01-15 */
  ev->product_id = ll_strdup(product_id);
}

void ev_created(ll_event *ev, const char *event_id, const char *product_id,
                const char *lot_id, const char *name, ll_tracking tracking) {
  ev_base(ev, LL_EV_LOT_CREATED, event_id, product_id);
  ev->lot_id = ll_strdup(lot_id);
  ev->name = ll_strdup(name);
  ev->tracking = tracking;
}

void ev_updated(ll_event *ev, const char *event_id, const char *product_id,
                const char *lot_id) {
  ev_base(ev, LL_EV_LOT_UPDATED, event_id, product_id);
  ev->lot_id = ll_strdup(lot_id);
}

void ev_moved(ll_event *ev, const char *event_id, const char *product_id,
              const char *lot_id, int64_t quantity_micro, const char *from_id,
              ll_usage from_usage, const char *to_id, ll_usage to_usage) {
  ev_base(ev, LL_EV_STOCK_MOVED, event_id, product_id);
  ev->lot_id = ll_strdup(lot_id);
  ev->quantity_valid = true;
  ev->quantity_micro = quantity_micro;
  ev->from.id = ll_strdup(from_id);
  ev->from.usage = from_usage;
  ev->to.id = ll_strdup(to_id);
  ev->to.usage = to_usage;
}
