/* Internal to harness/link: the link object and the per-kind operations. */
#ifndef TM_LINK_INTERNAL_H
#define TM_LINK_INTERNAL_H

#include <sys/types.h>

#include "link/link.h"

/* serial: the options of the spec and who the board is (link_serial.c). */
struct link_serial_cfg {
    char path[512];         /* as given */
    int baud;
    char by_id[256];        /* where udev's by-id links are (by-id=DIR) */
    char real[512];         /* the device node open now */
    char id_name[256];      /* the by-id link that named it at open, "" none */
    char usb_serial[128];   /* USB serial number, "" unknown */
    int vid, pid;
};

struct link {
    enum link_kind kind;
    char spec[1024];
    int fd;                 /* the stream: serial handle, socket or pty master */
    struct link_serial_cfg serial;
    struct link_move moves[LINK_MAX_MOVES];   /* serial: re-enumerations, the first ones */
    size_t nmoves;                            /* all of them */
    pid_t pid;              /* exec: child on the pty (its own session) */
    char **argv;            /* exec: for restarts */
    int err_fd;             /* exec: where the program's stderr goes (-1 none) */
    int agent;              /* exec-agent: the program is the agent */
    char home[64];          /* exec-agent: its private working directory, "" none */
    char asked[1024];       /* the spec as given (auto, serial:id=: looked up per open) */
    char *reset_cmd;        /* link_set_reset_command: link_hard_reset runs it; NULL none */
    /* rfc2217: the telnet decoder, across reads */
    int tn_state, tn_verb;
    unsigned char tn_sb[32];
    size_t tn_sblen;
    unsigned tn_acks;       /* bit 0: DO COM-PORT; bit N: COM-PORT command N answered */
};

/* Per kind: 0 when the argument after "KIND:" is well formed (nothing opened). */
int link_serial_check(const char *arg, struct tm_err *err);
int link_tcp_check(const char *arg, struct tm_err *err);
int link_exec_check(const char *cmd, struct tm_err *err);

int link_serial_open(struct link *l, const char *arg, struct tm_err *err);
int link_serial_reset(struct link *l, struct tm_err *err);
int link_serial_reset_wired(const struct link *l);
/* Close, wait until deadline for the board to show up again, reopen it. */
int link_serial_reopen(struct link *l, tm_ms deadline, struct tm_err *err);
/* After a reset command: until the board left the bus (0), or -1 when it is
 * still there after 3 s (or at the deadline). */
int link_serial_wait_gone(struct link *l, tm_ms deadline, struct tm_err *err);
void link_serial_close(struct link *l);

int link_tcp_open(struct link *l, const char *arg, struct tm_err *err);

int link_rfc2217_check(const char *arg, struct tm_err *err);
/* Connect, negotiate binary telnet with COM-PORT-OPTION and set baud, 8N1, no flow
 * control and DTR; every line setting must be acknowledged by the server. */
int link_rfc2217_open(struct link *l, const char *arg, struct tm_err *err);
int link_rfc2217_reset(struct link *l, struct tm_err *err);
int link_rfc2217_break(struct link *l, int ms, struct tm_err *err);
/* Telnet bytes read from the server → the port's data, in place; returns its length. */
size_t link_rfc2217_decode(struct link *l, unsigned char *buf, size_t n);
/* The port's data as telnet bytes (0xFF doubled); malloc'd, NULL out of memory. */
unsigned char *link_rfc2217_escape(const void *data, size_t n, size_t *out_len);
/* link_read without any decoding (the stream's own bytes). */
ssize_t link_read_raw(struct link *l, void *buf, size_t n, tm_ms deadline, struct tm_err *err);

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
