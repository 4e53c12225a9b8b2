/* ll_store_verify.c — checking the tasks' hash chains (ll_store_verify).
 *
 * One pass over the log column family in key order, from position 1:
 * every key must be the next position, every value must carry the hash its
 * task's chain gives it (ll_store.h), at the next position of its task,
 * and decode as an entry, and the task index must lead to it; at the end,
 * meta's last position must name the last entry, each task's record its
 * last entry, and the task index hold no other key. The first
 * difference stops the pass and is reported with its position: a chain is
 * only as good as its first broken link, and everything after it hashes on
 * a value nobody can vouch for.
 *
 * The store is opened as a secondary without the open-time consistency
 * checks (those would refuse to open exactly the stores this is meant to
 * diagnose), so it runs next to a live command consumer. A secondary sees
 * the primary as of its open and changes only on catch-up, which this pass
 * never calls: the log and meta it reads are one consistent cut. Memory is
 * one entry at a time, plus one record per task. */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ll_mem.h"
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

/* The tasks met so far: their last entry as the walk found it. */
typedef struct walk_tasks {
  ll_store *s; /* for the task index */
  ll_task_last *items;
  size_t n, cap;
} walk_tasks;

static ll_task_last *walk_task(walk_tasks *w, int32_t partition) {
  for (size_t i = 0; i < w->n; i++)
    if (w->items[i].partition == partition)
      return &w->items[i];
  if (w->n == w->cap) {
    w->cap = w->cap ? 2 * w->cap : 16;
    w->items = ll_xrealloc(w->items, w->cap * sizeof *w->items);
  }
  w->items[w->n] = (ll_task_last){.partition = partition};
  return &w->items[w->n++];
}

/* The task index must lead from (partition, task position) to the entry's
 * log position: reads by task position (a token, the publisher) use it. */
static bool check_index(walk_tasks *w, uint64_t position, int32_t partition,
                        uint64_t task_position, ll_verify_report *r) {
  uint64_t local = 0;
  bool found = false;
  ll_err err = {0};
  if (ll_store_task_local(w->s, partition, task_position, &local, &found,
                          &err) != 0) {
    report_bad(r, position, "the task index cannot be read: %s", err.message);
    return false;
  }
  if (!found || local != position) {
    report_bad(r, position,
               "the task index leads from task %d position %llu to %s, not "
               "to this entry",
               (int)partition, (unsigned long long)task_position,
               found ? "another log position" : "nothing");
    return false;
  }
  return true;
}

/* Every key of the task index must be an entry's: as many keys as
 * entries, each entry's checked on the walk. */
static void check_index_size(ll_store *s, ll_verify_report *r) {
  rocksdb_iterator_t *it =
      rocksdb_create_iterator_cf(s->db, s->read_opts, s->cf[LL_CF_DEFAULT]);
  size_t prefix_len = strlen(LL_TASK_INDEX_PREFIX);
  uint64_t keys = 0;
  for (rocksdb_iter_seek(it, LL_TASK_INDEX_PREFIX, prefix_len);
       rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
    size_t n;
    const char *k = rocksdb_iter_key(it, &n);
    if (n < prefix_len || memcmp(k, LL_TASK_INDEX_PREFIX, prefix_len) != 0)
      break;
    keys++;
  }
  rocksdb_iter_destroy(it);
  if (keys != r->entries)
    report_bad(r, r->entries,
               "the task index holds %llu keys for %llu entries: it names "
               "entries the log does not hold",
               (unsigned long long)keys, (unsigned long long)r->entries);
}

/* The hash and decoding of the value at position; the task it belongs to
 * moves on. False (r says why) at the first thing wrong. */
static bool check_entry(uint64_t position, const char *value, size_t value_len,
                        walk_tasks *w, ll_verify_report *r) {
  const uint8_t *stored = ll_store_log_value_hash(value, value_len);
  if (!stored) {
    report_bad(r, position,
               "the entry holds no chain hash (%zu bytes, version byte %d)",
               value_len, value_len > 0 ? (unsigned char)value[0] : -1);
    return false;
  }
  ll_entry e;
  memset(&e, 0, sizeof e);
  bool decodes = ll_store_decode_log_value(value, value_len, &e);
  int32_t partition = e.partition;
  uint64_t task_position = e.task_position;
  ll_entry_free(&e);
  if (!decodes) {
    report_bad(r, position, "the entry does not decode");
    return false;
  }
  e.partition = partition;
  e.task_position = task_position;
  ll_task_last *t = walk_task(w, e.partition);
  if (e.task_position != t->position + 1) {
    report_bad(r, position,
               "task %d: the entry is at task position %llu, the task's "
               "next is %llu",
               (int)e.partition, (unsigned long long)e.task_position,
               (unsigned long long)(t->position + 1));
    return false;
  }
  uint8_t want[LL_ENTRY_HASH_BYTES];
  ll_store_chain_hash(value, value_len, e.task_position, t->hash, want);
  if (memcmp(want, stored, sizeof want) != 0) {
    char want_hex[2 * LL_ENTRY_HASH_BYTES + 1];
    char got_hex[2 * LL_ENTRY_HASH_BYTES + 1];
    ll_entry_hash_hex(want, want_hex);
    ll_entry_hash_hex(stored, got_hex);
    report_bad(r, position,
               "hash mismatch: the entry stores %s, the chain of task %d "
               "gives %s (the entry or one before it was altered)",
               got_hex, (int)e.partition, want_hex);
    return false;
  }
  if (!check_index(w, position, e.partition, e.task_position, r))
    return false;
  t->position = e.task_position;
  t->local = position;
  memcpy(t->hash, want, sizeof want);
  memcpy(r->last_hash, want, sizeof want);
  return true;
}

/* Walk the log; stops at the first bad entry. */
static void check_entries(rocksdb_iterator_t *it, ll_verify_progress progress,
                          void *ctx, walk_tasks *w, ll_verify_report *r) {
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
    if (!check_entry(position, value, value_len, w, r))
      return;
    r->entries = position;
    if (progress && position % LL_VERIFY_PROGRESS_EVERY == 0)
      progress(ctx, position, total > position ? total : position);
  }
}

/* Each task's meta record must name the last entry the walk found for it,
 * and every task the walk found must have one. */
static void check_task_records(ll_store *s, const walk_tasks *w,
                               ll_verify_report *r) {
  for (size_t i = 0; r->ok && i < w->n; i++) {
    const ll_task_last *found = &w->items[i];
    ll_task_last meta;
    ll_store_task_last(s, found->partition, &meta);
    if (meta.position != found->position || meta.local != found->local ||
        memcmp(meta.hash, found->hash, sizeof meta.hash) != 0)
      report_bad(r, found->local,
                 "meta says task %d ends at its position %llu (log position "
                 "%llu), the log at %llu (log position %llu)",
                 (int)found->partition, (unsigned long long)meta.position,
                 (unsigned long long)meta.local,
                 (unsigned long long)found->position,
                 (unsigned long long)found->local);
  }
  for (size_t i = 0; r->ok && i < s->n_tasks; i++) {
    const ll_task_last *meta = &s->tasks[i];
    bool seen = false;
    for (size_t j = 0; j < w->n; j++)
      seen = seen || w->items[j].partition == meta->partition;
    if (!seen && meta->position > 0)
      report_bad(r, meta->local,
                 "meta says task %d ends at log position %llu, but the log "
                 "holds no entry of it",
                 (int)meta->partition, (unsigned long long)meta->local);
  }
  r->tasks = w->n;
}

int ll_store_verify(const char *dir, ll_verify_progress progress, void *ctx,
                    ll_verify_report *r, ll_err *err) {
  assert(dir && r);
  memset(r, 0, sizeof *r);
  ll_store *s = ll_store_open_unchecked(dir, LL_STORE_SECONDARY, err);
  if (!s)
    return -1;

  uint8_t last_be[8];
  bool has_last = false;
  if (read_meta(s, LL_META_LAST_POSITION, last_be, sizeof last_be, &has_last,
                err) != 0) {
    ll_store_close(s);
    return -1;
  }
  r->meta_last_position = has_last ? ll_be64_decode(last_be) : 0;
  r->ok = true;

  rocksdb_iterator_t *it =
      rocksdb_create_iterator_cf(s->db, s->read_opts, s->cf[LL_CF_LOG]);
  walk_tasks w = {.s = s};
  check_entries(it, progress, ctx, &w, r);
  char *rerr = NULL;
  rocksdb_iter_get_error(it, &rerr);
  rocksdb_iter_destroy(it);
  if (rerr) {
    int rc = ll_store_fail(s, err, "read log", rerr);
    free(w.items);
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
  check_task_records(s, &w, r);
  if (r->ok)
    check_index_size(s, r);
  free(w.items);
  ll_store_close(s);
  return 0;
}
