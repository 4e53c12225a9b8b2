/* ll_types.c — names of the domain enums and the error value helper. The
 * name tables are the stable strings of the contract: never reorder them. */
#include "ll_types.h"
#include <assert.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const code_names[LL_CODE_COUNT] = {
    [LL_OK] = "OK",
    [LL_MALFORMED] = "MALFORMED",
    [LL_UNKNOWN_SCHEMA] = "UNKNOWN_SCHEMA",
    [LL_KEY_MISMATCH] = "KEY_MISMATCH",
    [LL_MISSING_FIELD] = "MISSING_FIELD",
    [LL_INVALID_FIELD] = "INVALID_FIELD",
    [LL_DUPLICATE_LOT] = "DUPLICATE_LOT",
    [LL_LOT_ID_TAKEN] = "LOT_ID_TAKEN",
    [LL_TRACKING_MISMATCH] = "TRACKING_MISMATCH",
    [LL_UNKNOWN_LOT] = "UNKNOWN_LOT",
    [LL_VERSION_CONFLICT] = "VERSION_CONFLICT",
    [LL_PRODUCT_LOCKED] = "PRODUCT_LOCKED",
    [LL_LOT_PRODUCT_MISMATCH] = "LOT_PRODUCT_MISMATCH",
    [LL_INVALID_QUANTITY] = "INVALID_QUANTITY",
    [LL_SAME_LOCATION] = "SAME_LOCATION",
    [LL_LOCATION_USAGE_CONFLICT] = "LOCATION_USAGE_CONFLICT",
    [LL_SERIAL_QUANTITY] = "SERIAL_QUANTITY",
    [LL_SERIAL_NOT_AT_SOURCE] = "SERIAL_NOT_AT_SOURCE",
    [LL_SERIAL_ALREADY_IN_STOCK] = "SERIAL_ALREADY_IN_STOCK",
    [LL_INSUFFICIENT_STOCK] = "INSUFFICIENT_STOCK",
    [LL_INVALID_DATES] = "INVALID_DATES",
    [LL_EXPIRED_LOT] = "EXPIRED_LOT",
    [LL_EVENT_ID_REUSED] = "EVENT_ID_REUSED",
    [LL_WRONG_PARTITION] = "WRONG_PARTITION",
    [LL_LOT_ON_HOLD] = "LOT_ON_HOLD",
    [LL_UOM_MISMATCH] = "UOM_MISMATCH",
};

static const char *const usage_names[LL_USAGE_COUNT] = {
    "INTERNAL",  "TRANSIT",    "SUPPLIER", "CUSTOMER",
    "INVENTORY", "PRODUCTION", "SCRAP",
};

const char *ll_code_name(ll_code code) {
  if ((int)code < 0 || code >= LL_CODE_COUNT)
    return "UNKNOWN";
  return code_names[code];
}

bool ll_code_parse(const char *name, ll_code *out) {
  for (int i = 0; name && i < LL_CODE_COUNT; i++) {
    if (strcmp(code_names[i], name) == 0) {
      *out = (ll_code)i;
      return true;
    }
  }
  return false;
}

const char *ll_usage_name(ll_usage usage) {
  if ((int)usage < 0 || usage >= LL_USAGE_COUNT)
    return "UNKNOWN";
  return usage_names[usage];
}

bool ll_usage_parse(const char *name, ll_usage *out) {
  for (int i = 0; name && i < LL_USAGE_COUNT; i++) {
    if (strcmp(usage_names[i], name) == 0) {
      *out = (ll_usage)i;
      return true;
    }
  }
  return false;
}

bool ll_usage_is_stock(ll_usage usage) {
  return usage == LL_USAGE_INTERNAL || usage == LL_USAGE_TRANSIT;
}

const char *ll_tracking_name(ll_tracking t) {
  return t == LL_TRACK_SERIAL ? "SERIAL" : "LOT";
}

bool ll_tracking_parse(const char *name, ll_tracking *out) {
  if (name && strcmp(name, "LOT") == 0) {
    *out = LL_TRACK_LOT;
    return true;
  }
  if (name && strcmp(name, "SERIAL") == 0) {
    *out = LL_TRACK_SERIAL;
    return true;
  }
  return false;
}

const char *ll_event_type_name(ll_event_type t) {
  switch (t) {
  case LL_EV_LOT_CREATED:
    return "LotCreated";
  case LL_EV_LOT_UPDATED:
    return "LotUpdated";
  case LL_EV_STOCK_MOVED:
    return "StockMoved";
  case LL_EV_LOT_HELD:
    return "LotHeld";
  case LL_EV_LOT_RELEASED:
    return "LotReleased";
  default:
    return "None";
  }
}

int ll_err_set(ll_err *err, ll_code code, const char *fmt, ...) {
  /* A failure is ll_fail() with its kind (tests/style/tidy.py keeps it). */
  assert(code > LL_OK && code < LL_CODE_COUNT);
  if (err) {
    err->kind = LL_ERR_REJECTED;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
  }
  return -1;
}

int ll_fail(ll_err *err, ll_err_kind kind, const char *fmt, ...) {
  assert(kind > LL_ERR_REJECTED && kind < LL_ERR_KIND_COUNT);
  if (err) {
    err->kind = kind;
    err->code = LL_OK;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
  }
  return -1;
}

const char *ll_err_kind_name(ll_err_kind kind) {
  static const char *const names[LL_ERR_KIND_COUNT] = {
      [LL_ERR_NONE] = "NONE",       [LL_ERR_REJECTED] = "REJECTED",
      [LL_ERR_IO] = "IO",           [LL_ERR_CORRUPT] = "CORRUPT",
      [LL_ERR_KAFKA] = "KAFKA",     [LL_ERR_CONFIG] = "CONFIG",
      [LL_ERR_FULL] = "FULL",       [LL_ERR_BUSY] = "BUSY",
      [LL_ERR_TIMEOUT] = "TIMEOUT", [LL_ERR_INTERNAL] = "INTERNAL",
  };
  return kind < LL_ERR_KIND_COUNT ? names[kind] : "?";
}
