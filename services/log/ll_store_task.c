/* ll_store_task.c — each task's last entry and clock (ll_store.h, "Tasks").
 *
 * Meta key "task/" + the partition as 4 bytes big-endian (task -1, entries
 * not from Kafka, is 0xFFFFFFFF), value:
 *   u8 version (1), uvar task position, uvar local position,
 *   32 bytes chain hash, svar clock_ms
 * written by the batch that changes it, in the same WriteBatch as its
 * entries and rejections. The store keeps them in memory, sorted by
 * partition: a few per input partition, so lookups are a binary search
 * and a batch's copies a short list.
 *
 * The task index, key "tix/" + the partition as 4 bytes big-endian + the
 * task position as 8 bytes big-endian, value the local position as 8
 * bytes big-endian, one per entry, written by the batch that appends it:
 * where a task's entry at a given task position sits in this log (the
 * publisher resumes each task there). Within a task the keys are
 * appended in increasing order, so the index costs RocksDB sequential
 * inserts only. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ll_mem.h"
#include "ll_store_internal.h"

#define TASK_VERSION 1

void ll_store_task_key(ll_buf *key, int32_t partition) {
  ll_buf_reset(key);
  ll_buf_put(key, LL_META_TASK_PREFIX, strlen(LL_META_TASK_PREFIX));
  uint32_t p = (uint32_t)partition;
  uint8_t be[4] = {(uint8_t)(p >> 24), (uint8_t)(p >> 16), (uint8_t)(p >> 8),
                   (uint8_t)p};
  ll_buf_put(key, be, sizeof be);
}

void ll_store_encode_task(ll_buf *out, const ll_task_last *t) {
  ll_buf_reset(out);
  ll_buf_put_u8(out, TASK_VERSION);
  ll_buf_put_uvar(out, t->position);
  ll_buf_put_uvar(out, t->local);
  ll_buf_put(out, t->hash, LL_ENTRY_HASH_BYTES);
  ll_buf_put_svar(out, t->clock_ms);
}

bool ll_store_decode_task(const void *p, size_t n, ll_task_last *t) {
  ll_rd rd;
  uint8_t version;
  ll_rd_init(&rd, p, n);
  if (!ll_rd_u8(&rd, &version) || version != TASK_VERSION ||
      !ll_rd_uvar(&rd, &t->position) || !ll_rd_uvar(&rd, &t->local) ||
      ll_rd_left(&rd) < LL_ENTRY_HASH_BYTES)
    return false;
  memcpy(t->hash, rd.p, LL_ENTRY_HASH_BYTES);
  ll_rd_init(&rd, rd.p + LL_ENTRY_HASH_BYTES,
             ll_rd_left(&rd) - LL_ENTRY_HASH_BYTES);
  return ll_rd_svar(&rd, &t->clock_ms) && ll_rd_left(&rd) == 0 &&
         (t->position == 0) == (t->local == 0);
}

/* Index of partition in the sorted table, or where it would go. */
static size_t task_slot(const ll_store *s, int32_t partition, bool *found) {
  size_t lo = 0, hi = s->n_tasks;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (s->tasks[mid].partition < partition)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = lo < s->n_tasks && s->tasks[lo].partition == partition;
  return lo;
}

/* Insert or replace (caller holds tasks_mu or is single-threaded). */
static void task_put(ll_store *s, const ll_task_last *t) {
  bool found;
  size_t i = task_slot(s, t->partition, &found);
  if (!found) {
    if (s->n_tasks == s->cap_tasks) {
      s->cap_tasks = s->cap_tasks ? 2 * s->cap_tasks : 16;
      s->tasks = ll_xrealloc(s->tasks, s->cap_tasks * sizeof *s->tasks);
    }
    memmove(&s->tasks[i + 1], &s->tasks[i],
            (s->n_tasks - i) * sizeof *s->tasks);
    s->n_tasks++;
  }
  s->tasks[i] = *t;
}

static int32_t partition_of_key(const char *key, size_t n) {
  const uint8_t *p = (const uint8_t *)key + strlen(LL_META_TASK_PREFIX);
  (void)n;
  return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                   (uint32_t)p[2] << 8 | (uint32_t)p[3]);
}

/* One meta record into the table. */
static int load_one(ll_store *s, const char *key, size_t key_len,
                    const char *value, size_t value_len, ll_err *err) {
  if (key_len != strlen(LL_META_TASK_PREFIX) + 4)
    return ll_fail(err, LL_ERR_CORRUPT,
                   "log store %s: a task record's key has %zu bytes", s->dir,
                   key_len);
  ll_task_last t = {.partition = partition_of_key(key, key_len)};
  if (!ll_store_decode_task(value, value_len, &t))
    return ll_fail(err, LL_ERR_CORRUPT,
                   "log store %s: the record of task %d is corrupt", s->dir,
                   (int)t.partition);
  task_put(s, &t);
  return 0;
}

int ll_store_tasks_load(ll_store *s, ll_err *err) {
  const size_t plen = strlen(LL_META_TASK_PREFIX);
  rocksdb_iterator_t *it =
      rocksdb_create_iterator_cf(s->db, s->read_opts, s->cf[LL_CF_DEFAULT]);
  int rc = 0;
  pthread_mutex_lock(&s->tasks_mu);
  s->n_tasks = 0;
  for (rocksdb_iter_seek(it, LL_META_TASK_PREFIX, plen);
       rc == 0 && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
    size_t kn, vn;
    const char *k = rocksdb_iter_key(it, &kn);
    if (kn < plen || memcmp(k, LL_META_TASK_PREFIX, plen) != 0)
      break;
    const char *v = rocksdb_iter_value(it, &vn);
    rc = load_one(s, k, kn, v, vn, err);
  }
  pthread_mutex_unlock(&s->tasks_mu);
  char *rerr = NULL;
  rocksdb_iter_get_error(it, &rerr);
  rocksdb_iter_destroy(it);
  if (rerr)
    return ll_store_fail(s, err, "read task records", rerr);
  return rc;
}

/* The entry at local must be the task's last: same task, position, hash. */
static int check_task(ll_store *s, const ll_task_last *t, ll_err *err) {
  ll_entry e;
  size_t n = 0;
  if (ll_store_read_log(s, t->local, &e, 1, &n, err) != 0)
    return -1;
  bool same = n == 1 && e.position == t->local && e.partition == t->partition &&
              e.task_position == t->position &&
              memcmp(e.hash, t->hash, LL_ENTRY_HASH_BYTES) == 0;
  if (n == 1)
    ll_entry_free(&e);
  if (!same)
    return ll_fail(err, LL_ERR_CORRUPT,
                   "log store %s is inconsistent: meta says task %d ends at "
                   "its position %llu, log position %llu, but that entry "
                   "is not it (run 'lotline verify')",
                   s->dir, (int)t->partition, (unsigned long long)t->position,
                   (unsigned long long)t->local);
  return 0;
}

int ll_store_tasks_check(ll_store *s, ll_err *err) {
  uint64_t last = atomic_load(&s->last_position);
  for (size_t i = 0; i < s->n_tasks; i++) {
    const ll_task_last *t = &s->tasks[i];
    if (t->position == 0)
      continue;
    if (t->local > last)
      return ll_fail(err, LL_ERR_CORRUPT,
                     "log store %s is inconsistent: meta says task %d ends "
                     "at log position %llu, beyond the log's last, %llu",
                     s->dir, (int)t->partition, (unsigned long long)t->local,
                     (unsigned long long)last);
    if (check_task(s, t, err) != 0)
      return -1;
  }
  return 0;
}

void ll_store_tasks_free(ll_store *s) {
  free(s->tasks);
  s->tasks = NULL;
  s->n_tasks = s->cap_tasks = 0;
}

void ll_store_task_last(ll_store *s, int32_t partition, ll_task_last *out) {
  memset(out, 0, sizeof *out);
  out->partition = partition;
  pthread_mutex_lock(&s->tasks_mu);
  bool found;
  size_t i = task_slot(s, partition, &found);
  if (found)
    *out = s->tasks[i];
  pthread_mutex_unlock(&s->tasks_mu);
}

ll_task_last *ll_task_pending_get(ll_task_pending *p, ll_store *s,
                                  int32_t partition) {
  for (size_t i = 0; i < p->n; i++)
    if (p->items[i].partition == partition)
      return &p->items[i];
  if (p->n == p->cap) {
    p->cap = p->cap ? 2 * p->cap : 8;
    p->items = ll_xrealloc(p->items, p->cap * sizeof *p->items);
  }
  ll_task_last *t = &p->items[p->n++];
  ll_store_task_last(s, partition, t);
  return t;
}

void ll_task_pending_write(const ll_task_pending *p, ll_store *s,
                           rocksdb_writebatch_t *wb, ll_buf *key,
                           ll_buf *value) {
  for (size_t i = 0; i < p->n; i++) {
    ll_store_task_key(key, p->items[i].partition);
    ll_store_encode_task(value, &p->items[i]);
    rocksdb_writebatch_put_cf(wb, s->cf[LL_CF_DEFAULT], (const char *)key->data,
                              key->len, (const char *)value->data, value->len);
  }
}

void ll_task_pending_adopt(const ll_task_pending *p, ll_store *s) {
  pthread_mutex_lock(&s->tasks_mu);
  for (size_t i = 0; i < p->n; i++)
    task_put(s, &p->items[i]);
  pthread_mutex_unlock(&s->tasks_mu);
}

void ll_task_pending_free(ll_task_pending *p) {
  free(p->items);
  memset(p, 0, sizeof *p);
}

void ll_store_task_index_key(ll_buf *key, int32_t partition,
                             uint64_t task_position) {
  ll_buf_reset(key);
  ll_buf_put(key, LL_TASK_INDEX_PREFIX, strlen(LL_TASK_INDEX_PREFIX));
  uint32_t p = (uint32_t)partition;
  uint8_t be[4] = {(uint8_t)(p >> 24), (uint8_t)(p >> 16), (uint8_t)(p >> 8),
                   (uint8_t)p};
  ll_buf_put(key, be, sizeof be);
  ll_buf_put_be64(key, task_position);
}

int ll_store_task_local(ll_store *s, int32_t partition, uint64_t task_position,
                        uint64_t *local, bool *found, ll_err *err) {
  ll_buf key;
  ll_buf_init(&key);
  ll_store_task_index_key(&key, partition, task_position);
  assert(key.len == LL_TASK_INDEX_KEY_BYTES);
  char *rerr = NULL;
  size_t n = 0;
  char *v = rocksdb_get_cf(s->db, s->read_opts, s->cf[LL_CF_DEFAULT],
                           (const char *)key.data, key.len, &n, &rerr);
  ll_buf_free(&key);
  *found = false;
  if (rerr)
    return ll_store_fail(s, err, "read the task index", rerr);
  if (v != NULL && n != 8) {
    rocksdb_free(v);
    return ll_fail(err, LL_ERR_CORRUPT,
                   "log store %s: the task index of task %d at %llu is "
                   "corrupt",
                   s->dir, (int)partition, (unsigned long long)task_position);
  }
  if (v != NULL) {
    *local = ll_be64_decode(v);
    *found = true;
  }
  rocksdb_free(v);
  return 0;
}
