/* repro with the user's own files (docs/contracts.md §5, "repro with the user's
 * files"): a FILE is a path relative to the current directory and a fixture is
 * named `fixture:NAME`; every file is read and checked before anything starts;
 * when the peer's certificates come without a key, look-alikes are made
 * (fixtures/lookalike); and what the case uses is written into REPORT/field/
 * once the run has claimed the report directory (runner_opts.prepare). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include "field_internal.h"
#include "tm_fs.h"

__attribute__((format(printf, 2, 3)))
static void note(struct field *f, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    char **nv = s ? realloc(f->notes, (f->nnotes + 1) * sizeof *nv) : NULL;
    if (nv == NULL) {
        free(s);
        return;
    }
    f->notes = nv;
    f->notes[f->nnotes++] = s;
}

static struct ufile *add_file(struct field *f, const char *opt, const char *path)
{
    struct ufile *nv = realloc(f->u, (f->nu + 1) * sizeof *nv);
    if (nv == NULL)
        return NULL;
    f->u = nv;
    memset(&f->u[f->nu], 0, sizeof f->u[f->nu]);
    f->u[f->nu].opt = opt;
    f->u[f->nu].path = strdup(path);
    return &f->u[f->nu++];
}

static struct out *add_out(struct field *f, const char *rel)
{
    struct out *nv = realloc(f->o, (f->no + 1) * sizeof *nv);
    if (nv == NULL)
        return NULL;
    f->o = nv;
    struct out *o = &f->o[f->no++];
    memset(o, 0, sizeof *o);
    snprintf(o->rel, sizeof o->rel, "%s", rel);
    return o;
}

/* The absolute path of REPORT/field/REL, as a JSON string for the case. */
static json_t *field_path(const struct field *f, const char *rel)
{
    char p[PATH_MAX + 128];
    snprintf(p, sizeof p, "%s/%s", f->base, rel);
    return json_string(p);
}

/* A reference from the command line: `fixture:NAME` is a fixture (the name is
 * what stays in the case); anything else is the user's file, read now. */
static int is_fixture(const char *ref)
{
    return strncmp(ref, FIXTURE_PREFIX, strlen(FIXTURE_PREFIX)) == 0;
}

static int load_file(struct field *f, const char *opt, const char *path, int want_key,
                     struct ufile **out, struct tm_err *err)
{
    struct ufile *u = add_file(f, opt, path);
    if (u == NULL || u->path == NULL)
        return tm_err_setc(err, TM_E_NOMEM, "out of memory");
    *out = u;
    if (want_key)
        u->key = lk_read_key(path, err);
    else
        lk_read_certs(path, &u->certs, err);
    if (want_key ? u->key == NULL : u->certs.n == 0)
        return tm_err_prefix(err, "%s", opt);
    return 0;
}

/* 1 when the reference (arr[i], or obj[key]) names a fixture; with strip, it
 * is replaced by the bare name the case carries. */
static int fixture_ref(json_t *arr, size_t i, json_t *obj, const char *key, int strip)
{
    json_t *v = arr ? json_array_get(arr, i) : json_object_get(obj, key);
    const char *s = json_string_value(v);
    if (s == NULL || !is_fixture(s))
        return 0;
    if (!strip)
        return 1;
    json_t *name = json_string(s + strlen(FIXTURE_PREFIX));
    if (arr)
        json_array_set_new(arr, i, name);
    else
        json_object_set_new(obj, key, name);
    return 1;
}

/* Pass 1: read every file the case names, so a bad one stops the command
 * before any device or peer starts. */
static int read_all(struct field *f, json_t *kase, struct tm_err *err)
{
    json_t *dev = json_object_get(kase, "device"), *peer = json_object_get(kase, "peer");
    static const struct { const char *where, *key, *opt; int key_file; } lists[] = {
        { "device", "ca", "--ca", 0 },   { "peer", "cert", "--peer-cert", 0 },
        { "peer", "ca", "--peer-ca", 0 },
    };
    struct ufile *u;
    for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++) {
        json_t *arr = json_object_get(strcmp(lists[l].where, "device") ? peer : dev, lists[l].key);
        for (size_t i = 0; i < json_array_size(arr); i++)
            if (!fixture_ref(arr, i, NULL, NULL, 0)
                && load_file(f, lists[l].opt, json_string_value(json_array_get(arr, i)), 0, &u, err) != 0)
                return -1;
    }
    json_t *chain = json_object_get(dev, "chain");
    for (size_t i = 0; i < json_array_size(chain); i++) {
        json_t *it = json_array_get(chain, i);
        if (!fixture_ref(NULL, 0, it, "cert", 0)
            && load_file(f, "--chain", json_string_value(json_object_get(it, "cert")), 0, &u, err) != 0)
            return -1;
        if (!fixture_ref(NULL, 0, it, "key", 0)
            && load_file(f, "--chain", json_string_value(json_object_get(it, "key")), 1, &u, err) != 0)
            return -1;
    }
    if (json_is_string(json_object_get(peer, "key")) && !fixture_ref(NULL, 0, peer, "key", 0)
        && load_file(f, "--peer-key", json_string_value(json_object_get(peer, "key")), 1, &u, err) != 0)
        return -1;
    return 0;
}

/* The next user file for opt at or after *at (files are read in case order). */
static struct ufile *next_file(struct field *f, const char *opt, size_t *at)
{
    for (; *at < f->nu; (*at)++)
        if (strcmp(f->u[*at].opt, opt) == 0)
            return &f->u[(*at)++];
    return NULL;
}

/* The certificate the case uses for certs[k] of u: the look-alike when made. */
static X509 *used_cert(const struct field *f, const struct ufile *u, size_t k)
{
    return f->lookalike && u->first != (size_t)-1 ? f->set.v[u->first + k].copy : u->certs.v[k];
}

/* A list of certificate references → one REPORT/field file per certificate
 * (device ca: one load call each; peer cert: the chain in send order). */
static int rewrite_list(struct field *f, json_t *arr, const char *opt, const char *dir,
                        struct tm_err *err)
{
    json_t *out = json_array();
    size_t at = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        if (fixture_ref(arr, i, NULL, NULL, 1)) {
            json_array_append(out, json_array_get(arr, i));
            continue;
        }
        struct ufile *u = next_file(f, opt, &at);
        if (u == NULL)
            return json_decref(out), tm_err_setc(err, TM_E_FAIL, "%s: file list out of step", opt);
        for (size_t k = 0; k < u->certs.n; k++) {
            char rel[96];
            snprintf(rel, sizeof rel, "%s-%zu-%zu.pem", dir, i + 1, k + 1);
            struct out *o = add_out(f, rel);
            if (o == NULL)
                return json_decref(out), tm_err_setc(err, TM_E_NOMEM, "out of memory");
            o->certs = calloc(1, sizeof *o->certs);
            if (o->certs == NULL)
                return json_decref(out), tm_err_setc(err, TM_E_NOMEM, "out of memory");
            o->certs[0] = used_cert(f, u, k);
            o->n = 1;
            o->own = 1;
            json_array_append_new(out, field_path(f, o->rel));
        }
    }
    json_array_clear(arr);
    json_array_extend(arr, out);
    json_decref(out);
    return 0;
}

/* device.chain items: the certificate file (all its certificates, in order)
 * and its key, each one file. */
static int rewrite_chain(struct field *f, json_t *chain, struct tm_err *err)
{
    size_t at_c = 0;
    for (size_t i = 0; i < json_array_size(chain); i++) {
        json_t *it = json_array_get(chain, i);
        static const char *const keys[] = { "cert", "key" };
        for (int k = 0; k < 2; k++) {
            if (fixture_ref(NULL, 0, it, keys[k], 1))
                continue;
            struct ufile *u = next_file(f, "--chain", &at_c);
            char rel[96];
            snprintf(rel, sizeof rel, "device/chain-%zu%s.pem", i + 1, k ? ".key" : "");
            struct out *o = u ? add_out(f, rel) : NULL;
            if (o == NULL)
                return tm_err_setc(err, TM_E_NOMEM, "out of memory");
            o->certs = u->certs.v;
            o->n = u->certs.n;
            o->key = u->key;
            json_object_set_new(it, keys[k], field_path(f, o->rel));
        }
    }
    return 0;
}

/* peer.key: the user's key, or the look-alike leaf's fresh key. */
static int rewrite_peer_key(struct field *f, json_t *peer, struct tm_err *err)
{
    if (fixture_ref(NULL, 0, peer, "key", 1))
        return 0;
    size_t at = 0;
    struct ufile *u = next_file(f, "--peer-key", &at);
    EVP_PKEY *k = u ? u->key : f->lookalike ? f->set.v[0].key : NULL;
    if (k == NULL)
        return 0;
    struct out *o = add_out(f, "peer/key.pem");
    if (o == NULL)
        return tm_err_setc(err, TM_E_NOMEM, "out of memory");
    o->key = k;
    json_object_set_new(peer, "key", field_path(f, o->rel));
    return 0;
}

/* Look-alikes when the peer presents the user's certificates without a key:
 * its chain and the device's trust anchors cloned together. */
static int make_lookalikes(struct field *f, json_t *peer, struct tm_err *err)
{
    int user_peer_certs = 0;
    for (size_t i = 0; i < f->nu; i++) {
        f->u[i].first = (size_t)-1;
        user_peer_certs |= strcmp(f->u[i].opt, "--peer-cert") == 0;
    }
    if (!user_peer_certs || json_object_get(peer, "key") != NULL)
        return 0;
    X509 *in[LK_SET_MAX];
    size_t n = 0;
    static const char *const cloned[] = { "--peer-cert", "--ca" };
    for (int c = 0; c < 2; c++)
        for (size_t at = 0; at < f->nu; at++) {
            struct ufile *u = &f->u[at];
            if (strcmp(u->opt, cloned[c]) != 0)
                continue;
            u->first = n;
            for (size_t k = 0; k < u->certs.n; k++, n++) {
                if (n == LK_SET_MAX)
                    return tm_err_setc(err, TM_E_INPUT, "look-alike chain: more than %d "
                                       "certificates", LK_SET_MAX);
                if (asprintf(&f->labels[n], "%s %s #%zu", u->opt, u->path, k + 1) < 0)
                    return tm_err_setc(err, TM_E_NOMEM, "out of memory");
                f->nlabels = n + 1;
                in[n] = u->certs.v[k];
            }
        }
    if (lk_clone(in, (const char *const *)f->labels, n, &f->set, err) != 0)
        return tm_err_prefix(err, "look-alike chain");
    f->lookalike = 1;
    return 0;
}

/* The first DNS name of a certificate's subjectAltName, else NULL (malloc'd). */
static char *first_dns(X509 *x)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    char *out = NULL;
    for (int i = 0; out == NULL && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type == GEN_DNS)
            out = strndup((const char *)ASN1_STRING_get0_data(g->d.dNSName),
                          (size_t)ASN1_STRING_length(g->d.dNSName));
    }
    GENERAL_NAMES_free(names);
    return out;
}

/* Defaults that follow from the user's files: their certificates are judged
 * at the current time, and the device asks for the name the server's leaf
 * carries. Both are said on stderr and in notes.txt. */
static void file_defaults(struct field *f, json_t *dev)
{
    if (json_object_get(dev, "clock") == NULL) {
        json_object_set_new(dev, "clock", json_string("now"));
        note(f, "clock: now (the user's certificates are judged at the current time; --clock "
                "sets another)");
    }
    size_t at = 0;
    struct ufile *leaf = next_file(f, "--peer-cert", &at);
    char *dns = leaf != NULL && json_object_get(dev, "server_hostname") == NULL
                ? first_dns(leaf->certs.v[0]) : NULL;
    if (dns != NULL) {
        json_object_set_new(dev, "server_hostname", json_string(dns));
        note(f, "server_hostname: %s (the first DNS name of %s; --hostname sets another)", dns,
             leaf->path);
        tm_say("tlsmatrix repro: server_hostname %s (the peer leaf's first DNS name; "
               "--hostname sets another)", dns);
    }
    free(dns);
}

static void file_notes(struct field *f)
{
    for (size_t i = 0; i < f->nu; i++) {
        const struct ufile *u = &f->u[i];
        if (u->key)
            note(f, "%s %s: a private key (copy in original/)", u->opt, u->path);
        else
            note(f, "%s %s: %s, %zu certificate(s) (copy in original/)", u->opt, u->path,
                 u->certs.pem ? "PEM" : "DER", u->certs.n);
    }
    note(f, "device files: one load call per --ca certificate; a device whose hello says it "
            "does not parse PEM (caps.pem=false) gets each file as DER, and its serial.log says so");
    if (f->lookalike)
        note(f, "the peer's certificates came without a key: the peer presents look-alikes "
                "(fresh keys, see lookalike.txt), and the device trusts the look-alikes of "
                "the --ca anchors");
}

struct field *field_plan(json_t *kase, const char *report_dir, struct tm_err *err)
{
    struct field *f = calloc(1, sizeof *f);
    char cwd[PATH_MAX];
    if (f == NULL)
        return tm_err_setc(err, TM_E_NOMEM, "out of memory"), NULL;
    if (report_dir[0] != '/' && getcwd(cwd, sizeof cwd) == NULL) {
        tm_err_setc(err, TM_E_IO, "current directory: %s", strerror(errno));
        goto fail;
    }
    if (report_dir[0] == '/')
        cwd[0] = '\0';
    int n = snprintf(f->base, sizeof f->base, "%s%s%s/field", cwd, cwd[0] ? "/" : "", report_dir);
    if (n < 0 || (size_t)n >= sizeof f->base) {
        tm_err_setc(err, TM_E_INPUT, "--report %s: path too long", report_dir);
        goto fail;
    }
    json_t *dev = json_object_get(kase, "device"), *peer = json_object_get(kase, "peer");
    if (read_all(f, kase, err) != 0 || make_lookalikes(f, peer, err) != 0)
        goto fail;
    if (f->nu > 0)
        file_defaults(f, dev);
    if (rewrite_list(f, json_object_get(dev, "ca"), "--ca", "device/ca", err) != 0
        || rewrite_list(f, json_object_get(peer, "cert"), "--peer-cert", "peer/cert", err) != 0
        || rewrite_list(f, json_object_get(peer, "ca"), "--peer-ca", "peer/ca", err) != 0
        || rewrite_chain(f, json_object_get(dev, "chain"), err) != 0
        || rewrite_peer_key(f, peer, err) != 0)
        goto fail;
    file_notes(f);
    return f;
fail:
    field_free(f);
    return NULL;
}

int field_used(const struct field *f)
{
    return f != NULL && f->nu > 0;
}

static int write_out(const struct field *f, const struct out *o, struct tm_err *err)
{
    char p[PATH_MAX + 128];
    snprintf(p, sizeof p, "%s/%s", f->base, o->rel);
    return o->key ? lk_write_key_pem(p, o->key, err) : lk_write_certs_pem(p, o->certs, o->n, err);
}

static int copy_original(const struct field *f, size_t i, struct tm_err *err)
{
    unsigned char *d = NULL;
    size_t len = 0;
    char p[PATH_MAX + 128];
    const char *base = strrchr(f->u[i].path, '/') ? strrchr(f->u[i].path, '/') + 1 : f->u[i].path;
    snprintf(p, sizeof p, "%s/original/%02zu-%s", f->base, i + 1, base);
    if (tm_read_file(f->u[i].path, &d, &len, err) != 0)
        return -1;
    /* A private key stays the owner's only, as pkigen writes keys. */
    int rc = tm_write_new_file(p, d, len, f->u[i].key ? 0600 : 0644, err);
    free(d);
    return rc;
}

static int write_text_file(const struct field *f, const char *name, const char *text,
                           struct tm_err *err)
{
    char p[PATH_MAX + 128];
    snprintf(p, sizeof p, "%s/%s", f->base, name);
    if (text == NULL)
        return tm_err_setc(err, TM_E_NOMEM, "%s: out of memory", p);
    return tm_write_new_file(p, text, strlen(text), 0644, err);
}

int field_prepare(const char *report_dir, void *arg, struct tm_err *err)
{
    const struct field *f = arg;
    static const char *const dirs[] = { "original", "device", "peer" };
    char p[PATH_MAX + 128];
    (void)report_dir;   /* f->base is its absolute form */
    /* The report directory is this run's now: an earlier run's field/ goes. */
    if (tm_rmtree(f->base, err) != 0)
        return -1;
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", f->base, dirs[i]);
        if (tm_mkdirs(p, 0755, err) != 0)
            return -1;
    }
    for (size_t i = 0; i < f->nu; i++)
        if (copy_original(f, i, err) != 0)
            return -1;
    for (size_t i = 0; i < f->no; i++)
        if (write_out(f, &f->o[i], err) != 0)
            return -1;
    size_t len = 1;
    for (size_t i = 0; i < f->nnotes; i++)
        len += strlen(f->notes[i]) + 1;
    char *notes = malloc(len);
    for (size_t i = 0, o = 0; notes != NULL && i < f->nnotes; i++)
        o += (size_t)sprintf(notes + o, "%s\n", f->notes[i]);
    if (notes != NULL && f->nnotes == 0)
        notes[0] = '\0';
    int rc = write_text_file(f, "notes.txt", notes, err);
    free(notes);
    if (rc == 0 && f->lookalike) {
        char *listing = lk_listing(&f->set);
        rc = write_text_file(f, "lookalike.txt", listing, err);
        free(listing);
    }
    return rc;
}

void field_free(struct field *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->nu; i++) {
        free(f->u[i].path);
        lk_certs_free(&f->u[i].certs);
        EVP_PKEY_free(f->u[i].key);
    }
    free(f->u);
    for (size_t i = 0; i < f->no; i++)
        if (f->o[i].own)
            free(f->o[i].certs);
    free(f->o);
    lk_set_free(&f->set);
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    for (size_t i = 0; i < f->nnotes; i++)
        free(f->notes[i]);
    free(f->notes);
    free(f);
}
