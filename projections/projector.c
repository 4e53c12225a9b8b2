/* projector.c — follows the log and feeds the views.
 *
 * One step: read the entries after the views' checkpoint, apply them as
 * one run. Only when the entries the log store already knows do not fill
 * the step does it catch up with its primary (which reads the primary's
 * MANIFEST and WAL: not free) and read on, so a projector with a backlog
 * does not pay for it on every step, and one that is caught up sees new
 * entries at once. The caller loops on ll_projector_step() and sleeps when
 * it applies nothing. The entry slots are allocated once,
 * LL_PROJECTOR_BATCH_MAX of them, so a step never allocates more than the
 * entries' own strings, and a step's run (its rows in memory, its RocksDB
 * WriteBatch) stays bounded. Big steps are what make a backlog cheap to
 * work off: a row that many entries of a run rewrite is written once, and
 * a full step (a backlog) may be written as a table file. A step that
 * reaches the end of the log is written through the memtable whatever its
 * size: a table file per step there put a level-0 file, a flush of the
 * memtable and soon a compaction behind every step of a projector that
 * fell a little behind, which made it fall further (docs/performance.md,
 * "Third round: where freshness goes").
 *
 * The views never run ahead of the log they follow: if the log ends before
 * the views' checkpoint, the views were built from another log (a restored
 * backup, a swapped data directory) and the step fails rather than waiting
 * for positions that would mean something else. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ll_mem.h"
#include "ll_types.h"
#include "ll_views.h"

struct ll_projector {
  ll_store *log;
  ll_views *views;
  ll_entry *entries; /* LL_PROJECTOR_BATCH_MAX slots, zeroed when idle */
};

ll_projector *ll_projector_new(ll_store *log, ll_views *views) {
  assert(log != NULL && views != NULL);
  ll_projector *p = ll_xcalloc(1, sizeof *p);
  p->log = log;
  p->views = views;
  p->entries = ll_xcalloc(LL_PROJECTOR_BATCH_MAX, sizeof *p->entries);
  return p;
}

void ll_projector_free(ll_projector *p) {
  if (p == NULL)
    return;
  free(p->entries);
  free(p);
}

static void release_entries(ll_projector *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    ll_entry_free(&p->entries[i]);
  memset(p->entries, 0, n * sizeof *p->entries);
}

/* Whether the log holds position pos. */
static int log_reaches(ll_projector *p, uint64_t pos, bool *yes, ll_err *err) {
  size_t n = 0;
  int rc = ll_store_read_log(p->log, pos, p->entries, 1, &n, err);
  release_entries(p, 1);
  *yes = rc == 0 && n == 1;
  return rc;
}

int ll_projector_step(ll_projector *p, size_t max, size_t *applied,
                      ll_err *err) {
  assert(p != NULL && applied != NULL);
  *applied = 0;
  /* 0 asks for "as much as one step may do". */
  if (max == 0 || max > LL_PROJECTOR_BATCH_MAX)
    max = LL_PROJECTOR_BATCH_MAX;

  uint64_t before = ll_views_position(p->views);
  size_t n = 0;
  if (ll_store_read_log(p->log, before + 1, p->entries, max, &n, err) != 0) {
    /* The store may have filled some slots before failing. */
    release_entries(p, max);
    return -1;
  }
  assert(n <= max);
  if (n < max) {
    size_t more = 0;
    if (ll_store_catch_up(p->log, err) != 0 ||
        ll_store_read_log(p->log, before + 1 + n, p->entries + n, max - n,
                          &more, err) != 0) {
      release_entries(p, max);
      return -1;
    }
    assert(more <= max - n);
    n += more;
  }
  if (n == 0) {
    uint64_t last = ll_store_last_position(p->log);
    /* The primary bumps its last-position counter just after the write
     * that made the entries readable, so in between we may have applied
     * entries past the counter: only a missing entry at the checkpoint
     * means another log. */
    bool reaches = false;
    if (last < before && log_reaches(p, before, &reaches, err) != 0)
      return -1;
    if (last < before && !reaches)
      return ll_fail(err, LL_ERR_CORRUPT,
                     "projector: the views stand at log position %llu "
                     "but the log ends at %llu: they were built from "
                     "another log, rebuild them",
                     (unsigned long long)before, (unsigned long long)last);
    return 0;
  }
  /* A step that did not fill up reached the end of the log: the projector
   * is keeping up, and its run goes through the memtable (views_write.c). */
  int rc = n < max ? ll_views_apply_at_head(p->views, p->entries, n, err)
                   : ll_views_apply(p->views, p->entries, n, err);
  release_entries(p, n);
  if (rc != 0)
    return -1;
  uint64_t after = ll_views_position(p->views);
  assert(after >= before);
  *applied = (size_t)(after - before);
  return 0;
}
