/* DTLS record inspection: just enough of RFC 6347 §4.1/§4.2 to name a datagram. */
#include <stdio.h>
#include <string.h>

#include "udpproxy.h"

static const char *const hs_names[] = {
    [0] = "hello_request",        [1] = "client_hello",
    [2] = "server_hello",         [3] = "hello_verify_request",
    [4] = "new_session_ticket",   [11] = "certificate",
    [12] = "server_key_exchange", [13] = "certificate_request",
    [14] = "server_hello_done",   [15] = "certificate_verify",
    [16] = "client_key_exchange", [20] = "finished",
};
#define HS_NAMES_LEN (sizeof hs_names / sizeof hs_names[0])

int dtls_hs_type_from_name(const char *name)
{
    for (size_t i = 0; i < HS_NAMES_LEN; i++)
        if (hs_names[i] != NULL && strcmp(hs_names[i], name) == 0)
            return (int)i;
    return -1;
}

static const char *content_name(unsigned ct)
{
    switch (ct) {
    case 20: return "change_cipher_spec";
    case 21: return "alert";
    case 22: return "handshake";
    case 23: return "application_data";
    default: return "unknown";
    }
}

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
            append(out->text, sizeof out->text, content_name(ct));
            first = 0;
        }
        if (ct == 22 && off + 13 < n) {
            /* epoch > 0 handshake records are encrypted (Finished). */
            const char *hs = "encrypted";
            if (epoch == 0) {
                unsigned t = d[off + 13];
                hs = (t < HS_NAMES_LEN && hs_names[t]) ? hs_names[t] : "unknown";
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
