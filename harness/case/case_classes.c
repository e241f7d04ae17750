/* The outcome-class vocabulary of docs/contracts.md §5: which classes a scenario
 * may expect on each side. The classifier (classify/) produces classes from the
 * same vocabulary; a case whose expectation is outside it is refused when it is
 * built, so a typo never runs as a mysterious "fail". */
#include <stdio.h>
#include <string.h>

#include "case/case.h"

/* One row per class kind: its spelling (a family ends in ':'), the sides that
 * can have it. */
static const struct {
    enum case_outcome kind;
    const char *text;
    int device, peer;
} kinds[] = {
    { CASE_OC_OK, "ok", 1, 1 },
    { CASE_OC_HELLO_VERIFY_RETRY, "hello-verify-retry", 1, 0 },
    { CASE_OC_TIMEOUT, "timeout", 1, 1 },
    { CASE_OC_UNSUPPORTED, "unsupported", 1, 0 },
    { CASE_OC_CLOSED, "closed", 0, 1 },
    { CASE_OC_NOT_STARTED, "not-started", 0, 1 },
    { CASE_OC_RESET, "reset", 1, 0 },
    { CASE_OC_VERIFY_FAILED, "verify-failed:", 1, 0 },
    { CASE_OC_ERROR, "error:", 1, 1 },
    { CASE_OC_ERRNO, "errno:", 1, 0 },
    { CASE_OC_ALERT_SENT, "alert-sent:", 0, 1 },
    { CASE_OC_ALERT_RECEIVED, "alert-received:", 0, 1 },
    { CASE_OC_RECOVERED, "recovered:", 1, 0 },
};
#define NKINDS (sizeof kinds / sizeof kinds[0])

static const char *const verify_reasons[] = { "expired", "hostname", "untrusted", "future",
                                              "key-usage", "ext-key-usage", "bad-hash",
                                              "bad-pk", "bad-key", "other", NULL };
static const char *const infra[] = { "lost", "crashed", "bad-request", NULL };

static int in(const char *const *list, const char *s, size_t n)
{
    for (size_t i = 0; list[i]; i++)
        if (strlen(list[i]) == n && strncmp(list[i], s, n) == 0)
            return 1;
    return 0;
}

int case_class_is_infra(const char *cls)
{
    return cls == NULL || in(infra, cls, strlen(cls));
}

static int side_has(size_t k, enum case_side side)
{
    return side == CASE_SIDE_DEVICE ? kinds[k].device : kinds[k].peer;
}

static int is_family(size_t k)
{
    return kinds[k].text[strlen(kinds[k].text) - 1] == ':';
}

/* The kind row of cls on side, or -1. */
static int kind_of(enum case_side side, const char *cls)
{
    for (size_t k = 0; k < NKINDS; k++) {
        if (!side_has(k, side))
            continue;
        size_t n = strlen(kinds[k].text);
        if (is_family(k) ? (strncmp(cls, kinds[k].text, n) == 0 && cls[n] != '\0')
                         : strcmp(cls, kinds[k].text) == 0)
            return (int)k;
    }
    return -1;
}

/* "ok, hello-verify-retry, … or verify-failed:…, error:…" for a side. */
static void side_vocabulary(enum case_side side, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t k = 0; k < NKINDS && used < len; k++)
        if (side_has(k, side))
            used += (size_t)snprintf(out + used, len - used, "%s%s%s", used ? ", " : "",
                                     kinds[k].text, is_family(k) ? "…" : "");
}

static int verify_reasons_ok(const char *side, const char *cls, const char *r,
                             struct tm_err *err)
{
    while (*r) {
        size_t n = strcspn(r, "+");
        if (!in(verify_reasons, r, n))
            return tm_err_setc(err, TM_E_INPUT, "expect.%s: '%s': unknown verify reason '%.*s' "
                               "(expired, hostname, untrusted, future, key-usage, ext-key-usage, "
                               "bad-hash, bad-pk, bad-key, other)", side, cls, (int)n, r);
        r += n + (r[n] == '+');
    }
    return 0;
}

int case_class_check(enum case_side side, const char *cls, enum case_outcome *kind,
                     struct tm_err *err)
{
    const char *sn = side == CASE_SIDE_DEVICE ? "device" : "peer";
    if (kind != NULL)
        *kind = CASE_OC_INFRA;
    if (cls == NULL || *cls == '\0')
        return tm_err_setc(err, TM_E_INPUT, "expect.%s: '': empty class", sn);
    if (cls[0] == '!') {    /* an exclusion: the class after it must be one */
        if (cls[1] == '!' || strcmp(cls + 1, "*") == 0)
            return tm_err_setc(err, TM_E_INPUT, "expect.%s: '%s': '!' excludes one class "
                               "or family", sn, cls);
        return case_class_check(side, cls + 1, kind, err);
    }
    if (case_class_is_infra(cls))
        return tm_err_setc(err, TM_E_INPUT, "expect.%s: '%s': '%s' is an infrastructure "
                           "outcome, never expected", sn, cls, cls);
    if (strcmp(cls, "*") == 0) {
        if (kind != NULL)
            *kind = CASE_OC_ANY;
        return 0;
    }
    int k = kind_of(side, cls);
    if (k < 0) {
        char vocab[300];
        side_vocabulary(side, vocab, sizeof vocab);
        return tm_err_setc(err, TM_E_INPUT, "expect.%s: '%s': not a %s class (%s)", sn, cls, sn,
                           vocab);
    }
    if (kind != NULL)
        *kind = strpbrk(cls, "*?[") != NULL ? CASE_OC_ANY : kinds[k].kind;
    if (kinds[k].kind == CASE_OC_VERIFY_FAILED && strpbrk(cls, "*?[") == NULL)
        return verify_reasons_ok(sn, cls, cls + strlen(kinds[k].text), err);
    return 0;
}
