/* crash_rig.c — see crash_rig.h. */
#include "crash_rig.h"

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ll_mem.h"
#include "ll_time.h"
#include "ll_types.h"

#define RIG_START_TIMEOUT_MS 30000
#define RIG_CLUSTER_ID_TIMEOUT_MS 10000
#define RIG_POLL_MS 100
#define RIG_STOP_TIMEOUT_MS 5000
#define RIG_ARGS_MAX 32

static void rig_die(rig *r, const char *what) {
  fprintf(stderr, "crash rig: %s (directory kept: %s)\n", what,
          r->dir ? r->dir : "-");
  if (r->svc.log_path[0])
    h_dump_log(&r->svc);
  if (r->proj.log_path[0])
    h_dump_log(&r->proj);
  abort();
}

/* A failed call of the code under test: its kind and message. */
static void rig_die_err(rig *r, const ll_err *e) {
  char what[sizeof e->message + 32];
  snprintf(what, sizeof what, "%s: %s", ll_err_kind_name(e->kind), e->message);
  rig_die(r, what);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

uint64_t rig_rand(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double rig_elapsed_s(const rig *r) {
  return (double)(ll_mono_ns() - r->started_ns) / 1e9;
}

static char *cluster_id(const char *brokers) {
  char errstr[256];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk)
    return NULL;
  char *id = rd_kafka_clusterid(rk, RIG_CLUSTER_ID_TIMEOUT_MS);
  char *copy = ll_strdup(id);
  free(id); /* rd_kafka_clusterid: "free with free()" */
  rd_kafka_destroy(rk);
  return copy;
}

void rig_start(rig *r, const char *tag) {
  memset(r, 0, sizeof *r);
  r->started_ns = ll_mono_ns();
  r->producer_status = -1;
  r->dir = h_tempdir(tag);
  snprintf(r->svc_dir, sizeof r->svc_dir, "%s/svc", r->dir);
  snprintf(r->expect_path, sizeof r->expect_path, "%s/expect.txt", r->dir);
  r->snaps = ll_xcalloc(RIG_SNAPSHOTS_MAX, sizeof *r->snaps);
  char bin[512], broker_dir[600], log[600], partitions[64];
  snprintf(broker_dir, sizeof broker_dir, "%s/broker", r->dir);
  snprintf(log, sizeof log, "%s/broker.log", r->dir);
  snprintf(partitions, sizeof partitions, "broker.partitions=%d",
           RIG_PARTITIONS);
  const char *argv[] = {h_bin("lotlined", bin, sizeof bin),
                        "broker",
                        "--data",
                        broker_dir,
                        "--set",
                        partitions,
                        NULL};
  r->broker = h_spawn_tied(log, argv);
  r->brokers = h_wait_file(broker_dir, "broker.addr", RIG_START_TIMEOUT_MS);
  if (!r->brokers)
    rig_die(r, "the broker did not start");
  r->cluster_id = cluster_id(r->brokers);
  if (!r->cluster_id)
    rig_die(r, "no cluster id from the broker");
}

void rig_finish(rig *r, bool passed) {
  if (r->svc.pid > 0)
    h_kill9(&r->svc);
  if (r->proj.pid > 0)
    h_kill9(&r->proj);
  if (r->producer.pid > 0)
    h_kill9(&r->producer);
  if (r->broker.pid > 0 && h_stop(&r->broker, RIG_STOP_TIMEOUT_MS) != 0)
    fprintf(stderr, "crash rig: the broker did not stop cleanly\n");
  if (passed)
    h_rmrf(r->dir);
  else
    fprintf(stderr, "crash rig: directory kept: %s\n", r->dir);
  free(r->dir);
  free(r->brokers);
  free(r->cluster_id);
  free(r->snaps);
  memset(r, 0, sizeof *r);
}

void rig_start_producer(rig *r, uint64_t seed, int64_t events, int products,
                        int64_t rate) {
  char bin[512], log[600], s_seed[32], s_events[32], s_products[32], s_rate[32];
  snprintf(log, sizeof log, "%s/producer.log", r->dir);
  snprintf(s_seed, sizeof s_seed, "%llu", (unsigned long long)seed);
  snprintf(s_events, sizeof s_events, "%lld", (long long)events);
  snprintf(s_products, sizeof s_products, "%d", products);
  snprintf(s_rate, sizeof s_rate, "%lld", (long long)rate);
  const char *schemas = getenv("LOTLINE_SCHEMAS");
  const char *argv[] = {h_bin("crash_producer", bin, sizeof bin),
                        "--brokers",
                        r->brokers,
                        "--schemas",
                        schemas ? schemas : "schemas",
                        "--expect",
                        r->expect_path,
                        "--seed",
                        s_seed,
                        "--events",
                        s_events,
                        "--products",
                        s_products,
                        "--rate",
                        s_rate,
                        NULL};
  r->producer = h_spawn_tied(log, argv);
  r->producer_status = -1;
}

/* Reap p if it exited; its status (exit code or 128 + signal), or -1. */
static int reap(h_proc *p) {
  int status;
  if (p->pid <= 0 || waitpid(p->pid, &status, WNOHANG) != p->pid)
    return -1;
  p->pid = 0;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool rig_producer_running(rig *r) {
  if (r->producer.pid <= 0)
    return false;
  int status = reap(&r->producer);
  if (status < 0)
    return true;
  r->producer_status = status;
  return false;
}

int rig_wait_producer(rig *r, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += RIG_POLL_MS) {
    if (!rig_producer_running(r))
      return r->producer_status;
    sleep_ms(RIG_POLL_MS);
  }
  return -1;
}

void rig_start_service(rig *r, const char *mode) {
  rig_start_service_with(r, mode, NULL);
}

void rig_start_service_with(rig *r, const char *mode,
                            const char *const extra[]) {
  char bin[512], log[600], addr[600], brokers[512];
  snprintf(log, sizeof log, "%s/svc-%d.log", r->dir, ++r->runs);
  snprintf(addr, sizeof addr, "%s/http.addr", r->svc_dir);
  if (strcmp(mode, "command") != 0)
    unlink(addr); /* the new run writes its own */
  snprintf(addr, sizeof addr, "%s/metrics.addr", r->svc_dir);
  unlink(addr);
  snprintf(brokers, sizeof brokers, "%s", r->brokers);
  const char *argv[] = {h_bin("lotlined", bin, sizeof bin),
                        mode,
                        "--data",
                        r->svc_dir,
                        "--brokers",
                        brokers,
                        "--http",
                        "127.0.0.1:0",
                        "--set",
                        "kafka.session.timeout.ms=" RIG_SESSION_TIMEOUT_MS,
                        "--set",
                        "kafka.heartbeat.interval.ms=" RIG_HEARTBEAT_MS,
                        "--set",
                        "metrics.listen=127.0.0.1:0",
                        NULL};
  const char *all[RIG_ARGS_MAX];
  size_t n = 0;
  for (size_t i = 0; argv[i]; i++)
    all[n++] = argv[i];
  for (size_t i = 0; extra && extra[i]; i++) {
    if (n == RIG_ARGS_MAX - 1)
      rig_die(r, "too many service arguments");
    all[n++] = extra[i];
  }
  all[n] = NULL;
  r->svc = h_spawn_tied(log, all);
}

bool rig_service_running(rig *r) {
  return r->svc.pid > 0 && reap(&r->svc) < 0;
}

void rig_start_projector(rig *r) {
  char bin[512], log[600], addr[600];
  snprintf(log, sizeof log, "%s/proj-%d.log", r->dir, ++r->proj_runs);
  snprintf(addr, sizeof addr, "%s/http.addr", r->svc_dir);
  unlink(addr);
  const char *argv[] = {h_bin("lotlined", bin, sizeof bin),
                        "project",
                        "--data",
                        r->svc_dir,
                        "--brokers",
                        r->brokers,
                        "--http",
                        "127.0.0.1:0",
                        NULL};
  r->proj = h_spawn_tied(log, argv);
}

bool rig_projector_running(rig *r) {
  return r->proj.pid > 0 && reap(&r->proj) < 0;
}

bool rig_log_contains(rig *r, const char *text) {
  return rig_file_contains(r->svc.log_path, text);
}

bool rig_file_contains(const char *path, const char *text) {
  FILE *f = fopen(path, "r");
  if (!f)
    return false;
  char line[4096];
  bool found = false;
  while (!found && fgets(line, sizeof line, f))
    found = strstr(line, text) != NULL;
  fclose(f);
  return found;
}

bool rig_wait_assigned(rig *r, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += RIG_POLL_MS / 2) {
    if (rig_log_contains(r, "command: assignment in place"))
      return true;
    if (!rig_service_running(r))
      return false;
    sleep_ms(RIG_POLL_MS / 2);
  }
  return false;
}

int rig_wait_service_exit(rig *r, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += RIG_POLL_MS / 2) {
    int status = reap(&r->svc);
    if (status >= 0)
      return status;
    sleep_ms(RIG_POLL_MS / 2);
  }
  return -1;
}

static ll_store *open_log(rig *r, ll_err *e) {
  char path[600];
  snprintf(path, sizeof path, "%s/log", r->svc_dir);
  return ll_store_open(path, LL_STORE_SECONDARY, e);
}

void rig_snapshot(rig *r) {
  ll_err e;
  ll_store *s = open_log(r, &e);
  if (!s) {
    if (strstr(e.message, "does not exist"))
      return; /* killed before it created the log: nothing to check */
    rig_die_err(r, &e);
  }
  if (r->n_snaps == RIG_SNAPSHOTS_MAX)
    rig_die(r, "too many snapshots");
  if (cc_snapshot_take(s, r->cluster_id, "lots.inbound", RIG_PARTITIONS,
                       &r->snaps[r->n_snaps], &e) != 0)
    rig_die_err(r, &e);
  r->n_snaps++;
  ll_store_close(s);
}

static bool all_consumed(const cc_snapshot *snap, const cc_expect *x) {
  for (int p = 0; p < x->n_partitions; p++)
    if (x->count[p] > 0 && snap->next_offset[p] != x->count[p])
      return false;
  return true;
}

/* The outbox's gauge, read from the service's metrics listener. */
static bool wait_published(rig *r, int timeout_ms) {
  char *metrics = h_wait_file(r->svc_dir, "metrics.addr", RIG_START_TIMEOUT_MS);
  if (!metrics)
    return false;
  long left = -1;
  for (int waited = 0; waited <= timeout_ms; waited += RIG_POLL_MS) {
    if (!rig_service_running(r))
      break;
    left = h_metric(metrics, "lotline_rejections_unpublished");
    if (left == 0)
      break;
    sleep_ms(RIG_POLL_MS);
  }
  if (left != 0)
    fprintf(stderr,
            "crash rig: lotline_rejections_unpublished still %ld after %d ms\n",
            left, timeout_ms);
  free(metrics);
  return left == 0;
}

bool rig_wait_consumed(rig *r, const cc_expect *x, int timeout_ms) {
  ll_store *s = NULL;
  bool done = false;
  ll_err e;
  uint64_t t0 = ll_mono_ns();
  for (int waited = 0; !done && waited <= timeout_ms; waited += RIG_POLL_MS) {
    if (!rig_service_running(r))
      break;
    if (!s)
      s = open_log(r, &e);
    cc_snapshot snap;
    if (s && cc_snapshot_take(s, r->cluster_id, "lots.inbound", RIG_PARTITIONS,
                              &snap, &e) == 0)
      done = all_consumed(&snap, x);
    if (!done)
      sleep_ms(RIG_POLL_MS);
  }
  if (s)
    ll_store_close(s);
  if (!done)
    return false;
  int spent_ms = (int)((ll_mono_ns() - t0) / 1000000u);
  return wait_published(r, timeout_ms > spent_ms ? timeout_ms - spent_ms : 0);
}

static bool views_at(json_t *j, const void *arg) {
  uint64_t want = *(const uint64_t *)arg;
  json_t *pos = json_object_get(j, "position");
  json_t *log = json_object_get(j, "log_position");
  return json_is_integer(pos) && json_is_integer(log) &&
         (uint64_t)json_integer_value(log) == want &&
         (uint64_t)json_integer_value(pos) == want;
}

bool rig_wait_views(rig *r, uint64_t position, int timeout_ms) {
  char *http = h_wait_file(r->svc_dir, "http.addr", RIG_START_TIMEOUT_MS);
  if (!http)
    return false;
  /* /readyz answers 503 while catching up; h_http_wait wants 200, so poll
   * by hand. */
  bool done = false;
  for (int waited = 0; !done && waited <= timeout_ms; waited += RIG_POLL_MS) {
    json_t *j = NULL;
    h_http("GET", http, "/readyz", NULL, NULL, &j);
    done = j && views_at(j, &position);
    if (j)
      json_decref(j);
    if (!done)
      sleep_ms(RIG_POLL_MS);
  }
  free(http);
  return done;
}

bool rig_wait_log_past(rig *r, uint64_t position, int timeout_ms) {
  char *metrics = h_wait_file(r->svc_dir, "metrics.addr", RIG_START_TIMEOUT_MS);
  if (!metrics)
    return false;
  bool past = false;
  for (int waited = 0; !past && waited <= timeout_ms;
       waited += RIG_POLL_MS / 2) {
    if (!rig_service_running(r))
      break;
    long at = h_metric(metrics, "lotline_log_position");
    past = at >= 0 && (uint64_t)at > position;
    if (!past)
      sleep_ms(RIG_POLL_MS / 2);
  }
  free(metrics);
  return past;
}

int64_t rig_unconsumed(const cc_snapshot *s, const cc_expect *x) {
  int64_t left = 0;
  for (int p = 0; p < x->n_partitions; p++)
    left += x->count[p] - (s->next_offset[p] < 0 ? 0 : s->next_offset[p]);
  return left;
}

uint64_t rig_run_start(const rig *r, size_t i) {
  return i == 0 ? 0 : r->snaps[i - 1].last_position;
}

bool rig_mid_stream(const rig *r, size_t i, const cc_expect *x, char *why,
                    size_t why_len) {
  uint64_t from = rig_run_start(r, i), at = r->snaps[i].last_position;
  int64_t left = rig_unconsumed(&r->snaps[i], x);
  bool mid = from < at && at < (uint64_t)x->accepted && left > 0;
  if (!mid)
    snprintf(why, why_len,
             "the log was at %llu (the run started at %llu, the stream "
             "ends at %lld) with %lld message(s) left to consume",
             (unsigned long long)at, (unsigned long long)from,
             (long long)x->accepted, (long long)left);
  return mid;
}

/* HOOK(log-admin): `lotline rebuild` and a views dump are being written on
 * branch log-admin. Once they land, also rebuild with the CLI into a copy
 * of the data directory, dump both views and compare the dumps byte for
 * byte here. Until then the rebuild is the projector's own replay of the
 * whole log into a fresh views database (cc_rebuild_views), compared lot by
 * lot with the incrementally maintained views. */
static int compare_with_rebuild(rig *r, ll_store *s, ll_views *views) {
  char dir[600];
  ll_err e;
  snprintf(dir, sizeof dir, "%s/rebuild", r->dir);
  ll_views *rebuilt = cc_rebuild_views(s, dir, &e);
  if (!rebuilt) {
    fprintf(stderr, "MISMATCH rebuild: %s: %s\n", ll_err_kind_name(e.kind),
            e.message);
    return 1;
  }
  int bad = cc_compare_views(views, rebuilt);
  ll_views_close(rebuilt);
  return bad;
}

/* The log-store checks; whole_stream: the stream was consumed to its end. */
static int verify_store(rig *r, ll_store *s, const cc_expect *x,
                        bool whole_stream, cc_stored *st) {
  ll_err e;
  if (cc_stored_load(s, (size_t)x->rejected + 1000, st, &e) != 0)
    rig_die_err(r, &e);
  int bad = cc_check_log(st, x, whole_stream);
  bad += cc_check_rejections(st, x, whole_stream);
  if (whole_stream) {
    bad += cc_check_offsets(s, r->cluster_id, "lots.inbound", x);
    bad += cc_check_rejected_topic(s, st, r->brokers, "lots.rejected");
  }
  for (size_t i = 0; i < r->n_snaps; i++)
    bad += cc_check_snapshot(st, x, &r->snaps[i]);
  return bad;
}

int rig_verify(rig *r, const cc_expect *x, bool with_views) {
  ll_err e;
  ll_store *s = open_log(r, &e);
  if (!s)
    rig_die_err(r, &e);
  cc_stored st;
  int bad = verify_store(r, s, x, true, &st);
  if (with_views) {
    char path[600];
    snprintf(path, sizeof path, "%s/views", r->svc_dir);
    ll_views *v = ll_views_open(path, &e);
    if (!v)
      rig_die_err(r, &e);
    bad += cc_check_views(v, x);
    bad += compare_with_rebuild(r, s, v);
    ll_views_close(v);
  }
  printf("verified: %zu log entries, %zu rejections, %zu snapshots, %zu "
         "lots%s: %d mismatch(es)\n",
         st.n_log, st.n_rej, r->n_snaps, x->n_lots,
         with_views ? " (views and rebuild)" : "", bad);
  cc_stored_free(&st);
  ll_store_close(s);
  return bad;
}

int rig_verify_prefix(rig *r, const cc_expect *x) {
  ll_err e;
  ll_store *s = open_log(r, &e);
  if (!s)
    rig_die_err(r, &e);
  cc_stored st;
  int bad = verify_store(r, s, x, false, &st);
  printf("verified a prefix: %zu log entries, %zu rejections, %zu "
         "snapshots: %d mismatch(es)\n",
         st.n_log, st.n_rej, r->n_snaps, bad);
  cc_stored_free(&st);
  ll_store_close(s);
  return bad;
}
