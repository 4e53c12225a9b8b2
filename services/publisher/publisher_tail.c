/* publisher_tail.c — where each task stands in Kafka.
 *
 * The publisher keeps no record of what it published: Kafka holds it. At
 * every (re)connect it reads, for every partition of lots.events,
 * lots.quantities and lots.changelog (where only the marks carry one), the
 * last record that carries a lotline-position header,
 * with isolation.level=read_committed (so an aborted or unfinished
 * transaction of another instance does not count on a real cluster).
 *
 * Reading a tail is bounded: a partition is read from its end minus
 * TAIL_FIRST_WINDOW records (transaction markers take offsets too), and
 * only a partition whose window held no such record is read again further
 * back, each window TAIL_WINDOW_GROWTH times the last, down to the
 * partition's start. All partitions of both topics are assigned to one
 * consumer at once, so the cost is a few fetches whatever their number. */
#include "publisher_tail.h"

#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

#include "ll_kafka.h"
#include "ll_logging.h"
#include "ll_mem.h"
#include "ll_time.h"

#define TAIL_FIRST_WINDOW 32  /* offsets read back first, per partition */
#define TAIL_WINDOW_GROWTH 16 /* each further window, times the last */
#define TAIL_TIMEOUT_MS 30000 /* for all rounds together */
#define TAIL_POLL_MS 100
#define TAIL_OFFSETS_TIMEOUT_MS 5000
#define TAIL_GROUP_MAX 300 /* bytes */

#define POSITION_HEADER "lotline-position" /* = LL_POSITION_HEADER */

/* The index of a topic among o->topics; -1 when not one of them. */
static int topic_index(const pub_tail_opts *o, const char *name) {
  for (int t = 0; t < PUB_TOPICS; t++)
    if (o->topics[t] != NULL && strcmp(name, o->topics[t]) == 0)
      return t;
  return -1;
}

/* One partition as the rounds go. */
typedef struct tail_part {
  int64_t lo, hi; /* offsets: first, and one past the last */
  int64_t start;  /* this round reads [start, stop) */
  int64_t stop;
  bool done;    /* found, or read down to lo */
  bool reached; /* this round got to stop (or the end) */
} tail_part;

typedef struct tail_scan {
  const pub_tail_opts *o;
  rd_kafka_t *c;
  tail_part *parts[PUB_TOPICS];
  pub_tail **tails;
} tail_scan;

bool pub_parse_position(const void *v, size_t n, uint64_t *out) {
  if (v == NULL || n == 0 || n >= PUB_POSITION_STR_MAX)
    return false;
  uint64_t x = 0;
  for (size_t i = 0; i < n; i++) {
    char c = ((const char *)v)[i];
    if (c < '0' || c > '9' || x > (UINT64_MAX - 9) / 10)
      return false;
    x = x * 10 + (uint64_t)(c - '0');
  }
  *out = x;
  return x > 0;
}

static rd_kafka_t *new_consumer(const pub_tail_opts *o, ll_err *err) {
  char errstr[512], group[TAIL_GROUP_MAX];
  snprintf(group, sizeof group, "%s-tail", o->client_id);
  const char *settings[][2] = {
      {"bootstrap.servers", o->brokers},
      {"group.id", group},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"isolation.level", "read_committed"},
      {"enable.partition.eof", "true"},
      {"client.id", o->client_id},
  };
  rd_kafka_conf_t *conf =
      ll_kafka_conf_new(settings, sizeof settings / sizeof settings[0], o->cfg,
                        "publisher tail", err);
  if (conf == NULL)
    return NULL;
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (rk == NULL)
    ll_fail(err, LL_ERR_KAFKA, "cannot create the publisher's tail reader: %s",
            errstr);
  return rk;
}

/* Every partition's first or end offset (which: RD_KAFKA_OFFSET_BEGINNING
 * or _END), in one request per broker. */
static int list_offsets(tail_scan *s, int64_t which, ll_err *err) {
  rd_kafka_topic_partition_list_t *list =
      rd_kafka_topic_partition_list_new(PUB_TOPICS * s->o->partitions);
  for (int t = 0; t < PUB_TOPICS; t++)
    for (int32_t q = 0; s->o->topics[t] != NULL && q < s->o->partitions; q++)
      rd_kafka_topic_partition_list_add(list, s->o->topics[t], q)->offset =
          which;
  rd_kafka_resp_err_t e =
      rd_kafka_offsets_for_times(s->c, list, TAIL_OFFSETS_TIMEOUT_MS);
  int rc = 0;
  for (int i = 0; e == 0 && i < list->cnt; i++) {
    rd_kafka_topic_partition_t *tp = &list->elems[i];
    if (tp->err) {
      e = tp->err;
      break;
    }
    int t = topic_index(s->o, tp->topic);
    if (t < 0)
      continue;
    tail_part *part = &s->parts[t][tp->partition];
    if (which == RD_KAFKA_OFFSET_BEGINNING)
      part->lo = tp->offset < 0 ? 0 : tp->offset;
    else
      part->hi = tp->offset < 0 ? 0 : tp->offset;
  }
  if (e)
    rc = ll_fail(err, LL_ERR_KAFKA, "publisher: offsets of %s and %s: %s",
                 s->o->topics[0], s->o->topics[1], rd_kafka_err2str(e));
  rd_kafka_topic_partition_list_destroy(list);
  return rc;
}

/* The first window of every partition; an empty one is done at once. */
static void first_windows(tail_scan *s) {
  for (int t = 0; t < PUB_TOPICS; t++) {
    for (int32_t q = 0; s->o->topics[t] != NULL && q < s->o->partitions; q++) {
      tail_part *part = &s->parts[t][q];
      part->stop = part->hi;
      part->start = part->hi - TAIL_FIRST_WINDOW;
      if (part->start < part->lo)
        part->start = part->lo;
      part->done = part->start >= part->stop;
    }
  }
}

/* Note a record of the round: the last one with a position wins (records
 * of a partition arrive in offset order). */
static void note(tail_scan *s, const rd_kafka_message_t *m, int t) {
  tail_part *part = &s->parts[t][m->partition];
  if (part->done || part->reached)
    return;
  if (m->offset + 1 >= part->stop)
    part->reached = true;
  if (m->offset >= part->stop)
    return;
  rd_kafka_headers_t *hdrs = NULL;
  const void *v = NULL;
  size_t n = 0;
  uint64_t position = 0;
  if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      rd_kafka_header_get_last(hdrs, POSITION_HEADER, &v, &n) !=
          RD_KAFKA_RESP_ERR_NO_ERROR ||
      !(pub_parse_position(v, n, &position) || (n == 1 && *(char *)v == '0')))
    return; /* a mark of a task without entries says 0 */
  pub_tail *tail = &s->tails[t][m->partition];
  tail->found = true;
  tail->position = position;
  ll_buf_reset(&tail->key);
  if (m->key != NULL)
    ll_buf_put(&tail->key, m->key, m->key_len);
  ll_buf_reset(&tail->value);
  if (m->payload != NULL)
    ll_buf_put(&tail->value, m->payload, m->len);
}

/* Assign the partitions not done yet at their window's start; how many. */
static int assign_round(tail_scan *s, ll_err *err) {
  rd_kafka_topic_partition_list_t *list =
      rd_kafka_topic_partition_list_new(PUB_TOPICS * s->o->partitions);
  int pending = 0;
  for (int t = 0; t < PUB_TOPICS; t++) {
    for (int32_t q = 0; s->o->topics[t] != NULL && q < s->o->partitions; q++) {
      tail_part *part = &s->parts[t][q];
      part->reached = part->done;
      if (part->done)
        continue;
      rd_kafka_topic_partition_list_add(list, s->o->topics[t], q)->offset =
          part->start;
      pending++;
    }
  }
  rd_kafka_resp_err_t e = rd_kafka_assign(s->c, pending ? list : NULL);
  rd_kafka_topic_partition_list_destroy(list);
  if (e)
    return ll_fail(err, LL_ERR_KAFKA, "publisher: cannot read %s: %s",
                   s->o->topics[0], rd_kafka_err2str(e));
  return pending;
}

static int topic_of(const tail_scan *s, const rd_kafka_message_t *m) {
  if (m->rkt == NULL || m->partition < 0 || m->partition >= s->o->partitions)
    return -1;
  return topic_index(s->o, rd_kafka_topic_name(m->rkt));
}

/* Read every assigned window to its stop (or the partition's end, for a
 * read_committed consumer the last stable offset). */
static int read_round(tail_scan *s, int pending, uint64_t deadline_ns,
                      ll_err *err) {
  while (pending > 0) {
    if (ll_mono_ns() > deadline_ns)
      return ll_fail(err, LL_ERR_TIMEOUT,
                     "publisher: reading the ends of %s and %s timed out "
                     "with %d partition(s) unread",
                     s->o->topics[0], s->o->topics[1], pending);
    rd_kafka_message_t *m = rd_kafka_consumer_poll(s->c, TAIL_POLL_MS);
    if (m == NULL)
      continue;
    int t = topic_of(s, m);
    if (t >= 0 && (m->err == 0 || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)) {
      tail_part *part = &s->parts[t][m->partition];
      bool before = part->reached;
      if (m->err)
        part->reached = true;
      else
        note(s, m, t);
      pending -= !before && part->reached;
    } else if (m->err) {
      ll_log(LL_WARN, "publish", "reading the ends of the topics: %s",
             rd_kafka_message_errstr(m));
    }
    rd_kafka_message_destroy(m);
  }
  return 0;
}

/* After a round: a partition whose window held a position, or that was
 * read down to its start, is done; the others get a wider window that
 * ends where this one began. */
static void widen(tail_scan *s) {
  for (int t = 0; t < PUB_TOPICS; t++) {
    for (int32_t q = 0; s->o->topics[t] != NULL && q < s->o->partitions; q++) {
      tail_part *part = &s->parts[t][q];
      if (part->done)
        continue;
      if (s->tails[t][q].found || part->start <= part->lo) {
        part->done = true;
        continue;
      }
      int64_t width = (part->stop - part->start) * TAIL_WINDOW_GROWTH;
      part->stop = part->start;
      part->start =
          part->stop - width < part->lo ? part->lo : part->stop - width;
    }
  }
}

static int scan(tail_scan *s, ll_err *err) {
  if (list_offsets(s, RD_KAFKA_OFFSET_BEGINNING, err) != 0 ||
      list_offsets(s, RD_KAFKA_OFFSET_END, err) != 0)
    return -1;
  first_windows(s);
  uint64_t deadline = ll_mono_ns() + (uint64_t)TAIL_TIMEOUT_MS * 1000000ull;
  for (;;) {
    int pending = assign_round(s, err);
    if (pending <= 0)
      return pending;
    if (read_round(s, pending, deadline, err) != 0)
      return -1;
    widen(s);
  }
}

int pub_tails_read(const pub_tail_opts *o, pub_tail *tails[PUB_TOPICS],
                   ll_err *err) {
  tail_scan s = {.o = o, .tails = NULL};
  pub_tail *flat[PUB_TOPICS];
  for (int t = 0; t < PUB_TOPICS; t++)
    flat[t] = tails[t];
  s.tails = flat;
  for (int t = 0; t < PUB_TOPICS; t++) {
    s.parts[t] = ll_xcalloc((size_t)o->partitions, sizeof *s.parts[t]);
    for (int32_t q = 0; q < o->partitions; q++) {
      tails[t][q].position = 0;
      tails[t][q].found = false;
      ll_buf_reset(&tails[t][q].key);
      ll_buf_reset(&tails[t][q].value);
    }
  }
  int rc = -1;
  s.c = new_consumer(o, err);
  if (s.c != NULL) {
    rc = scan(&s, err);
    rd_kafka_assign(s.c, NULL);
    rd_kafka_consumer_close(s.c);
    rd_kafka_destroy(s.c);
  }
  for (int t = 0; t < PUB_TOPICS; t++)
    free(s.parts[t]);
  return rc;
}
