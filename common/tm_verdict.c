/* The verdict table: one row per verdict, every property a reader needs. */
#include "tm_verdict.h"

#include <string.h>

static const struct {
    const char *name;
    int unexpected;
    int settled;
    int severity;       /* lower is worse */
    const char *junit;
} verdicts[TM_VERDICT_COUNT] = {
    [TM_PASS] = { "pass", 0, 1, 4, NULL },
    [TM_FAIL] = { "fail", 1, 0, 0, "failure" },
    [TM_XFAIL] = { "xfail", 0, 1, 3, "skipped" },
    [TM_XPASS] = { "xpass", 1, 0, 1, "failure" },
    [TM_ERROR] = { "error", 1, 0, 2, "error" },
    [TM_SKIP] = { "skip", 0, 1, 5, "skipped" },
};

static int in_range(int v)
{
    return v >= 0 && v < TM_VERDICT_COUNT;
}

const char *tm_verdict_name(enum tm_verdict v)
{
    return in_range((int)v) ? verdicts[v].name : NULL;
}

int tm_verdict_parse(const char *s)
{
    for (int i = 0; s != NULL && i < TM_VERDICT_COUNT; i++)
        if (strcmp(s, verdicts[i].name) == 0)
            return i;
    return -1;
}

int tm_verdict_unexpected(enum tm_verdict v)
{
    return in_range((int)v) && verdicts[v].unexpected;
}

int tm_verdict_settled(enum tm_verdict v)
{
    return in_range((int)v) && verdicts[v].settled;
}

int tm_verdict_severity(int v)
{
    return in_range(v) ? verdicts[v].severity : TM_VERDICT_COUNT;
}

const char *tm_verdict_junit(enum tm_verdict v)
{
    return in_range((int)v) ? verdicts[v].junit : NULL;
}
