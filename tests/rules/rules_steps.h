/* rules_steps.h — table-driven scenarios for the rules.
 *
 * A scenario is a list of steps; each step is one event, written with
 * designated initialisers, and the outcome expected for it. Steps run in
 * order against one in-memory state, so a table reads like the story of a
 * lot. A step without an event id gets a fresh one. */
#ifndef LL_TEST_RULES_STEPS_H
#define LL_TEST_RULES_STEPS_H

#include "mem_state.h"

#define EXPECT_DUP (-1)    /* identical redelivery: a no-op */
#define T0 1800000000000LL /* 2027-01-15T08:00:00Z, default occurred_at */
#define DAY_MS 86400000LL

typedef struct step {
  char type;      /* 'C' LotCreated, 'U' LotUpdated, 'M' StockMoved */
  const char *id; /* NULL: a fresh id; "" and others: as given */
  bool no_id;     /* event_id NULL */
  const char *product;
  const char *lot;
  const char *lot_name;
  const char *name;
  ll_tracking tracking;
  const char *new_product;
  const char *reference;
  const char *description;
  const char *qty; /* decimal; NULL with type 'M' = "1"; "!" = not valid */
  const char *from;
  ll_usage from_usage;
  const char *to;
  ll_usage to_usage;
  bool has_version;
  int64_t version;
  ll_opt_time expiration, use_by, removal, alert;
  int64_t at;       /* occurred_at; 0 = T0 */
  int expect;       /* ll_code, LL_OK = accepted, or EXPECT_DUP */
  const char *msg;  /* substring the message must contain */
  const char *msg2; /* and another */
} step;

#define CREATE(p, l, n) .type = 'C', .product = (p), .lot = (l), .name = (n)
#define UPDATE(p, l) .type = 'U', .product = (p), .lot = (l)
#define MOVE(p, l, q, f, fu, t, tu)                                            \
  .type = 'M', .product = (p), .lot = (l), .qty = (q), .from = (f),            \
  .from_usage = LL_USAGE_##fu, .to = (t), .to_usage = LL_USAGE_##tu
#define AT(ms) ((ll_opt_time){true, (ms)})

/* Build the event of a step (ev is initialised here). */
void step_event(const step *s, const char *auto_id, ll_event *ev);
/* Run steps in order; fails the test with the scenario name and step index
 * on the first unexpected outcome. Also checks that a rejection changes
 * nothing but event id records and a duplicate changes nothing at all. */
void run_steps(rules_env *env, const char *scenario, const step *steps,
               size_t n);
#define RUN(env, steps)                                                        \
  run_steps((env), #steps, (steps), sizeof(steps) / sizeof((steps)[0]))

#endif
