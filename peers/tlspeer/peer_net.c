/* Sockets: every socket is non-blocking and every wait has the run's deadline. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "peer.h"

static int sock_type(const struct peer_opts *o)
{
    return o->proto == PEER_DTLS ? SOCK_DGRAM : SOCK_STREAM;
}

static void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static int local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
}

int peer_listen(const struct peer_opts *o, int *port, struct tm_err *err)
{
    struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV,
                              .ai_socktype = sock_type(o) };
    struct addrinfo *ai = NULL;
    char service[8];
    snprintf(service, sizeof service, "%d", o->accept_port);
    int rc = getaddrinfo(o->bind_addr, service, &hints, &ai);
    if (rc != 0)
        return tm_err_set(err, "--bind %s: %s", o->bind_addr, gai_strerror(rc));
    int fd = socket(ai->ai_family, ai->ai_socktype, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
        (o->proto == PEER_TLS && listen(fd, 4) < 0)) {
        tm_err_set(err, "--bind %s --accept %d: %s", o->bind_addr, o->accept_port,
                   strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    set_nonblock(fd);
    *port = local_port(fd);
    return fd;
}

static int wait_fd(int fd, short events, tm_ms deadline)
{
    for (;;) {   /* bounded by the deadline; EINTR only repeats */
        struct pollfd p = { fd, events, 0 };
        int n = poll(&p, 1, (int)tm_remaining_ms(deadline));
        if (n > 0)
            return 0;
        if (n == 0)
            return 1;
        if (errno != EINTR)
            return -1;
    }
}

int peer_accept(struct peer_conn *c, int lfd)
{
    int w = wait_fd(lfd, POLLIN, c->deadline);
    if (w != 0)
        return w;
    c->addrlen = sizeof c->addr;
    c->fd = accept(lfd, (struct sockaddr *)&c->addr, &c->addrlen);
    if (c->fd < 0) {
        peer_result_error(c->res, errno, "accept: %s", strerror(errno));
        return -1;
    }
    set_nonblock(c->fd);
    return 0;
}

/* DTLS: the listening socket becomes the connection: peek at the first datagram
 * for its sender, then connect() so everything else comes from that peer only. */
int peer_dtls_first(struct peer_conn *c, int lfd)
{
    int w = wait_fd(lfd, POLLIN, c->deadline);
    if (w != 0)
        return w;
    char b;
    c->addrlen = sizeof c->addr;
    if (recvfrom(lfd, &b, 1, MSG_PEEK, (struct sockaddr *)&c->addr, &c->addrlen) < 0 ||
        connect(lfd, (struct sockaddr *)&c->addr, c->addrlen) < 0) {
        peer_result_error(c->res, errno, "first datagram: %s", strerror(errno));
        return -1;
    }
    c->fd = lfd;
    return 0;
}

/* One address: non-blocking connect, waiting for it with the deadline. */
static int connect_one(struct peer_conn *c, const struct addrinfo *ai)
{
    c->fd = socket(ai->ai_family, ai->ai_socktype, 0);
    if (c->fd < 0)
        return errno;
    set_nonblock(c->fd);
    memcpy(&c->addr, ai->ai_addr, ai->ai_addrlen);
    c->addrlen = ai->ai_addrlen;
    int soerr = 0;
    if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        soerr = errno;
        if (soerr == EINPROGRESS) {
            socklen_t len = sizeof soerr;
            int w = wait_fd(c->fd, POLLOUT, c->deadline);
            soerr = 0;
            if (w == 0)
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
            else
                soerr = w == 1 ? ETIMEDOUT : errno;
        }
    }
    if (soerr != 0) {
        close(c->fd);
        c->fd = -1;
    }
    return soerr;
}

/* Every address of the host in turn (localhost may be ::1 then 127.0.0.1). */
int peer_connect(struct peer_conn *c)
{
    const struct peer_opts *o = c->o;
    struct addrinfo hints = { .ai_socktype = sock_type(o), .ai_flags = AI_NUMERICSERV };
    struct addrinfo *ai = NULL;
    char service[8];
    int err = 0;
    snprintf(service, sizeof service, "%d", o->connect_port);
    int rc = getaddrinfo(o->connect_host, service, &hints, &ai);
    if (rc != 0) {
        peer_result_error(c->res, rc, "%s: %s", o->connect_host, gai_strerror(rc));
        return -1;
    }
    for (struct addrinfo *a = ai; a != NULL && !tm_expired(c->deadline); a = a->ai_next)
        if ((err = connect_one(c, a)) == 0)
            break;
    freeaddrinfo(ai);
    if (c->fd < 0) {
        peer_result_error(c->res, err ? err : ETIMEDOUT, "connect %s:%d: %s", o->connect_host,
                          o->connect_port, err == ETIMEDOUT || err == 0 ? "deadline reached"
                                                                        : strerror(err));
        return -1;
    }
    return 0;
}

void peer_set_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}
