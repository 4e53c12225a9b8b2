/* ll_logging.c — the one logging call: timestamped lines on stderr, one
 * write(2) per line so lines from several threads never interleave. */
#include "ll_logging.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static atomic_int min_level = LL_INFO;
static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void ll_log_set_level(ll_level level) {
  atomic_store(&min_level, level);
}

bool ll_log_parse_level(const char *name, ll_level *out) {
  for (int i = 0; name && i < 4; i++) {
    if (strcasecmp(name, level_names[i]) == 0) {
      *out = (ll_level)i;
      return true;
    }
  }
  return false;
}

void ll_log(ll_level level, const char *component, const char *fmt, ...) {
  if ((int)level < atomic_load(&min_level))
    return;
  char line[2048];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  int n = snprintf(
      line, sizeof line,
      "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s: ", tm.tm_year + 1900,
      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
      ts.tv_nsec / 1000000, level_names[level], component);
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
  if (len > sizeof line - 2)
    len = sizeof line - 2;
  line[len++] = '\n';
  ssize_t w = write(STDERR_FILENO, line, len);
  (void)w; /* nowhere left to report a failed write to stderr */
}
