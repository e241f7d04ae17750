/* tlspeer's command line and behaviours beyond the plain handshake: usage errors
 * (exit 2, one stderr line naming the flag or file), --help, timeouts, DTLS cookie
 * exchange on/off, misbehaviours, ALPN, key logging. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tm_fs.h"
#include "tp_util.h"

static const char *const backends[] = {"openssl", "gnutls"};

/* Run tlspeer to its exit; returns the exit code, *err holds stderr, *out stdout. */
static int run_exit(const char *const args[], char **out, char **err)
{
    struct tp_proc p;
    unsigned char *text = NULL;
    size_t len = 0;
    tp_peer_spawn(&p, args, 0);
    *out = tp_tool_output(&p, TP_WAIT_MS);
    ck_assert_msg(tm_proc_wait(&p.proc, tm_deadline_in(TP_WAIT_MS)) == 0, "tlspeer did not exit");
    int code = tm_proc_exit_code(&p.proc);
    tm_read_file(p.err_path, &text, &len, NULL);
    *err = text ? (char *)text : strdup("");
    tp_proc_end(&p);
    return code;
}

/* Exit 2, nothing on stdout, exactly one stderr line containing each needle. */
static void expect_usage_error(const char *const args[], const char *needle1,
                               const char *needle2)
{
    char *out = NULL, *err = NULL;
    int code = run_exit(args, &out, &err);
    ck_assert_msg(code == 2, "exit %d, want 2 (stderr: %s)", code, err);
    ck_assert_msg(out[0] == '\0', "stdout not empty: %s", out);
    ck_assert_msg(strchr(err, '\n') == strrchr(err, '\n') && strlen(err) > 0,
                  "want one stderr line: %s", err);
    ck_assert_msg(strstr(err, needle1) != NULL, "stderr lacks '%s': %s", needle1, err);
    if (needle2)
        ck_assert_msg(strstr(err, needle2) != NULL, "stderr lacks '%s': %s", needle2, err);
    free(out);
    free(err);
}

#define SERVER(b) "--backend", b, "--role", "server", "--proto", "tls"

START_TEST(test_bad_flags)
{
    const char *b = backends[_i];
    const char *cert = tp_pki("p256-server.pem"), *key = tp_pki("p256-server.key.pem");
    const char *a1[] = {SERVER(b), "--bogus", NULL};
    expect_usage_error(a1, "--bogus", NULL);
    const char *a2[] = {"--role", "server", "--proto", "tls", NULL};
    expect_usage_error(a2, "--backend", NULL);
    const char *a3[] = {SERVER(b), "--cert", cert, "--key", key, "--verify", "maybe", NULL};
    expect_usage_error(a3, "--verify", "maybe");
    const char *a4[] = {SERVER(b), "--misbehave", "alert:no_such_alert", NULL};
    expect_usage_error(a4, "--misbehave", "no_such_alert");
    const char *a5[] = {SERVER(b), "--cert", cert, "--key", key, "--ciphers", "TLS_BOGUS", NULL};
    expect_usage_error(a5, "--ciphers", "TLS_BOGUS");
    const char *a6[] = {SERVER(b), "--cert", cert, "--key", key, "--groups", "P-999", NULL};
    expect_usage_error(a6, "--groups", NULL);
    const char *a7[] = {SERVER(b), "--cert", cert, "--key", key, "--timeout", "soon", NULL};
    expect_usage_error(a7, "--timeout", "soon");
    const char *a8[] = {SERVER(b), "--cert", cert, NULL};
    expect_usage_error(a8, "--key", NULL);
    const char *a9[] = {"--backend", b, "--role", "client", "--proto", "tls", NULL};
    expect_usage_error(a9, "--connect", NULL);
    const char *a10[] = {SERVER(b), "--cert", cert, "--key", key, "--accept", NULL};
    expect_usage_error(a10, "--accept", NULL);
}
END_TEST

START_TEST(test_bad_files)
{
    const char *b = backends[_i];
    const char *cert = tp_pki("p256-server.pem"), *key = tp_pki("p256-server.key.pem");
    const char *a1[] = {SERVER(b), "--cert", "/nonexistent/x.pem", "--key", key, NULL};
    expect_usage_error(a1, "--cert", "/nonexistent/x.pem");
    const char *a2[] = {SERVER(b), "--cert", cert, "--key", cert, NULL};   /* not a key */
    expect_usage_error(a2, "--key", cert);
    const char *a3[] = {SERVER(b), "--cert", key, "--key", key, NULL};     /* not a cert */
    expect_usage_error(a3, "--cert", key);
    const char *a4[] = {SERVER(b), "--cert", cert, "--key", tp_pki("p256-client.key.pem"), NULL};
    expect_usage_error(a4, "--key", "p256-client.key.pem");                /* mismatch */
    const char *a5[] = {SERVER(b), "--cert", cert, "--key", key, "--CAfile", "/nonexistent/ca", NULL};
    expect_usage_error(a5, "--CAfile", "/nonexistent/ca");
    const char *a6[] = {SERVER(b), "--cert", cert, "--key", key, "--send-file", "/nonexistent/d", NULL};
    expect_usage_error(a6, "--send-file", "/nonexistent/d");
    const char *a7[] = {SERVER(b), "--cert", cert, "--key", key, "--keylog", "/nonexistent/k", NULL};
    expect_usage_error(a7, "--keylog", "/nonexistent/k");
}
END_TEST

START_TEST(test_record_size_limit_openssl)
{
    const char *a[] = {SERVER("openssl"), "--cert", tp_pki("p256-server.pem"),
                       "--key", tp_pki("p256-server.key.pem"), "--record-size-limit", "1024", NULL};
    expect_usage_error(a, "--record-size-limit", "openssl");
}
END_TEST

/* Debian's OpenSSL (security level 2) refuses to present a SHA-1-signed leaf;
 * --seclevel 0 lets it, as scenarios with weak leaves need. GnuTLS never checks
 * its own chain. */
START_TEST(test_seclevel_weak_leaf)
{
    const char *cert = tp_pki("p256-server-sha1.pem"), *key = tp_pki("p256-server-sha1.key.pem");
    const char *strict[] = {SERVER("openssl"), "--cert", cert, "--key", key, NULL};
    expect_usage_error(strict, "--cert", "md too weak");
    const char *cli[] = {"--backend", "openssl", "--role", "client", "--proto", "tls",
        "--connect", "127.0.0.1:PORT", "--servername", "test.local", "--CAfile",
        tp_pki("p256-root.der"), "--seclevel", "0", "--timeout", "8000", NULL};
    for (int i = 0; i < 2; i++) {
        const char *srv[] = {"--backend", backends[i], "--role", "server", "--proto", "tls",
            "--cert", cert, "--cert", tp_pki("p256-int.pem"), "--key", key,
            "--seclevel", "0", "--timeout", "8000", NULL};
        json_t *s, *c;
        tp_pair(srv, cli, &s, &c);
        tp_expect_str(s, "handshake", "ok");
        tp_expect_cert(c, "p256-server-sha1", 1);
        json_decref(s);
        json_decref(c);
    }
}
END_TEST

START_TEST(test_help)
{
    static const char *const flags[] = {"--backend", "--role", "--proto", "--accept", "--bind",
        "--connect", "--cert", "--key", "--CAfile", "--verify", "--servername",
        "--noservername", "--expect-servername", "--sni-mismatch", "--min-version",
        "--max-version", "--tls1_3", "--tls1_2", "--ciphers", "--ciphersuites", "--groups",
        "--sigalgs", "--alpn", "--no-tickets", "--no-renegotiation", "--max-fragment",
        "--record-size-limit", "--cookie", "--mtu", "--dtls-timeout", "--send", "--send-file",
        "--send-size", "--expect", "--expect-size", "--echo", "--close", "--misbehave",
        "close-after-hello", "garbage", "stall:MS", "alert:NAME", "big-record", "--nodelay",
        "--timeout", "--keylog", "--seclevel", "--max-send-frag", NULL};
    const char *a[] = {"--help", NULL};
    char *out = NULL, *err = NULL;
    ck_assert_int_eq(run_exit(a, &out, &err), 0);
    for (int i = 0; flags[i]; i++)
        ck_assert_msg(strstr(out, flags[i]) != NULL, "--help lacks %s", flags[i]);
    free(out);
    free(err);
}
END_TEST

/* Nobody comes: the server reports not-started at its deadline and exits 0. */
START_TEST(test_server_timeout)
{
    struct tp_proc s;
    const char *srv[] = {"--backend", backends[_i % 2], "--role", "server", "--proto",
        _i / 2 ? "dtls" : "tls", "--cert", tp_pki("p256-server.pem"),
        "--key", tp_pki("p256-server.key.pem"), "--timeout", "300", NULL};
    tm_ms start = tm_now_ms();
    tp_peer_start(&s, srv, 0);
    json_t *r = tp_peer_result(&s, TP_WAIT_MS);
    ck_assert_int_ge(tm_now_ms() - start, 300);
    tp_expect_str(r, "handshake", "not-started");
    ck_assert_msg(strstr(json_string_value(json_object_get(json_object_get(r, "error"), "text")),
                         "deadline") != NULL, "error text names the deadline");
    json_decref(r);
}
END_TEST

/* A client that cannot connect reports not-started with the socket error. */
START_TEST(test_client_refused)
{
    struct tp_proc c;
    const char *cli[] = {"--backend", backends[_i], "--role", "client", "--proto", "tls",
        "--connect", "127.0.0.1:PORT", "--timeout", TP_HANG_MS, NULL};
    tp_peer_start(&c, cli, tp_free_port(SOCK_STREAM));
    json_t *r = tp_peer_result(&c, TP_WAIT_MS);
    tp_expect_str(r, "handshake", "not-started");
    ck_assert_msg(strstr(json_string_value(json_object_get(json_object_get(r, "error"), "text")),
                         "refused") != NULL, "error text says refused");
    json_decref(r);
}
END_TEST

/* Cookie exchange off: no HelloVerifyRequest on either side (on: see the matrix). */
START_TEST(test_cookie_off)
{
    const char *srv[] = {"--backend", backends[_i / 2], "--role", "server", "--proto", "dtls",
        "--cert", tp_pki("p256-server.pem"), "--key", tp_pki("p256-server.key.pem"),
        "--cookie", _i % 2 ? "on" : "off", "--timeout", TP_HANG_MS, NULL};
    const char *cli[] = {"--backend", backends[_i / 2], "--role", "client", "--proto", "dtls",
        "--connect", "127.0.0.1:PORT", "--timeout", TP_HANG_MS, NULL};
    json_t *s, *c;
    tp_pair(srv, cli, &s, &c);
    tp_expect_str(s, "handshake", "ok");
    tp_expect_int(s, "hello_verify_requests", _i % 2);
    tp_expect_int(c, "hello_verify_requests", _i % 2);
    json_decref(s);
    json_decref(c);
}
END_TEST

START_TEST(test_alpn_keylog)
{
    char klog[600];
    snprintf(klog, sizeof klog, "%s/keys.log", tp_dir());
    const char *b = backends[_i % 2];
    const char *ver = _i / 2 ? "--tls1_2" : "--tls1_3";
    const char *srv[] = {"--backend", b, "--role", "server", "--proto", "tls",
        "--cert", tp_pki("p256-server.pem"), "--key", tp_pki("p256-server.key.pem"),
        "--alpn", "h2,http/1.1", "--keylog", klog, ver, "--timeout", TP_HANG_MS, NULL};
    const char *cli[] = {"--backend", backends[1 - _i % 2], "--role", "client", "--proto", "tls",
        "--connect", "127.0.0.1:PORT", "--alpn", "http/1.1", "--timeout", TP_HANG_MS, NULL};
    json_t *s, *c;
    tp_pair(srv, cli, &s, &c);
    tp_expect_str(s, "alpn", "http/1.1");
    tp_expect_str(c, "alpn", "http/1.1");
    unsigned char *text = NULL;
    size_t len = 0;
    ck_assert_int_eq(tm_read_file(klog, &text, &len, NULL), 0);
    const char *label = _i / 2 ? "CLIENT_RANDOM " : "CLIENT_HANDSHAKE_TRAFFIC_SECRET ";
    char *at = strstr((char *)text, label);
    ck_assert_msg(at != NULL, "keylog lacks %s: %s", label, text);
    /* LABEL <64 hex client random> <hex secret> */
    ck_assert_msg(strspn(at + strlen(label), "0123456789abcdef") == 64, "bad random: %s", at);
    free(text);
    json_decref(s);
    json_decref(c);
}
END_TEST

/* --close abrupt: the reader sees EOF without close_notify and says so; with
 * notify (the default) the same read ends cleanly. */
START_TEST(test_close)
{
    int abrupt = _i / 2;
    const char *srv[] = {"--backend", backends[_i % 2], "--role", "server", "--proto", "tls",
        "--cert", tp_pki("p256-server.pem"), "--key", tp_pki("p256-server.key.pem"),
        "--send", "hello", "--close", abrupt ? "abrupt" : "notify", "--timeout", TP_HANG_MS, NULL};
    const char *cli[] = {"--backend", backends[1 - _i % 2], "--role", "client", "--proto", "tls",
        "--connect", "localhost:PORT", "--expect-size", "100", "--timeout", TP_HANG_MS, NULL};
    json_t *s, *c;
    tp_pair(srv, cli, &s, &c);
    tp_expect_int(c, "bytes_received", 5);
    tp_expect_bool(c, "data_ok", 0);
    tp_expect_str(c, "closed_by", "peer");
    tp_expect_str(s, "closed_by", "self");
    tp_expect_str(s, "sni", "localhost");   /* the --connect host is the default SNI */
    if (abrupt)
        ck_assert_msg(json_is_object(json_object_get(c, "error")), "abrupt EOF not reported");
    else
        tp_expect_str(c, "error", NULL);
    json_decref(s);
    json_decref(c);
}
END_TEST

enum mb { CLOSE_AFTER_HELLO, GARBAGE, ALERT, STALL, BIG_RECORD, MBS };

START_TEST(test_misbehave)
{
    static const char *const kinds[] = {"close-after-hello", "garbage",
                                        "alert:insufficient_security", "stall:400", "big-record"};
    enum mb k = (enum mb)(_i / 2);
    const char *srv[] = {"--backend", backends[_i % 2], "--role", "server", "--proto", "tls",
        "--cert", tp_pki("p256-server.pem"), "--key", tp_pki("p256-server.key.pem"),
        "--misbehave", kinds[k], "--timeout", TP_HANG_MS, NULL};
    const char *cli[] = {"--backend", "openssl", "--role", "client", "--proto", "tls",
        "--connect", "127.0.0.1:PORT", "--expect-size", "16384", "--timeout", TP_HANG_MS, NULL};
    json_t *s, *c;
    tp_pair(srv, cli, &s, &c);
    switch (k) {
    case CLOSE_AFTER_HELLO:
        tp_expect_str(s, "handshake", "not-started");
        tp_expect_str(c, "handshake", "failed");
        tp_expect_str(c, "closed_by", "peer");
        break;
    case GARBAGE:
        tp_expect_str(s, "handshake", "not-started");
        tp_expect_str(c, "handshake", "failed");
        tp_expect_str(c, "alert_received", NULL);
        ck_assert_msg(strstr(json_string_value(json_object_get(json_object_get(c, "error"),
                      "text")), "wrong version number") != NULL, "client sees garbage");
        break;
    case ALERT:
        tp_expect_str(s, "alert_sent", "insufficient_security");
        tp_expect_str(c, "alert_received", "insufficient_security");
        tp_expect_str(c, "handshake", "failed");
        break;
    case STALL:
        tp_expect_str(s, "handshake", "ok");
        /* 400 ms stall; the two ends' millisecond clocks may round it to 399 */
        ck_assert_int_ge(json_integer_value(json_object_get(c, "elapsed_ms")), 390);
        break;
    default:
        tp_expect_int(s, "bytes_sent", 16384);
        tp_expect_int(c, "bytes_received", 16384);
        tp_expect_bool(c, "data_ok", 1);
        break;
    }
    json_decref(s);
    json_decref(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tlspeer_cli");
    TCase *tc = tcase_create("cli");
    tcase_add_unchecked_fixture(tc, tp_pki_setup, tp_pki_teardown);
    tcase_add_checked_fixture(tc, tp_dir_setup, tp_dir_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_bad_flags, 0, 2);
    tcase_add_loop_test(tc, test_bad_files, 0, 2);
    tcase_add_test(tc, test_record_size_limit_openssl);
    tcase_add_test(tc, test_seclevel_weak_leaf);
    tcase_add_test(tc, test_help);
    tcase_add_loop_test(tc, test_server_timeout, 0, 4);
    tcase_add_loop_test(tc, test_client_refused, 0, 2);
    tcase_add_loop_test(tc, test_cookie_off, 0, 4);
    tcase_add_loop_test(tc, test_alpn_keylog, 0, 4);
    tcase_add_loop_test(tc, test_misbehave, 0, 2 * MBS);
    tcase_add_loop_test(tc, test_close, 0, 4);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
