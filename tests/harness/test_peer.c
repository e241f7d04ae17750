/* Peer processes: argv mapping from a case, and real tlspeer/udpproxy processes
 * (a real handshake between two tlspeers, over udpproxy for DTLS), plus hangs
 * and crashes of real child processes. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "harness_kit.h"
#include "peer/peer.h"

#define TLSPEER TM_BIN_DIR "/tlspeer"
#define FX TM_FIXTURES_DIR
/* The bound of a wait for what must happen (a ready line, a peer's result): far
 * above the peers' own 8 s timeouts, so only a hang reaches it. */
#define HANG_MS 30000

static char tmpdir[256];

static void setup(void)
{
    hk_dir_make(tmpdir, sizeof tmpdir, "peer");
}

static void teardown(void)
{
    hk_dir_remove(tmpdir);
}

static json_t *client_case(const char *backend, const char *proto)
{
    return json_pack("{s:s, s:{s:s, s:s, s:s}, s:{s:s}, s:{s:[s, s], s:s, s:s, s:b, s:[s, s]}}",
                     "id", "x/openssl/p256/tls", "axes", "backend", backend, "keytype", "p256",
                     "proto", proto, "device", "role", "client", "peer", "cert", "p256-server.der",
                     "/abs/p256-int.der", "key", "p256-server.key.der", "cookie", "off",
                     "no_tickets", 1, "args", "--max-version", "tls1.2");
}

/* peer_build_argv of a case's JSON, through the case validator as the runner
 * does (an id, key type and expectation are filled in when the test has none). */
static json_t *argv_of(json_t *kase, const char *fx, const struct peer_target *t,
                       struct tm_err *err)
{
    json_t *axes = json_object_get(kase, "axes");
    if (json_object_get(kase, "id") == NULL)
        json_object_set_new(kase, "id", json_string("t/openssl/p256/tls"));
    if (json_object_get(axes, "keytype") == NULL)
        json_object_set_new(axes, "keytype", json_string("p256"));
    if (json_object_get(kase, "expected") == NULL)
        json_object_set_new(kase, "expected", json_pack("{s:[s]}", "device", "ok"));
    struct tm_case c;
    if (case_build(kase, &c, err) != 0)
        return NULL;
    json_t *argv = peer_build_argv(&c, fx, t, err);
    case_free(&c);
    return argv;
}

static const char *arg(const json_t *argv, size_t i)
{
    return json_string_value(json_array_get(argv, i));
}

/* Index of flag in argv, or -1. */
static int find(const json_t *argv, const char *flag, int from)
{
    for (size_t i = (size_t)from; i < json_array_size(argv); i++)
        if (strcmp(arg(argv, i), flag) == 0)
            return (int)i;
    return -1;
}

START_TEST(argv_from_case)
{
    struct tm_err err = { 0 };
    struct peer_target t = { "127.0.0.1", NULL, 0, 7000 };
    json_t *kase = client_case("gnutls", "dtls");
    json_t *argv = argv_of(kase, "/fx", &t, &err);
    ck_assert_msg(argv != NULL, "%s", err.msg);
    ck_assert_str_eq(arg(argv, 0), TLSPEER);
    ck_assert_str_eq(arg(argv, find(argv, "--backend", 0) + 1), "gnutls");
    ck_assert_str_eq(arg(argv, find(argv, "--role", 0) + 1), "server");   /* device is client */
    ck_assert_str_eq(arg(argv, find(argv, "--proto", 0) + 1), "dtls");
    ck_assert_str_eq(arg(argv, find(argv, "--accept", 0) + 1), "0");
    int c1 = find(argv, "--cert", 0), c2 = find(argv, "--cert", c1 + 1);
    ck_assert_str_eq(arg(argv, c1 + 1), "/fx/p256-server.der");   /* send order kept */
    ck_assert_str_eq(arg(argv, c2 + 1), "/abs/p256-int.der");     /* paths kept */
    ck_assert_str_eq(arg(argv, find(argv, "--key", 0) + 1), "/fx/p256-server.key.der");
    ck_assert_str_eq(arg(argv, find(argv, "--cookie", 0) + 1), "off");
    ck_assert_int_ge(find(argv, "--no-tickets", 0), 0);
    ck_assert_str_eq(arg(argv, find(argv, "--timeout", 0) + 1), "7000");
    /* Extra args come last, as given. */
    ck_assert_str_eq(arg(argv, json_array_size(argv) - 2), "--max-version");
    char *line = peer_argv_string(argv);
    ck_assert_ptr_nonnull(strstr(line, "--backend gnutls --role server --proto dtls"));
    free(line);
    json_decref(argv);
    /* Device server → peer client connecting to the device. */
    json_object_set_new(json_object_get(kase, "device"), "role", json_string("server"));
    json_object_set_new(json_object_get(kase, "peer"), "servername", json_null());
    json_object_set_new(json_object_get(kase, "peer"), "noservername", json_true());
    struct peer_target tc = { NULL, "::1", 4433, 7000 };
    argv = argv_of(kase, "/fx", &tc, &err);
    ck_assert_str_eq(arg(argv, find(argv, "--role", 0) + 1), "client");
    ck_assert_str_eq(arg(argv, find(argv, "--connect", 0) + 1), "[::1]:4433");
    ck_assert_int_ge(find(argv, "--noservername", 0), 0);
    ck_assert_int_eq(find(argv, "--servername", 0), -1);   /* null = not given */
    json_decref(argv);
    /* Bad peer data names the field. */
    json_object_set_new(json_object_get(kase, "peer"), "args", json_pack("[i]", 3));
    ck_assert_ptr_null(argv_of(kase, "/fx", &tc, &err));
    ck_assert_msg(strstr(err.msg, "peer.args[0]") != NULL, "%s", err.msg);
    ck_assert_int_eq(tm_err_code(&err), TM_E_INPUT);
    json_decref(kase);
}
END_TEST

/* serve= names fixtures, as cert does; other SNI actions pass as they are. */
START_TEST(argv_sni_serve_fixtures)
{
    struct tm_err err = { 0 };
    struct peer_target t = { "127.0.0.1", NULL, 0, 7000 };
    json_t *kase = client_case("openssl", "tls");
    json_t *peer = json_object_get(kase, "peer");
    json_object_set_new(peer, "on_sni", json_string("test.local:serve=a.pem,/abs/a.key"));
    json_object_set_new(peer, "on_sni_missing", json_string("serve=b.der"));
    json_t *argv = argv_of(kase, "/fx", &t, &err);
    ck_assert_msg(argv != NULL, "%s", err.msg);
    ck_assert_str_eq(arg(argv, find(argv, "--on-sni", 0) + 1), "test.local:serve=/fx/a.pem,/abs/a.key");
    ck_assert_str_eq(arg(argv, find(argv, "--on-sni-missing", 0) + 1), "serve=/fx/b.der");
    json_decref(argv);
    json_object_set_new(peer, "on_sni", json_string("test.local:alert:access_denied"));
    argv = argv_of(kase, "/fx", &t, &err);
    ck_assert_str_eq(arg(argv, find(argv, "--on-sni", 0) + 1), "test.local:alert:access_denied");
    json_decref(argv);
    json_decref(kase);
}
END_TEST

START_TEST(shell_quoting)
{
    json_t *a = json_pack("[s, s, s]", "tlsmatrix", "--filter", "it's a *glob*");
    char *s = peer_argv_string(a);
    ck_assert_str_eq(s, "tlsmatrix --filter 'it'\\''s a *glob*'");
    free(s);
    json_decref(a);
}
END_TEST

/* A real handshake between two tlspeers through this module, TLS and DTLS
 * (the latter through udpproxy). */
static void handshake(const char *proto, int with_proxy)
{
    struct tm_err err = { 0 };
    char errpath[400];
    snprintf(errpath, sizeof errpath, "%s/peer.stderr", tmpdir);
    json_t *kase = client_case("openssl", proto);
    json_object_del(json_object_get(kase, "peer"), "args");
    json_object_del(json_object_get(kase, "peer"), "cookie");
    json_array_set_new(json_object_get(json_object_get(kase, "peer"), "cert"), 1,
                       json_string("p256-int.der"));
    struct peer_target ts = { "127.0.0.1", NULL, 0, 8000 };
    json_t *sargv = argv_of(kase, FX, &ts, &err);
    json_t *st = json_array(), *ct = json_array(), *pt = json_array();
    struct peer *srv = peer_start(sargv, errpath, tm_deadline_in(HANG_MS), st, &err);
    ck_assert_msg(srv != NULL, "%s", err.msg);
    ck_assert_int_gt(peer_port(srv), 0);
    int port = peer_port(srv);
    struct proxy *px = NULL;
    if (with_proxy) {
        char log[400];
        snprintf(log, sizeof log, "%s/proxy.log", tmpdir);
        json_t *spec = json_pack("{s:i, s:f}", "seed", 3, "drop", 0.0);
        px = proxy_start(spec, "127.0.0.1", "127.0.0.1", port, log, 8000, tm_deadline_in(HANG_MS), pt, &err);
        json_decref(spec);
        ck_assert_msg(px != NULL, "%s", err.msg);
        port = proxy_port(px);
    }
    /* The "device" side: a tlspeer client trusting the root. */
    json_t *ck = json_pack("{s:{s:s, s:s}, s:{s:s}, s:{s:[s], s:s}}", "axes", "backend", "openssl",
                           "proto", proto, "device", "role", "server", "peer", "ca", "p256-root.der",
                           "servername", "test.local");
    struct peer_target tc = { NULL, "127.0.0.1", port, 8000 };
    json_t *cargv = argv_of(ck, FX, &tc, &err);
    struct peer *cli = peer_start(cargv, errpath, tm_deadline_in(HANG_MS), ct, &err);
    ck_assert_msg(cli != NULL, "%s", err.msg);
    char ev[256];
    json_t *cr = peer_finish(cli, tm_deadline_in(HANG_MS), ct, ev, sizeof ev);
    json_t *sr = peer_finish(srv, tm_deadline_in(HANG_MS), st, ev, sizeof ev);
    ck_assert_ptr_nonnull(cr);
    ck_assert_ptr_nonnull(sr);
    ck_assert_msg(strcmp(json_string_value(json_object_get(cr, "handshake")), "ok") == 0, "%s",
                  json_dumps(cr, 0));
    ck_assert_str_eq(json_string_value(json_object_get(sr, "handshake")), "ok");
    ck_assert_uint_ge(json_array_size(st), 2);   /* ready + result lines kept */
    peer_stop(cli);
    peer_stop(srv);
    if (px != NULL) {
        proxy_stop(px, pt);
        ck_assert_uint_gt(json_array_size(pt), 2);   /* command + datagram log lines */
    }
    json_decref(cr);
    json_decref(sr);
    json_decref(sargv);
    json_decref(cargv);
    json_decref(kase);
    json_decref(ck);
    json_decref(st);
    json_decref(ct);
    json_decref(pt);
}

START_TEST(real_tls_handshake)
{
    handshake("tls", 0);
}
END_TEST

START_TEST(real_dtls_handshake_through_proxy)
{
    handshake("dtls", 1);
}
END_TEST


/* One case through a pool: the server session pooled, the "device" a one-shot
 * tlspeer client. Returns the server's handshake field ("" when it did not
 * start; err then says why) and the pid that ran the session. */
static const char *pooled_round(struct peer_pool *pool, const char *backend, const char *extra,
                                const char *errpath, int *pid, struct tm_err *err)
{
    static char hs[32];
    json_t *kase = client_case(backend, "tls");
    json_t *peer = json_object_get(kase, "peer");
    json_object_set_new(peer, "args", extra ? json_pack("[s]", extra) : json_array());
    json_object_del(peer, "cookie");
    json_array_set_new(json_object_get(peer, "cert"), 1, json_string("p256-int.der"));
    struct peer_target ts = { "127.0.0.1", NULL, 0, 8000 };
    json_t *sargv = argv_of(kase, FX, &ts, err);
    struct peer *srv = peer_start_pooled(pool, sargv, errpath, tm_deadline_in(HANG_MS), NULL, err);
    json_decref(sargv);
    json_decref(kase);
    hs[0] = '\0';
    *pid = -1;
    if (srv == NULL)
        return hs;
    *pid = peer_pid(srv);
    json_t *ck = json_pack("{s:{s:s, s:s}, s:{s:s}, s:{s:[s], s:s}}", "axes", "backend", "openssl",
                           "proto", "tls", "device", "role", "server", "peer", "ca", "p256-root.der",
                           "servername", "test.local");
    struct peer_target tc = { NULL, "127.0.0.1", peer_port(srv), 8000 };
    json_t *cargv = argv_of(ck, FX, &tc, err);
    struct peer *cli = peer_start(cargv, NULL, tm_deadline_in(HANG_MS), NULL, err);
    ck_assert_msg(cli != NULL, "%s", err->msg);
    char ev[256];
    json_t *cr = peer_finish(cli, tm_deadline_in(HANG_MS), NULL, ev, sizeof ev);
    json_t *sr = peer_finish(srv, tm_deadline_in(HANG_MS), NULL, ev, sizeof ev);
    ck_assert_msg(sr != NULL, "%s", ev);
    snprintf(hs, sizeof hs, "%s", json_string_value(json_object_get(sr, "handshake")) ?: "?");
    peer_stop(cli);
    peer_stop(srv);
    json_decref(cr);
    json_decref(sr);
    json_decref(cargv);
    json_decref(ck);
    return hs;
}

static int file_has(const char *path, const char *needle)
{
    char buf[4096] = "";
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strstr(buf, needle) != NULL;
}

/* Cases share one serve process; a setup error ends only its session, and its
 * stderr lands in that case's file. */
START_TEST(pooled_sessions_share_one_process)
{
    struct tm_err err = { 0 };
    struct peer_pool *pool = peer_pool_new();
    char e1[400], e2[400];
    snprintf(e1, sizeof e1, "%s/one.stderr", tmpdir);
    snprintf(e2, sizeof e2, "%s/two.stderr", tmpdir);
    int first = -1, pid;
    for (int i = 0; i < 6; i++) {
        const char *hs = pooled_round(pool, i % 2 ? "gnutls" : "openssl", NULL, e1, &pid, &err);
        ck_assert_msg(strcmp(hs, "ok") == 0, "round %d: '%s' %s", i, hs, err.msg);
        if (first < 0)
            first = pid;
        ck_assert_int_eq(pid, first);
    }
    const char *hs = pooled_round(pool, "gnutls", "--bogus", e2, &pid, &err);
    ck_assert_str_eq(hs, "");
    ck_assert_msg(strstr(err.msg, "exited (code 2) before its ready line") != NULL, "%s", err.msg);
    ck_assert(file_has(e2, "unknown flag '--bogus'"));
    ck_assert(!file_has(e1, "--bogus"));
    ck_assert_str_eq(pooled_round(pool, "openssl", NULL, e1, &pid, &err), "ok");
    ck_assert_int_eq(pid, first);
    peer_pool_free(pool);
}
END_TEST

/* Abandoned sessions (the device never came): a TLS server is released (a
 * connect and hang-up ends it) and its process kept; a DTLS one takes its
 * process with it and the next case gets a fresh one that works. A --misbehave
 * session runs in its own one-shot process and leaves the pool alone. */
static void abandon(struct peer_pool *pool, const char *proto, int want_pid)
{
    struct tm_err err = { 0 };
    json_t *kase = client_case("openssl", proto);
    json_object_set_new(json_object_get(kase, "peer"), "args", json_array());
    json_array_set_new(json_object_get(json_object_get(kase, "peer"), "cert"), 1,
                       json_string("p256-int.der"));
    struct peer_target ts = { "127.0.0.1", NULL, 0, 8000 };
    json_t *sargv = argv_of(kase, FX, &ts, &err);
    struct peer *srv = peer_start_pooled(pool, sargv, NULL, tm_deadline_in(HANG_MS), NULL, &err);
    ck_assert_msg(srv != NULL, "%s", err.msg);
    ck_assert_int_eq(peer_pid(srv), want_pid);
    char ev[256];
    json_t *r = peer_finish(srv, tm_deadline_in(200), NULL, ev, sizeof ev);
    ck_assert_str_eq(json_string_value(json_object_get(r, "handshake")), "timeout");
    peer_stop(srv);
    json_decref(r);
    json_decref(sargv);
    json_decref(kase);
}

START_TEST(pooled_bad_session_gets_fresh_process)
{
    struct tm_err err = { 0 };
    struct peer_pool *pool = peer_pool_new();
    int pid, first;
    ck_assert_str_eq(pooled_round(pool, "openssl", NULL, NULL, &first, &err), "ok");
    abandon(pool, "tls", first);
    ck_assert_str_eq(pooled_round(pool, "gnutls", NULL, NULL, &pid, &err), "ok");
    ck_assert_int_eq(pid, first);
    abandon(pool, "dtls", first);
    ck_assert_int_ne(kill(first, 0), 0);   /* gone (reaped) */
    ck_assert_str_eq(pooled_round(pool, "gnutls", NULL, NULL, &pid, &err), "ok");
    ck_assert_int_ne(pid, first);
    int second = pid;
    json_t *kase = client_case("openssl", "tls");
    json_object_set_new(json_object_get(kase, "peer"), "args", json_array());
    json_array_set_new(json_object_get(json_object_get(kase, "peer"), "cert"), 1,
                       json_string("p256-int.der"));
    struct peer_target ts = { "127.0.0.1", NULL, 0, 8000 };
    json_t *sargv = argv_of(kase, FX, &ts, &err);
    json_array_append_new(sargv, json_string("--misbehave"));
    json_array_append_new(sargv, json_string("stall:100"));
    struct peer *srv = peer_start_pooled(pool, sargv, NULL, tm_deadline_in(HANG_MS), NULL, &err);
    ck_assert_msg(srv != NULL, "%s", err.msg);
    ck_assert_int_ne(peer_pid(srv), second);
    peer_stop(srv);
    ck_assert_str_eq(pooled_round(pool, "openssl", NULL, NULL, &pid, &err), "ok");
    ck_assert_int_eq(pid, second);
    json_decref(sargv);
    json_decref(kase);
    peer_pool_free(pool);
}
END_TEST

/* A client announces nothing: peer_start must not wait for a ready line that
 * never comes (the device may finish first and the case would stall). The program
 * never prints and never exits on its own, so a start that waited would end only
 * at the 40 s deadline, as a timeout (NULL): the started peer is the verdict. */
START_TEST(client_peer_is_not_waited_for)
{
    struct tm_err err = { 0 };
    json_t *argv = json_pack("[s, s, s, s, s]", "/bin/sh", "-c", "exec sleep 3600", "--role",
                             "client");
    struct peer *p = peer_start(argv, NULL, tm_deadline_in(40000), NULL, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    peer_stop(p);
    json_decref(argv);
}
END_TEST

/* A peer that hangs after ready, for an hour: killed at the deadline, a timeout
 * result naming the kill (only the deadline can end the wait; the tcase timeout is
 * the hang guard). */
START_TEST(hung_peer_is_killed_at_deadline)
{
    struct tm_err err = { 0 };
    json_t *argv = json_pack("[s, s, s]", "/bin/sh", "-c",
                             "echo '{\"event\":\"ready\",\"addr\":\"127.0.0.1\",\"port\":1}'; exec sleep 3600");
    struct peer *p = peer_start(argv, NULL, tm_deadline_in(15000), NULL, &err);   /* its ready line */
    ck_assert_msg(p != NULL, "%s", err.msg);
    char ev[256];
    json_t *r = peer_finish(p, tm_deadline_in(500), NULL, ev, sizeof ev);
    ck_assert_str_eq(json_string_value(json_object_get(r, "handshake")), "timeout");
    ck_assert_msg(strstr(ev, "killed") != NULL, "%s", ev);
    json_decref(r);
    peer_stop(p);
    json_decref(argv);
}
END_TEST

/* A peer that dies after ready: no result, evidence names the signal. */
START_TEST(crashed_peer_evidence)
{
    struct tm_err err = { 0 };
    json_t *argv = json_pack("[s, s, s]", "/bin/sh", "-c",
                             "echo '{\"event\":\"ready\",\"port\":1}'; kill -SEGV $$");
    struct peer *p = peer_start(argv, NULL, tm_deadline_in(15000), NULL, &err);   /* its ready line */
    ck_assert_msg(p != NULL, "%s", err.msg);
    char ev[256];
    ck_assert_ptr_null(peer_finish(p, tm_deadline_in(15000), NULL, ev, sizeof ev));
    ck_assert_msg(strstr(ev, "signal 11") != NULL, "%s", ev);
    peer_stop(p);
    json_decref(argv);
    /* And one that exits before its ready line. */
    argv = json_pack("[s, s, s]", "/bin/sh", "-c", "exit 2");
    ck_assert_ptr_null(peer_start(argv, NULL, tm_deadline_in(15000), NULL, &err));
    ck_assert_msg(strstr(err.msg, "exited (code 2) before its ready line") != NULL, "%s", err.msg);
    json_decref(argv);
}
END_TEST

/* A server peer that cannot bind (the port is taken, as when the ephemeral range
 * is exhausted): the error says why, from the peer's own stderr line. */
START_TEST(busy_port_reason_reaches_the_user)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(fd, 1), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    char port[16], errpath[400];
    snprintf(port, sizeof port, "%d", ntohs(a.sin_port));
    snprintf(errpath, sizeof errpath, "%s/peer.stderr", tmpdir);
    struct tm_err err = { 0 };
    json_t *kase = client_case("openssl", "tls");
    json_object_del(json_object_get(kase, "peer"), "cert");
    json_object_set_new(json_object_get(kase, "peer"), "cert", json_string("p256-server.der"));
    struct peer_target t = { "127.0.0.1", NULL, 0, 5000 };
    json_t *argv = argv_of(kase, FX, &t, &err);
    json_array_set_new(argv, (size_t)find(argv, "--accept", 0) + 1, json_string(port));
    struct peer *p = peer_start(argv, errpath, tm_deadline_in(HANG_MS), NULL, &err);
    ck_assert_ptr_null(p);
    ck_assert_msg(strstr(err.msg, "before its ready line: ") != NULL
                  && strstr(err.msg, "Address already in use") != NULL, "%s", err.msg);
    json_decref(argv);
    json_decref(kase);
    close(fd);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("harness_peer");
    TCase *tc = tcase_create("peer");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 40);   /* above the 15 s waits for what must happen */
    tcase_add_test(tc, argv_from_case);
    tcase_add_test(tc, argv_sni_serve_fixtures);
    tcase_add_test(tc, shell_quoting);
    tcase_add_test(tc, client_peer_is_not_waited_for);
    tcase_add_test(tc, hung_peer_is_killed_at_deadline);
    tcase_add_test(tc, crashed_peer_evidence);
    if (access(TLSPEER, X_OK) == 0 && access(FX "/manifest.json", R_OK) == 0) {
        tcase_add_test(tc, real_tls_handshake);
        tcase_add_test(tc, busy_port_reason_reaches_the_user);
        tcase_add_test(tc, pooled_sessions_share_one_process);
        tcase_add_test(tc, pooled_bad_session_gets_fresh_process);
        if (access(TM_BIN_DIR "/udpproxy", X_OK) == 0)
            tcase_add_test(tc, real_dtls_handshake_through_proxy);
    } else {
        fprintf(stderr, "note: tlspeer or fixtures not built; handshake tests left out\n");
    }
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
