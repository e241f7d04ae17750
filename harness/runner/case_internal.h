/* Internal to the case files of harness/runner: case.c runs a case,
 * case_request.c makes its device request, case_bundle.c writes its bundle. */
#ifndef TM_CASE_INTERNAL_H
#define TM_CASE_INTERNAL_H

#include "runner_internal.h"

/* One case being run: the typed case, its record, transcripts and evidence. */
struct case_run {
    struct worker *w;
    struct run_ctx *ctx;
    const json_t *kase;        /* as selected: what the record and bundle repeat */
    struct tm_case c;          /* the same case, typed: what the run reads */
    json_t *rec;
    json_t *t_agent, *t_peer, *t_proxy;
    char dir[1200];
    tm_ms deadline;
    int64_t stage[ST_COUNT];
    json_t *reply, *peer_result;
    char peer_evidence[256];
    char error[1100];          /* infrastructure error, "" when none */
    enum tm_errc error_code;   /* its code (TM_E_BUSY: worth a retry) */
    int lost, skip, silent;
    int peer_stuck;            /* the peer was stopped when its ready line or result was due */
    int setup_failed;          /* the peer or proxy refused to start, or a user file the
                                  device needs does not convert: the command's fault */
    struct peer *peer;
    struct proxy *proxy;
};

/* The device part of r's case → agent request fields (contracts §5 → §3) for a
 * client connecting to host:port (host NULL: a server on a free port); files
 * gets device path → fixture name for each file to push first. */
json_t *case_device_request(struct case_run *r, const char *host, int port, json_t *files);

/* A bundle file that could not be written: the worker's write_err keeps the
 * first, and the runner stops the run on it. */
void case_bundle_failed(struct case_run *r, const struct tm_err *err);
/* The record's "bundle" and "replay", then the bundle files. */
void case_bundle_write(struct case_run *r);

#endif
