/* test_publisher_changelog.c — what a publisher run writes to
 * lots.changelog (services/publisher/publisher_changelog.c), on a real
 * log store and without Kafka: a task's rejections after its last mark
 * and before its next unpublished entry, in input order, then a mark
 * whose input offset covers them and the run's entries and whose task
 * position is what the run leaves published; nothing for a task with no
 * news, a task whose local log is behind Kafka, or another instance's
 * task. A mark must never claim what the run does not hold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ll_changelog.h"
#include "ll_event.h"
#include "ll_mem.h"
#include "ll_store.h"
#include "log_fixture.h"
#include "publisher_changelog.h"

#define PARTITIONS 3
#define BATCH_MAX 16
#define T0_MS 1767225600000LL

/* Task p's input record at `offset`: an entry (accepted) or a rejection,
 * stamped T0 + offset, in a batch of its own. */
static void decide(ll_store *s, int32_t p, int64_t offset, bool accepted) {
  ll_store_batch *b = ll_store_batch_begin(s);
  if (accepted) {
    char id[32];
    snprintf(id, sizeof id, "L-%d-%lld", (int)p, (long long)offset);
    ll_event ev;
    ll_event_init(&ev);
    ev.type = LL_EV_LOT_CREATED;
    ev.event_id = ll_strdup(id);
    ev.occurred_at_ms = T0_MS;
    ev.product_id = ll_strdup("P-1");
    ev.lot_id = ll_strdup(id);
    ev.name = ll_strdup(id);
    ev.tracking = LL_TRACK_LOT;
    ll_input in = {"lots.inbound", p, offset};
    ll_store_batch_append(b, &ev, &in, T0_MS + offset);
    ll_event_free(&ev);
  } else {
    ll_stored_rejection r = {.rejected_at_ms = T0_MS + offset,
                             .code = LL_MALFORMED,
                             .message = "bad bytes",
                             .topic = "lots.inbound",
                             .partition = p,
                             .offset = offset};
    ll_store_batch_reject(b, &r);
    ll_chg_rejection c = {.offset = offset,
                          .rejected_at_ms = T0_MS + offset,
                          .code = LL_MALFORMED,
                          .message = "bad bytes"};
    ll_store_batch_changelog(b, p, &c);
  }
  ll_err e = {0};
  if (ll_store_batch_commit(b, true, &e) != 0)
    fail_msg("commit: %s", e.message);
}

/* A run over the entries at local positions [from, from + n). */
typedef struct run_fixture {
  ll_entry entries[BATCH_MAX];
  const ll_entry *run[BATCH_MAX];
  size_t n;
  uint64_t staged[PARTITIONS];
  bool mine[PARTITIONS];
} run_fixture;

static void read_run(ll_store *s, run_fixture *f, uint64_t from, size_t max) {
  ll_err e = {0};
  f->n = 0;
  if (ll_store_read_log(s, from, f->entries, max, &f->n, &e) != 0)
    fail_msg("read: %s", e.message);
  for (size_t i = 0; i < f->n; i++) {
    f->run[i] = &f->entries[i];
    f->staged[f->entries[i].partition] = f->entries[i].task_position;
  }
}

static void free_run(run_fixture *f) {
  for (size_t i = 0; i < f->n; i++)
    ll_entry_free(&f->entries[i]);
  f->n = 0;
}

static void gather(pub_changelog *c, ll_store *s, run_fixture *f) {
  pub_chg_run r = {
      .log = s, .run = f->run, .n = f->n, .staged = f->staged, .mine = f->mine};
  ll_err e = {0};
  if (pub_chg_gather(c, &r, &e) != 0)
    fail_msg("gather: %s", e.message);
}

static int64_t rejection_offset(const pub_changelog *c, size_t i) {
  ll_chg_rejection r;
  assert_false(c->records[i].mark);
  assert_true(ll_chg_decode_rejection(c->bytes.data + c->records[i].at,
                                      c->records[i].len, &r));
  int64_t offset = r.offset;
  ll_chg_rejection_free(&r);
  return offset;
}

static ll_chg_mark mark_of(const pub_changelog *c, size_t i) {
  ll_chg_mark m;
  assert_true(c->records[i].mark);
  assert_true(ll_chg_decode_mark(c->bytes.data + c->records[i].at,
                                 c->records[i].len, &m));
  assert_int_equal(m.position, c->records[i].mark_position);
  return m;
}

/* No mark yet: every task's changelog is empty. */
static void start(pub_changelog *c) {
  pub_tail tails[PARTITIONS];
  memset(tails, 0, sizeof tails);
  pub_chg_init(c, "lots.changelog", BATCH_MAX);
  pub_chg_from_tails(c, tails, PARTITIONS);
  for (int32_t q = 0; q < PARTITIONS; q++)
    assert_int_equal(pub_chg_covered(c, q), -1);
}

static void test_marks_cover_what_the_run_holds(void **state) {
  log_fixture *lf = *state;
  ll_store *s = log_open_ok(lf->dir, LL_STORE_PRIMARY);
  /* Task 0: R0 E1 R2 R3 E4 R5 (E: an entry, R: a rejection). */
  bool accepted[] = {false, true, false, false, true, false};
  for (int64_t o = 0; o < 6; o++)
    decide(s, 0, o, accepted[o]);
  pub_changelog c;
  start(&c);
  run_fixture f = {.mine = {true, true, false}};
  read_run(s, &f, 1, 1); /* the run holds E1 only */
  gather(&c, s, &f);
  /* R0, R2, R3 (before E4, not published yet), then the mark. */
  assert_int_equal(c.n_records, 4);
  assert_int_equal(rejection_offset(&c, 0), 0);
  assert_int_equal(rejection_offset(&c, 1), 2);
  assert_int_equal(rejection_offset(&c, 2), 3);
  ll_chg_mark m = mark_of(&c, 3);
  assert_int_equal(m.offset, 3);
  assert_int_equal(m.position, 1);
  assert_int_equal(m.n_entries, 1);
  assert_int_equal(m.entries[0].offset, 1);
  assert_int_equal(m.entries[0].recorded_at_ms, T0_MS + 1);
  ll_chg_mark_free(&m);
  pub_chg_committed(&c);
  assert_int_equal(pub_chg_covered(&c, 0), 1);
  free_run(&f);

  read_run(s, &f, 2, BATCH_MAX); /* E4 */
  gather(&c, s, &f);
  assert_int_equal(c.n_records, 2); /* R5, then the mark */
  assert_int_equal(rejection_offset(&c, 0), 5);
  m = mark_of(&c, 1);
  assert_int_equal(m.offset, 5);
  assert_int_equal(m.position, 2);
  assert_int_equal(m.n_entries, 1);
  assert_int_equal(m.entries[0].offset, 4);
  ll_chg_mark_free(&m);
  pub_chg_committed(&c);
  free_run(&f);

  /* Nothing new: nothing written. */
  read_run(s, &f, 3, BATCH_MAX);
  gather(&c, s, &f);
  assert_int_equal(c.n_records, 0);
  pub_chg_free(&c);
  ll_store_close(s);
}

static void test_tasks_without_news_or_behind_write_nothing(void **state) {
  log_fixture *lf = *state;
  ll_store *s = log_open_ok(lf->dir, LL_STORE_PRIMARY);
  decide(s, 1, 0, false); /* task 1: behind what Kafka holds */
  decide(s, 2, 0, false); /* task 2: another instance's */
  decide(s, 0, 0, false); /* task 0: rejections only */
  decide(s, 0, 1, false);
  pub_changelog c;
  start(&c);
  run_fixture f = {.mine = {true, true, false}};
  f.staged[1] = 5; /* lots.events holds 1..5 of task 1; this log none */
  gather(&c, s, &f);
  assert_int_equal(c.n_records, 3); /* task 0: R0, R1, a mark at 0 */
  for (size_t i = 0; i < c.n_records; i++)
    assert_int_equal(c.records[i].partition, 0);
  ll_chg_mark m = mark_of(&c, 2);
  assert_int_equal(m.offset, 1);
  assert_int_equal(m.position, 0);
  assert_int_equal(m.n_entries, 0);
  ll_chg_mark_free(&m);
  pub_chg_committed(&c);
  assert_int_equal(pub_chg_covered(&c, 0), 0);
  assert_int_equal(pub_chg_covered(&c, 1), -1);
  pub_chg_free(&c);
  ll_store_close(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_marks_cover_what_the_run_holds,
                                      log_fixture_setup, log_fixture_teardown),
      cmocka_unit_test_setup_teardown(
          test_tasks_without_news_or_behind_write_nothing, log_fixture_setup,
          log_fixture_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
