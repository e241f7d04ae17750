/* The recovery ladder: what brings a lost agent back, gentlest first. Each rung
 * resets the board its own way, then bootstraps; the first rung whose bootstrap
 * succeeds ends the climb. Every step goes to the transcript.
 *
 *   1. soft reset: interrupt, raw REPL, Ctrl-D (a fresh heap; files stay);
 *   2. DTR/RTS pulse, on boards that wire them to reset; an exec program restarts;
 *   3. the lab file's reset or power command (link_set_reset_command), then a
 *      wait for the board to re-enumerate, wherever it lands, and a reopen (tcp:
 *      reconnect; exec: a restart). */
#include "agent_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define RUNG_MS 20000          /* one rung's bootstrap */
#define RESET_CMD_MS 30000     /* a power switch or hub-port command */
#define REENUMERATE_MS 15000   /* a USB board is back 1-3 s after a reset; slack for a slow hub */

void agent_notef(struct agent *a, const char *fmt, ...)
{
    char text[700];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    agent_note(a, "! ", text, n < 0 ? 0 : (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
}

static tm_ms within(tm_ms deadline, int64_t ms)
{
    tm_ms d = tm_deadline_in(ms);
    return d < deadline ? d : deadline;
}

/* The board lost what the host put on it (a virtual camera's flash is a fresh
 * temporary directory) and anything it had half-sent. */
static void forget_board(struct agent *a)
{
    json_object_clear(a->puts);
    a->rxlen = 0;
    a->fresh = 1;
}

/* Rung results: 0 the agent is back, 1 skipped (nothing to try here), -1 failed. */
static int bootstrap_rung(struct agent *a, const char *rung, tm_ms deadline, struct tm_err *err)
{
    if (agent_bootstrap(a, within(deadline, RUNG_MS), err) == 0) {
        agent_notef(a, "recovery: %s: the agent is back", rung);
        return 0;
    }
    agent_notef(a, "recovery: %s: %s", rung, err->msg);
    return -1;
}

static int rung_soft(struct agent *a, tm_ms deadline, struct tm_err *err)
{
    agent_notef(a, "recovery: soft reset (Ctrl-D in the raw REPL)");
    a->soft_reset = 1;
    int r = bootstrap_rung(a, "soft reset", deadline, err);
    a->soft_reset = 0;
    return r;
}

static int rung_lines(struct agent *a, tm_ms deadline, struct tm_err *err)
{
    if (!link_reset_wired(a->link)) {
        agent_notef(a, "recovery: DTR/RTS reset: skipped, not wired on this %s",
                    link_kind(a->link) == LINK_TCP ? "link" : "board");
        return 1;
    }
    agent_notef(a, "recovery: %s", link_kind(a->link) == LINK_EXEC ? "restarting the program"
                                                                    : "DTR/RTS reset");
    struct tm_err rerr = { 0 };
    if (link_reset(a->link, &rerr) != 0) {   /* nothing was reset: on to the next rung */
        agent_notef(a, "recovery: link reset: skipped, %s", rerr.msg);
        return 1;
    }
    forget_board(a);
    return bootstrap_rung(a, "link reset", deadline, err);
}

static int rung_power(struct agent *a, tm_ms deadline, struct tm_err *err)
{
    struct tm_err rerr = { 0 };
    int r = link_hard_reset(a->link, within(deadline, RESET_CMD_MS), &rerr);
    if (r == 0)
        agent_notef(a, "recovery: reset command ran");
    else if (r < 0)   /* the board may still come back by itself: wait all the same */
        agent_notef(a, "recovery: %s", rerr.msg);
    const struct link_move *moves;
    size_t before = link_moves(a->link, &moves);
    agent_notef(a, "recovery: reopening the link (a USB board is waited for until it "
                "re-enumerates)");
    if (link_reopen(a->link, within(deadline, REENUMERATE_MS), err) != 0) {
        agent_notef(a, "recovery: %s", err->msg);
        return -1;
    }
    size_t after = link_moves(a->link, &moves);
    if (after > before && after <= LINK_MAX_MOVES)
        agent_notef(a, "recovery: the board re-enumerated as %s (was %s) after %lld ms",
                    moves[after - 1].to, moves[after - 1].from,
                    (long long)moves[after - 1].waited_ms);
    forget_board(a);
    return bootstrap_rung(a, "reopen", deadline, err);
}

int agent_recover(struct agent *a, tm_ms deadline, int silent, struct tm_err *err)
{
    static const struct {
        int (*run)(struct agent *a, tm_ms deadline, struct tm_err *err);
        int needs_answer;   /* pointless on a device that stopped answering */
    } ladder[] = { { rung_soft, 1 }, { rung_lines, 0 }, { rung_power, 0 } };
    int tried = 0;
    a->recoveries++;
    agent_notef(a, "recovering the device%s", silent ? " (it stopped answering)" : "");
    for (size_t i = 0; i < sizeof ladder / sizeof ladder[0]; i++) {
        if (tm_expired(deadline) || tried >= a->opts.max_bootstraps)
            break;
        if (silent && ladder[i].needs_answer)
            continue;
        /* Who holds the board, asked before the rung resets it: a session that
         * took it over must not lose its run to our recovery. */
        int r = agent_lock_peek(a, deadline, err);
        if (r == 0) {
            a->recovering = 1;
            r = ladder[i].run(a, deadline, err);
            a->recovering = 0;
        }
        if (r == 0)
            return 0;
        tried += r < 0;
        if (r < 0 && tm_err_code(err) == TM_E_HELD)
            break;   /* another session has the board: resetting it would break that run */
    }
    a->lost = 1;
    return tm_err_prefix(err, "device lost for good (%d recovery steps tried)", tried);
}
