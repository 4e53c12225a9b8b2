/* ll_store_apply.c — folding the journal into the state column family, on
 * a thread of its own (ll_store.h says why there is a journal).
 *
 * Between batches, once enough state changes are dirty, the batch thread
 * hands the journal records committed since the last apply to the applier
 * thread (ll_state_mem_snapshot: a buffer changes hands), which
 *   1. sorts their changes by key, keeps each key's newest value, and
 *      writes them as one SST file in "<dir>.ingest" with the state column
 *      family's options (bloom filter, compression);
 *   2. ingests the file into `state` (RocksDB links it into the database,
 *      syncs it and records it in the MANIFEST: durable when this returns;
 *      the file gets a sequence number above every write so far, so it
 *      wins over older values and never over a newer batch, which the
 *      batch thread keeps dirty in memory and in the journal);
 *   3. deletes the journal records the job covered (not synced: if a crash
 *      loses the deletes, the records come back at open and are applied
 *      again, with the same values).
 * No RocksDB memtable sees these keys: that is the point (memtable inserts
 * of random keys were most of the ingest time).
 *
 * The batch thread collects a finished job between batches and tells the
 * state layer, which turns the entries not changed since into clean cache
 * entries (by moving a counter past them). A failed job (disk full, I/O error)
 * is sticky: every commit fails from then on with its reason, so the command
 * consumer stops with nothing lost (the journal still holds every change).
 *
 * The applier is background work: nobody waits for a job while the state
 * layer has room for dirty entries, and a job comes in bursts (a few
 * hundred milliseconds of CPU at 10,000 events/s). So its thread yields
 * the cores (APPLIER_NICE, as the publisher's) to the consumer and the
 * projector, whose delays a client sees. It cannot starve: when it falls
 * behind, commits wait for it (LL_STATE_DIRTY_MAX_ENTRIES) and the cores
 * are its own. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ll_buf.h"
#include "ll_mem.h"
#include "ll_rocks.h"
#include "ll_store_internal.h"
#include "ll_thread.h"
#include "ll_types.h"

#define APPLIER_NICE 10

/* One change of the job, where it came from, and its place in key order:
 * the first eight bytes as a big-endian integer decide most comparisons
 * without touching the keys again; among a key's changes the newest
 * record's comes last. */
typedef struct ll_apply_item {
  uint64_t prefix;
  uint32_t record; /* ordinal in the job: later is newer */
  ll_state_change change;
} ll_apply_item;

static int cmp_items(const void *a, const void *b) {
  const ll_apply_item *x = a, *y = b;
  if (x->prefix != y->prefix)
    return x->prefix < y->prefix ? -1 : 1;
  int c = ll_state_key_cmp(x->change.key, x->change.key_len, y->change.key,
                           y->change.key_len);
  if (c != 0)
    return c;
  return x->record < y->record ? -1 : x->record > y->record;
}

static uint64_t key_prefix(const ll_state_change *c) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; i++)
    v = v << 8 | (i < c->key_len ? c->key[i] : 0);
  return v;
}

typedef struct collect_ctx {
  ll_apply_job *job;
  size_t n;
  uint32_t record;
} collect_ctx;

static void collect_change(void *ctx, const ll_state_change *c) {
  collect_ctx *cc = ctx;
  assert(cc->n < cc->job->n_changes);
  cc->job->items[cc->n++] = (ll_apply_item){key_prefix(c), cc->record, *c};
}

/* The job's changes in key order, one per key (its newest): *n of them
 * in job->items. False when a record does not parse. */
static bool order_changes(ll_apply_job *job, size_t *n) {
  if (job->n_changes > job->cap_items) {
    job->cap_items = job->n_changes;
    job->items = ll_xrealloc(job->items, job->cap_items * sizeof *job->items);
  }
  collect_ctx cc = {job, 0, 0};
  size_t off = 0;
  const uint8_t *rec;
  size_t len;
  while (ll_journal_list_next(&job->records, &off, &rec, &len)) {
    if (!ll_journal_each_own(rec, len, collect_change, &cc))
      return false;
    cc.record++;
  }
  assert(cc.n == job->n_changes);
  qsort(job->items, cc.n, sizeof *job->items, cmp_items);
  size_t kept = 0;
  for (size_t i = 0; i < cc.n; i++) {
    const ll_state_change *c = &job->items[i].change;
    const ll_state_change *next =
        i + 1 < cc.n ? &job->items[i + 1].change : NULL;
    if (next &&
        ll_state_key_cmp(c->key, c->key_len, next->key, next->key_len) == 0)
      continue; /* a newer record changed it again */
    job->items[kept++] = job->items[i];
  }
  *n = kept;
  return true;
}

static int apply_fail(ll_store *s, ll_err *err, const char *op, char *rerr) {
  return ll_rocks_fail(err, rerr, "log store %s: applying the journal: %s",
                       s->dir, op);
}

/* Steps 1 and 2: the job's changes into `state`. */
static int ingest_changes(ll_store *s, ll_apply_job *job, uint64_t file_no,
                          ll_err *err) {
  if (ll_rocks_latch_failed(&s->write_latch))
    return ll_fail(err, LL_ERR_IO,
                   "log store %s: applying the journal: refused, an earlier "
                   "write failed",
                   s->dir);
  size_t n;
  if (!order_changes(job, &n))
    return ll_fail(err, LL_ERR_INTERNAL,
                   "log store %s: applying the journal: a journal record in "
                   "memory does not parse",
                   s->dir);
  ll_buf path;
  ll_buf_init(&path);
  ll_buf_printf(&path, "%s/state-%llu-%llu.sst", s->ingest_dir,
                (unsigned long long)job->through_journal,
                (unsigned long long)file_no);
  const char *file = (const char *)path.data;
  char *rerr = NULL;
  int rc = 0;
  rocksdb_envoptions_t *env = rocksdb_envoptions_create();
  rocksdb_sstfilewriter_t *w =
      rocksdb_sstfilewriter_create(env, s->state_cf_opts);
  rocksdb_sstfilewriter_open(w, file, &rerr);
  for (size_t i = 0; !rerr && i < n; i++) {
    const ll_state_change *c = &job->items[i].change;
    if (c->present)
      rocksdb_sstfilewriter_put(w, (const char *)c->key, c->key_len,
                                (const char *)c->value, c->value_len, &rerr);
    else
      rocksdb_sstfilewriter_delete(w, (const char *)c->key, c->key_len, &rerr);
  }
  if (!rerr)
    rocksdb_sstfilewriter_finish(w, &rerr);
  rocksdb_sstfilewriter_destroy(w);
  rocksdb_envoptions_destroy(env);
  if (rerr) {
    rc = apply_fail(s, err, "write SST file", rerr);
  } else {
    rocksdb_ingestexternalfileoptions_t *o =
        rocksdb_ingestexternalfileoptions_create();
    rocksdb_ingestexternalfileoptions_set_move_files(o, 1);
    rocksdb_ingestexternalfileoptions_set_snapshot_consistency(o, 1);
    rocksdb_ingestexternalfileoptions_set_allow_global_seqno(o, 1);
    /* `state` has no memtable writes, but a flush is the right answer if
     * it ever does. */
    rocksdb_ingestexternalfileoptions_set_allow_blocking_flush(o, 1);
    const char *files[1] = {file};
    rocksdb_ingest_external_file_cf(s->db, s->cf[LL_CF_STATE], files, 1, o,
                                    &rerr);
    rocksdb_ingestexternalfileoptions_destroy(o);
    if (rerr)
      rc = apply_fail(s, err, "ingest SST file", rerr);
  }
  /* Moved into the database on success; a leftover on failure. */
  (void)unlink(file);
  ll_buf_free(&path);
  return rc;
}

/* Step 3. */
static int delete_records(ll_store *s, const ll_apply_job *job, ll_err *err) {
  rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
  for (uint64_t seq = job->first_journal; seq <= job->through_journal; seq++) {
    uint8_t key[8];
    ll_be64_encode(key, seq);
    rocksdb_writebatch_delete_cf(wb, s->cf[LL_CF_JOURNAL], (const char *)key,
                                 sizeof key);
  }
  int rc = ll_store_write(s, s->write_nosync, wb,
                          "applying the journal: delete journal records", err);
  rocksdb_writebatch_destroy(wb);
  return rc;
}

static void *applier_main(void *arg) {
  ll_store *s = arg;
  ll_applier *a = &s->applier;
  ll_thread_set_name("ll:apply");
  (void)ll_thread_lower_priority(APPLIER_NICE);
  pthread_mutex_lock(&a->mu);
  for (;;) {
    while (!a->stop && !(a->busy && !a->finished))
      pthread_cond_wait(&a->cv, &a->mu);
    if (a->stop && !(a->busy && !a->finished))
      break;
    uint64_t file_no = a->next_file++;
    pthread_mutex_unlock(&a->mu);

    /* The job is ours until finished is set: nobody else touches it. */
    ll_err err = {0};
    int rc = 0;
    if (a->job.n_changes > 0)
      rc = ingest_changes(s, &a->job, file_no, &err);
    if (rc == 0) {
      atomic_store(&s->journal_applied, a->job.through_journal);
      rc = delete_records(s, &a->job, &err);
    }

    pthread_mutex_lock(&a->mu);
    a->rc = rc;
    a->err = err;
    a->finished = true;
    pthread_cond_broadcast(&a->cv);
  }
  pthread_mutex_unlock(&a->mu);
  return NULL;
}

/* Remove SST files a dead process left half-built. */
static int prepare_ingest_dir(ll_store *s, ll_err *err) {
  if (mkdir(s->ingest_dir, 0700) != 0 && errno != EEXIST)
    return ll_fail(err, LL_ERR_IO, "log store %s: create %s: %s", s->dir,
                   s->ingest_dir, strerror(errno));
  DIR *d = opendir(s->ingest_dir);
  if (!d)
    return ll_fail(err, LL_ERR_IO, "log store %s: open %s: %s", s->dir,
                   s->ingest_dir, strerror(errno));
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (strncmp(de->d_name, "state-", 6) != 0)
      continue;
    ll_buf path;
    ll_buf_init(&path);
    ll_buf_printf(&path, "%s/%s", s->ingest_dir, de->d_name);
    (void)unlink((const char *)path.data);
    ll_buf_free(&path);
  }
  closedir(d);
  return 0;
}

int ll_applier_start(ll_store *s, ll_err *err) {
  ll_applier *a = &s->applier;
  assert(!a->busy);
  if (!a->started) {
    if (prepare_ingest_dir(s, err) != 0)
      return -1;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    ll_buf_init(&a->job.records);
    int e = pthread_create(&a->thread, NULL, applier_main, s);
    if (e != 0) {
      pthread_cond_destroy(&a->cv);
      pthread_mutex_destroy(&a->mu);
      ll_buf_free(&a->job.records);
      return ll_fail(err, LL_ERR_INTERNAL,
                     "log store %s: start the applier: %s", s->dir,
                     strerror(e));
    }
    a->started = true;
  }
  ll_state_mem_snapshot(s, &a->job);
  pthread_mutex_lock(&a->mu);
  a->busy = true;
  a->finished = false;
  pthread_cond_broadcast(&a->cv);
  pthread_mutex_unlock(&a->mu);
  return 0;
}

bool ll_applier_collect(ll_store *s, bool wait) {
  ll_applier *a = &s->applier;
  if (!a->busy)
    return false;
  pthread_mutex_lock(&a->mu);
  while (wait && !a->finished)
    pthread_cond_wait(&a->cv, &a->mu);
  bool finished = a->finished;
  pthread_mutex_unlock(&a->mu);
  if (!finished)
    return false;
  if (a->rc == 0) {
    ll_state_mem_applied(s, &a->job);
  } else if (!s->apply_failed) {
    s->apply_failed = true;
    s->apply_err = a->err;
  }
  a->busy = false;
  return true;
}

void ll_store_state_maintain(ll_store *s) {
  if (s->apply_failed)
    return;
  ll_state_mem_drop_leaving(s, s->mem->limits.leaving_per_commit);
  (void)ll_applier_collect(s, false);
  if (s->applier.busy || s->apply_failed || !ll_state_mem_wants_apply(s))
    return;
  ll_err err;
  if (ll_applier_start(s, &err) != 0) {
    s->apply_failed = true;
    s->apply_err = err;
  }
}

int ll_store_apply_state(ll_store *s, ll_err *err) {
  assert(s->mode == LL_STORE_PRIMARY && s->mem && !s->batch_open);
  (void)ll_applier_collect(s, true);
  if (!s->apply_failed && s->mem->last_journal >= s->mem->first_journal) {
    if (ll_applier_start(s, err) != 0)
      return -1;
    (void)ll_applier_collect(s, true);
  }
  if (s->apply_failed) {
    *err = s->apply_err;
    return -1;
  }
  return 0;
}

void ll_applier_shutdown(ll_store *s) {
  ll_applier *a = &s->applier;
  if (!a->started)
    return;
  (void)ll_applier_collect(s, true);
  pthread_mutex_lock(&a->mu);
  a->stop = true;
  pthread_cond_broadcast(&a->cv);
  pthread_mutex_unlock(&a->mu);
  pthread_join(a->thread, NULL);
  pthread_cond_destroy(&a->cv);
  pthread_mutex_destroy(&a->mu);
  free(a->job.items);
  free(a->job.once);
  ll_buf_free(&a->job.records);
  memset(a, 0, sizeof *a);
}
