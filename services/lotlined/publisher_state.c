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
 * Quantities are exact int64 micro-units with checked arithmetic, like the
 * views. The rules keep INTERNAL/TRANSIT quantities from going below zero;
 * the publisher does not re-check that (the projection does), it only
 * refuses arithmetic overflow. */
#include "publisher_state.h"

#include <assert.h>
#include <rocksdb/c.h>
#include <stdlib.h>
#include <string.h>

#include "ll_buf.h"
#include "ll_decimal.h"
#include "ll_event.h"

#define KEY_POSITION "meta/position"
#define KEY_FORMAT "meta/format"
#define KEY_QTY "qty/"
#define KEY_CLUSTER "cluster/"
#define KEY_SEP '\x1f'
#define PUB_STATE_FORMAT 1

struct pub_state {
  rocksdb_t *db;
  rocksdb_options_t *options;
  rocksdb_readoptions_t *read_opts;
  rocksdb_writeoptions_t *write_sync;
  rocksdb_writeoptions_t *write_nosync;
  char *dir;
  uint64_t position;
  bool run_open; /* one run at a time */
};

struct pub_run {
  pub_state *s;
  rocksdb_writebatch_wi_t *batch;
  uint64_t position;
  ll_buf key, val;
};

static int fail(const pub_state *s, ll_err *err, const char *what, char *rerr) {
  ll_err_set(err, LL_OK, "publisher state %s: %s: %s", s->dir, what,
             rerr ? rerr : "unknown error");
  rocksdb_free(rerr);
  return -1;
}

/* Read a key; *found false when absent. value is reset first. */
static int get(pub_state *s, const char *key, size_t key_len, ll_buf *value,
               bool *found, ll_err *err) {
  char *rerr = NULL;
  size_t len = 0;
  char *p = rocksdb_get(s->db, s->read_opts, key, key_len, &len, &rerr);
  ll_buf_reset(value);
  *found = false;
  if (rerr != NULL) {
    rocksdb_free(p);
    return fail(s, err, "read", rerr);
  }
  if (p != NULL) {
    ll_buf_put(value, p, len);
    rocksdb_free(p);
    *found = true;
  }
  return 0;
}

static int check_format(pub_state *s, ll_err *err) {
  ll_buf v;
  ll_buf_init(&v);
  bool found = false;
  int rc = get(s, KEY_FORMAT, strlen(KEY_FORMAT), &v, &found, err);
  if (rc == 0 && found) {
    ll_rd rd;
    uint64_t format = 0;
    ll_rd_init(&rd, v.data, v.len);
    if (!ll_rd_uvar(&rd, &format) || format != PUB_STATE_FORMAT)
      rc = ll_err_set(err, LL_OK,
                      "publisher state %s has another format (this build "
                      "reads %d): delete the directory, the publisher "
                      "rebuilds it from the log",
                      s->dir, PUB_STATE_FORMAT);
  } else if (rc == 0) {
    ll_buf_reset(&v);
    ll_buf_put_uvar(&v, PUB_STATE_FORMAT);
    char *rerr = NULL;
    rocksdb_put(s->db, s->write_sync, KEY_FORMAT, strlen(KEY_FORMAT),
                (const char *)v.data, v.len, &rerr);
    if (rerr != NULL)
      rc = fail(s, err, "initialise", rerr);
  }
  if (rc == 0) {
    rc = get(s, KEY_POSITION, strlen(KEY_POSITION), &v, &found, err);
    if (rc == 0 && found && v.len != 8)
      rc = ll_err_set(err, LL_OK, "publisher state %s: corrupt position",
                      s->dir);
    if (rc == 0)
      s->position = found ? ll_be64_decode(v.data) : 0;
  }
  ll_buf_free(&v);
  return rc;
}

pub_state *pub_state_open(const char *dir, ll_err *err) {
  pub_state *s = ll_xcalloc(1, sizeof *s);
  s->dir = ll_strdup(dir);
  s->options = rocksdb_options_create();
  rocksdb_options_set_create_if_missing(s->options, 1);
  rocksdb_options_set_keep_log_file_num(s->options, 4);
  s->read_opts = rocksdb_readoptions_create();
  s->write_sync = rocksdb_writeoptions_create();
  rocksdb_writeoptions_set_sync(s->write_sync, 1);
  s->write_nosync = rocksdb_writeoptions_create();
  rocksdb_writeoptions_set_sync(s->write_nosync, 0);
  char *rerr = NULL;
  s->db = rocksdb_open(s->options, dir, &rerr);
  if (rerr != NULL) {
    fail(s, err, "open", rerr);
    pub_state_close(s);
    return NULL;
  }
  if (check_format(s, err) != 0) {
    pub_state_close(s);
    return NULL;
  }
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
  free(s->dir);
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
  int rc = get(s, (const char *)key.data, key.len, &val, &found, err);
  if (rc == 0 && found) {
    if (!cluster_unpack(val.data, val.len, out))
      rc = ll_err_set(err, LL_OK,
                      "publisher state %s: corrupt record for cluster %s",
                      s->dir, cluster_id);
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

/* qty/<lot>\x1f<location>; false when a part holds the separator, which
 * validated ids never do. */
static bool qty_key(ll_buf *key, const char *lot_id, const char *location) {
  ll_buf_reset(key);
  if (lot_id == NULL || location == NULL || strchr(lot_id, KEY_SEP) ||
      strchr(location, KEY_SEP))
    return false;
  ll_buf_put(key, KEY_QTY, strlen(KEY_QTY));
  ll_buf_put(key, lot_id, strlen(lot_id));
  ll_buf_put_u8(key, (uint8_t)KEY_SEP);
  ll_buf_put(key, location, strlen(location));
  return true;
}

static bool qty_unpack(const ll_buf *v, int64_t *q) {
  ll_rd rd;
  ll_rd_init(&rd, v->data, v->len);
  return ll_rd_svar(&rd, q) && ll_rd_left(&rd) == 0;
}

int pub_state_quantity(pub_state *s, const char *lot_id, const char *location,
                       int64_t *quantity_micro, ll_err *err) {
  ll_buf key, val;
  ll_buf_init(&key);
  ll_buf_init(&val);
  *quantity_micro = 0;
  int rc = 0;
  bool found = false;
  if (qty_key(&key, lot_id, location) &&
      (rc = get(s, (const char *)key.data, key.len, &val, &found, err)) == 0 &&
      found && !qty_unpack(&val, quantity_micro))
    rc = ll_err_set(err, LL_OK, "publisher state: corrupt quantity of %s at %s",
                    lot_id, location);
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
  char *rerr = NULL;
  rocksdb_write(s->db, s->write_sync, b, &rerr);
  rocksdb_writebatch_destroy(b);
  if (rerr != NULL)
    return fail(s, err, "reset", rerr);
  s->position = 0;
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
  return r;
}

uint64_t pub_run_position(const pub_run *r) {
  return r->position;
}

/* Add delta to the row at (lot, loc) through the staged batch. */
static int adjust(pub_run *r, const ll_log_entry *e, const char *loc,
                  int64_t delta, int64_t *after, ll_err *err) {
  if (!qty_key(&r->key, e->event.lot_id, loc))
    return ll_err_set(err, LL_OK,
                      "publisher: log position %llu: StockMoved with an "
                      "unusable lot or location id",
                      (unsigned long long)e->position);
  char *rerr = NULL;
  size_t len = 0;
  char *p = rocksdb_writebatch_wi_get_from_batch_and_db(
      r->batch, r->s->db, r->s->read_opts, (const char *)r->key.data,
      r->key.len, &len, &rerr);
  if (rerr != NULL) {
    rocksdb_free(p);
    return fail(r->s, err, "read", rerr);
  }
  int64_t q = 0;
  if (p != NULL) {
    ll_buf_reset(&r->val);
    ll_buf_put(&r->val, p, len);
    rocksdb_free(p);
    if (!qty_unpack(&r->val, &q))
      return ll_err_set(err, LL_OK,
                        "publisher state: corrupt quantity of %s at %s",
                        e->event.lot_id, loc);
  }
  if (!ll_decimal_add(q, delta, &q))
    return ll_err_set(err, LL_OK,
                      "publisher: log position %llu: quantity of %s at %s "
                      "overflows",
                      (unsigned long long)e->position, e->event.lot_id, loc);
  if (q == 0) {
    rocksdb_writebatch_wi_delete(r->batch, (const char *)r->key.data,
                                 r->key.len);
  } else {
    ll_buf_reset(&r->val);
    ll_buf_put_svar(&r->val, q);
    rocksdb_writebatch_wi_put(r->batch, (const char *)r->key.data, r->key.len,
                              (const char *)r->val.data, r->val.len);
  }
  *after = q;
  return 0;
}

int pub_run_apply(pub_run *r, const ll_log_entry *e, int64_t *from_after,
                  int64_t *to_after, ll_err *err) {
  if (e->position != r->position + 1)
    return ll_err_set(err, LL_OK,
                      "publisher: log position %llu follows %llu: entries "
                      "missing in between",
                      (unsigned long long)e->position,
                      (unsigned long long)r->position);
  const ll_event *ev = &e->event;
  if (ev->type == LL_EV_STOCK_MOVED) {
    if (ev->lot_id == NULL || ev->from.id == NULL || ev->to.id == NULL ||
        !ev->quantity_valid || ev->quantity_micro <= 0)
      return ll_err_set(err, LL_OK,
                        "publisher: log position %llu: StockMoved without "
                        "lot_id, locations or a positive quantity",
                        (unsigned long long)e->position);
    int64_t from_q = 0, to_q = 0;
    if (adjust(r, e, ev->from.id, -ev->quantity_micro, &from_q, err) != 0 ||
        adjust(r, e, ev->to.id, ev->quantity_micro, &to_q, err) != 0)
      return -1;
    if (from_after)
      *from_after = from_q;
    if (to_after)
      *to_after = to_q;
  }
  r->position = e->position;
  return 0;
}

static void run_free(pub_run *r) {
  r->s->run_open = false;
  rocksdb_writebatch_wi_destroy(r->batch);
  ll_buf_free(&r->key);
  ll_buf_free(&r->val);
  free(r);
}

int pub_run_commit(pub_run *r, const char *cluster_id, const pub_cluster *c,
                   bool sync, ll_err *err) {
  pub_state *s = r->s;
  ll_buf_reset(&r->val);
  ll_buf_put_be64(&r->val, r->position);
  rocksdb_writebatch_wi_put(r->batch, KEY_POSITION, strlen(KEY_POSITION),
                            (const char *)r->val.data, r->val.len);
  if (cluster_id != NULL) {
    assert(c != NULL);
    cluster_key(&r->key, cluster_id);
    cluster_pack(c, &r->val);
    rocksdb_writebatch_wi_put(r->batch, (const char *)r->key.data, r->key.len,
                              (const char *)r->val.data, r->val.len);
  }
  char *rerr = NULL;
  rocksdb_write_writebatch_wi(s->db, sync ? s->write_sync : s->write_nosync,
                              r->batch, &rerr);
  uint64_t position = r->position;
  run_free(r);
  if (rerr != NULL)
    return fail(s, err, "write", rerr);
  s->position = position;
  return 0;
}

void pub_run_abort(pub_run *r) {
  if (r != NULL)
    run_free(r);
}
