/* The run.json reader of merge, diff and --baseline, then diff and merge of the
 * run with itself (ids collide: merge must refuse, not crash). */
#include <jansson.h>
#include <stdio.h>

#include "fuzz.h"
#include "report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tm_err err = { 0 };
    json_t *run = report_load_run(fuzz_file("run.json", data, size), &err);
    if (run != NULL) {
        json_t *d = report_diff(run, run);
        FILE *null = fopen("/dev/null", "w");
        if (null != NULL) {
            report_print_diff(d, null);
            fclose(null);
        }
        const json_t *runs[] = { run, run };
        json_t *m = report_merge(runs, 1, &err);
        json_t *m2 = report_merge(runs, 2, &err);
        json_decref(m);
        json_decref(m2);
        json_decref(d);
    }
    json_decref(run);
    return 0;
}
