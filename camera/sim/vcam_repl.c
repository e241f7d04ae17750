/* The REPL side of the virtual camera, byte for byte as MicroPython's pyexec.c and
 * OpenMV's main.c (docs/device-model.md §4.2): friendly REPL with paste mode, raw REPL,
 * raw-paste with flow control, soft reset, and program execution (only the agent
 * really runs; anything else answers NotImplementedError). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vcam.h"

#define AGENT_HEADER "# tlsmatrix-agent proto=1"
#define RAW_HEADER "raw REPL; CTRL-B to exit\r\n"
#define PASTE_WINDOW 128   /* MICROPY_REPL_STDIN_BUFFER_MAX */

struct code_buf {
    unsigned char *p;
    size_t len, cap, max;
    int overflow;   /* more than the GC heap could hold: MemoryError */
};

static void code_reset(struct code_buf *b)
{
    b->len = 0;
    b->overflow = 0;
}

static void code_add(struct code_buf *b, unsigned char c)
{
    if (b->len >= b->max) {
        b->overflow = 1;
        return;
    }
    if (b->len == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 1024;
        unsigned char *np = realloc(b->p, ncap);
        if (np == NULL) {
            b->overflow = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
    b->p[b->len++] = c;
}

static void vcam_banner(struct vcam *vc)
{
    char buf[512];
    snprintf(buf, sizeof buf,
             "OpenMV %s; MicroPython %s; %s with %s\r\nType \"help()\" for more information.\r\n",
             vc->prof.openmv, vc->prof.micropython, vc->prof.board, vc->prof.mcu);
    vcam_puts(vc, buf);
}

static void traceback(struct vcam *vc, const char *exc_line)
{
    vcam_puts(vc, "Traceback (most recent call last):\r\n"
                  "  File \"<stdin>\", line 1, in <module>\r\n");
    vcam_puts(vc, exc_line);
    vcam_puts(vc, "\r\n");
}

/* The agent is recognised by its header line, not a hash, so agent edits keep
 * working (docs/contracts.md §3). */
int vcam_is_agent(const unsigned char *p, size_t len)
{
    size_t n = 0;
    while (n < len && p[n] != '\n' && p[n] != '\r')
        n++;
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    return n == strlen(AGENT_HEADER) && memcmp(p, AGENT_HEADER, n) == 0;
}

/* Only blank lines and comments: Python runs it and prints nothing. */
static int is_blank_program(const unsigned char *p, size_t len)
{
    int in_comment = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '\n' || p[i] == '\r')
            in_comment = 0;
        else if (p[i] == '#')
            in_comment = 1;
        else if (!in_comment && p[i] != ' ' && p[i] != '\t')
            return 0;
    }
    return 1;
}

/* parse_compile_execute(): the interrupt char is armed while the code runs and
 * disarmed after it, on every path. raw = EXEC_FLAG_PRINT_EOF framing: output, \x04,
 * traceback, \x04. Returns VC_OK, VC_SOFT_RESET, VC_EOF or VC_REBOOT. */
static int execute(struct vcam *vc, const struct code_buf *code, int raw)
{
    int r = VC_OK, stored = 0;
    const char *exc = NULL;
    vc->intr_active = 1;
    vc->kbd_pending = 0;
    if (code->overflow)
        exc = "MemoryError: ";
    else if (vcam_is_agent(code->p, code->len))
        r = vcam_agent_run(vc);
    else if (is_blank_program(code->p, code->len))
        r = VC_OK;
    else {   /* the stored agent's loader or writer, else a program vcam cannot run */
        r = vcam_store_exec(vc, code->p, code->len, &stored, &exc);
        if (!stored)
            exc = VCAM_NOT_IMPL;
    }
    vc->intr_active = 0;
    vc->kbd_pending = 0;
    if (exc != NULL)
        r = VC_OK;
    if (r == VC_EOF || r == VC_REBOOT)
        return r;       /* the line is gone, or the device rebooted under the program */
    if (r == VC_KBD)
        exc = "KeyboardInterrupt: ";
    if (raw)
        vcam_puts(vc, "\x04");
    if (exc != NULL)    /* SystemExit (soft reset) prints no traceback */
        traceback(vc, exc);
    if (raw)
        vcam_puts(vc, "\x04");
    return r == VC_SOFT_RESET ? VC_SOFT_RESET : VC_OK;
}

/* mp_reader_stdin: window of 128, an \x01 each time 128 bytes were consumed, \x04 on
 * end of input. vcam reads no more than the window grants. */
static int raw_paste(struct vcam *vc, struct code_buf *code, int kind)
{
    if (kind != 'A') {
        vcam_out(vc, "R\x00", 2);
        return VC_OK;
    }
    static const unsigned char hello[] = { 'R', 0x01, PASTE_WINDOW & 0xff, PASTE_WINDOW >> 8, 0x01 };
    vcam_out(vc, hello, sizeof hello);
    code_reset(code);
    size_t remain = PASTE_WINDOW;
    for (;;) {
        vc->read_limit = remain;
        int c = vcam_getc(vc, 0);
        vc->read_limit = 0;
        if (c == VC_EOF || c == VC_REBOOT)
            return c;
        if (c == 0x03 || c == VC_KBD) {   /* reader raises KeyboardInterrupt */
            vcam_puts(vc, "\x04\x04");
            vcam_puts(vc, "KeyboardInterrupt: \r\n\x04");
            vc->intr_active = 0;
            return VC_OK;
        }
        if (c == 0x04)
            break;
        code_add(code, (unsigned char)c);
        if (code->overflow) {
            /* Early abort (the lexer ran out of heap): \x04 now, then discard input
             * up to \x04/\x03 as mp_reader_stdin_close() does. */
            vcam_puts(vc, "\x04");
            for (;;) {
                c = vcam_getc(vc, 0);
                if (c == VC_EOF || c == VC_REBOOT)
                    return c;
                if (c == 0x03 || c == 0x04 || c == VC_KBD)
                    break;
            }
            vcam_puts(vc, "\x04MemoryError: \r\n\x04");
            vc->intr_active = 0;
            return VC_OK;
        }
        if (--remain == 0) {
            vcam_puts(vc, "\x01");
            remain = PASTE_WINDOW;
        }
    }
    vcam_puts(vc, "\x04");
    return execute(vc, code, 1);
}

/* pyexec_raw_repl() */
static int repl_raw(struct vcam *vc, struct code_buf *code)
{
    vcam_puts(vc, RAW_HEADER);
    for (;;) {
        code_reset(code);
        vcam_puts(vc, ">");
        int c;
        for (;;) {
            c = vcam_getc(vc, 0);
            if (c == VC_KBD)
                return VC_RESTART;   /* armed Ctrl-C at a fresh prompt (§4.2) */
            if (c < 0)
                return c;
            if (c == 0x01) {
                if (code->len == 2 && code->p[0] == 0x05) {
                    int r = raw_paste(vc, code, code->p[1]);
                    if (r != VC_OK)
                        return r;
                    code_reset(code);
                    vcam_puts(vc, ">");
                    continue;
                }
                return VC_RESTART;
            }
            if (c == 0x02) {
                vcam_puts(vc, "\r\n");
                vc->raw_mode = 0;
                return VC_SWITCH;
            }
            if (c == 0x03) {
                code_reset(code);
                continue;
            }
            if (c == 0x04)
                break;
            code_add(code, (unsigned char)c);
        }
        vcam_puts(vc, "OK");
        if (code->len == 0 && !code->overflow) {
            vcam_puts(vc, "\r\n");
            return VC_SOFT_RESET;
        }
        int r = execute(vc, code, 1);
        if (r != VC_OK)
            return r;
    }
}

/* Paste mode (Ctrl-E): echo, "\r\n=== " per line, Ctrl-C cancels, Ctrl-D runs. */
static int paste_mode(struct vcam *vc, struct code_buf *code)
{
    vcam_puts(vc, "\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== ");
    code_reset(code);
    for (;;) {
        int c = vcam_getc(vc, 0);
        if (c == VC_KBD)
            return VC_RESTART;
        if (c < 0)
            return c;
        if (c == 0x03) {
            vcam_puts(vc, "\r\n");
            return VC_OK;
        }
        if (c == 0x04) {
            vcam_puts(vc, "\r\n");
            return execute(vc, code, 0);
        }
        code_add(code, (unsigned char)c);
        if (c == '\r') {
            vcam_puts(vc, "\r\n=== ");
        } else {
            unsigned char b = (unsigned char)c;
            vcam_out(vc, &b, 1);
        }
    }
}

/* pyexec_friendly_repl() with readline's echo. Line editing keys other than
 * backspace are ignored (the harness never edits lines). */
static int repl_friendly(struct vcam *vc, struct code_buf *code)
{
    vcam_banner(vc);
    for (;;) {
        code_reset(code);
        vcam_puts(vc, ">>> ");
        int esc = 0;
        for (;;) {
            int c = vcam_getc(vc, 0);
            if (c == VC_KBD)
                return VC_RESTART;   /* armed Ctrl-C at a fresh prompt: banner again */
            if (c < 0)
                return c;
            if (esc) {            /* ESC [ ... final byte: cursor keys, ignored */
                if (esc == 1 && c == '[')
                    esc = 2;
                else if (esc == 1 || (c >= 0x40 && c <= 0x7e))
                    esc = 0;
                continue;
            }
            if (c >= 0x01 && c <= 0x05 && code->len == 0) {
                vcam_puts(vc, c == 0x05 ? "" : "\r\n");
                if (c == 0x01) {
                    vc->raw_mode = 1;
                    return VC_SWITCH;
                }
                if (c == 0x02)
                    return VC_RESTART;
                if (c == 0x04)
                    return VC_SOFT_RESET;
                if (c == 0x05) {
                    int r = paste_mode(vc, code);
                    if (r != VC_OK)
                        return r;
                }
                break;            /* Ctrl-C, or paste mode done: new prompt */
            }
            if (c == 0x03) {
                vcam_puts(vc, "\r\n");
                break;
            }
            if (c == '\r') {
                vcam_puts(vc, "\r\n");
                if (code->len > 0) {
                    int r = execute(vc, code, 0);
                    if (r != VC_OK)
                        return r;
                }
                break;
            }
            if (c == 0x1b) {
                esc = 1;
            } else if ((c == 0x08 || c == 0x7f) && code->len > 0) {
                code->len--;
                vcam_puts(vc, "\b \b");
            } else if (c >= 0x20 && c <= 0x7e) {
                code_add(code, (unsigned char)c);
                unsigned char b = (unsigned char)c;
                vcam_out(vc, &b, 1);
            }
        }
    }
}

/* A boot (power-on is boot 1, each soft reset or reboot the next): faults placed
 * on it fire before its banner. A reboot there boots again; every fault fires
 * once, so this ends. */
static int vcam_boot(struct vcam *vc)
{
    int r = VC_REBOOT;
    for (int boots = 0; r == VC_REBOOT && boots <= VCAM_MAX_FAULTS; boots++) {
        if (boots > 0 || vc->events[TM_AT_BOOT] > 0) {
            vcam_faults_drop_requests(vc);
            vc->heap_free = vc->prof.heap;
            vc->leaked = 0;
            vc->muted = 0;
            vcam_store_boot(vc);
            json_decref(vc->lock_ram);   /* __main__'s globals go with the heap */
            vc->lock_ram = NULL;
            vc->due = VC_OK;
            vcam_puts(vc, "MPY: soft reboot\r\n");
        }
        vc->intr_active = 1;
        r = vcam_event(vc, TM_AT_BOOT, 0);
        if (r == VC_REBOOT)
            vc->raw_mode = 0;
    }
    return r;
}

/* main.py on a board that ships one (--busy-main): a camera loop printing a line
 * every busy_ms ms that catches its first busy_swallow KeyboardInterrupts, as a
 * try/except loop does; the next one ends it with a traceback and the friendly
 * REPL follows. It reads no input: what the host sends meanwhile is lost. */
static int busy_main(struct vcam *vc)
{
    long caught = 0, frame = 0;
    tm_ms next = tm_deadline_in(vc->busy_ms);
    vc->kbd_pending = 0;
    for (long guard = 0; guard < LONG_MAX; guard++) {
        int c = vcam_getc(vc, next);
        if (c == VC_TIMEOUT) {
            char line[64];
            snprintf(line, sizeof line, "main.py: frame %ld, 30.0 fps\r\n", ++frame);
            vcam_puts(vc, line);
            /* a late wake-up prints one line, not a burst to catch up */
            next = next + vc->busy_ms > tm_now_ms() ? next + vc->busy_ms : tm_now_ms();
        } else if (c == VC_KBD && caught < vc->busy_swallow) {
            caught++;
            vcam_puts(vc, "main.py: KeyboardInterrupt caught, carrying on\r\n");
        } else if (c == VC_KBD) {
            vcam_puts(vc, "Traceback (most recent call last):\r\n"
                          "  File \"main.py\", line 12, in <module>\r\n"
                          "KeyboardInterrupt: \r\n");
            return VC_OK;
        } else if (c == VC_EOF || c == VC_REBOOT) {
            return c;
        }
    }
    return VC_OK;
}

/* Power-on: the first boot, then main.py where the board has one. MicroPython
 * runs main.py only after power-on or a hard reset, never after a soft reset
 * (docs/device-model.md §4.2), so the soft resets that follow skip it. */
static int power_on(struct vcam *vc)
{
    int r = vcam_boot(vc);
    if (r != VC_OK || vc->busy_ms == 0)
        return r;
    r = busy_main(vc);
    if (r == VC_REBOOT) {   /* a fault under main.py: the soft reboot lands at the REPL */
        vc->raw_mode = 0;
        r = vcam_boot(vc);
    }
    return r;
}

/* OpenMV main.c: arm Ctrl-C, run the REPL of the current kind, soft-reset on
 * request. The RTC and the flash survive a soft reset; the agent does not. */
int vcam_run(struct vcam *vc)
{
    struct code_buf code = { .max = (size_t)vc->prof.heap };
    int r = power_on(vc);
    while (r != VC_EOF) {
        r = vc->raw_mode ? repl_raw(vc, &code) : repl_friendly(vc, &code);
        if (r == VC_SOFT_RESET || r == VC_REBOOT) {
            /* A reboot fault lands where a reset board lands: the friendly REPL. */
            if (r == VC_REBOOT)
                vc->raw_mode = 0;
            r = vcam_boot(vc);
        }
    }
    free(code.p);
    return vc->exit_code;
}
