/* Socket helpers the impairment proxies share (udpproxy, tcpproxy): their command
 * lines (one flag table each), numeric ADDR:PORT flags, resolution, the JSON ready line, their seeded PRNG, and the
 * names of TLS/DTLS record and handshake types their logs and options use. */
#ifndef TM_NET_H
#define TM_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* "ADDR:PORT" or "[v6addr]:PORT" (port 0..65535) into addr/port; -1 after one
 * stderr line "PROG: FLAG: …". */
int tm_net_hostport(const char *prog, const char *flag, const char *s, char *addr, size_t alen,
                    int *port);
/* Numeric address and port → sockaddr for socktype (SOCK_DGRAM, SOCK_STREAM); -1 if
 * addr is not a numeric address. */
int tm_net_resolve(const char *addr, int port, int socktype, struct sockaddr_storage *ss,
                   socklen_t *len);
/* {"event":"ready","addr":A,"port":P} for the bound socket fd, on stdout, flushed. */
void tm_net_print_ready(int fd);
/* splitmix64: tiny, well-distributed, reproducible from the seed in *state. */
uint64_t tm_net_splitmix64(uint64_t *state);

/* Handshake message type (RFC 5246 §7.4, RFC 6347 §4.2, RFC 8446 §4) for its
 * name ("server_hello" → 2), -1 if unknown; and back ("unknown" when unnamed). */
int tm_tls_hs_type_from_name(const char *name);
const char *tm_tls_hs_type_name(int type);
/* Record content type (20..24) name, "unknown" otherwise. */
const char *tm_tls_content_name(unsigned ct);

/* A proxy's command line as one table, a row per flag: getopt's options, the value
 * checks and their error lines all come from it (udpproxy, tcpproxy). */
enum tm_flag_kind {
    TM_FLAG_HOSTPORT,   /* ADDR:PORT: char[cap] at off, int port at off2 */
    TM_FLAG_INT,        /* int at off, 0..max */
    TM_FLAG_U64,        /* uint64_t at off, 0..max */
    TM_FLAG_RATE,       /* double at off, 0..1 */
    TM_FLAG_PATH,       /* char[cap] at off */
    TM_FLAG_ON,         /* a switch: int at off = 1 */
    TM_FLAG_FN,         /* fn(value, opts) parses it: -1 after its own stderr line */
    TM_FLAG_HELP,       /* the caller prints its help */
};

struct tm_flag {
    const char *name;   /* the long option without "--" */
    const char *arg;    /* the value's name in messages ("ADDR:PORT"), NULL for switches */
    enum tm_flag_kind kind;
    size_t off, off2, cap;
    unsigned long long max;
    int (*fn)(const char *value, void *opts);
    int required;       /* "PROG: --NAME ARG is required" when missing */
};

#define TM_FLAGS_MAX 32

/* Parse argv (argv[0] the program) by the table into opts; seen[i] counts how often
 * flags[i] was given (nflags entries, at most TM_FLAGS_MAX). Returns 0, 1 when --help
 * was given (nothing printed), 2 after one stderr line "PROG: …" naming the flag or
 * argument at fault. */
int tm_net_parse_flags(const char *prog, const struct tm_flag *flags, size_t nflags, int argc,
                       char **argv, void *opts, int *seen);

#endif
