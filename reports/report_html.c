/* matrix.html: one self-contained page (inline CSS and a small inline script, no
 * external resources), built as a libxml2 HTML tree so that every device string is
 * a text node or attribute value escaped by the serializer; nothing is pasted.
 * The page is written piecewise (skeleton, then one matrix row and one case at a
 * time, each a small tree serialised and freed) so memory stays flat with the
 * number of cases.
 *
 * Page hooks (tests and people rely on them):
 *  - matrix cell: <td class="cell v-<verdict>" id="cell-<anchor>" data-case="<anchor>">
 *  - case details: <details id="case-<anchor>">, opened by a click on its cell;
 *  - URL hash "#open=<anchor>" clicks that cell on load (same handler);
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
    "var h=/^#open=(.+)$/.exec(location.hash);\n"
    "if(h){var c=document.getElementById('cell-'+decodeURIComponent(h[1]));\n"
    " if(c)c.click();else openCase(decodeURIComponent(h[1]));}\n"
    "})();\n";

/* A child element whose text (if any) is sanitised and escaped by libxml2. */
static xmlNodePtr el(xmlNodePtr parent, const char *name, const char *text)
{
    xmlNodePtr n = xmlNewChild(parent, NULL, BAD_CAST name, NULL);
    if (n != NULL && text != NULL) {
        char *t = rpt_xml_text(text);
        if (t != NULL)
            xmlNodeAddContent(n, BAD_CAST t);  /* raw text, escaped at serialisation */
        free(t);
    }
    return n;
}

static void attr(xmlNodePtr n, const char *name, const char *value)
{
    char *t = rpt_xml_text(value);
    if (n != NULL && t != NULL)
        xmlSetProp(n, BAD_CAST name, BAD_CAST t);
    free(t);
}

static void text(xmlNodePtr n, const char *s)
{
    char *t = rpt_xml_text(s);
    if (n != NULL && t != NULL)
        xmlNodeAddContent(n, BAD_CAST t);
    free(t);
}

static const char *verdict_mark(const char *v)
{
    static const char *const marks[RPT_NVERDICTS] = {"✓ pass", "✗ fail", "◐ xfail",
                                                      "! xpass", "⚠ error", "– skip"};
    int i = rpt_verdict_index(v);
    return i >= 0 ? marks[i] : v;
}

static void kv(xmlNodePtr dl, const char *k, const char *v)
{
    el(dl, "dt", k);
    el(dl, "dd", v);
}

static void put_header(xmlNodePtr body, const json_t *run, const json_t *baseline)
{
    const json_t *h = json_object_get(run, "header");
    const char *key;
    const json_t *v;
    size_t i;
    char buf[256];
    el(body, "h1", "tlsmatrix run");
    xmlNodePtr dl = el(body, "dl", NULL);
    attr(dl, "class", "meta");
    json_array_foreach(json_object_get(h, "devices"), i, v) {
        const json_t *hello = json_object_get(v, "hello");
        const json_t *impl = json_object_get(hello, "impl");
        char *fw = NULL;
        if (asprintf(&fw, "%s %s (%s), %s, link %s%s", rpt_str(impl, "name", "?"),
                     rpt_str(impl, "version", "?"), rpt_str(impl, "machine", "?"),
                     rpt_str(hello, "mbedtls", "mbedTLS ?"), rpt_str(v, "link", "?"),
                     json_is_true(json_object_get(hello, "virtual")) ? " (virtual camera)" : "") >= 0) {
            kv(dl, "Firmware", fw);
            free(fw);
        }
    }
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

static void put_totals(xmlNodePtr body, const json_t *run)
{
    long long n[RPT_NVERDICTS] = {0}, total = 0;
    size_t i;
    const json_t *c;
    char buf[32];
    json_array_foreach(json_object_get(run, "cases"), i, c) {
        n[rpt_verdict_index(rpt_case_verdict(c))]++;
        total++;
    }
    el(body, "h2", "Totals");
    xmlNodePtr t = el(body, "table", NULL), hr = el(t, "tr", NULL), dr = el(t, "tr", NULL);
    attr(t, "id", "totals");
    el(hr, "th", "cases");
    snprintf(buf, sizeof buf, "%lld", total);
    el(dr, "td", buf);
    for (int v = 0; v < RPT_NVERDICTS; v++) {
        el(hr, "th", tm_verdict_name(v));
        snprintf(buf, sizeof buf, "%lld", n[v]);
        xmlNodePtr td = el(dr, "td", buf);
        snprintf(buf, sizeof buf, "v-%s", tm_verdict_name(v));
        attr(td, "class", buf);
        attr(td, "data-verdict", tm_verdict_name(v));
    }
}

/* One header row per axis level, merging runs of equal prefixes (backend, then
 * backend/keytype) into one spanning cell. level 0..2. */
static void put_axis_row(xmlNodePtr thead, const json_t *cols, int level, int with_change)
{
    static const char *const axis_name[3] = {"backend", "key type", "protocol"};
    xmlNodePtr tr = el(thead, "tr", NULL);
    xmlNodePtr th = el(tr, "th", axis_name[level]);
    attr(th, "class", "scen");
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
        xmlNodePtr cell = el(tr, "th", part ? part : "?");
        free(part);
        char buf[32];
        snprintf(buf, sizeof buf, "%zu", span);
        if (span > 1)
            attr(cell, "colspan", buf);
        i += span;
    }
    if (with_change)
        el(tr, "th", level == 0 ? "vs baseline" : "");
}

static void put_row(xmlNodePtr tbody, const struct rpt_matrix *m, const char *scen)
{
    const json_t *cells = json_object_get(m->cells, scen);
    int insecure = json_object_get(m->insecure, scen) != NULL;
    int regressions = 0, fixes = 0;
    size_t j;
    const json_t *col;
    xmlNodePtr tr = el(tbody, "tr", NULL);
    if (insecure)
        attr(tr, "class", "insecure-row");
    xmlNodePtr th = el(tr, "th", scen);
    attr(th, "class", "scen");
    if (insecure) {
        text(th, " ");
        attr(el(th, "span", "insecure-by-design"), "class", "insecure");
    }
    json_array_foreach(m->cols, j, col) {
        const json_t *cell = json_object_get(cells, json_string_value(col));
        const json_t *c = json_array_get(cell, 0);
        if (c == NULL) {
            attr(el(tr, "td", "·"), "class", "empty");
            continue;
        }
        /* Case ids are unique per scenario + axes (contracts §6): one case per cell. */
        const char *v = rpt_case_verdict(c);
        char *anchor = rpt_anchor(rpt_str(c, "id", ""));
        char cls[64];
        xmlNodePtr td = el(tr, "td", verdict_mark(v));
        snprintf(cls, sizeof cls, "cell v-%s", v);
        attr(td, "class", cls);
        if (anchor != NULL) {
            char *cid = NULL;
            if (asprintf(&cid, "cell-%s", anchor) >= 0)
                attr(td, "id", cid);
            free(cid);
            attr(td, "data-case", anchor);
        }
        free(anchor);
        attr(td, "data-verdict", v);
        attr(td, "tabindex", "0");
        attr(td, "title", rpt_str(c, "id", ""));
        if (m->base != NULL) {
            const char *kind =
                rpt_change_kind(rpt_baseline_verdict(m->base, rpt_str(c, "id", NULL)), v);
            if (kind != NULL && strcmp(kind, "regression") == 0)
                regressions++, attr(el(td, "sup", " ▼"), "class", "regression");
            else if (kind != NULL && strcmp(kind, "fix") == 0)
                fixes++, attr(el(td, "sup", " ▲"), "class", "fix");
        }
    }
    if (m->base != NULL) {
        char buf[64];
        xmlNodePtr td = el(tr, "td", NULL);
        attr(td, "class", "change");
        if (regressions) {
            snprintf(buf, sizeof buf, "▼ %d regression%s ", regressions, regressions > 1 ? "s" : "");
            attr(el(td, "span", buf), "class", "regression");
        }
        if (fixes) {
            snprintf(buf, sizeof buf, "▲ %d fix%s", fixes, fixes > 1 ? "es" : "");
            attr(el(td, "span", buf), "class", "fix");
        }
    }
}

/* The table with a placeholder where the rows go (streamed by write_page). */
static void put_matrix(xmlNodePtr body, const struct rpt_matrix *m)
{
    el(body, "h2", "Matrix");
    el(body, "p", "Rows are scenarios, columns backend / key type / protocol. Click a cell "
                  "for the case's details.");
    xmlNodePtr t = el(body, "table", NULL);
    attr(t, "id", "matrix");
    attr(t, "class", "matrix");
    xmlNodePtr thead = el(t, "thead", NULL), tbody = el(t, "tbody", NULL);
    for (int level = 0; level < 3; level++)
        put_axis_row(thead, m->cols, level, m->base != NULL);
    xmlAddChild(tbody, xmlNewDocComment(tbody->doc, BAD_CAST ROWS_MARK));
}

static void kv_row(xmlNodePtr table, const char *k, const char *v, int pre)
{
    xmlNodePtr tr = el(table, "tr", NULL);
    el(tr, "th", k);
    xmlNodePtr td = el(tr, "td", NULL);
    el(td, pre ? "pre" : "span", v);
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
        el(parent, "h4", title);
        xmlNodePtr pre = el(parent, "pre", NULL);
        attr(pre, "class", "transcript");
        attr(pre, "data-source", key);
        json_array_foreach(lines, i, l) {
            text(pre, json_is_string(l) ? json_string_value(l) : "(non-text line)");
            text(pre, "\n");
        }
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
    xmlNodePtr svg = el(parent, "svg", NULL);
    attr(svg, "class", "sparkline");
    attr(svg, "width", "200");
    attr(svg, "height", "30");
    attr(svg, "viewBox", "0 0 200 30");
    attr(svg, "role", "img");
    char label[160];
    snprintf(label, sizeof label, "free heap per iteration, %lld to %lld bytes", (long long)lo,
             (long long)hi);
    attr(svg, "aria-label", label);
    xmlNodePtr pl = el(svg, "polyline", NULL);
    attr(pl, "points", pts);
    attr(pl, "fill", "none");
    attr(pl, "stroke", "#0057b7");
    free(pts);
}

static void put_step_row(xmlNodePtr table, const json_t *st)
{
    char buf[64];
    xmlNodePtr tr = el(table, "tr", NULL);
    attr(tr, "class", json_is_false(json_object_get(st, "ok")) ? "v-fail" : "");
    snprintf(buf, sizeof buf, "%lld", (long long)rpt_num(st, "n", 0));
    el(tr, "td", buf);
    el(tr, "td", rpt_str(st, "step", "?"));
    el(tr, "td", rpt_str(st, "at", ""));
    const json_t *it = json_object_get(st, "iteration");
    snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(it));
    el(tr, "td", json_is_integer(it) ? buf : "");
    char *exp = rpt_expected_text(json_object_get(json_object_get(st, "expected"), "device"));
    el(tr, "td", exp ? exp : "");
    free(exp);
    const json_t *a = json_object_get(st, "actual");
    snprintf(buf, sizeof buf, "%s%s%s", rpt_str(a, "device", "-"),
             json_is_string(json_object_get(a, "peer")) ? " / " : "", rpt_str(a, "peer", ""));
    el(tr, "td", buf);
    for (const char *const *k = (const char *const[]){ "ms", "heap", "open", NULL }; *k; k++) {
        const json_t *x = json_object_get(st, *k);
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(x));
        el(tr, "td", json_is_integer(x) ? buf : "");
    }
    el(tr, "td", rpt_str(st, "reason", ""));
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
    el(parent, "h4", "Steps");
    xmlNodePtr t = el(parent, "table", NULL);
    attr(t, "class", "steps");
    xmlNodePtr tr = el(t, "tr", NULL);
    for (size_t i = 0; head[i]; i++)
        el(tr, "th", head[i]);
    size_t i;
    const json_t *st;
    json_array_foreach(steps, i, st) {
        if (i == STEP_ROWS_MAX) {
            char more[96];
            snprintf(more, sizeof more, "… %zu more steps (run.json has every one)",
                     json_array_size(steps) - i);
            el(parent, "p", more);
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
    xmlNodePtr p = el(parent, "p", buf);
    attr(p, "class", "trend");
    put_sparkline(p, json_object_get(trend, "heap"));
}

/* base: rpt_verdicts_by_id(baseline) or NULL. */
static void put_case(xmlNodePtr parent, const json_t *c, const json_t *base)
{
    const char *v = rpt_case_verdict(c);
    char *anchor = rpt_anchor(rpt_str(c, "id", ""));
    char *did = NULL;
    char buf[128];
    xmlNodePtr d = el(parent, "details", NULL);
    if (anchor != NULL && asprintf(&did, "case-%s", anchor) >= 0)
        attr(d, "id", did);
    free(did);
    free(anchor);
    snprintf(buf, sizeof buf, "case v-%s", v);
    attr(d, "class", buf);
    xmlNodePtr sum = el(d, "summary", rpt_str(c, "id", "?"));
    text(sum, " — ");
    attr(el(sum, "span", verdict_mark(v)), "class", buf + 5);
    if (json_is_true(json_object_get(c, "insecure"))) {
        text(sum, " ");
        attr(el(sum, "span", "insecure-by-design"), "class", "insecure");
    }
    xmlNodePtr t = el(d, "table", NULL);
    attr(t, "class", "kv");
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
    xmlNodePtr tr = el(t, "tr", NULL);
    el(tr, "th", "replay");
    attr(el(el(tr, "td", NULL), "code", rpt_str(c, "replay", "")), "class", "replay");
    kv_json(t, "device reply", json_object_get(c, "device_reply"));
    kv_json(t, "peer result", json_object_get(c, "peer_result"));
    put_steps(d, c);
    put_transcripts(d, c);
}

/* The page without its rows and cases: placeholders mark where write_page streams
 * them, so the tree never holds more than one row or one case. */
static xmlDocPtr build_skeleton(const json_t *run, const json_t *baseline,
                                const struct rpt_matrix *m)
{
    xmlDocPtr doc = htmlNewDocNoDtD(NULL, NULL);
    if (doc == NULL)
        return NULL;
    xmlCreateIntSubset(doc, BAD_CAST "html", NULL, NULL);  /* <!DOCTYPE html> */
    xmlNodePtr html = xmlNewDocNode(doc, NULL, BAD_CAST "html", NULL);
    xmlDocSetRootElement(doc, html);
    attr(html, "lang", "en");
    xmlNodePtr head = el(html, "head", NULL);
    attr(el(head, "meta", NULL), "charset", "utf-8");
    el(head, "title", "tlsmatrix run");
    /* Our own constant CSS/JS: HTML serialises <style>/<script> text verbatim. */
    el(head, "style", page_css);
    xmlNodePtr body = el(html, "body", NULL);
    put_header(body, run, baseline);
    put_totals(body, run);
    put_matrix(body, m);
    el(body, "h2", "Cases");
    xmlNodePtr cases = el(body, "div", NULL);
    attr(cases, "id", "cases");
    xmlAddChild(cases, xmlNewDocComment(doc, BAD_CAST CASES_MARK));
    el(body, "script", page_js);
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
    xmlDocPtr doc = build_skeleton(s->run, baseline, m);
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
