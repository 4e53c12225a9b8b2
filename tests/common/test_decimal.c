/* test_decimal.c — the one decimal type (common/ll_decimal.c).
 *
 * Quantities arrive as text (HTTP, CLI) and as Avro decimal bytes (Kafka);
 * both must be exact and strict: anything that is not plainly a decimal
 * with at most 6 places is refused rather than rounded or guessed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ll_decimal.h"

typedef struct parse_case {
  const char *text;
  ll_decimal_status status;
  int64_t micro;
  const char *canonical; /* ll_decimal_format of micro; NULL = text */
} parse_case;

static void test_parse_table(void **state) {
  (void)state;
  static const parse_case cases[] = {
      {"0", LL_DEC_OK, 0, NULL},
      {"1", LL_DEC_OK, 1000000, NULL},
      {"1.5", LL_DEC_OK, 1500000, NULL},
      {"1.500000", LL_DEC_OK, 1500000, "1.5"},
      {"-0.000001", LL_DEC_OK, -1, NULL},
      {"0.000001", LL_DEC_OK, 1, NULL},
      {"-0", LL_DEC_OK, 0, "0"},
      {"007.25", LL_DEC_OK, 7250000, "7.25"},
      {"123456.789012", LL_DEC_OK, 123456789012, NULL},
      {"9223372036854.775807", LL_DEC_OK, INT64_MAX, NULL},
      {"-9223372036854.775808", LL_DEC_OK, INT64_MIN, NULL},
      {"00000000000000000000000001", LL_DEC_OK, 1000000, "1"},
      /* Overflow, by one micro-unit either way. */
      {"9223372036854.775808", LL_DEC_OVERFLOW, 0, NULL},
      {"-9223372036854.775809", LL_DEC_OVERFLOW, 0, NULL},
      {"9223372036855", LL_DEC_OVERFLOW, 0, NULL},
      {"99999999999999999999999", LL_DEC_OVERFLOW, 0, NULL},
      /* Scale. */
      {"1.0000001", LL_DEC_SCALE, 0, NULL},
      {"0.1234567", LL_DEC_SCALE, 0, NULL},
      /* Syntax. */
      {"", LL_DEC_SYNTAX, 0, NULL},
      {"-", LL_DEC_SYNTAX, 0, NULL},
      {".", LL_DEC_SYNTAX, 0, NULL},
      {".5", LL_DEC_SYNTAX, 0, NULL},
      {"-.5", LL_DEC_SYNTAX, 0, NULL},
      {"5.", LL_DEC_SYNTAX, 0, NULL},
      {"+5", LL_DEC_SYNTAX, 0, NULL},
      {"--5", LL_DEC_SYNTAX, 0, NULL},
      {" 5", LL_DEC_SYNTAX, 0, NULL},
      {"5 ", LL_DEC_SYNTAX, 0, NULL},
      {"1 000", LL_DEC_SYNTAX, 0, NULL},
      {"1,5", LL_DEC_SYNTAX, 0, NULL},
      {"1.2.3", LL_DEC_SYNTAX, 0, NULL},
      {"1e3", LL_DEC_SYNTAX, 0, NULL},
      {"1E-3", LL_DEC_SYNTAX, 0, NULL},
      {"0x10", LL_DEC_SYNTAX, 0, NULL},
      {"NaN", LL_DEC_SYNTAX, 0, NULL},
      {"nan", LL_DEC_SYNTAX, 0, NULL},
      {"inf", LL_DEC_SYNTAX, 0, NULL},
      {"-Infinity", LL_DEC_SYNTAX, 0, NULL},
      {"1.5\n", LL_DEC_SYNTAX, 0, NULL},
      {"\xd9\xa1", LL_DEC_SYNTAX, 0, NULL}, /* Arabic-Indic digit one */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const parse_case *c = &cases[i];
    int64_t micro = 42;
    ll_decimal_status st = ll_decimal_parse(c->text, &micro);
    if (st != c->status)
      fail_msg("parse \"%s\": status %d, expected %d", c->text, st, c->status);
    if (st != LL_DEC_OK) {
      if (micro != 42)
        fail_msg("parse \"%s\" failed but wrote its output", c->text);
      continue;
    }
    if (micro != c->micro)
      fail_msg("parse \"%s\": %lld, expected %lld", c->text, (long long)micro,
               (long long)c->micro);
    char out[LL_DECIMAL_STR_MAX];
    const char *want = c->canonical ? c->canonical : c->text;
    assert_string_equal(ll_decimal_format(micro, out), want);
  }
  assert_int_equal(ll_decimal_parse(NULL, &(int64_t){0}), LL_DEC_SYNTAX);
}

static void test_format_round_trips(void **state) {
  (void)state;
  static const int64_t values[] = {0,
                                   1,
                                   -1,
                                   10,
                                   100000,
                                   999999,
                                   1000000,
                                   1000001,
                                   -1000001,
                                   12345678901,
                                   INT64_MAX,
                                   INT64_MIN,
                                   INT64_MAX - 1,
                                   INT64_MIN + 1};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    char out[LL_DECIMAL_STR_MAX];
    int64_t back = 0;
    ll_decimal_format(values[i], out);
    assert_int_equal(ll_decimal_parse(out, &back), LL_DEC_OK);
    assert_int_equal(back, values[i]);
    assert_true(strlen(out) < LL_DECIMAL_STR_MAX);
  }
  char out[LL_DECIMAL_STR_MAX];
  assert_string_equal(ll_decimal_format(INT64_MIN, out),
                      "-9223372036854.775808");
  assert_string_equal(ll_decimal_format(100000, out), "0.1");
  assert_string_equal(ll_decimal_format(-2000000, out), "-2");
}

static void test_checked_arithmetic(void **state) {
  (void)state;
  int64_t r = 7;
  assert_true(ll_decimal_add(1500000, 2500000, &r));
  assert_int_equal(r, 4000000);
  assert_true(ll_decimal_sub(1, 2, &r));
  assert_int_equal(r, -1);
  assert_true(ll_decimal_add(INT64_MAX - 1, 1, &r));
  assert_int_equal(r, INT64_MAX);
  r = 7;
  assert_false(ll_decimal_add(INT64_MAX, 1, &r));
  assert_int_equal(r, 7); /* untouched on overflow */
  assert_false(ll_decimal_add(INT64_MIN, -1, &r));
  assert_false(ll_decimal_sub(INT64_MIN, 1, &r));
  assert_false(ll_decimal_sub(0, INT64_MIN, &r));
  assert_true(ll_decimal_sub(-1, INT64_MAX, &r));
  assert_int_equal(r, INT64_MIN);
}

typedef struct avro_case {
  int64_t micro;
  size_t len;
  uint8_t bytes[8];
} avro_case;

static void test_avro_bytes(void **state) {
  (void)state;
  static const avro_case cases[] = {
      {0, 1, {0x00}},
      {1, 1, {0x01}},
      {-1, 1, {0xFF}},
      {127, 1, {0x7F}},
      {128, 2, {0x00, 0x80}},
      {-128, 1, {0x80}},
      {-129, 2, {0xFF, 0x7F}},
      {1500000, 3, {0x16, 0xE3, 0x60}},
      {-1500000, 3, {0xE9, 0x1C, 0xA0}},
      {INT64_MAX, 8, {0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}},
      {INT64_MIN, 8, {0x80, 0, 0, 0, 0, 0, 0, 0}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const avro_case *c = &cases[i];
    uint8_t out[8];
    size_t n = ll_decimal_to_avro(c->micro, out);
    assert_int_equal(n, c->len);
    assert_memory_equal(out, c->bytes, n);
    int64_t back = 0;
    assert_true(ll_decimal_from_avro(c->bytes, c->len, &back));
    assert_int_equal(back, c->micro);
  }
}

static void test_avro_bytes_longer_forms(void **state) {
  (void)state;
  int64_t v = 0;
  /* Redundant sign bytes are fine, whatever the length. */
  const uint8_t pos[] = {0x00, 0x00, 0x00, 0x16, 0xE3, 0x60};
  assert_true(ll_decimal_from_avro(pos, sizeof pos, &v));
  assert_int_equal(v, 1500000);
  const uint8_t neg9[] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
  assert_true(ll_decimal_from_avro(neg9, sizeof neg9, &v));
  assert_int_equal(v, -1);
  const uint8_t min9[] = {0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0};
  assert_true(ll_decimal_from_avro(min9, sizeof min9, &v));
  assert_int_equal(v, INT64_MIN);
  /* Values that do not fit in int64. */
  v = 5;
  const uint8_t big[] = {0x00, 0x80, 0, 0, 0, 0, 0, 0, 0}; /* 2^63 */
  assert_false(ll_decimal_from_avro(big, sizeof big, &v));
  const uint8_t small[] = {0xFF, 0x7F, 0xFF, 0xFF, 0xFF,
                           0xFF, 0xFF, 0xFF, 0xFF}; /* -2^63 - 1 */
  assert_false(ll_decimal_from_avro(small, sizeof small, &v));
  const uint8_t wide[] = {0x01, 0, 0, 0, 0, 0, 0, 0, 0};
  assert_false(ll_decimal_from_avro(wide, sizeof wide, &v));
  assert_int_equal(v, 5);
  assert_false(ll_decimal_from_avro(pos, 0, &v));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_table),
      cmocka_unit_test(test_format_round_trips),
      cmocka_unit_test(test_checked_arithmetic),
      cmocka_unit_test(test_avro_bytes),
      cmocka_unit_test(test_avro_bytes_longer_forms),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
