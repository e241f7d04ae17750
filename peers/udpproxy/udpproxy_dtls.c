/* DTLS record inspection: just enough of RFC 6347 §4.1/§4.2 to name a datagram. */
#include <stdio.h>
#include <string.h>

#include "tm_net.h"
#include "udpproxy.h"

static void append(char *buf, size_t len, const char *s)
{
    size_t used = strlen(buf);
    if (used + 1 < len)
        snprintf(buf + used, len - used, "%s", s);
}

void dtls_describe(const unsigned char *d, size_t n, struct dtls_desc *out)
{
    memset(out, 0, sizeof *out);
    size_t off = 0;
    int first = 1;
    while (off + 13 <= n) {
        unsigned ct = d[off];
        unsigned epoch = (unsigned)(d[off + 3] << 8 | d[off + 4]);
        size_t rlen = (size_t)(d[off + 11] << 8 | d[off + 12]);
        if (first) {
            append(out->text, sizeof out->text, tm_tls_content_name(ct));
            first = 0;
        }
        if (ct == 22 && off + 13 < n) {
            /* epoch > 0 handshake records are encrypted (Finished). */
            const char *hs = "encrypted";
            if (epoch == 0) {
                unsigned t = d[off + 13];
                hs = tm_tls_hs_type_name((int)t);
                if (t < 32)
                    out->hs_types |= 1u << t;
                if (t == 3)
                    out->is_hvr = 1;
            }
            append(out->text, sizeof out->text, strchr(out->text, '/') ? "+" : "/");
            append(out->text, sizeof out->text, hs);
        }
        off += 13 + rlen;
    }
    if (first)
        snprintf(out->text, sizeof out->text, "not-dtls");
}
