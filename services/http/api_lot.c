/* api_lot.c — which lot a route names.
 *
 * A lot is (product_id, lot_id): a lot id is unique within its product
 * only (docs/concepts.md). The product-scoped routes,
 * /v1/products/{product_id}/lots/{lot_id}[/locations|/moves|/trace], name
 * both and always work. The plain ones, /v1/lots/{lot_id}[...], keep
 * working while exactly one product has a lot with that id: the product is
 * looked up in the views' lot id index (ll_views_lot_products). When two or
 * more products have one the answer is 409 AMBIGUOUS_LOT with the products,
 * sorted, so that a client can pick the product-scoped route; when none
 * has one, 404 UNKNOWN_LOT as before. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "ll_mem.h"

void api_reply_ambiguous_lot(api_reply *r, const char *lot_id,
                             char *const *products, size_t n) {
  json_t *list = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(list, api_json_text(products[i]));
  char message[LL_MESSAGE_MAX_BYTES];
  snprintf(message, sizeof message,
           "%zu products have a lot with id %s: name the product "
           "(/v1/products/{product_id}/lots/%s)",
           n, lot_id, lot_id);
  json_t *body = json_object();
  json_object_set_new(body, "code", json_string("AMBIGUOUS_LOT"));
  json_object_set_new(body, "message", api_json_text(message));
  json_object_set_new(body, "products", list);
  api_reply_json(r, MHD_HTTP_CONFLICT, body);
}

/* Keep the products this instance serves (in a cluster, those of the
 * partitions it owns: never a leftover of one it no longer owns). */
static void keep_served(ll_api *api, char **products, size_t *n) {
  size_t kept = 0;
  for (size_t i = 0; i < *n; i++) {
    if (api_serves_product(api, products[i]))
      products[kept++] = products[i];
    else
      free(products[i]);
  }
  *n = kept;
}

/* The one product with a lot lot_id in the snapshot, else NULL with r
 * filled (unknown_status for none, 409 for several, 503). */
static char *only_product(ll_api *api, ll_views_reader *vr, const char *lot_id,
                          unsigned unknown_status, api_reply *r) {
  char **products = NULL;
  size_t n = 0;
  ll_err err = {0};
  if (ll_views_lot_products(vr, lot_id, &products, &n, &err) != 0) {
    api_reply_storage_error(r, &err);
    return NULL;
  }
  keep_served(api, products, &n);
  char *product = NULL;
  if (n == 1) {
    product = products[0];
    products[0] = NULL;
  } else if (n == 0) {
    api_reply_error(r, unknown_status, ll_code_name(LL_UNKNOWN_LOT),
                    "lot %s does not exist", lot_id);
  } else {
    api_reply_ambiguous_lot(r, lot_id, products, n);
  }
  ll_views_lot_products_free(products, n);
  return product;
}

char *api_lot_product(api_request *rq, ll_views_reader *vr, const char *lot_id,
                      api_reply *r) {
  const char *named = api_path_param(rq, "product_id");
  if (named != NULL)
    return ll_strdup(named);
  return only_product(rq->api, vr, lot_id, MHD_HTTP_NOT_FOUND, r);
}

char *api_lot_product_of(ll_api *api, const char *lot_id,
                         unsigned unknown_status, api_reply *r) {
  ll_err err = {0};
  ll_views_reader *vr = ll_views_reader_open(api->deps.views, &err);
  if (vr == NULL) {
    api_reply_storage_error(r, &err);
    return NULL;
  }
  char *product = only_product(api, vr, lot_id, unknown_status, r);
  ll_views_reader_close(vr);
  return product;
}
