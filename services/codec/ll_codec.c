/* ll_codec.c — the schema catalog, schema resolution and the codec's
 * public calls (see ll_codec.h for the wire formats).
 *
 * Catalog. ll_codec_open reads every <Record>.v<N>.avsc in the schema
 * directory, parses it with Avro-C, computes its Parsing Canonical Form
 * and CRC-64-AVRO fingerprint (ll_canonical.c, ll_crc64.c), and keeps the
 * JSON too (Avro-C drops field defaults; the codec needs them). The
 * highest version of each record is its reader schema and the schema used
 * for encoding.
 *
 * Resolution. For every writer schema (each local version, and each
 * schema fetched from the registry) the codec prepares, once, a "writer":
 * Avro-C's generic class for the writer schema plus a resolved reader from
 * the writer to a *projection* of the reader schema. The projection is the
 * reader schema minus the fields the writer lacks (Avro-C's resolver
 * cannot fill defaults, ll_codec_map.c does), with each enum replaced by
 * the writer's enum of the same name (Avro-C would carry the writer's
 * index into the reader's list unchanged; the symbol is mapped by name
 * later). A reader field that the writer lacks and that has no default
 * makes the writer unreadable: at open for a local version (the schema
 * directory is broken), as UNKNOWN_SCHEMA for a registry schema.
 *
 * Decoding one message: check the framing, find the writer (by
 * fingerprint, or by registry id through the cache), check the bytes with
 * ll_avro_scan, read them into a generic writer value, wrap it in a
 * resolved-reader value and map that to lotline's struct.
 *
 * Threads. Avro-C keeps its last error message in one process-wide buffer
 * and its values are not meant for concurrent use, so every Avro-C call,
 * and the registry cache, sits behind one process-wide mutex. A decode
 * takes microseconds; the only slow step, the registry fetch, runs outside
 * the lock. Values are created per call; the prepared writers are shared. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ll_codec_internal.h"
#include "ll_decimal.h"
#include "ll_event.h"
#include "ll_mem.h"

#define SINGLE_OBJECT_HEADER_BYTES 10 /* C3 01 + 8-byte fingerprint */
#define CONFLUENT_HEADER_BYTES 5      /* 00 + 4-byte schema id */
#define PROJECTION_MEMO_MAX 64

static pthread_mutex_t avro_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const kind_names[LL_KIND_COUNT] = {
    [LL_KIND_LOT_CREATED] = "LotCreated",
    [LL_KIND_LOT_UPDATED] = "LotUpdated",
    [LL_KIND_STOCK_MOVED] = "StockMoved",
    [LL_KIND_REJECTION] = "Rejection",
    [LL_KIND_QUANTITY_CHANGED] = "QuantityChanged",
    [LL_KIND_LOT_HELD] = "LotHeld",
    [LL_KIND_LOT_RELEASED] = "LotReleased",
    [LL_KIND_DATE_REACHED] = "LotDateReached",
};

#define KIND_BIT(k) (1u << (k))
#define EVENT_KINDS                                                            \
  (KIND_BIT(LL_KIND_LOT_CREATED) | KIND_BIT(LL_KIND_LOT_UPDATED) |             \
   KIND_BIT(LL_KIND_STOCK_MOVED) | KIND_BIT(LL_KIND_LOT_HELD) |                \
   KIND_BIT(LL_KIND_LOT_RELEASED))

const char *ll_kind_record_name(ll_kind kind) {
  return (int)kind >= 0 && kind < LL_KIND_COUNT ? kind_names[kind] : "?";
}

bool ll_kind_from_name(const char *record_name, ll_kind *out) {
  for (int k = 0; record_name && k < LL_KIND_COUNT; k++) {
    if (strcmp(kind_names[k], record_name) == 0) {
      *out = (ll_kind)k;
      return true;
    }
  }
  return false;
}

avro_schema_t ll_avro_deref(avro_schema_t s) {
  for (int i = 0; s && is_avro_link(s) && i < LL_AVRO_MAX_DEPTH; i++)
    s = avro_schema_link_target(s);
  return s;
}

const char *ll_avro_short_name(avro_schema_t s) {
  s = ll_avro_deref(s);
  return s && is_avro_named_type(s) ? avro_schema_name(s) : NULL;
}

/* How to read data written with one writer schema. */
typedef struct writer {
  ll_kind kind;
  avro_schema_t schema;    /* the writer schema (own reference) */
  avro_schema_t projected; /* reader schema as seen from this writer */
  avro_value_iface_t *writer_class;
  avro_value_iface_t *resolver;
  const json_t *reader_doc; /* owned by the catalog */
  ll_names_memo *names;     /* own */
} writer;

/* One local schema file. */
typedef struct schema_version {
  ll_kind kind;
  int version;
  uint64_t fingerprint;
  json_t *doc;
  avro_schema_t schema;
  avro_value_iface_t *generic; /* for encoding with this version */
  writer reading;              /* for decoding data written with it */
} schema_version;

/* One schema id from the registry; ids never change meaning, so an
 * unusable answer is cached too. */
typedef struct registry_entry {
  uint32_t id;
  bool usable;
  writer reading;
  char why[LL_MESSAGE_MAX_BYTES];
} registry_entry;

struct ll_codec {
  char *schema_dir;
  char *registry_url; /* NULL: no registry */
  schema_version *versions;
  size_t version_count;
  schema_version *current[LL_KIND_COUNT];
  registry_entry *registry[LL_REGISTRY_CACHE_MAX];
  size_t registry_count;
  size_t registry_evict_next;
};

/* ---- projection of the reader schema onto a writer ---- */

typedef struct projector {
  struct {
    avro_schema_t reader, writer, out;
    bool building;
  } memo[PROJECTION_MEMO_MAX];
  size_t memo_count;
  const json_t *reader_doc;
  ll_err *err;
} projector;

static bool same_short_name(avro_schema_t a, avro_schema_t b) {
  const char *na = ll_avro_short_name(a), *nb = ll_avro_short_name(b);
  return na && nb && strcmp(na, nb) == 0;
}

/* Could writer branch w be what reader branch r reads? */
static bool branch_matches(avro_schema_t r, avro_schema_t w) {
  r = ll_avro_deref(r);
  w = ll_avro_deref(w);
  if (avro_typeof(r) != avro_typeof(w))
    return false;
  return !is_avro_named_type(r) || same_short_name(r, w);
}

static avro_schema_t project(projector *pj, avro_schema_t r, avro_schema_t w,
                             int depth);

static avro_schema_t project_record(projector *pj, avro_schema_t r,
                                    avro_schema_t w, int depth) {
  for (size_t i = 0; i < pj->memo_count; i++) {
    if (pj->memo[i].reader == r && pj->memo[i].writer == w) {
      /* A recursive type refers to itself by link, as the parser does. */
      return pj->memo[i].building ? avro_schema_link(pj->memo[i].out)
                                  : avro_schema_incref(pj->memo[i].out);
    }
  }
  if (pj->memo_count == PROJECTION_MEMO_MAX) {
    ll_err_set(pj->err, LL_UNKNOWN_SCHEMA, "schema has too many records");
    return NULL;
  }
  const char *name = avro_schema_name(r);
  avro_schema_t out = avro_schema_record(name, avro_schema_namespace(r));
  size_t slot = pj->memo_count++;
  pj->memo[slot].reader = r;
  pj->memo[slot].writer = w;
  pj->memo[slot].out = out;
  pj->memo[slot].building = true;

  const json_t *fields =
      json_object_get(ll_json_find_named(pj->reader_doc, name), "fields");
  size_t n = avro_schema_record_size(r);
  for (size_t i = 0; i < n; i++) {
    const char *fname = avro_schema_record_field_name(r, (int)i);
    avro_schema_t rtype = avro_schema_record_field_get_by_index(r, (int)i);
    /* avro_schema_record_field_get() reads garbage for a missing name;
     * the index lookup says -1. */
    int wi = avro_schema_record_field_get_index(w, fname);
    avro_schema_t wtype =
        wi < 0 ? NULL : avro_schema_record_field_get_by_index(w, wi);
    if (!wtype) {
      const json_t *f = ll_json_find_field(fields, fname);
      if (!json_object_get(f, "default")) {
        ll_err_set(pj->err, LL_UNKNOWN_SCHEMA,
                   "the writer schema lacks %s.%s, which has no default", name,
                   fname);
        avro_schema_decref(out);
        return NULL;
      }
      continue; /* read later from the default */
    }
    avro_schema_t sub = project(pj, rtype, wtype, depth + 1);
    if (!sub) {
      avro_schema_decref(out);
      return NULL;
    }
    int rc = avro_schema_record_field_append(out, fname, sub);
    avro_schema_decref(sub);
    if (rc != 0) {
      ll_err_set(pj->err, LL_UNKNOWN_SCHEMA, "projecting %s: %s", name,
                 avro_strerror());
      avro_schema_decref(out);
      return NULL;
    }
  }
  pj->memo[slot].building = false;
  return out;
}

static avro_schema_t project_union(projector *pj, avro_schema_t r,
                                   avro_schema_t w, int depth) {
  avro_schema_t out = avro_schema_union();
  size_t n = avro_schema_union_size(r);
  for (size_t i = 0; i < n; i++) {
    avro_schema_t rb = avro_schema_union_branch(r, (int)i);
    avro_schema_t wb = NULL;
    if (is_avro_union(w)) {
      for (size_t j = 0; j < avro_schema_union_size(w) && !wb; j++) {
        avro_schema_t cand = avro_schema_union_branch(w, (int)j);
        if (branch_matches(rb, cand))
          wb = cand;
      }
    } else if (branch_matches(rb, w)) {
      wb = w;
    }
    avro_schema_t sub =
        wb ? project(pj, rb, wb, depth + 1) : avro_schema_incref(rb);
    if (!sub) {
      avro_schema_decref(out);
      return NULL;
    }
    avro_schema_union_append(out, sub);
    avro_schema_decref(sub);
  }
  return out;
}

/* New reference to the reader schema r as read from writer schema w. */
static avro_schema_t project(projector *pj, avro_schema_t r, avro_schema_t w,
                             int depth) {
  if (depth > LL_AVRO_MAX_DEPTH) {
    ll_err_set(pj->err, LL_UNKNOWN_SCHEMA, "schema nests too deeply");
    return NULL;
  }
  avro_schema_t rd = ll_avro_deref(r), wd = ll_avro_deref(w);
  if (is_avro_union(rd))
    return project_union(pj, rd, wd, depth);
  if (is_avro_union(wd)) {
    /* Reader is not a union: only the matching writer branch can work. */
    for (size_t j = 0; j < avro_schema_union_size(wd); j++) {
      avro_schema_t cand = avro_schema_union_branch(wd, (int)j);
      if (branch_matches(rd, cand))
        return project(pj, rd, cand, depth + 1);
    }
    return avro_schema_incref(r);
  }
  if (is_avro_record(rd) && is_avro_record(wd) && same_short_name(rd, wd))
    return project_record(pj, rd, wd, depth);
  if (is_avro_enum(rd) && is_avro_enum(wd) && same_short_name(rd, wd))
    return avro_schema_incref(wd); /* symbols are mapped by name later */
  if (is_avro_array(rd) && is_avro_array(wd)) {
    avro_schema_t items = project(pj, avro_schema_array_items(rd),
                                  avro_schema_array_items(wd), depth + 1);
    if (!items)
      return NULL;
    avro_schema_t out = avro_schema_array(items);
    avro_schema_decref(items);
    return out;
  }
  if (is_avro_map(rd) && is_avro_map(wd)) {
    avro_schema_t values = project(pj, avro_schema_map_values(rd),
                                   avro_schema_map_values(wd), depth + 1);
    if (!values)
      return NULL;
    avro_schema_t out = avro_schema_map(values);
    avro_schema_decref(values);
    return out;
  }
  return avro_schema_incref(r); /* Avro-C resolves or refuses the rest */
}

static void writer_release(writer *w) {
  if (w->resolver)
    avro_value_iface_decref(w->resolver);
  if (w->writer_class)
    avro_value_iface_decref(w->writer_class);
  if (w->projected)
    avro_schema_decref(w->projected);
  if (w->schema)
    avro_schema_decref(w->schema);
  free(w->names);
  memset(w, 0, sizeof *w);
}

/* Prepare reading `schema` (a record of `kind`) into the current reader.
 * Takes its own reference to schema. Caller holds avro_lock. */
static int writer_prepare(ll_codec *c, ll_kind kind, avro_schema_t schema,
                          writer *w, ll_err *err) {
  memset(w, 0, sizeof *w);
  const schema_version *reader = c->current[kind];
  projector *pj = ll_xcalloc(1, sizeof *pj);
  pj->reader_doc = reader->doc;
  pj->err = err;
  w->kind = kind;
  w->schema = avro_schema_incref(schema);
  w->reader_doc = reader->doc;
  w->names = ll_xcalloc(1, sizeof *w->names);
  w->projected = project(pj, reader->schema, schema, 0);
  free(pj);
  if (!w->projected) {
    writer_release(w);
    return -1;
  }
  w->writer_class = avro_generic_class_from_schema(schema);
  if (!w->writer_class) {
    ll_err_set(err, LL_UNKNOWN_SCHEMA, "Avro-C cannot read this schema: %s",
               avro_strerror());
    writer_release(w);
    return -1;
  }
  w->resolver = avro_resolved_reader_new(schema, w->projected);
  if (!w->resolver) {
    ll_err_set(err, LL_UNKNOWN_SCHEMA, "not readable as %s v%d: %s",
               kind_names[kind], reader->version, avro_strerror());
    writer_release(w);
    return -1;
  }
  return 0;
}

/* ---- catalog ---- */

static char *read_text_file(const char *path, size_t *len, ll_err *err) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    ll_fail(err, LL_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    return NULL;
  }
  char *text = ll_xmalloc(LL_SCHEMA_MAX_BYTES + 1);
  size_t n = fread(text, 1, LL_SCHEMA_MAX_BYTES + 1, f);
  bool failed = ferror(f) != 0;
  fclose(f);
  if (failed || n > LL_SCHEMA_MAX_BYTES) {
    ll_fail(err, failed ? LL_ERR_IO : LL_ERR_FULL, "cannot read %s: %s", path,
            failed ? "read error" : "larger than 1 MiB");
    free(text);
    return NULL;
  }
  text[n] = '\0';
  *len = n;
  return text;
}

/* "LotCreated.v12.avsc" -> "LotCreated", 12. */
static bool parse_schema_file_name(const char *file, char *record,
                                   size_t record_size, int *version) {
  size_t n = strlen(file);
  const char *ext = ".avsc";
  if (n <= strlen(ext) || strcmp(file + n - strlen(ext), ext) != 0)
    return false;
  const char *dotv = NULL;
  for (const char *p = file; p < file + n - strlen(ext); p++) {
    if (p[0] == '.' && p[1] == 'v')
      dotv = p;
  }
  if (!dotv || dotv == file || (size_t)(dotv - file) >= record_size)
    return false;
  long v = 0;
  const char *d = dotv + 2;
  if (d == file + n - strlen(ext))
    return false;
  for (; d < file + n - strlen(ext); d++) {
    if (*d < '0' || *d > '9' || v > 100000)
      return false;
    v = v * 10 + (*d - '0');
  }
  if (v < 1)
    return false;
  memcpy(record, file, (size_t)(dotv - file));
  record[dotv - file] = '\0';
  *version = (int)v;
  return true;
}

/* Load one file into sv. Caller holds avro_lock. */
static int load_version(const char *dir, const char *file, ll_kind kind,
                        int version, schema_version *sv, ll_err *err) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path)
    return ll_fail(err, LL_ERR_CONFIG, "schema path too long: %s", file);
  size_t len;
  char *text = read_text_file(path, &len, err);
  if (!text)
    return -1;
  int rc = -1;
  ll_err sub;
  char *canonical = ll_avro_canonical_form(text, &sub);
  json_error_t jerr;
  sv->kind = kind;
  sv->version = version;
  if (!canonical) {
    ll_fail(err, LL_ERR_CONFIG, "%s: %s", path, sub.message);
    goto out;
  }
  sv->fingerprint = ll_crc64_avro(canonical, strlen(canonical));
  sv->doc = json_loads(text, JSON_DECODE_ANY, &jerr);
  if (!sv->doc) {
    ll_fail(err, LL_ERR_CONFIG, "%s: %s", path, jerr.text);
    goto out;
  }
  if (avro_schema_from_json_length(text, len, &sv->schema) != 0) {
    sv->schema = NULL;
    ll_fail(err, LL_ERR_CONFIG, "%s: Avro-C: %s", path, avro_strerror());
    goto out;
  }
  const char *name = ll_avro_short_name(sv->schema);
  if (!is_avro_record(sv->schema) || !name ||
      strcmp(name, kind_names[kind]) != 0) {
    ll_fail(err, LL_ERR_CONFIG, "%s: expected a record named %s", path,
            kind_names[kind]);
    goto out;
  }
  sv->generic = avro_generic_class_from_schema(sv->schema);
  if (!sv->generic) {
    ll_fail(err, LL_ERR_CONFIG, "%s: Avro-C: %s", path, avro_strerror());
    goto out;
  }
  rc = 0;
out:
  free(canonical);
  free(text);
  return rc;
}

static int load_catalog(ll_codec *c, ll_err *err) {
  DIR *dir = opendir(c->schema_dir);
  if (!dir)
    return ll_fail(
        err, errno == ENOENT || errno == ENOTDIR ? LL_ERR_CONFIG : LL_ERR_IO,
        "cannot open schema directory %s: %s", c->schema_dir, strerror(errno));
  c->versions = ll_xcalloc(LL_CODEC_MAX_SCHEMA_FILES, sizeof *c->versions);
  int rc = 0;
  struct dirent *de;
  while (rc == 0 && (de = readdir(dir)) != NULL) {
    char record[128];
    int version;
    ll_kind kind;
    if (!parse_schema_file_name(de->d_name, record, sizeof record, &version))
      continue;
    if (!ll_kind_from_name(record, &kind))
      continue; /* a record lotline does not use */
    for (size_t i = 0; i < c->version_count; i++) {
      if (c->versions[i].kind == kind && c->versions[i].version == version) {
        rc = ll_fail(err, LL_ERR_CONFIG, "%s: two files for %s v%d",
                     c->schema_dir, record, version);
      }
    }
    if (rc == 0 && c->version_count == LL_CODEC_MAX_SCHEMA_FILES)
      rc = ll_fail(err, LL_ERR_FULL, "%s: more than %d schema files",
                   c->schema_dir, LL_CODEC_MAX_SCHEMA_FILES);
    if (rc == 0) {
      rc = load_version(c->schema_dir, de->d_name, kind, version,
                        &c->versions[c->version_count], err);
      c->version_count++; /* even on failure: close frees what it holds */
    }
  }
  closedir(dir);
  if (rc != 0)
    return -1;

  for (size_t i = 0; i < c->version_count; i++) {
    schema_version *sv = &c->versions[i];
    if (!c->current[sv->kind] || c->current[sv->kind]->version < sv->version)
      c->current[sv->kind] = sv;
  }
  for (int k = 0; k < LL_KIND_COUNT; k++) {
    if (!c->current[k])
      return ll_fail(err, LL_ERR_CONFIG, "no %s.v<N>.avsc in %s", kind_names[k],
                     c->schema_dir);
  }
  for (size_t i = 0; i < c->version_count; i++) {
    schema_version *sv = &c->versions[i];
    ll_err sub;
    if (writer_prepare(c, sv->kind, sv->schema, &sv->reading, &sub) != 0)
      return ll_fail(err, LL_ERR_CONFIG, "%s v%d cannot be read as v%d: %s",
                     kind_names[sv->kind], sv->version,
                     c->current[sv->kind]->version, sub.message);
  }
  return 0;
}

ll_codec *ll_codec_open(const char *schema_dir, const char *registry_url,
                        ll_err *err) {
  if (!schema_dir) {
    ll_fail(err, LL_ERR_CONFIG, "no schema directory");
    return NULL;
  }
  ll_codec *c = ll_xcalloc(1, sizeof *c);
  c->schema_dir = ll_strdup(schema_dir);
  if (registry_url && *registry_url)
    c->registry_url = ll_strdup(registry_url);
  pthread_mutex_lock(&avro_lock);
  int rc = load_catalog(c, err);
  pthread_mutex_unlock(&avro_lock);
  if (rc != 0) {
    ll_codec_close(c);
    return NULL;
  }
  return c;
}

static void registry_entry_free(registry_entry *e) {
  if (!e)
    return;
  writer_release(&e->reading);
  free(e);
}

void ll_codec_close(ll_codec *c) {
  if (!c)
    return;
  pthread_mutex_lock(&avro_lock);
  for (size_t i = 0; i < c->version_count; i++) {
    schema_version *sv = &c->versions[i];
    writer_release(&sv->reading);
    if (sv->generic)
      avro_value_iface_decref(sv->generic);
    if (sv->schema)
      avro_schema_decref(sv->schema);
    json_decref(sv->doc);
  }
  for (size_t i = 0; i < c->registry_count; i++)
    registry_entry_free(c->registry[i]);
  pthread_mutex_unlock(&avro_lock);
  free(c->versions);
  free(c->schema_dir);
  free(c->registry_url);
  free(c);
}

static schema_version *find_version(ll_codec *c, ll_kind kind, int version) {
  if (version == 0)
    return c->current[kind];
  for (size_t i = 0; i < c->version_count; i++) {
    if (c->versions[i].kind == kind && c->versions[i].version == version)
      return &c->versions[i];
  }
  return NULL;
}

static bool kind_of_event(ll_event_type type, ll_kind *kind) {
  switch (type) {
  case LL_EV_LOT_CREATED:
    *kind = LL_KIND_LOT_CREATED;
    return true;
  case LL_EV_LOT_UPDATED:
    *kind = LL_KIND_LOT_UPDATED;
    return true;
  case LL_EV_STOCK_MOVED:
    *kind = LL_KIND_STOCK_MOVED;
    return true;
  case LL_EV_LOT_HELD:
    *kind = LL_KIND_LOT_HELD;
    return true;
  case LL_EV_LOT_RELEASED:
    *kind = LL_KIND_LOT_RELEASED;
    return true;
  default:
    return false;
  }
}

bool ll_codec_fingerprint(ll_codec *c, ll_event_type type, int version,
                          uint64_t *fp_out) {
  ll_kind kind;
  if (!c || !kind_of_event(type, &kind))
    return false;
  const schema_version *sv = find_version(c, kind, version);
  if (!sv)
    return false;
  *fp_out = sv->fingerprint;
  return true;
}

/* ---- registry cache ---- */

static registry_entry *registry_find(ll_codec *c, uint32_t id) {
  for (size_t i = 0; i < c->registry_count; i++) {
    if (c->registry[i]->id == id)
      return c->registry[i];
  }
  return NULL;
}

/* Build and cache the entry for a schema the registry returned (NULL
 * schema_json: the registry said it is not a usable Avro schema, why in
 * `why`). Caller holds avro_lock. */
static registry_entry *registry_add(ll_codec *c, uint32_t id,
                                    const char *schema_json, const char *why) {
  registry_entry *e = ll_xcalloc(1, sizeof *e);
  e->id = id;
  ll_err sub = {0};
  avro_schema_t schema = NULL;
  ll_kind kind = LL_KIND_LOT_CREATED;
  if (!schema_json) {
    snprintf(e->why, sizeof e->why, "%s", why);
  } else if (avro_schema_from_json_length(schema_json, strlen(schema_json),
                                          &schema) != 0) {
    schema = NULL;
    snprintf(e->why, sizeof e->why, "schema id %" PRIu32 " does not parse: %s",
             id, avro_strerror());
  } else if (!is_avro_record(schema) ||
             !ll_kind_from_name(ll_avro_short_name(schema), &kind)) {
    const char *name = ll_avro_short_name(schema);
    snprintf(e->why, sizeof e->why,
             "schema id %" PRIu32 " is %.100s, not a lotline record", id,
             name ? name : avro_schema_type_name(schema));
  } else if (writer_prepare(c, kind, schema, &e->reading, &sub) != 0) {
    snprintf(e->why, sizeof e->why, "schema id %" PRIu32 " (%s): %.400s", id,
             kind_names[kind], sub.message);
  } else {
    e->usable = true;
  }
  if (schema)
    avro_schema_decref(schema);

  if (c->registry_count < LL_REGISTRY_CACHE_MAX) {
    c->registry[c->registry_count++] = e;
  } else {
    /* Full: replace entries round-robin. Entries are only used under the
     * lock, so nobody holds the one we free. */
    size_t slot = c->registry_evict_next++ % LL_REGISTRY_CACHE_MAX;
    registry_entry_free(c->registry[slot]);
    c->registry[slot] = e;
  }
  return e;
}

/* ---- decoding ---- */

typedef ll_code (*read_fn)(ll_kind kind, const ll_rec *rec, void *out,
                           ll_err *err);

/* Caller holds avro_lock. */
static ll_code read_datum(const writer *w, const uint8_t *p, size_t n,
                          read_fn fn, void *out, ll_err *err) {
  if (ll_avro_scan(w->schema, p, n, err) != 0)
    return LL_MALFORMED;
  avro_value_t wv, rv;
  if (avro_generic_value_new(w->writer_class, &wv) != 0) {
    ll_err_set(err, LL_MALFORMED, "Avro-C: %s", avro_strerror());
    return LL_MALFORMED;
  }
  avro_reader_t rd = avro_reader_memory((const char *)p, (int64_t)n);
  ll_code code = LL_OK;
  if (avro_value_read(rd, &wv) != 0) {
    ll_err_set(err, LL_MALFORMED, "unreadable Avro data: %s", avro_strerror());
    code = LL_MALFORMED;
  } else if (avro_resolved_reader_new_value(w->resolver, &rv) != 0) {
    ll_err_set(err, LL_MALFORMED, "Avro-C: %s", avro_strerror());
    code = LL_MALFORMED;
  } else {
    avro_resolved_reader_set_source(&rv, &wv);
    ll_rec rec = {
        .has_value = true,
        .value = rv,
        .fields_json = json_object_get(w->reader_doc, "fields"),
        .reader_doc = w->reader_doc,
        .names = w->names,
    };
    code = fn(w->kind, &rec, out, err);
    avro_value_decref(&rv);
  }
  avro_reader_free(rd);
  avro_value_decref(&wv);
  return code;
}

static ll_code wrong_kind(ll_err *err, ll_kind got, unsigned kinds) {
  ll_err_set(err, LL_UNKNOWN_SCHEMA, "the message is a %s, expected %s",
             kind_names[got],
             kinds == EVENT_KINDS ? "an event (LotCreated, LotUpdated, "
                                    "StockMoved, LotHeld, LotReleased)"
             : kinds == KIND_BIT(LL_KIND_REJECTION) ? "a Rejection"
                                                    : "a QuantityChanged");
  return LL_UNKNOWN_SCHEMA;
}

static ll_code decode_single_object(ll_codec *c, const uint8_t *data,
                                    size_t len, unsigned kinds, read_fn fn,
                                    void *out, ll_err *err) {
  if (len < SINGLE_OBJECT_HEADER_BYTES) {
    ll_err_set(err, LL_MALFORMED,
               "too short for Avro single-object encoding (%zu bytes)", len);
    return LL_MALFORMED;
  }
  if (data[1] != 0x01) {
    ll_err_set(err, LL_MALFORMED,
               "bad Avro single-object marker C3 %02X (expected C3 01)",
               data[1]);
    return LL_MALFORMED;
  }
  uint64_t fp = 0;
  for (int i = 7; i >= 0; i--)
    fp = (fp << 8) | data[2 + i];
  pthread_mutex_lock(&avro_lock);
  const schema_version *sv = NULL;
  for (size_t i = 0; i < c->version_count && !sv; i++) {
    if (c->versions[i].fingerprint == fp)
      sv = &c->versions[i];
  }
  ll_code code;
  if (!sv) {
    ll_err_set(err, LL_UNKNOWN_SCHEMA,
               "no schema in %s has fingerprint %016" PRIx64, c->schema_dir,
               fp);
    code = LL_UNKNOWN_SCHEMA;
  } else if (!(kinds & KIND_BIT(sv->kind)))
    code = wrong_kind(err, sv->kind, kinds);
  else
    code = read_datum(&sv->reading, data + SINGLE_OBJECT_HEADER_BYTES,
                      len - SINGLE_OBJECT_HEADER_BYTES, fn, out, err);
  pthread_mutex_unlock(&avro_lock);
  return code;
}

static ll_code decode_confluent(ll_codec *c, const uint8_t *data, size_t len,
                                unsigned kinds, read_fn fn, void *out,
                                bool *retry_later, ll_err *err) {
  if (len < CONFLUENT_HEADER_BYTES) {
    ll_err_set(err, LL_MALFORMED, "too short for Confluent framing (%zu bytes)",
               len);
    return LL_MALFORMED;
  }
  uint32_t id = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 |
                (uint32_t)data[3] << 8 | data[4];
  if (!c->registry_url) {
    ll_err_set(err, LL_UNKNOWN_SCHEMA,
               "Confluent-framed message with schema id %" PRIu32
               ", but no schema.registry.url is set",
               id);
    return LL_UNKNOWN_SCHEMA;
  }

  pthread_mutex_lock(&avro_lock);
  registry_entry *e = registry_find(c, id);
  if (!e) {
    pthread_mutex_unlock(&avro_lock);
    char *schema_json = NULL;
    ll_err fetch_err = {0};
    ll_registry_status st =
        ll_registry_fetch(c->registry_url, id, &schema_json, &fetch_err);
    if (st == LL_REGISTRY_UNAVAILABLE) {
      /* Not the message's fault: the caller sees the failure's own kind
       * (IO, TIMEOUT, ...), not a rejection. */
      *retry_later = true;
      if (err)
        *err = fetch_err;
      return LL_UNKNOWN_SCHEMA;
    }
    if (st == LL_REGISTRY_NOT_FOUND) {
      ll_err_set(err, LL_UNKNOWN_SCHEMA, "%s", fetch_err.message);
      return LL_UNKNOWN_SCHEMA;
    }
    pthread_mutex_lock(&avro_lock);
    e = registry_find(c, id); /* another thread may have been faster */
    if (!e)
      e = registry_add(c, id, schema_json, fetch_err.message);
    free(schema_json);
  }
  ll_code code;
  if (!e->usable) {
    ll_err_set(err, LL_UNKNOWN_SCHEMA, "%s", e->why);
    code = LL_UNKNOWN_SCHEMA;
  } else if (!(kinds & KIND_BIT(e->reading.kind))) {
    code = wrong_kind(err, e->reading.kind, kinds);
  } else {
    code = read_datum(&e->reading, data + CONFLUENT_HEADER_BYTES,
                      len - CONFLUENT_HEADER_BYTES, fn, out, err);
  }
  pthread_mutex_unlock(&avro_lock);
  return code;
}

static ll_code decode_framed(ll_codec *c, const void *data, size_t len,
                             unsigned kinds, read_fn fn, void *out,
                             bool *retry_later, ll_err *err) {
  *retry_later = false;
  const uint8_t *p = data;
  if (!p || len == 0) {
    ll_err_set(err, LL_MALFORMED, "empty message");
    return LL_MALFORMED;
  }
  if (p[0] == 0xC3)
    return decode_single_object(c, p, len, kinds, fn, out, err);
  if (p[0] == 0x00)
    return decode_confluent(c, p, len, kinds, fn, out, retry_later, err);
  ll_err_set(err, LL_MALFORMED,
             "not Avro single-object encoding (C3 01 ...) nor Confluent "
             "framing (00 ...): first byte 0x%02X",
             p[0]);
  return LL_MALFORMED;
}

static ll_code read_event_fn(ll_kind kind, const ll_rec *rec, void *out,
                             ll_err *err) {
  return ll_map_read_event(kind, rec, out, err);
}

ll_code ll_codec_decode(ll_codec *c, const void *data, size_t len, ll_event *ev,
                        bool *retry_later, ll_err *err) {
  bool retry_dummy;
  if (!retry_later)
    retry_later = &retry_dummy;
  ll_event tmp;
  ll_event_init(&tmp);
  ll_code code = decode_framed(c, data, len, EVENT_KINDS, read_event_fn, &tmp,
                               retry_later, err);
  if (code != LL_OK) {
    ll_event_free(&tmp);
    return code;
  }
  ll_event_free(ev);
  *ev = tmp;
  return LL_OK;
}

static ll_code read_rejection_fn(ll_kind kind, const ll_rec *rec, void *out,
                                 ll_err *err) {
  (void)kind;
  return ll_map_read_rejection(rec, out, err);
}

ll_code ll_codec_decode_rejection(ll_codec *c, const void *data, size_t len,
                                  ll_rejection *r, ll_err *err) {
  bool retry_later;
  ll_rejection tmp = {0};
  ll_code code = decode_framed(c, data, len, KIND_BIT(LL_KIND_REJECTION),
                               read_rejection_fn, &tmp, &retry_later, err);
  if (code != LL_OK) {
    ll_rejection_free(&tmp);
    return code;
  }
  *r = tmp;
  return LL_OK;
}

void ll_rejection_free(ll_rejection *r) {
  if (!r)
    return;
  free(r->event_id);
  free(r->message);
  free(r->topic);
  free(r->key);
  free(r->value);
  memset(r, 0, sizeof *r);
}

static ll_code read_quantity_fn(ll_kind kind, const ll_rec *rec, void *out,
                                ll_err *err) {
  (void)kind;
  return ll_map_read_quantity(rec, out, err);
}

ll_code ll_codec_decode_quantity(ll_codec *c, const void *data, size_t len,
                                 ll_quantity_changed *q, ll_err *err) {
  bool retry_later;
  ll_quantity_changed tmp = {0};
  ll_code code = decode_framed(c, data, len, KIND_BIT(LL_KIND_QUANTITY_CHANGED),
                               read_quantity_fn, &tmp, &retry_later, err);
  if (code != LL_OK) {
    ll_quantity_changed_free(&tmp);
    return code;
  }
  *q = tmp;
  return LL_OK;
}

void ll_quantity_changed_free(ll_quantity_changed *q) {
  if (!q)
    return;
  free(q->lot_id);
  free(q->product_id);
  free(q->location);
  memset(q, 0, sizeof *q);
}

/* ---- encoding ---- */

typedef int (*write_fn)(avro_value_t *rec, const json_t *writer_doc,
                        const void *in, ll_err *err);

/* Append the Avro binary of `in` written with sv, after the single-object
 * header when `header`. On failure out is left as it was. */
static int encode_with(const schema_version *sv, write_fn fn, const void *in,
                       bool header, ll_buf *out, ll_err *err) {
  size_t start = out->len;
  if (header) {
    ll_buf_put_u8(out, 0xC3);
    ll_buf_put_u8(out, 0x01);
    for (int i = 0; i < 8; i++)
      ll_buf_put_u8(out, (uint8_t)(sv->fingerprint >> (8 * i)));
  }
  pthread_mutex_lock(&avro_lock);
  avro_value_t v;
  int rc = -1;
  if (avro_generic_value_new(sv->generic, &v) != 0) {
    ll_fail(err, LL_ERR_INTERNAL, "Avro-C: %s", avro_strerror());
    goto unlock;
  }
  size_t size = 0;
  if (fn(&v, sv->doc, in, err) != 0)
    goto done;
  if (avro_value_sizeof(&v, &size) != 0) {
    ll_fail(err, LL_ERR_INTERNAL, "Avro-C: %s", avro_strerror());
    goto done;
  }
  ll_buf_reserve(out, size);
  avro_writer_t w =
      avro_writer_memory((const char *)out->data + out->len, (int64_t)size);
  if (avro_value_write(w, &v) != 0) {
    ll_fail(err, LL_ERR_INTERNAL, "Avro-C: %s", avro_strerror());
  } else {
    out->len += size;
    rc = 0;
  }
  avro_writer_free(w);
done:
  avro_value_decref(&v);
unlock:
  pthread_mutex_unlock(&avro_lock);
  if (rc != 0)
    out->len = start;
  return rc;
}

static int write_event_fn(avro_value_t *rec, const json_t *doc, const void *in,
                          ll_err *err) {
  return ll_map_write_event(rec, doc, in, err);
}

static int encode_event(ll_codec *c, const ll_event *ev, int version,
                        bool header, ll_buf *out, ll_err *err) {
  ll_kind kind;
  if (!kind_of_event(ev->type, &kind))
    return ll_fail(err, LL_ERR_INTERNAL, "cannot encode an event of type %d",
                   (int)ev->type);
  const schema_version *sv = find_version(c, kind, version);
  if (!sv)
    return ll_fail(err, LL_ERR_CONFIG, "no schema %s.v%d.avsc in %s",
                   kind_names[kind], version, c->schema_dir);
  return encode_with(sv, write_event_fn, ev, header, out, err);
}

int ll_codec_encode(ll_codec *c, const ll_event *ev, ll_buf *out, ll_err *err) {
  return encode_event(c, ev, 0, true, out, err);
}

int ll_codec_encode_version(ll_codec *c, const ll_event *ev, int version,
                            ll_buf *out, ll_err *err) {
  return encode_event(c, ev, version, false, out, err);
}

static int write_rejection_fn(avro_value_t *rec, const json_t *doc,
                              const void *in, ll_err *err) {
  return ll_map_write_rejection(rec, doc, in, err);
}

int ll_codec_encode_rejection(ll_codec *c, const ll_rejection *r, ll_buf *out,
                              ll_err *err) {
  return encode_with(c->current[LL_KIND_REJECTION], write_rejection_fn, r, true,
                     out, err);
}

static int write_quantity_fn(avro_value_t *rec, const json_t *doc,
                             const void *in, ll_err *err) {
  return ll_map_write_quantity(rec, doc, in, err);
}

int ll_codec_encode_quantity(ll_codec *c, const ll_quantity_changed *q,
                             ll_buf *out, ll_err *err) {
  return encode_with(c->current[LL_KIND_QUANTITY_CHANGED], write_quantity_fn, q,
                     true, out, err);
}

static int write_date_reached_fn(avro_value_t *rec, const json_t *doc,
                                 const void *in, ll_err *err) {
  return ll_map_write_date_reached(rec, doc, in, err);
}

int ll_codec_encode_date_reached(ll_codec *c, const ll_date_reached *a,
                                 ll_buf *out, ll_err *err) {
  return encode_with(c->current[LL_KIND_DATE_REACHED], write_date_reached_fn, a,
                     true, out, err);
}

/* A zig-zag varint of Avro binary; false past the end or beyond 64 bits. */
static bool peek_varint(const uint8_t **p, const uint8_t *end, int64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64 && *p < end; shift += 7) {
    uint8_t b = *(*p)++;
    v |= (uint64_t)(b & 0x7F) << shift;
    if ((b & 0x80) == 0) {
      *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
      return true;
    }
  }
  return false;
}

static bool peek_string(const uint8_t **p, const uint8_t *end, const char **s,
                        size_t *len) {
  int64_t n = 0;
  if (!peek_varint(p, end, &n) || n < 0 || n > end - *p)
    return false;
  *s = (const char *)*p;
  *len = (size_t)n;
  *p += n;
  return true;
}

bool ll_codec_date_reached_peek(ll_codec *c, const void *data, size_t n,
                                ll_date_reached_key *out) {
  const uint8_t *p = data, *end = p + n;
  uint64_t fp = c->current[LL_KIND_DATE_REACHED]->fingerprint;
  if (n < 10 || p[0] != 0xC3 || p[1] != 0x01)
    return false;
  for (int i = 0; i < 8; i++)
    if (p[2 + i] != (uint8_t)(fp >> (8 * i)))
      return false;
  p += 10;
  int64_t kind = 0;
  if (!peek_string(&p, end, &out->lot_id, &out->lot_len) ||
      !peek_string(&p, end, &out->product_id, &out->product_len) ||
      !peek_varint(&p, end, &kind) || kind < 0 || kind >= LL_DATE_KIND_COUNT)
    return false;
  out->kind = (ll_date_kind)kind;
  const char *on_hand = NULL;
  size_t on_hand_len = 0;
  return peek_varint(&p, end, &out->at_ms) &&
         peek_string(&p, end, &on_hand, &on_hand_len) &&
         ll_decimal_from_avro((const uint8_t *)on_hand, on_hand_len,
                              &out->on_hand_micro) &&
         p == end;
}
