/* run.json: writing (the source of truth), loading with checks, totals, and the
 * one call that renders every report of a run. */
#include "report.h"
#include "report_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tm_fs.h"

#define RUN_FORMAT "tlsmatrix-run/1"
/* run.json files merge, diff and --baseline read: 10,000 cases with transcripts fit. */
#define RUN_JSON_MAX (512u << 20)

/* One value as jansson prints it at nesting depth `depth` of the run document:
 * sorted keys, two-space indent. Dumped on its own (depth 0) and re-indented, which
 * is safe because JSON strings never hold a raw newline. */
static int put_value(FILE *f, const json_t *v, int depth)
{
    char *text = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (text == NULL)
        return -1;
    for (const char *p = text; *p != '\0'; p++) {
        fputc(*p, f);
        if (*p == '\n')
            fprintf(f, "%*s", depth * 2, "");
    }
    free(text);
    return 0;
}

static int put_key(FILE *f, const char *key, int first)
{
    json_t *k = json_string(key);
    fputs(first ? "\n  " : ",\n  ", f);
    int rc = k != NULL ? put_value(f, k, 1) : -1;
    json_decref(k);
    fputs(": ", f);
    return rc;
}

/* "cases" one at a time, so only one full record is in memory. */
static int put_cases(FILE *f, const struct rpt_src *s, const char *path, struct tm_err *err)
{
    size_t n = json_array_size(json_object_get(s->run, "cases"));
    if (n == 0) {
        fputs("[]", f);
        return 0;
    }
    fputc('[', f);
    for (size_t i = 0; i < n; i++) {
        json_t *c = rpt_src_case(s, i, path, err);
        if (c == NULL)
            return -1;
        fputs(i ? ",\n    " : "\n    ", f);
        int rc = put_value(f, c, 2);
        json_decref(c);
        if (rc != 0)
            return tm_err_set(err, "%s: cannot serialise case %zu", path, i);
    }
    fputs("\n  ]", f);
    return 0;
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Byte for byte what json_dumps(run, JSON_INDENT(2) | JSON_SORT_KEYS) gives, plus a
 * final newline: sorted keys and a fixed indent keep run.json diffable. */
static int put_run(FILE *f, const struct rpt_src *s, const char *path, struct tm_err *err)
{
    size_t n = json_object_size(s->run), i = 0;
    const char **keys = calloc(n ? n : 1, sizeof *keys);
    const char *k;
    json_t *v;
    if (keys == NULL)
        return tm_err_set(err, "%s: out of memory", path);
    json_object_foreach((json_t *)s->run, k, v) keys[i++] = k;
    qsort(keys, n, sizeof *keys, cmp_keys);
    fputc('{', f);
    int rc = 0;
    for (i = 0; rc == 0 && i < n; i++) {
        rc = put_key(f, keys[i], i == 0);
        if (rc == 0 && strcmp(keys[i], "cases") == 0)
            rc = put_cases(f, s, path, err) != 0 ? -2 : 0;
        else if (rc == 0)
            rc = put_value(f, json_object_get(s->run, keys[i]), 1);
    }
    free(keys);
    if (rc == -1)
        tm_err_set(err, "%s: cannot serialise the run", path);
    fputs(n ? "\n}\n" : "}\n", f);
    return rc != 0 ? -1 : 0;
}

int rpt_write_json_src(const struct rpt_src *s, const char *path, struct tm_err *err)
{
    char tmp[4200];
    FILE *f = rpt_out_open(path, tmp, sizeof tmp, err);
    if (f == NULL)
        return -1;
    int failed = put_run(f, s, path, err) != 0;
    return rpt_out_close(f, tmp, path, failed, err);
}

int report_write_json(const json_t *run, const char *path, struct tm_err *err)
{
    struct rpt_src s;
    rpt_src_of_run(&s, run);
    return rpt_write_json_src(&s, path, err);
}

void report_update_totals(json_t *run)
{
    json_object_set_new(run, "totals", rpt_totals(json_object_get(run, "cases")));
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

json_t *report_load_run(const char *arg, struct tm_err *err)
{
    json_error_t jerr;
    char dirjson[4096];
    struct stat st;
    const char *path = arg;
    /* A report directory stands for its run.json (a CI artifact as it was kept). */
    if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (snprintf(dirjson, sizeof dirjson, "%s/run.json", arg) >= (int)sizeof dirjson) {
            tm_err_set(err, "%s: path too long", arg);
            return NULL;
        }
        path = dirjson;
    }
    unsigned char *text = NULL;
    size_t len = 0;
    /* A regular file of bounded size (a FIFO would block; a huge file exhaust memory). */
    if (tm_read_file_max(path, RUN_JSON_MAX, &text, &len, err) != 0)
        return NULL;
    json_t *run = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (run == NULL) {
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
    struct rpt_src s;
    rpt_src_of_run(&s, run);
    return rpt_write_all_src(&s, baseline, dir, err);
}
