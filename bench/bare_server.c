#include "bare_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

/* Longest wait for the next client; the client's own deadline is shorter. */
#define BARE_ACCEPT_WAIT_MS 15000

static int bind_loopback(int type, int port)
{
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int local_port(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    return ntohs(a.sin_port);
}

/* Serve one connection on an established fd: handshake, drain until the client
 * closes, then free. Returns 1 when the handshake completed. */
static int serve_one(struct bare_server *s, SSL *ssl)
{
    int ok = SSL_accept(ssl) == 1;
    /* The device closes without close_notify (docs/device-model.md §1.7): over TCP the
     * FIN ends the read; over DTLS nothing would, so DTLS does not wait for it. */
    if (ok && !s->dtls) {
        char buf[256];
        while (SSL_read(ssl, buf, sizeof buf) > 0) {
        }
    }
    if (ok)
        SSL_shutdown(ssl);
    SSL_free(ssl);
    return ok;
}

static void *tls_loop(void *arg)
{
    struct bare_server *s = arg;
    for (int i = 0; i < s->count; i++) {
        /* Bounded: a client that never connects must not hang the join. */
        struct pollfd pfd = { s->fd, POLLIN, 0 };
        if (poll(&pfd, 1, BARE_ACCEPT_WAIT_MS) <= 0)
            break;
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            break;
        if (s->nodelay) {
            int one = 1;
            setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        SSL *ssl = SSL_new(s->ctx);
        SSL_set_fd(ssl, c);
        if (serve_one(s, ssl))
            s->served++;
        else
            s->failed++;
        close(c);
    }
    return NULL;
}

static void mark_ready(struct bare_server *s, int ready)
{
    pthread_mutex_lock(&s->mu);
    s->ready = ready;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int bare_server_wait_ready(struct bare_server *s, int index, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    while (s->ready <= index && rc == 0)
        rc = pthread_cond_timedwait(&s->cv, &s->mu, &until);
    int ok = s->ready > index;
    pthread_mutex_unlock(&s->mu);
    return ok ? 0 : -1;
}

/* DTLS without cookies (the floor): wait for a datagram, connect the socket to
 * its sender, handshake, then bind a fresh socket on the same port for the next. */
static void *dtls_loop(void *arg)
{
    struct bare_server *s = arg;
    for (int i = 0; i < s->count; i++) {
        struct sockaddr_in from;
        socklen_t flen = sizeof from;
        char peek[1];
        struct pollfd pfd = { s->fd, POLLIN, 0 };
        if (poll(&pfd, 1, BARE_ACCEPT_WAIT_MS) <= 0 ||
            recvfrom(s->fd, peek, sizeof peek, MSG_PEEK, (struct sockaddr *)&from, &flen) < 0)
            break;
        connect(s->fd, (struct sockaddr *)&from, flen);
        SSL *ssl = SSL_new(s->ctx);
        BIO *bio = BIO_new_dgram(s->fd, BIO_NOCLOSE);
        BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, &from);
        SSL_set_bio(ssl, bio, bio);
        if (serve_one(s, ssl))
            s->served++;
        else
            s->failed++;
        close(s->fd);
        s->fd = bind_loopback(SOCK_DGRAM, s->port);
        if (s->fd < 0)
            break;
        mark_ready(s, i + 2);
    }
    return NULL;
}

int bare_server_start(struct bare_server *s)
{
    s->started = 0;
    s->ready = 0;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->sync_init = 1;
    SSL_CTX *ctx = SSL_CTX_new(s->dtls ? DTLS_server_method() : TLS_server_method());
    if (ctx == NULL || SSL_CTX_use_certificate_chain_file(ctx, s->chain_pem) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, s->key_pem, SSL_FILETYPE_PEM) != 1) {
        SSL_CTX_free(ctx);
        return -1;
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    s->ctx = ctx;
    s->fd = bind_loopback(s->dtls ? SOCK_DGRAM : SOCK_STREAM, 0);
    if (s->fd < 0 || (!s->dtls && listen(s->fd, 16) != 0))
        return -1;
    s->port = local_port(s->fd);
    /* A TLS listener queues every connection; a DTLS socket takes one at a time. */
    s->ready = s->dtls ? 1 : s->count;
    if (pthread_create(&s->thread, NULL, s->dtls ? dtls_loop : tls_loop, s) != 0)
        return -1;
    s->started = 1;
    return 0;
}

void bare_server_join(struct bare_server *s)
{
    if (s->started)
        pthread_join(s->thread, NULL);
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    SSL_CTX_free(s->ctx);
    s->ctx = NULL;
    if (s->sync_init) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        s->sync_init = 0;
    }
}
