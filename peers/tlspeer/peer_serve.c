/* tlspeer --serve: one long-lived process runs many sessions, so a harness pays the
 * process start-up (most of a case's peer cost) once per worker, not once per case.
 * Each command line is a JSON array (the argv of a one-shot run, argv[0] included) or
 * {"argv": [...], "stderr": PATH}; the session runs through the same peer_session()
 * as a one-shot run, prints the same ready/result lines, then {"event":"done","exit":N}.
 * Parsed certificate and key files are kept between sessions (peer_pki.c).
 * EOF on the command channel ends the process with 0 (docs/contracts.md §2). */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "peer.h"

#define SERVE_LINE_MAX (1u << 20)
#define SERVE_ARGS_MAX 512

static void emit_done(int code, const char *error)
{
    json_t *j = json_pack("{s:s, s:i}", "event", "done", "exit", code);
    if (error != NULL)
        json_object_set_new(j, "error", json_string(error));
    json_dumpf(j, stdout, JSON_COMPACT);
    fputc('\n', stdout);
    fflush(stdout);
    json_decref(j);
}

/* The control channel: stdin, or an abstract Unix socket the harness listens on
 * (its spawner gives children /dev/null as stdin). */
static FILE *open_control(const char *spec, struct tm_err *err)
{
    if (spec == NULL || strcmp(spec, "-") == 0)
        return stdin;
    size_t n = strlen(spec);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (spec[0] != '@' || n < 2 || n > sizeof sa.sun_path) {
        tm_err_set(err, "--serve: control must be - or @NAME (abstract socket), not '%s'", spec);
        return NULL;
    }
    memcpy(sa.sun_path + 1, spec + 1, n - 1);   /* sun_path[0] = 0: abstract name */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa,
                          (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) != 0) {
        tm_err_set(err, "--serve %s: %s", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    FILE *f = fdopen(fd, "r");
    if (f == NULL) {
        tm_err_set(err, "--serve: %s", strerror(errno));
        close(fd);
    }
    return f;
}

/* argv of one session: the strings stay owned by the JSON value. */
static char **session_argv(const json_t *cmd, int *argc, const char **stderr_path,
                           struct tm_err *err)
{
    const json_t *arr = json_is_object(cmd) ? json_object_get(cmd, "argv") : cmd;
    *stderr_path = json_string_value(json_object_get(cmd, "stderr"));
    size_t n = json_array_size(arr);
    if (!json_is_array(arr) || n == 0 || n > SERVE_ARGS_MAX) {
        tm_err_set(err, "command: expected a JSON array of 1..%d strings or {\"argv\": [...]}",
                   SERVE_ARGS_MAX);
        return NULL;
    }
    char **v = calloc(n + 1, sizeof *v);
    for (size_t i = 0; v != NULL && i < n; i++) {
        v[i] = (char *)json_string_value(json_array_get(arr, i));
        if (v[i] == NULL) {
            tm_err_set(err, "command: argv[%zu] is not a string", i);
            free(v);
            return NULL;
        }
    }
    if (v == NULL)
        tm_err_set(err, "out of memory");
    *argc = (int)n;
    return v;
}

/* Point fd 2 at the session's file; returns the saved stderr (or -1 when unchanged). */
static int redirect_stderr(const char *path, struct tm_err *err)
{
    if (path == NULL)
        return -1;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return tm_err_set(err, "stderr %s: %s", path, strerror(errno)) - 1;
    fflush(stderr);
    int saved = fcntl(2, F_DUPFD_CLOEXEC, 3);
    /* Without a saved copy, stderr could not come back: later sessions would
     * write into this one's file. */
    if (saved < 0 || dup2(fd, 2) < 0) {
        int e = errno;
        if (saved >= 0)
            close(saved);
        close(fd);
        return tm_err_set(err, "stderr %s: %s", path, strerror(e)) - 1;
    }
    close(fd);
    return saved;
}

static void restore_stderr(int saved)
{
    if (saved < 0)
        return;
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
}

char **peer_serve_command(const char *line, json_t **cmd, int *argc, const char **stderr_path,
                          struct tm_err *err)
{
    json_error_t jerr;
    *cmd = json_loads(line, 0, &jerr);
    *stderr_path = NULL;
    *argc = 0;
    if (*cmd == NULL) {
        tm_err_set(err, "command: not JSON: %s", jerr.text);
        return NULL;
    }
    return session_argv(*cmd, argc, stderr_path, err);
}

static void serve_line(const char *line, struct peer_pki_cache *cache)
{
    struct tm_err err = { 0 };
    json_t *cmd = NULL;
    const char *errpath = NULL;
    int argc = 0;
    char **argv = peer_serve_command(line, &cmd, &argc, &errpath, &err);
    int saved = -1;
    if (argv != NULL && (saved = redirect_stderr(errpath, &err)) < -1) {
        free(argv);
        argv = NULL;
    }
    if (argv == NULL) {
        emit_done(2, err.msg);
    } else {
        int rc = peer_session(argc, argv, cache);
        restore_stderr(saved);
        emit_done(rc, NULL);
    }
    free(argv);
    json_decref(cmd);
}

int peer_serve(int argc, char **argv)
{
    struct tm_err err = { 0 };
    if (argc > 3) {
        fprintf(stderr, "tlspeer: usage: tlspeer --serve [-|@NAME]\n");
        return 2;
    }
    FILE *ctl = open_control(argc == 3 ? argv[2] : NULL, &err);
    if (ctl == NULL) {
        fprintf(stderr, "tlspeer: %s\n", err.msg);
        return 2;
    }
    char *line = malloc(SERVE_LINE_MAX + 2);
    struct peer_pki_cache *cache = peer_pki_cache_new();
    if (line == NULL || cache == NULL) {
        fprintf(stderr, "tlspeer: out of memory\n");
        free(line);
        peer_pki_cache_free(cache);
        if (ctl != stdin)
            fclose(ctl);
        return 2;
    }
    /* One session per line, ends at EOF. A line over the cap is refused and the
     * rest of it skipped, so memory stays bounded whatever comes in. */
    while (fgets(line, SERVE_LINE_MAX + 2, ctl) != NULL) {
        size_t n = strlen(line);
        int complete = n > 0 && line[n - 1] == '\n';
        if (complete)
            line[--n] = '\0';
        if (n > SERVE_LINE_MAX) {
            int c;
            while (!complete && (c = getc(ctl)) != EOF && c != '\n')
                ;
            emit_done(2, "command: line too long");
            continue;
        }
        if (n > 0)
            serve_line(line, cache);
    }
    free(line);
    peer_pki_cache_free(cache);
    if (ctl != stdin)
        fclose(ctl);
    return 0;
}
