/* vcam from the host side of a real pseudo-terminal, byte for byte against
 * docs/device-model.md §4.2 and docs/contracts.md §3/§4: banner, friendly and raw REPL,
 * raw-paste flow control, the agent protocol, bad requests, faults, flags. */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "tm_fs.h"
#include "tm_proc.h"
#include "tm_time.h"

#define VCAM TM_BIN_DIR "/vcam"
#define AGENT_PY TM_SOURCE_DIR "/camera/agent/agent.py"
#define BANNER "OpenMV v5.0.0; MicroPython v1.27.0-r1; OpenMV4P with STM32H743\r\n" \
               "Type \"help()\" for more information.\r\n"
#define RAW_HDR "raw REPL; CTRL-B to exit\r\n"
#define NOT_IMPL "NotImplementedError: the virtual camera runs only the tlsmatrix agent " \
                 "(upload camera/agent/agent.py in the raw REPL)\r\n"
#define TB_HEAD "Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\n"
#define UNSET_EPOCH 1420070400   /* 2015-01-01T00:00:00Z, the profile's unset RTC */

static char g_base[256];   /* per-suite temp dir, removed by main() */
/* The bound of a wait for what must happen (output, a reply, an exit), and of one
 * where only an event (a signal, an interrupt) can end an operation: reached only
 * by a hang. Waits that expect silence stay short: they can only pass wrongly. */
#define HANG_MS 15000

struct vc {
    pid_t pid;
    int master;            /* read side of the line (the pty master, or a pipe) */
    int wfd;               /* write side: the master again, or the stdin pipe */
    int exited, status;
    char dir[300], flash[400], log[400];
    struct tm_proc peer;   /* an openssl s_server, when a test runs one */
    unsigned char buf[1 << 18];
    size_t len;
};

/* Fork mode: a failed assertion exit()s the test process, so cleanup is atexit. */
static struct vc *g_cur;

static void rm_rf(const char *path)
{
    tm_rmtree(path, NULL);
}

static void vc_reap(struct vc *v, int ms)
{
    tm_ms dl = tm_deadline_in(ms);
    while (!v->exited) {
        if (waitpid(v->pid, &v->status, WNOHANG) == v->pid) {
            v->exited = 1;
            break;
        }
        if (tm_expired(dl))
            break;
        tm_sleep_ms(5);
    }
}

static void vc_cleanup(void)
{
    struct vc *v = g_cur;
    if (v == NULL || v->pid == 0)
        return;
    if (v->peer.pid > 0 && !v->peer.exited)
        tm_proc_stop(&v->peer, 1000);
    if (v->wfd >= 0 && v->wfd != v->master)
        close(v->wfd);
    v->wfd = -1;
    if (v->master >= 0)
        close(v->master);
    v->master = -1;
    if (v->pid > 0 && !v->exited) {
        vc_reap(v, 2000);
        if (!v->exited) {
            kill(v->pid, SIGKILL);
            vc_reap(v, 2000);
        }
    }
    if (v->exited == 0 || WEXITSTATUS(v->status) != 0) {   /* keep the log visible */
        char cmd[600];
        snprintf(cmd, sizeof cmd, "cat %s >&2 2>/dev/null", v->log);
        if (system(cmd) != 0) { /* nothing to show */ }
    }
    rm_rf(v->dir);
    g_cur = NULL;
}

static int vc_wait_exit(struct vc *v, int ms);

/* End of a test: hang up (vcam sees SIGHUP/EIO like a closed port) and require a
 * clean exit 0, which also catches sanitizer reports in the -DTM_SANITIZE build. */
static void vc_end(struct vc *v)
{
    if (v->pid > 0 && !v->exited) {
        if (v->wfd != v->master)
            close(v->wfd);
        close(v->master);
        v->master = v->wfd = -1;
        int code = vc_wait_exit(v, HANG_MS);
        ck_assert_msg(code == 0, "vcam exited %d after hang-up (log above)", code);
    }
    vc_cleanup();
    free(v);
}

/* Start vcam on a fresh pty. raw: put the slave in raw mode first (as the harness
 * does); otherwise leave it cooked, and vcam must make it raw itself. */
static void vc_start_mode(struct vc *v, int raw, const char *const *args)
{
    memset(v, 0, sizeof *v);
    v->master = v->wfd = -1;
    snprintf(v->dir, sizeof v->dir, "%s/t-XXXXXX", g_base);
    ck_assert_ptr_nonnull(mkdtemp(v->dir));
    snprintf(v->flash, sizeof v->flash, "%s/flash", v->dir);
    snprintf(v->log, sizeof v->log, "%s/vcam.log", v->dir);
    mkdir(v->flash, 0755);
    g_cur = v;
    atexit(vc_cleanup);

    const char *argv[24] = { VCAM };
    int n = 1;
    int has_flash = 0;
    for (; args && *args && n < 20; args++) {
        has_flash |= strcmp(*args, "--flash") == 0 || strcmp(*args, "--no-flash") == 0;
        if (strcmp(*args, "--no-flash") != 0)
            argv[n++] = *args;
    }
    if (!has_flash) {
        argv[n++] = "--flash";
        argv[n++] = v->flash;
    }
    argv[n] = NULL;
    struct termios t;
    memset(&t, 0, sizeof t);
    cfmakeraw(&t);
    cfsetispeed(&t, B115200);
    cfsetospeed(&t, B115200);
    pid_t pid = forkpty(&v->master, NULL, raw ? &t : NULL, NULL);
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(v->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0)
            dup2(fd, 2);
        setenv("TMPDIR", v->dir, 1);
        execv(VCAM, (char *const *)argv);
        _exit(127);
    }
    v->pid = pid;
    /* Peers the test spawns (openssl, gnutls) must not inherit the master: a copy
     * held open by them would keep the line up after vc_end() hangs up. */
    fcntl(v->master, F_SETFD, FD_CLOEXEC);
    v->wfd = v->master;
}

/* Start vcam with plain pipes on stdin/stdout (exec: links without a pty). */
static void vc_start_pipes(struct vc *v, const char *const *args)
{
    memset(v, 0, sizeof *v);
    v->master = v->wfd = -1;
    snprintf(v->dir, sizeof v->dir, "%s/t-XXXXXX", g_base);
    ck_assert_ptr_nonnull(mkdtemp(v->dir));
    snprintf(v->flash, sizeof v->flash, "%s/flash", v->dir);
    snprintf(v->log, sizeof v->log, "%s/vcam.log", v->dir);
    mkdir(v->flash, 0755);
    g_cur = v;
    atexit(vc_cleanup);
    const char *argv[24] = { VCAM, "--flash", v->flash };
    int n = 3;
    for (; args && *args && n < 20; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    int in[2], out[2];
    ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(v->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0)
            dup2(fd, 2);
        dup2(in[0], 0);
        dup2(out[1], 1);
        setenv("TMPDIR", v->dir, 1);
        execv(VCAM, (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    v->pid = pid;
    v->master = out[0];
    v->wfd = in[1];
}

static void vc_start(struct vc *v, const char *const *args)
{
    vc_start_mode(v, 1, args);
}

static void vc_send(struct vc *v, const void *data, size_t len)
{
    const unsigned char *p = data;
    tm_ms dl = tm_deadline_in(HANG_MS);
    while (len > 0) {
        ssize_t n = write(v->wfd, p, len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            ck_assert_msg(!tm_expired(dl), "write to vcam timed out");
            tm_sleep_ms(1);
            continue;
        }
        ck_assert_msg(n > 0, "write to vcam: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

static void vc_sends(struct vc *v, const char *s)
{
    vc_send(v, s, strlen(s));
}

/* Read what arrives until the deadline or until want bytes are buffered.
 * Returns -1 once the line is gone (EOF/EIO on the master). */
static int vc_fill(struct vc *v, size_t want, tm_ms dl)
{
    while (v->len < want) {
        int64_t left = tm_remaining_ms(dl);
        struct pollfd p = { .fd = v->master, .events = POLLIN };
        if (poll(&p, 1, (int)left) <= 0)
            return 0;
        ssize_t n = read(v->master, v->buf + v->len, sizeof v->buf - v->len);
        if (n <= 0)
            return -1;
        v->len += (size_t)n;
        if (v->len == sizeof v->buf)
            return 0;
    }
    return 0;
}

static void consume(struct vc *v, size_t n)
{
    memmove(v->buf, v->buf + n, v->len - n);
    v->len -= n;
}

static char *escaped(const unsigned char *p, size_t len)
{
    char *out = malloc(len * 4 + 1), *w = out;
    for (size_t i = 0; i < len; i++)
        w += (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') ? sprintf(w, "%c", p[i])
                                                           : sprintf(w, "\\x%02x", p[i]);
    *w = '\0';
    return out;
}

/* The next bytes must be exactly these. */
static void vc_expect_n(struct vc *v, const void *want, size_t n, int ms)
{
    vc_fill(v, n, tm_deadline_in(ms));
    if (v->len < n || memcmp(v->buf, want, n) != 0) {
        char *w = escaped(want, n), *g = escaped(v->buf, v->len);
        ck_abort_msg("expected \"%s\"\n      got \"%s\"", w, g);
    }
    consume(v, n);
}

static void vc_expect(struct vc *v, const char *want)
{
    vc_expect_n(v, want, strlen(want), HANG_MS);
}

/* Nothing at all may arrive for ms. */
static void vc_expect_silence(struct vc *v, int ms)
{
    vc_fill(v, v->len + 1, tm_deadline_in(ms));
    if (v->len > 0) {
        char *g = escaped(v->buf, v->len);
        ck_abort_msg("expected silence, got \"%s\"", g);
    }
}

/* One agent line ("...\r\n"), parsed; fails if it is not a JSON object. */
static json_t *vc_json(struct vc *v, int ms)
{
    tm_ms dl = tm_deadline_in(ms);
    for (;;) {
        unsigned char *nl = memmem(v->buf, v->len, "\r\n", 2);
        if (nl != NULL) {
            size_t n = (size_t)(nl - v->buf);
            json_error_t e;
            json_t *j = json_loadb((const char *)v->buf, n, 0, &e);
            if (j == NULL || !json_is_object(j)) {
                char *g = escaped(v->buf, n);
                ck_abort_msg("not a JSON line: \"%s\" (%s)", g, e.text);
            }
            consume(v, n + 2);
            return j;
        }
        ck_assert_msg(!tm_expired(dl), "no agent line within %d ms; have \"%s\"", ms,
                      escaped(v->buf, v->len));
        ck_assert_int_eq(vc_fill(v, v->len + 1, dl), 0);
    }
}

static json_t *vc_request(struct vc *v, const char *line)
{
    vc_sends(v, line);
    vc_sends(v, "\n");
    return vc_json(v, HANG_MS);
}

static const char *jstr(json_t *j, const char *k)
{
    const char *s = json_string_value(json_object_get(j, k));
    ck_assert_msg(s != NULL, "field %s missing or not a string", k);
    return s;
}

static void vc_enter_raw(struct vc *v)
{
    vc_expect(v, BANNER ">>> ");
    vc_sends(v, "\x01");
    vc_expect(v, "\r\n" RAW_HDR ">");
}

/* The agent source: the real one when it exists, else a synthetic program with the
 * agent header (vcam recognises the header, not the body). */
static unsigned char *agent_source(size_t *len)
{
    unsigned char *data = NULL;
    struct tm_err err;
    if (access(AGENT_PY, R_OK) == 0 && tm_read_file(AGENT_PY, &data, len, &err) == 0)
        return data;
    size_t cap = 4000;
    char *s = malloc(cap);
    int n = snprintf(s, cap, "# tlsmatrix-agent proto=1\nimport sys, json\n");
    while ((size_t)n < 3000)
        n += snprintf(s + n, cap - (size_t)n, "# filler line %d to span several windows\n", n);
    *len = (size_t)n;
    return (unsigned char *)s;
}

/* Raw-paste upload as mpremote does it: honour the window, count the \x01 acks. */
static void raw_paste_upload(struct vc *v, const unsigned char *code, size_t len)
{
    static const unsigned char ok[] = { 'R', 0x01, 0x80, 0x00, 0x01 };
    vc_sends(v, "\x05" "A" "\x01");
    vc_expect_n(v, ok, sizeof ok, HANG_MS);
    size_t window = 128, sent = 0, acks = 0;
    while (sent < len) {
        size_t n = len - sent < window ? len - sent : window;
        n = n > 37 ? 37 : n;   /* odd chunks: the device must buffer any chunking */
        vc_send(v, code + sent, n);
        sent += n;
        window -= n;
        while (window == 0 || v->len > 0) {
            vc_fill(v, 1, tm_deadline_in(window == 0 ? HANG_MS : 0));
            if (v->len == 0)
                break;
            ck_assert_msg(v->buf[0] == 0x01, "flow control: got 0x%02x", v->buf[0]);
            consume(v, 1);
            window += 128;
            acks++;
        }
    }
    vc_sends(v, "\x04");
    for (;;) {   /* acks still in flight, then the end-of-input \x04 */
        vc_fill(v, 1, tm_deadline_in(HANG_MS));
        ck_assert_uint_gt(v->len, 0);
        if (v->buf[0] != 0x01)
            break;
        consume(v, 1);
        acks++;
    }
    ck_assert_uint_eq(acks, len / 128);
    vc_expect_n(v, "\x04", 1, HANG_MS);
}

static json_t *vc_start_agent(struct vc *v)
{
    size_t len;
    unsigned char *src = agent_source(&len);
    raw_paste_upload(v, src, len);
    free(src);
    json_t *hello = vc_json(v, HANG_MS);
    ck_assert_str_eq(jstr(hello, "event"), "hello");
    return hello;
}

static int vc_wait_exit(struct vc *v, int ms)
{
    vc_reap(v, ms);
    ck_assert_msg(v->exited, "vcam did not exit within %d ms", ms);
    return WIFEXITED(v->status) ? WEXITSTATUS(v->status) : 128 + WTERMSIG(v->status);
}

/* ---------------------------------------------------------------- REPL */

START_TEST(friendly_repl)
{
    struct vc *v = malloc(sizeof *v);
    vc_start(v, NULL);
    vc_expect(v, BANNER ">>> ");
    /* OpenMV arms Ctrl-C before the REPL: at a fresh prompt it restarts it (§4.2). */
    vc_sends(v, "\x03");
    vc_expect(v, BANNER ">>> ");
    vc_sends(v, "1+1\r");
    vc_expect(v, "1+1\r\n" TB_HEAD NOT_IMPL ">>> ");
    vc_sends(v, "ab\x7f\x03");   /* echo, backspace, then Ctrl-C as upstream */
    vc_expect(v, "ab\b \b\r\n>>> ");
    vc_sends(v, "\x05");
    vc_expect(v, "\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== ");
    vc_sends(v, "x=1\r\x03");
    vc_expect(v, "x=1\r\n=== \r\n>>> ");
    vc_sends(v, "\x02");
    vc_expect(v, "\r\n" BANNER ">>> ");
    vc_sends(v, "\x04");
    vc_expect(v, "\r\nMPY: soft reboot\r\n" BANNER ">>> ");
    vc_expect_silence(v, 100);
    vc_end(v);
}
END_TEST

START_TEST(cooked_pty_made_raw)
{
    struct vc *v = malloc(sizeof *v);
    vc_start_mode(v, 0, NULL);
    vc_expect(v, BANNER ">>> ");   /* no \r\r\n: vcam set the pty raw itself */
    vc_sends(v, "\x01");
    vc_expect(v, "\r\n" RAW_HDR ">");
    vc_sends(v, "\x04");           /* not swallowed as EOF by a cooked line discipline */
    vc_expect(v, "OK\r\nMPY: soft reboot\r\n" RAW_HDR ">");
    vc_end(v);
}
END_TEST

START_TEST(raw_repl)
{
    struct vc *v = malloc(sizeof *v);
    vc_start(v, NULL);
    vc_enter_raw(v);
    vc_sends(v, "\x03");   /* still armed: the raw REPL restarts (§4.2) */
    vc_expect(v, RAW_HDR ">");
    vc_sends(v, "print(1)\x04");
    vc_expect(v, "OK\x04" TB_HEAD NOT_IMPL "\x04>");
    vc_sends(v, "# only a comment\n\x04");
    vc_expect(v, "OK\x04\x04>");
    vc_sends(v, "abc\x03\x04");   /* Ctrl-C clears the line: an empty line soft-resets */
    vc_expect(v, "OK\r\nMPY: soft reboot\r\n" RAW_HDR ">");
    vc_sends(v, "\x01");          /* Ctrl-A in the raw REPL: header again */
    vc_expect(v, RAW_HDR ">");
    vc_sends(v, "\x02");
    vc_expect(v, "\r\n" BANNER ">>> ");
    vc_end(v);
}
END_TEST

START_TEST(raw_paste_flow_control)
{
    struct vc *v = malloc(sizeof *v);
    static const unsigned char ok[] = { 'R', 0x01, 0x80, 0x00, 0x01 };
    vc_start(v, NULL);
    vc_enter_raw(v);
    vc_sends(v, "\x05" "B" "\x01");
    vc_expect_n(v, "R\x00>", 3, HANG_MS);
    vc_sends(v, "\x05" "A" "\x01");
    vc_expect_n(v, ok, sizeof ok, HANG_MS);
    unsigned char chunk[300];
    memset(chunk, 'x', sizeof chunk);
    chunk[0] = 'x'; chunk[1] = '='; chunk[2] = '1'; chunk[3] = '#';
    vc_send(v, chunk, 127);
    vc_expect_silence(v, 300);   /* no ack before 128 bytes are consumed */
    vc_send(v, chunk + 127, 1);
    vc_expect_n(v, "\x01", 1, HANG_MS);
    vc_send(v, chunk + 128, 150);  /* over the window: only one more ack for 128 */
    vc_expect_n(v, "\x01", 1, HANG_MS);
    vc_expect_silence(v, 200);
    vc_send(v, chunk + 278, 22);   /* 300 in all: 44 short of the third window */
    vc_expect_silence(v, 200);
    vc_sends(v, "\x04");
    vc_expect_n(v, "\x04\x04" TB_HEAD NOT_IMPL "\x04>", 4 + strlen(TB_HEAD NOT_IMPL), HANG_MS);
    /* Ctrl-C mid-upload: the reader ends input (\x04) and raises KeyboardInterrupt */
    vc_sends(v, "\x05" "A" "\x01");
    vc_expect_n(v, ok, sizeof ok, HANG_MS);
    vc_sends(v, "x = 1\n\x03");
    vc_expect(v, "\x04\x04KeyboardInterrupt: \r\n\x04>");
    vc_sends(v, "\x02");
    vc_expect(v, "\r\n" BANNER ">>> ");
    vc_end(v);
}
END_TEST

/* ---------------------------------------------------------------- agent */

START_TEST(agent_hello_and_info)
{
    struct vc *v = malloc(sizeof *v);
    vc_start(v, NULL);
    vc_enter_raw(v);
    json_t *h = vc_start_agent(v);
    ck_assert_str_eq(jstr(h, "agent"), "tlsmatrix-agent");
    ck_assert_int_eq(json_integer_value(json_object_get(h, "proto")), 1);
    ck_assert(json_is_true(json_object_get(h, "virtual")));
    ck_assert_str_eq(jstr(h, "mbedtls"), "Mbed TLS 3.6.6");
    json_t *impl = json_object_get(h, "impl");
    ck_assert_str_eq(jstr(impl, "name"), "micropython");
    ck_assert_str_eq(jstr(impl, "version"), "1.27.0");
    json_t *caps = json_object_get(h, "caps");
    ck_assert(json_is_false(json_object_get(caps, "pem")));
    ck_assert(json_is_true(json_object_get(caps, "dtls")));
    ck_assert_int_eq((int)json_array_size(json_object_get(caps, "protocols")), 4);
    json_int_t epoch = json_integer_value(json_object_get(json_object_get(h, "clock"), "epoch"));
    ck_assert_int_ge(epoch, UNSET_EPOCH);
    ck_assert_int_le(epoch, UNSET_EPOCH + 10);
    json_int_t heap = json_integer_value(json_object_get(h, "heap_free"));
    ck_assert_int_gt(heap, 100000);
    ck_assert_int_lt(heap, 262144);
    json_t *r = vc_request(v, "{\"id\":1,\"op\":\"info\"}");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 1);
    ck_assert_str_eq(jstr(r, "outcome"), "ok");
    ck_assert_str_eq(jstr(r, "mbedtls"), "Mbed TLS 3.6.6");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "heap_free")), heap);
    json_decref(r);
    json_decref(h);
    vc_end(v);
}
END_TEST

static void expect_bad(struct vc *v, const char *line, json_int_t id, const char *error)
{
    json_t *r = vc_request(v, line);
    ck_assert_str_eq(jstr(r, "outcome"), "bad-request");
    if (id < 0)
        ck_assert(json_is_null(json_object_get(r, "id")));
    else
        ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), id);
    ck_assert_msg(strstr(jstr(r, "error"), error) != NULL, "error \"%s\" lacks \"%s\"",
                  jstr(r, "error"), error);
    json_decref(r);
}

START_TEST(agent_bad_requests)
{
    struct vc *v = malloc(sizeof *v);
    vc_start(v, NULL);
    vc_enter_raw(v);
    json_decref(vc_start_agent(v));
    expect_bad(v, "{\"id\":1,\"op\":", -1, "bad JSON");
    expect_bad(v, "[1,2]", -1, "not a JSON object");
    expect_bad(v, "\"info\"", -1, "not a JSON object");
    expect_bad(v, "{\"op\":\"info\"}", -1, "missing field: id");
    expect_bad(v, "{\"id\":\"7\",\"op\":\"info\"}", -1, "wrong type: id");
    expect_bad(v, "{\"id\":2}", 2, "missing field: op");
    expect_bad(v, "{\"id\":3,\"op\":5}", 3, "wrong type: op");
    expect_bad(v, "{\"id\":4,\"op\":\"frobnicate\"}", 4, "unknown op: frobnicate");
    /* 99 ASCII bytes then two-byte characters: the 100-byte cut falls inside one */
    expect_bad(v, "{\"id\":40,\"op\":\"" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
               "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" "\u00e9\u00e9\u00e9\"}", 40,
               "unknown op: xxxxxxxxxx");
    expect_bad(v, "{\"id\":5,\"op\":\"put\",\"b64\":\"\",\"sha256\":\"\"}", 5,
               "missing field: path");
    expect_bad(v, "{\"id\":6,\"op\":\"put\",\"path\":7,\"b64\":\"\",\"sha256\":\"\"}", 6,
               "wrong type: path");
    expect_bad(v, "{\"id\":7,\"op\":\"clock\",\"set\":\"soon\"}", 7, "wrong type: set");
    expect_bad(v, "{\"id\":8,\"op\":\"fault\",\"kind\":\"melt\"}", 8, "unknown fault kind");
    expect_bad(v, "{\"id\":9,\"op\":\"fault\",\"kind\":\"stall\",\"after_ms\":-1}", 9,
               "wrong type: after_ms");
    expect_bad(v, "{\"id\":10,\"op\":\"fault\",\"kind\":\"stall\",\"at\":\"request=0\"}", 10,
               "at: request=0: expected a whole number >= 1");
    expect_bad(v, "{\"id\":11,\"op\":\"fault\",\"kind\":\"drop\",\"at\":\"boot=2\"}", 11,
               "at: boot=N cannot be requested");
    expect_bad(v, "{\"id\":12,\"op\":\"fault\",\"kind\":\"drop\",\"at\":\"request=1\","
               "\"after_ms\":5}", 12, "give one place, not both");
    /* a line over 64 KB is discarded to its end */
    size_t big = 70000;
    char *line = malloc(big + 1);
    memset(line, 'a', big);
    line[big] = '\0';
    expect_bad(v, line, -1, "line over 65536 bytes");
    free(line);
    /* requests split into odd chunks still parse; the agent kept serving */
    vc_sends(v, "{\"id\":10,");
    tm_sleep_ms(50);
    vc_sends(v, "\"op\":\"in");
    tm_sleep_ms(50);
    vc_sends(v, "fo\"}\r\n");
    json_t *r = vc_json(v, HANG_MS);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 10);
    ck_assert_str_eq(jstr(r, "outcome"), "ok");
    json_decref(r);
    vc_end(v);
}
END_TEST

/* Malformed TLS requests: the same table, and so the same texts, as agent.py's
 * (tests/agent/bad_tls_requests.json, run under MicroPython by test_agent_py). */
START_TEST(agent_bad_tls_requests_as_agent_py)
{
    json_error_t je;
    json_t *table = json_load_file(TM_SOURCE_DIR "/tests/agent/bad_tls_requests.json", 0, &je);
    ck_assert_msg(table != NULL, "bad_tls_requests.json: %s", je.text);
    struct vc *v = malloc(sizeof *v);
    vc_start(v, NULL);
    vc_enter_raw(v);
    json_decref(vc_start_agent(v));
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(table, "cases"), i, c) {
        json_t *q = json_deep_copy(json_object_get(c, "req"));
        json_object_set_new(q, "id", json_integer(100 + (json_int_t)i));
        char *line = json_dumps(q, JSON_COMPACT);
        expect_bad(v, line, 100 + (json_int_t)i, json_string_value(json_object_get(c, "error")));
        free(line);
        json_decref(q);
    }
    ck_assert_uint_gt(i, 15);
    vc_end(v);
    json_decref(table);
}
END_TEST

static void put(struct vc *v, int id, const char *path, const char *data, const char *sha,
                const char *outcome)
{
    char *b64 = tm_b64_encode(data, strlen(data));
    char hex[65];
    tm_sha256_hex(data, strlen(data), hex);
    json_t *req = json_pack("{s:i, s:s, s:s, s:s, s:s}", "id", id, "op", "put", "path", path,
                            "b64", b64, "sha256", sha ? sha : hex);
    char *line = json_dumps(req, JSON_COMPACT);
    json_t *r = vc_request(v, line);
    ck_assert_str_eq(jstr(r, "outcome"), outcome);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "size")), (json_int_t)strlen(data));
    ck_assert_str_eq(jstr(r, "sha256"), hex);
    json_decref(r);
    free(line);
    json_decref(req);
    free(b64);
}

static int file_is(const char *path, const char *want)
{
    unsigned char *data;
    size_t len;
    struct tm_err err;
    if (tm_read_file(path, &data, &len, &err) != 0)
        return 0;
    int same = len == strlen(want) && memcmp(data, want, len) == 0;
    free(data);
    return same;
}

START_TEST(agent_put)
{
    struct vc *v = malloc(sizeof *v);
    char p[600];
    vc_start(v, NULL);
    vc_enter_raw(v);
    json_decref(vc_start_agent(v));
    put(v, 1, "tm-root.der", "root bytes", NULL, "ok");
    snprintf(p, sizeof p, "%s/tm-root.der", v->flash);
    ck_assert(file_is(p, "root bytes"));
    put(v, 2, "/flash/abs.der", "abs", NULL, "ok");
    snprintf(p, sizeof p, "%s/abs.der", v->flash);
    ck_assert(file_is(p, "abs"));
    put(v, 3, "bad.der", "payload",
        "0000000000000000000000000000000000000000000000000000000000000000", "error");
    snprintf(p, sizeof p, "%s/bad.der", v->flash);
    ck_assert_int_ne(access(p, F_OK), 0);
    put(v, 4, "../escape.der", "x", NULL, "error");
    snprintf(p, sizeof p, "%s/escape.der", v->dir);
    ck_assert_int_ne(access(p, F_OK), 0);
    put(v, 5, "/tmp/escape.der", "x", NULL, "error");
    put(v, 6, "a/../../escape.der", "x", NULL, "error");
    ck_assert_int_ne(access(p, F_OK), 0);
    expect_bad(v, "{\"id\":7,\"op\":\"put\",\"path\":\"x\",\"b64\":\"@@@\",\"sha256\":\"00\"}",
               7, "b64");
    vc_end(v);
}
END_TEST

START_TEST(agent_clock_reset_ctrl_c)
{
    struct vc *v = malloc(sizeof *v);
    vc_start(v, NULL);
    vc_enter_raw(v);
    json_decref(vc_start_agent(v));
    json_t *r = vc_request(v, "{\"id\":1,\"op\":\"clock\",\"set\":1795478400}");
    ck_assert_str_eq(jstr(r, "outcome"), "ok");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "epoch")), 1795478400);
    ck_assert(json_is_true(json_object_get(r, "settable")));
    json_decref(r);
    r = vc_request(v, "{\"id\":2,\"op\":\"clock\"}");
    ck_assert_int_ge(json_integer_value(json_object_get(r, "epoch")), 1795478400);
    ck_assert_int_le(json_integer_value(json_object_get(r, "epoch")), 1795478402);
    json_decref(r);
    /* reset: the reply, then SystemExit framing and a soft reboot into the raw REPL */
    r = vc_request(v, "{\"id\":3,\"op\":\"reset\"}");
    ck_assert_str_eq(jstr(r, "outcome"), "ok");
    json_decref(r);
    vc_expect(v, "\x04\x04MPY: soft reboot\r\n" RAW_HDR ">");
    /* the agent is gone: a request line is just raw REPL input now */
    vc_sends(v, "{\"id\":4,\"op\":\"info\"}\n\x04");
    vc_expect(v, "OK\x04" TB_HEAD NOT_IMPL "\x04>");
    /* the RTC survived the soft reset */
    json_t *h = vc_start_agent(v);
    json_int_t epoch = json_integer_value(json_object_get(json_object_get(h, "clock"), "epoch"));
    ck_assert_int_ge(epoch, 1795478400);
    ck_assert_int_le(epoch, 1795478410);
    json_decref(h);
    /* Ctrl-C while the agent runs: KeyboardInterrupt, raw REPL framing, prompt */
    vc_sends(v, "\x03");
    vc_expect(v, "\x04" TB_HEAD "KeyboardInterrupt: \r\n\x04>");
    /* classic raw mode (the fallback when raw-paste is refused) runs the agent too */
    size_t len;
    unsigned char *src = agent_source(&len);
    for (size_t i = 0; i < len; i += 256)
        vc_send(v, src + i, len - i < 256 ? len - i : 256);
    free(src);
    vc_sends(v, "\x04");
    vc_expect(v, "OK");
    h = vc_json(v, HANG_MS);
    ck_assert_str_eq(jstr(h, "event"), "hello");
    json_decref(h);
    vc_sends(v, "\x03");
    vc_expect(v, "\x04" TB_HEAD "KeyboardInterrupt: \r\n\x04>");
    vc_sends(v, "\x02");
    vc_expect(v, "\r\n" BANNER ">>> ");
    vc_end(v);
}
END_TEST

static json_int_t jint(json_t *j, const char *k)
{
    json_t *v = json_object_get(j, k);
    ck_assert_msg(json_is_integer(v), "field %s missing or not an integer", k);
    return json_integer_value(v);
}

/* The heap account (devtls_heap.c): an operation gives back all it took, so the
 * next one starts where it started, whatever stage it failed at; a planted leak
 * (test-only fault leak:BYTES) shows in gc.mem_free() and every later
 * heap_before, survives a new agent, and is gone after a soft reset. Without
 * the leak fault's accounting, the figures after it would not move. */
START_TEST(agent_heap_account_and_planted_leak)
{
    struct vc *v = malloc(sizeof *v);
    vc_start(v, NULL);
    vc_enter_raw(v);
    json_t *h = vc_start_agent(v);
    json_int_t heap = jint(h, "heap_free");
    json_decref(h);
    /* nobody listens on port 1: the handshake never starts (stage socket) */
    static const char *const refused =
        "{\"id\":%d,\"op\":\"tls_client\",\"host\":\"127.0.0.1\",\"port\":1,"
        "\"ca\":[{\"b64\":\"AAAA\"}],\"deadline_ms\":3000}";
    char line[300];
    for (int id = 1; id <= 3; id++) {
        snprintf(line, sizeof line, refused, id);
        json_t *r = vc_request(v, line);
        ck_assert_int_eq(jint(r, "heap_before"), heap);
        ck_assert_int_eq(jint(r, "heap_after"), heap);
        json_decref(r);
    }
    json_decref(vc_request(v, "{\"id\":4,\"op\":\"fault\",\"kind\":\"leak\",\"bytes\":4096,"
                              "\"at\":\"request=1\"}"));
    json_t *r = vc_request(v, "{\"id\":5,\"op\":\"info\"}");
    ck_assert_int_eq(jint(r, "heap_free"), heap - 4096);
    json_decref(r);
    snprintf(line, sizeof line, refused, 6);
    r = vc_request(v, line);
    ck_assert_int_eq(jint(r, "heap_before"), heap - 4096);
    ck_assert_int_eq(jint(r, "heap_after"), heap - 4096);
    json_decref(r);
    expect_bad(v, "{\"id\":7,\"op\":\"fault\",\"kind\":\"leak\"}", 7, "missing field: bytes");
    /* a new agent (Ctrl-C, upload again) does not get the leaked block back */
    vc_sends(v, "\x03");
    vc_expect(v, "\x04" TB_HEAD "KeyboardInterrupt: \r\n\x04>");
    h = vc_start_agent(v);
    ck_assert_int_eq(jint(h, "heap_free"), heap - 4096);
    json_decref(h);
    /* a soft reset does */
    json_decref(vc_request(v, "{\"id\":8,\"op\":\"reset\"}"));
    vc_expect(v, "\x04\x04MPY: soft reboot\r\n" RAW_HDR ">");
    h = vc_start_agent(v);
    ck_assert_int_eq(jint(h, "heap_free"), heap);
    json_decref(h);
    vc_sends(v, "\x03");
    vc_expect(v, "\x04" TB_HEAD "KeyboardInterrupt: \r\n\x04>");
    vc_sends(v, "\x02");
    vc_expect(v, "\r\n" BANNER ">>> ");
    vc_end(v);
}
END_TEST

/* ---------------------------------------------------------------- flags */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* Start vcam with a custom profile: its banner, then the raw REPL and the agent. */
static json_t *vc_start_profiled(struct vc *v, const char *const *args, const char *banner)
{
    char want[300];
    snprintf(want, sizeof want, "%s\r\nType \"help()\" for more information.\r\n>>> ", banner);
    vc_start(v, args);
    vc_expect(v, want);
    vc_sends(v, "\x01");
    vc_expect(v, "\r\n" RAW_HDR ">");
    return vc_start_agent(v);
}

START_TEST(flags_profile_pem_clock)
{
    struct vc *v = malloc(sizeof *v);
    char prof[400];
    snprintf(prof, sizeof prof, "%s/good-%d.yaml", g_base, (int)getpid());
    write_text(prof, "name: test\ndoc: test board\nopenmv: v9.9.9\nmicropython: v1.30.0\n"
                     "board: TestCam\nmcu: MCU1\nimpl_version: 1.30.0\nsysname: TestCam\n"
                     "clock_unset: \"2020-01-01T00:00:00Z\"\npem: false\nheap: 100000\n"
                     "agent_heap: 1000\n");
    /* a profile is data: a custom file changes the banner; flags override it */
    const char *args[] = { "--profile", prof, "--pem", "--unset-clock",
                           "2013-10-14T19:53:11Z", NULL };
    json_t *h = vc_start_profiled(v, args, "OpenMV v9.9.9; MicroPython v1.30.0; TestCam with MCU1");
    ck_assert(json_is_true(json_object_get(json_object_get(h, "caps"), "pem")));
    json_int_t epoch = json_integer_value(json_object_get(json_object_get(h, "clock"), "epoch"));
    ck_assert_int_ge(epoch, 1381780391);   /* --unset-clock wins over the profile */
    ck_assert_int_le(epoch, 1381780400);
    ck_assert_int_eq(json_integer_value(json_object_get(h, "heap_free")), 99000);
    ck_assert_str_eq(jstr(json_object_get(h, "impl"), "version"), "1.30.0");
    json_decref(h);
    vc_end(v);
}
END_TEST

/* Older firmware as data (docs/device-model.md §0): no client_id keyword (before
 * 2025-07), then no DTLS at all (before 2025-02). */
static json_t *old_firmware_call(const char *features, const char *req)
{
    struct vc *v = malloc(sizeof *v);
    char prof[400], text[600];
    snprintf(prof, sizeof prof, "%s/old-%d.yaml", g_base, (int)getpid());
    snprintf(text, sizeof text, "name: old\ndoc: d\nopenmv: v4.5.0\nmicropython: v1.23.0\n"
             "board: B\nmcu: M\nimpl_version: 1.23.0\nsysname: B\nclock_unset: 0\n"
             "pem: false\nheap: 100000\nagent_heap: 1000\n%s", features);
    write_text(prof, text);
    const char *args[] = { "--profile", prof, NULL };
    json_t *h = vc_start_profiled(v, args, "OpenMV v4.5.0; MicroPython v1.23.0; B with M");
    json_t *r = vc_request(v, req);
    json_object_set_new(r, "hello", h);
    vc_end(v);
    return r;
}

START_TEST(profile_older_firmware_features)
{
    /* wrap_socket's keywords are checked before any datagram: a client shows it */
    const char *req = "{\"id\":3,\"op\":\"dtls_client\",\"host\":\"127.0.0.1\",\"port\":9,"
                      "\"client_id\":\"auto\",\"deadline_ms\":3000}";
    json_t *r = old_firmware_call("client_id: false\n", req);
    json_t *caps = json_object_get(json_object_get(r, "hello"), "caps");
    ck_assert(json_is_true(json_object_get(caps, "dtls")));
    ck_assert(json_is_false(json_object_get(caps, "client_id")));
    ck_assert_str_eq(jstr(json_object_get(r, "exc"), "type"), "TypeError");
    ck_assert_str_eq(jstr(json_object_get(r, "exc"), "text"),
                     "unexpected keyword argument 'client_id'");
    json_decref(r);
    r = old_firmware_call("dtls: false\n", req);
    caps = json_object_get(json_object_get(r, "hello"), "caps");
    ck_assert(json_is_false(json_object_get(caps, "dtls")));
    ck_assert(json_is_false(json_object_get(caps, "client_id")));
    ck_assert_uint_eq(json_array_size(json_object_get(caps, "protocols")), 2);
    ck_assert_str_eq(jstr(r, "outcome"), "unsupported");
    ck_assert_str_eq(jstr(r, "error"), "no tls DTLS on this device");
    json_decref(r);
}
END_TEST

/* Usage errors: exit 2, one line naming the flag, or the file and line. */
static void expect_usage_error(const char *const *args, const char *msg)
{
    struct vc *v = malloc(sizeof *v);
    vc_start(v, args);
    ck_assert_int_eq(vc_wait_exit(v, HANG_MS), 2);
    unsigned char *log;
    size_t len;
    struct tm_err err;
    ck_assert_int_eq(tm_read_file(v->log, &log, &len, &err), 0);
    ck_assert_msg(strstr((char *)log, msg) != NULL, "stderr lacks \"%s\": %s", msg, log);
    free(log);
    v->status = 0;   /* expected: do not dump the log */
    vc_end(v);
}

START_TEST(flags_usage_errors)
{
    char prof[400], want[420];
    snprintf(prof, sizeof prof, "%s/bad-%d.yaml", g_base, (int)getpid());
    write_text(prof, "name: test\nheap: lots\n");
    const char *a1[] = { "--bogus", NULL };
    const char *a2[] = { "--baud", "fast", NULL };
    const char *a3[] = { "--fault", "reboot@stage=hanshake", NULL };
    const char *a4[] = { "--profile", "no-such-profile", NULL };
    const char *a5[] = { "--unset-clock", "yesterday", NULL };
    const char *a6[] = { "--profile", prof, NULL };
    expect_usage_error(a1, "--bogus");
    expect_usage_error(a2, "--baud");
    expect_usage_error(a3, "--fault reboot@stage=hanshake: stage=hanshake: unknown stage");
    expect_usage_error(a4, "no-such-profile");
    expect_usage_error(a5, "--unset-clock");
    snprintf(want, sizeof want, "%s:", prof);
    expect_usage_error(a6, want);
    /* TLS 1.3 is not in the device's mbedTLS build: refused, naming file and line */
    char prof13[400], want13[420];
    snprintf(prof13, sizeof prof13, "%s/tls13-%d.yaml", g_base, (int)getpid());
    write_text(prof13, "name: t13\ndoc: d\nopenmv: v1\nmicropython: v1\nboard: B\nmcu: M\n"
                       "impl_version: 1.0.0\nsysname: B\nclock_unset: 0\npem: false\n"
                       "tls13: true\nheap: 100000\nagent_heap: 1000\n");
    const char *a7[] = { "--profile", prof13, NULL };
    snprintf(want13, sizeof want13, "%s:11", prof13);
    expect_usage_error(a7, want13);
    expect_usage_error(a7, "tls13");
}
END_TEST

START_TEST(eof_exits_and_removes_temp_flash)
{
    struct vc *v = malloc(sizeof *v);
    const char *args[] = { "--no-flash", NULL };
    vc_start(v, args);
    vc_expect(v, BANNER ">>> ");
    char pattern[400];
    snprintf(pattern, sizeof pattern, "test -n \"$(ls -d %s/vcam-flash-* 2>/dev/null)\"",
             v->dir);
    ck_assert_int_eq(system(pattern), 0);   /* the default flash is a fresh temp dir */
    close(v->master);
    v->master = v->wfd = -1;
    ck_assert_int_eq(vc_wait_exit(v, HANG_MS), 0);
    ck_assert_int_ne(system(pattern), 0);   /* ... removed at exit */
    vc_end(v);
}
END_TEST

/* ---------------------------------------------------------------- faults */

static void start_with(struct vc *v, const char *fault)
{
    const char *args[] = { "--fault", fault, NULL };
    vc_start(v, args);
    vc_enter_raw(v);
}

/* A reboot at the second agent request: the first is answered, the second is read
 * and never answered, the friendly banner follows. The fault fires once: after a
 * new agent start, requests are answered again. */
/* A drop fault fired: the line closes with nothing more on it, vcam exits 3. */
static void vc_end_dropped(struct vc *v)
{
    ck_assert_int_eq(vc_fill(v, sizeof v->buf, tm_deadline_in(HANG_MS)), -1);   /* line gone */
    ck_assert_uint_eq(v->len, 0);
    ck_assert_int_eq(vc_wait_exit(v, HANG_MS), 3);
    v->status = 0;
    vc_end(v);
}

START_TEST(fault_flag_reboot)
{
    struct vc *v = malloc(sizeof *v);
    start_with(v, "reboot@request=2");
    json_decref(vc_start_agent(v));
    json_t *r = vc_request(v, "{\"id\":1,\"op\":\"info\"}");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 1);
    json_decref(r);
    vc_sends(v, "{\"id\":2,\"op\":\"info\"}\n");
    vc_expect(v, "MPY: soft reboot\r\n" BANNER ">>> ");
    vc_sends(v, "\x01");
    vc_expect(v, "\r\n" RAW_HDR ">");
    json_decref(vc_start_agent(v));
    r = vc_request(v, "{\"id\":3,\"op\":\"info\"}");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 3);
    json_decref(r);
    vc_end(v);
}
END_TEST

/* ms= counts from the first agent start, not from power-on: nothing happens while
 * no agent runs, and the reboot comes no earlier than 300 ms after the upload
 * began (only lower bounds: a slow machine makes both waits longer, never shorter). */
START_TEST(fault_flag_reboot_ms)
{
    struct vc *v = malloc(sizeof *v);
    start_with(v, "reboot@ms=300");
    vc_expect_silence(v, 400);
    tm_ms t0 = tm_now_ms();
    json_decref(vc_start_agent(v));
    vc_expect_n(v, "MPY: soft reboot\r\n" BANNER ">>> ", strlen("MPY: soft reboot\r\n" BANNER ">>> "),
                10000);
    ck_assert_int_ge(tm_now_ms() - t0, 300);
    vc_end(v);
}
END_TEST

/* A stall at the first request: nothing comes back, not even for a Ctrl-C or
 * another request, and the line stays open. A noise line placed on the same
 * request fires first (faults on one event fire in the order given), so the test
 * knows the stall has begun before it sends more. */
START_TEST(fault_flag_stall)
{
    struct vc *v = malloc(sizeof *v);
    const char *args[] = { "--fault", "garbage@request=1", "--fault", "stall@request=1", NULL };
    vc_start(v, args);
    vc_enter_raw(v);
    json_decref(vc_start_agent(v));
    vc_sends(v, "{\"id\":1,\"op\":\"info\"}\n");
    vc_fill(v, 50, tm_deadline_in(HANG_MS));
    ck_assert_uint_eq(v->len, 50);
    ck_assert_int_eq(memcmp(v->buf + 48, "\r\n", 2), 0);
    consume(v, 50);
    vc_sends(v, "\x03{\"id\":2,\"op\":\"info\"}\n");
    vc_expect_silence(v, 800);
    vc_reap(v, 0);
    ck_assert(!v->exited);
    vc_end(v);
}
END_TEST

/* Byte-placed: a reboot right after the 10th byte of the power-on banner cuts it
 * there, byte-exact, then the soft-reboot banner. */
START_TEST(fault_flag_byte)
{
    struct vc *v = malloc(sizeof *v);
    const char *args[] = { "--fault", "reboot@byte=10", NULL };
    vc_start(v, args);
    vc_expect_n(v, BANNER, 10, HANG_MS);
    vc_expect(v, "MPY: soft reboot\r\n" BANNER ">>> ");
    vc_expect_silence(v, 200);
    vc_end(v);
}
END_TEST

/* Boot-placed: the second boot (a soft reset) drops the line before its banner. */
START_TEST(fault_flag_boot)
{
    struct vc *v = malloc(sizeof *v);
    const char *args[] = { "--fault", "drop@boot=2", NULL };
    vc_start(v, args);
    vc_expect(v, BANNER ">>> ");
    vc_sends(v, "\x04");
    vc_expect(v, "\r\nMPY: soft reboot\r\n");
    vc_end_dropped(v);
}
END_TEST

START_TEST(fault_flag_garbage)
{
    struct vc *v = malloc(sizeof *v);
    start_with(v, "garbage");
    size_t len;
    unsigned char *src = agent_source(&len);
    raw_paste_upload(v, src, len);
    free(src);
    vc_fill(v, 50, tm_deadline_in(HANG_MS));
    ck_assert_uint_ge(v->len, 50);
    unsigned char *nl = memmem(v->buf, v->len, "\r\n", 2);
    ck_assert_ptr_nonnull(nl);
    ck_assert_int_eq((int)(nl - v->buf), 48);   /* a noise line before the hello */
    ck_assert_ptr_null(memchr(v->buf, 0x04, 48));
    consume(v, 50);
    json_t *h = vc_json(v, HANG_MS);
    ck_assert_str_eq(jstr(h, "event"), "hello");
    json_decref(h);
    vc_end(v);
}
END_TEST

START_TEST(fault_flag_drop)
{
    struct vc *v = malloc(sizeof *v);
    start_with(v, "drop@request=1");
    json_decref(vc_start_agent(v));
    vc_sends(v, "{\"id\":1,\"op\":\"info\"}\n");
    vc_end_dropped(v);   /* no reply */
}
END_TEST

/* --baud is the line rate both ways: a long request takes as long to come in
 * as the reply to go out (a lower bound, whatever the machine's load). */
START_TEST(fault_flag_baud)
{
    struct vc *v = malloc(sizeof *v);
    const char *args[] = { "--baud", "115200", NULL };
    vc_start(v, args);
    vc_expect(v, BANNER ">>> ");
    vc_sends(v, "\x01");
    vc_expect(v, "\r\n" RAW_HDR ">");
    json_decref(vc_start_agent(v));
    char req[2400];
    int n = snprintf(req, sizeof req, "{\"id\":1,\"op\":\"info\",\"pad\":\"%02300d\"}", 0);
    tm_ms t0 = tm_now_ms();
    json_t *r = vc_request(v, req);
    int64_t ms = tm_now_ms() - t0;
    char *text = json_dumps(r, JSON_COMPACT);
    /* 11,520 bytes/s at 115200 baud 8N1; the request alone is ~200 ms */
    int64_t expect_ms = ((int64_t)n + 1 + (int64_t)strlen(text)) * 1000 / 11520;
    ck_assert_msg(ms >= expect_ms * 8 / 10, "%d + %zu bytes in %lld ms, expected ~%lld", n + 1,
                  strlen(text), (long long)ms, (long long)expect_ms);
    free(text);
    json_decref(r);
    vc_end(v);
}
END_TEST

START_TEST(fault_requests)
{
    struct vc *v = malloc(sizeof *v);
    vc_start(v, NULL);
    vc_enter_raw(v);
    json_decref(vc_start_agent(v));
    /* garbage: one noise line after the reply, then business as usual */
    json_t *r = vc_request(v, "{\"id\":1,\"op\":\"fault\",\"kind\":\"garbage\"}");
    ck_assert_str_eq(jstr(r, "outcome"), "ok");
    json_decref(r);
    vc_fill(v, 50, tm_deadline_in(HANG_MS));
    ck_assert_uint_ge(v->len, 50);
    ck_assert_int_eq(memcmp(v->buf + 48, "\r\n", 2), 0);
    consume(v, 50);
    /* a 400 ms stall at the next request: it is answered late, not lost (the stall
     * starts only once the request is read, so the bound holds on any machine) */
    r = vc_request(v, "{\"id\":2,\"op\":\"fault\",\"kind\":\"stall\",\"ms\":400,"
                      "\"at\":\"request=1\"}");
    ck_assert_str_eq(jstr(r, "at"), "request=1");
    json_decref(r);
    tm_ms t0 = tm_now_ms();
    r = vc_request(v, "{\"id\":3,\"op\":\"info\"}");
    ck_assert_int_ge(tm_now_ms() - t0, 400);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 3);
    json_decref(r);
    /* baud: slow output from now on, then back to full speed */
    json_decref(vc_request(v, "{\"id\":4,\"op\":\"fault\",\"kind\":\"baud\",\"baud\":4800}"));
    t0 = tm_now_ms();
    json_decref(vc_request(v, "{\"id\":5,\"op\":\"info\"}"));
    ck_assert_int_ge(tm_now_ms() - t0, 800);   /* ~750 bytes at 480 bytes/s */
    json_decref(vc_request(v, "{\"id\":6,\"op\":\"fault\",\"kind\":\"baud\",\"baud\":0}"));
    expect_bad(v, "{\"id\":7,\"op\":\"fault\",\"kind\":\"baud\"}", 7, "missing field: baud");
    /* reboot after 100 ms (the older after_ms): the agent state is lost, friendly banner */
    r = vc_request(v, "{\"id\":8,\"op\":\"fault\",\"kind\":\"reboot\",\"after_ms\":100}");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "after_ms")), 100);
    ck_assert_str_eq(jstr(r, "at"), "ms=100");
    json_decref(r);
    vc_expect_n(v, "MPY: soft reboot\r\n" BANNER ">>> ",
                strlen("MPY: soft reboot\r\n" BANNER ">>> "), 10000);
    vc_sends(v, "\x01");
    vc_expect(v, "\r\n" RAW_HDR ">");
    json_decref(vc_start_agent(v));
    /* drop: the line closes and vcam exits 3 */
    json_decref(vc_request(v, "{\"id\":9,\"op\":\"fault\",\"kind\":\"drop\"}"));
    vc_end_dropped(v);
}
END_TEST

/* ---------------------------------------------------------------- TLS end to end */

/* A P-256 root and a test.local leaf made by the openssl CLI in dir. */
static void make_pki(const char *dir)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd %s && "
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout root.key -out root.pem -days 3650 -subj /CN=vcam-test-root "
             "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign && "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key "
             "-out srv.csr -subj /CN=test.local && "
             "printf 'subjectAltName=DNS:test.local,IP:127.0.0.1\\n' > ext && "
             "openssl x509 -req -in srv.csr -CA root.pem -CAkey root.key -CAcreateserial "
             "-out srv.pem -days 365 -extfile ext && "
             "openssl x509 -in root.pem -outform DER -out root.der && "
             "openssl x509 -in srv.pem -outform DER -out srv.der && "
             "openssl pkey -in srv.key -outform DER -out srv.key.der",
             dir);
    char full[2200];
    snprintf(full, sizeof full, "(%s) >%s/openssl.log 2>&1", cmd, dir);
    ck_assert_msg(system(full) == 0, "openssl CLI failed, see %s/openssl.log", dir);
}

static char *file_b64(const char *dir, const char *name, char sha[65])
{
    char path[600];
    unsigned char *data;
    size_t len;
    struct tm_err err;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ck_assert_msg(tm_read_file(path, &data, &len, &err) == 0, "%s", err.msg);
    if (sha)
        tm_sha256_hex(data, len, sha);
    char *b64 = tm_b64_encode(data, len);
    free(data);
    return b64;
}

/* openssl s_server -www on a free loopback port; returns the port. */
static int s_server_start(struct vc *v)
{
    struct tm_proc *p = &v->peer;
    const char *dir = v->dir;
    char log[600];
    snprintf(log, sizeof log, "%s/s_server.log", dir);
    char cert[600], key[600];
    snprintf(cert, sizeof cert, "%s/srv.pem", dir);
    snprintf(key, sizeof key, "%s/srv.key", dir);
    char *argv[] = { "openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", cert,
                     "-key", key, "-www", "-tls1_2", NULL };
    struct tm_err err;
    ck_assert_int_eq(tm_proc_spawn(p, argv, log, &err), 0);
    struct tm_lines lr;
    tm_lines_init(&lr, p->out_fd, 4096);
    int port = 0;
    tm_ms dl = tm_deadline_in(HANG_MS);
    char *line = NULL;
    while (port == 0 && tm_lines_read(&lr, dl, &line, &err) == 1) {
        const char *c = strrchr(line, ':');
        if (strncmp(line, "ACCEPT", 6) == 0 && c)
            port = atoi(c + 1);
        free(line);
    }
    tm_lines_free(&lr);
    ck_assert_int_gt(port, 0);
    return port;
}

/* A tls_client request line: GET / to the server, read 8 bytes. */
static char *tls_client_line(int id, int port)
{
    char *get = tm_b64_encode("GET / HTTP/1.0\r\n\r\n", 18);
    json_t *req = json_pack("{s:i, s:s, s:s, s:i, s:s, s:i, s:[{s:s}], s:s, s:i, s:i}",
                            "id", id, "op", "tls_client", "host", "127.0.0.1", "port", port,
                            "server_hostname", "test.local", "verify_mode", 2,
                            "ca", "file", "root.der", "send_b64", get, "recv_bytes", 8,
                            "deadline_ms", 5000);
    char *line = json_dumps(req, JSON_COMPACT);
    free(get);
    json_decref(req);
    return line;
}

static json_t *tls_client(struct vc *v, int id, int port)
{
    char *line = tls_client_line(id, port);
    json_t *r = vc_request(v, line);
    free(line);
    return r;
}

START_TEST(tls_client_against_openssl)
{
    struct vc *v = malloc(sizeof *v);
    vc_start(v, NULL);
    make_pki(v->dir);
    int port = s_server_start(v);
    vc_enter_raw(v);
    json_decref(vc_start_agent(v));
    char sha[65];
    char *root = file_b64(v->dir, "root.der", sha);
    json_t *req = json_pack("{s:i, s:s, s:s, s:s, s:s}", "id", 1, "op", "put",
                            "path", "root.der", "b64", root, "sha256", sha);
    char *line = json_dumps(req, JSON_COMPACT);
    json_t *r = vc_request(v, line);
    ck_assert_str_eq(jstr(r, "outcome"), "ok");
    json_decref(r);
    free(line);
    json_decref(req);
    free(root);
    /* RTC at its unset 2015 value: every certificate is in the future (§3) */
    r = tls_client(v, 2, port);
    ck_assert_str_eq(jstr(r, "outcome"), "error");
    json_t *exc = json_object_get(r, "exc");
    ck_assert_str_eq(jstr(exc, "type"), "ValueError");
    ck_assert_ptr_nonnull(strstr(jstr(exc, "text"), "starts in the future"));
    json_decref(r);
    /* RTC set to now: verified handshake, TLS 1.2, the server's HTTP answer */
    char set[80];
    snprintf(set, sizeof set, "{\"id\":3,\"op\":\"clock\",\"set\":%lld}",
             (long long)tm_wall_s());
    json_decref(vc_request(v, set));
    r = tls_client(v, 4, port);
    ck_assert_msg(strcmp(jstr(r, "outcome"), "ok") == 0, "reply: %s",
                  json_dumps(r, JSON_COMPACT));
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(r, "cipher"), 1)),
                     "TLSv1.2");
    ck_assert_int_eq(jint(r, "heap_after"), jint(r, "heap_before"));   /* all freed */
    char *got = NULL;
    unsigned char *dec = NULL;
    long n = tm_b64_decode(jstr(r, "received_b64"), &dec);
    ck_assert_int_eq(n, 8);
    got = strndup((char *)dec, 8);
    ck_assert_str_eq(got, "HTTP/1.0");
    free(got);
    free(dec);
    json_decref(r);
    /* A kept connection (contracts §3 keep, conn, gc): its TLS state stays
     * charged to the heap until close(); a raw close keeps it, unknown ids are
     * bad requests. */
    line = tls_client_line(40, port);
    req = json_loads(line, 0, NULL);
    free(line);
    json_object_set_new(req, "keep", json_true());
    line = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    r = vc_request(v, line);
    free(line);
    ck_assert_msg(strcmp(jstr(r, "outcome"), "ok") == 0, "reply: %s", json_dumps(r, JSON_COMPACT));
    json_int_t cid = json_integer_value(json_object_get(r, "conn"));
    json_int_t free0 = json_integer_value(json_object_get(r, "heap_before"));
    ck_assert_int_gt(cid, 0);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "open")), 1);
    ck_assert_int_lt(json_integer_value(json_object_get(r, "heap_after")), free0 - 10000);
    json_decref(r);
    char q[200];
    snprintf(q, sizeof q, "{\"id\":41,\"op\":\"conn\",\"conn\":%lld,\"recv_bytes\":4}",
             (long long)cid);
    r = vc_request(v, q);
    ck_assert_str_eq(jstr(r, "outcome"), "ok");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "bytes_received")), 4);
    json_decref(r);
    snprintf(q, sizeof q, "{\"id\":42,\"op\":\"conn\",\"conn\":%lld,\"close\":\"raw\"}",
             (long long)cid);
    r = vc_request(v, q);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "open")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "heap_after")),
                     json_integer_value(json_object_get(r, "heap_before")));
    json_decref(r);
    snprintf(q, sizeof q, "{\"id\":43,\"op\":\"conn\",\"conn\":%lld,\"close\":\"tls\"}",
             (long long)cid);
    r = vc_request(v, q);
    ck_assert_str_eq(jstr(r, "outcome"), "ok");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "open")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "heap_after")), free0);
    json_decref(r);
    r = vc_request(v, q);
    ck_assert_str_eq(jstr(r, "outcome"), "bad-request");
    snprintf(q, sizeof q, "unknown conn: %lld", (long long)cid);
    ck_assert_str_eq(jstr(r, "error"), q);
    json_decref(r);
    r = vc_request(v, "{\"id\":44,\"op\":\"gc\",\"release\":true}");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "heap_free")), free0);
    json_decref(r);
    /* Faults placed at stages of the operation (requested by the fault op):
     * garbage once the handshake is done (the operation goes on and succeeds),
     * then a reboot as the read begins (no reply; the friendly banner). */
    r = vc_request(v, "{\"id\":5,\"op\":\"fault\",\"kind\":\"garbage\","
                      "\"at\":\"stage=handshake\"}");
    ck_assert_str_eq(jstr(r, "at"), "stage=handshake#1");
    json_decref(r);
    json_decref(vc_request(v, "{\"id\":55,\"op\":\"fault\",\"kind\":\"leak\","
                              "\"bytes\":2048,\"at\":\"stage=handshake\"}"));
    line = tls_client_line(6, port);
    vc_sends(v, line);
    vc_sends(v, "\n");
    free(line);
    vc_fill(v, 50, tm_deadline_in(HANG_MS));
    ck_assert_uint_ge(v->len, 50);
    ck_assert_int_eq(memcmp(v->buf + 48, "\r\n", 2), 0);   /* the noise line */
    consume(v, 50);
    r = vc_json(v, HANG_MS);
    ck_assert_msg(strcmp(jstr(r, "outcome"), "ok") == 0, "reply: %s", json_dumps(r, JSON_COMPACT));
    /* the leak placed at the handshake: gone from the heap after the operation */
    ck_assert_int_eq(jint(r, "heap_after"), jint(r, "heap_before") - 2048);
    json_decref(r);
    json_decref(vc_request(v, "{\"id\":7,\"op\":\"fault\",\"kind\":\"reboot\","
                              "\"at\":\"stage=read\"}"));
    line = tls_client_line(8, port);
    vc_sends(v, line);
    vc_sends(v, "\n");
    free(line);
    vc_expect_n(v, "MPY: soft reboot\r\n" BANNER ">>> ",
                strlen("MPY: soft reboot\r\n" BANNER ">>> "), 10000);
    vc_end(v);
}
END_TEST

/* Ctrl-C while a server operation waits for its client: KeyboardInterrupt. The
 * operation's deadline is ten minutes, so only the interrupt can end it: its
 * traceback is the verdict, the wait for it a hang guard. */
START_TEST(tls_server_ctrl_c_and_reboot)
{
    struct vc *v = malloc(sizeof *v);
    vc_start(v, NULL);
    make_pki(v->dir);
    vc_enter_raw(v);
    json_decref(vc_start_agent(v));
    char *cert = file_b64(v->dir, "srv.der", NULL);
    char *key = file_b64(v->dir, "srv.key.der", NULL);
    json_t *req = json_pack("{s:i, s:s, s:s, s:i, s:[{s:{s:s}, s:{s:s}}], s:i}",
                            "id", 1, "op", "tls_server", "bind", "127.0.0.1", "port", 0,
                            "chain", "cert", "b64", cert, "key", "b64", key,
                            "deadline_ms", 600000);
    char *line = json_dumps(req, JSON_COMPACT);
    json_t *ev = vc_request(v, line);
    ck_assert_str_eq(jstr(ev, "event"), "listening");
    json_decref(ev);
    vc_sends(v, "\x03");
    vc_expect_n(v, "\x04" TB_HEAD "KeyboardInterrupt: \r\n\x04>",
                strlen("\x04" TB_HEAD "KeyboardInterrupt: \r\n\x04>"), HANG_MS);
    /* a reboot once the server is listening: banner, agent gone */
    json_decref(vc_start_agent(v));
    json_decref(vc_request(v, "{\"id\":2,\"op\":\"fault\",\"kind\":\"reboot\","
                              "\"at\":\"stage=listening\"}"));
    ev = vc_request(v, line);
    ck_assert_str_eq(jstr(ev, "event"), "listening");
    json_decref(ev);
    vc_expect(v, "MPY: soft reboot\r\n" BANNER ">>> ");
    free(line);
    json_decref(req);
    free(cert);
    free(key);
    vc_end(v);
}
END_TEST

/* ---------------------------------------------------------------- stdio and profiles */

/* exec: on plain pipes (no terminal at all): same bytes, same agent, exit on EOF. */
START_TEST(pipes_stdin_stdout)
{
    struct vc *v = malloc(sizeof *v);
    vc_start_pipes(v, NULL);
    vc_enter_raw(v);
    json_t *h = vc_start_agent(v);
    ck_assert_str_eq(jstr(h, "agent"), "tlsmatrix-agent");
    json_decref(h);
    json_t *r = vc_request(v, "{\"id\":1,\"op\":\"info\"}");
    ck_assert_str_eq(jstr(r, "outcome"), "ok");
    json_decref(r);
    vc_sends(v, "\x03");
    vc_expect(v, "\x04" TB_HEAD "KeyboardInterrupt: \r\n\x04>");
    vc_end(v);   /* closes stdin: EOF must end vcam with status 0 */
}
END_TEST

/* A shipped profile selected by name: the RT1060's banner and its unset RTC (§3). */
START_TEST(profile_rt1060_by_name)
{
    struct vc *v = malloc(sizeof *v);
    const char *args[] = { "--profile", "openmv-rt1060", NULL };
    vc_start(v, args);
    vc_expect(v, "OpenMV v5.0.0; MicroPython v1.27.0-r1; OpenMV-RT1060 with MIMXRT1062DVJ6A\r\n"
                 "Type \"help()\" for more information.\r\n>>> ");
    vc_sends(v, "\x01");
    vc_expect(v, "\r\n" RAW_HDR ">");
    json_t *h = vc_start_agent(v);
    json_int_t epoch = json_integer_value(json_object_get(json_object_get(h, "clock"), "epoch"));
    ck_assert_int_ge(epoch, 1381780391);   /* 2013-10-14T19:53:11Z */
    ck_assert_int_le(epoch, 1381780400);
    ck_assert(json_is_false(json_object_get(json_object_get(h, "caps"), "pem")));
    json_decref(h);
    vc_end(v);
}
END_TEST

/* ---------------------------------------------------------------- peers */

/* Start `sh -c cmd` as the test's peer (stdin /dev/null, stdout captured). */
static void peer_sh(struct vc *v, const char *cmd)
{
    char log[600];
    snprintf(log, sizeof log, "%s/peer.log", v->dir);
    char *argv[] = { "sh", "-c", (char *)cmd, NULL };
    struct tm_err err;
    ck_assert_msg(tm_proc_spawn(&v->peer, argv, log, &err) == 0, "%s", err.msg);
}

/* Everything the peer printed until it exits (or ms pass); the caller frees. */
static char *peer_output(struct vc *v, int ms)
{
    struct tm_lines lr;
    tm_lines_init(&lr, v->peer.out_fd, 1 << 16);
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(1, cap);
    char *line = NULL;
    struct tm_err err;
    tm_ms dl = tm_deadline_in(ms);
    while (tm_lines_read(&lr, dl, &line, &err) == 1) {
        len += (size_t)snprintf(out + len, cap - len, "%s\n", line);
        if (len >= cap)
            len = cap - 1;
        free(line);
    }
    tm_lines_free(&lr);
    tm_proc_stop(&v->peer, 500);
    return out;
}

/* The first JSON line of a tlspeer: {"event":"ready",…,"port":N}. */
static int peer_ready_port(struct vc *v)
{
    struct tm_lines lr;
    tm_lines_init(&lr, v->peer.out_fd, 4096);
    char *line = NULL;
    struct tm_err err;
    int port = 0;
    if (tm_lines_read(&lr, tm_deadline_in(HANG_MS), &line, &err) == 1) {
        json_t *j = json_loads(line, 0, NULL);
        const char *ev = j ? json_string_value(json_object_get(j, "event")) : NULL;
        if (ev != NULL && strcmp(ev, "ready") == 0)
            port = (int)json_integer_value(json_object_get(j, "port"));
        json_decref(j);
        free(line);
    }
    tm_lines_free(&lr);
    ck_assert_int_gt(port, 0);
    return port;
}

/* Boot vcam, make the PKI, start the agent, and set the RTC to now. */
static void tls_setup(struct vc *v)
{
    vc_start(v, NULL);
    make_pki(v->dir);
    vc_enter_raw(v);
    json_decref(vc_start_agent(v));
    char set[80];
    snprintf(set, sizeof set, "{\"id\":100,\"op\":\"clock\",\"set\":%lld}",
             (long long)tm_wall_s());
    json_decref(vc_request(v, set));
}

/* A device server op with srv.der/srv.key.der, its socket timeout and deadline
 * as given; returns the listening port. */
static int server_listen_until(struct vc *v, int id, const char *op, const char *extra,
                               int timeout_ms, int deadline_ms)
{
    char *cert = file_b64(v->dir, "srv.der", NULL);
    char *key = file_b64(v->dir, "srv.key.der", NULL);
    size_t cap = strlen(cert) + strlen(key) + 600;
    char *line = malloc(cap);
    snprintf(line, cap, "{\"id\":%d,\"op\":\"%s\",\"bind\":\"127.0.0.1\",\"port\":0,"
             "\"chain\":[{\"cert\":{\"b64\":\"%s\"},\"key\":{\"b64\":\"%s\"}}],"
             "\"timeout_ms\":%d,\"deadline_ms\":%d%s}", id, op, cert, key, timeout_ms,
             deadline_ms, extra);
    json_t *ev = vc_request(v, line);
    free(line);
    free(cert);
    free(key);
    ck_assert_str_eq(jstr(ev, "event"), "listening");
    ck_assert_int_eq(json_integer_value(json_object_get(ev, "id")), id);
    int port = (int)json_integer_value(json_object_get(ev, "port"));
    ck_assert_int_gt(port, 0);
    json_decref(ev);
    return port;
}

static int server_listen(struct vc *v, int id, const char *op, const char *extra)
{
    return server_listen_until(v, id, op, extra, 5000, 10000);
}

static void assert_ok_cipher(json_t *r, const char *version)
{
    char *text = json_dumps(r, JSON_COMPACT);
    ck_assert_msg(strcmp(jstr(r, "outcome"), "ok") == 0, "reply: %s", text);
    free(text);
    json_t *c = json_object_get(r, "cipher");
    ck_assert_str_eq(json_string_value(json_array_get(c, 0)),
                     "TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384");   /* §3: first suite */
    ck_assert_str_eq(json_string_value(json_array_get(c, 1)), version);
}

START_TEST(tls_server_against_openssl_s_client)
{
    struct vc *v = malloc(sizeof *v);
    tls_setup(v);
    int port = server_listen(v, 1, "tls_server", ",\"send_b64\":\"aGVsbG8K\"");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "exec openssl s_client -connect 127.0.0.1:%d -tls1_2 "
             "-CAfile %s/root.pem -servername test.local -verify_hostname test.local "
             "-verify_return_error -ign_eof", port, v->dir);
    peer_sh(v, cmd);
    json_t *r = vc_json(v, HANG_MS);
    assert_ok_cipher(r, "TLSv1.2");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "bytes_sent")), 6);
    json_decref(r);
    char *out = peer_output(v, 5000);
    ck_assert_msg(strstr(out, "Verify return code: 0 (ok)"), "s_client: %s", out);
    ck_assert_msg(strstr(out, "\nhello\n"), "s_client did not get the data: %s", out);
    free(out);
    vc_end(v);
}
END_TEST

START_TEST(tls_server_against_gnutls_cli)
{
    struct vc *v = malloc(sizeof *v);
    tls_setup(v);
    int port = server_listen(v, 1, "tls_server", "");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "exec gnutls-cli --x509cafile=%s/root.pem "
             "--verify-hostname=test.local --port=%d 127.0.0.1 </dev/null", v->dir, port);
    peer_sh(v, cmd);
    json_t *r = vc_json(v, HANG_MS);
    assert_ok_cipher(r, "TLSv1.2");
    json_decref(r);
    char *out = peer_output(v, 5000);
    ck_assert_msg(strstr(out, "Handshake was completed"), "gnutls-cli: %s", out);
    free(out);
    vc_end(v);
}
END_TEST

/* The device as a client of a GnuTLS server (tlspeer's gnutls backend: gnutls-serv
 * cannot bind loopback only), reading what the server sends. */
START_TEST(tls_client_against_gnutls)
{
    struct vc *v = malloc(sizeof *v);
    tls_setup(v);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "exec %s/tlspeer --backend gnutls --role server --proto tls "
             "--cert %s/srv.pem --key %s/srv.key --send gnutls-hi --timeout 8000",
             TM_BIN_DIR, v->dir, v->dir);
    peer_sh(v, cmd);
    int port = peer_ready_port(v);
    char sha[65];
    char *root = file_b64(v->dir, "root.der", sha);
    json_t *req = json_pack("{s:i, s:s, s:s, s:s, s:s}", "id", 1, "op", "put",
                            "path", "root.der", "b64", root, "sha256", sha);
    char *line = json_dumps(req, JSON_COMPACT);
    json_decref(vc_request(v, line));
    free(line);
    json_decref(req);
    free(root);
    json_t *r = tls_client(v, 2, port);
    assert_ok_cipher(r, "TLSv1.2");
    unsigned char *dec = NULL;
    long n = tm_b64_decode(jstr(r, "received_b64"), &dec);
    ck_assert_int_eq(n, 8);
    ck_assert_int_eq(memcmp(dec, "gnutls-h", 8), 0);
    free(dec);
    json_decref(r);
    char *out = peer_output(v, 5000);
    ck_assert_msg(strstr(out, "\"handshake\":\"ok\""), "tlspeer: %s", out);
    free(out);
    vc_end(v);
}
END_TEST

/* DTLS server through the serial line: the first wrap_socket fails with HelloVerify
 * (-27264), the retry on the same context succeeds (§1.8). */
START_TEST(dtls_server_hello_verify_against_openssl)
{
    struct vc *v = malloc(sizeof *v);
    tls_setup(v);
    int port = server_listen(v, 1, "dtls_server", ",\"client_id\":\"auto\"");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "exec openssl s_client -dtls1_2 -connect 127.0.0.1:%d "
             "-CAfile %s/root.pem -verify_return_error", port, v->dir);
    peer_sh(v, cmd);
    json_t *r = vc_json(v, HANG_MS);
    assert_ok_cipher(r, "DTLSv1.2");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "attempts")), 2);
    ck_assert_str_eq(jstr(json_object_get(r, "first_exc"), "text"),
                     "(-27264, 'MBEDTLS_ERR_SSL_HELLO_VERIFY_REQUIRED')");
    json_decref(r);
    free(peer_output(v, 3000));
    vc_end(v);
}
END_TEST

/* contracts §3 `nonblocking` through the serial agent protocol: setblocking(False),
 * deferred handshake driven by the first write, HelloVerify retried there. */
START_TEST(dtls_server_nonblocking_against_openssl)
{
    struct vc *v = malloc(sizeof *v);
    tls_setup(v);
    int port = server_listen(v, 1, "dtls_server",
                             ",\"client_id\":\"auto\",\"nonblocking\":true,\"send_b64\":\"aGVsbG8K\"");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "exec openssl s_client -dtls1_2 -connect 127.0.0.1:%d "
             "-CAfile %s/root.pem -verify_return_error -ign_eof", port, v->dir);
    peer_sh(v, cmd);
    json_t *r = vc_json(v, HANG_MS);
    assert_ok_cipher(r, "DTLSv1.2");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "attempts")), 2);
    ck_assert_str_eq(jstr(json_object_get(r, "first_exc"), "text"),
                     "(-27264, 'MBEDTLS_ERR_SSL_HELLO_VERIFY_REQUIRED')");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "bytes_sent")), 6);
    json_decref(r);
    char *out = peer_output(v, 3000);
    ck_assert_msg(strstr(out, "\nhello\n"), "s_client did not get the data: %s", out);
    free(out);
    /* nothing would drive a non-blocking handshake without a read or write */
    r = vc_request(v, "{\"id\":2,\"op\":\"dtls_client\",\"host\":\"127.0.0.1\",\"port\":9,"
                      "\"nonblocking\":true}");
    ck_assert_str_eq(jstr(r, "outcome"), "bad-request");
    json_decref(r);
    vc_end(v);
}
END_TEST

/* SIGTERM while a server op waits for its client: vcam ends, status 0, its
 * listening socket closed (bounded lifetime, no orphaned port). The operation's
 * deadline and socket timeout are ten minutes, so only the signal can end it; the
 * wait for the exit is a hang guard. */
START_TEST(sigterm_during_operation)
{
    struct vc *v = malloc(sizeof *v);
    tls_setup(v);
    int port = server_listen_until(v, 1, "tls_server", "", 600000, 600000);
    kill(v->pid, SIGTERM);
    ck_assert_int_eq(vc_wait_exit(v, HANG_MS), 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_ne(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    close(fd);
    vc_end(v);
}
END_TEST

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(g_base, sizeof g_base, "%s/tm-vcam-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(g_base) == NULL) {
        perror("mkdtemp");
        return 99;
    }
    Suite *s = suite_create("vcam");
    TCase *repl = tcase_create("repl");
    tcase_set_timeout(repl, 15);
    tcase_add_test(repl, friendly_repl);
    tcase_add_test(repl, cooked_pty_made_raw);
    tcase_add_test(repl, raw_repl);
    tcase_add_test(repl, raw_paste_flow_control);
    suite_add_tcase(s, repl);
    TCase *agent = tcase_create("agent");
    tcase_set_timeout(agent, 15);
    tcase_add_test(agent, agent_hello_and_info);
    tcase_add_test(agent, agent_bad_requests);
    tcase_add_test(agent, agent_bad_tls_requests_as_agent_py);
    tcase_add_test(agent, agent_put);
    tcase_add_test(agent, agent_clock_reset_ctrl_c);
    tcase_add_test(agent, agent_heap_account_and_planted_leak);
    suite_add_tcase(s, agent);
    TCase *flags = tcase_create("flags");
    tcase_set_timeout(flags, 15);
    tcase_add_test(flags, flags_profile_pem_clock);
    tcase_add_test(flags, flags_usage_errors);
    tcase_add_test(flags, eof_exits_and_removes_temp_flash);
    tcase_add_test(flags, fault_flag_reboot);
    tcase_add_test(flags, fault_flag_reboot_ms);
    tcase_add_test(flags, fault_flag_stall);
    tcase_add_test(flags, fault_flag_byte);
    tcase_add_test(flags, fault_flag_boot);
    tcase_add_test(flags, fault_flag_garbage);
    tcase_add_test(flags, fault_flag_drop);
    tcase_add_test(flags, fault_flag_baud);
    tcase_add_test(flags, fault_requests);
    tcase_add_test(flags, pipes_stdin_stdout);
    tcase_add_test(flags, profile_rt1060_by_name);
    tcase_add_test(flags, profile_older_firmware_features);
    suite_add_tcase(s, flags);
    TCase *tls = tcase_create("tls");
    tcase_set_timeout(tls, 40);   /* above HANG_MS: a hang fails with its message */
    tcase_add_test(tls, tls_client_against_openssl);
    tcase_add_test(tls, tls_server_ctrl_c_and_reboot);
    tcase_add_test(tls, tls_server_against_openssl_s_client);
    tcase_add_test(tls, tls_server_against_gnutls_cli);
    tcase_add_test(tls, tls_client_against_gnutls);
    tcase_add_test(tls, dtls_server_hello_verify_against_openssl);
    tcase_add_test(tls, dtls_server_nonblocking_against_openssl);
    tcase_add_test(tls, sigterm_during_operation);
    suite_add_tcase(s, tls);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    rm_rf(g_base);
    return failed == 0 ? 0 : 1;
}
