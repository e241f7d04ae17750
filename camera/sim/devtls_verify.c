/* The parts of certificate verification where 2.28 differs from the device
 * (docs/device-model.md):
 * - validity is checked against the device RTC, not the host clock (§3 Time), for
 *   every certificate including the anchor;
 * - the hostname rules of 3.6 (§1.5): SAN DNS names case-insensitively with only a
 *   whole leftmost "*." label, IP hostnames against IP SANs (2.28 has no IP SAN
 *   matching), URI SANs exactly, the CN only when there is no SAN.
 * Both run in the verify callback, which may set and clear flags per depth. */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <mbedtls/oid.h>

#include "devtls_int.h"

#define SAN_DNS (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2)
#define SAN_URI (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 6)
#define SAN_IP (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7)

static int64_t x509_epoch(const mbedtls_x509_time *t)
{
    struct tm tm = { 0 };
    tm.tm_year = t->year - 1900;
    tm.tm_mon = t->mon - 1;
    tm.tm_mday = t->day;
    tm.tm_hour = t->hour;
    tm.tm_min = t->min;
    tm.tm_sec = t->sec;
    return (int64_t)timegm(&tm);
}

/* 3.6 x509_crt_check_cn: exact (case-insensitive) or "*.rest" where the hostname's
 * first label is replaced; a hostname without a dot never matches a wildcard. */
static int name_matches(const unsigned char *name, size_t nlen, const char *host)
{
    size_t hlen = strlen(host);
    if (nlen == hlen && strncasecmp((const char *)name, host, hlen) == 0)
        return 1;
    if (nlen < 3 || name[0] != '*' || name[1] != '.')
        return 0;
    const char *dot = strchr(host, '.');
    if (dot == NULL || dot == host)
        return 0;
    size_t rest = hlen - (size_t)(dot - host);
    return nlen - 1 == rest && strncasecmp((const char *)name + 1, dot, rest) == 0;
}

static int ip_matches(const mbedtls_x509_buf *san, const char *host)
{
    unsigned char ip[16];
    if (inet_pton(AF_INET, host, ip) == 1)
        return san->len == 4 && memcmp(san->p, ip, 4) == 0;
    if (inet_pton(AF_INET6, host, ip) == 1)
        return san->len == 16 && memcmp(san->p, ip, 16) == 0;
    return 0;
}

int devtls_hostname_matches(const mbedtls_x509_crt *crt, const char *host)
{
    if (crt->ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME) {
        for (const mbedtls_x509_sequence *s = &crt->subject_alt_names; s; s = s->next) {
            if (s->buf.p == NULL)
                continue;
            if (s->buf.tag == SAN_DNS && name_matches(s->buf.p, s->buf.len, host))
                return 1;
            if (s->buf.tag == SAN_IP && ip_matches(&s->buf, host))
                return 1;
            if (s->buf.tag == SAN_URI && s->buf.len == strlen(host) &&
                memcmp(s->buf.p, host, s->buf.len) == 0)
                return 1;
        }
        return 0;
    }
    for (const mbedtls_x509_name *n = &crt->subject; n; n = n->next)
        if (n->oid.p && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0 &&
            name_matches(n->val.p, n->val.len, host))
            return 1;
    return 0;
}

int devtls_verify_cb(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    const struct devtls_ctx *c = ctx;
    int64_t now = c->env->rtc_now ? c->env->rtc_now(c->env->rtc_ctx) : 0;
    *flags &= ~(uint32_t)(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE);
    if (now > x509_epoch(&crt->valid_to))
        *flags |= MBEDTLS_X509_BADCERT_EXPIRED;
    if (now < x509_epoch(&crt->valid_from))
        *flags |= MBEDTLS_X509_BADCERT_FUTURE;
    if (depth == 0 && c->hostname != NULL) {
        *flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH;
        if (!devtls_hostname_matches(crt, c->hostname))
            *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
    }
    return 0;
}
