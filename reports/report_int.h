/* Internal helpers shared by the report writers (not part of the public interface). */
#ifndef TM_REPORT_INT_H
#define TM_REPORT_INT_H

#include <jansson.h>
#include <libxml/tree.h>
#include <stddef.h>
#include <stdio.h>

#include "report.h"
#include "tm_err.h"

#include "tm_verdict.h"

#define RPT_NVERDICTS TM_VERDICT_COUNT
/* Index of a verdict name (enum tm_verdict), or -1 for anything else. */
#define rpt_verdict_index(v) tm_verdict_parse(v)

/* obj[key] when it is a string, else dflt. Device-originated fields may be absent
 * or of any type; callers never trust them to be strings. */
const char *rpt_str(const json_t *obj, const char *key, const char *dflt);
/* obj[key] as a number (integer or real) when it is one, else dflt. */
double rpt_num(const json_t *obj, const char *key, double dflt);
/* The case's verdict ("error" when missing or unknown, so nothing vanishes). */
const char *rpt_case_verdict(const json_t *c);

/* Verdict counts of a run's cases. */
struct rpt_counts {
    long long n[RPT_NVERDICTS], total, unexpected;
};
void rpt_count(const json_t *run, struct rpt_counts *n);
/* 1 when the run is green: no unexpected verdict and at least one case ran. */
int rpt_counts_ok(const struct rpt_counts *n);
/* The one-line verdict of a sign-off: "PASS: all 316 cases as expected (304 pass,
 * 12 xfail)", "FAIL: 3 unexpected results of 316 cases (2 fail, 1 error)", "FAIL:
 * no case ran (316 skip)". Returns buf. */
const char *rpt_verdict_line(const struct rpt_counts *n, char *buf, size_t len);

/* A run header's device (contracts §6): its firmware ("micropython 1.27.0 on
 * BOARD with MCU") and its identity ("USB 37c5:1204 serial S; unique_id U", or
 * "virtual camera"), as text. Caller frees; NULL out of memory. */
char *rpt_device_firmware(const json_t *device);
char *rpt_device_identity(const json_t *device);

/* HTML trees (libxml2): a child element whose text (if any) is made XML-safe
 * (rpt_xml_text) and escaped by the serializer; an attribute; more text. */
xmlNodePtr rpt_el(xmlNodePtr parent, const char *name, const char *text);
void rpt_attr(xmlNodePtr n, const char *name, const char *value);
void rpt_text(xmlNodePtr n, const char *s);
/* A new HTML document (*doc) with a head holding title and css (constant text)
 * and a body opening with title as <h1>: the body, or NULL out of memory. */
xmlNodePtr rpt_html_page(xmlDocPtr *doc, const char *title, const char *css);
/* One Markdown table cell's worth of text: | and Markdown specials
 * backslash-escaped, < > & as entities (renderers pass inline HTML through),
 * newlines as <br>, bytes that are not printable text as \xNN. */
void rpt_md_text(FILE *out, const char *s);

/* "<backend>/<keytype>/<proto>" of a case into buf. */
void rpt_axes_label(const json_t *c, char *buf, size_t size);

/* Text safe for XML 1.0 / HTML: characters XML forbids (C0 controls other than
 * tab/newline/CR, DEL, invalid UTF-8) are spelled out as "\xNN" so nothing is lost
 * and the document stays well-formed. Markup characters are left for libxml2 to
 * escape. Caller frees. NULL on allocation failure. */
char *rpt_xml_text(const char *s);

/* HTML id / URL-hash form of a case id: [A-Za-z0-9-] kept, '/' -> '.', any other
 * byte -> "_NN" (hex). Injective, so distinct ids stay distinct. Caller frees. */
char *rpt_anchor(const char *id);

/* Any JSON value as compact text (for device_reply/peer_result dumps). Caller frees. */
char *rpt_dump(const json_t *v);

/* {case id: verdict} of a run (NULL for a NULL run), built once per report so
 * baseline lookups stay O(1). Caller decrefs. */
json_t *rpt_verdicts_by_id(const json_t *run);
/* Verdict of case id in such an index, or NULL (no baseline, or a new case). */
const char *rpt_baseline_verdict(const json_t *index, const char *id);
/* "regression", "fix", "new" or NULL comparing old (may be NULL) to new verdicts;
 * the classification is report_diff's (report.h). */
const char *rpt_change_kind(const char *old_v, const char *new_v);

#endif

/* The matrix layout shared by summary.md and matrix.html: scenarios in run order
 * (rows) and distinct "<backend>/<keytype>/<proto>" labels, sorted (columns). */
struct rpt_matrix {
    json_t *rows;    /* array of scenario names */
    json_t *cols;    /* array of axes labels */
    json_t *cells;   /* {"<scenario>": {"<label>": [case, …]}} (borrowed cases) */
    json_t *insecure; /* {"<scenario>": true} for insecure-by-design rows */
    json_t *base;    /* rpt_verdicts_by_id(baseline), NULL without a baseline */
};
int rpt_matrix_build(const json_t *run, const json_t *baseline, struct rpt_matrix *m);
void rpt_matrix_free(struct rpt_matrix *m);
/* "a or b" of an expected-outcome list, or the JSON of anything else. Caller frees. */
char *rpt_expected_text(const json_t *expected_side);

/* Where the writers find a run's cases. run: {"header", "cases", "totals"} whose
 * cases carry at least the light fields (rpt_light_case), enough for the layout,
 * totals and tables; full(ctx, i): case i with everything (transcripts, replies),
 * a new reference, read one at a time so memory stays flat with the case count. */
struct rpt_src {
    const json_t *run;
    report_case_fn full;
    void *ctx;
};
/* A run held in memory: its own cases are both light and full. */
void rpt_src_of_run(struct rpt_src *s, const json_t *run);
/* Case i in full, or NULL with err naming path. Caller decrefs. */
json_t *rpt_src_case(const struct rpt_src *s, size_t i, const char *path, struct tm_err *err);
/* The fields the light run keeps of a case: what the matrix layout, totals, diff,
 * flaky list and junit counts read (id, scenario, verdict, axes, insecure, flaky,
 * attempts, timings_ms.total). insecure/flaky are left out when false and attempts
 * when 1 (readers use json_is_true / rpt_num(…, 1)); values many cases share may be
 * one object, so the light list is read-only. New reference. */
json_t *rpt_light_case(const json_t *c);
/* {"pass":n, …} over cases. New reference. */
json_t *rpt_totals(const json_t *cases);

int rpt_write_all_src(const struct rpt_src *s, const json_t *baseline, const char *dir,
                      struct tm_err *err);
int rpt_write_json_src(const struct rpt_src *s, const char *path, struct tm_err *err);
int rpt_write_junit_src(const struct rpt_src *s, const char *path, struct tm_err *err);
int rpt_write_markdown_src(const struct rpt_src *s, const json_t *baseline, const char *path,
                           struct tm_err *err);
int rpt_write_html_src(const struct rpt_src *s, const json_t *baseline, const char *path,
                       struct tm_err *err);

/* Streamed, atomic report files: write to tmp (path.tmp.PID), then rpt_out_close
 * renames it over path, or removes it when failed (the writer's own error, already
 * in err) or when writing failed. */
FILE *rpt_out_open(const char *path, char *tmp, size_t tmplen, struct tm_err *err);
int rpt_out_close(FILE *f, const char *tmp, const char *path, int failed, struct tm_err *err);

/* A report drawn from the matrix (HTML page, Markdown summary): builds the matrix,
 * runs the writer on an atomic report file, frees the matrix. */
typedef int (*rpt_matrix_writer)(FILE *out, const struct rpt_src *s, const json_t *baseline,
                                 const struct rpt_matrix *m, const char *path,
                                 struct tm_err *err);
int rpt_write_matrix_report(const struct rpt_src *s, const json_t *baseline, const char *path,
                            rpt_matrix_writer write, struct tm_err *err);
