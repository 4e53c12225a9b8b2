/* ll_rocks_env.cc — compactions on idle time (ll_rocks.h says why). C++
 * because RocksDB 7.8's C API can lower a pool's threads only to nice 19
 * (rocksdb_env_lower_thread_pool_cpu_priority), not to SCHED_IDLE. */
#include <rocksdb/env.h>

/* Declared in ll_rocks.h, which is C only (C11 atomics). */
extern "C" void ll_rocks_compactions_yield(void);

extern "C" void ll_rocks_compactions_yield(void) {
  /* Each pool thread changes its own policy before its next job. RocksDB's
   * default Env on Linux supports it; if another one does not, compactions
   * keep their priority and nothing else changes. */
  (void)rocksdb::Env::Default()->LowerThreadPoolCPUPriority(
      rocksdb::Env::Priority::LOW, rocksdb::CpuPriority::kIdle);
}
