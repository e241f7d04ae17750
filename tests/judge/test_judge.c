/* Unit tests for tm_judge: each classification rule with the device's own texts
 * (camera/sim/devtls_errors.c, docs/device-model.md §2) and tlspeer's result lines
 * (contracts §2); expansion, selection and the loaders' file:line errors. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classify/classify.h"
#include "profile/profile.h"
#include "scenario/scenario.h"
#include "judge_dir.h"
#include "tm_fs.h"

/* ---- device classes ---------------------------------------------------- */

static void dev_is(const char *reply_json, const char *want)
{
    json_error_t je;
    json_t *r = json_loads(reply_json, 0, &je);
    ck_assert_msg(r != NULL, "bad test JSON: %s", je.text);
    char *c = classify_device(r);
    ck_assert_msg(c && strcmp(c, want) == 0, "%s → %s, want %s", reply_json, c, want);
    free(c);
    json_decref(r);
}

#define EXC(type, args, text) \
    "{\"id\":1,\"op\":\"tls_client\",\"outcome\":\"error\",\"stage\":\"handshake\"," \
    "\"exc\":{\"type\":\"" type "\",\"args\":" args ",\"text\":\"" text "\"}}"

START_TEST(device_outcomes)
{
    char *c = classify_device(NULL);
    ck_assert_str_eq(c, "lost");
    free(c);
    dev_is("{\"id\":1,\"outcome\":\"ok\",\"stage\":null,\"exc\":null,\"first_exc\":null}", "ok");
    dev_is("{\"id\":1,\"op\":\"dtls_server\",\"outcome\":\"ok\",\"attempts\":2,\"first_exc\":"
           "{\"type\":\"OSError\",\"args\":[-27264,\"MBEDTLS_ERR_SSL_HELLO_VERIFY_REQUIRED\"],"
           "\"text\":\"(-27264, 'MBEDTLS_ERR_SSL_HELLO_VERIFY_REQUIRED')\"}}", "hello-verify-retry");
    dev_is("{\"id\":1,\"outcome\":\"timeout\",\"stage\":\"handshake\",\"exc\":{\"type\":\"OSError\","
           "\"args\":[110],\"text\":\"[Errno 110] ETIMEDOUT\"}}", "timeout");
    dev_is("{\"id\":1,\"outcome\":\"unsupported\"}", "unsupported");
    dev_is("{\"id\":1,\"outcome\":\"bad-request\",\"error\":\"missing host\"}", "bad-request");
    dev_is("{\"id\":1,\"outcome\":\"weird\"}", "lost");
    dev_is("{\"id\":1}", "lost");
}
END_TEST

START_TEST(device_verify_texts)
{
    dev_is(EXC("ValueError", "[\"\\nThe certificate validity has expired\\n\"]",
               "\\nThe certificate validity has expired\\n"), "verify-failed:expired");
    /* Flags OR-ed over the chain: texts concatenate in bit order (§2.2). */
    dev_is(EXC("ValueError", "[]", "\\nThe certificate validity has expired\\n\\nThe certificate "
               "Common Name (CN) does not match with the expected CN\\n\\nThe certificate is not "
               "correctly signed by the trusted CA\\n"), "verify-failed:expired+hostname+untrusted");
    dev_is(EXC("ValueError", "[]", "\\nThe certificate validity starts in the future\\n"),
           "verify-failed:future");
    dev_is(EXC("ValueError", "[]", "\\nUsage does not match the keyUsage extension\\n\\nUsage does "
               "not match the extendedKeyUsage extension\\n"), "verify-failed:key-usage+ext-key-usage");
    dev_is(EXC("ValueError", "[]", "\\nThe certificate is signed with an unacceptable hash.\\n"),
           "verify-failed:bad-hash");
    dev_is(EXC("ValueError", "[]", "\\nThe certificate is signed with an unacceptable PK alg (eg "
               "RSA vs ECDSA).\\n"), "verify-failed:bad-pk");
    dev_is(EXC("ValueError", "[]", "\\nThe certificate is signed with an unacceptable key (eg bad "
               "curve, RSA too short).\\n"), "verify-failed:bad-key");
    dev_is(EXC("ValueError", "[]", "\\nCertificate was missing\\n\\nOther reason (can be used by "
               "verify callback)\\n"), "verify-failed:other");
    dev_is(EXC("ValueError", "[]", "\\nThe certificate is not correctly signed by the trusted CA\\n"
               "\\nUnknown reason (this should not happen)\\n"), "verify-failed:untrusted+other");
}
END_TEST

START_TEST(device_value_type_errors)
{
    dev_is(EXC("ValueError", "[\"CERT_REQUIRED requires server_hostname\"]",
               "CERT_REQUIRED requires server_hostname"), "error:hostname-required");
    dev_is(EXC("ValueError", "[\"invalid cert\"]", "invalid cert"), "error:invalid-cert");
    dev_is(EXC("ValueError", "[\"invalid key\"]", "invalid key"), "error:invalid-key");
    dev_is(EXC("ValueError", "[\"something else\"]", "something else"), "error:value-error");
    dev_is(EXC("TypeError", "[\"can't convert 'NoneType' object to str implicitly\"]",
               "can't convert 'NoneType' object to str implicitly"), "error:type-error");
    dev_is(EXC("TypeError", "[\"unexpected keyword argument 'client_id'\"]",
               "unexpected keyword argument 'client_id'"), "error:type-error");
    dev_is(EXC("AttributeError", "[]", "'SSLContext' object has no attribute 'x'"),
           "error:attribute-error");
    dev_is(EXC("KeyboardInterrupt", "[]", ""), "error:interrupted");
    dev_is("{\"id\":1,\"outcome\":\"error\",\"exc\":null}", "error:unknown");
}
END_TEST

START_TEST(device_oserrors)
{
    dev_is(EXC("OSError", "[-30592,\"MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE\"]",
               "(-30592, 'MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE')"), "error:fatal-alert-message");
    dev_is(EXC("OSError", "[-29312,\"MBEDTLS_ERR_SSL_CONN_EOF\"]", "(-29312, 'MBEDTLS_ERR_SSL_CONN_EOF')"),
           "error:conn-eof");
    dev_is(EXC("OSError", "[-31232,\"MBEDTLS_ERR_SSL_BAD_CERTIFICATE\"]", ""), "error:bad-certificate");
    dev_is(EXC("OSError", "[-28160,\"MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE\"]", ""), "error:handshake-failure");
    dev_is(EXC("OSError", "[-9984,\"MBEDTLS_ERR_X509_CERT_VERIFY_FAILED\"]", ""), "error:cert-verify-failed");
    dev_is(EXC("OSError", "[-8576,\"MBEDTLS_ERR_X509_INVALID_FORMAT+MBEDTLS_ERR_ASN1_UNEXPECTED_TAG\"]", ""),
           "error:invalid-format+asn1-unexpected-tag");
    dev_is(EXC("OSError", "[-23936,\"MBEDTLS_ERR_UNKNOWN (0x5D80)\"]", "(-23936, 'MBEDTLS_ERR_UNKNOWN (0x5D80)')"),
           "error:unknown-0x5d80");
    /* No name (heap locked, §2.1 rule 4): the number alone. */
    dev_is(EXC("OSError", "[-28928]", "-28928"), "error:bad-input-data");
    dev_is(EXC("OSError", "[-12288]", "-12288"), "error:fatal-error");
    dev_is(EXC("OSError", "[-26624]", "-26624"), "error:timeout");
    dev_is(EXC("OSError", "[-4660]", "-4660"), "error:unknown-0x1234");
    /* errno: named by MicroPython for some, only the number for others (EPIPE). */
    dev_is(EXC("OSError", "[104]", "[Errno 104] ECONNRESET"), "errno:ECONNRESET");
    dev_is(EXC("OSError", "[32]", "32"), "errno:EPIPE");
    dev_is(EXC("OSError", "[12]", "[Errno 12] ENOMEM"), "errno:ENOMEM");
    dev_is(EXC("OSError", "[200]", "200"), "errno:200");
    dev_is(EXC("OSError", "[-2]", "-2"), "error:getaddrinfo");
    /* args missing: fall back to the text. */
    dev_is(EXC("OSError", "null", "(-30592, 'MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE')"),
           "error:fatal-alert-message");
    dev_is(EXC("OSError", "null", "[Errno 111] ECONNREFUSED"), "errno:ECONNREFUSED");
    /* A DTLS retry that failed is classified by its final exception. */
    dev_is("{\"id\":1,\"outcome\":\"error\",\"stage\":\"handshake\",\"first_exc\":{\"type\":\"OSError\","
           "\"args\":[-27264,\"MBEDTLS_ERR_SSL_HELLO_VERIFY_REQUIRED\"]},\"exc\":{\"type\":\"OSError\","
           "\"args\":[-26624,\"MBEDTLS_ERR_SSL_TIMEOUT\"],\"text\":\"\"}}", "error:timeout");
}
END_TEST

/* An OSError raised at STAGE with args ARGS and text TEXT. */
#define OSERR_AT(stage, args, text) \
    "{\"id\":1,\"op\":\"tls_client\",\"outcome\":\"error\",\"stage\":\"" stage "\"," \
    "\"exc\":{\"type\":\"OSError\",\"args\":" args ",\"text\":\"" text "\"}}"

/* After the handshake, MicroPython 1.25's tls socket raises read/write errors through
 * the stream layer as the bare code: a socket errno passed through mbedTLS stays
 * negated (docs/device-model.md §2.4); newer firmware gives OSError(errno). */
START_TEST(device_stream_errors)
{
    dev_is(OSERR_AT("read", "[-110]", "-110"), "timeout");
    dev_is(OSERR_AT("read", "[110]", "[Errno 110] ETIMEDOUT"), "timeout");
    dev_is(OSERR_AT("read", "[-104]", "-104"), "errno:ECONNRESET");
    dev_is(OSERR_AT("read", "[104]", "[Errno 104] ECONNRESET"), "errno:ECONNRESET");
    dev_is(OSERR_AT("write", "[-32]", "-32"), "errno:EPIPE");
    dev_is(OSERR_AT("read", "null", "-104"), "errno:ECONNRESET");
    dev_is(OSERR_AT("read", "[-255]", "-255"), "errno:255");
    /* mbedTLS codes stay codes, named or not. */
    dev_is(OSERR_AT("read", "[-29056]", "-29056"), "error:invalid-mac");
    dev_is(OSERR_AT("read", "[-29056,\"MBEDTLS_ERR_SSL_INVALID_MAC\"]",
                    "(-29056, 'MBEDTLS_ERR_SSL_INVALID_MAC')"), "error:invalid-mac");
    dev_is(OSERR_AT("read", "[-256]", "-256"), "error:unknown-0x0100");
    /* Elsewhere -1…-255 is no errno: mbedtls_raise_error makes errno values positive
     * in the handshake, and lwIP's getaddrinfo raises OSError(-2). */
    dev_is(OSERR_AT("handshake", "[-110]", "-110"), "error:unknown-0x006e");
    dev_is(OSERR_AT("socket", "[-2]", "-2"), "error:getaddrinfo");
    dev_is(OSERR_AT("handshake", "[110]", "[Errno 110] ETIMEDOUT"), "timeout");
}
END_TEST

/* ---- peer classes -------------------------------------------------------- */

/* A failed handshake on BACKEND/PROTO with error CODE and TEXT, nothing else. */
#define PEER_ON(backend, proto, code, text) \
    "{\"event\":\"result\",\"backend\":\"" backend "\",\"proto\":\"" proto "\"," \
    "\"handshake\":\"failed\",\"alert_sent\":null,\"alert_received\":null," \
    "\"error\":{\"code\":" code ",\"text\":\"" text "\"},\"closed_by\":null}"
#define PEER(hs, sent, recv, err, closed, data) \
    "{\"event\":\"result\",\"backend\":\"openssl\",\"role\":\"server\",\"proto\":\"tls\"," \
    "\"handshake\":\"" hs "\",\"alert_sent\":" sent ",\"alert_received\":" recv ",\"error\":" err \
    ",\"version\":null,\"cipher\":null,\"group\":null,\"alpn\":null,\"sni\":null,\"peer_cert\":null," \
    "\"bytes_sent\":0,\"bytes_received\":0,\"data_ok\":" data ",\"closed_by\":" closed \
    ",\"hello_verify_requests\":null,\"elapsed_ms\":12}"

static void peer_is(const char *line, const char *want)
{
    json_error_t je;
    json_t *r = json_loads(line, 0, &je);
    ck_assert_msg(r != NULL, "bad test JSON: %s", je.text);
    char *c = classify_peer(r);
    ck_assert_msg(c && strcmp(c, want) == 0, "%s → %s, want %s", line, c, want);
    free(c);
    json_decref(r);
}

START_TEST(peer_classes)
{
    char *c = classify_peer(NULL);
    ck_assert_str_eq(c, "crashed");
    free(c);
    peer_is("{\"event\":\"result\"}", "crashed");
    peer_is(PEER("ok", "null", "null", "null", "\"self\"", "true"), "ok");
    peer_is(PEER("ok", "null", "null", "null", "\"self\"", "null"), "ok");
    peer_is(PEER("ok", "null", "null", "null", "\"peer\"", "false"), "error:data-mismatch");
    peer_is(PEER("failed", "\"unknown_ca\"", "null", "{\"code\":167772294,\"text\":\"error:0A000086:"
                 "SSL routines::certificate verify failed\"}", "null", "null"), "alert-sent:unknown_ca");
    peer_is(PEER("failed", "null", "\"bad_certificate\"", "{\"code\":-12,\"text\":\"A TLS fatal alert "
                 "has been received.\"}", "null", "null"), "alert-received:bad_certificate");
    /* TLS 1.3: the client finishes before the server rejects its certificate. */
    peer_is(PEER("ok", "null", "\"certificate_required\"", "null", "null", "null"),
            "alert-received:certificate_required");
    peer_is(PEER("failed", "null", "null", "{\"code\":0,\"text\":\"unexpected EOF\"}", "\"peer\"", "null"),
            "closed");
    peer_is(PEER("failed", "null", "null", "{\"code\":0,\"text\":\"error:0A000126:SSL routines::"
                 "unexpected eof while reading\"}", "null", "null"), "error:unexpected-eof-while-reading");
    peer_is(PEER("failed", "null", "null", "{\"code\":-54,\"text\":\"Error in the pull function.\"}",
                 "null", "null"), "error:error-in-the-pull-function");
    peer_is(PEER("failed", "null", "null", "null", "null", "null"), "closed");
    /* The same cause is one class on both backends (classify_peer.c error_rows). */
    peer_is(PEER_ON("gnutls", "tls", "-54", "Error in the pull function."), "closed");
    peer_is(PEER_ON("gnutls", "tls", "-110", "The TLS connection was non-properly terminated."),
            "closed");
    peer_is(PEER_ON("openssl", "tls", "104", "Connection reset by peer"), "closed");
    peer_is(PEER_ON("gnutls", "dtls", "-53", "Error in the push function."),
            "error:connection-refused");
    peer_is(PEER_ON("gnutls", "dtls", "-54", "Error in the pull function."),
            "error:connection-refused");
    peer_is(PEER_ON("openssl", "dtls", "111", "Connection refused"), "error:connection-refused");
    /* TLS over TCP is not refused after the handshake began: no row, the text stays */
    peer_is(PEER_ON("openssl", "tls", "111", "Connection refused"), "error:connection-refused");
    peer_is(PEER_ON("gnutls", "tls", "-15", "An unexpected TLS packet was received."),
            "error:an-unexpected-tls-packet-was-received");
    peer_is(PEER("timeout", "null", "null", "{\"code\":110,\"text\":\"deadline reached during the "
                 "handshake\"}", "null", "null"), "timeout");
    peer_is(PEER("not-started", "null", "null", "{\"code\":110,\"text\":\"no peer before the deadline\"}",
                 "null", "null"), "not-started");
    peer_is("{\"event\":\"result\",\"handshake\":\"timeout\",\"harness_note\":\"killed\"}", "timeout");
    peer_is(PEER("failed", "\"close_notify\"", "null", "null", "\"peer\"", "null"), "closed");
}
END_TEST

/* ---- verdicts ------------------------------------------------------------ */

static const char *verdict(const char *exp, const char *dc, const char *pc, const char *stage,
                           const char *hs, const char *xfail_reason, char *reason)
{
    json_t *e = json_loads(exp, 0, NULL);
    json_t *reply = json_pack("{s:s, s:s?}", "outcome", "error", "stage", stage);
    json_t *pr = json_pack("{s:s, s:s}", "event", "result", "handshake", hs);
    json_t *xf = xfail_reason ? json_pack("{s:s, s:n}", "reason", xfail_reason, "ref") : NULL;
    const char *v = classify_verdict(e, dc, pc, reply, pr, xf, reason, 400);
    json_decref(e);
    json_decref(reply);
    json_decref(pr);
    json_decref(xf);
    return v;
}

START_TEST(verdicts)
{
    char r[400];
    const char *neg = "{\"device\":[\"verify-failed:hostname\"],\"peer\":[\"alert-received:bad_certificate\"]}";
    ck_assert_str_eq(verdict("{\"device\":[\"ok\"],\"peer\":[\"ok\"]}", "ok", "ok", NULL, "ok", NULL, r),
                     "pass");
    ck_assert_str_eq(verdict(neg, "verify-failed:hostname", "alert-received:bad_certificate",
                             "handshake", "failed", NULL, r), "pass");
    /* Reason-precise: another verify reason is a failure, and the reason says both. */
    ck_assert_str_eq(verdict(neg, "verify-failed:expired", "alert-received:bad_certificate",
                             "handshake", "failed", NULL, r), "fail");
    ck_assert_ptr_nonnull(strstr(r, "verify-failed:expired (expected verify-failed:hostname)"));
    ck_assert_ptr_null(strchr(r, '\n'));
    ck_assert_str_eq(verdict(neg, "verify-failed:expired+hostname", "alert-received:bad_certificate",
                             "handshake", "failed", NULL, r), "fail");
    /* Negative expectation without evidence the handshake was reached. */
    ck_assert_str_eq(verdict(neg, "verify-failed:hostname", "alert-received:bad_certificate",
                             "load_ca", "failed", NULL, r), "fail");
    ck_assert_ptr_nonnull(strstr(r, "no evidence"));
    ck_assert_str_eq(verdict("{\"device\":[\"error:conn-eof\"],\"peer\":[\"*\"]}", "error:conn-eof",
                             "not-started", "handshake", "not-started", NULL, r), "fail");
    /* Setup failures say so precisely: the peer was never reached. */
    ck_assert_str_eq(verdict("{\"device\":[\"error:invalid-key\"],\"peer\":[\"not-started\"]}",
                             "error:invalid-key", "not-started", "load_cert", "not-started", NULL, r),
                     "pass");
    /* Globs and lists of acceptable classes. */
    ck_assert_str_eq(verdict("{\"device\":[\"error:fatal-alert-message\",\"errno:ECONNRESET\"],"
                             "\"peer\":[\"alert-sent:*\"]}", "errno:ECONNRESET", "alert-sent:unknown_ca",
                             "handshake", "failed", NULL, r), "pass");
    ck_assert_str_eq(verdict("{\"device\":[\"ok\"],\"peer\":[\"ok\"]}", "ok", "closed", NULL, "failed",
                             NULL, r), "fail");
    ck_assert_ptr_nonnull(strstr(r, "peer closed (expected ok)"));
    /* Profile expectations. */
    ck_assert_str_eq(verdict("{\"device\":[\"ok\"],\"peer\":[\"ok\"]}", "error:handshake-failure",
                             "alert-received:handshake_failure", "handshake", "failed", "no TLS 1.3", r),
                     "xfail");
    ck_assert_ptr_nonnull(strstr(r, "no TLS 1.3"));
    ck_assert_str_eq(verdict("{\"device\":[\"ok\"],\"peer\":[\"ok\"]}", "ok", "ok", "handshake", "ok",
                             "no TLS 1.3", r), "xpass");
    /* Infrastructure: no verdict on the device's behaviour. */
    ck_assert_str_eq(verdict("{\"device\":[\"ok\"],\"peer\":[\"ok\"]}", "lost", "ok", NULL, "ok", NULL, r),
                     "error");
    ck_assert_str_eq(verdict("{\"device\":[\"ok\"],\"peer\":[\"ok\"]}", NULL, "ok", NULL, "ok", NULL, r),
                     "error");
    ck_assert_str_eq(verdict("{\"device\":[\"ok\"],\"peer\":[\"ok\"]}", "ok", "crashed", NULL, "ok",
                             "x", r), "error");
    ck_assert_str_eq(verdict("{\"device\":[\"ok\"],\"peer\":[\"ok\"]}", "bad-request", "ok", NULL, "ok",
                             NULL, r), "error");
}
END_TEST

/* ---- scenarios: expansion and selection ---------------------------------- */

static const char *k_good =
    "name: good-one\n"
    "doc: a scenario\n"
    "tags: [client, \"{proto}\"]\n"
    "device:\n"
    "  role: client\n"
    "  ca: [\"{kt}-root.der\", {b64: AAAA}]\n"
    "  chain: [{cert: \"{kt}-client.der\", key: \"{kt}-client.key.der\"}]\n"
    "  server_hostname: null\n"
    "  options: {recv_bytes: 4, layer_hint: \"7\"}\n"
    "peer:\n"
    "  cert: \"{kt}-server.der\"\n"
    "  key: \"{kt}-server.key.der\"\n"
    "  args: [\"--keylog\", \"/tmp/{backend}-{proto}.log\"]\n"
    "axes:\n"
    "  keytype: [p256, p384, rsa2048]\n"
    "  proto: [tls, dtls]\n"
    "expect:\n"
    "  device: verify-failed:untrusted\n"
    "  peer: alert-received:unknown_ca\n"
    "  when:\n"
    "    - {match: {backend: gnutls, proto: dtls}, peer: [closed, \"alert-received:{kt}\"]}\n"
    "    - {match: {backend: gnutls}, device: error:fatal-alert-message}\n"
    "insecure: yes\n";

static json_t *load_one(const char *path, json_t **errors)
{
    const char *paths[] = { path };
    *errors = json_array();
    return scenario_load_all(paths, 1, *errors);
}

static const json_t *case_by_id(const json_t *cases, const char *id)
{
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) if (!strcmp(json_string_value(json_object_get(c, "id")), id))
        return c;
    return NULL;
}

START_TEST(expansion)
{
    json_t *errors;
    json_t *sc = load_one(jd_put("exp", "good-one.yaml", k_good), &errors);
    ck_assert_msg(json_array_size(errors) == 0, "%s", json_string_value(json_array_get(errors, 0)));
    ck_assert_int_eq(json_array_size(sc), 1);
    struct tm_err err = { 0 };
    json_t *cases = scenario_expand(sc, &err);
    ck_assert_ptr_nonnull(cases);
    ck_assert_int_eq(json_array_size(cases), 2 * 3 * 2);   /* default backends × keytypes × protos */
    for (size_t i = 1; i < json_array_size(cases); i++)
        ck_assert(strcmp(json_string_value(json_object_get(json_array_get(cases, i - 1), "id")),
                         json_string_value(json_object_get(json_array_get(cases, i), "id"))) < 0);
    const json_t *c = case_by_id(cases, "good-one/openssl/p384/dtls");
    ck_assert_ptr_nonnull(c);
    const json_t *dev = json_object_get(c, "device");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(dev, "ca"), 0)), "p384-root.der");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(dev, "ca"), 1), "b64")),
                     "AAAA");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(dev, "chain"), 0),
                                                       "key")), "p384-client.key.der");
    ck_assert(json_is_null(json_object_get(dev, "server_hostname")));
    ck_assert_str_eq(json_string_value(json_object_get(dev, "verify")), "default");
    ck_assert_str_eq(json_string_value(json_object_get(dev, "clock")), "reference");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(dev, "options"), "recv_bytes")), 4);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(dev, "options"), "layer_hint")), "7");
    const json_t *peer = json_object_get(c, "peer");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(peer, "cert"), 0)), "p384-server.der");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(peer, "args"), 1)),
                     "/tmp/openssl-dtls.log");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(c, "tags"), 1)), "dtls");
    ck_assert(json_is_true(json_object_get(c, "insecure")));
    ck_assert(json_is_null(json_object_get(c, "proxy")));
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(c, "axes"), "keytype")), "p384");
    /* expect.when: first match wins, per side; unmatched keeps the defaults. */
    const json_t *x = json_object_get(c, "expected");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(x, "device"), 0)),
                     "verify-failed:untrusted");
    x = json_object_get(case_by_id(cases, "good-one/gnutls/rsa2048/dtls"), "expected");
    ck_assert_int_eq(json_array_size(json_object_get(x, "peer")), 2);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(x, "peer"), 1)),
                     "alert-received:rsa2048");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(x, "device"), 0)),
                     "verify-failed:untrusted");   /* the first match sets only peer */
    x = json_object_get(case_by_id(cases, "good-one/gnutls/p256/tls"), "expected");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(x, "device"), 0)),
                     "error:fatal-alert-message");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(x, "peer"), 0)),
                     "alert-received:unknown_ca");
    json_decref(cases);
    json_decref(sc);
    json_decref(errors);
}
END_TEST

static json_t *synthetic_ids(size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:o}", "id", json_sprintf("scen-%zu/openssl/p256/tls", i)));
    return a;
}

START_TEST(sharding)
{
    json_t *ids = synthetic_ids(200);
    for (int n = 1; n <= 7; n++) {
        size_t i;
        json_t *c;
        json_array_foreach(ids, i, c) {
            int in = 0;
            for (int k = 1; k <= n; k++)
                in += scenario_in_shard(json_string_value(json_object_get(c, "id")), k, n);
            ck_assert_msg(in == 1, "n=%d: case %zu in %d shards", n, i, in);
        }
    }
    /* FNV-1a of the id alone: fixed across catalogs, orders and machines. */
    ck_assert(scenario_in_shard("client-chain-root-anchor/openssl/p256/tls", 3, 4));
    ck_assert(!scenario_in_shard("client-chain-root-anchor/openssl/p256/tls", 1, 4));
    json_decref(ids);
}
END_TEST

static char *order_string(json_t *a)
{
    size_t i, len = 0;
    json_t *c;
    char *s = calloc(1, 200 * 32);
    json_array_foreach(a, i, c) len += (size_t)sprintf(s + len, "%s,", json_string_value(json_object_get(c, "id")) + 5);
    return s;
}

START_TEST(seed_order)
{
    json_t *a = synthetic_ids(50), *b = synthetic_ids(50), *z = synthetic_ids(50), *d = synthetic_ids(50);
    char *base = order_string(z);
    scenario_order(z, 0);
    char *s0 = order_string(z);
    ck_assert_str_eq(base, s0);
    scenario_order(a, 42);
    scenario_order(b, 42);
    scenario_order(d, 43);
    char *sa = order_string(a), *sb = order_string(b), *sd = order_string(d);
    ck_assert_str_eq(sa, sb);
    ck_assert_str_ne(sa, base);
    ck_assert_str_ne(sa, sd);
    for (int i = 0; i < 50; i++) {   /* still a permutation */
        char id[64];
        snprintf(id, sizeof id, "scen-%d/openssl/p256/tls", i);
        ck_assert_ptr_nonnull(case_by_id(a, id));
    }
    free(base), free(s0), free(sa), free(sb), free(sd);
    json_decref(a), json_decref(b), json_decref(z), json_decref(d);
}
END_TEST

/* The real catalog, for the tests that compare the compact case forms with the
 * full expansion. */
static json_t *catalog(void)
{
    const char *paths[] = { TM_SOURCE_DIR "/scenarios" };
    json_t *errors = json_array();
    json_t *sc = scenario_load_all(paths, 1, errors);
    ck_assert_msg(json_array_size(errors) == 0, "%s", json_string_value(json_array_get(errors, 0)));
    ck_assert_ptr_nonnull(sc);
    json_decref(errors);
    return sc;
}

/* A run keeps references and materialises one case at a time (issue 7): every
 * form must give exactly scenario_expand's case, in scenario_expand's order. */
START_TEST(expand_one_equals_expand)
{
    json_t *sc = catalog();
    struct tm_err err = { 0 };
    json_t *cases = scenario_expand(sc, &err);
    ck_assert_msg(cases != NULL, "%s", err.msg);
    ck_assert_uint_gt(json_array_size(cases), 100);
    size_t n;
    struct scenario_ref *refs = scenario_refs(sc, &n, &err);
    ck_assert_msg(refs != NULL, "%s", err.msg);
    ck_assert_uint_eq(n, json_array_size(cases));
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *id = json_string_value(json_object_get(c, "id"));
        json_t *one = scenario_expand_one(sc, id, &err);
        ck_assert_msg(one != NULL, "%s: %s", id, err.msg);
        ck_assert_msg(json_equal(one, c), "%s: expand_one differs from scenario_expand", id);
        json_decref(one);
        char buf[512];
        ck_assert_str_eq(scenario_ref_id(sc, &refs[i], buf, sizeof buf), id);
        json_t *byref = scenario_ref_case(sc, &refs[i]);
        ck_assert_msg(json_equal(byref, c), "%s: the reference's case differs", id);
        json_decref(byref);
    }
    char tiny[8];
    ck_assert_ptr_null(scenario_ref_id(sc, &refs[0], tiny, sizeof tiny));
    ck_assert_str_eq(tiny, "");
    free(refs);
    json_decref(cases);
    json_decref(sc);
}
END_TEST

START_TEST(expand_one_unknown_ids)
{
    json_t *sc = catalog();
    const char *name = json_string_value(json_object_get(json_array_get(sc, 0), "name"));
    char id[512];
    const char *bad[] = { "no-such-scenario/openssl/p256/tls", id, "openssl/p256/tls", "",
                          "x/y" };
    snprintf(id, sizeof id, "%s/openssl/p999/tls", name);   /* a key type not on its axis */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct tm_err err = { 0 };
        ck_assert_msg(scenario_expand_one(sc, bad[i], &err) == NULL, "'%s' expanded", bad[i]);
        ck_assert_msg(err.msg[0] != '\0', "'%s': no error message", bad[i]);
    }
    json_decref(sc);
}
END_TEST

/* The run orders references; --seed must give the order it gives case arrays. */
START_TEST(seed_order_refs)
{
    json_t *sc = catalog();
    struct tm_err err = { 0 };
    for (unsigned long seed = 0; seed < 4; seed++) {
        json_t *cases = scenario_expand(sc, &err);
        size_t n;
        struct scenario_ref *refs = scenario_refs(sc, &n, &err);
        ck_assert_ptr_nonnull(cases);
        ck_assert_ptr_nonnull(refs);
        scenario_order(cases, seed * 7919);
        scenario_order_refs(refs, n, seed * 7919);
        for (size_t i = 0; i < n; i++) {
            char buf[512];
            ck_assert_str_eq(scenario_ref_id(sc, &refs[i], buf, sizeof buf),
                             json_string_value(json_object_get(json_array_get(cases, i), "id")));
        }
        free(refs);
        json_decref(cases);
    }
    json_decref(sc);
}
END_TEST

START_TEST(filter_globs)
{
    const char *id = "client-verify-optional-x/gnutls/p384/dtls";
    ck_assert(scenario_filter_match(NULL, id));
    ck_assert(scenario_filter_match("", id));
    ck_assert(scenario_filter_match("client-*", id));
    ck_assert(scenario_filter_match("*/gnutls/*", id));
    ck_assert(scenario_filter_match("*/p38[0-9]/dtls", id));
    ck_assert(!scenario_filter_match("server-*", id));
    ck_assert(!scenario_filter_match("*/openssl/*", id));
    ck_assert(!scenario_filter_match("client-verify-optional-x", id));
}
END_TEST

START_TEST(profiles)
{
    const char *path = jd_put("prof", "fam.yaml",
        "name: fam\n"
        "doc: a firmware family\n"
        "device: {pem: false, clock_unset: \"2015-01-01T00:00:00Z\", tls13: false}\n"
        "xfail:\n"
        "  - case: \"client-verify-optional-*\"\n"
        "    reason: \"CERT_OPTIONAL verifies but never reports\"\n"
        "    ref: \"docs/device-model.md §5.1\"\n"
        "  - case: \"*/gnutls/*/dtls\"\n"
        "    reason: second\n");
    struct tm_err err = { 0 };
    json_t *p = profile_load(path, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    ck_assert_str_eq(json_string_value(json_object_get(p, "name")), "fam");
    ck_assert(json_is_false(json_object_get(json_object_get(p, "device"), "tls13")));
    const json_t *x = profile_xfail_for(p, "client-verify-optional-a/openssl/p256/tls");
    ck_assert_ptr_nonnull(x);
    ck_assert_str_eq(json_string_value(json_object_get(x, "ref")), "docs/device-model.md §5.1");
    x = profile_xfail_for(p, "server-x/gnutls/p256/dtls");
    ck_assert_str_eq(json_string_value(json_object_get(x, "reason")), "second");
    ck_assert(json_is_null(json_object_get(x, "ref")));
    ck_assert_ptr_null(profile_xfail_for(p, "server-x/openssl/p256/dtls"));
    json_decref(p);
    /* Errors name the file and line. */
    path = jd_put("prof", "bad.yaml", "name: bad\ndoc: d\nxfail:\n  - case: \"x*\"\n    reson: typo\n");
    ck_assert_ptr_null(profile_load(path, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "bad.yaml:5: unknown field 'reson'"));
    path = jd_put("prof", "other.yaml", "name: nope\ndoc: d\n");
    ck_assert_ptr_null(profile_load(path, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "other.yaml:1: name 'nope'"));
    ck_assert_ptr_null(profile_load("no-such-profile-name", &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "scenarios/profiles/no-such-profile-name.yaml"));
}
END_TEST

/* The profile follows the device's hello: the profile whose match block fits
 * best; a MicroPython for Linux is not judged by the OpenMV profile; none or a
 * tie is an error naming what the hello says. */
static json_t *hello_of(const char *machine, const char *mbedtls, int pem)
{
    return json_pack("{s:{s:s, s:s}, s:s, s:{s:b}}", "impl", "name", "micropython", "machine",
                     machine, "mbedtls", mbedtls, "caps", "pem", pem);
}

START_TEST(profile_from_hello)
{
    struct tm_err err = { 0 };
    json_t *cam = hello_of("OpenMV4P with STM32H743", "Mbed TLS 3.6.6", 0);
    json_t *rt = hello_of("OpenMV-RT1060 with MIMXRT1062DVJ6A", "Mbed TLS 3.6.6", 0);
    json_t *unix_ = hello_of("linux [GCC 12.2.0] version", "Mbed TLS 3.6.6", 0);
    json_t *esp = hello_of("ESP32 module with ESP32", "Mbed TLS 3.6.6", 0);
    /* The project's own profiles. */
    const char *const want[3] = { "micropython-openmv-default", "micropython-openmv-rt1060",
                                  "micropython-unix" };
    json_t *hellos[3] = { cam, rt, unix_ };
    for (int i = 0; i < 3; i++) {
        json_t *p = profile_for_hello(NULL, hellos[i], &err);
        ck_assert_msg(p != NULL, "%s", err.msg);
        ck_assert_str_eq(json_string_value(json_object_get(p, "name")), want[i]);
        json_decref(p);
    }
    ck_assert_ptr_null(profile_for_hello(NULL, esp, &err));
    ck_assert_msg(strstr(err.msg, "no profile") && strstr(err.msg, "ESP32 module with ESP32")
                  && strstr(err.msg, "--profile"), "%s", err.msg);
    /* Most keys win; equal scores are a tie; a broken file is an error. */
    jd_put("sel", "a.yaml", "name: a\ndoc: d\nmatch: {impl: micropython}\n");
    jd_put("sel", "b.yaml", "name: b\ndoc: d\nmatch: {impl: micropython, mbedtls: \"Mbed TLS 3.*\", pem: false}\n");
    jd_put("sel", "c.yaml", "name: c\ndoc: d\n");   /* no match block: by name only */
    char dir[450];
    snprintf(dir, sizeof dir, "%s/sel", jd_dir());
    json_t *p = profile_for_hello(dir, cam, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    ck_assert_str_eq(json_string_value(json_object_get(p, "name")), "b");
    json_decref(p);
    json_object_set_new(json_object_get(cam, "caps"), "pem", json_true());
    p = profile_for_hello(dir, cam, &err);
    ck_assert_str_eq(json_string_value(json_object_get(p, "name")), "a");
    json_decref(p);
    jd_put("sel", "d.yaml", "name: d\ndoc: d\nmatch: {machine: \"*STM32*\"}\n");
    ck_assert_ptr_null(profile_for_hello(dir, cam, &err));
    ck_assert_msg(strstr(err.msg, "two profiles"), "%s", err.msg);
    jd_put("sel", "e.yaml", "name: e\ndoc: d\nmatch: {board: x}\n");
    ck_assert_ptr_null(profile_for_hello(dir, cam, &err));
    ck_assert_msg(strstr(err.msg, "e.yaml:3") && strstr(err.msg, "board"), "%s", err.msg);
    json_decref(cam);
    json_decref(rt);
    json_decref(unix_);
    json_decref(esp);
}
END_TEST

/* ---- loader errors ------------------------------------------------------- */

static const struct {
    const char *file, *text, *want;
} k_bad[] = {
    { "a1.yaml", "name: a1\ndoc: d\ndevice: {}\nexpect: {device: ok}\ncolour: red\n",
      "a1.yaml:5: unknown field 'colour'" },
    { "a2.yaml", "name: a2\ndevice: {}\nexpect: {device: ok}\n", "a2.yaml:1: missing field 'doc'" },
    { "a3.yaml", "name: other\ndoc: d\ndevice: {}\nexpect: {device: ok}\n",
      "a3.yaml:1: name 'other' does not match the file name (expected 'a3')" },
    { "a4.yaml", "name: a4\ndoc: d\ndevice: {}\naxes:\n  backend: [openssl, wolfssl]\nexpect: {device: ok}\n",
      "a4.yaml:5: axes.backend: 'wolfssl' is not a known value" },
    { "a5.yaml", "name: a5\ndoc: d\ndevice: {}\nexpect:\n  device: ok\n  when:\n    - {match: {curve: x}, device: ok}\n",
      "a5.yaml:7: expect.when: unknown axis 'curve'" },
    { "a6.yaml", "name: a6\ndoc: d\ndevice: {}\nexpect:\n  device: ok\n  when:\n    - {match: {keytype: p384}, device: ok}\n",
      "a6.yaml:7: expect.when: keytype 'p384' is not in this scenario's axes.keytype" },
    { "a7.yaml", "name: a7\ndoc: d\ndevice:\n  verify: [required]\nexpect: {device: ok}\n",
      "a7.yaml:4: field 'verify': expected a string" },
    { "a8.yaml", "name: a8\ndoc: d\ndevice: {}\nexpect: {device: verify-failed:expird}\n",
      "a8.yaml:4: expect.device: 'verify-failed:expird': unknown verify reason 'expird'" },
    { "a9.yaml", "name: a9\ndoc: d\ndevice: {}\nexpect: {device: ok, peer: alert:x}\n",
      "a9.yaml:4: expect.peer: 'alert:x': not a peer class" },
    { "b1.yaml", "name: b1\ndoc: d\ndevice: {}\nproxy: {drop: 0.1}\nexpect: {device: ok}\n",
      "b1.yaml:4: this proxy block is for dtls (udpproxy), but axes.proto includes 'tls'" },
    { "b2.yaml", "name: b2\ndoc: [d\n", "b2.yaml:3:1: " },
    { "b3.yaml", "name: b3\ndoc: d\nexpect: {device: ok}\n", "b3.yaml:1: missing field 'device'" },
    { "b4.yaml", "name: b4\ndoc: d\ndevice: {}\nexpect: {device: lost}\n",
      "b4.yaml:4: expect.device: 'lost': 'lost' is an infrastructure outcome" },
    { "b5.yaml", "name: b5\ndoc: d\ndevice: {}\ninsecure: maybe\nexpect: {device: ok}\n",
      "b5.yaml:4: field 'insecure': expected true or false" },
    { "b6.yaml", "name: b6\ndoc: d\ndevice: {}\nproxy: {at: 'after:server:finished'}\nexpect: {device: ok}\n",
      "b6.yaml:4: proxy: a TLS proxy needs both 'at' (a place) and 'do' (an action)" },
    { "b7.yaml", "name: b7\ndoc: d\ndevice: {}\nproxy: {at: 'bytes:client:1', do: fin, drop: 0.1}\nexpect: {device: ok}\n",
      "one proxy, one protocol" },
    { "b8.yaml", "name: b8\ndoc: d\ndevice: {}\nproxy: {at: 'bytes:client:1', do: fin}\naxes: {proto: [dtls]}\nexpect: {device: ok}\n",
      "b8.yaml:4: this proxy block is for tls (tcpproxy: at, do), but axes.proto includes 'dtls'" },
    { "b9.yaml", "name: b9\ndoc: d\ndevice: {}\nproxy: {colour: red}\nexpect: {device: ok}\n",
      "b9.yaml:4: proxy.colour: unknown key" },
};

START_TEST(loader_errors)
{
    char dir[400];
    for (size_t i = 0; i < sizeof k_bad / sizeof *k_bad; i++)
        jd_put("bad", k_bad[i].file, k_bad[i].text);
    jd_put("bad", "zz-good.yaml", "name: zz-good\ndoc: fine\ndevice: {role: server}\nexpect: {device: ok}\n");
    jd_put("bad/profiles", "ignored.yaml", "not: a scenario\n");
    jd_put("bad", "notes.txt", "not yaml\n");
    snprintf(dir, sizeof dir, "%s/bad", jd_dir());
    json_t *errors;
    json_t *sc = load_one(dir, &errors);
    /* The good file still loads; every bad file is one error, in file order. */
    ck_assert_int_eq(json_array_size(sc), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(sc, 0), "name")), "zz-good");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_array_get(sc, 0), "expect"),
                                                       "peer") ? json_array_get(json_object_get(
                     json_object_get(json_array_get(sc, 0), "expect"), "peer"), 0) : NULL), "*");
    ck_assert_int_eq(json_array_size(errors), sizeof k_bad / sizeof *k_bad);
    for (size_t i = 0; i < sizeof k_bad / sizeof *k_bad; i++) {
        const char *e = json_string_value(json_array_get(errors, i));
        ck_assert_msg(strstr(e, k_bad[i].want) != NULL, "got '%s', want '%s'", e, k_bad[i].want);
        ck_assert_msg(strncmp(e, jd_dir(), strlen(jd_dir())) == 0, "error without the path: %s", e);
    }
    json_decref(sc);
    json_decref(errors);
    /* Duplicate names across paths, and a missing path. */
    char p2[400];
    snprintf(p2, sizeof p2, "%s", jd_put("dup1", "zz-good.yaml",
             "name: zz-good\ndoc: again\ndevice: {}\nexpect: {device: ok}\n"));
    const char *paths[] = { dir, p2, "/nonexistent/tm-judge" };
    errors = json_array();
    sc = scenario_load_all(paths, 3, errors);
    ck_assert_int_eq(json_array_size(sc), 1);
    ck_assert_int_eq(json_array_size(errors), sizeof k_bad / sizeof *k_bad + 2);
    int dup = 0, missing = 0;
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e) {
        dup |= strstr(json_string_value(e), ":1: duplicate scenario name 'zz-good'") != NULL;
        missing |= strstr(json_string_value(e), "/nonexistent/tm-judge: no such file") != NULL;
    }
    ck_assert(dup && missing);
    json_decref(sc);
    json_decref(errors);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("judge");
    TCase *t = tcase_create("classify");
    tcase_add_test(t, device_outcomes);
    tcase_add_test(t, device_verify_texts);
    tcase_add_test(t, device_value_type_errors);
    tcase_add_test(t, device_oserrors);
    tcase_add_test(t, device_stream_errors);
    tcase_add_test(t, peer_classes);
    tcase_add_test(t, verdicts);
    suite_add_tcase(s, t);
    t = tcase_create("scenario");
    tcase_add_unchecked_fixture(t, jd_setup, jd_teardown);
    tcase_add_test(t, expansion);
    tcase_add_test(t, sharding);
    tcase_add_test(t, seed_order);
    tcase_add_test(t, filter_globs);
    tcase_add_test(t, expand_one_equals_expand);
    tcase_add_test(t, expand_one_unknown_ids);
    tcase_add_test(t, seed_order_refs);
    tcase_add_test(t, profiles);
    tcase_add_test(t, profile_from_hello);
    tcase_add_test(t, loader_errors);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
