/* Smoke tests of the benchmark programs (bench/): with tiny N they run, every case
 * ends as expected, and what they print or write is valid JSON of the documented
 * shape. Nothing here asserts a time: benchmarks never fail on a number. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tm_fs.h"
#include "tm_proc.h"
#include "tm_time.h"

static char g_base[] = "/tmp/tm-test-bench-XXXXXX";   /* made once in main */

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : dflt;
}

static const char *build_dir(void) { return env_or("TM_BUILD_DIR", "build"); }
static const char *source_dir(void) { return env_or("TM_SOURCE_DIR", "."); }

/* Run argv to completion (deadline timeout_ms); its JSON stdout lines go into an
 * array; with strict, any other line fails the test. Returns the exit code, or -1
 * when it did not finish in time. */
static int run_capture(char *const argv[], int timeout_ms, int strict, json_t **lines)
{
    struct tm_proc p;
    struct tm_err err;
    *lines = json_array();
    ck_assert_msg(tm_proc_spawn(&p, argv, NULL, &err) == 0, "%s: %s", argv[0], err.msg);
    tm_ms deadline = tm_deadline_in(timeout_ms);
    struct tm_lines lr;
    tm_lines_init(&lr, p.out_fd, 1 << 20);
    for (;;) {
        char *line = NULL;
        int r = tm_lines_read(&lr, deadline, &line, &err);
        if (r != 1)
            break;
        json_t *v = json_loads(line, 0, NULL);
        ck_assert_msg(json_is_object(v) || !strict,
                      "%s printed a line that is not a JSON object: %s", argv[0], line);
        if (json_is_object(v))
            json_array_append_new(*lines, v);
        else
            json_decref(v);
        free(line);
    }
    tm_lines_free(&lr);
    int timed_out = tm_proc_wait(&p, deadline);
    if (timed_out)
        tm_proc_stop(&p, 1000);
    close(p.out_fd);
    return timed_out ? -1 : tm_proc_exit_code(&p);
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s != NULL ? s : "";
}

START_TEST(bare_every_config_as_expected)
{
    char exe[1024];
    snprintf(exe, sizeof exe, "%s/bin/bench_bare", build_dir());
    /* n=3: the DTLS failing-verify configuration needs the server to be ready again
     * between handshakes; one handshake would not show a lost ClientHello. */
    char *argv[] = { exe, "-n", "3", "-k", "p256", NULL };
    json_t *lines;
    ck_assert_int_eq(run_capture(argv, 120000, 1, &lines), 0);
    /* happy and untrusted x (TLS with NODELAY, TLS without, DTLS) */
    ck_assert_int_eq(json_array_size(lines), 6);
    size_t i;
    json_t *l;
    int without = 0;
    json_array_foreach(lines, i, l) {
        ck_assert_str_eq(str(l, "bench"), "bare");
        ck_assert_str_eq(str(l, "keytype"), "p256");
        ck_assert_int_eq(json_integer_value(json_object_get(l, "as_expected")), 3);
        ck_assert(json_number_value(json_object_get(l, "ms_per_handshake")) > 0);
        const json_t *nd = json_object_get(l, "nodelay");
        if (strcmp(str(l, "proto"), "dtls") == 0)
            ck_assert(json_is_null(nd));
        else
            without += json_is_false(nd);
    }
    ck_assert_int_eq(without, 2);
    json_decref(lines);
}
END_TEST

START_TEST(bare_usage_error)
{
    char exe[1024];
    snprintf(exe, sizeof exe, "%s/bin/bench_bare", build_dir());
    char *argv[] = { exe, "-x", NULL };
    json_t *lines;
    ck_assert_int_eq(run_capture(argv, 10000, 1, &lines), 2);
    ck_assert_int_eq(json_array_size(lines), 0);
    json_decref(lines);
}
END_TEST

START_TEST(shell_loop_same_cases)
{
    char script[1024], bin[1024], certs[1024];
    snprintf(script, sizeof script, "%s/bench/shell_loop.sh", source_dir());
    snprintf(bin, sizeof bin, "%s/bin", build_dir());
    snprintf(certs, sizeof certs, "%s/fixtures/certs", build_dir());
    char *argv[] = { "sh", script, bin, certs, "1", "nodelay", NULL };
    json_t *lines;
    ck_assert_int_eq(run_capture(argv, 120000, 1, &lines), 0);
    ck_assert_int_eq(json_array_size(lines), 12);
    json_t *seen = json_object();
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l) {
        ck_assert(json_is_true(json_object_get(l, "as_expected")));
        ck_assert(json_is_true(json_object_get(l, "nodelay")));
        char id[128];
        snprintf(id, sizeof id, "%s/%s/%s", str(l, "case"), str(l, "keytype"), str(l, "proto"));
        ck_assert_msg(json_object_get(seen, id) == NULL, "case %s twice", id);
        json_object_set_new(seen, id, json_true());
    }
    ck_assert_ptr_nonnull(json_object_get(seen, "untrusted/rsa2048/dtls"));
    json_decref(seen);
    json_decref(lines);
}
END_TEST

static void check_runs(const json_t *runs)
{
    /* small, large and large on two devices; one and eight UART cameras */
    ck_assert_int_eq(json_array_size(runs), 5);
    size_t i;
    json_t *r;
    json_array_foreach(runs, i, r) {
        ck_assert_msg(json_object_get(r, "error") == NULL, "run %s: %s", str(r, "label"),
                      str(r, "error"));
        ck_assert_int_eq(json_integer_value(json_object_get(r, "exit")), 0);
        ck_assert(json_integer_value(json_object_get(r, "cases")) >= 12);
        ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "verdicts"),
                                                            "fail")), 0);
        ck_assert(json_integer_value(json_object_get(r, "peak_rss_kb")) > 0);
        ck_assert_ptr_nonnull(json_object_get(json_object_get(r, "stage_ms_mean"), "peer_start"));
        /* every case talked to its device; the harness's own CPU was sampled */
        const json_t *link = json_object_get(r, "link");
        ck_assert_int_eq(json_integer_value(json_object_get(link, "cases_with_traffic")),
                         json_integer_value(json_object_get(r, "cases")));
        ck_assert(json_number_value(json_object_get(link, "median_bytes_per_case")) > 100);
        ck_assert(json_number_value(json_object_get(r, "cpu_ms")) > 0);
        /* at 115200 baud a reply line takes tens of ms to arrive after its first
         * bytes (a lower bound: load only makes it longer) */
        if (strncmp(str(r, "label"), "uart-", 5) == 0)
            ck_assert_msg(json_number_value(json_object_get(link, "wait_ms"))
                              > 5.0 * (double)json_integer_value(json_object_get(r, "cases")),
                          "%s: link wait %.0f ms", str(r, "label"),
                          json_number_value(json_object_get(link, "wait_ms")));
    }
}

START_TEST(bench_run_quick_writes_json)
{
    char exe[1024], work[1024], path[1100];
    snprintf(exe, sizeof exe, "%s/bin/bench_run", build_dir());
    snprintf(work, sizeof work, "%s/quick", g_base);
    char *argv[] = { exe, "--build", (char *)build_dir(), "--source", (char *)source_dir(),
                     "--work", work, "--quick", NULL };
    json_t *lines;
    ck_assert_int_eq(run_capture(argv, 200000, 0, &lines), 0);
    json_decref(lines);
    snprintf(path, sizeof path, "%s/bench.json", work);
    json_error_t jerr;
    json_t *b = json_load_file(path, 0, &jerr);
    ck_assert_msg(b != NULL, "%s: %s", path, jerr.text);
    ck_assert_str_eq(str(b, "format"), "tlsmatrix-bench/1");
    ck_assert_int_eq(json_array_size(json_object_get(b, "per_case")), 12);
    check_runs(json_object_get(b, "tlsmatrix"));
    const json_t *ratios = json_object_get(b, "ratios");
    ck_assert(json_number_value(json_object_get(ratios, "tlsmatrix_over_bare")) > 0);
    ck_assert(json_number_value(json_object_get(ratios, "shell_over_tlsmatrix")) > 0);
    ck_assert(json_number_value(json_object_get(ratios, "two_over_one_device")) > 0);
    const json_t *targets = json_object_get(b, "targets");
    ck_assert_int_eq(json_array_size(targets), 7);   /* --quick: no catalog targets */
    size_t i;
    json_t *t;
    json_array_foreach(targets, i, t)
        ck_assert_msg(strcmp(str(t, "status"), "met") == 0 ||
                      strcmp(str(t, "status"), "not met") == 0, "target %s: %s",
                      str(t, "target"), str(t, "status"));
    ck_assert_str_eq(str(json_object_get(json_object_get(b, "header"), "tcp_nodelay"),
                         "tlsmatrix"), "true");
    json_decref(b);
}
END_TEST

int main(void)
{
    if (mkdtemp(g_base) == NULL) {
        perror("mkdtemp");
        return 99;
    }
    Suite *s = suite_create("bench");
    TCase *t = tcase_create("smoke");
    tcase_set_timeout(t, 200);
    tcase_add_test(t, bare_every_config_as_expected);
    tcase_add_test(t, bare_usage_error);
    tcase_add_test(t, shell_loop_same_cases);
    tcase_add_test(t, bench_run_quick_writes_json);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    tm_rmtree(g_base, NULL);
    return failed == 0 ? 0 : 1;
}
