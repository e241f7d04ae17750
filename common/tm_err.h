/* Error carrier shared by all parts: a message that names the place it happened. */
#ifndef TM_ERR_H
#define TM_ERR_H

#include <stddef.h>

struct tm_err {
    char msg[1024];
};

/* Set err->msg (printf-style). Returns -1 so callers can `return tm_err_set(...)`.
 * err may be NULL, in which case nothing is stored. */
int tm_err_set(struct tm_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefix the existing message: "<prefix>: <old msg>". Returns -1. */
int tm_err_prefix(struct tm_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
