/* OpenSSL backend: what was negotiated and what the peer presented, in the
 * result's vocabulary (IANA suite names, IANA group names). */
#include <stdio.h>

#include <openssl/x509.h>

#include "peer_openssl.h"

static const char *group_name(int nid)
{
    switch (nid) {
    case NID_X9_62_prime256v1: return "secp256r1";
    case NID_secp384r1: return "secp384r1";
    case NID_secp521r1: return "secp521r1";
    case NID_X25519: return "x25519";
    case NID_X448: return "x448";
    case NID_ffdhe2048: return "ffdhe2048";
    case NID_ffdhe3072: return "ffdhe3072";
    case NID_ffdhe4096: return "ffdhe4096";
    case NID_ffdhe6144: return "ffdhe6144";
    case NID_ffdhe8192: return "ffdhe8192";
    default: return nid > 0 ? OBJ_nid2sn(nid) : NULL;
    }
}

static void report_cert(struct peer_conn *c, SSL *ssl)
{
    X509 *x = SSL_get0_peer_certificate(ssl);
    unsigned char *der = NULL;
    int len = x ? i2d_X509(x, &der) : -1;
    if (len <= 0)
        return;   /* none, or verification failed: verify_cb recorded what it saw */
    peer_result_cert(c->res, der, (size_t)len);
    OPENSSL_free(der);
    long vr = SSL_get_verify_result(ssl);
    c->res->peer_verified = vr == X509_V_OK;
    c->res->has_verify_error = 0;
    if (vr != X509_V_OK) {
        snprintf(c->res->verify_error, sizeof c->res->verify_error, "%s",
                 X509_verify_cert_error_string(vr));
        c->res->has_verify_error = 1;
    }
}

void peer_ossl_report(struct peer_conn *c)
{
    SSL *ssl = c->sess;
    struct peer_result *r = c->res;
    const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (c->o->role == PEER_SERVER && sni && !r->has_sni) {
        snprintf(r->sni, sizeof r->sni, "%s", sni);
        r->has_sni = 1;
    }
    report_cert(c, ssl);
    if (!SSL_is_init_finished(ssl))
        return;
    snprintf(r->version, sizeof r->version, "%s", SSL_get_version(ssl));
    const SSL_CIPHER *ci = SSL_get_current_cipher(ssl);
    snprintf(r->cipher, sizeof r->cipher, "%s", ci ? SSL_CIPHER_standard_name(ci) : "");
    const char *g = group_name(SSL_get_negotiated_group(ssl));
    snprintf(r->group, sizeof r->group, "%s", g ? g : "");
    const unsigned char *alpn = NULL;
    unsigned int alen = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &alen);
    if (alen > 0) {
        snprintf(r->alpn, sizeof r->alpn, "%.*s", (int)alen, alpn);
        r->has_alpn = 1;
    }
}
