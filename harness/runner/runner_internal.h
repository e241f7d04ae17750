/* Internal to harness/runner. */
#ifndef TM_RUNNER_INTERNAL_H
#define TM_RUNNER_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "agent/agent.h"
#include "case/case.h"
#include "peer/peer.h"
#include "runner/runner.h"
#include "scenario/scenario.h"
#include "tm_verdict.h"

/* ST_LINK_WAIT overlaps the others (mostly device_request): the part of the case
 * spent waiting on the device link with a message part-way across. */
enum stage { ST_PEER_START, ST_DEVICE_REQUEST, ST_HANDSHAKE, ST_CLASSIFY, ST_REPORT,
             ST_LINK_WAIT, ST_TOTAL, ST_COUNT };
extern const char *const runner_stage_names[ST_COUNT];

struct item {
    size_t idx;        /* case index */
    int iter;          /* repeat round, 0-based */
    int attempt;       /* 1-based */
    json_t *prior;     /* the infrastructure-error record of the previous attempt */
};

/* A finished run of a case: the record is in the spool; what aggregation needs
 * to pick the worst run stays in memory. */
struct run_ref {
    long spool;        /* report_spool index; -1: not spooled, the record is in kept */
    json_t *kept;      /* a record the spool could not take (a write error stops the run) */
    int verdict;       /* enum tm_verdict, -1 unknown */
    int attempts;
    int flaky;
};

struct case_runs {
    struct run_ref *v;
    size_t n, cap;
};

struct report_spool;

/* The selected cases, kept small for the whole run (issue 7: an expanded case is
 * ~4 KB): references into the shared scenarios, each case materialised only
 * while a worker or a record needs it. Repro's ready-made cases stay as given. */
struct case_set {
    json_t *scenarios;              /* what refs point into; NULL with ready */
    struct scenario_ref *refs;
    json_t *ready;                  /* repro: the selected ready-made cases */
    size_t n;
    size_t total, filtered;         /* before the filter; after it, before the shard */
    unsigned char digest[32];       /* of the filtered ids, order-free (select.c) */
};

/* runner_select_cases, as a case_set (empty on error). */
int runner_select_set(const struct runner_opts *o, struct case_set *s, json_t **errors,
                      struct tm_err *err);
/* Case i as a new reference; NULL out of memory. Thread-safe (reads only). */
json_t *case_set_get(const struct case_set *s, size_t i);
void case_set_free(struct case_set *s);
/* The run header's "selection" (contracts §6): filters and tags, case count before the shard
 * and the digest of their ids, so merge can tell a complete set of shards. */
json_t *case_set_selection(const struct case_set *s, const struct runner_sel *sel);

struct progress {
    int tty;
    int enabled;
    size_t total, done;
    int counts[TM_VERDICT_COUNT];
    tm_ms started;
    char current[256];
    int nunexpected;        /* fail, xpass and error results so far */
    json_t *unexpected;     /* their lines, for the list at the end (capped) */
};

struct run_ctx {
    const struct runner_opts *o;
    json_t *manifest, *profile;     /* profile: --profile, else set by the first hello */
    int64_t ref_epoch, unset_epoch;
    const char *fixtures, *report_dir, *peer_host, *profile_name;
    int case_timeout_ms, retries;
    struct case_set cases;
    size_t ncases;
    pthread_mutex_t mu;             /* guards everything below */
    struct item *items;
    size_t nitems, itemcap, next;
    int stop;                       /* --until-fail tripped */
    struct case_runs *runs;         /* per case: its finished runs */
    struct report_spool *spool;     /* every finished record, on disk */
    struct report_dir *rdir;        /* report_dir, locked for this run */
    const json_t *baseline;         /* --baseline, read before the run */
    json_t *selection;              /* header "selection" */
    int claimed;                    /* report_dir's earlier cases/ moved aside */
    int reports_written;            /* this run's reports replaced the earlier ones */
    int write_failed;               /* a write error stopped the run (write_err says) */
    struct tm_err write_err;
    json_t *devices;                /* [{link, hello}] */
    int alive, lost;
    size_t in_flight;               /* items taken and not yet recorded or requeued */
    pthread_cond_t idle;            /* signalled when in_flight drops */
    struct progress prog;
    int64_t stage_sums[ST_COUNT];
    struct link_sums {              /* the cases' "link" records, for the footer */
        unsigned long long sent, received;
        long long wait_us;
        unsigned long long *per_case;   /* bytes both ways, one per recorded run */
        size_t n, cap;
    } link;
    tm_ms run_started;
    char setup_error[2100];          /* a device no profile fits (RUNNER_SETUP), "" none */
    char start_error[1200];          /* repro: the first case whose peer or proxy could not
                                        start (runner_opts.start_failure_is_setup), "" none */
};

#define CLOCK_OWN (INT64_MIN + 1)

struct worker {
    struct run_ctx *ctx;
    char spec[1024];
    int index;
    pthread_t thread;
    struct agent *agent;
    int64_t clock_set;      /* last epoch set on the device; INT64_MIN unknown;
                               CLOCK_OWN: its own clock (never set, or put back) */
    tm_ms clock_set_at;
    int own_clock_known;    /* own_clock holds the first hello's clock */
    int64_t own_clock;      /* the device's own clock (epoch) at own_clock_at */
    tm_ms own_clock_at;
    int incidents;          /* lost-device incidents survived */
    int dead;
    int started;            /* thread created */
    json_t *device_entry;   /* in ctx->devices */
    struct peer_pool *peers; /* this worker's long-lived `tlspeer --serve`; NULL: one-shot peers */
    char stderr_path[1100]; /* the device program's stderr (exec/virtual), in the report dir */
    struct tm_err write_err; /* set by case_execute when a bundle file cannot be written */
    /* Fixtures generated around this device's clock (it cannot be set, and the
     * run's fixtures do not hold at its time): fixtures_day.c. NULL: the run's. */
    json_t *fx_manifest;
    char fx_dir[1200];
};

/* The fixtures a worker's cases use: its own set, else the run's. */
const char *worker_fixtures(const struct worker *w);
const json_t *worker_manifest(const struct worker *w);
/* After the hello: a device that cannot set its clock, at a time where some
 * fixture certificate is not in the state it has at the fixtures' reference
 * time, gets fixtures generated for its UTC day (cached per day beside the
 * run's, FIXTURES.days/YYYY-MM-DD). 0, or -1 with err when they cannot be made. */
int worker_day_fixtures(struct worker *w, struct tm_err *err);
/* 1 when some certificate of the manifest is, at t or an hour on, in another
 * state (not yet valid, valid, expired) than at its reference time; why in buf. */
int runner_fixtures_drift(const json_t *manifest, int64_t t, char *buf, size_t len);

/* Run one case on a worker's device, within --case-timeout (plus at most 1 s to
 * stop its peer and proxy). Returns the record (§6); *infra is set when the
 * result is an infrastructure error worth a retry: 1 device lost or port busy,
 * 2 the device fell silent (no reply before the deadline), 3 the peer stopped
 * answering (the device needs no health check). */
json_t *case_execute(struct worker *w, const json_t *kase, int iter, int attempt, int *infra);
/* The record of a case that could not run on any device. */
json_t *case_error_record(struct run_ctx *ctx, const json_t *kase, const char *device,
                          const char *reason);
/* Base record: id, scenario, doc, tags, axes, expected, xfail… */
json_t *case_base_record(struct run_ctx *ctx, const json_t *kase, const char *device);

/* Setup checks before any device or peer starts (preflight.c): 0, or -1 with the
 * usage error in err. */
int preflight_devices(const struct runner_opts *o, struct tm_err *err);
int preflight_peer_host(const char *host, struct tm_err *err);
int preflight_selection(const struct runner_opts *o, const struct case_set *s,
                        struct tm_err *err);

void progress_start(struct progress *p, size_t total, int mode);
void progress_case(struct progress *p, const json_t *rec);
void progress_current(struct progress *p, const char *id);
void progress_end(struct progress *p);

#endif
