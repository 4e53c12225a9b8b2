/* test_broker_faults.c — Kafka misbehaves; lotline loses and doubles
 * nothing.
 *
 * The test hosts the broker itself (a 3-broker mock cluster from
 * ll_broker_start, so that partition leaders can move) because fault
 * injection needs the mock cluster handle in this process, and runs
 * `lotlined all --brokers <bootstraps>` as a child process.
 *
 * While two sources write — a streaming producer thread (plain librdkafka:
 * valid events, events the rules reject, and bytes that are not Avro) and
 * an API writer thread (POST /v1/moves with an Idempotency-Key, retried
 * with the same key after a 503, as docs/api.md tells clients to) — the
 * main thread goes through one fault class after another:
 *
 *   fetch        Fetch requests fail (not leader, timeouts, disconnects)
 *   produce      Produce requests fail (the API's and the rejections'
 *                producers and the test's own retry), then once more for
 *                the rejections' producer alone
 *   offsetcommit OffsetCommit requests fail (informational commits)
 *   group        Heartbeat and JoinGroup errors: forced rebalances
 *   leaders      every partition's leader moves, three times
 *   broker-down  one broker goes down, its partitions fail over, it returns
 *   slow         every broker answers late: writes time out (503) although
 *                Kafka has them; the retries' extra copies are duplicates
 *   all-down     every broker is down: POST /v1/moves answers 503 with a
 *                JSON message within write.timeout.ms; after the brokers
 *                return, the same request succeeds
 *
 * Errors are pushed onto the error stacks of the broker that leads every
 * partition and coordinates the group, and each phase waits until the
 * stack is drained, so every injected error was really answered to a
 * client. After each phase the consumer must catch up with everything
 * delivered so far, and the API must accept a write again, by themselves.
 *
 * At the end: the log holds every accepted event exactly once (event ids,
 * input partition/offset pairs, positions 1..N); the stored rejections are
 * exactly the inputs lotline had to reject, read back from lots.inbound,
 * each once; lots.rejected publishes each of them once; and every lot's
 * quantities equal the test's own model of the stream.
 *
 * The mock broker is not a perfect Kafka: it checks no idempotent
 * producer's sequence numbers, so every producer here keeps one request in
 * flight (MAX_IN_FLIGHT explains why), and it does not deduplicate retries,
 * so a response lost in a disconnect can leave a message twice in a topic.
 * The checks count such copies as the broker's (the same bytes twice) and
 * hold lotline to what the topics really contain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "ll_codec.h"
#include "ll_decimal.h"
#include "ll_event.h"
#include "ll_kafka.h"
#include "ll_mem.h"
#include "ll_store.h"
#include "ll_time.h"

/* Kafka protocol request types (ApiKey) the faults target. */
#define API_PRODUCE 0
#define API_FETCH 1
#define API_OFFSET_COMMIT 8
#define API_JOIN_GROUP 11
#define API_HEARTBEAT 12

#define BROKERS 3
#define PARTITIONS 4
#define PRODUCTS 6         /* streamed products, one lot each */
#define STREAM_BURST 6     /* events per burst */
#define STREAM_BURST_MS 20 /* ~300 events/s */
#define WRITE_TIMEOUT_MS 1500
#define WRITE_503_SLACK_MS 1000 /* HTTP + scheduling on a busy machine */
#define START_TIMEOUT_MS 30000
#define RECOVER_TIMEOUT_MS 60000
#define DRAIN_TIMEOUT_MS 30000
#define SLOW_RTT_MS 2500 /* > WRITE_TIMEOUT_MS: acknowledgements come late */
#define HOLD_MS 3000 /* how long a fault lasts when it is not self-draining */
#define STOP_TIMEOUT_MS 10000
#define API_KEY_DEADLINE_MS 90000 /* one key must succeed within this */
#define SESSION_TIMEOUT_MS "6000" /* consumer group session */
#define HEARTBEAT_INTERVAL_MS "1000"
/* One produce request in flight per connection, for every producer here.
 * The mock broker checks no idempotent-producer sequence numbers: when an
 * injected error fails batch N while batch N+1 of the same partition is in
 * flight, the mock takes N+1 (a real broker refuses it as out of
 * sequence), and the producer then counts N as written (acknowledging a
 * later batch implies the earlier ones) although the mock never wrote it.
 * That loss would be the mock's, not lotline's. */
#define MAX_IN_FLIGHT "1"

static const char *const topic_names[] = {"lots.inbound", "lots.events",
                                          "lots.rejected", "lots.quantities"};
#define TOPIC_COUNT (sizeof topic_names / sizeof topic_names[0])

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int64_t mono_ms(void) {
  return (int64_t)(ll_mono_ns() / 1000000ull);
}

/* ---------------------------------------------------------------------
 * The stream: a model of each product's lot, and the events it produces.
 * Event n is "s-<n>"; kinds[n] says what lotline must do with it. */

typedef enum ev_kind { EV_VALID = 0, EV_REJECTED, EV_MALFORMED } ev_kind;

typedef struct product_model {
  char product[16], lot[16];
  int step;
  int64_t a, b, customer, vendor; /* micro-units at each location */
} product_model;

typedef struct stream {
  ll_codec *codec;
  rd_kafka_t *rk;
  pthread_t thread;
  atomic_bool stop;
  atomic_long delivered_valid;
  atomic_long delivered_all;
  atomic_long delivery_failures;
  bool started;
  /* Owned by the thread until it is joined. */
  product_model products[PRODUCTS];
  uint8_t *kinds;
  size_t n, cap;
  long valid, rejected, malformed;
} stream;

static void on_stream_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                               void *opaque) {
  (void)rk;
  stream *s = opaque;
  if (m->err) {
    atomic_fetch_add(&s->delivery_failures, 1);
    fprintf(stderr, "stream delivery failed: %s\n", rd_kafka_err2str(m->err));
    return;
  }
  atomic_fetch_add(&s->delivered_all, 1);
  if ((ev_kind)(intptr_t)m->_private == EV_VALID)
    atomic_fetch_add(&s->delivered_valid, 1);
}

static void stream_send(stream *s, const char *key, const void *value,
                        size_t len, ev_kind kind) {
  for (;;) {
    rd_kafka_resp_err_t e = rd_kafka_producev(
        s->rk, RD_KAFKA_V_TOPIC("lots.inbound"),
        RD_KAFKA_V_KEY((void *)key, strlen(key)),
        RD_KAFKA_V_VALUE((void *)value, len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE((void *)(intptr_t)kind), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(s->rk, 10);
      continue;
    }
    if (e) {
      fprintf(stderr, "stream produce: %s\n", rd_kafka_err2str(e));
      abort();
    }
    return;
  }
}

static void stream_send_event(stream *s, ll_event *ev, ev_kind kind) {
  ll_buf b;
  ll_err e;
  ll_buf_init(&b);
  if (ll_codec_encode(s->codec, ev, &b, &e) != 0) {
    fprintf(stderr, "encode: %s: %s\n", ll_err_kind_name(e.kind), e.message);
    abort();
  }
  stream_send(s, ev->product_id, b.data, b.len, kind);
  ll_buf_free(&b);
  ll_event_free(ev);
}

static void move_event(ll_event *ev, const char *id, const product_model *p,
                       int64_t micro, const char *from, ll_usage from_usage,
                       const char *to, ll_usage to_usage) {
  ll_event_init(ev);
  ev->type = LL_EV_STOCK_MOVED;
  ev->event_id = ll_strdup(id);
  ev->occurred_at_ms = 1795000000000LL;
  ev->product_id = ll_strdup(p->product);
  ev->lot_id = ll_strdup(p->lot);
  ev->quantity_valid = true;
  ev->quantity_micro = micro;
  ev->from.id = ll_strdup(from);
  ev->from.usage = from_usage;
  ev->to.id = ll_strdup(to);
  ev->to.usage = to_usage;
}

/* The next message of product p; records its kind. */
static void stream_next(stream *s, product_model *p) {
  char id[64];
  size_t n = s->n;
  snprintf(id, sizeof id, "s-%zu", n);
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 4096;
    s->kinds = ll_xrealloc(s->kinds, s->cap);
  }
  ev_kind kind = EV_VALID;
  ll_event ev;
  const int64_t big = 1000 * LL_MICRO, a_to_b = 2500000, b_to_a = LL_MICRO,
                out = 125000;
  if (p->step == 0) {
    h_ev_create(&ev, id, p->product, p->lot, p->lot, LL_TRACK_LOT);
    stream_send_event(s, &ev, kind);
  } else if (p->step == 1) {
    move_event(&ev, id, p, big, "Vendors", LL_USAGE_SUPPLIER, "WH/A",
               LL_USAGE_INTERNAL);
    p->vendor -= big;
    p->a += big;
    stream_send_event(s, &ev, kind);
  } else if (n % 53 == 0) {
    char junk[64];
    int len = snprintf(junk, sizeof junk, "not avro %zu", n);
    kind = EV_MALFORMED;
    stream_send(s, p->product, junk, (size_t)len, kind);
  } else if (n % 37 == 0) {
    /* More than B holds: INSUFFICIENT_STOCK. */
    move_event(&ev, id, p, p->b + LL_MICRO, "WH/B", LL_USAGE_INTERNAL,
               "Customers/X", LL_USAGE_CUSTOMER);
    kind = EV_REJECTED;
    stream_send_event(s, &ev, kind);
  } else {
    int which = p->step % 3;
    if (which == 0 && p->a < a_to_b)
      which = 1;
    if (which == 1 && p->b < b_to_a)
      which = 0;
    if (which == 2 && p->a < out)
      which = 1;
    if (which == 0) {
      move_event(&ev, id, p, a_to_b, "WH/A", LL_USAGE_INTERNAL, "WH/B",
                 LL_USAGE_INTERNAL);
      p->a -= a_to_b;
      p->b += a_to_b;
    } else if (which == 1) {
      move_event(&ev, id, p, b_to_a, "WH/B", LL_USAGE_INTERNAL, "WH/A",
                 LL_USAGE_INTERNAL);
      p->b -= b_to_a;
      p->a += b_to_a;
    } else {
      move_event(&ev, id, p, out, "WH/A", LL_USAGE_INTERNAL, "Customers/X",
                 LL_USAGE_CUSTOMER);
      p->a -= out;
      p->customer += out;
    }
    stream_send_event(s, &ev, kind);
  }
  p->step++;
  s->kinds[s->n++] = (uint8_t)kind;
  if (kind == EV_VALID)
    s->valid++;
  else if (kind == EV_REJECTED)
    s->rejected++;
  else
    s->malformed++;
}

static void *stream_main(void *arg) {
  stream *s = arg;
  size_t next_product = 0;
  int64_t next_burst = mono_ms();
  while (!atomic_load(&s->stop)) {
    for (int i = 0; i < STREAM_BURST; i++) {
      stream_next(s, &s->products[next_product]);
      next_product = (next_product + 1) % PRODUCTS;
    }
    /* A steady rate, whatever Kafka does: serve delivery reports until the
     * next burst is due. */
    next_burst += STREAM_BURST_MS;
    int64_t now;
    do {
      now = mono_ms();
      rd_kafka_poll(s->rk, now < next_burst ? (int)(next_burst - now) : 0);
    } while (now < next_burst);
  }
  return NULL;
}

static void stream_start(stream *s, ll_codec *codec, const char *brokers) {
  char errstr[256];
  memset(s, 0, sizeof *s);
  s->codec = codec;
  for (int i = 0; i < PRODUCTS; i++) {
    snprintf(s->products[i].product, sizeof s->products[i].product, "FP%d", i);
    snprintf(s->products[i].lot, sizeof s->products[i].lot, "FL%d", i);
  }
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  const char *settings[][2] = {
      {"bootstrap.servers", brokers},
      {"enable.idempotence", "true"},
      {"linger.ms", "5"},
      {"max.in.flight.requests.per.connection", MAX_IN_FLIGHT},
      {"client.id", "faults-stream"},
      {"partitioner", "murmur2_random"}};
  for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
    assert_int_equal(rd_kafka_conf_set(conf, settings[i][0], settings[i][1],
                                       errstr, sizeof errstr),
                     RD_KAFKA_CONF_OK);
  rd_kafka_conf_set_dr_msg_cb(conf, on_stream_delivery);
  rd_kafka_conf_set_opaque(conf, s);
  s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  assert_non_null(s->rk);
  assert_int_equal(pthread_create(&s->thread, NULL, stream_main, s), 0);
  s->started = true;
}

/* Stop producing and wait until Kafka has acknowledged everything. */
static void stream_finish(stream *s) {
  atomic_store(&s->stop, true);
  pthread_join(s->thread, NULL);
  s->started = false;
  assert_int_equal(rd_kafka_flush(s->rk, DRAIN_TIMEOUT_MS), 0);
  rd_kafka_destroy(s->rk);
  s->rk = NULL;
  assert_int_equal(atomic_load(&s->delivery_failures), 0);
  assert_int_equal(atomic_load(&s->delivered_all), (long)s->n);
}

/* ---------------------------------------------------------------------
 * The API writer: one unit received into lot AL per request, each with its
 * own Idempotency-Key, retried with the same key until it is accepted. */

#define API_PRODUCT "AP"
#define API_LOT "AL"
#define API_MOVE_BODY                                                          \
  "{\"product_id\":\"" API_PRODUCT "\",\"lot_id\":\"" API_LOT                  \
  "\",\"quantity\":\"1\",\"from\":{\"id\":\"Vendors\",\"usage\":"              \
  "\"SUPPLIER\"},\"to\":{\"id\":\"WH/Stock\",\"usage\":\"INTERNAL\"}}"

typedef struct api_writer {
  const char *http;
  pthread_t thread;
  atomic_bool stop;
  atomic_long accepted;    /* keys answered 201 */
  atomic_long unavailable; /* 503 answers (then retried) */
  atomic_bool failed;
  bool started;
  char failure[512];
} api_writer;

/* POST one move with `key` until 201; false (with why) if it never is. */
static bool api_move(const char *http, const char *key, atomic_long *n503,
                     char *why, size_t why_len) {
  char header[128];
  snprintf(header, sizeof header, "Idempotency-Key: %s", key);
  int64_t deadline = mono_ms() + API_KEY_DEADLINE_MS;
  for (;;) {
    json_t *j = NULL;
    int st = h_http("POST", http, "/v1/moves", API_MOVE_BODY, header, &j);
    if (st == 201) {
      json_decref(j);
      return true;
    }
    char *text = j ? json_dumps(j, 0) : NULL;
    json_decref(j);
    if (st != 503 || mono_ms() > deadline) {
      snprintf(why, why_len, "POST /v1/moves (%s) answered %d: %s", key, st,
               text ? text : "(no JSON)");
      free(text);
      return false;
    }
    free(text);
    if (n503)
      atomic_fetch_add(n503, 1);
    sleep_ms(100);
  }
}

static void *api_main(void *arg) {
  api_writer *w = arg;
  for (long n = 0; !atomic_load(&w->stop); n++) {
    char key[64];
    snprintf(key, sizeof key, "api-%ld", n);
    if (!api_move(w->http, key, &w->unavailable, w->failure,
                  sizeof w->failure)) {
      atomic_store(&w->failed, true);
      return NULL;
    }
    atomic_fetch_add(&w->accepted, 1);
    sleep_ms(50);
  }
  return NULL;
}

/* ---------------------------------------------------------------------
 * Observing lotlined. */

static long log_position(const char *http) {
  return h_metric(http, "lotline_log_position");
}

/* A set of input positions: partition << 40 | offset. */
typedef struct keyset {
  int64_t *k;
  size_t n, cap;
} keyset;

typedef struct fixture {
  ll_codec *codec;
  ll_broker *broker;
  rd_kafka_mock_cluster_t *mock;
  char *dir;
  h_proc daemon;
  char *http;
  stream s;
  api_writer w;
  long extra_api_units;     /* accepted writes made by the main thread */
  long api_creates;         /* accepted POST /v1/lots */
  keyset stored_rejections; /* input positions, sorted (check_log) */
  keyset stored_sequences;  /* the same rejections' sequences, unsorted */
  keyset stored_inputs;     /* and their input positions, in that order */
  bool passed;
} fixture;

static fixture fx;

/* Wait until the log holds at least `want` events. */
static void wait_log_at_least(long want, const char *after) {
  int64_t t0 = mono_ms();
  long pos = -1;
  while (mono_ms() - t0 < RECOVER_TIMEOUT_MS) {
    pos = log_position(fx.http);
    if (pos >= want) {
      printf("  [%s] consumer caught up (%ld events in the log) in %lld ms\n",
             after, pos, (long long)(mono_ms() - t0));
      return;
    }
    sleep_ms(50);
  }
  h_dump_log(&fx.daemon);
  fail_msg("after %s the log stayed at %ld events, %ld delivered", after, pos,
           want);
}

/* Wait until the API writer has had `more` requests accepted. */
static void wait_api_progress(long more, const char *after) {
  long from = atomic_load(&fx.w.accepted);
  int64_t t0 = mono_ms();
  while (mono_ms() - t0 < RECOVER_TIMEOUT_MS) {
    if (atomic_load(&fx.w.failed))
      fail_msg("API writer: %s", fx.w.failure);
    if (atomic_load(&fx.w.accepted) >= from + more) {
      printf("  [%s] API writes accepted again after %lld ms\n", after,
             (long long)(mono_ms() - t0));
      return;
    }
    sleep_ms(20);
  }
  h_dump_log(&fx.daemon);
  fail_msg("after %s the API accepted no write for %d ms", after,
           RECOVER_TIMEOUT_MS);
}

/* The consumer and the API work again after a fault. */
static void expect_recovery(const char *phase) {
  /* Events the stream had delivered by now, plus what the API wrote. */
  long want = atomic_load(&fx.s.delivered_valid) + atomic_load(&fx.w.accepted) +
              fx.api_creates + fx.extra_api_units;
  wait_log_at_least(want, phase);
  wait_api_progress(3, phase);
}

/* Traffic flows through the leaders as they are now: the stream gets a
 * new event acknowledged (its producer found the leader), then the
 * consumer and the API catch up as after any fault. */
static void expect_flow(const char *phase) {
  long from = atomic_load(&fx.s.delivered_valid);
  int64_t t0 = mono_ms();
  while (atomic_load(&fx.s.delivered_valid) <= from) {
    if (mono_ms() - t0 > RECOVER_TIMEOUT_MS) {
      h_dump_log(&fx.daemon);
      fail_msg("%s: the stream got no event acknowledged for %d ms", phase,
               RECOVER_TIMEOUT_MS);
    }
    sleep_ms(20);
  }
  expect_recovery(phase);
}

/* ---------------------------------------------------------------------
 * Faults. Every partition is led by broker `leader`, and the group's
 * coordinator is broker 1, so errors pushed on one broker reach the
 * requests they are meant for. */

static void set_leaders(int32_t leader) {
  for (size_t t = 0; t < TOPIC_COUNT; t++)
    for (int32_t p = 0; p < PARTITIONS; p++)
      assert_int_equal(rd_kafka_mock_partition_set_leader(
                           fx.mock, topic_names[t], p, leader),
                       RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* Push errors (each answered without delay) on a broker's stack. */
static void push_errors(int32_t broker, int16_t api_key,
                        const rd_kafka_resp_err_t *errs, size_t n) {
  for (size_t i = 0; i < n; i++)
    assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
                         fx.mock, broker, api_key, 1, errs[i], 0),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* Wait until a broker has answered every error pushed for api_key. */
static void wait_drained(int32_t broker, int16_t api_key, const char *phase) {
  int64_t t0 = mono_ms();
  size_t left = 1;
  while (mono_ms() - t0 < RECOVER_TIMEOUT_MS) {
    assert_int_equal(
        rd_kafka_mock_broker_error_stack_cnt(fx.mock, broker, api_key, &left),
        RD_KAFKA_RESP_ERR_NO_ERROR);
    if (left == 0) {
      printf("  [%s] broker %d answered every injected error (ApiKey %d) "
             "within %lld ms\n",
             phase, broker, api_key, (long long)(mono_ms() - t0));
      return;
    }
    sleep_ms(20);
  }
  fail_msg("%s: %zu injected error(s) for ApiKey %d never requested", phase,
           left, api_key);
}

static void phase_fetch(void) {
  const rd_kafka_resp_err_t errs[] = {
      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
      RD_KAFKA_RESP_ERR__TRANSPORT,
      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
      RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
      RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
      RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR,
      RD_KAFKA_RESP_ERR__TRANSPORT,
      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
  };
  printf("phase fetch: %zu Fetch errors\n", sizeof errs / sizeof errs[0]);
  push_errors(1, API_FETCH, errs, sizeof errs / sizeof errs[0]);
  wait_drained(1, API_FETCH, "fetch");
  expect_recovery("fetch");
}

static void phase_produce(void) {
  const rd_kafka_resp_err_t errs[] = {
      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
      RD_KAFKA_RESP_ERR__TRANSPORT,
      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
      RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
      RD_KAFKA_RESP_ERR__TRANSPORT,
      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
  };
  printf("phase produce: %zu Produce errors\n", sizeof errs / sizeof errs[0]);
  push_errors(1, API_PRODUCE, errs, sizeof errs / sizeof errs[0]);
  wait_drained(1, API_PRODUCE, "produce");
  /* The same errors for the rejections producer alone: lots.rejected led
   * by broker 2, which leads nothing else. */
  for (int32_t p = 0; p < PARTITIONS; p++)
    assert_int_equal(
        rd_kafka_mock_partition_set_leader(fx.mock, "lots.rejected", p, 2),
        RD_KAFKA_RESP_ERR_NO_ERROR);
  push_errors(2, API_PRODUCE, errs, sizeof errs / sizeof errs[0]);
  wait_drained(2, API_PRODUCE, "produce lots.rejected");
  set_leaders(1);
  expect_recovery("produce");
}

static void phase_offset_commit(void) {
  const rd_kafka_resp_err_t errs[] = {
      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
      RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
      RD_KAFKA_RESP_ERR__TRANSPORT,
      RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
      RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
      RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE,
  };
  printf("phase offsetcommit: %zu OffsetCommit errors\n",
         sizeof errs / sizeof errs[0]);
  push_errors(1, API_OFFSET_COMMIT, errs, sizeof errs / sizeof errs[0]);
  wait_drained(1, API_OFFSET_COMMIT, "offsetcommit");
  expect_recovery("offsetcommit");
}

static void phase_group(void) {
  /* A heartbeat error makes the consumer rejoin; the rejoin meets the
   * JoinGroup errors; then one more forced rebalance. */
  const rd_kafka_resp_err_t join[] = {
      RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
      RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
      RD_KAFKA_RESP_ERR__TRANSPORT,
  };
  const rd_kafka_resp_err_t beats[] = {
      RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
      RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID,
  };
  printf("phase group: %zu Heartbeat and %zu JoinGroup errors\n",
         sizeof beats / sizeof beats[0], sizeof join / sizeof join[0]);
  push_errors(1, API_JOIN_GROUP, join, sizeof join / sizeof join[0]);
  push_errors(1, API_HEARTBEAT, beats, sizeof beats / sizeof beats[0]);
  wait_drained(1, API_HEARTBEAT, "group");
  wait_drained(1, API_JOIN_GROUP, "group");
  expect_recovery("group");
}

/* After each move the clients must follow the new leader before the
 * next one: the producers write through it and the consumer fetches from
 * it (the mock answers a request to any other broker NOT_LEADER). */
static void phase_leaders(void) {
  printf("phase leaders: every partition's leader moves 1 -> 2 -> 3 -> 1\n");
  for (int32_t leader = 2; leader <= BROKERS + 1; leader++) {
    char phase[32];
    snprintf(phase, sizeof phase, "leaders -> %d",
             leader > BROKERS ? 1 : leader);
    set_leaders(leader > BROKERS ? 1 : leader);
    expect_flow(phase);
  }
}

static void phase_broker_down(void) {
  printf("phase broker-down: broker 2 leads everything, goes down, the "
         "partitions fail over to broker 3, broker 2 returns\n");
  set_leaders(2);
  expect_flow("broker-down: broker 2 leads"); /* the clients are on 2 */
  assert_int_equal(rd_kafka_mock_broker_set_down(fx.mock, 2),
                   RD_KAFKA_RESP_ERR_NO_ERROR);
  sleep_ms(HOLD_MS); /* the fault: the leader is gone */
  set_leaders(3);
  /* The failover must work while broker 2 is still down. */
  expect_flow("broker-down: failed over to 3");
  assert_int_equal(rd_kafka_mock_broker_set_up(fx.mock, 2),
                   RD_KAFKA_RESP_ERR_NO_ERROR);
  set_leaders(1);
  expect_recovery("broker-down");
}

/* Brokers answer late: a write's acknowledgement misses its deadline
 * although Kafka has the event. The client's retries with the same key
 * publish copies; every copy after the first must be a silent duplicate. */
static void phase_slow(void) {
  printf("phase slow: every broker answers %d ms late for %d ms\n", SLOW_RTT_MS,
         2 * HOLD_MS);
  for (int32_t b = 1; b <= BROKERS; b++)
    assert_int_equal(rd_kafka_mock_broker_set_rtt(fx.mock, b, SLOW_RTT_MS),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
  int64_t slow_at = mono_ms();
  json_t *j = NULL;
  int64_t t0 = mono_ms();
  int st = h_http("POST", fx.http, "/v1/moves", API_MOVE_BODY,
                  "Idempotency-Key: slow-1", &j);
  int64_t took = mono_ms() - t0;
  printf("  [slow] POST /v1/moves answered %d in %lld ms\n", st,
         (long long)took);
  assert_int_equal(st, 503);
  assert_true(took <= WRITE_TIMEOUT_MS + WRITE_503_SLACK_MS);
  json_decref(j);
  /* Retry while the brokers are still slow: more copies of slow-1. */
  for (int i = 0; i < 3; i++) {
    st = h_http("POST", fx.http, "/v1/moves", API_MOVE_BODY,
                "Idempotency-Key: slow-1", &j);
    json_decref(j);
    j = NULL;
    assert_true(st == 503 || st == 201);
  }
  int64_t held = mono_ms() - slow_at;
  if (held < 2 * HOLD_MS)
    sleep_ms((int)(2 * HOLD_MS - held));
  for (int32_t b = 1; b <= BROKERS; b++)
    assert_int_equal(rd_kafka_mock_broker_set_rtt(fx.mock, b, 0),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
  char why[512];
  if (!api_move(fx.http, "slow-1", NULL, why, sizeof why))
    fail_msg("after the brokers sped up: %s", why);
  fx.extra_api_units++;
  expect_recovery("slow");
}

static void phase_all_down(void) {
  printf("phase all-down: every broker down for %d ms\n", 2 * HOLD_MS);
  for (int32_t b = 1; b <= BROKERS; b++)
    assert_int_equal(rd_kafka_mock_broker_set_down(fx.mock, b),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
  int64_t down_at = mono_ms();
  /* Let the clients notice. */
  sleep_ms(500);
  /* A write now answers 503 with a JSON message, within its timeout. */
  const char *header = "Idempotency-Key: down-1";
  json_t *j = NULL;
  int64_t t0 = mono_ms();
  int st = h_http("POST", fx.http, "/v1/moves", API_MOVE_BODY, header, &j);
  int64_t took = mono_ms() - t0;
  char *text = j ? json_dumps(j, 0) : NULL;
  printf("  [all-down] POST /v1/moves answered %d in %lld ms: %s\n", st,
         (long long)took, text ? text : "(no JSON)");
  assert_int_equal(st, 503);
  assert_non_null(j);
  assert_string_equal(json_string_value(json_object_get(j, "code")),
                      "UNAVAILABLE");
  const char *msg = json_string_value(json_object_get(j, "message"));
  assert_non_null(msg);
  assert_non_null(strstr(msg, "Kafka"));
  /* The client is told how to retry safely. */
  assert_non_null(strstr(msg, "Idempotency-Key"));
  assert_true(took <= WRITE_TIMEOUT_MS + WRITE_503_SLACK_MS);
  free(text);
  json_decref(j);
  int64_t held = mono_ms() - down_at;
  if (held < 2 * HOLD_MS)
    sleep_ms((int)(2 * HOLD_MS - held));
  for (int32_t b = 1; b <= BROKERS; b++)
    assert_int_equal(rd_kafka_mock_broker_set_up(fx.mock, b),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
  /* The same request, retried, is accepted (once). */
  char why[512];
  t0 = mono_ms();
  if (!api_move(fx.http, "down-1", NULL, why, sizeof why))
    fail_msg("after the brokers returned: %s", why);
  printf("  [all-down] the retried write was accepted %lld ms after the "
         "brokers returned\n",
         (long long)(mono_ms() - t0));
  fx.extra_api_units++;
  expect_recovery("all-down");
}

/* ---------------------------------------------------------------------
 * The final accounting. */

static bool on_hand_is(json_t *j, const void *arg) {
  json_t *v = json_object_get(j, "on_hand");
  int64_t micro;
  return json_is_string(v) &&
         ll_decimal_parse(json_string_value(v), &micro) == LL_DEC_OK &&
         micro == *(const int64_t *)arg;
}

static int64_t location_micro(json_t *j, const char *location) {
  json_t *locs = json_object_get(j, "locations");
  size_t i;
  json_t *row;
  json_array_foreach(locs, i, row) {
    if (strcmp(json_string_value(json_object_get(row, "location")), location) ==
        0) {
      int64_t micro = 0;
      assert_int_equal(
          ll_decimal_parse(json_string_value(json_object_get(row, "quantity")),
                           &micro),
          LL_DEC_OK);
      return micro;
    }
  }
  return 0;
}

static void check_quantities(long api_units) {
  char path[128];
  for (int i = 0; i < PRODUCTS; i++) {
    const product_model *p = &fx.s.products[i];
    int64_t on_hand = p->a + p->b;
    snprintf(path, sizeof path, "/v1/lots/%s/locations?all=1", p->lot);
    json_t *j =
        h_http_wait(fx.http, path, on_hand_is, &on_hand, RECOVER_TIMEOUT_MS);
    assert_non_null(j);
    if (!on_hand_is(j, &on_hand)) {
      char *text = json_dumps(j, 0);
      fail_msg("lot %s: %s, expected on hand %lld micro", p->lot, text,
               (long long)on_hand);
    }
    assert_int_equal(location_micro(j, "WH/A"), p->a);
    assert_int_equal(location_micro(j, "WH/B"), p->b);
    assert_int_equal(location_micro(j, "Customers/X"), p->customer);
    assert_int_equal(location_micro(j, "Vendors"), p->vendor);
    json_decref(j);
  }
  int64_t api_on_hand = api_units * LL_MICRO;
  snprintf(path, sizeof path, "/v1/lots/%s/locations", API_LOT);
  json_t *j =
      h_http_wait(fx.http, path, on_hand_is, &api_on_hand, RECOVER_TIMEOUT_MS);
  assert_non_null(j);
  if (!on_hand_is(j, &api_on_hand)) {
    char *text = json_dumps(j, 0);
    fail_msg("lot %s: %s, expected %ld units", API_LOT, text, api_units);
  }
  json_decref(j);
  printf("quantities: %d streamed lots and the API lot (%ld units) match the "
         "model\n",
         PRODUCTS, api_units);
}

/* Input positions: partition << 40 | offset. */
static int64_t input_key(int32_t partition, int64_t offset) {
  return ((int64_t)partition << 40) | offset;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static void keyset_add(keyset *s, int64_t k) {
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 256;
    s->k = ll_xrealloc(s->k, s->cap * sizeof *s->k);
  }
  s->k[s->n++] = k;
}

/* Sorts; fails if a position is there twice. */
static void keyset_sort_unique(keyset *s, const char *what) {
  if (s->n > 0)
    qsort(s->k, s->n, sizeof *s->k, cmp_i64);
  for (size_t i = 1; i < s->n; i++)
    if (s->k[i] == s->k[i - 1])
      fail_msg("%s: input partition %lld offset %lld appears twice", what,
               (long long)(s->k[i] >> 40), (long long)(s->k[i] & 0xFFFFFFFFFF));
}

/* Fails, naming the differences, unless both sorted sets are equal. */
static void keyset_expect_equal(const keyset *want, const keyset *got,
                                const char *what) {
  size_t i = 0, j = 0, shown = 0, diff = 0;
  while (i < want->n || j < got->n) {
    int64_t a = i < want->n ? want->k[i] : INT64_MAX;
    int64_t b = j < got->n ? got->k[j] : INT64_MAX;
    if (a == b) {
      i++, j++;
      continue;
    }
    int64_t k = a < b ? a : b;
    if (shown++ < 20)
      fprintf(stderr, "%s %s input partition %lld offset %lld\n", what,
              a < b ? "misses" : "has an extra", (long long)(k >> 40),
              (long long)(k & 0xFFFFFFFFFF));
    diff++;
    if (a < b)
      i++;
    else
      j++;
  }
  if (diff)
    fail_msg("%s: %zu difference(s) with what lotline had to reject", what,
             diff);
}

static void keyset_free(keyset *s) {
  free(s->k);
  memset(s, 0, sizeof *s);
}

/* Calls fn for every record of a topic, each partition from its first to
 * its last offset as of now. */
static void read_topic(const char *brokers, const char *topic,
                       void (*fn)(const rd_kafka_message_t *m, void *arg),
                       void *arg) {
  char why[512];
  if (h_read_topic(brokers, topic, RECOVER_TIMEOUT_MS, fn, arg, why,
                   sizeof why) != 0)
    fail_msg("%s", why);
}

/* What lotline had to reject, from lots.inbound as it is: every message
 * that is not Avro and the first copy of every event the rules reject. The
 * broker may hold a message twice (the mock does not deduplicate an
 * idempotent producer's retry after a lost response); a second copy of
 * bytes that are not Avro is rejected again (it is another input), a
 * second copy of an event is a silent duplicate. */
typedef struct inbound_scan {
  keyset want;
  uint8_t *seen; /* per stream event */
  long copies;   /* stream messages held more than once */
} inbound_scan;

static void on_inbound(const rd_kafka_message_t *m, void *arg) {
  inbound_scan *sc = arg;
  int64_t key = input_key(m->partition, m->offset);
  const char *junk = "not avro ";
  if (m->len > strlen(junk) && memcmp(m->payload, junk, strlen(junk)) == 0) {
    unsigned long k =
        strtoul((const char *)m->payload + strlen(junk), NULL, 10);
    assert_true(k < fx.s.n && fx.s.kinds[k] == EV_MALFORMED);
    if (sc->seen[k]++)
      sc->copies++;
    keyset_add(&sc->want, key);
    return;
  }
  ll_event ev;
  ll_err e;
  bool retry = false;
  ll_event_init(&ev);
  assert_int_equal(
      ll_codec_decode(fx.codec, m->payload, m->len, &ev, &retry, &e), LL_OK);
  if (strncmp(ev.event_id, "s-", 2) == 0) {
    unsigned long k = strtoul(ev.event_id + 2, NULL, 10);
    assert_true(k < fx.s.n);
    if (sc->seen[k]++)
      sc->copies++;
    else if (fx.s.kinds[k] == EV_REJECTED)
      keyset_add(&sc->want, key);
  }
  ll_event_free(&ev);
}

/* Every accepted event exactly once, in positions 1..N; every rejection
 * exactly once, at the input it rejects. */
static void check_log(const char *brokers, long api_units) {
  inbound_scan sc = {.seen = ll_xcalloc(fx.s.n ? fx.s.n : 1, 1)};
  read_topic(brokers, "lots.inbound", on_inbound, &sc);
  keyset_sort_unique(&sc.want, "lots.inbound");

  char path[600];
  snprintf(path, sizeof path, "%s/log", fx.dir);
  ll_err e;
  ll_store *st = ll_store_open(path, LL_STORE_PRIMARY, &e);
  if (!st)
    fail_msg("opening the log: %s: %s", ll_err_kind_name(e.kind), e.message);
  uint64_t last = ll_store_last_position(st);
  long want = fx.s.valid + api_units + fx.api_creates;
  uint8_t *seen = ll_xcalloc(fx.s.n ? fx.s.n : 1, 1);
  long api_seen = 0, creates_seen = 0;
  keyset inputs = {0};
  enum { CHUNK = 512 };
  ll_entry *entries = ll_xcalloc(CHUNK, sizeof *entries);
  uint64_t pos = 1;
  while (pos <= last) {
    size_t n = 0;
    if (ll_store_read_log(st, pos, entries, CHUNK, &n, &e) != 0)
      fail_msg("reading the log at %llu: %s: %s", (unsigned long long)pos,
               ll_err_kind_name(e.kind), e.message);
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++) {
      ll_entry *le = &entries[i];
      assert_int_equal(le->position, pos + i);
      keyset_add(&inputs, input_key(le->partition, le->offset));
      const char *id = le->event.event_id;
      char *end = NULL;
      if (strncmp(id, "s-", 2) == 0) {
        unsigned long k = strtoul(id + 2, &end, 10);
        if (*end || k >= fx.s.n || fx.s.kinds[k] != EV_VALID)
          fail_msg("position %llu holds %s, which should not be accepted",
                   (unsigned long long)le->position, id);
        if (seen[k]++)
          fail_msg("event %s is in the log twice", id);
      } else if (strcmp(le->event.product_id, API_PRODUCT) == 0) {
        if (le->event.type == LL_EV_LOT_CREATED)
          creates_seen++;
        else
          api_seen++;
      } else {
        fail_msg("unexpected event %s in the log", id);
      }
      ll_entry_free(le);
    }
    pos += n;
  }
  for (size_t k = 0; k < fx.s.n; k++)
    if (fx.s.kinds[k] == EV_VALID && !seen[k])
      fail_msg("event s-%zu was delivered but is not in the log", k);
  assert_int_equal(api_seen, api_units);
  assert_int_equal(creates_seen, fx.api_creates);
  assert_int_equal((long)last, want);
  keyset_sort_unique(&inputs, "log");
  printf("log: %llu events, each exactly once (%ld streamed, %ld API "
         "moves, %ld API create)\n",
         (unsigned long long)last, fx.s.valid, api_seen, creates_seen);

  size_t cap = sc.want.n + 64;
  ll_stored_rejection *rej = ll_xcalloc(cap, sizeof *rej);
  size_t n_rej = 0;
  if (ll_store_recent_rejections(st, cap, rej, &n_rej, &e) != 0)
    fail_msg("reading rejections: %s: %s", ll_err_kind_name(e.kind), e.message);
  long malformed = 0, insufficient = 0;
  for (size_t i = 0; i < n_rej; i++) {
    keyset_add(&fx.stored_rejections,
               input_key(rej[i].partition, rej[i].offset));
    keyset_add(&fx.stored_sequences, (int64_t)rej[i].sequence);
    keyset_add(&fx.stored_inputs, input_key(rej[i].partition, rej[i].offset));
    if (rej[i].code == LL_MALFORMED)
      malformed++;
    else if (rej[i].code == LL_INSUFFICIENT_STOCK)
      insufficient++;
    else
      fail_msg("unexpected rejection %s: %s", ll_code_name(rej[i].code),
               rej[i].message);
    ll_stored_rejection_free(&rej[i]);
  }
  keyset_sort_unique(&fx.stored_rejections, "stored rejections");
  keyset_expect_equal(&sc.want, &fx.stored_rejections, "stored rejections");
  printf("rejections: %zu stored, each exactly once (%ld MALFORMED, %ld "
         "INSUFFICIENT_STOCK); lots.inbound held %ld stream message(s) "
         "twice\n",
         n_rej, malformed, insufficient, sc.copies);
  free(rej);
  free(entries);
  keyset_free(&inputs);
  keyset_free(&sc.want);
  free(sc.seen);
  free(seen);
  ll_store_close(st);
}

/* lots.rejected: each stored rejection, none other. Two records for one
 * input must be the same bytes: a transport retry the mock broker did not
 * deduplicate (a real broker does, for an idempotent producer); different
 * bytes would mean the input was decided twice. */
typedef struct rejected_scan {
  keyset keys;
  uint64_t *hashes; /* parallel to keys, before sorting */
  keyset at;        /* parallel too: where each was read (partition,
                       offset of lots.rejected, as input_key makes them) */
  size_t cap;
} rejected_scan;

static uint64_t fnv64(const void *p, size_t n) {
  const uint8_t *b = p;
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 1099511628211ULL;
  }
  return h;
}

static void on_rejected(const rd_kafka_message_t *m, void *arg) {
  rejected_scan *sc = arg;
  ll_rejection r;
  ll_err e;
  memset(&r, 0, sizeof r);
  assert_int_equal(
      ll_codec_decode_rejection(fx.codec, m->payload, m->len, &r, &e), LL_OK);
  keyset_add(&sc->keys, input_key(r.partition, r.offset));
  keyset_add(&sc->at, input_key(m->partition, m->offset));
  if (sc->cap < sc->keys.cap) {
    sc->cap = sc->keys.cap;
    sc->hashes = ll_xrealloc(sc->hashes, sc->cap * sizeof *sc->hashes);
  }
  sc->hashes[sc->keys.n - 1] = fnv64(m->payload, m->len);
  ll_rejection_free(&r);
}

static bool keyset_has(const keyset *sorted, int64_t k) {
  size_t lo = 0, hi = sorted->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (sorted->k[mid] < k)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < sorted->n && sorted->k[lo] == k;
}

/* For a stored rejection lots.rejected does not hold: where lotline's
 * outbox was told Kafka put it (its debug line in lotlined.log), and what
 * was read at that place, so that a failure says whose it is. */
static void explain_one(const rejected_scan *sc, int64_t input, int64_t seq) {
  char path[700], want[64], line[512];
  snprintf(path, sizeof path, "%s/lotlined.log", fx.dir);
  snprintf(want, sizeof want, "rejection %lld is on ", (long long)seq);
  fprintf(stderr, "rejection %lld (input partition %lld offset %lld):\n",
          (long long)seq, (long long)(input >> 40),
          (long long)(input & 0xFFFFFFFFFF));
  FILE *f = fopen(path, "r");
  bool acked = false;
  while (f != NULL && fgets(line, sizeof line, f) != NULL) {
    char *at = strstr(line, want);
    char *bracket = at != NULL ? strchr(at + strlen(want), '[') : NULL;
    int part = -1;
    long long off = -1;
    if (bracket == NULL ||
        sscanf(bracket + 1, "%d] at offset %lld", &part, &off) != 2)
      continue;
    acked = true;
    fprintf(stderr, "  lotline: %s", at);
    int64_t where = input_key(part, off);
    bool read = false;
    for (size_t i = 0; i < sc->at.n; i++)
      if (sc->at.k[i] == where) {
        read = true;
        fprintf(stderr,
                "  read back there: the rejection of input partition %lld "
                "offset %lld\n",
                (long long)(sc->keys.k[i] >> 40),
                (long long)(sc->keys.k[i] & 0xFFFFFFFFFF));
      }
    if (!read)
      fprintf(stderr, "  nothing was read back at that place\n");
  }
  if (f != NULL)
    fclose(f);
  if (!acked)
    fprintf(stderr, "  lotline's log says no acknowledgement of it\n");
}

static void explain_unpublished(const rejected_scan *sc,
                                const keyset *distinct) {
  for (size_t i = 0; i < fx.stored_inputs.n; i++)
    if (!keyset_has(distinct, fx.stored_inputs.k[i]))
      explain_one(sc, fx.stored_inputs.k[i], fx.stored_sequences.k[i]);
}

static void check_rejected_topic(const char *brokers) {
  rejected_scan sc = {0};
  read_topic(brokers, "lots.rejected", on_rejected, &sc);
  /* Sort (key, hash) pairs together, then fold identical copies. */
  typedef struct pair {
    int64_t key;
    uint64_t hash;
  } pair;
  pair *pairs = ll_xcalloc(sc.keys.n ? sc.keys.n : 1, sizeof *pairs);
  for (size_t i = 0; i < sc.keys.n; i++)
    pairs[i] = (pair){sc.keys.k[i], sc.hashes[i]};
  if (sc.keys.n > 0)
    qsort(pairs, sc.keys.n, sizeof *pairs, cmp_i64); /* key is first */
  keyset distinct = {0};
  long copies = 0;
  for (size_t i = 0; i < sc.keys.n; i++) {
    if (i > 0 && pairs[i].key == pairs[i - 1].key) {
      if (pairs[i].hash != pairs[i - 1].hash)
        fail_msg("lots.rejected holds two different rejections of input "
                 "partition %lld offset %lld",
                 (long long)(pairs[i].key >> 40),
                 (long long)(pairs[i].key & 0xFFFFFFFFFF));
      copies++;
      continue;
    }
    keyset_add(&distinct, pairs[i].key);
  }
  explain_unpublished(&sc, &distinct);
  keyset_expect_equal(&fx.stored_rejections, &distinct, "lots.rejected");
  printf("lots.rejected: %zu rejections, each published once (%ld "
         "transport copies)\n",
         distinct.n, copies);
  keyset_free(&distinct);
  keyset_free(&sc.keys);
  keyset_free(&sc.at);
  free(sc.hashes);
  free(pairs);
}

/* ---------------------------------------------------------------------
 * The test. */

/* `lotlined all` on the mock cluster, in fx.dir; fx.http once it serves. */
static void start_daemon(const char *brokers) {
  fx.dir = h_tempdir("faults");
  char bin[512], log[600], timeout[64];
  snprintf(log, sizeof log, "%s/lotlined.log", fx.dir);
  snprintf(timeout, sizeof timeout, "write.timeout.ms=%d", WRITE_TIMEOUT_MS);
  /* The mock group coordinator waits session.timeout.ms - 1 s before it
   * completes a rebalance (a real broker completes it once every member
   * has rejoined): a short session keeps the group phase short. At debug
   * level the outbox names where Kafka put each rejection, which a failed
   * lots.rejected check prints (explain_unpublished). */
  const char *argv[] = {
      h_bin("lotlined", bin, sizeof bin),
      "all",
      "--data",
      fx.dir,
      "--brokers",
      brokers,
      "--http",
      "127.0.0.1:0",
      "--set",
      timeout,
      "--set",
      "kafka.session.timeout.ms=" SESSION_TIMEOUT_MS,
      "--set",
      "kafka.heartbeat.interval.ms=" HEARTBEAT_INTERVAL_MS,
      "--set",
      "kafka.max.in.flight.requests.per.connection=" MAX_IN_FLIGHT,
      "--log-level",
      "debug",
      NULL,
      NULL,
      NULL};
  /* FAULTS_KAFKA_DEBUG=eos,msg (say) turns on librdkafka's debug logs. */
  char debug[128];
  const char *dbg = getenv("FAULTS_KAFKA_DEBUG");
  if (dbg && *dbg) {
    snprintf(debug, sizeof debug, "kafka.debug=%s", dbg);
    argv[sizeof argv / sizeof argv[0] - 3] = "--set";
    argv[sizeof argv / sizeof argv[0] - 2] = debug;
  }
  fx.daemon = h_spawn(log, argv);
  fx.http = h_wait_file(fx.dir, "http.addr", START_TIMEOUT_MS);
  if (!fx.http) {
    h_dump_log(&fx.daemon);
    fail_msg("lotlined did not start");
  }
}

/* The lot the API writer moves. */
static void create_api_lot(void) {
  json_t *j = NULL;
  int st = -1;
  for (int i = 0; i < 100 && st != 201; i++) {
    json_decref(j);
    j = NULL;
    st = h_http("POST", fx.http, "/v1/lots",
                "{\"lot_id\":\"" API_LOT "\",\"product_id\":\"" API_PRODUCT
                "\",\"name\":\"API-LOT\",\"tracking\":\"LOT\"}",
                "Idempotency-Key: api-create", &j);
    if (st == 503)
      sleep_ms(200); /* the consumer may still be joining the group */
  }
  json_decref(j);
  assert_int_equal(st, 201);
  fx.api_creates = 1;
}

/* Both writers stopped; everything decided, published and checked. */
static void finish_and_account(const char *brokers) {
  stream_finish(&fx.s);
  atomic_store(&fx.w.stop, true);
  pthread_join(fx.w.thread, NULL);
  fx.w.started = false;
  if (atomic_load(&fx.w.failed))
    fail_msg("API writer: %s", fx.w.failure);
  long api_units = atomic_load(&fx.w.accepted) + fx.extra_api_units;
  printf("streamed %zu messages (%ld valid, %ld rejected by rules, %ld "
         "malformed); API: %ld moves accepted, %ld 503 answers retried\n",
         fx.s.n, fx.s.valid, fx.s.rejected, fx.s.malformed, api_units,
         atomic_load(&fx.w.unavailable));

  /* Everything is decided: the log reaches exactly the expected size and
   * stays there. */
  long want = fx.s.valid + api_units + fx.api_creates;
  wait_log_at_least(want, "end");
  check_quantities(api_units);
  sleep_ms(1000);
  assert_int_equal(log_position(fx.http), want);
  /* lotline says when every rejection is on lots.rejected. */
  int64_t t_pub = mono_ms();
  long unpublished = -1;
  while ((unpublished = h_metric(fx.http, "lotline_rejections_unpublished")) !=
             0 &&
         mono_ms() - t_pub < RECOVER_TIMEOUT_MS)
    sleep_ms(50);
  if (unpublished != 0)
    fail_msg("lotline_rejections_unpublished is %ld after %d ms", unpublished,
             RECOVER_TIMEOUT_MS);

  int rc = h_stop(&fx.daemon, STOP_TIMEOUT_MS);
  if (rc != 0)
    h_dump_log(&fx.daemon);
  assert_int_equal(rc, 0);
  check_log(brokers, api_units);
  check_rejected_topic(brokers);
}

static void test_broker_faults(void **state) {
  (void)state;
  ll_err e;
  fx.codec = ll_codec_open(getenv("LOTLINE_SCHEMAS"), NULL, &e);
  if (!fx.codec)
    fail_msg("codec: %s: %s", ll_err_kind_name(e.kind), e.message);
  ll_topics topics = {topic_names[0], topic_names[1], topic_names[2],
                      topic_names[3]};
  topics.changelog = "lots.changelog"; /* lotlined checks it exists */
  fx.broker = ll_broker_start(&topics, BROKERS, PARTITIONS, &e);
  if (!fx.broker)
    fail_msg("broker: %s: %s", ll_err_kind_name(e.kind), e.message);
  fx.mock = ll_broker_mock_cluster(fx.broker);
  set_leaders(1);
  assert_int_equal(
      rd_kafka_mock_coordinator_set(fx.mock, "group", "lotline", 1), 0);
  const char *brokers = ll_broker_bootstraps(fx.broker);
  start_daemon(brokers);
  create_api_lot();
  stream_start(&fx.s, fx.codec, brokers);
  fx.w.http = fx.http;
  assert_int_equal(pthread_create(&fx.w.thread, NULL, api_main, &fx.w), 0);
  fx.w.started = true;
  expect_recovery("start");

  int64_t t0 = mono_ms();
  phase_fetch();
  phase_produce();
  phase_offset_commit();
  phase_group();
  phase_leaders();
  phase_broker_down();
  phase_slow();
  phase_all_down();
  printf("all phases done in %lld ms\n", (long long)(mono_ms() - t0));
  finish_and_account(brokers);
  fx.passed = true;
}

/* Runs after a failure too: no process or thread outlives the test. */
static int teardown(void **state) {
  (void)state;
  if (fx.daemon.pid > 0) {
    h_dump_log(&fx.daemon);
    h_kill9(&fx.daemon); /* the API writer's next request fails at once */
  }
  if (fx.w.started) {
    atomic_store(&fx.w.stop, true);
    pthread_join(fx.w.thread, NULL);
  }
  if (fx.s.started) {
    atomic_store(&fx.s.stop, true);
    pthread_join(fx.s.thread, NULL);
  }
  if (fx.s.rk)
    rd_kafka_destroy(fx.s.rk);
  free(fx.s.kinds);
  keyset_free(&fx.stored_rejections);
  keyset_free(&fx.stored_sequences);
  keyset_free(&fx.stored_inputs);
  free(fx.http);
  if (fx.broker)
    ll_broker_stop(fx.broker);
  if (fx.codec)
    ll_codec_close(fx.codec);
  if (fx.dir && fx.passed)
    h_rmrf(fx.dir);
  else if (fx.dir)
    fprintf(stderr, "kept %s for a look\n", fx.dir);
  free(fx.dir);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_broker_faults, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
