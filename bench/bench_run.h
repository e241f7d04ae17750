/* The `make bench` driver (bench_run): runs the bare handshake loop, the shell-loop
 * baseline and tlsmatrix on the same cases in one run, then prints a table and
 * writes bench.json (bench/README.md). Internal to bench/. */
#ifndef BENCH_RUN_H
#define BENCH_RUN_H

#include <jansson.h>

/* The rack and UART catalog runs: virtual cameras behind a USB-UART bridge. */
#define UART_BAUD 115200
#define UART_BAUD_TEXT "115200"

struct bench_opt {
    const char *bin_dir;      /* BUILD/bin: bench_bare, bench_client, tlsmatrix */
    const char *fixtures;     /* BUILD/fixtures/certs */
    const char *source_dir;   /* bench/scenarios and bench/shell_loop.sh live here */
    const char *work_dir;     /* BUILD/bench: generated scenarios, run reports */
    const char *out_json;     /* BUILD/bench/bench.json */
    int bare_n;               /* handshakes per bare configuration */
    int shell_rounds;         /* rounds of the 12 cases in the shell loop */
    int small_cases;          /* the growth run's small end (~100) */
    int large_cases;          /* the 1,000-case run */
    int quick;                /* smoke-test sizes; skips the catalog run */
};

/* A finished child program: its JSON stdout lines and what it cost. */
struct bench_child {
    json_t *lines;            /* array of the JSON objects it printed, one per line */
    char *text;               /* all of stdout (NULL when empty), capped at 16 MB */
    size_t text_len;
    int exit_code;            /* 0-255, 128+signal, -1 when it had to be stopped */
    double wall_ms;
    long peak_rss_kb;         /* the child's own VmHWM, last sampled value */
    long ru_maxrss_kb;        /* wait4: max over the child and its reaped children */
    double cpu_ms;            /* the child's own CPU time (not its children's), last
                                 sampled value; -1 unknown */
    double cpu_all_ms;        /* wait4: user + system CPU of the child and every
                                 descendant it reaped (cameras, peers); -1 unknown */
};

/* Run argv with stdout captured (JSON lines kept, other lines dropped), stderr
 * appended to stderr_path, sampling the child's peak RSS every 10 ms. Stops it at
 * the deadline. 0 when it ran (whatever its exit code), -1 when it could not start. */
int bench_child_run(char *const argv[], const char *stderr_path, int timeout_ms,
                    struct bench_child *out);
void bench_child_free(struct bench_child *c);

/* Number of cases the scenarios at `scenarios` expand into (tlsmatrix list), or -1. */
int bench_count_cases(const struct bench_opt *o, const char *scenarios);

/* Write `copies` copies of every scenario file in scen_dir into dir (emptied
 * first), each copy renamed cNNNN-NAME; returns the files written or -1. */
int bench_gen_scenarios(const char *scen_dir, const char *dir, int copies);

/* Run tlsmatrix on `scenarios` with `devices` devices, each on link spec (NULL:
 * "virtual"), reports in report_dir; returns a summary object (never NULL; "error"
 * set on failure):
 * {"label","devices","cases","exit","wall_ms","ms_per_case_wall","ms_per_case_mean",
 *  "stage_ms_mean":{…},"stage_ms_sum":{…},"per_case":{"bench-happy/openssl/p256/tls":ms},
 *  "first_tenth_ms","last_tenth_ms","peak_rss_kb","ru_maxrss_kb","tcp_nodelay",
 *  "cpu_ms","cpu_ms_per_case" (the harness process alone, not its cameras and peers),
 *  "cpu_all_ms","cpu_all_ms_per_case" (the harness with its cameras and peers),
 *  "link":{"median_bytes_per_case","sent","received","wait_ms","cases_with_traffic"},
 *  "verdicts":{…}} */
json_t *bench_tlsmatrix(const struct bench_opt *o, const char *label, const char *scenarios,
                        int devices, const char *spec, const char *report_dir);

/* Print the table and write bench.json from the collected results. */
int bench_report(const struct bench_opt *o, json_t *results);

#endif
