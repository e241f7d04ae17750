/* tlsmatrix under the bench: generated scenario sets (the bench set copied under
 * new names, so a 1,000-case run has 1,000 distinct records in run.json, as a
 * real nightly matrix would) and one summary per run from its run.json. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_run.h"
#include "tm_fs.h"

#define RUN_TIMEOUT_MS (240 * 1000)

static int is_yaml(const char *name)
{
    size_t n = strlen(name);
    return n > 5 && strcmp(name + n - 5, ".yaml") == 0;
}

static void empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    char path[2048];
    while ((e = readdir(d)) != NULL)
        if (is_yaml(e->d_name)) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    closedir(d);
}

/* Rewrite the `name:` line of one scenario text; the rest stays byte for byte. */
static int write_copy(const char *dir, const char *base, const char *text, int copy)
{
    const char *name = strstr(text, "\nname:");
    name = name != NULL ? name + 1 : (strncmp(text, "name:", 5) == 0 ? text : NULL);
    if (name == NULL)
        return -1;
    const char *eol = strchr(name, '\n');
    if (eol == NULL)
        return -1;
    char newname[600], path[2048];
    /* Copy number first: ids sort copy by copy, so every stretch of the run has
     * the same mix of cases and its first and last tenth compare like with like. */
    snprintf(newname, sizeof newname, "c%04d-%s", copy, base);
    size_t head = (size_t)(name - text);
    size_t len = strlen(text) + strlen(newname) + 16;
    char *out = malloc(len);
    if (out == NULL)
        return -1;
    int n = snprintf(out, len, "%.*sname: %s%s", (int)head, text, newname, eol);
    snprintf(path, sizeof path, "%s/%s.yaml", dir, newname);
    struct tm_err err;
    int rc = tm_write_file(path, out, (size_t)n, 0644, &err);
    if (rc != 0)
        fprintf(stderr, "bench_run: %s\n", err.msg);
    free(out);
    return rc;
}

int bench_gen_scenarios(const char *scen_dir, const char *dir, int copies)
{
    struct tm_err err;
    if (tm_mkdirs(dir, 0755, &err) != 0) {
        fprintf(stderr, "bench_run: %s\n", err.msg);
        return -1;
    }
    empty_dir(dir);
    DIR *d = opendir(scen_dir);
    if (d == NULL) {
        fprintf(stderr, "bench_run: %s: %s\n", scen_dir, strerror(errno));
        return -1;
    }
    int files = 0;
    struct dirent *e;
    while (files >= 0 && (e = readdir(d)) != NULL) {
        if (!is_yaml(e->d_name))
            continue;
        char path[2048], base[512];
        snprintf(path, sizeof path, "%s/%s", scen_dir, e->d_name);
        snprintf(base, sizeof base, "%.*s", (int)strlen(e->d_name) - 5, e->d_name);
        unsigned char *text;
        size_t len;
        if (tm_read_file(path, &text, &len, &err) != 0) {
            fprintf(stderr, "bench_run: %s\n", err.msg);
            files = -1;
            break;
        }
        for (int c = 1; c <= copies && files >= 0; c++)
            files = write_copy(dir, base, (const char *)text, c) == 0 ? files + 1 : -1;
        free(text);
    }
    closedir(d);
    return files;
}

int bench_count_cases(const struct bench_opt *o, const char *scenarios)
{
    char exe[1024];
    snprintf(exe, sizeof exe, "%s/tlsmatrix", o->bin_dir);
    char *argv[] = { exe, "list", "--scenarios", (char *)scenarios, "--json", NULL };
    struct bench_child c;
    int n = -1;
    if (bench_child_run(argv, NULL, 30000, &c) == 0 && c.exit_code == 0 && c.text != NULL) {
        json_t *list = json_loads(c.text, 0, NULL);
        if (json_is_array(list))
            n = (int)json_array_size(list);
        json_decref(list);
    }
    bench_child_free(&c);
    return n;
}

/* "c0007-bench-happy/openssl/p256/tls" -> "bench-happy/openssl/p256/tls" */
static void base_id(const char *id, char *out, size_t len)
{
    if (id[0] == 'c' && strlen(id) > 6 && id[5] == '-' && strspn(id + 1, "0123456789") == 4)
        id += 6;
    snprintf(out, len, "%s", id);
}

static void add_num(json_t *obj, const char *key, double v)
{
    json_t *old = json_object_get(obj, key);
    json_object_set_new(obj, key, json_real(json_number_value(old) + v));
}

/* Divide every member of sums by the matching member of counts (or by n). */
static json_t *means(const json_t *sums, const json_t *counts, double n)
{
    json_t *m = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)sums, k, v) {
        double d = counts != NULL ? json_number_value(json_object_get(counts, k)) : n;
        json_object_set_new(m, k, json_real(d > 0 ? json_number_value(v) / d : 0));
    }
    return m;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Bytes on the device link per case (run.json "link", both directions): the
 * median over the cases that exchanged any, and the sums. */
static void summarize_link(const json_t *cases, json_t *sum)
{
    size_t n = json_array_size(cases), k = 0;
    double *bytes = calloc(n ? n : 1, sizeof *bytes), sent = 0, got = 0, wait = 0;
    for (size_t i = 0; bytes != NULL && i < n; i++) {
        const json_t *l = json_object_get(json_array_get(cases, i), "link");
        double s = json_number_value(json_object_get(l, "sent"));
        double r = json_number_value(json_object_get(l, "received"));
        sent += s;
        got += r;
        wait += json_number_value(json_object_get(l, "wait_ms"));
        if (s + r > 0)
            bytes[k++] = s + r;
    }
    if (bytes != NULL && k > 0)
        qsort(bytes, k, sizeof *bytes, cmp_double);
    double median = k == 0 ? 0 : k % 2 ? bytes[k / 2] : (bytes[k / 2 - 1] + bytes[k / 2]) / 2;
    json_object_set_new(sum, "link", json_pack("{s:f,s:f,s:f,s:f,s:I}", "median_bytes_per_case",
                                               median, "sent", sent, "received", got, "wait_ms",
                                               wait, "cases_with_traffic", (json_int_t)k));
    free(bytes);
}

/* Per-stage sums and means, per base-case means, and the first and last tenth of
 * the run (in run.json order) to show whether per-case time drifts. */
static void summarize_cases(const json_t *cases, json_t *sum)
{
    json_t *stage_sum = json_object(), *per = json_object(), *per_n = json_object();
    size_t n = json_array_size(cases), tenth = n / 10 > 0 ? n / 10 : 1;
    double first = 0, last = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *c = json_array_get(cases, i);
        const json_t *t = json_object_get(c, "timings_ms");
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)t, k, v)
            add_num(stage_sum, k, json_number_value(v));
        double total = json_number_value(json_object_get(t, "total"));
        char id[512];
        base_id(json_string_value(json_object_get(c, "id")) ? json_string_value(
                    json_object_get(c, "id")) : "?", id, sizeof id);
        add_num(per, id, total);
        add_num(per_n, id, 1);
        if (i < tenth)
            first += total;
        if (i >= n - tenth)
            last += total;
    }
    json_object_set_new(sum, "stage_ms_sum", json_deep_copy(stage_sum));
    json_object_set_new(sum, "stage_ms_mean", means(stage_sum, NULL, (double)n));
    json_object_set_new(sum, "per_case_ms", means(per, per_n, 0));
    json_object_set_new(sum, "ms_per_case_mean",
                        json_real(n ? json_number_value(json_object_get(stage_sum, "total")) / n : 0));
    json_object_set_new(sum, "first_tenth_ms", json_real(first / (double)tenth));
    json_object_set_new(sum, "last_tenth_ms", json_real(last / (double)tenth));
    json_decref(stage_sum);
    json_decref(per);
    json_decref(per_n);
}

static void summarize_run(const char *report_dir, json_t *sum)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/run.json", report_dir);
    json_error_t jerr;
    json_t *run = json_load_file(path, 0, &jerr);
    if (run == NULL) {
        json_object_set_new(sum, "error", json_sprintf("%s: %s", path, jerr.text));
        return;
    }
    const json_t *cases = json_object_get(run, "cases");
    json_object_set_new(sum, "cases", json_integer((json_int_t)json_array_size(cases)));
    json_object_set(sum, "tcp_nodelay",
                    json_object_get(json_object_get(run, "header"), "tcp_nodelay"));
    json_object_set(sum, "verdicts", json_object_get(run, "totals"));
    summarize_cases(cases, sum);
    summarize_link(cases, sum);
    json_decref(run);
}

json_t *bench_tlsmatrix(const struct bench_opt *o, const char *label, const char *scenarios,
                        int devices, const char *spec, const char *report_dir)
{
    char exe[1024], errlog[2048];
    snprintf(exe, sizeof exe, "%s/tlsmatrix", o->bin_dir);
    snprintf(errlog, sizeof errlog, "%s.stderr", report_dir);
    unlink(errlog);
    char *argv[32];
    int a = 0;
    argv[a++] = exe;
    argv[a++] = "run";
    for (int d = 0; d < devices && d < 8; d++) {
        argv[a++] = "--device";
        argv[a++] = (char *)(spec ? spec : "virtual");
    }
    char *rest[] = { "--scenarios", (char *)scenarios, "--report", (char *)report_dir,
                     "--fixtures", (char *)o->fixtures, "--quiet", "--profile-stages", NULL };
    for (int i = 0; rest[i] != NULL; i++)
        argv[a++] = rest[i];
    argv[a] = NULL;
    json_t *sum = json_pack("{s:s,s:i}", "label", label, "devices", devices);
    struct bench_child c;
    if (bench_child_run(argv, errlog, RUN_TIMEOUT_MS, &c) != 0) {
        json_object_set_new(sum, "error", json_string("tlsmatrix did not start"));
        return sum;
    }
    json_object_set_new(sum, "exit", json_integer(c.exit_code));
    json_object_set_new(sum, "wall_ms", json_real(c.wall_ms));
    json_object_set_new(sum, "peak_rss_kb", json_integer(c.peak_rss_kb));
    json_object_set_new(sum, "ru_maxrss_kb", json_integer(c.ru_maxrss_kb));
    json_object_set_new(sum, "cpu_ms", json_real(c.cpu_ms));
    json_object_set_new(sum, "cpu_all_ms", json_real(c.cpu_all_ms));
    bench_child_free(&c);
    summarize_run(report_dir, sum);
    json_int_t n = json_integer_value(json_object_get(sum, "cases"));
    json_object_set_new(sum, "ms_per_case_wall", json_real(n > 0 ? c.wall_ms / (double)n : 0));
    json_object_set_new(sum, "cpu_ms_per_case", json_real(n > 0 && c.cpu_ms >= 0
                                                          ? c.cpu_ms / (double)n : -1));
    json_object_set_new(sum, "cpu_all_ms_per_case", json_real(n > 0 && c.cpu_all_ms >= 0
                                                              ? c.cpu_all_ms / (double)n : -1));
    return sum;
}
