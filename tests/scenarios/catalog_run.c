#include "catalog_run.h"

#include <check.h>
#include <fnmatch.h>
#include <jansson.h>
#include <stdio.h>
#include <unistd.h>

#include "scenario/scenario.h"
#include "tm_proc.h"

int catalog_run_tool(char *const argv[], const char *out_path, int limit_s, int64_t *took)
{
    struct tm_proc p;
    struct tm_err err = { 0 };
    tm_ms t0 = tm_now_ms();
    ck_assert_msg(tm_proc_spawn(&p, argv, out_path, &err) == 0, "%s", err.msg);
    FILE *f = fopen(out_path, "a");
    ck_assert_ptr_nonnull(f);
    char buf[4096];
    ssize_t r;
    while (tm_proc_wait(&p, tm_deadline_in(100)) != 0 && tm_now_ms() - t0 < limit_s * 1000)
        while ((r = read(p.out_fd, buf, sizeof buf)) > 0)
            fwrite(buf, 1, (size_t)r, f);
    while ((r = read(p.out_fd, buf, sizeof buf)) > 0)
        fwrite(buf, 1, (size_t)r, f);
    fclose(f);
    int hung = !p.exited;
    tm_proc_stop(&p, 500);
    if (took != NULL)
        *took = tm_now_ms() - t0;
    ck_assert_msg(!hung, "%s %s did not finish within %d s", argv[0], argv[1], limit_s);
    return tm_proc_exit_code(&p);
}

size_t catalog_run_case_count_of(const char *glob)
{
    const char *paths[] = { TM_SOURCE_DIR "/scenarios" };
    json_t *errors = json_array(), *sc = scenario_load_all(paths, 1, errors);
    struct tm_err err = { 0 };
    ck_assert_uint_eq(json_array_size(errors), 0);
    json_t *cases = scenario_expand(sc, &err);
    ck_assert_msg(cases != NULL, "%s", err.msg);
    size_t i, n = 0;
    json_t *c;
    json_array_foreach(cases, i, c)
        n += fnmatch(glob, json_string_value(json_object_get(c, "id")) ?: "", 0) == 0;
    json_decref(cases);
    json_decref(sc);
    json_decref(errors);
    return n;
}

size_t catalog_run_case_count(void)
{
    return catalog_run_case_count_of("*");
}
