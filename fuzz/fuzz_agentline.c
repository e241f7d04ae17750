/* The agent client's reading of device output (harness/agent/client.c): line
 * framing, noise and garbage limits, the raw REPL's end-of-program marks, id
 * matching, the transcript. The input is what the device sent; it arrives on a
 * pipe standing in for the link (the same fd reads a socket link does), and
 * agent_next is asked for replies to request 1, then for any event, until the
 * stream ends. Every message handed out must be a JSON object. */
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent_internal.h"
#include "fuzz.h"
#include "link/link_internal.h"

#define MAX_INPUT (512u << 10)   /* what one pipe buffer is made to hold */

static struct link *pipe_link(const uint8_t *data, size_t size)
{
    int p[2];
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0)
        abort();
    (void)fcntl(p[1], F_SETPIPE_SZ, (int)MAX_INPUT);
    if (size > 0 && write(p[1], data, size) != (ssize_t)size)
        abort();
    close(p[1]);                         /* the device stops talking: end of stream */
    struct link *l = calloc(1, sizeof *l);
    if (l == NULL)
        abort();
    l->kind = LINK_TCP;
    l->fd = p[0];
    l->err_fd = -1;
    snprintf(l->spec, sizeof l->spec, "tcp:fuzz:1");
    return l;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)                    /* a pipe holds at least this much */
        size = 65536;
    struct agent a = { .next_id = 2 };
    a.link = pipe_link(data, size);
    json_t *transcript = json_array();
    a.transcript = transcript;
    a.puts = json_object();
    for (int call = 0; call < 10000; call++) {
        json_t *msg = NULL;
        struct tm_err err = { 0 };
        int r = agent_next(&a, call % 2 ? -1 : 1, tm_deadline_in(1000), &msg, &err);
        if (r > 0 && !json_is_object(msg))
            abort();
        json_decref(msg);
        if (r <= 0)
            break;                       /* lost, or nothing more before the deadline */
    }
    link_close(a.link);
    free(a.rx);
    json_decref(a.puts);
    json_decref(a.hello);
    json_decref(transcript);
    return 0;
}
