/* SSLContext (docs/device-model.md §1.1, §1.6): MicroPython's ssl_context_make_new,
 * set_ciphers and verify_mode setter, and the simulated heap. What the context
 * offers (TLS 1.2 only, the 18 suites, groups, signature algorithms, the X.509
 * profile, no tickets/renegotiation/EMS/ETM, §3) is the compiled configuration's
 * default, as on the device. */
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/version.h>

#include "devtls_int.h"

/* The SSLContext object on the GC heap: the device embeds ssl_config, CTR-DRBG,
 * entropy pool, certificate and key heads in it (what they point to is mbedTLS's
 * own, counted by devtls_heap.c). */
#define HEAP_CONTEXT ((long)sizeof(struct devtls_ctx))

json_t *devtls_ciphers(void)
{
    json_t *list = json_array();
    for (const int *id = mbedtls_ssl_list_ciphersuites(); *id != 0; id++)
        json_array_append_new(list, json_string(mbedtls_ssl_get_ciphersuite_name(*id)));
    return list;
}

const char *devtls_mbedtls_version(void)
{
    return MBEDTLS_VERSION_STRING_FULL;
}

int devtls_pem(void)
{
#if defined(MBEDTLS_PEM_PARSE_C)
    return 1;
#else
    return 0;
#endif
}

int devtls_ctx_init(struct devtls_ctx *c, const struct devtls_env *env,
                    struct devtls_heap *heap, int server, int dgram, int ssl_layer,
                    struct devtls_exc *exc)
{
    static const unsigned char seed[] = "upy";   /* the device's personalisation */
    memset(c, 0, sizeof *c);
    c->env = env;
    c->heap = heap;
    c->server = server;
    c->dgram = dgram;
    c->ssl_layer = ssl_layer;
    mbedtls_ssl_config_init(&c->conf);
    mbedtls_entropy_init(&c->entropy);
    mbedtls_ctr_drbg_init(&c->drbg);
    mbedtls_x509_crt_init(&c->ca);
    mbedtls_x509_crt_init(&c->own);
    mbedtls_pk_init(&c->key);
    mbedtls_ssl_cookie_init(&c->cookie);
    if (devtls_heap_charge(heap, HEAP_CONTEXT) != 0) {
        devtls_exc_memory(exc, HEAP_CONTEXT);   /* the object: mp_obj_malloc fails */
        return -1;   /* nothing allocated or charged yet */
    }
    c->heap_charged = HEAP_CONTEXT;
    int ret = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy, seed,
                                    sizeof seed);
    if (ret == 0)
        ret = mbedtls_ssl_config_defaults(&c->conf,
                                          server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
                                          dgram ? MBEDTLS_SSL_TRANSPORT_DATAGRAM
                                                : MBEDTLS_SSL_TRANSPORT_STREAM,
                                          MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret != 0) {
        devtls_exc_from_mbedtls(exc, ret, NULL, 0);
        devtls_ctx_free(c);   /* what seeding allocated, and the object's charge */
        return -1;
    }
    mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
    if (dgram && server) {   /* §1.8: cookies belong to the context */
        ret = mbedtls_ssl_cookie_setup(&c->cookie, mbedtls_ctr_drbg_random, &c->drbg);
        if (ret != 0) {
            devtls_exc_from_mbedtls(exc, ret, NULL, 0);
            devtls_ctx_free(c);
            return -1;
        }
        mbedtls_ssl_conf_dtls_cookies(&c->conf, mbedtls_ssl_cookie_write,
                                      mbedtls_ssl_cookie_check, &c->cookie);
    }
    /* §1.1: tls client (TLS and DTLS) defaults to CERT_REQUIRED, server to CERT_NONE;
     * ssl.SSLContext always sets CERT_NONE. */
    devtls_ctx_set_verify_mode(c, (!server && !ssl_layer) ? 2 : 0);
    return 0;
}

/* §1.1: the setter accepts any int, unchecked; mbedTLS keeps 2 bits of it. */
void devtls_ctx_set_verify_mode(struct devtls_ctx *c, int mode)
{
    c->verify_mode = mode;
    mbedtls_ssl_conf_authmode(&c->conf, mode);
}

/* §1.6 set_ciphers: list/tuple of mbedTLS names of compiled suites. */
int devtls_ctx_set_ciphers(struct devtls_ctx *c, const json_t *list, struct devtls_exc *exc)
{
    char msg[96];
    if (!json_is_array(list)) {
        snprintf(msg, sizeof msg, "object '%s' isn't a tuple or list", devtls_pytype(list));
        devtls_exc_type(exc, msg);
        return -1;
    }
    size_t n = json_array_size(list);
    if (n == 0) {
        devtls_exc_from_mbedtls(exc, MBEDTLS_ERR_SSL_BAD_CONFIG, NULL, 0);
        return -1;
    }
    int *ids = calloc(n + 1, sizeof *ids);
    if (ids == NULL) {
        devtls_exc_errno(exc, 12);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(list, i);
        if (!json_is_string(v)) {
            snprintf(msg, sizeof msg, "can't convert '%s' object to str implicitly",
                     devtls_pytype(v));
            devtls_exc_type(exc, msg);
            free(ids);
            return -1;
        }
        ids[i] = mbedtls_ssl_get_ciphersuite_id(json_string_value(v));   /* 0: not compiled */
        if (ids[i] == 0) {
            devtls_exc_from_mbedtls(exc, MBEDTLS_ERR_SSL_BAD_CONFIG, NULL, 0);
            free(ids);
            return -1;
        }
    }
    mbedtls_ssl_conf_ciphersuites(&c->conf, ids);
    free(c->ciphers);
    c->ciphers = ids;
    return 0;
}

void devtls_ctx_free(struct devtls_ctx *c)
{
    mbedtls_ssl_cookie_free(&c->cookie);
    mbedtls_pk_free(&c->key);
    mbedtls_x509_crt_free(&c->own);
    mbedtls_x509_crt_free(&c->ca);
    mbedtls_ctr_drbg_free(&c->drbg);
    mbedtls_entropy_free(&c->entropy);
    mbedtls_ssl_config_free(&c->conf);
    free(c->ciphers);
    c->ciphers = NULL;
    if (c->heap)
        devtls_heap_release(c->heap, c->heap_charged);
    c->heap_charged = 0;
}
