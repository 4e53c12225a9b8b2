/* ll_notify.h — "something changed": a counter threads can wait on.
 *
 * The log store bumps one after each commit (or a secondary's catch-up
 * that found new writes), the views after each apply. A waiter reads the
 * counter, checks its own condition, then waits for the counter to move
 * past what it read: a change between the check and the wait is never
 * missed, and nobody polls. */
#ifndef LL_NOTIFY_H
#define LL_NOTIFY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Other counters a bump passes on to: a thread that waits for any of
 * several changes (the API's waiting writes: a commit of the log, an
 * apply of the views, a Kafka acknowledgement) waits on one counter of its
 * own that listens to the others. */
#define LL_NOTIFY_LISTENERS_MAX 4

typedef struct ll_notify {
  pthread_mutex_t mu;
  pthread_cond_t cv; /* on CLOCK_MONOTONIC, the clock of ll_mono_ns() */
  uint64_t seq;
  struct ll_notify *listeners[LL_NOTIFY_LISTENERS_MAX];
  size_t n_listeners;
} ll_notify;

void ll_notify_init(ll_notify *n);
void ll_notify_destroy(ll_notify *n);
/* The counter now: read it before checking the condition waited for. */
uint64_t ll_notify_seq(ll_notify *n);
/* Count a change and wake every waiter. */
void ll_notify_bump(ll_notify *n);
/* From now on each bump of n bumps also too; false when n has
 * LL_NOTIFY_LISTENERS_MAX listeners already. A listener never listens
 * back (its own lock is taken under n's). */
bool ll_notify_listen(ll_notify *n, ll_notify *also);
/* No more; once it returns, no bump of n touches also. */
void ll_notify_unlisten(ll_notify *n, ll_notify *also);
/* Wait until the counter differs from seen or ll_mono_ns() reaches
 * deadline_ns; returns the counter. */
uint64_t ll_notify_wait(ll_notify *n, uint64_t seen, uint64_t deadline_ns);

#endif
