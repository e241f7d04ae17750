/* `tlsmatrix compare`: runs side by side for a sign-off. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "report.h"

#define MAX_RUNS 26   /* named A..Z */

/* Each later run's regressions against the first, for the terminal. */
static void print_summary(const json_t *cmp, const char *const *files, FILE *out)
{
    size_t i, k;
    const json_t *r, *it;
    json_array_foreach(json_object_get(cmp, "runs"), i, r) {
        const json_t *reg = json_object_get(r, "regressions");
        fprintf(out, "%s  %s  (%s)", json_string_value(json_object_get(r, "name")), files[i],
                json_string_value(json_object_get(r, "label")));
        if (i == 0) {
            fputs(": reference\n", out);
            continue;
        }
        fprintf(out, ": %zu regression%s against A\n", json_array_size(reg),
                json_array_size(reg) == 1 ? "" : "s");
        json_array_foreach(reg, k, it) {
            if (k == 20) {
                fprintf(out, "    … %zu more (see compare.md)\n", json_array_size(reg) - k);
                break;
            }
            const json_t *nv = json_object_get(it, "new");
            fprintf(out, "    %s  %s -> %s\n", json_string_value(json_object_get(it, "id")),
                    json_string_value(json_object_get(it, "old")),
                    json_is_string(nv) ? json_string_value(nv) : "(none)");
        }
    }
}

int cli_compare(int argc, char **argv)
{
    const char *dir = "results/compare", *files[MAX_RUNS], *names[MAX_RUNS];
    static const char letters[MAX_RUNS][2] = { "A", "B", "C", "D", "E", "F", "G", "H", "I",
                                               "J", "K", "L", "M", "N", "O", "P", "Q", "R",
                                               "S", "T", "U", "V", "W", "X", "Y", "Z" };
    json_t *runs[MAX_RUNS];
    size_t n = 0;
    int rc = 2;
    struct tm_err err = { 0 };
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--report") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (argv[i][0] == '-') {
            rc = cli_usage_error("compare", "unknown option or missing value '%s'", argv[i]);
            goto out;
        } else if (n >= MAX_RUNS) {
            rc = cli_usage_error("compare", "at most %d runs", MAX_RUNS);
            goto out;
        } else if ((runs[n] = report_load_run(argv[i], &err)) == NULL) {
            tm_say("tlsmatrix compare: %s", err.msg);
            goto out;
        } else {
            files[n] = argv[i];
            names[n] = letters[n];
            n++;
        }
    }
    if (n < 2) {
        rc = cli_usage_error("compare", "expected at least two runs (run.json files or report "
                             "directories), the first the reference");
        goto out;
    }
    json_t *cmp = report_compare((const json_t *const *)runs, names, n);
    struct report_dir *rd = cmp ? report_dir_claim(dir, &err) : NULL;
    if (cmp == NULL) {
        tm_say("tlsmatrix compare: out of memory");
    } else if (rd == NULL || report_write_compare(cmp, dir, &err) != 0) {
        tm_say("tlsmatrix compare: --report %s", err.msg);
    } else {
        print_summary(cmp, files, stdout);
        printf("compare.html and compare.md in %s\n", dir);
        rc = report_compare_regressions(cmp) > 0 ? 1 : 0;
    }
    report_dir_release(rd);
    json_decref(cmp);
out:
    for (size_t i = 0; i < n; i++)
        json_decref(runs[i]);
    return rc;
}
