/* lot_partners.c — a lot's suppliers and customers, with quantities.
 *
 * No rows of its own: the lot's history (lot_history.c) holds every move
 * with the partner it named, so the totals are summed from it on demand.
 * A move from a SUPPLIER location naming a partner adds to that
 * supplier's quantity, one to a SUPPLIER location (a return) takes from
 * it; a move to a CUSTOMER location adds to that customer's, one from a
 * CUSTOMER location (a return) takes from it. Moves that name a partner
 * between other locations are not a partner's business and are left out.
 * A lot has few partners, so the lists are plain arrays. */
#include <stdlib.h>
#include <string.h>

#include "ll_decimal.h"
#include "ll_mem.h"
#include "ll_views.h"

typedef struct partner_list {
  ll_partner_total *items;
  size_t n;
} partner_list;

typedef struct partner_scan {
  partner_list suppliers, customers;
  bool overflow;
} partner_scan;

static ll_partner_total *find_or_add(partner_list *l, const char *id) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->items[i].id, id) == 0)
      return &l->items[i];
  l->items = ll_xrealloc(l->items, (l->n + 1) * sizeof *l->items);
  ll_partner_total *t = &l->items[l->n++];
  memset(t, 0, sizeof *t);
  t->id = ll_strdup(id);
  return t;
}

static void count(partner_scan *s, partner_list *l, const ll_event *ev,
                  int64_t signed_micro) {
  ll_partner_total *t = find_or_add(l, ev->partner_id);
  if (ev->partner_name != NULL) {
    free(t->name);
    t->name = ll_strdup(ev->partner_name);
  }
  if (!ll_decimal_add(t->quantity_micro, signed_micro, &t->quantity_micro))
    s->overflow = true;
  t->moves++;
}

static bool add_move(const ll_history_entry *h, void *arg) {
  partner_scan *s = arg;
  const ll_event *ev = &h->event;
  if (ev->type != LL_EV_STOCK_MOVED || ev->partner_id == NULL)
    return true;
  int64_t q = ev->quantity_micro;
  if (ev->from.usage == LL_USAGE_SUPPLIER)
    count(s, &s->suppliers, ev, q);
  else if (ev->to.usage == LL_USAGE_SUPPLIER)
    count(s, &s->suppliers, ev, -q);
  if (ev->to.usage == LL_USAGE_CUSTOMER)
    count(s, &s->customers, ev, q);
  else if (ev->from.usage == LL_USAGE_CUSTOMER)
    count(s, &s->customers, ev, -q);
  return !s->overflow;
}

static int compare_partners(const void *a, const void *b) {
  return strcmp(((const ll_partner_total *)a)->id,
                ((const ll_partner_total *)b)->id);
}

static void free_list(ll_partner_total *items, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(items[i].id);
    free(items[i].name);
  }
  free(items);
}

int ll_views_lot_partners(ll_views_reader *r, const char *product_id,
                          const char *lot_id, ll_lot_partners *out,
                          ll_err *err) {
  memset(out, 0, sizeof *out);
  partner_scan s;
  memset(&s, 0, sizeof s);
  int rc = ll_views_lot_history_each(r, product_id, lot_id, add_move, &s, err);
  if (rc == 0 && s.overflow)
    rc = ll_fail(err, LL_ERR_CORRUPT,
                 "views: a partner total of lot %s overflows", lot_id);
  if (rc != 0) {
    free_list(s.suppliers.items, s.suppliers.n);
    free_list(s.customers.items, s.customers.n);
    return -1;
  }
  if (s.suppliers.n > 1)
    qsort(s.suppliers.items, s.suppliers.n, sizeof *s.suppliers.items,
          compare_partners);
  if (s.customers.n > 1)
    qsort(s.customers.items, s.customers.n, sizeof *s.customers.items,
          compare_partners);
  out->suppliers = s.suppliers.items;
  out->n_suppliers = s.suppliers.n;
  out->customers = s.customers.items;
  out->n_customers = s.customers.n;
  return 0;
}

void ll_lot_partners_free(ll_lot_partners *p) {
  free_list(p->suppliers, p->n_suppliers);
  free_list(p->customers, p->n_customers);
  memset(p, 0, sizeof *p);
}
