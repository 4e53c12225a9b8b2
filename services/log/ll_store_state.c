/* ll_store_state.c — the primary's state in memory (ll_store.h explains
 * the journal it stands for).
 *
 * One hash table (ll_store_table.c) holds, per key, the newest value the
 * command consumer knows, tagged with the journal record that changed it
 * last (gen):
 *   - dirty entries: changed by a committed batch and not yet applied to
 *     the state column family (gen >= first_journal). They must stay: the
 *     column family does not hold them yet.
 *   - clean entries (gen < first_journal; 0 when read from the column
 *     family): a cache of what the column family holds, negative answers
 *     included; dropped all at once when there are more than
 *     LL_STATE_CACHE_MAX_ENTRIES of them. Event-id records are not kept
 *     clean (ll_state_key_cacheable): each is read once.
 *   - the open batch's writes (gen = the record it will write), with an
 *     undo list to put back what they replaced if it aborts.
 * So a batch read is one hash lookup, and a key reaches RocksDB only when
 * it is neither changed since the last apply nor cached.
 *
 * An apply costs the batch thread no pass over its changes. The committed
 * journal records are kept in memory, as written; a snapshot hands them
 * to the applier (which sorts them and keeps each key's newest value) by
 * swapping a buffer. When the job is applied, first_journal moves past it,
 * which makes every entry it covered and that was not changed since clean
 * at once; only the event-id entries among them (the `once` list) are
 * visited, to leave the table. At open, the journal records still in the
 * column family are read back into the table as dirty entries. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ll_buf.h"
#include "ll_mem.h"
#include "ll_store_internal.h"
#include "ll_types.h"

int ll_state_key_cmp(const void *a, size_t a_len, const void *b, size_t b_len) {
  int c = memcmp(a, b, a_len < b_len ? a_len : b_len);
  if (c != 0)
    return c;
  return a_len < b_len ? -1 : a_len > b_len;
}

static ll_table_entry *entry_at(ll_state_mem *m, uint32_t idx) {
  return &m->table.entries[idx];
}

static bool is_clean(const ll_state_mem *m, const ll_table_entry *e) {
  return e->gen < m->first_journal;
}

/* Entry idx (key) turned dirty: count it, and list it when it must leave
 * the table once applied. */
static void mark_dirty(ll_state_mem *m, uint32_t idx, const void *key,
                       size_t key_len) {
  m->n_dirty++;
  if (ll_state_key_cacheable(key, key_len))
    return;
  if (m->n_once == m->cap_once) {
    m->cap_once = m->cap_once ? m->cap_once * 2 : 1024;
    m->once = ll_xrealloc(m->once, m->cap_once * sizeof *m->once);
  }
  m->once[m->n_once++] = idx;
}

/* ---- open / close: the journal comes back as dirty entries ---- */

typedef struct load_ctx {
  ll_state_mem *m;
  uint64_t gen;
  size_t changes;
} load_ctx;

static void load_change(void *ctx, const ll_state_change *c) {
  load_ctx *lc = ctx;
  ll_state_mem *m = lc->m;
  bool created;
  uint64_t h = ll_hash64(c->key, c->key_len);
  ll_table_entry *old = ll_table_find(&m->table, c->key, c->key_len, h);
  bool listed = old != NULL; /* loaded from an earlier record: counted */
  uint32_t idx = ll_table_put(
      &m->table, c->key, c->key_len, h, c->value,
      c->present ? (uint32_t)c->value_len : LL_TABLE_ABSENT, lc->gen, &created);
  if (!listed)
    mark_dirty(m, idx, c->key, c->key_len);
  lc->changes++;
}

int ll_state_mem_open(ll_store *s, ll_err *err) {
  assert(s->mode == LL_STORE_PRIMARY && !s->mem);
  ll_state_mem *m = ll_xcalloc(1, sizeof *m);
  s->mem = m;
  m->limits = (ll_state_limits){
      .cache_max_entries = LL_STATE_CACHE_MAX_ENTRIES,
      .apply_min_entries = LL_STATE_APPLY_MIN_ENTRIES,
      .apply_max_records = LL_STATE_APPLY_MAX_RECORDS,
      .dirty_max_entries = LL_STATE_DIRTY_MAX_ENTRIES,
      .leaving_per_commit = LL_STATE_LEAVING_PER_COMMIT,
  };
  ll_table_init(&m->table);
  ll_jindex_init(&s->jindex);
  ll_buf_init(&m->prefetched.bytes);
  ll_buf_init(&m->undo_bytes);
  ll_buf_init(&m->record);
  ll_buf_init(&m->records);
  m->below = ll_store_cf_state_reader(s);

  char *rerr = NULL;
  size_t n = 0;
  char *v = rocksdb_get_cf(s->db, s->read_opts, s->cf[LL_CF_DEFAULT],
                           LL_META_LAST_JOURNAL, strlen(LL_META_LAST_JOURNAL),
                           &n, &rerr);
  if (rerr)
    return ll_store_fail(s, err, "read meta", rerr);
  if (v && n != 8) {
    rocksdb_free(v);
    return ll_fail(err, LL_ERR_CORRUPT, "log store %s: meta %s is corrupt",
                   s->dir, LL_META_LAST_JOURNAL);
  }
  m->last_journal = v ? ll_be64_decode(v) : 0;
  rocksdb_free(v);

  rocksdb_iterator_t *it =
      rocksdb_create_iterator_cf(s->db, s->read_opts, s->cf[LL_CF_JOURNAL]);
  int rc = 0;
  uint64_t prev = 0;
  m->first_journal = 0;
  for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it);
       rocksdb_iter_next(it)) {
    size_t key_len, value_len;
    const char *key = rocksdb_iter_key(it, &key_len);
    const char *value = rocksdb_iter_value(it, &value_len);
    uint64_t seq = key_len == 8 ? ll_be64_decode(key) : 0;
    load_ctx lc = {m, seq, 0};
    /* Records are dense (applies delete the oldest ones) and never newer
     * than meta's counter (both are written in the same batch). */
    if (seq == 0 || seq > m->last_journal || (prev && seq != prev + 1) ||
        !ll_journal_each(value, value_len, load_change, &lc)) {
      rc = ll_fail(err, LL_ERR_CORRUPT,
                   "log store %s: journal record %llu is corrupt or out "
                   "of place (meta's last journal record is %llu)",
                   s->dir, (unsigned long long)seq,
                   (unsigned long long)m->last_journal);
      break;
    }
    if (!m->first_journal)
      m->first_journal = seq;
    prev = seq;
    (void)ll_jindex_add(&s->jindex, seq, value, value_len, 0); /* checked */
    ll_journal_list_put(&m->records, value, value_len);
    m->record_changes += lc.changes;
  }
  if (rc == 0) {
    rocksdb_iter_get_error(it, &rerr);
    if (rerr)
      rc = ll_store_fail(s, err, "read journal", rerr);
  }
  rocksdb_iter_destroy(it);
  if (!m->first_journal)
    m->first_journal = m->last_journal + 1;
  m->snap_through = m->first_journal - 1;
  atomic_store(&s->journal_applied, m->first_journal - 1);
  return rc;
}

void ll_state_mem_close(ll_store *s) {
  ll_state_mem *m = s->mem;
  if (!m)
    return;
  ll_table_free(&m->table);
  ll_jindex_free(&s->jindex);
  free(m->prefetched.slots);
  ll_buf_free(&m->prefetched.bytes);
  free(m->pf_keys);
  free(m->pf_list);
  free(m->pf_lens);
  free(m->pf_slots);
  free(m->pf_values);
  free(m->pf_errs);
  free(m->once);
  free(m->leaving);
  ll_buf_free(&m->records);
  free(m->undo);
  ll_buf_free(&m->undo_bytes);
  ll_buf_free(&m->record);
  free(m);
  s->mem = NULL;
}

/* ---- batches ---- */

/* Drop every clean entry: the cache's bound, enforced between batches
 * (entry indexes in the undo list must not move during one). */
static void evict_clean(ll_state_mem *m) {
  for (size_t i = 0; i < m->table.n_entries; i++) {
    ll_table_entry *e = entry_at(m, (uint32_t)i);
    if (e->bytes && is_clean(m, e))
      ll_table_remove(&m->table, (uint32_t)i);
  }
  m->stats.evictions++;
}

/* ---- the prefetch map ---- */

#define PREFETCH_MIN_SLOTS 512u

static void clear_prefetched(ll_state_mem *m) {
  ll_prefetch *p = &m->prefetched;
  if (p->live > 0)
    memset(p->slots, 0, p->n_slots * sizeof *p->slots);
  p->live = 0;
  ll_buf_reset(&p->bytes);
}

/* Empty, with room for n keys at most half full. */
static void prefetch_reset(ll_prefetch *p, size_t n) {
  size_t want = PREFETCH_MIN_SLOTS;
  while (want < 2 * n)
    want *= 2;
  if (want > p->n_slots) {
    free(p->slots);
    p->n_slots = want;
    p->slots = ll_xcalloc(want, sizeof *p->slots);
  } else if (p->live > 0) {
    memset(p->slots, 0, p->n_slots * sizeof *p->slots);
  }
  p->live = 0;
  ll_buf_reset(&p->bytes);
}

/* The slot of key, or the empty one where it would go. */
static ll_prefetch_slot *prefetch_slot(ll_prefetch *p, const void *key,
                                       size_t n, uint64_t h) {
  size_t mask = p->n_slots - 1;
  for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
    ll_prefetch_slot *s = &p->slots[i];
    if (s->key_len == 0 || (s->hash == h && s->key_len == n &&
                            memcmp(p->bytes.data + s->key_off, key, n) == 0))
      return s;
  }
}

static const ll_prefetch_slot *prefetch_find(ll_prefetch *p, const void *key,
                                             size_t n, uint64_t h) {
  if (p->live == 0)
    return NULL;
  ll_prefetch_slot *s = prefetch_slot(p, key, n, h);
  return s->key_len == 0 || s->dropped ? NULL : s;
}

void ll_state_mem_begin(ll_store *s) {
  ll_state_mem *m = s->mem;
  assert(m->batch_gen == 0 && m->n_undo == 0);
  if (m->table.live > m->limits.cache_max_entries + m->n_dirty + m->in_flight) {
    /* The leaving entries are clean: the pass below would free their
     * indexes, which the list must not name then. */
    ll_state_mem_drop_leaving(s, SIZE_MAX);
    evict_clean(m);
  }
  m->batch_gen = m->last_journal + 1;
  m->dirty_at_begin = m->n_dirty;
  m->once_at_begin = m->n_once;
  clear_prefetched(m);
  ll_buf_reset(&m->undo_bytes);
}

/* Batch reads: memory, else the state column family (then cached). */
static int mem_get(void *ctx, const void *key, size_t key_len, ll_buf *out,
                   bool *found, ll_err *err) {
  ll_state_mem *m = ctx;
  uint64_t h = ll_hash64(key, key_len);
  const ll_table_entry *e = ll_table_find(&m->table, key, key_len, h);
  ll_buf_reset(out);
  if (e) {
    m->stats.hits++;
    *found = e->value_len != LL_TABLE_ABSENT;
    if (*found)
      ll_buf_put(out, e->bytes + e->key_len, e->value_len);
    return 0;
  }
  m->stats.misses++;
  const ll_prefetch_slot *p = prefetch_find(&m->prefetched, key, key_len, h);
  if (p) {
    *found = p->value_len != LL_TABLE_ABSENT;
    if (*found)
      ll_buf_put(out, m->prefetched.bytes.data + p->value_off, p->value_len);
  } else if (m->below.get(m->below.ctx, key, key_len, out, found, err) != 0) {
    return -1;
  }
  if (ll_state_key_cacheable(key, key_len)) {
    bool created;
    (void)ll_table_put(&m->table, key, key_len, h, out->data,
                       *found ? (uint32_t)out->len : LL_TABLE_ABSENT, 0,
                       &created);
    assert(created);
  }
  return 0;
}

ll_state_reader ll_state_mem_reader(ll_store *s) {
  return (ll_state_reader){.ctx = s->mem, .get = mem_get};
}

static void push_undo(ll_state_mem *m, uint32_t idx, bool created) {
  if (m->n_undo == m->cap_undo) {
    m->cap_undo = m->cap_undo ? m->cap_undo * 2 : 256;
    m->undo = ll_xrealloc(m->undo, m->cap_undo * sizeof *m->undo);
  }
  ll_state_undo *u = &m->undo[m->n_undo++];
  const ll_table_entry *e = entry_at(m, idx);
  u->idx = idx;
  u->created = created;
  u->old_gen = created ? 0 : e->gen;
  u->old_len = created ? LL_TABLE_ABSENT : e->value_len;
  u->old_off = m->undo_bytes.len;
  if (!created && e->value_len != LL_TABLE_ABSENT)
    ll_buf_put(&m->undo_bytes, e->bytes + e->key_len, e->value_len);
}

static void write_one(ll_state_mem *m, const void *key, size_t key_len,
                      const void *value, uint32_t value_len) {
  uint64_t h = ll_hash64(key, key_len);
  if (m->prefetched.live > 0) {
    ll_prefetch_slot *p = prefetch_slot(&m->prefetched, key, key_len, h);
    if (p->key_len != 0)
      p->dropped = true;
  }
  ll_table_entry *e = ll_table_find(&m->table, key, key_len, h);
  if (e && e->gen == m->batch_gen) { /* written before in this batch */
    ll_table_set_value(e, value, value_len);
    return;
  }
  if (e) {
    uint32_t idx = (uint32_t)(e - m->table.entries);
    bool listed = e->gen > m->snap_through;
    push_undo(m, idx, false);
    e->gen = m->batch_gen;
    ll_table_set_value(e, value, value_len);
    if (!listed)
      mark_dirty(m, idx, key, key_len);
    return;
  }
  bool created;
  uint32_t idx = ll_table_put(&m->table, key, key_len, h, value, value_len,
                              m->batch_gen, &created);
  assert(created);
  push_undo(m, idx, true);
  mark_dirty(m, idx, key, key_len);
}

void ll_state_mem_mutate(ll_store *s, const ll_mutations *muts) {
  ll_state_mem *m = s->mem;
  assert(m->batch_gen != 0);
  for (size_t i = 0; i < muts->len; i++) {
    const ll_mutation *mu = &muts->items[i];
    assert(mu->key.len > 0);
    assert(mu->is_delete || mu->value.len < LL_TABLE_ABSENT);
    write_one(m, mu->key.data, mu->key.len, mu->value.data,
              mu->is_delete ? LL_TABLE_ABSENT : (uint32_t)mu->value.len);
  }
}

static ll_state_change change_of(const ll_table_entry *e) {
  bool present = e->value_len != LL_TABLE_ABSENT;
  return (ll_state_change){.key = e->bytes,
                           .key_len = e->key_len,
                           .value = present ? e->bytes + e->key_len : NULL,
                           .value_len = present ? e->value_len : 0,
                           .present = present};
}

const ll_buf *ll_state_mem_encode_batch(ll_store *s) {
  ll_state_mem *m = s->mem;
  ll_buf *out = &m->record;
  ll_buf_reset(out);
  if (m->n_undo == 0)
    return out;
  /* The undo list names each entry the batch changed exactly once. */
  ll_state_change *changes = ll_xmalloc(m->n_undo * sizeof *changes);
  for (size_t i = 0; i < m->n_undo; i++)
    changes[i] = change_of(entry_at(m, m->undo[i].idx));
  ll_journal_encode(out, changes, m->n_undo);
  free(changes);
  return out;
}

void ll_state_mem_committed(ll_store *s) {
  ll_state_mem *m = s->mem;
  assert((m->record.len > 0) == (m->n_undo > 0));
  if (m->record.len > 0) {
    m->last_journal = m->batch_gen;
    ll_journal_list_put(&m->records, m->record.data, m->record.len);
    m->record_changes += m->n_undo;
  }
  m->n_undo = 0;
  m->batch_gen = 0;
}

void ll_state_mem_abort(ll_store *s) {
  ll_state_mem *m = s->mem;
  for (size_t i = m->n_undo; i-- > 0;) {
    const ll_state_undo *u = &m->undo[i];
    if (u->created) {
      ll_table_remove(&m->table, u->idx);
      continue;
    }
    ll_table_entry *e = entry_at(m, u->idx);
    e->gen = u->old_gen;
    ll_table_set_value(e, m->undo_bytes.data + u->old_off, u->old_len);
  }
  /* What the batch made dirty is exactly what it undid. */
  m->n_dirty = m->dirty_at_begin;
  m->n_once = m->once_at_begin;
  m->n_undo = 0;
  m->batch_gen = 0;
}

/* Keys not in memory, read from the column family in one MultiGet. The
 * table lookups are done for all keys at once, in stages (slot, entry,
 * key), so their cache misses overlap; the keys found in the table are
 * then warm for the reads that follow. */
int ll_state_mem_prefetch(ll_store *s, const ll_buf *keys, ll_err *err) {
  ll_state_mem *m = s->mem;
  ll_prefetch *p = &m->prefetched;
  assert(m->batch_gen != 0);
  size_t count = 0;
  ll_rd rd;
  ll_rd_init(&rd, keys->data, keys->len);
  for (uint64_t len; ll_rd_uvar(&rd, &len) && ll_rd_left(&rd) >= len;
       rd.p += len) {
    assert(len > 0 && len < UINT32_MAX); /* ll_facts_prefetch_keys() */
    if (count == m->cap_pf_keys) {
      m->cap_pf_keys = m->cap_pf_keys ? 2 * m->cap_pf_keys : 1024;
      m->pf_keys = ll_xrealloc(m->pf_keys, m->cap_pf_keys * sizeof *m->pf_keys);
    }
    uint64_t h = ll_hash64(rd.p, (size_t)len);
    m->pf_keys[count++] = (struct ll_prefetch_key){rd.p, (size_t)len, h};
    ll_table_warm_slot(&m->table, h);
  }
  for (size_t i = 0; i < count; i++)
    ll_table_warm_entry(&m->table, m->pf_keys[i].hash);
  prefetch_reset(p, count);
  for (size_t i = 0; i < count; i++) {
    const struct ll_prefetch_key *k = &m->pf_keys[i];
    const ll_table_entry *e = ll_table_find(&m->table, k->key, k->len, k->hash);
    if (e) {
      __builtin_prefetch(e->bytes + e->key_len);
      continue;
    }
    ll_prefetch_slot *slot = prefetch_slot(p, k->key, k->len, k->hash);
    if (slot->key_len != 0)
      continue; /* asked for already */
    assert(p->bytes.len + k->len < UINT32_MAX);
    *slot = (ll_prefetch_slot){.hash = k->hash,
                               .key_off = (uint32_t)p->bytes.len,
                               .key_len = (uint32_t)k->len,
                               .value_len = LL_TABLE_ABSENT};
    ll_buf_put(&p->bytes, k->key, k->len);
    p->live++;
  }
  size_t n = p->live;
  if (n == 0)
    return 0;
  /* One MultiGet, the keys pointing into the map's buffer (which does not
   * move until the values are appended below). */
  if (n > m->cap_pf_list) {
    m->cap_pf_list = n;
    m->pf_list = ll_xrealloc(m->pf_list, n * sizeof *m->pf_list);
    m->pf_lens = ll_xrealloc(m->pf_lens, n * sizeof *m->pf_lens);
    m->pf_slots = ll_xrealloc(m->pf_slots, n * sizeof *m->pf_slots);
    m->pf_values = ll_xrealloc(m->pf_values, n * sizeof *m->pf_values);
    m->pf_errs = ll_xrealloc(m->pf_errs, n * sizeof *m->pf_errs);
  }
  size_t k = 0;
  for (size_t i = 0; i < p->n_slots; i++) {
    if (p->slots[i].key_len == 0)
      continue;
    m->pf_slots[k] = &p->slots[i];
    m->pf_list[k] = (const char *)p->bytes.data + p->slots[i].key_off;
    m->pf_lens[k] = p->slots[i].key_len;
    m->pf_values[k] = NULL;
    m->pf_errs[k] = NULL;
    k++;
  }
  assert(k == n);
  rocksdb_batched_multi_get_cf(s->db, s->read_opts, s->cf[LL_CF_STATE], n,
                               m->pf_list, m->pf_lens, m->pf_values, m->pf_errs,
                               false);
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    if (m->pf_errs[i] && rc == 0)
      rc = ll_store_fail(s, err, "read state", m->pf_errs[i]);
    else if (m->pf_errs[i])
      rocksdb_free(m->pf_errs[i]);
    if (!m->pf_values[i])
      continue;
    size_t vlen;
    const char *v = rocksdb_pinnableslice_value(m->pf_values[i], &vlen);
    assert(p->bytes.len + vlen < UINT32_MAX);
    m->pf_slots[i]->value_off = (uint32_t)p->bytes.len;
    m->pf_slots[i]->value_len = (uint32_t)vlen;
    ll_buf_put(&p->bytes, v, vlen);
    rocksdb_pinnableslice_destroy(m->pf_values[i]);
  }
  m->stats.prefetched += n;
  if (rc != 0)
    clear_prefetched(m);
  return rc;
}

/* ---- applies ---- */

bool ll_state_mem_wants_apply(const ll_store *s) {
  const ll_state_mem *m = s->mem;
  uint64_t records = m->last_journal - m->snap_through;
  if (m->last_journal <= m->snap_through || m->first_journal > m->last_journal)
    return false;
  return m->n_dirty >= m->limits.apply_min_entries ||
         records >= m->limits.apply_max_records;
}

bool ll_state_mem_must_wait(const ll_store *s) {
  const ll_state_mem *m = s->mem;
  return m->n_dirty >= m->limits.dirty_max_entries ||
         m->record_changes >=
             LL_STATE_RECORD_CHANGES_PER_DIRTY * m->limits.dirty_max_entries;
}

void ll_state_mem_set_limits(ll_store *s, const ll_state_limits *limits) {
  assert(limits->apply_min_entries > 0 && limits->apply_max_records > 0 &&
         limits->leaving_per_commit > 0);
  s->mem->limits = *limits;
}

void ll_state_mem_snapshot(ll_store *s, ll_apply_job *job) {
  ll_state_mem *m = s->mem;
  assert(m->batch_gen == 0);
  assert(m->last_journal >= m->first_journal);
  assert(m->snap_through == m->first_journal - 1); /* no job in flight */
  ll_buf spare = job->records;
  job->records = m->records;
  m->records = spare;
  ll_buf_reset(&m->records);
  job->n_changes = m->record_changes;
  uint32_t *once = job->once;
  size_t cap_once = job->cap_once;
  job->once = m->once;
  job->n_once = m->n_once;
  job->cap_once = m->cap_once;
  m->once = once;
  m->cap_once = cap_once;
  job->first_journal = m->first_journal;
  job->through_journal = m->last_journal;
  m->snap_through = m->last_journal;
  m->in_flight = m->n_dirty;
  m->n_dirty = 0;
  m->n_once = 0;
  m->record_changes = 0;
}

void ll_state_mem_applied(ll_store *s, ll_apply_job *job) {
  ll_state_mem *m = s->mem;
  assert(job->first_journal == m->first_journal);
  /* Every entry the job covered and nobody changed since is clean now. */
  m->first_journal = job->through_journal + 1;
  /* The event-id entries among them leave, a few per commit from now on:
   * the job's list changes hands. */
  ll_state_mem_drop_leaving(s, SIZE_MAX); /* the last job's, long done */
  uint32_t *spare = m->leaving;
  size_t cap = m->cap_leaving;
  m->leaving = job->once;
  m->cap_leaving = job->cap_once;
  m->n_leaving = job->n_once;
  m->leaving_at = 0;
  job->once = spare;
  job->cap_once = cap;
  job->n_once = 0;
  m->in_flight = 0;
  m->stats.applies++;
}

/* How many entries ahead the loop below asks for each of them, and then
 * for its slot and bytes. */
#define LEAVING_WARM_ENTRY 16
#define LEAVING_WARM_SLOT 8

void ll_state_mem_drop_leaving(ll_store *s, size_t max) {
  ll_state_mem *m = s->mem;
  size_t end =
      m->n_leaving - m->leaving_at <= max ? m->n_leaving : m->leaving_at + max;
  /* Still there, under the same index: nothing removes an entry that is
   * not clean, except an abort (entries its batch created) and this loop,
   * and the pass over clean entries runs this first. */
  for (size_t i = m->leaving_at; i < end; i++) {
    if (i + LEAVING_WARM_ENTRY < end)
      ll_table_warm_entry_at(&m->table, m->leaving[i + LEAVING_WARM_ENTRY]);
    if (i + LEAVING_WARM_SLOT < end)
      ll_table_warm_removal(&m->table, m->leaving[i + LEAVING_WARM_SLOT]);
    uint32_t idx = m->leaving[i];
    ll_table_entry *e = entry_at(m, idx);
    assert(e->bytes != NULL);
    if (is_clean(m, e)) /* else changed again since: still dirty */
      ll_table_remove(&m->table, idx);
  }
  m->leaving_at = end;
  if (m->leaving_at == m->n_leaving)
    m->n_leaving = m->leaving_at = 0;
}

void ll_store_get_state_stats(ll_store *s, ll_store_state_stats *out) {
  memset(out, 0, sizeof *out);
  if (!s->mem)
    return;
  *out = s->mem->stats;
  out->entries = s->mem->table.live;
  out->dirty = s->mem->n_dirty;
}
