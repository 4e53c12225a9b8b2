/* api_hold.c — holds (quarantine): POST /v1/lots/{lot_id}/hold and
 * /release, and the product-scoped forms.
 *
 * A hold is an event like any write: LotHeld or LotReleased, published to
 * the inbound topic and decided by the rules (docs/rejections.md,
 * "Holds"). api_write does the work; the lot comes from the path and its
 * product from the path or the one product with that lot id, as for PATCH.
 * The answer is the lot, with its "hold". */
#include "api_internal.h"

void api_post_hold(api_request *rq, const char *lot_id, api_reply *r) {
  api_write(rq, LL_EV_LOT_HELD, lot_id, r);
}

void api_post_release(api_request *rq, const char *lot_id, api_reply *r) {
  api_write(rq, LL_EV_LOT_RELEASED, lot_id, r);
}
