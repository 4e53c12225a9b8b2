/* workload.h — a deterministic, realistic event stream for the benchmark.
 *
 * Products, lots (a share of them serial-tracked), a location hierarchy
 * of warehouses, zones and shelves, and the flows of a manufacturer:
 * supplier -> stock -> shelf -> customer, and stock -> production ->
 * finished lots. The generator simulates quantities itself so that valid
 * events are valid by construction; a configured share is invalid on
 * purpose (insufficient stock, unknown lots, duplicate names, garbage). */
#ifndef LL_BENCH_WORKLOAD_H
#define LL_BENCH_WORKLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "ll_buf.h"
#include "ll_codec.h"

typedef struct wl_config {
  uint64_t seed;
  int64_t events;   /* total events to generate */
  int products;     /* 10,000 */
  int lots;         /* 200,000 */
  int serial_pct;   /* share of serial-tracked products, % */
  int invalid_pm;   /* invalid events per mille (20 = 2 %) */
  int64_t start_ms; /* occurred_at of the first event */
} wl_config;

typedef struct wl_stats {
  int64_t generated;
  int64_t valid;
  int64_t invalid;
  int64_t creates, receipts, transfers, deliveries, production, malformed;
} wl_stats;

typedef struct workload workload;

workload *wl_new(const wl_config *cfg, ll_codec *codec);
void wl_free(workload *w);
/* Next message: key (NUL-terminated product id) and value bytes. Returns
 * false when the configured number of events has been generated. */
bool wl_next(workload *w, const char **key, ll_buf *value);
const wl_stats *wl_stats_get(const workload *w);
/* A lot id that exists once the stream is applied (for read load). */
const char *wl_lot_id(const workload *w, int64_t i, char *buf, size_t n);
int64_t wl_lots_created(const workload *w);
/* Allow `more` events beyond the configured count (a later phase). */
void wl_extend(workload *w, int64_t more);

#endif
