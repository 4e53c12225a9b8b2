/* ll_time.h — clocks and the one RFC 3339 time format. */
#ifndef LL_TIME_H
#define LL_TIME_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* Wall clock in ms since the epoch, and a monotonic clock in ns. */
int64_t ll_now_ms(void);
uint64_t ll_mono_ns(void);

/* The wall-clock time timeout_ms from now, as pthread_cond_timedwait and
 * pthread_timedjoin_np take their deadline. */
struct timespec ll_deadline_after_ms(int64_t timeout_ms);

/* RFC 3339 UTC with milliseconds only when non-zero
 * ("2027-03-01T00:00:00Z", "2027-03-01T00:00:00.250Z"). out >= 32 bytes. */
char *ll_time_format(int64_t ms, char *out);
/* Accepts "YYYY-MM-DDTHH:MM:SS[.fff...]" followed by "Z" or "+hh:mm"/"-hh:mm".
 */
bool ll_time_parse(const char *s, int64_t *ms_out);

#endif
