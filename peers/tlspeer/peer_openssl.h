/* OpenSSL backend internals shared by its two files. */
#ifndef PEER_OPENSSL_H
#define PEER_OPENSSL_H

#include <stdio.h>

#include <openssl/ssl.h>

#include "peer.h"

struct ossl_cfg {
    SSL_CTX *ctx;
    const struct peer_opts *o;
    const struct peer_pki *pki;  /* outlives the configuration */
    STACK_OF(X509) *rest[PEER_NCHAIN];   /* serve= chains: all but the leaf, send order */
    FILE *keylog;
    unsigned char cookie_secret[32];
    unsigned char alpn[256];     /* wire format */
    size_t alpn_len;
};

/* SSL app data is the struct peer_conn of the connection. */
static inline struct peer_conn *ossl_conn(const SSL *ssl)
{
    return SSL_get_app_data(ssl);
}

/* Fill the result from the SSL (peer_openssl_report.c). */
void peer_ossl_report(struct peer_conn *c);

/* Parse a comma-separated ALPN list into wire format; -1 when malformed. */
int peer_alpn_wire(const char *list, unsigned char *out, size_t cap, size_t *len);

#endif
