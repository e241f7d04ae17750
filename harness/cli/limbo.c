/* `tlsmatrix limbo`: x509-limbo test cases as real handshakes with the device as
 * the validating client (harness/limbo), through the runner like any case. */
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "limbo/limbo.h"
#include "report.h"
#include "runner/runner.h"
#include "tm_fs.h"
#include "tm_time.h"

#define MAX_DEVICES 64

enum { L_DEVICE = 256, L_REPORT, L_RESULTS, L_FILTER, L_BACKEND, L_BASELINE, L_JOBS, L_PROFILE,
       L_CASE_TIMEOUT, L_PEER_HOST, L_QUIET };

static const struct option limbo_opts_table[] = {
    { "device", required_argument, 0, L_DEVICE },     { "report", required_argument, 0, L_REPORT },
    { "results", required_argument, 0, L_RESULTS },   { "filter", required_argument, 0, L_FILTER },
    { "backend", required_argument, 0, L_BACKEND },   { "baseline", required_argument, 0, L_BASELINE },
    { "jobs", required_argument, 0, L_JOBS },         { "profile", required_argument, 0, L_PROFILE },
    { "case-timeout", required_argument, 0, L_CASE_TIMEOUT },
    { "peer-host", required_argument, 0, L_PEER_HOST }, { "quiet", no_argument, 0, L_QUIET },
    { 0, 0, 0, 0 },
};

struct limbo_cli {
    struct runner_opts o;
    const char *devices[MAX_DEVICES];
    const char *input, *results, *baseline_path;
    struct limbo_opts lo;
    json_t *limbo, *baseline, *cases, *notes;
    char workdir[PATH_MAX];
};

static int opt(struct limbo_cli *s, int c, const char *arg)
{
    long v;
    switch (c) {
    case L_DEVICE:
        if (s->o.ndevices >= MAX_DEVICES)
            return cli_usage_error("limbo", "--device: at most %d devices", MAX_DEVICES);
        s->devices[s->o.ndevices++] = arg;
        return 0;
    case L_REPORT: s->o.report_dir = arg; return 0;
    case L_RESULTS: s->results = arg; return 0;
    case L_FILTER: s->lo.filter = arg; return 0;
    case L_BASELINE: s->baseline_path = arg; return 0;
    case L_PROFILE: s->o.profile = arg; return 0;
    case L_PEER_HOST: s->o.peer_host = arg; return 0;
    case L_QUIET: s->o.progress = 0; return 0;
    case L_BACKEND:
        if (strcmp(arg, "gnutls") != 0 && strcmp(arg, "openssl") != 0)
            return cli_usage_error("limbo", "--backend: '%s' is not one of gnutls, openssl", arg);
        s->lo.backend = arg;
        return 0;
    case L_JOBS:
        if (cli_parse_int("limbo", "--jobs", arg, 1, 256, &v))
            return 2;
        s->o.jobs = (int)v;
        return 0;
    case L_CASE_TIMEOUT:
        if (cli_parse_int("limbo", "--case-timeout", arg, 1000, 3600000, &v))
            return 2;
        s->o.case_timeout_ms = (int)v;
        return 0;
    }
    return cli_usage_error("limbo", "unknown option or missing value");
}

static int parse(struct limbo_cli *s, int argc, char **argv)
{
    optind = 1;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, "", limbo_opts_table, NULL);
        if (c == -1)
            break;
        if (c == '?')
            return cli_usage_error("limbo", "unknown option or missing value: '%s'",
                                   argv[optind - 1]);
        if (opt(s, c, optarg) != 0)
            return 2;
    }
    if (argc - optind != 1)
        return cli_usage_error("limbo", "expected one limbo file (or - for stdin), got %d",
                               argc - optind);
    s->input = argv[optind];
    s->o.devices = s->devices;
    return 0;
}

/* 1 when a and b name the same existing file. */
static int same_file(const char *a, const char *b)
{
    char ra[PATH_MAX], rb[PATH_MAX];
    return a != NULL && b != NULL && realpath(a, ra) != NULL && realpath(b, rb) != NULL
           && strcmp(ra, rb) == 0;
}

/* Inputs and the results path, before any device starts: exit 2 on a problem. */
static int check_inputs(struct limbo_cli *s)
{
    struct tm_err err = { 0 };
    if ((s->limbo = limbo_load(s->input, &err)) == NULL)
        return tm_say("tlsmatrix limbo: %s", err.msg), 2;
    if (s->baseline_path != NULL && (s->baseline = limbo_load_results(s->baseline_path, &err)) == NULL)
        return tm_say("tlsmatrix limbo: --baseline %s", err.msg), 2;
    if (s->results != NULL && strcmp(s->results, "-") != 0) {
        /* The results never replace an input: the limbo file or the baseline. */
        if (same_file(s->results, s->input) || same_file(s->results, s->baseline_path))
            return cli_usage_error("limbo", "--results %s is an input of this run", s->results);
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", s->results);
        char *slash = strrchr(dir, '/');
        if (slash != NULL)
            *slash = '\0';
        if (access(slash ? (dir[0] ? dir : "/") : ".", W_OK) != 0)
            return cli_usage_error("limbo", "--results %s: its directory is not writable",
                                   s->results);
    }
    return 0;
}

static int make_cases(struct limbo_cli *s)
{
    struct tm_err err = { 0 };
    if (tm_mkdtemp(s->workdir, sizeof s->workdir, "tlsmatrix-limbo-", &err) != 0) {
        tm_say("tlsmatrix limbo: %s", err.msg);
        return 2;
    }
    s->lo.file = strcmp(s->input, "-") == 0 ? NULL : s->input;
    s->lo.workdir = s->workdir;
    s->o.scratch_dir = s->workdir;
    s->lo.now = tm_wall_s();
    s->notes = json_object();
    s->cases = limbo_cases(s->limbo, &s->lo, s->notes, &err);
    if (s->cases == NULL)
        return tm_say("tlsmatrix limbo: %s", err.msg), 2;
    if (json_array_size(s->cases) == 0)
        return cli_usage_error("limbo", "%s selects no test case", s->lo.filter ? "--filter"
                               : "the file holds no test case, so nothing");
    return 0;
}

/* "tlsmatrix/<firmware>" from the first device's hello in the run header. */
static void harness_name(const json_t *run, char *out, size_t len)
{
    const json_t *devs = json_object_get(json_object_get(run, "header"), "devices");
    const json_t *hello = json_object_get(json_array_get(devs, 0), "hello");
    const json_t *impl = json_object_get(hello, "impl"), *u = json_object_get(hello, "uname");
    const char *ver = json_string_value(json_object_get(u, "version"));
    snprintf(out, len, "tlsmatrix/%s %s%s%s", json_string_value(json_object_get(impl, "name")) ?: "device",
             ver ? ver : json_string_value(json_object_get(impl, "version")) ?: "?",
             json_string_value(json_object_get(impl, "machine")) ? " " : "",
             json_string_value(json_object_get(impl, "machine")) ?: "");
}

static int write_results(struct limbo_cli *s, const json_t *results)
{
    struct tm_err err = { 0 };
    char *text = json_dumps(results, JSON_INDENT(2));
    int rc = 0;
    if (text == NULL)
        return tm_say("tlsmatrix limbo: out of memory"), 2;
    if (strcmp(s->results, "-") == 0) {
        rc = fputs(text, stdout) < 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0;
        if (rc)
            tm_say("tlsmatrix limbo: stdout: cannot write the results");
    } else if (tm_write_file(s->results, text, strlen(text), 0644, &err) != 0) {
        tm_say("tlsmatrix limbo: --results %s", err.msg);
        rc = 1;
    }
    free(text);
    return rc ? 2 : 0;
}

/* After the run: its records → limbo results, written and summarised. */
static int report(struct limbo_cli *s, int rc)
{
    struct tm_err err = { 0 };
    json_t *run = report_load_run(s->o.report_dir, &err);
    if (run == NULL) {
        tm_say("tlsmatrix limbo: %s", err.msg);
        return rc ? rc : 2;
    }
    char harness[300];
    harness_name(run, harness, sizeof harness);
    json_t *results = limbo_results(s->cases, run, s->notes, harness);
    int wrc = s->results != NULL ? write_results(s, results) : 0;
    limbo_summary(s->limbo, results, s->baseline, stderr);
    json_decref(results);
    json_decref(run);
    return wrc ? wrc : rc;
}

int cli_limbo(int argc, char **argv, int full_argc, char **full_argv)
{
    struct limbo_cli s;
    memset(&s, 0, sizeof s);
    s.o.progress = 1;
    s.o.retries = -1;
    s.o.min_executed = -1;
    s.o.shard_k = s.o.shard_n = 1;
    s.o.argc = full_argc;
    s.o.argv = full_argv;
    s.o.report_dir = "results/limbo";
    s.o.allow_skips = 1;   /* a device that can run none of them has its results all SKIPPED */
    s.lo.backend = "gnutls";
    int rc = parse(&s, argc, argv);
    if (rc == 0)
        rc = check_inputs(&s);
    if (rc == 0)
        rc = make_cases(&s);
    if (rc == 0) {
        struct tm_err err = { 0 };
        s.o.cases = s.cases;
        rc = runner_run(&s.o, &err);
        if (rc == RUNNER_SETUP)
            tm_say("tlsmatrix limbo: %s", err.msg);
        else
            rc = report(&s, rc);
    }
    if (s.workdir[0]) {
        struct tm_err err = { 0 };
        tm_rmtree(s.workdir, &err);
    }
    json_decref(s.limbo);
    json_decref(s.baseline);
    json_decref(s.cases);
    json_decref(s.notes);
    return rc;
}
