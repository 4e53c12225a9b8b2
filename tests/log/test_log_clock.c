/* test_log_clock.c — the log clock never goes back.
 *
 * The command consumer stamps recorded_at and rejected_at from the Kafka
 * records' timestamps (services/command/command.c): the clock moves to a
 * record's timestamp only when that is later, and a restart resumes it
 * from the last stamps in the store. Each task (input partition) has its
 * own clock, so that a task decides the same whatever else its instance
 * holds. Here the rule itself, and the resume point across a close and
 * reopen, with entries and rejections taking turns at being the later
 * one, and another task's stamps leaving the clock alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "ll_event.h"
#include "ll_mem.h"
#include "ll_store.h"
#include "log_fixture.h"

#define T0_MS 1795000000000LL /* 2026-11-18T07:06:40Z */

static void test_advance_never_goes_back(void **state) {
  (void)state;
  int64_t clock = 0;
  clock = ll_log_clock_advance(clock, T0_MS);
  assert_int_equal(clock, T0_MS);
  /* An older record after a newer one: the clock stays. */
  clock = ll_log_clock_advance(clock, T0_MS - 60000);
  assert_int_equal(clock, T0_MS);
  /* A record without a timestamp (-1): the clock stays. */
  clock = ll_log_clock_advance(clock, -1);
  assert_int_equal(clock, T0_MS);
  clock = ll_log_clock_advance(clock, T0_MS + 1);
  assert_int_equal(clock, T0_MS + 1);
  /* Before any record with a timestamp the clock is what it resumed at. */
  assert_int_equal(ll_log_clock_advance(0, -1), 0);
}

static void append_stamped(ll_store *s, int32_t partition, const char *id,
                           int64_t at_ms) {
  ll_event ev;
  ll_event_init(&ev);
  ev.type = LL_EV_LOT_CREATED;
  ev.event_id = ll_strdup(id);
  ev.occurred_at_ms = T0_MS;
  ev.product_id = ll_strdup("P-1");
  ev.lot_id = ll_strdup(id);
  ev.name = ll_strdup(id);
  ev.tracking = LL_TRACK_LOT;
  ll_store_batch *b = ll_store_batch_begin(s);
  ll_input in = {"lots.inbound", partition, at_ms};
  ll_store_batch_append(b, &ev, &in, at_ms);
  ll_err err;
  assert_int_equal(ll_store_batch_commit(b, true, &err), 0);
  ll_event_free(&ev);
}

static void reject_stamped(ll_store *s, int64_t at_ms) {
  ll_stored_rejection r = {.rejected_at_ms = at_ms,
                           .code = LL_MALFORMED,
                           .message = "bad bytes",
                           .topic = "lots.inbound",
                           .partition = 0,
                           .offset = 7};
  ll_store_batch *b = ll_store_batch_begin(s);
  ll_store_batch_reject(b, &r);
  ll_err err;
  assert_int_equal(ll_store_batch_commit(b, true, &err), 0);
}

/* Where task 0's clock resumes after closing and reopening the store. */
static int64_t resume_after_restart(log_fixture *f, ll_store **s) {
  ll_store_close(*s);
  *s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  ll_task_last t;
  ll_store_task_last(*s, 0, &t);
  return t.clock_ms;
}

static void test_restart_resumes_the_clock(void **state) {
  log_fixture *f = *state;
  ll_store *s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  assert_int_equal(resume_after_restart(f, &s), 0); /* empty store */

  append_stamped(s, 0, "L-1", T0_MS);
  assert_int_equal(resume_after_restart(f, &s), T0_MS);
  /* The last rejection is later than the last entry. */
  reject_stamped(s, T0_MS + 5000);
  assert_int_equal(resume_after_restart(f, &s), T0_MS + 5000);
  /* The last entry is later again. */
  append_stamped(s, 0, "L-2", T0_MS + 9000);
  assert_int_equal(resume_after_restart(f, &s), T0_MS + 9000);
  /* Another task's later stamp is its own. */
  append_stamped(s, 3, "L-3", T0_MS + 60000);
  assert_int_equal(resume_after_restart(f, &s), T0_MS + 9000);
  ll_task_last t3;
  ll_store_task_last(s, 3, &t3);
  assert_int_equal(t3.clock_ms, T0_MS + 60000);
  assert_int_equal(t3.position, 1);

  /* After a restart an older record cannot stamp earlier than the store's
   * last stamp. */
  int64_t clock = ll_log_clock_advance(resume_after_restart(f, &s), T0_MS);
  assert_int_equal(clock, T0_MS + 9000);
  ll_store_close(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_advance_never_goes_back),
      cmocka_unit_test_setup_teardown(test_restart_resumes_the_clock,
                                      log_fixture_setup, log_fixture_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
