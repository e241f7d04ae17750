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
    while (!stop_requested && !c->write_failed && !got) {
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
    /* A record the spool cannot take stays in memory: the run stops at this
     * write error, and what finished is still reported. */
    long idx = report_spool_put(c->spool, rec);
    cr->v[cr->n++] = (struct run_ref){
        idx, idx < 0 ? json_incref((json_t *)rec) : NULL,
        tm_verdict_parse(json_string_value(json_object_get(rec, "verdict"))),
        (int)json_integer_value(json_object_get(rec, "attempts")),
        json_is_true(json_object_get(rec, "flaky")) };
    return idx < 0 ? -1 : 0;
}

/* A write error (disk full, I/O error, the report directory removed) stops the
 * run at once: no new case starts, and what finished is reported. Under c->mu. */
static void stop_on_write_error(struct run_ctx *c, const char *what)
{
    if (c->write_failed)
        return;
    c->write_failed = 1;
    tm_err_set(&c->write_err, "%s", what);
    tm_say("tlsmatrix: %s; stopping the run", what);
}

static int unexpected(const char *v)
{
    return tm_verdict_unexpected(tm_verdict_parse(v));
}

/* Add a case's "link" record to the run's sums. A run that exchanged nothing
 * (skipped, or never reached its device) stays out of the median. */
static void link_sum(struct link_sums *s, const json_t *link)
{
    unsigned long long sent = (unsigned long long)json_integer_value(json_object_get(link, "sent"));
    unsigned long long got = (unsigned long long)json_integer_value(json_object_get(link, "received"));
    s->sent += sent;
    s->received += got;
    s->wait_us += json_integer_value(json_object_get(link, "wait_ms")) * 1000;
    if (sent + got == 0)
        return;
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 256;
        unsigned long long *nv = realloc(s->per_case, ncap * sizeof *nv);
        if (nv == NULL)
            return;            /* the median leaves this case out; the sums have it */
        s->per_case = nv;
        s->cap = ncap;
    }
    s->per_case[s->n++] = sent + got;
}

static int cmp_ull(const void *a, const void *b)
{
    unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;
    return x < y ? -1 : x > y;
}

/* "link: …" of the footer: bytes each way, the median per case, and the time
 * waiting on the link against the run's wall time. */
static void print_link(struct run_ctx *c)
{
    struct link_sums *s = &c->link;
    unsigned long long median = 0;
    if (s->n > 0) {
        qsort(s->per_case, s->n, sizeof *s->per_case, cmp_ull);
        median = s->n % 2 ? s->per_case[s->n / 2]
                          : (s->per_case[s->n / 2 - 1] + s->per_case[s->n / 2]) / 2;
    }
    /* Each device waits on its own link: the share is of the wall time of all. */
    size_t ndev = json_array_size(c->devices) > 0 ? json_array_size(c->devices) : 1;
    int64_t wall = tm_now_ms() - c->run_started;
    double all = (double)wall * (double)ndev;
    fprintf(stderr, "tlsmatrix: link: %llu B sent, %llu B received, median %llu B per case; "
            "%lld ms waiting on the link (%.1f %% of %.1f s x %zu devices)\n", s->sent,
            s->received, median, s->wait_us / 1000,
            all > 0 ? (double)s->wait_us / 10.0 / all : 0.0, (double)wall / 1000.0, ndev);
}

static void record(struct run_ctx *c, const struct item *it, json_t *rec)
{
    if (it->prior != NULL) {   /* a retry after an infrastructure error */
        const char *v = json_string_value(json_object_get(rec, "verdict"));
        json_object_set_new(rec, "flaky", json_boolean(v && tm_verdict_parse(v) != TM_ERROR));
        json_object_set(rec, "previous_attempt", it->prior);
    }
    pthread_mutex_lock(&c->mu);
    if (keep_run(c, &c->runs[it->idx], rec) != 0) {
        char what[1200];
        snprintf(what, sizeof what, "%s: a case record cannot be written (%s)", c->report_dir,
                 strerror(errno));
        stop_on_write_error(c, what);
    }
    if (unexpected(json_string_value(json_object_get(rec, "verdict"))) && c->o->until_fail)
        c->stop = 1;
    const json_t *t = json_object_get(rec, "timings_ms");
    for (int i = 0; i < ST_COUNT; i++)
        c->stage_sums[i] += json_integer_value(json_object_get(t, runner_stage_names[i]));
    link_sum(&c->link, json_object_get(rec, "link"));
    progress_case(&c->prog, rec);
    pthread_mutex_unlock(&c->mu);
}

/* Make p (a new reference, NULL after a load error) the run's profile. */
static int use_profile(struct run_ctx *c, json_t *p, struct tm_err *err)
{
    if (p == NULL)
        return -1;
    const char *name = json_string_value(json_object_get(p, "name"));
    const char *unset = json_string_value(json_object_get(json_object_get(p, "device"),
                                                          "clock_unset"));
    int64_t epoch;
    if (tm_parse_utc(unset ? unset : "2015-01-01T00:00:00Z", &epoch) != 0) {
        tm_err_set(err, "profile %s: device.clock_unset '%s' is not a UTC time", name, unset);
        json_decref(p);
        return -1;
    }
    c->profile = p;
    c->profile_name = name;
    c->unset_epoch = epoch;
    return 0;
}

/* The first setup error of the run (caller holds c->mu): the run stops with it and
 * exit 2, as a bad spec found before any device started does. */
static void note_setup_error(struct run_ctx *c, const struct worker *w,
                             const struct tm_err *err)
{
    if (c->setup_error[0] == '\0')
        snprintf(c->setup_error, sizeof c->setup_error, "device %s: %s", w->spec, err->msg);
}

/* Without --profile, the profile whose `match` fits the device's hello
 * (profile_for_hello): a MicroPython for Linux is not judged by an OpenMV
 * profile. One run has one profile: a device whose hello picks another one is a
 * setup error, as is a device no profile fits. Set before the worker's first
 * case, under c->mu, so every record a worker makes sees it. */
static int adopt_profile(struct worker *w, struct tm_err *err)
{
    struct run_ctx *c = w->ctx;
    if (c->o->profile != NULL)
        return 0;
    json_t *p = profile_for_hello(NULL, agent_hello(w->agent), err);
    int rc = p != NULL ? 0 : -1;
    pthread_mutex_lock(&c->mu);
    if (p != NULL && c->profile == NULL) {
        rc = use_profile(c, p, err);
        p = NULL;
    } else if (p != NULL && strcmp(json_string_value(json_object_get(p, "name")),
                                   c->profile_name) != 0) {
        rc = tm_err_set(err, "it fits profile %s, but the run judges by %s (picked for an "
                             "earlier device); run them apart or give --profile",
                        json_string_value(json_object_get(p, "name")), c->profile_name);
    }
    if (rc != 0)
        note_setup_error(c, w, err);
    pthread_mutex_unlock(&c->mu);
    json_decref(p);
    return rc;
}

/* The reset command the lab file gives the worker's device, or NULL. */
static const char *reset_command(const struct runner_opts *o, const char *spec)
{
    for (size_t i = 0; o->device_resets != NULL && i < o->ndevices; i++)
        if (strcmp(o->devices[i], spec) == 0)
            return o->device_resets[i];
    return NULL;
}

static int bootstrap_device(struct worker *w, struct tm_err *err)
{
    struct agent_opts ao = { w->ctx->o->agent_script, 0, 0, w->stderr_path,
                             w->ctx->o->keep_secrets, reset_command(w->ctx->o, w->spec),
                             w->ctx->o->device_proto, w->ctx->o->verbose_device,
                             w->ctx->o->steal, w->ctx->o->lease_ms,
                             w->ctx->o->agent_upload };
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
        json_t *usb = agent_link_identity(w->agent);   /* which board this was */
        if (usb != NULL)
            json_object_set_new(w->device_entry, "usb", usb);
        const json_t *took = agent_lock_note(w->agent);   /* a board taken over */
        if (took != NULL)
            json_object_set_new(w->device_entry, "lock", json_deep_copy(took));
        json_object_set_new(w->device_entry, "upload", json_string(agent_upload_mode(w->agent)));
        json_object_set_new(w->device_entry, "upload_bytes",
                            json_integer((json_int_t)agent_upload_bytes(w->agent)));
        json_object_set_new(w->device_entry, "agent_proto", json_integer(agent_proto(w->agent)));
        json_object_set_new(w->device_entry, "agent_start", json_string(agent_start(w->agent)));
    }
    if (error != NULL)
        json_object_set_new(w->device_entry, "error", json_string(error));
    pthread_mutex_unlock(&w->ctx->mu);
}

/* repro: a case whose peer or proxy could not start is the command's setup
 * error (exit 2), not a verdict: keep the first and run nothing more. */
static void note_start_failure(struct run_ctx *c, const json_t *rec)
{
    const char *why = json_string_value(json_object_get(rec, "setup_error"));
    if (!c->o->start_failure_is_setup || why == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    if (c->start_error[0] == '\0')
        snprintf(c->start_error, sizeof c->start_error, "%s", why);
    c->stop = 1;
    pthread_mutex_unlock(&c->mu);
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
    tm_say("tlsmatrix: device %s: health check failed (%s); checking again",
            w->spec, err->msg);
    tm_sleep_ms(1000);
    if (agent_recover(w->agent, tm_deadline_in(2 * BOOTSTRAP_MS), silent, err) == 0)
        return 0;
    return tm_err_prefix(err, "health check failed twice");
}

/* The health check after a case lost its device, with the recovery's steps
 * (which rung, where the board came back) in the case record's transcript. */
static int recover_after(struct worker *w, json_t *rec, int silent, struct tm_err *err)
{
    json_t *steps = json_array();
    agent_set_transcript(w->agent, steps);
    int rc = health(w, silent, err);
    agent_set_transcript(w->agent, NULL);
    json_object_set_new(json_object_get(rec, "transcript"), "recovery", steps);
    return rc;
}

/* After a case: its bundle written, and the report directory still there. */
static void check_writes(struct worker *w)
{
    struct tm_err err = { 0 };
    /* A removed directory is the cause of the bundle's write error: named first. */
    int gone = report_dir_check(w->ctx->rdir, &err) != 0;
    if (!gone && w->write_err.msg[0] == '\0')
        return;
    pthread_mutex_lock(&w->ctx->mu);
    stop_on_write_error(w->ctx, gone ? err.msg : w->write_err.msg);
    pthread_mutex_unlock(&w->ctx->mu);
}

/* How the device's bootstraps started the agent (docs/contracts.md §6): stored
 * ones sent only the loader. Written once, when the worker ends (agent_store is
 * the run's last word on why the board could not keep the agent). */
static void record_starts(struct worker *w)
{
    if (w->agent == NULL)
        return;
    struct agent_starts n;
    agent_start_counts(w->agent, &n);
    const char *why = agent_store_note(w->agent);
    pthread_mutex_lock(&w->ctx->mu);
    json_object_set_new(w->device_entry, "agent_starts", json_pack("{s:i, s:i, s:i}", "stored",
                        n.stored, "written", n.written, "uploaded", n.uploaded));
    json_object_set_new(w->device_entry, "agent_store", why ? json_string(why) : json_null());
    pthread_mutex_unlock(&w->ctx->mu);
    if (w->ctx->o->verbose)
        tm_say("tlsmatrix: device %s: the agent started %d times: %d from its stored file, %d "
               "written first, %d sent whole%s%s%s", w->spec, n.stored + n.written + n.uploaded,
               n.stored, n.written, n.uploaded, why ? " (" : "", why ? why : "", why ? ")" : "");
}

/* The run header keeps each re-enumeration of the device's USB port (a reset
 * that brought the board back under another device node). */
static void record_moves(struct worker *w)
{
    const struct link_move *m;
    size_t n = w->agent != NULL ? agent_link_moves(w->agent, &m) : 0;
    if (n == 0)
        return;
    json_t *list = json_array();
    for (size_t i = 0; i < n && i < LINK_MAX_MOVES; i++)
        json_array_append_new(list, json_pack("{s:s, s:s, s:I}", "from", m[i].from, "to", m[i].to,
                                              "waited_ms", (json_int_t)m[i].waited_ms));
    pthread_mutex_lock(&w->ctx->mu);
    json_object_set_new(w->device_entry, "reenumerations", list);
    json_object_set_new(w->device_entry, "reenumeration_count", json_integer((json_int_t)n));
    pthread_mutex_unlock(&w->ctx->mu);
}

/* The worker's end: its peers and its device program go with it (both are its
 * children, which die with the thread that started them: PR_SET_PDEATHSIG). */
static void *worker_exit(struct worker *w, int lost)
{
    struct run_ctx *c = w->ctx;
    peer_pool_free(w->peers);
    w->peers = NULL;
    record_moves(w);
    record_starts(w);
    json_decref(w->fx_manifest);
    w->fx_manifest = NULL;
    agent_close(w->agent);
    w->agent = NULL;
    pthread_mutex_lock(&c->mu);
    c->alive--;
    c->lost += lost;
    w->dead = lost;
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* The clock the device had when the run met it, before any case set it: what a
 * `clock: keep` case runs on. A device that does not report one runs keep cases
 * on whatever it has. */
static void own_clock(struct worker *w)
{
    const json_t *epoch = json_object_get(json_object_get(agent_hello(w->agent), "clock"), "epoch");
    w->clock_set = CLOCK_OWN;
    w->own_clock_known = json_is_integer(epoch);
    w->own_clock = json_integer_value(epoch);
    w->own_clock_at = tm_now_ms();
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
    if (bootstrap_device(w, &err) != 0 || adopt_profile(w, &err) != 0) {
        /* not a port, … : the user's spec, not the device; a board another
         * session holds: the user's call (--steal), not a verdict */
        if (err.code == TM_E_INPUT || err.code == TM_E_HELD) {
            pthread_mutex_lock(&c->mu);
            note_setup_error(c, w, &err);
            pthread_mutex_unlock(&c->mu);
        }
        tm_say("tlsmatrix: device %s: %s", w->spec, err.msg);
        set_device_hello(w, err.msg);
        return worker_exit(w, 1);
    }
    set_device_hello(w, NULL);
    if (c->o->verbose)
        tm_say("tlsmatrix: device %s: agent %s, %zu bytes sent by %s%s%s", w->spec,
               agent_start(w->agent), agent_upload_bytes(w->agent), agent_upload_mode(w->agent),
               agent_store_note(w->agent) ? "; not kept on the board: " : "",
               agent_store_note(w->agent) ? agent_store_note(w->agent) : "");
    own_clock(w);
    /* Not fatal: without them the clock rule skips the cases that would not hold. */
    if (worker_day_fixtures(w, &err) != 0)
        tm_say("tlsmatrix: device %s: %s", w->spec, err.msg);
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
        check_writes(w);
        int healthy = !infra || infra == 3 || recover_after(w, rec, infra == 2, &err) == 0;
        if (infra && it.attempt <= c->retries) {
            /* Retry on this device when it came back, else on another one. */
            struct item again = { it.idx, it.iter, it.attempt + 1, rec };
            json_decref(it.prior);
            push_item(c, again);
        } else {
            note_start_failure(c, rec);
            record(c, &it, rec);
            json_decref(rec);
            json_decref(it.prior);
        }
        item_done(c);
        if (!healthy) {
            tm_say("tlsmatrix: device %s taken out: %s", w->spec, err.msg);
            set_device_hello(w, err.msg);
            return worker_exit(w, 1);
        }
    }
    return worker_exit(w, 0);
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
    const struct run_ref *worst = worst_run(cr, counts, &any_flaky);
    json_t *out = worst->kept ? json_deep_copy(worst->kept) : report_spool_get(c->spool, worst->spool);
    if (out == NULL)
        return NULL;
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
    return json_pack("{s:s, s:s, s:s, s:o, s:{s:s, s:s, s:s}, s:I, s:s, s:s?, s:O?, s:b, s:O, s:O?}",
                     "started", started, "finished", fin, "harness", TM_VERSION, "command", cmd,
                     "versions", "openssl", OpenSSL_version(OPENSSL_VERSION),
                     "gnutls", gnutls_check_version(NULL), "mbedtls_host", mbed, "seed", (json_int_t)c->o->seed, "shard", shard,
                     "profile", c->profile_name,
                     "fixture_reference_time", json_object_get(c->manifest, "reference_time"),
                     "tcp_nodelay", 1, "devices", c->devices, "selection", c->selection);
}

static void print_stages(struct run_ctx *c)
{
    fprintf(stderr, "stage sums (ms):");
    for (int i = 0; i < ST_COUNT; i++)
        fprintf(stderr, " %s=%lld", runner_stage_names[i], (long long)c->stage_sums[i]);
    fputc('\n', stderr);
}

#define PREVIOUS_CASES ".cases-previous"

/* The case bundles of an earlier run into the same directory go: a case this run
 * does not select would otherwise leave its old bundle among the new ones. They
 * are moved aside now and removed once this run's reports are written, or put
 * back if the run ends before that (settle_previous_cases): ext4 creates inodes
 * slowly for a while after many deletions, and a run creates five files per case.
 * report_dir_claim has made sure the directory is new, empty or tlsmatrix's. */
static int move_previous_cases(const char *dir, struct tm_err *err)
{
    char cases[PATH_MAX], previous[PATH_MAX];
    snprintf(cases, sizeof cases, "%s/cases", dir);
    snprintf(previous, sizeof previous, "%s/" PREVIOUS_CASES, dir);
    if (tm_rmtree(previous, err) != 0)   /* left by a run that did not reach its end */
        return -1;
    if (rename(cases, previous) != 0 && errno != ENOENT)
        return tm_err_set(err, "%s: %s", cases, strerror(errno));
    return 0;
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
        tm_say("tlsmatrix: %s", err.msg);
}

/* Fixtures, profile and the device's unset clock. */
static int load_profile(struct run_ctx *c, const struct runner_opts *o, struct tm_err *err)
{
    c->manifest = runner_fixtures(c->fixtures, err);
    if (c->manifest == NULL)
        return -1;
    json_t *re = json_object_get(c->manifest, "reference_epoch");
    if (!json_is_integer(re))
        return tm_err_set(err, "%s/manifest.json: no reference_epoch", c->fixtures);
    c->ref_epoch = json_integer_value(re);
    /* Without --profile the first device's hello picks it (adopt_profile). */
    if (o->profile != NULL && use_profile(c, profile_load(o->profile, err), err) != 0)
        return -1;
    return 0;
}

static int select_cases(struct run_ctx *c, const struct runner_opts *o, struct tm_err *err)
{
    json_t *errors = NULL;
    int selected = runner_select_set(o, &c->cases, &errors, err);
    if (json_array_size(errors) > 0) {
        size_t i;
        json_t *e;
        json_array_foreach(errors, i, e) tm_say("tlsmatrix: %s", json_string_value(e));
        tm_err_set(err, "%zu scenario file error(s) (first: %s)", json_array_size(errors),
                   json_string_value(json_array_get(errors, 0)));
        json_decref(errors);
        return -1;
    }
    json_decref(errors);
    if (selected != 0 || preflight_selection(o, &c->cases, err) != 0)
        return -1;
    c->ncases = c->cases.n;
    c->selection = case_set_selection(&c->cases, &o->sel);
    return 0;
}

/* Everything that can be wrong with the command is found here, before any device
 * or peer starts and before the report directory is touched. */
static int setup(struct run_ctx *c, const struct runner_opts *o, struct tm_err *err)
{
    c->o = o;
    c->fixtures = o->fixtures_dir ? o->fixtures_dir : TM_FIXTURES_DIR;
    c->report_dir = o->report_dir ? o->report_dir : "results/latest";
    c->peer_host = o->peer_host ? o->peer_host : "127.0.0.1";
    c->case_timeout_ms = o->case_timeout_ms > 0 ? o->case_timeout_ms : 20000;
    c->retries = o->retries < 0 ? 1 : o->retries;
    if (load_profile(c, o, err) != 0 || select_cases(c, o, err) != 0)
        return -1;
    if (o->baseline != NULL && (c->baseline = report_load_run(o->baseline, err)) == NULL)
        return tm_err_prefix(err, "--baseline");
    if (preflight_devices(o, err) != 0)
        return -1;
    if (o->peer_host != NULL && preflight_peer_host(o->peer_host, err) != 0)
        return -1;
    if (agent_script_check(o->agent_script, err) != 0)
        return o->agent_script ? tm_err_prefix(err, "--agent") : -1;
    c->rdir = report_dir_claim(c->report_dir, err);
    if (c->rdir == NULL || move_previous_cases(c->report_dir, err) != 0)
        return tm_err_prefix(err, "--report");
    c->claimed = 1;
    if (o->prepare != NULL && o->prepare(c->report_dir, o->prepare_arg, err) != 0)
        return -1;
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
    int multi = n == 1 && link_spec_spawns(devs[0]);
    if (multi && o->jobs > 1)
        count = (size_t)o->jobs;
    else if (o->jobs > 0 && (size_t)o->jobs < n)
        count = (size_t)o->jobs;
    *specs = calloc(count, sizeof **specs);
    for (size_t i = 0; *specs && i < count; i++)
        (*specs)[i] = devs[multi ? 0 : i];
    return *specs ? count : 0;
}

/* Why a case has no run to report. */
static const char *not_run_reason(const struct run_ctx *c)
{
    if (c->write_failed)
        return "not run: a write error stopped the run";
    if (stop_requested)
        return "not run: interrupted";
    if (c->lost)
        return "not run: no device left (all lost)";
    return "not run: --until-fail stopped the run";
}

/* The record case i reports: its worst run, the attempt that ran when its retry
 * never got a device, or a record saying why it did not run. */
static json_t *final_record(struct run_ctx *c, size_t i)
{
    json_t *rec = aggregate(c, &c->runs[i]);
    for (size_t k = c->next; rec == NULL && c->runs[i].n == 0 && k < c->nitems; k++)
        if (c->items[k].idx == i && c->items[k].prior != NULL)
            rec = json_incref(c->items[k].prior);
    if (rec != NULL) {
        if (c->runs[i].n == 0)     /* not counted when it was taken for a retry */
            progress_case(&c->prog, rec);
        return rec;
    }
    json_t *kase = case_set_get(&c->cases, i);
    if (c->runs[i].n > 0) {        /* it ran (and was counted), but its record is gone */
        rec = case_error_record(c, kase, "none", "its record cannot be read back");
        json_decref(kase);
        return rec;
    }
    rec = case_error_record(c, kase, "none", not_run_reason(c));
    json_decref(kase);
    if (!stop_requested && !c->lost && !c->write_failed && c->o->until_fail)
        json_object_set_new(rec, "verdict", json_string(tm_verdict_name(TM_SKIP)));
    progress_case(&c->prog, rec);
    return rec;
}

/* Each case's final record goes to the spool (final[i]), or stays in kept[i] when
 * the spool cannot take it; counts[] are the totals (an unknown verdict counts as
 * error, as the reports do). */
static void finish_cases(struct run_ctx *c, long *final, json_t **kept, long long counts[6],
                         int *executed)
{
    *executed = 0;
    for (size_t i = 0; i < c->ncases; i++) {
        json_t *rec = final_record(c, i);
        const char *v = json_string_value(json_object_get(rec, "verdict"));
        int k = tm_verdict_parse(v);
        counts[k >= 0 ? k : TM_ERROR]++;
        if (v && tm_verdict_parse(v) != TM_SKIP)
            (*executed)++;
        final[i] = c->write_failed ? -1 : report_spool_put(c->spool, rec);
        if (final[i] < 0)
            kept[i] = json_incref(rec);
        json_decref(rec);
    }
}

struct final_cases {
    const struct report_spool *spool;
    const long *final;
    json_t *const *kept;
};

static json_t *final_case(void *ctx, size_t i)
{
    const struct final_cases *f = ctx;
    return f->kept[i] ? json_incref(f->kept[i]) : report_spool_get(f->spool, f->final[i]);
}

/* When no report could be written, the verdicts at least reach the log. */
static void print_lost(struct run_ctx *c, const struct final_cases *fc, const char *why)
{
    fprintf(stderr, "tlsmatrix: no report written (%s); the results of these cases are lost:\n",
            why);
    for (size_t i = 0; i < c->ncases; i++) {
        json_t *rec = final_case((void *)fc, i);
        fprintf(stderr, "  %s  %s\n", json_string_value(json_object_get(rec, "verdict")) ?: "?",
                json_string_value(json_object_get(rec, "id")) ?: "?");
        json_decref(rec);
    }
}

/* The reports read the cases back from the spool one at a time. */
static int write_reports(struct run_ctx *c, const json_t *hdr, const struct final_cases *fc,
                         struct tm_err *err)
{
    struct tm_err gone;
    if (report_dir_check(c->rdir, &gone) != 0) {   /* not into a directory made anew */
        tm_err_set(err, "%s", gone.msg);
        print_lost(c, fc, gone.msg);
        return -1;
    }
    int rc = report_write_stream(hdr, c->ncases, final_case, (void *)fc, c->baseline,
                                 c->report_dir, err);
    if (rc == REPORT_NONE_WRITTEN)
        print_lost(c, fc, err->msg);
    return rc;
}

static void cleanup(struct run_ctx *c)
{
    progress_end(&c->prog);   /* a run that stopped early ends its line too */
    for (size_t i = 0; c->runs && i < c->ncases; i++) {
        for (size_t k = 0; k < c->runs[i].n; k++)
            json_decref(c->runs[i].v[k].kept);
        free(c->runs[i].v);
    }
    report_spool_close(c->spool);
    for (size_t i = c->next; i < c->nitems; i++)
        json_decref(c->items[i].prior);
    free(c->runs);
    free(c->items);
    free(c->link.per_case);
    case_set_free(&c->cases);
    json_decref(c->manifest);
    json_decref(c->profile);
    json_decref(c->devices);
    json_decref(c->selection);
    json_decref((json_t *)c->baseline);
    if (c->claimed)
        settle_previous_cases(c->report_dir, c->reports_written);
    report_dir_release(c->rdir);
    pthread_cond_destroy(&c->idle);
    pthread_mutex_destroy(&c->mu);
}

/* Worker i's device entry and the file its program's stderr goes to (emptied:
 * it holds this run's lines only). */
static void init_worker(struct run_ctx *c, struct worker *w, size_t i, const char *spec)
{
    char name[48];
    w->ctx = c;
    w->index = (int)i;
    snprintf(w->spec, sizeof w->spec, "%s", spec);
    snprintf(name, sizeof name, "device-%zu.stderr", i + 1);
    snprintf(w->stderr_path, sizeof w->stderr_path, "%s/%s", c->report_dir, name);
    if (truncate(w->stderr_path, 0) != 0 && errno != ENOENT)
        tm_say("tlsmatrix: %s: %s", w->stderr_path, strerror(errno));
    w->device_entry = json_pack("{s:s, s:n, s:s}", "link", spec, "hello", "stderr", name);
    json_array_append_new(c->devices, w->device_entry);
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
    for (size_t i = 0; i < nw; i++)
        init_worker(c, &ws[i], i, specs[i]);
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
    free(specs);
    free(ws);
    return 0;
}

int runner_exit_for(const long long t[], int allow_skips, int min_executed)
{
    long long executed = 0;
    for (int v = 0; v < TM_VERDICT_COUNT; v++) {
        if (tm_verdict_unexpected(v) && t[v] > 0)
            return RUNNER_UNEXPECTED;
        executed += v != TM_SKIP ? t[v] : 0;
    }
    if (min_executed >= 0)
        return executed < min_executed ? RUNNER_UNEXPECTED : RUNNER_OK;
    return executed == 0 && !allow_skips ? RUNNER_UNEXPECTED : RUNNER_OK;
}

int runner_exit_for_totals(const json_t *totals, int allow_skips)
{
    long long t[TM_VERDICT_COUNT];
    for (int v = 0; v < TM_VERDICT_COUNT; v++)
        t[v] = json_integer_value(json_object_get(totals, tm_verdict_name(v)));
    return runner_exit_for(t, allow_skips, -1);
}

/* The summary line and the exit code. */
static int summarise(struct run_ctx *c, const long long t[6], int executed)
{
    const struct runner_opts *o = c->o;
    fprintf(stderr, "tlsmatrix: %zu cases: %lld pass, %lld fail, %lld xfail, %lld xpass, %lld error, "
            "%lld skip; reports in %s\n", c->ncases, t[0], t[1], t[2], t[3], t[4], t[5],
            c->report_dir);
    print_link(c);
    if (o->profile_stages)
        print_stages(c);
    int rc = runner_exit_for(t, o->allow_skips, o->min_executed);
    if (o->min_executed >= 0 && executed < o->min_executed)
        tm_say("tlsmatrix: only %d cases executed, --min %d", executed, o->min_executed);
    else if (executed == 0 && o->min_executed < 0 && !o->allow_skips)
        fprintf(stderr, "tlsmatrix: every case was skipped; nothing was tested "
                        "(--allow-skips or --min 0 accepts that)\n");
    if (c->lost > 0)
        rc = RUNNER_INFRA;
    if (stop_requested) {
        tm_say("tlsmatrix: interrupted; partial reports written");
        rc = RUNNER_INTERRUPTED;
    }
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
    c.run_started = tm_now_ms();
    tm_format_utc(tm_wall_s(), started, sizeof started);
    /* Kept secrets: reports, bundles and the peers' files are the owner's only. */
    if (o->keep_secrets)
        umask(077);
    if (setup(&c, o, err) != 0 || build_queue(&c) != 0)
        goto out;
    progress_start(&c.prog, c.nitems, o->progress);
    if (run_workers(&c, err) != 0)
        goto out;
    if (c.setup_error[0] != '\0') {   /* no profile for a device: no reports either */
        progress_end(&c.prog);
        tm_err_set(err, "%s", c.setup_error);
        goto out;
    }
    long long totals[6] = { 0 };
    long *final = calloc(c.ncases ? c.ncases : 1, sizeof *final);
    json_t **kept = calloc(c.ncases ? c.ncases : 1, sizeof *kept);
    if (final == NULL || kept == NULL) {
        free(final);
        free(kept);
        tm_err_set(err, "out of memory");
        goto out;
    }
    finish_cases(&c, final, kept, totals, &executed);   /* incl. cases never run */
    /* The selected cases are not needed for the reports: free them first, so the
     * run's peak is that of the run or of the reports, not both. */
    case_set_free(&c.cases);
    progress_end(&c.prog);
    struct final_cases fc = { c.spool, final, kept };
    json_t *hdr = header(&c, started);
    int wr = write_reports(&c, hdr, &fc, err);
    c.reports_written = wr != REPORT_NONE_WRITTEN;   /* run.json is this run's */
    if (c.write_failed || wr != 0) {
        /* The run stopped early: what finished is reported (where it could be
         * written), and the exit code says the run is incomplete. */
        if (c.reports_written)
            summarise(&c, totals, executed);
        if (c.write_failed)
            tm_err_set(err, "%s", c.write_err.msg);
    } else {
        rc = summarise(&c, totals, executed);
    }
    if (c.start_error[0] != '\0' && rc != RUNNER_INTERRUPTED) {
        tm_err_set(err, "%s", c.start_error);
        rc = RUNNER_SETUP;
    }
    json_decref(hdr);
    for (size_t i = 0; i < c.ncases; i++)
        json_decref(kept[i]);
    free(final);
    free(kept);
out:
    cleanup(&c);
    return rc;
}
