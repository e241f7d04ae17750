/* DTLS server (docs/device-model.md §1.8): a bound UDP socket connected to the first
 * client, client_id = repr(addr).encode() for "auto", HelloVerify cookies from the
 * context. The first wrap_socket of a new client sends HelloVerifyRequest and fails
 * with OSError(-27264); the agent then calls wrap_socket again on the same context
 * (hello_verify_retry), which succeeds: first_exc + attempts 2. On a non-blocking
 * socket the handshake is deferred, so the failure comes from the first read/write
 * and the retry wraps again there. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "devtls_int.h"
#include "tm_fs.h"

/* repr() of the address tuple as MicroPython on lwIP prints it. */
static void addr_repr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
    char host[64] = "";
    int port = 0;
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
    }
    snprintf(buf, len, "('%s', %d)", host, port);
}

/* Wait for the first datagram, learn its sender without consuming it, connect. */
static int accept_peer(struct devtls_op *o, struct sockaddr_storage *peer)
{
    int w = devtls_sock_wait(&o->listen, POLLIN, 1);
    if (w != 0) {
        devtls_exc_from_mbedtls(&o->exc, w, NULL, 0);
        return -1;
    }
    unsigned char b;
    socklen_t plen = sizeof *peer;
    if (recvfrom(o->listen.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT, (struct sockaddr *)peer, &plen) < 0 ||
        connect(o->listen.fd, (struct sockaddr *)peer, plen) != 0) {
        devtls_exc_errno(&o->exc, errno);
        return -1;
    }
    o->sock = o->listen;
    o->listen.fd = -1;
    return 0;
}

/* The client_id argument: "auto", {"b64":…} or absent (→ -28928 in the handshake). */
static int client_id(struct devtls_op *o, const struct sockaddr_storage *peer,
                     unsigned char **cid, size_t *cid_len)
{
    const json_t *v = json_object_get(o->req, "client_id");
    *cid = NULL;
    *cid_len = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_string(v)) {
        char repr[96];
        addr_repr(peer, repr, sizeof repr);
        *cid = (unsigned char *)strdup(repr);
        *cid_len = strlen(repr);
        return *cid ? 0 : -1;
    }
    long n = tm_b64_decode(json_string_value(json_object_get(v, "b64")), cid);
    if (n < 0) {
        devtls_exc_set(&o->exc, "bad-request", "client_id.b64: not valid base64");
        return -1;
    }
    *cid_len = (size_t)n;
    return 0;
}

int devtls_dtls_server_run(struct devtls_op *o)
{
    struct sockaddr_storage peer;
    unsigned char *cid = NULL;
    size_t cid_len = 0;
    int rc = -1;
    if (devtls_server_bind(o, 1) != 0 || accept_peer(o, &peer) != 0 ||
        devtls_op_reached(o, TM_STAGE_CONNECTED) != 0)
        goto out;
    devtls_op_time(o, "socket");
    if (client_id(o, &peer, &cid, &cid_len) != 0)
        goto out;
    if (devtls_op_wrap(o, cid, cid_len) != 0)
        goto out;
    if (o->nonblocking || !o->do_handshake) {   /* deferred: the first I/O drives it */
        rc = devtls_op_exchange(o);
        if (rc == 0 || !o->nonblocking)
            goto out;
    } else {
        devtls_op_stage(o, "handshake");
        if (devtls_op_handshake(o) == 0) {
            rc = devtls_op_exchange(o);
            goto out;
        }
    }
    if (!devtls_op_hello_verify_retryable(o))
        goto out;
    /* second wrap_socket on the same context: a new ssl object, same cookie key */
    o->first_exc = o->exc;
    memset(&o->exc, 0, sizeof o->exc);
    devtls_op_close_ssl(o);
    o->attempts = 2;
    if (devtls_op_wrap(o, cid, cid_len) != 0)
        goto out;
    rc = devtls_op_exchange(o);
out:
    free(cid);
    return rc;
}
