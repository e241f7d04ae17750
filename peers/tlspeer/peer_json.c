/* The two stdout lines of docs/contracts.md §2, written with jansson and flushed so
 * a harness reading the pipe sees them at once. */
#include <stdio.h>

#include <jansson.h>

#include "peer.h"

static const char *const roles[] = {"server", "client"};
static const char *const protos[] = {"tls", "dtls"};

static void emit(json_t *j)
{
    json_dumpf(j, stdout, JSON_COMPACT);
    fputc('\n', stdout);
    fflush(stdout);
    json_decref(j);
}

void peer_json_ready(const struct peer_opts *o, int port)
{
    emit(json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "event", "ready", "backend", o->backend,
                   "role", roles[o->role], "proto", protos[o->proto], "addr", o->bind_addr,
                   "port", port));
}

static json_t *str_or_null(int has, const char *s)
{
    return has && s != NULL ? json_string(s) : json_null();
}

static json_t *alert(int desc)
{
    const char *name = desc == PEER_NONE ? NULL : peer_alert_name(desc);
    if (desc != PEER_NONE && name == NULL) {
        char buf[24];
        snprintf(buf, sizeof buf, "alert_%d", desc);   /* unassigned number: still shown */
        return json_string(buf);
    }
    return str_or_null(name != NULL, name);
}

static json_t *peer_cert(const struct peer_result *r)
{
    if (!r->has_peer_cert)
        return json_null();
    return json_pack("{s:s, s:s, s:b, s:o}", "subject", r->peer_subject,
                     "sha256", r->peer_sha256, "verified", r->peer_verified,
                     "verify_error", str_or_null(r->has_verify_error, r->verify_error));
}

void peer_json_result(const struct peer_opts *o, const struct peer_result *r,
                      long long elapsed_ms)
{
    json_t *j = json_object();
    json_object_set_new(j, "event", json_string("result"));
    json_object_set_new(j, "backend", json_string(o->backend));
    json_object_set_new(j, "role", json_string(roles[o->role]));
    json_object_set_new(j, "proto", json_string(protos[o->proto]));
    json_object_set_new(j, "handshake", json_string(r->handshake));
    json_object_set_new(j, "alert_sent", alert(r->alert_sent));
    json_object_set_new(j, "alert_received", alert(r->alert_received));
    json_object_set_new(j, "error", r->has_error
        ? json_pack("{s:I, s:s}", "code", (json_int_t)r->error_code, "text", r->error_text)
        : json_null());
    json_object_set_new(j, "version", str_or_null(r->version[0], r->version));
    json_object_set_new(j, "cipher", str_or_null(r->cipher[0], r->cipher));
    json_object_set_new(j, "group", str_or_null(r->group[0], r->group));
    json_object_set_new(j, "alpn", str_or_null(r->has_alpn, r->alpn));
    json_object_set_new(j, "sni", str_or_null(r->has_sni, r->sni));
    json_object_set_new(j, "peer_cert", peer_cert(r));
    json_object_set_new(j, "bytes_sent", json_integer(r->bytes_sent));
    json_object_set_new(j, "bytes_received", json_integer(r->bytes_received));
    json_object_set_new(j, "data_ok", r->data_ok == PEER_NONE ? json_null()
                                                              : json_boolean(r->data_ok));
    json_object_set_new(j, "closed_by", str_or_null(r->closed_by != NULL, r->closed_by));
    json_object_set_new(j, "hello_verify_requests", o->proto == PEER_DTLS
                        ? json_integer(r->hello_verify) : json_null());
    json_object_set_new(j, "renegotiated", r->renegotiated == PEER_NONE
                        ? json_null() : json_boolean(r->renegotiated));
    json_object_set_new(j, "elapsed_ms", json_integer(elapsed_ms));
    emit(j);
}
