/* IANA names shared by both backends: alerts (TLS Alert Registry) and cipher suites.
 * Both backends translate through these tables so the result line speaks one language. */
#include <string.h>

#include <openssl/ssl.h>

#include "peer.h"

static const struct {
    int code;
    const char *name;
} alerts[] = {
    {0, "close_notify"}, {10, "unexpected_message"}, {20, "bad_record_mac"},
    {21, "decryption_failed"}, {22, "record_overflow"}, {30, "decompression_failure"},
    {40, "handshake_failure"}, {41, "no_certificate"}, {42, "bad_certificate"},
    {43, "unsupported_certificate"}, {44, "certificate_revoked"},
    {45, "certificate_expired"}, {46, "certificate_unknown"}, {47, "illegal_parameter"},
    {48, "unknown_ca"}, {49, "access_denied"}, {50, "decode_error"},
    {51, "decrypt_error"}, {60, "export_restriction"}, {70, "protocol_version"},
    {71, "insufficient_security"}, {80, "internal_error"},
    {86, "inappropriate_fallback"}, {90, "user_canceled"}, {100, "no_renegotiation"},
    {109, "missing_extension"}, {110, "unsupported_extension"},
    {111, "certificate_unobtainable"}, {112, "unrecognized_name"},
    {113, "bad_certificate_status_response"}, {114, "bad_certificate_hash_value"},
    {115, "unknown_psk_identity"}, {116, "certificate_required"},
    {120, "no_application_protocol"},
};

const char *peer_alert_name(int desc)
{
    for (size_t i = 0; i < sizeof alerts / sizeof alerts[0]; i++)
        if (alerts[i].code == desc)
            return alerts[i].name;
    return NULL;
}

int peer_alert_code(const char *name)
{
    for (size_t i = 0; i < sizeof alerts / sizeof alerts[0]; i++)
        if (strcmp(alerts[i].name, name) == 0)
            return alerts[i].code;
    return -1;
}

/* Look a suite up in OpenSSL's complete table (every suite libssl knows, TLS 1.3
 * included), by IANA name or by id. The table is built on each call: it is used
 * a handful of times per run, and this keeps the program free of global state. */
static int cipher_lookup(const char *iana, const unsigned char id[2], unsigned char out_id[2],
                         const char **out_name)
{
    int found = 0;
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    if (ctx == NULL)
        return 0;
    SSL_CTX_set_security_level(ctx, 0);
    SSL_CTX_set_cipher_list(ctx, "ALL:COMPLEMENTOFALL:@SECLEVEL=0");
    SSL *ssl = SSL_new(ctx);
    STACK_OF(SSL_CIPHER) *all = ssl ? SSL_get_ciphers(ssl) : NULL;
    for (int i = 0; all != NULL && i < sk_SSL_CIPHER_num(all) && !found; i++) {
        const SSL_CIPHER *c = sk_SSL_CIPHER_value(all, i);
        const char *std = SSL_CIPHER_standard_name(c);
        uint16_t pid = SSL_CIPHER_get_protocol_id(c);
        unsigned char cid[2] = {(unsigned char)(pid >> 8), (unsigned char)pid};
        if ((iana && std && strcmp(std, iana) == 0) || (id && memcmp(id, cid, 2) == 0)) {
            if (out_id)
                memcpy(out_id, cid, 2);
            if (out_name)
                *out_name = std;   /* static string inside libssl */
            found = 1;
        }
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return found;
}

int peer_cipher_id(const char *iana, unsigned char id[2])
{
    return cipher_lookup(iana, NULL, id, NULL) ? 0 : -1;
}

const char *peer_cipher_iana(const unsigned char id[2])
{
    const char *name = NULL;
    return cipher_lookup(NULL, id, NULL, &name) ? name : NULL;
}
