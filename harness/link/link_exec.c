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
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <wordexp.h>

#include "tm_fs.h"

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

/* 0 when prog can be executed: a path that is executable, or a name found in PATH. */
static int find_program(const char *prog, struct tm_err *err)
{
    if (strchr(prog, '/') != NULL)
        return access(prog, X_OK) == 0 ? 0
               : tm_err_set(err, "%s: %s%s", prog, strerror(errno),
                            strstr(prog, "/vcam") ? " (build the vcam target)" : "");
    const char *path = getenv("PATH");
    char dir[4096];
    for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
        size_t n = strcspn(p, ":");
        if (snprintf(dir, sizeof dir, "%.*s/%s", (int)n, n ? p : ".", prog) < (int)sizeof dir
            && access(dir, X_OK) == 0)
            return 0;
        p += n + (p[n] == ':');
    }
    return tm_err_set(err, "%s: not found in PATH", prog);
}

int link_exec_check(const char *cmd, struct tm_err *err)
{
    char **argv = split_command(cmd, err);
    if (argv == NULL)
        return -1;
    int rc = find_program(argv[0], err);
    free_argv(argv);
    return rc;
}

/* The file the program's stderr goes to: the caller's, or an unlinked temporary
 * one, so a program that fails at start can still say why. */
static int open_stderr(struct link *l, const char *path, struct tm_err *err)
{
    if (path != NULL) {
        l->err_fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        return l->err_fd >= 0 ? 0 : tm_err_set(err, "%s: %s", path, strerror(errno));
    }
    const char *tmp = getenv("TMPDIR");
    char name[4096];
    snprintf(name, sizeof name, "%s/tm-link-stderr-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    l->err_fd = mkostemp(name, O_CLOEXEC);
    if (l->err_fd < 0)
        return tm_err_set(err, "%s: %s", name, strerror(errno));
    unlink(name);   /* lives as long as the link */
    return 0;
}

void link_exec_stderr_tail(const struct link *l, char *out, size_t len)
{
    char buf[512];
    struct stat st;
    out[0] = '\0';
    if (l->err_fd < 0 || fstat(l->err_fd, &st) != 0 || st.st_size == 0)
        return;
    off_t from = st.st_size > (off_t)sizeof buf - 1 ? st.st_size - (off_t)sizeof buf + 1 : 0;
    ssize_t n = pread(l->err_fd, buf, sizeof buf - 1, from);
    if (n <= 0)
        return;
    buf[n] = '\0';
    /* The last three lines, on one line; control bytes would reach a terminal. */
    size_t end = (size_t)n, start;
    while (end > 0 && (buf[end - 1] == '\n' || buf[end - 1] == '\r'))
        end--;
    buf[end] = '\0';
    int lines = 0;
    for (start = end; start > 0; start--)
        if (buf[start - 1] == '\n' && ++lines == 3)
            break;
    for (char *c = buf + start; *c; c++)
        if (*c == '\n')
            *c = '|';
        else if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = ' ';
    if (start < end)
        snprintf(out, len, "; its stderr ends: %s", buf + start);
}

static int spawn(struct link *l, struct tm_err *err)
{
    if (find_program(l->argv[0], err) != 0)
        return -1;
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
    pid_t parent = getpid();
    pid_t pid = forkpty(&master, NULL, &tio, &ws);
    if (pid == 0) {
        for (int sig = 1; sig < NSIG; sig++)
            if (sig != SIGKILL && sig != SIGSTOP)
                signal(sig, SIG_DFL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        /* Another worker's pty master, inherited here, would keep that device's
         * line open after its link hangs up. */
        if (l->err_fd >= 0)
            dup2(l->err_fd, 2);
        /* The harness gone (even killed), the program goes too: a virtual camera
         * must not outlive the run that started it. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
        close_range(3, ~0U, 0);
        if (l->home[0] != '\0' && chdir(l->home) != 0) {
            dprintf(2, "chdir %s: %s\r\n", l->home, strerror(errno));
            _exit(127);
        }
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

/* The agent program writes the files it is sent (certificates, keys) into its
 * working directory, as a board writes its flash: each exec-agent link gets its
 * own, so two instances (--jobs) never read each other's half-written files and
 * the user's directory stays clean. Arguments that are paths (hold a '/') to
 * existing files are made absolute first, so CMD reads as typed in the harness's
 * directory. */
static int make_home(struct link *l, struct tm_err *err)
{
    if (tm_mkdtemp(l->home, sizeof l->home, "tm-agent-", err) != 0)
        return tm_err_prefix(err, "the program's directory");
    for (size_t i = 0; l->argv[i] != NULL; i++) {
        char *abs = strchr(l->argv[i], '/') != NULL && l->argv[i][0] != '/'
                    ? realpath(l->argv[i], NULL) : NULL;
        if (abs != NULL) {
            free(l->argv[i]);
            l->argv[i] = abs;
        }
    }
    return 0;
}

int link_exec_open(struct link *l, const char *cmd, const char *stderr_path, int agent,
                   struct tm_err *err)
{
    l->kind = LINK_EXEC;
    l->agent = agent;
    l->argv = split_command(cmd, err);
    if (l->argv == NULL || open_stderr(l, stderr_path, err) != 0)
        return -1;
    if (agent && make_home(l, err) != 0)
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

int link_exec_wait(struct link *l, tm_ms deadline)
{
    for (;;) {
        int st;
        pid_t r = waitpid(l->pid, &st, WNOHANG);
        if (r == l->pid) {
            l->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        }
        if (r < 0 || tm_expired(deadline))
            return -1;
        tm_sleep_ms(5);
    }
}

int link_exec_reset(struct link *l, struct tm_err *err)
{
    stop_child(l);
    return spawn(l, err);
}

void link_exec_close(struct link *l)
{
    stop_child(l);
    struct tm_err err;
    if (l->home[0] != '\0' && tm_rmtree(l->home, &err) != 0)
        fprintf(stderr, "tlsmatrix: %s\n", err.msg);
    free_argv(l->argv);
    l->argv = NULL;
    if (l->err_fd >= 0)
        close(l->err_fd);
    l->err_fd = -1;
}
