/* ll_logging.c — the one logging call: timestamped lines on stderr, one
 * write(2) per line so lines from several threads never interleave.
 *
 * The JSON format escapes the message itself rather than going through
 * jansson: a log line must be written even when the message holds bytes
 * that are not UTF-8 (a Kafka key quoted in a warning), and jansson refuses
 * those. Such bytes become U+FFFD; control characters become \u00XX. */
#include "ll_logging.h"
#include "ll_text.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static atomic_int min_level = LL_INFO;
static atomic_int log_format = LL_LOG_TEXT;
static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
static const char *const level_json[] = {"debug", "info", "warn", "error"};
static const char *const format_names[] = {"text", "json"};

void ll_log_set_level(ll_level level) {
  atomic_store(&min_level, level);
}

bool ll_log_enabled(ll_level level) {
  return (int)level >= atomic_load(&min_level);
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

void ll_log_set_format(ll_log_format format) {
  atomic_store(&log_format, format);
}

bool ll_log_parse_format(const char *name, ll_log_format *out) {
  for (int i = 0; name && i < 2; i++) {
    if (strcasecmp(name, format_names[i]) == 0) {
      *out = (ll_log_format)i;
      return true;
    }
  }
  return false;
}

/* Append s as the inside of a JSON string; stops before overrunning cap
 * (keeping room for the closing characters). Returns the new length. */
static size_t put_json_text(char *out, size_t len, size_t cap, const char *s,
                            size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    char esc[8];
    const char *piece = esc;
    size_t piece_len;
    size_t step = 1;
    unsigned char c = p[i];
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      piece_len = 2;
    } else if (c == '\n' || c == '\r' || c == '\t') {
      esc[0] = '\\';
      esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
      piece_len = 2;
    } else if (c < 0x20 || c == 0x7F) {
      piece_len = (size_t)snprintf(esc, sizeof esc, "\\u%04x", c);
    } else if (c < 0x80) {
      piece = (const char *)p + i;
      piece_len = 1;
    } else if ((step = ll_utf8_decode(p + i, n - i, NULL)) > 0) {
      piece = (const char *)p + i;
      piece_len = step;
    } else {
      piece = "\xEF\xBF\xBD"; /* U+FFFD */
      piece_len = 3;
      step = 1;
    }
    if (len + piece_len >= cap)
      break;
    memcpy(out + len, piece, piece_len);
    len += piece_len;
    i += step;
  }
  return len;
}

void ll_log(ll_level level, const char *component, const char *fmt, ...) {
  if (!ll_log_enabled(level))
    return;
  char msg[LL_LOG_LINE_MAX_BYTES];
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  size_t msg_len = m < 0 ? 0 : (size_t)m;
  if (msg_len >= sizeof msg)
    msg_len = sizeof msg - 1;

  char ts_text[64];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  snprintf(ts_text, sizeof ts_text, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
           tm.tm_sec, ts.tv_nsec / 1000000);

  /* Room for the escaped message (at worst 6 bytes per input byte is more
   * than we keep: the message is cut instead). */
  char line[2 * LL_LOG_LINE_MAX_BYTES];
  size_t len;
  if (atomic_load(&log_format) == LL_LOG_JSON) {
    len = (size_t)snprintf(line, sizeof line,
                           "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"",
                           ts_text, level_json[level]);
    len = put_json_text(line, len, sizeof line - 16, component,
                        strlen(component));
    memcpy(line + len, "\",\"msg\":\"", 9);
    len += 9;
    len = put_json_text(line, len, sizeof line - 4, msg, msg_len);
    memcpy(line + len, "\"}", 2);
    len += 2;
  } else {
    len = (size_t)snprintf(line, sizeof line, "%s %-5s %s: ", ts_text,
                           level_names[level], component);
    if (len > sizeof line - 2)
      len = sizeof line - 2;
    if (len + msg_len > sizeof line - 2)
      msg_len = sizeof line - 2 - len;
    memcpy(line + len, msg, msg_len);
    len += msg_len;
  }
  line[len++] = '\n';
  ssize_t w = write(STDERR_FILENO, line, len);
  (void)w; /* nowhere left to report a failed write to stderr */
}
