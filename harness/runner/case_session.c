/* A multi-step device session (docs/contracts.md §5 `steps`): the case's steps
 * in order, repeat blocks unrolled, each an agent request (contracts §3: the TLS
 * operation with `keep`, `conn`, `gc`, `sleep`, `reset`, `fault`) with its own
 * outcome class and expectation; every open step has a peer session of its own
 * (the worker's `tlspeer --serve`, or a one-shot peer while another connection's
 * peer still runs). Each step is recorded with its timings and the heap the
 * device reports; iterations of top-level repeat blocks end with gc.collect()
 * and feed the trend bounds (expect.trend). */
#include "case_internal.h"

#include <stdlib.h>
#include <string.h>

#include "classify/classify.h"
#include "peer/peer.h"
#include "tm_fs.h"

#define SESSION_CONNS 64        /* connections one session may have opened */
#define STEP_MS 15000           /* a step's reply that is not a handshake */

struct sess_conn {
    long id;                    /* the agent's conn id; 0: not kept */
    json_t *rec;                /* its open step's record (borrowed from steps) */
    json_t *expected;           /* that step's expectation */
    json_t *reply;              /* the open's reply (owned) */
    struct peer *peer;          /* still running; NULL once finished */
    unsigned char *sent;        /* what the device wrote on it, for echo checks */
    size_t nsent;
    int closed;
};

struct session {
    struct case_run *r;
    const char *op;
    json_t *files;
    struct sess_conn conns[SESSION_CONNS];
    size_t nconns;
    struct sess_conn *cur;      /* the connection steps act on */
    json_t *heap, *open;        /* per iteration of top-level repeat blocks */
    long hs_max;                /* the slowest handshake */
    int stop;                   /* a step not as expected: the session ends */
    long seq;
};

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static json_t *classes_json(const struct case_classes *c)
{
    json_t *a = json_array();
    for (size_t i = 0; i < c->n; i++)
        json_array_append_new(a, json_string(c->v[i]));
    return a;
}

/* A step's expectation: its own, else an open step takes the case's and any
 * other step expects the device to say ok. */
static json_t *step_expected(const struct session *s, const struct case_step *st)
{
    const struct case_expect *e = st->has_expect ? &st->expect
                                  : st->kind == CASE_STEP_OPEN ? &s->r->c.expect : NULL;
    if (e == NULL)
        return json_pack("{s:[s], s:[s]}", "device", "ok", "peer", "*");
    return json_pack("{s:o, s:o}", "device", classes_json(&e->device),
                     "peer", classes_json(&e->peer));
}

static json_t *new_record(struct session *s, const struct case_step *st, const char *path,
                          int iteration)
{
    json_t *rec = json_pack("{s:I, s:s, s:s, s:o, s:{s:n, s:n}, s:n, s:n, s:n}",
                            "n", (json_int_t)++s->seq, "step",
                            case_enum_name(&case_step_names, (int)st->kind), "at", path,
                            "expected", step_expected(s, st), "actual", "device", "peer",
                            "ok", "heap", "open");
    json_object_set_new(rec, "iteration", iteration >= 0 ? json_integer(iteration) : json_null());
    json_array_append_new(s->r->steps, rec);
    return rec;
}

/* The figures a reply gives: device time, heap after gc.collect(), kept conns. */
static void record_reply(json_t *rec, const json_t *reply, int64_t wall_ms)
{
    json_t *h = json_object_get(reply, "heap_after");
    if (h == NULL)
        h = json_object_get(reply, "heap_free");
    json_object_set_new(rec, "ms", json_integer(wall_ms));
    if (json_is_object(json_object_get(reply, "ms")))
        json_object_set(rec, "device_ms", json_object_get(reply, "ms"));
    if (json_is_integer(h))
        json_object_set(rec, "heap", h);
    if (json_is_integer(json_object_get(reply, "open")))
        json_object_set(rec, "open", json_object_get(reply, "open"));
    for (const char *const *k = (const char *const[]){ "stage", "exc", "bytes_sent",
                                                        "bytes_received", "conn", NULL }; *k; k++)
        if (json_object_get(reply, *k) != NULL && !json_is_null(json_object_get(reply, *k)))
            json_object_set(rec, *k, json_object_get(reply, *k));
}

/* A step's verdict: its record's ok and reason; a failed step ends the session. */
static void judge(struct session *s, json_t *rec, int ok, const char *why)
{
    json_object_set_new(rec, "ok", json_boolean(ok));
    json_object_set_new(rec, "reason", json_string(why));
    if (!ok && !s->r->session_failed) {
        s->r->session_failed = 1;
        snprintf(s->r->session_reason, sizeof s->r->session_reason, "step %lld (%s, %s): %s",
                 (long long)json_integer_value(json_object_get(rec, "n")), str(rec, "step"),
                 str(rec, "at"), why);
    }
    s->stop |= !ok;
}

/* A step other than open: its device class against its expectation. */
static void judge_device(struct session *s, json_t *rec, const char *cls)
{
    char why[400];
    json_object_set_new(json_object_get(rec, "actual"), "device", json_string(cls));
    const json_t *want = json_object_get(json_object_get(rec, "expected"), "device");
    int ok = classify_matches(want, cls);
    snprintf(why, sizeof why, ok ? "device %s, as expected" : "device %s, expected another class",
             cls);
    judge(s, rec, ok, why);
}

/* An open step's verdict, once its peer's result is in: the case rules
 * (classify_verdict: both sides' classes, the handshake-reached evidence). */
static void judge_open(struct session *s, struct sess_conn *c, const json_t *peer_result)
{
    char reason[700];
    char *dc = classify_device(c->reply), *pc = classify_peer(peer_result);
    json_t *actual = json_object_get(c->rec, "actual");
    json_object_set_new(actual, "device", json_string(dc ? dc : "lost"));
    json_object_set_new(actual, "peer", json_string(pc ? pc : "crashed"));
    const char *v = classify_verdict(c->expected, dc ? dc : "lost", pc, c->reply, peer_result,
                                     NULL, reason, sizeof reason);
    if (peer_result != NULL)
        json_object_set(c->rec, "peer_result", (json_t *)peer_result);
    judge(s, c->rec, strcmp(v, tm_verdict_name(TM_PASS)) == 0, reason);
    free(dc);
    free(pc);
}

/* Collect c's peer result (the peer ends its session on its own, or at its
 * timeout) and judge its open step. */
static void finish_conn_peer(struct session *s, struct sess_conn *c)
{
    struct case_run *r = s->r;
    if (c->peer == NULL)
        return;
    json_t *keep_reply = r->reply;
    r->reply = c->reply;
    r->peer = c->peer;
    r->peer_result = NULL;
    r->peer_evidence[0] = '\0';
    case_finish_peer(r);
    c->peer = NULL;
    r->reply = keep_reply;
    judge_open(s, c, r->peer_result);
    json_decref(r->peer_result);
    r->peer_result = NULL;
}

static void finish_all_peers(struct session *s)
{
    for (size_t i = 0; i < s->nconns; i++)
        finish_conn_peer(s, &s->conns[i]);
}

static int peers_running(const struct session *s)
{
    for (size_t i = 0; i < s->nconns; i++)
        if (s->conns[i].peer != NULL)
            return 1;
    return 0;
}

/* The device did not answer: it reset itself (class `reset`, which a step may
 * expect: then it is bootstrapped again and the session goes on) or it is lost. */
static int device_gone(struct session *s, json_t *rec, int rc, struct tm_err *err)
{
    struct case_run *r = s->r;
    if (rc == -2 || !agent_lost_by_reset(r->w->agent))
        return rc;
    json_object_set_new(json_object_get(rec, "actual"), "device", json_string("reset"));
    if (!classify_matches(json_object_get(json_object_get(rec, "expected"), "device"), "reset"))
        return rc;   /* unexpected: an infrastructure error, recovered as ever */
    json_object_set_new(rec, "ok", json_true());
    json_object_set_new(rec, "reason", json_string("device reset, as expected"));
    finish_all_peers(s);
    s->cur = NULL;
    for (size_t i = 0; i < s->nconns; i++)
        s->conns[i].closed = 1;
    tm_ms d = tm_deadline_in(30000);
    return agent_bootstrap(r->w->agent, d < r->deadline ? d : r->deadline, err) == 0 ? 0 : -1;
}

static int step_open(struct session *s, const struct case_step *st, json_t *rec,
                     struct tm_err *err)
{
    struct case_run *r = s->r;
    if (s->nconns == SESSION_CONNS)
        return tm_err_setc(err, TM_E_INPUT, "a session opens at most %d connections",
                           SESSION_CONNS);
    struct sess_conn *c = &s->conns[s->nconns++];
    memset(c, 0, sizeof *c);
    if (r->proxy != NULL) {   /* one proxy per connection, as per case */
        proxy_stop(r->proxy, r->t_proxy);
        r->proxy = NULL;
    }
    c->rec = rec;
    c->expected = json_object_get(rec, "expected");
    r->step_fields = st->options ? json_deep_copy(st->options) : json_object();
    json_object_set_new(r->step_fields, "keep", json_boolean(st->keep));
    if (st->asyncio)
        json_object_set_new(r->step_fields, "asyncio", json_true());
    r->step_peer_args = st->peer_args;
    r->nstep_peer_args = st->npeer_args;
    r->keep_peer = 1;
    r->peer_oneshot = peers_running(s);
    r->reply = NULL;
    r->peer = NULL;
    r->peer_result = NULL;
    r->peer_evidence[0] = '\0';
    tm_ms t0 = tm_now_ms();
    int rc = case_drive(r, s->op, s->files, err);
    json_decref(r->step_fields);
    r->step_fields = NULL;
    r->keep_peer = r->peer_oneshot = 0;
    r->nstep_peer_args = 0;
    record_reply(rec, r->reply, tm_now_ms() - t0);
    c->reply = r->reply;
    r->reply = NULL;
    c->peer = r->peer;
    r->peer = NULL;
    if (rc != 0) {
        json_decref(r->peer_result);
        r->peer_result = NULL;
        return device_gone(s, rec, rc, err);
    }
    long hs = (long)json_integer_value(json_object_get(json_object_get(c->reply, "ms"), "handshake"));
    if (hs > s->hs_max)
        s->hs_max = hs;
    c->id = (long)json_integer_value(json_object_get(c->reply, "conn"));
    if (c->id > 0) {
        s->cur = c;
        return 0;
    }
    c->closed = 1;   /* not kept: the peer's result is in */
    judge_open(s, c, r->peer_result);
    json_decref(r->peer_result);
    r->peer_result = NULL;
    return 0;
}

/* Send one request and wait for its reply (events go to the transcript). */
static int call(struct session *s, const char *op, json_t *fields, int ms, json_t *rec,
                json_t **reply, struct tm_err *err)
{
    struct case_run *r = s->r;
    tm_ms t0 = tm_now_ms(), d = tm_deadline_in(ms);
    int rc = agent_call(r->w->agent, op, fields, d < r->deadline ? d : r->deadline, reply, err);
    json_decref(fields);
    if (rc == 0)
        record_reply(rec, *reply, tm_now_ms() - t0);
    return rc;
}

/* The data check of a read: exactly the bytes expected (a short read fails). */
static const char *read_check(const struct sess_conn *c, const struct case_step *st,
                              const json_t *reply)
{
    unsigned char *got = NULL;
    long n = tm_b64_decode(str(reply, "received_b64") ? str(reply, "received_b64") : "", &got);
    const unsigned char *want = st->data;
    if (st->echo)
        want = c->nsent >= (size_t)st->n ? c->sent + c->nsent - (size_t)st->n : NULL;
    const char *cls = NULL;
    if (n < st->n)
        cls = "error:short-read";
    else if ((st->echo && want == NULL) || (want != NULL && memcmp(got, want, (size_t)st->n) != 0))
        cls = "error:data-mismatch";
    free(got);
    return cls;
}

static int remember_sent(struct sess_conn *c, const struct case_step *st)
{
    unsigned char *p = realloc(c->sent, c->nsent + (size_t)st->n);
    if (p == NULL)
        return -1;
    memcpy(p + c->nsent, st->data, (size_t)st->n);
    c->sent = p;
    c->nsent += (size_t)st->n;
    return 0;
}

/* write, read, close: a `conn` request on the current connection. */
static int step_conn(struct session *s, const struct case_step *st, json_t *rec,
                     struct tm_err *err)
{
    struct sess_conn *c = s->cur;
    if (c == NULL || c->closed) {
        judge(s, rec, 0, "no open connection (an open step with keep must come first)");
        return 0;
    }
    json_t *f = st->options ? json_deep_copy(st->options) : json_object(), *reply = NULL;
    json_object_set_new(f, "conn", json_integer(c->id));
    json_object_set_new(f, "timeout_ms", json_integer(5000));
    json_object_set_new(f, "deadline_ms", json_integer(STEP_MS - 3000));
    if (st->kind == CASE_STEP_WRITE) {
        char *b64 = tm_b64_encode(st->data, (size_t)st->n);
        json_object_set_new(f, "send_b64", json_string(b64 ? b64 : ""));
        free(b64);
    } else if (st->kind == CASE_STEP_READ) {
        json_object_set_new(f, "recv_bytes", json_integer(st->n));
        json_object_set_new(f, "want_data", json_true());   /* read_check needs it */
    } else {
        json_object_set_new(f, "close", json_string(case_enum_name(&case_close_names,
                                                                   (int)st->close)));
    }
    int rc = call(s, "conn", f, STEP_MS, rec, &reply, err);
    if (rc != 0)
        return device_gone(s, rec, rc, err);
    char *cls = classify_device(reply);
    const char *data = NULL;
    if (st->kind == CASE_STEP_WRITE && cls != NULL && strcmp(cls, "ok") == 0)
        remember_sent(c, st);
    if (st->kind == CASE_STEP_READ && cls != NULL && strcmp(cls, "ok") == 0)
        data = read_check(c, st, reply);
    if (st->kind == CASE_STEP_CLOSE) {
        c->closed = 1;
        s->cur = NULL;
    }
    judge_device(s, rec, data ? data : cls ? cls : "lost");
    free(cls);
    json_decref(reply);
    if (st->kind == CASE_STEP_CLOSE)
        finish_conn_peer(s, c);   /* the peer sees the close: its result is in */
    return 0;
}

/* gc, sleep, fault: one request; ok unless the device says otherwise. */
static int step_simple(struct session *s, const struct case_step *st, json_t *rec,
                       struct tm_err *err)
{
    json_t *f = st->options ? json_deep_copy(st->options) : json_object(), *reply = NULL;
    const char *op = case_enum_name(&case_step_names, (int)st->kind);
    int ms = STEP_MS;
    if (st->kind == CASE_STEP_SLEEP) {
        json_object_set_new(f, "ms", json_integer(st->n));
        ms += (int)st->n;
    }
    if (st->kind == CASE_STEP_FAULT) {
        const char *at = strchr(st->fault, '@'), *colon = strchr(st->fault, ':');
        size_t klen = strcspn(st->fault, ":@");
        json_object_set_new(f, "kind", json_stringn(st->fault, klen));
        if (at != NULL)
            json_object_set_new(f, "at", json_string(at + 1));
        if (colon != NULL && (at == NULL || colon < at))   /* the fault op's field for ARG */
            json_object_set_new(f, klen == 4 && !strncmp(st->fault, "baud", 4) ? "baud"
                                   : klen == 4 && !strncmp(st->fault, "leak", 4) ? "bytes" : "ms",
                                json_integer(atol(colon + 1)));
    }
    int rc = call(s, op, f, ms, rec, &reply, err);
    if (rc != 0)
        return device_gone(s, rec, rc, err);
    const char *oc = str(reply, "outcome");
    judge_device(s, rec, oc != NULL && strcmp(oc, "ok") == 0 ? "ok" : oc ? oc : "lost");
    json_decref(reply);
    return 0;
}

/* Soft reset (Ctrl-D's machine.soft_reset()): the agent goes, the session's
 * connections with it; the agent is bootstrapped again. */
static int step_reset(struct session *s, json_t *rec, struct tm_err *err)
{
    struct case_run *r = s->r;
    json_t *reply = NULL;
    finish_all_peers(s);
    int rc = call(s, "reset", NULL, STEP_MS, rec, &reply, err);
    const char *oc = str(reply, "outcome");
    /* The reply and the device's reset can arrive together: the agent's end (the
     * raw REPL's end marker, the reboot banner) may be read before the reply. */
    int ok = (rc == 0 && oc != NULL && strcmp(oc, "ok") == 0) ||
             (rc < 0 && agent_lost_by_reset(r->w->agent));
    char cls[64];
    snprintf(cls, sizeof cls, "%s", ok ? "ok" : oc ? oc : "lost");
    json_decref(reply);
    if (rc != 0 && !ok)
        return rc;
    s->cur = NULL;
    for (size_t i = 0; i < s->nconns; i++)
        s->conns[i].closed = 1;
    tm_ms t0 = tm_now_ms(), d = tm_deadline_in(30000);
    if (ok && agent_bootstrap(r->w->agent, d < r->deadline ? d : r->deadline, err) != 0)
        return -1;
    json_object_set_new(rec, "ms", json_integer(json_integer_value(json_object_get(rec, "ms"))
                                                + tm_now_ms() - t0));
    judge_device(s, rec, cls);
    return 0;
}

static int run_list(struct session *s, const struct case_step *v, size_t n, const char *path,
                    int depth, int iteration, struct tm_err *err);

/* The heap and the kept connections at the end of a top-level iteration. */
static int iteration_end(struct session *s, const char *path, int i, struct tm_err *err)
{
    struct case_step gc = { .kind = CASE_STEP_GC };
    char p[300];
    snprintf(p, sizeof p, "%.280s/end", path);
    json_t *rec = new_record(s, &gc, p, i), *reply = NULL;
    json_object_set_new(rec, "implicit", json_true());
    int rc = call(s, "gc", NULL, STEP_MS, rec, &reply, err);
    if (rc != 0)
        return device_gone(s, rec, rc, err);
    json_array_append(s->heap, json_object_get(reply, "heap_free"));
    json_array_append(s->open, json_object_get(reply, "open"));
    judge_device(s, rec, "ok");
    json_decref(reply);
    return 0;
}

static int run_step(struct session *s, const struct case_step *st, const char *path, int depth,
                    int iteration, struct tm_err *err)
{
    if (st->kind == CASE_STEP_REPEAT) {
        for (long i = 0; i < st->n && !s->stop; i++) {
            int rc = run_list(s, st->steps, st->nsteps, path, depth + 1,
                              depth == 0 ? (int)i : iteration, err);
            if (rc == 0 && depth == 0 && !s->stop)
                rc = iteration_end(s, path, (int)i, err);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    json_t *rec = new_record(s, st, path, iteration);
    switch (st->kind) {
    case CASE_STEP_OPEN:
        return step_open(s, st, rec, err);
    case CASE_STEP_WRITE:
    case CASE_STEP_READ:
    case CASE_STEP_CLOSE:
        return step_conn(s, st, rec, err);
    case CASE_STEP_RESET:
        return step_reset(s, rec, err);
    default:
        return step_simple(s, st, rec, err);
    }
}

static int run_list(struct session *s, const struct case_step *v, size_t n, const char *path,
                    int depth, int iteration, struct tm_err *err)
{
    for (size_t i = 0; i < n && !s->stop; i++) {
        char p[300];
        snprintf(p, sizeof p, "%.260s%ssteps[%zu]", path, path[0] ? "." : "", i);
        int rc = run_step(s, &v[i], p, depth, iteration, err);
        if (rc != 0)
            return rc;
        if (tm_expired(s->r->deadline))
            return 1;
    }
    return 0;
}

/* Heap growth per iteration: the first iteration warms up (buffers, caches,
 * interned strings), so growth is measured from the second on when there are
 * three or more. */
static long heap_growth(const json_t *heap)
{
    size_t n = json_array_size(heap), first = n >= 3 ? 1 : 0;
    if (n < 2)
        return 0;
    json_int_t a = json_integer_value(json_array_get(heap, first)),
               b = json_integer_value(json_array_get(heap, n - 1));
    return (long)((a - b) / (json_int_t)(n - 1 - first));
}

/* why gets the first bound value breaks, "" when none. */
static void bound_check(const char *what, long value, const struct case_bound *b, char *why,
                        size_t len)
{
    if (why[0] != '\0')
        return;
    if (b->max >= 0 && value > b->max)
        snprintf(why, len, "%s %ld, expected at most %ld", what, value, b->max);
    else if (b->min >= 0 && value < b->min)
        snprintf(why, len, "%s %ld, expected at least %ld", what, value, b->min);
}

static void judge_trend(struct session *s)
{
    struct case_run *r = s->r;
    const struct case_trend *t = &r->c.trend;
    long growth = heap_growth(s->heap), open_max = 0;
    size_t i, n = json_array_size(s->heap);
    json_t *v;
    json_array_foreach(s->open, i, v) if (json_integer_value(v) > open_max)
        open_max = (long)json_integer_value(v);
    r->trend = json_pack("{s:I, s:O, s:I, s:O, s:I, s:I}", "iterations", (json_int_t)n,
                         "heap", s->heap, "heap_growth_per_iteration", (json_int_t)growth,
                         "open", s->open, "open_max", (json_int_t)open_max,
                         "handshake_ms_max", (json_int_t)s->hs_max);
    char why[300] = "", what[80];
    snprintf(what, sizeof what, "heap growth per iteration over %zu iterations (bytes):", n);
    if (n >= 2)
        bound_check(what, growth, &t->heap_growth, why, sizeof why);
    else if (t->heap_growth.min >= 0 || t->heap_growth.max >= 0)
        snprintf(why, sizeof why, "heap growth needs a repeat block of 2 or more iterations");
    bound_check("connections held at an iteration's end:", open_max, &t->open, why, sizeof why);
    bound_check("slowest handshake (ms):", s->hs_max, &t->handshake_ms, why, sizeof why);
    json_object_set_new(r->trend, "ok", json_boolean(why[0] == '\0'));
    json_object_set_new(r->trend, "reason", json_string(why));
    if (why[0] && !r->session_failed) {
        r->session_failed = 1;
        snprintf(r->session_reason, sizeof r->session_reason, "trend: %s", why);
    }
}

int case_session_run(struct case_run *r, const char *op, struct tm_err *err)
{
    struct session s;
    memset(&s, 0, sizeof s);
    s.r = r;
    s.op = op;
    s.files = json_object();
    s.heap = json_array();
    s.open = json_array();
    r->steps = json_array();
    /* --case-timeout bounds each connection and each reset of a session */
    long spans = case_steps_count(r->c.steps, r->c.nsteps, CASE_STEP_OPEN)
                 + case_steps_count(r->c.steps, r->c.nsteps, CASE_STEP_RESET);
    r->deadline = tm_deadline_in((int64_t)r->ctx->case_timeout_ms * (spans > 1 ? spans : 1));
    int rc = run_list(&s, r->c.steps, r->c.nsteps, "", 0, -1, err);
    if (rc == 0) {   /* close what the session left open (its peers then end too):
                      * the next case starts clean */
        struct case_step gc = { .kind = CASE_STEP_GC };
        json_t *rec = new_record(&s, &gc, "end", -1), *reply = NULL;
        json_object_set_new(rec, "implicit", json_true());
        rc = call(&s, "gc", json_pack("{s:b}", "release", 1), STEP_MS, rec, &reply, err);
        json_decref(reply);
        if (rc == 0)
            json_object_set_new(rec, "ok", json_true());
    }
    finish_all_peers(&s);
    if (rc == 0)
        judge_trend(&s);
    for (size_t i = 0; i < s.nconns; i++) {
        struct sess_conn *c = &s.conns[i];
        if (i + 1 == s.nconns) {   /* the last open's reply is the case's device_reply */
            r->reply = c->reply;
            c->reply = NULL;
        }
        json_decref(c->reply);
        free(c->sent);
    }
    json_decref(s.files);
    json_decref(s.heap);
    json_decref(s.open);
    return rc;
}

const char *case_session_verdict(struct case_run *r, char *reason, size_t len)
{
    const json_t *xf = json_object_get(r->rec, "xfail");
    const char *xr = str(xf, "reason");
    size_t nsteps = json_array_size(r->steps);
    if (json_is_object(xf)) {
        snprintf(reason, len, r->session_failed ? "known failure (%s): %s"
                 : "passed although the profile expects a failure (%s)%s",
                 xr ? xr : "no reason given", r->session_failed ? r->session_reason : "");
        return tm_verdict_name(r->session_failed ? TM_XFAIL : TM_XPASS);
    }
    if (r->session_failed)
        snprintf(reason, len, "%s", r->session_reason);
    else
        snprintf(reason, len, "%zu steps as expected", nsteps);
    return tm_verdict_name(r->session_failed ? TM_FAIL : TM_PASS);
}
