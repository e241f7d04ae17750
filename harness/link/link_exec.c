/* exec: links — a program on a pseudo-terminal, talked to as if it were the
 * camera's USB serial port. libserialport cannot open ptys, so this uses forkpty
 * and termios directly. The pty is put in raw mode before the program starts:
 * in cooked mode the REPL's line ends arrive as \r\r\n, input is echoed and \r
 * becomes \n (docs/device-model.md §7); readers still tolerate \r\r\n. The child is a
 * session leader with the pty as controlling terminal, so Ctrl-C reaches it. */
#include "link_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <wordexp.h>

/* wordexp is not thread-safe (glibc marks it MT-Unsafe); workers open links
 * concurrently, so its calls are serialised here. */
static pthread_mutex_t wordexp_lock = PTHREAD_MUTEX_INITIALIZER;

static void free_argv(char **argv)
{
    if (argv == NULL)
        return;
    for (size_t i = 0; argv[i] != NULL; i++)
        free(argv[i]);
    free(argv);
}

/* Split a command line with shell quoting rules (no command substitution). */
static char **split_command(const char *cmd, struct tm_err *err)
{
    wordexp_t we;
    char **argv = NULL;
    pthread_mutex_lock(&wordexp_lock);
    int rc = wordexp(cmd, &we, WRDE_NOCMD);
    if (rc != 0) {
        pthread_mutex_unlock(&wordexp_lock);
        tm_err_set(err, "cannot parse command '%s' (%s)", cmd,
                   rc == WRDE_CMDSUB ? "command substitution not allowed"
                   : rc == WRDE_BADCHAR ? "unquoted special character" : "syntax error");
        return NULL;
    }
    if (we.we_wordc == 0) {
        tm_err_set(err, "empty command");
        goto out;
    }
    argv = calloc(we.we_wordc + 1, sizeof *argv);
    for (size_t i = 0; argv != NULL && i < we.we_wordc; i++) {
        argv[i] = strdup(we.we_wordv[i]);
        if (argv[i] == NULL) {
            free_argv(argv);
            argv = NULL;
        }
    }
    if (argv == NULL)
        tm_err_set(err, "out of memory");
out:
    wordfree(&we);
    pthread_mutex_unlock(&wordexp_lock);
    return argv;
}

static int spawn(struct link *l, struct tm_err *err)
{
    if (strchr(l->argv[0], '/') != NULL && access(l->argv[0], X_OK) != 0)
        return tm_err_set(err, "%s: %s%s", l->argv[0], strerror(errno),
                          strstr(l->argv[0], "/vcam") ? " (build the vcam target)" : "");
    struct termios tio;
    memset(&tio, 0, sizeof tio);
    cfmakeraw(&tio);
    cfsetispeed(&tio, B115200);
    cfsetospeed(&tio, B115200);
    struct winsize ws = { 24, 200, 0, 0 };
    int master = -1;
    /* Signals stay blocked across the fork until the child has put every handler
     * back to default: a stop that lands between fork and exec must not run the
     * parent's handlers in the child (posix_spawn does the same). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pid_t pid = forkpty(&master, NULL, &tio, &ws);
    if (pid == 0) {
        for (int sig = 1; sig < NSIG; sig++)
            if (sig != SIGKILL && sig != SIGSTOP)
                signal(sig, SIG_DFL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        /* Another worker's pty master, inherited here, would keep that device's
         * line open after its link hangs up. */
        close_range(3, ~0U, 0);
        execvp(l->argv[0], l->argv);
        dprintf(2, "exec %s: %s\r\n", l->argv[0], strerror(errno));
        _exit(127);
    }
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0)
        return tm_err_set(err, "forkpty: %s", strerror(fork_errno));
    fcntl(master, F_SETFD, FD_CLOEXEC);
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
    l->fd = master;
    l->pid = pid;
    return 0;
}

int link_exec_open(struct link *l, const char *cmd, struct tm_err *err)
{
    l->kind = LINK_EXEC;
    l->argv = split_command(cmd, err);
    if (l->argv == NULL)
        return -1;
    return spawn(l, err);
}

/* Stop the child: SIGTERM its session's process group, up to 1 s grace, then
 * SIGKILL; always reaped so no zombie outlives the link. */
static void stop_child(struct link *l)
{
    if (l->fd >= 0) {
        close(l->fd);
        l->fd = -1;
    }
    if (l->pid <= 0)
        return;
    kill(-l->pid, SIGTERM);
    kill(l->pid, SIGTERM);
    int st;
    for (int i = 0; i < 100; i++) {
        pid_t r = waitpid(l->pid, &st, WNOHANG);
        if (r == l->pid || (r < 0 && errno == ECHILD)) {
            l->pid = 0;
            return;
        }
        tm_sleep_ms(10);
    }
    kill(-l->pid, SIGKILL);
    kill(l->pid, SIGKILL);
    waitpid(l->pid, &st, 0);
    l->pid = 0;
}

int link_exec_reset(struct link *l, struct tm_err *err)
{
    stop_child(l);
    return spawn(l, err);
}

void link_exec_close(struct link *l)
{
    stop_child(l);
    free_argv(l->argv);
    l->argv = NULL;
}
