/* publisher_changelog.c — a run's records for lots.changelog.
 *
 * With each run the publisher writes, in the same Kafka transaction as the
 * entries, on partition q of lots.changelog for every task q it has news
 * of: the task's rejections not in the changelog yet, in input offset
 * order, then a mark "decided up to input offset o, last task position n"
 * carrying the input offset and log clock of the run's entries of q
 * (ll_changelog.h). A new owner restores the task from that
 * (services/command/command_restore.c).
 *
 * A mark must never claim what is not in Kafka. It claims entries 1..n
 * (in lots.events: n is what the run leaves published) and every
 * rejection up to input offset o (in lots.changelog: each earlier mark's
 * and this run's). So the run takes the task's rejections after the last
 * mark's offset and before the input offset of the task's next entry not
 * published yet, and o is the last of what it took. Within a task the
 * store commits decisions in input offset order, so reading the
 * rejections first and the next entry after leaves nothing out: a
 * rejection read was committed before anything later in the task, and an
 * entry committed since bounds them by its offset.
 *
 * A task whose local log is behind what lots.events holds (a former owner
 * whose entries another instance published) writes nothing: its log may
 * not hold the rejections between. */
#include "publisher_changelog.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ll_mem.h"

void pub_chg_init(pub_changelog *c, const char *topic, int batch_max) {
  memset(c, 0, sizeof *c);
  c->topic = topic;
  ll_buf_init(&c->bytes);
  c->entries = ll_xcalloc((size_t)batch_max, sizeof *c->entries);
  c->counts = ll_xcalloc(PUB_PARTITIONS_MAX, sizeof *c->counts);
}

void pub_chg_free(pub_changelog *c) {
  free(c->records);
  free(c->entries);
  free(c->counts);
  ll_buf_free(&c->bytes);
}

void pub_chg_from_tails(pub_changelog *c, const pub_tail *tails,
                        int32_t partitions) {
  c->partitions = partitions;
  for (int32_t q = 0; q < partitions; q++) {
    ll_chg_mark m;
    c->offset[q] = -1;
    c->position[q] = 0;
    if (tails[q].found &&
        ll_chg_decode_mark(tails[q].value.data, tails[q].value.len, &m)) {
      c->offset[q] = m.offset;
      c->position[q] = m.position;
      ll_chg_mark_free(&m);
    }
  }
}

int64_t pub_chg_covered(const pub_changelog *c, int32_t q) {
  if (c->topic == NULL || c->offset[q] < 0)
    return -1;
  return (int64_t)c->position[q];
}

static void add_record(pub_changelog *c, int32_t q, bool mark,
                       uint64_t mark_position, const void *bytes, size_t len) {
  if (c->n_records == c->cap_records) {
    c->cap_records = c->cap_records ? c->cap_records * 2 : 64;
    c->records = ll_xrealloc(c->records, c->cap_records * sizeof *c->records);
  }
  c->records[c->n_records++] =
      (pub_chg_record){q, mark, mark_position, c->bytes.len, len};
  ll_buf_put(&c->bytes, bytes, len);
}

/* One task's rejections, as read from the store. */
typedef struct gather_ctx {
  pub_changelog *c;
  int32_t q;
  size_t first; /* the task's first record of this run */
} gather_ctx;

static int take_rejection(void *ctx, int64_t offset, const void *record,
                          size_t len, ll_err *err) {
  gather_ctx *g = ctx;
  if (ll_chg_kind(record, len) != LL_CHANGELOG_REJECTION)
    return ll_fail(err, LL_ERR_CORRUPT,
                   "publisher: the changelog record of task %d at input "
                   "offset %lld is not a rejection of this version",
                   (int)g->q, (long long)offset);
  add_record(g->c, g->q, false, 0, record, len);
  return 0;
}

/* The input offset of task q's entry at task position n, or -1 when the
 * local log does not hold it. */
static int entry_offset(ll_store *log, int32_t q, uint64_t n, int64_t *offset,
                        ll_err *err) {
  uint64_t local = 0;
  bool found = false;
  *offset = -1;
  if (ll_store_task_local(log, q, n, &local, &found, err) != 0)
    return -1;
  if (!found)
    return 0;
  ll_entry e;
  size_t got = 0;
  if (ll_store_read_log(log, local, &e, 1, &got, err) != 0)
    return -1;
  if (got == 1) {
    *offset = e.offset;
    ll_entry_free(&e);
  }
  return 0;
}

/* Task q's rejections after its last mark and before its next
 * unpublished entry; *last is the offset of the last one taken. */
static int gather_rejections(pub_changelog *c, const pub_chg_run *r, int32_t q,
                             int64_t *last, ll_err *err) {
  gather_ctx g = {c, q, c->n_records};
  size_t bytes_before = c->bytes.len;
  if (ll_store_changelog_each(r->log, q, c->offset[q], -1, take_rejection, &g,
                              err) != 0)
    return -1;
  int64_t bound = -1;
  if (entry_offset(r->log, q, r->staged[q] + 1, &bound, err) != 0)
    return -1;
  size_t keep = g.first;
  for (size_t i = g.first; i < c->n_records; i++) {
    ll_chg_rejection rej;
    const pub_chg_record *rec = &c->records[i];
    if (!ll_chg_decode_rejection(c->bytes.data + rec->at, rec->len, &rej))
      return ll_fail(err, LL_ERR_CORRUPT,
                     "publisher: a changelog record of task %d does not "
                     "decode",
                     (int)q);
    int64_t offset = rej.offset;
    ll_chg_rejection_free(&rej);
    if (bound >= 0 && offset >= bound)
      break;
    *last = offset;
    keep = i + 1;
  }
  if (keep == g.first)
    c->bytes.len = bytes_before;
  c->n_records = keep;
  return 0;
}

/* The run's entries grouped by task, in c->entries; c->counts[q] each. */
static void group_entries(pub_changelog *c, const pub_chg_run *r,
                          size_t *start) {
  memset(c->counts, 0, (size_t)c->partitions * sizeof *c->counts);
  for (size_t i = 0; i < r->n; i++)
    c->counts[r->run[i]->partition]++;
  size_t sum = 0;
  for (int32_t q = 0; q < c->partitions; q++) {
    start[q] = sum;
    sum += c->counts[q];
  }
  size_t *fill = ll_xcalloc((size_t)c->partitions, sizeof *fill);
  for (size_t i = 0; i < r->n; i++) {
    const ll_entry *e = r->run[i];
    c->entries[start[e->partition] + fill[e->partition]++] =
        (ll_chg_entry){e->offset, e->recorded_at_ms, e->flags};
  }
  free(fill);
}

/* Task q's records of the run: its rejections, then its mark. */
static int gather_task(pub_changelog *c, const pub_chg_run *r, int32_t q,
                       size_t start, ll_err *err) {
  ll_task_last last;
  ll_store_task_last(r->log, q, &last);
  if (last.position < r->staged[q])
    return 0; /* behind Kafka: not this log's to vouch for */
  size_t k = c->counts[q];
  int64_t o = c->offset[q];
  if (k > 0 && c->entries[start + k - 1].offset > o)
    o = c->entries[start + k - 1].offset;
  int64_t rejected = -1;
  if (gather_rejections(c, r, q, &rejected, err) != 0)
    return -1;
  if (rejected > o)
    o = rejected;
  if (k == 0 && rejected < 0)
    return 0; /* nothing new */
  ll_chg_mark m = {.offset = o,
                   .position = r->staged[q],
                   .n_entries = k,
                   .entries = c->entries + start};
  ll_buf mark;
  ll_buf_init(&mark);
  ll_chg_encode_mark(&mark, &m);
  add_record(c, q, true, r->staged[q], mark.data, mark.len);
  ll_buf_free(&mark);
  c->staged[q] = o;
  return 0;
}

int pub_chg_gather(pub_changelog *c, const pub_chg_run *r, ll_err *err) {
  c->n_records = 0;
  ll_buf_reset(&c->bytes);
  if (c->topic == NULL)
    return 0;
  memcpy(c->staged, c->offset, (size_t)c->partitions * sizeof *c->staged);
  size_t *start = ll_xcalloc((size_t)c->partitions, sizeof *start);
  group_entries(c, r, start);
  int rc = 0;
  for (int32_t q = 0; q < c->partitions && rc == 0; q++)
    if (r->mine[q])
      rc = gather_task(c, r, q, start[q], err);
  free(start);
  return rc;
}

void pub_chg_committed(pub_changelog *c) {
  for (size_t i = 0; i < c->n_records; i++) {
    const pub_chg_record *rec = &c->records[i];
    if (!rec->mark)
      continue;
    c->offset[rec->partition] = c->staged[rec->partition];
    c->position[rec->partition] = rec->mark_position;
  }
  c->n_records = 0;
}
