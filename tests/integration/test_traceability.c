/* test_traceability.c — the traceability features end to end: `lotlined
 * all` on the embedded broker, events produced to lots.inbound by a plain
 * librdkafka producer, answers read over HTTP and through the real `lotline`
 * CLI binary.
 *
 *   - a three-level manufacturing chain (flour -> dough -> bread, two
 *     customers): trace down and up, `lotline recall` in JSON, CSV and
 *     table form, history;
 *   - as-of: snapshots of the Locations view taken while events stream in
 *     (each with the position from the Lotline-Position header), then
 *     asked again with ?as_of=<position>: the answers must be equal; and
 *     ?as_of=<time> must agree with the positions recorded at those times
 *     (recorded_at never going back along the log), a millisecond earlier
 *     leaving the event out;
 *   - the location tree (children=1, WH/Stock2 is not under WH/Stock) and
 *     the FEFO list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "ll_codec.h"
#include "ll_event.h"
#include "ll_mem.h"
#include "ll_time.h"

#define START_TIMEOUT_MS 20000
#define VIEW_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS 5000
#define CLI_TIMEOUT_MS 20000
#define STREAM_MOVES 60 /* moves sent while snapshots are taken */
#define STREAM_PAUSE_MS                                                        \
  50                    /* between two of them: 3 s of streaming,              \
                           enough for a slow (loaded) sampler */
#define SNAPSHOTS_MIN 5 /* distinct positions the test must see */
#define SNAPSHOTS_MAX 4096

static ll_codec *codec;
static char *data_dir, *brokers, *http;
static h_proc daemon_proc;

/* ---- plumbing ---- */

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void send_event(h_producer *p, ll_event *ev) {
  ll_buf b;
  ll_err e;
  ll_buf_init(&b);
  assert_int_equal(ll_codec_encode(codec, ev, &b, &e), 0);
  h_produce(p, "lots.inbound", ev->product_id, b.data, b.len);
  ll_buf_free(&b);
  ll_event_free(ev);
}

static void create(h_producer *p, const char *product, const char *lot,
                   const char *expiration, const char *removal) {
  ll_event ev;
  char id[96];
  snprintf(id, sizeof id, "create-%s", lot);
  h_ev_create(&ev, id, product, lot, lot, LL_TRACK_LOT);
  if (expiration != NULL) {
    ev.expiration_at.set = true;
    assert_true(ll_time_parse(expiration, &ev.expiration_at.ms));
  }
  if (removal != NULL) {
    ev.removal_at.set = true;
    assert_true(ll_time_parse(removal, &ev.removal_at.ms));
  }
  send_event(p, &ev);
}

static int move_seq;

static void move(h_producer *p, const char *product, const char *lot,
                 const char *qty, const char *from, ll_usage fu, const char *to,
                 ll_usage tu, const char *reference) {
  ll_event ev;
  char id[96];
  snprintf(id, sizeof id, "move-%s-%d", lot, ++move_seq);
  h_ev_move(&ev, id, product, lot, qty, from, fu, to, tu);
  ev.reference = ll_strdup(reference);
  send_event(p, &ev);
}

#define SUP LL_USAGE_SUPPLIER
#define INT LL_USAGE_INTERNAL
#define PRD LL_USAGE_PRODUCTION
#define CUS LL_USAGE_CUSTOMER

/* GET with the Lotline-Position header. */
typedef struct got {
  int status;
  json_t *json;
  uint64_t position;
} got;

typedef struct sink {
  char *data;
  size_t len;
  uint64_t position;
} sink;

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
  sink *s = arg;
  s->data = realloc(s->data, s->len + size * n + 1);
  memcpy(s->data + s->len, p, size * n);
  s->len += size * n;
  s->data[s->len] = '\0';
  return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg) {
  sink *s = arg;
  static const char name[] = "Lotline-Position:";
  if (size * n > sizeof name && strncasecmp(p, name, sizeof name - 1) == 0)
    s->position = strtoull(p + sizeof name - 1, NULL, 10);
  return size * n;
}

static got get(const char *path) {
  char url[2048];
  snprintf(url, sizeof url, "http://%s%s", http, path);
  sink s = {0};
  CURL *c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &s);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L);
  got g = {.status = -1};
  long status = -1;
  if (curl_easy_perform(c) == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  g.status = (int)status;
  g.json = s.data != NULL ? json_loads(s.data, 0, NULL) : NULL;
  g.position = s.position;
  free(s.data);
  return g;
}

static json_t *get_ok(const char *path) {
  got g = get(path);
  if (g.status != 200 || g.json == NULL)
    fail_msg("GET %s: %d", path, g.status);
  return g.json;
}

static const char *jstr(const json_t *o, const char *k) {
  const json_t *v = json_object_get(o, k);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Wait until the lot's history holds n events. */
static void wait_history(const char *lot, size_t n) {
  char path[256];
  snprintf(path, sizeof path, "/v1/lots/%s/moves?limit=1000", lot);
  size_t have = 0;
  for (int waited = 0; waited <= VIEW_TIMEOUT_MS; waited += 50) {
    got g = get(path);
    have = g.status == 200 ? json_array_size(json_object_get(g.json, "events"))
                           : 0;
    json_decref(g.json);
    if (have >= n)
      return;
    sleep_ms(50);
  }
  h_dump_log(&daemon_proc);
  fail_msg("lot %s has %zu events, want %zu", lot, have, n);
}

/* Run the lotline CLI; returns its exit status, stdout+stderr in *out. */
static int run_cli(char **out, const char *const args[]) {
  static int runs;
  char bin[512], log[700];
  snprintf(log, sizeof log, "%s/cli-%d.out", data_dir, ++runs);
  const char *argv[16];
  size_t n = 0;
  argv[n++] = h_bin("lotline", bin, sizeof bin);
  argv[n++] = "--data";
  argv[n++] = data_dir;
  for (size_t i = 0; args[i] != NULL && n < 15; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  h_proc p = h_spawn(log, argv);
  int status = -1;
  bool exited = false;
  for (int waited = 0; waited <= CLI_TIMEOUT_MS && !exited; waited += 10) {
    exited = waitpid(p.pid, &status, WNOHANG) == p.pid;
    if (!exited)
      sleep_ms(10);
  }
  if (!exited) {
    h_kill9(&p);
    fail_msg("lotline %s did not finish within %d ms", args[0], CLI_TIMEOUT_MS);
  }
  FILE *f = fopen(log, "r");
  assert_non_null(f);
  size_t cap = 1 << 16, len = 0;
  *out = calloc(1, cap);
  size_t got_n;
  while ((got_n = fread(*out + len, 1, cap - len - 1, f)) > 0) {
    len += got_n;
    if (len + 1 == cap) {
      cap *= 2;
      *out = realloc(*out, cap);
    }
  }
  (*out)[len] = '\0';
  fclose(f);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- setup ---- */

static int setup(void **state) {
  (void)state;
  codec = h_codec_open();
  if (!codec)
    return -1;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  data_dir = h_tempdir("trace");
  char bin[512], log[600];
  snprintf(log, sizeof log, "%s/lotlined.log", data_dir);
  const char *argv[] = {h_bin("lotlined", bin, sizeof bin),
                        "all",
                        "--data",
                        data_dir,
                        "--http",
                        "127.0.0.1:0",
                        NULL};
  daemon_proc = h_spawn(log, argv);
  brokers = h_wait_file(data_dir, "broker.addr", START_TIMEOUT_MS);
  http = h_wait_file(data_dir, "http.addr", START_TIMEOUT_MS);
  if (!brokers || !http) {
    h_dump_log(&daemon_proc);
    return -1;
  }
  return 0;
}

static int teardown(void **state) {
  (void)state;
  int rc = h_stop(&daemon_proc, STOP_TIMEOUT_MS);
  if (rc != 0)
    h_dump_log(&daemon_proc);
  free(brokers);
  free(http);
  h_rmrf(data_dir);
  free(data_dir);
  ll_codec_close(codec);
  curl_global_cleanup();
  return rc == 0 ? 0 : -1;
}

/* ---- the three-level chain and recall ---- */

static void produce_chain(void) {
  h_producer *p = h_producer_new(brokers);
  create(p, "FLOUR", "FLOUR-1", "2027-09-01T00:00:00Z", NULL);
  create(p, "DOUGH", "DOUGH-1", "2027-02-01T00:00:00Z", NULL);
  create(p, "BREAD", "BREAD-1", "2027-03-01T00:00:00Z", "2027-02-20T00:00:00Z");
  create(p, "FLOUR", "FLOUR-2", "2027-04-01T00:00:00Z", NULL);
  move(p, "FLOUR", "FLOUR-1", "500", "Vendors/Mill", SUP, "WH/Stock", INT,
       "PO-1");
  move(p, "FLOUR", "FLOUR-1", "120", "WH/Stock", INT, "Virtual/Production", PRD,
       "MO-1");
  move(p, "FLOUR", "FLOUR-2", "10", "Vendors/Mill", SUP, "WH/Stock2", INT,
       "PO-2");
  /* DOUGH and BREAD are keyed by their own products, so Kafka may deliver
   * them before or after the flour's moves: either order must link. */
  move(p, "DOUGH", "DOUGH-1", "200", "Virtual/Production", PRD,
       "WH/Stock/Shelf-1", INT, "MO-1");
  move(p, "DOUGH", "DOUGH-1", "200", "WH/Stock/Shelf-1", INT,
       "Virtual/Production", PRD, "MO-2");
  move(p, "BREAD", "BREAD-1", "400", "Virtual/Production", PRD,
       "WH/Stock/Shelf-2", INT, "MO-2");
  move(p, "BREAD", "BREAD-1", "150", "WH/Stock/Shelf-2", INT, "Customers/ACME",
       CUS, "SO-101");
  move(p, "BREAD", "BREAD-1", "90.5", "WH/Stock/Shelf-2", INT,
       "Customers/Globex", CUS, "SO-102");
  h_producer_free(p);
  wait_history("FLOUR-1", 3);
  wait_history("FLOUR-2", 2);
  wait_history("DOUGH-1", 3);
  wait_history("BREAD-1", 4);
}

static const json_t *child(const json_t *node, const char *lot) {
  size_t i;
  const json_t *c;
  json_array_foreach(json_object_get(node, "children"), i, c) {
    if (strcmp(jstr(c, "lot_id"), lot) == 0)
      return c;
  }
  fail_msg("%s has no child %s", jstr(node, "lot_id"), lot);
  return NULL;
}

static void test_chain_trace_and_recall(void **state) {
  (void)state;
  produce_chain();

  json_t *t = get_ok("/v1/lots/FLOUR-1/trace");
  const json_t *dough = child(json_object_get(t, "tree"), "DOUGH-1");
  const json_t *link = json_array_get(json_object_get(dough, "links"), 0);
  assert_string_equal(jstr(link, "reference"), "MO-1");
  assert_string_equal(jstr(link, "consumed"), "120");
  assert_string_equal(jstr(link, "produced"), "200");
  const json_t *bread = child(dough, "BREAD-1");
  assert_string_equal(jstr(bread, "product_id"), "BREAD");
  assert_int_equal(json_array_size(json_object_get(t, "deliveries")), 2);
  json_decref(t);

  t = get_ok("/v1/lots/BREAD-1/trace?direction=upstream");
  child(child(json_object_get(t, "tree"), "DOUGH-1"), "FLOUR-1");
  json_decref(t);

  /* recall, as a script reads it */
  char *out = NULL;
  const char *json_args[] = {"recall", "FLOUR-1", "--format", "json", NULL};
  int rc = run_cli(&out, json_args);
  if (rc != 0)
    fail_msg("lotline recall: %d\n%s", rc, out);
  json_t *r = json_loads(out, 0, NULL);
  assert_non_null(r);
  free(out);
  const json_t *lots = json_object_get(r, "lots");
  assert_int_equal(json_array_size(lots), 3);
  assert_string_equal(jstr(json_array_get(lots, 1), "lot_id"), "DOUGH-1");
  assert_string_equal(jstr(json_array_get(lots, 1), "made_from"), "FLOUR-1");
  assert_string_equal(jstr(json_array_get(lots, 2), "lot_id"), "BREAD-1");
  assert_int_equal(
      json_integer_value(json_object_get(json_array_get(lots, 2), "level")), 2);
  assert_string_equal(jstr(json_array_get(lots, 2), "produced"), "400");
  const json_t *dl = json_object_get(r, "deliveries");
  assert_int_equal(json_array_size(dl), 2);
  const json_t *acme = json_array_get(dl, 0), *globex = json_array_get(dl, 1);
  assert_string_equal(jstr(acme, "location"), "Customers/ACME");
  assert_string_equal(jstr(acme, "lot_id"), "BREAD-1");
  assert_string_equal(jstr(acme, "product_id"), "BREAD");
  assert_string_equal(jstr(acme, "quantity"), "150");
  assert_string_equal(jstr(acme, "reference"), "SO-101");
  assert_non_null(jstr(acme, "occurred_at"));
  assert_string_equal(jstr(globex, "location"), "Customers/Globex");
  assert_string_equal(jstr(globex, "quantity"), "90.5");
  assert_true(json_is_false(json_object_get(r, "truncated")));
  json_decref(r);

  const char *csv_args[] = {"recall", "FLOUR-1", "--format", "csv", NULL};
  assert_int_equal(run_cli(&out, csv_args), 0);
  assert_non_null(strstr(out, "record,level,lot_id,product_id,made_from,"
                              "reference,quantity,customer,partner_id,"
                              "partner_name,time,position\r\n"));
  assert_non_null(strstr(out, "lot,2,BREAD-1,BREAD,DOUGH-1,MO-2,400,,,,,\r\n"));
  assert_non_null(strstr(out, "delivery,,BREAD-1,BREAD,,SO-102,90.5,"
                              "Customers/Globex,"));
  free(out);

  const char *table_args[] = {"recall", "FLOUR-1", NULL};
  assert_int_equal(run_cli(&out, table_args), 0);
  assert_non_null(strstr(out, "2 lots made from it, 2 deliveries"));
  assert_non_null(strstr(out, "Customers/ACME"));
  free(out);

  const char *tree_args[] = {"trace", "BREAD-1", "--up", NULL};
  assert_int_equal(run_cli(&out, tree_args), 0);
  assert_non_null(strstr(out, "└── DOUGH-1  (DOUGH)  MO-2: 200 consumed -> "
                              "400 produced"));
  free(out);

  const char *history_args[] = {"history", "BREAD-1", NULL};
  assert_int_equal(run_cli(&out, history_args), 0);
  assert_non_null(strstr(out, "Customers/Globex:CUSTOMER"));
  free(out);

  /* a lot that is not there is a failure with the API's reason */
  const char *missing[] = {"recall", "NO-SUCH-LOT", NULL};
  assert_int_equal(run_cli(&out, missing), 1);
  assert_non_null(strstr(out, "UNKNOWN_LOT"));
  free(out);
}

/* ---- location tree and FEFO ---- */

static void test_hierarchy_and_fefo(void **state) {
  (void)state;
  /* after the chain: FLOUR-1 380 on WH/Stock, BREAD-1 159.5 on Shelf-2,
   * FLOUR-2 10 on WH/Stock2 */
  json_t *j = get_ok("/v1/locations/WH%2FStock/lots?children=1");
  const json_t *lots = json_object_get(j, "lots");
  assert_int_equal(json_array_size(lots), 2);
  assert_string_equal(jstr(json_array_get(lots, 0), "lot_id"), "BREAD-1");
  assert_string_equal(jstr(json_array_get(lots, 0), "on_hand"), "159.5");
  assert_string_equal(jstr(json_array_get(lots, 1), "lot_id"), "FLOUR-1");
  assert_string_equal(jstr(json_array_get(lots, 1), "on_hand"), "380");
  json_decref(j);
  j = get_ok("/v1/locations/WH%2FStock/lots");
  assert_int_equal(json_array_size(json_object_get(j, "lots")), 1);
  json_decref(j);

  char *out = NULL;
  const char *stock_args[] = {"stock", "WH", "--children", NULL};
  assert_int_equal(run_cli(&out, stock_args), 0);
  assert_non_null(strstr(out, "3 lots; total BREAD 159.5, FLOUR 390"));
  free(out);

  /* FEFO: BREAD-1 (removal Feb 20), FLOUR-2 (Apr 1), FLOUR-1 (Sep 1) */
  j = get_ok("/v1/lots?location=WH&children=1");
  lots = json_object_get(j, "lots");
  assert_int_equal(json_array_size(lots), 3);
  assert_string_equal(jstr(json_array_get(lots, 0), "lot_id"), "BREAD-1");
  assert_string_equal(jstr(json_array_get(lots, 1), "lot_id"), "FLOUR-2");
  assert_string_equal(jstr(json_array_get(lots, 2), "lot_id"), "FLOUR-1");
  json_decref(j);
  j = get_ok("/v1/lots?expiring_before=2027-05-01T00:00:00Z&product_id=FLOUR");
  lots = json_object_get(j, "lots");
  assert_int_equal(json_array_size(lots), 1);
  assert_string_equal(jstr(json_array_get(lots, 0), "lot_id"), "FLOUR-2");
  json_decref(j);
}

/* ---- as of, against snapshots taken while events stream in ---- */

static void *stream_moves(void *arg) {
  (void)arg;
  h_producer *p = h_producer_new(brokers);
  static const char *const spots[] = {"WH/A", "WH/B", "WH/C/Bin-1"};
  for (int i = 0; i < STREAM_MOVES; i++) {
    char qty[16];
    snprintf(qty, sizeof qty, "%d.25", 1 + i % 3);
    if (i % 7 == 6)
      move(p, "SNAP", "SNAP-1", "0.5", spots[i % 3], INT, "Customers/ACME", CUS,
           "SO-9");
    else
      move(p, "SNAP", "SNAP-1", qty, spots[i % 3], INT, spots[(i + 1) % 3], INT,
           NULL);
    sleep_ms(STREAM_PAUSE_MS);
  }
  h_producer_free(p);
  return NULL;
}

/* as_of a millisecond before event i's recorded_at answers with the event
 * before it: the log clock stamped event i later than everything before. */
static void check_as_of_just_before(const json_t *events, size_t i) {
  int64_t ms, prev_ms;
  if (i == 0 ||
      !ll_time_parse(jstr(json_array_get(events, i), "recorded_at"), &ms) ||
      !ll_time_parse(jstr(json_array_get(events, i - 1), "recorded_at"),
                     &prev_ms) ||
      prev_ms == ms)
    return; /* nothing between the two to ask for */
  char t[32], path[256];
  char *esc = curl_easy_escape(NULL, ll_time_format(ms - 1, t), 0);
  snprintf(path, sizeof path, "/v1/lots/SNAP-1/locations?all=1&as_of=%s", esc);
  curl_free(esc);
  json_t *before = get_ok(path);
  assert_int_equal(
      json_integer_value(json_object_get(before, "last_event_position")),
      json_integer_value(
          json_object_get(json_array_get(events, i - 1), "position")));
  json_decref(before);
}

typedef struct snapshot {
  uint64_t position;
  json_t *json;
} snapshot;

static void test_as_of_matches_streaming_snapshots(void **state) {
  (void)state;
  h_producer *p = h_producer_new(brokers);
  create(p, "SNAP", "SNAP-1", NULL, NULL);
  move(p, "SNAP", "SNAP-1", "100", "Vendors", SUP, "WH/A", INT, NULL);
  move(p, "SNAP", "SNAP-1", "100", "Vendors", SUP, "WH/B", INT, NULL);
  move(p, "SNAP", "SNAP-1", "100", "Vendors", SUP, "WH/C/Bin-1", INT, NULL);
  h_producer_free(p);
  wait_history("SNAP-1", 4);

  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, stream_moves, NULL), 0);
  snapshot *snaps = calloc(SNAPSHOTS_MAX, sizeof *snaps);
  size_t n = 0;
  for (int waited = 0; waited <= VIEW_TIMEOUT_MS && n < SNAPSHOTS_MAX;
       waited += 2) {
    got g = get("/v1/lots/SNAP-1/locations?all=1");
    assert_int_equal(g.status, 200);
    assert_true(g.position > 0);
    if (n == 0 || snaps[n - 1].position != g.position)
      snaps[n++] = (snapshot){g.position, g.json};
    else
      json_decref(g.json);
    got h = get("/v1/lots/SNAP-1/moves?limit=1000");
    size_t events = json_array_size(json_object_get(h.json, "events"));
    json_decref(h.json);
    if (events == 4 + STREAM_MOVES)
      break;
    sleep_ms(2);
  }
  pthread_join(th, NULL);
  if (n < SNAPSHOTS_MIN)
    fail_msg("only %zu distinct snapshots while events streamed in", n);
  fprintf(stderr,
          "as-of: comparing %zu snapshots taken while %d moves "
          "streamed in\n",
          n, STREAM_MOVES);

  for (size_t i = 0; i < n; i++) {
    char path[128];
    snprintf(path, sizeof path,
             "/v1/lots/SNAP-1/locations?all=1&as_of=%" PRIu64,
             snaps[i].position);
    json_t *past = get_ok(path);
    if (!json_equal(json_object_get(past, "locations"),
                    json_object_get(snaps[i].json, "locations")) ||
        !json_equal(json_object_get(past, "on_hand"),
                    json_object_get(snaps[i].json, "on_hand"))) {
      char *a = json_dumps(past, 0), *b = json_dumps(snaps[i].json, 0);
      fail_msg("as_of=%" PRIu64 " differs:\n%s\nsnapshot:\n%s",
               snaps[i].position, a, b);
    }
    json_decref(past);
    json_decref(snaps[i].json);
  }
  free(snaps);

  /* By time: recorded_at (log time, docs/traceability.md) never goes back
   * along the log, so as_of at an event's recorded_at is the state after
   * the last event stamped by then (several may share a millisecond), and
   * a millisecond earlier it leaves that event out. */
  json_t *h = get_ok("/v1/lots/SNAP-1/moves?limit=1000");
  const json_t *events = json_object_get(h, "events");
  size_t ne = json_array_size(events);
  assert_int_equal(ne, 4 + STREAM_MOVES);
  int64_t prev_ms = 0;
  for (size_t i = 0; i < ne; i++) {
    int64_t ms;
    assert_true(
        ll_time_parse(jstr(json_array_get(events, i), "recorded_at"), &ms));
    if (ms < prev_ms)
      fail_msg("recorded_at goes back at event %zu of SNAP-1", i);
    prev_ms = ms;
  }
  for (size_t i = 0; i < ne; i += 5) {
    check_as_of_just_before(events, i);
    const char *t = jstr(json_array_get(events, i), "recorded_at");
    size_t last = i;
    while (last + 1 < ne &&
           strcmp(jstr(json_array_get(events, last + 1), "recorded_at"), t) ==
               0)
      last++;
    json_int_t pos = json_integer_value(
        json_object_get(json_array_get(events, last), "position"));
    char *esc = curl_easy_escape(NULL, t, 0);
    char path_t[256], path_p[256];
    snprintf(path_t, sizeof path_t, "/v1/lots/SNAP-1/locations?all=1&as_of=%s",
             esc);
    snprintf(path_p, sizeof path_p,
             "/v1/lots/SNAP-1/locations?all=1&as_of=%lld", (long long)pos);
    curl_free(esc);
    json_t *by_time = get_ok(path_t), *by_pos = get_ok(path_p);
    assert_true(json_equal(json_object_get(by_time, "locations"),
                           json_object_get(by_pos, "locations")));
    assert_int_equal(
        json_integer_value(json_object_get(by_time, "last_event_position")),
        pos);
    json_decref(by_time);
    json_decref(by_pos);
  }
  json_decref(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_chain_trace_and_recall),
      cmocka_unit_test(test_hierarchy_and_fefo),
      cmocka_unit_test(test_as_of_matches_streaming_snapshots),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
