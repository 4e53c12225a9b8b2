/* ll_buf.c — growable buffer and the varint encoding of ll_buf.h.
 * Readers are defensive: every read checks the remaining length, so a
 * corrupt record is reported (rd->bad), never read past. */
#include "ll_buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ll_mem.h"
#include "ll_types.h"

void ll_buf_init(ll_buf *b) {
  memset(b, 0, sizeof *b);
}

void ll_buf_free(ll_buf *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

void ll_buf_reset(ll_buf *b) {
  b->len = 0;
}

void ll_buf_reserve(ll_buf *b, size_t extra) {
  if (b->len + extra <= b->cap)
    return;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < b->len + extra)
    cap *= 2;
  b->data = ll_xrealloc(b->data, cap);
  b->cap = cap;
}

void ll_buf_put(ll_buf *b, const void *p, size_t n) {
  if (n == 0)
    return;
  ll_buf_reserve(b, n);
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

size_t ll_buf_capped_write(char *data, size_t size, size_t count, void *user) {
  ll_buf_capped *c = user;
  size_t n = size * count;
  if (c->buf.len + n > c->max_bytes) {
    c->too_large = true;
    return 0;
  }
  ll_buf_put(&c->buf, data, n);
  return n;
}

void ll_buf_put_u8(ll_buf *b, uint8_t v) {
  ll_buf_put(b, &v, 1);
}

void ll_buf_put_uvar(ll_buf *b, uint64_t v) {
  uint8_t tmp[10];
  size_t n = 0;
  while (v >= 0x80) {
    tmp[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  tmp[n++] = (uint8_t)v;
  ll_buf_put(b, tmp, n);
}

void ll_buf_put_svar(ll_buf *b, int64_t v) {
  ll_buf_put_uvar(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void ll_buf_put_be64(ll_buf *b, uint64_t v) {
  uint8_t tmp[8];
  for (int i = 7; i >= 0; i--) {
    tmp[i] = (uint8_t)v;
    v >>= 8;
  }
  ll_buf_put(b, tmp, 8);
}

/* Strings: uvar 0 = NULL, otherwise uvar (len + 1) then the bytes. */
void ll_buf_put_str(ll_buf *b, const char *s) {
  if (!s) {
    ll_buf_put_uvar(b, 0);
    return;
  }
  size_t n = strlen(s);
  ll_buf_put_uvar(b, (uint64_t)n + 1);
  ll_buf_put(b, s, n);
}

void ll_buf_put_bytes(ll_buf *b, const void *p, size_t n) {
  ll_buf_put_uvar(b, n);
  ll_buf_put(b, p, n);
}

void ll_buf_printf(ll_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n <= 0)
    return;
  ll_buf_reserve(b, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void ll_rd_init(ll_rd *r, const void *p, size_t n) {
  r->p = p;
  r->end = r->p + n;
  r->bad = false;
}

size_t ll_rd_left(const ll_rd *r) {
  return (size_t)(r->end - r->p);
}

static bool rd_fail(ll_rd *r) {
  r->bad = true;
  return false;
}

bool ll_rd_u8(ll_rd *r, uint8_t *v) {
  if (r->bad || r->p >= r->end)
    return rd_fail(r);
  *v = *r->p++;
  return true;
}

bool ll_rd_uvar(ll_rd *r, uint64_t *v) {
  uint64_t out = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    uint8_t byte;
    if (!ll_rd_u8(r, &byte))
      return false;
    out |= (uint64_t)(byte & 0x7f) << shift;
    if (!(byte & 0x80)) {
      *v = out;
      return true;
    }
  }
  return rd_fail(r);
}

bool ll_rd_svar(ll_rd *r, int64_t *v) {
  uint64_t u;
  if (!ll_rd_uvar(r, &u))
    return false;
  *v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
  return true;
}

bool ll_rd_be64(ll_rd *r, uint64_t *v) {
  if (r->bad || ll_rd_left(r) < 8)
    return rd_fail(r);
  *v = ll_be64_decode(r->p);
  r->p += 8;
  return true;
}

bool ll_rd_str(ll_rd *r, char **out) {
  uint64_t n;
  *out = NULL;
  if (!ll_rd_uvar(r, &n))
    return false;
  if (n == 0)
    return true;
  n -= 1;
  if (n > ll_rd_left(r))
    return rd_fail(r);
  char *s = ll_strndup(r->p, n);
  r->p += n;
  *out = s;
  return true;
}

bool ll_rd_bytes(ll_rd *r, const uint8_t **p, size_t *n) {
  uint64_t len;
  if (!ll_rd_uvar(r, &len))
    return false;
  if (len > ll_rd_left(r))
    return rd_fail(r);
  *p = r->p;
  *n = (size_t)len;
  r->p += len;
  return true;
}

void ll_be64_encode(void *p, uint64_t v) {
  uint8_t *b = p;
  for (int i = 0; i < 8; i++)
    b[i] = (uint8_t)(v >> (56 - 8 * i));
}

uint64_t ll_be64_decode(const void *p) {
  const uint8_t *b = p;
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = (v << 8) | b[i];
  return v;
}
