/* summary.md: the run for people reading a CI page or a merge request, most
 * important first: the verdict line, the unexpected results, the known deviations
 * (xfail) apart, skips and flaky cases, changes against a baseline, totals and
 * devices, then the matrix per protocol inside <details> (narrow enough for a
 * comment: backend/keytype columns only). Every
 * device-originated string goes through rpt_md_text(), which makes it inert inside a
 * table cell (pipes, newlines, inline HTML, emphasis and control bytes). */
#include "report.h"
#include "report_int.h"

#include <stdlib.h>
#include <string.h>

#include "tm_fs.h"

static const char *const verdict_mark[RPT_NVERDICTS] = {
    "✅ pass", "❌ fail", "☑️ xfail", "❗ xpass", "💥 error", "⏭️ skip"};

static const char *mark(const char *verdict)
{
    int i = rpt_verdict_index(verdict);
    return i >= 0 ? verdict_mark[i] : verdict;
}

static void put_verdict(FILE *out, const struct rpt_counts *n)
{
    char line[256];
    fprintf(out, "# tlsmatrix run\n\n**%s %s**\n\n", rpt_counts_ok(n) ? "✅" : "❌",
            rpt_verdict_line(n, line, sizeof line));
}

static void put_about(FILE *out, const json_t *run, const json_t *baseline)
{
    const json_t *h = json_object_get(run, "header");
    const char *key;
    const json_t *v;
    size_t i;
    fputs("## Run\n\n", out);
    json_array_foreach(json_object_get(h, "devices"), i, v) {
        char *fw = rpt_device_firmware(v), *id = rpt_device_identity(v);
        const json_t *hello = json_object_get(v, "hello");
        fprintf(out, "- **Device %zu**: link ", i + 1);
        rpt_md_text(out, rpt_str(v, "link", "?"));
        fputs("; firmware ", out);
        rpt_md_text(out, fw ? fw : "?");
        fputs("; build ", out);
        rpt_md_text(out, rpt_str(json_object_get(hello, "uname"), "version", "?"));
        fputs("; ", out);
        rpt_md_text(out, rpt_str(hello, "mbedtls", "mbedTLS ?"));
        fputs("; identity ", out);
        rpt_md_text(out, id ? id : "?");
        fputc('\n', out);
        free(fw);
        free(id);
    }
    fputs("- **Versions**: harness ", out);
    rpt_md_text(out, rpt_str(h, "harness", "?"));
    json_object_foreach((json_t *)json_object_get(h, "versions"), key, v) {
        fputs(", ", out);
        rpt_md_text(out, key);
        fputc(' ', out);
        rpt_md_text(out, json_is_string(v) ? json_string_value(v) : "?");
    }
    fprintf(out, "\n- **Seed**: %lld, **shard**: ", (long long)rpt_num(h, "seed", 0));
    rpt_md_text(out, rpt_str(h, "shard", "?"));
    fputs(", **profile**: ", out);
    rpt_md_text(out, rpt_str(h, "profile", "?"));
    fputs("\n- **Fixture reference time**: ", out);
    rpt_md_text(out, rpt_str(h, "fixture_reference_time", "?"));
    fputs("\n- **Started**: ", out);
    rpt_md_text(out, rpt_str(h, "started", "?"));
    fputs(", **finished**: ", out);
    rpt_md_text(out, rpt_str(h, "finished", "?"));
    fputs(baseline ? "\n- **Baseline**: compared (see Changes)\n\n" : "\n\n", out);
}

static void put_totals(FILE *out, const struct rpt_counts *n)
{
    fputs("## Totals\n\n| cases |", out);
    for (int v = 0; v < RPT_NVERDICTS; v++)
        fprintf(out, " %s |", verdict_mark[v]);
    fputs("\n|---:|", out);
    for (int v = 0; v < RPT_NVERDICTS; v++)
        fputs("---:|", out);
    fprintf(out, "\n| %lld |", n->total);
    for (int v = 0; v < RPT_NVERDICTS; v++)
        fprintf(out, " %lld |", n->n[v]);
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

/* The protocol of a column label "backend/keytype/proto" (its last part). */
static const char *label_proto(const char *label)
{
    const char *slash = strrchr(label, '/');
    return slash ? slash + 1 : label;
}

/* One protocol's matrix: its columns without the protocol part, its rows only. */
static void put_proto_matrix(FILE *out, const struct rpt_matrix *m, const char *proto)
{
    size_t i, j, rows = 0;
    const json_t *row, *col;
    json_array_foreach(m->rows, i, row) {
        const json_t *cells = json_object_get(m->cells, json_string_value(row));
        json_array_foreach(m->cols, j, col)
            if (strcmp(label_proto(json_string_value(col)), proto) == 0
                && json_object_get(cells, json_string_value(col)) != NULL) {
                rows++;
                break;
            }
    }
    fputs("<details><summary>Matrix: ", out);
    rpt_md_text(out, proto);
    fprintf(out, " (%zu scenarios)</summary>\n\n| scenario |", rows);
    json_array_foreach(m->cols, j, col) {
        const char *label = json_string_value(col);
        if (strcmp(label_proto(label), proto) != 0)
            continue;
        char *head = strndup(label, (size_t)(label_proto(label) - label - 1));
        fputc(' ', out);
        rpt_md_text(out, head ? head : "?");
        fputs(" |", out);
        free(head);
    }
    fputs("\n|---|", out);
    json_array_foreach(m->cols, j, col)
        if (strcmp(label_proto(json_string_value(col)), proto) == 0)
            fputs(":---:|", out);
    fputc('\n', out);
    json_array_foreach(m->rows, i, row) {
        const char *s = json_string_value(row);
        const json_t *cells = json_object_get(m->cells, s);
        int any = 0;
        json_array_foreach(m->cols, j, col)
            any |= strcmp(label_proto(json_string_value(col)), proto) == 0
                   && json_object_get(cells, json_string_value(col)) != NULL;
        if (!any)
            continue;
        fputs("| ", out);
        rpt_md_text(out, s);
        if (json_object_get(m->insecure, s) != NULL)
            fputs(" ⚠️ insecure-by-design", out);
        fputs(" |", out);
        json_array_foreach(m->cols, j, col) {
            if (strcmp(label_proto(json_string_value(col)), proto) != 0)
                continue;
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
    fputs("\n</details>\n\n", out);
}

static void put_matrix(FILE *out, const struct rpt_matrix *m)
{
    json_t *protos = json_object();
    size_t j;
    const json_t *col;
    fputs("## Matrix\n\nRows are scenarios, columns backend/keytype, one table per protocol; "
          "⚠️ marks insecure-by-design rows (documented insecure defaults).\n\n", out);
    json_array_foreach(m->cols, j, col) {
        const char *p = label_proto(json_string_value(col));
        if (json_object_get(protos, p) == NULL) {
            json_object_set_new(protos, p, json_true());
            put_proto_matrix(out, m, p);
        }
    }
    json_decref(protos);
}

/* "<expected> | <actual> |" for one end (device or peer). */
static void put_side(FILE *out, const json_t *c, const char *side)
{
    char *exp = rpt_expected_text(json_object_get(json_object_get(c, "expected"), side));
    char *act = rpt_dump(json_object_get(json_object_get(c, "actual"), side));
    fputc(' ', out);
    rpt_md_text(out, exp ? exp : "?");
    fputs(" | ", out);
    rpt_md_text(out, act ? act : "?");
    fputs(" |", out);
    free(exp);
    free(act);
}

static void put_nonpass_case(FILE *out, const json_t *c)
{
    const char *v = rpt_case_verdict(c);
    fputs("| ", out);
    rpt_md_text(out, rpt_str(c, "id", "?"));
    if (json_is_true(json_object_get(c, "insecure")))
        fputs(" ⚠️ insecure-by-design", out);
    fprintf(out, " | %s |", mark(v));
    put_side(out, c, "device");
    put_side(out, c, "peer");
    fputc(' ', out);
    rpt_md_text(out, rpt_str(c, "reason", ""));
    const json_t *xf = json_object_get(c, "xfail");
    if (json_is_object(xf)) {
        fputs("<br>known deviation: ", out);
        rpt_md_text(out, rpt_str(xf, "reason", ""));
        fputs(" (", out);
        rpt_md_text(out, rpt_str(xf, "ref", ""));
        fputc(')', out);
    }
    fprintf(out, " | %lld%s |\n", (long long)rpt_num(c, "attempts", 1),
            json_is_true(json_object_get(c, "flaky")) ? " (flaky)" : "");
}

/* A known deviation in a short row: the case and the profile's reason and ref. */
static void put_xfail_case(FILE *out, const json_t *c)
{
    const json_t *xf = json_object_get(c, "xfail");
    fputs("| ", out);
    rpt_md_text(out, rpt_str(c, "id", "?"));
    fputs(" | ", out);
    rpt_md_text(out, rpt_str(xf, "reason", ""));
    fputs(" (", out);
    rpt_md_text(out, rpt_str(xf, "ref", ""));
    fputs(") |\n", out);
}

static void put_skip_case(FILE *out, const json_t *c)
{
    fputs("| ", out);
    rpt_md_text(out, rpt_str(c, "id", "?"));
    fputs(" | ", out);
    rpt_md_text(out, rpt_str(c, "reason", ""));
    fputs(" |\n", out);
}

/* The cases of one verdict kind in a table of their own. Full records (expected,
 * actual, reason) are read one at a time, only for the cases listed. */
static const struct {
    const char *title, *head, *none;
    void (*row)(FILE *out, const json_t *c);
    int folded;   /* inside <details>: long and rarely what a reviewer reads first */
} sections[] = {
    { "Unexpected results", "| case | verdict | expected device | actual device | expected peer | "
      "actual peer | reason | attempts |\n|---|---|---|---|---|---|---|---:|\n",
      "None: every case met its expectation.", put_nonpass_case, 0 },
    { "Known deviations (xfail)", "| case | deviation (profile) |\n|---|---|\n", NULL,
      put_xfail_case, 0 },
    { "Skipped", "| case | why |\n|---|---|\n", NULL, put_skip_case, 1 },
};

static int section_wants(size_t k, int v)
{
    return k == 0 ? tm_verdict_unexpected(v) : k == 1 ? v == TM_XFAIL : v == TM_SKIP;
}

static int put_section(FILE *out, size_t k, const struct rpt_src *s, const struct rpt_counts *n,
                       const char *path, struct tm_err *err)
{
    size_t i, listed = 0;
    const json_t *c;
    long long count = k == 0 ? n->unexpected : n->n[k == 1 ? TM_XFAIL : TM_SKIP];
    if (count == 0 && sections[k].none == NULL)
        return 0;
    fprintf(out, "## %s: %lld\n\n", sections[k].title, count);
    if (count == 0) {
        fprintf(out, "%s\n\n", sections[k].none);
        return 0;
    }
    if (sections[k].folded)
        fputs("<details><summary>show</summary>\n\n", out);
    json_array_foreach(json_object_get(s->run, "cases"), i, c) {
        if (!section_wants(k, rpt_verdict_index(rpt_case_verdict(c))))
            continue;
        json_t *full = rpt_src_case(s, i, path, err);
        if (full == NULL)
            return -1;
        if (listed++ == 0)
            fputs(sections[k].head, out);
        sections[k].row(out, full);
        json_decref(full);
    }
    fputs(sections[k].folded ? "\n</details>\n\n" : "\n", out);
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
        rpt_md_text(out, rpt_str(c, "id", "?"));
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
            rpt_md_text(out, rpt_str(it, "id", "?"));
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
    struct rpt_counts n;
    rpt_count(s->run, &n);
    put_verdict(out, &n);
    for (size_t k = 0; k < sizeof sections / sizeof sections[0]; k++)
        if (put_section(out, k, s, &n, path, err) != 0)
            return -1;
    put_flaky(out, s->run);
    if (baseline != NULL)
        put_changes(out, s->run, baseline);
    put_totals(out, &n);
    put_about(out, s->run, baseline);
    put_matrix(out, m);
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
