#include "tm_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int tm_err_set(struct tm_err *err, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int tm_err_prefix(struct tm_err *err, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    char prefix[512];
    char old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    /* Built by hand: snprintf("%s: %s") trips -Wformat-truncation on these sizes. */
    size_t pl = strlen(prefix);
    memcpy(err->msg, prefix, pl);
    memcpy(err->msg + pl, ": ", 2);
    size_t room = sizeof err->msg - pl - 3;
    size_t ol = strnlen(old, room);
    memcpy(err->msg + pl + 2, old, ol);
    err->msg[pl + 2 + ol] = '\0';
    return -1;
}
