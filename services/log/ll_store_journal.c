/* ll_store_journal.c — journal records, and reading the state the way
 * every reader but the primary's batches does (ll_store.h).
 *
 * A journal record holds the state changes of one batch, one per key,
 * with an index sorted by key hash so that a reader finds a key with a
 * binary search and without comparing keys on the way:
 *
 *   u8  version (1)
 *   u32 count, little-endian
 *   count index slots, in (hash, key) order: u64 hash, u32 offset of the
 *       change in the value (both little-endian); hash = ll_hash64()
 *       of the key, so that function is part of this format
 *   changes: uvar key length, key bytes, u8 present (0 or 1),
 *            when present: uvar value length, value bytes
 *
 * Hash order costs the writer no key comparisons (sorting a batch's keys
 * in key order was a tenth of its commit time). Decoders check every
 * length against the value's end and the index's order: a record that
 * does not parse is corrupt, and the reader says so instead of guessing.
 *
 * ll_store_state_reader() looks a key up in the journal records, newest
 * first, and only then in the state column family. That order is what
 * makes it safe against a concurrent apply (which ingests the records'
 * values into `state`, then deletes the records): a key found in a record
 * is the newest value at the time the iterator was made; a key not found
 * there was either never in a record or was applied before the iterator
 * was made, and `state`, read afterwards, has it. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ll_buf.h"
#include "ll_mem.h"
#include "ll_store_internal.h"
#include "ll_types.h"

#define JOURNAL_VERSION 1
#define HEADER_BYTES 5 /* version + count */
#define SLOT_BYTES 12  /* hash + offset */

static void put_le(uint8_t *p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

typedef struct slot {
  uint64_t hash;
  const ll_state_change *change;
} slot;

static int cmp_slots(const void *a, const void *b) {
  const slot *x = a, *y = b;
  if (x->hash != y->hash)
    return x->hash < y->hash ? -1 : 1;
  return ll_state_key_cmp(x->change->key, x->change->key_len, y->change->key,
                          y->change->key_len);
}

/* Sort by hash: a radix sort, six passes of 11 bits (a batch holds
 * thousands of keys; qsort's calls to a comparator cost more than the
 * whole of this), then equal hashes, if any, by key. */
static void sort_slots(slot *a, size_t n) {
  enum { DIGIT_BITS = 11, DIGITS = 1 << DIGIT_BITS };
  slot *tmp = ll_xmalloc(n * sizeof *tmp);
  size_t *count = ll_xmalloc(DIGITS * sizeof *count);
  for (int shift = 0; shift < 64; shift += DIGIT_BITS) {
    memset(count, 0, DIGITS * sizeof *count);
    for (size_t i = 0; i < n; i++)
      count[(a[i].hash >> shift) & (DIGITS - 1)]++;
    size_t sum = 0;
    for (size_t d = 0; d < DIGITS; d++) {
      size_t c = count[d];
      count[d] = sum;
      sum += c;
    }
    for (size_t i = 0; i < n; i++)
      tmp[count[(a[i].hash >> shift) & (DIGITS - 1)]++] = a[i];
    memcpy(a, tmp, n * sizeof *a);
  }
  free(count);
  free(tmp);
  for (size_t i = 1; i < n; i++) {
    for (size_t j = i;
         j > 0 && a[j - 1].hash == a[j].hash && cmp_slots(&a[j - 1], &a[j]) > 0;
         j--) {
      slot t = a[j - 1];
      a[j - 1] = a[j];
      a[j] = t;
    }
  }
}

/* Below this many keys qsort wins (the radix sort's counters cost more). */
#define RADIX_SORT_MIN 256

void ll_journal_encode(ll_buf *out, const ll_state_change *changes, size_t n) {
  assert(n > 0 && n < UINT32_MAX);
  slot *order = ll_xmalloc(n * sizeof *order);
  for (size_t i = 0; i < n; i++)
    order[i] =
        (slot){ll_hash64(changes[i].key, changes[i].key_len), &changes[i]};
  if (n < RADIX_SORT_MIN)
    qsort(order, n, sizeof *order, cmp_slots);
  else
    sort_slots(order, n);
  ll_buf_reset(out);
  size_t index = HEADER_BYTES;
  size_t body = index + SLOT_BYTES * n;
  ll_buf_reserve(out, body);
  out->data[0] = JOURNAL_VERSION;
  put_le(out->data + 1, n, 4);
  out->len = body;
  for (size_t i = 0; i < n; i++) {
    const ll_state_change *c = order[i].change;
    /* Distinct keys: the state layer writes each key once per batch. */
    assert(i == 0 || cmp_slots(&order[i - 1], &order[i]) < 0);
    /* Records stay far below 4 GiB: a batch is bounded in events and an
     * event's changes in bytes. */
    assert(out->len < UINT32_MAX);
    uint8_t *s = out->data + index + SLOT_BYTES * i;
    put_le(s, order[i].hash, 8);
    put_le(s + 8, out->len, 4);
    ll_buf_put_uvar(out, c->key_len);
    ll_buf_put(out, c->key, c->key_len);
    ll_buf_put_u8(out, c->present ? 1 : 0);
    if (c->present) {
      ll_buf_put_uvar(out, c->value_len);
      ll_buf_put(out, c->value, c->value_len);
    }
  }
  free(order);
}

/* The record's change count, or false when the header is not one. */
static bool read_header(const uint8_t *p, size_t n, uint32_t *count) {
  if (n < HEADER_BYTES || p[0] != JOURNAL_VERSION)
    return false;
  *count = (uint32_t)get_le(p + 1, 4);
  return (n - HEADER_BYTES) / SLOT_BYTES >= *count;
}

static uint64_t slot_hash(const uint8_t *p, uint32_t i) {
  return get_le(p + HEADER_BYTES + (size_t)SLOT_BYTES * i, 8);
}

/* Change i of a record whose header was checked. */
static bool read_change(const uint8_t *p, size_t n, uint32_t i,
                        ll_state_change *c) {
  uint64_t off = get_le(p + HEADER_BYTES + (size_t)SLOT_BYTES * i + 8, 4);
  if (off >= n)
    return false;
  ll_rd rd;
  uint64_t key_len, value_len = 0;
  uint8_t present;
  const uint8_t *key;
  ll_rd_init(&rd, p + off, n - off);
  if (!ll_rd_uvar(&rd, &key_len) || key_len == 0 || ll_rd_left(&rd) < key_len)
    return false;
  key = rd.p;
  rd.p += key_len;
  if (!ll_rd_u8(&rd, &present) || present > 1)
    return false;
  if (present && (!ll_rd_uvar(&rd, &value_len) || ll_rd_left(&rd) < value_len))
    return false;
  *c = (ll_state_change){.key = key,
                         .key_len = (size_t)key_len,
                         .value = present ? rd.p : NULL,
                         .value_len = (size_t)value_len,
                         .present = present == 1};
  return true;
}

bool ll_journal_count(const void *rec, size_t n, uint32_t *count) {
  return read_header(rec, n, count);
}

bool ll_journal_hashes(const void *rec, size_t n,
                       void (*fn)(void *ctx, uint64_t hash), void *ctx) {
  uint32_t count;
  if (!read_header(rec, n, &count))
    return false;
  for (uint32_t i = 0; i < count; i++)
    fn(ctx, slot_hash(rec, i));
  return true;
}

bool ll_journal_lookup(const void *rec, size_t n, const void *key,
                       size_t key_len, ll_state_change *change, bool *found) {
  const uint8_t *p = rec;
  uint32_t count;
  *found = false;
  if (!read_header(p, n, &count))
    return false;
  uint64_t h = ll_hash64(key, key_len);
  size_t lo = 0, hi = count; /* first slot with hash >= h */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (slot_hash(p, (uint32_t)mid) < h)
      lo = mid + 1;
    else
      hi = mid;
  }
  for (size_t i = lo; i < count && slot_hash(p, (uint32_t)i) == h; i++) {
    ll_state_change c;
    if (!read_change(p, n, (uint32_t)i, &c))
      return false;
    if (ll_state_key_cmp(c.key, c.key_len, key, key_len) == 0) {
      *change = c;
      *found = true;
      return true;
    }
  }
  return true;
}

/* Every change of a record to fn; check_index: also each slot's hash and
 * their order (what a record read from disk must pass). */
static bool each_change(const void *rec, size_t n, bool check_index,
                        void (*fn)(void *ctx, const ll_state_change *c),
                        void *ctx) {
  const uint8_t *p = rec;
  uint32_t count;
  if (!read_header(p, n, &count) || count == 0)
    return false;
  slot prev = {0}, cur;
  ll_state_change c, last;
  for (uint32_t i = 0; i < count; i++) {
    if (!read_change(p, n, i, &c))
      return false;
    cur = (slot){slot_hash(p, i), &c};
    /* A wrong hash, or slots out of order, and lookups would miss keys. */
    if (check_index && (cur.hash != ll_hash64(c.key, c.key_len) ||
                        (i > 0 && cmp_slots(&prev, &cur) >= 0)))
      return false;
    fn(ctx, &c);
    last = c;
    prev = (slot){cur.hash, &last};
  }
  return true;
}

bool ll_journal_each(const void *rec, size_t n,
                     void (*fn)(void *ctx, const ll_state_change *c),
                     void *ctx) {
  return each_change(rec, n, true, fn, ctx);
}

bool ll_journal_each_own(const void *rec, size_t n,
                         void (*fn)(void *ctx, const ll_state_change *c),
                         void *ctx) {
  return each_change(rec, n, false, fn, ctx);
}

void ll_journal_list_put(ll_buf *list, const void *rec, size_t n) {
  assert(n > 0 && n < UINT32_MAX);
  uint32_t len = (uint32_t)n;
  ll_buf_put(list, &len, sizeof len);
  ll_buf_put(list, rec, n);
}

bool ll_journal_list_next(const ll_buf *list, size_t *off, const uint8_t **rec,
                          size_t *n) {
  if (*off >= list->len)
    return false;
  uint32_t len;
  assert(list->len - *off >= sizeof len);
  memcpy(&len, list->data + *off, sizeof len);
  assert(list->len - *off - sizeof len >= len);
  *rec = list->data + *off + sizeof len;
  *n = len;
  *off += sizeof len + len;
  return true;
}

/* ---- readers ---- */

static int cf_state_get(void *ctx, const void *key, size_t key_len, ll_buf *out,
                        bool *found, ll_err *err) {
  ll_store *s = ctx;
  char *rerr = NULL;
  rocksdb_pinnableslice_t *v = rocksdb_get_pinned_cf(
      s->db, s->read_opts, s->cf[LL_CF_STATE], key, key_len, &rerr);
  if (rerr)
    return ll_store_fail(s, err, "read state", rerr);
  ll_buf_reset(out);
  *found = v != NULL;
  if (v) {
    size_t n;
    const char *p = rocksdb_pinnableslice_value(v, &n);
    ll_buf_put(out, p, n);
    rocksdb_pinnableslice_destroy(v);
  }
  return 0;
}

ll_state_reader ll_store_cf_state_reader(ll_store *s) {
  return (ll_state_reader){.ctx = s, .get = cf_state_get};
}

/* Look key up in the journal, newest record first, down to the oldest
 * record not applied yet: an applied one's changes are in `state`, and its
 * deletion (until a compaction drops it) would cost a step back each. */
static int journal_get(ll_store *s, const void *key, size_t key_len,
                       ll_buf *out, bool *found, bool *in_journal,
                       ll_err *err) {
  uint8_t lower[8];
  ll_be64_encode(lower, atomic_load(&s->journal_applied) + 1);
  rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
  rocksdb_readoptions_set_iterate_lower_bound(ro, (const char *)lower,
                                              sizeof lower);
  rocksdb_iterator_t *it =
      rocksdb_create_iterator_cf(s->db, ro, s->cf[LL_CF_JOURNAL]);
  int rc = 0;
  *in_journal = false;
  for (rocksdb_iter_seek_to_last(it); rocksdb_iter_valid(it);
       rocksdb_iter_prev(it)) {
    size_t n, key_n;
    const char *rec = rocksdb_iter_value(it, &n);
    const char *seq = rocksdb_iter_key(it, &key_n);
    ll_state_change c;
    if (!ll_journal_lookup(rec, n, key, key_len, &c, in_journal)) {
      rc = ll_fail(err, LL_ERR_CORRUPT,
                   "log store %s: journal record %llu is corrupt", s->dir,
                   key_n == 8 ? (unsigned long long)ll_be64_decode(seq) : 0);
      break;
    }
    if (*in_journal) {
      ll_buf_reset(out);
      *found = c.present;
      if (c.present)
        ll_buf_put(out, c.value, c.value_len);
      break;
    }
  }
  if (rc == 0) {
    char *rerr = NULL;
    rocksdb_iter_get_error(it, &rerr);
    if (rerr)
      rc = ll_store_fail(s, err, "read journal", rerr);
  }
  rocksdb_iter_destroy(it);
  rocksdb_readoptions_destroy(ro);
  return rc;
}

/* The primary's way: read only the records its index names
 * (ll_store_jindex.c), newest first. *answered is false when the index
 * cannot say (journal_get then scans). A named record found deleted was
 * applied since the index was asked, and so was every older one: `state`
 * has their changes. */
static int journal_get_indexed(ll_store *s, const void *key, size_t key_len,
                               ll_buf *out, bool *found, bool *in_journal,
                               bool *answered, ll_err *err) {
  uint64_t seqs[LL_JINDEX_CANDIDATES_MAX];
  size_t n = ll_jindex_candidates(&s->jindex, ll_hash64(key, key_len),
                                  atomic_load(&s->journal_applied), seqs,
                                  LL_JINDEX_CANDIDATES_MAX, answered);
  *in_journal = false;
  if (!*answered)
    return 0;
  for (size_t i = 0; i < n && !*in_journal; i++) {
    uint8_t seq_key[8];
    ll_be64_encode(seq_key, seqs[i]);
    char *rerr = NULL;
    rocksdb_pinnableslice_t *v =
        rocksdb_get_pinned_cf(s->db, s->read_opts, s->cf[LL_CF_JOURNAL],
                              (const char *)seq_key, sizeof seq_key, &rerr);
    if (rerr)
      return ll_store_fail(s, err, "read journal", rerr);
    if (v == NULL)
      break;
    size_t len;
    const char *rec = rocksdb_pinnableslice_value(v, &len);
    ll_state_change c;
    bool ok = ll_journal_lookup(rec, len, key, key_len, &c, in_journal);
    if (ok && *in_journal) {
      ll_buf_reset(out);
      *found = c.present;
      if (c.present)
        ll_buf_put(out, c.value, c.value_len);
    }
    rocksdb_pinnableslice_destroy(v);
    if (!ok)
      return ll_fail(err, LL_ERR_CORRUPT,
                     "log store %s: journal record %llu is corrupt", s->dir,
                     (unsigned long long)seqs[i]);
  }
  return 0;
}

static int state_get(void *ctx, const void *key, size_t key_len, ll_buf *out,
                     bool *found, ll_err *err) {
  ll_store *s = ctx;
  bool in_journal = false, answered = false;
  if (s->mem != NULL && journal_get_indexed(s, key, key_len, out, found,
                                            &in_journal, &answered, err) != 0)
    return -1;
  if (!answered &&
      journal_get(s, key, key_len, out, found, &in_journal, err) != 0)
    return -1;
  if (in_journal)
    return 0;
  return cf_state_get(s, key, key_len, out, found, err);
}

ll_state_reader ll_store_state_reader(ll_store *s) {
  return (ll_state_reader){.ctx = s, .get = state_get};
}
