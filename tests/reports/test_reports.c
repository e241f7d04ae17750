/* Report writers against a realistic run: every case in every report, JUnit valid
 * against Jenkins' schema, HTML well-formed and inert, Markdown cells escaped, diff,
 * merge and load errors exact. */
#include <check.h>
#include <stdarg.h>
#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/xmlschemas.h>
#include <libxml/xpath.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "run_fixture.h"
#include "tm_fs.h"

#define XSD_PATH TM_SOURCE_DIR "/tests/reports/jenkins-junit.xsd"

/* One directory per test case run; an unchecked fixture runs in the parent, so the
 * directory is removed even when a forked test fails or crashes. */
static char *tmpdir;

static void setup(void)
{
    tmpdir = fixture_tmpdir("unit");
    if (tmpdir == NULL) {
        perror("mkdtemp");
        exit(99);
    }
}

static void teardown(void)
{
    fixture_rmtree(tmpdir);
    free(tmpdir);
    tmpdir = NULL;
}

static char *path_in(const char *sub, const char *name)
{
    char *p = NULL;
    ck_assert_int_ge(asprintf(&p, "%s/%s/%s", tmpdir, sub, name), 0);
    return p;
}

static char *write_reports(const char *sub, json_t *run, json_t *baseline)
{
    struct tm_err err = { 0 };
    char *dir = NULL;
    ck_assert_int_ge(asprintf(&dir, "%s/%s", tmpdir, sub), 0);
    ck_assert_msg(report_write_all(run, baseline, dir, &err) == 0, "write_all: %s", err.msg);
    return dir;
}

static long xpath_count(xmlDocPtr doc, const char *expr)
{
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
    ck_assert_msg(o != NULL, "bad xpath %s", expr);
    long n = o->type == XPATH_NUMBER ? (long)o->floatval
             : o->nodesetval ? o->nodesetval->nodeNr : 0;
    xmlXPathFreeObject(o);
    xmlXPathFreeContext(ctx);
    return n;
}

static char *xpath_string(xmlDocPtr doc, const char *expr)
{
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
    ck_assert_msg(o != NULL, "bad xpath %s", expr);
    xmlChar *s = xmlXPathCastToString(o);
    char *out = strdup((const char *)s);
    xmlFree(s);
    xmlXPathFreeObject(o);
    xmlXPathFreeContext(ctx);
    return out;
}

/* ---- run.json ---- */

START_TEST(t_json_roundtrip)
{
    json_t *run = fixture_run();
    char *dir = write_reports("json", run, NULL);
    char *p = path_in("json", "run.json");
    struct tm_err err = { 0 };
    json_t *back = report_load_run(p, &err);
    ck_assert_msg(back != NULL, "%s", err.msg);
    ck_assert(json_equal(run, back));
    char *text = fixture_slurp(p);
    /* pretty and sorted: "cases" is the first key, two-space indent */
    ck_assert_msg(strncmp(text, "{\n  \"cases\": [", 14) == 0, "%.40s", text);
    ck_assert_ptr_nonnull(strstr(text, "\\u0004"));
    free(text);
    free(p);
    free(dir);
    json_decref(back);
    json_decref(run);
}
END_TEST

/* ---- every case appears in every report ---- */

START_TEST(t_every_case_everywhere)
{
    json_t *run = fixture_run();
    char *dir = write_reports("all", run, NULL);
    char *jp = path_in("all", "junit.xml"), *mp = path_in("all", "summary.md");
    char *hp = path_in("all", "matrix.html");
    xmlDocPtr junit = xmlReadFile(jp, NULL, XML_PARSE_NONET);
    htmlDocPtr html = htmlReadFile(hp, "UTF-8", HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING);
    char *md = fixture_slurp(mp);
    ck_assert_ptr_nonnull(junit);
    ck_assert_ptr_nonnull(html);
    ck_assert_ptr_nonnull(md);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(run, "cases"), i, c) {
        const char *id = json_string_value(json_object_get(c, "id"));
        const char *scen = json_string_value(json_object_get(c, "scenario"));
        char expr[1024];
        snprintf(expr, sizeof expr, "//testsuite[@name='tlsmatrix.%s']/testcase[@classname='tlsmatrix.%s' and @name='%s']",
                 scen, scen, id + strlen(scen) + 1);
        ck_assert_msg(xpath_count(junit, expr) == 1, "junit lacks %s", id);
        /* the anchor of "a/b/c/d" is "a.b.c.d" (ids here are [a-z0-9-/]) */
        char anchor[256];
        snprintf(anchor, sizeof anchor, "%s", id);
        for (char *p = anchor; *p; p++)
            if (*p == '/')
                *p = '.';
        snprintf(expr, sizeof expr, "//details[@id='case-%s']", anchor);
        ck_assert_msg(xpath_count(html, expr) == 1, "html lacks details for %s", id);
        snprintf(expr, sizeof expr, "//table[@id='matrix']//td[@id='cell-%s' and @data-case='%s']",
                 anchor, anchor);
        ck_assert_msg(xpath_count(html, expr) == 1, "html lacks a cell for %s", id);
        snprintf(expr, sizeof expr, "string(//details[@id='case-%s']//th[.='verdict']/../td)", anchor);
        char *v = xpath_string(html, expr);
        ck_assert_str_eq(v, json_string_value(json_object_get(c, "verdict")));
        free(v);
    }
    /* the heap figures of a case that left only heap_free bytes free */
    char *hv = xpath_string(html, "string(//details[@id='case-client-chain-root-anchor.openssl.p256.tls']"
                                  "//th[.='heap_free reached']/../td)");
    ck_assert_str_eq(hv, "40012 bytes");
    free(hv);
    hv = xpath_string(html, "string(//details[@id='case-client-chain-root-anchor.openssl.p256.tls']"
                            "//th[.='heap free before']/../td)");
    ck_assert_str_eq(hv, "237568 bytes");
    free(hv);
    /* markdown: one matrix cell per case (8 verdict marks in the per-protocol
     * matrices, the last section) */
    const char *mx = strstr(md, "## Matrix"), *mend = md + strlen(md);
    ck_assert(mx != NULL && mend != NULL && mx < mend);
    int cells = 0;
    static const char *const marks[] = {"✅ pass", "❌ fail", "☑️ xfail", "❗ xpass", "💥 error", "⏭️ skip"};
    for (size_t k = 0; k < 6; k++)
        for (const char *p = mx; (p = strstr(p, marks[k])) != NULL && p < mend; p++)
            cells++;
    ck_assert_int_eq(cells, 8);
    /* markdown: the matrix has one row per scenario; non-pass ids listed */
    ck_assert_ptr_nonnull(strstr(md, "| client-chain-root-anchor |"));
    ck_assert_ptr_nonnull(strstr(md, "| server-verify-none ⚠️ insecure-by-design |"));
    ck_assert_ptr_nonnull(strstr(md, "| dtls-cookie |"));
    ck_assert_ptr_nonnull(strstr(md, "| client-chain-root-anchor/gnutls/p256/tls | ❌ fail |"));
    ck_assert_ptr_nonnull(strstr(md, "| server-verify-none/gnutls/rsa2048/tls ⚠️ insecure-by-design | 💥 error |"));
    ck_assert_ptr_nonnull(strstr(md, "| dtls-cookie/gnutls/p256/dtls | ✅ pass | 2 |"));  /* flaky list */
    /* header facts */
    ck_assert_ptr_nonnull(strstr(md, "**Seed**: 42"));
    ck_assert_ptr_nonnull(strstr(md, "firmware micropython 1.27.0 on OpenMV &lt;Cam&gt; &amp; \"H7\""));
    /* the verdict line first, the unexpected results before the rest */
    ck_assert_msg(strncmp(md, "# tlsmatrix run\n\n**❌ FAIL: 4 unexpected results of 8 cases "
                              "(2 fail, 1 xpass, 1 error)**\n\n## Unexpected results: 4\n", 110) == 0,
                  "%.200s", md);
    ck_assert(strstr(md, "## Known deviations (xfail): 1") < strstr(md, "## Totals"));
    ck_assert_ptr_nonnull(strstr(md, "<details><summary>Matrix: dtls (2 scenarios)</summary>\n\n"
                                     "| scenario | gnutls/p256 | gnutls/rsa2048 | openssl/p256 | openssl/rsa2048 |\n"));
    ck_assert_ptr_nonnull(strstr(md, "| 8 | 2 | 2 | 1 | 1 | 1 | 1 |"));  /* totals */
    xmlFreeDoc(junit);
    xmlFreeDoc(html);
    free(md);
    free(jp);
    free(mp);
    free(hp);
    free(dir);
    json_decref(run);
}
END_TEST

/* ---- JUnit ---- */

/* First schema error, for messages (and to keep expected rejections off stderr). */
static void schema_error(void *ctx, xmlErrorPtr e)
{
    char *first = ctx;
    if (first[0] == '\0')
        snprintf(first, 256, "%s", e->message ? e->message : "?");
}

static int validate_msg(xmlDocPtr doc, char first[256])
{
    xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(XSD_PATH);
    xmlSchemaPtr schema = xmlSchemaParse(pc);
    ck_assert_msg(schema != NULL, "cannot parse %s", XSD_PATH);
    xmlSchemaValidCtxtPtr vc = xmlSchemaNewValidCtxt(schema);
    first[0] = '\0';
    xmlSchemaSetValidStructuredErrors(vc, schema_error, first);
    int rc = xmlSchemaValidateDoc(vc, doc);
    xmlSchemaFreeValidCtxt(vc);
    xmlSchemaFree(schema);
    xmlSchemaFreeParserCtxt(pc);
    return rc;
}

static int validate(xmlDocPtr doc)
{
    char first[256];
    int rc = validate_msg(doc, first);
    if (rc != 0)
        fprintf(stderr, "junit.xml: %s\n", first);
    return rc;
}

START_TEST(t_junit_valid_and_counted)
{
    json_t *run = fixture_run();
    char *dir = write_reports("junit", run, NULL);
    char *jp = path_in("junit", "junit.xml");
    xmlDocPtr doc = xmlReadFile(jp, NULL, XML_PARSE_NONET);
    ck_assert_msg(doc != NULL, "junit.xml is not well-formed XML");
    ck_assert_int_eq(validate(doc), 0);
    /* whole run: 8 tests, failures = fail + xpass, errors = error */
    ck_assert_int_eq(xpath_count(doc, "number(/testsuites/@tests)"), 8);
    ck_assert_int_eq(xpath_count(doc, "number(/testsuites/@failures)"), 3);
    ck_assert_int_eq(xpath_count(doc, "number(/testsuites/@errors)"), 1);
    ck_assert_int_eq(xpath_count(doc, "count(//testsuite)"), 3);
    ck_assert_int_eq(xpath_count(doc, "sum(//testsuite/@tests)"), 8);
    ck_assert_int_eq(xpath_count(doc, "sum(//testsuite/@skipped)"), 2);  /* skip + xfail */
    ck_assert_int_eq(xpath_count(doc, "count(//testcase)"), 8);
    ck_assert_int_eq(xpath_count(doc, "count(//testcase/failure)"), 3);
    ck_assert_int_eq(xpath_count(doc, "count(//testcase/error)"), 1);
    ck_assert_int_eq(xpath_count(doc, "count(//testcase/skipped)"), 2);
    ck_assert_int_eq(xpath_count(doc, "count(//testcase/failure[@type='xpass'])"), 1);
    /* each suite's counts match its testcases */
    ck_assert_int_eq(xpath_count(doc, "count(//testsuite[@tests != count(testcase)])"), 0);
    ck_assert_int_eq(xpath_count(doc, "count(//testsuite[@failures != count(testcase/failure)])"), 0);
    ck_assert_int_eq(xpath_count(doc, "count(//testsuite[@errors != count(testcase/error)])"), 0);
    /* seconds, properties, flaky retries, xfail reason, device string intact */
    char *t = xpath_string(doc, "string(//testcase[@name='openssl/p256/tls'][1]/@time)");
    ck_assert_str_eq(t, "1.250");
    free(t);
    ck_assert_int_eq(xpath_count(doc, "count(//testsuite[1]/properties/property[@name='seed' and @value='42'])"), 1);
    ck_assert_int_eq(xpath_count(doc, "count(//testsuite[1]/properties/property[@name='version.gnutls' and @value='3.7.9'])"), 1);
    ck_assert_int_eq(xpath_count(doc, "count(//testsuite[1]/properties/property[@name='profile'])"), 1);
    ck_assert_int_eq(xpath_count(doc, "count(//testcase[@classname='tlsmatrix.dtls-cookie' and @name='gnutls/p256/dtls']/system-out[contains(., 'attempts: 2 (flaky')])"), 1);
    ck_assert_int_eq(xpath_count(doc, "count(//skipped[starts-with(., 'xfail: DTLS chain order (docs/device-model.md')])"), 1);
    char *msg = xpath_string(doc, "string(//error/@message)");
    ck_assert_ptr_nonnull(strstr(msg, "<script>alert(1)</script> & \"quoted\""));
    ck_assert_ptr_nonnull(strstr(msg, "\\x04 end"));  /* control byte spelled out */
    char *ftext = xpath_string(doc, "string(//testcase[@name='gnutls/p256/tls']/failure)");
    ck_assert_ptr_nonnull(strstr(ftext, "expected: device ok; peer ok\nactual: device error:handshake; peer alert:bad_certificate\n"));
    free(ftext);
    free(msg);
    xmlFreeDoc(doc);
    free(jp);
    free(dir);
    json_decref(run);
}
END_TEST

/* The validator does reject what Jenkins would not read (so the check above can fail). */
START_TEST(t_junit_schema_rejects)
{
    static const char bad[] = "<testsuites><testsuite name='x' tests='1'><testcase classname='c'/>"
                              "</testsuite></testsuites>";
    static const char bad2[] = "<testsuites><testsuite name='x' tests='1'><testcase name='n'>"
                               "<skipped message='m'/></testcase></testsuite></testsuites>";
    xmlDocPtr d1 = xmlReadMemory(bad, sizeof bad - 1, "bad.xml", NULL, 0);
    xmlDocPtr d2 = xmlReadMemory(bad2, sizeof bad2 - 1, "bad2.xml", NULL, 0);
    char first[256];
    ck_assert_int_ne(validate_msg(d1, first), 0);
    ck_assert_msg(strstr(first, "'name' is required") != NULL, "%s", first);
    ck_assert_int_ne(validate_msg(d2, first), 0);
    ck_assert_msg(strstr(first, "'message' is not allowed") != NULL, "%s", first);
    xmlFreeDoc(d1);
    xmlFreeDoc(d2);
}
END_TEST

/* ---- HTML ---- */

struct html_errs {
    int n;
    char first[256];
};

static void collect(void *ctx, xmlErrorPtr e)
{
    struct html_errs *h = ctx;
    /* libxml2's HTML parser knows HTML 4 only; details/summary are "unknown tags". */
    if (e->code == XML_HTML_UNKNOWN_TAG)
        return;
    if (h->n++ == 0)
        snprintf(h->first, sizeof h->first, "line %d: %s", e->line, e->message);
}

/* What an HTML test made: the parsed page, its text and paths, the run. */
static void page_free(htmlDocPtr doc, char *raw, char *hp, char *dir, json_t *run)
{
    xmlFreeDoc(doc);
    free(raw);
    free(hp);
    free(dir);
    json_decref(run);
}

START_TEST(t_html_wellformed_and_inert)
{
    json_t *run = fixture_run();
    char *dir = write_reports("html", run, NULL);
    char *hp = path_in("html", "matrix.html");
    char *raw = fixture_slurp(hp);
    ck_assert_ptr_nonnull(raw);
    ck_assert_ptr_null(strstr(raw, "<script>alert"));
    ck_assert_ptr_nonnull(strstr(raw, "&lt;script&gt;alert(1)"));
    ck_assert_ptr_null(strchr(raw, '\x04'));
    ck_assert_msg(strncmp(raw, "<!DOCTYPE html>", 15) == 0, "%.30s", raw);
    /* self-contained: no external resources; links only within the page */
    ck_assert_ptr_null(strstr(raw, "src="));
    ck_assert_ptr_null(strstr(raw, "://"));
    ck_assert_ptr_null(strstr(raw, "<link"));

    struct html_errs errs = {0, ""};
    xmlSetStructuredErrorFunc(&errs, collect);  /* libxml2 2.9: no per-context handler */
    htmlDocPtr doc = htmlReadMemory(raw, (int)strlen(raw), "matrix.html", "UTF-8", HTML_PARSE_NONET);
    xmlSetStructuredErrorFunc(NULL, NULL);
    ck_assert_ptr_nonnull(doc);
    ck_assert_msg(errs.n == 0, "%d HTML parse errors, first %s", errs.n, errs.first);
    ck_assert_int_eq(xpath_count(doc, "count(//script)"), 1);  /* only ours */
    ck_assert_int_eq(xpath_count(doc, "count(//*[@src])"), 0);
    ck_assert_int_eq(xpath_count(doc, "count(//*[@href and not(starts-with(@href, '#open='))])"), 0);
    /* sign-off order: banner, totals, devices, unexpected results, then the matrix */
    ck_assert_int_eq(xpath_count(doc, "count(//body/h1/following-sibling::*[1][@id='verdict' and @class='banner bad'])"), 1);
    ck_assert_int_eq(xpath_count(doc, "count(//table[@id='unexpected']//tr[td])"), 4);
    ck_assert_int_eq(xpath_count(doc, "count(//table[@id='unexpected']/following::table[@id='matrix'])"), 1);
    ck_assert_int_eq(xpath_count(doc, "count(//table[@id='devices']//td[.='device 1'])"), 1);
    ck_assert_int_eq(xpath_count(doc, "count(//input[@id='failures-only'])"), 1);
    ck_assert_int_eq(xpath_count(doc, "count(//tbody/tr[@data-scenario][@data-bad])"), 3);
    /* a passing case's transcript stays in its bundle */
    ck_assert_int_eq(xpath_count(doc, "count(//details[@id='case-client-chain-root-anchor.openssl.p256.tls']//pre[@class='transcript'])"), 0);
    /* the device string survives as text, exactly, in reason and transcript */
    const char *a = "case-server-verify-none.gnutls.rsa2048.tls";
    char expr[256];
    snprintf(expr, sizeof expr, "string(//details[@id='%s']//th[.='reason']/../td)", a);
    char *reason = xpath_string(doc, expr);
    ck_assert_str_eq(reason, "<script>alert(1)</script> & \"quoted\" 'single' a|b\nline2 \\x04 end");
    free(reason);
    snprintf(expr, sizeof expr, "count(//details[@id='%s']//pre[@data-source='agent' and contains(., 'Traceback')])", a);
    ck_assert_int_eq(xpath_count(doc, expr), 1);
    /* insecure rows flagged, coloured cells, no baseline column without a baseline */
    ck_assert_int_eq(xpath_count(doc, "count(//tr[@class='insecure-row'])"), 1);
    ck_assert_int_eq(xpath_count(doc, "count(//td[contains(@class,'v-xpass')][@data-case])"), 1);
    ck_assert_int_eq(xpath_count(doc, "count(//th[.='vs baseline'])"), 0);
    ck_assert_int_eq(xpath_count(doc, "count(//style)"), 1);
    page_free(doc, raw, hp, dir, run);
}
END_TEST

/* The totals colour a verdict's count only when it is not 0: "0 error" in red
 * would read as a failure on a sign-off page. */
START_TEST(t_html_zero_counts_uncoloured)
{
    json_t *run = fixture_run(), *cases = json_object_get(run, "cases");
    for (size_t i = json_array_size(cases); i-- > 0;)
        if (strcmp(json_string_value(json_object_get(json_array_get(cases, i), "verdict")), "error") == 0)
            json_array_remove(cases, i);
    report_update_totals(run);
    char *dir = write_reports("zeros", run, NULL);
    char *hp = path_in("zeros", "matrix.html");
    char *raw = fixture_slurp(hp);
    ck_assert_ptr_nonnull(raw);
    htmlDocPtr doc = htmlReadMemory(raw, (int)strlen(raw), "matrix.html", "UTF-8",
                                    HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING);
    ck_assert_ptr_nonnull(doc);
    ck_assert_int_eq(xpath_count(doc, "count(//table[@id='totals']//td[@data-verdict='error' and .='0'])"), 1);
    ck_assert_int_eq(xpath_count(doc, "count(//table[@id='totals']//td[@data-verdict='error'][@class])"), 0);
    ck_assert_int_eq(xpath_count(doc, "count(//table[@id='totals']//td[@data-verdict='fail'][@class='v-fail'])"), 1);
    page_free(doc, raw, hp, dir, run);
}
END_TEST

/* ---- Markdown ---- */

/* Unescaped pipes in a table line (a cell border each). */
static int borders(const char *line, size_t len)
{
    int n = 0;
    for (size_t i = 0; i < len; i++)
        if (line[i] == '|' && (i == 0 || line[i - 1] != '\\'))
            n++;
    return n;
}

START_TEST(t_markdown_cells_escaped)
{
    json_t *run = fixture_run();
    char *dir = write_reports("md", run, NULL);
    char *mp = path_in("md", "summary.md");
    char *md = fixture_slurp(mp);
    ck_assert_ptr_nonnull(md);
    ck_assert_ptr_null(strstr(md, "<script>"));
    ck_assert_ptr_null(strchr(md, '\x04'));
    ck_assert_ptr_nonnull(strstr(md, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; \"quoted\" 'single' a\\|b<br>line2 \\\\x04 end"));
    /* every table row has as many borders as its table's header row */
    int header = -1;
    for (char *line = md; *line != '\0';) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (len > 0 && line[0] == '|') {
            int b = borders(line, len);
            if (header < 0)
                header = b;
            ck_assert_msg(b == header, "row has %d borders, header %d: %.*s", b, header,
                          (int)len, line);
        } else {
            header = -1;
        }
        line += len + (nl != NULL);
    }
    /* expected vs actual of the failing case */
    ck_assert_ptr_nonnull(strstr(md, "| client-chain-root-anchor/gnutls/p256/tls | ❌ fail | ok | error:handshake | ok | alert:bad\\_certificate |"));
    ck_assert_ptr_nonnull(strstr(md, "| client-chain-root-anchor/openssl/rsa2048/dtls | DTLS chain order (docs/device-model.md §2.3) |"));
    free(md);
    free(mp);
    free(dir);
    json_decref(run);
}
END_TEST

/* ---- diff ---- */

static json_t *ids_of(const json_t *items)
{
    json_t *out = json_array();
    size_t i;
    const json_t *it;
    json_array_foreach(items, i, it) json_array_append(out, json_object_get(it, "id"));
    return out;
}

static void assert_ids(const json_t *diff, const char *kind, const char *expected_json)
{
    json_t *want = json_loads(expected_json, 0, NULL);
    json_t *got = ids_of(json_object_get(diff, kind));
    char *g = json_dumps(got, 0);
    ck_assert_msg(json_equal(want, got), "%s: got %s, want %s", kind, g, expected_json);
    free(g);
    json_decref(want);
    json_decref(got);
}

static void set_verdict(json_t *run, const char *id, const char *v)
{
    json_t *c = fixture_case(run, id);
    ck_assert_ptr_nonnull(c);
    json_object_set_new(c, "verdict", json_string(v));
}

START_TEST(t_diff_exact)
{
    json_t *old = fixture_run(), *new = fixture_run();
    /* regressions: pass->fail, xfail->error, skip->fail; fixes: fail->pass,
     * error->xfail; changed: skip->pass; removed: one case; new: one case */
    set_verdict(new, "client-chain-root-anchor/openssl/p256/tls", "fail");
    set_verdict(new, "client-chain-root-anchor/openssl/rsa2048/dtls", "error");
    set_verdict(new, "client-chain-root-anchor/gnutls/p256/tls", "pass");
    set_verdict(new, "server-verify-none/gnutls/rsa2048/tls", "xfail");
    set_verdict(new, "dtls-cookie/openssl/p256/dtls", "pass");
    json_array_remove(json_object_get(new, "cases"), 7);  /* dtls-cookie/gnutls/rsa2048/dtls */
    json_t *extra = json_deep_copy(fixture_case(old, "dtls-cookie/gnutls/p256/dtls"));
    json_object_set_new(extra, "id", json_string("dtls-cookie/gnutls/ed25519/dtls"));
    json_array_append_new(json_object_get(new, "cases"), extra);
    set_verdict(old, "dtls-cookie/gnutls/p256/dtls", "skip");
    set_verdict(new, "dtls-cookie/gnutls/p256/dtls", "fail");

    json_t *d = report_diff(old, new);
    ck_assert_ptr_nonnull(d);
    assert_ids(d, "regressions", "[\"client-chain-root-anchor/openssl/p256/tls\", \"client-chain-root-anchor/openssl/rsa2048/dtls\", \"dtls-cookie/gnutls/p256/dtls\"]");
    assert_ids(d, "fixes", "[\"client-chain-root-anchor/gnutls/p256/tls\", \"server-verify-none/gnutls/rsa2048/tls\"]");
    assert_ids(d, "changed", "[\"dtls-cookie/openssl/p256/dtls\"]");
    assert_ids(d, "removed", "[\"dtls-cookie/gnutls/rsa2048/dtls\"]");
    assert_ids(d, "new", "[\"dtls-cookie/gnutls/ed25519/dtls\"]");
    const json_t *r0 = json_array_get(json_object_get(d, "regressions"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(r0, "old")), "pass");
    ck_assert_str_eq(json_string_value(json_object_get(r0, "new")), "fail");
    ck_assert(json_is_null(json_object_get(json_array_get(json_object_get(d, "removed"), 0), "new")));

    /* printing names them and counts a removed case with the regressions: a
     * case that vanished is one for a CI job */
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    ck_assert_int_eq(report_print_diff(d, out), 4);
    fclose(out);
    ck_assert_ptr_nonnull(strstr(text, "Regressions: 3\n  client-chain-root-anchor/openssl/p256/tls  pass -> fail\n"));
    ck_assert_ptr_nonnull(strstr(text, "Removed cases: 1\n  dtls-cookie/gnutls/rsa2048/dtls  fail -> (none)\n"));
    free(text);

    /* identical runs: an empty diff */
    json_t *same = report_diff(old, old);
    const char *k;
    json_t *v;
    json_object_foreach(same, k, v) ck_assert_msg(json_array_size(v) == 0, "%s not empty", k);
    json_decref(same);

    /* the baseline shows in summary.md and matrix.html */
    char *dir = write_reports("base", new, old);
    char *mp = path_in("base", "summary.md"), *hp = path_in("base", "matrix.html");
    char *md = fixture_slurp(mp);
    ck_assert_ptr_nonnull(strstr(md, "### Regressions: 3\n"));
    ck_assert_ptr_nonnull(strstr(md, "### Fixes: 2\n"));
    ck_assert_ptr_nonnull(strstr(md, "❌ fail (regression)"));
    htmlDocPtr doc = htmlReadFile(hp, "UTF-8", HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING);
    ck_assert_int_eq(xpath_count(doc, "count(//th[.='vs baseline'])"), 1);
    ck_assert_int_eq(xpath_count(doc, "count(//td[@id='cell-client-chain-root-anchor.openssl.p256.tls']/sup[@class='regression'])"), 1);
    ck_assert_int_eq(xpath_count(doc, "count(//td[@class='change']/span[.='▼ 2 regressions '])"), 1);
    xmlFreeDoc(doc);
    free(md);
    free(mp);
    free(hp);
    free(dir);
    json_decref(d);
    json_decref(old);
    json_decref(new);
}
END_TEST

/* ---- fidelity ---- */

/* Two devices' runs of one catalog, device side case by case: the same, a
 * difference the hello explains (a capability skip), one a profile explains
 * (an xfail), one nothing explains (another exception text), and cases in one
 * run only. */
START_TEST(fidelity_explains_differences)
{
    const char *a_text =
        "{\"format\":\"tlsmatrix-run/1\",\"header\":{\"profile\":\"pa\"},\"cases\":["
        "{\"id\":\"same\",\"verdict\":\"pass\",\"actual\":{\"device\":\"ok\"},\"device_reply\":{\"stage\":null,\"exc\":null}},"
        "{\"id\":\"text\",\"verdict\":\"pass\",\"actual\":{\"device\":\"error:x\"},"
        " \"device_reply\":{\"stage\":\"handshake\",\"exc\":{\"type\":\"OSError\",\"text\":\"(-1, 'A')\"}}},"
        "{\"id\":\"skip\",\"verdict\":\"pass\",\"actual\":{\"device\":\"ok\"}},"
        "{\"id\":\"xf\",\"verdict\":\"pass\",\"actual\":{\"device\":\"error:y\"}},"
        "{\"id\":\"both\",\"verdict\":\"skip\",\"reason\":\"r\",\"actual\":{\"device\":null}},"
        "{\"id\":\"only-a\",\"verdict\":\"pass\",\"actual\":{\"device\":\"ok\"}}]}";
    const char *b_text =
        "{\"format\":\"tlsmatrix-run/1\",\"header\":{\"profile\":\"pb\"},\"cases\":["
        "{\"id\":\"same\",\"verdict\":\"pass\",\"actual\":{\"device\":\"ok\"},\"device_reply\":{\"stage\":null,\"exc\":null}},"
        "{\"id\":\"text\",\"verdict\":\"pass\",\"actual\":{\"device\":\"error:x\"},"
        " \"device_reply\":{\"stage\":\"handshake\",\"exc\":{\"type\":\"OSError\",\"text\":\"(-1, 'B')\"}}},"
        "{\"id\":\"skip\",\"verdict\":\"skip\",\"reason\":\"device has no ssl wrapper\",\"actual\":{\"device\":null}},"
        "{\"id\":\"xf\",\"verdict\":\"xfail\",\"actual\":{\"device\":\"ok\"},\"xfail\":{\"reason\":\"known\",\"ref\":null}},"
        "{\"id\":\"both\",\"verdict\":\"skip\",\"reason\":\"r\",\"actual\":{\"device\":null}},"
        "{\"id\":\"only-b\",\"verdict\":\"pass\",\"actual\":{\"device\":\"ok\"}}]}";
    json_t *a = json_loads(a_text, 0, NULL), *b = json_loads(b_text, 0, NULL);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    json_t *f = report_fidelity(a, b);
    ck_assert_ptr_nonnull(f);
    const json_t *t = json_object_get(f, "totals");
    const char *keys[] = { "compared", "same", "same_skipped", "explained", "unexplained", "only_a", "only_b" };
    const int want[] = { 5, 1, 1, 2, 1, 1, 1 };
    for (size_t i = 0; i < 7; i++)
        ck_assert_msg(json_integer_value(json_object_get(t, keys[i])) == want[i], "%s: %lld", keys[i],
                      (long long)json_integer_value(json_object_get(t, keys[i])));
    const json_t *u = json_array_get(json_object_get(f, "unexplained"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(u, "id")), "text");
    ck_assert_str_eq(json_string_value(json_object_get(u, "differs_in")), "exception text");
    const json_t *e0 = json_array_get(json_object_get(f, "explained"), 0);
    const json_t *e1 = json_array_get(json_object_get(f, "explained"), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(e0, "why"), "by")), "hello");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(e1, "why"), "by")), "profile");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(e1, "why"), "profile")), "pb");
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    ck_assert_int_eq(report_print_fidelity(f, "A", "B", out), 1);
    fclose(out);
    ck_assert_msg(strstr(text, "5 cases compared: 2 the same (1 skipped on both), 2 differ explained, "
                               "1 differ unexplained; 1 only in a, 1 only in b"), "%s", text);
    ck_assert_msg(strstr(text, "unexplained  text (differs in exception text)\n"
                               "    a: error:x at handshake, OSError (-1, 'A')\n"), "%s", text);
    ck_assert_msg(strstr(text, "why: profile pb of run b expects it: known"), "%s", text);
    free(text);
    json_decref(f);
    /* A run against itself: every case the same. */
    f = report_fidelity(a, a);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(f, "totals"), "unexplained")), 0);
    ck_assert_int_eq(json_array_size(json_object_get(f, "explained")), 0);
    json_decref(f);
    json_decref(a);
    json_decref(b);
}
END_TEST

/* ---- merge ---- */

static json_t *shard_of(const json_t *run, size_t k, size_t n, const char *label)
{
    json_t *s = json_deep_copy(run);
    json_t *cases = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(run, "cases"), i, c) if (i % n == k)
        json_array_append(cases, c);
    json_object_set_new(s, "cases", cases);
    json_object_set_new(json_object_get(s, "header"), "shard", json_string(label));
    report_update_totals(s);
    return s;
}

START_TEST(t_merge_shards)
{
    json_t *whole = fixture_run();
    json_t *a = shard_of(whole, 0, 2, "1/2"), *b = shard_of(whole, 1, 2, "2/2");
    const json_t *runs[2] = {a, b};
    struct tm_err err = { 0 };
    json_t *m = report_merge(runs, 2, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ck_assert(json_equal(json_object_get(m, "totals"), json_object_get(whole, "totals")));
    ck_assert_int_eq(json_array_size(json_object_get(m, "cases")), 8);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(whole, "cases"), i, c) {
        const char *id = json_string_value(json_object_get(c, "id"));
        json_t *mc = fixture_case(m, id);
        ck_assert_msg(mc != NULL && json_equal(mc, c), "merged %s differs", id);
    }
    json_t *shards = json_object_get(json_object_get(m, "header"), "shards");
    ck_assert_int_eq(json_array_size(shards), 2);
    ck_assert_str_eq(json_string_value(json_array_get(shards, 1)), "2/2");
    /* the merged run renders like any run */
    char *dir = write_reports("merged", m, NULL);
    free(dir);

    /* a case in two shards is an error naming the id */
    json_t *b2 = json_deep_copy(b);
    json_array_append(json_object_get(b2, "cases"), json_array_get(json_object_get(a, "cases"), 0));
    const json_t *dup[2] = {a, b2};
    json_t *bad = report_merge(dup, 2, &err);
    ck_assert_ptr_null(bad);
    ck_assert_msg(strstr(err.msg, "duplicate case id \"client-chain-root-anchor/openssl/p256/tls\"") != NULL,
                  "%s", err.msg);
    json_decref(b2);
    json_decref(m);
    json_decref(a);
    json_decref(b);
    json_decref(whole);
}
END_TEST

/* The error of merging runs (NULL-terminated), which must be refused. */
static void assert_merge_refused(const char *want, ...)
{
    const json_t *runs[8];
    size_t n = 0;
    va_list ap;
    va_start(ap, want);
    for (const json_t *r; n < 8 && (r = va_arg(ap, const json_t *)) != NULL;)
        runs[n++] = r;
    va_end(ap);
    struct tm_err err = {0};
    json_t *m = report_merge(runs, n, &err);
    ck_assert_msg(m == NULL, "merged, expected: %s", want);
    ck_assert_msg(strstr(err.msg, want) != NULL, "'%s' not in: %s", want, err.msg);
}

/* Only a complete, consistent set of shards merges: a missing shard, shards of
 * different splits, profiles or selections, or fewer cases than the selection
 * counted would report a part of a run as the whole. */
START_TEST(t_merge_refuses_incomplete_sets)
{
    json_t *whole = fixture_run();
    json_t *sel = json_pack("{s:n, s:i, s:s}", "filter", "cases", 8, "digest", "ab12");
    json_object_set_new(json_object_get(whole, "header"), "selection", sel);
    json_t *a = shard_of(whole, 0, 2, "1/2"), *b = shard_of(whole, 1, 2, "2/2");
    json_t *c3 = shard_of(whole, 1, 3, "2/3");
    assert_merge_refused("shard 2/2 is missing", a, NULL);
    assert_merge_refused("shard 1/2 given twice", a, a, NULL);
    assert_merge_refused("run 2 is shard 2/3, run 1 is one of 2 shards", a, c3, NULL);
    json_t *other = json_deep_copy(b);
    json_object_set_new(json_object_get(other, "header"), "profile", json_string("other"));
    assert_merge_refused("mixed profiles", a, other, NULL);
    json_decref(other);
    other = json_deep_copy(b);
    json_object_set_new(json_object_get(json_object_get(other, "header"), "selection"), "digest",
                        json_string("cd34"));
    assert_merge_refused("select different cases", a, other, NULL);
    json_decref(other);
    other = json_deep_copy(b);
    json_array_remove(json_object_get(other, "cases"), 0);
    assert_merge_refused("the shards hold 7 cases, their selection 8", a, other, NULL);
    json_decref(other);
    json_decref(a);
    json_decref(b);
    json_decref(c3);
    json_decref(whole);
}
END_TEST

/* ---- load errors ---- */

static char *load_error(const char *name, const char *content)
{
    char *p = NULL;
    struct tm_err err = { 0 };
    ck_assert_int_ge(asprintf(&p, "%s/%s", tmpdir, name), 0);
    if (content != NULL) {
        FILE *f = fopen(p, "w");
        ck_assert_ptr_nonnull(f);
        fputs(content, f);
        fclose(f);
    }
    json_t *r = report_load_run(p, &err);
    ck_assert_msg(r == NULL, "%s loaded", name);
    char *msg = NULL;
    ck_assert_int_ge(asprintf(&msg, "%s", err.msg), 0);
    /* every message starts with the file */
    ck_assert_msg(strncmp(msg, p, strlen(p)) == 0, "no file name in: %s", msg);
    free(p);
    return msg;
}

START_TEST(t_load_errors)
{
    char *m;
    m = load_error("bad.json", "{\"format\": \"tlsmatrix-run/1\",\n  \"cases\": [1,\n  ]}\n");
    ck_assert_msg(strstr(m, "bad.json:3:3: invalid JSON") != NULL, "%s", m);
    free(m);
    m = load_error("nocases.json", "{\"format\": \"tlsmatrix-run/1\", \"header\": {}}");
    ck_assert_msg(strstr(m, "nocases.json: missing \"cases\" array") != NULL, "%s", m);
    free(m);
    m = load_error("format.json", "{\"format\": \"junit\", \"cases\": []}");
    ck_assert_msg(strstr(m, "\"format\" is \"junit\", expected \"tlsmatrix-run/1\"") != NULL, "%s", m);
    free(m);
    m = load_error("noid.json", "{\"format\": \"tlsmatrix-run/1\", \"cases\": [{\"verdict\": \"pass\"}]}");
    ck_assert_msg(strstr(m, "cases[0] has no string \"id\"") != NULL, "%s", m);
    free(m);
    m = load_error("verdict.json", "{\"format\": \"tlsmatrix-run/1\", \"cases\": [{\"id\": \"a/b\", \"verdict\": \"great\"}]}");
    ck_assert_msg(strstr(m, "case \"a/b\" (cases[0]): \"verdict\" is \"great\"") != NULL, "%s", m);
    free(m);
    m = load_error("array.json", "[]");
    ck_assert_msg(strstr(m, "top level is not a JSON object") != NULL, "%s", m);
    free(m);
    m = load_error("missing.json", NULL);
    ck_assert_msg(strstr(m, "missing.json: No such file or directory") != NULL, "%s", m);
    free(m);
}
END_TEST

/* ---- streamed reports (the runner's path) ---- */

static json_t *spool_case(void *ctx, size_t i)
{
    const long *idx = ((const void *const *)ctx)[1];
    return report_spool_get(((struct report_spool *const *)ctx)[0], idx[i]);
}

/* Fails the n-th read (counting from 0) and every one after it. */
static json_t *failing_case(void *ctx, size_t i)
{
    size_t *calls = ctx;
    (void)i;
    return (*calls)++ >= 3 ? NULL : json_pack("{s:s, s:s}", "id", "x/a/b/c", "verdict", "pass");
}

START_TEST(t_stream_same_as_memory)
{
    json_t *run = fixture_run();
    json_t *baseline = json_deep_copy(run);
    json_object_set_new(json_array_get(json_object_get(baseline, "cases"), 0), "verdict",
                        json_string("fail"));
    char *mem_dir = write_reports("mem", run, baseline);
    struct tm_err err = { 0 };
    struct report_spool *sp = report_spool_open(tmpdir, &err);
    ck_assert_msg(sp != NULL, "%s", err.msg);
    size_t n = json_array_size(json_object_get(run, "cases"));
    long idx[16];
    ck_assert_uint_le(n, 16);
    /* spooled in reverse, so indexes differ from positions */
    for (size_t k = n; k-- > 0;) {
        idx[k] = report_spool_put(sp, json_array_get(json_object_get(run, "cases"), k));
        ck_assert_int_ge(idx[k], 0);
    }
    for (size_t k = 0; k < n; k++) {
        json_t *back = report_spool_get(sp, idx[k]);
        ck_assert(json_equal(back, json_array_get(json_object_get(run, "cases"), k)));
        json_decref(back);
    }
    ck_assert_ptr_null(report_spool_get(sp, (long)n));
    const void *ctx[2] = {sp, idx};
    char *dir = NULL;
    ck_assert_int_ge(asprintf(&dir, "%s/stream", tmpdir), 0);
    ck_assert_msg(report_write_stream(json_object_get(run, "header"), n, spool_case, ctx,
                                      baseline, dir, &err) == 0, "%s", err.msg);
    static const char *const files[] = {"run.json", "junit.xml", "summary.md", "matrix.html"};
    for (size_t f = 0; f < 4; f++) {
        char *a = path_in("mem", files[f]), *b = path_in("stream", files[f]);
        char *ta = fixture_slurp(a), *tb = fixture_slurp(b);
        ck_assert_ptr_nonnull(ta);
        ck_assert_ptr_nonnull(tb);
        ck_assert_msg(strcmp(ta, tb) == 0, "%s differs between memory and stream", files[f]);
        free(ta);
        free(tb);
        free(a);
        free(b);
    }
    /* run.json is byte for byte what jansson prints for the whole run */
    char *p = path_in("stream", "run.json"), *text = fixture_slurp(p);
    char *dumped = json_dumps(run, JSON_INDENT(2) | JSON_SORT_KEYS);
    ck_assert_uint_eq(strlen(text), strlen(dumped) + 1);
    ck_assert(strncmp(text, dumped, strlen(dumped)) == 0 && text[strlen(dumped)] == '\n');
    /* a case that cannot be read back is an error naming it, not a short report */
    size_t calls = 0;
    char *bad = NULL;
    ck_assert_int_ge(asprintf(&bad, "%s/bad", tmpdir), 0);
    ck_assert_int_eq(report_write_stream(json_object_get(run, "header"), 5, failing_case, &calls,
                                         NULL, bad, &err), -1);
    ck_assert_msg(strstr(err.msg, "case 3 cannot be read back") != NULL, "%s", err.msg);
    report_spool_close(sp);
    free(bad);
    free(dumped);
    free(text);
    free(p);
    free(dir);
    free(mem_dir);
    json_decref(baseline);
    json_decref(run);
}
END_TEST

/* ---- compare ---- */

START_TEST(t_compare_planted_regression)
{
    json_t *a = fixture_run(), *b = json_deep_copy(a), *c = json_deep_copy(a);
    set_verdict(b, "client-chain-root-anchor/openssl/p256/tls", "fail");   /* planted */
    set_verdict(c, "dtls-cookie/gnutls/rsa2048/dtls", "pass");             /* a fix */
    report_update_totals(b);
    report_update_totals(c);
    const json_t *runs[] = { a, c, b };
    const char *names[] = { "A", "B", "C" };
    json_t *cmp = report_compare(runs, names, 3);
    ck_assert_uint_eq(report_compare_regressions(cmp), 1);
    const json_t *creg = json_object_get(json_array_get(json_object_get(cmp, "runs"), 2), "regressions");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(creg, 0), "id")),
                     "client-chain-root-anchor/openssl/p256/tls");
    char *dir = NULL;
    struct tm_err err = { 0 };
    ck_assert_int_ge(asprintf(&dir, "%s/cmp", tmpdir), 0);
    ck_assert_int_eq(tm_mkdirs(dir, 0755, NULL), 0);
    ck_assert_msg(report_write_compare(cmp, dir, &err) == 0, "%s", err.msg);
    char *hp = path_in("cmp", "compare.html"), *mp = path_in("cmp", "compare.md");
    htmlDocPtr doc = htmlReadFile(hp, "UTF-8", HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING);
    ck_assert_ptr_nonnull(doc);
    /* a column group per run, the changed cells highlighted, totals per run */
    ck_assert_int_eq(xpath_count(doc, "count(//table[@id='compare']/colgroup)"), 3);
    ck_assert_int_eq(xpath_count(doc, "count(//td[contains(@class,'changed regression')])"), 1);
    ck_assert_int_eq(xpath_count(doc, "count(//td[contains(@class,'changed fix')])"), 1);
    ck_assert_int_eq(xpath_count(doc, "count(//table[@id='compare']//tr[@data-changed])"), 2);
    ck_assert_int_eq(xpath_count(doc, "count(//table[@id='runs']//tr[td])"), 3);
    ck_assert_int_eq(xpath_count(doc, "count(//div[@id='verdict' and @class='banner bad'])"), 1);
    char *md = fixture_slurp(mp);
    ck_assert_ptr_nonnull(strstr(md, "## Changed cases: 2\n\n| case | A | B | C |\n|---|:---:|:---:|:---:|\n"));
    ck_assert_ptr_nonnull(strstr(md, "| client-chain-root-anchor/openssl/p256/tls | pass | pass | **fail** (regression) |"));
    ck_assert_ptr_nonnull(strstr(md, "| dtls-cookie/gnutls/rsa2048/dtls | fail | **pass** (fix) | fail |"));
    free(md);
    xmlFreeDoc(doc);
    json_decref(cmp);
    /* the same run twice: nothing changed, no regression */
    const json_t *same[] = { a, a };
    cmp = report_compare(same, names, 2);
    ck_assert_uint_eq(report_compare_regressions(cmp), 0);
    json_decref(cmp);
    free(hp);
    free(mp);
    free(dir);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}
END_TEST

static Suite *reports_suite(void)
{
    Suite *s = suite_create("reports");
    TCase *tc = tcase_create("reports");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, t_json_roundtrip);
    tcase_add_test(tc, t_every_case_everywhere);
    tcase_add_test(tc, t_junit_valid_and_counted);
    tcase_add_test(tc, t_junit_schema_rejects);
    tcase_add_test(tc, t_html_wellformed_and_inert);
    tcase_add_test(tc, t_html_zero_counts_uncoloured);
    tcase_add_test(tc, t_markdown_cells_escaped);
    tcase_add_test(tc, t_diff_exact);
    tcase_add_test(tc, fidelity_explains_differences);
    tcase_add_test(tc, t_merge_shards);
    tcase_add_test(tc, t_merge_refuses_incomplete_sets);
    tcase_add_test(tc, t_load_errors);
    tcase_add_test(tc, t_stream_same_as_memory);
    tcase_add_test(tc, t_compare_planted_regression);
    suite_add_tcase(s, tc);
    return s;
}


int main(void)
{
    SRunner *sr = srunner_create(reports_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
