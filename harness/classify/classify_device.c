/* Agent reply (docs/contracts.md §3) → device outcome class (§5). All of the
 * device's knowledge is in the tables below, top to bottom in the order they are
 * consulted: reply outcome, exception rules, x509 verify texts, mbedTLS codes, the
 * stages where errno values come negated, errno numbers. To teach the harness a new
 * device message, add a row. */
#include "classify/classify.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case/case.h"

/* 1. Reply outcomes that are classes by themselves ("error" goes on to exc). */
static const struct { const char *outcome, *cls; } k_outcomes[] = {
    { "timeout", "timeout" },          /* OSError(110) ETIMEDOUT: the agent says timeout */
    { "unsupported", "unsupported" },
    { "bad-request", "bad-request" },  /* the harness sent something wrong: infrastructure */
};

/* 2. Exception rules, first match wins: type (NULL = any), a substring of str(exc)
 * (NULL = any), and the class, or how to derive it. Texts are the device's own
 * (docs/device-model.md §1.3, §1.4, §2.1; camera/sim/devtls_*.c raise the same). */
enum derive { FIXED, VERIFY_TEXT, OSERROR, TYPE_NAME };
static const struct exc_rule {
    const char *type, *text;
    enum derive how;
    const char *cls;
} k_exc_rules[] = {
    { "ValueError", "CERT_REQUIRED requires server_hostname", FIXED, "error:hostname-required" },
    { "ValueError", "invalid cert", FIXED, "error:invalid-cert" },   /* X509_BAD_INPUT_DATA, §2.1 r2 */
    { "ValueError", "invalid key", FIXED, "error:invalid-key" },     /* PK_BAD_INPUT_DATA */
    { "ValueError", "\n", VERIFY_TEXT, NULL },                       /* §2.1 rule 5, §2.2 */
    { "OSError", NULL, OSERROR, NULL },
    { "TypeError", NULL, FIXED, "error:type-error" },
    { "KeyboardInterrupt", NULL, FIXED, "error:interrupted" },
    { NULL, NULL, TYPE_NAME, NULL },          /* AttributeError → error:attribute-error, … */
};

/* 3. x509 verify-flag texts in bit order (§2.2) → verify-failed reasons. Texts of
 * flags the device never sets (CRL, revoked) still map, to "other". */
static const struct { const char *text, *reason; } k_verify[] = {
    { "The certificate validity has expired", "expired" },                          /* 0x01 */
    { "The certificate has been revoked", "other" },                                /* 0x02 */
    { "The certificate Common Name (CN) does not match", "hostname" },               /* 0x04 */
    { "The certificate is not correctly signed by the trusted CA", "untrusted" },    /* 0x08 */
    { "The CRL is not correctly signed", "other" },                                 /* 0x10 */
    { "The CRL is expired", "other" },                                              /* 0x20 */
    { "Certificate was missing", "other" },                                         /* 0x40 */
    { "Certificate verification was skipped", "other" },                            /* 0x80 */
    { "Other reason", "other" },                                                    /* 0x100 */
    { "The certificate validity starts in the future", "future" },                  /* 0x200 */
    { "The CRL validity starts in the future", "other" },                           /* 0x400 */
    { "Usage does not match the keyUsage extension", "key-usage" },                 /* 0x800 */
    { "Usage does not match the extendedKeyUsage extension", "ext-key-usage" },     /* 0x1000 */
    { "Usage does not match the nsCertType extension", "other" },                   /* 0x2000 */
    { "The certificate is signed with an unacceptable hash", "bad-hash" },          /* 0x4000 */
    { "The certificate is signed with an unacceptable PK alg", "bad-pk" },          /* 0x8000 */
    { "The certificate is signed with an unacceptable key", "bad-key" },            /* 0x10000 */
    { "The CRL is signed with an unacceptable", "other" },                          /* 0x2-8xxxx */
};

/* 4. mbedTLS codes the device may raise without their name (when the message
 * cannot be allocated, §2.1 rule 4), as MicroPython's table names them. */
static const struct { long code; const char *name; } k_mbedtls[] = {
    { -0x7080, "MBEDTLS_ERR_SSL_FEATURE_UNAVAILABLE" }, { -0x7100, "MBEDTLS_ERR_SSL_BAD_INPUT_DATA" },
    { -0x7180, "MBEDTLS_ERR_SSL_INVALID_MAC" },         { -0x7200, "MBEDTLS_ERR_SSL_INVALID_RECORD" },
    { -0x7280, "MBEDTLS_ERR_SSL_CONN_EOF" },            { -0x7300, "MBEDTLS_ERR_SSL_DECODE_ERROR" },
    { -0x7480, "MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE" },
    { -0x7500, "MBEDTLS_ERR_SSL_UNSUPPORTED_EXTENSION" },
    { -0x7580, "MBEDTLS_ERR_SSL_NO_APPLICATION_PROTOCOL" },
    { -0x7600, "MBEDTLS_ERR_SSL_PRIVATE_KEY_REQUIRED" },
    { -0x7680, "MBEDTLS_ERR_SSL_CA_CHAIN_REQUIRED" },    { -0x7700, "MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE" },
    { -0x7780, "MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE" }, { -0x7800, "MBEDTLS_ERR_SSL_UNRECOGNIZED_NAME" },
    { -0x7880, "MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY" },   { -0x7A00, "MBEDTLS_ERR_SSL_BAD_CERTIFICATE" },
    { -0x7F00, "MBEDTLS_ERR_SSL_ALLOC_FAILED" },        { -0x6E80, "MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION" },
    { -0x6E00, "MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE" },   { -0x6D00, "MBEDTLS_ERR_SSL_PK_TYPE_MISMATCH" },
    { -0x6C00, "MBEDTLS_ERR_SSL_INTERNAL_ERROR" },      { -0x6A80, "MBEDTLS_ERR_SSL_HELLO_VERIFY_REQUIRED" },
    { -0x6A00, "MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL" },    { -0x6900, "MBEDTLS_ERR_SSL_WANT_READ" },
    { -0x6880, "MBEDTLS_ERR_SSL_WANT_WRITE" },          { -0x6800, "MBEDTLS_ERR_SSL_TIMEOUT" },
    { -0x6700, "MBEDTLS_ERR_SSL_UNEXPECTED_RECORD" },   { -0x6600, "MBEDTLS_ERR_SSL_ILLEGAL_PARAMETER" },
    { -0x5F00, "MBEDTLS_ERR_SSL_VERSION_MISMATCH" },    { -0x5E80, "MBEDTLS_ERR_SSL_BAD_CONFIG" },
    { -0x2700, "MBEDTLS_ERR_X509_CERT_VERIFY_FAILED" }, /* §2.1 r5: verify text over 255 chars */
    { -0x2780, "MBEDTLS_ERR_X509_CERT_UNKNOWN_FORMAT" }, { -0x2180, "MBEDTLS_ERR_X509_INVALID_FORMAT" },
    { -0x3000, "MBEDTLS_ERR_X509_FATAL_ERROR" },         /* > 8 intermediates, §2.2 */
    { -0x3D00, "MBEDTLS_ERR_PK_KEY_INVALID_FORMAT" },    { -0x3C80, "MBEDTLS_ERR_PK_UNKNOWN_PK_ALG" },
    /* out of heap (docs/device-model.md §9); the bare code when the text cannot be
     * allocated either (§2.1 rule 4) */
    { -0x2880, "MBEDTLS_ERR_X509_ALLOC_FAILED" },       { -0x3F80, "MBEDTLS_ERR_PK_ALLOC_FAILED" },
    { -0x5180, "MBEDTLS_ERR_MD_ALLOC_FAILED" },         { -0x4D80, "MBEDTLS_ERR_ECP_ALLOC_FAILED" },
    { -0x3B00, "MBEDTLS_ERR_PK_INVALID_PUBKEY" },
    { -0x2, "getaddrinfo" },   /* lwIP's OSError(-2) for a failed name lookup */
};

/* 5. Stages whose OSError comes from the tls socket's read or write once the
 * handshake is over. There MicroPython (extmod/modtls_mbedtls.c socket_read and
 * socket_write, before 2026-02) hands mbedTLS's return value to the stream layer,
 * which raises it as it is, skipping mbedtls_raise_error's rule 3: a socket errno
 * that _mbedtls_ssl_recv/_send passed through mbedTLS as -errno stays negated
 * (OSError(-110), OSError(-104)), and an mbedTLS code comes without its name. At
 * every other stage a code from -1 to -255 is not an errno (docs/device-model.md
 * §2.1 rule 3, §2.4). */
static const char *const k_stream_stages[] = { "read", "write" };

/* 6. errno numbers (MicroPython uses Linux's values) → names. */
static const struct { long no; const char *name; } k_errno[] = {
    { 1, "EPERM" },         { 2, "ENOENT" },       { 5, "EIO" },          { 9, "EBADF" },
    { 11, "EAGAIN" },       { 12, "ENOMEM" },      { 13, "EACCES" },      { 17, "EEXIST" },
    { 19, "ENODEV" },       { 21, "EISDIR" },      { 22, "EINVAL" },      { 23, "ENFILE" },
    { 24, "EMFILE" },       { 28, "ENOSPC" },      { 32, "EPIPE" },       { 90, "EMSGSIZE" },
    { 95, "EOPNOTSUPP" },   { 98, "EADDRINUSE" },  { 99, "EADDRNOTAVAIL" }, { 101, "ENETUNREACH" },
    { 103, "ECONNABORTED" }, { 104, "ECONNRESET" }, { 105, "ENOBUFS" },   { 107, "ENOTCONN" },
    { 110, "ETIMEDOUT" },   { 111, "ECONNREFUSED" }, { 113, "EHOSTUNREACH" }, { 114, "EALREADY" },
    { 115, "EINPROGRESS" },
};

#define COUNT(a) (sizeof(a) / sizeof *(a))
#define HVR_CODE (-27264L)   /* -0x6A80 HELLO_VERIFY_REQUIRED: a DTLS server's first try */
#define ERRNO_MAX 255L       /* mbedtls_raise_error's cut-off: -1…-255 are errno values */
#define ETIMEDOUT_NO 110L    /* a socket timeout, whichever form it is raised in */

static char *cat2(const char *a, const char *b)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s%s", a, b);
    return strdup(buf);
}

/* "MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE+MBEDTLS_ERR_ASN1_…" → "fatal-alert-message+asn1-…";
 * "MBEDTLS_ERR_UNKNOWN (0x5D80)" → "unknown-0x5d80". */
static void mbedtls_token(const char *name, char *out, size_t len)
{
    static const char *const strip[] = { "MBEDTLS_ERR_SSL_", "MBEDTLS_ERR_X509_", "MBEDTLS_ERR_" };
    size_t o = 0;
    const char *p = name;
    while (*p && o + 1 < len) {
        for (size_t i = 0; i < COUNT(strip); i++)
            if (strncmp(p, strip[i], strlen(strip[i])) == 0) {
                p += strlen(strip[i]);
                break;
            }
        for (; *p && *p != '+' && o + 1 < len; p++) {
            if (isalnum((unsigned char)*p))
                out[o++] = (char)tolower((unsigned char)*p);
            else if (o > 0 && out[o - 1] != '-' && p[1] != ')' && p[1] != '\0')
                out[o++] = '-';   /* '_', ' ', '(' → one '-'; the closing ')' → nothing */
        }
        if (*p == '+' && o + 1 < len) {
            out[o++] = '+';
            p++;
        }
    }
    out[o] = '\0';
}

static int is_stream_stage(const char *stage)
{
    for (size_t i = 0; stage != NULL && i < COUNT(k_stream_stages); i++)
        if (strcmp(stage, k_stream_stages[i]) == 0)
            return 1;
    return 0;
}

static char *from_code(long code, const char *stage)
{
    char tok[160];
    if (code < 0 && code >= -ERRNO_MAX && is_stream_stage(stage))
        code = -code;   /* table 5: the stream's negated errno */
    if (code == ETIMEDOUT_NO)
        return strdup("timeout");   /* the agent names only OSError(110) a timeout */
    if (code > 0) {
        for (size_t i = 0; i < COUNT(k_errno); i++)
            if (k_errno[i].no == code)
                return cat2("errno:", k_errno[i].name);
        snprintf(tok, sizeof tok, "%ld", code);
        return cat2("errno:", tok);
    }
    for (size_t i = 0; i < COUNT(k_mbedtls); i++)
        if (k_mbedtls[i].code == code) {
            mbedtls_token(k_mbedtls[i].name, tok, sizeof tok);
            return cat2("error:", tok);
        }
    /* Negated as unsigned: a device can print any number, LONG_MIN too. */
    snprintf(tok, sizeof tok, "unknown-0x%04lx", 0UL - (unsigned long)code);
    return cat2("error:", tok);
}

/* OSError(code, 'NAME') / OSError(errno) / OSError(code): args first, else the
 * text ("(-30592, 'MBEDTLS_…')", "[Errno 104] ECONNRESET", "-28928"). stage is the
 * reply's: it tells a negated errno from a code (table 5). */
static char *from_oserror(const json_t *exc, const char *stage)
{
    const json_t *args = json_object_get(exc, "args");
    const char *text = json_string_value(json_object_get(exc, "text"));
    const char *name = json_string_value(json_array_get(args, 1));
    long code = 0;
    char tok[200], nbuf[200];
    if (json_is_integer(json_array_get(args, 0))) {
        code = (long)json_integer_value(json_array_get(args, 0));
    } else if (text != NULL) {
        if (sscanf(text, "(%ld, '%199[^']'", &code, nbuf) == 2)
            name = nbuf;
        else if (sscanf(text, "[Errno %ld]", &code) != 1 && sscanf(text, "%ld", &code) != 1)
            return strdup("error:oserror");
    } else {
        return strdup("error:oserror");
    }
    if (name != NULL && strncmp(name, "MBEDTLS_ERR_", 12) == 0) {
        mbedtls_token(name, tok, sizeof tok);
        return cat2("error:", tok);
    }
    return from_code(code, stage);
}

/* The reasons of a verify ValueError, in bit order, joined by '+'. A line that
 * is no known flag text (e.g. "Unknown reason") adds "other". */
static char *from_verify_text(const char *text)
{
    char out[256] = "verify-failed:";
    int other_seen = 0, unknown = 0;
    for (size_t i = 0; i < COUNT(k_verify); i++) {
        if (strstr(text, k_verify[i].text) == NULL)
            continue;
        int is_other = strcmp(k_verify[i].reason, "other") == 0;
        if (is_other && other_seen)
            continue;
        other_seen |= is_other;
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s",
                 out[strlen(out) - 1] == ':' ? "" : "+", k_verify[i].reason);
    }
    for (const char *line = text; line && *line; line = strchr(line, '\n')) {
        while (*line == '\n')
            line++;
        size_t len = strcspn(line, "\n");
        int known = len == 0;
        for (size_t i = 0; i < COUNT(k_verify) && !known; i++)
            known = strncmp(line, k_verify[i].text, strlen(k_verify[i].text)) == 0;
        unknown |= !known;
    }
    if ((unknown && !other_seen) || out[strlen(out) - 1] == ':')
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s", 
                 out[strlen(out) - 1] == ':' ? "other" : "+other");
    return strdup(out);
}

/* "AttributeError" → "error:attribute-error". */
static char *from_type_name(const char *type)
{
    char tok[128];
    size_t o = 0;
    for (const char *c = type ? type : "exception"; *c && o + 2 < sizeof tok; c++) {
        if (isupper((unsigned char)*c) && o > 0)
            tok[o++] = '-';
        tok[o++] = (char)tolower((unsigned char)*c);
    }
    tok[o] = '\0';
    return cat2("error:", tok);
}

static char *from_exc(const json_t *exc, const char *stage)
{
    const char *type = json_string_value(json_object_get(exc, "type"));
    const char *text = json_string_value(json_object_get(exc, "text"));
    if (!json_is_object(exc))
        return strdup("error:unknown");
    for (size_t i = 0; i < COUNT(k_exc_rules); i++) {
        const struct exc_rule *r = &k_exc_rules[i];
        if (r->type != NULL && (type == NULL || strcmp(r->type, type) != 0))
            continue;
        if (r->text != NULL && (text == NULL || strstr(text, r->text) == NULL))
            continue;
        switch (r->how) {
        case FIXED: return strdup(r->cls);
        case VERIFY_TEXT: return from_verify_text(text);
        case OSERROR: return from_oserror(exc, stage);
        case TYPE_NAME: return from_type_name(type);
        }
    }
    return from_type_name(type);
}

static int is_hello_verify(const json_t *exc)
{
    const json_t *code = json_array_get(json_object_get(exc, "args"), 0);
    const char *text = json_string_value(json_object_get(exc, "text"));
    return (json_is_integer(code) && json_integer_value(code) == HVR_CODE)
           || (text != NULL && strstr(text, "HELLO_VERIFY_REQUIRED") != NULL);
}

char *classify_device(const json_t *reply)
{
    const char *oc = json_string_value(json_object_get(reply, "outcome"));
    if (!json_is_object(reply) || oc == NULL)
        return strdup("lost");
    for (size_t i = 0; i < COUNT(k_outcomes); i++)
        if (strcmp(k_outcomes[i].outcome, oc) == 0)
            return strdup(k_outcomes[i].cls);
    if (strcmp(oc, "ok") == 0) {
        const json_t *first = json_object_get(reply, "first_exc");
        if (!json_is_object(first))
            return strdup("ok");
        if (is_hello_verify(first))
            return strdup("hello-verify-retry");
        /* heap_retry: the first attempt failed under heap_free, the second did not
         * (docs/device-model.md §9): "recovered:" and the first attempt's class. */
        char *cls = from_exc(first, NULL), *r = cls ? cat2("recovered:", cls) : NULL;
        free(cls);
        return r;
    }
    if (strcmp(oc, "error") == 0)
        return from_exc(json_object_get(reply, "exc"),
                        json_string_value(json_object_get(reply, "stage")));
    return strdup("lost");   /* an outcome this harness does not know: cannot judge */
}
