/* ll_cluster.h — the ownership directory of a cluster of lotlined
 * instances, and the client that forwards a request to another instance
 * (docs/cluster-design.md, decision 5; docs/operations.md, "Running a
 * cluster").
 *
 * Each instance has an id (<data>/instance.id, made at first start, or
 * cluster.instance.id) and an advertised base URL (http.advertise). The
 * command consumer tells the directory every assignment change
 * (ll_cluster_set_owned, from its rebalance callback: never blocks); the
 * directory publishes it as a claim to the compacted topic lots.members,
 * keyed by the instance id, and follows that topic from its beginning
 * (plain assign, no group) on a thread of its own, so every instance
 * knows partition -> (instance, URL). A revocation publishes an empty
 * claim (the instance stays known, owning nothing); a clean stop a
 * tombstone, which removes it.
 *
 * The directory also says which partitions this instance stands by for
 * (ll_cluster_standby: warm copies, services/command/command_standby.c)
 * and which tasks its publisher publishes (ll_cluster_publishes).
 *
 * What this instance owns is never read back from the topic: it is what
 * its own consumer holds, the only sure answer. A claim of another
 * instance may be stale for a moment; the owner checks, so a stale one
 * costs a 503, never a wrong answer. */
#ifndef LL_CLUSTER_H
#define LL_CLUSTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ll_buf.h"
#include "ll_config.h"
#include "ll_members.h"
#include "ll_types.h"

/* The header that marks a request one instance sent another: it is
 * answered where it arrives, never forwarded again. */
#define LL_FORWARDED_HEADER "Lotline-Forwarded"
#define LL_FORWARD_TIMEOUT_MS 8000 /* a write waits up to 5 s at the owner */
#define LL_FORWARD_CONNECT_TIMEOUT_MS 1000

typedef struct ll_cluster ll_cluster;

typedef struct ll_cluster_opts {
  const ll_config *cfg; /* kafka.* settings */
  const char *brokers;
  const char *members_topic; /* lots.members */
  const char *instance_id;
  const char *url;      /* advertised base URL: "http://host:port" */
  int standby_replicas; /* cluster.standby.replicas: 0 turns standbys off */
} ll_cluster_opts;

/* Start following the members topic; -1 (NULL) with err. */
ll_cluster *ll_cluster_start(const ll_cluster_opts *o, ll_err *err);
/* Publish a tombstone (a clean stop), wait for it briefly, stop. */
void ll_cluster_stop(ll_cluster *c);

/* The command consumer's assignment changed: parts are the partitions of
 * the input topic it now holds (n 0: revoked), partition_count the
 * topic's. Thread-safe, never blocks (the claim is sent asynchronously). */
void ll_cluster_set_owned(ll_cluster *c, const int32_t *parts, size_t n,
                          int32_t partition_count, const char *member_id);

/* The partitions this instance should stand by for now (into out, at most
 * cap; returns the count): ll_members_standby over the directory, less
 * what its consumer holds. When they change, the claim is sent again
 * with them ("standby"). Thread-safe, never blocks. */
size_t ll_cluster_standby(ll_cluster *c, int32_t *out, size_t cap);

/* Does this instance publish task p's entries (services/publisher)? When
 * its consumer holds p; or, once the directory was read through, when no
 * other instance is known (a cluster of one publishes its whole log, as
 * a single instance always did). A standby never does. */
bool ll_cluster_publishes(ll_cluster *c, int32_t p);
/* Moves whenever an answer of ll_cluster_publishes may have changed. */
uint64_t ll_cluster_publish_epoch(ll_cluster *c);

const char *ll_cluster_id(const ll_cluster *c);
/* Partitions of the input topic, 0 while unknown. */
int32_t ll_cluster_partitions(ll_cluster *c);
/* Does this instance's consumer hold partition p? */
bool ll_cluster_owns(ll_cluster *c, int32_t p);
/* Does this instance answer for the lots of product_id: it owns the
 * product's partition, or it has no peers (a cluster of one), or the
 * partition count is not known yet. */
bool ll_cluster_serves_product(ll_cluster *c, const char *product_id);
/* Is another instance known (it claimed partitions and has not stopped
 * cleanly, even if it owns none during a rebalance)? Without one this
 * instance is a cluster of one and answers everything from its views. */
bool ll_cluster_has_peers(ll_cluster *c);

typedef enum ll_owner_kind {
  LL_OWNER_SELF, /* this instance holds it */
  LL_OWNER_PEER, /* another instance claims it: url filled */
  LL_OWNER_NONE, /* no one claims it (a rebalance under way) */
} ll_owner_kind;

ll_owner_kind ll_cluster_owner(ll_cluster *c, int32_t p, char *url,
                               size_t url_cap);
/* The other instances that own at least one partition: their URLs into
 * urls (at most cap), their count returned. */
size_t ll_cluster_peer_urls(ll_cluster *c, char (*urls)[LL_MEMBER_URL_MAX],
                            size_t cap);
/* Does someone (this instance or a peer) own every partition? */
bool ll_cluster_complete(ll_cluster *c);
/* GET /v1/cluster: {"self","partitions","instances":[...]} */
json_t *ll_cluster_json(ll_cluster *c);

/* ---- forwarding (ll_forward.c) ---- */

typedef struct ll_forward_request {
  const char *method;          /* "GET", "POST", "PATCH" */
  const char *base_url;        /* "http://host:port" */
  const char *target;          /* path and query, as the client sent it */
  const char *authorization;   /* NULL: none */
  const char *idempotency_key; /* NULL: none */
  const void *body;
  size_t body_len;
} ll_forward_request;

typedef struct ll_forward_reply {
  long status;
  ll_buf body;
  char content_type[128];
  char position[64]; /* Lotline-Position, "" when absent */
} ll_forward_reply;

void ll_forward_reply_init(ll_forward_reply *r);
void ll_forward_reply_free(ll_forward_reply *r);
/* Send the request with LL_FORWARDED_HEADER; -1 with err (LL_ERR_IO) when
 * the instance cannot be reached or does not answer in time. */
int ll_forward(const ll_forward_request *rq, ll_forward_reply *out,
               ll_err *err);

#endif
