/* ll_rocks.h — the RocksDB helpers lotline's databases share: the log
 * store (ll_store.c) and the views (projections/views.c).
 *
 * It owns what they all do the same way: turning a RocksDB error string
 * into an ll_err of the right kind, opening a database with options,
 * reading a key into a buffer, and the format mark each database carries
 * (a uvar version under a key of its choosing), stamped on a new database
 * and checked on an existing one, the end of a scan, and removing a
 * database's directory.
 * What the databases hold, and how they
 * are tuned, stays with their owners. */
#ifndef LL_ROCKS_H
#define LL_ROCKS_H

#include <pthread.h>
#include <rocksdb/c.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ll_buf.h"
#include "ll_types.h"

/* A RocksDB error as a failure: the printf-style context, ": ", then
 * RocksDB's own words. The kind is LL_ERR_CORRUPT when RocksDB reports
 * corruption, LL_ERR_FULL when the disk is full, LL_ERR_IO otherwise.
 * Frees rerr (NULL reads "unknown error"); returns -1. err may be NULL. */
int ll_rocks_fail(ll_err *err, char *rerr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A database's write latch. After a failed write (typically a full disk),
 * RocksDB 7.8's write-ahead-log writer is left in an error state in which
 * the next WAL write trips an assertion inside RocksDB and aborts the
 * process, where an error was due (fixed upstream in 9.x: "Don't write to
 * WAL after previous WAL write error"). So the first failure closes the
 * latch, and from then on every write through it is refused without
 * calling RocksDB: the owner stops with the first error, and a restart
 * resumes from what was synced. The check and the write are one step under
 * the latch's mutex: with several writing threads (the log store's), a
 * write that passed the check can never reach RocksDB after another one
 * failed. RocksDB serialises writes to the WAL anyway, so the mutex costs
 * the writers no concurrency they had. */
typedef struct ll_rocks_latch {
  pthread_mutex_t mu;
  _Atomic bool failed;
} ll_rocks_latch;

void ll_rocks_latch_init(ll_rocks_latch *latch);
void ll_rocks_latch_destroy(ll_rocks_latch *latch);

/* True once a write through the latch has failed. */
bool ll_rocks_latch_failed(ll_rocks_latch *latch);

/* rocksdb_write() behind the latch (above). fmt is the context of
 * messages. 0, or -1 with err. */
int ll_rocks_write(rocksdb_t *db, const rocksdb_writeoptions_t *wo,
                   rocksdb_writebatch_t *wb, ll_rocks_latch *latch, ll_err *err,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Apply RocksDB options given as a string ("name=value;name=value"), for
 * the options the C API has no setter for; *options is replaced by the
 * result. 0, or -1 with err (LL_ERR_CONFIG) when RocksDB refuses the
 * string, *options then unchanged. */
int ll_rocks_options_apply(rocksdb_options_t **options, const char *spec,
                           ll_err *err);

/* mkdir(dir) unless it exists. Before an open that creates the database:
 * RocksDB reads the directory before creating it and reports the missing
 * one as an error in its log (ll_rocks_logger.h), which a first start
 * should not show. 0, or -1 with err. */
int ll_rocks_create_dir(const char *dir, const char *name, ll_err *err);

/* rocksdb_open(), creating dir first when the options create the database
 * (create_if_missing); NULL with err ("<name>: cannot open <dir>: ...")
 * when RocksDB refuses. */
rocksdb_t *ll_rocks_open(rocksdb_options_t *options, const char *dir,
                         const char *name, ll_err *err);

/* Read key from the default column family into value (reset first);
 * *found false when it is absent. name says which database in a message. */
int ll_rocks_get(rocksdb_t *db, const rocksdb_readoptions_t *ro,
                 const void *key, size_t key_len, ll_buf *value, bool *found,
                 const char *name, ll_err *err);

/* Destroy the iterator; when it stopped on an error rather than at the
 * end, fail as ll_rocks_fail(err, error, "%s", what) does (-1). */
int ll_rocks_iter_end(rocksdb_iterator_t *it, const char *what, ll_err *err);

/* Remove dir and everything below it (a database, a backup, a follower's
 * scratch directory); links are removed, not followed. Returns 0, or -1
 * with errno from the first thing that could not be removed. */
int ll_rocks_remove_dir(const char *dir);

/* Compactions of every database in the process (RocksDB's shared
 * low-priority pool) run on idle time from now on (SCHED_IDLE), so that
 * under a load the cores cannot all carry, the threads a client waits on
 * (deciding, projecting, answering) run first. A views compaction
 * rewrites all of level 1 (a second or two of a core); at normal priority
 * it took half of a 2-core machine from them (docs/performance.md, sixth
 * round). At nice 19 it still did, one core at a time: the scheduler
 * placed waking threads beside the other busy ones rather than on the
 * compaction's core, which it counts as idle only under SCHED_IDLE
 * (eighth round). Compactions cannot starve: when they fall behind,
 * level-0 files pile up and RocksDB slows the writes down, which gives
 * them the cores. Flushes (the high-priority pool) keep their priority: a
 * late flush stops the writes at once. In ll_rocks_env.cc. */
void ll_rocks_compactions_yield(void);

/* How long RocksDB has held the database's writers back (slowed down or
 * stopped: too many level-0 files, memtables waiting for a flush,
 * compaction owed) since it was opened, in microseconds; 0 when it cannot
 * say. */
uint64_t ll_rocks_stall_micros(rocksdb_t *db);

/* The number of level-0 table files of one column family (cf NULL: the
 * default one); 0 when RocksDB cannot say. */
uint64_t ll_rocks_l0_files(rocksdb_t *db, rocksdb_column_family_handle_t *cf);

/* A database's format mark. */
typedef struct ll_rocks_format {
  const char *name;   /* "views", "log store": the start of a message */
  const char *dir;    /* the database's directory, named in messages */
  const char *key;    /* where the mark lives, in the default family */
  uint64_t version;   /* the one this build reads and writes */
  const char *remedy; /* ends a refusal: "; delete the directory ..." */
} ll_rocks_format;

/* Check the mark: a stored version other than f->version, or a mark that
 * does not decode, is refused (LL_ERR_CORRUPT, with f->remedy). Without a
 * mark *found is false, and the mark is written with the write options
 * stamp when it is not NULL: the owner of a new database stamps it, a
 * reader leaves it. found may be NULL. */
int ll_rocks_check_format(rocksdb_t *db, const rocksdb_readoptions_t *ro,
                          const rocksdb_writeoptions_t *stamp,
                          const ll_rocks_format *f, bool *found, ll_err *err);

#endif
