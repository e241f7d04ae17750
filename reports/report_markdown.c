/* summary.md: the run for people reading a CI page or a pull request. Every
 * device-originated string goes through md_text(), which makes it inert inside a
 * table cell (pipes, newlines, inline HTML, emphasis and control bytes). */
#include "report.h"
#include "report_int.h"

#include <stdlib.h>
#include <string.h>

#include "tm_fs.h"

static const char *const verdict_mark[RPT_NVERDICTS] = {
    "✅ pass", "❌ fail", "☑️ xfail", "❗ xpass", "💥 error", "⏭️ skip"};

/* One table cell's worth of text: | and Markdown specials backslash-escaped, < > &
 * as entities (renderers pass inline HTML through), newlines as <br>, bytes that are
 * not printable text as \xNN (via rpt_xml_text). */
static void md_text(FILE *out, const char *s)
{
    char *t = rpt_xml_text(s);
    for (const char *p = t ? t : ""; *p != '\0'; p++) {
        switch (*p) {
        case '|': case '\\': case '`': case '*': case '_': case '[': case ']': case '#':
        case '~':
            fputc('\\', out);
            fputc(*p, out);
            break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        case '\n': fputs("<br>", out); break;
        case '\r': break;
        case '\t': fputc(' ', out); break;
        default: fputc(*p, out);
        }
    }
    free(t);
}

static const char *mark(const char *verdict)
{
    int i = rpt_verdict_index(verdict);
    return i >= 0 ? verdict_mark[i] : verdict;
}

static void put_header(FILE *out, const json_t *run, const json_t *baseline)
{
    const json_t *h = json_object_get(run, "header");
    const char *key;
    const json_t *v;
    size_t i;
    fputs("# tlsmatrix run\n\n", out);
    json_array_foreach(json_object_get(h, "devices"), i, v) {
        const json_t *hello = json_object_get(v, "hello");
        const json_t *impl = json_object_get(hello, "impl");
        fputs("- **Device** ", out);
        md_text(out, rpt_str(v, "link", "?"));
        fputs(": firmware ", out);
        md_text(out, rpt_str(impl, "name", "?"));
        fputc(' ', out);
        md_text(out, rpt_str(impl, "version", "?"));
        fputs(" (", out);
        md_text(out, rpt_str(impl, "machine", "?"));
        fputs("), ", out);
        md_text(out, rpt_str(hello, "mbedtls", "mbedTLS ?"));
        fputs(json_is_true(json_object_get(hello, "virtual")) ? ", virtual camera\n" : "\n", out);
    }
    fputs("- **Versions**: harness ", out);
    md_text(out, rpt_str(h, "harness", "?"));
    json_object_foreach((json_t *)json_object_get(h, "versions"), key, v) {
        fputs(", ", out);
        md_text(out, key);
        fputc(' ', out);
        md_text(out, json_is_string(v) ? json_string_value(v) : "?");
    }
    fprintf(out, "\n- **Seed**: %lld, **shard**: ", (long long)rpt_num(h, "seed", 0));
    md_text(out, rpt_str(h, "shard", "?"));
    fputs(", **profile**: ", out);
    md_text(out, rpt_str(h, "profile", "?"));
    fputs("\n- **Fixture reference time**: ", out);
    md_text(out, rpt_str(h, "fixture_reference_time", "?"));
    fputs("\n- **Started**: ", out);
    md_text(out, rpt_str(h, "started", "?"));
    fputs(", **finished**: ", out);
    md_text(out, rpt_str(h, "finished", "?"));
    fputs(baseline ? "\n- **Baseline**: compared (see Changes)\n\n" : "\n\n", out);
}

static void put_totals(FILE *out, const json_t *run)
{
    long long n[RPT_NVERDICTS] = {0}, total = 0;
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(run, "cases"), i, c) {
        n[rpt_verdict_index(rpt_case_verdict(c))]++;
        total++;
    }
    fputs("## Totals\n\n| cases |", out);
    for (int v = 0; v < RPT_NVERDICTS; v++)
        fprintf(out, " %s |", verdict_mark[v]);
    fputs("\n|---:|", out);
    for (int v = 0; v < RPT_NVERDICTS; v++)
        fputs("---:|", out);
    fprintf(out, "\n| %lld |", total);
    for (int v = 0; v < RPT_NVERDICTS; v++)
        fprintf(out, " %lld |", n[v]);
    fputs("\n\n", out);
}

static void put_cell(FILE *out, const json_t *cell, const json_t *base)
{
    size_t i;
    const json_t *c;
    json_array_foreach(cell, i, c) {
        const char *v = rpt_case_verdict(c);
        const char *kind =
            base ? rpt_change_kind(rpt_baseline_verdict(base, rpt_str(c, "id", NULL)), v) : NULL;
        fprintf(out, "%s%s", i ? " " : "", mark(v));
        if (kind != NULL && (strcmp(kind, "regression") == 0 || strcmp(kind, "fix") == 0))
            fprintf(out, " (%s)", kind);
    }
}

static void put_matrix(FILE *out, const struct rpt_matrix *m)
{
    size_t i, j;
    const json_t *row, *col;
    fputs("## Matrix\n\nRows are scenarios, columns backend/keytype/proto; "
          "⚠️ marks insecure-by-design rows (documented insecure defaults).\n\n| scenario |", out);
    json_array_foreach(m->cols, j, col) {
        fputc(' ', out);
        md_text(out, json_string_value(col));
        fputs(" |", out);
    }
    fputs("\n|---|", out);
    json_array_foreach(m->cols, j, col) fputs(":---:|", out);
    fputc('\n', out);
    json_array_foreach(m->rows, i, row) {
        const char *s = json_string_value(row);
        const json_t *cells = json_object_get(m->cells, s);
        fputs("| ", out);
        md_text(out, s);
        if (json_object_get(m->insecure, s) != NULL)
            fputs(" ⚠️ insecure-by-design", out);
        fputs(" |", out);
        json_array_foreach(m->cols, j, col) {
            const json_t *cell = json_object_get(cells, json_string_value(col));
            fputc(' ', out);
            if (cell != NULL)
                put_cell(out, cell, m->base);
            else
                fputs("·", out);
            fputs(" |", out);
        }
        fputc('\n', out);
    }
    fputc('\n', out);
}

/* "<expected> | <actual> |" for one end (device or peer). */
static void put_side(FILE *out, const json_t *c, const char *side)
{
    char *exp = rpt_expected_text(json_object_get(json_object_get(c, "expected"), side));
    char *act = rpt_dump(json_object_get(json_object_get(c, "actual"), side));
    fputc(' ', out);
    md_text(out, exp ? exp : "?");
    fputs(" | ", out);
    md_text(out, act ? act : "?");
    fputs(" |", out);
    free(exp);
    free(act);
}

static void put_nonpass_case(FILE *out, const json_t *c)
{
    const char *v = rpt_case_verdict(c);
    fputs("| ", out);
    md_text(out, rpt_str(c, "id", "?"));
    if (json_is_true(json_object_get(c, "insecure")))
        fputs(" ⚠️ insecure-by-design", out);
    fprintf(out, " | %s |", mark(v));
    put_side(out, c, "device");
    put_side(out, c, "peer");
    fputc(' ', out);
    md_text(out, rpt_str(c, "reason", ""));
    const json_t *xf = json_object_get(c, "xfail");
    if (json_is_object(xf)) {
        fputs("<br>known deviation: ", out);
        md_text(out, rpt_str(xf, "reason", ""));
        fputs(" (", out);
        md_text(out, rpt_str(xf, "ref", ""));
        fputc(')', out);
    }
    fprintf(out, " | %lld%s |\n", (long long)rpt_num(c, "attempts", 1),
            json_is_true(json_object_get(c, "flaky")) ? " (flaky)" : "");
}

/* Full records (expected, actual, reason) are read only for the cases listed. */
static int put_nonpass(FILE *out, const struct rpt_src *s, const char *path, struct tm_err *err)
{
    size_t i, n = 0;
    const json_t *c;
    fputs("## Cases that did not pass\n\n", out);
    json_array_foreach(json_object_get(s->run, "cases"), i, c) {
        if (strcmp(rpt_case_verdict(c), "pass") == 0)
            continue;
        json_t *full = rpt_src_case(s, i, path, err);
        if (full == NULL)
            return -1;
        if (n++ == 0)
            fputs("| case | verdict | expected device | actual device | expected peer | "
                  "actual peer | reason | attempts |\n|---|---|---|---|---|---|---|---:|\n", out);
        put_nonpass_case(out, full);
        json_decref(full);
    }
    fputs(n ? "\n" : "Every case passed.\n\n", out);
    return 0;
}

static void put_flaky(FILE *out, const json_t *run)
{
    size_t i, n = 0;
    const json_t *c;
    json_array_foreach(json_object_get(run, "cases"), i, c) {
        if (!json_is_true(json_object_get(c, "flaky")))
            continue;
        if (n++ == 0)
            fputs("## Flaky cases (passed on a retry)\n\n| case | verdict | attempts |\n|---|---|---:|\n",
                  out);
        fputs("| ", out);
        md_text(out, rpt_str(c, "id", "?"));
        fprintf(out, " | %s | %lld |\n", mark(rpt_case_verdict(c)),
                (long long)rpt_num(c, "attempts", 1));
    }
    if (n)
        fputc('\n', out);
}

static void put_changes(FILE *out, const json_t *run, const json_t *baseline)
{
    static const char *const kinds[][2] = {{"regressions", "Regressions"}, {"fixes", "Fixes"},
                                           {"new", "New cases"}, {"removed", "Removed cases"},
                                           {"changed", "Other verdict changes"}};
    json_t *d = report_diff(baseline, run);
    fputs("## Changes against the baseline\n\n", out);
    for (size_t k = 0; d != NULL && k < sizeof kinds / sizeof kinds[0]; k++) {
        const json_t *items = json_object_get(d, kinds[k][0]);
        size_t i;
        const json_t *it;
        fprintf(out, "### %s: %zu\n\n", kinds[k][1], json_array_size(items));
        if (json_array_size(items) == 0)
            continue;
        fputs("| case | baseline | now |\n|---|---|---|\n", out);
        json_array_foreach(items, i, it) {
            fputs("| ", out);
            md_text(out, rpt_str(it, "id", "?"));
            fprintf(out, " | %s | %s |\n", rpt_str(it, "old", NULL) ? mark(rpt_str(it, "old", "")) : "—",
                    rpt_str(it, "new", NULL) ? mark(rpt_str(it, "new", "")) : "—");
        }
        fputc('\n', out);
    }
    json_decref(d);
}

static int put_all(FILE *out, const struct rpt_src *s, const json_t *baseline,
                   const struct rpt_matrix *m, const char *path, struct tm_err *err)
{
    put_header(out, s->run, baseline);
    put_totals(out, s->run);
    put_matrix(out, m);
    if (put_nonpass(out, s, path, err) != 0)
        return -1;
    put_flaky(out, s->run);
    if (baseline != NULL)
        put_changes(out, s->run, baseline);
    return 0;
}

int rpt_write_markdown_src(const struct rpt_src *s, const json_t *baseline, const char *path,
                           struct tm_err *err)
{
    return rpt_write_matrix_report(s, baseline, path, put_all, err);
}

int report_write_markdown(const json_t *run, const json_t *baseline, const char *path,
                          struct tm_err *err)
{
    struct rpt_src s;
    rpt_src_of_run(&s, run);
    return rpt_write_markdown_src(&s, baseline, path, err);
}
