/* quantity_fold.h — the change a StockMoved makes to the quantity of its
 * lot at each of its two locations, for the views (lot_locations.c). The
 * publisher keeps no quantities: each move's entry carries what it left
 * at its two ends, decided by the rules (docs/streams.md).
 *
 * A move takes its quantity from the lot's row at its source, then adds it
 * to the row at its destination. Quantities are exact int64 micro-units
 * with checked arithmetic; a row that comes back to zero is removed (the
 * holder is told 0). Virtual locations (SUPPLIER, CUSTOMER, ...) go
 * negative where stock came from, so a lot's rows sum to zero.
 *
 * The rules guarantee that a location keeps one usage and that an
 * INTERNAL/TRANSIT quantity never goes below zero (docs/rejections.md,
 * INSUFFICIENT_STOCK and LOCATION_USAGE_CONFLICT). A holder that keeps the
 * usage has it checked; a holder that asks for the floor (the views) has
 * it checked too, and a log that breaks either stops the fold, because
 * rows built on a broken invariant would be wrong from then on: the
 * views are where a broken log is caught. */
#ifndef LL_QUANTITY_FOLD_H
#define LL_QUANTITY_FOLD_H

#include <stdbool.h>
#include <stdint.h>

#include "ll_store.h"
#include "ll_types.h"

/* Where the quantities are kept, and what the fold checks for it. The
 * fold reads a row, then writes its new value, one location at a time. */
typedef struct ll_qty_holder {
  const char *name;       /* "views": starts each message */
  bool check_stock_floor; /* refuse an INTERNAL/TRANSIT quantity below 0 */
  /* The quantity held for (e's lot, loc): *found false when none. *usage
   * is the usage the holder keeps for the row (loc->usage when it keeps
   * none). -1 with err when the row cannot be read. */
  int (*get)(void *ctx, const ll_entry *e, const ll_location *loc,
             int64_t *qty_micro, ll_usage *usage, bool *found, ll_err *err);
  /* The row's new quantity, for the location get read last; 0: the row
   * goes. */
  void (*put)(void *ctx, const ll_location *loc, int64_t qty_micro);
} ll_qty_holder;

/* Fold one log entry into the holder's quantities: a StockMoved changes
 * two rows, other events none. from_after and to_after (either may be
 * NULL) get a move's new quantities at its source and destination. -1
 * with err (LL_ERR_CORRUPT: the log breaks what the rules guarantee) and
 * the second row unchanged when a check fails. */
int ll_quantity_fold(const ll_qty_holder *h, void *ctx, const ll_entry *e,
                     int64_t *from_after, int64_t *to_after, ll_err *err);

#endif
