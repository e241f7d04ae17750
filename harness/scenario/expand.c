/* Scenarios → cases: the axis product, placeholder substitution, `expect.when`
 * overrides; and the selection helpers (filter, shard, seeded order). */
#include "scenario/scenario.h"

#include <fnmatch.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scenario_load.h"

struct axes_pick {
    const char *v[3];   /* backend, keytype, proto (sl_axis_names order) */
};

/* s with {kt}, {backend}, {proto} replaced; other braces are left alone. */
static char *substitute(const char *s, const struct axes_pick *p)
{
    static const char *const keys[] = { "{backend}", "{kt}", "{proto}" };
    static const int slot[] = { 0, 1, 2 };
    size_t cap = strlen(s) + 1;
    for (const char *c = s; *c; c++)
        if (*c == '{')
            cap += 16;   /* longest value (rsa2048, openssl) fits in 16 */
    char *out = malloc(cap), *o = out;
    if (out == NULL)
        return NULL;
    while (*s) {
        int hit = 0;
        for (int k = 0; k < 3 && !hit; k++) {
            size_t kl = strlen(keys[k]);
            if (strncmp(s, keys[k], kl) == 0) {
                size_t vl = strlen(p->v[slot[k]]);
                memcpy(o, p->v[slot[k]], vl);
                o += vl;
                s += kl;
                hit = 1;
            }
        }
        if (!hit)
            *o++ = *s++;
    }
    *o = '\0';
    return out;
}

/* A deep copy of v with every string substituted. */
static json_t *subst_json(const json_t *v, const struct axes_pick *p)
{
    if (json_is_string(v)) {
        char *s = substitute(json_string_value(v), p);
        json_t *r = s ? json_string(s) : NULL;
        free(s);
        return r;
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *it;
        json_array_foreach(v, i, it) json_array_append_new(a, subst_json(it, p));
        return a;
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        json_t *it;
        json_object_foreach((json_t *)v, k, it) json_object_set_new(o, k, subst_json(it, p));
        return o;
    }
    return json_deep_copy(v);
}

static int when_applies(const json_t *match, const struct axes_pick *p)
{
    for (int ax = 0; sl_axis_names[ax]; ax++) {
        const json_t *vals = json_object_get(match, sl_axis_names[ax]);
        if (vals == NULL)
            continue;
        int any = 0;
        size_t i;
        json_t *v;
        json_array_foreach(vals, i, v) any |= strcmp(json_string_value(v), p->v[ax]) == 0;
        if (!any)
            return 0;
    }
    return 1;
}

/* expect.device/peer, with the first matching `when` item's overrides. */
static json_t *expected_for(const json_t *expect, const struct axes_pick *p)
{
    const json_t *dev = json_object_get(expect, "device"), *peer = json_object_get(expect, "peer");
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(expect, "when"), i, w) {
        if (!when_applies(json_object_get(w, "match"), p))
            continue;
        if (json_object_get(w, "device"))
            dev = json_object_get(w, "device");
        if (json_object_get(w, "peer"))
            peer = json_object_get(w, "peer");
        break;
    }
    json_t *e = json_pack("{s:O, s:O}", "device", dev, "peer", peer);
    json_t *r = subst_json(e, p);
    json_decref(e);
    return r;
}

static json_t *one_case(const json_t *s, const struct axes_pick *p)
{
    const char *name = json_string_value(json_object_get(s, "name"));
    json_t *axes = json_pack("{s:s, s:s, s:s}", "backend", p->v[0], "keytype", p->v[1],
                             "proto", p->v[2]);
    json_t *c = json_pack("{s:s++++++, s:O, s:O, s:o, s:O, s:o}", "id", name, "/", p->v[0], "/",
                          p->v[1], "/", p->v[2], "scenario", json_object_get(s, "name"), "file",
                          json_object_get(s, "file"), "doc", subst_json(json_object_get(s, "doc"), p),
                          "insecure", json_object_get(s, "insecure"), "axes", axes);
    if (c == NULL)
        return NULL;
    json_object_set_new(c, "tags", subst_json(json_object_get(s, "tags"), p));
    json_object_set_new(c, "device", subst_json(json_object_get(s, "device"), p));
    json_object_set_new(c, "peer", subst_json(json_object_get(s, "peer"), p));
    json_object_set_new(c, "proxy", subst_json(json_object_get(s, "proxy"), p));
    json_object_set_new(c, "expected", expected_for(json_object_get(s, "expect"), p));
    return c;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(const json_t *const *)a, "id")),
                  json_string_value(json_object_get(*(const json_t *const *)b, "id")));
}

static json_t *sorted_by_id(json_t *cases)
{
    size_t n = json_array_size(cases);
    json_t **v = calloc(n ? n : 1, sizeof *v);
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(cases, i);
    qsort(v, n, sizeof *v, by_id);
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append(out, v[i]);
    free(v);
    return out;
}

json_t *scenario_expand(const json_t *scenarios, struct tm_err *err)
{
    json_t *all = json_array();
    size_t i;
    json_t *s;
    json_array_foreach(scenarios, i, s) {
        const json_t *axes = json_object_get(s, "axes");
        const json_t *b = json_object_get(axes, "backend"), *k = json_object_get(axes, "keytype"),
                     *pr = json_object_get(axes, "proto");
        for (size_t ib = 0; ib < json_array_size(b); ib++)
            for (size_t ik = 0; ik < json_array_size(k); ik++)
                for (size_t ip = 0; ip < json_array_size(pr); ip++) {
                    struct axes_pick p = { { json_string_value(json_array_get(b, ib)),
                                             json_string_value(json_array_get(k, ik)),
                                             json_string_value(json_array_get(pr, ip)) } };
                    json_t *c = p.v[0] && p.v[1] && p.v[2] ? one_case(s, &p) : NULL;
                    if (c == NULL) {
                        json_decref(all);
                        tm_err_set(err, "%s: cannot expand (axes must be lists of names)",
                                   json_string_value(json_object_get(s, "file")));
                        return NULL;
                    }
                    json_array_append_new(all, c);
                }
    }
    json_t *out = sorted_by_id(all);
    json_decref(all);
    if (out == NULL)
        tm_err_set(err, "out of memory expanding cases");
    return out;
}

int scenario_filter_match(const char *glob, const char *case_id)
{
    if (glob == NULL || *glob == '\0')
        return 1;
    /* No FNM_PATHNAME: `*` crosses the `/` between id parts, so "client-*"
     * selects every backend, key type and protocol of those scenarios. */
    return fnmatch(glob, case_id, 0) == 0;
}

int scenario_in_shard(const char *case_id, int k, int n)
{
    if (n <= 1)
        return 1;
    uint32_t h = 2166136261u;
    for (const unsigned char *c = (const unsigned char *)case_id; *c; c++) {
        h ^= *c;
        h *= 16777619u;
    }
    return (int)(h % (uint32_t)n) == k - 1;
}

/* splitmix64: a fixed, portable generator, so a seed means the same order on
 * every machine and libc (rand() would not). */
static uint64_t next_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void scenario_order(json_t *cases, unsigned long seed)
{
    size_t n = json_array_size(cases);
    if (seed == 0 || n < 2)
        return;
    uint64_t st = seed;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(next_rand(&st) % (i + 1));
        if (j == i)
            continue;
        json_t *a = json_incref(json_array_get(cases, i));
        json_t *b = json_incref(json_array_get(cases, j));
        json_array_set_new(cases, i, b);
        json_array_set_new(cases, j, a);
    }
}
