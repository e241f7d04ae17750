/* Misbehaviours that replace the handshake. They work on the raw socket, so the
 * bytes on the wire are the same whichever backend was chosen. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "peer.h"

#define WATCH_MS 1000

/* Wait for the peer's first bytes (its ClientHello, or ServerHello for a client). */
static long read_raw(struct peer_conn *c, unsigned char *buf, size_t cap, tm_ms deadline)
{
    struct pollfd p = { c->fd, POLLIN, 0 };
    if (poll(&p, 1, (int)tm_remaining_ms(deadline)) <= 0)
        return -1;
    ssize_t n = recv(c->fd, buf, cap, 0);
    return n < 0 ? -1 : (long)n;
}

/* After our misbehaviour, note the alert the peer answers with (plaintext record). */
static void watch_reply(struct peer_conn *c)
{
    unsigned char buf[2048];
    tm_ms cap = tm_deadline_in(WATCH_MS);
    long n = read_raw(c, buf, sizeof buf, cap < c->deadline ? cap : c->deadline);
    size_t hdr = c->o->proto == PEER_DTLS ? 13 : 5;
    if (n == 0)
        c->res->closed_by = "peer";
    if (n >= (long)hdr + 2 && buf[0] == 21)
        peer_result_alert(&c->res->alert_received, buf[hdr + 1]);
}

static void send_raw(struct peer_conn *c, const unsigned char *buf, size_t len)
{
    if (send(c->fd, buf, len, MSG_NOSIGNAL) < 0)
        peer_result_error(c->res, errno, "send: %s", strerror(errno));
}

/* A fatal alert in a plaintext record: TLS 1.2 record header, or DTLS 1.2 with
 * epoch 0 and sequence number 0. */
static void send_alert(struct peer_conn *c, int desc)
{
    unsigned char tls[] = {21, 3, 3, 0, 2, 2, (unsigned char)desc};
    unsigned char dtls[] = {21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2,
                            (unsigned char)desc};
    if (c->o->proto == PEER_DTLS)
        send_raw(c, dtls, sizeof dtls);
    else
        send_raw(c, tls, sizeof tls);
    c->res->alert_sent = desc;
}

static void send_garbage(struct peer_conn *c)
{
    unsigned char junk[64];
    RAND_bytes(junk, sizeof junk);
    if (junk[0] >= 20 && junk[0] <= 24)
        junk[0] ^= 0x80;   /* never a valid content type: the peer sees garbage, always */
    send_raw(c, junk, sizeof junk);
}

/* The backend's real ClientHello and nothing after it, whatever the timing. A
 * handshake call goes as far as the data allows: when the server's first flight
 * is already in the socket at the library's first read (a fast server, a loaded
 * host), the library answers it with its own second flight and the server
 * completes the handshake: the device then reported "ok" with a cipher where a
 * board, slower to answer, always saw the connection close. So the library
 * writes into a socketpair that stands in for the connection (dup2 onto the same
 * fd number, which both backends hold), where no answer can ever arrive; the
 * captured ClientHello then goes out on the real socket. TLS only: DTLS keeps the
 * connection's datagram socket. */
static int client_hello_only(const struct peer_backend *be, struct peer_conn *c)
{
    unsigned char buf[16384];
    size_t len = 0;
    int sp[2], rc = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) != 0)
        return peer_result_error(c->res, errno, "socketpair: %s", strerror(errno)), -1;
    int real = fcntl(c->fd, F_DUPFD_CLOEXEC, 0);
    if (real >= 0 && dup2(sp[0], c->fd) >= 0) {
        enum peer_io st = be->handshake(c);   /* ClientHello written, then WANT_READ */
        for (ssize_t n = 1; n > 0 && len < sizeof buf; len += (size_t)(n > 0 ? n : 0))
            n = recv(sp[1], buf + len, sizeof buf - len, MSG_DONTWAIT);
        if (dup2(real, c->fd) >= 0 && fcntl(c->fd, F_SETFD, FD_CLOEXEC) == 0
            && st == PEER_IO_WANT_READ && len > 0)
            rc = 0;
    }
    if (rc != 0 && !c->res->has_error)
        peer_result_error(c->res, errno, "could not capture the ClientHello");
    if (rc == 0)
        send_raw(c, buf, len);
    if (real >= 0)
        close(real);
    close(sp[0]);
    close(sp[1]);
    return rc;
}

/* The server waits for the ClientHello; a client sends its real ClientHello first
 * only for close-after-hello. */
static int hello_exchange(const struct peer_backend *be, struct peer_conn *c)
{
    unsigned char buf[16384];
    if (c->o->role == PEER_CLIENT) {
        if (c->o->misbehave != PEER_MB_CLOSE_AFTER_HELLO)
            return 0;
        if (c->o->proto == PEER_TLS ? client_hello_only(be, c) != 0
                                    : be->handshake(c) != PEER_IO_WANT_READ)
            return -1;
    }
    long n = read_raw(c, buf, sizeof buf, c->deadline);
    if (n <= 0) {
        peer_result_error(c->res, n == 0 ? 0 : ETIMEDOUT, "%s before the peer's hello",
                          n == 0 ? "EOF" : "deadline reached");
        if (n == 0)
            c->res->closed_by = "peer";
        return -1;
    }
    return 0;
}

/* Peek at the ClientHello until its first record is whole (or the deadline); it
 * stays in the socket for the handshake. The SNI result kind is returned. */
static int peek_sni(struct peer_conn *c, char *name, size_t cap)
{
    unsigned char buf[16384 + 5];
    for (;;) {   /* bounded by the deadline */
        struct pollfd p = { c->fd, POLLIN, 0 };
        ssize_t n = recv(c->fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
        int kind = n > 0 ? peer_sni_from_hello(buf, (size_t)n, name, cap) : PEER_SNI_MORE;
        if (kind != PEER_SNI_MORE || n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return kind == PEER_SNI_MORE ? PEER_SNI_NOT_HELLO : kind;
        if (tm_expired(c->deadline) || poll(&p, 1, (int)tm_remaining_ms(c->deadline)) <= 0)
            return PEER_SNI_NOT_HELLO;
        if (n > 0 && (size_t)n == sizeof buf)
            return PEER_SNI_NOT_HELLO;
        tm_sleep_ms(n > 0 ? 1 : 0);   /* the rest of a record is on its way */
    }
}

/* The SNI actions done on the raw stream, before any backend sees the hello. */
static int raw_sni_act(enum peer_sni_act a)
{
    return a == PEER_SNI_CLOSE || a == PEER_SNI_ALERT;
}

/* --on-sni-missing / --on-sni close or alert: 1 when the action replaced the
 * handshake. serve= is the backend's (its SNI callback presents the chain). */
static int sni_action(struct peer_conn *c)
{
    char name[256] = "";
    int kind = peek_sni(c, name, sizeof name), alert = 0;
    enum peer_chain_id chain;
    enum peer_sni_act act = PEER_SNI_GO;
    if (kind == PEER_SNI_NONE || kind == PEER_SNI_FOUND)
        act = peer_sni_action(c->o, kind == PEER_SNI_FOUND ? name : NULL, &alert, &chain);
    if (kind == PEER_SNI_FOUND) {
        snprintf(c->res->sni, sizeof c->res->sni, "%s", name);
        c->res->has_sni = 1;
    }
    if (!raw_sni_act(act))
        return 0;
    unsigned char drop[16384 + 5];
    recv(c->fd, drop, sizeof drop, MSG_DONTWAIT);   /* the hello we answer */
    c->res->handshake = "not-started";
    c->res->closed_by = "self";
    if (act == PEER_SNI_ALERT) {
        send_alert(c, alert);
        watch_reply(c);
    }
    peer_drain_raw(c);
    return 1;
}

int peer_misbehave_before(const struct peer_backend *be, struct peer_conn *c)
{
    const struct peer_opts *o = c->o;
    if ((raw_sni_act(o->on_sni_missing) || (o->on_sni_name != NULL && raw_sni_act(o->on_sni_act)))
        && sni_action(c))
        return 1;
    switch (o->misbehave) {
    case PEER_MB_STALL: {
        tm_ms until = tm_deadline_in(o->stall_ms);
        tm_sleep_ms(tm_remaining_ms(until < c->deadline ? until : c->deadline));
        return 0;
    }
    case PEER_MB_CLOSE_AFTER_HELLO:
    case PEER_MB_GARBAGE:
    case PEER_MB_ALERT:
        break;
    default:
        return 0;
    }
    c->res->handshake = "not-started";
    if (hello_exchange(be, c) < 0)
        return 1;
    c->res->closed_by = "self";
    if (o->misbehave == PEER_MB_GARBAGE) {
        send_garbage(c);
        watch_reply(c);
    } else if (o->misbehave == PEER_MB_ALERT) {
        send_alert(c, o->alert_code);
        watch_reply(c);
    }
    peer_drain_raw(c);
    return 1;
}
