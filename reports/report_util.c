/* Small helpers shared by the writers: safe field access, labels, text sanitising. */
#include "report_int.h"

#include <libxml/HTMLtree.h>
#include <libxml/tree.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *rpt_str(const json_t *obj, const char *key, const char *dflt)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : dflt;
}

double rpt_num(const json_t *obj, const char *key, double dflt)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_number(v) ? json_number_value(v) : dflt;
}

const char *rpt_case_verdict(const json_t *c)
{
    const char *v = rpt_str(c, "verdict", NULL);
    return rpt_verdict_index(v) >= 0 ? v : "error";
}

void rpt_axes_label(const json_t *c, char *buf, size_t size)
{
    const json_t *axes = json_object_get(c, "axes");
    snprintf(buf, size, "%s/%s/%s", rpt_str(axes, "backend", "-"), rpt_str(axes, "keytype", "-"),
             rpt_str(axes, "proto", "-"));
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *p)
{
    size_t n;
    unsigned int cp;
    if (p[0] < 0x80)
        return 1;
    if ((p[0] & 0xE0) == 0xC0) {
        n = 2;
        cp = p[0] & 0x1F;
    } else if ((p[0] & 0xF0) == 0xE0) {
        n = 3;
        cp = p[0] & 0x0F;
    } else if ((p[0] & 0xF8) == 0xF0) {
        n = 4;
        cp = p[0] & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    static const unsigned int min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE ||
        cp == 0xFFFF)
        return 0;
    return n;
}

char *rpt_xml_text(const char *s)
{
    if (s == NULL)
        s = "";
    size_t len = strlen(s);
    char *out = malloc(len * 4 + 1); /* worst case: every byte becomes \xNN */
    if (out == NULL)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    char *o = out;
    while (*p != '\0') {
        size_t n = utf8_len(p);
        int bad = n == 0 || (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r') || *p == 0x7F;
        if (bad) {
            o += sprintf(o, "\\x%02x", *p);
            p++;
        } else {
            memcpy(o, p, n);
            o += n;
            p += n;
        }
    }
    *o = '\0';
    return out;
}

char *rpt_anchor(const char *id)
{
    if (id == NULL)
        id = "";
    char *out = malloc(strlen(id) * 3 + 1);
    if (out == NULL)
        return NULL;
    char *o = out;
    for (const unsigned char *p = (const unsigned char *)id; *p != '\0'; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-')
            *o++ = (char)*p;
        else if (*p == '/')
            *o++ = '.';
        else
            o += sprintf(o, "_%02x", *p);
    }
    *o = '\0';
    return out;
}

char *rpt_dump(const json_t *v)
{
    if (v == NULL)
        return strdup("null");
    if (json_is_string(v))
        return strdup(json_string_value(v));
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    return s != NULL ? s : strdup("");
}

json_t *rpt_verdicts_by_id(const json_t *run)
{
    json_t *idx = run != NULL ? json_object() : NULL;
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(run, "cases"), i, c) {
        const char *id = rpt_str(c, "id", NULL);
        if (idx != NULL && id != NULL)
            json_object_set_new(idx, id, json_string(rpt_case_verdict(c)));
    }
    return idx;
}

const char *rpt_baseline_verdict(const json_t *index, const char *id)
{
    return id != NULL ? json_string_value(json_object_get(index, id)) : NULL;
}

const char *rpt_change_kind(const char *old_v, const char *new_v)
{
    if (old_v == NULL)
        return "new";
    int o = tm_verdict_parse(old_v), n = tm_verdict_parse(new_v);
    /* settled (pass, xfail, skip) -> fail or error; xpass is news, not a
     * regression, either way (a known deviation went away). */
    if (tm_verdict_settled(o) && tm_verdict_unexpected(n) && n != TM_XPASS)
        return "regression";
    if (tm_verdict_unexpected(o) && o != TM_XPASS && (n == TM_PASS || n == TM_XFAIL))
        return "fix";
    if (strcmp(old_v, new_v) != 0)
        return "changed";
    return NULL;
}

int rpt_write_matrix_report(const struct rpt_src *s, const json_t *baseline, const char *path,
                            rpt_matrix_writer write, struct tm_err *err)
{
    struct rpt_matrix m;
    char tmp[4200];
    if (rpt_matrix_build(s->run, baseline, &m) != 0) {
        rpt_matrix_free(&m);
        return tm_err_set(err, "%s: out of memory", path);
    }
    FILE *out = rpt_out_open(path, tmp, sizeof tmp, err);
    int rc = -1;
    if (out != NULL) {
        int failed = write(out, s, baseline, &m, path, err) != 0;
        rc = rpt_out_close(out, tmp, path, failed, err);
    }
    rpt_matrix_free(&m);
    return rc;
}

void rpt_count(const json_t *run, struct rpt_counts *n)
{
    size_t i;
    const json_t *c;
    memset(n, 0, sizeof *n);
    json_array_foreach(json_object_get(run, "cases"), i, c) {
        int v = rpt_verdict_index(rpt_case_verdict(c));
        n->n[v]++;
        n->total++;
        n->unexpected += tm_verdict_unexpected(v);
    }
}

int rpt_counts_ok(const struct rpt_counts *n)
{
    return n->unexpected == 0 && n->total > n->n[TM_SKIP];
}

/* "2 fail, 1 error" over the verdicts picked (unexpected ones, or the others). */
static size_t verdict_list(const struct rpt_counts *n, int unexpected, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int v = 0; v < RPT_NVERDICTS && used < len; v++) {
        if (n->n[v] == 0 || tm_verdict_unexpected(v) != unexpected)
            continue;
        int w = snprintf(buf + used, len - used, "%s%lld %s", used ? ", " : "", n->n[v],
                         tm_verdict_name(v));
        used += w > 0 ? (size_t)w : 0;
    }
    return used;
}

const char *rpt_verdict_line(const struct rpt_counts *n, char *buf, size_t len)
{
    char bad[160], good[160];
    verdict_list(n, 1, bad, sizeof bad);
    verdict_list(n, 0, good, sizeof good);
    if (n->unexpected > 0)
        snprintf(buf, len, "FAIL: %lld unexpected result%s of %lld cases (%s)", n->unexpected,
                 n->unexpected > 1 ? "s" : "", n->total, bad);
    else if (!rpt_counts_ok(n))
        snprintf(buf, len, "FAIL: no case ran (%s)", n->total ? good : "no cases");
    else
        snprintf(buf, len, "PASS: all %lld cases as expected (%s)", n->total, good);
    return buf;
}

char *rpt_device_firmware(const json_t *device)
{
    const json_t *impl = json_object_get(json_object_get(device, "hello"), "impl");
    char *s = NULL;
    if (asprintf(&s, "%s %s on %s", rpt_str(impl, "name", "?"), rpt_str(impl, "version", "?"),
                 rpt_str(impl, "machine", "?")) < 0)
        return NULL;
    return s;
}

char *rpt_device_identity(const json_t *device)
{
    const json_t *hello = json_object_get(device, "hello"), *usb = json_object_get(device, "usb");
    const char *uid = rpt_str(hello, "unique_id", NULL);
    char usbtext[200] = "", *s = NULL;
    if (json_is_object(usb))
        snprintf(usbtext, sizeof usbtext, "USB %s:%s serial %s", rpt_str(usb, "vid", "?"),
                 rpt_str(usb, "pid", "?"), rpt_str(usb, "serial", "-"));
    if (asprintf(&s, "%s%s%s%s%s", usbtext, usbtext[0] && uid ? "; " : "", uid ? "unique_id " : "",
                 uid ? uid : "",
                 json_is_true(json_object_get(hello, "virtual")) ? (usbtext[0] || uid ? "; virtual camera" : "virtual camera")
                 : (usbtext[0] || uid ? "" : "-")) < 0)
        return NULL;
    return s;
}

/* A child element whose text (if any) is sanitised and escaped by libxml2. */
xmlNodePtr rpt_html_page(xmlDocPtr *doc, const char *title, const char *css)
{
    *doc = htmlNewDocNoDtD(NULL, NULL);
    if (*doc == NULL)
        return NULL;
    xmlCreateIntSubset(*doc, BAD_CAST "html", NULL, NULL);  /* <!DOCTYPE html> */
    xmlNodePtr html = xmlNewDocNode(*doc, NULL, BAD_CAST "html", NULL);
    xmlDocSetRootElement(*doc, html);
    rpt_attr(html, "lang", "en");
    xmlNodePtr head = rpt_el(html, "head", NULL);
    rpt_attr(rpt_el(head, "meta", NULL), "charset", "utf-8");
    rpt_el(head, "title", title);
    /* Our own constant CSS: HTML serialises <style> text verbatim. */
    rpt_el(head, "style", css);
    xmlNodePtr body = rpt_el(html, "body", NULL);
    rpt_el(body, "h1", title);
    return body;
}

xmlNodePtr rpt_el(xmlNodePtr parent, const char *name, const char *text)
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

void rpt_attr(xmlNodePtr n, const char *name, const char *value)
{
    char *t = rpt_xml_text(value);
    if (n != NULL && t != NULL)
        xmlSetProp(n, BAD_CAST name, BAD_CAST t);
    free(t);
}

void rpt_text(xmlNodePtr n, const char *s)
{
    char *t = rpt_xml_text(s);
    if (n != NULL && t != NULL)
        xmlNodeAddContent(n, BAD_CAST t);
    free(t);
}


/* One table cell's worth of text: | and Markdown specials backslash-escaped, < > &
 * as entities (renderers pass inline HTML through), newlines as <br>, bytes that are
 * not printable text as \xNN (via rpt_xml_text). */
void rpt_md_text(FILE *out, const char *s)
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

