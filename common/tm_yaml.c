#include "tm_yaml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int load(struct tm_yaml *y, yaml_parser_t *parser, struct tm_err *err)
{
    if (!yaml_parser_load(parser, &y->doc)) {
        tm_err_set(err, "%s:%zu:%zu: %s%s%s", y->path, parser->problem_mark.line + 1,
                   parser->problem_mark.column + 1,
                   parser->problem ? parser->problem : "YAML error",
                   parser->context ? " " : "", parser->context ? parser->context : "");
        yaml_parser_delete(parser);
        return -1;
    }
    yaml_parser_delete(parser);
    y->loaded = 1;
    if (yaml_document_get_root_node(&y->doc) == NULL)
        return tm_err_set(err, "%s: empty document", y->path);
    return 0;
}

int tm_yaml_load(struct tm_yaml *y, const char *path, struct tm_err *err)
{
    memset(y, 0, sizeof *y);
    snprintf(y->path, sizeof y->path, "%s", path);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return tm_err_set(err, "%s: %s", path, strerror(errno));
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    int r = load(y, &parser, err);
    fclose(f);
    return r;
}

int tm_yaml_load_string(struct tm_yaml *y, const char *name, const char *text,
                        struct tm_err *err)
{
    memset(y, 0, sizeof *y);
    snprintf(y->path, sizeof y->path, "%s", name);
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
    return load(y, &parser, err);
}

void tm_yaml_free(struct tm_yaml *y)
{
    if (y->loaded)
        yaml_document_delete(&y->doc);
    y->loaded = 0;
}

yaml_node_t *tm_yaml_root(struct tm_yaml *y)
{
    return y->loaded ? yaml_document_get_root_node(&y->doc) : NULL;
}

int tm_yaml_line(const yaml_node_t *n)
{
    return n ? (int)n->start_mark.line + 1 : 0;
}

int tm_yaml_fail(struct tm_yaml *y, const yaml_node_t *n, struct tm_err *err,
                 const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n != NULL)
        return tm_err_set(err, "%s:%d: %s", y->path, tm_yaml_line(n), msg);
    return tm_err_set(err, "%s: %s", y->path, msg);
}

int tm_yaml_is_map(const yaml_node_t *n) { return n && n->type == YAML_MAPPING_NODE; }
int tm_yaml_is_seq(const yaml_node_t *n) { return n && n->type == YAML_SEQUENCE_NODE; }
int tm_yaml_is_scalar(const yaml_node_t *n) { return n && n->type == YAML_SCALAR_NODE; }

static const char *scalar_text(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

size_t tm_yaml_map_len(const yaml_node_t *map)
{
    if (!tm_yaml_is_map(map))
        return 0;
    return (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
}

const char *tm_yaml_map_key(struct tm_yaml *y, yaml_node_t *map, size_t i)
{
    yaml_node_pair_t *pair = map->data.mapping.pairs.start + i;
    yaml_node_t *k = yaml_document_get_node(&y->doc, pair->key);
    return tm_yaml_is_scalar(k) ? scalar_text(k) : "";
}

yaml_node_t *tm_yaml_map_value(struct tm_yaml *y, yaml_node_t *map, size_t i)
{
    yaml_node_pair_t *pair = map->data.mapping.pairs.start + i;
    return yaml_document_get_node(&y->doc, pair->value);
}

yaml_node_t *tm_yaml_get(struct tm_yaml *y, yaml_node_t *map, const char *key)
{
    size_t n = tm_yaml_map_len(map);
    for (size_t i = 0; i < n; i++)
        if (strcmp(tm_yaml_map_key(y, map, i), key) == 0)
            return tm_yaml_map_value(y, map, i);
    return NULL;
}

int tm_yaml_check_keys(struct tm_yaml *y, yaml_node_t *map, const char *const allowed[],
                       struct tm_err *err)
{
    if (!tm_yaml_is_map(map))
        return tm_yaml_fail(y, map, err, "expected a mapping");
    size_t n = tm_yaml_map_len(map);
    for (size_t i = 0; i < n; i++) {
        const char *k = tm_yaml_map_key(y, map, i);
        int ok = 0;
        for (const char *const *a = allowed; *a != NULL && !ok; a++)
            ok = strcmp(*a, k) == 0;
        if (!ok) {
            yaml_node_pair_t *pair = map->data.mapping.pairs.start + i;
            return tm_yaml_fail(y, yaml_document_get_node(&y->doc, pair->key), err,
                                "unknown field '%s'", k);
        }
    }
    return 0;
}

size_t tm_yaml_seq_len(const yaml_node_t *n)
{
    if (tm_yaml_is_scalar(n))
        return 1;
    if (!tm_yaml_is_seq(n))
        return 0;
    return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

yaml_node_t *tm_yaml_seq_item(struct tm_yaml *y, yaml_node_t *n, size_t i)
{
    if (tm_yaml_is_scalar(n))
        return n;
    return yaml_document_get_node(&y->doc, n->data.sequence.items.start[i]);
}

const char *tm_yaml_str(struct tm_yaml *y, yaml_node_t *n, const char *field,
                        struct tm_err *err)
{
    if (n == NULL) {
        tm_yaml_fail(y, NULL, err, "missing field '%s'", field);
        return NULL;
    }
    if (!tm_yaml_is_scalar(n)) {
        tm_yaml_fail(y, n, err, "field '%s': expected a string", field);
        return NULL;
    }
    return scalar_text(n);
}

const char *tm_yaml_str_or(struct tm_yaml *y, yaml_node_t *n, const char *field,
                           const char *dflt, struct tm_err *err, int *bad)
{
    if (n == NULL)
        return dflt;
    const char *s = tm_yaml_str(y, n, field, err);
    if (s == NULL && bad)
        *bad = 1;
    return s ? s : dflt;
}

int tm_yaml_int(struct tm_yaml *y, yaml_node_t *n, const char *field, long long *out,
                struct tm_err *err)
{
    const char *s = tm_yaml_str(y, n, field, err);
    if (s == NULL)
        return -1;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    if (errno != 0 || end == s || *end != '\0')
        return tm_yaml_fail(y, n, err, "field '%s': expected an integer, got '%s'", field, s);
    *out = v;
    return 0;
}

int tm_yaml_bool(struct tm_yaml *y, yaml_node_t *n, const char *field, int *out,
                 struct tm_err *err)
{
    const char *s = tm_yaml_str(y, n, field, err);
    if (s == NULL)
        return -1;
    if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))
        *out = 1;
    else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))
        *out = 0;
    else
        return tm_yaml_fail(y, n, err, "field '%s': expected true or false, got '%s'", field, s);
    return 0;
}
