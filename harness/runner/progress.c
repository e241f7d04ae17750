/* Progress on stderr. On a terminal: one live line sized to the terminal's width
 * (TIOCGWINSZ, read again at each redraw so a resize is followed), counts with
 * xfail apart from pass, the case running, an ETA; an unexpected result (fail,
 * xpass, error) is printed above it when it happens. Not a terminal: one plain line
 * per finished case. Either way the unexpected results are listed again at the
 * end. Called with the run mutex held. */
#include "runner_internal.h"

#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "tm_verdict.h"

#define DEFAULT_COLS 80
#define MAX_LISTED 200   /* the end list; the reports have every case */

void progress_start(struct progress *p, size_t total, int mode)
{
    memset(p, 0, sizeof *p);
    p->enabled = mode != 0;
    p->tty = isatty(STDERR_FILENO);
    p->total = total;
    p->started = tm_now_ms();
    p->unexpected = json_array();
}

static int term_cols(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        return ws.ws_col;
    return DEFAULT_COLS;
}

static void live_line(struct progress *p)
{
    char eta[32] = "?", head[160], tail[48];
    if (p->done > 0) {
        int64_t per = (tm_now_ms() - p->started) / (int64_t)p->done;
        int64_t left = per * (int64_t)(p->total > p->done ? p->total - p->done : 0) / 1000;
        snprintf(eta, sizeof eta, "%lldm%02llds", (long long)(left / 60), (long long)(left % 60));
    }
    int bad = p->counts[TM_FAIL] + p->counts[TM_XPASS] + p->counts[TM_ERROR];
    int hl = snprintf(head, sizeof head, "[%zu/%zu] pass %d xfail %d unexpected %d skip %d", p->done,
                      p->total, p->counts[TM_PASS], p->counts[TM_XFAIL], bad, p->counts[TM_SKIP]);
    int tl = snprintf(tail, sizeof tail, " | ETA %s", eta);
    /* What is left of the width (one column spare: writing the last one wraps on
     * some terminals) goes to the case id; the counts go first when it is narrow. */
    int room = term_cols() - 1 - hl - tl - 3;
    char cur[sizeof p->current * 4];
    tm_printable(p->current, cur, sizeof cur);   /* the id is data: made printable */
    if (room >= 8)
        fprintf(stderr, "\r\033[K%s | %.*s%s", head, room, cur, tail);
    else
        fprintf(stderr, "\r\033[K%.*s", term_cols() - 1, head);
    fflush(stderr);
}

void progress_current(struct progress *p, const char *id)
{
    snprintf(p->current, sizeof p->current, "%s", id ? id : "");
    if (p->enabled && p->tty)
        live_line(p);
}

/* "fail ID — reason", kept for the list at the end. */
static void note_unexpected(struct progress *p, const char *v, const json_t *rec)
{
    if (json_array_size(p->unexpected) >= MAX_LISTED)
        return;
    json_array_append_new(p->unexpected,
                          json_sprintf("%-5s %s — %s", v, json_string_value(json_object_get(rec, "id")) ?: "?",
                                       json_string_value(json_object_get(rec, "reason")) ?: ""));
}

void progress_case(struct progress *p, const json_t *rec)
{
    const char *v = json_string_value(json_object_get(rec, "verdict"));
    int k = tm_verdict_parse(v);
    if (k >= 0)
        p->counts[k]++;
    p->done++;
    int bad = k < 0 || tm_verdict_unexpected(k);
    if (bad) {
        p->nunexpected++;
        note_unexpected(p, v ? v : "?", rec);
    }
    if (!p->enabled)
        return;
    if (p->tty) {
        if (bad) {   /* above the live line, which is drawn again below it */
            fputs("\r\033[K", stderr);
            tm_say("UNEXPECTED %s", json_string_value(json_array_get(p->unexpected,
                                                      json_array_size(p->unexpected) - 1)) ?: "");
        }
        live_line(p);
        return;
    }
    const json_t *t = json_object_get(rec, "timings_ms");
    /* Only what needs a look gets its reason: unexpected verdicts and skips. */
    int explain = bad || k == TM_SKIP;
    tm_say("[%zu/%zu] %-5s %s (%lld ms)%s%s", p->done, p->total, v ? v : "?",
            json_string_value(json_object_get(rec, "id")),
            (long long)json_integer_value(json_object_get(t, "total")),
            explain ? " — " : "", explain ? json_string_value(json_object_get(rec, "reason")) ?: "" : "");
}

void progress_end(struct progress *p)
{
    if (p->unexpected == NULL)
        return;   /* ended already */
    if (p->enabled && p->tty) {   /* the last counts stay on the screen */
        p->current[0] = '\0';
        live_line(p);
        fputc('\n', stderr);
    }
    if (p->enabled && p->nunexpected > 0) {
        size_t i;
        json_t *line;
        tm_say("%d unexpected result%s:", p->nunexpected, p->nunexpected > 1 ? "s" : "");
        json_array_foreach(p->unexpected, i, line)
            tm_say("  %s", json_string_value(line));
        if ((size_t)p->nunexpected > json_array_size(p->unexpected))
            tm_say("  … and %zu more (summary.md lists them all)",
                   (size_t)p->nunexpected - json_array_size(p->unexpected));
    }
    json_decref(p->unexpected);
    p->unexpected = NULL;
}
