/* genealogy.c — which lots were made from which, through production, and
 * where each lot was delivered.
 *
 * The rule (docs/concepts.md): moves into and out of a PRODUCTION location
 * that share a `reference` (the manufacturing order) link the lots consumed
 * to the lots produced. A move into PRODUCTION with reference R consumes its
 * lot under R; a move out of PRODUCTION with reference R produces its lot
 * under R. Either side may come first (components are often consumed
 * before the product is declared, but not always), so both sides are kept
 * per reference and every new arrival links itself to what the other side
 * already holds. A lot is (product, lot id), written <lot> below for
 * "<product_id>\x1f<lot_id>":
 *   gcon/<R>\x1f<lot>              svar total consumed of lot under R
 *   gpro/<R>\x1f<lot>              svar total produced of lot under R
 *   gdn/<consumed>\x1f<produced>\x1f<R>   svar consumed, svar produced
 *   gup/<produced>\x1f<consumed>\x1f<R>   the same value, the other way
 * Edge quantities are the running totals under R, rewritten as more moves
 * of either side arrive, so an edge always says "c of this went into R,
 * which put out p of that". A move with no reference links nothing; a move
 * between two PRODUCTION locations is neither a consumption nor an output;
 * a lot that is both consumed and produced under R (a rework) gets no edge
 * to itself. Quantities are gross: a component returned from production to
 * stock counts as an output of R, as the log says.
 *
 * Deliveries are the moves to a CUSTOMER location, one row each:
 *   dlv/<lot>\x1f<be64 position>   str location, svar quantity,
 *                                  str reference, svar occurred_at_ms,
 *                                  svar recorded_at_ms, svar partition,
 *                                  uvar task position[, str partner id,
 *                                  str partner name]
 *
 * A trace walks the edges breadth-first from one lot, so each lot is
 * expanded at its shallowest place and shown again elsewhere only as a
 * "repeat" leaf: the tree is cycle-safe and its size is bounded by the
 * edges, not by the paths. LL_TRACE_DEPTH_MAX, LL_TRACE_LOTS_MAX and
 * LL_TRACE_DELIVERIES_MAX bound one answer; hitting one sets truncated. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ll_decimal.h"
#include "ll_event.h"
#include "ll_mem.h"
#include "views_internal.h"

/* ---- apply ---- */

static int corrupt(ll_err *err, const ll_entry *e, const char *what) {
  return ll_fail(err, LL_ERR_CORRUPT, "views: log position %llu: %s",
                 (unsigned long long)e->position, what);
}

static int put_delivery(ll_views_txn *t, const ll_entry *e, ll_err *err) {
  const ll_event *ev = &e->event;
  ll_buf key, val;
  ll_buf_init(&key);
  ll_buf_init(&val);
  int rc = 0;
  if (!ll_views_key2(&key, LL_VK_DELIVERY, ev->product_id, ev->lot_id)) {
    rc = corrupt(err, e, "delivery with an unusable lot_id");
  } else {
    ll_buf_put_u8(&key, (uint8_t)LL_VK_SEP);
    ll_buf_put_be64(&key, e->position);
    ll_buf_put_str(&val, ev->to.id);
    ll_buf_put_svar(&val, ev->quantity_micro);
    ll_buf_put_str(&val, ev->reference);
    ll_buf_put_svar(&val, ev->occurred_at_ms);
    ll_buf_put_svar(&val, e->recorded_at_ms);
    ll_buf_put_svar(&val, e->partition);
    ll_buf_put_uvar(&val, e->task_position);
    /* The customer, when the move names it. */
    if (ev->partner_id != NULL) {
      ll_buf_put_str(&val, ev->partner_id);
      ll_buf_put_str(&val, ev->partner_name);
    }
    ll_views_txn_put(t, &key, val.data, val.len);
  }
  ll_buf_free(&key);
  ll_buf_free(&val);
  return rc;
}

static bool read_svar(const char *p, size_t n, int64_t *out) {
  ll_rd rd;
  ll_rd_init(&rd, p, n);
  return ll_rd_svar(&rd, out) && ll_rd_left(&rd) == 0;
}

/* The other side of a reference: lots and their totals. */
typedef struct side_lot {
  char *product_id;
  char *lot_id;
  int64_t total_micro;
} side_lot;

typedef struct side_scan {
  size_t prefix_len;
  side_lot *lots;
  size_t n;
  bool corrupt;
} side_scan;

static bool collect_side(const char *k, size_t klen, const char *v, size_t vlen,
                         void *arg) {
  side_scan *s = arg;
  int64_t total = 0;
  if (klen <= s->prefix_len || !read_svar(v, vlen, &total)) {
    s->corrupt = true;
    return false;
  }
  side_lot lot = {.total_micro = total};
  if (!ll_views_split2(k + s->prefix_len, klen - s->prefix_len, &lot.product_id,
                       &lot.lot_id)) {
    s->corrupt = true;
    return false;
  }
  s->lots = ll_xrealloc(s->lots, (s->n + 1) * sizeof *s->lots);
  s->lots[s->n++] = lot;
  return true;
}

/* prefix + a + b + reference, a and b lots of (product, lot id). */
static bool edge_key(ll_buf *key, const char *prefix, const side_lot *a,
                     const side_lot *b, const char *reference) {
  return ll_views_key2(key, prefix, a->product_id, a->lot_id) &&
         ll_views_key_append(key, b->product_id) &&
         ll_views_key_append(key, b->lot_id) &&
         ll_views_key_append(key, reference);
}

static void put_edge(ll_views_txn *t, ll_buf *key, ll_buf *val,
                     const side_lot *consumed, const side_lot *produced,
                     const char *reference) {
  ll_buf_reset(val);
  ll_buf_put_svar(val, consumed->total_micro);
  ll_buf_put_svar(val, produced->total_micro);
  /* Every part was checked for the separator by the callers. */
  bool ok = edge_key(key, LL_VK_EDGE_DOWN, consumed, produced, reference);
  assert(ok);
  ll_views_txn_put(t, key, val->data, val->len);
  ok = edge_key(key, LL_VK_EDGE_UP, produced, consumed, reference);
  assert(ok);
  (void)ok;
  ll_views_txn_put(t, key, val->data, val->len);
}

/* The lot arrives on one side of reference R (consumed: into PRODUCTION;
 * else produced: out of it): add to its total there and link it with
 * every lot on the other side. */
static int link_side(ll_views_txn *t, const ll_entry *e, bool consumed,
                     ll_err *err) {
  const ll_event *ev = &e->event;
  const char *ref = ev->reference;
  side_lot lot = {.product_id = ev->product_id, .lot_id = ev->lot_id};
  ll_buf key, val;
  ll_buf_init(&key);
  ll_buf_init(&val);
  side_scan other = {.n = 0};
  int rc = 0;
  int64_t total = 0;
  bool found = false;

  if (!ll_views_key3(&key, consumed ? LL_VK_CONSUMED : LL_VK_PRODUCED, ref,
                     lot.product_id, lot.lot_id)) {
    rc = corrupt(err, e, "production move with an unusable reference or lot");
    goto done;
  }
  if (ll_views_txn_get(t, &key, &val, &found, err) != 0) {
    rc = -1;
    goto done;
  }
  if (found && !read_svar((const char *)val.data, val.len, &total)) {
    rc = corrupt(err, e, "corrupt production total in the views");
    goto done;
  }
  if (!ll_decimal_add(total, ev->quantity_micro, &total)) {
    rc = corrupt(err, e, "production total overflows");
    goto done;
  }
  ll_buf_reset(&val);
  ll_buf_put_svar(&val, total);
  ll_views_txn_put(t, &key, val.data, val.len);
  lot.total_micro = total;

  /* The other side: "<prefix><R>\x1f". */
  bool ok =
      ll_views_key1(&key, consumed ? LL_VK_PRODUCED : LL_VK_CONSUMED, ref);
  assert(ok); /* ref passed key2 above */
  (void)ok;
  ll_buf_put_u8(&key, (uint8_t)LL_VK_SEP);
  other.prefix_len = key.len;
  if (ll_views_txn_scan(t, &key, collect_side, &other, err) != 0) {
    rc = -1;
    goto done;
  }
  if (other.corrupt) {
    rc = corrupt(err, e, "corrupt production total in the views");
    goto done;
  }
  for (size_t i = 0; i < other.n; i++) {
    const side_lot *o = &other.lots[i];
    if (strcmp(o->lot_id, lot.lot_id) == 0 &&
        strcmp(o->product_id, lot.product_id) == 0)
      continue; /* a rework: no edge from a lot to itself */
    if (consumed)
      put_edge(t, &key, &val, &lot, o, ref);
    else
      put_edge(t, &key, &val, o, &lot, ref);
  }
done:
  for (size_t i = 0; i < other.n; i++) {
    free(other.lots[i].product_id);
    free(other.lots[i].lot_id);
  }
  free(other.lots);
  ll_buf_free(&key);
  ll_buf_free(&val);
  return rc;
}

int ll_genealogy_apply(ll_views_txn *t, const ll_entry *e, ll_err *err) {
  const ll_event *ev = &e->event;
  if (ev->type != LL_EV_STOCK_MOVED)
    return 0;
  if (ev->lot_id == NULL || ev->from.id == NULL || ev->to.id == NULL)
    return corrupt(err, e, "StockMoved without lot_id or locations");
  if (ev->to.usage == LL_USAGE_CUSTOMER && put_delivery(t, e, err) != 0)
    return -1;
  if (ev->reference == NULL || ev->reference[0] == '\0')
    return 0;
  bool into = ev->to.usage == LL_USAGE_PRODUCTION;
  bool out_of = ev->from.usage == LL_USAGE_PRODUCTION;
  if (into == out_of)
    return 0; /* not a production move, or production to production */
  return link_side(t, e, into, err);
}

/* ---- deliveries ---- */

static void delivery_free(ll_delivery *d) {
  free(d->product_id);
  free(d->lot_id);
  free(d->location);
  free(d->reference);
  free(d->partner_id);
  free(d->partner_name);
}

typedef struct delivery_scan {
  const char *product_id;
  const char *lot_id;
  size_t prefix_len;
  ll_trace *trace;
  bool corrupt;
} delivery_scan;

static bool collect_delivery(const char *k, size_t klen, const char *v,
                             size_t vlen, void *arg) {
  delivery_scan *s = arg;
  ll_trace *tr = s->trace;
  if (tr->n_deliveries == LL_TRACE_DELIVERIES_MAX) {
    tr->truncated = true;
    return false;
  }
  ll_delivery d = {.lot_id = NULL};
  int64_t partition = 0;
  ll_rd rd;
  ll_rd_init(&rd, v, vlen);
  bool ok = klen == s->prefix_len + 8 && ll_rd_str(&rd, &d.location) &&
            ll_rd_svar(&rd, &d.quantity_micro) &&
            ll_rd_str(&rd, &d.reference) &&
            ll_rd_svar(&rd, &d.occurred_at_ms) &&
            ll_rd_svar(&rd, &d.recorded_at_ms) && ll_rd_svar(&rd, &partition) &&
            partition >= INT32_MIN && partition <= INT32_MAX &&
            ll_rd_uvar(&rd, &d.task_position) && d.location != NULL;
  d.partition = (int32_t)partition;
  if (ok && ll_rd_left(&rd) > 0)
    ok = ll_rd_str(&rd, &d.partner_id) && ll_rd_str(&rd, &d.partner_name);
  ok = ok && ll_rd_left(&rd) == 0;
  if (!ok) {
    delivery_free(&d);
    s->corrupt = true;
    return false;
  }
  d.position = ll_be64_decode(k + s->prefix_len);
  d.product_id = ll_strdup(s->product_id);
  d.lot_id = ll_strdup(s->lot_id);
  tr->deliveries = ll_xrealloc(tr->deliveries,
                               (tr->n_deliveries + 1) * sizeof *tr->deliveries);
  tr->deliveries[tr->n_deliveries++] = d;
  return true;
}

static int add_deliveries(ll_views_reader *r, const ll_trace_node *node,
                          ll_trace *tr, ll_err *err) {
  const char *lot_id = node->lot_id;
  ll_buf prefix;
  ll_buf_init(&prefix);
  bool ok = ll_views_key2(&prefix, LL_VK_DELIVERY, node->product_id, lot_id);
  assert(ok); /* lots in the tree come from validated keys */
  (void)ok;
  ll_buf_put_u8(&prefix, (uint8_t)LL_VK_SEP);
  delivery_scan s = {.product_id = node->product_id,
                     .lot_id = lot_id,
                     .prefix_len = prefix.len,
                     .trace = tr};
  int rc = ll_views_reader_scan(r, &prefix, NULL, collect_delivery, &s, err);
  ll_buf_free(&prefix);
  if (rc == 0 && s.corrupt)
    rc = ll_fail(err, LL_ERR_CORRUPT,
                 "views: corrupt delivery record of lot %s", lot_id);
  return rc;
}

/* ---- the set of lots already in the tree ---- */

/* Open addressing on FNV-1a; the table is at most half full. Members are
 * "<product_id>\x1f<lot_id>": a lot is (product, lot id). */
typedef struct lot_set {
  char **slots; /* owned */
  size_t cap;   /* power of two */
  size_t n;
} lot_set;

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s != '\0'; s++)
    h = (h ^ (uint8_t)*s) * 1099511628211ULL;
  return h;
}

/* Insert the node's lot; false if it was there already. */
static bool lot_set_add(lot_set *set, const ll_trace_node *node) {
  size_t plen = strlen(node->product_id), llen = strlen(node->lot_id);
  char *s = ll_xmalloc(plen + 1 + llen + 1);
  memcpy(s, node->product_id, plen);
  s[plen] = LL_VK_SEP;
  memcpy(s + plen + 1, node->lot_id, llen + 1);
  if (2 * (set->n + 1) > set->cap) {
    size_t cap = set->cap == 0 ? 64 : set->cap * 2;
    char **slots = ll_xcalloc(cap, sizeof *slots);
    for (size_t i = 0; i < set->cap; i++) {
      if (set->slots[i] == NULL)
        continue;
      size_t j = fnv1a(set->slots[i]) & (cap - 1);
      while (slots[j] != NULL)
        j = (j + 1) & (cap - 1);
      slots[j] = set->slots[i];
    }
    free(set->slots);
    set->slots = slots;
    set->cap = cap;
  }
  size_t j = fnv1a(s) & (set->cap - 1);
  for (; set->slots[j] != NULL; j = (j + 1) & (set->cap - 1)) {
    if (strcmp(set->slots[j], s) == 0) {
      free(s);
      return false;
    }
  }
  set->slots[j] = s;
  set->n++;
  return true;
}

static void lot_set_free(lot_set *set) {
  for (size_t i = 0; i < set->cap; i++)
    free(set->slots[i]);
  free(set->slots);
}

/* ---- trace ---- */

/* The edges of one lot, grouped by the lot at their other end. */
typedef struct edge_scan {
  size_t prefix_len;
  ll_trace_node *children; /* lot_id and links filled */
  size_t n;
  bool any; /* stop at the first edge: only "has it edges?" */
  bool found;
  bool corrupt;
} edge_scan;

static bool collect_edge(const char *k, size_t klen, const char *v, size_t vlen,
                         void *arg) {
  edge_scan *s = arg;
  s->found = true;
  if (s->any)
    return false;
  /* After the prefix: <product>\x1f<lot>\x1f<reference>. */
  const char *rest = k + s->prefix_len, *end = k + klen;
  const char *sep1 = memchr(rest, LL_VK_SEP, (size_t)(end - rest));
  const char *sep = sep1 == NULL
                        ? NULL
                        : memchr(sep1 + 1, LL_VK_SEP, (size_t)(end - sep1 - 1));
  ll_rd rd;
  ll_trace_link link = {.reference = NULL};
  ll_rd_init(&rd, v, vlen);
  if (sep == NULL || sep1 == rest || sep == sep1 + 1 || sep == end - 1 ||
      !ll_rd_svar(&rd, &link.consumed_micro) ||
      !ll_rd_svar(&rd, &link.produced_micro) || ll_rd_left(&rd) != 0) {
    s->corrupt = true;
    return false;
  }
  size_t product_len = (size_t)(sep1 - rest);
  size_t lot_len = (size_t)(sep - sep1 - 1);
  size_t ref_len = (size_t)(end - sep - 1);
  ll_trace_node *last = s->n > 0 ? &s->children[s->n - 1] : NULL;
  if (last == NULL || strlen(last->lot_id) != lot_len ||
      memcmp(last->lot_id, sep1 + 1, lot_len) != 0 ||
      strlen(last->product_id) != product_len ||
      memcmp(last->product_id, rest, product_len) != 0) {
    s->children = ll_xrealloc(s->children, (s->n + 1) * sizeof *s->children);
    last = &s->children[s->n++];
    memset(last, 0, sizeof *last);
    last->product_id = ll_strndup(rest, product_len);
    last->lot_id = ll_strndup(sep1 + 1, lot_len);
  }
  link.reference = ll_strndup(sep + 1, ref_len);
  last->links =
      ll_xrealloc(last->links, (last->n_links + 1) * sizeof *last->links);
  last->links[last->n_links++] = link;
  return true;
}

static void node_free(ll_trace_node *n) {
  free(n->lot_id);
  free(n->product_id);
  free(n->name);
  for (size_t i = 0; i < n->n_links; i++)
    free(n->links[i].reference);
  free(n->links);
}

void ll_trace_free(ll_trace *t) {
  if (t == NULL)
    return;
  for (size_t i = 0; i < t->n_nodes; i++)
    node_free(&t->nodes[i]);
  free(t->nodes);
  for (size_t i = 0; i < t->n_deliveries; i++)
    delivery_free(&t->deliveries[i]);
  free(t->deliveries);
  memset(t, 0, sizeof *t);
}

/* Fill the name from the lot details; *found false when the lot is not
 * there. */
static int describe(ll_views_reader *r, ll_trace_node *node, bool *found,
                    ll_err *err) {
  ll_lot lot;
  *found = false;
  ll_lot_init(&lot);
  if (ll_views_reader_get_lot(r, node->product_id, node->lot_id, &lot, found,
                              err) != 0)
    return -1;
  if (*found) {
    node->name = lot.name;
    lot.name = NULL;
    ll_lot_free(&lot);
  }
  return 0;
}

static int scan_edges(ll_views_reader *r, const ll_trace_node *node,
                      ll_trace_direction dir, edge_scan *s, ll_err *err) {
  const char *lot_id = node->lot_id;
  ll_buf prefix;
  ll_buf_init(&prefix);
  bool ok = ll_views_key2(
      &prefix, dir == LL_TRACE_DOWNSTREAM ? LL_VK_EDGE_DOWN : LL_VK_EDGE_UP,
      node->product_id, lot_id);
  assert(ok);
  (void)ok;
  ll_buf_put_u8(&prefix, (uint8_t)LL_VK_SEP);
  s->prefix_len = prefix.len;
  int rc = ll_views_reader_scan(r, &prefix, NULL, collect_edge, s, err);
  ll_buf_free(&prefix);
  if (rc == 0 && s->corrupt)
    rc = ll_fail(err, LL_ERR_CORRUPT,
                 "views: corrupt genealogy record of lot %s", lot_id);
  return rc;
}

/* Expand node i: append its children (or mark it truncated). */
static int expand(ll_views_reader *r, ll_trace *tr, lot_set *seen, size_t i,
                  ll_trace_direction dir, unsigned depth_limit, ll_err *err) {
  edge_scan s = {.any = tr->nodes[i].depth >= depth_limit};
  int rc = scan_edges(r, &tr->nodes[i], dir, &s, err);
  if (rc == 0 && s.any && s.found) {
    tr->nodes[i].truncated = true;
    tr->truncated = true;
  }
  size_t used = 0;
  for (; rc == 0 && used < s.n; used++) {
    if (tr->n_nodes == LL_TRACE_LOTS_MAX) {
      tr->nodes[i].truncated = true;
      tr->truncated = true;
      break;
    }
    ll_trace_node child = s.children[used];
    child.parent = i;
    child.depth = tr->nodes[i].depth + 1;
    tr->nodes = ll_xrealloc(tr->nodes, (tr->n_nodes + 1) * sizeof *tr->nodes);
    tr->nodes[tr->n_nodes] = child;
    ll_trace_node *added = &tr->nodes[tr->n_nodes++];
    added->repeat = !lot_set_add(seen, added);
    bool found = false;
    rc = describe(r, added, &found, err);
  }
  for (size_t k = used; k < s.n; k++) /* not taken into the tree */
    node_free(&s.children[k]);
  free(s.children);
  return rc;
}

int ll_views_trace(ll_views_reader *r, const char *product_id,
                   const char *lot_id, ll_trace_direction direction,
                   unsigned depth_limit, ll_trace *out, ll_err *err) {
  assert(r != NULL && product_id != NULL && lot_id != NULL && out != NULL);
  assert(depth_limit >= 1 && depth_limit <= LL_TRACE_DEPTH_MAX);
  memset(out, 0, sizeof *out);
  if (strchr(lot_id, LL_VK_SEP) != NULL ||
      strchr(product_id, LL_VK_SEP) != NULL)
    return 0; /* no such lot */
  ll_trace_node root = {.parent = SIZE_MAX,
                        .product_id = ll_strdup(product_id),
                        .lot_id = ll_strdup(lot_id)};
  bool found = false;
  int rc = describe(r, &root, &found, err);
  if (rc != 0 || !found) { /* an error, or the lot does not exist */
    node_free(&root);
    return rc;
  }
  out->nodes = ll_xmalloc(sizeof *out->nodes);
  out->nodes[0] = root;
  out->n_nodes = 1;
  lot_set seen = {.n = 0};
  lot_set_add(&seen, &out->nodes[0]);
  /* Breadth-first: the nodes array is the queue. Only the slots array of
   * the set points into node strings, which never move. */
  for (size_t i = 0; rc == 0 && i < out->n_nodes; i++) {
    if (!out->nodes[i].repeat)
      rc = expand(r, out, &seen, i, direction, depth_limit, err);
  }
  if (direction == LL_TRACE_DOWNSTREAM) {
    for (size_t i = 0; rc == 0 && i < out->n_nodes; i++) {
      if (out->n_deliveries == LL_TRACE_DELIVERIES_MAX) {
        out->truncated = true;
        break;
      }
      if (!out->nodes[i].repeat)
        rc = add_deliveries(r, &out->nodes[i], out, err);
    }
  }
  lot_set_free(&seen);
  if (rc != 0)
    ll_trace_free(out);
  return rc;
}

/* ---- facts by reference and by lot (a trace gathered in a cluster) ----
 *
 * An edge joins two sides of one reference, which in a cluster belong to
 * different products and so, in general, to different instances: no
 * instance holds both, and its gdn/ and gup/ rows miss the link. The rows
 * each side writes on its own instance are enough to join them
 * elsewhere: gcon/ and gpro/ by reference give the lots of each side with
 * their totals, and a lot's history gives the references it was consumed
 * or produced under (the same rule as ll_genealogy_apply). */

void ll_genealogy_rows_free(ll_genealogy_row *rows, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(rows[i].product_id);
    free(rows[i].lot_id);
    free(rows[i].reference);
  }
  free(rows);
}

int ll_views_reference_lots(ll_views_reader *r, const char *reference,
                            bool consumed, ll_genealogy_row **out,
                            size_t *n_out, ll_err *err) {
  assert(r != NULL && reference != NULL && out != NULL && n_out != NULL);
  *out = NULL;
  *n_out = 0;
  ll_buf prefix;
  ll_buf_init(&prefix);
  if (!ll_views_key1(&prefix, consumed ? LL_VK_CONSUMED : LL_VK_PRODUCED,
                     reference)) {
    ll_buf_free(&prefix);
    return 0; /* a reference with the separator links nothing */
  }
  ll_buf_put_u8(&prefix, (uint8_t)LL_VK_SEP);
  side_scan s = {.prefix_len = prefix.len};
  int rc = ll_views_reader_scan(r, &prefix, NULL, collect_side, &s, err);
  ll_buf_free(&prefix);
  if (rc == 0 && s.corrupt)
    rc = ll_fail(err, LL_ERR_CORRUPT,
                 "views: corrupt production total under reference %s",
                 reference);
  ll_genealogy_row *rows = ll_xcalloc(s.n + 1, sizeof *rows);
  for (size_t i = 0; i < s.n; i++)
    rows[i] = (ll_genealogy_row){.product_id = s.lots[i].product_id,
                                 .lot_id = s.lots[i].lot_id,
                                 .total_micro = s.lots[i].total_micro};
  free(s.lots);
  if (rc != 0) {
    ll_genealogy_rows_free(rows, s.n);
    return rc;
  }
  *out = rows;
  *n_out = s.n;
  return 0;
}

static int compare_rows_by_reference(const void *a, const void *b) {
  return strcmp(((const ll_genealogy_row *)a)->reference,
                ((const ll_genealogy_row *)b)->reference);
}

/* Add the reference of a production move on the chosen side to rows
 * (once each). */
static void note_reference(const ll_event *ev, bool consumed,
                           ll_genealogy_row **rows, size_t *n) {
  if (ev->type != LL_EV_STOCK_MOVED || ev->reference == NULL ||
      ev->reference[0] == '\0')
    return;
  bool into = ev->to.usage == LL_USAGE_PRODUCTION;
  bool out_of = ev->from.usage == LL_USAGE_PRODUCTION;
  if (into == out_of || into != consumed)
    return; /* as ll_genealogy_apply: not this side of a production */
  for (size_t i = 0; i < *n; i++)
    if (strcmp((*rows)[i].reference, ev->reference) == 0)
      return;
  *rows = ll_xrealloc(*rows, (*n + 1) * sizeof **rows);
  (*rows)[(*n)++] = (ll_genealogy_row){.reference = ll_strdup(ev->reference)};
}

/* The references of the lot on one side, from its history. */
static int history_references(ll_views_reader *r, const char *product_id,
                              const char *lot_id, bool consumed,
                              ll_genealogy_row **rows, size_t *n, ll_err *err) {
  uint64_t after = 0;
  bool more = true;
  while (more) {
    ll_history_entry *page = NULL;
    size_t pn = 0;
    if (ll_views_lot_history(r, product_id, lot_id, after, LL_LIST_LIMIT_MAX,
                             &page, &pn, &more, err) != 0)
      return -1;
    for (size_t i = 0; i < pn; i++)
      note_reference(&page[i].event, consumed, rows, n);
    if (pn > 0)
      after = page[pn - 1].position;
    more = more && pn > 0;
    ll_history_free(page, pn);
  }
  return 0;
}

/* rows[i].total_micro from gcon/ or gpro/ <reference>\x1f<lot>. */
static int read_totals(ll_views_reader *r, const char *product_id,
                       const char *lot_id, bool consumed,
                       ll_genealogy_row *rows, size_t n, ll_err *err) {
  ll_buf key, val;
  ll_buf_init(&key);
  ll_buf_init(&val);
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    bool found = false;
    if (!ll_views_key3(&key, consumed ? LL_VK_CONSUMED : LL_VK_PRODUCED,
                       rows[i].reference, product_id, lot_id))
      rc =
          ll_fail(err, LL_ERR_CORRUPT,
                  "views: lot %s has an unusable production reference", lot_id);
    else if (ll_views_reader_get(r, &key, &val, &found, err) != 0)
      rc = -1;
    else if (!found ||
             !read_svar((const char *)val.data, val.len, &rows[i].total_micro))
      rc = ll_fail(err, LL_ERR_CORRUPT,
                   "views: lot %s has no production total under %s", lot_id,
                   rows[i].reference);
  }
  ll_buf_free(&key);
  ll_buf_free(&val);
  return rc;
}

int ll_views_lot_references(ll_views_reader *r, const char *product_id,
                            const char *lot_id, bool consumed,
                            ll_genealogy_row **out, size_t *n_out,
                            ll_err *err) {
  assert(r != NULL && product_id != NULL && lot_id != NULL);
  assert(out != NULL && n_out != NULL);
  ll_genealogy_row *rows = NULL;
  size_t n = 0;
  *out = NULL;
  *n_out = 0;
  if (strchr(lot_id, LL_VK_SEP) != NULL ||
      strchr(product_id, LL_VK_SEP) != NULL)
    return 0; /* no such lot */
  if (history_references(r, product_id, lot_id, consumed, &rows, &n, err) !=
          0 ||
      read_totals(r, product_id, lot_id, consumed, rows, n, err) != 0) {
    ll_genealogy_rows_free(rows, n);
    return -1;
  }
  if (n > 1)
    qsort(rows, n, sizeof *rows, compare_rows_by_reference);
  *out = rows;
  *n_out = n;
  return 0;
}

int ll_views_lot_deliveries(ll_views_reader *r, const char *product_id,
                            const char *lot_id, ll_trace *into, ll_err *err) {
  assert(r != NULL && product_id != NULL && lot_id != NULL && into != NULL);
  if (strchr(lot_id, LL_VK_SEP) != NULL ||
      strchr(product_id, LL_VK_SEP) != NULL)
    return 0; /* no such lot */
  ll_trace_node node = {.product_id = (char *)product_id,
                        .lot_id = (char *)lot_id};
  return add_deliveries(r, &node, into, err);
}
