/* Board locking across machines (docs/contracts.md §3, "Session holder"): the
 * agent keeps the holder of the board, {host, pid, since, token, until}, where a
 * re-upload cannot lose it (a file on its flash, else RAM). A harness claims the
 * board after each hello by compare-and-set on the token, renews the lease as it
 * works and frees the board when it closes. "Live" means until (the holder's wall
 * clock, epoch seconds) is still ahead: a holder that stopped renewing (killed,
 * unplugged host) loses the board a lease after its last request. */
#include "agent_internal.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define LEASE_MS_DEFAULT 120000
#define LOCK_CALL_MS 5000     /* a lock request answers at once */
#define PEEK_MS 1500          /* an idle agent answers well inside this on a UART */

static long lease_ms(const struct agent *a)
{
    return a->opts.lease_ms > 0 ? a->opts.lease_ms : LEASE_MS_DEFAULT;
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s != NULL ? s : "?";
}

/* Our identity, made once per agent object: the token tells us from any other
 * harness (or an earlier run of this one with the same pid). */
static int lock_identity(struct agent *a, struct tm_err *err)
{
    if (a->lock_token[0] != '\0')
        return 0;
    unsigned char r[8];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        return tm_err_setc(err, TM_E_IO, "session token: getrandom failed");
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(a->lock_token + 2 * i, 3, "%02x", r[i]);
    if (gethostname(a->lock_host, sizeof a->lock_host - 1) != 0)
        snprintf(a->lock_host, sizeof a->lock_host, "unknown-host");
    tm_format_utc(tm_wall_s(), a->lock_since, sizeof a->lock_since);
    return 0;
}

static int ours(const struct agent *a, const json_t *holder)
{
    const char *t = json_string_value(json_object_get(holder, "token"));
    return t != NULL && strcmp(t, a->lock_token) == 0;
}

static int live(const json_t *holder)
{
    json_t *u = json_object_get(holder, "until");
    return !json_is_integer(u) || json_integer_value(u) > tm_wall_s();
}

static int held_by(const json_t *holder, struct tm_err *err)
{
    return tm_err_setc(err, TM_E_HELD, "board in use by %s pid %lld since %s (its lease runs "
                       "while it works; --steal takes the board)", str(holder, "host"),
                       (long long)json_integer_value(json_object_get(holder, "pid")),
                       str(holder, "since"));
}

/* {"op":"lock","if":cond,"set":holder}: the holder after it (new reference). */
static json_t *lock_call(struct agent *a, const char *cond, json_t *set, tm_ms deadline,
                         struct tm_err *err)
{
    json_t *f = json_object();
    if (cond != NULL)
        json_object_set_new(f, "if", json_string(cond));
    json_object_set(f, "set", set != NULL ? set : json_null());
    json_t *reply = NULL;
    tm_ms d = tm_deadline_in(LOCK_CALL_MS);
    int rc = agent_call(a, "lock", f, d < deadline ? d : deadline, &reply, err);
    json_decref(f);
    const char *out = json_string_value(json_object_get(reply, "outcome"));
    if (rc == 0 && (out == NULL || strcmp(out, "ok") != 0))
        rc = tm_err_set(err, "lock: %s: %s", out ? out : "no outcome", str(reply, "error"));
    json_t *h = rc == 0 ? json_incref(json_object_get(reply, "holder")) : NULL;
    json_decref(reply);
    if (rc == 0 && h == NULL)
        h = json_null();
    return h;
}

static json_t *our_holder(struct agent *a)
{
    return json_pack("{s:s, s:I, s:s, s:s, s:I}", "host", a->lock_host,
                     "pid", (json_int_t)getpid(), "since", a->lock_since,
                     "token", a->lock_token, "until",
                     (json_int_t)(tm_wall_s() + (lease_ms(a) + 999) / 1000));
}

/* Set ourselves as holder over `cur` (NULL/null: free). 0, or -1 (TM_E_HELD when
 * another harness got there first). */
static int take(struct agent *a, const json_t *cur, tm_ms deadline, struct tm_err *err)
{
    json_t *me = our_holder(a);
    const char *cond = json_string_value(json_object_get(cur, "token"));
    json_t *now = lock_call(a, cond, me, deadline, err);
    json_decref(me);
    if (now == NULL)
        return -1;
    int rc = ours(a, now) ? 0 : held_by(now, err);
    json_decref(now);
    if (rc == 0) {
        a->lock_held = 1;
        a->lock_renewed = tm_now_ms();
    }
    return rc;
}

/* What the run records about a board taken from another holder. */
static void note_takeover(struct agent *a, const json_t *cur, const char *why)
{
    json_decref(a->lock_note);
    a->lock_note = json_pack("{s:s, s:O}", "took", why, "from", cur);
    agent_notef(a, "! took the board from %s pid %lld (%s)", str(cur, "host"),
                (long long)json_integer_value(json_object_get(cur, "pid")), why);
}

int agent_lock_claim(struct agent *a, tm_ms deadline, struct tm_err *err)
{
    json_t *cur = json_object_get(a->hello, "lock");
    if (cur == NULL) {   /* an agent that keeps no holder (a user's own script) */
        agent_notef(a, "! the agent keeps no session holder: the board is not locked");
        return 0;
    }
    if (lock_identity(a, err) != 0)
        return -1;
    int foreign = json_is_object(cur) && !ours(a, cur);
    if (foreign && live(cur) && !a->opts.steal) {
        a->lost = 0;   /* not the device's failure: the user's call */
        return held_by(cur, err);
    }
    if (foreign)
        note_takeover(a, cur, live(cur) ? "stolen" : "lease expired");
    if (take(a, cur, deadline, err) != 0) {
        a->lost = tm_err_code(err) != TM_E_HELD && a->lost;
        return tm_err_prefix(err, "claiming the board");
    }
    return 0;
}

int agent_lock_renew(struct agent *a, tm_ms deadline, struct tm_err *err)
{
    if (!a->lock_held || tm_now_ms() - a->lock_renewed < lease_ms(a) / 4)
        return 0;
    json_t *me = our_holder(a);
    json_t *now = lock_call(a, a->lock_token, me, deadline, err);
    json_decref(me);
    if (now == NULL) {   /* a slow device: try again at the next request */
        agent_notef(a, "! lease not renewed: %s", err->msg);
        return 0;
    }
    int rc = 0;
    if (ours(a, now))
        a->lock_renewed = tm_now_ms();
    else {
        a->lock_held = 0;
        a->lost = 1;
        held_by(now, err);
        rc = tm_err_prefix(err, "the board was taken");
    }
    json_decref(now);
    return rc;
}

void agent_lock_release(struct agent *a)
{
    if (!a->lock_held || a->link == NULL || a->lost)
        return;
    struct tm_err err = { 0 };
    a->lock_held = 0;
    json_t *now = lock_call(a, a->lock_token, NULL, tm_deadline_in(LOCK_CALL_MS), &err);
    json_decref(now);
}

int agent_lock_peek(struct agent *a, tm_ms deadline, struct tm_err *err)
{
    if (link_spec_spawns(a->spec) || a->opts.steal)
        return 0;
    /* A random id: on a shared line the holder's own replies pass by too. */
    unsigned int r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
        return 0;
    long id = 1000000000L + (long)(r % 1000000000u);
    char line[64];
    int n = snprintf(line, sizeof line, "{\"id\":%ld,\"op\":\"lock\"}\r\n", id);
    struct tm_err werr = { 0 };   /* a link that broke is the bootstrap's to handle */
    int lost = a->lost, lost_reset = a->lost_reset;   /* what the peek saw is no verdict */
    if (agent_link_write(a, line, (size_t)n, deadline, &werr) != 0) {
        a->lost = lost;
        return 0;
    }
    json_t *msg = NULL;
    tm_ms d = tm_deadline_in(PEEK_MS);
    int rx2 = a->rx2;
    a->rx2 = 1;   /* the holder's agent may speak proto 2: read both forms */
    int got = agent_next(a, id, d < deadline ? d : deadline, &msg, &werr);
    a->rx2 = rx2;
    json_t *h = got == AGENT_REPLY ? json_object_get(msg, "holder") : NULL;
    int rc = 0;
    if (json_is_object(h) && live(h) && lock_identity(a, err) == 0 && !ours(a, h))
        rc = held_by(h, err);
    json_decref(msg);
    a->lost = lost;
    a->lost_reset = lost_reset;
    return rc;
}

const json_t *agent_lock_note(const struct agent *a)
{
    return a->lock_note;
}
