/* test_determinism.c — the same input gives the same log, byte for byte.
 *
 * `lotlined broker` with one partition per topic, and a plain librdkafka
 * producer that writes a few hundred records to lots.inbound: lots created
 * and received, moves, rejections of several codes (INSUFFICIENT_STOCK,
 * UNKNOWN_LOT, LOT_ID_TAKEN, EVENT_ID_REUSED, MALFORMED, KEY_MISMATCH),
 * identical redeliveries, records stamped by the producer in the past and
 * one far ahead (a producer with a wrong clock). Two `lotlined command`
 * instances, each with its own data directory and consumer group, read
 * that same topic:
 *   A reads the first half, is killed (SIGKILL) and restarted for the
 *     second half; the first half ends with a redelivery stamped an hour
 *     ahead, which must not move the clock (it leaves no trace a restart
 *     could resume from), and the second half begins with a record stamped
 *     a day in the past, which must take the clock the restart resumed
 *     from the store;
 *   B reads everything in one run, later.
 * Their logs must be equal entry by entry (position, chain hash,
 * recorded_at, input offset) and their stored rejections field by field
 * (rejected_at included): with recorded_at taken from the wall clock they
 * could not be. And every stamp must be the log clock the docs describe:
 * the latest Kafka timestamp (CreateTime, as the producer set it) among the
 * records that left an entry or a rejection, up to and including its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "ll_codec.h"
#include "ll_event.h"
#include "ll_mem.h"
#include "ll_store.h"
#include "ll_time.h"

#define START_TIMEOUT_MS 20000
#define CONSUME_TIMEOUT_MS 60000
#define STOP_TIMEOUT_MS 10000
#define POLL_MS 200
#define RECORDS_MAX 512
#define PRODUCTS 6
#define LOTS_PER_PRODUCT 5
#define MIXED_FIRST_HALF 100
#define MIXED_SECOND_HALF 140
#define ENTRIES_READ_MAX 512
#define REJECTIONS_READ_MAX 512
#define CODES_MIN 6 /* distinct rejection codes the input must produce */
#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL

static ll_codec *codec;

/* ---- the input ---- */

typedef struct record {
  char key[32];
  ll_buf value;
  int64_t timestamp_ms; /* 0: the producer's clock (CreateTime) */
  int64_t offset;       /* from the delivery report; -1 until delivered */
} record;

typedef struct input {
  record items[RECORDS_MAX];
  size_t len;
  int64_t base_ms; /* the producer's clock when the test began */
} input;

static record *add_bytes(input *in, const char *key, const void *bytes,
                         size_t len) {
  assert_true(in->len < RECORDS_MAX);
  record *r = &in->items[in->len++];
  memset(r, 0, sizeof *r);
  snprintf(r->key, sizeof r->key, "%s", key);
  ll_buf_init(&r->value);
  ll_buf_put(&r->value, bytes, len);
  r->offset = -1;
  return r;
}

/* Encode ev and free it. */
static record *add_event(input *in, const char *key, ll_event *ev) {
  ll_buf b;
  ll_err e;
  ll_buf_init(&b);
  if (ll_codec_encode(codec, ev, &b, &e) != 0)
    fail_msg("cannot encode %s: %s", ev->event_id, e.message);
  record *r = add_bytes(in, key, b.data, b.len);
  ll_buf_free(&b);
  ll_event_free(ev);
  return r;
}

/* The same bytes under the same key again: an identical redelivery. */
static record *add_redelivery(input *in, size_t of) {
  record copy = in->items[of];
  return add_bytes(in, copy.key, copy.value.data, copy.value.len);
}

static void product_name(char *out, size_t n, int k) {
  snprintf(out, n, "DP-%d", k % PRODUCTS);
}

static void lot_name(char *out, size_t n, int k) {
  snprintf(out, n, "DL-%d-%d", k % PRODUCTS, k % LOTS_PER_PRODUCT);
}

static void add_move(input *in, const char *id, const char *key,
                     const char *lot, const char *qty, const char *from,
                     const char *to) {
  char product[32];
  ll_event ev;
  snprintf(product, sizeof product, "DP-%c", lot[3]);
  h_ev_move(&ev, id, product, lot, qty, from, LL_USAGE_INTERNAL, to,
            LL_USAGE_INTERNAL);
  add_event(in, key ? key : product, &ev);
}

/* Every product's lots, each received 10 units. */
static void add_setup(input *in) {
  for (int p = 0; p < PRODUCTS; p++) {
    for (int l = 0; l < LOTS_PER_PRODUCT; l++) {
      char product[32], lot[32], id[64];
      ll_event ev;
      snprintf(product, sizeof product, "DP-%d", p);
      snprintf(lot, sizeof lot, "DL-%d-%d", p, l);
      snprintf(id, sizeof id, "create-%s", lot);
      h_ev_create(&ev, id, product, lot, lot, LL_TRACK_LOT);
      add_event(in, product, &ev);
      snprintf(id, sizeof id, "receive-%s", lot);
      h_ev_move(&ev, id, product, lot, "10", "Vendors", LL_USAGE_SUPPLIER,
                "WH/Stock", LL_USAGE_INTERNAL);
      add_event(in, product, &ev);
    }
  }
}

/* The k-th record of the mixed stream: accepted moves, rejections of
 * several codes and redeliveries, in a fixed order. */
static void add_mixed(input *in, int k) {
  char product[32], lot[32], id[64], other[64];
  ll_event ev;
  product_name(product, sizeof product, k);
  lot_name(lot, sizeof lot, k);
  snprintf(id, sizeof id, "mixed-%d", k);
  switch (k % 10) {
  case 0: /* accepted while WH/Stock holds some, then INSUFFICIENT_STOCK */
    add_move(in, id, NULL, lot, "1", "WH/Stock", "WH/B");
    break;
  case 1:
    add_move(in, id, NULL, lot, "0.5", "WH/B", "WH/Stock");
    break;
  case 2:
    add_move(in, id, NULL, lot, "1000", "WH/Stock", "WH/B");
    break;
  case 3: /* UNKNOWN_LOT */
    snprintf(other, sizeof other, "NOPE-%d", k);
    h_ev_move(&ev, id, product, other, "1", "WH/Stock", LL_USAGE_INTERNAL,
              "WH/B", LL_USAGE_INTERNAL);
    add_event(in, product, &ev);
    break;
  case 4: /* LOT_ID_TAKEN */
    h_ev_create(&ev, id, product, lot, "again", LL_TRACK_LOT);
    add_event(in, product, &ev);
    break;
  case 5: /* EVENT_ID_REUSED: a setup event's id with other content */
    snprintf(other, sizeof other, "create-%s", lot);
    h_ev_create(&ev, other, product, lot, "renamed", LL_TRACK_LOT);
    add_event(in, product, &ev);
    break;
  case 6:
    add_bytes(in, product, "not avro at all", 15); /* MALFORMED */
    break;
  case 7:
    add_move(in, id, "WRONG-KEY", lot, "1", "WH/Stock", "WH/B");
    break;
  case 8: /* an identical redelivery of an earlier record */
    add_redelivery(in, (size_t)k / 2);
    break;
  default:
    add_move(in, id, NULL, lot, "0.25", "WH/Stock", "WH/C");
    break;
  }
}

/* Producer timestamps of the second half: some in the past (they stamp
 * the clock as it is), one far ahead (everything after it is stamped with
 * it: a producer with a wrong clock). */
static int64_t second_half_timestamp(const input *in, int k) {
  if (k == MIXED_SECOND_HALF / 2)
    return in->base_ms + DAY_MS;
  if (k % 9 == 0) /* the first one too: it tests where a restart resumes */
    return in->base_ms - DAY_MS - k;
  return 0;
}

static void input_free(input *in) {
  for (size_t i = 0; i < in->len; i++)
    ll_buf_free(&in->items[i].value);
  in->len = 0;
}

/* ---- Kafka ---- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque) {
  (void)rk;
  (void)opaque;
  record *r = m->_private;
  if (!m->err && m->partition == 0)
    r->offset = m->offset;
}

/* Produce items [from, to) in order, each with its timestamp; wait for
 * every delivery report. */
static void send_range(const char *brokers, input *in, size_t from, size_t to) {
  rd_kafka_t *rk = h_idempotent_producer(brokers, on_delivery);
  for (size_t i = from; i < to; i++) {
    record *r = &in->items[i];
    rd_kafka_resp_err_t e;
    do {
      e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("lots.inbound"),
                            RD_KAFKA_V_KEY(r->key, strlen(r->key)),
                            RD_KAFKA_V_VALUE(r->value.data, r->value.len),
                            RD_KAFKA_V_TIMESTAMP(r->timestamp_ms),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                            RD_KAFKA_V_OPAQUE(r), RD_KAFKA_V_END);
      if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(rk, 10);
    } while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
    if (e)
      fail_msg("produce record %zu: %s", i, rd_kafka_err2str(e));
  }
  assert_int_equal(rd_kafka_flush(rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_destroy(rk);
  for (size_t i = from; i < to; i++) {
    if (in->items[i].offset != (int64_t)i)
      fail_msg("record %zu went to offset %lld, not %zu", i,
               (long long)in->items[i].offset, i);
  }
}

/* Offset -> the record's Kafka timestamp, as a consumer sees it. */
typedef struct timestamps {
  int64_t at_ms[RECORDS_MAX];
  size_t n;
  int create_time; /* records whose timestamp type is CreateTime */
} timestamps;

static void note_timestamp(const rd_kafka_message_t *m, void *arg) {
  timestamps *t = arg;
  rd_kafka_timestamp_type_t type;
  int64_t at = rd_kafka_message_timestamp(m, &type);
  if (m->offset < 0 || m->offset >= RECORDS_MAX)
    return;
  t->at_ms[m->offset] = at;
  if ((size_t)m->offset + 1 > t->n)
    t->n = (size_t)m->offset + 1;
  t->create_time += type == RD_KAFKA_TIMESTAMP_CREATE_TIME;
}

/* ---- the command consumers ---- */

typedef struct instance {
  char data[600];
  char group[64];
  h_proc proc;
  int runs;
} instance;

static void start_command(const char *root, instance *c, const char *brokers) {
  char bin[512], log[700], group[128], brokers_copy[512];
  snprintf(log, sizeof log, "%s/%s-%d.log", root, c->group, ++c->runs);
  snprintf(group, sizeof group, "group.id=%s", c->group);
  snprintf(brokers_copy, sizeof brokers_copy, "%s", brokers);
  const char *argv[] = {h_bin("lotlined", bin, sizeof bin),
                        "command",
                        "--data",
                        c->data,
                        "--brokers",
                        brokers_copy,
                        "--set",
                        group,
                        "--set",
                        "kafka.session.timeout.ms=3500",
                        "--set",
                        "kafka.heartbeat.interval.ms=500",
                        "--set",
                        "metrics.listen=127.0.0.1:0",
                        NULL};
  c->proc = h_spawn_tied(log, argv);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Wait until the instance's log store holds `next` as lots.inbound/0's
 * next input offset: everything before it is decided and durable. */
static void wait_consumed(instance *c, const char *cluster, int64_t next) {
  char dir[700];
  snprintf(dir, sizeof dir, "%s/log", c->data);
  ll_store *s = NULL;
  int64_t at = -1;
  for (int waited = 0; waited < CONSUME_TIMEOUT_MS; waited += POLL_MS) {
    ll_err e;
    if (!s)
      s = ll_store_open(dir, LL_STORE_SECONDARY, &e);
    bool found = false;
    if (s && ll_store_catch_up(s, &e) == 0 &&
        ll_store_get_offset(s, cluster, "lots.inbound", 0, &at, &found, &e) ==
            0 &&
        found && at >= next)
      break;
    sleep_ms(POLL_MS);
  }
  if (s)
    ll_store_close(s);
  if (at < next) {
    h_dump_log(&c->proc);
    fail_msg("%s consumed up to offset %lld of %lld", c->group, (long long)at,
             (long long)next);
  }
}

/* ---- what the stores hold ---- */

typedef struct contents {
  ll_entry entries[ENTRIES_READ_MAX];
  size_t n_entries;
  ll_stored_rejection rejections[REJECTIONS_READ_MAX]; /* oldest first */
  size_t n_rejections;
} contents;

static void read_contents(const instance *c, contents *out) {
  char dir[700];
  snprintf(dir, sizeof dir, "%s/log", c->data);
  ll_err e;
  ll_store *s = ll_store_open(dir, LL_STORE_SECONDARY, &e);
  if (!s)
    fail_msg("%s: %s", dir, e.message);
  assert_int_equal(ll_store_read_log(s, 1, out->entries, ENTRIES_READ_MAX,
                                     &out->n_entries, &e),
                   0);
  assert_true(out->n_entries < ENTRIES_READ_MAX);
  ll_stored_rejection newest_first[REJECTIONS_READ_MAX];
  assert_int_equal(ll_store_recent_rejections(s, REJECTIONS_READ_MAX,
                                              newest_first, &out->n_rejections,
                                              &e),
                   0);
  assert_true(out->n_rejections < REJECTIONS_READ_MAX);
  for (size_t i = 0; i < out->n_rejections; i++)
    out->rejections[i] = newest_first[out->n_rejections - 1 - i];
  ll_store_close(s);
}

static void contents_free(contents *c) {
  for (size_t i = 0; i < c->n_entries; i++)
    ll_entry_free(&c->entries[i]);
  for (size_t i = 0; i < c->n_rejections; i++)
    ll_stored_rejection_free(&c->rejections[i]);
}

static bool same_text(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Equal entry by entry and rejection by rejection. The chain hash covers
 * each entry's stored bytes (event, input offset, recorded_at), so equal
 * hashes mean byte-identical logs; the fields are compared too, to say
 * where they part. */
static void check_same(const contents *a, const contents *b) {
  assert_int_equal(a->n_entries, b->n_entries);
  for (size_t i = 0; i < a->n_entries; i++) {
    const ll_entry *x = &a->entries[i], *y = &b->entries[i];
    if (x->recorded_at_ms != y->recorded_at_ms || x->offset != y->offset ||
        x->position != y->position)
      fail_msg("position %llu: recorded_at %lld vs %lld, offset %lld vs %lld",
               (unsigned long long)x->position, (long long)x->recorded_at_ms,
               (long long)y->recorded_at_ms, (long long)x->offset,
               (long long)y->offset);
    assert_memory_equal(x->hash, y->hash, LL_ENTRY_HASH_BYTES);
  }
  assert_int_equal(a->n_rejections, b->n_rejections);
  for (size_t i = 0; i < a->n_rejections; i++) {
    const ll_stored_rejection *x = &a->rejections[i], *y = &b->rejections[i];
    if (x->sequence != y->sequence || x->rejected_at_ms != y->rejected_at_ms ||
        x->code != y->code || x->offset != y->offset ||
        x->partition != y->partition || !same_text(x->event_id, y->event_id) ||
        !same_text(x->message, y->message) || !same_text(x->topic, y->topic))
      fail_msg("rejection %llu differs: rejected_at %lld vs %lld, %s vs %s at "
               "offsets %lld and %lld",
               (unsigned long long)x->sequence, (long long)x->rejected_at_ms,
               (long long)y->rejected_at_ms, ll_code_name(x->code),
               ll_code_name(y->code), (long long)x->offset,
               (long long)y->offset);
  }
}

/* Every stamp is the log clock after its record: the latest timestamp of
 * the records that left a trace, up to and including its own. */
static void check_stamps(const contents *c, const timestamps *t) {
  size_t ie = 0, ir = 0;
  int64_t clock = 0;
  while (ie < c->n_entries || ir < c->n_rejections) {
    bool entry_next =
        ir == c->n_rejections ||
        (ie < c->n_entries && c->entries[ie].offset < c->rejections[ir].offset);
    int64_t offset =
        entry_next ? c->entries[ie].offset : c->rejections[ir].offset;
    int64_t stamp = entry_next ? c->entries[ie].recorded_at_ms
                               : c->rejections[ir].rejected_at_ms;
    assert_true(offset >= 0 && (size_t)offset < t->n);
    clock = ll_log_clock_advance(clock, t->at_ms[offset]);
    if (stamp != clock)
      fail_msg("the %s of offset %lld is stamped %lld; the log clock says "
               "%lld (the record's timestamp: %lld)",
               entry_next ? "entry" : "rejection", (long long)offset,
               (long long)stamp, (long long)clock, (long long)t->at_ms[offset]);
    if (entry_next)
      ie++;
    else
      ir++;
  }
}

/* The input did what it was built for: many kinds of outcome, and
 * redeliveries that left nothing. */
static void check_variety(const contents *c, size_t records) {
  bool seen[LL_CODE_COUNT] = {0};
  int codes = 0;
  for (size_t i = 0; i < c->n_rejections; i++) {
    if (!seen[c->rejections[i].code])
      codes++;
    seen[c->rejections[i].code] = true;
  }
  fprintf(stderr,
          "determinism: %zu records, %zu entries, %zu rejections of %d "
          "codes, %zu without a trace\n",
          records, c->n_entries, c->n_rejections, codes,
          records - c->n_entries - c->n_rejections);
  assert_true(codes >= CODES_MIN);
  assert_true(c->n_entries + c->n_rejections < records);
}

/* ---- the test ---- */

static void test_same_input_same_log(void **state) {
  (void)state;
  char *root = h_tempdir("determinism");
  char bin[512], broker_dir[700], log[700];
  snprintf(broker_dir, sizeof broker_dir, "%s/broker", root);
  snprintf(log, sizeof log, "%s/broker.log", root);
  const char *argv[] = {h_bin("lotlined", bin, sizeof bin),
                        "broker",
                        "--data",
                        broker_dir,
                        "--set",
                        "broker.partitions=1",
                        NULL};
  h_proc broker = h_spawn_tied(log, argv);
  char *brokers = h_wait_file(broker_dir, "broker.addr", START_TIMEOUT_MS);
  if (!brokers) {
    h_dump_log(&broker);
    fail_msg("the broker did not start");
  }
  char *cluster = h_cluster_id(brokers, START_TIMEOUT_MS);

  static input in;
  memset(&in, 0, sizeof in);
  in.base_ms = ll_now_ms();
  add_setup(&in);
  for (int k = 0; k < MIXED_FIRST_HALF; k++)
    add_mixed(&in, k);
  /* The first half ends with a redelivery stamped an hour ahead. */
  add_redelivery(&in, 0)->timestamp_ms = in.base_ms + HOUR_MS;
  size_t half = in.len;
  for (int k = 0; k < MIXED_SECOND_HALF; k++) {
    size_t at = in.len;
    add_mixed(&in, MIXED_FIRST_HALF + k);
    in.items[at].timestamp_ms = second_half_timestamp(&in, k);
  }
  send_range(brokers, &in, 0, half);

  instance a = {0}, b = {0};
  snprintf(a.data, sizeof a.data, "%s/a", root);
  snprintf(a.group, sizeof a.group, "determinism-a");
  snprintf(b.data, sizeof b.data, "%s/b", root);
  snprintf(b.group, sizeof b.group, "determinism-b");

  /* A: the first half, a crash, then the second half. */
  start_command(root, &a, brokers);
  wait_consumed(&a, cluster, (int64_t)half);
  h_kill9(&a.proc);
  send_range(brokers, &in, half, in.len);
  start_command(root, &a, brokers);
  wait_consumed(&a, cluster, (int64_t)in.len);
  assert_int_equal(h_stop(&a.proc, STOP_TIMEOUT_MS), 0);

  /* B: everything in one run, later. */
  start_command(root, &b, brokers);
  wait_consumed(&b, cluster, (int64_t)in.len);
  assert_int_equal(h_stop(&b.proc, STOP_TIMEOUT_MS), 0);

  static timestamps ts;
  memset(&ts, 0, sizeof ts);
  char why[256];
  assert_int_equal(h_read_topic(brokers, "lots.inbound", CONSUME_TIMEOUT_MS,
                                note_timestamp, &ts, why, sizeof why),
                   0);
  assert_int_equal(ts.n, in.len);
  /* The embedded broker keeps the producer's CreateTime. */
  assert_int_equal(ts.create_time, (int)in.len);
  for (size_t i = 0; i < in.len; i++) {
    if (in.items[i].timestamp_ms != 0)
      assert_int_equal(ts.at_ms[i], in.items[i].timestamp_ms);
  }

  static contents ca, cb;
  read_contents(&a, &ca);
  read_contents(&b, &cb);
  check_variety(&ca, in.len);
  check_same(&ca, &cb);
  check_stamps(&ca, &ts);
  contents_free(&ca);
  contents_free(&cb);

  input_free(&in);
  assert_int_equal(h_stop(&broker, STOP_TIMEOUT_MS), 0);
  free(brokers);
  free(cluster);
  h_rmrf(root);
  free(root);
}

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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_same_input_same_log),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
