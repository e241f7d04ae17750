/* The device's exceptions (docs/device-model.md §2): MicroPython's
 * mbedtls_raise_error (extmod/modtls_mbedtls.c) over the library's own codes. The
 * "MBEDTLS_ERR_…" texts come from mbedtls_strerror, which in this build is
 * MicroPython's compact table (lib/mbedtls_errors, camera/sim/mbedtls.cmake), and
 * the verify texts from mbedtls_x509_crt_verify_info, as on the device. */
#include <stdio.h>
#include <string.h>

#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509.h>
#include <mbedtls/x509_crt.h>

#include "devtls_int.h"

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

/* MicroPython's buffer for the message (ERR_STR_MAX): mbedtls_strerror truncates. */
#define ERR_STR_MAX 80
#define STR_OBJECT 16   /* mp_obj_str_t on a 32-bit port */

void devtls_exc_memory(struct devtls_exc *e, long bytes)
{
    char msg[80];   /* py/runtime.c m_malloc_fail */
    snprintf(msg, sizeof msg, "memory allocation failed, allocating %ld bytes", bytes);
    devtls_exc_set(e, "MemoryError", msg);
}

/* §2.1: the mapping rules of mbedtls_raise_error. */
static void raise_code(struct devtls_exc *e, long code)
{
    if (code == MBEDTLS_ERR_SSL_ALLOC_FAILED || code == DEVTLS_E_NOMEM) {   /* rule 1 */
        devtls_exc_errno(e, 12);
        return;
    }
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
    /* The text is a str object and an ERR_STR_MAX buffer on the GC heap; when the
     * heap cannot give them, the device raises the bare code (§2.1 rule 4). */
    if (!devtls_heap_has(STR_OBJECT + ERR_STR_MAX)) {
        devtls_exc_oserror(e, code, NULL);
        return;
    }
    char name[ERR_STR_MAX];
    mbedtls_strerror((int)code, name, sizeof name);
    devtls_exc_oserror(e, code, name);
}

void devtls_exc_from_mbedtls(struct devtls_exc *e, int ret, const mbedtls_ssl_context *ssl,
                             int during_handshake)
{
    if (ret == DEVTLS_E_INTERRUPTED) {
        devtls_exc_set(e, "KeyboardInterrupt", NULL);
        return;
    }
    if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && during_handshake && ssl) {
        char text[256];   /* rule 5: the device's xcbuf */
        uint32_t flags = mbedtls_ssl_get_verify_result(ssl);
        if (mbedtls_x509_crt_verify_info(text, sizeof text, "\n", flags) > 0) {
            devtls_exc_value(e, text);
            return;
        }
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
