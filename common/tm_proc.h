/* Child processes: spawn with a stdout pipe, read its JSON lines with a deadline,
 * stop it by pid. Every part that starts a peer, proxy or camera uses this. */
#ifndef TM_PROC_H
#define TM_PROC_H

#include <sys/types.h>

#include "tm_err.h"
#include "tm_time.h"

struct tm_proc {
    pid_t pid;
    int out_fd;       /* read end of the child's stdout, -1 when not captured */
    int exited;       /* set once reaped */
    int status;       /* raw wait status once exited */
    int status_lost;  /* reaped by someone else (ECHILD): the exit status is unknown */
};

/* Spawn argv[0] (searched in PATH) with stdin from /dev/null, stdout to a pipe
 * (non-blocking, close-on-exec) and stderr appended to stderr_path (or inherited
 * when NULL). The child gets its own process group so a stop kills helpers too,
 * and is killed when the thread that spawned it ends (PR_SET_PDEATHSIG), so no
 * child outlives the harness: stop it before that thread returns. */
int tm_proc_spawn(struct tm_proc *p, char *const argv[], const char *stderr_path,
                  struct tm_err *err);

/* Wait until the child exits or the deadline passes. 0 when exited, 1 on timeout. */
int tm_proc_wait(struct tm_proc *p, tm_ms deadline);

/* SIGTERM the process group, wait up to grace_ms, then SIGKILL; always reaps. */
void tm_proc_stop(struct tm_proc *p, int grace_ms);

/* 1 when the child is stopped (SIGSTOP, SIGTSTP, a tracer) rather than running
 * or waiting: it cannot answer, whatever its deadline (Linux /proc). */
int tm_proc_stopped(const struct tm_proc *p);

/* Exit code (0-255) or 128+signal; -1 while running or when the status was lost. */
int tm_proc_exit_code(const struct tm_proc *p);

/* Run argv to its end (tm_proc_spawn): its stdout, and its stderr when out_path is
 * given, appended to out_path (NULL: stdout dropped, stderr inherited). Its exit
 * code (tm_proc_exit_code), or -1 with err: it did not start, or it was still
 * running at the deadline (TM_E_TIMEOUT) and was stopped. */
int tm_proc_run(char *const argv[], const char *out_path, tm_ms deadline, struct tm_err *err);
/* Its second half, for a child started with tm_proc_spawn: stdout appended to
 * out_path (NULL: dropped) until the exit or the deadline. The exit code, or -1
 * with err (TM_E_TIMEOUT) when it was still running and was stopped. */
int tm_proc_finish(struct tm_proc *p, const char *out_path, tm_ms deadline, struct tm_err *err);

/* Buffered line reader on a file descriptor, with absolute deadlines. */
struct tm_lines {
    int fd;
    char *buf;
    size_t len, cap;
    size_t max_line;  /* longer lines are an error (protects against garbage) */
    int eof;
};

void tm_lines_init(struct tm_lines *lr, int fd, size_t max_line);
void tm_lines_free(struct tm_lines *lr);
/* Read one line (without "\n"; a trailing "\r" is stripped too) into *line, which
 * the caller frees. Returns 1 for a line, 0 on deadline, -1 on EOF, -2 on error
 * or an over-long line (err says which). */
int tm_lines_read(struct tm_lines *lr, tm_ms deadline, char **line, struct tm_err *err);

#endif
