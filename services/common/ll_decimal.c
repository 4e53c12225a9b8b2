/* ll_decimal.c — the one decimal type: int64 micro-units, scale 6.
 *
 * Parsing runs in two passes: first the grammar is checked over the whole
 * string (so "1.2.3" is a syntax error, not an overflow), then the digits
 * are accumulated as an unsigned magnitude with overflow checks. The
 * magnitude limit is INT64_MAX for positive values and INT64_MAX + 1 for
 * negative ones, so every int64 micro value, INT64_MIN included, parses and
 * formats back to the same string.
 *
 * Avro decimals are the big-endian two's complement of the unscaled value;
 * with scale 6 that is the micro value itself. Inputs longer than 8 bytes
 * are accepted when the extra leading bytes are pure sign extension. */
#include "ll_decimal.h"

#include <assert.h>
#include <string.h>

#define DECIMAL_SCALE 6
#define MICRO_PER_UNIT 1000000ULL

static bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

/* Grammar: '-'? digit+ ('.' digit{1,}) ; more than 6 fraction digits is a
 * scale error rather than a syntax error so callers can say why. */
static ll_decimal_status check_grammar(const char *s, size_t *int_digits,
                                       size_t *frac_digits) {
  const char *p = s;
  if (*p == '-')
    p++;
  const char *int_start = p;
  while (is_digit(*p))
    p++;
  *int_digits = (size_t)(p - int_start);
  *frac_digits = 0;
  if (*int_digits == 0)
    return LL_DEC_SYNTAX;
  if (*p == '.') {
    p++;
    const char *frac_start = p;
    while (is_digit(*p))
      p++;
    *frac_digits = (size_t)(p - frac_start);
    if (*frac_digits == 0)
      return LL_DEC_SYNTAX;
  }
  if (*p != '\0')
    return LL_DEC_SYNTAX;
  if (*frac_digits > DECIMAL_SCALE)
    return LL_DEC_SCALE;
  return LL_DEC_OK;
}

ll_decimal_status ll_decimal_parse(const char *s, int64_t *micro_out) {
  if (!s)
    return LL_DEC_SYNTAX;
  size_t int_digits, frac_digits;
  ll_decimal_status st = check_grammar(s, &int_digits, &frac_digits);
  if (st != LL_DEC_OK)
    return st;

  bool negative = s[0] == '-';
  const char *p = negative ? s + 1 : s;
  uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  uint64_t magnitude = 0;
  /* Integer digits, then fraction digits padded with zeros to scale 6: the
   * result is the value in micro-units. */
  for (size_t i = 0; i < int_digits + DECIMAL_SCALE; i++) {
    unsigned digit = 0;
    if (i < int_digits) {
      digit = (unsigned)(p[i] - '0');
    } else {
      size_t f = i - int_digits;
      digit = f < frac_digits ? (unsigned)(p[int_digits + 1 + f] - '0') : 0;
    }
    if (magnitude > (limit - digit) / 10)
      return LL_DEC_OVERFLOW;
    magnitude = magnitude * 10 + digit;
  }
  assert(magnitude <= limit);
  *micro_out = negative ? (int64_t)(0 - magnitude) : (int64_t)magnitude;
  return LL_DEC_OK;
}

char *ll_decimal_format(int64_t micro, char *out) {
  /* Work on the unsigned magnitude so INT64_MIN needs no special case. */
  uint64_t magnitude = micro < 0 ? 0 - (uint64_t)micro : (uint64_t)micro;
  uint64_t whole = magnitude / MICRO_PER_UNIT;
  uint64_t frac = magnitude % MICRO_PER_UNIT;
  char digits[24];
  size_t n = 0;
  do {
    digits[n++] = (char)('0' + whole % 10);
    whole /= 10;
  } while (whole > 0);

  size_t o = 0;
  if (micro < 0)
    out[o++] = '-';
  while (n > 0)
    out[o++] = digits[--n];
  if (frac > 0) {
    char f[DECIMAL_SCALE];
    for (int i = DECIMAL_SCALE - 1; i >= 0; i--) {
      f[i] = (char)('0' + frac % 10);
      frac /= 10;
    }
    int last = DECIMAL_SCALE - 1;
    while (f[last] == '0')
      last--;
    out[o++] = '.';
    for (int i = 0; i <= last; i++)
      out[o++] = f[i];
  }
  out[o] = '\0';
  assert(o < LL_DECIMAL_STR_MAX);
  return out;
}

bool ll_decimal_add(int64_t a, int64_t b, int64_t *out) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r))
    return false;
  *out = r;
  return true;
}

bool ll_decimal_sub(int64_t a, int64_t b, int64_t *out) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r))
    return false;
  *out = r;
  return true;
}

bool ll_decimal_from_avro(const uint8_t *p, size_t n, int64_t *micro_out) {
  if (!p || n == 0)
    return false;
  bool negative = (p[0] & 0x80) != 0;
  uint8_t extension = negative ? 0xFF : 0x00;
  if (n > 8) {
    /* Longer forms are fine as long as they only repeat the sign. */
    for (size_t i = 0; i < n - 8; i++) {
      if (p[i] != extension)
        return false;
    }
    if (((p[n - 8] & 0x80) != 0) != negative)
      return false;
    p += n - 8;
    n = 8;
  }
  uint64_t v = negative ? UINT64_MAX : 0;
  for (size_t i = 0; i < n; i++)
    v = (v << 8) | p[i];
  *micro_out = (int64_t)v;
  return true;
}

size_t ll_decimal_to_avro(int64_t micro, uint8_t out[8]) {
  uint64_t v = (uint64_t)micro;
  uint8_t full[8];
  for (int i = 7; i >= 0; i--) {
    full[i] = (uint8_t)(v & 0xFF);
    v >>= 8;
  }
  /* Drop leading bytes that only repeat the sign of the byte after them. */
  size_t start = 0;
  while (start < 7) {
    bool next_negative = (full[start + 1] & 0x80) != 0;
    if ((full[start] == 0x00 && !next_negative) ||
        (full[start] == 0xFF && next_negative))
      start++;
    else
      break;
  }
  size_t len = 8 - start;
  memcpy(out, full + start, len);
  return len;
}
