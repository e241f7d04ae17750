/* Which cases a run executes, and the fixtures they need. */
#include "runner_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "scenario/scenario.h"
#include "tm_fs.h"
#include "tm_proc.h"

#define PKIGEN_MS 180000

static int has_tag(const json_t *tags, const char *const *want, size_t n)
{
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t)
        for (size_t k = 0; k < n; k++)
            if (json_is_string(t) && strcmp(json_string_value(t), want[k]) == 0)
                return 1;
    return 0;
}

int runner_sel_match(const struct runner_sel *sel, const char *id, const char *scenario,
                     const json_t *tags)
{
    if (sel->ntags > 0 && !has_tag(tags, sel->tags, sel->ntags))
        return 0;
    if (has_tag(tags, sel->exclude_tags, sel->nexclude_tags))
        return 0;
    if (sel->nfilters == 0)
        return 1;
    /* A scenario name selects all its cases: `--filter client-chain-ok` needs no
     * glob over the axes' parts of the case id. */
    for (size_t i = 0; i < sel->nfilters; i++)
        if (scenario_filter_match(sel->filters[i], id)
            || (scenario != NULL && scenario_filter_match(sel->filters[i], scenario)))
            return 1;
    return 0;
}

int runner_sel_given(const struct runner_sel *sel)
{
    return sel->nfilters + sel->ntags + sel->nexclude_tags > 0;
}

/* Counts what the selection keeps (s->filtered), for the message of an empty
 * selection, and folds its id into s->digest: the XOR of the ids' SHA-256, the
 * same for every shard of one selection whatever the order (merge checks it). */
static int selected(const struct runner_opts *o, struct case_set *s, const char *id,
                    const char *scenario, const json_t *tags)
{
    if (id == NULL || !runner_sel_match(&o->sel, id, scenario, tags))
        return 0;
    s->filtered++;
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)id, strlen(id), md);
    for (size_t i = 0; i < sizeof md; i++)
        s->digest[i] ^= md[i];
    return o->shard_n <= 1 || scenario_in_shard(id, o->shard_k, o->shard_n);
}

/* Repro: ready-made cases, filtered, sharded and ordered like expanded ones;
 * each must pass the case validator, as expanded ones did. */
static int select_ready(const struct runner_opts *o, struct case_set *s, struct tm_err *err)
{
    s->ready = json_array();
    size_t i;
    json_t *c;
    s->total = json_array_size(o->cases);
    json_array_foreach(o->cases, i, c) {
        struct tm_case typed;
        if (case_build(c, &typed, err) != 0)
            return tm_err_prefix(err, "%s: case %zu", o->cases_file ? o->cases_file : "case", i);
        case_free(&typed);
        if (!selected(o, s, json_string_value(json_object_get(c, "id")),
                      json_string_value(json_object_get(c, "scenario")), json_object_get(c, "tags")))
            continue;
        json_t *copy = json_deep_copy(c);
        if (copy == NULL || json_array_append_new(s->ready, copy) != 0)
            return tm_err_set(err, "out of memory selecting cases");
    }
    scenario_order(s->ready, o->seed);
    s->n = json_array_size(s->ready);
    return 0;
}

/* Fixture names against the fixture set's manifest, when there is one yet (`run`
 * generates a missing set before it selects, so only `list` on a fresh --fixtures
 * directory goes without this check). */
static void check_fixtures(const struct runner_opts *o, const json_t *scenarios, json_t *errors)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/manifest.json",
             o->fixtures_dir ? o->fixtures_dir : TM_FIXTURES_DIR);
    if (access(path, F_OK) != 0)
        return;
    json_error_t je;
    json_t *m = json_load_file(path, 0, &je);
    if (m == NULL)
        json_array_append_new(errors, json_sprintf("%s:%d: %s", path, je.line, je.text));
    else
        scenario_check_fixtures(scenarios, m, path, errors);
    json_decref(m);
}

/* Scenario files: the scenarios stay, each selected case is a reference. */
static int select_refs(const struct runner_opts *o, struct case_set *s, json_t *errors,
                       struct tm_err *err)
{
    char dflt[1024], id[2048];
    const char *const *paths = o->scenarios;
    size_t n = o->nscenarios, all;
    const char *one[1];
    if (n == 0) {
        snprintf(dflt, sizeof dflt, "%s/scenarios", TM_SOURCE_DIR);
        one[0] = dflt;
        paths = one;
        n = 1;
    }
    s->scenarios = scenario_load_all(paths, n, errors);
    if (s->scenarios == NULL)
        return tm_err_set(err, "no scenarios loaded");
    check_fixtures(o, s->scenarios, errors);
    s->refs = scenario_refs(s->scenarios, &all, err);
    if (s->refs == NULL)
        return -1;
    s->total = all;
    for (size_t i = 0; i < all; i++) {   /* compacts in place: order kept */
        const json_t *sc = json_array_get(s->scenarios, s->refs[i].scenario);
        if (selected(o, s, scenario_ref_id(s->scenarios, &s->refs[i], id, sizeof id),
                     json_string_value(json_object_get(sc, "name")), json_object_get(sc, "tags")))
            s->refs[s->n++] = s->refs[i];
    }
    scenario_order_refs(s->refs, s->n, o->seed);
    return 0;
}

int runner_select_set(const struct runner_opts *o, struct case_set *s, json_t **errors,
                      struct tm_err *err)
{
    memset(s, 0, sizeof *s);
    *errors = json_array();
    int rc = o->cases != NULL ? select_ready(o, s, err) : select_refs(o, s, *errors, err);
    if (rc != 0)
        case_set_free(s);
    return rc;
}

static json_t *strings(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

json_t *case_set_selection(const struct case_set *s, const struct runner_sel *sel)
{
    char hex[2 * sizeof s->digest + 1];
    for (size_t i = 0; i < sizeof s->digest; i++)
        snprintf(hex + 2 * i, 3, "%02x", s->digest[i]);
    return json_pack("{s:o, s:o, s:o, s:I, s:s}", "filters", strings(sel->filters, sel->nfilters),
                     "tags", strings(sel->tags, sel->ntags), "exclude_tags",
                     strings(sel->exclude_tags, sel->nexclude_tags), "cases",
                     (json_int_t)s->filtered, "digest", hex);
}

json_t *case_set_get(const struct case_set *s, size_t i)
{
    if (i >= s->n)
        return NULL;
    if (s->ready != NULL)
        return json_incref(json_array_get(s->ready, i));
    return scenario_ref_case(s->scenarios, &s->refs[i]);
}

void case_set_free(struct case_set *s)
{
    json_decref(s->scenarios);
    json_decref(s->ready);
    free(s->refs);
    memset(s, 0, sizeof *s);
}

json_t *runner_select_cases(const struct runner_opts *o, json_t **errors, struct tm_err *err)
{
    struct case_set s;
    if (runner_select_set(o, &s, errors, err) != 0)
        return NULL;
    /* The same check as run's: a selection that selects nothing is a mistake in
     * the command for every command (scenario file errors are reported first). */
    if (json_array_size(*errors) == 0 && preflight_selection(o, &s, err) != 0) {
        case_set_free(&s);
        return NULL;
    }
    json_t *out = json_array();
    for (size_t i = 0; out != NULL && i < s.n; i++) {
        json_t *c = case_set_get(&s, i);
        if (c == NULL || json_array_append_new(out, c) != 0) {
            json_decref(out);
            out = NULL;
        }
    }
    case_set_free(&s);
    if (out == NULL)
        tm_err_set(err, "out of memory selecting cases");
    return out;
}

json_t *runner_fixtures(const char *dir, struct tm_err *err)
{
    char cache[1200];
    /* Keys are the slow part; keep them beside the fixtures like the build does. */
    snprintf(cache, sizeof cache, "%s/../key-cache", dir);
    return runner_fixtures_at(dir, NULL, cache, err);
}

json_t *runner_fixtures_at(const char *dir, const char *ref_time, const char *cache,
                           struct tm_err *err)
{
    char manifest[1200];
    struct stat st;
    snprintf(manifest, sizeof manifest, "%s/manifest.json", dir);
    if (stat(manifest, &st) != 0) {
        char prog[1100], desc[1100];
        snprintf(prog, sizeof prog, "%s/pkigen", TM_BIN_DIR);
        snprintf(desc, sizeof desc, "%s/fixtures/certs/pki.yaml", TM_SOURCE_DIR);
        char *argv[] = { prog, "--desc", desc, "--out", (char *)dir, "--key-cache", (char *)cache,
                         ref_time ? "--ref-time" : NULL, (char *)ref_time, NULL };
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
