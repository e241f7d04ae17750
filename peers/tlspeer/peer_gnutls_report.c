/* GnuTLS backend: what was negotiated and what the peer presented, in the
 * result's vocabulary (IANA suite names, lower-case group names). */
#include <ctype.h>
#include <stdio.h>

#include <gnutls/x509.h>

#include "peer_gnutls.h"

static const char *version_name(gnutls_protocol_t v)
{
    switch (v) {
    case GNUTLS_TLS1_2: return "TLSv1.2";
    case GNUTLS_TLS1_3: return "TLSv1.3";
    case GNUTLS_DTLS1_2: return "DTLSv1.2";
    default: return gnutls_protocol_get_name(v);
    }
}

static void report_cert(struct peer_conn *c, gnutls_session_t s)
{
    unsigned n = 0, status = 0;
    const gnutls_datum_t *certs = gnutls_certificate_get_peers(s, &n);
    if (certs == NULL || n == 0)
        return;
    peer_result_cert(c->res, certs[0].data, certs[0].size);
    const char *host = c->o->role == PEER_CLIENT ? c->o->servername : NULL;
    int rc = gnutls_certificate_verify_peers3(s, host, &status);
    c->res->peer_verified = rc == 0 && status == 0;
    if (c->res->peer_verified)
        return;
    gnutls_datum_t out = {NULL, 0};
    if (rc < 0)
        snprintf(c->res->verify_error, sizeof c->res->verify_error, "%s", gnutls_strerror(rc));
    else if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) == 0)
        snprintf(c->res->verify_error, sizeof c->res->verify_error, "%s", (char *)out.data);
    gnutls_free(out.data);
    c->res->has_verify_error = 1;
}

void peer_gtls_report(struct peer_conn *c)
{
    gnutls_session_t s = ((struct gtls_sess *)c->sess)->s;
    struct peer_result *r = c->res;
    report_cert(c, s);
    if (!((struct gtls_sess *)c->sess)->hs_done)
        return;
    snprintf(r->version, sizeof r->version, "%s", version_name(gnutls_protocol_get_version(s)));
    const char *suite = gnutls_ciphersuite_get(s);
    snprintf(r->cipher, sizeof r->cipher, "%s", suite ? suite : "");
    const char *g = gnutls_group_get_name(gnutls_group_get(s));
    snprintf(r->group, sizeof r->group, "%s", g ? g : "");
    for (char *p = r->group; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    gnutls_datum_t alpn;
    if (gnutls_alpn_get_selected_protocol(s, &alpn) == 0) {
        snprintf(r->alpn, sizeof r->alpn, "%.*s", (int)alpn.size, alpn.data);
        r->has_alpn = 1;
    }
}
