/* ll_state.c — the keys and values of the validation state, and the two
 * steps around the rules: gathering the facts an event needs, and turning a
 * decision into writes.
 *
 * Keys (one byte of kind, then the parts; "\x1f" is the unit separator,
 * which can never occur inside an id or name because the rules reject
 * control characters in every text that reaches a key of an accepted event).
 * Every key starts with the product: a lot is (product_id, lot_id), and
 * every rule is local to one product (docs/concepts.md), so the state of a
 * product is one contiguous range of each kind:
 *
 *   "e" product_id "\x1f" H(event_id)
 *                                 -> seen record; H is the first 16 bytes
 *                                    of SHA-256(event_id): fixed-size keys
 *                                    whatever the producer's id looks like
 *                                    (a fixed-size tail also keeps the key
 *                                    unambiguous when a rejected event's
 *                                    product holds the separator)
 *   "l" product_id "\x1f" lot_id  -> ll_lot_pack(lot)
 *   "n" product_id "\x1f" name    -> lot_id (raw bytes); name is trimmed
 *   "t" product_id                -> u8 ll_tracking, fixed by the first lot
 *   "m" product_id                -> the unit of measure (raw bytes), fixed
 *                                    by the first lot that states one
 *   "u" product_id "\x1f" location_id
 *                                 -> u8 ll_usage, fixed by the product's
 *                                    first accepted move naming it
 *   "q" product_id "\x1f" lot_id "\x1f" location_id
 *                                 -> zig-zag varint quantity in micro-units;
 *                                    absent means 0 (zero is deleted)
 *
 * An event whose product_id is absent has its seen record under the empty
 * product (it can only be rejected).
 *
 * Seen record: u8 format (1), bytes digest (32, SHA-256 of the packed
 * event), u8 accepted; then if accepted: uvar log position, svar partition
 * and uvar task position (where the entry went: ll_log_at); else uvar
 * rejection code, the message as a string and the event's occurred_at as a
 * zig-zag varint (absent in older records: it is read when bytes are left).
 * A rejected event is nowhere else, and the HTTP API needs its occurred_at
 * to compare a retried request with it (docs/concepts.md, "Event ids and
 * idempotency").
 *
 * Event-id records are written once and rarely read again (only when the
 * same id comes back), so ll_state_key_cacheable() tells a cache in front
 * of the state to keep them only as long as it must.
 *
 * Which rejections are remembered: a rejection of the event itself is
 * recorded under its id, so that an identical redelivery is a no-op. Not
 * recorded are EVENT_ID_REUSED (it must not overwrite the record of the
 * event that owns the id), the wire-level codes MALFORMED, UNKNOWN_SCHEMA,
 * KEY_MISMATCH and WRONG_PARTITION (the same payload under the right key,
 * on the right partition, is a legitimate delivery), and events whose id is
 * itself missing or invalid (there is nothing sound to key the record by). */
#include "ll_state.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ll_event.h"
#include "ll_mem.h"
#include "ll_sha256.h"
#include "ll_text.h"

#define KEY_EVENT 'e'
#define KEY_LOT 'l'
#define KEY_NAME 'n'
#define KEY_TRACKING 't'
#define KEY_UOM 'm'
#define KEY_USAGE 'u'
#define KEY_QUANTITY 'q'
#define KEY_SEPARATOR '\x1f'
#define SEEN_FORMAT_V1 1
#define DIGEST_BYTES 32
/* 128 bits: a collision between two ids is as likely as a random UUID
 * colliding, and keys stay short whatever the producer's ids look like. */
#define EVENT_KEY_HASH_BYTES 16
/* Ids up to this long are remembered (longer ones are hashed each time). */
#define LL_EVENT_ID_MEMO_BYTES 128

/* ---- mutations ---- */

void ll_mutations_init(ll_mutations *m) {
  memset(m, 0, sizeof *m);
}

/* Items keep their buffers across resets (items[0..ready) are
 * initialised), so a list reused event after event stops allocating. */
void ll_mutations_reset(ll_mutations *m) {
  m->len = 0;
}

void ll_mutations_free(ll_mutations *m) {
  for (size_t i = 0; i < m->ready; i++) {
    ll_buf_free(&m->items[i].key);
    ll_buf_free(&m->items[i].value);
  }
  free(m->items);
  memset(m, 0, sizeof *m);
}

static ll_mutation *mutations_push(ll_mutations *m) {
  if (m->len == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 8;
    m->items = ll_xrealloc(m->items, m->cap * sizeof *m->items);
  }
  ll_mutation *item = &m->items[m->len];
  if (m->len == m->ready) {
    ll_buf_init(&item->key);
    ll_buf_init(&item->value);
    m->ready++;
  } else {
    ll_buf_reset(&item->key);
    ll_buf_reset(&item->value);
  }
  m->len++;
  item->is_delete = false;
  return item;
}

void ll_mutations_put(ll_mutations *m, const void *key, size_t key_len,
                      const void *value, size_t value_len) {
  ll_mutation *item = mutations_push(m);
  ll_buf_put(&item->key, key, key_len);
  ll_buf_put(&item->value, value, value_len);
}

void ll_mutations_del(ll_mutations *m, const void *key, size_t key_len) {
  ll_mutation *item = mutations_push(m);
  item->is_delete = true;
  ll_buf_put(&item->key, key, key_len);
}

/* ---- keys ---- */

static void key1(ll_buf *k, char kind, const char *a) {
  ll_buf_reset(k);
  ll_buf_put_u8(k, (uint8_t)kind);
  ll_buf_put(k, a, strlen(a));
}

static void key2(ll_buf *k, char kind, const char *a, const char *b) {
  key1(k, kind, a);
  ll_buf_put_u8(k, (uint8_t)KEY_SEPARATOR);
  ll_buf_put(k, b, strlen(b));
}

static void key3(ll_buf *k, char kind, const char *a, const char *b,
                 const char *c) {
  key2(k, kind, a, b);
  ll_buf_put_u8(k, (uint8_t)KEY_SEPARATOR);
  ll_buf_put(k, c, strlen(c));
}

/* The last id hashed on this thread: an event's key is wanted several
 * times (prefetch, read, write), and each costs a SHA-256. */
static _Thread_local struct {
  char id[LL_EVENT_ID_MEMO_BYTES];
  uint8_t hash[EVENT_KEY_HASH_BYTES];
  bool valid;
} last_event_hash;

void ll_state_event_key(ll_buf *k, const char *product_id,
                        const char *event_id) {
  size_t n = strlen(event_id);
  bool memo = n < sizeof last_event_hash.id;
  if (!memo || !last_event_hash.valid ||
      memcmp(last_event_hash.id, event_id, n + 1) != 0) {
    uint8_t digest[LL_SHA256_BYTES];
    ll_sha256(event_id, n, digest);
    memcpy(last_event_hash.hash, digest, EVENT_KEY_HASH_BYTES);
    last_event_hash.valid = memo;
    if (memo)
      memcpy(last_event_hash.id, event_id, n + 1);
  }
  key1(k, KEY_EVENT, product_id ? product_id : "");
  ll_buf_put_u8(k, (uint8_t)KEY_SEPARATOR);
  ll_buf_put(k, last_event_hash.hash, sizeof last_event_hash.hash);
}

bool ll_state_key_cacheable(const void *key, size_t key_len) {
  return key_len > 0 && ((const uint8_t *)key)[0] != KEY_EVENT;
}

/* ---- reads ---- */

static int state_get(const ll_state_reader *reader, const ll_buf *key,
                     ll_buf *value, bool *found, ll_err *err) {
  ll_buf_reset(value);
  *found = false;
  return reader->get(reader->ctx, key->data, key->len, value, found, err);
}

static int corrupt(ll_err *err, const char *what, const char *id) {
  return ll_fail(err, LL_ERR_CORRUPT, "state: corrupt %s record for '%s'", what,
                 id);
}

/* A text is a usable key part when it is present and not blank. */
static bool present(const char *s) {
  return !ll_text_blank(s);
}

/* Only an id that passes the rules' own check may key a seen record. */
static bool event_id_recordable(const char *event_id) {
  return present(event_id) &&
         ll_text_check(event_id, LL_TEXT_MAX_CHARS, 0, false) == LL_TEXT_OK;
}

static int read_seen(const ll_state_reader *reader, const char *product_id,
                     const char *event_id, ll_seen *seen, ll_buf *key,
                     ll_buf *value, ll_err *err) {
  bool found;
  memset(seen, 0, sizeof *seen);
  ll_state_event_key(key, product_id, event_id);
  if (state_get(reader, key, value, &found, err) != 0)
    return -1;
  if (!found)
    return 0;

  ll_rd r;
  uint8_t format = 0, accepted = 0;
  const uint8_t *digest = NULL;
  size_t digest_len = 0;
  ll_rd_init(&r, value->data, value->len);
  if (!ll_rd_u8(&r, &format) || format != SEEN_FORMAT_V1 ||
      !ll_rd_bytes(&r, &digest, &digest_len) || digest_len != DIGEST_BYTES ||
      !ll_rd_u8(&r, &accepted) || accepted > 1)
    return corrupt(err, "event", event_id);
  memcpy(seen->digest, digest, DIGEST_BYTES);
  seen->accepted = accepted == 1;
  if (seen->accepted) {
    int64_t partition = 0;
    if (!ll_rd_uvar(&r, &seen->position) || !ll_rd_svar(&r, &partition) ||
        partition < -1 || partition > INT32_MAX ||
        !ll_rd_uvar(&r, &seen->task_position))
      return corrupt(err, "event", event_id);
    seen->partition = (int32_t)partition;
  } else {
    uint64_t code = 0;
    char *message = NULL;
    if (!ll_rd_uvar(&r, &code) || code == LL_OK || code >= LL_CODE_COUNT ||
        !ll_rd_str(&r, &message)) {
      free(message);
      return corrupt(err, "event", event_id);
    }
    seen->code = (ll_code)code;
    snprintf(seen->message, sizeof seen->message, "%s", message ? message : "");
    free(message);
    if (ll_rd_left(&r) > 0) {
      if (!ll_rd_svar(&r, &seen->occurred_at_ms))
        return corrupt(err, "event", event_id);
      seen->occurred_at_known = true;
    }
  }
  if (ll_rd_left(&r) != 0)
    return corrupt(err, "event", event_id);
  seen->found = true;
  return 0;
}

/* A lot is stored under its own product: one found under another is a
 * broken state, not a lot of that product. */
static int read_lot(const ll_state_reader *reader, const char *product_id,
                    const char *lot_id, ll_lot *lot, bool *found, ll_buf *key,
                    ll_buf *value, ll_err *err) {
  ll_lot_init(lot);
  key2(key, KEY_LOT, product_id, lot_id);
  if (state_get(reader, key, value, found, err) != 0)
    return -1;
  if (*found &&
      (!ll_lot_unpack(value->data, value->len, lot) || lot->lot_id == NULL ||
       lot->product_id == NULL || strcmp(lot->lot_id, lot_id) != 0 ||
       strcmp(lot->product_id, product_id) != 0)) {
    *found = false;
    return corrupt(err, "lot", lot_id);
  }
  return 0;
}

/* The lot id owning (product_id, trimmed name), or NULL. */
static int read_name_owner(const ll_state_reader *reader,
                           const char *product_id, const char *trimmed_name,
                           char **owner, ll_buf *key, ll_buf *value,
                           ll_err *err) {
  bool found;
  *owner = NULL;
  key2(key, KEY_NAME, product_id, trimmed_name);
  if (state_get(reader, key, value, &found, err) != 0)
    return -1;
  if (!found)
    return 0;
  if (value->len == 0 || memchr(value->data, '\0', value->len))
    return corrupt(err, "name", trimmed_name);
  *owner = ll_xmalloc(value->len + 1);
  memcpy(*owner, value->data, value->len);
  (*owner)[value->len] = '\0';
  return 0;
}

/* Tracking is keyed by the product alone (id NULL), usage by (product,
 * location). */
static int read_small_enum(const ll_state_reader *reader, char kind,
                           const char *product_id, const char *id,
                           unsigned limit, bool *found, unsigned *out,
                           ll_buf *key, ll_buf *value, ll_err *err) {
  if (id)
    key2(key, kind, product_id, id);
  else
    key1(key, kind, product_id);
  if (state_get(reader, key, value, found, err) != 0)
    return -1;
  if (!*found)
    return 0;
  if (value->len != 1 || value->data[0] >= limit) {
    *found = false;
    return corrupt(err, kind == KEY_USAGE ? "location" : "tracking",
                   id ? id : product_id);
  }
  *out = value->data[0];
  return 0;
}

static int read_quantity(const ll_state_reader *reader, const ll_lot *lot,
                         const char *location_id, int64_t *qty_micro,
                         ll_buf *key, ll_buf *value, ll_err *err) {
  bool found;
  *qty_micro = 0;
  key3(key, KEY_QUANTITY, lot->product_id, lot->lot_id, location_id);
  if (state_get(reader, key, value, &found, err) != 0)
    return -1;
  if (!found)
    return 0;
  ll_rd r;
  ll_rd_init(&r, value->data, value->len);
  if (!ll_rd_svar(&r, qty_micro) || ll_rd_left(&r) != 0)
    return corrupt(err, "quantity", location_id);
  return 0;
}

/* ---- facts ---- */

void ll_facts_init(ll_facts *f) {
  memset(f, 0, sizeof *f);
  ll_lot_init(&f->lot);
}

void ll_facts_free(ll_facts *f) {
  ll_lot_free(&f->lot);
  free(f->name_owner_lot_id);
  free(f->uom);
  ll_facts_init(f);
}

static int load_tracking(const ll_state_reader *reader, const char *product_id,
                         ll_facts *facts, ll_buf *key, ll_buf *value,
                         ll_err *err) {
  unsigned v = 0;
  if (read_small_enum(reader, KEY_TRACKING, product_id, NULL,
                      LL_TRACK_SERIAL + 1, &facts->tracking_found, &v, key,
                      value, err) != 0)
    return -1;
  facts->tracking = (ll_tracking)v;
  return 0;
}

static int load_uom(const ll_state_reader *reader, const char *product_id,
                    ll_facts *facts, ll_buf *key, ll_buf *value, ll_err *err) {
  bool found = false;
  key1(key, KEY_UOM, product_id);
  if (state_get(reader, key, value, &found, err) != 0)
    return -1;
  if (found)
    facts->uom = ll_strndup((const char *)value->data, value->len);
  return 0;
}

static int load_created(const ll_state_reader *reader, const ll_event *ev,
                        ll_facts *facts, ll_buf *key, ll_buf *value,
                        ll_err *err) {
  if (!present(ev->product_id))
    return 0;
  if (present(ev->lot_id) &&
      read_lot(reader, ev->product_id, ev->lot_id, &facts->lot,
               &facts->lot_found, key, value, err) != 0)
    return -1;
  if (present(ev->name)) {
    char *name = ll_text_trim_dup(ev->name);
    int rc = read_name_owner(reader, ev->product_id, name,
                             &facts->name_owner_lot_id, key, value, err);
    free(name);
    if (rc != 0)
      return -1;
  }
  if (load_uom(reader, ev->product_id, facts, key, value, err) != 0)
    return -1;
  return load_tracking(reader, ev->product_id, facts, key, value, err);
}

static int load_hold(const ll_state_reader *reader, const ll_event *ev,
                     ll_facts *facts, ll_buf *key, ll_buf *value, ll_err *err) {
  if (!present(ev->lot_id) || !present(ev->product_id))
    return 0;
  return read_lot(reader, ev->product_id, ev->lot_id, &facts->lot,
                  &facts->lot_found, key, value, err);
}

static int load_updated(const ll_state_reader *reader, const ll_event *ev,
                        ll_facts *facts, ll_buf *key, ll_buf *value,
                        ll_err *err) {
  if (!present(ev->lot_id) || !present(ev->product_id))
    return 0;
  if (read_lot(reader, ev->product_id, ev->lot_id, &facts->lot,
               &facts->lot_found, key, value, err) != 0)
    return -1;
  if (!facts->lot_found)
    return 0;
  char *name = present(ev->name) ? ll_text_trim_dup(ev->name)
                                 : ll_strdup(facts->lot.name);
  int rc = read_name_owner(reader, ev->product_id, name,
                           &facts->name_owner_lot_id, key, value, err);
  free(name);
  return rc;
}

static int load_moved(const ll_state_reader *reader, const ll_event *ev,
                      ll_facts *facts, ll_buf *key, ll_buf *value,
                      ll_err *err) {
  if (!present(ev->product_id))
    return 0;
  if (present(ev->lot_id)) {
    if (read_lot(reader, ev->product_id, ev->lot_id, &facts->lot,
                 &facts->lot_found, key, value, err) != 0)
      return -1;
  } else if (present(ev->lot_name)) {
    char *owner = NULL;
    char *name = ll_text_trim_dup(ev->lot_name);
    int rc =
        read_name_owner(reader, ev->product_id, name, &owner, key, value, err);
    free(name);
    if (rc == 0 && owner)
      rc = read_lot(reader, ev->product_id, owner, &facts->lot,
                    &facts->lot_found, key, value, err);
    free(owner);
    if (rc != 0)
      return -1;
  }

  if (load_uom(reader, ev->product_id, facts, key, value, err) != 0)
    return -1;
  unsigned v = 0;
  if (present(ev->from.id)) {
    if (read_small_enum(reader, KEY_USAGE, ev->product_id, ev->from.id,
                        LL_USAGE_COUNT, &facts->from_usage_found, &v, key,
                        value, err) != 0)
      return -1;
    facts->from_usage = (ll_usage)v;
    if (facts->lot_found &&
        read_quantity(reader, &facts->lot, ev->from.id, &facts->from_qty_micro,
                      key, value, err) != 0)
      return -1;
  }
  if (present(ev->to.id)) {
    if (read_small_enum(reader, KEY_USAGE, ev->product_id, ev->to.id,
                        LL_USAGE_COUNT, &facts->to_usage_found, &v, key, value,
                        err) != 0)
      return -1;
    facts->to_usage = (ll_usage)v;
    if (facts->lot_found &&
        read_quantity(reader, &facts->lot, ev->to.id, &facts->to_qty_micro, key,
                      value, err) != 0)
      return -1;
  }
  return 0;
}

int ll_facts_load(const ll_state_reader *reader, const ll_event *ev,
                  ll_facts *facts, ll_err *err) {
  ll_buf key, value;
  int rc = 0;
  ll_facts_init(facts);
  ll_buf_init(&key);
  ll_buf_init(&value);
  if (event_id_recordable(ev->event_id))
    rc = read_seen(reader, ev->product_id, ev->event_id, &facts->seen, &key,
                   &value, err);
  if (rc == 0) {
    switch (ev->type) {
    case LL_EV_LOT_CREATED:
      rc = load_created(reader, ev, facts, &key, &value, err);
      break;
    case LL_EV_LOT_UPDATED:
      rc = load_updated(reader, ev, facts, &key, &value, err);
      break;
    case LL_EV_STOCK_MOVED:
      rc = load_moved(reader, ev, facts, &key, &value, err);
      break;
    case LL_EV_LOT_HELD:
    case LL_EV_LOT_RELEASED:
      rc = load_hold(reader, ev, facts, &key, &value, err);
      break;
    default:
      break; /* the rules reject it; nothing to read */
    }
  }
  ll_buf_free(&key);
  ll_buf_free(&value);
  if (rc != 0)
    ll_facts_free(facts);
  return rc;
}

/* ---- prefetching ---- */

static void append_key(ll_buf *keys, const ll_buf *key) {
  ll_buf_put_uvar(keys, key->len);
  ll_buf_put(keys, key->data, key->len);
}

static void append_key2(ll_buf *keys, ll_buf *key, char kind, const char *a,
                        const char *b) {
  key2(key, kind, a, b);
  append_key(keys, key);
}

/* The usage and, when the lot is named by id, the quantity of each end. */
static void append_move_ends(const ll_event *ev, ll_buf *keys, ll_buf *key) {
  const char *ends[2] = {ev->from.id, ev->to.id};
  for (int i = 0; i < 2; i++) {
    if (!present(ends[i]))
      continue;
    append_key2(keys, key, KEY_USAGE, ev->product_id, ends[i]);
    if (present(ev->lot_id)) {
      key3(key, KEY_QUANTITY, ev->product_id, ev->lot_id, ends[i]);
      append_key(keys, key);
    }
  }
}

/* Mirrors ll_facts_load(): every read it makes whose key does not depend
 * on what an earlier read returned. */
void ll_facts_prefetch_keys(const ll_event *ev, ll_buf *keys) {
  ll_buf key;
  ll_buf_init(&key);
  if (event_id_recordable(ev->event_id)) {
    ll_state_event_key(&key, ev->product_id, ev->event_id);
    append_key(keys, &key);
  }
  if (!present(ev->product_id)) {
    ll_buf_free(&key);
    return; /* nothing else is read */
  }
  bool lot = present(ev->lot_id);
  if (lot && ev->type != LL_EV_NONE)
    append_key2(keys, &key, KEY_LOT, ev->product_id, ev->lot_id);
  if (ev->type == LL_EV_LOT_CREATED) {
    if (present(ev->name)) {
      char *name = ll_text_trim_dup(ev->name);
      append_key2(keys, &key, KEY_NAME, ev->product_id, name);
      free(name);
    }
    key1(&key, KEY_TRACKING, ev->product_id);
    append_key(keys, &key);
    key1(&key, KEY_UOM, ev->product_id);
    append_key(keys, &key);
  } else if (ev->type == LL_EV_STOCK_MOVED) {
    key1(&key, KEY_UOM, ev->product_id);
    append_key(keys, &key);
    if (!lot && present(ev->lot_name)) {
      char *name = ll_text_trim_dup(ev->lot_name);
      append_key2(keys, &key, KEY_NAME, ev->product_id, name);
      free(name);
    }
    append_move_ends(ev, keys, &key);
  }
  ll_buf_free(&key);
}

/* ---- decisions ---- */

void ll_decision_init(ll_decision *d) {
  memset(d, 0, sizeof *d);
  ll_lot_init(&d->lot);
}

void ll_decision_free(ll_decision *d) {
  ll_lot_free(&d->lot);
  free(d->old_name_key_product);
  free(d->old_name_key_name);
  ll_decision_init(d);
}

static bool rejection_recorded(ll_code code) {
  switch (code) {
  case LL_MALFORMED:
  case LL_UNKNOWN_SCHEMA:
  case LL_KEY_MISMATCH:
  case LL_WRONG_PARTITION:
  case LL_EVENT_ID_REUSED:
    return false;
  default:
    return true;
  }
}

static void put_seen(const ll_event *ev, const ll_decision *d,
                     const ll_log_at *at, ll_buf *key, ll_buf *value,
                     ll_mutations *out) {
  uint8_t digest[DIGEST_BYTES];
  ll_event_digest(ev, digest);
  ll_buf_reset(value);
  ll_buf_put_u8(value, SEEN_FORMAT_V1);
  ll_buf_put_bytes(value, digest, sizeof digest);
  ll_buf_put_u8(value, d->accepted ? 1 : 0);
  if (d->accepted) {
    assert(at != NULL);
    ll_buf_put_uvar(value, at->position);
    ll_buf_put_svar(value, at->partition);
    ll_buf_put_uvar(value, at->task_position);
  } else {
    ll_buf_put_uvar(value, (uint64_t)d->code);
    ll_buf_put_str(value, d->message);
    ll_buf_put_svar(value, ev->occurred_at_ms);
  }
  ll_state_event_key(key, ev->product_id, ev->event_id);
  ll_mutations_put(out, key->data, key->len, value->data, value->len);
}

static void put_u8(ll_mutations *out, ll_buf *key, uint8_t v) {
  ll_mutations_put(out, key->data, key->len, &v, 1);
}

static void put_quantity(ll_mutations *out, ll_buf *key, ll_buf *value,
                         int64_t qty_micro) {
  if (qty_micro == 0) {
    ll_mutations_del(out, key->data, key->len);
    return;
  }
  ll_buf_reset(value);
  ll_buf_put_svar(value, qty_micro);
  ll_mutations_put(out, key->data, key->len, value->data, value->len);
}

void ll_decision_mutations(const ll_event *ev, const ll_decision *d,
                           const ll_log_at *at, ll_mutations *out) {
  if (d->duplicate)
    return;
  if (!d->accepted && !rejection_recorded(d->code))
    return;

  ll_buf key, value;
  ll_buf_init(&key);
  ll_buf_init(&value);
  if (event_id_recordable(ev->event_id))
    put_seen(ev, d, at, &key, &value, out);

  if (d->accepted) {
    const ll_lot *lot = &d->lot;
    ll_buf_reset(&value);
    ll_lot_pack(lot, &value);
    key2(&key, KEY_LOT, lot->product_id, lot->lot_id);
    ll_mutations_put(out, key.data, key.len, value.data, value.len);

    if (ev->type == LL_EV_LOT_CREATED || ev->type == LL_EV_LOT_UPDATED) {
      if (d->old_name_key_product && d->old_name_key_name) {
        key2(&key, KEY_NAME, d->old_name_key_product, d->old_name_key_name);
        ll_mutations_del(out, key.data, key.len);
      }
      key2(&key, KEY_NAME, lot->product_id, lot->name);
      ll_mutations_put(out, key.data, key.len, lot->lot_id,
                       strlen(lot->lot_id));
      if (d->set_tracking) {
        key1(&key, KEY_TRACKING, lot->product_id);
        put_u8(out, &key, (uint8_t)lot->tracking);
      }
      if (d->set_uom) {
        key1(&key, KEY_UOM, lot->product_id);
        ll_mutations_put(out, key.data, key.len, lot->uom, strlen(lot->uom));
      }
    } else if (ev->type == LL_EV_STOCK_MOVED) {
      if (d->set_from_usage) {
        key2(&key, KEY_USAGE, lot->product_id, ev->from.id);
        put_u8(out, &key, (uint8_t)ev->from.usage);
      }
      if (d->set_to_usage) {
        key2(&key, KEY_USAGE, lot->product_id, ev->to.id);
        put_u8(out, &key, (uint8_t)ev->to.usage);
      }
      key3(&key, KEY_QUANTITY, lot->product_id, lot->lot_id, ev->from.id);
      put_quantity(out, &key, &value, d->from_qty_micro);
      key3(&key, KEY_QUANTITY, lot->product_id, lot->lot_id, ev->to.id);
      put_quantity(out, &key, &value, d->to_qty_micro);
    }
  }
  ll_buf_free(&key);
  ll_buf_free(&value);
}

/* ---- single reads ---- */

int ll_state_get_seen(const ll_state_reader *reader, const char *product_id,
                      const char *event_id, ll_seen *seen, ll_err *err) {
  ll_buf key, value;
  memset(seen, 0, sizeof *seen);
  if (!event_id_recordable(event_id))
    return 0; /* never recorded: not found */
  ll_buf_init(&key);
  ll_buf_init(&value);
  int rc = read_seen(reader, product_id, event_id, seen, &key, &value, err);
  ll_buf_free(&key);
  ll_buf_free(&value);
  return rc;
}

int ll_state_get_lot(const ll_state_reader *reader, const char *product_id,
                     const char *lot_id, ll_lot *lot, bool *found,
                     ll_err *err) {
  ll_buf key, value;
  *found = false;
  if (!present(lot_id) || !present(product_id)) {
    ll_lot_init(lot);
    return 0;
  }
  ll_buf_init(&key);
  ll_buf_init(&value);
  int rc = read_lot(reader, product_id, lot_id, lot, found, &key, &value, err);
  ll_buf_free(&key);
  ll_buf_free(&value);
  return rc;
}
