/* api_cluster.c — any instance answers any request (docs/api.md, "Running
 * as a cluster"; docs/cluster-design.md, decision 5).
 *
 * A task (a partition of lots.inbound) is decided, and its views kept, by
 * the instance that owns it; the ownership directory (services/cluster)
 * says which one that is. Before a route's handler runs, dispatch asks
 * api_cluster_route() whether another instance must answer:
 *
 *   - a route that names the product (/v1/products/{product_id}/lots/...,
 *     POST /v1/lots and a POST /v1/moves with product_id): the product's
 *     partition is murmur2(product_id) (ll_partition_of_key); its owner
 *     answers. This instance if it owns it, else the request is forwarded
 *     (method, path, query, body, Authorization, Idempotency-Key) and the
 *     owner's answer returned unchanged. A write therefore waits for its
 *     outcome in the state of the instance that decides it, and a retry
 *     with the same Idempotency-Key after an ownership change finds the
 *     recorded outcome there.
 *   - a route that names only a lot id (/v1/lots/{lot_id}..., PATCH
 *     /v1/lots/{lot_id}, a move without product_id): the products that
 *     use the lot id are asked of every owner (GET /v1/lots/{lot_id},
 *     forwarded: 200 names one product, 409 lists them, 404 none) and
 *     merged with this instance's own; none answers locally (404 as
 *     today), two or more 409 AMBIGUOUS_LOT, one goes to its owner.
 *   - GET /v1/rejections, GET /v1/lots and a location's lots are asked of
 *     every owner, each answering for its own partitions, and merged: the
 *     rejections newest first (api_rejections.c), the lots in (lot_id,
 *     product_id) order (the expiry list in FEFO order), each with a
 *     cursor every instance reads the same. A trace goes to the lot's
 *     owner, which walks the genealogy over every owner
 *     (api_trace_cluster.c).
 *   - GET /v1/alerts is answered by the instance asked: every instance
 *     keeps every instance's alerts (services/alerts).
 *
 * A forwarded request (LL_FORWARDED_HEADER) is never forwarded again: it
 * is answered here, or 503 when this instance does not own the partition
 * either (the directory said otherwise a moment ago: the client retries).
 * An instance answers only for the partitions it owns: the lot id index,
 * the rejections and the lists are filtered by partition (api_serves_*,
 * in api_lot.c, api_read.c and api_trace.c), so the
 * leftovers of a partition it no longer owns are never served. Without
 * peers (one instance, or the API of `lotlined project`) nothing changes:
 * everything is answered here, as a cluster of one. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "ll_cluster.h"
#include "ll_event.h"
#include "ll_hash.h"
#include "ll_mem.h"
#include "ll_time.h"

#define PEERS_MAX LL_MEMBERS_MAX
#define TARGET_MAX_BYTES 4096 /* a path and query we build */

ll_cluster *api_cluster(ll_api *api) {
  return atomic_load(&api->cluster);
}

void ll_api_set_cluster(ll_api *api, ll_cluster *c) {
  atomic_store(&api->cluster, c);
}

static bool has_peers(ll_api *api) {
  ll_cluster *c = api_cluster(api);
  return c != NULL && ll_cluster_has_peers(c);
}

bool api_cluster_has_peers(ll_api *api) {
  return has_peers(api);
}

bool api_serves_partition(ll_api *api, int32_t partition) {
  ll_cluster *c = api_cluster(api);
  return c == NULL || !ll_cluster_has_peers(c) || ll_cluster_owns(c, partition);
}

static int32_t partition_of(ll_cluster *c, const char *product_id) {
  int32_t n = ll_cluster_partitions(c);
  return n > 0 ? ll_partition_of_key(product_id, strlen(product_id), n) : -1;
}

bool api_serves_product(ll_api *api, const char *product_id) {
  ll_cluster *c = api_cluster(api);
  return c == NULL || ll_cluster_serves_product(c, product_id);
}

static bool is_forwarded(const api_request *rq) {
  return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
                                     LL_FORWARDED_HEADER) != NULL;
}

bool api_cluster_misdirected(const api_request *rq) {
  return rq->on_cluster_listener && !is_forwarded(rq);
}

/* ---- forwarding ---- */

static ll_forward_request forward_of(const api_request *rq, const char *base,
                                     const char *method, const char *target) {
  const char *auth = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_AUTHORIZATION);
  const char *key =
      MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Idempotency-Key");
  bool same = strcmp(method, rq->method) == 0;
  return (ll_forward_request){
      .method = method,
      .base_url = base,
      .target = target,
      .authorization = auth,
      .idempotency_key = same ? key : NULL,
      .body = same ? rq->body.data : NULL,
      .body_len = same ? rq->body.len : 0,
  };
}

static void reply_unreachable(api_reply *r, const ll_err *err) {
  api_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                  "the instance that owns this could not answer (%s): %s",
                  ll_err_kind_name(err->kind), err->message);
}

/* The owner's answer, unchanged. */
static void reply_from(api_reply *r, ll_forward_reply *f) {
  api_reply_free(r);
  r->status = (unsigned)f->status;
  r->body_len = f->body.len;
  r->body = ll_xmalloc(f->body.len + 1);
  if (f->body.len > 0)
    memcpy(r->body, f->body.data, f->body.len);
  r->body[f->body.len] = '\0';
  r->content_type = NULL; /* every forwarded route answers JSON */
  uint64_t pos;
  if (api_parse_u64(f->position, &pos))
    r->position = pos;
}

static void forward_whole(api_request *rq, const char *base, api_reply *r) {
  const char *method = strcmp(rq->method, "HEAD") == 0 ? "GET" : rq->method;
  ll_forward_request f = forward_of(rq, base, method, rq->raw_uri);
  ll_forward_reply out;
  ll_forward_reply_init(&out);
  ll_err err = {0};
  if (ll_forward(&f, &out, &err) != 0)
    reply_unreachable(r, &err);
  else
    reply_from(r, &out);
  ll_forward_reply_free(&out);
}

/* Answer for the product's partition: false when this instance answers
 * (it owns it, or no partition count is known yet), else r is filled. */
static bool route_to_owner(api_request *rq, const char *product_id,
                           api_reply *r) {
  ll_cluster *c = api_cluster(rq->api);
  int32_t p = partition_of(c, product_id);
  if (p < 0)
    return false;
  char url[LL_MEMBER_URL_MAX];
  ll_owner_kind k = ll_cluster_owner(c, p, url, sizeof url);
  if (k == LL_OWNER_SELF)
    return false;
  if (k == LL_OWNER_NONE || is_forwarded(rq)) {
    api_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                    "partition %d of the input topic (product %s) is not "
                    "owned by this instance%s; retry in a moment",
                    (int)p, product_id,
                    k == LL_OWNER_NONE ? " nor by any other (a rebalance is "
                                         "under way)"
                                       : "");
    return true;
  }
  forward_whole(rq, url, r);
  return true;
}

/* ---- scatter ---- */

/* Ask each of urls GET target; answers[i] the JSON answer of each,
 * statuses[i] its status. -1 with r filled when one cannot answer. */
static int ask_each(api_request *rq, const char *target,
                    char (*urls)[LL_MEMBER_URL_MAX], size_t n, json_t **answers,
                    long *statuses, size_t *n_out, api_reply *r) {
  *n_out = 0;

  for (size_t i = 0; i < n; i++) {
    ll_forward_request f = forward_of(rq, urls[i], "GET", target);
    ll_forward_reply out;
    ll_forward_reply_init(&out);
    ll_err err = {0};
    if (ll_forward(&f, &out, &err) != 0) {
      ll_forward_reply_free(&out);
      reply_unreachable(r, &err);
      return -1;
    }
    statuses[i] = out.status;
    answers[i] = json_loadb((const char *)out.body.data, out.body.len, 0, NULL);
    *n_out = i + 1;
    ll_forward_reply_free(&out);
    if (out.status >= 500 || answers[i] == NULL) {
      api_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                      "the instance at %s answered %ld", urls[i], out.status);
      return -1;
    }
  }
  return 0;
}

/* Ask every peer that owns partitions GET target (ask_each). */
static int scatter(api_request *rq, const char *target, json_t **answers,
                   long *statuses, size_t *n_out, api_reply *r) {
  ll_cluster *c = api_cluster(rq->api);
  char(*urls)[LL_MEMBER_URL_MAX] = ll_xcalloc(PEERS_MAX, sizeof *urls);
  size_t n = ll_cluster_peer_urls(c, urls, PEERS_MAX);
  int rc = ask_each(rq, target, urls, n, answers, statuses, n_out, r);
  free(urls);
  return rc;
}

static void answers_free(json_t **answers, size_t n) {
  for (size_t i = 0; i < n; i++)
    json_decref(answers[i]);
}

/* A path segment percent-encoded (RFC 3986 unreserved pass). */
static void encode_segment(const char *s, char *out, size_t cap) {
  static const char hex[] = "0123456789ABCDEF";
  size_t len = 0;
  for (; *s != '\0' && len + 4 < cap; s++) {
    unsigned char ch = (unsigned char)*s;
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
        (ch >= '0' && ch <= '9') || strchr("-._~", ch) != NULL) {
      out[len++] = (char)ch;
    } else {
      out[len++] = '%';
      out[len++] = hex[ch >> 4];
      out[len++] = hex[ch & 15];
    }
  }
  out[len] = '\0';
}

static int compare_strings(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_product(json_t *set, const char *product) {
  if (product != NULL)
    json_object_set_new(set, product, json_true());
}

/* This instance's products with a lot lot_id (filtered by partition). */
static int local_lot_products(api_request *rq, const char *lot_id, json_t *set,
                              api_reply *r) {
  ll_err err = {0};
  ll_views_reader *vr = ll_views_reader_open(rq->api->deps.views, &err);
  char **products = NULL;
  size_t n = 0;
  if (vr == NULL || ll_views_lot_products(vr, lot_id, &products, &n, &err)) {
    if (vr != NULL)
      ll_views_reader_close(vr);
    api_reply_storage_error(r, &err);
    return -1;
  }
  for (size_t i = 0; i < n; i++)
    if (api_serves_product(rq->api, products[i]))
      add_product(set, products[i]);
  ll_views_lot_products_free(products, n);
  ll_views_reader_close(vr);
  return 0;
}

/* The products of every owner that have a lot lot_id, as a set (object
 * keys); NULL with r filled when an owner cannot answer. */
static json_t *cluster_lot_products(api_request *rq, const char *lot_id,
                                    api_reply *r) {
  json_t *set = json_object();
  if (local_lot_products(rq, lot_id, set, r) != 0) {
    json_decref(set);
    return NULL;
  }
  char target[TARGET_MAX_BYTES], seg[TARGET_MAX_BYTES - 16];
  encode_segment(lot_id, seg, sizeof seg);
  snprintf(target, sizeof target, "/v1/lots/%s", seg);
  json_t *answers[PEERS_MAX];
  long statuses[PEERS_MAX];
  size_t n = 0;
  if (scatter(rq, target, answers, statuses, &n, r) != 0) {
    answers_free(answers, n);
    json_decref(set);
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    add_product(set,
                json_string_value(json_object_get(answers[i], "product_id")));
    size_t k;
    json_t *v;
    json_array_foreach(json_object_get(answers[i], "products"), k, v)
        add_product(set, json_string_value(v));
  }
  answers_free(answers, n);
  return set;
}

/* A lot named by its id alone: none -> false (answered here as today),
 * several -> 409, one -> its owner. */
static bool route_lot(api_request *rq, const char *lot_id, api_reply *r) {
  json_t *set = cluster_lot_products(rq, lot_id, r);
  if (set == NULL)
    return true;
  size_t n = json_object_size(set);
  bool answered = false;
  if (n > 1) {
    char **products = ll_xcalloc(n, sizeof *products);
    size_t i = 0;
    const char *key;
    json_t *v;
    json_object_foreach(set, key, v) products[i++] = (char *)key;
    qsort(products, n, sizeof *products, compare_strings);
    api_reply_ambiguous_lot(r, lot_id, products, n);
    free(products);
    answered = true;
  } else if (n == 1) {
    void *it = json_object_iter(set);
    answered = route_to_owner(rq, json_object_iter_key(it), r);
  }
  json_decref(set);
  return answered;
}

/* ---- writes: the product from the body ---- */

static bool route_write(api_request *rq, api_reply *r) {
  json_t *body = json_loadb((const char *)rq->body.data, rq->body.len, 0, NULL);
  const char *product = json_string_value(json_object_get(body, "product_id"));
  const char *lot_id = json_string_value(json_object_get(body, "lot_id"));
  bool answered = false;
  if (product != NULL && *product != '\0')
    answered = route_to_owner(rq, product, r);
  else if (lot_id != NULL && *lot_id != '\0' && !is_forwarded(rq) &&
           strcmp(rq->route->pattern, "/v1/moves") == 0)
    answered = route_lot(rq, lot_id, r);
  json_decref(body); /* one that is not JSON: the handler answers 400 */
  return answered;
}

/* ---- rejections ---- */

static api_rejection_key rejection_key_of(const json_t *rej) {
  int64_t ms = 0;
  const char *t = json_string_value(json_object_get(rej, "rejected_at"));
  return (api_rejection_key){
      .rejected_at_ms = t != NULL && ll_time_parse(t, &ms) ? ms : 0,
      .partition =
          (int32_t)json_integer_value(json_object_get(rej, "partition")),
      .offset = json_integer_value(json_object_get(rej, "offset"))};
}

/* Newest first: by rejected_at, then partition and offset
 * (api_rejection_key_compare, the order of every instance's page). */
static int newest_first(const void *a, const void *b) {
  api_rejection_key x = rejection_key_of(*(json_t *const *)a);
  api_rejection_key y = rejection_key_of(*(json_t *const *)b);
  return api_rejection_key_compare(&x, &y);
}

/* ---- reads asked of every owner ---- */

/* Rows from every answer (this instance's first) into one array. */
static json_t *all_rows(json_t *mine, json_t **answers, size_t n,
                        const char *field) {
  json_t *rows = json_array();
  json_array_extend(rows, json_object_get(mine, field));
  for (size_t i = 0; i < n; i++)
    json_array_extend(rows, json_object_get(answers[i], field));
  return rows;
}

/* The first limit rows of rows sorted by compare, as a new array. */
static json_t *first_sorted(json_t *rows, size_t limit,
                            int (*compare)(const void *, const void *)) {
  size_t total = json_array_size(rows);
  json_t **sorted = ll_xcalloc(total + 1, sizeof *sorted);
  for (size_t i = 0; i < total; i++)
    sorted[i] = json_array_get(rows, i);
  qsort(sorted, total, sizeof *sorted, compare);
  json_t *page = json_array();
  for (size_t i = 0; i < total && i < limit; i++)
    json_array_append(page, sorted[i]);
  free(sorted);
  return page;
}

/* Each owner gave its first limit rejections after ?before= and a
 * next_before when it has more: the first limit of them all are the page,
 * and its next_before the key of its last row, which pages on through
 * every owner alike. */
static void merge_rejections(json_t *mine, json_t **answers, size_t n,
                             size_t limit, api_reply *r) {
  bool more = json_is_string(json_object_get(mine, "next_before"));
  for (size_t i = 0; i < n; i++)
    more |= json_is_string(json_object_get(answers[i], "next_before"));
  json_t *rows = all_rows(mine, answers, n, "rejections");
  more |= json_array_size(rows) > limit;
  json_t *page = first_sorted(rows, limit, newest_first);
  json_decref(rows);
  size_t k = json_array_size(page);
  char next[API_REJECTION_KEY_MAX_BYTES];
  if (more && k > 0) {
    api_rejection_key last = rejection_key_of(json_array_get(page, k - 1));
    api_rejection_key_format(&last, next);
  }
  json_object_set_new(mine, "rejections", page);
  json_object_set_new(mine, "next_before",
                      more && k > 0 ? json_string(next) : json_null());
  api_reply_json(r, MHD_HTTP_OK, json_incref(mine));
}

static const char *text_of(const json_t *row, const char *field) {
  const char *s = json_string_value(json_object_get(row, field));
  return s != NULL ? s : "";
}

/* The views' order of lots: lot_id, then product_id, bytewise. */
static int by_lot_then_product(const void *a, const void *b) {
  const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
  int c = strcmp(text_of(x, "lot_id"), text_of(y, "lot_id"));
  return c != 0 ? c
                : strcmp(text_of(x, "product_id"), text_of(y, "product_id"));
}

/* Each owner gave its first limit lots after the cursor, and a cursor
 * when it has more: the first limit of them all are the page, and its
 * cursor is the one after its last lot, which every instance reads the
 * same (ll_views_lot_page_cursor). */
static void merge_lot_pages(json_t *mine, json_t **answers, size_t n,
                            size_t limit, api_reply *r) {
  bool more = json_is_string(json_object_get(mine, "next_cursor"));
  for (size_t i = 0; i < n; i++)
    more |= json_is_string(json_object_get(answers[i], "next_cursor"));
  json_t *rows = all_rows(mine, answers, n, "lots");
  more |= json_array_size(rows) > limit;
  json_t *page = first_sorted(rows, limit, by_lot_then_product);
  json_decref(rows);
  size_t k = json_array_size(page);
  char *next = NULL;
  if (more && k > 0) {
    json_t *last = json_array_get(page, k - 1);
    next = ll_views_lot_page_cursor(text_of(last, "lot_id"),
                                    text_of(last, "product_id"));
  }
  json_object_set_new(mine, "lots", page);
  json_object_set_new(mine, "next_cursor", api_json_text(next));
  free(next);
  api_reply_json(r, MHD_HTTP_OK, json_incref(mine));
}

/* A FEFO row with its cursor, which sorts in FEFO order by its dates
 * part (ll_views_fefo_page_cursor), then by lot. */
typedef struct fefo_row {
  json_t *row;
  char *cursor;
} fefo_row;

#define FEFO_DATES_HEX 32 /* the dates part of a FEFO cursor */

static void read_time(const json_t *row, const char *field, ll_opt_time *t) {
  const char *text = json_string_value(json_object_get(row, field));
  t->set = text != NULL && ll_time_parse(text, &t->ms);
}

static char *fefo_cursor_of(const json_t *row) {
  ll_lot lot;
  ll_lot_init(&lot);
  lot.lot_id = (char *)text_of(row, "lot_id"); /* borrowed, never freed */
  lot.product_id = (char *)text_of(row, "product_id");
  read_time(row, "removal_at", &lot.removal_at);
  read_time(row, "expiration_at", &lot.expiration_at);
  return ll_views_fefo_page_cursor(&lot);
}

static int fefo_order(const void *a, const void *b) {
  const fefo_row *x = a, *y = b;
  int c = strncmp(x->cursor, y->cursor, FEFO_DATES_HEX);
  return c != 0 ? c : by_lot_then_product(&x->row, &y->row);
}

/* As merge_lot_pages, in FEFO order. */
static void merge_fefo_pages(json_t *mine, json_t **answers, size_t n,
                             size_t limit, api_reply *r) {
  bool more = json_is_string(json_object_get(mine, "next_cursor"));
  for (size_t i = 0; i < n; i++)
    more |= json_is_string(json_object_get(answers[i], "next_cursor"));
  json_t *rows = all_rows(mine, answers, n, "lots");
  size_t total = json_array_size(rows);
  fefo_row *sorted = ll_xcalloc(total + 1, sizeof *sorted);
  for (size_t i = 0; i < total; i++)
    sorted[i] = (fefo_row){json_array_get(rows, i),
                           fefo_cursor_of(json_array_get(rows, i))};
  qsort(sorted, total, sizeof *sorted, fefo_order);
  size_t k = total < limit ? total : limit;
  json_t *page = json_array();
  for (size_t i = 0; i < k; i++)
    json_array_append(page, sorted[i].row);
  more |= total > limit;
  json_object_set_new(mine, "lots", page);
  json_object_set_new(mine, "next_cursor",
                      more && k > 0 ? json_string(sorted[k - 1].cursor)
                                    : json_null());
  for (size_t i = 0; i < total; i++)
    free(sorted[i].cursor);
  free(sorted);
  json_decref(rows);
  api_reply_json(r, MHD_HTTP_OK, json_incref(mine));
}

/* The request's path and query without ?min_position=: a log position
 * is one instance's (the one that decided the write it came from), so
 * the other owners must not wait for it in their own logs. Gathered
 * reads do not wait for it until positions are per task
 * (docs/cluster-design.md, decision 6). */
static char *without_min_position(const char *uri) {
  static const char name[] = "min_position";
  size_t path_len = strcspn(uri, "?");
  ll_buf b;
  ll_buf_init(&b);
  ll_buf_put(&b, uri, path_len);
  const char *q = uri[path_len] == '?' ? uri + path_len + 1 : "";
  char sep = '?';
  while (*q != '\0') {
    size_t n = strcspn(q, "&");
    size_t key = strcspn(q, "=&");
    bool drop = key == sizeof name - 1 && strncmp(q, name, key) == 0;
    if (n > 0 && !drop) {
      ll_buf_put(&b, &sep, 1);
      ll_buf_put(&b, q, n);
      sep = '&';
    }
    q += n + (q[n] == '&');
  }
  char *out = ll_strndup((const char *)b.data, b.len);
  ll_buf_free(&b);
  return out;
}

typedef void (*merge_fn)(json_t *mine, json_t **answers, size_t n, size_t limit,
                         api_reply *r);

/* This instance's answer (its own partitions) and every other owner's to
 * the same request, merged; a partition without an owner, or an owner
 * that cannot answer, is a 503, never a partial answer. */
static bool gather(api_request *rq, merge_fn merge, api_reply *r) {
  size_t limit = SIZE_MAX; /* reports answer every row at once */
  bool as_of = api_route_takes(rq->route, "as_of") &&
               api_query(rq, "as_of") != NULL; /* every row at once */
  if (api_route_takes(rq->route, "limit") && !as_of &&
      api_query_limit(rq, &limit, r) != 0)
    return true;
  if (!ll_cluster_complete(api_cluster(rq->api))) {
    api_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                    "a partition of the input topic has no owner now (a "
                    "rebalance is under way); retry in a moment");
    return true;
  }
  api_reply own;
  api_reply_init(&own);
  rq->route->handler(rq, api_path_param(rq, "location_id"), &own);
  json_t *mine = own.status == MHD_HTTP_OK
                     ? json_loadb(own.body, own.body_len, 0, NULL)
                     : NULL;
  if (mine == NULL) {
    *r = own; /* its error is the answer */
    return true;
  }
  api_reply_free(&own);
  char *target = without_min_position(rq->raw_uri);
  json_t *answers[PEERS_MAX];
  long statuses[PEERS_MAX];
  size_t n = 0;
  if (scatter(rq, target, answers, statuses, &n, r) == 0)
    merge(mine, answers, n, limit, r);
  free(target);
  answers_free(answers, n);
  json_decref(mine);
  return true;
}

/* A report over a location (GET /v1/balance, a location's lots as_of):
 * every owner's rows for its products, in the views' order, truncated
 * when any owner's was. */
static void merge_reports(json_t *mine, json_t **answers, size_t n,
                          size_t limit, api_reply *r) {
  bool truncated = json_is_true(json_object_get(mine, "truncated"));
  for (size_t i = 0; i < n; i++)
    truncated |= json_is_true(json_object_get(answers[i], "truncated"));
  json_t *rows = all_rows(mine, answers, n, "lots");
  json_object_set_new(mine, "lots",
                      first_sorted(rows, limit, by_lot_then_product));
  json_decref(rows);
  json_object_set_new(mine, "truncated", json_boolean(truncated));
  api_reply_json(r, MHD_HTTP_OK, json_incref(mine));
}

static bool route_gathered(api_request *rq, api_reply *r) {
  if (is_forwarded(rq))
    return false; /* answered for this instance's partitions */
  if (strcmp(rq->route->pattern, "/v1/rejections") == 0)
    return gather(rq, merge_rejections, r);
  if (strcmp(rq->route->pattern, "/v1/balance") == 0 ||
      (api_route_takes(rq->route, "as_of") && api_query(rq, "as_of") != NULL))
    return gather(rq, merge_reports, r);
  if (api_wants_fefo(rq))
    return gather(rq, merge_fefo_pages, r);
  return gather(rq, merge_lot_pages, r);
}

/* ---- the entry point ---- */

bool api_cluster_route(api_request *rq, api_reply *r) {
  if (!has_peers(rq->api))
    return false;
  unsigned flags = rq->route->flags;
  const char *product = api_path_param(rq, "product_id");
  if (product != NULL)
    return route_to_owner(rq, product, r);
  if (flags & API_BY_LOT)
    return !is_forwarded(rq) && route_lot(rq, api_path_param(rq, "lot_id"), r);
  if (flags & API_BY_BODY)
    return route_write(rq, r);
  if (flags & API_SCATTER)
    return route_gathered(rq, r);
  return false; /* answered here: GET /v1/alerts lists every instance's */
}

void api_get_cluster(api_request *rq, const char *id, api_reply *r) {
  (void)id;
  ll_cluster *c = api_cluster(rq->api);
  if (c == NULL) {
    api_reply_json(
        r, MHD_HTTP_OK,
        json_pack("{s:n, s:i, s:[]}", "self", "partitions", 0, "instances"));
    return;
  }
  api_reply_json(r, MHD_HTTP_OK, ll_cluster_json(c));
}
