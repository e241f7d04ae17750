/* The device's TLS/DTLS operations (docs/device-model.md §1–3): MicroPython's `tls`
 * module and `ssl` wrapper semantics on mbedTLS 3.6.6 built with the device's
 * configuration (camera/sim/mbedtls.cmake), so what a user sees is the library's
 * own behaviour: the exceptions (type, args, text), the stage that failed, verify
 * flags against the device RTC. The serial/REPL side of the virtual camera (vcam)
 * calls this for the tls_* and dtls_* agent operations. Whether PEM parsing is
 * compiled in follows the linked variant (tm_mbedtls or tm_mbedtls_pem). */
#ifndef VCAM_DEVTLS_H
#define VCAM_DEVTLS_H

#include <jansson.h>
#include <stdint.h>

#include "tm_fault.h"

struct devtls_env {
    const char *flash_dir;        /* the device file system: "file" items resolve here */
    /* Older firmware (docs/device-model.md §0); 0 = current behaviour: */
    int no_dtls;                  /* no PROTOCOL_DTLS_*: dtls ops answer "unsupported" */
    int no_client_id;             /* wrap_socket(client_id=) is a TypeError */
    int bare_io_errors;           /* read/write errors are OSError(code), no name */
    int64_t (*rtc_now)(void *ctx);/* device RTC as UTC epoch seconds */
    void *rtc_ctx;
    /* Emit an event line now (e.g. {"id":N,"event":"listening",…}); takes ownership. */
    void (*emit)(void *ctx, json_t *event);
    void *emit_ctx;
    /* Polled at least every 50 ms while an operation waits; non-zero aborts it as
     * the device would on Ctrl-C (KeyboardInterrupt) or a fault. */
    int (*interrupted)(void *ctx);
    void *int_ctx;
    /* Called with int_ctx when the operation reaches a named point (tm_fault.h
     * stages) so faults can be placed there; non-zero ends the operation as
     * interrupted() does. May be NULL. */
    int (*reached)(void *ctx, enum tm_fault_stage stage);
    /* Simulated GC heap: bytes in use by TLS state, for heap_before/heap_after. */
    long heap_total;
};

/* Run one tls_client / tls_server / dtls_client / dtls_server request and return
 * its reply object (docs/contracts.md §3), never NULL. Every socket is closed on
 * every path before returning. */
json_t *devtls_run(const struct devtls_env *env, const json_t *request);

/* A connection kept open after its operation (request `keep`, contracts §3). */
struct devtls_conn;

/* devtls_run; when the request has `keep` and the operation succeeds, the
 * connection stays open and *kept gets it (the caller owns it), else NULL. */
json_t *devtls_run_keep(const struct devtls_env *env, const json_t *request,
                        struct devtls_conn **kept);

/* A `conn` request on c (contracts §3): write send_b64, read recv_bytes, then
 * close as `close` says: "tls" (close(): TLS state freed, socket closed), "raw"
 * (only the socket; the TLS state stays), "leave", "abort" (RST, then close()).
 * The reply is a TLS operation's, without heap figures (the caller's); *gone is
 * set when c is finished with (the caller frees it). Never NULL. */
json_t *devtls_conn_run(struct devtls_conn *c, const struct devtls_env *env,
                        const json_t *request, int *gone);
/* Heap c holds (its TLS state), for the caller's account. */
long devtls_conn_heap(const struct devtls_conn *c);
void devtls_conn_free(struct devtls_conn *c);

/* The compiled cipher-suite list in mbedTLS names (docs/device-model.md §3), as
 * get_ciphers() returns it: a new JSON array. */
json_t *devtls_ciphers(void);

/* tls.MBEDTLS_VERSION: the linked library's version string ("Mbed TLS 3.6.6"). */
const char *devtls_mbedtls_version(void);

/* 1 when the linked mbedTLS parses PEM (MBEDTLS_PEM_PARSE_C), as the hello says. */
int devtls_pem(void);

#endif
