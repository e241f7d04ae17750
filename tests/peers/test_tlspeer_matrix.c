/* The backend matrix: {openssl, gnutls} server × {openssl, gnutls} client ×
 * {TLS 1.3, TLS 1.2, DTLS 1.2}, mutual authentication and 3000 bytes echoed,
 * every result field that the handshake determines checked on both sides. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tp_util.h"

static const char *const backends[] = {"openssl", "gnutls"};

struct leg {
    const char *proto, *version, *cipher, *flag, *flag_value, *max_version;
};

static const struct leg legs[] = {
    {"tls", "TLSv1.3", "TLS_AES_128_GCM_SHA256", "--ciphersuites", "TLS_AES_128_GCM_SHA256",
     "tls1.3"},
    {"tls", "TLSv1.2", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "--ciphers",
     "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "tls1.2"},
    {"dtls", "DTLSv1.2", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "--ciphers",
     "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "dtls1.2"},
};

static void check_common(json_t *r, const struct leg *l, const char *role)
{
    tp_expect_str(r, "role", role);
    tp_expect_str(r, "proto", l->proto);
    tp_expect_str(r, "handshake", "ok");
    tp_expect_str(r, "version", l->version);
    tp_expect_str(r, "cipher", l->cipher);
    tp_expect_str(r, "group", "secp256r1");
    tp_expect_str(r, "alert_sent", NULL);
    tp_expect_str(r, "alert_received", NULL);
    tp_expect_str(r, "error", NULL);
    tp_expect_str(r, "alpn", NULL);
    tp_expect_int(r, "bytes_sent", 3000);
    tp_expect_int(r, "bytes_received", 3000);
    if (strcmp(l->proto, "dtls") == 0)
        tp_expect_int(r, "hello_verify_requests", 1);   /* cookie exchange is on by default */
    else
        tp_expect_str(r, "hello_verify_requests", NULL);
    ck_assert(json_is_integer(json_object_get(r, "elapsed_ms")));
}

START_TEST(test_matrix)
{
    const char *sb = backends[_i / 6], *cb = backends[(_i / 3) % 2];
    const struct leg *l = &legs[_i % 3];
    const char *srv[] = {"--backend", sb, "--role", "server", "--proto", l->proto,
        "--cert", tp_pki("p256-server.pem"), "--cert", tp_pki("p256-int.der"),
        "--key", tp_pki("p256-server.key.der"), "--CAfile", tp_pki("p256-clientca.pem"),
        "--verify", "require", "--echo", "--timeout", TP_HANG_MS, NULL};
    const char *cli[] = {"--backend", cb, "--role", "client", "--proto", l->proto,
        "--connect", "127.0.0.1:PORT", "--servername", "test.local",
        "--CAfile", tp_pki("p256-root.der"), "--cert", tp_pki("p256-client.fullchain.pem"),
        "--key", tp_pki("p256-client.key.pem"), "--groups", "P-256", l->flag, l->flag_value,
        "--send-size", "3000", "--expect-size", "3000", "--max-version", l->max_version,
        "--timeout", TP_HANG_MS, NULL};
    json_t *s, *c;
    tp_pair(srv, cli, &s, &c);
    check_common(s, l, "server");
    check_common(c, l, "client");
    tp_expect_str(s, "backend", sb);
    tp_expect_str(c, "backend", cb);
    tp_expect_str(s, "sni", "test.local");
    tp_expect_str(c, "sni", NULL);
    tp_expect_cert(s, "p256-client", 1);
    tp_expect_cert(c, "p256-server", 1);
    tp_expect_bool(c, "data_ok", 1);
    tp_expect_bool(s, "data_ok", -1);
    tp_expect_str(c, "closed_by", "self");
    tp_expect_str(s, "closed_by", "peer");
    json_decref(s);
    json_decref(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tlspeer_matrix");
    TCase *tc = tcase_create("matrix");
    tcase_add_unchecked_fixture(tc, tp_pki_setup, tp_pki_teardown);
    tcase_add_checked_fixture(tc, tp_dir_setup, tp_dir_teardown);
    tcase_set_timeout(tc, 90);   /* a hang guard above TP_WAIT_MS */
    tcase_add_loop_test(tc, test_matrix, 0, 12);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
