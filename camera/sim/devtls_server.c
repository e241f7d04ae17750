/* TLS server: bind, listen, emit `listening` (contracts §3), accept one client, then
 * wrap_socket(server_side=True). "0.0.0.0" binds the virtual camera's only
 * interface, loopback, so nothing is exposed beyond the host. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "devtls_int.h"

/* socket + bind (+ listen for TCP) on o->bind:o->port; shared with DTLS. */
int devtls_server_bind(struct devtls_op *o, int dgram)
{
    const char *host = o->bind;
    if (host == NULL || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "") == 0)
        host = "127.0.0.1";
    struct sockaddr_storage addr;
    unsigned alen = 0;
    devtls_op_stage(o, "socket");
    if (devtls_sock_resolve(host, o->port, dgram, &addr, &alen, &o->exc) != 0)
        return -1;
    if (devtls_sock_open(o, &o->listen, addr.ss_family, dgram) != 0)
        return -1;
    int one = 1;
    setsockopt(o->listen.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(o->listen.fd, (struct sockaddr *)&addr, alen) != 0 ||
        (!dgram && listen(o->listen.fd, 1) != 0)) {
        devtls_exc_errno(&o->exc, errno);   /* [Errno 98] EADDRINUSE */
        return -1;
    }
    return devtls_emit_listening(o, &o->listen);
}

int devtls_server_run(struct devtls_op *o)
{
    if (devtls_server_bind(o, 0) != 0)
        return -1;
    int w = devtls_sock_wait(&o->listen, POLLIN, 1);   /* accept() with settimeout */
    if (w != 0) {
        devtls_exc_from_mbedtls(&o->exc, w, NULL, 0);
        return -1;
    }
    int fd = accept4(o->listen.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        devtls_exc_errno(&o->exc, errno);
        return -1;
    }
    o->sock = o->listen;          /* same timeout/deadline/env */
    o->sock.fd = fd;
    o->sock.dgram = 0;
    if (o->nodelay) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    devtls_sock_close(&o->listen);
    if (devtls_op_reached(o, TM_STAGE_CONNECTED) != 0)
        return -1;
    devtls_op_time(o, "socket");
    if (devtls_op_wrap(o, NULL, 0) != 0)
        return -1;
    return devtls_op_exchange(o);
}
