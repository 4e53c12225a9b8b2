/* ll_notify.c — a change counter with a condition variable (ll_notify.h). */
#include "ll_notify.h"

#include <stdlib.h>
#include <time.h>

#include "ll_time.h"

#define NS_PER_S 1000000000ull

void ll_notify_init(ll_notify *n) {
  pthread_condattr_t attr;
  /* Only out-of-memory makes these fail: nothing to carry on with. */
  if (pthread_mutex_init(&n->mu, NULL) != 0 ||
      pthread_condattr_init(&attr) != 0 ||
      pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
      pthread_cond_init(&n->cv, &attr) != 0)
    abort();
  pthread_condattr_destroy(&attr);
  n->seq = 0;
  n->n_listeners = 0;
}

void ll_notify_destroy(ll_notify *n) {
  pthread_cond_destroy(&n->cv);
  pthread_mutex_destroy(&n->mu);
}

uint64_t ll_notify_seq(ll_notify *n) {
  pthread_mutex_lock(&n->mu);
  uint64_t seq = n->seq;
  pthread_mutex_unlock(&n->mu);
  return seq;
}

void ll_notify_bump(ll_notify *n) {
  pthread_mutex_lock(&n->mu);
  n->seq++;
  pthread_cond_broadcast(&n->cv);
  /* Under n's lock, so that an unlisten that returned is never followed
   * by a bump of the listener it removed. */
  for (size_t i = 0; i < n->n_listeners; i++)
    ll_notify_bump(n->listeners[i]);
  pthread_mutex_unlock(&n->mu);
}

bool ll_notify_listen(ll_notify *n, ll_notify *also) {
  pthread_mutex_lock(&n->mu);
  bool room = n->n_listeners < LL_NOTIFY_LISTENERS_MAX;
  if (room)
    n->listeners[n->n_listeners++] = also;
  pthread_mutex_unlock(&n->mu);
  return room;
}

void ll_notify_unlisten(ll_notify *n, ll_notify *also) {
  pthread_mutex_lock(&n->mu);
  for (size_t i = 0; i < n->n_listeners; i++) {
    if (n->listeners[i] == also) {
      n->listeners[i] = n->listeners[--n->n_listeners];
      break;
    }
  }
  pthread_mutex_unlock(&n->mu);
}

uint64_t ll_notify_wait(ll_notify *n, uint64_t seen, uint64_t deadline_ns) {
  struct timespec at = {.tv_sec = (time_t)(deadline_ns / NS_PER_S),
                        .tv_nsec = (long)(deadline_ns % NS_PER_S)};
  pthread_mutex_lock(&n->mu);
  while (n->seq == seen && ll_mono_ns() < deadline_ns)
    (void)pthread_cond_timedwait(&n->cv, &n->mu, &at);
  uint64_t seq = n->seq;
  pthread_mutex_unlock(&n->mu);
  return seq;
}
