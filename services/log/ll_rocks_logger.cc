/* ll_rocks_logger.cc — RocksDB's info log through the service's log
 * (ll_rocks_logger.h says why). C++ (as ll_rocks_env.cc): RocksDB 7.8's
 * C API can hand a logger to the options (rocksdb_options_set_info_log) but
 * cannot make one; later releases add rocksdb_logger_create_callback_logger
 * for that, and this file goes away with them. */
#include "ll_rocks_logger.h"

#include <rocksdb/env.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

extern "C" {
#include "ll_logging.h"
}

/* The C API's handle, as RocksDB's c.cc defines it: one shared pointer.
 * rocksdb_options_set_info_log copies rep into the options. */
struct rocksdb_logger_t {
  std::shared_ptr<rocksdb::Logger> rep;
};

namespace {

class ServiceLogger final : public rocksdb::Logger {
public:
  /* RocksDB's info lines (flushes, compactions) only at log.level debug. */
  explicit ServiceLogger(const char *name)
      : rocksdb::Logger(ll_log_enabled(LL_DEBUG)
                            ? rocksdb::InfoLogLevel::INFO_LEVEL
                            : rocksdb::InfoLogLevel::WARN_LEVEL),
        name_(name) {}

  /* The options dump at every open: nothing an operator needs. */
  void LogHeader(const char *, va_list) override {}

  /* A line without a level: RocksDB's own default is info. */
  void Logv(const char *format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }

  void Logv(const rocksdb::InfoLogLevel level, const char *format,
            va_list ap) override {
    if (level < GetInfoLogLevel() ||
        level == rocksdb::InfoLogLevel::HEADER_LEVEL)
      return;
    char line[LL_LOG_LINE_MAX_BYTES];
    vsnprintf(line, sizeof line, format, ap);
    size_t n = strlen(line);
    while (n > 0 && line[n - 1] == '\n')
      line[--n] = '\0';
    ll_level to = level >= rocksdb::InfoLogLevel::ERROR_LEVEL  ? LL_ERROR
                  : level >= rocksdb::InfoLogLevel::WARN_LEVEL ? LL_WARN
                                                               : LL_DEBUG;
    /* Files RocksDB 7.8 ingested (the journal's applies, the views' big
     * runs) have no unique ID in the MANIFEST, so it warns once per
     * process that it could not check one: expected, nothing to do. */
    if (to == LL_WARN && strstr(line, "without unique ID to verify") != NULL)
      to = LL_DEBUG;
    ll_log(to, "rocksdb", "%s: %s", name_.c_str(), line);
  }

private:
  const std::string name_;
};

} // namespace

extern "C" void ll_rocks_log_to_service(rocksdb_options_t *options,
                                        const char *name) {
  rocksdb_logger_t logger{std::make_shared<ServiceLogger>(name)};
  rocksdb_options_set_info_log(options, &logger);
}
