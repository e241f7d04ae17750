#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tm_net.h"
#include "udpproxy.h"

static const char usage[] =
"usage: udpproxy --server ADDR:PORT [options]\n"
"DTLS impairment proxy: relays datagrams between one client and one server and\n"
"drops, duplicates, delays or reorders them from a seed. Prints a JSON ready line\n"
"{\"event\":\"ready\",\"addr\":A,\"port\":P}, then one log line per datagram:\n"
"  <ms> <c2s|s2c> <content-type>[/<handshake-types>] <size> <action>\n"
"with action pass, drop, dup, delay, reorder or cut (over --mtu).\n"
"\n"
"  --listen ADDR:PORT   where the client connects (default 127.0.0.1:0, 0 = free port)\n"
"  --server ADDR:PORT   the DTLS server (required)\n"
"  --seed N             PRNG seed (default 1); same seed, same decisions\n"
"  --drop RATE          drop probability 0..1 per datagram\n"
"  --dup RATE           duplicate probability\n"
"  --reorder RATE       hold a datagram and send it after the next one the same way\n"
"  --delay MS           delay datagrams by MS (with --delay-rate, default 1.0)\n"
"  --delay-rate RATE    probability that a datagram is delayed\n"
"  --drop-type T[,T…]   drop the first datagram carrying handshake type T\n"
"                       (client_hello, server_hello, hello_verify_request,\n"
"                        certificate, server_key_exchange, certificate_request,\n"
"                        server_hello_done, certificate_verify,\n"
"                        client_key_exchange, finished)\n"
"  --protect-hvr        never impair a HelloVerifyRequest\n"
"  --mtu N              cut (drop) datagrams larger than N bytes\n"
"  --log FILE           write the datagram log to FILE instead of stdout\n"
"  --timeout MS         exit after MS (default 60000)\n"
"  --help               this text\n"
"Exit status: 0 after the timeout or SIGTERM, 2 on usage errors.\n";

static int parse_hostport(const char *flag, const char *s, char *addr, size_t alen, int *port)
{
    return tm_net_hostport("udpproxy", flag, s, addr, alen, port);
}

static int parse_rate(const char *flag, const char *s, double *out)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (*end != '\0' || end == s || v < 0 || v > 1) {
        fprintf(stderr, "udpproxy: %s: expected a rate between 0 and 1, got '%s'\n", flag, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_int(const char *flag, const char *s, long max, long *out)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (*end != '\0' || end == s || v < 0 || v > max) {
        fprintf(stderr, "udpproxy: %s: expected an integer 0..%ld, got '%s'\n", flag, max, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_seed(const char *s, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || end == s) {
        fprintf(stderr, "udpproxy: --seed: expected an integer, got '%s'\n", s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_types(const char *s, unsigned *bits)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int n = tm_tls_hs_type_from_name(t);
        if (n < 0 || n >= 32) {
            fprintf(stderr, "udpproxy: --drop-type: unknown handshake type '%s'\n", t);
            return -1;
        }
        *bits |= 1u << n;
    }
    return 0;
}

int proxy_parse_args(int argc, char **argv, struct proxy_opts *o)
{
    static const struct option longopts[] = {
        { "listen", required_argument, 0, 'l' },    { "server", required_argument, 0, 's' },
        { "seed", required_argument, 0, 'S' },      { "drop", required_argument, 0, 'd' },
        { "dup", required_argument, 0, 'u' },       { "reorder", required_argument, 0, 'r' },
        { "delay", required_argument, 0, 'y' },     { "delay-rate", required_argument, 0, 'Y' },
        { "drop-type", required_argument, 0, 't' }, { "protect-hvr", no_argument, 0, 'p' },
        { "mtu", required_argument, 0, 'm' },       { "log", required_argument, 0, 'L' },
        { "timeout", required_argument, 0, 'T' },   { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 }
    };
    memset(o, 0, sizeof *o);
    snprintf(o->listen_addr, sizeof o->listen_addr, "127.0.0.1");
    o->seed = 1;
    o->delay_rate = -1;
    o->timeout_ms = 60000;
    int have_server = 0, c;
    long v;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'l': bad = parse_hostport("--listen", optarg, o->listen_addr, sizeof o->listen_addr, &o->listen_port); break;
        case 's': bad = parse_hostport("--server", optarg, o->server_addr, sizeof o->server_addr, &o->server_port); have_server = 1; break;
        case 'S': bad = parse_seed(optarg, &o->seed); break;
        case 'd': bad = parse_rate("--drop", optarg, &o->drop); break;
        case 'u': bad = parse_rate("--dup", optarg, &o->dup); break;
        case 'r': bad = parse_rate("--reorder", optarg, &o->reorder); break;
        case 'Y': bad = parse_rate("--delay-rate", optarg, &o->delay_rate); break;
        case 'y': bad = parse_int("--delay", optarg, 60000, &v); o->delay_ms = (int)v; break;
        case 't': bad = parse_types(optarg, &o->drop_types); break;
        case 'p': o->protect_hvr = 1; break;
        case 'm': bad = parse_int("--mtu", optarg, 65535, &v); o->mtu = (int)v; break;
        case 'L': snprintf(o->log_path, sizeof o->log_path, "%s", optarg); break;
        case 'T': bad = parse_int("--timeout", optarg, 86400000, &v); o->timeout_ms = (int)v; break;
        case 'h': fputs(usage, stdout); return 1;
        default:
            fprintf(stderr, "udpproxy: unknown or incomplete option '%s' (see --help)\n", argv[optind - 1]);
            return 2;
        }
        if (bad)
            return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "udpproxy: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!have_server) {
        fprintf(stderr, "udpproxy: --server ADDR:PORT is required (see --help)\n");
        return 2;
    }
    if (o->delay_rate < 0)
        o->delay_rate = o->delay_ms > 0 ? 1.0 : 0.0;
    return 0;
}
