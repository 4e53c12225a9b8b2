/* test_bulk.c — the pure half of `lotline generate` and `lotline import`
 * (services/lotline/bulk_parse.c): name series, CSV records and rows, and
 * NDJSON lines made into API requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "bulk.h"

/* ---- names ---- */

static void check_add(const char *name, uint64_t step, const char *want) {
  char *got = bulk_name_add(name, step);
  if (want == NULL) {
    assert_null(got);
    return;
  }
  assert_non_null(got);
  assert_string_equal(got, want);
  free(got);
}

static void test_name_series(void **state) {
  (void)state;
  check_add("SN-0001", 0, "SN-0001");
  check_add("SN-0001", 1, "SN-0002");
  check_add("SN-0009", 1, "SN-0010");
  check_add("SN-0099", 1, "SN-0100");
  check_add("SN-9999", 1, "SN-10000"); /* the run grows past its width */
  check_add("LOT-99-A", 1, "LOT-100-A");
  check_add("LOT-2027-001-B", 41, "LOT-2027-042-B"); /* the LAST run */
  check_add("A7B", 3, "A10B");
  check_add("7", 5, "12");
  check_add("0000", 10000, "10000");
  check_add("X-0001", 123456789012ULL, "X-123456789013");
  /* Longer than any integer: plain decimal addition. */
  check_add("ID-99999999999999999999999999", 1,
            "ID-100000000000000000000000000");
  check_add("no digits", 1, NULL);
  check_add("", 1, NULL);
}

/* ---- CSV records ---- */

typedef struct parsed {
  bulk_fields f;
  int rc;
  size_t lines;
  char msg[BULK_MESSAGE_MAX];
} parsed;

/* Parse the next record of *p (within text). */
static parsed next(const char **p, const char *text) {
  parsed r;
  memset(&r, 0, sizeof r);
  const char *end = text + strlen(text);
  r.rc = bulk_csv_record(p, end, &r.f, &r.lines, r.msg, sizeof r.msg);
  return r;
}

static void expect_fields(parsed *r, size_t n, ...) {
  assert_int_equal(r->rc, 0);
  assert_int_equal(r->f.n, n);
  va_list ap;
  va_start(ap, n);
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(r->f.v[i], va_arg(ap, const char *));
  }
  va_end(ap);
  bulk_fields_free(&r->f);
}

static void test_csv_records(void **state) {
  (void)state;
  const char *text = "a,b , c\r\n"
                     "\"x, y\",\"say \"\"hi\"\"\",  \"kept \"\n"
                     "\"two\nlines\",,\n"
                     "last";
  const char *p = text;
  parsed r = next(&p, text);
  expect_fields(&r, 3, "a", "b", "c");
  assert_int_equal(r.lines, 1);
  r = next(&p, text);
  expect_fields(&r, 3, "x, y", "say \"hi\"", "kept ");
  r = next(&p, text);
  assert_int_equal(r.lines, 2); /* a line break inside quotes */
  expect_fields(&r, 3, "two\nlines", "", "");
  r = next(&p, text);
  expect_fields(&r, 1, "last"); /* no final line break */
  assert_ptr_equal(p, text + strlen(text));
}

static void test_csv_errors_skip_only_the_bad_line(void **state) {
  (void)state;
  const char *text = "ok,1\n"
                     "bad\"quote,2\n"
                     "\"closed\"junk,3\n"
                     "\"never closed,4\n"
                     "after,5\n";
  const char *p = text;
  parsed r = next(&p, text);
  expect_fields(&r, 2, "ok", "1");
  r = next(&p, text);
  assert_int_equal(r.rc, -1);
  assert_non_null(strstr(r.msg, "quote inside an unquoted field"));
  r = next(&p, text);
  assert_int_equal(r.rc, -1);
  assert_non_null(strstr(r.msg, "after the closing quote"));
  r = next(&p, text);
  assert_int_equal(r.rc, -1);
  assert_non_null(strstr(r.msg, "not closed"));
  assert_int_equal(r.lines, 1);
  r = next(&p, text);
  expect_fields(&r, 2, "after", "5");
}

static void test_csv_too_many_fields(void **state) {
  (void)state;
  char text[4 * BULK_FIELDS_MAX + 8];
  size_t n = 0;
  for (int i = 0; i <= BULK_FIELDS_MAX; i++) {
    n += (size_t)snprintf(text + n, sizeof text - n, "x,");
  }
  text[n - 1] = '\n';
  const char *p = text;
  parsed r = next(&p, text);
  assert_int_equal(r.rc, -1);
  assert_non_null(strstr(r.msg, "more than"));
}

/* ---- CSV rows ---- */

static bulk_header header_of(const char *line) {
  const char *p = line;
  parsed r = next(&p, line);
  assert_int_equal(r.rc, 0);
  bulk_header h;
  char msg[BULK_MESSAGE_MAX];
  assert_int_equal(bulk_csv_header(&r.f, &h, msg, sizeof msg), 0);
  bulk_fields_free(&r.f);
  return h;
}

/* Row -> request; the body as compact JSON with sorted keys. */
static char *row_body(const bulk_header *h, const char *line, bulk_request *req,
                      char *msg) {
  const char *p = line;
  parsed r = next(&p, line);
  assert_int_equal(r.rc, 0);
  int rc = bulk_csv_request(h, &r.f, req, msg, BULK_MESSAGE_MAX);
  bulk_fields_free(&r.f);
  if (rc != 0) {
    return NULL;
  }
  return json_dumps(req->body, JSON_COMPACT | JSON_SORT_KEYS);
}

static void test_csv_header(void **state) {
  (void)state;
  char msg[BULK_MESSAGE_MAX];
  bulk_header h;
  const char *bad[][2] = {
      {"type,lot_id,colour\n", "unknown column 'colour'"},
      {"type,lot_id,LOT_ID\n", "appears twice"},
      {"lot_id,product_id\n", "no 'type' column"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *p = bad[i][0];
    parsed r = next(&p, bad[i][0]);
    assert_int_equal(bulk_csv_header(&r.f, &h, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, bad[i][1]));
    bulk_fields_free(&r.f);
  }
  /* Case-insensitive; a rejects file's error columns are ignored. */
  h = header_of("Type,LOT_ID,error_line,error_code,error_message\n");
  assert_int_equal(h.n, 5);
  assert_int_equal(h.col[0], BULK_COL_TYPE);
  assert_int_equal(h.col[1], BULK_COL_LOT_ID);
  assert_int_equal(h.col[2], BULK_COL_IGNORED);
}

static void test_csv_lot_row(void **state) {
  (void)state;
  bulk_header h =
      header_of("type,lot_id,product_id,name,tracking,reference,expiration_at,"
                "use_by_at,quantity,from,error_code\n");
  bulk_request req;
  char msg[BULK_MESSAGE_MAX];
  char *body = row_body(&h,
                        "LOT,L-1,P-100,SN-0001,serial,PO-7,2027-03-01,"
                        "2027-02-01T12:00:00+01:00,,,OLD\n",
                        &req, msg);
  assert_non_null(body);
  assert_string_equal(body, "{\"expiration_at\":\"2027-03-01T00:00:00Z\","
                            "\"lot_id\":\"L-1\",\"name\":\"SN-0001\","
                            "\"product_id\":\"P-100\",\"reference\":\"PO-7\","
                            "\"tracking\":\"SERIAL\","
                            "\"use_by_at\":\"2027-02-01T11:00:00Z\"}");
  assert_int_equal(req.kind, BULK_LOT);
  assert_string_equal(req.product, "P-100");
  assert_null(req.idempotency_key);
  free(body);
  bulk_request_free(&req);
  /* A date the CLI cannot read goes as it is: the API names the problem. */
  body = row_body(&h, "lot,L-2,P-100,SN-2,,,next tuesday,,,,\n", &req, msg);
  assert_non_null(strstr(body, "\"expiration_at\":\"next tuesday\""));
  free(body);
  bulk_request_free(&req);
  /* A lot row with a move's column. */
  assert_null(row_body(&h, "lot,L-3,P-100,SN-3,,,,,5,,\n", &req, msg));
  assert_non_null(strstr(msg, "quantity does not apply to a lot"));
}

static void test_csv_move_row(void **state) {
  (void)state;
  bulk_header h = header_of("type,lot_name,product_id,quantity,from,"
                            "from_usage,to,to_usage,reference,"
                            "idempotency_key\n");
  bulk_request req;
  char msg[BULK_MESSAGE_MAX];
  char *body = row_body(&h,
                        "move,SN-0001,P-100,2.5,Vendors/Acme,supplier,"
                        "\"WH/Stock, Shelf 2\",,PO-7,my-key-1\n",
                        &req, msg);
  assert_non_null(body);
  assert_string_equal(body, "{\"from\":{\"id\":\"Vendors/Acme\",\"usage\":"
                            "\"SUPPLIER\"},\"lot_name\":\"SN-0001\","
                            "\"product_id\":\"P-100\",\"quantity\":\"2.5\","
                            "\"reference\":\"PO-7\",\"to\":{\"id\":\"WH/Stock, "
                            "Shelf 2\",\"usage\":\"INTERNAL\"}}");
  assert_int_equal(req.kind, BULK_MOVE);
  assert_string_equal(req.idempotency_key, "my-key-1");
  free(body);
  bulk_request_free(&req);

  const char *bad[][2] = {
      {"move,SN-1,P-100,1,A\n", "5 field(s), the header has 10"},
      {"transfer,SN-1,P-100,1,A,,B,,,\n", "type must be lot or move"},
      {",SN-1,P-100,1,A,,B,,,\n", "type must be lot or move"},
      {"move,\xff,P-100,1,A,,B,,,\n", "not valid UTF-8"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_null(row_body(&h, bad[i][0], &req, msg));
    if (strstr(msg, bad[i][1]) == NULL) {
      fail_msg("row %zu: '%s' does not say '%s'", i, msg, bad[i][1]);
    }
  }
}

/* ---- NDJSON ---- */

static void test_ndjson(void **state) {
  (void)state;
  bulk_request req;
  char msg[BULK_MESSAGE_MAX];
  const char *line =
      "{\"type\":\"Move\",\"product_id\":\"P\",\"lot_id\":\"L\","
      "\"quantity\":\"1\",\"from\":{\"id\":\"A\",\"usage\":\"INTERNAL\"},"
      "\"to\":{\"id\":\"B\",\"usage\":\"INTERNAL\"},\"idempotency_key\":"
      "\"k-1\",\"error\":{\"code\":\"OLD\"}}";
  assert_int_equal(
      bulk_ndjson_request(line, strlen(line), &req, msg, sizeof msg), 0);
  assert_int_equal(req.kind, BULK_MOVE);
  assert_string_equal(req.product, "P");
  assert_string_equal(req.idempotency_key, "k-1");
  /* type, idempotency_key and an old error are not sent. */
  assert_null(json_object_get(req.body, "type"));
  assert_null(json_object_get(req.body, "idempotency_key"));
  assert_null(json_object_get(req.body, "error"));
  assert_string_equal(json_string_value(json_object_get(req.body, "lot_id")),
                      "L");
  bulk_request_free(&req);

  const char *bad[][2] = {
      {"not json", "not JSON"},
      {"[1,2]", "not a JSON object"},
      {"{\"product_id\":\"P\"}", "\"type\" must be"},
      {"{\"type\":\"sale\"}", "\"type\" must be"},
      {"{\"type\":\"lot\",\"type\":\"move\"}", "not JSON"},
      {"{\"type\":\"lot\",\"idempotency_key\":7}", "must be a string"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(bulk_ndjson_request(bad[i][0], strlen(bad[i][0]), &req,
                                         msg, sizeof msg),
                     -1);
    if (strstr(msg, bad[i][1]) == NULL) {
      fail_msg("line %zu: '%s' does not say '%s'", i, msg, bad[i][1]);
    }
  }
}

/* As strict as CSV: a member no row may have refuses the file (as an
 * unknown column), one of the other row type makes the row a BAD_ROW (as
 * a cell in such a column). */
static void test_ndjson_unknown_members(void **state) {
  (void)state;
  bulk_request req;
  char msg[BULK_MESSAGE_MAX];
  const char *unknown[][2] = {
      {"{\"type\":\"lot\",\"lot_id\":\"L\",\"qty\":\"1\"}", "'qty'"},
      {"{\"type\":\"move\",\"quantity\":\"1\",\"form\":{\"id\":\"A\"}}",
       "'form'"},
      {"{\"type\":\"move\",\"to\":{\"id\":\"B\",\"usge\":\"SCRAP\"}}",
       "'to.usge'"},
      {"{\"typo\":\"lot\"}", "'typo'"},
  };
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    int rc = bulk_ndjson_request(unknown[i][0], strlen(unknown[i][0]), &req,
                                 msg, sizeof msg);
    if (rc != BULK_UNKNOWN_KEY || strstr(msg, unknown[i][1]) == NULL) {
      fail_msg("line %zu: rc %d, '%s' does not name %s", i, rc, msg,
               unknown[i][1]);
    }
    assert_non_null(strstr(msg, "unknown key"));
  }
  const char *other_type[][2] = {
      {"{\"type\":\"lot\",\"lot_id\":\"L\",\"quantity\":\"1\"}",
       "quantity does not apply to a lot row"},
      {"{\"type\":\"move\",\"lot_id\":\"L\",\"tracking\":\"LOT\"}",
       "tracking does not apply to a move row"},
  };
  for (size_t i = 0; i < sizeof other_type / sizeof other_type[0]; i++) {
    int rc = bulk_ndjson_request(other_type[i][0], strlen(other_type[i][0]),
                                 &req, msg, sizeof msg);
    if (rc != -1 || strstr(msg, other_type[i][1]) == NULL) {
      fail_msg("line %zu: rc %d, '%s'", i, rc, msg);
    }
  }
  /* null is absent (docs/api.md): a lot row may carry "quantity": null */
  const char *nulls = "{\"type\":\"lot\",\"lot_id\":\"L\",\"quantity\":null}";
  assert_int_equal(
      bulk_ndjson_request(nulls, strlen(nulls), &req, msg, sizeof msg), 0);
  assert_null(json_object_get(req.body, "quantity")); /* not sent */
  bulk_request_free(&req);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_name_series),
      cmocka_unit_test(test_csv_records),
      cmocka_unit_test(test_csv_errors_skip_only_the_bad_line),
      cmocka_unit_test(test_csv_too_many_fields),
      cmocka_unit_test(test_csv_header),
      cmocka_unit_test(test_csv_lot_row),
      cmocka_unit_test(test_csv_move_row),
      cmocka_unit_test(test_ndjson),
      cmocka_unit_test(test_ndjson_unknown_members),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
