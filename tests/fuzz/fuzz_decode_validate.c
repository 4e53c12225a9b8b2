/* fuzz_decode_validate.c — libFuzzer target: bytes from Kafka through
 * everything the command consumer does before RocksDB.
 *
 * Each input is one message value, or up to FUZZ_MESSAGES_MAX of them
 * joined by FUZZ_SEPARATOR. Every message goes through
 *   ll_codec_decode  (single-object, Confluent via a loopback registry)
 *   ll_check_fields
 *   ll_facts_load    (against an in-memory state: tests/rules/mem_state)
 *   ll_decide
 *   ll_decision_mutations, applied to the state for the next message
 * starting from the base state of fuzz_events.c, rebuilt for every input so
 * that runs reproduce.
 *
 * Besides what ASan and UBSan catch, a finding is any broken promise
 * (abort with a message):
 *   - decode answers OK, MALFORMED or UNKNOWN_SCHEMA, with a message when
 *     it is not OK, and never asks to retry (the registry is up);
 *   - an event that decodes and re-encodes decodes to the same event;
 *   - a decision is either a duplicate, an acceptance that passed the field
 *     checks, or a rejection with a code and a message;
 *   - an accepted event leaves no stock location below zero, a lot's on
 *     hand >= 0 and a serial's on hand 0 or 1;
 *   - the same message delivered again changes nothing.
 *
 * Built with clang -fsanitize=fuzzer,address,undefined when LOTLINE_FUZZ
 * is ON; the normal build links it with replay_main.c instead, to run the
 * corpus and the regression inputs as an ordinary test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_events.h"
#include "fuzz_registry.h"
#include "ll_codec.h"
#include "ll_event.h"
#include "ll_logging.h"
#include "ll_rules.h"
#include "mem_state.h"

#define FUZZ_PATH_MAX 1024

static ll_codec *codec;
static fuzz_registry *registry;
static bool verbose; /* FUZZ_VERBOSE=1: print each outcome (seed review) */

#define FUZZ_CHECK(cond, ...)                                                  \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "fuzz: broken promise: %s: ", #cond);                    \
      fprintf(stderr, __VA_ARGS__);                                            \
      fprintf(stderr, "\n");                                                   \
      abort();                                                                 \
    }                                                                          \
  } while (0)

static const char *source_dir(void) {
  const char *d = getenv("LOTLINE_SOURCE");
  return d && *d ? d : LOTLINE_SOURCE_DIR;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  ll_log_set_level(LL_ERROR);
  verbose = getenv("FUZZ_VERBOSE") != NULL;
  char url[64], schemas[FUZZ_PATH_MAX];
  registry = fuzz_registry_start(source_dir(), url, sizeof url);
  if (registry == NULL)
    abort();
  snprintf(schemas, sizeof schemas, "%s/schemas", source_dir());
  ll_err err = {0};
  codec = ll_codec_open(schemas, url, &err);
  if (codec == NULL) {
    fprintf(stderr, "fuzz: codec: %s\n", err.message);
    abort();
  }
  return 0;
}

/* For replay_main.c: release what LLVMFuzzerInitialize took, so that leak
 * checkers see a clean exit. */
void fuzz_shutdown(void) {
  ll_codec_close(codec);
  fuzz_registry_stop(registry);
  codec = NULL;
  registry = NULL;
}

typedef struct run {
  mem_state *state;
  uint64_t position;
} run;

/* Load facts, decide, record: the command consumer's loop body. */
static void decide(run *r, const ll_event *ev, ll_decision *d) {
  ll_state_reader reader = mem_state_reader(r->state);
  ll_facts facts;
  ll_err err = {0};
  FUZZ_CHECK(ll_facts_load(&reader, ev, &facts, &err) == 0, "%s", err.message);
  ll_decide(&facts, ev, NULL, d);
  ll_facts_free(&facts);
  ll_mutations muts;
  ll_mutations_init(&muts);
  ll_log_at at = {d->accepted ? ++r->position : 0, -1, r->position};
  ll_decision_mutations(ev, d, d->accepted ? &at : NULL, &muts);
  mem_state_apply(r->state, &muts);
  ll_mutations_free(&muts);
}

static void check_decision(const ll_event *ev, ll_code fields,
                           const ll_decision *d) {
  if (d->duplicate) {
    FUZZ_CHECK(!d->accepted, "event %s", ev->event_id);
    return;
  }
  if (!d->accepted) {
    FUZZ_CHECK(d->code > LL_OK && d->code < LL_CODE_COUNT, "code %d",
               (int)d->code);
    FUZZ_CHECK(memchr(d->message, '\0', sizeof d->message) != NULL &&
                   d->message[0] != '\0',
               "rejection %s without a message", ll_code_name(d->code));
    return;
  }
  FUZZ_CHECK(d->code == LL_OK, "accepted with %s", ll_code_name(d->code));
  FUZZ_CHECK(fields == LL_OK, "accepted although the field check said %s",
             ll_code_name(fields));
  FUZZ_CHECK(d->lot.lot_id != NULL && d->lot.product_id != NULL,
             "accepted event %s leaves a lot without id or product",
             ev->event_id);
  FUZZ_CHECK(d->lot.on_hand_micro >= 0, "lot %s on hand %lld", d->lot.lot_id,
             (long long)d->lot.on_hand_micro);
  if (d->lot.tracking == LL_TRACK_SERIAL)
    FUZZ_CHECK(d->lot.on_hand_micro == 0 || d->lot.on_hand_micro == LL_MICRO,
               "serial %s on hand %lld", d->lot.lot_id,
               (long long)d->lot.on_hand_micro);
  if (ev->type == LL_EV_STOCK_MOVED) {
    if (ll_usage_is_stock(ev->from.usage))
      FUZZ_CHECK(d->from_qty_micro >= 0, "%s at %s: %lld", d->lot.lot_id,
                 ev->from.id, (long long)d->from_qty_micro);
    if (ll_usage_is_stock(ev->to.usage))
      FUZZ_CHECK(d->to_qty_micro >= 0, "%s at %s: %lld", d->lot.lot_id,
                 ev->to.id, (long long)d->to_qty_micro);
  }
}

/* What the codec accepts it can carry: encode -> decode is the identity
 * (when the event can be encoded at all, e.g. a valid quantity). */
static void check_round_trip(const ll_event *ev) {
  ll_buf wire;
  ll_buf_init(&wire);
  ll_err err = {0};
  if (ll_codec_encode(codec, ev, &wire, &err) == 0) {
    ll_event again;
    ll_event_init(&again);
    bool retry = false;
    ll_code code =
        ll_codec_decode(codec, wire.data, wire.len, &again, &retry, &err);
    FUZZ_CHECK(code == LL_OK && !retry, "re-encoded event %s: %s", ev->event_id,
               err.message);
    uint8_t a[32], b[32];
    ll_event_digest(ev, a);
    ll_event_digest(&again, b);
    FUZZ_CHECK(memcmp(a, b, sizeof a) == 0,
               "event %s changed through encode/decode", ev->event_id);
    ll_event_free(&again);
  }
  ll_buf_free(&wire);
}

static void process(run *r, const uint8_t *p, size_t n) {
  ll_event ev;
  ll_event_init(&ev);
  ll_err err = {0};
  bool retry = false;
  ll_code code = ll_codec_decode(codec, p, n, &ev, &retry, &err);
  FUZZ_CHECK(!retry, "the loopback registry cannot be down: %s", err.message);
  if (verbose)
    printf("  decode: %s%s%s\n", ll_code_name(code), code ? ": " : "",
           code ? err.message : "");
  if (code != LL_OK) {
    FUZZ_CHECK(code == LL_MALFORMED || code == LL_UNKNOWN_SCHEMA,
               "decode answered %s", ll_code_name(code));
    FUZZ_CHECK(err.message[0] != '\0', "%s without a message",
               ll_code_name(code));
    ll_event_free(&ev);
    return;
  }
  check_round_trip(&ev);
  ll_code fields = ll_check_fields(&ev, &err);
  ll_decision d;
  decide(r, &ev, &d);
  check_decision(&ev, fields, &d);
  if (verbose)
    printf("  %s %s: %s %s\n", ll_event_type_name(ev.type), ev.event_id,
           d.duplicate  ? "duplicate"
           : d.accepted ? "accepted"
                        : ll_code_name(d.code),
           d.accepted ? "" : d.message);
  ll_decision_free(&d);

  /* Redelivery: a no-op, whatever the first outcome was. */
  uint64_t before = mem_state_fingerprint(r->state, 0);
  uint64_t position = r->position;
  decide(r, &ev, &d);
  FUZZ_CHECK(!d.accepted && r->position == position &&
                 mem_state_fingerprint(r->state, 0) == before,
             "redelivering event %s changed the state", ev.event_id);
  ll_decision_free(&d);
  ll_event_free(&ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  run r = {.state = mem_state_new()};
  size_t n_base = 0;
  const ll_event *base = fuzz_base_events(&n_base);
  for (size_t i = 0; i < n_base; i++) {
    ll_decision d;
    decide(&r, &base[i], &d);
    FUZZ_CHECK(d.accepted, "base event %zu: %s", i, d.message);
    ll_decision_free(&d);
  }
  const uint8_t *p = data, *end = data + size;
  for (int k = 0; k < FUZZ_MESSAGES_MAX && p <= end; k++) {
    const uint8_t *sep =
        k + 1 < FUZZ_MESSAGES_MAX
            ? memmem(p, (size_t)(end - p), FUZZ_SEPARATOR, FUZZ_SEPARATOR_LEN)
            : NULL;
    const uint8_t *stop = sep ? sep : end;
    process(&r, p, (size_t)(stop - p));
    if (!sep)
      break;
    p = sep + FUZZ_SEPARATOR_LEN;
  }
  mem_state_free(r.state);
  return 0;
}
