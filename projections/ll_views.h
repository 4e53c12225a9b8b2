/* ll_views.h — the read models, kept in their own RocksDB (<data>/views).
 *
 * The projection worker applies log entries in order; each call to
 * ll_views_apply() writes the view updates of a run of entries together
 * with the checkpoint (the last applied position) in one WriteBatch, so a
 * restart resumes exactly where the views stand. One file per read model:
 *   lot_details.c    lot by id (the "View" tab), list and search
 *   lot_locations.c  quantity per (lot, location) (the "Locations" tab)
 * Reads are thread-safe. */
#ifndef LL_VIEWS_H
#define LL_VIEWS_H

#include <stdint.h>
#include <stdio.h>

#include "ll_store.h"
#include "ll_types.h"

typedef struct ll_views ll_views;

ll_views *ll_views_open(const char *dir, ll_err *err);
void ll_views_close(ll_views *v);
uint64_t ll_views_position(ll_views *v); /* last applied log position */
int ll_views_apply(ll_views *v, const ll_log_entry *entries, size_t n,
                   ll_err *err);

/* ---- queries (thread-safe) ---- */
int ll_views_get_lot(ll_views *v, const char *lot_id, ll_lot *lot, bool *found,
                     ll_err *err);

typedef struct ll_lot_location {
  char *location;
  ll_usage usage;
  int64_t quantity_micro;
} ll_lot_location;

/* The lot's non-zero quantities by location, sorted by location id;
 * include_virtual adds non-INTERNAL/TRANSIT locations. *out is malloc'd. */
int ll_views_lot_locations(ll_views *v, const char *lot_id,
                           bool include_virtual, ll_lot_location **out,
                           size_t *n_out, ll_err *err);
void ll_lot_locations_free(ll_lot_location *a, size_t n);

#define LL_LIST_LIMIT_DEFAULT 50
#define LL_LIST_LIMIT_MAX 1000

typedef struct ll_lot_filter {
  const char *product_id; /* exact, or NULL */
  const char *name;       /* exact (trimmed), or NULL */
  const char *q;          /* case-insensitive substring of lot_id, name or
                             reference, or NULL */
  const char *cursor;     /* return lots with lot_id > cursor, or NULL */
  size_t limit;           /* 1..LL_LIST_LIMIT_MAX */
} ll_lot_filter;

/* Matching lots in lot_id order. *next_cursor is a malloc'd cursor for the
 * next page, or NULL when there is no more. *out is malloc'd. */
int ll_views_list_lots(ll_views *v, const ll_lot_filter *f, ll_lot **out,
                       size_t *n_out, char **next_cursor, ll_err *err);
void ll_lots_free(ll_lot *a, size_t n);

/* The projector: follows the log store and feeds the views. */
typedef struct ll_projector ll_projector;
ll_projector *ll_projector_new(ll_store *log, ll_views *views);
void ll_projector_free(ll_projector *p);
/* Catch up with the log (secondary mode) and apply up to max entries.
 * *applied = how many; 0 means caught up. */
int ll_projector_step(ll_projector *p, size_t max, size_t *applied,
                      ll_err *err);

/* ---- maintenance (views_admin.c) ---- */

/* Every key and value of the views in key order, one "hexkey hexvalue"
 * line each: equal dumps mean equal views. _dir opens the database
 * read-only (no lock), so it works next to a running service. */
int ll_views_dump(ll_views *v, FILE *out, ll_err *err);
int ll_views_dump_dir(const char *dir, FILE *out, ll_err *err);

/* Online RocksDB checkpoint into dir (must not exist). *position is the
 * views' position when it began (the checkpoint holds at least that). */
int ll_views_checkpoint(ll_views *v, const char *dir, uint64_t *position,
                        ll_err *err);

/* A backup: checkpoint the views (when views != NULL) into dir/views, then
 * the log (when log != NULL, a primary) into dir/log. Views first, so a
 * service started on the backup never finds views ahead of its log (it
 * projects the difference). dir must exist; dir/views and dir/log must
 * not. On failure what this call made is removed. Positions are lower
 * bounds (taken when each checkpoint began). */
typedef struct ll_backup_result {
  bool has_views, has_log;
  uint64_t views_position, log_position;
} ll_backup_result;
int ll_backup_checkpoint(ll_views *views, ll_store *log, const char *dir,
                         ll_backup_result *result, ll_err *err);

/* Progress of a rebuild: return false to cancel (the views stay as they
 * were). */
typedef bool (*ll_rebuild_progress)(void *ctx, uint64_t position,
                                    uint64_t target);

typedef struct ll_rebuild_stats {
  uint64_t entries;  /* log entries replayed */
  uint64_t position; /* the new views' position */
  uint64_t elapsed_ns;
} ll_rebuild_stats;

/* Replace the views at views_dir by a replay of the whole log into fresh
 * views, swapped in atomically when complete. Refuses while a process has
 * the views open. log may be a secondary (it is caught up first). */
int ll_views_rebuild(ll_store *log, const char *views_dir,
                     ll_rebuild_progress progress, void *ctx,
                     ll_rebuild_stats *stats, ll_err *err);

#endif
