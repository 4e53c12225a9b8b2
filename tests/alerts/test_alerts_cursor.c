/* test_alerts_cursor.c — the cursor over lots.alerts and the order of a
 * page of every instance's alerts (services/alerts/alerts_cursor.c).
 *
 * A client follows the alerts of a cluster with next_since, whichever
 * instance it asks: the text must read back as the same offsets, a
 * malformed one must be refused (a 400, never a silent restart from the
 * start), and a page must take of each partition only a prefix, oldest
 * head first, so that following page after page lists every alert once,
 * also when a partition's timestamps go back (two publishers, clocks
 * apart). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alerts.h"
#include "ll_mem.h"

static void test_text_round_trips(void **state) {
  (void)state;
  static const char *texts[] = {
      "0:0", "0:12", "1:7", "0:12,3:7", "2:1,5:9223372036854775807", "1023:4"};
  ll_alerts_cursor *c = ll_xcalloc(1, sizeof *c);
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    assert_true(ll_alerts_cursor_parse(texts[i], c));
    char *back = ll_alerts_cursor_format(c);
    assert_string_equal(back, texts[i]);
    free(back);
  }
  assert_true(ll_alerts_cursor_parse("0:12,3:7", c));
  assert_int_equal(c->next[0], 12);
  assert_int_equal(c->next[3], 7);
  assert_int_equal(c->next[1], 0);
  free(c);
}

static void test_malformed_text_is_refused(void **state) {
  (void)state;
  static const char *bad[] = {"",        "0",
                              "0:",      ":1",
                              "0:1,",    "0:1,,1:2",
                              "1:2,0:1", "1:2,1:3",
                              "-1:2",    "1:-2",
                              "01:2",    "1:02",
                              "1024:0",  "0:9223372036854775808",
                              "0:1;1:2", "0:1 ",
                              "a:b"};
  ll_alerts_cursor *c = ll_xcalloc(1, sizeof *c);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (ll_alerts_cursor_parse(bad[i], c))
      fail_msg("accepted \"%s\"", bad[i]);
  free(c);
}

static ll_alert placed(int32_t partition, int64_t offset, int64_t at_ms) {
  return (ll_alert){.partition = partition,
                    .offset = offset,
                    .emitted_at_ms = at_ms,
                    .product_id = ll_strdup("P"),
                    .lot_id = ll_strdup("L")};
}

/* Partition 0's second record is older than its first (another
 * publisher's clock): the page still takes partition 0 in offset order. */
static void test_page_takes_prefixes_oldest_head_first(void **state) {
  (void)state;
  ll_alert rows[] = {placed(0, 4, 100), placed(0, 5, 50), placed(0, 6, 400),
                     placed(2, 0, 200), placed(2, 1, 300)};
  ll_alerts_cursor *c = ll_xcalloc(1, sizeof *c);
  c->next[0] = 4;
  size_t n = ll_alerts_merge_placed(rows, 5, 4, c);
  assert_int_equal(n, 4);
  static const struct {
    int32_t partition;
    int64_t offset;
  } want[] = {{0, 4}, {0, 5}, {2, 0}, {2, 1}};
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(rows[i].partition, want[i].partition);
    assert_int_equal(rows[i].offset, want[i].offset);
  }
  assert_int_equal(c->next[0], 6); /* (0, 6) is the next page's */
  assert_int_equal(c->next[2], 2);
  char *text = ll_alerts_cursor_format(c);
  assert_string_equal(text, "0:6,2:2");
  free(text);
  for (size_t i = 0; i < n; i++) {
    free(rows[i].product_id);
    free(rows[i].lot_id);
  }
  free(c);
}

/* Equal timestamps: the lower partition first; an empty page leaves the
 * cursor as it was. */
static void test_ties_and_empty_pages(void **state) {
  (void)state;
  ll_alert rows[] = {placed(1, 0, 100), placed(3, 0, 100)};
  ll_alerts_cursor *c = ll_xcalloc(1, sizeof *c);
  size_t n = ll_alerts_merge_placed(rows, 2, 1, c);
  assert_int_equal(n, 1);
  assert_int_equal(rows[0].partition, 1);
  free(rows[0].product_id);
  free(rows[0].lot_id);
  n = ll_alerts_merge_placed(NULL, 0, 10, c);
  assert_int_equal(n, 0);
  char *text = ll_alerts_cursor_format(c);
  assert_string_equal(text, "1:1");
  free(text);
  free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_text_round_trips),
      cmocka_unit_test(test_malformed_text_is_refused),
      cmocka_unit_test(test_page_takes_prefixes_oldest_head_first),
      cmocka_unit_test(test_ties_and_empty_pages),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
