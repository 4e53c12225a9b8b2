/* ll_store_jindex.c — which journal records not applied yet may hold a key,
 * for the primary's readers on other threads (ll_store_journal.c).
 *
 * Those readers (the API's replay check of an Idempotency-Key, a waiting
 * write's outcome, a PATCH's lot) look a key up in the records not applied
 * yet, newest first, and then in the state column family. An event id not
 * used yet is in none of them, so without help every such lookup visits
 * every record: a few hundred memtable steps, which held the API's workers
 * (docs/performance.md, ninth round). Here each record gets a filter of
 * its keys when it is committed (and at open for the records left): a
 * blocked Bloom filter of LL_JINDEX_BITS_PER_KEY bits a key, each key
 * setting LL_JINDEX_PROBES bits within one 64-byte block (one cache line
 * to ask), built from the hashes the record's own index holds
 * (ll_journal_hashes). A lookup asks the filters, newest first, and reads
 * only the records they name.
 *
 * The command thread adds a record after its commit and drops the ones
 * the applier has put into `state` (journal_applied); readers take the
 * list's lock only to ask the filters. A record dropped, or deleted by an
 * apply, after a reader asked is one whose changes `state` holds, which
 * the reader reads next: the answer is the same. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ll_mem.h"
#include "ll_store_internal.h"

#define BLOCK_BITS 512
#define BLOCK_WORDS (BLOCK_BITS / 64)

struct ll_jfilter {
  uint64_t seq;
  uint32_t n_blocks;
  uint64_t *words; /* n_blocks * BLOCK_WORDS */
};

void ll_jindex_init(ll_jindex *x) {
  x->items = NULL;
  x->head = x->n = x->cap = 0;
  atomic_init(&x->broken, false);
  pthread_mutex_init(&x->mu, NULL);
}

static void filter_free(ll_jfilter *f) {
  free(f->words);
}

void ll_jindex_free(ll_jindex *x) {
  for (size_t i = 0; i < x->n; i++)
    filter_free(&x->items[(x->head + i) % x->cap]);
  free(x->items);
  pthread_mutex_destroy(&x->mu);
}

/* The block of a hash and the bits within it: the high half picks the
 * block (multiply-shift, no division), a remix of the hash gives
 * LL_JINDEX_PROBES 9-bit positions. */
static uint32_t block_of(uint64_t h, uint32_t n_blocks) {
  return (uint32_t)(((h >> 32) * (uint64_t)n_blocks) >> 32);
}

static uint64_t remix(uint64_t h) {
  h ^= h >> 31;
  h *= 0x9e3779b97f4a7c15ULL;
  return h ^ (h >> 29);
}

static void filter_add(ll_jfilter *f, uint64_t h) {
  uint64_t *b = f->words + (size_t)block_of(h, f->n_blocks) * BLOCK_WORDS;
  uint64_t bits = remix(h);
  for (int i = 0; i < LL_JINDEX_PROBES; i++, bits >>= 9)
    b[(bits & 511) >> 6] |= 1ULL << (bits & 63);
}

static bool filter_may_hold(const ll_jfilter *f, uint64_t h) {
  const uint64_t *b = f->words + (size_t)block_of(h, f->n_blocks) * BLOCK_WORDS;
  uint64_t bits = remix(h);
  for (int i = 0; i < LL_JINDEX_PROBES; i++, bits >>= 9)
    if (!(b[(bits & 511) >> 6] & (1ULL << (bits & 63))))
      return false;
  return true;
}

static void add_hash(void *ctx, uint64_t h) {
  filter_add(ctx, h);
}

/* Records at or below applied leave the front. Under x->mu. */
static void drop_applied(ll_jindex *x, uint64_t applied) {
  while (x->n > 0 && x->items[x->head].seq <= applied) {
    filter_free(&x->items[x->head]);
    x->head = (x->head + 1) % x->cap;
    x->n--;
  }
}

static void grow(ll_jindex *x) {
  size_t cap = x->cap ? 2 * x->cap : 64;
  ll_jfilter *items = ll_xmalloc(cap * sizeof *items);
  for (size_t i = 0; i < x->n; i++)
    items[i] = x->items[(x->head + i) % x->cap];
  free(x->items);
  x->items = items;
  x->cap = cap;
  x->head = 0;
}

bool ll_jindex_add(ll_jindex *x, uint64_t seq, const void *rec, size_t n,
                   uint64_t applied) {
  uint32_t count = 0;
  if (!ll_journal_count(rec, n, &count)) {
    atomic_store(&x->broken, true);
    return false;
  }
  uint64_t bits = (uint64_t)count * LL_JINDEX_BITS_PER_KEY;
  ll_jfilter f = {.seq = seq,
                  .n_blocks = (uint32_t)((bits + BLOCK_BITS - 1) / BLOCK_BITS)};
  if (f.n_blocks == 0)
    f.n_blocks = 1;
  f.words = ll_xcalloc((size_t)f.n_blocks * BLOCK_WORDS, sizeof *f.words);
  if (!ll_journal_hashes(rec, n, add_hash, &f)) {
    filter_free(&f);
    atomic_store(&x->broken, true);
    return false;
  }
  pthread_mutex_lock(&x->mu);
  drop_applied(x, applied);
  assert(x->n == 0 || x->items[(x->head + x->n - 1) % x->cap].seq < seq);
  if (x->n == x->cap)
    grow(x);
  x->items[(x->head + x->n) % x->cap] = f;
  x->n++;
  pthread_mutex_unlock(&x->mu);
  return true;
}

size_t ll_jindex_candidates(ll_jindex *x, uint64_t h, uint64_t applied,
                            uint64_t *out, size_t cap, bool *complete) {
  size_t n = 0;
  *complete = !atomic_load(&x->broken);
  if (!*complete)
    return 0;
  pthread_mutex_lock(&x->mu);
  for (size_t i = x->n; i-- > 0;) {
    const ll_jfilter *f = &x->items[(x->head + i) % x->cap];
    if (f->seq <= applied)
      break; /* older ones are applied too */
    if (!filter_may_hold(f, h))
      continue;
    if (n == cap) {
      *complete = false;
      break;
    }
    out[n++] = f->seq;
  }
  pthread_mutex_unlock(&x->mu);
  return n;
}
