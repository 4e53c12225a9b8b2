/* ll_store_stats.c — RocksDB's size and memory estimates for the log
 * database, summed over its column families, for /metrics. The block cache
 * is shared by every column family, so it is read once from the cache. */
#include "ll_rocks.h"
#include "ll_store_internal.h"

#include <string.h>

static uint64_t sum_property(ll_store *s, const char *name) {
  uint64_t total = 0;
  for (int i = 0; i < LL_CF_COUNT; i++) {
    uint64_t v = 0;
    if (rocksdb_property_int_cf(s->db, s->cf[i], name, &v) == 0)
      total += v;
  }
  return total;
}

void ll_store_stats(ll_store *s, ll_db_stats *out) {
  memset(out, 0, sizeof *out);
  out->sst_bytes = sum_property(s, "rocksdb.total-sst-files-size");
  out->live_data_bytes = sum_property(s, "rocksdb.estimate-live-data-size");
  out->memtable_bytes = sum_property(s, "rocksdb.cur-size-all-mem-tables");
  out->table_readers_bytes =
      sum_property(s, "rocksdb.estimate-table-readers-mem");
  out->block_cache_bytes = rocksdb_cache_get_usage(s->block_cache);
  out->compaction_pending_bytes =
      sum_property(s, "rocksdb.estimate-pending-compaction-bytes");
  for (int i = 0; i < LL_CF_COUNT; i++)
    out->l0_files += ll_rocks_l0_files(s->db, s->cf[i]);
  out->stall_micros = ll_rocks_stall_micros(s->db);
}
