/* GnuTLS priority strings from the options: versions, IANA suites (as key exchange,
 * cipher and MAC sets, which is all a priority string can say), groups, sigalgs. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "peer_gnutls.h"

__attribute__((format(printf, 3, 4)))
static void add(char *out, size_t cap, const char *fmt, ...)
{
    size_t l = strlen(out);
    va_list ap;
    va_start(ap, fmt);
    if (l < cap)
        vsnprintf(out + l, cap - l, fmt, ap);
    va_end(ap);
}

static void add_versions(const struct peer_opts *o, char *out, size_t cap)
{
    add(out, cap, ":-VERS-ALL");
    if (o->proto == PEER_DTLS) {
        add(out, cap, ":+VERS-DTLS1.2");
        return;
    }
    if (o->max_version != PEER_TLS12)
        add(out, cap, ":+VERS-TLS1.3");
    if (o->min_version != PEER_TLS13)
        add(out, cap, ":+VERS-TLS1.2");
}

/* One IANA suite → +KX:+CIPHER:+MAC, found by its two-byte id in GnuTLS's table. */
static int add_suite(const char *flag, const char *name, char *out, size_t cap,
                     struct tm_err *err)
{
    unsigned char id[2], gid[2];
    gnutls_kx_algorithm_t kx;
    gnutls_cipher_algorithm_t ci;
    gnutls_mac_algorithm_t mac;
    gnutls_protocol_t minv;
    if (peer_cipher_id(name, id) < 0)
        return tm_err_set(err, "--%s: unknown IANA cipher suite '%s'", flag, name);
    for (size_t i = 0; gnutls_cipher_suite_info(i, gid, &kx, &ci, &mac, &minv) != NULL; i++) {
        if (memcmp(id, gid, 2) != 0)
            continue;
        if (kx != GNUTLS_KX_UNKNOWN)
            add(out, cap, ":+%s", gnutls_kx_get_name(kx));
        add(out, cap, ":+%s:+%s", gnutls_cipher_get_name(ci),
            mac == GNUTLS_MAC_AEAD ? "AEAD" : gnutls_mac_get_name(mac));
        return 0;
    }
    return tm_err_set(err, "--%s: GnuTLS does not implement '%s'", flag, name);
}

static int add_suites(const char *flag, const char *list, char *out, size_t cap,
                      struct tm_err *err)
{
    char name[128];
    for (const char *p = list; *p != '\0';) {   /* bounded by the string */
        size_t l = strcspn(p, ":");
        snprintf(name, sizeof name, "%.*s", (int)l, p);
        if (add_suite(flag, name, out, cap, err) < 0)
            return -1;
        p += l + (p[l] == ':');
    }
    return 0;
}

static const char *const group_map[][2] = {
    {"P-256", "SECP256R1"}, {"secp256r1", "SECP256R1"}, {"prime256v1", "SECP256R1"},
    {"P-384", "SECP384R1"}, {"secp384r1", "SECP384R1"},
    {"P-521", "SECP521R1"}, {"secp521r1", "SECP521R1"},
    {"X25519", "X25519"}, {"x25519", "X25519"}, {"X448", "X448"}, {"x448", "X448"},
    {"ffdhe2048", "FFDHE2048"}, {"ffdhe3072", "FFDHE3072"}, {"ffdhe4096", "FFDHE4096"},
    {"ffdhe6144", "FFDHE6144"}, {"ffdhe8192", "FFDHE8192"},
};

/* IANA SignatureScheme names → GnuTLS; ECDSA codepoints have a TLS 1.2 and a
 * TLS 1.3 spelling in GnuTLS, both enabled. */
static const char *const sig_map[][2] = {
    {"ecdsa_secp256r1_sha256", "SIGN-ECDSA-SECP256R1-SHA256:+SIGN-ECDSA-SHA256"},
    {"ecdsa_secp384r1_sha384", "SIGN-ECDSA-SECP384R1-SHA384:+SIGN-ECDSA-SHA384"},
    {"ecdsa_secp521r1_sha512", "SIGN-ECDSA-SECP521R1-SHA512:+SIGN-ECDSA-SHA512"},
    {"ecdsa_sha1", "SIGN-ECDSA-SHA1"},
    {"rsa_pkcs1_sha1", "SIGN-RSA-SHA1"}, {"rsa_pkcs1_sha256", "SIGN-RSA-SHA256"},
    {"rsa_pkcs1_sha384", "SIGN-RSA-SHA384"}, {"rsa_pkcs1_sha512", "SIGN-RSA-SHA512"},
    {"rsa_pss_rsae_sha256", "SIGN-RSA-PSS-RSAE-SHA256"},
    {"rsa_pss_rsae_sha384", "SIGN-RSA-PSS-RSAE-SHA384"},
    {"rsa_pss_rsae_sha512", "SIGN-RSA-PSS-RSAE-SHA512"},
    {"rsa_pss_pss_sha256", "SIGN-RSA-PSS-SHA256"}, {"rsa_pss_pss_sha384", "SIGN-RSA-PSS-SHA384"},
    {"rsa_pss_pss_sha512", "SIGN-RSA-PSS-SHA512"},
    {"ed25519", "SIGN-EDDSA-ED25519"}, {"ed448", "SIGN-EDDSA-ED448"},
};

static int add_mapped(const char *flag, const char *list, const char *const map[][2],
                      size_t n, const char *prefix, char *out, size_t cap, struct tm_err *err)
{
    char name[128];
    for (const char *p = list; *p != '\0';) {   /* bounded by the string */
        size_t l = strcspn(p, ":"), i;
        snprintf(name, sizeof name, "%.*s", (int)l, p);
        for (i = 0; i < n && strcmp(map[i][0], name) != 0; i++)
            ;
        if (i == n)
            return tm_err_set(err, "--%s: unknown name '%s'", flag, name);
        add(out, cap, ":+%s%s", prefix, map[i][1]);
        p += l + (p[l] == ':');
    }
    return 0;
}

/* --ciphers names TLS 1.2 suites only (as OpenSSL's -cipher); TLS 1.3 keeps its
 * defaults unless --ciphersuites is given. A priority string cannot say both at
 * once: the TLS 1.3 AEAD ciphers, added for TLS 1.3, also pair with the listed key
 * exchanges into TLS 1.2 suites nobody listed. */
static int tls13_defaults_leak(const struct peer_opts *o)
{
    return o->ciphers && !o->ciphersuites && o->proto == PEER_TLS
           && o->max_version != PEER_TLS12 && o->min_version != PEER_TLS13;
}

static int build(const struct peer_opts *o, int tls12_only, char *out, size_t cap,
                 struct tm_err *err)
{
    out[0] = '\0';
    add(out, cap, "NORMAL");
    if (tls12_only)
        add(out, cap, ":-VERS-ALL:+VERS-TLS1.2");
    else
        add_versions(o, out, cap);
    if (o->ciphers || o->ciphersuites) {
        add(out, cap, ":-CIPHER-ALL:-MAC-ALL:-KX-ALL");
        if (o->ciphers && add_suites("ciphers", o->ciphers, out, cap, err) < 0)
            return -1;
        if (o->ciphersuites && add_suites("ciphersuites", o->ciphersuites, out, cap, err) < 0)
            return -1;
        if (!tls12_only && !o->ciphersuites && o->proto == PEER_TLS
            && o->max_version != PEER_TLS12)
            add(out, cap, ":+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-GCM:+AES-128-CCM:+AEAD");
        if (!o->ciphers && o->min_version != PEER_TLS13)   /* TLS 1.2 keeps its defaults */
            add(out, cap, ":+ECDHE-ECDSA:+ECDHE-RSA:+RSA:+DHE-RSA:+AES-256-GCM:+AES-128-GCM"
                          ":+CHACHA20-POLY1305:+AES-256-CBC:+AES-128-CBC:+SHA1:+SHA256:+SHA384");
    }
    if (o->groups) {
        add(out, cap, ":-GROUP-ALL");
        if (add_mapped("groups", o->groups, group_map, sizeof group_map / sizeof group_map[0],
                       "GROUP-", out, cap, err) < 0)
            return -1;
    }
    if (o->sigalgs) {
        add(out, cap, ":-SIGN-ALL");
        if (add_mapped("sigalgs", o->sigalgs, sig_map, sizeof sig_map / sizeof sig_map[0], "",
                       out, cap, err) < 0)
            return -1;
    }
    return strlen(out) + 1 < cap ? 0 : tm_err_set(err, "option lists too long");
}

int peer_gtls_priority(const struct peer_opts *o, char *out, size_t cap, struct tm_err *err)
{
    return build(o, 0, out, cap, err);
}

int peer_gtls_priority12(const struct peer_opts *o, char *out, size_t cap, struct tm_err *err)
{
    if (!tls13_defaults_leak(o))
        return 0;
    return build(o, 1, out, cap, err) < 0 ? -1 : 1;
}

/* Is the suite (two-byte id) one of the --ciphers list? */
int peer_gtls_suite_listed(const struct peer_opts *o, const unsigned char id[2])
{
    unsigned char want[2];
    char name[128];
    for (const char *p = o->ciphers; p != NULL && *p != '\0';) {   /* bounded by the string */
        size_t l = strcspn(p, ":");
        snprintf(name, sizeof name, "%.*s", (int)l, p);
        p += l + (p[l] == ':');
        if (peer_cipher_id(name, want) == 0 && memcmp(want, id, 2) == 0)
            return 1;
    }
    return 0;
}
