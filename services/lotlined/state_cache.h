/* state_cache.h — the command consumer's in-memory view of the validation
 * state, in front of RocksDB.
 *
 * The command consumer is the only writer of the state, so a cache of what
 * it read or wrote stays exact: reads look in the pending batch (overlay),
 * then the cache, then RocksDB; negative answers are cached too. When a
 * batch commits its overlay moves into the cache; when it fails, the
 * overlay is dropped. Event-id records are not cached: each id is read once
 * (its redelivery is rare) and they would crowd out the lots. The cache is
 * bounded by LL_STATE_CACHE_MAX_ENTRIES: past that it is emptied and
 * refills from RocksDB (simple, bounded, and rare). */
#ifndef LL_STATE_CACHE_H
#define LL_STATE_CACHE_H

#include <stddef.h>

#include "ll_state.h"

#define LL_STATE_CACHE_MAX_ENTRIES (512 * 1024)

typedef struct ll_state_cache ll_state_cache;

/* `below` reads committed state (RocksDB); it must outlive the cache. */
ll_state_cache *ll_state_cache_new(const ll_state_reader *below,
                                   size_t max_entries);
void ll_state_cache_free(ll_state_cache *c);
ll_state_reader ll_state_cache_reader(ll_state_cache *c);
/* The writes of one decision, pending until commit or abort. */
void ll_state_cache_stage(ll_state_cache *c, const ll_mutations *m);
void ll_state_cache_commit(ll_state_cache *c);
void ll_state_cache_abort(ll_state_cache *c);

typedef struct ll_state_cache_stats {
  size_t entries;
  size_t hits, misses, resets;
} ll_state_cache_stats;
void ll_state_cache_get_stats(const ll_state_cache *c,
                              ll_state_cache_stats *out);

#endif
