/* Error carrier shared by all parts: a message that names the place it happened,
 * and a code that says what kind of failure it was. Callers decide a cause from
 * the code, never from the words of the message; tests assert the code. */
#ifndef TM_ERR_H
#define TM_ERR_H

#include <stddef.h>

enum tm_errc {
    TM_E_NONE = 0,      /* no error (a zeroed struct tm_err) */
    TM_E_FAIL,          /* a failure with no finer code (tm_err_set) */
    TM_E_INPUT,         /* bad input: an option, a scenario or case field, a file's content */
    TM_E_IO,            /* a file, pipe or socket operation failed */
    TM_E_NOMEM,         /* out of memory */
    TM_E_BUSY,          /* a device port held by another program: worth a patient retry */
    TM_E_TIMEOUT,       /* a deadline passed */
    TM_E_LOST,          /* the link to the device closed or broke */
    TM_E_HELD,          /* the board is held by another live harness session (lock) */
    TM_E_COUNT
};

/* msg first, so `struct tm_err e = { "" };` stays a valid initialiser. */
struct tm_err {
    char msg[1024];
    enum tm_errc code;
};

/* Set err->msg (printf-style) with code TM_E_FAIL. Returns -1 so callers can
 * `return tm_err_set(...)`. err may be NULL, in which case nothing is stored. */
int tm_err_set(struct tm_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* tm_err_set with a code. Returns -1. */
int tm_err_setc(struct tm_err *err, enum tm_errc code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the existing message: "<prefix>: <old msg>"; the code stays. Returns -1. */
int tm_err_prefix(struct tm_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The code of err (TM_E_NONE for NULL). */
enum tm_errc tm_err_code(const struct tm_err *err);

/* Stable token of a code ("none", "fail", "input", "io", "nomem", "busy",
 * "timeout", "lost", "held"), for logs and records; "?" out of range. */
const char *tm_errc_name(enum tm_errc code);

/* in made safe to print on a terminal, into out (always terminated): control
 * characters (C0, DEL, C1) and bytes that are not UTF-8 become \xNN, so text from
 * a device or a peer cannot move the cursor, retitle the window or recolour it.
 * Returns out. */
const char *tm_printable(const char *in, char *out, size_t len);

/* One line on stderr: fmt's result made printable (tm_printable), then a newline.
 * Messages that may quote a device, a peer or a file go through here. */
void tm_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
