/* crash_check.c — see crash_check.h. Test-only code: every check counts
 * its mismatches and prints the first CC_REPORT_MAX of each kind, so a
 * failing run says what went wrong, not only that something did. */
#include "crash_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "harness.h"
#include "ll_codec.h"
#include "ll_event.h"
#include "ll_mem.h"

#define CC_REPORT_MAX 10
#define CC_READ_CHUNK 1024
#define CC_LINE_MAX 1024

/* ---- reporting ---- */

typedef struct cc_report {
  const char *what;
  int count;
} cc_report;

static void mismatch(cc_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void mismatch(cc_report *r, const char *fmt, ...) {
  if (r->count++ < CC_REPORT_MAX) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "MISMATCH %s: ", r->what);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
  }
}

static int report_done(const cc_report *r) {
  if (r->count > CC_REPORT_MAX)
    fprintf(stderr, "MISMATCH %s: ... %d in all\n", r->what, r->count);
  return r->count;
}

static bool str_eq(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* ---- expectations ---- */

static int cmp_lot(const void *a, const void *b) {
  return strcmp(((const cc_lot *)a)->lot_id, ((const cc_lot *)b)->lot_id);
}

static int cmp_loc(const void *a, const void *b) {
  return strcmp(((const cc_loc *)a)->location, ((const cc_loc *)b)->location);
}

static cc_lot *find_lot(const cc_expect *x, const char *lot_id) {
  cc_lot key = {.lot_id = (char *)lot_id};
  return bsearch(&key, x->lots, x->n_lots, sizeof key, cmp_lot);
}

static int load_msg(cc_expect *x, const char *line, ll_err *err) {
  int partition;
  long long offset;
  char outcome[64], event_id[CC_LINE_MAX];
  if (sscanf(line, "M %d %lld %63s %1023s", &partition, &offset, outcome,
             event_id) != 4 ||
      partition < 0 || partition >= CC_PARTITIONS_MAX || offset < 0)
    return ll_fail(err, LL_ERR_CORRUPT, "bad message line: %s", line);
  if (offset != x->count[partition])
    return ll_fail(err, LL_ERR_CORRUPT,
                   "partition %d: offset %lld where %lld was expected "
                   "(the producer's offsets must be dense)",
                   partition, offset, (long long)x->count[partition]);
  int64_t n = x->count[partition]++;
  x->by_partition[partition] =
      ll_xrealloc(x->by_partition[partition], (size_t)(n + 1) * sizeof(cc_msg));
  cc_msg *m = &x->by_partition[partition][n];
  m->event_id = strcmp(event_id, "-") == 0 ? NULL : ll_strdup(event_id);
  if (strcmp(outcome, "ACCEPTED") == 0) {
    m->outcome = CC_OUTCOME_ACCEPTED;
    x->accepted++;
  } else if (strcmp(outcome, "DUPLICATE") == 0) {
    m->outcome = CC_OUTCOME_DUPLICATE;
    x->duplicates++;
  } else {
    ll_code code;
    if (!ll_code_parse(outcome, &code))
      return ll_fail(err, LL_ERR_CORRUPT, "unknown outcome %s", outcome);
    m->outcome = (int)code;
    x->rejected++;
  }
  if (partition >= x->n_partitions)
    x->n_partitions = partition + 1;
  x->messages++;
  return 0;
}

static int load_lot(cc_expect *x, const char *line, ll_err *err) {
  char lot_id[256], product[256], tracking[16], desc[256];
  long long version, moves, on_hand, created, updated;
  if (sscanf(line, "L %255s %255s %15s %lld %lld %lld %lld %lld %255s", lot_id,
             product, tracking, &version, &moves, &on_hand, &created, &updated,
             desc) != 9)
    return ll_fail(err, LL_ERR_CORRUPT, "bad lot line: %s", line);
  x->lots = ll_xrealloc(x->lots, (x->n_lots + 1) * sizeof *x->lots);
  cc_lot *l = &x->lots[x->n_lots++];
  memset(l, 0, sizeof *l);
  l->lot_id = ll_strdup(lot_id);
  l->product_id = ll_strdup(product);
  l->description = strcmp(desc, "-") == 0 ? NULL : ll_strdup(desc);
  if (!ll_tracking_parse(tracking, &l->tracking))
    return ll_fail(err, LL_ERR_CORRUPT, "bad tracking: %s", line);
  l->version = version;
  l->move_count = moves;
  l->on_hand_micro = on_hand;
  l->created_at_ms = created;
  l->updated_at_ms = updated;
  return 0;
}

static int load_qty(cc_expect *x, const char *line, ll_err *err) {
  char lot_id[256], location[256];
  long long qty;
  if (sscanf(line, "Q %255s %255s %lld", lot_id, location, &qty) != 3 ||
      x->n_lots == 0 || strcmp(x->lots[x->n_lots - 1].lot_id, lot_id) != 0)
    return ll_fail(err, LL_ERR_CORRUPT, "bad quantity line: %s", line);
  cc_lot *l = &x->lots[x->n_lots - 1];
  l->locs = ll_xrealloc(l->locs, (l->n_locs + 1) * sizeof *l->locs);
  l->locs[l->n_locs++] = (cc_loc){ll_strdup(location), qty};
  return 0;
}

int cc_expect_load(const char *path, cc_expect *x, ll_err *err) {
  memset(x, 0, sizeof *x);
  FILE *f = fopen(path, "r");
  if (!f)
    return ll_fail(err, LL_ERR_IO, "cannot open %s", path);
  char line[CC_LINE_MAX];
  int rc = 0;
  bool total = false;
  long long t_messages = 0, t_accepted = 0, t_rejected = 0, t_dups = 0;
  while (rc == 0 && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    switch (line[0]) {
    case 'M':
      rc = load_msg(x, line, err);
      break;
    case 'L':
      rc = load_lot(x, line, err);
      break;
    case 'Q':
      rc = load_qty(x, line, err);
      break;
    case 'T':
      total = sscanf(line, "T %lld %lld %lld %lld", &t_messages, &t_accepted,
                     &t_rejected, &t_dups) == 4;
      break;
    default:
      rc = ll_fail(err, LL_ERR_CORRUPT, "%s: unknown line: %s", path, line);
    }
  }
  fclose(f);
  if (rc == 0 &&
      (!total || t_messages != x->messages || t_accepted != x->accepted ||
       t_rejected != x->rejected || t_dups != x->duplicates))
    rc = ll_fail(err, LL_ERR_CORRUPT, "%s: totals missing or inconsistent",
                 path);
  if (rc != 0)
    return rc;
  /* qsort wants real arrays, even for zero items. */
  if (x->n_lots > 0)
    qsort(x->lots, x->n_lots, sizeof *x->lots, cmp_lot);
  for (size_t i = 0; i < x->n_lots; i++)
    if (x->lots[i].n_locs > 0)
      qsort(x->lots[i].locs, x->lots[i].n_locs, sizeof(cc_loc), cmp_loc);
  return 0;
}

void cc_expect_free(cc_expect *x) {
  for (int p = 0; p < CC_PARTITIONS_MAX; p++) {
    for (int64_t i = 0; i < x->count[p]; i++)
      free(x->by_partition[p][i].event_id);
    free(x->by_partition[p]);
  }
  for (size_t i = 0; i < x->n_lots; i++) {
    cc_lot *l = &x->lots[i];
    free(l->lot_id);
    free(l->product_id);
    free(l->description);
    for (size_t j = 0; j < l->n_locs; j++)
      free(l->locs[j].location);
    free(l->locs);
  }
  free(x->lots);
  memset(x, 0, sizeof *x);
}

static const cc_msg *msg_at(const cc_expect *x, int32_t partition,
                            int64_t offset) {
  if (partition < 0 || partition >= CC_PARTITIONS_MAX || offset < 0 ||
      offset >= x->count[partition])
    return NULL;
  return &x->by_partition[partition][offset];
}

/* ---- what the store holds ---- */

int cc_snapshot_take(ll_store *s, const char *cluster, const char *topic,
                     int partitions, cc_snapshot *out, ll_err *err) {
  memset(out, 0, sizeof *out);
  if (ll_store_catch_up(s, err) != 0)
    return -1;
  out->last_position = ll_store_last_position(s);
  ll_stored_rejection last;
  size_t n = 0;
  if (ll_store_recent_rejections(s, 1, &last, &n, err) != 0)
    return -1;
  if (n == 1) {
    out->last_rejection = last.sequence;
    ll_stored_rejection_free(&last);
  }
  for (int p = 0; p < partitions && p < CC_PARTITIONS_MAX; p++) {
    bool found;
    int64_t next;
    if (ll_store_get_offset(s, cluster, topic, p, &next, &found, err) != 0)
      return -1;
    out->next_offset[p] = found ? next : -1;
  }
  for (int p = partitions; p < CC_PARTITIONS_MAX; p++)
    out->next_offset[p] = -1;
  return 0;
}

int cc_stored_load(ll_store *s, size_t max_rejections, cc_stored *out,
                   ll_err *err) {
  memset(out, 0, sizeof *out);
  ll_entry *chunk = ll_xcalloc(CC_READ_CHUNK, sizeof *chunk);
  size_t cap = 0;
  for (;;) {
    size_t n;
    if (ll_store_read_log(s, out->n_log + 1, chunk, CC_READ_CHUNK, &n, err) !=
        0) {
      free(chunk);
      return -1;
    }
    if (out->n_log + n > cap) {
      cap = (out->n_log + n) * 2;
      out->log = ll_xrealloc(out->log, cap * sizeof *out->log);
    }
    for (size_t i = 0; i < n; i++) {
      out->log[out->n_log++] = (cc_entry){
          .seq = chunk[i].position,
          .partition = chunk[i].partition,
          .offset = chunk[i].offset,
          .event_id = ll_strdup(chunk[i].event.event_id),
      };
      ll_entry_free(&chunk[i]);
    }
    if (n < CC_READ_CHUNK)
      break;
  }
  free(chunk);
  /* Newest first, at most max_rejections + 1 (to see "too many"). */
  size_t limit = max_rejections + 1;
  ll_stored_rejection *rej = ll_xcalloc(limit, sizeof *rej);
  size_t n;
  if (ll_store_recent_rejections(s, limit, rej, &n, err) != 0) {
    free(rej);
    return -1;
  }
  out->rej = ll_xcalloc(n ? n : 1, sizeof *out->rej);
  out->n_rej = n;
  for (size_t i = 0; i < n; i++) {
    ll_stored_rejection *r = &rej[n - 1 - i];
    out->rej[i] = (cc_entry){.seq = r->sequence,
                             .partition = r->partition,
                             .offset = r->offset,
                             .code = r->code,
                             .event_id = ll_strdup(r->event_id)};
    ll_stored_rejection_free(r);
  }
  free(rej);
  return 0;
}

void cc_stored_free(cc_stored *st) {
  for (size_t i = 0; i < st->n_log; i++)
    free(st->log[i].event_id);
  for (size_t i = 0; i < st->n_rej; i++)
    free(st->rej[i].event_id);
  free(st->log);
  free(st->rej);
  memset(st, 0, sizeof *st);
}

/* ---- the checks ---- */

static int cmp_str_ptr(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Entries (log or rejections) in sequence order: dense sequence from 1 and
 * offsets strictly increasing per partition. Returns mismatches. */
static void check_sequence(const cc_entry *e, size_t n, cc_report *r) {
  int64_t last[CC_PARTITIONS_MAX];
  for (int p = 0; p < CC_PARTITIONS_MAX; p++)
    last[p] = -1;
  for (size_t i = 0; i < n; i++) {
    if (e[i].seq != i + 1)
      mismatch(r, "entry %zu has sequence %llu", i + 1,
               (unsigned long long)e[i].seq);
    int32_t p = e[i].partition;
    if (p < 0 || p >= CC_PARTITIONS_MAX) {
      mismatch(r, "entry %llu: partition %d", (unsigned long long)e[i].seq,
               (int)p);
      continue;
    }
    if (e[i].offset <= last[p])
      mismatch(r,
               "entry %llu: partition %d offset %lld after offset %lld "
               "(not strictly increasing)",
               (unsigned long long)e[i].seq, (int)p, (long long)e[i].offset,
               (long long)last[p]);
    last[p] = e[i].offset;
  }
}

int cc_check_log(const cc_stored *st, const cc_expect *x, bool whole_stream) {
  cc_report r = {.what = "log"};
  check_sequence(st->log, st->n_log, &r);
  char **ids = ll_xcalloc(st->n_log ? st->n_log : 1, sizeof *ids);
  size_t n_ids = 0;
  for (size_t i = 0; i < st->n_log; i++) {
    const cc_entry *e = &st->log[i];
    const cc_msg *m = msg_at(x, e->partition, e->offset);
    if (!m)
      mismatch(&r, "position %llu comes from %d@%lld, which was never sent",
               (unsigned long long)e->seq, (int)e->partition,
               (long long)e->offset);
    else if (m->outcome != CC_OUTCOME_ACCEPTED)
      mismatch(&r, "position %llu: %d@%lld (%s) should be %s",
               (unsigned long long)e->seq, (int)e->partition,
               (long long)e->offset, e->event_id ? e->event_id : "-",
               m->outcome == CC_OUTCOME_DUPLICATE
                   ? "a no-op redelivery"
                   : ll_code_name((ll_code)m->outcome));
    else if (!str_eq(m->event_id, e->event_id))
      mismatch(&r, "position %llu: event id %s, the producer sent %s",
               (unsigned long long)e->seq, e->event_id, m->event_id);
    if (e->event_id)
      ids[n_ids++] = e->event_id;
  }
  if (n_ids > 0)
    qsort(ids, n_ids, sizeof *ids, cmp_str_ptr);
  for (size_t i = 1; i < n_ids; i++)
    if (strcmp(ids[i - 1], ids[i]) == 0)
      mismatch(&r, "event id %s is in the log twice", ids[i]);
  free(ids);
  /* Every entry is an accepted message and none twice (offsets strictly
   * increase): so equal counts mean every accepted message is there. */
  if (whole_stream && (int64_t)st->n_log != x->accepted)
    mismatch(&r, "%zu entries, %lld accepted messages", st->n_log,
             (long long)x->accepted);
  return report_done(&r);
}

int cc_check_rejections(const cc_stored *st, const cc_expect *x,
                        bool whole_stream) {
  cc_report r = {.what = "rejections"};
  check_sequence(st->rej, st->n_rej, &r);
  for (size_t i = 0; i < st->n_rej; i++) {
    const cc_entry *e = &st->rej[i];
    const cc_msg *m = msg_at(x, e->partition, e->offset);
    if (!m)
      mismatch(&r, "rejection %llu of %d@%lld, which was never sent",
               (unsigned long long)e->seq, (int)e->partition,
               (long long)e->offset);
    else if (m->outcome != (int)e->code)
      mismatch(&r, "%d@%lld (%s) rejected %s, expected %s", (int)e->partition,
               (long long)e->offset, e->event_id ? e->event_id : "-",
               ll_code_name(e->code),
               m->outcome == CC_OUTCOME_ACCEPTED ? "ACCEPTED"
               : m->outcome == CC_OUTCOME_DUPLICATE
                   ? "a no-op redelivery"
                   : ll_code_name((ll_code)m->outcome));
    else if (!str_eq(m->event_id, e->event_id))
      mismatch(&r, "%d@%lld: rejection names event %s, the producer sent %s",
               (int)e->partition, (long long)e->offset,
               e->event_id ? e->event_id : "-",
               m->event_id ? m->event_id : "-");
  }
  if (whole_stream && (int64_t)st->n_rej != x->rejected)
    mismatch(&r, "%zu rejections recorded, %lld expected", st->n_rej,
             (long long)x->rejected);
  return report_done(&r);
}

static int cmp_key(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* partition << 40 | offset */
static int64_t input_key(int32_t partition, int64_t offset) {
  return ((int64_t)partition << 40) | offset;
}

#define RECORDS_READ_TIMEOUT_MS 60000

typedef struct topic_scan {
  ll_codec *codec;
  cc_report *r;
  int64_t *keys; /* input_key of each record's original input */
  size_t n, cap;
} topic_scan;

static void on_record(const rd_kafka_message_t *m, void *arg) {
  topic_scan *sc = arg;
  ll_rejection rej;
  ll_err e;
  memset(&rej, 0, sizeof rej);
  if (ll_codec_decode_rejection(sc->codec, m->payload, m->len, &rej, &e) !=
      LL_OK) {
    mismatch(sc->r, "%s [%d] offset %lld: %s: %s", rd_kafka_topic_name(m->rkt),
             m->partition, (long long)m->offset, ll_err_kind_name(e.kind),
             e.message);
    return;
  }
  if (sc->n == sc->cap) {
    sc->cap = sc->cap ? sc->cap * 2 : 1024;
    sc->keys = ll_xrealloc(sc->keys, sc->cap * sizeof *sc->keys);
  }
  sc->keys[sc->n++] = input_key(rej.partition, rej.offset);
  ll_rejection_free(&rej);
}

int cc_check_rejected_topic(ll_store *s, const cc_stored *st,
                            const char *brokers, const char *topic) {
  cc_report r = {.what = "lots.rejected"};
  ll_err e;
  uint64_t left = 0;
  if (ll_store_outbox_count(s, &left, &e) != 0)
    mismatch(&r, "%s: %s", ll_err_kind_name(e.kind), e.message);
  else if (left != 0)
    mismatch(&r, "%llu rejection(s) still in the outbox after a clean stop",
             (unsigned long long)left);
  ll_codec *codec = ll_codec_open(getenv("LOTLINE_SCHEMAS"), NULL, &e);
  if (!codec) {
    mismatch(&r, "codec: %s: %s", ll_err_kind_name(e.kind), e.message);
    return report_done(&r);
  }
  topic_scan sc = {.codec = codec, .r = &r};
  char why[512];
  if (h_read_topic(brokers, topic, RECORDS_READ_TIMEOUT_MS, on_record, &sc, why,
                   sizeof why) != 0)
    mismatch(&r, "%s", why);
  int64_t *keys = sc.keys;
  size_t n = sc.n;
  if (n > 0)
    qsort(keys, n, sizeof *keys, cmp_key);
  size_t distinct = 0, repeats = 0;
  for (size_t i = 0; i < n; i++) {
    if (i > 0 && keys[i] == keys[i - 1])
      repeats++;
    else
      keys[distinct++] = keys[i];
  }
  /* Every stored rejection there, nothing else. */
  size_t found = 0;
  for (size_t i = 0; i < st->n_rej; i++) {
    int64_t k = input_key(st->rej[i].partition, st->rej[i].offset);
    if (distinct > 0 && bsearch(&k, keys, distinct, sizeof *keys, cmp_key))
      found++;
    else
      mismatch(&r, "rejection of %d@%lld is missing", (int)st->rej[i].partition,
               (long long)st->rej[i].offset);
  }
  if (found != distinct)
    mismatch(&r, "%zu record(s) for inputs that were not rejected",
             distinct - found);
  printf("lots.rejected: %zu records, %zu distinct rejections (%zu stored), "
         "%zu repeat(s)\n",
         n, distinct, st->n_rej, repeats);
  free(keys);
  ll_codec_close(codec);
  return report_done(&r);
}

int cc_check_offsets(ll_store *s, const char *cluster, const char *topic,
                     const cc_expect *x) {
  cc_report r = {.what = "offsets"};
  for (int p = 0; p < x->n_partitions; p++) {
    bool found;
    int64_t next;
    ll_err e;
    if (ll_store_get_offset(s, cluster, topic, p, &next, &found, &e) != 0) {
      mismatch(&r, "%s: %s", ll_err_kind_name(e.kind), e.message);
      continue;
    }
    if (x->count[p] == 0 ? found && next != 0 : !found || next != x->count[p])
      mismatch(&r, "partition %d: stored next offset %lld, %lld messages", p,
               found ? (long long)next : -1LL, (long long)x->count[p]);
  }
  return report_done(&r);
}

/* The snapshot's stored next offset of e's partition (-1: none). */
static int64_t next_offset(const cc_snapshot *snap, const cc_entry *e) {
  return e->partition >= 0 && e->partition < CC_PARTITIONS_MAX
             ? snap->next_offset[e->partition]
             : -1;
}

/* Below the snapshot's stored offset of its partition? */
static bool consumed(const cc_snapshot *snap, const cc_entry *e) {
  return e->offset < next_offset(snap, e);
}

int cc_check_snapshot(const cc_stored *st, const cc_expect *x,
                      const cc_snapshot *snap) {
  cc_report r = {.what = "snapshot"};
  if (snap->last_position > st->n_log || snap->last_rejection > st->n_rej)
    mismatch(&r, "snapshot at position %llu / rejection %llu, beyond the end",
             (unsigned long long)snap->last_position,
             (unsigned long long)snap->last_rejection);
  /* Written before the snapshot <=> below its offsets. */
  for (size_t i = 0; i < st->n_log; i++)
    if ((i < snap->last_position) != consumed(snap, &st->log[i]))
      mismatch(&r,
               "log position %zu (%d@%lld) %s the snapshot (position "
               "%llu, next offset %lld)",
               i + 1, (int)st->log[i].partition, (long long)st->log[i].offset,
               i < snap->last_position ? "in" : "after",
               (unsigned long long)snap->last_position,
               (long long)next_offset(snap, &st->log[i]));
  for (size_t i = 0; i < st->n_rej; i++)
    if ((i < snap->last_rejection) != consumed(snap, &st->rej[i]))
      mismatch(&r,
               "rejection %zu (%d@%lld) %s the snapshot (rejection %llu, "
               "next offset %lld)",
               i + 1, (int)st->rej[i].partition, (long long)st->rej[i].offset,
               i < snap->last_rejection ? "in" : "after",
               (unsigned long long)snap->last_rejection,
               (long long)next_offset(snap, &st->rej[i]));
  /* And the counts agree with the messages below the offsets. */
  int64_t accepted = 0, rejected = 0;
  for (int p = 0; p < x->n_partitions; p++)
    for (int64_t o = 0; o < snap->next_offset[p] && o < x->count[p]; o++) {
      int outcome = x->by_partition[p][o].outcome;
      accepted += outcome == CC_OUTCOME_ACCEPTED;
      rejected += outcome >= 0;
    }
  if ((uint64_t)accepted != snap->last_position ||
      (uint64_t)rejected != snap->last_rejection)
    mismatch(&r,
             "below the stored offsets: %lld accepted / %lld rejected "
             "messages; stored: %llu log entries / %llu rejections",
             (long long)accepted, (long long)rejected,
             (unsigned long long)snap->last_position,
             (unsigned long long)snap->last_rejection);
  return report_done(&r);
}

/* ---- views ---- */

static int check_locations(ll_views *v, const cc_lot *want, cc_report *r) {
  ll_lot_location *locs = NULL;
  size_t n = 0;
  ll_err e;
  if (ll_views_lot_locations(v, want->product_id, want->lot_id, true, &locs, &n,
                             &e) != 0) {
    mismatch(r, "%s: %s: %s", want->lot_id, ll_err_kind_name(e.kind),
             e.message);
    return -1;
  }
  bool same = n == want->n_locs;
  for (size_t i = 0; same && i < n; i++)
    same = strcmp(locs[i].location, want->locs[i].location) == 0 &&
           locs[i].quantity_micro == want->locs[i].quantity_micro;
  if (!same) {
    char got[512] = "", exp[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < n && used < sizeof got; i++)
      used +=
          (size_t)snprintf(got + used, sizeof got - used, " %s=%lld",
                           locs[i].location, (long long)locs[i].quantity_micro);
    used = 0;
    for (size_t i = 0; i < want->n_locs && used < sizeof exp; i++)
      used += (size_t)snprintf(exp + used, sizeof exp - used, " %s=%lld",
                               want->locs[i].location,
                               (long long)want->locs[i].quantity_micro);
    mismatch(r, "%s quantities:%s; the model says:%s", want->lot_id, got, exp);
  }
  ll_lot_locations_free(locs, n);
  return 0;
}

int cc_check_views(ll_views *v, const cc_expect *x) {
  cc_report r = {.what = "views"};
  for (size_t i = 0; i < x->n_lots; i++) {
    const cc_lot *want = &x->lots[i];
    ll_lot lot;
    bool found;
    ll_err e;
    if (ll_views_get_lot(v, want->product_id, want->lot_id, &lot, &found, &e) !=
        0) {
      mismatch(&r, "%s: %s: %s", want->lot_id, ll_err_kind_name(e.kind),
               e.message);
      continue;
    }
    if (!found) {
      mismatch(&r, "lot %s is missing", want->lot_id);
      continue;
    }
    if (!str_eq(lot.product_id, want->product_id) ||
        lot.tracking != want->tracking || lot.version != want->version ||
        lot.move_count != want->move_count ||
        lot.on_hand_micro != want->on_hand_micro ||
        lot.created_at_ms != want->created_at_ms ||
        lot.updated_at_ms != want->updated_at_ms ||
        !str_eq(lot.description, want->description))
      mismatch(&r,
               "lot %s: product %s version %lld moves %lld on hand %lld "
               "created %lld updated %lld description %s; the model says "
               "%s %lld %lld %lld %lld %lld %s",
               want->lot_id, lot.product_id, (long long)lot.version,
               (long long)lot.move_count, (long long)lot.on_hand_micro,
               (long long)lot.created_at_ms, (long long)lot.updated_at_ms,
               lot.description ? lot.description : "-", want->product_id,
               (long long)want->version, (long long)want->move_count,
               (long long)want->on_hand_micro, (long long)want->created_at_ms,
               (long long)want->updated_at_ms,
               want->description ? want->description : "-");
    ll_lot_free(&lot);
    check_locations(v, want, &r);
  }
  /* No lot the model does not know. */
  ll_lot_filter f = {.limit = LL_LIST_LIMIT_MAX};
  char *cursor = NULL;
  size_t listed = 0;
  for (;;) {
    ll_lot *lots = NULL;
    size_t n = 0;
    char *next = NULL;
    ll_err e;
    f.cursor = cursor;
    if (ll_views_list_lots(v, &f, &lots, &n, &next, &e) != 0) {
      mismatch(&r, "listing lots: %s: %s", ll_err_kind_name(e.kind), e.message);
      break;
    }
    for (size_t i = 0; i < n; i++)
      if (!find_lot(x, lots[i].lot_id))
        mismatch(&r, "lot %s is not in the model", lots[i].lot_id);
    listed += n;
    ll_lots_free(lots, n);
    free(cursor);
    cursor = next;
    if (!cursor)
      break;
  }
  if (listed != x->n_lots)
    mismatch(&r, "%zu lots listed, the model has %zu", listed, x->n_lots);
  return report_done(&r);
}

static bool same_time(ll_opt_time a, ll_opt_time b) {
  return a.set == b.set && (!a.set || a.ms == b.ms);
}

static bool same_lot(const ll_lot *a, const ll_lot *b) {
  return str_eq(a->lot_id, b->lot_id) && str_eq(a->product_id, b->product_id) &&
         str_eq(a->name, b->name) && a->tracking == b->tracking &&
         str_eq(a->reference, b->reference) &&
         str_eq(a->description, b->description) &&
         same_time(a->expiration_at, b->expiration_at) &&
         same_time(a->use_by_at, b->use_by_at) &&
         same_time(a->removal_at, b->removal_at) &&
         same_time(a->alert_at, b->alert_at) && a->version == b->version &&
         a->on_hand_micro == b->on_hand_micro &&
         a->move_count == b->move_count &&
         a->created_at_ms == b->created_at_ms &&
         a->updated_at_ms == b->updated_at_ms;
}

static bool same_locations(ll_views *a, ll_views *b, const ll_lot *lot,
                           cc_report *r) {
  const char *lot_id = lot->lot_id;
  ll_lot_location *la = NULL, *lb = NULL;
  size_t na = 0, nb = 0;
  ll_err e;
  if (ll_views_lot_locations(a, lot->product_id, lot_id, true, &la, &na, &e) !=
          0 ||
      ll_views_lot_locations(b, lot->product_id, lot_id, true, &lb, &nb, &e) !=
          0) {
    mismatch(r, "%s: %s: %s", lot_id, ll_err_kind_name(e.kind), e.message);
    ll_lot_locations_free(la, na);
    ll_lot_locations_free(lb, nb);
    return false;
  }
  bool same = na == nb;
  for (size_t i = 0; same && i < na; i++)
    same = strcmp(la[i].location, lb[i].location) == 0 &&
           la[i].usage == lb[i].usage &&
           la[i].quantity_micro == lb[i].quantity_micro;
  ll_lot_locations_free(la, na);
  ll_lot_locations_free(lb, nb);
  return same;
}

int cc_compare_views(ll_views *a, ll_views *b) {
  cc_report r = {.what = "views vs rebuild"};
  if (ll_views_position(a) != ll_views_position(b))
    mismatch(&r, "positions %llu and %llu",
             (unsigned long long)ll_views_position(a),
             (unsigned long long)ll_views_position(b));
  ll_lot_filter f = {.limit = LL_LIST_LIMIT_MAX};
  char *cursor_a = NULL, *cursor_b = NULL;
  for (;;) {
    ll_lot *la = NULL, *lb = NULL;
    size_t na = 0, nb = 0;
    char *next_a = NULL, *next_b = NULL;
    ll_err e;
    f.cursor = cursor_a;
    int rc = ll_views_list_lots(a, &f, &la, &na, &next_a, &e);
    f.cursor = cursor_b;
    if (rc == 0)
      rc = ll_views_list_lots(b, &f, &lb, &nb, &next_b, &e);
    if (rc != 0) {
      mismatch(&r, "listing lots: %s: %s", ll_err_kind_name(e.kind), e.message);
      ll_lots_free(la, na);
      free(next_a);
      break;
    }
    if (na != nb)
      mismatch(&r, "a page of %zu lots against %zu", na, nb);
    for (size_t i = 0; i < na && i < nb; i++) {
      if (!same_lot(&la[i], &lb[i]))
        mismatch(&r, "lot %s differs from the rebuild's %s", la[i].lot_id,
                 lb[i].lot_id);
      else if (!same_locations(a, b, &la[i], &r))
        mismatch(&r, "lot %s: locations differ from the rebuild", la[i].lot_id);
    }
    ll_lots_free(la, na);
    ll_lots_free(lb, nb);
    free(cursor_a);
    free(cursor_b);
    cursor_a = next_a;
    cursor_b = next_b;
    if (!cursor_a || !cursor_b) {
      if (cursor_a || cursor_b)
        mismatch(&r, "one side lists more lots than the other");
      free(cursor_a);
      free(cursor_b);
      break;
    }
  }
  return report_done(&r);
}

ll_views *cc_rebuild_views(ll_store *s, const char *dir, ll_err *err) {
  ll_views *v = ll_views_open(dir, err);
  if (!v)
    return NULL;
  ll_projector *p = ll_projector_new(s, v);
  size_t applied;
  do {
    if (ll_projector_step(p, CC_READ_CHUNK, &applied, err) != 0) {
      ll_projector_free(p);
      ll_views_close(v);
      return NULL;
    }
  } while (applied > 0);
  ll_projector_free(p);
  return v;
}
