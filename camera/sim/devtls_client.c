/* Client side: socket + connect to the peer (TCP or connected UDP,
 * docs/device-model.md §1.8), with the socket timeout of the request, as the agent
 * does before wrap_socket. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devtls_int.h"

int devtls_sock_open(struct devtls_op *o, struct devtls_sock *s, int family, int dgram)
{
    memset(s, 0, sizeof *s);
    s->fd = socket(family, (dgram ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    s->dgram = dgram;
    s->timeout_ms = o->timeout_ms;
    s->op_deadline = o->deadline;
    s->env = o->env;
    if (s->fd < 0) {
        devtls_exc_errno(&o->exc, errno == EMFILE ? 23 : errno);
        return -1;
    }
    return 0;
}

static void set_nodelay(const struct devtls_op *o, int fd)
{
    int one = 1;
    if (o->nodelay)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int devtls_client_connect(struct devtls_op *o)
{
    struct sockaddr_storage addr;
    unsigned alen = 0;
    devtls_op_stage(o, "socket");
    if (devtls_sock_resolve(o->host, o->port, o->dgram, &addr, &alen, &o->exc) != 0)
        return -1;
    if (devtls_sock_open(o, &o->sock, addr.ss_family, o->dgram) != 0)
        return -1;
    if (!o->dgram)
        set_nodelay(o, o->sock.fd);
    o->sock.hello_hook = 1;
    if (connect(o->sock.fd, (struct sockaddr *)&addr, alen) == 0)
        return 0;
    if (errno != EINPROGRESS) {
        devtls_exc_errno(&o->exc, errno);
        return -1;
    }
    int w = devtls_sock_wait(&o->sock, POLLOUT, 1);
    if (w != 0) {
        devtls_exc_from_mbedtls(&o->exc, w, NULL, 0);
        return -1;
    }
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(o->sock.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
        devtls_exc_errno(&o->exc, err);   /* e.g. [Errno 111] ECONNREFUSED */
        return -1;
    }
    return 0;
}
