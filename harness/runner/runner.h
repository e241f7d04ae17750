/* The runner: cases from scenarios, one worker thread per device, peers and
 * proxies per case, classification, per-case bundles, reports (contracts §5–6). */
#ifndef TM_RUNNER_H
#define TM_RUNNER_H

#include <jansson.h>
#include <stddef.h>

#include "tm_err.h"

/* Exit codes of every tlsmatrix command (README "CI"). When several apply, the
 * first of 2, 4, 3, 1 wins. */
enum runner_exit {
    RUNNER_OK = 0,          /* every selected case as expected, and at least one ran */
    RUNNER_UNEXPECTED = 1,  /* a fail, xpass or error verdict; every case skipped (unless
                               --allow-skips); fewer than --min executed */
    RUNNER_SETUP = 2,       /* usage or setup error, found before any device starts; or a
                               write error that stopped the run */
    RUNNER_INFRA = 3,       /* a device was lost for good */
    RUNNER_INTERRUPTED = 4, /* SIGINT, SIGTERM or SIGHUP: what finished is reported */
};

/* Which cases of the catalog a run (and `list`) takes, before --shard: a case is
 * in when it matches one of the filters (none: all), carries one of the tags
 * (none: any) and none of the excluded tags. */
struct runner_sel {
    const char *const *filters;     /* globs over case ids or scenario names */
    size_t nfilters;
    const char *const *tags;
    size_t ntags;
    const char *const *exclude_tags;
    size_t nexclude_tags;
};

/* 1 when a case (its id, scenario name and tags array) is in the selection. */
int runner_sel_match(const struct runner_sel *sel, const char *id, const char *scenario,
                     const json_t *tags);
/* 1 when the selection narrows anything (some filter or tag given). */
int runner_sel_given(const struct runner_sel *sel);

struct runner_opts {
    const char *const *devices;     /* link specs; none = {"virtual"} */
    size_t ndevices;
    const char *const *device_resets; /* per device, its reset command (lab file) or NULL;
                                       NULL: none has one */
    const char *const *scenarios;   /* files or dirs; none = TM_SOURCE_DIR/scenarios */
    size_t nscenarios;
    struct runner_sel sel;          /* --filter, --tag, --exclude-tag */
    const char *profile;            /* name or file; NULL = micropython-openmv-default */
    const char *baseline;           /* previous run.json, optional */
    const char *report_dir;         /* NULL = results/latest */
    const char *fixtures_dir;       /* NULL = TM_FIXTURES_DIR */
    const char *agent_script;       /* NULL = TM_SOURCE_DIR/camera/agent/agent.py */
    const char *scratch_dir;        /* the cases' peer files under it go with the run
                                       (x509-limbo's): each bundle keeps a copy */
    const char *peer_host;          /* address the device reaches peers at; NULL = 127.0.0.1 */
    int jobs;                       /* worker cap; 0 = one per device */
    int shard_k, shard_n;           /* 1/1 when unset */
    int repeat;                     /* runs per case (>= 1) */
    int until_fail;                 /* stop repeating at the first unexpected verdict */
    unsigned long seed;
    int min_executed;               /* fail when fewer cases executed (not skipped); -1 unset */
    int allow_skips;                /* a run where every case was skipped exits 0 */
    int retries;                    /* extra attempts for infrastructure causes; -1 = 1 */
    int case_timeout_ms;            /* 0 = 20000 */
    int profile_stages;             /* print per-stage sums at the end */
    int progress;                   /* 0 none, 1 auto (TTY: live line, else one line per case) */
    int argc;                       /* the command line, recorded in the run header */
    char **argv;
    const json_t *cases;            /* repro: ready-made cases (skip scenario loading) */
    const char *cases_file;         /* repro: where those came from, for replay lines */
    int keep_secrets;               /* reports keep private keys; every file written 0600 */
    int device_proto;               /* highest agent protocol to speak; 0 = the newest */
    int verbose_device;             /* agent proto 2: full replies on success too */
    int steal;                      /* take boards other live sessions hold (agent_opts.steal) */
    long lease_ms;                  /* the boards' lease without a request; 0 = 120 s */
    int agent_upload;               /* AGENT_UPLOAD_AUTO (the agent kept on the board) or
                                       _ALWAYS (sent whole at every bootstrap) */
    int verbose;                    /* say how each bootstrap started the agent */
    int start_failure_is_setup;     /* repro: a peer or proxy that cannot start (or a user file
                                       that does not convert) ends the run with RUNNER_SETUP */
    /* repro: called once the report directory is claimed, before any case runs,
     * to write the user's converted files and look-alikes into it. */
    int (*prepare)(const char *report_dir, void *arg, struct tm_err *err);
    void *prepare_arg;
};

/* Run and write the reports. Returns an enum runner_exit; for RUNNER_SETUP err
 * holds the message. */
int runner_run(const struct runner_opts *o, struct tm_err *err);

/* Ask a running run to stop: no new case starts, cases in flight finish within
 * their deadlines, cases not run are reported as errors ("interrupted") and
 * the reports are written; the exit code is RUNNER_INTERRUPTED. Async-signal-safe. */
void runner_request_stop(void);

/* The cases a run would execute, after selection, shard and seed order (`list`
 * and `run` both take their cases from here). Scenario
 * file errors are returned in *errors (array of "FILE:LINE: …" strings). */
json_t *runner_select_cases(const struct runner_opts *o, json_t **errors, struct tm_err *err);

/* Why a case would be skipped on a device with this hello (NULL hello: the
 * device requirements as "needs …"), or NULL when it runs. manifest (the
 * fixtures' manifest.json, NULL: not checked) decides whether a device that
 * cannot set its clock can run a reference-time case at its own time. */
const char *runner_skip_reason(const json_t *kase, const json_t *hello, const json_t *manifest,
                               char *buf, size_t len);

/* Make sure the PKI fixtures exist in dir (running pkigen when manifest.json is
 * missing) and return the manifest. */
json_t *runner_fixtures(const char *dir, struct tm_err *err);
/* The same for a reference time (pkigen --ref-time; NULL: now) and key cache. */
json_t *runner_fixtures_at(const char *dir, const char *ref_time, const char *cache,
                           struct tm_err *err);

/* The exit code for a run's totals (indexed by enum tm_verdict): 1 for an
 * unexpected verdict, for every case skipped (unless allow_skips) and for fewer
 * than min_executed executed (when >= 0), else 0. Shared by run and merge. */
int runner_exit_for(const long long totals[], int allow_skips, int min_executed);
/* The same for a run.json "totals" object (merge). */
int runner_exit_for_totals(const json_t *totals, int allow_skips);

/* "client-x/openssl/p256/tls" → "client-x_openssl_p256_tls" (bundle dir names). */
void runner_sanitise_id(const char *id, char *out, size_t len);

#endif
