/* tlspeer --serve: many sessions in one process, each like a one-shot run (a real
 * handshake per session, every backend/proto mix), bad command lines, per-session
 * stderr files, and no state carried over (under ASan the leak checker runs at the
 * exit that each test requires to be 0): parsed files are kept, but a file that
 * changed or went away between sessions is read again. Also the GnuTLS --ciphers
 * restriction. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tp_util.h"

#define SESSIONS 200

static const char *const backends[] = {"openssl", "gnutls"};
static const char *const protos[] = {"tls", "dtls"};

/* A server session line for round i (backend and proto vary with i). */
static void server_line(FILE *f, int i)
{
    json_t *a = json_pack("[s, s, s, s, s, s, s, s, s, s, s, s, s, s, s]", TLSPEER,
                          "--backend", backends[i % 2], "--role", "server", "--proto",
                          protos[(i / 2) % 2], "--cert", tp_pki("p256-server.fullchain.pem"),
                          "--key", tp_pki("p256-server.key.pem"), "--send", "hello",
                          "--timeout", "8000");
    char *s = json_dumps(a, JSON_COMPACT);
    fprintf(f, "%s\n", s);
    free(s);
    json_decref(a);
}

/* The matching client session (the other backend), sent once the server is ready. */
static void client_line(FILE *f, int i, int port)
{
    char hp[64];
    snprintf(hp, sizeof hp, "127.0.0.1:%d", port);
    json_t *a = json_pack("[s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s]", TLSPEER,
                          "--backend", backends[(i + 1) % 2], "--role", "client", "--proto",
                          protos[(i / 2) % 2], "--connect", hp, "--servername", "test.local",
                          "--CAfile", tp_pki("p256-root.der"), "--expect", "hello",
                          "--timeout", "8000");
    char *s = json_dumps(a, JSON_COMPACT);
    fprintf(f, "%s\n", s);
    fflush(f);
    free(s);
    json_decref(a);
}

static json_t *next_event(struct tp_proc *p, const char *event)
{
    char needle[64], *line = NULL;
    snprintf(needle, sizeof needle, "\"event\":\"%s\"", event);
    ck_assert_msg(tp_tool_wait_line(p, needle, TP_WAIT_MS, &line), "no %s line", event);
    json_t *j = json_loads(line, 0, NULL);
    ck_assert_msg(j != NULL, "not JSON: %s", line);
    free(line);
    return j;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s", path);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Two serve processes, SESSIONS handshakes between them: the server's sessions
 * come from a file, the client's from a pipe, one line per server ready line. */
START_TEST(test_serve_many_sessions)
{
    char cmds[600], out[600], err[600], cmd[2048];
    snprintf(cmds, sizeof cmds, "%s/server-cmds", tp_dir());
    snprintf(out, sizeof out, "%s/client-out", tp_dir());
    snprintf(err, sizeof err, "%s/client-err", tp_dir());
    FILE *f = fopen(cmds, "w");
    for (int i = 0; i < SESSIONS; i++)
        server_line(f, i);
    fclose(f);
    snprintf(cmd, sizeof cmd, "exec timeout 300 %s --serve < '%s'", TLSPEER, cmds);
    const char *argv[] = {"sh", "-c", cmd, NULL};
    struct tp_proc s;
    tp_tool_start(&s, argv);
    snprintf(cmd, sizeof cmd, "exec timeout 300 %s --serve - > '%s' 2> '%s'", TLSPEER, out, err);
    FILE *cli = popen(cmd, "w");
    ck_assert_ptr_nonnull(cli);
    for (int i = 0; i < SESSIONS; i++) {
        json_t *ready = next_event(&s, "ready");
        client_line(cli, i, (int)json_integer_value(json_object_get(ready, "port")));
        json_t *res = next_event(&s, "result");
        ck_assert_msg(strcmp(tp_str(res, "handshake"), "ok") == 0, "session %d: %s", i,
                      json_dumps(res, 0));
        tp_expect_str(res, "backend", backends[i % 2]);
        tp_expect_str(res, "proto", protos[(i / 2) % 2]);
        tp_expect_int(res, "bytes_sent", 5);
        json_t *done = next_event(&s, "done");
        tp_expect_int(done, "exit", 0);
        json_decref(ready);
        json_decref(res);
        json_decref(done);
    }
    ck_assert_int_eq(pclose(cli), 0);   /* EOF: exit 0, and no leak report under ASan */
    ck_assert_msg(tm_proc_wait(&s.proc, tm_deadline_in(TP_WAIT_MS)) == 0, "server did not exit");
    ck_assert_int_eq(tm_proc_exit_code(&s.proc), 0);
    tp_proc_end(&s);
    const char *text = slurp(out);
    ck_assert_int_eq(count(text, "\"handshake\":\"ok\""), SESSIONS);
    ck_assert_int_eq(count(text, "\"data_ok\":true"), SESSIONS);
    ck_assert_int_eq(count(text, "{\"event\":\"done\",\"exit\":0}"), SESSIONS);
}
END_TEST

/* Bad lines end their session with exit 2 and the next one still runs; a session's
 * stderr goes to its own file, and only its own lines do. */
START_TEST(test_serve_bad_lines_and_stderr)
{
    char cmds[600], e1[600], e2[600], cmd[2048];
    snprintf(cmds, sizeof cmds, "%s/cmds", tp_dir());
    snprintf(e1, sizeof e1, "%s/one.stderr", tp_dir());
    snprintf(e2, sizeof e2, "%s/two.stderr", tp_dir());
    FILE *f = fopen(cmds, "w");
    for (int i = 0; i < (3 << 20) / 64; i++)   /* 3 MB on one line: over the 1 MB cap */
        fputs("[\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\",", f);
    fputs("\n", f);
    fprintf(f, "not json\n[1, 2]\n");
    fprintf(f, "{\"argv\":[\"tlspeer\",\"--backend\",\"gnutls\",\"--bogus\"],\"stderr\":\"%s\"}\n", e1);
    fprintf(f, "{\"argv\":[\"tlspeer\",\"--backend\",\"openssl\",\"--role\",\"client\","
               "\"--proto\",\"tls\",\"--connect\",\"127.0.0.1:%d\",\"--timeout\",\"2000\"],"
               "\"stderr\":\"%s\"}\n", tp_free_port(SOCK_STREAM), e2);
    fclose(f);
    snprintf(cmd, sizeof cmd, "exec timeout 60 %s --serve < '%s'", TLSPEER, cmds);
    const char *argv[] = {"sh", "-c", cmd, NULL};
    struct tp_proc s;
    tp_tool_start(&s, argv);
    json_t *toolong = next_event(&s, "done");
    tp_expect_int(toolong, "exit", 2);
    ck_assert_msg(strstr(json_string_value(json_object_get(toolong, "error")) ?: "", "too long"),
                  "%s", json_dumps(toolong, 0));
    json_decref(toolong);
    for (int i = 0; i < 3; i++) {
        json_t *done = next_event(&s, "done");
        tp_expect_int(done, "exit", 2);
        json_decref(done);
    }
    json_t *res = next_event(&s, "result");   /* connection refused: still a result */
    tp_expect_str(res, "handshake", "not-started");
    json_t *done = next_event(&s, "done");
    tp_expect_int(done, "exit", 0);
    json_decref(res);
    json_decref(done);
    ck_assert_msg(tm_proc_wait(&s.proc, tm_deadline_in(TP_WAIT_MS)) == 0, "serve did not exit");
    ck_assert_int_eq(tm_proc_exit_code(&s.proc), 0);
    tp_proc_end(&s);
    ck_assert_msg(strstr(slurp(e1), "unknown flag '--bogus'") != NULL, "%s", slurp(e1));
    ck_assert_msg(strstr(slurp(e2), "--bogus") == NULL, "%s", slurp(e2));
}
END_TEST

/* Copy src over dst: in place (same inode, new times and size) or through a
 * rename (a new inode, as certbot and editors replace files). */
static void copy_over(const char *src, const char *dst, int in_place)
{
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.new", dst);
    FILE *in = fopen(src, "rb"), *out = fopen(in_place ? dst : tmp, "wb");
    ck_assert_msg(in != NULL && out != NULL, "copy %s -> %s", src, dst);
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        ck_assert_int_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    ck_assert_int_eq(fclose(out), 0);
    if (!in_place)
        ck_assert_int_eq(rename(tmp, dst), 0);
}

/* One server session of the serve process on identity files cert/key; a one-shot
 * client trusting both roots reports which certificate it was shown. */
static json_t *serve_identity(struct tp_proc *s, FILE *ctl, const char *cert, const char *key)
{
    json_t *a = json_pack("[s, s, s, s, s, s, s, s, s, s, s, s, s]", TLSPEER, "--backend",
                          "openssl", "--role", "server", "--proto", "tls", "--cert", cert,
                          "--key", key, "--timeout", "8000");
    char *line = json_dumps(a, JSON_COMPACT);
    fprintf(ctl, "%s\n", line);
    fflush(ctl);
    free(line);
    json_decref(a);
    char *text = NULL;
    ck_assert_msg(tp_tool_wait_line(s, "\"event\":\"", TP_WAIT_MS, &text), "no event line");
    json_t *ev = json_loads(text, 0, NULL);
    free(text);
    if (strcmp(tp_str(ev, "event"), "ready") != 0)
        return ev;   /* a setup error: the done line */
    char hp[64];
    snprintf(hp, sizeof hp, "127.0.0.1:%d", (int)json_integer_value(json_object_get(ev, "port")));
    json_decref(ev);
    const char *cli[] = {"--backend", "openssl", "--role", "client", "--proto", "tls",
        "--connect", hp, "--servername", "test.local", "--CAfile", tp_pki("p256-root.der"),
        "--CAfile", tp_pki("p256-rogue-root.der"), "--timeout", "8000", NULL};
    struct tp_proc c;
    tp_peer_spawn(&c, cli, 0);
    json_t *res = tp_peer_result(&c, TP_WAIT_MS);
    tp_proc_end(&c);
    json_decref(next_event(s, "result"));
    json_t *done = next_event(s, "done");
    tp_expect_int(done, "exit", 0);
    json_decref(done);
    return res;
}

START_TEST(test_serve_rereads_changed_files)
{
    char cert[600], key[600], fifo[600], cmd[2048];
    snprintf(cert, sizeof cert, "%s/id.pem", tp_dir());
    snprintf(key, sizeof key, "%s/id.key", tp_dir());
    snprintf(fifo, sizeof fifo, "%s/ctl", tp_dir());
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    snprintf(cmd, sizeof cmd, "exec timeout 60 %s --serve < '%s'", TLSPEER, fifo);
    const char *argv[] = {"sh", "-c", cmd, NULL};
    struct tp_proc s;
    tp_tool_start(&s, argv);
    FILE *ctl = fopen(fifo, "w");
    ck_assert_ptr_nonnull(ctl);
    struct { const char *cert, *key, *name; int in_place; } step[] = {
        {"p256-server.fullchain.pem", "p256-server.key.pem", "p256-server", 0},
        {NULL, NULL, "p256-server", 0},   /* unchanged: from the cache */
        {"p256-server-untrusted.fullchain.pem", "p256-server-untrusted.key.der",
         "p256-server-untrusted", 0},
        {"p256-server.fullchain.pem", "p256-server.key.der", "p256-server", 1},
    };
    for (size_t i = 0; i < sizeof step / sizeof step[0]; i++) {
        if (step[i].cert != NULL) {
            copy_over(tp_pki(step[i].cert), cert, step[i].in_place);
            copy_over(tp_pki(step[i].key), key, step[i].in_place);
        }
        json_t *res = serve_identity(&s, ctl, cert, key);
        tp_expect_str(res, "handshake", "ok");
        tp_expect_cert(res, step[i].name, 1);
        json_decref(res);
    }
    ck_assert_int_eq(unlink(key), 0);   /* gone: an error, not the cached parse */
    json_t *done = serve_identity(&s, ctl, cert, key);
    tp_expect_int(done, "exit", 2);
    json_decref(done);
    fclose(ctl);
    ck_assert_msg(tm_proc_wait(&s.proc, tm_deadline_in(TP_WAIT_MS)) == 0, "serve did not exit");
    ck_assert_int_eq(tm_proc_exit_code(&s.proc), 0);
    char want[700];
    snprintf(want, sizeof want, "--key: %s: No such file", key);
    ck_assert_msg(strstr(slurp(s.err_path), want) != NULL, "%s", slurp(s.err_path));
    tp_proc_end(&s);
}
END_TEST

/* GnuTLS --ciphers names the TLS 1.2 suites exactly, even when TLS 1.3 stays
 * allowed (it used to add AES-256-GCM to TLS 1.2 through the TLS 1.3 ciphers). */
START_TEST(test_gnutls_ciphers_restrict_tls12_server)
{
    const char *want = "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256";
    const char *srv[] = {"--backend", "gnutls", "--role", "server", "--proto", "tls",
        "--cert", tp_pki("p256-server.fullchain.pem"), "--key", tp_pki("p256-server.key.pem"),
        "--ciphers", want, "--timeout", "8000", NULL};
    const char *cli[] = {"--backend", "openssl", "--role", "client", "--proto", "tls",
        "--connect", "127.0.0.1:PORT", "--servername", "test.local",
        "--CAfile", tp_pki("p256-root.der"), "--max-version", "tls1.2", "--timeout", "8000",
        NULL};
    json_t *s, *c;
    tp_pair(srv, cli, &s, &c);
    tp_expect_str(s, "handshake", "ok");
    tp_expect_str(s, "version", "TLSv1.2");
    tp_expect_str(s, "cipher", want);
    tp_expect_str(c, "cipher", want);
    json_decref(s);
    json_decref(c);
}
END_TEST

/* The client: its ClientHello offers TLS 1.3 as well, so it must refuse an
 * unlisted TLS 1.2 suite the server picks instead of using it. */
START_TEST(test_gnutls_ciphers_restrict_tls12_client)
{
    const char *srv[] = {"--backend", "openssl", "--role", "server", "--proto", "tls",
        "--cert", tp_pki("p256-server.fullchain.pem"), "--key", tp_pki("p256-server.key.pem"),
        "--max-version", "tls1.2", "--ciphers", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "--timeout", "8000", NULL};
    const char *cli[] = {"--backend", "gnutls", "--role", "client", "--proto", "tls",
        "--connect", "127.0.0.1:PORT", "--servername", "test.local",
        "--CAfile", tp_pki("p256-root.der"), "--ciphers",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "--timeout", "8000", NULL};
    json_t *s, *c;
    tp_pair(srv, cli, &s, &c);
    ck_assert_msg(strcmp(tp_str(c, "handshake"), "ok") != 0, "negotiated %s",
                  tp_str(c, "cipher"));
    json_decref(s);
    json_decref(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tlspeer_serve");
    TCase *tc = tcase_create("serve");
    tcase_add_unchecked_fixture(tc, tp_pki_setup, tp_pki_teardown);
    tcase_add_checked_fixture(tc, tp_dir_setup, tp_dir_teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_serve_many_sessions);
    tcase_add_test(tc, test_serve_bad_lines_and_stderr);
    tcase_add_test(tc, test_serve_rereads_changed_files);
    tcase_add_test(tc, test_gnutls_ciphers_restrict_tls12_server);
    tcase_add_test(tc, test_gnutls_ciphers_restrict_tls12_client);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
