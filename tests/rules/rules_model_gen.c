/* rules_model_gen.c — the model-based rules test's generator and reference
 * model (rules_model_gen.h).
 *
 * Random events over a small world that slowly moves on: at any time the
 * events pick among a window of products, lot ids and names (windows that
 * slide as the run goes, so new products and lots keep appearing) and 8
 * locations, so that they collide often: names taken, lots unknown, stock
 * short, serials doubled, ids redelivered and reused. A lot is (product,
 * lot id): the same lot id under two products is two lots, and event ids,
 * names, tracking and location usages all belong to one product, so the
 * model keeps every one of them per product. Reuse includes a used id
 * re-sent with exactly one field changed, cycling through every field of
 * each event type's schema: any one field that differs makes the event
 * another one (EVENT_ID_REUSED), and the model judges that by comparing
 * field by field, not with the production code's packing or digest. The
 * reference model, written separately and as plainly as possible (arrays,
 * 128-bit sums, one index: a table of name owners by product and name
 * number), predicts each outcome.
 *
 * Holds, units and partners: LotHeld and LotReleased events hold and
 * release lots (a second hold keeps the first, a release of a free lot is
 * no change), a held lot may not go from stock to a customer or into
 * production (LOT_ON_HOLD); lots and moves state a unit now and then (the
 * product's first lot with one fixes it: UOM_MISMATCH); moves name a
 * partner now and then, which decides nothing but is part of the event's
 * identity.
 *
 * Every outcome depends on the event's own product alone (docs/
 * rejections.md: every rule is local to one product), so a stream of
 * these events decided partition by partition, in any interleaving of the
 * partitions, has the outcomes the model gives in generation order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ll_mem.h"
#include "rules/rules_model_gen.h"

#define T0 1800000000000LL
#define DAY_MS 86400000LL

const rm_world RM_WORLD_RULES = {
    .window_products = 3,
    .window_lots = 8,
    .window_names = 5,
    .slide_products = 2000,
    .slide_lots = 100,
    .slide_names = 150,
    .wire_only = false,
};

/* 36 products at a time, so that all 12 partitions of lots.inbound get
 * work at every moment; lots and names slide four times more slowly than
 * in RM_WORLD_RULES, because the events spread over twelve times as many
 * products: every rule code still fires within a few thousand events. */
const rm_world RM_WORLD_CLUSTER = {
    .window_products = 36,
    .window_lots = 8,
    .window_names = 5,
    .slide_products = 500,
    .slide_lots = 400,
    .slide_names = 600,
    .wire_only = true,
};

const char *const LOCS[N_LOCS] = {"S/A", "S/B", "T/1", "V", "C", "I", "M", "X"};
const char *const UOMS[N_UOMS] = {"kg", "l"};

static const ll_usage LOC_USAGE[N_LOCS] = {
    LL_USAGE_INTERNAL,   LL_USAGE_INTERNAL, LL_USAGE_TRANSIT,
    LL_USAGE_SUPPLIER,   LL_USAGE_CUSTOMER, LL_USAGE_INVENTORY,
    LL_USAGE_PRODUCTION, LL_USAGE_SCRAP};

/* ---- random numbers (splitmix64) ---- */

static uint64_t rng_state;

static uint64_t rnd(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

int pick(int n) {
  return (int)(rnd() % (uint64_t)n);
}

bool chance(int percent) {
  return pick(100) < percent;
}

/* ---- the reference model ---- */

const char *lot_str(int k) {
  static char buf[4][16];
  static int next;
  char *b = buf[next++ % 4];
  snprintf(b, 16, "L%d", k);
  return b;
}

const char *product_str(int k) {
  static char buf[4][16];
  static int next;
  char *b = buf[next++ % 4];
  snprintf(b, 16, "P%d", k);
  return b;
}

/* "L12" -> 12, "P3" -> 3. */
static int number_of(const char *s) {
  return atoi(s + 1);
}

bool is_stock(ll_usage u) {
  return u == LL_USAGE_INTERNAL || u == LL_USAGE_TRANSIT;
}

/* Spaces are the only white space the generator puts around names. */
static void model_trim(const char *s, char out[16]) {
  while (*s == ' ')
    s++;
  size_t n = strlen(s);
  while (n > 0 && s[n - 1] == ' ')
    n--;
  assert_true(n < 16);
  memcpy(out, s, n);
  out[n] = '\0';
}

int lot_index(const model *m, int product, int k) {
  assert_true(product >= 0 && product < m->n_products);
  assert_true(k >= 0 && k < m->n_lots);
  return product * m->n_lots + k;
}

int lot_number(const model *m, int lot) {
  return lot % m->n_lots;
}

bool usage_known(const model *m, int product, int loc) {
  return m->usage_set[product * N_LOCS + loc];
}

ll_usage usage_of(const model *m, int product, int loc) {
  return m->usage[product * N_LOCS + loc];
}

static int index_of(const char *const *list, int n, const char *s) {
  for (int i = 0; s && i < n; i++) {
    if (strcmp(list[i], s) == 0)
      return i;
  }
  return -1;
}

/* The slot of (product, "N<k>") in the name index, or -1 for a name of
 * another form (no lot can have one). */
static int name_slot(const model *m, int product, const char *trimmed) {
  if (trimmed[0] != 'N' || trimmed[1] < '0' || trimmed[1] > '9' ||
      (trimmed[1] == '0' && trimmed[2] != '\0')) /* "N01" is not "N1" */
    return -1;
  int k = 0;
  for (const char *p = trimmed + 1; *p; p++) {
    if (*p < '0' || *p > '9' || k > 100000000)
      return -1;
    k = k * 10 + (*p - '0');
  }
  assert_true(product >= 0 && product < m->n_products);
  if (k >= m->n_names)
    return -1;
  return product * m->n_names + k;
}

int name_owner(const model *m, int product, const char *trimmed) {
  int slot = name_slot(m, product, trimmed);
  return slot < 0 ? -1 : m->name_owner_plus1[slot] - 1;
}

static void name_index_set(model *m, int lot) {
  int slot = name_slot(m, m->lots[lot].product, m->lots[lot].name);
  assert_true(slot >= 0);
  assert_int_equal(m->name_owner_plus1[slot], 0);
  m->name_owner_plus1[slot] = lot + 1;
  m->n_named++;
}

static void name_index_clear(model *m, int lot) {
  int slot = name_slot(m, m->lots[lot].product, m->lots[lot].name);
  assert_true(slot >= 0);
  assert_int_equal(m->name_owner_plus1[slot], lot + 1);
  m->name_owner_plus1[slot] = 0;
  m->n_named--;
}

int64_t on_hand(const mlot *l, const model *m) {
  __int128 sum = 0;
  for (int i = 0; i < N_LOCS; i++) {
    if (usage_known(m, l->product, i) && is_stock(usage_of(m, l->product, i)))
      sum += l->qty[i];
  }
  assert_true(sum >= 0 && sum <= INT64_MAX);
  return (int64_t)sum;
}

static bool dates_bad(ll_opt_time exp, ll_opt_time a, ll_opt_time b,
                      ll_opt_time c) {
  if (!exp.set)
    return false;
  return (a.set && a.ms > exp.ms) || (b.set && b.ms > exp.ms) ||
         (c.set && c.ms > exp.ms);
}

static bool has_control(const char *s) {
  for (; s && *s; s++) {
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      return true;
  }
  return false;
}

static bool blank(const char *s) {
  if (!s)
    return true;
  while (*s == ' ')
    s++;
  return *s == '\0';
}

/* ---- event identity, field by field ----
 *
 * The fields of each event type, as its schema (schemas/<Type>.v1.avsc) lists
 * them; an event id re-sent with any one of them different is another
 * event. */

const char *const FIELD_NAMES[F_COUNT] = {
    "occurred_at", "product_id",  "lot_id",         "lot_name",
    "name",        "tracking",    "new_product_id", "expected_version",
    "reference",   "description", "expiration_at",  "use_by_at",
    "removal_at",  "alert_at",    "quantity",       "from.id",
    "from.usage",  "to.id",       "to.usage",       "uom",
    "reason",      "partner.id",  "partner.name"};

const type_fields FIELDS[N_TYPES] = {
    {LL_EV_LOT_CREATED,
     12,
     {F_OCCURRED_AT, F_PRODUCT, F_LOT_ID, F_NAME, F_TRACKING, F_REFERENCE,
      F_DESCRIPTION, F_EXPIRATION, F_USE_BY, F_REMOVAL, F_ALERT, F_UOM}},
    {LL_EV_LOT_UPDATED,
     12,
     {F_OCCURRED_AT, F_PRODUCT, F_LOT_ID, F_EXPECTED_VERSION, F_NAME,
      F_NEW_PRODUCT, F_REFERENCE, F_DESCRIPTION, F_EXPIRATION, F_USE_BY,
      F_REMOVAL, F_ALERT}},
    {LL_EV_STOCK_MOVED,
     13,
     {F_OCCURRED_AT, F_PRODUCT, F_LOT_ID, F_LOT_NAME, F_QUANTITY, F_FROM_ID,
      F_FROM_USAGE, F_TO_ID, F_TO_USAGE, F_REFERENCE, F_PARTNER_ID,
      F_PARTNER_NAME, F_UOM}},
    {LL_EV_LOT_HELD, 4, {F_OCCURRED_AT, F_PRODUCT, F_LOT_ID, F_REASON}},
    {LL_EV_LOT_RELEASED, 4, {F_OCCURRED_AT, F_PRODUCT, F_LOT_ID, F_REASON}},
};

static const type_fields *fields_of(ll_event_type type) {
  for (size_t i = 0; i < N_TYPES; i++) {
    if (FIELDS[i].type == type)
      return &FIELDS[i];
  }
  fail_msg("no field list for event type %d", (int)type);
  return NULL;
}

static bool str_eq(const char *a, const char *b) {
  return (a == NULL && b == NULL) ||
         (a != NULL && b != NULL && strcmp(a, b) == 0);
}

bool opt_time_eq(ll_opt_time a, ll_opt_time b) {
  return a.set == b.set && (!a.set || a.ms == b.ms);
}

static bool field_eq(const ll_event *a, const ll_event *b, field f) {
  switch (f) {
  case F_OCCURRED_AT:
    return a->occurred_at_ms == b->occurred_at_ms;
  case F_PRODUCT:
    return str_eq(a->product_id, b->product_id);
  case F_LOT_ID:
    return str_eq(a->lot_id, b->lot_id);
  case F_LOT_NAME:
    return str_eq(a->lot_name, b->lot_name);
  case F_NAME:
    return str_eq(a->name, b->name);
  case F_TRACKING:
    return a->tracking == b->tracking;
  case F_NEW_PRODUCT:
    return str_eq(a->new_product_id, b->new_product_id);
  case F_EXPECTED_VERSION:
    return a->has_expected_version == b->has_expected_version &&
           (!a->has_expected_version ||
            a->expected_version == b->expected_version);
  case F_REFERENCE:
    return str_eq(a->reference, b->reference);
  case F_DESCRIPTION:
    return str_eq(a->description, b->description);
  case F_EXPIRATION:
    return opt_time_eq(a->expiration_at, b->expiration_at);
  case F_USE_BY:
    return opt_time_eq(a->use_by_at, b->use_by_at);
  case F_REMOVAL:
    return opt_time_eq(a->removal_at, b->removal_at);
  case F_ALERT:
    return opt_time_eq(a->alert_at, b->alert_at);
  case F_QUANTITY:
    return a->quantity_valid == b->quantity_valid &&
           a->quantity_micro == b->quantity_micro;
  case F_FROM_ID:
    return str_eq(a->from.id, b->from.id);
  case F_FROM_USAGE:
    return a->from.usage == b->from.usage;
  case F_TO_ID:
    return str_eq(a->to.id, b->to.id);
  case F_TO_USAGE:
    return a->to.usage == b->to.usage;
  case F_UOM:
    return str_eq(a->uom, b->uom);
  case F_REASON:
    return str_eq(a->reason, b->reason);
  case F_PARTNER_ID:
    return str_eq(a->partner_id, b->partner_id);
  case F_PARTNER_NAME:
    return str_eq(a->partner_name, b->partner_name);
  case F_COUNT:
    break;
  }
  fail_msg("no comparison for field %d", (int)f);
  return false;
}

/* The same event: same type, and every field of that type equal. */
bool same_event(const ll_event *a, const ll_event *b) {
  if (a->type != b->type)
    return false;
  const type_fields *tf = fields_of(a->type);
  for (int i = 0; i < tf->n; i++) {
    if (!field_eq(a, b, tf->f[i]))
      return false;
  }
  return true;
}

static char *dup_or_null(const char *s) {
  return s ? ll_strdup(s) : NULL;
}

/* A deep copy made here, so that a copy missing a field in the code under
 * test cannot hide the same gap in its duplicate check. */
static void copy_event(ll_event *dst, const ll_event *src) {
  *dst = *src;
  dst->event_id = dup_or_null(src->event_id);
  dst->product_id = dup_or_null(src->product_id);
  dst->lot_id = dup_or_null(src->lot_id);
  dst->lot_name = dup_or_null(src->lot_name);
  dst->name = dup_or_null(src->name);
  dst->new_product_id = dup_or_null(src->new_product_id);
  dst->reference = dup_or_null(src->reference);
  dst->description = dup_or_null(src->description);
  dst->from.id = dup_or_null(src->from.id);
  dst->to.id = dup_or_null(src->to.id);
  dst->uom = dup_or_null(src->uom);
  dst->reason = dup_or_null(src->reason);
  dst->partner_id = dup_or_null(src->partner_id);
  dst->partner_name = dup_or_null(src->partner_name);
  memset(&dst->properties, 0, sizeof dst->properties); /* never generated */
}

/* The model's own key of an event id: ids are per product. */
static size_t seen_key(const ll_event *ev, char *key, size_t size) {
  int n = snprintf(key, size, "%s/%s", ev->product_id, ev->event_id);
  assert_true(n > 0 && (size_t)n < size);
  return (size_t)n;
}

/* The event first seen with this id under this product, or NULL. */
static const ll_event *model_recorded(const model *m, const ll_event *ev) {
  const uint8_t *v;
  size_t n;
  char key[96];
  size_t key_len = seen_key(ev, key, sizeof key);
  if (!mem_state_get(m->seen, key, key_len, &v, &n))
    return NULL;
  uint32_t i;
  assert_int_equal(n, sizeof i);
  memcpy(&i, v, sizeof i);
  assert_true(i < m->n_recorded);
  return &m->recorded[i];
}

static int expect_created(const model *m, const ll_event *ev, int *lot_out) {
  int product = number_of(ev->product_id);
  char name[16];
  if (blank(ev->name))
    return LL_MISSING_FIELD;
  if (has_control(ev->name))
    return LL_INVALID_FIELD;
  if (dates_bad(ev->expiration_at, ev->alert_at, ev->removal_at, ev->use_by_at))
    return LL_INVALID_DATES;
  model_trim(ev->name, name);
  int lot = lot_index(m, product, number_of(ev->lot_id));
  *lot_out = lot;
  if (name_owner(m, product, name) >= 0)
    return LL_DUPLICATE_LOT;
  if (m->lots[lot].exists)
    return LL_LOT_ID_TAKEN;
  if (m->tracking_set[product] && m->tracking[product] != ev->tracking)
    return LL_TRACKING_MISMATCH;
  int fixed = m->uom_plus1[product] - 1;
  if (ev->uom && fixed >= 0 && strcmp(ev->uom, UOMS[fixed]) != 0)
    return LL_UOM_MISMATCH;
  return LL_OK;
}

static int expect_hold(const model *m, const ll_event *ev, int *lot_out) {
  if (blank(ev->reason))
    return LL_MISSING_FIELD;
  int lot = lot_index(m, number_of(ev->product_id), number_of(ev->lot_id));
  *lot_out = lot;
  return m->lots[lot].exists ? LL_OK : LL_UNKNOWN_LOT;
}

static int expect_updated(const model *m, const ll_event *ev, int *lot_out) {
  int product = number_of(ev->product_id);
  char name[16];
  if (ev->name && blank(ev->name))
    return LL_MISSING_FIELD;
  if (ev->name && has_control(ev->name))
    return LL_INVALID_FIELD;
  if (dates_bad(ev->expiration_at, ev->alert_at, ev->removal_at, ev->use_by_at))
    return LL_INVALID_DATES;
  if (!ev->name && !ev->new_product_id && !ev->reference && !ev->description &&
      !ev->expiration_at.set && !ev->alert_at.set && !ev->removal_at.set &&
      !ev->use_by_at.set)
    return LL_MISSING_FIELD; /* an update that changes nothing */
  int lot = lot_index(m, product, number_of(ev->lot_id));
  const mlot *l = &m->lots[lot];
  *lot_out = lot;
  if (!l->exists)
    return LL_UNKNOWN_LOT;
  if (ev->has_expected_version && ev->expected_version != l->version)
    return LL_VERSION_CONFLICT;
  /* A lot's product never changes; naming its own product is no change. */
  if (ev->new_product_id && number_of(ev->new_product_id) != product)
    return LL_PRODUCT_LOCKED;
  if (ev->name)
    model_trim(ev->name, name);
  else
    strcpy(name, l->name);
  int owner = name_owner(m, product, name);
  if (owner >= 0 && owner != lot)
    return LL_DUPLICATE_LOT;
  ll_opt_time e = ev->expiration_at.set ? ev->expiration_at : l->expiration;
  ll_opt_time a = ev->alert_at.set ? ev->alert_at : l->alert;
  ll_opt_time r = ev->removal_at.set ? ev->removal_at : l->removal;
  ll_opt_time u = ev->use_by_at.set ? ev->use_by_at : l->use_by;
  if (dates_bad(e, a, r, u))
    return LL_INVALID_DATES;
  return LL_OK;
}

static int expect_moved(const model *m, const ll_event *ev, int *lot_out) {
  int product = number_of(ev->product_id);
  char name[16];
  if (!ev->quantity_valid || ev->quantity_micro <= 0 ||
      ev->quantity_micro > MODEL_QTY_MAX)
    return LL_INVALID_QUANTITY;
  int from = index_of(LOCS, N_LOCS, ev->from.id);
  int to = index_of(LOCS, N_LOCS, ev->to.id);
  if (from == to)
    return LL_SAME_LOCATION;
  int lot = -1;
  if (ev->lot_id) {
    lot = lot_index(m, product, number_of(ev->lot_id));
    if (!m->lots[lot].exists)
      lot = -1;
  } else {
    model_trim(ev->lot_name, name);
    lot = name_owner(m, product, name);
  }
  *lot_out = lot;
  if (lot < 0)
    return LL_UNKNOWN_LOT;
  const mlot *l = &m->lots[lot];
  if (ev->lot_id && ev->lot_name) {
    model_trim(ev->lot_name, name);
    if (strcmp(name, l->name) != 0)
      return LL_INVALID_FIELD;
  }
  int fixed = m->uom_plus1[product] - 1;
  if (ev->uom && (fixed < 0 || strcmp(ev->uom, UOMS[fixed]) != 0))
    return LL_UOM_MISMATCH;
  if (usage_known(m, product, from) &&
      usage_of(m, product, from) != ev->from.usage)
    return LL_LOCATION_USAGE_CONFLICT;
  if (usage_known(m, product, to) && usage_of(m, product, to) != ev->to.usage)
    return LL_LOCATION_USAGE_CONFLICT;
  bool serial = l->tracking == LL_TRACK_SERIAL;
  int64_t q = ev->quantity_micro;
  if (serial && q != LL_MICRO)
    return LL_SERIAL_QUANTITY;
  if (serial && is_stock(ev->from.usage) && l->qty[from] != LL_MICRO)
    return LL_SERIAL_NOT_AT_SOURCE;
  if (serial && !is_stock(ev->from.usage) && is_stock(ev->to.usage) &&
      on_hand(l, m) > 0)
    return LL_SERIAL_ALREADY_IN_STOCK;
  if (is_stock(ev->from.usage) && l->qty[from] < q)
    return LL_INSUFFICIENT_STOCK;
  if (l->held && is_stock(ev->from.usage) &&
      (ev->to.usage == LL_USAGE_CUSTOMER ||
       ev->to.usage == LL_USAGE_PRODUCTION))
    return LL_LOT_ON_HOLD;
  if (ev->to.usage == LL_USAGE_CUSTOMER && l->expiration.set &&
      l->expiration.ms <= ev->occurred_at_ms)
    return LL_EXPIRED_LOT;
  __int128 nf = (__int128)l->qty[from] - q, nt = (__int128)l->qty[to] + q;
  __int128 oh = (__int128)on_hand(l, m);
  if (is_stock(ev->from.usage))
    oh -= q;
  if (is_stock(ev->to.usage))
    oh += q;
  if (nf < -MODEL_QTY_MAX || nf > MODEL_QTY_MAX || nt < -MODEL_QTY_MAX ||
      nt > MODEL_QTY_MAX || oh > MODEL_QTY_MAX)
    return LL_INVALID_QUANTITY;
  return LL_OK;
}

/* The expected outcome of ev: an ll_code, LL_OK, or DUP. Also resolves the
 * lot a move or update addresses (*lot_out, -1 if none). */
int model_expect(const model *m, const ll_event *ev, int *lot_out) {
  *lot_out = -1;
  const ll_event *first = model_recorded(m, ev);
  if (first != NULL)
    return same_event(ev, first) ? DUP : LL_EVENT_ID_REUSED;
  if (ev->type == LL_EV_LOT_CREATED)
    return expect_created(m, ev, lot_out);
  if (ev->type == LL_EV_LOT_UPDATED)
    return expect_updated(m, ev, lot_out);
  if (ev->type == LL_EV_LOT_HELD || ev->type == LL_EV_LOT_RELEASED)
    return expect_hold(m, ev, lot_out);
  return expect_moved(m, ev, lot_out);
}

static void model_record(model *m, const ll_event *ev) {
  if (m->n_recorded == m->cap_recorded) {
    m->cap_recorded = m->cap_recorded ? 2 * m->cap_recorded : 1024;
    m->recorded =
        ll_xrealloc(m->recorded, m->cap_recorded * sizeof *m->recorded);
  }
  uint32_t i = m->n_recorded++;
  copy_event(&m->recorded[i], ev);
  char key[96];
  size_t key_len = seen_key(ev, key, sizeof key);
  mem_state_put(m->seen, key, key_len, &i, sizeof i);
}

static void model_apply(model *m, const ll_event *ev, int lot) {
  mlot *l = &m->lots[lot];
  int product = number_of(ev->product_id);
  if (ev->type == LL_EV_LOT_CREATED) {
    memset(l, 0, sizeof *l);
    l->exists = true;
    l->product = product;
    model_trim(ev->name, l->name);
    l->tracking = ev->tracking;
    l->expiration = ev->expiration_at;
    l->use_by = ev->use_by_at;
    l->removal = ev->removal_at;
    l->alert = ev->alert_at;
    l->version = 1;
    l->created_at = l->updated_at = ev->occurred_at_ms;
    name_index_set(m, lot);
    if (!m->tracking_set[product]) {
      m->tracking_set[product] = true;
      m->tracking[product] = ev->tracking;
    }
    if (ev->uom && m->uom_plus1[product] == 0)
      m->uom_plus1[product] = 1 + index_of(UOMS, N_UOMS, ev->uom);
    l->uom = m->uom_plus1[product] - 1;
  } else if (ev->type == LL_EV_LOT_HELD) {
    if (!l->held) {
      l->held = true;
      snprintf(l->hold_reason, sizeof l->hold_reason, "%s", ev->reason);
      l->hold_since = ev->occurred_at_ms;
    }
    l->updated_at = ev->occurred_at_ms;
  } else if (ev->type == LL_EV_LOT_RELEASED) {
    l->held = false;
    l->updated_at = ev->occurred_at_ms;
  } else if (ev->type == LL_EV_LOT_UPDATED) {
    name_index_clear(m, lot);
    if (ev->name)
      model_trim(ev->name, l->name);
    name_index_set(m, lot);
    if (ev->expiration_at.set)
      l->expiration = ev->expiration_at;
    if (ev->use_by_at.set)
      l->use_by = ev->use_by_at;
    if (ev->removal_at.set)
      l->removal = ev->removal_at;
    if (ev->alert_at.set)
      l->alert = ev->alert_at;
    l->version++;
    l->updated_at = ev->occurred_at_ms;
  } else {
    int from = index_of(LOCS, N_LOCS, ev->from.id);
    int to = index_of(LOCS, N_LOCS, ev->to.id);
    l->qty[from] -= ev->quantity_micro;
    l->qty[to] += ev->quantity_micro;
    l->move_count++;
    l->updated_at = ev->occurred_at_ms;
    if (!usage_known(m, product, from)) {
      m->usage_set[product * N_LOCS + from] = true;
      m->usage[product * N_LOCS + from] = ev->from.usage;
    }
    if (!usage_known(m, product, to)) {
      m->usage_set[product * N_LOCS + to] = true;
      m->usage[product * N_LOCS + to] = ev->to.usage;
    }
  }
}

/* ---- event generation ---- */

static const char *name_str(const rm_world *w, uint64_t seq) {
  static char buf[16];
  snprintf(buf, sizeof buf, "N%d",
           (int)(seq / (uint64_t)w->slide_names) + pick(w->window_names));
  return buf;
}

static const char *random_name(const rm_world *w, uint64_t seq) {
  static char buf[24];
  int r = pick(100);
  if (r < 1)
    return "  ";
  if (r < 2)
    return "bad\x01";
  const char *n = name_str(w, seq);
  if (r < 20)
    snprintf(buf, sizeof buf, " %s  ", n);
  else
    snprintf(buf, sizeof buf, "%s", n);
  return buf;
}

static ll_opt_time random_date(int percent, int64_t around, int lo_days,
                               int hi_days) {
  ll_opt_time t = {false, 0};
  if (chance(percent)) {
    t.set = true;
    t.ms = around + (int64_t)(lo_days + pick(hi_days - lo_days + 1)) * DAY_MS;
  }
  return t;
}

static int64_t random_quantity(void) {
  static const int64_t q[] = {LL_MICRO,  LL_MICRO, LL_MICRO,  500000,
                              2000000,   3250000,  1,         10000000,
                              100000000, 0,        -LL_MICRO, 7};
  /* Around the limit: just inside, at, just over; and halves, so that
   * two moves reach it together. */
  if (chance(1))
    return MODEL_QTY_MAX - 1 + pick(3);
  if (chance(1))
    return MODEL_QTY_MAX / 2 + pick(3);
  return q[pick(sizeof q / sizeof q[0])];
}

static int random_loc_with_stock(const model *m, int lot) {
  int candidates[N_LOCS], n = 0;
  for (int i = 0; lot >= 0 && i < N_LOCS; i++) {
    if (m->lots[lot].qty[i] > 0)
      candidates[n++] = i;
  }
  return n > 0 && chance(60) ? candidates[pick(n)] : pick(N_LOCS);
}

/* Now and then a usage other than the location's own, but only once the
 * location is known: a first sighting fixes a usage for good, and a world
 * whose customer location got fixed as something else would never see
 * another delivery (nor EXPIRED_LOT). */
static ll_usage random_usage(const model *m, int product, int loc) {
  if (usage_known(m, product, loc) && chance(3))
    return (ll_usage)pick(LL_USAGE_COUNT);
  return LOC_USAGE[loc];
}

/* A product of the window under which lot number k exists, or -1. */
static int product_with_lot(const model *m, uint64_t seq, int k) {
  const rm_world *w = m->w;
  int first = (int)(seq / (uint64_t)w->slide_products);
  int start = pick(w->window_products);
  for (int i = 0; i < w->window_products; i++) {
    int p = first + (start + i) % w->window_products;
    if (m->lots[lot_index(m, p, k)].exists)
      return p;
  }
  return -1;
}

static void random_event(const model *m, ll_event *ev, uint64_t seq) {
  char id[32];
  snprintf(id, sizeof id, "ev%llu", (unsigned long long)seq);
  const rm_world *w = m->w;
  int p = (int)(seq / (uint64_t)w->slide_products) + pick(w->window_products);
  int k = (int)(seq / (uint64_t)w->slide_lots) + pick(w->window_lots);
  int kind = pick(100);
  /* Updates and moves mostly name a lot that exists under their product,
   * so that they get through; now and then one of another product. */
  int has = kind >= 18 ? product_with_lot(m, seq, k) : -1;
  if (has >= 0 && chance(kind < 33 ? 85 : 90))
    p = has;
  const char *product = product_str(p);
  int lot = lot_index(m, p, k);
  const mlot *l = &m->lots[lot];
  if (kind < 18) {
    ev_created(ev, id, product, lot_str(k), random_name(m->w, seq),
               chance(50) ? LL_TRACK_LOT : LL_TRACK_SERIAL);
    ev->expiration_at = random_date(50, T0, -10, 30);
    int64_t exp = ev->expiration_at.set ? ev->expiration_at.ms : T0;
    ev->alert_at = random_date(20, exp, -10, 1);
    ev->removal_at = random_date(20, exp, -10, 1);
    ev->use_by_at = random_date(20, exp, -10, 1);
    if (chance(30))
      ev_set(&ev->uom, UOMS[pick(N_UOMS)]);
  } else if (kind >= 33 && kind < 40) {
    /* Hold more often than release, so that held lots meet deliveries. */
    ll_event_init(ev);
    ev->type = kind < 37 ? LL_EV_LOT_HELD : LL_EV_LOT_RELEASED;
    ev_set(&ev->event_id, id);
    ev_set(&ev->product_id, product);
    ev_set(&ev->lot_id, lot_str(k));
    ev_set(&ev->reason, chance(2) ? " " : chance(50) ? "RC-1" : "QA");
  } else if (kind < 33) {
    ev_updated(ev, id, product, lot_str(k));
    if (chance(30))
      ev_set(&ev->name, random_name(m->w, seq));
    /* Its own product (no change) or, refused, another one. */
    if (chance(15))
      ev_set(&ev->new_product_id,
             chance(50) ? product
                        : product_str((int)(seq / (uint64_t)w->slide_products) +
                                      pick(w->window_products)));
    if (chance(20))
      ev_set(&ev->reference, chance(50) ? "" : "R1");
    if (chance(10))
      ev_set(&ev->description, "a\nb");
    if (chance(30)) {
      ev->has_expected_version = true;
      ev->expected_version = l->version + (chance(70) ? 0 : 1);
    }
    ev->expiration_at = random_date(15, T0, -10, 30);
    ev->alert_at = random_date(10, T0, -10, 30);
    ev->removal_at = random_date(10, T0, -10, 30);
    ev->use_by_at = random_date(10, T0, -10, 30);
  } else {
    int from = random_loc_with_stock(m, lot);
    int to = pick(N_LOCS);
    ll_usage fu = random_usage(m, p, from);
    ll_usage tu = random_usage(m, p, to);
    ev_moved(ev, id, product, lot_str(k), random_quantity(), LOCS[from], fu,
             LOCS[to], tu);
    if (chance(2) && !w->wire_only)
      ev->quantity_valid = false;
    int by = pick(100);
    if (by < 15 && l->exists) {
      ev_set(&ev->lot_id, NULL);
      ev_set(&ev->lot_name, chance(80) ? l->name : name_str(m->w, seq));
    } else if (by < 20 && l->exists) {
      ev_set(&ev->lot_name, chance(80) ? l->name : name_str(m->w, seq));
    }
    if (chance(10))
      ev_set(&ev->uom, UOMS[pick(N_UOMS)]);
    if (chance(30)) {
      ev_set(&ev->partner_id, chance(50) ? "C1" : "S1");
      if (chance(50))
        ev_set(&ev->partner_name, "Acme");
    }
  }
  ev->occurred_at_ms = T0 + (int64_t)pick(40 * 24) * 3600000;
}

/* ---- a used id re-sent with one field changed ---- */

/* A string field to a value it did not have: set when absent, else with
 * one character more. */
static void change_str(char **s, const char *when_absent) {
  char buf[64];
  if (*s == NULL) {
    ev_set(s, when_absent);
    return;
  }
  snprintf(buf, sizeof buf, "%sx", *s);
  ev_set(s, buf);
}

static void change_time(ll_opt_time *t) {
  if (t->set)
    t->ms += DAY_MS;
  else
    *t = (ll_opt_time){true, T0};
}

static void change_location(ll_location *l, field f) {
  if (f == F_FROM_USAGE || f == F_TO_USAGE) {
    l->usage = (ll_usage)((l->usage + 1) % LL_USAGE_COUNT);
    return;
  }
  int i = index_of(LOCS, N_LOCS, l->id);
  ev_set(&l->id, LOCS[(i + 1) % N_LOCS]);
}

/* Change field f of ev, and nothing else. */
static void change_field(ll_event *ev, field f) {
  char buf[32];
  switch (f) {
  case F_OCCURRED_AT:
    ev->occurred_at_ms += 3600000;
    break;
  case F_PRODUCT:
    /* P2k <-> P2k+1: a chain of such changes stays within the products. */
    snprintf(buf, sizeof buf, "P%d", number_of(ev->product_id) ^ 1);
    ev_set(&ev->product_id, buf);
    break;
  case F_LOT_ID:
    if (ev->lot_id == NULL) {
      ev_set(&ev->lot_id, "L0");
    } else {
      snprintf(buf, sizeof buf, "L%d", number_of(ev->lot_id) + 1);
      ev_set(&ev->lot_id, buf);
    }
    break;
  case F_LOT_NAME:
    change_str(&ev->lot_name, "N0");
    break;
  case F_NAME:
    change_str(&ev->name, "N0");
    break;
  case F_TRACKING:
    ev->tracking =
        ev->tracking == LL_TRACK_LOT ? LL_TRACK_SERIAL : LL_TRACK_LOT;
    break;
  case F_NEW_PRODUCT:
    change_str(&ev->new_product_id, "P0");
    break;
  case F_EXPECTED_VERSION:
    if (ev->has_expected_version)
      ev->expected_version++;
    else
      ev->has_expected_version = true, ev->expected_version = 1;
    break;
  case F_REFERENCE:
    change_str(&ev->reference, "R1");
    break;
  case F_DESCRIPTION:
    change_str(&ev->description, "d");
    break;
  case F_EXPIRATION:
    change_time(&ev->expiration_at);
    break;
  case F_USE_BY:
    change_time(&ev->use_by_at);
    break;
  case F_REMOVAL:
    change_time(&ev->removal_at);
    break;
  case F_ALERT:
    change_time(&ev->alert_at);
    break;
  case F_QUANTITY:
    if (ev->quantity_valid)
      ev->quantity_micro++;
    else
      ev->quantity_valid = true, ev->quantity_micro = LL_MICRO;
    break;
  case F_FROM_ID:
  case F_FROM_USAGE:
    change_location(&ev->from, f);
    break;
  case F_TO_ID:
  case F_TO_USAGE:
    change_location(&ev->to, f);
    break;
  case F_UOM:
    change_str(&ev->uom, "kg");
    break;
  case F_REASON:
    change_str(&ev->reason, "R");
    break;
  case F_PARTNER_ID:
    change_str(&ev->partner_id, "C1");
    break;
  case F_PARTNER_NAME:
    /* A name needs an id to go with it, or the event is another kind of
     * wrong (MISSING_FIELD): change the name alone only where there is
     * one. */
    change_str(&ev->partner_name, "Acme");
    if (ev->partner_id == NULL)
      ev_set(&ev->partner_id, "C1");
    break;
  case F_COUNT:
    fail_msg("no field to change");
  }
}

static size_t type_slot(ll_event_type type) {
  return (size_t)(fields_of(type) - FIELDS);
}

/* A recorded event again under its id, with the next field of its type's
 * cycle changed; now and then unchanged. *changed gets the field, or
 * F_COUNT when none. */
static void resend_event(const model *m, resends *rs, ll_event *ev,
                         field *changed) {
  const ll_event *first = &m->recorded[pick((int)m->n_recorded)];
  copy_event(ev, first);
  *changed = F_COUNT;
  if (chance(20)) {
    rs->unchanged++;
    return;
  }
  size_t t = type_slot(ev->type);
  int i = rs->next[t];
  rs->next[t] = (i + 1) % FIELDS[t].n;
  *changed = FIELDS[t].f[i];
  change_field(ev, *changed);
  rs->changed[t][i]++;
}

/* Every field of every type was changed in some re-sent event. */
void check_resends_cover_fields(const resends *rs) {
  for (size_t t = 0; t < N_TYPES; t++) {
    for (int i = 0; i < FIELDS[t].n; i++) {
      if (rs->changed[t][i] == 0)
        fail_msg("no %s was re-sent with only its %s changed",
                 ll_event_type_name(FIELDS[t].type),
                 FIELD_NAMES[FIELDS[t].f[i]]);
    }
  }
}

static void model_init(model *m, const rm_world *w, uint64_t n_events) {
  memset(m, 0, sizeof *m);
  m->w = w;
  m->n_lots = (int)(n_events / (uint64_t)w->slide_lots) + w->window_lots + 1;
  m->n_products =
      (int)(n_events / (uint64_t)w->slide_products) + w->window_products + 1;
  m->lots =
      ll_xcalloc((size_t)m->n_products * (size_t)m->n_lots, sizeof *m->lots);
  m->usage_set =
      ll_xcalloc((size_t)m->n_products * N_LOCS, sizeof *m->usage_set);
  m->usage = ll_xcalloc((size_t)m->n_products * N_LOCS, sizeof *m->usage);
  m->tracking_set = ll_xcalloc((size_t)m->n_products, sizeof *m->tracking_set);
  m->tracking = ll_xcalloc((size_t)m->n_products, sizeof *m->tracking);
  m->uom_plus1 = ll_xcalloc((size_t)m->n_products, sizeof *m->uom_plus1);
  m->n_names = (int)(n_events / (uint64_t)w->slide_names) + w->window_names + 1;
  m->name_owner_plus1 = ll_xcalloc((size_t)m->n_products * (size_t)m->n_names,
                                   sizeof *m->name_owner_plus1);
  m->seen = mem_state_new();
}

static void model_free(model *m) {
  for (uint32_t i = 0; i < m->n_recorded; i++)
    ll_event_free(&m->recorded[i]);
  free(m->recorded);
  mem_state_free(m->seen);
  free(m->lots);
  free(m->usage_set);
  free(m->usage);
  free(m->tracking_set);
  free(m->tracking);
  free(m->uom_plus1);
  free(m->name_owner_plus1);
}

/* The next event: a redelivery, a used id with new content, a recorded
 * event re-sent with one field changed, or a new event. */
static void next_event(rm_gen *g, uint64_t seq, ll_event *ev, field *changed) {
  int r = pick(100);
  *changed = F_COUNT;
  if (g->ring_len > 0 && r < 4) {
    /* Redeliver a recent event exactly. */
    ll_event_copy(ev, &g->ring[pick((int)g->ring_len)]);
  } else if (g->ring_len > 0 && r < 6) {
    /* Reuse a recent id for new content. */
    const ll_event *old = &g->ring[pick((int)g->ring_len)];
    random_event(&g->m, ev, seq);
    ev_set(&ev->event_id, old->event_id);
  } else if (g->m.n_recorded > 0 && r < 10) {
    resend_event(&g->m, &g->rs, ev, changed);
  } else {
    random_event(&g->m, ev, seq);
  }
}

void rm_gen_init(rm_gen *g, const rm_world *w, uint64_t seed,
                 uint64_t n_events) {
  memset(g, 0, sizeof *g);
  rng_state = seed;
  model_init(&g->m, w, n_events);
}

void rm_gen_free(rm_gen *g) {
  for (size_t i = 0; i < g->ring_len; i++)
    ll_event_free(&g->ring[i]);
  model_free(&g->m);
}

int rm_gen_next(rm_gen *g, uint64_t seq, ll_event *ev, field *changed,
                int *lot) {
  next_event(g, seq, ev, changed);
  return model_expect(&g->m, ev, lot);
}

void rm_gen_commit(rm_gen *g, ll_event *ev, int want, int lot) {
  if (want == LL_OK)
    model_apply(&g->m, ev, lot);
  if (want != DUP && want != LL_EVENT_ID_REUSED)
    model_record(&g->m, ev);
  if (g->ring_len < RING) {
    g->ring[g->ring_len++] = *ev;
  } else {
    size_t slot = (size_t)pick(RING);
    ll_event_free(&g->ring[slot]);
    g->ring[slot] = *ev;
  }
}
