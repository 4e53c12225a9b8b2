/* api_ops.c — what the HTTP API does for the people who run it: metrics,
 * bearer tokens and the TLS set-up check.
 *
 * Metrics. Every finished request counts in lotline_http_requests_total
 * {method,route,status} and is timed in
 * lotline_http_request_duration_seconds{method,route}. The route label is
 * the matched route's path from the route table, with every {parameter}
 * written {id} (/v1/lots/{id}/locations): ids never become label values, and a
 * request no route took (404, 401, a bad path, a body over the limit) is
 * labelled "unmatched", so hostile paths cannot grow the series without bound.
 * A collector fills the position and RocksDB gauges when /metrics is read:
 * reading them is cheaper than keeping them.
 *
 * Tokens. The route table (api_routes.c) says which token a route needs:
 * http.token.write for the write routes, http.token.read for the read
 * routes (the write token is good for reads too); the open routes,
 * /healthz and /readyz, need none, for probes. A request no route takes
 * needs the write token unless it is a GET or HEAD. Tokens are compared as
 * SHA-256 digests with CRYPTO_memcmp: the time taken says nothing about
 * how much of a guess was right, nor about the token's length, and the
 * plain tokens are not kept. A missing or unknown token is 401 with
 * WWW-Authenticate: Bearer; the read token on a write is 403.
 *
 * TLS. libmicrohttpd does HTTPS with GnuTLS. Before starting it the PEM
 * certificate and key are read with OpenSSL and checked to belong together,
 * so a wrong file is a one-line start-up error naming the key rather than
 * a handshake failure later. */
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_internal.h"
#include "ll_buf.h"
#include "ll_cluster.h"
#include "ll_mem.h"
#include "ll_time.h"
#include "ll_types.h"
#include "ll_views.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define ROUTE_LABEL_MAX 160  /* bytes of a route template */
#define AUTH_HEADER_MAX 4096 /* longer Authorization values are wrong */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* ---- tokens ---- */

static void token_digest(const char *token, size_t n,
                         unsigned char out[LL_API_TOKEN_DIGEST_BYTES]) {
  unsigned int len = 0;
  if (EVP_Digest(token, n, out, &len, EVP_sha256(), NULL) != 1 ||
      len != LL_API_TOKEN_DIGEST_BYTES)
    abort(); /* SHA-256 does not fail on valid input */
}

/* The token of "Authorization: Bearer <token>", or NULL. */
static const char *bearer_token(api_request *rq, size_t *n) {
  const char *h = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
                                              MHD_HTTP_HEADER_AUTHORIZATION);
  if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
    return NULL;
  h += 7;
  while (*h == ' ')
    h++;
  size_t len = strnlen(h, AUTH_HEADER_MAX + 1);
  while (len > 0 && (h[len - 1] == ' ' || h[len - 1] == '\t'))
    len--;
  if (len == 0 || len > AUTH_HEADER_MAX)
    return NULL;
  *n = len;
  return h;
}

static void reply_unauthorized(api_reply *r, bool had_token) {
  api_reply_error(r, MHD_HTTP_UNAUTHORIZED, "UNAUTHORIZED",
                  had_token ? "the bearer token is not valid here"
                            : "this request needs an Authorization: Bearer "
                              "<token> header");
  r->www_authenticate = "Bearer realm=\"lotline\"";
}

bool api_authorize(api_request *rq, api_reply *r) {
  ll_api *api = rq->api;
  const api_route *rt = rq->route;
  if (rt != NULL && (rt->flags & API_OPEN))
    return true;
  /* No route: by the method, so that a client without a token learns
   * nothing of which paths exist. */
  bool write = rt != NULL ? (rt->flags & API_WRITE) != 0
                          : strcmp(rq->method, MHD_HTTP_METHOD_GET) != 0 &&
                                strcmp(rq->method, MHD_HTTP_METHOD_HEAD) != 0;
  if (write ? !api->write_protected : !api->read_protected)
    return true;
  size_t n = 0;
  const char *token = bearer_token(rq, &n);
  if (token == NULL) {
    reply_unauthorized(r, false);
    return false;
  }
  unsigned char d[LL_API_TOKEN_DIGEST_BYTES];
  token_digest(token, n, d);
  bool is_write = api->write_protected &&
                  CRYPTO_memcmp(d, api->write_digest, sizeof d) == 0;
  bool is_read =
      api->read_protected && CRYPTO_memcmp(d, api->read_digest, sizeof d) == 0;
  if (is_write || (!write && is_read))
    return true;
  if (write && is_read) {
    api_reply_error(r, MHD_HTTP_FORBIDDEN, "FORBIDDEN",
                    "the read token cannot write: use the write token");
    return false;
  }
  reply_unauthorized(r, true);
  return false;
}

/* ---- query strings ---- */

/* libmicrohttpd 0.9.75 parses the query into records in the connection's
 * memory pool right after the URI callback. When they do not fit (about
 * 1000 parameters in 64 KiB) it queues a 431 but then carries on as if
 * nothing happened, and the connection hangs, unanswered, until the idle
 * timeout. So a query with more parameters than any route takes is cut
 * here, the one moment MHD shows it to us: the text after '?' is emptied
 * in MHD's buffer (the request's own copy of the URI still routes it) and
 * the request is answered 400. The buffer is MHD's read buffer, which MHD
 * itself rewrites in place right after this callback. */
bool api_guard_query(char *uri) {
  char *q = uri != NULL ? strchr(uri, '?') : NULL;
  if (q == NULL)
    return false;
  size_t params = 1;
  for (const char *p = q + 1; *p != '\0' && *p != '#'; p++)
    if (*p == '&' && ++params > LL_API_QUERY_PARAMS_MAX)
      break;
  if (params <= LL_API_QUERY_PARAMS_MAX)
    return false;
  q[1] = '\0';
  return true;
}

/* ---- TLS ---- */

static int no_passphrase(char *buf, int size, int rwflag, void *u) {
  (void)buf;
  (void)size;
  (void)rwflag;
  (void)u;
  return 0; /* never prompt: an encrypted key is an error */
}

static int check_tls_pair(const char *cert_pem, const char *key_pem,
                          ll_err *err) {
  int rc = -1;
  BIO *cb = BIO_new_mem_buf(cert_pem, -1);
  BIO *kb = BIO_new_mem_buf(key_pem, -1);
  X509 *cert =
      cb != NULL ? PEM_read_bio_X509(cb, NULL, no_passphrase, NULL) : NULL;
  EVP_PKEY *key = kb != NULL
                      ? PEM_read_bio_PrivateKey(kb, NULL, no_passphrase, NULL)
                      : NULL;
  if (cert == NULL)
    ll_fail(err, LL_ERR_CONFIG,
            "config key 'http.tls.cert': no PEM certificate in the file");
  else if (key == NULL)
    ll_fail(err, LL_ERR_CONFIG,
            "config key 'http.tls.key': no unencrypted PEM private key "
            "in the file");
  else if (X509_check_private_key(cert, key) != 1)
    ll_fail(err, LL_ERR_CONFIG,
            "config keys 'http.tls.cert' and 'http.tls.key': the key "
            "does not belong to the certificate");
  else
    rc = 0;
  EVP_PKEY_free(key);
  X509_free(cert);
  BIO_free(kb);
  BIO_free(cb);
  return rc;
}

int ll_api_check_tls(const char *cert_pem, const char *key_pem, ll_err *err) {
  if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
    return ll_fail(err, LL_ERR_CONFIG,
                   "config key 'http.tls.cert': this libmicrohttpd was "
                   "built without TLS support");
  return check_tls_pair(cert_pem, key_pem, err);
}

/* ---- probes ---- */

void api_get_healthz(api_request *rq, const char *id, api_reply *r) {
  (void)rq;
  (void)id;
  json_t *body = json_object();
  json_object_set_new(body, "status", json_string("ok"));
  api_reply_json(r, MHD_HTTP_OK, body);
}

static void set_not_ready(json_t *body, bool caught_up, uint64_t behind,
                          uint64_t lag_max) {
  char message[200];
  if (!caught_up)
    snprintf(message, sizeof message,
             "the views are %" PRIu64 " positions behind the log (ready "
             "within %" PRIu64 ")",
             behind, lag_max);
  else
    snprintf(message, sizeof message,
             "the command consumer holds no partitions of the input topic "
             "(yet)");
  json_object_set_new(body, "code", json_string("UNAVAILABLE"));
  json_object_set_new(body, "message", json_string(message));
}

static void set_not_owned(json_t *body) {
  json_object_set_new(body, "code", json_string("UNAVAILABLE"));
  json_object_set_new(body, "message",
                      json_string("no instance of the cluster is known to own "
                                  "some partition of the input topic (a "
                                  "rebalance is under way)"));
}

/* Ready: the views trail the log by at most ready_lag_max positions (when
 * this process has views), and the command consumer of this process (when
 * there is one) holds partitions. */
void api_get_readyz(api_request *rq, const char *id, api_reply *r) {
  (void)id;
  const ll_api_deps *deps = &rq->api->deps;
  uint64_t lag_max =
      deps->ready_lag_max > 0 ? deps->ready_lag_max : LL_API_READY_LAG_MAX;
  uint64_t log_pos = ll_store_last_position(deps->log);
  uint64_t views_pos = deps->views != NULL ? ll_views_position(deps->views) : 0;
  bool caught_up = deps->views == NULL || log_pos <= views_pos ||
                   log_pos - views_pos <= lag_max;
  bool assigned =
      deps->consumer_assigned == NULL || atomic_load(deps->consumer_assigned);
  /* In a cluster: an owner is known for every partition (else some
   * requests could not be answered). */
  struct ll_cluster *cluster = api_cluster(rq->api);
  bool owners = cluster == NULL || !ll_cluster_has_peers(cluster) ||
                ll_cluster_complete(cluster);
  bool ready = caught_up && assigned && owners;
  json_t *body = json_object();
  json_object_set_new(body, "status",
                      json_string(ready ? "ready" : "catching_up"));
  if (deps->views != NULL)
    json_object_set_new(body, "position", json_integer((json_int_t)views_pos));
  json_object_set_new(body, "log_position", json_integer((json_int_t)log_pos));
  if (deps->consumer_assigned != NULL)
    json_object_set_new(body, "consumer",
                        json_string(assigned ? "assigned" : "unassigned"));
  if (cluster != NULL)
    json_object_set_new(body, "owners",
                        json_string(owners ? "known" : "incomplete"));
  if (!ready && !owners && caught_up && assigned)
    set_not_owned(body);
  else if (!ready)
    set_not_ready(body, caught_up, log_pos - views_pos, lag_max);
  api_reply_json(r, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, body);
}

/* ---- metrics ---- */

static const char *method_label(const char *m) {
  static const char *const known[] = {"GET", "HEAD",   "POST",   "PATCH",
                                      "PUT", "DELETE", "OPTIONS"};
  for (size_t i = 0; m != NULL && i < sizeof known / sizeof known[0]; i++)
    if (strcmp(m, known[i]) == 0)
      return known[i];
  return "other";
}

/* The matched route's path from the table, each {parameter} as {id}. */
static void route_label(const api_request *rq, char *out, size_t cap) {
  if (!rq->routed || rq->path_route == NULL) {
    snprintf(out, cap, "unmatched");
    return;
  }
  size_t len = 0;
  for (const char *p = rq->path_route->pattern; *p != '\0' && len + 1 < cap;) {
    if (*p == '{') {
      len += (size_t)snprintf(out + len, cap - len, "{id}");
      p += strcspn(p, "}") + 1;
    } else {
      out[len++] = *p++;
    }
  }
  out[len < cap ? len : cap - 1] = '\0';
}

void api_observe(api_request *rq) {
  ll_api *api = rq->api;
  char route[ROUTE_LABEL_MAX], status[16];
  route_label(rq, route, sizeof route);
  if (rq->status != 0)
    snprintf(status, sizeof status, "%u", rq->status);
  else
    snprintf(status, sizeof status, "none");
  const char *method = method_label(rq->method);
  ll_counter_add(ll_metric_with(api->m_requests, method, route, status), 1);
  if (rq->started_ns != 0)
    ll_histogram_observe(ll_metric_with(api->m_duration, method, route),
                         (ll_mono_ns() - rq->started_ns) / 1000);
}

static void set_db_gauges(ll_api *api, const char *db, const ll_db_stats *st) {
  ll_gauge_set(ll_metric_with(api->m_db_memory, db, "block_cache"),
               (int64_t)st->block_cache_bytes);
  ll_gauge_set(ll_metric_with(api->m_db_memory, db, "memtables"),
               (int64_t)st->memtable_bytes);
  ll_gauge_set(ll_metric_with(api->m_db_memory, db, "table_readers"),
               (int64_t)st->table_readers_bytes);
  ll_gauge_set(ll_metric_with(api->m_db_sst, db), (int64_t)st->sst_bytes);
  ll_gauge_set(ll_metric_with(api->m_db_compaction, db),
               (int64_t)st->compaction_pending_bytes);
  ll_gauge_set(ll_metric_with(api->m_db_l0, db), (int64_t)st->l0_files);
  ll_gauge_set(ll_metric_with(api->m_db_stall, db), (int64_t)st->stall_micros);
}

static void collect(void *arg) {
  ll_api *api = arg;
  uint64_t log_pos = ll_store_last_position(api->deps.log);
  ll_gauge_set(api->m_log_position, (int64_t)log_pos);
  ll_db_stats st;
  ll_store_stats(api->deps.log, &st);
  set_db_gauges(api, "log", &st);
  ll_gauge_set(api->m_log_size, (int64_t)(st.sst_bytes + st.memtable_bytes));
  if (api->deps.views != NULL) {
    uint64_t views_pos = ll_views_position(api->deps.views);
    ll_gauge_set(api->m_views_position, (int64_t)views_pos);
    ll_gauge_set(api->m_projection_lag,
                 (int64_t)(log_pos > views_pos ? log_pos - views_pos : 0));
    ll_views_stats(api->deps.views, &st);
    set_db_gauges(api, "views", &st);
  }
}

static void register_metrics(ll_api *api) {
  ll_metrics *m = api->metrics;
  api->m_requests = ll_metrics_counter(
      m, "lotline_http_requests_total",
      "HTTP requests answered, by method, route template and status.",
      "method,route,status");
  api->m_duration = ll_metrics_histogram(
      m, "lotline_http_request_duration_seconds",
      "Time from the request line to the end of the answer.", "method,route",
      ll_metrics_latency_us_buckets, ll_metrics_latency_us_buckets_len,
      1000000);
  api->m_log_position = ll_metric_with(
      ll_metrics_gauge(m, "lotline_log_position",
                       "Last position of the log (accepted events).", NULL));
  api->m_log_size = ll_metric_with(ll_metrics_gauge(
      m, "lotline_log_size_bytes",
      "Size of the log database: RocksDB's SST files plus memtables.", NULL));
  if (api->deps.views != NULL) {
    api->m_views_position = ll_metric_with(
        ll_metrics_gauge(m, "lotline_views_position",
                         "Last log position applied to the views.", NULL));
    api->m_projection_lag = ll_metric_with(
        ll_metrics_gauge(m, "lotline_projection_lag",
                         "Log positions not yet applied to the views.", NULL));
  }
  api->m_db_memory = ll_metrics_gauge(
      m, "lotline_rocksdb_memory_bytes",
      "RocksDB memory by database (log, views) and kind (block_cache, "
      "memtables, table_readers).",
      "db,kind");
  api->m_db_sst = ll_metrics_gauge(m, "lotline_rocksdb_sst_bytes",
                                   "RocksDB SST files by database.", "db");
  api->m_db_compaction = ll_metrics_gauge(
      m, "lotline_rocksdb_compaction_pending_bytes",
      "RocksDB's estimate of the compaction work owed, by database: high "
      "after a backlog was worked off, while reads pay for the extra "
      "files.",
      "db");
  api->m_db_l0 = ll_metrics_gauge(
      m, "lotline_rocksdb_l0_files",
      "RocksDB level-0 table files by database: each one is searched by "
      "reads, and past RocksDB's limits (20 and 36 by default) writes are "
      "slowed down, then stopped.",
      "db");
  api->m_db_stall = ll_metrics_gauge(
      m, "lotline_rocksdb_write_stall_micros",
      "Time RocksDB has held this process's writers back since the "
      "database was opened (too many level-0 files, memtables waiting for "
      "a flush, compaction owed), by database.",
      "db");
}

void api_get_metrics(api_request *rq, const char *id, api_reply *r) {
  (void)id;
  ll_buf out;
  ll_buf_init(&out);
  ll_metrics_expose(rq->api->metrics, &out);
  api_reply_free(r);
  r->status = MHD_HTTP_OK;
  r->body_len = out.len;
  r->body = ll_xmalloc(out.len + 1);
  memcpy(r->body, out.data, out.len);
  r->body[out.len] = '\0';
  r->content_type = METRICS_CONTENT_TYPE;
  ll_buf_free(&out);
}

/* ---- start and stop ---- */

int api_ops_start(ll_api *api, const ll_api_deps *deps, ll_err *err) {
  api->own_metrics = deps->metrics == NULL ? ll_metrics_new() : NULL;
  api->metrics = deps->metrics != NULL ? deps->metrics : api->own_metrics;
  register_metrics(api);
  if (ll_metrics_add_collector(api->metrics, collect, api) != 0) {
    ll_metrics_free(api->own_metrics);
    api->own_metrics = NULL;
    return ll_fail(err, LL_ERR_FULL, "too many metrics collectors");
  }
  if (deps->read_token != NULL && deps->read_token[0] != '\0') {
    api->read_protected = true;
    token_digest(deps->read_token, strlen(deps->read_token), api->read_digest);
  }
  if (deps->write_token != NULL && deps->write_token[0] != '\0') {
    api->write_protected = true;
    token_digest(deps->write_token, strlen(deps->write_token),
                 api->write_digest);
  }
  api->deps.read_token = NULL; /* not kept in plain text */
  api->deps.write_token = NULL;
  bool cert = deps->tls_cert_pem != NULL && deps->tls_cert_pem[0] != '\0';
  bool key = deps->tls_key_pem != NULL && deps->tls_key_pem[0] != '\0';
  int rc = 0;
  if (cert != key)
    rc =
        ll_fail(err, LL_ERR_CONFIG, "HTTPS needs both a certificate and a key");
  else if (cert)
    rc = ll_api_check_tls(deps->tls_cert_pem, deps->tls_key_pem, err);
  if (rc != 0) {
    api_ops_stop(api);
    return -1;
  }
  if (cert) {
    api->tls = true;
    api->tls_cert_pem = ll_strdup(deps->tls_cert_pem);
    api->tls_key_pem = ll_strdup(deps->tls_key_pem);
  }
  api->deps.tls_cert_pem = api->tls_cert_pem;
  api->deps.tls_key_pem = api->tls_key_pem;
  return 0;
}

void api_ops_stop(ll_api *api) {
  ll_metrics_remove_collector(api->metrics, collect, api);
  ll_metrics_free(api->own_metrics);
  api->own_metrics = NULL;
  api->metrics = NULL;
  if (api->tls_key_pem != NULL)
    OPENSSL_cleanse(api->tls_key_pem, strlen(api->tls_key_pem));
  free(api->tls_cert_pem);
  free(api->tls_key_pem);
  api->tls_cert_pem = api->tls_key_pem = NULL;
  OPENSSL_cleanse(api->read_digest, sizeof api->read_digest);
  OPENSSL_cleanse(api->write_digest, sizeof api->write_digest);
}

/* The TLS part of the daemon's options (ll_api.c adds them). */
const char *api_tls_priorities(void) {
  return TLS_PRIORITIES;
}
