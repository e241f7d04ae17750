/* Capability skips and bundle names: pure functions of a case and a hello. */
#include "runner_internal.h"

#include <string.h>

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

static int clock_needed(const json_t *kase)
{
    const char *m = json_string_value(json_object_get(json_object_get(kase, "device"), "clock"));
    return m == NULL || strcmp(m, "keep") != 0;
}

/* Capability skips come from the hello (contracts §3): a device that cannot set
 * its clock (MicroPython's unix port, docs/device-model.md §7) cannot run cases that
 * depend on the reference time, and DTLS, its client_id or set_ciphers may be
 * absent (compiled out, or older firmware: docs/device-model.md §0). */
const char *runner_skip_reason(const json_t *kase, const json_t *hello, char *buf, size_t len)
{
    const json_t *axes = json_object_get(kase, "axes"), *dev = json_object_get(kase, "device");
    const char *proto = json_string_value(json_object_get(axes, "proto"));
    int dtls = proto != NULL && strcmp(proto, "dtls") == 0;
    const json_t *ciphers = json_object_get(dev, "ciphers");
    int wants_ciphers = json_is_array(ciphers) && json_array_size(ciphers) > 0;
    const char *layer = json_string_value(json_object_get(dev, "layer"));
    if (hello == NULL) {
        snprintf(buf, len, "needs%s%s%s", clock_needed(kase) ? " settable-clock" : "",
                 dtls ? " dtls" : "", wants_ciphers ? " set_ciphers" : "");
        return strcmp(buf, "needs") == 0 ? NULL : buf;
    }
    const json_t *caps = json_object_get(hello, "caps");
    const json_t *clock = json_object_get(hello, "clock");
    if (clock_needed(kase) && json_is_false(json_object_get(clock, "settable"))) {
        snprintf(buf, len, "device clock cannot be set (hello clock.settable=false) and the case "
                 "needs clock: %s", json_string_value(json_object_get(dev, "clock")) ?: "reference");
        return buf;
    }
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
    return NULL;
}

