/* test_store.c — the log store against a real RocksDB in a temporary
 * directory: what the command consumer and the projection worker rely on.
 * Positions dense from 1 and kept across restarts, a batch that reads its
 * own writes, all-or-nothing commits, offsets, rejections, a secondary that
 * follows the primary, and clear errors for a locked or damaged store. */
#include <errno.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ll_event.h"
#include "ll_mem.h"
#include "ll_state.h"
#include "ll_store.h"
#include "log_fixture.h"

#define LARGE_BATCH_ENTRIES 10000
#define READ_CHUNK 1000
#define CONCURRENT_BATCHES 200
#define CONCURRENT_BATCH_ENTRIES 5
#define CONCURRENT_READERS 2

/* A StockMoved whose fields all derive from i, so a read-back can be
 * checked field by field. */
static void make_event(ll_event *ev, int i) {
  char text[64];
  ll_event_init(ev);
  ev->type = LL_EV_STOCK_MOVED;
  snprintf(text, sizeof text, "ev-%d", i);
  ev->event_id = ll_strdup(text);
  ev->occurred_at_ms = 1800000000000LL + i;
  ev->product_id = ll_strdup("P-1");
  snprintf(text, sizeof text, "lot-%d", i % 7);
  ev->lot_id = ll_strdup(text);
  ev->quantity_valid = true;
  ev->quantity_micro = (int64_t)(i + 1) * LL_MICRO + 250000;
  ev->from.id = ll_strdup("Partners/Vendors");
  ev->from.usage = LL_USAGE_SUPPLIER;
  ev->to.id = ll_strdup("WH/Stock");
  ev->to.usage = LL_USAGE_INTERNAL;
  ev->reference = i % 2 ? ll_strdup("PO-0042") : NULL;
}

static void check_entry(const ll_entry *e, uint64_t position, int i) {
  char text[64];
  assert_int_equal(e->position, position);
  assert_int_equal(e->event.type, LL_EV_STOCK_MOVED);
  snprintf(text, sizeof text, "ev-%d", i);
  assert_string_equal(e->event.event_id, text);
  assert_int_equal(e->event.occurred_at_ms, 1800000000000LL + i);
  assert_string_equal(e->event.product_id, "P-1");
  snprintf(text, sizeof text, "lot-%d", i % 7);
  assert_string_equal(e->event.lot_id, text);
  assert_true(e->event.quantity_valid);
  assert_int_equal(e->event.quantity_micro,
                   (int64_t)(i + 1) * LL_MICRO + 250000);
  assert_string_equal(e->event.from.id, "Partners/Vendors");
  assert_int_equal(e->event.from.usage, LL_USAGE_SUPPLIER);
  assert_string_equal(e->event.to.id, "WH/Stock");
  assert_int_equal(e->event.to.usage, LL_USAGE_INTERNAL);
  if (i % 2)
    assert_string_equal(e->event.reference, "PO-0042");
  else
    assert_null(e->event.reference);
}

/* Append events first..first+n-1 (numbered by i) in one committed batch,
 * recording input offsets 100 + i on partition 3. */
static void append_events(ll_store *s, int first, int n, bool sync) {
  ll_err err = {0};
  ll_store_batch *b = ll_store_batch_begin(s);
  uint64_t base = ll_store_last_position(s);
  for (int i = first; i < first + n; i++) {
    ll_event ev;
    make_event(&ev, i);
    ll_input in = {.topic = "lots.inbound", .partition = 3, .offset = 100 + i};
    uint64_t pos = ll_store_batch_append(b, &ev, &in, 1900000000000LL + i);
    assert_int_equal(pos, base + (uint64_t)(i - first) + 1);
    ll_event_free(&ev);
  }
  assert_int_equal(ll_store_batch_count(b), (size_t)n);
  if (ll_store_batch_commit(b, sync, &err) != 0)
    fail_msg("commit: %s", err.message);
}

static size_t read_log(ll_store *s, uint64_t from, ll_entry *out, size_t max) {
  ll_err err = {0};
  size_t n = 99;
  if (ll_store_read_log(s, from, out, max, &n, &err) != 0)
    fail_msg("read_log: %s", err.message);
  return n;
}

static void free_entries(ll_entry *e, size_t n) {
  for (size_t i = 0; i < n; i++)
    ll_entry_free(&e[i]);
}

static bool state_get(ll_state_reader r, const char *key, char *value,
                      size_t value_size) {
  ll_buf out;
  ll_err err = {0};
  bool found = false;
  ll_buf_init(&out);
  if (r.get(r.ctx, key, strlen(key), &out, &found, &err) != 0)
    fail_msg("state get %s: %s", key, err.message);
  if (found) {
    assert_true(out.len < value_size);
    memcpy(value, out.data, out.len);
    value[out.len] = '\0';
  }
  ll_buf_free(&out);
  return found;
}

static void put_state(ll_mutations *m, const char *key, const char *value) {
  ll_mutations_put(m, key, strlen(key), value, strlen(value));
}

static void test_append_commit_read_in_order(void **state) {
  log_fixture *f = *state;
  ll_store *s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  assert_int_equal(ll_store_last_position(s), 0);
  append_events(s, 0, 3, false);
  append_events(s, 3, 2, false);
  assert_int_equal(ll_store_last_position(s), 5);

  ll_entry e[8];
  size_t n = read_log(s, 1, e, 8);
  assert_int_equal(n, 5);
  for (size_t i = 0; i < n; i++) {
    check_entry(&e[i], i + 1, (int)i);
    assert_int_equal(e[i].partition, 3);
    assert_int_equal(e[i].offset, 100 + (int64_t)i);
    assert_int_equal(e[i].recorded_at_ms, 1900000000000LL + (int64_t)i);
  }
  free_entries(e, n);

  /* A window in the middle. */
  n = read_log(s, 3, e, 2);
  assert_int_equal(n, 2);
  check_entry(&e[0], 3, 2);
  check_entry(&e[1], 4, 3);
  free_entries(e, n);
  ll_store_close(s);
}

static void test_entry_without_kafka_input(void **state) {
  log_fixture *f = *state;
  ll_store *s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  ll_err err = {0};
  ll_event ev;
  make_event(&ev, 0);
  ll_store_batch *b = ll_store_batch_begin(s);
  assert_int_equal(ll_store_batch_append(b, &ev, NULL, 42), 1);
  ll_event_free(&ev);
  assert_int_equal(ll_store_batch_commit(b, false, &err), 0);
  ll_entry e[1];
  assert_int_equal(read_log(s, 1, e, 1), 1);
  assert_int_equal(e[0].partition, -1);
  assert_int_equal(e[0].offset, -1);
  assert_int_equal(e[0].recorded_at_ms, 42);
  free_entries(e, 1);
  ll_store_close(s);
}

static void test_batch_reader_sees_pending_and_db(void **state) {
  log_fixture *f = *state;
  ll_store *s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  ll_err err = {0};
  ll_mutations m;
  ll_mutations_init(&m);
  char v[64];

  ll_store_batch *b = ll_store_batch_begin(s);
  put_state(&m, "lot/A", "a1");
  put_state(&m, "lot/C", "c1");
  ll_store_batch_mutate(b, &m);
  assert_int_equal(ll_store_batch_commit(b, false, &err), 0);

  b = ll_store_batch_begin(s);
  ll_state_reader br = ll_store_batch_reader(b);
  ll_state_reader cr = ll_store_state_reader(s);
  ll_mutations_reset(&m);
  put_state(&m, "lot/B", "b1");
  put_state(&m, "lot/A", "a2");
  ll_mutations_del(&m, "lot/C", strlen("lot/C"));
  ll_store_batch_mutate(b, &m);

  /* The batch sees its own writes on top of the database... */
  assert_true(state_get(br, "lot/A", v, sizeof v));
  assert_string_equal(v, "a2");
  assert_true(state_get(br, "lot/B", v, sizeof v));
  assert_string_equal(v, "b1");
  assert_false(state_get(br, "lot/C", v, sizeof v));
  assert_false(state_get(br, "lot/none", v, sizeof v));
  /* ...and a later write in the same batch wins over an earlier one. */
  ll_mutations_reset(&m);
  put_state(&m, "lot/B", "b2");
  ll_store_batch_mutate(b, &m);
  assert_true(state_get(br, "lot/B", v, sizeof v));
  assert_string_equal(v, "b2");

  /* The committed state does not see the batch until it commits. */
  assert_true(state_get(cr, "lot/A", v, sizeof v));
  assert_string_equal(v, "a1");
  assert_false(state_get(cr, "lot/B", v, sizeof v));
  assert_true(state_get(cr, "lot/C", v, sizeof v));

  assert_int_equal(ll_store_batch_commit(b, false, &err), 0);
  assert_true(state_get(cr, "lot/A", v, sizeof v));
  assert_string_equal(v, "a2");
  assert_true(state_get(cr, "lot/B", v, sizeof v));
  assert_string_equal(v, "b2");
  assert_false(state_get(cr, "lot/C", v, sizeof v));
  ll_mutations_free(&m);
  ll_store_close(s);
}

static void test_abort_leaves_nothing(void **state) {
  log_fixture *f = *state;
  ll_store *s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  ll_err err = {0};
  append_events(s, 0, 2, false);

  ll_store_batch *b = ll_store_batch_begin(s);
  ll_event ev;
  make_event(&ev, 2);
  assert_int_equal(ll_store_batch_append(b, &ev, NULL, 1), 3);
  ll_event_free(&ev);
  ll_mutations m;
  ll_mutations_init(&m);
  put_state(&m, "lot/X", "x");
  ll_store_batch_mutate(b, &m);
  ll_mutations_free(&m);
  log_reject_malformed(b, 0, 7);
  ll_store_batch_offset(b, "c1", "lots.inbound", 0, 8);
  ll_store_batch_abort(b);

  assert_int_equal(ll_store_last_position(s), 2);
  ll_entry e[4];
  assert_int_equal(read_log(s, 3, e, 4), 0);
  char v[16];
  assert_false(state_get(ll_store_state_reader(s), "lot/X", v, sizeof v));
  int64_t next = -1;
  bool found = true;
  assert_int_equal(
      ll_store_get_offset(s, "c1", "lots.inbound", 0, &next, &found, &err), 0);
  assert_false(found);
  ll_stored_rejection out[2];
  size_t n = 9;
  assert_int_equal(ll_store_recent_rejections(s, 2, out, &n, &err), 0);
  assert_int_equal(n, 0);

  /* No hole: the next batch takes position 3. */
  append_events(s, 2, 1, false);
  assert_int_equal(read_log(s, 1, e, 4), 3);
  check_entry(&e[2], 3, 2);
  free_entries(e, 3);
  ll_store_close(s);

  /* Nor does the aborted batch come back after a restart. */
  s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  assert_int_equal(ll_store_last_position(s), 3);
  assert_false(state_get(ll_store_state_reader(s), "lot/X", v, sizeof v));
  ll_store_close(s);
}

static void test_reopen_keeps_everything(void **state) {
  log_fixture *f = *state;
  ll_err err = {0};
  ll_store *s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  append_events(s, 0, 3, false);
  ll_store_batch *b = ll_store_batch_begin(s);
  ll_mutations m;
  ll_mutations_init(&m);
  put_state(&m, "seen/ev-1", "accepted");
  ll_store_batch_mutate(b, &m);
  ll_mutations_free(&m);
  ll_store_batch_offset(b, "c1", "lots.inbound", 3, 103);
  assert_int_equal(ll_store_batch_commit(b, false, &err), 0);
  ll_store_close(s);

  s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  assert_int_equal(ll_store_last_position(s), 3);
  append_events(s, 3, 2, false);
  assert_int_equal(ll_store_last_position(s), 5);
  ll_entry e[8];
  size_t n = read_log(s, 1, e, 8);
  assert_int_equal(n, 5);
  for (size_t i = 0; i < n; i++)
    check_entry(&e[i], i + 1, (int)i);
  free_entries(e, n);
  char v[32];
  assert_true(state_get(ll_store_state_reader(s), "seen/ev-1", v, sizeof v));
  assert_string_equal(v, "accepted");
  int64_t next = 0;
  bool found = false;
  assert_int_equal(
      ll_store_get_offset(s, "c1", "lots.inbound", 3, &next, &found, &err), 0);
  assert_true(found);
  assert_int_equal(next, 103);
  ll_store_close(s);
}

static void test_offsets_round_trip(void **state) {
  log_fixture *f = *state;
  ll_err err = {0};
  ll_store *s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  ll_store_batch *b = ll_store_batch_begin(s);
  ll_store_batch_offset(b, "c1", "lots.inbound", 0, 10);
  ll_store_batch_offset(b, "c1", "lots.inbound", 1, 20);
  ll_store_batch_offset(b, "c1", "other", 0, 30);
  ll_store_batch_offset(b, "c2", "lots.inbound", 0, 40);
  ll_store_batch_offset(b, "c1", "lots.inbound", 10, 50);
  assert_int_equal(ll_store_batch_commit(b, true, &err), 0);
  /* Offsets only: no log entry. */
  assert_int_equal(ll_store_last_position(s), 0);

  b = ll_store_batch_begin(s);
  ll_store_batch_offset(b, "c1", "lots.inbound", 0, 11);
  assert_int_equal(ll_store_batch_commit(b, false, &err), 0);

  struct {
    const char *cluster, *topic;
    int32_t partition;
    int64_t next;
  } want[] = {{"c1", "lots.inbound", 0, 11},
              {"c1", "lots.inbound", 1, 20},
              {"c1", "other", 0, 30},
              {"c2", "lots.inbound", 0, 40},
              {"c1", "lots.inbound", 10, 50}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    int64_t next = -1;
    bool found = false;
    assert_int_equal(ll_store_get_offset(s, want[i].cluster, want[i].topic,
                                         want[i].partition, &next, &found,
                                         &err),
                     0);
    assert_true(found);
    assert_int_equal(next, want[i].next);
  }
  int64_t next = -1;
  bool found = true;
  assert_int_equal(
      ll_store_get_offset(s, "c1", "lots.inbound", 2, &next, &found, &err), 0);
  assert_false(found);
  assert_int_equal(
      ll_store_get_offset(s, "c3", "lots.inbound", 0, &next, &found, &err), 0);
  assert_false(found);
  ll_store_close(s);
}

static void reject(ll_store_batch *b, int i) {
  char id[32], msg[64];
  snprintf(id, sizeof id, "bad-%d", i);
  snprintf(msg, sizeof msg, "rejection number %d", i);
  ll_stored_rejection r = {
      .sequence = 999, /* ignored: the store assigns sequences */
      .rejected_at_ms = 1700000000000LL + i,
      .event_id = i == 0 ? NULL : id,
      .code = i % 2 ? LL_INSUFFICIENT_STOCK : LL_MALFORMED,
      .message = msg,
      .topic = "lots.inbound",
      .partition = i % 3,
      .offset = 500 + i,
  };
  ll_store_batch_reject(b, &r);
}

static void check_rejection(const ll_stored_rejection *r, int i) {
  char id[32], msg[64];
  snprintf(id, sizeof id, "bad-%d", i);
  snprintf(msg, sizeof msg, "rejection number %d", i);
  assert_int_equal(r->sequence, (uint64_t)i + 1);
  assert_int_equal(r->rejected_at_ms, 1700000000000LL + i);
  if (i == 0)
    assert_null(r->event_id);
  else
    assert_string_equal(r->event_id, id);
  assert_int_equal(r->code, i % 2 ? LL_INSUFFICIENT_STOCK : LL_MALFORMED);
  assert_string_equal(r->message, msg);
  assert_string_equal(r->topic, "lots.inbound");
  assert_int_equal(r->partition, i % 3);
  assert_int_equal(r->offset, 500 + i);
}

static void test_rejections_newest_first_with_limit(void **state) {
  log_fixture *f = *state;
  ll_err err = {0};
  ll_store *s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  ll_store_batch *b = ll_store_batch_begin(s);
  for (int i = 0; i < 3; i++)
    reject(b, i);
  assert_int_equal(ll_store_batch_count(b), 0); /* rejections are not events */
  assert_int_equal(ll_store_batch_commit(b, false, &err), 0);
  ll_store_close(s);

  /* Sequences continue after a restart. */
  s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  b = ll_store_batch_begin(s);
  for (int i = 3; i < 5; i++)
    reject(b, i);
  assert_int_equal(ll_store_batch_commit(b, false, &err), 0);

  ll_stored_rejection out[10];
  size_t n = 0;
  assert_int_equal(ll_store_recent_rejections(s, 3, out, &n, &err), 0);
  assert_int_equal(n, 3);
  for (size_t k = 0; k < n; k++) {
    check_rejection(&out[k], 4 - (int)k);
    ll_stored_rejection_free(&out[k]);
  }
  assert_int_equal(ll_store_recent_rejections(s, 10, out, &n, &err), 0);
  assert_int_equal(n, 5);
  for (size_t k = 0; k < n; k++) {
    check_rejection(&out[k], 4 - (int)k);
    ll_stored_rejection_free(&out[k]);
  }
  assert_int_equal(ll_store_recent_rejections(s, 0, out, &n, &err), 0);
  assert_int_equal(n, 0);
  ll_store_close(s);
}

typedef struct reader_ctx {
  ll_store *store;
  atomic_bool *done;
  atomic_int *started;
  int failures;
  uint64_t final_position; /* seen in the last round */
} reader_ctx;

/* What another thread may rely on: once last_position says N, entries
 * 1..N are readable, and the number never goes down. */
static void *reader_main(void *arg) {
  reader_ctx *c = arg;
  ll_entry e[CONCURRENT_BATCH_ENTRIES];
  uint64_t seen = 0;
  atomic_fetch_add(c->started, 1);
  /* One last round after the writer is done: reads race with commits
   * while they run and see the final state after. */
  bool last_round = false;
  while (!last_round) {
    last_round = atomic_load(c->done);
    uint64_t last = ll_store_last_position(c->store);
    if (last < seen)
      c->failures++;
    seen = last;
    if (last == 0)
      continue;
    uint64_t from = last >= CONCURRENT_BATCH_ENTRIES
                        ? last - CONCURRENT_BATCH_ENTRIES + 1
                        : 1;
    ll_err err = {0};
    size_t n = 0;
    if (ll_store_read_log(c->store, from, e, CONCURRENT_BATCH_ENTRIES, &n,
                          &err) != 0 ||
        n != (size_t)(last - from + 1) || e[n - 1].position != last)
      c->failures++;
    for (size_t i = 0; i < n; i++)
      ll_entry_free(&e[i]);
  }
  c->final_position = seen;
  return NULL;
}

static void test_readers_on_other_threads(void **state) {
  log_fixture *f = *state;
  ll_store *s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  atomic_bool done;
  atomic_int started;
  atomic_init(&done, false);
  atomic_init(&started, 0);
  reader_ctx ctx[CONCURRENT_READERS];
  pthread_t threads[CONCURRENT_READERS];
  for (int t = 0; t < CONCURRENT_READERS; t++) {
    ctx[t] = (reader_ctx){.store = s, .done = &done, .started = &started};
    assert_int_equal(pthread_create(&threads[t], NULL, reader_main, &ctx[t]),
                     0);
  }
  while (atomic_load(&started) < CONCURRENT_READERS)
    sched_yield();
  for (int i = 0; i < CONCURRENT_BATCHES; i++)
    append_events(s, i * CONCURRENT_BATCH_ENTRIES, CONCURRENT_BATCH_ENTRIES,
                  false);
  atomic_store(&done, true);
  for (int t = 0; t < CONCURRENT_READERS; t++) {
    pthread_join(threads[t], NULL);
    assert_int_equal(ctx[t].failures, 0);
    assert_int_equal(ctx[t].final_position,
                     CONCURRENT_BATCHES * CONCURRENT_BATCH_ENTRIES);
  }
  assert_int_equal(ll_store_last_position(s),
                   CONCURRENT_BATCHES * CONCURRENT_BATCH_ENTRIES);
  ll_store_close(s);
}

static void test_secondary_follows_primary(void **state) {
  log_fixture *f = *state;
  ll_err err = {0};
  ll_store *p = log_open_ok(f->dir, LL_STORE_PRIMARY);
  append_events(p, 0, 2, true);

  ll_store *sec = log_open_ok(f->dir, LL_STORE_SECONDARY);
  assert_int_equal(ll_store_last_position(sec), 2);

  ll_store_batch *b = ll_store_batch_begin(p);
  ll_mutations m;
  ll_mutations_init(&m);
  put_state(&m, "lot/S", "s1");
  ll_store_batch_mutate(b, &m);
  ll_mutations_free(&m);
  reject(b, 0);
  ll_store_batch_offset(b, "c1", "lots.inbound", 3, 105);
  ll_event ev;
  for (int i = 2; i < 5; i++) {
    make_event(&ev, i);
    ll_store_batch_append(b, &ev, NULL, 0);
    ll_event_free(&ev);
  }
  assert_int_equal(ll_store_batch_commit(b, false, &err), 0);
  assert_int_equal(ll_store_last_position(p), 5);

  /* Until it catches up, the secondary keeps its view. */
  ll_entry e[8];
  assert_int_equal(ll_store_last_position(sec), 2);
  assert_int_equal(read_log(sec, 3, e, 8), 0);

  assert_int_equal(ll_store_catch_up(sec, &err), 0);
  assert_int_equal(ll_store_last_position(sec), 5);
  size_t n = read_log(sec, 1, e, 8);
  assert_int_equal(n, 5);
  for (size_t i = 0; i < n; i++)
    check_entry(&e[i], i + 1, (int)i);
  free_entries(e, n);
  char v[16];
  assert_true(state_get(ll_store_state_reader(sec), "lot/S", v, sizeof v));
  assert_string_equal(v, "s1");
  int64_t next = 0;
  bool found = false;
  assert_int_equal(
      ll_store_get_offset(sec, "c1", "lots.inbound", 3, &next, &found, &err),
      0);
  assert_true(found);
  assert_int_equal(next, 105);
  ll_stored_rejection r[2];
  assert_int_equal(ll_store_recent_rejections(sec, 2, r, &n, &err), 0);
  assert_int_equal(n, 1);
  check_rejection(&r[0], 0);
  ll_stored_rejection_free(&r[0]);

  /* A secondary cannot write: the commit fails, nothing moves. */
  b = ll_store_batch_begin(sec);
  make_event(&ev, 5);
  ll_store_batch_append(b, &ev, NULL, 0);
  ll_event_free(&ev);
  err.message[0] = '\0';
  assert_int_equal(ll_store_batch_commit(b, false, &err), -1);
  assert_non_null(strstr(err.message, "secondary"));
  assert_int_equal(ll_store_last_position(sec), 5);
  assert_int_equal(ll_store_last_position(p), 5);

  /* Catching up after the primary is gone still works (no new data). */
  ll_store_close(p);
  assert_int_equal(ll_store_catch_up(sec, &err), 0);
  assert_int_equal(ll_store_last_position(sec), 5);
  ll_store_close(sec);

  /* The secondary's private directory is gone with it. */
  char secondary_dir[700];
  snprintf(secondary_dir, sizeof secondary_dir, "%s.secondary", f->dir);
  struct stat st;
  assert_int_equal(stat(secondary_dir, &st), -1);
}

/* A follower (the projector and the publisher of `lotlined project`) polls
 * the primary every few ms. A catch-up that finds nothing new keeps what
 * the last one loaded and wakes nobody; the next one after a commit shows
 * the new entries, counters and task records, and wakes the waiters. */
static void test_follower_catch_up_sees_each_write_once(void **state) {
  log_fixture *f = *state;
  ll_err err = {0};
  ll_store *p = log_open_ok(f->dir, LL_STORE_PRIMARY);
  append_events(p, 0, 2, false);
  ll_store *sec = log_open_ok(f->dir, LL_STORE_SECONDARY);
  assert_int_equal(ll_store_catch_up(sec, &err), 0);
  uint64_t seen = ll_store_changes(sec);
  for (int i = 0; i < 3; i++) /* nothing written meanwhile */
    assert_int_equal(ll_store_catch_up(sec, &err), 0);
  assert_int_equal(ll_store_changes(sec), seen);
  ll_task_last t;
  ll_store_task_last(sec, 3, &t);
  assert_int_equal(t.position, 2);
  assert_int_equal(t.local, 2);

  append_events(p, 2, 3, false);
  assert_int_equal(ll_store_catch_up(sec, &err), 0);
  assert_int_not_equal(ll_store_changes(sec), seen);
  assert_int_equal(ll_store_last_position(sec), 5);
  ll_store_task_last(sec, 3, &t);
  assert_int_equal(t.position, 5);
  assert_int_equal(t.local, 5);
  uint64_t local = 0;
  bool found = false;
  assert_int_equal(ll_store_task_local(sec, 3, 4, &local, &found, &err), 0);
  assert_true(found);
  assert_int_equal(local, 4);
  seen = ll_store_changes(sec);
  assert_int_equal(ll_store_catch_up(sec, &err), 0);
  assert_int_equal(ll_store_changes(sec), seen);
  ll_store_close(sec);
  ll_store_close(p);
}

static void test_secondary_of_missing_store_fails(void **state) {
  log_fixture *f = *state;
  ll_err err = {0};
  assert_null(ll_store_open(f->dir, LL_STORE_SECONDARY, &err));
  assert_non_null(strstr(err.message, f->dir));
  assert_non_null(strstr(err.message, "does not exist"));
}

static void test_second_primary_is_refused(void **state) {
  log_fixture *f = *state;
  ll_err err = {0};
  ll_store *s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  assert_null(ll_store_open(f->dir, LL_STORE_PRIMARY, &err));
  assert_non_null(strstr(err.message, f->dir));
  assert_non_null(strstr(err.message, "another process"));
  /* The first handle is unaffected. */
  append_events(s, 0, 1, false);
  assert_int_equal(ll_store_last_position(s), 1);
  ll_store_close(s);
}

static void test_commit_with_sync(void **state) {
  log_fixture *f = *state;
  ll_store *s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  append_events(s, 0, 4, true);
  append_events(s, 4, 1, true);
  ll_store_close(s);
  s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  assert_int_equal(ll_store_last_position(s), 5);
  ll_entry e[8];
  size_t n = read_log(s, 1, e, 8);
  assert_int_equal(n, 5);
  for (size_t i = 0; i < n; i++)
    check_entry(&e[i], i + 1, (int)i);
  free_entries(e, n);
  ll_store_close(s);
}

static void test_large_batch(void **state) {
  log_fixture *f = *state;
  ll_store *s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  append_events(s, 0, LARGE_BATCH_ENTRIES, true);
  assert_int_equal(ll_store_last_position(s), LARGE_BATCH_ENTRIES);
  ll_store_close(s);

  s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  assert_int_equal(ll_store_last_position(s), LARGE_BATCH_ENTRIES);
  ll_entry *e = calloc(READ_CHUNK, sizeof *e);
  uint64_t from = 1;
  for (;;) {
    size_t n = read_log(s, from, e, READ_CHUNK);
    if (n == 0)
      break;
    for (size_t i = 0; i < n; i++)
      check_entry(&e[i], from + i, (int)(from + i - 1));
    free_entries(e, n);
    from += n;
  }
  assert_int_equal(from, LARGE_BATCH_ENTRIES + 1);
  free(e);
  ll_store_close(s);
}

static void test_read_past_end(void **state) {
  log_fixture *f = *state;
  ll_err err = {0};
  ll_store *s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  ll_entry e[4];
  assert_int_equal(read_log(s, 1, e, 4), 0); /* empty log */
  append_events(s, 0, 3, false);
  assert_int_equal(read_log(s, 4, e, 4), 0);
  assert_int_equal(read_log(s, 1000000, e, 4), 0);
  assert_int_equal(read_log(s, 3, e, 4), 1);
  free_entries(e, 1);
  size_t n = 7;
  assert_int_equal(ll_store_read_log(s, 0, e, 4, &n, &err), -1);
  assert_int_equal(n, 0);
  ll_store_close(s);
}

/* Raw access to the column families, to damage a store on purpose. */
#define RAW_CFS 6

static rocksdb_t *raw_open(const char *dir,
                           rocksdb_column_family_handle_t *cf[RAW_CFS]) {
  const char *names[RAW_CFS] = {"default", "log",        "state",
                                "offsets", "rejections", "journal"};
  rocksdb_options_t *o = rocksdb_options_create();
  const rocksdb_options_t *cf_opts[RAW_CFS] = {o, o, o, o, o, o};
  char *rerr = NULL;
  rocksdb_t *db =
      rocksdb_open_column_families(o, dir, RAW_CFS, names, cf_opts, cf, &rerr);
  rocksdb_options_destroy(o);
  if (!db)
    fail_msg("raw open: %s", rerr);
  return db;
}

static void raw_close(rocksdb_t *db,
                      rocksdb_column_family_handle_t *cf[RAW_CFS]) {
  for (int i = 0; i < RAW_CFS; i++)
    rocksdb_column_family_handle_destroy(cf[i]);
  rocksdb_close(db);
}

static void test_corrupt_entry_names_position(void **state) {
  log_fixture *f = *state;
  ll_err err = {0};
  ll_store *s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  append_events(s, 0, 3, false);
  ll_store_close(s);

  rocksdb_column_family_handle_t *cf[RAW_CFS];
  rocksdb_t *db = raw_open(f->dir, cf);
  const char key[8] = {0, 0, 0, 0, 0, 0, 0, 2};
  char *rerr = NULL;
  rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
  rocksdb_put_cf(db, wo, cf[1], key, 8, "\x01garbage", 8, &rerr);
  assert_null(rerr);
  rocksdb_writeoptions_destroy(wo);
  raw_close(db, cf);

  s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  ll_entry e[4];
  size_t n = 9;
  assert_int_equal(ll_store_read_log(s, 1, e, 4, &n, &err), -1);
  assert_int_equal(n, 0);
  assert_non_null(strstr(err.message, "position 2"));
  /* Entries before the damage still read. */
  assert_int_equal(read_log(s, 1, e, 1), 1);
  free_entries(e, 1);
  ll_store_close(s);
}

static void test_lost_entry_refuses_open(void **state) {
  log_fixture *f = *state;
  ll_err err = {0};
  ll_store *s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  append_events(s, 0, 3, false);
  ll_store_close(s);

  /* Delete the last entry behind the store's back: appending now would hand
   * out position 3 twice, so the open must refuse. */
  rocksdb_column_family_handle_t *cf[RAW_CFS];
  rocksdb_t *db = raw_open(f->dir, cf);
  const char key[8] = {0, 0, 0, 0, 0, 0, 0, 3};
  char *rerr = NULL;
  rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
  rocksdb_delete_cf(db, wo, cf[1], key, 8, &rerr);
  assert_null(rerr);
  rocksdb_writeoptions_destroy(wo);
  raw_close(db, cf);

  assert_null(ll_store_open(f->dir, LL_STORE_PRIMARY, &err));
  assert_non_null(strstr(err.message, "inconsistent"));
}

/* A store of format 3 (state keyed by lot id alone, before lots were
 * scoped by product) is refused, not read, with what to do. */
static void test_store_of_format_3_is_refused(void **state) {
  log_fixture *f = *state;
  ll_err err = {0};
  ll_store *s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  append_events(s, 0, 2, false);
  ll_store_close(s);

  rocksdb_column_family_handle_t *cf[RAW_CFS];
  rocksdb_t *db = raw_open(f->dir, cf);
  char *rerr = NULL;
  rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
  rocksdb_put_cf(db, wo, cf[0], "format_version", 14, "\x03", 1, &rerr);
  assert_null(rerr);
  rocksdb_writeoptions_destroy(wo);
  raw_close(db, cf);

  assert_null(ll_store_open(f->dir, LL_STORE_PRIMARY, &err));
  assert_int_equal(err.kind, LL_ERR_CORRUPT);
  assert_non_null(strstr(err.message, "format version 3"));
  assert_non_null(strstr(err.message, "start from an empty data directory"));
  /* Refused, not converted: still refused. */
  assert_null(ll_store_open(f->dir, LL_STORE_PRIMARY, &err));
}

/* A follower killed without closing leaves its private directory behind;
 * the next follower to open removes it (and leaves live ones alone). */
static void test_dead_follower_dirs_are_removed(void **state) {
  log_fixture *f = *state;
  ll_store_close(log_open_ok(f->dir, LL_STORE_PRIMARY));
  char parent[700], dead[800], live[800];
  snprintf(parent, sizeof parent, "%s.secondary", f->dir);
  /* No process has a pid this large (pid_max is at most 2^22). */
  snprintf(dead, sizeof dead, "%s/2147483000-abcdef", parent);
  snprintf(live, sizeof live, "%s/%ld-live00", parent, (long)getppid());
  assert_int_equal(mkdir(parent, 0700), 0);
  assert_int_equal(mkdir(dead, 0700), 0);
  assert_int_equal(mkdir(live, 0700), 0);
  ll_store *s = log_open_ok(f->dir, LL_STORE_SECONDARY);
  struct stat st;
  assert_int_not_equal(stat(dead, &st), 0);
  assert_int_equal(stat(live, &st), 0);
  ll_store_close(s);
  assert_int_equal(rmdir(live), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T(fn)                                                                  \
  cmocka_unit_test_setup_teardown(fn, log_fixture_setup, log_fixture_teardown)
      T(test_append_commit_read_in_order),
      T(test_entry_without_kafka_input),
      T(test_batch_reader_sees_pending_and_db),
      T(test_abort_leaves_nothing),
      T(test_reopen_keeps_everything),
      T(test_offsets_round_trip),
      T(test_rejections_newest_first_with_limit),
      T(test_readers_on_other_threads),
      T(test_secondary_follows_primary),
      T(test_follower_catch_up_sees_each_write_once),
      T(test_secondary_of_missing_store_fails),
      T(test_second_primary_is_refused),
      T(test_commit_with_sync),
      T(test_large_batch),
      T(test_read_past_end),
      T(test_corrupt_entry_names_position),
      T(test_lost_entry_refuses_open),
      T(test_dead_follower_dirs_are_removed),
      T(test_store_of_format_3_is_refused),
#undef T
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
