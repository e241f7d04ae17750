/* Progress: one live line on a TTY (done/total, counts, current case, ETA), one
 * line per finished case otherwise. Called with the run mutex held. */
#include "runner_internal.h"

#include <string.h>
#include <unistd.h>

#include "tm_verdict.h"

void progress_start(struct progress *p, size_t total, int mode)
{
    memset(p, 0, sizeof *p);
    p->enabled = mode != 0;
    p->tty = isatty(STDERR_FILENO);
    p->total = total;
    p->started = tm_now_ms();
}

static void live_line(struct progress *p)
{
    char eta[32] = "?";
    if (p->done > 0) {
        int64_t per = (tm_now_ms() - p->started) / (int64_t)p->done;
        int64_t left = per * (int64_t)(p->total > p->done ? p->total - p->done : 0) / 1000;
        snprintf(eta, sizeof eta, "%lldm%02llds", (long long)(left / 60), (long long)(left % 60));
    }
    char cur[sizeof p->current * 4];
    /* The escape sequence is ours; the case id is data and printed made printable. */
    fprintf(stderr, "\r\033[K[%zu/%zu] pass %d fail %d error %d | %.60s | ETA %s", p->done,
            p->total, p->counts[TM_PASS] + p->counts[TM_XFAIL], p->counts[TM_FAIL] + p->counts[TM_XPASS],
            p->counts[TM_ERROR], tm_printable(p->current, cur, sizeof cur), eta);
    fflush(stderr);
}

void progress_current(struct progress *p, const char *id)
{
    snprintf(p->current, sizeof p->current, "%s", id ? id : "");
    if (p->enabled && p->tty)
        live_line(p);
}

void progress_case(struct progress *p, const json_t *rec)
{
    const char *v = json_string_value(json_object_get(rec, "verdict"));
    int k = tm_verdict_parse(v);
    if (k >= 0)
        p->counts[k]++;
    p->done++;
    if (!p->enabled)
        return;
    if (p->tty) {
        live_line(p);
        return;
    }
    const json_t *t = json_object_get(rec, "timings_ms");
    /* Only what needs a look gets its reason: unexpected verdicts and skips. */
    int explain = k < 0 || k == TM_SKIP || tm_verdict_unexpected(k);
    tm_say("[%zu/%zu] %-5s %s (%lld ms)%s%s", p->done, p->total, v ? v : "?",
            json_string_value(json_object_get(rec, "id")),
            (long long)json_integer_value(json_object_get(t, "total")),
            explain ? " — " : "", explain ? json_string_value(json_object_get(rec, "reason")) ?: "" : "");
}

void progress_end(struct progress *p)
{
    if (p->enabled && p->tty)
        fputc('\n', stderr);
}
