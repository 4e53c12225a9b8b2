/* ll_logging.h — the one logging call.
 *
 * Lines go to stderr as "2026-11-27T10:00:00.123Z INFO  command: message".
 * Level is set once at start-up (LOTLINE_LOG_LEVEL or --log-level). */
#ifndef LL_LOGGING_H
#define LL_LOGGING_H

#include <stdbool.h>

typedef enum ll_level {
  LL_DEBUG = 0,
  LL_INFO = 1,
  LL_WARN = 2,
  LL_ERROR = 3,
} ll_level;

void ll_log_set_level(ll_level level);
bool ll_log_parse_level(const char *name, ll_level *out);
void ll_log(ll_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
