/* Shared helpers of the tlspeer tests: a PKI from pkigen, tlspeer and tool
 * processes with bounded waits, and JSON result access. */
#ifndef TP_UTIL_H
#define TP_UTIL_H

#include <jansson.h>

#include "tm_proc.h"

#define TLSPEER TM_BIN_DIR "/tlspeer"
/* --timeout for a peer whose test expects it to finish: only a hang guard, far
 * above a handshake on a loaded machine (process start included), so the outcome
 * never depends on the machine's speed. Tests about deadlines give their own. */
#define TP_HANG_MS "30000"
/* How long a test waits for such a peer's result line: past TP_HANG_MS. */
#define TP_WAIT_MS 40000

/* Suite fixture (unchecked): a temporary directory with a PKI made by pkigen for
 * the whole suite; removed with everything in it at the end of the suite. */
void tp_pki_setup(void);
void tp_pki_teardown(void);
/* Per-test fixture (checked): the test's own directory inside the suite's. */
void tp_dir_setup(void);
void tp_dir_teardown(void);
const char *tp_dir(void);

/* sha256 of certificate NAME from the PKI's manifest.json (static buffer). */
const char *tp_manifest_sha256(const char *name);
/* Path of a PKI file (a few rotating static buffers, for argv lists). */
const char *tp_pki(const char *name);

struct tp_proc {
    struct tm_proc proc;
    struct tm_lines lines;
    int port;
    char err_path[512];
};

/* Start tlspeer with args (NULL-terminated; "PORT" in an argument is replaced by
 * port). A server's ready line is read and checked, its port stored. */
void tp_peer_start(struct tp_proc *p, const char *const args[], int port);
/* The same without reading a ready line. */
void tp_peer_spawn(struct tp_proc *p, const char *const args[], int port);
/* Read lines until the result line (within timeout_ms), then require exit 0. */
json_t *tp_peer_result(struct tp_proc *p, int timeout_ms);
/* Run a tlspeer server and client to their results. */
void tp_pair(const char *const srv[], const char *const cli[], json_t **sres, json_t **cres);

/* Start any program; stdout captured, stderr to a file in the test directory. */
void tp_tool_start(struct tp_proc *p, const char *const argv[]);
/* Read tool stdout lines until one contains needle; returns 1 if seen. */
int tp_tool_wait_line(struct tp_proc *p, const char *needle, int timeout_ms, char **line);
/* Collect remaining stdout until EOF or timeout into a malloc'd string. */
char *tp_tool_output(struct tp_proc *p, int timeout_ms);
void tp_proc_end(struct tp_proc *p);

/* A port nobody listens on right now (bind to 0, read, close). */
int tp_free_port(int type);

/* Field checks with messages naming the field. */
/* The peer_cert object's fields. */
void tp_expect_cert(json_t *res, const char *name, int verified);
void tp_expect_str(json_t *j, const char *key, const char *want);   /* want NULL: null */
void tp_expect_int(json_t *j, const char *key, long long want);
void tp_expect_bool(json_t *j, const char *key, int want);           /* -1: null */
const char *tp_str(json_t *j, const char *key);

#endif
