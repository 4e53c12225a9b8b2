/* ll_store_verify.c — checking the log's hash chain (ll_store_verify).
 *
 * One pass over the log column family in key order, from position 1:
 * every key must be the next position, every value must carry the hash the
 * chain gives it (ll_store.h) and decode as an entry; at the end, meta's
 * last position and last hash must name the last entry. The first
 * difference stops the pass and is reported with its position: a chain is
 * only as good as its first broken link, and everything after it hashes on
 * a value nobody can vouch for.
 *
 * The store is opened as a secondary without the open-time consistency
 * checks (those would refuse to open exactly the stores this is meant to
 * diagnose), so it runs next to a live command consumer. A secondary sees
 * the primary as of its open and changes only on catch-up, which this pass
 * never calls: the log and meta it reads are one consistent cut. Memory is
 * one entry at a time. */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ll_store_internal.h"
#include "ll_types.h"

static void report_bad(ll_verify_report *r, uint64_t position, const char *fmt,
                       ...) __attribute__((format(printf, 3, 4)));

static void report_bad(ll_verify_report *r, uint64_t position, const char *fmt,
                       ...) {
  va_list ap;
  r->ok = false;
  r->bad_position = position;
  va_start(ap, fmt);
  vsnprintf(r->why, sizeof r->why, fmt, ap);
  va_end(ap);
}

static int read_meta(ll_store *s, const char *key, void *out, size_t want,
                     bool *found, ll_err *err) {
  char *rerr = NULL;
  size_t n = 0;
  char *v = rocksdb_get_cf(s->db, s->read_opts, s->cf[LL_CF_DEFAULT], key,
                           strlen(key), &n, &rerr);
  if (rerr)
    return ll_store_fail(s, err, "read meta", rerr);
  *found = v != NULL;
  int rc = 0;
  if (v && n != want)
    rc =
        ll_fail(err, LL_ERR_CORRUPT,
                "log store %s: meta %s is corrupt (%zu bytes)", s->dir, key, n);
  else if (v)
    memcpy(out, v, n);
  rocksdb_free(v);
  return rc;
}

/* Walk the chain; stops at the first bad entry. */
static void check_entries(ll_store *s, rocksdb_iterator_t *it,
                          ll_verify_progress progress, void *ctx,
                          ll_verify_report *r) {
  uint64_t total = r->meta_last_position;
  for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it);
       rocksdb_iter_next(it)) {
    uint64_t expected = r->entries + 1;
    size_t key_len, value_len;
    const char *key = rocksdb_iter_key(it, &key_len);
    const char *value = rocksdb_iter_value(it, &value_len);
    if (key_len != 8) {
      report_bad(r, expected,
                 "a %zu-byte key stands where position %llu should be", key_len,
                 (unsigned long long)expected);
      return;
    }
    uint64_t position = ll_be64_decode(key);
    if (position != expected) {
      report_bad(r, expected,
                 "position %llu is missing: the next entry is at "
                 "position %llu",
                 (unsigned long long)expected, (unsigned long long)position);
      return;
    }
    const uint8_t *stored = ll_store_log_value_hash(value, value_len);
    if (!stored) {
      report_bad(r, position,
                 "the entry holds no chain hash (%zu bytes, version byte %d)",
                 value_len, value_len > 0 ? (unsigned char)value[0] : -1);
      return;
    }
    uint8_t want[LL_ENTRY_HASH_BYTES];
    ll_store_chain_hash(value, value_len, position, r->last_hash, want);
    if (memcmp(want, stored, sizeof want) != 0) {
      char want_hex[2 * LL_ENTRY_HASH_BYTES + 1];
      char got_hex[2 * LL_ENTRY_HASH_BYTES + 1];
      ll_entry_hash_hex(want, want_hex);
      ll_entry_hash_hex(stored, got_hex);
      report_bad(r, position,
                 "hash mismatch: the entry stores %s, the chain gives %s "
                 "(the entry or one before it was altered)",
                 got_hex, want_hex);
      return;
    }
    ll_entry e;
    memset(&e, 0, sizeof e);
    bool decodes = ll_store_decode_log_value(value, value_len, &e);
    ll_entry_free(&e);
    if (!decodes) {
      report_bad(r, position,
                 "the entry does not decode (its hash matches: it was "
                 "written that way)");
      return;
    }
    memcpy(r->last_hash, want, sizeof want);
    r->entries = position;
    if (progress && position % LL_VERIFY_PROGRESS_EVERY == 0)
      progress(ctx, position, total > position ? total : position);
  }
  (void)s;
}

int ll_store_verify(const char *dir, ll_verify_progress progress, void *ctx,
                    ll_verify_report *r, ll_err *err) {
  assert(dir && r);
  memset(r, 0, sizeof *r);
  ll_store *s = ll_store_open_unchecked(dir, LL_STORE_SECONDARY, err);
  if (!s)
    return -1;

  uint8_t last_be[8];
  uint8_t meta_hash[LL_ENTRY_HASH_BYTES];
  bool has_last = false, has_hash = false;
  if (read_meta(s, LL_META_LAST_POSITION, last_be, sizeof last_be, &has_last,
                err) != 0 ||
      read_meta(s, LL_META_LAST_HASH, meta_hash, sizeof meta_hash, &has_hash,
                err) != 0) {
    ll_store_close(s);
    return -1;
  }
  r->meta_last_position = has_last ? ll_be64_decode(last_be) : 0;
  r->ok = true;

  rocksdb_iterator_t *it =
      rocksdb_create_iterator_cf(s->db, s->read_opts, s->cf[LL_CF_LOG]);
  check_entries(s, it, progress, ctx, r);
  char *rerr = NULL;
  rocksdb_iter_get_error(it, &rerr);
  rocksdb_iter_destroy(it);
  if (rerr) {
    int rc = ll_store_fail(s, err, "read log", rerr);
    ll_store_close(s);
    return rc;
  }
  if (progress)
    progress(ctx, r->entries,
             r->meta_last_position > r->entries ? r->meta_last_position
                                                : r->entries);

  /* The entries are sound as far as they go; now the meta records. */
  if (r->ok && r->meta_last_position != r->entries) {
    if (r->meta_last_position > r->entries)
      report_bad(r, r->entries + 1,
                 "position %llu is missing: meta says the log ends at %llu "
                 "but it ends at %llu",
                 (unsigned long long)(r->entries + 1),
                 (unsigned long long)r->meta_last_position,
                 (unsigned long long)r->entries);
    else
      report_bad(r, r->meta_last_position + 1,
                 "the entry at position %llu is beyond meta's last "
                 "position %llu",
                 (unsigned long long)(r->meta_last_position + 1),
                 (unsigned long long)r->meta_last_position);
  }
  if (r->ok && r->entries > 0 &&
      (!has_hash || memcmp(meta_hash, r->last_hash, sizeof meta_hash) != 0))
    report_bad(r, r->entries,
               "meta's last hash is %s the chain's hash at the last "
               "position %llu",
               has_hash ? "not" : "missing, not",
               (unsigned long long)r->entries);
  if (r->ok && r->entries == 0 && has_hash)
    report_bad(r, 1, "the log is empty but meta holds a last hash");
  ll_store_close(s);
  return 0;
}
