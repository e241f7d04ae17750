/* case_build: the one validator from a case's JSON to struct tm_case. Every
 * message names the field, in the words the scenario loader uses after FILE:LINE,
 * and every error has code TM_E_INPUT. */
#include "case/case.h"

#include "../../peers/tlspeer/peer_flags.h"

#include <stdlib.h>
#include <string.h>

#include "tm_time.h"

static const char *const roles[] = { "client", "server" };
static const char *const layers[] = { "tls", "ssl" };
static const char *const verifies[] = { "default", "none", "optional", "required" };
static const char *const clocks[] = { "reference", "unset", "keep", "now" };
static const char *const backends[] = { "openssl", "gnutls" };
static const char *const protos[] = { "tls", "dtls" };
const struct case_names case_role_names = { "role", roles, 2 };
const struct case_names case_layer_names = { "layer", layers, 2 };
const struct case_names case_verify_names = { "verify", verifies, 4 };
const struct case_names case_clock_names = { "clock", clocks, 4 };
const struct case_names case_backend_names = { "backend", backends, 2 };
const struct case_names case_proto_names = { "proto", protos, 2 };

/* Keys a peer block may set besides tlspeer's flags: the file lists and the
 * verbatim args. */
static const char *const peer_file_keys[] = { "cert", "key", "ca", "args", NULL };

/* tlspeer's flag table: which flags a scenario may set by key. */
static const struct {
    const char *name;
    int key;
} tlspeer_flags[] = {
#define X_KEY(id, name, arg, kind, field, min, max, key, help) { name, key },
    PEER_FLAGS(X_KEY)
#undef X_KEY
};

/* "max_version" names the flag "max-version". */
static int key_names_flag(const char *key, const char *flag)
{
    for (; *key && *flag; key++, flag++)
        if (*key == '-' || (*key != *flag && !(*key == '_' && *flag == '-')))
            return 0;   /* keys spell '-' as '_', as YAML keys do */
    return *key == *flag;
}

int case_peer_key_check(const char *key, struct tm_err *err)
{
    char list[1024] = "";
    size_t used = 0;
    for (size_t i = 0; peer_file_keys[i]; i++) {
        if (strcmp(key, peer_file_keys[i]) == 0)
            return 0;
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                 peer_file_keys[i]);
    }
    for (size_t i = 0; i < sizeof tlspeer_flags / sizeof tlspeer_flags[0]; i++) {
        if (!tlspeer_flags[i].key)
            continue;
        if (key_names_flag(key, tlspeer_flags[i].name))
            return 0;
        used += (size_t)snprintf(list + used, sizeof list - used, ", %s", tlspeer_flags[i].name);
        for (char *c = strchr(list, '-'); c != NULL; c = strchr(c, '-'))
            *c = '_';   /* the key spelling */
        if (used >= sizeof list)
            break;
    }
    return tm_err_setc(err, TM_E_INPUT, "peer: unknown key '%s' (%s)", key, list);
}
int case_enum_parse(const struct case_names *t, const char *s, struct tm_err *err)
{
    char list[256] = "";
    size_t used = 0;
    for (int i = 0; i < t->n; i++) {
        if (s != NULL && strcmp(t->names[i], s) == 0)
            return i;
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                 t->names[i]);
    }
    tm_err_setc(err, TM_E_INPUT, "field '%s': '%s' is not one of %s", t->field, s ? s : "",
                list);
    return -1;
}

const char *case_enum_name(const struct case_names *t, int v)
{
    return v >= 0 && v < t->n ? t->names[v] : NULL;
}

static char *dup_or_null(const json_t *v)
{
    return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

/* A JSON field that must be absent, null or a string. */
static int opt_str(const json_t *o, const char *key, const char *where, char **out,
                   struct tm_err *err)
{
    const json_t *v = json_object_get(o, key);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return tm_err_setc(err, TM_E_INPUT, "%s%s: expected a string", where, key);
    *out = strdup(json_string_value(v));
    return 0;
}

/* An enum field: absent means dflt. */
static int opt_enum(const json_t *o, const char *key, const struct case_names *t, int dflt,
                    int *out, struct tm_err *err)
{
    const json_t *v = json_object_get(o, key);
    if (v == NULL) {
        *out = dflt;
        return 0;
    }
    *out = case_enum_parse(t, json_string_value(v), err);
    return *out < 0 ? -1 : 0;
}

/* A scalar or a list of strings (`x: a` == `x: [a]`). */
static int str_list(const json_t *v, const char *field, char ***out, size_t *n,
                    struct tm_err *err)
{
    size_t cnt = json_is_array(v) ? json_array_size(v) : 1;
    *out = NULL;
    *n = 0;
    char **a = calloc(cnt ? cnt : 1, sizeof *a);
    if (a == NULL)
        return tm_err_setc(err, TM_E_NOMEM, "%s: out of memory", field);
    *out = a;
    for (size_t i = 0; i < cnt; i++) {
        const json_t *it = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_string(it))
            return tm_err_setc(err, TM_E_INPUT, "%s[%zu]: expected a string", field, i);
        a[(*n)++] = strdup(json_string_value(it));
    }
    return 0;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int source(const json_t *v, const char *field, struct case_source *out,
                  struct tm_err *err)
{
    static const char *const kinds[] = { NULL, "b64", "str", "file" };
    if (json_is_string(v)) {
        out->kind = CASE_SRC_FIXTURE;
        out->value = strdup(json_string_value(v));
        return 0;
    }
    for (int k = 1; k < 4 && json_is_object(v) && json_object_size(v) == 1; k++) {
        const json_t *s = json_object_get(v, kinds[k]);
        if (json_is_string(s)) {
            out->kind = (enum case_source_kind)k;
            out->value = strdup(json_string_value(s));
            return 0;
        }
    }
    return tm_err_setc(err, TM_E_INPUT, "field '%s': expected a fixture name or one of {b64: …}, "
                       "{str: …}, {file: …}", field);
}

static int device_ca(const json_t *d, struct case_device *dev, struct tm_err *err)
{
    const json_t *ca = json_object_get(d, "ca");
    if (ca == NULL || json_is_null(ca))
        return 0;
    size_t n = json_is_array(ca) ? json_array_size(ca) : 1;
    dev->has_ca = 1;
    dev->ca = calloc(n ? n : 1, sizeof *dev->ca);
    if (dev->ca == NULL)
        return tm_err_setc(err, TM_E_NOMEM, "device.ca: out of memory");
    for (size_t i = 0; i < n; i++, dev->nca++)
        if (source(json_is_array(ca) ? json_array_get(ca, i) : ca, "ca", &dev->ca[i], err) != 0)
            return -1;
    return 0;
}

static int device_chain(const json_t *d, struct case_device *dev, struct tm_err *err)
{
    const json_t *ch = json_object_get(d, "chain");
    if (ch == NULL || json_is_null(ch))
        return 0;
    if (!json_is_array(ch))
        return tm_err_setc(err, TM_E_INPUT, "field 'chain': expected a list of {cert: …, key: …}");
    dev->chain = calloc(json_array_size(ch) + 1, sizeof *dev->chain);
    if (dev->chain == NULL)
        return tm_err_setc(err, TM_E_NOMEM, "device.chain: out of memory");
    size_t i;
    const json_t *it;
    json_array_foreach(ch, i, it) {
        struct case_chain_item *c = &dev->chain[dev->nchain++];
        if (json_object_get(it, "cert") == NULL)
            return tm_err_setc(err, TM_E_INPUT, "field 'chain': item without 'cert'");
        if (source(json_object_get(it, "cert"), "cert", &c->cert, err) != 0
            || (json_object_get(it, "key") != NULL
                && source(json_object_get(it, "key"), "key", &c->key, err) != 0))
            return -1;
    }
    return 0;
}

int case_heap_free_check(long long v, struct tm_err *err)
{
    if (v < 1 || v > CASE_HEAP_FREE_MAX)
        return tm_err_setc(err, TM_E_INPUT, "field 'heap_free': expected the bytes of heap "
                           "left free for the operation, a whole number from 1 to %ld",
                           CASE_HEAP_FREE_MAX);
    return 0;
}

static int device_heap_free(const json_t *d, struct case_device *dev, struct tm_err *err)
{
    const json_t *v = json_object_get(d, "heap_free");
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return case_heap_free_check(-1, err);
    if (case_heap_free_check(json_integer_value(v), err) != 0)
        return -1;
    dev->heap_free = (long)json_integer_value(v);
    return 0;
}

/* clock: one of the names, or an ISO-8601 UTC time (CASE_CLOCK_AT). */
static int device_clock(const json_t *d, struct case_device *dev, struct tm_err *err)
{
    const char *s = json_string_value(json_object_get(d, "clock"));
    int clock = CASE_CLOCK_REFERENCE;
    if (json_object_get(d, "clock") == NULL)
        return dev->clock = CASE_CLOCK_REFERENCE, 0;
    if (s != NULL && s[0] >= '0' && s[0] <= '9') {
        if (tm_parse_utc(s, &dev->clock_at) != 0)
            return tm_err_setc(err, TM_E_INPUT, "field 'clock': '%s' is not a time "
                               "(YYYY-MM-DDTHH:MM:SSZ or YYYY-MM-DD)", s);
        dev->clock = CASE_CLOCK_AT;
        return 0;
    }
    if (opt_enum(d, "clock", &case_clock_names, CASE_CLOCK_REFERENCE, &clock, err) != 0)
        return -1;   /* the loader's words for a scenario file's typo */
    dev->clock = (enum case_clock)clock;
    return 0;
}

/* device.clock_span ([from, to] epochs around an ISO clock's time): the device
 * times at which the case tests what it does at clock_at. */
static int device_clock_span(const json_t *d, struct case_device *dev, struct tm_err *err)
{
    const json_t *span = json_object_get(d, "clock_span");
    dev->clock_span[0] = dev->clock_span[1] = dev->clock_at;
    if (span == NULL || json_is_null(span))
        return 0;
    if (dev->clock != CASE_CLOCK_AT)
        return tm_err_setc(err, TM_E_INPUT, "device.clock_span: only with a clock that is a "
                           "time");
    if (json_array_size(span) != 2 || !json_is_integer(json_array_get(span, 0))
        || !json_is_integer(json_array_get(span, 1))
        || json_integer_value(json_array_get(span, 0)) > dev->clock_at
        || json_integer_value(json_array_get(span, 1)) < dev->clock_at)
        return tm_err_setc(err, TM_E_INPUT, "device.clock_span: expected [from, to] epochs "
                           "around the clock's time");
    dev->clock_span[0] = json_integer_value(json_array_get(span, 0));
    dev->clock_span[1] = json_integer_value(json_array_get(span, 1));
    return 0;
}

static int build_device(const json_t *d, struct case_device *dev, struct tm_err *err)
{
    int role, layer, verify;
    if (!json_is_object(d))
        return tm_err_setc(err, TM_E_INPUT, "missing field 'device'");
    if (opt_enum(d, "role", &case_role_names, CASE_CLIENT, &role, err) != 0
        || opt_enum(d, "layer", &case_layer_names, CASE_LAYER_TLS, &layer, err) != 0
        || opt_enum(d, "verify", &case_verify_names, CASE_VERIFY_DEFAULT, &verify, err) != 0
        || device_clock(d, dev, err) != 0)
        return -1;
    dev->role = (enum case_role)role;
    dev->layer = (enum case_layer)layer;
    dev->verify = (enum case_verify)verify;
    if (device_clock_span(d, dev, err) != 0 || device_ca(d, dev, err) != 0
        || device_chain(d, dev, err) != 0
        || opt_str(d, "server_hostname", "device.", &dev->server_hostname, err) != 0
        || opt_str(d, "send", "device.", &dev->send, err) != 0
        || device_heap_free(d, dev, err) != 0)
        return -1;
    const json_t *ciphers = json_object_get(d, "ciphers");
    if (ciphers != NULL && !json_is_null(ciphers)
        && str_list(ciphers, "device.ciphers", &dev->ciphers, &dev->nciphers, err) != 0)
        return -1;
    const json_t *opts = json_object_get(d, "options");
    if (opts != NULL && !json_is_object(opts))
        return tm_err_setc(err, TM_E_INPUT, "field 'options': expected a mapping of agent "
                           "request fields");
    dev->options = opts ? json_deep_copy(opts) : NULL;
    return 0;
}

/* One value of a flag key: true → the bare flag, false/null → not given,
 * numbers → their text; a list repeats the flag. */
static int peer_flag(struct case_peer *p, const char *key, const json_t *v, struct tm_err *err)
{
    if (json_is_false(v) || json_is_null(v))
        return 0;
    if (json_is_array(v)) {
        size_t i;
        const json_t *it;
        json_array_foreach(v, i, it) if (json_is_array(it) || peer_flag(p, key, it, err) != 0)
            return json_is_array(it) ? tm_err_setc(err, TM_E_INPUT, "peer.%s: expected a scalar "
                                                   "or a list of scalars", key) : -1;
        return 0;
    }
    char buf[64];
    const char *s = json_string_value(v);
    if (json_is_integer(v))
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v)), s = buf;
    else if (json_is_real(v))
        snprintf(buf, sizeof buf, "%g", json_real_value(v)), s = buf;
    if (s == NULL && !json_is_true(v))
        return tm_err_setc(err, TM_E_INPUT, "peer.%s: expected a scalar or a list of scalars", key);
    struct case_peer_flag *nf = realloc(p->flags, (p->nflags + 1) * sizeof *nf);
    if (nf == NULL)
        return tm_err_setc(err, TM_E_NOMEM, "peer.%s: out of memory", key);
    p->flags = nf;
    p->flags[p->nflags].key = strdup(key);
    p->flags[p->nflags++].value = s ? strdup(s) : NULL;
    return 0;
}

static int build_peer(const json_t *pj, struct case_peer *p, struct tm_err *err)
{
    const char *key;
    const json_t *v;
    if (pj != NULL && !json_is_object(pj))
        return tm_err_setc(err, TM_E_INPUT, "field 'peer': expected a mapping");
    json_object_foreach((json_t *)pj, key, v) {
        int rc;
        if (strcmp(key, "cert") == 0)
            rc = json_is_null(v) ? 0 : str_list(v, "peer.cert", &p->cert, &p->ncert, err);
        else if (strcmp(key, "ca") == 0)
            rc = json_is_null(v) ? 0 : str_list(v, "peer.ca", &p->ca, &p->nca, err);
        else if (strcmp(key, "args") == 0)
            rc = str_list(v, "peer.args", &p->args, &p->nargs, err);
        else if (strcmp(key, "key") == 0)
            rc = json_is_null(v) || (p->key = dup_or_null(v)) != NULL ? 0
                 : tm_err_setc(err, TM_E_INPUT, "field 'key': expected one fixture name");
        else if (case_peer_key_check(key, err) != 0)
            rc = -1;
        else
            rc = peer_flag(p, key, v, err);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int build_classes(const json_t *v, enum case_side side, struct case_classes *out,
                         struct tm_err *err)
{
    const char *field = side == CASE_SIDE_DEVICE ? "expect.device" : "expect.peer";
    if (v == NULL && side == CASE_SIDE_DEVICE)
        return tm_err_setc(err, TM_E_INPUT, "missing field 'expect.device'");
    if (v == NULL) {   /* no peer expectation: any peer outcome */
        json_t *any = json_string("*");
        int rc = str_list(any, field, &out->v, &out->n, err);
        json_decref(any);
        return rc;
    }
    if (json_is_array(v) && json_array_size(v) == 0)
        return tm_err_setc(err, TM_E_INPUT, "%s: empty list", field);
    if (str_list(v, field, &out->v, &out->n, err) != 0)
        return -1;
    for (size_t i = 0; i < out->n; i++)
        if (case_class_check(side, out->v[i], NULL, err) != 0)
            return -1;
    return 0;
}

static int build_axes(const json_t *axes, struct tm_case *c, struct tm_err *err)
{
    int backend, proto;
    if (!json_is_object(axes))
        return tm_err_setc(err, TM_E_INPUT, "missing field 'axes'");
    if (opt_enum(axes, "backend", &case_backend_names, CASE_OPENSSL, &backend, err) != 0
        || opt_enum(axes, "proto", &case_proto_names, CASE_TLS, &proto, err) != 0)
        return -1;
    c->backend = (enum case_backend)backend;
    c->proto = (enum case_proto)proto;
    const json_t *kt = json_object_get(axes, "keytype");
    if (!json_is_string(kt) || json_string_length(kt) == 0)
        return tm_err_setc(err, TM_E_INPUT, "axes.keytype: expected a key type name");
    c->keytype = strdup(json_string_value(kt));
    return 0;
}

static int build_header(const json_t *j, struct tm_case *c, struct tm_err *err)
{
    const json_t *in = json_object_get(j, "insecure");
    if (!json_is_string(json_object_get(j, "id")))
        return tm_err_setc(err, TM_E_INPUT, "missing field 'id'");
    c->id = dup_or_null(json_object_get(j, "id"));
    if (opt_str(j, "scenario", "", &c->scenario, err) != 0 || opt_str(j, "file", "", &c->file, err) != 0
        || opt_str(j, "doc", "", &c->doc, err) != 0)
        return -1;
    if (in != NULL && !json_is_boolean(in))
        return tm_err_setc(err, TM_E_INPUT, "field 'insecure': expected true or false");
    c->insecure = json_is_true(in);
    if (opt_str(j, "skip", "", &c->skip, err) != 0)
        return -1;
    const json_t *tags = json_object_get(j, "tags");
    return tags == NULL ? 0 : str_list(tags, "tags", &c->tags, &c->ntags, err);
}

int case_expect_build(const json_t *j, struct case_expect *e, struct tm_err *err)
{
    memset(e, 0, sizeof *e);
    if (build_classes(json_object_get(j, "device"), CASE_SIDE_DEVICE, &e->device, err) == 0
        && build_classes(json_object_get(j, "peer"), CASE_SIDE_PEER, &e->peer, err) == 0)
        return 0;
    case_expect_free(e);
    return -1;
}

/* The session (contracts §5 `steps`); absent or null: one operation. */
static int build_steps(const json_t *steps, struct tm_case *c, struct tm_err *err)
{
    long runs = 0;
    if (steps == NULL || json_is_null(steps))
        return 0;
    if (!json_is_array(steps) || json_array_size(steps) == 0)
        return tm_err_setc(err, TM_E_INPUT, "field 'steps': expected a non-empty list");
    c->steps = calloc(json_array_size(steps), sizeof *c->steps);
    if (c->steps == NULL)
        return tm_err_setc(err, TM_E_NOMEM, "steps: out of memory");
    size_t i;
    const json_t *it;
    json_array_foreach(steps, i, it) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "steps[%zu]", i);
        c->nsteps++;
        if (case_step_build(it, prefix, 0, &c->steps[i], &runs, err) != 0)
            return -1;
    }
    for (i = 0; i < c->nsteps && c->steps[i].kind != CASE_STEP_OPEN
                && c->steps[i].kind != CASE_STEP_REPEAT; i++)
        ;
    if (i == c->nsteps)
        return tm_err_setc(err, TM_E_INPUT, "field 'steps': no open step (a session opens "
                           "at least one connection)");
    return 0;
}

const struct case_proxy_key case_proxy_keys[] = {
    { "drop", "dtls" },        { "dup", "dtls" },          { "delay", "dtls" },
    { "delay_rate", "dtls" },  { "reorder", "dtls" },      { "drop_type", "dtls" },
    { "protect_hvr", "dtls" }, { "mtu", "dtls" },          { "at", "tls" },
    { "do", "tls" },           { "seed", NULL },
    { NULL, NULL },
};

const char *case_proxy_proto(const json_t *spec, struct tm_err *err)
{
    const char *key, *proto = NULL, *first = NULL;
    json_t *v;
    json_object_foreach((json_t *)spec, key, v) {
        const struct case_proxy_key *k = case_proxy_keys;
        while (k->key != NULL && strcmp(k->key, key) != 0)
            k++;
        if (k->key == NULL) {
            tm_err_setc(err, TM_E_INPUT, "proxy.%s: unknown key (DTLS: drop, dup, delay, "
                        "delay_rate, reorder, drop_type, protect_hvr, mtu; TLS: at, do; "
                        "both: seed)", key);
            return NULL;
        }
        if (k->proto != NULL && proto != NULL && strcmp(k->proto, proto) != 0) {
            tm_err_setc(err, TM_E_INPUT, "proxy: '%s' is a %s key and '%s' a %s key: one "
                        "proxy, one protocol", first, proto, key, k->proto);
            return NULL;
        }
        if (k->proto != NULL && proto == NULL) {
            proto = k->proto;
            first = key;
        }
    }
    return proto ? proto : "dtls";
}

/* "HOST:PORT" of a real server (repro --target): a client case's peer. */
static int build_target(const json_t *j, struct tm_case *c, struct tm_err *err)
{
    if (opt_str(j, "target", "", &c->target, err) != 0)
        return -1;
    if (c->target == NULL)
        return 0;
    const char *colon = strrchr(c->target, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (colon == NULL || colon == c->target || end == colon + 1 || *end != '\0' || port < 1
        || port > 65535)
        return tm_err_setc(err, TM_E_INPUT, "field 'target': '%s' is not HOST:PORT (port "
                           "1..65535)", c->target);
    if (c->device.role != CASE_CLIENT)
        return tm_err_setc(err, TM_E_INPUT, "field 'target': a real server is reached by a "
                           "device in the client role (device.role is server)");
    if (c->proxy != NULL)
        return tm_err_setc(err, TM_E_INPUT, "field 'target': no proxy between the device and "
                           "a real server");
    return 0;
}

int case_build(const json_t *j, struct tm_case *c, struct tm_err *err)
{
    memset(c, 0, sizeof *c);
    const json_t *exp = json_object_get(j, "expected"), *proxy = json_object_get(j, "proxy");
    if (!json_is_object(j))
        return tm_err_setc(err, TM_E_INPUT, "a case must be a JSON object");
    if (build_header(j, c, err) != 0 || build_axes(json_object_get(j, "axes"), c, err) != 0
        || build_device(json_object_get(j, "device"), &c->device, err) != 0
        || build_peer(json_object_get(j, "peer"), &c->peer, err) != 0)
        goto fail;
    if (!json_is_object(exp)) {
        tm_err_setc(err, TM_E_INPUT, "missing field 'expect'");
        goto fail;
    }
    if (case_expect_build(exp, &c->expect, err) != 0
        || build_steps(json_object_get(j, "steps"), c, err) != 0
        || case_trend_build(json_object_get(exp, "trend"), &c->trend, err) != 0)
        goto fail;
    if (proxy != NULL && !json_is_null(proxy)) {
        if (!json_is_object(proxy)) {
            tm_err_setc(err, TM_E_INPUT, "field 'proxy': expected a mapping or null");
            goto fail;
        }
        const char *want = case_proxy_proto(proxy, err);
        if (want == NULL)
            goto fail;
        if ((c->proto == CASE_DTLS) != (strcmp(want, "dtls") == 0)) {
            tm_err_setc(err, TM_E_INPUT, "this proxy block is for %s, but axes.proto is '%s'",
                        want, c->proto == CASE_DTLS ? "dtls" : "tls");
            goto fail;
        }
        c->proxy = json_deep_copy(proxy);
    }
    if (build_target(j, c, err) != 0)
        goto fail;
    return 0;
fail:
    case_free(c);
    return -1;
}

static void free_classes(struct case_classes *k)
{
    free_list(k->v, k->n);
}

void case_expect_free(struct case_expect *e)
{
    free_classes(&e->device);
    free_classes(&e->peer);
    memset(e, 0, sizeof *e);
}

void case_free(struct tm_case *c)
{
    if (c == NULL)
        return;
    free(c->id);
    free(c->scenario);
    free(c->file);
    free(c->doc);
    free(c->skip);
    free_list(c->tags, c->ntags);
    free(c->keytype);
    struct case_device *d = &c->device;
    for (size_t i = 0; i < d->nca; i++)
        free(d->ca[i].value);
    free(d->ca);
    for (size_t i = 0; i < d->nchain; i++) {
        free(d->chain[i].cert.value);
        free(d->chain[i].key.value);
    }
    free(d->chain);
    free(d->server_hostname);
    free_list(d->ciphers, d->nciphers);
    free(d->send);
    json_decref(d->options);
    struct case_peer *p = &c->peer;
    free_list(p->cert, p->ncert);
    free(p->key);
    free_list(p->ca, p->nca);
    for (size_t i = 0; i < p->nflags; i++) {
        free(p->flags[i].key);
        free(p->flags[i].value);
    }
    free(p->flags);
    free_list(p->args, p->nargs);
    json_decref(c->proxy);
    free(c->target);
    case_expect_free(&c->expect);
    for (size_t i = 0; i < c->nsteps; i++)
        case_step_free(&c->steps[i]);
    free(c->steps);
    memset(c, 0, sizeof *c);
}
