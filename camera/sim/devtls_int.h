/* devtls internals shared by devtls_*.c (not part of the public interface). The
 * device is MicroPython's `tls` module on mbedTLS 3.6.6, and so is this: the same
 * library with the device's configuration (camera/sim/mbedtls.cmake); devtls adds
 * what MicroPython adds above it (docs/device-model.md §1, §2.1). */
#ifndef VCAM_DEVTLS_INT_H
#define VCAM_DEVTLS_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cookie.h>
#include <mbedtls/x509_crt.h>

#include "devtls.h"
#include "tm_time.h"

#define DEVTLS_POLL_MS 50             /* interrupted() is polled at least this often */

/* A Python exception as the agent reports it: type, args, str(exc). */
struct devtls_exc {
    int set;
    char type[32];
    int has_code;                     /* args[0] is an int */
    long code;
    int has_msg;                      /* args[n] is a str */
    char msg[512];
};

/* Internal pseudo-codes for what is not an mbedTLS return value; devtls_errors.c
 * maps them (and every mbedTLS code) to what the device raises. */
enum {
    DEVTLS_E_INTERRUPTED = -0x10001,  /* env->interrupted(): KeyboardInterrupt */
    DEVTLS_E_NOMEM,                   /* simulated heap exhausted: OSError(12) */
};

/* A socket with the device's semantics: blocking with its timeout (polled for
 * interrupts), or non-blocking after setblocking(False) (contracts §3
 * `nonblocking`), where the BIO gives WANT_READ/WANT_WRITE as the device's does. */
struct devtls_sock {
    int fd;
    int dgram;
    int nonblocking;                  /* setblocking(False): the BIO never waits */
    int64_t timeout_ms;               /* socket timeout (settimeout); <0: none */
    tm_ms op_deadline;                /* whole operation; 0: none */
    const struct devtls_env *env;
    int interrupted;                  /* set when env->interrupted() fired */
    int deadline_hit;                 /* the operation deadline (not the socket timeout) */
    long wire_sent, wire_received;    /* raw bytes, for diagnostics */
    int hello_hook;                   /* a client's first send is its ClientHello:
                                       * report TM_STAGE_CLIENT_HELLO after it */
};

/* The simulated GC heap: mbedTLS's allocations and the tls objects (devtls_heap.c). */
struct devtls_heap {
    long total, in_use, peak;
};

/* One SSLContext of the device (tls.SSLContext, or ssl.SSLContext's native one). */
struct devtls_ctx {
    const struct devtls_env *env;
    struct devtls_heap *heap;
    int server, dgram;
    int ssl_layer;                    /* created through the ssl wrapper */
    int verify_mode;                  /* as the verify_mode attribute reads */
    mbedtls_ssl_config conf;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt ca;              /* trust list (accumulates, §1.2) */
    int n_ca;
    mbedtls_x509_crt own;             /* own chain (appends, §1.3) */
    int n_own;
    mbedtls_pk_context key;
    int has_key;
    mbedtls_ssl_cookie_ctx cookie;
    int *ciphers;                     /* set_ciphers() list, 0-terminated; NULL: default */
    long heap_charged;
};

/* devtls_errors.c: MicroPython's mbedtls_raise_error (§2.1) and exception texts. */
void devtls_exc_oserror(struct devtls_exc *e, long code, const char *msg);
void devtls_exc_errno(struct devtls_exc *e, int err);
/* A MicroPython object the heap cannot hold: MemoryError, as m_malloc_fail says it. */
void devtls_exc_memory(struct devtls_exc *e, long bytes);
void devtls_exc_value(struct devtls_exc *e, const char *msg);
void devtls_exc_type(struct devtls_exc *e, const char *msg);
void devtls_exc_set(struct devtls_exc *e, const char *type, const char *msg);
/* Map an mbedTLS return value (or DEVTLS_E_*) to the device's exception; ssl may be
 * NULL. during_handshake selects the handshake-only rule (§2.1 rule 5). */
void devtls_exc_from_mbedtls(struct devtls_exc *e, int ret, const mbedtls_ssl_context *ssl,
                             int during_handshake);
json_t *devtls_exc_json(const struct devtls_exc *e);
/* type name of a JSON value as MicroPython would name the converted object */
const char *devtls_pytype(const json_t *v);

/* devtls_ctx.c: context/options */
int devtls_ctx_init(struct devtls_ctx *c, const struct devtls_env *env,
                    struct devtls_heap *heap, int server, int dgram, int ssl_layer,
                    struct devtls_exc *exc);
void devtls_ctx_free(struct devtls_ctx *c);
int devtls_ctx_set_ciphers(struct devtls_ctx *c, const json_t *list, struct devtls_exc *exc);
void devtls_ctx_set_verify_mode(struct devtls_ctx *c, int mode);
int devtls_heap_charge(struct devtls_heap *h, long n);
void devtls_heap_release(struct devtls_heap *h, long n);
/* devtls_heap.c: mbedTLS allocations on this thread are charged to h until leave. */
void devtls_heap_enter(struct devtls_heap *h);
void devtls_heap_leave(void);
/* 1 when the running operation's account could still give n bytes (or there is
 * no account). */
int devtls_heap_has(long n);

/* devtls_load.c: CA/cert/key items (contracts §3 `ca`/`chain`) */
int devtls_load_ca(struct devtls_ctx *c, const json_t *item, struct devtls_exc *exc);
int devtls_load_chain(struct devtls_ctx *c, const json_t *item, struct devtls_exc *exc);

/* devtls_net.c: sockets and the mbedTLS BIO */
int devtls_bio_send(void *ctx, const unsigned char *buf, size_t len);
int devtls_bio_recv(void *ctx, unsigned char *buf, size_t len);
/* Wait for fd readable/writable honouring timeout, deadline, interrupts.
 * 0 ready, else a negative code (-110, DEVTLS_E_INTERRUPTED). */
int devtls_sock_wait(struct devtls_sock *s, short events, int use_timeout);
/* One wait of a non-blocking I/O loop (the agent's poll(50) after a None): at most
 * DEVTLS_POLL_MS for the direction mbedTLS asked for (ret = WANT_READ/WANT_WRITE).
 * 0 to retry, -110 past the deadline, DEVTLS_E_INTERRUPTED. */
int devtls_sock_wait_slice(struct devtls_sock *s, int ret);
int devtls_sock_resolve(const char *host, int port, int dgram, void *addr, unsigned *alen,
                        struct devtls_exc *exc);
void devtls_sock_close(struct devtls_sock *s);

/* One request being run: shared by client, server and dtls flows. */
struct devtls_op {
    const struct devtls_env *env;
    const json_t *req;
    json_t *reply;
    const char *op;
    int server, dgram, ssl_layer;
    const char *host;
    int port;
    const char *bind;
    const char *server_hostname;      /* NULL: not passed */
    const json_t *server_hostname_v;  /* raw value (type checks) */
    int do_handshake;
    int nonblocking;                  /* the first read/write drives the handshake */
    int hello_verify_retry;
    unsigned char *send;
    size_t send_len;
    long recv_bytes;                  /* <0: do not read */
    int recv_mode_recv;
    int64_t timeout_ms;
    tm_ms deadline;
    int nodelay;
    long heap_free;                   /* >0: the operation runs with only this free */
    int heap_retry;                   /* after a failure under heap_free: once more */
    long heap_start;                  /* free heap when the request came */
    int keep;                         /* the connection outlives the request */
    int asyncio;                      /* asyncio.open_connection (a non-blocking client) */
    struct devtls_heap heap;
    struct devtls_ctx ctx;
    int ctx_ready;
    struct devtls_sock sock;
    struct devtls_sock listen;
    mbedtls_ssl_context ssl;
    int ssl_ready;
    tm_ms timer_start;                /* DTLS timer (MicroPython's, not MBEDTLS_TIMING_C) */
    uint32_t timer_int_ms, timer_fin_ms;
    int handshake_done;
    int hello_seen;                   /* server: TM_STAGE_CLIENT_HELLO reported */
    const char *stage;
    struct devtls_exc exc, first_exc;
    int attempts;
    long bytes_sent, bytes_received;
    unsigned char *rbuf;
    size_t rlen;
    tm_ms t_start, t_mark;
    json_t *ms;
};

void devtls_op_stage(struct devtls_op *o, const char *stage);
/* A named point (tm_fault.h) reached: 0 to go on, -1 when env->reached() ended the
 * operation (exc set as for an interrupt). */
int devtls_op_reached(struct devtls_op *o, enum tm_fault_stage stage);
void devtls_op_time(struct devtls_op *o, const char *key);
int devtls_op_wrap(struct devtls_op *o, const unsigned char *cid, size_t cid_len);
int devtls_op_handshake(struct devtls_op *o);
int devtls_op_exchange(struct devtls_op *o);
int devtls_op_write(struct devtls_op *o);
int devtls_op_read(struct devtls_op *o);
/* o's outcome, stage, exception, timings, heap and data into o->reply. */
void devtls_op_finish_reply(struct devtls_op *o);
/* The finished reply (total time set), handed over; what belonged to the request
 * (its data, the request itself) is dropped, the connection stays. */
json_t *devtls_op_take_reply(struct devtls_op *o);
/* devtls_conn.c: a kept operation as a connection (NULL out of memory, o freed). */
struct devtls_conn *devtls_conn_of(struct devtls_op *o);
/* After a failed attempt: a DTLS server's HelloVerify failure that hello_verify_retry
 * answers with a second wrap_socket on the same context (§1.8). */
int devtls_op_hello_verify_retryable(const struct devtls_op *o);
void devtls_op_close_ssl(struct devtls_op *o);

/* devtls_client.c / devtls_server.c / devtls_dtls.c */
int devtls_client_connect(struct devtls_op *o);
int devtls_server_run(struct devtls_op *o);
int devtls_dtls_server_run(struct devtls_op *o);
int devtls_server_bind(struct devtls_op *o, int dgram);
int devtls_emit_listening(struct devtls_op *o, const struct devtls_sock *s);
/* socket(): a blocking-semantics socket whose timeout/deadline come from o */
int devtls_sock_open(struct devtls_op *o, struct devtls_sock *s, int family, int dgram);

#endif
