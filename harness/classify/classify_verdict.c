/* Expectation + actual classes → verdict and a one-line reason. */
#include "classify/classify.h"

#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "case/case.h"
#include "tm_verdict.h"

/* Device stages at or after the network handshake began (contracts §3 order). */
static const char *const k_reached_stages[] = { "wrap", "handshake", "write", "read", "close", NULL };
/* Device classes that claim "the handshake was attempted and failed": these need
 * evidence the peer was really involved, or a broken setup could pass as a
 * correct rejection. */
static const char *const k_negative_families[] = { "verify-failed:", "error:", "errno:", NULL };

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* Class against one expected entry: equal, or a glob ("alert-sent:*"). Exact
 * reasons are exact: verify-failed:expired does not match verify-failed:hostname. */
static int match_one(const char *e, const char *cls)
{
    return strcmp(e, cls) == 0 || (strpbrk(e, "*?[") && fnmatch(e, cls, 0) == 0);
}

/* An entry "!C" excludes C whatever the others say (case_class_check). */
int classify_matches(const json_t *list, const char *cls)
{
    size_t i;
    json_t *v;
    int hit = 0;
    json_array_foreach(list, i, v) {
        const char *e = json_string_value(v);
        if (e != NULL && e[0] == '!' && match_one(e + 1, cls))
            return 0;
        hit |= e != NULL && e[0] != '!' && match_one(e, cls);
    }
    return hit;
}

static int lists(const json_t *list, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) if (json_string_value(v) && !strcmp(json_string_value(v), s))
        return 1;
    return 0;
}

static void join(const json_t *list, char *out, size_t len)
{
    size_t i;
    json_t *v;
    out[0] = '\0';
    json_array_foreach(list, i, v)
        snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? "|" : "",
                 json_string_value(v) ? json_string_value(v) : "?");
}

static int needs_evidence(const char *device_class, const json_t *expected)
{
    /* Expecting the peer untouched ("not-started") is itself the precise claim
     * for setup failures (bad key, missing hostname before wrap). */
    if (lists(json_object_get(expected, "peer"), "not-started"))
        return 0;
    if (strcmp(device_class, "timeout") == 0)
        return 1;
    for (size_t i = 0; k_negative_families[i]; i++)
        if (strncmp(device_class, k_negative_families[i], strlen(k_negative_families[i])) == 0)
            return 1;
    return 0;
}

/* 1 when both sides show the handshake was reached; else why not into why. */
static int handshake_reached(const json_t *reply, const json_t *peer_result, char *why, size_t len)
{
    const char *hs = str(peer_result, "handshake"), *stage = str(reply, "stage");
    int peer_ok = hs != NULL && strcmp(hs, "not-started") != 0;
    int dev_ok = 0;
    for (size_t i = 0; stage != NULL && k_reached_stages[i]; i++)
        dev_ok |= strcmp(stage, k_reached_stages[i]) == 0;
    if (peer_ok && dev_ok)
        return 1;
    snprintf(why, len, "expected failure seen, but no evidence the handshake was reached "
             "(device stage %s, peer handshake %s)", stage ? stage : "none", hs ? hs : "none");
    return 0;
}

static const char *infra_verdict(const char *dc, const char *pc, const json_t *reply,
                                 char *reason, size_t len)
{
    if (dc == NULL || strcmp(dc, "lost") == 0)
        snprintf(reason, len, "device lost: no usable reply");
    else if (strcmp(dc, "bad-request") == 0)
        snprintf(reason, len, "harness error: the agent rejected the request (%s)",
                 str(reply, "error") ? str(reply, "error") : "bad-request");
    else
        snprintf(reason, len, "peer crashed: no result line from tlspeer");
    (void)pc;
    return tm_verdict_name(TM_ERROR);
}

const char *classify_verdict(const json_t *expected, const char *device_class,
                             const char *peer_class, const json_t *reply,
                             const json_t *peer_result, const json_t *xfail,
                             char *reason, size_t reason_len)
{
    char ed[256], ep[256], line[700];
    if (case_class_is_infra(device_class) || peer_class == NULL || !strcmp(peer_class, "crashed"))
        return infra_verdict(device_class, peer_class, reply, reason, reason_len);
    const json_t *xd = json_object_get(expected, "device"), *xp = json_object_get(expected, "peer");
    int dm = classify_matches(xd, device_class), pm = classify_matches(xp, peer_class);
    int ok = dm && pm;
    join(xd, ed, sizeof ed);
    join(xp, ep, sizeof ep);
    if (ok && needs_evidence(device_class, expected))
        ok = handshake_reached(reply, peer_result, line, sizeof line);
    if (ok)   /* also after handshake_reached() said yes: it writes only the "why not" */
        snprintf(line, sizeof line, "device %s, peer %s, as expected", device_class, peer_class);
    else if (!dm || !pm)
        snprintf(line, sizeof line, "device %s%s%s%s; peer %s%s%s%s", device_class,
                 dm ? "" : " (expected ", dm ? "" : ed, dm ? "" : ")", peer_class,
                 pm ? "" : " (expected ", pm ? "" : ep, pm ? "" : ")");
    const char *xr = str(xfail, "reason");
    if (xfail != NULL && ok) {
        snprintf(reason, reason_len, "passed although the profile expects a failure (%s): %s",
                 xr ? xr : "no reason given", line);
        return tm_verdict_name(TM_XPASS);
    }
    if (xfail != NULL) {
        snprintf(reason, reason_len, "known failure (%s): %s", xr ? xr : "no reason given", line);
        return tm_verdict_name(TM_XFAIL);
    }
    snprintf(reason, reason_len, "%s", line);
    return tm_verdict_name(ok ? TM_PASS : TM_FAIL);
}
