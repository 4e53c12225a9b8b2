/* views.c — the views database: open/close, the checkpoint, and applying
 * runs of log entries.
 *
 * The read models live in their own RocksDB (<data>/views), separate from
 * the log, because they are derived data: the log is the source of truth and
 * the views can always be rebuilt from it. So view writes go out with
 * sync=false; what matters is that a run's view updates and the checkpoint
 * ("meta/position", the last applied log position) land in one WriteBatch,
 * so after a crash the views stand exactly at their checkpoint and the
 * projector resumes from there.
 *
 * ll_views_apply() takes entries in log order. Entries at or below the
 * checkpoint are skipped (re-applying is a no-op); a hole in the positions is
 * an error and nothing of the run is written. The run's batch is a
 * WriteBatchWithIndex read through on every lookup, so an entry sees what
 * earlier entries of the same run changed (a lot created and moved in one
 * run). One apply runs at a time (apply_lock); reads never take the lock:
 * RocksDB reads are thread-safe and each write is atomic. The position is
 * published only after its batch is written, so a reader that sees position
 * N also sees every view row of entries up to N.
 *
 * Key layout: see views_internal.h. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ll_event.h"
#include "views_internal.h"

/* ---- keys and values shared by the read models ---- */

bool ll_views_key1(ll_buf *key, const char *prefix, const char *a) {
  ll_buf_reset(key);
  if (a == NULL || strchr(a, LL_VK_SEP) != NULL)
    return false;
  ll_buf_put(key, prefix, strlen(prefix));
  ll_buf_put(key, a, strlen(a));
  return true;
}

bool ll_views_key2(ll_buf *key, const char *prefix, const char *a,
                   const char *b) {
  if (!ll_views_key1(key, prefix, a))
    return false;
  if (b == NULL || strchr(b, LL_VK_SEP) != NULL) {
    ll_buf_reset(key);
    return false;
  }
  ll_buf_put_u8(key, (uint8_t)LL_VK_SEP);
  ll_buf_put(key, b, strlen(b));
  return true;
}

void ll_views_qty_pack(ll_usage usage, int64_t quantity_micro, ll_buf *out) {
  assert(usage >= 0 && usage < LL_USAGE_COUNT);
  ll_buf_reset(out);
  ll_buf_put_u8(out, (uint8_t)usage);
  ll_buf_put_svar(out, quantity_micro);
}

bool ll_views_qty_unpack(const void *p, size_t n, ll_usage *usage,
                         int64_t *quantity_micro) {
  ll_rd rd;
  uint8_t u = 0;
  ll_rd_init(&rd, p, n);
  if (!ll_rd_u8(&rd, &u) || !ll_rd_svar(&rd, quantity_micro) ||
      ll_rd_left(&rd) != 0 || u >= LL_USAGE_COUNT)
    return false;
  *usage = (ll_usage)u;
  return true;
}

/* ---- the run in progress ---- */

int ll_views_txn_get(ll_views_txn *t, const ll_buf *key, ll_buf *value,
                     bool *found, ll_err *err) {
  char *rerr = NULL;
  size_t len = 0;
  char *p = rocksdb_writebatch_wi_get_from_batch_and_db(
      t->batch, t->v->db, t->v->read_opts, (const char *)key->data, key->len,
      &len, &rerr);
  ll_buf_reset(value);
  *found = false;
  if (rerr != NULL) {
    ll_err_set(err, LL_OK, "views: read failed: %s", rerr);
    rocksdb_free(rerr);
    rocksdb_free(p);
    return -1;
  }
  if (p == NULL)
    return 0;
  ll_buf_put(value, p, len);
  rocksdb_free(p);
  *found = true;
  return 0;
}

void ll_views_txn_put(ll_views_txn *t, const ll_buf *key, const void *value,
                      size_t value_len) {
  rocksdb_writebatch_wi_put(t->batch, (const char *)key->data, key->len,
                            (const char *)value, value_len);
}

void ll_views_txn_del(ll_views_txn *t, const ll_buf *key) {
  rocksdb_writebatch_wi_delete(t->batch, (const char *)key->data, key->len);
}

/* ---- open / close ---- */

static int read_u64_key(ll_views *v, const char *key, uint64_t *out, bool be64,
                        bool *found, ll_err *err) {
  char *rerr = NULL;
  size_t len = 0;
  char *p = rocksdb_get(v->db, v->read_opts, key, strlen(key), &len, &rerr);
  *found = false;
  if (rerr != NULL) {
    ll_err_set(err, LL_OK, "views: cannot read %s: %s", key, rerr);
    rocksdb_free(rerr);
    rocksdb_free(p);
    return -1;
  }
  if (p == NULL)
    return 0;
  bool ok;
  if (be64) {
    ok = len == 8;
    if (ok)
      *out = ll_be64_decode(p);
  } else {
    ll_rd rd;
    ll_rd_init(&rd, p, len);
    ok = ll_rd_uvar(&rd, out) && ll_rd_left(&rd) == 0;
  }
  rocksdb_free(p);
  if (!ok)
    return ll_err_set(err, LL_OK, "views: corrupt %s record", key);
  *found = true;
  return 0;
}

/* A new database gets its format mark; an existing one must carry ours. */
static int check_format(ll_views *v, const char *dir, ll_err *err) {
  uint64_t format = 0, position = 0;
  bool has_format = false, has_position = false;
  if (read_u64_key(v, LL_VK_FORMAT, &format, false, &has_format, err) != 0 ||
      read_u64_key(v, LL_VK_POSITION, &position, true, &has_position, err) != 0)
    return -1;
  if (has_format) {
    if (format != LL_VIEWS_FORMAT)
      return ll_err_set(err, LL_OK,
                        "views: %s has format %llu, this build reads %d: "
                        "delete the directory to rebuild the views",
                        dir, (unsigned long long)format, LL_VIEWS_FORMAT);
    atomic_store(&v->position, has_position ? position : 0);
    return 0;
  }
  if (has_position)
    return ll_err_set(err, LL_OK,
                      "views: %s has a checkpoint but no format mark: not a "
                      "lotline views database",
                      dir);
  ll_buf val;
  ll_buf_init(&val);
  ll_buf_put_uvar(&val, LL_VIEWS_FORMAT);
  char *rerr = NULL;
  rocksdb_put(v->db, v->write_opts, LL_VK_FORMAT, strlen(LL_VK_FORMAT),
              (const char *)val.data, val.len, &rerr);
  ll_buf_free(&val);
  if (rerr != NULL) {
    ll_err_set(err, LL_OK, "views: cannot initialise %s: %s", dir, rerr);
    rocksdb_free(rerr);
    return -1;
  }
  atomic_store(&v->position, 0);
  return 0;
}

ll_views *ll_views_open(const char *dir, ll_err *err) {
  assert(dir != NULL);
  ll_views *v = ll_xcalloc(1, sizeof *v);
  v->options = rocksdb_options_create();
  rocksdb_options_set_create_if_missing(v->options, 1);
  rocksdb_options_set_keep_log_file_num(v->options, 4);
  v->read_opts = rocksdb_readoptions_create();
  v->write_opts = rocksdb_writeoptions_create();
  /* Derived data: a lost tail after a power cut is re-projected from the
   * log. The WAL stays on so a process crash loses nothing. */
  rocksdb_writeoptions_set_sync(v->write_opts, 0);
  pthread_mutex_init(&v->apply_lock, NULL);
  atomic_init(&v->position, 0);

  char *rerr = NULL;
  v->db = rocksdb_open(v->options, dir, &rerr);
  if (rerr != NULL) {
    ll_err_set(err, LL_OK, "views: cannot open %s: %s", dir, rerr);
    rocksdb_free(rerr);
    ll_views_close(v);
    return NULL;
  }
  if (check_format(v, dir, err) != 0) {
    ll_views_close(v);
    return NULL;
  }
  return v;
}

void ll_views_close(ll_views *v) {
  if (v == NULL)
    return;
  if (v->db != NULL)
    rocksdb_close(v->db);
  rocksdb_writeoptions_destroy(v->write_opts);
  rocksdb_readoptions_destroy(v->read_opts);
  rocksdb_options_destroy(v->options);
  pthread_mutex_destroy(&v->apply_lock);
  free(v);
}

uint64_t ll_views_position(ll_views *v) {
  return atomic_load(&v->position);
}

/* ---- apply ---- */

static int apply_entry(ll_views_txn *t, const ll_log_entry *e, ll_err *err) {
  switch (e->event.type) {
  case LL_EV_LOT_CREATED:
  case LL_EV_LOT_UPDATED:
  case LL_EV_STOCK_MOVED:
    break;
  default:
    return ll_err_set(err, LL_OK,
                      "views: log position %llu holds an unknown event "
                      "type %d",
                      (unsigned long long)e->position, (int)e->event.type);
  }
  if (ll_lot_details_apply(t, e, err) != 0 ||
      ll_lot_locations_apply(t, e, err) != 0 ||
      ll_lot_history_apply(t, e, err) != 0 ||
      ll_genealogy_apply(t, e, err) != 0 ||
      ll_location_tree_apply(t, e, err) != 0 ||
      ll_lot_expiry_apply(t, e, err) != 0)
    return -1;
  return 0;
}

int ll_views_apply(ll_views *v, const ll_log_entry *entries, size_t n,
                   ll_err *err) {
  assert(v != NULL);
  assert(entries != NULL || n == 0);
  pthread_mutex_lock(&v->apply_lock);
  uint64_t position = atomic_load(&v->position);
  ll_views_txn t = {.v = v, .batch = rocksdb_writebatch_wi_create(0, 1)};
  int rc = 0;
  size_t applied = 0;

  for (size_t i = 0; i < n; i++) {
    const ll_log_entry *e = &entries[i];
    if (e->position <= position)
      continue; /* applied before: idempotent */
    if (e->position != position + 1) {
      rc = ll_err_set(err, LL_OK,
                      "views: log position %llu follows %llu: entries "
                      "missing in between",
                      (unsigned long long)e->position,
                      (unsigned long long)position);
      break;
    }
    if (apply_entry(&t, e, err) != 0) {
      rc = -1;
      break;
    }
    position = e->position;
    applied++;
  }

  if (rc == 0 && applied > 0) {
    ll_buf key, val;
    ll_buf_init(&key);
    ll_buf_init(&val);
    ll_buf_put(&key, LL_VK_POSITION, strlen(LL_VK_POSITION));
    ll_buf_put_be64(&val, position);
    ll_views_txn_put(&t, &key, val.data, val.len);
    ll_buf_free(&key);
    ll_buf_free(&val);

    char *rerr = NULL;
    rocksdb_write_writebatch_wi(v->db, v->write_opts, t.batch, &rerr);
    if (rerr != NULL) {
      rc = ll_err_set(err, LL_OK, "views: write failed: %s", rerr);
      rocksdb_free(rerr);
    } else {
      atomic_store(&v->position, position);
    }
  }
  rocksdb_writebatch_wi_destroy(t.batch);
  pthread_mutex_unlock(&v->apply_lock);
  return rc;
}
