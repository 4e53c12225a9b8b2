/* api_wait.c — writes waiting for their outcome, and reads waiting for
 * ?min_position=, without a thread each.
 *
 * A write (api_write.c) is published to Kafka and then waits: for the
 * broker's acknowledgement, for the command consumer's decision, then
 * for the views to reach the accepted entry. Holding a libmicrohttpd
 * worker for all of that would let only as many writes wait as the pool
 * has threads. Instead the write's connection is suspended
 * (MHD_suspend_connection) and the write handed to this file: one thread
 * (the waker) looks at every waiting write each time something it waits
 * for may have happened, and resumes the connection of each write that
 * can be answered; libmicrohttpd then calls the access handler again on
 * one of its workers, which builds the answer (api_write_finish).
 *
 * The waker waits on a counter of its own (ll_notify) that listens, while
 * writes wait, to the log store's (each commit, or a follower's catch-up
 * that found new writes) and the views' (each apply); a Kafka
 * acknowledgement bumps it too. Nobody polls: between bumps the waker sleeps
 * until the nearest deadline of a waiting write.
 *
 * Life of a waiting write (api_pending): created by the request with two
 * references, the request's and the delivery report's. The report can
 * come after the request ended (a timeout, a client gone, the API
 * stopped), so the pending write lives until both are done with it, and
 * it holds a reference to the waker's state (api_waits), which the API
 * drops when it stops: the last one frees it. All these counts and the
 * delivery fields are guarded by one process-wide lock.
 *
 * A read with ?min_position= beyond the views waits the same way
 * (API_WAIT_READ, api_reply.c): suspended until the views reach the
 * position or its deadline passes, then dispatched again and answered;
 * so a few such reads cannot hold every worker of a small pool.
 *
 * Stopping: no write is suspended any more, every waiting one is resumed
 * to be answered as timed out (as a blocked one was before), and the stop
 * waits (at most API_WAIT_DRAIN_MS) for them to be answered, because
 * libmicrohttpd must not be stopped with a suspended connection. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "ll_logging.h"
#include "ll_mem.h"
#include "ll_notify.h"
#include "ll_state.h"
#include "ll_store.h"
#include "ll_time.h"

#define NS_PER_MS 1000000ULL
/* With nothing waiting the waker still looks this often (a stop bumps it
 * anyway: this only bounds a wait that nothing else bounds). */
#define API_WAIT_IDLE_MS 1000
/* At stop, how long the resumed writes get to be answered. */
#define API_WAIT_DRAIN_MS 1000
/* Log entries or rejections read at a time while matching outcomes. */
#define API_WAIT_SCAN_MAX 256

struct api_waits {
  ll_api *api;
  pthread_mutex_t mu;
  pthread_cond_t drained; /* suspended reached 0 */
  ll_notify wake;         /* listens to the log and the views */
  pthread_t waker;
  bool closing;
  api_pending *waiting[LL_API_CONNECTIONS_MAX]; /* one request a connection */
  size_t n_waiting;
  size_t suspended; /* connections suspended and not answered yet */
  size_t refs;      /* the API's and each pending write's */
  /* Matching outcomes (the waker's): the last log position and rejection
   * sequence looked at, and room to read the next ones. */
  uint64_t log_seen;
  uint64_t rejection_seen;
  bool listening; /* to the log's and the views' changes */
  ll_entry entries[API_WAIT_SCAN_MAX];
  ll_stored_rejection rejections[API_WAIT_SCAN_MAX];
};

/* Guards every api_pending's refs, delivered and delivery_err, and every
 * api_waits' refs: the delivery report may come after the API that made
 * it is gone. */
static pthread_mutex_t delivery_mu = PTHREAD_MUTEX_INITIALIZER;

/* ---- a pending write ---- */

api_pending *api_pending_new(ll_api *api, struct MHD_Connection *conn,
                             ll_event *ev, uint64_t deadline_ns) {
  api_pending *p = ll_xcalloc(1, sizeof *p);
  p->conn = conn;
  p->ev = *ev; /* moved: the caller's copy is emptied */
  ll_event_init(ev);
  p->deadline_ns = deadline_ns;
  p->phase = API_WAIT_DELIVERY;
  p->refs = 2; /* the request's and the delivery report's */
  p->waits = api->waits;
  pthread_mutex_lock(&delivery_mu);
  p->waits->refs++;
  pthread_mutex_unlock(&delivery_mu);
  return p;
}

api_pending *api_pending_new_read(ll_api *api, struct MHD_Connection *conn,
                                  const api_read_target *t,
                                  uint64_t deadline_ns) {
  api_pending *p = ll_xcalloc(1, sizeof *p);
  p->conn = conn;
  ll_event_init(&p->ev);
  p->deadline_ns = deadline_ns;
  p->phase = API_WAIT_READ;
  p->read = *t;
  p->refs = 1; /* the request's: nothing is sent */
  p->waits = api->waits;
  pthread_mutex_lock(&delivery_mu);
  p->waits->refs++;
  pthread_mutex_unlock(&delivery_mu);
  return p;
}

bool api_read_reached(ll_api *api, const api_read_target *t) {
  return t->token ? ll_views_task_position(api->deps.views, t->partition) >=
                        t->task_position
                  : ll_views_position(api->deps.views) >= t->position;
}

static void waits_destroy(api_waits *w) {
  ll_notify_destroy(&w->wake);
  pthread_cond_destroy(&w->drained);
  pthread_mutex_destroy(&w->mu);
  free(w);
}

/* Drop a reference to w; the caller holds delivery_mu. True when it was
 * the last: destroy w once the lock is released. */
static bool waits_unref_locked(api_waits *w) {
  assert(w->refs > 0);
  return --w->refs == 0;
}

static void pending_unref(api_pending *p) {
  pthread_mutex_lock(&delivery_mu);
  assert(p->refs > 0);
  bool last = --p->refs == 0;
  bool last_waits = last && waits_unref_locked(p->waits);
  pthread_mutex_unlock(&delivery_mu);
  if (!last)
    return;
  if (last_waits)
    waits_destroy(p->waits);
  ll_event_free(&p->ev);
  free(p);
}

void api_pending_delivered(void *arg, const ll_delivery_report *d) {
  api_pending *p = arg;
  pthread_mutex_lock(&delivery_mu);
  p->delivered = true;
  p->delivery_err = d->err;
  ll_notify_bump(&p->waits->wake); /* harmless once the API stopped */
  pthread_mutex_unlock(&delivery_mu);
  pending_unref(p);
}

void api_pending_undelivered(api_pending *p) {
  pending_unref(p); /* no report will come */
}

void api_pending_drop(api_pending *p) {
  pending_unref(p);
}

bool api_pending_delivery(api_pending *p, int *err) {
  pthread_mutex_lock(&delivery_mu);
  bool delivered = p->delivered;
  *err = p->delivery_err;
  pthread_mutex_unlock(&delivery_mu);
  return delivered;
}

/* ---- the waker ---- */

/* An outcome is found without reading the state, which costs a look
 * through every journal record for an event id not decided yet: the
 * waker reads the entries appended since its last look and matches them
 * against the waiting writes (accepted), and the new rejections' event
 * ids (then one read of the state, which finds it in the newest record).
 * A write still without an outcome at its deadline gets one last read of
 * the state (a concurrent request with the same Idempotency-Key, decided
 * before this one waited). */

static bool is_write(const api_pending *p) {
  return p->phase != API_WAIT_READ;
}

/* Whether a write waits: only writes look for outcomes. Under w->mu. */
static bool writes_wait(const api_waits *w) {
  for (size_t i = 0; i < w->n_waiting; i++)
    if (is_write(w->waiting[i]))
      return true;
  return false;
}

static bool same_event(const api_pending *p, const ll_event *ev) {
  return is_write(p) && ev->event_id != NULL && ev->product_id != NULL &&
         strcmp(p->ev.event_id, ev->event_id) == 0 &&
         strcmp(p->ev.product_id, ev->product_id) == 0;
}

static void match_entry(api_waits *w, const ll_entry *e) {
  for (size_t i = 0; i < w->n_waiting; i++) {
    api_pending *p = w->waiting[i];
    if (p->seen.found || !same_event(p, &e->event))
      continue;
    p->seen.found = true;
    p->seen.accepted = true;
    p->seen.position = e->position;
    p->seen.partition = e->partition;
    p->seen.task_position = e->task_position;
  }
}

/* Match the entries appended since the last look. */
static void scan_log(api_waits *w) {
  ll_store *log = w->api->deps.log;
  uint64_t last = ll_store_last_position(log);
  while (w->log_seen < last) {
    uint64_t left = last - w->log_seen;
    size_t want = left < API_WAIT_SCAN_MAX ? (size_t)left : API_WAIT_SCAN_MAX;
    size_t n = 0;
    ll_err err = {0};
    if (ll_store_read_log(log, w->log_seen + 1, w->entries, want, &n, &err) !=
        0) {
      /* The deadline's read of the state still answers them. */
      ll_log(LL_WARN, "http", "waiting writes: reading the log (%s): %s",
             ll_err_kind_name(err.kind), err.message);
      for (size_t i = 0; i < want; i++)
        ll_entry_free(&w->entries[i]);
      memset(w->entries, 0, want * sizeof *w->entries);
      w->log_seen = last;
      return;
    }
    if (n == 0)
      return;
    w->log_seen = w->entries[n - 1].position;
    for (size_t i = 0; i < n; i++) {
      match_entry(w, &w->entries[i]);
      ll_entry_free(&w->entries[i]);
    }
    memset(w->entries, 0, n * sizeof *w->entries);
  }
}

static void hint_rejected(api_waits *w, const char *event_id) {
  for (size_t i = 0; i < w->n_waiting; i++) {
    api_pending *p = w->waiting[i];
    if (is_write(p) &&
        (event_id == NULL || strcmp(p->ev.event_id, event_id) == 0))
      p->maybe_rejected = true;
  }
}

/* Flag the waiting writes whose event ids were rejected since the last
 * look (all of them when more came than one look reads). */
static void scan_rejections(api_waits *w) {
  ll_store *log = w->api->deps.log;
  uint64_t last = ll_store_last_rejection(log);
  uint64_t from = w->rejection_seen; /* the last one looked at */
  if (last <= from)
    return;
  w->rejection_seen = last;
  if (last - from > API_WAIT_SCAN_MAX / 2) {
    hint_rejected(w, NULL);
    return;
  }
  /* Newest first; a few more than new, in case more came meanwhile. */
  size_t want = (size_t)(last - from) + API_WAIT_SCAN_MAX / 2;
  size_t n = 0;
  ll_err err = {0};
  if (ll_store_recent_rejections(log, want, w->rejections, &n, &err) != 0) {
    hint_rejected(w, NULL);
    return;
  }
  bool all_read = n < want || (n > 0 && w->rejections[n - 1].sequence <= from);
  for (size_t i = 0; i < n; i++) {
    if (w->rejections[i].sequence > from)
      hint_rejected(w, w->rejections[i].event_id);
    if (w->rejections[i].sequence > w->rejection_seen)
      w->rejection_seen = w->rejections[i].sequence;
    ll_stored_rejection_free(&w->rejections[i]);
  }
  if (!all_read)
    hint_rejected(w, NULL);
}

/* Read p's outcome from the state. */
static void read_outcome(api_waits *w, api_pending *p) {
  ll_state_reader reader = ll_store_state_reader(w->api->deps.log);
  if (ll_state_get_seen(&reader, p->ev.product_id, p->ev.event_id, &p->seen,
                        &p->err) != 0)
    p->storage_failed = true;
}

/* Move p on as far as it can go now; true when it can be answered. */
static bool advance(api_waits *w, api_pending *p, uint64_t now_ns) {
  bool late = w->closing || now_ns >= p->deadline_ns;
  if (p->phase == API_WAIT_READ)
    return late || api_read_reached(w->api, &p->read);
  if (p->send_failed)
    return true;
  if (p->phase == API_WAIT_DELIVERY) {
    int err = 0;
    bool delivered = api_pending_delivery(p, &err);
    if (delivered && err != 0)
      return true; /* Kafka refused it: say so */
    if (!delivered && !p->seen.found && !late)
      return false;
    p->phase = API_WAIT_OUTCOME;
  }
  if (p->phase == API_WAIT_OUTCOME) {
    if (!p->seen.found && (p->maybe_rejected || late)) {
      p->maybe_rejected = false;
      read_outcome(w, p);
      if (p->storage_failed)
        return true;
    }
    if (!p->seen.found)
      return late;
    if (!p->seen.accepted)
      return true;
    p->phase = API_WAIT_VIEWS;
  }
  return late || ll_views_position(w->api->deps.views) >= p->seen.position;
}

/* Listen to the log's and the views' changes only while writes wait: an
 * idle waker woken by every commit and apply would take CPU from the
 * projector it follows. Under w->mu. */
static void listen_changes(api_waits *w, bool on) {
  if (w->listening == on)
    return;
  ll_notify *log = ll_store_notifier(w->api->deps.log);
  ll_notify *views = ll_views_notifier(w->api->deps.views);
  if (!on) {
    ll_notify_unlisten(log, &w->wake);
    ll_notify_unlisten(views, &w->wake);
  } else if (!ll_notify_listen(log, &w->wake) ||
             !ll_notify_listen(views, &w->wake)) {
    /* Only the deadlines wake the waker then: slow answers, not wrong. */
    ll_notify_unlisten(log, &w->wake);
    ll_log(LL_ERROR, "http", "waiting writes: %s",
           "too many listeners on the log's or the views' changes");
    return;
  }
  w->listening = on;
}

/* Take the writes that can be answered off the list into ready; returns
 * how many, and sets *next_ns to the nearest deadline of the others. */
static size_t take_ready(api_waits *w, api_pending **ready, uint64_t *next_ns) {
  uint64_t now = ll_mono_ns();
  *next_ns = now + API_WAIT_IDLE_MS * NS_PER_MS;
  if (w->n_waiting == 0)
    return 0;
  if (writes_wait(w)) {
    scan_log(w);
    scan_rejections(w);
  }
  size_t n_ready = 0;
  for (size_t i = 0; i < w->n_waiting;) {
    api_pending *p = w->waiting[i];
    if (advance(w, p, now)) {
      ready[n_ready++] = p;
      w->waiting[i] = w->waiting[--w->n_waiting];
      continue;
    }
    if (p->deadline_ns < *next_ns)
      *next_ns = p->deadline_ns;
    i++;
  }
  if (w->n_waiting == 0)
    listen_changes(w, false);
  return n_ready;
}

static void *waker_main(void *arg) {
  api_waits *w = arg;
  api_pending **ready = ll_xcalloc(LL_API_CONNECTIONS_MAX, sizeof *ready);
  pthread_mutex_lock(&w->mu);
  while (!w->closing) {
    /* The counter first: a change after the look wakes the wait. */
    uint64_t seen = ll_notify_seq(&w->wake);
    uint64_t next_ns = 0;
    size_t n = take_ready(w, ready, &next_ns);
    pthread_mutex_unlock(&w->mu);
    /* Off the list, still suspended: only this thread touches them now,
     * and the request cannot end before it is resumed. */
    for (size_t i = 0; i < n; i++)
      MHD_resume_connection(ready[i]->conn);
    if (n == 0)
      ll_notify_wait(&w->wake, seen, next_ns);
    pthread_mutex_lock(&w->mu);
  }
  pthread_mutex_unlock(&w->mu);
  free(ready);
  return NULL;
}

/* ---- life cycle ---- */

int api_waits_start(ll_api *api, ll_err *err) {
  api_waits *w = ll_xcalloc(1, sizeof *w);
  w->api = api;
  w->refs = 1;
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->drained, NULL);
  ll_notify_init(&w->wake);
  api->waits = w;
  if (api->deps.views == NULL)
    return 0; /* ops only: no writes, no waker */
  if (pthread_create(&w->waker, NULL, waker_main, w) != 0) {
    api_waits_free(api);
    return ll_fail(err, LL_ERR_INTERNAL, "cannot start the writes' waker");
  }
  w->api->waits_running = true;
  return 0;
}

bool api_wait_suspend(api_request *rq, api_pending *p) {
  api_waits *w = rq->api->waits;
  pthread_mutex_lock(&w->mu);
  bool ok = !w->closing && w->api->waits_running &&
            w->n_waiting < LL_API_CONNECTIONS_MAX;
  if (ok && is_write(p) && !writes_wait(w)) {
    /* Nothing was matched meanwhile: what the log holds now cannot be
     * this write's outcome, which comes after its send. */
    w->log_seen = ll_store_last_position(w->api->deps.log);
    w->rejection_seen = ll_store_last_rejection(w->api->deps.log);
  }
  if (ok && w->n_waiting == 0)
    listen_changes(w, true);
  if (ok) {
    MHD_suspend_connection(rq->conn);
    w->waiting[w->n_waiting++] = p;
    w->suspended++;
    rq->pending = p;
  }
  pthread_mutex_unlock(&w->mu);
  /* A read looked at the views before it was listed: the waker looks
   * again, so an apply in between is not missed. */
  if (ok && p->phase == API_WAIT_READ)
    ll_notify_bump(&w->wake);
  return ok;
}

void api_wait_send_failed(api_request *rq, const char *why) {
  api_waits *w = rq->api->waits;
  pthread_mutex_lock(&w->mu);
  rq->pending->send_failed = true;
  snprintf(rq->pending->send_error, sizeof rq->pending->send_error, "%s", why);
  pthread_mutex_unlock(&w->mu);
  ll_notify_bump(&w->wake);
}

void api_wait_release(api_request *rq) {
  api_pending *p = rq->pending;
  if (p == NULL)
    return;
  rq->pending = NULL;
  api_waits *w = rq->api->waits;
  pthread_mutex_lock(&w->mu);
  for (size_t i = 0; i < w->n_waiting; i++) {
    if (w->waiting[i] == p) { /* the connection ended while suspended */
      w->waiting[i] = w->waiting[--w->n_waiting];
      break;
    }
  }
  assert(w->suspended > 0);
  if (--w->suspended == 0)
    pthread_cond_broadcast(&w->drained);
  pthread_mutex_unlock(&w->mu);
  pending_unref(p);
}

/* Resume every waiting write (they answer as timed out), then wait a
 * little for the workers to answer them. The resumes happen outside the
 * lock, as the waker's do: libmicrohttpd takes its own locks in them. */
static void drain(api_waits *w) {
  api_pending **resume = ll_xcalloc(LL_API_CONNECTIONS_MAX, sizeof *resume);
  pthread_mutex_lock(&w->mu);
  size_t n = w->n_waiting;
  memcpy(resume, w->waiting, n * sizeof *resume);
  w->n_waiting = 0;
  pthread_mutex_unlock(&w->mu);
  for (size_t i = 0; i < n; i++)
    MHD_resume_connection(resume[i]->conn);
  free(resume);
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += API_WAIT_DRAIN_MS / 1000;
  pthread_mutex_lock(&w->mu);
  while (w->suspended > 0 &&
         pthread_cond_timedwait(&w->drained, &w->mu, &until) == 0)
    ;
  if (w->suspended > 0)
    ll_log(LL_WARN, "http", "%zu write(s) not answered at stop", w->suspended);
  pthread_mutex_unlock(&w->mu);
}

void api_waits_close(ll_api *api) {
  api_waits *w = api->waits;
  if (w == NULL)
    return;
  pthread_mutex_lock(&w->mu);
  w->closing = true;
  pthread_mutex_unlock(&w->mu);
  if (api->waits_running) {
    ll_notify_bump(&w->wake);
    pthread_join(w->waker, NULL);
    pthread_mutex_lock(&w->mu);
    listen_changes(w, false);
    pthread_mutex_unlock(&w->mu);
    api->waits_running = false;
  }
  drain(w);
}

void api_waits_free(ll_api *api) {
  api_waits *w = api->waits;
  if (w == NULL)
    return;
  assert(!api->waits_running);
  api->waits = NULL;
  pthread_mutex_lock(&delivery_mu);
  w->api = NULL; /* pending writes still held by Kafka keep w alone */
  bool last = waits_unref_locked(w);
  pthread_mutex_unlock(&delivery_mu);
  if (last)
    waits_destroy(w);
}
