/* ll_store_internal.h — what the files of services/log/ share and nobody
 * else may use: the store's struct, the column family indexes, the meta
 * keys, the record codecs (ll_store_record.c) and the error helper.
 *
 * Split: ll_store.c opens, closes and reads; ll_store_batch.c builds and
 * commits write batches; ll_store_record.c knows the bytes on disk. */
#ifndef LL_STORE_INTERNAL_H
#define LL_STORE_INTERNAL_H

#include <rocksdb/c.h>
#include <stdatomic.h>

#include "ll_store.h"

/* Column families, in the order they are opened. */
enum {
  LL_CF_DEFAULT = 0, /* meta */
  LL_CF_LOG,
  LL_CF_STATE,
  LL_CF_OFFSETS,
  LL_CF_REJECTIONS,
  LL_CF_COUNT,
};

/* Meta keys in the default column family. Values are 8-byte big-endian
 * counters, except the format version (one byte) and the last hash (the
 * LL_LOG_HASH_BYTES chain hash of the entry at last_position; absent while
 * the log is empty). Version 2: log entries carry the chain hash. */
#define LL_META_FORMAT "format_version"
#define LL_META_LAST_POSITION "last_position"
#define LL_META_LAST_REJECTION "last_rejection"
#define LL_META_LAST_HASH "last_hash"
#define LL_STORE_FORMAT_VERSION 2
#define LL_OUTBOX_PREFIX "outbox/" /* + be64 sequence: ll_store_outbox.c */

/* A batch holds one poll's worth of input; far above any sane poll size,
 * low enough that a runaway loop is caught before memory runs out. */
#define LL_STORE_BATCH_MAX_ENTRIES 1000000u

struct ll_store {
  char *dir;
  ll_store_mode mode;
  rocksdb_t *db;
  rocksdb_cache_t *block_cache;
  rocksdb_column_family_handle_t *cf[LL_CF_COUNT];
  rocksdb_readoptions_t *read_opts; /* shared, never modified after open */
  rocksdb_writeoptions_t *write_sync;
  rocksdb_writeoptions_t *write_nosync;
  char *secondary_path; /* private info-log dir of a secondary; else NULL */
  /* Advanced only after a successful commit (primary) or catch-up
   * (secondary); read from any thread. */
  _Atomic uint64_t last_position;
  _Atomic uint64_t last_rejection;
  /* Chain hash of the entry at last_position (zeros when empty). Loaded at
   * open, then written only by the command thread after a commit: the next
   * batch chains on it. Nobody else reads it. */
  uint8_t last_hash[LL_LOG_HASH_BYTES];
  bool batch_open; /* the command thread's own bookkeeping */
};

/* Turn a RocksDB error string into err ("log store DIR: OP: why"), free it,
 * return -1. */
int ll_store_fail(const ll_store *s, ll_err *err, const char *op, char *rerr);

/* ll_store_open() without the meta consistency checks (format still
 * checked): for ll_store_verify(), which reports those differences by
 * position instead of refusing to open. */
ll_store *ll_store_open_unchecked(const char *dir, ll_store_mode mode,
                                  ll_err *err);

/* Outbox keys and values (ll_store_outbox.c). */
void ll_store_outbox_key(ll_buf *key, uint64_t sequence);
void ll_store_encode_outbox(ll_buf *out, const void *key, size_t key_len,
                            bool has_key, const void *value, size_t value_len);

/* Records (ll_store_record.c). */
/* Encode the entry at `position`, chained on prev_hash; its own hash is
 * stored in the value and copied to hash_out. */
void ll_store_encode_log_value(ll_buf *out, uint64_t position,
                               const uint8_t prev_hash[LL_LOG_HASH_BYTES],
                               const ll_event *ev, const ll_input *in,
                               int64_t recorded_at_ms,
                               uint8_t hash_out[LL_LOG_HASH_BYTES]);
bool ll_store_decode_log_value(const void *p, size_t n, ll_log_entry *e);
/* The hash stored in a log value (borrowed), or NULL when the value is too
 * short or of another version to hold one. */
const uint8_t *ll_store_log_value_hash(const void *p, size_t n);
/* The hash the value at `position` must carry when the previous entry's is
 * prev_hash. Precondition: ll_store_log_value_hash(p, n) != NULL. */
void ll_store_chain_hash(const void *p, size_t n, uint64_t position,
                         const uint8_t prev_hash[LL_LOG_HASH_BYTES],
                         uint8_t out[LL_LOG_HASH_BYTES]);
void ll_store_encode_rejection(ll_buf *out, const ll_stored_rejection *r);
bool ll_store_decode_rejection(const void *p, size_t n, ll_stored_rejection *r);
void ll_store_offset_key(ll_buf *out, const char *cluster, const char *topic,
                         int32_t partition);
void ll_store_encode_offset(ll_buf *out, int64_t next_offset);
bool ll_store_decode_offset(const void *p, size_t n, int64_t *next_offset);

#endif
