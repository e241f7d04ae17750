/* Application data after a successful handshake (send, expect, echo, in that
 * order) and the end of the connection. */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peer.h"

#define CHUNK 16384
#define DRAIN_MS 500

/* DTLS application data goes in records that fit one datagram: GnuTLS refuses
 * larger ones (EMSGSIZE) and a device would see IP fragments. The overhead of
 * IP, UDP, the DTLS header and an AEAD tag stays under DTLS_OVERHEAD. */
#define DTLS_CHUNK 1000
#define DTLS_OVERHEAD 100

static size_t write_limit(const struct peer_conn *c)
{
    if (c->o->proto != PEER_DTLS)
        return CHUNK;
    if (c->o->mtu > 0)
        return c->o->mtu > 2 * DTLS_OVERHEAD ? (size_t)(c->o->mtu - DTLS_OVERHEAD) : DTLS_OVERHEAD;
    return DTLS_CHUNK;
}

/* Write all of buf in pieces of at most max bytes. 0 on success, -1 when the peer
 * closed, failed or the deadline hit. */
static int write_max(const struct peer_backend *be, struct peer_conn *c,
                     const unsigned char *buf, size_t len, size_t max)
{
    size_t off = 0;
    while (off < len) {   /* bounded: progress or the deadline in peer_wait */
        size_t n = 0;
        enum peer_io st = be->write(c, buf + off, len - off < max ? len - off : max, &n);
        if (st == PEER_IO_DONE) {
            off += n;
            c->res->bytes_sent += (long long)n;
        } else if (st == PEER_IO_WANT_READ || st == PEER_IO_WANT_WRITE) {
            if (peer_wait(be, c, st) != 0) {
                peer_result_error(c->res, 0, "deadline reached while writing");
                return -1;
            }
        } else {
            if (st == PEER_IO_EOF)
                c->res->closed_by = "peer";
            return -1;
        }
    }
    return 0;
}

static int write_all(const struct peer_backend *be, struct peer_conn *c,
                     const unsigned char *buf, size_t len)
{
    size_t max = write_limit(c);
    if (c->o->app_record > 0 && (size_t)c->o->app_record < max)
        max = (size_t)c->o->app_record;   /* one write is one record: small records */
    return write_max(be, c, buf, len, max);
}

/* Read once (waiting as needed). Returns bytes > 0, 0 on EOF/error, -1 on deadline. */
static long read_some(const struct peer_backend *be, struct peer_conn *c, unsigned char *buf,
                      size_t cap)
{
    for (;;) {   /* bounded by the deadline in peer_wait */
        size_t n = 0;
        enum peer_io st = be->read(c, buf, cap, &n);
        if (st == PEER_IO_DONE && n > 0) {
            c->res->bytes_received += (long long)n;
            return (long)n;
        }
        if (st == PEER_IO_EOF) {
            if (c->res->closed_by == NULL)
                c->res->closed_by = "peer";
            return 0;
        }
        if (st == PEER_IO_ERROR)
            return 0;
        if (peer_wait(be, c, st == PEER_IO_WANT_WRITE ? st : PEER_IO_WANT_READ) != 0)
            return -1;
    }
}

/* --expect/--expect-size (and --echo of what arrives meanwhile). */
static void expect_data(const struct peer_backend *be, struct peer_conn *c, unsigned char *buf)
{
    const struct peer_opts *o = c->o;
    size_t want = o->expect_text ? strlen(o->expect_text) : (size_t)o->expect_size;
    size_t got = 0;
    int match = 1;
    while (got < want) {   /* bounded: each read makes progress or ends the loop */
        size_t cap = want - got < CHUNK ? want - got : CHUNK;
        long n = read_some(be, c, buf, cap);
        if (n <= 0) {
            if (n < 0)
                peer_result_error(c->res, 0, "deadline reached after %zu of %zu expected bytes",
                                  got, want);
            break;
        }
        if (o->expect_text && memcmp(buf, o->expect_text + got, (size_t)n) != 0)
            match = 0;
        got += (size_t)n;
        if (o->echo && write_all(be, c, buf, (size_t)n) < 0)
            break;
    }
    c->res->data_ok = got == want && match;
}

static void echo_data(const struct peer_backend *be, struct peer_conn *c, unsigned char *buf)
{
    for (;;) {   /* bounded: ends at EOF, error or the deadline */
        long n = read_some(be, c, buf, CHUNK);
        if (n <= 0) {
            if (n < 0)
                peer_result_error(c->res, 0, "deadline reached while echoing");
            return;
        }
        if (write_all(be, c, buf, (size_t)n) < 0)
            return;
    }
}

void peer_data_run(const struct peer_backend *be, struct peer_conn *c)
{
    const struct peer_opts *o = c->o;
    unsigned char *buf = malloc(CHUNK);
    if (buf == NULL)
        return;
    if (o->misbehave == PEER_MB_BIG_RECORD) {
        /* One maximum-size record (2^14 bytes of plaintext) in a single write call,
         * over the datagram size on purpose for DTLS. */
        for (size_t i = 0; i < CHUNK; i++)
            buf[i] = (unsigned char)('A' + i % 26);
        if (write_max(be, c, buf, CHUNK, CHUNK) < 0)
            goto out;
    }
    size_t len = c->pki->payload.len;
    if (o->close_after >= 0 && len > (size_t)o->close_after)
        len = (size_t)o->close_after;   /* the rest is cut off by the close */
    if (len > 0 && write_all(be, c, c->pki->payload.data, len) < 0)
        goto out;
    if (o->close_after >= 0)
        goto out;                       /* close at once, as --close says */
    if (o->expect_text != NULL || o->expect_size >= 0)
        expect_data(be, c, buf);
    else if (o->echo)
        echo_data(be, c, buf);
out:
    free(buf);
}

int peer_renegotiate(const struct peer_backend *be, struct peer_conn *c)
{
    if (strcmp(c->res->version, "TLSv1.2") != 0) {
        peer_result_error(c->res, 0, "--renegotiate: TLS 1.2 only (%s was negotiated)",
                          c->res->version[0] ? c->res->version : "another version");
        return -1;
    }
    c->res->renegotiated = 0;
    for (int first = 1;; first = 0) {   /* bounded by the deadline in peer_wait */
        enum peer_io st = be->renegotiate(c, first);
        if (st == PEER_IO_DONE) {
            c->res->renegotiated = 1;
            return 0;
        }
        if (st == PEER_IO_EOF) {
            peer_result_error(c->res, 0, "the peer closed the connection during the "
                              "renegotiation");
            if (c->res->closed_by == NULL)
                c->res->closed_by = "peer";
        }
        if (st == PEER_IO_EOF || st == PEER_IO_ERROR)
            return -1;
        if (peer_wait(be, c, st) != 0) {
            peer_result_error(c->res, 0, "deadline reached waiting for the renegotiation");
            return -1;
        }
    }
}

/* Read and drop what the peer still sends until it closes, for a short while:
 * closing a TCP socket with unread data sends a reset, which can destroy the data
 * we just wrote before the device reads it. */
static void drain_for(const struct peer_backend *be, struct peer_conn *c, int64_t ms)
{
    tm_ms saved = c->deadline, cap = tm_deadline_in(ms);
    unsigned char buf[4096];
    int had_error = c->res->has_error;
    c->deadline = cap < saved ? cap : saved;
    while (read_some(be, c, buf, sizeof buf) > 0)
        ;   /* bounded by the shortened deadline */
    c->deadline = saved;
    c->res->has_error = had_error;   /* how the peer ends after our close is not a fault */
}

void peer_drain_raw(struct peer_conn *c)
{
    tm_ms cap = tm_deadline_in(DRAIN_MS), until = cap < c->deadline ? cap : c->deadline;
    unsigned char buf[4096];
    if (c->o->proto != PEER_TLS)
        return;
    shutdown(c->fd, SHUT_WR);
    for (;;) {   /* bounded by the deadline */
        struct pollfd p = { c->fd, POLLIN, 0 };
        if (poll(&p, 1, (int)tm_remaining_ms(until)) <= 0 || recv(c->fd, buf, sizeof buf, 0) <= 0)
            return;
    }
}

void peer_close(const struct peer_backend *be, struct peer_conn *c)
{
    enum peer_close mode = c->o->close_mode;
    if (mode == PEER_CLOSE_SILENT || mode == PEER_CLOSE_HALF) {
        /* silent: the connection stays open and quiet; half: our direction ends
         * with a bare FIN. Either way we read on until the peer closes or the
         * deadline, so the device's reads and writes meet an open socket. */
        if (mode == PEER_CLOSE_HALF && c->o->proto == PEER_TLS)
            shutdown(c->fd, SHUT_WR);
        drain_for(be, c, tm_remaining_ms(c->deadline));
        if (c->res->closed_by == NULL)
            c->res->closed_by = "self";
        return;
    }
    if (c->res->closed_by == NULL)
        c->res->closed_by = "self";
    if (mode != PEER_CLOSE_ABRUPT) {
        for (int i = 0; i < 8; i++) {   /* a few steps at most */
            enum peer_io st = be->shutdown(c);
            if ((st != PEER_IO_WANT_READ && st != PEER_IO_WANT_WRITE) ||
                peer_wait(be, c, st) != 0)
                break;
        }
    }
    if (c->o->proto == PEER_TLS && strcmp(c->res->closed_by, "self") == 0) {
        shutdown(c->fd, SHUT_WR);
        drain_for(be, c, DRAIN_MS);
    }
}
