/* Reading a limbo file and checking it against limbo-schema.json's rules: one
 * table of fields, each with its kind and, for enums, its values. */
#include "limbo/limbo.h"
#include "limbo_internal.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "tm_time.h"

/* limbo-schema.json's enums. */
static const char *const kinds[] = { "CLIENT", "SERVER", NULL };
static const char *const expected[] = { "SUCCESS", "FAILURE", NULL };
static const char *const peer_kinds[] = { "RFC822", "DNS", "IP", NULL };
static const char *const key_usages[] = { "digitalSignature", "contentCommitment",
    "keyEncipherment", "dataEncipherment", "keyAgreement", "keyCertSign", "cRLSign",
    "encipherOnly", "decipherOnly", "encipher_only", "decipher_only", NULL };
static const char *const ekus[] = { "anyExtendedKeyUsage", "serverAuth", "clientAuth",
    "codeSigning", "emailProtection", "timeStamping", "OCSPSigning", NULL };

enum fkind {
    K_ID,           /* a string of the id pattern */
    K_STR,          /* a string */
    K_OPT_STR,      /* a string or null */
    K_ENUM,         /* one of values */
    K_STRS,         /* a list of strings (null: empty) */
    K_ENUMS,        /* a list of values (null: empty) */
    K_IDS,          /* a list of ids (null: empty) */
    K_TIME,         /* a UTC date-time or null */
    K_NAME,         /* a PeerName or null */
    K_NAMES,        /* a list of PeerNames (null: empty) */
    K_OPT_INT,      /* an integer or null */
    K_ANY,          /* not checked here (features: tags for people) */
};

/* The Testcase object's fields: required ones must be present. */
static const struct field {
    const char *name;
    enum fkind kind;
    int required;
    const char *const *values;
} fields[] = {
    { "id", K_ID, 1, NULL },
    { "description", K_STR, 1, NULL },
    { "validation_kind", K_ENUM, 1, kinds },
    { "trusted_certs", K_STRS, 1, NULL },
    { "untrusted_intermediates", K_STRS, 1, NULL },
    { "peer_certificate", K_STR, 1, NULL },
    { "peer_certificate_key", K_OPT_STR, 0, NULL },
    { "validation_time", K_TIME, 0, NULL },
    { "signature_algorithms", K_ENUMS, 1, limbo_sig_names },
    { "key_usage", K_ENUMS, 1, key_usages },
    { "extended_key_usage", K_ENUMS, 1, ekus },
    { "expected_result", K_ENUM, 1, expected },
    { "expected_peer_name", K_NAME, 0, NULL },
    { "expected_peer_names", K_NAMES, 1, NULL },
    { "max_chain_depth", K_OPT_INT, 0, NULL },
    { "conflicts_with", K_IDS, 0, NULL },
    { "features", K_ANY, 0, NULL },
    { "importance", K_ANY, 0, NULL },
};

static int one_of(const char *const *values, const char *s)
{
    for (size_t i = 0; s != NULL && values[i]; i++)
        if (strcmp(values[i], s) == 0)
            return 1;
    return 0;
}

int limbo_id_ok(const char *id)
{
    static const char pattern[] = "^([A-Za-z][A-Za-z0-9.-]+::)*([A-Za-z][A-Za-z0-9.-]+)$";
    regex_t re;
    if (id == NULL || regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
        return 0;
    int ok = regexec(&re, id, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

int limbo_time(const char *s, int64_t *epoch)
{
    char buf[40];
    size_t n = s ? strlen(s) : 0;
    /* Python's isoformat writes UTC as +00:00; the schema's date-time allows Z. */
    if (n >= 6 && n < sizeof buf && strcmp(s + n - 6, "+00:00") == 0) {
        snprintf(buf, sizeof buf, "%.*sZ", (int)(n - 6), s);
        s = buf;
    }
    return s != NULL && strchr(s, 'T') != NULL ? tm_parse_utc(s, epoch) : -1;
}

static int peer_name_ok(const json_t *v)
{
    return json_is_object(v)
           && one_of(peer_kinds, json_string_value(json_object_get(v, "kind")))
           && json_is_string(json_object_get(v, "value"));
}

/* "expected …" for a field's value v, or NULL when v fits its kind. */
static const char *field_problem(const struct field *f, const json_t *v)
{
    size_t i;
    const json_t *it;
    int64_t t;
    int list = f->kind == K_STRS || f->kind == K_ENUMS || f->kind == K_IDS || f->kind == K_NAMES;
    if (list && json_is_null(v))
        return NULL;
    if (list && !json_is_array(v))
        return "expected a list";
    switch (f->kind) {
    case K_ID: return limbo_id_ok(json_string_value(v)) ? NULL : "expected an id (namespace::name, "
                                                           "letters, digits, '-' and '.')";
    case K_STR: return json_is_string(v) ? NULL : "expected a string";
    case K_OPT_STR: return json_is_string(v) || json_is_null(v) ? NULL : "expected a string or null";
    case K_ENUM: return one_of(f->values, json_string_value(v)) ? NULL : "not one of the schema's values";
    case K_TIME:
        return json_is_null(v) || limbo_time(json_string_value(v), &t) == 0
               ? NULL : "expected a UTC date-time (YYYY-MM-DDTHH:MM:SSZ or +00:00) or null";
    case K_NAME: return json_is_null(v) || peer_name_ok(v) ? NULL
                        : "expected {kind: RFC822|DNS|IP, value: string} or null";
    case K_OPT_INT: return json_is_integer(v) || json_is_null(v) ? NULL : "expected an integer or null";
    case K_ANY: return NULL;
    default: break;
    }
    json_array_foreach(v, i, it) {
        if (f->kind == K_STRS && !json_is_string(it))
            return "expected a list of strings";
        if (f->kind == K_ENUMS && !one_of(f->values, json_string_value(it)))
            return "a value is not one of the schema's";
        if (f->kind == K_IDS && !limbo_id_ok(json_string_value(it)))
            return "expected a list of ids";
        if (f->kind == K_NAMES && !peer_name_ok(it))
            return "expected a list of {kind: RFC822|DNS|IP, value: string}";
    }
    return NULL;
}

static int check_case(const char *path, size_t i, const json_t *tc, struct tm_err *err)
{
    const char *id = json_string_value(json_object_get(tc, "id"));
    if (!json_is_object(tc))
        return tm_err_setc(err, TM_E_INPUT, "%s: testcases[%zu]: expected an object", path, i);
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
        const json_t *v = json_object_get(tc, fields[k].name);
        const char *why = v == NULL ? (fields[k].required ? "missing (required)" : NULL)
                                    : field_problem(&fields[k], v);
        if (why != NULL)
            return tm_err_setc(err, TM_E_INPUT, "%s: testcases[%zu] (id %s).%s: %s", path, i,
                               id ? id : "?", fields[k].name, why);
    }
    return 0;
}

static int check_doc(const char *path, const json_t *doc, struct tm_err *err)
{
    const json_t *tcs = json_object_get(doc, "testcases"), *ids = NULL;
    if (!json_is_object(doc))
        return tm_err_setc(err, TM_E_INPUT, "%s: expected a JSON object {\"version\": 1, "
                           "\"testcases\": [...]}", path);
    if (!json_is_integer(json_object_get(doc, "version"))
        || json_integer_value(json_object_get(doc, "version")) != 1)
        return tm_err_setc(err, TM_E_INPUT, "%s: version: expected 1 (the limbo format this "
                           "reads)", path);
    if (!json_is_array(tcs))
        return tm_err_setc(err, TM_E_INPUT, "%s: testcases: expected a list", path);
    json_t *seen = json_object();
    size_t i;
    json_array_foreach(tcs, i, ids) {
        if (check_case(path, i, ids, err) != 0)
            break;
        const char *id = json_string_value(json_object_get(ids, "id"));
        if (json_object_get(seen, id) != NULL) {
            tm_err_setc(err, TM_E_INPUT, "%s: testcases[%zu]: id %s also at testcases[%lld]",
                        path, i, id, (long long)json_integer_value(json_object_get(seen, id)));
            break;
        }
        json_object_set_new(seen, id, json_integer((json_int_t)i));
    }
    json_decref(seen);
    return i < json_array_size(tcs) ? -1 : 0;
}

json_t *limbo_load(const char *path, struct tm_err *err)
{
    json_error_t je;
    const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
    json_t *doc = strcmp(path, "-") == 0 ? json_loadf(stdin, JSON_REJECT_DUPLICATES, &je)
                                         : json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (doc == NULL) {
        tm_err_setc(err, TM_E_INPUT, "%s:%d:%d: %s", name, je.line, je.column, je.text);
        return NULL;
    }
    if (check_doc(name, doc, err) != 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static const char *const actual_results[] = { "SUCCESS", "FAILURE", "SKIPPED", NULL };

json_t *limbo_load_results(const char *path, struct tm_err *err)
{
    json_error_t je;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je), *r;
    size_t i;
    if (doc == NULL) {
        tm_err_setc(err, TM_E_INPUT, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        return NULL;
    }
    const json_t *res = json_object_get(doc, "results");
    if (json_integer_value(json_object_get(doc, "version")) != 1
        || !json_is_string(json_object_get(doc, "harness")) || !json_is_array(res)) {
        tm_err_setc(err, TM_E_INPUT, "%s: not a limbo result file (version 1, harness, results)",
                    path);
        json_decref(doc);
        return NULL;
    }
    json_array_foreach(res, i, r) {
        const json_t *ctx = json_object_get(r, "context");
        if (!limbo_id_ok(json_string_value(json_object_get(r, "id")))
            || !one_of(actual_results, json_string_value(json_object_get(r, "actual_result")))
            || (ctx != NULL && !json_is_string(ctx) && !json_is_null(ctx))) {
            tm_err_setc(err, TM_E_INPUT, "%s: results[%zu]: expected {id, actual_result: "
                        "SUCCESS|FAILURE|SKIPPED, context}", path, i);
            json_decref(doc);
            return NULL;
        }
    }
    return doc;
}
