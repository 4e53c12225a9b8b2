/* test_publisher.c — the downstream publisher against the embedded broker,
 * in-process, with crashes placed exactly where they hurt.
 *
 * Each test writes logs the way the command consumer does (entries of
 * three products, each on its own input partition, with the quantities
 * each move left), runs publishers on threads, reads lots.events and
 * lots.quantities back with a plain librdkafka consumer, and checks the
 * promise of publisher.c per partition p:
 *   - the first copies of lots.events p are task positions 1..N_p in order,
 *     each the log's entry (p, n); a repeat is byte-identical to its first
 *     copy;
 *   - lots.quantities p holds, for every move in task order, its source
 *     then destination record with the quantity the entry says the move
 *     left (and the last one per key is what the writer's own count says);
 *   - restarts, crashes, a partly written move, a second data directory
 *     holding the same tasks and an instance whose log is behind Kafka
 *     skip nothing, and repeat only what the design allows. */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* Product k is on partition k: partition 3 stays empty. */
#define PARTITIONS 4
#define PRODUCTS 3
#define LOTS_PER_PRODUCT 4
#define KEYS_MAX 64
#define RECORDS_MAX 20000
#define WAIT_MS 30000
#define T0_MS 1900000000000LL

enum { TOPIC_EVENTS, TOPIC_QUANTITIES };

static const ll_topics topics = {.inbound = "lots.inbound",
                                 .events = "lots.events",
                                 .rejected = "lots.rejected",
                                 .quantities = "lots.quantities"};

typedef struct model_qty {
  char key[96]; /* product \x1f lot \x1f location */
  int64_t micro;
} model_qty;

/* What a log's writer knows. It is deterministic: two writers in the same
 * state append byte-identical entries, as two instances deciding the same
 * task do. */
typedef struct writer {
  uint64_t moves_seq;
  int64_t offsets[PARTITIONS];
  int64_t clock_ms;
  model_qty qty[KEYS_MAX];
  size_t n_qty;
} writer;

/* One data directory. */
typedef struct node {
  char dir[512];
  ll_store *log;
  writer w;
} node;

typedef struct fixture {
  char *dir;
  ll_broker *broker;
  ll_codec *codec;
  ll_config cfg;
  node a, b;
} fixture;

/* ---- the logs ---- */

static int64_t *model_at(writer *w, const char *product, const char *lot,
                         const char *loc) {
  char key[96];
  snprintf(key, sizeof key, "%s\x1f%s\x1f%s", product, lot, loc);
  for (size_t i = 0; i < w->n_qty; i++)
    if (strcmp(w->qty[i].key, key) == 0)
      return &w->qty[i].micro;
  assert_true(w->n_qty < KEYS_MAX);
  model_qty *m = &w->qty[w->n_qty++];
  snprintf(m->key, sizeof m->key, "%s", key);
  m->micro = 0;
  return &m->micro;
}

/* Append as the command consumer does: on the product's partition, with
 * the quantities a move leaves. */
static void append(node *n, int32_t partition, ll_event *ev) {
  ll_err e;
  writer *w = &n->w;
  ll_move_after after = {0, 0};
  if (ev->type == LL_EV_STOCK_MOVED) {
    int64_t *from = model_at(w, ev->product_id, ev->lot_id, ev->from.id);
    int64_t *to = model_at(w, ev->product_id, ev->lot_id, ev->to.id);
    *from -= ev->quantity_micro;
    *to += ev->quantity_micro;
    after = (ll_move_after){*from, *to};
  }
  ll_store_batch *b = ll_store_batch_begin(n->log);
  ll_input in = {.topic = topics.inbound,
                 .partition = partition,
                 .offset = w->offsets[partition]++};
  ll_store_batch_append_decided(b, ev, &in, T0_MS + ++w->clock_ms, &after);
  assert_int_equal(ll_store_batch_commit(b, false, &e), 0);
  ll_event_free(ev);
}

static void names(int product, int lot, char *p, char *l, size_t n) {
  snprintf(p, n, "PROD-%d", product);
  snprintf(l, n, "LOT-%d-%d", product, lot);
}

/* Lots of every product, each received from a vendor into stock. */
static void write_lots(node *n) {
  char product[32], lot[32], id[64];
  for (int p = 0; p < PRODUCTS; p++) {
    for (int l = 0; l < LOTS_PER_PRODUCT; l++) {
      ll_event ev;
      names(p, l, product, lot, sizeof product);
      snprintf(id, sizeof id, "c-%s", lot);
      h_ev_create(&ev, id, product, lot, lot, LL_TRACK_LOT);
      append(n, p, &ev);
      snprintf(id, sizeof id, "r-%s", lot);
      h_ev_move(&ev, id, product, lot, "100", "Vendors/Acme", LL_USAGE_SUPPLIER,
                "WH/Stock", LL_USAGE_INTERNAL);
      append(n, p, &ev);
    }
  }
}

/* `count` moves that shuffle 1.5 units between shelves and deliver some. */
static void write_moves(node *n, int count) {
  char product[32], lot[32], id[64];
  for (int i = 0; i < count; i++) {
    uint64_t k = n->w.moves_seq++;
    int p = (int)(k % PRODUCTS), l = (int)((k / PRODUCTS) % LOTS_PER_PRODUCT);
    names(p, l, product, lot, sizeof product);
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
    append(n, p, &ev);
  }
}

static void open_node(node *n, const char *dir) {
  ll_err e;
  snprintf(n->dir, sizeof n->dir, "%s", dir);
  char path[600];
  snprintf(path, sizeof path, "%s/log", dir);
  n->log = ll_store_open(path, LL_STORE_PRIMARY, &e);
  if (n->log == NULL)
    fail_msg("open %s: %s", path, e.message);
}

/* b becomes a copy of a as it stands (a backup checkpoint restored on
 * another machine), with a's writer state. */
static void copy_node(fixture *f) {
  ll_err e;
  char dir[512], path[600];
  uint64_t position = 0;
  snprintf(dir, sizeof dir, "%s/b", f->dir);
  assert_int_equal(mkdir(dir, 0755), 0);
  snprintf(path, sizeof path, "%s/log", dir);
  if (ll_store_checkpoint(f->a.log, path, &position, &e) != 0)
    fail_msg("checkpoint: %s", e.message);
  open_node(&f->b, dir);
  f->b.w = f->a.w;
  assert_int_equal(ll_store_last_position(f->b.log),
                   ll_store_last_position(f->a.log));
}

/* ---- running publishers ---- */

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
  node *n;
  crash_plan *crash;
  pthread_t thread;
  volatile sig_atomic_t stop;
  int rc;
  ll_err err;
  /* What it did, once stopped. */
  long long events, skipped, transactions;
} runner;

static void *run_thread(void *arg) {
  runner *r = arg;
  r->rc = ll_publisher_run(r->p, &r->stop, &r->err);
  return NULL;
}

static void start(runner *r, fixture *f, node *n, const char *txn_id,
                  const char *brokers, int batch, crash_plan *crash) {
  ll_err e;
  memset(r, 0, sizeof *r);
  ll_publisher_opts o = {.cfg = &f->cfg,
                         .brokers = brokers,
                         .log = n->log,
                         .codec = f->codec,
                         .topics = topics,
                         .transactional_id = txn_id,
                         .batch_max_events = batch,
                         .crash = crash ? crash_cb : NULL,
                         .crash_ctx = crash};
  r->p = ll_publisher_new(&o, &e);
  if (r->p == NULL)
    fail_msg("ll_publisher_new: %s", e.message);
  r->n = n;
  r->crash = crash;
  assert_int_equal(pthread_create(&r->thread, NULL, run_thread, r), 0);
}

/* Wait until the publisher dealt with its whole log (true), or crashed as
 * planned (false). */
static bool wait_done(runner *r) {
  const ll_publisher_stats *st = ll_publisher_get_stats(r->p);
  uint64_t want = ll_store_last_position(r->n->log);
  uint64_t deadline = ll_mono_ns() + (uint64_t)WAIT_MS * 1000000ULL;
  while (atomic_load(&st->position) < want && ll_mono_ns() < deadline) {
    if (r->crash != NULL && r->crash->at_call > 0 &&
        atomic_load(&r->crash->calls) >= r->crash->at_call)
      return false;
    usleep(10 * 1000);
  }
  if (atomic_load(&st->position) < want)
    fail_msg("published up to %" PRIu64 " of %" PRIu64,
             (uint64_t)atomic_load(&st->position), want);
  return true;
}

/* Stop it; returns its rc (-1 after a simulated crash). */
static int finish(runner *r) {
  r->stop = 1;
  pthread_join(r->thread, NULL);
  const ll_publisher_stats *st = ll_publisher_get_stats(r->p);
  r->events = atomic_load(&st->events);
  r->skipped = atomic_load(&st->skipped);
  r->transactions = atomic_load(&st->transactions);
  ll_publisher_free(r->p);
  return r->rc;
}

/* Run a publisher on n until it dealt with its whole log. */
static runner publish_all(fixture *f, node *n, const char *txn_id, int batch,
                          crash_plan *crash) {
  runner r;
  start(&r, f, n, txn_id, ll_broker_bootstraps(f->broker), batch, crash);
  bool done = wait_done(&r);
  int rc = finish(&r);
  if (done && rc != 0)
    fail_msg("publisher: %s", r.err.message);
  assert_int_equal(rc, done ? 0 : -1);
  return r;
}

/* ---- reading the topics back ---- */

typedef struct record {
  int topic;
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

static void keep(records *rs, const rd_kafka_message_t *m) {
  assert_true(rs->n < RECORDS_MAX);
  record *r = &rs->r[rs->n++];
  r->topic = strcmp(rd_kafka_topic_name(m->rkt), topics.events) == 0
                 ? TOPIC_EVENTS
                 : TOPIC_QUANTITIES;
  r->partition = m->partition;
  r->offset = m->offset;
  r->position = header_position(m);
  r->key_len = m->key_len;
  r->key = calloc(1, m->key_len + 1);
  memcpy(r->key, m->key, m->key_len);
  r->value_len = m->len;
  r->value = malloc(m->len ? m->len : 1);
  memcpy(r->value, m->payload, m->len);
}

/* Everything in both topics; per partition in offset order. */
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
    const char *name = t == TOPIC_EVENTS ? topics.events : topics.quantities;
    for (int q = 0; q < PARTITIONS; q++) {
      int64_t lo = 0, hi = 0;
      assert_int_equal(
          rd_kafka_query_watermark_offsets(c, name, q, &lo, &hi, 5000), 0);
      if (hi > lo) {
        rd_kafka_topic_partition_list_add(l, name, q)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
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
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
      pending--;
    else if (m->err == 0)
      keep(&rs, m);
    rd_kafka_message_destroy(m);
  }
  assert_int_equal(pending, 0);
  rd_kafka_consumer_close(c);
  rd_kafka_destroy(c);
  return rs;
}

/* ---- the checks ---- */

/* The log's entry (partition, task position), through the task index. */
static void entry_at(ll_store *log, int32_t q, uint64_t n, ll_entry *e) {
  ll_err err;
  uint64_t local = 0;
  bool found = false;
  size_t got = 0;
  assert_int_equal(ll_store_task_local(log, q, n, &local, &found, &err), 0);
  if (!found)
    fail_msg("the log has no entry %d:%" PRIu64, (int)q, n);
  assert_int_equal(ll_store_read_log(log, local, e, 1, &got, &err), 0);
  assert_int_equal(got, 1);
  assert_int_equal(e->partition, q);
  assert_int_equal(e->task_position, n);
}

static bool same_bytes(const record *a, const record *b) {
  return a->key_len == b->key_len && a->value_len == b->value_len &&
         memcmp(a->key, b->key, a->key_len) == 0 &&
         memcmp(a->value, b->value, a->value_len) == 0;
}

/* lots.events q: first copies 1..N_q in order, each the log's entry; a
 * repeat equal to its first copy. Returns the repeats. */
static size_t check_events(fixture *f, ll_store *log, const records *rs,
                           int32_t q) {
  ll_task_last last;
  ll_store_task_last(log, q, &last);
  const record **first = calloc(last.position + 1, sizeof *first);
  uint64_t high = 0;
  size_t repeats = 0;
  for (size_t i = 0; i < rs->n; i++) {
    const record *r = &rs->r[i];
    if (r->topic != TOPIC_EVENTS || r->partition != q || r->position == 0)
      continue; /* a record without a position is not lotline's */
    if (r->position >= 1 && r->position <= high) {
      if (!same_bytes(r, first[r->position]))
        fail_msg("%s [%d] %" PRIu64 ": a repeat that differs", topics.events,
                 (int)q, r->position);
      repeats++;
      continue;
    }
    if (r->position != high + 1 || r->position > last.position)
      fail_msg("%s [%d] offset %" PRId64 ": position %" PRIu64 " after %" PRIu64
               " (the log has %" PRIu64 ")",
               topics.events, (int)q, r->offset, r->position, high,
               last.position);
    ll_entry e;
    ll_err err;
    ll_event ev;
    bool retry = false;
    entry_at(log, q, r->position, &e);
    ll_event_init(&ev);
    assert_int_equal(
        ll_codec_decode(f->codec, r->value, r->value_len, &ev, &retry, &err),
        LL_OK);
    assert_string_equal(ev.event_id, e.event.event_id);
    assert_string_equal(r->key, e.event.product_id);
    ll_event_free(&ev);
    ll_entry_free(&e);
    first[++high] = r;
  }
  if (high != last.position)
    fail_msg("%s [%d] ends at %" PRIu64 ", the log's task at %" PRIu64,
             topics.events, (int)q, high, last.position);
  free(first);
  return repeats;
}

typedef struct expected_qty {
  uint64_t position;
  char key[96];
  int64_t micro;
  const record *first;
} expected_qty;

/* What lots.quantities q must hold: each move's source then destination,
 * with the quantities its entry says it left. */
static size_t expected_quantities(ll_store *log, int32_t q,
                                  expected_qty **out) {
  ll_task_last last;
  ll_store_task_last(log, q, &last);
  expected_qty *x = calloc(2 * last.position + 1, sizeof *x);
  size_t n = 0;
  for (uint64_t pos = 1; pos <= last.position; pos++) {
    ll_entry e;
    entry_at(log, q, pos, &e);
    if (e.event.type == LL_EV_STOCK_MOVED) {
      const char *locs[2] = {e.event.from.id, e.event.to.id};
      int64_t after[2] = {e.from_after_micro, e.to_after_micro};
      for (int side = 0; side < 2; side++, n++) {
        x[n].position = pos;
        x[n].micro = after[side];
        snprintf(x[n].key, sizeof x[n].key, "%s\x1f%s\x1f%s",
                 e.event.product_id, e.event.lot_id, locs[side]);
      }
    }
    ll_entry_free(&e);
  }
  *out = x;
  return n;
}

static void check_quantity(fixture *f, const record *r, const expected_qty *x) {
  ll_err err;
  ll_quantity_changed qc;
  memset(&qc, 0, sizeof qc);
  assert_int_equal(
      ll_codec_decode_quantity(f->codec, r->value, r->value_len, &qc, &err),
      LL_OK);
  if (qc.quantity_micro != x->micro || (uint64_t)qc.position != x->position)
    fail_msg("%s: published %" PRId64 " at %" PRId64 ", the entry says %" PRId64
             " at %" PRIu64,
             x->key, qc.quantity_micro, qc.position, x->micro, x->position);
  ll_quantity_changed_free(&qc);
}

/* lots.quantities q: the expected records in order; a repeat equal to its
 * first copy. Returns the repeats. */
static size_t check_quantities(fixture *f, ll_store *log, const records *rs,
                               int32_t q) {
  expected_qty *x = NULL;
  size_t n = expected_quantities(log, q, &x), k = 0, repeats = 0;
  for (size_t i = 0; i < rs->n; i++) {
    const record *r = &rs->r[i];
    if (r->topic != TOPIC_QUANTITIES || r->partition != q || r->position == 0)
      continue; /* a record without a position is not lotline's */
    if (k < n && r->position == x[k].position &&
        r->key_len == strlen(x[k].key) &&
        memcmp(r->key, x[k].key, r->key_len) == 0) {
      check_quantity(f, r, &x[k]);
      x[k++].first = r;
      continue;
    }
    size_t j = 0;
    while (j < k &&
           !(x[j].position == r->position && same_bytes(r, x[j].first)))
      j++;
    if (j == k)
      fail_msg("%s [%d] offset %" PRId64 ": position %" PRIu64
               " is neither the next record nor a repeat",
               topics.quantities, (int)q, r->offset, r->position);
    repeats++;
  }
  if (k != n)
    fail_msg("%s [%d]: %zu of %zu records", topics.quantities, (int)q, k, n);
  free(x);
  return repeats;
}

/* The writer's own count agrees with the last record per key. */
static void check_model(fixture *f, const writer *w, const records *rs) {
  ll_err err;
  for (size_t k = 0; k < w->n_qty; k++) {
    const record *lastr = NULL;
    for (size_t i = 0; i < rs->n; i++)
      if (rs->r[i].topic == TOPIC_QUANTITIES &&
          rs->r[i].key_len == strlen(w->qty[k].key) &&
          memcmp(rs->r[i].key, w->qty[k].key, rs->r[i].key_len) == 0)
        lastr = &rs->r[i];
    assert_non_null(lastr);
    ll_quantity_changed qc;
    memset(&qc, 0, sizeof qc);
    assert_int_equal(ll_codec_decode_quantity(f->codec, lastr->value,
                                              lastr->value_len, &qc, &err),
                     LL_OK);
    assert_int_equal(qc.quantity_micro, w->qty[k].micro);
    ll_quantity_changed_free(&qc);
  }
}

/* The promise for the log of n; returns the repeats (both topics). */
static size_t check_topics(fixture *f, node *n) {
  records rs = read_topics(ll_broker_bootstraps(f->broker));
  size_t repeats = 0;
  for (int32_t q = 0; q < PARTITIONS; q++) {
    repeats += check_events(f, n->log, &rs, q);
    repeats += check_quantities(f, n->log, &rs, q);
  }
  check_model(f, &n->w, &rs);
  records_free(&rs);
  return repeats;
}

/* ---- fixtures ---- */

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  ll_err e;
  f->dir = h_tempdir("publisher");
  char dir[512];
  snprintf(dir, sizeof dir, "%s/a", f->dir);
  assert_int_equal(mkdir(dir, 0755), 0);
  open_node(&f->a, dir);
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
  ll_store_close(f->a.log);
  if (f->b.log != NULL)
    ll_store_close(f->b.log);
  ll_config_free(&f->cfg);
  h_rmrf(f->dir);
  free(f->dir);
  free(f);
  return 0;
}

/* Produce `copies` records outside any publisher: what a killed one left
 * (position n), or records of someone else's without a position (n = 0). */
static void produce_raw(fixture *f, const char *topic, int32_t q,
                        const ll_buf *key, const ll_buf *value, uint64_t n,
                        int copies) {
  char errstr[256], pos[24];
  snprintf(pos, sizeof pos, "%" PRIu64, n);
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", ll_broker_bootstraps(f->broker),
                    errstr, sizeof errstr);
  rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  assert_non_null(p);
  for (int i = 0; i < copies; i++) {
    rd_kafka_headers_t *h = rd_kafka_headers_new(1);
    if (n > 0)
      rd_kafka_header_add(h, LL_POSITION_HEADER, -1, pos, -1);
    assert_int_equal(
        rd_kafka_producev(
            p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(q),
            RD_KAFKA_V_KEY(key->data, key->len),
            RD_KAFKA_V_VALUE(value->data, value->len), RD_KAFKA_V_HEADERS(h),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
        0);
  }
  assert_int_equal(rd_kafka_flush(p, 10000), 0);
  rd_kafka_destroy(p);
}

/* ---- tests ---- */

static void test_publishes_each_task_in_order(void **state) {
  fixture *f = *state;
  write_lots(&f->a);
  write_moves(&f->a, 150);
  runner r = publish_all(f, &f->a, "pub-a", 25, NULL);
  assert_int_equal(r.events, 174);
  assert_int_equal(check_topics(f, &f->a), 0);
}

static void test_clean_restart_neither_skips_nor_repeats(void **state) {
  fixture *f = *state;
  write_lots(&f->a);
  write_moves(&f->a, 40);
  publish_all(f, &f->a, "pub-a", 10, NULL);
  write_moves(&f->a, 60);
  runner r = publish_all(f, &f->a, "pub-a", 10, NULL);
  assert_int_equal(r.events, 60);
  assert_int_equal(r.skipped, 0);
  assert_int_equal(check_topics(f, &f->a), 0);
}

/* Killed after the Kafka commit: the restart reads the ends of the topics
 * and finds the transaction there; nothing is published twice. */
static void test_crash_after_commit_repeats_nothing(void **state) {
  fixture *f = *state;
  write_lots(&f->a);
  write_moves(&f->a, 80);
  crash_plan crash = {.point = LL_PUB_AFTER_COMMIT, .at_call = 3};
  publish_all(f, &f->a, "pub-a", 10, &crash);
  runner r = publish_all(f, &f->a, "pub-a", 10, NULL);
  assert_int_equal(r.events, 104 - 30);
  assert_int_equal(r.skipped, 0);
  assert_int_equal(check_topics(f, &f->a), 0);
}

/* Killed mid-transaction with its first half delivered: the embedded broker
 * keeps those records (it does not abort); the restart resumes after what
 * Kafka holds, whoever wrote it. */
static void test_crash_mid_transaction_resumes_after_kafka(void **state) {
  fixture *f = *state;
  write_lots(&f->a);
  write_moves(&f->a, 80);
  crash_plan crash = {.point = LL_PUB_MID_TRANSACTION, .at_call = 2};
  publish_all(f, &f->a, "pub-a", 10, &crash);
  runner r = publish_all(f, &f->a, "pub-a", 10, NULL);
  assert_int_equal(r.events, 104 - 15);
  assert_int_equal(check_topics(f, &f->a), 0);
}

/* A move whose event and source record are in Kafka but not its
 * destination record (a kill during delivery, on a broker that does not
 * abort): it is published again, and the two records that were there come
 * a second time, identical. */
static void test_incomplete_move_is_published_again(void **state) {
  fixture *f = *state;
  write_lots(&f->a);
  write_moves(&f->a, 20);
  publish_all(f, &f->a, "pub-a", 10, NULL);
  uint64_t next = ll_store_last_position(f->a.log) + 1;
  write_moves(&f->a, 10);
  ll_entry e;
  ll_err err;
  size_t got = 0;
  assert_int_equal(ll_store_read_log(f->a.log, next, &e, 1, &got, &err), 0);
  assert_int_equal(e.event.type, LL_EV_STOCK_MOVED);
  ll_buf key, value;
  ll_buf_init(&key);
  ll_buf_init(&value);
  ll_buf_put(&key, e.event.product_id, strlen(e.event.product_id));
  assert_int_equal(ll_codec_encode(f->codec, &e.event, &value, &err), 0);
  produce_raw(f, topics.events, e.partition, &key, &value, e.task_position, 1);
  ll_quantity_changed qc = {.lot_id = e.event.lot_id,
                            .product_id = e.event.product_id,
                            .location = e.event.from.id,
                            .usage = e.event.from.usage,
                            .quantity_micro = e.from_after_micro,
                            .position = (int64_t)e.task_position,
                            .occurred_at_ms = e.event.occurred_at_ms};
  ll_buf_reset(&value);
  assert_int_equal(ll_codec_encode_quantity(f->codec, &qc, &value, &err), 0);
  ll_buf_reset(&key);
  ll_buf_printf(&key, "%s\x1f%s\x1f%s", e.event.product_id, e.event.lot_id,
                e.event.from.id);
  produce_raw(f, topics.quantities, e.partition, &key, &value, e.task_position,
              1);
  ll_buf_free(&key);
  ll_buf_free(&value);
  ll_entry_free(&e);

  runner r = publish_all(f, &f->a, "pub-a", 10, NULL);
  assert_int_equal(r.events, 10);
  assert_int_equal(check_topics(f, &f->a), 2);
}

/* The last position of a partition lies behind many records without one
 * (written by someone else): the publisher reads further back until it
 * finds it, and neither repeats nor skips. */
static void test_end_found_behind_records_without_position(void **state) {
  fixture *f = *state;
  write_lots(&f->a);
  write_moves(&f->a, 30);
  publish_all(f, &f->a, "pub-a", 10, NULL);
  ll_buf key, value;
  ll_buf_init(&key);
  ll_buf_init(&value);
  ll_buf_printf(&key, "not-lotline");
  ll_buf_printf(&value, "not an event");
  produce_raw(f, topics.events, 1, &key, &value, 0, 700);
  produce_raw(f, topics.quantities, 1, &key, &value, 0, 700);
  ll_buf_free(&key);
  ll_buf_free(&value);
  write_moves(&f->a, 12);
  runner r = publish_all(f, &f->a, "pub-a", 10, NULL);
  assert_int_equal(r.events, 12);
  assert_int_equal(r.skipped, 0);
  assert_int_equal(check_topics(f, &f->a), 0);
}

/* Two data directories holding the same tasks (the second a checkpoint of
 * the first), publishing one after the other: every task position once in
 * total, whichever runs first. */
static void test_copies_one_after_the_other_publish_once(void **state) {
  fixture *f = *state;
  write_lots(&f->a);
  write_moves(&f->a, 40);
  copy_node(f);
  runner r = publish_all(f, &f->a, "pub-a", 16, NULL);
  assert_int_equal(r.events, 64);
  r = publish_all(f, &f->b, "pub-b", 16, NULL);
  assert_int_equal(r.events, 0);
  write_moves(&f->a, 30);
  write_moves(&f->b, 30);
  r = publish_all(f, &f->b, "pub-b", 16, NULL);
  assert_int_equal(r.events, 30);
  r = publish_all(f, &f->a, "pub-a", 16, NULL);
  assert_int_equal(r.events, 0);
  assert_int_equal(check_topics(f, &f->a), 0);
  assert_int_equal(check_topics(f, &f->b), 0);
}

/* The same two publishing at the same time (a failover where the old
 * owner still runs): nothing skipped, and what both wrote is the same
 * bytes, so a consumer drops the second copy by its position. */
static void test_concurrent_copies_repeat_only_identical_records(void **state) {
  fixture *f = *state;
  write_lots(&f->a);
  copy_node(f);
  write_moves(&f->a, 90);
  write_moves(&f->b, 90);
  runner a, b;
  start(&a, f, &f->a, "pub-a", ll_broker_bootstraps(f->broker), 5, NULL);
  start(&b, f, &f->b, "pub-b", ll_broker_bootstraps(f->broker), 5, NULL);
  assert_true(wait_done(&a));
  assert_true(wait_done(&b));
  assert_int_equal(finish(&a), 0);
  assert_int_equal(finish(&b), 0);
  assert_true(a.events + b.events >= 24 + 90);
  size_t repeats = check_topics(f, &f->a);
  print_message("concurrent publishers: %lld + %lld events, %zu repeats\n",
                a.events, b.events, repeats);
}

/* An instance whose log is behind what Kafka holds for its tasks publishes
 * nothing of them until its entries pass the end Kafka has. */
static void test_instance_behind_kafka_waits_for_the_end(void **state) {
  fixture *f = *state;
  write_lots(&f->a);
  write_moves(&f->a, 10);
  copy_node(f);
  write_moves(&f->a, 50);
  publish_all(f, &f->a, "pub-a", 20, NULL);

  runner r;
  start(&r, f, &f->b, "pub-b", ll_broker_bootstraps(f->broker), 20, NULL);
  assert_true(wait_done(&r));
  write_moves(&f->b, 50); /* decided again: the same entries as a's */
  assert_true(wait_done(&r));
  const ll_publisher_stats *st = ll_publisher_get_stats(r.p);
  assert_int_equal(atomic_load(&st->events), 0);
  assert_int_equal(atomic_load(&st->skipped), 50);
  write_moves(&f->b, 7); /* past Kafka's end */
  assert_true(wait_done(&r));
  assert_int_equal(finish(&r), 0);
  assert_int_equal(r.events, 7);
  assert_int_equal(check_topics(f, &f->b), 0);
}

int main(void) {
  ll_log_set_level(getenv("LOTLINE_TEST_DEBUG") ? LL_DEBUG : LL_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_publishes_each_task_in_order, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_clean_restart_neither_skips_nor_repeats, setup, teardown),
      cmocka_unit_test_setup_teardown(test_crash_after_commit_repeats_nothing,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_crash_mid_transaction_resumes_after_kafka, setup, teardown),
      cmocka_unit_test_setup_teardown(test_incomplete_move_is_published_again,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_end_found_behind_records_without_position, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_copies_one_after_the_other_publish_once, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_concurrent_copies_repeat_only_identical_records, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_instance_behind_kafka_waits_for_the_end, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
