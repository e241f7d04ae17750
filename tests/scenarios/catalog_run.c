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
    struct tm_err err = { 0 };
    tm_ms t0 = tm_now_ms();
    int rc = tm_proc_run(argv, out_path, tm_deadline_in(limit_s * 1000), &err);
    if (took != NULL)
        *took = tm_now_ms() - t0;
    ck_assert_msg(err.code != TM_E_TIMEOUT, "%s %s did not finish within %d s", argv[0], argv[1],
                  limit_s);
    ck_assert_msg(rc >= 0, "%s", err.msg);
    return rc;
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
