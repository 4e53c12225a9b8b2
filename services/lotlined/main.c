/* main.c — lotlined: the lotline daemon.
 *
 *   lotlined all      command consumer + projection worker + HTTP API; with
 *                     no --brokers it also runs the embedded broker
 *   lotlined command  the command consumer alone (owns <data>/log)
 *   lotlined project  projection worker + HTTP API (follows <data>/log as a
 *                     RocksDB secondary, owns <data>/views)
 *   lotlined broker   the embedded broker alone
 *
 * Threads: the command consumer runs on the main thread (all, command), the
 * projector on its own thread, the HTTP API on libmicrohttpd's pool. A
 * SIGTERM or SIGINT sets `stop`; every loop checks it, the batch in flight
 * is synced, and the process exits 0.
 *
 * main() is two phases: settings.c reads and checks every setting before
 * anything runs (the form of each value, the files it names, the kafka.*
 * properties, the HTTPS pair, an API beyond loopback without a write
 * token, unknown LOTLINE_* variables) and exits 2 naming the key; then
 * this file runs the mode. A runtime failure exits 1 with what failed and
 * the error's kind (docs/operations.md). One metrics registry serves the
 * whole process; `lotlined command` has no API, so its /healthz, /readyz
 * and /metrics are served on metrics.listen when that is set. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alerts.h"
#include "command.h"
#include "data_lock.h"
#include "instance_id.h"
#include "ll_api.h"
#include "ll_cluster.h"
#include "ll_logging.h"
#include "ll_mem.h"
#include "ll_metrics.h"
#include "ll_rocks.h"
#include "ll_sha256.h"
#include "ll_thread.h"
#include "ll_time.h"
#include "ll_types.h"
#include "ll_views.h"
#include "publisher.h"
#include "settings.h"

#define PROJECTOR_BATCH_MAX LL_PROJECTOR_BATCH_MAX
/* A projector with nothing to apply waits for the log to change: a commit
 * in this process wakes it at once; a log another process writes (a
 * secondary) shows new entries only when caught up with, so it looks again
 * after PROJECTOR_FOLLOW_WAIT_MS, doubling while nothing comes up to
 * PROJECTOR_FOLLOW_WAIT_MAX_MS: a catch-up reads the primary's MANIFEST
 * and WAL, and a thousand a second on an idle log take CPU from the reads.
 * PROJECTOR_IDLE_WAIT_MS bounds a wait so that a stop is seen. */
#define PROJECTOR_IDLE_WAIT_MS 100
#define PROJECTOR_FOLLOW_WAIT_MS 1
#define PROJECTOR_FOLLOW_WAIT_MAX_MS 8
#define PUBLISHER_JOIN_MS 500
/* The publisher feeds the downstream topics; nobody waits on it the way a
 * client waits on the consumer, the projector and the API. When the cores
 * are all busy it yields to them (a burst is then published a little
 * later: lotline_publish_lag shows it), and its producer's threads, which
 * it starts, inherit the priority. With a core free it runs as before. */
#define PUBLISHER_NICE 10
#define ALERTS_JOIN_MS 500
/* A step of the stop that takes longer than this is logged (which one,
 * how long): the stop as a whole should take well under 5 s. */
#define STOP_STEP_SLOW_MS 1000
#define LOG_WAIT_SLEEP_US (200 * 1000)
#define ADDR_LINE_MAX 400 /* "https://" + HOST:PORT */

static volatile sig_atomic_t stop = 0;

/* What a worker that did not stop in time still uses, left open to the
 * process exit and kept reachable from here: when the worker ends during
 * the exit, a leak checker must not take it for a leak (volatile: the
 * stores are never read, and must not be optimised away). */
static volatile struct {
  ll_alerts *alerts;
  ll_publisher *publisher;
  ll_views *views;
  ll_store *store;
  ll_codec *codec;
} left_to_exit;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

/* A runtime failure: one line with what failed, why and the error's kind
 * (ll_types.h), exit status 1. */
static int fail(const char *what, const ll_err *e) {
  fprintf(stderr, "lotlined: %s: %s (%s)\n", what, e->message,
          ll_err_kind_name(e->kind));
  return 1;
}

static int mkdir_p(const char *path) {
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p == '/') {
      *p = '\0';
      if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return -1;
      *p = '/';
    }
  }
  return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* Write a one-line file atomically (write to a temp name, rename). */
static int write_addr_file(const char *dir, const char *name, const char *line,
                           ll_err *err) {
  char path[PATH_MAX], tmp[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
  FILE *f = fopen(tmp, "w");
  if (!f)
    return ll_fail(err, LL_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
  fprintf(f, "%s\n", line);
  if (fclose(f) != 0 || rename(tmp, path) != 0)
    return ll_fail(err, LL_ERR_IO, "cannot write %s: %s", path,
                   strerror(errno));
  return 0;
}

static char *read_addr_file(const char *dir, const char *name) {
  char path[PATH_MAX], line[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "r");
  if (!f)
    return NULL;
  char *s = fgets(line, sizeof line, f);
  fclose(f);
  if (!s)
    return NULL;
  line[strcspn(line, "\r\n")] = '\0';
  return line[0] ? ll_strdup(line) : NULL;
}

static bool is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The schema directory: configured, next to the build tree, installed, or
 * the source tree this binary was built from. */
static const char *find_schemas(const ll_config *cfg, char *buf, size_t n) {
  const char *configured = ll_config_get(cfg, "schemas.dir");
  if (configured && *configured)
    return configured;
  char exe[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len > 0) {
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
      *slash = '\0';
    const char *candidates[] = {"%s/../../schemas",
                                "%s/../share/lotline/schemas"};
    for (size_t i = 0; i < 2; i++) {
      int len_needed = snprintf(buf, n, candidates[i], exe);
      if (len_needed > 0 && (size_t)len_needed < n && is_dir(buf))
        return buf; /* a truncated path would name another directory */
    }
  }
  snprintf(buf, n, "%s/schemas", LOTLINE_SOURCE_DIR);
  return buf;
}

typedef struct projector_thread {
  ll_projector *projector;
  ll_store *log; /* what it follows: its changes wake it */
  pthread_t thread;
  bool failed;
  ll_err err;
  ll_series *m_applied; /* lotline_projection_applied_total */
  ll_series *m_step;    /* lotline_projection_step_seconds */
} projector_thread;

static void *projector_main(void *arg) {
  projector_thread *t = arg;
  ll_thread_set_name("ll:project");
  bool follows = ll_store_get_mode(t->log) != LL_STORE_PRIMARY;
  uint64_t wait_ms =
      follows ? PROJECTOR_FOLLOW_WAIT_MS : PROJECTOR_IDLE_WAIT_MS;
  while (!stop) {
    size_t applied = 0;
    uint64_t seen = ll_store_changes(t->log);
    uint64_t t0 = ll_mono_ns();
    if (ll_projector_step(t->projector, PROJECTOR_BATCH_MAX, &applied,
                          &t->err) != 0) {
      t->failed = true;
      ll_log(LL_ERROR, "project", "projection stopped (%s): %s",
             ll_err_kind_name(t->err.kind), t->err.message);
      stop = 1;
      break;
    }
    if (applied == 0) {
      ll_store_wait_change(t->log, seen, ll_mono_ns() + wait_ms * 1000000ull);
      if (follows && wait_ms < PROJECTOR_FOLLOW_WAIT_MAX_MS)
        wait_ms *= 2;
      continue;
    }
    if (follows)
      wait_ms = PROJECTOR_FOLLOW_WAIT_MS;
    ll_counter_add(t->m_applied, applied);
    ll_histogram_observe(t->m_step, (ll_mono_ns() - t0) / 1000);
  }
  return NULL;
}

static void projector_metrics(projector_thread *t, ll_metrics *m) {
  t->m_applied = ll_metric_with(ll_metrics_counter(
      m, "lotline_projection_applied_total",
      "Log entries applied to the views by this process.", NULL));
  t->m_step = ll_metric_with(ll_metrics_histogram(
      m, "lotline_projection_step_seconds",
      "Time of one projection step that applied entries (read the log, "
      "write the views).",
      NULL, ll_metrics_latency_us_buckets, ll_metrics_latency_us_buckets_len,
      1000000));
}

/* The publisher (publisher.c) on its own thread, in `all` and `project`. */
typedef struct publisher_thread {
  ll_publisher *publisher;
  pthread_t thread;
  bool failed;
  ll_err err;
  ll_store *log;
  ll_series *m_position, *m_lag;
  bool collecting; /* publisher_collect is registered */
} publisher_thread;

/* At each /metrics scrape: how far lots.events is behind the log. */
static void publisher_collect(void *arg) {
  publisher_thread *t = arg;
  uint64_t pos = atomic_load(&ll_publisher_get_stats(t->publisher)->position);
  uint64_t last = ll_store_last_position(t->log);
  ll_gauge_set(t->m_position, (int64_t)pos);
  ll_gauge_set(t->m_lag, (int64_t)(last > pos ? last - pos : 0));
}

static void publisher_metrics(publisher_thread *t, ll_metrics *m) {
  t->m_position = ll_metric_with(ll_metrics_gauge(
      m, "lotline_publish_position",
      "Last log position in the events and quantities topics (committed "
      "by this instance, or found there already).",
      NULL));
  t->m_lag = ll_metric_with(ll_metrics_gauge(
      m, "lotline_publish_lag",
      "Log positions not yet published to the events and quantities topics.",
      NULL));
  t->collecting = ll_metrics_add_collector(m, publisher_collect, t) == 0;
}

static void *publisher_main(void *arg) {
  publisher_thread *t = arg;
  ll_thread_set_name("ll:publish");
  if (ll_thread_lower_priority(PUBLISHER_NICE) != 0)
    ll_log(LL_WARN, "publish",
           "cannot lower the publisher's CPU priority (%s): it competes with "
           "the projector for the cores",
           strerror(errno));
  if (ll_publisher_run(t->publisher, &stop, &t->err) != 0) {
    t->failed = true;
    ll_log(LL_ERROR, "publish", "publishing stopped (%s): %s",
           ll_err_kind_name(t->err.kind), t->err.message);
    stop = 1;
  }
  return NULL;
}

typedef struct daemon_ctx {
  ld_settings set; /* cfg, tokens, TLS, bounds (settings.c) */
  const char *data;
  char *brokers;
  ll_topics topics;
  ll_broker *broker;
  bool embedded_broker; /* ours, or the one <data>/broker.addr names */
  ll_codec *codec;
  ll_store *store;
  ll_views *views;
  ll_producer *api_producer;
  ll_producer *rej_producer;
  ll_outbox *outbox; /* after rej_producer: freed once it is gone */
  ll_projector *projector;
  projector_thread pt;
  bool pt_started;
  publisher_thread pub;
  bool pub_started;
  bool pub_abandoned; /* its thread still runs: keep what it uses open */
  ll_alerts *alerts;  /* the date alerts worker (services/alerts) */
  pthread_t alerts_thread;
  bool alerts_started;
  bool alerts_abandoned; /* its thread still runs: keep the views open */
  ll_api *api;
  ll_api *ops_api;     /* metrics.listen */
  ll_cluster *cluster; /* `all` on Kafka: the ownership directory */
  ll_metrics *metrics;
  ll_command_stats stats; /* the command consumer's, read by /readyz */
  bool has_consumer;      /* all, command */
  ld_locks locks;         /* the roles this process holds on data */
} daemon_ctx;

/* The publisher may sit in a Kafka transaction call while Kafka is gone;
 * shutdown must still end within its 5 s. Its transaction is recovered at
 * the next start (publisher.c), so after PUBLISHER_JOIN_MS it is left. */
static bool join_publisher(daemon_ctx *d) {
  struct timespec deadline = ll_deadline_after_ms(PUBLISHER_JOIN_MS);
  if (pthread_timedjoin_np(d->pub.thread, NULL, &deadline) == 0)
    return true;
  ll_log(LL_WARN, "publish",
         "the publisher did not stop within %d ms (Kafka unreachable?); its "
         "open transaction is recovered at the next start",
         PUBLISHER_JOIN_MS);
  return false;
}

/* The alerts worker gives up a round at a stop, never waiting on Kafka
 * for more than a slice (services/alerts/alerts.c); past ALERTS_JOIN_MS
 * it is left to the process exit (its unsent alerts are settled at the
 * next start). */
static void join_alerts(daemon_ctx *d) {
  struct timespec deadline = ll_deadline_after_ms(ALERTS_JOIN_MS);
  if (!d->alerts_started ||
      pthread_timedjoin_np(d->alerts_thread, NULL, &deadline) == 0) {
    ll_alerts_close(d->alerts);
    return;
  }
  ll_log(LL_WARN, "alerts", "the alerts worker did not stop within %d ms",
         ALERTS_JOIN_MS);
  left_to_exit.alerts = d->alerts;
  d->alerts_abandoned = true;
}

/* Log a step of the stop that took longer than STOP_STEP_SLOW_MS; the
 * start of the next one. */
static uint64_t stop_step_done(const char *what, uint64_t started_ns) {
  uint64_t now = ll_mono_ns();
  uint64_t ms = (now - started_ns) / 1000000u;
  if (ms > STOP_STEP_SLOW_MS)
    ll_log(LL_WARN, "lotlined", "stopping: %s took %llu ms", what,
           (unsigned long long)ms);
  return now;
}

static void daemon_close(daemon_ctx *d) {
  stop = 1;
  uint64_t t = ll_mono_ns();
  if (d->api)
    ll_api_stop(d->api);
  if (d->ops_api)
    ll_api_stop(d->ops_api);
  t = stop_step_done("the HTTP API", t);
  if (d->alerts)
    ll_alerts_hold(d->alerts); /* its filter (the cluster) is not asked again */
  join_alerts(d);
  if (d->pt_started)
    pthread_join(d->pt.thread, NULL);
  t = stop_step_done("the alerts worker and the projector", t);
  if (d->pub.collecting) /* the APIs are stopped: no scrape is running */
    ll_metrics_remove_collector(d->metrics, publisher_collect, &d->pub);
  d->pub.collecting = false;
  if (d->pub_started && !join_publisher(d)) {
    left_to_exit.publisher = d->pub.publisher; /* still busy */
    d->pub.publisher = NULL;
    d->pub_abandoned = true;
  }
  /* After the API, the alerts worker and the publisher, which ask it whom
   * they serve; a publisher still busy may ask it still: left to the exit. */
  if (!d->pub_abandoned)
    ll_cluster_stop(d->cluster);
  t = stop_step_done("the publisher and the cluster directory", t);
  ll_publisher_free(d->pub.publisher);
  if (d->projector)
    ll_projector_free(d->projector);
  if (d->api_producer)
    ll_producer_free(d->api_producer);
  if (d->rej_producer)
    ll_producer_free(d->rej_producer);
  ll_outbox_free(d->outbox);
  t = stop_step_done("the producers", t);
  /* Closing a RocksDB database waits for its running flushes and
   * compactions (at idle priority: ll_rocks_compactions_yield). */
  if (d->views && !d->alerts_abandoned)
    ll_views_close(d->views);
  else
    left_to_exit.views = d->views;
  t = stop_step_done("closing the views", t);
  if (d->store && !d->pub_abandoned)
    ll_store_close(d->store);
  else
    left_to_exit.store = d->store;
  t = stop_step_done("closing the log", t);
  if (d->codec && !d->pub_abandoned && !d->alerts_abandoned)
    ll_codec_close(d->codec);
  else
    left_to_exit.codec = d->codec;
  if (d->broker)
    ll_broker_stop(d->broker);
  (void)stop_step_done("the embedded broker", t);
  free(d->brokers);
  ll_metrics_free(d->metrics);
  ld_locks_release(&d->locks); /* last: everything using data is closed */
}

static int open_codec(daemon_ctx *d) {
  char buf[PATH_MAX];
  ll_err e;
  const char *dir = find_schemas(&d->set.cfg, buf, sizeof buf);
  d->codec =
      ll_codec_open(dir, ll_config_get(&d->set.cfg, "schema.registry.url"), &e);
  if (!d->codec)
    return fail("loading schemas", &e);
  return 0;
}

/* A secondary waits for the command consumer to create the log: the two
 * processes may start in any order. Other errors are final. */
static ll_store *open_log(const char *path, ll_store_mode mode, ll_err *e) {
  bool told = false;
  for (;;) {
    ll_store *s = ll_store_open(path, mode, e);
    if (s || mode != LL_STORE_SECONDARY || stop)
      return s;
    if (!strstr(e->message, "does not exist yet") &&
        !strstr(e->message, "Column family not found"))
      return NULL;
    if (!told)
      ll_log(LL_INFO, "project",
             "waiting for the command consumer to "
             "create %s",
             path);
    told = true;
    usleep(LOG_WAIT_SLEEP_US);
  }
}

/* What every API of this process shares: metrics, readiness, tokens, TLS. */
static ll_api_deps ops_deps(daemon_ctx *d) {
  int64_t lag_max = 0, threads = 0;
  ll_err e;
  if (ll_config_get_int(&d->set.cfg, "ready.lag.max", &lag_max, &e) != 0)
    lag_max = 0; /* checked at start-up; 0 = the API's default */
  if (ll_config_get_int(&d->set.cfg, "http.threads", &threads, &e) != 0)
    threads = 0; /* checked at start-up; 0 = one per core */
  return (ll_api_deps){
      .log = d->store,
      .views = d->views,
      .metrics = d->metrics,
      .consumer_assigned = d->has_consumer ? &d->stats.assigned : NULL,
      .ready_lag_max = (uint64_t)lag_max,
      .threads = (int)threads,
      .read_token = d->set.read_token,
      .write_token = d->set.write_token,
      .tls_cert_pem = d->set.tls_cert,
      .tls_key_pem = d->set.tls_key,
  };
}

static int write_api_addr(daemon_ctx *d, ll_err *e) {
  char line[ADDR_LINE_MAX];
  /* The CLI takes a bare HOST:PORT as http://; HTTPS says so. */
  snprintf(line, sizeof line, "%s%s", ll_api_tls(d->api) ? "https://" : "",
           ll_api_address(d->api));
  return write_addr_file(d->data, "http.addr", line, e);
}

/* metrics.listen: /healthz, /readyz and /metrics on an address of their
 * own (written to <data>/metrics.addr); the only HTTP of `lotlined
 * command`. */
static int start_ops_api(daemon_ctx *d) {
  const char *listen = ll_config_get(&d->set.cfg, "metrics.listen");
  if (listen == NULL || *listen == '\0')
    return 0;
  ll_err e;
  ll_api_deps deps = ops_deps(d);
  deps.ops_only = true;
  d->ops_api = ll_api_start(listen, &deps, &e);
  if (!d->ops_api)
    return fail("starting the metrics listener (metrics.listen)", &e);
  if (write_addr_file(d->data, "metrics.addr", ll_api_address(d->ops_api),
                      &e) != 0)
    return fail("starting", &e);
  ll_log(LL_INFO, "api", "health and metrics on %s://%s",
         ll_api_tls(d->ops_api) ? "https" : "http", ll_api_address(d->ops_api));
  return 0;
}

/* Start a worker thread; `what` names it when that fails. */
static int start_thread(pthread_t *thread, void *(*fn)(void *), void *arg,
                        const char *what) {
  if (pthread_create(thread, NULL, fn, arg) == 0)
    return 0;
  ll_err e;
  ll_fail(&e, LL_ERR_INTERNAL, "cannot start the %s thread", what);
  return fail("starting", &e);
}

/* What makes the publisher's default transactional.id this instance's own:
 * instances must not fence each other (publisher.c). The instance's id
 * (cluster.instance.id, else <data>/instance.id), as in the directory. */
static int publisher_instance_tag(const daemon_ctx *d, char *out, size_t n) {
  ll_err e;
  if (ld_instance_id(&d->set.cfg, d->data, out, n, &e) != 0)
    return fail("reading the instance id", &e);
  return 0;
}

static bool publishes_task(void *ctx, int32_t partition) {
  return ll_cluster_publishes(ctx, partition);
}

static uint64_t publish_epoch(void *ctx) {
  return ll_cluster_publish_epoch(ctx);
}

/* The publisher follows the same log store as the projector. In `all` it
 * starts once the cluster directory does: it publishes the tasks this
 * instance owns. */
static int start_publisher(daemon_ctx *d) {
  if (!ll_config_get_bool(&d->set.cfg, "publish.enabled") || !d->brokers)
    return 0;
  ll_err e;
  int64_t batch;
  if (ll_config_get_int(&d->set.cfg, "publish.batch.max.events", &batch, &e) !=
      0)
    return fail("config", &e);
  char txn_id[LL_TEXT_MAX_CHARS + 1], tag[LL_MEMBER_ID_MAX];
  const char *configured =
      ll_config_get(&d->set.cfg, "publish.transactional.id");
  if (configured && *configured)
    snprintf(txn_id, sizeof txn_id, "%s", configured);
  else if (publisher_instance_tag(d, tag, sizeof tag) != 0)
    return 1;
  else
    snprintf(txn_id, sizeof txn_id, "%s-publisher-%s",
             ll_config_get(&d->set.cfg, "group.id"), tag);
  ll_publisher_opts o = {.cfg = &d->set.cfg,
                         .brokers = d->brokers,
                         .log = d->store,
                         .codec = d->codec,
                         .topics = d->topics,
                         .transactional_id = txn_id,
                         .batch_max_events =
                             batch < 1 || batch > INT32_MAX ? 0 : (int)batch,
                         .publishes = d->cluster ? publishes_task : NULL,
                         .publish_epoch = d->cluster ? publish_epoch : NULL,
                         .tasks_ctx = d->cluster};
  d->pub.publisher = ll_publisher_new(&o, &e);
  if (!d->pub.publisher)
    return fail("starting the publisher", &e);
  d->pub.log = d->store;
  publisher_metrics(&d->pub, d->metrics);
  if (start_thread(&d->pub.thread, publisher_main, &d->pub, "publisher") != 0)
    return 1;
  d->pub_started = true;
  return 0;
}

static void *alerts_main(void *arg) {
  ll_alerts *a = arg;
  ll_thread_set_name("ll:alerts");
  ll_err e = {0};
  if (ll_alerts_run(a, &stop, &e) != 0)
    ll_log(LL_ERROR, "alerts", "stopped (%s): %s", ll_err_kind_name(e.kind),
           e.message);
  return NULL;
}

/* The date alerts worker, beside the projector: it reads the views and
 * writes lots.alerts and its own store, <data>/alerts. */
static int start_alerts(daemon_ctx *d) {
  if (!d->brokers)
    return 0;
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/alerts", d->data);
  ll_err e;
  ll_alerts_opts o = {.dir = path,
                      .views = d->views,
                      .codec = d->codec,
                      .cfg = &d->set.cfg,
                      .brokers = d->brokers,
                      .topic = d->topics.alerts,
                      .metrics = d->metrics,
                      .await_filter = d->set.mode == LD_MODE_ALL};
  d->alerts = ll_alerts_open(&o, &e);
  if (!d->alerts)
    return fail("starting the alerts worker", &e);
  if (start_thread(&d->alerts_thread, alerts_main, d->alerts, "alerts") != 0)
    return 1;
  d->alerts_started = true;
  return 0;
}

static int start_projection_and_api(daemon_ctx *d, ll_store_mode log_mode) {
  char path[PATH_MAX];
  ll_err e;
  int64_t timeout_ms;
  if (ll_config_get_int(&d->set.cfg, "write.timeout.ms", &timeout_ms, &e) != 0)
    return fail("config", &e);
  if (!d->store) {
    snprintf(path, sizeof path, "%s/log", d->data);
    d->store = open_log(path, log_mode, &e);
    if (!d->store)
      return stop ? 0 : fail("opening the log", &e);
  }
  snprintf(path, sizeof path, "%s/views", d->data);
  d->views = ll_views_open(path, &e);
  if (!d->views)
    return fail("opening the views", &e);
  d->projector = ll_projector_new(d->store, d->views);
  d->pt.projector = d->projector;
  d->pt.log = d->store;
  projector_metrics(&d->pt, d->metrics);
  if (start_thread(&d->pt.thread, projector_main, &d->pt, "projector") != 0)
    return 1;
  d->pt_started = true;
  if ((d->set.mode != LD_MODE_ALL && start_publisher(d) != 0) ||
      start_alerts(d) != 0)
    return 1;
  if (d->brokers) {
    d->api_producer =
        ll_producer_new(&d->set.cfg, d->brokers, (int)timeout_ms, &e);
    if (!d->api_producer)
      return fail("creating the API producer", &e);
  }
  ll_api_deps deps = ops_deps(d);
  deps.codec = d->codec;
  deps.producer = d->api_producer;
  deps.inbound_topic = d->topics.inbound;
  deps.write_timeout_ms = (int)timeout_ms;
  deps.alerts = d->alerts;
  d->api = ll_api_start(ll_config_get(&d->set.cfg, "http.listen"), &deps, &e);
  if (!d->api)
    return fail("starting the HTTP API", &e);
  if (write_api_addr(d, &e) != 0)
    return fail("starting", &e);
  ll_log(LL_INFO, "api", "HTTP API on %s://%s",
         ll_api_tls(d->api) ? "https" : "http", ll_api_address(d->api));
  return start_ops_api(d);
}

static void on_assignment(void *ctx, const int32_t *parts, size_t n,
                          int32_t partition_count, const char *member_id) {
  ll_cluster_set_owned(ctx, parts, n, partition_count, member_id);
}

static size_t standby_of(void *ctx, int32_t *out, size_t cap) {
  return ll_cluster_standby(ctx, out, cap);
}

/* cluster.listen, else http.listen's host with a free port: the same
 * interface as the API (port 0: a free one, read back by advertised_url). */
static void cluster_listen(daemon_ctx *d, char *out, size_t cap) {
  const char *set = ll_config_get(&d->set.cfg, "cluster.listen");
  if (set != NULL && *set != '\0') {
    snprintf(out, cap, "%s", set);
    return;
  }
  const char *api = ll_config_get(&d->set.cfg, "http.listen");
  const char *colon = strrchr(api, ':');
  int host_len = colon != NULL ? (int)(colon - api) : (int)strlen(api);
  snprintf(out, cap, "%.*s:0", host_len, api);
}

/* base ("scheme://host[:port][/...]") with its port replaced by port. */
static void with_port(const char *base, const char *port, char *out,
                      size_t cap) {
  const char *host = strstr(base, "://");
  host = host != NULL ? host + 3 : base;
  size_t host_len = strcspn(host, "/");
  const char *bracket = memchr(host, ']', host_len); /* [v6]:port */
  const char *from = bracket != NULL ? bracket : host;
  const char *colon = memchr(from, ':', host_len - (size_t)(from - host));
  size_t keep = (size_t)((colon != NULL ? colon : host + host_len) - base);
  snprintf(out, cap, "%.*s:%s", (int)keep, base, port);
}

/* The URL other instances forward to: cluster.advertise; else
 * http.advertise's scheme and host, or the bound address, with the
 * cluster listener's port (a deployment whose listeners are on 0.0.0.0
 * sets http.advertise or cluster.advertise). */
static void advertised_url(daemon_ctx *d, char *out, size_t cap) {
  const char *set = ll_config_get(&d->set.cfg, "cluster.advertise");
  const char *api = ll_config_get(&d->set.cfg, "http.advertise");
  const char *bound = ll_api_cluster_address(d->api);
  const char *port = strrchr(bound, ':');
  port = port != NULL ? port + 1 : "0";
  if (set != NULL && *set != '\0')
    snprintf(out, cap, "%s", set);
  else if (api != NULL && *api != '\0')
    with_port(api, port, out, cap);
  else
    snprintf(out, cap, "%s://%s", ll_api_tls(d->api) ? "https" : "http", bound);
  size_t n = strlen(out);
  while (n > 0 && out[n - 1] == '/')
    out[--n] = '\0';
}

/* The date alerts of a cluster's instance: its own partitions' lots. */
static bool alerts_serve(void *ctx, const char *product_id) {
  return ll_cluster_serves_product(ctx, product_id);
}

/* `all`: join the ownership directory (services/cluster), so that any
 * instance of the group answers any request. */
static int start_cluster(daemon_ctx *d) {
  char id[LL_MEMBER_ID_MAX], url[LL_MEMBER_URL_MAX];
  ll_err e;
  if (ld_instance_id(&d->set.cfg, d->data, id, sizeof id, &e) != 0)
    return fail("reading the instance id", &e);
  char listen[LL_MEMBER_URL_MAX];
  cluster_listen(d, listen, sizeof listen);
  if (ll_api_listen_cluster(d->api, listen, &e) != 0)
    return fail("starting the cluster listener", &e);
  advertised_url(d, url, sizeof url);
  int64_t replicas = 0;
  if (ll_config_get_int(&d->set.cfg, "cluster.standby.replicas", &replicas,
                        &e) != 0)
    return fail("config", &e);
  ll_cluster_opts o = {.cfg = &d->set.cfg,
                       .brokers = d->brokers,
                       .members_topic = d->topics.members,
                       .instance_id = id,
                       .url = url,
                       .standby_replicas = (int)replicas};
  d->cluster = ll_cluster_start(&o, &e);
  if (!d->cluster)
    return fail("starting the cluster directory", &e);
  ll_api_set_cluster(d->api, d->cluster);
  if (d->alerts != NULL)
    ll_alerts_serves(d->alerts, alerts_serve, d->cluster);
  return 0;
}

static int run_command_loop(daemon_ctx *d) {
  ll_err e;
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/log", d->data);
  if (!d->store) {
    d->store = ll_store_open(path, LL_STORE_PRIMARY, &e);
    if (!d->store)
      return fail("opening the log", &e);
  }
  if (!d->api && !d->ops_api) { /* `command`: its health and metrics */
    int rc = start_ops_api(d);
    if (rc != 0)
      return rc;
  }
  d->rej_producer = ll_producer_new(&d->set.cfg, d->brokers, 0, &e);
  if (!d->rej_producer)
    return fail("creating the rejections producer", &e);
  d->outbox = ll_outbox_new(d->store, d->rej_producer, d->topics.rejected,
                            d->metrics, &e);
  if (!d->outbox)
    return fail("opening the rejections outbox", &e);
  ll_command_opts opts = {
      .cfg = &d->set.cfg,
      .brokers = d->brokers,
      .store = d->store,
      .codec = d->codec,
      .outbox = d->outbox,
      .topics = d->topics,
      .rule_opts = {.allow_expired_delivery = ll_config_get_bool(
                        &d->set.cfg, "rules.allow_expired_delivery")},
      .allow_truncated =
          ll_config_get_bool(&d->set.cfg, "input.allow_truncated"),
      .batch_max_events = (int)d->set.batch_max_events,
      .batch_max_ms = (int)d->set.batch_max_ms,
      .embedded_broker = d->embedded_broker,
      .log_dir = path,
      .min_free_bytes = d->set.min_free_mb * 1024 * 1024,
      .metrics = d->metrics,
      .on_assignment = d->cluster ? on_assignment : NULL,
      .assignment_ctx = d->cluster,
      .standby_of = d->cluster ? standby_of : NULL,
  };
  if (ll_command_run(&opts, &d->stats, &stop, &e) != 0) {
    int rc = fail("command consumer", &e);
    return e.kind == LL_ERR_CONFIG ? LD_EXIT_USAGE : rc;
  }
  ll_log(LL_INFO, "command",
         "stopped: %lld accepted, %lld rejected, %lld "
         "duplicate(s)",
         (long long)atomic_load(&d->stats.accepted),
         (long long)atomic_load(&d->stats.rejected),
         (long long)atomic_load(&d->stats.duplicates));
  return 0;
}

static void wait_for_stop(void) {
  while (!stop)
    usleep(50 * 1000);
}

/* The embedded broker, as broker.count and broker.partitions say. */
static int start_broker(daemon_ctx *d) {
  ll_err e;
  int64_t partitions, count;
  if (ll_config_get_int(&d->set.cfg, "broker.partitions", &partitions, &e) !=
          0 ||
      ll_config_get_int(&d->set.cfg, "broker.count", &count, &e) != 0)
    return fail("config", &e);
  d->broker = ll_broker_start(&d->topics, (int)count, (int)partitions, &e);
  if (!d->broker)
    return fail("starting the embedded broker", &e);
  return 0;
}

static int resolve_brokers(daemon_ctx *d, bool may_embed) {
  const char *b = ll_config_get(&d->set.cfg, "brokers");
  if (b && *b) {
    d->brokers = ll_strdup(b);
    return 0;
  }
  ll_err e;
  if (may_embed) {
    int rc = start_broker(d);
    if (rc != 0)
      return rc;
    d->brokers = ll_strdup(ll_broker_bootstraps(d->broker));
    if (write_addr_file(d->data, "broker.addr", d->brokers, &e) != 0)
      return fail("starting", &e);
    d->embedded_broker = true;
    return 0;
  }
  d->brokers = read_addr_file(d->data, "broker.addr");
  d->embedded_broker = d->brokers != NULL;
  if (!d->brokers) {
    fprintf(stderr,
            "lotlined: no --brokers given and no %s/broker.addr to read "
            "them from (CONFIG)\n",
            d->data);
    return LD_EXIT_USAGE;
  }
  return 0;
}

/* Logging as the settings say, the signals that stop the daemon. */
static void prepare_process(daemon_ctx *d) {
  ll_level level;
  ll_log_format format;
  if (!ll_log_parse_level(ll_config_get(&d->set.cfg, "log.level"), &level) ||
      !ll_log_parse_format(ll_config_get(&d->set.cfg, "log.format"), &format))
    abort(); /* both checked when set */
  ll_log_set_level(level);
  ll_log_set_format(format);
  d->metrics = ll_metrics_new();
  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  ll_topics_from_config(&d->set.cfg, &d->topics);
  d->data = ll_config_get(&d->set.cfg, "data");
}

static int make_data_dir(const char *data) {
  if (mkdir_p(data) == 0)
    return 0;
  fprintf(stderr, "lotlined: cannot create %s: %s (IO)\n", data,
          strerror(errno));
  return 1;
}

/* `lotlined broker`: the embedded broker until a signal. */
static int run_broker(daemon_ctx *d) {
  if (d->set.data_given && make_data_dir(d->data) != 0)
    return 1;
  if (d->set.data_given) {
    int rc = ld_locks_take(&d->locks, d->data, LD_ROLE_BIT(LD_ROLE_BROKER),
                           d->set.mode_name);
    if (rc != 0)
      return rc;
  }
  int rc = start_broker(d);
  if (rc != 0)
    return rc;
  ll_err e;
  printf("%s\n", ll_broker_bootstraps(d->broker));
  fflush(stdout);
  if (d->set.data_given &&
      write_addr_file(d->data, "broker.addr", ll_broker_bootstraps(d->broker),
                      &e) != 0)
    return fail("starting", &e);
  wait_for_stop();
  return 0;
}

/* After the main loop: the projector and the publisher end, and their
 * failures become the exit status. */
static int join_workers(daemon_ctx *d, int rc) {
  if (rc == 0 && d->pt_started) {
    stop = 1;
    pthread_join(d->pt.thread, NULL);
    d->pt_started = false;
    if (d->pt.failed)
      rc = fail("projection", &d->pt.err);
  }
  if (d->pub_started) {
    stop = 1;
    d->pub_started = false;
    if (!join_publisher(d)) {
      d->pub.publisher = NULL; /* still busy: left to the process exit */
      d->pub_abandoned = true;
    } else if (d->pub.failed && rc == 0)
      rc = fail("publisher", &d->pub.err);
  }
  return rc;
}

/* The consumer's log, opened before anything starts: a log that belongs to
 * another consumer group is a setup error (exit 2, ll_store_bind_group). */
static int open_own_log(daemon_ctx *d) {
  char path[PATH_MAX];
  ll_err e;
  snprintf(path, sizeof path, "%s/log", d->data);
  d->store = ll_store_open(path, LL_STORE_PRIMARY, &e);
  if (!d->store)
    return fail("opening the log", &e);
  if (ll_store_bind_group(d->store, ll_config_get(&d->set.cfg, "group.id"),
                          &e) != 0) {
    int rc = fail("opening the log", &e);
    return e.kind == LL_ERR_CONFIG ? LD_EXIT_USAGE : rc;
  }
  return 0;
}

/* The roles a service mode holds on its data directory (data_lock.h). */
static unsigned roles_of(const daemon_ctx *d) {
  const char *b = ll_config_get(&d->set.cfg, "brokers");
  bool embeds = d->set.mode == LD_MODE_ALL && !(b && *b);
  unsigned roles = 0;
  if (d->set.mode == LD_MODE_ALL || d->set.mode == LD_MODE_COMMAND)
    roles |= LD_ROLE_BIT(LD_ROLE_CONSUMER);
  if (d->set.mode == LD_MODE_ALL || d->set.mode == LD_MODE_PROJECT)
    roles |= LD_ROLE_BIT(LD_ROLE_VIEWS);
  if (embeds)
    roles |= LD_ROLE_BIT(LD_ROLE_BROKER);
  return roles;
}

/* `all`, `command`, `project`: start what the mode runs, run until a
 * signal or a failure, then stop it all. */
static int run_service(daemon_ctx *d) {
  ld_mode mode = d->set.mode;
  if (make_data_dir(d->data) != 0)
    return 1;
  int rc = ld_locks_take(&d->locks, d->data, roles_of(d), d->set.mode_name);
  if (rc != 0)
    return rc;
  ll_log(LL_INFO, "lotlined", "starting '%s' (version %s) on data %s",
         d->set.mode_name, LOTLINE_VERSION, d->data);
  if (d->set.api_insecure)
    ll_log(LL_WARN, "api",
           "http.insecure = true: the API on %s takes writes from anyone who "
           "reaches it (no http.token.write); docs/operations.md",
           ll_config_get(&d->set.cfg, "http.listen"));
  ll_rocks_compactions_yield();
  d->has_consumer = mode == LD_MODE_ALL || mode == LD_MODE_COMMAND;
  if (d->has_consumer)
    rc = open_own_log(d);
  if (rc == 0)
    rc = resolve_brokers(d, mode == LD_MODE_ALL);
  if (rc == 0)
    rc = open_codec(d);
  if (rc == 0 && mode == LD_MODE_ALL)
    rc = start_projection_and_api(d, LL_STORE_PRIMARY);
  if (rc == 0 && mode == LD_MODE_ALL && d->api)
    rc = start_cluster(d);
  else if (rc == 0 && mode == LD_MODE_ALL && d->alerts)
    ll_alerts_serves(d->alerts, NULL, NULL); /* no cluster: every lot */
  if (rc == 0 && mode == LD_MODE_ALL)
    rc = start_publisher(d);
  if (rc == 0 && mode == LD_MODE_PROJECT) {
    rc = start_projection_and_api(d, LL_STORE_SECONDARY);
    if (rc == 0)
      wait_for_stop();
  }
  if (rc == 0 && d->has_consumer)
    rc = run_command_loop(d);
  rc = join_workers(d, rc);
  ll_log(rc == 0 ? LL_INFO : LL_ERROR, "lotlined", "'%s' stopped (exit %d)",
         d->set.mode_name, rc);
  return rc;
}

int main(int argc, char **argv) {
  daemon_ctx d = {0};
  ld_locks_init(&d.locks);
  int rc = ld_settings_load(&d.set, argc, argv);
  if (rc == LD_SETTINGS_RUN) {
    prepare_process(&d);
    rc = d.set.mode == LD_MODE_BROKER ? run_broker(&d) : run_service(&d);
    daemon_close(&d);
  }
  ld_settings_free(&d.set);
  return rc;
}
