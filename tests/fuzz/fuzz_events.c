/* fuzz_events.c — see fuzz_events.h. Built once, on first use, from the
 * rules tests' event builders; never freed (they live as long as the
 * process). */
#include "fuzz_events.h"

#include <pthread.h>
#include <stdlib.h>

#include "ll_types.h"
#include "mem_state.h"

#define DAY_MS 86400000LL
#define T0_MS 1800000000000LL /* 2027-01-15, the builders' occurred_at */
#define MICRO LL_MICRO

enum { BASE_COUNT = 7, SEED_COUNT = 16 };

static ll_event base[BASE_COUNT];
static fuzz_seed seeds[SEED_COUNT];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void set_time(ll_opt_time *t, int64_t ms) {
  t->set = true;
  t->ms = ms;
}

static void build(void) {
  size_t b = 0;
  ev_created(&base[b], "base-1", "P1", "FZ-L1", "LOT-1", LL_TRACK_LOT);
  set_time(&base[b].expiration_at, T0_MS + 365 * DAY_MS);
  set_time(&base[b].alert_at, T0_MS + 300 * DAY_MS);
  b++;
  ev_created(&base[b++], "base-2", "P2", "FZ-S1", "SN-1", LL_TRACK_SERIAL);
  ev_moved(&base[b++], "base-3", "P1", "FZ-L1", 10 * MICRO, "Vendors",
           LL_USAGE_SUPPLIER, "WH/Stock", LL_USAGE_INTERNAL);
  ev_moved(&base[b++], "base-4", "P1", "FZ-L1", 3 * MICRO, "WH/Stock",
           LL_USAGE_INTERNAL, "WH/Stock/Shelf-1", LL_USAGE_INTERNAL);
  ev_moved(&base[b], "base-5", "P1", "FZ-L1", 2500000, "WH/Stock",
           LL_USAGE_INTERNAL, "Production", LL_USAGE_PRODUCTION);
  ev_set(&base[b++].reference, "MO-1");
  ev_moved(&base[b++], "base-6", "P2", "FZ-S1", MICRO, "Vendors",
           LL_USAGE_SUPPLIER, "WH/Stock", LL_USAGE_INTERNAL);
  ev_created(&base[b++], "base-7", "P3", "FZ-L3", "LOT-3", LL_TRACK_LOT);

  size_t s = 0;
  ll_event *e;
#define SEED(stem) (seeds[s].name = (stem), e = &seeds[s++].event)
  SEED("created-full");
  ev_created(e, "seed-1", "P1", "FZ-L2", "LOT-2", LL_TRACK_LOT);
  ev_set(&e->reference, "PO-1");
  ev_set(&e->description, "Paint, blue, 5 l");
  set_time(&e->expiration_at, T0_MS + 200 * DAY_MS);
  set_time(&e->use_by_at, T0_MS + 190 * DAY_MS);
  set_time(&e->removal_at, T0_MS + 195 * DAY_MS);
  set_time(&e->alert_at, T0_MS + 180 * DAY_MS);
  SEED("created-serial");
  ev_created(e, "seed-2", "P2", "FZ-S2", "SN-2", LL_TRACK_SERIAL);
  SEED("created-duplicate-name");
  ev_created(e, "seed-3", "P1", "FZ-L9", " LOT-1 ", LL_TRACK_LOT);
  SEED("created-tracking-mismatch");
  ev_created(e, "seed-4", "P2", "FZ-L8", "LOT-8", LL_TRACK_LOT);
  SEED("updated-full");
  ev_updated(e, "seed-5", "P1", "FZ-L1");
  e->has_expected_version = true;
  e->expected_version = 1;
  ev_set(&e->name, "LOT-1b");
  ev_set(&e->reference, "");
  ev_set(&e->description, "relabelled");
  set_time(&e->expiration_at, T0_MS + 400 * DAY_MS);
  set_time(&e->use_by_at, T0_MS + 390 * DAY_MS);
  SEED("updated-product");
  ev_updated(e, "seed-6", "P3", "FZ-L3");
  ev_set(&e->new_product_id, "P1");
  SEED("updated-product-locked");
  ev_updated(e, "seed-7", "P1", "FZ-L1");
  ev_set(&e->new_product_id, "P4");
  SEED("moved-internal");
  ev_moved(e, "seed-8", "P1", "FZ-L1", 1500000, "WH/Stock", LL_USAGE_INTERNAL,
           "WH/Stock/Shelf-2", LL_USAGE_INTERNAL);
  SEED("moved-by-name");
  ev_moved(e, "seed-9", "P1", NULL, 2 * MICRO, "WH/Stock/Shelf-1",
           LL_USAGE_INTERNAL, "Customers/C1", LL_USAGE_CUSTOMER);
  ev_set(&e->lot_name, "LOT-1");
  ev_set(&e->reference, "SO-1");
  SEED("moved-serial-out");
  ev_moved(e, "seed-10", "P2", "FZ-S1", MICRO, "WH/Stock", LL_USAGE_INTERNAL,
           "Customers/C1", LL_USAGE_CUSTOMER);
  SEED("moved-serial-again");
  ev_moved(e, "seed-11", "P2", "FZ-S1", MICRO, "Vendors", LL_USAGE_SUPPLIER,
           "WH/Stock/Shelf-1", LL_USAGE_INTERNAL);
  SEED("moved-produced");
  ev_moved(e, "seed-12", "P3", "FZ-L3", 4 * MICRO, "Production",
           LL_USAGE_PRODUCTION, "WH/Stock", LL_USAGE_INTERNAL);
  ev_set(&e->reference, "MO-1");
  SEED("moved-insufficient");
  ev_moved(e, "seed-13", "P1", "FZ-L1", 100 * MICRO, "WH/Stock",
           LL_USAGE_INTERNAL, "Scrap", LL_USAGE_SCRAP);
  SEED("moved-transit-fraction");
  ev_moved(e, "seed-14", "P1", "FZ-L1", 1, "WH/Stock", LL_USAGE_INTERNAL,
           "Transit/Truck-7", LL_USAGE_TRANSIT);
  SEED("moved-usage-conflict");
  ev_moved(e, "seed-15", "P1", "FZ-L1", MICRO, "WH/Stock", LL_USAGE_INTERNAL,
           "Vendors", LL_USAGE_INVENTORY);
  SEED("moved-redelivered-base");
  ev_moved(e, "base-3", "P1", "FZ-L1", 10 * MICRO, "Vendors", LL_USAGE_SUPPLIER,
           "WH/Stock", LL_USAGE_INTERNAL);
#undef SEED
  if (b != BASE_COUNT || s != SEED_COUNT)
    abort(); /* the tables above and the counts disagree */
}

const ll_event *fuzz_base_events(size_t *n) {
  pthread_once(&once, build);
  *n = BASE_COUNT;
  return base;
}

const fuzz_seed *fuzz_seed_events(size_t *n) {
  pthread_once(&once, build);
  *n = SEED_COUNT;
  return seeds;
}
