/* Peer processes: tlspeer (the OpenSSL/GnuTLS side of a case) and udpproxy or
 * tcpproxy (DTLS/TLS impairment between device and peer), started and stopped by
 * pid with deadlines (docs/contracts.md §2). All output lines go to the caller's
 * transcript array. */
#ifndef TM_PEER_H
#define TM_PEER_H

#include <jansson.h>

#include "case/case.h"
#include "tm_err.h"
#include "tm_time.h"

struct peer;
struct peer_pool;
struct proxy;

struct peer_target {
    const char *bind;       /* peer server: address to bind */
    const char *host;       /* peer client: device address */
    int port;               /* peer client: device (or proxy) port */
    int timeout_ms;         /* tlspeer --timeout */
};

/* Resolve a fixture name: absolute or relative paths with a '/' as given, bare
 * names inside fixtures_dir. out must hold 1024 bytes. */
void peer_fixture_path(const char *fixtures_dir, const char *name, char *out, size_t outlen);

/* tlspeer argv (JSON array of strings, argv[0] the program) for a case: the
 * peer's role is the opposite of the device's, backend and proto come from the
 * axes, cert/key/ca from the fixtures dir, other peer keys become --flags. */
json_t *peer_build_argv(const struct tm_case *c, const char *fixtures_dir,
                        const struct peer_target *t, struct tm_err *err);

/* Start tlspeer; a server is waited for until its ready line (deadline), a
 * client prints none and is returned at once. stderr goes to stderr_path (may
 * be NULL). */
struct peer *peer_start(const json_t *argv, const char *stderr_path, tm_ms deadline,
                        json_t *transcript, struct tm_err *err);

/* A long-lived `tlspeer --serve` (contracts §2) that runs the sessions of one
 * worker, so a case does not pay a process start. Not thread-safe: one per worker.
 * The process starts with the first session; freeing the pool stops it. */
struct peer_pool *peer_pool_new(void);
void peer_pool_free(struct peer_pool *pool);
/* peer_start through the pool: same argv, same lines, same results. Sessions with
 * --misbehave (and pool NULL) get a one-shot process. A session that does not end
 * cleanly (no result before the deadline, crash, a line that is not JSON, a done
 * line with a non-zero exit, peer_stop before the end) retires the serve process;
 * the next session starts a fresh one. */
struct peer *peer_start_pooled(struct peer_pool *pool, const json_t *argv,
                               const char *stderr_path, tm_ms deadline, json_t *transcript,
                               struct tm_err *err);
const char *peer_addr(const struct peer *p);
/* The process running the session (the pool's for a pooled one). */
int peer_pid(const struct peer *p);
int peer_port(const struct peer *p);

/* Collect the result line. Returns it (caller owns); on a hang the process is
 * killed and a result with handshake "timeout" is synthesised (field
 * "harness_note" says so); on a crash (exit without a result) NULL is returned
 * and evidence says how it ended. The peer is stopped either way, and the waits
 * that end its session take at most 400 ms past the deadline. */
json_t *peer_finish(struct peer *p, tm_ms deadline, json_t *transcript, char *evidence,
                    size_t evlen);
/* 1 when peer_finish found the process stopped (SIGSTOP) instead of answering:
 * an infrastructure error, not a result of the peer's stack. */
int peer_unresponsive(const struct peer *p);
/* Stop (SIGTERM, then SIGKILL) and free; safe on NULL and after peer_finish. */
void peer_stop(struct peer *p);

/* udpproxy (DTLS) or tcpproxy (TLS) listening on listen_host (a free port)
 * between a client and server_host:server_port; spec is the case's "proxy" object
 * (case_proxy_keys: drop, dup, … for udpproxy; at, do for tcpproxy; seed for
 * both). The proxy's log goes to log_path. */
struct proxy *proxy_start(const json_t *spec, const char *listen_host,
                          const char *server_host, int server_port,
                          const char *log_path, int timeout_ms, tm_ms deadline,
                          json_t *transcript, struct tm_err *err);
int proxy_port(const struct proxy *x);
/* Stop it and append its log lines to transcript (may be NULL). */
void proxy_stop(struct proxy *x, json_t *transcript);

/* "--KEY" with '_' turned into '-': how scenario keys name tlspeer/udpproxy flags. */
void peer_flag_name(const char *key, char *flag, size_t n);

/* A NULL-terminated char* view of a JSON array of strings, for execvp; the
 * strings stay owned by argv. Caller frees the array only. */
char **peer_argv_from_json(const json_t *argv);

/* Render an argv array as one shell-quoted command line (caller frees). */
char *peer_argv_string(const json_t *argv);

#endif
