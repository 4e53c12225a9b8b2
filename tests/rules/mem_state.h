/* mem_state.h — the rules' state in memory, for tests.
 *
 * A byte-keyed hash map behind an ll_state_reader, plus a harness that runs
 * an event through the three steps the command consumer runs (load facts,
 * decide, write the decision's mutations) and small event builders. */
#ifndef LL_TEST_MEM_STATE_H
#define LL_TEST_MEM_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ll_rules.h"
#include "ll_state.h"

typedef struct mem_state mem_state;

mem_state *mem_state_new(void);
void mem_state_free(mem_state *m);
ll_state_reader mem_state_reader(mem_state *m);
void mem_state_apply(mem_state *m, const ll_mutations *muts);
/* Raw access, for tests that look at the stored form. */
bool mem_state_get(mem_state *m, const void *key, size_t key_len,
                   const uint8_t **value, size_t *value_len);
void mem_state_put(mem_state *m, const void *key, size_t key_len,
                   const void *value, size_t value_len);
size_t mem_state_count(const mem_state *m);
/* Calls fn for every entry, in no particular order. */
void mem_state_foreach(mem_state *m,
                       void (*fn)(void *ctx, const uint8_t *key, size_t key_len,
                                  const uint8_t *value, size_t value_len),
                       void *ctx);
/* Order-independent hash of every entry whose key does not start with
 * skip_kind (0 = none): "did anything but X change?". */
uint64_t mem_state_fingerprint(mem_state *m, char skip_kind);

/* The command consumer's loop body, in memory. */
typedef struct rules_env {
  mem_state *state;
  ll_rule_opts opts;
  uint64_t last_position;
} rules_env;

void env_init(rules_env *env);
void env_free(rules_env *env);
/* Load facts, decide, apply the mutations. d is initialised here; free it
 * with ll_decision_free. Fails the test on a state read error. */
void env_process(rules_env *env, const ll_event *ev, ll_decision *d);
/* The lot (product_id, lot_id) as stored (found == false if absent). lot
 * must be freed. */
bool env_lot(rules_env *env, const char *product_id, const char *lot_id,
             ll_lot *lot);
/* The stored quantity of a lot at a location ("q" key), 0 when absent. */
int64_t env_qty(rules_env *env, const char *product_id, const char *lot_id,
                const char *location_id);

/* Event builders: every string argument is copied; NULL stays NULL. */
void ev_created(ll_event *ev, const char *event_id, const char *product_id,
                const char *lot_id, const char *name, ll_tracking tracking);
void ev_updated(ll_event *ev, const char *event_id, const char *product_id,
                const char *lot_id);
void ev_moved(ll_event *ev, const char *event_id, const char *product_id,
              const char *lot_id, int64_t quantity_micro, const char *from_id,
              ll_usage from_usage, const char *to_id, ll_usage to_usage);
/* Replace a string field of ev with a copy of s. */
void ev_set(char **field, const char *s);

#endif
