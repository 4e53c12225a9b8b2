/* test_log_visibility.c — a reader of the log store never sees an entry
 * beyond the position the store publishes (ll_store_last_position).
 *
 * Found by test_disk_full: in `lotlined all` the projector read an entry a
 * moment after RocksDB made the commit readable and before the committing
 * thread moved the store's counter; on its next step the views stood one
 * position beyond "the end of the log" and the projector stopped ("built
 * from another log"). Here one thread commits small batches as fast as it
 * can while another follows the log like the projector does, checking each
 * entry it reads against the counter read afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "ll_event.h"
#include "ll_mem.h"
#include "ll_store.h"

#define BATCHES 20000
#define EVENTS_PER_BATCH 3
#define READ_MAX 64

typedef struct shared {
  ll_store *store;
  atomic_bool done;
} shared;

static void *writer(void *arg) {
  shared *sh = arg;
  char id[64];
  uint64_t n = 0;
  for (int b = 0; b < BATCHES; b++) {
    ll_store_batch *batch = ll_store_batch_begin(sh->store);
    for (int i = 0; i < EVENTS_PER_BATCH; i++) {
      ll_event ev;
      snprintf(id, sizeof id, "e%llu", (unsigned long long)++n);
      h_ev_create(&ev, id, "P", id, id, LL_TRACK_LOT);
      ll_input in = {"lots.inbound", 0, (int64_t)n};
      ll_store_batch_append(batch, &ev, &in, 0);
      ll_event_free(&ev);
    }
    ll_err e;
    if (ll_store_batch_commit(batch, false, &e) != 0) {
      fprintf(stderr, "commit: %s: %s\n", ll_err_kind_name(e.kind), e.message);
      abort();
    }
  }
  atomic_store(&sh->done, true);
  return NULL;
}

static void test_reads_stop_at_the_published_position(void **state) {
  (void)state;
  char *dir = h_tempdir("visibility");
  char path[600];
  snprintf(path, sizeof path, "%s/log", dir);
  ll_err e;
  shared sh = {.store = ll_store_open(path, LL_STORE_PRIMARY, &e)};
  if (!sh.store)
    fail_msg("open: %s: %s", ll_err_kind_name(e.kind), e.message);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, writer, &sh), 0);
  ll_entry *entries = ll_xcalloc(READ_MAX, sizeof *entries);
  uint64_t seen = 0, ahead = 0;
  while (!atomic_load(&sh.done) || seen < ll_store_last_position(sh.store)) {
    size_t n;
    if (ll_store_read_log(sh.store, seen + 1, entries, READ_MAX, &n, &e) != 0)
      fail_msg("read: %s: %s", ll_err_kind_name(e.kind), e.message);
    uint64_t published = ll_store_last_position(sh.store);
    for (size_t i = 0; i < n; i++) {
      ahead += entries[i].position > published;
      seen = entries[i].position;
      ll_entry_free(&entries[i]);
    }
  }
  assert_int_equal(pthread_join(t, NULL), 0);
  printf("read %llu entries; %llu seen beyond the published position\n",
         (unsigned long long)seen, (unsigned long long)ahead);
  assert_int_equal(seen, (uint64_t)BATCHES * EVENTS_PER_BATCH);
  assert_int_equal(ahead, 0);
  free(entries);
  ll_store_close(sh.store);
  h_rmrf(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reads_stop_at_the_published_position),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
