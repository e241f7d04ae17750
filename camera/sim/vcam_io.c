/* vcam's byte stream: buffered stdin in any chunking, the armed interrupt char,
 * both directions throttled to a baud rate (faults fire from here: vcam_fault.c), and the
 * virtual RTC. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vcam.h"

/* The one global the C library forces: a signal handler can only set a flag. */
static volatile sig_atomic_t g_signalled;

static void on_signal(int sig)
{
    (void)sig;
    g_signalled = 1;
}

void vcam_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;   /* no SA_RESTART: poll() returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int vcam_signalled(void)
{
    return g_signalled != 0;
}

static void write_all(struct vcam *vc, const unsigned char *p, size_t len)
{
    while (len > 0 && vc->out_fd >= 0) {
        ssize_t n = write(vc->out_fd, p, len);
        if (n < 0 && errno == EINTR) {
            if (vcam_signalled())
                return;
            continue;
        }
        if (n <= 0) {          /* the line is gone (EIO/EPIPE): stop talking, exit soon */
            vc->out_fd = -1;
            vc->eof = 1;
            return;
        }
        p += n;
        len -= (size_t)n;
    }
}

/* 8N1: ten bit times per byte. */
static int64_t line_bytes_per_s(const struct vcam *vc)
{
    return vc->baud / 10 > 0 ? vc->baud / 10 : 1;
}

/* Chunks of ~10 ms keep the rate smooth. */
static void write_throttled(struct vcam *vc, const unsigned char *p, size_t len)
{
    int64_t bytes_per_s = line_bytes_per_s(vc);
    size_t chunk = (size_t)(bytes_per_s / 100 > 0 ? bytes_per_s / 100 : 1);
    while (len > 0 && vc->out_fd >= 0 && !vcam_signalled()) {
        size_t n = len < chunk ? len : chunk;
        int64_t now = tm_now_us();
        if (vc->tx_next > now) {
            int64_t wait = vc->tx_next - now;
            struct timespec ts = { wait / 1000000, (wait % 1000000) * 1000 };
            nanosleep(&ts, NULL);
        } else {
            vc->tx_next = now;
        }
        write_all(vc, p, n);
        vc->tx_next += (int64_t)n * 1000000 / bytes_per_s;
        p += n;
        len -= n;
    }
}

static void out_raw(struct vcam *vc, const unsigned char *p, size_t len)
{
    if (vc->baud > 0)
        write_throttled(vc, p, len);
    else
        write_all(vc, p, len);
}

/* Written in pieces that end where a byte-placed fault is due, so it fires right
 * after its byte; a reboot or drop there loses the rest with the device. */
void vcam_out(struct vcam *vc, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0 && !vc->muted) {
        size_t n = vcam_bytes_before_fault(vc, len);
        out_raw(vc, p, n);
        p += n;
        len -= n;
        int r = vcam_bytes_written(vc, n);
        if (r != VC_OK) {
            vc->due = r;
            vc->muted = 1;
        }
    }
}

void vcam_puts(struct vcam *vc, const char *s)
{
    vcam_out(vc, s, strlen(s));
}

static uint64_t rng_next(struct vcam *vc)
{
    uint64_t x = vc->rng;   /* xorshift64: fixed seed, so a fault run is reproducible */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    vc->rng = x;
    return x;
}

/* Firmware noise: random bytes on a line of their own. \r, \n and \x04 are left out
 * so the noise stays one line and never fakes the raw REPL's \x04 framing. */
void vcam_garbage_line(struct vcam *vc)
{
    unsigned char buf[50];
    size_t n = 0;
    while (n < 48) {
        unsigned char c = (unsigned char)(rng_next(vc) >> 24);
        if (c != '\r' && c != '\n' && c != 0x04)
            buf[n++] = c;
    }
    buf[n++] = '\r';
    buf[n++] = '\n';
    vcam_out(vc, buf, n);
}

int64_t vcam_rtc_now(struct vcam *vc)
{
    return vc->rtc_base + (tm_now_ms() - vc->rtc_mono) / 1000;
}

void vcam_rtc_set(struct vcam *vc, int64_t epoch)
{
    vc->rtc_base = epoch;
    vc->rtc_mono = tm_now_ms();
}

/* Drop taken-out 0x03 bytes while the interrupt char is armed: on the device the USB
 * receive path raises KeyboardInterrupt and never queues the byte (docs/device-model.md §4.2;
 * ST-stack boards keep the bytes after it, so we do too). */
static void filter_intr(struct vcam *vc, size_t from)
{
    size_t w = from;
    for (size_t r = from; r < vc->in_len; r++) {
        if (vc->in[r] == 0x03)
            vc->kbd_pending = 1;
        else
            vc->in[w++] = vc->in[r];
    }
    vc->in_len = w;
}

/* The throttled line's input side: a byte arrives 10 bit times after the one
 * before it, so a request takes as long to come in as it would on a UART. How
 * many bytes may be read now (at most ~10 ms worth); when none yet, wait up to
 * *timeout_ms for the next and leave the poll nothing more to wait for. */
static size_t rx_allowance(struct vcam *vc, size_t room, int *timeout_ms)
{
    int64_t bps = line_bytes_per_s(vc), now = tm_now_us();
    size_t chunk = (size_t)(bps / 100 > 0 ? bps / 100 : 1);
    if (vc->rx_next <= now) {
        vc->rx_next = now;       /* an idle line: the next byte starts now */
        return room < chunk ? room : chunk;
    }
    int64_t wait_us = vc->rx_next - now;
    if (*timeout_ms > 0) {
        int64_t cap = (int64_t)*timeout_ms * 1000;
        struct timespec ts = { 0, 0 };
        wait_us = wait_us < cap ? wait_us : cap;
        ts.tv_sec = wait_us / 1000000;
        ts.tv_nsec = (wait_us % 1000000) * 1000;
        nanosleep(&ts, NULL);
    }
    *timeout_ms = 0;
    return tm_now_us() >= vc->rx_next ? (room < chunk ? room : chunk) : 0;
}

/* Wait up to timeout_ms for input and append it to the buffer. */
static void fill(struct vcam *vc, int timeout_ms)
{
    if (vc->eof)
        return;
    if (vc->in_pos == vc->in_len)
        vc->in_pos = vc->in_len = 0;
    if (vc->in_pos > 0 && vc->in_len == VCAM_IN_CAP) {
        memmove(vc->in, vc->in + vc->in_pos, vc->in_len - vc->in_pos);
        vc->in_len -= vc->in_pos;
        vc->in_pos = 0;
    }
    size_t room = VCAM_IN_CAP - vc->in_len;
    if (vc->read_limit > 0) {
        size_t queued = vc->in_len - vc->in_pos;
        room = queued >= vc->read_limit ? 0 : vc->read_limit - queued;
    }
    if (vc->baud > 0 && room > 0)
        room = rx_allowance(vc, room, &timeout_ms);
    struct pollfd pfd = { .fd = vc->in_fd, .events = POLLIN };
    int r = poll(&pfd, 1, room == 0 ? 0 : timeout_ms);
    if (r <= 0 || room == 0)
        return;
    if (!(pfd.revents & POLLIN) && (pfd.revents & (POLLHUP | POLLERR | POLLNVAL))) {
        vc->eof = 1;
        return;
    }
    ssize_t n = read(vc->in_fd, vc->in + vc->in_len, room);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {              /* 0 = EOF; EIO = pty master closed */
        vc->eof = 1;
        return;
    }
    size_t from = vc->in_len;
    vc->in_len += (size_t)n;
    if (vc->baud > 0)
        vc->rx_next += (int64_t)n * 1000000 / line_bytes_per_s(vc);
    if (vc->intr_active)
        filter_intr(vc, from);
}

/* A stalled device answers nothing and takes in what its USB buffer holds; only the
 * end of the line (or a signal) ends a stall for ever (ms == 0). */
int vcam_stall(struct vcam *vc, int64_t ms)
{
    tm_ms until = ms > 0 ? tm_deadline_in(ms) : 0;
    while (until == 0 || !tm_expired(until)) {
        if (vcam_signalled() || vc->eof)
            return VC_EOF;
        if (vc->in_len == VCAM_IN_CAP && vc->in_pos == 0)
            vc->in_len = 0;           /* buffer overrun: the device loses bytes */
        size_t saved_limit = vc->read_limit;
        vc->read_limit = 0;
        fill(vc, 100);
        vc->read_limit = saved_limit;
    }
    return VC_OK;
}

int vcam_getc(struct vcam *vc, tm_ms deadline)
{
    for (;;) {
        if (vcam_signalled())
            return VC_EOF;
        int r = vcam_faults_run(vc);
        if (r != VC_OK)
            return r;
        if (vc->kbd_pending && vc->intr_active) {
            vc->kbd_pending = 0;
            return VC_KBD;
        }
        vc->kbd_pending = 0;
        if (vc->in_pos < vc->in_len)
            return vc->in[vc->in_pos++];
        if (vc->eof)
            return VC_EOF;
        if (deadline != 0 && tm_expired(deadline))
            return VC_TIMEOUT;
        int64_t wait = 1000;
        if (deadline != 0 && tm_remaining_ms(deadline) < wait)
            wait = tm_remaining_ms(deadline);
        int64_t nf = vcam_next_fault_in(vc);
        if (nf >= 0 && nf < wait)
            wait = nf;
        fill(vc, (int)wait);
    }
}

int vcam_poll(struct vcam *vc)
{
    if (vcam_signalled())
        return VC_EOF;
    fill(vc, 0);
    int r = vcam_faults_run(vc);
    if (r != VC_OK)
        return r;
    if (vc->eof && vc->in_pos == vc->in_len)
        return VC_EOF;
    return vc->kbd_pending ? VC_KBD : VC_OK;
}
