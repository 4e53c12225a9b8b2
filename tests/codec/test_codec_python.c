/* test_codec_python.c — the codec against another Avro implementation.
 *
 * python_crosscheck.py (python3-avro) computes the canonical form and
 * CRC-64-AVRO of every schema, encodes sample records, and decodes what
 * this codec encodes. Agreement on all three means a Python or Java
 * producer and lotline see the same fingerprints and the same bytes.
 * Exits 77 (ctest: skipped) when /usr/bin/python3 or its avro package is
 * missing. */
#include "codec_fixture.h"

#define PYTHON "/usr/bin/python3"

/* Run the script; returns its exit status, output in out (NUL-ended). */
static int run_script(const char *args, ll_buf *out) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "%s %s %s", PYTHON, CODEC_PYTHON_SCRIPT, args);
  FILE *p = popen(cmd, "r");
  if (!p)
    return -1;
  char tmp[4096];
  size_t n;
  ll_buf_reset(out);
  while ((n = fread(tmp, 1, sizeof tmp, p)) > 0)
    ll_buf_put(out, tmp, n);
  ll_buf_put_u8(out, 0);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_fingerprints_match_python(void **state) {
  (void)state;
  ll_buf out;
  ll_buf_init(&out);
  char args[2048];
  snprintf(args, sizeof args, "fingerprints '%s'", schemas_dir());
  assert_int_equal(run_script(args, &out), 0);
  int files = 0;
  char *save = NULL;
  for (char *line = strtok_r((char *)out.data, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    char *file = line;
    char *fp_hex = strchr(file, '\t');
    assert_non_null(fp_hex);
    *fp_hex++ = '\0';
    char *py_canonical = strchr(fp_hex, '\t');
    assert_non_null(py_canonical);
    *py_canonical++ = '\0';

    char path[2048];
    snprintf(path, sizeof path, "%s/%s", schemas_dir(), file);
    char *text = read_whole_file(path);
    ll_err err;
    char *canonical = ll_avro_canonical_form(text, &err);
    if (!canonical)
      fail_msg("%s: %s", file, err.message);
    if (strcmp(canonical, py_canonical) != 0)
      fail_msg("%s canonical form differs:\n C: %s\n py: %s", file, canonical,
               py_canonical);
    unsigned long long py_fp = strtoull(fp_hex, NULL, 16);
    uint64_t fp = ll_crc64_avro(canonical, strlen(canonical));
    if (fp != py_fp)
      fail_msg("%s: C %016llx, python %016llx", file, (unsigned long long)fp,
               py_fp);
    printf("%-24s %016llx\n", file, (unsigned long long)fp);
    free(canonical);
    free(text);
    files++;
  }
  assert_int_equal(files, 11);
  ll_buf_free(&out);
}

static void hex_decode(const char *hex, ll_buf *out) {
  for (size_t i = 0; hex[i] && hex[i + 1]; i += 2) {
    unsigned byte;
    assert_int_equal(sscanf(hex + i, "%2x", &byte), 1);
    ll_buf_put_u8(out, (uint8_t)byte);
  }
}

/* The samples python_crosscheck.py writes, as lotline events. */
static void python_lot_created(ll_event *ev) {
  ll_event_init(ev);
  ev->type = LL_EV_LOT_CREATED;
  ev->event_id = ll_strdup("py-ev-1");
  ev->occurred_at_ms = 1767225600123LL;
  ev->product_id = ll_strdup("P-100");
  ev->lot_id = ll_strdup("lot-py-1");
  ev->name = ll_strdup("LOT-\xc3\xa9t\xc3\xa9-2027");
  ev->tracking = LL_TRACK_SERIAL;
  ev->reference = ll_strdup("PO-77");
  ev->expiration_at = (ll_opt_time){true, 1830297600000LL};
  ev->removal_at = (ll_opt_time){true, 1827619200000LL};
  ev->uom = ll_strdup("kg");
  ll_props_add(&ev->properties, "origin", "DE");
  ll_props_add(&ev->properties, "supplier_batch", "B-7");
}

static void python_stock_moved(ll_event *ev) {
  ll_event_init(ev);
  ev->type = LL_EV_STOCK_MOVED;
  ev->event_id = ll_strdup("py-ev-2");
  ev->occurred_at_ms = 1767225600999LL;
  ev->product_id = ll_strdup("P-100");
  ev->lot_name = ll_strdup("LOT-7");
  ev->quantity_valid = true;
  ev->quantity_micro = -12345678;
  ev->from.id = ll_strdup("WH/Stock/Shelf-2");
  ev->from.usage = LL_USAGE_INTERNAL;
  ev->to.id = ll_strdup("Partners/Customers");
  ev->to.usage = LL_USAGE_CUSTOMER;
  ev->reference = ll_strdup("WH/OUT/0001");
  ev->partner_id = ll_strdup("C-42");
  ev->partner_name = ll_strdup("Caf\xc3\xa9 Bob");
  ev->uom = ll_strdup("kg");
}

static void test_python_bytes_decode_here(void **state) {
  (void)state;
  ll_codec *c = open_codec(schemas_dir(), NULL);
  ll_buf out;
  ll_buf_init(&out);
  char args[2048];
  snprintf(args, sizeof args, "encode '%s'", schemas_dir());
  assert_int_equal(run_script(args, &out), 0);
  int records = 0;
  char *save = NULL;
  for (char *line = strtok_r((char *)out.data, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    char *hex = strchr(line, '\t');
    assert_non_null(hex);
    *hex++ = '\0';
    ll_event expected;
    ll_event_type type;
    if (strcmp(line, "LotCreated") == 0) {
      python_lot_created(&expected);
      type = LL_EV_LOT_CREATED;
    } else {
      assert_string_equal(line, "StockMoved");
      python_stock_moved(&expected);
      type = LL_EV_STOCK_MOVED;
    }
    ll_buf avro, msg;
    ll_buf_init(&avro);
    ll_buf_init(&msg);
    hex_decode(hex, &avro);
    uint64_t fp;
    assert_true(ll_codec_fingerprint(c, type, 0, &fp));
    single_object_frame(fp, &avro, &msg);
    ll_event got;
    ll_event_init(&got);
    ll_err err;
    bool retry;
    if (ll_codec_decode(c, msg.data, msg.len, &got, &retry, &err) != LL_OK)
      fail_msg("%s from python: %s", line, err.message);
    assert_events_equal(&expected, &got);

    /* And the other way: our bytes for the same record, read by Python. */
    ll_buf ours;
    ll_buf_init(&ours);
    assert_int_equal(ll_codec_encode_version(c, &expected, 0, &ours, &err), 0);
    assert_int_equal(ours.len, avro.len);
    assert_memory_equal(ours.data, avro.data, avro.len);
    ll_buf hexbuf, pyout;
    ll_buf_init(&hexbuf);
    ll_buf_init(&pyout);
    for (size_t i = 0; i < ours.len; i++)
      ll_buf_printf(&hexbuf, "%02x", ours.data[i]);
    ll_buf_put_u8(&hexbuf, 0);
    char dargs[8192];
    snprintf(dargs, sizeof dargs, "decode '%s' %s %s", schemas_dir(), line,
             (char *)hexbuf.data);
    if (run_script(dargs, &pyout) != 0)
      fail_msg("python could not read our %s: %s", line, (char *)pyout.data);

    ll_buf_free(&hexbuf);
    ll_buf_free(&pyout);
    ll_buf_free(&ours);
    ll_event_free(&got);
    ll_event_free(&expected);
    ll_buf_free(&avro);
    ll_buf_free(&msg);
    records++;
  }
  assert_int_equal(records, 2);
  ll_buf_free(&out);
  ll_codec_close(c);
}

int main(void) {
  if (access(PYTHON, X_OK) != 0 ||
      system(PYTHON " -c 'import avro.schema, avro.io' 2>/dev/null") != 0) {
    printf("skipped: %s with the avro package is not available\n", PYTHON);
    return 77;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fingerprints_match_python),
      cmocka_unit_test(test_python_bytes_decode_here),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
