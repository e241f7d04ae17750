/* Loading the files the flags name, once, before listening: certificates (PEM with
 * any number of certificates, or one DER), the key (PEM or DER, any format OpenSSL
 * reads, re-encoded as PKCS#8 DER for both backends) and the payload. Doing it here
 * gives both backends the same bytes and the same error messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "peer.h"
#include "tm_fs.h"

static int blob_from_x509(X509 *x, struct peer_blob *b)
{
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);
    if (len <= 0)
        return -1;
    b->data = der;   /* OPENSSL_malloc'd; freed with OPENSSL_free */
    b->len = (size_t)len;
    return 0;
}

/* Appends the certificates of one file to list; every file must hold at least one. */
static int load_certs(const char *flag, const char *path, struct peer_blob *list, int *n,
                      int max, struct tm_err *err)
{
    unsigned char *data = NULL;
    size_t len = 0;
    int rc = -1, got = 0;
    if (tm_read_file(path, &data, &len, err) < 0)
        return tm_err_prefix(err, "--%s", flag);
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    X509 *x = NULL;
    while (bio != NULL && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (*n >= max || blob_from_x509(x, &list[*n]) < 0) {
            X509_free(x);
            tm_err_set(err, "--%s %s: too many certificates", flag, path);
            goto cleanup;
        }
        (*n)++, got++;
        X509_free(x);
    }
    ERR_clear_error();
    if (got == 0) {   /* not PEM: one DER certificate */
        const unsigned char *p = data;
        x = d2i_X509(NULL, &p, (long)len);
        if (x == NULL || p != data + len || *n >= max || blob_from_x509(x, &list[*n]) < 0) {
            X509_free(x);
            tm_err_set(err, "--%s %s: no PEM or DER certificate in the file", flag, path);
            goto cleanup;
        }
        (*n)++;
        X509_free(x);
    }
    rc = 0;
cleanup:
    BIO_free(bio);
    free(data);
    return rc;
}

static int load_key(const char *path, struct peer_blob *b, struct tm_err *err)
{
    unsigned char *data = NULL;
    size_t len = 0;
    int rc = -1;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    if (tm_read_file(path, &data, &len, err) < 0)
        return tm_err_prefix(err, "--key");
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    EVP_PKEY *pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    if (pk == NULL) {
        const unsigned char *p = data;
        pk = d2i_AutoPrivateKey(NULL, &p, (long)len);
    }
    ERR_clear_error();
    if (pk == NULL) {
        tm_err_set(err, "--key %s: no PEM or DER private key in the file", path);
        goto cleanup;
    }
    p8 = EVP_PKEY2PKCS8(pk);
    unsigned char *der = NULL;
    int dlen = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : -1;
    if (dlen <= 0) {
        tm_err_set(err, "--key %s: cannot re-encode the key as PKCS#8", path);
        goto cleanup;
    }
    b->data = der;
    b->len = (size_t)dlen;
    rc = 0;
cleanup:
    PKCS8_PRIV_KEY_INFO_free(p8);
    EVP_PKEY_free(pk);
    BIO_free(bio);
    free(data);
    return rc;
}

/* The payload is held in malloc'd memory (peer_blob from OPENSSL_malloc elsewhere,
 * so it is allocated with OPENSSL_malloc too and freed the same way). */
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

int peer_pki_load(const struct peer_opts *o, struct peer_pki *pki, struct tm_err *err)
{
    const int max = PEER_MAX_FILES * 8;
    memset(pki, 0, sizeof *pki);
    for (int i = 0; i < o->ncert; i++)
        if (load_certs("cert", o->cert[i], pki->cert, &pki->ncert, max, err) < 0)
            return -1;
    for (int i = 0; i < o->ncafile; i++)
        if (load_certs("CAfile", o->cafile[i], pki->ca, &pki->nca, max, err) < 0)
            return -1;
    if (o->key != NULL && load_key(o->key, &pki->key, err) < 0)
        return -1;
    return load_payload(o, &pki->payload, err);
}

void peer_pki_free(struct peer_pki *pki)
{
    for (int i = 0; i < pki->ncert; i++)
        OPENSSL_free(pki->cert[i].data);
    for (int i = 0; i < pki->nca; i++)
        OPENSSL_free(pki->ca[i].data);
    OPENSSL_clear_free(pki->key.data, pki->key.len);
    OPENSSL_free(pki->payload.data);
    memset(pki, 0, sizeof *pki);
}
