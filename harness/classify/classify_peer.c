/* tlspeer result line (docs/contracts.md §2) → peer outcome class (§5). The
 * rows are tried in order; the first that applies names the class. Alerts come
 * first: an alert is the peer's own statement of why, stronger than "failed". */
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
    if (json_is_object(err) && str(err, "text") != NULL) {
        char tok[64];
        error_token(str(err, "text"), tok, sizeof tok);
        return with("error:", tok);
    }
    return strdup("closed");
}
