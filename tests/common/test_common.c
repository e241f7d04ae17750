/* Unit tests for tm_common: each checks a behaviour other parts rely on. */
#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tm_err.h"
#include "tm_fault.h"
#include "tm_fs.h"
#include "tm_net.h"
#include "tm_proc.h"
#include "tm_proto2.h"
#include "tm_time.h"
#include "tm_verdict.h"
#include "tm_yaml.h"

/* A code survives a prefix (callers add where an error happened without losing
 * what it was); tm_err_set starts a new error with the generic code. */
START_TEST(err_codes_survive_prefix)
{
    struct tm_err err = { 0 };
    ck_assert_int_eq(tm_err_code(&err), TM_E_NONE);
    ck_assert_int_eq(tm_err_setc(&err, TM_E_BUSY, "%s: held", "/dev/ttyACM0"), -1);
    ck_assert_int_eq(tm_err_prefix(&err, "link '%s'", "serial:/dev/ttyACM0"), -1);
    ck_assert_int_eq(tm_err_code(&err), TM_E_BUSY);
    ck_assert_str_eq(err.msg, "link 'serial:/dev/ttyACM0': /dev/ttyACM0: held");
    tm_err_set(&err, "other");
    ck_assert_int_eq(tm_err_code(&err), TM_E_FAIL);
    ck_assert_str_eq(tm_errc_name(TM_E_BUSY), "busy");
    ck_assert_str_eq(tm_errc_name(TM_E_INPUT), "input");
    ck_assert_int_eq(tm_err_code(NULL), TM_E_NONE);
}
END_TEST

/* The verdict table is what run, merge, progress and reports read. */
START_TEST(verdict_table)
{
    static const char *const names[] = { "pass", "fail", "xfail", "xpass", "error", "skip" };
    static const int unexpected[] = { 0, 1, 0, 1, 1, 0 };
    for (int v = 0; v < TM_VERDICT_COUNT; v++) {
        ck_assert_str_eq(tm_verdict_name(v), names[v]);
        ck_assert_int_eq(tm_verdict_parse(names[v]), v);
        ck_assert_int_eq(tm_verdict_unexpected(v), unexpected[v]);
    }
    ck_assert_int_eq(tm_verdict_parse("PASS"), -1);
    ck_assert_int_eq(tm_verdict_parse(NULL), -1);
    ck_assert_ptr_null(tm_verdict_name(TM_VERDICT_COUNT));
    /* worst first: fail, xpass, error, xfail, pass, skip, then unknown */
    ck_assert_int_lt(tm_verdict_severity(TM_FAIL), tm_verdict_severity(TM_XPASS));
    ck_assert_int_lt(tm_verdict_severity(TM_XPASS), tm_verdict_severity(TM_ERROR));
    ck_assert_int_lt(tm_verdict_severity(TM_ERROR), tm_verdict_severity(TM_XFAIL));
    ck_assert_int_lt(tm_verdict_severity(TM_XFAIL), tm_verdict_severity(TM_PASS));
    ck_assert_int_lt(tm_verdict_severity(TM_PASS), tm_verdict_severity(TM_SKIP));
    ck_assert_int_lt(tm_verdict_severity(TM_SKIP), tm_verdict_severity(-1));
    ck_assert_ptr_null(tm_verdict_junit(TM_PASS));
    ck_assert_str_eq(tm_verdict_junit(TM_XPASS), "failure");
    ck_assert_str_eq(tm_verdict_junit(TM_XFAIL), "skipped");
    ck_assert_str_eq(tm_verdict_junit(TM_ERROR), "error");
}
END_TEST

/* The proxies' ADDR:PORT flags: IPv6 in brackets (as the harness passes it), and
 * bad values refused. */
START_TEST(net_hostport)
{
    char addr[64];
    int port = -1;
    ck_assert_int_eq(tm_net_hostport("t", "--listen", "[::1]:0", addr, sizeof addr, &port), 0);
    ck_assert_str_eq(addr, "::1");
    ck_assert_int_eq(port, 0);
    ck_assert_int_eq(tm_net_hostport("t", "--server", "127.0.0.1:443", addr, sizeof addr, &port), 0);
    ck_assert_str_eq(addr, "127.0.0.1");
    ck_assert_int_eq(port, 443);
    static const char *const bad[] = { "nohost", ":1", "1.2.3.4:", "1.2.3.4:70000", "1.2.3.4:x" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(tm_net_hostport("t", "--server", bad[i], addr, sizeof addr, &port), -1);
    uint64_t a = 7, b = 7;
    ck_assert(tm_net_splitmix64(&a) == tm_net_splitmix64(&b));
}
END_TEST

/* The proxies' flag table: each kind stored where its row says, the counts, a
 * missing required flag, a bad value, --help and a stray argument. */
struct flag_opts {
    char addr[16];
    int port, n, on;
    uint64_t big;
    double rate;
    char path[8];
};

static int flag_fn(const char *value, void *opts)
{
    ((struct flag_opts *)opts)->n += (int)strlen(value);
    return strcmp(value, "bad") == 0 ? -1 : 0;
}

START_TEST(net_flag_table)
{
    static const struct tm_flag flags[] = {
        { "to", "ADDR:PORT", TM_FLAG_HOSTPORT, offsetof(struct flag_opts, addr),
          offsetof(struct flag_opts, port), 16, 0, NULL, 1 },
        { "n", "N", TM_FLAG_INT, offsetof(struct flag_opts, n), 0, 0, 9, NULL, 0 },
        { "big", "N", TM_FLAG_U64, offsetof(struct flag_opts, big), 0, 0, UINT64_MAX, NULL, 0 },
        { "rate", "R", TM_FLAG_RATE, offsetof(struct flag_opts, rate), 0, 0, 0, NULL, 0 },
        { "path", "P", TM_FLAG_PATH, offsetof(struct flag_opts, path), 0, 8, 0, NULL, 0 },
        { "on", NULL, TM_FLAG_ON, offsetof(struct flag_opts, on), 0, 0, 0, NULL, 0 },
        { "fn", "S", TM_FLAG_FN, 0, 0, 0, 0, flag_fn, 0 },
        { "help", NULL, TM_FLAG_HELP, 0, 0, 0, 0, NULL, 0 },
    };
    struct flag_opts o = { 0 };
    int seen[8];
    char *ok[] = { "t", "--to", "[::1]:7", "--n", "9", "--big", "18446744073709551615",
                   "--rate", "0.5", "--path", "a/b", "--on", "--fn", "xy", "--fn", "z", NULL };
    ck_assert_int_eq(tm_net_parse_flags("t", flags, 8, 16, ok, &o, seen), 0);
    ck_assert_str_eq(o.addr, "::1");
    ck_assert_int_eq(o.port, 7);
    ck_assert(o.big == UINT64_MAX && o.rate == 0.5 && o.on == 1);
    ck_assert_str_eq(o.path, "a/b");
    ck_assert_int_eq(o.n, 9 + 3);   /* --n 9, then the function's two calls add 2 + 1 */
    ck_assert_int_eq(seen[6], 2);
    char *help[] = { "t", "--help", "--n", "x", NULL };
    ck_assert_int_eq(tm_net_parse_flags("t", flags, 8, 4, help, &o, seen), 1);
    static const char *const bad[][3] = {
        { "--n", "10", NULL }, { "--n", "-1", NULL }, { "--rate", "1.5", NULL },
        { "--path", "too/long/x", NULL }, { "--fn", "bad", NULL }, { "--nope", NULL, NULL },
        { "--n", NULL, NULL }, { "stray", NULL, NULL }, { "--big", "18446744073709551616", NULL },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *argv[] = { "t", "--to", "1.2.3.4:5", (char *)bad[i][0], (char *)bad[i][1], NULL };
        int argc = bad[i][1] ? 5 : 4;
        ck_assert_msg(tm_net_parse_flags("t", flags, 8, argc, argv, &o, seen) == 2, "row %zu", i);
    }
    char *missing[] = { "t", "--on", NULL };
    ck_assert_int_eq(tm_net_parse_flags("t", flags, 8, 2, missing, &o, seen), 2);
}
END_TEST

START_TEST(utc_roundtrip)
{
    int64_t e = 0;
    ck_assert_int_eq(tm_parse_utc("2015-01-01T00:00:00Z", &e), 0);
    ck_assert_int_eq(e, 1420070400);
    char buf[32];
    tm_format_utc(e, buf, sizeof buf);
    ck_assert_str_eq(buf, "2015-01-01T00:00:00Z");
    ck_assert_int_eq(tm_parse_utc("2026-11-24", &e), 0);
    ck_assert_int_eq(e, 1795478400);
    ck_assert_int_eq(tm_parse_utc("1420070400", &e), 0);
    ck_assert_int_eq(e, 1420070400);
    ck_assert_int_eq(tm_parse_utc("yesterday", &e), -1);
}
END_TEST

START_TEST(b64_roundtrip)
{
    const char *in[] = { "", "a", "ab", "abc", "abcd" };
    for (unsigned i = 0; i < 5; i++) {
        char *enc = tm_b64_encode(in[i], strlen(in[i]));
        unsigned char *dec = NULL;
        long n = tm_b64_decode(enc, &dec);
        ck_assert_int_eq(n, (long)strlen(in[i]));
        ck_assert(memcmp(dec, in[i], (size_t)n) == 0);
        free(enc);
        free(dec);
    }
    unsigned char *dec = NULL;
    ck_assert_int_eq(tm_b64_decode("abc", &dec), -1);
}
END_TEST

/* Temporary directories go under TMPDIR when it is an absolute path that fits the
 * caller's buffer, else under /tmp; a prefix too long for the buffer is an error. */
START_TEST(mkdtemp_honours_tmpdir)
{
    char base[] = "/tmp/tmtmpdirXXXXXX", dir[96];
    ck_assert_ptr_nonnull(mkdtemp(base));
    struct tm_err err = { 0 };
    const char *old = getenv("TMPDIR");
    char *saved = old != NULL ? strdup(old) : NULL;
    setenv("TMPDIR", base, 1);
    ck_assert_int_eq(tm_mkdtemp(dir, sizeof dir, "t-", &err), 0);
    ck_assert_msg(strncmp(dir, base, strlen(base)) == 0 && dir[strlen(base)] == '/', "%s", dir);
    ck_assert_int_eq(rmdir(dir), 0);
    setenv("TMPDIR", "relative/dir", 1);   /* not absolute: /tmp */
    ck_assert_int_eq(tm_mkdtemp(dir, sizeof dir, "t-", &err), 0);
    ck_assert_msg(strncmp(dir, "/tmp/t-", 7) == 0, "%s", dir);
    ck_assert_int_eq(rmdir(dir), 0);
    char small[24];   /* base does not fit: /tmp */
    setenv("TMPDIR", base, 1);
    ck_assert_int_eq(tm_mkdtemp(small, sizeof small, "t-", &err), 0);
    ck_assert_msg(strncmp(small, "/tmp/t-", 7) == 0, "%s", small);
    ck_assert_int_eq(rmdir(small), 0);
    ck_assert_int_eq(tm_mkdtemp(small, sizeof small, "a-prefix-far-too-long-", &err), -1);
    ck_assert_int_eq(tm_err_code(&err), TM_E_INPUT);
    ck_assert_str_eq(small, "");
    if (saved != NULL)
        setenv("TMPDIR", saved, 1);
    else
        unsetenv("TMPDIR");
    free(saved);
    ck_assert_int_eq(rmdir(base), 0);
}
END_TEST

START_TEST(write_file_mode_and_sha)
{
    char dir[] = "/tmp/tmcommonXXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/a/b/key.pem", dir);
    char sub[256];
    snprintf(sub, sizeof sub, "%s/a/b", dir);
    struct tm_err err;
    ck_assert_int_eq(tm_mkdirs(sub, 0755, &err), 0);
    ck_assert_int_eq(tm_write_file(path, "abc", 3, 0600, &err), 0);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    unsigned char *data;
    size_t len;
    ck_assert_int_eq(tm_read_file(path, &data, &len, &err), 0);
    char hex[65];
    tm_sha256_hex(data, len, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    free(data);
    ck_assert_int_eq(tm_read_file("/nonexistent/x", &data, &len, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/x"));
    /* In place: the mode is exact whatever the umask, and a second write replaces. */
    snprintf(path, sizeof path, "%s/a/new.txt", dir);
    mode_t old = umask(077);
    ck_assert_int_eq(tm_write_new_file(path, "longer text", 11, 0644, &err), 0);
    umask(old);
    ck_assert_int_eq(tm_write_new_file(path, "xy", 2, 0644, &err), 0);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644);
    ck_assert_int_eq(st.st_size, 2);
    ck_assert_int_eq(tm_write_new_file("/nonexistent/y", "x", 1, 0644, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/y"));
    /* rm -rf: the tree goes, a symbolic link out of it is not followed. */
    char outside[256], link[256];
    snprintf(outside, sizeof outside, "%s-outside", dir);
    ck_assert_int_eq(mkdir(outside, 0700), 0);
    snprintf(link, sizeof link, "%s/a/b/link", dir);
    ck_assert_int_eq(symlink(outside, link), 0);
    ck_assert_int_eq(tm_rmtree(dir, &err), 0);
    ck_assert_int_ne(stat(dir, &st), 0);
    ck_assert_int_eq(stat(outside, &st), 0);
    ck_assert_int_eq(tm_rmtree(dir, &err), 0);   /* gone already: fine */
    ck_assert_int_eq(tm_rmtree(outside, &err), 0);
}
END_TEST

START_TEST(yaml_errors_name_line_and_field)
{
    struct tm_yaml y;
    struct tm_err err;
    ck_assert_int_eq(tm_yaml_load_string(&y, "s.yaml", "a: 1\nb: [x\n", &err), -1);
    ck_assert_msg(strncmp(err.msg, "s.yaml:", 7) == 0, "%s", err.msg);
    tm_yaml_free(&y);

    ck_assert_int_eq(tm_yaml_load_string(&y, "s.yaml", "a: 1\nb:\n  c: x\nzz: 2\n", &err), 0);
    yaml_node_t *root = tm_yaml_root(&y);
    static const char *const allowed[] = { "a", "b", NULL };
    ck_assert_int_eq(tm_yaml_check_keys(&y, root, allowed, &err), -1);
    ck_assert_str_eq(err.msg, "s.yaml:4: unknown field 'zz'");
    long long v = 0;
    ck_assert_int_eq(tm_yaml_int(&y, tm_yaml_get(&y, root, "a"), "a", &v, &err), 0);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(tm_yaml_int(&y, tm_yaml_get(&y, root, "b"), "b", &v, &err), -1);
    ck_assert_str_eq(err.msg, "s.yaml:3: field 'b': expected a string");
    ck_assert_ptr_null(tm_yaml_str(&y, tm_yaml_get(&y, root, "nope"), "nope", &err));
    ck_assert_str_eq(err.msg, "s.yaml: missing field 'nope'");
    tm_yaml_free(&y);
}
END_TEST

START_TEST(proc_lines_and_deadline)
{
    char *argv[] = { "sh", "-c", "printf 'one\\r\\ntwo\\n'; sleep 30", NULL };
    struct tm_proc p;
    struct tm_err err;
    ck_assert_int_eq(tm_proc_spawn(&p, argv, NULL, &err), 0);
    struct tm_lines lr;
    tm_lines_init(&lr, p.out_fd, 0);
    char *line = NULL;
    ck_assert_int_eq(tm_lines_read(&lr, tm_deadline_in(5000), &line, &err), 1);
    ck_assert_str_eq(line, "one");
    free(line);
    ck_assert_int_eq(tm_lines_read(&lr, tm_deadline_in(5000), &line, &err), 1);
    ck_assert_str_eq(line, "two");
    free(line);
    tm_ms t0 = tm_now_ms();
    ck_assert_int_eq(tm_lines_read(&lr, tm_deadline_in(200), &line, &err), 0);
    ck_assert_int_ge(tm_now_ms() - t0, 190);
    tm_proc_stop(&p, 500);
    ck_assert_int_eq(tm_proc_exit_code(&p), 128 + SIGTERM);
    tm_lines_free(&lr);
}
END_TEST

START_TEST(lines_reject_overlong)
{
    char *argv[] = { "sh", "-c", "head -c 5000 /dev/zero | tr '\\0' x", NULL };
    struct tm_proc p;
    struct tm_err err;
    ck_assert_int_eq(tm_proc_spawn(&p, argv, NULL, &err), 0);
    struct tm_lines lr;
    tm_lines_init(&lr, p.out_fd, 1024);
    char *line = NULL;
    ck_assert_int_eq(tm_lines_read(&lr, tm_deadline_in(5000), &line, &err), -2);
    ck_assert_ptr_nonnull(strstr(err.msg, "longer than 1024"));
    tm_proc_stop(&p, 500);
    tm_lines_free(&lr);
}
END_TEST

/* Fault specs: every place and kind, the old spelling, and refusals whose code and
 * message name the bad part (vcam --fault, the fault op and scenarios share it). */
START_TEST(fault_specs_parse)
{
    static const struct {
        const char *spec;
        int kind, place, stage;
        long long n, arg;
        const char *formatted;
    } good[] = {
        { "reboot@request=3", TM_FAULT_REBOOT, TM_AT_REQUEST, 0, 3, 0, "request=3" },
        { "stall:500@stage=read#2", TM_FAULT_STALL, TM_AT_STAGE, TM_STAGE_READ, 2, 500,
          "stage=read#2" },
        { "drop@stage=client-hello", TM_FAULT_DROP, TM_AT_STAGE, TM_STAGE_CLIENT_HELLO, 1, 0,
          "stage=client-hello#1" },
        { "baud:9600@byte=100", TM_FAULT_BAUD, TM_AT_BYTE, 0, 100, 9600, "byte=100" },
        { "leak:2048@stage=handshake", TM_FAULT_LEAK, TM_AT_STAGE, TM_STAGE_HANDSHAKE, 1, 2048,
          "stage=handshake#1" },
        { "stall@boot=2", TM_FAULT_STALL, TM_AT_BOOT, 0, 2, 0, "boot=2" },
        { "garbage", TM_FAULT_GARBAGE, TM_AT_NONE, 0, 0, 0, "" },
        { "reboot@ms=0", TM_FAULT_REBOOT, TM_AT_MS, 0, 0, 0, "ms=0" },
        { "stall-after-ms=300", TM_FAULT_STALL, TM_AT_MS, 0, 300, 0, "ms=300" },
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct tm_fault f;
        struct tm_err err = { 0 };
        ck_assert_msg(tm_fault_parse(good[i].spec, &f, &err) == TM_FAULT_OK, "%s: %s",
                      good[i].spec, err.msg);
        ck_assert_int_eq(f.kind, good[i].kind);
        ck_assert_int_eq(f.place, good[i].place);
        ck_assert_int_eq(f.n, good[i].n);
        ck_assert_int_eq(f.arg, good[i].arg);
        if (f.place == TM_AT_STAGE)
            ck_assert_int_eq(f.stage, good[i].stage);
        char text[64];
        tm_fault_place_format(&f, text, sizeof text);
        ck_assert_str_eq(text, good[i].formatted);
    }
    static const struct {
        const char *spec;
        int code;
        const char *says;
    } bad[] = {
        { "boom@request=1", TM_FAULT_E_KIND, "boom@request=1: boom: unknown kind" },
        { "reboot", TM_FAULT_E_PLACE, "reboot: reboot: needs a place" },
        { "reboot@when=1", TM_FAULT_E_PLACE, "when: unknown place" },
        { "reboot@request=0", TM_FAULT_E_COUNT, "request=0: expected a whole number >= 1" },
        { "reboot@request=", TM_FAULT_E_COUNT, "request=: expected" },
        { "reboot@byte=-5", TM_FAULT_E_COUNT, "byte=-5: expected" },
        { "reboot@boot", TM_FAULT_E_COUNT, "boot: expected boot=N" },
        { "reboot@stage=hanshake", TM_FAULT_E_STAGE, "stage=hanshake: unknown stage (listening|" },
        { "reboot@stage=read#x", TM_FAULT_E_COUNT, "stage=read#x: expected NAME#N" },
        { "reboot:5@request=1", TM_FAULT_E_ARG, "reboot:5: reboot takes no argument" },
        { "stall:soon@request=1", TM_FAULT_E_ARG, "stall:soon: expected a whole number" },
        { "baud@request=1", TM_FAULT_E_ARG, "baud: needs a rate" },
        { "leak@request=1", TM_FAULT_E_ARG, "leak: needs a size" },
        { "leak:lots@request=1", TM_FAULT_E_ARG, "leak:lots: expected a whole number (bytes)" },
        { "reboot-after-ms=x", TM_FAULT_E_COUNT, "reboot-after-ms=x: ms=x: expected" },
        { "reboot@request=99999999999999999999", TM_FAULT_E_COUNT, "expected a whole number" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct tm_fault f;
        struct tm_err err = { 0 };
        ck_assert_msg(tm_fault_parse(bad[i].spec, &f, &err) == bad[i].code, "%s: %s",
                      bad[i].spec, err.msg);
        ck_assert_msg(strstr(err.msg, bad[i].says) != NULL, "%s: %s", bad[i].spec, err.msg);
        ck_assert_int_eq(tm_err_code(&err), TM_E_INPUT);
    }
    enum tm_fault_kind k;
    ck_assert_int_eq(tm_fault_kind_lookup("stall", &k), TM_FAULT_OK);
    ck_assert_int_eq(k, TM_FAULT_STALL);
    ck_assert_int_eq(tm_fault_kind_lookup("stall:5", &k), TM_FAULT_E_KIND);
}
END_TEST

/* Agent proto 2 (tm_proto2.h): a lean reply filled back is the full one, but for
 * what a success leaves out; keys go short and back; a template diff merged over
 * the template is the request. */
START_TEST(proto2_lean_then_fill)
{
    const char *fail = "{\"id\":7,\"op\":\"tls_client\",\"outcome\":\"error\",\"stage\":\"handshake\","
        "\"exc\":{\"type\":\"OSError\",\"args\":[-30592,\"MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE\"],"
        "\"text\":\"(-30592, 'MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE')\"},\"first_exc\":null,"
        "\"attempts\":1,\"verify_mode\":2,\"cipher\":null,\"ms\":{\"load\":0,\"handshake\":7,"
        "\"total\":7},\"heap_before\":100,\"heap_after\":100,\"heap_reached\":null,"
        "\"bytes_sent\":0,\"bytes_received\":0,\"received_b64\":\"\",\"open\":0}";
    json_t *full = json_loads(fail, 0, NULL), *r = json_deep_copy(full);
    ck_assert_ptr_nonnull(full);
    tm_p2_lean(r, NULL);
    json_t *wire = tm_p2_short(r);
    char *text = json_dumps(wire, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_str_eq(text, "{\"hb\":100,\"i\":7,\"m\":{\"H\":7,\"T\":7},\"o\":\"tc\",\"r\":\"error\","
                     "\"s\":\"handshake\",\"vm\":2,\"x\":{\"a\":[-30592,"
                     "\"MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE\"],\"t\":\"OSError\"}}");
    free(text);
    json_t *back = tm_p2_long(wire);
    tm_p2_fill(back);
    /* all but the zero stage time and the null cipher */
    json_object_del(json_object_get(full, "ms"), "load");
    json_object_del(full, "cipher");
    json_object_del(full, "received_b64");
    ck_assert_msg(json_equal(back, full), "%s", json_dumps(back, JSON_SORT_KEYS));
    json_decref(back);
    json_decref(wire);
    json_decref(r);
    json_decref(full);

    /* a success: no cipher, verify_mode or data unless asked; a text that is not
     * str(args) stays */
    r = json_pack("{s:s, s:[s, s], s:i, s:s, s:{s:s, s:[s], s:s}, s:{s:i}}", "outcome", "ok",
                  "cipher", "C", "V", "verify_mode", 2, "received_b64", "aGk=", "first_exc",
                  "type", "ValueError", "args", "a", "text", "b", "ms", "total", 1);
    json_t *asked = json_pack("{s:b}", "want_data", 1);
    tm_p2_lean(r, asked);
    ck_assert_ptr_null(json_object_get(r, "cipher"));
    ck_assert_ptr_null(json_object_get(r, "verify_mode"));
    ck_assert_str_eq(json_string_value(json_object_get(r, "received_b64")), "aGk=");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "first_exc"), "text")), "b");
    json_decref(r);

    /* template: diff over it, merged back */
    json_t *tpl = json_pack("{s:s, s:s, s:i}", "layer", "tls", "host", "h", "verify_mode", 2);
    json_t *req = json_pack("{s:s, s:i, s:i}", "layer", "tls", "port", 443, "verify_mode", 0);
    json_t *d = tm_p2_diff(req, tpl), *m = tm_p2_merge(d, tpl);
    text = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_str_eq(text, "{\"host\":null,\"port\":443,\"verify_mode\":0}");
    free(text);
    ck_assert(json_equal(m, req));
    json_decref(m);
    json_decref(d);
    json_decref(req);
    json_decref(tpl);
    json_decref(asked);
}
END_TEST


int main(void)
{
    Suite *s = suite_create("common");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, utc_roundtrip);
    tcase_add_test(tc, net_hostport);
    tcase_add_test(tc, net_flag_table);
    tcase_add_test(tc, err_codes_survive_prefix);
    tcase_add_test(tc, verdict_table);
    tcase_add_test(tc, b64_roundtrip);
    tcase_add_test(tc, write_file_mode_and_sha);
    tcase_add_test(tc, mkdtemp_honours_tmpdir);
    tcase_add_test(tc, yaml_errors_name_line_and_field);
    tcase_add_test(tc, proc_lines_and_deadline);
    tcase_add_test(tc, lines_reject_overlong);
    tcase_add_test(tc, fault_specs_parse);
    tcase_add_test(tc, proto2_lean_then_fill);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
