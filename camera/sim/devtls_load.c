/* load_verify_locations / load_cert_chain as the device does them (docs/device-model.md
 * §1.1–§1.3): MicroPython's asn1_get_data + mbedtls_x509_crt_parse /
 * mbedtls_pk_parse_key; what parses (DER only or PEM too, which curves and
 * algorithms, trailing bytes) is the linked library's answer. Calls accumulate, the
 * key is parsed before the certificate, the `ssl` wrapper takes file paths on the
 * flash file system. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devtls_int.h"
#include "tm_fs.h"


/* One argument of a load call: bytes, str or None (contracts §3 items). */
struct arg {
    int is_none, is_str;
    unsigned char *data;      /* NUL-terminated copy (not counted in len) */
    size_t len;
};

static void arg_free(struct arg *a)
{
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* Open a device path: relative to /flash (the agent's cwd) or /flash/...; anything
 * else does not exist on the virtual camera. */
static int flash_read(const struct devtls_env *env, const char *path, struct arg *a,
                      struct devtls_exc *exc)
{
    const char *rel = path;
    if (strncmp(path, "/flash/", 7) == 0)
        rel = path + 7;
    else if (path[0] == '/')
        rel = NULL;
    if (rel == NULL || strstr(rel, "..") != NULL || rel[0] == '\0' || env->flash_dir == NULL) {
        devtls_exc_errno(exc, 2);
        return -1;
    }
    char full[4096];
    snprintf(full, sizeof full, "%s/%s", env->flash_dir, rel);
    struct tm_err err;
    if (tm_read_file(full, &a->data, &a->len, &err) != 0) {
        devtls_exc_errno(exc, 2);   /* open(): OSError(2) ENOENT (§1.2) */
        return -1;
    }
    return 0;
}

static int copy_bytes(struct arg *a, const void *p, size_t len)
{
    a->data = malloc(len + 1);
    if (a->data == NULL)
        return -1;
    memcpy(a->data, p, len);
    a->data[len] = '\0';
    a->len = len;
    return 0;
}

/* Resolve an item to the value passed to the native method. For the ssl wrapper
 * a str (file or str item) is a path that is read first (§1.1). */
static int item_arg(const struct devtls_ctx *c, const json_t *item, struct arg *a,
                    struct devtls_exc *exc)
{
    memset(a, 0, sizeof *a);
    const json_t *f = json_object_get(item, "file");
    const json_t *b = json_object_get(item, "b64");
    const json_t *s = json_object_get(item, "str");
    if (item == NULL || json_is_null(item)) {
        a->is_none = 1;
        return 0;
    }
    if (json_is_string(b)) {
        unsigned char *raw = NULL;
        long n = tm_b64_decode(json_string_value(b), &raw);
        if (n < 0) {
            devtls_exc_set(exc, "bad-request", "invalid base64 in item");
            return -1;
        }
        int r = copy_bytes(a, raw, (size_t)n);
        free(raw);
        return r;
    }
    const json_t *path = json_is_string(f) ? f : NULL;
    if (c->ssl_layer && path == NULL && json_is_string(s))
        path = s;
    if (path != NULL)     /* tls + file: the agent reads the file and passes bytes */
        return flash_read(c->env, json_string_value(path), a, exc);
    if (json_is_string(s)) {
        a->is_str = 1;
        return copy_bytes(a, json_string_value(s), strlen(json_string_value(s)));
    }
    devtls_exc_set(exc, "bad-request", "item needs one of file, b64, str");
    return -1;
}

/* MicroPython's asn1_get_data: the length handed to mbedTLS. PEM needs its NUL
 * counted; DER must not have it (3.5+ refuses trailing bytes in a key). */
static size_t asn1_len(const struct arg *a)
{
#if defined(MBEDTLS_PEM_PARSE_C)
    if (strstr((const char *)a->data, "-----BEGIN ") != NULL)
        return a->len + 1;
#endif
    return a->len;
}

static int count_certs(const mbedtls_x509_crt *crt, size_t *bytes)
{
    int n = 0;
    for (; crt != NULL && crt->raw.len > 0; crt = crt->next, n++)
        if (bytes)
            *bytes += 3 + crt->raw.len;
    return n;
}

/* mbedtls_x509_crt_parse into *dst (appending), as the device: a DER certificate
 * that fails leaves nothing; of a PEM bundle the good blocks before a bad one stay. */
static int parse_certs(struct devtls_ctx *c, const struct arg *a, mbedtls_x509_crt *dst,
                       int *added, struct devtls_exc *exc)
{
    int before = count_certs(dst, NULL);
    int ret = mbedtls_x509_crt_parse(dst, a->data, asn1_len(a));
    int n = count_certs(dst, NULL) - before;
    if (ret != 0) {   /* out of heap too: X509_ALLOC_FAILED is a certificate error */
        devtls_exc_value(exc, "invalid cert");   /* every certificate error (§1.2) */
        return -1;
    }
    *added = n;
    return 0;
}

static int none_type_error(struct devtls_exc *exc)
{
    devtls_exc_type(exc, "can't convert 'NoneType' object to str implicitly");
    return -1;
}

int devtls_load_ca(struct devtls_ctx *c, const json_t *item, struct devtls_exc *exc)
{
    struct arg a;
    if (item_arg(c, item, &a, exc) != 0)
        return -1;
    int rc = -1;
    int added = 0;
    if (a.is_none) {        /* tls(None), or ssl with cafile=cadata=None (§1.2) */
        none_type_error(exc);
        goto out;
    }
    if (parse_certs(c, &a, &c->ca, &added, exc) != 0)
        goto out;
    c->n_ca += added;
    mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
    rc = 0;
out:
    arg_free(&a);
    return rc;
}

/* A second load_cert_chain re-parses the key (§1.3 obs): the old one goes first. */
static int parse_key(struct devtls_ctx *c, const struct arg *a, struct devtls_exc *exc)
{
    mbedtls_pk_free(&c->key);
    mbedtls_pk_init(&c->key);
    c->has_key = mbedtls_pk_parse_key(&c->key, a->data, asn1_len(a), NULL, 0,
                                      mbedtls_ctr_drbg_random, &c->drbg) == 0;
    if (!c->has_key) {
        devtls_exc_value(exc, "invalid key");   /* §1.3: every key error */
        return -1;
    }
    return 0;
}

int devtls_load_chain(struct devtls_ctx *c, const json_t *item, struct devtls_exc *exc)
{
    if (!json_is_object(item)) {
        devtls_exc_set(exc, "bad-request", "chain item must be an object {cert, key}");
        return -1;
    }
    struct arg cert, key;
    memset(&cert, 0, sizeof cert);
    memset(&key, 0, sizeof key);
    int rc = -1, added = 0;
    /* the ssl wrapper reads both files before calling the native method */
    if (item_arg(c, json_object_get(item, "cert"), &cert, exc) != 0 ||
        item_arg(c, json_object_get(item, "key"), &key, exc) != 0)
        goto out;
    if (key.is_none) {           /* §1.3: key first */
        none_type_error(exc);
        goto out;
    }
    if (parse_key(c, &key, exc) != 0)
        goto out;
    if (cert.is_none) {
        none_type_error(exc);
        goto out;
    }
    if (parse_certs(c, &cert, &c->own, &added, exc) != 0)
        goto out;
    /* Key/certificate mismatch is not checked at load time (§1.3): no
     * mbedtls_pk_check_pair here. One conf entry: the objects are updated in place. */
    if (c->n_own == 0)
        mbedtls_ssl_conf_own_cert(&c->conf, &c->own, &c->key);
    c->n_own += added;
    rc = 0;
out:
    arg_free(&cert);
    arg_free(&key);
    return rc;
}
