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
};

int link_serial_open(struct link *l, const char *arg, struct tm_err *err);
int link_serial_reset(struct link *l, struct tm_err *err);
void link_serial_close(struct link *l);

int link_tcp_open(struct link *l, const char *arg, struct tm_err *err);

int link_exec_open(struct link *l, const char *cmd, struct tm_err *err);
int link_exec_reset(struct link *l, struct tm_err *err);
void link_exec_close(struct link *l);

#endif
