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

/* A follower that gathers: the projector and the publisher follow the
 * log's commits, and a step costs them about the same for one entry as
 * for a hundred (a views write, a Kafka transaction). While entries keep
 * coming (the log changed during the last step, which did not fill up)
 * the next step waits until interval_ns after the last one began; after
 * a quiet spell, or behind a backlog, it goes at once. So a lone change is
 * followed at once, and a steady stream in steps of at most one a
 * interval. */
typedef struct ll_gather {
  uint64_t interval_ns;
  uint64_t step_ns; /* when the last step began (ll_mono_ns) */
  bool busy;        /* entries kept coming during it */
} ll_gather;

/* Wait, if due, before the next step; then mark its start. */
void ll_gather_before_step(ll_gather *g);
/* After the step: did the counter move during it (more came), and did the
 * step take all it could (full: a backlog, go on at once)? */
void ll_gather_after_step(ll_gather *g, bool more_came, bool full);

#endif
