#include "harness_kit.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tm_fs.h"

int hk_skip_unless_built(void)
{
    static const char *const need[] = { TM_BIN_DIR "/tlsmatrix", TM_BIN_DIR "/vcam",
                                        TM_BIN_DIR "/tlspeer", TM_BIN_DIR "/pkigen" };
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (access(need[i], X_OK) != 0) {
            fprintf(stderr, "skip: %s not built\n", need[i]);
            return 77;
        }
    return 0;
}

void hk_dir_make(char *dir, size_t len, const char *name)
{
    const char *t = getenv("TMPDIR");
    snprintf(dir, len, "%s/tm-%s-XXXXXX", t && *t ? t : "/tmp", name);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

void hk_dir_remove(const char *dir)
{
    struct tm_err err;
    if (tm_rmtree(dir, &err) != 0)
        fprintf(stderr, "could not remove %s: %s\n", dir, err.msg);
}
