/* tlspeer: options → setup (exit 2 on any error) → one connection → one result line;
 * or --serve: many such sessions, one per command line (peer_serve.c). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "peer.h"

static const struct peer_backend *pick_backend(const char *name)
{
    return strcmp(name, "gnutls") == 0 ? &peer_backend_gnutls : &peer_backend_openssl;
}

/* Wait for the peer to reach us: accept, first datagram, or connect. */
static int establish(struct peer_conn *c, int lfd)
{
    int rc;
    if (c->o->role == PEER_CLIENT)
        return peer_connect(c);
    rc = c->o->proto == PEER_TLS ? peer_accept(c, lfd) : peer_dtls_first(c, lfd);
    if (rc == 1)
        peer_result_error(c->res, ETIMEDOUT, "no peer before the deadline");
    return rc == 0 ? 0 : -1;
}

/* DTLS server: HelloVerifyRequest rounds until a ClientHello carries our cookie. */
static int cookie_exchange(const struct peer_backend *be, struct peer_conn *c)
{
    for (;;) {   /* bounded by the deadline in peer_wait */
        enum peer_io st = be->cookie_step(c);
        if (st == PEER_IO_DONE)
            return 0;
        if (st != PEER_IO_WANT_READ && st != PEER_IO_WANT_WRITE)
            return -1;
        if (peer_wait(be, c, st) != 0)
            return 1;
    }
}

static void handshake_and_data(const struct peer_backend *be, struct peer_conn *c)
{
    struct peer_result *r = c->res;
    int rc = 0;
    if (c->o->proto == PEER_DTLS && c->o->role == PEER_SERVER && c->o->cookie)
        rc = cookie_exchange(be, c);
    if (rc == 0)
        rc = peer_pump_handshake(be, c);
    else
        rc = rc == 1 ? -1 : PEER_IO_ERROR;
    be->report(c);
    if (rc == PEER_IO_DONE) {
        r->handshake = "ok";
        if (c->o->renegotiate && peer_renegotiate(be, c) != 0) {
            if (r->closed_by == NULL) {
                r->closed_by = "self";
                peer_drain_raw(c);
            }
            return;
        }
        peer_data_run(be, c);
        peer_close(be, c);
        return;
    }
    r->handshake = rc < 0 ? "timeout" : "failed";
    if (rc < 0)
        peer_result_error(r, ETIMEDOUT, "deadline reached during the handshake");
    if (rc == PEER_IO_EOF)
        r->closed_by = "peer";
    else
        peer_drain_raw(c);
}

static int run(const struct peer_opts *o, const struct peer_pki *pki, void *cfg,
               const struct peer_backend *be)
{
    struct peer_result r = { .handshake = "not-started", .alert_sent = PEER_NONE,
                             .alert_received = PEER_NONE, .data_ok = PEER_NONE,
                             .renegotiated = PEER_NONE };
    struct peer_conn c = { .o = o, .pki = pki, .fd = -1, .res = &r, .cfg = cfg,
                           .deadline = tm_deadline_in(o->timeout_ms) };
    struct tm_err err = { 0 };
    int lfd = -1, port = 0;
    if (o->role == PEER_SERVER) {
        lfd = peer_listen(o, &port, &err);
        if (lfd < 0) {
            fprintf(stderr, "tlspeer: %s\n", err.msg);
            return 2;
        }
        peer_json_ready(o, port);
    }
    tm_ms start = tm_now_ms();
    if (establish(&c, lfd) == 0) {
        start = tm_now_ms();
        if (o->nodelay && o->proto == PEER_TLS)
            peer_set_nodelay(c.fd);
        if (be->session_new(&c, &err) < 0)
            peer_result_error(&r, 0, "%s", err.msg);
        else if (!peer_misbehave_before(be, &c))
            handshake_and_data(be, &c);
        if (c.sess != NULL)
            be->session_free(&c);
    }
    peer_json_result(o, &r, (long long)(tm_now_ms() - start));
    if (c.fd >= 0 && c.fd != lfd)
        close(c.fd);
    if (lfd >= 0)
        close(lfd);
    return 0;
}

int peer_session(int argc, char **argv, struct peer_pki_cache *cache)
{
    struct peer_opts o;
    struct peer_pki pki;
    struct tm_err err = { 0 };
    int rc = peer_opts_parse(&o, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    const struct peer_backend *be = pick_backend(o.backend);
    if (peer_pki_load(&o, cache, &pki, &err) < 0) {
        fprintf(stderr, "tlspeer: %s\n", err.msg);
        peer_pki_free(&pki);
        return 2;
    }
    void *cfg = be->config_new(&o, &pki, &err);
    if (cfg == NULL) {
        fprintf(stderr, "tlspeer: %s\n", err.msg);
        peer_pki_free(&pki);
        return 2;
    }
    rc = run(&o, &pki, cfg, be);
    be->config_free(cfg);
    peer_pki_free(&pki);
    return rc;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 2 && strcmp(argv[1], "--serve") == 0)
        return peer_serve(argc, argv);
    struct peer_pki_cache *cache = peer_pki_cache_new();
    if (cache == NULL) {
        fprintf(stderr, "tlspeer: out of memory\n");
        return 2;
    }
    int rc = peer_session(argc, argv, cache);
    peer_pki_cache_free(cache);
    return rc;
}
