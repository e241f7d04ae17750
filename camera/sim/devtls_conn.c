/* Kept connections (docs/contracts.md §3 `keep` and the `conn` op): a session's
 * later steps write, read and close a connection an earlier request opened, as
 * a script holding the socket object would. The operation that opened it stays
 * allocated; each `conn` request borrows it for its own reply, stage and times. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "devtls_int.h"
#include "tm_fs.h"

#define CONN_DEADLINE_MS 60000        /* the device waits forever; vcam must not */

struct devtls_conn {
    struct devtls_op *o;
};

struct devtls_conn *devtls_conn_of(struct devtls_op *o)
{
    struct devtls_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        devtls_op_close_ssl(o);
        devtls_sock_close(&o->sock);
        if (o->ctx_ready)
            devtls_ctx_free(&o->ctx);
        free(o);
        return NULL;
    }
    c->o = o;
    return c;
}

long devtls_conn_heap(const struct devtls_conn *c)
{
    return c->o->heap.in_use;
}

void devtls_conn_free(struct devtls_conn *c)
{
    if (c == NULL)
        return;
    struct devtls_op *o = c->o;
    devtls_op_close_ssl(o);   /* every block goes back to the account it came from */
    devtls_sock_close(&o->sock);
    if (o->ctx_ready)
        devtls_ctx_free(&o->ctx);
    free(o->send);
    free(o->rbuf);
    free(o);
    free(c);
}

static int conn_bad(struct devtls_op *o, const char *msg)
{
    devtls_exc_set(&o->exc, "bad-request", msg);
    return -1;
}

/* A non-negative int field, absent = dflt; the agent's words when it is not. */
static int conn_int(struct devtls_op *o, const char *key, json_int_t dflt, json_int_t *out)
{
    const json_t *v = json_object_get(o->req, key);
    char msg[96];
    *out = dflt;
    if (v == NULL || json_is_null(v))
        return 0;
    snprintf(msg, sizeof msg, json_is_integer(v) ? "out of range: %s" : "wrong type: %s must be int",
             key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return conn_bad(o, msg);
    *out = json_integer_value(v);
    return 0;
}

static const char *const closes[] = { "tls", "raw", "leave", "abort", NULL };

/* The request's fields (agent.py check() for `conn`): the close mode's index, -1
 * for none, or -2 after a bad request. */
static int conn_parse(struct devtls_op *o)
{
    json_int_t recv = 0, tmo = 0, dl = 0;
    const json_t *send = json_object_get(o->req, "send_b64"), *mode = json_object_get(o->req, "recv_mode"),
                 *close = json_object_get(o->req, "close");
    if (conn_int(o, "recv_bytes", 0, &recv) || conn_int(o, "timeout_ms", 0, &tmo) ||
        conn_int(o, "deadline_ms", CONN_DEADLINE_MS, &dl))
        return -2;
    if (recv > (1L << 20))
        return conn_bad(o, "out of range: recv_bytes") - 1;
    if (send != NULL && !json_is_null(send)) {
        long n = json_is_string(send) ? tm_b64_decode(json_string_value(send), &o->send) : -1;
        if (n < 0)
            return conn_bad(o, json_is_string(send) ? "send_b64: not valid base64"
                                                   : "wrong type: send_b64 must be str") - 1;
        o->send_len = (size_t)n;
    }
    if (mode != NULL && !json_is_null(mode) &&
        (!json_is_string(mode) || (strcmp(json_string_value(mode), "read") != 0 &&
                                   strcmp(json_string_value(mode), "recv") != 0)))
        return conn_bad(o, "recv_mode must be \"read\" or \"recv\"") - 1;
    o->recv_mode_recv = json_is_string(mode) && strcmp(json_string_value(mode), "recv") == 0;
    o->recv_bytes = recv > 0 ? (long)recv : -1;
    o->sock.timeout_ms = tmo > 0 ? tmo : -1;
    o->deadline = o->sock.op_deadline = tm_deadline_in(dl > 0 ? dl : CONN_DEADLINE_MS);
    if (close == NULL || json_is_null(close))
        return -1;
    for (int i = 0; closes[i]; i++)
        if (json_is_string(close) && strcmp(json_string_value(close), closes[i]) == 0)
            return i;
    return conn_bad(o, "close must be \"tls\", \"raw\", \"leave\" or \"abort\"") - 1;
}

/* close(): the TLS state freed, the socket closed (no close_notify, §1.7);
 * abort sets SO_LINGER 0 first, so the peer gets an RST. */
static void conn_close(struct devtls_op *o, int mode, int *gone)
{
    devtls_op_stage(o, "close");
    if (mode == 3 && o->sock.fd >= 0) {
        struct linger l = { 1, 0 };
        setsockopt(o->sock.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    if (mode == 0 || mode == 3) {
        devtls_op_close_ssl(o);
        *gone = 1;
    }
    if (mode != 2)
        devtls_sock_close(&o->sock);
    devtls_op_time(o, "close");
}

json_t *devtls_conn_run(struct devtls_conn *c, const struct devtls_env *env,
                        const json_t *request, int *gone)
{
    struct devtls_op *o = c->o;
    *gone = 0;
    o->env = o->sock.env = env;
    o->req = request;
    o->reply = json_object();
    o->ms = json_object();
    memset(&o->exc, 0, sizeof o->exc);
    memset(&o->first_exc, 0, sizeof o->first_exc);
    o->stage = NULL;
    o->bytes_sent = o->bytes_received = 0;
    o->send_len = o->rlen = 0;
    o->attempts = 1;
    o->t_start = o->t_mark = tm_now_ms();
    json_object_set(o->reply, "id", json_object_get(request, "id"));
    json_object_set_new(o->reply, "op", json_string("conn"));
    /* what mbedTLS allocates meanwhile is this connection's */
    o->heap.total = o->heap.in_use + (env->heap_total > 0 ? env->heap_total : 1L << 30);
    devtls_heap_enter(&o->heap);
    int mode = conn_parse(o);
    if (mode >= -1 && o->send_len > 0)
        devtls_op_write(o);
    if (mode >= -1 && !o->exc.set && o->recv_bytes > 0)
        devtls_op_read(o);
    if (mode >= 0 && !o->exc.set)
        conn_close(o, mode, gone);
    if (o->exc.set && o->stage != NULL && strcmp(o->exc.type, "bad-request") != 0)
        devtls_op_time(o, o->stage);
    json_t *r = devtls_op_take_reply(o);
    json_object_del(r, "heap_before");   /* the caller's account says */
    json_object_del(r, "heap_after");
    devtls_heap_leave();
    return r;
}
