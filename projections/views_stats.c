/* views_stats.c — RocksDB's size and memory estimates for the views
 * database (one column family, RocksDB's default block cache), for
 * /metrics. */
#include <string.h>

#include "ll_rocks.h"
#include "views_internal.h"

static uint64_t property(ll_views *v, const char *name) {
  uint64_t value = 0;
  return rocksdb_property_int(v->db, name, &value) == 0 ? value : 0;
}

void ll_views_stats(ll_views *v, ll_db_stats *out) {
  memset(out, 0, sizeof *out);
  out->sst_bytes = property(v, "rocksdb.total-sst-files-size");
  out->live_data_bytes = property(v, "rocksdb.estimate-live-data-size");
  out->memtable_bytes = property(v, "rocksdb.cur-size-all-mem-tables");
  out->table_readers_bytes = property(v, "rocksdb.estimate-table-readers-mem");
  out->block_cache_bytes = property(v, "rocksdb.block-cache-usage");
  out->compaction_pending_bytes =
      property(v, "rocksdb.estimate-pending-compaction-bytes");
  out->l0_files = ll_rocks_l0_files(v->db, NULL);
  out->stall_micros = ll_rocks_stall_micros(v->db);
}
