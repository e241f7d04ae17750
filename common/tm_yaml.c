#include "tm_yaml.h"

#include "tm_fs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One event of the streaming pass over the text (limits that must hold before the
 * document is built: nesting depth, alias count, one document, NUL-free scalars). */
struct scan {
    int depth, aliases, docs;
};

static int scan_event(struct tm_yaml *y, const yaml_event_t *ev, struct scan *st,
                      struct tm_err *err)
{
    int line = (int)ev->start_mark.line + 1;
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++st->docs > 1)
            return tm_err_setc(err, TM_E_INPUT, "%s:%d: a second YAML document (one per file)",
                               y->path, line);
        return 0;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (++st->depth > TM_YAML_MAX_DEPTH)
            return tm_err_setc(err, TM_E_INPUT, "%s:%d: nested deeper than %d levels", y->path,
                               line, TM_YAML_MAX_DEPTH);
        return 0;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        st->depth--;
        return 0;
    case YAML_ALIAS_EVENT:
        if (++st->aliases > TM_YAML_MAX_ALIASES)
            return tm_err_setc(err, TM_E_INPUT, "%s:%d: more than %d aliases", y->path, line,
                               TM_YAML_MAX_ALIASES);
        return 0;
    case YAML_SCALAR_EVENT:
        /* "\0" in a double-quoted scalar: C strings would silently cut it. */
        if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length) != NULL)
            return tm_err_setc(err, TM_E_INPUT, "%s:%d: a NUL character in a string", y->path,
                               line);
        return 0;
    default:
        return 0;
    }
}

static int syntax_error(struct tm_yaml *y, const yaml_parser_t *p, struct tm_err *err)
{
    return tm_err_setc(err, TM_E_INPUT, "%s:%zu:%zu: %s%s%s", y->path, p->problem_mark.line + 1,
                      p->problem_mark.column + 1, p->problem ? p->problem : "YAML error",
                      p->context ? " " : "", p->context ? p->context : "");
}

/* The streaming pass; stops at the first problem, so a hostile text costs no more
 * than TM_YAML_MAX_DEPTH levels before it is refused. */
static int scan_text(struct tm_yaml *y, const unsigned char *text, size_t len, struct tm_err *err)
{
    yaml_parser_t p;
    struct scan st = { 0, 0, 0 };
    int rc = 0, done = 0;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, text, len);
    while (rc == 0 && !done) {   /* bounded: every event consumes input */
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = syntax_error(y, &p, err);
            break;
        }
        rc = scan_event(y, &ev, &st, err);
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return rc;
}

/* Line length, before libyaml sees the text. */
static int check_lines(struct tm_yaml *y, const unsigned char *text, size_t len,
                       struct tm_err *err)
{
    int line = 1;
    for (size_t at = 0; at < len; line++) {
        const unsigned char *nl = memchr(text + at, '\n', len - at);
        size_t l = nl ? (size_t)(nl - (text + at)) : len - at;
        if (l > TM_YAML_MAX_LINE)
            return tm_err_setc(err, TM_E_INPUT, "%s:%d: line longer than %d bytes", y->path, line,
                              TM_YAML_MAX_LINE);
        at += l + 1;
    }
    return 0;
}

/* Walk of the built document as the readers will see it, aliases expanded: the
 * expanded depth and size stay bounded and an alias never contains itself.
 * memo[id] = expanded size + 1 once known; on[id] while the node is being walked.
 * Recursion is at most TM_YAML_MAX_DEPTH deep: deeper is refused. */
struct walk {
    struct tm_yaml *y;
    size_t *memo;
    unsigned char *on;
    struct tm_err *err;
};

static int walk_node(struct walk *w, int id, int depth, size_t *size);

static int walk_child(struct walk *w, int id, int depth, size_t *total)
{
    size_t sub = 0;
    if (walk_node(w, id, depth + 1, &sub) != 0)
        return -1;
    *total += sub;
    if (*total > TM_YAML_MAX_NODES)
        return tm_yaml_fail(w->y, yaml_document_get_node(&w->y->doc, id), w->err,
                            "aliases expand to more than %d nodes", TM_YAML_MAX_NODES);
    return 0;
}

static int check_keys_unique(struct tm_yaml *y, yaml_node_t *map, struct tm_err *err);

static int walk_node(struct walk *w, int id, int depth, size_t *size)
{
    yaml_node_t *n = yaml_document_get_node(&w->y->doc, id);
    if (n == NULL)
        return tm_err_setc(w->err, TM_E_INPUT, "%s: broken YAML document", w->y->path);
    if (w->on[id])
        return tm_yaml_fail(w->y, n, w->err, "an alias refers to a node that contains it");
    if (depth > TM_YAML_MAX_DEPTH)
        return tm_yaml_fail(w->y, n, w->err, "nested deeper than %d levels (aliases expanded)",
                            TM_YAML_MAX_DEPTH);
    if (w->memo[id] != 0) {
        *size = w->memo[id] - 1;
        return 0;
    }
    size_t total = 1;
    w->on[id] = 1;
    int rc = 0;
    if (n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             rc == 0 && it < n->data.sequence.items.top; it++)
            rc = walk_child(w, *it, depth, &total);
    } else if (n->type == YAML_MAPPING_NODE) {
        rc = check_keys_unique(w->y, n, w->err);
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
             rc == 0 && p < n->data.mapping.pairs.top; p++) {
            rc = walk_child(w, p->key, depth, &total);
            if (rc == 0)
                rc = walk_child(w, p->value, depth, &total);
        }
    }
    w->on[id] = 0;
    w->memo[id] = total + 1;
    *size = total;
    return rc;
}

static int check_document(struct tm_yaml *y, struct tm_err *err)
{
    size_t count = (size_t)(y->doc.nodes.top - y->doc.nodes.start);
    struct walk w = { y, calloc(count + 1, sizeof *w.memo), calloc(count + 1, 1), err };
    size_t size = 0;
    int rc = w.memo && w.on ? walk_node(&w, 1, 1, &size)
                            : tm_err_setc(err, TM_E_NOMEM, "%s: out of memory", y->path);
    free(w.memo);
    free(w.on);
    return rc;
}

static int load(struct tm_yaml *y, const unsigned char *text, size_t len, struct tm_err *err)
{
    if (len > TM_YAML_MAX_BYTES)
        return tm_err_setc(err, TM_E_INPUT, "%s: %zu bytes, more than the limit of %d", y->path,
                           len, TM_YAML_MAX_BYTES);
    if (check_lines(y, text, len, err) != 0 || scan_text(y, text, len, err) != 0)
        return -1;
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, text, len);
    if (!yaml_parser_load(&parser, &y->doc)) {
        syntax_error(y, &parser, err);
        yaml_parser_delete(&parser);
        return -1;
    }
    yaml_parser_delete(&parser);
    y->loaded = 1;
    if (yaml_document_get_root_node(&y->doc) == NULL)
        return tm_err_setc(err, TM_E_INPUT, "%s: empty document", y->path);
    return check_document(y, err);
}

int tm_yaml_load(struct tm_yaml *y, const char *path, struct tm_err *err)
{
    memset(y, 0, sizeof *y);
    snprintf(y->path, sizeof y->path, "%s", path);
    unsigned char *text = NULL;
    size_t len = 0;
    if (tm_read_file_max(path, TM_YAML_MAX_BYTES, &text, &len, err) != 0)
        return -1;
    int r = load(y, text, len, err);
    free(text);
    return r;
}

int tm_yaml_load_string(struct tm_yaml *y, const char *name, const char *text,
                        struct tm_err *err)
{
    memset(y, 0, sizeof *y);
    snprintf(y->path, sizeof y->path, "%s", name);
    return load(y, (const unsigned char *)text, strlen(text), err);
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
        return tm_err_setc(err, TM_E_INPUT, "%s:%d: %s", y->path, tm_yaml_line(n), msg);
    return tm_err_setc(err, TM_E_INPUT, "%s: %s", y->path, msg);
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

/* Keys of one mapping: scalars (a complex key would read as "" everywhere) and
 * each once (libyaml keeps both; the first would silently win). Sorted indices
 * keep this n log n for a hostile mapping with many keys. */
static int key_cmp_ctx(const void *a, const void *b, void *ctx)
{
    struct tm_yaml *y = ctx;
    const yaml_node_pair_t *pa = *(const yaml_node_pair_t *const *)a;
    const yaml_node_pair_t *pb = *(const yaml_node_pair_t *const *)b;
    int c = strcmp(scalar_text(yaml_document_get_node(&y->doc, pa->key)),
                   scalar_text(yaml_document_get_node(&y->doc, pb->key)));
    return c ? c : (pa < pb ? -1 : pa > pb);
}

static int check_keys_unique(struct tm_yaml *y, yaml_node_t *map, struct tm_err *err)
{
    size_t n = tm_yaml_map_len(map);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *k = yaml_document_get_node(&y->doc, map->data.mapping.pairs.start[i].key);
        if (!tm_yaml_is_scalar(k))
            return tm_yaml_fail(y, k, err, "a mapping key must be a plain string, not a %s",
                                tm_yaml_is_map(k) ? "mapping" : "list");
    }
    if (n < 2)
        return 0;
    const yaml_node_pair_t **v = malloc(n * sizeof *v);
    if (v == NULL)
        return tm_err_setc(err, TM_E_NOMEM, "%s: out of memory", y->path);
    for (size_t i = 0; i < n; i++)
        v[i] = map->data.mapping.pairs.start + i;
    qsort_r(v, n, sizeof *v, key_cmp_ctx, y);
    int rc = 0;
    for (size_t i = 1; rc == 0 && i < n; i++) {
        yaml_node_t *a = yaml_document_get_node(&y->doc, v[i - 1]->key),
                    *b = yaml_document_get_node(&y->doc, v[i]->key);
        if (strcmp(scalar_text(a), scalar_text(b)) == 0)
            rc = tm_yaml_fail(y, b, err, "duplicate key '%s' (first at line %d)", scalar_text(b),
                              tm_yaml_line(a));
    }
    free(v);
    return rc;
}
