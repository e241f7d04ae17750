/* Run-to-run comparison and shard merging, both keyed on case ids. */
#include "report.h"
#include "report_int.h"

#include <stdio.h>
#include <string.h>

/* Case id -> case object, for lookups in O(1) instead of scanning per case. */
static json_t *index_cases(const json_t *run)
{
    json_t *idx = json_object();
    const json_t *cases = json_object_get(run, "cases");
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *id = rpt_str(c, "id", NULL);
        if (idx != NULL && id != NULL)
            json_object_set(idx, id, c);
    }
    return idx;
}

static void add_item(json_t *diff, const char *kind, const char *id, const char *old_v,
                     const char *new_v)
{
    json_t *item = json_pack("{s:s, s:s?, s:s?}", "id", id, "old", old_v, "new", new_v);
    json_array_append_new(json_object_get(diff, kind), item);
}

/* regression: old in {pass, xfail, skip}, new in {fail, error}; fix: old in {fail,
 * error}, new in {pass, xfail}; new and removed: ids present in only one run;
 * changed: any other verdict change (e.g. xfail -> xpass, pass -> skip). Order
 * follows the new run, then removed cases. */
json_t *report_diff(const json_t *old_run, const json_t *new_run)
{
    json_t *diff = json_pack("{s:[], s:[], s:[], s:[], s:[]}", "regressions", "fixes", "new",
                             "removed", "changed");
    json_t *old_idx = index_cases(old_run), *new_idx = index_cases(new_run);
    if (diff == NULL || old_idx == NULL || new_idx == NULL)
        goto fail;
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(new_run, "cases"), i, c) {
        const char *id = rpt_str(c, "id", NULL);
        if (id == NULL)
            continue;
        const json_t *oc = json_object_get(old_idx, id);
        const char *ov = oc ? rpt_case_verdict(oc) : NULL, *nv = rpt_case_verdict(c);
        const char *kind = rpt_change_kind(ov, nv);
        if (kind == NULL)
            continue;
        add_item(diff, strcmp(kind, "regression") == 0 ? "regressions"
                       : strcmp(kind, "fix") == 0      ? "fixes"
                                                       : kind,
                 id, ov, nv);
    }
    json_array_foreach(json_object_get(old_run, "cases"), i, c) {
        const char *id = rpt_str(c, "id", NULL);
        if (id != NULL && json_object_get(new_idx, id) == NULL)
            add_item(diff, "removed", id, rpt_case_verdict(c), NULL);
    }
    json_decref(old_idx);
    json_decref(new_idx);
    return diff;
fail:
    json_decref(old_idx);
    json_decref(new_idx);
    json_decref(diff);
    return NULL;
}

static void print_section(const json_t *diff, const char *kind, const char *title, FILE *out)
{
    const json_t *items = json_object_get(diff, kind);
    size_t i;
    const json_t *it;
    fprintf(out, "%s: %zu\n", title, json_array_size(items));
    json_array_foreach(items, i, it) {
        fprintf(out, "  %s  %s -> %s\n", rpt_str(it, "id", "?"), rpt_str(it, "old", "(none)"),
                rpt_str(it, "new", "(none)"));
    }
}

int report_print_diff(const json_t *diff, FILE *out)
{
    print_section(diff, "regressions", "Regressions", out);
    print_section(diff, "fixes", "Fixes", out);
    print_section(diff, "new", "New cases", out);
    print_section(diff, "removed", "Removed cases", out);
    print_section(diff, "changed", "Other changes", out);
    return (int)(json_array_size(json_object_get(diff, "regressions"))
                 + json_array_size(json_object_get(diff, "removed")));
}

/* Keep the earliest "started" and latest "finished" (ISO-8601 UTC sorts as text). */
static void widen_times(json_t *header, const json_t *other)
{
    const char *s = rpt_str(other, "started", NULL), *f = rpt_str(other, "finished", NULL);
    const char *ms = rpt_str(header, "started", NULL), *mf = rpt_str(header, "finished", NULL);
    if (s != NULL && (ms == NULL || strcmp(s, ms) < 0))
        json_object_set_new(header, "started", json_string(s));
    if (f != NULL && (mf == NULL || strcmp(f, mf) > 0))
        json_object_set_new(header, "finished", json_string(f));
}

/* Devices of every shard (shards may run on different cameras), each listed once. */
static void add_devices(json_t *devices, const json_t *more)
{
    size_t i, j;
    json_t *d, *e;
    json_array_foreach(more, i, d) {
        int seen = 0;
        json_array_foreach(devices, j, e) seen |= json_equal(d, e);
        if (!seen)
            json_array_append(devices, d);
    }
}

static int merge_cases(json_t *cases, json_t *seen, const json_t *run, size_t shard,
                       struct tm_err *err)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(run, "cases"), i, c) {
        const char *id = rpt_str(c, "id", NULL);
        if (id == NULL)
            return tm_err_set(err, "merge: run %zu: cases[%zu] has no string \"id\"", shard + 1, i);
        const json_t *first = json_object_get(seen, id);
        if (first != NULL)
            return tm_err_set(err, "merge: duplicate case id \"%s\" (in run %lld and run %zu)", id,
                              json_integer_value(first), shard + 1);
        json_object_set_new(seen, id, json_integer((json_int_t)shard + 1));
        json_array_append(cases, c);
    }
    return 0;
}

/* Every run's shard "K/N" with one N, each K from 1 to N exactly once. */
static int check_shards(const json_t *const *runs, size_t n, struct tm_err *err)
{
    int total = 0;
    char seen[1024] = { 0 };
    for (size_t r = 0; r < n; r++) {
        const char *sh = rpt_str(json_object_get(runs[r], "header"), "shard", "?");
        int k, of;
        char tail;
        if (sscanf(sh, "%d/%d%c", &k, &of, &tail) != 2 || of < 1 || k < 1 || k > of
            || of > (int)sizeof seen)
            return tm_err_set(err, "merge: run %zu: shard \"%s\" is not K/N", r + 1, sh);
        if (total == 0)
            total = of;
        if (of != total)
            return tm_err_set(err, "merge: run %zu is shard %s, run 1 is one of %d shards", r + 1,
                              sh, total);
        if (seen[k - 1])
            return tm_err_set(err, "merge: shard %s given twice (runs %d and %zu)", sh,
                              seen[k - 1], r + 1);
        seen[k - 1] = (char)(r + 1 < 127 ? r + 1 : 127);
    }
    for (int k = 0; k < total; k++)
        if (!seen[k])
            return tm_err_set(err, "merge: shard %d/%d is missing: an incomplete set of shards "
                                   "would report a part of the run as the whole", k + 1, total);
    return 0;
}

/* One profile and one selection (same digest) in every run; NULL-safe for runs
 * written before the header had a selection. */
static int check_same(const json_t *const *runs, size_t n, struct tm_err *err)
{
    const json_t *h0 = json_object_get(runs[0], "header");
    const json_t *s0 = json_object_get(h0, "selection");
    for (size_t r = 1; r < n; r++) {
        const json_t *h = json_object_get(runs[r], "header"), *sel = json_object_get(h, "selection");
        const char *p0 = rpt_str(h0, "profile", ""), *p = rpt_str(h, "profile", "");
        if (strcmp(p0, p) != 0)
            return tm_err_set(err, "merge: mixed profiles: run 1 has \"%s\", run %zu \"%s\"", p0,
                              r + 1, p);
        const char *d0 = rpt_str(s0, "digest", ""), *d = rpt_str(sel, "digest", "");
        if (strcmp(d0, d) != 0)
            return tm_err_set(err, "merge: run 1 and run %zu select different cases (another "
                                   "catalog or --filter); shards of one run only", r + 1);
    }
    return 0;
}

json_t *report_merge(const json_t *const *runs, size_t n, struct tm_err *err)
{
    if (n == 0) {
        tm_err_set(err, "merge: no runs given");
        return NULL;
    }
    if (check_shards(runs, n, err) != 0 || check_same(runs, n, err) != 0)
        return NULL;
    json_t *seen = json_object(), *cases = json_array(), *shards = json_array();
    json_t *devices = json_array();
    json_t *header = json_deep_copy(json_object_get(runs[0], "header"));
    json_t *merged = NULL;
    if (header == NULL)
        header = json_object();
    if (seen == NULL || cases == NULL || shards == NULL || devices == NULL || header == NULL) {
        tm_err_set(err, "merge: out of memory");
        goto out;
    }
    for (size_t r = 0; r < n; r++) {
        const json_t *h = json_object_get(runs[r], "header");
        if (merge_cases(cases, seen, runs[r], r, err) != 0)
            goto out;
        json_array_append_new(shards, json_string(rpt_str(h, "shard", "?")));
        add_devices(devices, json_object_get(h, "devices"));
        widen_times(header, h);
    }
    json_object_set(header, "shards", shards);
    json_object_set_new(header, "shard", json_string("merged"));
    json_object_set(header, "devices", devices);
    const json_t *want = json_object_get(json_object_get(header, "selection"), "cases");
    if (json_is_integer(want) && (size_t)json_integer_value(want) != json_array_size(cases)) {
        tm_err_set(err, "merge: the shards hold %zu cases, their selection %lld",
                   json_array_size(cases), (long long)json_integer_value(want));
        goto out;
    }
    merged = json_pack("{s:s, s:O, s:O}", "format", "tlsmatrix-run/1", "header", header, "cases",
                       cases);
    if (merged == NULL)
        tm_err_set(err, "merge: out of memory");
    else
        report_update_totals(merged);
out:
    json_decref(seen);
    json_decref(cases);
    json_decref(shards);
    json_decref(devices);
    json_decref(header);
    return merged;
}
