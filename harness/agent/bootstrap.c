/* Raw-REPL bootstrap, the way mpremote does it (docs/device-model.md §4.3): interrupt,
 * enter the raw REPL, send the agent by raw-paste (falling back to classic raw
 * mode for good when the firmware refuses), then wait for the agent's hello. */
#include "agent_internal.h"

#include <stdlib.h>
#include <string.h>

#include "tm_fs.h"

#define RAW_BANNER "raw REPL; CTRL-B to exit\r\n>"
#define AGENT_HEADER "# tlsmatrix-agent proto=1"
/* mpremote waits up to 10 s for the raw REPL banner in one go; here a short
 * first wait, a second interrupt, then a longer wait (7 s in all): a device
 * that answers neither is stalled and recovery moves on to a link reset. */
#define ENTER_FIRST_MS 2000
#define ENTER_MS 5000
#define HELLO_MS 15000
#define SOFT_RESET_MS 5000
/* A busy board (a main.py in a camera loop): Ctrl-C until the output stops for
 * QUIET_MS, each with INTERRUPT_WINDOW_MS to take effect, MAX_INTERRUPTS in all. */
#define QUIET_MS 200
#define INTERRUPT_WINDOW_MS 1000
#define MAX_INTERRUPTS 6
#define CLASSIC_CHUNK 256   /* classic raw: 256-byte chunks 10 ms apart (§4.3) */
/* What the compressed loader (pack.c) imports; one classic-raw exec tells
 * whether the firmware has it (deflate is MicroPython >= 1.21, "extra features"). */
#define PROBE_CODE "import deflate,io,binascii"
#define PROBE_MS 3000

static int send_bytes(struct agent *a, const void *p, size_t n, tm_ms deadline,
                      struct tm_err *err)
{
    return agent_link_write(a, p, n, deadline, err);
}

static tm_ms min_deadline(tm_ms a, tm_ms b)
{
    return a < b ? a : b;
}

/* Read until pattern appears; consumes through it. 0 found, 1 deadline, -1 error. */
int agent_read_until(struct agent *a, const char *pat, size_t plen, tm_ms deadline,
                     struct tm_err *err)
{
    for (int guard = 0; guard < 100000; guard++) {
        unsigned char *hit = a->rxlen >= plen ? memmem(a->rx, a->rxlen, pat, plen) : NULL;
        if (hit != NULL) {
            agent_rx_consume(a, (size_t)(hit - a->rx) + plen);
            return 0;
        }
        if (a->rxlen > 65536)   /* keep the tail that could still start a match */
            agent_rx_consume(a, a->rxlen - plen);
        if (tm_expired(deadline))
            return 1;
        int r = agent_rx_fill(a, deadline, err);
        if (r == 0)
            return 1;
        if (r < 0)
            return -1;
    }
    return tm_err_set(err, "no end to device output");
}

/* Discard input until the device is quiet for quiet_ms. 0 quiet, 1 still
 * talking when the deadline came, -1 error. */
static int drain(struct agent *a, int quiet_ms, tm_ms deadline, struct tm_err *err)
{
    for (;;) {
        if (a->rxlen)
            agent_note(a, "< ", (const char *)a->rx, a->rxlen);
        agent_rx_consume(a, a->rxlen);
        if (tm_expired(deadline))
            return 1;
        tm_ms q = min_deadline(tm_deadline_in(quiet_ms), deadline);
        int r = agent_rx_fill(a, q, err);
        if (r == 0)
            return tm_expired(deadline) && q == deadline ? 1 : 0;
        if (r < 0)
            return -1;
    }
}

static int read_exact(struct agent *a, unsigned char *out, size_t n, tm_ms deadline,
                      struct tm_err *err)
{
    while (a->rxlen < n) {
        int r = agent_rx_fill(a, deadline, err);
        if (r == 0)
            return tm_err_set(err, "device sent %zu of %zu expected bytes before the deadline",
                              a->rxlen, n);
        if (r < 0)
            return -1;
    }
    memcpy(out, a->rx, n);
    agent_rx_consume(a, n);
    return 0;
}

/* Interrupt until the device goes quiet. A board's main.py may print every few
 * milliseconds and catch KeyboardInterrupt (docs/device-model.md §4.3): each
 * Ctrl-C gets INTERRUPT_WINDOW_MS for the output to stop before the next one.
 * The first round sends two (the agent may be inside a blocking call). 0 quiet,
 * 1 still printing after MAX_INTERRUPTS, -1 error; *sent counts the Ctrl-C. */
static int interrupt_until_quiet(struct agent *a, tm_ms deadline, int *sent,
                                 struct tm_err *err)
{
    for (int round = 0; *sent < MAX_INTERRUPTS; round++) {
        if (send_bytes(a, "\r\x03", 2, deadline, err) != 0)
            return -1;
        ++*sent;
        if (round == 0 && *sent < MAX_INTERRUPTS) {   /* a second attempt starts at any count */
            tm_sleep_ms(50);
            if (send_bytes(a, "\x03", 1, deadline, err) != 0)
                return -1;
            ++*sent;
        }
        int r = drain(a, QUIET_MS, min_deadline(deadline, tm_deadline_in(INTERRUPT_WINDOW_MS)),
                      err);
        if (r <= 0)
            return r;
        if (tm_expired(deadline))
            break;
    }
    return 1;
}

/* Interrupt until quiet, \r\x01, the banner; twice. A device that never stops
 * printing is named as such: nothing else would tell a busy main.py from a
 * dead link. */
static int enter_raw_repl(struct agent *a, tm_ms deadline, struct tm_err *err)
{
    int sent = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        int r = interrupt_until_quiet(a, deadline, &sent, err);
        if (r < 0)
            return -1;
        if (r > 0)
            return tm_err_setc(err, TM_E_TIMEOUT, "the board kept printing and ignored %d "
                               "interrupts (Ctrl-C): a main.py that catches "
                               "KeyboardInterrupt? Remove it or power the board with "
                               "it disabled", sent);
        if (send_bytes(a, "\r\x01", 2, deadline, err) != 0)
            return -1;
        r = agent_read_until(a, RAW_BANNER, strlen(RAW_BANNER),
                             min_deadline(deadline, tm_deadline_in(attempt ? ENTER_MS
                                                                           : ENTER_FIRST_MS)),
                             err);
        if (r <= 0)
            return r;
        agent_note(a, "! ", "no raw REPL banner, interrupting again", 38);
    }
    return tm_err_set(err, "no raw REPL banner (\"raw REPL; CTRL-B to exit\") after Ctrl-C, Ctrl-A");
}

/* Ctrl-D on the raw REPL's empty line: OK, "MPY: soft reboot", the raw REPL
 * banner again (docs/device-model.md §4.2; mpremote does this before its first
 * command, §4.3). A fresh heap and interpreter; the flash keeps its files. */
static int soft_reset(struct agent *a, tm_ms deadline, struct tm_err *err)
{
    tm_ms d = min_deadline(deadline, tm_deadline_in(SOFT_RESET_MS));
    agent_note(a, "! ", "soft reset (Ctrl-D)", 19);
    if (send_bytes(a, "\x04", 1, d, err) != 0)
        return -1;
    int r = agent_read_until(a, "soft reboot\r\n", 13, d, err);
    if (r == 0)
        r = agent_read_until(a, RAW_BANNER, strlen(RAW_BANNER), d, err);
    return r == 0 ? 0 : r < 0 ? -1 : tm_err_setc(err, TM_E_TIMEOUT, "soft reset: no "
                                                 "\"soft reboot\" and raw REPL banner after Ctrl-D");
}

/* Raw-paste: R\x01, window u16 LE, one \x01 per window consumed; \x04 ends it and
 * the device answers \x04 (docs/device-model.md §4.2). */
static int raw_paste(struct agent *a, const unsigned char *code, size_t len, tm_ms deadline,
                     struct tm_err *err)
{
    unsigned char w[2];
    if (read_exact(a, w, 2, deadline, err) != 0)
        return tm_err_prefix(err, "raw-paste window");
    size_t window = (size_t)w[0] | ((size_t)w[1] << 8), remain = window, i = 0;
    if (window == 0)
        return tm_err_set(err, "raw-paste: device announced a zero window");
    while (i < len) {
        while (remain == 0 || a->rxlen > 0 || agent_rx_fill(a, tm_now_ms(), err) > 0) {
            unsigned char c;
            if (read_exact(a, &c, 1, deadline, err) != 0)
                return tm_err_prefix(err, "raw-paste flow control");
            if (c == 0x01)
                remain += window;
            else if (c == 0x04) {
                send_bytes(a, "\x04", 1, deadline, err);
                return tm_err_set(err, "raw-paste: device aborted the upload at byte %zu", i);
            } else
                return tm_err_set(err, "raw-paste: unexpected byte 0x%02x from device", c);
        }
        size_t n = len - i < remain ? len - i : remain;
        if (send_bytes(a, code + i, n, deadline, err) != 0)
            return -1;
        remain -= n;
        i += n;
    }
    if (send_bytes(a, "\x04", 1, deadline, err) != 0)
        return -1;
    int r = agent_read_until(a, "\x04", 1, deadline, err);
    return r == 0 ? 0 : r > 0 ? tm_err_set(err, "raw-paste: no end-of-data ack") : -1;
}

static int classic_raw(struct agent *a, const unsigned char *code, size_t len, tm_ms deadline,
                       struct tm_err *err)
{
    for (size_t i = 0; i < len; i += CLASSIC_CHUNK) {
        size_t n = len - i < CLASSIC_CHUNK ? len - i : CLASSIC_CHUNK;
        if (send_bytes(a, code + i, n, deadline, err) != 0)
            return -1;
        tm_sleep_ms(10);
    }
    if (send_bytes(a, "\x04", 1, deadline, err) != 0)
        return -1;
    int r = agent_read_until(a, "OK", 2, deadline, err);
    return r == 0 ? 0 : r > 0 ? tm_err_set(err, "raw REPL: no OK after the upload") : -1;
}

int agent_send_program(struct agent *a, const unsigned char *code, size_t len, tm_ms deadline,
                       struct tm_err *err)
{
    if (!a->opts.force_classic_raw) {
        unsigned char r[2];
        if (send_bytes(a, "\x05" "A\x01", 3, deadline, err) != 0)
            return -1;
        if (read_exact(a, r, 2, min_deadline(deadline, tm_deadline_in(3000)), err) != 0)
            return tm_err_prefix(err, "raw-paste request");
        if (r[0] == 'R' && r[1] == 0x01) {
            a->mode = "raw-paste";
            return raw_paste(a, code, len, deadline, err);
        }
        /* R\x00: understood but refused. Anything else: an old firmware echoed
         * the request; resynchronise on the prompt (as mpremote does). */
        if (!(r[0] == 'R' && r[1] == 0x00)
            && agent_read_until(a, "w REPL; CTRL-B to exit\r\n>", 25,
                                min_deadline(deadline, tm_deadline_in(3000)), err) != 0)
            return tm_err_set(err, "device neither accepted raw-paste nor returned to the raw REPL");
    }
    a->mode = "raw";
    return classic_raw(a, code, len, deadline, err);
}

int agent_read_section(struct agent *a, char *copy, size_t cap, tm_ms deadline,
                       struct tm_err *err)
{
    for (int guard = 0; guard < 100000; guard++) {
        unsigned char *end = a->rxlen ? memchr(a->rx, 0x04, a->rxlen) : NULL;
        if (end != NULL) {
            size_t len = (size_t)(end - a->rx);
            if (len > 0)
                agent_note(a, "< ", (const char *)a->rx, len);
            if (copy != NULL && cap > 0)
                snprintf(copy, cap, "%.*s", (int)(len < cap ? len : cap - 1), (const char *)a->rx);
            agent_rx_consume(a, len + 1);
            return 0;
        }
        if (a->rxlen > 65536)
            return tm_err_set(err, "no end marker in 64 KB of device output");
        int r = agent_rx_fill(a, deadline, err);
        if (r == 0)
            return tm_err_set(err, "no end marker (\\x04) before the deadline");
        if (r < 0)
            return -1;
    }
    return tm_err_set(err, "no end to device output");
}

/* Run PROBE_CODE by classic raw exec: OK, output, \x04, traceback, \x04, >
 * (docs/device-model.md §4.2). 1: it ran cleanly, the loader will work; 0: it raised
 * (no deflate module, or the virtual camera, which runs nothing but the agent:
 * NotImplementedError); -1: the device broke the framing. */
int agent_probe_deflate(struct agent *a, tm_ms deadline, struct tm_err *err)
{
    tm_ms d = min_deadline(deadline, tm_deadline_in(PROBE_MS));
    char tb[2] = "";
    if (send_bytes(a, PROBE_CODE "\x04", strlen(PROBE_CODE) + 1, d, err) != 0)
        return -1;
    int r = agent_read_until(a, "OK", 2, d, err);
    if (r != 0)
        return r < 0 ? -1 : tm_err_set(err, "deflate probe: no OK from the raw REPL");
    if (agent_read_section(a, NULL, 0, d, err) != 0
        || agent_read_section(a, tb, sizeof tb, d, err) != 0)
        return tm_err_prefix(err, "deflate probe");
    r = agent_read_until(a, ">", 1, d, err);
    if (r != 0)
        return r < 0 ? -1 : tm_err_set(err, "deflate probe: no raw REPL prompt after the reply");
    return tb[0] == '\0';
}

/* The program to send: the compressed loader when the firmware can inflate it,
 * else the agent itself. *packed (caller-freed) is NULL for the plain file. */
static int choose_program(struct agent *a, const unsigned char *code, size_t len,
                          unsigned char **packed, size_t *plen, tm_ms deadline,
                          struct tm_err *err)
{
    *packed = NULL;
    int r = agent_probe_deflate(a, deadline, err);
    if (r < 0)
        return -1;
    if (r == 0) {
        agent_note(a, "! ", "deflate probe raised: plain upload", 34);
        return 0;
    }
    struct tm_err perr = { 0 };
    if (agent_pack_loader(code, len, packed, plen, &perr) != 0) {
        /* A host-side zlib failure costs upload time, not the bootstrap. */
        agent_note(a, "! ", perr.msg, strlen(perr.msg));
        *packed = NULL;
    }
    return 0;
}

/* Name the mode (static strings: agent_upload_mode() hands them out) and put
 * the byte count in the transcript. */
static void note_upload(struct agent *a, int packed, size_t agent_len)
{
    if (packed)
        a->mode = strcmp(a->mode, "raw") == 0 ? "raw+deflate" : "raw-paste+deflate";
    char note[160];
    int n = snprintf(note, sizeof note, "uploaded %zu bytes by %s (agent %zu bytes): run "
                     "from RAM", a->upload_bytes, a->mode, agent_len);
    agent_note(a, "! ", note, n > 0 && (size_t)n < sizeof note ? (size_t)n : strlen(note));
}

static int check_hello(struct agent *a, json_t *msg, struct tm_err *err)
{
    const char *name = json_string_value(json_object_get(msg, "agent"));
    json_t *proto = json_object_get(msg, "proto");
    if (name == NULL || strcmp(name, "tlsmatrix-agent") != 0)
        return tm_err_set(err, "hello from '%s', not tlsmatrix-agent", name ? name : "?");
    if (!json_is_integer(proto) || json_integer_value(proto) != 1)
        return tm_err_set(err, "agent speaks protocol %lld, the harness speaks 1",
                          json_is_integer(proto) ? json_integer_value(proto) : -1LL);
    json_decref(a->hello);
    a->hello = json_incref(msg);
    a->proto = 1;   /* a new agent: proto 1 and no template until negotiated */
    a->rx2 = 0;
    json_decref(a->tpl);
    a->tpl = NULL;
    return 0;
}

/* Read lines until the hello; a \x04 before it means the agent died (traceback). */
static int wait_hello(struct agent *a, tm_ms deadline, struct tm_err *err)
{
    for (int guard = 0; guard < 10000; guard++) {
        json_t *msg = NULL;
        int r = agent_next(a, -1, deadline, &msg, err);
        if (r == AGENT_TIMEOUT)
            return tm_err_set(err, "no hello from the agent before the deadline");
        if (r < 0)
            return tm_err_prefix(err, "waiting for the agent's hello");
        const char *ev = json_string_value(json_object_get(msg, "event"));
        if (ev != NULL && strcmp(ev, "hello") == 0) {
            int rc = check_hello(a, msg, err);
            json_decref(msg);
            return rc != 0 ? rc : agent_negotiate(a, deadline, err);
        }
        json_decref(msg);
    }
    return tm_err_set(err, "no hello among the agent's first lines");
}

static int read_script(const char *script, unsigned char **code, size_t *len,
                       struct tm_err *err)
{
    char path[1024];
    snprintf(path, sizeof path, "%s", script != NULL ? script
             : TM_SOURCE_DIR "/camera/agent/agent.py");
    if (tm_read_file(path, code, len, err) != 0)
        return tm_err_prefix(err, "agent script");
    if (*len < strlen(AGENT_HEADER) || memcmp(*code, AGENT_HEADER, strlen(AGENT_HEADER)) != 0) {
        free(*code);
        *code = NULL;
        return tm_err_set(err, "%s: first line is not '%s' (docs/contracts.md §3)", path,
                          AGENT_HEADER);
    }
    return 0;
}

int agent_script_check(const char *script, struct tm_err *err)
{
    unsigned char *code = NULL;
    size_t len = 0;
    int rc = read_script(script, &code, &len, err);
    free(code);
    return rc;
}

static int load_script(struct agent *a, unsigned char **code, size_t *len, struct tm_err *err)
{
    return read_script(a->opts.script, code, len, err);
}

static void count_start(struct agent *a)
{
    if (strcmp(a->start, "stored") == 0)
        a->starts.stored++;
    else if (strcmp(a->start, "written") == 0)
        a->starts.written++;
    else if (strcmp(a->start, "uploaded") == 0)
        a->starts.uploaded++;
}

/* exec-agent: the program is the agent and its hello is its first line (a
 * MicroPython unix port before 1.26 has no raw REPL). A program that already
 * said hello is restarted for a fresh one: that is what a bootstrap means here. */
static int bootstrap_direct(struct agent *a, tm_ms deadline, struct tm_err *err)
{
    agent_note(a, "! ", "bootstrap: the program is the agent", 35);
    a->lost = 1;
    if (!a->fresh) {
        if (link_reset(a->link, err) != 0)
            return tm_err_prefix(err, "bootstrap on '%s'", a->spec);
        a->rxlen = 0;
        json_object_clear(a->puts);
    }
    a->fresh = 0;
    a->mode = "direct";
    a->start = "direct";
    a->upload_bytes = 0;
    if (wait_hello(a, min_deadline(deadline, tm_deadline_in(HELLO_MS)), err) != 0
        || agent_lock_claim(a, deadline, err) != 0)
        return tm_err_prefix(err, "bootstrap on '%s'", a->spec);
    a->bootstraps++;
    a->lost = 0;
    a->lost_reset = 0;
    return 0;
}

int agent_bootstrap(struct agent *a, tm_ms deadline, struct tm_err *err)
{
    unsigned char *code = NULL, *packed = NULL;
    size_t len = 0, plen = 0;
    int rc = -1;
    a->lost = 0;
    a->lost_reset = 0;
    if (a->link == NULL)
        return tm_err_set(err, "bootstrap on '%s': link is closed", a->spec);
    if (link_is_agent(a->link))
        return bootstrap_direct(a, deadline, err);
    if (load_script(a, &code, &len, err) != 0)
        goto out;
    agent_note(a, "! ", "bootstrap", 9);
    /* Ask a running agent before interrupting it: another harness's session. Not
     * before a session's expected re-bootstrap (after a reset op nobody else
     * came in, and a board at its REPL would cost the wait); a recovery asks
     * before each rung itself. */
    if (a->bootstraps == 0 && !a->recovering && agent_lock_peek(a, deadline, err) != 0)
        goto out;
    a->lost = 1;   /* from here on, failures are the device's */
    if (enter_raw_repl(a, deadline, err) != 0)
        goto out;
    if (a->soft_reset && soft_reset(a, deadline, err) != 0)
        goto out;
    a->upload_bytes = 0;
    if (a->opts.agent_upload == AGENT_UPLOAD_ALWAYS && a->store_off[0] == '\0')
        snprintf(a->store_off, sizeof a->store_off, "--agent-upload always");
    int started = a->store_off[0] == '\0' ? agent_store_start(a, code, len, deadline, err) : 0;
    if (started < 0)
        goto out;
    if (!started) {   /* the whole agent, run from RAM (a board that cannot keep it) */
        if (choose_program(a, code, len, &packed, &plen, deadline, err) != 0)
            goto out;
        size_t n = packed != NULL ? plen : len;
        if (agent_send_program(a, packed != NULL ? packed : code, n, deadline, err) != 0)
            goto out;
        a->upload_bytes += n;
        a->start = "uploaded";
        note_upload(a, packed != NULL, len);
    }
    if (wait_hello(a, min_deadline(deadline, tm_deadline_in(HELLO_MS)), err) != 0
        || agent_lock_claim(a, deadline, err) != 0)
        goto out;
    count_start(a);
    a->bootstraps++;
    a->lost = 0;
    a->lost_reset = 0;
    rc = 0;
out:
    free(packed);
    free(code);
    if (rc != 0)
        tm_err_prefix(err, "bootstrap on '%s'", a->spec);
    return rc;
}
