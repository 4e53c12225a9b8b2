/* ll_store_parked.c — rejections a standby decided, parked (ll_store.h).
 *
 * An instance that stands by for a partition decides its input in the
 * shadow (docs/cluster-design.md, "Standbys") and stores its rejections
 * like the owner does, but must not send them to lots.rejected: the owner
 * does. Their records wait here, one per rejection, until either
 *   - this instance is handed the partition (a promotion): they move into
 *     the outbox in one write and are sent like any other (the old owner
 *     may have sent some already: a byte-identical repeat, allowed by
 *     docs/streams.md); or
 *   - the owner has had them acknowledged: the consumer group's committed
 *     offset for the partition passed their input offset (the owner
 *     commits an offset only once every rejection before it is
 *     acknowledged, services/command/command.c), and they are pruned.
 * So nothing is lost and the records kept are bounded by how far the
 * owner's acknowledgements trail its input.
 *
 * Layout, default column family:
 *   key   "parked/" + be32 partition + be64 input offset + be64 sequence
 *   value the outbox's value encoding (ll_store_outbox.c) */
#include <stdlib.h>
#include <string.h>

#include "ll_mem.h"
#include "ll_store_internal.h"

#define PARKED_PREFIX "parked/"
#define PARKED_PREFIX_LEN (sizeof PARKED_PREFIX - 1)
#define PARKED_KEY_LEN (PARKED_PREFIX_LEN + 4 + 8 + 8)
/* Records moved or pruned per write: bounds one write's size. */
#define PARKED_WRITE_MAX 1024

static void put_be32(ll_buf *b, uint32_t v) {
  uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
                  (uint8_t)v};
  ll_buf_put(b, x, sizeof x);
}

/* The key of (partition, input offset, sequence); the partition's prefix
 * alone when offset is negative. */
static void parked_key(ll_buf *key, int32_t partition, int64_t offset,
                       uint64_t sequence) {
  ll_buf_reset(key);
  ll_buf_put(key, PARKED_PREFIX, PARKED_PREFIX_LEN);
  put_be32(key, (uint32_t)partition);
  if (offset < 0)
    return;
  ll_buf_put_be64(key, (uint64_t)offset);
  ll_buf_put_be64(key, sequence);
}

void ll_store_parked_key(ll_buf *key, int32_t partition, int64_t input_offset,
                         uint64_t sequence) {
  parked_key(key, partition, input_offset, sequence);
}

/* What one pass over a partition's parked records does with each. */
typedef enum parked_op { PARKED_RELEASE, PARKED_PRUNE, PARKED_COUNT } parked_op;

typedef struct parked_pass {
  parked_op op;
  int64_t below; /* PARKED_PRUNE: input offsets below this go */
  rocksdb_writebatch_t *wb;
  size_t in_pass; /* records handled by this pass */
  size_t n;       /* by every pass */
  uint64_t *seqs; /* PARKED_RELEASE: the sequences moved */
  size_t cap_seqs;
} parked_pass;

static void note_sequence(parked_pass *pp, uint64_t seq) {
  if (pp->n == pp->cap_seqs) {
    pp->cap_seqs = pp->cap_seqs ? pp->cap_seqs * 2 : 64;
    pp->seqs = ll_xrealloc(pp->seqs, pp->cap_seqs * sizeof *pp->seqs);
  }
  pp->seqs[pp->n] = seq;
}

/* One record of the pass; false to stop the scan. */
static bool visit(ll_store *s, parked_pass *pp, const char *k, size_t k_len,
                  const char *v, size_t v_len, ll_buf *okey) {
  if (k_len != PARKED_KEY_LEN)
    return true; /* not ours: left alone */
  int64_t offset = (int64_t)ll_be64_decode(k + PARKED_PREFIX_LEN + 4);
  uint64_t seq = ll_be64_decode(k + PARKED_PREFIX_LEN + 12);
  if (pp->op == PARKED_PRUNE && offset >= pp->below)
    return false; /* in offset order: the rest stay */
  if (pp->op == PARKED_RELEASE) {
    ll_store_outbox_key(okey, seq);
    rocksdb_writebatch_put_cf(pp->wb, s->cf[LL_CF_DEFAULT],
                              (const char *)okey->data, okey->len, v, v_len);
    note_sequence(pp, seq);
  }
  if (pp->op != PARKED_COUNT)
    rocksdb_writebatch_delete_cf(pp->wb, s->cf[LL_CF_DEFAULT], k, k_len);
  pp->n++;
  pp->in_pass++;
  return pp->op == PARKED_COUNT || pp->in_pass < PARKED_WRITE_MAX;
}

/* Visit the partition's parked records in (offset, sequence) order, up to
 * PARKED_WRITE_MAX of them unless counting. */
static int scan(ll_store *s, int32_t partition, parked_pass *pp, ll_err *err) {
  ll_buf prefix, okey;
  ll_buf_init(&prefix);
  ll_buf_init(&okey);
  parked_key(&prefix, partition, -1, 0);
  rocksdb_iterator_t *it =
      rocksdb_create_iterator_cf(s->db, s->read_opts, s->cf[LL_CF_DEFAULT]);
  for (rocksdb_iter_seek(it, (const char *)prefix.data, prefix.len);
       rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
    size_t k_len, v_len;
    const char *k = rocksdb_iter_key(it, &k_len);
    if (k_len < prefix.len || memcmp(k, prefix.data, prefix.len) != 0)
      break;
    const char *v = rocksdb_iter_value(it, &v_len);
    if (!visit(s, pp, k, k_len, v, v_len, &okey))
      break;
  }
  char *rerr = NULL;
  rocksdb_iter_get_error(it, &rerr);
  rocksdb_iter_destroy(it);
  ll_buf_free(&prefix);
  ll_buf_free(&okey);
  return rerr ? ll_store_fail(s, err, "read the parked rejections", rerr) : 0;
}

/* Run passes of op until a pass handles fewer than PARKED_WRITE_MAX. */
static int run_passes(ll_store *s, int32_t partition, parked_pass *pp,
                      ll_err *err) {
  if (s->mode != LL_STORE_PRIMARY)
    return ll_fail(err, LL_ERR_INTERNAL,
                   "log store %s is a read-only secondary: cannot move "
                   "parked rejections",
                   s->dir);
  for (;;) {
    pp->wb = rocksdb_writebatch_create();
    pp->in_pass = 0;
    int rc = scan(s, partition, pp, err);
    if (rc == 0 && pp->in_pass > 0)
      rc = ll_store_write(s, s->write_nosync, pp->wb, "move parked rejections",
                          err);
    rocksdb_writebatch_destroy(pp->wb);
    if (rc != 0)
      return -1;
    if (pp->in_pass < PARKED_WRITE_MAX)
      return 0;
  }
}

int ll_store_parked_release(ll_store *s, int32_t partition, uint64_t **seqs,
                            size_t *n, ll_err *err) {
  parked_pass pp = {.op = PARKED_RELEASE};
  int rc = run_passes(s, partition, &pp, err);
  *seqs = pp.seqs;
  *n = rc == 0 ? pp.n : 0;
  return rc;
}

int ll_store_parked_prune(ll_store *s, int32_t partition, int64_t below_offset,
                          size_t *pruned, ll_err *err) {
  parked_pass pp = {.op = PARKED_PRUNE, .below = below_offset};
  int rc = run_passes(s, partition, &pp, err);
  *pruned = pp.n;
  return rc;
}

int ll_store_parked_count(ll_store *s, int32_t partition, uint64_t *count,
                          ll_err *err) {
  parked_pass pp = {.op = PARKED_COUNT};
  int rc = scan(s, partition, &pp, err);
  *count = pp.n;
  return rc;
}
