/* views_rows.h — the view rows the projector keeps in memory, in front of
 * the views database (internal to projections/).
 *
 * One table of byte-string rows, each a value or a known absence, holding
 * two kinds of rows:
 *
 *   dirty  what the run in progress wrote (puts and deletes), one final
 *          value per key, however often the appliers rewrote the row. The
 *          run commits them in one plain WriteBatch. Dirty rows of the
 *          scannable families are also linked per scan group ("<family>
 *          <part>\x1f", see ll_views_scan_group_len), so a prefix scan
 *          finds the run's rows of its group without walking the run.
 *   clean  an exact copy of committed rows the appliers read, negative
 *          answers too. The projector is the views database's only
 *          writer, so the copy stays exact as long as every commit goes
 *          through here: after a successful write the run's rows turn
 *          clean, except the ones no applier ever read (history, indexes),
 *          which are dropped so they do not crowd out the rows that are
 *          read again.
 *
 * Clean rows are bounded by max_entries rows and max_bytes of row blocks;
 * past a bound the CLOCK hand evicts clean rows not read since its last
 * pass. Dirty rows are never evicted: the table holds the clean rows plus
 * the rows of one run, which the run's size bounds. After a failed run
 * everything is dropped (ll_views_rows_reset), clean rows included.
 *
 * A table that starts on an empty database and has dropped no row since
 * (no eviction, no reset) knows every row there is: a miss is then an
 * absence, no database read needed. That is what makes a rebuild, and a
 * projector starting from empty views, read nothing back until the cache
 * first fills up.
 *
 * The table is open addressing (linear probing, power-of-two slots, at
 * most half full); each slot holds the full hash and a pointer to the row,
 * a single malloc'd block with the key and the value inline, so a lookup
 * touches two cache lines. A dense array of the rows serves the CLOCK hand
 * and lets a row be removed by moving the last one into its place. */
#ifndef LL_VIEWS_ROWS_H
#define LL_VIEWS_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ll_hash.h"

#define LL_VROW_NONE UINT32_MAX

enum {
  LL_VROW_PRESENT = 1,    /* a value; else a known absence */
  LL_VROW_READ = 2,       /* an applier read it: keep it after commit */
  LL_VROW_REFERENCED = 4, /* read since the CLOCK hand last passed */
};

typedef struct ll_vrow {
  uint64_t hash;
  uint32_t key_len;
  uint32_t value_len;
  uint32_t value_cap;
  uint32_t dense;      /* index in the dense array */
  uint32_t slot;       /* index in the slots */
  uint32_t dirty;      /* index in the run's rows, or LL_VROW_NONE: clean */
  uint32_t group_next; /* dirty index of the next row of the scan group */
  uint8_t flags;
  uint8_t bytes[]; /* key_len bytes of key, then value_cap of value */
} ll_vrow;

static inline const uint8_t *ll_vrow_key(const ll_vrow *r) {
  return r->bytes;
}
static inline const uint8_t *ll_vrow_value(const ll_vrow *r) {
  return r->bytes + r->key_len;
}
static inline bool ll_vrow_present(const ll_vrow *r) {
  return (r->flags & LL_VROW_PRESENT) != 0;
}

typedef struct ll_vslot {
  uint64_t hash;
  ll_vrow *row; /* NULL: empty */
} ll_vslot;

typedef struct ll_vgroup {
  uint64_t hash;
  uint32_t key_len;
  uint32_t first; /* dirty index of the group's latest row; NONE: empty */
} ll_vgroup;

typedef struct ll_views_rows_stats {
  size_t entries, dirty, bytes;
  uint64_t hits, misses, evictions, resets;
} ll_views_rows_stats;

typedef struct ll_views_rows {
  ll_vslot *slots;
  size_t slot_mask;
  ll_vrow **dense;
  size_t n, dense_cap;
  ll_vrow **dirty; /* the run's rows, in the order first written */
  size_t n_dirty, dirty_cap;
  ll_vgroup *groups; /* the run's scan groups (open addressing) */
  size_t n_groups, group_mask;
  size_t max_entries; /* clean rows */
  size_t max_bytes;   /* of clean rows' blocks */
  size_t bytes;       /* of every row's block */
  size_t dirty_bytes; /* of the run's rows' blocks */
  size_t hand;        /* CLOCK: next dense index to look at */
  /* The table knows every row of the database: it started on an empty
   * one and has dropped nothing since, so a miss is an absence. */
  bool complete;
  ll_views_rows_stats stats;
} ll_views_rows;

void ll_views_rows_init(ll_views_rows *t, size_t max_entries, size_t max_bytes);
void ll_views_rows_free(ll_views_rows *t);

/* The database is empty: until a row is dropped, misses are absences. */
void ll_views_rows_set_complete(ll_views_rows *t);
/* The row of key (dirty or clean), marked as read; NULL when the table
 * does not know the key (a miss: ask the database, then fill; unless the
 * table is complete, then the row does not exist). */
const ll_vrow *ll_views_rows_get(ll_views_rows *t, uint64_t hash,
                                 const void *key, size_t key_len);
/* A committed row just read from the database (present or not). */
void ll_views_rows_fill(ll_views_rows *t, uint64_t hash, const void *key,
                        size_t key_len, const void *value, size_t value_len,
                        bool present);
/* A write of the run; group_len > 0 links the row into the scan group of
 * the key's first group_len bytes. */
void ll_views_rows_put(ll_views_rows *t, uint64_t hash, const void *key,
                       size_t key_len, const void *value, size_t value_len,
                       bool present, size_t group_len);
/* The run's latest row of a scan group (then ll_vrow.group_next, both
 * dirty indices), or LL_VROW_NONE. */
uint32_t ll_views_rows_group(const ll_views_rows *t, const void *group,
                             size_t group_len);
/* The run was written: its rows turn clean (or go, if never read), then
 * the clean rows are trimmed to the bounds. */
void ll_views_rows_commit(ll_views_rows *t);
/* Drop every row (a failed run). */
void ll_views_rows_reset(ll_views_rows *t);
void ll_views_rows_get_stats(const ll_views_rows *t, ll_views_rows_stats *out);

#endif
