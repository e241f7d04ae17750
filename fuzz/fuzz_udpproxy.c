/* udpproxy's option parser and datagram parser. The first byte picks the part:
 * even, the rest is an argument list (NUL-separated) for proxy_parse_args; odd,
 * the rest is one datagram for dtls_describe. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "udpproxy.h"

#define MAX_ARGS 64

static void parse_args(const uint8_t *data, size_t size)
{
    char *argv[MAX_ARGS + 1], *text;
    int argc = fuzz_argv(data, size, "udpproxy", argv, MAX_ARGS, &text);
    struct proxy_opts o;
    proxy_parse_args(argc, argv, &o);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] % 2 == 0) {
        parse_args(data + 1, size - 1);
    } else {
        struct dtls_desc d;
        dtls_describe(data + 1, size - 1, &d);
        if (memchr(d.text, '\0', sizeof d.text) == NULL)
            abort();
    }
    return 0;
}
