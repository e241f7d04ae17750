/* The device's exceptions (docs/device-model.md §2). THE one place where what Debian's
 * mbedTLS 2.28 returns is translated into what MicroPython on mbedTLS 3.6.6 raises:
 * - k_names: MicroPython's compact strerror table (3.6 names, §2.1 rule 4);
 * - k_remap: 2.28 codes whose value or meaning differs in 3.6, and situations that
 *   2.28 does not report at all (DEVTLS_E_*), with the reason for each row;
 * - k_verify: the x509 verify-flag texts (§2.2). */
#include <stdio.h>
#include <string.h>

#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509.h>

#include "devtls_int.h"

struct code_name {
    long code;
    const char *name;
};

/* High-level codes the device can show (mbedTLS 3.6 names). -0x5D80
 * (CERTIFICATE_VERIFICATION_WITHOUT_HOSTNAME, new in 3.6.3) is deliberately absent:
 * the firmware's table predates it and prints MBEDTLS_ERR_UNKNOWN (0x5D80) (§1.4). */
static const struct code_name k_names[] = {
    { -0x7000, "MBEDTLS_ERR_SSL_CRYPTO_IN_PROGRESS" },
    { -0x7080, "MBEDTLS_ERR_SSL_FEATURE_UNAVAILABLE" },
    { -0x7100, "MBEDTLS_ERR_SSL_BAD_INPUT_DATA" },
    { -0x7180, "MBEDTLS_ERR_SSL_INVALID_MAC" },
    { -0x7200, "MBEDTLS_ERR_SSL_INVALID_RECORD" },
    { -0x7280, "MBEDTLS_ERR_SSL_CONN_EOF" },
    { -0x7300, "MBEDTLS_ERR_SSL_DECODE_ERROR" },
    { -0x7400, "MBEDTLS_ERR_SSL_NO_RNG" },
    { -0x7480, "MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE" },
    { -0x7500, "MBEDTLS_ERR_SSL_UNSUPPORTED_EXTENSION" },
    { -0x7580, "MBEDTLS_ERR_SSL_NO_APPLICATION_PROTOCOL" },
    { -0x7600, "MBEDTLS_ERR_SSL_PRIVATE_KEY_REQUIRED" },
    { -0x7680, "MBEDTLS_ERR_SSL_CA_CHAIN_REQUIRED" },
    { -0x7700, "MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE" },
    { -0x7780, "MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE" },
    { -0x7800, "MBEDTLS_ERR_SSL_UNRECOGNIZED_NAME" },
    { -0x7880, "MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY" },
    { -0x7A00, "MBEDTLS_ERR_SSL_BAD_CERTIFICATE" },
    { -0x7B00, "MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET" },
    { -0x7B80, "MBEDTLS_ERR_SSL_CANNOT_READ_EARLY_DATA" },
    { -0x7C00, "MBEDTLS_ERR_SSL_RECEIVED_EARLY_DATA" },
    { -0x7C80, "MBEDTLS_ERR_SSL_CANNOT_WRITE_EARLY_DATA" },
    { -0x7E80, "MBEDTLS_ERR_SSL_CACHE_ENTRY_NOT_FOUND" },
    { -0x7F00, "MBEDTLS_ERR_SSL_ALLOC_FAILED" },
    { -0x7F80, "MBEDTLS_ERR_SSL_HW_ACCEL_FAILED" },
    { -0x6F80, "MBEDTLS_ERR_SSL_HW_ACCEL_FALLTHROUGH" },
    { -0x6E80, "MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION" },
    { -0x6E00, "MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE" },
    { -0x6D80, "MBEDTLS_ERR_SSL_SESSION_TICKET_EXPIRED" },
    { -0x6D00, "MBEDTLS_ERR_SSL_PK_TYPE_MISMATCH" },
    { -0x6C80, "MBEDTLS_ERR_SSL_UNKNOWN_IDENTITY" },
    { -0x6C00, "MBEDTLS_ERR_SSL_INTERNAL_ERROR" },
    { -0x6B80, "MBEDTLS_ERR_SSL_COUNTER_WRAPPING" },
    { -0x6B00, "MBEDTLS_ERR_SSL_WAITING_SERVER_HELLO_RENEGO" },
    { -0x6A80, "MBEDTLS_ERR_SSL_HELLO_VERIFY_REQUIRED" },
    { -0x6A00, "MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL" },
    { -0x6900, "MBEDTLS_ERR_SSL_WANT_READ" },
    { -0x6880, "MBEDTLS_ERR_SSL_WANT_WRITE" },
    { -0x6800, "MBEDTLS_ERR_SSL_TIMEOUT" },
    { -0x6780, "MBEDTLS_ERR_SSL_CLIENT_RECONNECT" },
    { -0x6700, "MBEDTLS_ERR_SSL_UNEXPECTED_RECORD" },
    { -0x6680, "MBEDTLS_ERR_SSL_NON_FATAL" },
    { -0x6600, "MBEDTLS_ERR_SSL_ILLEGAL_PARAMETER" },
    { -0x6580, "MBEDTLS_ERR_SSL_CONTINUE_PROCESSING" },
    { -0x6500, "MBEDTLS_ERR_SSL_ASYNC_IN_PROGRESS" },
    { -0x6480, "MBEDTLS_ERR_SSL_EARLY_MESSAGE" },
    { -0x6000, "MBEDTLS_ERR_SSL_UNEXPECTED_CID" },
    { -0x5F00, "MBEDTLS_ERR_SSL_VERSION_MISMATCH" },
    { -0x5E80, "MBEDTLS_ERR_SSL_BAD_CONFIG" },
    { -0x2080, "MBEDTLS_ERR_X509_FEATURE_UNAVAILABLE" },
    { -0x2100, "MBEDTLS_ERR_X509_UNKNOWN_OID" },
    { -0x2180, "MBEDTLS_ERR_X509_INVALID_FORMAT" },
    { -0x2200, "MBEDTLS_ERR_X509_INVALID_VERSION" },
    { -0x2280, "MBEDTLS_ERR_X509_INVALID_SERIAL" },
    { -0x2300, "MBEDTLS_ERR_X509_INVALID_ALG" },
    { -0x2380, "MBEDTLS_ERR_X509_INVALID_NAME" },
    { -0x2400, "MBEDTLS_ERR_X509_INVALID_DATE" },
    { -0x2480, "MBEDTLS_ERR_X509_INVALID_SIGNATURE" },
    { -0x2500, "MBEDTLS_ERR_X509_INVALID_EXTENSIONS" },
    { -0x2580, "MBEDTLS_ERR_X509_UNKNOWN_VERSION" },
    { -0x2600, "MBEDTLS_ERR_X509_UNKNOWN_SIG_ALG" },
    { -0x2680, "MBEDTLS_ERR_X509_SIG_MISMATCH" },
    { -0x2700, "MBEDTLS_ERR_X509_CERT_VERIFY_FAILED" },
    { -0x2780, "MBEDTLS_ERR_X509_CERT_UNKNOWN_FORMAT" },
    { -0x2800, "MBEDTLS_ERR_X509_BAD_INPUT_DATA" },
    { -0x2880, "MBEDTLS_ERR_X509_ALLOC_FAILED" },
    { -0x2900, "MBEDTLS_ERR_X509_FILE_IO_ERROR" },
    { -0x2980, "MBEDTLS_ERR_X509_BUFFER_TOO_SMALL" },
    { -0x3000, "MBEDTLS_ERR_X509_FATAL_ERROR" },
    { -0x3F80, "MBEDTLS_ERR_PK_ALLOC_FAILED" },
    { -0x3F00, "MBEDTLS_ERR_PK_TYPE_MISMATCH" },
    { -0x3E80, "MBEDTLS_ERR_PK_BAD_INPUT_DATA" },
    { -0x3D00, "MBEDTLS_ERR_PK_KEY_INVALID_FORMAT" },
    { -0x3C80, "MBEDTLS_ERR_PK_UNKNOWN_PK_ALG" },
    { -0x3B00, "MBEDTLS_ERR_PK_INVALID_PUBKEY" },
    { -0x3A80, "MBEDTLS_ERR_PK_INVALID_ALG" },
    { -0x3A00, "MBEDTLS_ERR_PK_UNKNOWN_NAMED_CURVE" },
    { -0x3980, "MBEDTLS_ERR_PK_FEATURE_UNAVAILABLE" },
    { -0x3900, "MBEDTLS_ERR_PK_SIG_LEN_MISMATCH" },
    { -0x4080, "MBEDTLS_ERR_RSA_BAD_INPUT_DATA" },
    { -0x4100, "MBEDTLS_ERR_RSA_INVALID_PADDING" },
    { -0x4200, "MBEDTLS_ERR_RSA_KEY_CHECK_FAILED" },
    { -0x4280, "MBEDTLS_ERR_RSA_PUBLIC_FAILED" },
    { -0x4300, "MBEDTLS_ERR_RSA_PRIVATE_FAILED" },
    { -0x4380, "MBEDTLS_ERR_RSA_VERIFY_FAILED" },
    { -0x4400, "MBEDTLS_ERR_RSA_OUTPUT_TOO_LARGE" },
    { -0x4480, "MBEDTLS_ERR_RSA_RNG_FAILED" },
    { -0x4F80, "MBEDTLS_ERR_ECP_BAD_INPUT_DATA" },
    { -0x4F00, "MBEDTLS_ERR_ECP_BUFFER_TOO_SMALL" },
    { -0x4E80, "MBEDTLS_ERR_ECP_FEATURE_UNAVAILABLE" },
    { -0x4E00, "MBEDTLS_ERR_ECP_VERIFY_FAILED" },
    { -0x4D80, "MBEDTLS_ERR_ECP_ALLOC_FAILED" },
    { -0x4D00, "MBEDTLS_ERR_ECP_RANDOM_FAILED" },
    { -0x4C80, "MBEDTLS_ERR_ECP_INVALID_KEY" },
    { -0x4C00, "MBEDTLS_ERR_ECP_SIG_LEN_MISMATCH" },
    { -0x5080, "MBEDTLS_ERR_MD_FEATURE_UNAVAILABLE" },
    { -0x5100, "MBEDTLS_ERR_MD_BAD_INPUT_DATA" },
    { -0x6080, "MBEDTLS_ERR_CIPHER_FEATURE_UNAVAILABLE" },
    { -0x6100, "MBEDTLS_ERR_CIPHER_BAD_INPUT_DATA" },
    { -0x6200, "MBEDTLS_ERR_CIPHER_INVALID_PADDING" },
    { -0x6300, "MBEDTLS_ERR_CIPHER_AUTH_FAILED" },
};

/* Low-level codes (bits 0x007F), the "+LOW" part of a combined code. */
static const struct code_name k_low_names[] = {
    { -0x0060, "MBEDTLS_ERR_ASN1_OUT_OF_DATA" },
    { -0x0062, "MBEDTLS_ERR_ASN1_UNEXPECTED_TAG" },
    { -0x0064, "MBEDTLS_ERR_ASN1_INVALID_LENGTH" },
    { -0x0066, "MBEDTLS_ERR_ASN1_LENGTH_MISMATCH" },
    { -0x0068, "MBEDTLS_ERR_ASN1_INVALID_DATA" },
    { -0x006A, "MBEDTLS_ERR_ASN1_ALLOC_FAILED" },
    { -0x006C, "MBEDTLS_ERR_ASN1_BUF_TOO_SMALL" },
    { -0x0002, "MBEDTLS_ERR_MPI_FILE_IO_ERROR" },
    { -0x0004, "MBEDTLS_ERR_MPI_BAD_INPUT_DATA" },
    { -0x0006, "MBEDTLS_ERR_MPI_INVALID_CHARACTER" },
    { -0x0008, "MBEDTLS_ERR_MPI_BUFFER_TOO_SMALL" },
    { -0x000A, "MBEDTLS_ERR_MPI_NEGATIVE_VALUE" },
    { -0x000C, "MBEDTLS_ERR_MPI_DIVISION_BY_ZERO" },
    { -0x000E, "MBEDTLS_ERR_MPI_NOT_ACCEPTABLE" },
    { -0x0010, "MBEDTLS_ERR_MPI_ALLOC_FAILED" },
    { -0x0012, "MBEDTLS_ERR_GCM_AUTH_FAILED" },
    { -0x0014, "MBEDTLS_ERR_GCM_BAD_INPUT" },
    { -0x0020, "MBEDTLS_ERR_AES_INVALID_KEY_LENGTH" },
    { -0x0022, "MBEDTLS_ERR_AES_INVALID_INPUT_LENGTH" },
    { -0x0034, "MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED" },
    { -0x003C, "MBEDTLS_ERR_ENTROPY_SOURCE_FAILED" },
};

/* 2.28 value / devtls situation -> the device's code (0 with errno_out: OSError(errno)). */
struct remap {
    long from;
    long to;
    int errno_out;
    const char *why;
};

static const struct remap k_remap[] = {
    { MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN /* -0x7380 */, -0x6E00, 0,
      "3.6 reports no common suite (incl. TLS 1.3-only client, server without certificate) as HANDSHAKE_FAILURE (§2.3)" },
    { MBEDTLS_ERR_SSL_CERTIFICATE_REQUIRED /* -0x7580 */, -0x6E00, 0,
      "server without its own certificate: -28160 on the device (§2.3)" },
    { MBEDTLS_ERR_SSL_CERTIFICATE_TOO_LARGE /* -0x7500 */, -0x6A00, 0,
      "own chain too large for the 4096-byte out buffer (§1.3)" },
    { MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE /* -0x6980 */, -0x5E80, 0,
      "3.6 has no NO_USABLE_CIPHERSUITE; an unusable suite list is BAD_CONFIG" },
    { MBEDTLS_ERR_SSL_BAD_HS_CLIENT_HELLO, -0x7300, 0, "3.6 merged the BAD_HS_* parse errors into DECODE_ERROR" },
    { MBEDTLS_ERR_SSL_BAD_HS_SERVER_HELLO, -0x7300, 0, "BAD_HS_* -> DECODE_ERROR" },
    { MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE_REQUEST, -0x7300, 0, "BAD_HS_* -> DECODE_ERROR" },
    { MBEDTLS_ERR_SSL_BAD_HS_SERVER_KEY_EXCHANGE, -0x7300, 0, "BAD_HS_* -> DECODE_ERROR" },
    { MBEDTLS_ERR_SSL_BAD_HS_SERVER_HELLO_DONE, -0x7300, 0, "BAD_HS_* -> DECODE_ERROR" },
    { MBEDTLS_ERR_SSL_BAD_HS_CLIENT_KEY_EXCHANGE, -0x7300, 0, "BAD_HS_* -> DECODE_ERROR" },
    { MBEDTLS_ERR_SSL_BAD_HS_CLIENT_KEY_EXCHANGE_RP, -0x7300, 0, "BAD_HS_* -> DECODE_ERROR" },
    { MBEDTLS_ERR_SSL_BAD_HS_CLIENT_KEY_EXCHANGE_CS, -0x7300, 0, "BAD_HS_* -> DECODE_ERROR" },
    { MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE_VERIFY, -0x7300, 0, "BAD_HS_* -> DECODE_ERROR" },
    { MBEDTLS_ERR_SSL_BAD_HS_CHANGE_CIPHER_SPEC, -0x7300, 0, "BAD_HS_* -> DECODE_ERROR" },
    { MBEDTLS_ERR_SSL_BAD_HS_FINISHED, -0x6E00, 0, "3.6: wrong Finished is HANDSHAKE_FAILURE" },
    { MBEDTLS_ERR_SSL_ALLOC_FAILED, 0, 12, "§2.1 rule 1: OSError(12)" },
    { DEVTLS_E_NOMEM, 0, 12, "simulated GC heap exhausted (§3 entropy/memory)" },
    { DEVTLS_E_OWN_CHAIN_TOO_BIG, -0x6A00, 0,
      "§1.3: 7+Σ(3+len) > 4096 (2.28's out buffer is 16 KB, so it is checked here)" },
    { DEVTLS_E_PEER_MSG_TOO_BIG, -0x7100, 0,
      "§2.3: peer handshake message over 16 KB (2.28 says FEATURE_UNAVAILABLE)" },
};

static const struct {
    uint32_t flag;
    const char *text;
} k_verify[] = {
    { 0x01, "The certificate validity has expired" },
    { 0x02, "The certificate has been revoked (is on a CRL)" },
    { 0x04, "The certificate Common Name (CN) does not match with the expected CN" },
    { 0x08, "The certificate is not correctly signed by the trusted CA" },
    { 0x10, "The CRL is not correctly signed by the trusted CA" },
    { 0x20, "The CRL is expired" },
    { 0x40, "Certificate was missing" },
    { 0x80, "Certificate verification was skipped" },
    { 0x100, "Other reason (can be used by verify callback)" },
    { 0x200, "The certificate validity starts in the future" },
    { 0x400, "The CRL validity starts in the future" },
    { 0x800, "Usage does not match the keyUsage extension" },
    { 0x1000, "Usage does not match the extendedKeyUsage extension" },
    { 0x2000, "Usage does not match the nsCertType extension" },
    { 0x4000, "The certificate is signed with an unacceptable hash." },
    { 0x8000, "The certificate is signed with an unacceptable PK alg (eg RSA vs ECDSA)." },
    { 0x10000, "The certificate is signed with an unacceptable key (eg bad curve, RSA too short)." },
    { 0x20000, "The CRL is signed with an unacceptable hash." },
    { 0x40000, "The CRL is signed with an unacceptable PK alg (eg RSA vs ECDSA)." },
    { 0x80000, "The CRL is signed with an unacceptable key (eg bad curve, RSA too short)." },
};

/* MicroPython's errno names (MICROPY_PY_ERRNO_LIST default): str(OSError(n)) is
 * "[Errno n] NAME" only for these; otherwise just "n" (e.g. EPIPE). */
static const struct {
    int no;
    const char *name;
} k_errno[] = {
    { 1, "EPERM" }, { 2, "ENOENT" }, { 5, "EIO" }, { 9, "EBADF" }, { 11, "EAGAIN" },
    { 12, "ENOMEM" }, { 13, "EACCES" }, { 17, "EEXIST" }, { 19, "ENODEV" }, { 21, "EISDIR" },
    { 22, "EINVAL" }, { 95, "EOPNOTSUPP" }, { 98, "EADDRINUSE" }, { 103, "ECONNABORTED" },
    { 104, "ECONNRESET" }, { 105, "ENOBUFS" }, { 107, "ENOTCONN" }, { 110, "ETIMEDOUT" },
    { 111, "ECONNREFUSED" }, { 113, "EHOSTUNREACH" }, { 114, "EALREADY" },
    { 115, "EINPROGRESS" },
};

static const char *lookup(const struct code_name *t, size_t n, long code)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].code == code)
            return t[i].name;
    return NULL;
}

void devtls_strerror(long code, char *buf, size_t len)
{
    long pos = -code;
    long high = -(pos & 0xFF80), low = -(pos & 0x7F);
    const char *hn = high ? lookup(k_names, sizeof k_names / sizeof *k_names, high) : NULL;
    const char *ln = low ? lookup(k_low_names, sizeof k_low_names / sizeof *k_low_names, low)
                         : NULL;
    if (hn && ln)
        snprintf(buf, len, "%s+%s", hn, ln);
    else if (hn && !low)
        snprintf(buf, len, "%s", hn);
    else if (ln && !high)
        snprintf(buf, len, "%s", ln);
    else if (hn)
        snprintf(buf, len, "%s", hn);
    else
        snprintf(buf, len, "MBEDTLS_ERR_UNKNOWN (0x%04lX)", pos);
}

void devtls_exc_set(struct devtls_exc *e, const char *type, const char *msg)
{
    memset(e, 0, sizeof *e);
    e->set = 1;
    snprintf(e->type, sizeof e->type, "%s", type);
    if (msg) {
        e->has_msg = 1;
        snprintf(e->msg, sizeof e->msg, "%s", msg);
    }
}

void devtls_exc_oserror(struct devtls_exc *e, long code, const char *msg)
{
    devtls_exc_set(e, "OSError", msg);
    e->has_code = 1;
    e->code = code;
}

void devtls_exc_errno(struct devtls_exc *e, int err)
{
    devtls_exc_oserror(e, err, NULL);
}

void devtls_exc_value(struct devtls_exc *e, const char *msg)
{
    devtls_exc_set(e, "ValueError", msg);
}

void devtls_exc_type(struct devtls_exc *e, const char *msg)
{
    devtls_exc_set(e, "TypeError", msg);
}

int devtls_verify_text(uint32_t flags, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof k_verify / sizeof *k_verify && flags; i++) {
        if (!(flags & k_verify[i].flag))
            continue;
        flags &= ~k_verify[i].flag;
        int n = snprintf(buf + used, len - used, "\n%s\n", k_verify[i].text);
        if (n < 0 || (size_t)n >= len - used)
            return -1;
        used += (size_t)n;
    }
    if (flags) {
        int n = snprintf(buf + used, len - used, "\nUnknown reason (this should not happen)\n");
        if (n < 0 || (size_t)n >= len - used)
            return -1;
    }
    return 0;
}

/* §2.1: the mapping rules of mbedtls_raise_error, applied to a device-side code. */
static void raise_code(struct devtls_exc *e, long code)
{
    if (code == MBEDTLS_ERR_PK_BAD_INPUT_DATA) {
        devtls_exc_value(e, "invalid key");
        return;
    }
    if (code == MBEDTLS_ERR_X509_BAD_INPUT_DATA) {
        devtls_exc_value(e, "invalid cert");
        return;
    }
    if (code < 0 && code > -256) {    /* rule 3: socket errno passed through */
        devtls_exc_errno(e, (int)-code);
        return;
    }
    char name[128];
    devtls_strerror(code, name, sizeof name);
    devtls_exc_oserror(e, code, name);
}

void devtls_exc_from_mbedtls(struct devtls_exc *e, int ret, const mbedtls_ssl_context *ssl,
                             int during_handshake)
{
    if (ret == DEVTLS_E_INTERRUPTED) {
        devtls_exc_set(e, "KeyboardInterrupt", NULL);
        return;
    }
    /* 2.28 cannot reassemble a handshake message split over records; devtls_reasm.c
     * does it up to 16 KB, as the device does, and passes a bigger one on split, which
     * fails here as on the device, with BAD_INPUT_DATA (§2.3). */
    if (ret == MBEDTLS_ERR_SSL_FEATURE_UNAVAILABLE && ssl && during_handshake &&
        ssl->in_hslen > DEVTLS_IN_RECORD)
        ret = DEVTLS_E_PEER_MSG_TOO_BIG;
    if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && during_handshake && ssl) {
        char text[256];
        uint32_t flags = mbedtls_ssl_get_verify_result(ssl);
        if (devtls_verify_text(flags, text, sizeof text) == 0) {   /* rule 5 */
            devtls_exc_value(e, text);
            return;
        }
    }
    for (size_t i = 0; i < sizeof k_remap / sizeof *k_remap; i++) {
        if (k_remap[i].from != ret)
            continue;
        if (k_remap[i].errno_out) {
            devtls_exc_errno(e, k_remap[i].errno_out);
            return;
        }
        raise_code(e, k_remap[i].to);
        return;
    }
    raise_code(e, ret);
}

const char *devtls_pytype(const json_t *v)
{
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_OBJECT: return "dict";
    case JSON_ARRAY: return "list";
    case JSON_STRING: return "str";
    case JSON_INTEGER: return "int";
    case JSON_REAL: return "float";
    case JSON_TRUE:
    case JSON_FALSE: return "bool";
    default: return "NoneType";
    }
}

/* str(exc) as MicroPython prints it (py/objexcept.c). */
static void exc_text(const struct devtls_exc *e, char *buf, size_t len)
{
    if (e->has_code && !e->has_msg) {
        if (strcmp(e->type, "OSError") == 0)
            for (size_t i = 0; i < sizeof k_errno / sizeof *k_errno; i++)
                if (k_errno[i].no == e->code) {
                    snprintf(buf, len, "[Errno %ld] %s", e->code, k_errno[i].name);
                    return;
                }
        snprintf(buf, len, "%ld", e->code);
    } else if (e->has_code) {
        snprintf(buf, len, "(%ld, '%s')", e->code, e->msg);
    } else if (e->has_msg) {
        snprintf(buf, len, "%s", e->msg);
    } else {
        buf[0] = '\0';
    }
}

json_t *devtls_exc_json(const struct devtls_exc *e)
{
    if (!e->set)
        return json_null();
    json_t *args = json_array();
    if (e->has_code)
        json_array_append_new(args, json_integer(e->code));
    if (e->has_msg)
        json_array_append_new(args, json_string(e->msg));
    char text[600];
    exc_text(e, text, sizeof text);
    return json_pack("{s:s,s:o,s:s}", "type", e->type, "args", args, "text", text);
}
