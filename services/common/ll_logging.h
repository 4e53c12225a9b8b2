/* ll_logging.h — the one logging call.
 *
 * Lines go to stderr, one write(2) each, in one of two formats set once at
 * start-up (log.format):
 *   text  2026-11-27T10:00:00.123Z INFO  command: message
 *   json  {"ts":"2026-11-27T10:00:00.123Z","level":"info",
 *          "component":"command","msg":"message"}   (one object per line)
 * Level is set once at start-up (log.level: debug, info, warn, error). */
#ifndef LL_LOGGING_H
#define LL_LOGGING_H

#include <stdbool.h>

typedef enum ll_level {
  LL_DEBUG = 0,
  LL_INFO = 1,
  LL_WARN = 2,
  LL_ERROR = 3,
} ll_level;

typedef enum ll_log_format {
  LL_LOG_TEXT = 0,
  LL_LOG_JSON = 1,
} ll_log_format;

#define LL_LOG_LINE_MAX_BYTES 4096 /* longer messages are cut */

void ll_log_set_level(ll_level level);
bool ll_log_enabled(ll_level level);
bool ll_log_parse_level(const char *name, ll_level *out);
void ll_log_set_format(ll_log_format format);
bool ll_log_parse_format(const char *name, ll_log_format *out);
void ll_log(ll_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
