#include "tm_time.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

tm_ms tm_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (tm_ms)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tm_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

tm_ms tm_deadline_in(int64_t ms)
{
    return tm_now_ms() + ms;
}

int64_t tm_remaining_ms(tm_ms deadline)
{
    int64_t left = deadline - tm_now_ms();
    return left > 0 ? left : 0;
}

int tm_expired(tm_ms deadline)
{
    return tm_now_ms() >= deadline;
}

void tm_sleep_ms(int64_t ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

int64_t tm_wall_s(void)
{
    return (int64_t)time(NULL);
}

void tm_format_utc(int64_t epoch, char *buf, unsigned len)
{
    time_t t = (time_t)epoch;
    struct tm tmv;
    gmtime_r(&t, &tmv);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tmv);
}

int tm_parse_utc(const char *s, int64_t *epoch)
{
    struct tm tmv;
    memset(&tmv, 0, sizeof tmv);
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    if (end == NULL || *end != '\0') {
        memset(&tmv, 0, sizeof tmv);
        end = strptime(s, "%Y-%m-%d", &tmv);
    }
    if (end != NULL && *end == '\0') {
        *epoch = (int64_t)timegm(&tmv);
        return 0;
    }
    char *e = NULL;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    if (errno != 0 || e == s || *e != '\0')
        return -1;
    *epoch = v;
    return 0;
}
