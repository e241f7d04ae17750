/* The agent protocol (docs/contracts.md §3) served natively: one JSON request per
 * line on stdin, one JSON reply per line on stdout ("\r\n" ends, as the device's
 * print gives). TLS operations go to devtls (devtls.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devtls.h"
#include "tm_fs.h"
#include "tm_proto2.h"
#include "vcam.h"

#define MAX_LINE 65536   /* contracts §3: longer lines are a bad request */

struct line {
    char *p;
    size_t len;
    int over;
};

static void emit_line(struct vcam *vc, json_t *obj)
{
    json_t *s = vc->proto > 1 ? tm_p2_short(obj) : json_incref(obj);
    char *text = json_dumps(s, JSON_COMPACT);
    json_decref(s);
    if (text == NULL)
        return;
    if (vc->garbage_lines)
        vcam_garbage_line(vc);
    vcam_puts(vc, text);
    vcam_puts(vc, "\r\n");
    free(text);
}

/* Read one request line; \n or \r ends it (a \r\n pair gives an empty line, which
 * is skipped). Over-long lines are discarded to their end and flagged. */
static int read_line(struct vcam *vc, struct line *ln)
{
    ln->len = 0;
    ln->over = 0;
    for (;;) {
        int c = vcam_getc(vc, 0);
        if (c < 0)
            return c;
        if (c == '\n' || c == '\r') {
            ln->p[ln->len] = '\0';
            return VC_OK;
        }
        if (ln->len < MAX_LINE)
            ln->p[ln->len++] = (char)c;
        else
            ln->over = 1;
    }
}

static json_t *reply_new(json_t *id, const char *op, const char *outcome)
{
    json_t *r = json_object();
    json_object_set(r, "id", id ? id : json_null());
    if (op != NULL)
        json_object_set_new(r, "op", json_string(op));
    json_object_set_new(r, "outcome", json_string(outcome));
    return r;
}

static json_t *bad_request(json_t *id, const char *op, const char *msg)
{
    json_t *r = reply_new(id, op, "bad-request");
    json_object_set_new(r, "error", json_string(msg));
    return r;
}

/* Why a field was refused; the message names the field. */
enum why { WHY_NONE, WHY_MISSING, WHY_STRING, WHY_INT };

static json_t *bad_field(json_t *id, const char *op, enum why why, const char *field)
{
    char msg[200];
    if (why == WHY_MISSING)
        snprintf(msg, sizeof msg, "missing field: %s", field);
    else if (why == WHY_STRING)
        snprintf(msg, sizeof msg, "wrong type: %s must be a string", field);
    else
        snprintf(msg, sizeof msg, "wrong type: %s must be a non-negative integer", field);
    return bad_request(id, op, msg);
}

/* Typed field access for requests. */
static const char *field_str(json_t *req, const char *name, enum why *why)
{
    json_t *v = json_object_get(req, name);
    if (v == NULL) {
        *why = WHY_MISSING;
        return NULL;
    }
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
        *why = WHY_STRING;   /* embedded NULs cannot name a file either */
        return NULL;
    }
    return json_string_value(v);
}

static int field_int(json_t *req, const char *name, json_int_t *out, enum why *why)
{
    json_t *v = json_object_get(req, name);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        *why = WHY_INT;
        return -1;
    }
    *out = json_integer_value(v);
    return 1;
}

static json_t *vcam_agent_hello(struct vcam *vc)
{
    char machine[160], version[160];
    snprintf(machine, sizeof machine, "%s with %s", vc->prof.board, vc->prof.mcu);
    snprintf(version, sizeof version, "%s (OpenMV %s)", vc->prof.micropython, vc->prof.openmv);
    json_t *protocols = json_pack("[s, s]", "PROTOCOL_TLS_CLIENT", "PROTOCOL_TLS_SERVER");
    if (vc->prof.dtls) {
        json_array_append_new(protocols, json_string("PROTOCOL_DTLS_CLIENT"));
        json_array_append_new(protocols, json_string("PROTOCOL_DTLS_SERVER"));
    }
    return json_pack(
        "{s:s, s:s, s:i, s:[i, i], s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:s},"
        " s:{s:b, s:b}, s:s, s:I, s:[s], s:{s:I, s:b},"
        " s:{s:b, s:b, s:b, s:b, s:b, s:o, s:b, s:b, s:b}, s:s, s:b, s:o, s:o}",
        "event", "hello", "agent", "tlsmatrix-agent", "proto", 1, "protos", 1, 2,
        "impl", "name", "micropython", "version", vc->prof.impl_version, "machine", machine,
        "uname", "sysname", vc->prof.sysname, "nodename", vc->prof.sysname,
        "release", vc->prof.impl_version, "version", version, "machine", machine,
        "modules", "ssl", 1, "tls", 1,
        "mbedtls", devtls_mbedtls_version(),
        "heap_free", (json_int_t)vc->heap_free,
        "addrs", "127.0.0.1",
        "clock", "epoch", (json_int_t)vcam_rtc_now(vc), "settable", vc->prof.rtc,
        "caps", "dtls", vc->prof.dtls, "set_ciphers", 1, "client_id", vc->prof.client_id,
        "pem", devtls_pem(), "fs_writable", vc->fs != VCAM_FS_RO, "protocols", protocols,
        "sessions", 1, "soft_reset", 1, "asyncio", 1,
        "profile", vc->prof.name, "virtual", 1,
        "lock", vcam_lock_holder(vc), "unique_id", vcam_unique_id(vc));
}

static json_t *op_lock(struct vcam *vc, json_t *id, json_t *req)
{
    const char *why = NULL;
    json_t *h = vcam_lock_op(vc, req, &why);
    if (h == NULL)
        return bad_request(id, "lock", why);
    json_t *r = reply_new(id, "lock", "ok");
    json_object_set_new(r, "holder", h);
    return r;
}

static json_t *op_info(struct vcam *vc, json_t *id)
{
    json_t *r = reply_new(id, "info", "ok");
    json_t *h = vcam_agent_hello(vc);
    json_object_del(h, "event");
    json_object_update(r, h);
    json_decref(h);
    return r;
}

/* The agent's cwd is /flash: relative paths and /flash/... land in the flash dir;
 * anything else is off the device's file system (OSError ENOENT, as the VFS says). */
static int flash_path(struct vcam *vc, const char *path, char *out, size_t outlen)
{
    const char *rel = path;
    if (path[0] == '/') {
        if (strncmp(path, "/flash/", 7) != 0)
            return -1;
        rel = path + 7;
    }
    if (*rel == '\0')
        return -1;
    for (const char *p = rel; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return -1;
        p += n;
        while (*p == '/')
            p++;
    }
    int w = snprintf(out, outlen, "%s/%s", vc->flash_dir, rel);
    return w > 0 && (size_t)w < outlen ? 0 : -1;
}

static json_t *os_error(json_t *r, int eno, const char *name, const char *why)
{
    char text[64];
    snprintf(text, sizeof text, "[Errno %d] %s", eno, name);
    json_object_set_new(r, "exc", json_pack("{s:s, s:[i], s:s}", "type", "OSError",
                                            "args", eno, "text", text));
    json_object_set_new(r, "error", json_string(why));
    return r;
}

static json_t *op_put(struct vcam *vc, json_t *id, json_t *req)
{
    enum why why = WHY_NONE;
    const char *path = field_str(req, "path", &why);
    if (path == NULL)
        return bad_field(id, "put", why, "path");
    const char *b64 = field_str(req, "b64", &why);
    if (b64 == NULL)
        return bad_field(id, "put", why, "b64");
    const char *want = field_str(req, "sha256", &why);
    if (want == NULL)
        return bad_field(id, "put", why, "sha256");

    unsigned char *data = NULL;
    long len = tm_b64_decode(b64, &data);
    if (len < 0)
        return bad_request(id, "put", "b64: not valid base64");
    char got[65];
    tm_sha256_hex(data, (size_t)len, got);
    json_t *r;
    char full[2048];
    if (strcasecmp(got, want) != 0) {
        r = reply_new(id, "put", "error");
        json_object_set_new(r, "error", json_string("sha256 mismatch: file not written"));
    } else if (flash_path(vc, path, full, sizeof full) != 0) {
        r = os_error(reply_new(id, "put", "error"), 2, "ENOENT",
                     "path outside the flash file system");
    } else {
        int eno = vcam_fs_write(vc, full, data, (size_t)len);
        if (eno != 0)
            r = os_error(reply_new(id, "put", "error"), eno, eno == 30 ? "EROFS" : eno == 28
                         ? "ENOSPC" : "EIO", "write failed");
        else
            r = reply_new(id, "put", "ok");
    }
    json_object_set_new(r, "size", json_integer(len));
    json_object_set_new(r, "sha256", json_string(got));
    free(data);
    return r;
}

static json_t *op_clock(struct vcam *vc, json_t *id, json_t *req)
{
    json_t *set = json_object_get(req, "set");
    int setting = set != NULL && !json_is_null(set);
    if (setting && !json_is_integer(set))
        return bad_request(id, "clock", "wrong type: set must be an integer (UTC epoch)");
    if (setting && vc->prof.rtc)
        vcam_rtc_set(vc, json_integer_value(set));
    json_t *r = reply_new(id, "clock", setting && !vc->prof.rtc ? "unsupported" : "ok");
    json_object_set_new(r, "epoch", json_integer(vcam_rtc_now(vc)));
    json_object_set_new(r, "settable", json_boolean(vc->prof.rtc));
    return r;
}

/* Where a requested fault lands: `at` (a tm_fault.h place, counted from this
 * fault's reply) or `after_ms`, not both; neither = at once. */
static json_t *fault_place(json_t *id, json_t *req, struct tm_fault *spec)
{
    enum why why = WHY_NONE;
    json_int_t after = 0;
    int has_after = field_int(req, "after_ms", &after, &why);
    if (has_after < 0)
        return bad_field(id, "fault", why, "after_ms");
    json_t *at = json_object_get(req, "at");
    if (at == NULL || json_is_null(at)) {
        spec->place = TM_AT_MS;
        spec->n = after;
        return NULL;
    }
    const char *text = field_str(req, "at", &why);
    if (text == NULL)
        return bad_field(id, "fault", why, "at");
    if (has_after > 0)
        return bad_request(id, "fault", "at and after_ms: give one place, not both");
    struct tm_err err;
    char msg[sizeof err.msg + 8];
    if (tm_fault_parse_place(text, spec, &err) != TM_FAULT_OK) {
        snprintf(msg, sizeof msg, "at: %s", err.msg);
        return bad_request(id, "fault", msg);
    }
    if (spec->place == TM_AT_BOOT)   /* the agent and its faults end with the reboot */
        return bad_request(id, "fault", "at: boot=N cannot be requested (use vcam --fault)");
    return NULL;
}

static json_t *op_fault(struct vcam *vc, json_t *id, json_t *req)
{
    enum why why = WHY_NONE;
    const char *kind = field_str(req, "kind", &why);
    if (kind == NULL)
        return bad_field(id, "fault", why, "kind");
    struct tm_fault spec = { 0 };
    if (tm_fault_kind_lookup(kind, &spec.kind) != TM_FAULT_OK)
        return bad_request(id, "fault", "kind: unknown fault kind (reboot|stall|garbage|drop|baud|leak)");
    json_int_t ms = 0, baud = 0, bytes = 0;
    if (field_int(req, "ms", &ms, &why) < 0)
        return bad_field(id, "fault", why, "ms");
    int has_baud = field_int(req, "baud", &baud, &why);
    if (has_baud < 0)
        return bad_field(id, "fault", why, "baud");
    if (spec.kind == TM_FAULT_BAUD && has_baud == 0)
        return bad_field(id, "fault", WHY_MISSING, "baud");
    int has_bytes = field_int(req, "bytes", &bytes, &why);
    if (has_bytes < 0)
        return bad_field(id, "fault", why, "bytes");
    if (spec.kind == TM_FAULT_LEAK && has_bytes == 0)
        return bad_field(id, "fault", WHY_MISSING, "bytes");
    spec.arg = spec.kind == TM_FAULT_BAUD ? baud : spec.kind == TM_FAULT_LEAK ? bytes : ms;
    json_t *bad = fault_place(id, req, &spec);
    if (bad != NULL)
        return bad;
    if (vcam_fault_add(vc, &spec, 1) != 0)
        return bad_request(id, "fault", "too many pending faults");
    json_t *r = reply_new(id, "fault", "ok");
    json_object_set_new(r, "kind", json_string(kind));
    char place[96];
    tm_fault_place_format(&spec, place, sizeof place);
    json_object_set_new(r, "at", json_string(place));
    if (spec.place == TM_AT_MS)
        json_object_set_new(r, "after_ms", json_integer(spec.n));
    return r;
}

/* devtls callbacks */
static int64_t cb_rtc(void *ctx)
{
    return vcam_rtc_now(ctx);
}

static void cb_emit(void *ctx, json_t *event)
{
    struct vcam *vc = ctx;
    if (vc->pending == VC_OK)
        emit_line(vc, event);
    json_decref(event);
}

/* Polled by devtls while it waits: Ctrl-C raises KeyboardInterrupt in the agent;
 * a reboot or drop fault ends the operation; a stall blocks right here. */
static int cb_interrupted(void *ctx)
{
    struct vcam *vc = ctx;
    int r = vcam_poll(vc);
    if (r == VC_EOF || r == VC_REBOOT)
        vc->pending = r;
    return r != VC_OK;
}

/* devtls reached a named point of the operation: faults placed there fire; a
 * reboot or drop ends the operation (no reply, as on the device). */
static int cb_reached(void *ctx, enum tm_fault_stage stage)
{
    struct vcam *vc = ctx;
    int r = vcam_event(vc, TM_AT_STAGE, (int)stage);
    if (r == VC_EOF || r == VC_REBOOT)
        vc->pending = r;
    return r != VC_OK;
}

static struct devtls_env tls_env(struct vcam *vc)
{
    return (struct devtls_env){
        .flash_dir = vc->flash_dir,
        .no_dtls = !vc->prof.dtls, .no_client_id = !vc->prof.client_id,
        .bare_io_errors = !vc->prof.io_error_text,
        .rtc_now = cb_rtc, .rtc_ctx = vc,
        .emit = cb_emit, .emit_ctx = vc,
        .interrupted = cb_interrupted, .int_ctx = vc,
        .reached = cb_reached,
        .heap_total = vc->heap_free,
    };
}

static int conns_open(const struct vcam *vc)
{
    int n = 0;
    for (int i = 0; i < VCAM_MAX_CONNS; i++)
        n += vc->conns[i] != NULL;
    return n;
}

/* A kept connection into the table: its id, or 0 when the table is full (the
 * connection is then closed, and the reply says so). */
static long conn_store(struct vcam *vc, struct devtls_conn *c)
{
    for (int i = 0; i < VCAM_MAX_CONNS; i++) {
        if (vc->conns[i] == NULL) {
            vc->conns[i] = c;
            vc->conn_ids[i] = ++vc->next_conn;
            return vc->next_conn;
        }
    }
    vc->heap_free += devtls_conn_heap(c);
    devtls_conn_free(c);
    return 0;
}

/* Close every kept connection (gc release, the agent's end), giving its heap back. */
static void conns_release(struct vcam *vc)
{
    for (int i = 0; i < VCAM_MAX_CONNS; i++) {
        if (vc->conns[i] == NULL)
            continue;
        vc->heap_free += devtls_conn_heap(vc->conns[i]);
        devtls_conn_free(vc->conns[i]);
        vc->conns[i] = NULL;
    }
}

static json_t *op_tls(struct vcam *vc, json_t *id, const char *op, json_t *req)
{
    struct devtls_env env = tls_env(vc);
    struct devtls_conn *kept = NULL;
    long leaked0 = vc->leaked;
    json_t *r = devtls_run_keep(&env, req, &kept);
    /* The GC heap figure follows what devtls says is left after the operation
     * (everything mbedTLS allocated is freed by then unless devtls leaks, or the
     * connection is kept: its TLS state stays charged), less what a leak fault
     * placed inside the operation took. */
    json_t *after = json_object_get(r, "heap_after");
    int figures = json_is_integer(after);   /* not a bad request: `after` is replaced below */
    if (figures && json_integer_value(after) > 0 && json_integer_value(after) <= vc->prof.heap) {
        long left = (long)json_integer_value(after) - (vc->leaked - leaked0);
        vc->heap_free = left > 0 ? left : 0;
        json_object_set_new(r, "heap_after", json_integer(vc->heap_free));
    }
    if (kept != NULL) {
        long cid = conn_store(vc, kept);
        json_object_set_new(r, "conn", cid ? json_integer(cid) : json_null());
        if (cid == 0)
            json_object_set_new(r, "heap_after", json_integer(vc->heap_free));
    }
    if (figures)
        json_object_set_new(r, "open", json_integer(conns_open(vc)));
    if (json_object_get(r, "id") == NULL)
        json_object_set(r, "id", id);
    if (json_object_get(r, "op") == NULL)
        json_object_set_new(r, "op", json_string(op));
    return r;
}

/* A step on a kept connection (contracts §3 `conn`). */
static json_t *op_conn(struct vcam *vc, json_t *id, json_t *req)
{
    json_int_t cid = 0;
    enum why why = WHY_NONE;
    int slot = -1;
    if (field_int(req, "conn", &cid, &why) <= 0)
        return bad_field(id, "conn", why == WHY_NONE ? WHY_MISSING : why, "conn");
    for (int i = 0; i < VCAM_MAX_CONNS; i++)
        if (vc->conns[i] != NULL && vc->conn_ids[i] == cid)
            slot = i;
    if (slot < 0) {
        char msg[64];
        snprintf(msg, sizeof msg, "unknown conn: %lld", (long long)cid);
        return bad_request(id, "conn", msg);
    }
    struct devtls_env env = tls_env(vc);
    long before = vc->heap_free, held = devtls_conn_heap(vc->conns[slot]);
    int gone = 0;
    json_t *r = devtls_conn_run(vc->conns[slot], &env, req, &gone);
    vc->heap_free += held - (gone ? 0 : devtls_conn_heap(vc->conns[slot]));
    if (gone) {
        devtls_conn_free(vc->conns[slot]);
        vc->conns[slot] = NULL;
    }
    if (json_object_get(r, "ms") != NULL) {   /* not a bad request */
        json_object_set_new(r, "heap_before", json_integer(before));
        json_object_set_new(r, "heap_after", json_integer(vc->heap_free));
        json_object_set_new(r, "open", json_integer(conns_open(vc)));
    }
    return r;
}

static json_t *op_gc(struct vcam *vc, json_t *id, json_t *req)
{
    json_t *rel = json_object_get(req, "release");
    if (rel != NULL && !json_is_null(rel) && !json_is_boolean(rel))
        return bad_request(id, "gc", "wrong type: release must be bool");
    if (json_is_true(rel))
        conns_release(vc);
    json_t *r = reply_new(id, "gc", "ok");
    json_object_set_new(r, "heap_free", json_integer(vc->heap_free));
    json_object_set_new(r, "open", json_integer(conns_open(vc)));
    return r;
}

/* time.sleep(): Ctrl-C and faults still reach the device meanwhile. */
/* Switch the protocol and set the template (contracts §3.1). */
static json_t *op_tpl(struct vcam *vc, json_t *id, json_t *req)
{
    json_t *v = json_object_get(req, "v");
    json_int_t ver = json_is_integer(v) ? json_integer_value(v) : vc->proto;
    if (v != NULL && !json_is_null(v) && !json_is_integer(v))
        return bad_request(id, "tpl", "wrong type: v must be int");
    if (ver != 1 && ver != 2)
        return bad_request(id, "tpl", "v must be 1 or 2");
    json_decref(vc->tpl);
    vc->tpl = json_deep_copy(req);
    json_object_del(vc->tpl, "id");
    json_object_del(vc->tpl, "op");
    json_object_del(vc->tpl, "v");
    vc->proto = (int)ver;
    json_t *r = reply_new(id, "tpl", "ok");
    json_object_set_new(r, "v", json_integer(ver));
    return r;
}

static json_t *op_sleep(struct vcam *vc, json_t *id, json_t *req)
{
    json_int_t ms = 0;
    enum why why = WHY_NONE;
    if (field_int(req, "ms", &ms, &why) <= 0)
        return bad_field(id, "sleep", why == WHY_NONE ? WHY_MISSING : why, "ms");
    tm_ms until = tm_deadline_in(ms);
    while (!tm_expired(until) && !cb_interrupted(vc))
        tm_sleep_ms(tm_remaining_ms(until) < 20 ? tm_remaining_ms(until) : 20);
    return reply_new(id, "sleep", "ok");
}

/* One line -> one reply. *after is set to VC_SOFT_RESET by the reset op. */
static json_t *handle(struct vcam *vc, const struct line *ln, int *after)
{
    if (ln->over)
        return bad_request(NULL, NULL, "line over 65536 bytes (discarded)");
    json_error_t jerr;
    json_t *req = json_loadb(ln->p, ln->len, JSON_DECODE_ANY, &jerr);
    if (req == NULL) {
        char msg[220];
        snprintf(msg, sizeof msg, "bad JSON: %s (column %d)", jerr.text, jerr.column);
        return bad_request(NULL, NULL, msg);
    }
    if (vc->proto > 1 && json_is_object(req)) {
        json_t *full = tm_p2_long(req);
        json_decref(req);
        req = full;
        const char *o = json_string_value(json_object_get(req, "op"));
        if (tm_p2_tls_op(o)) {
            full = tm_p2_merge(req, vc->tpl);
            json_decref(req);
            req = full;
        }
    }
    json_t *r = NULL;
    json_t *id = json_object_get(req, "id");
    enum why why = WHY_NONE;
    const char *op = NULL;
    if (!json_is_object(req))
        r = bad_request(NULL, NULL, "request is not a JSON object");
    else if (id == NULL)
        r = bad_field(NULL, NULL, WHY_MISSING, "id");
    else if (!json_is_integer(id))
        r = bad_request(NULL, NULL, "wrong type: id must be an integer");
    else if ((op = field_str(req, "op", &why)) == NULL)
        r = bad_field(id, NULL, why, "op");
    else if (strcmp(op, "info") == 0)
        r = op_info(vc, id);
    else if (strcmp(op, "put") == 0)
        r = op_put(vc, id, req);
    else if (strcmp(op, "clock") == 0)
        r = op_clock(vc, id, req);
    else if (strcmp(op, "lock") == 0)
        r = op_lock(vc, id, req);
    else if (strcmp(op, "fault") == 0)
        r = op_fault(vc, id, req);
    else if (strcmp(op, "conn") == 0)
        r = op_conn(vc, id, req);
    else if (strcmp(op, "gc") == 0)
        r = op_gc(vc, id, req);
    else if (strcmp(op, "sleep") == 0)
        r = op_sleep(vc, id, req);
    else if (strcmp(op, "tpl") == 0)
        r = op_tpl(vc, id, req);
    else if (strcmp(op, "reset") == 0) {
        r = reply_new(id, "reset", "ok");
        *after = VC_SOFT_RESET;   /* machine.soft_reset() after the reply */
    } else if (!strcmp(op, "tls_client") || !strcmp(op, "tls_server") ||
               !strcmp(op, "dtls_client") || !strcmp(op, "dtls_server"))
        r = op_tls(vc, id, op, req);
    else
    {
        /* Cut at a character boundary: jansson refuses a split UTF-8 sequence, and
         * the reply would lose its error text. */
        size_t n = strlen(op) < 100 ? strlen(op) : 100;
        while (n > 0 && op[n] != '\0' && ((unsigned char)op[n] & 0xC0) == 0x80)
            n--;
        char msg[200];
        snprintf(msg, sizeof msg, "unknown op: %.*s", (int)n, op);
        r = bad_request(id, op, msg);
    }
    if (vc->proto > 1)
        tm_p2_lean(r, req);
    json_decref(req);
    return r;
}

/* The session holder's requests (docs/contracts.md §3) come with the clock (a
 * renewal every quarter lease): request=N faults count the other requests. */
static int is_lock_request(const struct line *ln)
{
    if (ln->over || memmem(ln->p, ln->len, "\"lock\"", 6) == NULL)
        return 0;
    json_t *req = json_loadb(ln->p, ln->len, 0, NULL);
    json_t *o = json_object_get(req, "op");
    const char *op = json_string_value(o != NULL ? o : json_object_get(req, "o"));   /* proto 2: "o" */
    int lock = op != NULL && strcmp(op, "lock") == 0;
    json_decref(req);
    return lock;
}

int vcam_agent_run(struct vcam *vc)
{
    struct line ln = { .p = malloc(MAX_LINE + 1) };
    if (ln.p == NULL)
        return VC_EOF;
    vcam_faults_arm_flags(vc);
    /* A new agent's objects replace the old one's (the GC frees those); leaked
     * blocks stay taken until a boot. */
    vc->heap_free = vc->prof.heap - vc->prof.agent_heap - vc->leaked;
    if (vc->heap_free < 0)
        vc->heap_free = 0;
    vc->pending = VC_OK;
    vc->proto = 1;   /* a new agent speaks proto 1 until a `tpl` */
    json_decref(vc->tpl);
    vc->tpl = NULL;
    json_t *hello = vcam_agent_hello(vc);
    emit_line(vc, hello);
    json_decref(hello);
    int r;
    for (;;) {
        r = read_line(vc, &ln);
        if (r != VC_OK)
            break;
        if (ln.len == 0 && !ln.over)
            continue;
        r = is_lock_request(&ln) ? VC_OK : vcam_event(vc, TM_AT_REQUEST, 0);   /* read, not yet handled */
        if (r != VC_OK)
            break;
        int after = VC_OK;
        json_t *reply = handle(vc, &ln, &after);
        if (vc->pending != VC_OK || vc->kbd_pending) {
            /* The operation was cut short: no reply, as on the device. */
            json_decref(reply);
            r = vc->pending != VC_OK ? vc->pending : VC_KBD;
            vc->pending = VC_OK;
            vc->kbd_pending = 0;
            break;
        }
        emit_line(vc, reply);
        json_decref(reply);
        vcam_faults_arm_requested(vc);
        if (after == VC_SOFT_RESET) {
            r = VC_SOFT_RESET;
            break;
        }
    }
    free(ln.p);
    json_decref(vc->tpl);
    vc->tpl = NULL;
    conns_release(vc);   /* the agent's objects end with it (soft reset, reboot, EOF) */
    return r;
}
