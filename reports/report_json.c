/* run.json: writing (the source of truth), loading with checks, totals, and the
 * one call that renders every report of a run. */
#include "report.h"
#include "report_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tm_fs.h"

#define RUN_FORMAT "tlsmatrix-run/1"

int report_write_json(const json_t *run, const char *path, struct tm_err *err)
{
    /* Sorted keys and a fixed indent keep run.json diffable between runs. */
    char *text = json_dumps(run, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (text == NULL)
        return tm_err_set(err, "%s: cannot serialise the run", path);
    size_t len = strlen(text);
    char *buf = realloc(text, len + 2);
    if (buf == NULL) {
        free(text);
        return tm_err_set(err, "%s: out of memory", path);
    }
    buf[len] = '\n';
    buf[len + 1] = '\0';
    int rc = tm_write_file(path, buf, len + 1, 0644, err);
    free(buf);
    return rc;
}

void report_update_totals(json_t *run)
{
    long long n[RPT_NVERDICTS] = {0};
    const json_t *cases = json_object_get(run, "cases");
    size_t i;
    const json_t *c;
    json_array_foreach(cases, i, c) n[rpt_verdict_index(rpt_case_verdict(c))]++;
    json_t *t = json_object();
    for (int v = 0; t != NULL && v < RPT_NVERDICTS; v++)
        json_object_set_new(t, rpt_verdicts[v], json_integer(n[v]));
    json_object_set_new(run, "totals", t);
}

/* Each case must carry a string id (diff and merge key on it) and a known verdict. */
static int check_cases(const json_t *cases, const char *path, struct tm_err *err)
{
    size_t i;
    const json_t *c;
    json_array_foreach(cases, i, c) {
        if (!json_is_object(c))
            return tm_err_set(err, "%s: cases[%zu] is not an object", path, i);
        const char *id = rpt_str(c, "id", NULL);
        if (id == NULL || id[0] == '\0')
            return tm_err_set(err, "%s: cases[%zu] has no string \"id\"", path, i);
        const char *v = rpt_str(c, "verdict", NULL);
        if (rpt_verdict_index(v) < 0)
            return tm_err_set(err, "%s: case \"%s\" (cases[%zu]): \"verdict\" is %s%s%s, expected "
                              "pass|fail|xfail|xpass|error|skip", path, id, i,
                              v ? "\"" : "", v ? v : "missing or not a string", v ? "\"" : "");
    }
    return 0;
}

json_t *report_load_run(const char *path, struct tm_err *err)
{
    json_error_t jerr;
    json_t *run = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (run == NULL) {
        if (jerr.line < 0)  /* jansson could not open/read the file */
            tm_err_set(err, "%s: %s", path, jerr.text);
        else
            tm_err_set(err, "%s:%d:%d: invalid JSON: %s", path, jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    const char *fmt = rpt_str(run, "format", NULL);
    const json_t *cases = json_object_get(run, "cases");
    if (!json_is_object(run))
        tm_err_set(err, "%s: top level is not a JSON object", path);
    else if (fmt == NULL)
        tm_err_set(err, "%s: missing string \"format\" (expected \"%s\")", path, RUN_FORMAT);
    else if (strcmp(fmt, RUN_FORMAT) != 0)
        tm_err_set(err, "%s: \"format\" is \"%s\", expected \"%s\"", path, fmt, RUN_FORMAT);
    else if (!json_is_array(cases))
        tm_err_set(err, "%s: missing \"cases\" array", path);
    else if (check_cases(cases, path, err) == 0)
        return run;
    json_decref(run);
    return NULL;
}

int report_write_all(const json_t *run, const json_t *baseline, const char *dir,
                     struct tm_err *err)
{
    char path[4096];
    if (strlen(dir) > sizeof path - 32)
        return tm_err_set(err, "%s: report directory path too long", dir);
    if (tm_mkdirs(dir, 0755, err) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/run.json", dir);
    if (report_write_json(run, path, err) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/junit.xml", dir);
    if (report_write_junit(run, path, err) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/summary.md", dir);
    if (report_write_markdown(run, baseline, path, err) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/matrix.html", dir);
    return report_write_html(run, baseline, path, err);
}
