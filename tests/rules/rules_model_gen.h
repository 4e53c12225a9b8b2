/* rules_model_gen.h — the random event generator and the reference model
 * of the model-based rules test, shared by test_rules_model (the rules in
 * memory) and lotline_model_stream (the same stream for a cluster).
 *
 * The generator draws events over a small world that slowly moves on:
 * windows of products, lot ids and names that slide as the run goes, 8
 * locations, so that events collide often. The reference model, written
 * apart from services/rules and as plainly as possible, predicts the
 * outcome of each one (rules_model_gen.c says how). A world's sizes are a
 * parameter: test_rules_model uses RM_WORLD_RULES; the cluster uses
 * RM_WORLD_CLUSTER, many more products at once so that every partition
 * of lots.inbound gets work, and only events Avro can carry.
 *
 * One generator at a time per process: the random numbers (splitmix64,
 * seeded by rm_gen_init) are global, so that a seed replays a run
 * exactly, the caller's own draws (pick, chance) included. */
#ifndef LL_TEST_RULES_MODEL_GEN_H
#define LL_TEST_RULES_MODEL_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ll_event.h"
#include "rules/mem_state.h"

#define N_LOCS 8
#define N_UOMS 2
#define RING 1024 /* recent events kept for redelivery and reuse */
#define DUP (-1)  /* the outcome of an exact redelivery */
/* The contract's largest quantity, decimal(18, 6), written out here rather
 * than taken from the code under test. */
#define MODEL_QTY_MAX 999999999999999999LL

extern const char *const LOCS[N_LOCS];
extern const char *const UOMS[N_UOMS];

/* The world's sizes: how many products, lot numbers and names the events
 * pick among at any time, and after how many events each window moves on
 * by one. */
typedef struct rm_world {
  int window_products, window_lots, window_names;
  int slide_products, slide_lots, slide_names; /* events per step */
  /* Only events the wire can carry: no StockMoved without a valid
   * quantity (ll_codec_encode refuses it; a quantity of 0, below 0 or
   * over the limit is still sent). */
  bool wire_only;
} rm_world;

extern const rm_world RM_WORLD_RULES;
extern const rm_world RM_WORLD_CLUSTER;

/* ---- random numbers (splitmix64) ---- */

int pick(int n);
bool chance(int percent);

/* ---- the reference model ---- */

typedef struct mlot {
  bool exists;
  int product;
  char name[16]; /* trimmed */
  ll_tracking tracking;
  ll_opt_time expiration, use_by, removal, alert;
  int64_t version, move_count, created_at, updated_at;
  int64_t qty[N_LOCS];
  bool held;
  char hold_reason[16];
  int64_t hold_since;
  int uom; /* index into UOMS, -1 = none */
} mlot;

typedef struct model {
  const rm_world *w;
  /* By product number and lot number: lots[p * n_lots + k] is lot "L<k>"
   * of product "P<p>". A model lot index is that position. */
  mlot *lots;
  int n_lots; /* lot numbers per product */
  /* Name index: name_owner_plus1[product * n_names + k] is 1 + the index
   * of the lot of that product named "N<k>", 0 if none. Every name a lot
   * can keep is "N<k>" (asserted when kept), so the table sees them all. */
  int *name_owner_plus1;
  int n_names;
  int n_named;        /* non-zero entries in the table */
  bool *tracking_set; /* by product number: "P<k>" */
  ll_tracking *tracking;
  int n_products;
  bool *usage_set; /* [product * N_LOCS + location]: fixed per product */
  ll_usage *usage;
  int *uom_plus1; /* by product number: 1 + index into UOMS, 0 = none */
  /* "<product>/<event id>" -> index into recorded (uint32_t) */
  mem_state *seen;
  ll_event *recorded; /* the first event seen with each id: own copies */
  uint32_t n_recorded, cap_recorded;
} model;

const char *lot_str(int k);     /* "L<k>" */
const char *product_str(int k); /* "P<k>" */
int lot_index(const model *m, int product, int k);
int lot_number(const model *m, int lot);
bool is_stock(ll_usage u);
bool usage_known(const model *m, int product, int loc);
ll_usage usage_of(const model *m, int product, int loc);
int64_t on_hand(const mlot *l, const model *m);
/* The lot of the product with that (trimmed) name, or -1. */
int name_owner(const model *m, int product, const char *trimmed);
bool opt_time_eq(ll_opt_time a, ll_opt_time b);

/* The expected outcome of ev: an ll_code, LL_OK, or DUP. Also resolves
 * the lot a move or update addresses (*lot_out, -1 if none). */
int model_expect(const model *m, const ll_event *ev, int *lot_out);

/* ---- event identity, field by field ---- */

typedef enum field {
  F_OCCURRED_AT,
  F_PRODUCT,
  F_LOT_ID,
  F_LOT_NAME,
  F_NAME,
  F_TRACKING,
  F_NEW_PRODUCT,
  F_EXPECTED_VERSION,
  F_REFERENCE,
  F_DESCRIPTION,
  F_EXPIRATION,
  F_USE_BY,
  F_REMOVAL,
  F_ALERT,
  F_QUANTITY,
  F_FROM_ID,
  F_FROM_USAGE,
  F_TO_ID,
  F_TO_USAGE,
  F_UOM,
  F_REASON,
  F_PARTNER_ID,
  F_PARTNER_NAME,
  F_COUNT
} field;

extern const char *const FIELD_NAMES[F_COUNT];

#define TYPE_FIELDS_MAX 14
#define N_TYPES 5
typedef struct type_fields {
  ll_event_type type;
  int n;
  field f[TYPE_FIELDS_MAX];
} type_fields;

extern const type_fields FIELDS[N_TYPES];

/* The same event: same type, and every field of that type equal. */
bool same_event(const ll_event *a, const ll_event *b);

/* Which field each type changes next, and how often each was changed. */
typedef struct resends {
  int next[N_TYPES];
  uint64_t changed[N_TYPES][TYPE_FIELDS_MAX];
  uint64_t unchanged;
} resends;

/* Every field of every type was changed in some re-sent event (fails the
 * test otherwise). */
void check_resends_cover_fields(const resends *rs);

/* ---- the generator ---- */

typedef struct rm_gen {
  model m;
  ll_event ring[RING]; /* recent events */
  size_t ring_len;
  resends rs;
} rm_gen;

/* A world for n_events events, its random numbers seeded with seed. */
void rm_gen_init(rm_gen *g, const rm_world *w, uint64_t seed,
                 uint64_t n_events);
void rm_gen_free(rm_gen *g);
/* Event number seq (from 1): a redelivery, a used id with new content, a
 * recorded event re-sent with one field changed (*changed, else F_COUNT),
 * or a new event. ev is initialised here. Returns what the model expects
 * (model_expect) and the lot it addresses (*lot, -1 if none). */
int rm_gen_next(rm_gen *g, uint64_t seq, ll_event *ev, field *changed,
                int *lot);
/* After rm_gen_next: apply ev to the model as `want` says, remember its
 * id, and keep it among the recent events (ev is taken over). */
void rm_gen_commit(rm_gen *g, ll_event *ev, int want, int lot);

#endif
