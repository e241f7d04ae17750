/* devtls_run: one agent TLS operation (docs/contracts.md §3) the way the device's
 * agent runs it: SSLContext, set_ciphers, load_verify_locations, load_cert_chain,
 * verify_mode, socket, wrap_socket (handshake), write, read, close — each failure
 * reported with the stage, the device's exception and the time per stage. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/platform_time.h>

#include "devtls_int.h"
#include "tm_fs.h"

#define DEFAULT_DEADLINE_MS 60000     /* the device waits forever; vcam must not */
/* The SSLSocket object on the GC heap (it embeds mbedtls_ssl_context; the record
 * buffers and handshake state are mbedTLS's own, counted by devtls_heap.c). */
#define HEAP_SOCKET ((long)sizeof(mbedtls_ssl_context) + 32)
#define MAX_SEND (1L << 20)

static int bad_request(struct devtls_op *o, const char *msg)
{
    devtls_exc_set(&o->exc, "bad-request", msg);
    return -1;
}

void devtls_op_stage(struct devtls_op *o, const char *stage)
{
    o->stage = stage;
}

int devtls_op_reached(struct devtls_op *o, enum tm_fault_stage stage)
{
    if (o->env->reached == NULL || !o->env->reached(o->env->int_ctx, stage))
        return 0;
    devtls_exc_from_mbedtls(&o->exc, DEVTLS_E_INTERRUPTED, NULL, 0);
    return -1;
}

/* Server side: the ClientHello has arrived once the state machine is past it (3.6
 * has no accessor for the state; the handshake is stepped for this). */
static int server_hello_reached(struct devtls_op *o)
{
    if (!o->server || o->hello_seen || o->ssl.MBEDTLS_PRIVATE(state) <= MBEDTLS_SSL_CLIENT_HELLO)
        return 0;
    o->hello_seen = 1;
    return o->env->reached != NULL && o->env->reached(o->env->int_ctx, TM_STAGE_CLIENT_HELLO);
}

void devtls_op_time(struct devtls_op *o, const char *key)
{
    tm_ms now = tm_now_ms();
    json_t *old = json_object_get(o->ms, key);
    json_int_t prev = old ? json_integer_value(old) : 0;
    json_object_set_new(o->ms, key, json_integer(prev + (now - o->t_mark)));
    o->t_mark = now;
}

/* ---- request -------------------------------------------------------------- */

/* The texts are the agent's (agent.py check()), so a malformed request gets the
 * same reply from the virtual camera as from a device. */
static int bad_field(struct devtls_op *o, const char *what, const char *key)
{
    char msg[128];
    snprintf(msg, sizeof msg, "%s%s", what, key);
    return bad_request(o, msg);
}

static int wrong_type(struct devtls_op *o, const char *key, const char *type)
{
    char msg[128];
    snprintf(msg, sizeof msg, "wrong type: %s must be %s", key, type);
    return bad_request(o, msg);
}

static int opt_int(struct devtls_op *o, const char *key, json_int_t *out, int *present)
{
    const json_t *v = json_object_get(o->req, key);
    *present = v != NULL && !json_is_null(v);
    if (!*present)
        return 0;
    if (!json_is_integer(v))
        return wrong_type(o, key, "int");
    *out = json_integer_value(v);
    /* port, recv_bytes, timeout_ms, deadline_ms are never negative; verify_mode takes
     * any int, as the device's setter does (docs/device-model.md §1.1) */
    if ((*out < 0 && strcmp(key, "verify_mode") != 0) ||
        (strcmp(key, "port") == 0 && *out > 65535))
        return bad_field(o, "out of range: ", key);
    return 0;
}

static int opt_bool(struct devtls_op *o, const char *key, int dflt, int *out)
{
    const json_t *v = json_object_get(o->req, key);
    *out = dflt;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return wrong_type(o, key, "bool");
    *out = json_is_true(v);
    return 0;
}

static int opt_str(struct devtls_op *o, const char *key, const char **out)
{
    const json_t *v = json_object_get(o->req, key);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return wrong_type(o, key, "str");
    *out = json_string_value(v);
    return 0;
}

static int opt_list(struct devtls_op *o, const char *key)
{
    const json_t *v = json_object_get(o->req, key);
    if (v != NULL && !json_is_null(v) && !json_is_array(v))
        return wrong_type(o, key, "list");
    return 0;
}

static int check_b64(struct devtls_op *o, const json_t *v, const char *name)
{
    unsigned char *raw = NULL;
    long n = tm_b64_decode(json_string_value(v), &raw);
    free(raw);
    return n < 0 ? bad_field(o, name, ": not valid base64") : 0;
}

/* A ca/chain argument: null, {"file":s}, {"b64":s} or {"str":s} (agent.py _item). */
static int check_item(struct devtls_op *o, const json_t *v, const char *name)
{
    static const char *const keys[] = { "file", "b64", "str" };
    char field[64];
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_object(v)) {
        snprintf(field, sizeof field, "%s items", name);
        return wrong_type(o, field, "objects");
    }
    for (size_t i = 0; i < 3; i++) {
        const json_t *x = json_object_get(v, keys[i]);
        if (x == NULL)
            continue;
        snprintf(field, sizeof field, "%s.%s", name, keys[i]);
        if (!json_is_string(x))
            return wrong_type(o, field, "a string");
        return i == 1 ? check_b64(o, x, field) : 0;
    }
    return bad_field(o, name, " item needs one of file, b64, str");
}

static int check_items(struct devtls_op *o)
{
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(o->req, "ca"), i, v)
        if (check_item(o, v, "ca") != 0)
            return -1;
    json_array_foreach(json_object_get(o->req, "chain"), i, v) {
        if (!json_is_object(v))
            return wrong_type(o, "chain items", "objects");
        if (check_item(o, json_object_get(v, "cert"), "chain.cert") != 0 ||
            check_item(o, json_object_get(v, "key"), "chain.key") != 0)
            return -1;
    }
    return 0;
}

static int check_client_id(struct devtls_op *o)
{
    const json_t *cid = json_object_get(o->req, "client_id");
    if (cid == NULL || json_is_null(cid) ||
        (json_is_string(cid) && strcmp(json_string_value(cid), "auto") == 0))
        return 0;
    if (!json_is_string(json_object_get(cid, "b64")))
        return bad_request(o, "client_id must be \"auto\" or {\"b64\":...}");
    return check_b64(o, json_object_get(cid, "b64"), "client_id.b64");
}

static int parse_request(struct devtls_op *o)
{
    const char *op = NULL, *layer = "tls", *mode = "read", *send_b64 = NULL;
    json_int_t v = 0;
    int present;
    if (opt_str(o, "op", &op) || opt_str(o, "layer", &layer) || opt_str(o, "host", &o->host) ||
        opt_str(o, "bind", &o->bind) || opt_str(o, "recv_mode", &mode) ||
        opt_str(o, "send_b64", &send_b64) || opt_list(o, "ca") || opt_list(o, "chain"))
        return -1;
    if (op == NULL)
        return bad_field(o, "missing field: ", "op");
    o->op = op;
    if (strcmp(op, "tls_client") == 0) {
    } else if (strcmp(op, "tls_server") == 0) {
        o->server = 1;
    } else if (strcmp(op, "dtls_client") == 0) {
        o->dgram = 1;
    } else if (strcmp(op, "dtls_server") == 0) {
        o->server = o->dgram = 1;
    } else {
        return bad_request(o, "unknown op (devtls runs tls_/dtls_ client/server)");
    }
    if (strcmp(layer, "ssl") == 0)
        o->ssl_layer = 1;
    else if (strcmp(layer, "tls") != 0)
        return bad_request(o, "layer must be \"tls\" or \"ssl\"");
    if (strcmp(mode, "recv") == 0)
        o->recv_mode_recv = 1;
    else if (strcmp(mode, "read") != 0)
        return bad_request(o, "recv_mode must be \"read\" or \"recv\"");
    if (opt_int(o, "port", &v, &present))
        return -1;
    o->port = present ? (int)v : 0;
    if (!o->server && o->host == NULL)
        return bad_field(o, "missing field: ", "host");
    if (!o->server && !present)
        return bad_field(o, "missing field: ", "port");
    const json_t *sh = json_object_get(o->req, "server_hostname");
    if (sh != NULL && !json_is_null(sh)) {
        o->server_hostname_v = sh;
        o->server_hostname = json_string_value(sh);   /* NULL for non-str: TypeError later */
    }
    if (opt_int(o, "timeout_ms", &v, &present))
        return -1;
    /* settimeout(0) makes the socket non-blocking; wrap_socket then still spins
     * until done (§1.7), so only the operation deadline bounds it */
    o->timeout_ms = present && v > 0 ? v : -1;
    if (opt_int(o, "deadline_ms", &v, &present))
        return -1;
    o->deadline = tm_deadline_in(present && v > 0 ? v : DEFAULT_DEADLINE_MS);
    if (opt_int(o, "recv_bytes", &v, &present))
        return -1;
    o->recv_bytes = present && v > 0 ? (long)v : -1;
    if (o->recv_bytes > MAX_SEND)
        return bad_field(o, "out of range: ", "recv_bytes");
    if (opt_int(o, "verify_mode", &v, &present))
        return -1;
    if (opt_int(o, "heap_free", &v, &present))
        return -1;
    o->heap_free = present ? (long)v : 0;
    if (opt_bool(o, "nodelay", 0, &o->nodelay) ||
        opt_bool(o, "do_handshake", 1, &o->do_handshake) ||
        opt_bool(o, "nonblocking", 0, &o->nonblocking) ||
        opt_bool(o, "hello_verify_retry", 1, &o->hello_verify_retry) ||
        opt_bool(o, "heap_retry", 0, &o->heap_retry) ||
        opt_bool(o, "keep", 0, &o->keep) || opt_bool(o, "asyncio", 0, &o->asyncio))
        return -1;
    if (send_b64) {
        long n = tm_b64_decode(send_b64, &o->send);
        if (n < 0)
            return bad_request(o, "send_b64: not valid base64");
        if (n > MAX_SEND)
            return bad_field(o, "out of range: ", "send_b64");
        o->send_len = (size_t)n;
    }
    /* a non-blocking handshake is driven by the first read/write (§1.7): without
     * one nothing would drive it (write(b'') never reaches the TLS layer) */
    if ((o->nonblocking || o->asyncio) && o->do_handshake && o->send_len == 0 && o->recv_bytes <= 0)
        return bad_request(o, o->asyncio ? "asyncio needs send_b64 or recv_bytes"
                                         : "nonblocking needs send_b64 or recv_bytes");
    if (o->asyncio && (o->server || o->dgram || o->keep))
        return bad_request(o, "asyncio is for tls_client without keep");
    if (o->asyncio) {
        /* asyncio.open_connection(ssl=ctx) (docs/device-model.md §6): a non-blocking
         * socket wrapped without a handshake, which the first write or read drives,
         * and server_hostname defaults to the host it connects to */
        o->nonblocking = 1;
        if (o->server_hostname_v == NULL)
            o->server_hostname = o->host;
    }
    return check_items(o) != 0 ? -1 : check_client_id(o);
}

/* ---- the SSLContext part --------------------------------------------------- */

static int build_context(struct devtls_op *o)
{
    devtls_op_stage(o, "context");
    if (devtls_ctx_init(&o->ctx, o->env, &o->heap, o->server, o->dgram, o->ssl_layer,
                        &o->exc) != 0)
        return -1;
    o->ctx_ready = 1;
    const json_t *ciphers = json_object_get(o->req, "ciphers");
    if (ciphers != NULL && !json_is_null(ciphers)) {
        if (o->ssl_layer) {   /* §1.1: the wrapper has no set_ciphers (§6.33) */
            devtls_exc_set(&o->exc, "AttributeError",
                           "'SSLContext' object has no attribute 'set_ciphers'");
            return -1;
        }
        if (devtls_ctx_set_ciphers(&o->ctx, ciphers, &o->exc) != 0)
            return -1;
    }
    devtls_op_stage(o, "load_ca");
    const json_t *item;
    size_t i;
    json_array_foreach(json_object_get(o->req, "ca"), i, item)
        if (devtls_load_ca(&o->ctx, item, &o->exc) != 0)
            return -1;
    devtls_op_stage(o, "load_cert");
    json_array_foreach(json_object_get(o->req, "chain"), i, item)
        if (devtls_load_chain(&o->ctx, item, &o->exc) != 0)
            return -1;
    const json_t *vm = json_object_get(o->req, "verify_mode");
    if (json_is_integer(vm))
        devtls_ctx_set_verify_mode(&o->ctx, (int)json_integer_value(vm));
    devtls_op_time(o, "load");
    return 0;
}

/* ---- wrap_socket, handshake, I/O ------------------------------------------- */

/* The DTLS timer MicroPython gives mbedTLS (_mbedtls_timing_set_delay/get_delay):
 * the firmware has no MBEDTLS_TIMING_C. */
static void timer_set_delay(void *ctx, uint32_t int_ms, uint32_t fin_ms)
{
    struct devtls_op *o = ctx;
    o->timer_int_ms = int_ms;
    o->timer_fin_ms = fin_ms;
    if (fin_ms != 0)
        o->timer_start = tm_now_ms();
}

static int timer_get_delay(void *ctx)
{
    const struct devtls_op *o = ctx;
    if (o->timer_fin_ms == 0)
        return -1;
    tm_ms elapsed = tm_now_ms() - o->timer_start;
    if (elapsed >= (tm_ms)o->timer_fin_ms)
        return 2;
    return elapsed >= (tm_ms)o->timer_int_ms ? 1 : 0;
}

static const char *wrap_stage(const struct devtls_op *o)
{
    return o->do_handshake && !o->nonblocking ? "handshake" : "wrap";
}

int devtls_op_wrap(struct devtls_op *o, const unsigned char *cid, size_t cid_len)
{
    devtls_op_stage(o, wrap_stage(o));
    if ((o->ssl_layer || o->env->no_client_id) && json_object_get(o->req, "client_id") != NULL &&
        !json_is_null(json_object_get(o->req, "client_id"))) {
        devtls_exc_type(&o->exc, "unexpected keyword argument 'client_id'");   /* §1.1 */
        return -1;
    }
    if (o->server_hostname_v != NULL && o->server_hostname == NULL) {
        char msg[96];
        snprintf(msg, sizeof msg, "can't convert '%s' object to str implicitly",
                 devtls_pytype(o->server_hostname_v));
        devtls_exc_type(&o->exc, msg);
        return -1;
    }
    /* §1.4: before any I/O, even with a deferred handshake */
    if (!o->server && (o->ctx.verify_mode & 3) == 2 && o->server_hostname == NULL) {
        devtls_exc_value(&o->exc, "CERT_REQUIRED requires server_hostname");
        return -1;
    }
    if (devtls_heap_charge(&o->heap, HEAP_SOCKET) != 0) {
        devtls_exc_memory(&o->exc, HEAP_SOCKET);   /* the object: mp_obj_malloc fails */
        return -1;
    }
    mbedtls_ssl_init(&o->ssl);
    o->ssl_ready = 1;
    o->handshake_done = 0;
    int ret = mbedtls_ssl_setup(&o->ssl, &o->ctx.conf);
    if (ret == 0 && o->server_hostname && !o->server)   /* §1.5: SNI and the name to verify */
        ret = mbedtls_ssl_set_hostname(&o->ssl, o->server_hostname);
    if (ret == 0 && o->dgram) {
        mbedtls_ssl_set_timer_cb(&o->ssl, o, timer_set_delay, timer_get_delay);
        if (cid != NULL)
            ret = mbedtls_ssl_set_client_transport_id(&o->ssl, cid, cid_len);
    }
    if (ret != 0) {
        devtls_exc_from_mbedtls(&o->exc, ret, &o->ssl, 0);
        return -1;
    }
    /* the agent calls setblocking(False) before wrap_socket(do_handshake_on_connect=False) */
    o->sock.nonblocking = o->nonblocking;
    mbedtls_ssl_set_bio(&o->ssl, &o->sock, devtls_bio_send, devtls_bio_recv, NULL);
    return 0;
}

int devtls_op_hello_verify_retryable(const struct devtls_op *o)
{
    return o->exc.has_code && o->exc.code == MBEDTLS_ERR_SSL_HELLO_VERIFY_REQUIRED &&
           o->hello_verify_retry && !o->ssl_layer;
}

/* WANT_READ/WANT_WRITE from ssl I/O: a blocking socket's BIO has already waited, so
 * retry at once; a non-blocking one is polled for one slice first, as the agent
 * polls 50 ms after a None. 0: retry, else the code to raise. */
static int want_wait(struct devtls_op *o, int ret)
{
    return o->sock.nonblocking ? devtls_sock_wait_slice(&o->sock, ret) : 0;
}

int devtls_op_handshake(struct devtls_op *o)
{
    int ret = 0;
    for (int spins = 0; !mbedtls_ssl_is_handshake_over(&o->ssl); spins++) {
        ret = mbedtls_ssl_handshake_step(&o->ssl);
        if (server_hello_reached(o)) {
            ret = DEVTLS_E_INTERRUPTED;
            break;
        }
        if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
            if (spins > 100000 || tm_expired(o->deadline)) {
                ret = -ETIMEDOUT;
                break;
            }
            int w = want_wait(o, ret);
            if (w != 0) {
                ret = w;
                break;
            }
            continue;
        }
        if (ret != 0)
            break;
    }
    if (ret != 0) {
        devtls_exc_from_mbedtls(&o->exc, ret, &o->ssl, 1);
        return -1;
    }
    o->handshake_done = 1;
    json_object_set_new(o->reply, "cipher",
                        json_pack("[ss]", mbedtls_ssl_get_ciphersuite(&o->ssl),
                                  mbedtls_ssl_get_version(&o->ssl)));
    return devtls_op_reached(o, TM_STAGE_HANDSHAKE);
}

/* Deferred handshake (do_handshake false): the first read/write drives it (§1.7). */
static int ensure_handshake(struct devtls_op *o)
{
    return o->handshake_done ? 0 : devtls_op_handshake(o);
}

/* A read/write error after the handshake. Firmware before 2026-02 hands the code to
 * the stream layer, which raises it as it is, without mbedtls_raise_error: no name,
 * and a socket errno stays negated, OSError(-104) (docs/device-model.md §0, §2.4). */
static void io_error(struct devtls_op *o, int ret)
{
    if (o->env->bare_io_errors && o->handshake_done && ret != DEVTLS_E_INTERRUPTED &&
        ret != DEVTLS_E_NOMEM) {
        devtls_exc_oserror(&o->exc, ret, NULL);
        return;
    }
    devtls_exc_from_mbedtls(&o->exc, ret, &o->ssl, 0);
}

int devtls_op_write(struct devtls_op *o)
{
    devtls_op_stage(o, "write");
    if (ensure_handshake(o) != 0)
        return -1;
    /* §1.7: MicroPython's write loops until all is sent; mbedTLS cuts records of at
     * most MBEDTLS_SSL_OUT_CONTENT_LEN, and refuses a bigger DTLS datagram (§1.8) */
    size_t off = 0;
    while (off < o->send_len) {
        int ret = mbedtls_ssl_write(&o->ssl, o->send + off, o->send_len - off);
        if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE)
            ret = want_wait(o, ret);
        if (ret == 0)
            continue;
        if (ret < 0) {
            io_error(o, ret);
            return -1;
        }
        off += (size_t)ret;
        o->bytes_sent = (long)off;
    }
    devtls_op_time(o, "write");
    return devtls_op_reached(o, TM_STAGE_WRITE);
}

int devtls_op_read(struct devtls_op *o)
{
    devtls_op_stage(o, "read");
    if (ensure_handshake(o) != 0 || devtls_op_reached(o, TM_STAGE_READ) != 0)
        return -1;
    o->rbuf = malloc((size_t)o->recv_bytes);
    if (o->rbuf == NULL) {
        devtls_exc_errno(&o->exc, 12);
        return -1;
    }
    for (int spins = 0; o->rlen < (size_t)o->recv_bytes && spins < 100000; spins++) {
        int ret = mbedtls_ssl_read(&o->ssl, o->rbuf + o->rlen, (size_t)o->recv_bytes - o->rlen);
        if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
            ret = want_wait(o, ret);
            if (ret == 0)
                continue;
            io_error(o, ret);
            return -1;
        }
        /* §1.7: close_notify and a bare FIN both read as b'' */
        if (ret == 0 || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || ret == MBEDTLS_ERR_SSL_CONN_EOF)
            break;
        if (ret < 0) {
            io_error(o, ret);
            return -1;
        }
        o->rlen += (size_t)ret;
        o->bytes_received = (long)o->rlen;
        if (o->recv_mode_recv)    /* recv(n): one record */
            break;
    }
    devtls_op_time(o, "read");
    return 0;
}

int devtls_op_exchange(struct devtls_op *o)
{
    if (o->do_handshake && !o->nonblocking) {
        devtls_op_stage(o, "handshake");
        if (ensure_handshake(o) != 0)
            return -1;
    }
    devtls_op_time(o, "handshake");
    if (o->send_len > 0 && devtls_op_write(o) != 0)
        return -1;
    if (o->recv_bytes > 0 && devtls_op_read(o) != 0)
        return -1;
    return 0;
}

/* close(): frees the TLS state and closes the socket without close_notify (§1.7). */
void devtls_op_close_ssl(struct devtls_op *o)
{
    if (o->ssl_ready) {
        mbedtls_ssl_free(&o->ssl);
        o->ssl_ready = 0;
        devtls_heap_release(&o->heap, HEAP_SOCKET);
    }
}

int devtls_emit_listening(struct devtls_op *o, const struct devtls_sock *s)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char addr[64] = "127.0.0.1";
    int port = 0;
    if (getsockname(s->fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, addr, sizeof addr);
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, addr, sizeof addr);
            port = ntohs(a->sin6_port);
        }
    }
    if (o->env->emit)
        o->env->emit(o->env->emit_ctx,
                     json_pack("{s:O?,s:s,s:s,s:i}", "id", json_object_get(o->req, "id"),
                               "event", "listening", "addr", addr, "port", port));
    return devtls_op_reached(o, TM_STAGE_LISTENING);
}

/* ---- the whole operation ---------------------------------------------------- */

/* Everything an attempt left open, closed and freed; the heap account is back
 * where the operation began unless something leaked. */
static void close_all(struct devtls_op *o)
{
    devtls_op_close_ssl(o);
    devtls_sock_close(&o->sock);
    devtls_sock_close(&o->listen);
    if (o->ctx_ready)
        devtls_ctx_free(&o->ctx);
}

static int run_op(struct devtls_op *o)
{
    if (build_context(o) != 0)
        return -1;
    if (o->server)
        return o->dgram ? devtls_dtls_server_run(o) : devtls_server_run(o);
    if (devtls_client_connect(o) != 0 || devtls_op_reached(o, TM_STAGE_CONNECTED) != 0)
        return -1;
    devtls_op_time(o, "socket");
    if (devtls_op_wrap(o, NULL, 0) != 0)
        return -1;
    return devtls_op_exchange(o);
}

/* heap_free (docs/device-model.md §9): the agent holds all but that much of the
 * heap while the operation runs; here the account is capped at it. A device
 * that has less than that free cannot run the case as meant. heap_retry: after
 * a failure the held heap is given back and the operation runs once more (the
 * next handshake after a MemoryError). */
static void run_with_heap(struct devtls_op *o)
{
    if (o->heap_free > o->heap_start) {
        char msg[120];
        snprintf(msg, sizeof msg, "heap_free %ld: only %ld bytes free", o->heap_free,
                 o->heap_start);
        devtls_exc_set(&o->exc, "unsupported", msg);
        o->stage = "heap";
        return;
    }
    if (o->heap_free > 0)
        o->heap.total = o->heap_free;
    o->attempts = 1;
    run_op(o);
    if (!o->exc.set || o->heap_free <= 0 || !o->heap_retry)
        return;
    if (o->stage != NULL)
        devtls_op_time(o, o->stage);
    close_all(o);
    o->ctx_ready = 0;
    o->first_exc = o->exc;
    memset(&o->exc, 0, sizeof o->exc);
    o->heap.total = o->heap_start;
    o->attempts = 2;
    o->handshake_done = o->hello_seen = 0;
    o->bytes_sent = o->bytes_received = 0;
    free(o->rbuf);
    o->rbuf = NULL;
    o->rlen = 0;
    run_op(o);
}

static const char *outcome_of(const struct devtls_op *o)
{
    if (!o->exc.set)
        return "ok";
    if (strcmp(o->exc.type, "OSError") == 0 && o->exc.has_code && !o->exc.has_msg &&
        o->exc.code == ETIMEDOUT)
        return "timeout";
    return "error";
}

void devtls_op_finish_reply(struct devtls_op *o)
{
    json_t *r = o->reply;
    if (o->exc.set && (strcmp(o->exc.type, "bad-request") == 0 ||
                       strcmp(o->exc.type, "unsupported") == 0)) {
        json_object_clear(r);
        json_object_set(r, "id", json_object_get(o->req, "id"));
        if (o->op)
            json_object_set_new(r, "op", json_string(o->op));
        json_object_set_new(r, "outcome", json_string(o->exc.type));
        json_object_set_new(r, "error", json_string(o->exc.msg));
        if (o->stage != NULL) {   /* heap: too little free for heap_free */
            json_object_set_new(r, "stage", json_string(o->stage));
            json_object_set_new(r, "heap_before", json_integer(o->heap_start));
        }
        return;
    }
    json_object_set_new(r, "outcome", json_string(outcome_of(o)));
    json_object_set_new(r, "stage", o->exc.set ? json_string(o->stage) : json_null());
    json_object_set_new(r, "exc", devtls_exc_json(&o->exc));
    json_object_set_new(r, "first_exc", devtls_exc_json(&o->first_exc));
    json_object_set_new(r, "attempts", json_integer(o->attempts));
    json_object_set_new(r, "verify_mode",
                        o->ctx_ready ? json_integer(o->ctx.verify_mode) : json_null());
    if (json_object_get(r, "cipher") == NULL)
        json_object_set_new(r, "cipher", json_null());
    json_object_set_new(r, "ms", o->ms);
    o->ms = NULL;
    json_object_set_new(r, "heap_before", json_integer(o->heap_start));
    json_object_set_new(r, "heap_after", json_integer(o->heap_start - o->heap.in_use));
    if (o->heap_free > 0)
        json_object_set_new(r, "heap_reached", json_integer(o->heap_free));
    json_object_set_new(r, "bytes_sent", json_integer(o->bytes_sent));
    json_object_set_new(r, "bytes_received", json_integer(o->bytes_received));
    char *b64 = tm_b64_encode(o->rbuf ? o->rbuf : (const unsigned char *)"", o->rlen);
    json_object_set_new(r, "received_b64", json_string(b64 ? b64 : ""));
    free(b64);
}

/* The device RTC as mbedTLS's clock (validity of every certificate, cookie age;
 * docs/device-model.md §3 Time). The firmware points MBEDTLS_PLATFORM_TIME_MACRO at
 * its RTC; the library's time hook takes no context, so the running operation's env
 * is found through this per-thread pointer (set for the length of devtls_run). */
static _Thread_local const struct devtls_env *t_rtc_env;

static mbedtls_time_t rtc_time(mbedtls_time_t *out)
{
    const struct devtls_env *env = t_rtc_env;
    mbedtls_time_t now = env && env->rtc_now ? (mbedtls_time_t)env->rtc_now(env->rtc_ctx)
                                             : (mbedtls_time_t)time(NULL);
    if (out)
        *out = now;
    return now;
}

json_t *devtls_op_take_reply(struct devtls_op *o)
{
    json_object_set_new(o->ms, "total", json_integer(tm_now_ms() - o->t_start));
    devtls_op_finish_reply(o);
    json_t *r = o->reply;
    o->reply = NULL;
    json_decref(o->ms);
    o->ms = NULL;
    free(o->send);
    free(o->rbuf);
    o->send = o->rbuf = NULL;
    o->send_len = o->rlen = 0;
    o->req = NULL;
    return r;
}

/* A kept connection (request `keep`): the operation stays allocated, its TLS
 * state and socket open, for devtls_conn_run. What belonged to the request goes. */
static json_t *keep_op(struct devtls_op *o, struct devtls_conn **kept)
{
    devtls_sock_close(&o->listen);
    json_t *r = devtls_op_take_reply(o);
    *kept = devtls_conn_of(o);
    t_rtc_env = NULL;
    devtls_heap_leave();
    return *kept ? r : (json_decref(r), json_pack("{s:s,s:s}", "outcome", "bad-request",
                                                  "error", "out of memory"));
}

json_t *devtls_run(const struct devtls_env *env, const json_t *request)
{
    return devtls_run_keep(env, request, NULL);
}

json_t *devtls_run_keep(const struct devtls_env *env, const json_t *request,
                        struct devtls_conn **kept)
{
    if (kept != NULL)
        *kept = NULL;
    struct devtls_op *o = calloc(1, sizeof *o);
    if (o == NULL)
        return json_pack("{s:O?,s:s,s:s}", "id", json_object_get(request, "id"),
                         "outcome", "bad-request", "error", "out of memory");
    o->env = env;
    t_rtc_env = env;
    mbedtls_platform_set_time(rtc_time);
    o->req = request;
    o->reply = json_object();
    o->ms = json_object();
    o->sock.fd = o->listen.fd = -1;
    o->heap.total = o->heap_start = env->heap_total > 0 ? env->heap_total : 1L << 30;
    devtls_heap_enter(&o->heap);
    o->t_start = o->t_mark = tm_now_ms();
    json_object_set(o->reply, "id", json_object_get(request, "id"));
    json_object_set(o->reply, "op", json_object_get(request, "op"));
    if (!json_is_object(request))
        bad_request(o, "request must be a JSON object");
    else if (parse_request(o) == 0 && o->dgram && env->no_dtls)   /* as agent.py says it */
        devtls_exc_set(&o->exc, "unsupported", o->ssl_layer ? "no ssl DTLS on this device"
                                                            : "no tls DTLS on this device");
    else if (!o->exc.set)
        run_with_heap(o);
    if (!o->exc.set && o->keep && kept != NULL && o->ssl_ready)
        return keep_op(o, kept);
    /* the failed stage's time under its name, as the agent reports it; then close
     * every socket on every path (contracts §3, device close() §1.7) */
    if (o->exc.set && o->stage != NULL)
        devtls_op_time(o, o->stage);
    o->t_mark = tm_now_ms();
    close_all(o);
    devtls_op_time(o, "close");
    json_object_set_new(o->ms, "total", json_integer(tm_now_ms() - o->t_start));
    devtls_op_finish_reply(o);
    json_t *r = o->reply;
    json_decref(o->ms);
    free(o->send);
    free(o->rbuf);
    free(o);
    t_rtc_env = NULL;
    devtls_heap_leave();
    return r;
}
