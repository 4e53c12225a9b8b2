/* test_text.c — text validation (common/ll_text.c).
 *
 * Names, ids and references end up in keys, JSON and Avro strings: they must
 * be well-formed UTF-8 with no control characters, and within their limits
 * counted in characters (code points), not bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ll_text.h"

typedef struct utf8_case {
  const char *what;
  const char *text;
  ll_text_status status;
} utf8_case;

static void test_utf8_table(void **state) {
  (void)state;
  static const utf8_case cases[] = {
      {"empty", "", LL_TEXT_OK},
      {"ascii", "WH/Stock/Shelf-2", LL_TEXT_OK},
      {"2-byte", "caf\xc3\xa9", LL_TEXT_OK},
      {"3-byte", "\xe2\x82\xac", LL_TEXT_OK},
      {"4-byte", "\xf0\x9f\x93\xa6", LL_TEXT_OK},
      {"U+0800 lowest 3-byte", "\xe0\xa0\x80", LL_TEXT_OK},
      {"U+D7FF below surrogates", "\xed\x9f\xbf", LL_TEXT_OK},
      {"U+E000 above surrogates", "\xee\x80\x80", LL_TEXT_OK},
      {"U+FFFD", "\xef\xbf\xbd", LL_TEXT_OK},
      {"U+10000 lowest 4-byte", "\xf0\x90\x80\x80", LL_TEXT_OK},
      {"U+10FFFF highest", "\xf4\x8f\xbf\xbf", LL_TEXT_OK},
      {"U+00A0 after C1", "\xc2\xa0", LL_TEXT_OK},
      {"overlong / (2)", "\xc0\xaf", LL_TEXT_BAD_UTF8},
      {"overlong NUL (2)", "\xc0\x80", LL_TEXT_BAD_UTF8},
      {"overlong C1 lead", "\xc1\xbf", LL_TEXT_BAD_UTF8},
      {"overlong / (3)", "\xe0\x80\xaf", LL_TEXT_BAD_UTF8},
      {"overlong U+07FF (3)", "\xe0\x9f\xbf", LL_TEXT_BAD_UTF8},
      {"overlong (4)", "\xf0\x8f\xbf\xbf", LL_TEXT_BAD_UTF8},
      {"surrogate D800", "\xed\xa0\x80", LL_TEXT_BAD_UTF8},
      {"surrogate DFFF", "\xed\xbf\xbf", LL_TEXT_BAD_UTF8},
      {"U+110000", "\xf4\x90\x80\x80", LL_TEXT_BAD_UTF8},
      {"F5 lead", "\xf5\x80\x80\x80", LL_TEXT_BAD_UTF8},
      {"FF byte", "a\xff", LL_TEXT_BAD_UTF8},
      {"lone continuation", "\x80", LL_TEXT_BAD_UTF8},
      {"truncated 2-byte", "caf\xc3", LL_TEXT_BAD_UTF8},
      {"truncated 3-byte", "\xe2\x82", LL_TEXT_BAD_UTF8},
      {"truncated 4-byte", "\xf0\x9f\x93", LL_TEXT_BAD_UTF8},
      {"cut by ASCII", "\xe2\x82z", LL_TEXT_BAD_UTF8},
      {"C0 SOH", "a\x01", LL_TEXT_CONTROL},
      {"C0 ESC", "\x1b[0m", LL_TEXT_CONTROL},
      {"unit separator", "a\x1f b", LL_TEXT_CONTROL},
      {"DEL", "a\x7f", LL_TEXT_CONTROL},
      {"C1 U+0080", "\xc2\x80", LL_TEXT_CONTROL},
      {"C1 NEL U+0085", "a\xc2\x85", LL_TEXT_CONTROL},
      {"C1 U+009F", "\xc2\x9f", LL_TEXT_CONTROL},
      {"newline", "a\nb", LL_TEXT_CONTROL},
      {"tab", "a\tb", LL_TEXT_CONTROL},
      /* Malformed wins over control: the more specific fault. */
      {"control then bad", "\x01\xff", LL_TEXT_BAD_UTF8},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ll_text_status st = ll_text_check(cases[i].text, 0, 0, false);
    if (st != cases[i].status)
      fail_msg("%s: status %d, expected %d", cases[i].what, st,
               cases[i].status);
  }
  assert_int_equal(ll_text_check(NULL, 5, 5, false), LL_TEXT_OK);
}

static void test_newlines_only_when_allowed(void **state) {
  (void)state;
  assert_int_equal(ll_text_check("a\nb\r\n\tc", 0, 0, true), LL_TEXT_OK);
  assert_int_equal(ll_text_check("a\nb", 0, 0, false), LL_TEXT_CONTROL);
  /* Other controls stay forbidden in descriptions. */
  assert_int_equal(ll_text_check("a\x0b", 0, 0, true), LL_TEXT_CONTROL);
  assert_int_equal(ll_text_check("a\x0c", 0, 0, true), LL_TEXT_CONTROL);
  assert_int_equal(ll_text_check("a\x7f", 0, 0, true), LL_TEXT_CONTROL);
  assert_int_equal(ll_text_check("\xc2\x85", 0, 0, true), LL_TEXT_CONTROL);
}

static char *repeat(const char *unit, size_t count) {
  size_t n = strlen(unit);
  char *s = malloc(n * count + 1);
  for (size_t i = 0; i < count; i++)
    memcpy(s + i * n, unit, n);
  s[n * count] = '\0';
  return s;
}

static void test_limits(void **state) {
  (void)state;
  /* Characters are code points: 255 of "é" is 510 bytes but fine. */
  char *a255 = repeat("a", 255), *a256 = repeat("a", 256);
  char *e255 = repeat("\xc3\xa9", 255), *e256 = repeat("\xc3\xa9", 256);
  char *box255 = repeat("\xf0\x9f\x93\xa6", 255);
  assert_int_equal(ll_text_check(a255, 255, 0, false), LL_TEXT_OK);
  assert_int_equal(ll_text_check(a256, 255, 0, false), LL_TEXT_TOO_LONG);
  assert_int_equal(ll_text_check(e255, 255, 0, false), LL_TEXT_OK);
  assert_int_equal(ll_text_check(e256, 255, 0, false), LL_TEXT_TOO_LONG);
  assert_int_equal(ll_text_check(box255, 255, 0, false), LL_TEXT_OK);
  assert_int_equal(ll_text_chars(box255), 255);
  assert_int_equal(ll_text_chars(e256), 256);
  /* Bytes are bytes. */
  assert_int_equal(ll_text_check(e255, 0, 510, false), LL_TEXT_OK);
  assert_int_equal(ll_text_check(e255, 0, 509, false), LL_TEXT_TOO_LONG);
  /* Both limits at once: either one can fail. */
  assert_int_equal(ll_text_check(e255, 300, 300, false), LL_TEXT_TOO_LONG);
  /* A too long text that is also malformed is reported as malformed. */
  char *bad = repeat("a", 300);
  bad[299] = '\x01';
  assert_int_equal(ll_text_check(bad, 255, 0, false), LL_TEXT_CONTROL);
  assert_int_equal(ll_text_chars(""), 0);
  assert_int_equal(ll_text_chars(NULL), 0);
  free(a255);
  free(a256);
  free(e255);
  free(e256);
  free(box255);
  free(bad);
}

static void test_trim_and_blank(void **state) {
  (void)state;
  char *t = ll_text_trim_dup("  \t Lot 42 \r\n");
  assert_string_equal(t, "Lot 42");
  free(t);
  t = ll_text_trim_dup("inner  space");
  assert_string_equal(t, "inner  space");
  free(t);
  t = ll_text_trim_dup(" \v\f ");
  assert_string_equal(t, "");
  free(t);
  t = ll_text_trim_dup("");
  assert_string_equal(t, "");
  free(t);
  /* Only ASCII white space is trimmed; U+00A0 is a character. */
  t = ll_text_trim_dup("\xc2\xa0x\xc2\xa0");
  assert_string_equal(t, "\xc2\xa0x\xc2\xa0");
  free(t);
  assert_null(ll_text_trim_dup(NULL));

  assert_true(ll_text_blank(NULL));
  assert_true(ll_text_blank(""));
  assert_true(ll_text_blank(" \t\r\n"));
  assert_false(ll_text_blank(" x "));
  assert_false(ll_text_blank("\xc2\xa0"));
}

/* The counts of cursors and tokens: digits only, no leading zero, bounded;
 * the position moves past them only when they are taken. */
static void test_parse_count(void **state) {
  (void)state;
  int64_t v = -1;
  const char *p = "1234:5";
  assert_true(ll_text_parse_count(&p, INT64_MAX, &v));
  assert_int_equal(v, 1234);
  assert_string_equal(p, ":5");
  p = "0";
  assert_true(ll_text_parse_count(&p, 10, &v));
  assert_int_equal(v, 0);
  assert_string_equal(p, "");
  p = "9223372036854775807";
  assert_true(ll_text_parse_count(&p, INT64_MAX, &v));
  assert_true(v == INT64_MAX);
  static const char *const refused[] = {
      "", "-1", "+1", "01", ":", "x1", "9223372036854775808"};
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    p = refused[i];
    assert_false(ll_text_parse_count(&p, INT64_MAX, &v));
    assert_ptr_equal(p, refused[i]);
  }
  p = "1024";
  assert_false(ll_text_parse_count(&p, 1023, &v)); /* above max */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_utf8_table),
      cmocka_unit_test(test_newlines_only_when_allowed),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_trim_and_blank),
      cmocka_unit_test(test_parse_count),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
