/* Link dispatch and the fd-based I/O every link kind shares: serial ports (via
 * libserialport's handle), TCP sockets and pseudo-terminal masters are all file
 * descriptors, so reading with a deadline is one poll loop. */
#include "link/link.h"
#include "link_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#define KINDS "serial:PATH, tcp:HOST:PORT, exec:CMD, virtual[:ARGS]"

int link_spec_check(const char *spec, struct tm_err *err)
{
    static const char *const prefix[] = { "serial:", "tcp:", "exec:" };
    if (link_is_virtual_spec(spec))
        return 0;
    for (size_t i = 0; i < sizeof prefix / sizeof prefix[0]; i++) {
        size_t n = strlen(prefix[i]);
        if (strncmp(spec, prefix[i], n) == 0)
            return spec[n] != '\0' ? 0
                   : tm_err_set(err, "link '%s': nothing after '%s' (" KINDS ")", spec, prefix[i]);
    }
    return tm_err_set(err, "link '%s': unknown kind (" KINDS ")", spec);
}

struct link *link_open(const char *spec, struct tm_err *err)
{
    if (link_spec_check(spec, err) != 0)
        return NULL;
    struct link *l = calloc(1, sizeof *l);
    if (l == NULL) {
        tm_err_set(err, "out of memory");
        return NULL;
    }
    l->fd = -1;
    snprintf(l->spec, sizeof l->spec, "%s", spec);
    int rc;
    if (strncmp(spec, "serial:", 7) == 0) {
        rc = link_serial_open(l, spec + 7, err);
    } else if (strncmp(spec, "tcp:", 4) == 0) {
        rc = link_tcp_open(l, spec + 4, err);
    } else if (strncmp(spec, "exec:", 5) == 0) {
        rc = link_exec_open(l, spec + 5, err);
    } else {   /* virtual[:ARGS], the only kind left after link_spec_check */
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "%s/vcam %s", TM_BIN_DIR, spec[7] == ':' ? spec + 8 : "");
        rc = link_exec_open(l, cmd, err);
    }
    if (rc != 0) {
        tm_err_prefix(err, "link '%s'", spec);
        link_close(l);
        return NULL;
    }
    return l;
}

ssize_t link_read(struct link *l, void *buf, size_t n, tm_ms deadline, struct tm_err *err)
{
    if (l->fd < 0)
        return tm_err_set(err, "link closed"), -1;
    for (int spins = 0; spins < 1000000; spins++) {
        ssize_t r = read(l->fd, buf, n);
        if (r > 0)
            return r;
        /* A pty master reports EIO once the child has gone: that is a close. */
        if (r == 0 || (r < 0 && (errno == EIO || errno == ECONNRESET || errno == EPIPE)))
            return tm_err_set(err, "link closed (%s)", r == 0 ? "end of stream"
                              : strerror(errno)), -1;
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
            return tm_err_set(err, "link closed (hang-up)"), -1;
    }
    return 0;
}

int link_write(struct link *l, const void *buf, size_t n, tm_ms deadline, struct tm_err *err)
{
    const unsigned char *p = buf;
    size_t done = 0;
    if (l->fd < 0)
        return tm_err_set(err, "link closed");
    while (done < n) {
        ssize_t w = write(l->fd, p + done, n - done);
        if (w > 0) {
            done += (size_t)w;
            continue;
        }
        if (w < 0 && (errno == EIO || errno == EPIPE || errno == ECONNRESET))
            return tm_err_set(err, "link closed (%s)", strerror(errno));
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

int link_reset(struct link *l, struct tm_err *err)
{
    switch (l->kind) {
    case LINK_SERIAL:
        return link_serial_reset(l, err);
    case LINK_EXEC:
        return link_exec_reset(l, err);
    case LINK_TCP:
    default:
        return tm_err_set(err, "link '%s': a TCP link cannot reset the device", l->spec);
    }
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
        if (l->fd >= 0)
            close(l->fd);
        break;
    }
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

int link_is_virtual_spec(const char *spec)
{
    return strcmp(spec, "virtual") == 0 || strncmp(spec, "virtual:", 8) == 0;
}

int link_error_is_busy(const struct tm_err *err)
{
    return tm_err_code(err) == TM_E_BUSY;
}
