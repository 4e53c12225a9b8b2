/* ll_store_outbox.c — the rejections outbox in the log store (ll_store.h).
 *
 * A rejection is stored (rejections column family) and its lots.rejected
 * record is put in the outbox in the same WriteBatch as the input offset
 * that moved past it, so "the input was consumed" and "its record will be
 * published" are one durable fact. The sender (services/command/
 * rejection_outbox.c) sends what the outbox holds and deletes each record
 * once Kafka acknowledged it. A record left behind by a crash is sent again
 * at the next start: lots.rejected is at least once, and a repeat carries
 * the same original topic/partition/offset, which identifies it.
 *
 * Layout, default column family:
 *   key   "outbox/" + 8-byte big-endian rejection sequence
 *   value u8 has_key, bytes key (uvar length + bytes), then the record's
 *         value to the end */
#include <stdlib.h>
#include <string.h>

#include "ll_store_internal.h"

#define OUTBOX_PREFIX_LEN (sizeof LL_OUTBOX_PREFIX - 1)

void ll_store_outbox_key(ll_buf *key, uint64_t sequence) {
  ll_buf_reset(key);
  ll_buf_put(key, LL_OUTBOX_PREFIX, OUTBOX_PREFIX_LEN);
  ll_buf_put_be64(key, sequence);
}

void ll_store_encode_outbox(ll_buf *out, const void *key, size_t key_len,
                            bool has_key, const void *value, size_t value_len) {
  ll_buf_reset(out);
  ll_buf_put_u8(out, has_key ? 1 : 0);
  ll_buf_put_bytes(out, has_key ? key : "", has_key ? key_len : 0);
  ll_buf_put(out, value, value_len);
}

static bool decode_outbox(const char *k, size_t k_len, const char *v,
                          size_t v_len, ll_outbox_record *r) {
  if (k_len != OUTBOX_PREFIX_LEN + 8 ||
      memcmp(k, LL_OUTBOX_PREFIX, OUTBOX_PREFIX_LEN) != 0)
    return false;
  ll_rd rd;
  uint8_t has_key = 0;
  const uint8_t *key = NULL;
  size_t key_len = 0;
  ll_rd_init(&rd, v, v_len);
  if (!ll_rd_u8(&rd, &has_key) || has_key > 1 ||
      !ll_rd_bytes(&rd, &key, &key_len))
    return false;
  r->sequence = ll_be64_decode(k + OUTBOX_PREFIX_LEN);
  r->has_key = has_key == 1;
  ll_buf_init(&r->key);
  ll_buf_init(&r->value);
  ll_buf_put(&r->key, key, key_len);
  ll_buf_put(&r->value, rd.p, ll_rd_left(&rd));
  return true;
}

void ll_outbox_record_free(ll_outbox_record *r) {
  ll_buf_free(&r->key);
  ll_buf_free(&r->value);
}

/* Visit the outbox from sequence after+1; fn returns false to stop. */
typedef bool (*outbox_fn)(const char *k, size_t k_len, const char *v,
                          size_t v_len, void *arg);

static int outbox_scan(ll_store *s, uint64_t after, outbox_fn fn, void *arg,
                       ll_err *err) {
  ll_buf start;
  ll_buf_init(&start);
  ll_store_outbox_key(&start, after == UINT64_MAX ? after : after + 1);
  rocksdb_iterator_t *it =
      rocksdb_create_iterator_cf(s->db, s->read_opts, s->cf[LL_CF_DEFAULT]);
  for (rocksdb_iter_seek(it, (const char *)start.data, start.len);
       rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
    size_t k_len, v_len;
    const char *k = rocksdb_iter_key(it, &k_len);
    if (k_len < OUTBOX_PREFIX_LEN ||
        memcmp(k, LL_OUTBOX_PREFIX, OUTBOX_PREFIX_LEN) != 0)
      break;
    const char *v = rocksdb_iter_value(it, &v_len);
    if (!fn(k, k_len, v, v_len, arg))
      break;
  }
  char *rerr = NULL;
  rocksdb_iter_get_error(it, &rerr);
  rocksdb_iter_destroy(it);
  ll_buf_free(&start);
  return rerr ? ll_store_fail(s, err, "read the outbox", rerr) : 0;
}

typedef struct read_ctx {
  ll_outbox_record *out;
  size_t max, n;
  bool corrupt;
} read_ctx;

static bool read_one(const char *k, size_t k_len, const char *v, size_t v_len,
                     void *arg) {
  read_ctx *c = arg;
  if (c->n == c->max)
    return false;
  if (!decode_outbox(k, k_len, v, v_len, &c->out[c->n])) {
    c->corrupt = true;
    return false;
  }
  c->n++;
  return true;
}

int ll_store_outbox_read(ll_store *s, uint64_t after, ll_outbox_record *out,
                         size_t max, size_t *n_out, ll_err *err) {
  read_ctx c = {.out = out, .max = max};
  *n_out = 0;
  int rc = outbox_scan(s, after, read_one, &c, err);
  if (rc == 0 && c.corrupt)
    rc = ll_fail(err, LL_ERR_CORRUPT,
                 "log store %s: an outbox record after %llu "
                 "is corrupt",
                 s->dir, (unsigned long long)after);
  if (rc != 0) {
    for (size_t i = 0; i < c.n; i++)
      ll_outbox_record_free(&out[i]);
    return -1;
  }
  *n_out = c.n;
  return 0;
}

static bool count_one(const char *k, size_t k_len, const char *v, size_t v_len,
                      void *arg) {
  (void)k, (void)k_len, (void)v, (void)v_len;
  (*(uint64_t *)arg)++;
  return true;
}

int ll_store_outbox_count(ll_store *s, uint64_t *count, ll_err *err) {
  *count = 0;
  return outbox_scan(s, 0, count_one, count, err);
}

int ll_store_outbox_delete(ll_store *s, const uint64_t *sequences, size_t n,
                           ll_err *err) {
  if (n == 0)
    return 0;
  if (s->mode != LL_STORE_PRIMARY)
    return ll_fail(err, LL_ERR_INTERNAL,
                   "log store %s is a read-only secondary: cannot "
                   "delete from the outbox",
                   s->dir);
  rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
  ll_buf key;
  ll_buf_init(&key);
  for (size_t i = 0; i < n; i++) {
    ll_store_outbox_key(&key, sequences[i]);
    rocksdb_writebatch_delete_cf(wb, s->cf[LL_CF_DEFAULT],
                                 (const char *)key.data, key.len);
  }
  ll_buf_free(&key);
  int rc =
      ll_store_write(s, s->write_nosync, wb, "delete from the outbox", err);
  rocksdb_writebatch_destroy(wb);
  return rc;
}
