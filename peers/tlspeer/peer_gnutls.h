/* GnuTLS backend internals shared by its files. */
#ifndef PEER_GNUTLS_H
#define PEER_GNUTLS_H

#include <stdio.h>

#include <gnutls/gnutls.h>

#include "peer.h"

struct gtls_cfg {
    const struct peer_opts *o;
    gnutls_certificate_credentials_t cred;
    gnutls_priority_t prio;
    gnutls_datum_t ticket_key;
    gnutls_datum_t cookie_key;
    FILE *keylog;
    gnutls_datum_t alpn[16];
    unsigned nalpn;
    char alpn_buf[256];
};

struct gtls_sess {
    gnutls_session_t s;
    int hs_done;
};

/* Fill the result from the session (peer_gnutls_report.c). */
void peer_gtls_report(struct peer_conn *c);

/* The priority string for the options; -1 with err naming the flag. */
int peer_gtls_priority(const struct peer_opts *o, char *out, size_t cap, struct tm_err *err);

#endif
