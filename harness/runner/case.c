/* One case on one device: clock, files, peer (and proxy), the device request,
 * classification and the record (docs/contracts.md §6). What the device is
 * asked is made in case_request.c; the bundle is written by case_bundle.c. */
#include "case_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "classify/classify.h"
#include "lookalike.h"
#include "peer/peer.h"
#include "profile/profile.h"
#include "tm_fs.h"
#include "tm_time.h"

#define PEER_READY_MS 5000
#define LISTEN_MS 10000
#define PEER_TAIL_MS 5000

const char *const runner_stage_names[ST_COUNT] = { "peer_start", "device_request", "handshake",
                                                   "classify", "report", "link_wait", "total" };


/* A class string from classify_*() (malloc'd) as a JSON string, freeing it. */
static json_t *class_json(char *s)
{
    json_t *j = s ? json_string(s) : json_null();
    free(s);
    return j;
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

json_t *case_base_record(struct run_ctx *ctx, const json_t *kase, const char *device)
{
    const char *id = str(kase, "id");
    const json_t *xf = profile_xfail_for(ctx->profile, id ? id : "");
    json_t *xfail = xf ? json_pack("{s:O?, s:O?}", "reason", json_object_get(xf, "reason"),
                                   "ref", json_object_get(xf, "ref"))
                       : json_null();
    return json_pack("{s:s?, s:O?, s:O?, s:O?, s:O?, s:s?, s:b, s:O?, s:o, s:o, s:i, s:b}",
                     "id", id, "scenario", json_object_get(kase, "scenario"),
                     "doc", json_object_get(kase, "doc"), "tags", json_object_get(kase, "tags"),
                     "axes", json_object_get(kase, "axes"), "device", device,
                     "insecure", json_is_true(json_object_get(kase, "insecure")),
                     "expected", json_object_get(kase, "expected"), "xfail", xfail,
                     "actual", json_pack("{s:n, s:n}", "device", "peer"), "attempts", 1,
                     "flaky", 0);
}

json_t *case_error_record(struct run_ctx *ctx, const json_t *kase, const char *device,
                          const char *reason)
{
    json_t *rec = case_base_record(ctx, kase, device);
    json_object_set_new(rec, "verdict", json_string(tm_verdict_name(TM_ERROR)));
    json_object_set_new(rec, "reason", json_string(reason));
    json_object_set_new(json_object_get(rec, "actual"), "device", json_string("lost"));
    json_object_set_new(rec, "transcript", json_pack("{s:[], s:[], s:[]}", "agent", "peer", "proxy"));
    json_t *timings = json_object();
    for (int i = 0; i < ST_COUNT; i++)
        json_object_set_new(timings, runner_stage_names[i], json_integer(0));
    json_object_set_new(rec, "timings_ms", timings);
    json_object_set_new(rec, "heap_delta", json_null());
    json_object_set_new(rec, "heap", json_null());
    json_object_set_new(rec, "device_reply", json_null());
    json_object_set_new(rec, "peer_result", json_null());
    json_object_set_new(rec, "replay", json_string(""));
    json_object_set_new(rec, "link", json_pack("{s:i, s:i, s:i}", "sent", 0, "received", 0,
                                               "wait_ms", 0));
    return rec;
}

/* A step's own deadline, never later than the case's: a device that stalls in
 * the middle of a put must not hold the run longer than the case timeout. */
static tm_ms case_deadline_in(const struct case_run *r, int ms)
{
    tm_ms d = tm_deadline_in(ms);
    return d < r->deadline ? d : r->deadline;
}

/* The device's own clock now: what its hello said, advanced by the time since. */
static int64_t own_clock_now(const struct worker *w)
{
    return w->own_clock + (tm_now_ms() - w->own_clock_at) / 1000;
}

static int set_clock(struct case_run *r, struct tm_err *err)
{
    struct worker *w = r->w;
    int64_t want;
    /* A clock that cannot be set is the device's own: runner_skip_reason let the
     * case through only where that time tests what the reference time would. */
    if (json_is_false(json_object_get(json_object_get(agent_hello(w->agent), "clock"), "settable")))
        return 0;
    if (r->c.device.clock == CASE_CLOCK_KEEP) {
        /* The device's own clock, not whatever an earlier case set: otherwise a
         * keep case's outcome depends on which case ran before it on the device. */
        if (w->clock_set == CLOCK_OWN || !w->own_clock_known)
            return 0;
        want = own_clock_now(w);
    } else if (r->c.device.clock == CASE_CLOCK_NOW || r->c.device.clock == CASE_CLOCK_AT) {
        /* Set every time: "now" moves, and the case is about that exact time. */
        want = r->c.device.clock == CASE_CLOCK_NOW ? tm_wall_s() : r->c.device.clock_at;
    } else {
        want = r->c.device.clock == CASE_CLOCK_UNSET ? r->ctx->unset_epoch : r->ctx->ref_epoch;
        if (w->clock_set == want && tm_now_ms() - w->clock_set_at < 600000)
            return 0;
    }
    json_t *req = json_pack("{s:I}", "set", (json_int_t)want), *reply = NULL;
    int rc = agent_call(r->w->agent, "clock", req, case_deadline_in(r, 5000), &reply, err);
    json_decref(req);
    if (rc != 0)            /* 1: no answer in time, which case_execute treats as lost */
        return rc;
    const char *oc = str(reply, "outcome");
    if (oc == NULL || strcmp(oc, "ok") != 0) {
        snprintf(r->error, sizeof r->error, "device clock cannot be set (clock op: %s)",
                 oc ? oc : "no outcome");
        r->skip = oc != NULL && strcmp(oc, "unsupported") == 0;
        json_decref(reply);
        return r->skip ? 1 : tm_err_set(err, "%s", r->error);
    }
    json_decref(reply);
    w->clock_set = r->c.device.clock == CASE_CLOCK_KEEP ? CLOCK_OWN : want;
    w->clock_set_at = tm_now_ms();
    return 0;
}

/* The user's own file (a path: fixture names have no '/') as the device loads
 * it: a device without PEM parsing (hello caps.pem false) gets the DER of its
 * first certificate or of its key, and the transcript says so. Catalog
 * fixtures go as they are: their format is what the scenario tests. */
static int device_format(struct case_run *r, const char *name, const char *dpath,
                         unsigned char **data, size_t *len, struct tm_err *err)
{
    const json_t *caps = json_object_get(agent_hello(r->w->agent), "caps");
    if (strchr(name, '/') == NULL || !json_is_false(json_object_get(caps, "pem")))
        return 0;
    unsigned char *der = NULL;
    size_t dlen = 0;
    int ncerts = 0;
    if (lk_pem_to_der(*data, *len, &der, &dlen, &ncerts, err) != 0)
        return tm_err_prefix(err, "%s", name);
    if (der == NULL)
        return 0;   /* DER already */
    free(*data);
    *data = der;
    *len = dlen;
    char more[160] = "";
    if (ncerts > 1)
        snprintf(more, sizeof more, "; %d more certificate(s) not sent: a DER load call takes "
                 "one certificate", ncerts - 1);
    json_array_append_new(r->t_agent, json_sprintf("! %s: PEM converted to DER for %s (hello "
                          "caps.pem=false)%s", name, dpath, more));
    return 0;
}

static int push_files(struct case_run *r, json_t *files, struct tm_err *err)
{
    const char *dpath;
    json_t *v;
    json_object_foreach(files, dpath, v) {
        char path[1024];
        unsigned char *data = NULL;
        size_t len = 0;
        peer_fixture_path(worker_fixtures(r->w), json_string_value(v), path, sizeof path);
        if (tm_read_file(path, &data, &len, err) != 0)
            return tm_err_prefix(err, "fixture for the device") - 1;   /* -2: setup, not lost */
        if (device_format(r, json_string_value(v), dpath, &data, &len, err) != 0) {
            free(data);
            r->setup_failed = 1;
            return -2;
        }
        int rc = agent_put(r->w->agent, dpath, data, len, case_deadline_in(r, 15000), err);
        free(data);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* Wait for the reply to id, passing events: the first "listening" is returned
 * through *listening when asked for. 0 reply/event, 1 deadline, -1 lost. */
static int wait_device(struct case_run *r, long id, tm_ms deadline, json_t **listening,
                       struct tm_err *err)
{
    for (int guard = 0; guard < 1000; guard++) {
        json_t *msg = NULL;
        int k = agent_next(r->w->agent, id, deadline, &msg, err);
        if (k == AGENT_REPLY) {
            r->reply = msg;
            return 0;
        }
        if (k == AGENT_TIMEOUT)
            return 1;
        if (k < 0)
            return -1;
        const char *ev = str(msg, "event");
        if (listening != NULL && ev != NULL && strcmp(ev, "listening") == 0) {
            *listening = msg;
            return 0;
        }
        json_decref(msg);
    }
    return tm_err_set(err, "too many events from the device");
}

/* The peer's argv: the case's, with a session step's own arguments last. */
static json_t *step_peer_argv(struct case_run *r, const struct peer_target *t, struct tm_err *err)
{
    if (r->nstep_peer_args == 0)
        return peer_build_argv(&r->c, worker_fixtures(r->w), t, err);
    struct tm_case c = r->c;   /* shallow: only the args list is new */
    char **args = calloc(c.peer.nargs + r->nstep_peer_args, sizeof *args);
    if (args == NULL)
        return tm_err_setc(err, TM_E_NOMEM, "out of memory"), NULL;
    if (c.peer.nargs > 0)   /* memcpy from NULL is undefined even for 0 bytes */
        memcpy(args, c.peer.args, c.peer.nargs * sizeof *args);
    memcpy(args + c.peer.nargs, r->step_peer_args, r->nstep_peer_args * sizeof *args);
    c.peer.args = args;
    c.peer.nargs += r->nstep_peer_args;
    json_t *argv = peer_build_argv(&c, worker_fixtures(r->w), t, err);
    free(args);
    return argv;
}

static int start_peer(struct case_run *r, const struct peer_target *t, struct tm_err *err)
{
    json_t *argv = step_peer_argv(r, t, err);
    if (argv == NULL)
        return -1;
    char *cmd = peer_argv_string(argv);
    json_array_append_new(r->t_peer, json_sprintf("$ %s", cmd ? cmd : "tlspeer"));
    json_object_set_new(r->rec, "peer_command", json_string(cmd ? cmd : ""));
    free(cmd);
    char errpath[1300];
    snprintf(errpath, sizeof errpath, "%s/peer.stderr", r->dir);
    tm_ms t0 = tm_now_ms();
    r->peer = peer_start_pooled(r->peer_oneshot ? NULL : r->w->peers, argv, errpath,
                                case_deadline_in(r, PEER_READY_MS), r->t_peer, err);
    r->stage[ST_PEER_START] += tm_now_ms() - t0;
    json_decref(argv);
    /* A peer that is not ready in time is the harness's problem, not the device's;
     * one that exits first refused its arguments or files: a setup error. */
    if (r->peer == NULL && tm_err_code(err) == TM_E_TIMEOUT)
        r->peer_stuck = 1;
    else if (r->peer == NULL)
        r->setup_failed = 1;
    return r->peer ? 0 : -1;
}

static int maybe_proxy(struct case_run *r, const char *listen_host, const char *host,
                       int port, int *out_port, struct tm_err *err)
{
    const json_t *spec = r->c.proxy;
    *out_port = port;
    if (spec == NULL)
        return 0;
    char log[1300];
    snprintf(log, sizeof log, "%s/proxy.log", r->dir);
    r->proxy = proxy_start(spec, listen_host, host, port, log, r->ctx->case_timeout_ms, case_deadline_in(r, 5000),
                           r->t_proxy, err);
    if (r->proxy == NULL) {
        r->setup_failed = tm_err_code(err) != TM_E_TIMEOUT;
        return -1;
    }
    *out_port = proxy_port(r->proxy);
    return 0;
}

/* 1 when the device's reply shows it never reached the network, so the peer
 * cannot have seen it (no point waiting for the peer's own timeout). */
static int device_never_connected(const json_t *reply)
{
    static const char *const early[] = { "socket", "context", "load_ca", "load_cert", NULL };
    const char *oc = str(reply, "outcome"), *stage = str(reply, "stage");
    if (reply == NULL)
        return 0;
    if (oc != NULL && (strcmp(oc, "unsupported") == 0 || strcmp(oc, "bad-request") == 0))
        return 1;
    for (size_t i = 0; stage != NULL && early[i]; i++)
        if (strcmp(stage, early[i]) == 0)
            return 1;
    return 0;
}

void case_finish_peer(struct case_run *r)
{
    if (r->peer == NULL)
        return;
    /* No reply (device lost or silent): the peer's result cannot depend on it. */
    int early = r->reply == NULL || device_never_connected(r->reply);
    tm_ms tail = tm_deadline_in(early ? 300 : PEER_TAIL_MS);
    /* The case deadline bounds the peer too (--case-timeout is a hard bound). */
    r->peer_result = peer_finish(r->peer, tail < r->deadline ? tail : r->deadline,
                                 r->t_peer, r->peer_evidence, sizeof r->peer_evidence);
    if (peer_unresponsive(r->peer) && !r->error[0]) {
        r->peer_stuck = 1;
        snprintf(r->error, sizeof r->error, "peer stopped answering: %s", r->peer_evidence);
    }
    if (r->reply == NULL && json_is_object(r->peer_result)
        && json_object_get(r->peer_result, "harness_note") != NULL) {
        snprintf(r->peer_evidence, sizeof r->peer_evidence,
                 "peer stopped without a result: the device gave no reply");
        json_object_set_new(r->peer_result, "harness_note", json_string(r->peer_evidence));
    }
    if (early && r->reply != NULL && json_is_object(r->peer_result)
        && json_object_get(r->peer_result, "harness_note") != NULL) {
        /* The synthesised "timeout" of a peer that was never contacted. */
        snprintf(r->peer_evidence, sizeof r->peer_evidence,
                 "peer not contacted: the device failed before connecting (stage %s)",
                 str(r->reply, "stage") ? str(r->reply, "stage") : str(r->reply, "outcome"));
        json_object_set_new(r->peer_result, "handshake", json_string("not-started"));
        json_object_set_new(r->peer_result, "harness_note", json_string(r->peer_evidence));
    }
    if (r->peer_evidence[0])
        json_array_append_new(r->t_peer, json_sprintf("! %s", r->peer_evidence));
    peer_stop(r->peer);
    r->peer = NULL;
}

/* --target: no local peer; the device goes to a real server, whose side the
 * harness cannot see (peer class "remote"). */
static void remote_peer(struct case_run *r, char *host, size_t hlen, int *port)
{
    const char *colon = strrchr(r->c.target, ':');
    snprintf(host, hlen, "%.*s", (int)(colon - r->c.target), r->c.target);
    *port = atoi(colon + 1);
    snprintf(r->peer_evidence, sizeof r->peer_evidence, "no local peer: the device was sent to "
             "%s (--target)", r->c.target);
    json_array_append_new(r->t_peer, json_sprintf("! %s", r->peer_evidence));
    r->peer_result = json_pack("{s:s, s:s, s:s}", "event", "result", "handshake", "remote",
                               "harness_note", r->peer_evidence);
}

/* Device is the client: peer server first, then the request. */
static int drive_client(struct case_run *r, const char *op, json_t *files, struct tm_err *err)
{
    struct peer_target t = { "127.0.0.1", NULL, 0, r->ctx->case_timeout_ms };
    char host[300];
    int port;
    if (strcmp(r->ctx->peer_host, "127.0.0.1") != 0 && strcmp(r->ctx->peer_host, "::1") != 0)
        t.bind = "0.0.0.0";
    if (r->c.target != NULL) {
        remote_peer(r, host, sizeof host, &port);
    } else {
        if (start_peer(r, &t, err) != 0)
            return -2;
        if (maybe_proxy(r, t.bind, "127.0.0.1", peer_port(r->peer), &port, err) != 0)
            return -2;
        snprintf(host, sizeof host, "%s", r->ctx->peer_host);
    }
    json_t *f = case_device_request(r, host, port, files);
    int rc = push_files(r, files, err);
    long id = 0;
    tm_ms t0 = tm_now_ms();
    if (rc == 0)
        rc = agent_send(r->w->agent, op, f, r->deadline, &id, err);
    json_decref(f);
    if (rc == 0)
        rc = wait_device(r, id, r->deadline, NULL, err);
    r->stage[ST_DEVICE_REQUEST] += tm_now_ms() - t0;
    if (!r->keep_peer || rc != 0 || r->reply == NULL || json_object_get(r->reply, "conn") == NULL)
        case_finish_peer(r);
    return rc;
}

/* Device is the server: request first, "listening", then the peer client. */
static int drive_server(struct case_run *r, const char *op, json_t *files, struct tm_err *err)
{
    json_t *f = case_device_request(r, NULL, 0, files);
    int rc = push_files(r, files, err);
    long id = 0;
    json_t *listening = NULL;
    tm_ms t0 = tm_now_ms();
    if (rc == 0)
        rc = agent_send(r->w->agent, op, f, r->deadline, &id, err);
    json_decref(f);
    if (rc == 0) {
        tm_ms ld = tm_deadline_in(LISTEN_MS);
        rc = wait_device(r, id, ld < r->deadline ? ld : r->deadline, &listening, err);
    }
    if (rc == 0 && listening != NULL) {
        const json_t *hello = agent_hello(r->w->agent);
        const char *addr = str(listening, "addr");
        int port = (int)json_integer_value(json_object_get(listening, "port")), pport;
        /* A wildcard bind is reached on the device's own address, or loopback
         * for a virtual camera on this host. */
        if (addr == NULL || strcmp(addr, "0.0.0.0") == 0 || strcmp(addr, "::") == 0) {
            const char *a0 = json_string_value(json_array_get(json_object_get(hello, "addrs"), 0));
            addr = (json_is_true(json_object_get(hello, "virtual")) || a0 == NULL) ? "127.0.0.1" : a0;
        }
        struct peer_target t = { NULL, addr, port, r->ctx->case_timeout_ms };
        rc = maybe_proxy(r, "127.0.0.1", addr, port, &pport, err);
        if (r->proxy != NULL)       /* the peer goes through the proxy on this host */
            t.host = "127.0.0.1";
        t.port = pport;
        if (rc == 0)
            rc = start_peer(r, &t, err);
        json_decref(listening);
        if (rc != 0) {
            /* The device waits for a client that will not come: its reply
             * arrives at its own deadline; the case is an error either way. */
            json_array_append_new(r->t_peer, json_sprintf("! peer not started: %s", err->msg));
            snprintf(r->error, sizeof r->error, "peer not started: %.1000s", err->msg);
        }
        rc = wait_device(r, id, r->deadline, NULL, err);
    } else if (rc == 0) {
        snprintf(r->peer_evidence, sizeof r->peer_evidence,
                 "peer not started: the device answered before listening");
        r->peer_result = json_pack("{s:s, s:s, s:s}", "event", "result", "handshake",
                                   "not-started", "harness_note", r->peer_evidence);
    }
    r->stage[ST_DEVICE_REQUEST] += tm_now_ms() - t0;
    if (!r->keep_peer || rc != 0 || r->reply == NULL || json_object_get(r->reply, "conn") == NULL)
        case_finish_peer(r);
    return rc;
}

/* Sum of the device's own timings, for the "handshake" stage. */
static int64_t reply_ms(const json_t *reply, const char *k)
{
    return json_integer_value(json_object_get(json_object_get(reply, "ms"), k));
}

/* A session's actual classes: its first step not as expected, else its last
 * open step. */
static void session_actual(struct case_run *r, json_t *actual)
{
    const json_t *pick = NULL, *st;
    size_t i;
    json_array_foreach(r->steps, i, st) {
        if (json_is_false(json_object_get(st, "ok"))) {
            pick = st;
            break;
        }
        if (strcmp(str(st, "step"), "open") == 0)
            pick = st;
    }
    const json_t *a = json_object_get(pick, "actual");
    json_object_set(actual, "device", json_object_get(a, "device") ?: json_null());
    json_object_set(actual, "peer", json_object_get(a, "peer") ?: json_null());
}

static void classify(struct case_run *r)
{
    tm_ms t0 = tm_now_ms();
    json_t *actual = json_object_get(r->rec, "actual");
    char reason[1200] = "";
    const char *verdict;
    if (r->skip) {
        verdict = tm_verdict_name(TM_SKIP);
        snprintf(reason, sizeof reason, "%s", r->error);
    } else if (r->lost || r->error[0]) {
        verdict = tm_verdict_name(TM_ERROR);
        snprintf(reason, sizeof reason, "%s", r->error);
        if (r->lost)
            json_object_set_new(actual, "device", json_string("lost"));
        else if (r->reply != NULL)
            json_object_set_new(actual, "device", class_json(classify_device(r->reply)));
        if (r->peer_result != NULL)
            json_object_set_new(actual, "peer", class_json(classify_peer(r->peer_result)));
    } else if (r->steps != NULL) {
        session_actual(r, actual);
        verdict = case_session_verdict(r, reason, sizeof reason);
    } else {
        char *dc = classify_device(r->reply), *pc = classify_peer(r->peer_result);
        json_object_set_new(actual, "device", json_string(dc ? dc : "lost"));
        json_object_set_new(actual, "peer", json_string(pc ? pc : "crashed"));
        verdict = classify_verdict(json_object_get(r->kase, "expected"), dc, pc, r->reply,
                                   r->peer_result, json_is_null(json_object_get(r->rec, "xfail"))
                                   ? NULL : json_object_get(r->rec, "xfail"), reason, sizeof reason);
        free(dc);
        free(pc);
    }
    if (r->peer_evidence[0] && strstr(reason, r->peer_evidence) == NULL && strlen(reason) < 300)
        snprintf(reason + strlen(reason), sizeof reason - strlen(reason), "%s%s",
                 reason[0] ? "; " : "", r->peer_evidence);
    json_object_set_new(r->rec, "verdict", json_string(verdict));
    json_object_set_new(r->rec, "reason", json_string(reason));
    r->stage[ST_CLASSIFY] += tm_now_ms() - t0;
}

/* The device could not leave only heap_free bytes free (it had less to begin
 * with): the agent says so with stage "heap" and outcome unsupported, and the
 * case cannot test what it means to, so it is skipped with the agent's reason. */
static void heap_unreachable(struct case_run *r)
{
    const char *oc = str(r->reply, "outcome"), *stage = str(r->reply, "stage");
    if (r->c.device.heap_free <= 0 || oc == NULL || stage == NULL
        || strcmp(oc, "unsupported") != 0 || strcmp(stage, "heap") != 0)
        return;
    r->skip = 1;
    snprintf(r->error, sizeof r->error, "%s", str(r->reply, "error") ? str(r->reply, "error")
             : "device cannot leave the heap_free figure free");
}

/* run.json's heap figures (docs/contracts.md §6): free heap before and after the
 * operation, and the figure the case asked for and the one the device reached. */
static json_t *heap_record(const struct case_run *r)
{
    static const char *const keys[][2] = { { "before", "heap_before" }, { "after", "heap_after" },
                                           { "free_reached", "heap_reached" } };
    json_t *h = json_object();
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const json_t *v = json_object_get(r->reply, keys[i][1]);
        json_object_set_new(h, keys[i][0], json_is_integer(v) ? json_copy((json_t *)v) : json_null());
    }
    json_object_set_new(h, "free_asked", r->c.device.heap_free > 0
                        ? json_integer(r->c.device.heap_free) : json_null());
    return h;
}

int case_drive(struct case_run *r, const char *op, json_t *files, struct tm_err *err)
{
    return r->c.device.role == CASE_SERVER ? drive_server(r, op, files, err)
                                           : drive_client(r, op, files, err);
}

static int run_steps(struct case_run *r, struct tm_err *err)
{
    char op[32];
    int server = r->c.device.role == CASE_SERVER;
    snprintf(op, sizeof op, "%s_%s", case_enum_name(&case_proto_names, r->c.proto),
             server ? "server" : "client");
    int rc = set_clock(r, err);
    if (rc != 0)
        return rc;
    if (r->c.nsteps > 0)
        return case_session_run(r, op, err);
    json_t *files = json_object();
    rc = case_drive(r, op, files, err);
    json_decref(files);
    if (rc == 0)
        heap_unreachable(r);
    return rc;
}

json_t *case_execute(struct worker *w, const json_t *kase, int iter, int attempt, int *infra)
{
    struct run_ctx *ctx = w->ctx;
    struct case_run r;
    struct tm_err err = { 0 };
    char sid[600];
    memset(&r, 0, sizeof r);
    r.w = w;
    r.ctx = ctx;
    r.kase = kase;
    r.rec = case_base_record(ctx, kase, w->spec);
    r.t_agent = json_array();
    r.t_peer = json_array();
    r.t_proxy = json_array();
    *infra = 0;
    tm_ms t0 = tm_now_ms();
    struct agent_traffic before, after, used;
    agent_traffic(w->agent, &before);
    r.deadline = tm_deadline_in(ctx->case_timeout_ms);
    runner_sanitise_id(str(kase, "id"), sid, sizeof sid);
    /* Repeated runs keep every run's evidence: cases/<id>/run-N. */
    if (ctx->o->repeat > 1 || ctx->o->until_fail)
        snprintf(r.dir, sizeof r.dir, "%s/cases/%s/run-%d", ctx->report_dir, sid, iter + 1);
    else
        snprintf(r.dir, sizeof r.dir, "%s/cases/%s", ctx->report_dir, sid);
    if (attempt > 1) {      /* a retry keeps the evidence of the attempt it retries */
        size_t n = strlen(r.dir);
        snprintf(r.dir + n, sizeof r.dir - n, "/attempt-%d", attempt);
    }
    if (tm_mkdirs(r.dir, 0755, &err) != 0)
        case_bundle_failed(&r, &err);
    err.msg[0] = '\0';
    char buf[300];
    const char *why = runner_skip_reason(kase, agent_hello(w->agent), worker_manifest(w), buf,
                                         sizeof buf);
    if (case_build(kase, &r.c, &err) != 0) {   /* checked at selection: not expected */
        snprintf(r.error, sizeof r.error, "invalid case: %s", err.msg);
        r.error_code = tm_err_code(&err);
    } else if (why != NULL) {
        r.skip = 1;
        snprintf(r.error, sizeof r.error, "%s", why);
    } else {
        agent_set_transcript(w->agent, r.t_agent);
        int rc = run_steps(&r, &err);
        agent_set_transcript(w->agent, NULL);
        if (rc == 1 && !r.skip) {          /* the device did not answer in time */
            r.lost = 1;
            r.silent = 1;
            snprintf(r.error, sizeof r.error, "device lost: no reply before the case deadline (%d ms)",
                     ctx->case_timeout_ms);
        } else if (rc < 0) {
            r.lost = agent_is_lost(w->agent);
            if (!r.error[0]) {
                snprintf(r.error, sizeof r.error, "%s", err.msg);
                r.error_code = tm_err_code(&err);
            }
        }
    }
    peer_stop(r.peer);
    proxy_stop(r.proxy, r.t_proxy);
    r.stage[ST_HANDSHAKE] = reply_ms(r.reply, "handshake");
    agent_traffic(w->agent, &after);
    agent_traffic_since(&after, &before, &used);
    r.stage[ST_LINK_WAIT] = used.wait_us / 1000;
    json_object_set_new(r.rec, "link", json_pack("{s:I, s:I, s:I}", "sent", (json_int_t)used.sent,
                                                "received", (json_int_t)used.received,
                                                "wait_ms", (json_int_t)r.stage[ST_LINK_WAIT]));
    classify(&r);
    *infra = r.silent ? 2 : r.peer_stuck ? 3 : (r.lost || r.error_code == TM_E_BUSY);
    json_object_set_new(r.rec, "attempts", json_integer(attempt));
    json_t *hb = json_object_get(r.reply, "heap_before"), *ha = json_object_get(r.reply, "heap_after");
    json_object_set_new(r.rec, "heap_delta", json_is_integer(hb) && json_is_integer(ha)
                        ? json_integer(json_integer_value(ha) - json_integer_value(hb)) : json_null());
    json_object_set_new(r.rec, "heap", heap_record(&r));
    json_object_set_new(r.rec, "device_reply", r.reply ? r.reply : json_null());
    json_object_set_new(r.rec, "peer_result", r.peer_result ? r.peer_result : json_null());
    if (r.steps != NULL) {   /* a session: every step, and its trend (contracts §6) */
        json_object_set_new(r.rec, "steps", r.steps);
        json_object_set_new(r.rec, "trend", r.trend ? r.trend : json_null());
    }
    json_object_set_new(r.rec, "transcript", json_pack("{s:o, s:o, s:o}", "agent", r.t_agent,
                                                      "peer", r.t_peer, "proxy", r.t_proxy));
    /* Relative to the report directory: a report moved as a CI artifact still
     * finds its bundles. */
    json_object_set_new(r.rec, "bundle", json_string(r.dir + strlen(ctx->report_dir) + 1));
    if (r.setup_failed)   /* repro makes this exit 2 (runner_opts.start_failure_is_setup) */
        json_object_set_new(r.rec, "setup_error", json_string(r.error));
    tm_ms tr = tm_now_ms();
    case_bundle_write(&r);
    r.stage[ST_REPORT] = tm_now_ms() - tr;
    r.stage[ST_TOTAL] = tm_now_ms() - t0;
    case_free(&r.c);
    json_t *timings = json_object();
    for (int i = 0; i < ST_COUNT; i++)
        json_object_set_new(timings, runner_stage_names[i], json_integer(r.stage[i]));
    json_object_set_new(r.rec, "timings_ms", timings);
    return r.rec;
}
