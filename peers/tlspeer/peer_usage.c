/* The usage text is the option reference (docs/contracts.md §2): its flag lines
 * come from the flag table (peer_flags.h). */
#include <stdio.h>
#include <string.h>

#include "peer_flags.h"

void peer_usage(FILE *f);

static const char usage_head[] =
"usage: tlspeer --backend openssl|gnutls --role server|client --proto tls|dtls [options]\n"
"A TLS/DTLS peer for testing a device: does what the flags say and reports what\n"
"happened as JSON lines on stdout. All judgement is left to the caller.\n";

static const char usage_tail[] =
"\n"
"Serve mode: tlspeer --serve [-|@NAME]  (first argument; - = stdin, @NAME = connect to\n"
"  the abstract Unix socket NAME and read from it). Each line is one session: a JSON\n"
"  array with the argv of a one-shot run (argv[0] included), or {\"argv\":[...],\n"
"  \"stderr\":FILE} to append that session's stderr to FILE. The session prints the\n"
"  lines below, then {\"event\":\"done\",\"exit\":N} (N: the one-shot exit status).\n"
"  EOF ends the process (exit 0).\n"
"\n"
"Output (one JSON object per line, flushed):\n"
"  {\"event\":\"ready\",\"backend\",\"role\",\"proto\",\"addr\",\"port\"}  server, before accepting\n"
"  {\"event\":\"result\",\"backend\",\"role\",\"proto\",\"handshake\":ok|failed|timeout|not-started,\n"
"   \"alert_sent\",\"alert_received\" (IANA names, close_notify not counted),\n"
"   \"error\":{\"code\",\"text\"} (the backend's own), \"version\",\"cipher\" (IANA),\n"
"   \"group\",\"alpn\",\"sni\",\"peer_cert\":{\"subject\",\"sha256\",\"verified\",\"verify_error\"},\n"
"   \"bytes_sent\",\"bytes_received\",\"data_ok\",\"closed_by\":peer|self,\n"
"   \"hello_verify_requests\" (DTLS: sent by a server, received by a client),\n"
"   \"renegotiated\" (--renegotiate: true, false when refused or failed),\n"
"   \"elapsed_ms\" (from the connection to the result)}\n"
"Exit status: 0 when the run went as configured (a failed handshake is a result),\n"
"2 for usage or setup errors (one stderr line naming the flag or file).\n";

/* One flag: "  --name ARG", its help from column 26, one line per '\n' of it. */
static void flag_help(FILE *f, const char *name, const char *arg, const char *help)
{
    if (help[0] == '#') {   /* a section opens before this flag */
        size_t n = strcspn(help + 1, "\n");
        fprintf(f, "\n%.*s\n", (int)n, help + 1);
        help += 1 + n + (help[1 + n] == '\n');
    }
    int w = fprintf(f, "  --%s%s%s", name, arg[0] ? " " : "", arg);
    for (int first = 1; *help || first; first = 0) {
        size_t n = strcspn(help, "\n");
        fprintf(f, "%*s%.*s\n", first ? (w < 25 ? 25 - w : 1) : 25, "", (int)n, help);
        help += n + (help[n] == '\n');
    }
}

void peer_usage(FILE *f)
{
    fputs(usage_head, f);
#define X_HELP(id, name, arg, kind, field, min, max, key, help) flag_help(f, name, arg, help);
    PEER_FLAGS(X_HELP)
#undef X_HELP
    fputs(usage_tail, f);
}
