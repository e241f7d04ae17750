/* tcp: links — a serial port exported raw over the network (ser2net "raw"
 * mode, a labgrid exporter): the byte stream is the port's, nothing added. */
#include "link_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONNECT_MS 5000

static int connect_one(const struct addrinfo *ai, tm_ms deadline, struct tm_err *err)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
    if (fd < 0)
        return tm_err_set(err, "socket: %s", strerror(errno));
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
        tm_err_set(err, "connect: %s", strerror(errno));
        close(fd);
        return -1;
    }
    struct pollfd pfd = { fd, POLLOUT, 0 };
    int pr = poll(&pfd, 1, (int)tm_remaining_ms(deadline));
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (pr <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
        tm_err_set(err, "connect: %s", pr == 0 ? "timed out" : strerror(soerr ? soerr : errno));
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* "HOST:PORT" (or "[V6]:PORT") into host; the port must be a number in 1..65535. */
static int parse_arg(const char *arg, char *host, size_t hostlen, struct tm_err *err)
{
    const char *colon = strrchr(arg, ':');
    if (colon == NULL || colon == arg || colon[1] == '\0' || (size_t)(colon - arg) >= hostlen)
        return tm_err_set(err, "tcp: expected HOST:PORT, got '%s'", arg);
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 1 || port > 65535)
        return tm_err_set(err, "tcp: port '%s' is not a number in 1..65535", colon + 1);
    memcpy(host, arg, (size_t)(colon - arg));
    host[colon - arg] = '\0';
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {   /* [::1]:port */
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    return 0;
}

int link_tcp_check(const char *arg, struct tm_err *err)
{
    char host[256];
    return parse_arg(arg, host, sizeof host, err);
}

int link_tcp_open(struct link *l, const char *arg, struct tm_err *err)
{
    char host[256];
    l->kind = LINK_TCP;
    if (parse_arg(arg, host, sizeof host, err) != 0)
        return -1;
    const char *colon = strrchr(arg, ':');
    struct addrinfo hints = { 0 }, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host, colon + 1, &hints, &res);
    if (gai != 0)
        return tm_err_set(err, "tcp: %s: %s", arg, gai_strerror(gai));
    tm_ms deadline = tm_deadline_in(CONNECT_MS);
    int fd = -1;
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
        fd = connect_one(ai, deadline, err);
    freeaddrinfo(res);
    if (fd < 0)
        return tm_err_prefix(err, "tcp: %s", arg);
    l->fd = fd;
    return 0;
}
