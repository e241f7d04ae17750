/* The agent kept on the board's file system (docs/contracts.md §3, "Stored
 * agent"). At a bootstrap the loader (common/tm_agentfile.h, ~0.5 KB) hashes the
 * board's copy and, when it is this agent, imports it; a missing or stale copy
 * is written once by the writer and then started by the loader the same way.
 * After a soft reset only the loader crosses the link, where the whole agent
 * (24 KB, 2 s at 115200 baud) went before. A board that cannot keep the file
 * (read-only or full file system, no hashlib, a program that raised) gets the
 * agent whole for the rest of the run, and a->store_off says why. */
#include "agent_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tm_agentfile.h"
#include "tm_fs.h"

#define STATUS_MS 20000   /* a program's answer: hashing or writing 24 KB of flash */
#define STATUS_LINE_MAX 4096
#define MAX_NOISE 200     /* lines before the status or the hello (boot.py output, …) */

enum run_result { RUN_STATUS = 0, RUN_STARTED = 1, RUN_RAISED = 2 };

struct answer {
    enum tm_af_status st;
    int eno;
    char text[200];   /* the status line, or the traceback's last line */
};

static tm_ms min_deadline(tm_ms a, tm_ms b)
{
    return a < b ? a : b;
}

/* The rest of a raw-REPL reply after the output read so far: the output to its
 * \x04, the traceback to its \x04, the prompt. 1 when there was a traceback (its
 * last line in ans->text), 0 when not, -1 on a broken reply. */
static int reply_end(struct agent *a, struct answer *ans, tm_ms deadline, struct tm_err *err)
{
    char tb[1024] = "";
    if (agent_read_section(a, NULL, 0, deadline, err) != 0
        || agent_read_section(a, tb, sizeof tb, deadline, err) != 0)
        return -1;
    int r = agent_read_until(a, ">", 1, deadline, err);
    if (r != 0)
        return r < 0 ? -1 : tm_err_set(err, "no raw REPL prompt after the program's reply");
    size_t n = strlen(tb);
    while (n > 0 && (tb[n - 1] == '\r' || tb[n - 1] == '\n'))
        tb[--n] = '\0';
    if (n == 0)
        return 0;
    const char *last = strrchr(tb, '\n');
    snprintf(ans->text, sizeof ans->text, "%s", last != NULL ? last + 1 : tb);
    return 1;
}

/* The program's first line of output: the agent's hello (left for wait_hello:
 * RUN_STARTED), a status line (the reply read to the prompt: RUN_STATUS), or no
 * line before the program ended (RUN_RAISED: it raised). Other lines are noted
 * and passed over. -1 when the link or the reply broke. */
static int read_answer(struct agent *a, struct answer *ans, tm_ms deadline, struct tm_err *err)
{
    for (int guard = 0, lines = 0; guard < 100000 && lines < MAX_NOISE; guard++) {
        unsigned char *nl = a->rxlen ? memchr(a->rx, '\n', a->rxlen) : NULL;
        unsigned char *eot = a->rxlen ? memchr(a->rx, 0x04, a->rxlen) : NULL;
        if (eot != NULL && (nl == NULL || eot < nl)) {
            int r = reply_end(a, ans, deadline, err);
            if (r == 0)   /* not what either program does: the board is not one to trust */
                snprintf(ans->text, sizeof ans->text, "it ended without a word");
            return r < 0 ? -1 : RUN_RAISED;
        }
        if (nl == NULL) {
            if (a->rxlen > STATUS_LINE_MAX)
                return tm_err_set(err, "no line end in %zu bytes of the program's output", a->rxlen);
            int r = agent_rx_fill(a, deadline, err);
            if (r == 0)
                return tm_err_setc(err, TM_E_TIMEOUT, "no answer from the program before the deadline");
            if (r < 0)
                return -1;
            continue;
        }
        lines++;
        if (a->rx[0] == '{')
            return RUN_STARTED;
        size_t n = (size_t)(nl - a->rx);
        agent_note(a, "< ", (const char *)a->rx, n);
        int mine = n >= strlen(TM_AF_MARK) && memcmp(a->rx, TM_AF_MARK, strlen(TM_AF_MARK)) == 0;
        if (mine) {
            size_t m = n - strlen(TM_AF_MARK);
            while (m > 0 && a->rx[strlen(TM_AF_MARK) + m - 1] == '\r')
                m--;
            snprintf(ans->text, sizeof ans->text, "%.*s", (int)m,
                     (const char *)a->rx + strlen(TM_AF_MARK));
            ans->st = tm_af_status_parse(ans->text, &ans->eno);
        }
        agent_rx_consume(a, n + 1);
        if (mine) {
            int r = reply_end(a, ans, deadline, err);
            return r < 0 ? -1 : r > 0 ? RUN_RAISED : RUN_STATUS;
        }
    }
    return tm_err_set(err, "no status line among the program's first lines");
}

static int run_program(struct agent *a, const char *prog, struct answer *ans, tm_ms deadline,
                       struct tm_err *err)
{
    size_t n = strlen(prog);
    memset(ans, 0, sizeof *ans);
    if (agent_send_program(a, (const unsigned char *)prog, n, deadline, err) != 0)
        return -1;
    a->upload_bytes += n;
    return read_answer(a, ans, min_deadline(deadline, tm_deadline_in(STATUS_MS)), err);
}

static int keep_off(struct agent *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int keep_off(struct agent *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->store_off, sizeof a->store_off, fmt, ap);
    va_end(ap);
    agent_notef(a, "the board does not keep the agent: %s; it goes whole", a->store_off);
    return 0;
}

/* The writer: the agent zlib-compressed where the firmware inflates (about half
 * the bytes), else as a bytes literal. NULL with err set; *lost when the device
 * broke the probe's framing. */
static char *make_writer(struct agent *a, const unsigned char *code, size_t len, tm_ms deadline,
                         int *lost, struct tm_err *err)
{
    int r = agent_probe_deflate(a, deadline, err);
    *lost = r < 0;
    if (r < 0)
        return NULL;
    char *prog = NULL;
    if (r == 1 && agent_pack_writer(code, len, &prog, err) == 0)
        return prog;
    prog = tm_af_writer(code, len);
    if (prog == NULL)
        tm_err_set(err, "out of memory");
    return prog;
}

/* The board had no copy of this agent: write it, then start it with the loader. */
static int write_and_start(struct agent *a, const unsigned char *code, size_t len,
                           const char *loader, tm_ms deadline, struct tm_err *err)
{
    int lost = 0;
    char *writer = make_writer(a, code, len, deadline, &lost, err);
    if (writer == NULL)
        return lost ? -1 : keep_off(a, "%s", err->msg);
    struct answer ans;
    int r = run_program(a, writer, &ans, deadline, err);
    free(writer);
    if (r < 0)
        return -1;
    if (r == RUN_RAISED)
        return keep_off(a, "the writer raised: %s", ans.text);
    if (r == RUN_STATUS && ans.st == TM_AF_ST_NOSTORE)
        return keep_off(a, "the agent file could not be written (OSError %d)", ans.eno);
    if (r != RUN_STATUS || ans.st != TM_AF_ST_STORED)
        return keep_off(a, "the writer answered '%s'", ans.text);
    agent_notef(a, "the agent (%zu bytes) is stored in the board's %s", len, TM_AF_FILE);
    r = run_program(a, loader, &ans, deadline, err);
    if (r < 0)
        return -1;
    if (r != RUN_STARTED)
        return keep_off(a, "the file just written did not check: %s", ans.text);
    a->start = "written";
    return 1;
}

int agent_store_start(struct agent *a, const unsigned char *code, size_t len, tm_ms deadline,
                      struct tm_err *err)
{
    char sha[65];
    tm_sha256_hex(code, len, sha);
    char *loader = tm_af_loader(sha);
    if (loader == NULL)
        return tm_err_set(err, "out of memory");
    struct answer ans;
    int r = run_program(a, loader, &ans, deadline, err);
    if (r == RUN_STARTED) {
        a->start = "stored";
        agent_notef(a, "the board's %s is this agent: started by the loader (%zu bytes)",
                    TM_AF_FILE, strlen(loader));
    } else if (r == RUN_RAISED) {
        r = keep_off(a, "the loader raised: %s", ans.text);
    } else if (r == RUN_STATUS) {
        switch (ans.st) {
        case TM_AF_ST_NOFILE:
        case TM_AF_ST_STALE:
            agent_notef(a, "the board's %s: %s; writing it", TM_AF_FILE,
                        ans.st == TM_AF_ST_NOFILE ? "none" : "another agent or damaged");
            r = write_and_start(a, code, len, loader, deadline, err);
            break;
        case TM_AF_ST_NOHASH:
            r = keep_off(a, "no hashlib to check a stored copy with");
            break;
        case TM_AF_ST_NOSTORE:
            r = keep_off(a, "the file system is not writable (OSError %d)", ans.eno);
            break;
        default:
            r = keep_off(a, "the loader answered '%s'", ans.text);
            break;
        }
    }
    free(loader);
    return r;
}
