/* views_admin.c — looking after the views database as a whole: rebuilding
 * it from the log, dumping it, checkpointing it (ll_views.h).
 *
 * Rebuild. The views are derived data, so rebuilding them is replaying the
 * whole log into an empty views database through the same ll_views_apply()
 * the projector calls, in bigger runs (REBUILD_RUN_ENTRIES) and opened for
 * a bulk load: no WAL, a bigger row cache (REBUILD_CACHE_MAX_*), each run
 * ingested as one table file. It is built
 * beside the live one, in "<views>.rebuild-XXXXXX" (same parent, so same
 * filesystem), flushed to table files, closed, and only then swapped in
 * with one renameat2(RENAME_EXCHANGE): the old and the new directory trade
 * places atomically, so a crash at any moment leaves either the old views
 * or the complete new ones at <views>, never a mix. The old views (now at
 * the temporary name) are removed afterwards; a crash in between leaves
 * that directory behind, and the next rebuild removes any such leftovers.
 * On a filesystem without RENAME_EXCHANGE it falls back to two renames (old
 * aside, new in); a crash between them leaves no <views>, which the
 * projector treats as empty views and rebuilds from the log.
 *
 * Nobody may use the views meanwhile: the rebuild holds an open-file-
 * description lock (F_OFD_SETLK) on <views>/LOCK, the file RocksDB locks
 * with a classic POSIX lock. The two kinds conflict with each other even
 * within one process, so a running `lotlined project`/`all` makes the
 * rebuild refuse at once, and one started during the rebuild fails to open
 * the views instead of writing into a directory about to be swapped out.
 * The old views are never opened by RocksDB here: closing a RocksDB handle
 * after its directory was renamed could clean up files by their old path,
 * which would then be the new views'. Never opening them also means a
 * views database this build cannot read (another format) can still be
 * rebuilt.
 *
 * Backup (ll_backup_checkpoint). RocksDB checkpoints of the views, then of
 * the log, into DIR/views and DIR/log, taken by whoever owns the handles
 * (the CLI when the service is stopped, the service itself through its
 * admin endpoint otherwise: services/http/api_admin.c says why).
 *
 * Dump. Every key and value of the views database in key order, one line
 * each: hex(key) SP hex(value) LF. Two databases that applied the same log
 * dump the same bytes, whatever their batching (views_internal.h), which is
 * what the rebuild test and the crash test compare. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ll_logging.h"
#include "ll_mem.h"
#include "ll_rocks.h"
#include "ll_time.h"
#include "ll_types.h"
#include "views_internal.h"

#define REBUILD_SUFFIX ".rebuild-"
/* Log entries applied per run, each run one ingested table file. Larger
 * than the projector's steps: a run writes one version of each row it
 * touched, so big runs spare RocksDB most of the versions of rows a replay
 * rewrites again and again, and make fewer files. Bounded memory: the
 * run's decoded entries plus its rows (about 9 a entry). */
#define REBUILD_RUN_ENTRIES 65536
/* The rebuild's row cache: as long as it has evicted nothing, a lookup it
 * misses is known absent without reading RocksDB (views_rows.h), so it is
 * worth more here than in the long-running projector. */
#define REBUILD_CACHE_MAX_ENTRIES (2 * 1024 * 1024)
#define REBUILD_CACHE_MAX_BYTES (256 * 1024 * 1024)
/* Its quantity rows in memory (views_quant.h): about 8 million rows. */
#define REBUILD_QUANT_MAX_BYTES (256 * 1024 * 1024)
/* Only the format mark goes through the memtable; 0: RocksDB's default. */
#define REBUILD_WRITE_BUFFER_BYTES 0

/* ---- dump ---- */

static void put_hex(FILE *out, const char *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    putc(digits[c >> 4], out);
    putc(digits[c & 0xf], out);
  }
}

static int dump_db(rocksdb_t *db, const rocksdb_readoptions_t *ro, FILE *out,
                   ll_err *err) {
  rocksdb_iterator_t *it = rocksdb_create_iterator(db, ro);
  for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it);
       rocksdb_iter_next(it)) {
    size_t key_len, value_len;
    const char *key = rocksdb_iter_key(it, &key_len);
    const char *value = rocksdb_iter_value(it, &value_len);
    put_hex(out, key, key_len);
    putc(' ', out);
    put_hex(out, value, value_len);
    putc('\n', out);
  }
  if (ll_rocks_iter_end(it, "views: dump failed", err) != 0)
    return -1;
  if (ferror(out))
    return ll_fail(err, LL_ERR_IO, "views: dump: write failed");
  return 0;
}

int ll_views_dump(ll_views *v, FILE *out, ll_err *err) {
  assert(v != NULL && out != NULL);
  /* One snapshot: a projector applying meanwhile cannot tear the dump. */
  rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
  const rocksdb_snapshot_t *snap = rocksdb_create_snapshot(v->db);
  rocksdb_readoptions_set_snapshot(ro, snap);
  int rc = dump_db(v->db, ro, out, err);
  rocksdb_release_snapshot(v->db, snap);
  rocksdb_readoptions_destroy(ro);
  return rc;
}

int ll_views_dump_dir(const char *dir, FILE *out, ll_err *err) {
  assert(dir != NULL && out != NULL);
  char current[PATH_MAX];
  snprintf(current, sizeof current, "%s/CURRENT", dir);
  if (access(current, F_OK) != 0)
    return ll_fail(err, LL_ERR_CONFIG, "views: no views database at %s", dir);
  /* Read-only: takes no lock, so it works next to the running service
   * (and shows the views as of the open). */
  rocksdb_options_t *o = rocksdb_options_create();
  char *rerr = NULL;
  rocksdb_t *db = rocksdb_open_for_read_only(o, dir, 0, &rerr);
  rocksdb_options_destroy(o);
  if (db == NULL) {
    return ll_rocks_fail(err, rerr, "views: cannot open %s", dir);
  }
  rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
  int rc = dump_db(db, ro, out, err);
  rocksdb_readoptions_destroy(ro);
  rocksdb_close(db);
  return rc;
}

/* ---- checkpoint ---- */

int ll_views_checkpoint(ll_views *v, const char *dir, uint64_t *position,
                        ll_err *err) {
  assert(v != NULL && dir != NULL);
  *position = ll_views_position(v);
  char *rerr = NULL;
  rocksdb_checkpoint_t *cp = rocksdb_checkpoint_object_create(v->db, &rerr);
  if (rerr == NULL) {
    /* log_size_for_flush 0: flush first, table files only. */
    rocksdb_checkpoint_create(cp, dir, 0, &rerr);
    rocksdb_checkpoint_object_destroy(cp);
  }
  if (rerr != NULL) {
    return ll_rocks_fail(err, rerr, "views: checkpoint into %s failed", dir);
  }
  return 0;
}

/* ---- rebuild and backup helpers ---- */

static bool is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Lock <views>/LOCK against RocksDB's own lock; -1 with err when taken. */
static int lock_views(const char *views_dir, int *fd_out, ll_err *err) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/LOCK", views_dir);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return ll_fail(err, LL_ERR_IO, "views: cannot open %s: %s", path,
                   strerror(errno));
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  if (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
    int e = errno;
    close(fd);
    if (e == EAGAIN || e == EACCES)
      return ll_fail(err, LL_ERR_BUSY,
                     "the views %s are in use: a lotlined project or all "
                     "process is running on this data directory; stop it "
                     "first, then rebuild",
                     views_dir);
    return ll_fail(err, LL_ERR_IO, "views: cannot lock %s: %s", path,
                   strerror(e));
  }
  *fd_out = fd;
  return 0;
}

int ll_backup_checkpoint(ll_views *views, ll_store *log, const char *dir,
                         ll_backup_result *res, ll_err *err) {
  assert(dir != NULL && res != NULL);
  memset(res, 0, sizeof *res);
  char views_dir[PATH_MAX], log_dir[PATH_MAX];
  int nv = snprintf(views_dir, sizeof views_dir, "%s/views", dir);
  int nl = snprintf(log_dir, sizeof log_dir, "%s/log", dir);
  if (nv < 0 || (size_t)nv >= sizeof views_dir || nl < 0 ||
      (size_t)nl >= sizeof log_dir)
    return ll_fail(err, LL_ERR_CONFIG, "backup: path too long: %s", dir);
  if (!is_dir(dir))
    return ll_fail(err, LL_ERR_CONFIG, "backup: %s is not a directory", dir);
  struct stat st;
  if ((views != NULL && lstat(views_dir, &st) == 0) ||
      (log != NULL && lstat(log_dir, &st) == 0))
    return ll_fail(err, LL_ERR_CONFIG,
                   "backup: %s already holds a backup (log or views): "
                   "choose a new directory",
                   dir);
  if (views != NULL) {
    if (ll_views_checkpoint(views, views_dir, &res->views_position, err) != 0)
      goto fail;
    res->has_views = true;
  }
  if (log != NULL) {
    if (ll_store_checkpoint(log, log_dir, &res->log_position, err) != 0)
      goto fail;
    res->has_log = true;
  }
  return 0;
fail:
  /* Whatever the failed checkpoint left, and the part done before it. */
  if (views != NULL && is_dir(views_dir))
    (void)ll_rocks_remove_dir(views_dir);
  if (log != NULL && is_dir(log_dir))
    (void)ll_rocks_remove_dir(log_dir);
  res->has_views = res->has_log = false;
  return -1;
}

/* Remove "<views>.rebuild-*" directories a crashed rebuild left behind.
 * Called with the lock held, so none of them is in use. */
static void remove_leftovers(const char *views_dir) {
  char parent[PATH_MAX];
  snprintf(parent, sizeof parent, "%s", views_dir);
  char *slash = strrchr(parent, '/');
  const char *base = views_dir;
  if (slash != NULL) {
    base = slash + 1;
    *slash = '\0';
    if (parent[0] == '\0')
      snprintf(parent, sizeof parent, "/");
  } else {
    snprintf(parent, sizeof parent, ".");
  }
  char prefix[PATH_MAX];
  snprintf(prefix, sizeof prefix, "%s%s", base, REBUILD_SUFFIX);
  DIR *d = opendir(parent);
  if (d == NULL)
    return;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
      continue;
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s", parent, de->d_name);
    if (n < 0 || (size_t)n >= sizeof path)
      continue;
    if (ll_rocks_remove_dir(path) != 0)
      ll_log(LL_WARN, "rebuild", "cannot remove leftover %s: %s", path,
             strerror(errno));
  }
  closedir(d);
}

static int sync_parent(const char *path) {
  char parent[PATH_MAX];
  snprintf(parent, sizeof parent, "%s", path);
  char *slash = strrchr(parent, '/');
  if (slash == NULL)
    snprintf(parent, sizeof parent, ".");
  else if (slash == parent)
    parent[1] = '\0';
  else
    *slash = '\0';
  int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

/* Put the finished views at views_dir; the old ones (if any) end up at
 * tmp. */
static int swap_in(const char *tmp, const char *views_dir, bool had_old,
                   ll_err *err) {
  if (!had_old) {
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, views_dir, RENAME_NOREPLACE) == 0)
      return 0;
    if (errno == EEXIST)
      return ll_fail(err, LL_ERR_BUSY,
                     "views %s appeared during the rebuild (a lotlined "
                     "started?): left them alone",
                     views_dir);
    if (errno != EINVAL && errno != ENOSYS)
      return ll_fail(err, LL_ERR_IO, "views: cannot move %s to %s: %s", tmp,
                     views_dir, strerror(errno));
    if (rename(tmp, views_dir) != 0)
      return ll_fail(err, LL_ERR_IO, "views: cannot move %s to %s: %s", tmp,
                     views_dir, strerror(errno));
    return 0;
  }
  if (renameat2(AT_FDCWD, tmp, AT_FDCWD, views_dir, RENAME_EXCHANGE) == 0)
    return 0;
  if (errno != EINVAL && errno != ENOSYS)
    return ll_fail(err, LL_ERR_IO, "views: cannot swap %s and %s: %s", tmp,
                   views_dir, strerror(errno));
  /* No RENAME_EXCHANGE here: old aside (to a name of its own), new in,
   * then the old to tmp's name for the caller to remove. */
  char aside[PATH_MAX];
  int n = snprintf(aside, sizeof aside, "%s.old", tmp);
  if (n < 0 || (size_t)n >= sizeof aside)
    return ll_fail(err, LL_ERR_CONFIG, "views: path too long: %s", tmp);
  if (rename(views_dir, aside) != 0)
    return ll_fail(err, LL_ERR_IO, "views: cannot move %s aside: %s", views_dir,
                   strerror(errno));
  if (rename(tmp, views_dir) != 0) {
    int e = errno;
    (void)rename(aside, views_dir);
    return ll_fail(err, LL_ERR_IO, "views: cannot move %s to %s: %s", tmp,
                   views_dir, strerror(e));
  }
  if (rename(aside, tmp) != 0)
    return ll_fail(err, LL_ERR_IO, "views: cannot move %s to %s: %s", aside,
                   tmp, strerror(errno));
  return 0;
}

/* Replay the log into the (empty) views at tmp; closes them. */
static int replay(ll_store *log, const char *tmp, ll_rebuild_progress progress,
                  void *ctx, ll_rebuild_stats *st, ll_err *err) {
  /* A bulk load, nobody reads it until it is flushed and swapped in: a
   * crash before that discards it anyway. */
  const ll_views_tuning tuning = {
      .cache_max_entries = REBUILD_CACHE_MAX_ENTRIES,
      .cache_max_bytes = REBUILD_CACHE_MAX_BYTES,
      .bulk_load = true,
      .write_buffer_bytes = REBUILD_WRITE_BUFFER_BYTES,
      .quant_max_bytes = REBUILD_QUANT_MAX_BYTES,
  };
  ll_views *nv = ll_views_open_tuned(tmp, &tuning, err);
  if (nv == NULL)
    return -1;
  ll_entry *entries = ll_xcalloc(REBUILD_RUN_ENTRIES, sizeof *entries);
  int rc = ll_store_catch_up(log, err);
  uint64_t target = ll_store_last_position(log);
  while (rc == 0 && ll_views_position(nv) < target) {
    uint64_t from = ll_views_position(nv) + 1;
    uint64_t left = target - from + 1;
    size_t want =
        left < REBUILD_RUN_ENTRIES ? (size_t)left : (size_t)REBUILD_RUN_ENTRIES;
    size_t n = 0;
    rc = ll_store_read_log(log, from, entries, want, &n, err);
    if (rc != 0)
      break;
    if (n == 0) {
      rc = ll_fail(err, LL_ERR_CORRUPT,
                   "rebuild: the log ended at position %llu, before "
                   "position %llu it reported",
                   (unsigned long long)(from - 1), (unsigned long long)target);
      break;
    }
    rc = ll_views_apply(nv, entries, n, err);
    for (size_t i = 0; i < n; i++)
      ll_entry_free(&entries[i]);
    if (rc == 0 && progress != NULL &&
        !progress(ctx, ll_views_position(nv), target))
      rc = ll_fail(err, LL_ERR_CONFIG,
                   "cancelled: the views were left as they were");
  }
  free(entries);
  st->position = ll_views_position(nv);
  st->entries = st->position;
  if (rc == 0) {
    /* Table files, synced, before the swap makes them the views. */
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    char *rerr = NULL;
    rocksdb_flush(nv->db, fo, &rerr);
    rocksdb_flushoptions_destroy(fo);
    if (rerr != NULL) {
      rc = ll_rocks_fail(err, rerr, "views: flush of %s failed", tmp);
    }
  }
  ll_views_close(nv);
  return rc;
}

int ll_views_rebuild(ll_store *log, const char *views_dir,
                     ll_rebuild_progress progress, void *ctx,
                     ll_rebuild_stats *st, ll_err *err) {
  assert(log != NULL && views_dir != NULL && st != NULL);
  memset(st, 0, sizeof *st);
  uint64_t t0 = ll_mono_ns();
  if (strlen(views_dir) + sizeof REBUILD_SUFFIX + 16 >= PATH_MAX)
    return ll_fail(err, LL_ERR_CONFIG, "views: path too long: %s", views_dir);

  int lock_fd = -1;
  bool had_old = is_dir(views_dir);
  if (had_old) {
    if (lock_views(views_dir, &lock_fd, err) != 0)
      return -1;
    remove_leftovers(views_dir);
  }

  char tmp[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s%sXXXXXX", views_dir, REBUILD_SUFFIX);
  int rc = 0;
  if (mkdtemp(tmp) == NULL) {
    rc = ll_fail(err, LL_ERR_IO, "views: cannot create %s: %s", tmp,
                 strerror(errno));
    goto out;
  }
  (void)chmod(tmp, 0755); /* mkdtemp makes it 0700 */

  rc = replay(log, tmp, progress, ctx, st, err);
  if (rc == 0)
    rc = swap_in(tmp, views_dir, had_old, err);
  if (rc == 0 && sync_parent(views_dir) != 0)
    ll_log(LL_WARN, "rebuild", "cannot sync the directory of %s: %s", views_dir,
           strerror(errno));
  /* tmp now holds the old views, or the unfinished new ones. */
  if (is_dir(tmp) && ll_rocks_remove_dir(tmp) != 0)
    ll_log(LL_WARN, "rebuild", "cannot remove %s: %s", tmp, strerror(errno));

out:
  if (lock_fd >= 0)
    close(lock_fd);
  st->elapsed_ns = ll_mono_ns() - t0;
  return rc;
}
