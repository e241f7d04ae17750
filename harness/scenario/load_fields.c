/* The blocks of a scenario file (docs/contracts.md §5), each checked and turned
 * into the normalised JSON the expander and the runner read. Every error names
 * FILE:LINE and the field. */
#include "scenario_load.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

int sl_enum(struct tm_yaml *y, yaml_node_t *map, const struct case_names *t, int dflt,
            json_t *out, struct tm_err *err)
{
    const char *key = t->field;
    yaml_node_t *n = tm_yaml_get(y, map, key);
    if (n == NULL)
        return json_object_set_new(out, key, json_string(case_enum_name(t, dflt)));
    const char *s = tm_yaml_str(y, n, key, err);
    if (s == NULL)
        return -1;
    struct tm_err why = { 0 };
    if (case_enum_parse(t, s, &why) < 0)   /* the validator's words, after FILE:LINE */
        return tm_yaml_fail(y, n, err, "%s", why.msg);
    return json_object_set_new(out, key, json_string(s));
}

/* A fixture reference or an inline source: "name", {b64: …} or {str: …}. */
static json_t *source(struct tm_yaml *y, yaml_node_t *n, const char *field, struct tm_err *err)
{
    static const char *const keys[] = { "b64", "str", "file", NULL };
    if (tm_yaml_is_scalar(n))
        return json_string((const char *)n->data.scalar.value);
    if (!tm_yaml_is_map(n) || tm_yaml_map_len(n) != 1) {
        tm_yaml_fail(y, n, err, "field '%s': expected a fixture name or one of {b64: …}, "
                     "{str: …}, {file: …}", field);
        return NULL;
    }
    if (tm_yaml_check_keys(y, n, keys, err) != 0)
        return NULL;
    const char *k = tm_yaml_map_key(y, n, 0);
    const char *v = tm_yaml_str(y, tm_yaml_map_value(y, n, 0), field, err);
    return v ? json_pack("{s:s}", k, v) : NULL;
}

static int sources(struct tm_yaml *y, yaml_node_t *map, const char *key, json_t *out,
                   struct tm_err *err)
{
    yaml_node_t *n = tm_yaml_get(y, map, key);
    if (n == NULL)
        return 0;
    if (tm_yaml_is_scalar(n) && strcmp((const char *)n->data.scalar.value, "null") == 0)
        return json_object_set_new(out, key, json_null());
    json_t *a = json_array();
    if (tm_yaml_is_map(n)) {
        json_t *v = source(y, n, key, err);
        if (v == NULL)
            return json_decref(a), -1;
        json_array_append_new(a, v);
    } else {
        for (size_t i = 0; i < tm_yaml_seq_len(n); i++) {
            json_t *v = source(y, tm_yaml_seq_item(y, n, i), key, err);
            if (v == NULL)
                return json_decref(a), -1;
            json_array_append_new(a, v);
        }
    }
    return json_object_set_new(out, key, a);
}

static int chain(struct tm_yaml *y, yaml_node_t *map, json_t *out, struct tm_err *err)
{
    static const char *const keys[] = { "cert", "key", NULL };
    yaml_node_t *n = tm_yaml_get(y, map, "chain");
    if (n == NULL)
        return 0;
    json_t *a = json_array();
    size_t len = tm_yaml_is_map(n) ? 1 : tm_yaml_is_seq(n) ? tm_yaml_seq_len(n) : 0;
    if (len == 0 && !tm_yaml_is_seq(n))
        return json_decref(a), tm_yaml_fail(y, n, err, "field 'chain': expected a list of "
                                            "{cert: …, key: …}");
    for (size_t i = 0; i < len; i++) {
        yaml_node_t *it = tm_yaml_is_map(n) ? n : tm_yaml_seq_item(y, n, i);
        if (tm_yaml_check_keys(y, it, keys, err) != 0)
            return json_decref(a), -1;
        json_t *c = json_object();
        json_array_append_new(a, c);
        for (size_t k = 0; keys[k]; k++) {
            yaml_node_t *v = tm_yaml_get(y, it, keys[k]);
            json_t *s = v ? source(y, v, keys[k], err) : NULL;
            if (v != NULL && s == NULL)
                return json_decref(a), -1;
            if (s != NULL)
                json_object_set_new(c, keys[k], s);
        }
        const char *missing = json_object_get(c, "cert") == NULL ? "cert"
                              : json_object_get(c, "key") == NULL ? "key" : NULL;
        if (missing != NULL)
            return json_decref(a), tm_yaml_fail(y, it, err, "field 'chain': item without '%s' "
                                                "(each item is {cert: …, key: …})", missing);
    }
    return json_object_set_new(out, "chain", a);
}

json_t *sl_device(struct tm_yaml *y, yaml_node_t *n, struct tm_err *err)
{
    static const char *const keys[] = { "role", "layer", "verify", "ca", "chain",
                                        "server_hostname", "ciphers", "clock", "send",
                                        "heap_free", "options", NULL };
    if (n == NULL) {
        tm_yaml_fail(y, tm_yaml_root(y), err, "missing field 'device'");
        return NULL;
    }
    json_t *d = json_object();
    if (tm_yaml_check_keys(y, n, keys, err) != 0
        || sl_enum(y, n, &case_role_names, CASE_CLIENT, d, err) != 0
        || sl_enum(y, n, &case_layer_names, CASE_LAYER_TLS, d, err) != 0
        || sl_enum(y, n, &case_verify_names, CASE_VERIFY_DEFAULT, d, err) != 0
        || sl_enum(y, n, &case_clock_names, CASE_CLOCK_REFERENCE, d, err) != 0
        || sources(y, n, "ca", d, err) != 0 || chain(y, n, d, err) != 0)
        goto fail;
    yaml_node_t *v = tm_yaml_get(y, n, "server_hostname");
    json_t *sh = judge_yaml_json(y, v, "server_hostname", err);
    if (sh == NULL || !(json_is_null(sh) || json_is_string(sh))) {
        json_decref(sh);
        if (sh != NULL)
            tm_yaml_fail(y, v, err, "field 'server_hostname': expected a name or null");
        goto fail;
    }
    json_object_set_new(d, "server_hostname", sh);
    if ((v = tm_yaml_get(y, n, "ciphers")) != NULL) {
        json_t *c = judge_yaml_strings(y, v, "ciphers", err);
        if (c == NULL)
            goto fail;
        json_object_set_new(d, "ciphers", c);
    }
    if ((v = tm_yaml_get(y, n, "send")) != NULL) {
        const char *s = tm_yaml_str(y, v, "send", err);
        if (s == NULL)
            goto fail;
        json_object_set_new(d, "send", json_string(s));
    }
    if ((v = tm_yaml_get(y, n, "heap_free")) != NULL) {
        long long b = 0;
        struct tm_err why = { 0 };
        if (tm_yaml_int(y, v, "heap_free", &b, err) != 0)
            goto fail;
        if (case_heap_free_check(b, &why) != 0) {
            tm_yaml_fail(y, v, err, "%s", why.msg);
            goto fail;
        }
        json_object_set_new(d, "heap_free", json_integer(b));
    }
    if ((v = tm_yaml_get(y, n, "options")) != NULL) {
        if (!tm_yaml_is_map(v)) {
            tm_yaml_fail(y, v, err, "field 'options': expected a mapping of agent request fields");
            goto fail;
        }
        json_t *o = judge_yaml_json(y, v, "options", err);
        if (o == NULL)
            goto fail;
        json_object_set_new(d, "options", o);
    }
    return d;
fail:
    json_decref(d);
    return NULL;
}

json_t *sl_peer(struct tm_yaml *y, yaml_node_t *n, struct tm_err *err)
{
    json_t *p = json_object();
    if (n == NULL)
        return p;
    if (!tm_yaml_is_map(n)) {
        tm_yaml_fail(y, n, err, "field 'peer': expected a mapping");
        goto fail;
    }
    for (size_t i = 0; i < tm_yaml_map_len(n); i++) {
        const char *k = tm_yaml_map_key(y, n, i);
        yaml_node_t *v = tm_yaml_map_value(y, n, i);
        struct tm_err why = { 0 };
        if (case_peer_key_check(k, &why) != 0) {   /* tlspeer's flag table decides */
            tm_yaml_fail(y, v, err, "%s", why.msg);
            goto fail;
        }
        int files = !strcmp(k, "cert") || !strcmp(k, "ca") || !strcmp(k, "args");
        json_t *j = files ? judge_yaml_strings(y, v, k, err) : judge_yaml_json(y, v, k, err);
        if (j == NULL)
            goto fail;
        if (!strcmp(k, "key") && !json_is_string(j)) {
            json_decref(j);
            tm_yaml_fail(y, v, err, "field 'key': expected one fixture name");
            goto fail;
        }
        if (json_is_object(j)) {
            json_decref(j);
            tm_yaml_fail(y, v, err, "field '%s': expected a scalar or a list", k);
            goto fail;
        }
        json_object_set_new(p, k, j);
    }
    return p;
fail:
    json_decref(p);
    return NULL;
}

static int proxy_values(struct tm_yaml *y, yaml_node_t *n, const json_t *p, struct tm_err *err);

json_t *sl_proxy(struct tm_yaml *y, yaml_node_t *n, struct tm_err *err)
{
    if (n == NULL)
        return json_null();
    if (tm_yaml_is_scalar(n)) {
        json_t *v = judge_yaml_json(y, n, "proxy", err);
        if (json_is_null(v))
            return v;
        json_decref(v);
        tm_yaml_fail(y, n, err, "field 'proxy': expected a mapping or null");
        return NULL;
    }
    json_t *spec = judge_yaml_json(y, n, "proxy", err);
    if (spec == NULL)
        return NULL;
    const char *proto = case_proxy_proto(spec, err);
    int tcp = proto != NULL && strcmp(proto, "tls") == 0;
    if (proto != NULL && tcp && (!json_is_string(json_object_get(spec, "at"))
                                 || !json_is_string(json_object_get(spec, "do"))))
        tm_err_set(err, "proxy: a TLS proxy needs both 'at' (a place) and 'do' (an action), "
                   "as strings (see tcpproxy --help)");
    else if (proto != NULL && !tcp && proxy_values(y, n, spec, err) != 0)
        return json_decref(spec), NULL;   /* udpproxy's values: FILE:LINE already */
    else if (proto != NULL)
        return spec;
    json_decref(spec);
    char why[sizeof err->msg];
    snprintf(why, sizeof why, "%s", err->msg);
    tm_yaml_fail(y, n, err, "%s", why);
    return NULL;
}

/* udpproxy's accepted values (udpproxy --help), checked here so a bad value is a
 * FILE:LINE at load time instead of a per-case error when udpproxy refuses it. */
enum proxy_kind { PK_RATE, PK_INT, PK_BOOL, PK_TYPES };
static const struct {
    const char *key;
    enum proxy_kind kind;
    long long max;
} k_proxy_fields[] = {
    { "drop", PK_RATE, 1 },      { "dup", PK_RATE, 1 },      { "reorder", PK_RATE, 1 },
    { "delay_rate", PK_RATE, 1 }, { "delay", PK_INT, 60000 }, { "mtu", PK_INT, 65535 },
    { "seed", PK_INT, LLONG_MAX }, { "protect_hvr", PK_BOOL, 1 }, { "drop_type", PK_TYPES, 0 },
};
/* The handshake types udpproxy --drop-type knows (RFC 6347 names). */
static const char *const k_hs_types[] = {
    "client_hello", "server_hello", "hello_verify_request", "certificate",
    "server_key_exchange", "certificate_request", "server_hello_done",
    "certificate_verify", "client_key_exchange", "finished", NULL };

static int proxy_types_ok(const json_t *v)
{
    if (json_is_string(v)) {
        for (size_t i = 0; k_hs_types[i]; i++)
            if (strcmp(k_hs_types[i], json_string_value(v)) == 0)
                return 1;
        return 0;
    }
    size_t i;
    json_t *it;
    if (!json_is_array(v) || json_array_size(v) == 0)
        return 0;
    json_array_foreach(v, i, it) if (json_is_array(it) || !proxy_types_ok(it))
        return 0;
    return 1;
}

static int proxy_value_ok(enum proxy_kind kind, long long max, const json_t *v)
{
    switch (kind) {
    case PK_RATE: {
        double d = json_number_value(v);
        return json_is_number(v) && isfinite(d) && d >= 0 && d <= 1;
    }
    case PK_INT:
        return json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= max;
    case PK_BOOL:
        return json_is_boolean(v);
    default:
        return proxy_types_ok(v);
    }
}

static int proxy_values(struct tm_yaml *y, yaml_node_t *n, const json_t *p, struct tm_err *err)
{
    static const char *const expect[] = { "a number 0..1", "an integer", "true or false",
                                          "a handshake type or a list of them (udpproxy --help)" };
    for (size_t i = 0; i < sizeof k_proxy_fields / sizeof *k_proxy_fields; i++) {
        const json_t *v = json_object_get(p, k_proxy_fields[i].key);
        if (v == NULL || proxy_value_ok(k_proxy_fields[i].kind, k_proxy_fields[i].max, v))
            continue;
        char range[64] = "";
        if (k_proxy_fields[i].kind == PK_INT)
            snprintf(range, sizeof range, " 0..%lld", k_proxy_fields[i].max);
        return tm_yaml_fail(y, tm_yaml_get(y, n, k_proxy_fields[i].key), err,
                            "proxy.%s: expected %s%s", k_proxy_fields[i].key,
                            expect[k_proxy_fields[i].kind], range);
    }
    return 0;
}

/* A fixture name in a scenario names a file of the fixture directory: no '/', not
 * hidden (so never "..") and placeholders only {kt}, {backend}, {proto}. Paths of
 * the user's own files come from the command line (repro), never from a scenario. */
static const char *fixture_name_problem(const char *s)
{
    static const char *const ph[] = { "{kt}", "{backend}", "{proto}", NULL };
    size_t n = strlen(s);
    if (*s == '\0' || *s == '.' || n > 200 || n < 5
        || (strcmp(s + n - 4, ".der") != 0 && strcmp(s + n - 4, ".pem") != 0))
        return "is not a fixture file name (NAME.der or NAME.pem of the fixture directory)";
    if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-{}")
        != strlen(s))
        return "is not a fixture file name (a file of the fixture directory, no '/')";
    for (const char *b = strchr(s, '{'); b != NULL; b = strchr(b + 1, '{')) {
        int ok = 0;
        for (size_t i = 0; ph[i] && !ok; i++)
            ok = strncmp(b, ph[i], strlen(ph[i])) == 0;
        if (!ok)
            return "has an unknown placeholder (only {kt}, {backend}, {proto})";
    }
    return NULL;
}

/* Each fixture-name scalar under n (a name, a list of them, or {cert, key} items)
 * into lines as name → line. */
static int note_fixtures(struct tm_yaml *y, yaml_node_t *n, const char *field, json_t *lines,
                         struct tm_err *err)
{
    if (tm_yaml_is_map(n)) {
        for (size_t i = 0; i < tm_yaml_map_len(n); i++) {
            const char *k = tm_yaml_map_key(y, n, i);
            if ((!strcmp(k, "cert") || !strcmp(k, "key"))
                && note_fixtures(y, tm_yaml_map_value(y, n, i), k, lines, err) != 0)
                return -1;
        }
        return 0;
    }
    if (tm_yaml_is_seq(n)) {
        for (size_t i = 0; i < tm_yaml_seq_len(n); i++)
            if (note_fixtures(y, tm_yaml_seq_item(y, n, i), field, lines, err) != 0)
                return -1;
        return 0;
    }
    if (!tm_yaml_is_scalar(n))
        return 0;
    const char *name = (const char *)n->data.scalar.value;
    const char *why = fixture_name_problem(name);
    if (why != NULL)
        return tm_yaml_fail(y, n, err, "field '%s': '%s' %s", field, name, why);
    if (json_object_get(lines, name) == NULL)
        json_object_set_new(lines, name, json_integer(tm_yaml_line(n)));
    return 0;
}

json_t *sl_fixtures(struct tm_yaml *y, yaml_node_t *root, struct tm_err *err)
{
    static const char *const at[][2] = { { "device", "ca" }, { "device", "chain" },
                                         { "peer", "cert" },  { "peer", "key" },
                                         { "peer", "ca" },    { "peer", "send_file" } };
    json_t *lines = json_object();
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        yaml_node_t *n = tm_yaml_get(y, tm_yaml_get(y, root, at[i][0]), at[i][1]);
        if (n != NULL && note_fixtures(y, n, at[i][1], lines, err) != 0) {
            json_decref(lines);
            return NULL;
        }
    }
    return lines;
}
