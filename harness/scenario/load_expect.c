/* Axes and expectations of a scenario file: values are checked against the known
 * axes and the outcome-class vocabulary, so a typo fails at load time with its
 * line instead of as a mysterious "fail" in a run. */
#include "scenario_load.h"

#include <string.h>

const char *const sl_axis_names[] = { "backend", "keytype", "proto", NULL };
static const char *const backends[] = { "openssl", "gnutls", NULL };
static const char *const keytypes[] = { "p256", "p384", "rsa2048", "rsa4096", NULL };
static const char *const protos[] = { "tls", "dtls", NULL };
static const char *const *const axis_values[] = { backends, keytypes, protos };
static const char *const axis_defaults[][3] = { { "openssl", "gnutls", NULL },
                                                { "p256", NULL }, { "tls", NULL } };

static int axis_index(const char *axis)
{
    for (int i = 0; sl_axis_names[i]; i++)
        if (strcmp(sl_axis_names[i], axis) == 0)
            return i;
    return -1;
}

const char *const *sl_axis_values(const char *axis)
{
    int i = axis_index(axis);
    return i < 0 ? NULL : axis_values[i];
}

static int in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; list && list[i]; i++)
        if (strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

static int in_json(const json_t *a, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) if (json_string_value(v) && !strcmp(json_string_value(v), s))
        return 1;
    return 0;
}

static json_t *axis_list(struct tm_yaml *y, yaml_node_t *n, int ax, struct tm_err *err)
{
    const char *name = sl_axis_names[ax];
    json_t *a = judge_yaml_strings(y, n, name, err);
    if (a == NULL)
        return NULL;
    if (json_array_size(a) == 0) {
        json_decref(a);
        tm_yaml_fail(y, n, err, "axes.%s: empty list", name);
        return NULL;
    }
    json_t *seen = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) {
        const char *s = json_string_value(v);
        const char *why = !in_list(axis_values[ax], s) ? "is not a known value"
                          : in_json(seen, s) ? "is listed twice" : NULL;
        if (why != NULL) {
            tm_yaml_fail(y, tm_yaml_seq_item(y, n, i), err, "axes.%s: '%s' %s", name, s, why);
            json_decref(seen);
            json_decref(a);
            return NULL;
        }
        json_array_append(seen, v);
    }
    json_decref(seen);
    return a;
}

json_t *sl_axes(struct tm_yaml *y, yaml_node_t *n, struct tm_err *err)
{
    if (n != NULL && tm_yaml_check_keys(y, n, sl_axis_names, err) != 0)
        return NULL;
    json_t *axes = json_object();
    for (int ax = 0; sl_axis_names[ax]; ax++) {
        yaml_node_t *v = tm_yaml_get(y, n, sl_axis_names[ax]);
        json_t *a;
        if (v == NULL) {
            a = json_array();
            for (int k = 0; axis_defaults[ax][k]; k++)
                json_array_append_new(a, json_string(axis_defaults[ax][k]));
        } else if ((a = axis_list(y, v, ax, err)) == NULL) {
            json_decref(axes);
            return NULL;
        }
        json_object_set_new(axes, sl_axis_names[ax], a);
    }
    return axes;
}

/* One expectation value: a class or a list of acceptable classes. */
static json_t *classes(struct tm_yaml *y, yaml_node_t *n, const char *side, struct tm_err *err)
{
    json_t *a = judge_yaml_strings(y, n, side, err);
    if (a == NULL)
        return NULL;
    if (json_array_size(a) == 0) {
        json_decref(a);
        tm_yaml_fail(y, n, err, "expect.%s: empty list", side);
        return NULL;
    }
    size_t i;
    json_t *v;
    enum case_side sd = strcmp(side, "peer") == 0 ? CASE_SIDE_PEER : CASE_SIDE_DEVICE;
    json_array_foreach(a, i, v) {
        struct tm_err why = { 0 };
        if (case_class_check(sd, json_string_value(v), NULL, &why) != 0) {
            /* the validator's words, after FILE:LINE: repro says the same */
            tm_yaml_fail(y, tm_yaml_seq_item(y, n, i), err, "%s", why.msg);
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *when_match(struct tm_yaml *y, yaml_node_t *m, const json_t *axes,
                          struct tm_err *err)
{
    if (!tm_yaml_is_map(m) || tm_yaml_map_len(m) == 0) {
        tm_yaml_fail(y, m, err, "expect.when: 'match' must map axes to values");
        return NULL;
    }
    json_t *out = json_object();
    for (size_t i = 0; i < tm_yaml_map_len(m); i++) {
        const char *ax = tm_yaml_map_key(y, m, i);
        yaml_node_t *v = tm_yaml_map_value(y, m, i);
        const json_t *have = json_object_get(axes, ax);
        json_t *vals = have ? judge_yaml_strings(y, v, ax, err) : NULL;
        if (have == NULL)
            tm_yaml_fail(y, v, err, "expect.when: unknown axis '%s' (backend, keytype, proto)", ax);
        size_t k;
        json_t *s;
        json_array_foreach(vals, k, s) {
            if (!in_json(have, json_string_value(s))) {
                /* An override that can never apply is a typo or a stale axis list. */
                tm_yaml_fail(y, v, err, "expect.when: %s '%s' is not in this scenario's axes.%s",
                             ax, json_string_value(s), ax);
                json_decref(vals);
                vals = NULL;
                break;
            }
        }
        if (vals == NULL) {
            json_decref(out);
            return NULL;
        }
        json_object_set_new(out, ax, vals);
    }
    return out;
}

static json_t *when_list(struct tm_yaml *y, yaml_node_t *n, const json_t *axes,
                         struct tm_err *err)
{
    static const char *const keys[] = { "match", "device", "peer", NULL };
    json_t *out = json_array();
    if (!tm_yaml_is_seq(n)) {
        json_decref(out);
        tm_yaml_fail(y, n, err, "expect.when: expected a list of {match: …, device/peer: …}");
        return NULL;
    }
    for (size_t i = 0; i < tm_yaml_seq_len(n); i++) {
        yaml_node_t *it = tm_yaml_seq_item(y, n, i);
        if (tm_yaml_check_keys(y, it, keys, err) != 0)
            goto fail;
        yaml_node_t *m = tm_yaml_get(y, it, "match"), *d = tm_yaml_get(y, it, "device"),
                    *p = tm_yaml_get(y, it, "peer");
        if (m == NULL || (d == NULL && p == NULL)) {
            tm_yaml_fail(y, it, err, "expect.when: each item needs 'match' and 'device' or 'peer'");
            goto fail;
        }
        json_t *w = json_object();
        json_array_append_new(out, w);
        json_t *mj = when_match(y, m, axes, err);
        if (mj == NULL)
            goto fail;
        json_object_set_new(w, "match", mj);
        for (int side = 0; side < 2; side++) {
            yaml_node_t *v = side ? p : d;
            json_t *c = v ? classes(y, v, side ? "peer" : "device", err) : NULL;
            if (v != NULL && c == NULL)
                goto fail;
            if (c != NULL)
                json_object_set_new(w, side ? "peer" : "device", c);
        }
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

json_t *sl_expect(struct tm_yaml *y, yaml_node_t *n, const json_t *axes, struct tm_err *err)
{
    static const char *const keys[] = { "device", "peer", "when", "trend", NULL };
    if (n == NULL) {
        tm_yaml_fail(y, tm_yaml_root(y), err, "missing field 'expect'");
        return NULL;
    }
    if (tm_yaml_check_keys(y, n, keys, err) != 0)
        return NULL;
    yaml_node_t *d = tm_yaml_get(y, n, "device"), *p = tm_yaml_get(y, n, "peer"),
                *w = tm_yaml_get(y, n, "when");
    if (d == NULL) {
        tm_yaml_fail(y, n, err, "missing field 'expect.device'");
        return NULL;
    }
    json_t *e = json_object(), *v;
    if ((v = classes(y, d, "device", err)) == NULL)
        goto fail;
    json_object_set_new(e, "device", v);
    /* No peer expectation: any peer outcome is accepted ("*"), stated explicitly
     * in the case so a report shows it. */
    v = p ? classes(y, p, "peer", err) : json_pack("[s]", "*");
    if (v == NULL)
        goto fail;
    json_object_set_new(e, "peer", v);
    v = w ? when_list(y, w, axes, err) : json_array();
    if (v == NULL)
        goto fail;
    json_object_set_new(e, "when", v);
    yaml_node_t *t = tm_yaml_get(y, n, "trend");
    if (t != NULL) {
        struct case_trend tr;
        struct tm_err why = { 0 };
        if ((v = judge_yaml_json(y, t, "expect.trend", err)) == NULL)
            goto fail;
        json_object_set_new(e, "trend", v);
        if (case_trend_build(v, &tr, &why) != 0) {   /* the validator's words */
            tm_yaml_fail(y, t, err, "%s", why.msg);
            goto fail;
        }
    }
    return e;
fail:
    json_decref(e);
    return NULL;
}
