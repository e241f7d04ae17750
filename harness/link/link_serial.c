/* serial: links — a real camera's USB CDC port through libserialport.
 * Locking follows other serial tools: an advisory flock (what mpremote/pyserial
 * with exclusive=True take) plus TIOCEXCL so even tools that do not lock fail. */
#include "link_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libserialport.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_BAUD 115200
#define IDE_BAUD 921600

static int sp_fail(struct tm_err *err, const char *what, enum sp_return rc)
{
    if (rc == SP_ERR_FAIL) {
        char *m = sp_last_error_message();
        tm_err_set(err, "%s: %s", what, m ? m : "failed");
        sp_free_error_message(m);
        return -1;
    }
    return tm_err_set(err, "%s: %s", what, rc == SP_ERR_ARG ? "invalid argument"
                      : rc == SP_ERR_MEM ? "out of memory" : "not supported");
}

/* "PATH[,baud=N]" */
static int parse_arg(const char *arg, char *path, size_t pathlen, int *baud,
                     struct tm_err *err)
{
    const char *comma = strchr(arg, ',');
    size_t n = comma ? (size_t)(comma - arg) : strlen(arg);
    if (n == 0 || n >= pathlen)
        return tm_err_set(err, "serial: missing or over-long port path");
    if (n == 3 && strncmp(arg, "id=", 3) == 0)
        return tm_err_set(err, "serial: id= needs the board's USB serial number (see "
                          "`tlsmatrix ports`)");
    memcpy(path, arg, n);
    path[n] = '\0';
    *baud = DEFAULT_BAUD;
    while (comma != NULL) {
        const char *opt = comma + 1;
        comma = strchr(opt, ',');
        char *end = NULL;
        if (strncmp(opt, "baud=", 5) == 0) {
            long v = strtol(opt + 5, &end, 10);
            if (end == opt + 5 || (*end != '\0' && *end != ',') || v <= 0 || v > 12000000)
                return tm_err_set(err, "serial: bad baud in '%s'", arg);
            *baud = (int)v;
        } else {
            return tm_err_set(err, "serial: unknown option '%.*s' (only baud=N)",
                              (int)(comma ? (size_t)(comma - opt) : strlen(opt)), opt);
        }
    }
    /* 921600 baud with DTR high switches the OpenMV CDC to the IDE's binary
     * protocol and the REPL goes silent (docs/device-model.md §4.1). */
    if (*baud == IDE_BAUD)
        return tm_err_set(err, "serial: baud 921600 selects the OpenMV IDE protocol, "
                          "not the REPL (docs/device-model.md §4.1); use another baud");
    return 0;
}

static int configure(struct link *l, int baud, struct tm_err *err)
{
    enum sp_return rc;
    if ((rc = sp_set_baudrate(l->port, baud)) != SP_OK)
        return sp_fail(err, "set baud", rc);
    if ((rc = sp_set_bits(l->port, 8)) != SP_OK || (rc = sp_set_parity(l->port, SP_PARITY_NONE)) != SP_OK
        || (rc = sp_set_stopbits(l->port, 1)) != SP_OK
        || (rc = sp_set_flowcontrol(l->port, SP_FLOWCONTROL_NONE)) != SP_OK)
        return sp_fail(err, "set 8N1", rc);
    /* Many CDC stacks only transmit with DTR asserted. */
    sp_set_dtr(l->port, SP_DTR_ON);
    return 0;
}

int link_serial_check(const char *arg, struct tm_err *err)
{
    char path[512];
    int baud;
    return parse_arg(arg, path, sizeof path, &baud, err);
}

int link_serial_open(struct link *l, const char *arg, struct tm_err *err)
{
    char path[512];
    int baud = DEFAULT_BAUD;
    enum sp_return rc;
    l->kind = LINK_SERIAL;
    if (parse_arg(arg, path, sizeof path, &baud, err) != 0)
        return -1;
    struct stat st;   /* libserialport only says "invalid argument" for both */
    if (stat(path, &st) != 0)
        return tm_err_set(err, "%s: %s", path, strerror(errno));
    if (!S_ISCHR(st.st_mode))
        return tm_err_set(err, "%s: not a serial port (not a character device; see "
                          "`tlsmatrix ports`)", path);
    if ((rc = sp_get_port_by_name(path, &l->port)) != SP_OK)
        return sp_fail(err, path, rc);
    if ((rc = sp_open(l->port, SP_MODE_READ_WRITE)) != SP_OK) {
        int e = errno;
        sp_free_port(l->port);
        l->port = NULL;
        if (e == EBUSY)
            return tm_err_setc(err, TM_E_BUSY, "%s: port busy (opened exclusively by another program)", path);
        return sp_fail(err, path, rc);
    }
    int fd = -1;
    sp_get_port_handle(l->port, &fd);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0)
        return tm_err_setc(err, TM_E_BUSY, "%s: port busy (locked by another program: %s)", path,
                          strerror(errno));
    ioctl(fd, TIOCEXCL);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    l->fd = fd;
    if (configure(l, baud, err) != 0)
        return tm_err_prefix(err, "%s", path);
    sp_flush(l->port, SP_BUF_BOTH);
    return 0;
}

/* DTR/RTS reset, for boards that wire them to reset (ESP32-style auto-reset:
 * RTS drives EN). OpenMV boards are not wired this way: there a DTR drop only
 * returns the CDC to the REPL (docs/device-model.md §4.1), which is harmless. */
int link_serial_reset(struct link *l, struct tm_err *err)
{
    if (l->port == NULL)
        return tm_err_set(err, "serial: port not open");
    sp_set_dtr(l->port, SP_DTR_OFF);
    sp_set_rts(l->port, SP_RTS_ON);
    tm_sleep_ms(100);
    sp_set_rts(l->port, SP_RTS_OFF);
    sp_set_dtr(l->port, SP_DTR_ON);
    tm_sleep_ms(50);
    sp_flush(l->port, SP_BUF_INPUT);
    return 0;
}

void link_serial_close(struct link *l)
{
    if (l->port != NULL) {
        if (l->fd >= 0) {
            ioctl(l->fd, TIOCNXCL);
            flock(l->fd, LOCK_UN);
        }
        sp_close(l->port);
        sp_free_port(l->port);
        l->port = NULL;
    }
    l->fd = -1;
}
