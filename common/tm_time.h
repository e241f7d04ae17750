/* Monotonic time and absolute deadlines. Deadlines are passed down, never re-armed
 * per layer, so nested waits cannot stretch past the caller's limit. A deadline of 0
 * means "no deadline" only where a function says so. */
#ifndef TM_TIME_H
#define TM_TIME_H

#include <stdint.h>

typedef int64_t tm_ms;   /* milliseconds on CLOCK_MONOTONIC */

tm_ms tm_now_ms(void);
int64_t tm_now_us(void);                   /* CLOCK_MONOTONIC in microseconds */
tm_ms tm_deadline_in(int64_t ms);          /* now + ms */
int64_t tm_remaining_ms(tm_ms deadline);   /* >= 0; 0 when passed */
int tm_expired(tm_ms deadline);
void tm_sleep_ms(int64_t ms);

/* Wall clock in seconds since the epoch (UTC). */
int64_t tm_wall_s(void);
/* Format a UTC epoch as "YYYY-MM-DDTHH:MM:SSZ" into buf (>= 21 bytes). */
void tm_format_utc(int64_t epoch, char *buf, unsigned len);
/* Parse "YYYY-MM-DDTHH:MM:SSZ", "YYYY-MM-DD" or a decimal epoch. 0 on success. */
int tm_parse_utc(const char *s, int64_t *epoch);

#endif
