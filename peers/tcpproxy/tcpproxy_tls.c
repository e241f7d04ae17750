/* TLS record stream parsing: RFC 5246 §6.2 (records) and §7.4 (handshake message
 * headers), incremental, so records split across TCP reads and several records in
 * one read give the same events. */
#include <stdio.h>
#include <string.h>

#include "tcpproxy.h"
#include "tm_net.h"

#define MAX_RECORD (16384 + 2048)   /* TLSCiphertext limit, RFC 5246 §6.2.3 */

const char *tp_hs_type_name(int type)
{
    return type == TP_HS_ENCRYPTED ? "encrypted" : tm_tls_hs_type_name(type);
}

void tp_stream_init(struct tp_stream *s)
{
    memset(s, 0, sizeof *s);
}

static void desc_add(struct tp_stream *s, const char *sep, const char *name)
{
    size_t used = strlen(s->desc);
    if (used + 1 < sizeof s->desc)
        snprintf(s->desc + used, sizeof s->desc - used, "%s%s", sep, name);
}

static void emit(struct tp_stream *s, enum tp_ev_kind kind, uint64_t off, int hs_type,
                 tp_event_fn fn, void *ctx)
{
    struct tp_event ev = { kind, off, s->rec_start, s->hdr[0], hs_type,
                           kind == TP_EV_RECORD_END ? s->desc : NULL };
    if (fn != NULL)
        fn(ctx, &ev);
}

/* A record header is complete: check it, or give up on parsing (not TLS). */
static void record_begin(struct tp_stream *s)
{
    size_t len = (size_t)s->hdr[3] << 8 | s->hdr[4];
    if (s->hdr[0] < 20 || s->hdr[0] > 24 || s->hdr[1] != 3 || len > MAX_RECORD) {
        s->opaque = 1;
        return;
    }
    s->rec_len = len;
    s->rec_have = 0;
    s->alert_have = 0;
    snprintf(s->desc, sizeof s->desc, "%s", tm_tls_content_name(s->hdr[0]));
    if (s->hdr[0] == 22 && s->encrypted)
        desc_add(s, "/", s->finished_seen ? "encrypted" : "finished");
    else if (s->hdr[0] == 22 && s->hs_have > 0)
        desc_add(s, "/", "(rest)");   /* a message begun in an earlier record */
}

/* Plaintext handshake bytes [off, off+n): message headers and boundaries. */
static void handshake_bytes(struct tp_stream *s, const unsigned char *d, size_t n,
                            uint64_t off, tp_event_fn fn, void *ctx)
{
    size_t i = 0;
    while (i < n) {
        if (s->hs_have < 4) {
            if (s->hs_have == 0) {
                s->hs_start = off + i;
                s->hs_mid_sent = 0;
                /* Before the first message of a record is before the record. */
                emit(s, TP_EV_MSG_START, off + i == s->rec_start + 5 ? s->rec_start : off + i,
                     d[i], fn, ctx);
                desc_add(s, strchr(s->desc, '/') ? "+" : "/", tp_hs_type_name(d[i]));
            }
            s->hs_hdr[s->hs_have++] = d[i++];
            if (s->hs_have < 4)
                continue;
            s->hs_len = (size_t)s->hs_hdr[1] << 16 | (size_t)s->hs_hdr[2] << 8 | s->hs_hdr[3];
            s->hs_got = 0;
        }
        size_t m = n - i;
        if (m > s->hs_len - s->hs_got)
            m = s->hs_len - s->hs_got;
        /* The middle counts body bytes: record headers may lie in between. */
        if (!s->hs_mid_sent && s->hs_len / 2 <= s->hs_got + m) {
            s->hs_mid_sent = 1;
            emit(s, TP_EV_MSG_MID, off + i + (s->hs_len / 2 - s->hs_got), s->hs_hdr[0], fn, ctx);
        }
        s->hs_got += m;
        i += m;
        if (s->hs_got == s->hs_len) {
            emit(s, TP_EV_MSG_END, off + i, s->hs_hdr[0], fn, ctx);
            s->hs_have = 0;
        }
    }
}

/* An encrypted handshake record is one message as far as we can tell. */
static void encrypted_bytes(struct tp_stream *s, size_t n, uint64_t off, tp_event_fn fn,
                            void *ctx)
{
    int type = s->finished_seen ? TP_HS_ENCRYPTED : TP_HS_FINISHED;
    uint64_t body = s->rec_start + 5, mid = body + s->rec_len / 2;
    if (off == body)
        emit(s, TP_EV_MSG_START, s->rec_start, type, fn, ctx);
    if (mid >= off && mid < off + n)
        emit(s, TP_EV_MSG_MID, mid, type, fn, ctx);
    if (s->rec_have + n == s->rec_len) {
        emit(s, TP_EV_MSG_END, off + n, type, fn, ctx);
        s->finished_seen = 1;
    }
}

static void alert_bytes(struct tp_stream *s, const unsigned char *d, size_t n)
{
    for (size_t i = 0; i < n && s->alert_have < 2; i++)
        s->alert[s->alert_have++] = d[i];
}

static void record_end(struct tp_stream *s, tp_event_fn fn, void *ctx)
{
    char buf[32];
    if (s->hdr[0] == 21 && s->encrypted)
        desc_add(s, "/", "encrypted");
    else if (s->hdr[0] == 21 && s->alert_have == 2) {
        snprintf(buf, sizeof buf, "%s.%u", s->alert[0] == 2 ? "fatal" : "warning", s->alert[1]);
        desc_add(s, "/", buf);
    }
    s->complete = s->off;
    emit(s, TP_EV_RECORD_END, s->off, 0, fn, ctx);
    if (s->hdr[0] == 20)
        s->encrypted = 1;
    s->hdr_have = 0;
}

void tp_stream_feed(struct tp_stream *s, const unsigned char *d, size_t n, tp_event_fn fn,
                    void *ctx)
{
    while (n > 0 && !s->opaque) {
        if (s->hdr_have < 5) {
            if (s->hdr_have == 0)
                s->rec_start = s->off;
            s->hdr[s->hdr_have++] = *d++;
            s->off++;
            n--;
            if (s->hdr_have == 5) {
                record_begin(s);
                if (!s->opaque && s->rec_len == 0)
                    record_end(s, fn, ctx);
            }
            continue;
        }
        size_t m = s->rec_len - s->rec_have;
        if (m > n)
            m = n;
        if (s->hdr[0] == 22 && s->encrypted)
            encrypted_bytes(s, m, s->off, fn, ctx);
        else if (s->hdr[0] == 22)
            handshake_bytes(s, d, m, s->off, fn, ctx);
        else if (s->hdr[0] == 21)
            alert_bytes(s, d, m);
        s->rec_have += m;
        s->off += m;
        d += m;
        n -= m;
        if (s->rec_have == s->rec_len)
            record_end(s, fn, ctx);
    }
    s->off += n;   /* opaque: only count */
}
