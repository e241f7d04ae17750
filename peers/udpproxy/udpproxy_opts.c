/* udpproxy options: one flag table for tm_net_parse_flags, and --help. */
#include <stddef.h>
#include <stdio.h>
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

static int parse_types(const char *s, void *opts)
{
    struct proxy_opts *o = opts;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int n = tm_tls_hs_type_from_name(t);
        if (n < 0 || n >= 32) {
            fprintf(stderr, "udpproxy: --drop-type: unknown handshake type '%s'\n", t);
            return -1;
        }
        o->drop_types |= 1u << n;
    }
    return 0;
}

#define OFF(f) offsetof(struct proxy_opts, f)
#define CAP(f) sizeof(((struct proxy_opts *)0)->f)

static const struct tm_flag flags[] = {
    { "listen", "ADDR:PORT", TM_FLAG_HOSTPORT, OFF(listen_addr), OFF(listen_port), CAP(listen_addr), 0, NULL, 0 },
    { "server", "ADDR:PORT", TM_FLAG_HOSTPORT, OFF(server_addr), OFF(server_port), CAP(server_addr), 0, NULL, 1 },
    { "seed", "N", TM_FLAG_U64, OFF(seed), 0, 0, UINT64_MAX, NULL, 0 },
    { "drop", "RATE", TM_FLAG_RATE, OFF(drop), 0, 0, 0, NULL, 0 },
    { "dup", "RATE", TM_FLAG_RATE, OFF(dup), 0, 0, 0, NULL, 0 },
    { "delay-rate", "RATE", TM_FLAG_RATE, OFF(delay_rate), 0, 0, 0, NULL, 0 },
    { "reorder", "RATE", TM_FLAG_RATE, OFF(reorder), 0, 0, 0, NULL, 0 },
    { "delay", "MS", TM_FLAG_INT, OFF(delay_ms), 0, 0, 60000, NULL, 0 },
    { "drop-type", "T[,T…]", TM_FLAG_FN, 0, 0, 0, 0, parse_types, 0 },
    { "protect-hvr", NULL, TM_FLAG_ON, OFF(protect_hvr), 0, 0, 0, NULL, 0 },
    { "mtu", "N", TM_FLAG_INT, OFF(mtu), 0, 0, 65535, NULL, 0 },
    { "log", "FILE", TM_FLAG_PATH, OFF(log_path), 0, CAP(log_path), 0, NULL, 0 },
    { "timeout", "MS", TM_FLAG_INT, OFF(timeout_ms), 0, 0, 86400000, NULL, 0 },
    { "help", NULL, TM_FLAG_HELP, 0, 0, 0, 0, NULL, 0 },
};
#define NFLAGS (sizeof flags / sizeof flags[0])

int proxy_parse_args(int argc, char **argv, struct proxy_opts *o)
{
    int seen[NFLAGS];
    memset(o, 0, sizeof *o);
    snprintf(o->listen_addr, sizeof o->listen_addr, "127.0.0.1");
    o->seed = 1;
    o->timeout_ms = 60000;
    o->delay_rate = -1;   /* not given: follows --delay */
    int rc = tm_net_parse_flags("udpproxy", flags, NFLAGS, argc, argv, o, seen);
    if (rc == 1)
        fputs(usage, stdout);
    if (rc == 0 && o->delay_rate < 0)
        o->delay_rate = o->delay_ms > 0 ? 1.0 : 0.0;
    return rc;
}
