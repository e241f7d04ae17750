/* The fault-spec parser (tm_fault.h): three tables (kinds, places, stages) and one
 * path through them, so vcam's --fault, its fault op and scenario files accept and
 * refuse exactly the same specs with the same messages. */
#include "tm_fault.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum arg_rule { ARG_NONE, ARG_MS_OPTIONAL, ARG_RATE_REQUIRED, ARG_BYTES_REQUIRED };

static const struct {
    const char *name;
    enum tm_fault_kind kind;
    enum arg_rule arg;
    int bare_ok;            /* may go without a place (garbage: line-noise mode) */
} kinds[] = {
    { "reboot", TM_FAULT_REBOOT, ARG_NONE, 0 },
    { "stall", TM_FAULT_STALL, ARG_MS_OPTIONAL, 0 },
    { "garbage", TM_FAULT_GARBAGE, ARG_NONE, 1 },
    { "drop", TM_FAULT_DROP, ARG_NONE, 0 },
    { "baud", TM_FAULT_BAUD, ARG_RATE_REQUIRED, 0 },
    { "leak", TM_FAULT_LEAK, ARG_BYTES_REQUIRED, 0 },
};

static const struct {
    const char *name;
    enum tm_fault_place place;
    int64_t min;
} places[] = {
    { "ms", TM_AT_MS, 0 },
    { "request", TM_AT_REQUEST, 1 },
    { "byte", TM_AT_BYTE, 1 },
    { "boot", TM_AT_BOOT, 1 },
    { "stage", TM_AT_STAGE, 1 },
};

static const char *const stages[TM_STAGE_COUNT] = {
    [TM_STAGE_LISTENING] = "listening",
    [TM_STAGE_CONNECTED] = "connected",
    [TM_STAGE_CLIENT_HELLO] = "client-hello",
    [TM_STAGE_HANDSHAKE] = "handshake",
    [TM_STAGE_WRITE] = "write",
    [TM_STAGE_READ] = "read",
};

/* The spellings before places existed: KIND-after-ms=N is KIND@ms=N. */
static const struct {
    const char *prefix;
    const char *kind;
} legacy[] = {
    { "reboot-after-ms=", "reboot" },
    { "stall-after-ms=", "stall" },
    { "drop-after-ms=", "drop" },
};

#define N_OF(a) (sizeof (a) / sizeof (a)[0])
#define MAX_COUNT 1000000000000LL   /* any real count or time is far below */

const char *tm_fault_kind_name(enum tm_fault_kind k)
{
    for (size_t i = 0; i < N_OF(kinds); i++)
        if (kinds[i].kind == k)
            return kinds[i].name;
    return "?";
}

int tm_fault_kind_lookup(const char *name, enum tm_fault_kind *out)
{
    for (size_t i = 0; i < N_OF(kinds); i++) {
        if (strcmp(kinds[i].name, name) == 0) {
            *out = kinds[i].kind;
            return TM_FAULT_OK;
        }
    }
    return TM_FAULT_E_KIND;
}

const char *tm_fault_stage_name(enum tm_fault_stage s)
{
    return (unsigned)s < TM_STAGE_COUNT ? stages[s] : "?";
}

/* A decimal number, digits only (no sign, no spaces), in [min, MAX_COUNT]. */
static int parse_count(const char *s, size_t len, int64_t min, int64_t *out)
{
    char buf[24];
    if (len == 0 || len >= sizeof buf)
        return -1;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    long long v = strtoll(buf, NULL, 10);
    if (errno != 0 || v < min || v > MAX_COUNT)
        return -1;
    *out = v;
    return 0;
}

static void names_of_stages(char *buf, size_t len)
{
    size_t w = 0;
    buf[0] = '\0';
    for (int i = 0; i < TM_STAGE_COUNT && w < len; i++)
        w += (size_t)snprintf(buf + w, len - w, "%s%s", i ? "|" : "", stages[i]);
}

static int parse_stage(const char *v, struct tm_fault *out, struct tm_err *err)
{
    const char *hash = strchr(v, '#');
    size_t name_len = hash ? (size_t)(hash - v) : strlen(v);
    out->n = 1;
    for (int i = 0; i < TM_STAGE_COUNT; i++) {
        if (strlen(stages[i]) != name_len || strncmp(v, stages[i], name_len) != 0)
            continue;
        out->stage = (enum tm_fault_stage)i;
        if (hash && parse_count(hash + 1, strlen(hash + 1), 1, &out->n) != 0) {
            tm_err_setc(err, TM_E_INPUT, "stage=%s: expected NAME#N with N a whole number >= 1",
                        v);
            return TM_FAULT_E_COUNT;
        }
        return TM_FAULT_OK;
    }
    char names[200];
    names_of_stages(names, sizeof names);
    tm_err_setc(err, TM_E_INPUT, "stage=%.*s: unknown stage (%s)", (int)name_len, v, names);
    return TM_FAULT_E_STAGE;
}

int tm_fault_parse_place(const char *place, struct tm_fault *out, struct tm_err *err)
{
    const char *eq = strchr(place, '=');
    size_t name_len = eq ? (size_t)(eq - place) : strlen(place);
    for (size_t i = 0; i < N_OF(places); i++) {
        if (strlen(places[i].name) != name_len || strncmp(place, places[i].name, name_len) != 0)
            continue;
        out->place = places[i].place;
        if (eq == NULL) {
            tm_err_setc(err, TM_E_INPUT, "%s: expected %s=%s", place, places[i].name,
                        places[i].place == TM_AT_STAGE ? "NAME[#N]" : "N");
            return TM_FAULT_E_COUNT;
        }
        if (places[i].place == TM_AT_STAGE)
            return parse_stage(eq + 1, out, err);
        if (parse_count(eq + 1, strlen(eq + 1), places[i].min, &out->n) != 0) {
            tm_err_setc(err, TM_E_INPUT, "%s: expected a whole number >= %lld after %s=", place,
                        (long long)places[i].min, places[i].name);
            return TM_FAULT_E_COUNT;
        }
        return TM_FAULT_OK;
    }
    tm_err_setc(err, TM_E_INPUT,
                "%.*s: unknown place (ms=N|request=N|byte=N|boot=N|stage=NAME[#N])",
                (int)name_len, place);
    return TM_FAULT_E_PLACE;
}

static int parse_arg(size_t k, const char *arg, size_t len, struct tm_fault *out,
                     struct tm_err *err)
{
    out->arg = 0;
    if (kinds[k].arg == ARG_NONE && arg != NULL) {
        tm_err_setc(err, TM_E_INPUT, "%s:%.*s: %s takes no argument", kinds[k].name, (int)len, arg,
                   kinds[k].name);
        return TM_FAULT_E_ARG;
    }
    if (kinds[k].arg == ARG_RATE_REQUIRED && arg == NULL) {
        tm_err_setc(err, TM_E_INPUT, "%s: needs a rate, %s:RATE (0 = unthrottled)", kinds[k].name,
                   kinds[k].name);
        return TM_FAULT_E_ARG;
    }
    if (kinds[k].arg == ARG_BYTES_REQUIRED && arg == NULL) {
        tm_err_setc(err, TM_E_INPUT, "%s: needs a size, %s:BYTES", kinds[k].name, kinds[k].name);
        return TM_FAULT_E_ARG;
    }
    if (arg != NULL && parse_count(arg, len, 0, &out->arg) != 0) {
        tm_err_setc(err, TM_E_INPUT, "%s:%.*s: expected a whole number (%s)", kinds[k].name,
                    (int)len, arg, kinds[k].arg == ARG_MS_OPTIONAL
                    ? "milliseconds, 0 = until the line closes"
                    : kinds[k].arg == ARG_BYTES_REQUIRED ? "bytes" : "baud, 0 = unthrottled");
        return TM_FAULT_E_ARG;
    }
    return TM_FAULT_OK;
}

static int parse_spec(const char *spec, struct tm_fault *out, struct tm_err *err)
{
    const char *at = strchr(spec, '@');
    size_t head_len = at ? (size_t)(at - spec) : strlen(spec);
    const char *colon = memchr(spec, ':', head_len);
    size_t kind_len = colon ? (size_t)(colon - spec) : head_len;
    for (size_t k = 0; k < N_OF(kinds); k++) {
        if (strlen(kinds[k].name) != kind_len || strncmp(spec, kinds[k].name, kind_len) != 0)
            continue;
        out->kind = kinds[k].kind;
        int rc = parse_arg(k, colon ? colon + 1 : NULL,
                           colon ? head_len - kind_len - 1 : 0, out, err);
        if (rc != TM_FAULT_OK)
            return rc;
        out->place = TM_AT_NONE;
        if (at != NULL)
            return tm_fault_parse_place(at + 1, out, err);
        if (kinds[k].bare_ok)
            return TM_FAULT_OK;
        tm_err_setc(err, TM_E_INPUT,
                    "%s: needs a place, %s@ms=N|request=N|byte=N|boot=N|stage=NAME[#N]",
                    kinds[k].name, kinds[k].name);
        return TM_FAULT_E_PLACE;
    }
    tm_err_setc(err, TM_E_INPUT, "%.*s: unknown kind (reboot|stall[:MS]|garbage|drop|baud:RATE|leak:BYTES)",
               (int)kind_len, spec);
    return TM_FAULT_E_KIND;
}

int tm_fault_parse(const char *spec, struct tm_fault *out, struct tm_err *err)
{
    memset(out, 0, sizeof *out);
    char rewritten[64];
    const char *s = spec;
    for (size_t i = 0; i < N_OF(legacy); i++) {
        size_t n = strlen(legacy[i].prefix);
        if (strncmp(spec, legacy[i].prefix, n) == 0 && strlen(spec + n) < 24) {
            snprintf(rewritten, sizeof rewritten, "%s@ms=%s", legacy[i].kind, spec + n);
            s = rewritten;
        }
    }
    int rc = parse_spec(s, out, err);
    if (rc != TM_FAULT_OK)
        tm_err_prefix(err, "%s", spec);
    return rc;
}

void tm_fault_place_format(const struct tm_fault *f, char *buf, size_t len)
{
    if (f->place == TM_AT_NONE) {
        snprintf(buf, len, "%s", "");
        return;
    }
    for (size_t i = 0; i < N_OF(places); i++) {
        if (places[i].place != f->place)
            continue;
        if (f->place == TM_AT_STAGE)
            snprintf(buf, len, "stage=%s#%lld", tm_fault_stage_name(f->stage), (long long)f->n);
        else
            snprintf(buf, len, "%s=%lld", places[i].name, (long long)f->n);
        return;
    }
    snprintf(buf, len, "%s", "?");
}
