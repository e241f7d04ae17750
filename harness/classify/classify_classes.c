/* The outcome-class vocabulary of docs/contracts.md §5, used to check scenario
 * expectations at load time. */
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "classify_internal.h"
#include "scenario/scenario_internal.h"

static const char *const device_exact[] = { "ok", "hello-verify-retry", "timeout",
                                            "unsupported", NULL };
static const char *const peer_exact[] = { "ok", "closed", "timeout", "not-started", NULL };
static const char *const device_families[] = { "verify-failed:", "error:", "errno:", NULL };
static const char *const peer_families[] = { "alert-sent:", "alert-received:", "error:", NULL };
static const char *const verify_reasons[] = { "expired", "hostname", "untrusted", "future",
                                              "key-usage", "ext-key-usage", "bad-hash",
                                              "bad-pk", "bad-key", "other", NULL };
static const char *const infra[] = { "lost", "crashed", "bad-request", NULL };

static int in(const char *const *list, const char *s, size_t n)
{
    for (size_t i = 0; list[i]; i++)
        if (n == (size_t)-1 ? strcmp(list[i], s) == 0 : (strlen(list[i]) == n && !strncmp(list[i], s, n)))
            return 1;
    return 0;
}

int classify_is_infra(const char *cls)
{
    return cls == NULL || in(infra, cls, (size_t)-1);
}

static const char *family_of(const char *const *fams, const char *cls)
{
    for (size_t i = 0; fams[i]; i++)
        if (strncmp(cls, fams[i], strlen(fams[i])) == 0)
            return fams[i];
    return NULL;
}

static int verify_reasons_ok(const char *r, char *why, size_t len)
{
    while (*r) {
        size_t n = strcspn(r, "+");
        if (!in(verify_reasons, r, n)) {
            snprintf(why, len, "unknown verify reason '%.*s' (expired, hostname, untrusted, "
                     "future, key-usage, ext-key-usage, bad-hash, bad-pk, bad-key, other)", (int)n, r);
            return -1;
        }
        r += n + (r[n] == '+');
    }
    return 0;
}

int judge_class_check(const char *side, const char *cls, char *why, size_t why_len)
{
    int dev = strcmp(side, "device") == 0;
    const char *const *exact = dev ? device_exact : peer_exact;
    const char *const *fams = dev ? device_families : peer_families;
    if (cls == NULL || *cls == '\0')
        return snprintf(why, why_len, "empty class"), -1;
    if (in(infra, cls, (size_t)-1))
        return snprintf(why, why_len, "'%s' is an infrastructure outcome, never expected", cls), -1;
    int glob = strpbrk(cls, "*?[") != NULL;
    if (strcmp(cls, "*") == 0 || in(exact, cls, (size_t)-1))
        return 0;
    const char *fam = family_of(fams, cls);
    if (fam == NULL || cls[strlen(fam)] == '\0') {
        snprintf(why, why_len, "not a %s class (%s, %s or %s…, %s…, %s…)", side, exact[0],
                 exact[1], fams[0], fams[1], fams[2]);
        return -1;
    }
    if (!glob && strcmp(fam, "verify-failed:") == 0)
        return verify_reasons_ok(cls + strlen(fam), why, why_len);
    return 0;
}
