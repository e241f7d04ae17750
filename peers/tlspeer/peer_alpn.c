/* ALPN protocol lists: "h2,http/1.1" → the length-prefixed wire format. */
#include <string.h>

#include "peer.h"
#include "peer_openssl.h"

int peer_alpn_wire(const char *list, unsigned char *out, size_t cap, size_t *len)
{
    size_t n = 0;
    const char *p = list;
    while (*p != '\0') {   /* bounded by the string */
        size_t l = strcspn(p, ",");
        if (l == 0 || l > 255 || n + 1 + l > cap)
            return -1;
        out[n++] = (unsigned char)l;
        memcpy(out + n, p, l);
        n += l;
        p += l;
        if (*p == ',')
            p++;
    }
    *len = n;
    return n > 0 ? 0 : -1;
}
