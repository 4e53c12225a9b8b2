/* test_codec_fingerprint.c — Parsing Canonical Form and CRC-64-AVRO.
 *
 * The single-object header carries the writer schema's fingerprint, so a
 * wrong canonical form means every Java or Python producer's messages are
 * UNKNOWN_SCHEMA. Checked against the Avro project's own test vectors
 * (share/test/data/schema-tests.txt, validated there by the Java
 * implementation) and against the fingerprints of lotline's schemas, which
 * are part of the wire contract: editing a published .avsc changes them. */
#include "codec_fixture.h"

typedef struct vector {
  const char *input;
  const char *canonical;
  int64_t fingerprint; /* as the spec lists it: a Java long; 0 = none */
} vector;

/* Avro's schema-tests.txt, cases 000-033 (029's octal size excluded, as
 * in the original). */
static const vector spec_vectors[] = {
    {"\"null\"", "\"null\"", 7195948357588979594LL},
    {"{\"type\":\"null\"}", "\"null\"", 0},
    {"\"boolean\"", "\"boolean\"", -6970731678124411036LL},
    {"{\"type\":\"boolean\"}", "\"boolean\"", 0},
    {"\"int\"", "\"int\"", 8247732601305521295LL},
    {"{\"type\":\"int\"}", "\"int\"", 0},
    {"\"long\"", "\"long\"", -3434872931120570953LL},
    {"{\"type\":\"long\"}", "\"long\"", 0},
    {"\"float\"", "\"float\"", 5583340709985441680LL},
    {"{\"type\":\"float\"}", "\"float\"", 0},
    {"\"double\"", "\"double\"", -8181574048448539266LL},
    {"{\"type\":\"double\"}", "\"double\"", 0},
    {"\"bytes\"", "\"bytes\"", 5746618253357095269LL},
    {"{\"type\":\"bytes\"}", "\"bytes\"", 0},
    {"\"string\"", "\"string\"", -8142146995180207161LL},
    {"{\"type\":\"string\"}", "\"string\"", 0},
    {"[  ]", "[]", -1241056759729112623LL},
    {"[ \"int\"  ]", "[\"int\"]", -5232228896498058493LL},
    {"[ \"int\" , {\"type\":\"boolean\"} ]", "[\"int\",\"boolean\"]",
     5392556393470105090LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\"}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}",
     -4824392279771201922LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", "
     "\"namespace\":\"x.y\"}",
     "{\"name\":\"x.y.foo\",\"type\":\"record\",\"fields\":[]}",
     5916914534497305771LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"a.b.foo\", "
     "\"namespace\":\"x.y\"}",
     "{\"name\":\"a.b.foo\",\"type\":\"record\",\"fields\":[]}",
     -4616218487480524110LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", \"doc\":\"Useful "
     "info\"}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}",
     -4824392279771201922LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", "
     "\"aliases\":[\"foo\",\"bar\"]}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}",
     -4824392279771201922LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", \"doc\":\"foo\", "
     "\"aliases\":[\"foo\",\"bar\"]}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}",
     -4824392279771201922LL},
    {"{\"fields\":[{\"type\":{\"type\":\"boolean\"}, \"name\":\"f1\"}], "
     "\"type\":\"record\", \"name\":\"foo\"}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[{\"name\":\"f1\","
     "\"type\":\"boolean\"}]}",
     7843277075252814651LL},
    {"{ \"fields\":[{\"type\":\"boolean\", \"aliases\":[], \"name\":\"f1\", "
     "\"default\":\"true\"},\n"
     "            {\"order\":\"descending\",\"name\":\"f2\",\"doc\":\"Hello\","
     "\"type\":\"int\"}],\n"
     "  \"type\":\"record\", \"name\":\"foo\"\n}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[{\"name\":\"f1\","
     "\"type\":\"boolean\"},{\"name\":\"f2\",\"type\":\"int\"}]}",
     -4860222112080293046LL},
    {"{\"type\":\"enum\", \"name\":\"foo\", \"symbols\":[\"A1\"]}",
     "{\"name\":\"foo\",\"type\":\"enum\",\"symbols\":[\"A1\"]}",
     -6342190197741309591LL},
    {"{\"namespace\":\"x.y.z\", \"type\":\"enum\", \"name\":\"foo\", "
     "\"doc\":\"foo bar\", \"symbols\":[\"A1\", \"A2\"]}",
     "{\"name\":\"x.y.z.foo\",\"type\":\"enum\",\"symbols\":[\"A1\",\"A2\"]}",
     -4448647247586288245LL},
    {"{\"name\":\"foo\",\"type\":\"fixed\",\"size\":15}",
     "{\"name\":\"foo\",\"type\":\"fixed\",\"size\":15}",
     1756455273707447556LL},
    {"{\"namespace\":\"x.y.z\", \"type\":\"fixed\", \"name\":\"foo\", "
     "\"doc\":\"foo bar\", \"size\":32}",
     "{\"name\":\"x.y.z.foo\",\"type\":\"fixed\",\"size\":32}",
     -3064184465700546786LL},
    {"{ \"items\":{\"type\":\"null\"}, \"type\":\"array\"}",
     "{\"type\":\"array\",\"items\":\"null\"}", -589620603366471059LL},
    {"{ \"values\":\"string\", \"type\":\"map\"}",
     "{\"type\":\"map\",\"values\":\"string\"}", -8732877298790414990LL},
    {"  {\"name\":\"PigValue\",\"type\":\"record\",\n"
     "   \"fields\":[{\"name\":\"value\", \"type\":[\"null\", \"int\", "
     "\"long\", \"PigValue\"]}]}",
     "{\"name\":\"PigValue\",\"type\":\"record\",\"fields\":[{\"name\":"
     "\"value\",\"type\":[\"null\",\"int\",\"long\",\"PigValue\"]}]}",
     -1759257747318642341LL},
};

static void test_crc64_of_empty_input_is_the_seed(void **state) {
  (void)state;
  assert_true(ll_crc64_avro("", 0) == 0xc15d213aa4d7a795ULL);
}

static void test_spec_vectors(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof spec_vectors / sizeof *spec_vectors; i++) {
    const vector *v = &spec_vectors[i];
    ll_err err = {0};
    char *canonical = ll_avro_canonical_form(v->input, &err);
    if (!canonical)
      fail_msg("vector %zu: %s", i, err.message);
    assert_string_equal(canonical, v->canonical);
    if (v->fingerprint != 0) {
      uint64_t fp = ll_crc64_avro(canonical, strlen(canonical));
      if (fp != (uint64_t)v->fingerprint)
        fail_msg("vector %zu: fingerprint %016llx, want %016llx", i,
                 (unsigned long long)fp,
                 (unsigned long long)(uint64_t)v->fingerprint);
    }
    free(canonical);
  }
}

/* Rules the vectors do not cover but lotline's schemas rely on. */
static void test_namespaces_and_logical_types(void **state) {
  (void)state;
  static const struct {
    const char *input, *canonical;
  } cases[] = {
      /* Nested types inherit the namespace; references become full names. */
      {"{\"type\":\"record\",\"name\":\"A\",\"namespace\":\"n.s\",\"fields\":["
       "{\"name\":\"x\",\"type\":{\"type\":\"record\",\"name\":\"L\","
       "\"fields\":[{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":"
       "\"E\",\"symbols\":[\"P\"]}}]}},{\"name\":\"y\",\"type\":\"L\"},"
       "{\"name\":\"z\",\"type\":[\"null\",\"n.s.E\"]}]}",
       "{\"name\":\"n.s.A\",\"type\":\"record\",\"fields\":[{\"name\":\"x\","
       "\"type\":{\"name\":\"n.s.L\",\"type\":\"record\",\"fields\":[{"
       "\"name\":\"e\",\"type\":{\"name\":\"n.s.E\",\"type\":\"enum\","
       "\"symbols\":[\"P\"]}}]}},{\"name\":\"y\",\"type\":\"n.s.L\"},{"
       "\"name\":\"z\",\"type\":[\"null\",\"n.s.E\"]}]}"},
      /* A dotted name sets the namespace of what it encloses. */
      {"{\"type\":\"record\",\"name\":\"a.b.R\",\"namespace\":\"x\","
       "\"fields\":[{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":"
       "\"F\",\"size\":04}}]}",
       NULL},
      {"{\"type\":\"record\",\"name\":\"a.b.R\",\"namespace\":\"x\","
       "\"fields\":[{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":"
       "\"F\",\"size\":4}}]}",
       "{\"name\":\"a.b.R\",\"type\":\"record\",\"fields\":[{\"name\":\"f\","
       "\"type\":{\"name\":\"a.b.F\",\"type\":\"fixed\",\"size\":4}}]}"},
      /* An empty namespace resets to the null namespace. */
      {"{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"x\",\"fields\":["
       "{\"name\":\"f\",\"type\":{\"type\":\"enum\",\"name\":\"E\","
       "\"namespace\":\"\",\"symbols\":[\"A\"]}},{\"name\":\"g\",\"type\":"
       "\"E\"}]}",
       "{\"name\":\"x.R\",\"type\":\"record\",\"fields\":[{\"name\":\"f\","
       "\"type\":{\"name\":\"E\",\"type\":\"enum\",\"symbols\":[\"A\"]}},{"
       "\"name\":\"g\",\"type\":\"E\"}]}"},
      /* Logical types are not part of the parsing form (as in Java). */
      {"{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}", "\"long\""},
      {"{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":18,"
       "\"scale\":6}",
       "\"bytes\""},
      /* Escapes become UTF-8; attributes are reordered. */
      {"{\"symbols\":[\"\\u0041\"],\"name\":\"\\u0045\",\"type\":\"enum\"}",
       "{\"name\":\"E\",\"type\":\"enum\",\"symbols\":[\"A\"]}"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    ll_err err = {0};
    char *canonical = ll_avro_canonical_form(cases[i].input, &err);
    if (!cases[i].canonical) {
      assert_null(canonical); /* 04 is not JSON */
      continue;
    }
    if (!canonical)
      fail_msg("case %zu: %s", i, err.message);
    assert_string_equal(canonical, cases[i].canonical);
    free(canonical);
  }
}

static void test_invalid_schemas_are_refused(void **state) {
  (void)state;
  static const char *const bad[] = {
      "",
      "{",
      "\"Nowhere\"",                                         /* undefined */
      "{\"type\":\"record\",\"name\":\"R\"}",                /* no fields */
      "{\"type\":\"record\",\"name\":\"1R\",\"fields\":[]}", /* bad name */
      "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"a-b\"]}",
      "{\"type\":\"fixed\",\"name\":\"F\",\"size\":-1}",
      "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\","
      "\"type\":{\"type\":\"enum\",\"name\":\"R\",\"symbols\":[\"X\"]}}]}",
      "{\"type\":\"array\"}",
      "42",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    ll_err err = {0};
    char *canonical = ll_avro_canonical_form(bad[i], &err);
    if (canonical)
      fail_msg("case %zu accepted: %s", i, canonical);
    assert_true(err.message[0] != '\0');
  }
}

/* The published fingerprints of lotline's schemas. These are what
 * producers put in the single-object header: if this test fails because a
 * published .avsc was edited, add a new version file instead. */
static const struct {
  const char *file;
  uint64_t fingerprint;
} published[] = {
    {"LotCreated.v1.avsc", 0x10c6dd6365451df2ULL},
    {"LotUpdated.v1.avsc", 0xb6b76664a2a51865ULL},
    {"StockMoved.v1.avsc", 0x487e1d55c5cfcc15ULL},
    {"Rejection.v1.avsc", 0x62381fe1ae59c07bULL},
    {"QuantityChanged.v1.avsc", 0xde01584a40f006d4ULL},
    {"LotCreated.v2.avsc", 0x493b139e9ab84da5ULL},
    {"LotUpdated.v2.avsc", 0xa20a34b3a0d814c2ULL},
    {"StockMoved.v2.avsc", 0xc3641ac7bcd74f55ULL},
    {"LotHeld.v1.avsc", 0x70c7979672aa6d04ULL},
    {"LotReleased.v1.avsc", 0x0ab58e2198106d9bULL},
};

static void test_published_fingerprints(void **state) {
  (void)state;
  ll_codec *codec = open_codec(schemas_dir(), NULL);
  for (size_t i = 0; i < sizeof published / sizeof *published; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", schemas_dir(), published[i].file);
    char *text = read_whole_file(path);
    ll_err err = {0};
    char *canonical = ll_avro_canonical_form(text, &err);
    if (!canonical)
      fail_msg("%s: %s", published[i].file, err.message);
    uint64_t fp = ll_crc64_avro(canonical, strlen(canonical));
    if (fp != published[i].fingerprint)
      fail_msg("%s: fingerprint %016llx, published %016llx\n%s",
               published[i].file, (unsigned long long)fp,
               (unsigned long long)published[i].fingerprint, canonical);
    free(canonical);
    free(text);
  }
  /* The codec reports the same numbers for the event schemas: v1 stays
   * readable, the newest version is the current one. */
  static const ll_event_type types[] = {LL_EV_LOT_CREATED, LL_EV_LOT_UPDATED,
                                        LL_EV_STOCK_MOVED};
  for (size_t i = 0; i < 3; i++) {
    uint64_t current = 0, v1 = 0;
    assert_true(ll_codec_fingerprint(codec, types[i], 0, &current));
    assert_true(ll_codec_fingerprint(codec, types[i], 1, &v1));
    assert_true(v1 == published[i].fingerprint);
    assert_true(current == published[5 + i].fingerprint);
  }
  static const ll_event_type holds[] = {LL_EV_LOT_HELD, LL_EV_LOT_RELEASED};
  for (size_t i = 0; i < 2; i++) {
    uint64_t current = 0;
    assert_true(ll_codec_fingerprint(codec, holds[i], 0, &current));
    assert_true(current == published[8 + i].fingerprint);
  }
  uint64_t none;
  assert_false(ll_codec_fingerprint(codec, LL_EV_LOT_CREATED, 99, &none));
  assert_false(ll_codec_fingerprint(codec, LL_EV_NONE, 0, &none));
  ll_codec_close(codec);
}

/* The StockMoved form in full: nested Location, reference by full name. */
static void test_stock_moved_canonical_form(void **state) {
  (void)state;
  char path[1024];
  snprintf(path, sizeof path, "%s/StockMoved.v1.avsc", schemas_dir());
  char *text = read_whole_file(path);
  ll_err err = {0};
  char *canonical = ll_avro_canonical_form(text, &err);
  assert_non_null(canonical);
  assert_string_equal(
      canonical,
      "{\"name\":\"lotline.v1.StockMoved\",\"type\":\"record\",\"fields\":["
      "{\"name\":\"event_id\",\"type\":\"string\"},{\"name\":\"occurred_at\","
      "\"type\":\"long\"},{\"name\":\"product_id\",\"type\":\"string\"},{"
      "\"name\":\"lot_id\",\"type\":[\"null\",\"string\"]},{\"name\":"
      "\"lot_name\",\"type\":[\"null\",\"string\"]},{\"name\":\"quantity\","
      "\"type\":\"bytes\"},{\"name\":\"from\",\"type\":{\"name\":"
      "\"lotline.v1.Location\",\"type\":\"record\",\"fields\":[{\"name\":"
      "\"id\",\"type\":\"string\"},{\"name\":\"usage\",\"type\":{\"name\":"
      "\"lotline.v1.Usage\",\"type\":\"enum\",\"symbols\":[\"INTERNAL\","
      "\"TRANSIT\",\"SUPPLIER\",\"CUSTOMER\",\"INVENTORY\",\"PRODUCTION\","
      "\"SCRAP\"]}}]}},{\"name\":\"to\",\"type\":\"lotline.v1.Location\"},{"
      "\"name\":\"reference\",\"type\":[\"null\",\"string\"]}]}");
  free(canonical);
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crc64_of_empty_input_is_the_seed),
      cmocka_unit_test(test_spec_vectors),
      cmocka_unit_test(test_namespaces_and_logical_types),
      cmocka_unit_test(test_invalid_schemas_are_refused),
      cmocka_unit_test(test_published_fingerprints),
      cmocka_unit_test(test_stock_moved_canonical_form),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
