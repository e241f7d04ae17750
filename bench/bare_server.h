/* An in-process OpenSSL server for the bare-handshake floor: accepts a fixed
 * number of TLS or DTLS handshakes on loopback in a thread of its own. */
#ifndef BENCH_BARE_SERVER_H
#define BENCH_BARE_SERVER_H

#include <pthread.h>

struct bare_server {
    int dtls;
    int nodelay;
    int count;              /* handshakes to serve, then the thread ends */
    const char *chain_pem;  /* leaf + intermediates */
    const char *key_pem;
    int port;               /* set by bare_server_start */
    int served, failed;
    int fd;                 /* -1 before start */
    void *ctx;              /* SSL_CTX */
    pthread_t thread;
    int started;            /* the thread runs; join waits for it */
    /* DTLS: the server closes and rebinds its port between handshakes; a client
     * that starts before the rebind loses its ClientHello (ICMP unreachable), so
     * it waits until the server is ready for its handshake index. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ready;              /* handshakes the server has a socket for */
    int sync_init;
};

/* Bind a free loopback port (s->port) and start serving; -1 on a setup error.
 * Call bare_server_join() on every path afterwards, success or not. */
int bare_server_start(struct bare_server *s);
/* Block until the server can take handshake INDEX (0-based); -1 after timeout_ms. */
int bare_server_wait_ready(struct bare_server *s, int index, int timeout_ms);
/* Wait for the thread to serve s->count handshakes, then release everything. */
void bare_server_join(struct bare_server *s);

#endif
