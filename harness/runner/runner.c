/* The run: setup, one worker thread per device sharing one queue of cases,
 * retries for infrastructure causes, repeats, the run document and reports. */
#include "runner_internal.h"

#include <errno.h>
#include <signal.h>
#include <gnutls/gnutls.h>
#include <mbedtls/version.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "link/link.h"
#include "profile/profile.h"
#include "report.h"
#include "tm_fs.h"
#include "tm_verdict.h"

#define BOOTSTRAP_MS 30000
#define MAX_INCIDENTS 10        /* lost-device incidents a device may survive */
#define UNTIL_FAIL_MAX 1000     /* --until-fail without --repeat: bounded */
#define DEFAULT_PROFILE "micropython-openmv-default"
#define PORT_BUSY_RETRIES 3
#define PORT_BUSY_WAIT_MS 1000

/* Set from a signal handler; the one piece of process state the runner keeps,
 * because a signal handler cannot reach a run's context. */
static volatile sig_atomic_t stop_requested;

void runner_request_stop(void)
{
    stop_requested = 1;
}

/* Take the next item; 0 when the run is over. An empty queue is not the end while
 * other workers have items in flight: one may come back as a retry, and its device
 * may be taken out before it can run it. */
static int take_item(struct run_ctx *c, struct item *it)
{
    int got = 0;
    pthread_mutex_lock(&c->mu);
    while (!stop_requested && !got) {
        if (c->next < c->nitems) {
            *it = c->items[c->next++];
            if (c->stop && it->iter > 0) {   /* --until-fail tripped: later rounds drop */
                json_decref(it->prior);
                if (c->prog.total > 0)       /* and leave the progress total and ETA */
                    c->prog.total--;
                continue;
            }
            c->in_flight++;
            got = 1;
        } else if (c->in_flight > 0) {
            /* Timed: a stop request comes from a signal handler, which cannot signal. */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 100 * 1000000L;
            if (until.tv_nsec >= 1000000000L)
                until.tv_sec++, until.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&c->idle, &c->mu, &until);
        } else {
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return got;
}

/* The item taken last is recorded or back in the queue. */
static void item_done(struct run_ctx *c)
{
    pthread_mutex_lock(&c->mu);
    c->in_flight--;
    pthread_cond_broadcast(&c->idle);
    pthread_mutex_unlock(&c->mu);
}

static void push_item(struct run_ctx *c, struct item it)
{
    pthread_mutex_lock(&c->mu);
    if (c->nitems == c->itemcap) {
        size_t ncap = c->itemcap * 2 + 16;
        struct item *n = realloc(c->items, ncap * sizeof *n);
        if (n == NULL) {
            pthread_mutex_unlock(&c->mu);
            return;
        }
        c->items = n;
        c->itemcap = ncap;
    }
    c->items[c->nitems++] = it;
    pthread_mutex_unlock(&c->mu);
}

/* Spool a finished run's record and remember what aggregation needs. Under c->mu. */
static int keep_run(struct run_ctx *c, struct case_runs *cr, const json_t *rec)
{
    if (cr->n == cr->cap) {
        size_t ncap = cr->cap * 2 + 1;
        struct run_ref *n = realloc(cr->v, ncap * sizeof *n);
        if (n == NULL)
            return -1;
        cr->v = n;
        cr->cap = ncap;
    }
    long idx = report_spool_put(c->spool, rec);
    if (idx < 0)
        return -1;
    cr->v[cr->n++] = (struct run_ref){
        idx, tm_verdict_parse(json_string_value(json_object_get(rec, "verdict"))),
        (int)json_integer_value(json_object_get(rec, "attempts")),
        json_is_true(json_object_get(rec, "flaky")) };
    return 0;
}

static int unexpected(const char *v)
{
    return tm_verdict_unexpected(tm_verdict_parse(v));
}

static void record(struct run_ctx *c, const struct item *it, json_t *rec)
{
    if (it->prior != NULL) {   /* a retry after an infrastructure error */
        const char *v = json_string_value(json_object_get(rec, "verdict"));
        json_object_set_new(rec, "flaky", json_boolean(v && tm_verdict_parse(v) != TM_ERROR));
        json_object_set(rec, "previous_attempt", it->prior);
    }
    pthread_mutex_lock(&c->mu);
    if (keep_run(c, &c->runs[it->idx], rec) != 0 && !c->spool_failed) {
        c->spool_failed = 1;
        fprintf(stderr, "tlsmatrix: cannot write a case record to %s\n", c->report_dir);
    }
    if (unexpected(json_string_value(json_object_get(rec, "verdict"))) && c->o->until_fail)
        c->stop = 1;
    const json_t *t = json_object_get(rec, "timings_ms");
    for (int i = 0; i < ST_COUNT; i++)
        c->stage_sums[i] += json_integer_value(json_object_get(t, runner_stage_names[i]));
    progress_case(&c->prog, rec);
    pthread_mutex_unlock(&c->mu);
}

static int bootstrap_device(struct worker *w, struct tm_err *err)
{
    struct agent_opts ao = { w->ctx->o->agent_script, 0, 2 };
    /* A busy port is an infrastructure cause worth a few patient retries (another
     * tool may be finishing with it); any other open error is final. */
    for (int i = 0; i < 1 + PORT_BUSY_RETRIES; i++) {
        w->agent = agent_open(w->spec, &ao, err);
        if (w->agent != NULL || !link_error_is_busy(err))
            break;
        tm_sleep_ms(PORT_BUSY_WAIT_MS);
    }
    if (w->agent == NULL)
        return -1;
    if (agent_bootstrap(w->agent, tm_deadline_in(BOOTSTRAP_MS), err) == 0)
        return 0;
    if (!agent_is_lost(w->agent))   /* a setup error: retrying cannot help */
        return -1;
    return agent_recover(w->agent, tm_deadline_in(2 * BOOTSTRAP_MS), 0, err);
}

static void set_device_hello(struct worker *w, const char *error)
{
    pthread_mutex_lock(&w->ctx->mu);
    const json_t *h = w->agent ? agent_hello(w->agent) : NULL;
    json_object_set_new(w->device_entry, "hello", h ? json_deep_copy(h) : json_null());
    if (w->agent != NULL) {
        json_object_set_new(w->device_entry, "upload", json_string(agent_upload_mode(w->agent)));
        json_object_set_new(w->device_entry, "upload_bytes",
                            json_integer((json_int_t)agent_upload_bytes(w->agent)));
    }
    if (error != NULL)
        json_object_set_new(w->device_entry, "error", json_string(error));
    pthread_mutex_unlock(&w->ctx->mu);
}

/* After an infrastructure error: recover the device (the health check). */
static int health(struct worker *w, int silent, struct tm_err *err)
{
    if (++w->incidents > MAX_INCIDENTS)
        return tm_err_set(err, "device lost %d times; taken out", w->incidents - 1);
    w->clock_set = INT64_MIN;
    /* One failed recovery may be a board still rebooting: a device is taken out
     * only when its health check fails twice in a row. */
    if (agent_recover(w->agent, tm_deadline_in(2 * BOOTSTRAP_MS), silent, err) == 0)
        return 0;
    fprintf(stderr, "tlsmatrix: device %s: health check failed (%s); checking again\n",
            w->spec, err->msg);
    tm_sleep_ms(1000);
    if (agent_recover(w->agent, tm_deadline_in(2 * BOOTSTRAP_MS), silent, err) == 0)
        return 0;
    return tm_err_prefix(err, "health check failed twice");
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct run_ctx *c = w->ctx;
    struct tm_err err = { 0 };
    struct item it;
    w->clock_set = INT64_MIN;
    /* One `tlspeer --serve` per worker runs its peers: a process start was half
     * of a case (issue 7). Without it, cases fall back to one-shot peers. */
    w->peers = peer_pool_new();
    if (bootstrap_device(w, &err) != 0) {
        fprintf(stderr, "tlsmatrix: device %s: %s\n", w->spec, err.msg);
        set_device_hello(w, err.msg);
        goto dead;
    }
    set_device_hello(w, NULL);
    while (take_item(c, &it)) {
        /* Materialised for this run of the case only (issue 7). */
        json_t *kase = case_set_get(&c->cases, it.idx);
        pthread_mutex_lock(&c->mu);
        progress_current(&c->prog, json_string_value(json_object_get(kase, "id")));
        pthread_mutex_unlock(&c->mu);
        int infra = 0;
        json_t *rec = kase != NULL ? case_execute(w, kase, it.iter, it.attempt, &infra)
                                   : case_error_record(c, NULL, w->spec, "out of memory");
        json_decref(kase);
        int healthy = !infra || health(w, infra == 2, &err) == 0;
        if (infra && it.attempt <= c->retries) {
            /* Retry on this device when it came back, else on another one. */
            struct item again = { it.idx, it.iter, it.attempt + 1, rec };
            json_decref(it.prior);
            push_item(c, again);
        } else {
            record(c, &it, rec);
            json_decref(rec);
            json_decref(it.prior);
        }
        item_done(c);
        if (!healthy) {
            fprintf(stderr, "tlsmatrix: device %s taken out: %s\n", w->spec, err.msg);
            set_device_hello(w, err.msg);
            goto dead;
        }
    }
    peer_pool_free(w->peers);
    w->peers = NULL;
    pthread_mutex_lock(&c->mu);
    c->alive--;
    pthread_mutex_unlock(&c->mu);
    return NULL;
dead:
    peer_pool_free(w->peers);
    w->peers = NULL;
    pthread_mutex_lock(&c->mu);
    c->alive--;
    c->lost++;
    w->dead = 1;
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* The run a case reports: the worst verdict; with the same verdict, the run that
 * needed a retry (it has more evidence). */
static const struct run_ref *worst_run(const struct case_runs *cr, int counts[6], int *any_flaky)
{
    const struct run_ref *worst = &cr->v[0];
    for (size_t i = 0; i < cr->n; i++) {
        const struct run_ref *r = &cr->v[i];
        if (r->verdict >= 0)
            counts[r->verdict]++;
        if (r->flaky)
            *any_flaky = 1;
        if (r->verdict >= 0 && r->verdict == worst->verdict && r->attempts > worst->attempts)
            worst = r;
        if (tm_verdict_severity(r->verdict) < tm_verdict_severity(worst->verdict))
            worst = r;
    }
    return worst;
}

/* One record per case: a single run as is; repeated runs keep the worst run's
 * record and list every verdict (flaky when they differ). The record is read back
 * from the spool; NULL when the case never finished (or cannot be read). */
static json_t *aggregate(struct run_ctx *c, const struct case_runs *cr)
{
    int counts[6] = { 0 }, any_flaky = 0;
    if (cr->n == 0)
        return NULL;
    json_t *out = report_spool_get(c->spool, worst_run(cr, counts, &any_flaky)->spool);
    if (out == NULL) {
        c->spool_failed = 1;
        return NULL;
    }
    if (any_flaky)
        json_object_set_new(out, "flaky", json_true());
    if (cr->n > 1) {
        int kinds = 0;
        json_t *vs = json_object();
        for (int k = 0; k < 6; k++) {
            if (counts[k]) {
                kinds++;
                json_object_set_new(vs, tm_verdict_name(k), json_integer(counts[k]));
            }
        }
        json_object_set_new(out, "repeats", json_pack("{s:i, s:o}", "runs", (int)cr->n, "verdicts", vs));
        if (kinds > 1)
            json_object_set_new(out, "flaky", json_true());
    }
    return out;
}

static json_t *header(struct run_ctx *c, const char *started)
{
    char fin[32], shard[32];
    tm_format_utc(tm_wall_s(), fin, sizeof fin);
    snprintf(shard, sizeof shard, "%d/%d", c->o->shard_n > 1 ? c->o->shard_k : 1,
             c->o->shard_n > 1 ? c->o->shard_n : 1);
    json_t *cmd = json_array();
    for (int i = 0; i < c->o->argc; i++)
        json_array_append_new(cmd, json_string(c->o->argv[i]));
    /* The libraries this host's peers and virtual cameras run on; a device's own
     * mbedTLS version is in its hello. */
    char mbed[64];
    mbedtls_version_get_string_full(mbed);
    return json_pack("{s:s, s:s, s:s, s:o, s:{s:s, s:s, s:s}, s:I, s:s, s:s?, s:O?, s:b, s:O}",
                     "started", started, "finished", fin, "harness", TM_VERSION, "command", cmd,
                     "versions", "openssl", OpenSSL_version(OPENSSL_VERSION),
                     "gnutls", gnutls_check_version(NULL), "mbedtls_host", mbed, "seed", (json_int_t)c->o->seed, "shard", shard,
                     "profile", c->profile_name,
                     "fixture_reference_time", json_object_get(c->manifest, "reference_time"),
                     "tcp_nodelay", 1, "devices", c->devices);
}

static void print_stages(struct run_ctx *c)
{
    fprintf(stderr, "stage sums (ms):");
    for (int i = 0; i < ST_COUNT; i++)
        fprintf(stderr, " %s=%lld", runner_stage_names[i], (long long)c->stage_sums[i]);
    fprintf(stderr, "\n");
}

#define REPORT_MARKER ".tlsmatrix-report"
#define PREVIOUS_CASES ".cases-previous"

static int path_exists(const char *dir, const char *name)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return lstat(path, &st) == 0;
}

/* The case bundles of an earlier run into the same directory go: a case this run
 * does not select would otherwise leave its old bundle among the new ones. They
 * are moved aside now and removed once this run's reports are written, or put
 * back if the run ends before that (settle_previous_cases): ext4 creates inodes
 * slowly for a while after many deletions, and a run creates five files per case. Only a directory tlsmatrix wrote (its marker, or a run.json) is
 * touched; a foreign cases/ folder is refused. */
static int claim_report_dir(const char *dir, struct tm_err *err)
{
    char cases[PATH_MAX], previous[PATH_MAX], marker[PATH_MAX];
    snprintf(cases, sizeof cases, "%s/cases", dir);
    snprintf(previous, sizeof previous, "%s/" PREVIOUS_CASES, dir);
    snprintf(marker, sizeof marker, "%s/" REPORT_MARKER, dir);
    int ours = path_exists(dir, REPORT_MARKER) || path_exists(dir, "run.json");
    if (!ours && path_exists(dir, "cases"))
        return tm_err_set(err, "%s holds a cases/ folder that tlsmatrix did not write; "
                               "choose another report directory", dir);
    if (tm_rmtree(previous, err) != 0)   /* left by a run that did not reach its end */
        return -1;
    if (rename(cases, previous) != 0 && errno != ENOENT)
        return tm_err_set(err, "%s: %s", cases, strerror(errno));
    const char *text = "tlsmatrix report directory: each run replaces cases/ and the reports.\n";
    return tm_write_file(marker, text, strlen(text), 0644, err);
}

static void settle_previous_cases(const char *dir, int reports_written)
{
    char previous[PATH_MAX], cases[PATH_MAX];
    struct tm_err err;
    snprintf(previous, sizeof previous, "%s/" PREVIOUS_CASES, dir);
    snprintf(cases, sizeof cases, "%s/cases", dir);
    if (!reports_written && rename(previous, cases) == 0)
        return;   /* no new bundles: the old run.json keeps its own */
    if (tm_rmtree(previous, &err) != 0)
        fprintf(stderr, "tlsmatrix: %s\n", err.msg);
}

static int setup(struct run_ctx *c, const struct runner_opts *o, struct tm_err *err)
{
    c->o = o;
    c->fixtures = o->fixtures_dir ? o->fixtures_dir : TM_FIXTURES_DIR;
    c->report_dir = o->report_dir ? o->report_dir : "results/latest";
    c->peer_host = o->peer_host ? o->peer_host : "127.0.0.1";
    c->case_timeout_ms = o->case_timeout_ms > 0 ? o->case_timeout_ms : 20000;
    c->retries = o->retries < 0 ? 1 : o->retries;
    c->manifest = runner_fixtures(c->fixtures, err);
    if (c->manifest == NULL)
        return -1;
    json_t *re = json_object_get(c->manifest, "reference_epoch");
    if (!json_is_integer(re))
        return tm_err_set(err, "%s/manifest.json: no reference_epoch", c->fixtures);
    c->ref_epoch = json_integer_value(re);
    c->profile = profile_load(o->profile ? o->profile : DEFAULT_PROFILE, err);
    if (c->profile == NULL)
        return -1;
    c->profile_name = json_string_value(json_object_get(c->profile, "name"));
    if (c->profile_name == NULL)
        c->profile_name = o->profile ? o->profile : DEFAULT_PROFILE;
    const char *unset = json_string_value(json_object_get(json_object_get(c->profile, "device"),
                                                          "clock_unset"));
    if (tm_parse_utc(unset ? unset : "2015-01-01T00:00:00Z", &c->unset_epoch) != 0)
        return tm_err_set(err, "profile %s: device.clock_unset '%s' is not a UTC time",
                          c->profile_name, unset);
    json_t *errors = NULL;
    int selected = runner_select_set(o, &c->cases, &errors, err);
    if (json_array_size(errors) > 0) {
        size_t i;
        json_t *e;
        json_array_foreach(errors, i, e) fprintf(stderr, "tlsmatrix: %s\n", json_string_value(e));
        tm_err_set(err, "%zu scenario file error(s) (first: %s)", json_array_size(errors),
                   json_string_value(json_array_get(errors, 0)));
        json_decref(errors);
        return -1;
    }
    json_decref(errors);
    if (selected != 0)
        return -1;
    c->ncases = c->cases.n;
    for (size_t i = 0; i < o->ndevices; i++)
        if (link_spec_check(o->devices[i], err) != 0)
            return tm_err_prefix(err, "--device");
    if (agent_script_check(o->agent_script, err) != 0)
        return o->agent_script ? tm_err_prefix(err, "--agent") : -1;
    if (tm_mkdirs(c->report_dir, 0755, err) != 0 || claim_report_dir(c->report_dir, err) != 0)
        return tm_err_prefix(err, "--report");
    c->claimed = 1;
    c->spool = report_spool_open(c->report_dir, err);
    return c->spool != NULL ? 0 : tm_err_prefix(err, "--report");
}

static int build_queue(struct run_ctx *c)
{
    const struct runner_opts *o = c->o;
    int rounds = o->repeat > 0 ? o->repeat : 1;
    if (o->until_fail && o->repeat <= 0)
        rounds = UNTIL_FAIL_MAX;
    c->runs = calloc(c->ncases ? c->ncases : 1, sizeof *c->runs);
    c->itemcap = c->ncases * (size_t)rounds + 16;
    c->items = calloc(c->itemcap, sizeof *c->items);
    if (c->runs == NULL || c->items == NULL)
        return -1;
    for (int r = 0; r < rounds; r++)
        for (size_t i = 0; i < c->ncases; i++)
            c->items[c->nitems++] = (struct item){ i, r, 1, NULL };
    return 0;
}

/* Workers: one per device spec; a single exec/virtual device with --jobs N runs
 * N instances (each its own process and pty, each its own peer ports). */
static size_t plan_workers(const struct runner_opts *o, const char ***specs)
{
    static const char *const dflt[] = { "virtual" };
    const char *const *devs = o->ndevices ? o->devices : dflt;
    size_t n = o->ndevices ? o->ndevices : 1, count = n;
    int multi = n == 1 && (strncmp(devs[0], "virtual", 7) == 0 || strncmp(devs[0], "exec:", 5) == 0);
    if (multi && o->jobs > 1)
        count = (size_t)o->jobs;
    else if (o->jobs > 0 && (size_t)o->jobs < n)
        count = (size_t)o->jobs;
    *specs = calloc(count, sizeof **specs);
    for (size_t i = 0; *specs && i < count; i++)
        (*specs)[i] = devs[multi ? 0 : i];
    return *specs ? count : 0;
}

/* Each case's final record goes to the spool (final[i]); counts[] are the totals
 * (an unknown verdict counts as error, as the reports do). */
static void finish_cases(struct run_ctx *c, long *final, long long counts[6], int *executed)
{
    *executed = 0;
    for (size_t i = 0; i < c->ncases; i++) {
        json_t *rec = aggregate(c, &c->runs[i]);
        /* A retry that never got a device: report the attempt that did run. */
        for (size_t k = c->next; rec == NULL && k < c->nitems; k++)
            if (c->items[k].idx == i && c->items[k].prior != NULL)
                rec = json_incref(c->items[k].prior);
        if (rec != NULL && c->runs[i].n == 0)
            progress_case(&c->prog, rec);
        if (rec == NULL) {   /* never ran: every device was lost */
            json_t *kase = case_set_get(&c->cases, i);
            rec = case_error_record(c, kase, "none",
                                    stop_requested ? "not run: interrupted"
                                    : c->lost ? "not run: no device left (all lost)"
                                              : "not run: --until-fail stopped the run");
            json_decref(kase);
            if (!stop_requested && !c->lost && c->o->until_fail) {
                json_object_set_new(rec, "verdict", json_string(tm_verdict_name(TM_SKIP)));
            }
            progress_case(&c->prog, rec);
        }
        const char *v = json_string_value(json_object_get(rec, "verdict"));
        int k = tm_verdict_parse(v);
        counts[k >= 0 ? k : TM_ERROR]++;
        if (v && tm_verdict_parse(v) != TM_SKIP)
            (*executed)++;
        final[i] = report_spool_put(c->spool, rec);
        if (final[i] < 0)
            c->spool_failed = 1;
        json_decref(rec);
    }
}

struct final_cases {
    const struct report_spool *spool;
    const long *final;
};

static json_t *final_case(void *ctx, size_t i)
{
    const struct final_cases *f = ctx;
    return report_spool_get(f->spool, f->final[i]);
}

/* The reports read the cases back from the spool one at a time. */
static int write_reports(struct run_ctx *c, const json_t *hdr, const long *final,
                         struct tm_err *err)
{
    json_t *baseline = NULL;
    struct final_cases fc = { c->spool, final };
    if (c->o->baseline != NULL && (baseline = report_load_run(c->o->baseline, err)) == NULL)
        return tm_err_prefix(err, "--baseline");
    int rc = report_write_stream(hdr, c->ncases, final_case, &fc, baseline, c->report_dir, err);
    json_decref(baseline);
    return rc;
}

static void cleanup(struct run_ctx *c)
{
    for (size_t i = 0; c->runs && i < c->ncases; i++)
        free(c->runs[i].v);
    report_spool_close(c->spool);
    for (size_t i = c->next; i < c->nitems; i++)
        json_decref(c->items[i].prior);
    free(c->runs);
    free(c->items);
    case_set_free(&c->cases);
    json_decref(c->manifest);
    json_decref(c->profile);
    json_decref(c->devices);
    if (c->claimed)
        settle_previous_cases(c->report_dir, c->reports_written);
    pthread_cond_destroy(&c->idle);
    pthread_mutex_destroy(&c->mu);
}

/* Start one thread per worker and wait for all of them. */
static int run_workers(struct run_ctx *c, struct tm_err *err)
{
    const char **specs = NULL;
    size_t nw = plan_workers(c->o, &specs);
    struct worker *ws = calloc(nw ? nw : 1, sizeof *ws);
    if (ws == NULL || nw == 0) {
        free(specs);
        free(ws);
        return tm_err_set(err, "out of memory");
    }
    c->alive = (int)nw;
    for (size_t i = 0; i < nw; i++) {
        ws[i].ctx = c;
        ws[i].index = (int)i;
        snprintf(ws[i].spec, sizeof ws[i].spec, "%s", specs[i]);
        ws[i].device_entry = json_pack("{s:s, s:n}", "link", specs[i], "hello");
        json_array_append_new(c->devices, ws[i].device_entry);
    }
    for (size_t i = 0; i < nw; i++) {
        if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) == 0) {
            ws[i].started = 1;
            continue;
        }
        pthread_mutex_lock(&c->mu);
        c->alive--;
        c->lost++;
        pthread_mutex_unlock(&c->mu);
    }
    for (size_t i = 0; i < nw; i++)
        if (ws[i].started)
            pthread_join(ws[i].thread, NULL);
    for (size_t i = 0; i < nw; i++)
        agent_close(ws[i].agent);
    free(specs);
    free(ws);
    return 0;
}

/* The summary line and the exit code. */
static int summarise(struct run_ctx *c, const long long t[6], int executed)
{
    const struct runner_opts *o = c->o;
    int rc = RUNNER_OK;
    fprintf(stderr, "tlsmatrix: %zu cases: %lld pass, %lld fail, %lld xfail, %lld xpass, %lld error, "
            "%lld skip; reports in %s\n", c->ncases, t[0], t[1], t[2], t[3], t[4], t[5],
            c->report_dir);
    if (c->ncases == 0)
        fprintf(stderr, "tlsmatrix: no case matched (scenarios, --filter, --shard)\n");
    if (o->profile_stages)
        print_stages(c);
    for (int v = 0; v < TM_VERDICT_COUNT; v++)
        if (tm_verdict_unexpected(v) && t[v] > 0)
            rc = RUNNER_UNEXPECTED;
    if (o->min_executed > 0 && executed < o->min_executed) {
        fprintf(stderr, "tlsmatrix: only %d cases executed, --min %d\n", executed, o->min_executed);
        rc = RUNNER_UNEXPECTED;
    }
    if (stop_requested)
        fprintf(stderr, "tlsmatrix: interrupted; partial reports written\n");
    if (c->lost > 0 || stop_requested)
        rc = RUNNER_INFRA;
    return rc;
}

int runner_run(const struct runner_opts *o, struct tm_err *err)
{
    struct run_ctx c;
    char started[32];
    int rc = RUNNER_SETUP, executed = 0;
    memset(&c, 0, sizeof c);
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.idle, NULL);
    c.devices = json_array();
    tm_format_utc(tm_wall_s(), started, sizeof started);
    if (setup(&c, o, err) != 0 || build_queue(&c) != 0)
        goto out;
    progress_start(&c.prog, c.nitems, o->progress);
    if (run_workers(&c, err) != 0)
        goto out;
    long long totals[6] = { 0 };
    long *final = calloc(c.ncases ? c.ncases : 1, sizeof *final);
    if (final == NULL) {
        tm_err_set(err, "out of memory");
        goto out;
    }
    finish_cases(&c, final, totals, &executed);   /* incl. cases never run */
    /* The selected cases are not needed for the reports: free them first, so the
     * run's peak is that of the run or of the reports, not both. */
    case_set_free(&c.cases);
    progress_end(&c.prog);
    if (c.spool_failed) {
        tm_err_set(err, "%s: cannot keep the case records (disk full?)", c.report_dir);
    } else {
        json_t *hdr = header(&c, started);
        c.reports_written = write_reports(&c, hdr, final, err) == 0;
        if (c.reports_written)
            rc = summarise(&c, totals, executed);
        json_decref(hdr);
    }
    free(final);
out:
    cleanup(&c);
    return rc;
}
