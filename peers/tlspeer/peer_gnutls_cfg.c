/* GnuTLS backend: credentials, priority cache, ticket and cookie keys, ALPN list. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/dtls.h>
#include <gnutls/x509.h>

#include "peer_gnutls.h"

static int gtls_fail(struct tm_err *err, const char *what, int rc)
{
    return tm_err_set(err, "%s: %s", what, gnutls_strerror(rc));
}

static gnutls_datum_t datum(const struct peer_blob *b)
{
    gnutls_datum_t d = { b->data, (unsigned)b->len };
    return d;
}

/* Client --skip-key-match: GnuTLS sends a certificate only when an issuer in its
 * chain is among the CAs the server's CertificateRequest names; a limbo chain
 * (CLIENT validation) must reach the server's check whatever it names. The
 * values stay ours: GnuTLS does not free what this callback returns. */
static int send_own_chain(gnutls_session_t s, const gnutls_datum_t *req_ca_dn, int nreqs,
                          const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                          gnutls_pcert_st **pcert, unsigned int *pcert_length,
                          gnutls_privkey_t *pkey)
{
    (void)req_ca_dn, (void)nreqs, (void)pk_algos, (void)pk_algos_length;
    const struct peer_conn *c = gnutls_session_get_ptr(s);
    const struct gtls_cfg *cfg = c->cfg;
    *pcert = cfg->own_pcert;
    *pcert_length = cfg->own_npcert;
    *pkey = cfg->own_key;
    return 0;
}

/* A chain in the given order into cred; gnutls_certificate_set_key keeps it as is.
 * Errors name the certificates and the key as certs and key say ("--cert C",
 * "--key K"). */
static int set_chain(struct gtls_cfg *cfg, gnutls_certificate_credentials_t cred,
                     const struct peer_chain *ch, const char *certs, const char *key_what,
                     struct tm_err *err)
{
    const struct peer_opts *o = cfg->o;
    gnutls_pcert_st *pcerts = gnutls_calloc((size_t)ch->ncert, sizeof *pcerts);
    gnutls_privkey_t key = NULL;
    int rc, n = 0;
    if (pcerts == NULL)
        return tm_err_set(err, "out of memory");
    for (; n < ch->ncert; n++) {
        gnutls_datum_t d = datum(&ch->cert[n]);
        if ((rc = gnutls_pcert_import_x509_raw(&pcerts[n], &d, GNUTLS_X509_FMT_DER, 0)) < 0) {
            gtls_fail(err, certs, rc);
            goto fail;
        }
    }
    gnutls_datum_t kd = datum(&ch->key);
    if ((rc = gnutls_privkey_init(&key)) < 0 ||
        (rc = gnutls_privkey_import_x509_raw(key, &kd, GNUTLS_X509_FMT_DER, NULL, 0)) < 0) {
        tm_err_set(err, "%s: %s", key_what, gnutls_strerror(rc));
        goto fail;
    }
    /* A chain without its key (x509-limbo ships none): the client decides on the
     * chain when the Certificate message arrives, before it checks our signature. */
    if (o->skip_key_match && cred == cfg->cred && o->role == PEER_CLIENT) {
        cfg->own_pcert = pcerts;
        cfg->own_npcert = (unsigned)n;
        cfg->own_key = key;
        gnutls_certificate_set_retrieve_function2(cred, send_own_chain);
        return 0;
    }
    if (o->skip_key_match && cred == cfg->cred)
        gnutls_certificate_set_flags(cred, GNUTLS_CERTIFICATE_SKIP_KEY_CERT_MATCH);
    if ((rc = gnutls_certificate_set_key(cred, NULL, 0, pcerts, n, key)) < 0) {
        tm_err_set(err, "%s with %s: %s", key_what, certs, gnutls_strerror(rc));
        goto fail;
    }
    gnutls_free(pcerts);   /* the structures now belong to the credentials */
    return 0;
fail:
    for (int i = 0; i < n; i++)
        gnutls_pcert_deinit(&pcerts[i]);
    gnutls_free(pcerts);
    gnutls_privkey_deinit(key);
    return -1;
}

static int set_trust(gnutls_certificate_credentials_t cred, const struct peer_pki *pki,
                     struct tm_err *err)
{
    for (int i = 0; i < pki->nca; i++) {
        gnutls_datum_t d = datum(&pki->ca[i]);
        int rc = gnutls_certificate_set_x509_trust_mem(cred, &d, GNUTLS_X509_FMT_DER);
        if (rc < 0)
            return gtls_fail(err, "--CAfile", rc);
    }
    return 0;
}

/* Credentials per serve= chain, with the same trust anchors (a client certificate
 * is verified whichever chain we present); chosen in the post-client-hello call. */
static int set_serve_creds(struct gtls_cfg *cfg, const struct peer_pki *pki,
                           struct tm_err *err)
{
    for (int id = PEER_CHAIN_SNI_MISSING; id < PEER_NCHAIN; id++) {
        const struct peer_opts *o = cfg->o;
        char certs[PEER_PATH_CAP + 32], key[2 * PEER_PATH_CAP];
        int rc;
        if (pki->chain[id].ncert == 0)
            continue;
        snprintf(certs, sizeof certs, "--%s serve=%s",
                 id == PEER_CHAIN_SNI_NAME ? "on-sni" : "on-sni-missing", o->serve_chain[id]);
        snprintf(key, sizeof key, "its key %s", o->serve_key[id][0] ? o->serve_key[id] : o->key);
        if ((rc = gnutls_certificate_allocate_credentials(&cfg->serve_cred[id])) < 0)
            return gtls_fail(err, "credentials", rc);
        if (set_chain(cfg, cfg->serve_cred[id], &pki->chain[id], certs, key, err) < 0
            || set_trust(cfg->serve_cred[id], pki, err) < 0)
            return -1;
    }
    return 0;
}

static int set_alpn(struct gtls_cfg *cfg, struct tm_err *err)
{
    const char *list = cfg->o->alpn;
    snprintf(cfg->alpn_buf, sizeof cfg->alpn_buf, "%s", list);
    for (char *p = cfg->alpn_buf; *p != '\0' && cfg->nalpn < 16;) {   /* bounded */
        size_t l = strcspn(p, ",");
        if (l == 0 || l > 255)
            return tm_err_set(err, "--alpn: bad protocol list '%s'", list);
        cfg->alpn[cfg->nalpn].data = (unsigned char *)p;
        cfg->alpn[cfg->nalpn++].size = (unsigned)l;
        p += l;
        if (*p == ',')
            *p++ = '\0';
    }
    return cfg->nalpn > 0 ? 0 : tm_err_set(err, "--alpn: empty list");
}

static int set_rest(struct gtls_cfg *cfg, struct tm_err *err)
{
    const struct peer_opts *o = cfg->o;
    char prio[2048];
    const char *errpos = NULL;
    int rc;
    if (peer_gtls_priority(o, prio, sizeof prio, err) < 0)
        return -1;
    if ((rc = gnutls_priority_init(&cfg->prio, prio, &errpos)) < 0)
        return tm_err_set(err, "GnuTLS priority '%s' rejected at '%s': %s", prio,
                          errpos ? errpos : "?", gnutls_strerror(rc));
    rc = o->role == PEER_SERVER ? peer_gtls_priority12(o, prio, sizeof prio, err) : 0;
    if (rc < 0)
        return -1;
    if (rc == 1 && (rc = gnutls_priority_init(&cfg->prio12, prio, &errpos)) < 0)
        return tm_err_set(err, "GnuTLS priority '%s' rejected at '%s': %s", prio,
                          errpos ? errpos : "?", gnutls_strerror(rc));
    if (o->role == PEER_SERVER && !o->no_tickets &&
        (rc = gnutls_session_ticket_key_generate(&cfg->ticket_key)) < 0)
        return gtls_fail(err, "ticket key", rc);
    if (o->proto == PEER_DTLS && o->role == PEER_SERVER &&
        (rc = gnutls_key_generate(&cfg->cookie_key, GNUTLS_COOKIE_KEY_SIZE)) < 0)
        return gtls_fail(err, "cookie key", rc);
    if (o->alpn && set_alpn(cfg, err) < 0)
        return -1;
    if (o->keylog && (cfg->keylog = fopen(o->keylog, "a")) == NULL)
        return tm_err_set(err, "--keylog %s: %s", o->keylog, strerror(errno));
    return 0;
}

void peer_gtls_config_free(void *p)
{
    struct gtls_cfg *cfg = p;
    if (cfg == NULL)
        return;
    if (cfg->cred)
        gnutls_certificate_free_credentials(cfg->cred);
    for (int id = 0; id < PEER_NCHAIN; id++)
        if (cfg->serve_cred[id])
            gnutls_certificate_free_credentials(cfg->serve_cred[id]);
    for (unsigned i = 0; i < cfg->own_npcert; i++)
        gnutls_pcert_deinit(&cfg->own_pcert[i]);
    gnutls_free(cfg->own_pcert);
    if (cfg->own_key)
        gnutls_privkey_deinit(cfg->own_key);
    if (cfg->prio)
        gnutls_priority_deinit(cfg->prio);
    if (cfg->prio12)
        gnutls_priority_deinit(cfg->prio12);
    gnutls_free(cfg->ticket_key.data);
    gnutls_free(cfg->cookie_key.data);
    if (cfg->keylog)
        fclose(cfg->keylog);
    free(cfg);
}

void *peer_gtls_config_new(const struct peer_opts *o, const struct peer_pki *pki,
                           struct tm_err *err)
{
    struct gtls_cfg *cfg = calloc(1, sizeof *cfg);
    int rc;
    if (cfg == NULL) {
        tm_err_set(err, "out of memory");
        return NULL;
    }
    cfg->o = o;
    if (o->record_size_limit && o->role == PEER_CLIENT && o->max_fragment) {
        tm_err_set(err, "--record-size-limit: give it or --max-fragment, not both");
        goto fail;
    }
    if ((rc = gnutls_certificate_allocate_credentials(&cfg->cred)) < 0) {
        gtls_fail(err, "credentials", rc);
        goto fail;
    }
    const struct peer_chain *own = &pki->chain[PEER_CHAIN_OWN];
    char certs[PEER_PATH_CAP + 16], key[PEER_PATH_CAP + 16];
    snprintf(certs, sizeof certs, "--cert %s", o->ncert > 0 ? o->cert[0] : "");
    snprintf(key, sizeof key, "--key %s", o->key ? o->key : "");
    if ((own->ncert > 0 && set_chain(cfg, cfg->cred, own, certs, key, err) < 0)
        || set_trust(cfg->cred, pki, err) < 0 || set_serve_creds(cfg, pki, err) < 0
        || set_rest(cfg, err) < 0)
        goto fail;
    return cfg;
fail:
    peer_gtls_config_free(cfg);
    return NULL;
}
