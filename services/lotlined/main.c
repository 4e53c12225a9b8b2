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
 * Start-up checks every setting before anything runs: the form of each
 * value, the files it names, the kafka.* properties (librdkafka itself
 * checks them, on a throwaway client), the HTTPS certificate and key, and
 * exits 2 with a message naming the key. One metrics registry serves the
 * whole process; `lotlined command` has no API, so its /healthz, /readyz
 * and /metrics are served on metrics.listen when that is set. */
#include <errno.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "command.h"
#include "ll_api.h"
#include "ll_logging.h"
#include "ll_mem.h"
#include "ll_metrics.h"
#include "ll_time.h"
#include "ll_types.h"
#include "ll_views.h"
#include "publisher.h"

#define EXIT_USAGE 2
#define PROJECTOR_BATCH_MAX LL_PROJECTOR_BATCH_MAX
#define PROJECTOR_IDLE_SLEEP_US 1000
#define PUBLISHER_JOIN_MS 500
#define LOG_WAIT_SLEEP_US (200 * 1000)
#define ADDR_LINE_MAX 400 /* "https://" + HOST:PORT */

static volatile sig_atomic_t stop = 0;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static void usage(FILE *out) {
  fprintf(
      out,
      "usage: lotlined MODE [options]\n"
      "\n"
      "Lot and serial-number traceability service.\n"
      "\n"
      "modes:\n"
      "  all       command consumer + projection worker + HTTP API in one\n"
      "            process; without --brokers it starts the embedded broker\n"
      "            and writes its bootstrap list to <data>/broker.addr\n"
      "  command   the command consumer alone (owns <data>/log)\n"
      "  project   the projection worker + HTTP API (reads <data>/log,\n"
      "            owns <data>/views)\n"
      "  broker    the embedded broker alone; prints its bootstrap list as\n"
      "            the first line on stdout\n"
      "\n"
      "options:\n"
      "  --data DIR          data directory (default ./lotline-data)\n"
      "  --brokers LIST      Kafka bootstrap servers; command and project\n"
      "                      fall back to <data>/broker.addr\n"
      "  --http HOST:PORT    HTTP API address (default 127.0.0.1:8080;\n"
      "                      port 0 picks a free one, see <data>/http.addr)\n"
      "  --config FILE       key=value settings (see below)\n"
      "  --set KEY=VALUE     one setting (repeatable)\n"
      "  --log-level LEVEL   debug, info, warn, error\n"
      "  --log-format FMT    text, or json (one object per line: ts, level,\n"
      "                      component, msg)\n"
      "  --print-config      check every setting, print them with where\n"
      "                      each came from (secrets hidden), and exit\n"
      "  --help, --version\n"
      "\n"
      "Settings, lowest precedence first: defaults, --config FILE,\n"
      "LOTLINE_<KEY> environment variables (dots become underscores,\n"
      "e.g. LOTLINE_HTTP_LISTEN), then flags. Every value is checked at\n"
      "start-up, kafka.* ones by librdkafka; an unknown key or a bad value\n"
      "stops the start with exit status 2 and a message naming the key.\n"
      "\n"
      "HTTP: GET /healthz (alive), /readyz (the views within ready.lag.max\n"
      "of the log, and in 'all' the consumer holds partitions), /metrics\n"
      "(Prometheus text). With http.token.write set, writes need\n"
      "'Authorization: Bearer <token>'; with http.token.read set too, so\n"
      "do reads and /metrics. http.tls.cert + http.tls.key serve HTTPS.\n"
      "'command' serves /healthz, /readyz and /metrics on metrics.listen.\n"
      "\n"
      "keys:                           default            meaning\n");
  ll_config_print_keys(out);
  fprintf(out,
          "\n"
          "files in the data directory: log/ (the event log, RocksDB),\n"
          "views/ (the read models), broker.addr (embedded broker's\n"
          "bootstrap list), http.addr (the API's HOST:PORT, https://HOST:PORT\n"
          "with TLS), metrics.addr (metrics.listen's HOST:PORT).\n"
          "\n"
          "SIGTERM or SIGINT: the batch in flight is synced, then exit 0.\n"
          "Exit status: 0 on success, 1 on runtime failure, 2 on bad "
          "usage.\n");
}

static int fail_usage(const char *fmt, const char *arg) {
  fprintf(stderr, "lotlined: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, " (see lotlined --help)\n");
  return EXIT_USAGE;
}

static int fail(const char *what, const ll_err *e) {
  fprintf(stderr, "lotlined: %s: %s\n", what, e->message);
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
    return ll_err_set(err, LL_OK, "cannot write %s: %s", tmp, strerror(errno));
  fprintf(f, "%s\n", line);
  if (fclose(f) != 0 || rename(tmp, path) != 0)
    return ll_err_set(err, LL_OK, "cannot write %s: %s", path, strerror(errno));
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
  pthread_t thread;
  bool failed;
  ll_err err;
  ll_series *m_applied; /* lotline_projection_applied_total */
  ll_series *m_step;    /* lotline_projection_step_seconds */
} projector_thread;

static void *projector_main(void *arg) {
  projector_thread *t = arg;
  while (!stop) {
    size_t applied = 0;
    uint64_t t0 = ll_mono_ns();
    if (ll_projector_step(t->projector, PROJECTOR_BATCH_MAX, &applied,
                          &t->err) != 0) {
      t->failed = true;
      ll_log(LL_ERROR, "project", "projection stopped: %s", t->err.message);
      stop = 1;
      break;
    }
    if (applied == 0) {
      usleep(PROJECTOR_IDLE_SLEEP_US);
      continue;
    }
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
      "Last log position published to the events and quantities topics "
      "(committed).",
      NULL));
  t->m_lag = ll_metric_with(ll_metrics_gauge(
      m, "lotline_publish_lag",
      "Log positions not yet published to the events and quantities topics.",
      NULL));
  t->collecting = ll_metrics_add_collector(m, publisher_collect, t) == 0;
}

static void *publisher_main(void *arg) {
  publisher_thread *t = arg;
  if (ll_publisher_run(t->publisher, &stop, &t->err) != 0) {
    t->failed = true;
    ll_log(LL_ERROR, "publish", "publishing stopped: %s", t->err.message);
    stop = 1;
  }
  return NULL;
}

typedef struct daemon_ctx {
  ll_config cfg;
  const char *data;
  char *brokers;
  ll_topics topics;
  ll_broker *broker;
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
  ll_api *api;
  ll_api *ops_api; /* metrics.listen */
  ll_metrics *metrics;
  ll_command_stats stats; /* the command consumer's, read by /readyz */
  bool has_consumer;      /* all, command */
  char *read_token, *write_token, *tls_cert, *tls_key;
  int64_t batch_max_events; /* command consumer: read_command_bounds() */
  int64_t batch_max_ms;
  int64_t min_free_mb;
} daemon_ctx;

/* The publisher may sit in a Kafka transaction call while Kafka is gone;
 * shutdown must still end within its 5 s. Its transaction is recovered at
 * the next start (publisher.c), so after PUBLISHER_JOIN_MS it is left. */
static bool join_publisher(daemon_ctx *d) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += PUBLISHER_JOIN_MS / 1000;
  deadline.tv_nsec += (long)(PUBLISHER_JOIN_MS % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  if (pthread_timedjoin_np(d->pub.thread, NULL, &deadline) == 0)
    return true;
  ll_log(LL_WARN, "publish",
         "the publisher did not stop within %d ms (Kafka unreachable?); its "
         "open transaction is recovered at the next start",
         PUBLISHER_JOIN_MS);
  return false;
}

static void daemon_close(daemon_ctx *d) {
  stop = 1;
  if (d->api)
    ll_api_stop(d->api);
  if (d->ops_api)
    ll_api_stop(d->ops_api);
  if (d->pt_started)
    pthread_join(d->pt.thread, NULL);
  if (d->pub.collecting) /* the APIs are stopped: no scrape is running */
    ll_metrics_remove_collector(d->metrics, publisher_collect, &d->pub);
  d->pub.collecting = false;
  if (d->pub_started && !join_publisher(d)) {
    d->pub.publisher = NULL; /* still busy: left to the process exit */
    d->pub_abandoned = true;
  }
  ll_publisher_free(d->pub.publisher);
  if (d->projector)
    ll_projector_free(d->projector);
  if (d->api_producer)
    ll_producer_free(d->api_producer);
  if (d->rej_producer)
    ll_producer_free(d->rej_producer);
  ll_outbox_free(d->outbox);
  if (d->views)
    ll_views_close(d->views);
  if (d->store && !d->pub_abandoned)
    ll_store_close(d->store);
  if (d->codec && !d->pub_abandoned)
    ll_codec_close(d->codec);
  if (d->broker)
    ll_broker_stop(d->broker);
  free(d->brokers);
  ll_metrics_free(d->metrics);
  free(d->read_token);
  free(d->write_token);
  free(d->tls_cert);
  free(d->tls_key);
}

static int open_codec(daemon_ctx *d) {
  char buf[PATH_MAX];
  ll_err e;
  const char *dir = find_schemas(&d->cfg, buf, sizeof buf);
  d->codec =
      ll_codec_open(dir, ll_config_get(&d->cfg, "schema.registry.url"), &e);
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
  int64_t lag_max = 0;
  ll_err e;
  if (ll_config_get_int(&d->cfg, "ready.lag.max", &lag_max, &e) != 0)
    lag_max = 0; /* checked at start-up; 0 = the API's default */
  return (ll_api_deps){
      .log = d->store,
      .views = d->views,
      .metrics = d->metrics,
      .consumer_assigned = d->has_consumer ? &d->stats.assigned : NULL,
      .ready_lag_max = (uint64_t)lag_max,
      .read_token = d->read_token,
      .write_token = d->write_token,
      .tls_cert_pem = d->tls_cert,
      .tls_key_pem = d->tls_key,
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
  const char *listen = ll_config_get(&d->cfg, "metrics.listen");
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

/* The publisher follows the same log store as the projector. */
static int start_publisher(daemon_ctx *d) {
  if (!ll_config_get_bool(&d->cfg, "publish.enabled") || !d->brokers)
    return 0;
  ll_err e;
  int64_t batch;
  if (ll_config_get_int(&d->cfg, "publish.batch.max.events", &batch, &e) != 0)
    return fail("config", &e);
  char path[PATH_MAX], txn_id[LL_TEXT_MAX_CHARS + 1];
  const char *configured = ll_config_get(&d->cfg, "publish.transactional.id");
  if (configured && *configured)
    snprintf(txn_id, sizeof txn_id, "%s", configured);
  else
    snprintf(txn_id, sizeof txn_id, "%s-publisher",
             ll_config_get(&d->cfg, "group.id"));
  snprintf(path, sizeof path, "%s/publisher", d->data);
  ll_publisher_opts o = {.cfg = &d->cfg,
                         .brokers = d->brokers,
                         .state_dir = path,
                         .log = d->store,
                         .codec = d->codec,
                         .topics = d->topics,
                         .transactional_id = txn_id,
                         .batch_max_events =
                             batch < 1 || batch > INT32_MAX ? 0 : (int)batch};
  d->pub.publisher = ll_publisher_new(&o, &e);
  if (!d->pub.publisher)
    return fail("starting the publisher", &e);
  d->pub.log = d->store;
  publisher_metrics(&d->pub, d->metrics);
  if (pthread_create(&d->pub.thread, NULL, publisher_main, &d->pub) != 0) {
    ll_err_set(&e, LL_OK, "cannot start the publisher thread");
    return fail("starting", &e);
  }
  d->pub_started = true;
  return 0;
}

static int start_projection_and_api(daemon_ctx *d, ll_store_mode log_mode) {
  char path[PATH_MAX];
  ll_err e;
  int64_t timeout_ms;
  if (ll_config_get_int(&d->cfg, "write.timeout.ms", &timeout_ms, &e) != 0)
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
  projector_metrics(&d->pt, d->metrics);
  if (pthread_create(&d->pt.thread, NULL, projector_main, &d->pt) != 0) {
    ll_err_set(&e, LL_OK, "cannot start the projector thread");
    return fail("starting", &e);
  }
  d->pt_started = true;
  if (start_publisher(d) != 0)
    return 1;
  if (d->brokers) {
    d->api_producer = ll_producer_new(&d->cfg, d->brokers, (int)timeout_ms, &e);
    if (!d->api_producer)
      return fail("creating the API producer", &e);
  }
  ll_api_deps deps = ops_deps(d);
  deps.codec = d->codec;
  deps.producer = d->api_producer;
  deps.inbound_topic = d->topics.inbound;
  deps.write_timeout_ms = (int)timeout_ms;
  d->api = ll_api_start(ll_config_get(&d->cfg, "http.listen"), &deps, &e);
  if (!d->api)
    return fail("starting the HTTP API", &e);
  if (write_api_addr(d, &e) != 0)
    return fail("starting", &e);
  ll_log(LL_INFO, "api", "HTTP API on %s://%s",
         ll_api_tls(d->api) ? "https" : "http", ll_api_address(d->api));
  return start_ops_api(d);
}

/* The command consumer's bounds (batch.max.events, batch.max.ms,
 * storage.min.free.mb), checked before anything starts: a bad value is a
 * usage error naming the key. */
static int read_bounded_int(const ll_config *cfg, const char *key, int64_t min,
                            int64_t max, int64_t *out) {
  ll_err e;
  if (ll_config_get_int(cfg, key, out, &e) != 0) {
    fprintf(stderr, "lotlined: %s\n", e.message);
    return EXIT_USAGE;
  }
  if (*out < min || *out > max) {
    fprintf(stderr, "lotlined: %s must be %lld..%lld, got %lld\n", key,
            (long long)min, (long long)max, (long long)*out);
    return EXIT_USAGE;
  }
  return 0;
}

static int read_command_bounds(daemon_ctx *d) {
  int rc = read_bounded_int(&d->cfg, "batch.max.events", 1,
                            LL_BATCH_MAX_EVENTS_LIMIT, &d->batch_max_events);
  if (rc == 0)
    rc = read_bounded_int(&d->cfg, "batch.max.ms", 0, LL_BATCH_MAX_MS_LIMIT,
                          &d->batch_max_ms);
  if (rc == 0)
    rc = read_bounded_int(&d->cfg, "storage.min.free.mb", 0,
                          LL_MIN_FREE_MB_LIMIT, &d->min_free_mb);
  return rc;
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
  d->rej_producer = ll_producer_new(&d->cfg, d->brokers, 0, &e);
  if (!d->rej_producer)
    return fail("creating the rejections producer", &e);
  d->outbox = ll_outbox_new(d->store, d->rej_producer, d->topics.rejected,
                            d->metrics, &e);
  if (!d->outbox)
    return fail("opening the rejections outbox", &e);
  ll_command_opts opts = {
      .cfg = &d->cfg,
      .brokers = d->brokers,
      .store = d->store,
      .codec = d->codec,
      .outbox = d->outbox,
      .topics = d->topics,
      .rule_opts = {.allow_expired_delivery = ll_config_get_bool(
                        &d->cfg, "rules.allow_expired_delivery")},
      .batch_max_events = (int)d->batch_max_events,
      .batch_max_ms = (int)d->batch_max_ms,
      .log_dir = path,
      .min_free_bytes = d->min_free_mb * 1024 * 1024,
      .metrics = d->metrics,
  };
  if (ll_command_run(&opts, &d->stats, &stop, &e) != 0)
    return fail("command consumer", &e);
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

static int resolve_brokers(daemon_ctx *d, bool may_embed) {
  const char *b = ll_config_get(&d->cfg, "brokers");
  if (b && *b) {
    d->brokers = ll_strdup(b);
    return 0;
  }
  ll_err e;
  if (may_embed) {
    int64_t partitions, count;
    if (ll_config_get_int(&d->cfg, "broker.partitions", &partitions, &e) != 0 ||
        ll_config_get_int(&d->cfg, "broker.count", &count, &e) != 0)
      return fail("config", &e);
    d->broker = ll_broker_start(&d->topics, (int)count, (int)partitions, &e);
    if (!d->broker)
      return fail("starting the embedded broker", &e);
    d->brokers = ll_strdup(ll_broker_bootstraps(d->broker));
    if (write_addr_file(d->data, "broker.addr", d->brokers, &e) != 0)
      return fail("starting", &e);
    return 0;
  }
  d->brokers = read_addr_file(d->data, "broker.addr");
  if (!d->brokers) {
    fprintf(stderr,
            "lotlined: no --brokers given and no %s/broker.addr to read "
            "them from\n",
            d->data);
    return EXIT_USAGE;
  }
  return 0;
}

static void quiet_rdkafka_log(const rd_kafka_t *rk, int level, const char *fac,
                              const char *buf) {
  (void)rk;
  (void)level;
  (void)fac;
  (void)buf;
}

/* librdkafka's own verdict on the kafka.* properties: every one is set on a
 * fresh configuration (unknown names and bad values fail there, naming the
 * key), then a client is created and dropped, which checks what only
 * creation checks (TLS files, SASL mechanisms). No broker is contacted. */
static int check_kafka_settings(const ll_config *cfg, ll_err *err) {
  bool any = false;
  for (size_t i = 0; i < cfg->len && !any; i++)
    any = strncmp(cfg->entries[i].key, "kafka.", 6) == 0;
  if (!any)
    return 0;
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (ll_kafka_conf_apply(conf, cfg, err) != 0) {
    rd_kafka_conf_destroy(conf);
    return -1;
  }
  rd_kafka_conf_set_log_cb(conf, quiet_rdkafka_log);
  char errstr[512];
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (rk == NULL) {
    rd_kafka_conf_destroy(conf);
    return ll_err_set(err, LL_OK, "kafka.* settings: %s", errstr);
  }
  rd_kafka_destroy(rk);
  return 0;
}

/* Everything the settings name, checked before anything starts: files,
 * related keys, kafka.*, tokens and the HTTPS pair (read into d). */
static int check_settings(daemon_ctx *d, ll_err *e) {
  if (ll_config_check(&d->cfg, e) != 0 ||
      check_kafka_settings(&d->cfg, e) != 0 ||
      ll_config_get_secret(&d->cfg, "http.token.read", &d->read_token, e) !=
          0 ||
      ll_config_get_secret(&d->cfg, "http.token.write", &d->write_token, e) !=
          0)
    return -1;
  if (!ll_config_has(&d->cfg, "http.tls.cert"))
    return 0;
  ll_err fe;
  if (ll_config_read_file(ll_config_get(&d->cfg, "http.tls.cert"),
                          LL_CONFIG_PEM_MAX_BYTES, &d->tls_cert, NULL,
                          &fe) != 0)
    return ll_err_set(e, LL_OK, "config key 'http.tls.cert': %s", fe.message);
  if (ll_config_read_file(ll_config_get(&d->cfg, "http.tls.key"),
                          LL_CONFIG_PEM_MAX_BYTES, &d->tls_key, NULL, &fe) != 0)
    return ll_err_set(e, LL_OK, "config key 'http.tls.key': %s", fe.message);
  return ll_api_check_tls(d->tls_cert, d->tls_key, e);
}

/* Leaving before anything started: the settings are all there is. */
static int settings_done(daemon_ctx *d, int rc) {
  ll_config_free(&d->cfg);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
      strcmp(argv[1], "-h") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? EXIT_USAGE : 0;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("lotlined %s\n", LOTLINE_VERSION);
    return 0;
  }
  const char *mode = argv[1];
  if (strcmp(mode, "all") && strcmp(mode, "command") &&
      strcmp(mode, "project") && strcmp(mode, "broker"))
    return fail_usage("unknown mode '%s'", mode);

  daemon_ctx d = {0};
  ll_err e;
  int rc_check;
  ll_config_init(&d.cfg);
  enum {
    OPT_DATA = 1,
    OPT_BROKERS,
    OPT_HTTP,
    OPT_CONFIG,
    OPT_SET,
    OPT_LOG,
    OPT_LOG_FORMAT,
    OPT_PRINT_CONFIG,
    OPT_HELP
  };
  static const struct option longopts[] = {
      {"data", required_argument, NULL, OPT_DATA},
      {"brokers", required_argument, NULL, OPT_BROKERS},
      {"http", required_argument, NULL, OPT_HTTP},
      {"config", required_argument, NULL, OPT_CONFIG},
      {"set", required_argument, NULL, OPT_SET},
      {"log-level", required_argument, NULL, OPT_LOG},
      {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
      {"print-config", no_argument, NULL, OPT_PRINT_CONFIG},
      {"help", no_argument, NULL, OPT_HELP},
      {NULL, 0, NULL, 0}};
  /* Two passes: the config file first, so flags override it. */
  const char *config_file = NULL;
  bool data_given = false, print_config = false;
  opterr = 0;
  optind = 2;
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    if (c == OPT_CONFIG)
      config_file = optarg;
    else if (c == OPT_PRINT_CONFIG)
      print_config = true;
    else if (c == OPT_HELP) {
      usage(stdout);
      return settings_done(&d, 0);
    } else if (c == '?')
      return settings_done(&d, fail_usage("unknown or incomplete option '%s'",
                                          argv[optind - 1]));
  }
  if (optind < argc)
    return settings_done(&d,
                         fail_usage("unexpected argument '%s'", argv[optind]));
  if (config_file && ll_config_load_file(&d.cfg, config_file, &e) != 0) {
    fprintf(stderr, "lotlined: %s\n", e.message);
    return settings_done(&d, EXIT_USAGE);
  }
  if (ll_config_load_env(&d.cfg, &e) != 0) {
    fprintf(stderr, "lotlined: %s\n", e.message);
    return settings_done(&d, EXIT_USAGE);
  }
  optind = 2;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    int rc = 0;
    switch (c) {
    case OPT_DATA:
      rc = ll_config_set(&d.cfg, "data", optarg, &e);
      data_given = true;
      break;
    case OPT_BROKERS:
      rc = ll_config_set(&d.cfg, "brokers", optarg, &e);
      break;
    case OPT_HTTP:
      rc = ll_config_set(&d.cfg, "http.listen", optarg, &e);
      break;
    case OPT_LOG:
      rc = ll_config_set(&d.cfg, "log.level", optarg, &e);
      break;
    case OPT_LOG_FORMAT:
      rc = ll_config_set(&d.cfg, "log.format", optarg, &e);
      break;
    case OPT_SET: {
      char *eq = strchr(optarg, '=');
      if (!eq)
        return settings_done(
            &d, fail_usage("--set needs KEY=VALUE, got '%s'", optarg));
      *eq = '\0';
      rc = ll_config_set(&d.cfg, optarg, eq + 1, &e);
      *eq = '=';
      break;
    }
    default:
      break;
    }
    if (rc != 0) {
      fprintf(stderr, "lotlined: %s\n", e.message);
      return settings_done(&d, EXIT_USAGE);
    }
  }
  rc_check = check_settings(&d, &e);
  if (rc_check != 0) {
    fprintf(stderr, "lotlined: %s\n", e.message);
    daemon_close(&d);
    ll_config_free(&d.cfg);
    return EXIT_USAGE;
  }
  if (print_config) {
    ll_config_print(&d.cfg, stdout);
    daemon_close(&d);
    ll_config_free(&d.cfg);
    return 0;
  }
  ll_level level;
  ll_log_format format;
  if (!ll_log_parse_level(ll_config_get(&d.cfg, "log.level"), &level) ||
      !ll_log_parse_format(ll_config_get(&d.cfg, "log.format"), &format))
    abort(); /* both checked when set */
  ll_log_set_level(level);
  ll_log_set_format(format);
  d.metrics = ll_metrics_new();

  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  ll_topics_from_config(&d.cfg, &d.topics);
  d.data = ll_config_get(&d.cfg, "data");
  int rc = 0;
  if (strcmp(mode, "broker") == 0) {
    if (data_given && mkdir_p(d.data) != 0) {
      fprintf(stderr, "lotlined: cannot create %s: %s\n", d.data,
              strerror(errno));
      return 1;
    }
    int64_t partitions, count;
    if (ll_config_get_int(&d.cfg, "broker.partitions", &partitions, &e) != 0 ||
        ll_config_get_int(&d.cfg, "broker.count", &count, &e) != 0)
      return fail("config", &e);
    d.broker = ll_broker_start(&d.topics, (int)count, (int)partitions, &e);
    if (!d.broker)
      return fail("starting the embedded broker", &e);
    printf("%s\n", ll_broker_bootstraps(d.broker));
    fflush(stdout);
    if (data_given && write_addr_file(d.data, "broker.addr",
                                      ll_broker_bootstraps(d.broker), &e) != 0)
      rc = fail("starting", &e);
    if (rc == 0)
      wait_for_stop();
    daemon_close(&d);
    ll_config_free(&d.cfg);
    return rc;
  }

  if (mkdir_p(d.data) != 0) {
    fprintf(stderr, "lotlined: cannot create %s: %s\n", d.data,
            strerror(errno));
    return 1;
  }
  ll_log(LL_INFO, "lotlined", "starting '%s' (version %s) on data %s", mode,
         LOTLINE_VERSION, d.data);
  bool all = strcmp(mode, "all") == 0;
  d.has_consumer = all || strcmp(mode, "command") == 0;
  if (d.has_consumer)
    rc = read_command_bounds(&d);
  if (rc == 0)
    rc = resolve_brokers(&d, all);
  if (rc == 0)
    rc = open_codec(&d);
  if (rc == 0 && all)
    rc = start_projection_and_api(&d, LL_STORE_PRIMARY);
  if (rc == 0 && strcmp(mode, "project") == 0) {
    rc = start_projection_and_api(&d, LL_STORE_SECONDARY);
    if (rc == 0)
      wait_for_stop();
  }
  if (rc == 0 && (all || strcmp(mode, "command") == 0))
    rc = run_command_loop(&d);
  if (rc == 0 && d.pt_started) {
    stop = 1;
    pthread_join(d.pt.thread, NULL);
    d.pt_started = false;
    if (d.pt.failed)
      rc = fail("projection", &d.pt.err);
  }
  if (d.pub_started) {
    stop = 1;
    d.pub_started = false;
    if (!join_publisher(&d)) {
      d.pub.publisher = NULL; /* still busy: left to the process exit */
      d.pub_abandoned = true;
    } else if (d.pub.failed && rc == 0)
      rc = fail("publisher", &d.pub.err);
  }
  ll_log(rc == 0 ? LL_INFO : LL_ERROR, "lotlined", "'%s' stopped (exit %d)",
         mode, rc);
  daemon_close(&d);
  ll_config_free(&d.cfg);
  return rc;
}
