/* Scenarios → cases: the axis product, placeholder substitution, `expect.when`
 * overrides; and the selection helpers (filter, shard, seeded order). */
#include "scenario/scenario.h"

#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scenario_load.h"

struct axes_pick {
    const char *v[3];   /* backend, keytype, proto (sl_axis_names order) */
};

/* s with {kt}, {backend}, {proto} replaced; other braces are left alone. */
char *sl_substitute(const char *s, const char *const v[3])
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
                size_t vl = strlen(v[slot[k]]);
                memcpy(o, v[slot[k]], vl);
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
        char *s = sl_substitute(json_string_value(v), p->v);
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
    json_t *e = json_pack("{s:O, s:O, s:O*}", "device", dev, "peer", peer,
                          "trend", json_object_get(expect, "trend"));
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
    if (json_object_get(s, "steps") != NULL)
        json_object_set_new(c, "steps", subst_json(json_object_get(s, "steps"), p));
    return c;
}

/* The axis value lists of a scenario (sl_axis_names order). */
static void axis_lists(const json_t *s, const json_t *lists[3])
{
    const json_t *axes = json_object_get(s, "axes");
    for (int ax = 0; ax < 3; ax++)
        lists[ax] = json_object_get(axes, sl_axis_names[ax]);
}

/* The axis values of a reference; 0 when one is missing or not a string. */
static int pick_of(const json_t *scenarios, const struct scenario_ref *r, struct axes_pick *p)
{
    const json_t *lists[3];
    axis_lists(json_array_get(scenarios, r->scenario), lists);
    for (int ax = 0; ax < 3; ax++) {
        p->v[ax] = json_string_value(json_array_get(lists[ax], r->axis[ax]));
        if (p->v[ax] == NULL)
            return 0;
    }
    return 1;
}

const char *scenario_ref_id(const json_t *scenarios, const struct scenario_ref *r, char *buf,
                            size_t len)
{
    struct axes_pick p;
    const char *name = json_string_value(json_object_get(json_array_get(scenarios, r->scenario),
                                                         "name"));
    if (len == 0)
        return NULL;
    buf[0] = '\0';
    if (name == NULL || !pick_of(scenarios, r, &p))
        return NULL;
    int w = snprintf(buf, len, "%s/%s/%s/%s", name, p.v[0], p.v[1], p.v[2]);
    if (w < 0 || (size_t)w >= len) {
        buf[0] = '\0';
        return NULL;
    }
    return buf;
}

json_t *scenario_ref_case(const json_t *scenarios, const struct scenario_ref *r)
{
    struct axes_pick p;
    if (!pick_of(scenarios, r, &p))
        return NULL;
    return one_case(json_array_get(scenarios, r->scenario), &p);
}

/* A reference with the id it sorts by, while the references are built. */
struct keyed_ref {
    char *id;
    struct scenario_ref r;
};

static int by_id(const void *a, const void *b)
{
    return strcmp(((const struct keyed_ref *)a)->id, ((const struct keyed_ref *)b)->id);
}

/* Appends every case of scenario si to *v (growing it); -1 on a bad axis list
 * (err set) or out of memory. Each case is built once, checked by the case
 * validator and dropped, so a scenario that cannot expand fails here and not
 * later when a worker needs the case. */
static int refs_of_scenario(const json_t *scenarios, size_t si, struct keyed_ref **v, size_t *n,
                            size_t *cap, struct tm_err *err)
{
    const json_t *s = json_array_get(scenarios, si), *lists[3];
    axis_lists(s, lists);
    size_t nb = json_array_size(lists[0]), nk = json_array_size(lists[1]),
           np = json_array_size(lists[2]);
    if (si > UINT_MAX || nb > USHRT_MAX || nk > USHRT_MAX || np > USHRT_MAX)
        return tm_err_set(err, "%s: too many axis values", json_string_value(json_object_get(s, "file")));
    for (size_t ib = 0; ib < nb; ib++)
        for (size_t ik = 0; ik < nk; ik++)
            for (size_t ip = 0; ip < np; ip++) {
                struct scenario_ref r = { (unsigned)si, { (unsigned short)ib, (unsigned short)ik,
                                                          (unsigned short)ip } };
                char id[1024];
                json_t *c = scenario_ref_case(scenarios, &r);
                struct tm_case typed;
                int bad = c != NULL && case_build(c, &typed, err) != 0;
                json_decref(c);
                case_free(&typed);
                if (bad)   /* the loader checked each field; this is the whole case */
                    return tm_err_prefix(err, "%s: case %s", json_string_value(json_object_get(s, "file")),
                                         scenario_ref_id(scenarios, &r, id, sizeof id) ? id : "?");
                if (c == NULL || scenario_ref_id(scenarios, &r, id, sizeof id) == NULL)
                    return tm_err_set(err, "%s: cannot expand (axes must be lists of names)",
                                      json_string_value(json_object_get(s, "file")));
                if (*n == *cap) {
                    size_t ncap = *cap * 2 + 64;
                    struct keyed_ref *nv = realloc(*v, ncap * sizeof *nv);
                    if (nv == NULL)
                        return tm_err_set(err, "out of memory expanding cases");
                    *v = nv;
                    *cap = ncap;
                }
                (*v)[*n].id = strdup(id);
                if ((*v)[*n].id == NULL)
                    return tm_err_set(err, "out of memory expanding cases");
                (*v)[(*n)++].r = r;
            }
    return 0;
}

struct scenario_ref *scenario_refs(const json_t *scenarios, size_t *count, struct tm_err *err)
{
    struct keyed_ref *v = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    *count = 0;
    for (size_t si = 0; rc == 0 && si < json_array_size(scenarios); si++)
        rc = refs_of_scenario(scenarios, si, &v, &n, &cap, err);
    struct scenario_ref *out = rc == 0 ? malloc((n ? n : 1) * sizeof *out) : NULL;
    if (rc == 0 && out == NULL)
        tm_err_set(err, "out of memory expanding cases");
    if (out != NULL) {
        if (n > 1)   /* v is NULL when there are no cases: qsort wants an array */
            qsort(v, n, sizeof *v, by_id);
        for (size_t i = 0; i < n; i++)
            out[i] = v[i].r;
        *count = n;
    }
    for (size_t i = 0; i < n; i++)
        free(v[i].id);
    free(v);
    return out;
}

json_t *scenario_expand(const json_t *scenarios, struct tm_err *err)
{
    size_t n;
    struct scenario_ref *refs = scenario_refs(scenarios, &n, err);
    if (refs == NULL)
        return NULL;
    json_t *out = json_array();
    for (size_t i = 0; out != NULL && i < n; i++) {
        json_t *c = scenario_ref_case(scenarios, &refs[i]);
        if (c == NULL || json_array_append_new(out, c) != 0) {
            json_decref(out);
            out = NULL;
        }
    }
    free(refs);
    if (out == NULL)
        tm_err_set(err, "out of memory expanding cases");
    return out;
}

/* The index of the string value v in list, or -1. */
static long index_of(const json_t *list, const char *v)
{
    size_t i;
    json_t *it;
    json_array_foreach(list, i, it) if (json_is_string(it) && strcmp(json_string_value(it), v) == 0)
        return (long)i;
    return -1;
}

/* Splits "NAME/BACKEND/KT/PROTO" at its last three slashes (names may hold more). */
static int split_id(const char *id, char *name, size_t len, const char *vals[3])
{
    const char *cut[3];
    const char *end = id + strlen(id);
    for (int k = 2; k >= 0; k--) {
        while (end > id && end[-1] != '/')
            end--;
        if (end == id)
            return -1;
        cut[k] = --end;
    }
    if ((size_t)(cut[0] - id) >= len)
        return -1;
    memcpy(name, id, (size_t)(cut[0] - id));
    name[cut[0] - id] = '\0';
    for (int k = 0; k < 3; k++)
        vals[k] = cut[k] + 1;
    return 0;
}

json_t *scenario_expand_one(const json_t *scenarios, const char *case_id, struct tm_err *err)
{
    char name[1024], val[3][64];
    const char *vals[3];
    if (split_id(case_id, name, sizeof name, vals) != 0) {
        tm_err_set(err, "%s: not a case id (NAME/BACKEND/KEYTYPE/PROTO)", case_id);
        return NULL;
    }
    for (int k = 0; k < 3; k++) {   /* each value ends at the next slash */
        size_t l = strcspn(vals[k], "/");
        if (l >= sizeof val[k]) {
            tm_err_set(err, "%s: axis value too long", case_id);
            return NULL;
        }
        memcpy(val[k], vals[k], l);
        val[k][l] = '\0';
    }
    size_t si;
    json_t *s;
    json_array_foreach(scenarios, si, s) {
        const char *sn = json_string_value(json_object_get(s, "name"));
        if (sn == NULL || strcmp(sn, name) != 0)
            continue;
        const json_t *lists[3];
        axis_lists(s, lists);
        long ix[3];
        for (int k = 0; k < 3; k++)
            ix[k] = index_of(lists[k], val[k]);
        if (ix[0] < 0 || ix[1] < 0 || ix[2] < 0 || ix[0] > USHRT_MAX || ix[1] > USHRT_MAX ||
            ix[2] > USHRT_MAX || si > UINT_MAX)
            break;
        struct scenario_ref r = { (unsigned)si, { (unsigned short)ix[0], (unsigned short)ix[1],
                                                  (unsigned short)ix[2] } };
        json_t *c = scenario_ref_case(scenarios, &r);
        if (c == NULL)
            tm_err_set(err, "%s: cannot expand", case_id);
        return c;
    }
    tm_err_set(err, "%s: no scenario makes this case", case_id);
    return NULL;
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

/* The seeded Fisher-Yates shuffle of n items, one swap(i, j) at a time, shared by
 * the case arrays and the references so both give the same order for a seed. */
static void shuffle(size_t n, unsigned long seed, void (*swap)(void *, size_t, size_t), void *ctx)
{
    if (seed == 0 || n < 2)
        return;
    uint64_t st = seed;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(next_rand(&st) % (i + 1));
        if (j != i)
            swap(ctx, i, j);
    }
}

static void swap_json(void *ctx, size_t i, size_t j)
{
    json_t *cases = ctx;
    json_t *a = json_incref(json_array_get(cases, i));
    json_t *b = json_incref(json_array_get(cases, j));
    json_array_set_new(cases, i, b);
    json_array_set_new(cases, j, a);
}

static void swap_ref(void *ctx, size_t i, size_t j)
{
    struct scenario_ref *v = ctx, t = v[i];
    v[i] = v[j];
    v[j] = t;
}

void scenario_order(json_t *cases, unsigned long seed)
{
    shuffle(json_array_size(cases), seed, swap_json, cases);
}

void scenario_order_refs(struct scenario_ref *refs, size_t n, unsigned long seed)
{
    shuffle(n, seed, swap_ref, refs);
}
