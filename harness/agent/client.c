/* The agent client: requests with ids, replies matched by id, events, the
 * transcript, lost-device detection, and cached file uploads. */
#include "agent_internal.h"

#include <stdlib.h>
#include <string.h>

#include "tm_fs.h"
#include "tm_proto2.h"

#define MAX_NOISE_LINES 2000   /* non-JSON lines tolerated in one wait */
#define MAX_GARBAGE_LINES 200  /* binary-noise lines tolerated in one wait */

/* The link as the options describe it (with the board's reset command). */
static struct link *open_link(struct agent *a, struct tm_err *err)
{
    struct link *l = link_open_logged(a->spec, a->opts.stderr_path, err);
    if (l != NULL && link_set_reset_command(l, a->opts.reset_cmd, err) != 0) {
        link_close(l);
        l = NULL;
    }
    return l;
}

struct agent *agent_open(const char *link_spec, const struct agent_opts *opts,
                         struct tm_err *err)
{
    struct agent *a = calloc(1, sizeof *a);
    if (a == NULL) {
        tm_err_set(err, "out of memory");
        return NULL;
    }
    if (opts != NULL)
        a->opts = *opts;
    if (a->opts.max_bootstraps <= 0)
        a->opts.max_bootstraps = 3;   /* every rung of the recovery ladder */
    snprintf(a->spec, sizeof a->spec, "%s", link_spec);
    a->puts = json_object();
    a->next_id = 1;
    a->mode = "none";
    a->start = "none";
    a->fresh = 1;
    a->link = open_link(a, err);
    if (a->link == NULL || a->puts == NULL) {
        agent_close(a);
        return NULL;
    }
    return a;
}

void agent_close(struct agent *a)
{
    if (a == NULL)
        return;
    agent_lock_release(a);
    json_decref(a->lock_note);
    link_close(a->link);
    json_decref(a->hello);
    json_decref(a->tpl);
    json_decref(a->puts);
    free(a->rx);
    free(a);
}

const json_t *agent_hello(const struct agent *a)
{
    return a->hello;
}

json_t *agent_link_identity(const struct agent *a)
{
    return a->link != NULL ? link_identity(a->link) : NULL;
}

const char *agent_link_spec(const struct agent *a)
{
    return a->spec;
}

size_t agent_link_moves(const struct agent *a, const struct link_move **moves)
{
    *moves = NULL;
    return a->link != NULL ? link_moves(a->link, moves) : 0;
}

const char *agent_upload_mode(const struct agent *a)
{
    return a->mode;
}

size_t agent_upload_bytes(const struct agent *a)
{
    return a->upload_bytes;
}

int agent_bootstrap_count(const struct agent *a)
{
    return a->bootstraps;
}

const char *agent_start(const struct agent *a)
{
    return a->start;
}

const char *agent_store_note(const struct agent *a)
{
    return a->store_off[0] != '\0' ? a->store_off : NULL;
}

void agent_start_counts(const struct agent *a, struct agent_starts *out)
{
    *out = a->starts;
}

int agent_proto(const struct agent *a)
{
    return a->proto;
}

int agent_is_lost(const struct agent *a)
{
    return a->lost;
}

void agent_set_transcript(struct agent *a, json_t *lines)
{
    a->transcript = lines;
}

/* Transcript entries are "> sent", "< received", "! harness note"; bytes that are
 * not printable are shown as \xNN so a garbage burst stays readable. */
static char *escape(const char *prefix, const char *text, size_t len, int high)
{
    size_t cap = strlen(prefix) + len * 4 + 8, o = 0;
    char *s = malloc(cap);
    if (s == NULL)
        return NULL;
    o += (size_t)snprintf(s, cap, "%s", prefix);
    for (size_t i = 0; i < len && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 0x20 && c != 0x7f && (c < 0x80 || !high))
            s[o++] = (char)c;
        else
            o += (size_t)snprintf(s + o, cap - o, "\\x%02x", c);
    }
    s[o] = '\0';
    return s;
}

/* Transcript entries are "> sent", "< received", "! harness note". Control bytes
 * are shown as \xNN, and so are bytes >= 0x80 when the line is not valid UTF-8
 * (a garbage burst), so every line survives as a JSON string. */
void agent_note(struct agent *a, const char *prefix, const char *text, size_t len)
{
    if (a->transcript == NULL)
        return;
    for (int high = 0; high < 2; high++) {
        char *s = escape(prefix, text, len, high);
        json_t *j = s ? json_string(s) : NULL;
        free(s);
        if (j != NULL) {
            json_array_append_new(a->transcript, j);
            return;
        }
    }
}

int agent_rx_fill(struct agent *a, tm_ms deadline, struct tm_err *err)
{
    if (a->rxcap - a->rxlen < 4096) {
        size_t ncap = a->rxcap ? a->rxcap * 2 : 16384;
        unsigned char *nb = realloc(a->rx, ncap);
        if (nb == NULL)
            return tm_err_set(err, "out of memory") - 1;
        a->rx = nb;
        a->rxcap = ncap;
    }
    /* Bytes already here without their line end: the rest is in transit. */
    int64_t t0 = a->rxlen > 0 ? tm_now_us() : 0;
    ssize_t r = link_read(a->link, a->rx + a->rxlen, a->rxcap - a->rxlen, deadline, err);
    if (t0 != 0)
        a->traffic.wait_us += tm_now_us() - t0;
    if (r > 0) {
        a->rxlen += (size_t)r;
        a->traffic.received += (unsigned long long)r;
    }
    return (int)(r > 0 ? 1 : r);
}

int agent_link_write(struct agent *a, const void *p, size_t n, tm_ms deadline,
                     struct tm_err *err)
{
    int64_t t0 = tm_now_us();
    int rc = link_write(a->link, p, n, deadline, err);
    a->traffic.wait_us += tm_now_us() - t0;
    if (rc == 0)
        a->traffic.sent += n;
    return rc;
}

void agent_traffic(const struct agent *a, struct agent_traffic *t)
{
    *t = a->traffic;
}

void agent_traffic_since(const struct agent_traffic *t, const struct agent_traffic *since,
                         struct agent_traffic *out)
{
    out->sent = t->sent - since->sent;
    out->received = t->received - since->received;
    out->wait_us = t->wait_us - since->wait_us;
}

void agent_rx_consume(struct agent *a, size_t n)
{
    if (n >= a->rxlen) {
        a->rxlen = 0;
        return;
    }
    memmove(a->rx, a->rx + n, a->rxlen - n);
    a->rxlen -= n;
}

/* A reply line never holds control bytes (JSON escapes them). A line with them
 * is line noise: kept in the transcript and ignored like any non-JSON line
 * (contracts §3), but a link that carries little else (a baud mismatch, a dying
 * USB bridge) is a lost device. */
static int is_garbage(const char *s, size_t n)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 && c != '\t' && c != '\r' && c != 0x1b)
            bad++;
    }
    return bad > 0;
}

/* The raw REPL marks the end of a program with \x04, then its traceback and a
 * second \x04 (docs/device-model.md §4.2): the agent is gone. */
static int program_ended(struct agent *a, struct tm_err *err)
{
    unsigned char *eot = a->rxlen ? memchr(a->rx, 0x04, a->rxlen) : NULL;
    if (eot == NULL)
        return 0;
    size_t pre = (size_t)(eot - a->rx);
    if (pre)
        agent_note(a, "< ", (const char *)a->rx, pre);
    agent_rx_consume(a, pre + 1);
    /* The traceback follows up to the next \x04; take what is already there. */
    unsigned char *eot2 = memchr(a->rx, 0x04, a->rxlen);
    size_t tlen = eot2 ? (size_t)(eot2 - a->rx) : a->rxlen;
    if (tlen)
        agent_note(a, "< ", (const char *)a->rx, tlen);
    char last[200] = "";
    const char *tb = (const char *)a->rx;
    for (size_t i = 0, start = 0; i <= tlen; i++)
        if (i == tlen || tb[i] == '\n') {
            size_t l = i - start;
            while (l > 0 && (tb[start + l - 1] == '\r'))
                l--;
            if (l > 0)
                snprintf(last, sizeof last, "%.*s", (int)(l < 199 ? l : 199), tb + start);
            start = i + 1;
        }
    agent_rx_consume(a, a->rxlen);
    a->lost = 1;
    a->lost_reset = 1;
    return tm_err_set(err, "device lost: the agent program ended%s%s",
                      last[0] ? ": " : "", last) ;
}

/* Take one complete line from rx (line end \n; any \r before it dropped, so
 * \r\r\n from a cooked pty is one line end). 1 with *line, 0 when incomplete. */
static int take_line(struct agent *a, char **line, size_t *len)
{
    unsigned char *nl = a->rxlen ? memchr(a->rx, '\n', a->rxlen) : NULL;
    if (nl == NULL)
        return 0;
    size_t n = (size_t)(nl - a->rx), keep = n;
    while (keep > 0 && a->rx[keep - 1] == '\r')
        keep--;
    /* Not strndup: line noise can hold NUL bytes, and *len must be the buffer's. */
    *line = malloc(keep + 1);
    if (*line != NULL) {
        memcpy(*line, a->rx, keep);
        (*line)[keep] = '\0';
    }
    *len = keep;
    agent_rx_consume(a, n + 1);
    return *line != NULL;
}

static int lost(struct agent *a, struct tm_err *err, const char *why, const char *line)
{
    a->lost = 1;
    a->lost_reset = 0;
    return tm_err_set(err, "device lost: %s%s%.120s%s", why, line ? " (\"" : "",
                      line ? line : "", line ? "\")" : "");
}

/* The device reset itself: lost, but a bootstrap may bring it back. */
static int lost_reset(struct agent *a, struct tm_err *err, const char *why, const char *line)
{
    lost(a, err, why, line);
    a->lost_reset = 1;
    return -1;
}

int agent_lost_by_reset(const struct agent *a)
{
    return a->lost && a->lost_reset;
}

/* One line: 1 message for id, 0 not for us, -1 lost. */
static int handle_line(struct agent *a, long id, char *line, size_t len, json_t **msg,
                       int *noise, struct tm_err *err)
{
    if (is_garbage(line, len)) {
        agent_note(a, "< ", line, len);
        if (++*noise > MAX_GARBAGE_LINES)
            return lost(a, err, "garbage on the link", NULL);
        return 0;
    }
    json_t *j = NULL;
    if (len > 0 && line[0] == '{')
        j = json_loadb(line, len, 0, NULL);
    agent_note(a, "< ", line, len);
    if (a->rx2 && json_is_object(j)) {   /* proto 2: back to proto 1's form */
        json_t *full = tm_p2_long(j);
        json_decref(j);
        j = full;
        tm_p2_fill(j);
    }
    if (!json_is_object(j)) {
        json_decref(j);
        if (strstr(line, "soft reboot") != NULL)
            return lost_reset(a, err, "soft reboot", line);
        if (strstr(line, "raw REPL; CTRL-B to exit") != NULL)
            return lost_reset(a, err, "device is back at the raw REPL", line);
        if (++*noise > MAX_NOISE_LINES)
            return lost(a, err, "too many non-JSON lines", NULL);
        return 0;
    }
    json_t *jid = json_object_get(j, "id");
    const char *ev = json_string_value(json_object_get(j, "event"));
    /* A tty left in cooked mode echoes our own request, which carries the same
     * id: only a line with an outcome or an event is the agent speaking. */
    int from_agent = ev != NULL || json_object_get(j, "outcome") != NULL;
    if (from_agent && (id < 0 || (json_is_integer(jid) && json_integer_value(jid) == id))) {
        *msg = j;
        return ev != NULL ? AGENT_EVENT : AGENT_REPLY;
    }
    if (ev != NULL && strcmp(ev, "hello") == 0 && !json_is_integer(jid)) {
        json_decref(j);
        return lost_reset(a, err, "the agent restarted (a second hello)", NULL);
    }
    json_decref(j);   /* a late reply to an abandoned request: transcript only */
    return 0;
}

int agent_next(struct agent *a, long id, tm_ms deadline, json_t **msg, struct tm_err *err)
{
    int noise = 0;
    *msg = NULL;
    for (int guard = 0; guard < 1000000; guard++) {
        if (program_ended(a, err) != 0)
            return -1;
        char *line = NULL;
        size_t len = 0;
        while (take_line(a, &line, &len)) {
            int r = handle_line(a, id, line, len, msg, &noise, err);
            free(line);
            if (r != 0)
                return r;
        }
        if (a->rxlen > AGENT_RX_MAX) {
            agent_note(a, "< ", (const char *)a->rx, 200);
            agent_rx_consume(a, a->rxlen);
            return lost(a, err, "over-long line (garbage)", NULL);
        }
        if (tm_expired(deadline))   /* a chatty device must not outlive the deadline */
            return AGENT_TIMEOUT;
        int r = agent_rx_fill(a, deadline, err);
        if (r == 0)
            return AGENT_TIMEOUT;
        if (r < 0) {
            a->lost = 1;
            return tm_err_prefix(err, "device lost");
        }
    }
    return lost(a, err, "endless output", NULL);
}

/* A private key sent to the device ({b64: …} or {str: …} anywhere in a request: a
 * put of a key file, an inline key source) as the transcript shows it. Requests
 * are a few levels deep; depth bounds the walk all the same. */
static void redact_keys(json_t *v, int depth)
{
    const char *k;
    json_t *it;
    size_t i;
    if (depth > 16)
        return;
    json_array_foreach(v, i, it) redact_keys(it, depth + 1);
    json_object_foreach(v, k, it) {
        unsigned char *raw = NULL;
        long n = -1;
        if (json_is_string(it) && strcmp(k, "b64") == 0)
            n = tm_b64_decode(json_string_value(it), &raw);
        int key = n >= 0 ? tm_is_private_key(raw, (size_t)n)
                  : json_is_string(it) && strcmp(k, "str") == 0
                        && tm_is_private_key(json_string_value(it), json_string_length(it));
        free(raw);
        if (key)
            json_object_set_new(v, k,
                                json_string("<private key redacted; --keep-secrets keeps it>"));
        else
            redact_keys(it, depth + 1);
    }
}

/* Fields a template holds: what the runner sends alike in most TLS requests. */
static const char *const tpl_keys[] = { "layer", "host", "server_hostname", "verify_mode",
                                        "nodelay", "deadline_ms", "timeout_ms", "ca", NULL };

/* The request as it goes on the wire (new reference): proto 1 as given, less
 * the proto 2 fields; proto 2 short, a TLS request over the template. */
static json_t *encode(const struct agent *a, const json_t *req)
{
    if (a->proto < 2) {
        json_t *w = json_deep_copy(req);
        json_object_del(w, "want_data");
        json_object_del(w, "verbose");
        return w;
    }
    const char *op = json_string_value(json_object_get(req, "op"));
    json_t *body = tm_p2_tls_op(op) && a->tpl ? tm_p2_diff(req, a->tpl) : json_deep_copy(req);
    if (a->opts.verbose_device && strcmp(op, "tpl") != 0)
        json_object_set_new(body, "verbose", json_true());
    json_t *w = tm_p2_short(body);
    json_decref(body);
    return w;
}

/* The request line as the transcript records it: as it went, private keys redacted. */
static void note_request(struct agent *a, const json_t *req, const char *text)
{
    json_t *shown = a->opts.keep_secrets ? NULL : json_deep_copy(req), *wire = NULL;
    char *red = NULL;
    if (shown != NULL) {
        redact_keys(shown, 0);
        wire = encode(a, shown);
        red = wire ? json_dumps(wire, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    }
    const char *t = red ? red : text;
    size_t len = strlen(t);
    agent_note(a, "> ", t, len > 2000 ? 2000 : len);
    free(red);
    json_decref(wire);
    json_decref(shown);
}

/* proto 2: the first TLS request after a bootstrap sets the template. */
static int set_template(struct agent *a, const json_t *req, tm_ms deadline, struct tm_err *err)
{
    json_t *tpl = json_object(), *reply = NULL;
    for (size_t i = 0; tpl_keys[i]; i++)
        if (json_object_get(req, tpl_keys[i]) != NULL)
            json_object_set(tpl, tpl_keys[i], json_object_get(req, tpl_keys[i]));
    int rc = agent_call(a, "tpl", tpl, deadline, &reply, err);
    const char *oc = json_string_value(json_object_get(reply, "outcome"));
    if (rc == 0 && (oc == NULL || strcmp(oc, "ok") != 0))
        rc = tm_err_set(err, "the agent refused the template (%s)", oc ? oc : "no outcome");
    json_decref(reply);
    if (rc != 0) {
        json_decref(tpl);
        return -1;
    }
    a->tpl = tpl;
    return 0;
}

int agent_negotiate(struct agent *a, tm_ms deadline, struct tm_err *err)
{
    const json_t *protos = json_object_get(a->hello, "protos");
    int offers = 0;
    size_t i;
    json_t *v;
    json_array_foreach(protos, i, v) offers |= json_integer_value(v) == 2;
    if (!offers || (a->opts.proto_max != 0 && a->opts.proto_max < 2))
        return 0;
    json_t *req = json_pack("{s:i}", "v", 2), *reply = NULL;
    a->rx2 = 1;   /* the reply to the switch comes in the new protocol */
    int rc = agent_call(a, "tpl", req, deadline, &reply, err);
    json_decref(req);
    const char *oc = json_string_value(json_object_get(reply, "outcome"));
    if (rc == 0 && oc != NULL && strcmp(oc, "ok") == 0)
        a->proto = 2;
    else if (rc == 0)
        agent_notef(a, "the agent offers proto 2 but refused it (%s): proto 1", oc ? oc : "?");
    a->rx2 = a->proto == 2;
    json_decref(reply);
    return rc != 0 ? tm_err_prefix(err, "switching to proto 2") : 0;
}

int agent_send(struct agent *a, const char *op, const json_t *fields, tm_ms deadline, long *id,
               struct tm_err *err)
{
    if (a->link == NULL) {
        a->lost = 1;
        return tm_err_set(err, "device lost: link is closed");
    }
    if (a->proto >= 2 && a->tpl == NULL && tm_p2_tls_op(op)
        && set_template(a, fields, deadline, err) != 0)
        return tm_err_prefix(err, "sending %s", op);
    if (strcmp(op, "lock") != 0 && agent_lock_renew(a, deadline, err) != 0)
        return -1;
    json_t *req = fields ? json_deep_copy(fields) : json_object();
    if (req == NULL)
        return tm_err_set(err, "out of memory");
    long n = a->next_id++;
    json_object_set_new(req, "id", json_integer(n));
    json_object_set_new(req, "op", json_string(op));
    json_t *wire = encode(a, req);
    char *text = wire ? json_dumps(wire, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(wire);
    if (text != NULL && a->transcript != NULL)
        note_request(a, req, text);
    json_decref(req);
    if (text == NULL)
        return tm_err_set(err, "cannot encode request");
    size_t len = strlen(text);
    char *line = malloc(len + 2);
    int rc = -1;
    if (line != NULL) {
        memcpy(line, text, len);
        line[len] = '\n';
        rc = agent_link_write(a, line, len + 1, deadline, err);
        free(line);
    }
    free(text);
    if (rc != 0) {
        a->lost = 1;
        return tm_err_prefix(err, "device lost: sending %s", op);
    }
    *id = n;
    return 0;
}

int agent_call(struct agent *a, const char *op, const json_t *fields, tm_ms deadline,
               json_t **reply, struct tm_err *err)
{
    long id;
    *reply = NULL;
    if (agent_send(a, op, fields, deadline, &id, err) != 0)
        return -1;
    for (int guard = 0; guard < 10000; guard++) {
        json_t *msg = NULL;
        int r = agent_next(a, id, deadline, &msg, err);
        if (r == AGENT_REPLY) {
            *reply = msg;
            return 0;
        }
        json_decref(msg);
        if (r == AGENT_TIMEOUT) {
            tm_err_set(err, "no reply to %s (id %ld) before the deadline", op, id);
            return 1;
        }
        if (r < 0)
            return -1;
    }
    return tm_err_set(err, "%s: too many events without a reply", op);
}

int agent_put(struct agent *a, const char *device_path, const unsigned char *data,
              size_t len, tm_ms deadline, struct tm_err *err)
{
    char sha[65];
    tm_sha256_hex(data, len, sha);
    const char *held = json_string_value(json_object_get(a->puts, device_path));
    if (held != NULL && strcmp(held, sha) == 0)
        return 0;
    char *b64 = tm_b64_encode(data, len);
    if (b64 == NULL)
        return tm_err_set(err, "out of memory");
    json_t *req = json_pack("{s:s, s:s, s:s}", "path", device_path, "b64", b64, "sha256", sha);
    free(b64);
    json_t *reply = NULL;
    int rc = agent_call(a, "put", req, deadline, &reply, err);
    json_decref(req);
    if (rc != 0) {
        if (rc > 0)
            a->lost = 1;
        return tm_err_prefix(err, "put %s", device_path);
    }
    const char *outcome = json_string_value(json_object_get(reply, "outcome"));
    const char *rsha = json_string_value(json_object_get(reply, "sha256"));
    if (outcome == NULL || strcmp(outcome, "ok") != 0 || rsha == NULL || strcmp(rsha, sha) != 0) {
        const char *e = json_string_value(json_object_get(reply, "error"));
        rc = tm_err_set(err, "put %s: device answered %s%s%s", device_path,
                        outcome ? outcome : "no outcome", e ? ": " : "", e ? e : "");
        if (outcome != NULL && strcmp(outcome, "ok") == 0)
            tm_err_set(err, "put %s: sha256 mismatch (device %s, host %s)", device_path,
                       rsha ? rsha : "none", sha);
    } else {
        json_object_set_new(a->puts, device_path, json_string(sha));
    }
    json_decref(reply);
    return rc;
}
