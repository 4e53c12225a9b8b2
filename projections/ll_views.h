/* ll_views.h — the read models, kept in their own RocksDB (<data>/views).
 *
 * The projection worker applies log entries in order; each call to
 * ll_views_apply() writes the view updates of a run of entries together
 * with the checkpoint (the last applied position) in one WriteBatch, so a
 * restart resumes exactly where the views stand. One file per read model:
 *   lot_details.c    lot by id (the "View" tab), list and search
 *   lot_locations.c  quantity per (lot, location) (the "Locations" tab)
 *   lot_history.c    every event of a lot, and its locations as of a
 *                    past position or time
 *   genealogy.c      production links between lots, customer deliveries
 *   location_tree.c  quantities rolled up the location path tree
 *   lot_expiry.c     on-hand lots in FEFO order
 *   lot_dates.c      the dates of on-hand lots, by date (date alerts)
 * Reads are thread-safe. A reader (views_read.c) reads several of them
 * from one snapshot, together with the log position it stands at.
 *
 * A lot is (product_id, lot_id): lot_id is unique within its product
 * only, so every query about one lot takes both. ll_views_lot_products()
 * says which products use a lot id. */
#ifndef LL_VIEWS_H
#define LL_VIEWS_H

#include <stdint.h>
#include <stdio.h>

#include "ll_buf.h"
#include "ll_store.h"
#include "ll_types.h"

typedef struct ll_views ll_views;

ll_views *ll_views_open(const char *dir, ll_err *err);
void ll_views_close(ll_views *v);
uint64_t ll_views_position(ll_views *v); /* last applied log position */
/* Wait until the views have applied position, woken by each apply (no
 * polling); false when deadline_ns (ll_mono_ns clock) comes first. */
bool ll_views_wait_position(ll_views *v, uint64_t position,
                            uint64_t deadline_ns);
/* The counter bumped after each apply, for ll_notify_listen
 * (ll_notify.h). */
struct ll_notify *ll_views_notifier(ll_views *v);
int ll_views_apply(ll_views *v, const ll_entry *entries, size_t n, ll_err *err);
/* ll_views_apply for entries that reach the end of the log the projector
 * follows: the run is written through RocksDB's memtable however big it
 * is, never as a table file of its own (views_write.c says why). */
int ll_views_apply_at_head(ll_views *v, const ll_entry *entries, size_t n,
                           ll_err *err);
/* The task position of the last entry of the task of `partition` the views
 * have applied (0: none), and a wait for it like ll_views_wait_position:
 * what a position token "partition:task_position" is read at. */
uint64_t ll_views_task_position(ll_views *v, int32_t partition);
bool ll_views_wait_task(ll_views *v, int32_t partition, uint64_t task_position,
                        uint64_t deadline_ns);

/* ---- queries (thread-safe) ---- */
int ll_views_get_lot(ll_views *v, const char *product_id, const char *lot_id,
                     ll_lot *lot, bool *found, ll_err *err);

typedef struct ll_lot_location {
  char *location;
  ll_usage usage;
  int64_t quantity_micro;
} ll_lot_location;

/* The lot's non-zero quantities by location, sorted by location id;
 * include_virtual adds non-INTERNAL/TRANSIT locations. *out is malloc'd. */
int ll_views_lot_locations(ll_views *v, const char *product_id,
                           const char *lot_id, bool include_virtual,
                           ll_lot_location **out, size_t *n_out, ll_err *err);
void ll_lot_locations_free(ll_lot_location *a, size_t n);

#define LL_LIST_LIMIT_DEFAULT 50
#define LL_LIST_LIMIT_MAX 1000

typedef struct ll_lot_filter {
  const char *product_id;     /* exact, or NULL */
  const char *name;           /* exact (trimmed), or NULL */
  const char *q;              /* case-insensitive substring of lot_id, name or
                                 reference, or NULL */
  const char *cursor;         /* a next_cursor this list gave out, or NULL */
  size_t limit;               /* 1..LL_LIST_LIMIT_MAX */
  const char *property_key;   /* only lots whose property ... */
  const char *property_value; /* ... has exactly this value, or NULL */
} ll_lot_filter;

/* Matching lots in (lot_id, product_id) order. *next_cursor is a malloc'd
 * cursor for the next page (opaque text), or NULL when there is no more.
 * *out is malloc'd. */
int ll_views_list_lots(ll_views *v, const ll_lot_filter *f, ll_lot **out,
                       size_t *n_out, char **next_cursor, ll_err *err);
void ll_lots_free(ll_lot *a, size_t n);
/* The next_cursor of a page of lots (ll_views_list_lots,
 * ll_views_location_lots) whose last row is (lot_id, product_id):
 * malloc'd. The API merges the pages of several instances with it. */
char *ll_views_lot_page_cursor(const char *lot_id, const char *product_id);

/* ---- consistent reads (views_read.c) ----
 * A reader sees the views as of one moment: every query made through it
 * reads the same RocksDB snapshot, and ll_views_reader_position() is the
 * log position that snapshot stands at (the checkpoint written in the same
 * batch as the rows). Readers are cheap; open one per request: readers
 * opened while the views stand still share one snapshot. */
typedef struct ll_views_reader ll_views_reader;

ll_views_reader *ll_views_reader_open(ll_views *v, ll_err *err);
void ll_views_reader_close(ll_views_reader *r);
uint64_t ll_views_reader_position(const ll_views_reader *r);
int ll_views_reader_get_lot(ll_views_reader *r, const char *product_id,
                            const char *lot_id, ll_lot *lot, bool *found,
                            ll_err *err);
int ll_views_reader_lot_locations(ll_views_reader *r, const char *product_id,
                                  const char *lot_id, bool include_virtual,
                                  ll_lot_location **out, size_t *n_out,
                                  ll_err *err);

/* The products that have a lot with this id, sorted (byte order), at most
 * LL_LOT_PRODUCTS_MAX of them; none when no product has one. *products is
 * malloc'd (ll_views_lot_products_free). */
#define LL_LOT_PRODUCTS_MAX 1000
int ll_views_lot_products(ll_views_reader *r, const char *lot_id,
                          char ***products, size_t *n_out, ll_err *err);
void ll_views_lot_products_free(char **products, size_t n);

/* ---- history (lot_history.c) ---- */

/* One accepted event of a lot, as the log holds it. */
typedef struct ll_history_entry {
  uint64_t position;      /* this instance's log position */
  int32_t partition;      /* the task: the input partition */
  uint64_t task_position; /* the same on every instance (a token) */
  int64_t recorded_at_ms;
  ll_event event; /* owned */
} ll_history_entry;

/* The lot's events with position > after_position, oldest first, at most
 * limit (1..LL_LIST_LIMIT_MAX); *more says whether there are later ones.
 * An unknown lot has no events. *out is malloc'd. */
int ll_views_lot_history(ll_views_reader *r, const char *product_id,
                         const char *lot_id, uint64_t after_position,
                         size_t limit, ll_history_entry **out, size_t *n_out,
                         bool *more, ll_err *err);
void ll_history_free(ll_history_entry *a, size_t n);

/* Every event of the lot, oldest first, handed to fn (borrowed for the
 * call) until it returns false. */
typedef bool (*ll_history_fn)(const ll_history_entry *h, void *arg);
int ll_views_lot_history_each(ll_views_reader *r, const char *product_id,
                              const char *lot_id, ll_history_fn fn, void *arg,
                              ll_err *err);

/* ---- partners (lot_partners.c) ---- */

/* The lot's business partners, from the moves that name one: suppliers
 * (what came from a SUPPLIER location, less what went back to one) and
 * customers (what went to a CUSTOMER location, less what came back). */
typedef struct ll_partner_total {
  char *id;
  char *name; /* the latest name a move gave, or NULL */
  int64_t quantity_micro;
  int64_t moves;
} ll_partner_total;

typedef struct ll_lot_partners {
  ll_partner_total *suppliers, *customers; /* sorted by id */
  size_t n_suppliers, n_customers;
} ll_lot_partners;

int ll_views_lot_partners(ll_views_reader *r, const char *product_id,
                          const char *lot_id, ll_lot_partners *out,
                          ll_err *err);
void ll_lot_partners_free(ll_lot_partners *p);

/* A past moment: a log position, a task position (a token, for the rows
 * of one task), or a time compared with each entry's recorded_at (the log
 * clock). */
typedef struct ll_as_of {
  bool by_time;
  bool by_task;
  uint64_t position;      /* neither: entries with position <= this */
  uint64_t task_position; /* by_task: entries with task position <= this */
  int64_t time_ms;        /* by_time: entries recorded at or before this */
} ll_as_of;

/* Is the history row later than the cut / earlier than it? */
bool ll_history_after(const ll_history_entry *h, const ll_as_of *at);
bool ll_history_before(const ll_history_entry *h, const ll_as_of *at);

/* What the Locations view showed for a lot at a past moment, replayed from
 * the lot's history. existed is false when the lot had not been created
 * yet. Locations are sorted by id, non-zero only, virtual ones only with
 * include_virtual, exactly as ll_views_lot_locations() lists them. */
typedef struct ll_lot_as_of {
  bool existed;
  int32_t partition; /* the task of the lot's events; -1: no event */
  char *product_id;
  int64_t on_hand_micro;
  uint64_t last_event_position; /* the lot's last event included, 0: none */
  uint64_t last_event_task_position; /* the same, in its task */
  ll_lot_location *locations;
  size_t n_locations;
} ll_lot_as_of;

int ll_views_lot_as_of(ll_views_reader *r, const char *product_id,
                       const char *lot_id, const ll_as_of *at,
                       bool include_virtual, ll_lot_as_of *out, ll_err *err);
void ll_lot_as_of_free(ll_lot_as_of *a);

/* ---- balances and locations as of (lot_balance.c) ---- */

#define LL_REPORT_LOTS_MAX 10000 /* lots one location report looks at */

typedef struct ll_location_lot ll_location_lot; /* below */

/* A window of the log: from (inclusive) and to (inclusive), each a log
 * position or a time (ll_as_of); an unset end is open. */
typedef struct ll_window {
  bool has_from, has_to;
  ll_as_of from, to;
} ll_window;

/* One row of a balance: per location of a lot, or per lot of a location.
 * opening is the quantity before the window, in and out what the window's
 * moves brought and took, closing = opening + in - out. */
typedef struct ll_balance_row {
  char *location; /* a lot's balance: the location */
  char *lot_id;   /* a location's balance: the lot */
  char *product_id;
  ll_usage usage;
  int64_t opening_micro, in_micro, out_micro, closing_micro;
} ll_balance_row;

typedef struct ll_balance {
  ll_balance_row *rows; /* sorted by location, or by (lot_id, product_id) */
  size_t n;
  bool truncated; /* more than LL_REPORT_LOTS_MAX lots */
} ll_balance;

/* Per location of the lot; only INTERNAL and TRANSIT ones unless all.
 * Rows that are zero throughout are left out. */
int ll_views_lot_balance(ll_views_reader *r, const char *product_id,
                         const char *lot_id, const ll_window *w, bool all,
                         ll_balance *out, ll_err *err);
/* Per lot that was ever at location (children: or below it). */
int ll_views_location_balance(ll_views_reader *r, const char *location,
                              bool children, const ll_window *w,
                              ll_balance *out, ll_err *err);
/* What was in location (children: or below it) at a past moment: the lots
 * with a non-zero quantity there, as ll_views_location_lots() answers now
 * (usage only without children). */
int ll_views_location_lots_as_of(ll_views_reader *r, const char *location,
                                 bool children, const ll_as_of *at,
                                 ll_location_lot **out, size_t *n_out,
                                 bool *truncated, ll_err *err);
void ll_balance_free(ll_balance *b);

/* ---- genealogy (genealogy.c) ---- */

#define LL_TRACE_DEPTH_MAX 32          /* deepest level of a trace tree */
#define LL_TRACE_LOTS_MAX 10000        /* tree nodes in one answer */
#define LL_TRACE_DELIVERIES_MAX 100000 /* deliveries in one answer */

typedef enum ll_trace_direction {
  LL_TRACE_DOWNSTREAM = 0, /* what was made from the lot */
  LL_TRACE_UPSTREAM = 1,   /* what the lot was made from */
} ll_trace_direction;

/* One production reference linking a node to its parent. consumed is how
 * much of the consuming lot went into PRODUCTION under the reference,
 * produced how much of the produced lot came out of it (totals). */
typedef struct ll_trace_link {
  char *reference;
  int64_t consumed_micro;
  int64_t produced_micro;
} ll_trace_link;

typedef struct ll_trace_node {
  size_t parent; /* index of the parent node; SIZE_MAX for the root */
  unsigned depth;
  char *lot_id;
  char *product_id; /* with lot_id, the lot: (product_id, lot_id) */
  char *name;       /* NULL if the lot row is missing (never, in practice) */
  ll_trace_link *links; /* to the parent; none for the root */
  size_t n_links;
  bool repeat;    /* the lot is shown earlier in the tree: not expanded */
  bool truncated; /* it has links not shown (depth or size limit) */
} ll_trace_node;

/* A move of a lot to a CUSTOMER location. */
typedef struct ll_delivery {
  uint64_t position;      /* the deciding instance's log position */
  int32_t partition;      /* with task_position: the token, the same on */
  uint64_t task_position; /* every instance */
  char *product_id;
  char *lot_id;
  char *location;
  int64_t quantity_micro;
  char *reference; /* NULL = none */
  int64_t occurred_at_ms;
  int64_t recorded_at_ms;
  char *partner_id; /* the customer the move named, or NULL */
  char *partner_name;
} ll_delivery;

/* A trace: nodes in breadth-first order (so each lot is expanded where it
 * is nearest the root; children follow their parent's order), and for
 * downstream traces the deliveries of every lot in the tree, in node
 * order, then log order. */
typedef struct ll_trace {
  ll_trace_node *nodes;
  size_t n_nodes;
  ll_delivery *deliveries;
  size_t n_deliveries;
  bool truncated; /* a limit cut the tree or the deliveries short */
} ll_trace;

/* depth_limit 1..LL_TRACE_DEPTH_MAX. A lot that does not exist gives an
 * empty trace (n_nodes 0). */
int ll_views_trace(ll_views_reader *r, const char *product_id,
                   const char *lot_id, ll_trace_direction direction,
                   unsigned depth_limit, ll_trace *out, ll_err *err);
void ll_trace_free(ll_trace *t);

/* What one instance knows of the genealogy, for a trace gathered from
 * every owner in a cluster (docs/traceability.md): a lot on one side of a
 * reference (product_id, lot_id, total_micro), or a reference a lot is on
 * one side of (reference, total_micro). Totals are those of the gcon/ and
 * gpro/ rows, the quantities of a trace's links. */
typedef struct ll_genealogy_row {
  char *product_id; /* NULL in a reference of a lot */
  char *lot_id;
  char *reference; /* NULL in a lot of a reference */
  int64_t total_micro;
} ll_genealogy_row;

void ll_genealogy_rows_free(ll_genealogy_row *rows, size_t n);
/* The lots consumed (consumed true) or produced under reference, with
 * their totals, in (product_id, lot_id) order; *out is malloc'd. */
int ll_views_reference_lots(ll_views_reader *r, const char *reference,
                            bool consumed, ll_genealogy_row **out,
                            size_t *n_out, ll_err *err);
/* The references the lot was consumed (consumed true) or produced under,
 * with its totals, in reference order; none for an unknown lot. */
int ll_views_lot_references(ll_views_reader *r, const char *product_id,
                            const char *lot_id, bool consumed,
                            ll_genealogy_row **out, size_t *n_out, ll_err *err);
/* Append the lot's deliveries to into->deliveries in log order, as a
 * trace does: at LL_TRACE_DELIVERIES_MAX it stops and sets truncated. */
int ll_views_lot_deliveries(ll_views_reader *r, const char *product_id,
                            const char *lot_id, ll_trace *into, ll_err *err);

/* ---- what is in a location (location_tree.c) ---- */

/* One lot in a location (or, with children, in its subtree). quantity sums
 * every location concerned; on_hand only the INTERNAL/TRANSIT ones. usage
 * is the location's usage for a single location (children false). */
typedef struct ll_location_lot {
  char *lot_id;
  char *product_id;
  ll_usage usage;
  int64_t quantity_micro;
  int64_t on_hand_micro;
} ll_location_lot;

/* Lots with a non-zero quantity in location (children: in the location or
 * any location whose id starts with location + "/"), in (lot_id,
 * product_id) order, after cursor (a next_cursor it gave out, or NULL), at
 * most limit. *next_cursor is malloc'd, or
 * NULL when there is no more. */
int ll_views_location_lots(ll_views_reader *r, const char *location,
                           bool children, const char *cursor, size_t limit,
                           ll_location_lot **out, size_t *n_out,
                           char **next_cursor, ll_err *err);
void ll_location_lots_free(ll_location_lot *a, size_t n);

/* ---- expiry (lot_expiry.c) ---- */

/* On-hand lots in FEFO order: by removal date (the expiration date when a
 * lot has no removal date), then expiration date, then lot_id; lots with
 * neither date come last. */
typedef struct ll_fefo_filter {
  bool has_before;
  int64_t before_ms;      /* only lots whose removal date is before this */
  const char *location;   /* only lots on hand there, or NULL */
  bool children;          /* location includes the locations below it */
  const char *product_id; /* or NULL */
  const char *cursor;     /* from a previous page, or NULL */
  size_t limit;           /* 1..LL_LIST_LIMIT_MAX */
} ll_fefo_filter;

typedef struct ll_fefo_lot {
  ll_lot lot;
  int64_t location_on_hand_micro; /* with a location filter */
} ll_fefo_lot;

/* A bad cursor is an error with code LL_INVALID_FIELD. */
int ll_views_fefo(ll_views_reader *r, const ll_fefo_filter *f,
                  ll_fefo_lot **out, size_t *n_out, char **next_cursor,
                  ll_err *err);
void ll_fefo_lots_free(ll_fefo_lot *a, size_t n);
/* The next_cursor of a FEFO page whose last row is lot (its lot_id,
 * product_id, removal_at and expiration_at are read): malloc'd. Cursors
 * of the same form sort in FEFO order by their first 32 characters, then
 * by (lot_id, product_id). The API merges the pages of several instances
 * with it. */
char *ll_views_fefo_page_cursor(const ll_lot *lot);

/* ---- the dates of lots on hand (lot_dates.c) ----
 *
 * Each date (alert, use-by, removal, expiration) of each lot with stock on
 * hand, in date order, and which lots entered that index after a log
 * position (a date set or moved, the lot back on hand): the date alerts
 * worker walks them from where it stood to "now" instead of listing every
 * lot. A walk reads at most limit index rows and can be taken up again
 * where it stopped, by another reader. */
/* The kinds have the values of ll_date_kind (ll_codec.h). */
typedef enum ll_views_date_kind {
  LL_VIEWS_DATE_ALERT = 0,
  LL_VIEWS_DATE_USE_BY,
  LL_VIEWS_DATE_REMOVAL,
  LL_VIEWS_DATE_EXPIRATION,
  LL_VIEWS_DATE_KINDS,
} ll_views_date_kind;

typedef struct ll_lot_date {
  char *product_id;
  char *lot_id;
  ll_views_date_kind kind;
  int64_t at_ms;
} ll_lot_date;

typedef struct ll_dates_walk {
  /* in */
  int64_t until_ms; /* dates after this are not taken */
  size_t limit;     /* index rows a walk reads at most */
  /* out: appended by each walk until ll_dates_walk_clear */
  ll_lot_date *dates;
  size_t n, cap;
  bool done;          /* the last walk reached its end (else: the limit) */
  uint64_t rows_read; /* index rows read by every walk, added up */
  ll_buf from;        /* where the next walk starts (opaque) */
} ll_dates_walk;

void ll_dates_walk_init(ll_dates_walk *w, size_t limit);
/* Drop the dates taken; the position stays. */
void ll_dates_walk_clear(ll_dates_walk *w);
/* Start again from the beginning (the earliest date; for a walk of what
 * entered, the reader's position). */
void ll_dates_walk_restart(ll_dates_walk *w);
void ll_dates_walk_free(ll_dates_walk *w);
/* The dates at or before until_ms, in date order, from where the last
 * walk stopped (a walk that reached its end stops right after until_ms:
 * the next one reads what has come due since). */
int ll_views_dates_due(ll_views_reader *r, ll_dates_walk *w, ll_err *err);
/* The dates at or before until_ms of the lots that entered the index (got
 * a date row) after the position where the last walk stopped, up to the
 * reader's position; the first walk only notes the reader's position. */
int ll_views_dates_entered(ll_views_reader *r, ll_dates_walk *w, ll_err *err);

/* RocksDB's estimates for the views database (views_stats.c). */
void ll_views_stats(ll_views *v, ll_db_stats *out);

/* The projector: follows the log store and feeds the views. A step
 * applies at most LL_PROJECTOR_BATCH_MAX log entries, as one run. */
#define LL_PROJECTOR_BATCH_MAX 16384
typedef struct ll_projector ll_projector;
ll_projector *ll_projector_new(ll_store *log, ll_views *views);
void ll_projector_free(ll_projector *p);
/* Catch up with the log (secondary mode) and apply up to max entries.
 * *applied = how many; 0 means caught up. */
int ll_projector_step(ll_projector *p, size_t max, size_t *applied,
                      ll_err *err);

/* ---- maintenance (views_admin.c) ---- */

/* Every key and value of the views in key order, one "hexkey hexvalue"
 * line each: equal dumps mean equal views. _dir opens the database
 * read-only (no lock), so it works next to a running service. */
int ll_views_dump(ll_views *v, FILE *out, ll_err *err);
int ll_views_dump_dir(const char *dir, FILE *out, ll_err *err);

/* Online RocksDB checkpoint into dir (must not exist). *position is the
 * views' position when it began (the checkpoint holds at least that). */
int ll_views_checkpoint(ll_views *v, const char *dir, uint64_t *position,
                        ll_err *err);

/* A backup: checkpoint the views (when views != NULL) into dir/views, then
 * the log (when log != NULL, a primary) into dir/log. Views first, so a
 * service started on the backup never finds views ahead of its log (it
 * projects the difference). dir must exist; dir/views and dir/log must
 * not. On failure what this call made is removed. Positions are lower
 * bounds (taken when each checkpoint began). */
typedef struct ll_backup_result {
  bool has_views, has_log;
  uint64_t views_position, log_position;
} ll_backup_result;
int ll_backup_checkpoint(ll_views *views, ll_store *log, const char *dir,
                         ll_backup_result *result, ll_err *err);

/* Progress of a rebuild: return false to cancel (the views stay as they
 * were). */
typedef bool (*ll_rebuild_progress)(void *ctx, uint64_t position,
                                    uint64_t target);

typedef struct ll_rebuild_stats {
  uint64_t entries;  /* log entries replayed */
  uint64_t position; /* the new views' position */
  uint64_t elapsed_ns;
} ll_rebuild_stats;

/* Replace the views at views_dir by a replay of the whole log into fresh
 * views, swapped in atomically when complete. Refuses while a process has
 * the views open. log may be a secondary (it is caught up first). */
int ll_views_rebuild(ll_store *log, const char *views_dir,
                     ll_rebuild_progress progress, void *ctx,
                     ll_rebuild_stats *stats, ll_err *err);

#endif
