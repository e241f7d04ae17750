/* junit.xml for CI (Jenkins' JUnit schema, tests/reports/jenkins-junit.xsd), written
 * with libxml2's xmlTextWriter so every device string is escaped by the library.
 *
 * Mapping: one <testsuite name="tlsmatrix.<scenario>"> per scenario, in run order;
 * one <testcase classname="tlsmatrix.<scenario>" name="<backend>/<keytype>/<proto>">
 * per case. pass -> empty testcase; fail -> <failure type="fail">; xpass ->
 * <failure type="xpass"> (a known deviation no longer happens: the profile is stale);
 * error -> <error type="error">; skip -> <skipped>reason</skipped>; xfail ->
 * <skipped>xfail: reason</skipped> (as pytest does). So failures = fail + xpass,
 * errors = error, skipped = skip + xfail. Jenkins' schema allows no attributes on
 * <skipped> and no per-testcase properties, so reasons, attempts and flakiness go
 * into the element text and <system-out>. */
#include "report.h"
#include "report_int.h"

#include <libxml/xmlwriter.h>
#include <stdlib.h>
#include <string.h>

#include "tm_fs.h"

#define OK(x) do { if ((x) < 0) goto fail; } while (0)

/* All text passes through rpt_xml_text (XML forbids control bytes outright; libxml2
 * escapes markup characters but would write those bytes as they are). */
static int put_attr(xmlTextWriterPtr w, const char *name, const char *value)
{
    char *t = rpt_xml_text(value);
    int rc = t ? xmlTextWriterWriteAttribute(w, BAD_CAST name, BAD_CAST t) : -1;
    free(t);
    return rc;
}

static int put_text(xmlTextWriterPtr w, const char *value)
{
    char *t = rpt_xml_text(value);
    int rc = t ? xmlTextWriterWriteString(w, BAD_CAST t) : -1;
    free(t);
    return rc;
}

static int put_attr_num(xmlTextWriterPtr w, const char *name, long long n)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", n);
    return xmlTextWriterWriteAttribute(w, BAD_CAST name, BAD_CAST buf);
}

static int put_attr_secs(xmlTextWriterPtr w, const char *name, double ms)
{
    char buf[48];
    snprintf(buf, sizeof buf, "%.3f", ms > 0 ? ms / 1000.0 : 0.0);
    return xmlTextWriterWriteAttribute(w, BAD_CAST name, BAD_CAST buf);
}

/* Per-scenario (or whole-run) counters in JUnit terms. */
struct counts {
    long long tests, failures, errors, skipped;
    double ms;
};

static void count_case(struct counts *n, const json_t *c)
{
    const char *v = rpt_case_verdict(c);
    n->tests++;
    const char *elem = tm_verdict_junit(tm_verdict_parse(v));
    n->failures += elem != NULL && strcmp(elem, "failure") == 0;
    n->errors += elem != NULL && strcmp(elem, "error") == 0;
    n->skipped += elem != NULL && strcmp(elem, "skipped") == 0;
    n->ms += rpt_num(json_object_get(c, "timings_ms"), "total", 0);
}

static int put_counts(xmlTextWriterPtr w, const struct counts *n, int with_skipped)
{
    OK(put_attr_num(w, "tests", n->tests));
    OK(put_attr_num(w, "failures", n->failures));
    OK(put_attr_num(w, "errors", n->errors));
    if (with_skipped)
        OK(put_attr_num(w, "skipped", n->skipped));
    OK(put_attr_secs(w, "time", n->ms));
    return 0;
fail:
    return -1;
}

static int put_property(xmlTextWriterPtr w, const char *name, const char *value)
{
    OK(xmlTextWriterStartElement(w, BAD_CAST "property"));
    OK(put_attr(w, "name", name));
    OK(put_attr(w, "value", value ? value : ""));
    OK(xmlTextWriterEndElement(w));
    return 0;
fail:
    return -1;
}

/* Run-wide facts a CI reader needs to reproduce: versions, seed, profile, firmware. */
static int put_properties(xmlTextWriterPtr w, const json_t *header)
{
    char buf[256];
    const char *key;
    const json_t *v;
    OK(xmlTextWriterStartElement(w, BAD_CAST "properties"));
    OK(put_property(w, "harness", rpt_str(header, "harness", "")));
    json_object_foreach((json_t *)json_object_get(header, "versions"), key, v) {
        char name[128];
        snprintf(name, sizeof name, "version.%s", key);
        char *text = rpt_dump(v);
        int rc = text ? put_property(w, name, text) : -1;
        free(text);
        OK(rc);
    }
    snprintf(buf, sizeof buf, "%lld", (long long)rpt_num(header, "seed", 0));
    OK(put_property(w, "seed", buf));
    OK(put_property(w, "profile", rpt_str(header, "profile", "")));
    OK(put_property(w, "shard", rpt_str(header, "shard", "")));
    OK(put_property(w, "fixture_reference_time", rpt_str(header, "fixture_reference_time", "")));
    size_t i;
    const json_t *d;
    json_array_foreach(json_object_get(header, "devices"), i, d) {
        char name[64];
        const json_t *impl = json_object_get(json_object_get(d, "hello"), "impl");
        snprintf(name, sizeof name, "device.%zu.link", i);
        OK(put_property(w, name, rpt_str(d, "link", "")));
        snprintf(name, sizeof name, "device.%zu.firmware", i);
        snprintf(buf, sizeof buf, "%.120s %.120s", rpt_str(impl, "name", "?"),
                 rpt_str(impl, "version", "?"));
        OK(put_property(w, name, buf));
        snprintf(name, sizeof name, "device.%zu.mbedtls", i);
        OK(put_property(w, name, rpt_str(json_object_get(d, "hello"), "mbedtls", "?")));
    }
    OK(xmlTextWriterEndElement(w));
    return 0;
fail:
    return -1;
}

/* Expected vs actual, both ends, as one readable block. */
static char *case_details(const json_t *c)
{
    const json_t *exp = json_object_get(c, "expected"), *act = json_object_get(c, "actual");
    char *ed = rpt_expected_text(json_object_get(exp, "device"));
    char *ep = rpt_expected_text(json_object_get(exp, "peer"));
    char *ad = rpt_dump(json_object_get(act, "device"));
    char *ap = rpt_dump(json_object_get(act, "peer"));
    char *out = NULL;
    if (ed == NULL || ep == NULL || ad == NULL || ap == NULL ||
        asprintf(&out, "%s\nexpected: device %s; peer %s\nactual: device %s; peer %s\nreplay: %s\n",
                 rpt_str(c, "reason", ""), ed, ep, ad, ap, rpt_str(c, "replay", "")) < 0)
        out = NULL;
    free(ed);
    free(ep);
    free(ad);
    free(ap);
    return out;
}

static int put_transcripts(xmlTextWriterPtr w, const json_t *c)
{
    const json_t *tr = json_object_get(c, "transcript");
    const char *key;
    const json_t *lines;
    char buf[160];
    snprintf(buf, sizeof buf, "id: ");
    OK(put_text(w, buf));
    OK(put_text(w, rpt_str(c, "id", "")));
    snprintf(buf, sizeof buf, "\nverdict: %s\nattempts: %lld%s\n", rpt_case_verdict(c),
             (long long)rpt_num(c, "attempts", 1),
             json_is_true(json_object_get(c, "flaky")) ? " (flaky: passed only on retry)" : "");
    OK(put_text(w, buf));
    json_object_foreach((json_t *)tr, key, lines) {
        size_t i;
        const json_t *l;
        snprintf(buf, sizeof buf, "--- %.64s transcript ---\n", key);
        OK(put_text(w, buf));
        json_array_foreach(lines, i, l) {
            OK(put_text(w, json_is_string(l) ? json_string_value(l) : "(non-text line)"));
            OK(put_text(w, "\n"));
        }
    }
    return 0;
fail:
    return -1;
}

static int put_outcome(xmlTextWriterPtr w, const json_t *c, const char *v)
{
    const char *elem = tm_verdict_junit(tm_verdict_parse(v));
    if (elem == NULL)
        return 0;
    char *details = case_details(c);
    if (details == NULL)
        return -1;
    OK(xmlTextWriterStartElement(w, BAD_CAST elem));
    if (strcmp(elem, "skipped") != 0) {
        OK(put_attr(w, "message", rpt_str(c, "reason", v)));
        OK(put_attr(w, "type", v));
        OK(put_text(w, details));
    } else {
        const json_t *xf = json_object_get(c, "xfail");
        if (strcmp(v, "xfail") == 0) {
            OK(put_text(w, "xfail: "));
            OK(put_text(w, rpt_str(xf, "reason", rpt_str(c, "reason", ""))));
            OK(put_text(w, rpt_str(xf, "ref", NULL) ? " (" : ""));
            OK(put_text(w, rpt_str(xf, "ref", "")));
            OK(put_text(w, rpt_str(xf, "ref", NULL) ? ")" : ""));
        } else {
            OK(put_text(w, rpt_str(c, "reason", "skipped")));
        }
    }
    OK(xmlTextWriterEndElement(w));
    free(details);
    return 0;
fail:
    free(details);
    return -1;
}

static int put_case(xmlTextWriterPtr w, const json_t *c, const char *classname)
{
    const char *v = rpt_case_verdict(c);
    const char *id = rpt_str(c, "id", "");
    const char *scen = rpt_str(c, "scenario", "");
    size_t sl = strlen(scen);
    /* Ids are "<scenario>/<backend>/<keytype>/<proto>" (contracts §6): the name is the
     * rest, which keeps classname + name unique even if axes ever repeat. */
    const char *name = strncmp(id, scen, sl) == 0 && id[sl] == '/' ? id + sl + 1 : id;
    OK(xmlTextWriterStartElement(w, BAD_CAST "testcase"));
    OK(put_attr(w, "name", name));
    OK(put_attr(w, "classname", classname));
    OK(put_attr_secs(w, "time", rpt_num(json_object_get(c, "timings_ms"), "total", 0)));
    OK(put_outcome(w, c, v));
    if (strcmp(v, "pass") != 0 || json_is_true(json_object_get(c, "flaky")) ||
        rpt_num(c, "attempts", 1) > 1) {
        OK(xmlTextWriterStartElement(w, BAD_CAST "system-out"));
        OK(put_transcripts(w, c));
        OK(xmlTextWriterEndElement(w));
    }
    OK(xmlTextWriterEndElement(w));
    return 0;
fail:
    return -1;
}

/* Distinct scenario names in order of first appearance. */
static json_t *scenario_order(const json_t *cases)
{
    json_t *seen = json_object(), *order = json_array();
    size_t i;
    const json_t *c;
    json_array_foreach(cases, i, c) {
        const char *s = rpt_str(c, "scenario", "(none)");
        if (json_object_get(seen, s) == NULL) {
            json_object_set_new(seen, s, json_true());
            json_array_append_new(order, json_string(s));
        }
    }
    json_decref(seen);
    return order;
}

static int put_suite(xmlTextWriterPtr w, const struct rpt_src *src, const char *scenario,
                     const char *path, struct tm_err *err)
{
    const json_t *cases = json_object_get(src->run, "cases");
    const json_t *header = json_object_get(src->run, "header");
    struct counts n = {0};
    size_t i;
    const json_t *c;
    char *classname = NULL;
    if (asprintf(&classname, "tlsmatrix.%s", scenario) < 0)
        return -1;
    json_array_foreach(cases, i, c) if (strcmp(rpt_str(c, "scenario", "(none)"), scenario) == 0)
        count_case(&n, c);
    OK(xmlTextWriterStartElement(w, BAD_CAST "testsuite"));
    OK(put_attr(w, "name", classname));
    OK(put_counts(w, &n, 1));
    OK(put_attr(w, "timestamp", rpt_str(header, "started", "")));
    OK(put_properties(w, header));
    json_array_foreach(cases, i, c) {
        if (strcmp(rpt_str(c, "scenario", "(none)"), scenario) != 0)
            continue;
        /* The full record (transcripts) only while its testcase is written. */
        json_t *full = rpt_src_case(src, i, path, err);
        int rc = full != NULL ? put_case(w, full, classname) : -2;
        json_decref(full);
        if (rc == -2)
            goto read_fail;
        OK(rc);
    }
    OK(xmlTextWriterEndElement(w));
    free(classname);
    return 0;
fail:
    free(classname);
    return -1;
read_fail:
    free(classname);
    return -2;
}

/* 0, -1 for a libxml2 failure, -2 when a case could not be read (err set). */
static int write_doc(xmlTextWriterPtr w, const struct rpt_src *src, const char *path,
                     struct tm_err *err)
{
    const json_t *cases = json_object_get(src->run, "cases");
    struct counts all = {0};
    size_t i;
    const json_t *c, *s;
    int rc = -1;
    json_t *order = scenario_order(cases);
    if (order == NULL)
        return -1;
    json_array_foreach(cases, i, c) count_case(&all, c);
    OK(xmlTextWriterSetIndent(w, 1));
    OK(xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL));
    OK(xmlTextWriterStartElement(w, BAD_CAST "testsuites"));
    OK(put_attr(w, "name", "tlsmatrix"));
    OK(put_counts(w, &all, 0));
    json_array_foreach(order, i, s) {
        rc = put_suite(w, src, json_string_value(s), path, err);
        OK(rc);
    }
    rc = -1;
    OK(xmlTextWriterEndDocument(w));
    json_decref(order);
    return 0;
fail:
    json_decref(order);
    return rc;
}

/* Streamed straight to the file: junit.xml holds every non-pass transcript. */
int rpt_write_junit_src(const struct rpt_src *src, const char *path, struct tm_err *err)
{
    char tmp[4200];
    FILE *f = rpt_out_open(path, tmp, sizeof tmp, err);
    if (f == NULL)
        return -1;
    xmlOutputBufferPtr out = xmlOutputBufferCreateFile(f, NULL);
    xmlTextWriterPtr w = out ? xmlNewTextWriter(out) : NULL;  /* owns out from here */
    int failed = 0;
    if (w == NULL) {
        if (out != NULL)
            xmlOutputBufferClose(out);
        tm_err_set(err, "%s: cannot create the XML writer", path);
        failed = 1;
    } else {
        int rc = write_doc(w, src, path, err);
        if (rc == -1)
            tm_err_set(err, "%s: libxml2 failed while writing the JUnit XML", path);
        failed = rc != 0;
        xmlFreeTextWriter(w);  /* flushes into f; f itself stays open */
    }
    return rpt_out_close(f, tmp, path, failed, err);
}

int report_write_junit(const json_t *run, const char *path, struct tm_err *err)
{
    struct rpt_src s;
    rpt_src_of_run(&s, run);
    return rpt_write_junit_src(&s, path, err);
}
