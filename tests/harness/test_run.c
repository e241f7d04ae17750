/* `tlsmatrix run` end to end: the real program against the virtual camera with
 * real tlspeer processes on loopback, a small scenario set written here, and
 * fault injection (docs/device-model.md §4; vcam --fault). */
#include <check.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness_kit.h"
#include "tm_fs.h"
#include "tm_proc.h"

#define TLSMATRIX TM_BIN_DIR "/tlsmatrix"

#define REAL_AGENT TM_SOURCE_DIR "/camera/agent/agent.py"

static char tmpdir[256], scen[300], report[300], out_path[300], agent[300];

static const char *const scenario_files[][2] = {
    { "tmdrive-client-ok.yaml",
      "name: tmdrive-client-ok\n"
      "doc: device client trusts the root; the peer serves leaf and intermediate\n"
      "tags: [client, drive-test]\n"
      "device: {role: client, layer: tls, verify: required, ca: [\"{kt}-root.der\"],\n"
      "         server_hostname: test.local, send: ping}\n"
      "peer: {cert: [\"{kt}-server.der\", \"{kt}-int.der\"], key: \"{kt}-server.key.der\"}\n"
      "axes: {backend: [openssl, gnutls], keytype: [p256], proto: [tls]}\n"
      "expect: {device: ok, peer: ok}\n" },
    { "tmdrive-server-ok.yaml",
      "name: tmdrive-server-ok\n"
      "doc: device server sends leaf then intermediate (two load_cert_chain calls)\n"
      "tags: [server, drive-test]\n"
      "device: {role: server, layer: tls, verify: none,\n"
      "         chain: [{cert: \"{kt}-server.der\", key: \"{kt}-server.key.der\"},\n"
      "                 {cert: \"{kt}-int.der\", key: \"{kt}-server.key.der\"}]}\n"
      "peer: {ca: [\"{kt}-root.der\"], servername: test.local}\n"
      "axes: {backend: [openssl], keytype: [p256, p384], proto: [tls]}\n"
      "expect: {device: ok, peer: ok}\n" },
};
#define NCASES 4

static void setup(void)
{
    hk_dir_make(tmpdir, sizeof tmpdir, "run");
    snprintf(scen, sizeof scen, "%s/scenarios", tmpdir);
    snprintf(report, sizeof report, "%s/report", tmpdir);
    snprintf(out_path, sizeof out_path, "%s/stderr.txt", tmpdir);
    ck_assert_int_eq(tm_mkdirs(scen, 0755, NULL), 0);
    /* The virtual camera serves the protocol natively once it sees the agent's
     * header, so a header-only script stands in until agent.py exists. */
    if (access(REAL_AGENT, R_OK) == 0) {
        snprintf(agent, sizeof agent, "%s", REAL_AGENT);
    } else {
        snprintf(agent, sizeof agent, "%s/agent.py", tmpdir);
        ck_assert_int_eq(tm_write_file(agent, "# tlsmatrix-agent proto=1\n", 26, 0644, NULL), 0);
    }
    for (size_t i = 0; i < sizeof scenario_files / sizeof scenario_files[0]; i++) {
        char p[400];
        snprintf(p, sizeof p, "%s/%s", scen, scenario_files[i][0]);
        ck_assert_int_eq(tm_write_file(p, scenario_files[i][1], strlen(scenario_files[i][1]), 0644, NULL), 0);
    }
}

static void teardown(void)
{
    hk_dir_remove(tmpdir);
}

/* Run tlsmatrix with args (NULL-terminated); stdout+stderr go to out_path.
 * Returns the exit code; *took gets the wall time. */
static int tlsmatrix(int64_t *took, int limit_s, ...)
{
    char *argv[40] = { TLSMATRIX };
    int n = 1;
    va_list ap;
    va_start(ap, limit_s);
    for (char *a; n < 36 && (a = va_arg(ap, char *)) != NULL;) {
        argv[n++] = a;
        if (n == 2 && (strcmp(a, "run") == 0 || strcmp(a, "list") == 0 || strcmp(a, "info") == 0)) {
            argv[n++] = "--agent";
            argv[n++] = agent;
        }
    }
    va_end(ap);
    argv[n] = NULL;
    struct tm_err err = { 0 };
    unlink(out_path);   /* output() shows this run only */
    tm_ms t0 = tm_now_ms();
    int rc = tm_proc_run(argv, out_path, tm_deadline_in(limit_s * 1000), &err);
    if (took)
        *took = tm_now_ms() - t0;
    ck_assert_msg(err.code != TM_E_TIMEOUT, "tlsmatrix did not finish within %d s", limit_s);
    ck_assert_msg(rc >= 0, "%s", err.msg);
    return rc;
}

static char *output(void)
{
    unsigned char *d = NULL;
    size_t len;
    if (tm_read_file(out_path, &d, &len, NULL) != 0)
        return strdup("");
    return (char *)d;
}

static json_t *load_run(void)
{
    char p[400];
    snprintf(p, sizeof p, "%s/run.json", report);
    json_error_t je;
    json_t *run = json_load_file(p, 0, &je);
    char *o = output();
    ck_assert_msg(run != NULL, "run.json: %s\n--- output ---\n%.3000s", je.text, o);
    free(o);
    return run;
}

static const json_t *case_by_id(const json_t *run, const char *id)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(run, "cases"), i, c) {
        if (strcmp(json_string_value(json_object_get(c, "id")), id) == 0)
            return c;
    }
    return NULL;
}

static const char *const ids[NCASES] = {
    "tmdrive-client-ok/gnutls/p256/tls", "tmdrive-client-ok/openssl/p256/tls",
    "tmdrive-server-ok/openssl/p256/tls", "tmdrive-server-ok/openssl/p384/tls",
};

static char *report_file(const char *name)
{
    char p[400];
    unsigned char *text = NULL;
    size_t len;
    snprintf(p, sizeof p, "%s/%s", report, name);
    ck_assert_msg(tm_read_file(p, &text, &len, NULL) == 0, "%s", p);
    return (char *)text;
}

/* Every case is in every report, whatever happened to it: run.json; junit.xml as
 * the testcase of its scenario and axes; matrix.html as its cell; summary.md as its
 * scenario's row. */
static void assert_all_reported(const json_t *run)
{
    ck_assert_uint_eq(json_array_size(json_object_get(run, "cases")), NCASES);
    char *junit = report_file("junit.xml"), *html = report_file("matrix.html");
    char *md = report_file("summary.md");
    for (int i = 0; i < NCASES; i++) {
        ck_assert_msg(case_by_id(run, ids[i]) != NULL, "%s missing from run.json", ids[i]);
        const char *slash = strchr(ids[i], '/');
        char want[300];
        snprintf(want, sizeof want, "name=\"%s\" classname=\"tlsmatrix.%.*s\"", slash + 1,
                 (int)(slash - ids[i]), ids[i]);
        ck_assert_msg(strstr(junit, want) != NULL, "%s missing from junit.xml", want);
        snprintf(want, sizeof want, "title=\"%s\"", ids[i]);
        ck_assert_msg(strstr(html, want) != NULL, "%s missing from matrix.html", want);
        snprintf(want, sizeof want, "| %.*s |", (int)(slash - ids[i]), ids[i]);
        ck_assert_msg(strstr(md, want) != NULL, "%s missing from summary.md", want);
    }
    free(junit);
    free(html);
    free(md);
}

static int count_verdict(const json_t *run, const char *v)
{
    int n = 0;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(run, "cases"), i, c)
        n += strcmp(json_string_value(json_object_get(c, "verdict")), v) == 0;
    return n;
}

/* Every case that ran counted its traffic: at least its request and reply lines
 * (the transcript's "> " and "< " lines, each with its newline; lines shown
 * with \xNN escapes or redacted keys are longer there), and the
 * footer's sums are the cases' sums. */
static void assert_link_counted(const json_t *run, const char *out)
{
    unsigned long long sent = 0, got = 0, fsent = 0, fgot = 0, median = 0;
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(run, "cases"), i, c) {
        const json_t *l = json_object_get(c, "link"), *line;
        unsigned long long s = (unsigned long long)json_integer_value(json_object_get(l, "sent"));
        unsigned long long r = (unsigned long long)json_integer_value(json_object_get(l, "received"));
        unsigned long long want_s = 0, want_r = 0;
        size_t k;
        json_array_foreach(json_object_get(json_object_get(c, "transcript"), "agent"), k, line) {
            const char *t = json_string_value(line);
            if (strncmp(t, "> {", 3) == 0 && strstr(t, "redacted") == NULL)
                want_s += strlen(t) - 2 + 1;
            if (strncmp(t, "< {", 3) == 0 && strstr(t, "\\x") == NULL)   /* unescaped */
                want_r += strlen(t) - 2 + 1;
        }
        ck_assert_msg(want_s > 0 && s >= want_s && r >= want_r, "%s: link %llu/%llu, lines %llu/%llu",
                      json_string_value(json_object_get(c, "id")), s, r, want_s, want_r);
        ck_assert_ptr_nonnull(json_object_get(json_object_get(c, "timings_ms"), "link_wait"));
        sent += s;
        got += r;
    }
    const char *f = strstr(out, "tlsmatrix: link: ");
    ck_assert_msg(f != NULL && sscanf(f, "tlsmatrix: link: %llu B sent, %llu B received, median %llu",
                                      &fsent, &fgot, &median) == 3, "%.3000s", out);
    ck_assert_msg(fsent == sent && fgot == got && median > 0, "%.300s vs %llu/%llu", f, sent, got);
}

START_TEST(run_virtual_all_pass_with_bundles)
{
    int rc = tlsmatrix(NULL, 60, "run", "--device", "virtual", "--scenarios", scen, "--report",
                       report, "--jobs", "2", "--profile-stages", "--min", "4", NULL);
    json_t *run = load_run();
    char *o = output();
    assert_all_reported(run);
    ck_assert_msg(rc == 0 && count_verdict(run, "pass") == NCASES, "exit %d\n%.3000s", rc, o);
    /* One line per finished case without a TTY; stage sums at the end. */
    ck_assert_msg(strstr(o, "[4/4]") != NULL && strstr(o, "stage sums") != NULL, "%.3000s", o);
    const json_t *c = case_by_id(run, ids[1]);
    const json_t *t = json_object_get(c, "timings_ms");
    ck_assert_int_gt(json_integer_value(json_object_get(t, "total")), 0);
    ck_assert_ptr_nonnull(json_object_get(t, "peer_start"));
    ck_assert_ptr_nonnull(json_object_get(c, "heap_delta"));
    ck_assert(json_array_size(json_object_get(json_object_get(c, "transcript"), "agent")) > 0);
    assert_link_counted(run, o);
    ck_assert(strstr(json_string_value(json_object_get(c, "replay")), "tlsmatrix repro --case") != NULL);
    char p[600];
    snprintf(p, sizeof p, "%s/cases/tmdrive-client-ok_openssl_p256_tls/serial.log", report);
    ck_assert_msg(access(p, R_OK) == 0, "%s", p);
    snprintf(p, sizeof p, "%s/cases/tmdrive-client-ok_openssl_p256_tls/replay.sh", report);
    ck_assert_msg(access(p, X_OK) == 0, "%s", p);
    ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(run, "header"), "devices")), 2);
    /* No --profile: the virtual camera's hello (an STM32 board) picked OpenMV's. */
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(run, "header"), "profile")),
                     "micropython-openmv-default");
    free(o);
    json_decref(run);
    /* diff of a run with itself: no regressions; merge writes a run. */
    char runjson[400], merged[400];
    snprintf(runjson, sizeof runjson, "%s/run.json", report);
    snprintf(merged, sizeof merged, "%s/merged", tmpdir);
    ck_assert_int_eq(tlsmatrix(NULL, 30, "diff", runjson, runjson, NULL), 0);
    ck_assert_int_eq(tlsmatrix(NULL, 30, "merge", runjson, "--report", merged, NULL), 0);
    snprintf(p, sizeof p, "%s/run.json", merged);
    ck_assert_msg(access(p, R_OK) == 0, "%s", p);
    /* --min above what ran: exit 1. */
    rc = tlsmatrix(NULL, 60, "run", "--scenarios", scen, "--report", report, "--filter",
                   "tmdrive-server-ok/*", "--min", "3", NULL);
    ck_assert_int_eq(rc, 1);
    /* That run replaced the bundles: only its own two cases are left. */
    snprintf(p, sizeof p, "%s/cases/tmdrive-client-ok_openssl_p256_tls", report);
    ck_assert_msg(access(p, F_OK) != 0, "%s is from the run before", p);
    snprintf(p, sizeof p, "%s/cases/tmdrive-server-ok_openssl_p384_tls/case.json", report);
    ck_assert_msg(access(p, R_OK) == 0, "%s", p);
    snprintf(p, sizeof p, "%s/.cases-previous", report);
    ck_assert_msg(access(p, F_OK) != 0, "%s left behind", p);
    /* A cases/ folder tlsmatrix did not write is left alone, and the run refused. */
    char foreign[400];
    snprintf(foreign, sizeof foreign, "%s/foreign/cases/mine", tmpdir);
    ck_assert_int_eq(tm_mkdirs(foreign, 0755, NULL), 0);
    snprintf(foreign, sizeof foreign, "%s/foreign", tmpdir);
    rc = tlsmatrix(NULL, 60, "run", "--scenarios", scen, "--report", foreign, NULL);
    o = output();
    ck_assert_msg(rc == 2 && strstr(o, "did not write") != NULL, "exit %d\n%.3000s", rc, o);
    free(o);
    snprintf(p, sizeof p, "%s/cases/mine", foreign);
    ck_assert_msg(access(p, F_OK) == 0, "%s was removed", p);
}
END_TEST

/* One case exactly as expected: verdict, attempts, and flaky (absent = false). */
static void assert_case(const json_t *run, const char *id, const char *verdict, int attempts,
                        int flaky, const char *o)
{
    const json_t *c = case_by_id(run, id);
    ck_assert_msg(c != NULL, "%s missing\n%.3000s", id, o);
    const char *v = json_string_value(json_object_get(c, "verdict"));
    ck_assert_msg(strcmp(v, verdict) == 0, "%s: %s, expected %s (%s)\n%.3000s", id, v, verdict,
                  json_string_value(json_object_get(c, "reason")), o);
    ck_assert_msg(json_integer_value(json_object_get(c, "attempts")) == attempts,
                  "%s: %lld attempts, expected %d\n%.3000s", id,
                  (long long)json_integer_value(json_object_get(c, "attempts")), attempts, o);
    ck_assert_msg(json_is_true(json_object_get(c, "flaky")) == flaky, "%s: flaky is %s\n%.3000s",
                  id, flaky ? "not set" : "set", o);
}

/* A reboot right after the second case's handshake (cases run in id order): that
 * case is an error with its transcript, the others pass, the run goes on, and the
 * exit code is 1 (unexpected results), not 3. The fault is placed by an event, so
 * it hits the same case on a fast and on a slow machine. */
START_TEST(run_reboot_fault_case_error_run_continues)
{
    int rc = tlsmatrix(NULL, 90, "run", "--device", "virtual:--fault reboot@stage=handshake#2",
                       "--scenarios", scen, "--report", report, "--retries", "0", NULL);
    json_t *run = load_run();
    char *o = output();
    assert_all_reported(run);
    ck_assert_msg(rc == 1, "exit %d\n%.3000s", rc, o);
    for (int i = 0; i < NCASES; i++)
        assert_case(run, ids[i], i == 1 ? "error" : "pass", 1, 0, o);
    const json_t *c = case_by_id(run, ids[1]);
    const char *reason = json_string_value(json_object_get(c, "reason"));
    ck_assert_msg(strstr(reason, "soft reboot") != NULL, "%s", reason);
    ck_assert(json_array_size(json_object_get(json_object_get(c, "transcript"), "agent")) > 0);
    free(o);
    json_decref(run);
}
END_TEST

/* The same fault with a retry: the case runs again after recovery and passes, so
 * it is a flaky pass (attempts 2, the first attempt kept), and the run exits 0. */
START_TEST(run_reboot_fault_retry_is_flaky)
{
    int rc = tlsmatrix(NULL, 90, "run", "--device", "virtual:--fault reboot@stage=handshake#2",
                       "--scenarios", scen, "--report", report, "--retries", "1", NULL);
    json_t *run = load_run();
    char *o = output();
    assert_all_reported(run);
    ck_assert_msg(rc == 0, "exit %d\n%.3000s", rc, o);
    for (int i = 0; i < NCASES; i++)
        assert_case(run, ids[i], "pass", i == 1 ? 2 : 1, i == 1, o);
    const json_t *prev = json_object_get(case_by_id(run, ids[1]), "previous_attempt");
    ck_assert_msg(prev != NULL, "%.3000s", o);
    ck_assert_str_eq(json_string_value(json_object_get(prev, "verdict")), "error");
    ck_assert_int_eq(json_integer_value(json_object_get(prev, "attempts")), 1);
    free(o);
    json_decref(run);
}
END_TEST

/* stall: a camera that stops answering once its ClientHello is out. The case ends
 * at its deadline as an error, recovery restarts the camera (which stalls again at
 * its first ClientHello), and the run goes on: both cases are errors, exit 1. */
START_TEST(run_stall_fault_respects_deadline)
{
    int rc = tlsmatrix(NULL, 90, "run", "--device", "virtual:--fault stall@stage=client-hello",
                       "--scenarios", scen, "--filter", "tmdrive-client-ok/*", "--report", report,
                       "--retries", "0", "--case-timeout", "3000", NULL);
    json_t *run = load_run();
    char *o = output();
    ck_assert_msg(rc == 1, "exit %d\n%.3000s", rc, o);
    ck_assert_uint_eq(json_array_size(json_object_get(run, "cases")), 2);
    for (int i = 0; i < 2; i++) {
        assert_case(run, ids[i], "error", 1, 0, o);
        const json_t *c = case_by_id(run, ids[i]);
        const char *reason = json_string_value(json_object_get(c, "reason"));
        ck_assert_msg(strstr(reason, "no reply before the case deadline (3000 ms)") != NULL,
                      "%s", reason);
        /* ended by the deadline: never before it (an upper bound would measure the
         * machine; a deadline not kept never ends, and the 90 s limit fails) */
        int64_t total = json_integer_value(json_object_get(json_object_get(c, "timings_ms"), "total"));
        ck_assert_int_ge(total, 3000);
        const char *replay = json_string_value(json_object_get(c, "replay"));
        ck_assert_msg(strstr(replay, " --case-timeout 3000 ") != NULL, "%s", replay);
    }
    free(o);
    json_decref(run);
}
END_TEST

/* A line of noise before every agent line: the harness skips it, every case passes. */
START_TEST(run_garbage_fault_ignored)
{
    int rc = tlsmatrix(NULL, 60, "run", "--device", "virtual:--fault garbage", "--scenarios",
                       scen, "--report", report, "--retries", "0", NULL);
    json_t *run = load_run();
    char *o = output();
    assert_all_reported(run);
    ck_assert_msg(rc == 0 && count_verdict(run, "pass") == NCASES, "exit %d\n%.3000s", rc, o);
    free(o);
    json_decref(run);
}
END_TEST

/* Two devices. The second drops its line once its first ClientHello is out, and
 * its command works once, so its recovery fails twice and it is taken out (exit 3).
 * The first device comes up only after the second has put a case's file on its
 * flash (not the agent it keeps there, tm_agent.*: that is written at the
 * bootstrap, before any case), so the second surely has the first case in flight;
 * that case still runs, as a retry, on the first device: a flaky pass. (The wait
 * is for that file, bounded at 30 s; no delay decides anything.) */
START_TEST(run_device_taken_out_others_finish)
{
    char once[300], flash[300], first[1600], second[1600];
    snprintf(once, sizeof once, "%s/started-once", tmpdir);
    snprintf(flash, sizeof flash, "%s/flash-2", tmpdir);
    snprintf(second, sizeof second, "exec:sh -c 'test -e %s && exit 1; touch %s; "
             "exec %s/vcam --flash %s --fault drop@stage=client-hello'", once, once, TM_BIN_DIR,
             flash);
    snprintf(first, sizeof first, "exec:sh -c 'i=0; while [ -z \"$(ls %s 2>/dev/null | grep -v ^tm_agent)\" ] && "
             "[ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; exec %s/vcam'", flash, TM_BIN_DIR);
    int rc = tlsmatrix(NULL, 90, "run", "--device", first, "--device", second, "--scenarios",
                       scen, "--report", report, "--retries", "1", NULL);
    json_t *run = load_run();
    char *o = output();
    ck_assert_msg(rc == 3 && strstr(o, "taken out") != NULL, "exit %d\n%.3000s", rc, o);
    assert_all_reported(run);
    for (int i = 0; i < NCASES; i++)
        assert_case(run, ids[i], "pass", i == 0 ? 2 : 1, i == 0, o);
    const json_t *devs = json_object_get(json_object_get(run, "header"), "devices");
    ck_assert_uint_eq(json_array_size(devs), 2);
    ck_assert_ptr_null(json_object_get(json_array_get(devs, 0), "error"));
    ck_assert_ptr_nonnull(json_object_get(json_array_get(devs, 1), "error"));
    free(o);
    json_decref(run);
}
END_TEST

/* A device that never comes up: every case is an error, exit 3 (the run's 60 s
 * limit is only a hang guard). */
START_TEST(run_device_lost_for_good_exit_3)
{
    int rc = tlsmatrix(NULL, 60, "run", "--device", "exec:/bin/true", "--scenarios", scen,
                       "--report", report, NULL);
    json_t *run = load_run();
    char *o = output();
    ck_assert_msg(rc == 3, "exit %d\n%.3000s", rc, o);
    assert_all_reported(run);
    ck_assert_int_eq(count_verdict(run, "error"), NCASES);
    free(o);
    json_decref(run);
}
END_TEST

/* A device whose hello fits no profile (a board nobody described) is a setup
 * error naming what the hello says, before any case runs; --profile overrides. */
START_TEST(run_device_without_profile_is_setup_error)
{
    char prof[400], spec[600];
    snprintf(prof, sizeof prof, "%s/esp.yaml", tmpdir);
    const char *y = "name: esp\ndoc: d\nopenmv: v0\nmicropython: v1.27.0\nboard: ESP32-CAM\n"
                    "mcu: ESP32\nimpl_version: 1.27.0\nsysname: esp32\n"
                    "clock_unset: \"2000-01-01T00:00:00Z\"\npem: false\ntls13: false\n"
                    "heap: 262144\nagent_heap: 24576\n";
    ck_assert_int_eq(tm_write_file(prof, y, strlen(y), 0644, NULL), 0);
    snprintf(spec, sizeof spec, "virtual:--profile %s", prof);
    int rc = tlsmatrix(NULL, 60, "run", "--device", spec, "--scenarios", scen, "--report", report, NULL);
    char *o = output();
    ck_assert_msg(rc == 2 && strstr(o, "no profile") && strstr(o, "ESP32-CAM with ESP32"),
                  "exit %d\n%.3000s", rc, o);
    free(o);
    char runjson[450];
    snprintf(runjson, sizeof runjson, "%s/run.json", report);
    ck_assert_int_ne(access(runjson, F_OK), 0);   /* no reports for a run that could not judge */
    rc = tlsmatrix(NULL, 60, "run", "--device", spec, "--scenarios", scen, "--report", report,
                   "--profile", "micropython-openmv-default", NULL);
    o = output();
    ck_assert_msg(rc == 0, "exit %d\n%.3000s", rc, o);
    free(o);
}
END_TEST

START_TEST(cli_usage_and_list)
{
    ck_assert_int_eq(tlsmatrix(NULL, 10, "run", "--shard", "3/2", NULL), 2);
    char *o = output();
    ck_assert_msg(strstr(o, "--shard") != NULL, "%.3000s", o);
    free(o);
    ck_assert_int_eq(tlsmatrix(NULL, 10, "frobnicate", NULL), 2);
    ck_assert_int_eq(tlsmatrix(NULL, 10, "run", "--jobs", "zero", NULL), 2);
    ck_assert_int_eq(tlsmatrix(NULL, 10, "repro", NULL), 2);
    ck_assert_int_eq(tlsmatrix(NULL, 10, "run", "--help", NULL), 0);
    o = output();
    ck_assert_msg(strstr(o, "--until-fail") && strstr(o, "EXIT STATUS"), "%.3000s", o);
    free(o);
    ck_assert_int_eq(tlsmatrix(NULL, 30, "list", "--scenarios", scen, NULL), 0);
    o = output();
    for (int i = 0; i < NCASES; i++)
        ck_assert_msg(strstr(o, ids[i]) != NULL, "%s missing\n%.3000s", ids[i], o);
    ck_assert_msg(strstr(o, "2 scenarios, 4 cases") != NULL, "%.3000s", o);
    free(o);
    ck_assert_int_eq(tlsmatrix(NULL, 10, "info", NULL), 2);
    ck_assert_int_eq(tlsmatrix(NULL, 30, "info", "--device", "virtual", NULL), 0);
    o = output();
    ck_assert_msg(strstr(o, "\"tlsmatrix-agent\"") && strstr(o, "raw-paste"), "%.3000s", o);
    free(o);
    ck_assert_int_eq(tlsmatrix(NULL, 30, "info", "--device", "exec:/bin/true", NULL), 3);
    /* A device spec or agent script that cannot work is a setup error (2), found
     * before any device opens, not a device lost (3). */
    ck_assert_int_eq(tlsmatrix(NULL, 10, "run", "--scenarios", scen, "--report", report,
                               "--device", "virtual", "--device", "bogus:x", NULL), 2);
    o = output();
    ck_assert_msg(strstr(o, "--device: link 'bogus:x': unknown kind") != NULL, "%.3000s", o);
    free(o);
    char bad[400];
    snprintf(bad, sizeof bad, "%s/not-an-agent.py", tmpdir);
    ck_assert_int_eq(tm_write_file(bad, "print(1)\n", 9, 0644, NULL), 0);
    ck_assert_int_eq(tlsmatrix(NULL, 10, "run", "--scenarios", scen, "--report", report,
                               "--agent", bad, NULL), 2);
    o = output();
    ck_assert_msg(strstr(o, "--agent:") != NULL && strstr(o, "first line is not") != NULL,
                  "%.3000s", o);
    free(o);
}
END_TEST

int main(void)
{
    if (hk_skip_unless_built() != 0)
        return 77;
    Suite *s = suite_create("harness_run");
    TCase *tc = tcase_create("run");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 100);
    tcase_add_test(tc, cli_usage_and_list);
    tcase_add_test(tc, run_virtual_all_pass_with_bundles);
    tcase_add_test(tc, run_reboot_fault_case_error_run_continues);
    tcase_add_test(tc, run_reboot_fault_retry_is_flaky);
    tcase_add_test(tc, run_stall_fault_respects_deadline);
    tcase_add_test(tc, run_device_lost_for_good_exit_3);
    tcase_add_test(tc, run_device_without_profile_is_setup_error);
    tcase_add_test(tc, run_garbage_fault_ignored);
    tcase_add_test(tc, run_device_taken_out_others_finish);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
