/* Filling the result: first error wins, first alert other than close_notify wins
 * (the first one is the cause; later ones are consequences), certificates are
 * described the same way for both backends. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/x509.h>

#include "peer.h"
#include "tm_fs.h"

void peer_result_error(struct peer_result *r, long long code, const char *fmt, ...)
{
    if (r->has_error)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error_text, sizeof r->error_text, fmt, ap);
    va_end(ap);
    r->error_code = code;
    r->has_error = 1;
}

void peer_result_alert(int *slot, int desc)
{
    if (*slot == PEER_NONE && desc != 0)
        *slot = desc;
}

void peer_result_cert(struct peer_result *r, const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    r->has_peer_cert = 1;
    tm_sha256_hex(der, len, r->peer_sha256);
    r->peer_subject[0] = '\0';
    if (x == NULL)
        return;
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio != NULL && X509_NAME_print_ex(bio, X509_get_subject_name(x), 0,
                                          XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        int n = BIO_read(bio, r->peer_subject, (int)sizeof r->peer_subject - 1);
        r->peer_subject[n > 0 ? n : 0] = '\0';
    }
    BIO_free(bio);
    X509_free(x);
}
