/* ll_rules.h — the inventory rules: a pure function of (facts, event).
 *
 * No Kafka, RocksDB or HTTP in here. ll_decide() checks the event in the
 * order docs/rejections.md gives and either accepts it (filling the lot's new
 * state and the quantity changes) or rejects it with a stable code and a
 * message that names the lot, product, location and quantities involved.
 * An identical redelivery of an event id is a duplicate (no-op); a
 * different event under a known id is EVENT_ID_REUSED. */
#ifndef LL_RULES_H
#define LL_RULES_H

#include "ll_state.h"

/* Field checks that need no state: required fields present, texts valid,
 * quantities positive, from != to, dates ordered. Also used by the HTTP API
 * to answer 422 before publishing. Returns LL_OK or the rejection code, with
 * the message in err. */
ll_code ll_check_fields(const ll_event *ev, ll_err *err);

/* Initialises *out (whatever it held is not freed); release it with
 * ll_decision_free. opts may be NULL (defaults). */
void ll_decide(const ll_facts *facts, const ll_event *ev,
               const ll_rule_opts *opts, ll_decision *out);

#endif
