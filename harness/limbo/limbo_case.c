/* A limbo test case → a typed case (case JSON through case_build): for SERVER
 * validation the device is the TLS client, for CLIENT validation the TLS server
 * that requires a client certificate; either way it holds the test case's
 * anchors, the peer presents its chain with a key of its own, and the clock is
 * the validation time. What the device's API cannot
 * be told is decided here: run (its own checks decide it, said in the notes) or
 * skipped with the reason. */
#include "limbo/limbo.h"
#include "limbo_internal.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "case/case.h"
#include "scenario/scenario.h"
#include "tm_fs.h"
#include "tm_time.h"

const char *const limbo_sig_names[] = {
    "RSA_WITH_MD5", "RSA_WITH_SHA1", "RSA_WITH_SHA224", "RSA_WITH_SHA256", "RSA_WITH_SHA384",
    "RSA_WITH_SHA512", "RSA_WITH_SHA3_224", "RSA_WITH_SHA3_256", "RSA_WITH_SHA3_384",
    "RSA_WITH_SHA3_512", "RSASSA_PSS", "ECDSA_WITH_SHA1", "ECDSA_WITH_SHA224",
    "ECDSA_WITH_SHA256", "ECDSA_WITH_SHA384", "ECDSA_WITH_SHA512", "ECDSA_WITH_SHA3_224",
    "ECDSA_WITH_SHA3_256", "ECDSA_WITH_SHA3_384", "ECDSA_WITH_SHA3_512", "DSA_WITH_SHA1",
    "DSA_WITH_SHA224", "DSA_WITH_SHA256", "DSA_WITH_SHA384", "DSA_WITH_SHA512", "ED25519",
    "ED448", "GOSTR3411_94_WITH_3410_2001", "GOSTR3410_2012_WITH_3411_2012_256",
    "GOSTR3410_2012_WITH_3411_2012_512", NULL,
};

/* A certificate's signature algorithm (OpenSSL NID) → its limbo name. */
static const struct { int nid; const char *name; } sig_nids[] = {
    { NID_md5WithRSAEncryption, "RSA_WITH_MD5" },     { NID_sha1WithRSAEncryption, "RSA_WITH_SHA1" },
    { NID_sha224WithRSAEncryption, "RSA_WITH_SHA224" }, { NID_sha256WithRSAEncryption, "RSA_WITH_SHA256" },
    { NID_sha384WithRSAEncryption, "RSA_WITH_SHA384" }, { NID_sha512WithRSAEncryption, "RSA_WITH_SHA512" },
    { NID_RSA_SHA3_224, "RSA_WITH_SHA3_224" },       { NID_RSA_SHA3_256, "RSA_WITH_SHA3_256" },
    { NID_RSA_SHA3_384, "RSA_WITH_SHA3_384" },       { NID_RSA_SHA3_512, "RSA_WITH_SHA3_512" },
    { NID_rsassaPss, "RSASSA_PSS" },                 { NID_ecdsa_with_SHA1, "ECDSA_WITH_SHA1" },
    { NID_ecdsa_with_SHA224, "ECDSA_WITH_SHA224" },  { NID_ecdsa_with_SHA256, "ECDSA_WITH_SHA256" },
    { NID_ecdsa_with_SHA384, "ECDSA_WITH_SHA384" },  { NID_ecdsa_with_SHA512, "ECDSA_WITH_SHA512" },
    { NID_ecdsa_with_SHA3_224, "ECDSA_WITH_SHA3_224" }, { NID_ecdsa_with_SHA3_256, "ECDSA_WITH_SHA3_256" },
    { NID_ecdsa_with_SHA3_384, "ECDSA_WITH_SHA3_384" }, { NID_ecdsa_with_SHA3_512, "ECDSA_WITH_SHA3_512" },
    { NID_dsaWithSHA1, "DSA_WITH_SHA1" },            { NID_dsa_with_SHA224, "DSA_WITH_SHA224" },
    { NID_dsa_with_SHA256, "DSA_WITH_SHA256" },      { NID_dsa_with_SHA384, "DSA_WITH_SHA384" },
    { NID_dsa_with_SHA512, "DSA_WITH_SHA512" },      { NID_ED25519, "ED25519" },
    { NID_ED448, "ED448" },
};

const char *const limbo_accepted_classes[] = {
    "ok",
    "error:ecp-verify-failed",   /* ServerKeyExchange or CertificateVerify signed with our EC key */
    "error:rsa-verify-failed",   /* … with our RSA key */
    NULL,
};

#define SPAN_MAX ((int64_t)1 << 52)   /* beyond any certificate's validity */
#define MAX_KEYS 16

/* The peer's own keys, one per key type, made when a case first needs one. */
struct keyring {
    char kt[MAX_KEYS][40];
    char path[MAX_KEYS][1100];
    int n;
};

/* One test case being converted. */
struct conv {
    const struct limbo_opts *o;
    struct keyring *keys;
    const json_t *tc;
    size_t index;
    X509 *leaf;
    X509 **ints;
    size_t nints;
    char skip[700];     /* "" runs */
    char note[900];     /* what the context must say besides the outcome */
    char kt[40];
    int client;         /* validation_kind CLIENT: the device is the server */
};

static void add_note(struct conv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_note(struct conv *c, const char *fmt, ...)
{
    size_t n = strlen(c->note);
    va_list ap;
    if (n > 0 && n + 2 < sizeof c->note)
        n += (size_t)snprintf(c->note + n, sizeof c->note - n, "; ");
    va_start(ap, fmt);
    if (n < sizeof c->note)
        vsnprintf(c->note + n, sizeof c->note - n, fmt, ap);
    va_end(ap);
}

/* The first reason to skip wins. */
static void set_skip(struct conv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_skip(struct conv *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (c->skip[0] == '\0')
        vsnprintf(c->skip, sizeof c->skip, fmt, ap);
    va_end(ap);
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* The first PEM block of text, decoded (the device loads DER). NULL when text
 * holds no PEM block. */
static unsigned char *pem_der(const char *text, long *len)
{
    BIO *b = BIO_new_mem_buf(text, -1);
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    if (b == NULL || !PEM_read_bio(b, &name, &header, &data, len))
        data = NULL;
    ERR_clear_error();
    OPENSSL_free(name);
    OPENSSL_free(header);
    BIO_free(b);
    return data;
}

static X509 *parse_cert(const char *text, char *why, size_t len)
{
    long n = 0;
    unsigned char *der = pem_der(text, &n);
    const unsigned char *p = der;
    X509 *x = der ? d2i_X509(NULL, &p, n) : NULL;
    if (x == NULL)
        snprintf(why, len, "%s", der ? ERR_reason_error_string(ERR_peek_last_error())
                                          ?: "not a certificate" : "no PEM block");
    ERR_clear_error();
    OPENSSL_free(der);
    return x;
}

/* An anchor as the device loads it: DER, one load call each. Text that holds no
 * PEM block goes as its bytes: the device judges it (docs/device-model.md §1.2). */
static json_t *anchor_source(const char *text)
{
    long n = 0;
    unsigned char *der = pem_der(text, &n);
    char *b64 = der ? tm_b64_encode(der, (size_t)n) : tm_b64_encode(text, strlen(text));
    json_t *s = json_pack("{s:s}", "b64", b64 ? b64 : "");
    OPENSSL_free(der);
    free(b64);
    return s;
}

/* The peer's key type for the leaf's public key, and how to make one: "p256"
 * (EC with that curve), "rsa2048" (ours: the same size, limbo_rsa_floor_key), "ed25519".
 * 0, or -1 for a kind the peer has no key for. */
static int leaf_key_type(X509 *leaf, char *kt, size_t len, char *gen, size_t glen)
{
    EVP_PKEY *pk = X509_get0_pubkey(leaf);
    char group[64] = "";
    if (pk == NULL)
        return -1;
    if (EVP_PKEY_is_a(pk, "EC")
        && EVP_PKEY_get_utf8_string_param(pk, "group", group, sizeof group, NULL)) {
        const char *short_kt = strcmp(group, "prime256v1") == 0 ? "p256"
                               : strcmp(group, "secp384r1") == 0 ? "p384"
                               : strcmp(group, "secp521r1") == 0 ? "p521" : group;
        snprintf(kt, len, "%s", short_kt);
        snprintf(gen, glen, "EC:%s", group);
        return 0;
    }
    if (EVP_PKEY_is_a(pk, "RSA")) {
        snprintf(kt, len, "rsa%d", EVP_PKEY_get_bits(pk));
        snprintf(gen, glen, "RSA:%d", EVP_PKEY_get_bits(pk));
        return 0;
    }
    if (EVP_PKEY_is_a(pk, "ED25519") || EVP_PKEY_is_a(pk, "ED448")) {
        snprintf(kt, len, "%s", EVP_PKEY_is_a(pk, "ED25519") ? "ed25519" : "ed448");
        snprintf(gen, glen, "%s", EVP_PKEY_is_a(pk, "ED25519") ? "ED25519" : "ED448");
        return 0;
    }
    snprintf(kt, len, "%s", EVP_PKEY_get0_type_name(pk) ?: "unknown");
    return -1;
}

static int write_key(EVP_PKEY *k, const char *path, struct tm_err *err)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n = b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)
             ? BIO_get_mem_data(b, &data) : 0;
    int rc = n > 0 ? tm_write_file(path, data, (size_t)n, 0600, err)
                   : tm_err_set(err, "%s: cannot encode the key", path);
    BIO_free(b);
    return rc;
}

/* The path of the peer's own key of type kt, made on first use. */
static const char *own_key(struct conv *c, const char *gen, struct tm_err *err)
{
    struct keyring *r = c->keys;
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->kt[i], c->kt) == 0)
            return r->path[i];
    if (r->n >= MAX_KEYS)
        return tm_err_set(err, "more than %d key types", MAX_KEYS), NULL;
    EVP_PKEY *k = strncmp(gen, "EC:", 3) == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", gen + 3)
                  : strncmp(gen, "RSA:", 4) == 0 ? limbo_rsa_floor_key(atoi(gen + 4))
                  : EVP_PKEY_Q_keygen(NULL, NULL, gen);
    snprintf(r->path[r->n], sizeof r->path[r->n], "%s/key-%s.pem", c->o->workdir, c->kt);
    int rc = k ? write_key(k, r->path[r->n], err) : tm_err_set(err, "cannot make a %s key", gen);
    EVP_PKEY_free(k);
    ERR_clear_error();
    if (rc != 0)
        return NULL;
    snprintf(r->kt[r->n], sizeof r->kt[r->n], "%s", c->kt);
    return r->path[r->n++];
}

/* The peer's chain (leaf, then the untrusted intermediates as given) as one PEM
 * file, and its key; NULL key path with c->skip set when it cannot present it. */
static int peer_files(struct conv *c, json_t *peer, struct tm_err *err)
{
    char path[1100], gen[80] = "", why[200] = "";
    const json_t *ints = json_object_get(c->tc, "untrusted_intermediates");
    const char *given_key = str(c->tc, "peer_certificate_key");
    size_t i;
    const json_t *it;
    snprintf(path, sizeof path, "%s/chain-%zu.pem", c->o->workdir, c->index);
    json_t *text = json_sprintf("%s\n", str(c->tc, "peer_certificate"));
    json_array_foreach(ints, i, it) {
        json_t *more = json_sprintf("%s%s\n", json_string_value(text), json_string_value(it));
        json_decref(text);
        text = more;
    }
    int rc = tm_write_file(path, json_string_value(text), json_string_length(text), 0644, err);
    json_decref(text);
    if (rc != 0)
        return -1;
    json_object_set_new(peer, "cert", json_pack("[s]", path));
    if (c->leaf == NULL)
        return 0;   /* skipped already: the leaf does not parse */
    int kind = leaf_key_type(c->leaf, c->kt, sizeof c->kt, gen, sizeof gen);
    if (given_key != NULL) {
        snprintf(path, sizeof path, "%s/key-%zu.pem", c->o->workdir, c->index);
        if (tm_write_file(path, given_key, strlen(given_key), 0600, err) != 0)
            return -1;
        json_object_set_new(peer, "key", json_string(path));
        return 0;
    }
    if (kind != 0) {
        snprintf(why, sizeof why, "the peer certificate's key is %s, of which the peer has "
                 "no key to sign with", c->kt);
        set_skip(c, "%s", why);
        return 0;
    }
    if (strcmp(c->o->backend, "openssl") == 0 && strncmp(gen, "EC:", 3) != 0
        && strncmp(gen, "RSA:", 4) != 0) {
        set_skip(c, "the peer certificate's key is %s: OpenSSL's peer presents a certificate "
                 "without its key for EC and RSA only (--backend gnutls runs it)", c->kt);
        return 0;
    }
    const char *kp = own_key(c, gen, err);
    if (kp == NULL)
        return -1;
    json_object_set_new(peer, "key", json_string(kp));
    json_object_set_new(peer, "skip_key_match", json_true());
    return 0;
}

/* The leaf's own first DNS or IP name (SAN), else its CN, into out; 0 when found. */
static int leaf_name(X509 *leaf, char *out, size_t len)
{
    GENERAL_NAMES *sans = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    int found = 0;
    for (int i = 0; !found && i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
        if (g->type == GEN_DNS) {
            snprintf(out, len, "%.*s", ASN1_STRING_length(g->d.dNSName),
                     (const char *)ASN1_STRING_get0_data(g->d.dNSName));
            found = 1;
        } else if (g->type == GEN_IPADD && (g->d.iPAddress->length == 4
                                            || g->d.iPAddress->length == 16)) {
            found = inet_ntop(g->d.iPAddress->length == 4 ? AF_INET : AF_INET6,
                              g->d.iPAddress->data, out, (socklen_t)len) != NULL;
        }
    }
    GENERAL_NAMES_free(sans);
    if (!found && X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, out,
                                            (int)len) > 0)
        found = 1;
    ERR_clear_error();
    return found ? 0 : -1;
}

/* expected_peer_name → server_hostname. The device needs one under
 * CERT_REQUIRED (docs/device-model.md §1.4), so a case without a peer name gets
 * the leaf's own name: no name check can fail on it. */
static void peer_name(struct conv *c, json_t *dev)
{
    const json_t *pn = json_object_get(c->tc, "expected_peer_name");
    char own[256];
    if (json_is_object(pn)) {
        if (strcmp(str(pn, "kind"), "RFC822") == 0)
            set_skip(c, "expected_peer_name is an RFC822 name (%s): a TLS client checks DNS "
                     "names and IP addresses only", str(pn, "value"));
        json_object_set_new(dev, "server_hostname", json_string(str(pn, "value")));
        return;
    }
    if (c->leaf == NULL || leaf_name(c->leaf, own, sizeof own) != 0) {
        set_skip(c, "no expected_peer_name, and the device needs server_hostname under "
                 "CERT_REQUIRED (docs/device-model.md §1.4) while the leaf names no host");
        return;
    }
    json_object_set_new(dev, "server_hostname", json_string(own));
    add_note(c, "no expected_peer_name: the device was given the leaf's own name %s "
             "(it needs one under CERT_REQUIRED)", own);
}

static int listed(const json_t *list, const char *s)
{
    size_t i;
    const json_t *it;
    json_array_foreach(list, i, it) if (strcmp(json_string_value(it), s) == 0)
        return 1;
    return 0;
}

static const char *sig_name(const X509 *x)
{
    int nid = X509_get_signature_nid(x);
    for (size_t i = 0; i < sizeof sig_nids / sizeof sig_nids[0]; i++)
        if (sig_nids[i].nid == nid)
            return sig_nids[i].name;
    return OBJ_nid2sn(nid) ?: "unknown";
}

/* signature_algorithms: the device cannot be told to refuse an algorithm, so
 * the case runs only when every presented certificate uses a listed one. */
static void sig_constraint(struct conv *c)
{
    const json_t *algs = json_object_get(c->tc, "signature_algorithms");
    if (json_array_size(algs) == 0 || c->leaf == NULL)
        return;
    for (size_t i = 0; i <= c->nints; i++) {
        const char *n = sig_name(i == 0 ? c->leaf : c->ints[i - 1]);
        if (!listed(algs, n)) {
            set_skip(c, "signature_algorithms does not list %s, which the chain uses: the "
                     "device's API cannot restrict signature algorithms", n);
            return;
        }
    }
    add_note(c, "signature_algorithms: every presented certificate uses a listed one");
}

/* key_usage, extended_key_usage, max_chain_depth, validation_kind: run where
 * the device's own rules decide them, else skip. */
static void constraints(struct conv *c)
{
    const json_t *tc = c->tc, *ku = json_object_get(tc, "key_usage");
    const json_t *eku = json_object_get(tc, "extended_key_usage");
    const json_t *depth = json_object_get(tc, "max_chain_depth");
    const char *want_eku = c->client ? "clientAuth" : "serverAuth";
    if (c->client && json_array_size(json_object_get(tc, "expected_peer_names")) > 0)
        set_skip(c, "validation_kind CLIENT with expected_peer_names: the device (a TLS server) "
                 "cannot be given names to check a client's certificate against");
    if (json_array_size(ku) == 1 && listed(ku, "digitalSignature"))
        add_note(c, "key_usage [digitalSignature]: decided by the device's own check (mbedTLS "
                 "requires it of a server certificate for ECDHE suites and of every client "
                 "certificate)");
    else if (json_array_size(ku) > 0)
        set_skip(c, "key_usage names usages the device's API cannot ask for (it checks "
                 "digitalSignature only)");
    if (json_array_size(eku) == 1 && listed(eku, want_eku))
        add_note(c, "extended_key_usage [%s]: decided by the device's own check (mbedTLS "
                 "requires %s of the peer's certificate when it has an EKU)", want_eku, want_eku);
    else if (json_array_size(eku) > 0)
        set_skip(c, "extended_key_usage names usages the device's API cannot ask for (as a TLS "
                 "%s it checks %s only)", c->client ? "server" : "client", want_eku);
    if (json_is_integer(depth)) {
        char d[32];
        snprintf(d, sizeof d, "%lld", (long long)json_integer_value(depth));
        if ((json_int_t)c->nints + 2 <= json_integer_value(depth))
            add_note(c, "max_chain_depth %s: deeper than any chain of this case", d);
        else
            set_skip(c, "max_chain_depth %s: the device's API cannot set a depth (its limit is "
                     "its build's, 8 intermediates)", d);
    }
    sig_constraint(c);
}

/* Validity bounds of x → the span around t in which no state changes. */
static void narrow_span(const X509 *x, int64_t t, int64_t span[2])
{
    const ASN1_TIME *b[2] = { X509_get0_notBefore(x), X509_get0_notAfter(x) };
    for (int i = 0; i < 2; i++) {
        struct tm tmv;
        if (b[i] == NULL || !ASN1_TIME_to_tm(b[i], &tmv))
            continue;
        int64_t edge = (int64_t)timegm(&tmv) + i;   /* valid up to notAfter itself */
        if (edge <= t && edge > span[0])
            span[0] = edge;
        if (edge > t && edge - 1 < span[1])
            span[1] = edge - 1;
    }
}

/* device.clock: validation_time, else the run's time; clock_span: the times
 * at which every parseable certificate of the case is as valid as then. */
static void case_clock(struct conv *c, json_t *dev)
{
    int64_t t = c->o->now, span[2] = { -SPAN_MAX, SPAN_MAX };
    const char *vt = str(c->tc, "validation_time");
    char why[200];
    size_t i;
    const json_t *it;
    if (vt != NULL)
        limbo_time(vt, &t);   /* checked at load */
    if (c->leaf != NULL)
        narrow_span(c->leaf, t, span);
    for (size_t k = 0; k < c->nints; k++)
        narrow_span(c->ints[k], t, span);
    json_array_foreach(json_object_get(c->tc, "trusted_certs"), i, it) {
        X509 *x = parse_cert(json_string_value(it), why, sizeof why);
        if (x != NULL)
            narrow_span(x, t, span);
        X509_free(x);
    }
    char at[40];
    tm_format_utc(t, at, sizeof at);
    json_object_set_new(dev, "clock", json_string(at));
    json_object_set_new(dev, "clock_span", json_pack("[I, I]", (json_int_t)span[0],
                                                     (json_int_t)span[1]));
}

/* The leaf and the intermediates as the peer must load them: a certificate
 * that does not parse cannot be presented by any peer. */
static void parse_chain(struct conv *c)
{
    char why[200];
    const json_t *ints = json_object_get(c->tc, "untrusted_intermediates");
    c->leaf = parse_cert(str(c->tc, "peer_certificate"), why, sizeof why);
    if (c->leaf == NULL)
        set_skip(c, "peer_certificate does not parse (OpenSSL: %s): the peer cannot present "
                 "it", why);
    c->ints = calloc(json_array_size(ints) + 1, sizeof *c->ints);
    for (size_t i = 0; c->ints != NULL && i < json_array_size(ints); i++) {
        c->ints[c->nints] = parse_cert(json_string_value(json_array_get(ints, i)), why,
                                       sizeof why);
        if (c->ints[c->nints] != NULL)
            c->nints++;
        else
            set_skip(c, "an untrusted intermediate does not parse (OpenSSL: %s): the peer "
                     "cannot present it", why);
    }
}

static json_t *expected_classes(const char *result)
{
    json_t *dev = json_array();
    for (size_t i = 0; limbo_accepted_classes[i]; i++) {
        const char *k = limbo_accepted_classes[i];
        if (strcmp(result, "SUCCESS") == 0)
            json_array_append_new(dev, json_string(k));
        else if (strcmp(k, "ok") != 0)
            json_array_append_new(dev, json_sprintf("!%s", k));
    }
    if (strcmp(result, "FAILURE") == 0) {   /* refused: a verify failure or any error */
        json_array_insert_new(dev, 0, json_string("verify-failed:*"));
        json_array_insert_new(dev, 1, json_string("error:*"));
    }
    /* The peer: whatever it saw; "not-started" for an anchor the device refused
     * before connecting (classify: no handshake evidence needed then). */
    return json_pack("{s:o, s:[s, s]}", "device", dev, "peer", "*", "not-started");
}

/* CLIENT validation: the device serves the fixtures' P-256 chain and requires a
 * client certificate, which the peer (the TLS client, trusting the fixtures'
 * root) presents. In TLS 1.2 the server decides on the client's chain when its
 * Certificate message arrives, before the CertificateVerify signature, as a
 * client does with the server's (docs/device-model.md §1.5). */
static void serve_for_client_auth(json_t *dev, json_t *peer)
{
    json_object_set_new(dev, "chain", json_pack("[{s:s, s:s}, {s:s, s:s}]", "cert",
                                                "p256-server.der", "key", "p256-server.key.der",
                                                "cert", "p256-int.der", "key",
                                                "p256-server.key.der"));
    json_object_set_new(peer, "ca", json_pack("[s]", "p256-root.der"));
    json_object_set_new(peer, "servername", json_string("test.local"));
}

static json_t *make_case(struct conv *c, struct tm_err *err)
{
    const json_t *tc = c->tc;
    c->client = strcmp(str(tc, "validation_kind"), "CLIENT") == 0;
    json_t *dev = json_pack("{s:s, s:s, s:s, s:[]}", "role", c->client ? "server" : "client",
                            "layer", "tls", "verify", "required", "ca");
    json_t *peer = json_object(), *tags = json_pack("[s]", "x509-limbo");
    size_t i;
    const json_t *it;
    json_array_foreach(json_object_get(tc, "trusted_certs"), i, it)
        json_array_append_new(json_object_get(dev, "ca"), anchor_source(json_string_value(it)));
    json_array_foreach(json_object_get(tc, "features"), i, it)
        if (json_is_string(it))
            json_array_append(tags, (json_t *)it);
    parse_chain(c);
    constraints(c);
    if (c->client)
        serve_for_client_auth(dev, peer);
    else
        peer_name(c, dev);
    case_clock(c, dev);
    if (peer_files(c, peer, err) != 0) {
        json_decref(dev);
        json_decref(peer);
        json_decref(tags);
        return NULL;
    }
    if (strcmp(c->o->backend, "openssl") == 0)
        json_object_set_new(peer, "seclevel", json_integer(0));   /* any chain goes out */
    const char *kt = c->kt[0] ? c->kt : "unknown";
    json_t *k = json_object();
    json_object_set_new(k, "id", json_sprintf("%s/%s/%s/tls", str(tc, "id"), c->o->backend, kt));
    json_object_set_new(k, "scenario", json_string(str(tc, "id")));
    if (c->o->file != NULL)
        json_object_set_new(k, "file", json_string(c->o->file));
    json_object_set_new(k, "doc", json_sprintf("x509-limbo test case, expected_result %s",
                                               str(tc, "expected_result")));
    json_object_set_new(k, "tags", tags);
    json_object_set_new(k, "insecure", json_false());
    json_object_set_new(k, "axes", json_pack("{s:s, s:s, s:s}", "backend", c->o->backend,
                                             "keytype", kt, "proto", "tls"));
    json_object_set_new(k, "device", dev);
    json_object_set_new(k, "peer", peer);
    json_object_set_new(k, "expected", expected_classes(str(tc, "expected_result")));
    json_object_set_new(k, "proxy", json_null());
    if (c->skip[0])
        json_object_set_new(k, "skip", json_string(c->skip));
    return k;
}

static void conv_free(struct conv *c)
{
    X509_free(c->leaf);
    for (size_t i = 0; i < c->nints; i++)
        X509_free(c->ints[i]);
    free(c->ints);
}

json_t *limbo_cases(const json_t *limbo, const struct limbo_opts *o, json_t *notes,
                    struct tm_err *err)
{
    struct keyring keys = { .n = 0 };
    json_t *out = json_array();
    size_t i;
    const json_t *tc;
    json_array_foreach(json_object_get(limbo, "testcases"), i, tc) {
        const char *id = str(tc, "id");
        if (o->filter != NULL && !scenario_filter_match(o->filter, id))
            continue;
        struct conv c = { .o = o, .keys = &keys, .tc = tc, .index = i };
        json_t *k = make_case(&c, err);
        struct tm_case typed;
        /* The one validator every source of cases goes through. */
        if (k != NULL && case_build(k, &typed, err) != 0) {
            tm_err_prefix(err, "test case %s", id);
            json_decref(k);
            k = NULL;
        } else if (k != NULL) {
            case_free(&typed);
        }
        if (k != NULL && c.note[0])
            json_object_set_new(notes, id, json_string(c.note));
        conv_free(&c);
        if (k == NULL) {
            json_decref(out);
            return NULL;
        }
        json_array_append_new(out, k);
    }
    return out;
}
