/* views_internal.h — what the read-model files share, not part of the API.
 *
 * All read models live in the default column family of the views database,
 * told apart by a key prefix. Keys join their parts with "\x1f" (unit
 * separator), which validated ids and names never contain, so every prefix
 * scan is exact and rows sort by their parts in byte order:
 *
 *   meta/position                 8-byte big-endian last applied position
 *   meta/format                   uvar LL_VIEWS_FORMAT
 *   lot/<lot_id>                  ll_lot_pack(lot)
 *   prod/<product_id>\x1f<lot_id> (empty)          lots of a product
 *   name/<name>\x1f<lot_id>       (empty)          lots by trimmed name
 *   qty/<lot_id>\x1f<location>    u8 usage, svar quantity_micro (never 0)
 *   loc/<location>\x1f<lot_id>    u8 usage, svar quantity_micro (never 0)
 *
 * Every value is a function of the log entries applied so far (no wall
 * clock, no randomness) and a row whose quantity returns to zero is deleted,
 * so two view databases that applied the same log hold the same rows
 * whatever the batching was. */
#ifndef LL_VIEWS_INTERNAL_H
#define LL_VIEWS_INTERNAL_H

#include <pthread.h>
#include <rocksdb/c.h>
#include <stdatomic.h>

#include "ll_buf.h"
#include "ll_views.h"

#define LL_VIEWS_FORMAT 1

#define LL_VK_POSITION "meta/position"
#define LL_VK_FORMAT "meta/format"
#define LL_VK_LOT "lot/"
#define LL_VK_PRODUCT "prod/"
#define LL_VK_NAME "name/"
#define LL_VK_QTY "qty/"
#define LL_VK_LOC "loc/"
#define LL_VK_SEP '\x1f'

struct ll_views {
  rocksdb_t *db;
  rocksdb_options_t *options;
  rocksdb_readoptions_t *read_opts;
  rocksdb_writeoptions_t *write_opts;
  pthread_mutex_t apply_lock; /* one ll_views_apply() at a time */
  _Atomic uint64_t position;  /* published after the batch is written */
};

/* One ll_views_apply() run: the pending batch, read through so an entry sees
 * what earlier entries of the same run wrote. */
typedef struct ll_views_txn {
  ll_views *v;
  rocksdb_writebatch_wi_t *batch;
} ll_views_txn;

int ll_views_txn_get(ll_views_txn *t, const ll_buf *key, ll_buf *value,
                     bool *found, ll_err *err);
void ll_views_txn_put(ll_views_txn *t, const ll_buf *key, const void *value,
                      size_t value_len);
void ll_views_txn_del(ll_views_txn *t, const ll_buf *key);

/* Key builders: prefix + a [+ "\x1f" + b]. Return false (key untouched
 * beyond reset) when a part contains the separator, which validation rules
 * out for anything in the log; callers report that as corruption. */
bool ll_views_key1(ll_buf *key, const char *prefix, const char *a);
bool ll_views_key2(ll_buf *key, const char *prefix, const char *a,
                   const char *b);

/* Per-read-model appliers, called in log order inside one run. */
int ll_lot_details_apply(ll_views_txn *t, const ll_log_entry *e, ll_err *err);
int ll_lot_locations_apply(ll_views_txn *t, const ll_log_entry *e, ll_err *err);

/* Quantity row value: u8 usage, svar quantity_micro. */
void ll_views_qty_pack(ll_usage usage, int64_t quantity_micro, ll_buf *out);
bool ll_views_qty_unpack(const void *p, size_t n, ll_usage *usage,
                         int64_t *quantity_micro);

#endif
