/* views_quant.h — the projector's quantity rows in memory, compact.
 *
 * The projector reads a quantity row before each change to it: qty/ (a lot
 * at a location, lot_locations.c) and tree/ (a lot under a path,
 * location_tree.c), two to eight rows a move, spread over every lot and
 * location there is. In the row table (views_rows.h) such a row costs
 * about 140 bytes with its key spelled out, so once the views outgrow its
 * bound most of those reads went to RocksDB, where the projector spent
 * much of its time (docs/performance.md). This index holds them compactly
 * instead: lot
 * ids and location paths are interned as 32-bit numbers, and a row is one
 * 24-byte slot (the two numbers and the family, two int64 values).
 *
 * Exact: a slot holds the row's committed value (the run's commit hands
 * its written rows over, after RocksDB took them: ll_views_quant_set), and
 * while the index is complete a row it does not hold is absent from the
 * database. It is complete when it started on empty views or loaded every
 * row at its first run, and has refused no row since. Bounded: at
 * max_bytes (slots and interned names) it refuses new rows, which stay with
 * the row table and RocksDB as before, and is no longer complete; rows
 * already held are still updated and removed, so it stays exact.
 *
 * Slots are open addressing with linear probing over a fixed capacity
 * (allocated zeroed once, so the memory grows with the pages rows land on
 * and never doubles during a resize), at most three quarters full; a
 * removed row closes its probe chain by shifting the following slots
 * back. */
#ifndef LL_VIEWS_QUANT_H
#define LL_VIEWS_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ll_buf.h"

typedef struct ll_vq_slot {
  uint64_t key; /* (lot + 1) << 32 | place << 1 | family; 0: free */
  int64_t a, b; /* qty: quantity, usage; tree: quantity, on hand */
} ll_vq_slot;

typedef struct ll_vq_name {
  uint64_t hash;
  uint32_t off, len; /* in the names' bytes */
} ll_vq_name;

/* Interned strings: id -> bytes, bytes -> id. */
typedef struct ll_vq_names {
  uint32_t *slots; /* id + 1; 0: empty */
  size_t mask;
  ll_vq_name *names;
  size_t n, cap;
  char *bytes;
  size_t bytes_len, bytes_cap;
} ll_vq_names;

typedef struct ll_views_quant_stats {
  size_t rows, capacity, bytes;
  uint64_t hits, absent, unknown, refused;
  bool complete;
} ll_views_quant_stats;

typedef struct ll_views_quant {
  ll_vq_slot *slots;
  size_t capacity, rows, max_rows;
  size_t max_bytes;
  ll_vq_names lots, places;
  bool complete;
  bool loaded; /* the first run loaded the database's rows (views.c) */
  ll_views_quant_stats stats;
} ll_views_quant;

/* The two families: qty/<lot_id>\x1f<product>\x1f<location> (a:
 * quantity, b: usage) and tree/<path>\x1f<lot_id>\x1f<product> (a:
 * quantity, b: on hand). The "lot" of the pair functions is the two lot
 * parts of the key as they stand, separator included. */
enum { LL_VQ_QTY = 0, LL_VQ_TREE = 1 };

typedef enum ll_vq_answer {
  LL_VQ_UNKNOWN, /* not held and not complete: ask the database */
  LL_VQ_ABSENT,
  LL_VQ_FOUND,
} ll_vq_answer;

/* An index of at most max_bytes (slots and names), empty, not complete. */
void ll_views_quant_init(ll_views_quant *q, size_t max_bytes);
void ll_views_quant_free(ll_views_quant *q);
/* Whether key is a row of the families the index holds. */
bool ll_views_quant_covers(const void *key, size_t key_len);
/* Set complete: every row of the database is held (or there is none). */
void ll_views_quant_set_complete(ll_views_quant *q);
/* The committed row of key: FOUND with its value in value, ABSENT, or
 * UNKNOWN. key must be covered. */
ll_vq_answer ll_views_quant_get(ll_views_quant *q, const void *key,
                                size_t key_len, ll_buf *value);
/* The committed value of key's row (present) or its removal. False when
 * the index refused the row (full, or a value it cannot hold): it is then
 * no longer complete, and the caller keeps the row elsewhere. */
bool ll_views_quant_set(ll_views_quant *q, const void *key, size_t key_len,
                        const void *value, size_t value_len, bool present);
bool ll_views_quant_set_pair(ll_views_quant *q, int family, const char *lot_id,
                             size_t lot_len, const char *place,
                             size_t place_len, bool present, int64_t a,
                             int64_t b);
void ll_views_quant_get_stats(const ll_views_quant *q,
                              ll_views_quant_stats *out);

#endif
