/* ll_text.h — text validation shared by the rules and the API.
 *
 * A text is valid when it is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF) and holds no control characters (C0, DEL, C1).
 * Descriptions may hold '\n', '\r' and '\t'; nothing else may. */
#ifndef LL_TEXT_H
#define LL_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ll_text_status {
  LL_TEXT_OK = 0,
  LL_TEXT_BAD_UTF8,
  LL_TEXT_CONTROL,
  LL_TEXT_TOO_LONG,
} ll_text_status;

/* Validate s (NUL-terminated). max_chars counts code points (0 = no limit);
 * max_bytes counts bytes (0 = no limit). allow_newlines permits \n \r \t. */
ll_text_status ll_text_check(const char *s, size_t max_chars, size_t max_bytes,
                             bool allow_newlines);
/* The well-formed UTF-8 sequence at s, at most n bytes (in a NUL-terminated
 * string SIZE_MAX will do: a NUL is never a continuation byte). Returns its
 * length in bytes (1..4) and, when cp is not NULL, its code point; 0 when
 * the bytes at s are not well-formed UTF-8. */
size_t ll_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* Number of code points in valid UTF-8. */
size_t ll_text_chars(const char *s);
/* New heap copy of s without leading/trailing white space (ASCII space,
 * \t, \n, \r, \v, \f). NULL in, NULL out. */
char *ll_text_trim_dup(const char *s);
/* An upper-case ASCII copy of s into out (out_size bytes, NUL included),
 * for names matched in any case; false when it does not fit. */
bool ll_text_upper(const char *s, char *out, size_t out_size);
/* Is s NULL or empty after trimming? */
bool ll_text_blank(const char *s);
/* A count in decimal at *s: digits only (no sign, no leading zero but
 * "0" itself), at most max. True with *out and *s moved past the digits;
 * false (nothing moved) otherwise. For the parts of a cursor or token. */
bool ll_text_parse_count(const char **s, int64_t max, int64_t *out);

#endif
