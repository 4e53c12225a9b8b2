/* ll_rocks.c — the RocksDB helpers the three databases share (ll_rocks.h). */
#include "ll_rocks.h"

#include <assert.h>
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* RocksDB's Status::ToString() starts with the code's name; ENOSPC reaches
 * us inside an "IO error" as the system's words. */
static ll_err_kind rocks_kind(const char *rerr) {
  if (rerr == NULL)
    return LL_ERR_IO;
  if (strncmp(rerr, "Corruption", strlen("Corruption")) == 0)
    return LL_ERR_CORRUPT;
  if (strstr(rerr, "No space left on device") != NULL)
    return LL_ERR_FULL;
  return LL_ERR_IO;
}

int ll_rocks_fail(ll_err *err, char *rerr, const char *fmt, ...) {
  char context[LL_MESSAGE_MAX_BYTES];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(context, sizeof context, fmt, ap);
  va_end(ap);
  ll_fail(err, rocks_kind(rerr), "%s: %s", context,
          rerr != NULL ? rerr : "unknown error");
  rocksdb_free(rerr);
  return -1;
}

void ll_rocks_latch_init(ll_rocks_latch *latch) {
  pthread_mutex_init(&latch->mu, NULL);
  atomic_init(&latch->failed, false);
}

void ll_rocks_latch_destroy(ll_rocks_latch *latch) {
  pthread_mutex_destroy(&latch->mu);
}

bool ll_rocks_latch_failed(ll_rocks_latch *latch) {
  return atomic_load(&latch->failed);
}

int ll_rocks_write(rocksdb_t *db, const rocksdb_writeoptions_t *wo,
                   rocksdb_writebatch_t *wb, ll_rocks_latch *latch, ll_err *err,
                   const char *fmt, ...) {
  char context[LL_MESSAGE_MAX_BYTES];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(context, sizeof context, fmt, ap);
  va_end(ap);
  char *rerr = NULL;
  pthread_mutex_lock(&latch->mu);
  bool refused = atomic_load(&latch->failed);
  if (!refused) {
    rocksdb_write(db, wo, wb, &rerr);
    if (rerr != NULL)
      atomic_store(&latch->failed, true);
  }
  pthread_mutex_unlock(&latch->mu);
  if (refused)
    return ll_fail(err, LL_ERR_IO,
                   "%s: refused, an earlier write failed (restart to resume "
                   "from what was synced)",
                   context);
  return rerr == NULL ? 0 : ll_rocks_fail(err, rerr, "%s", context);
}

int ll_rocks_iter_end(rocksdb_iterator_t *it, const char *what, ll_err *err) {
  char *rerr = NULL;
  rocksdb_iter_get_error(it, &rerr);
  rocksdb_iter_destroy(it);
  return rerr != NULL ? ll_rocks_fail(err, rerr, "%s", what) : 0;
}

int ll_rocks_options_apply(rocksdb_options_t **options, const char *spec,
                           ll_err *err) {
  assert(options != NULL && *options != NULL && spec != NULL);
  char *rerr = NULL;
  rocksdb_options_t *next = rocksdb_options_create();
  rocksdb_get_options_from_string(*options, spec, next, &rerr);
  if (rerr != NULL) {
    rocksdb_options_destroy(next);
    int rc = ll_fail(err, LL_ERR_CONFIG, "RocksDB refuses options \"%s\": %s",
                     spec, rerr);
    free(rerr);
    return rc;
  }
  rocksdb_options_destroy(*options);
  *options = next;
  return 0;
}

int ll_rocks_create_dir(const char *dir, const char *name, ll_err *err) {
  if (mkdir(dir, 0755) != 0 && errno != EEXIST)
    return ll_fail(err, errno == ENOSPC ? LL_ERR_FULL : LL_ERR_IO,
                   "%s: cannot create %s: %s", name, dir, strerror(errno));
  return 0;
}

rocksdb_t *ll_rocks_open(rocksdb_options_t *options, const char *dir,
                         const char *name, ll_err *err) {
  assert(options != NULL && dir != NULL && name != NULL);
  if (rocksdb_options_get_create_if_missing(options) &&
      ll_rocks_create_dir(dir, name, err) != 0)
    return NULL;
  char *rerr = NULL;
  rocksdb_t *db = rocksdb_open(options, dir, &rerr);
  if (rerr != NULL) {
    assert(db == NULL); /* RocksDB returns no handle with an error */
    ll_rocks_fail(err, rerr, "%s: cannot open %s", name, dir);
    return NULL;
  }
  assert(db != NULL);
  return db;
}

int ll_rocks_get(rocksdb_t *db, const rocksdb_readoptions_t *ro,
                 const void *key, size_t key_len, ll_buf *value, bool *found,
                 const char *name, ll_err *err) {
  char *rerr = NULL;
  rocksdb_pinnableslice_t *p =
      rocksdb_get_pinned(db, ro, (const char *)key, key_len, &rerr);
  ll_buf_reset(value);
  *found = false;
  if (rerr != NULL) {
    rocksdb_pinnableslice_destroy(p);
    return ll_rocks_fail(err, rerr, "%s: read failed", name);
  }
  if (p == NULL)
    return 0;
  size_t len = 0;
  const char *data = rocksdb_pinnableslice_value(p, &len);
  ll_buf_put(value, data, len);
  rocksdb_pinnableslice_destroy(p);
  *found = true;
  return 0;
}

uint64_t ll_rocks_stall_micros(rocksdb_t *db) {
  /* No integer property holds it; rocksdb.dbstats prints it as
   * "Cumulative stall: HH:MM:SS.sss H:M:S, P percent". */
  char *stats = rocksdb_property_value(db, "rocksdb.dbstats");
  const char *at = stats != NULL ? strstr(stats, "Cumulative stall: ") : NULL;
  unsigned long long hours = 0, minutes = 0;
  double seconds = 0;
  uint64_t micros = 0;
  if (at != NULL && sscanf(at, "Cumulative stall: %llu:%llu:%lf", &hours,
                           &minutes, &seconds) == 3)
    micros = (uint64_t)(((double)(hours * 60 + minutes) * 60 + seconds) * 1e6);
  rocksdb_free(stats);
  return micros;
}

uint64_t ll_rocks_l0_files(rocksdb_t *db, rocksdb_column_family_handle_t *cf) {
  const char *name = "rocksdb.num-files-at-level0"; /* a string property */
  char *v = cf != NULL ? rocksdb_property_value_cf(db, cf, name)
                       : rocksdb_property_value(db, name);
  uint64_t n = v != NULL ? strtoull(v, NULL, 10) : 0;
  rocksdb_free(v);
  return n;
}

static int stamp_format(rocksdb_t *db, const rocksdb_writeoptions_t *wo,
                        const ll_rocks_format *f, ll_err *err) {
  ll_buf v;
  ll_buf_init(&v);
  ll_buf_put_uvar(&v, f->version);
  char *rerr = NULL;
  rocksdb_put(db, wo, f->key, strlen(f->key), (const char *)v.data, v.len,
              &rerr);
  ll_buf_free(&v);
  if (rerr != NULL)
    return ll_rocks_fail(err, rerr, "%s %s: cannot write the format mark",
                         f->name, f->dir);
  return 0;
}

int ll_rocks_check_format(rocksdb_t *db, const rocksdb_readoptions_t *ro,
                          const rocksdb_writeoptions_t *stamp,
                          const ll_rocks_format *f, bool *found, ll_err *err) {
  assert(f->name != NULL && f->dir != NULL && f->key != NULL);
  ll_buf v;
  ll_buf_init(&v);
  bool present = false;
  int rc =
      ll_rocks_get(db, ro, f->key, strlen(f->key), &v, &present, f->name, err);
  if (found != NULL)
    *found = rc == 0 && present;
  if (rc == 0 && present) {
    ll_rd rd;
    uint64_t version = 0;
    ll_rd_init(&rd, v.data, v.len);
    if (!ll_rd_uvar(&rd, &version) || ll_rd_left(&rd) != 0)
      rc = ll_fail(err, LL_ERR_CORRUPT,
                   "%s %s has a format mark this build cannot read (%zu "
                   "bytes); this build reads format version %llu%s",
                   f->name, f->dir, v.len, (unsigned long long)f->version,
                   f->remedy);
    else if (version != f->version)
      rc = ll_fail(err, LL_ERR_CORRUPT,
                   "%s %s has format version %llu; this build reads version "
                   "%llu%s",
                   f->name, f->dir, (unsigned long long)version,
                   (unsigned long long)f->version, f->remedy);
  } else if (rc == 0 && stamp != NULL) {
    rc = stamp_format(db, stamp, f, err);
  }
  ll_buf_free(&v);
  return rc;
}

static int remove_entry(const char *path, const struct stat *sb, int flag,
                        struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

int ll_rocks_remove_dir(const char *dir) {
  return nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
