/* A typed case → the agent request of its device part (docs/contracts.md §3):
 * fields, inline sources, and the fixture files to push before it. */
#include "case_internal.h"

#include <stdlib.h>
#include <string.h>

#include "tm_fs.h"

/* A certificate, key or CA of the device → the agent's source object. Fixture
 * names are files pushed to the device as tm-<name>; inline data goes as it is. */
static json_t *device_source(const struct case_source *s, json_t *files)
{
    static const char *const keys[] = { [CASE_SRC_B64] = "b64", [CASE_SRC_STR] = "str",
                                        [CASE_SRC_FILE] = "file" };
    if (s->kind != CASE_SRC_FIXTURE)
        return json_pack("{s:s}", keys[s->kind], s->value);
    const char *base = strrchr(s->value, '/') ? strrchr(s->value, '/') + 1 : s->value;
    char dpath[512];
    snprintf(dpath, sizeof dpath, "tm-%s", base);
    json_object_set_new(files, dpath, json_string(s->value));
    return json_pack("{s:s}", "file", dpath);
}

static json_t *str_array(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* contracts §5 device part → §3 request fields; fills files (device path →
 * fixture name) for the uploads. */
json_t *case_device_request(struct case_run *r, const char *host, int port, json_t *files)
{
    const struct case_device *d = &r->c.device;
    json_t *f = json_object();
    json_object_set_new(f, "layer", json_string(case_enum_name(&case_layer_names, d->layer)));
    if (d->verify != CASE_VERIFY_DEFAULT)   /* ssl.CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED */
        json_object_set_new(f, "verify_mode", json_integer(d->verify == CASE_VERIFY_NONE ? 0
                            : d->verify == CASE_VERIFY_OPTIONAL ? 1 : 2));
    if (d->has_ca) {
        json_t *ca = json_array();
        for (size_t i = 0; i < d->nca; i++)
            json_array_append_new(ca, device_source(&d->ca[i], files));
        json_object_set_new(f, "ca", ca);
    }
    if (d->chain != NULL) {
        json_t *out = json_array();
        for (size_t i = 0; i < d->nchain; i++) {
            json_t *c = json_pack("{s:o}", "cert", device_source(&d->chain[i].cert, files));
            if (d->chain[i].key.value != NULL)
                json_object_set_new(c, "key", device_source(&d->chain[i].key, files));
            json_array_append_new(out, c);
        }
        json_object_set_new(f, "chain", out);
    }
    if (d->server_hostname != NULL)
        json_object_set_new(f, "server_hostname", json_string(d->server_hostname));
    if (d->ciphers != NULL)
        json_object_set_new(f, "ciphers", str_array(d->ciphers, d->nciphers));
    if (d->send != NULL) {
        char *b64 = tm_b64_encode(d->send, strlen(d->send));
        json_object_set_new(f, "send_b64", json_string(b64 ? b64 : ""));
        free(b64);
    }
    if (d->heap_free > 0)
        json_object_set_new(f, "heap_free", json_integer(d->heap_free));
    if (host != NULL) {
        json_object_set_new(f, "host", json_string(host));
        json_object_set_new(f, "port", json_integer(port));
    } else {
        json_object_set_new(f, "port", json_integer(0));
    }
    /* TCP_NODELAY on both ends (run header "tcp_nodelay"): small handshake
     * flights are not held back by Nagle, so timings measure the stacks. */
    if (r->c.proto == CASE_TLS)
        json_object_set_new(f, "nodelay", json_true());
    int dl = r->ctx->case_timeout_ms - 3000;
    json_object_set_new(f, "deadline_ms", json_integer(dl < 2000 ? 2000 : dl));
    json_object_set_new(f, "timeout_ms", json_integer(5000));
    if (d->options != NULL)
        json_object_update(f, d->options);   /* scenario overrides win */
    if (r->step_fields != NULL)
        json_object_update(f, r->step_fields);   /* a session step's own, last */
    return f;
}
