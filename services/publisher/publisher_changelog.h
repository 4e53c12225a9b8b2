/* publisher_changelog.h — what the publisher writes to lots.changelog with
 * each run (publisher_changelog.c). Private to the publisher. */
#ifndef LL_PUBLISHER_CHANGELOG_H
#define LL_PUBLISHER_CHANGELOG_H

#include <stdbool.h>
#include <stdint.h>

#include "ll_buf.h"
#include "ll_changelog.h"
#include "ll_store.h"
#include "publisher_tail.h"

/* One record of the run for lots.changelog, in the order to produce. */
typedef struct pub_chg_record {
  int32_t partition;
  bool mark;              /* else a rejection */
  uint64_t mark_position; /* a mark's n (its header) */
  size_t at, len;         /* its bytes in pub_changelog.bytes */
} pub_chg_record;

typedef struct pub_changelog {
  const char *topic; /* NULL: no changelog is written */
  int32_t partitions;
  /* Per task, as read at connect then moved by what was committed: the
   * input offset its last mark covers (-1: no mark), and that mark's task
   * position (0: none). */
  int64_t offset[PUB_PARTITIONS_MAX];
  uint64_t position[PUB_PARTITIONS_MAX];
  int64_t staged[PUB_PARTITIONS_MAX]; /* offset, with the run in flight */
  /* The run: its records, their bytes, scratch for the marks' entries. */
  pub_chg_record *records;
  size_t n_records, cap_records;
  ll_buf bytes;
  ll_chg_entry *entries; /* batch_max slots */
  size_t *counts;        /* per task: the run's entries of it */
} pub_changelog;

void pub_chg_init(pub_changelog *c, const char *topic, int batch_max);
void pub_chg_free(pub_changelog *c);
/* Where each task's changelog stands, from its last mark (tails of
 * lots.changelog); partitions as read at connect. */
void pub_chg_from_tails(pub_changelog *c, const pub_tail *tails,
                        int32_t partitions);
/* The last task position whose entries a mark covers, for task q: a run
 * starts after it, so that every entry is covered by some mark (-1: the
 * changelog has no mark for q; then nothing is published again). */
int64_t pub_chg_covered(const pub_changelog *c, int32_t q);

/* The run's inputs: the entries it publishes (in log order), the tasks'
 * positions once they are published, and which tasks are this
 * instance's. */
typedef struct pub_chg_run {
  ll_store *log;
  const ll_entry *const *run;
  size_t n;
  const uint64_t *staged;
  const bool *mine;
} pub_chg_run;

/* Gather the run's changelog records: for every task of this instance
 * whose local log reaches what Kafka holds, its rejections not in the
 * changelog yet (up to its next unpublished entry), then a mark. */
int pub_chg_gather(pub_changelog *c, const pub_chg_run *r, ll_err *err);
/* The run committed: its marks are where the tasks stand. */
void pub_chg_committed(pub_changelog *c);

#endif
