/* ll_metrics.h — a small metrics registry and its Prometheus text exposition.
 *
 * A registry holds metric families (counter, gauge, histogram), each with
 * up to LL_METRICS_LABELS_MAX label names. A family's series (one per set
 * of label values) is found or created by ll_metric_with() and stays at the
 * same address for the registry's life, so a hot path looks its series up
 * once and afterwards only does one relaxed atomic add per update: no lock,
 * no allocation.
 *
 * Values are integers. A histogram observes integers in its own unit (say
 * microseconds) and is exposed in the Prometheus base unit (seconds) by
 * dividing by `scale` in decimal, exactly, when the text is written.
 *
 * Gauges whose value is cheaper to read than to maintain (log position,
 * RocksDB memory) are filled by collectors: callbacks that run, under the
 * registry's lock, at the start of every exposition.
 *
 * Every update function takes NULL as "no metric", so code that runs with
 * or without a registry needs no ifs. */
#ifndef LL_METRICS_H
#define LL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ll_buf.h"

#define LL_METRICS_FAMILIES_MAX 96
#define LL_METRICS_SERIES_MAX 1024 /* per family: bounds label cardinality */
#define LL_METRICS_LABELS_MAX 3
#define LL_METRICS_BUCKETS_MAX 24
#define LL_METRICS_COLLECTORS_MAX 16
#define LL_METRICS_NAME_MAX 96
#define LL_METRICS_LABEL_VALUE_MAX 256 /* longer values are cut */

typedef enum ll_metric_type {
  LL_METRIC_COUNTER = 0,
  LL_METRIC_GAUGE = 1,
  LL_METRIC_HISTOGRAM = 2,
} ll_metric_type;

typedef struct ll_metrics ll_metrics;
typedef struct ll_metric ll_metric; /* a family */
typedef struct ll_series ll_series; /* one set of label values */

ll_metrics *ll_metrics_new(void);
void ll_metrics_free(ll_metrics *m);

/* Register a family. label_names is a comma-separated list ("route,status")
 * or NULL. Registering a name again returns the existing family when type
 * and labels match (two components may share one), NULL otherwise; NULL too
 * when the registry is full or m is NULL. Names follow Prometheus rules
 * ([a-zA-Z_:][a-zA-Z0-9_:]*), asserted. */
ll_metric *ll_metrics_counter(ll_metrics *m, const char *name, const char *help,
                              const char *label_names);
ll_metric *ll_metrics_gauge(ll_metrics *m, const char *name, const char *help,
                            const char *label_names);
/* bounds: strictly increasing upper bounds in the observed unit (+Inf is
 * implicit); scale: observed units per exposed unit (1000000 for
 * microseconds exposed as seconds, 1 for plain counts). */
ll_metric *ll_metrics_histogram(ll_metrics *m, const char *name,
                                const char *help, const char *label_names,
                                const uint64_t *bounds, size_t n_bounds,
                                uint64_t scale);

/* The series for these label values (as many as the family has labels, in
 * order), created on first use. NULL when f is NULL or the family already
 * holds LL_METRICS_SERIES_MAX series. Thread-safe; lock-free when the
 * series exists. */
ll_series *ll_metric_with(ll_metric *f, ...);
ll_series *ll_metric_withv(ll_metric *f, const char *const *values);

void ll_counter_add(ll_series *s, uint64_t n);
void ll_gauge_set(ll_series *s, int64_t v);
void ll_gauge_add(ll_series *s, int64_t delta);
void ll_histogram_observe(ll_series *s, uint64_t v);
/* A gauge that no longer describes anything (a partition taken away) is
 * left out of the exposition until it is set again. */
void ll_series_hide(ll_series *s);

/* Values, for tests and for code that reads its own metrics. */
uint64_t ll_counter_value(const ll_series *s);
int64_t ll_gauge_value(const ll_series *s);
uint64_t ll_histogram_count(const ll_series *s);

/* A collector sets gauges (through series it looked up beforehand or with
 * ll_metric_with); it must not register families: it runs under the
 * registry's lock. */
typedef void (*ll_metrics_collector)(void *arg);
/* Returns 0, or -1 when LL_METRICS_COLLECTORS_MAX are registered. */
int ll_metrics_add_collector(ll_metrics *m, ll_metrics_collector fn, void *arg);
void ll_metrics_remove_collector(ll_metrics *m, ll_metrics_collector fn,
                                 void *arg);

/* Run the collectors, then append every family in registration order in
 * the Prometheus text format, version 0.0.4. */
void ll_metrics_expose(ll_metrics *m, ll_buf *out);

/* Shared bucket layouts. */
extern const uint64_t ll_metrics_latency_us_buckets[]; /* 100 us .. 10 s */
extern const size_t ll_metrics_latency_us_buckets_len;
extern const uint64_t ll_metrics_size_buckets[]; /* 1 .. 100000 */
extern const size_t ll_metrics_size_buckets_len;

#endif
