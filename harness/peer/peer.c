/* tlspeer processes: argv from a case, start, ready line, result line, stop. */
#include "peer/peer.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tm_proc.h"

#define LINE_MAX_BYTES (1u << 20)
#define DONE_WAIT_MS 2000   /* result → done: the session only frees its state */
/* After the result deadline, the waits that end a session (its done line, the
 * release of a waiting server) take at most this: the case's hard bound. */
#define STOP_GRACE_MS 400

/* One `tlspeer --serve` process (contracts §2): sessions are sent as JSON lines
 * on an abstract Unix socket (tm_proc gives children /dev/null as stdin), the
 * ready/result/done lines come back on its stdout. */
struct peer_pool {
    struct tm_proc proc;
    struct tm_lines lines;
    int ctl;            /* connected control socket; -1: no process running */
    char prog[1024];    /* the tlspeer it runs (argv[0] of the sessions) */
};

struct peer {
    struct tm_proc own_proc;
    struct tm_lines own_lines;
    struct tm_proc *proc;       /* own_proc, or the pool's */
    struct tm_lines *lines;
    struct peer_pool *pool;     /* NULL: a one-shot process */
    int open;                   /* pooled: the session's done line is still due */
    int poisoned;               /* pooled: the process said something it should not */
    int tls_server;             /* pooled: a TLS server session (can be released) */
    char addr[64];
    int port;
    json_t *early_result;   /* a result that came before (instead of) ready */
    int unresponsive;       /* the process was stopped when its result was due */
};

void peer_fixture_path(const char *fixtures_dir, const char *name, char *out, size_t outlen)
{
    if (strchr(name, '/') != NULL)
        snprintf(out, outlen, "%s", name);
    else
        snprintf(out, outlen, "%s/%s", fixtures_dir, name);
}

static int add(json_t *argv, const char *s)
{
    return json_array_append_new(argv, json_string(s));
}

/* flag FILE for each fixture name, resolved in the fixtures dir. */
static void add_files(json_t *argv, const char *flag, char *const *names, size_t n,
                      const char *fx)
{
    char path[1024];
    for (size_t i = 0; i < n; i++) {
        peer_fixture_path(fx, names[i], path, sizeof path);
        add(argv, flag);
        add(argv, path);
    }
}

/* on_sni/on_sni_missing: the files of serve=CHAINFILE[,KEY] are fixtures, as cert is;
 * other actions go as they are. */
static void add_sni_action(json_t *argv, const char *v, const char *fx)
{
    const char *serve = strstr(v, "serve=");
    if (serve == NULL || (serve != v && serve[-1] != ':')) {
        add(argv, v);
        return;
    }
    const char *files = serve + 6, *comma = strchr(files, ',');
    char chain[2048], key[2048] = "", name[1024], out[4400];
    snprintf(name, sizeof name, "%.*s", (int)(comma ? comma - files : (long)strlen(files)), files);
    peer_fixture_path(fx, name, chain, sizeof chain);
    if (comma != NULL)
        peer_fixture_path(fx, comma + 1, key, sizeof key);
    snprintf(out, sizeof out, "%.*s%s%s%s", (int)(files - v), v, chain, comma ? "," : "", key);
    add(argv, out);
}

json_t *peer_build_argv(const struct tm_case *c, const char *fx, const struct peer_target *t,
                        struct tm_err *err)
{
    const struct case_peer *p = &c->peer;
    int peer_server = c->device.role != CASE_SERVER;
    json_t *argv = json_array();
    char prog[1024], buf[256];
    if (argv == NULL)
        return tm_err_setc(err, TM_E_NOMEM, "out of memory"), NULL;
    snprintf(prog, sizeof prog, "%s/tlspeer", TM_BIN_DIR);
    add(argv, prog);
    add(argv, "--backend");
    add(argv, case_enum_name(&case_backend_names, c->backend));
    add(argv, "--role");
    add(argv, peer_server ? "server" : "client");
    add(argv, "--proto");
    add(argv, case_enum_name(&case_proto_names, c->proto));
    if (peer_server) {
        add(argv, "--accept");
        add(argv, "0");
        add(argv, "--bind");
        add(argv, t->bind ? t->bind : "127.0.0.1");
    } else {
        snprintf(buf, sizeof buf, strchr(t->host, ':') ? "[%s]:%d" : "%s:%d", t->host, t->port);
        add(argv, "--connect");
        add(argv, buf);
    }
    add_files(argv, "--cert", p->cert, p->ncert, fx);
    add_files(argv, "--key", &p->key, p->key != NULL, fx);
    add_files(argv, "--CAfile", p->ca, p->nca, fx);
    /* Other keys are tlspeer flags: `cookie: off` → `--cookie off`,
     * `no_tickets: true` → `--no-tickets` (value NULL). */
    for (size_t i = 0; i < p->nflags; i++) {
        char flag[128];
        peer_flag_name(p->flags[i].key, flag, sizeof flag);
        if (strcmp(p->flags[i].key, "send_file") == 0 && p->flags[i].value != NULL) {
            add_files(argv, flag, &p->flags[i].value, 1, fx);   /* a fixture, as cert is */
            continue;
        }
        if (strncmp(p->flags[i].key, "on_sni", 6) == 0 && p->flags[i].value != NULL) {
            add(argv, flag);
            add_sni_action(argv, p->flags[i].value, fx);
            continue;
        }
        add(argv, flag);
        if (p->flags[i].value != NULL)
            add(argv, p->flags[i].value);
    }
    if (c->proto == CASE_TLS)
        add(argv, "--nodelay");   /* the run header records tcp_nodelay: true */
    snprintf(buf, sizeof buf, "%d", t->timeout_ms);
    add(argv, "--timeout");
    add(argv, buf);
    for (size_t i = 0; i < p->nargs; i++)
        add(argv, p->args[i]);
    return argv;
}

void peer_flag_name(const char *key, char *flag, size_t n)
{
    snprintf(flag, n, "--%s", key);
    for (char *c = flag; *c; c++)
        if (*c == '_')
            *c = '-';
}

char **peer_argv_from_json(const json_t *argv)
{
    size_t n = json_array_size(argv);
    char **v = calloc(n + 1, sizeof *v);
    for (size_t i = 0; v != NULL && i < n; i++)
        v[i] = (char *)json_string_value(json_array_get(argv, i));
    return v;
}

/* The value after the first `flag` in argv ("" when absent). */
static const char *arg_after(const json_t *argv, const char *flag)
{
    for (size_t i = 0; i + 1 < json_array_size(argv); i++)
        if (strcmp(json_string_value(json_array_get(argv, i)) ?: "", flag) == 0)
            return json_string_value(json_array_get(argv, i + 1)) ?: "";
    return "";
}

/* Only a server announces itself (contracts §2): waiting for a client's ready
 * line would stall a case whose device finishes before the client speaks. */
static int is_client(const json_t *argv)
{
    return strcmp(arg_after(argv, "--role"), "client") == 0;
}

static void note(json_t *transcript, const char *line)
{
    if (transcript != NULL)
        json_array_append_new(transcript, json_string(line));
}

static struct peer *peer_new(void)
{
    struct peer *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->own_proc.pid = -1;
    p->own_proc.out_fd = -1;
    p->proc = &p->own_proc;
    p->lines = &p->own_lines;
    return p;
}

/* A line of a pooled session that ends it: {"event":"done","exit":N}. */
static int is_done(const json_t *j, int *code)
{
    const char *ev = json_string_value(json_object_get(j, "event"));
    if (ev == NULL || strcmp(ev, "done") != 0)
        return 0;
    *code = (int)json_integer_value(json_object_get(j, "exit"));
    return 1;
}

/* ": LAST LINE" of the peer's stderr file into out ("" when there is none): why a
 * peer exited early (bind: Address already in use) is said there, not on stdout. */
static void stderr_tail(const char *path, char *out, size_t len)
{
    char buf[1024];
    out[0] = '\0';
    int fd = path ? open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC) : -1;
    if (fd < 0)
        return;
    off_t end = lseek(fd, 0, SEEK_END);
    off_t from = end > (off_t)sizeof buf - 1 ? end - (off_t)sizeof buf + 1 : 0;
    ssize_t n = end > 0 ? pread(fd, buf, sizeof buf - 1, from) : 0;
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    const char *last = strrchr(buf, '\n') ? strrchr(buf, '\n') + 1 : buf;
    if (*last != '\0')
        snprintf(out, len, ": %.200s", last);
}

/* The server's ready line (or a result or, pooled, the session's end before it). */
static int wait_ready(struct peer *p, const char *stderr_path, tm_ms deadline,
                      json_t *transcript, struct tm_err *err)
{
    char why[300];
    for (int guard = 0; guard < 1000; guard++) {
        char *line = NULL;
        int r = tm_lines_read(p->lines, deadline, &line, err), code;
        if (r != 1) {
            if (r == 0 && tm_proc_stopped(p->proc))
                tm_err_setc(err, TM_E_TIMEOUT, "peer stopped answering: tlspeer (pid %d) is "
                            "stopped; no ready line before the deadline", (int)p->proc->pid);
            else if (r == 0)
                tm_err_setc(err, TM_E_TIMEOUT, "tlspeer printed no ready line before the deadline");
            else if (r == -1) {
                tm_proc_wait(p->proc, tm_deadline_in(1000));
                stderr_tail(stderr_path, why, sizeof why);
                tm_err_set(err, "tlspeer exited (code %d) before its ready line%s",
                           tm_proc_exit_code(p->proc), why);
            }
            return -1;
        }
        json_t *j = json_loads(line, 0, NULL);
        if (p->pool != NULL && is_done(j, &code)) {
            p->open = 0;   /* the session ended cleanly, as a one-shot exit would */
            stderr_tail(stderr_path, why, sizeof why);
            tm_err_set(err, "tlspeer exited (code %d) before its ready line%s", code, why);
            json_decref(j);
            free(line);
            return -1;
        }
        note(transcript, line);
        free(line);
        p->poisoned |= p->pool != NULL && j == NULL;
        const char *ev = json_string_value(json_object_get(j, "event"));
        if (ev != NULL && strcmp(ev, "ready") == 0) {
            snprintf(p->addr, sizeof p->addr, "%s",
                     json_string_value(json_object_get(j, "addr")) ?: "127.0.0.1");
            p->port = (int)json_integer_value(json_object_get(j, "port"));
            json_decref(j);
            return 0;
        }
        if (ev != NULL && strcmp(ev, "result") == 0) {
            p->early_result = j;
            return 0;
        }
        json_decref(j);
    }
    return tm_err_set(err, "tlspeer printed too many lines without a ready line");
}

struct peer *peer_start(const json_t *argv, const char *stderr_path, tm_ms deadline,
                        json_t *transcript, struct tm_err *err)
{
    struct peer *p = peer_new();
    char **v = peer_argv_from_json(argv);
    if (p == NULL || v == NULL) {
        free(p);
        free(v);
        tm_err_set(err, "out of memory");
        return NULL;
    }
    int rc = tm_proc_spawn(&p->own_proc, v, stderr_path, err);
    free(v);
    if (rc != 0) {
        free(p);
        return NULL;
    }
    tm_lines_init(&p->own_lines, p->own_proc.out_fd, LINE_MAX_BYTES);
    if (is_client(argv) || wait_ready(p, stderr_path, deadline, transcript, err) == 0)
        return p;
    peer_stop(p);
    return NULL;
}

struct peer_pool *peer_pool_new(void)
{
    struct peer_pool *pool = calloc(1, sizeof *pool);
    if (pool != NULL) {
        pool->ctl = -1;
        pool->proc.pid = -1;
        pool->proc.out_fd = -1;
    }
    return pool;
}

/* Kill the serve process (a bad session must not reach the next case). */
static void pool_stop(struct peer_pool *pool)
{
    if (pool->ctl < 0)
        return;
    close(pool->ctl);   /* EOF: an idle tlspeer exits 0 on its own */
    pool->ctl = -1;
    tm_proc_stop(&pool->proc, 300);
    tm_lines_free(&pool->lines);
}

void peer_pool_free(struct peer_pool *pool)
{
    if (pool == NULL)
        return;
    pool_stop(pool);
    free(pool);
}

/* Abstract Unix socket with a kernel-chosen name (autobind): nothing on disk. */
static int control_listen(char *name, size_t namelen, struct tm_err *err)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    socklen_t len = sizeof(sa_family_t);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, len) != 0 || listen(fd, 1) != 0) {
        tm_err_set(err, "control socket: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    size_t n = len - offsetof(struct sockaddr_un, sun_path);
    snprintf(name, namelen, "@%.*s", (int)(n > 1 ? n - 1 : 0), sa.sun_path + 1);
    return fd;
}

/* Accept the serve process's connection, and only from it (SO_PEERCRED). */
static int control_accept(struct peer_pool *pool, int lfd, tm_ms deadline, struct tm_err *err)
{
    for (int guard = 0; guard < 100000; guard++) {
        struct pollfd pf[2] = { { lfd, POLLIN, 0 }, { pool->proc.out_fd, POLLIN, 0 } };
        int64_t left = tm_remaining_ms(deadline);
        if (left == 0)
            return tm_err_set(err, "tlspeer --serve did not connect before the deadline");
        if (poll(pf, 2, (int)(left > 1000 ? 1000 : left)) < 0 && errno != EINTR)
            return tm_err_set(err, "poll: %s", strerror(errno));
        if (pf[1].revents & (POLLIN | POLLHUP))
            return tm_err_set(err, "tlspeer --serve ended before connecting (see stderr)");
        if (!(pf[0].revents & POLLIN))
            continue;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        struct ucred uc;
        socklen_t ul = sizeof uc;
        if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) == 0
            && uc.pid == pool->proc.pid) {
            pool->ctl = fd;
            return 0;
        }
        if (fd >= 0)
            close(fd);
    }
    return tm_err_set(err, "control socket: too many stray connections");
}

static int pool_spawn(struct peer_pool *pool, const char *prog, tm_ms deadline,
                      struct tm_err *err)
{
    char name[128];
    int lfd = control_listen(name, sizeof name, err);
    if (lfd < 0)
        return -1;
    char *v[] = { (char *)prog, "--serve", name, NULL };
    if (tm_proc_spawn(&pool->proc, v, NULL, err) != 0) {
        close(lfd);
        return -1;
    }
    int rc = control_accept(pool, lfd, deadline, err);
    close(lfd);
    if (rc != 0) {
        tm_proc_stop(&pool->proc, 300);
        return -1;
    }
    tm_lines_init(&pool->lines, pool->proc.out_fd, LINE_MAX_BYTES);
    snprintf(pool->prog, sizeof pool->prog, "%s", prog);
    return 0;
}

static int send_all(int fd, const char *s, size_t n)
{
    while (n > 0) {   /* bounded: every round sends at least one byte */
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Hand one session to the serve process, starting one when none runs (or the
 * running one has gone away: one fresh start, then give up). */
static int pool_submit(struct peer_pool *pool, const json_t *argv, const char *stderr_path,
                       tm_ms deadline, struct tm_err *err)
{
    const char *prog = json_string_value(json_array_get(argv, 0)) ?: "tlspeer";
    json_t *cmd = json_pack("{s:O}", "argv", argv);
    if (stderr_path != NULL)
        json_object_set_new(cmd, "stderr", json_string(stderr_path));
    char *line = json_dumps(cmd, JSON_COMPACT);
    json_decref(cmd);
    if (line == NULL)
        return tm_err_set(err, "out of memory");
    int rc = -1;
    for (int attempt = 0; attempt < 2 && rc != 0; attempt++) {
        /* Another tlspeer, or the process died since its last session: start anew. */
        if (pool->ctl >= 0 && (strcmp(pool->prog, prog) != 0
                               || tm_proc_wait(&pool->proc, tm_deadline_in(0)) == 0))
            pool_stop(pool);
        if (pool->ctl < 0 && pool_spawn(pool, prog, deadline, err) != 0)
            break;
        rc = send_all(pool->ctl, line, strlen(line)) == 0 && send_all(pool->ctl, "\n", 1) == 0
             ? 0 : -1;
        if (rc != 0) {
            tm_err_set(err, "tlspeer --serve: %s", strerror(errno));
            pool_stop(pool);
        }
    }
    free(line);
    return rc;
}

/* --misbehave sessions stay one-shot: whatever they leave behind dies with them. */
static int has_flag(const json_t *argv, const char *flag)
{
    for (size_t i = 0; i < json_array_size(argv); i++)
        if (strcmp(json_string_value(json_array_get(argv, i)) ?: "", flag) == 0)
            return 1;
    return 0;
}

struct peer *peer_start_pooled(struct peer_pool *pool, const json_t *argv,
                               const char *stderr_path, tm_ms deadline, json_t *transcript,
                               struct tm_err *err)
{
    if (pool == NULL || has_flag(argv, "--misbehave"))
        return peer_start(argv, stderr_path, deadline, transcript, err);
    struct peer *p = peer_new();
    if (p == NULL) {
        tm_err_set(err, "out of memory");
        return NULL;
    }
    p->pool = pool;
    p->proc = &pool->proc;
    p->lines = &pool->lines;
    if (pool_submit(pool, argv, stderr_path, deadline, err) != 0) {
        free(p);
        return NULL;
    }
    p->open = 1;
    p->tls_server = !is_client(argv) && strcmp(arg_after(argv, "--proto"), "dtls") != 0;
    if (is_client(argv) || wait_ready(p, stderr_path, deadline, transcript, err) == 0)
        return p;
    peer_stop(p);
    return NULL;
}

/* After the result: the done line closes the session; anything else (no done,
 * a failed exit, a line that was not JSON) retires the process. */
static void end_session(struct peer *p, tm_ms until)
{
    if (p->pool == NULL || !p->open)
        return;
    for (int guard = 0; guard < 100; guard++) {
        char *line = NULL;
        struct tm_err err;
        int code;
        if (tm_lines_read(p->lines, until, &line, &err) != 1)
            return;
        json_t *j = json_loads(line, 0, NULL);
        free(line);
        int done = is_done(j, &code);
        json_decref(j);
        if (done) {
            p->open = code != 0;   /* a result then a failure exit is not a clean end */
            return;
        }
        p->poisoned = 1;
    }
}

int peer_unresponsive(const struct peer *p)
{
    return p->unresponsive;
}

int peer_pid(const struct peer *p)
{
    return (int)p->proc->pid;
}

const char *peer_addr(const struct peer *p)
{
    return p->addr;
}

int peer_port(const struct peer *p)
{
    return p->port;
}

static void describe_exit(struct peer *p, tm_ms until, char *evidence, size_t evlen)
{
    if (tm_proc_wait(p->proc, until) != 0) {
        snprintf(evidence, evlen, "tlspeer closed its output without a result and kept running");
        return;
    }
    int st = p->proc->status;
    if (WIFSIGNALED(st))
        snprintf(evidence, evlen, "tlspeer killed by signal %d without a result", WTERMSIG(st));
    else
        snprintf(evidence, evlen, "tlspeer exited with code %d without a result",
                 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* A pooled TLS server still waiting for a device that never came: connect to it
 * and hang up, so its session ends (a failed handshake nobody reads) and the
 * process can serve the next case instead of being killed and started again.
 * 0 when the session ended cleanly. */
static int release_waiting_server(struct peer *p, tm_ms until)
{
    if (p->pool == NULL || !p->tls_server || p->port <= 0 || p->early_result != NULL)
        return -1;
    struct sockaddr_storage ss = { 0 };
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    socklen_t len;
    if (inet_pton(AF_INET, p->addr, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)p->port);
        if (a4->sin_addr.s_addr == htonl(INADDR_ANY))
            a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a4;
    } else if (inet_pton(AF_INET6, p->addr, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)p->port);
        if (IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr))
            a6->sin6_addr = in6addr_loopback;
        len = sizeof *a6;
    } else {
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int rc = connect(fd, (struct sockaddr *)&ss, len);
    close(fd);
    if (rc != 0)
        return -1;
    for (int guard = 0; guard < 100; guard++) {
        char *line = NULL;
        struct tm_err err;
        if (tm_lines_read(p->lines, until, &line, &err) != 1)
            return -1;
        json_t *j = json_loads(line, 0, NULL);
        free(line);
        const char *ev = json_string_value(json_object_get(j, "event"));
        int result = ev != NULL && strcmp(ev, "result") == 0;
        json_decref(j);
        if (result) {
            end_session(p, until);
            return p->open || p->poisoned ? -1 : 0;
        }
    }
    return -1;
}

json_t *peer_finish(struct peer *p, tm_ms deadline, json_t *transcript, char *evidence,
                    size_t evlen)
{
    evidence[0] = '\0';
    tm_ms stop_by = tm_deadline_in(DONE_WAIT_MS);
    if (stop_by > deadline + STOP_GRACE_MS)
        stop_by = deadline + STOP_GRACE_MS;
    if (p->early_result != NULL) {
        json_t *r = p->early_result;
        p->early_result = NULL;
        end_session(p, stop_by);
        return r;
    }
    for (int guard = 0; guard < 10000; guard++) {
        char *line = NULL;
        struct tm_err err;
        int r = tm_lines_read(p->lines, deadline, &line, &err);
        if (r == 0) {
            const char *how = "killed";
            /* A stopped process (SIGSTOP, a debugger) is no answer from the peer's
             * stack: the case is the harness's error, not the device's verdict. */
            p->unresponsive = tm_proc_stopped(p->proc);
            if (p->unresponsive)
                how = "it was stopped; killed";
            if (p->pool == NULL)
                tm_proc_stop(p->proc, 200);
            else if (!p->unresponsive && release_waiting_server(p, stop_by) == 0)
                how = "session released, process kept";
            else
                pool_stop(p->pool);
            snprintf(evidence, evlen, "tlspeer reported nothing before the deadline; %s (pid %d)",
                     how, (int)p->proc->pid);
            return json_pack("{s:s, s:s, s:s}", "event", "result", "handshake", "timeout",
                             "harness_note", evidence);
        }
        if (r < 0) {
            if (r == -2)
                note(transcript, err.msg);
            describe_exit(p, stop_by, evidence, evlen);
            if (p->pool != NULL)
                pool_stop(p->pool);
            return NULL;
        }
        json_t *j = json_loads(line, 0, NULL);
        int code;
        if (p->pool != NULL && is_done(j, &code)) {
            /* The session ended without a result: as a one-shot exit would. */
            p->open = 0;
            snprintf(evidence, evlen, "tlspeer exited with code %d without a result", code);
            json_decref(j);
            free(line);
            return NULL;
        }
        note(transcript, line);
        free(line);
        p->poisoned |= p->pool != NULL && j == NULL;
        const char *ev = json_string_value(json_object_get(j, "event"));
        if (ev != NULL && strcmp(ev, "result") == 0) {
            end_session(p, stop_by);
            return j;
        }
        json_decref(j);
    }
    snprintf(evidence, evlen, "tlspeer printed too many lines without a result");
    return NULL;
}

void peer_stop(struct peer *p)
{
    if (p == NULL)
        return;
    if (p->pool == NULL) {
        tm_proc_stop(p->proc, 300);
        tm_lines_free(p->lines);
    } else if (p->open || p->poisoned) {
        pool_stop(p->pool);   /* the session is unfinished: its state must not carry over */
    }
    json_decref(p->early_result);
    free(p);
}

/* POSIX shell single quotes, so a replay line pastes into a terminal as is. */
char *peer_argv_string(const json_t *argv)
{
    size_t cap = 64, len = 0, i;
    json_t *v;
    json_array_foreach(argv, i, v) cap += strlen(json_string_value(v) ?: "") * 4 + 3;
    char *s = malloc(cap);
    if (s == NULL)
        return NULL;
    s[0] = '\0';
    json_array_foreach(argv, i, v) {
        const char *a = json_string_value(v) ?: "";
        int plain = a[0] != '\0' && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                            "0123456789-_./:=,+@%") == strlen(a);
        if (i)
            s[len++] = ' ';
        if (plain) {
            len += (size_t)sprintf(s + len, "%s", a);
            continue;
        }
        s[len++] = '\'';
        for (const char *c = a; *c; c++) {
            if (*c == '\'') {
                memcpy(s + len, "'\\''", 4);
                len += 4;
            } else
                s[len++] = *c;
        }
        s[len++] = '\'';
        s[len] = '\0';
    }
    return s;
}
