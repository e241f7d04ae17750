/* tcpproxy options: one table of places, one of actions, and --help from them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcpproxy.h"
#include "tm_net.h"

enum arg_kind { ARG_NONE, ARG_TYPE, ARG_COUNT, ARG_OPT_COUNT, ARG_TWO_COUNTS, ARG_HEX };

struct place_row {
    const char *name;
    enum tp_place place;
    enum arg_kind arg;
    const char *help;
};

static const struct place_row places[] = {
    { "before", TP_AT_BEFORE, ARG_TYPE, "before handshake message TYPE from SIDE" },
    { "mid", TP_AT_MID, ARG_TYPE, "in the middle of the body of message TYPE from SIDE" },
    { "after", TP_AT_AFTER, ARG_TYPE, "after handshake message TYPE from SIDE" },
    { "bytes", TP_AT_BYTES, ARG_COUNT, "after the first N bytes from SIDE" },
    { "appdata", TP_AT_APPDATA, ARG_NONE, "after the first application-data record from SIDE" },
    { "time", TP_AT_TIME, ARG_COUNT, "N ms after the connection was accepted" },
};

struct action_row {
    const char *name;
    enum tp_action action;
    enum arg_kind arg;
    int record;               /* acts on a whole record */
    const char *help;
};

static const struct action_row actions[] = {
    { "fin", TP_DO_FIN, ARG_NONE, 0, "close both connections with FIN" },
    { "rst", TP_DO_RST, ARG_NONE, 0, "reset both connections (RST, SO_LINGER 0)" },
    { "stall", TP_DO_STALL, ARG_OPT_COUNT, 0,
      "stall:MS forward nothing either way for MS; stall: until --timeout" },
    { "drip", TP_DO_DRIP, ARG_TWO_COUNTS, 0, "drip:K:MS from here on K bytes every MS ms" },
    { "segment", TP_DO_SEGMENT, ARG_COUNT, 0, "segment:K from here on K-byte TCP writes" },
    { "corrupt", TP_DO_CORRUPT, ARG_NONE, 1, "flip one payload byte (the seed picks it)" },
    { "drop", TP_DO_DROP, ARG_NONE, 1, "leave the record out" },
    { "dup", TP_DO_DUP, ARG_NONE, 1, "send the record twice" },
    { "insert", TP_DO_INSERT, ARG_HEX, 0, "insert:HEX insert these bytes into SIDE's stream" },
};

#define LEN(a) (sizeof a / sizeof a[0])

static int fail(char *msg, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *msg, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
    return -1;
}

static int count(const char *s, long long max, long long *out)
{
    char *end = NULL;
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0' || v < 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

static int side_of(const char *s, enum tp_side *side)
{
    if (s != NULL && strcmp(s, "client") == 0)
        *side = TP_CLIENT;
    else if (s != NULL && strcmp(s, "server") == 0)
        *side = TP_SERVER;
    else
        return -1;
    return 0;
}

int tp_action_is_record(enum tp_action a)
{
    for (size_t i = 0; i < LEN(actions); i++)
        if (actions[i].action == a)
            return actions[i].record;
    return 0;
}

/* A --at or --do value NAME[:A[:B]] split at ':' (rest: anything after B), and the
 * row of its table named NAME. Both tables' rows start with their name. */
struct rule {
    char buf[600];
    char *name, *a1, *a2, *rest;
    const void *row;
};

static int rule_split(const char *flag, const char *what, const char *s, const void *rows,
                      size_t nrows, size_t rowsize, struct rule *r, char *msg, size_t msglen)
{
    if (strlen(s) >= sizeof r->buf)
        return fail(msg, msglen, "%s: too long", flag);
    snprintf(r->buf, sizeof r->buf, "%s", s);
    char *save = NULL;
    r->name = strtok_r(r->buf, ":", &save);
    r->a1 = strtok_r(NULL, ":", &save);
    r->a2 = strtok_r(NULL, ":", &save);
    r->rest = strtok_r(NULL, "", &save);
    char names[256] = "";
    for (size_t i = 0; i < nrows; i++) {   /* one walk: find the row, list the names */
        const char *row = (const char *)rows + i * rowsize, *name = *(const char *const *)row;
        if (r->name != NULL && strcmp(name, r->name) == 0) {
            r->row = row;
            return 0;
        }
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", name);
    }
    return fail(msg, msglen, "%s: unknown %s '%s' (%s; see --help)", flag, what,
                r->name ? r->name : "", names);
}

/* KIND:SIDE[:ARG] */
int tp_parse_place(const char *s, struct tp_opts *o, char *msg, size_t msglen)
{
    struct rule r;
    if (rule_split("--at", "place", s, places, LEN(places), sizeof places[0], &r, msg, msglen) != 0)
        return -1;
    const struct place_row *row = r.row;
    if (side_of(r.a1, &o->side) != 0)
        return fail(msg, msglen, "--at %s: expected SIDE client or server after '%s:'", s,
                    row->name);
    if ((row->arg == ARG_NONE) != (r.a2 == NULL) || r.rest != NULL)
        return fail(msg, msglen, "--at %s: %s", s, row->arg == ARG_NONE
                    ? "takes no argument after the side" : "needs one argument after the side");
    o->place = row->place;
    if (row->arg == ARG_TYPE && (o->hs_type = tm_tls_hs_type_from_name(r.a2)) < 0)
        return fail(msg, msglen, "--at %s: unknown handshake message '%s' (client_hello, "
                    "server_hello, certificate, server_key_exchange, certificate_request, "
                    "server_hello_done, certificate_verify, client_key_exchange, finished, "
                    "new_session_ticket, hello_request, encrypted_extensions)", s, r.a2);
    if (row->arg == ARG_COUNT && count(r.a2, 1000000000LL, &o->place_n) != 0)
        return fail(msg, msglen, "--at %s: expected a count 0..1000000000, got '%s'", s, r.a2);
    snprintf(o->place_text, sizeof o->place_text, "%s", s);
    return 0;
}

static int hex_bytes(const char *s, unsigned char *out, size_t max, size_t *len)
{
    size_t n = strlen(s);
    if (n == 0 || n % 2 != 0 || n / 2 > max)
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        unsigned v;
        if (sscanf(s + i, "%2x", &v) != 1 || !strchr("0123456789abcdefABCDEF", s[i])
            || !strchr("0123456789abcdefABCDEF", s[i + 1]))
            return -1;
        out[i / 2] = (unsigned char)v;
    }
    *len = n / 2;
    return 0;
}

/* NAME[:ARG[:ARG]] */
int tp_parse_action(const char *s, struct tp_opts *o, char *msg, size_t msglen)
{
    struct rule r;
    if (rule_split("--do", "action", s, actions, LEN(actions), sizeof actions[0], &r, msg,
                   msglen) != 0)
        return -1;
    const struct action_row *row = r.row;
    const char *a1 = r.a1, *a2 = r.a2;
    long long k = 0, ms = 0;
    int ok;
    switch (row->arg) {
    case ARG_NONE: ok = a1 == NULL; break;
    case ARG_OPT_COUNT: ok = a2 == NULL && (a1 == NULL || count(a1, 86400000, &ms) == 0); break;
    case ARG_COUNT: ok = a2 == NULL && count(a1, 65536, &k) == 0 && k > 0; break;
    case ARG_TWO_COUNTS:
        ok = count(a1, 65536, &k) == 0 && k > 0 && count(a2, 60000, &ms) == 0; break;
    case ARG_HEX: ok = a1 && a2 == NULL && hex_bytes(a1, o->insert, TP_MAX_INSERT, &o->insert_len) == 0; break;
    default: ok = 0;
    }
    if (!ok || r.rest != NULL)
        return fail(msg, msglen, "--do %s: bad argument (%s)", s, row->help);
    o->action = row->action;
    o->act_k = (long)k;
    o->act_ms = (long)ms;
    snprintf(o->action_text, sizeof o->action_text, "%s", s);
    return 0;
}

static void usage(void)
{
    fputs("usage: tcpproxy --server ADDR:PORT [--at PLACE --do ACTION] [options]\n"
          "TLS-aware TCP impairment proxy: relays one connection at a time between a\n"
          "client and the server, parses TLS records both ways, and does one ACTION at\n"
          "PLACE on every connection. Prints a JSON ready line\n"
          "{\"event\":\"ready\",\"addr\":A,\"port\":P}, then log lines:\n"
          "  <ms> <c2s|s2c> <content-type>[/<messages>] <size>   one per record\n"
          "  <ms> <c2s|s2c> * <action> @<offset> <place>         when the action happens\n"
          "  <ms> - * <event>                                     accept, eof, close\n"
          "\nPLACE is KIND:SIDE[:ARG], SIDE client or server (who sends the bytes):\n", stdout);
    for (size_t i = 0; i < LEN(places); i++)
        printf("  %-8s %s\n", places[i].name, places[i].help);
    fputs("  TYPE: client_hello, server_hello, certificate, server_key_exchange,\n"
          "  certificate_request, server_hello_done, certificate_verify,\n"
          "  client_key_exchange, finished (the first encrypted handshake record after a\n"
          "  ChangeCipherSpec: TLS 1.2; TLS 1.3's encrypted messages cannot be told apart).\n"
          "\nACTION (stream actions act at PLACE; record actions on the record that holds\n"
          "the first byte at or after PLACE, in SIDE's direction):\n", stdout);
    for (size_t i = 0; i < LEN(actions); i++)
        printf("  %-8s %s%s\n", actions[i].name, actions[i].help,
               actions[i].record ? " [record]" : "");
    fputs("\n  --listen ADDR:PORT   where the client connects (default 127.0.0.1:0 = free port)\n"
          "  --server ADDR:PORT   the TLS server (required)\n"
          "  --at PLACE --do ACTION  the impairment (both or neither; none = plain relay)\n"
          "  --seed N             PRNG seed (default 1): which byte corrupt flips\n"
          "  --log FILE           write the log to FILE instead of stdout\n"
          "  --timeout MS         exit after MS (default 60000); a stall ends there too\n"
          "  --help               this text\n"
          "Every wait is bounded: connecting to the server (5 s), flushing before a FIN\n"
          "or RST (2 s), and the run (--timeout).\n"
          "Exit status: 0 after the timeout or SIGTERM, 2 on usage errors.\n", stdout);
}

/* --at and --do through the table's function rows: one stderr line on error. */
static int rule_flag(const char *s, void *opts, int place)
{
    char msg[512];
    int r = place ? tp_parse_place(s, opts, msg, sizeof msg)
                  : tp_parse_action(s, opts, msg, sizeof msg);
    if (r != 0)
        fprintf(stderr, "tcpproxy: %s\n", msg);
    return r;
}

static int at_flag(const char *s, void *opts) { return rule_flag(s, opts, 1); }
static int do_flag(const char *s, void *opts) { return rule_flag(s, opts, 0); }

#define OFF(f) offsetof(struct tp_opts, f)
#define CAP(f) sizeof(((struct tp_opts *)0)->f)

static const struct tm_flag flags[] = {
    { "listen", "ADDR:PORT", TM_FLAG_HOSTPORT, OFF(listen_addr), OFF(listen_port), CAP(listen_addr), 0, NULL, 0 },
    { "server", "ADDR:PORT", TM_FLAG_HOSTPORT, OFF(server_addr), OFF(server_port), CAP(server_addr), 0, NULL, 1 },
    { "at", "PLACE", TM_FLAG_FN, 0, 0, 0, 0, at_flag, 0 },
    { "do", "ACTION", TM_FLAG_FN, 0, 0, 0, 0, do_flag, 0 },
    { "seed", "N", TM_FLAG_U64, OFF(seed), 0, 0, 0x7fffffffffffffffULL, NULL, 0 },
    { "log", "FILE", TM_FLAG_PATH, OFF(log_path), 0, CAP(log_path), 0, NULL, 0 },
    { "timeout", "MS", TM_FLAG_INT, OFF(timeout_ms), 0, 0, 86400000, NULL, 0 },
    { "help", NULL, TM_FLAG_HELP, 0, 0, 0, 0, NULL, 0 },
};

int tp_parse_args(int argc, char **argv, struct tp_opts *o)
{
    int seen[LEN(flags)];
    memset(o, 0, sizeof *o);
    snprintf(o->listen_addr, sizeof o->listen_addr, "127.0.0.1");
    o->seed = 1;
    o->timeout_ms = 60000;
    int rc = tm_net_parse_flags("tcpproxy", flags, LEN(flags), argc, argv, o, seen);
    if (rc == 1)
        usage();
    if (rc != 0)
        return rc;
    int have_at = o->place_text[0] != '\0', have_do = o->action_text[0] != '\0';
    if (have_at != have_do) {
        fprintf(stderr, "tcpproxy: --at and --do go together (see --help)\n");
        return 2;
    }
    o->has_rule = have_at;
    return 0;
}
