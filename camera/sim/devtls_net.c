/* Sockets with the device's semantics (docs/device-model.md): a socket timeout gives
 * -ETIMEDOUT (OSError(110), §1.7), RST -ECONNRESET, a write to a closed peer -EPIPE; the BIO
 * passes -errno to mbedTLS exactly as MicroPython's _mbedtls_ssl_send/recv do, and
 * on a non-blocking socket turns EAGAIN into WANT_READ/WANT_WRITE as they do — the
 * only way mbedTLS's DTLS retransmission timer gets to fire (§1.8). Every wait is
 * sliced to DEVTLS_POLL_MS so env->interrupted() is polled, and bounded by the
 * operation deadline. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devtls_int.h"

int devtls_sock_wait(struct devtls_sock *s, short events, int use_timeout)
{
    tm_ms start = tm_now_ms();
    for (;;) {
        if (s->env->interrupted && s->env->interrupted(s->env->int_ctx)) {
            s->interrupted = 1;
            return DEVTLS_E_INTERRUPTED;
        }
        int64_t slice = DEVTLS_POLL_MS;
        if (use_timeout && s->timeout_ms >= 0) {
            int64_t left = s->timeout_ms - (tm_now_ms() - start);
            if (left <= 0)
                return -ETIMEDOUT;
            if (left < slice)
                slice = left;
        }
        if (s->op_deadline) {
            int64_t left = tm_remaining_ms(s->op_deadline);
            if (left <= 0) {
                s->deadline_hit = 1;
                return -ETIMEDOUT;
            }
            if (left < slice)
                slice = left;
        }
        struct pollfd p = { .fd = s->fd, .events = events };
        int r = poll(&p, 1, (int)slice);
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -errno;
    }
}

int devtls_sock_wait_slice(struct devtls_sock *s, int ret)
{
    if (s->env->interrupted && s->env->interrupted(s->env->int_ctx)) {
        s->interrupted = 1;
        return DEVTLS_E_INTERRUPTED;
    }
    int64_t slice = DEVTLS_POLL_MS;
    if (s->op_deadline) {
        int64_t left = tm_remaining_ms(s->op_deadline);
        if (left <= 0) {
            s->deadline_hit = 1;
            return -ETIMEDOUT;
        }
        if (left < slice)
            slice = left;
    }
    struct pollfd p = { .fd = s->fd, .events = ret == MBEDTLS_ERR_SSL_WANT_WRITE ? POLLOUT : POLLIN };
    if (poll(&p, 1, (int)slice) < 0 && errno != EINTR)
        return -errno;
    return 0;
}

int devtls_bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    struct devtls_sock *s = ctx;
    for (;;) {
        ssize_t n = send(s->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) {
            s->wire_sent += n;
            if (s->hello_hook && n > 0) {
                s->hello_hook = 0;
                if (s->env->reached &&
                    s->env->reached(s->env->int_ctx, TM_STAGE_CLIENT_HELLO)) {
                    s->interrupted = 1;
                    return DEVTLS_E_INTERRUPTED;
                }
            }
            return (int)n;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        if (s->nonblocking)
            return MBEDTLS_ERR_SSL_WANT_WRITE;
        int w = devtls_sock_wait(s, POLLOUT, 1);
        if (w != 0)
            return w;
    }
}

int devtls_bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    struct devtls_sock *s = ctx;
    for (;;) {
        ssize_t n = recv(s->fd, buf, len, MSG_DONTWAIT);
        if (n >= 0) {
            s->wire_received += n;
            return (int)n;    /* 0 = EOF: mbedTLS reports CONN_EOF */
        }
        if (errno == EINTR)
            continue;
        if (errno == ECONNREFUSED && s->dgram)
            continue;         /* ICMP unreachable on a connected UDP socket: keep waiting */
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        if (s->nonblocking)
            return MBEDTLS_ERR_SSL_WANT_READ;
        int w = devtls_sock_wait(s, POLLIN, 1);
        if (w != 0)
            return w;
    }
}

/* getaddrinfo(host, port)[0][-1], as the agent does (§7). */
int devtls_sock_resolve(const char *host, int port, int dgram, void *addr, unsigned *alen,
                        struct devtls_exc *exc)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC,
                              .ai_socktype = dgram ? SOCK_DGRAM : SOCK_STREAM,
                              .ai_flags = AI_NUMERICSERV };
    struct addrinfo *res = NULL;
    char portbuf[16];
    snprintf(portbuf, sizeof portbuf, "%d", port);
    int r = getaddrinfo(host, portbuf, &hints, &res);
    if (r != 0 || res == NULL) {
        /* MicroPython (lwIP) raises OSError(-2) for a failed getaddrinfo */
        devtls_exc_errno(exc, -2);
        return -1;
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *alen = (unsigned)res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

void devtls_sock_close(struct devtls_sock *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}
