/* serial: links — a real camera's USB CDC port, opened with termios (libserialport
 * cannot open pseudo-terminals, and the tests put the virtual camera behind one);
 * link_ports_list tells the port's USB VID:PID and serial number. Locking follows
 * other serial tools: an advisory flock (what mpremote/pyserial with
 * exclusive=True take) plus TIOCEXCL so even tools that do not lock fail.
 *
 * A board is known by who it is, not where it is: a reset makes a USB CDC board
 * leave the bus and come back, often under another name (ttyACM0 → ttyACM1). The
 * link remembers the udev by-id name that pointed at the port when it opened, and
 * the USB serial number and VID:PID, and link_serial_reopen waits for that board
 * wherever it lands. */
#include "link_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>


#define DEFAULT_BAUD 115200
#define IDE_BAUD 921600
#define BY_ID_DIR "/dev/serial/by-id"
#define REOPEN_POLL_MS 100
#define GONE_MS 3000             /* a reset board leaves the bus at once; a slow hub: a second */
#define MAX_BY_ID_ENTRIES 1024   /* a by-id directory is a handful of links */

static const struct {
    int baud;
    speed_t speed;
} bauds[] = {
    { 1200, B1200 }, { 2400, B2400 }, { 4800, B4800 }, { 9600, B9600 },
    { 19200, B19200 }, { 38400, B38400 }, { 57600, B57600 }, { 115200, B115200 },
    { 230400, B230400 }, { 460800, B460800 }, { 500000, B500000 }, { 576000, B576000 },
    { 1000000, B1000000 }, { 1152000, B1152000 }, { 1500000, B1500000 },
    { 2000000, B2000000 }, { 3000000, B3000000 }, { 4000000, B4000000 },
};

static int baud_speed(int baud, speed_t *speed)
{
    for (size_t i = 0; i < sizeof bauds / sizeof bauds[0]; i++)
        if (bauds[i].baud == baud) {
            *speed = bauds[i].speed;
            return 0;
        }
    return -1;
}

/* The value of option `name=` (up to the next comma) into out. */
static int opt_value(const char *opt, const char *name, char *out, size_t len,
                     struct tm_err *err)
{
    const char *v = opt + strlen(name);
    size_t n = strcspn(v, ",");
    if (n == 0 || n >= len)
        return tm_err_setc(err, TM_E_INPUT, "serial: %.*s needs a value of 1..%zu characters",
                           (int)strlen(name) - 1, name, len - 1);
    memcpy(out, v, n);
    out[n] = '\0';
    return 0;
}

/* "PATH[,baud=N][,by-id=DIR]" */
static int parse_arg(const char *arg, struct link_serial_cfg *cfg, struct tm_err *err)
{
    memset(cfg, 0, sizeof *cfg);
    const char *comma = strchr(arg, ',');
    size_t n = comma ? (size_t)(comma - arg) : strlen(arg);
    if (n == 0 || n >= sizeof cfg->path)
        return tm_err_setc(err, TM_E_INPUT, "serial: missing or over-long port path");
    if (n == 3 && strncmp(arg, "id=", 3) == 0)
        return tm_err_setc(err, TM_E_INPUT, "serial: id= needs the board's USB serial number "
                           "(see `tlsmatrix ports`)");
    memcpy(cfg->path, arg, n);
    cfg->baud = DEFAULT_BAUD;
    snprintf(cfg->by_id, sizeof cfg->by_id, "%s", BY_ID_DIR);
    while (comma != NULL) {
        const char *opt = comma + 1;
        comma = strchr(opt, ',');
        char *end = NULL;
        if (strncmp(opt, "baud=", 5) == 0) {
            long v = strtol(opt + 5, &end, 10);
            if (end == opt + 5 || (*end != '\0' && *end != ',') || v <= 0 || v > 12000000)
                return tm_err_setc(err, TM_E_INPUT, "serial: bad baud in '%s'", arg);
            cfg->baud = (int)v;
        } else if (strncmp(opt, "by-id=", 6) == 0) {
            if (opt_value(opt, "by-id=", cfg->by_id, sizeof cfg->by_id, err) != 0)
                return -1;
        } else {
            return tm_err_setc(err, TM_E_INPUT, "serial: unknown option '%.*s' (baud=N, "
                               "by-id=DIR)",
                               (int)(comma ? (size_t)(comma - opt) : strlen(opt)), opt);
        }
    }
    /* 921600 baud with DTR high switches the OpenMV CDC to the IDE's binary
     * protocol and the REPL goes silent (docs/device-model.md §4.1). */
    if (cfg->baud == IDE_BAUD)
        return tm_err_setc(err, TM_E_INPUT, "serial: baud 921600 selects the OpenMV IDE "
                           "protocol, not the REPL (docs/device-model.md §4.1); use another baud");
    speed_t sp;
    if (baud_speed(cfg->baud, &sp) != 0)
        return tm_err_setc(err, TM_E_INPUT, "serial: baud %d is not a standard rate "
                           "(USB CDC ignores the rate; 115200 is the default)", cfg->baud);
    return 0;
}

int link_serial_check(const char *arg, struct tm_err *err)
{
    struct link_serial_cfg cfg;
    return parse_arg(arg, &cfg, err);
}

/* Raw 8N1 at the configured rate, no flow control, DTR asserted: many CDC stacks
 * only transmit with DTR high. */
static int configure(int fd, int baud, struct tm_err *err)
{
    struct termios t;
    speed_t sp = B115200;
    baud_speed(baud, &sp);
    if (tcgetattr(fd, &t) != 0)   /* /dev/null, a console: a device, not a port */
        return tm_err_setc(err, errno == ENOTTY ? TM_E_INPUT : TM_E_IO,
                           "not a serial port (a character device that is not a terminal; "
                           "see `tlsmatrix ports`): %s", strerror(errno));
    cfmakeraw(&t);
    t.c_cflag |= CLOCAL | CREAD;
    t.c_cflag &= ~(CSTOPB | PARENB | CRTSCTS);
    t.c_cc[VMIN] = 1;    /* VMIN 0 makes an empty read return 0, which reads as end of stream; */
    t.c_cc[VTIME] = 0;   /* with VMIN 1 and O_NONBLOCK it is EAGAIN */
    cfsetispeed(&t, sp);
    cfsetospeed(&t, sp);
    if (tcsetattr(fd, TCSANOW, &t) != 0)
        return tm_err_set(err, "set 8N1 at %d baud: %s", baud, strerror(errno));
    int dtr = TIOCM_DTR;
    ioctl(fd, TIOCMBIS, &dtr);   /* a pseudo-terminal has no modem lines: no error */
    tcflush(fd, TCIOFLUSH);
    return 0;
}

/* Open and lock the device node path; the fd, or -1 with err (TM_E_BUSY when
 * another program holds it). */
static int open_port(const char *path, int baud, struct tm_err *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return tm_err_setc(err, errno == ENOENT ? TM_E_LOST : TM_E_IO, "%s: %s", path,
                           strerror(errno));
    if (!S_ISCHR(st.st_mode))
        return tm_err_setc(err, TM_E_INPUT, "%s: not a serial port (not a character "
                           "device; see `tlsmatrix ports`)", path);
    int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno == EBUSY)
        return tm_err_setc(err, TM_E_BUSY, "%s: port busy (opened exclusively by another "
                           "program)", path);
    if (fd < 0)
        return tm_err_setc(err, TM_E_IO, "%s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        return tm_err_setc(err, TM_E_BUSY, "%s: port busy (locked by another program: %s)",
                           path, strerror(e));
    }
    ioctl(fd, TIOCEXCL);
    if (configure(fd, baud, err) != 0) {
        close(fd);
        return tm_err_prefix(err, "%s", path);
    }
    return fd;
}

/* The by-id entry (a udev symlink) that resolves to real, into name; "" none. */
static void by_id_name(const char *dir, const char *real, char *name, size_t len)
{
    name[0] = '\0';
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    for (int i = 0; i < MAX_BY_ID_ENTRIES && (e = readdir(d)) != NULL; i++) {
        char p[PATH_MAX], r[PATH_MAX];
        if (e->d_name[0] == '.' || strlen(e->d_name) >= len)
            continue;
        if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p)
            continue;
        if (realpath(p, r) != NULL && strcmp(r, real) == 0) {
            snprintf(name, len, "%s", e->d_name);
            break;
        }
    }
    closedir(d);
}

/* The USB port (link_ports_list) at real, or (real NULL) with cfg's serial number
 * and VID:PID. 0 with *out set, -1 none. */
static int usb_port(const struct link_serial_cfg *cfg, const char *real, struct link_port *out)
{
    size_t n = 0;
    struct link_port *ports = link_ports_list(&n, NULL);
    int found = -1;
    for (size_t i = 0; ports != NULL && i < n && found != 0; i++) {
        const struct link_port *p = &ports[i];
        if (!p->usb || p->serial[0] == '\0')
            continue;
        if (real != NULL ? strcmp(p->path, real) == 0
                         : strcmp(p->serial, cfg->usb_serial) == 0 && p->vid == cfg->vid
                               && p->pid == cfg->pid) {
            *out = *p;
            found = 0;
        }
    }
    free(ports);
    return found;
}

/* Who the board on real is: its by-id name, USB serial number and VID:PID (a
 * pseudo-terminal has only what a by-id directory says). */
static void learn_identity(struct link_serial_cfg *cfg, const char *real)
{
    struct link_port p;
    by_id_name(cfg->by_id, real, cfg->id_name, sizeof cfg->id_name);
    if (usb_port(cfg, real, &p) == 0 && strlen(p.serial) < sizeof cfg->usb_serial) {
        snprintf(cfg->usb_serial, sizeof cfg->usb_serial, "%s", p.serial);
        cfg->vid = p.vid;
        cfg->pid = p.pid;
    }
}

int link_serial_open(struct link *l, const char *arg, struct tm_err *err)
{
    l->kind = LINK_SERIAL;
    struct link_serial_cfg *cfg = &l->serial;
    if (parse_arg(arg, cfg, err) != 0)
        return -1;
    int fd = open_port(cfg->path, cfg->baud, err);
    if (fd < 0)
        return -1;
    l->fd = fd;
    if (realpath(cfg->path, cfg->real) == NULL)
        snprintf(cfg->real, sizeof cfg->real, "%s", cfg->path);
    learn_identity(cfg, cfg->real);
    return 0;
}

static int copy_path(char *dst, size_t len, const char *src)
{
    size_t n = strlen(src);
    if (n >= len)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

/* Where the board is now: its by-id name's target, else the port with its USB
 * serial and VID:PID, else the path it was opened by. 0 with real set. */
static int find_board(const struct link_serial_cfg *cfg, char *real, size_t len)
{
    char p[PATH_MAX], r[PATH_MAX];
    if (cfg->id_name[0] != '\0') {
        snprintf(p, sizeof p, "%s/%s", cfg->by_id, cfg->id_name);
        return realpath(p, r) != NULL ? copy_path(real, len, r) : -1;
    }
    struct link_port port;
    if (cfg->usb_serial[0] != '\0')
        return usb_port(cfg, NULL, &port) == 0 ? copy_path(real, len, port.path) : -1;
    return realpath(cfg->path, r) != NULL ? copy_path(real, len, r) : -1;
}

static void record_move(struct link *l, const char *to, int64_t waited)
{
    struct link_serial_cfg *cfg = &l->serial;
    l->nmoves++;
    if (l->nmoves <= LINK_MAX_MOVES) {
        struct link_move *m = &l->moves[l->nmoves - 1];
        snprintf(m->from, sizeof m->from, "%s", cfg->real);
        snprintf(m->to, sizeof m->to, "%s", to);
        m->waited_ms = waited;
    }
    snprintf(cfg->real, sizeof cfg->real, "%s", to);
}

static const char *identity_text(const struct link_serial_cfg *cfg, char *buf, size_t len)
{
    if (cfg->id_name[0] != '\0')
        snprintf(buf, len, "%s/%s", cfg->by_id, cfg->id_name);
    else if (cfg->usb_serial[0] != '\0')
        snprintf(buf, len, "USB %04x:%04x serial %s", cfg->vid, cfg->pid, cfg->usb_serial);
    else
        snprintf(buf, len, "%s", cfg->path);
    return buf;
}

int link_serial_reopen(struct link *l, tm_ms deadline, struct tm_err *err)
{
    struct link_serial_cfg *cfg = &l->serial;
    tm_ms t0 = tm_now_ms();
    struct tm_err last = { 0 };
    link_serial_close(l);
    for (;;) {
        char real[sizeof cfg->real];
        if (find_board(cfg, real, sizeof real) == 0) {
            int fd = open_port(real, cfg->baud, &last);
            if (fd >= 0) {
                l->fd = fd;
                if (strcmp(real, cfg->real) != 0)
                    record_move(l, real, tm_now_ms() - t0);
                return 0;
            }
            if (tm_err_code(&last) == TM_E_INPUT)   /* a node that is not a port */
                break;
        }
        if (tm_remaining_ms(deadline) < REOPEN_POLL_MS)
            break;
        tm_sleep_ms(REOPEN_POLL_MS);
    }
    char who[PATH_MAX + 64];
    return tm_err_setc(err, TM_E_LOST, "the board (%s) did not come back within %lld ms%s%s",
                       identity_text(cfg, who, sizeof who), (long long)(tm_now_ms() - t0),
                       last.msg[0] ? ": " : "", last.msg);
}

/* OpenMV boards (every board link_board_name knows) do not wire DTR/RTS to reset:
 * there a DTR drop only returns the CDC to the REPL (docs/device-model.md §4.1). */
int link_serial_reset_wired(const struct link *l)
{
    return l->serial.usb_serial[0] == '\0'
           || link_board_name(l->serial.vid, l->serial.pid) == NULL;
}

/* DTR/RTS reset, for boards that wire them to reset (ESP32-style auto-reset:
 * RTS drives EN). */
int link_serial_reset(struct link *l, struct tm_err *err)
{
    if (l->fd < 0)
        return tm_err_setc(err, TM_E_LOST, "serial: port not open");
    int dtr = TIOCM_DTR, rts = TIOCM_RTS;
    if (ioctl(l->fd, TIOCMBIC, &dtr) != 0 || ioctl(l->fd, TIOCMBIS, &rts) != 0)
        return tm_err_set(err, "serial: the port has no DTR/RTS lines (%s)", strerror(errno));
    tm_sleep_ms(100);
    ioctl(l->fd, TIOCMBIC, &rts);
    ioctl(l->fd, TIOCMBIS, &dtr);
    tm_sleep_ms(50);
    tcflush(l->fd, TCIFLUSH);
    return 0;
}

/* After a reset command: the board leaves the bus (its node or by-id link goes,
 * or names another node) before it comes back. Reopening before that would
 * find the old node, still there for a moment. */
int link_serial_wait_gone(struct link *l, tm_ms deadline, struct tm_err *err)
{
    tm_ms until = tm_deadline_in(GONE_MS) < deadline ? tm_deadline_in(GONE_MS) : deadline;
    for (;;) {
        char real[sizeof l->serial.real];
        if (find_board(&l->serial, real, sizeof real) != 0 || strcmp(real, l->serial.real) != 0)
            return 0;
        if (tm_remaining_ms(until) < REOPEN_POLL_MS)
            break;
        tm_sleep_ms(REOPEN_POLL_MS);
    }
    return tm_err_setc(err, TM_E_TIMEOUT, "link '%s': the reset command ran, but the board "
                       "stayed on the bus (%s) for %d ms", l->spec, l->serial.real, GONE_MS);
}

json_t *link_identity(const struct link *l)
{
    const struct link_serial_cfg *c = &l->serial;
    if (l->kind != LINK_SERIAL || (c->vid == 0 && c->pid == 0))
        return NULL;   /* not a USB port (or not known as one) */
    char v[8], p[8];
    snprintf(v, sizeof v, "%04x", c->vid);
    snprintf(p, sizeof p, "%04x", c->pid);
    return json_pack("{s:s, s:s, s:s, s:s?}", "port", c->real, "vid", v, "pid", p, "serial",
                     c->usb_serial[0] ? c->usb_serial : NULL);
}

void link_serial_close(struct link *l)
{
    if (l->fd >= 0) {
        ioctl(l->fd, TIOCNXCL);
        flock(l->fd, LOCK_UN);
        close(l->fd);
    }
    l->fd = -1;
}
