/* publisher_state.c — the publisher's RocksDB: its quantities, the log
 * position they stand at, and where it stands in each Kafka cluster (key
 * layout in publisher_state.h).
 *
 * A run is a WriteBatchWithIndex read through on every lookup; committing
 * it writes the quantity changes, meta/position and (optionally) the
 * cluster record in one write, so after a crash the quantities stand
 * exactly at meta/position. The publisher commits with sync=true after each
 * Kafka transaction; replays (rebuilding the quantities from the log) use
 * sync=false: a lost tail is replayed again.
 *
 * The quantities also live in memory, compact and exact (views_quant.h,
 * the projector's kind): loaded at open, updated after each successful
 * commit, so a lookup is a hash probe instead of a search through the
 * run's batch, the memtable and the table files (docs/performance.md
 * has what that saves). A row the index does not hold (past its
 * bound) is read from RocksDB as before; the run's own changes are read
 * from its batch.
 *
 * Each entry is folded by the views' own fold (projections/quantity_fold.h),
 * so the quantities published are the views' to the micro-unit. The rules
 * keep INTERNAL/TRANSIT quantities from going below zero; the publisher
 * does not ask the fold to re-check that (the projection does), it only
 * refuses arithmetic overflow. */
#include "publisher_state.h"

#include <assert.h>
#include <rocksdb/c.h>
#include <stdlib.h>
#include <string.h>

#include "ll_buf.h"
#include "ll_logging.h"
#include "ll_mem.h"
#include "ll_rocks.h"
#include "ll_time.h"
#include "ll_types.h"
#include "quantity_fold.h"
#include "views_quant.h"

#define KEY_POSITION "meta/position"
#define KEY_FORMAT "meta/format"
#define KEY_QTY "qty/"
#define KEY_CLUSTER "cluster/"
#define KEY_SEP '\x1f'
#define PUB_STATE_FORMAT 2 /* 2: quantities keyed by (product, lot) */
/* The quantities in memory: about 1.5 million rows. */
#define PUB_QUANT_MAX_BYTES (40u * 1024 * 1024)
/* Reads come from the index, so a big memtable (RocksDB's default is 64
 * MiB) would only hold memory. */
#define PUB_WRITE_BUFFER_BYTES (16u * 1024 * 1024)

struct pub_state {
  rocksdb_t *db;
  rocksdb_options_t *options;
  rocksdb_readoptions_t *read_opts;
  rocksdb_writeoptions_t *write_sync;
  rocksdb_writeoptions_t *write_nosync;
  _Atomic bool write_failed; /* sticky: see ll_rocks_write */
  char *dir;
  char *name; /* "publisher state <dir>": messages */
  uint64_t position;
  bool run_open;        /* one run at a time */
  ll_views_quant quant; /* committed quantities (all of them: complete) */
  size_t quant_max_bytes;
};

struct pub_run {
  pub_state *s;
  rocksdb_writebatch_wi_t *batch;
  uint64_t position;
  ll_buf key, val;
  /* The run's quantity changes in order (length-prefixed key, svar
   * quantity): the commit's batch, and the index once it is written. */
  ll_buf changes;
};

/* The format mark (stamped on a new state), then the position. */
static int check_format(pub_state *s, ll_err *err) {
  const ll_rocks_format f = {
      .name = "publisher state",
      .dir = s->dir,
      .key = KEY_FORMAT,
      .version = PUB_STATE_FORMAT,
      .remedy = ": delete the directory, the publisher rebuilds it from the "
                "log",
  };
  if (ll_rocks_check_format(s->db, s->read_opts, s->write_sync, &f, NULL,
                            err) != 0)
    return -1;
  ll_buf v;
  ll_buf_init(&v);
  bool found = false;
  int rc = ll_rocks_get(s->db, s->read_opts, KEY_POSITION, strlen(KEY_POSITION),
                        &v, &found, s->name, err);
  if (rc == 0 && found && v.len != 8)
    rc = ll_fail(err, LL_ERR_CORRUPT, "%s: corrupt position", s->name);
  if (rc == 0)
    s->position = found ? ll_be64_decode(v.data) : 0;
  ll_buf_free(&v);
  return rc;
}

/* qty/<product>\x1f<lot_id>\x1f<location> split into the lot (product
 * and lot id, with the separator between them: a lot is (product_id,
 * lot_id)) and the location; false when it is not so. */
static bool qty_parts(const char *k, size_t n, const char **lot,
                      size_t *lot_len, const char **loc, size_t *loc_len) {
  size_t plen = strlen(KEY_QTY);
  if (n <= plen || memcmp(k, KEY_QTY, plen) != 0)
    return false;
  const char *sep = NULL;
  int seps = 0;
  for (const char *p = k + plen; p < k + n; p++) {
    if (*p == KEY_SEP) {
      sep = p;
      seps++;
    }
  }
  if (seps != 2)
    return false;
  *lot = k + plen;
  *lot_len = (size_t)(sep - *lot);
  *loc = sep + 1;
  *loc_len = n - (size_t)(*loc - k);
  return *lot_len > 0 && *loc_len > 0;
}

static bool read_svar(const char *p, size_t n, int64_t *q) {
  ll_rd rd;
  ll_rd_init(&rd, p, n);
  return ll_rd_svar(&rd, q) && ll_rd_left(&rd) == 0;
}

/* Every quantity row into the index; complete when all of them fit (else
 * the rest are read from RocksDB). */
static void load_quantities(pub_state *s) {
  uint64_t t0 = ll_mono_ns();
  bool all = true;
  size_t plen = strlen(KEY_QTY);
  rocksdb_iterator_t *it = rocksdb_create_iterator(s->db, s->read_opts);
  for (rocksdb_iter_seek(it, KEY_QTY, plen); all && rocksdb_iter_valid(it);
       rocksdb_iter_next(it)) {
    size_t klen = 0, vlen = 0;
    const char *k = rocksdb_iter_key(it, &klen);
    if (klen < plen || memcmp(k, KEY_QTY, plen) != 0)
      break;
    const char *v = rocksdb_iter_value(it, &vlen);
    const char *lot, *loc;
    size_t lot_len, loc_len;
    int64_t q = 0;
    all = qty_parts(k, klen, &lot, &lot_len, &loc, &loc_len) &&
          read_svar(v, vlen, &q) &&
          ll_views_quant_set_pair(&s->quant, LL_VQ_QTY, lot, lot_len, loc,
                                  loc_len, true, q, 0);
  }
  ll_err e;
  if (ll_rocks_iter_end(it, "cannot load the quantities", &e) != 0) {
    ll_log(LL_WARN, "publish", "%s", e.message);
    all = false;
  }
  if (all)
    ll_views_quant_set_complete(&s->quant);
  ll_views_quant_stats st;
  ll_views_quant_get_stats(&s->quant, &st);
  ll_log(LL_INFO, "publish",
         "%zu quantities loaded into memory in %.2f s (room for %zu)%s",
         st.rows, (double)(ll_mono_ns() - t0) / 1e9, st.capacity,
         all ? "" : "; not all of them: the rest are read from the database");
}

pub_state *pub_state_open(const char *dir, ll_err *err) {
  return pub_state_open_bounded(dir, PUB_QUANT_MAX_BYTES, err);
}

pub_state *pub_state_open_bounded(const char *dir, size_t quant_max_bytes,
                                  ll_err *err) {
  pub_state *s = ll_xcalloc(1, sizeof *s);
  s->dir = ll_strdup(dir);
  ll_buf name;
  ll_buf_init(&name);
  ll_buf_printf(&name, "publisher state %s", dir);
  s->name = ll_strdup((const char *)name.data);
  ll_buf_free(&name);
  s->options = rocksdb_options_create();
  rocksdb_options_set_create_if_missing(s->options, 1);
  rocksdb_options_set_keep_log_file_num(s->options, 4);
  rocksdb_options_set_write_buffer_size(s->options, PUB_WRITE_BUFFER_BYTES);
  s->read_opts = rocksdb_readoptions_create();
  s->write_sync = rocksdb_writeoptions_create();
  rocksdb_writeoptions_set_sync(s->write_sync, 1);
  s->write_nosync = rocksdb_writeoptions_create();
  rocksdb_writeoptions_set_sync(s->write_nosync, 0);
  s->db = ll_rocks_open(s->options, dir, "publisher state", err);
  if (s->db == NULL || check_format(s, err) != 0) {
    pub_state_close(s);
    return NULL;
  }
  s->quant_max_bytes = quant_max_bytes;
  ll_views_quant_init(&s->quant, quant_max_bytes);
  load_quantities(s);
  return s;
}

void pub_state_close(pub_state *s) {
  if (s == NULL)
    return;
  assert(!s->run_open);
  if (s->db != NULL)
    rocksdb_close(s->db);
  rocksdb_writeoptions_destroy(s->write_sync);
  rocksdb_writeoptions_destroy(s->write_nosync);
  rocksdb_readoptions_destroy(s->read_opts);
  rocksdb_options_destroy(s->options);
  ll_views_quant_free(&s->quant);
  free(s->dir);
  free(s->name);
  free(s);
}

uint64_t pub_state_position(const pub_state *s) {
  return s->position;
}

/* ---- cluster records ---- */

static void cluster_key(ll_buf *key, const char *cluster_id) {
  ll_buf_reset(key);
  ll_buf_put(key, KEY_CLUSTER, strlen(KEY_CLUSTER));
  ll_buf_put(key, cluster_id, strlen(cluster_id));
}

static void cluster_pack(const pub_cluster *c, ll_buf *out) {
  ll_buf_reset(out);
  ll_buf_put_uvar(out, c->position);
  for (int t = 0; t < PUB_TOPICS; t++) {
    assert(c->partitions[t] >= 0 && c->partitions[t] <= PUB_PARTITIONS_MAX);
    ll_buf_put_uvar(out, (uint64_t)c->partitions[t]);
    for (int32_t p = 0; p < c->partitions[t]; p++)
      ll_buf_put_svar(out, c->next_offset[t][p]);
  }
}

static bool cluster_unpack(const void *data, size_t n, pub_cluster *c) {
  ll_rd rd;
  ll_rd_init(&rd, data, n);
  uint64_t v = 0;
  if (!ll_rd_uvar(&rd, &c->position))
    return false;
  for (int t = 0; t < PUB_TOPICS; t++) {
    if (!ll_rd_uvar(&rd, &v) || v > PUB_PARTITIONS_MAX)
      return false;
    c->partitions[t] = (int32_t)v;
    for (int32_t p = 0; p < c->partitions[t]; p++)
      if (!ll_rd_svar(&rd, &c->next_offset[t][p]))
        return false;
  }
  return ll_rd_left(&rd) == 0;
}

int pub_state_get_cluster(pub_state *s, const char *cluster_id,
                          pub_cluster *out, ll_err *err) {
  memset(out, 0, sizeof *out);
  ll_buf key, val;
  ll_buf_init(&key);
  ll_buf_init(&val);
  cluster_key(&key, cluster_id);
  bool found = false;
  int rc = ll_rocks_get(s->db, s->read_opts, key.data, key.len, &val, &found,
                        s->name, err);
  if (rc == 0 && found) {
    if (!cluster_unpack(val.data, val.len, out))
      rc = ll_fail(err, LL_ERR_CORRUPT,
                   "publisher state %s: corrupt record for cluster %s", s->dir,
                   cluster_id);
    else
      out->found = true;
  }
  ll_buf_free(&key);
  ll_buf_free(&val);
  if (rc != 0)
    memset(out, 0, sizeof *out);
  return rc;
}

/* ---- quantities ---- */

/* qty/<product>\x1f<lot_id>\x1f<location>; false when a part holds the
 * separator, which validated ids never do. */
static bool qty_key(ll_buf *key, const char *product_id, const char *lot_id,
                    const char *location) {
  ll_buf_reset(key);
  if (product_id == NULL || lot_id == NULL || location == NULL ||
      strchr(product_id, KEY_SEP) || strchr(lot_id, KEY_SEP) ||
      strchr(location, KEY_SEP))
    return false;
  ll_buf_put(key, KEY_QTY, strlen(KEY_QTY));
  ll_buf_put(key, product_id, strlen(product_id));
  ll_buf_put_u8(key, (uint8_t)KEY_SEP);
  ll_buf_put(key, lot_id, strlen(lot_id));
  ll_buf_put_u8(key, (uint8_t)KEY_SEP);
  ll_buf_put(key, location, strlen(location));
  return true;
}

static bool qty_unpack(const ll_buf *v, int64_t *q) {
  return read_svar((const char *)v->data, v->len, q);
}

int pub_state_quantity(pub_state *s, const char *product_id, const char *lot_id,
                       const char *location, int64_t *quantity_micro,
                       ll_err *err) {
  ll_buf key, val;
  ll_buf_init(&key);
  ll_buf_init(&val);
  *quantity_micro = 0;
  int rc = 0;
  bool found = false;
  if (qty_key(&key, product_id, lot_id, location) &&
      (rc = ll_rocks_get(s->db, s->read_opts, key.data, key.len, &val, &found,
                         s->name, err)) == 0 &&
      found && !qty_unpack(&val, quantity_micro))
    rc = ll_fail(err, LL_ERR_CORRUPT,
                 "publisher state: corrupt quantity of %s at %s", lot_id,
                 location);
  ll_buf_free(&key);
  ll_buf_free(&val);
  return rc;
}

int pub_state_reset(pub_state *s, ll_err *err) {
  assert(!s->run_open);
  /* qty/ .. qty0 ('/' + 1 = '0') covers every quantity row. */
  const char *start = KEY_QTY, *end = "qty0";
  rocksdb_writebatch_t *b = rocksdb_writebatch_create();
  rocksdb_writebatch_delete_range(b, start, strlen(start), end, strlen(end));
  rocksdb_writebatch_delete(b, KEY_POSITION, strlen(KEY_POSITION));
  int rc = ll_rocks_write(s->db, s->write_sync, b, &s->write_failed, err,
                          "%s: reset", s->name);
  rocksdb_writebatch_destroy(b);
  if (rc != 0)
    return rc;
  s->position = 0;
  ll_views_quant_free(&s->quant);
  ll_views_quant_init(&s->quant, s->quant_max_bytes);
  ll_views_quant_set_complete(&s->quant); /* no quantity rows left */
  return 0;
}

/* ---- runs ---- */

pub_run *pub_run_begin(pub_state *s) {
  assert(!s->run_open);
  s->run_open = true;
  pub_run *r = ll_xcalloc(1, sizeof *r);
  r->s = s;
  r->batch = rocksdb_writebatch_wi_create(0, 1);
  r->position = s->position;
  ll_buf_init(&r->key);
  ll_buf_init(&r->val);
  ll_buf_init(&r->changes);
  return r;
}

uint64_t pub_run_position(const pub_run *r) {
  return r->position;
}

/* The row of (lot, loc) as the run sees it: the run's own change first,
 * then the committed value, in memory, or in RocksDB when the index does
 * not hold it. */
static int run_qty_get(void *ctx, const ll_entry *e, const ll_location *loc,
                       int64_t *qty_micro, ll_usage *usage, bool *found,
                       ll_err *err) {
  (void)usage; /* the publisher keeps no usage: loc's stands */
  pub_run *r = ctx;
  const char *lot_id = e->event.lot_id;
  if (!qty_key(&r->key, e->event.product_id, lot_id, loc->id))
    return ll_fail(err, LL_ERR_CORRUPT,
                   "publisher: log position %llu: StockMoved with an "
                   "unusable lot or location id",
                   (unsigned long long)e->position);
  char *rerr = NULL;
  size_t len = 0;
  char *p = rocksdb_writebatch_wi_get_from_batch(r->batch, r->s->options,
                                                 (const char *)r->key.data,
                                                 r->key.len, &len, &rerr);
  *found = p != NULL;
  if (rerr == NULL && !*found) {
    int64_t unused = 0;
    /* The index's lot is "<product>\x1f<lot_id>", as the key holds it. */
    const char *lot = (const char *)r->key.data + strlen(KEY_QTY);
    size_t lot_len = r->key.len - strlen(KEY_QTY) - strlen(loc->id) - 1;
    switch (ll_views_quant_get_pair(&r->s->quant, LL_VQ_QTY, lot, lot_len,
                                    loc->id, strlen(loc->id), qty_micro,
                                    &unused)) {
    case LL_VQ_FOUND:
      *found = true;
      break;
    case LL_VQ_ABSENT:
      break;
    case LL_VQ_UNKNOWN:
      p = rocksdb_get(r->s->db, r->s->read_opts, (const char *)r->key.data,
                      r->key.len, &len, &rerr);
      *found = p != NULL;
      break;
    }
  }
  if (rerr != NULL) {
    rocksdb_free(p);
    return ll_rocks_fail(err, rerr, "%s: read", r->s->name);
  }
  if (p == NULL)
    return 0;
  bool ok = read_svar(p, len, qty_micro);
  rocksdb_free(p);
  if (!ok)
    return ll_fail(err, LL_ERR_CORRUPT,
                   "publisher state: corrupt quantity of %s at %s", lot_id,
                   loc->id);
  return 0;
}

/* Stage the row's new value. In the run's batch a zero stays a value, so
 * run_qty_get tells it from a row the run did not touch (a delete would
 * read as "not in the batch"); the commit turns it into a delete. */
static void run_qty_put(void *ctx, const ll_location *loc, int64_t qty_micro) {
  (void)loc; /* r->key is the row's: run_qty_get made it */
  pub_run *r = ctx;
  ll_buf_reset(&r->val);
  ll_buf_put_svar(&r->val, qty_micro);
  rocksdb_writebatch_wi_put(r->batch, (const char *)r->key.data, r->key.len,
                            (const char *)r->val.data, r->val.len);
  ll_buf_put_bytes(&r->changes, r->key.data, r->key.len);
  ll_buf_put_svar(&r->changes, qty_micro);
}

/* No floor check: the publisher publishes what the log says; the views
 * stop on a log that breaks it (quantity_fold.h). */
static const ll_qty_holder run_holder = {
    .name = "publisher",
    .check_stock_floor = false,
    .get = run_qty_get,
    .put = run_qty_put,
};

int pub_run_apply(pub_run *r, const ll_entry *e, int64_t *from_after,
                  int64_t *to_after, ll_err *err) {
  if (e->position != r->position + 1)
    return ll_fail(err, LL_ERR_INTERNAL,
                   "publisher: log position %llu follows %llu: entries "
                   "missing in between",
                   (unsigned long long)e->position,
                   (unsigned long long)r->position);
  if (ll_quantity_fold(&run_holder, r, e, from_after, to_after, err) != 0)
    return -1;
  r->position = e->position;
  return 0;
}

static void run_free(pub_run *r) {
  r->s->run_open = false;
  rocksdb_writebatch_wi_destroy(r->batch);
  ll_buf_free(&r->key);
  ll_buf_free(&r->val);
  ll_buf_free(&r->changes);
  free(r);
}

/* Visit the run's quantity changes in order; false on a malformed list
 * (cannot happen: this file writes it). */
typedef void (*change_fn)(void *arg, const char *key, size_t key_len,
                          int64_t q);
static bool each_change(const pub_run *r, change_fn fn, void *arg) {
  ll_rd rd;
  ll_rd_init(&rd, r->changes.data, r->changes.len);
  while (ll_rd_left(&rd) > 0) {
    size_t len = 0;
    const uint8_t *key = NULL;
    int64_t q = 0;
    if (!ll_rd_bytes(&rd, &key, &len) || !ll_rd_svar(&rd, &q))
      return false;
    fn(arg, (const char *)key, len, q);
  }
  return true;
}

/* The commit's batch, and a value buffer reused for every change. */
typedef struct batch_fill {
  rocksdb_writebatch_t *b;
  ll_buf value;
} batch_fill;

static void change_to_batch(void *arg, const char *key, size_t key_len,
                            int64_t q) {
  batch_fill *f = arg;
  if (q == 0) {
    rocksdb_writebatch_delete(f->b, key, key_len);
    return;
  }
  ll_buf_reset(&f->value);
  ll_buf_put_svar(&f->value, q);
  rocksdb_writebatch_put(f->b, key, key_len, (const char *)f->value.data,
                         f->value.len);
}

static void change_to_index(void *arg, const char *key, size_t key_len,
                            int64_t q) {
  pub_state *s = arg;
  const char *lot = NULL, *loc = NULL;
  size_t lot_len = 0, loc_len = 0;
  bool ok = qty_parts(key, key_len, &lot, &lot_len, &loc, &loc_len);
  assert(ok); /* qty_key() made it */
  (void)ok;
  /* A row the index refuses is read from RocksDB from then on. */
  (void)ll_views_quant_set_pair(&s->quant, LL_VQ_QTY, lot, lot_len, loc,
                                loc_len, q != 0, q, 0);
}

int pub_run_commit(pub_run *r, const char *cluster_id, const pub_cluster *c,
                   bool sync, ll_err *err) {
  pub_state *s = r->s;
  /* The changes in order (the last one of a row wins), zeros as deletes,
   * then the position and the cluster record: one write. */
  batch_fill fill = {.b = rocksdb_writebatch_create()};
  ll_buf_init(&fill.value);
  bool ok = each_change(r, change_to_batch, &fill);
  assert(ok);
  (void)ok;
  ll_buf_free(&fill.value);
  rocksdb_writebatch_t *b = fill.b;
  ll_buf_reset(&r->val);
  ll_buf_put_be64(&r->val, r->position);
  rocksdb_writebatch_put(b, KEY_POSITION, strlen(KEY_POSITION),
                         (const char *)r->val.data, r->val.len);
  if (cluster_id != NULL) {
    assert(c != NULL);
    cluster_key(&r->key, cluster_id);
    cluster_pack(c, &r->val);
    rocksdb_writebatch_put(b, (const char *)r->key.data, r->key.len,
                           (const char *)r->val.data, r->val.len);
  }
  int rc = ll_rocks_write(s->db, sync ? s->write_sync : s->write_nosync, b,
                          &s->write_failed, err, "%s: write", s->name);
  rocksdb_writebatch_destroy(b);
  if (rc == 0)
    each_change(r, change_to_index, s);
  uint64_t position = r->position;
  run_free(r);
  if (rc != 0)
    return rc;
  s->position = position;
  return 0;
}

void pub_run_abort(pub_run *r) {
  if (r != NULL)
    run_free(r);
}
