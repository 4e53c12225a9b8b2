/* api_reports.c — the reports of the recall and ERP work:
 *   GET /v1/lots/{lot_id}/partners   a lot's suppliers and customers with
 *                                    quantities (lot_partners.c)
 *   GET /v1/lots?property=KEY:VALUE  the filter (the list is api_read.c's)
 * and the product-scoped form. Each read opens one views snapshot and
 * answers with its position, as the other reads do. */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "ll_event.h"
#include "ll_mem.h"

/* ---- shared by the reports ---- */

static ll_views_reader *open_snapshot(api_request *rq, api_reply *r) {
  ll_err err = {0};
  ll_views_reader *vr = ll_views_reader_open(rq->api->deps.views, &err);
  if (vr == NULL)
    api_reply_storage_error(r, &err);
  return vr;
}

static void reply_snapshot(api_reply *r, ll_views_reader *vr, json_t *body) {
  api_reply_json(r, MHD_HTTP_OK, body);
  r->position = ll_views_reader_position(vr);
}

/* The lot the route names, in the snapshot; 0, or non-zero with r filled
 * (404, 409 AMBIGUOUS_LOT, 503). lot is initialised either way. */
static int named_lot(api_request *rq, ll_views_reader *vr, const char *lot_id,
                     ll_lot *lot, api_reply *r) {
  ll_lot_init(lot);
  char *product = api_lot_product(rq, vr, lot_id, r);
  if (product == NULL)
    return -1;
  bool found = false;
  ll_err err = {0};
  int rc = ll_views_reader_get_lot(vr, product, lot_id, lot, &found, &err);
  free(product);
  if (rc != 0) {
    api_reply_storage_error(r, &err);
    return -1;
  }
  if (!found) {
    api_reply_unknown_lot(r, api_path_param(rq, "product_id"), lot_id);
    return -1;
  }
  return 0;
}

/* ---- GET /v1/lots?property=KEY:VALUE ---- */

int api_query_property(const api_request *rq, char **held, ll_lot_filter *f,
                       api_reply *r) {
  *held = NULL;
  const char *p = api_query(rq, "property");
  if (p == NULL)
    return 0;
  const char *colon = strchr(p, ':');
  if (colon == NULL || colon == p) {
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "property must be KEY:VALUE, e.g. supplier_batch:B-7");
    return -1;
  }
  *held = ll_strdup(p);
  (*held)[colon - p] = '\0';
  f->property_key = *held;
  f->property_value = *held + (colon - p) + 1;
  return 0;
}

/* ---- /v1/lots/{lot_id}/partners ---- */

static json_t *partners_json(const ll_partner_total *items, size_t n) {
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(
        arr, json_pack("{s:o, s:o, s:o, s:I}", "id", api_json_text(items[i].id),
                       "name", api_json_text(items[i].name), "quantity",
                       api_json_decimal(items[i].quantity_micro), "moves",
                       (json_int_t)items[i].moves));
  return arr;
}

void api_get_lot_partners(api_request *rq, const char *lot_id, api_reply *r) {
  ll_views_reader *vr = open_snapshot(rq, r);
  if (vr == NULL)
    return;
  ll_lot lot;
  ll_lot_partners p;
  memset(&p, 0, sizeof p);
  ll_err err = {0};
  if (named_lot(rq, vr, lot_id, &lot, r) != 0) {
    /* r is filled */
  } else if (ll_views_lot_partners(vr, lot.product_id, lot_id, &p, &err) != 0) {
    api_reply_storage_error(r, &err);
  } else {
    json_t *body = json_object();
    json_object_set_new(body, "lot_id", api_json_text(lot.lot_id));
    json_object_set_new(body, "product_id", api_json_text(lot.product_id));
    json_object_set_new(body, "uom", api_json_text(lot.uom));
    json_object_set_new(body, "suppliers",
                        partners_json(p.suppliers, p.n_suppliers));
    json_object_set_new(body, "customers",
                        partners_json(p.customers, p.n_customers));
    reply_snapshot(r, vr, body);
  }
  ll_lot_partners_free(&p);
  ll_lot_free(&lot);
  ll_views_reader_close(vr);
}
