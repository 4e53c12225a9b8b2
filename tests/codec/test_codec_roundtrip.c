/* test_codec_roundtrip.c — events, rejections and quantities through the
 * codec and back; bad bytes; schema evolution with older and newer
 * producers. */
#include "codec_fixture.h"

static ll_codec *codec;

static int setup(void **state) {
  (void)state;
  codec = open_codec(schemas_dir(), NULL);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  ll_codec_close(codec);
  return 0;
}

static ll_code decode(ll_codec *c, const ll_buf *b, ll_event *ev, ll_err *err) {
  bool retry = true;
  ll_code code = ll_codec_decode(c, b->data, b->len, ev, &retry, err);
  assert_false(retry); /* only the registry can ask for a retry */
  return code;
}

/* in encoded and decoded again into out (initialised here). */
static void through_codec(const ll_event *in, ll_event *out) {
  ll_event_init(out);
  ll_buf b;
  ll_buf_init(&b);
  ll_err err;
  if (ll_codec_encode(codec, in, &b, &err) != 0)
    fail_msg("encode: %s", err.message);
  if (decode(codec, &b, out, &err) != LL_OK)
    fail_msg("decode: %s", err.message);
  ll_buf_free(&b);
}

static void roundtrip(sample_fn make, bool all_fields) {
  ll_event in, out;
  make(&in, all_fields);
  ll_event_init(&out);
  ll_buf b;
  ll_buf_init(&b);
  ll_err err = {0};
  if (ll_codec_encode(codec, &in, &b, &err) != 0)
    fail_msg("encode: %s: %s", ll_err_kind_name(err.kind), err.message);
  assert_int_equal(b.data[0], 0xC3);
  assert_int_equal(b.data[1], 0x01);
  if (decode(codec, &b, &out, &err) != LL_OK)
    fail_msg("decode: %s", err.message);
  assert_events_equal(&in, &out);
  ll_event_free(&in);
  ll_event_free(&out);
  ll_buf_free(&b);
}

static void test_roundtrip_every_field(void **state) {
  (void)state;
  for (size_t i = 0; i < 3; i++)
    roundtrip(samples[i], true);
}

static void test_roundtrip_optional_fields_absent(void **state) {
  (void)state;
  for (size_t i = 0; i < 3; i++)
    roundtrip(samples[i], false);
  /* And absent really reads as absent, not as "" or 0. */
  ll_event in, out;
  sample_lot_updated(&in, false);
  ll_event_init(&out);
  ll_buf b;
  ll_buf_init(&b);
  ll_err err;
  assert_int_equal(ll_codec_encode(codec, &in, &b, &err), 0);
  assert_int_equal(decode(codec, &b, &out, &err), LL_OK);
  assert_null(out.name);
  assert_null(out.reference);
  assert_null(out.description);
  assert_null(out.new_product_id);
  assert_false(out.has_expected_version);
  assert_false(out.expiration_at.set);
  assert_false(out.alert_at.set);
  ll_event_free(&in);
  ll_event_free(&out);
  ll_buf_free(&b);
}

static void test_field_values_survive(void **state) {
  (void)state;
  ll_event in, out;
  sample_stock_moved(&in, true);
  in.quantity_micro = -1; /* -0.000001: the codec carries it, rules judge */
  ll_event_init(&out);
  ll_buf b;
  ll_buf_init(&b);
  ll_err err;
  assert_int_equal(ll_codec_encode(codec, &in, &b, &err), 0);
  assert_int_equal(decode(codec, &b, &out, &err), LL_OK);
  assert_true(out.quantity_valid);
  assert_int_equal(out.quantity_micro, -1);
  assert_string_equal(out.from.id, "WH/Stock/Shelf-2");
  assert_int_equal(out.from.usage, LL_USAGE_INTERNAL);
  assert_int_equal(out.to.usage, LL_USAGE_CUSTOMER);
  ll_event_free(&in);
  ll_event_free(&out);

  /* Big quantities: the largest int64 micro value. */
  sample_stock_moved(&in, false);
  in.quantity_micro = INT64_MAX;
  ll_buf_reset(&b);
  assert_int_equal(ll_codec_encode(codec, &in, &b, &err), 0);
  ll_event_init(&out);
  assert_int_equal(decode(codec, &b, &out, &err), LL_OK);
  assert_int_equal(out.quantity_micro, INT64_MAX);
  ll_event_free(&in);
  ll_event_free(&out);
  ll_buf_free(&b);
}

static void test_encode_appends_and_decode_replaces(void **state) {
  (void)state;
  ll_event in, out;
  sample_lot_created(&in, true);
  ll_buf b;
  ll_buf_init(&b);
  ll_buf_put(&b, "xy", 2);
  ll_err err;
  assert_int_equal(ll_codec_encode(codec, &in, &b, &err), 0);
  assert_memory_equal(b.data, "xy", 2);
  /* Decoding into an event that already holds values frees them. */
  sample_stock_moved(&out, true);
  assert_int_equal(
      ll_codec_decode(codec, b.data + 2, b.len - 2, &out, NULL, &err), LL_OK);
  assert_events_equal(&in, &out);
  ll_event_free(&in);
  ll_event_free(&out);
  ll_buf_free(&b);
}

static void test_missing_required_text_is_encoded_empty(void **state) {
  (void)state;
  /* The HTTP API encodes whatever a client sent; a missing name must reach
   * the rules (MISSING_FIELD), not fail in the codec. */
  ll_event in, out;
  sample_lot_created(&in, false);
  free(in.name);
  in.name = NULL;
  through_codec(&in, &out);
  assert_string_equal(out.name, "");
  ll_event_free(&in);
  ll_event_free(&out);

  /* An event without a valid quantity cannot be put on the wire. */
  ll_buf b;
  ll_buf_init(&b);
  ll_err err;
  sample_stock_moved(&in, false);
  in.quantity_valid = false;
  assert_int_equal(ll_codec_encode(codec, &in, &b, &err), -1);
  assert_int_equal(b.len, 0);
  assert_non_null(strstr(err.message, "quantity"));
  ll_event_free(&in);
  ll_buf_free(&b);
}

/* A move's blank lot_id is an absent one: the move names its lot by
 * lot_name, and a blank and a missing lot_id decode to the same event (one
 * digest, so a redelivery of either is a duplicate of the other). A
 * LotCreated keeps its blank lot_id, for the rules' MISSING_FIELD. */
static void test_blank_lot_id_of_a_move_is_absent(void **state) {
  (void)state;
  const char *blanks[] = {"", "   "};
  uint8_t absent_digest[32], digest[32];
  for (size_t i = 0; i <= 2; i++) {
    ll_event in, out;
    sample_stock_moved(&in, true);
    free(in.lot_id);
    in.lot_id = i < 2 ? ll_strdup(blanks[i]) : NULL;
    through_codec(&in, &out);
    assert_null(out.lot_id);
    assert_non_null(out.lot_name);
    ll_event_digest(&out, i == 0 ? absent_digest : digest);
    if (i > 0)
      assert_memory_equal(digest, absent_digest, sizeof digest);
    ll_event_free(&in);
    ll_event_free(&out);
  }
  ll_event in, out;
  sample_lot_created(&in, false);
  free(in.lot_id);
  in.lot_id = ll_strdup("");
  through_codec(&in, &out);
  assert_string_equal(out.lot_id, "");
  ll_event_free(&in);
  ll_event_free(&out);
}

static void test_bad_quantity_bytes_are_flagged_not_rejected(void **state) {
  (void)state;
  /* Hand-built StockMoved with a 9-byte decimal that does not fit int64. */
  ll_event in;
  sample_stock_moved(&in, false);
  ll_buf avro, msg;
  ll_buf_init(&avro);
  ll_buf_init(&msg);
  ll_err err;
  assert_int_equal(ll_codec_encode_version(codec, &in, 1, &avro, &err), 0);
  /* Find the quantity: 12345678 = 0x00BC614E -> bytes len 4 (zigzag 08),
   * then BC 61 4E... Ugly to patch: rebuild from the known layout. */
  const uint8_t want[] = {0x08, 0x00, 0xBC, 0x61, 0x4E};
  uint8_t *q = memmem(avro.data, avro.len, want, sizeof want);
  assert_non_null(q);
  size_t at = (size_t)(q - avro.data);
  ll_buf patched;
  ll_buf_init(&patched);
  ll_buf_put(&patched, avro.data, at);
  const uint8_t huge[] = {0x12, 0x01, 0, 0, 0, 0, 0, 0, 0, 0}; /* 2^64 */
  ll_buf_put(&patched, huge, sizeof huge);
  ll_buf_put(&patched, avro.data + at + sizeof want,
             avro.len - at - sizeof want);
  uint64_t fp;
  assert_true(ll_codec_fingerprint(codec, LL_EV_STOCK_MOVED, 1, &fp));
  single_object_frame(fp, &patched, &msg);
  ll_event out;
  ll_event_init(&out);
  assert_int_equal(decode(codec, &msg, &out, &err), LL_OK);
  assert_false(out.quantity_valid);
  assert_string_equal(out.event_id, in.event_id);
  ll_event_free(&in);
  ll_event_free(&out);
  ll_buf_free(&avro);
  ll_buf_free(&patched);
  ll_buf_free(&msg);
}

static void test_rejection_roundtrip(void **state) {
  (void)state;
  uint8_t key[] = {'P', '-', 1, 0};
  uint8_t value[] = {0xC3, 0x01, 0xFF, 0x00, 0x10};
  ll_rejection in = {
      .event_id = "ev-1",
      .code = LL_INSUFFICIENT_STOCK,
      .message = "lot lot-1 at WH/Stock has 1 available, 2 requested",
      .topic = "lots.inbound",
      .partition = 7,
      .offset = 1234567890123LL,
      .rejected_at_ms = 1767225600000LL,
      .key = key,
      .key_len = sizeof key,
      .value = value,
      .value_len = sizeof value,
  };
  ll_buf b;
  ll_buf_init(&b);
  ll_err err;
  assert_int_equal(ll_codec_encode_rejection(codec, &in, &b, &err), 0);
  ll_rejection out = {0};
  assert_int_equal(ll_codec_decode_rejection(codec, b.data, b.len, &out, &err),
                   LL_OK);
  assert_string_equal(out.event_id, "ev-1");
  assert_int_equal(out.code, LL_INSUFFICIENT_STOCK);
  assert_string_equal(out.message, in.message);
  assert_string_equal(out.topic, "lots.inbound");
  assert_int_equal(out.partition, 7);
  assert_int_equal(out.offset, in.offset);
  assert_int_equal(out.rejected_at_ms, in.rejected_at_ms);
  assert_int_equal(out.key_len, sizeof key);
  assert_memory_equal(out.key, key, sizeof key);
  assert_int_equal(out.value_len, sizeof value);
  assert_memory_equal(out.value, value, sizeof value);
  ll_rejection_free(&out);

  /* Undecodable input: no event id, no key, empty value. */
  ll_rejection bare = {
      .code = LL_MALFORMED, .message = "bad bytes", .topic = "lots.inbound"};
  ll_buf_reset(&b);
  assert_int_equal(ll_codec_encode_rejection(codec, &bare, &b, &err), 0);
  assert_int_equal(ll_codec_decode_rejection(codec, b.data, b.len, &out, &err),
                   LL_OK);
  assert_null(out.event_id);
  assert_null(out.key);
  assert_int_equal(out.value_len, 0);
  assert_int_equal(out.code, LL_MALFORMED);
  ll_rejection_free(&out);

  /* A rejection is not an event, and an event is not a rejection. */
  ll_event ev;
  ll_event_init(&ev);
  bool retry;
  assert_int_equal(ll_codec_decode(codec, b.data, b.len, &ev, &retry, &err),
                   LL_UNKNOWN_SCHEMA);
  ll_event_free(&ev);
  sample_lot_created(&ev, false);
  ll_buf_reset(&b);
  assert_int_equal(ll_codec_encode(codec, &ev, &b, &err), 0);
  assert_int_equal(ll_codec_decode_rejection(codec, b.data, b.len, &out, &err),
                   LL_UNKNOWN_SCHEMA);
  ll_event_free(&ev);

  bare.code = LL_OK; /* not a rejection code */
  assert_int_equal(ll_codec_encode_rejection(codec, &bare, &b, &err), -1);
  ll_buf_free(&b);
}

static void test_quantity_changed_roundtrip(void **state) {
  (void)state;
  ll_quantity_changed in = {
      .lot_id = "lot-1",
      .product_id = "P-100",
      .location = "WH/Stock/Shelf-2",
      .usage = LL_USAGE_TRANSIT,
      .quantity_micro = -2500000,
      .position = 42,
      .occurred_at_ms = 1767225600000LL,
  };
  ll_buf b;
  ll_buf_init(&b);
  ll_err err;
  assert_int_equal(ll_codec_encode_quantity(codec, &in, &b, &err), 0);
  ll_quantity_changed out = {0};
  assert_int_equal(ll_codec_decode_quantity(codec, b.data, b.len, &out, &err),
                   LL_OK);
  assert_string_equal(out.lot_id, "lot-1");
  assert_string_equal(out.product_id, "P-100");
  assert_string_equal(out.location, "WH/Stock/Shelf-2");
  assert_int_equal(out.usage, LL_USAGE_TRANSIT);
  assert_int_equal(out.quantity_micro, -2500000);
  assert_int_equal(out.position, 42);
  assert_int_equal(out.occurred_at_ms, in.occurred_at_ms);
  ll_quantity_changed_free(&out);
  ll_buf_free(&b);
}

static void expect_malformed(const void *data, size_t len,
                             const char *message_part) {
  ll_event ev;
  ll_event_init(&ev);
  ll_err err = {0};
  bool retry = true;
  ll_code code = ll_codec_decode(codec, data, len, &ev, &retry, &err);
  if (code != LL_MALFORMED)
    fail_msg("expected MALFORMED, got %s (%s)", ll_code_name(code),
             err.message);
  assert_int_equal(err.code, LL_MALFORMED);
  assert_false(retry);
  if (message_part && !strstr(err.message, message_part))
    fail_msg("message \"%s\" lacks \"%s\"", err.message, message_part);
  assert_null(ev.event_id); /* nothing half-decoded is left behind */
  ll_event_free(&ev);
}

static void test_malformed_framing(void **state) {
  (void)state;
  expect_malformed(NULL, 0, "empty");
  expect_malformed("", 0, "empty");
  expect_malformed("\xC3", 1, "too short");
  expect_malformed("\xC3\x01\x01\x02\x03", 5, "too short");
  expect_malformed("\xC3\x02\x01\x02\x03\x04\x05\x06\x07\x08\x00", 11,
                   "marker");
  expect_malformed("{\"lot_id\":\"x\"}", 14, "first byte 0x7B");
  expect_malformed("\x00\x00\x01", 3, "Confluent");
}

static void test_malformed_body(void **state) {
  (void)state;
  ll_event ev;
  sample_lot_created(&ev, true);
  ll_buf good, bad;
  ll_buf_init(&good);
  ll_buf_init(&bad);
  ll_err err;
  assert_int_equal(ll_codec_encode(codec, &ev, &good, &err), 0);

  /* Every truncation of a valid message is refused. */
  for (size_t n = 10; n < good.len; n++)
    expect_malformed(good.data, n, NULL);
  /* Trailing garbage. */
  ll_buf_put(&bad, good.data, good.len);
  ll_buf_put_u8(&bad, 0x00);
  expect_malformed(bad.data, bad.len, "unexpected bytes");
  /* A header and nothing else. */
  expect_malformed(good.data, 10, "ends inside");
  /* A string length far past the end (would make Avro-C allocate). */
  ll_buf_reset(&bad);
  ll_buf_put(&bad, good.data, 10);
  const uint8_t huge_len[] = {0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 'a'};
  ll_buf_put(&bad, huge_len, sizeof huge_len);
  expect_malformed(bad.data, bad.len, "past the end");
  /* A negative string length. */
  ll_buf_reset(&bad);
  ll_buf_put(&bad, good.data, 10);
  ll_buf_put_u8(&bad, 0x03);
  expect_malformed(bad.data, bad.len, "negative");
  /* A varint that never ends. */
  ll_buf_reset(&bad);
  ll_buf_put(&bad, good.data, 10);
  for (int i = 0; i < 12; i++)
    ll_buf_put_u8(&bad, 0xFF);
  expect_malformed(bad.data, bad.len, NULL);
  ll_buf_free(&bad);
  ll_buf_free(&good);
  ll_event_free(&ev);

  /* Bad union branch and bad enum index, in a hand-made body:
   * LotCreated fields: 5 strings, tracking enum, then unions. */
  uint64_t fp;
  assert_true(ll_codec_fingerprint(codec, LL_EV_LOT_CREATED, 0, &fp));
  const uint8_t strings[] = {0x02, 'e', 0x02, 0x02, 'p',
                             0x02, 'l', 0x02, 'n'}; /* occurred_at = 1 */
  for (int variant = 0; variant < 2; variant++) {
    ll_buf body, msg;
    ll_buf_init(&body);
    ll_buf_init(&msg);
    ll_buf_put(&body, strings, sizeof strings);
    ll_buf_put_u8(&body, variant == 0 ? 0x04 : 0x00); /* tracking 2 or 0 */
    ll_buf_put_u8(&body, variant == 0 ? 0x00 : 0x06); /* union 0 or 3 */
    for (int i = 0; i < 5; i++)
      ll_buf_put_u8(&body, 0x00);
    single_object_frame(fp, &body, &msg);
    expect_malformed(msg.data, msg.len,
                     variant == 0 ? "enum index" : "union branch");
    ll_buf_free(&body);
    ll_buf_free(&msg);
  }
}

static void test_unknown_fingerprint(void **state) {
  (void)state;
  ll_event ev;
  sample_lot_created(&ev, true);
  ll_buf b;
  ll_buf_init(&b);
  ll_err err;
  assert_int_equal(ll_codec_encode(codec, &ev, &b, &err), 0);
  b.data[5] ^= 0x40; /* another fingerprint, same body */
  ll_event out;
  ll_event_init(&out);
  bool retry = true;
  assert_int_equal(ll_codec_decode(codec, b.data, b.len, &out, &retry, &err),
                   LL_UNKNOWN_SCHEMA);
  assert_int_equal(err.code, LL_UNKNOWN_SCHEMA);
  assert_false(retry);
  assert_non_null(strstr(err.message, "fingerprint"));
  ll_event_free(&out);
  ll_event_free(&ev);

  /* Confluent framing without a registry configured. */
  ll_buf_reset(&b);
  ll_buf_put(&b, "\x00\x00\x00\x00\x07\x02", 6);
  ll_event_init(&out);
  assert_int_equal(ll_codec_decode(codec, b.data, b.len, &out, &retry, &err),
                   LL_UNKNOWN_SCHEMA);
  assert_false(retry);
  assert_non_null(strstr(err.message, "schema.registry.url"));
  ll_buf_free(&b);
}

static void test_open_errors(void **state) {
  (void)state;
  ll_err err = {0};
  assert_null(ll_codec_open("/nonexistent/lotline-schemas", NULL, &err));
  assert_non_null(strstr(err.message, "/nonexistent/lotline-schemas"));
  assert_int_equal(err.kind, LL_ERR_CONFIG); /* a setting names no folder */

  /* A directory without the Rejection schema. */
  char *dir = make_schema_dir(NULL);
  char path[2048];
  snprintf(path, sizeof path, "%s/Rejection.v1.avsc", dir);
  unlink(path);
  assert_null(ll_codec_open(dir, NULL, &err));
  assert_non_null(strstr(err.message, "Rejection"));
  assert_int_equal(err.kind, LL_ERR_CONFIG);

  /* A schema whose record name does not match its file name. */
  char prod[2048];
  snprintf(prod, sizeof prod, "%s/LotUpdated.v1.avsc", schemas_dir());
  char *text = read_whole_file(prod);
  snprintf(path, sizeof path, "%s/Rejection.v1.avsc", dir);
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
  free(text);
  assert_null(ll_codec_open(dir, NULL, &err));
  assert_non_null(strstr(err.message, "expected a record named Rejection"));
  assert_int_equal(err.kind, LL_ERR_CONFIG);

  /* A new version that cannot read the old one (new field, no default). */
  snprintf(path, sizeof path, "%s/Rejection.v1.avsc", dir);
  snprintf(prod, sizeof prod, "%s/Rejection.v1.avsc", schemas_dir());
  copy_file(prod, path);
  snprintf(path, sizeof path, "%s/Rejection.v2.avsc", dir);
  f = fopen(path, "w");
  fputs("{\"type\":\"record\",\"name\":\"Rejection\",\"namespace\":"
        "\"lotline.v1\",\"fields\":[{\"name\":\"code\",\"type\":\"string\"},"
        "{\"name\":\"severity\",\"type\":\"int\"}]}",
        f);
  fclose(f);
  assert_null(ll_codec_open(dir, NULL, &err));
  assert_non_null(strstr(err.message, "severity"));
  assert_int_equal(err.kind, LL_ERR_CONFIG);
  remove_schema_dir(dir);
}

/* An older producer (writer v1 lacks tracking, description, alert_at) read
 * by a newer reader (v2 has them with defaults). */
static void test_older_writer_takes_reader_defaults(void **state) {
  (void)state;
  char *dir = make_schema_dir("older");
  ll_codec *c = open_codec(dir, NULL);
  uint64_t fp1, fp2;
  assert_true(ll_codec_fingerprint(c, LL_EV_LOT_CREATED, 1, &fp1));
  assert_true(ll_codec_fingerprint(c, LL_EV_LOT_CREATED, 0, &fp2));
  assert_true(fp1 != fp2);

  ll_event in, out;
  sample_lot_created(&in, true); /* SERIAL, description, alert_at set */
  ll_buf avro, msg;
  ll_buf_init(&avro);
  ll_buf_init(&msg);
  ll_err err;
  assert_int_equal(ll_codec_encode_version(c, &in, 1, &avro, &err), 0);
  single_object_frame(fp1, &avro, &msg);
  ll_event_init(&out);
  if (decode(c, &msg, &out, &err) != LL_OK)
    fail_msg("decode v1: %s", err.message);
  /* What v1 carries arrives... */
  assert_string_equal(out.name, in.name);
  assert_string_equal(out.reference, in.reference);
  assert_true(out.expiration_at.set);
  assert_int_equal(out.expiration_at.ms, in.expiration_at.ms);
  assert_int_equal(out.removal_at.ms, in.removal_at.ms);
  /* ...and what it lacks takes the reader's defaults. */
  assert_int_equal(out.tracking, LL_TRACK_LOT);
  assert_null(out.description);
  assert_false(out.alert_at.set);
  ll_event_free(&out);

  /* The current version still round-trips in full. */
  ll_buf_reset(&msg);
  assert_int_equal(ll_codec_encode(c, &in, &msg, &err), 0);
  uint64_t header_fp = 0;
  for (int i = 7; i >= 0; i--)
    header_fp = header_fp << 8 | msg.data[2 + i];
  assert_true(header_fp == fp2); /* encoding uses the newest version */
  ll_event_init(&out);
  assert_int_equal(decode(c, &msg, &out, &err), LL_OK);
  assert_events_equal(&in, &out);
  ll_event_free(&out);
  ll_event_free(&in);
  ll_buf_free(&avro);
  ll_buf_free(&msg);
  ll_codec_close(c);
  remove_schema_dir(dir);
}

/* A newer producer: its fingerprint is unknown to an older consumer (the
 * registry path, in test_codec_registry.c, is how such producers get
 * through). */
static void test_newer_writer_fingerprint_is_unknown(void **state) {
  (void)state;
  char *dir = make_schema_dir("newer");
  ll_codec *producer = open_codec(dir, NULL);
  ll_event in, out;
  sample_lot_created(&in, true);
  ll_buf b;
  ll_buf_init(&b);
  ll_err err;
  assert_int_equal(ll_codec_encode(producer, &in, &b, &err), 0);
  /* The producer reads its own newer messages... */
  ll_event_init(&out);
  assert_int_equal(decode(producer, &b, &out, &err), LL_OK);
  assert_events_equal(&in, &out);
  ll_event_free(&out);
  /* ...and its older ones. */
  ll_buf v1, msg;
  ll_buf_init(&v1);
  ll_buf_init(&msg);
  uint64_t fp1;
  assert_true(ll_codec_fingerprint(producer, LL_EV_LOT_CREATED, 1, &fp1));
  assert_int_equal(ll_codec_encode_version(producer, &in, 1, &v1, &err), 0);
  single_object_frame(fp1, &v1, &msg);
  ll_event_init(&out);
  assert_int_equal(decode(producer, &msg, &out, &err), LL_OK);
  assert_events_equal(&in, &out);
  ll_event_free(&out);
  /* The production consumer does not know the v2 fingerprint. */
  ll_event_init(&out);
  assert_int_equal(decode(codec, &b, &out, &err), LL_UNKNOWN_SCHEMA);
  ll_event_free(&out);
  ll_event_free(&in);
  ll_buf_free(&b);
  ll_buf_free(&v1);
  ll_buf_free(&msg);
  ll_codec_close(producer);
  remove_schema_dir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip_every_field),
      cmocka_unit_test(test_roundtrip_optional_fields_absent),
      cmocka_unit_test(test_field_values_survive),
      cmocka_unit_test(test_encode_appends_and_decode_replaces),
      cmocka_unit_test(test_missing_required_text_is_encoded_empty),
      cmocka_unit_test(test_blank_lot_id_of_a_move_is_absent),
      cmocka_unit_test(test_bad_quantity_bytes_are_flagged_not_rejected),
      cmocka_unit_test(test_rejection_roundtrip),
      cmocka_unit_test(test_quantity_changed_roundtrip),
      cmocka_unit_test(test_malformed_framing),
      cmocka_unit_test(test_malformed_body),
      cmocka_unit_test(test_unknown_fingerprint),
      cmocka_unit_test(test_open_errors),
      cmocka_unit_test(test_older_writer_takes_reader_defaults),
      cmocka_unit_test(test_newer_writer_fingerprint_is_unknown),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
