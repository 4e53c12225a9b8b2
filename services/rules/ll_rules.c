/* ll_rules.c — the inventory rules: a pure function of (facts, event).
 *
 * Every event goes through the same front door, then the rules of its type.
 * The first rule that fails decides the rejection; a rejection changes
 * nothing but the event id's record (see ll_state.c). The order:
 *
 *   every event  1. event_id present and valid (MISSING_FIELD, INVALID_FIELD)
 *                2. id seen: same content -> duplicate, else EVENT_ID_REUSED
 *                3. ll_check_fields, no state: MISSING_FIELD, INVALID_FIELD,
 *                   INVALID_QUANTITY (<= 0, unreadable, above
 *                   LL_QUANTITY_MAX_MICRO), SAME_LOCATION,
 *                   INVALID_DATES (the event's own dates)
 *   LotCreated   DUPLICATE_LOT, LOT_ID_TAKEN, TRACKING_MISMATCH,
 *                UOM_MISMATCH (a unit other than the one the product fixed)
 *   LotUpdated   UNKNOWN_LOT, VERSION_CONFLICT, PRODUCT_LOCKED (any
 *                new_product_id other than product_id), DUPLICATE_LOT,
 *                INVALID_DATES (the update merged with the lot's dates)
 *   StockMoved   UNKNOWN_LOT, INVALID_FIELD (lot_id and lot_name disagree),
 *                UOM_MISMATCH, LOCATION_USAGE_CONFLICT (from, to),
 *                SERIAL_QUANTITY, SERIAL_NOT_AT_SOURCE,
 *                SERIAL_ALREADY_IN_STOCK, INSUFFICIENT_STOCK, LOT_ON_HOLD,
 *                EXPIRED_LOT,
 *                INVALID_QUANTITY (a quantity kept, at either location or
 *                on hand, would leave +-LL_QUANTITY_MAX_MICRO)
 *   LotHeld,     UNKNOWN_LOT. Holding a held lot and releasing a lot that
 *   LotReleased  is not held are accepted and change nothing but the
 *                history (docs/rejections.md, "Holds").
 *
 * Every rule is local to the event's product: a lot is (product_id,
 * lot_id), event ids, names, tracking and location usages are scoped by
 * product (ll_state.c), so a lot of another product is simply unknown here
 * and LOT_PRODUCT_MISMATCH can no longer happen (docs/rejections.md).
 *
 * The order is the one docs/rejections.md gives ("Order of checks"). For
 * updates and moves the rules that say whether the event addresses an
 * existing lot of its product come first: the other rules cannot be judged
 * without that lot, and an update written against a stale version is
 * reported as such before anything its (stale) content may break.
 *
 * Names are compared exactly after trimming surrounding white space, and the
 * lot keeps the trimmed name. Messages are for people: they name the lot
 * (name and id), product, locations and quantities, and are cut at a
 * character boundary to fit LL_MESSAGE_MAX_BYTES. */
#include "ll_rules.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ll_decimal.h"
#include "ll_event.h"
#include "ll_mem.h"
#include "ll_text.h"
#include "ll_time.h"

#define DUPLICATE_LOT_SENTENCE                                                 \
  "The combination of lot/serial number and product must be unique."
#define PRODUCT_LOCKED_SENTENCE "The product of a lot cannot be changed."
#define SERIAL_ASSIGNED_SENTENCE "The serial number has already been assigned."

/* ---- messages ---- */

/* printf into a message buffer; when the text does not fit, it is cut on a
 * UTF-8 character boundary and ends in an ellipsis, so the message stays
 * valid UTF-8 for JSON and Avro. */
static void msg_vformat(char *out, size_t size, const char *fmt, va_list ap) {
  static const char ellipsis[] = "\xE2\x80\xA6";
  int n = vsnprintf(out, size, fmt, ap);
  if (n < 0) {
    out[0] = '\0';
    return;
  }
  if ((size_t)n < size)
    return;
  size_t cut = size - sizeof ellipsis;
  while (cut > 0 && ((unsigned char)out[cut] & 0xC0) == 0x80)
    cut--;
  memcpy(out + cut, ellipsis, sizeof ellipsis);
}

static void msg_format(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void msg_format(char *out, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  msg_vformat(out, size, fmt, ap);
  va_end(ap);
}

static ll_code err_set(ll_err *err, ll_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static ll_code err_set(ll_err *err, ll_code code, const char *fmt, ...) {
  assert(code != LL_OK);
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    err->kind = LL_ERR_REJECTED;
    err->code = code;
    msg_vformat(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
  }
  return code;
}

static void reject(ll_decision *d, ll_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reject(ll_decision *d, ll_code code, const char *fmt, ...) {
  assert(code != LL_OK);
  va_list ap;
  va_start(ap, fmt);
  d->accepted = false;
  d->code = code;
  msg_vformat(d->message, sizeof d->message, fmt, ap);
  va_end(ap);
}

static void reject_err(ll_decision *d, const ll_err *err) {
  d->accepted = false;
  d->code = err->code;
  memcpy(d->message, err->message, sizeof d->message);
}

static const char *kind_of(const ll_lot *lot) {
  return lot->tracking == LL_TRACK_SERIAL ? "Serial number" : "Lot";
}

/* ---- field checks (no state) ---- */

static bool present(const char *s) {
  return !ll_text_blank(s);
}

typedef struct text_rule {
  bool required;
  bool trimmed; /* limits apply to the trimmed text (names) */
  bool allow_newlines;
  size_t max_chars;
  size_t max_bytes;
} text_rule;

static const text_rule ID_RULE = {true, false, false, LL_TEXT_MAX_CHARS, 0};
static const text_rule NAME_RULE = {true, true, false, LL_TEXT_MAX_CHARS, 0};
static const text_rule OPT_NAME_RULE = {false, true, false, LL_TEXT_MAX_CHARS,
                                        0};
static const text_rule OPT_TEXT_RULE = {false, false, false, LL_TEXT_MAX_CHARS,
                                        0};
static const text_rule DESCRIPTION_RULE = {false, false, true, 0,
                                           LL_DESCRIPTION_MAX_BYTES};

/* A required text must be present and not blank. Every given text must be
 * UTF-8 without control characters and within its limits. The field's value
 * never goes into the message: it may be the very thing that is invalid. */
static ll_code check_text(const char *field, const char *value,
                          const text_rule *rule, ll_err *err) {
  if (!present(value)) {
    if (rule->required)
      return err_set(err, LL_MISSING_FIELD, "The field %s is required.", field);
    if (!value)
      return LL_OK;
  }
  switch (ll_text_check(value, 0, 0, rule->allow_newlines)) {
  case LL_TEXT_OK:
    break;
  case LL_TEXT_BAD_UTF8:
    return err_set(err, LL_INVALID_FIELD, "The field %s is not valid UTF-8.",
                   field);
  case LL_TEXT_CONTROL:
    return err_set(err, LL_INVALID_FIELD,
                   "The field %s contains control characters.", field);
  case LL_TEXT_TOO_LONG:
    break; /* no limits were asked for */
  }
  char *trimmed = rule->trimmed ? ll_text_trim_dup(value) : NULL;
  const char *measured = trimmed ? trimmed : value;
  size_t chars = ll_text_chars(measured);
  size_t bytes = strlen(measured);
  free(trimmed);
  if (rule->max_chars && chars > rule->max_chars)
    return err_set(err, LL_INVALID_FIELD,
                   "The field %s is too long: %zu characters, at most %zu.",
                   field, chars, rule->max_chars);
  if (rule->max_bytes && bytes > rule->max_bytes)
    return err_set(err, LL_INVALID_FIELD,
                   "The field %s is too long: %zu bytes, at most %zu.", field,
                   bytes, rule->max_bytes);
  return LL_OK;
}

/* In an update, a given name or product must not be empty: absent means
 * unchanged, but there is no "no name" or "no product". */
static ll_code check_optional_required(const char *field, const char *value,
                                       const text_rule *rule, ll_err *err) {
  if (value && !present(value))
    return err_set(err, LL_MISSING_FIELD, "The field %s must not be empty.",
                   field);
  return check_text(field, value, rule, err);
}

static ll_code check_date_pair(const char *label, ll_opt_time date,
                               const char *date_name, ll_opt_time expiration,
                               ll_err *err) {
  if (!date.set || !expiration.set || date.ms <= expiration.ms)
    return LL_OK;
  char a[32], b[32];
  return err_set(err, LL_INVALID_DATES,
                 "%s: the %s date (%s) is later than the expiration date "
                 "(%s).",
                 label, date_name, ll_time_format(date.ms, a),
                 ll_time_format(expiration.ms, b));
}

/* Alert, removal and use-by dates may not come after the expiration date. */
static ll_code check_dates(const char *label, ll_opt_time expiration,
                           ll_opt_time use_by, ll_opt_time removal,
                           ll_opt_time alert, ll_err *err) {
  ll_code code;
  if ((code = check_date_pair(label, alert, "alert", expiration, err)))
    return code;
  if ((code = check_date_pair(label, removal, "removal", expiration, err)))
    return code;
  return check_date_pair(label, use_by, "use-by", expiration, err);
}

static ll_code check_event_id(const ll_event *ev, ll_err *err) {
  return check_text("event_id", ev->event_id, &ID_RULE, err);
}

static ll_code check_created_fields(const ll_event *ev, ll_err *err) {
  ll_code code;
  if ((code = check_text("lot_id", ev->lot_id, &ID_RULE, err)) ||
      (code = check_text("name", ev->name, &NAME_RULE, err)))
    return code;
  if (ev->tracking != LL_TRACK_LOT && ev->tracking != LL_TRACK_SERIAL)
    return err_set(err, LL_INVALID_FIELD,
                   "The field tracking must be LOT or SERIAL.");
  if ((code = check_text("reference", ev->reference, &OPT_TEXT_RULE, err)) ||
      (code =
           check_text("description", ev->description, &DESCRIPTION_RULE, err)))
    return code;
  char label[LL_MESSAGE_MAX_BYTES];
  char *name = ll_text_trim_dup(ev->name);
  msg_format(label, sizeof label, "The new lot '%s' (%s)", name, ev->lot_id);
  free(name);
  return check_dates(label, ev->expiration_at, ev->use_by_at, ev->removal_at,
                     ev->alert_at, err);
}

static ll_code check_updated_fields(const ll_event *ev, ll_err *err) {
  ll_code code;
  if ((code = check_text("lot_id", ev->lot_id, &ID_RULE, err)) ||
      (code = check_optional_required("name", ev->name, &OPT_NAME_RULE, err)) ||
      (code = check_optional_required("new_product_id", ev->new_product_id,
                                      &OPT_TEXT_RULE, err)) ||
      (code = check_text("reference", ev->reference, &OPT_TEXT_RULE, err)) ||
      (code =
           check_text("description", ev->description, &DESCRIPTION_RULE, err)))
    return code;
  /* Only the dates the event itself gives; ll_decide checks them again
   * merged with the lot's current dates. */
  char label[LL_MESSAGE_MAX_BYTES];
  msg_format(label, sizeof label, "The update of lot %s", ev->lot_id);
  return check_dates(label, ev->expiration_at, ev->use_by_at, ev->removal_at,
                     ev->alert_at, err);
}

static ll_code check_location(const char *field, const ll_location *loc,
                              ll_err *err) {
  ll_code code = check_text(field, loc->id, &ID_RULE, err);
  if (code)
    return code;
  if ((int)loc->usage < 0 || loc->usage >= LL_USAGE_COUNT)
    return err_set(err, LL_INVALID_FIELD, "The usage of %s is not known.",
                   field);
  return LL_OK;
}

static ll_code check_moved_fields(const ll_event *ev, ll_err *err) {
  ll_code code;
  if (!present(ev->lot_id) && !present(ev->lot_name))
    return err_set(err, LL_MISSING_FIELD,
                   "The field lot_id or lot_name is required.");
  if ((present(ev->lot_id) &&
       (code = check_text("lot_id", ev->lot_id, &ID_RULE, err))) ||
      (present(ev->lot_name) &&
       (code = check_text("lot_name", ev->lot_name, &NAME_RULE, err))) ||
      (code = check_location("from.id", &ev->from, err)) ||
      (code = check_location("to.id", &ev->to, err)) ||
      (code = check_text("reference", ev->reference, &OPT_TEXT_RULE, err)))
    return code;
  if (!ev->quantity_valid)
    return err_set(err, LL_INVALID_QUANTITY,
                   "The quantity is not a decimal with at most 6 decimals "
                   "that fits the supported range.");
  char q[LL_DECIMAL_STR_MAX], max[LL_DECIMAL_STR_MAX];
  if (ev->quantity_micro <= 0)
    return err_set(err, LL_INVALID_QUANTITY,
                   "The quantity must be greater than zero, not %s.",
                   ll_decimal_format(ev->quantity_micro, q));
  if (ev->quantity_micro > LL_QUANTITY_MAX_MICRO)
    return err_set(err, LL_INVALID_QUANTITY,
                   "The quantity %s is more than the largest quantity lotline "
                   "accepts, %s (decimal precision 18, scale 6).",
                   ll_decimal_format(ev->quantity_micro, q),
                   ll_decimal_format(LL_QUANTITY_MAX_MICRO, max));
  if (strcmp(ev->from.id, ev->to.id) == 0)
    return err_set(err, LL_SAME_LOCATION,
                   "A move needs two different locations; both are '%s'.",
                   ev->from.id);
  return LL_OK;
}

/* Properties: at most LL_PROPERTIES_MAX, keys are required texts, values
 * optional ones (an empty value removes the key in an update, and is not
 * kept on a create). */
static ll_code check_properties(const ll_props *p, ll_err *err) {
  ll_code code;
  if (p->n > LL_PROPERTIES_MAX)
    return err_set(err, LL_INVALID_FIELD,
                   "The field properties has %zu keys, at most %d.", p->n,
                   LL_PROPERTIES_MAX);
  for (size_t i = 0; i < p->n; i++)
    if ((code = check_text("properties key", p->items[i].key, &ID_RULE, err)) ||
        (code = check_text("properties value", p->items[i].value,
                           &OPT_TEXT_RULE, err)))
      return code;
  return LL_OK;
}

static ll_code check_hold_fields(const ll_event *ev, ll_err *err) {
  ll_code code;
  if ((code = check_text("lot_id", ev->lot_id, &ID_RULE, err)))
    return code;
  return check_text("reason", ev->reason, &ID_RULE, err);
}

/* A partner is optional; given, it needs an id. */
static ll_code check_partner(const ll_event *ev, ll_err *err) {
  ll_code code;
  if (ev->partner_id == NULL && ev->partner_name == NULL)
    return LL_OK;
  if ((code = check_text("partner.id", ev->partner_id, &ID_RULE, err)))
    return code;
  return check_text("partner.name", ev->partner_name, &OPT_TEXT_RULE, err);
}

/* An update that gives no field to change (only expected_version, or
 * nothing) would still bump the version and take a place in the permanent
 * log: it is refused (docs/rejections.md, MISSING_FIELD). "" for reference
 * or description counts: it clears them. */
static bool update_changes_something(const ll_event *ev) {
  return ev->name != NULL || ev->new_product_id != NULL ||
         ev->reference != NULL || ev->description != NULL ||
         ev->expiration_at.set || ev->use_by_at.set || ev->removal_at.set ||
         ev->alert_at.set || ev->properties.n > 0;
}

ll_code ll_check_fields(const ll_event *ev, ll_err *err) {
  if (ev->type < LL_EV_LOT_CREATED || ev->type > LL_EV_LAST)
    return err_set(err, LL_MALFORMED, "The event type is not known.");
  ll_code code;
  if ((code = check_event_id(ev, err)) ||
      (code = check_text("product_id", ev->product_id, &ID_RULE, err)))
    return code;
  switch (ev->type) {
  case LL_EV_LOT_CREATED:
    if ((code = check_created_fields(ev, err)) ||
        (code = check_text("uom", ev->uom, &OPT_TEXT_RULE, err)))
      return code;
    return check_properties(&ev->properties, err);
  case LL_EV_LOT_UPDATED:
    if ((code = check_updated_fields(ev, err)) ||
        (code = check_properties(&ev->properties, err)))
      return code;
    if (!update_changes_something(ev))
      return err_set(err, LL_MISSING_FIELD,
                     "LotUpdated changes nothing: give at least one of name, "
                     "new_product_id, reference, description, expiration_at, "
                     "use_by_at, removal_at, alert_at, properties.");
    return LL_OK;
  case LL_EV_LOT_HELD:
  case LL_EV_LOT_RELEASED:
    return check_hold_fields(ev, err);
  default:
    if ((code = check_moved_fields(ev, err)) || (code = check_partner(ev, err)))
      return code;
    return check_text("uom", ev->uom, &OPT_TEXT_RULE, err);
  }
}

/* ---- LotCreated ---- */

/* "" clears an optional text: the lot holds NULL for "none". */
static char *optional_text(const char *s) {
  return s && *s ? ll_strdup(s) : NULL;
}

static void decide_created(const ll_facts *facts, const ll_event *ev,
                           ll_decision *d) {
  char *name = ll_text_trim_dup(ev->name);
  if (facts->name_owner_lot_id) {
    reject(d, LL_DUPLICATE_LOT,
           DUPLICATE_LOT_SENTENCE
           " Product '%s' already has a lot named '%s' (lot id '%s').",
           ev->product_id, name, facts->name_owner_lot_id);
  } else if (facts->lot_found) {
    reject(d, LL_LOT_ID_TAKEN,
           "The lot id '%s' is already taken by lot '%s' of product '%s'.",
           ev->lot_id, facts->lot.name, facts->lot.product_id);
  } else if (facts->tracking_found && facts->tracking != ev->tracking) {
    reject(d, LL_TRACKING_MISMATCH,
           "Product '%s' is tracked by %s (fixed by its first lot), so lot "
           "'%s' (%s) cannot be tracked by %s.",
           ev->product_id, ll_tracking_name(facts->tracking), name, ev->lot_id,
           ll_tracking_name(ev->tracking));
  } else if (ev->uom && facts->uom && strcmp(ev->uom, facts->uom) != 0) {
    reject(d, LL_UOM_MISMATCH,
           "Product '%s' is measured in '%s' (fixed by its first lot that "
           "stated a unit), so lot '%s' (%s) cannot be measured in '%s'.",
           ev->product_id, facts->uom, name, ev->lot_id, ev->uom);
  } else {
    ll_lot *lot = &d->lot;
    d->accepted = true;
    lot->lot_id = ll_strdup(ev->lot_id);
    lot->product_id = ll_strdup(ev->product_id);
    lot->name = name;
    name = NULL;
    lot->tracking = ev->tracking;
    lot->reference = optional_text(ev->reference);
    lot->description = optional_text(ev->description);
    lot->expiration_at = ev->expiration_at;
    lot->use_by_at = ev->use_by_at;
    lot->removal_at = ev->removal_at;
    lot->alert_at = ev->alert_at;
    lot->version = 1;
    lot->on_hand_micro = 0;
    lot->move_count = 0;
    lot->created_at_ms = ev->occurred_at_ms;
    lot->updated_at_ms = ev->occurred_at_ms;
    d->set_tracking = !facts->tracking_found;
    lot->uom = ll_strdup(ev->uom ? ev->uom : facts->uom);
    d->set_uom = ev->uom != NULL && facts->uom == NULL;
    ll_props_merge(&lot->properties, &ev->properties);
  }
  free(name);
}

/* ---- LotUpdated ---- */

static ll_opt_time merged_date(ll_opt_time given, ll_opt_time current) {
  return given.set ? given : current;
}

/* A lot's product decides which partition of lots.inbound decides its
 * events; moving a lot to another product would take a round trip between
 * two of them and show a state in between. So it is refused, with the way
 * round it: the lot has no moves to lose if it is created again under the
 * right product (docs/events.md, LotUpdated). */
static void reject_product_change(ll_decision *d, const ll_event *ev,
                                  const ll_lot *cur) {
  reject(d, LL_PRODUCT_LOCKED,
         PRODUCT_LOCKED_SENTENCE
         " %s '%s' (%s) stays with product '%s'. To have it under product "
         "'%s', create it there (lot ids are unique within a product, so the "
         "id '%s' is free to use under '%s' unless that product has one) and "
         "rename or leave this one.",
         kind_of(cur), cur->name, cur->lot_id, cur->product_id,
         ev->new_product_id, cur->lot_id, ev->new_product_id);
}

static void decide_updated(const ll_facts *facts, const ll_event *ev,
                           ll_decision *d) {
  const ll_lot *cur = &facts->lot;
  if (!facts->lot_found) {
    reject(d, LL_UNKNOWN_LOT, "Product '%s' has no lot with id '%s'.",
           ev->product_id, ev->lot_id);
    return;
  }
  assert(strcmp(ev->product_id, cur->product_id) == 0);
  if (ev->has_expected_version && ev->expected_version != cur->version) {
    reject(d, LL_VERSION_CONFLICT,
           "%s '%s' (%s) is at version %lld, but the update expected "
           "version %lld.",
           kind_of(cur), cur->name, cur->lot_id, (long long)cur->version,
           (long long)ev->expected_version);
    return;
  }
  if (ev->new_product_id && strcmp(ev->new_product_id, cur->product_id) != 0) {
    reject_product_change(d, ev, cur);
    return;
  }

  const char *product = cur->product_id;
  char *name = ev->name ? ll_text_trim_dup(ev->name) : ll_strdup(cur->name);
  if (facts->name_owner_lot_id &&
      strcmp(facts->name_owner_lot_id, cur->lot_id) != 0) {
    reject(d, LL_DUPLICATE_LOT,
           DUPLICATE_LOT_SENTENCE
           " Product '%s' already has a lot named '%s' (lot id '%s').",
           product, name, facts->name_owner_lot_id);
    free(name);
    return;
  }
  ll_opt_time expiration = merged_date(ev->expiration_at, cur->expiration_at);
  ll_opt_time use_by = merged_date(ev->use_by_at, cur->use_by_at);
  ll_opt_time removal = merged_date(ev->removal_at, cur->removal_at);
  ll_opt_time alert = merged_date(ev->alert_at, cur->alert_at);
  ll_err err;
  char label[LL_MESSAGE_MAX_BYTES];
  msg_format(label, sizeof label, "%s '%s' (%s)", kind_of(cur), cur->name,
             cur->lot_id);
  if (check_dates(label, expiration, use_by, removal, alert, &err)) {
    reject_err(d, &err);
    free(name);
    return;
  }

  ll_lot *lot = &d->lot;
  d->accepted = true;
  ll_lot_copy(lot, cur);
  if (strcmp(name, cur->name) != 0) {
    d->old_name_key_product = ll_strdup(cur->product_id);
    d->old_name_key_name = ll_strdup(cur->name);
  }
  free(lot->name);
  lot->name = name;
  if (ev->reference) {
    free(lot->reference);
    lot->reference = optional_text(ev->reference);
  }
  if (ev->description) {
    free(lot->description);
    lot->description = optional_text(ev->description);
  }
  lot->expiration_at = expiration;
  lot->use_by_at = use_by;
  lot->removal_at = removal;
  lot->alert_at = alert;
  ll_props_merge(&lot->properties, &ev->properties);
  assert(cur->version >= 1 && cur->version < INT64_MAX);
  lot->version = cur->version + 1;
  lot->updated_at_ms = ev->occurred_at_ms;
}

/* ---- LotHeld, LotReleased ---- */

/* A hold is a state, not a counter: holding a held lot keeps the first
 * hold (its reason and since), releasing a lot that is not held leaves it
 * free. Both are accepted so that overlapping recalls and retried releases
 * succeed; the history keeps every event (docs/rejections.md, "Holds").
 * The version is not raised: a hold is not an edit of the lot's fields, so
 * an update written against the version it read still applies. */
static void decide_hold(const ll_facts *facts, const ll_event *ev,
                        ll_decision *d) {
  const ll_lot *cur = &facts->lot;
  if (!facts->lot_found) {
    reject(d, LL_UNKNOWN_LOT, "Product '%s' has no lot with id '%s'.",
           ev->product_id, ev->lot_id);
    return;
  }
  d->accepted = true;
  ll_lot_copy(&d->lot, cur);
  if (ev->type == LL_EV_LOT_HELD && cur->hold_reason == NULL) {
    d->lot.hold_reason = ll_strdup(ev->reason);
    d->lot.hold_since_ms = ev->occurred_at_ms;
  } else if (ev->type == LL_EV_LOT_RELEASED) {
    free(d->lot.hold_reason);
    d->lot.hold_reason = NULL;
    d->lot.hold_since_ms = 0;
  }
  d->lot.updated_at_ms = ev->occurred_at_ms;
}

/* ---- StockMoved ---- */

/* A quantity lotline can hold: within the Avro decimal(18, 6) range. */
static bool within_limit(int64_t micro) {
  return micro >= -LL_QUANTITY_MAX_MICRO && micro <= LL_QUANTITY_MAX_MICRO;
}

/* INVALID_QUANTITY for a move whose result would not fit: name the first
 * quantity that would leave the range (summed is false when an int64 sum
 * itself overflowed, then there is no value to show). */
static void reject_over_limit(ll_decision *d, const ll_event *ev,
                              const ll_lot *cur, bool summed, int64_t new_from,
                              int64_t new_to, int64_t new_on_hand) {
  char q[LL_DECIMAL_STR_MAX], max[LL_DECIMAL_STR_MAX], v[LL_DECIMAL_STR_MAX];
  char what[LL_MESSAGE_MAX_BYTES];
  ll_decimal_format(ev->quantity_micro, q);
  ll_decimal_format(LL_QUANTITY_MAX_MICRO, max);
  const char *kind = cur->tracking == LL_TRACK_SERIAL ? "serial number" : "lot";
  if (!summed)
    msg_format(what, sizeof what, "a quantity out of range");
  else if (!within_limit(new_from))
    msg_format(what, sizeof what, "its quantity at '%s' to %s", ev->from.id,
               ll_decimal_format(new_from, v));
  else if (!within_limit(new_to))
    msg_format(what, sizeof what, "its quantity at '%s' to %s", ev->to.id,
               ll_decimal_format(new_to, v));
  else
    msg_format(what, sizeof what, "its quantity on hand to %s",
               ll_decimal_format(new_on_hand, v));
  reject(d, LL_INVALID_QUANTITY,
         "Moving %s of %s '%s' (%s) from '%s' to '%s' would take %s, beyond "
         "the largest quantity lotline can hold (%s either way).",
         q, kind, cur->name, cur->lot_id, ev->from.id, ev->to.id, what, max);
}

/* The move must address an existing lot of its product: no other rule can
 * be judged without that lot. Returns false after rejecting. */
static bool check_move_lot(const ll_facts *facts, const ll_event *ev,
                           ll_decision *d) {
  const ll_lot *cur = &facts->lot;
  if (!facts->lot_found) {
    if (present(ev->lot_id)) {
      reject(d, LL_UNKNOWN_LOT, "Product '%s' has no lot with id '%s'.",
             ev->product_id, ev->lot_id);
    } else {
      char *name = ll_text_trim_dup(ev->lot_name);
      reject(d, LL_UNKNOWN_LOT, "Product '%s' has no lot named '%s'.",
             ev->product_id, name);
      free(name);
    }
    return false;
  }
  if (present(ev->lot_id) && present(ev->lot_name)) {
    char *name = ll_text_trim_dup(ev->lot_name);
    bool same = strcmp(name, cur->name) == 0;
    if (!same)
      reject(d, LL_INVALID_FIELD,
             "lot_id and lot_name disagree: lot '%s' is named '%s', not "
             "'%s'.",
             cur->lot_id, cur->name, name);
    free(name);
    if (!same)
      return false;
  }
  assert(strcmp(ev->product_id, cur->product_id) == 0);
  return true;
}

/* A move states its unit only to have it checked: it must be the
 * product's (a product without a unit has nothing to match). */
static bool check_move_uom(const ll_facts *facts, const ll_event *ev,
                           ll_decision *d) {
  if (ev->uom == NULL || (facts->uom && strcmp(ev->uom, facts->uom) == 0))
    return true;
  const ll_lot *cur = &facts->lot;
  if (facts->uom)
    reject(d, LL_UOM_MISMATCH,
           "Product '%s' is measured in '%s', but this move of %s '%s' (%s) "
           "gives its quantity in '%s'.",
           ev->product_id, facts->uom, kind_of(cur), cur->name, cur->lot_id,
           ev->uom);
  else
    reject(d, LL_UOM_MISMATCH,
           "Product '%s' has no unit of measure (none of its lots stated "
           "one), but this move of %s '%s' (%s) gives its quantity in '%s'.",
           ev->product_id, kind_of(cur), cur->name, cur->lot_id, ev->uom);
  return false;
}

/* A location's usage is fixed by the product's first accepted move naming
 * it: otherwise a move could turn a customer location into stock and
 * conjure goods. Per product, because a rule spanning products would need
 * a round trip between partitions (docs/concepts.md). From, then to. */
static bool check_move_usages(const ll_facts *facts, const ll_event *ev,
                              ll_decision *d) {
  const ll_location *ends[2] = {&ev->from, &ev->to};
  const bool known[2] = {facts->from_usage_found, facts->to_usage_found};
  const ll_usage usage[2] = {facts->from_usage, facts->to_usage};
  for (int i = 0; i < 2; i++) {
    if (known[i] && usage[i] != ends[i]->usage) {
      reject(d, LL_LOCATION_USAGE_CONFLICT,
             "Location '%s' has usage %s for product '%s' (fixed by the "
             "product's first move there); this move gives it usage %s.",
             ends[i]->id, ll_usage_name(usage[i]), ev->product_id,
             ll_usage_name(ends[i]->usage));
      return false;
    }
  }
  return true;
}

/* A serial number is one unit: it moves whole, from where it is, and is on
 * hand in at most one place, so it is traceable to a single customer. */
static bool check_serial_move(const ll_facts *facts, const ll_event *ev,
                              ll_decision *d) {
  const ll_lot *cur = &facts->lot;
  if (cur->tracking != LL_TRACK_SERIAL)
    return true;
  bool from_stock = ll_usage_is_stock(ev->from.usage);
  bool to_stock = ll_usage_is_stock(ev->to.usage);
  char q[LL_DECIMAL_STR_MAX], avail[LL_DECIMAL_STR_MAX];
  if (ev->quantity_micro != LL_MICRO) {
    reject(d, LL_SERIAL_QUANTITY,
           "Serial number '%s' (%s) of product '%s' can only move with "
           "quantity 1, not %s.",
           cur->name, cur->lot_id, cur->product_id,
           ll_decimal_format(ev->quantity_micro, q));
    return false;
  }
  if (from_stock && facts->from_qty_micro != LL_MICRO) {
    reject(d, LL_SERIAL_NOT_AT_SOURCE,
           "Serial number '%s' (%s) of product '%s' is not at location '%s' "
           "(quantity there: %s).",
           cur->name, cur->lot_id, cur->product_id, ev->from.id,
           ll_decimal_format(facts->from_qty_micro, avail));
    return false;
  }
  if (!from_stock && to_stock && cur->on_hand_micro > 0) {
    reject(d, LL_SERIAL_ALREADY_IN_STOCK,
           SERIAL_ASSIGNED_SENTENCE
           " Serial number '%s' (%s) of product '%s' is already on hand, so "
           "it cannot be received into '%s' from '%s'.",
           cur->name, cur->lot_id, cur->product_id, ev->to.id, ev->from.id);
    return false;
  }
  return true;
}

/* Stock at an internal or transit location never goes below zero: what
 * leaves must be there. Virtual locations (supplier, customer, ...) may. */
static bool check_stock_at_source(const ll_facts *facts, const ll_event *ev,
                                  ll_decision *d) {
  const ll_lot *cur = &facts->lot;
  if (!ll_usage_is_stock(ev->from.usage) ||
      facts->from_qty_micro >= ev->quantity_micro)
    return true;
  char q[LL_DECIMAL_STR_MAX], avail[LL_DECIMAL_STR_MAX];
  reject(d, LL_INSUFFICIENT_STOCK,
         "Not enough stock of %s '%s' (%s) of product '%s' at location "
         "'%s': %s available, %s requested.",
         cur->tracking == LL_TRACK_SERIAL ? "serial number" : "lot", cur->name,
         cur->lot_id, cur->product_id, ev->from.id,
         ll_decimal_format(facts->from_qty_micro, avail),
         ll_decimal_format(ev->quantity_micro, q));
  return false;
}

/* A held lot stays in the company: what is on hand may not leave for a
 * customer nor be consumed in production. Moves inside (to a quarantine
 * location), to scrap and inventory adjustments stay allowed. */
static bool check_hold(const ll_facts *facts, const ll_event *ev,
                       ll_decision *d) {
  const ll_lot *cur = &facts->lot;
  if (cur->hold_reason == NULL || !ll_usage_is_stock(ev->from.usage) ||
      (ev->to.usage != LL_USAGE_CUSTOMER &&
       ev->to.usage != LL_USAGE_PRODUCTION))
    return true;
  char t[32];
  reject(d, LL_LOT_ON_HOLD,
         "%s '%s' (%s) of product '%s' is on hold since %s (%s); it cannot "
         "be moved to %s location '%s'.",
         kind_of(cur), cur->name, cur->lot_id, cur->product_id,
         ll_time_format(cur->hold_since_ms, t), cur->hold_reason,
         ll_usage_name(ev->to.usage), ev->to.id);
  return false;
}

/* Expired goods are not delivered to customers, unless the operator allows
 * it (allow_expired_delivery); other moves of an expired lot are fine. */
static bool check_expiry_for_customer(const ll_facts *facts, const ll_event *ev,
                                      const ll_rule_opts *opts,
                                      ll_decision *d) {
  const ll_lot *cur = &facts->lot;
  bool allow_expired = opts && opts->allow_expired_delivery;
  if (ev->to.usage != LL_USAGE_CUSTOMER || allow_expired ||
      !cur->expiration_at.set || cur->expiration_at.ms > ev->occurred_at_ms)
    return true;
  char t[32];
  reject(d, LL_EXPIRED_LOT,
         "%s '%s' (%s) of product '%s' expired at %s; it cannot be "
         "delivered to customer location '%s'.",
         kind_of(cur), cur->name, cur->lot_id, cur->product_id,
         ll_time_format(cur->expiration_at.ms, t), ev->to.id);
  return false;
}

/* The quantities a move leaves behind. */
typedef struct move_result {
  int64_t from_micro;
  int64_t to_micro;
  int64_t on_hand_micro;
} move_result;

/* Every quantity kept stays within +-LL_QUANTITY_MAX_MICRO, so these sums
 * cannot overflow int64; they are checked all the same, in case a state
 * written before the limit holds more. Returns false after rejecting. */
static bool sum_move_quantities(const ll_facts *facts, const ll_event *ev,
                                ll_decision *d, move_result *out) {
  const ll_lot *cur = &facts->lot;
  int64_t new_from = 0, new_to = 0, new_on_hand = cur->on_hand_micro;
  bool ok =
      ll_decimal_sub(facts->from_qty_micro, ev->quantity_micro, &new_from) &&
      ll_decimal_add(facts->to_qty_micro, ev->quantity_micro, &new_to);
  if (ok && ll_usage_is_stock(ev->from.usage))
    ok = ll_decimal_sub(new_on_hand, ev->quantity_micro, &new_on_hand);
  if (ok && ll_usage_is_stock(ev->to.usage))
    ok = ll_decimal_add(new_on_hand, ev->quantity_micro, &new_on_hand);
  if (!ok || !within_limit(new_from) || !within_limit(new_to) ||
      !within_limit(new_on_hand)) {
    reject_over_limit(d, ev, cur, ok, new_from, new_to, new_on_hand);
    return false;
  }
  *out = (move_result){new_from, new_to, new_on_hand};
  return true;
}

/* Fill the decision of an accepted move. The invariants of docs/concepts.md
 * (stock never below zero, a serial on hand at most once) are guaranteed by
 * the rules above; a failure here means the state or the rules are wrong,
 * and going on would spread the damage. */
static void accept_move(const ll_facts *facts, const ll_event *ev,
                        const move_result *m, ll_decision *d) {
  const ll_lot *cur = &facts->lot;
  assert(!ll_usage_is_stock(ev->from.usage) || m->from_micro >= 0);
  assert(!ll_usage_is_stock(ev->to.usage) || m->to_micro >= 0);
  assert(m->on_hand_micro >= 0);
  assert(cur->tracking != LL_TRACK_SERIAL || m->on_hand_micro == 0 ||
         m->on_hand_micro == LL_MICRO);
  assert(cur->move_count >= 0 && cur->move_count < INT64_MAX);

  d->accepted = true;
  ll_lot_copy(&d->lot, cur);
  d->lot.on_hand_micro = m->on_hand_micro;
  d->lot.move_count = cur->move_count + 1;
  d->lot.updated_at_ms = ev->occurred_at_ms;
  d->from_qty_micro = m->from_micro;
  d->to_qty_micro = m->to_micro;
  d->set_from_usage = !facts->from_usage_found;
  d->set_to_usage = !facts->to_usage_found;
}

/* The StockMoved rules in docs/rejections.md's order; the first that fails
 * decides the rejection. */
static void decide_moved(const ll_facts *facts, const ll_event *ev,
                         const ll_rule_opts *opts, ll_decision *d) {
  move_result m;
  if (check_move_lot(facts, ev, d) && check_move_uom(facts, ev, d) &&
      check_move_usages(facts, ev, d) && check_serial_move(facts, ev, d) &&
      check_stock_at_source(facts, ev, d) && check_hold(facts, ev, d) &&
      check_expiry_for_customer(facts, ev, opts, d) &&
      sum_move_quantities(facts, ev, d, &m))
    accept_move(facts, ev, &m, d);
}

/* ---- the front door ---- */

void ll_decide(const ll_facts *facts, const ll_event *ev,
               const ll_rule_opts *opts, ll_decision *out) {
  ll_err err;
  ll_decision_init(out);

  /* Without a sound id there is no redelivery check to make. */
  if (check_event_id(ev, &err) != LL_OK) {
    reject_err(out, &err);
    return;
  }
  if (facts->seen.found) {
    uint8_t digest[32];
    ll_event_digest(ev, digest);
    if (memcmp(digest, facts->seen.digest, sizeof digest) == 0) {
      out->duplicate = true;
      return;
    }
    if (facts->seen.accepted)
      reject(out, LL_EVENT_ID_REUSED,
             "The event id '%s' was already used by another event (accepted "
             "at position %llu of partition %d).",
             ev->event_id, (unsigned long long)facts->seen.task_position,
             (int)facts->seen.partition);
    else
      reject(out, LL_EVENT_ID_REUSED,
             "The event id '%s' was already used by another event (rejected "
             "with %s).",
             ev->event_id, ll_code_name(facts->seen.code));
    return;
  }
  if (ll_check_fields(ev, &err) != LL_OK) {
    reject_err(out, &err);
    return;
  }
  switch (ev->type) {
  case LL_EV_LOT_CREATED:
    decide_created(facts, ev, out);
    break;
  case LL_EV_LOT_UPDATED:
    decide_updated(facts, ev, out);
    break;
  case LL_EV_STOCK_MOVED:
    decide_moved(facts, ev, opts, out);
    break;
  case LL_EV_LOT_HELD:
  case LL_EV_LOT_RELEASED:
    decide_hold(facts, ev, out);
    break;
  default:
    assert(!"ll_check_fields admits only known event types");
  }
  assert(out->accepted != (out->code != LL_OK));
}
