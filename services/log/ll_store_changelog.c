/* ll_store_changelog.c — each task's rejections, kept in task order for
 * lots.changelog (ll_store.h).
 *
 * The publisher writes a task's rejections to lots.changelog in the same
 * Kafka transaction as the task's entries, followed by a mark (decided up
 * to input offset o, last task position n: services/publisher/). For that
 * it must find them in the task's order, next to the entries, as the log
 * commits them: so every rejection's changelog record (ll_changelog.h) is
 * written here in the batch that stores the rejection, keyed by its input
 * offset within its task. A restore writes the records it restored here
 * too, so that the store holds the same whichever way it got the task.
 *
 * Layout, default column family:
 *   key   "chg/" + be32 partition + be64 input offset
 *   value the lots.changelog record, exactly the bytes published */
#include <string.h>

#include "ll_changelog.h"
#include "ll_store_internal.h"

#define CHG_PREFIX "chg/"
#define CHG_PREFIX_LEN (sizeof CHG_PREFIX - 1)
#define CHG_KEY_LEN (CHG_PREFIX_LEN + 4 + 8)

static void put_be32(ll_buf *b, uint32_t v) {
  uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
                  (uint8_t)v};
  ll_buf_put(b, x, sizeof x);
}

/* The key of (partition, offset); the partition's prefix alone when offset
 * is negative. */
static void chg_key(ll_buf *key, int32_t partition, int64_t offset) {
  ll_buf_reset(key);
  ll_buf_put(key, CHG_PREFIX, CHG_PREFIX_LEN);
  put_be32(key, (uint32_t)partition);
  if (offset >= 0)
    ll_buf_put_be64(key, (uint64_t)offset);
}

void ll_store_changelog_put(rocksdb_writebatch_t *wb, ll_store *s, ll_buf *key,
                            ll_buf *value, int32_t partition,
                            const ll_chg_rejection *r) {
  chg_key(key, partition, r->offset);
  ll_chg_encode_rejection(value, r);
  rocksdb_writebatch_put_cf(wb, s->cf[LL_CF_DEFAULT], (const char *)key->data,
                            key->len, (const char *)value->data, value->len);
}

int ll_store_changelog_each(ll_store *s, int32_t partition, int64_t after,
                            int64_t before, ll_changelog_fn fn, void *ctx,
                            ll_err *err) {
  ll_buf prefix, start;
  ll_buf_init(&prefix);
  ll_buf_init(&start);
  chg_key(&prefix, partition, -1);
  chg_key(&start, partition, after + 1 > 0 ? after + 1 : 0);
  rocksdb_iterator_t *it =
      rocksdb_create_iterator_cf(s->db, s->read_opts, s->cf[LL_CF_DEFAULT]);
  int rc = 0;
  for (rocksdb_iter_seek(it, (const char *)start.data, start.len);
       rc == 0 && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
    size_t k_len, v_len;
    const char *k = rocksdb_iter_key(it, &k_len);
    if (k_len != CHG_KEY_LEN || memcmp(k, prefix.data, prefix.len) != 0)
      break;
    int64_t offset = (int64_t)ll_be64_decode(k + CHG_PREFIX_LEN + 4);
    if (before >= 0 && offset >= before)
      break;
    const char *v = rocksdb_iter_value(it, &v_len);
    rc = fn(ctx, offset, v, v_len, err);
  }
  char *rerr = NULL;
  rocksdb_iter_get_error(it, &rerr);
  rocksdb_iter_destroy(it);
  ll_buf_free(&prefix);
  ll_buf_free(&start);
  if (rerr)
    return ll_store_fail(s, err, "read the changelog records", rerr);
  return rc > 0 ? 0 : rc;
}
