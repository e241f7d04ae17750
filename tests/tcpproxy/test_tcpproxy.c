/* tcpproxy between two real tlspeer processes (OpenSSL, TLS 1.2) on loopback: one
 * test per action, each checking what the client saw and what the proxy logged. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tm_fs.h"
#include "tp_util.h"

#define TCPPROXY TM_BIN_DIR "/tcpproxy"

struct outcome {
    json_t *server, *client;
    char *log;
    long long client_ms;     /* the client's elapsed time */
};

static void proxy_start(struct tp_proc *x, int server_port, const char *at, const char *act,
                        const char *log)
{
    char server[64];
    snprintf(server, sizeof server, "127.0.0.1:%d", server_port);
    const char *argv[] = { TCPPROXY, "--server", server, "--log", log, "--timeout", "20000",
                           "--seed", "3", "--at", at, "--do", act, NULL };
    if (at == NULL)
        argv[7] = NULL;   /* no rule: a plain relay */
    tp_tool_start(x, argv);
    char *line = NULL;
    ck_assert(tp_tool_wait_line(x, "\"ready\"", 5000, &line));
    json_t *j = json_loads(line, 0, NULL);
    ck_assert_ptr_nonnull(j);
    x->port = (int)json_integer_value(json_object_get(j, "port"));
    ck_assert_int_gt(x->port, 0);
    json_decref(j);
    free(line);
}

/* Server (--send hello) and client (--expect hello) through the proxy. */
static struct outcome run(const char *at, const char *act, const char *client_timeout)
{
    const char *srv[] = { "--backend", "openssl", "--role", "server", "--proto", "tls",
        "--cert", tp_pki("p256-server.fullchain.pem"), "--key", tp_pki("p256-server.key.pem"),
        "--max-version", "tls1.2", "--send", "hello", "--timeout", "8000", NULL };
    const char *cli[] = { "--backend", "openssl", "--role", "client", "--proto", "tls",
        "--connect", "127.0.0.1:PORT", "--CAfile", tp_pki("p256-root.pem"), "--servername",
        "test.local", "--expect", "hello", "--timeout", client_timeout, NULL };
    char log[600];
    snprintf(log, sizeof log, "%s/proxy.log", tp_dir());
    struct tp_proc s, x, c;
    tp_peer_start(&s, srv, 0);
    proxy_start(&x, s.port, at, act, log);
    tp_peer_start(&c, cli, x.port);
    struct outcome o;
    o.client = tp_peer_result(&c, 15000);
    o.server = tp_peer_result(&s, 15000);
    tp_proc_end(&x);
    unsigned char *text = NULL;
    size_t len = 0;
    ck_assert_int_eq(tm_read_file(log, &text, &len, NULL), 0);
    o.log = (char *)text;
    o.client_ms = json_integer_value(json_object_get(o.client, "elapsed_ms"));
    return o;
}

static void done(struct outcome *o)
{
    json_decref(o->server);
    json_decref(o->client);
    free(o->log);
}

static void expect_log(const struct outcome *o, const char *needle)
{
    ck_assert_msg(strstr(o->log, needle) != NULL, "proxy log lacks '%s':\n%s", needle, o->log);
}

/* Without a rule the proxy is invisible: handshake and data go through. */
START_TEST(plain_relay)
{
    struct outcome o = run(NULL, NULL, "8000");
    tp_expect_str(o.client, "handshake", "ok");
    tp_expect_bool(o.client, "data_ok", 1);
    expect_log(&o, "s2c handshake/server_hello 74\n");   /* OpenSSL: one record each */
    expect_log(&o, "s2c handshake/certificate ");
    expect_log(&o, "s2c handshake/finished");
    expect_log(&o, "s2c application_data");
    done(&o);
}
END_TEST

START_TEST(fin_after_server_hello)
{
    struct outcome o = run("after:server:server_hello", "fin", "8000");
    tp_expect_str(o.client, "handshake", "failed");
    tp_expect_str(o.client, "alert_received", NULL);
    expect_log(&o, "s2c * fin @");
    expect_log(&o, "- * close (fin)");
    done(&o);
}
END_TEST

START_TEST(rst_mid_certificate)
{
    struct outcome o = run("mid:server:certificate", "rst", "8000");
    tp_expect_str(o.client, "handshake", "failed");
    const char *text = json_string_value(json_object_get(json_object_get(o.client, "error"), "text"));
    ck_assert_msg(text != NULL && strstr(text, "reset") != NULL, "client error: %s", text);
    expect_log(&o, "- * reset (rst)");
    done(&o);
}
END_TEST

/* A timed stall delays and passes; a stall for ever meets the client's deadline. */
START_TEST(stall_for_a_time_and_forever)
{
    struct outcome o = run("after:server:server_hello_done", "stall:700", "8000");
    tp_expect_str(o.client, "handshake", "ok");
    ck_assert_msg(o.client_ms >= 700, "client done after %lld ms", o.client_ms);
    done(&o);
    o = run("after:server:server_hello", "stall", "1500");
    tp_expect_str(o.client, "handshake", "timeout");
    expect_log(&o, "s2c * stall @");
    done(&o);
}
END_TEST

/* The certificate dripped 64 bytes every 10 ms arrives whole, and slowly. */
START_TEST(drip_certificate)
{
    struct outcome o = run("before:server:certificate", "drip:64:10", "8000");
    tp_expect_str(o.client, "handshake", "ok");
    tp_expect_bool(o.client, "data_ok", 1);
    /* Certificate + key exchange + done are well over 640 bytes: > 10 drips. */
    ck_assert_msg(o.client_ms >= 100, "client done after %lld ms", o.client_ms);
    done(&o);
}
END_TEST

START_TEST(one_byte_segments)
{
    struct outcome o = run("before:server:server_hello", "segment:1", "8000");
    tp_expect_str(o.client, "handshake", "ok");
    tp_expect_bool(o.client, "data_ok", 1);
    expect_log(&o, "s2c * segment:1 @0 before:server:server_hello");
    done(&o);
}
END_TEST

/* A flipped byte in the encrypted Finished fails its MAC check. */
START_TEST(corrupt_finished)
{
    struct outcome o = run("before:server:finished", "corrupt", "8000");
    tp_expect_str(o.client, "handshake", "failed");
    tp_expect_str(o.client, "alert_sent", "bad_record_mac");
    expect_log(&o, "s2c * corrupt @");
    done(&o);
}
END_TEST

/* Dropping the record with the Certificate leaves ServerHelloDone unexpected. */
START_TEST(drop_certificate_record)
{
    struct outcome o = run("before:server:certificate", "drop", "8000");
    tp_expect_str(o.client, "handshake", "failed");
    tp_expect_str(o.client, "alert_sent", "unexpected_message");
    done(&o);
}
END_TEST

/* A duplicated Finished record breaks the record sequence (its MAC no longer fits). */
START_TEST(dup_finished)
{
    struct outcome o = run("before:server:finished", "dup", "8000");
    tp_expect_str(o.client, "alert_sent", "bad_record_mac");
    done(&o);
}
END_TEST

/* An inserted plaintext fatal alert (handshake_failure) before the ServerHello. */
START_TEST(insert_alert)
{
    struct outcome o = run("before:server:server_hello", "insert:15030300020228", "8000");
    tp_expect_str(o.client, "handshake", "failed");
    tp_expect_str(o.client, "alert_received", "handshake_failure");
    done(&o);
}
END_TEST

/* Places by bytes and after the first application-data record. */
START_TEST(bytes_and_appdata_places)
{
    struct outcome o = run("bytes:client:10", "fin", "8000");
    tp_expect_str(o.client, "handshake", "failed");
    expect_log(&o, "c2s * fin @10 bytes:client:10");
    done(&o);
    /* FIN, not RST: a reset may discard data the client has not read yet. */
    o = run("appdata:server", "fin", "8000");
    tp_expect_str(o.client, "handshake", "ok");
    tp_expect_bool(o.client, "data_ok", 1);   /* the record went through before the FIN */
    expect_log(&o, "s2c * fin @");
    done(&o);
}
END_TEST

/* The time place: at once after the accept (a FIN before any server byte), and a
 * stall from the start that delays the whole handshake by its length. */
START_TEST(time_place)
{
    struct outcome o = run("time:server:0", "fin", "8000");
    tp_expect_str(o.client, "handshake", "failed");
    expect_log(&o, "s2c * fin @0 time:server:0");
    done(&o);
    o = run("time:client:0", "stall:700", "8000");
    tp_expect_str(o.client, "handshake", "ok");
    tp_expect_bool(o.client, "data_ok", 1);
    ck_assert_msg(o.client_ms >= 700, "client done after %lld ms", o.client_ms);
    expect_log(&o, "c2s * stall:700 @");
    done(&o);
}
END_TEST

START_TEST(bad_flags_exit_2)
{
    static const char *const cases[][3] = {
        { "--at", "after:server:nonsense", "unknown handshake message" },
        { "--do", "explode", "unknown action 'explode'" },
        { "--do", "fin", "--at and --do go together" },
        { "--server", "nohost", "--server" },
        { "--timeout", "-5", "--timeout" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cmd[1024], path[600];
        snprintf(cmd, sizeof cmd, "%s --server 127.0.0.1:1 %s %s 2>%s/err; echo $? >%s/rc",
                 TCPPROXY, cases[i][0], cases[i][1], tp_dir(), tp_dir());
        ck_assert_int_eq(system(cmd), 0);
        unsigned char *text = NULL;
        size_t len;
        snprintf(path, sizeof path, "%s/rc", tp_dir());
        ck_assert_int_eq(tm_read_file(path, &text, &len, NULL), 0);
        ck_assert_str_eq((char *)text, "2\n");
        free(text);
        snprintf(path, sizeof path, "%s/err", tp_dir());
        ck_assert_int_eq(tm_read_file(path, &text, &len, NULL), 0);
        ck_assert_msg(strstr((char *)text, cases[i][2]) != NULL, "%s", text);
        free(text);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcpproxy");
    TCase *tc = tcase_create("actions");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, tp_pki_setup, tp_pki_teardown);
    tcase_add_checked_fixture(tc, tp_dir_setup, tp_dir_teardown);
    tcase_add_test(tc, plain_relay);
    tcase_add_test(tc, fin_after_server_hello);
    tcase_add_test(tc, rst_mid_certificate);
    tcase_add_test(tc, stall_for_a_time_and_forever);
    tcase_add_test(tc, drip_certificate);
    tcase_add_test(tc, one_byte_segments);
    tcase_add_test(tc, corrupt_finished);
    tcase_add_test(tc, drop_certificate_record);
    tcase_add_test(tc, dup_finished);
    tcase_add_test(tc, insert_alert);
    tcase_add_test(tc, bytes_and_appdata_places);
    tcase_add_test(tc, time_place);
    tcase_add_test(tc, bad_flags_exit_2);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
