/* Session steps and trend bounds of a case (docs/contracts.md §5 `steps`,
 * `expect.trend`): the JSON of one `steps` item → struct case_step. A step is a
 * bare action name ("gc") or a mapping with one action key, and optionally
 * `expect` and `options`. Messages name the item ("steps[2].steps[0].read: …"),
 * the scenario loader puts them after FILE:LINE. */
#include "case/case.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tm_fault.h"

static const char *const step_kinds[] = { "open", "write", "read", "close", "gc", "sleep",
                                          "reset", "fault", "repeat" };
static const char *const closes[] = { "tls", "raw", "leave", "abort" };
const struct case_names case_step_names = { "step", step_kinds, CASE_STEP_KIND_COUNT };
const struct case_names case_close_names = { "close", closes, 4 };

/* Keys a step mapping may have besides its action. */
static const char *const step_extra_keys[] = { "expect", "options", NULL };

static int fail(struct tm_err *err, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct tm_err *err, const char *prefix, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tm_err_setc(err, TM_E_INPUT, "%s: %s", prefix, msg);
}

/* A whole number in [min, max] (JSON integer), else -1. */
static int count(const json_t *v, long min, long max, long *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return -1;
    *out = (long)json_integer_value(v);
    return 0;
}

static int only_keys(const json_t *o, const char *const *keys, const char *prefix,
                     struct tm_err *err)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        size_t i = 0;
        while (keys[i] && strcmp(keys[i], k) != 0)
            i++;
        if (keys[i] == NULL)
            return fail(err, prefix, "unknown key '%s'", k);
    }
    return 0;
}

/* The pattern a `write: N` sends: printable, so transcripts stay readable. */
static unsigned char *pattern(long n)
{
    unsigned char *d = malloc((size_t)n + 1);
    for (long i = 0; d != NULL && i < n; i++)
        d[i] = (unsigned char)('a' + i % 26);
    return d;
}

static int text_data(const json_t *v, struct case_step *st)
{
    size_t len = json_string_length(v);
    st->data = malloc(len + 1);
    if (st->data == NULL)
        return -1;
    memcpy(st->data, json_string_value(v), len + 1);
    st->n = (long)len;
    return 0;
}

static int open_step(const json_t *v, const char *prefix, struct case_step *st,
                     struct tm_err *err)
{
    static const char *const keys[] = { "keep", "asyncio", "peer_args", NULL };
    st->keep = 1;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return fail(err, prefix, "expected a mapping (keep, asyncio, peer_args) or nothing");
    if (only_keys(v, keys, prefix, err) != 0)
        return -1;
    const json_t *keep = json_object_get(v, "keep"), *aio = json_object_get(v, "asyncio");
    if ((keep && !json_is_boolean(keep)) || (aio && !json_is_boolean(aio)))
        return fail(err, prefix, "keep and asyncio are true or false");
    st->keep = keep == NULL || json_is_true(keep);
    st->asyncio = json_is_true(aio);
    if (st->asyncio && st->keep)
        return fail(err, prefix, "asyncio: true runs the connection to its end in one step "
                    "(asyncio streams stay inside the event loop): add keep: false");
    const json_t *args = json_object_get(v, "peer_args");
    if (args == NULL)
        return 0;
    if (!json_is_array(args))
        return fail(err, prefix, "peer_args: expected a list of tlspeer arguments");
    st->peer_args = calloc(json_array_size(args) + 1, sizeof *st->peer_args);
    size_t i;
    const json_t *a;
    json_array_foreach(args, i, a) {
        if (!json_is_string(a))
            return fail(err, prefix, "peer_args: expected strings");
        st->peer_args[st->npeer_args++] = strdup(json_string_value(a));
    }
    return 0;
}

/* write: N (that many pattern bytes) | "text" | {bytes: N} | {text: "…"} */
static int write_step(const json_t *v, const char *prefix, struct case_step *st,
                      struct tm_err *err)
{
    static const char *const keys[] = { "bytes", "text", NULL };
    const json_t *bytes = v, *text = v;
    if (json_is_object(v)) {
        if (only_keys(v, keys, prefix, err) != 0)
            return -1;
        bytes = json_object_get(v, "bytes");
        text = json_object_get(v, "text");
    }
    if (json_is_string(text))
        return text_data(text, st);
    if (count(bytes, 1, CASE_STEP_DATA_MAX, &st->n) != 0)
        return fail(err, prefix, "expected a byte count (1..1048576), a text, {bytes: N} or "
                    "{text: …}");
    st->data = pattern(st->n);
    return 0;
}

/* read: N | {bytes: N, echo: true} | {text: "…"}: the step fails unless exactly
 * those bytes arrive (a short read is not ok). */
static int read_step(const json_t *v, const char *prefix, struct case_step *st,
                     struct tm_err *err)
{
    static const char *const keys[] = { "bytes", "text", "echo", NULL };
    const json_t *bytes = v;
    if (json_is_object(v)) {
        if (only_keys(v, keys, prefix, err) != 0)
            return -1;
        const json_t *text = json_object_get(v, "text"), *echo = json_object_get(v, "echo");
        if (echo != NULL && !json_is_boolean(echo))
            return fail(err, prefix, "echo is true or false");
        st->echo = json_is_true(echo);
        if (text != NULL) {
            if (!json_is_string(text) || json_string_length(text) == 0 || st->echo)
                return fail(err, prefix, "text: a non-empty text, and not with echo");
            return text_data(text, st);
        }
        bytes = json_object_get(v, "bytes");
    }
    if (count(bytes, 1, CASE_STEP_DATA_MAX, &st->n) != 0)
        return fail(err, prefix, "expected a byte count (1..1048576), {bytes: N, echo: true} "
                    "or {text: …}");
    return 0;
}

static int repeat_step(const json_t *item, const char *prefix, int depth, struct case_step *st,
                       long *runs, struct tm_err *err)
{
    const json_t *times = json_object_get(item, "repeat"), *body = json_object_get(item, "steps");
    if (count(times, 1, CASE_STEP_REPEAT_MAX, &st->n) != 0)
        return fail(err, prefix, "repeat: expected a count (1..1000)");
    if (depth >= CASE_STEP_DEPTH_MAX)
        return fail(err, prefix, "repeat blocks nest at most 4 deep");
    if (!json_is_array(body) || json_array_size(body) == 0)
        return fail(err, prefix, "repeat needs steps: a non-empty list");
    st->steps = calloc(json_array_size(body), sizeof *st->steps);
    if (st->steps == NULL)
        return tm_err_setc(err, TM_E_NOMEM, "%s: out of memory", prefix);
    long inner = 0;
    size_t i;
    const json_t *it;
    json_array_foreach(body, i, it) {
        char p[400];
        snprintf(p, sizeof p, "%.300s.steps[%zu]", prefix, i);
        st->nsteps++;
        if (case_step_build(it, p, depth + 1, &st->steps[i], &inner, err) != 0)
            return -1;
    }
    *runs += inner * st->n;
    return 0;
}

static int step_expect(const json_t *e, const char *prefix, struct case_step *st,
                       struct tm_err *err)
{
    static const char *const keys[] = { "device", "peer", NULL };
    if (e == NULL)
        return 0;
    if (!json_is_object(e) || only_keys(e, keys, prefix, err) != 0)
        return json_is_object(e) ? -1 : fail(err, prefix, "expect: a mapping (device, peer)");
    if (json_object_get(e, "peer") != NULL && st->kind != CASE_STEP_OPEN)
        return fail(err, prefix, "expect.peer: only an open step has a peer of its own");
    json_t *exp = json_pack("{s:O, s:O*}", "device", json_object_get(e, "device")
                            ? json_object_get(e, "device") : json_string("ok"),
                            "peer", json_object_get(e, "peer"));
    int rc = case_expect_build(exp, &st->expect, err);
    json_decref(exp);
    if (rc != 0)
        return tm_err_prefix(err, "%s", prefix);
    st->has_expect = 1;
    return 0;
}

/* The action of a step item: its one key besides expect/options. */
static const char *action_of(const json_t *j, const char *prefix, struct tm_err *err)
{
    const char *k, *action = NULL;
    json_t *v;
    if (json_is_string(j))
        return json_string_value(j);
    if (!json_is_object(j)) {
        fail(err, prefix, "expected an action name or a mapping with one action");
        return NULL;
    }
    json_object_foreach((json_t *)j, k, v) {
        int extra = 0;
        for (size_t i = 0; step_extra_keys[i]; i++)
            extra |= strcmp(step_extra_keys[i], k) == 0;
        if (extra || (strcmp(k, "steps") == 0 && json_object_get(j, "repeat") != NULL))
            continue;
        if (action != NULL) {
            tm_err_setc(err, TM_E_INPUT, "%s: two actions, '%s' and '%s': one per step", prefix,
                        action, k);
            return NULL;
        }
        action = k;
    }
    if (action == NULL)
        fail(err, prefix, "no action (%s)", "open, write, read, close, gc, sleep, reset, fault, "
             "repeat");
    return action;
}

static int action_args(const json_t *v, const char *prefix, int depth, const json_t *item,
                       struct case_step *st, long *runs, struct tm_err *err)
{
    struct tm_err why = { 0 };
    struct tm_fault f;
    switch (st->kind) {
    case CASE_STEP_OPEN:
        return open_step(v, prefix, st, err);
    case CASE_STEP_WRITE:
        return write_step(v, prefix, st, err);
    case CASE_STEP_READ:
        return read_step(v, prefix, st, err);
    case CASE_STEP_CLOSE: {
        int c = case_enum_parse(&case_close_names, json_string_value(v), &why);
        if (c < 0)
            return fail(err, prefix, "%.500s", why.msg);
        st->close = (enum case_close)c;
        return 0;
    }
    case CASE_STEP_SLEEP:
        return count(v, 0, 600000, &st->n) == 0 ? 0
               : fail(err, prefix, "sleep: expected milliseconds (0..600000)");
    case CASE_STEP_FAULT:
        if (!json_is_string(v) || tm_fault_parse(json_string_value(v), &f, &why) != TM_FAULT_OK)
            return fail(err, prefix, "fault: %.500s", json_is_string(v) ? why.msg
                        : "expected a fault spec, KIND[:ARG][@PLACE]");
        st->fault = strdup(json_string_value(v));
        return 0;
    case CASE_STEP_REPEAT:
        return repeat_step(item, prefix, depth, st, runs, err);
    default:   /* gc, reset: nothing to say */
        return v == NULL || json_is_null(v) ? 0 : fail(err, prefix, "%s takes no value",
                                                       step_kinds[st->kind]);
    }
}

int case_step_build(const json_t *j, const char *prefix, int depth, struct case_step *st,
                    long *runs, struct tm_err *err)
{
    memset(st, 0, sizeof *st);
    const char *action = action_of(j, prefix, err);
    if (action == NULL)
        return -1;
    struct tm_err why = { 0 };
    int kind = case_enum_parse(&case_step_names, action, &why);
    if (kind < 0)
        return fail(err, prefix, "unknown action '%s' (open, write, read, close, gc, sleep, "
                    "reset, fault, repeat)", action);
    st->kind = (enum case_step_kind)kind;
    char p[400];
    snprintf(p, sizeof p, "%.300s.%.60s", prefix, action);
    const json_t *v = json_is_object(j) ? json_object_get(j, action) : NULL;
    if (json_is_string(j) && st->kind != CASE_STEP_GC && st->kind != CASE_STEP_RESET &&
        st->kind != CASE_STEP_OPEN)
        return fail(err, p, "needs a value");
    if (action_args(v, p, depth, j, st, runs, err) != 0)
        return -1;
    const json_t *opts = json_is_object(j) ? json_object_get(j, "options") : NULL;
    if (opts != NULL && !json_is_object(opts))
        return fail(err, prefix, "options: expected a mapping of agent request fields");
    st->options = opts ? json_deep_copy(opts) : NULL;
    if (st->kind != CASE_STEP_REPEAT)
        *runs += 1;
    if (*runs > CASE_STEPS_RUN_MAX)
        return fail(err, prefix, "the session would run more than 20000 steps");
    return step_expect(json_is_object(j) ? json_object_get(j, "expect") : NULL, prefix, st, err);
}

void case_step_free(struct case_step *st)
{
    for (size_t i = 0; i < st->npeer_args; i++)
        free(st->peer_args[i]);
    free(st->peer_args);
    free(st->data);
    free(st->fault);
    json_decref(st->options);
    case_expect_free(&st->expect);
    for (size_t i = 0; i < st->nsteps; i++)
        case_step_free(&st->steps[i]);
    free(st->steps);
    memset(st, 0, sizeof *st);
}

long case_steps_count(const struct case_step *v, size_t n, enum case_step_kind kind)
{
    long total = 0;
    for (size_t i = 0; i < n; i++)   /* bounded: the validator caps depth and runs */
        total += v[i].kind == CASE_STEP_REPEAT ? v[i].n * case_steps_count(v[i].steps,
                                                                           v[i].nsteps, kind)
                                               : v[i].kind == kind;
    return total;
}

int case_trend_build(const json_t *j, struct case_trend *t, struct tm_err *err)
{
    static const struct {
        const char *key;
        size_t off;
    } bounds[] = {
        { "heap_growth_per_iteration", offsetof(struct case_trend, heap_growth) },
        { "open_connections", offsetof(struct case_trend, open) },
        { "handshake_ms", offsetof(struct case_trend, handshake_ms) },
    };
    t->heap_growth = t->open = t->handshake_ms = (struct case_bound){ -1, -1 };
    if (j == NULL || json_is_null(j))
        return 0;
    if (!json_is_object(j))
        return tm_err_setc(err, TM_E_INPUT, "expect.trend: expected a mapping");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)j, k, v) {
        size_t i = 0;
        while (i < sizeof bounds / sizeof bounds[0] && strcmp(bounds[i].key, k) != 0)
            i++;
        if (i == sizeof bounds / sizeof bounds[0])
            return tm_err_setc(err, TM_E_INPUT, "expect.trend.%s: unknown trend "
                               "(heap_growth_per_iteration, open_connections, handshake_ms)", k);
        struct case_bound *b = (struct case_bound *)((char *)t + bounds[i].off);
        const json_t *mn = json_object_get(v, "min"), *mx = json_object_get(v, "max");
        size_t given = (mn != NULL) + (mx != NULL);
        if (!json_is_object(v) || given == 0 || json_object_size(v) != given
            || (mn && count(mn, 0, 1L << 40, &b->min) != 0)
            || (mx && count(mx, 0, 1L << 40, &b->max) != 0)
            || (mn && mx && b->min > b->max))
            return tm_err_setc(err, TM_E_INPUT, "expect.trend.%s: expected {min: N, max: N} "
                               "(either or both, 0 <= min <= max)", k);
    }
    return 0;
}
