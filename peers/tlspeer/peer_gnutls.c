/* GnuTLS backend: one non-blocking session per connection, and the report. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <gnutls/dtls.h>
#include <gnutls/x509.h>

#include "peer_gnutls.h"

void *peer_gtls_config_new(const struct peer_opts *o, const struct peer_pki *pki,
                           struct tm_err *err);
void peer_gtls_config_free(void *cfg);

#define GTLS_DTLS_POLL_MS 20

static gnutls_session_t sess_of(struct peer_conn *c)
{
    return ((struct gtls_sess *)c->sess)->s;
}

static int keylog_fn(gnutls_session_t s, const char *label, const gnutls_datum_t *secret)
{
    struct peer_conn *c = gnutls_session_get_ptr(s);
    FILE *f = ((struct gtls_cfg *)c->cfg)->keylog;
    gnutls_datum_t crand, srand;
    gnutls_session_get_random(s, &crand, &srand);
    fprintf(f, "%s ", label);
    for (unsigned i = 0; i < crand.size; i++)
        fprintf(f, "%02x", crand.data[i]);
    fputc(' ', f);
    for (unsigned i = 0; i < secret->size; i++)
        fprintf(f, "%02x", secret->data[i]);
    fputc('\n', f);
    fflush(f);
    return 0;
}

/* Server: record the SNI; with --expect-servername refuse a mismatch
 * (GNUTLS_E_UNRECOGNIZED_NAME becomes the unrecognized_name alert); present a
 * serve= chain. Called with or without an SNI. */
static int client_hello_fn(gnutls_session_t s)
{
    struct peer_conn *c = gnutls_session_get_ptr(s);
    const struct peer_opts *o = c->o;
    char name[256];
    size_t len = sizeof name;
    unsigned type = 0;
    int rc = gnutls_server_name_get(s, name, &len, &type, 0);
    int have = rc == 0 && type == GNUTLS_NAME_DNS;
    if (have) {
        snprintf(c->res->sni, sizeof c->res->sni, "%s", name);
        c->res->has_sni = 1;
    }
    if (o->expect_servername && o->sni_reject &&
        (!have || strcmp(name, o->expect_servername) != 0))
        return GNUTLS_E_UNRECOGNIZED_NAME;
    /* serve=: the certificate is picked after this call, from these credentials. */
    struct gtls_cfg *cfg = c->cfg;
    int alert = 0;
    enum peer_chain_id id;
    if (peer_sni_action(o, have ? name : NULL, &alert, &id) == PEER_SNI_SERVE) {
        int set = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cfg->serve_cred[id]);
        if (set < 0)
            return set;
    }
    /* The version is settled before this call, the suite not yet: a TLS 1.2
     * handshake chooses from --ciphers alone (peer_gnutls_prio.c). */
    if (cfg->prio12 != NULL && gnutls_protocol_get_version(s) == GNUTLS_TLS1_2)
        return gnutls_priority_set(s, cfg->prio12);
    return 0;
}

/* The cipher suite id of a ServerHello (with or without its 4-byte header). */
static int server_hello_suite(const gnutls_datum_t *msg, unsigned char id[2])
{
    const unsigned char *b = msg->data;
    size_t n = msg->size;
    if (n >= 4 && b[0] == 2 && ((size_t)b[1] << 16 | (size_t)b[2] << 8 | b[3]) == n - 4) {
        b += 4;
        n -= 4;
    }
    if (n < 35 || n < 35u + b[34] + 2)
        return -1;
    memcpy(id, b + 35 + b[34], 2);
    return 0;
}

/* Client: its one ClientHello offers TLS 1.3 too, so with --ciphers it cannot
 * avoid offering unlisted TLS 1.2 suites; refuse the server's choice of one. The
 * suite is read from the message: the session reports it only once it is in use. */
static int server_hello_hook(gnutls_session_t s, unsigned htype, unsigned when,
                             unsigned incoming, const gnutls_datum_t *msg)
{
    struct peer_conn *c = gnutls_session_get_ptr(s);
    unsigned char id[2];
    if (!incoming || server_hello_suite(msg, id) != 0 || id[0] == 0x13   /* TLS 1.3 */
        || peer_gtls_suite_listed(c->o, id))
        return 0;
    const char *name = peer_cipher_iana(id);
    peer_result_error(c->res, GNUTLS_E_UNKNOWN_CIPHER_SUITE,
                      "the server chose %s, which is not in --ciphers", name ? name : "a suite");
    return GNUTLS_E_UNKNOWN_CIPHER_SUITE;
}

static int hvr_hook(gnutls_session_t s, unsigned htype, unsigned when, unsigned incoming,
                    const gnutls_datum_t *msg)
{
    struct peer_conn *c = gnutls_session_get_ptr(s);
    if (incoming)
        c->res->hello_verify++;
    return 0;
}

static void setup_server(struct peer_conn *c, gnutls_session_t s)
{
    const struct peer_opts *o = c->o;
    struct gtls_cfg *cfg = c->cfg;
    gnutls_certificate_request_t req = o->verify == PEER_VERIFY_REQUIRE ? GNUTLS_CERT_REQUIRE
                                     : o->verify == PEER_VERIFY_OPTIONAL ? GNUTLS_CERT_REQUEST
                                     : GNUTLS_CERT_IGNORE;
    gnutls_certificate_server_set_request(s, req);
    if (o->verify == PEER_VERIFY_REQUIRE)
        gnutls_session_set_verify_cert(s, NULL, 0);
    /* --renegotiate: no tickets, as GnuTLS 3.7 fails (UNAVAILABLE_DURING_HANDSHAKE)
     * when a renegotiation resumes the session by ticket and it issues a new one. */
    if (!o->no_tickets && !o->renegotiate)
        gnutls_session_ticket_enable_server(s, &cfg->ticket_key);
    gnutls_handshake_set_post_client_hello_function(s, client_hello_fn);
}

static void setup_client(struct peer_conn *c, gnutls_session_t s)
{
    const struct peer_opts *o = c->o;
    if (o->servername)
        gnutls_server_name_set(s, GNUTLS_NAME_DNS, o->servername, strlen(o->servername));
    if (o->ciphers && o->proto == PEER_TLS)
        gnutls_handshake_set_hook_function(s, GNUTLS_HANDSHAKE_SERVER_HELLO, GNUTLS_HOOK_POST,
                                           server_hello_hook);
    if (o->verify == PEER_VERIFY_REQUIRE)
        gnutls_session_set_verify_cert(s, o->servername, 0);
    if (o->proto == PEER_DTLS)
        gnutls_handshake_set_hook_function(s, GNUTLS_HANDSHAKE_HELLO_VERIFY_REQUEST,
                                           GNUTLS_HOOK_POST, hvr_hook);
}

static void setup_common(struct peer_conn *c, gnutls_session_t s)
{
    const struct peer_opts *o = c->o;
    struct gtls_cfg *cfg = c->cfg;
    if (cfg->nalpn)
        gnutls_alpn_set_protocols(s, cfg->alpn, cfg->nalpn, o->role == PEER_SERVER
                                  ? GNUTLS_ALPN_SERVER_PRECEDENCE | GNUTLS_ALPN_MANDATORY : 0);
    if (o->proto == PEER_DTLS) {
        if (o->mtu)
            gnutls_dtls_set_mtu(s, (unsigned)o->mtu);
        /* Retransmit per --dtls-timeout; give up only at our own deadline. */
        gnutls_dtls_set_timeouts(s, o->dtls_timeout_ms ? (unsigned)o->dtls_timeout_ms : 1000,
                                 (unsigned)o->timeout_ms);
    }
    if (o->max_fragment || o->max_send_frag)
        gnutls_record_set_max_size(s, (size_t)(o->max_send_frag ? o->max_send_frag
                                                                : o->max_fragment));
    if (o->record_size_limit)
        gnutls_record_set_max_recv_size(s, (size_t)o->record_size_limit);
    if (cfg->keylog)
        gnutls_session_set_keylog_function(s, keylog_fn);
}

static int session_new(struct peer_conn *c, struct tm_err *err)
{
    const struct peer_opts *o = c->o;
    struct gtls_cfg *cfg = c->cfg;
    struct gtls_sess *gs = calloc(1, sizeof *gs);
    unsigned flags = (o->role == PEER_SERVER ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NONBLOCK |
                     (o->proto == PEER_DTLS ? GNUTLS_DATAGRAM : 0) |
                     (o->no_tickets ? GNUTLS_NO_TICKETS : 0);
    int rc;
    if (gs == NULL)
        return tm_err_set(err, "out of memory");
    c->sess = gs;
    if ((rc = gnutls_init(&gs->s, flags)) < 0)
        return tm_err_set(err, "gnutls_init: %s", gnutls_strerror(rc));
    gnutls_session_set_ptr(gs->s, c);
    gnutls_priority_set(gs->s, cfg->prio);
    gnutls_credentials_set(gs->s, GNUTLS_CRD_CERTIFICATE, cfg->cred);
    gnutls_transport_set_int(gs->s, c->fd);
    if (o->role == PEER_SERVER)
        setup_server(c, gs->s);
    else
        setup_client(c, gs->s);
    setup_common(c, gs->s);
    return 0;
}

/* UDP sends do not block: a DTLS session always waits for a datagram (the
 * direction GnuTLS reports after its own send would make us spin on POLLOUT). */
static enum peer_io again(struct peer_conn *c)
{
    if (c->o->proto == PEER_DTLS)
        return PEER_IO_WANT_READ;
    return gnutls_record_get_direction(sess_of(c)) ? PEER_IO_WANT_WRITE : PEER_IO_WANT_READ;
}

/* A fatal error: record it, note a received alert, or send the alert GnuTLS maps
 * the error to (GnuTLS leaves that to the application, as gnutls-cli/serv do). */
static enum peer_io fail(struct peer_conn *c, int rc)
{
    gnutls_session_t s = sess_of(c);
    peer_result_error(c->res, rc, "%s", gnutls_strerror(rc));
    if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED) {
        peer_result_alert(&c->res->alert_received, (int)gnutls_alert_get(s));
        return PEER_IO_ERROR;
    }
    if (rc == GNUTLS_E_PREMATURE_TERMINATION || rc == GNUTLS_E_PULL_ERROR ||
        rc == GNUTLS_E_PUSH_ERROR || rc == GNUTLS_E_TIMEDOUT)
        return rc == GNUTLS_E_PREMATURE_TERMINATION ? PEER_IO_EOF : PEER_IO_ERROR;
    int level = 0, alert = gnutls_error_to_alert(rc, &level);
    if (alert >= 0 && gnutls_alert_send(s, (gnutls_alert_level_t)level,
                                        (gnutls_alert_description_t)alert) >= 0)
        peer_result_alert(&c->res->alert_sent, alert);
    return PEER_IO_ERROR;
}

/* Errors that are not fatal: warning alerts are noted and the call is repeated. */
static int nonfatal(struct peer_conn *c, int rc)
{
    if (rc == GNUTLS_E_WARNING_ALERT_RECEIVED)
        peer_result_alert(&c->res->alert_received, (int)gnutls_alert_get(sess_of(c)));
    return rc != GNUTLS_E_AGAIN && rc != GNUTLS_E_INTERRUPTED && !gnutls_error_is_fatal(rc);
}

static enum peer_io handshake(struct peer_conn *c)
{
    for (int i = 0; i < 16; i++) {   /* repeat over warnings, a few at most */
        int rc = gnutls_handshake(sess_of(c));
        if (rc == 0) {
            ((struct gtls_sess *)c->sess)->hs_done = 1;
            return PEER_IO_DONE;
        }
        if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED)
            return again(c);
        if (!nonfatal(c, rc))
            return fail(c, rc);
    }
    return fail(c, GNUTLS_E_INTERNAL_ERROR);
}

/* Renegotiation requests are always refused with a no_renegotiation warning. */
static enum peer_io do_read(struct peer_conn *c, void *buf, size_t len, size_t *n)
{
    gnutls_session_t s = sess_of(c);
    for (int i = 0; i < 16; i++) {   /* repeat over warnings, a few at most */
        ssize_t rc = gnutls_record_recv(s, buf, len);
        if (rc > 0) {
            *n = (size_t)rc;
            return PEER_IO_DONE;
        }
        if (rc == 0)
            return PEER_IO_EOF;
        if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED)
            return again(c);
        if (rc == GNUTLS_E_REHANDSHAKE) {
            if (gnutls_alert_send(s, GNUTLS_AL_WARNING, GNUTLS_A_NO_RENEGOTIATION) >= 0)
                peer_result_alert(&c->res->alert_sent, GNUTLS_A_NO_RENEGOTIATION);
            continue;
        }
        if (!nonfatal(c, (int)rc))
            return fail(c, (int)rc);
    }
    return PEER_IO_WANT_READ;
}

static enum peer_io do_write(struct peer_conn *c, const void *buf, size_t len, size_t *n)
{
    /* DTLS: GnuTLS refuses a record that does not fit its datagram (EMSGSIZE). */
    if (c->o->proto == PEER_DTLS && c->o->misbehave != PEER_MB_BIG_RECORD) {
        size_t max = gnutls_dtls_get_data_mtu(sess_of(c));
        if (max > 0 && len > max)
            len = max;
    }
    ssize_t rc = gnutls_record_send(sess_of(c), buf, len);
    if (rc >= 0) {
        *n = (size_t)rc;
        return PEER_IO_DONE;
    }
    if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED)
        return again(c);
    return fail(c, (int)rc);
}

static enum peer_io do_shutdown(struct peer_conn *c)
{
    int rc = gnutls_bye(sess_of(c), GNUTLS_SHUT_WR);
    if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED)
        return again(c);
    return PEER_IO_DONE;
}

/* A refusal (warning no_renegotiation): end as OpenSSL does, with a fatal
 * handshake_failure, so both backends put the same bytes on the wire. */
static enum peer_io refused(struct peer_conn *c, int rc)
{
    peer_result_alert(&c->res->alert_received, GNUTLS_A_NO_RENEGOTIATION);
    if (gnutls_alert_send(sess_of(c), GNUTLS_AL_FATAL, GNUTLS_A_HANDSHAKE_FAILURE) >= 0)
        peer_result_alert(&c->res->alert_sent, GNUTLS_A_HANDSHAKE_FAILURE);
    peer_result_error(c->res, rc, "the peer refused the renegotiation (no_renegotiation)");
    return PEER_IO_ERROR;
}

/* Server: gnutls_rehandshake (HelloRequest), then gnutls_handshake waits for the
 * new ClientHello; client: gnutls_handshake on the open session sends one.
 * Application data that comes first is counted and dropped. */
static enum peer_io renegotiate(struct peer_conn *c, int first)
{
    struct gtls_sess *gs = c->sess;
    unsigned char buf[4096];
    if (first)
        gs->hello_request_sent = c->o->role != PEER_SERVER;   /* a client sends none */
    if (!gs->hello_request_sent) {
        int rc = gnutls_rehandshake(gs->s);
        if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED)
            return again(c);
        if (rc < 0)
            return fail(c, rc);
        gs->hello_request_sent = 1;
    }
    for (int i = 0; i < 64; i++) {   /* bounded: each pass takes a record or returns */
        int rc = gnutls_handshake(gs->s);
        if (rc == 0)
            return PEER_IO_DONE;
        if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED)
            return again(c);
        if (rc == GNUTLS_E_WARNING_ALERT_RECEIVED
            && gnutls_alert_get(gs->s) == GNUTLS_A_NO_RENEGOTIATION)
            return refused(c, rc);
        if (rc == GNUTLS_E_GOT_APPLICATION_DATA) {
            ssize_t n = gnutls_record_recv(gs->s, buf, sizeof buf);
            if (n > 0)
                c->res->bytes_received += n;
            continue;
        }
        if (!nonfatal(c, rc))
            return fail(c, rc);
    }
    return again(c);
}

static ssize_t cookie_push(gnutls_transport_ptr_t ptr, const void *buf, size_t len)
{
    return send((int)(intptr_t)ptr, buf, len, 0);
}

/* DTLS server: the first ClientHello without our cookie gets a HelloVerifyRequest
 * and is dropped; one with it is left in the socket for the handshake. */
static enum peer_io cookie_step(struct peer_conn *c)
{
    struct gtls_cfg *cfg = c->cfg;
    unsigned char buf[4096];
    gnutls_dtls_prestate_st pre;
    ssize_t n = recv(c->fd, buf, sizeof buf, MSG_PEEK);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return PEER_IO_WANT_READ;
        peer_result_error(c->res, errno, "recv: %s", strerror(errno));
        return PEER_IO_ERROR;
    }
    memset(&pre, 0, sizeof pre);
    int refuse = c->o->cookie == PEER_COOKIE_NEVER
                 || (c->o->cookie == PEER_COOKIE_CHANGING && c->res->hello_verify < 2);
    if (!refuse && gnutls_dtls_cookie_verify(&cfg->cookie_key, &c->addr, c->addrlen, buf,
                                             (size_t)n, &pre) == 0) {
        gnutls_dtls_prestate_set(sess_of(c), &pre);
        return PEER_IO_DONE;
    }
    recv(c->fd, buf, sizeof buf, 0);
    if (c->o->cookie >= PEER_COOKIE_CHANGING) {   /* a new key: every cookie differs */
        gnutls_free(cfg->cookie_key.data);
        cfg->cookie_key.data = NULL;
        if (gnutls_key_generate(&cfg->cookie_key, GNUTLS_COOKIE_KEY_SIZE) < 0) {
            peer_result_error(c->res, 0, "cookie key: out of memory");
            return PEER_IO_ERROR;
        }
    }
    gnutls_dtls_cookie_send(&cfg->cookie_key, &c->addr, c->addrlen, &pre,
                            (gnutls_transport_ptr_t)(intptr_t)c->fd, cookie_push);
    c->res->hello_verify++;
    return PEER_IO_WANT_READ;
}

static long timer_ms(struct peer_conn *c)
{
    if (c->o->proto != PEER_DTLS || ((struct gtls_sess *)c->sess)->hs_done)
        return -1;
    /* A non-blocking GnuTLS DTLS handshake can return GNUTLS_E_AGAIN with records
     * of the datagram it just read still buffered (e.g. NewSessionTicket, CCS and
     * Finished in one datagram); the socket then stays quiet until the peer
     * retransmits. Waking every 20 ms lets the next call process them. */
    long ms = (long)gnutls_dtls_get_timeout(sess_of(c));
    return ms < GTLS_DTLS_POLL_MS ? ms : GTLS_DTLS_POLL_MS;
}

static void timer_expired(struct peer_conn *c)
{
    /* Nothing to do: the next gnutls_handshake() call retransmits. */
}

static void session_free(struct peer_conn *c)
{
    struct gtls_sess *gs = c->sess;
    if (gs->s)
        gnutls_deinit(gs->s);
    free(gs);
    c->sess = NULL;
}

const struct peer_backend peer_backend_gnutls = {
    .name = "gnutls",
    .config_new = peer_gtls_config_new,
    .config_free = peer_gtls_config_free,
    .session_new = session_new,
    .cookie_step = cookie_step,
    .handshake = handshake,
    .read = do_read,
    .write = do_write,
    .shutdown = do_shutdown,
    .renegotiate = renegotiate,
    .timer_ms = timer_ms,
    .timer_expired = timer_expired,
    .report = peer_gtls_report,
    .session_free = session_free,
};
