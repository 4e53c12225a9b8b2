/* ll_api.h — the HTTP API (contract section 5), on libmicrohttpd.
 *
 * Reads come from the views (and, for rejections and write outcomes, from
 * the log store). Writes are turned into events, checked for the field
 * rules, published to lots.inbound and then awaited: the API polls the log
 * store's state for the event id's outcome and, once accepted, waits for
 * the views to reach its position before answering with the new state. */
#ifndef LL_API_H
#define LL_API_H

#include <stdint.h>

#include "ll_codec.h"
#include "ll_kafka.h"
#include "ll_store.h"
#include "ll_types.h"
#include "ll_views.h"

typedef struct ll_api_deps {
  ll_views *views;
  ll_store *log; /* primary or secondary */
  ll_codec *codec;
  ll_producer *producer; /* NULL: writes answer 503 */
  const char *inbound_topic;
  int write_timeout_ms; /* contract: <= 5000 */
} ll_api_deps;

typedef struct ll_api ll_api;

/* listen is "HOST:PORT"; port 0 picks a free port. The bound address is
 * returned by ll_api_address(). */
ll_api *ll_api_start(const char *listen, const ll_api_deps *deps, ll_err *err);
const char *ll_api_address(const ll_api *api); /* "127.0.0.1:41234" */
void ll_api_stop(ll_api *api);

#endif
