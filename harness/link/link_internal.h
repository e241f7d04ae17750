/* Internal to harness/link: the link object and the per-kind operations. */
#ifndef TM_LINK_INTERNAL_H
#define TM_LINK_INTERNAL_H

#include <sys/types.h>

#include "link/link.h"

struct sp_port;

struct link {
    enum link_kind kind;
    char spec[1024];
    int fd;                 /* the stream: serial handle, socket or pty master */
    struct sp_port *port;   /* serial */
    pid_t pid;              /* exec: child on the pty (its own session) */
    char **argv;            /* exec: for restarts */
    int err_fd;             /* exec: where the program's stderr goes (-1 none) */
    int agent;              /* exec-agent: the program is the agent */
    char home[64];          /* exec-agent: its private working directory, "" none */
    char asked[1024];       /* the spec as given (auto, serial:id=: looked up per open) */
    char *reset_cmd;        /* link_set_reset_command; NULL: the kind's own reset */
};

/* Per kind: 0 when the argument after "KIND:" is well formed (nothing opened). */
int link_serial_check(const char *arg, struct tm_err *err);
int link_tcp_check(const char *arg, struct tm_err *err);
int link_exec_check(const char *cmd, struct tm_err *err);

int link_serial_open(struct link *l, const char *arg, struct tm_err *err);
int link_serial_reset(struct link *l, struct tm_err *err);
void link_serial_close(struct link *l);

int link_tcp_open(struct link *l, const char *arg, struct tm_err *err);

/* stderr_path: the program's stderr is appended there; NULL: a temporary file of
 * the link's own. Either way its last lines are quoted when the link closes.
 * agent: the program is the agent (exec-agent:), run in a private directory. */
int link_exec_open(struct link *l, const char *cmd, const char *stderr_path, int agent,
                   struct tm_err *err);
/* "; its stderr ends: …" with the program's last stderr lines, or "" (exec only). */
void link_exec_stderr_tail(const struct link *l, char *out, size_t len);
/* Wait for the program to exit: its exit code (128+N for signal N), -1 by the
 * deadline (it keeps running; link_exec_close stops it). */
int link_exec_wait(struct link *l, tm_ms deadline);
int link_exec_reset(struct link *l, struct tm_err *err);
void link_exec_close(struct link *l);

#endif
