/* Device profiles: load one (by name from scenarios/profiles/, or by path) and
 * find the expected-failure entry that covers a case. */
#include "profile/profile.h"

#include <dirent.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "scenario/scenario_internal.h"

static const char *const top_keys[] = { "name", "doc", "match", "device", "xfail", NULL };
/* What a profile says it describes, each key against one field of the hello
 * (docs/contracts.md §3): impl = impl.name, machine = impl.machine (glob),
 * mbedtls = mbedtls (glob), pem = caps.pem. */
static const char *const match_keys[] = { "impl", "machine", "mbedtls", "pem", NULL };
static const char *const device_keys[] = { "pem", "clock_unset", "tls13", NULL };
static const char *const xfail_keys[] = { "case", "reason", "ref", NULL };

/* A bare name is looked up in the source tree; anything with a '/' or a .yaml
 * ending is a path, so `--profile ./mine.yaml` works from anywhere. */
int profile_is_path(const char *name_or_path)
{
    size_t n = strlen(name_or_path);
    return strchr(name_or_path, '/') != NULL || (n > 5 && !strcmp(name_or_path + n - 5, ".yaml"));
}

static void resolve(const char *name_or_path, char *out, size_t len)
{
    if (profile_is_path(name_or_path))
        snprintf(out, len, "%s", name_or_path);
    else
        snprintf(out, len, "%s/scenarios/profiles/%s.yaml", TM_SOURCE_DIR, name_or_path);
}

static int str_field(struct tm_yaml *y, yaml_node_t *map, const char *key, int required,
                     json_t *out, struct tm_err *err)
{
    yaml_node_t *n = tm_yaml_get(y, map, key);
    if (n == NULL)
        return required ? tm_yaml_fail(y, map, err, "missing field '%s'", key) : 0;
    const char *s = tm_yaml_str(y, n, key, err);
    if (s == NULL)
        return -1;
    if (required && *s == '\0')
        return tm_yaml_fail(y, n, err, "field '%s' is empty", key);
    /* A folded block (`reason: >`) ends in a newline; reports print one line. */
    size_t len = strlen(s);
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == ' '))
        len--;
    return json_object_set_new(out, key, json_stringn(s, len));
}

static json_t *device_block(struct tm_yaml *y, yaml_node_t *n, struct tm_err *err)
{
    json_t *d = json_object();
    if (n == NULL)
        return d;
    if (tm_yaml_check_keys(y, n, device_keys, err) != 0
        || str_field(y, n, "clock_unset", 0, d, err) != 0)
        goto fail;
    for (int i = 0; i < 2; i++) {
        const char *k = i ? "tls13" : "pem";
        yaml_node_t *v = tm_yaml_get(y, n, k);
        int b = 0;
        if (v == NULL)
            continue;
        if (tm_yaml_bool(y, v, k, &b, err) != 0)
            goto fail;
        json_object_set_new(d, k, json_boolean(b));
    }
    return d;
fail:
    json_decref(d);
    return NULL;
}

static json_t *match_block(struct tm_yaml *y, yaml_node_t *n, struct tm_err *err)
{
    json_t *m = json_object();
    if (n == NULL)
        return m;
    if (tm_yaml_check_keys(y, n, match_keys, err) != 0)
        goto fail;
    for (int i = 0; i < 3; i++)
        if (str_field(y, n, match_keys[i], 0, m, err) != 0)
            goto fail;
    yaml_node_t *v = tm_yaml_get(y, n, "pem");
    int b = 0;
    if (v != NULL) {
        if (tm_yaml_bool(y, v, "pem", &b, err) != 0)
            goto fail;
        json_object_set_new(m, "pem", json_boolean(b));
    }
    return m;
fail:
    json_decref(m);
    return NULL;
}

/* Why a case glob can match no case id, or NULL. fnmatch takes an unclosed '['
 * as a literal '[', which no case id holds, so `[[[` would silently match nothing. */
static const char *glob_problem(const char *g)
{
    for (const char *p = g; *p; p++) {
        if (*p == '\\' && *++p == '\0')
            return "ends in a lone '\\'";
        if (*p != '[')
            continue;
        const char *q = p + 1;
        if (*q == '!' || *q == '^')
            q++;
        if (*q == ']')   /* a ']' first in the set is a member, not the end */
            q++;
        while (*q && *q != ']')
            q++;
        if (*q == '\0')
            return "'[' without a closing ']' (the glob would match no case)";
        p = q;
    }
    if (strspn(g, "abcdefghijklmnopqrstuvwxyz0123456789-_.+/*?[]!^\\") != strlen(g))
        return "a character no case id holds (ids are lower case, digits, -_.+/)";
    return NULL;
}

static json_t *xfail_list(struct tm_yaml *y, yaml_node_t *n, struct tm_err *err)
{
    json_t *a = json_array();
    if (n == NULL)
        return a;
    if (!tm_yaml_is_seq(n)) {
        tm_yaml_fail(y, n, err, "field 'xfail': expected a list of {case, reason, ref}");
        goto fail;
    }
    for (size_t i = 0; i < tm_yaml_seq_len(n); i++) {
        yaml_node_t *it = tm_yaml_seq_item(y, n, i);
        json_t *e = json_object();
        json_array_append_new(a, e);
        if (tm_yaml_check_keys(y, it, xfail_keys, err) != 0
            || str_field(y, it, "case", 1, e, err) != 0
            || str_field(y, it, "reason", 1, e, err) != 0 || str_field(y, it, "ref", 0, e, err) != 0)
            goto fail;
        const char *why = glob_problem(json_string_value(json_object_get(e, "case")));
        if (why != NULL) {
            tm_yaml_fail(y, tm_yaml_get(y, it, "case"), err, "xfail case '%s': %s",
                         json_string_value(json_object_get(e, "case")), why);
            goto fail;
        }
        if (json_object_get(e, "ref") == NULL)
            json_object_set_new(e, "ref", json_null());
        json_object_set_new(e, "line", json_integer(tm_yaml_line(it)));
    }
    return a;
fail:
    json_decref(a);
    return NULL;
}

static json_t *from_yaml(struct tm_yaml *y, const char *path, struct tm_err *err)
{
    yaml_node_t *root = tm_yaml_root(y);
    if (tm_yaml_check_keys(y, root, top_keys, err) != 0)
        return NULL;
    json_t *p = json_pack("{s:s}", "file", path), *v;
    if (str_field(y, root, "name", 1, p, err) != 0 || str_field(y, root, "doc", 1, p, err) != 0)
        goto fail;
    const char *name = json_string_value(json_object_get(p, "name"));
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t nl = strlen(name);
    if (strncmp(base, name, nl) != 0 || strcmp(base + nl, ".yaml") != 0) {
        tm_yaml_fail(y, tm_yaml_get(y, root, "name"), err,
                     "name '%s' does not match the file name %s", name, base);
        goto fail;
    }
    if ((v = match_block(y, tm_yaml_get(y, root, "match"), err)) == NULL)
        goto fail;
    json_object_set_new(p, "match", v);
    if ((v = device_block(y, tm_yaml_get(y, root, "device"), err)) == NULL)
        goto fail;
    json_object_set_new(p, "device", v);
    if ((v = xfail_list(y, tm_yaml_get(y, root, "xfail"), err)) == NULL)
        goto fail;
    json_object_set_new(p, "xfail", v);
    return p;
fail:
    json_decref(p);
    return NULL;
}

json_t *profile_load(const char *name_or_path, struct tm_err *err)
{
    char path[1200];
    struct tm_yaml y;
    resolve(name_or_path, path, sizeof path);
    if (tm_yaml_load(&y, path, err) != 0) {
        tm_yaml_free(&y);
        return tm_err_prefix(err, "profile %s", name_or_path), NULL;
    }
    json_t *p = from_yaml(&y, path, err);
    tm_yaml_free(&y);
    return p;
}

const json_t *profile_xfail_for(const json_t *profile, const char *case_id)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(profile, "xfail"), i, e) {
        const char *glob = json_string_value(json_object_get(e, "case"));
        /* As --filter: `*` crosses the '/' between the parts of a case id. */
        if (glob != NULL && fnmatch(glob, case_id, 0) == 0)
            return e;
    }
    return NULL;
}

static const char *hello_field(const json_t *hello, const char *key)
{
    if (strcmp(key, "impl") == 0)
        return json_string_value(json_object_get(json_object_get(hello, "impl"), "name"));
    if (strcmp(key, "machine") == 0)
        return json_string_value(json_object_get(json_object_get(hello, "impl"), "machine"));
    return json_string_value(json_object_get(hello, key));
}

int profile_match_score(const json_t *profile, const json_t *hello)
{
    const json_t *m = json_object_get(profile, "match");
    if (json_object_size(m) == 0)
        return -1;   /* a profile without a match block is chosen by name only */
    int score = 0;
    for (int i = 0; i < 3; i++) {
        const char *want = json_string_value(json_object_get(m, match_keys[i]));
        if (want == NULL)
            continue;
        const char *have = hello_field(hello, match_keys[i]);
        /* impl is a name, the others globs (a firmware names its board and its
         * library version in its own words). */
        if (have == NULL || (i == 0 ? strcmp(want, have) : fnmatch(want, have, 0)) != 0)
            return -1;
        score++;
    }
    const json_t *pem = json_object_get(m, "pem");
    if (pem != NULL) {
        const json_t *have = json_object_get(json_object_get(hello, "caps"), "pem");
        if (!json_is_boolean(have) || json_boolean_value(have) != json_boolean_value(pem))
            return -1;
        score++;
    }
    return score;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_yaml(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return d->d_name[0] != '.' && n > 5 && strcmp(d->d_name + n - 5, ".yaml") == 0;
}

/* One line naming what the hello says, for the error when nothing fits. */
static void describe_hello(const json_t *hello, char *out, size_t len)
{
    const json_t *pem = json_object_get(json_object_get(hello, "caps"), "pem");
    snprintf(out, len, "impl %s, machine '%s', mbedtls '%s', pem %s",
             hello_field(hello, "impl") ?: "?", hello_field(hello, "machine") ?: "?",
             hello_field(hello, "mbedtls") ?: "?",
             json_is_boolean(pem) ? (json_is_true(pem) ? "true" : "false") : "unknown");
}

json_t *profile_for_hello(const char *dir, const json_t *hello, struct tm_err *err)
{
    char def[1100], path[1400], what[600];
    if (dir == NULL) {
        snprintf(def, sizeof def, "%s/scenarios/profiles", TM_SOURCE_DIR);
        dir = def;
    }
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, is_yaml, by_name);
    if (n < 0)
        return tm_err_set(err, "profiles %s: cannot read the directory", dir), NULL;
    json_t *best = NULL;
    int best_score = -1, tie = 0;
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, ents[i]->d_name);
        json_t *p = profile_load(path, err);
        int score = p != NULL ? profile_match_score(p, hello) : -1;
        if (p == NULL) {   /* a broken profile file is an error, not a miss */
            json_decref(best);
            best = NULL;
            best_score = -2;
            break;
        }
        if (score > best_score) {
            json_decref(best);
            best = p;
            best_score = score;
            tie = 0;
        } else {
            tie |= score >= 0 && score == best_score;
            json_decref(p);
        }
    }
    for (int i = 0; i < n; i++)
        free(ents[i]);
    free(ents);
    if (best_score == -2)
        return NULL;
    describe_hello(hello, what, sizeof what);
    if (best == NULL)
        return tm_err_set(err, "no profile in %s matches the device (%s); name one with "
                               "--profile", dir, what), NULL;
    if (tie) {
        json_decref(best);
        return tm_err_set(err, "two profiles in %s match the device equally (%s); name one "
                               "with --profile", dir, what), NULL;
    }
    return best;
}
