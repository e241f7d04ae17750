/* YAML nodes as JSON values, with the core schema's scalar typing. */
#include "scenario_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int is_plain(const yaml_node_t *n)
{
    return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE
           || n->data.scalar.style == YAML_ANY_SCALAR_STYLE;
}

static json_t *plain_scalar(const char *s)
{
    if (*s == '\0' || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null")
        || !strcmp(s, "NULL"))
        return json_null();
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
        return json_true();
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        return json_false();
    char *end = NULL;
    errno = 0;
    long long i = strtoll(s, &end, 10);
    if (errno == 0 && end != s && *end == '\0')
        return json_integer(i);
    errno = 0;
    double d = strtod(s, &end);
    /* Only decimal floats: strtod also takes "inf", "nan" and hex, which YAML
     * spells differently; those stay strings. */
    if (errno == 0 && end != s && *end == '\0' && strspn(s, "+-0123456789.eE") == strlen(s))
        return json_real(d);
    return json_string(s);
}

static json_t *seq_json(struct tm_yaml *y, yaml_node_t *n, const char *field,
                        struct tm_err *err)
{
    json_t *a = json_array();
    size_t len = tm_yaml_seq_len(n);
    for (size_t i = 0; i < len; i++) {
        json_t *v = judge_yaml_json(y, tm_yaml_seq_item(y, n, i), field, err);
        if (v == NULL) {
            json_decref(a);
            return NULL;
        }
        json_array_append_new(a, v);
    }
    return a;
}

static json_t *map_json(struct tm_yaml *y, yaml_node_t *n, const char *field,
                        struct tm_err *err)
{
    json_t *o = json_object();
    size_t len = tm_yaml_map_len(n);
    for (size_t i = 0; i < len; i++) {
        char sub[256];
        const char *k = tm_yaml_map_key(y, n, i);
        snprintf(sub, sizeof sub, "%s.%s", field, k);
        json_t *v = judge_yaml_json(y, tm_yaml_map_value(y, n, i), sub, err);
        if (v == NULL) {
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, k, v);
    }
    return o;
}

json_t *judge_yaml_json(struct tm_yaml *y, yaml_node_t *n, const char *field,
                        struct tm_err *err)
{
    if (n == NULL)
        return json_null();
    switch (n->type) {
    case YAML_SCALAR_NODE: {
        const char *s = (const char *)n->data.scalar.value;
        return is_plain(n) ? plain_scalar(s) : json_string(s);
    }
    case YAML_SEQUENCE_NODE:
        return seq_json(y, n, field, err);
    case YAML_MAPPING_NODE:
        return map_json(y, n, field, err);
    default:
        tm_yaml_fail(y, n, err, "field '%s': unsupported YAML node", field);
        return NULL;
    }
}

json_t *judge_yaml_strings(struct tm_yaml *y, yaml_node_t *n, const char *field,
                           struct tm_err *err)
{
    if (n != NULL && !tm_yaml_is_scalar(n) && !tm_yaml_is_seq(n)) {
        tm_yaml_fail(y, n, err, "field '%s': expected a string or a list of strings", field);
        return NULL;
    }
    json_t *a = json_array();
    size_t len = tm_yaml_seq_len(n);
    for (size_t i = 0; i < len; i++) {
        yaml_node_t *it = tm_yaml_seq_item(y, n, i);
        if (!tm_yaml_is_scalar(it)) {
            tm_yaml_fail(y, it, err, "field '%s': expected a string or a list of strings", field);
            json_decref(a);
            return NULL;
        }
        json_array_append_new(a, json_string((const char *)it->data.scalar.value));
    }
    return a;
}
