/* Loading the files the flags name, before listening: certificates (PEM with any
 * number of certificates, or one DER), the key (PEM or DER, any format OpenSSL reads,
 * re-encoded as PKCS#8 DER for GnuTLS) and the payload. Doing it here gives both
 * backends the same bytes and the same error messages.
 *
 * Parsed files stay in a cache for the next sessions of a --serve process: in
 * OpenSSL 3 decoding a private key costs ~0.35 ms and a certificate ~0.1 ms, so a
 * session that parsed its chain and key anew spent more on that than on its
 * handshake. An entry is used only while the file's identity (device, inode, size,
 * modification and change times) is unchanged. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "peer.h"
#include "tm_fs.h"

/* Distinct files a serve process keeps parsed; the default catalog's peers name ~80.
 * When full, the oldest entry goes. */
#define PKI_CACHE_FILES 256

enum pki_kind { PKI_CERTS, PKI_KEY };

struct pki_file {
    char *path;                /* NULL: slot free */
    enum pki_kind kind;
    struct stat id;
    STACK_OF(X509) *certs;     /* PKI_CERTS: in file order */
    EVP_PKEY *key;             /* PKI_KEY */
    struct peer_blob p8;       /* PKI_KEY: PKCS#8 DER */
};

struct peer_pki_cache {
    struct pki_file file[PKI_CACHE_FILES];
    int next;                  /* the slot a miss fills: ring order, oldest first */
};

struct peer_pki_cache *peer_pki_cache_new(void)
{
    return calloc(1, sizeof(struct peer_pki_cache));
}

static void file_clear(struct pki_file *f)
{
    free(f->path);
    sk_X509_pop_free(f->certs, X509_free);
    EVP_PKEY_free(f->key);
    OPENSSL_clear_free(f->p8.data, f->p8.len);
    memset(f, 0, sizeof *f);
}

void peer_pki_cache_free(struct peer_pki_cache *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < PKI_CACHE_FILES; i++)
        file_clear(&c->file[i]);
    free(c);
}

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static struct pki_file *cache_find(struct peer_pki_cache *c, const char *path,
                                   enum pki_kind kind, const struct stat *id)
{
    for (int i = 0; i < PKI_CACHE_FILES; i++) {
        struct pki_file *f = &c->file[i];
        if (f->path != NULL && f->kind == kind && strcmp(f->path, path) == 0) {
            if (same_file(&f->id, id))
                return f;
            file_clear(f);   /* the file changed: this parse is stale */
        }
    }
    return NULL;
}

/* Every certificate of the file: PEM blocks, or else one DER certificate. */
static int parse_certs(const unsigned char *data, size_t len, STACK_OF(X509) *out)
{
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    X509 *x = NULL;
    while (bio != NULL && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
        if (!sk_X509_push(out, x)) {
            X509_free(x);
            break;
        }
    BIO_free(bio);
    ERR_clear_error();
    if (sk_X509_num(out) > 0)
        return 0;
    const unsigned char *p = data;
    x = d2i_X509(NULL, &p, (long)len);
    if (x == NULL || p != data + len || !sk_X509_push(out, x)) {
        X509_free(x);
        return -1;
    }
    return 0;
}

/* PEM when the file has a PEM header (trying PEM on DER costs as much as decoding). */
static EVP_PKEY *parse_key(const unsigned char *data, size_t len)
{
    EVP_PKEY *pk = NULL;
    if (memmem(data, len, "-----BEGIN", 10) != NULL) {
        BIO *bio = BIO_new_mem_buf(data, (int)len);
        pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
    } else {
        const unsigned char *p = data;
        pk = d2i_AutoPrivateKey(NULL, &p, (long)len);
    }
    ERR_clear_error();
    return pk;
}

static int encode_pkcs8(EVP_PKEY *pk, struct peer_blob *out)
{
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(pk);
    unsigned char *der = NULL;
    int len = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : -1;
    PKCS8_PRIV_KEY_INFO_free(p8);
    if (len <= 0)
        return -1;
    out->data = der;
    out->len = (size_t)len;
    return 0;
}

static int parse_file(struct pki_file *f, const char *flag, const unsigned char *data,
                      size_t len, struct tm_err *err)
{
    if (f->kind == PKI_CERTS) {
        f->certs = sk_X509_new_null();
        if (f->certs == NULL || parse_certs(data, len, f->certs) < 0)
            return tm_err_set(err, "--%s %s: no PEM or DER certificate in the file", flag,
                              f->path);
        return 0;
    }
    f->key = parse_key(data, len);
    if (f->key == NULL)
        return tm_err_set(err, "--%s %s: no PEM or DER private key in the file", flag,
                          f->path);
    if (encode_pkcs8(f->key, &f->p8) < 0)
        return tm_err_set(err, "--%s %s: cannot re-encode the key as PKCS#8", flag, f->path);
    return 0;
}

/* The parsed file, from the cache or read now; errors name the flag and the file.
 * A file that fails is not kept, so the next session reports it again. */
static const struct pki_file *file_get(struct peer_pki_cache *c, const char *flag,
                                       const char *path, enum pki_kind kind,
                                       struct tm_err *err)
{
    struct stat id;
    if (stat(path, &id) != 0) {
        tm_err_set(err, "--%s: %s: %s", flag, path, strerror(errno));
        return NULL;
    }
    struct pki_file *f = cache_find(c, path, kind, &id);
    if (f != NULL)
        return f;
    unsigned char *data = NULL;
    size_t len = 0;
    if (tm_read_file(path, &data, &len, err) < 0) {
        tm_err_prefix(err, "--%s", flag);
        return NULL;
    }
    f = &c->file[c->next];
    file_clear(f);
    c->next = (c->next + 1) % PKI_CACHE_FILES;
    *f = (struct pki_file){ .path = strdup(path), .kind = kind, .id = id };
    int rc = f->path != NULL ? parse_file(f, flag, data, len, err)
                             : tm_err_set(err, "out of memory");
    free(data);
    if (rc < 0) {
        file_clear(f);
        return NULL;
    }
    return f;
}

static int blob_copy(const unsigned char *data, size_t len, struct peer_blob *b)
{
    b->data = OPENSSL_memdup(data, len);
    b->len = b->data != NULL ? len : 0;
    return b->data != NULL ? 0 : -1;
}

/* Appends the certificates of one file to the list (DER and a reference each). */
static int add_certs(struct peer_pki_cache *c, const char *flag, const char *path,
                     struct peer_blob *der, X509 **x509, int *n, struct tm_err *err)
{
    const struct pki_file *f = file_get(c, flag, path, PKI_CERTS, err);
    if (f == NULL)
        return -1;
    for (int i = 0; i < sk_X509_num(f->certs); i++) {
        X509 *x = sk_X509_value(f->certs, i);
        unsigned char *enc = NULL;
        int len;
        if (*n >= PEER_MAX_CERTS)
            return tm_err_set(err, "--%s %s: too many certificates", flag, path);
        if ((len = i2d_X509(x, &enc)) <= 0 || !X509_up_ref(x)) {
            OPENSSL_free(enc);
            return tm_err_set(err, "--%s %s: cannot encode certificate %d", flag, path, i + 1);
        }
        der[*n] = (struct peer_blob){ enc, (size_t)len };
        x509[(*n)++] = x;
    }
    return 0;
}

static int add_key(struct peer_pki_cache *c, const char *flag, const char *path,
                   struct peer_chain *ch, struct tm_err *err)
{
    const struct pki_file *f = file_get(c, flag, path, PKI_KEY, err);
    if (f == NULL)
        return -1;
    if (blob_copy(f->p8.data, f->p8.len, &ch->key) < 0 || !EVP_PKEY_up_ref(f->key))
        return tm_err_set(err, "--%s %s: out of memory", flag, path);
    ch->key_pkey = f->key;
    return 0;
}

/* A serve=CHAINFILE[,KEY] chain; the key defaults to --key. */
static int load_serve_chain(const struct peer_opts *o, struct peer_pki_cache *cache,
                            enum peer_chain_id id, struct peer_chain *ch, struct tm_err *err)
{
    const char *flag = id == PEER_CHAIN_SNI_NAME ? "on-sni" : "on-sni-missing";
    const char *key = o->serve_key[id][0] != '\0' ? o->serve_key[id] : o->key;
    if (add_certs(cache, flag, o->serve_chain[id], ch->cert, ch->cert_x509, &ch->ncert, err) < 0
        || add_key(cache, flag, key, ch, err) < 0)
        return -1;
    return 0;
}

/* The payload is held in OPENSSL_malloc'd memory, like the other blobs. */
static int load_payload(const struct peer_opts *o, struct peer_blob *b, struct tm_err *err)
{
    const char *src = NULL;
    size_t len = 0;
    unsigned char *file = NULL;
    if (o->send_file != NULL) {
        if (tm_read_file(o->send_file, &file, &len, err) < 0)
            return tm_err_prefix(err, "--send-file");
        src = (const char *)file;
    } else if (o->send_text != NULL) {
        src = o->send_text;
        len = strlen(src);
    } else {
        len = (size_t)o->send_size;
    }
    b->data = OPENSSL_malloc(len + 1);
    if (b->data == NULL) {
        free(file);
        return tm_err_set(err, "--send: out of memory for %zu bytes", len);
    }
    for (size_t i = 0; i < len; i++)
        b->data[i] = src ? (unsigned char)src[i] : (unsigned char)('a' + i % 26);
    b->len = len;
    free(file);
    return 0;
}

int peer_pki_load(const struct peer_opts *o, struct peer_pki_cache *cache,
                  struct peer_pki *pki, struct tm_err *err)
{
    memset(pki, 0, sizeof *pki);
    struct peer_chain *own = &pki->chain[PEER_CHAIN_OWN];
    for (int i = 0; i < o->ncert; i++)
        if (add_certs(cache, "cert", o->cert[i], own->cert, own->cert_x509, &own->ncert,
                      err) < 0)
            return -1;
    for (int i = 0; i < o->ncafile; i++)
        if (add_certs(cache, "CAfile", o->cafile[i], pki->ca, pki->ca_x509, &pki->nca,
                      err) < 0)
            return -1;
    if (o->key != NULL && add_key(cache, "key", o->key, own, err) < 0)
        return -1;
    for (int id = PEER_CHAIN_SNI_MISSING; id < PEER_NCHAIN; id++)
        if (o->serve_chain[id][0] != '\0'
            && load_serve_chain(o, cache, (enum peer_chain_id)id, &pki->chain[id], err) < 0)
            return -1;
    return load_payload(o, &pki->payload, err);
}

static void chain_free(struct peer_chain *ch)
{
    for (int i = 0; i < ch->ncert; i++) {
        OPENSSL_free(ch->cert[i].data);
        X509_free(ch->cert_x509[i]);
    }
    OPENSSL_clear_free(ch->key.data, ch->key.len);
    EVP_PKEY_free(ch->key_pkey);
}

void peer_pki_free(struct peer_pki *pki)
{
    for (int id = 0; id < PEER_NCHAIN; id++)
        chain_free(&pki->chain[id]);
    for (int i = 0; i < pki->nca; i++) {
        OPENSSL_free(pki->ca[i].data);
        X509_free(pki->ca_x509[i]);
    }
    OPENSSL_free(pki->payload.data);
    memset(pki, 0, sizeof *pki);
}
