/* tlspeer's misbehaviours for networks and servers that misbehave: acting on the
 * SNI, DTLS cookies that change or are never accepted, how the connection ends
 * (after N bytes, half-closed, silent) and small application-data records. Real
 * processes on loopback, each server backend against an OpenSSL or GnuTLS client
 * (the cookie modes against a DTLS client the test plays datagram by datagram). */
#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "tm_fs.h"
#include "tp_util.h"

#define TLSMATRIX TM_BIN_DIR "/tlsmatrix"
#define VCAM TM_BIN_DIR "/vcam"

static const char *const backends[] = {"openssl", "gnutls"};

#define SRV(b, proto) "--backend", b, "--role", "server", "--proto", proto, "--cert", \
    tp_pki("p256-server.fullchain.pem"), "--key", tp_pki("p256-server.key.pem")
#define CLI(b, proto) "--backend", b, "--role", "client", "--proto", proto, "--connect", \
    "127.0.0.1:PORT", "--CAfile", tp_pki("p256-root.pem")

/* No SNI: the server closes after the hello; with one it would go on. */
START_TEST(sni_missing_close)
{
    const char *b = backends[_i];
    const char *srv[] = {SRV(b, "tls"), "--on-sni-missing", "close", "--timeout", TP_HANG_MS, NULL};
    const char *cli[] = {CLI("openssl", "tls"), "--noservername", "--verify", "none",
                         "--timeout", TP_HANG_MS, NULL};
    json_t *s, *c;
    tp_pair(srv, cli, &s, &c);
    tp_expect_str(s, "handshake", "not-started");
    tp_expect_str(s, "closed_by", "self");
    tp_expect_str(s, "alert_sent", NULL);
    tp_expect_str(c, "handshake", "failed");
    json_decref(s);
    json_decref(c);
    const char *cli2[] = {CLI("gnutls", "tls"), "--servername", "test.local", "--timeout", TP_HANG_MS,
                          NULL};
    tp_pair(srv, cli2, &s, &c);
    tp_expect_str(s, "handshake", "ok");
    tp_expect_str(c, "handshake", "ok");
    json_decref(s);
    json_decref(c);
}
END_TEST

/* SNI NAME: a fatal alert (unrecognized_name unless named), and the SNI reported. */
START_TEST(sni_name_alert)
{
    const char *b = backends[_i];
    const char *srv[] = {SRV(b, "tls"), "--on-sni", "test.local:alert:access_denied",
                         "--timeout", TP_HANG_MS, NULL};
    const char *cli[] = {CLI("gnutls", "tls"), "--servername", "test.local", "--timeout", TP_HANG_MS,
                         NULL};
    json_t *s, *c;
    tp_pair(srv, cli, &s, &c);
    tp_expect_str(s, "alert_sent", "access_denied");
    tp_expect_str(s, "sni", "test.local");
    tp_expect_str(c, "alert_received", "access_denied");
    json_decref(s);
    json_decref(c);
}
END_TEST

/* serve=: the chain the SNI picks, in the backend's own callback: none → the
 * untrusted chain, other.local → the client chain, test.local → --cert. */
START_TEST(sni_serve_chain)
{
    const char *b = backends[_i];
    char missing[1400], other[1400];
    snprintf(missing, sizeof missing, "serve=%s,%s", tp_pki("p256-server-untrusted.fullchain.pem"),
             tp_pki("p256-server-untrusted.key.pem"));
    snprintf(other, sizeof other, "other.local:serve=%s,%s", tp_pki("p256-client.fullchain.pem"),
             tp_pki("p256-client.key.pem"));
    const char *srv[] = {SRV(b, "tls"), "--on-sni-missing", missing, "--on-sni", other,
                         "--timeout", TP_HANG_MS, NULL};
    const char *named[] = {CLI("openssl", "tls"), "--servername", "test.local",
                           "--timeout", TP_HANG_MS, NULL};
    const char *none[] = {CLI("gnutls", "tls"), "--noservername", "--verify", "none",
                          "--timeout", TP_HANG_MS, NULL};
    const char *oth[] = {CLI("openssl", "tls"), "--servername", "other.local", "--verify", "none",
                         "--max-version", "tls1.2", "--timeout", TP_HANG_MS, NULL};
    const char *const *clients[] = {named, none, oth};
    const char *want[] = {"p256-server", "p256-server-untrusted", "p256-client"};
    for (int i = 0; i < 3; i++) {
        json_t *s, *c;
        tp_pair(srv, clients[i], &s, &c);
        tp_expect_str(s, "handshake", "ok");
        tp_expect_str(c, "handshake", "ok");
        tp_expect_cert(c, want[i], i == 0);
        json_decref(s);
        json_decref(c);
    }
}
END_TEST

/* A renegotiation the other side refused: its warning no_renegotiation, then the
 * asking side's fatal handshake_failure (both backends end so). */
static void expect_refused(json_t *asked, json_t *refused)
{
    tp_expect_bool(asked, "renegotiated", 0);
    tp_expect_str(asked, "alert_received", "no_renegotiation");
    tp_expect_str(asked, "alert_sent", "handshake_failure");
    tp_expect_str(refused, "alert_sent", "no_renegotiation");
    tp_expect_str(refused, "alert_received", "handshake_failure");
    json_decref(asked);
    json_decref(refused);
}

/* --renegotiate, server: a HelloRequest after the handshake. OpenSSL's client takes
 * it (a second handshake, then the data); tlspeer's GnuTLS client refuses it with
 * the warning no_renegotiation, and the server ends with a fatal handshake_failure. */
START_TEST(renegotiate_server)
{
    const char *b = backends[_i];
    const char *srv[] = {SRV(b, "tls"), "--renegotiate", "--max-version", "tls1.2", "--send",
                         "after", "--timeout", TP_HANG_MS, NULL};
    const char *takes[] = {CLI("openssl", "tls"), "--servername", "test.local", "--expect",
                           "after", "--timeout", TP_HANG_MS, NULL};
    const char *refuses[] = {CLI("gnutls", "tls"), "--servername", "test.local", "--expect",
                             "after", "--timeout", TP_HANG_MS, NULL};
    json_t *s, *c;
    tp_pair(srv, takes, &s, &c);
    tp_expect_bool(s, "renegotiated", 1);
    tp_expect_bool(c, "data_ok", 1);
    json_decref(s);
    json_decref(c);
    tp_pair(srv, refuses, &s, &c);
    expect_refused(s, c);
}
END_TEST

/* --renegotiate, client: a new ClientHello, which an OpenSSL 3.0 server refuses
 * (client-initiated renegotiation is off by default); the client then ends with a
 * fatal handshake_failure. TLS 1.3 has no renegotiation: a result error. */
START_TEST(renegotiate_client)
{
    const char *b = backends[_i];
    const char *srv[] = {SRV("openssl", "tls"), "--expect", "x", "--timeout", TP_HANG_MS, NULL};
    const char *cli[] = {CLI(b, "tls"), "--servername", "test.local", "--renegotiate",
                         "--max-version", "tls1.2", "--timeout", TP_HANG_MS, NULL};
    const char *cli13[] = {CLI(b, "tls"), "--servername", "test.local", "--renegotiate",
                           "--timeout", TP_HANG_MS, NULL};
    json_t *s, *c;
    tp_pair(srv, cli, &s, &c);
    expect_refused(c, s);
    tp_pair(srv, cli13, &s, &c);
    tp_expect_str(c, "handshake", "ok");
    tp_expect_bool(c, "renegotiated", -1);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_object_get(c, "error"),
                                                                   "text")), "TLS 1.2 only"));
    json_decref(s);
    json_decref(c);
}
END_TEST

/* ---- a DTLS 1.2 client the test plays itself, one datagram at a time: real
 * clients drop a second HelloVerifyRequest and resend only on their timers, so
 * what a cookie mode does is seen here by event, each reply awaited in turn. */

#define HS_SERVER_HELLO 2
#define HS_HELLO_VERIFY 3

/* A UDP socket connected to the server on loopback. */
static int dtls_socket(int port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static size_t put16(unsigned char *p, size_t at, unsigned v)
{
    p[at] = (unsigned char)(v >> 8);
    p[at + 1] = (unsigned char)v;
    return at + 2;
}

/* A ClientHello for ECDHE-ECDSA/RSA with AES-GCM on P-256, carrying cookie (clen 0:
 * none), record sequence number seq (epoch 0). Its message_seq is 0 without a
 * cookie and 1 with one, as a client's second ClientHello has (RFC 6347 4.2.2; a
 * client that answered a further HelloVerifyRequest would resend that one). */
static void send_client_hello(int fd, unsigned seq, const unsigned char *cookie, size_t clen)
{
    static const unsigned char suites[] = { 0xc0, 0x2b, 0xc0, 0x2c, 0xc0, 0x2f };
    static const unsigned char ext[] = {
        0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x17,               /* groups: P-256 */
        0x00, 0x0b, 0x00, 0x02, 0x01, 0x00,                           /* points: uncompressed */
        0x00, 0x0d, 0x00, 0x08, 0x00, 0x06, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01, /* sigalgs */
        0xff, 0x01, 0x00, 0x01, 0x00,                                 /* renegotiation_info */
    };
    unsigned char m[512];
    size_t b = 25;                         /* after the record and handshake headers */
    b = put16(m, b, 0xfefd);               /* DTLS 1.2 */
    for (int i = 0; i < 32; i++)
        m[b++] = (unsigned char)(i * 7 + 1);   /* random */
    m[b++] = 0;                            /* no session id */
    m[b++] = (unsigned char)clen;
    memcpy(m + b, cookie, clen);
    b += clen;
    b = put16(m, b, sizeof suites);
    memcpy(m + b, suites, sizeof suites);
    b += sizeof suites;
    m[b++] = 1;                            /* compression: null only */
    m[b++] = 0;
    b = put16(m, b, sizeof ext);
    memcpy(m + b, ext, sizeof ext);
    b += sizeof ext;
    size_t body = b - 25;
    m[0] = 22;                             /* record: handshake, DTLS 1.2, epoch 0 */
    put16(m, 1, 0xfefd);
    memset(m + 3, 0, 8);
    put16(m, 9, seq);
    put16(m, 11, (unsigned)(b - 13));
    m[13] = 1;                             /* ClientHello, unfragmented */
    m[14] = 0;
    put16(m, 15, (unsigned)body);
    put16(m, 17, clen > 0);
    memset(m + 19, 0, 3);
    m[22] = 0;
    put16(m, 23, (unsigned)body);
    ck_assert_int_eq(send(fd, m, b, 0), (ssize_t)b);
}

/* A fatal handshake_failure alert in epoch 0, record sequence number seq. */
static void send_fatal_alert(int fd, unsigned seq)
{
    unsigned char m[15] = { 21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 40 };
    put16(m, 9, seq);
    ck_assert_int_eq(send(fd, m, sizeof m, 0), (ssize_t)sizeof m);
}

/* The next datagram (a hang guard only): the type of the handshake message it
 * starts with, and the cookie when that is a HelloVerifyRequest. */
static int server_reply(int fd, unsigned char cookie[256], size_t *clen)
{
    unsigned char d[16384];
    struct pollfd p = { .fd = fd, .events = POLLIN };
    ck_assert_msg(poll(&p, 1, TP_WAIT_MS) == 1, "no reply from the server (hang)");
    ssize_t n = recv(fd, d, sizeof d, 0);
    ck_assert_msg(n >= 26 && d[0] == 22, "not a handshake record (%zd bytes, type %d)", n,
                  n > 0 ? d[0] : -1);
    *clen = 0;
    if (d[13] == HS_HELLO_VERIFY) {
        ck_assert_msg(n >= 28 + d[27], "HelloVerifyRequest of %zd bytes", n);
        *clen = d[27];
        memcpy(cookie, d + 28, *clen);
    }
    return d[13];
}

/* A DTLS server of backend b in cookie mode, and a socket of the test's client
 * connected to it. */
static int cookie_server(const char *b, const char *mode, struct tp_proc *s)
{
    const char *srv[] = {SRV(b, "dtls"), "--cookie", mode, "--timeout", TP_HANG_MS, NULL};
    tp_peer_start(s, srv, 0);
    return dtls_socket(s->port);
}

/* A ClientHello (record seq, with cookie in/ilen) and the handshake message type
 * of the reply, its cookie into out/olen. */
static int hello_round(int fd, unsigned seq, const unsigned char *in, size_t ilen,
                       unsigned char out[256], size_t *olen)
{
    send_client_hello(fd, seq, in, ilen);
    return server_reply(fd, out, olen);
}

/* --cookie never: every ClientHello gets a HelloVerifyRequest, also the ones that
 * carry the cookie just received; no ServerHello ever comes. Three rounds. */
START_TEST(cookie_never)
{
    struct tp_proc s;
    int fd = cookie_server(backends[_i], "never", &s);
    unsigned char cookie[256], last[256];
    size_t clen = 0;
    for (unsigned round = 0; round < 3; round++) {
        memcpy(last, cookie, clen);
        int type = hello_round(fd, round, last, clen, cookie, &clen);
        ck_assert_msg(type == HS_HELLO_VERIFY, "ClientHello %u (cookie of %s) answered by "
                      "handshake message %d, not a HelloVerifyRequest", round + 1,
                      round ? "the last HelloVerifyRequest" : "none", type);
        ck_assert_msg(clen > 0, "HelloVerifyRequest %u without a cookie", round + 1);
    }
    close(fd);
    tp_proc_end(&s);   /* it would go on refusing until its deadline */
}
END_TEST

/* --cookie changing (a load balancer whose nodes do not share the cookie secret):
 * the first cookie sent back is refused with a second HelloVerifyRequest whose
 * cookie differs; that second cookie is accepted and the ServerHello follows. A
 * fatal alert from the test then ends the server's handshake, and its result
 * counts the two HelloVerifyRequests. */
START_TEST(cookie_changing)
{
    struct tp_proc s;
    int fd = cookie_server(backends[_i], "changing", &s);
    unsigned char first[256], second[256], none[256];
    size_t flen, slen, n;
    ck_assert_int_eq(hello_round(fd, 0, none, 0, first, &flen), HS_HELLO_VERIFY);
    ck_assert_int_eq(hello_round(fd, 1, first, flen, second, &slen), HS_HELLO_VERIFY);
    ck_assert_msg(flen > 0 && slen > 0 && (flen != slen || memcmp(first, second, flen) != 0),
                  "the second cookie repeats the first (%zu bytes)", flen);
    int type = hello_round(fd, 2, second, slen, none, &n);
    ck_assert_msg(type == HS_SERVER_HELLO, "the second cookie was answered by handshake "
                  "message %d, not a ServerHello", type);
    send_fatal_alert(fd, 3);
    json_t *r = tp_peer_result(&s, TP_WAIT_MS);
    close(fd);
    tp_expect_int(r, "hello_verify_requests", 2);
    tp_expect_str(r, "handshake", "failed");
    tp_expect_str(r, "alert_received", "handshake_failure");
    json_decref(r);
}
END_TEST

/* The records of one direction and handshake message in a udpproxy log
 * ("<ms> <dir> <type> <size> <action>" lines), in order: their sizes (at most max)
 * and their count. */
static int log_records(const char *log, const char *dir_type, long *sizes, int max)
{
    unsigned char *text = NULL;
    size_t len = 0;
    ck_assert_msg(tm_read_file(log, &text, &len, NULL) == 0, "no %s", log);
    int n = 0;
    for (char *save = NULL, *l = strtok_r((char *)text, "\n", &save); l != NULL;
         l = strtok_r(NULL, "\n", &save)) {
        const char *at = strstr(l, dir_type);
        if (at == NULL || at[strlen(dir_type)] != ' ')
            continue;
        if (n < max)
            sizes[n] = strtol(at + strlen(dir_type) + 1, NULL, 10);
        n++;
    }
    free(text);
    return n;
}

/* What the device does against --cookie changing (docs/device-model.md §1.8), the
 * catalog's dtls-client-net-changing-cookie with a logging proxy added, on both
 * peer stacks: it answers the first HelloVerifyRequest with a ClientHello that
 * carries the cookie, drops the second HelloVerifyRequest (mbedTLS: out of
 * sequence) and, on a blocking socket, never sends again, until its own 2.5 s
 * socket timeout ends the handshake with OSError(110). Counted on the wire once
 * the device has answered: two ClientHellos, two HelloVerifyRequests, nothing else. */
START_TEST(cookie_changing_device)
{
    if (access(TLSMATRIX, X_OK) != 0 || access(VCAM, X_OK) != 0) {
        fprintf(stderr, "skipped: %s or %s not built\n", TLSMATRIX, VCAM);
        return;
    }
    char scen[700], report[700], out[700];
    snprintf(scen, sizeof scen, "%s/tp-changing-cookie.yaml", tp_dir());
    snprintf(report, sizeof report, "%s/report", tp_dir());
    snprintf(out, sizeof out, "%s/tlsmatrix.out", tp_dir());
    const char *text =
        "name: tp-changing-cookie\n"
        "doc: the device against a server whose cookie changes once, through a logging proxy\n"
        "tags: [dtls, client]\n"
        "device: {role: client, layer: tls, verify: required, ca: [\"{kt}-root.der\"],\n"
        "         server_hostname: test.local, options: {timeout_ms: 2500}}\n"
        "peer: {cert: [\"{kt}-server.der\", \"{kt}-int.der\"], key: \"{kt}-server.key.der\",\n"
        "       cookie: changing, args: [--timeout, \"3000\"]}\n"
        "proxy: {drop: 0, seed: 1}\n"
        "axes: {backend: [openssl, gnutls], keytype: [p256], proto: [dtls]}\n"
        "expect: {device: timeout, peer: timeout}\n";
    ck_assert_int_eq(tm_write_file(scen, text, strlen(text), 0644, NULL), 0);
    char *argv[] = {TLSMATRIX, "run", "--scenarios", scen, "--report", report, "--device",
                    "virtual", "--retries", "0", NULL};
    struct tm_err err = {0};
    int rc = tm_proc_run(argv, out, tm_deadline_in(TP_WAIT_MS * 3), &err);
    ck_assert_msg(err.code != TM_E_TIMEOUT, "tlsmatrix did not finish (hang)");
    char path[800];
    snprintf(path, sizeof path, "%s/run.json", report);
    json_t *run = json_load_file(path, 0, NULL);
    if (rc != 0 || run == NULL) {
        unsigned char *said = NULL;
        size_t len = 0;
        tm_read_file(out, &said, &len, NULL);
        ck_abort_msg("exit %d:\n%.3000s", rc, said ? (char *)said : "");
    }
    const json_t *cases = json_object_get(run, "cases");
    ck_assert_uint_eq(json_array_size(cases), 2);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *id = json_string_value(json_object_get(c, "id"));
        ck_assert_msg(strcmp(json_string_value(json_object_get(c, "verdict")), "pass") == 0,
                      "%s: %s", id, json_string_value(json_object_get(c, "reason")));
        ck_assert_int_eq(json_integer_value(json_object_get(c, "attempts")), 1);
        ck_assert(json_is_false(json_object_get(c, "flaky")));
        tp_expect_int(json_object_get(c, "peer_result"), "hello_verify_requests", 2);
        const json_t *reply = json_object_get(c, "device_reply");
        const json_t *exc = json_object_get(reply, "exc");
        ck_assert_str_eq(json_string_value(json_object_get(reply, "stage")), "handshake");
        ck_assert_str_eq(json_string_value(json_object_get(exc, "type")), "OSError");
        ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(exc, "args"), 0)), 110);
        snprintf(path, sizeof path, "%s/%s/proxy.log", report,
                 json_string_value(json_object_get(c, "bundle")));
        long hello[4], hvr[4], other[4];
        int nh = log_records(path, "c2s handshake/client_hello", hello, 4);
        int nv = log_records(path, "s2c handshake/hello_verify_request", hvr, 4);
        ck_assert_msg(nh == 2 && nv == 2, "%s: %d ClientHellos, %d HelloVerifyRequests (%s)", id,
                      nh, nv, path);
        ck_assert_msg(hello[1] > hello[0], "%s: the second ClientHello (%ld bytes) carries no "
                      "cookie (the first: %ld)", id, hello[1], hello[0]);
        ck_assert_msg(log_records(path, "c2s", other, 4) == 2, "%s: the device sent more than "
                      "its two ClientHellos (%s)", id, path);
    }
    json_decref(run);
}
END_TEST

/* --close-after: the payload is cut at N bytes and close_notify follows. */
START_TEST(close_after_bytes)
{
    const char *b = backends[_i];
    const char *srv[] = {SRV(b, "tls"), "--send-size", "1000", "--close-after", "300",
                         "--timeout", TP_HANG_MS, NULL};
    const char *cli[] = {CLI("openssl", "tls"), "--servername", "test.local", "--expect-size",
                         "1000", "--timeout", TP_HANG_MS, NULL};
    json_t *s, *c;
    tp_pair(srv, cli, &s, &c);
    tp_expect_int(s, "bytes_sent", 300);
    tp_expect_int(c, "bytes_received", 300);
    tp_expect_bool(c, "data_ok", 0);
    tp_expect_str(c, "closed_by", "peer");
    json_decref(s);
    json_decref(c);
}
END_TEST

/* --close silent: the server sends its data and then nothing, until its deadline;
 * the client waiting for more meets its own deadline. */
START_TEST(close_silent)
{
    const char *b = backends[_i];
    /* The server's deadline is far off (it ends when the client closes), so the
     * client's own 1.5 s always comes first, however late the client starts. */
    const char *srv[] = {SRV(b, "tls"), "--send", "hello", "--close", "silent",
                         "--timeout", TP_HANG_MS, NULL};
    const char *cli[] = {CLI("openssl", "tls"), "--servername", "test.local", "--expect-size",
                         "100", "--timeout", "1500", NULL};
    json_t *s, *c;
    tp_pair(srv, cli, &s, &c);
    tp_expect_int(c, "bytes_received", 5);
    tp_expect_bool(c, "data_ok", 0);
    const char *text = json_string_value(json_object_get(json_object_get(c, "error"), "text"));
    ck_assert_msg(text && strstr(text, "deadline"), "client error: %s", text);
    json_decref(s);
    json_decref(c);
}
END_TEST

/* --close half: after its data the server ends its direction with a bare FIN (no
 * close_notify) and reads on: the client meets the end of the stream long before
 * its deadline, and the server sees the client close (silent would leave both open). */
START_TEST(close_half)
{
    const char *b = backends[_i];
    const char *srv[] = {SRV(b, "tls"), "--send", "hello", "--close", "half",
                         "--timeout", TP_HANG_MS, NULL};
    const char *cli[] = {CLI("gnutls", "tls"), "--servername", "test.local", "--expect-size",
                         "100", "--timeout", TP_HANG_MS, NULL};
    json_t *s, *c;
    tp_pair(srv, cli, &s, &c);
    tp_expect_int(c, "bytes_received", 5);
    tp_expect_bool(c, "data_ok", 0);
    tp_expect_str(c, "closed_by", "peer");
    tp_expect_str(c, "alert_received", NULL);   /* a FIN, no close_notify */
    tp_expect_str(s, "closed_by", "peer");
    json_decref(s);
    json_decref(c);
}
END_TEST

/* --app-record 10: 1000 bytes go in 100 records, which tcpproxy counts. */
START_TEST(small_app_records)
{
    const char *b = backends[_i];
    const char *srv[] = {SRV(b, "tls"), "--send-size", "1000", "--app-record", "10",
                         "--max-version", "tls1.2", "--timeout", TP_HANG_MS, NULL};
    char log[600], server[64];
    snprintf(log, sizeof log, "%s/proxy.log", tp_dir());
    struct tp_proc s, x, c;
    tp_peer_start(&s, srv, 0);
    snprintf(server, sizeof server, "127.0.0.1:%d", s.port);
    const char *xargv[] = {TM_BIN_DIR "/tcpproxy", "--server", server, "--log", log,
                           "--timeout", "45000", NULL};
    tp_tool_start(&x, xargv);
    char *line = NULL;
    ck_assert(tp_tool_wait_line(&x, "\"ready\"", TP_WAIT_MS, &line));
    json_t *ready = json_loads(line, 0, NULL);
    free(line);
    const char *cli[] = {CLI("openssl", "tls"), "--servername", "test.local", "--expect-size",
                         "1000", "--timeout", TP_HANG_MS, NULL};
    tp_peer_start(&c, cli, (int)json_integer_value(json_object_get(ready, "port")));
    json_decref(ready);
    json_t *cres = tp_peer_result(&c, TP_WAIT_MS), *sres = tp_peer_result(&s, TP_WAIT_MS);
    tp_proc_end(&x);
    tp_expect_bool(cres, "data_ok", 1);
    unsigned char *text = NULL;
    size_t len = 0;
    ck_assert_int_eq(tm_read_file(log, &text, &len, NULL), 0);
    int records = 0;
    for (const char *p = (char *)text; (p = strstr(p, "s2c application_data")) != NULL; p++)
        records++;
    ck_assert_msg(records >= 100, "%d application-data records:\n%s", records, text);
    free(text);
    json_decref(cres);
    json_decref(sres);
}
END_TEST

START_TEST(bad_values)
{
    const char *b = backends[_i];
    char mismatch[700];   /* a serve= chain whose key (--key by default) is not its own */
    snprintf(mismatch, sizeof mismatch, "serve=%s", tp_pki("p256-server-untrusted.fullchain.pem"));
    struct { const char *flag, *value, *needle; } rows[] = {
        {"--on-sni-missing", "explode", "--on-sni-missing"},
        {"--on-sni", "test.local", "NAME:ACTION"},
        {"--on-sni", "test.local:alert:nonsense", "--on-sni"},
        {"--on-sni", "test.local:serve=", "serve=CHAINFILE"},
        {"--on-sni-missing", "serve=a.pem,", "serve=CHAINFILE"},
        {"--on-sni-missing", "serve=/nonexistent/chain.pem", "/nonexistent/chain.pem"},
        {"--on-sni-missing", mismatch, "--on-sni-missing serve="},
        {"--app-record", "0", "--app-record"},
        {"--close", "later", "--close"},
        {"--cookie", "sometimes", "--cookie"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *args[] = {SRV(b, "tls"), rows[i].flag, rows[i].value, NULL};
        struct tp_proc p;
        tp_peer_spawn(&p, args, 0);
        ck_assert(tm_proc_wait(&p.proc, tm_deadline_in(TP_WAIT_MS)) == 0);
        ck_assert_int_eq(tm_proc_exit_code(&p.proc), 2);
        unsigned char *err = NULL;
        size_t len = 0;
        tm_read_file(p.err_path, &err, &len, NULL);
        ck_assert_msg(err && strstr((char *)err, rows[i].needle), "%s %s: %s", rows[i].flag,
                      rows[i].value, err);
        free(err);
        tp_proc_end(&p);
    }
    /* The cookie modes are for DTLS servers, the SNI actions for TLS servers. */
    const char *a1[] = {SRV(b, "tls"), "--cookie", "never", NULL};
    const char *a2[] = {SRV(b, "dtls"), "--on-sni-missing", "close", NULL};
    const char *const *cases[] = {a1, a2};
    for (int i = 0; i < 2; i++) {
        struct tp_proc p;
        tp_peer_spawn(&p, cases[i], 0);
        ck_assert(tm_proc_wait(&p.proc, tm_deadline_in(TP_WAIT_MS)) == 0);
        ck_assert_int_eq(tm_proc_exit_code(&p.proc), 2);
        tp_proc_end(&p);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tlspeer_net");
    TCase *tc = tcase_create("net");
    tcase_set_timeout(tc, 120);   /* a hang guard above TP_WAIT_MS */
    tcase_add_unchecked_fixture(tc, tp_pki_setup, tp_pki_teardown);
    tcase_add_checked_fixture(tc, tp_dir_setup, tp_dir_teardown);
    tcase_add_loop_test(tc, sni_missing_close, 0, 2);
    tcase_add_loop_test(tc, sni_name_alert, 0, 2);
    tcase_add_loop_test(tc, sni_serve_chain, 0, 2);
    tcase_add_loop_test(tc, renegotiate_server, 0, 2);
    tcase_add_loop_test(tc, renegotiate_client, 0, 2);
    tcase_add_loop_test(tc, cookie_never, 0, 2);
    tcase_add_loop_test(tc, cookie_changing, 0, 2);
    tcase_add_test(tc, cookie_changing_device);
    tcase_add_loop_test(tc, close_after_bytes, 0, 2);
    tcase_add_loop_test(tc, close_silent, 0, 2);
    tcase_add_loop_test(tc, close_half, 0, 2);
    tcase_add_loop_test(tc, small_app_records, 0, 2);
    tcase_add_loop_test(tc, bad_values, 0, 2);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
