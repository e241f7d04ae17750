/* tlsmatrix: conformance and interoperability matrix for MicroPython cameras'
 * TLS/DTLS stacks. Subcommand dispatch; each subcommand lives in its own file. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "runner/runner.h"

/* First Ctrl-C (or SIGTERM, or SIGHUP from a closed session): finish the cases in
 * flight and write the reports; a second one (the handler resets itself) ends the
 * program at once, and the children with it (PR_SET_PDEATHSIG). */
static void on_interrupt(int sig)
{
    (void)sig;
    runner_request_stop();
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    char msg[1024];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);   /* quotes the user's arguments: printable */
    va_end(ap);
    tm_say("tlsmatrix%s%s: %s", cmd ? " " : "", cmd ? cmd : "", msg);
    fprintf(stderr, "(see `tlsmatrix %s%s--help`)\n", cmd ? cmd : "", cmd ? " " : "");
    return EXIT_USAGE;
}

int cli_parse_int(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < lo || v > hi)
        return cli_usage_error(cmd, "%s: '%s' is not a number in %ld..%ld", flag, s, lo, hi);
    *out = v;
    return 0;
}

int cli_parse_shard(const char *cmd, const char *s, int *k, int *n)
{
    char tail;
    if (sscanf(s, "%d/%d%c", k, n, &tail) != 2 || *n < 1 || *k < 1 || *k > *n)
        return cli_usage_error(cmd, "--shard: expected K/N with 1 <= K <= N, got '%s'", s);
    return 0;
}

int cli_sel_add(const char *cmd, struct cli_sel *cs, struct runner_sel *sel, const char *flag,
                const char *arg)
{
    const char **v;
    size_t *n;
    if (strcmp(flag, "--filter") == 0) {
        v = cs->filters, n = &sel->nfilters, sel->filters = cs->filters;
    } else if (strcmp(flag, "--tag") == 0) {
        v = cs->tags, n = &sel->ntags, sel->tags = cs->tags;
    } else {
        v = cs->exclude_tags, n = &sel->nexclude_tags, sel->exclude_tags = cs->exclude_tags;
    }
    if (*arg == '\0')
        return cli_usage_error(cmd, "%s: an empty value selects nothing", flag);
    if (*n >= CLI_MAX_SEL)
        return cli_usage_error(cmd, "%s: at most %d values", flag, CLI_MAX_SEL);
    v[(*n)++] = arg;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int full;
        int (*fn)(int, char **);
        int (*fn_full)(int, char **, int, char **);
    } cmds[] = {
        { "run", 1, NULL, cli_run },     { "repro", 1, NULL, cli_repro },
        { "list", 0, cli_list, NULL },   { "ports", 0, cli_ports, NULL },
        { "info", 0, cli_info, NULL },   { "diff", 0, cli_diff, NULL },
        { "merge", 0, cli_merge, NULL },  { "compare", 0, cli_compare, NULL },
        { "limbo", 1, NULL, cli_limbo },
    };
    /* A TCP link or a peer's pipe closing under a write is an error to report,
     * not a reason to die. */
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sa.sa_flags = SA_RESETHAND | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0
        || strcmp(argv[1], "help") == 0) {
        if (argc >= 3 && strcmp(argv[1], "help") == 0 && cli_help(argv[2], stdout) == 0)
            return 0;
        cli_help(NULL, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("tlsmatrix %s\n", TM_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(argv[1], cmds[i].name) != 0)
            continue;
        for (int k = 2; k < argc; k++) {
            if (strcmp(argv[k], "--") == 0)
                break;
            if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) {
                cli_help(cmds[i].name, stdout);
                return 0;
            }
        }
        return cmds[i].full ? cmds[i].fn_full(argc - 1, argv + 1, argc, argv)
                            : cmds[i].fn(argc - 1, argv + 1);
    }
    return cli_usage_error(NULL, "unknown command '%s' (run, list, ports, info, diff, merge, "
                           "compare, repro, limbo)",
                           argv[1]);
}
