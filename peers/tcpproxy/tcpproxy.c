/* tcpproxy main loop: accept, relay, find the place, act, log (see tcpproxy.h and
 * --help). Everything is non-blocking around one poll, so no wait outlasts its
 * deadline: a stall is a time, not a blocked call. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcpproxy.h"
#include "tm_net.h"
#include "tm_time.h"

#define READ_CHUNK 65536
#define MAX_BUFFERED (1 << 20)   /* per direction; reading pauses above it */
#define CONNECT_MS 5000
#define FLUSH_MS 2000            /* how long a FIN/RST waits for queued bytes to go */
#define NO_OFFSET UINT64_MAX
#define FOREVER INT64_MAX

struct buf {
    unsigned char *data;
    size_t len, cap;
};

/* One direction: bytes read from rfd wait in `in` (in.data[0] is stream offset
 * in_off) until released to `out`, which is written to wfd as the socket takes it. */
struct dir {
    int rfd, wfd;
    struct tp_stream ts;
    struct buf in, out;
    uint64_t in_off;
    int rd_eof, shut;
    long drip_k, drip_ms, seg_k;   /* shaping once a drip/segment action fired */
    tm_ms next_drip;
};

struct tcpproxy {
    struct tp_opts o;
    int lsock, cfd, sfd;
    FILE *log;
    tm_ms t0, conn_t0;
    uint64_t rng;
    struct dir d[2];               /* d[TP_CLIENT]: client → server; d[TP_SERVER]: back */
    /* the rule on this connection */
    uint64_t at;                   /* place as an offset in d[o.side], NO_OFFSET unknown */
    int fired;
    uint64_t tgt_start, tgt_end;   /* record actions: the record, once known */
    int have_target;
    tm_ms stall_until;             /* 0: not stalled */
    int closing;                   /* 1 + action (FIN or RST) once it fired */
    tm_ms close_by;
};

struct ev_ctx {
    struct tcpproxy *p;
    enum tp_side side;
};

/* SIGTERM is how the harness ends a proxy; C signals force this one global. */
static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) { (void)sig; stop_requested = 1; }

static const char *dir_name(enum tp_side s) { return s == TP_CLIENT ? "c2s" : "s2c"; }

static void logf_line(struct tcpproxy *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_line(struct tcpproxy *p, const char *fmt, ...)
{
    va_list ap;
    fprintf(p->log, "%lld ", (long long)(tm_now_ms() - p->t0));
    va_start(ap, fmt);
    vfprintf(p->log, fmt, ap);
    va_end(ap);
    fputc('\n', p->log);
    fflush(p->log);
}

static int buf_add(struct buf *b, const unsigned char *d, size_t n)
{
    if (n == 0)
        return 0;   /* d may be NULL (an empty buffer's data) */
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *nd = realloc(b->data, cap);
        if (nd == NULL)
            return -1;
        b->data = nd;
        b->cap = cap;
    }
    memcpy(b->data + b->len, d, n);
    b->len += n;
    return 0;
}

static void buf_drop(struct buf *b, size_t n)
{
    if (n == 0)
        return;
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

/* ---- finding the place ------------------------------------------------------ */

static int place_matches(const struct tp_opts *o, const struct tp_event *ev)
{
    switch (o->place) {
    case TP_AT_BEFORE: return ev->kind == TP_EV_MSG_START && ev->hs_type == o->hs_type;
    case TP_AT_MID: return ev->kind == TP_EV_MSG_MID && ev->hs_type == o->hs_type;
    case TP_AT_AFTER: return ev->kind == TP_EV_MSG_END && ev->hs_type == o->hs_type;
    case TP_AT_APPDATA: return ev->kind == TP_EV_RECORD_END && ev->content_type == 23;
    default: return 0;   /* bytes and time are not stream events */
    }
}

static void on_event(void *ctx, const struct tp_event *ev)
{
    struct ev_ctx *c = ctx;
    struct tcpproxy *p = c->p;
    if (ev->kind == TP_EV_RECORD_END)
        logf_line(p, "%s %s %llu", dir_name(c->side), ev->desc,
                  (unsigned long long)(ev->off - ev->rec_start));
    if (!p->o.has_rule || p->fired || c->side != p->o.side)
        return;
    if (p->at == NO_OFFSET && place_matches(&p->o, ev))
        p->at = ev->off;
    /* Record actions: the record holding the first byte at or after the place. */
    if (tp_action_is_record(p->o.action) && p->at != NO_OFFSET && !p->have_target
        && ev->kind == TP_EV_RECORD_END && ev->off > p->at) {
        p->tgt_start = ev->rec_start;
        p->tgt_end = ev->off;
        p->have_target = 1;
    }
}

/* ---- acting ----------------------------------------------------------------- */

static void record_action(struct tcpproxy *p, struct dir *d)
{
    size_t len = (size_t)(p->tgt_end - p->tgt_start);
    unsigned char *rec = d->in.data;
    char note[64] = "";
    if (p->o.action == TP_DO_CORRUPT && len > 0) {
        uint64_t r = tm_net_splitmix64(&p->rng);
        size_t i = len > 5 ? 5 + (size_t)(r % (len - 5)) : (size_t)(r % len);
        unsigned char x = (unsigned char)(1 + (r >> 32) % 255);
        rec[i] ^= x;
        snprintf(note, sizeof note, " byte %zu ^0x%02x", i, (unsigned)x);
    }
    if (p->o.action != TP_DO_DROP)
        buf_add(&d->out, rec, len);
    if (p->o.action == TP_DO_DUP)
        buf_add(&d->out, rec, len);
    buf_drop(&d->in, len);
    d->in_off += len;
    logf_line(p, "%s * %s @%llu %s%s", dir_name(p->o.side), p->o.action_text,
              (unsigned long long)p->tgt_start, p->o.place_text, note);
}

static void stream_action(struct tcpproxy *p, struct dir *d)
{
    tm_ms now = tm_now_ms();
    logf_line(p, "%s * %s @%llu %s", dir_name(p->o.side), p->o.action_text,
              (unsigned long long)d->in_off, p->o.place_text);
    switch (p->o.action) {
    case TP_DO_FIN:
    case TP_DO_RST:
        p->closing = 1 + (int)p->o.action;
        p->close_by = now + FLUSH_MS;
        break;
    case TP_DO_STALL: p->stall_until = p->o.act_ms > 0 ? now + p->o.act_ms : FOREVER; break;
    case TP_DO_DRIP:
        d->drip_k = p->o.act_k;
        d->drip_ms = p->o.act_ms;
        d->next_drip = now;
        break;
    case TP_DO_SEGMENT: {
        int one = 1;
        d->seg_k = p->o.act_k;
        setsockopt(d->wfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        break;
    }
    case TP_DO_INSERT: buf_add(&d->out, p->o.insert, p->o.insert_len); break;
    default: break;
    }
}

/* ---- releasing bytes -------------------------------------------------------- */

/* Move up to n bytes from in to out, as the shaping allows. */
static void move(struct dir *d, size_t n)
{
    if (d->drip_k > 0) {
        tm_ms now = tm_now_ms();
        if (now < d->next_drip)
            return;
        if (n > (size_t)d->drip_k)
            n = (size_t)d->drip_k;
        if (n > 0)
            d->next_drip = now + d->drip_ms;
    }
    buf_add(&d->out, d->in.data, n);
    buf_drop(&d->in, n);
    d->in_off += n;
}

/* How many of d's held bytes may go before the rule has fired. */
static size_t releasable(struct tcpproxy *p, struct dir *d)
{
    size_t n = d->in.len;
    if (tp_action_is_record(p->o.action)) {
        /* Only whole records, so that the target is never half sent. */
        uint64_t limit = d->ts.opaque || d->rd_eof ? d->in_off + d->in.len : d->ts.complete;
        /* At EOF a target that will never be whole goes as it came. */
        int whole = d->in_off + d->in.len >= p->tgt_end;
        if (p->have_target && p->tgt_start < limit && (whole || !d->rd_eof))
            limit = p->tgt_start;
        return limit > d->in_off ? (size_t)(limit - d->in_off) : 0;
    }
    if (p->at != NO_OFFSET)
        return p->at > d->in_off ? (size_t)(p->at - d->in_off < n ? p->at - d->in_off : n) : 0;
    return n;
}

static void release(struct tcpproxy *p, enum tp_side side)
{
    struct dir *d = &p->d[side];
    if (p->closing || (p->stall_until != 0 && tm_now_ms() < p->stall_until))
        return;
    p->stall_until = 0;
    int armed = p->o.has_rule && !p->fired && side == p->o.side;
    if (!armed) {
        move(d, d->in.len);
        return;
    }
    move(d, releasable(p, d));
    if (tp_action_is_record(p->o.action)) {
        if (p->have_target && d->in_off == p->tgt_start
            && d->in_off + d->in.len >= p->tgt_end) {
            p->fired = 1;
            record_action(p, d);
            move(d, d->in.len);
        }
    } else if (p->at != NO_OFFSET && d->in_off >= p->at) {
        p->fired = 1;
        stream_action(p, d);
        release(p, side);
    }
}

/* ---- the connection --------------------------------------------------------- */

static void conn_reset_state(struct tcpproxy *p)
{
    for (int i = 0; i < 2; i++) {
        struct dir *d = &p->d[i];
        free(d->in.data);
        free(d->out.data);
        memset(d, 0, sizeof *d);
        tp_stream_init(&d->ts);
    }
    p->at = p->o.place == TP_AT_BYTES ? (uint64_t)p->o.place_n : NO_OFFSET;
    p->fired = p->have_target = p->closing = 0;
    p->stall_until = 0;
    p->cfd = p->sfd = -1;
}

static void conn_close(struct tcpproxy *p, int reset, const char *why)
{
    struct linger lg = { 1, 0 };
    int fds[2] = { p->cfd, p->sfd };
    for (int i = 0; i < 2; i++) {
        if (fds[i] < 0)
            continue;
        if (reset)
            setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(fds[i]);
    }
    logf_line(p, "- * %s (%s)", reset ? "reset" : "close", why);
    conn_reset_state(p);
}

/* Non-blocking connect to the server, bounded by CONNECT_MS. */
static int connect_server(struct tcpproxy *p)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (tm_net_resolve(p->o.server_addr, p->o.server_port, SOCK_STREAM, &ss, &len) != 0)
        return -1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&ss, len) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    struct pollfd pfd = { fd, POLLOUT, 0 };
    int err = 0;
    socklen_t elen = sizeof err;
    if (poll(&pfd, 1, CONNECT_MS) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0
        || err != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void conn_accept(struct tcpproxy *p)
{
    int fd = accept4(p->lsock, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    int sfd = connect_server(p);
    if (sfd < 0) {
        logf_line(p, "- * accept: cannot reach the server %s:%d, closing", p->o.server_addr,
                  p->o.server_port);
        close(fd);
        return;
    }
    conn_reset_state(p);
    p->cfd = fd;
    p->sfd = sfd;
    p->d[TP_CLIENT].rfd = p->d[TP_SERVER].wfd = fd;
    p->d[TP_SERVER].rfd = p->d[TP_CLIENT].wfd = sfd;
    p->conn_t0 = tm_now_ms();
    logf_line(p, "- * accept");
}

/* Read what is there; 0 ok (or EOF noted), -1 reset by the sender. */
static int read_side(struct tcpproxy *p, enum tp_side side)
{
    static unsigned char chunk[READ_CHUNK];
    struct dir *d = &p->d[side];
    ssize_t n = recv(d->rfd, chunk, sizeof chunk, MSG_DONTWAIT);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
    if (n == 0) {
        d->rd_eof = 1;
        logf_line(p, "%s * eof from the %s", dir_name(side), side == TP_CLIENT ? "client" : "server");
        return 0;
    }
    if (buf_add(&d->in, chunk, (size_t)n) != 0)
        return -1;
    struct ev_ctx c = { p, side };
    tp_stream_feed(&d->ts, chunk, (size_t)n, on_event, &c);
    return 0;
}

/* Write what the socket takes; -1 when the receiver has gone. */
static int write_side(struct dir *d)
{
    while (d->out.len > 0) {
        size_t n = d->out.len;
        if (d->seg_k > 0 && n > (size_t)d->seg_k)
            n = (size_t)d->seg_k;
        ssize_t w = send(d->wfd, d->out.data, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        buf_drop(&d->out, (size_t)w);
    }
    if (d->rd_eof && d->in.len == 0 && !d->shut) {
        shutdown(d->wfd, SHUT_WR);   /* pass the FIN on */
        d->shut = 1;
    }
    return 0;
}

/* ---- the loop --------------------------------------------------------------- */

static tm_ms next_timer(struct tcpproxy *p, tm_ms deadline)
{
    tm_ms t = deadline;
    if (p->cfd < 0)
        return t;
    if (p->stall_until > 0 && p->stall_until < t)
        t = p->stall_until;
    if (p->closing && p->close_by < t)
        t = p->close_by;
    for (int i = 0; i < 2; i++)
        if (p->d[i].drip_k > 0 && p->d[i].in.len > 0 && p->d[i].next_drip < t)
            t = p->d[i].next_drip;
    if (p->o.has_rule && p->o.place == TP_AT_TIME && p->at == NO_OFFSET
        && p->conn_t0 + p->o.place_n < t)
        t = p->conn_t0 + p->o.place_n;
    return t;
}

static void on_timers(struct tcpproxy *p)
{
    if (p->cfd < 0)
        return;
    if (p->o.has_rule && p->o.place == TP_AT_TIME && p->at == NO_OFFSET
        && tm_now_ms() >= p->conn_t0 + p->o.place_n)
        p->at = p->d[p->o.side].ts.off;   /* what has arrived so far goes first */
}

/* One poll round on an open connection. */
static void conn_step(struct tcpproxy *p, tm_ms deadline)
{
    struct pollfd pfd[2];
    for (int i = 0; i < 2; i++) {
        struct dir *in = &p->d[i], *out = &p->d[!i];
        pfd[i].fd = in->rfd;
        pfd[i].events = 0;
        if (!in->rd_eof && !p->closing && in->in.len + in->out.len < MAX_BUFFERED)
            pfd[i].events |= POLLIN;
        if (out->out.len > 0)
            pfd[i].events |= POLLOUT;
        if (pfd[i].events == 0)
            pfd[i].fd = -1;   /* a hung-up socket we neither read nor write would spin poll */
    }
    int64_t wait = tm_remaining_ms(next_timer(p, deadline));
    poll(pfd, 2, (int)(wait > 1000 ? 1000 : wait));
    on_timers(p);
    for (int i = 0; i < 2; i++)
        if ((pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) && (pfd[i].events & POLLIN)
            && read_side(p, (enum tp_side)i) != 0) {
            conn_close(p, 1, i == TP_CLIENT ? "the client reset" : "the server reset");
            return;
        }
    for (int i = 0; i < 2; i++) {
        release(p, (enum tp_side)i);
        if (write_side(&p->d[i]) != 0) {
            conn_close(p, 1, "a receiver has gone");
            return;
        }
    }
    if (p->closing && ((p->d[0].out.len == 0 && p->d[1].out.len == 0)
                       || tm_now_ms() >= p->close_by)) {
        conn_close(p, p->closing == 1 + TP_DO_RST, p->o.action_text);
        return;
    }
    if (p->d[0].shut && p->d[1].shut)
        conn_close(p, 0, "both sides closed");
}

static void run(struct tcpproxy *p)
{
    tm_ms deadline = tm_deadline_in(p->o.timeout_ms);
    while (!stop_requested && !tm_expired(deadline)) {
        if (p->cfd >= 0) {
            conn_step(p, deadline);
            continue;
        }
        struct pollfd pfd = { p->lsock, POLLIN, 0 };
        int64_t wait = tm_remaining_ms(deadline);
        if (poll(&pfd, 1, (int)(wait > 1000 ? 1000 : wait)) == 1)
            conn_accept(p);
    }
    if (p->cfd >= 0)
        conn_close(p, 0, stop_requested ? "stopped" : "timeout");
}

static int setup(struct tcpproxy *p)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1;
    if (tm_net_resolve(p->o.listen_addr, p->o.listen_port, SOCK_STREAM, &ss, &len) != 0) {
        fprintf(stderr, "tcpproxy: --listen: cannot use address '%s'\n", p->o.listen_addr);
        return -1;
    }
    p->lsock = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (p->lsock >= 0)
        setsockopt(p->lsock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (p->lsock < 0 || bind(p->lsock, (struct sockaddr *)&ss, len) != 0
        || listen(p->lsock, 8) != 0) {
        fprintf(stderr, "tcpproxy: --listen %s:%d: %s\n", p->o.listen_addr, p->o.listen_port,
                strerror(errno));
        return -1;
    }
    if (tm_net_resolve(p->o.server_addr, p->o.server_port, SOCK_STREAM, &ss, &len) != 0) {
        fprintf(stderr, "tcpproxy: --server: cannot use address '%s'\n", p->o.server_addr);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct tcpproxy p;
    memset(&p, 0, sizeof p);
    p.lsock = -1;
    int rc = tp_parse_args(argc, argv, &p.o);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    p.rng = p.o.seed;
    p.log = stdout;
    if (p.o.log_path[0] != '\0' && (p.log = fopen(p.o.log_path, "w")) == NULL) {
        fprintf(stderr, "tcpproxy: --log %s: %s\n", p.o.log_path, strerror(errno));
        return 2;
    }
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    conn_reset_state(&p);
    if (setup(&p) != 0)
        return 2;
    p.t0 = tm_now_ms();
    tm_net_print_ready(p.lsock);
    run(&p);
    close(p.lsock);
    conn_reset_state(&p);
    if (p.log != stdout)
        fclose(p.log);
    return 0;
}
