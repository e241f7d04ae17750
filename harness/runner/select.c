/* Which cases a run executes, and the fixtures they need. */
#include "runner_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "scenario/scenario.h"
#include "tm_fs.h"
#include "tm_proc.h"

#define PKIGEN_MS 180000

json_t *runner_select_cases(const struct runner_opts *o, json_t **errors, struct tm_err *err)
{
    char dflt[1024];
    const char *const *paths = o->scenarios;
    size_t n = o->nscenarios;
    const char *one[1];
    json_t *cases;
    *errors = json_array();
    if (o->cases != NULL) {
        cases = json_deep_copy(o->cases);
    } else {
        if (n == 0) {
            snprintf(dflt, sizeof dflt, "%s/scenarios", TM_SOURCE_DIR);
            one[0] = dflt;
            paths = one;
            n = 1;
        }
        json_t *sc = scenario_load_all(paths, n, *errors);
        if (sc == NULL) {
            tm_err_set(err, "no scenarios loaded");
            return NULL;
        }
        cases = scenario_expand(sc, err);
        json_decref(sc);
        if (cases == NULL)
            return NULL;
    }
    json_t *out = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *id = json_string_value(json_object_get(c, "id"));
        if (id == NULL || !scenario_filter_match(o->filter, id))
            continue;
        if (o->shard_n > 1 && !scenario_in_shard(id, o->shard_k, o->shard_n))
            continue;
        json_array_append(out, c);
    }
    json_decref(cases);
    scenario_order(out, o->seed);
    return out;
}

json_t *runner_fixtures(const char *dir, struct tm_err *err)
{
    char manifest[1200];
    struct stat st;
    snprintf(manifest, sizeof manifest, "%s/manifest.json", dir);
    if (stat(manifest, &st) != 0) {
        char prog[1100], desc[1100], cache[1200];
        snprintf(prog, sizeof prog, "%s/pkigen", TM_BIN_DIR);
        snprintf(desc, sizeof desc, "%s/fixtures/certs/pki.yaml", TM_SOURCE_DIR);
        /* Keys are the slow part; keep them beside the fixtures like the build does. */
        snprintf(cache, sizeof cache, "%s/../key-cache", dir);
        char *argv[] = { prog, "--desc", desc, "--out", (char *)dir, "--key-cache", cache, NULL };
        struct tm_proc p;
        if (tm_mkdirs(dir, 0755, err) != 0 || tm_proc_spawn(&p, argv, NULL, err) != 0)
            return tm_err_prefix(err, "fixtures %s missing and pkigen failed", dir), NULL;
        int hung = tm_proc_wait(&p, tm_deadline_in(PKIGEN_MS));
        tm_proc_stop(&p, 200);
        if (hung || tm_proc_exit_code(&p) != 0) {
            tm_err_set(err, "fixtures %s missing; `%s --desc %s --out %s` %s (exit %d)", dir, prog,
                       desc, dir, hung ? "timed out" : "failed", tm_proc_exit_code(&p));
            return NULL;
        }
    }
    json_error_t je;
    json_t *m = json_load_file(manifest, 0, &je);
    if (m == NULL)
        tm_err_set(err, "%s:%d: %s", manifest, je.line, je.text);
    return m;
}
