/* The compressed agent loader: the agent's header line, then a two-line program
 * that inflates the zlib-compressed agent with the firmware's `deflate` module
 * and runs it. At 115200 baud (~11.5 KB/s) the upload time is the byte count, and
 * the loader is about half the plain file (issue 4: "well under a second"). */
#include "agent_internal.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

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

int agent_pack_loader(const unsigned char *code, size_t len, unsigned char **out,
                      size_t *outlen, struct tm_err *err)
{
    const unsigned char *nl = memchr(code, '\n', len);
    if (nl == NULL)
        return tm_err_set(err, "agent script has no header line");
    if (len > 0x7fffffffu)
        return tm_err_set(err, "agent script too large to pack (%zu bytes)", len);
    size_t hlen = (size_t)(nl - code) + 1;   /* the header line, verbatim */
    unsigned char *z = NULL;
    size_t zlen = 0;
    if (deflate_all(code, len, &z, &zlen, err) != 0)
        return -1;
    char *b64 = tm_b64_encode(z, zlen);
    free(z);
    if (b64 == NULL)
        return tm_err_set(err, "out of memory");
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
