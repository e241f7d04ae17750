/* GnuTLS backend internals shared by its files. */
#ifndef PEER_GNUTLS_H
#define PEER_GNUTLS_H

#include <stdio.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include "peer.h"

struct gtls_cfg {
    const struct peer_opts *o;
    gnutls_certificate_credentials_t cred;
    gnutls_certificate_credentials_t serve_cred[PEER_NCHAIN];   /* serve= chains; [OWN] NULL */
    gnutls_priority_t prio;
    gnutls_priority_t prio12;   /* server: --ciphers exactly, for a TLS 1.2 handshake */
    gnutls_datum_t ticket_key;
    gnutls_datum_t cookie_key;
    FILE *keylog;
    gnutls_datum_t alpn[16];
    unsigned nalpn;
    char alpn_buf[256];
    /* client --skip-key-match: the chain and key sent whatever CAs the server names */
    gnutls_pcert_st *own_pcert;
    unsigned own_npcert;
    gnutls_privkey_t own_key;
};

struct gtls_sess {
    gnutls_session_t s;
    int hs_done;
    int hello_request_sent;   /* --renegotiate, server: gnutls_rehandshake went through */
};

/* Fill the result from the session (peer_gnutls_report.c). */
void peer_gtls_report(struct peer_conn *c);

/* The priority string for the options; -1 with err naming the flag. */
int peer_gtls_priority(const struct peer_opts *o, char *out, size_t cap, struct tm_err *err);

/* The TLS 1.2-only priority when --ciphers would otherwise leak (TLS 1.3 allowed,
 * no --ciphersuites): 1 and out filled, 0 when the main priority is exact, -1. */
int peer_gtls_priority12(const struct peer_opts *o, char *out, size_t cap, struct tm_err *err);
/* 1 when the suite (two-byte IANA id) is one of --ciphers. */
int peer_gtls_suite_listed(const struct peer_opts *o, const unsigned char id[2]);

#endif
