/* docs/device-model.md §3 (Records) on top of mbedTLS 2.28: the device (3.6) reassembles
 * a handshake message that the peer split over several records, up to 16 KB; 2.28
 * fails such a message with FEATURE_UNAVAILABLE. A server with a small send fragment
 * (an embedded server with a 4 KB out buffer, `openssl s_server -max_send_frag`)
 * splits its Certificate message, so without this the virtual camera would fail
 * where the device connects.
 *
 * Between the socket and mbedTLS, while the handshake is in the clear (until the
 * peer's ChangeCipherSpec), handshake records are re-cut: complete messages go to
 * mbedTLS in whole records, a partial one waits for the rest. Everything else, and
 * a message over 16 KB (which must fail as on the device, §2.3), passes as it came. */
#include <stdlib.h>
#include <string.h>

#include "devtls_int.h"

#define REC_HEADER 5
#define MSG_HEADER 4
#define CT_CCS 20
#define CT_HANDSHAKE 22
#define CT_APPDATA 23

static int append(unsigned char **buf, size_t *len, size_t *cap, const unsigned char *p,
                  size_t n)
{
    if (*len + n > *cap) {
        size_t ncap = (*len + n) * 2;
        unsigned char *b = realloc(*buf, ncap);
        if (b == NULL)
            return MBEDTLS_ERR_SSL_ALLOC_FAILED;
        *buf = b;
        *cap = ncap;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    return 0;
}

/* One record of type ct with body p[0..n) for mbedTLS. */
static int emit(struct devtls_reasm *r, unsigned char ct, const unsigned char ver[2],
                const unsigned char *p, size_t n)
{
    unsigned char h[REC_HEADER] = { ct, ver[0], ver[1], (unsigned char)(n >> 8),
                                    (unsigned char)n };
    int rc = append(&r->out, &r->out_len, &r->out_cap, h, sizeof h);
    return rc != 0 ? rc : append(&r->out, &r->out_len, &r->out_cap, p, n);
}

/* The first n held bytes go out as records of at most a record's size (whole
 * messages from release_messages; everything held, whole or not, before a record
 * of another type). */
static int flush_handshake(struct devtls_reasm *r, size_t n)
{
    if (n == 0)   /* also: nothing held yet, hs may be NULL */
        return 0;
    for (size_t off = 0; off < n;) {
        size_t k = n - off < DEVTLS_IN_RECORD ? n - off : DEVTLS_IN_RECORD;
        int rc = emit(r, CT_HANDSHAKE, r->hs_ver, r->hs + off, k);
        if (rc != 0)
            return rc;
        off += k;
    }
    memmove(r->hs, r->hs + n, r->hs_len - n);
    r->hs_len -= n;
    return 0;
}

/* The complete messages at the front of the held bytes go out, packed into records
 * but never split: mbedTLS 2.28 takes several messages in a record, not one message
 * over several. A message over a record goes out as it is (to fail as on the device). */
static int release_messages(struct devtls_reasm *r)
{
    size_t done = 0;
    while (r->hs_len - done >= MSG_HEADER) {
        const unsigned char *m = r->hs + done;
        size_t len = MSG_HEADER + ((size_t)m[1] << 16 | (size_t)m[2] << 8 | m[3]);
        if (len > DEVTLS_IN_RECORD) {
            int rc = flush_handshake(r, done);
            return rc != 0 ? rc : flush_handshake(r, r->hs_len);
        }
        if (r->hs_len - done < len)
            break;
        if (done + len > DEVTLS_IN_RECORD) {   /* the record is full: send what fits */
            int rc = flush_handshake(r, done);
            if (rc != 0)
                return rc;
            done = 0;
            continue;
        }
        done += len;
    }
    return flush_handshake(r, done);
}

/* Complete records from raw into out; 0, or an mbedTLS error. */
static int recut(struct devtls_reasm *r)
{
    size_t off = 0;
    int rc = 0;
    while (rc == 0 && !r->passthrough && r->raw_len - off >= REC_HEADER) {
        const unsigned char *h = r->raw + off;
        size_t n = (size_t)h[3] << 8 | h[4];
        if (h[0] < CT_CCS || h[0] > CT_APPDATA || n > DEVTLS_IN_RECORD + 2048 ||
            (h[0] == CT_HANDSHAKE && (n == 0 || n > DEVTLS_IN_RECORD))) {
            /* not TLS (an HTTP server, garbage), or a handshake record mbedTLS must
             * refuse as the device does: it sees all of it as it came */
            rc = flush_handshake(r, r->hs_len);
            r->passthrough = 1;
            break;
        }
        if (r->raw_len - off < REC_HEADER + n)
            break;
        if (h[0] == CT_HANDSHAKE) {
            memcpy(r->hs_ver, h + 1, 2);
            rc = append(&r->hs, &r->hs_len, &r->hs_cap, h + REC_HEADER, n);
            if (rc == 0)
                rc = release_messages(r);
        } else {
            rc = flush_handshake(r, r->hs_len);
            if (rc == 0)
                rc = emit(r, h[0], h + 1, h + REC_HEADER, n);
            r->passthrough = h[0] == CT_CCS;   /* from here on the records are encrypted */
        }
        off += REC_HEADER + n;
    }
    if (r->passthrough && rc == 0 && off < r->raw_len) {   /* the rest as it came */
        rc = append(&r->out, &r->out_len, &r->out_cap, r->raw + off, r->raw_len - off);
        off = r->raw_len;
    }
    memmove(r->raw, r->raw + off, r->raw_len - off);
    r->raw_len -= off;
    return rc;
}

/* Bytes to read for the record in progress: its header, then its body. Reading no
 * further than mbedTLS itself would leaves what the peer sent later in the kernel,
 * so a close still resets the connection, as on the device. */
static size_t wanted(const struct devtls_reasm *r)
{
    if (r->raw_len < REC_HEADER)
        return REC_HEADER - r->raw_len;
    size_t n = (size_t)r->raw[3] << 8 | r->raw[4];
    return REC_HEADER + n > r->raw_len ? REC_HEADER + n - r->raw_len : 0;
}

int devtls_bio_recv_tls(void *ctx, unsigned char *buf, size_t len)
{
    struct devtls_sock *s = ctx;
    struct devtls_reasm *r = &s->reasm;
    for (;;) {   /* each round hands out bytes, reads some, or returns what recv said */
        if (r->out_off < r->out_len) {
            size_t n = r->out_len - r->out_off < len ? r->out_len - r->out_off : len;
            memcpy(buf, r->out + r->out_off, n);
            r->out_off += n;
            return (int)n;
        }
        r->out_off = r->out_len = 0;
        if (r->passthrough)
            return devtls_bio_recv(ctx, buf, len);
        unsigned char in[DEVTLS_IN_RECORD + 2048 + REC_HEADER];
        size_t want = wanted(r);
        int n = devtls_bio_recv(ctx, in, want < sizeof in ? want : sizeof in);
        if (n <= 0)
            return n;   /* EOF, WANT_READ, timeout: held bytes stay for the next call */
        int rc = append(&r->raw, &r->raw_len, &r->raw_cap, in, (size_t)n);
        if (rc == 0)
            rc = recut(r);
        if (rc != 0)
            return rc;
    }
}

void devtls_reasm_free(struct devtls_reasm *r)
{
    free(r->raw);
    free(r->hs);
    free(r->out);
    memset(r, 0, sizeof *r);
}
