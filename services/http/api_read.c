/* api_read.c — the plain read routes: lots (the rejections are
 * api_rejections.c's).
 *
 *   GET /v1/lots[?product_id=&name=&q=&limit=&cursor=]
 *       {"lots":[lot],"next_cursor"} in (lot_id, product_id) order; with
 *       expiring_before= or location= the FEFO list instead (api_trace.c).
 *       children=1 only combines with location= (400 otherwise: it would
 *       be ignored).
 *   GET /v1/lots/{lot_id}, GET /v1/products/{product_id}/lots/{lot_id}
 *       the lot, 404 UNKNOWN_LOT when there is none; on the plain route 409
 *       AMBIGUOUS_LOT when two or more products have one (api_lot.c).
 * docs/api.md and docs/openapi.yaml describe the shapes. */
#include <assert.h>
#include <stdlib.h>

#include "api_internal.h"
#include "ll_event.h"
#include "ll_mem.h"
#include "ll_store.h"
#include "ll_views.h"

void api_get_lot(api_request *rq, const char *lot_id, api_reply *r) {
  ll_err err = {0};
  ll_views_reader *vr = ll_views_reader_open(rq->api->deps.views, &err);
  if (vr == NULL) {
    api_reply_storage_error(r, &err);
    return;
  }
  char *product = api_lot_product(rq, vr, lot_id, r);
  ll_lot lot;
  ll_lot_init(&lot);
  bool found = false;
  if (product == NULL) {
    /* r is filled */
  } else if (ll_views_reader_get_lot(vr, product, lot_id, &lot, &found, &err) !=
             0) {
    api_reply_storage_error(r, &err);
  } else if (!found) {
    api_reply_unknown_lot(r, product, lot_id);
  } else {
    api_reply_json(r, MHD_HTTP_OK, api_json_lot(&lot));
  }
  ll_lot_free(&lot);
  free(product);
  ll_views_reader_close(vr);
}

/* Move the lots of page this instance serves into kept (up to limit);
 * the index of the first row not looked at. */
static size_t keep_served_lots(ll_api *api, ll_lot *page, size_t n,
                               ll_lot *kept, size_t *n_kept, size_t limit) {
  size_t i = 0;
  for (; i < n && *n_kept < limit; i++) {
    if (!api_serves_product(api, page[i].product_id))
      continue;
    kept[(*n_kept)++] = page[i];
    ll_lot_init(&page[i]); /* moved: freeing the page leaves it */
  }
  return i;
}

/* A page of the lots this instance serves (api_serves_product): pages of
 * the views are read until limit of them or the end, so that what it kept
 * of partitions it no longer owns never shows. *next is the cursor after
 * the last one, NULL at the end. */
static int served_lots(ll_api *api, ll_lot_filter f, ll_lot **out,
                       size_t *n_out, char **next, ll_err *err) {
  ll_lot *kept = ll_xcalloc(f.limit, sizeof *kept);
  size_t n = 0;
  bool more = true;
  char *cursor = f.cursor != NULL ? ll_strdup(f.cursor) : NULL;
  while (n < f.limit && more) {
    ll_lot *page = NULL;
    size_t pn = 0;
    char *page_next = NULL;
    f.cursor = cursor;
    if (ll_views_list_lots(api->deps.views, &f, &page, &pn, &page_next, err)) {
      free(cursor);
      ll_lots_free(kept, n);
      return -1;
    }
    size_t looked = keep_served_lots(api, page, pn, kept, &n, f.limit);
    more = page_next != NULL || looked < pn;
    ll_lots_free(page, pn);
    free(cursor);
    cursor = page_next;
  }
  free(cursor);
  *next = more && n > 0 ? ll_views_lot_page_cursor(kept[n - 1].lot_id,
                                                   kept[n - 1].product_id)
                        : NULL;
  *out = kept;
  *n_out = n;
  return 0;
}

static void list_lots(api_request *rq, api_reply *r) {
  ll_lot_filter f = {
      .product_id = api_query(rq, "product_id"),
      .name = api_query(rq, "name"),
      .q = api_query(rq, "q"),
      .cursor = api_query(rq, "cursor"),
  };
  char *property = NULL; /* ?property=KEY:VALUE (api_reports.c) */
  if (api_query_limit(rq, &f.limit, r) != 0 ||
      api_query_property(rq, &property, &f, r) != 0)
    return;
  ll_lot *lots = NULL;
  size_t n = 0;
  char *next = NULL;
  ll_err err = {0};
  int rc = served_lots(rq->api, f, &lots, &n, &next, &err);
  free(property);
  if (rc != 0) {
    api_reply_storage_error(r, &err);
    return;
  }
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(arr, api_json_lot(&lots[i]));
  json_t *body = json_object();
  json_object_set_new(body, "lots", arr);
  json_object_set_new(body, "next_cursor", api_json_text(next));
  api_reply_json(r, MHD_HTTP_OK, body);
  ll_lots_free(lots, n);
  free(next);
}

void api_get_lots(api_request *rq, const char *id, api_reply *r) {
  (void)id;
  bool children = false;
  if (api_query_flag(rq, "children", &children, r) != 0)
    return;
  if (children && api_query(rq, "location") == NULL) {
    /* Ignoring it would answer a question the client did not ask. */
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "children=1 only combines with location");
  } else if (api_wants_fefo(rq)) {
    api_get_lots_fefo(rq, r);
  } else {
    list_lots(rq, r);
  }
}
