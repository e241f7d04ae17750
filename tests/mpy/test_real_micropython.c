/* A real MicroPython (the unix port 1.25 on mbedTLS 3.6.6, build/mpy/micropython)
 * as a device, driven through an exec-agent: link that runs camera/agent/agent.py.
 *   catalog:  the whole catalog on it (--jobs 2): exit 0, no unexpected verdict,
 *             its own profile picked from its hello, and the cases its clock can
 *             run are run (only capability skips, from its hello).
 *   vcam125:  the virtual camera's run of the catalog, as firmware of 1.25's age.
 *   fidelity: the two runs compared device side case by case (`diff --fidelity`):
 *             every difference explained.
 * The two runs keep their reports (TM_MPY_REPORT, TM_VCAM125_REPORT) for the fidelity
 * test; they are separate tests so that ctest runs them side by side. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog_run.h"
#include "tm_fs.h"

#define TLSMATRIX TM_BIN_DIR "/tlsmatrix"
#define AGENT TM_SOURCE_DIR "/camera/agent/agent.py"
#define VCAM_AS_MPY125 "virtual:--profile " TM_SOURCE_DIR "/tests/mpy/vcam-mpy125.yaml"
#define HARD_LIMIT_S 200     /* kill a hung run; the ctest TIMEOUT is above this */
#ifndef TM_MPY_FILTER
#define TM_MPY_FILTER "*"    /* the sanitizer build runs a slice (tests/mpy/CMakeLists.txt) */
#endif

static char tmpdir[256];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/tm-real-mpy-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    ck_assert_int_eq(tm_rmtree(tmpdir, NULL), 0);
}

#if defined(TM_MPY_TEST_catalog) || defined(TM_MPY_TEST_vcam125)
static char *slurp(const char *path)
{
    unsigned char *text = NULL;
    size_t len = 0;
    tm_read_file(path, &text, &len, NULL);
    return (char *)text;
}
#endif

#ifdef TM_MPY_TEST_catalog
static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* The only reasons this device may skip a case: what its hello lacks. */
static int capability_skip(const char *reason)
{
    static const char *const ok[] = {
        "device clock cannot be set (hello clock.settable=false) and the case needs clock: unset",
        "device has no ssl wrapper (hello modules.ssl=false)",
        "device has no DTLS client_id (hello caps.client_id=false)",
        "fault steps need the virtual camera (hello virtual=false)",
        "device's mbedTLS allocates outside the GC heap (hello caps.tls_gc_heap=false)",
    };
    for (size_t i = 0; reason != NULL && i < sizeof ok / sizeof ok[0]; i++)
        if (strncmp(reason, ok[i], strlen(ok[i])) == 0)
            return 1;
    return 0;
}

START_TEST(catalog_on_real_micropython)
{
    char out[300], spec[600], runjson[400];
    snprintf(out, sizeof out, "%s/output.txt", tmpdir);
    snprintf(spec, sizeof spec, "exec-agent:%s %s", TM_MPY, AGENT);
    char *argv[] = { TLSMATRIX, "run", "--device", spec, "--jobs", "2", "--filter",
                     TM_MPY_FILTER, "--report", TM_MPY_REPORT, NULL };
    int64_t took = 0;
    int rc = catalog_run_tool(argv, out, HARD_LIMIT_S, &took);
    char *text = slurp(out);
    snprintf(runjson, sizeof runjson, "%s/run.json", TM_MPY_REPORT);
    json_error_t jerr;
    json_t *run = json_load_file(runjson, 0, &jerr);
    ck_assert_msg(run != NULL, "no run.json (exit %d): %s\n%s", rc, jerr.text, text ?: "");
    const json_t *hdr = json_object_get(run, "header"), *cases = json_object_get(run, "cases");
    const json_t *dev = json_array_get(json_object_get(hdr, "devices"), 0);
    const json_t *hello = json_object_get(dev, "hello");
    /* The device is what it claims: the agent itself on MicroPython 1.25, mbedTLS 3.6.6. */
    ck_assert_str_eq(str(dev, "upload"), "direct");
    ck_assert_str_eq(str(json_object_get(hello, "impl"), "version"), "1.25.0");
    ck_assert_str_eq(str(hello, "mbedtls"), "Mbed TLS 3.6.6");
    ck_assert(json_is_false(json_object_get(json_object_get(hello, "caps"), "pem")));
    ck_assert(json_is_false(json_object_get(json_object_get(hello, "clock"), "settable")));
    /* The agent keeps a session holder (docs/contracts.md §3): free at the first hello,
     * then taken by this run's claim (a compare-and-set the unix port answered, or no
     * case would have run); no unique_id on this port. */
    ck_assert(json_is_null(json_object_get(hello, "lock")));
    ck_assert(json_is_null(json_object_get(hello, "unique_id")));
    ck_assert_ptr_null(json_object_get(dev, "lock"));
    /* Judged by its own profile, picked from the hello (no --profile given). */
    ck_assert_str_eq(str(hdr, "profile"), "micropython-unix");
    size_t i, executed = 0, heap_skips = 0;
    json_t *c;
    static char bad[16384];
    size_t o = 0;
    json_array_foreach(cases, i, c) {
        const char *v = str(c, "verdict");
        int fine = v != NULL && (strcmp(v, "pass") == 0 || strcmp(v, "xfail") == 0
                                 || (strcmp(v, "skip") == 0 && capability_skip(str(c, "reason"))));
        executed += v != NULL && strcmp(v, "skip") != 0;
        /* memory-* cases: this port's mbedTLS is not on the GC heap (device model §9) */
        heap_skips += v != NULL && strcmp(v, "skip") == 0 && strstr(str(c, "reason") ?: "", "tls_gc_heap");
        if (!fine && o + 600 < sizeof bad)
            o += (size_t)snprintf(bad + o, sizeof bad - o, "\n  %s: %s (%.400s)", str(c, "id"),
                                  v ? v : "no verdict", str(c, "reason") ?: "");
    }
    ck_assert_msg(bad[0] == '\0', "exit %d; unexpected verdicts or skips:%s", rc, bad);
    ck_assert_msg(rc == 0, "exit %d\n%s", rc, text ?: "");
    ck_assert_uint_eq(json_array_size(cases), catalog_run_case_count_of(TM_MPY_FILTER));
    /* The clock rule at work: the reference-time cases run at the device's own time. */
    ck_assert_msg(executed + heap_skips + 30 >= json_array_size(cases),
                  "only %zu of %zu cases executed (%zu heap_free skips)", executed,
                  json_array_size(cases), heap_skips);
    fprintf(stderr, "real MicroPython: %zu cases, %zu executed, %lld ms\n",
            json_array_size(cases), executed, (long long)took);
    free(text);
    json_decref(run);
}
END_TEST
#endif

#ifdef TM_MPY_TEST_vcam125
START_TEST(virtual_camera_as_mpy125)
{
    char out[300];
    snprintf(out, sizeof out, "%s/vcam.txt", tmpdir);
    /* The virtual camera as firmware of the same age (vcam-mpy125.yaml): like with like. */
    char *run_argv[] = { TLSMATRIX, "run", "--device", VCAM_AS_MPY125, "--jobs", "2",
                         "--report", TM_VCAM125_REPORT, NULL };
    int rc = catalog_run_tool(run_argv, out, HARD_LIMIT_S, NULL);
    char *text = slurp(out);
    ck_assert_msg(rc == 0, "virtual camera run: exit %d\n%s", rc, text ?: "");
    free(text);
}
END_TEST
#endif

#ifdef TM_MPY_TEST_fidelity
START_TEST(fidelity_with_the_virtual_camera)
{
    char vcam_json[400], mpy_json[400], diff_out[300];
    snprintf(vcam_json, sizeof vcam_json, "%s/run.json", TM_VCAM125_REPORT);
    snprintf(mpy_json, sizeof mpy_json, "%s/run.json", TM_MPY_REPORT);
    snprintf(diff_out, sizeof diff_out, "%s/fidelity.json", tmpdir);
    char *diff_argv[] = { TLSMATRIX, "diff", "--fidelity", "--json", vcam_json, mpy_json, NULL };
    int rc = catalog_run_tool(diff_argv, diff_out, HARD_LIMIT_S, NULL);
    json_error_t jerr;
    json_t *f = json_load_file(diff_out, 0, &jerr);
    ck_assert_msg(f != NULL, "diff --fidelity (exit %d) printed no JSON: %s", rc, jerr.text);
    const json_t *t = json_object_get(f, "totals");
    char *un = json_dumps(json_object_get(f, "unexplained"), JSON_INDENT(1));
    ck_assert_msg(json_integer_value(json_object_get(t, "unexplained")) == 0 && rc == 0,
                  "exit %d; differences no profile explains: %.12000s", rc, un ?: "");
    free(un);
    ck_assert_int_eq(json_integer_value(json_object_get(t, "compared")), (json_int_t)catalog_run_case_count());
    ck_assert_int_eq(json_integer_value(json_object_get(t, "only_a")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(t, "only_b")), 0);
    json_int_t same = json_integer_value(json_object_get(t, "same"));
    ck_assert_int_gt(same, 200);   /* the two devices really ran the same cases alike */
    fprintf(stderr, "fidelity: %lld compared, %lld same, %lld skipped on both, %lld explained\n",
            (long long)json_integer_value(json_object_get(t, "compared")), (long long)same,
            (long long)json_integer_value(json_object_get(t, "same_skipped")),
            (long long)json_integer_value(json_object_get(t, "explained")));
    json_decref(f);
}
END_TEST
#endif

int main(void)
{
    Suite *s = suite_create("real-micropython");
    TCase *tc = tcase_create("real-micropython");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, HARD_LIMIT_S + 20);
#ifdef TM_MPY_TEST_catalog
    tcase_add_test(tc, catalog_on_real_micropython);
#endif
#ifdef TM_MPY_TEST_vcam125
    tcase_add_test(tc, virtual_camera_as_mpy125);
#endif
#ifdef TM_MPY_TEST_fidelity
    tcase_add_test(tc, fidelity_with_the_virtual_camera);
#endif
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
