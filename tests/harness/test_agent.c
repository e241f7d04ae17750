/* Raw-REPL bootstrap and the agent client against real devices on real ptys:
 * the virtual camera (byte-exact REPL, docs/device-model.md §4.2) with fault
 * injection, and MicroPython's own raw REPL (wasm, under node) when present. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "tm_fs.h"

/* The bound of a wait for what must happen (a reply, a boot): reached only by a
 * hang, never by a slow machine. Waits whose expiry is the subject keep their own. */
#define HANG_MS 30000
#define VCAM TM_BIN_DIR "/vcam"
#define REAL_AGENT TM_SOURCE_DIR "/camera/agent/agent.py"
#define MPY_REPL TM_SOURCE_DIR "/camera/agent/host/mpy_repl.mjs"

static char tmpdir[256];
static char script[300];

/* The virtual camera recognises the agent by its header and serves the protocol
 * natively, so without camera/agent/agent.py a header-only script does. */
static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/tm-agent-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    if (access(REAL_AGENT, R_OK) == 0) {
        snprintf(script, sizeof script, "%s", REAL_AGENT);
    } else {
        snprintf(script, sizeof script, "%s/agent.py", tmpdir);
        const char *s = "# tlsmatrix-agent proto=1\nimport sys\n";
        ck_assert_int_eq(tm_write_file(script, s, strlen(s), 0644, NULL), 0);
    }
}

static void teardown(void)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

/* proto_max 1: a boot-time `--fault …@request=N` counts the requests of the test
 * itself (proto 2's negotiation is a request too). */
static struct agent *boot_proto(const char *spec, int classic, json_t *transcript, int proto_max)
{
    struct tm_err err = { 0 };
    struct agent_opts o = { .script = script, .force_classic_raw = classic, .max_bootstraps = 2,
                            .proto_max = proto_max, .agent_upload = AGENT_UPLOAD_ALWAYS };
    struct agent *a = agent_open(spec, &o, &err);
    ck_assert_msg(a != NULL, "%s", err.msg);
    agent_set_transcript(a, transcript);
    ck_assert_msg(agent_bootstrap(a, tm_deadline_in(HANG_MS), &err) == 0, "%s", err.msg);
    const json_t *h = agent_hello(a);
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(json_integer_value(json_object_get(h, "proto")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(h, "agent")), "tlsmatrix-agent");
    ck_assert_int_eq(agent_proto(a), proto_max ? proto_max : 2);
    return a;
}

static struct agent *boot(const char *spec, int classic, json_t *transcript)
{
    return boot_proto(spec, classic, transcript, 0);
}

static size_t count_prefix(const json_t *lines, const char *prefix)
{
    size_t n = 0, i;
    json_t *v;
    json_array_foreach(lines, i, v) n += strncmp(json_string_value(v), prefix, strlen(prefix)) == 0;
    return n;
}

START_TEST(vcam_raw_paste_hello_and_requests)
{
    json_t *tr = json_array();
    struct agent *a = boot("virtual", 0, tr);
    struct tm_err err = { 0 };
    ck_assert_str_eq(agent_upload_mode(a), "raw-paste");
    ck_assert(json_is_true(json_object_get(agent_hello(a), "virtual")));
    json_t *reply = NULL;
    ck_assert_msg(agent_call(a, "info", NULL, tm_deadline_in(HANG_MS), &reply, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(json_integer_value(json_object_get(reply, "proto")), 1);
    json_decref(reply);
    /* Clock: set to the fixture reference time and read back. */
    json_t *req = json_pack("{s:I}", "set", (json_int_t)1795478400);
    ck_assert_int_eq(agent_call(a, "clock", req, tm_deadline_in(HANG_MS), &reply, &err), 0);
    ck_assert_str_eq(json_string_value(json_object_get(reply, "outcome")), "ok");
    ck_assert_int_ge(json_integer_value(json_object_get(reply, "epoch")), 1795478400);
    json_decref(req);
    json_decref(reply);
    /* put: sent once, then served from the cache; new bytes go again. */
    const unsigned char data[] = "\x30\x82\x01\x00 certificate bytes";
    ck_assert_int_eq(agent_put(a, "tm-test.der", data, sizeof data, tm_deadline_in(HANG_MS), &err), 0);
    size_t sent = count_prefix(tr, "> ");
    ck_assert_int_eq(agent_put(a, "tm-test.der", data, sizeof data, tm_deadline_in(HANG_MS), &err), 0);
    ck_assert_uint_eq(count_prefix(tr, "> "), sent);
    ck_assert_int_eq(agent_put(a, "tm-test.der", data, 5, tm_deadline_in(HANG_MS), &err), 0);
    ck_assert_uint_eq(count_prefix(tr, "> "), sent + 1);
    /* Unknown ops are answered, by id, as bad requests. */
    ck_assert_int_eq(agent_call(a, "no-such-op", NULL, tm_deadline_in(HANG_MS), &reply, &err), 0);
    ck_assert_str_eq(json_string_value(json_object_get(reply, "outcome")), "bad-request");
    json_decref(reply);
    agent_close(a);
    json_decref(tr);
}
END_TEST

START_TEST(vcam_classic_raw_fallback)
{
    struct agent *a = boot("virtual", 1, NULL);
    ck_assert_str_eq(agent_upload_mode(a), "raw");
    struct tm_err err = { 0 };
    json_t *reply = NULL;
    ck_assert_int_eq(agent_call(a, "info", NULL, tm_deadline_in(HANG_MS), &reply, &err), 0);
    json_decref(reply);
    /* A second bootstrap on the running agent: Ctrl-C, raw REPL, upload again. */
    ck_assert_msg(agent_bootstrap(a, tm_deadline_in(HANG_MS), &err) == 0, "%s", err.msg);
    ck_assert_int_eq(agent_bootstrap_count(a), 2);
    agent_close(a);
}
END_TEST

static int has_line(const json_t *lines, const char *prefix, const char *part)
{
    size_t i;
    json_t *v;
    json_array_foreach(lines, i, v) {
        const char *t = json_string_value(v);
        if (strncmp(t, prefix, strlen(prefix)) == 0 && strstr(t, part) != NULL)
            return 1;
    }
    return 0;
}

/* The deflate probe raises on the virtual camera (NotImplementedError: it runs
 * nothing but the agent), so the plain file goes, byte for byte, in both modes. */
START_TEST(vcam_deflate_probe_fails_plain_upload)
{
    unsigned char *code = NULL;
    size_t len = 0;
    struct tm_err err = { 0 };
    ck_assert_msg(tm_read_file(script, &code, &len, &err) == 0, "%s", err.msg);
    free(code);
    for (int classic = 0; classic < 2; classic++) {
        json_t *tr = json_array();
        struct agent *a = boot("virtual", classic, tr);
        ck_assert_str_eq(agent_upload_mode(a), classic ? "raw" : "raw-paste");
        ck_assert_uint_eq(agent_upload_bytes(a), len);
        ck_assert_msg(has_line(tr, "< ", "NotImplementedError"), "no probe traceback in the transcript");
        ck_assert(has_line(tr, "! ", "deflate probe raised: plain upload"));
        ck_assert(has_line(tr, "! ", "by raw"));
        agent_close(a);
        json_decref(tr);
    }
}
END_TEST

static int count_lines(const json_t *lines, const char *exact)
{
    size_t i;
    json_t *v;
    int n = 0;
    json_array_foreach(lines, i, v) n += strcmp(json_string_value(v), exact) == 0;
    return n;
}

/* reboot at the second request: the first is answered, the second meets the
 * soft-reboot banner, which means the agent is gone; recovery brings it back. */
START_TEST(vcam_reboot_is_lost_then_recovered)
{
    json_t *tr = json_array();
    struct agent *a = boot_proto("virtual:--fault reboot@request=2", 0, tr, 1);
    struct tm_err err = { 0 };
    json_t *reply = NULL;
    ck_assert_msg(agent_call(a, "info", NULL, tm_deadline_in(HANG_MS), &reply, &err) == 0, "%s", err.msg);
    json_decref(reply);
    ck_assert_int_eq(agent_call(a, "info", NULL, tm_deadline_in(HANG_MS), &reply, &err), -1);
    ck_assert_int_eq(agent_is_lost(a), 1);
    ck_assert_msg(strstr(err.msg, "soft reboot") != NULL, "%s", err.msg);
    ck_assert_msg(agent_recover(a, tm_deadline_in(30000), 0, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(agent_bootstrap_count(a), 2);
    ck_assert_msg(agent_call(a, "info", NULL, tm_deadline_in(HANG_MS), &reply, &err) == 0, "%s", err.msg);
    json_decref(reply);
    agent_close(a);
    json_decref(tr);
}
END_TEST

/* stall at the first request: the call ends at its deadline (never before it), and
 * a silent recovery goes straight to restarting the program on its pty: one
 * bootstrap, not a first one that waits on the stalled camera. */
START_TEST(vcam_stall_deadline_then_recovered)
{
    json_t *tr = json_array();
    struct agent *a = boot_proto("virtual:--fault stall@request=1", 0, tr, 1);
    struct tm_err err = { 0 };
    json_t *reply = NULL;
    tm_ms dl = tm_deadline_in(1000);
    ck_assert_int_eq(agent_call(a, "info", NULL, dl, &reply, &err), 1);
    ck_assert_msg(tm_expired(dl), "the call gave up before its deadline: %s", err.msg);
    ck_assert_int_eq(count_lines(tr, "! bootstrap"), 1);
    ck_assert_msg(agent_recover(a, tm_deadline_in(40000), 1, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(count_lines(tr, "! bootstrap"), 2);   /* silent: straight to the restart */
    ck_assert_int_eq(agent_bootstrap_count(a), 2);
    /* the restarted camera stalls again at its first request: counts are per process */
    ck_assert_int_eq(agent_call(a, "info", NULL, tm_deadline_in(1000), &reply, &err), 1);
    agent_close(a);
    json_decref(tr);
}
END_TEST

/* drop at the first request: the line closes, the agent is lost, recovery (a new
 * program on a new pty) answers again. */
START_TEST(vcam_drop_is_closed_link)
{
    struct agent *a = boot_proto("virtual:--fault drop@request=1", 0, NULL, 1);
    struct tm_err err = { 0 };
    json_t *reply = NULL;
    ck_assert_int_eq(agent_call(a, "info", NULL, tm_deadline_in(HANG_MS), &reply, &err), -1);
    ck_assert_msg(strstr(err.msg, "closed") != NULL, "%s", err.msg);
    ck_assert_int_eq(agent_is_lost(a), 1);
    ck_assert_msg(agent_recover(a, tm_deadline_in(30000), 0, &err) == 0, "%s", err.msg);
    agent_close(a);
}
END_TEST

/* garbage: noise lines are kept in the transcript and do not stop the agent. */
START_TEST(vcam_garbage_lines_are_transcript_noise)
{
    json_t *tr = json_array();
    struct agent *a = boot("virtual:--fault garbage", 0, tr);
    struct tm_err err = { 0 };
    json_t *reply = NULL;
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(agent_call(a, "info", NULL, tm_deadline_in(HANG_MS), &reply, &err) == 0, "%s", err.msg);
        json_decref(reply);
    }
    size_t i, noisy = 0;
    json_t *v;
    json_array_foreach(tr, i, v) noisy += strstr(json_string_value(v), "\\x") != NULL;
    ck_assert_uint_ge(noisy, 3);
    agent_close(a);
    json_decref(tr);
}
END_TEST

START_TEST(bad_script_is_setup_error)
{
    char bad[400];
    snprintf(bad, sizeof bad, "%s/bad.py", tmpdir);
    ck_assert_int_eq(tm_write_file(bad, "print(1)\n", 9, 0644, NULL), 0);
    struct tm_err err = { 0 };
    struct agent_opts o = { .script = bad, .max_bootstraps = 2 };
    struct agent *a = agent_open("virtual", &o, &err);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(agent_bootstrap(a, tm_deadline_in(HANG_MS), &err), -1);
    ck_assert_msg(strstr(err.msg, "first line") != NULL, "%s", err.msg);
    ck_assert_int_eq(agent_is_lost(a), 0);
    agent_close(a);
}
END_TEST

/* A device that never answers (nor exits: an hour's sleep): the bootstrap gives up
 * at its deadline, names the missing raw REPL, and the device is lost. Only the
 * deadline can end it; the test's bound is a hang guard far above it. */
START_TEST(silent_device_bootstrap_deadline)
{
    struct tm_err err = { 0 };
    struct agent_opts o = { .script = script, .max_bootstraps = 1 };
    struct agent *a = agent_open("exec:sleep 3600", &o, &err);
    ck_assert_ptr_nonnull(a);
    tm_ms t0 = tm_now_ms();
    ck_assert_int_eq(agent_bootstrap(a, tm_deadline_in(4000), &err), -1);
    ck_assert_msg(tm_now_ms() - t0 < HANG_MS, "the bootstrap ignored its 4 s deadline (hang)");
    ck_assert_msg(strstr(err.msg, "raw REPL") != NULL, "%s", err.msg);
    ck_assert_int_eq(agent_is_lost(a), 1);
    agent_close(a);
}
END_TEST

/* exec-agent: a program that is the agent says hello first and serves requests
 * (here a shell stand-in answering every request "ok"); no REPL bytes are sent,
 * and a second bootstrap restarts it for a fresh hello. */
START_TEST(exec_agent_direct_bootstrap)
{
    struct tm_err err = { 0 };
    char fake[400], spec[500];
    snprintf(fake, sizeof fake, "%s/fake-agent.sh", tmpdir);
    const char *sh = "echo noise\n"
                     "echo \"{\\\"event\\\":\\\"hello\\\",\\\"agent\\\":\\\"tlsmatrix-agent\\\","
                     "\\\"proto\\\":1,\\\"pid\\\":$$}\"\n"
                     "while read -r l; do echo \"{\\\"id\\\":1,\\\"outcome\\\":\\\"ok\\\","
                     "\\\"got\\\":$l}\"; done\n";
    ck_assert_int_eq(tm_write_file(fake, sh, strlen(sh), 0644, NULL), 0);
    snprintf(spec, sizeof spec, "exec-agent:/bin/sh %s", fake);
    json_t *tr = json_array();
    struct agent_opts o = { .script = script, .max_bootstraps = 2 };
    struct agent *a = agent_open(spec, &o, &err);
    ck_assert_msg(a != NULL, "%s", err.msg);
    agent_set_transcript(a, tr);
    ck_assert_msg(agent_bootstrap(a, tm_deadline_in(HANG_MS), &err) == 0, "%s", err.msg);
    ck_assert_str_eq(agent_upload_mode(a), "direct");
    ck_assert_uint_eq(agent_upload_bytes(a), 0);
    json_int_t pid = json_integer_value(json_object_get(agent_hello(a), "pid"));
    json_t *reply = NULL;
    ck_assert_msg(agent_call(a, "info", NULL, tm_deadline_in(HANG_MS), &reply, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(reply, "got"), "op")), "info");
    json_decref(reply);
    /* Nothing of the raw REPL went out: no Ctrl-C, Ctrl-A or upload. */
    size_t i;
    json_t *v;
    json_array_foreach(tr, i, v) {
        const char *t = json_string_value(v);
        ck_assert_msg(t[0] != '>' || t[2] == '{', "sent more than requests: %s", t);
    }
    ck_assert_msg(agent_bootstrap(a, tm_deadline_in(HANG_MS), &err) == 0, "%s", err.msg);
    ck_assert_int_eq(agent_bootstrap_count(a), 2);
    ck_assert_int_ne(json_integer_value(json_object_get(agent_hello(a), "pid")), pid);
    agent_close(a);
    json_decref(tr);
}
END_TEST

/* MicroPython's real raw REPL (wasm under node) with the real agent. */
START_TEST(micropython_repl_bootstrap)
{
    struct tm_err err = { 0 };
    char spec[600];
    snprintf(spec, sizeof spec, "exec:node %s", MPY_REPL);
    struct agent_opts o = { .script = REAL_AGENT, .max_bootstraps = 2,
                            .agent_upload = AGENT_UPLOAD_ALWAYS };   /* the whole agent's ways */
    struct agent *a = agent_open(spec, &o, &err);
    ck_assert_msg(a != NULL, "%s", err.msg);
    ck_assert_msg(agent_bootstrap(a, tm_deadline_in(30000), &err) == 0, "%s", err.msg);
    ck_assert_int_eq(json_integer_value(json_object_get(agent_hello(a), "proto")), 1);
    /* The port has deflate and (through the bridge) no raw-paste: the loader went
     * in classic raw mode, and MicroPython itself unpacked and ran it. */
    ck_assert_str_eq(agent_upload_mode(a), "raw+deflate");
    unsigned char *src = NULL;
    size_t srclen = 0;
    ck_assert_int_eq(tm_read_file(REAL_AGENT, &src, &srclen, NULL), 0);
    ck_assert_uint_lt(agent_upload_bytes(a), srclen * 6 / 10);
    free(src);
    json_t *reply = NULL;
    ck_assert_msg(agent_call(a, "info", NULL, tm_deadline_in(HANG_MS), &reply, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(reply, "impl"), "name")),
                     "micropython");
    json_decref(reply);
    /* No socket in this build: a TLS operation is "unsupported", not a crash. */
    json_t *req = json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", 9);
    ck_assert_msg(agent_call(a, "tls_client", req, tm_deadline_in(HANG_MS), &reply, &err) == 0, "%s",
                  err.msg);
    ck_assert_str_eq(json_string_value(json_object_get(reply, "outcome")), "unsupported");
    json_decref(reply);
    json_decref(req);
    /* A request the agent must refuse, parsed by the real agent on MicroPython. */
    req = json_pack("{s:s}", "path", "x.der");
    ck_assert_msg(agent_call(a, "put", req, tm_deadline_in(HANG_MS), &reply, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(json_string_value(json_object_get(reply, "outcome")), "bad-request");
    json_decref(reply);
    json_decref(req);
    agent_close(a);
}
END_TEST

int main(void)
{
    int have_vcam = access(VCAM, X_OK) == 0;
    int have_mpy = access(MPY_REPL, R_OK) == 0 && access(REAL_AGENT, R_OK) == 0
                   && system("node --version >/dev/null 2>&1") == 0;
    if (!have_vcam && !have_mpy) {
        fprintf(stderr, "skip: neither %s nor %s\n", VCAM, MPY_REPL);
        return 77;
    }
    Suite *s = suite_create("harness_agent");
    TCase *tc = tcase_create("agent");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 45);
    if (have_vcam) {
        tcase_add_test(tc, vcam_raw_paste_hello_and_requests);
        tcase_add_test(tc, vcam_classic_raw_fallback);
        tcase_add_test(tc, vcam_deflate_probe_fails_plain_upload);
        tcase_add_test(tc, vcam_reboot_is_lost_then_recovered);
        tcase_add_test(tc, vcam_stall_deadline_then_recovered);
        tcase_add_test(tc, vcam_drop_is_closed_link);
        tcase_add_test(tc, vcam_garbage_lines_are_transcript_noise);
        tcase_add_test(tc, bad_script_is_setup_error);
    }
    tcase_add_test(tc, silent_device_bootstrap_deadline);
    tcase_add_test(tc, exec_agent_direct_bootstrap);
    if (have_mpy)
        tcase_add_test(tc, micropython_repl_bootstrap);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
