/* test_codec_fuzz.c — random mutations of valid messages.
 *
 * A bad message must never stop the partition: whatever the bytes, the
 * codec answers OK, MALFORMED or UNKNOWN_SCHEMA, and does not crash, hang
 * or leak (run this under valgrind or the ASan build to see the last two).
 * When a mutant happens to decode, it must survive encode -> decode
 * unchanged, so nothing the codec accepts is something it cannot carry.
 * The generator is seeded: a failure reproduces. Set CODEC_FUZZ_ROUNDS to
 * run longer. */
#include "codec_fixture.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rng(void) {
  uint64_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return rng_state = x;
}

static size_t rng_below(size_t n) {
  return n ? (size_t)(rng() % n) : 0;
}

/* Apply 1-4 random edits; the first `keep` bytes (the framing) are left
 * alone most of the time so the body gets most of the attention. */
static void mutate(const ll_buf *seed, size_t keep, ll_buf *out) {
  ll_buf_reset(out);
  ll_buf_put(out, seed->data, seed->len);
  int edits = 1 + (int)rng_below(4);
  size_t floor = rng_below(10) < 8 ? keep : 0;
  static const uint8_t interesting[] = {0x00, 0x01, 0x02, 0x7F, 0x80,
                                        0xFF, 0xFE, 0x03, 0x40, 0xC3};
  for (int e = 0; e < edits; e++) {
    size_t span = out->len > floor ? out->len - floor : 0;
    size_t at = floor + rng_below(span);
    switch (rng_below(7)) {
    case 0: /* flip a bit */
      if (span)
        out->data[at] ^= (uint8_t)(1u << rng_below(8));
      break;
    case 1: /* an interesting byte */
      if (span)
        out->data[at] = interesting[rng_below(sizeof interesting)];
      break;
    case 2: /* a random byte */
      if (span)
        out->data[at] = (uint8_t)rng();
      break;
    case 3: /* truncate */
      out->len = floor + rng_below(span + 1);
      break;
    case 4: { /* insert a byte */
      ll_buf_reserve(out, 1);
      memmove(out->data + at + 1, out->data + at, out->len - at);
      out->data[at] = (uint8_t)rng();
      out->len++;
      break;
    }
    case 5: /* delete a byte */
      if (span) {
        memmove(out->data + at, out->data + at + 1, out->len - at - 1);
        out->len--;
      }
      break;
    default: { /* a huge varint (length, count or index) */
      static const uint8_t huge[] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                     0xFF, 0xFF, 0xFF, 0x7F};
      ll_buf_reserve(out, sizeof huge);
      memmove(out->data + at + sizeof huge, out->data + at, out->len - at);
      memcpy(out->data + at, huge, sizeof huge);
      out->len += sizeof huge;
      break;
    }
    }
  }
}

static int fuzz_rounds(void) {
  const char *env = getenv("CODEC_FUZZ_ROUNDS");
  int n = env ? atoi(env) : 0;
  return n > 0 ? n : 100000;
}

typedef struct tally {
  int ok, malformed, unknown;
} tally;

static void check_event_result(ll_codec *c, ll_code code, const ll_err *err,
                               ll_event *ev, tally *t) {
  switch (code) {
  case LL_OK: {
    t->ok++;
    if (ev->type == LL_EV_STOCK_MOVED && !ev->quantity_valid)
      return; /* the rules reject it; it has no wire form */
    ll_buf again;
    ll_buf_init(&again);
    ll_err e2;
    if (ll_codec_encode(c, ev, &again, &e2) != 0)
      fail_msg("decoded event does not encode: %s: %s",
               ll_err_kind_name(e2.kind), e2.message);
    ll_event back;
    ll_event_init(&back);
    bool retry;
    if (ll_codec_decode(c, again.data, again.len, &back, &retry, &e2) != LL_OK)
      fail_msg("re-encoded event does not decode: %s", e2.message);
    assert_events_equal(ev, &back);
    ll_event_free(&back);
    ll_buf_free(&again);
    return;
  }
  case LL_MALFORMED:
    t->malformed++;
    break;
  case LL_UNKNOWN_SCHEMA:
    t->unknown++;
    break;
  default:
    fail_msg("unexpected code %s", ll_code_name(code));
  }
  assert_int_equal(err->code, code);
  assert_true(err->message[0] != '\0');
  assert_null(ev->event_id);
}

static void test_fuzz_single_object_events(void **state) {
  (void)state;
  ll_codec *c = open_codec(schemas_dir(), NULL);
  ll_buf seeds[6];
  for (int i = 0; i < 6; i++) {
    ll_event ev;
    samples[i % 3](&ev, i < 3);
    ll_buf_init(&seeds[i]);
    ll_err err;
    assert_int_equal(ll_codec_encode(c, &ev, &seeds[i], &err), 0);
    ll_event_free(&ev);
  }
  ll_buf m;
  ll_buf_init(&m);
  tally t = {0};
  int rounds = fuzz_rounds();
  for (int r = 0; r < rounds; r++) {
    mutate(&seeds[r % 6], 10, &m);
    ll_event ev;
    ll_event_init(&ev);
    ll_err err = {0};
    bool retry = true;
    ll_code code = ll_codec_decode(c, m.data, m.len, &ev, &retry, &err);
    assert_false(retry);
    check_event_result(c, code, &err, &ev, &t);
    ll_event_free(&ev);
  }
  printf("single-object: %d ok, %d malformed, %d unknown schema\n", t.ok,
         t.malformed, t.unknown);
  /* The mutations reach both sides of the decision. */
  assert_true(t.ok > 0);
  assert_true(t.malformed > rounds / 4);
  for (int i = 0; i < 6; i++)
    ll_buf_free(&seeds[i]);
  ll_buf_free(&m);
  ll_codec_close(c);
}

static void test_fuzz_confluent_events(void **state) {
  (void)state;
  fake_registry reg;
  registry_start(&reg);
  static const char *const files[3] = {
      "LotCreated.v1.avsc", "LotUpdated.v1.avsc", "StockMoved.v1.avsc"};
  for (uint32_t id = 0; id < 3; id++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", schemas_dir(), files[id]);
    char *text = read_whole_file(path);
    registry_add_schema(&reg, id + 1, text, NULL);
    free(text);
  }
  ll_codec *c = open_codec(schemas_dir(), reg.url);
  ll_buf seeds[3];
  for (int i = 0; i < 3; i++) {
    ll_event ev;
    samples[i](&ev, true);
    ll_buf avro;
    ll_buf_init(&avro);
    ll_buf_init(&seeds[i]);
    ll_err err;
    assert_int_equal(ll_codec_encode_version(c, &ev, 1, &avro, &err), 0);
    confluent_frame((uint32_t)i + 1, &avro, &seeds[i]);
    ll_buf_free(&avro);
    ll_event_free(&ev);
  }
  ll_buf m;
  ll_buf_init(&m);
  tally t = {0};
  int rounds = fuzz_rounds() / 5;
  for (int r = 0; r < rounds; r++) {
    /* The id bytes are mutated only rarely: each new id is a request. */
    mutate(&seeds[r % 3], 5, &m);
    ll_event ev;
    ll_event_init(&ev);
    ll_err err = {0};
    bool retry = true;
    ll_code code = ll_codec_decode(c, m.data, m.len, &ev, &retry, &err);
    assert_false(retry);
    check_event_result(c, code, &err, &ev, &t);
    ll_event_free(&ev);
  }
  printf("confluent: %d ok, %d malformed, %d unknown schema, %d requests\n",
         t.ok, t.malformed, t.unknown, registry_hits(&reg));
  assert_true(t.ok > 0);
  for (int i = 0; i < 3; i++)
    ll_buf_free(&seeds[i]);
  ll_buf_free(&m);
  ll_codec_close(c);
  registry_stop(&reg);
}

static void test_fuzz_rejections_and_quantities(void **state) {
  (void)state;
  ll_codec *c = open_codec(schemas_dir(), NULL);
  ll_rejection rj = {.event_id = "ev-9",
                     .code = LL_SAME_LOCATION,
                     .message = "from = to",
                     .topic = "lots.inbound",
                     .partition = 1,
                     .offset = 99,
                     .rejected_at_ms = 1767225600000LL,
                     .key = (uint8_t *)"P-1",
                     .key_len = 3,
                     .value = (uint8_t *)"\xC3\x01",
                     .value_len = 2};
  ll_quantity_changed q = {.lot_id = "lot-1",
                           .product_id = "P-1",
                           .location = "WH/Stock",
                           .usage = LL_USAGE_INTERNAL,
                           .quantity_micro = 1500000,
                           .position = 7,
                           .occurred_at_ms = 1767225600000LL};
  ll_buf seeds[2], m;
  ll_buf_init(&seeds[0]);
  ll_buf_init(&seeds[1]);
  ll_buf_init(&m);
  ll_err err;
  assert_int_equal(ll_codec_encode_rejection(c, &rj, &seeds[0], &err), 0);
  assert_int_equal(ll_codec_encode_quantity(c, &q, &seeds[1], &err), 0);
  int rounds = fuzz_rounds() / 5;
  for (int r = 0; r < rounds; r++) {
    mutate(&seeds[r % 2], 10, &m);
    ll_code code;
    if (r % 2 == 0) {
      ll_rejection out = {0};
      code = ll_codec_decode_rejection(c, m.data, m.len, &out, &err);
      ll_rejection_free(&out);
    } else {
      ll_quantity_changed out = {0};
      code = ll_codec_decode_quantity(c, m.data, m.len, &out, &err);
      ll_quantity_changed_free(&out);
    }
    assert_true(code == LL_OK || code == LL_MALFORMED ||
                code == LL_UNKNOWN_SCHEMA);
  }
  ll_buf_free(&seeds[0]);
  ll_buf_free(&seeds[1]);
  ll_buf_free(&m);
  ll_codec_close(c);
}

/* Pure noise, every length up to 64, every framing byte. */
static void test_random_bytes(void **state) {
  (void)state;
  ll_codec *c = open_codec(schemas_dir(), NULL);
  uint8_t buf[64];
  for (int r = 0; r < 20000; r++) {
    size_t n = rng_below(sizeof buf + 1);
    for (size_t i = 0; i < n; i++)
      buf[i] = (uint8_t)rng();
    if (n > 0 && r % 3 == 0)
      buf[0] = 0xC3;
    if (n > 1 && r % 3 == 0)
      buf[1] = 0x01;
    ll_event ev;
    ll_event_init(&ev);
    ll_err err;
    bool retry;
    ll_code code = ll_codec_decode(c, buf, n, &ev, &retry, &err);
    assert_true(code == LL_MALFORMED || code == LL_UNKNOWN_SCHEMA);
    ll_event_free(&ev);
  }
  ll_codec_close(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fuzz_single_object_events),
      cmocka_unit_test(test_fuzz_confluent_events),
      cmocka_unit_test(test_fuzz_rejections_and_quantities),
      cmocka_unit_test(test_random_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
