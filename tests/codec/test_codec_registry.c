/* test_codec_registry.c — Confluent framing against a local Schema
 * Registry: lookups, the cache, unknown ids, an unreachable or failing
 * registry (retry, never reject), foreign schemas, a newer producer read
 * through schema resolution, and decoding from several threads at once. */
#include "codec_fixture.h"

#include <avro.h> /* to write data no lotline struct can express */

static char *schema_text(const char *dir, const char *file) {
  char path[2048];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  return read_whole_file(path);
}

/* Plain Avro binary of ev with the production v1 schema, framed for
 * Confluent with `id`. */
static void confluent_event(ll_codec *c, const ll_event *ev, uint32_t id,
                            ll_buf *out) {
  ll_buf avro;
  ll_buf_init(&avro);
  ll_err err;
  if (ll_codec_encode_version(c, ev, 1, &avro, &err) != 0)
    fail_msg("encode: %s: %s", ll_err_kind_name(err.kind), err.message);
  confluent_frame(id, &avro, out);
  ll_buf_free(&avro);
}

static ll_code decode(ll_codec *c, const ll_buf *b, ll_event *ev, bool *retry,
                      ll_err *err) {
  ll_event_free(ev);
  return ll_codec_decode(c, b->data, b->len, ev, retry, err);
}

static void test_lookup_and_cache(void **state) {
  (void)state;
  fake_registry reg;
  registry_start(&reg);
  char *created = schema_text(schemas_dir(), "LotCreated.v1.avsc");
  char *moved = schema_text(schemas_dir(), "StockMoved.v1.avsc");
  registry_add_schema(&reg, 7, created, NULL);
  registry_add_schema(&reg, 8, moved, "AVRO");
  ll_codec *c = open_codec(schemas_dir(), reg.url);

  ll_event in, out;
  ll_event_init(&out);
  ll_buf msg;
  ll_buf_init(&msg);
  ll_err err;
  bool retry = true;
  sample_lot_created(&in, true);
  confluent_event(c, &in, 7, &msg);
  if (decode(c, &msg, &out, &retry, &err) != LL_OK)
    fail_msg("decode: %s", err.message);
  assert_false(retry);
  assert_events_equal(&in, &out);
  assert_int_equal(registry_hits(&reg), 1);
  /* The second message with the same id is served from the cache. */
  assert_int_equal(decode(c, &msg, &out, &retry, &err), LL_OK);
  assert_events_equal(&in, &out);
  assert_int_equal(registry_hits(&reg), 1);
  ll_event_free(&in);

  sample_stock_moved(&in, true);
  ll_buf_reset(&msg);
  confluent_event(c, &in, 8, &msg);
  assert_int_equal(decode(c, &msg, &out, &retry, &err), LL_OK);
  assert_events_equal(&in, &out);
  assert_int_equal(registry_hits(&reg), 2);

  /* Bytes that do not match the registered schema are MALFORMED. */
  msg.data[4] = 7; /* a StockMoved body under the LotCreated id */
  assert_int_equal(decode(c, &msg, &out, &retry, &err), LL_MALFORMED);
  assert_false(retry);
  assert_int_equal(registry_hits(&reg), 2);

  ll_event_free(&in);
  ll_event_free(&out);
  ll_buf_free(&msg);
  ll_codec_close(c);
  free(created);
  free(moved);
  registry_stop(&reg);
}

static void test_unknown_id(void **state) {
  (void)state;
  fake_registry reg;
  registry_start(&reg);
  ll_codec *c = open_codec(schemas_dir(), reg.url);
  ll_event in, out;
  ll_event_init(&out);
  sample_lot_created(&in, false);
  ll_buf msg;
  ll_buf_init(&msg);
  confluent_event(c, &in, 4242, &msg);
  ll_err err;
  bool retry = true;
  assert_int_equal(decode(c, &msg, &out, &retry, &err), LL_UNKNOWN_SCHEMA);
  assert_false(retry);
  assert_int_equal(err.kind, LL_ERR_REJECTED);
  assert_int_equal(err.code, LL_UNKNOWN_SCHEMA);
  assert_non_null(strstr(err.message, "4242"));
  ll_event_free(&in);
  ll_event_free(&out);
  ll_buf_free(&msg);
  ll_codec_close(c);
  registry_stop(&reg);
}

static void test_registry_down_means_retry(void **state) {
  (void)state;
  char url[64];
  dead_url(url, sizeof url);
  ll_codec *c = open_codec(schemas_dir(), url);
  ll_event in, out;
  ll_event_init(&out);
  sample_lot_created(&in, false);
  ll_buf msg;
  ll_buf_init(&msg);
  confluent_event(c, &in, 7, &msg);
  ll_err err;
  bool retry = false;
  decode(c, &msg, &out, &retry, &err);
  assert_true(retry);
  /* A failure to wait out, not a rejection: the log shows its kind. */
  assert_int_equal(err.kind, LL_ERR_IO);
  assert_int_equal(err.code, LL_OK);
  ll_codec_close(c);

  /* A registry that answers 503, then recovers: retry, then success. */
  fake_registry reg;
  registry_start(&reg);
  char *created = schema_text(schemas_dir(), "LotCreated.v1.avsc");
  registry_add_schema(&reg, 7, created, NULL);
  registry_set_status(&reg, 503);
  c = open_codec(schemas_dir(), reg.url);
  retry = false;
  decode(c, &msg, &out, &retry, &err);
  assert_true(retry);
  assert_int_equal(err.kind, LL_ERR_IO);
  assert_non_null(strstr(err.message, "HTTP 503"));
  registry_set_status(&reg, 401); /* our credentials, not the message's */
  retry = false;
  decode(c, &msg, &out, &retry, &err);
  assert_true(retry);
  registry_set_status(&reg, 0);
  assert_int_equal(decode(c, &msg, &out, &retry, &err), LL_OK);
  assert_false(retry);
  assert_events_equal(&in, &out);

  /* A second URL is tried when the first does not answer. */
  ll_codec_close(c);
  char urls[160];
  snprintf(urls, sizeof urls, "%s,%s", url, reg.url);
  c = open_codec(schemas_dir(), urls);
  assert_int_equal(decode(c, &msg, &out, &retry, &err), LL_OK);
  assert_false(retry);

  ll_event_free(&in);
  ll_event_free(&out);
  ll_buf_free(&msg);
  ll_codec_close(c);
  free(created);
  registry_stop(&reg);
}

static void test_foreign_schemas_are_unknown(void **state) {
  (void)state;
  fake_registry reg;
  registry_start(&reg);
  registry_add_schema(&reg, 30, "syntax = \"proto3\"; message X {}",
                      "PROTOBUF");
  registry_add_schema(&reg, 31,
                      "{\"type\":\"record\",\"name\":\"Order\",\"fields\":["
                      "{\"name\":\"id\",\"type\":\"string\"}]}",
                      NULL);
  registry_add_schema(&reg, 32, "{\"type\":\"record\",\"name\":", NULL);
  /* A LotCreated that lacks a field the reader needs (no default). */
  registry_add_schema(&reg, 33,
                      "{\"type\":\"record\",\"name\":\"LotCreated\","
                      "\"namespace\":\"lotline.v1\",\"fields\":[{\"name\":"
                      "\"event_id\",\"type\":\"string\"}]}",
                      NULL);
  ll_codec *c = open_codec(schemas_dir(), reg.url);
  static const struct {
    uint32_t id;
    const char *why;
  } cases[] = {{30, "not Avro"},
               {31, "Order"},
               {32, "does not parse"},
               {33, "occurred_at"}};
  for (size_t i = 0; i < 4; i++) {
    ll_buf msg;
    ll_buf_init(&msg);
    ll_buf_put(&msg, "\x00\x00\x00\x00\x00\x02x", 7);
    msg.data[4] = (uint8_t)cases[i].id;
    ll_event out;
    ll_event_init(&out);
    ll_err err;
    bool retry = true;
    for (int attempt = 0; attempt < 2; attempt++) {
      assert_int_equal(decode(c, &msg, &out, &retry, &err), LL_UNKNOWN_SCHEMA);
      assert_false(retry);
      if (!strstr(err.message, cases[i].why))
        fail_msg("id %u: \"%s\" lacks \"%s\"", cases[i].id, err.message,
                 cases[i].why);
    }
    ll_event_free(&out);
    ll_buf_free(&msg);
  }
  /* Unusable answers are cached too: ids never change meaning. */
  assert_int_equal(registry_hits(&reg), 4);
  ll_codec_close(c);
  registry_stop(&reg);
}

/* Rewrite a datum of `schema_json` with Avro-C: set the enum field `name`
 * to `index`, or the union field to branch `index` holding long 5. */
static void rewrite_datum(const char *schema_json, ll_buf *avro,
                          const char *field, bool is_enum, int index) {
  avro_schema_t schema;
  assert_int_equal(
      avro_schema_from_json_length(schema_json, strlen(schema_json), &schema),
      0);
  avro_value_iface_t *cls = avro_generic_class_from_schema(schema);
  avro_value_t v, f, b;
  avro_generic_value_new(cls, &v);
  avro_reader_t rd =
      avro_reader_memory((const char *)avro->data, (int64_t)avro->len);
  assert_int_equal(avro_value_read(rd, &v), 0);
  avro_reader_free(rd);
  assert_int_equal(avro_value_get_by_name(&v, field, &f, NULL), 0);
  if (is_enum) {
    assert_int_equal(avro_value_set_enum(&f, index), 0);
  } else {
    assert_int_equal(avro_value_set_branch(&f, index, &b), 0);
    assert_int_equal(avro_value_set_long(&b, 5), 0);
  }
  size_t size;
  avro_value_sizeof(&v, &size);
  ll_buf_reset(avro);
  ll_buf_reserve(avro, size);
  avro_writer_t w = avro_writer_memory((const char *)avro->data, (int64_t)size);
  assert_int_equal(avro_value_write(w, &v), 0);
  avro->len = size;
  avro_writer_free(w);
  avro_value_decref(&v);
  avro_value_iface_decref(cls);
  avro_schema_decref(schema);
}

/* A newer producer (extra fields, reordered and extended enum, wider
 * union) read by the production reader through the registry. */
static void test_newer_writer_through_registry(void **state) {
  (void)state;
  char *dir = make_schema_dir("newer");
  char *newer = schema_text(dir, "LotCreated.v2.avsc");
  fake_registry reg;
  registry_start(&reg);
  registry_add_schema(&reg, 20, newer, NULL);
  ll_codec *producer = open_codec(dir, NULL);
  ll_codec *consumer = open_codec(schemas_dir(), reg.url);

  ll_event in, out;
  ll_event_init(&out);
  ll_buf avro, msg;
  ll_buf_init(&avro);
  ll_buf_init(&msg);
  ll_err err;
  bool retry;
  for (int tracking = 0; tracking < 2; tracking++) {
    sample_lot_created(&in, tracking == 0);
    in.tracking = tracking == 0 ? LL_TRACK_SERIAL : LL_TRACK_LOT;
    ll_buf_reset(&avro);
    ll_buf_reset(&msg);
    assert_int_equal(ll_codec_encode_version(producer, &in, 2, &avro, &err), 0);
    confluent_frame(20, &avro, &msg);
    if (decode(consumer, &msg, &out, &retry, &err) != LL_OK)
      fail_msg("decode: %s", err.message);
    /* SERIAL is symbol 0 for the writer, 1 for the reader: by name. */
    assert_events_equal(&in, &out);
    ll_event_free(&in);
  }

  /* A symbol the reader does not have, and a union branch it cannot
   * read, are MALFORMED (per message, not per schema). */
  ll_buf_reset(&avro);
  sample_lot_created(&in, true);
  assert_int_equal(ll_codec_encode_version(producer, &in, 2, &avro, &err), 0);
  ll_buf batch;
  ll_buf_init(&batch);
  ll_buf_put(&batch, avro.data, avro.len);
  rewrite_datum(newer, &batch, "tracking", true, 2);
  ll_buf_reset(&msg);
  confluent_frame(20, &batch, &msg);
  assert_int_equal(decode(consumer, &msg, &out, &retry, &err), LL_MALFORMED);
  assert_non_null(strstr(err.message, "BATCH"));
  rewrite_datum(newer, &avro, "reference", false, 2);
  ll_buf_reset(&msg);
  confluent_frame(20, &avro, &msg);
  assert_int_equal(decode(consumer, &msg, &out, &retry, &err), LL_MALFORMED);
  assert_non_null(strstr(err.message, "reference"));
  assert_int_equal(registry_hits(&reg), 1);

  ll_event_free(&in);
  ll_event_free(&out);
  ll_buf_free(&avro);
  ll_buf_free(&batch);
  ll_buf_free(&msg);
  ll_codec_close(producer);
  ll_codec_close(consumer);
  registry_stop(&reg);
  free(newer);
  remove_schema_dir(dir);
}

/* A recursive writer schema (each LotCreated may carry its parent):
 * shallow nesting reads, hostile depth is refused before it reaches the
 * stack. */
static void test_recursive_writer_depth_is_bounded(void **state) {
  (void)state;
  char path[2048];
  snprintf(path, sizeof path, "%s/LotCreated.v1.avsc", schemas_dir());
  json_error_t jerr;
  json_t *doc = json_load_file(path, 0, &jerr);
  assert_non_null(doc);
  json_array_append_new(json_object_get(doc, "fields"),
                        json_pack("{s:s, s:[s,s], s:n}", "name", "parent",
                                  "type", "null", "LotCreated", "default"));
  char *recursive = json_dumps(doc, JSON_COMPACT);
  json_decref(doc);
  fake_registry reg;
  registry_start(&reg);
  registry_add_schema(&reg, 40, recursive, NULL);
  ll_codec *c = open_codec(schemas_dir(), reg.url);

  ll_event in, out;
  sample_lot_created(&in, true);
  ll_event_init(&out);
  ll_buf body;
  ll_buf_init(&body);
  ll_err err;
  assert_int_equal(ll_codec_encode_version(c, &in, 1, &body, &err), 0);
  static const int depths[] = {0, 3, 200};
  for (size_t i = 0; i < 3; i++) {
    ll_buf avro, msg;
    ll_buf_init(&avro);
    ll_buf_init(&msg);
    for (int d = 0; d < depths[i]; d++) {
      ll_buf_put(&avro, body.data, body.len);
      ll_buf_put_u8(&avro, 0x02); /* parent: the record branch */
    }
    ll_buf_put(&avro, body.data, body.len);
    ll_buf_put_u8(&avro, 0x00); /* parent: null */
    confluent_frame(40, &avro, &msg);
    bool retry;
    ll_code code = decode(c, &msg, &out, &retry, &err);
    if (depths[i] < 10) {
      if (code != LL_OK)
        fail_msg("depth %d: %s", depths[i], err.message);
      assert_events_equal(&in, &out);
    } else {
      assert_int_equal(code, LL_MALFORMED);
      assert_non_null(strstr(err.message, "deeply"));
    }
    ll_buf_free(&avro);
    ll_buf_free(&msg);
  }
  ll_buf_free(&body);
  ll_event_free(&in);
  ll_event_free(&out);
  ll_codec_close(c);
  registry_stop(&reg);
  free(recursive);
}

/* ---- several threads through one codec ---- */

#define THREADS 4
#define DECODES_PER_THREAD 2000

typedef struct worker {
  ll_codec *codec;
  ll_buf messages[4];
  ll_event expected[4];
  int failures;
} worker;

static void *worker_main(void *arg) {
  worker *w = arg;
  for (int i = 0; i < DECODES_PER_THREAD; i++) {
    int k = i % 4;
    ll_event out;
    ll_event_init(&out);
    ll_err err;
    bool retry;
    ll_code code = ll_codec_decode(w->codec, w->messages[k].data,
                                   w->messages[k].len, &out, &retry, &err);
    if (code != LL_OK || strcmp(out.event_id, w->expected[k].event_id) != 0)
      w->failures++;
    ll_event_free(&out);
    /* Encoding shares the codec too. */
    ll_buf b;
    ll_buf_init(&b);
    if (ll_codec_encode(w->codec, &w->expected[k], &b, &err) != 0)
      w->failures++;
    ll_buf_free(&b);
  }
  return NULL;
}

static void test_concurrent_decoding(void **state) {
  (void)state;
  fake_registry reg;
  registry_start(&reg);
  char *created = schema_text(schemas_dir(), "LotCreated.v1.avsc");
  char *moved = schema_text(schemas_dir(), "StockMoved.v1.avsc");
  registry_add_schema(&reg, 1, created, NULL);
  registry_add_schema(&reg, 2, moved, NULL);
  ll_codec *c = open_codec(schemas_dir(), reg.url);
  worker workers[THREADS];
  pthread_t threads[THREADS];
  for (int t = 0; t < THREADS; t++) {
    worker *w = &workers[t];
    memset(w, 0, sizeof *w);
    w->codec = c;
    sample_lot_created(&w->expected[0], true);
    sample_stock_moved(&w->expected[1], true);
    sample_lot_updated(&w->expected[2], true);
    sample_stock_moved(&w->expected[3], false);
    for (int k = 0; k < 4; k++)
      ll_buf_init(&w->messages[k]);
    ll_err err;
    confluent_event(c, &w->expected[0], 1, &w->messages[0]);
    confluent_event(c, &w->expected[1], 2, &w->messages[1]);
    assert_int_equal(ll_codec_encode(c, &w->expected[2], &w->messages[2], &err),
                     0);
    assert_int_equal(ll_codec_encode(c, &w->expected[3], &w->messages[3], &err),
                     0);
  }
  for (int t = 0; t < THREADS; t++)
    assert_int_equal(
        pthread_create(&threads[t], NULL, worker_main, &workers[t]), 0);
  for (int t = 0; t < THREADS; t++) {
    pthread_join(threads[t], NULL);
    assert_int_equal(workers[t].failures, 0);
    for (int k = 0; k < 4; k++) {
      ll_buf_free(&workers[t].messages[k]);
      ll_event_free(&workers[t].expected[k]);
    }
  }
  /* Each id was fetched at most once per racing thread, not per message. */
  assert_true(registry_hits(&reg) <= 2 * THREADS);
  ll_codec_close(c);
  free(created);
  free(moved);
  registry_stop(&reg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lookup_and_cache),
      cmocka_unit_test(test_unknown_id),
      cmocka_unit_test(test_registry_down_means_retry),
      cmocka_unit_test(test_foreign_schemas_are_unknown),
      cmocka_unit_test(test_newer_writer_through_registry),
      cmocka_unit_test(test_recursive_writer_depth_is_bounded),
      cmocka_unit_test(test_concurrent_decoding),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
