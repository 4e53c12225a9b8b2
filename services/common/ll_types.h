/* ll_types.h — the domain vocabulary shared by every part of lotline.
 *
 * An event is what upstream systems send (LotCreated, LotUpdated,
 * StockMoved); a lot is the state the rules keep per lot. Strings are owned,
 * NUL-terminated UTF-8 on the heap; NULL means "absent". Quantities are
 * exact fixed-point decimals with scale 6, held as int64 micro-units
 * (1.5 == 1500000): no floating point ever touches a quantity. */
#ifndef LL_TYPES_H
#define LL_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits (docs/rejections.md, "Limits"). Characters are Unicode code
 * points. */
#define LL_TEXT_MAX_CHARS 255          /* name, reference, every id */
#define LL_DESCRIPTION_MAX_BYTES 65536 /* description: 64 KiB */
#define LL_QUANTITY_SCALE 6
/* Largest quantity, in micro-units: the Avro schemas' decimal(18, 6),
 * 999,999,999,999.999999. Applies to a move's quantity and to every
 * quantity the rules keep (per location, either sign, and on hand). */
#define LL_QUANTITY_MAX_MICRO 999999999999999999LL
#define LL_MICRO 1000000LL
#define LL_MESSAGE_MAX_BYTES 512 /* rejection/error message */

typedef enum ll_event_type {
  LL_EV_NONE = 0,
  LL_EV_LOT_CREATED = 1,
  LL_EV_LOT_UPDATED = 2,
  LL_EV_STOCK_MOVED = 3,
  LL_EV_LOT_HELD = 4,
  LL_EV_LOT_RELEASED = 5,
} ll_event_type;
#define LL_EV_LAST LL_EV_LOT_RELEASED

typedef enum ll_tracking {
  LL_TRACK_LOT = 0,
  LL_TRACK_SERIAL = 1,
} ll_tracking;

/* Same order as the Avro enum symbols in schemas/. */
typedef enum ll_usage {
  LL_USAGE_INTERNAL = 0,
  LL_USAGE_TRANSIT = 1,
  LL_USAGE_SUPPLIER = 2,
  LL_USAGE_CUSTOMER = 3,
  LL_USAGE_INVENTORY = 4,
  LL_USAGE_PRODUCTION = 5,
  LL_USAGE_SCRAP = 6,
  LL_USAGE_COUNT = 7,
} ll_usage;

/* Rejection codes: stable, part of the contract (docs/rejections.md). LL_OK
 * is not a rejection. Keep ll_code_name() in ll_types.c in the same order. */
typedef enum ll_code {
  LL_OK = 0,
  LL_MALFORMED,
  LL_UNKNOWN_SCHEMA,
  LL_KEY_MISMATCH,
  LL_MISSING_FIELD,
  LL_INVALID_FIELD,
  LL_DUPLICATE_LOT,
  LL_LOT_ID_TAKEN,
  LL_TRACKING_MISMATCH,
  LL_UNKNOWN_LOT,
  LL_VERSION_CONFLICT,
  LL_PRODUCT_LOCKED,
  LL_LOT_PRODUCT_MISMATCH,
  LL_INVALID_QUANTITY,
  LL_SAME_LOCATION,
  LL_LOCATION_USAGE_CONFLICT,
  LL_SERIAL_QUANTITY,
  LL_SERIAL_NOT_AT_SOURCE,
  LL_SERIAL_ALREADY_IN_STOCK,
  LL_INSUFFICIENT_STOCK,
  LL_INVALID_DATES,
  LL_EXPIRED_LOT,
  LL_EVENT_ID_REUSED,
  LL_WRONG_PARTITION,
  LL_LOT_ON_HOLD,
  LL_UOM_MISMATCH,
  LL_CODE_COUNT,
} ll_code;

typedef struct ll_opt_time {
  bool set;
  int64_t ms; /* milliseconds since the Unix epoch, UTC */
} ll_opt_time;

/* Limits of a lot's properties (docs/events.md, "Properties"). */
#define LL_PROPERTIES_MAX 64 /* keys per lot and per event */

/* One property of a lot: a key and a text value. In a LotUpdated an empty
 * value removes the key. */
typedef struct ll_prop {
  char *key;
  char *value;
} ll_prop;

/* A property map, sorted by key (ll_props_sort) so that its packed form
 * and its digest do not depend on the order a producer wrote it in. */
typedef struct ll_props {
  ll_prop *items;
  size_t n;
} ll_props;

typedef struct ll_location {
  char *id; /* path such as "WH/Stock/Shelf-2" */
  ll_usage usage;
} ll_location;

/* One upstream event. Which fields matter depends on `type`:
 *  LotCreated: event_id, occurred_at_ms, product_id, lot_id, name, tracking,
 *              reference, description, the four dates.
 *  LotUpdated: event_id, occurred_at_ms, product_id (current product),
 *              lot_id, has_expected_version/expected_version, and optional new
 *              values name, new_product_id, reference, description, dates.
 *              NULL / !set means unchanged; "" clears reference/description.
 *  StockMoved: event_id, occurred_at_ms, product_id, lot_id or lot_name,
 *              quantity, from, to, reference; optional partner (the
 *              supplier of a receipt, the customer of a delivery), uom.
 *  LotHeld, LotReleased: event_id, occurred_at_ms, product_id, lot_id,
 *              reason.
 *  LotCreated also takes uom and properties; LotUpdated properties (merged
 *  into the lot's; an empty value removes a key). */
typedef struct ll_event {
  ll_event_type type;
  char *event_id;
  int64_t occurred_at_ms;
  char *product_id;
  char *lot_id;
  char *lot_name;       /* StockMoved only: alternative to lot_id */
  char *name;           /* LotCreated: required. LotUpdated: NULL = unchanged */
  ll_tracking tracking; /* LotCreated */
  char *new_product_id; /* LotUpdated */
  char *reference;
  char *description;
  ll_opt_time expiration_at, use_by_at, removal_at, alert_at;
  bool has_expected_version;
  int64_t expected_version;
  /* StockMoved. quantity_valid is false when the wire value could not be
   * represented (overflow, wrong scale): the rules reject INVALID_QUANTITY. */
  bool quantity_valid;
  int64_t quantity_micro;
  ll_location from, to;
  char *reason;        /* LotHeld, LotReleased */
  char *partner_id;    /* StockMoved: NULL = no partner */
  char *partner_name;  /* StockMoved */
  char *uom;           /* LotCreated, StockMoved: NULL = not stated */
  ll_props properties; /* LotCreated, LotUpdated */
} ll_event;

/* The state of one lot, as the rules and the lot details view keep it. */
typedef struct ll_lot {
  char *lot_id;
  char *product_id;
  char *name;
  ll_tracking tracking;
  char *reference;   /* NULL = none */
  char *description; /* NULL = none */
  ll_opt_time expiration_at, use_by_at, removal_at, alert_at;
  int64_t version;       /* 1 when created, +1 per accepted LotUpdated */
  int64_t on_hand_micro; /* sum over INTERNAL and TRANSIT locations */
  int64_t move_count;    /* accepted StockMoved events of this lot */
  int64_t created_at_ms; /* occurred_at of the LotCreated */
  int64_t updated_at_ms; /* occurred_at of the last accepted event on it */
  char *hold_reason;     /* NULL = not held */
  int64_t hold_since_ms; /* occurred_at of the LotHeld that holds it */
  char *uom;             /* the unit the lot was created with, or NULL */
  ll_props properties;
} ll_lot;

/* Kinds of runtime failure, as SQLite's primary result codes: the caller
 * branches on the kind, the message explains the case. Logs and exit
 * reasons show the kind's name ("IO", ...). A rejection is not a failure:
 * its kind is LL_ERR_REJECTED and its code says which rule. */
typedef enum ll_err_kind {
  LL_ERR_NONE = 0, /* no error */
  LL_ERR_REJECTED, /* an event refused by a rule or a field check: see code */
  LL_ERR_IO,       /* the disk, the file system or a storage call failed */
  LL_ERR_CORRUPT,  /* stored or received bytes that do not decode or verify */
  LL_ERR_KAFKA,    /* the broker or the Kafka client */
  LL_ERR_CONFIG,   /* a setting, a file it names, an argument or a request */
  LL_ERR_FULL,     /* a bound reached: disk space, a table, a size limit */
  LL_ERR_BUSY,     /* held by someone else: a lock, another process */
  LL_ERR_TIMEOUT,  /* an answer that did not come in time */
  LL_ERR_INTERNAL, /* an invariant broken or a library's unexpected answer */
  LL_ERR_KIND_COUNT,
} ll_err_kind;

/* Errors are values: a kind, a rejection code (LL_OK unless kind is
 * LL_ERR_REJECTED) and a human-readable message. */
typedef struct ll_err {
  ll_err_kind kind;
  ll_code code;
  char message[LL_MESSAGE_MAX_BYTES];
} ll_err;

const char *ll_code_name(ll_code code); /* "INSUFFICIENT_STOCK" */
bool ll_code_parse(const char *name, ll_code *out);
const char *ll_err_kind_name(ll_err_kind kind); /* "IO" */
const char *ll_usage_name(ll_usage usage);      /* "INTERNAL" */
bool ll_usage_parse(const char *name, ll_usage *out);
bool ll_usage_is_stock(ll_usage usage);      /* INTERNAL or TRANSIT */
const char *ll_tracking_name(ll_tracking t); /* "LOT" / "SERIAL" */
bool ll_tracking_parse(const char *name, ll_tracking *out);
const char *ll_event_type_name(ll_event_type t); /* "LotCreated" ... */

/* A rejection: fills err with the rule's code (not LL_OK) and a
 * printf-style message; returns -1. err may be NULL. */
int ll_err_set(ll_err *err, ll_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A runtime failure of the given kind (not NONE or REJECTED); returns -1 so
 * callers can write `return ll_fail(err, LL_ERR_IO, "...")`. err may be
 * NULL. */
int ll_fail(ll_err *err, ll_err_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
