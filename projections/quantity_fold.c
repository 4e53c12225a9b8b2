/* quantity_fold.c — one StockMoved folded into quantities per (lot,
 * location), for the views (quantity_fold.h). */
#include "quantity_fold.h"

#include <assert.h>

#include "ll_decimal.h"

/* Add delta_micro to the lot's row at loc; *after is the new quantity. */
static int fold_one(const ll_qty_holder *h, void *ctx, const ll_entry *e,
                    const ll_location *loc, int64_t delta_micro, int64_t *after,
                    ll_err *err) {
  const char *lot_id = e->event.lot_id;
  unsigned long long position = (unsigned long long)e->position;
  int64_t qty = 0;
  ll_usage usage = loc->usage;
  bool found = false;
  if (h->get(ctx, e, loc, &qty, &usage, &found, err) != 0)
    return -1;
  if (found && usage != loc->usage)
    return ll_fail(err, LL_ERR_CORRUPT,
                   "%s: log position %llu: location %s used as %s, the %s "
                   "hold it as %s",
                   h->name, position, loc->id, ll_usage_name(loc->usage),
                   h->name, ll_usage_name(usage));
  if (!ll_decimal_add(qty, delta_micro, &qty))
    return ll_fail(err, LL_ERR_CORRUPT,
                   "%s: log position %llu: quantity of lot %s at %s "
                   "overflows",
                   h->name, position, lot_id, loc->id);
  if (h->check_stock_floor && qty < 0 && ll_usage_is_stock(loc->usage))
    return ll_fail(err, LL_ERR_CORRUPT,
                   "%s: log position %llu: quantity of lot %s at %s would "
                   "go below zero",
                   h->name, position, lot_id, loc->id);
  h->put(ctx, loc, qty);
  *after = qty;
  return 0;
}

int ll_quantity_fold(const ll_qty_holder *h, void *ctx, const ll_entry *e,
                     int64_t *from_after, int64_t *to_after, ll_err *err) {
  assert(h != NULL && h->get != NULL && h->put != NULL && e != NULL);
  const ll_event *ev = &e->event;
  if (ev->type != LL_EV_STOCK_MOVED)
    return 0;
  if (ev->lot_id == NULL || ev->from.id == NULL || ev->to.id == NULL ||
      !ev->quantity_valid || ev->quantity_micro <= 0)
    return ll_fail(err, LL_ERR_CORRUPT,
                   "%s: log position %llu: StockMoved without lot_id, "
                   "locations or a positive quantity",
                   h->name, (unsigned long long)e->position);
  int64_t from_q = 0, to_q = 0;
  if (fold_one(h, ctx, e, &ev->from, -ev->quantity_micro, &from_q, err) != 0 ||
      fold_one(h, ctx, e, &ev->to, ev->quantity_micro, &to_q, err) != 0)
    return -1;
  if (from_after != NULL)
    *from_after = from_q;
  if (to_after != NULL)
    *to_after = to_q;
  return 0;
}
