/* ll_metrics.c — the metrics registry (see ll_metrics.h for the design).
 *
 * Concurrency: a family's series live in a fixed array of pointers whose
 * published length is an atomic; readers scan the published prefix without
 * a lock (acquire load of the length, each slot written before it is
 * published), writers that create a series take the family's mutex. Values
 * are relaxed atomics: a scrape may see one counter a moment ahead of
 * another, which Prometheus tolerates by design. Families and collectors
 * change under the registry's mutex, which the exposition also holds, so
 * collectors never run concurrently with each other. */
#include "ll_metrics.h"

#include <assert.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ll_buf.h"
#include "ll_mem.h"
#include "ll_types.h"

const uint64_t ll_metrics_latency_us_buckets[] = {
    100,   250,    500,    1000,   2500,    5000,    10000,   25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};
const size_t ll_metrics_latency_us_buckets_len =
    sizeof ll_metrics_latency_us_buckets /
    sizeof ll_metrics_latency_us_buckets[0];
const uint64_t ll_metrics_size_buckets[] = {
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 100000};
const size_t ll_metrics_size_buckets_len =
    sizeof ll_metrics_size_buckets / sizeof ll_metrics_size_buckets[0];

struct ll_series {
  const ll_metric *family;
  char *values[LL_METRICS_LABELS_MAX];
  _Atomic uint64_t counter;
  _Atomic int64_t gauge;
  atomic_bool hidden;
  _Atomic uint64_t *buckets; /* histogram: n_bounds + 1 (the last is +Inf) */
  _Atomic uint64_t sum;
};

struct ll_metric {
  char name[LL_METRICS_NAME_MAX];
  char *help;
  ll_metric_type type;
  char *labels[LL_METRICS_LABELS_MAX];
  size_t n_labels;
  uint64_t bounds[LL_METRICS_BUCKETS_MAX];
  size_t n_bounds;
  uint64_t scale;
  pthread_mutex_t mu; /* creating series */
  ll_series *series[LL_METRICS_SERIES_MAX];
  _Atomic size_t n_series;
};

typedef struct collector {
  ll_metrics_collector fn;
  void *arg;
} collector;

struct ll_metrics {
  pthread_mutex_t mu; /* families, collectors, exposition */
  ll_metric *families[LL_METRICS_FAMILIES_MAX];
  size_t n_families;
  collector collectors[LL_METRICS_COLLECTORS_MAX];
  size_t n_collectors;
};

ll_metrics *ll_metrics_new(void) {
  ll_metrics *m = ll_xcalloc(1, sizeof *m);
  pthread_mutex_init(&m->mu, NULL);
  return m;
}

static void series_free(ll_series *s) {
  for (size_t i = 0; i < LL_METRICS_LABELS_MAX; i++)
    free(s->values[i]);
  free((void *)s->buckets);
  free(s);
}

static void family_free(ll_metric *f) {
  size_t n = atomic_load(&f->n_series);
  for (size_t i = 0; i < n; i++)
    series_free(f->series[i]);
  for (size_t i = 0; i < f->n_labels; i++)
    free(f->labels[i]);
  free(f->help);
  pthread_mutex_destroy(&f->mu);
  free(f);
}

void ll_metrics_free(ll_metrics *m) {
  if (m == NULL)
    return;
  for (size_t i = 0; i < m->n_families; i++)
    family_free(m->families[i]);
  pthread_mutex_destroy(&m->mu);
  free(m);
}

static bool valid_name(const char *s) {
  if (s == NULL || *s == '\0' || strlen(s) >= LL_METRICS_NAME_MAX)
    return false;
  for (size_t i = 0; s[i] != '\0'; i++) {
    char c = s[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && c != ':' && !(i > 0 && c >= '0' && c <= '9'))
      return false;
  }
  return true;
}

/* Split "a,b" into label names; false on a bad name or too many. */
static bool split_labels(const char *list, char **out, size_t *n) {
  *n = 0;
  if (list == NULL || *list == '\0')
    return true;
  const char *p = list;
  for (;;) {
    size_t len = strcspn(p, ",");
    if (*n == LL_METRICS_LABELS_MAX || len == 0 || len >= LL_METRICS_NAME_MAX)
      return false;
    char name[LL_METRICS_NAME_MAX];
    memcpy(name, p, len);
    name[len] = '\0';
    if (!valid_name(name) || strcmp(name, "le") == 0)
      return false;
    out[(*n)++] = ll_strdup(name);
    if (p[len] == '\0')
      return true;
    p += len + 1;
  }
}

static bool same_shape(const ll_metric *f, ll_metric_type type, char **labels,
                       size_t n_labels) {
  if (f->type != type || f->n_labels != n_labels)
    return false;
  for (size_t i = 0; i < n_labels; i++)
    if (strcmp(f->labels[i], labels[i]) != 0)
      return false;
  return true;
}

static ll_metric *family_add(ll_metrics *m, ll_metric_type type,
                             const char *name, const char *help,
                             const char *label_names, const uint64_t *bounds,
                             size_t n_bounds, uint64_t scale) {
  if (m == NULL)
    return NULL;
  assert(valid_name(name));
  char *labels[LL_METRICS_LABELS_MAX];
  size_t n_labels = 0;
  bool labels_ok = split_labels(label_names, labels, &n_labels);
  assert(labels_ok);
  ll_metric *f = NULL;
  pthread_mutex_lock(&m->mu);
  for (size_t i = 0; i < m->n_families; i++) {
    if (strcmp(m->families[i]->name, name) == 0) {
      if (same_shape(m->families[i], type, labels, n_labels))
        f = m->families[i];
      goto out;
    }
  }
  if (!labels_ok || m->n_families == LL_METRICS_FAMILIES_MAX)
    goto out;
  f = ll_xcalloc(1, sizeof *f);
  snprintf(f->name, sizeof f->name, "%s", name);
  f->help = ll_strdup(help != NULL ? help : "");
  f->type = type;
  f->n_labels = n_labels;
  for (size_t i = 0; i < n_labels; i++) {
    f->labels[i] = labels[i];
    labels[i] = NULL;
  }
  assert(n_bounds <= LL_METRICS_BUCKETS_MAX);
  for (size_t i = 0; i < n_bounds; i++) {
    assert(i == 0 || bounds[i] > bounds[i - 1]);
    f->bounds[i] = bounds[i];
  }
  f->n_bounds = n_bounds;
  f->scale = scale == 0 ? 1 : scale;
  pthread_mutex_init(&f->mu, NULL);
  atomic_init(&f->n_series, 0);
  m->families[m->n_families++] = f;
out:
  pthread_mutex_unlock(&m->mu);
  for (size_t i = 0; i < n_labels; i++)
    free(labels[i]);
  /* A family without labels has exactly one series: expose it from the
   * start, so a counter reads 0 before its first event. */
  if (f != NULL && f->n_labels == 0)
    (void)ll_metric_withv(f, NULL);
  return f;
}

ll_metric *ll_metrics_counter(ll_metrics *m, const char *name, const char *help,
                              const char *label_names) {
  return family_add(m, LL_METRIC_COUNTER, name, help, label_names, NULL, 0, 1);
}

ll_metric *ll_metrics_gauge(ll_metrics *m, const char *name, const char *help,
                            const char *label_names) {
  return family_add(m, LL_METRIC_GAUGE, name, help, label_names, NULL, 0, 1);
}

ll_metric *ll_metrics_histogram(ll_metrics *m, const char *name,
                                const char *help, const char *label_names,
                                const uint64_t *bounds, size_t n_bounds,
                                uint64_t scale) {
  /* The exposition writes bounds as exact decimals: scale is 10^k. */
  for (uint64_t s = scale; s > 1; s /= 10)
    assert(s % 10 == 0);
  return family_add(m, LL_METRIC_HISTOGRAM, name, help, label_names, bounds,
                    n_bounds, scale);
}

static bool series_matches(const ll_series *s, size_t n,
                           const char *const *values) {
  for (size_t i = 0; i < n; i++) {
    const char *v = values[i] != NULL ? values[i] : "";
    if (strncmp(s->values[i], v, LL_METRICS_LABEL_VALUE_MAX) != 0)
      return false;
  }
  return true;
}

static char *copy_value(const char *v) {
  v = v != NULL ? v : "";
  size_t n = strnlen(v, LL_METRICS_LABEL_VALUE_MAX);
  return ll_strndup(v, n);
}

static ll_series *find_series(ll_metric *f, size_t published,
                              const char *const *values) {
  for (size_t i = 0; i < published; i++)
    if (series_matches(f->series[i], f->n_labels, values))
      return f->series[i];
  return NULL;
}

ll_series *ll_metric_withv(ll_metric *f, const char *const *values) {
  if (f == NULL)
    return NULL;
  assert(f->n_labels == 0 || values != NULL);
  ll_series *s = find_series(
      f, atomic_load_explicit(&f->n_series, memory_order_acquire), values);
  if (s != NULL)
    return s;
  pthread_mutex_lock(&f->mu);
  size_t n = atomic_load_explicit(&f->n_series, memory_order_relaxed);
  s = find_series(f, n, values);
  if (s == NULL && n < LL_METRICS_SERIES_MAX) {
    s = ll_xcalloc(1, sizeof *s);
    s->family = f;
    for (size_t i = 0; i < f->n_labels; i++)
      s->values[i] = copy_value(values[i]);
    if (f->type == LL_METRIC_HISTOGRAM)
      s->buckets = ll_xcalloc(f->n_bounds + 1, sizeof *s->buckets);
    f->series[n] = s;
    atomic_store_explicit(&f->n_series, n + 1, memory_order_release);
  }
  pthread_mutex_unlock(&f->mu);
  return s;
}

ll_series *ll_metric_with(ll_metric *f, ...) {
  if (f == NULL)
    return NULL;
  const char *values[LL_METRICS_LABELS_MAX] = {0};
  va_list ap;
  va_start(ap, f);
  for (size_t i = 0; i < f->n_labels; i++)
    values[i] = va_arg(ap, const char *);
  va_end(ap);
  return ll_metric_withv(f, values);
}

void ll_counter_add(ll_series *s, uint64_t n) {
  if (s == NULL)
    return;
  assert(s->family->type == LL_METRIC_COUNTER);
  atomic_fetch_add_explicit(&s->counter, n, memory_order_relaxed);
}

void ll_gauge_set(ll_series *s, int64_t v) {
  if (s == NULL)
    return;
  assert(s->family->type == LL_METRIC_GAUGE);
  atomic_store_explicit(&s->gauge, v, memory_order_relaxed);
  atomic_store_explicit(&s->hidden, false, memory_order_relaxed);
}

void ll_gauge_add(ll_series *s, int64_t delta) {
  if (s == NULL)
    return;
  assert(s->family->type == LL_METRIC_GAUGE);
  atomic_fetch_add_explicit(&s->gauge, delta, memory_order_relaxed);
  atomic_store_explicit(&s->hidden, false, memory_order_relaxed);
}

void ll_histogram_observe(ll_series *s, uint64_t v) {
  if (s == NULL)
    return;
  const ll_metric *f = s->family;
  assert(f->type == LL_METRIC_HISTOGRAM);
  size_t i = 0;
  while (i < f->n_bounds && v > f->bounds[i])
    i++;
  atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&s->sum, v, memory_order_relaxed);
}

void ll_series_hide(ll_series *s) {
  if (s != NULL)
    atomic_store_explicit(&s->hidden, true, memory_order_relaxed);
}

uint64_t ll_counter_value(const ll_series *s) {
  return s != NULL ? atomic_load(&s->counter) : 0;
}

int64_t ll_gauge_value(const ll_series *s) {
  return s != NULL ? atomic_load(&s->gauge) : 0;
}

uint64_t ll_histogram_count(const ll_series *s) {
  if (s == NULL || s->buckets == NULL)
    return 0;
  uint64_t n = 0;
  for (size_t i = 0; i <= s->family->n_bounds; i++)
    n += atomic_load(&s->buckets[i]);
  return n;
}

int ll_metrics_add_collector(ll_metrics *m, ll_metrics_collector fn,
                             void *arg) {
  if (m == NULL)
    return 0;
  pthread_mutex_lock(&m->mu);
  int rc = -1;
  if (m->n_collectors < LL_METRICS_COLLECTORS_MAX) {
    m->collectors[m->n_collectors++] = (collector){fn, arg};
    rc = 0;
  }
  pthread_mutex_unlock(&m->mu);
  return rc;
}

void ll_metrics_remove_collector(ll_metrics *m, ll_metrics_collector fn,
                                 void *arg) {
  if (m == NULL)
    return;
  pthread_mutex_lock(&m->mu);
  for (size_t i = 0; i < m->n_collectors; i++) {
    if (m->collectors[i].fn == fn && m->collectors[i].arg == arg) {
      memmove(&m->collectors[i], &m->collectors[i + 1],
              (m->n_collectors - i - 1) * sizeof m->collectors[0]);
      m->n_collectors--;
      break;
    }
  }
  pthread_mutex_unlock(&m->mu);
}

/* ---- exposition ---- */

/* v / scale as an exact decimal without trailing zeros ("0.0025", "3"). */
static void put_scaled(ll_buf *out, uint64_t v, uint64_t scale) {
  ll_buf_printf(out, "%" PRIu64, v / scale);
  uint64_t frac = v % scale;
  if (frac == 0)
    return;
  char digits[32];
  int width = 0; /* scale is 10^width, width <= 19 */
  for (uint64_t s = scale; s > 1; s /= 10)
    width++;
  assert(width > 0 && width < 20);
  snprintf(digits, sizeof digits, "%0*" PRIu64, width & 31, frac);
  size_t n = strlen(digits);
  while (n > 0 && digits[n - 1] == '0')
    digits[--n] = '\0';
  ll_buf_printf(out, ".%s", digits);
}

/* HELP text: backslash and newline escaped. Label values: also '"'. */
static void put_escaped(ll_buf *out, const char *s, bool quote) {
  for (; *s != '\0'; s++) {
    if (*s == '\\')
      ll_buf_put(out, "\\\\", 2);
    else if (*s == '\n')
      ll_buf_put(out, "\\n", 2);
    else if (quote && *s == '"')
      ll_buf_put(out, "\\\"", 2);
    else
      ll_buf_put(out, s, 1);
  }
}

/* "{a="x",b="y"" without the closing brace, or nothing. extra_open tells
 * whether an "le" label follows. */
static void put_labels(ll_buf *out, const ll_metric *f, const ll_series *s,
                       bool more) {
  if (f->n_labels == 0 && !more)
    return;
  ll_buf_put(out, "{", 1);
  for (size_t i = 0; i < f->n_labels; i++) {
    ll_buf_printf(out, "%s%s=\"", i > 0 ? "," : "", f->labels[i]);
    put_escaped(out, s->values[i], true);
    ll_buf_put(out, "\"", 1);
  }
  if (!more)
    ll_buf_put(out, "}", 1);
  else if (f->n_labels > 0)
    ll_buf_put(out, ",", 1);
}

static void expose_histogram(ll_buf *out, const ll_metric *f,
                             const ll_series *s) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= f->n_bounds; i++) {
    cumulative += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
    ll_buf_printf(out, "%s_bucket", f->name);
    put_labels(out, f, s, true);
    ll_buf_put(out, "le=\"", 4);
    if (i < f->n_bounds)
      put_scaled(out, f->bounds[i], f->scale);
    else
      ll_buf_put(out, "+Inf", 4);
    ll_buf_printf(out, "\"} %" PRIu64 "\n", cumulative);
  }
  ll_buf_printf(out, "%s_sum", f->name);
  put_labels(out, f, s, false);
  ll_buf_put(out, " ", 1);
  put_scaled(out, atomic_load_explicit(&s->sum, memory_order_relaxed),
             f->scale);
  ll_buf_printf(out, "\n%s_count", f->name);
  put_labels(out, f, s, false);
  ll_buf_printf(out, " %" PRIu64 "\n", cumulative);
}

static const char *type_name(ll_metric_type t) {
  switch (t) {
  case LL_METRIC_COUNTER:
    return "counter";
  case LL_METRIC_GAUGE:
    return "gauge";
  case LL_METRIC_HISTOGRAM:
    return "histogram";
  }
  return "untyped";
}

static void expose_family(ll_buf *out, ll_metric *f) {
  ll_buf_printf(out, "# HELP %s ", f->name);
  put_escaped(out, f->help, false);
  ll_buf_printf(out, "\n# TYPE %s %s\n", f->name, type_name(f->type));
  size_t n = atomic_load_explicit(&f->n_series, memory_order_acquire);
  for (size_t i = 0; i < n; i++) {
    const ll_series *s = f->series[i];
    switch (f->type) {
    case LL_METRIC_COUNTER:
      ll_buf_printf(out, "%s", f->name);
      put_labels(out, f, s, false);
      ll_buf_printf(out, " %" PRIu64 "\n",
                    atomic_load_explicit(&s->counter, memory_order_relaxed));
      break;
    case LL_METRIC_GAUGE:
      if (atomic_load_explicit(&s->hidden, memory_order_relaxed))
        break;
      ll_buf_printf(out, "%s", f->name);
      put_labels(out, f, s, false);
      ll_buf_printf(out, " %" PRId64 "\n",
                    atomic_load_explicit(&s->gauge, memory_order_relaxed));
      break;
    case LL_METRIC_HISTOGRAM:
      expose_histogram(out, f, s);
      break;
    }
  }
}

void ll_metrics_expose(ll_metrics *m, ll_buf *out) {
  if (m == NULL)
    return;
  pthread_mutex_lock(&m->mu);
  for (size_t i = 0; i < m->n_collectors; i++)
    m->collectors[i].fn(m->collectors[i].arg);
  for (size_t i = 0; i < m->n_families; i++)
    expose_family(out, m->families[i]);
  pthread_mutex_unlock(&m->mu);
}
