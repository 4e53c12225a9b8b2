/* alerts.h — the date alerts worker: LotDateReached on lots.alerts.
 *
 * When a lot's alert, use-by, removal or expiration date passes while it
 * has stock on hand, the worker publishes one LotDateReached {lot_id,
 * product_id, kind, at, on_hand} to lots.alerts, once per (lot, kind,
 * date), across restarts, and keeps it for GET /v1/alerts. It is an output
 * driven by the clock, not a decision: it reads the views and writes only
 * its own store (<data>/alerts) and the topic; nothing of it reaches the
 * rules or the log (alerts.c says how "once" holds, also in a cluster). */
#ifndef LL_ALERTS_H
#define LL_ALERTS_H

#include <signal.h>
#include <stdint.h>

#include "ll_codec.h"
#include "ll_config.h"
#include "ll_kafka.h"
#include "ll_metrics.h"
#include "ll_views.h"

/* How often the dates are looked at; how long one record's acknowledgement
 * and reading the topic back may take. */
#define LL_ALERTS_SCAN_INTERVAL_MS 1000
#define LL_ALERTS_SEND_TIMEOUT_MS 5000
#define LL_ALERTS_READ_BACK_MS 30000

typedef struct ll_alerts ll_alerts;

/* Which lots this instance alerts for: in a cluster, those of the
 * partitions it owns (its views also hold what it stands by for, or kept
 * of partitions it lost). */
typedef bool (*ll_alerts_serves_fn)(void *ctx, const char *product_id);

typedef struct ll_alerts_opts {
  const char *dir; /* its store, <data>/alerts */
  ll_views *views;
  ll_codec *codec;
  const ll_config *cfg; /* kafka.* keys for the read-back consumer */
  const char *brokers;
  const char *topic; /* lots.alerts */
  ll_metrics *metrics;
  /* A filter will be set (ll_alerts_serves): no lot is looked at until
   * then. false: every lot of the views, as a single instance. */
  bool await_filter;
} ll_alerts_opts;

/* One alert as the store keeps it. sequence numbers run 1, 2, 3 ... in
 * the order this instance found its alerts; an alert listed by its place
 * in lots.alerts (ll_alerts_list_placed) has sequence 0, its partition and
 * offset there, and the record's timestamp as emitted_at. */
typedef struct ll_alert {
  uint64_t sequence;
  int32_t partition; /* of lots.alerts; -1 when listed by sequence */
  int64_t offset;
  char *product_id;
  char *lot_id;
  ll_date_kind kind;
  int64_t at_ms;
  int64_t on_hand_micro;
  int64_t emitted_at_ms; /* the server's clock when it was found */
  bool sent;             /* acknowledged by Kafka */
} ll_alert;

ll_alerts *ll_alerts_open(const ll_alerts_opts *opts, ll_err *err);
/* Alert only for the lots serves(ctx, product) says; thread-safe. */
void ll_alerts_serves(ll_alerts *a, ll_alerts_serves_fn serves, void *ctx);
/* Look at no lot (and never call the filter) from now on: before what the
 * filter reads goes away at a stop. Thread-safe. */
void ll_alerts_hold(ll_alerts *a);
void ll_alerts_close(ll_alerts *a);

/* The worker's loop until *stop: settle what an earlier run left unsent,
 * then look at the dates every LL_ALERTS_SCAN_INTERVAL_MS (at once again
 * when a round had more index rows to read than it takes in one). A failure
 * (Kafka away, the views unreadable) is logged and tried again on the next
 * round; only a failing store ends it (-1 with err). */
int ll_alerts_run(ll_alerts *a, volatile sig_atomic_t *stop, ll_err *err);

/* One round: settle, then find and publish what is due at now_ms. Returns
 * the number published, or -1 with err. (The loop's body; tests call it.) */
int ll_alerts_round(ll_alerts *a, int64_t now_ms, ll_err *err);

/* Rows of the views' dates index the rounds read (what
 * lotline_alerts_rows_read_total counts): a round reads what can be due,
 * not every lot. Thread-safe. */
uint64_t ll_alerts_rows_read(ll_alerts *a);
/* Past this many products passed as not served, every round walks all
 * the due dates again (alerts.c, "products skipped"). */
#define LL_ALERTS_SKIPPED_MAX 65536

/* The alerts with sequence > since, oldest first, at most limit. *out is
 * malloc'd; free with ll_alerts_free. Thread-safe. */
int ll_alerts_list(ll_alerts *a, uint64_t since, size_t limit, ll_alert **out,
                   size_t *n_out, ll_err *err);
void ll_alerts_free(ll_alert *list, size_t n);

/* ---- the alerts of every instance, by their place in lots.alerts ----
 *
 * Every instance follows all of lots.alerts, so each keeps every alert
 * any instance published (the first record of each (lot, kind, date): a
 * second one published during a rebalance is not listed again), keyed by
 * its place (partition, offset). A cursor says, for each partition, the
 * offset of the next record to list: the same cursor means the same on
 * every instance, and new records are always past it. Its text is
 * "P:O,P:O,..." (partitions ascending, those at offset 0 left out; "0:0"
 * when all are). */
#define LL_ALERTS_PARTITIONS_MAX 1024 /* of lots.alerts */
#define LL_ALERTS_CURSOR_MAX_BYTES (LL_ALERTS_PARTITIONS_MAX * 26)

typedef struct ll_alerts_cursor {
  int64_t next[LL_ALERTS_PARTITIONS_MAX]; /* the next offset of each */
} ll_alerts_cursor;

/* false when text is not a cursor (then *c is unspecified). */
bool ll_alerts_cursor_parse(const char *text, ll_alerts_cursor *c);
/* The text of c, malloc'd. */
char *ll_alerts_cursor_format(const ll_alerts_cursor *c);

/* Order rows, grouped by partition and in offset order within each (as
 * the store lists them), oldest first: repeatedly the head of the
 * partition whose next record is the oldest (emitted_at, then partition),
 * so that what is taken of each partition is a prefix of it. Keeps the
 * first limit in place (the rest freed), advances c past them; returns
 * how many were kept. No store, no Kafka: unit-tested alone. */
size_t ll_alerts_merge_placed(ll_alert *rows, size_t n, size_t limit,
                              ll_alerts_cursor *c);

/* The alerts of every instance at or after cursor c, oldest first, at
 * most limit (ll_alerts_merge_placed); c is advanced past them. *out as
 * ll_alerts_list's. Thread-safe. */
int ll_alerts_list_placed(ll_alerts *a, ll_alerts_cursor *c, size_t limit,
                          ll_alert **out, size_t *n_out, ll_err *err);

#endif
