/* The SNI of a TLS ClientHello read from the raw stream (RFC 5246 §7.4.1.2, RFC 6066
 * §3), so a server can act on it before any backend sees the hello. */
#include <string.h>

#include "peer.h"

static unsigned get16(const unsigned char *p) { return (unsigned)p[0] << 8 | p[1]; }

/* Skip a vector with a len_bytes length prefix; NULL when it runs past end. */
static const unsigned char *skip_vec(const unsigned char *p, const unsigned char *end,
                                     int len_bytes)
{
    if (p == NULL || end - p < len_bytes)
        return NULL;
    size_t n = len_bytes == 1 ? p[0] : get16(p);
    p += len_bytes;
    return (size_t)(end - p) < n ? NULL : p + n;
}

/* The host_name entry of a server_name extension body. */
static int sni_in_ext(const unsigned char *p, const unsigned char *end, char *name, size_t cap)
{
    if (end - p < 5 || p[2] != 0)
        return 0;
    size_t n = get16(p + 3);
    if ((size_t)(end - p - 5) < n || n == 0 || n >= cap)
        return 0;
    memcpy(name, p + 5, n);
    name[n] = '\0';
    return memchr(name, '\0', n) == NULL;   /* an embedded NUL is no name */
}

int peer_sni_from_hello(const unsigned char *d, size_t n, char *name, size_t cap)
{
    if (n < 5)
        return PEER_SNI_MORE;
    size_t rlen = get16(d + 3);
    if (d[0] != 22 || d[1] != 3 || rlen < 4 || rlen > 16384)
        return PEER_SNI_NOT_HELLO;
    if (n < 5 + rlen)
        return PEER_SNI_MORE;
    const unsigned char *p = d + 5, *end = d + 5 + rlen;
    if (p[0] != 1)
        return PEER_SNI_NOT_HELLO;
    size_t hlen = (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
    p += 4;
    if ((size_t)(end - p) > hlen)
        end = p + hlen;   /* a hello longer than its record is read as far as it goes */
    p = end - p < 34 ? NULL : p + 34;   /* version, random */
    p = skip_vec(p, end, 1);            /* session id */
    p = skip_vec(p, end, 2);            /* cipher suites */
    p = skip_vec(p, end, 1);            /* compression methods */
    if (p == NULL || end - p < 2)
        return PEER_SNI_NONE;
    const unsigned char *ext_end = skip_vec(p, end, 2);
    if (ext_end == NULL)
        return PEER_SNI_NONE;
    for (p += 2; ext_end - p >= 4;) {   /* bounded: each round moves past one extension */
        unsigned type = get16(p);
        const unsigned char *next = skip_vec(p + 2, ext_end, 2);
        if (next == NULL)
            break;
        if (type == 0)
            return sni_in_ext(p + 4, next, name, cap) ? PEER_SNI_FOUND : PEER_SNI_NONE;
        p = next;
    }
    return PEER_SNI_NONE;
}

enum peer_sni_act peer_sni_action(const struct peer_opts *o, const char *sni, int *alert,
                                  enum peer_chain_id *chain)
{
    *alert = 0;
    *chain = PEER_CHAIN_OWN;
    if (sni == NULL) {
        *alert = o->on_sni_missing_alert;
        *chain = PEER_CHAIN_SNI_MISSING;
        return o->on_sni_missing;
    }
    if (o->on_sni_name != NULL && strlen(sni) == o->on_sni_name_len
        && strncmp(sni, o->on_sni_name, o->on_sni_name_len) == 0) {
        *alert = o->on_sni_alert;
        *chain = PEER_CHAIN_SNI_NAME;
        return o->on_sni_act;
    }
    return PEER_SNI_GO;
}
