/* fixtures/lookalike: look-alikes keep every field and extension of the
 * originals, carry fresh keys of the same type, and are linked to each other by
 * real signatures (so a verifier builds the same path as with the originals);
 * an issuer the set lacks stays absent; the user's files read in PEM and DER. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/conf.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "lookalike.h"
#include "tm_fs.h"

/* A certificate signed by issuer (NULL: self-signed) with the given extensions. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey,
                       const char *const *exts)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 0x1234567);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400 * 30);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"Field Corp", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    X509_set_pubkey(x, key);
    X509V3_CTX ctx;
    CONF *conf = NCONF_new(NULL);   /* certificatePolicies needs a (here empty) config */
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    X509V3_set_nconf(&ctx, conf);
    for (size_t i = 0; exts[i]; i += 2) {
        X509_EXTENSION *e = X509V3_EXT_nconf(conf, &ctx, exts[i], exts[i + 1]);
        ck_assert_msg(e != NULL, "extension %s = %s: %s", exts[i], exts[i + 1],
                      ERR_reason_error_string(ERR_peek_last_error()));
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    NCONF_free(conf);
    ck_assert_int_gt(X509_sign(x, ikey ? ikey : key, EVP_sha384()), 0);
    return x;
}

struct chain {
    EVP_PKEY *kroot, *kint, *kleaf;
    X509 *root, *inter, *leaf;
};

static void make_chain(struct chain *c)
{
    static const char *const ca[] = { "basicConstraints", "critical,CA:TRUE",
                                      "keyUsage", "critical,keyCertSign,cRLSign",
                                      "subjectKeyIdentifier", "hash", NULL };
    static const char *const in[] = { "basicConstraints", "critical,CA:TRUE,pathlen:0",
                                      "certificatePolicies", "2.23.140.1.2.1",
                                      "subjectKeyIdentifier", "hash",
                                      "authorityKeyIdentifier", "keyid", NULL };
    static const char *const lf[] = { "subjectAltName", "DNS:shop.example.com,IP:192.0.2.7",
                                      "extendedKeyUsage", "serverAuth",
                                      "authorityKeyIdentifier", "keyid", NULL };
    c->kroot = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    c->kint = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    c->kleaf = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    c->root = make_cert(c->kroot, "Field Root", NULL, NULL, ca);
    c->inter = make_cert(c->kint, "Field Issuing CA", c->root, c->kroot, in);
    c->leaf = make_cert(c->kleaf, "shop.example.com", c->inter, c->kint, lf);
}

static void free_chain(struct chain *c)
{
    X509_free(c->root);
    X509_free(c->inter);
    X509_free(c->leaf);
    EVP_PKEY_free(c->kroot);
    EVP_PKEY_free(c->kint);
    EVP_PKEY_free(c->kleaf);
}

static int der_equal(const X509 *a, const X509 *b, int (*part)(const X509 *, unsigned char **))
{
    unsigned char *da = NULL, *db = NULL;
    int la = part(a, &da), lb = part(b, &db);
    int same = la > 0 && la == lb && memcmp(da, db, (size_t)la) == 0;
    OPENSSL_free(da);
    OPENSSL_free(db);
    return same;
}

static int name_der(const X509 *x, unsigned char **out)
{
    return i2d_X509_NAME(X509_get_subject_name(x), out);
}

START_TEST(clones_keep_fields_and_link_by_signature)
{
    struct chain c;
    make_chain(&c);
    X509 *in[] = { c.leaf, c.inter, c.root };
    const char *from[] = { "leaf", "int", "root" };
    struct lk_set s;
    struct tm_err err = { 0 };
    ck_assert_int_eq(lk_clone(in, from, 3, &s, &err), 0);
    ck_assert_int_eq(s.v[0].issuer, 1);
    ck_assert_int_eq(s.v[1].issuer, 2);
    ck_assert_int_eq(s.v[2].issuer, 2);
    for (size_t i = 0; i < 3; i++) {
        X509 *o = s.v[i].orig, *k = s.v[i].copy;
        ck_assert(der_equal(o, k, name_der));
        ck_assert_int_eq(X509_NAME_cmp(X509_get_issuer_name(o), X509_get_issuer_name(k)), 0);
        ck_assert_int_eq(ASN1_INTEGER_cmp(X509_get0_serialNumber(o), X509_get0_serialNumber(k)), 0);
        ck_assert_int_eq(ASN1_TIME_compare(X509_get0_notAfter(o), X509_get0_notAfter(k)), 0);
        ck_assert_int_eq(X509_get_ext_count(o), X509_get_ext_count(k));
        for (int e = 0; e < X509_get_ext_count(o); e++)
            ck_assert_int_eq(ASN1_OCTET_STRING_cmp(X509_EXTENSION_get_data(X509_get_ext(o, e)),
                                                   X509_EXTENSION_get_data(X509_get_ext(k, e))), 0);
        ck_assert_int_eq(X509_get_signature_nid(o), X509_get_signature_nid(k));
        ck_assert_int_eq(EVP_PKEY_get_base_id(X509_get0_pubkey(o)), EVP_PKEY_get_base_id(X509_get0_pubkey(k)));
        ck_assert_int_eq(EVP_PKEY_get_bits(X509_get0_pubkey(o)), EVP_PKEY_get_bits(X509_get0_pubkey(k)));
        ck_assert_int_ne(EVP_PKEY_eq(X509_get0_pubkey(o), X509_get0_pubkey(k)), 1);
        ck_assert_int_eq(X509_check_private_key(k, s.v[i].key), 1);
    }
    /* The look-alike chain verifies as a chain; the originals' keys do not sign it. */
    ck_assert_int_eq(X509_verify(s.v[0].copy, X509_get0_pubkey(s.v[1].copy)), 1);
    ck_assert_int_eq(X509_verify(s.v[1].copy, X509_get0_pubkey(s.v[2].copy)), 1);
    ck_assert_int_eq(X509_verify(s.v[2].copy, X509_get0_pubkey(s.v[2].copy)), 1);
    ck_assert_int_ne(X509_verify(s.v[0].copy, X509_get0_pubkey(c.inter)), 1);
    ERR_clear_error();
    X509_STORE *st = X509_STORE_new();
    X509_STORE_add_cert(st, s.v[2].copy);
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    sk_X509_push(untrusted, s.v[1].copy);
    X509_STORE_CTX *vc = X509_STORE_CTX_new();
    X509_STORE_CTX_init(vc, st, s.v[0].copy, untrusted);
    ck_assert_msg(X509_verify_cert(vc) == 1, "look-alike chain: %s",
                  X509_verify_cert_error_string(X509_STORE_CTX_get_error(vc)));
    X509_STORE_CTX_free(vc);
    sk_X509_free(untrusted);
    X509_STORE_free(st);
    char *l = lk_listing(&s);
    ck_assert_ptr_nonnull(strstr(l, "kept     subject                CN=shop.example.com,O=Field Corp"));
    ck_assert_ptr_nonnull(strstr(l, "kept     X509v3 Certificate Policies"));
    ck_assert_ptr_nonnull(strstr(l, "kept     key type               RSA 2048"));
    ck_assert_ptr_nonnull(strstr(l, "differs  public key"));
    ck_assert_ptr_null(strstr(l, "differs  subject"));
    free(l);
    lk_set_free(&s);
    free_chain(&c);
}
END_TEST

START_TEST(absent_issuer_stays_absent)
{
    struct chain c;
    make_chain(&c);
    X509 *in[] = { c.leaf, c.root };
    const char *from[] = { "leaf", "root" };
    struct lk_set s;
    struct tm_err err = { 0 };
    ck_assert_int_eq(lk_clone(in, from, 2, &s, &err), 0);
    ck_assert_int_eq(s.v[0].issuer, -1);
    ck_assert_int_eq(s.nphantom, 1);
    /* Signed by a key of the signature's type that nothing in the set holds. */
    ck_assert_int_eq(X509_verify(s.v[0].copy, s.phantom[0]), 1);
    ck_assert_int_ne(X509_verify(s.v[0].copy, X509_get0_pubkey(s.v[1].copy)), 1);
    ERR_clear_error();
    char *l = lk_listing(&s);
    ck_assert_ptr_nonnull(strstr(l, "not given: signed by a fresh key nothing trusts"));
    free(l);
    lk_set_free(&s);
    free_chain(&c);
}
END_TEST

START_TEST(files_pem_and_der_one_or_many)
{
    struct chain c;
    make_chain(&c);
    char pem[] = "/tmp/tm-lk-XXXXXX";
    int fd = mkstemp(pem);
    FILE *f = fdopen(fd, "w");
    fputs("# a comment before the blocks\n", f);
    PEM_write_X509(f, c.leaf);
    PEM_write_X509(f, c.inter);
    fclose(f);
    struct lk_certs got;
    struct tm_err err = { 0 };
    ck_assert_int_eq(lk_read_certs(pem, &got, &err), 0);
    ck_assert_int_eq(got.n, 2);
    ck_assert(got.pem);
    ck_assert_int_eq(X509_cmp(got.v[1], c.inter), 0);
    lk_certs_free(&got);
    /* PEM → DER of the first certificate, and how many there were. */
    unsigned char *text = NULL, *der = NULL, *want = NULL;
    size_t len = 0, dlen = 0;
    int n = 0;
    ck_assert_int_eq(tm_read_file(pem, &text, &len, &err), 0);
    ck_assert_int_eq(lk_pem_to_der(text, len, &der, &dlen, &n, &err), 0);
    ck_assert_int_eq(n, 2);
    int wl = i2d_X509(c.leaf, &want);
    ck_assert_int_eq((int)dlen, wl);
    ck_assert_int_eq(memcmp(der, want, dlen), 0);
    /* Concatenated DER reads as two; already DER converts to nothing. */
    FILE *g = fopen(pem, "w");
    fwrite(want, 1, (size_t)wl, g);
    i2d_X509_fp(g, c.inter);
    fclose(g);
    ck_assert_int_eq(lk_read_certs(pem, &got, &err), 0);
    ck_assert_int_eq(got.n, 2);
    ck_assert(!got.pem);
    lk_certs_free(&got);
    free(der);
    ck_assert_int_eq(lk_pem_to_der(want, (size_t)wl, &der, &dlen, &n, &err), 0);
    ck_assert_ptr_null(der);
    /* A truncated DER file is refused, naming the byte it stopped at. */
    g = fopen(pem, "w");
    fwrite(want, 1, (size_t)wl - 5, g);
    fclose(g);
    ck_assert_int_eq(lk_read_certs(pem, &got, &err), -1);
    ck_assert_int_eq(tm_err_code(&err), TM_E_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "byte 0: not a DER certificate"));
    OPENSSL_free(want);
    free(text);
    unlink(pem);
    free_chain(&c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lookalike");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, clones_keep_fields_and_link_by_signature);
    tcase_add_test(tc, absent_issuer_stays_absent);
    tcase_add_test(tc, files_pem_and_der_one_or_many);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
