/* bench_write.c — write latency: what a client waits between its POST
 * /v1/moves and the answer (the event decided, synced and in the views).
 *
 * A fresh `lotlined all` with its own embedded broker, as an operator
 * would start it; once /readyz says ready (the consumer has its
 * partitions), each client creates its own lot (its own product, so the
 * clients' events spread over the partitions) and then moves quantities
 * from a supplier into stock, which every state accepts. One client posts
 * one write after another; then many clients post at once, each one write
 * after another, for a fixed time. Then, on another fresh `lotlined all`,
 * as many other clients the same way, each write with an Idempotency-Key
 * of its own, as docs/api.md asks of every write a client may retry (the
 * API then looks the key up before it publishes). Each group has a broker
 * of its own because the embedded broker gets slower with every batch it
 * holds (a fetch walks a partition's batches from the oldest, and each
 * write is a batch): its thread went from 0.2 to 0.5 of a core within
 * the first group's 5 s, so on that broker the second group would pay
 * for the first group's writes. Each client is a thread with one
 * keep-alive connection (bench_http.c: the clients share the service's
 * two cores, and libcurl took several times that client's CPU). */
#include "bench_write.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bench_http.h"
#include "harness.h"
#include "ll_mem.h"
#include "ll_time.h"

#define WRITE_READY_TIMEOUT_MS 60000
#define WRITE_HTTP_TIMEOUT_MS 10000
#define WRITE_BODY_MAX_BYTES 512
#define WRITE_KEY_MAX_BYTES 64
#define WRITE_SAMPLES_MAX 200000 /* per client */
#define WRITE_STOP_TIMEOUT_MS 15000

typedef struct client {
  const char *http;
  int id;
  double until_s; /* many clients: post until then */
  int writes;     /* one client: this many */
  bool keyed;     /* each write with an Idempotency-Key of its own */
  double *ms;     /* round trips */
  int64_t n;
  pthread_t thread;
} client;

static double now_s(void) {
  return (double)ll_mono_ns() / 1e9;
}

static void fail(const char *why) {
  fprintf(stderr, "bench: write latency: %s\n", why);
  exit(1);
}

/* POST body to path on the client's keep-alive connection, with extra
 * headers ("" or lines ending in "\r\n"); the HTTP status. */
static int post(bench_http *h, const char *path, const char *headers,
                const char *body) {
  char why[256];
  int status = bench_http_request(h, "POST", path, headers, body,
                                  WRITE_HTTP_TIMEOUT_MS, why, sizeof why);
  if (status < 0) {
    fprintf(stderr, "bench: write latency: POST %s: %s\n", path, why);
    fail("a write got no answer");
  }
  return status;
}

static void *run_client(void *arg) {
  client *c = arg;
  bench_http h;
  bench_http_init(&h, c->http);
  char body[WRITE_BODY_MAX_BYTES];
  snprintf(body, sizeof body,
           "{\"lot_id\":\"BW-LOT-%d\",\"product_id\":\"BW-P-%d\","
           "\"name\":\"bench %d\",\"tracking\":\"LOT\"}",
           c->id, c->id, c->id);
  if (post(&h, "/v1/lots", "", body) != 201)
    fail("creating a client's lot was not answered 201");
  snprintf(body, sizeof body,
           "{\"product_id\":\"BW-P-%d\",\"lot_id\":\"BW-LOT-%d\","
           "\"quantity\":\"1\",\"from\":{\"id\":\"Vendors/Bench\","
           "\"usage\":\"SUPPLIER\"},\"to\":{\"id\":\"WH/Bench\","
           "\"usage\":\"INTERNAL\"},\"reference\":\"bench\"}",
           c->id, c->id);
  char key[WRITE_KEY_MAX_BYTES] = "";
  while (c->n < WRITE_SAMPLES_MAX &&
         (c->writes > 0 ? c->n < c->writes : now_s() < c->until_s)) {
    /* Clients without keys send the same headers every time. */
    if (c->keyed)
      snprintf(key, sizeof key, "Idempotency-Key: bench-%d-%" PRId64 "\r\n",
               c->id, c->n);
    double t0 = now_s();
    int status = post(&h, "/v1/moves", key, body);
    c->ms[c->n] = (now_s() - t0) * 1000;
    if (status != 201)
      fail("a move was not answered 201");
    c->n++;
  }
  bench_http_close(&h);
  return NULL;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Run n clients to the end; their round trips summed up in *f. */
static void run_clients(client *cs, int n, write_figures *f) {
  double t0 = now_s();
  for (int i = 0; i < n; i++)
    pthread_create(&cs[i].thread, NULL, run_client, &cs[i]);
  for (int i = 0; i < n; i++)
    pthread_join(cs[i].thread, NULL);
  double elapsed_s = now_s() - t0;
  int64_t total = 0;
  for (int i = 0; i < n; i++)
    total += cs[i].n;
  if (total == 0)
    fail("no write was measured");
  double *all = ll_xcalloc((size_t)total, sizeof *all);
  int64_t k = 0;
  for (int i = 0; i < n; i++) {
    memcpy(all + k, cs[i].ms, (size_t)cs[i].n * sizeof *all);
    k += cs[i].n;
  }
  qsort(all, (size_t)total, sizeof *all, cmp_double);
  *f = (write_figures){.clients = n,
                       .writes = total,
                       .p50_ms = all[total / 2],
                       .p99_ms = all[(total * 99) / 100],
                       .max_ms = all[total - 1],
                       .writes_per_s = (double)total / elapsed_s};
  free(all);
}

static bool is_ready(json_t *j, const void *arg) {
  (void)arg;
  const char *status = json_string_value(json_object_get(j, "status"));
  return status != NULL && strcmp(status, "ready") == 0;
}

static h_proc start_all(const char *bin, const char *data, char **http) {
  char log[2100];
  snprintf(log, sizeof log, "%s/all.log", data);
  mkdir(data, 0755); /* for the log; lotlined fills it */
  /* LOTLINE_BENCH_LOG_LEVEL=debug shows every batch in all.log. */
  const char *level = getenv("LOTLINE_BENCH_LOG_LEVEL");
  const char *argv[] = {
      bin,           "all",
      "--data",      data,
      "--http",      "127.0.0.1:0",
      "--log-level", level != NULL && *level != '\0' ? level : "warn",
      NULL};
  h_proc p = h_spawn(log, argv);
  *http = h_wait_file(data, "http.addr", WRITE_READY_TIMEOUT_MS);
  json_t *j = *http ? h_http_wait(*http, "/readyz", is_ready, NULL,
                                  WRITE_READY_TIMEOUT_MS)
                    : NULL;
  bool ready = j != NULL && is_ready(j, NULL);
  json_decref(j);
  if (!ready) {
    h_dump_log(&p);
    fail("lotlined all did not become ready");
  }
  return p;
}

static void stop_all(h_proc *p) {
  int rc = h_stop(p, WRITE_STOP_TIMEOUT_MS);
  if (rc != 0) {
    h_dump_log(p);
    fprintf(stderr, "bench: write latency: lotlined all %s\n",
            rc < 0 ? "did not stop within the timeout (killed)"
                   : "exited with an error");
    fail("lotlined all did not stop cleanly");
  }
}

/* many clients at once on http for seconds, into *f. */
static void run_group(client *group, int many, const char *http, int seconds,
                      write_figures *f) {
  double until_s = now_s() + seconds;
  for (int i = 0; i < many; i++) {
    group[i].http = http;
    group[i].until_s = until_s;
  }
  run_clients(group, many, f);
}

void bench_write_latency(const char *bin, const char *dir, int one_writes,
                         int many_clients, int many_seconds, write_figures *one,
                         write_figures *many, write_figures *keyed) {
  char data[2048], data_keyed[2048];
  snprintf(data, sizeof data, "%s/write", dir);
  snprintf(data_keyed, sizeof data_keyed, "%s/write-keyed", dir);
  /* One client, many, and as many keyed ones: each its own lot. */
  int n_clients = 1 + 2 * many_clients;
  client *cs = ll_xcalloc((size_t)n_clients, sizeof *cs);
  for (int i = 0; i < n_clients; i++) {
    cs[i] = (client){.id = i, .keyed = i > many_clients};
    cs[i].ms = ll_xcalloc(WRITE_SAMPLES_MAX, sizeof *cs[i].ms);
  }
  char *http = NULL;
  h_proc p = start_all(bin, data, &http);
  cs[0].http = http;
  cs[0].writes = one_writes;
  run_clients(cs, 1, one);
  run_group(cs + 1, many_clients, http, many_seconds, many);
  stop_all(&p);
  free(http);
  p = start_all(bin, data_keyed, &http);
  run_group(cs + 1 + many_clients, many_clients, http, many_seconds, keyed);
  stop_all(&p);
  free(http);
  for (int i = 0; i < n_clients; i++)
    free(cs[i].ms);
  free(cs);
}
