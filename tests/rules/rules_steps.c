/* rules_steps.c — runs table-driven rule scenarios (see rules_steps.h). */
#include "rules_steps.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ll_decimal.h"
#include "ll_event.h"

void step_event(const step *s, const char *auto_id, ll_event *ev) {
  const char *id = s->no_id ? NULL : (s->id ? s->id : auto_id);
  switch (s->type) {
  case 'C':
    ev_created(ev, id, s->product, s->lot, s->name, s->tracking);
    break;
  case 'U':
    ev_updated(ev, id, s->product, s->lot);
    ev_set(&ev->name, s->name);
    ev_set(&ev->new_product_id, s->new_product);
    ev->has_expected_version = s->has_version;
    ev->expected_version = s->version;
    break;
  case 'M': {
    int64_t q = 0;
    bool valid = true;
    const char *text = s->qty ? s->qty : "1";
    if (strcmp(text, "!") == 0)
      valid = false;
    else if (ll_decimal_parse(text, &q) != LL_DEC_OK)
      fail_msg("bad quantity %s in a test table", text);
    ev_moved(ev, id, s->product, s->lot, q, s->from, s->from_usage, s->to,
             s->to_usage);
    ev->quantity_valid = valid;
    ev_set(&ev->lot_name, s->lot_name);
    break;
  }
  default:
    fail_msg("bad step type %c", s->type);
  }
  ev_set(&ev->reference, s->reference);
  ev_set(&ev->description, s->description);
  ev->expiration_at = s->expiration;
  ev->use_by_at = s->use_by;
  ev->removal_at = s->removal;
  ev->alert_at = s->alert;
  if (s->at)
    ev->occurred_at_ms = s->at;
}

static const char *outcome(int code) {
  return code == EXPECT_DUP ? "duplicate"
         : code == LL_OK    ? "accepted"
                            : ll_code_name((ll_code)code);
}

void run_steps(rules_env *env, const char *scenario, const step *steps,
               size_t n) {
  for (size_t i = 0; i < n; i++) {
    const step *s = &steps[i];
    char auto_id[96];
    snprintf(auto_id, sizeof auto_id, "%s#%zu", scenario, i);
    ll_event ev;
    step_event(s, auto_id, &ev);

    uint64_t before_all = mem_state_fingerprint(env->state, 0);
    uint64_t before_rest = mem_state_fingerprint(env->state, 'e');
    ll_decision d;
    env_process(env, &ev, &d);
    int got = d.duplicate ? EXPECT_DUP : d.accepted ? LL_OK : (int)d.code;
    if (got != s->expect)
      fail_msg("%s step %zu: expected %s, got %s: %s", scenario, i,
               outcome(s->expect), outcome(got), d.message);
    if (s->msg && !strstr(d.message, s->msg))
      fail_msg("%s step %zu: message \"%s\" lacks \"%s\"", scenario, i,
               d.message, s->msg);
    if (s->msg2 && !strstr(d.message, s->msg2))
      fail_msg("%s step %zu: message \"%s\" lacks \"%s\"", scenario, i,
               d.message, s->msg2);
    if (got == EXPECT_DUP && mem_state_fingerprint(env->state, 0) != before_all)
      fail_msg("%s step %zu: a duplicate changed the state", scenario, i);
    if (got != LL_OK && got != EXPECT_DUP &&
        mem_state_fingerprint(env->state, 'e') != before_rest)
      fail_msg("%s step %zu: a rejection changed more than the event id",
               scenario, i);
    if (got != LL_OK && got != EXPECT_DUP && d.message[0] == '\0')
      fail_msg("%s step %zu: a rejection without a message", scenario, i);
    ll_decision_free(&d);
    ll_event_free(&ev);
  }
}
