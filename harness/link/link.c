/* Link dispatch and the fd-based I/O every link kind shares: serial ports (via
 * libserialport's handle), TCP sockets and pseudo-terminal masters are all file
 * descriptors, so reading with a deadline is one poll loop. */
#include "link/link.h"
#include "link_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tm_fs.h"
#include "tm_proc.h"

#define VCAM_CHECK_MS 10000
#define KINDS "serial:PATH, PATH, serial:id=SERIAL, auto, tcp:HOST:PORT, rfc2217:HOST:PORT, exec:CMD, " \
              "exec-agent:CMD, virtual[:ARGS]"

/* The argument after a kind's prefix, or NULL when spec is not of that kind. */
static const char *after(const char *spec, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(spec, prefix, n) == 0 ? spec + n : NULL;
}

/* virtual[:ARGS] as the exec command line it stands for (extra: vcam's own flag). */
static void virtual_command(const char *spec, const char *extra, char *cmd, size_t len)
{
    snprintf(cmd, len, "%s/vcam %s %s", TM_BIN_DIR, extra, spec[7] == ':' ? spec + 8 : "");
}

int link_spec_check(const char *spec, struct tm_err *err)
{
    static const struct {
        const char *prefix;
        int (*check)(const char *arg, struct tm_err *err);
    } kinds[] = { { "serial:", link_serial_check }, { "tcp:", link_tcp_check },
                  { "rfc2217:", link_rfc2217_check },
                  { "exec:", link_exec_check },
                  { "exec-agent:", link_exec_check } };
    if (strcmp(spec, "auto") == 0)
        return 0;   /* which board it is: link_preflight and link_open look */
    if (spec[0] == '/')
        return link_serial_check(spec, err) == 0 ? 0 : tm_err_prefix(err, "link '%s'", spec);
    if (link_is_virtual_spec(spec)) {
        char cmd[4096];
        virtual_command(spec, "", cmd, sizeof cmd);
        return link_exec_check(cmd, err) == 0 ? 0 : tm_err_prefix(err, "link '%s'", spec);
    }
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const char *arg = after(spec, kinds[i].prefix);
        if (arg == NULL)
            continue;
        if (*arg == '\0')
            return tm_err_set(err, "link '%s': nothing after '%s' (" KINDS ")", spec,
                              kinds[i].prefix);
        return kinds[i].check(arg, err) == 0 ? 0 : tm_err_prefix(err, "link '%s'", spec);
    }
    return tm_err_set(err, "link '%s': unknown kind (" KINDS ")", spec);
}

/* The virtual camera checks its own arguments and profile (vcam --check): its
 * message, with the profile's file and line, is the one the user needs. */
static int vcam_check(const char *spec, struct tm_err *err)
{
    char cmd[4096], errpath[4096];
    virtual_command(spec, "--check", cmd, sizeof cmd);
    const char *tmp = getenv("TMPDIR");
    snprintf(errpath, sizeof errpath, "%s/tm-vcam-check-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkostemp(errpath, O_CLOEXEC);
    if (fd < 0)
        return tm_err_set(err, "%s: %s", errpath, strerror(errno));
    struct link l = { .kind = LINK_EXEC, .fd = -1, .err_fd = -1 };
    int rc = link_exec_open(&l, cmd, errpath, 0, err), code = -1;
    if (rc == 0)
        code = link_exec_wait(&l, tm_deadline_in(VCAM_CHECK_MS));
    unsigned char *text = NULL;
    size_t len = 0;
    if (rc == 0 && code != 0 && tm_read_file(errpath, &text, &len, NULL) == 0) {
        text[strcspn((char *)text, "\r\n")] = '\0';   /* the message; the usage follows */
        tm_err_set(err, "link '%s': %s", spec, len ? (char *)text : "vcam --check failed");
    } else if (rc == 0 && code != 0) {
        tm_err_set(err, "link '%s': vcam --check failed (exit %d)", spec, code);
    }
    free(text);
    link_exec_close(&l);
    close(fd);
    unlink(errpath);
    return rc == 0 && code == 0 ? 0 : -1;
}

int link_preflight(const char *spec, struct tm_err *err)
{
    char resolved[1024];
    if (link_spec_check(spec, err) != 0)
        return -1;
    /* auto and serial:id= name no port yet: an absent or ambiguous board is a
     * setup error before any device starts. */
    if (link_spec_needs_ports(spec))
        return link_resolve(spec, resolved, sizeof resolved, err);
    return link_is_virtual_spec(spec) ? vcam_check(spec, err) : 0;
}

struct link *link_open(const char *spec, struct tm_err *err)
{
    return link_open_logged(spec, NULL, err);
}

struct link *link_open_logged(const char *asked, const char *stderr_path, struct tm_err *err)
{
    char spec[1024];
    if (link_spec_check(asked, err) != 0 || link_resolve(asked, spec, sizeof spec, err) != 0)
        return NULL;
    struct link *l = calloc(1, sizeof *l);
    if (l == NULL) {
        tm_err_set(err, "out of memory");
        return NULL;
    }
    l->fd = -1;
    l->err_fd = -1;
    snprintf(l->spec, sizeof l->spec, "%s", spec);
    snprintf(l->asked, sizeof l->asked, "%s", asked);
    int rc;
    const char *arg;
    if ((arg = after(spec, "serial:")) != NULL) {
        rc = link_serial_open(l, arg, err);
    } else if ((arg = after(spec, "tcp:")) != NULL) {
        rc = link_tcp_open(l, arg, err);
    } else if ((arg = after(spec, "rfc2217:")) != NULL) {
        rc = link_rfc2217_open(l, arg, err);
    } else if ((arg = after(spec, "exec:")) != NULL) {
        rc = link_exec_open(l, arg, stderr_path, 0, err);
    } else if ((arg = after(spec, "exec-agent:")) != NULL) {
        rc = link_exec_open(l, arg, stderr_path, 1, err);
    } else {   /* virtual[:ARGS], the only kind left after link_spec_check */
        char cmd[4096];
        virtual_command(spec, "", cmd, sizeof cmd);
        rc = link_exec_open(l, cmd, stderr_path, 0, err);
    }
    if (rc != 0) {
        tm_err_prefix(err, "link '%s'", spec);
        link_close(l);
        return NULL;
    }
    return l;
}

/* "link closed (why)", with the program's last stderr lines for exec links. */
static int closed(const struct link *l, struct tm_err *err, const char *why)
{
    char tail[600] = "";
    if (l->kind == LINK_EXEC)
        link_exec_stderr_tail(l, tail, sizeof tail);
    return tm_err_setc(err, TM_E_LOST, "link closed (%s)%s", why, tail);
}

ssize_t link_read(struct link *l, void *buf, size_t n, tm_ms deadline, struct tm_err *err)
{
    if (l->kind != LINK_RFC2217)
        return link_read_raw(l, buf, n, deadline, err);
    /* Telnet commands alone decode to nothing: read on until data or the deadline. */
    for (int spins = 0; spins < 100000; spins++) {
        ssize_t r = link_read_raw(l, buf, n, deadline, err);
        if (r <= 0)
            return r;
        size_t d = link_rfc2217_decode(l, buf, (size_t)r);
        if (d > 0)
            return (ssize_t)d;
    }
    return 0;
}

ssize_t link_read_raw(struct link *l, void *buf, size_t n, tm_ms deadline, struct tm_err *err)
{
    if (l->fd < 0)
        return closed(l, err, "not open"), -1;
    for (int spins = 0; spins < 1000000; spins++) {
        ssize_t r = read(l->fd, buf, n);
        if (r > 0)
            return r;
        /* A pty master reports EIO once the child has gone: that is a close. */
        if (r == 0 || (r < 0 && (errno == EIO || errno == ECONNRESET || errno == EPIPE)))
            return closed(l, err, r == 0 ? "end of stream" : strerror(errno)), -1;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return tm_err_set(err, "read: %s", strerror(errno)), -2;
        int64_t left = tm_remaining_ms(deadline);
        if (left == 0)
            return 0;
        struct pollfd pfd = { l->fd, POLLIN, 0 };
        int pr = poll(&pfd, 1, (int)(left > 500 ? 500 : left));
        if (pr < 0 && errno != EINTR)
            return tm_err_set(err, "poll: %s", strerror(errno)), -2;
        if (pr > 0 && (pfd.revents & (POLLHUP | POLLERR)) && !(pfd.revents & POLLIN))
            return closed(l, err, "hang-up"), -1;
    }
    return 0;
}

static int write_all(struct link *l, const void *buf, size_t n, tm_ms deadline,
                     struct tm_err *err);

int link_write(struct link *l, const void *buf, size_t n, tm_ms deadline, struct tm_err *err)
{
    if (l->kind != LINK_RFC2217)
        return write_all(l, buf, n, deadline, err);
    size_t m = 0;
    unsigned char *t = link_rfc2217_escape(buf, n, &m);   /* 0xFF doubled */
    if (t == NULL)
        return tm_err_set(err, "out of memory") - 1;
    int rc = write_all(l, t, m, deadline, err);
    free(t);
    return rc;
}

static int write_all(struct link *l, const void *buf, size_t n, tm_ms deadline,
                     struct tm_err *err)
{
    const unsigned char *p = buf;
    size_t done = 0;
    if (l->fd < 0)
        return closed(l, err, "not open");
    while (done < n) {
        ssize_t w = write(l->fd, p + done, n - done);
        if (w > 0) {
            done += (size_t)w;
            continue;
        }
        if (w < 0 && (errno == EIO || errno == EPIPE || errno == ECONNRESET))
            return closed(l, err, strerror(errno));
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return tm_err_set(err, "write: %s", strerror(errno)) - 1;
        int64_t left = tm_remaining_ms(deadline);
        if (left == 0)
            return tm_err_set(err, "write: deadline passed with %zu of %zu bytes sent",
                              done, n) - 1;
        struct pollfd pfd = { l->fd, POLLOUT, 0 };
        if (poll(&pfd, 1, (int)(left > 500 ? 500 : left)) < 0 && errno != EINTR)
            return tm_err_set(err, "poll: %s", strerror(errno)) - 1;
    }
    return 0;
}

int link_set_reset_command(struct link *l, const char *cmd, struct tm_err *err)
{
    free(l->reset_cmd);
    l->reset_cmd = NULL;
    if (cmd != NULL && (l->reset_cmd = strdup(cmd)) == NULL)
        return tm_err_set(err, "out of memory");
    return 0;
}

int link_reset(struct link *l, struct tm_err *err)
{
    switch (l->kind) {
    case LINK_SERIAL:
        return link_serial_reset(l, err);
    case LINK_EXEC:
        return link_exec_reset(l, err);
    case LINK_RFC2217:
        return link_rfc2217_reset(l, err);
    case LINK_TCP:
    default:
        return tm_err_set(err, "link '%s': a TCP link cannot reset the device", l->spec);
    }
}

int link_reset_wired(const struct link *l)
{
    return l->kind == LINK_EXEC || (l->kind == LINK_SERIAL && link_serial_reset_wired(l));
}

int link_hard_reset(struct link *l, tm_ms deadline, struct tm_err *err)
{
    if (l->reset_cmd == NULL)
        return 1;
    char *argv[] = { "/bin/sh", "-c", l->reset_cmd, NULL };
    int code = tm_proc_run(argv, NULL, deadline, err);
    if (code < 0)
        return tm_err_prefix(err, "link '%s': reset command `%s`", l->spec, l->reset_cmd);
    if (code != 0)
        return tm_err_set(err, "link '%s': reset command `%s` failed (exit %d)", l->spec,
                          l->reset_cmd, code);
    return l->kind == LINK_SERIAL ? link_serial_wait_gone(l, deadline, err) : 0;
}

int link_reopen(struct link *l, tm_ms deadline, struct tm_err *err)
{
    int rc;
    switch (l->kind) {
    case LINK_SERIAL:
        rc = link_serial_reopen(l, deadline, err);
        break;
    case LINK_EXEC:
        rc = link_exec_reset(l, err);
        break;
    case LINK_TCP:
    default:
        if (l->fd >= 0)
            close(l->fd);
        l->fd = -1;
        rc = link_tcp_open(l, after(l->spec, "tcp:"), err);
        break;
    }
    return rc == 0 ? 0 : tm_err_prefix(err, "link '%s'", l->spec);
}

size_t link_moves(const struct link *l, const struct link_move **moves)
{
    *moves = l->moves;
    return l->nmoves;
}

void link_close(struct link *l)
{
    if (l == NULL)
        return;
    switch (l->kind) {
    case LINK_SERIAL:
        link_serial_close(l);
        break;
    case LINK_EXEC:
        link_exec_close(l);
        break;
    case LINK_TCP:
    case LINK_RFC2217:
        if (l->fd >= 0)
            close(l->fd);
        break;
    }
    free(l->reset_cmd);
    free(l);
}

enum link_kind link_kind(const struct link *l)
{
    return l->kind;
}

const char *link_spec(const struct link *l)
{
    return l->spec;
}

int link_spec_spawns(const char *spec)
{
    return link_is_virtual_spec(spec) || strncmp(spec, "exec:", 5) == 0
           || strncmp(spec, "exec-agent:", 11) == 0;
}

int link_is_agent(const struct link *l)
{
    return l->agent;
}

int link_is_virtual_spec(const char *spec)
{
    return strcmp(spec, "virtual") == 0 || strncmp(spec, "virtual:", 8) == 0;
}

int link_error_is_busy(const struct tm_err *err)
{
    return tm_err_code(err) == TM_E_BUSY;
}
