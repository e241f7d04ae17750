/* tlspeer --serve: one control line through the line reader and the session's
 * option parser (what a session does before it touches the network). */
#include <jansson.h>
#include <stdlib.h>

#include "fuzz.h"
#include "peer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *line = fuzz_text(data, size);
    json_t *cmd = NULL;
    const char *stderr_path = NULL;
    int argc = 0;
    struct tm_err err = { 0 };
    char **argv = peer_serve_command(line, &cmd, &argc, &stderr_path, &err);
    if (argv != NULL) {
        struct peer_opts o;
        peer_opts_parse(&o, argc, argv);
        free(argv);
    }
    json_decref(cmd);
    free(line);
    return 0;
}
