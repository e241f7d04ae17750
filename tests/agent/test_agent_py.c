/* camera/agent/agent.py under MicroPython 1.27 (WebAssembly, npm
 * @micropython/micropython-webassembly-pyscript, installed by scripts/deps.sh):
 * each test runs one case of agent_cases.py through mpy_run.mjs in node and
 * expects exit 0. The build has no ssl/tls/socket/machine/network, so the TLS
 * operations are checked for their "unsupported" path only; the request
 * handling, replies, put, clock and hello are checked for real. Skips (exit 77)
 * only when node is missing. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tm_fs.h"
#include "tm_proc.h"

#define CASE_MS 60000   /* one node start + wasm load + case; ~1 s normally */

static char g_tmp[512];

static const char *mjs_path(void)
{
    const char *env = getenv("TM_MICROPYTHON_MJS");
    return env != NULL && env[0] != '\0' ? env : TM_MPY_MJS;
}

/* Run one case against agent (a path); returns node's exit code. The output and
 * the Python traceback are printed when the code is not the expected one. */
static int run_case(const char *agent, const char *name, int want)
{
    char runner[1024], cases[1024], table[1024], errpath[600];
    snprintf(runner, sizeof runner, "%s/tests/agent/mpy_run.mjs", TM_SOURCE_DIR);
    snprintf(cases, sizeof cases, "%s/tests/agent/agent_cases.py", TM_SOURCE_DIR);
    snprintf(table, sizeof table, "%s/tests/agent/bad_tls_requests.json", TM_SOURCE_DIR);
    snprintf(errpath, sizeof errpath, "%s/%s.stderr", g_tmp, name);
    unlink(errpath);
    char *argv[] = { TM_NODE, runner, (char *)mjs_path(), (char *)agent, cases, (char *)name,
                     table, NULL };
    struct tm_proc p;
    struct tm_err err;
    ck_assert_msg(tm_proc_spawn(&p, argv, errpath, &err) == 0, "spawn node: %s", err.msg);
    struct tm_lines lr;
    tm_lines_init(&lr, p.out_fd, 1 << 20);
    tm_ms deadline = tm_deadline_in(CASE_MS);
    char out[4096] = "";
    size_t olen = 0;
    for (int guard = 0; guard < 10000; guard++) {
        char *line = NULL;
        int r = tm_lines_read(&lr, deadline, &line, &err);
        if (r != 1)
            break;
        olen += (size_t)snprintf(out + olen, sizeof out - olen, "%s\n", line);
        if (olen >= sizeof out)
            olen = sizeof out - 1;
        free(line);
    }
    tm_lines_free(&lr);
    if (tm_proc_wait(&p, deadline) != 0)
        tm_proc_stop(&p, 500);
    int code = tm_proc_exit_code(&p);
    if (code != want) {
        unsigned char *e = NULL;
        size_t elen = 0;
        tm_read_file(errpath, &e, &elen, &err);
        fprintf(stderr, "case %s (%s): exit %d, want %d\nstdout:\n%sstderr:\n%.*s\n", name, agent,
                code, want, out, (int)elen, e ? (const char *)e : "");
        free(e);
    }
    return code;
}

static void need_micropython(void)
{
    ck_assert_msg(access(mjs_path(), R_OK) == 0,
                  "MicroPython WebAssembly not found at %s (run scripts/deps.sh, or set "
                  "TM_MICROPYTHON_MJS)", mjs_path());
}

static void agent_case(const char *name)
{
    char agent[1024];
    snprintf(agent, sizeof agent, "%s/camera/agent/agent.py", TM_SOURCE_DIR);
    need_micropython();
    ck_assert_msg(run_case(agent, name, 0) == 0, "agent case '%s' failed (output above)", name);
}

START_TEST(compile_with_micropython) { agent_case("compile"); } END_TEST
START_TEST(parse_malformed_requests) { agent_case("parse"); } END_TEST
START_TEST(exception_and_reply_format) { agent_case("exc"); } END_TEST
START_TEST(put_checks_sha256) { agent_case("put"); } END_TEST
START_TEST(clock_without_rtc) { agent_case("clock"); } END_TEST
START_TEST(hello_without_tls_modules) { agent_case("hello"); } END_TEST
START_TEST(tls_ops_unsupported_here) { agent_case("ops_unsupported"); } END_TEST
START_TEST(serve_loop_and_oversize_line) { agent_case("serve"); } END_TEST
START_TEST(junk_never_kills_the_agent) { agent_case("never_dies"); } END_TEST
START_TEST(bad_tls_requests_as_vcam) { agent_case("bad_tls"); } END_TEST
START_TEST(heap_free_holds_the_rest) { agent_case("heap"); } END_TEST
START_TEST(deadline_rearms_the_socket) { agent_case("deadline"); } END_TEST
START_TEST(session_ops_on_kept_connections) { agent_case("session"); } END_TEST
START_TEST(lock_holder_outlives_a_reupload) { agent_case("lock"); } END_TEST

/* The compile case must catch what CPython accepts but MicroPython does not
 * (a match statement), and a wrong header line. */
START_TEST(compile_case_catches_breakage)
{
    char src[1024], bad[700];
    need_micropython();
    snprintf(src, sizeof src, "%s/camera/agent/agent.py", TM_SOURCE_DIR);
    unsigned char *code = NULL;
    size_t len = 0;
    struct tm_err err;
    ck_assert_msg(tm_read_file(src, &code, &len, &err) == 0, "%s", err.msg);
    static const char tail[] = "\ndef _m(x):\n    match x:\n        case 1:\n            pass\n";
    size_t n = len + sizeof tail;
    char *buf = malloc(n);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, code, len);
    memcpy(buf + len, tail, sizeof tail);
    snprintf(bad, sizeof bad, "%s/match.py", g_tmp);
    ck_assert(tm_write_file(bad, buf, n - 1, 0644, &err) == 0);
    ck_assert_int_eq(run_case(bad, "compile", 1), 1);
    buf[2] = 'T';   /* "# Tlsmatrix-agent proto=1" */
    snprintf(bad, sizeof bad, "%s/header.py", g_tmp);
    ck_assert(tm_write_file(bad, buf, len, 0644, &err) == 0);
    ck_assert_int_eq(run_case(bad, "compile", 1), 1);
    free(buf);
    free(code);
}
END_TEST

int main(void)
{
    if (TM_NODE[0] == '\0') {
        printf("SKIP: node was not found when the build was configured; scripts/deps.sh installs nodejs\n");
        return 77;
    }
    struct tm_err err;
    if (tm_mkdtemp(g_tmp, sizeof g_tmp, "tm-agentpy-", &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 99;
    }
    Suite *s = suite_create("agent_py");
    TCase *tc = tcase_create("micropython");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, compile_with_micropython);
    tcase_add_test(tc, parse_malformed_requests);
    tcase_add_test(tc, exception_and_reply_format);
    tcase_add_test(tc, put_checks_sha256);
    tcase_add_test(tc, clock_without_rtc);
    tcase_add_test(tc, hello_without_tls_modules);
    tcase_add_test(tc, tls_ops_unsupported_here);
    tcase_add_test(tc, serve_loop_and_oversize_line);
    tcase_add_test(tc, junk_never_kills_the_agent);
    tcase_add_test(tc, bad_tls_requests_as_vcam);
    tcase_add_test(tc, heap_free_holds_the_rest);
    tcase_add_test(tc, deadline_rearms_the_socket);
    tcase_add_test(tc, session_ops_on_kept_connections);
    tcase_add_test(tc, lock_holder_outlives_a_reupload);
    tcase_add_test(tc, compile_case_catches_breakage);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (tm_rmtree(g_tmp, &err) != 0)
        fprintf(stderr, "could not remove %s: %s\n", g_tmp, err.msg);
    return failed == 0 ? 0 : 1;
}
