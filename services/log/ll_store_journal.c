/* ll_store_journal.c — journal records, and reading the state the way
 * every reader but the primary's batches does (ll_store.h).
 *
 * A journal record holds the state changes of one batch, one per key,
 * sorted in RocksDB's bytewise key order so a reader can binary-search it:
 *
 *   u8  version (1)
 *   u32 count, little-endian
 *   u32 offset[count], little-endian: where each change starts in the value
 *   changes: uvar key length, key bytes, u8 present (0 or 1),
 *            when present: uvar value length, value bytes
 *
 * Decoders check every length against the value's end: a record that does
 * not parse is corrupt, and the reader says so instead of guessing.
 *
 * ll_store_state_reader() looks a key up in the journal records, newest
 * first, and only then in the state column family. That order is what
 * makes it safe against a concurrent apply (which ingests the records'
 * values into `state`, then deletes the records): a key found in a record
 * is the newest value at the time the iterator was made; a key not found
 * there was either never in a record or was applied before the iterator
 * was made, and `state`, read afterwards, has it. */
#include <assert.h>
#include <string.h>

#include "ll_event.h"
#include "ll_store_internal.h"

#define JOURNAL_VERSION 1
#define HEADER_BYTES 5 /* version + count */

static void put_u32le(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32le(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

void ll_journal_encode(ll_buf *out, const ll_state_change *changes, size_t n) {
  assert(n > 0 && n < UINT32_MAX);
  ll_buf_reset(out);
  size_t table = HEADER_BYTES;
  size_t body = table + 4 * n;
  ll_buf_reserve(out, body);
  out->data[0] = JOURNAL_VERSION;
  put_u32le(out->data + 1, (uint32_t)n);
  out->len = body;
  for (size_t i = 0; i < n; i++) {
    const ll_state_change *c = &changes[i];
    assert(i == 0 ||
           ll_state_key_cmp(changes[i - 1].key, changes[i - 1].key_len, c->key,
                            c->key_len) < 0);
    /* Records stay far below 4 GiB: a batch is bounded in events and an
     * event's changes in bytes. */
    assert(out->len < UINT32_MAX);
    put_u32le(out->data + table + 4 * i, (uint32_t)out->len);
    ll_buf_put_uvar(out, c->key_len);
    ll_buf_put(out, c->key, c->key_len);
    ll_buf_put_u8(out, c->present ? 1 : 0);
    if (c->present) {
      ll_buf_put_uvar(out, c->value_len);
      ll_buf_put(out, c->value, c->value_len);
    }
  }
}

/* The record's change count, or false when the header is not one. */
static bool read_header(const uint8_t *p, size_t n, uint32_t *count) {
  if (n < HEADER_BYTES || p[0] != JOURNAL_VERSION)
    return false;
  *count = get_u32le(p + 1);
  return (n - HEADER_BYTES) / 4 >= *count;
}

/* Change i of a record whose header was checked. */
static bool read_change(const uint8_t *p, size_t n, uint32_t i,
                        ll_state_change *c) {
  uint32_t off = get_u32le(p + HEADER_BYTES + 4 * (size_t)i);
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

bool ll_journal_lookup(const void *rec, size_t n, const void *key,
                       size_t key_len, ll_state_change *change, bool *found) {
  const uint8_t *p = rec;
  uint32_t count;
  *found = false;
  if (!read_header(p, n, &count))
    return false;
  size_t lo = 0, hi = count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    ll_state_change c;
    if (!read_change(p, n, (uint32_t)mid, &c))
      return false;
    int cmp = ll_state_key_cmp(c.key, c.key_len, key, key_len);
    if (cmp == 0) {
      *change = c;
      *found = true;
      return true;
    }
    if (cmp < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return true;
}

bool ll_journal_each(const void *rec, size_t n,
                     void (*fn)(void *ctx, const ll_state_change *c),
                     void *ctx) {
  const uint8_t *p = rec;
  uint32_t count;
  if (!read_header(p, n, &count) || count == 0)
    return false;
  const ll_state_change *prev = NULL;
  ll_state_change c, last;
  for (uint32_t i = 0; i < count; i++) {
    if (!read_change(p, n, i, &c))
      return false;
    /* Out of order, a binary search would miss keys: corrupt. */
    if (prev &&
        ll_state_key_cmp(prev->key, prev->key_len, c.key, c.key_len) >= 0)
      return false;
    fn(ctx, &c);
    last = c;
    prev = &last;
  }
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

/* Look key up in the journal, newest record first. */
static int journal_get(ll_store *s, const void *key, size_t key_len,
                       ll_buf *out, bool *found, bool *in_journal,
                       ll_err *err) {
  rocksdb_iterator_t *it =
      rocksdb_create_iterator_cf(s->db, s->read_opts, s->cf[LL_CF_JOURNAL]);
  int rc = 0;
  *in_journal = false;
  for (rocksdb_iter_seek_to_last(it); rocksdb_iter_valid(it);
       rocksdb_iter_prev(it)) {
    size_t n, key_n;
    const char *rec = rocksdb_iter_value(it, &n);
    const char *seq = rocksdb_iter_key(it, &key_n);
    ll_state_change c;
    if (!ll_journal_lookup(rec, n, key, key_len, &c, in_journal)) {
      rc = ll_err_set(err, LL_OK,
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
  return rc;
}

static int state_get(void *ctx, const void *key, size_t key_len, ll_buf *out,
                     bool *found, ll_err *err) {
  ll_store *s = ctx;
  bool in_journal;
  if (journal_get(s, key, key_len, out, found, &in_journal, err) != 0)
    return -1;
  if (in_journal)
    return 0;
  return cf_state_get(s, key, key_len, out, found, err);
}

ll_state_reader ll_store_state_reader(ll_store *s) {
  return (ll_state_reader){.ctx = s, .get = state_get};
}
