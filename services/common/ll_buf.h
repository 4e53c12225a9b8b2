/* ll_buf.h — a growable byte buffer and the compact binary encoding used for
 * everything lotline stores in RocksDB (log entries, state records, views).
 *
 * Encoding: unsigned varints (LEB128), zig-zag signed varints, and strings
 * as varint length + bytes with a presence flag so NULL round-trips. Readers
 * never read past the end: a short or corrupt input makes ll_rd_* return
 * false and sets rd->bad. */
#ifndef LL_BUF_H
#define LL_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ll_buf {
  uint8_t *data;
  size_t len;
  size_t cap;
} ll_buf;

void ll_buf_init(ll_buf *b);
void ll_buf_free(ll_buf *b);
void ll_buf_reset(ll_buf *b); /* len = 0, keeps memory */
void ll_buf_reserve(ll_buf *b, size_t extra);
void ll_buf_put(ll_buf *b, const void *p, size_t n);
void ll_buf_put_u8(ll_buf *b, uint8_t v);
void ll_buf_put_uvar(ll_buf *b, uint64_t v);
void ll_buf_put_svar(ll_buf *b, int64_t v);
void ll_buf_put_be64(ll_buf *b, uint64_t v);               /* sortable keys */
void ll_buf_put_str(ll_buf *b, const char *s);             /* NULL-preserving */
void ll_buf_put_bytes(ll_buf *b, const void *p, size_t n); /* len + bytes */
/* Append a NUL-terminated copy-free printf. */
void ll_buf_printf(ll_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A buffer that takes at most max_bytes: where an HTTP client collects an
 * answer it must not let grow without bound. */
typedef struct ll_buf_capped {
  ll_buf buf;
  size_t max_bytes;
  bool too_large; /* more came than max_bytes; the rest was refused */
} ll_buf_capped;

/* Append data to user (an ll_buf_capped *), in the shape of libcurl's
 * CURLOPT_WRITEFUNCTION: returns the bytes taken, or 0 when they would pass
 * max_bytes (libcurl then stops with CURLE_WRITE_ERROR). */
size_t ll_buf_capped_write(char *data, size_t size, size_t count, void *user);

typedef struct ll_rd {
  const uint8_t *p;
  const uint8_t *end;
  bool bad;
} ll_rd;

void ll_rd_init(ll_rd *r, const void *p, size_t n);
bool ll_rd_u8(ll_rd *r, uint8_t *v);
bool ll_rd_uvar(ll_rd *r, uint64_t *v);
bool ll_rd_svar(ll_rd *r, int64_t *v);
bool ll_rd_be64(ll_rd *r, uint64_t *v);
bool ll_rd_str(ll_rd *r, char **out); /* malloc'd copy, or NULL if absent */
bool ll_rd_bytes(ll_rd *r, const uint8_t **p, size_t *n); /* borrowed */
size_t ll_rd_left(const ll_rd *r);

uint64_t ll_be64_decode(const void *p);
/* v as 8 big-endian bytes at p (keys that sort as numbers). */
void ll_be64_encode(void *p, uint64_t v);

#endif
