/* test_metrics_e2e.c — /metrics, /readyz and the JSON log of a running
 * lotlined, read the way Prometheus and a log shipper read them.
 *
 * Every scrape is parsed strictly as the text exposition format (HELP and
 * TYPE lines, sample lines name{labels} value, histograms with cumulative
 * buckets ending at +Inf equal to _count), then the numbers are checked to
 * move as events are processed: accepted, rejected by code, duplicates,
 * batches, positions, lag, HTTP requests by route. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "ll_codec.h"
#include "ll_event.h"
#include "ll_mem.h"

#define START_TIMEOUT_MS 20000
#define MOVE_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS 5000
#define POLL_MS 100
#define SAMPLES_MAX 4096

static ll_codec *codec;

static int setup(void **state) {
  (void)state;
  codec = h_codec_open();
  if (!codec)
    return -1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  ll_codec_close(codec);
  return 0;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- a strict reader of the text format ---- */

typedef struct sample {
  char name[128];
  char labels[512]; /* as written, without braces: a="x",b="y" */
  double value;
} sample;

typedef struct scrape {
  sample *s;
  size_t n;
  char types[256][128]; /* families declared by # TYPE */
  char type_of[256][16];
  size_t n_types;
} scrape;

static bool name_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         c == ':' || (!first && c >= '0' && c <= '9');
}

static const char *declared_type(const scrape *sc, const char *family) {
  for (size_t i = 0; i < sc->n_types; i++)
    if (strcmp(sc->types[i], family) == 0)
      return sc->type_of[i];
  return NULL;
}

/* The family a sample belongs to: histograms add _bucket, _sum, _count. */
static const char *family_type(const scrape *sc, const char *name) {
  const char *t = declared_type(sc, name);
  if (t != NULL)
    return t;
  static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
  for (size_t i = 0; i < 3; i++) {
    size_t n = strlen(name), k = strlen(suffixes[i]);
    if (n > k && strcmp(name + n - k, suffixes[i]) == 0) {
      char base[128];
      snprintf(base, sizeof base, "%.*s", (int)(n - k), name);
      t = declared_type(sc, base);
      if (t != NULL && strcmp(t, "histogram") == 0)
        return t;
    }
  }
  return NULL;
}

static void parse_line(scrape *sc, const char *line) {
  if (line[0] == '#') {
    char family[128], type[16];
    if (strncmp(line, "# HELP ", 7) == 0)
      return;
    if (sscanf(line, "# TYPE %127s %15s", family, type) != 2)
      fail_msg("bad comment line: %s", line);
    if (strcmp(type, "counter") && strcmp(type, "gauge") &&
        strcmp(type, "histogram"))
      fail_msg("unknown type: %s", line);
    assert_null(declared_type(sc, family)); /* declared once */
    assert_true(sc->n_types < 256);
    snprintf(sc->types[sc->n_types], 128, "%s", family);
    snprintf(sc->type_of[sc->n_types], 16, "%s", type);
    sc->n_types++;
    return;
  }
  assert_true(sc->n < SAMPLES_MAX);
  sample *s = &sc->s[sc->n];
  size_t i = 0;
  if (!name_char(line[0], true))
    fail_msg("bad sample line: %s", line);
  while (name_char(line[i], false) && i < sizeof s->name - 1)
    i++;
  snprintf(s->name, sizeof s->name, "%.*s", (int)i, line);
  s->labels[0] = '\0';
  if (line[i] == '{') {
    size_t start = ++i;
    bool in_value = false;
    for (; line[i] != '\0'; i++) {
      if (in_value && line[i] == '\\') {
        i++;
        continue;
      }
      if (line[i] == '"')
        in_value = !in_value;
      else if (!in_value && line[i] == '}')
        break;
    }
    if (line[i] != '}')
      fail_msg("unterminated labels: %s", line);
    snprintf(s->labels, sizeof s->labels, "%.*s", (int)(i - start),
             line + start);
    i++;
  }
  if (line[i] != ' ')
    fail_msg("no value: %s", line);
  char *end;
  if (strcmp(line + i + 1, "+Inf") == 0)
    s->value = 1e308;
  else {
    s->value = strtod(line + i + 1, &end);
    if (*end != '\0')
      fail_msg("bad value: %s", line);
  }
  if (family_type(sc, s->name) == NULL)
    fail_msg("sample before its # TYPE: %s", line);
  sc->n++;
}

static const sample *find_sample(const scrape *sc, const char *name,
                                 const char *labels) {
  for (size_t i = 0; i < sc->n; i++)
    if (strcmp(sc->s[i].name, name) == 0 &&
        strcmp(sc->s[i].labels, labels) == 0)
      return &sc->s[i];
  return NULL;
}

static double value_or(const scrape *sc, const char *name, const char *labels,
                       double missing) {
  const sample *s = find_sample(sc, name, labels);
  return s != NULL ? s->value : missing;
}

static double value(const scrape *sc, const char *name, const char *labels) {
  const sample *s = find_sample(sc, name, labels);
  if (s == NULL)
    fail_msg("no sample %s{%s}", name, labels);
  return s->value;
}

static double sum_samples(const scrape *sc, const char *name) {
  double sum = 0;
  for (size_t i = 0; i < sc->n; i++)
    if (strcmp(sc->s[i].name, name) == 0)
      sum += sc->s[i].value;
  return sum;
}

static size_t count_samples(const scrape *sc, const char *name) {
  size_t n = 0;
  for (size_t i = 0; i < sc->n; i++)
    n += strcmp(sc->s[i].name, name) == 0;
  return n;
}

/* Every histogram: buckets never decrease, +Inf equals _count. */
static void check_histograms(const scrape *sc) {
  for (size_t i = 0; i < sc->n; i++) {
    const sample *s = &sc->s[i];
    size_t n = strlen(s->name);
    if (n < 7 || strcmp(s->name + n - 7, "_bucket") != 0)
      continue;
    const char *inf = strstr(s->labels, "le=\"+Inf\"");
    if (inf == NULL) {
      assert_true(i + 1 < sc->n);
      assert_true(sc->s[i + 1].value >= s->value);
      continue;
    }
    char count_name[140], labels[512];
    snprintf(count_name, sizeof count_name, "%.*s_count", (int)(n - 7),
             s->name);
    /* the labels without ",le=..." (or "le=..." alone) */
    size_t keep = (size_t)(inf - s->labels);
    if (keep > 0)
      keep--; /* the comma */
    snprintf(labels, sizeof labels, "%.*s", (int)keep, s->labels);
    assert_true(value(sc, count_name, labels) == s->value);
  }
}

typedef struct text_buf {
  char *data;
  size_t len;
} text_buf;

static size_t on_text(char *p, size_t size, size_t n, void *arg) {
  text_buf *b = arg;
  b->data = ll_xrealloc(b->data, b->len + size * n + 1);
  memcpy(b->data + b->len, p, size * n);
  b->len += size * n;
  b->data[b->len] = '\0';
  return size * n;
}

/* GET base/metrics and parse it; the caller frees sc->s. */
static void scrape_metrics(const char *base, scrape *sc) {
  char url[512];
  snprintf(url, sizeof url, "http://%s/metrics", base);
  CURL *c = curl_easy_init();
  text_buf b = {0};
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_text);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L);
  assert_int_equal(curl_easy_perform(c), CURLE_OK);
  long status = 0;
  char *ct = NULL;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
  assert_int_equal(status, 200);
  assert_non_null(ct);
  assert_non_null(strstr(ct, "text/plain; version=0.0.4"));
  curl_easy_cleanup(c);
  memset(sc, 0, sizeof *sc);
  sc->s = calloc(SAMPLES_MAX, sizeof *sc->s);
  assert_non_null(b.data);
  assert_true(b.len > 0 && b.data[b.len - 1] == '\n');
  char *save = NULL;
  for (char *line = strtok_r(b.data, "\n", &save); line != NULL;
       line = strtok_r(NULL, "\n", &save))
    parse_line(sc, line);
  check_histograms(sc);
  free(b.data);
}

static void scrape_free(scrape *sc) {
  free(sc->s);
  sc->s = NULL;
}

/* Scrape until pred holds or the time is up; the last scrape stays in sc. */
static bool scrape_until(const char *base, scrape *sc,
                         bool (*pred)(const scrape *)) {
  for (int waited = 0;; waited += POLL_MS) {
    scrape_metrics(base, sc);
    if (pred(sc))
      return true;
    if (waited >= MOVE_TIMEOUT_MS)
      return false;
    scrape_free(sc);
    sleep_ms(POLL_MS);
  }
}

/* ---- events ---- */

static void send_event(h_producer *p, const char *key, ll_event *ev) {
  ll_buf b;
  ll_err e;
  ll_buf_init(&b);
  assert_int_equal(ll_codec_encode(codec, ev, &b, &e), 0);
  h_produce(p, "lots.inbound", key, b.data, b.len);
  ll_buf_free(&b);
  ll_event_free(ev);
}

/* Two accepted, one MALFORMED, one KEY_MISMATCH, one duplicate. */
static void produce_mix(const char *brokers, const char *prefix) {
  h_producer *p = h_producer_new(brokers);
  ll_event ev;
  char id[64], lot[64];
  snprintf(lot, sizeof lot, "%s-L1", prefix);
  snprintf(id, sizeof id, "%s-c1", prefix);
  h_ev_create(&ev, id, "PAINT", lot, "LOT-001", LL_TRACK_LOT);
  send_event(p, "PAINT", &ev);
  snprintf(id, sizeof id, "%s-m1", prefix);
  h_ev_move(&ev, id, "PAINT", lot, "10", "Vendors", LL_USAGE_SUPPLIER,
            "WH/Stock", LL_USAGE_INTERNAL);
  send_event(p, "PAINT", &ev);
  h_produce(p, "lots.inbound", "PAINT", "not avro", 8);
  snprintf(id, sizeof id, "%s-k1", prefix);
  h_ev_create(&ev, id, "PAINT", "other-lot", "LOT-002", LL_TRACK_LOT);
  send_event(p, "GLUE", &ev);
  snprintf(id, sizeof id, "%s-c1", prefix); /* redelivery */
  h_ev_create(&ev, id, "PAINT", lot, "LOT-001", LL_TRACK_LOT);
  send_event(p, "PAINT", &ev);
  h_producer_free(p);
}

static bool mix_processed(const scrape *sc) {
  return value_or(sc, "lotline_events_accepted_total", "", 0) >= 2 &&
         value_or(sc, "lotline_events_rejected_total", "code=\"MALFORMED\"",
                  0) >= 1 &&
         value_or(sc, "lotline_events_rejected_total", "code=\"KEY_MISMATCH\"",
                  0) >= 1 &&
         value_or(sc, "lotline_events_duplicate_total", "", 0) >= 1;
}

static bool caught_up(const scrape *sc) {
  if (value_or(sc, "lotline_views_position", "", 0) < 2 ||
      value_or(sc, "lotline_projection_lag", "", 1) != 0 ||
      value_or(sc, "lotline_publish_lag", "", 1) != 0)
    return false;
  double lag = 0;
  for (size_t i = 0; i < sc->n; i++)
    if (strcmp(sc->s[i].name, "lotline_consumer_lag_messages") == 0)
      lag += sc->s[i].value;
  return lag == 0;
}

/* The two accepted events are both of PAINT, one partition: its task
 * positions 1 and 2, the other 15 tasks at 0 (refreshed once a second). */
static bool tasks_counted(const scrape *sc) {
  return sum_samples(sc, "lotline_task_position") == 2;
}

static bool is_ready(json_t *j, const void *arg) {
  (void)arg;
  json_t *s = json_object_get(j, "status");
  return json_is_string(s) && strcmp(json_string_value(s), "ready") == 0;
}

/* Every line of the log is one JSON object with ts, level, component, msg. */
static void check_json_log(const char *path) {
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  char line[16384];
  int lines = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    json_error_t err;
    json_t *j = json_loads(line, JSON_REJECT_DUPLICATES, &err);
    if (j == NULL || !json_is_object(j))
      fail_msg("log line is not a JSON object: %s", line);
    static const char *const keys[] = {"ts", "level", "component", "msg"};
    for (size_t i = 0; i < 4; i++)
      if (!json_is_string(json_object_get(j, keys[i])))
        fail_msg("log line without \"%s\": %s", keys[i], line);
    assert_int_equal(json_object_size(j), 4);
    const char *level = json_string_value(json_object_get(j, "level"));
    assert_true(strcmp(level, "debug") == 0 || strcmp(level, "info") == 0 ||
                strcmp(level, "warn") == 0 || strcmp(level, "error") == 0);
    json_decref(j);
    lines++;
  }
  fclose(f);
  assert_true(lines >= 3);
}

/* How many threads of pid are called name, and the nice value of the last
 * one (field 19 of /proc/<pid>/task/<tid>/stat, after the name's ")"). */
static int threads_named(pid_t pid, const char *name, long *nice) {
  char path[128];
  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  DIR *d = opendir(path);
  assert_non_null(d);
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.')
      continue;
    char file[512], comm[64] = "", stat[1024] = "";
    snprintf(file, sizeof file, "%s/%s/comm", path, de->d_name);
    FILE *f = fopen(file, "r");
    if (f == NULL)
      continue; /* the thread ended meanwhile */
    if (fgets(comm, sizeof comm, f) == NULL)
      comm[0] = '\0';
    fclose(f);
    comm[strcspn(comm, "\n")] = '\0';
    if (strcmp(comm, name) != 0)
      continue;
    snprintf(file, sizeof file, "%s/%s/stat", path, de->d_name);
    f = fopen(file, "r");
    assert_non_null(f);
    assert_non_null(fgets(stat, sizeof stat, f));
    fclose(f);
    const char *p = strrchr(stat, ')');
    assert_non_null(p);
    /* fields 3..18 after the name, then the nice value */
    for (int field = 3; field <= 19 && p != NULL; field++)
      p = strchr(p + 1, ' ');
    assert_non_null(p);
    *nice = strtol(p + 1, NULL, 10);
    n++;
  }
  closedir(d);
  return n;
}

/* `top -H` tells the pieces apart, and the publisher (nobody waits on it)
 * yields the cores to the projector when they are all busy. */
static void check_threads(pid_t pid) {
  long nice = -100;
  assert_int_equal(threads_named(pid, "ll:project", &nice), 1);
  assert_int_equal(nice, 0);
  assert_int_equal(threads_named(pid, "ll:publish", &nice), 1);
  assert_int_equal(nice, 10);
  assert_int_equal(threads_named(pid, "ll:alerts", &nice), 1);
  assert_int_equal(nice, 0);
}

static void test_all_metrics_move(void **state) {
  (void)state;
  char log[600];
  char *dir = h_tempdir("metrics");
  snprintf(log, sizeof log, "%s/lotlined.log", dir);
  const char *const json_logs[] = {"--log-format", "json", NULL};
  h_all all = h_start_all(dir, log, json_logs, START_TIMEOUT_MS);
  const char *http = all.http, *brokers = all.brokers;
  /* Ready once the consumer holds its partitions. */
  json_t *j = h_http_wait(http, "/readyz", is_ready, NULL, START_TIMEOUT_MS);
  if (!is_ready(j, NULL)) {
    h_dump_log(&all.proc);
    fail_msg("never ready");
  }
  assert_string_equal(json_string_value(json_object_get(j, "consumer")),
                      "assigned");
  json_decref(j);

  scrape sc;
  scrape_metrics(http, &sc);
  assert_true(value(&sc, "lotline_events_accepted_total", "") == 0);
  assert_true(
      value(&sc, "lotline_events_rejected_total", "code=\"MALFORMED\"") == 0);
  assert_true(value(&sc, "lotline_consumer_assigned_partitions", "") == 16);
  assert_true(value(&sc, "lotline_log_position", "") == 0);
  assert_true(value(&sc, "lotline_batch_size_messages_count", "") == 0);
  scrape_free(&sc);

  produce_mix(brokers, "M");
  if (!scrape_until(http, &sc, mix_processed)) {
    h_dump_log(&all.proc);
    fail_msg("the event counters did not move");
  }
  scrape_free(&sc);
  /* Lag gauges are refreshed once a second: wait for them and the views. */
  if (!scrape_until(http, &sc, caught_up))
    fail_msg("lag did not come back to 0");
  assert_true(value(&sc, "lotline_events_accepted_total", "") == 2);
  assert_true(
      value(&sc, "lotline_events_rejected_total", "code=\"MALFORMED\"") == 1);
  assert_true(value(&sc, "lotline_events_rejected_total",
                    "code=\"KEY_MISMATCH\"") == 1);
  assert_true(value(&sc, "lotline_events_rejected_total",
                    "code=\"INSUFFICIENT_STOCK\"") == 0);
  assert_true(value(&sc, "lotline_events_duplicate_total", "") == 1);
  /* every message went through exactly one batch */
  assert_true(value(&sc, "lotline_batch_size_messages_sum", "") == 5);
  double batches = value(&sc, "lotline_batch_size_messages_count", "");
  assert_true(batches >= 1 && batches <= 5);
  assert_true(value(&sc, "lotline_batch_commit_seconds_count", "") == batches);
  assert_true(value(&sc, "lotline_log_position", "") == 2);
  assert_true(value(&sc, "lotline_views_position", "") == 2);
  /* both accepted events are on lots.events (committed) */
  assert_true(value(&sc, "lotline_publish_position", "") == 2);
  check_threads(all.proc.pid);
  assert_true(value(&sc, "lotline_projection_applied_total", "") == 2);
  assert_int_equal(count_samples(&sc, "lotline_consumer_lag_messages"), 16);
  assert_int_equal(count_samples(&sc, "lotline_task_position"), 16);
  assert_true(value(&sc, "lotline_consumer_lag_messages",
                    "topic=\"lots.inbound\",partition=\"0\"") == 0);
  assert_true(value(&sc, "lotline_log_size_bytes", "") > 0);
  scrape_free(&sc);
  if (!scrape_until(http, &sc, tasks_counted))
    fail_msg("lotline_task_position does not add up to 2");
  assert_true(value(&sc, "lotline_rocksdb_memory_bytes",
                    "db=\"log\",kind=\"memtables\"") > 0);
  assert_true(value(&sc, "lotline_rocksdb_memory_bytes",
                    "db=\"views\",kind=\"memtables\"") > 0);
  scrape_free(&sc);

  /* HTTP requests by route template and status. */
  assert_int_equal(h_http("GET", http, "/v1/lots/M-L1", NULL, NULL, &j), 200);
  json_decref(j);
  assert_int_equal(h_http("GET", http, "/v1/lots/nope", NULL, NULL, &j), 404);
  json_decref(j);
  assert_int_equal(h_http("GET", http, "/no/such/route", NULL, NULL, &j), 404);
  json_decref(j);
  scrape_metrics(http, &sc);
  assert_true(value(&sc, "lotline_http_requests_total",
                    "method=\"GET\",route=\"/v1/lots/{id}\",status=\"200\"") ==
              1);
  assert_true(value(&sc, "lotline_http_requests_total",
                    "method=\"GET\",route=\"/v1/lots/{id}\",status=\"404\"") ==
              1);
  assert_true(value(&sc, "lotline_http_requests_total",
                    "method=\"GET\",route=\"unmatched\",status=\"404\"") == 1);
  assert_true(value(&sc, "lotline_http_request_duration_seconds_count",
                    "method=\"GET\",route=\"/v1/lots/{id}\"") == 2);
  /* ids never become label values */
  for (size_t i = 0; i < sc.n; i++)
    assert_null(strstr(sc.s[i].labels, "M-L1"));
  scrape_free(&sc);

  assert_int_equal(h_stop_all(&all, STOP_TIMEOUT_MS), 0);
  check_json_log(log);
  h_rmrf(dir);
  free(dir);
}

static bool accepted_one(const scrape *sc) {
  return value_or(sc, "lotline_events_accepted_total", "", 0) >= 1;
}

/* `lotlined command` has no API: metrics.listen gives it /healthz, /readyz
 * and /metrics, and nothing else. */
static void test_command_metrics_listener(void **state) {
  (void)state;
  char bin_b[512], bin_c[512], log_b[600], log_c[600];
  char *dir = h_tempdir("metrics-cmd");
  snprintf(log_b, sizeof log_b, "%s/broker.log", dir);
  snprintf(log_c, sizeof log_c, "%s/command.log", dir);
  const char *argv_b[] = {h_bin("lotlined", bin_b, sizeof bin_b), "broker",
                          "--data", dir, NULL};
  h_proc broker = h_spawn(log_b, argv_b);
  char *brokers = h_wait_file(dir, "broker.addr", START_TIMEOUT_MS);
  assert_non_null(brokers);
  const char *argv_c[] = {
      h_bin("lotlined", bin_c, sizeof bin_c), "command", "--data", dir, "--set",
      "metrics.listen=127.0.0.1:0",           NULL};
  h_proc command = h_spawn(log_c, argv_c);
  char *addr = h_wait_file(dir, "metrics.addr", START_TIMEOUT_MS);
  if (!addr) {
    h_dump_log(&command);
    fail_msg("no metrics.addr");
  }
  json_t *j = NULL;
  assert_int_equal(h_http("GET", addr, "/healthz", NULL, NULL, &j), 200);
  json_decref(j);
  j = h_http_wait(addr, "/readyz", is_ready, NULL, START_TIMEOUT_MS);
  assert_true(is_ready(j, NULL));
  assert_null(json_object_get(j, "position")); /* no views here */
  json_decref(j);
  assert_int_equal(h_http("GET", addr, "/v1/lots", NULL, NULL, &j), 404);
  assert_string_equal(json_string_value(json_object_get(j, "code")),
                      "NOT_FOUND");
  json_decref(j);

  produce_mix(brokers, "C");
  scrape sc;
  if (!scrape_until(addr, &sc, accepted_one)) {
    h_dump_log(&command);
    fail_msg("the command's counters did not move");
  }
  assert_true(value(&sc, "lotline_consumer_assigned_partitions", "") == 16);
  assert_true(value_or(&sc, "lotline_views_position", "", -1) == -1);
  scrape_free(&sc);

  assert_int_equal(h_stop(&command, STOP_TIMEOUT_MS), 0);
  assert_int_equal(h_stop(&broker, STOP_TIMEOUT_MS), 0);
  free(addr);
  free(brokers);
  h_rmrf(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_all_metrics_move),
      cmocka_unit_test(test_command_metrics_listener),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
