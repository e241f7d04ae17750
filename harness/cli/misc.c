/* list, ports, info, diff, merge. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "cli.h"
#include "tm_verdict.h"
#include "link/link.h"
#include "profile/profile.h"
#include "report.h"
#include "runner/runner.h"

#define MAX_PATHS 64

/* The profile `run` would pick for a board, from the machine its VID:PID names
 * (the hello decides in a run; this is what the lab can expect). */
static const char *board_profile(const struct link_port *p, char *buf, size_t len)
{
    char machine[128];
    if (!p->usb || link_board_machine(p->vid, p->pid, machine, sizeof machine) == NULL)
        return "-";
    struct tm_err err = { 0 };
    json_t *hello = json_pack("{s:{s:s, s:s}}", "impl", "name", "micropython", "machine", machine);
    json_t *prof = profile_for_hello(NULL, hello, &err);
    snprintf(buf, len, "%s", prof ? json_string_value(json_object_get(prof, "name")) ?: "?"
                                  : "none matches (--profile)");
    json_decref(prof);
    json_decref(hello);
    return buf;
}

int cli_ports(int argc, char **argv)
{
    struct tm_err err = { 0 };
    if (argc > 1)
        return cli_usage_error("ports", "unexpected argument '%s'", argv[1]);
    size_t n = 0;
    struct link_port *ports = link_ports_list(&n, &err);
    if (ports == NULL) {
        tm_say("tlsmatrix ports: %s", err.msg);
        return 2;
    }
    printf("%-20s %-9s %-24s %-34s %s\n", "PORT", "VID:PID", "SERIAL", "BOARD", "PROFILE");
    for (size_t i = 0; i < n; i++) {
        const struct link_port *p = &ports[i];
        const char *board = p->usb ? link_board_name(p->vid, p->pid) : NULL;
        char vidpid[16] = "-", name[64], prof[128];
        if (p->usb)
            snprintf(vidpid, sizeof vidpid, "%04x:%04x", p->vid, p->pid);
        snprintf(name, sizeof name, "%s%s", board ? "* " : "", board ? board : p->desc);
        printf("%-20s %-9s %-24s %-34s %s\n", p->path, vidpid, p->serial[0] ? p->serial : "-",
               name, board_profile(p, prof, sizeof prof));
    }
    if (n == 0)
        printf("(no serial ports found)\n");
    free(ports);
    return 0;
}

/* Bootstrap on a device; 0 ok, 2 bad spec, 3 device did not answer. */
static int open_device(const char *cmd, const char *spec, const char *script, int classic,
                       int steal, struct agent **out)
{
    struct tm_err err = { 0 };
    struct agent_opts ao = { .script = script, .force_classic_raw = classic, .max_bootstraps = 2,
                             .steal = steal };
    *out = agent_open(spec, &ao, &err);
    if (*out == NULL) {
        tm_say("tlsmatrix %s: %s", cmd, err.msg);
        return link_error_is_busy(&err) ? 3 : 2;
    }
    if (agent_bootstrap(*out, tm_deadline_in(30000), &err) != 0) {
        tm_say("tlsmatrix %s: %s", cmd, err.msg);
        int lost = agent_is_lost(*out);
        agent_close(*out);
        *out = NULL;
        return lost ? 3 : 2;
    }
    return 0;
}

int cli_info(int argc, char **argv)
{
    static const struct option opts[] = { { "device", required_argument, 0, 'd' },
                                          { "agent", required_argument, 0, 'a' },
                                          { "classic-raw", no_argument, 0, 'c' },
                                          { "steal", no_argument, 0, 's' },
                                          { 0, 0, 0, 0 } };
    const char *device = NULL, *script = NULL;
    int classic = 0, steal = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'd') device = optarg;
        else if (c == 'a') script = optarg;
        else if (c == 'c') classic = 1;
        else if (c == 's') steal = 1;
        else return cli_usage_error("info", "unknown option or missing value: '%s'", argv[optind - 1]);
    }
    if (optind < argc)
        return cli_usage_error("info", "unexpected argument '%s'", argv[optind]);
    if (device == NULL)
        return cli_usage_error("info", "--device LINK is required");
    struct agent *a = NULL;
    int rc = open_device("info", device, script, classic, steal, &a);
    if (rc != 0)
        return rc;
    json_dumpf(agent_hello(a), stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
    printf("\n");
    const char *why = agent_store_note(a);
    tm_say("tlsmatrix info: %s: agent %s, %zu bytes sent by %s%s%s", device, agent_start(a),
           agent_upload_bytes(a), agent_upload_mode(a), why ? "; not kept on the board: " : "",
           why ? why : "");
    agent_close(a);
    return 0;
}

/* One line per case id, with the profile's xfail reason and why it would be
 * skipped (on this device when one is given, else in general). */
static void print_cases(const json_t *cases, const json_t *profile, const json_t *manifest,
                        struct agent *a)
{
    size_t i;
    json_t *e;
    json_t *seen = json_object();
    json_array_foreach(cases, i, e)
        json_object_set_new(seen, json_string_value(json_object_get(e, "scenario")) ?: "?", json_true());
    printf("%zu scenarios, %zu cases\n", json_object_size(seen), json_array_size(cases));
    json_decref(seen);
    json_array_foreach(cases, i, e) {
        char buf[300];
        const char *id = json_string_value(json_object_get(e, "id"));
        const json_t *xf = profile ? profile_xfail_for(profile, id ? id : "") : NULL;
        const char *skip = runner_skip_reason(e, a ? agent_hello(a) : NULL, manifest, buf, sizeof buf);
        printf("%s", id ? id : "?");
        if (xf)
            printf("  [xfail: %s]", json_string_value(json_object_get(xf, "reason")) ?: "");
        if (skip)
            printf("  [%s%s]", a ? "skip: " : "", skip);
        printf("\n");
    }
}

int cli_list(int argc, char **argv)
{
    static const struct option opts[] = {
        { "scenarios", required_argument, 0, 's' }, { "filter", required_argument, 0, 'f' },
        { "shard", required_argument, 0, 'k' },     { "seed", required_argument, 0, 'e' },
        { "profile", required_argument, 0, 'p' },   { "device", required_argument, 0, 'd' },
        { "json", no_argument, 0, 'j' },            { "agent", required_argument, 0, 'a' },
        { "tag", required_argument, 0, 't' },       { "exclude-tag", required_argument, 0, 'x' },
        { "steal", no_argument, 0, 'S' },           { 0, 0, 0, 0 } };
    const char *paths[MAX_PATHS], *device = NULL, *profile_name = NULL, *script = NULL;
    struct runner_opts o;
    struct cli_sel cs;
    int json = 0, steal = 0, c;
    memset(&o, 0, sizeof o);
    o.shard_k = o.shard_n = 1;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        long seed = 0;
        switch (c) {
        case 's':
            if (o.nscenarios >= MAX_PATHS)
                return cli_usage_error("list", "--scenarios: at most %d paths", MAX_PATHS);
            paths[o.nscenarios++] = optarg;
            break;
        case 'f':
        case 't':
        case 'x':
            if (cli_sel_add("list", &cs, &o.sel,
                            c == 'f' ? "--filter" : c == 't' ? "--tag" : "--exclude-tag", optarg))
                return EXIT_USAGE;
            break;
        case 'p': profile_name = optarg; break;
        case 'd': device = optarg; break;
        case 'a': script = optarg; break;
        case 'j': json = 1; break;
        case 'S': steal = 1; break;
        case 'e':
            if (cli_parse_int("list", "--seed", optarg, 0, 0x7fffffffL, &seed) != 0)
                return EXIT_USAGE;
            o.seed = (unsigned long)seed;
            break;
        case 'k':
            if (cli_parse_shard("list", optarg, &o.shard_k, &o.shard_n) != 0)
                return EXIT_USAGE;
            break;
        default:
            return cli_usage_error("list", "unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("list", "unexpected argument '%s'", argv[optind]);
    o.scenarios = paths;
    struct tm_err err = { 0 };
    json_t *errors = NULL;
    json_t *cases = runner_select_cases(&o, &errors, &err);
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e) tm_say("tlsmatrix list: %s", json_string_value(e));
    int rc = json_array_size(errors) > 0 ? 2 : 0;
    json_decref(errors);
    if (cases == NULL) {
        tm_say("tlsmatrix list: %s", err.msg);
        return 2;
    }
    struct agent *a = NULL;
    int devrc = device != NULL ? open_device("list", device, script, 0, steal, &a) : 0;
    if (devrc != 0) {
        json_decref(cases);
        return devrc;
    }
    /* As run picks it: --profile, else the device's hello; without either, the
     * OpenMV profile shows what the catalog expects of the camera it was made for. */
    json_t *profile = profile_name != NULL ? profile_load(profile_name, &err)
                      : a != NULL ? profile_for_hello(NULL, agent_hello(a), &err)
                                  : profile_load("micropython-openmv-default", &err);
    if (profile == NULL) {
        fprintf(stderr, "tlsmatrix list: %s\n", err.msg);
        agent_close(a);
        json_decref(cases);
        return 2;
    }
    if (json) {
        json_dumpf(cases, stdout, JSON_INDENT(2));
        printf("\n");
    } else {
        /* On a device: its clock decides which cases its fixtures can run. */
        json_t *manifest = a != NULL ? runner_fixtures(TM_FIXTURES_DIR, &err) : NULL;
        if (a != NULL && manifest == NULL)
            fprintf(stderr, "tlsmatrix list: %s (clock skips not shown)\n", err.msg);
        print_cases(cases, profile, manifest, a);
        json_decref(manifest);
    }
    agent_close(a);
    json_decref(profile);
    json_decref(cases);
    return rc;
}

/* diff --fidelity: exit 1 when a difference is not explained. */
static int print_fidelity(const json_t *a, const json_t *b, const char *const files[2], int as_json)
{
    json_t *f = report_fidelity(a, b);
    if (f == NULL) {
        fprintf(stderr, "tlsmatrix diff: out of memory\n");
        return 2;
    }
    int unexplained = (int)json_array_size(json_object_get(f, "unexplained"));
    if (as_json) {
        json_dumpf(f, stdout, JSON_INDENT(2));
        printf("\n");
    } else {
        report_print_fidelity(f, files[0], files[1], stdout);
    }
    json_decref(f);
    return unexplained > 0 ? 1 : 0;
}

int cli_diff(int argc, char **argv)
{
    int as_json = 0, fidelity = 0;
    const char *files[2];
    int nf = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            as_json = 1;
        else if (strcmp(argv[i], "--fidelity") == 0)
            fidelity = 1;
        else if (argv[i][0] == '-' && argv[i][1] != '\0')
            return cli_usage_error("diff", "unknown option '%s'", argv[i]);
        else if (nf < 2)
            files[nf++] = argv[i];
        else
            return cli_usage_error("diff", "unexpected argument '%s'", argv[i]);
    }
    if (nf != 2)
        return cli_usage_error("diff", "expected OLD NEW (run.json files or report directories)");
    struct tm_err err = { 0 };
    json_t *old = report_load_run(files[0], &err), *new = old ? report_load_run(files[1], &err) : NULL;
    if (new == NULL) {
        tm_say("tlsmatrix diff: %s", err.msg);
        json_decref(old);
        return 2;
    }
    if (fidelity) {
        int rc = print_fidelity(old, new, files, as_json);
        json_decref(old);
        json_decref(new);
        return rc;
    }
    json_t *d = report_diff(old, new);
    /* A case that vanished is a regression: a job that lost its cases is not green. */
    size_t bad = json_array_size(json_object_get(d, "regressions"))
                 + json_array_size(json_object_get(d, "removed"));
    if (as_json) {
        json_dumpf(d, stdout, JSON_INDENT(2));
        printf("\n");
    } else {
        report_print_diff(d, stdout);
    }
    json_decref(d);
    json_decref(old);
    json_decref(new);
    return bad > 0 ? 1 : 0;
}

/* Merged runs into dir, which merge takes like a run does (report_dir_claim). */
static int write_merged(const json_t *merged, const json_t *base, const char *dir,
                        struct tm_err *err)
{
    struct report_dir *rd = report_dir_claim(dir, err);
    if (rd == NULL)
        return tm_err_prefix(err, "--report");
    int rc = report_write_all(merged, base, dir, err);
    report_dir_release(rd);
    return rc;
}

int cli_merge(int argc, char **argv)
{
    const char *dir = "results/merged", *baseline = NULL;
    json_t *runs[MAX_PATHS];
    size_t n = 0;
    int rc = 2, allow_skips = 0;
    struct tm_err err = { 0 };
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "--report") == 0 || strcmp(argv[i], "--baseline") == 0) && i + 1 < argc) {
            *(strcmp(argv[i], "--report") == 0 ? &dir : &baseline) = argv[i + 1];
            i++;
        } else if (strcmp(argv[i], "--allow-skips") == 0) {
            allow_skips = 1;
        } else if (argv[i][0] == '-') {
            rc = cli_usage_error("merge", "unknown option or missing value '%s'", argv[i]);
            goto out;
        } else if (n >= MAX_PATHS) {
            rc = cli_usage_error("merge", "at most %d runs", MAX_PATHS);
            goto out;
        } else if ((runs[n] = report_load_run(argv[i], &err)) == NULL) {
            tm_say("tlsmatrix merge: %s", err.msg);
            goto out;
        } else {
            n++;
        }
    }
    if (n < 1) {
        rc = cli_usage_error("merge", "expected at least one run (run.json or report directory)");
        goto out;
    }
    json_t *merged = report_merge((const json_t *const *)runs, n, &err);
    json_t *base = merged && baseline ? report_load_run(baseline, &err) : NULL;
    if (merged == NULL || (baseline && base == NULL) || write_merged(merged, base, dir, &err) != 0) {
        tm_say("tlsmatrix merge: %s", err.msg);
    } else {
        rc = runner_exit_for_totals(json_object_get(merged, "totals"), allow_skips);
        size_t ncases = json_array_size(json_object_get(merged, "cases"));
        tm_say("tlsmatrix merge: %zu run%s, %zu case%s → %s", n, n == 1 ? "" : "s", ncases,
               ncases == 1 ? "" : "s", dir);
    }
    json_decref(merged);
    json_decref(base);
out:
    for (size_t i = 0; i < n; i++)
        json_decref(runs[i]);
    return rc;
}
