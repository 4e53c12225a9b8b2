/* ll_time.c — clocks and RFC 3339 times (see ll_time.h). */
#include "ll_time.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

struct timespec ll_deadline_after_ms(int64_t timeout_ms) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += timeout_ms / 1000;
  deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  return deadline;
}

int64_t ll_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t ll_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

char *ll_time_format(int64_t ms, char *out) {
  time_t secs = (time_t)(ms / 1000);
  int64_t frac = ms % 1000;
  if (frac < 0) {
    frac += 1000;
    secs -= 1;
  }
  struct tm tm;
  gmtime_r(&secs, &tm);
  size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
  if (frac)
    snprintf(out + n, 32 - n, ".%03dZ", (int)frac);
  else
    snprintf(out + n, 32 - n, "Z");
  return out;
}

static bool digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

static int days_in_month(int year, int month) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : days[month - 1];
}

bool ll_time_parse(const char *s, int64_t *ms_out) {
  int year, mon, day, hour, min, sec, ms = 0;
  if (!s || strlen(s) < 20)
    return false;
  if (!digits(s, 4, &year) || s[4] != '-' || !digits(s + 5, 2, &mon) ||
      s[7] != '-' || !digits(s + 8, 2, &day) ||
      (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &hour) ||
      s[13] != ':' || !digits(s + 14, 2, &min) || s[16] != ':' ||
      !digits(s + 17, 2, &sec))
    return false;
  if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) ||
      hour > 23 || min > 59 || sec > 60)
    return false;
  const char *p = s + 19;
  if (*p == '.') {
    p++;
    int n = 0;
    while (p[n] >= '0' && p[n] <= '9')
      n++;
    if (n == 0)
      return false;
    for (int i = 0; i < 3; i++)
      ms = ms * 10 + (i < n ? p[i] - '0' : 0);
    p += n;
  }
  int offset_min = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int oh, om;
    if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) ||
        oh > 23 || om > 59)
      return false;
    offset_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
    p += 6;
  } else {
    return false;
  }
  if (*p != '\0')
    return false;
  struct tm tm = {.tm_year = year - 1900,
                  .tm_mon = mon - 1,
                  .tm_mday = day,
                  .tm_hour = hour,
                  .tm_min = min,
                  .tm_sec = sec};
  time_t secs = timegm(&tm);
  *ms_out = ((int64_t)secs - (int64_t)offset_min * 60) * 1000 + ms;
  return true;
}
