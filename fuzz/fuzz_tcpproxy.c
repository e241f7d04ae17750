/* tcpproxy's option parser and TLS stream parser. The first byte picks the part:
 * even, the rest is an argument list (NUL-separated) for tp_parse_args; odd, the
 * second byte is a piece size and the rest one direction of a connection, fed to
 * tp_stream_feed once whole and once in pieces. The parser promises the same events
 * however TCP cuts the stream, so any difference aborts. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tcpproxy.h"

#define MAX_ARGS 64
#define MAX_EVENTS 4096

struct trace {
    size_t n;
    struct tp_event ev[MAX_EVENTS];
    char desc[MAX_EVENTS][8];   /* a prefix is enough to tell descriptions apart */
};

static void record(void *ctx, const struct tp_event *ev)
{
    struct trace *t = ctx;
    if (t->n > 0 && ev->off < t->ev[t->n - 1].off)
        abort();                         /* events go in stream order */
    if (t->n == MAX_EVENTS)
        return;
    t->ev[t->n] = *ev;
    t->ev[t->n].desc = NULL;
    memset(t->desc[t->n], 0, sizeof t->desc[t->n]);
    if (ev->desc != NULL)
        strncpy(t->desc[t->n], ev->desc, sizeof t->desc[t->n] - 1);
    t->n++;
}

static void feed(const uint8_t *d, size_t n, size_t piece, struct trace *t)
{
    struct tp_stream s;
    tp_stream_init(&s);
    t->n = 0;
    for (size_t at = 0; at < n; at += piece)
        tp_stream_feed(&s, d + at, n - at < piece ? n - at : piece, record, t);
    if (s.off != n || s.complete > s.off)
        abort();
}

static int same(const struct trace *a, const struct trace *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++) {
        const struct tp_event *x = &a->ev[i], *y = &b->ev[i];
        if (x->kind != y->kind || x->off != y->off || x->rec_start != y->rec_start ||
            x->content_type != y->content_type || x->hs_type != y->hs_type ||
            memcmp(a->desc[i], b->desc[i], sizeof a->desc[i]) != 0)
            return 0;
    }
    return 1;
}

static void parse_stream(const uint8_t *data, size_t size)
{
    static struct trace whole, pieces;   /* ~200 KB each: off the stack */
    if (size == 0)
        return;
    size_t piece = (size_t)data[0] % 17 + 1;
    feed(data + 1, size - 1, size, &whole);
    feed(data + 1, size - 1, piece, &pieces);
    if (!same(&whole, &pieces))
        abort();
}

static void parse_args(const uint8_t *data, size_t size)
{
    char *argv[MAX_ARGS + 1], *text;
    int argc = fuzz_argv(data, size, "tcpproxy", argv, MAX_ARGS, &text);
    struct tp_opts o;
    tp_parse_args(argc, argv, &o);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] % 2 == 0)
        parse_args(data + 1, size - 1);
    else
        parse_stream(data + 1, size - 1);
    return 0;
}
