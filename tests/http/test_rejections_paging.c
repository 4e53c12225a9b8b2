/* test_rejections_paging.c — GET /v1/rejections a page at a time
 * (services/http/api_rejections.c).
 *
 * The log store keeps rejections by sequence, which is not their order
 * across partitions: a partition whose clock runs behind stores its
 * rejections later than newer ones of another. Paging with next_before
 * must still list every rejection exactly once, newest first by
 * (rejected_at, partition, offset), whatever the page size, also after
 * more were stored (the API's index of them catches up) and with a
 * partition that has entries and no rejection. A bad cursor is a 400
 * that says what it takes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "api_internal.h"
#include "support.h"

#define ROWS 1500 /* more than the API reads from the store at once */
#define PARTITIONS 3
#define BASE_MS 1796083200000LL /* 2026-12-01T00:00:00Z */

static ts_api_fixture F;

typedef struct row {
  int64_t at_ms;
  int32_t partition;
  int64_t offset;
} row;

#define LATER 40 /* stored after the first pages */

static row rows[ROWS + LATER];
static size_t n_rows = ROWS;
static int64_t clock_ms[PARTITIONS] = {BASE_MS + 50000, BASE_MS,
                                       BASE_MS + 20000};
static int64_t next_offset[PARTITIONS];

/* Rejections in batches of a few per partition, each partition's clock
 * moving forward at its own pace, so the store's order (sequence) mixes
 * the newest of one partition with older ones of another. */
static void store_rejections(size_t from, size_t to) {
  static const int64_t step[PARTITIONS] = {700, 1900, 300};
  for (size_t i = from; i < to; i++) {
    int32_t p = (int32_t)((i / 4) % PARTITIONS);
    clock_ms[p] += step[p] * (i % 3 == 0 ? 0 : 1); /* some equal times */
    rows[i] = (row){clock_ms[p], p, next_offset[p]++};
    ll_store_batch *b = ll_store_batch_begin(F.store);
    char id[32], message[64];
    snprintf(id, sizeof id, "ev-%zu", i);
    snprintf(message, sizeof message, "rejection %zu", i);
    ll_stored_rejection r = {.rejected_at_ms = rows[i].at_ms,
                             .event_id = id,
                             .code = LL_INVALID_QUANTITY,
                             .message = message,
                             .topic = "lots.inbound",
                             .partition = p,
                             .offset = rows[i].offset};
    ll_store_batch_reject(b, &r);
    ll_err err = {0};
    assert_int_equal(ll_store_batch_commit(b, false, &err), 0);
  }
}

/* Partition 3 decides entries but rejects nothing. */
static void store_entry_of_partition_3(void) {
  ll_store_batch *b = ll_store_batch_begin(F.store);
  ll_event ev;
  ll_event_init(&ev);
  ev.type = LL_EV_LOT_CREATED;
  ev.event_id = "created-1";
  ev.product_id = "P-3";
  ev.lot_id = "L-3";
  ev.name = "L-3";
  ev.tracking = LL_TRACK_LOT;
  ev.occurred_at_ms = BASE_MS + 90000;
  ll_input in = {"lots.inbound", 3, 0};
  ll_store_batch_append(b, &ev, &in, ev.occurred_at_ms);
  ll_err err = {0};
  assert_int_equal(ll_store_batch_commit(b, false, &err), 0);
}

static int setup(void **state) {
  (void)state;
  if (ts_fixture_open(&F, "paging", false) != 0)
    return -1;
  store_rejections(0, ROWS);
  return ts_fixture_start_api(&F,
                              (ll_api_deps){.inbound_topic = "lots.inbound"});
}

static int teardown(void **state) {
  (void)state;
  ts_fixture_close(&F);
  return 0;
}

static ts_resp get(const char *path) {
  char url[512];
  snprintf(url, sizeof url, "%s%s", F.base_url, path);
  return ts_send(&(ts_request){.url = url}, NULL);
}

/* The expected order: newest first by (rejected_at, partition, offset). */
static int newest_first(const void *a, const void *b) {
  const row *x = a, *y = b;
  api_rejection_key kx = {x->at_ms, x->partition, x->offset};
  api_rejection_key ky = {y->at_ms, y->partition, y->offset};
  return api_rejection_key_compare(&kx, &ky);
}

/* Page through with limit; every row once, in order. */
static void page_through(size_t limit) {
  row want[ROWS + LATER];
  memcpy(want, rows, n_rows * sizeof *want);
  qsort(want, n_rows, sizeof *want, newest_first);
  char before[API_REJECTION_KEY_MAX_BYTES] = "";
  size_t seen = 0, pages = 0;
  for (;;) {
    char path[256];
    snprintf(path, sizeof path, "/v1/rejections?limit=%zu%s%s", limit,
             before[0] ? "&before=" : "", before);
    ts_resp r = get(path);
    assert_int_equal(r.status, 200);
    const json_t *list = ts_jarr(r.json, "rejections");
    assert_true(json_array_size(list) <= limit);
    for (size_t i = 0; i < json_array_size(list); i++, seen++) {
      assert_true(seen < n_rows);
      const json_t *j = json_array_get(list, i);
      assert_int_equal(ts_jint(j, "partition"), want[seen].partition);
      assert_int_equal(ts_jint(j, "offset"), want[seen].offset);
    }
    pages++;
    if (ts_jnull(r.json, "next_before")) {
      ts_resp_free(&r);
      break;
    }
    snprintf(before, sizeof before, "%s", ts_jstr(r.json, "next_before"));
    ts_resp_free(&r);
    assert_true(pages <= n_rows);
  }
  assert_int_equal(seen, n_rows);
  assert_int_equal(pages, (n_rows + limit - 1) / limit); /* no empty last */
}

static const size_t limits[] = {1, 7, 13, 299, 600, 1000};

static void test_pages_list_every_rejection_once_in_order(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
    page_through(limits[i]);
}

/* Entries of a partition without rejections, and rejections stored
 * after the first pages were read: the pages take them in. */
static void test_stored_since(void **state) {
  (void)state;
  store_entry_of_partition_3();
  store_rejections(ROWS, ROWS + LATER);
  n_rows = ROWS + LATER;
  for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
    page_through(limits[i]);
}

static void test_bad_cursor_is_400(void **state) {
  (void)state;
  static const char *bad[] = {"x",
                              "1:2",
                              "1:2:3:4",
                              "-1:0:0",
                              "1:-2:3",
                              "1:2:",
                              "01:2:3",
                              "1:99999999999:3",
                              "99999999999999999999:0:0"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char path[128];
    snprintf(path, sizeof path, "/v1/rejections?before=%s", bad[i]);
    ts_resp r = get(path);
    assert_int_equal(r.status, 400);
    assert_string_equal(ts_jstr(r.json, "code"), "BAD_REQUEST");
    assert_non_null(strstr(ts_jstr(r.json, "message"), "next_before"));
    ts_resp_free(&r);
  }
}

/* The cursor's text reads back as the key it was made of. */
static void test_key_text_round_trips(void **state) {
  (void)state;
  static const api_rejection_key keys[] = {
      {0, 0, 0}, {BASE_MS, 3, 41}, {INT64_MAX, INT32_MAX, INT64_MAX}};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    char text[API_REJECTION_KEY_MAX_BYTES];
    api_rejection_key back;
    api_rejection_key_format(&keys[i], text);
    assert_true(api_rejection_key_parse(text, &back));
    assert_int_equal(api_rejection_key_compare(&keys[i], &back), 0);
  }
  api_rejection_key a = {BASE_MS, 1, 5}, b = {BASE_MS, 2, 0};
  assert_true(api_rejection_key_compare(&b, &a) < 0); /* partition breaks */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pages_list_every_rejection_once_in_order),
      cmocka_unit_test(test_stored_since),
      cmocka_unit_test(test_bad_cursor_is_400),
      cmocka_unit_test(test_key_text_round_trips),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
