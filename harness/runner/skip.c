/* Capability skips and bundle names: pure functions of a case and a hello. */
#include "runner_internal.h"

#include <string.h>

#include "tm_time.h"

void runner_sanitise_id(const char *id, char *out, size_t len)
{
    size_t o = 0;
    for (const char *c = id ? id : "case"; *c && o + 1 < len; c++) {
        int ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')
                 || *c == '-' || *c == '.' || *c == '+';
        out[o++] = ok ? *c : '_';
    }
    out[o] = '\0';
}

/* The clock a case asks for: "reference" (the default), "unset", "keep", "now"
 * or a time. */
static const char *clock_mode(const json_t *kase)
{
    const char *m = json_string_value(json_object_get(json_object_get(kase, "device"), "clock"));
    return m != NULL ? m : "reference";
}

/* A case at a given time with a device.clock_span (x509-limbo), on a device
 * that cannot set its clock: it runs at the device's own time (and an hour
 * later, for the run's length) when that is inside the span, where every
 * certificate of the case is as valid or invalid as at the time it asks for. */
static const char *clock_span_skip(const json_t *dev, int64_t at, const json_t *epoch, char *buf,
                                   size_t len)
{
    const json_t *span = json_object_get(dev, "clock_span");
    int64_t from = json_is_integer(json_array_get(span, 0)) ? json_integer_value(json_array_get(span, 0)) : at;
    int64_t to = json_is_integer(json_array_get(span, 1)) ? json_integer_value(json_array_get(span, 1)) : at;
    int64_t t = json_integer_value(epoch);
    if (json_is_integer(epoch) && t >= from && t + 3600 <= to)
        return NULL;
    char want[32], own[32];
    tm_format_utc(at, want, sizeof want);
    tm_format_utc(t, own, sizeof own);
    snprintf(buf, len, "device clock cannot be set (hello clock.settable=false) and the case "
             "validates at %s; at the device's time %s its certificates are not all as valid "
             "as then", want, json_is_integer(epoch) ? own : "(none in the hello)");
    return buf;
}

/* A certificate's state at a time: -1 not yet valid, 0 valid, 1 expired. */
static int validity_at(const json_t *cert, int64_t t)
{
    int64_t nb = 0, na = 0;
    if (tm_parse_utc(json_string_value(json_object_get(cert, "not_before")) ?: "", &nb) != 0
        || tm_parse_utc(json_string_value(json_object_get(cert, "not_after")) ?: "", &na) != 0)
        return 0;
    return t < nb ? -1 : t > na ? 1 : 0;
}

static const char *const state_names[3] = { "not yet valid", "valid", "expired" };

/* The manifest certificate a fixture file belongs to (any of its files), or NULL. */
static const json_t *cert_of_file(const json_t *manifest, const char *file)
{
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(manifest, "certs"), i, c) {
        const char *k;
        const json_t *f;
        json_object_foreach((json_t *)json_object_get(c, "files"), k, f)
            if (json_is_string(f) && strcmp(json_string_value(f), file) == 0)
                return c;
    }
    return NULL;
}

static const json_t *cert_named(const json_t *manifest, const char *name)
{
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(manifest, "certs"), i, c)
        if (name != NULL && strcmp(json_string_value(json_object_get(c, "name")) ?: "", name) == 0)
            return c;
    return NULL;
}

/* A certificate whose state at the device's time t (and an hour later, for the
 * run's length) is not its state at the reference time: its case would not test
 * what it means to. 0 when it agrees, else 1 with the reason in buf. */
static int drifts(const json_t *cert, int64_t ref, int64_t t, char *buf, size_t len)
{
    int want = validity_at(cert, ref);
    if (validity_at(cert, t) == want && validity_at(cert, t + 3600) == want)
        return 0;
    char at[32], rt[32];
    tm_format_utc(t, at, sizeof at);
    tm_format_utc(ref, rt, sizeof rt);
    snprintf(buf, len, "device clock cannot be set (hello clock.settable=false) and at its "
             "time %s certificate %s is %s, not %s as at the fixtures' reference time %s; "
             "fixtures generated nearer the device's clock would run it",
             at, json_string_value(json_object_get(cert, "name")) ?: "?",
             state_names[validity_at(cert, t) + 1], state_names[want + 1], rt);
    return 1;
}

int runner_fixtures_drift(const json_t *manifest, int64_t t, char *buf, size_t len)
{
    const json_t *ref = json_object_get(manifest, "reference_epoch");
    size_t i;
    const json_t *c;
    if (!json_is_integer(ref))
        return 0;
    json_array_foreach(json_object_get(manifest, "certs"), i, c)
        if (drifts(c, json_integer_value(ref), t, buf, len))
            return 1;
    return 0;
}

/* One fixture file a case names, with the chain behind it (a fullchain file
 * holds the leaf's intermediates). */
static int file_drifts(const json_t *manifest, const char *file, int64_t ref, int64_t t,
                       char *buf, size_t len)
{
    const json_t *c = file != NULL ? cert_of_file(manifest, file) : NULL;
    if (c == NULL)
        return 0;   /* not a generated fixture: judged at the device's time as it is */
    if (drifts(c, ref, t, buf, len))
        return 1;
    size_t i;
    const json_t *n;
    json_array_foreach(json_object_get(c, "chain"), i, n) {
        const json_t *link = cert_named(manifest, json_string_value(n));
        if (link != NULL && drifts(link, ref, t, buf, len))
            return 1;
    }
    return 0;
}

static int list_drifts(const json_t *manifest, const json_t *v, int64_t ref, int64_t t,
                       char *buf, size_t len)
{
    if (json_is_string(v))
        return file_drifts(manifest, json_string_value(v), ref, t, buf, len);
    size_t i;
    const json_t *it;
    json_array_foreach(v, i, it) {
        const json_t *one = json_is_object(it) ? json_object_get(it, "cert") : it;
        if (json_is_string(one) && file_drifts(manifest, json_string_value(one), ref, t, buf, len))
            return 1;
    }
    return 0;
}

/* The clock rule for a device that cannot set its clock but keeps a real one
 * (MicroPython's unix port, docs/device-model.md §7): a case that asks for the
 * reference time runs at the device's own time when every generated
 * certificate it names (device ca and chain, peer cert and ca) is valid or
 * invalid there as intended at the reference time (fixtures/certs/pki.yaml
 * windows); a case that asks for an unset clock cannot run. */
static const char *clock_skip(const json_t *kase, const json_t *hello, const json_t *manifest,
                              char *buf, size_t len)
{
    const char *mode = clock_mode(kase);
    /* keep, and now (the user's certificates at the current time): a clock that
     * is the host's is what they ask for. */
    if (strcmp(mode, "keep") == 0 || strcmp(mode, "now") == 0
        || !json_is_false(json_object_get(json_object_get(hello, "clock"), "settable")))
        return NULL;
    int64_t at;
    const json_t *dev = json_object_get(kase, "device");
    if (json_is_array(json_object_get(dev, "clock_span")) && tm_parse_utc(mode, &at) == 0)
        return clock_span_skip(dev, at, json_object_get(json_object_get(hello, "clock"), "epoch"),
                               buf, len);
    if (strcmp(mode, "reference") != 0) {
        snprintf(buf, len, "device clock cannot be set (hello clock.settable=false) and the case "
                 "needs clock: %s, which this device cannot have", mode);
        return buf;
    }
    if (manifest == NULL)
        return NULL;   /* not checked here: decided when the case runs */
    const json_t *epoch = json_object_get(json_object_get(hello, "clock"), "epoch");
    const json_t *ref = json_object_get(manifest, "reference_epoch");
    if (!json_is_integer(epoch) || !json_is_integer(ref)) {
        snprintf(buf, len, "device clock cannot be set and %s, so the case's certificates "
                 "cannot be checked against it", json_is_integer(epoch)
                 ? "the fixtures have no reference_epoch" : "the hello has no clock.epoch");
        return buf;
    }
    const json_t *peer = json_object_get(kase, "peer");
    int64_t t = json_integer_value(epoch), r = json_integer_value(ref);
    if (list_drifts(manifest, json_object_get(dev, "ca"), r, t, buf, len)
        || list_drifts(manifest, json_object_get(dev, "chain"), r, t, buf, len)
        || list_drifts(manifest, json_object_get(peer, "cert"), r, t, buf, len)
        || list_drifts(manifest, json_object_get(peer, "ca"), r, t, buf, len))
        return buf;
    return NULL;
}

/* A case that leaves only heap_free bytes free (docs/device-model.md §9) needs a
 * device with at least that much free, whose mbedTLS allocates on the GC heap
 * (bare-metal ports; MicroPython's unix port gives it the C library's malloc,
 * where no figure of the GC heap can limit it: hello caps.tls_gc_heap=false). */
static const char *heap_skip(const json_t *kase, const json_t *hello, char *buf, size_t len)
{
    const json_t *want = json_object_get(json_object_get(kase, "device"), "heap_free");
    if (!json_is_integer(want))
        return NULL;
    if (json_is_false(json_object_get(json_object_get(hello, "caps"), "tls_gc_heap"))) {
        snprintf(buf, len, "device's mbedTLS allocates outside the GC heap (hello "
                 "caps.tls_gc_heap=false): heap_free %lld cannot limit it",
                 (long long)json_integer_value(want));
        return buf;
    }
    const json_t *have = json_object_get(hello, "heap_free");
    if (json_is_integer(have) && json_integer_value(have) < json_integer_value(want)) {
        snprintf(buf, len, "device has %lld bytes of heap free (hello heap_free), fewer than "
                 "the case's heap_free %lld", (long long)json_integer_value(have),
                 (long long)json_integer_value(want));
        return buf;
    }
    return NULL;
}

/* 1 when a session's steps (JSON, repeat blocks included) use action, or an
 * open step sets key (asyncio). Bounded by the validator's depth. */
static int steps_use(const json_t *steps, const char *action, const char *key, int depth)
{
    size_t i;
    const json_t *it;
    json_array_foreach(steps, i, it) {
        if (key == NULL && ((json_is_string(it) && strcmp(json_string_value(it), action) == 0)
                            || json_object_get(it, action) != NULL))
            return 1;
        if (key != NULL && json_is_true(json_object_get(json_object_get(it, action), key)))
            return 1;
        if (depth < 8 && steps_use(json_object_get(it, "steps"), action, key, depth + 1))
            return 1;
    }
    return 0;
}

/* What a session needs of the device (contracts §3 hello caps): the session ops,
 * and for some steps soft reset, asyncio, or the virtual camera's faults. */
static const char *session_skip(const json_t *kase, const json_t *hello, char *buf, size_t len)
{
    const json_t *steps = json_object_get(kase, "steps"), *caps = json_object_get(hello, "caps");
    if (steps == NULL)
        return NULL;
    if (!json_is_true(json_object_get(caps, "sessions")))
        snprintf(buf, len, "device agent has no session steps (hello caps.sessions)");
    else if (steps_use(steps, "reset", NULL, 0) && !json_is_true(json_object_get(caps, "soft_reset")))
        snprintf(buf, len, "device cannot soft reset (hello caps.soft_reset=false)");
    else if (steps_use(steps, "open", "asyncio", 0) && !json_is_true(json_object_get(caps, "asyncio")))
        snprintf(buf, len, "device has no asyncio (hello caps.asyncio=false)");
    else if (steps_use(steps, "fault", NULL, 0) && !json_is_true(json_object_get(hello, "virtual")))
        snprintf(buf, len, "fault steps need the virtual camera (hello virtual=false)");
    else
        return NULL;
    return buf;
}

/* Capability skips come from the hello (contracts §3): the clock rule above;
 * DTLS, its client_id or set_ciphers may be absent (compiled out, or older
 * firmware: docs/device-model.md §0), and so may either TLS module. */
const char *runner_skip_reason(const json_t *kase, const json_t *hello, const json_t *manifest,
                               char *buf, size_t len)
{
    const json_t *axes = json_object_get(kase, "axes"), *dev = json_object_get(kase, "device");
    const char *proto = json_string_value(json_object_get(axes, "proto"));
    int dtls = proto != NULL && strcmp(proto, "dtls") == 0;
    const json_t *ciphers = json_object_get(dev, "ciphers");
    int wants_ciphers = json_is_array(ciphers) && json_array_size(ciphers) > 0;
    const char *layer = json_string_value(json_object_get(dev, "layer"));
    const char *known = json_string_value(json_object_get(kase, "skip"));
    if (known != NULL) {    /* its source knows it cannot run (harness/case: skip) */
        snprintf(buf, len, "%s", known);
        return buf;
    }
    if (hello == NULL) {
        snprintf(buf, len, "needs%s%s%s", strcmp(clock_mode(kase), "unset") == 0 ? " settable-clock" : "",
                 dtls ? " dtls" : "", wants_ciphers ? " set_ciphers" : "");
        return strcmp(buf, "needs") == 0 ? NULL : buf;
    }
    const json_t *caps = json_object_get(hello, "caps");
    if (clock_skip(kase, hello, manifest, buf, len) != NULL
        || heap_skip(kase, hello, buf, len) != NULL
        || session_skip(kase, hello, buf, len) != NULL)
        return buf;
    if (dtls && !json_is_true(json_object_get(caps, "dtls"))) {
        snprintf(buf, len, "device has no DTLS (hello caps.dtls)");
        return buf;
    }
    /* On the native layer only: the ssl wrapper's TypeError is a result (§1.1). */
    const json_t *cid = json_object_get(json_object_get(dev, "options"), "client_id");
    if (cid != NULL && !json_is_null(cid) && (layer == NULL || strcmp(layer, "tls") == 0) &&
        json_is_false(json_object_get(caps, "client_id"))) {
        snprintf(buf, len, "device has no DTLS client_id (hello caps.client_id=false)");
        return buf;
    }
    if (wants_ciphers && json_is_false(json_object_get(caps, "set_ciphers"))) {
        snprintf(buf, len, "device cannot set ciphers (hello caps.set_ciphers=false)");
        return buf;
    }
    const json_t *mods = json_object_get(hello, "modules");
    if ((layer == NULL || strcmp(layer, "tls") == 0) && json_is_false(json_object_get(mods, "tls"))) {
        snprintf(buf, len, "device has no native tls module (hello modules.tls=false)");
        return buf;
    }
    if (layer != NULL && strcmp(layer, "ssl") == 0 && json_is_false(json_object_get(mods, "ssl"))) {
        snprintf(buf, len, "device has no ssl wrapper (hello modules.ssl=false)");
        return buf;
    }
    return NULL;
}

