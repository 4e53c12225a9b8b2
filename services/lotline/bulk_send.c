/* bulk_send.c — sending many rows through the HTTP API, several at a time.
 *
 * One libcurl multi handle drives up to `concurrency` requests at once over
 * reused keep-alive connections. Ordering is by lane (bulk.h): items are
 * chained lane by lane in input order, only a lane's head is ever ready,
 * and the next item of a lane becomes ready when its predecessor has its
 * final outcome. So one product's rows reach the API in file order, and
 * since each write waits for its decision, they are decided in that order.
 *
 * A 503 (the API could not publish or did not hear the outcome in time) or
 * a broken connection is retried with the same Idempotency-Key after a
 * growing pause: the API answers a retried key with the first outcome, so a
 * retry never applies a row twice. The lane waits meanwhile.
 *
 * Progress goes to stderr: a bar redrawn in place on a terminal, a plain
 * line every 10% otherwise (logs, CI). */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bulk.h"
#include "ll_buf.h"
#include "ll_mem.h"
#include "ll_time.h"
#include "ll_types.h"

#define RETRY_PAUSE_MS 250    /* doubled on each retry */
#define PROGRESS_EVERY_MS 100 /* terminal redraw */
#define POLL_MS 50
#define BAR_WIDTH 30
#define ANSWER_MAX_BYTES (1024 * 1024)

/* ---- items ---- */

bulk_item *bulk_batch_add(bulk_batch *b, size_t line) {
  if (b->n == b->cap) {
    b->cap = b->cap ? b->cap * 2 : 256;
    b->items = ll_xrealloc(b->items, b->cap * sizeof *b->items);
  }
  bulk_item *it = &b->items[b->n++];
  memset(it, 0, sizeof *it);
  it->line = line;
  it->next_in_lane = -1;
  return it;
}

void bulk_item_fail(bulk_item *it, const char *code, const char *message) {
  free(it->code);
  free(it->message);
  it->code = ll_strdup(code);
  it->message = ll_strdup(message);
  it->done = true;
}

void bulk_batch_free(bulk_batch *b) {
  for (size_t i = 0; i < b->n; i++) {
    bulk_item *it = &b->items[i];
    free(it->label);
    json_decref(it->body);
    free(it->lane);
    free(it->idempotency_key);
    free(it->code);
    free(it->message);
  }
  free(b->items);
  memset(b, 0, sizeof *b);
}

/* ---- lanes: chain each item to the next one of its lane ---- */

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (; *s; s++) {
    h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  }
  return h;
}

/* Returns the heads of the lanes in order of first appearance. */
static long *chain_lanes(bulk_batch *b, size_t *n_heads) {
  size_t cap = 16;
  while (cap < 2 * b->n) {
    cap *= 2;
  }
  long *last = ll_xmalloc(cap * sizeof *last); /* lane -> its last item */
  for (size_t i = 0; i < cap; i++) {
    last[i] = -1;
  }
  long *heads = ll_xmalloc((b->n + 1) * sizeof *heads);
  *n_heads = 0;
  for (size_t i = 0; i < b->n; i++) {
    const char *lane = b->items[i].lane ? b->items[i].lane : "";
    size_t slot = hash_str(lane) & (cap - 1);
    while (last[slot] >= 0) {
      const char *other = b->items[last[slot]].lane;
      if (strcmp(other ? other : "", lane) == 0) {
        break;
      }
      slot = (slot + 1) & (cap - 1);
    }
    if (last[slot] >= 0) {
      b->items[last[slot]].next_in_lane = (long)i;
    } else {
      heads[(*n_heads)++] = (long)i;
    }
    last[slot] = (long)i;
  }
  free(last);
  return heads;
}

/* ---- the ready queue: a ring of item indices ---- */

typedef struct ring {
  long *v;
  size_t cap, head, len;
} ring;

static void ring_push_back(ring *r, long x) {
  r->v[(r->head + r->len++) % r->cap] = x;
}

static void ring_push_front(ring *r, long x) {
  r->head = (r->head + r->cap - 1) % r->cap;
  r->v[r->head] = x;
  r->len++;
}

static long ring_pop(ring *r) {
  long x = r->v[r->head];
  r->head = (r->head + 1) % r->cap;
  r->len--;
  return x;
}

/* ---- one request in flight ---- */

typedef struct flight {
  long item;
  CURL *h;
  struct curl_slist *headers;
  char *url;
  char *body;
  ll_buf_capped answer;
  char errbuf[CURL_ERROR_SIZE];
} flight;

static void flight_free(flight *f) {
  if (f->h != NULL) {
    curl_easy_cleanup(f->h);
  }
  curl_slist_free_all(f->headers);
  free(f->url);
  free(f->body);
  ll_buf_free(&f->answer.buf);
  free(f);
}

static flight *flight_new(const bulk_send_opts *o, bulk_item *it, long idx) {
  flight *f = ll_xcalloc(1, sizeof *f);
  f->item = idx;
  ll_buf_init(&f->answer.buf);
  f->answer.max_bytes = ANSWER_MAX_BYTES;
  f->url = ll_xmalloc(strlen(o->api_url) + 16);
  sprintf(f->url, "%s%s", o->api_url,
          it->kind == BULK_LOT ? "/v1/lots" : "/v1/moves");
  f->body = json_dumps(it->body, JSON_COMPACT);
  f->headers = curl_slist_append(NULL, "Content-Type: application/json");
  f->headers = curl_slist_append(f->headers, "Accept: application/json");
  f->headers = curl_slist_append(f->headers, "Expect:");
  if (it->idempotency_key != NULL) {
    char *line = ll_xmalloc(strlen(it->idempotency_key) + 20);
    sprintf(line, "Idempotency-Key: %s", it->idempotency_key);
    f->headers = curl_slist_append(f->headers, line);
    free(line);
  }
  f->h = curl_easy_init();
  bool ok = f->h != NULL && f->body != NULL && f->headers != NULL;
  if (ok) {
    CURL *h = f->h;
    ok &= curl_easy_setopt(h, CURLOPT_URL, f->url) == CURLE_OK;
    ok &= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok &= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms) ==
          CURLE_OK;
    ok &= curl_easy_setopt(h, CURLOPT_USERAGENT, "lotline/" LOTLINE_VERSION) ==
          CURLE_OK;
    ok &= curl_easy_setopt(h, CURLOPT_HTTPHEADER, f->headers) == CURLE_OK;
    ok &= curl_easy_setopt(h, CURLOPT_POSTFIELDS, f->body) == CURLE_OK;
    ok &= curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(f->body)) ==
          CURLE_OK;
    ok &= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, ll_buf_capped_write) ==
          CURLE_OK;
    ok &= curl_easy_setopt(h, CURLOPT_WRITEDATA, &f->answer) == CURLE_OK;
    ok &= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, f->errbuf) == CURLE_OK;
    ok &= curl_easy_setopt(h, CURLOPT_PRIVATE, f) == CURLE_OK;
  }
  if (!ok) {
    flight_free(f);
    return NULL;
  }
  return f;
}

/* Read the outcome of a finished request into its item. Returns true when
 * the item is done, false when it should be retried. */
static bool settle(bulk_item *it, flight *f, CURLcode res) {
  long status = 0;
  curl_easy_getinfo(f->h, CURLINFO_RESPONSE_CODE, &status);
  it->status = status;
  it->attempts++;
  bool retry_left = it->attempts <= BULK_RETRIES;
  if (res != CURLE_OK) {
    char msg[BULK_MESSAGE_MAX];
    snprintf(msg, sizeof msg, "no answer from the API: %s",
             f->answer.too_large ? "answer too large"
             : f->errbuf[0] != 0 ? f->errbuf
                                 : curl_easy_strerror(res));
    if (retry_left && !f->answer.too_large) {
      return false;
    }
    bulk_item_fail(it, BULK_CODE_UNAVAILABLE, msg);
    return true;
  }
  if (status >= 200 && status <= 299) {
    it->done = true;
    return true;
  }
  if (status == 503 && retry_left) {
    return false;
  }
  json_error_t jerr;
  json_t *j =
      json_loadb((const char *)f->answer.buf.data, f->answer.buf.len, 0, &jerr);
  const char *code = json_string_value(json_object_get(j, "code"));
  const char *message = json_string_value(json_object_get(j, "message"));
  char fallback[32];
  if (code == NULL) {
    snprintf(fallback, sizeof fallback, "HTTP_%ld", status);
    code = fallback;
  }
  bulk_item_fail(it, code, message ? message : "(no message)");
  json_decref(j);
  return true;
}

/* ---- progress ---- */

typedef struct progress {
  bool on, tty;
  const char *what;
  size_t total;
  int last_decile;
  uint64_t last_draw_ns;
  size_t last_done; /* terminal: redraw only when it moved */
} progress;

static void progress_draw(progress *p, size_t done, size_t accepted,
                          size_t rejected, bool final) {
  if (!p->on || p->total == 0) {
    return;
  }
  int pct = (int)(done * 100 / p->total);
  if (p->tty) {
    uint64_t now = ll_mono_ns();
    if (!final && (done == p->last_done ||
                   now - p->last_draw_ns < PROGRESS_EVERY_MS * 1000000ULL)) {
      return;
    }
    p->last_draw_ns = now;
    p->last_done = done;
    char bar[BAR_WIDTH + 1];
    size_t fill = done * BAR_WIDTH / p->total;
    for (size_t i = 0; i < BAR_WIDTH; i++) {
      bar[i] = i < fill ? '#' : '.';
    }
    bar[BAR_WIDTH] = '\0';
    fprintf(stderr, "\r[%s] %3d%%  %zu/%zu %s  %zu accepted  %zu rejected", bar,
            pct, done, p->total, p->what, accepted, rejected);
    if (final) {
      fputc('\n', stderr);
    }
    fflush(stderr);
    return;
  }
  int decile = pct / 10;
  if (decile > p->last_decile || (final && pct != p->last_decile * 10)) {
    p->last_decile = decile;
    fprintf(stderr, "%zu/%zu %s (%d%%): %zu accepted, %zu rejected\n", done,
            p->total, p->what, pct, accepted, rejected);
  }
}

/* ---- summary ---- */

static void count_code(bulk_summary *s, const char *code) {
  for (size_t i = 0; i < s->n_codes; i++) {
    if (strcmp(s->codes[i].code, code) == 0) {
      s->codes[i].count++;
      return;
    }
  }
  if (s->n_codes == BULK_CODES_MAX - 1) {
    code = "OTHER"; /* more distinct codes than docs/rejections.md has */
    if (strcmp(s->codes[s->n_codes - 1].code, code) == 0) {
      s->codes[s->n_codes - 1].count++;
      return;
    }
  }
  snprintf(s->codes[s->n_codes].code, sizeof s->codes[0].code, "%s", code);
  s->codes[s->n_codes++].count = 1;
}

static int by_count(const void *a, const void *b) {
  const bulk_code_count *x = a, *y = b;
  if (x->count != y->count) {
    return x->count > y->count ? -1 : 1;
  }
  return strcmp(x->code, y->code);
}

/* An item has its final outcome: count it, let its lane go on. */
static void finish(bulk_batch *b, bulk_item *it, bulk_summary *s, ring *ready,
                   size_t *done) {
  (*done)++;
  if (it->code != NULL) {
    s->rejected++;
    count_code(s, it->code);
  } else {
    s->accepted++;
  }
  if (it->next_in_lane >= 0) {
    ring_push_back(ready, it->next_in_lane);
  }
  (void)b;
}

/* ---- the loop ---- */

/* One run of bulk_send: the queue of items whose lane may go, the retries
 * waiting out their pause, and the requests in flight. */
typedef struct sender {
  bulk_batch *b;
  const bulk_send_opts *o;
  bulk_summary *s;
  ring ready;    /* items whose turn it is in their lane */
  long *waiting; /* items waiting to be retried */
  size_t n_waiting;
  CURLM *multi;
  flight **live; /* item -> its request in flight */
  size_t done;
  int in_flight;
  progress pr;
} sender;

static int sender_init(sender *t, bulk_batch *b, const bulk_send_opts *o,
                       bulk_summary *s) {
  memset(t, 0, sizeof *t);
  t->b = b;
  t->o = o;
  t->s = s;
  t->multi = curl_multi_init();
  if (t->multi == NULL) {
    return -1;
  }
  curl_multi_setopt(t->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                    (long)o->concurrency);
  size_t n_heads = 0;
  long *heads = chain_lanes(b, &n_heads);
  t->ready =
      (ring){.v = ll_xmalloc((b->n + 1) * sizeof(long)), .cap = b->n + 1};
  for (size_t i = 0; i < n_heads; i++) {
    ring_push_back(&t->ready, heads[i]);
  }
  free(heads);
  t->waiting = ll_xmalloc((b->n + 1) * sizeof *t->waiting);
  t->live = ll_xcalloc(b->n + 1, sizeof *t->live);
  t->pr = (progress){.on = o->progress,
                     .tty = isatty(STDERR_FILENO) == 1,
                     .what = o->what,
                     .total = b->n,
                     .last_done = SIZE_MAX};
  return 0;
}

static void sender_free(sender *t) {
  for (size_t i = 0; i < t->b->n && t->in_flight > 0; i++) {
    if (t->live[i] != NULL) { /* only after a failure */
      curl_multi_remove_handle(t->multi, t->live[i]->h);
      flight_free(t->live[i]);
      t->in_flight--;
    }
  }
  free(t->live);
  if (t->multi != NULL) {
    curl_multi_cleanup(t->multi);
  }
  free(t->ready.v);
  free(t->waiting);
}

/* Retries whose pause is over go first: their lanes are waiting. */
static void release_retries(sender *t) {
  uint64_t now = ll_mono_ns();
  for (size_t i = 0; i < t->n_waiting;) {
    if (t->b->items[t->waiting[i]].retry_at_ns <= now) {
      ring_push_front(&t->ready, t->waiting[i]);
      t->waiting[i] = t->waiting[--t->n_waiting];
    } else {
      i++;
    }
  }
}

/* Start requests for ready items, up to the concurrency. */
static int launch_ready(sender *t) {
  while (t->in_flight < t->o->concurrency && t->ready.len > 0) {
    long idx = ring_pop(&t->ready);
    bulk_item *it = &t->b->items[idx];
    if (it->done || it->body == NULL) {
      if (!it->done) {
        bulk_item_fail(it, BULK_CODE_BAD_ROW, "nothing to send");
      }
      finish(t->b, it, t->s, &t->ready, &t->done); /* nothing to send */
      continue;
    }
    flight *f = flight_new(t->o, it, idx);
    if (f == NULL || curl_multi_add_handle(t->multi, f->h) != CURLM_OK) {
      if (f != NULL) {
        flight_free(f);
      }
      return -1;
    }
    t->live[idx] = f;
    t->in_flight++;
  }
  return 0;
}

/* Settle the requests libcurl finished: an outcome, or a retry later. */
static void collect_finished(sender *t) {
  CURLMsg *m;
  int left = 0;
  while ((m = curl_multi_info_read(t->multi, &left)) != NULL) {
    if (m->msg != CURLMSG_DONE) {
      continue;
    }
    flight *f = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&f);
    CURLcode res = m->data.result;
    curl_multi_remove_handle(t->multi, f->h);
    t->live[f->item] = NULL;
    t->in_flight--;
    bulk_item *it = &t->b->items[f->item];
    if (!settle(it, f, res)) {
      uint64_t pause_ms = (uint64_t)RETRY_PAUSE_MS << (it->attempts - 1);
      it->retry_at_ns = ll_mono_ns() + pause_ms * 1000000ULL;
      t->waiting[t->n_waiting++] = f->item;
      flight_free(f);
      continue;
    }
    flight_free(f);
    finish(t->b, it, t->s, &t->ready, &t->done);
  }
}

int bulk_send(bulk_batch *b, const bulk_send_opts *o, bulk_summary *s) {
  memset(s, 0, sizeof *s);
  sender t;
  int rc = sender_init(&t, b, o, s);
  while (rc == 0 && t.done < b->n) {
    release_retries(&t);
    rc = launch_ready(&t);
    int running = 0;
    if (rc == 0 && curl_multi_perform(t.multi, &running) != CURLM_OK) {
      rc = -1;
    }
    if (rc != 0) {
      break;
    }
    collect_finished(&t);
    progress_draw(&t.pr, t.done, s->accepted, s->rejected, false);
    bool blocked = t.ready.len == 0 || t.in_flight >= o->concurrency;
    if (t.done < b->n && (t.in_flight > 0 || t.n_waiting > 0) && blocked) {
      curl_multi_poll(t.multi, NULL, 0, POLL_MS, NULL);
    }
  }
  if (t.multi != NULL) {
    progress_draw(&t.pr, t.done, s->accepted, s->rejected, true);
  }
  sender_free(&t);
  qsort(s->codes, s->n_codes, sizeof s->codes[0], by_count);
  return rc;
}
