/* The typed case core: case_build (the one validator) with its codes and words,
 * the same refusal from a scenario file and from `tlsmatrix repro`, and a case
 * run that depends on the device clock (`clock: keep`) on the virtual camera. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness_kit.h"
#include "case/case.h"
#include "scenario/scenario.h"
#include "tm_fs.h"

#define TLSMATRIX TM_BIN_DIR "/tlsmatrix"

static char tmpdir[256];

static void setup(void)
{
    hk_dir_make(tmpdir, sizeof tmpdir, "case");
}

static void teardown(void)
{
    hk_dir_remove(tmpdir);
}

static json_t *base_case(void)
{
    return json_pack("{s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s, s:[s], s:s, s:s},"
                     " s:{s:[s, s], s:s, s:s, s:b, s:b}, s:{s:[s]}}",
                     "id", "x/gnutls/p384/dtls", "axes", "backend", "gnutls", "keytype", "p384",
                     "proto", "dtls", "device", "role", "server", "verify", "optional", "ca",
                     "p384-root.der", "server_hostname", "test.local", "clock", "keep", "peer",
                     "cert", "a.der", "b.der", "key", "a.key.der", "cookie", "off", "no_tickets",
                     1, "echo", 0, "expected", "device", "verify-failed:expired+hostname");
}

START_TEST(build_types_every_part)
{
    struct tm_err err = { 0 };
    struct tm_case c;
    json_t *j = base_case();
    ck_assert_msg(case_build(j, &c, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(c.id, "x/gnutls/p384/dtls");
    ck_assert_int_eq(c.backend, CASE_GNUTLS);
    ck_assert_int_eq(c.proto, CASE_DTLS);
    ck_assert_str_eq(c.keytype, "p384");
    ck_assert_int_eq(c.device.role, CASE_SERVER);
    ck_assert_int_eq(c.device.layer, CASE_LAYER_TLS);   /* default */
    ck_assert_int_eq(c.device.verify, CASE_VERIFY_OPTIONAL);
    ck_assert_int_eq(c.device.clock, CASE_CLOCK_KEEP);
    ck_assert_int_eq(c.device.has_ca, 1);
    ck_assert_uint_eq(c.device.nca, 1);   /* a scalar is a list of one */
    ck_assert_int_eq(c.device.ca[0].kind, CASE_SRC_FIXTURE);
    ck_assert_uint_eq(c.peer.ncert, 2);
    ck_assert_str_eq(c.peer.key, "a.key.der");
    ck_assert_uint_eq(c.peer.nflags, 2);   /* echo: false is "not given" */
    ck_assert_str_eq(c.peer.flags[0].key, "cookie");
    ck_assert_str_eq(c.peer.flags[0].value, "off");
    ck_assert_ptr_null(c.peer.flags[1].value);   /* no_tickets: true → bare flag */
    ck_assert_uint_eq(c.expect.device.n, 1);
    ck_assert_str_eq(c.expect.peer.v[0], "*");   /* no peer expectation: anything */
    ck_assert_ptr_null(c.proxy);
    enum case_outcome k;
    ck_assert_int_eq(case_class_check(CASE_SIDE_PEER, "alert-received:unknown_ca", &k, &err), 0);
    ck_assert_int_eq(k, CASE_OC_ALERT_RECEIVED);
    ck_assert_int_eq(case_class_check(CASE_SIDE_DEVICE, "verify-failed:*", &k, &err), 0);
    ck_assert_int_eq(k, CASE_OC_ANY);
    ck_assert_int_eq(c.device.heap_free, 0);   /* not set */
    ck_assert_int_eq(case_class_check(CASE_SIDE_DEVICE, "recovered:error:memory-error", &k, &err), 0);
    ck_assert_int_eq(k, CASE_OC_RECOVERED);
    case_free(&c);
    json_object_set_new(json_object_get(j, "device"), "heap_free", json_integer(40000));
    ck_assert_msg(case_build(j, &c, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(c.device.heap_free, 40000);
    case_free(&c);
    json_decref(j);
}
END_TEST

/* Each bad field: refused with code TM_E_INPUT and words naming the field. */
START_TEST(build_refuses_with_input_code)
{
    static const struct {
        const char *path, *key, *bad, *want;
    } bad[] = {
        { "device", "role", "boss", "field 'role': 'boss' is not one of client, server" },
        { "device", "clock", "noon", "field 'clock': 'noon' is not one of reference, unset, keep, now" },
        { "device", "clock", "2026-13-45", "field 'clock': '2026-13-45' is not a time" },
        { "axes", "proto", "quic", "field 'proto': 'quic' is not one of tls, dtls" },
        { "peer", "bogus_flag", "1", "peer: unknown key 'bogus_flag'" },
        { "expected", "device", "verify-failed:expird", "expect.device: 'verify-failed:expird': "
          "unknown verify reason 'expird'" },
        { "expected", "device", "lost", "expect.device: 'lost': 'lost' is an infrastructure outcome" },
        { "expected", "device", "alert-sent:x", "expect.device: 'alert-sent:x': not a device class" },
        { "device", "heap_free", "40k", "field 'heap_free': expected the bytes of heap left free" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct tm_err err = { 0 };
        struct tm_case c;
        json_t *j = base_case();
        json_object_set_new(json_object_get(j, bad[i].path), bad[i].key, json_string(bad[i].bad));
        ck_assert_int_eq(case_build(j, &c, &err), -1);
        ck_assert_msg(tm_err_code(&err) == TM_E_INPUT, "%zu: %s", i, tm_errc_name(tm_err_code(&err)));
        ck_assert_msg(strncmp(err.msg, bad[i].want, strlen(bad[i].want)) == 0, "%zu: %s", i, err.msg);
        ck_assert_ptr_null(c.id);   /* emptied on error */
        json_decref(j);
    }
    /* heap_free out of range: refused with the words the loader and repro use */
    struct tm_err err = { 0 };
    struct tm_case c;
    json_t *j = base_case();
    json_object_set_new(json_object_get(j, "device"), "heap_free", json_integer(0));
    ck_assert_int_eq(case_build(j, &c, &err), -1);
    ck_assert_int_eq(tm_err_code(&err), TM_E_INPUT);
    ck_assert_msg(strstr(err.msg, "heap_free") != NULL, "%s", err.msg);
    json_decref(j);
    /* A proxy on a TLS case can never apply. */
    j = base_case();
    json_object_set_new(json_object_get(j, "axes"), "proto", json_string("tls"));
    json_object_set_new(j, "proxy", json_pack("{s:f}", "drop", 0.1));
    ck_assert_int_eq(case_build(j, &c, &err), -1);
    ck_assert_int_eq(tm_err_code(&err), TM_E_INPUT);
    json_decref(j);
}
END_TEST

/* The peer keys a scenario may set come from tlspeer's flag table. */
START_TEST(peer_keys_from_the_flag_table)
{
    struct tm_err err = { 0 };
    static const char *const ok[] = { "cert", "key", "ca", "args", "max_version", "no_tickets",
                                      "max_send_frag", "misbehave", "dtls_timeout" };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        ck_assert_msg(case_peer_key_check(ok[i], &err) == 0, "%s: %s", ok[i], err.msg);
    /* harness-owned flags, -- spellings and switches without a key are refused */
    static const char *const bad[] = { "connect", "timeout", "tls1_3", "max-version", "backend", "x" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(case_peer_key_check(bad[i], &err) == -1, "%s accepted", bad[i]);
        ck_assert_int_eq(tm_err_code(&err), TM_E_INPUT);
    }
    ck_assert_msg(strstr(err.msg, "peer: unknown key 'x' (cert, key, ca, args, verify,") == err.msg,
                  "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "max_send_frag") != NULL, "%s", err.msg);
}
END_TEST

/* A given clock time (x509-limbo's validation_time), a skip the source knows,
 * and an excluded class: what other sources than scenarios put in a case. */
START_TEST(clock_at_skip_and_exclusions)
{
    struct tm_err err = { 0 };
    struct tm_case c;
    json_t *j = json_pack("{s:s, s:{s:s}, s:{s:s, s:[I, I]}, s:{s:[s, s]}, s:s}",
                          "id", "x/openssl/p256/tls", "axes", "keytype", "p256", "device",
                          "clock", "1970-01-01T00:16:40Z", "clock_span", (json_int_t)900,
                          (json_int_t)2000, "expected", "device", "error:*",
                          "!error:ecp-verify-failed", "skip", "known reason");
    ck_assert_msg(case_build(j, &c, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(c.device.clock, CASE_CLOCK_AT);
    ck_assert_int_eq(c.device.clock_at, 1000);
    ck_assert_int_eq(c.device.clock_span[0], 900);
    ck_assert_int_eq(c.device.clock_span[1], 2000);
    ck_assert_str_eq(c.skip, "known reason");
    case_free(&c);
    json_array_set_new(json_object_get(json_object_get(j, "device"), "clock_span"), 0, json_integer(1500));
    ck_assert_int_eq(case_build(j, &c, &err), -1);
    ck_assert_msg(strstr(err.msg, "device.clock_span") != NULL, "%s", err.msg);
    json_object_set_new(json_object_get(j, "device"), "clock", json_string("keep"));
    ck_assert_int_eq(case_build(j, &c, &err), -1);
    ck_assert_msg(strstr(err.msg, "device.clock_span: only with a clock that is a time") != NULL,
                  "%s", err.msg);
    json_decref(j);
    ck_assert_int_eq(case_class_check(CASE_SIDE_DEVICE, "!verify-failed:expired", NULL, &err), 0);
    ck_assert_int_eq(case_class_check(CASE_SIDE_DEVICE, "!*", NULL, &err), -1);
    ck_assert_int_eq(case_class_check(CASE_SIDE_DEVICE, "!verify-failed:expird", NULL, &err), -1);
}
END_TEST

static char *slurp(const char *path)
{
    unsigned char *d = NULL;
    size_t len;
    return tm_read_file(path, &d, &len, NULL) == 0 ? (char *)d : strdup("");
}

/* The typo refused in a scenario file (after FILE:LINE) and by repro's options
 * (exit 2, nothing run) in the same words: an expected class, a heap_free figure. */
static void refused_alike(const char *yaml, int line, const char *repro_args)
{
    char file[400], out[400], cmd[1400];
    snprintf(file, sizeof file, "%s/typo.yaml", tmpdir);
    ck_assert_int_eq(tm_write_file(file, yaml, strlen(yaml), 0644, NULL), 0);
    json_t *errors = json_array();
    const char *paths[] = { file };
    json_decref(scenario_load_all(paths, 1, errors));
    const char *loader = json_string_value(json_array_get(errors, 0));
    ck_assert_ptr_nonnull(loader);
    char prefix[500];
    snprintf(prefix, sizeof prefix, "%s:%d: ", file, line);
    ck_assert_msg(strncmp(loader, prefix, strlen(prefix)) == 0, "%s", loader);
    snprintf(out, sizeof out, "%s/repro.txt", tmpdir);
    snprintf(cmd, sizeof cmd, "timeout 60 %s repro --ca fixture:p256-root.der %s --report %s/r >%s 2>&1",
             TLSMATRIX, repro_args, tmpdir, out);
    int st = system(cmd);
    ck_assert_int_eq(WEXITSTATUS(st), 2);
    char *text = slurp(out), want[1200];
    snprintf(want, sizeof want, "tlsmatrix repro: %s\n", loader + strlen(prefix));
    ck_assert_str_eq(text, want);
    snprintf(cmd, sizeof cmd, "%s/r", tmpdir);
    ck_assert_int_ne(access(cmd, F_OK), 0);   /* nothing written */
    free(text);
    json_decref(errors);
}

START_TEST(repro_refuses_like_the_loader)
{
    refused_alike("name: typo\ndoc: a typo in the expected class\n"
                  "device: {role: client, ca: [p256-root.der]}\n"
                  "expect: {device: 'verify-failed:expird'}\n", 4,
                  "--expect-device verify-failed:expird");
    refused_alike("name: typo\ndoc: no heap at all\n"
                  "device: {role: client, ca: [p256-root.der],\n"
                  "         heap_free: 0}\n"
                  "expect: {device: ok}\n", 4, "--heap-free 0");
    refused_alike("name: typo\ndoc: not a number\n"
                  "device: {role: client, ca: [p256-root.der], heap_free: 2000000000}\n"
                  "expect: {device: ok}\n", 3, "--heap-free 2000000000");
}
END_TEST

static void write_scenario(const char *name, const char *clock, const char *expect)
{
    char path[400], text[1200];
    snprintf(path, sizeof path, "%s/sc/%s.yaml", tmpdir, name);
    snprintf(text, sizeof text,
             "name: %s\ndoc: a valid chain checked against the device clock\n"
             "device: {role: client, verify: required, ca: ['{kt}-root.der'],\n"
             "         server_hostname: test.local, clock: %s}\n"
             "peer: {cert: ['{kt}-server.der', '{kt}-int.der'], key: '{kt}-server.key.der'}\n"
             "axes: {backend: [openssl]}\n"
             "expect: {device: '%s'}\n", name, clock, expect);
    ck_assert_int_eq(tm_write_file(path, text, strlen(text), 0644, NULL), 0);
}

/* clock: keep runs on the device's own clock (the virtual camera's power-on RTC,
 * 2015: every certificate is in the future), also right after a case that set
 * the reference clock on the same device. Before the fix the keep case saw the
 * reference clock the first case left behind, and passed the chain. */
/* heap_free on a device that has less free when the operation comes than its hello
 * said (a leak planted by the virtual camera's test-only fault at the first request):
 * the agent answers unsupported at stage heap and the case is skipped with its words,
 * not failed (docs/device-model.md §9). */
START_TEST(heap_free_unreachable_is_a_skip)
{
    char cmd[1600], out[400], runjson[400];
    snprintf(out, sizeof out, "%s/heap.txt", tmpdir);
    snprintf(cmd, sizeof cmd, "timeout 100 %s repro --device 'virtual:--fault leak:1000@request=1' "
             "--ca fixture:p256-root.der --peer-cert fixture:p256-server.der "
             "--peer-cert fixture:p256-int.der --peer-key fixture:p256-server.key.der --heap-free 237000 --allow-skips --report %s/rep >%s 2>&1",
             TLSMATRIX, tmpdir, out);
    int st = system(cmd);
    char *text = slurp(out);
    ck_assert_msg(WEXITSTATUS(st) == 0, "exit %d\n%s", WEXITSTATUS(st), text);
    free(text);
    snprintf(runjson, sizeof runjson, "%s/rep/run.json", tmpdir);
    json_t *run = json_load_file(runjson, 0, NULL);
    ck_assert_ptr_nonnull(run);
    json_t *c = json_array_get(json_object_get(run, "cases"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(c, "verdict")), "skip");
    const char *why = json_string_value(json_object_get(c, "reason"));
    ck_assert_msg(strstr(why, "heap_free 237000: only 236568 bytes free") != NULL, "%s", why);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(c, "heap"), "free_asked")),
                     237000);
    json_decref(run);
}
END_TEST

START_TEST(clock_keep_is_the_devices_own_clock)
{
    char dir[400], cmd[1600], out[400], runjson[400];
    snprintf(dir, sizeof dir, "%s/sc", tmpdir);
    ck_assert_int_eq(tm_mkdirs(dir, 0755, NULL), 0);
    write_scenario("a-reference", "reference", "ok");
    write_scenario("b-keep", "keep", "verify-failed:future");
    write_scenario("c-reference", "reference", "ok");
    snprintf(out, sizeof out, "%s/run.txt", tmpdir);
    snprintf(cmd, sizeof cmd, "timeout 100 %s run --device virtual --jobs 1 --quiet --scenarios %s "
             "--report %s/rep >%s 2>&1", TLSMATRIX, dir, tmpdir, out);
    int st = system(cmd);
    char *text = slurp(out);
    ck_assert_msg(WEXITSTATUS(st) == 0, "exit %d\n%s", WEXITSTATUS(st), text);
    free(text);
    snprintf(runjson, sizeof runjson, "%s/rep/run.json", tmpdir);
    json_t *run = json_load_file(runjson, 0, NULL);
    ck_assert_ptr_nonnull(run);
    json_t *cases = json_object_get(run, "cases");
    ck_assert_uint_eq(json_array_size(cases), 3);
    const char *dev = json_string_value(json_object_get(json_object_get(json_array_get(cases, 1),
                                                                        "actual"), "device"));
    ck_assert_str_eq(dev, "verify-failed:future");
    json_decref(run);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("case");
    TCase *tc = tcase_create("case");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 110);
    tcase_add_test(tc, build_types_every_part);
    tcase_add_test(tc, clock_at_skip_and_exclusions);
    tcase_add_test(tc, build_refuses_with_input_code);
    tcase_add_test(tc, repro_refuses_like_the_loader);
    tcase_add_test(tc, heap_free_unreachable_is_a_skip);
    tcase_add_test(tc, peer_keys_from_the_flag_table);
    tcase_add_test(tc, clock_keep_is_the_devices_own_clock);
    SRunner *sr = srunner_create(s);
    suite_add_tcase(s, tc);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
