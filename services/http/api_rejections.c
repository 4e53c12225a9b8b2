/* api_rejections.c — GET /v1/rejections[?limit=&before=]: the rejections,
 * newest first, a page at a time.
 *
 * One order everywhere: rejected_at, then partition, then offset, newest
 * first; a cluster of several merges every owner's page in it
 * (api_cluster.c). So one cursor pages both: next_before is the key of a
 * page's last row, "REJECTED_AT_MS:PARTITION:OFFSET", and the next page is
 * what comes after it in that order, whichever instance is asked.
 *
 * The log store keeps the rejections by this instance's sequence, which
 * follows that order within a partition (a task's clock never goes back,
 * its offsets only forward) but not across partitions: the newest
 * rejection of a quiet partition can lie far back. So the API keeps, per
 * partition, the sequences of its rejections (the index, 8 bytes a
 * rejection, read from the store at the first page and extended by what
 * was stored since at each), and a page merges the partitions it serves:
 * each starts at its newest row past the cursor (a binary search over its
 * sequences), and the newest head is taken until the page is full. A page
 * reads about (partitions x log2 rows) + limit rejections, however the
 * partitions interleave. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "ll_mem.h"
#include "ll_store.h"
#include "ll_text.h"

#define REJECTIONS_CATCH_UP_CHUNK 1024 /* rows read from the store at once */
#define REJECTIONS_PARTITIONS_MAX 1024 /* of the input topic, indexed */

/* ---- the key and its text ---- */

int api_rejection_key_compare(const api_rejection_key *a,
                              const api_rejection_key *b) {
  if (a->rejected_at_ms != b->rejected_at_ms)
    return a->rejected_at_ms > b->rejected_at_ms ? -1 : 1;
  if (a->partition != b->partition)
    return a->partition > b->partition ? -1 : 1;
  if (a->offset != b->offset)
    return a->offset > b->offset ? -1 : 1;
  return 0;
}

bool api_rejection_key_parse(const char *text, api_rejection_key *k) {
  const char *p = text;
  int64_t partition = 0;
  if (!ll_text_parse_count(&p, INT64_MAX, &k->rejected_at_ms) || *p++ != ':' ||
      !ll_text_parse_count(&p, INT32_MAX, &partition) || *p++ != ':' ||
      !ll_text_parse_count(&p, INT64_MAX, &k->offset) || *p != '\0')
    return false;
  k->partition = (int32_t)partition;
  return true;
}

void api_rejection_key_format(const api_rejection_key *k,
                              char out[API_REJECTION_KEY_MAX_BYTES]) {
  snprintf(out, API_REJECTION_KEY_MAX_BYTES, "%" PRId64 ":%" PRId32 ":%" PRId64,
           k->rejected_at_ms, k->partition, k->offset);
}

static api_rejection_key key_of(const ll_stored_rejection *r) {
  return (api_rejection_key){r->rejected_at_ms, r->partition, r->offset};
}

/* ---- the index ---- */

typedef struct seq_list {
  uint64_t *seq; /* ascending: oldest first */
  size_t n, cap;
} seq_list;

struct api_rejection_index {
  pthread_mutex_t mu;
  uint64_t indexed_to; /* the highest sequence indexed */
  seq_list lists[REJECTIONS_PARTITIONS_MAX];
};

api_rejection_index *api_rejection_index_new(void) {
  api_rejection_index *ix = ll_xcalloc(1, sizeof *ix);
  pthread_mutex_init(&ix->mu, NULL);
  return ix;
}

void api_rejection_index_free(api_rejection_index *ix) {
  if (ix == NULL)
    return;
  for (size_t p = 0; p < REJECTIONS_PARTITIONS_MAX; p++)
    free(ix->lists[p].seq);
  pthread_mutex_destroy(&ix->mu);
  free(ix);
}

static void list_push(seq_list *l, uint64_t seq) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 64;
    l->seq = ll_xrealloc(l->seq, l->cap * sizeof *l->seq);
  }
  l->seq[l->n++] = seq;
}

typedef struct placed_seq {
  uint64_t seq;
  int32_t partition;
} placed_seq;

typedef struct placed_seqs {
  placed_seq *items;
  size_t n, cap;
} placed_seqs;

static void placed_push(placed_seqs *f, uint64_t seq, int32_t partition) {
  if (f->n == f->cap) {
    f->cap = f->cap ? 2 * f->cap : REJECTIONS_CATCH_UP_CHUNK;
    f->items = ll_xrealloc(f->items, f->cap * sizeof *f->items);
  }
  f->items[f->n++] = (placed_seq){seq, partition};
}

/* The rejections stored above indexed_to, newest first, into *found. */
static int read_new(api_rejection_index *ix, ll_store *log, placed_seqs *found,
                    ll_err *err) {
  ll_stored_rejection *chunk =
      ll_xcalloc(REJECTIONS_CATCH_UP_CHUNK, sizeof *chunk);
  uint64_t below = UINT64_MAX;
  bool reached = false;
  int rc = 0;
  while (rc == 0 && !reached) {
    size_t got = 0;
    rc = ll_store_rejections_before(log, below, REJECTIONS_CATCH_UP_CHUNK,
                                    chunk, &got, err);
    for (size_t i = 0; rc == 0 && i < got; i++) {
      reached |= chunk[i].sequence <= ix->indexed_to;
      if (!reached && (chunk[i].partition < 0 ||
                       chunk[i].partition >= REJECTIONS_PARTITIONS_MAX))
        rc = ll_fail(err, LL_ERR_FULL,
                     "rejection %" PRIu64 " is of partition %" PRId32
                     ", past the %d the rejections' pages index",
                     chunk[i].sequence, chunk[i].partition,
                     REJECTIONS_PARTITIONS_MAX);
      if (rc == 0 && !reached)
        placed_push(found, chunk[i].sequence, chunk[i].partition);
    }
    if (got > 0)
      below = chunk[got - 1].sequence; /* before the free clears it */
    for (size_t i = 0; i < got; i++)
      ll_stored_rejection_free(&chunk[i]);
    reached |= got < REJECTIONS_CATCH_UP_CHUNK;
  }
  free(chunk);
  return rc;
}

/* Index what was stored since the last page. Caller holds ix->mu. */
static int catch_up(api_rejection_index *ix, ll_store *log, ll_err *err) {
  placed_seqs found = {0};
  int rc = read_new(ix, log, &found, err);
  for (size_t i = found.n; rc == 0 && i > 0; i--)
    list_push(&ix->lists[found.items[i - 1].partition], found.items[i - 1].seq);
  if (rc == 0 && found.n > 0)
    ix->indexed_to = found.items[0].seq;
  free(found.items);
  return rc;
}

/* ---- a page ---- */

/* The rejection of sequence seq (indexed, so stored). */
static int read_row(ll_store *log, uint64_t seq, ll_stored_rejection *out,
                    ll_err *err) {
  size_t got = 0;
  if (ll_store_rejections_before(log, seq + 1, 1, out, &got, err) != 0)
    return -1;
  if (got == 1 && out->sequence == seq)
    return 0;
  if (got == 1)
    ll_stored_rejection_free(out);
  return ll_fail(err, LL_ERR_CORRUPT,
                 "rejection %" PRIu64 " is indexed "
                 "but no longer stored",
                 seq);
}

/* One partition's rows from its newest past the cursor back: list->seq
 * [0, next) are still to come; head is seq[next] when has_head. */
typedef struct stream {
  const seq_list *list;
  size_t next;
  bool has_head;
  ll_stored_rejection head;
} stream;

/* How many of the list's rows come after the cursor (are older than
 * it): keys grow with the sequence within a partition. */
static int rows_after(ll_store *log, const seq_list *l,
                      const api_rejection_key *before, size_t *out,
                      ll_err *err) {
  size_t lo = 0, hi = l->n;
  if (before == NULL)
    lo = l->n; /* all of them */
  while (before != NULL && lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    ll_stored_rejection r;
    if (read_row(log, l->seq[mid], &r, err) != 0)
      return -1;
    api_rejection_key k = key_of(&r);
    ll_stored_rejection_free(&r);
    if (api_rejection_key_compare(&k, before) > 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *out = lo;
  return 0;
}

/* Read the stream's next row into its head (none at its start). */
static int advance(ll_store *log, stream *s, ll_err *err) {
  s->has_head = s->next > 0;
  if (!s->has_head)
    return 0;
  s->next--;
  return read_row(log, s->list->seq[s->next], &s->head, err);
}

/* The stream whose head is newest; -1 when every one is done. */
static int newest_head(const stream *streams, size_t n) {
  int best = -1;
  for (size_t i = 0; i < n; i++) {
    if (!streams[i].has_head)
      continue;
    api_rejection_key k = key_of(&streams[i].head);
    api_rejection_key b = best < 0 ? k : key_of(&streams[best].head);
    if (best < 0 || api_rejection_key_compare(&k, &b) < 0)
      best = (int)i;
  }
  return best;
}

/* The first `want` rejections after before (NULL: from the newest) of
 * the partitions this instance serves, in order. Caller holds ix->mu. */
static int merge_page(ll_api *api, const api_rejection_key *before, size_t want,
                      ll_stored_rejection *rows, size_t *n, ll_err *err) {
  api_rejection_index *ix = api->rejections;
  stream *streams = ll_xcalloc(REJECTIONS_PARTITIONS_MAX, sizeof *streams);
  size_t k = 0;
  int rc = 0;
  for (int32_t p = 0; rc == 0 && p < REJECTIONS_PARTITIONS_MAX; p++) {
    if (ix->lists[p].n == 0 || !api_serves_partition(api, p))
      continue;
    stream *s = &streams[k++];
    s->list = &ix->lists[p];
    rc = rows_after(api->deps.log, s->list, before, &s->next, err);
    if (rc == 0)
      rc = advance(api->deps.log, s, err);
  }
  *n = 0;
  while (rc == 0 && *n < want) {
    int best = newest_head(streams, k);
    if (best < 0)
      break;
    rows[(*n)++] = streams[best].head;
    rc = advance(api->deps.log, &streams[best], err);
  }
  for (size_t i = 0; i < k; i++)
    if (streams[i].has_head)
      ll_stored_rejection_free(&streams[i].head);
  free(streams);
  return rc;
}

static int read_page(ll_api *api, const api_rejection_key *before, size_t want,
                     ll_stored_rejection *rows, size_t *n, ll_err *err) {
  api_rejection_index *ix = api->rejections;
  pthread_mutex_lock(&ix->mu);
  int rc = catch_up(ix, api->deps.log, err);
  if (rc == 0)
    rc = merge_page(api, before, want, rows, n, err);
  pthread_mutex_unlock(&ix->mu);
  return rc;
}

/* ?before=: 0 (*out NULL when absent), or -1 with r filled. */
static int query_before(const api_request *rq, api_rejection_key *k,
                        const api_rejection_key **out, api_reply *r) {
  const char *text = api_query(rq, "before");
  *out = NULL;
  if (text == NULL)
    return 0;
  if (!api_rejection_key_parse(text, k)) {
    api_reply_error(r, MHD_HTTP_BAD_REQUEST, "BAD_REQUEST",
                    "before must be the next_before of a previous answer: "
                    "REJECTED_AT_MS:PARTITION:OFFSET, e.g. 1796083200000:3:41");
    return -1;
  }
  *out = k;
  return 0;
}

static void reply_page(api_reply *r, const ll_stored_rejection *rows, size_t n,
                       size_t limit) {
  json_t *arr = json_array();
  for (size_t i = 0; i < n && i < limit; i++)
    json_array_append_new(arr, api_json_rejection(&rows[i]));
  json_t *body = json_object();
  json_object_set_new(body, "rejections", arr);
  char next[API_REJECTION_KEY_MAX_BYTES];
  if (n > limit) {
    api_rejection_key last = key_of(&rows[limit - 1]);
    api_rejection_key_format(&last, next);
  }
  json_object_set_new(body, "next_before",
                      n > limit ? json_string(next) : json_null());
  api_reply_json(r, MHD_HTTP_OK, body);
}

void api_get_rejections(api_request *rq, const char *id, api_reply *r) {
  (void)id;
  size_t limit;
  api_rejection_key key;
  const api_rejection_key *before = NULL;
  if (api_query_limit(rq, &limit, r) != 0 ||
      query_before(rq, &key, &before, r) != 0)
    return;
  size_t want = limit + 1; /* one more says whether there is a next page */
  ll_stored_rejection *rows = ll_xcalloc(want, sizeof *rows);
  size_t n = 0;
  ll_err err = {0};
  if (read_page(rq->api, before, want, rows, &n, &err) != 0)
    api_reply_storage_error(r, &err);
  else
    reply_page(r, rows, n, limit);
  for (size_t i = 0; i < n; i++)
    ll_stored_rejection_free(&rows[i]);
  free(rows);
}
