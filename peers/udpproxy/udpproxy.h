/* udpproxy: a DTLS impairment proxy between one client and one server on
 * loopback (in the spirit of mbedTLS's udp_proxy.c). Decisions come from a
 * seeded PRNG drawn in a fixed order per datagram, so the same seed and the same
 * datagram sequence give the same decisions. */
#ifndef UDPPROXY_H
#define UDPPROXY_H

#include <stddef.h>
#include <stdint.h>

struct proxy_opts {
    char listen_addr[64];
    int listen_port;
    char server_addr[64];
    int server_port;
    uint64_t seed;
    double drop, dup, reorder, delay_rate;
    int delay_ms;
    unsigned drop_types;      /* bit per handshake type: drop its first datagram */
    int protect_hvr;          /* never impair a HelloVerifyRequest */
    int mtu;                  /* 0 = none: larger datagrams are cut (dropped) */
    char log_path[512];       /* "" = stdout */
    int timeout_ms;           /* whole-run deadline */
};

/* 0 ok, 1 help printed, 2 usage error (message on stderr). */
int proxy_parse_args(int argc, char **argv, struct proxy_opts *o);

/* What one datagram is, for logging and type-based decisions. */
struct dtls_desc {
    char text[96];            /* "handshake/client_hello", "application_data", … */
    unsigned hs_types;        /* bit per handshake message type found in plaintext records */
    int is_hvr;
};

void dtls_describe(const unsigned char *d, size_t n, struct dtls_desc *out);

#endif
