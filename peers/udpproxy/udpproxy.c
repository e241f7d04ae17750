/* udpproxy main loop: relay, impair, log (see udpproxy.h and --help). */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tm_net.h"
#include "tm_time.h"
#include "udpproxy.h"

#define MAX_DGRAM 65536
#define MAX_HELD 64
#define REORDER_HOLD_MS 300   /* a held datagram goes out even if no other follows */

enum dir { C2S = 0, S2C = 1 };

struct held {
    tm_ms due;
    enum dir dir;
    size_t len;
    unsigned char *data;
};

struct proxy {
    struct proxy_opts o;
    int lsock, ssock;
    struct sockaddr_storage client;
    socklen_t client_len;
    FILE *log;
    tm_ms t0;
    uint64_t rng;
    unsigned dropped_types;
    struct held held[MAX_HELD];
    int reorder_slot[2];      /* index into held[] of a datagram waiting for the next one, or -1 */
};

/* SIGTERM is how the harness ends a proxy; C signals force this one global. */
static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) { (void)sig; stop_requested = 1; }

static double draw(struct proxy *p)
{
    return (double)(tm_net_splitmix64(&p->rng) >> 11) / (double)(1ull << 53);
}

static int setup(struct proxy *p)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (tm_net_resolve(p->o.listen_addr, p->o.listen_port, SOCK_DGRAM, &ss, &len) != 0) {
        fprintf(stderr, "udpproxy: --listen: cannot use address '%s'\n", p->o.listen_addr);
        return -1;
    }
    p->lsock = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (p->lsock < 0 || bind(p->lsock, (struct sockaddr *)&ss, len) != 0) {
        fprintf(stderr, "udpproxy: --listen %s:%d: %s\n", p->o.listen_addr, p->o.listen_port,
                strerror(errno));
        return -1;
    }
    if (tm_net_resolve(p->o.server_addr, p->o.server_port, SOCK_DGRAM, &ss, &len) != 0) {
        fprintf(stderr, "udpproxy: --server: cannot use address '%s'\n", p->o.server_addr);
        return -1;
    }
    p->ssock = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (p->ssock < 0 || connect(p->ssock, (struct sockaddr *)&ss, len) != 0) {
        fprintf(stderr, "udpproxy: --server %s:%d: %s\n", p->o.server_addr, p->o.server_port,
                strerror(errno));
        return -1;
    }
    return 0;
}

static void send_now(struct proxy *p, enum dir d, const unsigned char *data, size_t len)
{
    if (d == C2S)
        send(p->ssock, data, len, 0);
    else if (p->client_len > 0)
        sendto(p->lsock, data, len, 0, (struct sockaddr *)&p->client, p->client_len);
}

static int hold(struct proxy *p, enum dir d, const unsigned char *data, size_t len, tm_ms due)
{
    for (int i = 0; i < MAX_HELD; i++) {
        if (p->held[i].data == NULL) {
            p->held[i].data = malloc(len);
            if (p->held[i].data == NULL)
                return -1;
            memcpy(p->held[i].data, data, len);
            p->held[i].len = len;
            p->held[i].dir = d;
            p->held[i].due = due;
            return i;
        }
    }
    return -1;   /* full: the caller sends at once rather than lose it */
}

static void release(struct proxy *p, int i)
{
    send_now(p, p->held[i].dir, p->held[i].data, p->held[i].len);
    free(p->held[i].data);
    p->held[i].data = NULL;
    for (int d = 0; d < 2; d++)
        if (p->reorder_slot[d] == i)
            p->reorder_slot[d] = -1;
}

static void release_due(struct proxy *p, int flush_all)
{
    tm_ms now = tm_now_ms();
    for (int i = 0; i < MAX_HELD; i++)
        if (p->held[i].data != NULL && (flush_all || p->held[i].due <= now))
            release(p, i);
}

static const char *decide(struct proxy *p, const struct dtls_desc *desc, size_t len)
{
    /* Always draw the same number of values per datagram so that one decision
     * never shifts the random stream of the next. */
    double u_drop = draw(p), u_dup = draw(p), u_delay = draw(p), u_reorder = draw(p);
    if (p->o.mtu > 0 && len > (size_t)p->o.mtu)
        return "cut";
    if (p->o.protect_hvr && desc->is_hvr)
        return "pass";
    unsigned first = desc->hs_types & p->o.drop_types & ~p->dropped_types;
    if (first) {
        p->dropped_types |= first;
        return "drop";
    }
    if (u_drop < p->o.drop)
        return "drop";
    if (u_dup < p->o.dup)
        return "dup";
    if (u_delay < p->o.delay_rate && p->o.delay_ms > 0)
        return "delay";
    if (u_reorder < p->o.reorder)
        return "reorder";
    return "pass";
}

static void relay(struct proxy *p, enum dir d, const unsigned char *data, size_t len)
{
    struct dtls_desc desc;
    dtls_describe(data, len, &desc);
    const char *action = decide(p, &desc, len);
    fprintf(p->log, "%lld %s %s %zu %s\n", (long long)(tm_now_ms() - p->t0),
            d == C2S ? "c2s" : "s2c", desc.text, len, action);
    fflush(p->log);
    if (!strcmp(action, "drop") || !strcmp(action, "cut"))
        return;
    if (!strcmp(action, "delay") && hold(p, d, data, len, tm_now_ms() + p->o.delay_ms) >= 0)
        return;
    if (!strcmp(action, "reorder") && p->reorder_slot[d] < 0) {
        int i = hold(p, d, data, len, tm_now_ms() + REORDER_HOLD_MS);
        if (i >= 0) {
            p->reorder_slot[d] = i;
            return;
        }
    }
    send_now(p, d, data, len);
    if (!strcmp(action, "dup"))
        send_now(p, d, data, len);
    if (p->reorder_slot[d] >= 0)
        release(p, p->reorder_slot[d]);   /* the held one goes out after this one */
}

static int next_wait_ms(struct proxy *p, tm_ms deadline)
{
    int64_t wait = tm_remaining_ms(deadline);
    tm_ms now = tm_now_ms();
    for (int i = 0; i < MAX_HELD; i++)
        if (p->held[i].data != NULL && p->held[i].due - now < wait)
            wait = p->held[i].due > now ? p->held[i].due - now : 0;
    return (int)(wait > 1000 ? 1000 : wait);
}

static void run(struct proxy *p)
{
    static unsigned char buf[MAX_DGRAM];
    tm_ms deadline = tm_deadline_in(p->o.timeout_ms);
    struct pollfd pfd[2] = { { p->lsock, POLLIN, 0 }, { p->ssock, POLLIN, 0 } };
    while (!stop_requested && !tm_expired(deadline)) {
        int r = poll(pfd, 2, next_wait_ms(p, deadline));
        release_due(p, 0);
        if (r <= 0)
            continue;
        /* A port-unreachable from a peer that has gone leaves an error pending
         * (POLLERR without POLLIN): the recv below clears it, else poll spins. */
        if (pfd[0].revents & (POLLIN | POLLERR)) {
            struct sockaddr_storage from;
            socklen_t flen = sizeof from;
            ssize_t n = recvfrom(p->lsock, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
            if (n >= 0) {
                /* One client: the latest sender is where replies go (mbedTLS's
                 * udp_proxy does the same), so a client that rebinds still works. */
                memcpy(&p->client, &from, flen);
                p->client_len = flen;
                relay(p, C2S, buf, (size_t)n);
            }
        }
        if (pfd[1].revents & (POLLIN | POLLERR)) {
            ssize_t n = recv(p->ssock, buf, sizeof buf, MSG_DONTWAIT);
            if (n >= 0)
                relay(p, S2C, buf, (size_t)n);
        }
    }
    release_due(p, 1);
}

int main(int argc, char **argv)
{
    struct proxy p;
    memset(&p, 0, sizeof p);
    p.lsock = p.ssock = -1;
    p.reorder_slot[0] = p.reorder_slot[1] = -1;
    int rc = proxy_parse_args(argc, argv, &p.o);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    p.rng = p.o.seed;
    p.log = stdout;
    if (p.o.log_path[0] != '\0' && (p.log = fopen(p.o.log_path, "w")) == NULL) {
        fprintf(stderr, "udpproxy: --log %s: %s\n", p.o.log_path, strerror(errno));
        return 2;
    }
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (setup(&p) != 0)
        return 2;
    p.t0 = tm_now_ms();
    tm_net_print_ready(p.lsock);
    run(&p);
    close(p.lsock);
    close(p.ssock);
    if (p.log != stdout)
        fclose(p.log);
    return 0;
}
