/* Negative handshakes: each side reports the alert it sent and the one it got, by
 * IANA name. Every row states exactly what each backend does, including where the
 * two differ (GnuTLS maps errors to alerts through gnutls_error_to_alert, as
 * gnutls-serv/gnutls-cli do). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tp_util.h"

enum kase { UNTRUSTED12, UNTRUSTED13, NOCERT12, NOCERT13, V13_V12, V12_V13, SNI_REJECT,
            UNTRUSTED_DTLS, CLIENT_UNTRUSTED, KASES };

struct row {
    enum kase k;
    const char *sb, *cb;
    const char *s_hs, *s_sent, *s_recv;   /* server: handshake, alert sent, received */
    const char *c_hs, *c_sent, *c_recv;   /* client */
};

#define O "openssl"
#define G "gnutls"
#define F "failed"
static const struct row rows[] = {
    /* Untrusted server chain: OpenSSL says unknown_ca, GnuTLS bad_certificate. */
    {UNTRUSTED12, O, O, F, NULL, "unknown_ca", F, "unknown_ca", NULL},
    {UNTRUSTED12, G, O, F, NULL, "unknown_ca", F, "unknown_ca", NULL},
    {UNTRUSTED12, O, G, F, NULL, "bad_certificate", F, "bad_certificate", NULL},
    {UNTRUSTED12, G, G, F, NULL, "bad_certificate", F, "bad_certificate", NULL},
    /* TLS 1.3: GnuTLS 3.7 cannot decrypt OpenSSL's handshake-key alert and answers
     * bad_record_mac (the same with gnutls-serv and openssl s_client). */
    {UNTRUSTED13, O, O, F, NULL, "unknown_ca", F, "unknown_ca", NULL},
    {UNTRUSTED13, G, O, F, "bad_record_mac", NULL, F, "unknown_ca", NULL},
    {UNTRUSTED13, O, G, F, NULL, "bad_certificate", F, "bad_certificate", NULL},
    {UNTRUSTED13, G, G, F, NULL, "bad_certificate", F, "bad_certificate", NULL},
    /* No client certificate, --verify require, TLS 1.2. */
    {NOCERT12, O, O, F, "handshake_failure", NULL, F, NULL, "handshake_failure"},
    {NOCERT12, O, G, F, "handshake_failure", NULL, F, NULL, "handshake_failure"},
    {NOCERT12, G, O, F, "decode_error", NULL, F, NULL, "decode_error"},
    {NOCERT12, G, G, F, "decode_error", NULL, F, NULL, "decode_error"},
    /* TLS 1.3: the client finishes first and gets certificate_required afterwards. */
    {NOCERT13, O, O, F, "certificate_required", NULL, "ok", NULL, "certificate_required"},
    {NOCERT13, O, G, F, "certificate_required", NULL, "ok", NULL, "certificate_required"},
    {NOCERT13, G, O, F, "certificate_required", NULL, "ok", NULL, "certificate_required"},
    {NOCERT13, G, G, F, "certificate_required", NULL, "ok", NULL, "certificate_required"},
    /* Version mismatch: OpenSSL protocol_version; GnuTLS settles on the other
     * version first and then finds no common suite: handshake_failure. */
    {V13_V12, O, O, F, "protocol_version", NULL, F, NULL, "protocol_version"},
    {V13_V12, G, G, F, "handshake_failure", NULL, F, NULL, "handshake_failure"},
    {V12_V13, O, G, F, "protocol_version", NULL, F, NULL, "protocol_version"},
    {V12_V13, G, O, F, "handshake_failure", NULL, F, NULL, "handshake_failure"},
    /* --expect-servername with reject. */
    {SNI_REJECT, O, G, F, "unrecognized_name", NULL, F, NULL, "unrecognized_name"},
    {SNI_REJECT, G, O, F, "unrecognized_name", NULL, F, NULL, "unrecognized_name"},
    /* --verify require and a client certificate from a CA the server does not trust.
     * (A GnuTLS client withholds a certificate whose issuer is not among the server's
     * CertificateRequest CA names, which a GnuTLS server fills from its --CAfile.) */
    {CLIENT_UNTRUSTED, O, O, F, "unknown_ca", NULL, F, NULL, "unknown_ca"},
    {CLIENT_UNTRUSTED, G, O, F, "bad_certificate", NULL, F, NULL, "bad_certificate"},
    {CLIENT_UNTRUSTED, G, G, F, "decode_error", NULL, F, NULL, "decode_error"},
    /* DTLS untrusted chain. */
    {UNTRUSTED_DTLS, O, O, F, NULL, "unknown_ca", F, "unknown_ca", NULL},
    {UNTRUSTED_DTLS, G, G, F, NULL, "bad_certificate", F, "bad_certificate", NULL},
};
#define NROWS ((int)(sizeof rows / sizeof rows[0]))

/* Arguments per case: server extra, client extra (NULL-terminated, 15 max each). */
static void case_args(enum kase k, const char *s[16], const char *c[16])
{
    int untrusted = k == UNTRUSTED12 || k == UNTRUSTED13 || k == UNTRUSTED_DTLS;
    int n = 0, m = 0;
    s[n++] = "--cert";
    s[n++] = tp_pki(untrusted ? "p256-server-untrusted.fullchain.pem" : "p256-server.fullchain.pem");
    s[n++] = "--key";
    s[n++] = tp_pki(untrusted ? "p256-server-untrusted.key.pem" : "p256-server.key.pem");
    c[m++] = "--CAfile";
    c[m++] = tp_pki("p256-root.pem");
    switch (k) {
    case UNTRUSTED12: c[m++] = "--tls1_2"; break;
    case UNTRUSTED13: c[m++] = "--tls1_3"; break;
    case NOCERT12:
    case NOCERT13:
        s[n++] = "--CAfile";
        s[n++] = tp_pki("p256-clientca.pem");
        s[n++] = "--verify";
        s[n++] = "require";
        c[m++] = k == NOCERT12 ? "--tls1_2" : "--tls1_3";
        c[m++] = "--expect-size";   /* TLS 1.3: read so the alert arrives */
        c[m++] = "1";
        break;
    case V13_V12: s[n++] = "--tls1_3"; c[m++] = "--tls1_2"; break;
    case V12_V13: s[n++] = "--tls1_2"; c[m++] = "--tls1_3"; break;
    case SNI_REJECT: s[n++] = "--expect-servername"; s[n++] = "other.example"; break;
    case CLIENT_UNTRUSTED:
        s[n++] = "--CAfile";
        s[n++] = tp_pki("p256-root.pem");   /* not the client CA */
        s[n++] = "--verify";
        s[n++] = "require";
        c[m++] = "--tls1_2";
        c[m++] = "--cert";
        c[m++] = tp_pki("p256-client.pem");
        c[m++] = "--key";
        c[m++] = tp_pki("p256-client.key.pem");
        break;
    default: break;
    }
    s[n] = NULL;
    c[m] = NULL;
}

static void append(const char **argv, int *n, const char *const *more)
{
    while (*more)
        argv[(*n)++] = *more++;
    argv[*n] = NULL;
}

START_TEST(test_alerts)
{
    const struct row *r = &rows[_i];
    const char *proto = r->k == UNTRUSTED_DTLS ? "dtls" : "tls";
    const char *sx[16], *cx[16];
    const char *srv[32] = {"--backend", r->sb, "--role", "server", "--proto", proto,
                           "--timeout", TP_HANG_MS};
    const char *cli[32] = {"--backend", r->cb, "--role", "client", "--proto", proto,
                           "--connect", "127.0.0.1:PORT", "--servername", "test.local",
                           "--timeout", TP_HANG_MS};
    int ns = 8, nc = 12;
    case_args(r->k, sx, cx);
    append(srv, &ns, sx);
    append(cli, &nc, cx);
    json_t *s, *c;
    tp_pair(srv, cli, &s, &c);
    tp_expect_str(s, "handshake", r->s_hs);
    tp_expect_str(s, "alert_sent", r->s_sent);
    tp_expect_str(s, "alert_received", r->s_recv);
    tp_expect_str(c, "handshake", r->c_hs);
    tp_expect_str(c, "alert_sent", r->c_sent);
    tp_expect_str(c, "alert_received", r->c_recv);
    /* Whoever failed says why, in the backend's own words. */
    json_t *failed = strcmp(r->s_hs, "failed") == 0 ? s : c;
    json_t *err = json_object_get(failed, "error");
    ck_assert_msg(json_is_object(err) && strlen(tp_str(err, "text")) > 0 &&
                  json_is_integer(json_object_get(err, "code")), "error object missing");
    if (r->k == SNI_REJECT)
        tp_expect_str(s, "sni", "test.local");
    if (r->k == UNTRUSTED12 || r->k == UNTRUSTED13 || r->k == UNTRUSTED_DTLS) {
        tp_expect_cert(c, "p256-server-untrusted", 0);   /* seen, not verified */
        tp_expect_str(c, "version", NULL);
    }
    json_decref(s);
    json_decref(c);
}
END_TEST

/* --verify optional: any client certificate is accepted; the verdict is reported. */
START_TEST(test_verify_optional)
{
    const char *srv[] = {"--backend", _i ? "gnutls" : "openssl", "--role", "server",
        "--proto", "tls", "--cert", tp_pki("p256-server.pem"), "--key",
        tp_pki("p256-server.key.pem"), "--CAfile", tp_pki("p256-root.pem"),
        "--verify", "optional", "--timeout", TP_HANG_MS, NULL};
    const char *cli[] = {"--backend", _i ? "openssl" : "gnutls", "--role", "client",
        "--proto", "tls", "--connect", "127.0.0.1:PORT", "--cert", tp_pki("p256-client.pem"),
        "--key", tp_pki("p256-client.key.pem"), "--timeout", TP_HANG_MS, NULL};
    json_t *s, *c;
    tp_pair(srv, cli, &s, &c);
    tp_expect_str(s, "handshake", "ok");
    tp_expect_cert(s, "p256-client", 0);
    tp_expect_str(c, "handshake", "ok");
    json_decref(s);
    json_decref(c);
}
END_TEST

/* --sni-mismatch log: the handshake goes on and the SNI is reported. */
START_TEST(test_sni_log)
{
    const char *srv[] = {"--backend", _i ? "gnutls" : "openssl", "--role", "server",
        "--proto", "tls", "--cert", tp_pki("p256-server.pem"), "--key",
        tp_pki("p256-server.key.pem"), "--expect-servername", "other.example",
        "--sni-mismatch", "log", "--timeout", TP_HANG_MS, NULL};
    const char *cli[] = {"--backend", "openssl", "--role", "client", "--proto", "tls",
        "--connect", "127.0.0.1:PORT", "--servername", "test.local", "--timeout", TP_HANG_MS, NULL};
    json_t *s, *c;
    tp_pair(srv, cli, &s, &c);
    tp_expect_str(s, "handshake", "ok");
    tp_expect_str(s, "sni", "test.local");
    tp_expect_str(s, "alert_sent", NULL);
    tp_expect_str(c, "handshake", "ok");
    tp_expect_cert(c, "p256-server", 0);   /* no --CAfile: reported, not verified */
    json_decref(s);
    json_decref(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tlspeer_alerts");
    TCase *tc = tcase_create("alerts");
    tcase_add_unchecked_fixture(tc, tp_pki_setup, tp_pki_teardown);
    tcase_add_checked_fixture(tc, tp_dir_setup, tp_dir_teardown);
    tcase_set_timeout(tc, 90);   /* a hang guard above TP_WAIT_MS */
    tcase_add_loop_test(tc, test_alerts, 0, NROWS);
    tcase_add_loop_test(tc, test_sni_log, 0, 2);
    tcase_add_loop_test(tc, test_verify_optional, 0, 2);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
