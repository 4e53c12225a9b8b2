/* ll_api.h — the HTTP API (docs/api.md, docs/openapi.yaml), on
 * libmicrohttpd.
 *
 * Reads come from the views (and, for rejections and write outcomes, from
 * the log store). Writes are turned into events, checked for the field
 * rules, published to lots.inbound and then awaited: the API polls the log
 * store's state for the event id's outcome and, once accepted, waits for
 * the views to reach its position before answering with the new state. */
#ifndef LL_API_H
#define LL_API_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ll_codec.h"
#include "ll_kafka.h"
#include "ll_metrics.h"
#include "ll_store.h"
#include "ll_types.h"
#include "ll_views.h"

typedef struct ll_api_deps {
  ll_views *views;
  ll_store *log; /* primary or secondary */
  ll_codec *codec;
  ll_producer *producer; /* NULL: writes answer 503 */
  const char *inbound_topic;
  int write_timeout_ms; /* docs/api.md: <= 5000 */
  /* Operations; zero values keep an open, plain-HTTP API of its own. */
  ll_metrics *metrics; /* NULL: the API keeps a registry of its own */
  /* The command consumer in this process holds partitions; NULL when there
   * is none. /readyz needs it true. */
  const atomic_bool *consumer_assigned;
  /* /readyz: most positions the views may trail; 0: LL_API_READY_LAG_MAX */
  uint64_t ready_lag_max;
  /* libmicrohttpd's workers (http.threads); 0: one per core, at least
   * LL_API_THREADS_MIN. */
  int threads;
  /* Serve /healthz, /readyz and /metrics only (views may be NULL). */
  bool ops_only;
  /* Bearer tokens: reads need read_token (or write_token), writes need
   * write_token; NULL or empty: open. */
  const char *read_token;
  const char *write_token;
  /* PEM certificate (chain) and key: both set = HTTPS. */
  const char *tls_cert_pem;
  const char *tls_key_pem;
  /* The date alerts worker of this process (services/alerts), for GET
   * /v1/alerts; NULL: that route answers 503. */
  struct ll_alerts *alerts;
} ll_api_deps;

typedef struct ll_api ll_api;

/* listen is "HOST:PORT"; port 0 picks a free port. The bound address is
 * returned by ll_api_address(). */
ll_api *ll_api_start(const char *listen, const ll_api_deps *deps, ll_err *err);
const char *ll_api_address(const ll_api *api); /* "127.0.0.1:41234" */
/* Serve the requests other instances of the cluster forward on listen
 * ("HOST:PORT", port 0: a free one), with a pool of its own; the bound
 * address is ll_api_cluster_address(). */
int ll_api_listen_cluster(ll_api *api, const char *listen, ll_err *err);
const char *ll_api_cluster_address(const ll_api *api);
bool ll_api_tls(const ll_api *api); /* serving HTTPS */
/* Can this build serve HTTPS with this PEM certificate and key (present,
 * unencrypted, belonging together)? -1 with err naming the config key. */
int ll_api_check_tls(const char *cert_pem, const char *key_pem, ll_err *err);
void ll_api_stop(ll_api *api);
/* Join a cluster: from now on requests that another instance owns go
 * there (services/http/api_cluster.c). Thread-safe; c outlives the API. */
struct ll_cluster;
void ll_api_set_cluster(ll_api *api, struct ll_cluster *c);

#endif
