/* command_restore.c — a new owner restores a task from Kafka.
 *
 * A task is its input partition p with everything that decides it
 * (docs/cluster-design.md, decision 4). Kafka holds it: its accepted
 * entries on lots.events p (header lotline-position = the task position),
 * and on lots.changelog p its rejections (with the seen records that make
 * a redelivery a no-op and a reuse EVENT_ID_REUSED) and the publisher's
 * marks "decided up to input offset o, last task position n", which also
 * carry each entry's input offset and log clock (services/log/
 * ll_changelog.h). So when the group assigns p and the local task stands
 * at task position L, input offset l (nothing: 0 and -1):
 *
 *   0. a local task whose input still holds what follows it (a standby's
 *      copy, a former owner's) is decided from there: its tail is short,
 *      and finding it in lots.events would read that from its start;
 *   1. read lots.changelog p (read_committed) to its end: the last mark
 *      (o, n), the entries' offsets and clocks after L, the rejections
 *      after l;
 *   2. nothing beyond the local task (no mark, n <= L and o <= l): decide
 *      from the stored offset as always. A changelog whose marks do not
 *      cover L+1..n (written by an older version) cannot restore: the
 *      input is decided again if it still holds what that needs;
 *   3. otherwise read lots.events p from its start, and for each entry
 *      L+1..n decide it again through the rules' own code on the state
 *      restored so far: it must be accepted (a changelog that disagrees
 *      with the rules stops, naming the position), and it is appended and
 *      applied exactly as the consumer does (the rules give the
 *      quantities the move leaves, which lots.quantities carries too but
 *      compaction removes its old records; the mark gives the input
 *      offset and stamp). The rejections are applied between the entries in
 * input offset order, as they were decided: stored, their seen records written,
 * their changelog records kept;
 *   4. the input resumes at o + 1: what lies after the mark is decided
 *      again, identically (a task is deterministic).
 *
 * Restored items are committed in batches of RESTORE_BATCH_ITEMS with the
 * input offset after the last one: a crash mid-restore leaves the task as
 * deciding would have left it at that offset, and the next assignment
 * restores the rest.
 *
 * lots.rejected: the old owner committed an input offset to the group
 * only once every rejection before it was acknowledged by Kafka
 * (command.c), so the restored rejections from the group's committed
 * offset on may never have been sent. Their records are rebuilt from the
 * input records at their offsets (the same bytes the old owner built) and
 * go to the outbox with the rejection: a repeat at worst, never a loss,
 * as long as the input still holds them (else a warning counts them).
 *
 * Nothing is decided from a truncated history: a changelog without a mark
 * or that lost its head (retention), or a lots.events that begins after
 * task position L + 1, leaves the input to be decided again when it still
 * holds what that needs; otherwise, or when the input begins after o + 1,
 * the restore stops with LL_ERR_CONFIG naming the partition, the
 * positions and the offsets, never a half task. */
#include "command_restore.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command_entry.h"
#include "ll_changelog.h"
#include "ll_event.h"
#include "ll_logging.h"
#include "ll_mem.h"
#include "ll_state.h"
#include "ll_time.h"

#define RESTORE_BATCH_ITEMS 2000 /* entries and rejections per write */
#define RESTORE_STALL_MS 30000   /* no record and no end for this long */
#define RESTORE_POLL_MS 100
#define RESTORE_WATERMARK_MS 5000
#define RESTORE_PROGRESS_NS 2000000000ull /* a progress line every 2 s */
#define RESTORE_GROUP_MAX 300             /* bytes */
/* How long the broker may hold a fetch that finds nothing: the end of a
 * partition is known only once a fetch comes back empty, and a restore
 * reads several partitions to their ends one after the other. */
#define RESTORE_FETCH_WAIT_MAX_MS "5"
#define POSITION_HEADER "lotline-position"
#define POSITION_STR_MAX 24

/* ---- reading one partition to its end ---- */

/* 0: go on, 1: stop here, -1: fail (err set). */
typedef int (*record_fn)(void *ctx, const rd_kafka_message_t *m, ll_err *err);

static rd_kafka_t *new_reader(const cmd_restore_opts *o, ll_err *err) {
  char errstr[512], group[RESTORE_GROUP_MAX];
  snprintf(group, sizeof group, "%s-restore",
           ll_config_get(o->cfg, "group.id"));
  const char *settings[][2] = {
      {"bootstrap.servers", o->brokers},
      {"group.id", group},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"isolation.level", "read_committed"},
      {"enable.partition.eof", "true"},
      {"fetch.wait.max.ms", RESTORE_FETCH_WAIT_MAX_MS},
      {"client.id", "lotline-restore"},
  };
  rd_kafka_conf_t *conf = ll_kafka_conf_new(
      settings, sizeof settings / sizeof settings[0], o->cfg, "restore", err);
  if (conf == NULL)
    return NULL;
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (rk == NULL)
    ll_fail(err, LL_ERR_KAFKA, "restore: cannot create a consumer: %s", errstr);
  return rk;
}

static int watermarks(rd_kafka_t *rk, const char *topic, int32_t p, int64_t *lo,
                      int64_t *hi, ll_err *err) {
  rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
      rk, topic, p, lo, hi, RESTORE_WATERMARK_MS);
  if (e)
    return ll_fail(err, LL_ERR_KAFKA, "restore: where %s/%d begins: %s", topic,
                   (int)p, rd_kafka_err2str(e));
  return 0;
}

/* fn for every record of topic/p from offset `from` to the end (the last
 * stable offset: read_committed), or until fn stops. */
static int read_partition(rd_kafka_t *rk, const char *topic, int32_t p,
                          int64_t from, record_fn fn, void *ctx, ll_err *err) {
  rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, topic, p)->offset = from;
  rd_kafka_resp_err_t e = rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (e)
    return ll_fail(err, LL_ERR_KAFKA, "restore: cannot read %s/%d: %s", topic,
                   (int)p, rd_kafka_err2str(e));
  int rc = 0;
  uint64_t stall_at = ll_mono_ns() + RESTORE_STALL_MS * 1000000ull;
  while (rc == 0) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, RESTORE_POLL_MS);
    if (m == NULL) {
      if (ll_mono_ns() > stall_at)
        rc = ll_fail(err, LL_ERR_TIMEOUT,
                     "restore: %s/%d: nothing read for %d s", topic, (int)p,
                     RESTORE_STALL_MS / 1000);
      continue;
    }
    stall_at = ll_mono_ns() + RESTORE_STALL_MS * 1000000ull;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
      rc = 1;
    else if (m->err)
      ll_log(LL_WARN, "restore", "%s/%d: %s", topic, (int)p,
             rd_kafka_message_errstr(m));
    else
      rc = fn(ctx, m, err);
    rd_kafka_message_destroy(m);
  }
  rd_kafka_assign(rk, NULL);
  return rc < 0 ? -1 : 0;
}

/* A record's lotline-position; false without one. */
static bool record_position(const rd_kafka_message_t *m, uint64_t *out) {
  rd_kafka_headers_t *hdrs = NULL;
  const void *v = NULL;
  size_t n = 0;
  if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      rd_kafka_header_get_last(hdrs, POSITION_HEADER, &v, &n) !=
          RD_KAFKA_RESP_ERR_NO_ERROR ||
      v == NULL || n == 0 || n >= POSITION_STR_MAX)
    return false;
  uint64_t x = 0;
  for (size_t i = 0; i < n; i++) {
    char c = ((const char *)v)[i];
    if (c < '0' || c > '9')
      return false;
    x = x * 10 + (uint64_t)(c - '0');
  }
  *out = x;
  return true;
}

/* ---- the changelog ---- */

typedef struct chg_rejection {
  int64_t offset;
  size_t at, len; /* its record in changelog.bytes */
} chg_rejection;

/* An input record a restored rejection's lots.rejected record needs. */
typedef struct input_rec {
  int64_t offset;
  bool has_key;
  size_t at, key_len, value_len; /* key then value in changelog.inputs */
} input_rec;

typedef struct changelog {
  uint64_t base; /* the local task position L */
  int64_t after; /* the local input offset l: older rejections are held */
  int64_t lo;    /* where the topic's partition begins */
  bool marked;   /* a mark was read */
  int64_t o;     /* the last mark's */
  uint64_t n;
  ll_chg_entry *info; /* [i]: entry base + 1 + i, if covered[i] */
  bool *covered;
  size_t cap_info;
  chg_rejection *rej;
  size_t n_rej, cap_rej;
  ll_buf bytes;
  /* The rejections from this input offset on are sent again (-1: none),
   * with these input records (in offset order). */
  int64_t resend_from;
  input_rec *in;
  size_t n_in, cap_in;
  ll_buf inputs;
} changelog;

static void changelog_free(changelog *c) {
  free(c->in);
  ll_buf_free(&c->inputs);
  free(c->info);
  free(c->covered);
  free(c->rej);
  ll_buf_free(&c->bytes);
}

static void note_entries(changelog *c, const ll_chg_mark *m) {
  uint64_t first = m->position - m->n_entries + 1;
  for (size_t i = 0; i < m->n_entries; i++) {
    uint64_t pos = first + i;
    if (pos <= c->base)
      continue;
    size_t at = (size_t)(pos - c->base - 1);
    if (at >= c->cap_info) {
      size_t cap = c->cap_info ? c->cap_info : 1024;
      while (cap <= at)
        cap *= 2;
      c->info = ll_xrealloc(c->info, cap * sizeof *c->info);
      c->covered = ll_xrealloc(c->covered, cap * sizeof *c->covered);
      memset(c->covered + c->cap_info, 0,
             (cap - c->cap_info) * sizeof *c->covered);
      c->cap_info = cap;
    }
    c->info[at] = m->entries[i];
    c->covered[at] = true;
  }
}

static void note_rejection(changelog *c, int64_t offset, const void *v,
                           size_t len) {
  if (offset <= c->after)
    return; /* the local task holds it */
  if (c->n_rej == c->cap_rej) {
    c->cap_rej = c->cap_rej ? c->cap_rej * 2 : 256;
    c->rej = ll_xrealloc(c->rej, c->cap_rej * sizeof *c->rej);
  }
  c->rej[c->n_rej++] = (chg_rejection){offset, c->bytes.len, len};
  ll_buf_put(&c->bytes, v, len);
}

static int take_changelog_record(void *ctx, const rd_kafka_message_t *m,
                                 ll_err *err) {
  changelog *c = ctx;
  char kind = ll_chg_kind(m->payload, m->len);
  if (kind == LL_CHANGELOG_MARK) {
    ll_chg_mark mark;
    if (!ll_chg_decode_mark(m->payload, m->len, &mark))
      return ll_fail(err, LL_ERR_CORRUPT,
                     "restore: the mark at offset %lld of %s/%d does not "
                     "decode",
                     (long long)m->offset, rd_kafka_topic_name(m->rkt),
                     (int)m->partition);
    note_entries(c, &mark);
    c->marked = true;
    c->o = mark.offset;
    c->n = mark.position;
    ll_chg_mark_free(&mark);
    return 0;
  }
  ll_chg_rejection r;
  if (kind != LL_CHANGELOG_REJECTION ||
      !ll_chg_decode_rejection(m->payload, m->len, &r))
    return ll_fail(err, LL_ERR_CONFIG,
                   "restore: the record at offset %lld of %s/%d is not a "
                   "changelog record this version reads (version byte %d)",
                   (long long)m->offset, rd_kafka_topic_name(m->rkt),
                   (int)m->partition,
                   m->len > 0 ? (int)((const uint8_t *)m->payload)[0] : -1);
  note_rejection(c, r.offset, m->payload, m->len);
  ll_chg_rejection_free(&r);
  return 0;
}

static int by_offset(const void *a, const void *b) {
  int64_t x = ((const chg_rejection *)a)->offset;
  int64_t y = ((const chg_rejection *)b)->offset;
  return x < y ? -1 : x > y;
}

/* In offset order, each once: a repeat (an interrupted transaction
 * written again) is the same rejection. Those after the last mark are
 * decided again from the input. */
static void settle_rejections(changelog *c) {
  if (c->n_rej == 0)
    return; /* c->rej may be NULL, which qsort may not be given */
  qsort(c->rej, c->n_rej, sizeof *c->rej, by_offset);
  size_t k = 0;
  for (size_t i = 0; i < c->n_rej; i++) {
    if (c->rej[i].offset > c->o)
      break;
    if (k > 0 && c->rej[k - 1].offset == c->rej[i].offset)
      continue;
    c->rej[k++] = c->rej[i];
  }
  c->n_rej = k;
}

static int read_changelog(const cmd_restore_opts *o, rd_kafka_t *rk, int32_t p,
                          changelog *c, ll_err *err) {
  int64_t hi = 0;
  if (watermarks(rk, o->topics->changelog, p, &c->lo, &hi, err) != 0)
    return -1;
  if (c->lo < hi && read_partition(rk, o->topics->changelog, p, c->lo,
                                   take_changelog_record, c, err) != 0)
    return -1;
  settle_rejections(c);
  return 0;
}

/* ---- the rejections lots.rejected may lack ---- */

/* The group's committed offset of p: the old owner's acknowledged
 * progress (-1: none known, every rejection may be unsent). */
static int64_t acknowledged(const cmd_restore_opts *o, int32_t p) {
  if (o->group == NULL)
    return -1;
  rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, o->topics->inbound, p);
  int64_t at = -1;
  if (rd_kafka_committed(o->group, list, RESTORE_WATERMARK_MS) ==
          RD_KAFKA_RESP_ERR_NO_ERROR &&
      list->elems[0].err == 0 && list->elems[0].offset >= 0)
    at = list->elems[0].offset;
  rd_kafka_topic_partition_list_destroy(list);
  return at;
}

/* The index of the first of n items (each `size` bytes, sorted by the
 * int64_t input offset at byte `at` of each) whose offset is not below
 * `offset`; n when there is none. */
static size_t first_at_or_after(const void *items, size_t n, size_t size,
                                size_t at, int64_t offset) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int64_t o;
    memcpy(&o, (const char *)items + mid * size + at, sizeof o);
    if (o < offset)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static bool rejected_at(const changelog *c, int64_t offset) {
  size_t i = first_at_or_after(c->rej, c->n_rej, sizeof *c->rej,
                               offsetof(chg_rejection, offset), offset);
  return i < c->n_rej && c->rej[i].offset == offset;
}

static int take_input(void *ctx, const rd_kafka_message_t *m, ll_err *err) {
  (void)err;
  changelog *c = ctx;
  if (m->offset > c->o)
    return 1;
  if (!rejected_at(c, m->offset))
    return 0;
  if (c->n_in == c->cap_in) {
    c->cap_in = c->cap_in ? c->cap_in * 2 : 64;
    c->in = ll_xrealloc(c->in, c->cap_in * sizeof *c->in);
  }
  c->in[c->n_in++] =
      (input_rec){m->offset, m->key != NULL, c->inputs.len, m->key_len, m->len};
  ll_buf_put(&c->inputs, m->key, m->key_len);
  ll_buf_put(&c->inputs, m->payload, m->len);
  return m->offset == c->o ? 1 : 0;
}

/* The input records of the restored rejections from the group's
 * committed offset on. */
static int read_unsent(const cmd_restore_opts *o, rd_kafka_t *rk, int32_t p,
                       changelog *c, ll_err *err) {
  int64_t from = acknowledged(o, p);
  c->resend_from = from < 0 ? 0 : from;
  if (c->resend_from < c->after + 1)
    c->resend_from = c->after + 1;
  if (c->n_rej == 0 || c->rej[c->n_rej - 1].offset < c->resend_from)
    return 0;
  int64_t lo = 0, hi = 0;
  if (watermarks(rk, o->topics->inbound, p, &lo, &hi, err) != 0)
    return -1;
  if (lo > c->resend_from)
    ll_log(LL_WARN, "restore",
           "%s/%d begins at offset %lld: the rejections restored between "
           "offsets %lld and %lld, which %s may not have received from the "
           "old owner, cannot be sent again",
           o->topics->inbound, (int)p, (long long)lo, (long long)c->resend_from,
           (long long)lo, o->topics->rejected);
  int64_t start = lo > c->resend_from ? lo : c->resend_from;
  if (start > c->o || start >= hi)
    return 0;
  return read_partition(rk, o->topics->inbound, p, start, take_input, c, err);
}

static const input_rec *input_of(const changelog *c, int64_t offset) {
  size_t i = first_at_or_after(c->in, c->n_in, sizeof *c->in,
                               offsetof(input_rec, offset), offset);
  return i < c->n_in && c->in[i].offset == offset ? &c->in[i] : NULL;
}

/* ---- applying what is restored ---- */

typedef struct restore_run {
  const cmd_restore_opts *o;
  cmd_restore_task *t;
  changelog *c;
  ll_store_batch *batch;
  size_t in_batch;
  int64_t last_offset; /* the input offset of the last item applied */
  uint64_t position;   /* the task position of the last entry applied */
  size_t next_rej;     /* the next rejection of c->rej to apply */
  ll_mutations muts;
  uint64_t started_ns, logged_ns;
  ll_buf record; /* a lots.rejected record being rebuilt */
  size_t cap_resend;
} restore_run;

static int commit_restored(restore_run *r, bool sync, ll_err *err) {
  if (r->batch == NULL)
    return 0;
  ll_store_batch_offset(r->batch, r->o->cluster_id, r->o->topics->inbound,
                        r->t->partition, r->last_offset + 1);
  int rc = ll_store_batch_commit(r->batch, sync, err);
  r->batch = NULL;
  r->in_batch = 0;
  return rc;
}

static int open_batch(restore_run *r, ll_err *err) {
  if (r->batch != NULL && r->in_batch >= RESTORE_BATCH_ITEMS &&
      commit_restored(r, false, err) != 0)
    return -1;
  if (r->batch == NULL)
    r->batch = ll_store_batch_begin(r->o->store);
  r->in_batch++;
  return 0;
}

/* A stamp earlier than the task's clock: the changelog is not this
 * task's, or the store's. */
static int check_stamp(restore_run *r, int64_t stamp_ms, int64_t offset,
                       ll_err *err) {
  int64_t clock = ll_store_batch_task_clock(r->batch, r->t->partition);
  if (stamp_ms >= clock)
    return 0;
  return ll_fail(err, LL_ERR_CONFIG,
                 "restore: %s/%d: the changelog stamps input offset %lld at "
                 "%lld ms, before the task's clock (%lld ms): it is not this "
                 "task's changelog",
                 r->o->topics->inbound, (int)r->t->partition, (long long)offset,
                 (long long)stamp_ms, (long long)clock);
}

/* The rejection's lots.rejected record, rebuilt from its input record,
 * into the outbox under its sequence (see the top of the file). */
static int resend(restore_run *r, const ll_chg_rejection *rej,
                  uint64_t sequence, ll_err *err) {
  const input_rec *in = input_of(r->c, rej->offset);
  if (rej->offset < r->c->resend_from || in == NULL)
    return 0;
  uint8_t *bytes = r->c->inputs.data + in->at;
  ll_rejection out = {.event_id = rej->event_id,
                      .code = rej->code,
                      .message = rej->message,
                      .topic = (char *)r->o->topics->inbound,
                      .partition = r->t->partition,
                      .offset = rej->offset,
                      .rejected_at_ms = rej->rejected_at_ms,
                      .key = in->has_key ? bytes : NULL,
                      .key_len = in->key_len,
                      .value = bytes + in->key_len,
                      .value_len = in->value_len};
  ll_buf_reset(&r->record);
  if (ll_codec_encode_rejection(r->o->codec, &out, &r->record, err) != 0)
    return -1;
  ll_store_batch_outbox(r->batch, sequence, out.key, out.key_len, in->has_key,
                        r->record.data, r->record.len);
  cmd_restore_task *t = r->t;
  if (t->n_resend == r->cap_resend) {
    r->cap_resend = r->cap_resend ? r->cap_resend * 2 : 64;
    t->resend = ll_xrealloc(t->resend, r->cap_resend * sizeof *t->resend);
  }
  t->resend[t->n_resend++] = sequence;
  return 0;
}

static int apply_rejection(restore_run *r, const chg_rejection *cr,
                           ll_err *err) {
  ll_chg_rejection rej;
  if (!ll_chg_decode_rejection(r->c->bytes.data + cr->at, cr->len, &rej))
    return ll_fail(err, LL_ERR_INTERNAL, "restore: a rejection read back");
  int rc = open_batch(r, err);
  if (rc == 0)
    rc = check_stamp(r, rej.rejected_at_ms, rej.offset, err);
  if (rc == 0) {
    ll_stored_rejection sr = {.rejected_at_ms = rej.rejected_at_ms,
                              .event_id = rej.event_id,
                              .code = rej.code,
                              .message = rej.message,
                              .topic = (char *)r->o->topics->inbound,
                              .partition = r->t->partition,
                              .offset = rej.offset};
    uint64_t sequence = ll_store_batch_reject(r->batch, &sr);
    rc = resend(r, &rej, sequence, err);
    ll_mutations_reset(&r->muts);
    if (rej.seen_key_len > 0)
      ll_mutations_put(&r->muts, rej.seen_key, rej.seen_key_len, rej.seen_value,
                       rej.seen_value_len);
    ll_store_batch_mutate(r->batch, &r->muts);
    ll_store_batch_changelog(r->batch, r->t->partition, &rej);
    r->last_offset = rej.offset;
    r->t->rejections++;
  }
  ll_chg_rejection_free(&rej);
  return rc;
}

/* The rejections decided before input offset `before` (-1: up to the
 * mark's offset). */
static int apply_rejections_before(restore_run *r, int64_t before,
                                   ll_err *err) {
  while (r->next_rej < r->c->n_rej &&
         (before < 0 || r->c->rej[r->next_rej].offset < before)) {
    if (apply_rejection(r, &r->c->rej[r->next_rej], err) != 0)
      return -1;
    r->next_rej++;
  }
  return 0;
}

static int disagree(restore_run *r, uint64_t n, int64_t offset,
                    const ll_decision *d, ll_err *err) {
  return ll_fail(err, LL_ERR_CONFIG,
                 "restore: %s/%d: the rules do not accept the changelog's "
                 "entry at task position %" PRIu64
                 " (input offset %lld) again: %s%s%s. lots.events and "
                 "lots.changelog do not belong to this task's rules or "
                 "history; restore from a backup of a data directory "
                 "(docs/operations.md)",
                 r->o->topics->inbound, (int)r->t->partition, n,
                 (long long)offset,
                 d->duplicate ? "a duplicate" : ll_code_name(d->code),
                 d->duplicate ? "" : ": ", d->duplicate ? "" : d->message);
}

/* Decide entry n again, from the event as it arrived (command_entry.h),
 * then append and apply it as the consumer does. */
static int apply_entry(restore_run *r, uint64_t n, ll_event *ev, ll_err *err) {
  const ll_chg_entry *info = &r->c->info[n - r->c->base - 1];
  cmd_entry_as_received(ev, info->flags);
  if (apply_rejections_before(r, info->offset, err) != 0 ||
      open_batch(r, err) != 0 ||
      check_stamp(r, info->recorded_at_ms, info->offset, err) != 0)
    return -1;
  ll_state_reader reader = ll_store_batch_reader(r->batch);
  ll_facts facts;
  ll_decision d;
  ll_facts_init(&facts);
  ll_decision_init(&d);
  int rc = ll_facts_load(&reader, ev, &facts, err);
  if (rc == 0)
    ll_decide(&facts, ev, r->o->rule_opts, &d);
  if (rc == 0 && (d.duplicate || !d.accepted))
    rc = disagree(r, n, info->offset, &d, err);
  if (rc == 0) {
    ll_event filled;
    uint8_t flags;
    const ll_event *logged = cmd_entry_event(ev, &d, &filled, &flags);
    ll_input in = {r->o->topics->inbound, r->t->partition, info->offset};
    ll_move_after after = {d.from_qty_micro, d.to_qty_micro};
    uint64_t local = ll_store_batch_append_decided(
        r->batch, logged, &in, info->recorded_at_ms,
        ev->type == LL_EV_STOCK_MOVED ? &after : NULL, flags);
    if (logged != ev)
      ll_event_free(&filled);
    ll_log_at at = {local, r->t->partition, n};
    ll_mutations_reset(&r->muts);
    ll_decision_mutations(ev, &d, &at, &r->muts);
    ll_store_batch_mutate(r->batch, &r->muts);
    r->last_offset = info->offset;
    r->position = n;
    r->t->entries++;
  }
  ll_decision_free(&d);
  ll_facts_free(&facts);
  return rc;
}

static void log_progress(restore_run *r, bool done) {
  uint64_t now = ll_mono_ns();
  if (!done && now - r->logged_ns < RESTORE_PROGRESS_NS)
    return;
  r->logged_ns = now;
  double s = (double)(now - r->started_ns) / 1e9;
  ll_log(LL_INFO, "restore",
         "%s %s/%d: %" PRIu64 " of %" PRIu64 " entries and %" PRIu64
         " rejection(s) in %.3f s (%.0f entries/s)",
         done ? "restored" : "restoring", r->o->topics->inbound,
         (int)r->t->partition, r->t->entries, r->c->n - r->c->base,
         r->t->rejections, s, s > 0 ? (double)r->t->entries / s : 0.0);
}

/* One record of lots.events: the entry at its position, when it is the
 * next one; a repeat (an earlier position) is passed over. */
static int take_event(void *ctx, const rd_kafka_message_t *m, ll_err *err) {
  restore_run *r = ctx;
  uint64_t n = 0;
  if (!record_position(m, &n) || n <= r->position)
    return 0;
  if (n != r->position + 1)
    return ll_fail(err, LL_ERR_CONFIG,
                   "restore: %s/%d holds task position %" PRIu64
                   " after %" PRIu64 " (offset %lld): positions are missing, "
                   "the task cannot be restored from it",
                   rd_kafka_topic_name(m->rkt), (int)m->partition, n,
                   r->position, (long long)m->offset);
  ll_event ev;
  ll_event_init(&ev);
  bool retry = false;
  ll_err e = {0};
  ll_code code =
      ll_codec_decode(r->o->codec, m->payload, m->len, &ev, &retry, &e);
  int rc = 0;
  if (retry || code != LL_OK)
    rc = ll_fail(err, retry ? e.kind : LL_ERR_CONFIG,
                 "restore: %s/%d: the entry at task position %" PRIu64
                 " does not decode: %s",
                 rd_kafka_topic_name(m->rkt), (int)m->partition, n, e.message);
  else
    rc = apply_entry(r, n, &ev, err);
  ll_event_free(&ev);
  if (rc == 0) {
    command_metrics_restored(r->o->metrics, 1, 0);
    log_progress(r, false);
  }
  return rc != 0 ? -1 : r->position == r->c->n ? 1 : 0;
}

/* ---- deciding what to do ---- */

/* The changelog cannot restore the task: decide the input again if it
 * still holds what that needs (warning when the changelog had marks),
 * else stop. */
static int fall_back(const cmd_restore_opts *o, rd_kafka_t *rk,
                     const cmd_restore_task *t, const changelog *c,
                     const char *why, ll_err *err) {
  int64_t lo = 0, hi = 0;
  if (watermarks(rk, o->topics->inbound, t->partition, &lo, &hi, err) != 0)
    return -1;
  int64_t need = t->have_offset ? t->next : 0;
  if (lo <= need || o->allow_truncated) {
    if (!c->marked)
      return 0; /* nothing was ever published with marks: as always */
    ll_log(LL_WARN, "restore",
           "%s/%d: %s: deciding the input again from offset %lld",
           o->topics->inbound, (int)t->partition, why,
           (long long)(need > lo ? need : lo));
    return 0;
  }
  return ll_fail(err, LL_ERR_CONFIG,
                 "%s/%d cannot be restored: %s, and the input begins at "
                 "offset %lld, after offset %lld that deciding it again "
                 "needs (retention). Start from a backup of a data directory "
                 "that holds the partition (docs/operations.md, \"Backup and "
                 "restore\"), or set input.allow_truncated = true to decide "
                 "it from its oldest remaining event, knowingly",
                 o->topics->inbound, (int)t->partition, why, (long long)lo,
                 (long long)need);
}

/* The first task position after the local task that no mark covers
 * (0: every one up to the last mark is). */
static uint64_t first_uncovered(const changelog *c) {
  for (uint64_t pos = c->base + 1; pos <= c->n; pos++) {
    size_t at = (size_t)(pos - c->base - 1);
    if (at >= c->cap_info || !c->covered[at])
      return pos;
  }
  return 0;
}

/* The first task position lots.events p holds (0: none). */
static int take_first_position(void *ctx, const rd_kafka_message_t *m,
                               ll_err *err) {
  (void)err;
  return record_position(m, (uint64_t *)ctx) ? 1 : 0;
}

static int events_begin(const cmd_restore_opts *o, rd_kafka_t *rk, int32_t p,
                        uint64_t *first, ll_err *err) {
  int64_t lo = 0, hi = 0;
  *first = 0;
  if (watermarks(rk, o->topics->events, p, &lo, &hi, err) != 0)
    return -1;
  if (lo == 0 || lo >= hi)
    return 0; /* from its start: position 1 is there if any is */
  return read_partition(rk, o->topics->events, p, lo, take_first_position,
                        first, err);
}

/* *go: the changelog is beyond the local task and can restore it. */
static int plan(const cmd_restore_opts *o, rd_kafka_t *rk,
                const cmd_restore_task *t, const changelog *c, bool *go,
                ll_err *err) {
  char why[LL_MESSAGE_MAX_BYTES];
  *go = false;
  if (!c->marked) {
    snprintf(why, sizeof why,
             "%s/%d holds no mark (nothing decided from it was published "
             "by this version) and the local task stands at task position "
             "%" PRIu64,
             o->topics->changelog, (int)t->partition, c->base);
    return fall_back(o, rk, t, c, why, err);
  }
  if (c->n < c->base || (c->n == c->base && c->o <= c->after))
    return 0; /* nothing beyond the local task */
  uint64_t gap = first_uncovered(c);
  if (c->lo > 0) {
    snprintf(why, sizeof why,
             "%s/%d begins at offset %lld (retention deleted its first "
             "records) and the local task stands at task position %" PRIu64,
             o->topics->changelog, (int)t->partition, (long long)c->lo,
             c->base);
    return fall_back(o, rk, t, c, why, err);
  }
  if (gap != 0) {
    snprintf(why, sizeof why,
             "no mark of %s/%d names the input offset of task position "
             "%" PRIu64 " (published by an older version)",
             o->topics->changelog, (int)t->partition, gap);
    return fall_back(o, rk, t, c, why, err);
  }
  uint64_t first = 0;
  if (events_begin(o, rk, t->partition, &first, err) != 0)
    return -1;
  if (first > c->base + 1) {
    snprintf(why, sizeof why,
             "%s/%d begins at task position %" PRIu64
             " (retention deleted its first records) and the local task "
             "stands at task position %" PRIu64,
             o->topics->events, (int)t->partition, first, c->base);
    return fall_back(o, rk, t, c, why, err);
  }
  int64_t lo = 0, hi = 0;
  if (watermarks(rk, o->topics->inbound, t->partition, &lo, &hi, err) != 0)
    return -1;
  if (lo > c->o + 1 && !o->allow_truncated)
    return ll_fail(err, LL_ERR_CONFIG,
                   "%s/%d cannot be restored: %s/%d restores it up to input "
                   "offset %lld (task position %" PRIu64
                   "), but the input begins at offset %lld: the events "
                   "between were deleted by retention before any instance "
                   "published them. Start from a backup of a data directory "
                   "that holds the partition (docs/operations.md, \"Backup "
                   "and restore\"), or set input.allow_truncated = true to go "
                   "on without them, knowingly",
                   o->topics->inbound, (int)t->partition, o->topics->changelog,
                   (int)t->partition, (long long)c->o, c->n, (long long)lo);
  *go = true;
  return 0;
}

/* ---- the restore ---- */

static int read_entries(restore_run *r, rd_kafka_t *rk, ll_err *err) {
  const cmd_restore_opts *o = r->o;
  int64_t lo = 0, hi = 0;
  if (watermarks(rk, o->topics->events, r->t->partition, &lo, &hi, err) != 0 ||
      read_partition(rk, o->topics->events, r->t->partition, lo, take_event, r,
                     err) != 0)
    return -1;
  if (r->position == r->c->n)
    return 0;
  return ll_fail(err, LL_ERR_CONFIG,
                 "%s/%d cannot be restored: %s/%d (offsets %lld..%lld) ends "
                 "at task position %" PRIu64 ", before task position %" PRIu64
                 " that the last mark of %s/%d names",
                 o->topics->inbound, (int)r->t->partition, o->topics->events,
                 (int)r->t->partition, (long long)lo, (long long)hi,
                 r->position, r->c->n, o->topics->changelog,
                 (int)r->t->partition);
}

static int run_restore(const cmd_restore_opts *o, rd_kafka_t *rk,
                       cmd_restore_task *t, changelog *c, ll_err *err) {
  restore_run r = {.o = o, .t = t, .c = c};
  r.last_offset = c->after;
  r.position = c->base;
  r.started_ns = t->started_ns;
  r.logged_ns = ll_mono_ns();
  ll_mutations_init(&r.muts);
  ll_buf_init(&r.record);
  command_metrics_restoring(o->metrics, t->partition, true);
  ll_log(LL_INFO, "restore",
         "restoring %s/%d from %s and %s: task positions %" PRIu64 "..%" PRIu64
         ", %zu rejection(s), up to input offset %lld",
         o->topics->inbound, (int)t->partition, o->topics->events,
         o->topics->changelog, c->base + 1, c->n, c->n_rej, (long long)c->o);
  int rc = read_unsent(o, rk, t->partition, c, err);
  if (rc == 0 && c->n > c->base)
    rc = read_entries(&r, rk, err);
  if (rc == 0)
    rc = apply_rejections_before(&r, -1, err);
  if (rc == 0) {
    if (r.batch == NULL)
      r.batch = ll_store_batch_begin(o->store);
    r.last_offset = c->o; /* what lies between was a duplicate: no trace */
    rc = commit_restored(&r, true, err);
  }
  if (r.batch != NULL)
    ll_store_batch_abort(r.batch);
  command_metrics_restored(o->metrics, 0, t->rejections);
  command_metrics_restoring(o->metrics, t->partition, false);
  ll_mutations_free(&r.muts);
  ll_buf_free(&r.record);
  if (rc != 0) {
    free(t->resend);
    t->resend = NULL;
    t->n_resend = 0;
    return -1;
  }
  log_progress(&r, true);
  t->restored = true;
  t->have_offset = true;
  t->next = c->o + 1;
  return 0;
}

/* A task held locally (a standby's copy, a former owner's) whose input
 * the partition still holds is decided from where it stands: its tail is
 * short, and reading the input there costs less than finding the tail in
 * lots.events. */
static int local_suffices(const cmd_restore_opts *o, rd_kafka_t *rk,
                          const cmd_restore_task *t, bool *yes, ll_err *err) {
  int64_t lo = 0, hi = 0;
  *yes = false;
  if (!t->have_offset)
    return 0;
  if (watermarks(rk, o->topics->inbound, t->partition, &lo, &hi, err) != 0)
    return -1;
  *yes = lo <= t->next;
  return 0;
}

int cmd_restore(const cmd_restore_opts *o, cmd_restore_task *t, ll_err *err) {
  t->started_ns = ll_mono_ns();
  t->restored = false;
  t->entries = t->rejections = 0;
  if (o->topics->changelog == NULL)
    return 0;
  ll_task_last last;
  ll_store_task_last(o->store, t->partition, &last);
  changelog c = {.base = last.position,
                 .after = t->have_offset ? t->next - 1 : -1};
  bool go = false, local = false;
  /* Asked through the group's consumer when there is one: a partition
   * assigned again to the instance that holds it costs no new client. */
  if (o->group != NULL && local_suffices(o, o->group, t, &local, err) != 0)
    return -1;
  if (local)
    return 0;
  ll_buf_init(&c.bytes);
  ll_buf_init(&c.inputs);
  rd_kafka_t *rk = new_reader(o, err);
  if (rk == NULL)
    return -1;
  int rc = o->group == NULL ? local_suffices(o, rk, t, &local, err) : 0;
  if (rc == 0 && !local)
    rc = read_changelog(o, rk, t->partition, &c, err);
  if (rc == 0 && !local)
    rc = plan(o, rk, t, &c, &go, err);
  if (rc == 0 && go)
    rc = run_restore(o, rk, t, &c, err);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  changelog_free(&c);
  return rc;
}
