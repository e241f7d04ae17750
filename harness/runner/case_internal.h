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
    /* A session step's open (case_session.c): */
    json_t *step_fields;       /* request fields over the device part's; NULL none */
    char *const *step_peer_args; /* tlspeer arguments added for this connection */
    size_t nstep_peer_args;
    int keep_peer;             /* the peer runs on after the reply (a kept connection) */
    int peer_oneshot;          /* another connection's peer still runs: not the pool's */
    json_t *steps;             /* the session's step records; NULL: one operation */
    json_t *trend;             /* the session's trend record; NULL none */
    int session_failed;        /* a step or a trend not as expected */
    char session_reason[600];
};

/* Drive one TLS operation of r's case (op "tls_client", …): peer, proxy,
 * request, reply into r->reply, peer result into r->peer_result unless
 * keep_peer (then r->peer runs on). 0, 1 no reply by the deadline, -1 lost or
 * failed (err), -2 setup. */
int case_drive(struct case_run *r, const char *op, json_t *files, struct tm_err *err);
/* Wait for the peer's result of the running r->peer into r->peer_result. */
void case_finish_peer(struct case_run *r);

/* Run r's session (r->c.steps): 0, 1 no reply by the deadline, -1 lost or failed
 * (err), -2 setup. Step records into r->steps, the trend into r->trend,
 * r->session_failed and its reason when a step or trend is not as expected. */
int case_session_run(struct case_run *r, const char *op, struct tm_err *err);
/* The record's verdict for a session (pass, fail, xfail, xpass) and reason. */
const char *case_session_verdict(struct case_run *r, char *reason, size_t len);

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
