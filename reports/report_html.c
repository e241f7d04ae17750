/* matrix.html: one self-contained page (inline CSS and a small inline script, no
 * external resources), built as a libxml2 HTML tree so that every device string is
 * a text node or attribute value escaped by the serializer; nothing is pasted.
 * The page is written piecewise (skeleton, then one matrix row and one case at a
 * time, each a small tree serialised and freed) so memory stays flat with the
 * number of cases.
 *
 * Order (a sign-off reads top down): the verdict banner, totals, devices
 * (firmware and identity), versions, the unexpected results with their reasons,
 * the matrix (a "failures only" toggle and a scenario filter box), then one
 * <details> per case with links to its bundle files; transcripts and raw replies
 * only for unexpected cases (the others' are in their bundle), which keeps the
 * page light.
 *
 * Page hooks (tests and people rely on them):
 *  - banner: <div id="verdict" class="banner ok|bad">;
 *  - matrix row: <tr data-scenario="NAME" [data-bad]> (data-bad: an unexpected cell);
 *  - controls: <input id="failures-only" type=checkbox>, <input id="filter">;
 *  - bundle links: <a class="bundle" data-file="serial.log|peer.log|replay.sh|case.json">;
 *  - matrix cell: <td class="cell v-<verdict>" id="cell-<anchor>" data-case="<anchor>">
 *  - case details: <details id="case-<anchor>">, opened by a click on its cell;
 *  - URL hash "#open=<anchor>" clicks that cell on load (same handler) and on a
 *    hash change (the links of the unexpected results);
 *  anchor = rpt_anchor(case id). */
#include "report.h"
#include "report_int.h"

#include <libxml/HTMLtree.h>
#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>

#include "tm_fs.h"

/* Placeholders in the page skeleton where rows and cases are streamed. */
#define ROWS_MARK "tm-matrix-rows"
#define CASES_MARK "tm-cases"

static const char page_css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}"
    "h1{font-size:1.5em;margin:0 0 .3em}h2{font-size:1.2em;margin:1.2em 0 .4em}"
    "dl.meta{display:grid;grid-template-columns:max-content auto;gap:.1em 1em;margin:0}"
    "dl.meta dt{font-weight:600}dl.meta dd{margin:0}"
    "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.25em .5em}"
    ".banner{font-size:1.3em;font-weight:700;padding:.6em .8em;margin:.4em 0 1em;color:#fff}"
    ".banner.ok{background:#15803d}.banner.bad{background:#b91c1c}"
    ".controls{margin:.4em 0}.controls input[type=search]{margin-left:1em;min-width:16em}"
    "table.dev{margin-bottom:.8em}table.dev td,table.unexpected td{vertical-align:top}"
    "a.bundle{margin-right:.8em}"
    "table.matrix th{background:#f3f3f3;font-weight:600}"
    "table.matrix th.scen{text-align:left}"
    "td.cell{cursor:pointer;text-align:center;white-space:nowrap}"
    "td.cell:hover,td.cell:focus{outline:2px solid #333}"
    "td.empty{background:#fafafa;color:#bbb;text-align:center}"
    ".v-pass{background:#c8f0c8}.v-fail{background:#f7b5b5}.v-error{background:#e58a8a}"
    ".v-xfail{background:#f4e6a8}.v-xpass{background:#f3c27a}.v-skip{background:#ddd}"
    "td.selected{outline:3px solid #0057b7}"
    ".insecure{color:#9a3412;font-weight:600;font-size:.85em}"
    "tr.insecure-row th.scen{border-left:4px solid #ea580c}"
    ".regression{color:#b91c1c;font-weight:700}.fix{color:#15803d;font-weight:700}"
    "details.case{border:1px solid #ccc;margin:.3em 0;padding:.3em .6em}"
    "details.case[open]{border-color:#0057b7;box-shadow:0 0 0 2px #cfe0f6}"
    "details.case summary{cursor:pointer;font-weight:600}"
    "table.steps td,table.steps th{font-size:.9em;padding:.1em .4em}"
    "svg.sparkline{vertical-align:middle;margin-left:.5em}"
    "pre{background:#f7f7f7;padding:.4em;overflow:auto;max-height:24em;white-space:pre-wrap}"
    "table.kv th{text-align:left;vertical-align:top;background:#f7f7f7}";

/* Delegated click handler on the matrix; the hash hook reuses it via cell.click(). */
static const char page_js[] =
    "(function(){\n"
    "function openCase(a){var d=document.getElementById('case-'+a);if(!d)return false;\n"
    " d.open=true;var s=document.querySelectorAll('td.selected');\n"
    " for(var i=0;i<s.length;i++)s[i].classList.remove('selected');\n"
    " var c=document.getElementById('cell-'+a);if(c)c.classList.add('selected');\n"
    " d.scrollIntoView({block:'start'});return true;}\n"
    "var m=document.getElementById('matrix');\n"
    "m.addEventListener('click',function(e){var td=e.target.closest('td[data-case]');\n"
    " if(!td)return;if(openCase(td.dataset.case)&&history.replaceState)\n"
    "  history.replaceState(null,'','#open='+td.dataset.case);});\n"
    "m.addEventListener('keydown',function(e){if(e.key!=='Enter'&&e.key!==' ')return;\n"
    " var td=e.target.closest('td[data-case]');if(td){e.preventDefault();td.click();}});\n"
    "function fromHash(){var h=/^#open=(.+)$/.exec(location.hash);if(!h)return;\n"
    " var c=document.getElementById('cell-'+decodeURIComponent(h[1]));\n"
    " if(c)c.click();else openCase(decodeURIComponent(h[1]));}\n"
    "fromHash();window.addEventListener('hashchange',fromHash);\n"
    "var fo=document.getElementById('failures-only'),fb=document.getElementById('filter');\n"
    "function apply(){var q=fb.value.toLowerCase(),r=m.tBodies[0].rows;\n"
    " for(var i=0;i<r.length;i++)r[i].hidden=(fo.checked&&!r[i].hasAttribute('data-bad'))||\n"
    "  (q!==''&&r[i].dataset.scenario.toLowerCase().indexOf(q)<0);}\n"
    "fo.addEventListener('change',apply);fb.addEventListener('input',apply);apply();\n"
    "})();\n";

static const char *verdict_mark(const char *v)
{
    static const char *const marks[RPT_NVERDICTS] = {"✓ pass", "✗ fail", "◐ xfail",
                                                      "! xpass", "⚠ error", "– skip"};
    int i = rpt_verdict_index(v);
    return i >= 0 ? marks[i] : v;
}

static void kv(xmlNodePtr dl, const char *k, const char *v)
{
    rpt_el(dl, "dt", k);
    rpt_el(dl, "dd", v);
}

/* Green when every case met its expectation and at least one ran, else red. */
static void put_banner(xmlNodePtr body, const struct rpt_counts *n)
{
    char line[256];
    xmlNodePtr div = rpt_el(body, "div", rpt_verdict_line(n, line, sizeof line));
    rpt_attr(div, "id", "verdict");
    rpt_attr(div, "class", rpt_counts_ok(n) ? "banner ok" : "banner bad");
}

static void put_totals(xmlNodePtr body, const struct rpt_counts *n)
{
    char buf[32];
    xmlNodePtr t = rpt_el(body, "table", NULL), hr = rpt_el(t, "tr", NULL), dr = rpt_el(t, "tr", NULL);
    rpt_attr(t, "id", "totals");
    rpt_el(hr, "th", "cases");
    snprintf(buf, sizeof buf, "%lld", n->total);
    rpt_el(dr, "td", buf);
    for (int v = 0; v < RPT_NVERDICTS; v++) {
        rpt_el(hr, "th", tm_verdict_name(v));
        snprintf(buf, sizeof buf, "%lld", n->n[v]);
        xmlNodePtr td = rpt_el(dr, "td", buf);
        snprintf(buf, sizeof buf, "v-%s", tm_verdict_name(v));
        if (n->n[v] != 0)   /* "0 error" in red would read as a failure */
            rpt_attr(td, "class", buf);
        rpt_attr(td, "data-verdict", tm_verdict_name(v));
    }
}

/* One row per device: what ran the cases, labelled, and how to find that board again. */
static void put_devices(xmlNodePtr body, const json_t *h)
{
    static const char *const cols[] = { "device", "link", "firmware", "build", "mbedTLS",
                                        "identity" };
    size_t i;
    const json_t *d;
    rpt_el(body, "h2", "Devices");
    xmlNodePtr t = rpt_el(body, "table", NULL), tr = rpt_el(t, "tr", NULL);
    rpt_attr(t, "id", "devices");
    rpt_attr(t, "class", "dev");
    for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++)
        rpt_el(tr, "th", cols[k]);
    json_array_foreach(json_object_get(h, "devices"), i, d) {
        char label[32], *fw = rpt_device_firmware(d), *id = rpt_device_identity(d);
        const json_t *hello = json_object_get(d, "hello");
        snprintf(label, sizeof label, "device %zu", i + 1);
        tr = rpt_el(t, "tr", NULL);
        rpt_el(tr, "td", label);
        rpt_el(tr, "td", rpt_str(d, "link", "?"));
        rpt_el(tr, "td", fw ? fw : "?");
        rpt_el(tr, "td", rpt_str(json_object_get(hello, "uname"), "version", "?"));
        rpt_el(tr, "td", rpt_str(hello, "mbedtls", "?"));
        rpt_el(tr, "td", id ? id : "?");
        free(fw);
        free(id);
    }
}

static void put_meta(xmlNodePtr body, const json_t *h, const json_t *baseline)
{
    const char *key;
    const json_t *v;
    char buf[256];
    xmlNodePtr dl = rpt_el(body, "dl", NULL);
    rpt_attr(dl, "class", "meta");
    kv(dl, "Harness", rpt_str(h, "harness", "?"));
    json_object_foreach((json_t *)json_object_get(h, "versions"), key, v) {
        snprintf(buf, sizeof buf, "Version: %.200s", key);
        kv(dl, buf, json_is_string(v) ? json_string_value(v) : "?");
    }
    snprintf(buf, sizeof buf, "%lld", (long long)rpt_num(h, "seed", 0));
    kv(dl, "Seed", buf);
    kv(dl, "Profile", rpt_str(h, "profile", "?"));
    kv(dl, "Shard", rpt_str(h, "shard", "?"));
    kv(dl, "Fixture reference time", rpt_str(h, "fixture_reference_time", "?"));
    kv(dl, "Started", rpt_str(h, "started", "?"));
    kv(dl, "Finished", rpt_str(h, "finished", "?"));
    if (baseline != NULL)
        kv(dl, "Baseline run started", rpt_str(json_object_get(baseline, "header"), "started", "?"));
}

/* The unexpected results and their reasons, each linked to its case. Full
 * records are read one at a time, only for these cases. */
static int put_unexpected(xmlNodePtr body, const struct rpt_src *s, const struct rpt_counts *n,
                          const char *path, struct tm_err *err)
{
    char title[64];
    size_t i;
    const json_t *c;
    snprintf(title, sizeof title, "Unexpected results: %lld", n->unexpected);
    rpt_el(body, "h2", title);
    if (n->unexpected == 0) {
        rpt_el(body, "p", "None: every case met its expectation.");
        return 0;
    }
    xmlNodePtr t = rpt_el(body, "table", NULL), tr = rpt_el(t, "tr", NULL);
    rpt_attr(t, "id", "unexpected");
    rpt_attr(t, "class", "unexpected");
    rpt_el(tr, "th", "case");
    rpt_el(tr, "th", "verdict");
    rpt_el(tr, "th", "reason");
    json_array_foreach(json_object_get(s->run, "cases"), i, c) {
        const char *v = rpt_case_verdict(c);
        if (!tm_verdict_unexpected(rpt_verdict_index(v)))
            continue;
        json_t *full = rpt_src_case(s, i, path, err);
        if (full == NULL)
            return -1;
        char *anchor = rpt_anchor(rpt_str(full, "id", "")), *href = NULL, cls[32];
        tr = rpt_el(t, "tr", NULL);
        xmlNodePtr a = rpt_el(rpt_el(tr, "td", NULL), "a", rpt_str(full, "id", "?"));
        if (anchor != NULL && asprintf(&href, "#open=%s", anchor) >= 0)
            rpt_attr(a, "href", href);
        snprintf(cls, sizeof cls, "v-%s", v);
        rpt_attr(rpt_el(tr, "td", verdict_mark(v)), "class", cls);
        rpt_el(tr, "td", rpt_str(full, "reason", ""));
        free(href);
        free(anchor);
        json_decref(full);
    }
    return 0;
}

/* One header row per axis level, merging runs of equal prefixes (backend, then
 * backend/keytype) into one spanning cell. level 0..2. */
static void put_axis_row(xmlNodePtr thead, const json_t *cols, int level, int with_change)
{
    static const char *const axis_name[3] = {"backend", "key type", "protocol"};
    xmlNodePtr tr = rpt_el(thead, "tr", NULL);
    xmlNodePtr th = rpt_el(tr, "th", axis_name[level]);
    rpt_attr(th, "class", "scen");
    size_t n = json_array_size(cols);
    for (size_t i = 0; i < n;) {
        const char *label = json_string_value(json_array_get(cols, i));
        /* prefix through the level-th '/' */
        size_t plen = 0;
        int slashes = 0;
        while (label[plen] != '\0' && !(label[plen] == '/' && slashes++ == level))
            plen++;
        size_t span = 1;
        while (i + span < n &&
               strncmp(json_string_value(json_array_get(cols, i + span)), label, plen) == 0 &&
               (json_string_value(json_array_get(cols, i + span))[plen] == '/' ||
                json_string_value(json_array_get(cols, i + span))[plen] == '\0'))
            span++;
        const char *start = label;
        for (int k = 0; k < level; k++) {
            const char *s = strchr(start, '/');
            start = s ? s + 1 : start + strlen(start);
        }
        char *part = strndup(start, plen - (size_t)(start - label));
        xmlNodePtr cell = rpt_el(tr, "th", part ? part : "?");
        free(part);
        char buf[32];
        snprintf(buf, sizeof buf, "%zu", span);
        if (span > 1)
            rpt_attr(cell, "colspan", buf);
        i += span;
    }
    if (with_change)
        rpt_el(tr, "th", level == 0 ? "vs baseline" : "");
}

static void put_row(xmlNodePtr tbody, const struct rpt_matrix *m, const char *scen)
{
    const json_t *cells = json_object_get(m->cells, scen);
    int insecure = json_object_get(m->insecure, scen) != NULL;
    int regressions = 0, fixes = 0;
    size_t j;
    const json_t *col;
    xmlNodePtr tr = rpt_el(tbody, "tr", NULL);
    rpt_attr(tr, "data-scenario", scen);
    if (insecure)
        rpt_attr(tr, "class", "insecure-row");
    xmlNodePtr th = rpt_el(tr, "th", scen);
    rpt_attr(th, "class", "scen");
    if (insecure) {
        rpt_text(th, " ");
        rpt_attr(rpt_el(th, "span", "insecure-by-design"), "class", "insecure");
    }
    json_array_foreach(m->cols, j, col) {
        const json_t *cell = json_object_get(cells, json_string_value(col));
        const json_t *c = json_array_get(cell, 0);
        if (c == NULL) {
            rpt_attr(rpt_el(tr, "td", "·"), "class", "empty");
            continue;
        }
        /* Case ids are unique per scenario + axes (contracts §6): one case per cell. */
        const char *v = rpt_case_verdict(c);
        char *anchor = rpt_anchor(rpt_str(c, "id", ""));
        char cls[64];
        if (tm_verdict_unexpected(rpt_verdict_index(v)))
            rpt_attr(tr, "data-bad", "");
        xmlNodePtr td = rpt_el(tr, "td", verdict_mark(v));
        snprintf(cls, sizeof cls, "cell v-%s", v);
        rpt_attr(td, "class", cls);
        if (anchor != NULL) {
            char *cid = NULL;
            if (asprintf(&cid, "cell-%s", anchor) >= 0)
                rpt_attr(td, "id", cid);
            free(cid);
            rpt_attr(td, "data-case", anchor);
        }
        free(anchor);
        rpt_attr(td, "data-verdict", v);
        rpt_attr(td, "tabindex", "0");
        rpt_attr(td, "title", rpt_str(c, "id", ""));
        if (m->base != NULL) {
            const char *kind =
                rpt_change_kind(rpt_baseline_verdict(m->base, rpt_str(c, "id", NULL)), v);
            if (kind != NULL && strcmp(kind, "regression") == 0)
                regressions++, rpt_attr(rpt_el(td, "sup", " ▼"), "class", "regression");
            else if (kind != NULL && strcmp(kind, "fix") == 0)
                fixes++, rpt_attr(rpt_el(td, "sup", " ▲"), "class", "fix");
        }
    }
    if (m->base != NULL) {
        char buf[64];
        xmlNodePtr td = rpt_el(tr, "td", NULL);
        rpt_attr(td, "class", "change");
        if (regressions) {
            snprintf(buf, sizeof buf, "▼ %d regression%s ", regressions, regressions > 1 ? "s" : "");
            rpt_attr(rpt_el(td, "span", buf), "class", "regression");
        }
        if (fixes) {
            snprintf(buf, sizeof buf, "▲ %d fix%s", fixes, fixes > 1 ? "es" : "");
            rpt_attr(rpt_el(td, "span", buf), "class", "fix");
        }
    }
}

/* The table with a placeholder where the rows go (streamed by write_page). */
static void put_matrix(xmlNodePtr body, const struct rpt_matrix *m)
{
    rpt_el(body, "h2", "Matrix");
    rpt_el(body, "p", "Rows are scenarios, columns backend / key type / protocol. Click a cell "
                  "for the case's details and its bundle files.");
    xmlNodePtr ctl = rpt_el(body, "div", NULL), label = rpt_el(ctl, "label", NULL);
    rpt_attr(ctl, "class", "controls");
    xmlNodePtr box = rpt_el(label, "input", NULL);
    rpt_attr(box, "type", "checkbox");
    rpt_attr(box, "id", "failures-only");
    rpt_text(label, " failures only");
    xmlNodePtr filter = rpt_el(ctl, "input", NULL);
    rpt_attr(filter, "type", "search");
    rpt_attr(filter, "id", "filter");
    rpt_attr(filter, "placeholder", "filter scenarios");
    rpt_attr(filter, "aria-label", "filter scenarios");
    xmlNodePtr t = rpt_el(body, "table", NULL);
    rpt_attr(t, "id", "matrix");
    rpt_attr(t, "class", "matrix");
    xmlNodePtr thead = rpt_el(t, "thead", NULL), tbody = rpt_el(t, "tbody", NULL);
    for (int level = 0; level < 3; level++)
        put_axis_row(thead, m->cols, level, m->base != NULL);
    xmlAddChild(tbody, xmlNewDocComment(tbody->doc, BAD_CAST ROWS_MARK));
}

static void kv_row(xmlNodePtr table, const char *k, const char *v, int pre)
{
    xmlNodePtr tr = rpt_el(table, "tr", NULL);
    rpt_el(tr, "th", k);
    xmlNodePtr td = rpt_el(tr, "td", NULL);
    rpt_el(td, pre ? "pre" : "span", v);
}

static void kv_json(xmlNodePtr table, const char *k, const json_t *v)
{
    char *s = rpt_dump(v);
    kv_row(table, k, s ? s : "?", 1);
    free(s);
}

static void put_side(xmlNodePtr table, const json_t *c, const char *side)
{
    char k[64];
    char *exp = rpt_expected_text(json_object_get(json_object_get(c, "expected"), side));
    char *act = rpt_dump(json_object_get(json_object_get(c, "actual"), side));
    snprintf(k, sizeof k, "expected %s", side);
    kv_row(table, k, exp ? exp : "?", 0);
    snprintf(k, sizeof k, "actual %s", side);
    kv_row(table, k, act ? act : "?", 0);
    free(exp);
    free(act);
}

static void put_transcripts(xmlNodePtr parent, const json_t *c)
{
    const char *key;
    const json_t *lines;
    json_object_foreach((json_t *)json_object_get(c, "transcript"), key, lines) {
        char title[128];
        size_t i;
        const json_t *l;
        snprintf(title, sizeof title, "Transcript: %.100s", key);
        rpt_el(parent, "h4", title);
        xmlNodePtr pre = rpt_el(parent, "pre", NULL);
        rpt_attr(pre, "class", "transcript");
        rpt_attr(pre, "data-source", key);
        json_array_foreach(lines, i, l) {
            rpt_text(pre, json_is_string(l) ? json_string_value(l) : "(non-text line)");
            rpt_text(pre, "\n");
        }
    }
}

/* Free heap before and after the operation and, when the case left only so
 * much free, the figure asked for and the one the device reached. */
static void put_heap(xmlNodePtr t, const json_t *h)
{
    static const char *const rows[][2] = { { "before", "heap free before" },
                                           { "after", "heap free after" },
                                           { "free_asked", "heap_free asked" },
                                           { "free_reached", "heap_free reached" } };
    char buf[64];
    for (size_t i = 0; json_is_object(h) && i < sizeof rows / sizeof rows[0]; i++) {
        const json_t *v = json_object_get(h, rows[i][0]);
        if (!json_is_integer(v))
            continue;
        snprintf(buf, sizeof buf, "%lld bytes", (long long)json_integer_value(v));
        kv_row(t, rows[i][1], buf, 0);
    }
}

#define STEP_ROWS_MAX 200   /* a long session's table shows its first steps */

/* A line of the heap figures (one per iteration) as an inline SVG polyline,
 * lowest free heap at the bottom. */
static void put_sparkline(xmlNodePtr parent, const json_t *heap)
{
    size_t n = json_array_size(heap), i;
    const json_t *v;
    json_int_t lo = 0, hi = 0;
    if (n < 2)
        return;
    json_array_foreach(heap, i, v) {
        json_int_t x = json_integer_value(v);
        lo = i == 0 || x < lo ? x : lo;
        hi = i == 0 || x > hi ? x : hi;
    }
    size_t cap = n * 24 + 16, used = 0;
    char *pts = malloc(cap);
    if (pts == NULL)
        return;
    pts[0] = '\0';
    json_array_foreach(heap, i, v) {
        double y = hi > lo ? 28.0 - 26.0 * (double)(json_integer_value(v) - lo) / (double)(hi - lo)
                           : 15.0;
        used += (size_t)snprintf(pts + used, cap - used, "%s%.1f,%.1f", i ? " " : "",
                                 2.0 + 196.0 * (double)i / (double)(n - 1), y);
    }
    xmlNodePtr svg = rpt_el(parent, "svg", NULL);
    rpt_attr(svg, "class", "sparkline");
    rpt_attr(svg, "width", "200");
    rpt_attr(svg, "height", "30");
    rpt_attr(svg, "viewBox", "0 0 200 30");
    rpt_attr(svg, "role", "img");
    char label[160];
    snprintf(label, sizeof label, "free heap per iteration, %lld to %lld bytes", (long long)lo,
             (long long)hi);
    rpt_attr(svg, "aria-label", label);
    xmlNodePtr pl = rpt_el(svg, "polyline", NULL);
    rpt_attr(pl, "points", pts);
    rpt_attr(pl, "fill", "none");
    rpt_attr(pl, "stroke", "#0057b7");
    free(pts);
}

static void put_step_row(xmlNodePtr table, const json_t *st)
{
    char buf[64];
    xmlNodePtr tr = rpt_el(table, "tr", NULL);
    rpt_attr(tr, "class", json_is_false(json_object_get(st, "ok")) ? "v-fail" : "");
    snprintf(buf, sizeof buf, "%lld", (long long)rpt_num(st, "n", 0));
    rpt_el(tr, "td", buf);
    rpt_el(tr, "td", rpt_str(st, "step", "?"));
    rpt_el(tr, "td", rpt_str(st, "at", ""));
    const json_t *it = json_object_get(st, "iteration");
    snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(it));
    rpt_el(tr, "td", json_is_integer(it) ? buf : "");
    char *exp = rpt_expected_text(json_object_get(json_object_get(st, "expected"), "device"));
    rpt_el(tr, "td", exp ? exp : "");
    free(exp);
    const json_t *a = json_object_get(st, "actual");
    snprintf(buf, sizeof buf, "%s%s%s", rpt_str(a, "device", "-"),
             json_is_string(json_object_get(a, "peer")) ? " / " : "", rpt_str(a, "peer", ""));
    rpt_el(tr, "td", buf);
    for (const char *const *k = (const char *const[]){ "ms", "heap", "open", NULL }; *k; k++) {
        const json_t *x = json_object_get(st, *k);
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(x));
        rpt_el(tr, "td", json_is_integer(x) ? buf : "");
    }
    rpt_el(tr, "td", rpt_str(st, "reason", ""));
}

/* A session's steps as a small table, and its trend with a heap sparkline. */
static void put_steps(xmlNodePtr parent, const json_t *c)
{
    const json_t *steps = json_object_get(c, "steps"), *trend = json_object_get(c, "trend");
    static const char *const head[] = { "#", "step", "at", "iteration", "expected device",
                                        "actual device / peer", "ms", "heap free", "open",
                                        "reason", NULL };
    if (!json_is_array(steps))
        return;
    rpt_el(parent, "h4", "Steps");
    xmlNodePtr t = rpt_el(parent, "table", NULL);
    rpt_attr(t, "class", "steps");
    xmlNodePtr tr = rpt_el(t, "tr", NULL);
    for (size_t i = 0; head[i]; i++)
        rpt_el(tr, "th", head[i]);
    size_t i;
    const json_t *st;
    json_array_foreach(steps, i, st) {
        if (i == STEP_ROWS_MAX) {
            char more[96];
            snprintf(more, sizeof more, "… %zu more steps (run.json has every one)",
                     json_array_size(steps) - i);
            rpt_el(parent, "p", more);
            break;
        }
        put_step_row(t, st);
    }
    if (!json_is_object(trend))
        return;
    char buf[200];
    snprintf(buf, sizeof buf, "Trend over %lld iterations: heap use %+lld bytes per iteration, at "
             "most %lld connections held, slowest handshake %lld ms%s%s",
             (long long)rpt_num(trend, "iterations", 0),
             (long long)rpt_num(trend, "heap_growth_per_iteration", 0),
             (long long)rpt_num(trend, "open_max", 0),
             (long long)rpt_num(trend, "handshake_ms_max", 0),
             json_is_false(json_object_get(trend, "ok")) ? ": " : "",
             rpt_str(trend, "reason", ""));
    xmlNodePtr p = rpt_el(parent, "p", buf);
    rpt_attr(p, "class", "trend");
    put_sparkline(p, json_object_get(trend, "heap"));
}

/* Links to the case's bundle files (relative to the report directory, as run.json
 * names the bundle). */
static void put_bundle(xmlNodePtr table, const json_t *c)
{
    static const char *const files[][2] = { { "serial.log", "serial log" },
                                            { "peer.log", "peer log" },
                                            { "replay.sh", "replay" },
                                            { "case.json", "case.json" } };
    const char *bundle = rpt_str(c, "bundle", NULL);
    if (bundle == NULL)
        return;
    xmlNodePtr tr = rpt_el(table, "tr", NULL);
    rpt_el(tr, "th", "bundle");
    xmlNodePtr td = rpt_el(tr, "td", NULL);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *href = NULL;
        if (asprintf(&href, "%s/%s", bundle, files[i][0]) < 0)
            continue;
        xmlNodePtr a = rpt_el(td, "a", files[i][1]);
        rpt_attr(a, "class", "bundle");
        rpt_attr(a, "href", href);
        rpt_attr(a, "data-file", files[i][0]);
        free(href);
    }
}

/* base: rpt_verdicts_by_id(baseline) or NULL. */
static void put_case(xmlNodePtr parent, const json_t *c, const json_t *base)
{
    const char *v = rpt_case_verdict(c);
    char *anchor = rpt_anchor(rpt_str(c, "id", ""));
    char *did = NULL;
    char buf[128];
    xmlNodePtr d = rpt_el(parent, "details", NULL);
    if (anchor != NULL && asprintf(&did, "case-%s", anchor) >= 0)
        rpt_attr(d, "id", did);
    free(did);
    free(anchor);
    snprintf(buf, sizeof buf, "case v-%s", v);
    rpt_attr(d, "class", buf);
    xmlNodePtr sum = rpt_el(d, "summary", rpt_str(c, "id", "?"));
    rpt_text(sum, " — ");
    rpt_attr(rpt_el(sum, "span", verdict_mark(v)), "class", buf + 5);
    if (json_is_true(json_object_get(c, "insecure"))) {
        rpt_text(sum, " ");
        rpt_attr(rpt_el(sum, "span", "insecure-by-design"), "class", "insecure");
    }
    xmlNodePtr t = rpt_el(d, "table", NULL);
    rpt_attr(t, "class", "kv");
    kv_row(t, "scenario", rpt_str(c, "scenario", "?"), 0);
    kv_row(t, "description", rpt_str(c, "doc", ""), 0);
    kv_row(t, "device", rpt_str(c, "device", "?"), 0);
    kv_row(t, "verdict", v, 0);
    if (base != NULL) {
        const char *old = rpt_baseline_verdict(base, rpt_str(c, "id", NULL));
        const char *kind = rpt_change_kind(old, v);
        snprintf(buf, sizeof buf, "%s%s%s", old ? old : "(not in baseline)", kind ? " — " : "",
                 kind ? kind : "");
        kv_row(t, "baseline verdict", buf, 0);
    }
    kv_row(t, "reason", rpt_str(c, "reason", ""), 0);
    put_side(t, c, "device");
    put_side(t, c, "peer");
    if (json_is_object(json_object_get(c, "xfail")))
        kv_json(t, "known deviation", json_object_get(c, "xfail"));
    snprintf(buf, sizeof buf, "%lld%s", (long long)rpt_num(c, "attempts", 1),
             json_is_true(json_object_get(c, "flaky")) ? " (flaky: passed only on retry)" : "");
    kv_row(t, "attempts", buf, 0);
    kv_json(t, "timings (ms)", json_object_get(c, "timings_ms"));
    snprintf(buf, sizeof buf, "%lld bytes", (long long)rpt_num(c, "heap_delta", 0));
    kv_row(t, "heap delta", json_is_number(json_object_get(c, "heap_delta")) ? buf : "unknown", 0);
    put_heap(t, json_object_get(c, "heap"));
    xmlNodePtr tr = rpt_el(t, "tr", NULL);
    rpt_el(tr, "th", "replay");
    rpt_attr(rpt_el(rpt_el(tr, "td", NULL), "code", rpt_str(c, "replay", "")), "class", "replay");
    put_bundle(t, c);
    put_steps(d, c);   /* a session's steps and heap trend, whatever its verdict */
    if (!tm_verdict_unexpected(rpt_verdict_index(v)))
        return;   /* as expected: the evidence is in the bundle */
    kv_json(t, "device reply", json_object_get(c, "device_reply"));
    kv_json(t, "peer result", json_object_get(c, "peer_result"));
    put_transcripts(d, c);
}

/* The page without its rows and cases: placeholders mark where write_page streams
 * them, so the tree never holds more than one row or one case. */
static xmlDocPtr build_skeleton(const struct rpt_src *s, const json_t *baseline,
                                const struct rpt_matrix *m, const char *path, struct tm_err *err)
{
    const json_t *h = json_object_get(s->run, "header");
    struct rpt_counts n;
    rpt_count(s->run, &n);
    xmlDocPtr doc = NULL;
    xmlNodePtr body = rpt_html_page(&doc, "tlsmatrix run", page_css);
    if (body == NULL) {
        xmlFreeDoc(doc);
        return NULL;
    }
    put_banner(body, &n);
    put_totals(body, &n);
    put_devices(body, h);
    put_meta(body, h, baseline);
    if (put_unexpected(body, s, &n, path, err) != 0) {
        xmlFreeDoc(doc);
        return NULL;
    }
    put_matrix(body, m);
    rpt_el(body, "h2", "Cases");
    xmlNodePtr cases = rpt_el(body, "div", NULL);
    rpt_attr(cases, "id", "cases");
    xmlAddChild(cases, xmlNewDocComment(doc, BAD_CAST CASES_MARK));
    rpt_el(body, "script", page_js);
    return doc;
}

/* Serialise node (built under a detached scratch parent) and free it. */
static int flush_node(xmlOutputBufferPtr out, xmlDocPtr doc, xmlNodePtr node)
{
    if (node == NULL)
        return -1;
    htmlNodeDumpFormatOutput(out, doc, node, "UTF-8", 1);
    xmlOutputBufferWrite(out, 1, "\n");
    xmlUnlinkNode(node);
    xmlFreeNode(node);
    return out->error != 0 ? -1 : 0;
}

static int stream_rows(xmlOutputBufferPtr out, xmlDocPtr doc, const struct rpt_matrix *m)
{
    xmlNodePtr scratch = xmlNewDocNode(doc, NULL, BAD_CAST "tbody", NULL);
    size_t i;
    const json_t *row;
    int rc = scratch != NULL ? 0 : -1;
    json_array_foreach(m->rows, i, row) {
        if (rc != 0)
            break;
        put_row(scratch, m, json_string_value(row));
        rc = flush_node(out, doc, scratch->children);
    }
    xmlFreeNode(scratch);
    return rc;
}

/* 0, -1 on a libxml2/output failure, -2 when a case cannot be read (err set). */
static int stream_cases(xmlOutputBufferPtr out, xmlDocPtr doc, const struct rpt_src *s,
                        const struct rpt_matrix *m, const char *path, struct tm_err *err)
{
    xmlNodePtr scratch = xmlNewDocNode(doc, NULL, BAD_CAST "div", NULL);
    size_t n = json_array_size(json_object_get(s->run, "cases"));
    int rc = scratch != NULL ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *c = rpt_src_case(s, i, path, err);
        if (c == NULL) {
            rc = -2;
            break;
        }
        put_case(scratch, c, m->base);
        json_decref(c);
        rc = flush_node(out, doc, scratch->children);
    }
    xmlFreeNode(scratch);
    return rc;
}

static int write_page(FILE *f, const struct rpt_src *s, const json_t *baseline,
                      const struct rpt_matrix *m, const char *path, struct tm_err *err)
{
    xmlChar *mem = NULL;
    int size = 0, rc = -1;
    xmlDocPtr doc = build_skeleton(s, baseline, m, path, err);
    if (doc == NULL && tm_err_code(err) != TM_E_NONE)
        return -1;   /* a case could not be read: err says which */
    if (doc != NULL)
        htmlDocDumpMemoryFormat(doc, &mem, &size, 1);
    const char *page = (const char *)mem;
    const char *rows = page ? strstr(page, "<!--" ROWS_MARK "-->") : NULL;
    const char *cases = rows ? strstr(rows, "<!--" CASES_MARK "-->") : NULL;
    xmlOutputBufferPtr out = cases ? xmlOutputBufferCreateFile(f, NULL) : NULL;
    if (out == NULL) {
        tm_err_set(err, "%s: libxml2 could not serialise the page", path);
        goto done;
    }
    xmlOutputBufferWrite(out, (int)(rows - page), page);
    rows += strlen("<!--" ROWS_MARK "-->");
    rc = stream_rows(out, doc, m);
    if (rc == 0) {
        xmlOutputBufferWrite(out, (int)(cases - rows), rows);
        rc = stream_cases(out, doc, s, m, path, err);
    }
    if (rc == 0) {
        cases += strlen("<!--" CASES_MARK "-->");
        xmlOutputBufferWrite(out, (int)strlen(cases), cases);
    }
    if (xmlOutputBufferClose(out) < 0 && rc == 0)  /* flushes into f; f stays open */
        rc = -1;
    if (rc == -1)
        tm_err_set(err, "%s: libxml2 could not serialise the page", path);
done:
    xmlFree(mem);
    xmlFreeDoc(doc);
    return rc != 0 ? -1 : 0;
}

int rpt_write_html_src(const struct rpt_src *s, const json_t *baseline, const char *path,
                       struct tm_err *err)
{
    return rpt_write_matrix_report(s, baseline, path, write_page, err);
}

int report_write_html(const json_t *run, const json_t *baseline, const char *path,
                      struct tm_err *err)
{
    struct rpt_src s;
    rpt_src_of_run(&s, run);
    return rpt_write_html_src(&s, baseline, path, err);
}
