/* The agent kept on the board's file system (harness/agent/store.c,
 * docs/contracts.md §3 "Stored agent"), through the bootstrap against the
 * virtual camera with a kept flash directory (its raw REPL acts the loader and
 * writer out), against MicroPython 1.27's real raw REPL (WebAssembly under node,
 * camera/agent/host/mpy_repl.mjs) when present, and through `tlsmatrix run`
 * (run.json's device record and each case's link bytes). Bytes, not time: the
 * bootstraps after the first send the loader only. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "harness_kit.h"
#include "tm_agentfile.h"
#include "tm_fs.h"
#include "tm_proc.h"

#define AGENT_PY TM_SOURCE_DIR "/camera/agent/agent.py"
#define MPY_REPL TM_SOURCE_DIR "/camera/agent/host/mpy_repl.mjs"
#define HANG_MS 30000
/* What a bootstrap that sends only the loader may cost on the link: the loader
 * (~0.6 KB), the interrupts, the hello's request for protocol 2 and the lock
 * claim; the agent itself is 24 KB. */
#define LOADER_ONLY_BYTES 2048

static char g_dir[512];
static size_t g_agent_len;

static void setup(void)
{
    hk_dir_make(g_dir, sizeof g_dir, "store");
    unsigned char *code = NULL;
    ck_assert_int_eq(tm_read_file(AGENT_PY, &code, &g_agent_len, NULL), 0);
    free(code);
}

static void teardown(void)
{
    hk_dir_remove(g_dir);
}

static struct agent *open_on(const char *spec, const char *script, int always)
{
    struct agent_opts o = { .script = script, .max_bootstraps = 2,
                            .agent_upload = always ? AGENT_UPLOAD_ALWAYS : AGENT_UPLOAD_AUTO };
    struct tm_err err = { 0 };
    struct agent *a = agent_open(spec, &o, &err);
    ck_assert_msg(a != NULL, "%s", err.msg);
    return a;
}

/* Bootstrap; the bytes it sent. */
static unsigned long long boot(struct agent *a)
{
    struct agent_traffic t0, t1;
    struct tm_err err = { 0 };
    agent_traffic(a, &t0);
    ck_assert_msg(agent_bootstrap(a, tm_deadline_in(HANG_MS), &err) == 0, "%s", err.msg);
    agent_traffic(a, &t1);
    json_t *reply = NULL;   /* and it serves */
    ck_assert_msg(agent_call(a, "info", NULL, tm_deadline_in(HANG_MS), &reply, &err) == 0, "%s",
                  err.msg);
    ck_assert_str_eq(json_string_value(json_object_get(reply, "outcome")), "ok");
    json_decref(reply);
    return t1.sent - t0.sent;
}

static void flash_spec(char *spec, size_t n, const char *extra)
{
    snprintf(spec, n, "virtual:--flash %s/flash%s%s", g_dir, extra ? " " : "", extra ? extra : "");
}

static int flash_file_is(const char *path_in_dir, const char *script)
{
    char path[700];
    snprintf(path, sizeof path, "%s/flash/%s", g_dir, path_in_dir);
    unsigned char *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    int same = tm_read_file(path, &a, &na, NULL) == 0 && tm_read_file(script, &b, &nb, NULL) == 0
               && na == nb && memcmp(a, b, na) == 0;
    free(a);
    free(b);
    return same;
}

START_TEST(written_once_then_the_loader_only)
{
    char spec[700];
    flash_spec(spec, sizeof spec, NULL);
    struct agent *a = open_on(spec, NULL, 0);
    unsigned long long first = boot(a);
    ck_assert_str_eq(agent_start(a), "written");
    ck_assert_ptr_null(agent_store_note(a));
    ck_assert_msg(flash_file_is(TM_AF_FILE, AGENT_PY), "the board's file is not agent.py");
    ck_assert_uint_gt(first, g_agent_len);
    /* a second bootstrap (Ctrl-C, raw REPL) and one after a soft reset */
    unsigned long long again = boot(a);
    ck_assert_str_eq(agent_start(a), "stored");
    json_t *reply = NULL;
    struct tm_err err = { 0 };   /* the reply and the reset may come as one: lost by reset */
    int rc = agent_call(a, "reset", NULL, tm_deadline_in(HANG_MS), &reply, &err);
    ck_assert_msg(rc == 0 || agent_lost_by_reset(a), "reset: %s", err.msg);
    json_decref(reply);
    unsigned long long after_reset = boot(a);
    ck_assert_str_eq(agent_start(a), "stored");
    printf("bytes sent: first bootstrap %llu, again %llu, after a soft reset %llu (agent %zu)\n",
           first, again, after_reset, g_agent_len);
    ck_assert_uint_lt(again, LOADER_ONLY_BYTES);
    ck_assert_uint_lt(after_reset, LOADER_ONLY_BYTES);
    struct agent_starts n;
    agent_start_counts(a, &n);
    ck_assert_int_eq(n.written, 1);
    ck_assert_int_eq(n.stored, 2);
    ck_assert_int_eq(n.uploaded, 0);
    agent_close(a);
    /* the next run (a new camera process, the same flash): the loader only */
    a = open_on(spec, NULL, 0);
    ck_assert_uint_lt(boot(a), LOADER_ONLY_BYTES);
    ck_assert_str_eq(agent_start(a), "stored");
    agent_close(a);
}
END_TEST

/* Another agent.py (an edit: another hash) and a damaged file are written again. */
START_TEST(changed_or_damaged_file_is_rewritten)
{
    char spec[700], edited[600];
    flash_spec(spec, sizeof spec, NULL);
    struct agent *a = open_on(spec, NULL, 0);
    boot(a);
    agent_close(a);
    unsigned char *code = NULL;
    size_t len = 0;
    ck_assert_int_eq(tm_read_file(AGENT_PY, &code, &len, NULL), 0);
    snprintf(edited, sizeof edited, "%s/agent-v2.py", g_dir);
    unsigned char *v2 = malloc(len + 16);
    memcpy(v2, code, len);
    memcpy(v2 + len, "# version 2\n", 12);
    ck_assert_int_eq(tm_write_file(edited, v2, len + 12, 0644, NULL), 0);
    a = open_on(spec, edited, 0);
    ck_assert_uint_gt(boot(a), len);
    ck_assert_str_eq(agent_start(a), "written");
    ck_assert(flash_file_is(TM_AF_FILE, edited));
    agent_close(a);
    char path[700];
    snprintf(path, sizeof path, "%s/flash/%s", g_dir, TM_AF_FILE);
    ck_assert_int_eq(tm_write_file(path, v2, len / 3, 0644, NULL), 0);   /* cut short */
    a = open_on(spec, edited, 0);
    boot(a);
    ck_assert_str_eq(agent_start(a), "written");
    ck_assert(flash_file_is(TM_AF_FILE, edited));
    agent_close(a);
    free(v2);
    free(code);
}
END_TEST

/* A read-only or full file system: the agent goes whole (as before stored
 * agents), the reason is named, and nothing is tried again within the run. */
START_TEST(unwritable_file_system_falls_back)
{
    static const struct { const char *fs, *why; } cases[] = {
        { "--fs ro", "the file system is not writable (OSError 30)" },
        { "--fs full", "the agent file could not be written (OSError 28)" },
    };
    for (size_t i = 0; i < 2; i++) {
        char spec[700];
        flash_spec(spec, sizeof spec, cases[i].fs);
        struct agent *a = open_on(spec, NULL, 0);
        boot(a);
        ck_assert_str_eq(agent_start(a), "uploaded");
        ck_assert_str_eq(agent_store_note(a), cases[i].why);
        unsigned long long again = boot(a);   /* no loader, no writer: the agent only */
        ck_assert_str_eq(agent_start(a), "uploaded");
        ck_assert_uint_gt(again, g_agent_len);
        ck_assert_uint_lt(again, g_agent_len + LOADER_ONLY_BYTES);
        /* the lock lives in the agent's RAM there: renewals still name us */
        json_t *reply = NULL;
        struct tm_err err = { 0 };
        json_t *req = json_pack("{s:s}", "if", "nobody");
        ck_assert_int_eq(agent_call(a, "lock", req, tm_deadline_in(HANG_MS), &reply, &err), 0);
        ck_assert_ptr_nonnull(json_object_get(json_object_get(reply, "holder"), "token"));
        json_decref(reply);
        json_decref(req);
        agent_close(a);
        char path[700];
        snprintf(path, sizeof path, "%s/flash/%s", g_dir, TM_AF_FILE);
        ck_assert_msg(access(path, F_OK) != 0, "%s: an agent file appeared", cases[i].fs);
    }
}
END_TEST

START_TEST(agent_upload_always_leaves_the_file_alone)
{
    char spec[700];
    flash_spec(spec, sizeof spec, NULL);
    struct agent *a = open_on(spec, NULL, 1);
    ck_assert_uint_gt(boot(a), g_agent_len);
    ck_assert_str_eq(agent_start(a), "uploaded");
    ck_assert_str_eq(agent_store_note(a), "--agent-upload always");
    agent_close(a);
    char path[700];
    snprintf(path, sizeof path, "%s/flash/%s", g_dir, TM_AF_FILE);
    ck_assert(access(path, F_OK) != 0);
}
END_TEST

/* MicroPython's own raw REPL: the loader finds no file, the writer (the deflate
 * form: this port has `deflate`) stores it, the loader imports it, and the agent
 * serves. One bootstrap only: this bridge hands a Ctrl-C to a running program as
 * a byte, so a running agent cannot be interrupted for a second one (the unix
 * port's test_agent_file covers a loader alone on real MicroPython). */
START_TEST(micropython_repl_writes_and_starts_the_agent)
{
    char spec[700];
    snprintf(spec, sizeof spec, "exec:%s %s", TM_NODE, MPY_REPL);
    struct agent *a = open_on(spec, AGENT_PY, 0);
    json_t *tr = json_array();
    agent_set_transcript(a, tr);
    unsigned long long first = boot(a);
    ck_assert_msg(strcmp(agent_start(a), "written") == 0, "started: %s (%s)", agent_start(a),
                  agent_store_note(a) ? agent_store_note(a) : "");
    printf("MicroPython raw REPL: first bootstrap %llu bytes (agent %zu)\n", first, g_agent_len);
    ck_assert_uint_lt(first, g_agent_len);   /* the deflate writer: about half */
    size_t i, stored = 0;
    json_t *v;
    json_array_foreach(tr, i, v) stored += strstr(json_string_value(v), TM_AF_MARK "stored") != NULL;
    ck_assert_uint_eq(stored, 1);
    agent_set_transcript(a, NULL);
    json_decref(tr);
    agent_close(a);
}
END_TEST

/* `tlsmatrix run` twice on one kept flash with a session case that soft-resets
 * the board: run.json's device record says how the agent started, and no case's
 * link carries the agent. */
static json_t *run_resets(const char *spec, char *report, size_t rlen, int n)
{
    snprintf(report, rlen, "%s/report-%d", g_dir, n);
    char out[700];
    snprintf(out, sizeof out, "%s/run-%d.log", g_dir, n);
    char *argv[] = { TM_BIN_DIR "/tlsmatrix", "run", "--quiet", "--verbose", "--device",
                     (char *)spec, "--filter", "session-soft-reset-between/openssl/p256/*",
                     "--report", report, NULL };
    struct tm_err err = { 0 };
    int rc = tm_proc_run(argv, out, tm_deadline_in(120000), &err);
    unsigned char *log = NULL;
    size_t len = 0;
    tm_read_file(out, &log, &len, NULL);
    ck_assert_msg(rc == 0, "run exit %d: %s\n%s", rc, err.msg, log ? (char *)log : "");
    ck_assert_msg(log != NULL && strstr((char *)log, "the agent started "), "no --verbose line");
    free(log);
    char path[800];
    snprintf(path, sizeof path, "%s/run.json", report);
    json_t *run = json_load_file(path, 0, NULL);
    ck_assert_ptr_nonnull(run);
    return run;
}

static void check_cases_carry_no_agent(const json_t *run)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(run, "cases"), i, c) {
        json_int_t sent = json_integer_value(json_object_get(json_object_get(c, "link"), "sent"));
        ck_assert_msg(sent > 0 && (size_t)sent < g_agent_len / 2, "%s sent %lld bytes",
                      json_string_value(json_object_get(c, "id")), (long long)sent);
    }
    ck_assert_uint_gt(i, 0);
}

START_TEST(run_json_says_how_and_resets_send_the_loader)
{
    if (hk_skip_unless_built() != 0)
        return;
    char spec[700], report[600];
    flash_spec(spec, sizeof spec, NULL);
    json_t *run = run_resets(spec, report, sizeof report, 1);
    json_t *dev = json_array_get(json_object_get(json_object_get(run, "header"), "devices"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(dev, "agent_start")), "written");
    ck_assert(json_is_null(json_object_get(dev, "agent_store")));
    json_t *n = json_object_get(dev, "agent_starts");
    ck_assert_int_eq(json_integer_value(json_object_get(n, "written")), 1);
    ck_assert_int_ge(json_integer_value(json_object_get(n, "stored")), 1);   /* after the reset */
    ck_assert_int_eq(json_integer_value(json_object_get(n, "uploaded")), 0);
    check_cases_carry_no_agent(run);
    json_decref(run);
    run = run_resets(spec, report, sizeof report, 2);
    dev = json_array_get(json_object_get(json_object_get(run, "header"), "devices"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(dev, "agent_start")), "stored");
    n = json_object_get(dev, "agent_starts");
    ck_assert_int_eq(json_integer_value(json_object_get(n, "written")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(dev, "upload_bytes")) < LOADER_ONLY_BYTES, 1);
    check_cases_carry_no_agent(run);
    json_decref(run);
}
END_TEST

int main(void)
{
    if (access(TM_BIN_DIR "/vcam", X_OK) != 0) {
        fprintf(stderr, "skip: vcam not built\n");
        return 77;
    }
    Suite *s = suite_create("agent_store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 150);
    tcase_add_test(tc, written_once_then_the_loader_only);
    tcase_add_test(tc, changed_or_damaged_file_is_rewritten);
    tcase_add_test(tc, unwritable_file_system_falls_back);
    tcase_add_test(tc, agent_upload_always_leaves_the_file_alone);
    tcase_add_test(tc, run_json_says_how_and_resets_send_the_loader);
    if (access(MPY_REPL, R_OK) == 0 && TM_NODE[0] != '\0')
        tcase_add_test(tc, micropython_repl_writes_and_starts_the_agent);
    else
        printf("SKIP (MicroPython raw REPL case): node or %s missing\n", MPY_REPL);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
