#include "tm_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const code_names[TM_E_COUNT] = {
    [TM_E_NONE] = "none", [TM_E_FAIL] = "fail",   [TM_E_INPUT] = "input",
    [TM_E_IO] = "io",     [TM_E_NOMEM] = "nomem", [TM_E_BUSY] = "busy",
    [TM_E_TIMEOUT] = "timeout", [TM_E_LOST] = "lost",
};

static void vset(struct tm_err *err, enum tm_errc code, const char *fmt, va_list ap)
{
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    err->code = code;
}

int tm_err_set(struct tm_err *err, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vset(err, TM_E_FAIL, fmt, ap);
    va_end(ap);
    return -1;
}

int tm_err_setc(struct tm_err *err, enum tm_errc code, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vset(err, code, fmt, ap);
    va_end(ap);
    return -1;
}

enum tm_errc tm_err_code(const struct tm_err *err)
{
    return err != NULL ? err->code : TM_E_NONE;
}

const char *tm_errc_name(enum tm_errc code)
{
    return (int)code >= 0 && code < TM_E_COUNT ? code_names[code] : "?";
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
    if (err->code == TM_E_NONE)
        err->code = TM_E_FAIL;
    return -1;
}
