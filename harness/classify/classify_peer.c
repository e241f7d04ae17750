/* tlspeer result line (docs/contracts.md §2) → peer outcome class (§5). The
 * rules are tried in order; the first that applies names the class. Alerts come
 * first: an alert is the peer's own statement of why, stronger than "failed". A
 * backend error left unexplained by the table keeps its own text as a token. */
#include "classify/classify.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int is_alert(const char *a)
{
    return a != NULL && strcmp(a, "close_notify") != 0;
}

/* An error text as a token: OpenSSL's "error:0A000086:SSL routines::certificate
 * verify failed" → "certificate-verify-failed" (its reason part), GnuTLS's "Error
 * in the pull function." → "error-in-the-pull-function". */
static void error_token(const char *text, char *out, size_t len)
{
    const char *p = text;
    if (strncmp(text, "error:", 6) == 0 && strrchr(text, ':') != NULL)
        p = strrchr(text, ':') + 1;
    size_t o = 0;
    for (; *p && o + 1 < len && o < 48; p++) {
        if (isalnum((unsigned char)*p))
            out[o++] = (char)tolower((unsigned char)*p);
        else if (o > 0 && out[o - 1] != '-')
            out[o++] = '-';
    }
    while (o > 0 && out[o - 1] == '-')
        o--;
    out[o] = '\0';
    if (o == 0)
        snprintf(out, len, "unknown");
}

/* Backend errors without an alert, to one class whatever the backend, so one cause
 * reads the same in the openssl and gnutls columns. Codes are what tlspeer reports:
 * errno for OpenSSL's transport, GnuTLS's own negative codes. (OpenSSL's EOF
 * without close_notify already comes as closed_by "peer".) */
static const struct error_row {
    const char *backend;
    const char *proto;        /* NULL: tls and dtls */
    long long code;
    const char *cls;
} error_rows[] = {
    /* TLS: the device reset the connection or closed it mid-handshake, no alert */
    { "openssl", "tls", 104, "closed" },     /* ECONNRESET */
    { "openssl", "tls", 32, "closed" },      /* EPIPE */
    { "gnutls", NULL, -110, "closed" },      /* GNUTLS_E_PREMATURE_TERMINATION */
    { "gnutls", "tls", -54, "closed" },      /* GNUTLS_E_PULL_ERROR: recv() failed */
    { "gnutls", "tls", -53, "closed" },      /* GNUTLS_E_PUSH_ERROR: send() failed */
    /* DTLS: the device's port is closed; the ICMP answer fails the next I/O */
    { "openssl", "dtls", 111, "error:connection-refused" },   /* ECONNREFUSED */
    { "gnutls", "dtls", -54, "error:connection-refused" },
    { "gnutls", "dtls", -53, "error:connection-refused" },
};

static const char *error_class(const json_t *result, const json_t *err)
{
    const char *backend = str(result, "backend"), *proto = str(result, "proto");
    json_int_t code = json_integer_value(json_object_get(err, "code"));
    for (size_t i = 0; backend != NULL && i < sizeof error_rows / sizeof error_rows[0]; i++) {
        const struct error_row *r = &error_rows[i];
        if (strcmp(r->backend, backend) == 0 && r->code == code &&
            (r->proto == NULL || (proto != NULL && strcmp(r->proto, proto) == 0)))
            return r->cls;
    }
    return NULL;
}

static char *with(const char *prefix, const char *tail)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s%s", prefix, tail);
    return strdup(buf);
}

char *classify_peer(const json_t *result)
{
    if (!json_is_object(result) || str(result, "handshake") == NULL)
        return strdup("crashed");
    const char *hs = str(result, "handshake");
    const json_t *err = json_object_get(result, "error");
    if (is_alert(str(result, "alert_sent")))
        return with("alert-sent:", str(result, "alert_sent"));
    if (is_alert(str(result, "alert_received")))
        return with("alert-received:", str(result, "alert_received"));
    if (strcmp(hs, "not-started") == 0)
        return strdup("not-started");   /* the device never reached the peer */
    if (strcmp(hs, "remote") == 0)
        return strdup("remote");        /* repro --target: a real server, not ours to see */
    if (strcmp(hs, "timeout") == 0)
        return strdup("timeout");
    if (strcmp(hs, "ok") == 0) {
        /* After a good handshake only the data exchange can still go wrong. */
        if (json_is_false(json_object_get(result, "data_ok")))
            return strdup("error:data-mismatch");
        return strdup("ok");
    }
    const char *closed_by = str(result, "closed_by");
    if (closed_by != NULL && strcmp(closed_by, "peer") == 0)
        return strdup("closed");   /* EOF (or reset) from the device, no alert */
    const char *cls = json_is_object(err) ? error_class(result, err) : NULL;
    if (cls != NULL)
        return strdup(cls);
    if (json_is_object(err) && str(err, "text") != NULL) {
        char tok[64];
        error_token(str(err, "text"), tok, sizeof tok);
        return with("error:", tok);
    }
    return strdup("closed");
}
