/* Agent protocol 2: the key table and the lean/fill/template rules (tm_proto2.h). */
#include "tm_proto2.h"

#include <stdio.h>
#include <string.h>

/* Same order and names as camera/agent/agent.py `LS`. No short name may be a long
 * name anywhere in the protocol, so mapping twice is harmless. */
const char *const tm_p2_table[][2] = {
    { "id", "i" }, { "op", "o" }, { "outcome", "r" }, { "stage", "s" }, { "exc", "x" },
    { "first_exc", "fx" }, { "type", "t" }, { "args", "a" }, { "text", "tx" },
    { "attempts", "na" }, { "verify_mode", "vm" }, { "cipher", "ci" }, { "ms", "m" },
    { "heap_before", "hb" }, { "heap_after", "ha" }, { "heap_reached", "hr" },
    { "heap_free", "hf" }, { "bytes_sent", "bs" }, { "bytes_received", "br" },
    { "received_b64", "rb" }, { "open", "on" }, { "conn", "cn" }, { "error", "e" },
    { "layer", "ly" }, { "host", "h" }, { "port", "p" }, { "bind", "bi" },
    { "server_hostname", "sn" }, { "chain", "ch" }, { "cert", "ce" }, { "key", "k" },
    { "file", "f" }, { "b64", "b" }, { "ciphers", "cs" }, { "client_id", "cid" },
    { "hello_verify_retry", "hv" }, { "send_b64", "sb" }, { "recv_bytes", "rn" },
    { "recv_mode", "rm" }, { "timeout_ms", "to" }, { "deadline_ms", "dl" },
    { "nodelay", "nd" }, { "do_handshake", "dh" }, { "nonblocking", "nb" },
    { "heap_retry", "hy" }, { "keep", "kp" }, { "asyncio", "ai" }, { "close", "cl" },
    { "path", "pa" }, { "sha256", "sh" }, { "size", "sz" }, { "event", "ev" },
    { "addr", "ad" }, { "load", "L" }, { "socket", "S" }, { "handshake", "H" },
    { "write", "W" }, { "read", "R" }, { "total", "T" }, { "context", "C" },
    { "load_ca", "LC" }, { "load_cert", "LK" }, { "wrap", "WR" }, { "want_data", "wd" },
    { "verbose", "vb" }, { "tls_client", "tc" }, { "tls_server", "ts" },
    { "dtls_client", "dc" }, { "dtls_server", "ds" }, { NULL, NULL },
};

static const char *map_name(const char *name, int to_short)
{
    for (size_t i = 0; tm_p2_table[i][0] != NULL; i++)
        if (strcmp(tm_p2_table[i][!to_short], name) == 0)
            return tm_p2_table[i][to_short];
    return name;
}

static json_t *map(const json_t *v, int to_short, int depth)
{
    if (depth > 32)   /* requests and replies are a few levels deep */
        return json_deep_copy(v);
    if (json_is_array(v)) {
        json_t *out = json_array();
        size_t i;
        json_t *it;
        json_array_foreach(v, i, it) json_array_append_new(out, map(it, to_short, depth + 1));
        return out;
    }
    if (!json_is_object(v))
        return json_deep_copy(v);
    json_t *out = json_object();
    const char *k;
    json_t *it;
    json_object_foreach((json_t *)v, k, it) {
        const char *nk = map_name(k, to_short);
        json_t *nv = map(it, to_short, depth + 1);
        if (json_is_string(it) && (strcmp(k, "op") == 0 || strcmp(k, "o") == 0)) {
            json_decref(nv);
            nv = json_string(map_name(json_string_value(it), to_short));
        }
        json_object_set_new(out, nk, nv);
    }
    return out;
}

json_t *tm_p2_short(const json_t *v)
{
    return map(v, 1, 0);
}

json_t *tm_p2_long(const json_t *v)
{
    return map(v, 0, 0);
}

int tm_p2_tls_op(const char *op)
{
    return op != NULL && (!strcmp(op, "tls_client") || !strcmp(op, "tls_server")
                          || !strcmp(op, "dtls_client") || !strcmp(op, "dtls_server"));
}

/* The defaults a lean reply leaves out: nulls, attempts 1, zero counts. */
static json_t *default_of(const char *k)
{
    static const char *const nulls[] = { "stage", "exc", "first_exc", "heap_reached", NULL };
    static const char *const zeros[] = { "bytes_sent", "bytes_received", "open", NULL };
    for (size_t i = 0; nulls[i]; i++)
        if (strcmp(k, nulls[i]) == 0)
            return json_null();
    for (size_t i = 0; zeros[i]; i++)
        if (strcmp(k, zeros[i]) == 0)
            return json_integer(0);
    return strcmp(k, "attempts") == 0 ? json_integer(1) : NULL;
}

/* str() of an exception from its args where the agent leaves the text out:
 * one str arg, or (int, 'str') (MicroPython's OSError). 0 when neither. */
static int exc_text(const json_t *args, char *out, size_t len)
{
    const json_t *a0 = json_array_get(args, 0), *a1 = json_array_get(args, 1);
    size_t n = json_array_size(args);
    int w = -1;
    if (n == 1 && json_is_string(a0))
        w = snprintf(out, len, "%s", json_string_value(a0));
    else if (n == 2 && json_is_integer(a0) && json_is_string(a1))
        w = snprintf(out, len, "(%lld, '%s')", (long long)json_integer_value(a0),
                     json_string_value(a1));
    return w >= 0 && (size_t)w < len;
}

/* lean: exc.text when exc_text gives it; zero stage times (the stage says how far
 * the operation got); heap_after equal to heap_before. fill: the reverse. */
static void lean_exc(json_t *exc)
{
    char t[1024];
    const char *text = json_string_value(json_object_get(exc, "text"));
    if (text != NULL && exc_text(json_object_get(exc, "args"), t, sizeof t) && !strcmp(t, text))
        json_object_del(exc, "text");
}

static void fill_exc(json_t *exc)
{
    char t[1024];
    if (json_is_object(exc) && json_object_get(exc, "text") == NULL
        && exc_text(json_object_get(exc, "args"), t, sizeof t))
        json_object_set_new(exc, "text", json_string(t));
}

static void lean_figures(json_t *reply)
{
    json_t *ms = json_object_get(reply, "ms"), *v, *tmp;
    const char *k;
    json_object_foreach_safe(ms, tmp, k, v) {
        if (strcmp(k, "total") != 0 && json_is_integer(v) && json_integer_value(v) == 0)
            json_object_del(ms, k);
    }
    json_t *hb = json_object_get(reply, "heap_before");
    if (hb != NULL && json_equal(hb, json_object_get(reply, "heap_after")))
        json_object_del(reply, "heap_after");
}

void tm_p2_lean(json_t *reply, const json_t *req)
{
    const char *oc = json_string_value(json_object_get(reply, "outcome"));
    int ok = oc != NULL && strcmp(oc, "ok") == 0 && !json_is_true(json_object_get(req, "verbose"));
    int data = json_is_true(json_object_get(req, "want_data"));
    const char *k;
    json_t *v, *tmp;
    json_object_foreach_safe(reply, tmp, k, v) {
        json_t *d = default_of(k);
        int drop = d != NULL && json_equal(d, v);
        json_decref(d);
        if (strcmp(k, "received_b64") == 0)
            drop = json_string_length(v) == 0 || (ok && !data);
        if (strcmp(k, "cipher") == 0 && (ok || json_is_null(v)))
            drop = 1;
        if (ok && strcmp(k, "verify_mode") == 0)
            drop = 1;
        if (drop)
            json_object_del(reply, k);
    }
    lean_exc(json_object_get(reply, "exc"));
    lean_exc(json_object_get(reply, "first_exc"));
    lean_figures(reply);
}

void tm_p2_fill(json_t *reply)
{
    static const char *const tls[] = { "stage", "exc", "first_exc", "heap_reached", "attempts",
                                       "bytes_sent", "bytes_received", "open", NULL };
    const char *op = json_string_value(json_object_get(reply, "op"));
    json_t *hb = json_object_get(reply, "heap_before");
    if (hb != NULL && json_object_get(reply, "heap_after") == NULL)
        json_object_set(reply, "heap_after", hb);
    fill_exc(json_object_get(reply, "exc"));
    fill_exc(json_object_get(reply, "first_exc"));
    int is_tls = json_is_object(json_object_get(reply, "ms"));
    if (!is_tls && (op == NULL || (strcmp(op, "gc") != 0 && strcmp(op, "sleep") != 0)
                    || json_object_get(reply, "heap_free") == NULL))
        return;
    for (size_t i = 0; tls[i]; i++)
        if ((is_tls || strcmp(tls[i], "open") == 0) && json_object_get(reply, tls[i]) == NULL)
            json_object_set_new(reply, tls[i], default_of(tls[i]));
}

json_t *tm_p2_merge(const json_t *req, const json_t *tpl)
{
    json_t *out = json_is_object(tpl) ? json_deep_copy(tpl) : json_object();
    json_object_update(out, (json_t *)req);
    const char *k;
    json_t *v, *tmp;
    json_object_foreach_safe(out, tmp, k, v) if (json_is_null(v)) json_object_del(out, k);
    return out;
}

json_t *tm_p2_diff(const json_t *req, const json_t *tpl)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)req, k, v) {
        if (!json_equal(v, json_object_get(tpl, k)))
            json_object_set(out, k, v);
    }
    json_object_foreach((json_t *)tpl, k, v) {
        if (json_object_get(req, k) == NULL)
            json_object_set_new(out, k, json_null());
    }
    return out;
}
