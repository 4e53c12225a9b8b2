/* ll_text.c — text validation shared by the rules and the API.
 *
 * The UTF-8 decoder follows the Unicode standard's table of well-formed
 * byte sequences (Unicode 15, table 3-7): the second byte's range depends on
 * the lead byte, which is what excludes overlong forms (C0, C1, E0 80..9F,
 * F0 80..8F), surrogates (ED A0..BF) and code points above U+10FFFF
 * (F4 90.., F5..FF). A sequence cut short by the end of the string is
 * malformed too.
 *
 * Control characters are the Unicode general category Cc: C0 (U+0000..
 * U+001F), DEL (U+007F) and C1 (U+0080..U+009F). Only descriptions may hold
 * line breaks and tabs.
 *
 * The whole string is scanned before a length verdict so that a text that is
 * both too long and malformed is reported as malformed: the more specific
 * fault is the more useful one. */
#include "ll_text.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "ll_mem.h"
#include "ll_types.h"

size_t ll_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
  unsigned char b0 = s[0];
  if (b0 < 0x80) {
    if (cp != NULL)
      *cp = b0;
    return 1;
  }
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
  uint32_t v;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
    v = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    v = b0 & 0x0F;
    if (b0 == 0xE0)
      lo = 0xA0; /* overlong */
    else if (b0 == 0xED)
      hi = 0x9F; /* surrogates */
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    v = b0 & 0x07;
    if (b0 == 0xF0)
      lo = 0x90; /* overlong */
    else if (b0 == 0xF4)
      hi = 0x8F; /* above U+10FFFF */
  } else {
    return 0; /* continuation byte, C0/C1 overlong lead, or F5..FF */
  }
  if (n < len)
    return 0;
  for (size_t i = 1; i < len; i++) {
    unsigned char b = s[i]; /* a NUL here stops the loop: truncated */
    unsigned char min = i == 1 ? lo : 0x80;
    unsigned char max = i == 1 ? hi : 0xBF;
    if (b < min || b > max)
      return 0;
    v = (v << 6) | (b & 0x3F);
  }
  if (cp != NULL)
    *cp = v;
  return len;
}

static bool is_control(uint32_t cp) {
  return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
}

ll_text_status ll_text_check(const char *s, size_t max_chars, size_t max_bytes,
                             bool allow_newlines) {
  if (!s)
    return LL_TEXT_OK;
  const unsigned char *p = (const unsigned char *)s;
  size_t chars = 0;
  ll_text_status verdict = LL_TEXT_OK;
  while (*p) {
    uint32_t cp;
    size_t len = ll_utf8_decode(p, SIZE_MAX, &cp);
    if (len == 0)
      return LL_TEXT_BAD_UTF8;
    if (is_control(cp)) {
      bool allowed = allow_newlines && (cp == '\n' || cp == '\r' || cp == '\t');
      if (!allowed && verdict == LL_TEXT_OK)
        verdict = LL_TEXT_CONTROL;
    }
    chars++;
    p += len;
  }
  if (verdict != LL_TEXT_OK)
    return verdict;
  size_t bytes = (size_t)(p - (const unsigned char *)s);
  if ((max_chars && chars > max_chars) || (max_bytes && bytes > max_bytes))
    return LL_TEXT_TOO_LONG;
  return LL_TEXT_OK;
}

size_t ll_text_chars(const char *s) {
  size_t n = 0;
  if (!s)
    return 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if ((*p & 0xC0) != 0x80)
      n++;
  }
  return n;
}

static bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}

char *ll_text_trim_dup(const char *s) {
  if (!s)
    return NULL;
  const char *start = s;
  while (is_space(*start))
    start++;
  const char *end = start + strlen(start);
  while (end > start && is_space(end[-1]))
    end--;
  return ll_strndup(start, (size_t)(end - start));
}

bool ll_text_blank(const char *s) {
  if (!s)
    return true;
  while (is_space(*s))
    s++;
  return *s == '\0';
}

bool ll_text_upper(const char *s, char *out, size_t out_size) {
  size_t n = strlen(s);
  if (n >= out_size)
    return false;
  for (size_t i = 0; i <= n; i++)
    out[i] = (char)toupper((unsigned char)s[i]);
  return true;
}

bool ll_text_parse_count(const char **s, int64_t max, int64_t *out) {
  const char *p = *s;
  int64_t v = 0;
  if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
    return false;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (v > (max - (*p - '0')) / 10)
      return false;
    v = v * 10 + (*p - '0');
  }
  *s = p;
  *out = v;
  return true;
}
