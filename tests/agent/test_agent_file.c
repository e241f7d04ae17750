/* The stored agent's programs (common/tm_agentfile.h): the loader and the writer
 * round-trip through the virtual camera's parser, and, under the real MicroPython
 * unix port (build/mpy/micropython), they do what the harness relies on. The
 * unix port 1.25 has no raw REPL, so a driver exec()s the programs one after the
 * other in __main__'s globals, as the raw REPL runs them, in a scratch directory
 * that is the board's flash: the first loader finds no file, the writer stores
 * it, the next loader imports it and the agent answers on stdin; a changed agent
 * and a truncated file are found stale and rewritten; an unwritable directory and
 * a file-size limit (a full file system) give `nostore` with the errno; the
 * session holder set in one agent is in the next one's hello from RAM. The
 * MicroPython cases skip (exit 77) when the port is not built. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_internal.h"
#include "tm_agentfile.h"
#include "tm_fs.h"
#include "tm_proc.h"

#define AGENT_PY TM_SOURCE_DIR "/camera/agent/agent.py"
#define MPY TM_SOURCE_DIR "/build/mpy/micropython"
#define RUN_MS 60000   /* a hang guard: one MicroPython process runs for ~0.1 s */

/* exec()s each argument's file in __main__'s globals, as the raw REPL runs each
 * program; "rm:NAME" removes a file between them. */
static const char DRIVER[] =
    "import sys, os\n"
    "for a in sys.argv[1:]:\n"
    "    if a[:3] == 'rm:':\n"
    "        os.remove(a[3:])\n"
    "    else:\n"
    "        exec(open(a).read())\n";

static char g_dir[512];

static unsigned char *agent_bytes(size_t *len)
{
    unsigned char *code = NULL;
    struct tm_err err = { 0 };
    ck_assert_msg(tm_read_file(AGENT_PY, &code, len, &err) == 0, "%s", err.msg);
    return code;
}

START_TEST(writer_round_trips_every_byte)
{
    unsigned char all[600];
    for (size_t i = 0; i < sizeof all; i++)
        all[i] = (unsigned char)(i * 7 + (i >> 8));
    memcpy(all, "\"\"\"\\\"''\\x41", 11);   /* quotes and escapes in the data itself */
    char *w = tm_af_writer(all, sizeof all);
    ck_assert_ptr_nonnull(w);
    for (const char *p = w; *p; p++)   /* no raw-REPL control byte goes as data */
        ck_assert_msg(*p == '\t' || *p == '\n' || (*p >= 0x20 && *p < 0x7f), "byte 0x%02x",
                      (unsigned char)*p);
    struct tm_af_prog pr;
    ck_assert_int_eq(tm_af_parse((const unsigned char *)w, strlen(w), &pr), 0);
    ck_assert_int_eq(pr.kind, TM_AF_WRITER);
    ck_assert_uint_eq(pr.payload_len, sizeof all);
    ck_assert(memcmp(pr.payload, all, sizeof all) == 0);
    tm_af_prog_free(&pr);
    /* the deflate form is not one the virtual camera runs (it has no deflate) */
    char *d = tm_af_writer_expr("__import__('x').y()");
    ck_assert_int_eq(tm_af_parse((const unsigned char *)d, strlen(d), &pr), 0);
    ck_assert_int_eq(pr.kind, TM_AF_OTHER);
    free(d);
    free(w);
}
END_TEST

START_TEST(loader_names_its_hash)
{
    char sha[65];
    tm_sha256_hex("x", 1, sha);
    char *l = tm_af_loader(sha);
    ck_assert_ptr_nonnull(l);
    struct tm_af_prog pr;
    ck_assert_int_eq(tm_af_parse((const unsigned char *)l, strlen(l), &pr), 0);
    ck_assert_int_eq(pr.kind, TM_AF_LOADER);
    ck_assert_str_eq(pr.sha_hex, sha);
    ck_assert_uint_lt(strlen(l), 700);   /* what crosses the link at every bootstrap */
    l[strlen(l) - 3] = 'X';              /* an edited loader is not this one */
    ck_assert_int_eq(tm_af_parse((const unsigned char *)l, strlen(l), &pr), 0);
    ck_assert_int_eq(pr.kind, TM_AF_OTHER);
    free(l);
    ck_assert_ptr_null(tm_af_loader("abc"));
    int eno = -1;
    ck_assert_int_eq(tm_af_status_parse("nostore 30", &eno), TM_AF_ST_NOSTORE);
    ck_assert_int_eq(eno, 30);
    ck_assert_int_eq(tm_af_status_parse("stored", &eno), TM_AF_ST_STORED);
    ck_assert_int_eq(tm_af_status_parse("nostore x", &eno), TM_AF_ST_UNKNOWN);
}
END_TEST

/* ---- under the real MicroPython ---- */

static void put(const char *name, const void *data, size_t len)
{
    char path[700];
    struct tm_err err = { 0 };
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    ck_assert_msg(tm_write_file(path, data, len, 0644, &err) == 0, "%s", err.msg);
}

/* Each case starts from an empty flash. */
static void fresh(void)
{
    static const char *const names[] = { TM_AF_FILE, TM_AF_TEMP, ".tm_lock", ".tm_w" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[700];
        snprintf(path, sizeof path, "%s/%s", g_dir, names[i]);
        unlink(path);
    }
}

static void put_programs(const unsigned char *agent, size_t len, int packed)
{
    char sha[65];
    tm_sha256_hex(agent, len, sha);
    char *l = tm_af_loader(sha), *w = NULL;
    struct tm_err err = { 0 };
    if (packed)
        ck_assert_msg(agent_pack_writer(agent, len, &w, &err) == 0, "%s", err.msg);
    else
        w = tm_af_writer(agent, len);
    ck_assert(l != NULL && w != NULL);
    put("l.py", l, strlen(l));
    put("w.py", w, strlen(w));
    put("driver.py", DRIVER, strlen(DRIVER));
    free(l);
    free(w);
}

/* A fresh flash with the programs for agent.py; the agent's bytes (caller-freed). */
static unsigned char *prepare(size_t *len, int packed)
{
    fresh();
    unsigned char *agent = agent_bytes(len);
    put_programs(agent, *len, packed);
    return agent;
}

/* MicroPython in cwd (default: the scratch directory) with `shell` run first
 * (ulimit, …), the driver on args, stdin from in.txt; its output (stdout and
 * stderr), NUL-terminated, caller-freed. */
static char *mpy(const char *cwd, const char *shell, const char *args, const char *input)
{
    char cmd[3000], out[700];
    put("in.txt", input, strlen(input));
    snprintf(out, sizeof out, "%s/out.txt", g_dir);
    unlink(out);
    snprintf(cmd, sizeof cmd, "cd '%s' && %s exec '%s' '%s/driver.py' %s <'%s/in.txt' 2>&1",
             cwd ? cwd : g_dir, shell ? shell : "", MPY, g_dir, args, g_dir);
    char *argv[] = { "sh", "-c", cmd, NULL };
    struct tm_err err = { 0 };
    int rc = tm_proc_run(argv, out, tm_deadline_in(RUN_MS), &err);
    ck_assert_msg(rc >= 0, "micropython: %s", err.msg);
    unsigned char *text = NULL;
    size_t n = 0;
    ck_assert_msg(tm_read_file(out, &text, &n, &err) == 0, "%s", err.msg);
    printf("--- micropython %s (exit %d):\n%s", args, rc, (char *)text);
    return (char *)text;
}

static int file_is(const char *name, const unsigned char *data, size_t len)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    unsigned char *got = NULL;
    size_t n = 0;
    if (tm_read_file(path, &got, &n, NULL) != 0)
        return 0;
    int same = n == len && memcmp(got, data, len) == 0;
    free(got);
    return same;
}

static int exists(const char *name)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    return access(path, F_OK) == 0;
}

#define INFO "{\"id\":1,\"op\":\"info\"}\n"
#define STARTED "\"op\": \"info\""   /* the info reply: only a running agent answers */

static void have(const char *out, const char *part)
{
    ck_assert_msg(strstr(out, part) != NULL, "no '%s' in the output", part);
}

static void first_store_then_start(int packed)
{
    size_t len = 0;
    unsigned char *agent = prepare(&len, packed);
    char *out = mpy(NULL, NULL, "l.py w.py l.py", INFO);
    have(out, TM_AF_MARK "nofile\n");
    have(out, TM_AF_MARK "stored\n");
    have(out, "\"event\": \"hello\"");
    have(out, STARTED);
    ck_assert_msg(file_is(TM_AF_FILE, agent, len), "the stored file is not the agent");
    ck_assert(!exists(TM_AF_TEMP));
    free(out);
    /* a later bootstrap: the loader alone starts it, and says nothing else */
    out = mpy(NULL, NULL, "l.py", INFO);
    ck_assert_ptr_null(strstr(out, TM_AF_MARK));
    have(out, STARTED);
    free(out);
    free(agent);
}

START_TEST(mpy_first_run_stores_then_loader_starts)
{
    first_store_then_start(0);
}
END_TEST

START_TEST(mpy_deflate_writer_stores_the_same_file)
{
    first_store_then_start(1);
}
END_TEST

/* Another agent (edited), then a truncated file: both stale, both rewritten. */
START_TEST(mpy_changed_or_truncated_file_is_rewritten)
{
    fresh();
    size_t len = 0;
    unsigned char *agent = agent_bytes(&len);
    put(TM_AF_FILE, agent, len);
    unsigned char *edited = malloc(len + 32);
    memcpy(edited, agent, len);
    memcpy(edited + len, "# another version\n", 18);
    put_programs(edited, len + 18, 0);
    char *out = mpy(NULL, NULL, "l.py w.py l.py", INFO);
    have(out, TM_AF_MARK "stale\n");
    have(out, TM_AF_MARK "stored\n");
    have(out, STARTED);
    free(out);
    ck_assert(file_is(TM_AF_FILE, edited, len + 18));
    put(TM_AF_FILE, edited, len / 2);   /* cut short (a write the power cut) */
    out = mpy(NULL, NULL, "l.py", INFO);
    have(out, TM_AF_MARK "stale\n");
    ck_assert_ptr_null(strstr(out, STARTED));   /* a partial agent never runs */
    free(out);
    out = mpy(NULL, NULL, "l.py w.py l.py", INFO);
    have(out, STARTED);
    ck_assert(file_is(TM_AF_FILE, edited, len + 18));
    free(out);
    free(edited);
    free(agent);
}
END_TEST

/* /proc takes no new files, even from root: the loader cannot open the temp file. */
START_TEST(mpy_unwritable_directory_is_nostore)
{
    size_t len = 0;
    unsigned char *agent = prepare(&len, 0);
    char args[1200];
    snprintf(args, sizeof args, "'%s/l.py'", g_dir);
    char *out = mpy("/proc", NULL, args, INFO);
    have(out, TM_AF_MARK "nostore ");
    ck_assert_ptr_null(strstr(out, STARTED));
    free(out);
    free(agent);
}
END_TEST

/* A file-size limit of 0 (SIGXFSZ ignored: writes fail with EFBIG), as a full
 * file system fails them: the temp file is created, the write fails, the temp
 * file goes, no agent file appears. */
START_TEST(mpy_full_file_system_is_nostore)
{
    size_t len = 0;
    unsigned char *agent = prepare(&len, 0);
    char *out = mpy(NULL, "trap '' XFSZ; ulimit -f 0;", "l.py w.py", INFO);
    have(out, TM_AF_MARK "nofile\n");
    have(out, TM_AF_MARK "nostore 27\n");
    ck_assert(!exists(TM_AF_FILE));
    ck_assert(!exists(TM_AF_TEMP));
    free(out);
    free(agent);
}
END_TEST

/* The holder set through one imported agent is in the next one's hello after its
 * file is gone: the agent keeps it in __main__'s globals, which outlive a new
 * import as they outlive a re-upload (docs/device-model.md §4.5). */
START_TEST(mpy_lock_holder_outlives_a_new_import)
{
    size_t len = 0;
    unsigned char *agent = prepare(&len, 0);
    put(TM_AF_FILE, agent, len);
    char *out = mpy(NULL, NULL, "l.py rm:.tm_lock l.py",
                    "{\"id\":1,\"op\":\"lock\",\"set\":{\"host\":\"h\",\"pid\":7,\"since\":\"s\","
                    "\"token\":\"00112233aabbccdd\",\"until\":4000000000}}\n");
    const char *second = strstr(out, "\"event\": \"hello\"");
    ck_assert_ptr_nonnull(second);
    second = strstr(second + 1, "\"event\": \"hello\"");
    ck_assert_msg(second != NULL, "no second hello");
    const char *end = strchr(second, '\n');
    char *hello = strndup(second, end ? (size_t)(end - second) : strlen(second));
    ck_assert_msg(strstr(hello, "00112233aabbccdd") != NULL, "the second agent lost the holder: %s",
                  hello);
    free(hello);
    free(out);
    free(agent);
}
END_TEST

int main(void)
{
    struct tm_err err;
    if (tm_mkdtemp(g_dir, sizeof g_dir, "tm-agentfile-", &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 99;
    }
    Suite *s = suite_create("agent_file");
    TCase *tc = tcase_create("programs");
    tcase_add_test(tc, writer_round_trips_every_byte);
    tcase_add_test(tc, loader_names_its_hash);
    suite_add_tcase(s, tc);
    int have_mpy = access(MPY, X_OK) == 0;
    if (have_mpy) {
        TCase *m = tcase_create("micropython");
        tcase_set_timeout(m, 120);
        tcase_add_test(m, mpy_first_run_stores_then_loader_starts);
        tcase_add_test(m, mpy_deflate_writer_stores_the_same_file);
        tcase_add_test(m, mpy_changed_or_truncated_file_is_rewritten);
        tcase_add_test(m, mpy_unwritable_directory_is_nostore);
        tcase_add_test(m, mpy_full_file_system_is_nostore);
        tcase_add_test(m, mpy_lock_holder_outlives_a_new_import);
        suite_add_tcase(s, m);
    } else {
        printf("SKIP (MicroPython cases): %s not built\n", MPY);
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (tm_rmtree(g_dir, &err) != 0)
        fprintf(stderr, "could not remove %s: %s\n", g_dir, err.msg);
    return failed ? 1 : have_mpy ? 0 : 77;
}
