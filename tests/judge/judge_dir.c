#include "judge_dir.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tm_fs.h"

static char g_dir[256];

void jd_setup(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/tm-judge-XXXXXX", t && *t ? t : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
}

void jd_teardown(void)
{
    struct tm_err err;
    if (tm_rmtree(g_dir, &err) != 0)
        fprintf(stderr, "could not remove %s: %s\n", g_dir, err.msg);
}

const char *jd_dir(void)
{
    return g_dir;
}

const char *jd_subdir(const char *sub)
{
    static char d[400];
    snprintf(d, sizeof d, "%s/%s", g_dir, sub);
    ck_assert_int_eq(tm_mkdirs(d, 0755, NULL), 0);
    return d;
}

const char *jd_put_len(const char *sub, const char *name, const char *text, size_t len)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", jd_subdir(sub), name);
    ck_assert_int_eq(tm_write_file(path, text, len, 0644, NULL), 0);
    return path;
}

const char *jd_put(const char *sub, const char *name, const char *text)
{
    return jd_put_len(sub, name, text, strlen(text));
}
