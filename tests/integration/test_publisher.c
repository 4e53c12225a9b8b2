/* test_publisher.c — the downstream publisher against the embedded broker,
 * in-process, with crashes placed exactly where they hurt.
 *
 * Each test writes a log (LotCreated and StockMoved events appended straight
 * to a log store), runs the publisher on a thread until it has published
 * the whole log, reads lots.events and lots.quantities back with a plain
 * librdkafka consumer, and checks the promise of publisher.c:
 *   - every log position once in lots.events, with its event, header and
 *     key; per partition in increasing order;
 *   - every move's two quantity records with the quantity after the move;
 *     the last record per key equals the quantities computed here;
 *   - restarts (clean, crash after the Kafka commit, crash mid-transaction,
 *     a partly visible transaction, a new cluster) skip nothing, and repeat
 *     only what the design allows. */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "ll_codec.h"
#include "ll_decimal.h"
#include "ll_event.h"
#include "ll_kafka.h"
#include "ll_logging.h"
#include "ll_store.h"
#include "ll_time.h"
#include "publisher.h"
#include "publisher_state.h"

#define PARTITIONS 4
#define PRODUCTS 3
#define LOTS_PER_PRODUCT 4
#define RECORDS_MAX 20000
#define WAIT_MS 30000

static const ll_topics topics = {.inbound = "lots.inbound",
                                 .events = "lots.events",
                                 .rejected = "lots.rejected",
                                 .quantities = "lots.quantities"};

typedef struct fixture {
  char *dir;
  char state_dir[512];
  ll_broker *broker;
  ll_store *log;
  ll_codec *codec;
  ll_config cfg;
  uint64_t moves_seq;
} fixture;

/* ---- the log ---- */

static void append(fixture *f, ll_event *ev) {
  ll_err e;
  ll_store_batch *b = ll_store_batch_begin(f->log);
  ll_input in = {.topic = "test", .partition = -1, .offset = -1};
  ll_store_batch_append(b, ev, &in, ll_now_ms());
  assert_int_equal(ll_store_batch_commit(b, false, &e), 0);
  ll_event_free(ev);
}

static void product_name(char *out, size_t n, int product) {
  snprintf(out, n, "PROD-%d", product);
}

static void lot_name(char *out, size_t n, int product, int lot) {
  snprintf(out, n, "LOT-%d-%d", product, lot);
}

/* Lots of every product, each received from a vendor into stock. */
static void write_lots(fixture *f) {
  char product[32], lot[32], id[64];
  for (int p = 0; p < PRODUCTS; p++) {
    for (int l = 0; l < LOTS_PER_PRODUCT; l++) {
      ll_event ev;
      product_name(product, sizeof product, p);
      lot_name(lot, sizeof lot, p, l);
      snprintf(id, sizeof id, "c-%s", lot);
      h_ev_create(&ev, id, product, lot, lot, LL_TRACK_LOT);
      append(f, &ev);
      snprintf(id, sizeof id, "r-%s", lot);
      h_ev_move(&ev, id, product, lot, "100", "Vendors/Acme", LL_USAGE_SUPPLIER,
                "WH/Stock", LL_USAGE_INTERNAL);
      append(f, &ev);
    }
  }
}

/* `count` moves that shuffle 1.5 units between shelves and deliver some. */
static void write_moves(fixture *f, int count) {
  char product[32], lot[32], id[64];
  for (int i = 0; i < count; i++) {
    uint64_t k = f->moves_seq++;
    int p = (int)(k % PRODUCTS), l = (int)((k / PRODUCTS) % LOTS_PER_PRODUCT);
    product_name(product, sizeof product, p);
    lot_name(lot, sizeof lot, p, l);
    snprintf(id, sizeof id, "m-%" PRIu64, k);
    ll_event ev;
    if (k % 5 == 4)
      h_ev_move(&ev, id, product, lot, "0.25", "WH/Stock", LL_USAGE_INTERNAL,
                "Customers/Bob", LL_USAGE_CUSTOMER);
    else if (k % 2 == 0)
      h_ev_move(&ev, id, product, lot, "1.5", "WH/Stock", LL_USAGE_INTERNAL,
                "WH/Stock/Shelf-2", LL_USAGE_INTERNAL);
    else
      h_ev_move(&ev, id, product, lot, "1.5", "WH/Stock/Shelf-2",
                LL_USAGE_INTERNAL, "WH/Stock", LL_USAGE_INTERNAL);
    append(f, &ev);
  }
}

/* ---- running the publisher ---- */

typedef struct crash_plan {
  ll_publisher_point point;
  int at_call; /* crash on this call at `point` (1-based); 0 = never */
  atomic_int calls;
} crash_plan;

static bool crash_cb(void *ctx, ll_publisher_point point, uint64_t last) {
  (void)last;
  crash_plan *c = ctx;
  if (point != c->point)
    return false;
  return atomic_fetch_add(&c->calls, 1) + 1 == c->at_call;
}

typedef struct runner {
  ll_publisher *p;
  pthread_t thread;
  volatile sig_atomic_t stop;
  int rc;
  ll_err err;
} runner;

static void *run_thread(void *arg) {
  runner *r = arg;
  r->rc = ll_publisher_run(r->p, &r->stop, &r->err);
  return NULL;
}

static ll_publisher *new_publisher(fixture *f, const char *brokers, int batch,
                                   crash_plan *crash) {
  ll_err e;
  ll_publisher_opts o = {.cfg = &f->cfg,
                         .brokers = brokers,
                         .state_dir = f->state_dir,
                         .log = f->log,
                         .codec = f->codec,
                         .topics = topics,
                         .transactional_id = "test-publisher",
                         .batch_max_events = batch,
                         .crash = crash ? crash_cb : NULL,
                         .crash_ctx = crash};
  ll_publisher *p = ll_publisher_new(&o, &e);
  if (p == NULL)
    fail_msg("ll_publisher_new: %s", e.message);
  return p;
}

/* Run until the whole log is published (returns 0) or the publisher stops
 * by itself (returns its rc: a simulated crash). */
static int publish_all(fixture *f, const char *brokers, int batch,
                       crash_plan *crash, ll_publisher_stats *stats_out) {
  runner r = {.p = new_publisher(f, brokers, batch, crash), .rc = 0};
  assert_int_equal(pthread_create(&r.thread, NULL, run_thread, &r), 0);
  const ll_publisher_stats *st = ll_publisher_get_stats(r.p);
  uint64_t want = ll_store_last_position(f->log);
  uint64_t deadline = ll_mono_ns() + (uint64_t)WAIT_MS * 1000000ULL;
  bool crashed = false;
  while (atomic_load(&st->position) < want && ll_mono_ns() < deadline) {
    if (crash != NULL && crash->at_call > 0 &&
        atomic_load(&crash->calls) >= crash->at_call) {
      crashed = true;
      break;
    }
    usleep(10 * 1000);
  }
  if (!crashed && atomic_load(&st->position) < want) {
    r.stop = 1;
    pthread_join(r.thread, NULL);
    fail_msg("published up to %" PRIu64 " of %" PRIu64 " (rc %d: %s)",
             (uint64_t)atomic_load(&st->position), want, r.rc, r.err.message);
  }
  r.stop = 1;
  pthread_join(r.thread, NULL);
  if (stats_out != NULL) {
    atomic_store(&stats_out->position, atomic_load(&st->position));
    atomic_store(&stats_out->recovered, atomic_load(&st->recovered));
    atomic_store(&stats_out->republished, atomic_load(&st->republished));
    atomic_store(&stats_out->transactions, atomic_load(&st->transactions));
  }
  int rc = r.rc;
  if (!crashed)
    assert_int_equal(rc, 0);
  else
    assert_int_equal(rc, -1);
  ll_publisher_free(r.p);
  return rc;
}

/* ---- reading the topics back ---- */

typedef struct record {
  int topic; /* PUB_TOPIC_* */
  int32_t partition;
  int64_t offset;
  uint64_t position;
  char *key;
  size_t key_len;
  uint8_t *value;
  size_t value_len;
} record;

typedef struct records {
  record *r;
  size_t n;
} records;

static void records_free(records *rs) {
  for (size_t i = 0; i < rs->n; i++) {
    free(rs->r[i].key);
    free(rs->r[i].value);
  }
  free(rs->r);
  rs->r = NULL;
  rs->n = 0;
}

static uint64_t header_position(const rd_kafka_message_t *m) {
  rd_kafka_headers_t *h = NULL;
  const void *v = NULL;
  size_t n = 0;
  if (rd_kafka_message_headers(m, &h) ||
      rd_kafka_header_get_last(h, LL_POSITION_HEADER, &v, &n) || n == 0 ||
      n > 20)
    return 0;
  char buf[24];
  memcpy(buf, v, n);
  buf[n] = '\0';
  return strtoull(buf, NULL, 10);
}

/* Everything in both topics, in (topic, partition, offset) order. */
static records read_topics(const char *brokers) {
  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr);
  rd_kafka_conf_set(conf, "group.id", "test-reader", errstr, sizeof errstr);
  rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr,
                    sizeof errstr);
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof errstr);
  rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  assert_non_null(c);
  rd_kafka_topic_partition_list_t *l =
      rd_kafka_topic_partition_list_new(2 * PARTITIONS);
  int pending = 0;
  for (int t = 0; t < 2; t++) {
    for (int q = 0; q < PARTITIONS; q++) {
      int64_t lo = 0, hi = 0;
      assert_int_equal(
          rd_kafka_query_watermark_offsets(
              c, t == 0 ? topics.events : topics.quantities, q, &lo, &hi, 5000),
          0);
      if (hi > lo) {
        rd_kafka_topic_partition_list_add(
            l, t == 0 ? topics.events : topics.quantities, q)
            ->offset = RD_KAFKA_OFFSET_BEGINNING;
        pending++;
      }
    }
  }
  records rs = {.r = calloc(RECORDS_MAX, sizeof(record)), .n = 0};
  if (pending > 0)
    assert_int_equal(rd_kafka_assign(c, l), 0);
  rd_kafka_topic_partition_list_destroy(l);
  uint64_t deadline = ll_mono_ns() + (uint64_t)WAIT_MS * 1000000ULL;
  while (pending > 0 && ll_mono_ns() < deadline) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
    if (m == NULL)
      continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      pending--;
    } else if (m->err == 0) {
      assert_true(rs.n < RECORDS_MAX);
      record *r = &rs.r[rs.n++];
      r->topic =
          strcmp(rd_kafka_topic_name(m->rkt), topics.events) == 0 ? 0 : 1;
      r->partition = m->partition;
      r->offset = m->offset;
      r->position = header_position(m);
      r->key_len = m->key_len;
      r->key = calloc(1, m->key_len + 1);
      memcpy(r->key, m->key, m->key_len);
      r->value_len = m->len;
      r->value = malloc(m->len);
      memcpy(r->value, m->payload, m->len);
    }
    rd_kafka_message_destroy(m);
  }
  assert_int_equal(pending, 0);
  rd_kafka_consumer_close(c);
  rd_kafka_destroy(c);
  return rs;
}

/* ---- the checks ---- */

typedef struct expected_qty {
  char key[128];
  int64_t quantity;
  uint64_t position;
} expected_qty;

/* What the quantities must be after the whole log, per key. */
static size_t expected_quantities(fixture *f, expected_qty *out, size_t max) {
  size_t n = 0;
  uint64_t last = ll_store_last_position(f->log);
  ll_entry e;
  ll_err err;
  for (uint64_t pos = 1; pos <= last; pos++) {
    size_t got = 0;
    assert_int_equal(ll_store_read_log(f->log, pos, &e, 1, &got, &err), 0);
    assert_int_equal(got, 1);
    if (e.event.type == LL_EV_STOCK_MOVED) {
      for (int side = 0; side < 2; side++) {
        const char *loc = side == 0 ? e.event.from.id : e.event.to.id;
        int64_t delta =
            side == 0 ? -e.event.quantity_micro : e.event.quantity_micro;
        char key[128];
        snprintf(key, sizeof key, "%s\x1f%s\x1f%s", e.event.product_id,
                 e.event.lot_id, loc);
        size_t i = 0;
        while (i < n && strcmp(out[i].key, key) != 0)
          i++;
        if (i == n) {
          assert_true(n < max);
          memset(&out[n], 0, sizeof out[n]);
          snprintf(out[n].key, sizeof out[n].key, "%s", key);
          n++;
        }
        out[i].quantity += delta;
        out[i].position = pos;
      }
    }
    ll_entry_free(&e);
  }
  return n;
}

typedef struct check_result {
  size_t duplicates; /* records repeated (both topics) */
  uint64_t dup_min, dup_max;
} check_result;

/* The promise: complete, in order per partition, repeats identical and
 * never above what the partition already showed. */
static check_result check_topics(fixture *f, const char *brokers) {
  check_result res = {.duplicates = 0, .dup_min = UINT64_MAX, .dup_max = 0};
  records rs = read_topics(brokers);
  uint64_t last = ll_store_last_position(f->log);
  size_t *seen = calloc(last + 1, sizeof *seen);
  uint64_t high[2][PARTITIONS] = {{0}};
  ll_err err;
  for (size_t i = 0; i < rs.n; i++) {
    record *r = &rs.r[i];
    assert_true(r->position >= 1 && r->position <= last);
    assert_true(r->partition >= 0 && r->partition < PARTITIONS);
    uint64_t *hp = &high[r->topic][r->partition];
    /* A repeat has an earlier copy with the same position and key on the
     * same partition, and must equal it. */
    const record *first = NULL;
    for (size_t j = 0; j < i && first == NULL; j++) {
      const record *o = &rs.r[j];
      if (o->topic == r->topic && o->partition == r->partition &&
          o->position == r->position && o->key_len == r->key_len &&
          memcmp(o->key, r->key, r->key_len) == 0)
        first = o;
    }
    if (first != NULL) {
      assert_int_equal(first->value_len, r->value_len);
      assert_memory_equal(first->value, r->value, r->value_len);
      res.duplicates++;
      if (r->position < res.dup_min)
        res.dup_min = r->position;
      if (r->position > res.dup_max)
        res.dup_max = r->position;
      continue;
    }
    /* A first copy: in log order on its partition (a move's two quantity
     * records share a position). */
    if (r->topic == 0 ? r->position <= *hp : r->position < *hp)
      fail_msg("%s [%d] offset %" PRId64 ": position %" PRIu64
               " after %" PRIu64,
               r->topic == 0 ? topics.events : topics.quantities,
               (int)r->partition, r->offset, r->position, *hp);
    *hp = r->position;
    if (r->topic == 0) {
      seen[r->position]++;
      ll_entry e;
      size_t got = 0;
      assert_int_equal(
          ll_store_read_log(f->log, r->position, &e, 1, &got, &err), 0);
      ll_event ev;
      ll_event_init(&ev);
      bool retry = false;
      assert_int_equal(
          ll_codec_decode(f->codec, r->value, r->value_len, &ev, &retry, &err),
          LL_OK);
      assert_string_equal(ev.event_id, e.event.event_id);
      assert_string_equal(r->key, e.event.product_id);
      ll_event_free(&ev);
      ll_entry_free(&e);
    }
  }
  for (uint64_t pos = 1; pos <= last; pos++)
    if (seen[pos] != 1)
      fail_msg("position %" PRIu64 " is in lots.events %zu time(s)", pos,
               seen[pos]);
  /* lots.quantities: the last record per key wins, as compaction keeps. */
  expected_qty *want = calloc(1024, sizeof *want);
  size_t n_want = expected_quantities(f, want, 1024);
  for (size_t k = 0; k < n_want; k++) {
    const record *lastr = NULL;
    for (size_t i = 0; i < rs.n; i++)
      if (rs.r[i].topic == 1 && rs.r[i].key_len == strlen(want[k].key) &&
          memcmp(rs.r[i].key, want[k].key, rs.r[i].key_len) == 0)
        lastr = &rs.r[i];
    assert_non_null(lastr);
    ll_quantity_changed q;
    memset(&q, 0, sizeof q);
    assert_int_equal(ll_codec_decode_quantity(f->codec, lastr->value,
                                              lastr->value_len, &q, &err),
                     LL_OK);
    if (q.quantity_micro != want[k].quantity ||
        (uint64_t)q.position != want[k].position)
      fail_msg("%s: published %" PRId64 " at %" PRId64 ", want %" PRId64
               " at %" PRIu64,
               want[k].key, q.quantity_micro, q.position, want[k].quantity,
               want[k].position);
    assert_int_equal(lastr->position, want[k].position);
    ll_quantity_changed_free(&q);
  }
  free(want);
  free(seen);
  records_free(&rs);
  return res;
}

/* ---- fixtures ---- */

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  ll_err e;
  f->dir = h_tempdir("publisher");
  char path[512];
  snprintf(path, sizeof path, "%s/log", f->dir);
  f->log = ll_store_open(path, LL_STORE_PRIMARY, &e);
  assert_non_null(f->log);
  snprintf(f->state_dir, sizeof f->state_dir, "%s/publisher", f->dir);
  f->codec = ll_codec_open(getenv("LOTLINE_SCHEMAS"), NULL, &e);
  assert_non_null(f->codec);
  f->broker = ll_broker_start(&topics, 1, PARTITIONS, &e);
  assert_non_null(f->broker);
  ll_config_init(&f->cfg);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  ll_broker_stop(f->broker);
  ll_codec_close(f->codec);
  ll_store_close(f->log);
  ll_config_free(&f->cfg);
  h_rmrf(f->dir);
  free(f->dir);
  free(f);
  return 0;
}

static const char *brokers(fixture *f) {
  return ll_broker_bootstraps(f->broker);
}

/* ---- tests ---- */

static void test_publishes_the_log_in_order(void **state) {
  fixture *f = *state;
  write_lots(f);
  write_moves(f, 150);
  publish_all(f, brokers(f), 25, NULL, NULL);
  check_result r = check_topics(f, brokers(f));
  assert_int_equal(r.duplicates, 0);
}

static void test_clean_restart_neither_skips_nor_repeats(void **state) {
  fixture *f = *state;
  write_lots(f);
  write_moves(f, 40);
  publish_all(f, brokers(f), 10, NULL, NULL);
  write_moves(f, 60);
  ll_publisher_stats st;
  publish_all(f, brokers(f), 10, NULL, &st);
  assert_int_equal(atomic_load(&st.recovered), 0);
  check_result r = check_topics(f, brokers(f));
  assert_int_equal(r.duplicates, 0);
}

/* Killed after the Kafka commit, before the local write: the read-back
 * finds the whole transaction, nothing is published twice. */
static void test_crash_after_commit_repeats_nothing(void **state) {
  fixture *f = *state;
  write_lots(f);
  write_moves(f, 80);
  crash_plan crash = {.point = LL_PUB_AFTER_COMMIT, .at_call = 3};
  assert_int_equal(publish_all(f, brokers(f), 10, &crash, NULL), -1);
  ll_publisher_stats st;
  publish_all(f, brokers(f), 10, NULL, &st);
  assert_int_equal(atomic_load(&st.recovered), 10);
  assert_int_equal(atomic_load(&st.republished), 0);
  check_result r = check_topics(f, brokers(f));
  assert_int_equal(r.duplicates, 0);
}

/* Killed mid-transaction with its first half delivered: the embedded broker
 * keeps those records (it does not abort); the read-back finds them
 * complete and resumes after them. */
static void test_crash_mid_transaction_resumes_after_delivered(void **state) {
  fixture *f = *state;
  write_lots(f);
  write_moves(f, 80);
  crash_plan crash = {.point = LL_PUB_MID_TRANSACTION, .at_call = 2};
  assert_int_equal(publish_all(f, brokers(f), 10, &crash, NULL), -1);
  ll_publisher_stats st;
  publish_all(f, brokers(f), 10, NULL, &st);
  assert_int_equal(atomic_load(&st.recovered), 5);
  check_result r = check_topics(f, brokers(f));
  assert_int_equal(r.duplicates, 0);
}

/* A transaction visible in part, with a gap (what a kill during delivery
 * leaves on a broker that does not abort): publishing resumes at the gap,
 * and what lay past it comes again, identical. */
static void test_gap_in_doubt_is_published_again(void **state) {
  fixture *f = *state;
  write_lots(f);
  write_moves(f, 20);
  publish_all(f, brokers(f), 10, NULL, NULL);
  uint64_t published = ll_store_last_position(f->log);
  write_moves(f, 10);
  /* Deliver one position Q the way the publisher would have, leaving a gap
   * before it that a real partial delivery could leave: every position
   * between is on another partition (within a partition the idempotent
   * producer never leaves gaps). */
  ll_err e;
  ll_entry entry;
  size_t got = 0;
  uint64_t q = 0;
  int32_t first_part = -1;
  for (uint64_t pos = published + 1; pos <= published + 10 && q == 0; pos++) {
    assert_int_equal(ll_store_read_log(f->log, pos, &entry, 1, &got, &e), 0);
    int32_t part = rd_kafka_msg_partitioner_consistent(
        NULL, entry.event.product_id, strlen(entry.event.product_id),
        PARTITIONS, NULL, NULL);
    ll_entry_free(&entry);
    if (pos == published + 1)
      first_part = part;
    else if (part != first_part)
      q = pos;
  }
  assert_true(q > published + 1);
  assert_int_equal(ll_store_read_log(f->log, q, &entry, 1, &got, &e), 0);
  ll_buf value;
  ll_buf_init(&value);
  assert_int_equal(ll_codec_encode(f->codec, &entry.event, &value, &e), 0);
  char pos[24];
  snprintf(pos, sizeof pos, "%" PRIu64, entry.position);
  char errstr[256];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers(f), errstr,
                    sizeof errstr);
  rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  assert_non_null(p);
  assert_int_equal(
      rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topics.events),
                        RD_KAFKA_V_KEY(entry.event.product_id,
                                       strlen(entry.event.product_id)),
                        RD_KAFKA_V_VALUE(value.data, value.len),
                        RD_KAFKA_V_HEADER(LL_POSITION_HEADER, pos, -1),
                        RD_KAFKA_V_HEADER(LL_LOG_POSITION_HEADER, pos, -1),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_END),
      0);
  assert_int_equal(rd_kafka_flush(p, 10000), 0);
  rd_kafka_destroy(p);
  ll_buf_free(&value);
  ll_entry_free(&entry);

  ll_publisher_stats st;
  publish_all(f, brokers(f), 10, NULL, &st);
  assert_int_equal(atomic_load(&st.recovered), 0);
  assert_int_equal(atomic_load(&st.republished), 1);
  check_result r = check_topics(f, brokers(f));
  assert_int_equal(r.duplicates, 1);
  assert_int_equal(r.dup_min, q);
}

/* A new cluster (a restarted embedded broker) gets the whole log, with
 * quantities rebuilt from scratch (the local ones stood further on). */
static void test_new_cluster_gets_the_whole_log(void **state) {
  fixture *f = *state;
  write_lots(f);
  write_moves(f, 30);
  publish_all(f, brokers(f), 16, NULL, NULL);
  ll_err e;
  ll_broker *second = ll_broker_start(&topics, 1, PARTITIONS, &e);
  assert_non_null(second);
  write_moves(f, 7);
  ll_publisher_stats st;
  publish_all(f, ll_broker_bootstraps(second), 16, NULL, &st);
  check_result r = check_topics(f, ll_broker_bootstraps(second));
  assert_int_equal(r.duplicates, 0);
  /* And back to the first cluster: it resumes where it stood there. */
  write_moves(f, 5);
  publish_all(f, brokers(f), 16, NULL, NULL);
  r = check_topics(f, brokers(f));
  assert_int_equal(r.duplicates, 0);
  ll_broker_stop(second);
}

int main(void) {
  ll_log_set_level(getenv("LOTLINE_TEST_DEBUG") ? LL_DEBUG : LL_WARN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_publishes_the_log_in_order, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_clean_restart_neither_skips_nor_repeats, setup, teardown),
      cmocka_unit_test_setup_teardown(test_crash_after_commit_repeats_nothing,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_crash_mid_transaction_resumes_after_delivered, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gap_in_doubt_is_published_again,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_new_cluster_gets_the_whole_log,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
