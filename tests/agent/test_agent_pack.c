/* The compressed agent loader (harness/agent/pack.c): its first line is the
 * agent's header (the virtual camera's upload check), it is well under the plain
 * file's size, its payload inflates on the host to the agent byte for byte with a
 * window the device can afford, and under MicroPython 1.27 (WebAssembly in node,
 * through mpy_run.mjs) running it defines the agent's functions. The MicroPython
 * case skips (exit 77) only when node is missing. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "agent_internal.h"
#include "tm_fs.h"
#include "tm_proc.h"

#define AGENT_PY TM_SOURCE_DIR "/camera/agent/agent.py"
#define CASE_MS 60000   /* one node start + wasm load + the case; ~1 s normally */
#define MAX_WINDOW_LOG 12   /* the device allocates 2^wbits bytes to inflate */

/* Run by mpy_run.mjs with the loader at /agent.py: the loader must define what
 * the agent defines, and TM_NO_MAIN must keep it from serving stdin. */
static const char CASES[] =
    "TM_NO_MAIN = True\n"
    "exec(open('/agent.py').read())\n"
    "for n in ('serve', 'now', 'heap'):\n"
    "    assert callable(globals().get(n)), 'loader did not define ' + n\n"
    "print('agent defined by the loader')\n";

static char g_tmp[512];

struct packed {
    unsigned char *plain, *loader;
    size_t plen, llen;
};

static void pack_agent(struct packed *pk)
{
    struct tm_err err = { 0 };
    ck_assert_msg(tm_read_file(AGENT_PY, &pk->plain, &pk->plen, &err) == 0, "%s", err.msg);
    ck_assert_msg(agent_pack_loader(pk->plain, pk->plen, &pk->loader, &pk->llen, &err) == 0,
                  "%s", err.msg);
}

static void packed_free(struct packed *pk)
{
    free(pk->plain);
    free(pk->loader);
}

START_TEST(loader_header_and_size)
{
    struct packed pk;
    pack_agent(&pk);
    const unsigned char *nl = memchr(pk.plain, '\n', pk.plen);
    ck_assert_ptr_nonnull(nl);
    size_t hlen = (size_t)(nl - pk.plain) + 1;
    ck_assert_uint_gt(pk.llen, hlen);
    ck_assert_msg(memcmp(pk.loader, "# tlsmatrix-agent proto=1\n", 26) == 0,
                  "loader's first line is not the agent header");
    ck_assert_msg(memcmp(pk.loader, pk.plain, hlen) == 0, "first line differs from the agent's");
    ck_assert_msg(pk.llen * 100 < pk.plen * 60, "loader %zu bytes is not < 60 %% of %zu",
                  pk.llen, pk.plen);
    printf("agent %zu bytes, loader %zu bytes (%.0f %%): %.2f s vs %.2f s at 115200 8N1\n",
           pk.plen, pk.llen, 100.0 * (double)pk.llen / (double)pk.plen,
           (double)pk.plen / 11520.0, (double)pk.llen / 11520.0);
    packed_free(&pk);
}
END_TEST

/* The payload between b' and ' inflates to the agent itself, and its zlib header
 * asks for no more than a 4 KB window. */
START_TEST(payload_inflates_to_the_agent)
{
    struct packed pk;
    pack_agent(&pk);
    char *text = strndup((const char *)pk.loader, pk.llen);
    ck_assert_ptr_nonnull(text);
    char *start = strstr(text, "a2b_base64(b'");
    ck_assert_ptr_nonnull(start);
    start += strlen("a2b_base64(b'");
    char *end = strchr(start, '\'');
    ck_assert_ptr_nonnull(end);
    *end = '\0';
    unsigned char *z = NULL;
    long zlen = tm_b64_decode(start, &z);
    ck_assert_int_gt(zlen, 2);
    ck_assert_int_eq(z[0] & 0x0f, 8);   /* CM = deflate */
    ck_assert_int_le((z[0] >> 4) + 8, MAX_WINDOW_LOG);
    uLongf outlen = (uLongf)pk.plen + 1;
    unsigned char *out = malloc(outlen);
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(uncompress(out, &outlen, z, (uLong)zlen), Z_OK);
    ck_assert_uint_eq(outlen, pk.plen);
    ck_assert(memcmp(out, pk.plain, pk.plen) == 0);
    free(out);
    free(z);
    free(text);
    packed_free(&pk);
}
END_TEST

START_TEST(no_header_line_is_an_error)
{
    struct tm_err err = { 0 };
    unsigned char *out = NULL;
    size_t n = 0;
    const unsigned char one[] = "# tlsmatrix-agent proto=1";
    ck_assert_int_eq(agent_pack_loader(one, sizeof one - 1, &out, &n, &err), -1);
    ck_assert_ptr_null(out);
    ck_assert_ptr_nonnull(strstr(err.msg, "header"));
}
END_TEST

static const char *mjs_path(void)
{
    const char *env = getenv("TM_MICROPYTHON_MJS");
    return env != NULL && env[0] != '\0' ? env : TM_MPY_MJS;
}

/* node mpy_run.mjs MJS loader cases pack; returns node's exit code, printing
 * its output when it is not 0. */
static int run_loader(const char *loader, const char *cases)
{
    char runner[1024], errpath[600];
    snprintf(runner, sizeof runner, "%s/tests/agent/mpy_run.mjs", TM_SOURCE_DIR);
    snprintf(errpath, sizeof errpath, "%s/node.stderr", g_tmp);
    char *argv[] = { TM_NODE, runner, (char *)mjs_path(), (char *)loader, (char *)cases,
                     "pack", NULL };
    struct tm_proc p;
    struct tm_err err = { 0 };
    ck_assert_msg(tm_proc_spawn(&p, argv, errpath, &err) == 0, "spawn node: %s", err.msg);
    struct tm_lines lr;
    tm_lines_init(&lr, p.out_fd, 1 << 20);
    tm_ms deadline = tm_deadline_in(CASE_MS);
    for (int guard = 0; guard < 10000; guard++) {
        char *line = NULL;
        if (tm_lines_read(&lr, deadline, &line, &err) != 1)
            break;
        printf("node: %s\n", line);
        free(line);
    }
    tm_lines_free(&lr);
    if (tm_proc_wait(&p, deadline) != 0)
        tm_proc_stop(&p, 500);
    int code = tm_proc_exit_code(&p);
    if (code != 0) {
        unsigned char *e = NULL;
        size_t elen = 0;
        tm_read_file(errpath, &e, &elen, &err);
        fprintf(stderr, "loader under MicroPython: exit %d\n%.*s\n", code, (int)elen,
                e ? (const char *)e : "");
        free(e);
    }
    return code;
}

START_TEST(loader_defines_the_agent_under_micropython)
{
    ck_assert_msg(access(mjs_path(), R_OK) == 0,
                  "MicroPython WebAssembly not found at %s (run scripts/deps.sh, or set "
                  "TM_MICROPYTHON_MJS)", mjs_path());
    struct packed pk;
    pack_agent(&pk);
    char loader[600], cases[600];
    struct tm_err err = { 0 };
    snprintf(loader, sizeof loader, "%s/loader.py", g_tmp);
    snprintf(cases, sizeof cases, "%s/pack_case.py", g_tmp);
    ck_assert_msg(tm_write_file(loader, pk.loader, pk.llen, 0644, &err) == 0, "%s", err.msg);
    ck_assert_msg(tm_write_file(cases, CASES, strlen(CASES), 0644, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(run_loader(loader, cases), 0);
    /* The same case fails when the payload is not the agent: a loader whose
     * payload is a one-line program defines no serve(). */
    const unsigned char stub[] = "# tlsmatrix-agent proto=1\nx = 1\n";
    unsigned char *bad = NULL;
    size_t blen = 0;
    ck_assert_int_eq(agent_pack_loader(stub, sizeof stub - 1, &bad, &blen, &err), 0);
    ck_assert_msg(tm_write_file(loader, bad, blen, 0644, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(run_loader(loader, cases), 1);
    free(bad);
    packed_free(&pk);
}
END_TEST

int main(void)
{
    struct tm_err err;
    if (tm_mkdtemp(g_tmp, sizeof g_tmp, "tm-agentpack-", &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 99;
    }
    Suite *s = suite_create("agent_pack");
    TCase *tc = tcase_create("pack");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, loader_header_and_size);
    tcase_add_test(tc, payload_inflates_to_the_agent);
    tcase_add_test(tc, no_header_line_is_an_error);
    int have_node = TM_NODE[0] != '\0';
    if (have_node)
        tcase_add_test(tc, loader_defines_the_agent_under_micropython);
    else
        printf("SKIP (MicroPython case): node was not found when the build was configured; scripts/deps.sh installs nodejs\n");
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (tm_rmtree(g_tmp, &err) != 0)
        fprintf(stderr, "could not remove %s: %s\n", g_tmp, err.msg);
    return failed ? 1 : have_node ? 0 : 77;
}
