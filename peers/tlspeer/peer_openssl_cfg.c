/* OpenSSL backend: the SSL_CTX built from the options, and its callbacks. */
#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "peer_openssl.h"

static int ossl_fail(struct tm_err *err, const char *what)
{
    char buf[256];
    unsigned long e = ERR_peek_last_error();
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return tm_err_set(err, "%s: %s", what, e ? buf : "rejected by OpenSSL");
}

static void info_cb(const SSL *ssl, int where, int ret)
{
    struct peer_conn *c = ossl_conn(ssl);
    if (c == NULL || !(where & SSL_CB_ALERT))
        return;
    peer_result_alert(where & SSL_CB_READ ? &c->res->alert_received : &c->res->alert_sent,
                      ret & 0xff);
}

static void keylog_cb(const SSL *ssl, const char *line)
{
    struct ossl_cfg *cfg = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    fprintf(cfg->keylog, "%s\n", line);
    fflush(cfg->keylog);
}

/* A serve= chain for this connection instead of --cert/--key (checked at setup). */
static int present_chain(SSL *ssl, enum peer_chain_id id)
{
    const struct ossl_cfg *cfg = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    const struct peer_chain *ch = &cfg->pki->chain[id];
    return SSL_use_cert_and_key(ssl, ch->cert_x509[0], ch->key_pkey, cfg->rest[id], 1) == 1;
}

/* --expect-servername: record what came, refuse a mismatch with unrecognized_name.
 * --on-sni/--on-sni-missing serve=: present that chain (OpenSSL calls this with or
 * without an SNI, before it picks the certificate). */
static int servername_cb(SSL *ssl, int *al, void *arg)
{
    struct peer_conn *c = ossl_conn(ssl);
    const struct peer_opts *o = arg;
    const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    int alert = 0;
    enum peer_chain_id id;
    if (peer_sni_action(o, sni, &alert, &id) == PEER_SNI_SERVE && !present_chain(ssl, id)) {
        if (c != NULL)
            peer_result_error(c->res, (long long)ERR_peek_last_error(),
                              "cannot present the serve= chain");
        *al = SSL_AD_INTERNAL_ERROR;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    if (sni != NULL && c != NULL) {
        snprintf(c->res->sni, sizeof c->res->sni, "%s", sni);
        c->res->has_sni = 1;
    }
    if (o->expect_servername && (sni == NULL || strcmp(sni, o->expect_servername) != 0) &&
        o->sni_reject) {
        *al = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
}

static int alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                          const unsigned char *in, unsigned int inlen, void *arg)
{
    struct ossl_cfg *cfg = arg;
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, cfg->alpn, (unsigned)cfg->alpn_len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;   /* no_application_protocol */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* Every verification passes here: the leaf and the first error are recorded, as
 * OpenSSL keeps no peer certificate when verification fails. --verify optional
 * accepts whatever comes (the result is still reported). */
static int verify_cb(int ok, X509_STORE_CTX *ctx)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(ctx, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct peer_conn *c = ssl ? ossl_conn(ssl) : NULL;
    if (c == NULL)
        return ok;
    X509 *leaf = X509_STORE_CTX_get0_cert(ctx);
    unsigned char *der = NULL;
    int len = 0;
    if (!c->res->has_peer_cert && leaf != NULL && (len = i2d_X509(leaf, &der)) > 0)
        peer_result_cert(c->res, der, (size_t)len);
    OPENSSL_free(der);
    if (!ok && !c->res->has_verify_error) {
        snprintf(c->res->verify_error, sizeof c->res->verify_error, "%s",
                 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        c->res->has_verify_error = 1;
    }
    return c->o->verify == PEER_VERIFY_OPTIONAL ? 1 : ok;
}

/* DTLS cookie: HMAC-SHA256 of the peer's address under a per-run secret. */
static int cookie_make(SSL *ssl, unsigned char *out, unsigned int *len)
{
    struct peer_conn *c = ossl_conn(ssl);
    struct ossl_cfg *cfg = c->cfg;
    return HMAC(EVP_sha256(), cfg->cookie_secret, sizeof cfg->cookie_secret,
                (const unsigned char *)&c->addr, c->addrlen, out, len) != NULL;
}

static int cookie_generate_cb(SSL *ssl, unsigned char *cookie, unsigned int *len)
{
    struct peer_conn *c = ossl_conn(ssl);
    struct ossl_cfg *cfg = c->cfg;
    c->res->hello_verify++;   /* each call is one HelloVerifyRequest */
    if (c->o->cookie >= PEER_COOKIE_CHANGING)   /* a new secret: every cookie differs */
        RAND_bytes(cfg->cookie_secret, sizeof cfg->cookie_secret);
    return cookie_make(ssl, cookie, len);
}

static int cookie_verify_cb(SSL *ssl, const unsigned char *cookie, unsigned int len)
{
    const struct peer_conn *c = ossl_conn(ssl);
    unsigned char want[EVP_MAX_MD_SIZE];
    unsigned int wlen = 0;
    if (c->o->cookie == PEER_COOKIE_NEVER
        || (c->o->cookie == PEER_COOKIE_CHANGING && c->res->hello_verify < 2))
        return 0;   /* a fresh HelloVerifyRequest follows */
    return cookie_make(ssl, want, &wlen) && wlen == len && memcmp(want, cookie, len) == 0;
}

static int version_of(enum peer_ver v, int dflt)
{
    switch (v) {
    case PEER_TLS12: return TLS1_2_VERSION;
    case PEER_TLS13: return TLS1_3_VERSION;
    case PEER_DTLS12: return DTLS1_2_VERSION;
    default: return dflt;
    }
}

/* IANA names → OpenSSL's names, through the full table of the context. */
static int set_ciphers(SSL_CTX *ctx, const char *list, struct tm_err *err)
{
    char out[4096] = "", name[128];
    SSL_CTX_set_cipher_list(ctx, "ALL:COMPLEMENTOFALL");
    STACK_OF(SSL_CIPHER) *all = SSL_CTX_get_ciphers(ctx);
    for (const char *p = list; *p != '\0';) {   /* bounded by the string */
        size_t l = strcspn(p, ":");
        const char *found = NULL;
        snprintf(name, sizeof name, "%.*s", (int)l, p);
        for (int i = 0; i < sk_SSL_CIPHER_num(all) && !found; i++) {
            const SSL_CIPHER *ci = sk_SSL_CIPHER_value(all, i);
            if (strcmp(SSL_CIPHER_standard_name(ci), name) == 0 &&
                SSL_CIPHER_get_kx_nid(ci) != NID_kx_any)   /* not TLS 1.3 */
                found = SSL_CIPHER_get_name(ci);
        }
        if (found == NULL)
            return tm_err_set(err, "--ciphers: '%s' is no TLS 1.2 suite known to OpenSSL", name);
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", out[0] ? ":" : "", found);
        p += l + (p[l] == ':');
    }
    if (!SSL_CTX_set_cipher_list(ctx, out))
        return ossl_fail(err, "--ciphers");
    return 0;
}

/* The parameters of the grafted key: the certificate's public part, own's private
 * (made here: the builder keeps pointers to the buffers until to_param). */
static OSSL_PARAM *graft_params(EVP_PKEY *pub, EVP_PKEY *own, BIGNUM **bn)
{
    unsigned char point[512];
    char group[80];
    size_t plen = 0;
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    int ok;
    if (EVP_PKEY_is_a(pub, "EC"))
        ok = EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                            sizeof group, NULL)
             && EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_PUB_KEY, point,
                                                sizeof point, &plen)
             && EVP_PKEY_get_bn_param(own, OSSL_PKEY_PARAM_PRIV_KEY, &bn[0])
             && OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, group, 0)
             && OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, point, plen)
             && OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_PRIV_KEY, bn[0]);
    else
        ok = EVP_PKEY_is_a(pub, "RSA")
             && EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_N, &bn[0])
             && EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_E, &bn[1])
             && EVP_PKEY_get_bn_param(own, OSSL_PKEY_PARAM_RSA_D, &bn[2])
             && OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, bn[0])
             && OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, bn[1])
             && OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_D, bn[2]);
    OSSL_PARAM *params = ok ? OSSL_PARAM_BLD_to_param(b) : NULL;
    OSSL_PARAM_BLD_free(b);
    return params;
}

/* --skip-key-match: OpenSSL refuses a key that is not the certificate's, and
 * compares public parts only. So it gets the certificate's public part grafted
 * onto our own private part: it signs with what it holds, and the client finds
 * the signature wrong, as with GnuTLS's skipped match. EC and RSA keys. */
static EVP_PKEY *graft_key(X509 *cert, EVP_PKEY *own, struct tm_err *err)
{
    EVP_PKEY *pub = X509_get0_pubkey(cert), *out = NULL;
    const char *type = pub ? EVP_PKEY_get0_type_name(pub) : NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *pc = NULL;
    BIGNUM *bn[3] = { NULL, NULL, NULL };
    if (type == NULL || !EVP_PKEY_is_a(own, type))
        tm_err_set(err, "--skip-key-match: --key is not a %s key like the first --cert's",
                   type ? type : "known");
    else if ((params = graft_params(pub, own, bn)) == NULL
             || (pc = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) == NULL
             || EVP_PKEY_fromdata_init(pc) <= 0
             || EVP_PKEY_fromdata(pc, &out, EVP_PKEY_KEYPAIR, params) <= 0)
        ossl_fail(err, "--skip-key-match (OpenSSL: EC and RSA keys only)");
    for (int i = 0; i < 3; i++)
        BN_clear_free(bn[i]);
    EVP_PKEY_CTX_free(pc);
    OSSL_PARAM_free(params);
    return out;
}

static int set_chain(SSL_CTX *ctx, const struct peer_opts *o, const struct peer_chain *own,
                     struct tm_err *err)
{
    for (int i = 0; i < own->ncert; i++) {
        X509 *x = own->cert_x509[i];
        if (!(i == 0 ? SSL_CTX_use_certificate(ctx, x) : SSL_CTX_add1_chain_cert(ctx, x)))
            return ossl_fail(err, "--cert");
    }
    EVP_PKEY *grafted = NULL;
    if (o->skip_key_match && own->key_pkey != NULL && own->ncert > 0
        && (grafted = graft_key(own->cert_x509[0], own->key_pkey, err)) == NULL)
        return -1;
    if (own->key_pkey != NULL
        && !SSL_CTX_use_PrivateKey(ctx, grafted ? grafted : own->key_pkey)) {
        EVP_PKEY_free(grafted);
        ERR_clear_error();
        return tm_err_set(err, "--key %s: does not match the first --cert (%s)", o->key,
                          o->ncert ? o->cert[0] : "none");
    }
    EVP_PKEY_free(grafted);
    /* Present exactly the given chain: never complete it from the trust store. */
    SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
    return 0;
}

/* The serve= chains: the key must be the leaf's, the rest goes out as given. */
static int set_serve_chains(struct ossl_cfg *cfg, struct tm_err *err)
{
    for (int id = PEER_CHAIN_SNI_MISSING; id < PEER_NCHAIN; id++) {
        const struct peer_chain *ch = &cfg->pki->chain[id];
        const char *flag = id == PEER_CHAIN_SNI_NAME ? "on-sni" : "on-sni-missing";
        if (ch->ncert == 0)
            continue;
        if (!X509_check_private_key(ch->cert_x509[0], ch->key_pkey)) {
            ERR_clear_error();
            return tm_err_set(err, "--%s serve=%s: the key does not match the first "
                              "certificate", flag, cfg->o->serve_chain[id]);
        }
        if ((cfg->rest[id] = sk_X509_new_null()) == NULL)
            return tm_err_set(err, "out of memory");
        for (int i = 1; i < ch->ncert; i++)
            if (!sk_X509_push(cfg->rest[id], ch->cert_x509[i]))
                return tm_err_set(err, "out of memory");
    }
    return 0;
}

static int set_trust(SSL_CTX *ctx, const struct peer_pki *pki, struct tm_err *err)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    for (int i = 0; i < pki->nca; i++)
        if (!X509_STORE_add_cert(store, pki->ca_x509[i]))
            return ossl_fail(err, "--CAfile");
    return 0;
}

static void set_verify(SSL_CTX *ctx, const struct peer_opts *o)
{
    int mode = SSL_VERIFY_NONE;
    if (o->verify == PEER_VERIFY_OPTIONAL) {
        mode = SSL_VERIFY_PEER;
    } else if (o->verify == PEER_VERIFY_REQUIRE) {
        mode = SSL_VERIFY_PEER | (o->role == PEER_SERVER ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
    }
    SSL_CTX_set_verify(ctx, mode, verify_cb);
}

static int set_protocol(struct ossl_cfg *cfg, struct tm_err *err)
{
    SSL_CTX *ctx = cfg->ctx;
    const struct peer_opts *o = cfg->o;
    int dtls = o->proto == PEER_DTLS;
    SSL_CTX_set_min_proto_version(ctx, version_of(o->min_version, dtls ? DTLS1_2_VERSION : TLS1_2_VERSION));
    SSL_CTX_set_max_proto_version(ctx, version_of(o->max_version, dtls ? DTLS1_2_VERSION : TLS1_3_VERSION));
    if (o->ciphers && set_ciphers(ctx, o->ciphers, err) < 0)
        return -1;
    if (o->ciphersuites && !SSL_CTX_set_ciphersuites(ctx, o->ciphersuites))
        return ossl_fail(err, "--ciphersuites");
    if (o->groups && !SSL_CTX_set1_groups_list(ctx, o->groups))
        return ossl_fail(err, "--groups");
    if (o->sigalgs && !SSL_CTX_set1_sigalgs_list(ctx, o->sigalgs))
        return ossl_fail(err, "--sigalgs");
    if (o->alpn) {
        if (peer_alpn_wire(o->alpn, cfg->alpn, sizeof cfg->alpn, &cfg->alpn_len) < 0)
            return tm_err_set(err, "--alpn: bad protocol list '%s'", o->alpn);
        if (o->role == PEER_CLIENT)
            SSL_CTX_set_alpn_protos(ctx, cfg->alpn, (unsigned)cfg->alpn_len);
        else
            SSL_CTX_set_alpn_select_cb(ctx, alpn_select_cb, cfg);
    }
    if (o->no_tickets) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(ctx, 0);
    }
    if (o->no_renegotiation)
        SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    if (o->max_fragment && o->role == PEER_CLIENT) {
        int mode = o->max_fragment == 512 ? 1 : o->max_fragment == 1024 ? 2
                 : o->max_fragment == 2048 ? 3 : 4;
        SSL_CTX_set_tlsext_max_fragment_length(ctx, mode);
    }
    if (o->max_send_frag && !SSL_CTX_set_max_send_fragment(ctx, (long)o->max_send_frag))
        return ossl_fail(err, "--max-send-frag");
    if (o->record_size_limit)
        return tm_err_set(err, "--record-size-limit: not supported by the openssl backend "
                               "(OpenSSL 3.0 has no RFC 8449); use --backend gnutls");
    return 0;
}

static int set_callbacks(struct ossl_cfg *cfg, struct tm_err *err)
{
    SSL_CTX *ctx = cfg->ctx;
    const struct peer_opts *o = cfg->o;
    SSL_CTX_set_app_data(ctx, cfg);
    SSL_CTX_set_info_callback(ctx, info_cb);
    if (o->role == PEER_SERVER) {
        SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);
        SSL_CTX_set_tlsext_servername_arg(ctx, (void *)o);
    }
    if (o->keylog) {
        cfg->keylog = fopen(o->keylog, "a");
        if (cfg->keylog == NULL)
            return tm_err_set(err, "--keylog %s: %s", o->keylog, strerror(errno));
        SSL_CTX_set_keylog_callback(ctx, keylog_cb);
    }
    if (o->proto == PEER_DTLS && o->role == PEER_SERVER) {
        RAND_bytes(cfg->cookie_secret, sizeof cfg->cookie_secret);
        SSL_CTX_set_cookie_generate_cb(ctx, cookie_generate_cb);
        SSL_CTX_set_cookie_verify_cb(ctx, cookie_verify_cb);
    }
    return 0;
}

static void ossl_config_free(void *p)
{
    struct ossl_cfg *cfg = p;
    if (cfg == NULL)
        return;
    SSL_CTX_free(cfg->ctx);
    for (int id = 0; id < PEER_NCHAIN; id++)
        sk_X509_free(cfg->rest[id]);   /* the certificates are the PKI's */
    if (cfg->keylog)
        fclose(cfg->keylog);
    OPENSSL_free(cfg);
}

static const SSL_METHOD *method_of(const struct peer_opts *o)
{
    if (o->proto == PEER_DTLS)
        return o->role == PEER_SERVER ? DTLS_server_method() : DTLS_client_method();
    return o->role == PEER_SERVER ? TLS_server_method() : TLS_client_method();
}

void *peer_ossl_config_new(const struct peer_opts *o, const struct peer_pki *pki,
                           struct tm_err *err)
{
    struct ossl_cfg *cfg = OPENSSL_zalloc(sizeof *cfg);
    if (cfg == NULL) {
        tm_err_set(err, "out of memory");
        return NULL;
    }
    cfg->o = o;
    cfg->pki = pki;
    cfg->ctx = SSL_CTX_new(method_of(o));
    if (cfg->ctx == NULL) {
        ossl_fail(err, "SSL_CTX_new");
        goto fail;
    }
    if (o->seclevel >= 0)   /* before the chain: the level decides whether it is usable */
        SSL_CTX_set_security_level(cfg->ctx, o->seclevel);
    if (set_chain(cfg->ctx, o, &pki->chain[PEER_CHAIN_OWN], err) < 0
        || set_serve_chains(cfg, err) < 0 || set_trust(cfg->ctx, pki, err) < 0
        || set_protocol(cfg, err) < 0 || set_callbacks(cfg, err) < 0)
        goto fail;
    set_verify(cfg->ctx, o);
    return cfg;
fail:
    ossl_config_free(cfg);
    return NULL;
}

void peer_ossl_config_free(void *cfg)
{
    ossl_config_free(cfg);
}
