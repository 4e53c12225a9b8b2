/* ll_rocks_logger.h — RocksDB's info log through the service's log.
 *
 * By default RocksDB writes its info log to a file (LOG) beside the data.
 * On a full disk that file fails too, and RocksDB 7.8 as Debian builds it
 * (assertions on) aborts the process on the next line it logs after a
 * failed one (WritableFileWriter: "sync_without_flush_called_"), wherever
 * that happens: a flush's error, the next open's WAL recovery, the close.
 * So no database of ours has that file: what RocksDB says at warning level
 * and above goes to the service's log (ll_logging.h) as component
 * "rocksdb", its lines prefixed with the database's name; its info lines
 * (flushes, compactions) too, at debug level, when log.level is debug as
 * the database opens. The options it dumps at each open are dropped.
 * C and C++ both include this header. */
#ifndef LL_ROCKS_LOGGER_H
#define LL_ROCKS_LOGGER_H

#include <rocksdb/c.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Give the database opened with options this logger; name ("log store",
 * "views", "alerts") starts each of its lines. */
void ll_rocks_log_to_service(rocksdb_options_t *options, const char *name);

#ifdef __cplusplus
}
#endif

#endif
