/* Files, digests and base64: the small I/O helpers every part needs. */
#ifndef TM_FS_H
#define TM_FS_H

#include <stddef.h>
#include <sys/types.h>

#include "tm_err.h"

/* Read a whole regular file; *data is NUL-terminated (not counted in *len); caller
 * frees. Anything else (directory, FIFO, device) is refused without blocking, and so
 * is a file larger than TM_READ_MAX (tm_read_file_max: larger than max). */
#define TM_READ_MAX (64u << 20)
int tm_read_file(const char *path, unsigned char **data, size_t *len, struct tm_err *err);
int tm_read_file_max(const char *path, size_t max, unsigned char **data, size_t *len,
                     struct tm_err *err);
/* Write atomically (temp file + rename) with the given mode (e.g. 0600 for keys). */
int tm_write_file(const char *path, const void *data, size_t len, mode_t mode,
                  struct tm_err *err);
/* Write in place, for a file in a directory nobody reads yet (a new case bundle):
 * one create instead of create, rename and the temp name's removal. */
int tm_write_new_file(const char *path, const void *data, size_t len, mode_t mode,
                      struct tm_err *err);
/* 1 when data is a private key (PEM "PRIVATE KEY" block, or DER OpenSSL reads as
 * one): what reports and transcripts leave out unless asked to keep secrets. */
int tm_is_private_key(const void *data, size_t len);
/* A new private directory $TMPDIR/PREFIXXXXXXX (TMPDIR when it is an absolute path
 * that fits, else /tmp) into buf; "" in buf on failure. */
int tm_mkdtemp(char *buf, size_t len, const char *prefix, struct tm_err *err);
/* mkdir -p */
int tm_mkdirs(const char *path, mode_t mode, struct tm_err *err);
/* rm -rf: removes path and everything under it, without following symbolic links;
 * it goes on past an entry it cannot remove and fails if anything is left. A
 * missing path is not an error. */
int tm_rmtree(const char *path, struct tm_err *err);
/* Lower-case hex SHA-256 of data into out (65 bytes). */
void tm_sha256_hex(const void *data, size_t len, char out[65]);
/* Base64 without line breaks; caller frees. NULL on allocation failure. */
char *tm_b64_encode(const void *data, size_t len);
/* Returns decoded length, or -1 for invalid input; *out is caller-freed. */
long tm_b64_decode(const char *text, unsigned char **out);

#endif
