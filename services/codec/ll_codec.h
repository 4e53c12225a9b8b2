/* ll_codec.h — events on the wire: Avro, single-object encoding and
 * Confluent framing.
 *
 * The codec loads every schema version under schemas/ (files
 * <Record>.v<N>.avsc, e.g. LotCreated.v1.avsc), computes each one's
 * CRC-64-AVRO fingerprint over its Parsing Canonical Form, and uses the
 * highest version of each record as the reader schema. A message written
 * with any known writer schema is read through Avro schema resolution
 * (avro_resolved_reader) into the reader schema, then converted to an
 * ll_event. Anything that cannot be read becomes MALFORMED or
 * UNKNOWN_SCHEMA with a message; the codec never crashes on bad bytes.
 *
 * Confluent-framed messages (0x00 + 4-byte big-endian schema id) resolve the
 * id through a Schema Registry (GET {url}/schemas/ids/{id}), cached.
 *
 * One codec may be used from several threads at once (the consumer and the
 * HTTP threads): shared state sits behind a mutex. Encoders append to
 * `out`. */
#ifndef LL_CODEC_H
#define LL_CODEC_H

#include <stdint.h>

#include "ll_buf.h"
#include "ll_types.h"

typedef struct ll_codec ll_codec;

/* Load schemas from schema_dir. registry_url may be NULL (then Confluent
 * framing yields UNKNOWN_SCHEMA). Returns NULL with err set on failure (a
 * missing directory, an unparsable schema). */
ll_codec *ll_codec_open(const char *schema_dir, const char *registry_url,
                        ll_err *err);
void ll_codec_close(ll_codec *codec);

/* Decode one message value into ev (initialized by the caller, freed by the
 * caller). Returns LL_OK, or LL_MALFORMED / LL_UNKNOWN_SCHEMA with err set.
 * When the Schema Registry cannot be reached, *retry_later is set to true
 * (the return value is then meaningless) and err holds the failure with its
 * kind (IO, TIMEOUT, CORRUPT for an answer that is not JSON): the caller
 * must wait and retry the same message, never reject it. */
ll_code ll_codec_decode(ll_codec *codec, const void *data, size_t len,
                        ll_event *ev, bool *retry_later, ll_err *err);

/* Encode ev in single-object encoding with the current (reader) schema of
 * its type. Returns 0, or -1 with err set (a field Avro cannot carry, e.g.
 * a StockMoved without a valid quantity). A required text that is NULL is
 * written as "" so that the rules answer MISSING_FIELD for it. */
int ll_codec_encode(ll_codec *codec, const ll_event *ev, ll_buf *out,
                    ll_err *err);

/* Encode ev as plain Avro binary with a chosen writer schema version (tests
 * and tools use it to play older or newer producers). version 0 = current. */
int ll_codec_encode_version(ll_codec *codec, const ll_event *ev, int version,
                            ll_buf *out, ll_err *err);

/* A rejection as published to lots.rejected: Avro single-object encoding
 * of schemas/Rejection.v1.avsc. */
typedef struct ll_rejection {
  char *event_id; /* NULL when the bytes could not be decoded */
  ll_code code;
  char *message;
  char *topic;
  int32_t partition;
  int64_t offset;
  int64_t rejected_at_ms;
  uint8_t *key; /* original key bytes (may be NULL) */
  size_t key_len;
  uint8_t *value; /* original value bytes */
  size_t value_len;
} ll_rejection;

int ll_codec_encode_rejection(ll_codec *codec, const ll_rejection *r,
                              ll_buf *out, ll_err *err);
ll_code ll_codec_decode_rejection(ll_codec *codec, const void *data, size_t len,
                                  ll_rejection *r, ll_err *err);
void ll_rejection_free(ll_rejection *r);

/* One entry of lots.quantities: Avro single-object encoding of
 * schemas/QuantityChanged.v1.avsc. (Added by the codec helper: the
 * publisher of lots.quantities needs an encoder; decode is for tests and
 * downstream tools.) */
typedef struct ll_quantity_changed {
  char *lot_id;
  char *product_id;
  char *location; /* location id */
  ll_usage usage;
  int64_t quantity_micro;
  int64_t position;       /* log position of the event that changed it */
  int64_t occurred_at_ms; /* occurred_at of that event */
} ll_quantity_changed;

int ll_codec_encode_quantity(ll_codec *codec, const ll_quantity_changed *q,
                             ll_buf *out, ll_err *err);
ll_code ll_codec_decode_quantity(ll_codec *codec, const void *data, size_t len,
                                 ll_quantity_changed *q, ll_err *err);
void ll_quantity_changed_free(ll_quantity_changed *q);

/* One entry of lots.alerts: a date of a lot with stock on hand passed
 * (services/alerts). Avro single-object encoding of
 * schemas/LotDateReached.v1.avsc. */
typedef enum ll_date_kind {
  LL_DATE_ALERT = 0, /* alert_at */
  LL_DATE_USE_BY,    /* use_by_at */
  LL_DATE_REMOVAL,   /* removal_at */
  LL_DATE_EXPIRATION,
  LL_DATE_KIND_COUNT,
} ll_date_kind;

typedef struct ll_date_reached {
  const char *lot_id;
  const char *product_id;
  ll_date_kind kind;
  int64_t at_ms;
  int64_t on_hand_micro;
} ll_date_reached;

const char *ll_date_kind_name(ll_date_kind kind); /* "ALERT" ... */
int ll_codec_encode_date_reached(ll_codec *codec, const ll_date_reached *a,
                                 ll_buf *out, ll_err *err);

/* What identifies a LotDateReached record: its lot, kind and date; and
 * its on_hand, what was seen then (not part of its identity). Strings
 * point into the record. */
typedef struct ll_date_reached_key {
  const char *lot_id, *product_id; /* not NUL-terminated */
  size_t lot_len, product_len;
  ll_date_kind kind;
  int64_t at_ms;
  int64_t on_hand_micro;
} ll_date_reached_key;

/* Read a record of lots.alerts, as this codec encodes it (the current
 * LotDateReached schema, single-object encoding); false when the bytes
 * are not one. Reads its fields in place, without a schema walk. */
bool ll_codec_date_reached_peek(ll_codec *codec, const void *data, size_t n,
                                ll_date_reached_key *out);

/* Fingerprint (CRC-64-AVRO of the Parsing Canonical Form) of a record's
 * schema version, 0 = current; returns false if unknown. */
bool ll_codec_fingerprint(ll_codec *codec, ll_event_type type, int version,
                          uint64_t *fp_out);

/* Parsing Canonical Form of a schema given as JSON text; malloc'd string or
 * NULL with err set. */
char *ll_avro_canonical_form(const char *schema_json, ll_err *err);
/* CRC-64-AVRO (the Rabin fingerprint of the Avro specification). */
uint64_t ll_crc64_avro(const void *data, size_t len);

#endif
