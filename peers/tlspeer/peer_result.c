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

/* n, or less so that s[0..n) does not end inside a UTF-8 sequence: a long
 * subject is cut to fit, and JSON refuses a split character. */
static int utf8_whole(const char *s, int n)
{
    int i = n;   /* i - 1: the lead byte of the last sequence */
    while (i > 0 && n - i < 3 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    if (i == 0)
        return n;
    unsigned char lead = (unsigned char)s[i - 1];
    int need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return n - (i - 1) < need ? i - 1 : n;
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
        n = utf8_whole(r->peer_subject, n > 0 ? n : 0);
        r->peer_subject[n] = '\0';
    }
    BIO_free(bio);
    X509_free(x);
}
