/* The bench table and bench.json: per-case times side by side, the tlsmatrix runs,
 * the ratios (each from this one run) and the targets as met / not met. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_run.h"
#include "tm_time.h"

static const char *const CASES[] = { "happy", "untrusted" };
static const char *const KTS[] = { "p256", "p384", "rsa2048" };
static const char *const PROTOS[] = { "tls", "dtls" };

static const char *str_of(const json_t *v)
{
    const char *s = json_string_value(v);
    return s != NULL ? s : "";
}

/* Mean of field "ms"/"ms_per_handshake" over lines matching case/kt/proto/nodelay;
 * nodelay -1 matches any. Returns -1 when nothing matched. */
static double line_mean(const json_t *lines, const char *ms_key, const char *cs, const char *kt,
                        const char *proto, int nodelay)
{
    double sum = 0;
    int n = 0;
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l) {
        const json_t *nd = json_object_get(l, "nodelay");
        int lnd = json_is_null(nd) || nd == NULL ? -1 : json_is_true(nd);
        if (strcmp(str_of(json_object_get(l, "case")), cs) != 0 ||
            strcmp(str_of(json_object_get(l, "keytype")), kt) != 0 ||
            strcmp(str_of(json_object_get(l, "proto")), proto) != 0 ||
            (nodelay >= 0 && lnd >= 0 && lnd != nodelay))
            continue;
        sum += json_number_value(json_object_get(l, ms_key));
        n++;
    }
    return n > 0 ? sum / n : -1;
}

static const json_t *run_named(const json_t *results, const char *label)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(results, "tlsmatrix"), i, r)
        if (strcmp(str_of(json_object_get(r, "label")), label) == 0)
            return r;
    return NULL;
}

static double num(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : -1;
}

static void print_ms(double v)
{
    if (v < 0)
        printf(" %9s", "-");
    else
        printf(" %9.1f", v);
}

/* Per-case rows; returns the per-case table as JSON and fills the column means. */
static json_t *case_table(const json_t *results, const json_t *tm, double mean[5])
{
    const json_t *bare = json_object_get(results, "bare"), *shell = json_object_get(results, "shell");
    const json_t *per = json_object_get(tm, "per_case_ms");
    json_t *rows = json_array();
    int count[5] = { 0 };
    printf("\n%-24s %9s %9s %9s %9s %9s\n", "case (ms per case)", "bare", "bare-nd0", "tlsmatrix",
           "shell", "shell-nd0");
    for (int c = 0; c < 2; c++)
        for (int k = 0; k < 3; k++)
            for (int p = 0; p < 2; p++) {
                char id[128], tm_id[160];
                snprintf(id, sizeof id, "%s/%s/%s", CASES[c], KTS[k], PROTOS[p]);
                snprintf(tm_id, sizeof tm_id, "bench-%s/openssl/%s/%s", CASES[c], KTS[k], PROTOS[p]);
                double v[5] = {
                    line_mean(bare, "ms_per_handshake", CASES[c], KTS[k], PROTOS[p], 1),
                    line_mean(bare, "ms_per_handshake", CASES[c], KTS[k], PROTOS[p], 0),
                    num(per, tm_id),
                    line_mean(shell, "ms", CASES[c], KTS[k], PROTOS[p], 1),
                    line_mean(shell, "ms", CASES[c], KTS[k], PROTOS[p], 0) };
                printf("%-24s", id);
                for (int i = 0; i < 5; i++) {
                    print_ms(v[i]);
                    if (v[i] >= 0) {
                        mean[i] += v[i];
                        count[i]++;
                    }
                }
                putchar('\n');
                json_array_append_new(rows, json_pack("{s:s,s:f,s:f,s:f,s:f,s:f}", "case", id,
                                      "bare_ms", v[0], "bare_no_nodelay_ms", v[1],
                                      "tlsmatrix_ms", v[2], "shell_ms", v[3],
                                      "shell_no_nodelay_ms", v[4]));
            }
    printf("%-24s", "mean");
    for (int i = 0; i < 5; i++) {
        mean[i] = count[i] > 0 ? mean[i] / count[i] : -1;
        print_ms(mean[i]);
    }
    printf("\n  bare: in-process devtls client + OpenSSL server thread; tlsmatrix: run.json"
           " timings_ms.total, large 1-device run;\n  shell: ssl-opt.sh-style loop;"
           " -nd0 columns: TLS without TCP_NODELAY (DTLS rows repeat the same mode).\n");
    return rows;
}

static void print_runs(const json_t *results)
{
    printf("\n%-12s %5s %4s %9s %9s %9s %9s %9s  %s\n", "tlsmatrix", "cases", "dev", "wall s",
           "ms/case", "run.json", "RSS MB", "+kids MB", "stage means ms (biggest first)");
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(results, "tlsmatrix"), i, r) {
        printf("%-12s %5d %4d %9.2f %9.2f %9.2f %9.1f %9.1f  ",
               json_string_value(json_object_get(r, "label")),
               (int)num(r, "cases"), (int)num(r, "devices"), num(r, "wall_ms") / 1000,
               num(r, "ms_per_case_wall"), num(r, "ms_per_case_mean"),
               num(r, "peak_rss_kb") / 1024, num(r, "ru_maxrss_kb") / 1024);
        const json_t *m = json_object_get(r, "stage_ms_mean");
        /* Biggest stage first, so the one to work on is the first word. */
        int printed[16] = { 0 };
        size_t n = json_object_size(m) < 16 ? json_object_size(m) : 16;
        for (size_t k = 0; k < n; k++) {
            const char *best = NULL, *key;
            double bv = -1;
            size_t idx = 0, bidx = 0;
            json_t *v;
            json_object_foreach((json_t *)m, key, v) {
                if (!printed[idx] && strcmp(key, "total") != 0 && json_number_value(v) > bv) {
                    best = key;
                    bv = json_number_value(v);
                    bidx = idx;
                }
                idx++;
            }
            if (best == NULL)
                break;
            printed[bidx] = 1;
            printf("%s=%.1f ", best, bv);
        }
        putchar('\n');
    }
}

static json_t *target(const char *name, const char *want, double value, int met)
{
    printf("  %-44s %-10s %10.2f  %s\n", name, want, value,
           value < 0 ? "not measured" : met ? "met" : "not met");
    return json_pack("{s:s,s:s,s:f,s:s}", "target", name, "want", want, "value", value, "status",
                     value < 0 ? "not measured" : met ? "met" : "not met");
}

/* Boards behind 115200-baud UARTs: eight against one, the harness's own CPU per
 * case, and the catalog's share of wall time on the link. The wire time is the
 * UART's occupancy (bytes x 10 bit times); the measured wait is only the part
 * the harness saw (a request the OS buffered shows as device time). */
static void uart_targets(const json_t *results, json_t *t)
{
    const json_t *one = run_named(results, "uart-1dev"), *eight = run_named(results, "uart-8dev");
    const json_t *cat = run_named(results, "catalog-uart");
    double r8 = num(one, "ms_per_case_wall") > 0 && num(eight, "ms_per_case_wall") > 0
                    ? num(one, "ms_per_case_wall") / num(eight, "ms_per_case_wall") : -1;
    double c1 = num(one, "cpu_ms_per_case"), c8 = num(eight, "cpu_ms_per_case");
    double cpu = c1 > 0 && c8 > 0 ? c8 / c1 : -1;
    /* The virtual boards' mbedTLS runs on this host, which a real rack's boards do
     * not: the host's cores bound the 8/1 ratio at cores x one board's wall time per
     * case / (everything's CPU per case with eight). Below 8, the rack is CPU-bound
     * here and the ratio says how close the harness gets to that bound. */
    double all8 = num(eight, "cpu_all_ms_per_case"), cores = (double)sysconf(_SC_NPROCESSORS_ONLN);
    double bound = all8 > 0 && r8 > 0 ? cores * num(one, "ms_per_case_wall") / all8 : -1;
    if (bound > 8)
        bound = 8;
    printf("  %d baud: 8-device/1-device throughput %.2f (this host's %.0f cores allow %.2f:"
           " %.1f ms CPU per case in cameras, peers and harness); harness CPU per case %.2f ->"
           " %.2f ms (x%.2f)\n", UART_BAUD, r8, cores, bound, all8, c1, c8, cpu);
    json_t *rack = target("8 UART cameras: throughput 8/1", ">= 7", r8, r8 >= 7);
    json_object_set_new(rack, "bound_by_host_cpu", json_real(bound));
    json_array_append_new(t, rack);
    json_array_append_new(t, target("harness CPU per case 1 -> 8 UART cameras (x)",
                                    "0.9..1.1", cpu, cpu >= 0.9 && cpu <= 1.1));
    if (cat == NULL)
        return;
    const json_t *link = json_object_get(cat, "link");
    double wall = num(cat, "wall_ms") * num(cat, "devices");
    double bytes = num(link, "sent") + num(link, "received");
    double wire = wall > 0 && bytes >= 0 ? bytes * 10 * 1000 / UART_BAUD / wall * 100 : -1;
    double wait = wall > 0 ? num(link, "wait_ms") / wall * 100 : -1;
    printf("  catalog at %d baud, %d cameras: wire time %.1f %% of device wall time (measured"
           " wait %.1f %%), median %.0f B per case\n", UART_BAUD, (int)num(cat, "devices"), wire,
           wait, num(link, "median_bytes_per_case"));
    json_array_append_new(t, target("catalog at 115200 baud: link % of wall", "<= 25", wire,
                                    wire >= 0 && wire <= 25));
}

static json_t *ratios_and_targets(const json_t *results, const double mean[5])
{
    const json_t *small = run_named(results, "small-1dev"), *large = run_named(results, "large-1dev");
    const json_t *two = run_named(results, "large-2dev");
    double tm_case = num(large, "ms_per_case_wall");
    double r_bare = mean[0] > 0 && tm_case > 0 ? tm_case / mean[0] : -1;
    double r_shell = mean[3] > 0 && tm_case > 0 ? mean[3] / tm_case : -1;
    double r_two = num(two, "wall_ms") > 0 ? num(large, "wall_ms") / num(two, "wall_ms") : -1;
    double rss_mb = num(large, "peak_rss_kb") / 1024;
    double growth = num(small, "ms_per_case_mean") > 0
                        ? num(large, "ms_per_case_mean") / num(small, "ms_per_case_mean") : -1;
    double drift = num(large, "first_tenth_ms") > 0
                       ? num(large, "last_tenth_ms") / num(large, "first_tenth_ms") : -1;
    double rss_growth_kb = num(large, "cases") > num(small, "cases")
        ? (num(large, "peak_rss_kb") - num(small, "peak_rss_kb")) /
              (num(large, "cases") - num(small, "cases")) : -1;
    printf("\nratios (this run; tlsmatrix = large 1-device run, wall time per case):\n");
    printf("  tlsmatrix/bare %.2f   shell-loop/tlsmatrix %.2f   2-device/1-device throughput %.2f\n",
           r_bare, r_shell, r_two);
    printf("  per-case time %d->%d cases x%.2f, last/first tenth x%.2f; RSS %.1f->%.1f MB"
           " (%.2f KB per extra case)\n", (int)num(small, "cases"), (int)num(large, "cases"),
           growth, drift, num(small, "peak_rss_kb") / 1024, rss_mb, rss_growth_kb);
    printf("\ntargets (reported, never enforced):\n");
    json_t *t = json_array();
    json_array_append_new(t, target("harness overhead: tlsmatrix/bare", "<= 2.0", r_bare,
                                    r_bare <= 2.0));
    json_array_append_new(t, target("rate vs shell loop: shell/tlsmatrix", ">= 5", r_shell,
                                    r_shell >= 5));
    json_array_append_new(t, target("two devices: throughput 2/1", ">= 1.7", r_two, r_two >= 1.7));
    json_array_append_new(t, target("peak harness RSS at ~1,000 cases (MB)", "<= 20", rss_mb,
                                    rss_mb > 0 && rss_mb <= 20));
    double worst = growth > drift ? growth : drift;
    json_array_append_new(t, target("flat per-case time (worst growth x)", "<= 1.25", worst,
                                    worst > 0 && worst <= 1.25));
    const json_t *cat = run_named(results, "catalog-2dev");
    if (cat != NULL) {
        double s = num(cat, "wall_ms") / 1000;
        json_array_append_new(t, target("default catalog run, 2 virtual cameras (s)", "< 60", s,
                                        s > 0 && s < 60));
        const json_t *link = json_object_get(cat, "link");
        double b = link != NULL ? num(link, "median_bytes_per_case") : -1;
        json_array_append_new(t, target("catalog: median link bytes per case", "<= 256", b,
                                        b >= 0 && b <= 256));
    }
    uart_targets(results, t);
    return json_pack("{s:{s:f,s:f,s:f,s:f,s:f,s:f},s:o}", "ratios", "tlsmatrix_over_bare", r_bare,
                     "shell_over_tlsmatrix", r_shell, "two_over_one_device", r_two,
                     "time_growth_small_to_large", growth, "time_drift_last_over_first_tenth",
                     drift, "rss_kb_per_extra_case", rss_growth_kb, "targets", t);
}

static json_t *run_header(const json_t *results)
{
    char when[32], host[256] = "?", load[64] = "?";
    tm_format_utc(tm_wall_s(), when, sizeof when);
    gethostname(host, sizeof host - 1);
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fgets(load, sizeof load, f) == NULL)
            strcpy(load, "?");
        load[strcspn(load, "\n")] = '\0';
        fclose(f);
    }
    const json_t *large = run_named(results, "large-1dev");
    const json_t *nd = json_object_get(large, "tcp_nodelay");
    const char *tm_nd = nd == NULL ? "unknown" : json_is_true(nd) ? "true" : "false";
    printf("tlsmatrix bench  %s  host %s  cores %ld  loadavg %s\n", when, host,
           sysconf(_SC_NPROCESSORS_ONLN), load);
    printf("TCP_NODELAY: bare = both ends (and a without-NODELAY column); shell = device client"
           " only (openssl s_server has no option; a without column too);\n"
           "             tlsmatrix = run header tcp_nodelay %s (both ends). Mixed columns are"
           " labelled; ratios use the NODELAY ones.\n", tm_nd);
    return json_pack("{s:s,s:s,s:I,s:s,s:{s:s,s:s,s:s}}", "date", when, "host", host, "cores",
                     (json_int_t)sysconf(_SC_NPROCESSORS_ONLN), "loadavg", load, "tcp_nodelay",
                     "bare", "both ends; rows with nodelay:false are without",
                     "shell", "device client only (openssl s_server has no TCP_NODELAY option)",
                     "tlsmatrix", tm_nd);
}

int bench_report(const struct bench_opt *o, json_t *results)
{
    printf("\n");
    json_t *header = run_header(results);
    double mean[5] = { 0 };
    json_t *rows = case_table(results, run_named(results, "large-1dev"), mean);
    print_runs(results);
    json_t *rt = ratios_and_targets(results, mean);
    json_object_set_new(results, "format", json_string("tlsmatrix-bench/1"));
    json_object_set_new(results, "header", header);
    json_object_set_new(results, "per_case", rows);
    json_object_set_new(results, "means_ms", json_pack("{s:f,s:f,s:f,s:f,s:f}", "bare", mean[0],
                        "bare_no_nodelay", mean[1], "tlsmatrix", mean[2], "shell", mean[3],
                        "shell_no_nodelay", mean[4]));
    json_object_update(results, rt);
    json_decref(rt);
    if (json_dump_file(results, o->out_json, JSON_INDENT(1) | JSON_SORT_KEYS) != 0) {
        fprintf(stderr, "bench_run: cannot write %s\n", o->out_json);
        return -1;
    }
    printf("\nresults: %s\n", o->out_json);
    return 0;
}
