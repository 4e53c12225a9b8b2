/* ll_state.h — the validation state the rules read, and how it is stored.
 *
 * The command consumer keeps, in RocksDB, exactly what the rules need to
 * decide an event without replaying the log, all of it scoped by product
 * (a lot is (product_id, lot_id); every rule is local to one product):
 * lots by (product, lot id), lot ids by (product, trimmed name), each
 * product's tracking mode, the usage each product fixed for a location,
 * the quantity of each lot at each location, and every (product, event
 * id) seen with a digest of its content and its outcome. This module owns the
 * keys and values of that state; the storage itself is behind ll_state_reader
 * (reads) and ll_mutations (writes), so tests can keep the state in memory.
 *
 * Deciding an event is three steps, only the middle one is the rule:
 *   ll_facts_load(reader, ev)   -> ll_facts     (reads, no decisions)
 *   ll_decide(facts, ev, opts)  -> ll_decision  (pure, rules.c)
 *   ll_decision_mutations(...)  -> ll_mutations (what to write) */
#ifndef LL_STATE_H
#define LL_STATE_H

#include "ll_buf.h"
#include "ll_types.h"

/* A key-value reader over the state (RocksDB + the pending batch in the
 * service; a hash map in tests). get() fills out (reset first) and *found.
 * Returns 0, or -1 with err set on an I/O failure. */
typedef struct ll_state_reader {
  void *ctx;
  int (*get)(void *ctx, const void *key, size_t key_len, ll_buf *out,
             bool *found, ll_err *err);
} ll_state_reader;

/* A list of puts and deletes to apply atomically (with the log append). */
typedef struct ll_mutation {
  bool is_delete;
  ll_buf key;
  ll_buf value;
} ll_mutation;

typedef struct ll_mutations {
  ll_mutation *items;
  size_t len;
  size_t cap;
  size_t ready; /* items whose buffers are initialised (kept on reset) */
} ll_mutations;

void ll_mutations_init(ll_mutations *m);
void ll_mutations_reset(ll_mutations *m); /* empty; keeps the memory */
void ll_mutations_free(ll_mutations *m);
void ll_mutations_put(ll_mutations *m, const void *key, size_t key_len,
                      const void *value, size_t value_len);
void ll_mutations_del(ll_mutations *m, const void *key, size_t key_len);

/* Where an accepted event went: its position in this instance's log, and
 * its task (input partition) and position there, which are the same on
 * every instance (docs/cluster-design.md). */
typedef struct ll_log_at {
  uint64_t position;
  int32_t partition;
  uint64_t task_position;
} ll_log_at;

/* What the state remembers of an event id. */
typedef struct ll_seen {
  bool found;
  uint8_t digest[32];
  bool accepted;
  uint64_t position; /* log position when accepted (this instance's) */
  /* When accepted: its task and task position (partition -1 and
   * task_position = position for an event not from Kafka). */
  int32_t partition;
  uint64_t task_position;
  ll_code code;                       /* rejection code when rejected */
  char message[LL_MESSAGE_MAX_BYTES]; /* rejection message when rejected */
  /* Rejected: the event's occurred_at, which the log does not hold, so
   * that the HTTP API can tell a retried request from another one under
   * the same key (docs/concepts.md). False in records from before it was
   * kept. */
  bool occurred_at_known;
  int64_t occurred_at_ms;
} ll_seen;

/* Everything ll_decide may look at, gathered before deciding. */
typedef struct ll_facts {
  ll_seen seen; /* the event id's earlier outcome, if any */

  /* The lot addressed by the event, within its product_id: by lot_id, or
   * for a StockMoved with only lot_name, by trimmed lot_name. */
  bool lot_found;
  ll_lot lot;

  /* LotCreated: the lot that owns (product_id, trimmed name), if any.
   * LotUpdated: the lot that owns (product_id, target trimmed name), where
   * target = the new name if given, else the lot's current one. */
  char *name_owner_lot_id;

  /* LotCreated: product_id's tracking. */
  bool tracking_found;
  ll_tracking tracking;

  /* LotCreated, StockMoved: the unit product_id fixed, or NULL. */
  char *uom;

  /* StockMoved: the usages product_id fixed for from/to, and the lot's
   * quantity there. */
  bool from_usage_found;
  ll_usage from_usage;
  bool to_usage_found;
  ll_usage to_usage;
  int64_t from_qty_micro;
  int64_t to_qty_micro;
} ll_facts;

void ll_facts_init(ll_facts *f);
void ll_facts_free(ll_facts *f);
/* Initialises *facts (release with ll_facts_free, also after a failure). */
int ll_facts_load(const ll_state_reader *reader, const ll_event *ev,
                  ll_facts *facts, ll_err *err);

/* The keys ll_facts_load() will read for ev that are known before it reads
 * anything (it may read others too): appended to keys, each as a uvar
 * length and the key's bytes. A store can fetch them all at once. */
void ll_facts_prefetch_keys(const ll_event *ev, ll_buf *keys);

/* Options a deployment may set. */
typedef struct ll_rule_opts {
  bool allow_expired_delivery; /* EXPIRED_LOT off */
} ll_rule_opts;

/* The outcome of one event. On acceptance, `lot` is the lot's new state and
 * the other fields say what else changes. */
typedef struct ll_decision {
  bool duplicate; /* identical redelivery: no-op, nothing to write */
  bool accepted;
  ll_code code; /* rejection code when !accepted && !duplicate */
  char message[LL_MESSAGE_MAX_BYTES];

  ll_lot lot;                 /* new state of the lot (accepted) */
  char *old_name_key_product; /* name index entry to drop (rename) */
  char *old_name_key_name;
  bool set_tracking;   /* first lot of a product fixes its tracking */
  bool set_uom;        /* its first lot that states a unit fixes the unit */
  bool set_from_usage; /* the product's first move naming a location */
  bool set_to_usage;
  int64_t from_qty_micro; /* StockMoved: new quantities */
  int64_t to_qty_micro;
} ll_decision;

void ll_decision_init(ll_decision *d);
void ll_decision_free(ll_decision *d);

/* The writes that record `ev` with `decision` in the state, including the
 * event id record. `at` is where an accepted event went in the log (NULL
 * for a rejected one). */
void ll_decision_mutations(const ll_event *ev, const ll_decision *d,
                           const ll_log_at *at, ll_mutations *out);

/* The key of (product_id, event_id)'s seen record ("e" + product_id +
 * "\x1f" + the first 16 bytes of the id's SHA-256), into k (reset first).
 * product_id NULL is the empty product. */
void ll_state_event_key(ll_buf *k, const char *product_id,
                        const char *event_id);

/* False for keys a cache in front of the state should not keep once they
 * are stored (event-id records: written once, read again only when the
 * same id comes back). */
bool ll_state_key_cacheable(const void *key, size_t key_len);

/* Read the record of an event id under a product (for the HTTP API
 * waiting on an outcome): the same id under another product is another
 * event. */
int ll_state_get_seen(const ll_state_reader *reader, const char *product_id,
                      const char *event_id, ll_seen *seen, ll_err *err);
/* Read one lot by (product, lot id). */
int ll_state_get_lot(const ll_state_reader *reader, const char *product_id,
                     const char *lot_id, ll_lot *lot, bool *found, ll_err *err);

#endif
