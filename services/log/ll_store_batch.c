/* ll_store_batch.c — one input batch, written atomically (ll_store.h).
 *
 * A batch is a plain RocksDB WriteBatch for what it appends (log entries,
 * rejections, offsets, meta), while its state changes go to the primary's
 * in-memory state (ll_store_state.c), where the rules read them back
 * (ll_store_batch_reader): the second event of a poll sees what the first
 * one changed before anything is on disk, and a key written by several
 * events of the batch is kept once, with its final value. At commit those
 * changes become one journal record, sorted by key, in the same WriteBatch:
 * commit is a single rocksdb_write of log entries, journal record,
 * rejections, offsets and the meta counters together: after a crash either
 * all of it is there or none of it. An abort, or a failed write, undoes the
 * in-memory changes too.
 *
 * Positions, rejection sequences and the journal sequence are handed out
 * from the counters the store had when the batch began; the store's
 * counters move only after the write succeeded, so an abort or a failed
 * commit leaves no hole and no trace. Only one batch may be open at a time
 * (the command thread's).
 *
 * Task positions, chain hashes and clocks (ll_store.h) work the same way:
 * the first time the batch touches a task it copies the task's last entry
 * and clock from the store (ll_task_pending), chains each entry it
 * appends on the task's one before, and writes the tasks' records to meta
 * with the entries; the store adopts them only after the write succeeded.
 *
 * Between batches the commit also lets the background applier make
 * progress (ll_store_state_maintain), and waits for it when too much state
 * is dirty (LL_STATE_DIRTY_MAX_ENTRIES): memory stays bounded even when
 * the applier falls behind. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ll_buf.h"
#include "ll_mem.h"
#include "ll_store_internal.h"
#include "ll_types.h"

struct ll_store_batch {
  ll_store *store;
  rocksdb_writebatch_t *wb;
  uint64_t base_position;  /* store's last position at begin */
  uint64_t base_rejection; /* store's last rejection sequence at begin */
  size_t appended;
  size_t rejected;
  ll_task_pending tasks; /* the tasks touched, as the batch leaves them */
  ll_buf key;            /* scratch, reused by every write of the batch */
  ll_buf value;
};

static void put_be64_key(ll_buf *key, uint64_t v) {
  ll_buf_reset(key);
  ll_buf_put_be64(key, v);
}

ll_store_batch *ll_store_batch_begin(ll_store *s) {
  assert(s && s->db);
  assert(!s->batch_open);
  /* One batch object per store, kept with its buffers between batches:
   * a fresh WriteBatch and record buffer per batch cost page faults on
   * every commit. */
  ll_store_batch *b = s->spare_batch;
  s->spare_batch = NULL;
  if (!b) {
    b = ll_xcalloc(1, sizeof *b);
    b->wb = rocksdb_writebatch_create();
    ll_buf_init(&b->key);
    ll_buf_init(&b->value);
  }
  b->store = s;
  b->appended = 0;
  b->rejected = 0;
  b->tasks.n = 0;
  rocksdb_writebatch_clear(b->wb);
  if (s->mem) /* a secondary's batch can only fail to commit */
    ll_state_mem_begin(s);
  b->base_position =
      atomic_load_explicit(&s->last_position, memory_order_acquire);
  b->base_rejection =
      atomic_load_explicit(&s->last_rejection, memory_order_acquire);
  s->batch_open = true;
  return b;
}

void ll_store_batch_destroy(ll_store_batch *b) {
  if (!b)
    return;
  rocksdb_writebatch_destroy(b->wb);
  ll_task_pending_free(&b->tasks);
  ll_buf_free(&b->key);
  ll_buf_free(&b->value);
  free(b);
}

/* The batch goes back to its store for the next one. */
static void batch_free(ll_store_batch *b) {
  ll_store *s = b->store;
  s->batch_open = false;
  assert(!s->spare_batch);
  s->spare_batch = b;
}

ll_state_reader ll_store_batch_reader(ll_store_batch *b) {
  if (!b->store->mem)
    return ll_store_state_reader(b->store);
  return ll_state_mem_reader(b->store);
}

uint64_t ll_store_batch_append(ll_store_batch *b, const ll_event *ev,
                               const ll_input *in, int64_t recorded_at_ms) {
  return ll_store_batch_append_decided(b, ev, in, recorded_at_ms, NULL, 0);
}

/* The task index: (task, task position) -> local position, in the same
 * WriteBatch as the entry. Keys grow with the task position, so within a
 * task they are appended in order. */
static void put_task_index(ll_store_batch *b, int32_t partition,
                           uint64_t task_position, uint64_t position) {
  ll_store_task_index_key(&b->key, partition, task_position);
  uint8_t local[8];
  ll_be64_encode(local, position);
  rocksdb_writebatch_put_cf(b->wb, b->store->cf[LL_CF_DEFAULT],
                            (const char *)b->key.data, b->key.len,
                            (const char *)local, sizeof local);
}

uint64_t ll_store_batch_append_decided(ll_store_batch *b, const ll_event *ev,
                                       const ll_input *in,
                                       int64_t recorded_at_ms,
                                       const ll_move_after *after,
                                       uint8_t flags) {
  assert(ev && ev->type != LL_EV_NONE);
  assert(b->appended < LL_STORE_BATCH_MAX_ENTRIES);
  uint64_t position = b->base_position + b->appended + 1;
  ll_task_last *t =
      ll_task_pending_get(&b->tasks, b->store, in ? in->partition : -1);
  assert(recorded_at_ms >= t->clock_ms);
  put_be64_key(&b->key, position);
  uint8_t hash[LL_ENTRY_HASH_BYTES];
  ll_store_encode_log_value(&b->value, t->position + 1, t->hash, ev, in,
                            recorded_at_ms, after, flags, hash);
  t->position++;
  t->local = position;
  memcpy(t->hash, hash, sizeof t->hash);
  t->clock_ms = recorded_at_ms;
  rocksdb_writebatch_put_cf(b->wb, b->store->cf[LL_CF_LOG],
                            (const char *)b->key.data, b->key.len,
                            (const char *)b->value.data, b->value.len);
  put_task_index(b, t->partition, t->position, position);
  b->appended++;
  return position;
}

void ll_store_batch_mutate(ll_store_batch *b, const ll_mutations *m) {
  assert(b->store->mem); /* the state is the primary's to change */
  ll_state_mem_mutate(b->store, m);
}

uint64_t ll_store_batch_reject(ll_store_batch *b,
                               const ll_stored_rejection *r) {
  assert(r && r->code != LL_OK && r->code < LL_CODE_COUNT);
  assert(b->rejected < LL_STORE_BATCH_MAX_ENTRIES);
  /* r->sequence is ignored: sequences are the store's to assign. */
  uint64_t sequence = b->base_rejection + b->rejected + 1;
  ll_task_last *t = ll_task_pending_get(&b->tasks, b->store, r->partition);
  assert(r->rejected_at_ms >= t->clock_ms);
  t->clock_ms = r->rejected_at_ms;
  put_be64_key(&b->key, sequence);
  ll_store_encode_rejection(&b->value, r);
  rocksdb_writebatch_put_cf(b->wb, b->store->cf[LL_CF_REJECTIONS],
                            (const char *)b->key.data, b->key.len,
                            (const char *)b->value.data, b->value.len);
  b->rejected++;
  return sequence;
}

void ll_store_batch_changelog(ll_store_batch *b, int32_t partition,
                              const struct ll_chg_rejection *r) {
  ll_store_changelog_put(b->wb, b->store, &b->key, &b->value, partition, r);
}

void ll_store_batch_outbox(ll_store_batch *b, uint64_t sequence,
                           const void *key, size_t key_len, bool has_key,
                           const void *value, size_t value_len) {
  assert(sequence > b->base_rejection &&
         sequence <= b->base_rejection + b->rejected);
  ll_store_outbox_key(&b->key, sequence);
  ll_store_encode_outbox(&b->value, key, key_len, has_key, value, value_len);
  rocksdb_writebatch_put_cf(b->wb, b->store->cf[LL_CF_DEFAULT],
                            (const char *)b->key.data, b->key.len,
                            (const char *)b->value.data, b->value.len);
}

void ll_store_batch_park(ll_store_batch *b, int32_t partition,
                         int64_t input_offset, uint64_t sequence,
                         const void *key, size_t key_len, bool has_key,
                         const void *value, size_t value_len) {
  assert(sequence > b->base_rejection &&
         sequence <= b->base_rejection + b->rejected);
  ll_store_parked_key(&b->key, partition, input_offset, sequence);
  ll_store_encode_outbox(&b->value, key, key_len, has_key, value, value_len);
  rocksdb_writebatch_put_cf(b->wb, b->store->cf[LL_CF_DEFAULT],
                            (const char *)b->key.data, b->key.len,
                            (const char *)b->value.data, b->value.len);
}

void ll_store_batch_offset(ll_store_batch *b, const char *cluster,
                           const char *topic, int32_t partition,
                           int64_t next_offset) {
  assert(next_offset >= 0);
  ll_store_offset_key(&b->key, cluster, topic, partition);
  ll_store_encode_offset(&b->value, next_offset);
  rocksdb_writebatch_put_cf(b->wb, b->store->cf[LL_CF_OFFSETS],
                            (const char *)b->key.data, b->key.len,
                            (const char *)b->value.data, b->value.len);
}

int ll_store_batch_prefetch(ll_store_batch *b, const ll_buf *keys,
                            ll_err *err) {
  if (!b->store->mem)
    return 0;
  return ll_state_mem_prefetch(b->store, keys, err);
}

uint64_t ll_store_batch_task_position(ll_store_batch *b, int32_t partition) {
  for (size_t i = 0; i < b->tasks.n; i++)
    if (b->tasks.items[i].partition == partition)
      return b->tasks.items[i].position;
  ll_task_last t;
  ll_store_task_last(b->store, partition, &t);
  return t.position;
}

int64_t ll_store_batch_task_clock(ll_store_batch *b, int32_t partition) {
  for (size_t i = 0; i < b->tasks.n; i++)
    if (b->tasks.items[i].partition == partition)
      return b->tasks.items[i].clock_ms;
  ll_task_last t;
  ll_store_task_last(b->store, partition, &t);
  return t.clock_ms;
}

size_t ll_store_batch_count(const ll_store_batch *b) {
  return b->appended;
}

static void put_meta_u64(ll_store_batch *b, const char *key, uint64_t v) {
  put_be64_key(&b->value, v);
  rocksdb_writebatch_put_cf(b->wb, b->store->cf[LL_CF_DEFAULT], key,
                            strlen(key), (const char *)b->value.data,
                            b->value.len);
}

int ll_store_batch_commit(ll_store_batch *b, bool sync, ll_err *err) {
  ll_store *s = b->store;
  ll_state_mem *mem = s->mem;
  int rc = 0;
  if (s->mode != LL_STORE_PRIMARY) {
    rc = ll_fail(err, LL_ERR_INTERNAL,
                 "log store %s is open as a read-only secondary: cannot "
                 "commit",
                 s->dir);
    batch_free(b);
    return rc;
  }
  /* Bounded memory: with too much dirty, let the running apply finish
   * first. */
  if (s->applier.busy && ll_state_mem_must_wait(s))
    (void)ll_applier_collect(s, true);
  if (s->apply_failed) {
    *err = s->apply_err;
    rc = -1;
    goto done;
  }
  uint64_t last_position = b->base_position + b->appended;
  uint64_t last_rejection = b->base_rejection + b->rejected;
  if (b->appended > 0)
    put_meta_u64(b, LL_META_LAST_POSITION, last_position);
  ll_task_pending_write(&b->tasks, s, b->wb, &b->key, &b->value);
  if (b->rejected > 0)
    put_meta_u64(b, LL_META_LAST_REJECTION, last_rejection);
  const ll_buf *record = ll_state_mem_encode_batch(s);
  if (record->len > 0) {
    put_be64_key(&b->key, mem->batch_gen);
    rocksdb_writebatch_put_cf(b->wb, s->cf[LL_CF_JOURNAL],
                              (const char *)b->key.data, b->key.len,
                              (const char *)record->data, record->len);
    put_meta_u64(b, LL_META_LAST_JOURNAL, mem->batch_gen);
  }

  if (ll_store_write(s, sync ? s->write_sync : s->write_nosync, b->wb, "commit",
                     err) != 0) {
    rc = -1;
    goto done;
  }
  /* Readers on other threads find the record through the index from
   * now on, before anyone learns of the commit. A record that cannot be
   * indexed (it can only be corrupt) turns the index off: they scan. */
  if (record->len > 0)
    (void)ll_jindex_add(&s->jindex, mem->batch_gen, record->data, record->len,
                        atomic_load(&s->journal_applied));
  /* Single writer: nobody moved the counters since begin. */
  assert(atomic_load(&s->last_position) == b->base_position);
  ll_task_pending_adopt(&b->tasks, s);
  atomic_store_explicit(&s->last_position, last_position, memory_order_release);
  atomic_store_explicit(&s->last_rejection, last_rejection,
                        memory_order_release);
  ll_state_mem_committed(s);
  batch_free(b);
  ll_notify_bump(&s->changed); /* after the state shows the batch */
  ll_store_state_maintain(s);
  return 0;
done:
  ll_state_mem_abort(s);
  batch_free(b);
  return rc;
}

void ll_store_batch_abort(ll_store_batch *b) {
  if (!b)
    return;
  if (b->store->mem)
    ll_state_mem_abort(b->store);
  batch_free(b);
}
