/* fuzz_events.h — the events the fuzz target starts from.
 *
 * Every input is decided against the same small state: two products, a lot
 * (P1, tracked by LOT) with stock on a shelf and in production, a serial
 * (P2) in stock, and the usages of the locations they went through. The
 * seed corpus (make_corpus.c) is made of events that address that state,
 * so that from the first run the rules go past "unknown lot" into the
 * quantity, serial, product, name and date checks. */
#ifndef LL_FUZZ_EVENTS_H
#define LL_FUZZ_EVENTS_H

#include <stddef.h>

#include "ll_types.h"

/* Inputs may hold several messages separated by this marker: the later
 * ones are decided against the state the earlier ones left. */
#define FUZZ_SEPARATOR "LLFUZZ|"
#define FUZZ_SEPARATOR_LEN (sizeof FUZZ_SEPARATOR - 1)
#define FUZZ_MESSAGES_MAX 8

/* The base state, as events in order. *n receives the count; the events
 * are static (do not free). */
const ll_event *fuzz_base_events(size_t *n);

/* Seed events: each a named event that makes sense on the base state.
 * Static as well. */
typedef struct fuzz_seed {
  const char *name; /* file name stem */
  ll_event event;
} fuzz_seed;

const fuzz_seed *fuzz_seed_events(size_t *n);

#endif
