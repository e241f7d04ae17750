/* Links: the byte stream between the harness and a camera (docs/architecture.md, "Links").
 *
 *   serial:PATH[,baud=N][,by-id=DIR]
 *                          a real port, locked exclusively; a bare PATH (starting
 *                          with '/') means the same. The board is known by its udev
 *                          by-id link (in DIR, default /dev/serial/by-id) or USB
 *                          serial number, so it is found again after a reset moves
 *                          it to another tty (link_reopen)
 *   serial:id=SERIAL[,…]   the USB serial port with that serial number (looked up
 *                          at every open: the board may come back as another tty)
 *   auto                   the only MicroPython/OpenMV board present (by VID:PID)
 *   tcp:HOST:PORT          a serial port exported raw over TCP (ser2net, labgrid)
 *   rfc2217:HOST:PORT[,baud=N]  a remote serial port behind an RFC 2217 telnet
 *                          server (ser2net telnet(rfc2217), labgrid): baud, 8N1,
 *                          DTR/RTS and break sent to the port; reset as on a local one
 *   exec:CMD ARGS…         a program on a pseudo-terminal (raw mode), e.g. a
 *                          MicroPython unix build or the virtual camera
 *   exec-agent:CMD ARGS…   a program that is the agent already (e.g. a MicroPython
 *                          unix port running camera/agent/agent.py): it speaks the
 *                          agent protocol from its first line, no REPL; it runs in a
 *                          private temporary directory (its flash)
 *   virtual[:ARGS]         exec of ${TM_BIN_DIR}/vcam ARGS
 *
 * Every read takes an absolute deadline (tm_time.h); nothing blocks without one. */
#ifndef TM_LINK_H
#define TM_LINK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "tm_err.h"
#include "tm_time.h"

struct link;

enum link_kind { LINK_SERIAL, LINK_TCP, LINK_EXEC, LINK_RFC2217 };

/* Open a link from its spec. Errors name the spec; a locked serial port gives
 * "port busy" in the message (link_error_is_busy() tells callers). */
struct link *link_open(const char *spec, struct tm_err *err);
/* link_open with an exec or virtual program's stderr appended to stderr_path
 * (NULL: a temporary file of the link's own). Its last lines are quoted in the
 * error when the link closes. */
struct link *link_open_logged(const char *spec, const char *stderr_path, struct tm_err *err);

/* Read up to n bytes. Returns the byte count (> 0), 0 when the deadline passed
 * with nothing to read, -1 when the link closed (EOF, hang-up, child gone), -2 on
 * any other error (err says which). */
ssize_t link_read(struct link *l, void *buf, size_t n, tm_ms deadline, struct tm_err *err);

/* Write all n bytes before the deadline. 0 on success, -1 closed, -2 error/deadline. */
int link_write(struct link *l, const void *buf, size_t n, tm_ms deadline, struct tm_err *err);

/* The link's own reset: serial pulses DTR/RTS (boards that wire them to reset),
 * exec restarts the program, tcp cannot (returns -1, err says so). */
int link_reset(struct link *l, struct tm_err *err);
/* A shell command that resets or power-cycles the board (a lab file's `reset`),
 * run by link_hard_reset; it must exit 0. NULL: none. */
int link_set_reset_command(struct link *l, const char *cmd, struct tm_err *err);

void link_close(struct link *l);

/* The recovery ladder's link rungs (agent_recover). */
/* 1 when link_reset resets the board: an exec program (restarted), a serial
 * board not known to leave DTR/RTS unwired (OpenMV boards do). */
int link_reset_wired(const struct link *l);
/* Run the reset command (link_set_reset_command) by /bin/sh within the deadline;
 * on a serial link, then wait (up to 3 s) for the board to leave the bus. 0 it
 * ran and exited 0, 1 there is none, -1 it failed (err says how). */
int link_hard_reset(struct link *l, tm_ms deadline, struct tm_err *err);
/* Close and open again. A serial board is waited for (until deadline) under its
 * identity, wherever it re-enumerated; a move to another device node is kept
 * (link_moves). -1 with TM_E_LOST when it did not come back. */
int link_reopen(struct link *l, tm_ms deadline, struct tm_err *err);

/* A serial board found under another device node after a reset. */
#define LINK_MAX_MOVES 16
struct link_move {
    char from[512], to[512];
    int64_t waited_ms;   /* from the reopen's start until the board was there */
};
/* The moves since the link opened: *moves gets the first LINK_MAX_MOVES; the
 * count of all is returned. */
size_t link_moves(const struct link *l, const struct link_move **moves);

enum link_kind link_kind(const struct link *l);
const char *link_spec(const struct link *l);
/* 0 when the spec is well formed: a known kind, a serial path and options, a TCP
 * host and a port in 1..65535, an exec command that parses and names a program
 * that exists. Opens nothing. */
int link_spec_check(const char *spec, struct tm_err *err);
/* link_spec_check, and for the virtual camera its own check of its arguments and
 * profile (`vcam --check`): run before any device starts, so a spec that could
 * never work is a setup error, not a device lost. */
int link_preflight(const char *spec, struct tm_err *err);
/* Where the link leads, for the run's record of the device: {"port", "vid",
 * "pid", "serial"} (hex VID:PID; serial when the device has one) for a USB serial
 * port, NULL for other kinds. New reference. */
json_t *link_identity(const struct link *l);
/* 1 when the spec names a program the harness starts (virtual, exec:,
 * exec-agent:): several instances of it can run side by side. */
int link_spec_spawns(const char *spec);
/* 1 when the program on the link is the agent itself (exec-agent:): no raw REPL,
 * nothing to upload, the hello is its first line. */
int link_is_agent(const struct link *l);
/* 1 when the spec names the project's virtual camera. */
int link_is_virtual_spec(const char *spec);
/* 1 when err has code TM_E_BUSY: a port held by another program (an
 * infrastructure cause). */
int link_error_is_busy(const struct tm_err *err);

/* A serial port as the system lists it (libserialport). */
struct link_port {
    char path[256];
    char desc[128];
    int usb;               /* USB-attached: vid, pid and serial below */
    int vid, pid;
    char serial[128];      /* "" when the device has none */
};

/* Every serial port; *n gets the count. NULL with err on failure; free() it. */
struct link_port *link_ports_list(size_t *n, struct tm_err *err);
/* Board name for a USB VID:PID, or NULL when it is not a known camera
 * (docs/device-model.md §4.1). */
const char *link_board_name(int vid, int pid);
/* "BOARD with MCU" as the camera's firmware names its machine, in buf, or NULL
 * when the VID:PID is not a camera running MicroPython (unknown, or a bootloader). */
const char *link_board_machine(int vid, int pid, char *buf, size_t len);

/* 1 when resolving spec needs the port list (auto, serial:id=). */
int link_spec_needs_ports(const char *spec);
/* The spec to open for what the user wrote, among these ports: a bare path is
 * serial:PATH, auto the one camera present, serial:id=SERIAL the port with that
 * serial number (options kept); other specs unchanged. None or several cameras
 * for auto, no such serial: TM_E_INPUT, the message listing what was found. */
int link_resolve_in(const char *spec, const struct link_port *ports, size_t n, char *out,
                    size_t len, struct tm_err *err);
/* link_resolve_in over the ports present now. */
int link_resolve(const char *spec, char *out, size_t len, struct tm_err *err);

#endif
