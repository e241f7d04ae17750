/* usbsim: the USB side of a serial board, for tests without hardware. A program
 * (the virtual camera) runs behind a pseudo-terminal whose slave stands for the
 * board's /dev/ttyACMn, and DIR/NAME is the udev by-id link to it. When the board
 * resets it leaves the bus and comes back under another device node, as a USB CDC
 * board does: the link goes, the program starts again (a power-on) on a new
 * pseudo-terminal, and DIR/NAME points there.
 *
 *   usbsim [--first ARG]... [--moves N] [--gap MS] DIR NAME -- PROGRAM [ARGS...]
 *
 * A reset is the program exiting (a crash, a watchdog, a drop fault) or SIGUSR1
 * (a lab's power switch: the reset command of a serial link's spec). --first
 * ARGs go to the first start only (a fault placed for it); --moves N bounds the
 * restarts (default 3), --gap MS is the time off the bus (default 300).
 * SIGTERM removes the link and ends the program; so does a lifetime of 300 s. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ARGS 64
#define LIFETIME_MS 300000
#define POLL_MS 20

static volatile sig_atomic_t got_usr1, got_term;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        got_usr1 = 1;
    else
        got_term = 1;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

struct board {
    int master, slave;
    char tty[PATH_MAX];
    pid_t pid;
};

/* DIR/NAME -> tty, replaced atomically (udev's by-id links are symlinks). */
static int link_to(const char *dir, const char *name, const char *tty)
{
    char tmp[PATH_MAX], dst[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/.%s.new", dir, name);
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    unlink(tmp);
    if (symlink(tty, tmp) != 0 || rename(tmp, dst) != 0) {
        fprintf(stderr, "usbsim: %s -> %s: %s\n", dst, tty, strerror(errno));
        return -1;
    }
    return 0;
}

static void unlink_board(const char *dir, const char *name)
{
    char dst[PATH_MAX];
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    unlink(dst);
}

/* A new pseudo-terminal with the program on its master side. The slave stays
 * open here as well, so the board lives whether or not the host has the port
 * open (a USB device does not care). */
static int power_on(struct board *b, char **argv)
{
    if (openpty(&b->master, &b->slave, b->tty, NULL, NULL) != 0) {
        fprintf(stderr, "usbsim: openpty: %s\n", strerror(errno));
        return -1;
    }
    fcntl(b->master, F_SETFD, FD_CLOEXEC);
    fcntl(b->slave, F_SETFD, FD_CLOEXEC);
    b->pid = fork();
    if (b->pid < 0)
        return -1;
    if (b->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(b->master, 0);
        dup2(b->master, 1);
        execv(argv[0], argv);
        fprintf(stderr, "usbsim: %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(b->master);   /* the program holds it: its exit is the hang-up */
    b->master = -1;
    return 0;
}

static void power_off(struct board *b)
{
    if (b->pid > 0) {
        kill(b->pid, SIGTERM);
        for (int i = 0; i < 100 && waitpid(b->pid, NULL, WNOHANG) == 0; i++)
            sleep_ms(POLL_MS);
        kill(b->pid, SIGKILL);
        waitpid(b->pid, NULL, 0);
    }
    b->pid = -1;
}

/* Until the program exits (1), SIGUSR1 (2), SIGTERM or the lifetime (0). */
static int wait_reset(struct board *b, long end)
{
    while (!got_term && now_ms() < end) {
        if (got_usr1) {
            got_usr1 = 0;
            return 2;
        }
        int st;
        if (waitpid(b->pid, &st, WNOHANG) == b->pid) {
            b->pid = -1;
            return 1;
        }
        sleep_ms(POLL_MS);
    }
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: usbsim [--first ARG]... [--moves N] [--gap MS] DIR NAME -- "
                    "PROGRAM [ARGS...]\n");
    return 2;
}

int main(int argc, char **argv)
{
    char *first[MAX_ARGS];
    int nfirst = 0, moves = 3, gap = 300, i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0 && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (i + 1 >= argc)
            return usage();
        if (strcmp(argv[i], "--first") == 0 && nfirst < MAX_ARGS / 2)
            first[nfirst++] = argv[i + 1];
        else if (strcmp(argv[i], "--moves") == 0)
            moves = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--gap") == 0)
            gap = atoi(argv[i + 1]);
        else
            return usage();
    }
    if (argc - i < 4 || strcmp(argv[i + 2], "--") != 0 || moves < 0 || gap < 0)
        return usage();
    const char *dir = argv[i], *name = argv[i + 1];
    char **prog = argv + i + 3;
    int nprog = argc - i - 3;
    if (nprog + nfirst >= MAX_ARGS)
        return usage();
    char *args[MAX_ARGS + 1];

    struct sigaction sa = { 0 };
    sa.sa_handler = on_signal;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    long end = now_ms() + LIFETIME_MS;
    struct board b = { -1, -1, "", -1 }, old = b;
    for (int start = 0; start <= moves && !got_term; start++) {
        int n = 0;
        for (int k = 0; k < nprog; k++)
            args[n++] = prog[k];
        for (int k = 0; start == 0 && k < nfirst; k++)
            args[n++] = first[k];
        args[n] = NULL;
        /* The old slave is still open: the new pseudo-terminal gets another number. */
        if (power_on(&b, args) != 0)
            break;
        if (old.slave >= 0)
            close(old.slave);
        if (link_to(dir, name, b.tty) != 0)
            break;
        printf("board %d on %s\n", start, b.tty);
        fflush(stdout);
        int why = wait_reset(&b, end);
        if (why == 2)
            power_off(&b);
        unlink_board(dir, name);   /* off the bus */
        if (why == 0)
            break;
        old = b;
        sleep_ms(gap);
    }
    power_off(&b);
    unlink_board(dir, name);
    return 0;
}
