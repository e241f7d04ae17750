/* OpenSSL backend: one SSL per connection, non-blocking steps, and the report. */
#include <errno.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "peer_openssl.h"

void *peer_ossl_config_new(const struct peer_opts *o, const struct peer_pki *pki,
                           struct tm_err *err);
void peer_ossl_config_free(void *cfg);

static SSL *ssl_of(struct peer_conn *c)
{
    return c->sess;
}

/* Count HelloVerifyRequests a DTLS client receives. */
static void msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
    const unsigned char *b = buf;
    if (!write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
        b[0] == DTLS1_MT_HELLO_VERIFY_REQUEST)
        ossl_conn(ssl)->res->hello_verify++;
}

/* --dtls-timeout: first retransmission after MS, doubling up to 60 s (RFC 6347). */
static unsigned int timer_cb(SSL *ssl, unsigned int timer_us)
{
    unsigned int first = (unsigned int)ossl_conn(ssl)->o->dtls_timeout_ms * 1000u;
    if (timer_us == 0)
        return first;
    return timer_us >= 30000000u ? 60000000u : timer_us * 2;
}

static int session_new(struct peer_conn *c, struct tm_err *err)
{
    struct ossl_cfg *cfg = c->cfg;
    const struct peer_opts *o = c->o;
    SSL *ssl = SSL_new(cfg->ctx);
    if (ssl == NULL)
        return tm_err_set(err, "SSL_new failed");
    c->sess = ssl;
    SSL_set_app_data(ssl, c);
    if (o->proto == PEER_DTLS) {
        BIO *bio = BIO_new_dgram(c->fd, BIO_NOCLOSE);
        BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, &c->addr);
        SSL_set_bio(ssl, bio, bio);
        if (o->mtu) {
            SSL_set_options(ssl, SSL_OP_NO_QUERY_MTU);
            DTLS_set_link_mtu(ssl, o->mtu);
        }
        if (o->dtls_timeout_ms)
            DTLS_set_timer_cb(ssl, timer_cb);
        if (o->role == PEER_SERVER && o->cookie)
            SSL_set_options(ssl, SSL_OP_COOKIE_EXCHANGE);
        if (o->role == PEER_CLIENT)
            SSL_set_msg_callback(ssl, msg_cb);
    } else {
        SSL_set_fd(ssl, c->fd);
    }
    if (o->role == PEER_SERVER) {
        SSL_set_accept_state(ssl);
        return 0;
    }
    SSL_set_connect_state(ssl);
    if (o->servername && !SSL_set_tlsext_host_name(ssl, o->servername))
        return tm_err_set(err, "--servername %s: rejected by OpenSSL", o->servername);
    if (o->servername)
        SSL_set1_host(ssl, o->servername);
    return 0;
}

/* Map the outcome of an SSL call; on failure the first error is recorded. */
static enum peer_io status(struct peer_conn *c, int ret)
{
    int e = SSL_get_error(ssl_of(c), ret);
    unsigned long code = ERR_peek_error();
    char text[256];
    switch (e) {
    case SSL_ERROR_NONE: return PEER_IO_DONE;
    case SSL_ERROR_WANT_READ: return PEER_IO_WANT_READ;
    case SSL_ERROR_WANT_WRITE: return PEER_IO_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN: return PEER_IO_EOF;   /* close_notify */
    case SSL_ERROR_SYSCALL:
        if (code == 0) {
            int en = errno;
            peer_result_error(c->res, en, "%s", en ? strerror(en) : "unexpected EOF");
            ERR_clear_error();
            return en == 0 || en == ECONNRESET ? PEER_IO_EOF : PEER_IO_ERROR;
        }
        /* fall through */
    default:
        ERR_error_string_n(code, text, sizeof text);
        peer_result_error(c->res, (long long)code, "%s", text);
        ERR_clear_error();
        return ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING ? PEER_IO_EOF
                                                                          : PEER_IO_ERROR;
    }
}

static enum peer_io cookie_step(struct peer_conn *c)
{
    BIO_ADDR *from = BIO_ADDR_new();
    int r = DTLSv1_listen(ssl_of(c), from);
    BIO_ADDR_free(from);
    if (r > 0)
        return PEER_IO_DONE;
    if (r == 0)
        return PEER_IO_WANT_READ;   /* nothing, or a HelloVerifyRequest was sent */
    return status(c, r);
}

static enum peer_io handshake(struct peer_conn *c)
{
    return status(c, SSL_do_handshake(ssl_of(c)));
}

static enum peer_io do_read(struct peer_conn *c, void *buf, size_t len, size_t *n)
{
    return status(c, SSL_read_ex(ssl_of(c), buf, len, n));
}

static enum peer_io do_write(struct peer_conn *c, const void *buf, size_t len, size_t *n)
{
    return status(c, SSL_write_ex(ssl_of(c), buf, len, n));
}

static enum peer_io do_shutdown(struct peer_conn *c)
{
    int r = SSL_shutdown(ssl_of(c));
    if (r >= 0)
        return PEER_IO_DONE;   /* 0: sent, the peer's close_notify is not awaited here */
    int e = SSL_get_error(ssl_of(c), r);
    ERR_clear_error();
    return e == SSL_ERROR_WANT_WRITE ? PEER_IO_WANT_WRITE : PEER_IO_DONE;
}

/* SSL_renegotiate, then drive it. A server's HelloRequest goes out at once and the
 * client's answer comes through a read: application data read meanwhile is counted
 * and dropped. A refusal (warning no_renegotiation) makes OpenSSL end the connection
 * with a fatal handshake_failure itself. */
static enum peer_io renegotiate(struct peer_conn *c, int first)
{
    SSL *ssl = ssl_of(c);
    unsigned char buf[4096];
    if (first && !SSL_renegotiate(ssl))
        return status(c, 0);
    enum peer_io st = status(c, SSL_do_handshake(ssl));
    for (int i = 0; st == PEER_IO_DONE && SSL_renegotiate_pending(ssl) && i < 64; i++) {
        size_t n = 0;   /* bounded: each pass takes a record OpenSSL has, or waits */
        st = status(c, SSL_read_ex(ssl, buf, sizeof buf, &n));
        c->res->bytes_received += (long long)n;
    }
    if (st == PEER_IO_DONE || st == PEER_IO_WANT_READ)
        return SSL_renegotiate_pending(ssl) ? PEER_IO_WANT_READ : PEER_IO_DONE;
    return st;
}

static long timer_ms(struct peer_conn *c)
{
    struct timeval tv;
    if (c->o->proto != PEER_DTLS || !DTLSv1_get_timeout(ssl_of(c), &tv))
        return -1;
    return (long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void timer_expired(struct peer_conn *c)
{
    DTLSv1_handle_timeout(ssl_of(c));
}

static void session_free(struct peer_conn *c)
{
    SSL_free(ssl_of(c));
    c->sess = NULL;
}

const struct peer_backend peer_backend_openssl = {
    .name = "openssl",
    .config_new = peer_ossl_config_new,
    .config_free = peer_ossl_config_free,
    .session_new = session_new,
    .cookie_step = cookie_step,
    .handshake = handshake,
    .read = do_read,
    .write = do_write,
    .shutdown = do_shutdown,
    .renegotiate = renegotiate,
    .timer_ms = timer_ms,
    .timer_expired = timer_expired,
    .report = peer_ossl_report,
    .session_free = session_free,
};
