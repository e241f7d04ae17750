#include "tm_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const code_names[TM_E_COUNT] = {
    [TM_E_NONE] = "none", [TM_E_FAIL] = "fail",   [TM_E_INPUT] = "input",
    [TM_E_IO] = "io",     [TM_E_NOMEM] = "nomem", [TM_E_BUSY] = "busy",
    [TM_E_TIMEOUT] = "timeout", [TM_E_LOST] = "lost", [TM_E_HELD] = "held",
};

__attribute__((format(printf, 3, 0)))
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

/* Length of the UTF-8 sequence at p (1..4) when it is valid and not a C1 control,
 * else 0. */
static size_t utf8_ok(const unsigned char *p)
{
    size_t n = p[0] >= 0xC2 && p[0] <= 0xDF ? 2 : p[0] >= 0xE0 && p[0] <= 0xEF ? 3
               : p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if (n == 2 && p[0] == 0xC2 && p[1] < 0xA0)
        return 0;   /* U+0080..U+009F: C1 controls (CSI among them) */
    return n;
}

const char *tm_printable(const char *in, char *out, size_t len)
{
    size_t o = 0;
    if (len == 0)
        return out;
    for (const unsigned char *p = (const unsigned char *)(in ? in : ""); *p;) {
        size_t n = *p >= 0x20 && *p < 0x7F ? 1 : *p >= 0x80 ? utf8_ok(p) : 0;
        if (n == 0) {
            if (o + 4 >= len)
                break;
            snprintf(out + o, len - o, "\\x%02x", *p++);
            o += 4;
            continue;
        }
        if (o + n >= len)
            break;
        memcpy(out + o, p, n);
        o += n;
        p += n;
    }
    out[o] = '\0';
    return out;
}

void tm_say(const char *fmt, ...)
{
    char raw[2048], safe[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", tm_printable(raw, safe, sizeof safe));
}
