/* Device profiles are data (camera/sim/profiles/NAME.yaml): banner values, RTC
 * power-on value, PEM and TLS 1.3 switches, the version-dependent features of
 * docs/device-model.md §0, heap size. Errors name file and line (tm_yaml.h). */
#include <stdio.h>
#include <string.h>

#include "tm_yaml.h"
#include "vcam.h"

#define PROFILE_DIR TM_SOURCE_DIR "/camera/sim/profiles"

static int copy_str(struct tm_yaml *y, yaml_node_t *root, const char *key, char *out,
                    size_t outlen, struct tm_err *err)
{
    yaml_node_t *n = tm_yaml_get(y, root, key);
    const char *s = tm_yaml_str(y, n, key, err);
    if (s == NULL) {
        if (n == NULL)
            return tm_yaml_fail(y, root, err, "missing field '%s'", key);
        return -1;
    }
    if (strlen(s) >= outlen || strlen(s) == 0)
        return tm_yaml_fail(y, n, err, "field '%s': empty or longer than %zu characters",
                            key, outlen - 1);
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

static int get_long(struct tm_yaml *y, yaml_node_t *root, const char *key, long min,
                    long *out, struct tm_err *err)
{
    yaml_node_t *n = tm_yaml_get(y, root, key);
    long long v;
    if (n == NULL)
        return tm_yaml_fail(y, root, err, "missing field '%s'", key);
    if (tm_yaml_int(y, n, key, &v, err) != 0)
        return -1;
    if (v < min || v > 1L << 30)
        return tm_yaml_fail(y, n, err, "field '%s': %lld out of range", key, v);
    *out = (long)v;
    return 0;
}

static int parse(struct tm_yaml *y, struct vcam_profile *p, struct tm_err *err)
{
    static const char *const keys[] = { "name", "doc", "openmv", "micropython", "board",
                                        "mcu", "impl_version", "sysname", "clock_unset",
                                        "pem", "tls13", "dtls", "client_id",
                                        "io_error_text", "heap", "agent_heap", "rtc", NULL };
    yaml_node_t *root = tm_yaml_root(y);
    if (!tm_yaml_is_map(root))
        return tm_yaml_fail(y, root, err, "a profile is a mapping");
    if (tm_yaml_check_keys(y, root, keys, err) != 0)
        return -1;
    if (copy_str(y, root, "name", p->name, sizeof p->name, err) ||
        copy_str(y, root, "openmv", p->openmv, sizeof p->openmv, err) ||
        copy_str(y, root, "micropython", p->micropython, sizeof p->micropython, err) ||
        copy_str(y, root, "board", p->board, sizeof p->board, err) ||
        copy_str(y, root, "mcu", p->mcu, sizeof p->mcu, err) ||
        copy_str(y, root, "impl_version", p->impl_version, sizeof p->impl_version, err) ||
        copy_str(y, root, "sysname", p->sysname, sizeof p->sysname, err))
        return -1;
    char clock[64];
    if (copy_str(y, root, "clock_unset", clock, sizeof clock, err) != 0)
        return -1;
    if (tm_parse_utc(clock, &p->clock_unset) != 0)
        return tm_yaml_fail(y, tm_yaml_get(y, root, "clock_unset"), err,
                            "field 'clock_unset': '%s' is not YYYY-MM-DDTHH:MM:SSZ or an epoch",
                            clock);
    yaml_node_t *pem = tm_yaml_get(y, root, "pem");
    if (pem == NULL)
        return tm_yaml_fail(y, root, err, "missing field 'pem'");
    if (tm_yaml_bool(y, pem, "pem", &p->pem, err) != 0)
        return -1;
    /* Optional, default false (docs/device-model.md §3). The device's mbedTLS build
     * (camera/sim/mbedtls.cmake) has no TLS 1.3, so a profile asking for it cannot be
     * served: refuse it rather than silently serve TLS 1.2. */
    yaml_node_t *tls13 = tm_yaml_get(y, root, "tls13");
    if (tls13 != NULL && tm_yaml_bool(y, tls13, "tls13", &p->tls13, err) != 0)
        return -1;
    if (p->tls13)
        return tm_yaml_fail(y, tls13, err, "field 'tls13': true is not supported by the "
                            "virtual camera (its mbedTLS build has no TLS 1.3)");
    /* Optional, default true: what current firmware has (docs/device-model.md §0). */
    static const char *const features[] = { "dtls", "client_id", "io_error_text", "rtc" };
    int *const flags[] = { &p->dtls, &p->client_id, &p->io_error_text, &p->rtc };
    for (size_t i = 0; i < 4; i++) {
        yaml_node_t *n = tm_yaml_get(y, root, features[i]);
        *flags[i] = 1;
        if (n != NULL && tm_yaml_bool(y, n, features[i], flags[i], err) != 0)
            return -1;
    }
    if (!p->dtls)
        p->client_id = 0;   /* a DTLS server keyword, merged after DTLS */
    if (get_long(y, root, "heap", 16384, &p->heap, err) != 0 ||
        get_long(y, root, "agent_heap", 0, &p->agent_heap, err) != 0)
        return -1;
    if (p->agent_heap >= p->heap)
        return tm_yaml_fail(y, tm_yaml_get(y, root, "agent_heap"), err,
                            "field 'agent_heap': must be smaller than heap");
    return 0;
}

/* NAME (letters, digits, '-', '_') is looked up in the shipped profiles; anything
 * else is a file path. */
int vcam_profile_load(struct vcam_profile *p, const char *name_or_file, struct tm_err *err)
{
    char path[1024];
    int is_name = name_or_file[0] != '\0' &&
                  strspn(name_or_file, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                       "0123456789-_") == strlen(name_or_file);
    if (is_name)
        snprintf(path, sizeof path, "%s/%s.yaml", PROFILE_DIR, name_or_file);
    else
        snprintf(path, sizeof path, "%s", name_or_file);
    memset(p, 0, sizeof *p);
    struct tm_yaml y;
    if (tm_yaml_load(&y, path, err) != 0)
        return tm_err_prefix(err, "--profile %s", name_or_file);
    int rc = parse(&y, p, err);
    tm_yaml_free(&y);
    if (rc != 0)
        return tm_err_prefix(err, "--profile %s", name_or_file);
    return 0;
}
