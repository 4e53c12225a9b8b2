/* ll_decimal.h — the one decimal type: int64 micro-units, scale 6.
 *
 * Parsing is strict: an optional '-', digits, an optional '.' followed by
 * 1..6 digits. No exponent, no spaces, no '+', no "NaN"/"inf", no leading
 * '.', at most 19 significant digits, and the value must fit in int64 micro.
 * Formatting is canonical: no trailing zeros after the point, no point for
 * whole numbers ("1.5", "2", "-0.000001"). */
#ifndef LL_DECIMAL_H
#define LL_DECIMAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LL_DECIMAL_STR_MAX 32 /* enough for any int64 micro plus sign/point */

typedef enum ll_decimal_status {
  LL_DEC_OK = 0,
  LL_DEC_SYNTAX,   /* not a decimal number */
  LL_DEC_SCALE,    /* more than 6 decimals */
  LL_DEC_OVERFLOW, /* does not fit */
} ll_decimal_status;

ll_decimal_status ll_decimal_parse(const char *s, int64_t *micro_out);
/* Writes into out (at least LL_DECIMAL_STR_MAX bytes); returns out. */
char *ll_decimal_format(int64_t micro, char *out);

/* Checked arithmetic: false on overflow (result untouched). */
bool ll_decimal_add(int64_t a, int64_t b, int64_t *out);
bool ll_decimal_sub(int64_t a, int64_t b, int64_t *out);

/* Avro decimal bytes: big-endian two's complement of the unscaled value.
 * With scale 6 the unscaled value is exactly micro-units. from_avro returns
 * false when the value does not fit in int64 (or n == 0). to_avro writes the
 * minimal two's-complement form into out[8] and returns its length. */
bool ll_decimal_from_avro(const uint8_t *p, size_t n, int64_t *micro_out);
size_t ll_decimal_to_avro(int64_t micro, uint8_t out[8]);

#endif
