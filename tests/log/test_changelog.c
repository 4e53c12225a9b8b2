/* test_changelog.c — the records of lots.changelog (ll_changelog.c) and
 * the store's rejections in task order (ll_store_changelog.c): a record
 * reads back exactly as written, anything else (another version, trailing
 * or missing bytes, a mark claiming more entries than its position) is
 * refused, and the publisher finds a task's rejections in input offset
 * order, bounded on both sides, other tasks' left out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "ll_changelog.h"
#include "ll_store.h"
#include "log_fixture.h"

static const uint8_t seen_key[] = {'e', 'P', 0x1f, 1, 2, 3};
static const uint8_t seen_value[] = {9, 8, 7, 6};

static ll_chg_rejection sample_rejection(void) {
  return (ll_chg_rejection){.offset = 41,
                            .rejected_at_ms = 1700000000123,
                            .event_id = "ev-7",
                            .code = LL_INSUFFICIENT_STOCK,
                            .message = "only 3 at WH1",
                            .seen_key = (uint8_t *)seen_key,
                            .seen_key_len = sizeof seen_key,
                            .seen_value = (uint8_t *)seen_value,
                            .seen_value_len = sizeof seen_value};
}

static void test_rejection_round_trip(void **state) {
  (void)state;
  ll_buf b;
  ll_buf_init(&b);
  ll_chg_rejection in = sample_rejection(), out;
  ll_chg_encode_rejection(&b, &in);
  assert_int_equal(b.data[0], LL_CHANGELOG_VERSION);
  assert_int_equal(ll_chg_kind(b.data, b.len), LL_CHANGELOG_REJECTION);
  assert_true(ll_chg_decode_rejection(b.data, b.len, &out));
  assert_int_equal(out.offset, 41);
  assert_int_equal(out.rejected_at_ms, 1700000000123);
  assert_string_equal(out.event_id, "ev-7");
  assert_int_equal(out.code, LL_INSUFFICIENT_STOCK);
  assert_string_equal(out.message, "only 3 at WH1");
  assert_int_equal(out.seen_key_len, sizeof seen_key);
  assert_memory_equal(out.seen_key, seen_key, sizeof seen_key);
  assert_int_equal(out.seen_value_len, sizeof seen_value);
  assert_memory_equal(out.seen_value, seen_value, sizeof seen_value);
  assert_false(ll_chg_decode_mark(b.data, b.len, &(ll_chg_mark){0}));
  ll_chg_rejection_free(&out);
  /* A rejection remembered under no event id (a wire rejection). */
  ll_chg_rejection bare = {.offset = 0, .code = LL_MALFORMED, .message = "x"};
  ll_chg_encode_rejection(&b, &bare);
  assert_true(ll_chg_decode_rejection(b.data, b.len, &out));
  assert_null(out.event_id);
  assert_null(out.seen_key);
  assert_int_equal(out.seen_value_len, 0);
  ll_chg_rejection_free(&out);
  ll_buf_free(&b);
}

static void test_mark_round_trip(void **state) {
  (void)state;
  ll_chg_entry entries[] = {
      {10, 5000, 0}, {11, 5000, LL_ENTRY_LOT_ID_FILLED}, {15, 4999 + 7, 0}};
  ll_chg_mark in = {
      .offset = 17, .position = 9, .n_entries = 3, .entries = entries};
  ll_chg_mark out;
  ll_buf b;
  ll_buf_init(&b);
  ll_chg_encode_mark(&b, &in);
  assert_int_equal(ll_chg_kind(b.data, b.len), LL_CHANGELOG_MARK);
  assert_true(ll_chg_decode_mark(b.data, b.len, &out));
  assert_int_equal(out.offset, 17);
  assert_int_equal(out.position, 9);
  assert_int_equal(out.n_entries, 3);
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(out.entries[i].offset, entries[i].offset);
    assert_int_equal(out.entries[i].recorded_at_ms, entries[i].recorded_at_ms);
    assert_int_equal(out.entries[i].flags, entries[i].flags);
  }
  ll_chg_mark_free(&out);
  /* A task with rejections only: its mark names position 0, no entry. */
  ll_chg_mark none = {.offset = 3, .position = 0};
  ll_chg_encode_mark(&b, &none);
  assert_true(ll_chg_decode_mark(b.data, b.len, &out));
  assert_int_equal(out.position, 0);
  assert_int_equal(out.n_entries, 0);
  ll_chg_mark_free(&out);
  ll_buf_free(&b);
}

static void test_bad_records_are_refused(void **state) {
  (void)state;
  ll_buf b;
  ll_buf_init(&b);
  ll_chg_rejection r = sample_rejection(), out;
  ll_chg_mark m;
  ll_chg_encode_rejection(&b, &r);
  ll_buf_put_u8(&b, 0); /* trailing */
  assert_false(ll_chg_decode_rejection(b.data, b.len, &out));
  ll_chg_encode_rejection(&b, &r);
  assert_false(ll_chg_decode_rejection(b.data, b.len - 1, &out)); /* short */
  b.data[0] = LL_CHANGELOG_VERSION + 1; /* a later version */
  assert_int_equal(ll_chg_kind(b.data, b.len), 0);
  assert_false(ll_chg_decode_rejection(b.data, b.len, &out));
  /* A flag this version does not know: the restore could not undo it. */
  ll_chg_entry odd = {1, 1, 0x80};
  ll_chg_mark flagged = {
      .offset = 1, .position = 1, .n_entries = 1, .entries = &odd};
  ll_chg_encode_mark(&b, &flagged);
  assert_false(ll_chg_decode_mark(b.data, b.len, &m));
  /* More entries than the task has positions. */
  ll_chg_entry e[2] = {{1, 1, 0}, {2, 2, 0}};
  ll_chg_mark bad = {.offset = 2, .position = 1, .n_entries = 2, .entries = e};
  ll_chg_encode_mark(&b, &bad);
  assert_false(ll_chg_decode_mark(b.data, b.len, &m));
  assert_int_equal(ll_chg_kind("", 0), 0);
  ll_buf_free(&b);
}

/* A version 1 mark (written before entries carried flags) is still read:
 * its entries' flags are 0. The bytes are built by hand, as version 1
 * wrote them. */
static void test_version_1_mark_is_read(void **state) {
  (void)state;
  ll_buf b;
  ll_buf_init(&b);
  ll_buf_put_u8(&b, LL_CHANGELOG_VERSION_NO_FLAGS);
  ll_buf_put_u8(&b, LL_CHANGELOG_MARK);
  ll_buf_put_svar(&b, 12); /* o */
  ll_buf_put_uvar(&b, 2);  /* n */
  ll_buf_put_uvar(&b, 2);  /* k */
  ll_buf_put_svar(&b, 10); /* entry 1: offset 10, clock 5000 */
  ll_buf_put_svar(&b, 5000);
  ll_buf_put_svar(&b, 2); /* entry 2: offset 12, clock 5003 */
  ll_buf_put_svar(&b, 3);
  ll_chg_mark out;
  assert_int_equal(ll_chg_kind(b.data, b.len), LL_CHANGELOG_MARK);
  assert_true(ll_chg_decode_mark(b.data, b.len, &out));
  assert_int_equal(out.n_entries, 2);
  assert_int_equal(out.entries[1].offset, 12);
  assert_int_equal(out.entries[1].recorded_at_ms, 5003);
  assert_int_equal(out.entries[0].flags, 0);
  assert_int_equal(out.entries[1].flags, 0);
  ll_chg_mark_free(&out);
  ll_buf_free(&b);
}

/* One batch rejecting the given offsets of partition p. */
static void reject_batch(ll_store *s, int32_t p, const int64_t *offsets,
                         size_t n) {
  ll_store_batch *b = ll_store_batch_begin(s);
  for (size_t i = 0; i < n; i++) {
    log_reject_malformed(b, p, offsets[i]);
    ll_chg_rejection c = {
        .offset = offsets[i], .code = LL_MALFORMED, .message = "bad bytes"};
    ll_store_batch_changelog(b, p, &c);
  }
  ll_err e = {0};
  if (ll_store_batch_commit(b, true, &e) != 0)
    fail_msg("commit: %s", e.message);
}

typedef struct seen_offsets {
  int64_t offsets[16];
  size_t n;
  size_t stop_after; /* 0: never */
} seen_offsets;

static int note_offset(void *ctx, int64_t offset, const void *record,
                       size_t len, ll_err *err) {
  (void)err;
  seen_offsets *s = ctx;
  ll_chg_rejection r;
  assert_true(ll_chg_decode_rejection(record, len, &r));
  assert_int_equal(r.offset, offset);
  ll_chg_rejection_free(&r);
  s->offsets[s->n++] = offset;
  return s->stop_after != 0 && s->n == s->stop_after ? 1 : 0;
}

static seen_offsets each(ll_store *s, int32_t p, int64_t after, int64_t before,
                         size_t stop_after) {
  seen_offsets seen = {.stop_after = stop_after};
  ll_err e = {0};
  if (ll_store_changelog_each(s, p, after, before, note_offset, &seen, &e) != 0)
    fail_msg("each: %s", e.message);
  return seen;
}

static void test_store_keeps_a_tasks_rejections_in_order(void **state) {
  log_fixture *f = *state;
  ll_store *s = log_open_ok(f->dir, LL_STORE_PRIMARY);
  reject_batch(s, 1, (int64_t[]){3, 300}, 2);
  reject_batch(s, 0, (int64_t[]){7}, 1);
  reject_batch(s, 1, (int64_t[]){301, 1000}, 2);
  ll_store_close(s);
  s = log_open_ok(f->dir, LL_STORE_PRIMARY); /* durable with the batch */
  seen_offsets all = each(s, 1, -1, -1, 0);
  assert_int_equal(all.n, 4);
  int64_t want[] = {3, 300, 301, 1000};
  for (size_t i = 0; i < 4; i++)
    assert_int_equal(all.offsets[i], want[i]);
  seen_offsets bounded = each(s, 1, 3, 1000, 0); /* 3 < offset < 1000 */
  assert_int_equal(bounded.n, 2);
  assert_int_equal(bounded.offsets[0], 300);
  assert_int_equal(bounded.offsets[1], 301);
  seen_offsets stopped = each(s, 1, -1, -1, 1);
  assert_int_equal(stopped.n, 1);
  seen_offsets other = each(s, 0, -1, -1, 0);
  assert_int_equal(other.n, 1);
  assert_int_equal(other.offsets[0], 7);
  assert_int_equal(each(s, 2, -1, -1, 0).n, 0);
  ll_store_close(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rejection_round_trip),
      cmocka_unit_test(test_mark_round_trip),
      cmocka_unit_test(test_bad_records_are_refused),
      cmocka_unit_test(test_version_1_mark_is_read),
      cmocka_unit_test_setup_teardown(
          test_store_keeps_a_tasks_rejections_in_order, log_fixture_setup,
          log_fixture_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
