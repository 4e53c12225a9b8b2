/* bulk.h — what `lotline generate` and `lotline import` share: the pure
 * parts (name series, CSV and NDJSON rows -> API requests; bulk_parse.c,
 * unit-tested on their own) and the sender (bulk_send.c: libcurl multi,
 * per-lane order, progress, outcomes).
 *
 * A row becomes one request: POST /v1/lots for a lot, POST /v1/moves for a
 * move, with the HTTP body of docs/api.md. Rows of one product go
 * in one "lane": a lane's requests are sent one after the other in file
 * order, lanes run side by side, so a product's moves keep their order
 * while different products load in parallel. */
#ifndef LOTLINE_BULK_H
#define LOTLINE_BULK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BULK_FIELDS_MAX 64                /* CSV columns */
#define BULK_FIELD_MAX_BYTES (256 * 1024) /* one CSV cell / NDJSON line */
#define BULK_MESSAGE_MAX 512
#define BULK_CONCURRENCY_DEFAULT 8
#define BULK_CONCURRENCY_MAX 64
#define BULK_RETRIES 3 /* 503 or a broken connection: same key, again */
#define BULK_CODE_BAD_ROW "BAD_ROW" /* the row could not be read */
#define BULK_CODE_UNAVAILABLE "UNAVAILABLE"

/* ---- name series (generate) ---- */

/* `name` with its LAST run of ASCII digits increased by `step`, keeping
 * what is before and after the digits and the zero padding:
 *   SN-0009 +1 -> SN-0010     LOT-99-A +1 -> LOT-100-A (the run grows
 *   when it overflows)        A7B +3 -> A10B
 * Works on digit strings of any length (no integer overflow). Returns a
 * malloc'd string, or NULL when name has no digit. */
char *bulk_name_add(const char *name, uint64_t step);

/* ---- rows ---- */

typedef enum bulk_kind {
  BULK_LOT = 1,  /* POST /v1/lots */
  BULK_MOVE = 2, /* POST /v1/moves */
} bulk_kind;

/* One row made into a request. */
typedef struct bulk_request {
  bulk_kind kind;
  json_t *body;          /* owned */
  char *product;         /* the lane; owned */
  char *idempotency_key; /* from the row, or NULL (the caller derives one) */
} bulk_request;

void bulk_request_free(bulk_request *r);

/* One CSV record: fields as parsed (quotes removed, unquoted fields
 * trimmed of spaces and tabs). */
typedef struct bulk_fields {
  char *v[BULK_FIELDS_MAX];
  size_t n;
} bulk_fields;

void bulk_fields_free(bulk_fields *f);

/* Read one CSV record (RFC 4180: ',' separates, '"' quotes, '""' is a
 * quote inside quotes, quoted fields may hold commas and line breaks; LF or
 * CRLF ends a record) from [*p, end). *p moves past the record, *lines
 * counts the line breaks consumed. On a syntax error (a stray quote, an
 * unterminated quote, too many fields, a field too long) returns -1 with a
 * message, and *p is past the bad record anyway so reading can go on. */
int bulk_csv_record(const char **p, const char *end, bulk_fields *out,
                    size_t *lines, char *msg, size_t msg_size);

/* The columns a CSV file may have (header row, any order, case-insensitive).
 * error_line, error_code and error_message (written to a rejects file) are
 * ignored, so a fixed rejects file can be imported again. */
typedef enum bulk_column {
  BULK_COL_IGNORED = 0,
  BULK_COL_TYPE,
  BULK_COL_LOT_ID,
  BULK_COL_LOT_NAME,
  BULK_COL_PRODUCT_ID,
  BULK_COL_NAME,
  BULK_COL_TRACKING,
  BULK_COL_REFERENCE,
  BULK_COL_DESCRIPTION,
  BULK_COL_EXPIRATION_AT,
  BULK_COL_USE_BY_AT,
  BULK_COL_REMOVAL_AT,
  BULK_COL_ALERT_AT,
  BULK_COL_QUANTITY,
  BULK_COL_FROM,
  BULK_COL_FROM_USAGE,
  BULK_COL_TO,
  BULK_COL_TO_USAGE,
  BULK_COL_IDEMPOTENCY_KEY,
  BULK_COL_COUNT,
} bulk_column;

typedef struct bulk_header {
  bulk_column col[BULK_FIELDS_MAX];
  size_t n;
} bulk_header;

/* Map a header record to columns. -1 with a message for an unknown or
 * repeated column, or no "type" column. */
int bulk_csv_header(const bulk_fields *f, bulk_header *h, char *msg,
                    size_t msg_size);

/* A CSV row -> request. Empty cells are absent. type is lot or move (any
 * case); tracking lot or serial; usages any case (default INTERNAL);
 * dates RFC 3339 or YYYY-MM-DD (midnight UTC). Values are checked for
 * form only (the API applies the rules). -1 with a message when the row
 * cannot become a request (wrong number of cells, unknown type, a value
 * that is not UTF-8). */
int bulk_csv_request(const bulk_header *h, const bulk_fields *row,
                     bulk_request *out, char *msg, size_t msg_size);

/* An NDJSON line -> request: a JSON object with "type": "lot" | "move",
 * the HTTP body fields (docs/api.md), and optionally "idempotency_key";
 * "type", "idempotency_key" and "error" (written to a rejects file) are
 * not sent. -1 with a message when the row cannot become a request (a
 * BAD_ROW: not a JSON object, no type, a member of the other row type);
 * BULK_UNKNOWN_KEY when it has a member no row may have (the whole file is
 * refused, as for an unknown CSV column). */
#define BULK_UNKNOWN_KEY (-2)
int bulk_ndjson_request(const char *line, size_t len, bulk_request *out,
                        char *msg, size_t msg_size);

/* ---- sending (bulk_send.c) ---- */

/* One request to send, and its outcome. */
typedef struct bulk_item {
  size_t line; /* first line of the row in its file; 0 = none */
  char *label; /* how messages name it (generate: the lot name) */
  bulk_kind kind;
  json_t *body; /* NULL: failed before sending (code/message set) */
  char *lane;   /* same lane = sent in order, one at a time */
  char *idempotency_key;
  const char *raw; /* the row as written (borrowed), for rejects */
  size_t raw_len;
  /* outcome */
  bool done;
  long status;   /* HTTP status, 0 when none */
  char *code;    /* NULL when accepted */
  char *message; /* why not */
  /* scheduling (bulk_send.c) */
  long next_in_lane;
  int attempts;
  uint64_t retry_at_ns;
} bulk_item;

typedef struct bulk_batch {
  bulk_item *items;
  size_t n, cap;
} bulk_batch;

/* A new item at the end (zeroed, line set); the batch owns its strings. */
bulk_item *bulk_batch_add(bulk_batch *b, size_t line);
void bulk_item_fail(bulk_item *it, const char *code, const char *message);
void bulk_batch_free(bulk_batch *b);

typedef struct bulk_send_opts {
  const char *api_url; /* base URL, no trailing '/' */
  int timeout_ms;      /* per request */
  int concurrency;     /* requests in flight, 1..BULK_CONCURRENCY_MAX */
  bool progress;       /* progress on stderr */
  const char *what;    /* "rows", "lots": for the progress line */
} bulk_send_opts;

#define BULK_CODES_MAX 64

typedef struct bulk_code_count {
  char code[48];
  size_t count;
} bulk_code_count;

typedef struct bulk_summary {
  size_t accepted, rejected;
  size_t n_codes;
  bulk_code_count codes[BULK_CODES_MAX]; /* by count, then name */
} bulk_summary;

/* Send every item, at most `concurrency` at a time, each lane in order.
 * Items already failed are counted, not sent. 503 answers and broken
 * connections are retried (same Idempotency-Key) BULK_RETRIES times, then
 * count as UNAVAILABLE. Returns 0, or -1 when libcurl itself fails. */
int bulk_send(bulk_batch *b, const bulk_send_opts *o, bulk_summary *s);

#endif
