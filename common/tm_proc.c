#include "tm_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int tm_proc_spawn(struct tm_proc *p, char *const argv[], const char *stderr_path,
                  struct tm_err *err)
{
    int pipefd[2];
    memset(p, 0, sizeof *p);
    p->out_fd = -1;
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return tm_err_set(err, "pipe: %s", strerror(errno));
    /* Signals stay blocked across the fork until the child has put every handler
     * back to default: a stop that lands between fork and exec must not run the
     * parent's handlers (which may kill the parent's whole group) in the child. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pid_t parent = getpid();
    pid_t pid = fork();
    int fork_errno = errno;
    if (pid != 0)
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return tm_err_set(err, "fork: %s", strerror(fork_errno));
    }
    if (pid == 0) {
        for (int sig = 1; sig < NSIG; sig++)
            if (sig != SIGKILL && sig != SIGSTOP)
                signal(sig, SIG_DFL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        setpgid(0, 0);
        /* No child outlives its parent: killed with it, even by SIGKILL. (The
         * signal comes when the spawning thread ends: threads stop what they start.) */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(pipefd[1], 1);
        if (stderr_path != NULL) {
            int efd = open(stderr_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (efd >= 0)
                dup2(efd, 2);
        }
        /* A peer must not inherit the caller's pty masters or sockets: a leaked
         * master keeps a virtual camera's line open after the harness hangs up. */
        close_range(3, ~0U, 0);
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    close(pipefd[1]);
    fcntl(pipefd[0], F_SETFL, fcntl(pipefd[0], F_GETFL) | O_NONBLOCK);
    p->pid = pid;
    p->out_fd = pipefd[0];
    return 0;
}

static int reap(struct tm_proc *p, int flags)
{
    if (p->exited)
        return 1;
    int st;
    pid_t r = waitpid(p->pid, &st, flags);
    if (r == p->pid) {
        p->exited = 1;
        p->status = st;
        return 1;
    }
    if (r < 0 && errno == ECHILD) {
        p->exited = 1;
        p->status_lost = 1;
        return 1;
    }
    return 0;
}

int tm_proc_wait(struct tm_proc *p, tm_ms deadline)
{
    for (;;) {
        if (reap(p, WNOHANG))
            return 0;
        if (tm_expired(deadline))
            return 1;
        tm_sleep_ms(5);
    }
}

void tm_proc_stop(struct tm_proc *p, int grace_ms)
{
    if (p->pid > 0 && !reap(p, WNOHANG)) {
        kill(-p->pid, SIGTERM);
        kill(p->pid, SIGTERM);
        if (tm_proc_wait(p, tm_deadline_in(grace_ms)) != 0) {
            kill(-p->pid, SIGKILL);
            kill(p->pid, SIGKILL);
            reap(p, 0);
        }
    }
    if (p->pid > 0)     /* helpers the process left behind in its group */
        kill(-p->pid, SIGKILL);
    if (p->out_fd >= 0) {
        close(p->out_fd);
        p->out_fd = -1;
    }
}

int tm_proc_stopped(const struct tm_proc *p)
{
    char path[64], buf[512];
    if (p->pid <= 0 || p->exited)
        return 0;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)p->pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* "pid (comm) S …": the state follows the last ')' (comm may hold one). */
    const char *close_paren = strrchr(buf, ')');
    return close_paren != NULL && (close_paren[2] == 'T' || close_paren[2] == 't');
}

int tm_proc_exit_code(const struct tm_proc *p)
{
    if (!p->exited || p->status_lost)
        return -1;
    if (WIFEXITED(p->status))
        return WEXITSTATUS(p->status);
    if (WIFSIGNALED(p->status))
        return 128 + WTERMSIG(p->status);
    return -1;
}

void tm_lines_init(struct tm_lines *lr, int fd, size_t max_line)
{
    memset(lr, 0, sizeof *lr);
    lr->fd = fd;
    lr->max_line = max_line ? max_line : (1u << 20);
}

void tm_lines_free(struct tm_lines *lr)
{
    free(lr->buf);
    lr->buf = NULL;
    lr->len = lr->cap = 0;
}

static int take_line(struct tm_lines *lr, char **line)
{
    char *nl = lr->len ? memchr(lr->buf, '\n', lr->len) : NULL;
    if (nl == NULL)
        return 0;
    size_t n = (size_t)(nl - lr->buf);
    size_t keep = n;
    if (keep > 0 && lr->buf[keep - 1] == '\r')
        keep--;
    *line = strndup(lr->buf, keep);
    memmove(lr->buf, nl + 1, lr->len - n - 1);
    lr->len -= n + 1;
    return *line ? 1 : -2;
}

int tm_lines_read(struct tm_lines *lr, tm_ms deadline, char **line, struct tm_err *err)
{
    *line = NULL;
    for (;;) {
        int got = take_line(lr, line);
        if (got != 0)
            return got;
        if (lr->len > lr->max_line)
            return tm_err_set(err, "line longer than %zu bytes", lr->max_line) - 1;
        if (lr->eof && lr->len > 0) {   /* a last line without its newline is still evidence */
            *line = strndup(lr->buf, lr->len);
            lr->len = 0;
            return *line ? 1 : -2;
        }
        if (lr->eof)
            return -1;
        int64_t left = tm_remaining_ms(deadline);
        if (left == 0)
            return 0;
        struct pollfd pfd = { lr->fd, POLLIN, 0 };
        int pr = poll(&pfd, 1, (int)(left > 1000 ? 1000 : left));
        if (pr < 0 && errno != EINTR)
            return tm_err_set(err, "poll: %s", strerror(errno)) - 1;
        if (pr <= 0)
            continue;
        if (lr->cap - lr->len < 4096) {
            size_t ncap = lr->cap ? lr->cap * 2 : 8192;
            char *nb = realloc(lr->buf, ncap);
            if (nb == NULL)
                return tm_err_set(err, "out of memory") - 1;
            lr->buf = nb;
            lr->cap = ncap;
        }
        ssize_t r = read(lr->fd, lr->buf + lr->len, lr->cap - lr->len);
        if (r > 0)
            lr->len += (size_t)r;
        else if (r == 0 || (errno != EAGAIN && errno != EINTR))
            lr->eof = 1;
    }
}

int tm_proc_finish(struct tm_proc *p, const char *out_path, tm_ms deadline, struct tm_err *err)
{
    int out = out_path ? open(out_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : -1;
    char buf[4096];
    for (int running = 1; running;) {   /* ends at the exit or the deadline */
        running = tm_proc_wait(p, tm_deadline_in(50)) != 0 && !tm_expired(deadline);
        ssize_t r;
        while ((r = read(p->out_fd, buf, sizeof buf)) > 0)
            if (out >= 0 && write(out, buf, (size_t)r) != r)
                break;
    }
    int hung = !p->exited;
    tm_proc_stop(p, 500);
    if (out >= 0)
        close(out);
    if (hung)
        return tm_err_setc(err, TM_E_TIMEOUT, "pid %d: still running at its deadline; stopped",
                           (int)p->pid);
    return tm_proc_exit_code(p);
}

int tm_proc_run(char *const argv[], const char *out_path, tm_ms deadline, struct tm_err *err)
{
    struct tm_proc p;
    if (tm_proc_spawn(&p, argv, out_path, err) != 0)
        return -1;
    struct tm_err e = { 0 };
    int rc = tm_proc_finish(&p, out_path, deadline, &e);
    if (e.code == TM_E_TIMEOUT)   /* named by its program, not its pid */
        return tm_err_setc(err, TM_E_TIMEOUT, "%s: still running at its deadline; stopped",
                           argv[0]);
    return rc;
}
