/* repro --save-scenario NAME: the case as NAME.yaml, a scenario file the loader
 * accepts (docs/contracts.md §5), and, when it names the user's certificates,
 * NAME.pki.yaml, a PKI description pkigen builds them from (§1): subjects,
 * issuer links, CA flags and path lengths, validity relative to the case's
 * time, SANs, key usage, extended key usage, key types and signature hashes.
 * What the description cannot say (policies and other extensions, serials) is
 * listed at its top. Values are written as JSON, which YAML reads as it is. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "field_internal.h"
#include "tm_time.h"

/* The description's certificates: every distinct certificate of the user's. */
struct desc {
    struct lk_set set;          /* issuer links (the fresh keys are not used) */
    char *labels[LK_SET_MAX];
    char name[128];             /* scenario name: entries are NAME-1, NAME-2, … */
    int64_t ref;                /* the case's time: validity is relative to it */
};

static const char *kt_of(EVP_PKEY *k)
{
    char d[64];
    lk_key_desc(k, d, sizeof d);
    static const struct { const char *desc, *kt; } m[] = {
        { "EC P-256", "p256" }, { "EC P-384", "p384" }, { "RSA 2048", "rsa2048" },
        { "RSA 4096", "rsa4096" }, { "RSA 1024", "rsa1024" },
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (strcmp(d, m[i].desc) == 0)
            return m[i].kt;
    return NULL;
}

/* The entry of x (an original, or a look-alike of the field's set), -1 none. */
static long entry_of(const struct desc *d, const struct field *f, const X509 *x)
{
    for (size_t j = 0; f->lookalike && j < f->set.n; j++)
        if (f->set.v[j].copy == x)
            x = f->set.v[j].orig;
    for (size_t i = 0; i < d->set.n; i++)
        if (X509_cmp(d->set.v[i].orig, x) == 0)
            return (long)i;
    return -1;
}

/* The entry whose certificate (or its look-alike) goes with key k. */
static long entry_of_key(const struct desc *d, const struct field *f, EVP_PKEY *k)
{
    for (size_t j = 0; f->lookalike && j < f->set.n; j++)
        if (f->set.v[j].key == k)
            return entry_of(d, f, f->set.v[j].orig);
    for (size_t i = 0; i < d->set.n; i++) {
        int ok = X509_check_private_key(d->set.v[i].orig, k) == 1;
        ERR_clear_error();
        if (ok)
            return (long)i;
    }
    return -1;
}

static int make_desc(struct desc *d, const struct field *f, const char *name, int64_t ref,
                     struct tm_err *err)
{
    X509 *in[LK_SET_MAX];
    size_t n = 0;
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", name);
    d->ref = ref;
    for (size_t i = 0; i < f->nu; i++)
        for (size_t k = 0; k < f->u[i].certs.n; k++) {
            int dup = 0;
            for (size_t j = 0; j < n; j++)
                dup |= X509_cmp(in[j], f->u[i].certs.v[k]) == 0;
            if (dup)
                continue;
            if (n == LK_SET_MAX)
                return tm_err_setc(err, TM_E_INPUT, "--save-scenario: more than %d certificates",
                                   LK_SET_MAX);
            if (asprintf(&d->labels[n], "%s %s #%zu", f->u[i].opt, f->u[i].path, k + 1) < 0)
                return tm_err_setc(err, TM_E_NOMEM, "out of memory");
            in[n++] = f->u[i].certs.v[k];
        }
    return lk_clone(in, (const char *const *)d->labels, n, &d->set, err);
}

static void free_desc(struct desc *d)
{
    lk_set_free(&d->set);
    for (size_t i = 0; i < LK_SET_MAX; i++)
        free(d->labels[i]);
}

/* A value as YAML (JSON flow), freeing it. */
static void put_json(FILE *o, json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    fputs(s ? s : "null", o);
    free(s);
    json_decref(v);
}

static void subject_json(FILE *o, const X509_NAME *nm)
{
    json_t *m = json_object();
    for (int i = 0; i < X509_NAME_entry_count(nm); i++) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(nm, i);
        const char *k = OBJ_nid2sn(OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)));
        const ASN1_STRING *v = X509_NAME_ENTRY_get_data(e);
        json_object_set_new(m, k, json_stringn((const char *)ASN1_STRING_get0_data(v),
                                                (size_t)ASN1_STRING_length(v)));
    }
    put_json(o, m);
}

static json_t *sans_json(X509 *x)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    json_t *a = json_array();
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type == GEN_DNS)
            json_array_append_new(a, json_sprintf("DNS:%.*s", ASN1_STRING_length(g->d.dNSName),
                                                  ASN1_STRING_get0_data(g->d.dNSName)));
        else if (g->type == GEN_IPADD && ASN1_STRING_length(g->d.iPAddress) == 4) {
            const unsigned char *b = ASN1_STRING_get0_data(g->d.iPAddress);
            json_array_append_new(a, json_sprintf("IP:%u.%u.%u.%u", b[0], b[1], b[2], b[3]));
        }
    }
    GENERAL_NAMES_free(names);
    return a;
}

static json_t *ku_json(X509 *x)
{
    static const struct { uint32_t bit; const char *name; } ku[] = {
        { KU_DIGITAL_SIGNATURE, "digitalSignature" }, { KU_KEY_ENCIPHERMENT, "keyEncipherment" },
        { KU_KEY_CERT_SIGN, "keyCertSign" },          { KU_CRL_SIGN, "cRLSign" },
    };
    uint32_t bits = X509_get_key_usage(x);
    json_t *a = json_array();
    for (size_t i = 0; bits != UINT32_MAX && i < sizeof ku / sizeof ku[0]; i++)
        if (bits & ku[i].bit)
            json_array_append_new(a, json_string(ku[i].name));
    return a;
}

static json_t *eku_json(X509 *x)
{
    json_t *a = json_array();
    uint32_t x_eku = X509_get_extended_key_usage(x);
    if (X509_get_ext_by_NID(x, NID_ext_key_usage, -1) < 0)
        return a;
    if (x_eku & XKU_SSL_SERVER)
        json_array_append_new(a, json_string("serverAuth"));
    if (x_eku & XKU_SSL_CLIENT)
        json_array_append_new(a, json_string("clientAuth"));
    return a;
}

/* Extensions pkigen does not write: listed, not silently dropped. */
static void unsaid(FILE *o, const struct desc *d, size_t i)
{
    static const int said[] = { NID_subject_alt_name, NID_key_usage, NID_ext_key_usage,
                                NID_basic_constraints, NID_subject_key_identifier,
                                NID_authority_key_identifier };
    X509 *x = d->set.v[i].orig;
    for (int e = 0; e < X509_get_ext_count(x); e++) {
        int nid = OBJ_obj2nid(X509_EXTENSION_get_object(X509_get_ext(x, e)));
        int known = 0;
        for (size_t k = 0; k < sizeof said / sizeof said[0]; k++)
            known |= nid == said[k];
        if (!known)
            fprintf(o, "#   %s-%zu: %s\n", d->name, i + 1, nid != NID_undef ? OBJ_nid2ln(nid)
                    : "an unnamed extension");
    }
}

/* Whole days from ref to t, rounded down: a certificate issued minutes before
 * the case starts a day before it, so it is valid at the new reference time. */
static long days_from(const ASN1_TIME *t, int64_t ref)
{
    int day = 0, sec = 0;
    ASN1_TIME *r = ASN1_TIME_set(NULL, (time_t)ref);
    ASN1_TIME_diff(&day, &sec, r, t);
    ASN1_TIME_free(r);
    long long total = (long long)day * 86400 + sec;
    return (long)(total >= 0 ? total / 86400 : -((-total + 86399) / 86400));
}

static int write_entry(FILE *o, const struct desc *d, size_t i, struct tm_err *err)
{
    const struct lk_clone *c = &d->set.v[i];
    X509 *x = c->orig;
    const char *kt = kt_of(X509_get0_pubkey(x));
    if (kt == NULL) {
        char kd[64];
        lk_key_desc(X509_get0_pubkey(x), kd, sizeof kd);
        return tm_err_setc(err, TM_E_INPUT, "--save-scenario: %s has a %s key, which a PKI "
                           "description cannot name (p256, p384, rsa1024, rsa2048, rsa4096)",
                           c->from, kd);
    }
    fprintf(o, "  - name: \"%s-%zu\"\n    keytypes: %s\n    doc: ", d->name, i + 1, kt);
    put_json(o, json_sprintf("like %s", c->from));
    fputs("\n    subject: ", o);
    subject_json(o, X509_get_subject_name(x));
    if (c->issuer == (long)i)
        fputs("\n    issuer: self", o);
    else if (c->issuer >= 0)
        fprintf(o, "\n    issuer: \"%s-%ld\"", d->name, c->issuer + 1);
    else
        fprintf(o, "\n    issuer: \"%s-absent-%zu\"", d->name, i + 1);
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL, NULL);
    if (bc != NULL && bc->ca) {
        fputs("\n    ca: true", o);
        if (bc->pathlen != NULL)
            fprintf(o, "\n    pathlen: %ld", ASN1_INTEGER_get(bc->pathlen));
    }
    BASIC_CONSTRAINTS_free(bc);
    fprintf(o, "\n    validity: {not_before_days: %ld, not_after_days: %ld}",
            days_from(X509_get0_notBefore(x), d->ref), days_from(X509_get0_notAfter(x), d->ref));
    json_t *sans = sans_json(x), *ku = ku_json(x), *eku = eku_json(x);
    if (json_array_size(sans) > 0)
        fputs("\n    sans: ", o), put_json(o, json_incref(sans));
    if (json_array_size(ku) > 0)
        fputs("\n    key_usage: ", o), put_json(o, json_incref(ku));
    if (json_array_size(eku) > 0)
        fputs("\n    eku: ", o), put_json(o, json_incref(eku));
    json_decref(sans);
    json_decref(ku);
    json_decref(eku);
    int md = NID_undef, pk = NID_undef;
    if (OBJ_find_sigid_algs(X509_get_signature_nid(x), &md, &pk) && (md == NID_sha1 || md == NID_sha256
                                                                     || md == NID_sha384))
        fprintf(o, "\n    sig_hash: %s", md == NID_sha1 ? "sha1" : md == NID_sha256 ? "sha256" : "sha384");
    fputs("\n", o);
    if (c->issuer < 0) {   /* the issuer the user did not give: a CA nobody trusts */
        fprintf(o, "  - name: \"%s-absent-%zu\"\n    keytypes: %s\n    doc: \"the issuer of %s-%zu, "
                "not given\"\n    subject: ", d->name, i + 1, pk == NID_rsaEncryption ? "rsa2048"
                : md == NID_sha384 ? "p384" : "p256", d->name, i + 1);
        subject_json(o, X509_get_issuer_name(x));
        fputs("\n    issuer: self\n    ca: true\n", o);
    }
    return 0;
}

static int write_pki(const char *path, const struct desc *d, struct tm_err *err)
{
    FILE *o = fopen(path, "wx");
    if (o == NULL)
        return tm_err_setc(err, errno == EEXIST ? TM_E_INPUT : TM_E_IO, "--save-scenario: %s: %s",
                           path, errno == EEXIST ? "exists (nothing is overwritten)" : strerror(errno));
    char when[32];
    tm_format_utc(d->ref, when, sizeof when);
    fprintf(o, "# PKI description (docs/contracts.md §1) written by tlsmatrix repro --save-scenario:\n"
               "# the user's certificates, validity in days from the case's time %s.\n"
               "# Not described (pkigen cannot say it; the serials are pkigen's own):\n", when);
    for (size_t i = 0; i < d->set.n; i++)
        unsaid(o, d, i);
    fputs("format: tlsmatrix-pki-desc/1\n\ncerts:\n", o);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < d->set.n; i++)
        rc = write_entry(o, d, i, err);
    if (fclose(o) != 0 && rc == 0)
        rc = tm_err_setc(err, TM_E_IO, "--save-scenario: %s: %s", path, strerror(errno));
    if (rc != 0)
        remove(path);   /* ours, just made: no half description stays */
    return rc;
}

/* A file reference of the case (REPORT/field/… or a fixture name) as a file
 * name of the description's fixture set. */
static json_t *ref_name(const struct desc *d, const struct field *f, const json_t *ref,
                        struct tm_err *err)
{
    const char *s = json_string_value(ref);
    for (size_t i = 0; s != NULL && i < f->no; i++) {
        const struct out *o = &f->o[i];
        char p[PATH_MAX + 128];
        snprintf(p, sizeof p, "%s/%s", f->base, o->rel);
        if (strcmp(p, s) != 0)
            continue;
        long e = o->key ? entry_of_key(d, f, o->key) : entry_of(d, f, o->certs[0]);
        if (e < 0) {
            tm_err_setc(err, TM_E_INPUT, "--save-scenario: %s matches no certificate of the case",
                        o->rel);
            return NULL;
        }
        return json_sprintf("%s-%ld%s", d->name, e + 1, o->key ? ".key.der" : ".der");
    }
    return json_incref((json_t *)ref);
}

/* Every file reference of a list (or of one key) renamed in place. */
static int rename_refs(const struct desc *d, const struct field *f, json_t *obj, const char *key,
                       struct tm_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_string(v)) {
        json_t *n = ref_name(d, f, v, err);
        return n ? json_object_set_new(obj, key, n), 0 : -1;
    }
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *n = ref_name(d, f, json_array_get(v, i), err);
        if (n == NULL)
            return -1;
        json_array_set_new(v, i, n);
    }
    return 0;
}

static int rename_all(const struct desc *d, const struct field *f, json_t *dev, json_t *peer,
                      struct tm_err *err)
{
    json_t *chain = json_object_get(dev, "chain");
    if (rename_refs(d, f, dev, "ca", err) || rename_refs(d, f, peer, "cert", err)
        || rename_refs(d, f, peer, "key", err) || rename_refs(d, f, peer, "ca", err))
        return -1;
    for (size_t i = 0; i < json_array_size(chain); i++)
        if (rename_refs(d, f, json_array_get(chain, i), "cert", err)
            || rename_refs(d, f, json_array_get(chain, i), "key", err))
            return -1;
    return 0;
}

/* The case's time: what the description's validity is relative to. */
static int64_t case_time(const json_t *dev)
{
    const char *c = json_string_value(json_object_get(dev, "clock"));
    int64_t t = tm_wall_s();
    if (c != NULL && c[0] >= '0' && c[0] <= '9')
        tm_parse_utc(c, &t);
    return t;
}

static int write_scenario(const char *path, const char *name, const json_t *kase, json_t *dev,
                          json_t *peer, const char *keytype, int with_pki, struct tm_err *err)
{
    FILE *o = fopen(path, "wx");
    if (o == NULL)
        return tm_err_setc(err, errno == EEXIST ? TM_E_INPUT : TM_E_IO, "--save-scenario: %s: %s",
                           path, errno == EEXIST ? "exists (nothing is overwritten)" : strerror(errno));
    const json_t *axes = json_object_get(kase, "axes"), *proxy = json_object_get(kase, "proxy");
    fprintf(o, "# Scenario (docs/contracts.md §5) written by tlsmatrix repro --save-scenario.\n");
    if (with_pki)
        fprintf(o, "# Its certificates: pkigen --desc %s.pki.yaml --out DIR, then\n"
                   "#   tlsmatrix run --scenarios %s.yaml --fixtures DIR\n", name, name);
    fprintf(o, "name: %s\ndoc: ", name);
    put_json(o, json_sprintf("A field failure reproduced with tlsmatrix repro%s; the device's "
                             "verification is described in docs/device-model.md §6.",
                             with_pki ? " from the user's certificates" : ""));
    fputs("\ntags: [repro, field]\ndevice: ", o);
    put_json(o, json_incref(dev));
    fputs("\npeer: ", o);
    put_json(o, json_incref(peer));
    if (json_is_object(proxy))
        fputs("\nproxy: ", o), put_json(o, json_incref((json_t *)proxy));
    fputs("\naxes: ", o);
    put_json(o, json_pack("{s:[O], s:[s], s:[O]}", "backend", json_object_get(axes, "backend"),
                          "keytype", keytype, "proto", json_object_get(axes, "proto")));
    fputs("\nexpect: ", o);
    put_json(o, json_deep_copy(json_object_get(kase, "expected")));
    fputs("\ninsecure: false\n", o);
    if (fclose(o) != 0)
        return remove(path), tm_err_setc(err, TM_E_IO, "--save-scenario: %s: %s", path, strerror(errno));
    return 0;
}

int field_save(const char *name_path, const json_t *kase, const struct field *f,
               struct tm_err *err)
{
    const char *name = strrchr(name_path, '/') ? strrchr(name_path, '/') + 1 : name_path;
    char scen[PATH_MAX], pki[PATH_MAX];
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            return tm_err_setc(err, TM_E_INPUT, "--save-scenario %s: a scenario name is lower-case "
                               "letters, digits, '-' and '_'", name_path);
    if (*name == '\0' || json_object_get(kase, "target") != NULL)
        return tm_err_setc(err, TM_E_INPUT, "--save-scenario %s: %s", name_path, *name ? "a case "
                           "with --target runs against a server the catalog does not have"
                           : "empty name");
    snprintf(scen, sizeof scen, "%s.yaml", name_path);
    snprintf(pki, sizeof pki, "%s.pki.yaml", name_path);
    /* Both checked first, so nothing is half written; "wx" still guards each. */
    for (int i = 0; i < 2; i++)
        if (access(i ? pki : scen, F_OK) == 0)
            return tm_err_setc(err, TM_E_INPUT, "--save-scenario: %s: exists (nothing is "
                               "overwritten)", i ? pki : scen);
    json_t *dev = json_deep_copy(json_object_get(kase, "device"));
    json_t *peer = json_deep_copy(json_object_get(kase, "peer"));
    struct desc d;
    int with_pki = field_used(f), rc = 0;
    const char *kt = "p256";
    memset(&d, 0, sizeof d);
    if (with_pki) {
        rc = make_desc(&d, f, name, case_time(dev), err);
        if (rc == 0)
            rc = rename_all(&d, f, dev, peer, err);
        /* The description is relative to the case's time: the scenario runs at the
         * fixtures' reference time, when they are generated. */
        const char *c = json_string_value(json_object_get(dev, "clock"));
        if (c != NULL && (strcmp(c, "now") == 0 || (c[0] >= '0' && c[0] <= '9')))
            json_object_del(dev, "clock");
        /* The keytype axis names the peer leaf's key (the case id's third part). */
        for (size_t i = 0; i < f->nu; i++)
            if (strcmp(f->u[i].opt, "--peer-cert") == 0) {
                if (kt_of(X509_get0_pubkey(f->u[i].certs.v[0])) != NULL)
                    kt = kt_of(X509_get0_pubkey(f->u[i].certs.v[0]));
                break;
            }
    }
    if (rc == 0 && with_pki)
        rc = write_pki(pki, &d, err);
    if (rc == 0 && (rc = write_scenario(scen, name, kase, dev, peer, kt, with_pki, err)) != 0
        && with_pki)
        remove(pki);
    if (with_pki)
        free_desc(&d);
    json_decref(dev);
    json_decref(peer);
    return rc;
}
