/* Multi-step device sessions (docs/contracts.md §5 `steps`): the validator's steps
 * and trend bounds with their refusals (also at the step's own line in a scenario
 * file), and sessions run end to end on the virtual camera: step records and heap
 * figures in run.json, a leak planted in the virtual camera (the test-only `leak`
 * fault) failing the heap-growth bound, and a device reset at a step, expected
 * (the session goes on) and not (an infrastructure error). */
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
    hk_dir_make(tmpdir, sizeof tmpdir, "session");
}

static void teardown(void)
{
    hk_dir_remove(tmpdir);
}

/* A case with steps (JSON text) and an optional trend. */
static int build(const char *steps, const char *trend, struct tm_case *c, struct tm_err *err)
{
    char text[2000];
    snprintf(text, sizeof text,
             "{\"id\": \"s/openssl/p256/tls\", \"axes\": {\"keytype\": \"p256\"},"
             " \"device\": {\"role\": \"client\"}, \"steps\": %s,"
             " \"expected\": {\"device\": \"ok\"%s%s}}", steps, trend ? ", \"trend\": " : "",
             trend ? trend : "");
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    ck_assert_msg(j != NULL, "%s: %s", text, je.text);
    int rc = case_build(j, c, err);
    json_decref(j);
    return rc;
}

START_TEST(steps_are_typed)
{
    struct tm_case c;
    struct tm_err err = { 0 };
    ck_assert_msg(build("[\"gc\", {\"repeat\": 3, \"steps\": [{\"open\": {\"peer_args\": "
                        "[\"--echo\"]}}, {\"write\": 5}, {\"read\": {\"bytes\": 5, \"echo\": true}},"
                        " {\"close\": \"raw\"}]}, {\"open\": {\"keep\": false, \"asyncio\": true},"
                        " \"expect\": {\"device\": \"reset\"}}, {\"sleep\": 10},"
                        " {\"fault\": \"reboot@stage=handshake\"}, \"reset\","
                        " {\"read\": {\"text\": \"pong\"}, \"options\": {\"recv_mode\": \"recv\"}}]",
                        "{\"heap_growth_per_iteration\": {\"max\": 256},"
                        " \"open_connections\": {\"min\": 1, \"max\": 2}}", &c, &err) == 0,
                  "%s", err.msg);
    ck_assert_uint_eq(c.nsteps, 7);
    ck_assert_int_eq(c.steps[0].kind, CASE_STEP_GC);
    const struct case_step *r = &c.steps[1];
    ck_assert_int_eq(r->kind, CASE_STEP_REPEAT);
    ck_assert_int_eq(r->n, 3);
    ck_assert_uint_eq(r->nsteps, 4);
    ck_assert_int_eq(r->steps[0].keep, 1);   /* open keeps by default */
    ck_assert_str_eq(r->steps[0].peer_args[0], "--echo");
    ck_assert_int_eq(r->steps[1].n, 5);
    ck_assert_mem_eq(r->steps[1].data, "abcde", 5);   /* the pattern */
    ck_assert_int_eq(r->steps[2].echo, 1);
    ck_assert_int_eq(r->steps[3].close, CASE_CLOSE_RAW);
    ck_assert_int_eq(c.steps[2].asyncio, 1);
    ck_assert_int_eq(c.steps[2].has_expect, 1);
    ck_assert_str_eq(c.steps[2].expect.device.v[0], "reset");
    ck_assert_str_eq(c.steps[2].expect.peer.v[0], "*");
    ck_assert_int_eq(c.steps[3].n, 10);
    ck_assert_str_eq(c.steps[4].fault, "reboot@stage=handshake");
    ck_assert_int_eq(c.steps[5].kind, CASE_STEP_RESET);
    ck_assert_int_eq(c.steps[6].n, 4);
    ck_assert_mem_eq(c.steps[6].data, "pong", 4);
    ck_assert_str_eq(json_string_value(json_object_get(c.steps[6].options, "recv_mode")), "recv");
    ck_assert_int_eq(c.trend.heap_growth.max, 256);
    ck_assert_int_eq(c.trend.heap_growth.min, -1);
    ck_assert_int_eq(c.trend.open.min, 1);
    ck_assert_int_eq(c.trend.handshake_ms.max, -1);
    case_free(&c);
}
END_TEST

/* Every refusal is TM_E_INPUT and names the item. */
START_TEST(steps_refused_with_the_item)
{
    static const struct {
        const char *steps, *trend, *want;
    } bad[] = {
        { "[\"open\", \"jump\"]", NULL, "steps[1]: unknown action 'jump'" },
        { "[{\"open\": null, \"gc\": null}]", NULL, "steps[0]: two actions" },
        { "[\"open\", {\"repeat\": 0, \"steps\": [\"gc\"]}]", NULL, "steps[1].repeat: repeat: expected a count" },
        { "[\"open\", {\"repeat\": 2, \"steps\": [{\"read\": 0}]}]", NULL,
          "steps[1].repeat.steps[0].read: expected a byte count" },
        { "[{\"open\": {\"asyncio\": true}}]", NULL, "add keep: false" },
        { "[\"open\", {\"close\": \"gently\"}]", NULL, "steps[1].close: field 'close': 'gently' is not one of tls, raw, leave, abort" },
        { "[\"open\", {\"fault\": \"reboot@stage=hanshake\"}]", NULL, "unknown stage" },
        { "[\"open\", {\"gc\": null, \"expect\": {\"peer\": \"ok\"}}]", NULL, "only an open step has a peer" },
        { "[\"open\", {\"gc\": null, \"expect\": {\"device\": \"verify-failed:expird\"}}]", NULL, "steps[1]: expect.device: 'verify-failed:expird'" },
        { "[\"gc\"]", NULL, "no open step" },
        { "[\"open\", {\"repeat\": 1000, \"steps\": [{\"repeat\": 1000, \"steps\": [\"gc\"]}]}]", NULL,
          "more than 20000 steps" },
        { "[\"open\"]", "{\"heap\": {\"max\": 1}}", "expect.trend.heap: unknown trend" },
        { "[\"open\"]", "{\"handshake_ms\": {\"min\": 5, \"max\": 1}}", "0 <= min <= max" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct tm_case c;
        struct tm_err err = { 0 };
        ck_assert_msg(build(bad[i].steps, bad[i].trend, &c, &err) == -1, "%s accepted", bad[i].steps);
        ck_assert_int_eq(tm_err_code(&err), TM_E_INPUT);
        ck_assert_msg(strstr(err.msg, bad[i].want) != NULL, "%s: got '%s', want '%s'",
                      bad[i].steps, err.msg, bad[i].want);
    }
}
END_TEST

static void write_file(const char *name, const char *text)
{
    char path[400];
    snprintf(path, sizeof path, "%s/sc", tmpdir);
    ck_assert_int_eq(tm_mkdirs(path, 0755, NULL), 0);
    snprintf(path, sizeof path, "%s/sc/%s", tmpdir, name);
    ck_assert_int_eq(tm_write_file(path, text, strlen(text), 0644, NULL), 0);
}

/* A bad step in a scenario file is refused at that step's line. */
START_TEST(loader_refuses_at_the_step_line)
{
    write_file("s.yaml", "name: s\ndoc: a session\ndevice: {role: client}\n"
               "steps:\n  - open\n  - repeat: 2\n    steps: [gc]\n  - read: -1\n"
               "expect: {device: ok}\n");
    char path[400];
    snprintf(path, sizeof path, "%s/sc/s.yaml", tmpdir);
    json_t *errors = json_array();
    const char *paths[] = { path };
    json_decref(scenario_load_all(paths, 1, errors));
    const char *e = json_string_value(json_array_get(errors, 0));
    char want[600];
    snprintf(want, sizeof want, "%s:8: steps[2].read: expected a byte count", path);
    ck_assert_msg(e != NULL && strncmp(e, want, strlen(want)) == 0, "%s", e ? e : "(accepted)");
    json_decref(errors);
}
END_TEST

static const char client_part[] =
    "device: {role: client, verify: required, ca: ['{kt}-root.der'], server_hostname: test.local}\n"
    "peer: {cert: ['{kt}-server.der', '{kt}-int.der'], key: '{kt}-server.key.der'}\n"
    "axes: {backend: [openssl]}\n";

/* Run the scenarios in sc/ on a virtual camera with vcam_args; the run.json. */
static json_t *run(const char *vcam_args, int want_exit)
{
    char cmd[1600], out[400], path[400];
    snprintf(out, sizeof out, "%s/run.txt", tmpdir);
    snprintf(cmd, sizeof cmd, "timeout 100 %s run --device 'virtual%s%s' --jobs 1 --quiet "
             "--scenarios %s/sc --report %s/rep >%s 2>&1", TLSMATRIX, vcam_args ? ":" : "",
             vcam_args ? vcam_args : "", tmpdir, tmpdir, out);
    int st = system(cmd);
    unsigned char *text = NULL;
    size_t len;
    tm_read_file(out, &text, &len, NULL);
    ck_assert_msg(WEXITSTATUS(st) == want_exit, "exit %d\n%s", WEXITSTATUS(st), text ? (char *)text : "");
    free(text);
    snprintf(path, sizeof path, "%s/rep/run.json", tmpdir);
    json_t *r = json_load_file(path, 0, NULL);
    ck_assert_ptr_nonnull(r);
    return r;
}

static const json_t *case_of(const json_t *run, size_t i)
{
    return json_array_get(json_object_get(run, "cases"), i);
}

static const char *s(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static char loop[1200];

/* extra: a step added to each iteration */
static const char *loop_scenario(const char *close, const char *extra)
{
    snprintf(loop, sizeof loop, "name: loop\ndoc: handshakes in a loop\n%s"
             "steps:\n  - repeat: 4\n    steps: [open, {write: 8}, {close: %s}%s%s]\n"
             "expect: {device: ok, peer: ok, trend: {heap_growth_per_iteration: {max: 256}}}\n",
             client_part, close, extra ? ", " : "", extra ? extra : "");
    return loop;
}

/* Each step is recorded with its heap figure; the heap stays level. */
START_TEST(session_records_steps_and_heap)
{
    write_file("loop.yaml", loop_scenario("tls", NULL));
    json_t *r = run(NULL, 0);
    const json_t *c = case_of(r, 0), *steps = json_object_get(c, "steps");
    ck_assert_str_eq(s(c, "verdict"), "pass");
    /* 4 × (open, write, close, the iteration's gc) + the session's release */
    ck_assert_uint_eq(json_array_size(steps), 17);
    const json_t *open = json_array_get(steps, 0), *close = json_array_get(steps, 2);
    ck_assert_str_eq(s(open, "step"), "open");
    ck_assert_str_eq(s(open, "at"), "steps[0].steps[0]");
    ck_assert_str_eq(s(json_object_get(open, "actual"), "peer"), "ok");
    ck_assert_int_eq(json_integer_value(json_object_get(open, "open")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(close, "open")), 0);
    /* a kept connection holds heap that close() gives back */
    ck_assert_int_lt(json_integer_value(json_object_get(open, "heap")),
                     json_integer_value(json_object_get(close, "heap")));
    ck_assert(json_is_true(json_object_get(json_array_get(steps, 3), "implicit")));
    const json_t *t = json_object_get(c, "trend");
    ck_assert_int_eq(json_integer_value(json_object_get(t, "iterations")), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(t, "heap_growth_per_iteration")), 0);
    json_decref(r);
}
END_TEST

/* The same loop with a leak planted in the camera (the test-only leak fault, at
 * the next request of each iteration) fails the bound; so does a loop that
 * leaves its connections open. */
START_TEST(planted_leak_fails_heap_bound)
{
    write_file("loop.yaml", loop_scenario("tls", "{fault: 'leak:700@request=1'}"));
    json_t *r = run(NULL, 1);
    const json_t *c = case_of(r, 0);
    ck_assert_str_eq(s(c, "verdict"), "fail");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(c, "trend"),
                                                        "heap_growth_per_iteration")), 700);
    ck_assert_msg(strstr(s(c, "reason"), "heap growth per iteration") != NULL, "%s", s(c, "reason"));
    json_decref(r);
    write_file("loop.yaml", loop_scenario("leave", NULL));
    r = run(NULL, 1);
    c = case_of(r, 0);
    ck_assert_str_eq(s(c, "verdict"), "fail");
    ck_assert_int_gt(json_integer_value(json_object_get(json_object_get(c, "trend"),
                                                        "heap_growth_per_iteration")), 10000);
    json_decref(r);
}
END_TEST

/* A reboot placed at the handshake: expected, the session goes on after a new
 * bootstrap; not expected, the case is an infrastructure error. */
START_TEST(device_reset_at_a_step)
{
    char text[1400];
    snprintf(text, sizeof text, "name: rb\ndoc: the device reboots at a handshake\n%s"
             "steps:\n  - fault: reboot@stage=handshake\n  - open:\n"
             "    expect: {device: reset, peer: '*'}\n  - open\n  - {close: tls}\n"
             "expect: {device: ok, peer: ok}\n", client_part);
    write_file("rb.yaml", text);
    json_t *r = run(NULL, 0);
    const json_t *c = case_of(r, 0), *steps = json_object_get(c, "steps");
    ck_assert_str_eq(s(c, "verdict"), "pass");
    ck_assert_str_eq(s(json_object_get(json_array_get(steps, 1), "actual"), "device"), "reset");
    ck_assert_str_eq(s(json_object_get(json_array_get(steps, 2), "actual"), "device"), "ok");
    json_decref(r);
    snprintf(text, sizeof text, "name: rb\ndoc: the device reboots at a handshake\n%s"
             "steps:\n  - fault: reboot@stage=handshake\n  - open\n"
             "expect: {device: ok, peer: ok}\n", client_part);
    write_file("rb.yaml", text);
    r = run(NULL, 1);
    c = case_of(r, 0);
    ck_assert_str_eq(s(c, "verdict"), "error");
    json_decref(r);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("session");
    TCase *tc = tcase_create("session");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 110);
    tcase_add_test(tc, steps_are_typed);
    tcase_add_test(tc, steps_refused_with_the_item);
    tcase_add_test(tc, loader_refuses_at_the_step_line);
    tcase_add_test(tc, session_records_steps_and_heap);
    tcase_add_test(tc, planted_leak_fails_heap_bound);
    tcase_add_test(tc, device_reset_at_a_step);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
