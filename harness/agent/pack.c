/* The compressed agent loader: the agent's header line, then a two-line program
 * that inflates the zlib-compressed agent with the firmware's `deflate` module
 * and runs it. At 115200 baud (~11.5 KB/s) the upload time is the byte count, and
 * the loader is about half the plain file (issue 4: "well under a second"). */
#include "agent_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "tm_agentfile.h"
#include "tm_fs.h"

/* 2^12 = 4 KB: the window the device allocates to inflate (DeflateIO reads it
 * from the zlib header when wbits is 0). 15 would save ~2 % more bytes at the
 * cost of a 32 KB buffer on the camera's heap. */
#define PACK_WBITS 12

static const char LOADER_HEAD[] = "import deflate,io,binascii\n"
                                  "exec(deflate.DeflateIO(io.BytesIO(binascii.a2b_base64(b'";
static const char LOADER_TAIL[] = "')),deflate.ZLIB).read())\n";

/* zlib format, level 9, PACK_WBITS window; *out is caller-freed. */
static int deflate_all(const unsigned char *in, size_t len, unsigned char **out,
                       size_t *outlen, struct tm_err *err)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 9, Z_DEFLATED, PACK_WBITS, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return tm_err_set(err, "zlib: deflateInit2 failed");
    uLong cap = deflateBound(&z, (uLong)len);
    unsigned char *buf = malloc(cap);
    if (buf == NULL) {
        deflateEnd(&z);
        return tm_err_set(err, "out of memory");
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    int r = deflate(&z, Z_FINISH);   /* one call: deflateBound guarantees the room */
    size_t n = (size_t)z.total_out;
    deflateEnd(&z);
    if (r != Z_STREAM_END) {
        free(buf);
        return tm_err_set(err, "zlib: deflate returned %d", r);
    }
    *out = buf;
    *outlen = n;
    return 0;
}

int agent_pack_b64(const unsigned char *code, size_t len, char **b64, struct tm_err *err)
{
    if (len > 0x7fffffffu)
        return tm_err_set(err, "agent script too large to pack (%zu bytes)", len);
    unsigned char *z = NULL;
    size_t zlen = 0;
    if (deflate_all(code, len, &z, &zlen, err) != 0)
        return -1;
    *b64 = tm_b64_encode(z, zlen);
    free(z);
    return *b64 != NULL ? 0 : tm_err_set(err, "out of memory");
}

int agent_pack_loader(const unsigned char *code, size_t len, unsigned char **out,
                      size_t *outlen, struct tm_err *err)
{
    const unsigned char *nl = memchr(code, '\n', len);
    if (nl == NULL)
        return tm_err_set(err, "agent script has no header line");
    size_t hlen = (size_t)(nl - code) + 1;   /* the header line, verbatim */
    char *b64 = NULL;
    if (agent_pack_b64(code, len, &b64, err) != 0)
        return -1;
    size_t blen = strlen(b64);
    size_t n = hlen + strlen(LOADER_HEAD) + blen + strlen(LOADER_TAIL);
    unsigned char *p = malloc(n);
    if (p == NULL) {
        free(b64);
        return tm_err_set(err, "out of memory");
    }
    size_t at = 0;
    memcpy(p + at, code, hlen);
    at += hlen;
    memcpy(p + at, LOADER_HEAD, strlen(LOADER_HEAD));
    at += strlen(LOADER_HEAD);
    memcpy(p + at, b64, blen);
    at += blen;
    memcpy(p + at, LOADER_TAIL, strlen(LOADER_TAIL));
    free(b64);
    *out = p;
    *outlen = n;
    return 0;
}

/* The stored agent's writer (common/tm_agentfile.h) with the agent inflated on
 * the device from the same payload as the loader's. */
int agent_pack_writer(const unsigned char *code, size_t len, char **prog, struct tm_err *err)
{
    static const char HEAD[] = "__import__('deflate').DeflateIO(__import__('io').BytesIO("
                               "__import__('binascii').a2b_base64(b'";
    static const char TAIL[] = "')),__import__('deflate').ZLIB).read()";
    char *b64 = NULL;
    if (agent_pack_b64(code, len, &b64, err) != 0)
        return -1;
    size_t n = strlen(HEAD) + strlen(b64) + strlen(TAIL) + 1;
    char *expr = malloc(n);
    *prog = NULL;
    if (expr != NULL) {
        snprintf(expr, n, "%s%s%s", HEAD, b64, TAIL);
        *prog = tm_af_writer_expr(expr);
    }
    free(expr);
    free(b64);
    return *prog != NULL ? 0 : tm_err_set(err, "out of memory");
}
