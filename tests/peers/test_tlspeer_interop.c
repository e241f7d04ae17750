/* tlspeer against the independent command-line tools: each tlspeer server with
 * `openssl s_client` and `gnutls-cli`, each tlspeer client with `openssl s_server`
 * and `gnutls-serv`, TLS and DTLS. Tools are stopped by pid after bounded waits,
 * and run under timeout(1) so a failed assertion cannot leave one behind. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tp_util.h"

static const char *const backends[] = {"openssl", "gnutls"};

enum tool { S_CLIENT, GNUTLS_CLI };

/* The client tool as a shell pipeline that feeds it "ping". gnutls-cli quits at
 * the end of its input, so the input stays open until gnutls-cli is done (the
 * server closes): a file marks that, polled at most 8 s, not a guessed delay. */
static void tool_command(char *cmd, size_t cap, enum tool tool, int dtls, int port)
{
    const char *ca = tp_pki("p256-root.pem");
    if (tool == S_CLIENT)
        snprintf(cmd, cap, "printf ping | timeout 8 openssl s_client %s -quiet -CAfile %s "
                 "-verify_return_error -servername test.local -connect 127.0.0.1:%d",
                 dtls ? "-dtls1_2" : "", ca, port);
    else
        snprintf(cmd, cap, "done=%s/gnutls-cli-done-%d; "
                 "(printf ping; i=0; while [ ! -e $done ] && [ $i -lt 160 ]; do sleep 0.05; "
                 "i=$((i+1)); done) | { timeout 8 gnutls-cli %s --x509cafile %s -p %d 127.0.0.1; "
                 "touch $done; }", tp_dir(), port, dtls ? "--udp" : "", ca, port);
}

/* A tlspeer server: sends "hello", expects "ping". */
static void server_vs(const char *backend, const char *proto, enum tool tool,
                      const char *want_version)
{
    struct tp_proc s, t;
    char cmd[2048];
    const char *srv[] = {"--backend", backend, "--role", "server", "--proto", proto,
        "--cert", tp_pki("p256-server.fullchain.pem"), "--key", tp_pki("p256-server.key.pem"),
        "--send", "hello", "--expect", "ping", "--timeout", TP_HANG_MS, NULL};
    tp_peer_start(&s, srv, 0);
    tool_command(cmd, sizeof cmd, tool, strcmp(proto, "dtls") == 0, s.port);
    const char *argv[] = {"sh", "-c", cmd, NULL};
    tp_tool_start(&t, argv);
    json_t *r = tp_peer_result(&s, TP_WAIT_MS);
    char *out = tp_tool_output(&t, 5000);
    tp_proc_end(&t);
    tp_expect_str(r, "handshake", "ok");
    tp_expect_str(r, "version", want_version);
    tp_expect_int(r, "bytes_sent", 5);
    tp_expect_int(r, "bytes_received", 4);
    tp_expect_bool(r, "data_ok", 1);
    tp_expect_str(r, "alert_received", NULL);
    free(out);
    json_decref(r);
}

START_TEST(test_server_vs_s_client)
{
    const char *proto = _i / 2 ? "dtls" : "tls";
    server_vs(backends[_i % 2], proto, S_CLIENT, _i / 2 ? "DTLSv1.2" : "TLSv1.3");
}
END_TEST

START_TEST(test_server_vs_gnutls_cli)
{
    const char *proto = _i / 2 ? "dtls" : "tls";
    server_vs(backends[_i % 2], proto, GNUTLS_CLI, _i / 2 ? "DTLSv1.2" : "TLSv1.3");
}
END_TEST

static json_t *client_run(const char *backend, const char *proto, int port, const char *send,
                          const char *expect)
{
    struct tp_proc c;
    const char *cli[] = {"--backend", backend, "--role", "client", "--proto", proto,
        "--connect", "127.0.0.1:PORT", "--servername", "test.local",
        "--CAfile", tp_pki("p256-root.der"), "--send", send, "--timeout", TP_HANG_MS,
        expect ? "--expect" : NULL, expect, NULL};
    tp_peer_start(&c, cli, port);
    return tp_peer_result(&c, TP_WAIT_MS);
}

static void check_client(json_t *r, const char *version, long long sent, long long got)
{
    tp_expect_str(r, "handshake", "ok");
    tp_expect_str(r, "version", version);
    tp_expect_cert(r, "p256-server", 1);
    tp_expect_int(r, "bytes_sent", sent);
    tp_expect_int(r, "bytes_received", got);
    tp_expect_bool(r, "data_ok", got ? 1 : -1);
}

/* TLS: s_server -rev answers each line reversed ("hello\n" → "olleh\n"). DTLS has
 * no -rev: s_server prints what it gets, and needs an open stdin to keep going. */
START_TEST(test_client_vs_s_server)
{
    int dtls = _i / 2;
    struct tp_proc t;
    char *line = NULL, cmd[2048];
    snprintf(cmd, sizeof cmd, "sleep 8 | exec timeout 20 openssl s_server %s -accept 0 -naccept 1 "
             "-cert %s -cert_chain %s -key %s", dtls ? "-dtls1_2" : "-tls1_3 -rev",
             tp_pki("p256-server.pem"), tp_pki("p256-int.pem"), tp_pki("p256-server.key.pem"));
    const char *argv[] = {"sh", "-c", cmd, NULL};
    tp_tool_start(&t, argv);
    ck_assert_msg(tp_tool_wait_line(&t, "ACCEPT", 5000, &line), "s_server did not start");
    int port = atoi(strrchr(line, ':') + 1);
    free(line);
    json_t *r = client_run(backends[_i % 2], dtls ? "dtls" : "tls", port, "hello\n",
                           dtls ? NULL : "olleh\n");
    if (dtls)
        ck_assert_msg(tp_tool_wait_line(&t, "hello", 3000, NULL), "s_server did not get hello");
    tp_proc_end(&t);
    check_client(r, dtls ? "DTLSv1.2" : "TLSv1.3", 6, dtls ? 0 : 6);
    json_decref(r);
}
END_TEST

/* gnutls-serv reports that it listens on stderr (the shell joins it to stdout);
 * its TCP echo answers whole lines. */
START_TEST(test_client_vs_gnutls_serv)
{
    int dtls = _i / 2;
    struct tp_proc t;
    char cmd[2048];
    int port = tp_free_port(dtls ? SOCK_DGRAM : SOCK_STREAM);
    snprintf(cmd, sizeof cmd, "exec timeout 20 gnutls-serv --echo %s --port %d --x509certfile %s "
             "--x509keyfile %s 2>&1", dtls ? "--udp" : "", port,
             tp_pki("p256-server.fullchain.pem"), tp_pki("p256-server.key.pem"));
    const char *argv[] = {"sh", "-c", cmd, NULL};
    tp_tool_start(&t, argv);
    ck_assert_msg(tp_tool_wait_line(&t, "IPv4", 5000, NULL), "gnutls-serv did not start");
    json_t *r = client_run(backends[_i % 2], dtls ? "dtls" : "tls", port, "hello\n", "hello\n");
    tp_proc_end(&t);
    check_client(r, dtls ? "DTLSv1.2" : "TLSv1.3", 6, 6);
    json_decref(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tlspeer_interop");
    TCase *tc = tcase_create("interop");
    tcase_add_unchecked_fixture(tc, tp_pki_setup, tp_pki_teardown);
    tcase_add_checked_fixture(tc, tp_dir_setup, tp_dir_teardown);
    tcase_set_timeout(tc, 90);   /* a hang guard above TP_WAIT_MS */
    tcase_add_loop_test(tc, test_server_vs_s_client, 0, 4);
    tcase_add_loop_test(tc, test_server_vs_gnutls_cli, 0, 4);
    tcase_add_loop_test(tc, test_client_vs_s_server, 0, 4);
    tcase_add_loop_test(tc, test_client_vs_gnutls_serv, 0, 4);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
