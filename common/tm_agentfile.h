/* The agent kept on the device's file system (docs/contracts.md §3, "Stored
 * agent"): the two small raw-REPL programs the harness sends and the virtual
 * camera acts out, built from one set of templates so both ends agree.
 *
 * - the loader: hashes TM_AF_FILE (sha256, read in 512-byte pieces) and, when
 *   it is the agent the harness means, imports it (the agent runs); otherwise it
 *   opens TM_AF_TEMP for writing and prints one status line, TM_AF_MARK + why:
 *   `nofile`, `stale`, `nohash` (no hashlib: nothing can be checked, nothing is
 *   opened) or `nostore ERRNO` (the temp file cannot be created: a read-only
 *   file system);
 * - the writer (sent after a loader's `nofile`/`stale`): writes the agent into
 *   the open temp file and renames it onto TM_AF_FILE, and prints `stored` or
 *   `nostore ERRNO` (the temp file removed).
 *   The next loader checks what landed, so a partial or stale file never runs. */
#ifndef TM_AGENTFILE_H
#define TM_AGENTFILE_H

#include <stddef.h>

#define TM_AF_FILE "tm_agent.py"
#define TM_AF_TEMP "tm_agent.tmp"
#define TM_AF_MARK "tm-agent:"

/* The loader for an agent whose sha256 is sha_hex (64 lower-case hex digits).
 * NUL-terminated, caller-freed; NULL on allocation failure or a bad hash. */
char *tm_af_loader(const char *sha_hex);

/* The writer with the agent's bytes as a Python bytes literal (what a board
 * without `deflate` is sent), or, with payload_expr, with that expression
 * (e.g. a deflate one) in its place. Caller-freed; NULL on allocation failure. */
char *tm_af_writer(const unsigned char *agent, size_t len);
char *tm_af_writer_expr(const char *payload_expr);

/* A program as the device received it: which of the two it is and its
 * parameters (the virtual camera's side). */
enum tm_af_kind { TM_AF_OTHER = 0, TM_AF_LOADER, TM_AF_WRITER };
struct tm_af_prog {
    enum tm_af_kind kind;
    char sha_hex[65];          /* loader: the hash it checks for */
    unsigned char *payload;    /* writer with a bytes literal: the agent's bytes
                                  (caller-freed with tm_af_prog_free) */
    size_t payload_len;
};
/* Recognise code (len bytes). A writer whose payload is not a bytes literal in
 * tm_af_writer's form is TM_AF_OTHER. 0, or -1 on allocation failure. */
int tm_af_parse(const unsigned char *code, size_t len, struct tm_af_prog *out);
void tm_af_prog_free(struct tm_af_prog *p);

/* The status word of a program's TM_AF_MARK line (the text after the mark). */
enum tm_af_status { TM_AF_ST_UNKNOWN = 0, TM_AF_ST_NOFILE, TM_AF_ST_STALE, TM_AF_ST_NOHASH,
                    TM_AF_ST_NOSTORE, TM_AF_ST_STORED };
/* *eno gets the errno of `nostore N` (0 otherwise). */
enum tm_af_status tm_af_status_parse(const char *text, int *eno);

#endif
