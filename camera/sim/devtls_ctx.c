/* SSLContext: the device's compiled-in options (docs/device-model.md §1.1, §1.6, §3)
 * imposed on a 2.28 mbedtls_ssl_config, and the simulated heap. */
#include <string.h>

#include <mbedtls/ssl_ciphersuites.h>

#include "devtls_int.h"

/* §3: the device's 18 suites in its order (mbedTLS 3.6 preference order, restricted
 * to what the firmware compiles). 2.28 would offer ~100 by default. */
static const char *const k_cipher_names[] = {
    "TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384",
    "TLS-ECDHE-RSA-WITH-AES-256-GCM-SHA384",
    "TLS-ECDHE-ECDSA-WITH-AES-256-CBC-SHA384",
    "TLS-ECDHE-RSA-WITH-AES-256-CBC-SHA384",
    "TLS-ECDHE-ECDSA-WITH-AES-256-CBC-SHA",
    "TLS-ECDHE-RSA-WITH-AES-256-CBC-SHA",
    "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256",
    "TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256",
    "TLS-ECDHE-ECDSA-WITH-AES-128-CBC-SHA256",
    "TLS-ECDHE-RSA-WITH-AES-128-CBC-SHA256",
    "TLS-ECDHE-ECDSA-WITH-AES-128-CBC-SHA",
    "TLS-ECDHE-RSA-WITH-AES-128-CBC-SHA",
    "TLS-RSA-WITH-AES-256-GCM-SHA384",
    "TLS-RSA-WITH-AES-256-CBC-SHA256",
    "TLS-RSA-WITH-AES-256-CBC-SHA",
    "TLS-RSA-WITH-AES-128-GCM-SHA256",
    "TLS-RSA-WITH-AES-128-CBC-SHA256",
    "TLS-RSA-WITH-AES-128-CBC-SHA",
    NULL
};
#define N_CIPHERS 18

/* §3 groups: P-256, P-384, P-521 only (2.28 would also offer X25519, brainpool…). */
static const mbedtls_ecp_group_id k_curves[] = {
    MBEDTLS_ECP_DP_SECP256R1, MBEDTLS_ECP_DP_SECP384R1, MBEDTLS_ECP_DP_SECP521R1,
    MBEDTLS_ECP_DP_NONE
};

/* §3 signature algorithms 0x0603,0x0601,0x0503,0x0501,0x0403,0x0401: 2.28 writes
 * ECDSA then RSA for each hash in this order; no SHA-1, SHA-224. */
static const int k_sig_hashes[] = {
    MBEDTLS_MD_SHA512, MBEDTLS_MD_SHA384, MBEDTLS_MD_SHA256, MBEDTLS_MD_NONE
};

/* §2.2 security profile: SHA-256/384/512, RSA >= 2048, curves P-256/384/521. */
static const mbedtls_x509_crt_profile k_profile = {
    MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_SHA256) | MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_SHA384) |
        MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_SHA512),
    0xFFFFFFF,
    MBEDTLS_X509_ID_FLAG(MBEDTLS_ECP_DP_SECP256R1) | MBEDTLS_X509_ID_FLAG(MBEDTLS_ECP_DP_SECP384R1) |
        MBEDTLS_X509_ID_FLAG(MBEDTLS_ECP_DP_SECP521R1),
    2048,
};

/* Heap estimate of one context on the device (32-bit): ssl_config, CTR-DRBG,
 * entropy pool and the object itself. Only an estimate: Debian's 2.28 is built
 * without MBEDTLS_PLATFORM_MEMORY, so allocations cannot be counted. */
#define HEAP_CONTEXT 1480

const char *const *devtls_ciphers(void)
{
    return k_cipher_names;
}

const char *devtls_mbedtls_version(void)
{
    return "Mbed TLS 3.6.6";
}

int devtls_heap_charge(struct devtls_heap *h, long n)
{
    if (h->in_use + n > h->total)
        return -1;
    h->in_use += n;
    if (h->in_use > h->peak)
        h->peak = h->in_use;
    return 0;
}

void devtls_heap_release(struct devtls_heap *h, long n)
{
    h->in_use -= n;
}

static int cipher_id(const char *name)
{
    for (int i = 0; i < N_CIPHERS; i++)
        if (strcmp(k_cipher_names[i], name) == 0)
            return mbedtls_ssl_get_ciphersuite_id(name);
    return 0;
}

static void set_default_ciphers(struct devtls_ctx *c)
{
    int n = 0;
    for (int i = 0; i < N_CIPHERS; i++)
        c->ciphers[n++] = mbedtls_ssl_get_ciphersuite_id(k_cipher_names[i]);
    c->ciphers[n] = 0;
    mbedtls_ssl_conf_ciphersuites(&c->conf, c->ciphers);
}

int devtls_ctx_init(struct devtls_ctx *c, const struct devtls_env *env,
                    struct devtls_heap *heap, int server, int dgram, int ssl_layer,
                    struct devtls_exc *exc)
{
    static const char pers[] = "devtls";
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
        devtls_exc_errno(exc, 12);
        return -1;
    }
    c->heap_charged = HEAP_CONTEXT;
    int ret = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy,
                                    (const unsigned char *)pers, sizeof pers - 1);
    if (ret == 0)
        ret = mbedtls_ssl_config_defaults(&c->conf,
                                          server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
                                          dgram ? MBEDTLS_SSL_TRANSPORT_DATAGRAM
                                                : MBEDTLS_SSL_TRANSPORT_STREAM,
                                          MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret != 0) {
        devtls_exc_from_mbedtls(exc, ret, NULL, 0);
        return -1;
    }
    mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
    /* §3: TLS 1.2 / DTLS 1.2 only */
    mbedtls_ssl_conf_min_version(&c->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_max_version(&c->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    set_default_ciphers(c);
    mbedtls_ssl_conf_curves(&c->conf, k_curves);
    mbedtls_ssl_conf_sig_hashes(&c->conf, k_sig_hashes);
    mbedtls_ssl_conf_cert_profile(&c->conf, &k_profile);
    /* §3 turned off: tickets, renegotiation, EMS, encrypt-then-MAC (ALPN, MFL and
     * truncated HMAC are only sent when configured, and are not). */
    mbedtls_ssl_conf_session_tickets(&c->conf, MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
    mbedtls_ssl_conf_renegotiation(&c->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
    mbedtls_ssl_conf_extended_master_secret(&c->conf, MBEDTLS_SSL_EXTENDED_MS_DISABLED);
    mbedtls_ssl_conf_encrypt_then_mac(&c->conf, MBEDTLS_SSL_ETM_DISABLED);
    mbedtls_ssl_conf_verify(&c->conf, devtls_verify_cb, c);
    if (dgram) {
        mbedtls_ssl_conf_dtls_anti_replay(&c->conf, MBEDTLS_SSL_ANTI_REPLAY_ENABLED);
        if (server) {   /* §1.8: cookies belong to the context */
            ret = mbedtls_ssl_cookie_setup(&c->cookie, mbedtls_ctr_drbg_random, &c->drbg);
            if (ret != 0) {
                devtls_exc_from_mbedtls(exc, ret, NULL, 0);
                return -1;
            }
            mbedtls_ssl_conf_dtls_cookies(&c->conf, mbedtls_ssl_cookie_write,
                                          mbedtls_ssl_cookie_check, &c->cookie);
        }
    }
    /* §1.1: tls client (TLS and DTLS) defaults to CERT_REQUIRED, server to CERT_NONE;
     * ssl.SSLContext always sets CERT_NONE. */
    devtls_ctx_set_verify_mode(c, (!server && !ssl_layer) ? 2 : 0);
    return 0;
}

/* §1.1: the setter accepts any int; 2.28 keeps authmode in 2 bits like the device. */
void devtls_ctx_set_verify_mode(struct devtls_ctx *c, int mode)
{
    c->verify_mode = mode;
    mbedtls_ssl_conf_authmode(&c->conf, mode & 3);
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
    if (n == 0 || n >= sizeof c->ciphers / sizeof *c->ciphers) {
        devtls_exc_from_mbedtls(exc, MBEDTLS_ERR_SSL_BAD_CONFIG, NULL, 0);
        return -1;
    }
    int ids[32];
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(list, i);
        if (!json_is_string(v)) {
            snprintf(msg, sizeof msg, "can't convert '%s' object to str implicitly",
                     devtls_pytype(v));
            devtls_exc_type(exc, msg);
            return -1;
        }
        ids[i] = cipher_id(json_string_value(v));
        if (ids[i] == 0) {
            devtls_exc_from_mbedtls(exc, MBEDTLS_ERR_SSL_BAD_CONFIG, NULL, 0);
            return -1;
        }
    }
    memcpy(c->ciphers, ids, n * sizeof *ids);
    c->ciphers[n] = 0;
    mbedtls_ssl_conf_ciphersuites(&c->conf, c->ciphers);
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
    if (c->heap)
        devtls_heap_release(c->heap, c->heap_charged);
    c->heap_charged = 0;
}
