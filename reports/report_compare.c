/* `tlsmatrix compare`: several runs side by side (firmware A against B, a week of
 * nightlies), case by case: compare.html (one self-contained page, a column group
 * per run, changed cells highlighted) and compare.md (one table for a merge
 * request). The first run is the reference: a later run regresses where
 * report_diff(first, later) finds a regression or a vanished case. */
#include "report.h"
#include "report_int.h"

#include <libxml/HTMLtree.h>
#include <stdlib.h>
#include <string.h>

#include "tm_fs.h"

/* Case id -> case of one run. */
static json_t *by_id(const json_t *run)
{
    json_t *idx = json_object();
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(run, "cases"), i, c)
        if (idx != NULL && rpt_str(c, "id", NULL) != NULL)
            json_object_set(idx, rpt_str(c, "id", ""), c);
    return idx;
}

/* "micropython 1.25.0 on BOARD (build), 2026-11-24T10:00:00Z" for a run's label. */
static json_t *run_label(const json_t *run)
{
    const json_t *h = json_object_get(run, "header");
    const json_t *dev = json_array_get(json_object_get(h, "devices"), 0);
    char *fw = rpt_device_firmware(dev);
    json_t *l = json_sprintf("%s (%s), %s", fw ? fw : "?",
                             rpt_str(json_object_get(json_object_get(dev, "hello"), "uname"),
                                     "version", "build ?"),
                             rpt_str(h, "started", "?"));
    free(fw);
    return l;
}

/* One entry per run: name, label, totals, and its regressions against run 1. */
static json_t *runs_entry(const json_t *first, const json_t *run, const char *name, size_t k)
{
    struct rpt_counts n;
    rpt_count(run, &n);
    json_t *totals = json_object();
    for (int v = 0; v < RPT_NVERDICTS; v++)
        json_object_set_new(totals, tm_verdict_name(v), json_integer(n.n[v]));
    json_t *regressions = json_array();
    if (k > 0) {
        json_t *d = report_diff(first, run);
        json_array_extend(regressions, json_object_get(d, "regressions"));
        json_array_extend(regressions, json_object_get(d, "removed"));
        json_decref(d);
    }
    return json_pack("{s:s, s:o, s:o, s:o}", "name", name, "label", run_label(run), "totals",
                     totals, "regressions", regressions);
}

json_t *report_compare(const json_t *const *runs, const char *const *names, size_t n)
{
    json_t *out = json_pack("{s:[], s:[]}", "runs", "cases"), *seen = json_object();
    json_t **idx = calloc(n ? n : 1, sizeof *idx);
    for (size_t k = 0; out != NULL && idx != NULL && k < n; k++) {
        idx[k] = by_id(runs[k]);
        json_array_append_new(json_object_get(out, "runs"), runs_entry(runs[0], runs[k], names[k], k));
    }
    /* Rows: every case id of any run, in the order the runs list them. */
    for (size_t k = 0; out != NULL && idx != NULL && k < n; k++) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(runs[k], "cases"), i, c) {
            const char *id = rpt_str(c, "id", NULL);
            if (id == NULL || json_object_get(seen, id) != NULL)
                continue;
            json_object_set_new(seen, id, json_true());
            json_t *cells = json_array();
            const char *v0 = NULL;
            int changed = 0;
            for (size_t r = 0; r < n; r++) {
                const json_t *rc = json_object_get(idx[r], id);
                const char *v = rc ? rpt_case_verdict(rc) : NULL;
                if (r == 0)
                    v0 = v;
                /* Against run 1: a case a later run lacks is "removed" (a regression,
                 * as for diff); one run 1 lacks is "new". */
                const char *change = r == 0 ? NULL : v == NULL ? (v0 ? "removed" : NULL)
                                                   : rpt_change_kind(v0, v);
                changed |= change != NULL;
                json_array_append_new(cells, json_pack("{s:s?, s:s?, s:s?}", "verdict", v,
                                                       "reason", rc ? rpt_str(rc, "reason", "") : NULL,
                                                       "change", change));
            }
            json_array_append_new(json_object_get(out, "cases"),
                                  json_pack("{s:s, s:b, s:o}", "id", id, "changed", changed,
                                            "cells", cells));
        }
    }
    for (size_t k = 0; idx != NULL && k < n; k++)
        json_decref(idx[k]);
    free(idx);
    json_decref(seen);
    return out;
}

size_t report_compare_regressions(const json_t *cmp)
{
    size_t i, total = 0;
    const json_t *r;
    json_array_foreach(json_object_get(cmp, "runs"), i, r)
        total += json_array_size(json_object_get(r, "regressions"));
    return total;
}

/* ---- compare.html ---- */

static const char compare_css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}"
    "h1{font-size:1.5em}h2{font-size:1.2em;margin:1.2em 0 .4em}"
    "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.2em .5em}"
    "th{background:#f3f3f3}td.id{font-family:monospace}"
    ".banner{font-size:1.3em;font-weight:700;padding:.6em .8em;color:#fff}"
    ".banner.ok{background:#15803d}.banner.bad{background:#b91c1c}"
    ".v-pass{background:#c8f0c8}.v-fail{background:#f7b5b5}.v-error{background:#e58a8a}"
    ".v-xfail{background:#f4e6a8}.v-xpass{background:#f3c27a}.v-skip{background:#ddd}"
    "td.changed{outline:3px solid #0057b7;font-weight:700}td.regression{outline-color:#b91c1c}"
    "colgroup.run{border-left:3px solid #555}";

static const char *verdict_or_dash(const json_t *cell)
{
    return rpt_str(cell, "verdict", "—");
}

static void html_runs(xmlNodePtr body, const json_t *cmp)
{
    size_t i, k;
    const json_t *r;
    xmlNodePtr t = rpt_el(body, "table", NULL), tr = rpt_el(t, "tr", NULL);
    rpt_attr(t, "id", "runs");
    rpt_el(tr, "th", "run");
    rpt_el(tr, "th", "firmware, build, started");
    for (int v = 0; v < RPT_NVERDICTS; v++)
        rpt_el(tr, "th", tm_verdict_name(v));
    rpt_el(tr, "th", "regressions vs run 1");
    json_array_foreach(json_object_get(cmp, "runs"), i, r) {
        char buf[32];
        tr = rpt_el(t, "tr", NULL);
        rpt_el(tr, "td", rpt_str(r, "name", "?"));
        rpt_el(tr, "td", rpt_str(r, "label", "?"));
        for (int v = 0; v < RPT_NVERDICTS; v++) {
            snprintf(buf, sizeof buf, "%lld", (long long)rpt_num(json_object_get(r, "totals"),
                                                                 tm_verdict_name(v), 0));
            rpt_el(tr, "td", buf);
        }
        k = json_array_size(json_object_get(r, "regressions"));
        snprintf(buf, sizeof buf, "%zu", k);
        xmlNodePtr td = rpt_el(tr, "td", i == 0 ? "(reference)" : buf);
        if (k > 0)
            rpt_attr(td, "class", "v-fail");
    }
}

static void html_cases(xmlNodePtr body, const json_t *cmp)
{
    const json_t *runs = json_object_get(cmp, "runs"), *r, *c;
    size_t i, k;
    xmlNodePtr t = rpt_el(body, "table", NULL);
    rpt_attr(t, "id", "compare");
    rpt_el(t, "col", NULL);
    json_array_foreach(runs, k, r)
        rpt_attr(rpt_el(t, "colgroup", NULL), "class", "run");
    xmlNodePtr tr = rpt_el(rpt_el(t, "thead", NULL), "tr", NULL);
    rpt_el(tr, "th", "case");
    json_array_foreach(runs, k, r)
        rpt_attr(rpt_el(tr, "th", rpt_str(r, "name", "?")), "title", rpt_str(r, "label", ""));
    xmlNodePtr tb = rpt_el(t, "tbody", NULL);
    json_array_foreach(json_object_get(cmp, "cases"), i, c) {
        const json_t *cell;
        tr = rpt_el(tb, "tr", NULL);
        if (json_is_true(json_object_get(c, "changed")))
            rpt_attr(tr, "data-changed", "");
        rpt_attr(rpt_el(tr, "td", rpt_str(c, "id", "?")), "class", "id");
        json_array_foreach(json_object_get(c, "cells"), k, cell) {
            const char *v = verdict_or_dash(cell), *change = rpt_str(cell, "change", NULL);
            char cls[96];
            snprintf(cls, sizeof cls, "v-%s%s%s", v, change ? " changed " : "",
                     change ? change : "");
            xmlNodePtr td = rpt_el(tr, "td", v);
            rpt_attr(td, "class", cls);
            rpt_attr(td, "title", rpt_str(cell, "reason", ""));
        }
    }
}

static int write_html(const json_t *cmp, const char *path, struct tm_err *err)
{
    char line[160], tmp[4200];
    size_t bad = report_compare_regressions(cmp);
    xmlDocPtr doc = NULL;
    xmlNodePtr body = rpt_html_page(&doc, "tlsmatrix compare", compare_css);
    if (body == NULL) {
        xmlFreeDoc(doc);
        return tm_err_set(err, "%s: out of memory", path);
    }
    if (bad > 0)
        snprintf(line, sizeof line, "REGRESSED: %zu regression%s in later runs against run 1", bad,
                 bad > 1 ? "s" : "");
    else
        snprintf(line, sizeof line, "No regression against run 1");
    xmlNodePtr banner = rpt_el(body, "div", line);
    rpt_attr(banner, "id", "verdict");
    rpt_attr(banner, "class", bad ? "banner bad" : "banner ok");
    rpt_el(body, "h2", "Runs");
    html_runs(body, cmp);
    rpt_el(body, "h2", "Cases");
    rpt_el(body, "p", "A highlighted cell differs from run 1 (red outline: a regression); "
                      "hover a cell for the case's reason.");
    html_cases(body, cmp);
    FILE *f = rpt_out_open(path, tmp, sizeof tmp, err);
    int rc = -1;
    if (f != NULL) {
        int failed = htmlDocDump(f, doc) < 0;
        if (failed)
            tm_err_set(err, "%s: libxml2 could not serialise the page", path);
        rc = rpt_out_close(f, tmp, path, failed, err);
    }
    xmlFreeDoc(doc);
    return rc;
}

/* ---- compare.md ---- */

static void md_row(FILE *out, const json_t *c)
{
    size_t k;
    const json_t *cell;
    fputs("| ", out);
    rpt_md_text(out, rpt_str(c, "id", "?"));
    fputs(" |", out);
    json_array_foreach(json_object_get(c, "cells"), k, cell) {
        const char *change = rpt_str(cell, "change", NULL);
        fprintf(out, change ? " **%s** (%s) |" : " %s |", verdict_or_dash(cell),
                change ? change : "");
    }
    fputc('\n', out);
}

static void md_table(FILE *out, const json_t *cmp, int changed_only)
{
    size_t i, k;
    const json_t *r, *c;
    fputs("| case |", out);
    json_array_foreach(json_object_get(cmp, "runs"), k, r) {
        fputc(' ', out);
        rpt_md_text(out, rpt_str(r, "name", "?"));
        fputs(" |", out);
    }
    fputs("\n|---|", out);
    json_array_foreach(json_object_get(cmp, "runs"), k, r)
        fputs(":---:|", out);
    fputc('\n', out);
    json_array_foreach(json_object_get(cmp, "cases"), i, c)
        if (!changed_only || json_is_true(json_object_get(c, "changed")))
            md_row(out, c);
    fputc('\n', out);
}

static int write_md(const json_t *cmp, const char *path, struct tm_err *err)
{
    char tmp[4200];
    size_t i, changed = 0, bad = report_compare_regressions(cmp);
    const json_t *r, *c;
    FILE *out = rpt_out_open(path, tmp, sizeof tmp, err);
    if (out == NULL)
        return -1;
    json_array_foreach(json_object_get(cmp, "cases"), i, c)
        changed += json_is_true(json_object_get(c, "changed"));
    fprintf(out, "# tlsmatrix compare\n\n**%s %zu regression%s in later runs against run 1; "
                 "%zu of %zu cases changed**\n\n| run | firmware, build, started |",
            bad ? "❌" : "✅", bad, bad == 1 ? "" : "s", changed,
            json_array_size(json_object_get(cmp, "cases")));
    for (int v = 0; v < RPT_NVERDICTS; v++)
        fprintf(out, " %s |", tm_verdict_name(v));
    fputs(" regressions |\n|---|---|", out);
    for (int v = 0; v <= RPT_NVERDICTS; v++)
        fputs("---:|", out);
    fputc('\n', out);
    json_array_foreach(json_object_get(cmp, "runs"), i, r) {
        fputs("| ", out);
        rpt_md_text(out, rpt_str(r, "name", "?"));
        fputs(" | ", out);
        rpt_md_text(out, rpt_str(r, "label", "?"));
        fputs(" |", out);
        for (int v = 0; v < RPT_NVERDICTS; v++)
            fprintf(out, " %lld |", (long long)rpt_num(json_object_get(r, "totals"),
                                                      tm_verdict_name(v), 0));
        fprintf(out, i ? " %zu |\n" : " (reference) |\n",
                json_array_size(json_object_get(r, "regressions")));
    }
    fprintf(out, "\n## Changed cases: %zu\n\n", changed);
    if (changed)
        md_table(out, cmp, 1);
    fprintf(out, "<details><summary>All %zu cases</summary>\n\n",
            json_array_size(json_object_get(cmp, "cases")));
    md_table(out, cmp, 0);
    fputs("</details>\n", out);
    return rpt_out_close(out, tmp, path, 0, err);
}

int report_write_compare(const json_t *cmp, const char *dir, struct tm_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/compare.html", dir);
    if (write_html(cmp, path, err) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/compare.md", dir);
    return write_md(cmp, path, err);
}
