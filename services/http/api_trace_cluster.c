/* api_trace_cluster.c — a trace gathered from every owner in a cluster
 * (docs/traceability.md, "In a cluster"; docs/cluster-design.md, decision
 * 5).
 *
 * A genealogy link joins a move into PRODUCTION under reference R (the
 * consumed lot, of one product) and a move out of it under R (the
 * produced lot, of another): two products, so in general two partitions
 * owned by two instances, and neither instance's gdn/ and gup/ rows hold
 * the link. What each owner does hold, for its own partitions, is enough
 * to join them anywhere:
 *
 *   GET /v1/cluster/genealogy?reference=R
 *       {"reference","partitions":[p...],"consumed":[row],"produced":[row]}
 *       with row {"product_id","lot_id","quantity_micro"}: the lots on
 *       each side of R among the partitions this instance owns (listed),
 *       from the gcon/ and gpro/ rows.
 *   GET /v1/cluster/genealogy?product_id=P&lot_id=L[&deliveries=1]
 *       {"product_id","lot_id","found","name","consumed":[ref],
 *       "produced":[ref]} with ref {"reference","quantity_micro"}: the
 *       references the lot was consumed and produced under, with its
 *       totals; with deliveries=1 also "deliveries":[{"position",
 *       "location","quantity_micro","reference","occurred_at_ms",
 *       "recorded_at_ms","partner_id","partner_name"}] and
 *       "deliveries_more" (more than a trace takes). 503 when this instance
 * does not own the lot's partition.
 *
 * The instance that answers a trace (the owner of the lot's product, where
 * api_cluster.c routes it) walks the graph breadth-first exactly as
 * ll_views_trace does on one instance: the facts of each lot from its
 * owner, the other side of each reference from every owner, the children
 * of a lot in the order of the gdn/ (gup/) keys, the same limits. What
 * this instance owns it reads from its own views snapshot, through the
 * same functions the route uses: no HTTP to itself. A partition that no
 * answer covers, or an owner that does not answer, is a 503: never a
 * partial trace. Each lot and each reference is asked once per trace. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "ll_cluster.h"
#include "ll_event.h"
#include "ll_hash.h"
#include "ll_mem.h"

#define GENEALOGY_PATH "/v1/cluster/genealogy"

/* ---- what this instance owns ---- */

static int32_t partition_of(ll_cluster *c, const char *product_id) {
  int32_t n = c != NULL ? ll_cluster_partitions(c) : 0;
  return n > 0 ? ll_partition_of_key(product_id, strlen(product_id), n) : -1;
}

/* Exactly the partitions this instance's consumer holds: leftovers of a
 * task handed over are never answered for, even without peers. */
static bool owns_product(ll_cluster *c, const char *product_id) {
  int32_t p = partition_of(c, product_id);
  return p >= 0 && ll_cluster_owns(c, p);
}

static json_t *owned_partitions(ll_cluster *c) {
  json_t *arr = json_array();
  int32_t n = ll_cluster_partitions(c);
  for (int32_t p = 0; p < n; p++)
    if (ll_cluster_owns(c, p))
      json_array_append_new(arr, json_integer(p));
  return arr;
}

/* ---- the facts, from this instance's views ---- */

static json_t *reference_side_json(ll_cluster *c, ll_views_reader *vr,
                                   const char *reference, bool consumed,
                                   ll_err *err) {
  ll_genealogy_row *rows = NULL;
  size_t n = 0;
  if (ll_views_reference_lots(vr, reference, consumed, &rows, &n, err) != 0)
    return NULL;
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) {
    if (!owns_product(c, rows[i].product_id))
      continue;
    json_array_append_new(arr, json_pack("{s:s, s:s, s:I}", "product_id",
                                         rows[i].product_id, "lot_id",
                                         rows[i].lot_id, "quantity_micro",
                                         (json_int_t)rows[i].total_micro));
  }
  ll_genealogy_rows_free(rows, n);
  return arr;
}

/* The lots on each side of reference among the partitions owned. */
static json_t *reference_facts(ll_cluster *c, ll_views_reader *vr,
                               const char *reference, ll_err *err) {
  json_t *consumed = reference_side_json(c, vr, reference, true, err);
  json_t *produced = consumed == NULL
                         ? NULL
                         : reference_side_json(c, vr, reference, false, err);
  if (produced == NULL) {
    json_decref(consumed);
    return NULL;
  }
  return json_pack("{s:s, s:o, s:o, s:o}", "reference", reference, "partitions",
                   owned_partitions(c), "consumed", consumed, "produced",
                   produced);
}

static json_t *lot_side_json(ll_views_reader *vr, const char *product_id,
                             const char *lot_id, bool consumed, ll_err *err) {
  ll_genealogy_row *rows = NULL;
  size_t n = 0;
  if (ll_views_lot_references(vr, product_id, lot_id, consumed, &rows, &n,
                              err) != 0)
    return NULL;
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(arr, json_pack("{s:s, s:I}", "reference",
                                         rows[i].reference, "quantity_micro",
                                         (json_int_t)rows[i].total_micro));
  ll_genealogy_rows_free(rows, n);
  return arr;
}

static json_t *delivery_facts(const ll_delivery *d) {
  return json_pack(
      "{s:I, s:i, s:I, s:s, s:I, s:o, s:I, s:I, s:o, s:o}", "position",
      (json_int_t)d->position, "partition", (int)d->partition, "task_position",
      (json_int_t)d->task_position, "location", d->location, "quantity_micro",
      (json_int_t)d->quantity_micro, "reference", api_json_text(d->reference),
      "occurred_at_ms", (json_int_t)d->occurred_at_ms, "recorded_at_ms",
      (json_int_t)d->recorded_at_ms, "partner_id", api_json_text(d->partner_id),
      "partner_name", api_json_text(d->partner_name));
}

/* Add "deliveries" and "deliveries_more" to facts; -1 with err. */
static int add_delivery_facts(json_t *facts, ll_views_reader *vr,
                              const char *product_id, const char *lot_id,
                              ll_err *err) {
  ll_trace t;
  memset(&t, 0, sizeof t);
  if (ll_views_lot_deliveries(vr, product_id, lot_id, &t, err) != 0) {
    ll_trace_free(&t);
    return -1;
  }
  json_t *arr = json_array();
  for (size_t i = 0; i < t.n_deliveries; i++)
    json_array_append_new(arr, delivery_facts(&t.deliveries[i]));
  json_object_set_new(facts, "deliveries", arr);
  json_object_set_new(facts, "deliveries_more", json_boolean(t.truncated));
  ll_trace_free(&t);
  return 0;
}

/* The lot's name, references and (with deliveries) deliveries. */
static json_t *lot_facts(ll_views_reader *vr, const char *product_id,
                         const char *lot_id, bool deliveries, ll_err *err) {
  ll_lot lot;
  bool found = false;
  ll_lot_init(&lot);
  if (ll_views_reader_get_lot(vr, product_id, lot_id, &lot, &found, err) != 0)
    return NULL;
  json_t *facts = json_pack("{s:s, s:s, s:b, s:o}", "product_id", product_id,
                            "lot_id", lot_id, "found", found, "name",
                            api_json_text(found ? lot.name : NULL));
  if (found)
    ll_lot_free(&lot);
  json_t *consumed = lot_side_json(vr, product_id, lot_id, true, err);
  json_t *produced = consumed == NULL
                         ? NULL
                         : lot_side_json(vr, product_id, lot_id, false, err);
  if (produced == NULL ||
      (deliveries &&
       add_delivery_facts(facts, vr, product_id, lot_id, err) != 0)) {
    json_decref(consumed);
    json_decref(produced);
    json_decref(facts);
    return NULL;
  }
  json_object_set_new(facts, "consumed", consumed);
  json_object_set_new(facts, "produced", produced);
  return facts;
}

/* ---- GET /v1/cluster/genealogy ---- */

static void not_in_cluster(api_reply *r) {
  api_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                  "this instance owns no partition of the input topic yet");
}

void api_get_cluster_genealogy(api_request *rq, const char *id, api_reply *r) {
  (void)id; /* the path has no {parameter} */
  const char *reference = api_query(rq, "reference");
  const char *product_id = api_query(rq, "product_id");
  const char *lot_id = api_query(rq, "lot_id");
  bool deliveries = false;
  if (api_query_flag(rq, "deliveries", &deliveries, r) != 0)
    return;
  bool by_lot = product_id != NULL && lot_id != NULL;
  if ((reference != NULL) == (product_id != NULL || lot_id != NULL) ||
      (reference == NULL && !by_lot)) {
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "give either reference, or product_id and lot_id");
    return;
  }
  ll_cluster *c = api_cluster(rq->api);
  if (c == NULL || ll_cluster_partitions(c) == 0) {
    not_in_cluster(r);
    return;
  }
  if (by_lot && !owns_product(c, product_id)) {
    api_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                    "the partition of product %s is not owned by this "
                    "instance; retry in a moment",
                    product_id);
    return;
  }
  ll_err err = {0};
  ll_views_reader *vr = ll_views_reader_open(rq->api->deps.views, &err);
  json_t *body = NULL;
  if (vr != NULL)
    body = by_lot ? lot_facts(vr, product_id, lot_id, deliveries, &err)
                  : reference_facts(c, vr, reference, &err);
  if (body == NULL) {
    api_reply_storage_error(r, &err);
  } else {
    api_reply_json(r, MHD_HTTP_OK, body);
    r->position = ll_views_reader_position(vr);
  }
  if (vr != NULL)
    ll_views_reader_close(vr);
}

/* ---- asking another owner ---- */

/* One trace's walk: the request it answers, this instance's snapshot,
 * and what the owners said (each lot and reference asked once). */
typedef struct walk {
  api_request *rq;
  ll_views_reader *vr;
  ll_cluster *c;
  bool downstream;
  json_t *lots; /* "<product_id>\x1f<lot_id>" -> lot facts */
  json_t *refs; /* reference -> {"consumed":[row],"produced":[row]} */
  api_reply *r; /* filled on failure */
} walk;

static void unavailable(walk *w, const char *what, const char *detail) {
  api_reply_error(w->r, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                  "the trace cannot be complete: %s (%s); retry in a moment",
                  what, detail);
}

/* key=value, the value percent-encoded (RFC 3986 unreserved pass). */
static void put_param(ll_buf *b, char sep, const char *key, const char *v) {
  static const char hex[] = "0123456789ABCDEF";
  ll_buf_put(b, &sep, 1);
  ll_buf_put(b, key, strlen(key));
  ll_buf_put(b, "=", 1);
  for (; *v != '\0'; v++) {
    unsigned char ch = (unsigned char)*v;
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
        (ch >= '0' && ch <= '9') || strchr("-._~", ch) != NULL) {
      ll_buf_put(b, v, 1);
    } else {
      char esc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
      ll_buf_put(b, esc, sizeof esc);
    }
  }
}

/* GET target of the instance at url: its JSON answer (200 only), or NULL
 * with w->r filled. */
static json_t *ask(walk *w, const char *url, const ll_buf *target) {
  char *path = ll_strndup((const char *)target->data, target->len);
  ll_forward_request f = {
      .method = "GET",
      .base_url = url,
      .target = path,
      .authorization = MHD_lookup_connection_value(
          w->rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
  };
  ll_forward_reply out;
  ll_forward_reply_init(&out);
  ll_err err = {0};
  json_t *answer = NULL;
  if (ll_forward(&f, &out, &err) != 0) {
    unavailable(w, "an owner did not answer", err.message);
  } else if (out.status != MHD_HTTP_OK ||
             (answer = json_loadb((const char *)out.body.data, out.body.len, 0,
                                  NULL)) == NULL) {
    char detail[LL_MEMBER_URL_MAX + 64];
    snprintf(detail, sizeof detail, "%s answered %ld", url, out.status);
    unavailable(w, "an owner could not answer", detail);
  }
  ll_forward_reply_free(&out);
  free(path);
  return answer;
}

/* ---- the facts a walk needs, from whoever owns them ---- */

static char *lot_key(const char *product_id, const char *lot_id) {
  size_t pn = strlen(product_id), ln = strlen(lot_id);
  char *k = ll_xmalloc(pn + 1 + ln + 1);
  memcpy(k, product_id, pn);
  k[pn] = '\x1f';
  memcpy(k + pn + 1, lot_id, ln + 1);
  return k;
}

static json_t *ask_lot_owner(walk *w, const char *product_id,
                             const char *lot_id) {
  char url[LL_MEMBER_URL_MAX];
  int32_t p = partition_of(w->c, product_id);
  if (p < 0 || ll_cluster_owner(w->c, p, url, sizeof url) != LL_OWNER_PEER) {
    unavailable(w, "a partition has no owner now", product_id);
    return NULL;
  }
  ll_buf target;
  ll_buf_init(&target);
  ll_buf_put(&target, GENEALOGY_PATH, strlen(GENEALOGY_PATH));
  put_param(&target, '?', "product_id", product_id);
  put_param(&target, '&', "lot_id", lot_id);
  if (w->downstream)
    put_param(&target, '&', "deliveries", "1");
  json_t *facts = ask(w, url, &target);
  ll_buf_free(&target);
  return facts;
}

/* The facts of a lot (borrowed from the walk), or NULL with w->r filled. */
static json_t *facts_of_lot(walk *w, const char *product_id,
                            const char *lot_id) {
  char *key = lot_key(product_id, lot_id);
  json_t *facts = json_object_get(w->lots, key);
  if (facts == NULL) {
    ll_err err = {0};
    if (!owns_product(w->c, product_id)) {
      facts = ask_lot_owner(w, product_id, lot_id);
    } else if ((facts = lot_facts(w->vr, product_id, lot_id, w->downstream,
                                  &err)) == NULL) {
      api_reply_storage_error(w->r, &err);
    }
    if (facts != NULL)
      json_object_set_new(w->lots, key, facts);
  }
  free(key);
  return facts;
}

/* Append the rows of side in answer to merged[side], once per lot. */
static void merge_side(json_t *merged, const json_t *answer, const char *side) {
  json_t *rows = json_object_get(merged, side);
  json_t *seen = json_object_get(merged, side[0] == 'c' ? "_c" : "_p");
  size_t i;
  json_t *row;
  json_array_foreach(json_object_get(answer, side), i, row) {
    const char *product = json_string_value(json_object_get(row, "product_id"));
    const char *lot = json_string_value(json_object_get(row, "lot_id"));
    if (product == NULL || lot == NULL)
      continue;
    char *key = lot_key(product, lot);
    if (json_object_get(seen, key) == NULL) {
      json_object_set_new(seen, key, json_true());
      json_array_append(rows, row);
    }
    free(key);
  }
}

static void merge_answer(json_t *merged, const json_t *answer, bool *covered,
                         int32_t partitions) {
  merge_side(merged, answer, "consumed");
  merge_side(merged, answer, "produced");
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(answer, "partitions"), i, p) {
    json_int_t v = json_integer_value(p);
    if (v >= 0 && v < partitions)
      covered[v] = true;
  }
}

/* Ask every other owner about reference and merge into merged; -1 with
 * w->r filled. */
static int ask_peers_reference(walk *w, const char *reference, json_t *merged,
                               bool *covered, int32_t partitions) {
  char(*urls)[LL_MEMBER_URL_MAX] = ll_xcalloc(LL_MEMBERS_MAX, sizeof *urls);
  size_t n = ll_cluster_peer_urls(w->c, urls, LL_MEMBERS_MAX);
  ll_buf target;
  ll_buf_init(&target);
  ll_buf_put(&target, GENEALOGY_PATH, strlen(GENEALOGY_PATH));
  put_param(&target, '?', "reference", reference);
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    json_t *answer = ask(w, urls[i], &target);
    if (answer == NULL) {
      rc = -1;
    } else {
      merge_answer(merged, answer, covered, partitions);
      json_decref(answer);
    }
  }
  ll_buf_free(&target);
  free(urls);
  return rc;
}

/* Every partition answered for by someone, else w->r filled (503). */
static int check_covered(walk *w, const bool *covered, int32_t partitions) {
  for (int32_t p = 0; p < partitions; p++) {
    if (!covered[p]) {
      char detail[64];
      snprintf(detail, sizeof detail, "partition %d", (int)p);
      unavailable(w, "no owner answered for a partition", detail);
      return -1;
    }
  }
  return 0;
}

/* The lots on each side of reference, from every owner (borrowed from the
 * walk), or NULL with w->r filled. */
static json_t *lots_of_reference(walk *w, const char *reference) {
  json_t *merged = json_object_get(w->refs, reference);
  if (merged != NULL)
    return merged;
  int32_t partitions = ll_cluster_partitions(w->c);
  if (partitions <= 0) {
    unavailable(w, "the partition count is not known yet", reference);
    return NULL;
  }
  ll_err err = {0};
  json_t *mine = reference_facts(w->c, w->vr, reference, &err);
  if (mine == NULL) {
    api_reply_storage_error(w->r, &err);
    return NULL;
  }
  merged =
      json_pack("{s:[], s:[], s:{}, s:{}}", "consumed", "produced", "_c", "_p");
  bool *covered = ll_xcalloc((size_t)partitions, sizeof *covered);
  merge_answer(merged, mine, covered, partitions);
  json_decref(mine);
  if (ask_peers_reference(w, reference, merged, covered, partitions) != 0 ||
      check_covered(w, covered, partitions) != 0) {
    json_decref(merged);
    merged = NULL;
  } else {
    json_object_set_new(w->refs, reference, merged);
  }
  free(covered);
  return merged;
}

/* ---- the walk ---- */

/* One link of a node to a lot on the other side of a reference; key is
 * "<product>\x1f<lot>\x1f<reference>", the order of the gdn/ (gup/) rows
 * ll_views_trace reads on one instance. */
typedef struct edge {
  char *key;
  const char *product_id, *lot_id, *reference; /* borrowed from the walk */
  int64_t consumed_micro, produced_micro;
} edge;

static int compare_edges(const void *a, const void *b) {
  return strcmp(((const edge *)a)->key, ((const edge *)b)->key);
}

static void edges_free(edge *edges, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(edges[i].key);
  free(edges);
}

static bool is_node(const ll_trace_node *node, const char *product,
                    const char *lot) {
  return strcmp(node->product_id, product) == 0 &&
         strcmp(node->lot_id, lot) == 0;
}

/* Edges through one of the node's references (own_micro its total). */
static int add_reference_edges(walk *w, const ll_trace_node *node,
                               const char *reference, int64_t own_micro,
                               edge **edges, size_t *n) {
  json_t *both = lots_of_reference(w, reference);
  if (both == NULL)
    return -1;
  size_t i;
  json_t *row;
  json_array_foreach(
      json_object_get(both, w->downstream ? "produced" : "consumed"), i, row) {
    edge e = {
        .product_id = json_string_value(json_object_get(row, "product_id")),
        .lot_id = json_string_value(json_object_get(row, "lot_id")),
        .reference = reference,
    };
    if (is_node(node, e.product_id, e.lot_id))
      continue; /* a rework: no edge from a lot to itself */
    int64_t other =
        (int64_t)json_integer_value(json_object_get(row, "quantity_micro"));
    e.consumed_micro = w->downstream ? own_micro : other;
    e.produced_micro = w->downstream ? other : own_micro;
    char *lot = lot_key(e.product_id, e.lot_id);
    e.key = lot_key(lot, reference);
    free(lot);
    *edges = ll_xrealloc(*edges, (*n + 1) * sizeof **edges);
    (*edges)[(*n)++] = e;
  }
  return 0;
}

/* Every edge of the node in the trace's direction, in key order. */
static int node_edges(walk *w, const ll_trace_node *node, edge **out,
                      size_t *n_out) {
  *out = NULL;
  *n_out = 0;
  json_t *facts = facts_of_lot(w, node->product_id, node->lot_id);
  if (facts == NULL)
    return -1;
  size_t i;
  json_t *ref;
  json_array_foreach(
      json_object_get(facts, w->downstream ? "consumed" : "produced"), i, ref) {
    const char *reference =
        json_string_value(json_object_get(ref, "reference"));
    int64_t own =
        (int64_t)json_integer_value(json_object_get(ref, "quantity_micro"));
    if (reference == NULL ||
        add_reference_edges(w, node, reference, own, out, n_out) != 0) {
      if (reference == NULL)
        unavailable(w, "an owner answered without a reference", node->lot_id);
      edges_free(*out, *n_out);
      *out = NULL;
      *n_out = 0;
      return -1;
    }
  }
  if (*n_out > 1)
    qsort(*out, *n_out, sizeof **out, compare_edges);
  return 0;
}

/* Append a child of node i for edge e: its name from its owner; seen
 * holds the lots already in the tree. */
static int add_child(walk *w, ll_trace *tr, json_t *seen, size_t i,
                     const edge *e) {
  ll_trace_node child = {
      .parent = i,
      .depth = tr->nodes[i].depth + 1,
      .product_id = ll_strdup(e->product_id),
      .lot_id = ll_strdup(e->lot_id),
  };
  char *key = lot_key(e->product_id, e->lot_id);
  child.repeat = json_object_get(seen, key) != NULL;
  json_object_set_new(seen, key, json_true());
  free(key);
  tr->nodes = ll_xrealloc(tr->nodes, (tr->n_nodes + 1) * sizeof *tr->nodes);
  tr->nodes[tr->n_nodes++] = child;
  json_t *facts = facts_of_lot(w, e->product_id, e->lot_id);
  if (facts == NULL)
    return -1;
  const char *name = json_string_value(json_object_get(facts, "name"));
  tr->nodes[tr->n_nodes - 1].name = name != NULL ? ll_strdup(name) : NULL;
  return 0;
}

static void add_link(ll_trace_node *node, const edge *e) {
  node->links =
      ll_xrealloc(node->links, (node->n_links + 1) * sizeof *node->links);
  node->links[node->n_links++] = (ll_trace_link){
      .reference = ll_strdup(e->reference),
      .consumed_micro = e->consumed_micro,
      .produced_micro = e->produced_micro,
  };
}

/* Expand node i as ll_views_trace does: its children (one per lot at the
 * other end, links in reference order), or truncated at the depth or size
 * limit. */
static int expand(walk *w, ll_trace *tr, json_t *seen, size_t i,
                  unsigned depth_limit) {
  edge *edges = NULL;
  size_t n = 0;
  if (node_edges(w, &tr->nodes[i], &edges, &n) != 0)
    return -1;
  int rc = 0;
  if (tr->nodes[i].depth >= depth_limit) {
    if (n > 0) /* only "has it edges?" */
      tr->nodes[i].truncated = tr->truncated = true;
  } else {
    size_t child = SIZE_MAX;
    for (size_t k = 0; rc == 0 && k < n; k++) {
      bool same =
          child != SIZE_MAX &&
          is_node(&tr->nodes[child], edges[k].product_id, edges[k].lot_id);
      if (!same && tr->n_nodes == LL_TRACE_LOTS_MAX) {
        tr->nodes[i].truncated = true;
        tr->truncated = true;
        break;
      }
      if (!same) {
        rc = add_child(w, tr, seen, i, &edges[k]);
        child = tr->n_nodes - 1;
      }
      if (rc == 0)
        add_link(&tr->nodes[child], &edges[k]);
    }
  }
  edges_free(edges, n);
  return rc;
}

/* A copy of d[key], NULL when it is null or absent. */
static char *text_or_null(const json_t *d, const char *key) {
  const char *v = json_string_value(json_object_get(d, key));
  return v != NULL ? ll_strdup(v) : NULL;
}

static int64_t integer_of(const json_t *d, const char *key) {
  return (int64_t)json_integer_value(json_object_get(d, key));
}

static void add_delivery(ll_trace *tr, const ll_trace_node *node,
                         const json_t *d) {
  const char *location = json_string_value(json_object_get(d, "location"));
  tr->deliveries = ll_xrealloc(tr->deliveries,
                               (tr->n_deliveries + 1) * sizeof *tr->deliveries);
  tr->deliveries[tr->n_deliveries++] = (ll_delivery){
      .position = (uint64_t)integer_of(d, "position"),
      .partition = (int32_t)integer_of(d, "partition"),
      .task_position = (uint64_t)integer_of(d, "task_position"),
      .product_id = ll_strdup(node->product_id),
      .lot_id = ll_strdup(node->lot_id),
      .location = ll_strdup(location != NULL ? location : ""),
      .quantity_micro = integer_of(d, "quantity_micro"),
      .reference = text_or_null(d, "reference"),
      .occurred_at_ms = integer_of(d, "occurred_at_ms"),
      .recorded_at_ms = integer_of(d, "recorded_at_ms"),
      .partner_id = text_or_null(d, "partner_id"),
      .partner_name = text_or_null(d, "partner_name"),
  };
}

/* The deliveries of every lot expanded in the tree, in node order, then
 * log order, up to LL_TRACE_DELIVERIES_MAX (as ll_views_trace). */
static int add_deliveries(walk *w, ll_trace *tr) {
  for (size_t i = 0; i < tr->n_nodes; i++) {
    if (tr->n_deliveries == LL_TRACE_DELIVERIES_MAX) {
      tr->truncated = true;
      break;
    }
    if (tr->nodes[i].repeat)
      continue;
    json_t *facts =
        facts_of_lot(w, tr->nodes[i].product_id, tr->nodes[i].lot_id);
    if (facts == NULL)
      return -1;
    size_t k;
    json_t *d;
    json_array_foreach(json_object_get(facts, "deliveries"), k, d) {
      if (tr->n_deliveries == LL_TRACE_DELIVERIES_MAX) {
        tr->truncated = true;
        break;
      }
      add_delivery(tr, &tr->nodes[i], d);
    }
    if (json_is_true(json_object_get(facts, "deliveries_more")))
      tr->truncated = true; /* its owner stopped at the limit too */
  }
  return 0;
}

/* The root, or n_nodes 0 when the lot does not exist. */
static int add_root(walk *w, ll_trace *tr, json_t *seen, const char *product_id,
                    const char *lot_id) {
  json_t *facts = facts_of_lot(w, product_id, lot_id);
  if (facts == NULL)
    return -1;
  if (!json_is_true(json_object_get(facts, "found")))
    return 0;
  const char *name = json_string_value(json_object_get(facts, "name"));
  tr->nodes = ll_xmalloc(sizeof *tr->nodes);
  tr->nodes[0] = (ll_trace_node){
      .parent = SIZE_MAX,
      .product_id = ll_strdup(product_id),
      .lot_id = ll_strdup(lot_id),
      .name = name != NULL ? ll_strdup(name) : NULL,
  };
  tr->n_nodes = 1;
  char *key = lot_key(product_id, lot_id);
  json_object_set_new(seen, key, json_true());
  free(key);
  return 0;
}

int api_trace_gather(api_request *rq, ll_views_reader *vr,
                     const char *product_id, const char *lot_id,
                     ll_trace_direction direction, unsigned depth_limit,
                     ll_trace *out, api_reply *r) {
  assert(depth_limit >= 1 && depth_limit <= LL_TRACE_DEPTH_MAX);
  memset(out, 0, sizeof *out);
  walk w = {
      .rq = rq,
      .vr = vr,
      .c = api_cluster(rq->api),
      .downstream = direction == LL_TRACE_DOWNSTREAM,
      .lots = json_object(),
      .refs = json_object(),
      .r = r,
  };
  assert(w.c != NULL);
  json_t *seen = json_object();
  int rc = add_root(&w, out, seen, product_id, lot_id);
  /* Breadth-first: the nodes array is the queue. */
  for (size_t i = 0; rc == 0 && i < out->n_nodes; i++)
    if (!out->nodes[i].repeat)
      rc = expand(&w, out, seen, i, depth_limit);
  if (rc == 0 && w.downstream && out->n_nodes > 0)
    rc = add_deliveries(&w, out);
  json_decref(seen);
  json_decref(w.lots);
  json_decref(w.refs);
  if (rc != 0)
    ll_trace_free(out);
  return rc;
}
