/* ll_codec_internal.h — what the codec's files share with each other; no
 * other module includes it.
 *
 * The codec is split by concern: ll_crc64.c (the fingerprint function),
 * ll_canonical.c (Parsing Canonical Form), ll_avro_scan.c (a bounds check
 * of Avro binary before Avro-C sees it), ll_registry.c (the Schema
 * Registry client), ll_codec_map.c (Avro values <-> lotline structs) and
 * ll_codec.c (the schema catalog, resolution and the public calls). */
#ifndef LL_CODEC_INTERNAL_H
#define LL_CODEC_INTERNAL_H

#include <avro.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ll_buf.h"
#include "ll_codec.h"
#include "ll_types.h"

/* Limits. A schema deeper than this, or a datum with more array/map items,
 * is refused: it guards the stack and the heap against hostile bytes. */
#define LL_AVRO_MAX_DEPTH 32
#define LL_AVRO_MAX_ITEMS (1 << 20)
#define LL_SCHEMA_MAX_BYTES (1 << 20) /* one .avsc or registry schema */
#define LL_REGISTRY_TIMEOUT_MS 2000   /* connect + answer, per URL */
#define LL_REGISTRY_MAX_BODY_BYTES (1 << 20)
#define LL_REGISTRY_CACHE_MAX 256 /* schema ids kept per codec */
#define LL_CODEC_MAX_SCHEMA_FILES 256

/* The records lotline reads and writes: the events (EVENT_KINDS in
 * ll_codec.c) and the records lotline writes, Rejection, QuantityChanged
 * and LotDateReached. */
typedef enum ll_kind {
  LL_KIND_LOT_CREATED = 0,
  LL_KIND_LOT_UPDATED,
  LL_KIND_STOCK_MOVED,
  LL_KIND_REJECTION,
  LL_KIND_QUANTITY_CHANGED,
  LL_KIND_LOT_HELD,
  LL_KIND_LOT_RELEASED,
  LL_KIND_DATE_REACHED,
  LL_KIND_COUNT,
} ll_kind;

const char *ll_kind_record_name(ll_kind kind); /* "LotCreated" */
bool ll_kind_from_name(const char *record_name, ll_kind *out);

/* ---- ll_avro_scan.c ---- */

/* Check that bytes [p, p+n) hold exactly one datum of `schema`: every
 * length and count within the input, every union and enum index in range,
 * no varint longer than 10 bytes, nothing left over. Avro-C trusts lengths
 * (it allocates what a length says before reading it), so the codec never
 * hands it bytes this check has not passed. Returns 0, or -1 with a
 * MALFORMED err. */
int ll_avro_scan(avro_schema_t schema, const uint8_t *p, size_t n, ll_err *err);

/* ---- ll_registry.c ---- */

typedef enum ll_registry_status {
  LL_REGISTRY_FOUND = 0,   /* *schema_json_out holds the schema text */
  LL_REGISTRY_NOT_FOUND,   /* 404: the id does not exist */
  LL_REGISTRY_UNUSABLE,    /* answered, but not an Avro schema */
  LL_REGISTRY_UNAVAILABLE, /* no answer, 5xx, auth, garbage: try later */
} ll_registry_status;

/* GET {url}/schemas/ids/{id} on each comma-separated URL until one
 * answers. *schema_json_out is malloc'd. */
ll_registry_status ll_registry_fetch(const char *urls, uint32_t id,
                                     char **schema_json_out, ll_err *err);

/* ---- ll_codec_map.c ---- */

/* A record being read: either an Avro value (fields missing from it take
 * the reader schema's default, found in `fields_json`), or a JSON object
 * (a record-typed default). */
/* Nested record types found by name in a reader document, remembered per
 * writer (finding one walks the whole JSON document, and a StockMoved
 * has two locations). Keys are Avro-C's name strings, which live as long
 * as the writer's schemas; guarded by the codec's lock like everything
 * else of a writer. */
#define LL_NAMES_MEMO_MAX 8
typedef struct ll_names_memo {
  const char *name[LL_NAMES_MEMO_MAX];
  const json_t *fields[LL_NAMES_MEMO_MAX]; /* NULL: not in the reader */
  size_t n;
} ll_names_memo;

typedef struct ll_rec {
  bool has_value;
  avro_value_t value;
  const json_t *fields_json; /* the reader's "fields" array */
  const json_t *json_value;  /* when !has_value */
  const json_t *reader_doc;  /* the whole reader schema, for nested names */
  ll_names_memo *names;      /* may be NULL */
} ll_rec;

ll_code ll_map_read_event(ll_kind kind, const ll_rec *rec, ll_event *ev,
                          ll_err *err);
ll_code ll_map_read_rejection(const ll_rec *rec, ll_rejection *r, ll_err *err);
ll_code ll_map_read_quantity(const ll_rec *rec, ll_quantity_changed *q,
                             ll_err *err);

/* Fill a fresh generic value of a writer schema: every field first gets
 * its default (or a zero value), then the fields lotline knows. */
int ll_map_write_event(avro_value_t *rec, const json_t *writer_doc,
                       const ll_event *ev, ll_err *err);
int ll_map_write_rejection(avro_value_t *rec, const json_t *writer_doc,
                           const ll_rejection *r, ll_err *err);
int ll_map_write_quantity(avro_value_t *rec, const json_t *writer_doc,
                          const ll_quantity_changed *q, ll_err *err);
int ll_map_write_date_reached(avro_value_t *rec, const json_t *writer_doc,
                              const ll_date_reached *a, ll_err *err);

/* The JSON definition of the named type `name` (unqualified or full)
 * inside a schema document, or NULL. */
const json_t *ll_json_find_named(const json_t *doc, const char *name);
/* The field called `name` in a record definition's "fields", or NULL. */
const json_t *ll_json_find_field(const json_t *fields, const char *name);

/* Unqualified name of a named schema, following links. */
const char *ll_avro_short_name(avro_schema_t s);
avro_schema_t ll_avro_deref(avro_schema_t s);

#endif
