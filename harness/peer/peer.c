/* tlspeer processes: argv from a case, start, ready line, result line, stop. */
#include "peer/peer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tm_proc.h"

#define LINE_MAX_BYTES (1u << 20)

struct peer {
    struct tm_proc proc;
    struct tm_lines lines;
    char addr[64];
    int port;
    json_t *early_result;   /* a result that came before (instead of) ready */
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

static int add_files(json_t *argv, const char *flag, const json_t *v, const char *fx,
                     struct tm_err *err)
{
    char path[1024];
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_string(v)) {
        peer_fixture_path(fx, json_string_value(v), path, sizeof path);
        add(argv, flag);
        return add(argv, path);
    }
    if (!json_is_array(v))
        return tm_err_set(err, "peer %s: expected a file name or a list of them", flag);
    size_t i;
    json_t *it;
    json_array_foreach(v, i, it) {
        if (!json_is_string(it))
            return tm_err_set(err, "peer %s[%zu]: expected a fixture file name", flag, i);
        peer_fixture_path(fx, json_string_value(it), path, sizeof path);
        add(argv, flag);
        add(argv, path);
    }
    return 0;
}

/* Any other key of the case's peer object is a tlspeer flag: `cookie: off` →
 * `--cookie off`, `no_tickets: true` → `--no-tickets`, lists repeat the flag;
 * null and false mean "not given" (send no SNI with `noservername: true`). */
static int add_generic(json_t *argv, const char *key, const json_t *v, struct tm_err *err)
{
    char flag[128];
    peer_flag_name(key, flag, sizeof flag);
    if (json_is_true(v))
        return add(argv, flag);
    if (json_is_false(v) || json_is_null(v))
        return 0;
    if (json_is_array(v)) {
        size_t i;
        json_t *it;
        json_array_foreach(v, i, it) {
            if (add_generic(argv, key, it, err) != 0)
                return -1;
        }
        return 0;
    }
    char buf[64];
    const char *s = json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        s = buf;
    } else if (json_is_real(v)) {
        snprintf(buf, sizeof buf, "%g", json_real_value(v));
        s = buf;
    }
    if (s == NULL)
        return tm_err_set(err, "peer.%s: expected a scalar or a list of scalars", key);
    add(argv, flag);
    return add(argv, s);
}

static const char *axis(const json_t *kase, const char *name, const char *dflt)
{
    const char *v = json_string_value(json_object_get(json_object_get(kase, "axes"), name));
    return v ? v : dflt;
}

json_t *peer_build_argv(const json_t *kase, const char *fx, const struct peer_target *t,
                        struct tm_err *err)
{
    const json_t *dev = json_object_get(kase, "device");
    const json_t *peer = json_object_get(kase, "peer");
    const char *drole = json_string_value(json_object_get(dev, "role"));
    int peer_server = drole == NULL || strcmp(drole, "server") != 0;
    json_t *argv = json_array();
    char prog[1024], buf[256];
    snprintf(prog, sizeof prog, "%s/tlspeer", TM_BIN_DIR);
    add(argv, prog);
    add(argv, "--backend");
    add(argv, axis(kase, "backend", "openssl"));
    add(argv, "--role");
    add(argv, peer_server ? "server" : "client");
    add(argv, "--proto");
    add(argv, axis(kase, "proto", "tls"));
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
    if (add_files(argv, "--cert", json_object_get(peer, "cert"), fx, err) != 0
        || add_files(argv, "--key", json_object_get(peer, "key"), fx, err) != 0
        || add_files(argv, "--CAfile", json_object_get(peer, "ca"), fx, err) != 0)
        goto fail;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)peer, key, v) {
        if (strcmp(key, "cert") == 0 || strcmp(key, "key") == 0 || strcmp(key, "ca") == 0
            || strcmp(key, "args") == 0)
            continue;
        if (add_generic(argv, key, v, err) != 0)
            goto fail;
    }
    if (strcmp(axis(kase, "proto", "tls"), "tls") == 0)
        add(argv, "--nodelay");   /* the run header records tcp_nodelay: true */
    snprintf(buf, sizeof buf, "%d", t->timeout_ms);
    add(argv, "--timeout");
    add(argv, buf);
    size_t i;
    json_array_foreach(json_object_get(peer, "args"), i, v) {
        if (!json_is_string(v)) {
            tm_err_set(err, "peer.args[%zu]: expected a string", i);
            goto fail;
        }
        add(argv, json_string_value(v));
    }
    return argv;
fail:
    json_decref(argv);
    return NULL;
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

/* Only a server announces itself (contracts §2): waiting for a client's ready
 * line would stall a case whose device finishes before the client speaks. */
static int is_client(const json_t *argv)
{
    for (size_t i = 0; i + 1 < json_array_size(argv); i++)
        if (strcmp(json_string_value(json_array_get(argv, i)) ?: "", "--role") == 0)
            return strcmp(json_string_value(json_array_get(argv, i + 1)) ?: "", "client") == 0;
    return 0;
}

static void note(json_t *transcript, const char *line)
{
    if (transcript != NULL)
        json_array_append_new(transcript, json_string(line));
}

struct peer *peer_start(const json_t *argv, const char *stderr_path, tm_ms deadline,
                        json_t *transcript, struct tm_err *err)
{
    struct peer *p = calloc(1, sizeof *p);
    char **v = peer_argv_from_json(argv);
    if (p == NULL || v == NULL) {
        free(p);
        free(v);
        tm_err_set(err, "out of memory");
        return NULL;
    }
    p->proc.pid = -1;
    int rc = tm_proc_spawn(&p->proc, v, stderr_path, err);
    free(v);
    if (rc != 0) {
        free(p);
        return NULL;
    }
    tm_lines_init(&p->lines, p->proc.out_fd, LINE_MAX_BYTES);
    if (is_client(argv))
        return p;
    for (int guard = 0; guard < 1000; guard++) {
        char *line = NULL;
        int r = tm_lines_read(&p->lines, deadline, &line, err);
        if (r != 1) {
            if (r == 0)
                tm_err_set(err, "tlspeer printed no ready line before the deadline");
            else if (r == -1) {
                tm_proc_wait(&p->proc, tm_deadline_in(1000));
                tm_err_set(err, "tlspeer exited (code %d) before its ready line",
                           tm_proc_exit_code(&p->proc));
            }
            break;
        }
        note(transcript, line);
        json_t *j = json_loads(line, 0, NULL);
        free(line);
        const char *ev = json_string_value(json_object_get(j, "event"));
        if (ev != NULL && strcmp(ev, "ready") == 0) {
            snprintf(p->addr, sizeof p->addr, "%s",
                     json_string_value(json_object_get(j, "addr")) ?: "127.0.0.1");
            p->port = (int)json_integer_value(json_object_get(j, "port"));
            json_decref(j);
            return p;
        }
        if (ev != NULL && strcmp(ev, "result") == 0) {
            p->early_result = j;
            return p;
        }
        json_decref(j);
    }
    peer_stop(p);
    return NULL;
}

const char *peer_addr(const struct peer *p)
{
    return p->addr;
}

int peer_port(const struct peer *p)
{
    return p->port;
}

static void describe_exit(struct peer *p, char *evidence, size_t evlen)
{
    if (tm_proc_wait(&p->proc, tm_deadline_in(1000)) != 0) {
        snprintf(evidence, evlen, "tlspeer closed its output without a result and kept running");
        return;
    }
    int st = p->proc.status;
    if (WIFSIGNALED(st))
        snprintf(evidence, evlen, "tlspeer killed by signal %d without a result", WTERMSIG(st));
    else
        snprintf(evidence, evlen, "tlspeer exited with code %d without a result",
                 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

json_t *peer_finish(struct peer *p, tm_ms deadline, json_t *transcript, char *evidence,
                    size_t evlen)
{
    evidence[0] = '\0';
    if (p->early_result != NULL) {
        json_t *r = p->early_result;
        p->early_result = NULL;
        return r;
    }
    for (int guard = 0; guard < 10000; guard++) {
        char *line = NULL;
        struct tm_err err;
        int r = tm_lines_read(&p->lines, deadline, &line, &err);
        if (r == 0) {
            snprintf(evidence, evlen, "tlspeer reported nothing before the deadline; killed (pid %d)",
                     (int)p->proc.pid);
            tm_proc_stop(&p->proc, 200);
            return json_pack("{s:s, s:s, s:s}", "event", "result", "handshake", "timeout",
                             "harness_note", evidence);
        }
        if (r < 0) {
            if (r == -2)
                note(transcript, err.msg);
            describe_exit(p, evidence, evlen);
            return NULL;
        }
        note(transcript, line);
        json_t *j = json_loads(line, 0, NULL);
        free(line);
        const char *ev = json_string_value(json_object_get(j, "event"));
        if (ev != NULL && strcmp(ev, "result") == 0)
            return j;
        json_decref(j);
    }
    snprintf(evidence, evlen, "tlspeer printed too many lines without a result");
    return NULL;
}

void peer_stop(struct peer *p)
{
    if (p == NULL)
        return;
    tm_proc_stop(&p->proc, 300);
    tm_lines_free(&p->lines);
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
