/* scenario_load_all: files and directories of scenario YAML → normalised
 * scenarios; each bad file is one "FILE:LINE: message" and the rest still load. */
#include "scenario/scenario.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "scenario_load.h"

/* Scenario files one directory may hold (docs/contracts.md §5 "Input limits"). */
#define SCENARIO_FILES_MAX 10000

static const char *const top_keys[] = { "name", "doc", "tags", "device", "peer", "proxy",
                                        "axes", "expect", "insecure", "steps", NULL };

/* "dir/NAME.yaml" → "NAME" into out. */
static void stem(const char *path, char *out, size_t len)
{
    const char *b = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    snprintf(out, len, "%s", b);
    size_t n = strlen(out);
    if (n > 5 && strcmp(out + n - 5, ".yaml") == 0)
        out[n - 5] = '\0';
    else if (n > 4 && strcmp(out + n - 4, ".yml") == 0)
        out[n - 4] = '\0';
}

static int required_str(struct tm_yaml *y, yaml_node_t *root, const char *key, json_t *out,
                        struct tm_err *err)
{
    yaml_node_t *n = tm_yaml_get(y, root, key);
    if (n == NULL)
        return tm_yaml_fail(y, root, err, "missing field '%s'", key);
    const char *s = tm_yaml_str(y, n, key, err);
    if (s == NULL)
        return -1;
    if (strspn(s, " \t\n") == strlen(s))
        return tm_yaml_fail(y, n, err, "field '%s' is empty", key);
    return json_object_set_new(out, key, json_string(s));
}

static int check_name(struct tm_yaml *y, yaml_node_t *root, const char *path, const char *name,
                      struct tm_err *err)
{
    char want[512], shown[512];
    stem(path, want, sizeof want);
    yaml_node_t *n = tm_yaml_get(y, root, "name");
    tm_printable(name, shown, sizeof shown);   /* a newline in it must not split the message */
    if (strcmp(want, name) != 0)
        return tm_yaml_fail(y, n, err, "name '%s' does not match the file name (expected '%s')",
                            shown, want);
    if (strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-_.+") != strlen(name))
        return tm_yaml_fail(y, n, err, "name '%s': use lower case, digits and -_.+ only "
                            "(it is part of case ids and bundle paths)", shown);
    return 0;
}

static int set_block(json_t *s, const char *key, json_t *v)
{
    if (v == NULL)
        return -1;
    return json_object_set_new(s, key, v);
}

static int check_proxy(struct tm_yaml *y, yaml_node_t *root, json_t *s, struct tm_err *err)
{
    const json_t *proto = json_object_get(json_object_get(s, "axes"), "proto");
    size_t i;
    json_t *v;
    if (json_is_null(json_object_get(s, "proxy")))
        return 0;
    const char *want = case_proxy_proto(json_object_get(s, "proxy"), err);
    json_array_foreach(proto, i, v) if (want && strcmp(json_string_value(v), want) != 0)
        return tm_yaml_fail(y, tm_yaml_get(y, root, "proxy"), err,
                            "this proxy block is for %s (%s), but axes.proto includes '%s'",
                            want, strcmp(want, "tls") == 0 ? "tcpproxy: at, do"
                                                           : "udpproxy", json_string_value(v));
    return 0;
}

/* steps (contracts §5): as JSON, each item checked by the case validator and
 * refused at its own line. */
static int load_steps(struct tm_yaml *y, yaml_node_t *root, json_t *s, struct tm_err *err)
{
    yaml_node_t *n = tm_yaml_get(y, root, "steps");
    if (n == NULL)
        return 0;
    if (!tm_yaml_is_seq(n) || tm_yaml_seq_len(n) == 0)
        return tm_yaml_fail(y, n, err, "field 'steps': expected a non-empty list");
    json_t *steps = judge_yaml_json(y, n, "steps", err);
    if (steps == NULL)
        return -1;
    json_object_set_new(s, "steps", steps);
    long runs = 0;
    for (size_t i = 0; i < json_array_size(steps); i++) {
        struct case_step st;
        struct tm_err why = { 0 };
        char prefix[32];
        snprintf(prefix, sizeof prefix, "steps[%zu]", i);
        int rc = case_step_build(json_array_get(steps, i), prefix, 0, &st, &runs, &why);
        case_step_free(&st);
        if (rc != 0)
            return tm_yaml_fail(y, tm_yaml_seq_item(y, n, i), err, "%s", why.msg);
    }
    return 0;
}

/* The parsed file as a normalised scenario, or NULL with err set. */
static json_t *from_yaml(struct tm_yaml *y, const char *path, struct tm_err *err)
{
    yaml_node_t *root = tm_yaml_root(y);
    if (tm_yaml_check_keys(y, root, top_keys, err) != 0)
        return NULL;
    json_t *s = json_pack("{s:s}", "file", path);
    if (required_str(y, root, "name", s, err) != 0
        || check_name(y, root, path, json_string_value(json_object_get(s, "name")), err) != 0
        || required_str(y, root, "doc", s, err) != 0)
        goto fail;
    yaml_node_t *tags = tm_yaml_get(y, root, "tags");
    if (set_block(s, "tags", tags ? judge_yaml_strings(y, tags, "tags", err) : json_array()) != 0
        || set_block(s, "device", sl_device(y, tm_yaml_get(y, root, "device"), err)) != 0
        || set_block(s, "peer", sl_peer(y, tm_yaml_get(y, root, "peer"), err)) != 0
        || set_block(s, "proxy", sl_proxy(y, tm_yaml_get(y, root, "proxy"), err)) != 0
        || set_block(s, "axes", sl_axes(y, tm_yaml_get(y, root, "axes"), err)) != 0
        || set_block(s, "expect", sl_expect(y, tm_yaml_get(y, root, "expect"),
                                            json_object_get(s, "axes"), err)) != 0
        || check_proxy(y, root, s, err) != 0 || load_steps(y, root, s, err) != 0)
        goto fail;
    int insecure = 0;
    yaml_node_t *in = tm_yaml_get(y, root, "insecure");
    if (in != NULL && tm_yaml_bool(y, in, "insecure", &insecure, err) != 0)
        goto fail;
    json_object_set_new(s, "insecure", json_boolean(insecure));
    json_t *fx = sl_fixtures(y, root, err);
    if (fx == NULL)
        goto fail;
    json_object_set_new(s, "fixture_lines", fx);
    json_object_set_new(s, "line", json_integer(tm_yaml_line(tm_yaml_get(y, root, "name"))));
    return s;
fail:
    json_decref(s);
    return NULL;
}

static json_t *load_file(const char *path, struct tm_err *err)
{
    struct tm_yaml y;
    if (tm_yaml_load(&y, path, err) != 0) {
        tm_yaml_free(&y);
        return NULL;
    }
    json_t *s = from_yaml(&y, path, err);
    tm_yaml_free(&y);
    return s;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int is_yaml(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".yaml") == 0;
}

/* Every *.yaml directly in dir (not profiles/, which is a sub-directory), in name
 * order so errors come out in a stable order. */
static void load_dir(const char *dir, json_t *out, json_t *errors)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        json_array_append_new(errors, json_sprintf("%s: cannot open directory", dir));
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!is_yaml(e->d_name))
            continue;
        if (n == SCENARIO_FILES_MAX) {
            json_array_append_new(errors, json_sprintf("%s: more than %d scenario files",
                                                       dir, SCENARIO_FILES_MAX));
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *names);
            if (nn == NULL)
                break;
            names = nn;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        char path[2048];
        struct tm_err err = { 0 };
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        json_t *s = load_file(path, &err);
        if (s != NULL)
            json_array_append_new(out, s);
        else
            json_array_append_new(errors, json_string(err.msg));
        free(names[i]);
    }
    free(names);
}

static int by_name(const void *a, const void *b)
{
    const json_t *x = *(const json_t *const *)a, *y = *(const json_t *const *)b;
    return strcmp(json_string_value(json_object_get(x, "name")),
                  json_string_value(json_object_get(y, "name")));
}

/* Sorted by name; the second of two files with one name is an error. */
static json_t *sorted_unique(json_t *all, json_t *errors)
{
    size_t n = json_array_size(all);
    json_t **v = calloc(n ? n : 1, sizeof *v);
    json_t *out = json_array();
    if (v == NULL)
        return out;
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(all, i);
    qsort(v, n, sizeof *v, by_name);
    for (size_t i = 0; i < n; i++) {
        const char *name = json_string_value(json_object_get(v[i], "name"));
        const json_t *prev = json_array_get(out, json_array_size(out) - 1);
        if (prev && !strcmp(name, json_string_value(json_object_get(prev, "name")))) {
            json_array_append_new(errors, json_sprintf(
                "%s:%d: duplicate scenario name '%s' (also in %s)",
                json_string_value(json_object_get(v[i], "file")),
                (int)json_integer_value(json_object_get(v[i], "line")), name,
                json_string_value(json_object_get(prev, "file"))));
            continue;
        }
        json_array_append(out, v[i]);
    }
    free(v);
    return out;
}

json_t *scenario_load_all(const char *const *paths, size_t n, json_t *errors)
{
    json_t *all = json_array();
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) {
            json_array_append_new(errors, json_sprintf("%s: no such file or directory", paths[i]));
        } else if (S_ISDIR(st.st_mode)) {
            load_dir(paths[i], all, errors);
        } else {
            struct tm_err err = { 0 };
            json_t *s = load_file(paths[i], &err);
            if (s != NULL)
                json_array_append_new(all, s);
            else
                json_array_append_new(errors, json_string(err.msg));
        }
    }
    json_t *out = sorted_unique(all, errors);
    json_decref(all);
    return out;
}

/* The file names a fixture manifest lists (contracts §1 "files"), as a set. */
static json_t *manifest_files(const json_t *manifest)
{
    json_t *set = json_object();
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(manifest, "certs"), i, c) {
        const char *k;
        json_t *f;
        json_object_foreach(json_object_get(c, "files"), k, f) if (json_is_string(f))
            json_object_set_new(set, json_string_value(f), json_true());
    }
    return set;
}

/* name with each axis value of s substituted; the first that the set lacks into
 * missing (len bytes). 1 when one is missing. */
static int fixture_missing(const json_t *s, const char *name, const json_t *set, char *missing,
                           size_t len)
{
    const json_t *axes = json_object_get(s, "axes");
    const json_t *l[3];
    for (int ax = 0; ax < 3; ax++)
        l[ax] = json_object_get(axes, sl_axis_names[ax]);
    for (size_t b = 0; b < json_array_size(l[0]); b++)
        for (size_t k = 0; k < json_array_size(l[1]); k++)
            for (size_t p = 0; p < json_array_size(l[2]); p++) {
                const char *v[3] = { json_string_value(json_array_get(l[0], b)),
                                     json_string_value(json_array_get(l[1], k)),
                                     json_string_value(json_array_get(l[2], p)) };
                char *full = v[0] && v[1] && v[2] ? sl_substitute(name, v) : NULL;
                int miss = full == NULL || json_object_get(set, full) == NULL;
                if (miss)
                    snprintf(missing, len, "%s", full ? full : name);
                free(full);
                if (miss)
                    return 1;
            }
    return 0;
}

void scenario_check_fixtures(const json_t *scenarios, const json_t *manifest,
                             const char *where, json_t *errors)
{
    json_t *set = manifest_files(manifest);
    size_t i;
    json_t *s;
    json_array_foreach(scenarios, i, s) {
        const char *name;
        json_t *line;
        json_object_foreach(json_object_get(s, "fixture_lines"), name, line) {
            char missing[512];
            if (!fixture_missing(s, name, set, missing, sizeof missing))
                continue;
            json_array_append_new(errors, json_sprintf(
                "%s:%d: unknown fixture '%s' (%s lists no '%s')",
                json_string_value(json_object_get(s, "file")), (int)json_integer_value(line),
                name, where, missing));
            break;   /* one error per file, as for the other load errors */
        }
    }
    json_decref(set);
}
