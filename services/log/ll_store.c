/* ll_store.c — opening, closing and reading the log store (ll_store.h).
 *
 * One RocksDB database per data directory, six column families (log,
 * state, journal, offsets, rejections, default = meta); what the bytes
 * mean is in ll_store_record.c and ll_store_journal.c, how a batch is
 * written in ll_store_batch.c, how the primary keeps the state in memory in
 * ll_store_state.c and folds the journal into `state` in ll_store_apply.c.
 *
 * Primary: the command consumer opens read-write, creating the database and
 * any missing column family. RocksDB's LOCK file makes a second primary
 * fail at open; we say so in words instead of passing "Resource temporarily
 * unavailable" on.
 *
 * Secondary: the projection worker opens the same directory as a RocksDB
 * secondary instance. RocksDB wants a directory of its own for the
 * secondary's info log; we make a private one, "<dir>.secondary/<pid>-XXXXXX"
 * (mkdtemp), and remove it on close, so several followers can run at once;
 * the directories of followers that died without closing are removed by
 * the next one to open.
 * A secondary must keep every table file open (max_open_files = -1): the
 * primary may delete files the secondary still reads. It sees new writes
 * only when ll_store_catch_up() tails the primary's MANIFEST and WAL.
 *
 * Tuning: one LRU block cache shared by all column families, a bloom filter
 * on state (point lookups by key, many of them misses: unknown event ids,
 * free names), LZ4 for hot levels and ZSTD for the bottom level. If the
 * installed RocksDB lacks those codecs the open is retried without
 * compression: more bytes on disk beat a service that will not start.
 * `state` is written only by ingesting SST files, so it needs no memtable
 * tuning; its options are kept for the applier, whose files must match.
 *
 * Formats: the meta format version says how the bytes are laid out, and a
 * store of another version is refused at open with both versions named.
 * A store older than version 3 has no journal column family; that is
 * checked before opening, so the refusal changes nothing on disk.
 *
 * The last position and last rejection sequence live in the meta column
 * family, written in the same batch as the entries they count, and are
 * cached in atomics so any thread may ask how far the log goes. At open the
 * meta counter is checked against the last key actually in the log, and the
 * meta last hash against the hash stored in that last entry (the chain the
 * next batch continues; ll_store_verify() checks the whole of it).
 *
 * Checkpoints (ll_store_checkpoint) are RocksDB's own: hard links to the
 * table files plus the WALs needed for a consistent cut across the column
 * families. Only the primary may take one: RocksDB 7.8 cannot checkpoint a
 * secondary instance (a secondary does not own the files it reads; see
 * facebook/rocksdb#11167 and the unmerged #9820). */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ll_buf.h"
#include "ll_event.h"
#include "ll_mem.h"
#include "ll_rocks.h"
#include "ll_rocks_logger.h"
#include "ll_store_internal.h"

#define BLOCK_CACHE_BYTES (64u * 1024 * 1024)
/* A follower (the projector, the publisher, the API) reads the log in
 * order, each block about once: a small cache does, and leaves the memory
 * to the views. */
#define FOLLOWER_BLOCK_CACHE_BYTES (16u * 1024 * 1024)
#define STATE_BLOOM_BITS_PER_KEY 10.0
#define BACKGROUND_JOBS 2
/* Meta and offsets are written with every batch but stay tiny, so their
 * memtables never fill and would keep every WAL file alive (hundreds of MB
 * that each restart and each secondary open replays). Past this total the
 * column families holding the oldest WAL are flushed. */
#define WAL_TOTAL_MAX_BYTES (64u * 1024 * 1024)

static const char *const cf_names[LL_CF_COUNT] = {
    [LL_CF_DEFAULT] = "default",       [LL_CF_LOG] = "log",
    [LL_CF_STATE] = "state",           [LL_CF_OFFSETS] = "offsets",
    [LL_CF_REJECTIONS] = "rejections", [LL_CF_JOURNAL] = "journal",
};

int ll_store_fail(const ll_store *s, ll_err *err, const char *op, char *rerr) {
  return ll_rocks_fail(err, rerr, "log store %s: %s", s->dir, op);
}

int ll_store_write(ll_store *s, const rocksdb_writeoptions_t *wo,
                   rocksdb_writebatch_t *wb, const char *op, ll_err *err) {
  return ll_rocks_write(s->db, wo, wb, &s->write_latch, err, "log store %s: %s",
                        s->dir, op);
}

/* ---- options ---------------------------------------------------------- */

typedef struct open_opts {
  rocksdb_options_t *db;
  rocksdb_options_t *cf[LL_CF_COUNT];
  rocksdb_block_based_table_options_t *table_plain;
  rocksdb_block_based_table_options_t *table_bloom;
} open_opts;

static void open_opts_free(open_opts *o) {
  for (int i = 0; i < LL_CF_COUNT; i++)
    if (o->cf[i])
      rocksdb_options_destroy(o->cf[i]);
  if (o->db)
    rocksdb_options_destroy(o->db);
  /* The table options own the filter policy; the factories built from them
   * hold their own copies, so these can go once the options are built. */
  if (o->table_plain)
    rocksdb_block_based_options_destroy(o->table_plain);
  if (o->table_bloom)
    rocksdb_block_based_options_destroy(o->table_bloom);
  memset(o, 0, sizeof *o);
}

static void open_opts_build(open_opts *o, ll_store *s, bool compress) {
  memset(o, 0, sizeof *o);
  o->table_plain = rocksdb_block_based_options_create();
  rocksdb_block_based_options_set_block_cache(o->table_plain, s->block_cache);
  o->table_bloom = rocksdb_block_based_options_create();
  rocksdb_block_based_options_set_block_cache(o->table_bloom, s->block_cache);
  rocksdb_block_based_options_set_filter_policy(
      o->table_bloom,
      rocksdb_filterpolicy_create_bloom_full(STATE_BLOOM_BITS_PER_KEY));

  o->db = rocksdb_options_create();
  bool primary = s->mode == LL_STORE_PRIMARY;
  rocksdb_options_set_create_if_missing(o->db, primary);
  rocksdb_options_set_create_missing_column_families(o->db, primary);
  rocksdb_options_set_paranoid_checks(o->db, 1);
  rocksdb_options_set_max_background_jobs(o->db, BACKGROUND_JOBS);
  rocksdb_options_set_max_total_wal_size(o->db, WAL_TOTAL_MAX_BYTES);
  ll_rocks_log_to_service(o->db, "log store");
  if (!primary) {
    rocksdb_options_set_max_open_files(o->db, -1);
    /* Each catch-up that finds new table files (every flush, compaction
     * and state apply of the primary) opens them; with more than one
     * thread RocksDB starts that many threads each time, which cost a
     * following process more than reading the files. */
    rocksdb_options_set_max_file_opening_threads(o->db, 1);
  }

  for (int i = 0; i < LL_CF_COUNT; i++) {
    o->cf[i] = rocksdb_options_create_copy(o->db);
    rocksdb_options_set_block_based_table_factory(
        o->cf[i], i == LL_CF_STATE ? o->table_bloom : o->table_plain);
    rocksdb_options_set_compression(
        o->cf[i], compress ? rocksdb_lz4_compression : rocksdb_no_compression);
    rocksdb_options_set_bottommost_compression(
        o->cf[i], compress ? rocksdb_zstd_compression : rocksdb_no_compression);
  }
}

/* RocksDB refuses options naming a codec it was built without. */
static bool is_missing_codec(const char *rerr) {
  return rerr && strstr(rerr, "not linked with the binary");
}

/* Another process (or another handle in this one) holds <dir>/LOCK. */
static bool is_lock_error(const char *rerr) {
  return rerr && strstr(rerr, "/LOCK");
}

/* ---- secondary directory ---------------------------------------------- */

/* Remove the directories of followers that died without closing (kill -9,
 * a crash): "<pid>-XXXXXX" whose pid no longer runs. A live pid is left
 * alone even if it was reused: a stale directory is harmless. */
static void remove_dead_secondaries(const char *parent) {
  DIR *d = opendir(parent);
  if (!d)
    return;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    char *end = NULL;
    long pid = strtol(de->d_name, &end, 10);
    if (pid <= 0 || end == de->d_name || *end != '-')
      continue;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
      continue;
    ll_buf path;
    ll_buf_init(&path);
    ll_buf_printf(&path, "%s/%s", parent, de->d_name);
    (void)ll_rocks_remove_dir((char *)path.data);
    ll_buf_free(&path);
  }
  closedir(d);
}

static int make_secondary_path(ll_store *s, ll_err *err) {
  ll_buf path;
  ll_buf_init(&path);
  ll_buf_printf(&path, "%s.secondary", s->dir);
  if (mkdir((char *)path.data, 0700) != 0 && errno != EEXIST) {
    ll_fail(err, LL_ERR_IO, "log store %s: create %s: %s", s->dir,
            (char *)path.data, strerror(errno));
    ll_buf_free(&path);
    return -1;
  }
  remove_dead_secondaries((char *)path.data);
  ll_buf_printf(&path, "/%ld-XXXXXX", (long)getpid());
  if (!mkdtemp((char *)path.data)) {
    ll_fail(err, LL_ERR_IO, "log store %s: create %s: %s", s->dir,
            (char *)path.data, strerror(errno));
    ll_buf_free(&path);
    return -1;
  }
  s->secondary_path = ll_strdup((char *)path.data);
  ll_buf_free(&path);
  return 0;
}

static void remove_secondary_path(ll_store *s) {
  if (!s->secondary_path)
    return;
  /* Best effort: a leftover directory of info logs harms nothing, and close
   * has no way to report. */
  (void)ll_rocks_remove_dir(s->secondary_path);
  char *parent = ll_strdup(s->secondary_path);
  char *slash = strrchr(parent, '/');
  if (slash) {
    *slash = '\0';
    (void)rmdir(parent); /* fails while other followers run: fine */
  }
  free(parent);
  free(s->secondary_path);
  s->secondary_path = NULL;
}

/* ---- meta ------------------------------------------------------------- */

/* Read an 8-byte big-endian meta counter; 0 when absent. */
static int read_meta_u64(ll_store *s, const char *key, uint64_t *out,
                         ll_err *err) {
  char *rerr = NULL;
  rocksdb_pinnableslice_t *v = rocksdb_get_pinned_cf(
      s->db, s->read_opts, s->cf[LL_CF_DEFAULT], key, strlen(key), &rerr);
  if (rerr)
    return ll_store_fail(s, err, "read meta", rerr);
  *out = 0;
  if (!v)
    return 0;
  size_t n;
  const char *p = rocksdb_pinnableslice_value(v, &n);
  int rc = 0;
  if (n == 8)
    *out = ll_be64_decode(p);
  else
    rc =
        ll_fail(err, LL_ERR_CORRUPT,
                "log store %s: meta %s is corrupt (%zu bytes)", s->dir, key, n);
  rocksdb_pinnableslice_destroy(v);
  return rc;
}

/* Record value under a meta key the first time; later, compare. *same is
 * false (and stored holds the recorded value) when they differ. */
static int bind_meta(ll_store *s, const char *key, const char *value,
                     ll_buf *stored, bool *same, const char *what,
                     ll_err *err) {
  assert(s->mode == LL_STORE_PRIMARY && value != NULL);
  bool found = false;
  *same = true;
  int rc = ll_rocks_get(s->db, s->read_opts, key, strlen(key), stored, &found,
                        s->dir, err);
  if (rc != 0)
    return rc;
  if (found) {
    *same = stored->len == strlen(value) &&
            memcmp(stored->data, value, stored->len) == 0;
    return 0;
  }
  rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
  rocksdb_writebatch_put_cf(wb, s->cf[LL_CF_DEFAULT], key, strlen(key), value,
                            strlen(value));
  rc = ll_store_write(s, s->write_sync, wb, what, err);
  rocksdb_writebatch_destroy(wb);
  return rc;
}

int ll_store_bind_group(ll_store *s, const char *group_id, ll_err *err) {
  ll_buf stored;
  ll_buf_init(&stored);
  bool same;
  int rc = bind_meta(s, LL_META_GROUP, group_id, &stored, &same,
                     "record the consumer group", err);
  if (rc == 0 && !same)
    rc = ll_fail(err, LL_ERR_CONFIG,
                 "log store %s belongs to consumer group '%.*s', not '%s': "
                 "start it with group.id = %.*s, or give group '%s' a data "
                 "directory of its own",
                 s->dir, (int)stored.len, (const char *)stored.data, group_id,
                 (int)stored.len, (const char *)stored.data, group_id);
  ll_buf_free(&stored);
  return rc;
}

int ll_store_bind_partitions(ll_store *s, const char *topic, int32_t partitions,
                             ll_err *err) {
  char value[16];
  snprintf(value, sizeof value, "%d", (int)partitions);
  ll_buf stored;
  ll_buf_init(&stored);
  bool same;
  int rc = bind_meta(s, LL_META_PARTITIONS, value, &stored, &same,
                     "record the input's partition count", err);
  if (rc == 0 && !same)
    rc = ll_fail(err, LL_ERR_CONFIG,
                 "log store %s was written from %.*s partitions of the input, "
                 "but %s now has %d: a product's events now go to another "
                 "partition than the one that holds its lots. Give %s back "
                 "its partition count, or start from an empty data "
                 "directory and new topics (docs/operations.md, "
                 "\"Partition counts\")",
                 s->dir, (int)stored.len, (const char *)stored.data, topic,
                 (int)partitions, topic);
  ll_buf_free(&stored);
  return rc;
}

static int load_meta(ll_store *s, ll_err *err) {
  uint64_t last_position, last_rejection;
  if (read_meta_u64(s, LL_META_LAST_POSITION, &last_position, err) != 0 ||
      read_meta_u64(s, LL_META_LAST_REJECTION, &last_rejection, err) != 0)
    return -1;
  atomic_store_explicit(&s->last_position, last_position, memory_order_release);
  atomic_store_explicit(&s->last_rejection, last_rejection,
                        memory_order_release);
  return 0;
}

/* The key of the last entry of a column family keyed by big-endian
 * counters, or 0 when it is empty. */
static int last_counter_key(ll_store *s, int cf, uint64_t *out, ll_err *err) {
  rocksdb_iterator_t *it =
      rocksdb_create_iterator_cf(s->db, s->read_opts, s->cf[cf]);
  rocksdb_iter_seek_to_last(it);
  *out = 0;
  int rc = 0;
  if (rocksdb_iter_valid(it)) {
    size_t n;
    const char *k = rocksdb_iter_key(it, &n);
    if (n == 8)
      *out = ll_be64_decode(k);
    else
      rc = ll_fail(err, LL_ERR_CORRUPT, "log store %s: %s has a %zu-byte key",
                   s->dir, cf_names[cf], n);
  }
  char *rerr = NULL;
  rocksdb_iter_get_error(it, &rerr);
  rocksdb_iter_destroy(it);
  if (rerr)
    return ll_store_fail(s, err, "scan", rerr);
  return rc;
}

/* Invariant: the meta counters name the last entries. They are written in
 * the same batch, so a difference means the database was tampered with or
 * damaged, and appending would either reuse or skip positions. */
static int check_meta(ll_store *s, ll_err *err) {
  uint64_t last_key;
  if (last_counter_key(s, LL_CF_LOG, &last_key, err) != 0)
    return -1;
  uint64_t last = atomic_load(&s->last_position);
  if (last_key != last)
    return ll_fail(err, LL_ERR_CORRUPT,
                   "log store %s is inconsistent: meta says the last "
                   "position is %llu, the log ends at %llu",
                   s->dir, (unsigned long long)last,
                   (unsigned long long)last_key);
  if (last_counter_key(s, LL_CF_REJECTIONS, &last_key, err) != 0)
    return -1;
  last = atomic_load(&s->last_rejection);
  if (last_key != last)
    return ll_fail(err, LL_ERR_CORRUPT,
                   "log store %s is inconsistent: meta says the last "
                   "rejection is %llu, the rejections end at %llu",
                   s->dir, (unsigned long long)last,
                   (unsigned long long)last_key);
  return 0;
}

/* A new database is stamped with the format version (a uvar, one byte
 * for the versions there are); an existing one must carry a version this
 * code reads. Only the primary stamps. */
static int check_format(ll_store *s, ll_err *err) {
  const ll_rocks_format f = {
      .name = "log store",
      .dir = s->dir,
      .key = LL_META_FORMAT,
      .version = LL_STORE_FORMAT_VERSION,
      .remedy = " and does not convert other versions: start from an empty "
                "data directory and replay the input (docs/operations.md, "
                "\"Upgrading\")",
  };
  return ll_rocks_check_format(
      s->db, s->read_opts, s->mode == LL_STORE_PRIMARY ? s->write_sync : NULL,
      &f, NULL, err);
}

/* ---- open / close ----------------------------------------------------- */

static int open_db(ll_store *s, bool compress, char **rerr) {
  open_opts o;
  open_opts_build(&o, s, compress);
  if (s->mode == LL_STORE_PRIMARY) {
    if (s->state_cf_opts)
      rocksdb_options_destroy(s->state_cf_opts);
    s->state_cf_opts = rocksdb_options_create_copy(o.cf[LL_CF_STATE]);
    /* An SST writer compresses as for the bottom level (an ingested file
     * may land there); ours land in L0 and are rewritten by compaction,
     * so they get the cheaper codec of the upper levels. */
    rocksdb_options_set_bottommost_compression(
        s->state_cf_opts,
        compress ? rocksdb_lz4_compression : rocksdb_no_compression);
  }
  const rocksdb_options_t *cf_opts[LL_CF_COUNT];
  for (int i = 0; i < LL_CF_COUNT; i++)
    cf_opts[i] = o.cf[i];
  if (s->mode == LL_STORE_PRIMARY)
    s->db = rocksdb_open_column_families(o.db, s->dir, LL_CF_COUNT, cf_names,
                                         cf_opts, s->cf, rerr);
  else
    s->db = rocksdb_open_as_secondary_column_families(
        o.db, s->dir, s->secondary_path, LL_CF_COUNT, cf_names, cf_opts, s->cf,
        rerr);
  open_opts_free(&o);
  return s->db ? 0 : -1;
}

/* A database written before format 3 lacks the journal column family:
 * refuse it before RocksDB would add one (primary) or fail on it
 * (secondary) with a message that names neither cause nor remedy. */
static int check_column_families(const char *dir, ll_err *err) {
  rocksdb_options_t *o = rocksdb_options_create();
  size_t n = 0;
  char *rerr = NULL;
  char **names = rocksdb_list_column_families(o, dir, &n, &rerr);
  rocksdb_options_destroy(o);
  if (rerr) {
    /* RocksDB 7.8 returns an empty allocation even on error. */
    if (names)
      rocksdb_list_column_families_destroy(names, n);
    rocksdb_free(rerr); /* no database yet: the open creates or reports it */
    return 0;
  }
  bool journal = false;
  for (size_t i = 0; i < n; i++)
    journal = journal || strcmp(names[i], cf_names[LL_CF_JOURNAL]) == 0;
  rocksdb_list_column_families_destroy(names, n);
  if (journal)
    return 0;
  return ll_fail(err, LL_ERR_CORRUPT,
                 "log store %s was written by an older lotline (format "
                 "version 2 or earlier, without a state journal); this "
                 "build reads format version %d and does not convert "
                 "older stores: start from an empty data directory",
                 dir, LL_STORE_FORMAT_VERSION);
}

static ll_store *store_open(const char *dir, ll_store_mode mode, bool check,
                            ll_err *err) {
  assert(dir && *dir);
  assert(mode == LL_STORE_PRIMARY || mode == LL_STORE_SECONDARY);
  ll_store *s = ll_xcalloc(1, sizeof *s);
  s->dir = ll_strdup(dir);
  s->mode = mode;
  atomic_init(&s->last_position, 0);
  atomic_init(&s->last_rejection, 0);
  ll_notify_init(&s->changed);
  pthread_mutex_init(&s->tasks_mu, NULL);
  pthread_mutex_init(&s->catch_up_mu, NULL);
  ll_rocks_latch_init(&s->write_latch);
  s->block_cache = rocksdb_cache_create_lru(mode == LL_STORE_PRIMARY
                                                ? BLOCK_CACHE_BYTES
                                                : FOLLOWER_BLOCK_CACHE_BYTES);
  s->read_opts = rocksdb_readoptions_create();
  s->write_sync = rocksdb_writeoptions_create();
  rocksdb_writeoptions_set_sync(s->write_sync, 1);
  s->write_nosync = rocksdb_writeoptions_create();
  rocksdb_writeoptions_set_sync(s->write_nosync, 0);

  if (mode == LL_STORE_SECONDARY) {
    /* Without this check RocksDB answers a missing database with an
     * IO error about CURRENT, which points nobody at the cause. */
    ll_buf current;
    ll_buf_init(&current);
    ll_buf_printf(&current, "%s/CURRENT", dir);
    bool exists = access((char *)current.data, F_OK) == 0;
    ll_buf_free(&current);
    if (!exists) {
      ll_fail(err, LL_ERR_CONFIG,
              "log store %s does not exist yet (the command consumer "
              "creates it on its first start)",
              dir);
      goto fail;
    }
    if (make_secondary_path(s, err) != 0)
      goto fail;
  }

  /* Only the owner judges the format: a secondary may look while the
   * primary is still creating the column families one by one (its open
   * then fails with "Column family not found", which the caller retries). */
  if (mode == LL_STORE_PRIMARY &&
      (check_column_families(dir, err) != 0 ||
       ll_rocks_create_dir(dir, "log store", err) != 0))
    goto fail;
  char *rerr = NULL;
  if (open_db(s, true, &rerr) != 0 && is_missing_codec(rerr)) {
    rocksdb_free(rerr);
    rerr = NULL;
    (void)open_db(s, false, &rerr);
  }
  if (!s->db) {
    if (is_lock_error(rerr)) {
      ll_fail(err, LL_ERR_BUSY,
              "log store %s is locked: another process (or another open "
              "handle in this one) owns it: %s",
              dir, rerr);
      rocksdb_free(rerr);
    } else {
      ll_store_fail(s, err,
                    mode == LL_STORE_PRIMARY ? "open" : "open as secondary",
                    rerr);
    }
    goto fail;
  }
  if (check_format(s, err) != 0 || load_meta(s, err) != 0)
    goto fail;
  if (ll_store_tasks_load(s, err) != 0)
    goto fail;
  if (check && (check_meta(s, err) != 0 || ll_store_tasks_check(s, err) != 0))
    goto fail;
  if (mode == LL_STORE_PRIMARY) {
    ll_buf ingest;
    ll_buf_init(&ingest);
    ll_buf_printf(&ingest, "%s.ingest", dir);
    s->ingest_dir = ll_strdup((const char *)ingest.data);
    ll_buf_free(&ingest);
    if (ll_state_mem_open(s, err) != 0)
      goto fail;
  }
  return s;

fail:
  ll_store_close(s);
  return NULL;
}

ll_store *ll_store_open(const char *dir, ll_store_mode mode, ll_err *err) {
  return store_open(dir, mode, true, err);
}

ll_store *ll_store_open_unchecked(const char *dir, ll_store_mode mode,
                                  ll_err *err) {
  /* An unchecked primary could append on a broken chain. */
  assert(mode == LL_STORE_SECONDARY);
  return store_open(dir, mode, false, err);
}

void ll_store_close(ll_store *s) {
  if (!s)
    return;
  assert(!s->batch_open);
  ll_store_batch_destroy(s->spare_batch);
  ll_applier_shutdown(s);
  ll_state_mem_close(s);
  if (s->db) {
    for (int i = 0; i < LL_CF_COUNT; i++)
      if (s->cf[i])
        rocksdb_column_family_handle_destroy(s->cf[i]);
    rocksdb_close(s->db);
  }
  remove_secondary_path(s);
  rocksdb_readoptions_destroy(s->read_opts);
  rocksdb_writeoptions_destroy(s->write_sync);
  rocksdb_writeoptions_destroy(s->write_nosync);
  rocksdb_cache_destroy(s->block_cache);
  if (s->state_cf_opts)
    rocksdb_options_destroy(s->state_cf_opts);
  free(s->ingest_dir);
  free(s->dir);
  ll_notify_destroy(&s->changed);
  ll_store_tasks_free(s);
  pthread_mutex_destroy(&s->tasks_mu);
  pthread_mutex_destroy(&s->catch_up_mu);
  ll_rocks_latch_destroy(&s->write_latch);
  free(s);
}

/* Under catch_up_mu: what it loads is never older than the sequence it
 * records, whichever of the followers (projector, publisher) comes first. */
static int catch_up_locked(ll_store *s, ll_err *err) {
  char *rerr = NULL;
  rocksdb_try_catch_up_with_primary(s->db, &rerr);
  if (rerr)
    return ll_store_fail(s, err, "catch up with primary", rerr);
  /* Nothing written since the last catch-up: the counters and the task
   * records loaded then still hold. An idle follower polls every few ms,
   * and reading them again (a scan of the task rows) would only cost. */
  uint64_t seq = rocksdb_get_latest_sequence_number(s->db);
  if (seq == atomic_load(&s->caught_up_seq))
    return 0;
  if (load_meta(s, err) != 0 || ll_store_tasks_load(s, err) != 0)
    return -1;
  atomic_store(&s->caught_up_seq, seq);
  ll_notify_bump(&s->changed); /* waiters: the primary wrote something */
  return 0;
}

int ll_store_catch_up(ll_store *s, ll_err *err) {
  if (s->mode == LL_STORE_PRIMARY)
    return 0;
  pthread_mutex_lock(&s->catch_up_mu);
  int rc = catch_up_locked(s, err);
  pthread_mutex_unlock(&s->catch_up_mu);
  return rc;
}

uint64_t ll_store_last_rejection(ll_store *s) {
  return atomic_load_explicit(&s->last_rejection, memory_order_acquire);
}

uint64_t ll_store_last_position(ll_store *s) {
  return atomic_load_explicit(&s->last_position, memory_order_acquire);
}

uint64_t ll_store_changes(ll_store *s) {
  return ll_notify_seq(&s->changed);
}

uint64_t ll_store_wait_change(ll_store *s, uint64_t seen,
                              uint64_t deadline_ns) {
  return ll_notify_wait(&s->changed, seen, deadline_ns);
}

ll_notify *ll_store_notifier(ll_store *s) {
  return &s->changed;
}

ll_store_mode ll_store_get_mode(const ll_store *s) {
  return s->mode;
}

int ll_store_checkpoint(ll_store *s, const char *dir, uint64_t *position,
                        ll_err *err) {
  assert(dir && *dir);
  if (s->mode != LL_STORE_PRIMARY)
    return ll_fail(err, LL_ERR_CONFIG,
                   "log store %s is open as a secondary: only the process "
                   "that owns the log can checkpoint it",
                   s->dir);
  *position = ll_store_last_position(s);
  char *rerr = NULL;
  rocksdb_checkpoint_t *cp = rocksdb_checkpoint_object_create(s->db, &rerr);
  if (rerr)
    return ll_store_fail(s, err, "checkpoint", rerr);
  /* log_size_for_flush 0: flush the memtables first, so the checkpoint is
   * mostly table files (hard links) rather than copied WAL. */
  rocksdb_checkpoint_create(cp, dir, 0, &rerr);
  rocksdb_checkpoint_object_destroy(cp);
  if (rerr)
    return ll_store_fail(s, err, "checkpoint", rerr);
  return 0;
}

/* ---- reads ------------------------------------------------------------ */

int ll_store_get_offset(ll_store *s, const char *cluster, const char *topic,
                        int32_t partition, int64_t *next_offset, bool *found,
                        ll_err *err) {
  ll_buf key;
  ll_buf_init(&key);
  ll_store_offset_key(&key, cluster, topic, partition);
  char *rerr = NULL;
  rocksdb_pinnableslice_t *v =
      rocksdb_get_pinned_cf(s->db, s->read_opts, s->cf[LL_CF_OFFSETS],
                            (const char *)key.data, key.len, &rerr);
  ll_buf_free(&key);
  if (rerr)
    return ll_store_fail(s, err, "read offset", rerr);
  *found = false;
  *next_offset = 0;
  if (!v)
    return 0;
  size_t n;
  const char *p = rocksdb_pinnableslice_value(v, &n);
  bool ok = ll_store_decode_offset(p, n, next_offset);
  rocksdb_pinnableslice_destroy(v);
  if (!ok)
    return ll_fail(err, LL_ERR_CORRUPT,
                   "log store %s: stored offset of %s/%s/%d is corrupt", s->dir,
                   cluster, topic, (int)partition);
  *found = true;
  return 0;
}

void ll_entry_free(ll_entry *e) {
  if (!e)
    return;
  ll_event_free(&e->event);
  memset(e, 0, sizeof *e);
}

void ll_stored_rejection_free(ll_stored_rejection *r) {
  if (!r)
    return;
  free(r->event_id);
  free(r->message);
  free(r->topic);
  memset(r, 0, sizeof *r);
}

int ll_store_read_log(ll_store *s, uint64_t from, ll_entry *entries, size_t max,
                      size_t *n_out, ll_err *err) {
  *n_out = 0;
  if (from == 0)
    return ll_fail(err, LL_ERR_INTERNAL,
                   "log store %s: position 0 requested (positions start "
                   "at 1)",
                   s->dir);
  /* Readers see the log up to the published last position only. A commit
   * is readable in RocksDB a moment before the committing thread moves the
   * counter; a reader in that moment must not see an entry the store does
   * not claim yet (the projector would find its views ahead of the log). */
  uint64_t last = ll_store_last_position(s);
  if (from > last)
    return 0;
  if (max > last - from + 1)
    max = (size_t)(last - from + 1);
  if (max == 0)
    return 0;

  uint8_t start[8];
  ll_be64_encode(start, from);
  rocksdb_iterator_t *it =
      rocksdb_create_iterator_cf(s->db, s->read_opts, s->cf[LL_CF_LOG]);
  size_t n = 0;
  int rc = 0;
  for (rocksdb_iter_seek(it, (const char *)start, sizeof start);
       n < max && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
    uint64_t expected = from + n;
    size_t key_len, value_len;
    const char *key = rocksdb_iter_key(it, &key_len);
    const char *value = rocksdb_iter_value(it, &value_len);
    if (key_len != 8) {
      rc = ll_fail(err, LL_ERR_CORRUPT,
                   "log store %s: malformed log key where position %llu "
                   "was expected",
                   s->dir, (unsigned long long)expected);
      break;
    }
    uint64_t position = ll_be64_decode(key);
    /* Positions are dense: a gap means entries were lost. */
    if (position != expected) {
      rc = ll_fail(err, LL_ERR_CORRUPT,
                   "log store %s: expected log position %llu, found %llu",
                   s->dir, (unsigned long long)expected,
                   (unsigned long long)position);
      break;
    }
    ll_entry *e = &entries[n];
    memset(e, 0, sizeof *e);
    if (!ll_store_decode_log_value(value, value_len, e)) {
      memset(e, 0, sizeof *e);
      rc = ll_fail(err, LL_ERR_CORRUPT,
                   "log store %s: log entry at position %llu is corrupt",
                   s->dir, (unsigned long long)position);
      break;
    }
    e->position = position;
    n++;
  }
  if (rc == 0) {
    char *rerr = NULL;
    rocksdb_iter_get_error(it, &rerr);
    if (rerr)
      rc = ll_store_fail(s, err, "read log", rerr);
  }
  rocksdb_iter_destroy(it);
  if (rc != 0) {
    for (size_t i = 0; i < n; i++)
      ll_entry_free(&entries[i]);
    return -1;
  }
  *n_out = n;
  return 0;
}

int ll_store_recent_rejections(ll_store *s, size_t limit,
                               ll_stored_rejection *out, size_t *n_out,
                               ll_err *err) {
  return ll_store_rejections_before(s, UINT64_MAX, limit, out, n_out, err);
}

int ll_store_rejections_before(ll_store *s, uint64_t before, size_t limit,
                               ll_stored_rejection *out, size_t *n_out,
                               ll_err *err) {
  *n_out = 0;
  if (limit == 0 || before == 0)
    return 0;
  rocksdb_iterator_t *it =
      rocksdb_create_iterator_cf(s->db, s->read_opts, s->cf[LL_CF_REJECTIONS]);
  size_t n = 0;
  int rc = 0;
  uint8_t last[8];
  ll_be64_encode(last, before - 1);
  for (rocksdb_iter_seek_for_prev(it, (const char *)last, sizeof last);
       n < limit && rocksdb_iter_valid(it); rocksdb_iter_prev(it)) {
    size_t key_len, value_len;
    const char *key = rocksdb_iter_key(it, &key_len);
    const char *value = rocksdb_iter_value(it, &value_len);
    uint64_t sequence = key_len == 8 ? ll_be64_decode(key) : 0;
    if (key_len != 8 || !ll_store_decode_rejection(value, value_len, &out[n])) {
      rc = ll_fail(err, LL_ERR_CORRUPT,
                   "log store %s: rejection %llu is corrupt", s->dir,
                   (unsigned long long)sequence);
      break;
    }
    out[n].sequence = sequence;
    n++;
  }
  if (rc == 0) {
    char *rerr = NULL;
    rocksdb_iter_get_error(it, &rerr);
    if (rerr)
      rc = ll_store_fail(s, err, "read rejections", rerr);
  }
  rocksdb_iter_destroy(it);
  if (rc != 0) {
    for (size_t i = 0; i < n; i++)
      ll_stored_rejection_free(&out[i]);
    return -1;
  }
  *n_out = n;
  return 0;
}
