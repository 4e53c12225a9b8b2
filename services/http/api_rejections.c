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
 * its offsets only forward) but not across partitions. A page is
 * therefore read back from the newest in chunks, keeping the best
 * limit + 1 rows after the cursor, until no row further back can be among
 * them: every partition that may hold rejections (of the input topic, or
 * with a task clock in the store) has shown a row at or past the page's
 * last. A partition without rejections lately makes that read long: a page
 * costs reading back to the newest rejection of every partition. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "ll_cluster.h"
#include "ll_mem.h"
#include "ll_store.h"

#define REJECTIONS_SCAN_CHUNK 256      /* rows read from the store at once */
#define REJECTIONS_PARTITIONS_MAX 1024 /* of the input topic, tracked */

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

/* Digits (no sign, no leading zero but "0") up to max; *s past them. */
static bool parse_digits(const char **s, int64_t max, int64_t *out) {
  const char *p = *s;
  int64_t v = 0;
  if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
    return false;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (v > (max - (*p - '0')) / 10)
      return false;
    v = v * 10 + (*p - '0');
  }
  *s = p;
  *out = v;
  return true;
}

bool api_rejection_key_parse(const char *text, api_rejection_key *k) {
  const char *p = text;
  int64_t partition = 0;
  if (!parse_digits(&p, INT64_MAX, &k->rejected_at_ms) || *p++ != ':' ||
      !parse_digits(&p, INT32_MAX, &partition) || *p++ != ':' ||
      !parse_digits(&p, INT64_MAX, &k->offset) || *p != '\0')
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

/* ---- a page ---- */

typedef struct page {
  ll_stored_rejection *rows; /* the best n so far, in order; n <= want */
  size_t n, want;
  const api_rejection_key *before; /* NULL: from the newest */
  /* per partition: may hold rejections; has shown a row, the last one */
  bool live[REJECTIONS_PARTITIONS_MAX];
  bool seen[REJECTIONS_PARTITIONS_MAX];
  api_rejection_key last_seen[REJECTIONS_PARTITIONS_MAX];
  bool untracked; /* a row of a partition past the tracked ones */
} page;

static bool tracked(int32_t partition) {
  return partition >= 0 && partition < REJECTIONS_PARTITIONS_MAX;
}

/* The partitions this instance serves that may hold rejections. */
static void find_live(ll_api *api, page *pg) {
  ll_cluster *c = api_cluster(api);
  int32_t topic_partitions = c != NULL ? ll_cluster_partitions(c) : 0;
  for (int32_t p = 0; p < REJECTIONS_PARTITIONS_MAX; p++) {
    ll_task_last t;
    ll_store_task_last(api->deps.log, p, &t);
    pg->live[p] = (p < topic_partitions || t.clock_ms > 0) &&
                  api_serves_partition(api, p);
  }
}

/* Put r among the best rows (moved in), or free it. */
static void offer(page *pg, ll_stored_rejection *r) {
  api_rejection_key k = key_of(r);
  size_t at = pg->n;
  while (at > 0) {
    api_rejection_key prev = key_of(&pg->rows[at - 1]);
    if (api_rejection_key_compare(&prev, &k) < 0)
      break;
    at--;
  }
  if (at >= pg->want) {
    ll_stored_rejection_free(r);
    return;
  }
  if (pg->n == pg->want)
    ll_stored_rejection_free(&pg->rows[--pg->n]);
  memmove(&pg->rows[at + 1], &pg->rows[at], (pg->n - at) * sizeof *pg->rows);
  pg->rows[at] = *r;
  pg->n++;
}

static void take_row(ll_api *api, page *pg, ll_stored_rejection *r) {
  api_rejection_key k = key_of(r);
  if (tracked(r->partition)) {
    pg->seen[r->partition] = true;
    pg->last_seen[r->partition] = k;
  } else {
    pg->untracked = true;
  }
  bool after_cursor =
      pg->before == NULL || api_rejection_key_compare(&k, pg->before) > 0;
  if (after_cursor && api_serves_partition(api, r->partition)) {
    if (tracked(r->partition))
      pg->live[r->partition] = true;
    offer(pg, r);
  } else {
    ll_stored_rejection_free(r);
  }
}

/* Can a row further back still be among the best? Not once the page is
 * full and every live partition showed a row at or past its last (the
 * partition's older rows come later in the order). */
static bool page_settled(const page *pg) {
  if (pg->n < pg->want || pg->untracked)
    return false;
  api_rejection_key last = key_of(&pg->rows[pg->n - 1]);
  for (int p = 0; p < REJECTIONS_PARTITIONS_MAX; p++)
    if (pg->live[p] && (!pg->seen[p] || api_rejection_key_compare(
                                            &pg->last_seen[p], &last) < 0))
      return false;
  return true;
}

/* The first limit + 1 rejections after before (NULL: from the newest)
 * that this instance serves, in order, into pg->rows. */
static int read_page(ll_api *api, page *pg, ll_err *err) {
  ll_stored_rejection *chunk = ll_xcalloc(REJECTIONS_SCAN_CHUNK, sizeof *chunk);
  uint64_t below = UINT64_MAX;
  int rc = 0;
  find_live(api, pg);
  for (;;) {
    size_t got = 0;
    rc = ll_store_rejections_before(api->deps.log, below, REJECTIONS_SCAN_CHUNK,
                                    chunk, &got, err);
    if (rc != 0 || got == 0)
      break;
    below = chunk[got - 1].sequence;
    for (size_t i = 0; i < got; i++)
      take_row(api, pg, &chunk[i]);
    if (got < REJECTIONS_SCAN_CHUNK || page_settled(pg))
      break;
  }
  free(chunk);
  return rc;
}

static void page_free(page *pg) {
  for (size_t i = 0; i < pg->n; i++)
    ll_stored_rejection_free(&pg->rows[i]);
  free(pg->rows);
  free(pg);
}

/* ?before=: 0 (k NULL when absent), or -1 with r filled. */
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

void api_get_rejections(api_request *rq, const char *id, api_reply *r) {
  (void)id;
  size_t limit;
  api_rejection_key before;
  page *pg = ll_xcalloc(1, sizeof *pg);
  if (api_query_limit(rq, &limit, r) != 0 ||
      query_before(rq, &before, &pg->before, r) != 0) {
    free(pg);
    return;
  }
  pg->want = limit + 1; /* one more says whether there is a next page */
  pg->rows = ll_xcalloc(pg->want, sizeof *pg->rows);
  ll_err err = {0};
  if (read_page(rq->api, pg, &err) != 0) {
    api_reply_storage_error(r, &err);
    page_free(pg);
    return;
  }
  json_t *arr = json_array();
  for (size_t i = 0; i < pg->n && i < limit; i++)
    json_array_append_new(arr, api_json_rejection(&pg->rows[i]));
  json_t *body = json_object();
  json_object_set_new(body, "rejections", arr);
  char next[API_REJECTION_KEY_MAX_BYTES];
  if (pg->n > limit) {
    api_rejection_key last = key_of(&pg->rows[limit - 1]);
    api_rejection_key_format(&last, next);
  }
  json_object_set_new(body, "next_before",
                      pg->n > limit ? json_string(next) : json_null());
  api_reply_json(r, MHD_HTTP_OK, body);
  page_free(pg);
}
