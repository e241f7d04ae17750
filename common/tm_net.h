/* Socket helpers the impairment proxies share (udpproxy, tcpproxy): numeric
 * ADDR:PORT flags, resolution, the JSON ready line, their seeded PRNG, and the
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

#endif
