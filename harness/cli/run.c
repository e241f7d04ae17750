/* `tlsmatrix run` and `tlsmatrix repro`: options → struct runner_opts. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "agent/agent.h"
#include "case/case.h"
#include "lab/lab.h"
#include "runner/runner.h"

#define MAX_LIST 64

enum {
    O_DEVICE = 256, O_SCENARIOS, O_FILTER, O_PROFILE, O_BASELINE, O_REPORT, O_FIXTURES, O_JOBS,
    O_SHARD, O_REPEAT, O_UNTIL_FAIL, O_SEED, O_MIN, O_RETRIES, O_CASE_TIMEOUT, O_PEER_HOST,
    O_AGENT, O_STAGES, O_QUIET, O_ALLOW_SKIPS, O_KEEP_SECRETS, O_TAG, O_EXCLUDE_TAG, O_LAB,
    O_PLACE, O_DEVICE_PROTO, O_VERBOSE_DEVICE, O_STEAL, O_LEASE, O_AGENT_UPLOAD, O_VERBOSE,
    /* repro */
    O_CASE, O_CASES, O_COUNT, O_ROLE, O_LAYER, O_VERIFY, O_CA, O_CHAIN, O_HOSTNAME, O_NOHOST,
    O_CLOCK, O_SEND, O_BACKEND, O_PROTO, O_PCERT, O_PKEY, O_PCA, O_PVERIFY, O_PSNI, O_PARG,
    O_XDEV, O_XPEER, O_TARGET, O_CIPHER, O_DEVOPT, O_PROXY, O_PEERKEY, O_HEAP_FREE, O_SAVE,
};

static const struct option run_opts[] = {
    { "device", required_argument, 0, O_DEVICE },     { "scenarios", required_argument, 0, O_SCENARIOS },
    { "filter", required_argument, 0, O_FILTER },     { "profile", required_argument, 0, O_PROFILE },
    { "baseline", required_argument, 0, O_BASELINE }, { "report", required_argument, 0, O_REPORT },
    { "fixtures", required_argument, 0, O_FIXTURES }, { "jobs", required_argument, 0, O_JOBS },
    { "shard", required_argument, 0, O_SHARD },       { "repeat", required_argument, 0, O_REPEAT },
    { "until-fail", no_argument, 0, O_UNTIL_FAIL },   { "seed", required_argument, 0, O_SEED },
    { "min", required_argument, 0, O_MIN },           { "retries", required_argument, 0, O_RETRIES },
    { "case-timeout", required_argument, 0, O_CASE_TIMEOUT },
    { "peer-host", required_argument, 0, O_PEER_HOST }, { "agent", required_argument, 0, O_AGENT },
    { "profile-stages", no_argument, 0, O_STAGES },   { "quiet", no_argument, 0, O_QUIET },
    { "allow-skips", no_argument, 0, O_ALLOW_SKIPS },
    { "keep-secrets", no_argument, 0, O_KEEP_SECRETS },
    { "device-proto", required_argument, 0, O_DEVICE_PROTO },
    { "verbose-device", no_argument, 0, O_VERBOSE_DEVICE },
    { "steal", no_argument, 0, O_STEAL },             { "lease", required_argument, 0, O_LEASE },
    { "agent-upload", required_argument, 0, O_AGENT_UPLOAD }, { "verbose", no_argument, 0, O_VERBOSE },
    { "tag", required_argument, 0, O_TAG },           { "exclude-tag", required_argument, 0, O_EXCLUDE_TAG },
    { "devices", required_argument, 0, O_LAB },       { "place", required_argument, 0, O_PLACE },
    { "case", required_argument, 0, O_CASE },         { "cases", required_argument, 0, O_CASES },
    { "count", required_argument, 0, O_COUNT },       { "role", required_argument, 0, O_ROLE },
    { "layer", required_argument, 0, O_LAYER },       { "verify", required_argument, 0, O_VERIFY },
    { "ca", required_argument, 0, O_CA },             { "chain", required_argument, 0, O_CHAIN },
    { "hostname", required_argument, 0, O_HOSTNAME }, { "no-hostname", no_argument, 0, O_NOHOST },
    { "clock", required_argument, 0, O_CLOCK },       { "send", required_argument, 0, O_SEND },
    { "backend", required_argument, 0, O_BACKEND },   { "proto", required_argument, 0, O_PROTO },
    { "peer-cert", required_argument, 0, O_PCERT },   { "peer-key", required_argument, 0, O_PKEY },
    { "peer-ca", required_argument, 0, O_PCA },       { "peer-verify", required_argument, 0, O_PVERIFY },
    { "peer-servername", required_argument, 0, O_PSNI }, { "peer-arg", required_argument, 0, O_PARG },
    { "expect-device", required_argument, 0, O_XDEV }, { "expect-peer", required_argument, 0, O_XPEER },
    { "heap-free", required_argument, 0, O_HEAP_FREE },
    { "target", required_argument, 0, O_TARGET },     { "cipher", required_argument, 0, O_CIPHER },
    { "device-option", required_argument, 0, O_DEVOPT }, { "proxy", required_argument, 0, O_PROXY },
    { "peer-set", required_argument, 0, O_PEERKEY }, { "save-scenario", required_argument, 0, O_SAVE },
    { 0, 0, 0, 0 },
};

struct cli_state {
    const char *cmd;
    struct runner_opts o;
    const char *devices[MAX_LIST], *scenarios[MAX_LIST];
    struct cli_sel sel;
    const char *lab_file, *places[MAX_LIST], *resets[MAX_LIST];
    size_t nplaces;
    struct lab lab;
    const char *case_id, *cases_file;
    json_t *custom;          /* repro: the case being built from options */
    int custom_used;
    struct field *field;     /* repro: the user's own files, when the case names any */
    const char *save;        /* repro --save-scenario NAME */
};

static int one_of(const char *cmd, const char *flag, const char *v, const char *const *allowed)
{
    for (size_t i = 0; allowed[i]; i++)
        if (strcmp(v, allowed[i]) == 0)
            return 0;
    return cli_usage_error(cmd, "%s: '%s' is not one of the accepted values", flag, v);
}

static json_t *sub(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (v == NULL) {
        v = json_object();
        json_object_set_new(o, k, v);
    }
    return v;
}

static void append(json_t *o, const char *k, json_t *v)
{
    json_t *a = json_object_get(o, k);
    if (!json_is_array(a)) {
        a = json_array();
        json_object_set_new(o, k, a);
    }
    json_array_append_new(a, v);
}

/* --device-option K=V (an agent request field), --proxy K=V (the proxy block),
 * --peer-set K=V (a scenario peer key): V is read as JSON when it parses
 * (numbers, true, lists), else taken as a string; the keys and values are
 * then judged by case_build, as a scenario file's are. */
static int key_value(struct cli_state *s, int c, const char *arg)
{
    const char *flag = c == O_DEVOPT ? "--device-option" : c == O_PROXY ? "--proxy" : "--peer-set";
    const char *eq = strchr(arg, '=');
    if (eq == NULL || eq == arg)
        return cli_usage_error(s->cmd, "%s: expected KEY=VALUE, got '%s'", flag, arg);
    char *key = strndup(arg, (size_t)(eq - arg));
    json_t *v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
    if (v == NULL)
        v = json_string(eq + 1);
    json_t *obj = c == O_DEVOPT ? sub(sub(s->custom, "device"), "options")
                  : c == O_PROXY ? sub(s->custom, "proxy") : sub(s->custom, "peer");
    json_object_set_new(obj, key, v);
    free(key);
    return 0;
}

/* repro options that build a case from scratch. */
static int repro_opt(struct cli_state *s, int c, const char *arg)
{
    static const char *const roles[] = { "client", "server", NULL };
    static const char *const layers[] = { "tls", "ssl", NULL };
    static const char *const verifies[] = { "none", "optional", "required", "default", NULL };
    static const char *const backends[] = { "openssl", "gnutls", NULL };
    static const char *const protos[] = { "tls", "dtls", NULL };
    json_t *dev = sub(s->custom, "device"), *peer = sub(s->custom, "peer");
    json_t *axes = sub(s->custom, "axes"), *exp = sub(s->custom, "expected");
    s->custom_used = 1;
    switch (c) {
    case O_ROLE:
        if (one_of(s->cmd, "--role", arg, roles))
            return 2;
        json_object_set_new(dev, "role", json_string(arg));
        return 0;
    case O_LAYER:
        if (one_of(s->cmd, "--layer", arg, layers))
            return 2;
        json_object_set_new(dev, "layer", json_string(arg));
        return 0;
    case O_VERIFY:
        if (one_of(s->cmd, "--verify", arg, verifies))
            return 2;
        json_object_set_new(dev, "verify", json_string(arg));
        return 0;
    case O_CLOCK:   /* a name or an ISO-8601 time: case_build says which is wrong */
        json_object_set_new(dev, "clock", json_string(arg));
        return 0;
    case O_TARGET:
        json_object_set_new(s->custom, "target", json_string(arg));
        return 0;
    case O_CIPHER:
        append(dev, "ciphers", json_string(arg));
        return 0;
    case O_DEVOPT:
    case O_PROXY:
    case O_PEERKEY:
        return key_value(s, c, arg);
    case O_BACKEND:
        if (one_of(s->cmd, "--backend", arg, backends))
            return 2;
        json_object_set_new(axes, "backend", json_string(arg));
        return 0;
    case O_PROTO:
        if (one_of(s->cmd, "--proto", arg, protos))
            return 2;
        json_object_set_new(axes, "proto", json_string(arg));
        return 0;
    case O_CA:
        append(dev, "ca", json_string(arg));
        return 0;
    case O_CHAIN: {
        const char *comma = strchr(arg, ',');
        if (comma == NULL || comma == arg || comma[1] == '\0')
            return cli_usage_error(s->cmd, "--chain: expected CERT,KEY, got '%s'", arg);
        char *cert = strndup(arg, (size_t)(comma - arg));
        append(dev, "chain", json_pack("{s:s, s:s}", "cert", cert, "key", comma + 1));
        free(cert);
        return 0;
    }
    case O_HOSTNAME:
        json_object_set_new(dev, "server_hostname", json_string(arg));
        return 0;
    case O_NOHOST:
        json_object_set_new(dev, "server_hostname", json_null());
        return 0;
    case O_SEND:
        json_object_set_new(dev, "send", json_string(arg));
        return 0;
    case O_HEAP_FREE: {
        /* Not a number: kept as text, so case_build refuses it with the scenario
         * loader's words. */
        char *end = NULL;
        long long v = strtoll(arg, &end, 10);
        json_object_set_new(dev, "heap_free", end != arg && *end == '\0'
                            ? json_integer(v) : json_string(arg));
        return 0;
    }
    case O_PCERT:
        append(peer, "cert", json_string(arg));
        return 0;
    case O_PKEY:
        json_object_set_new(peer, "key", json_string(arg));
        return 0;
    case O_PCA:
        append(peer, "ca", json_string(arg));
        return 0;
    case O_PVERIFY:
        json_object_set_new(peer, "verify", json_string(arg));
        return 0;
    case O_PSNI:
        json_object_set_new(peer, "servername", json_string(arg));
        return 0;
    case O_PARG:
        append(peer, "args", json_string(arg));
        return 0;
    case O_XDEV:
        append(exp, "device", json_string(arg));
        return 0;
    case O_XPEER:
        append(exp, "peer", json_string(arg));
        return 0;
    }
    return cli_usage_error(s->cmd, "unhandled option");
}

static int common_opt(struct cli_state *s, int c, const char *arg, int repro)
{
    long v;
    struct runner_opts *o = &s->o;
    switch (c) {
    case O_DEVICE:
        if (o->ndevices >= MAX_LIST)
            return cli_usage_error(s->cmd, "--device: at most %d devices", MAX_LIST);
        s->devices[o->ndevices++] = arg;
        return 0;
    case O_SCENARIOS:
        if (o->nscenarios >= MAX_LIST)
            return cli_usage_error(s->cmd, "--scenarios: at most %d paths", MAX_LIST);
        s->scenarios[o->nscenarios++] = arg;
        return 0;
    case O_FILTER: return cli_sel_add(s->cmd, &s->sel, &o->sel, "--filter", arg);
    case O_TAG: return cli_sel_add(s->cmd, &s->sel, &o->sel, "--tag", arg);
    case O_EXCLUDE_TAG: return cli_sel_add(s->cmd, &s->sel, &o->sel, "--exclude-tag", arg);
    case O_PROFILE: o->profile = arg; return 0;
    case O_LAB: s->lab_file = arg; return 0;
    case O_PLACE:
        if (s->nplaces >= MAX_LIST)
            return cli_usage_error(s->cmd, "--place: at most %d boards", MAX_LIST);
        s->places[s->nplaces++] = arg;
        return 0;
    case O_BASELINE: o->baseline = arg; return 0;
    case O_REPORT: o->report_dir = arg; return 0;
    case O_FIXTURES: o->fixtures_dir = arg; return 0;
    case O_PEER_HOST: o->peer_host = arg; return 0;
    case O_AGENT: o->agent_script = arg; return 0;
    case O_STAGES: o->profile_stages = 1; return 0;
    case O_QUIET: o->progress = 0; return 0;
    case O_KEEP_SECRETS: o->keep_secrets = 1; return 0;
    case O_VERBOSE_DEVICE: o->verbose_device = 1; return 0;
    case O_DEVICE_PROTO:
        if (cli_parse_int(s->cmd, "--device-proto", arg, 1, 2, &v)) return 2;
        o->device_proto = (int)v;
        return 0;
    case O_STEAL: o->steal = 1; return 0;
    case O_VERBOSE: o->verbose = 1; return 0;
    case O_AGENT_UPLOAD: {
        static const char *const ways[] = { "auto", "always", NULL };
        if (one_of(s->cmd, "--agent-upload", arg, ways))
            return 2;
        o->agent_upload = strcmp(arg, "always") == 0 ? AGENT_UPLOAD_ALWAYS : AGENT_UPLOAD_AUTO;
        return 0;
    }
    case O_LEASE:
        if (cli_parse_int(s->cmd, "--lease", arg, 1, 86400, &v)) return 2;
        o->lease_ms = v * 1000;
        return 0;
    case O_UNTIL_FAIL: o->until_fail = 1; return 0;
    case O_ALLOW_SKIPS: o->allow_skips = 1; return 0;
    case O_JOBS:
        if (cli_parse_int(s->cmd, "--jobs", arg, 1, 256, &v)) return 2;
        o->jobs = (int)v;
        return 0;
    case O_REPEAT:
    case O_COUNT:
        if (cli_parse_int(s->cmd, c == O_REPEAT ? "--repeat" : "--count", arg, 1, 1000000, &v)) return 2;
        o->repeat = (int)v;
        return 0;
    case O_SEED:
        if (cli_parse_int(s->cmd, "--seed", arg, 0, 0x7fffffffL, &v)) return 2;
        o->seed = (unsigned long)v;
        return 0;
    case O_MIN:
        if (cli_parse_int(s->cmd, "--min", arg, 0, 10000000, &v)) return 2;
        o->min_executed = (int)v;
        return 0;
    case O_RETRIES:
        if (cli_parse_int(s->cmd, "--retries", arg, 0, 10, &v)) return 2;
        o->retries = (int)v;
        return 0;
    case O_CASE_TIMEOUT:
        if (cli_parse_int(s->cmd, "--case-timeout", arg, 1000, 3600000, &v)) return 2;
        o->case_timeout_ms = (int)v;
        return 0;
    case O_SHARD:
        return cli_parse_shard(s->cmd, arg, &o->shard_k, &o->shard_n);
    case O_CASE:
        if (!repro) break;
        s->case_id = arg;
        return 0;
    case O_CASES:
        if (!repro) break;
        s->cases_file = arg;
        return 0;
    case O_SAVE:
        if (!repro) break;
        s->save = arg;
        return 0;
    default:
        if (repro && c >= O_ROLE && c < O_SAVE)
            return repro_opt(s, c, arg);
        break;
    }
    return cli_usage_error(s->cmd, "option not accepted by %s", s->cmd);
}

/* --devices FILE --place NAME…: each board's link joins the devices, with its
 * reset command; its profile is the run's unless --profile names one. */
static int add_places(struct cli_state *s)
{
    struct tm_err err = { 0 };
    struct runner_opts *o = &s->o;
    if (s->lab_file == NULL)
        return s->nplaces ? cli_usage_error(s->cmd, "--place needs --devices FILE (a lab file)") : 0;
    if (s->nplaces == 0)
        return cli_usage_error(s->cmd, "--devices %s: name the boards to use with --place NAME",
                               s->lab_file);
    if (lab_load(s->lab_file, &s->lab, &err) != 0)
        return cli_usage_error(s->cmd, "--devices: %s", err.msg);
    const char *profile = NULL, *profile_of = NULL;
    for (size_t i = 0; i < s->nplaces; i++) {
        const struct lab_board *b = lab_find(&s->lab, s->places[i], &err);
        if (b == NULL)
            return cli_usage_error(s->cmd, "%s", err.msg);
        if (o->ndevices >= MAX_LIST)
            return cli_usage_error(s->cmd, "--place: at most %d devices", MAX_LIST);
        s->resets[o->ndevices] = b->reset;
        s->devices[o->ndevices++] = b->link;
        if (b->profile != NULL && profile != NULL && strcmp(b->profile, profile) != 0
            && o->profile == NULL)
            return cli_usage_error(s->cmd, "--place %s has profile %s, --place %s %s: a run "
                                   "judges by one profile (run them apart or give --profile)",
                                   profile_of, profile, b->name, b->profile);
        if (b->profile != NULL && profile == NULL) {
            profile = b->profile;
            profile_of = b->name;
        }
    }
    if (o->profile == NULL)
        o->profile = profile;
    o->device_resets = s->resets;
    return 0;
}

static int parse(struct cli_state *s, int argc, char **argv, int repro)
{
    optind = 1;
    opterr = 0;
    for (;;) {
        int idx = 0;
        int c = getopt_long(argc, argv, "", run_opts, &idx);
        if (c == -1)
            break;
        if (c == '?')
            return cli_usage_error(s->cmd, "unknown option or missing value: '%s'",
                                   argv[optind - 1]);
        /* run only takes run options; repro also the case-building ones. */
        if (!repro && c >= O_CASE)
            return cli_usage_error(s->cmd, "option '--%s' belongs to repro", run_opts[idx].name);
        if (common_opt(s, c, optarg, repro) != 0)
            return 2;
    }
    if (optind < argc)
        return cli_usage_error(s->cmd, "unexpected argument '%s'", argv[optind]);
    s->o.devices = s->devices;
    s->o.scenarios = s->scenarios;
    return add_places(s);
}

static void init(struct cli_state *s, const char *cmd, int full_argc, char **full_argv)
{
    memset(s, 0, sizeof *s);
    s->cmd = cmd;
    s->o.progress = 1;
    s->o.retries = -1;
    s->o.min_executed = -1;
    s->o.shard_k = s->o.shard_n = 1;
    s->o.argc = full_argc;
    s->o.argv = full_argv;
}

static int finish(struct cli_state *s)
{
    struct tm_err err = { 0 };
    int rc = runner_run(&s->o, &err);
    if (rc == RUNNER_SETUP)
        tm_say("tlsmatrix %s: %s", s->cmd, err.msg);
    return rc;
}

int cli_run(int argc, char **argv, int full_argc, char **full_argv)
{
    struct cli_state s;
    init(&s, "run", full_argc, full_argv);
    int rc = parse(&s, argc, argv, 0) != 0 ? 2 : finish(&s);
    lab_free(&s.lab);
    return rc;
}

/* The one case of a repro: from the catalogue (--case), or built from options. */
static json_t *repro_case(struct cli_state *s, struct tm_err *err)
{
    if (s->case_id != NULL) {
        json_t *pool = NULL;
        if (s->cases_file != NULL) {
            json_error_t je;
            pool = json_load_file(s->cases_file, 0, &je);
            if (!json_is_array(pool)) {
                json_decref(pool);
                tm_err_set(err, "--cases %s:%d: %s", s->cases_file, je.line,
                           pool ? "not a JSON array of cases" : je.text);
                return NULL;
            }
        } else {
            json_t *errors = NULL;
            struct runner_opts o = s->o;
            memset(&o.sel, 0, sizeof o.sel);
            o.shard_n = 1;
            pool = runner_select_cases(&o, &errors, err);
            if (json_array_size(errors) > 0)
                tm_err_set(err, "%s", json_string_value(json_array_get(errors, 0)));
            json_decref(errors);
            if (pool == NULL)
                return NULL;
        }
        size_t i;
        json_t *c;
        json_array_foreach(pool, i, c) {
            if (json_is_string(json_object_get(c, "id"))
                && strcmp(json_string_value(json_object_get(c, "id")), s->case_id) == 0) {
                json_t *one = json_pack("[O]", c);
                json_decref(pool);
                return one;
            }
        }
        json_decref(pool);
        tm_err_set(err, "--case %s: no such case (see `tlsmatrix list`)", s->case_id);
        return NULL;
    }
    json_t *k = s->custom;
    json_t *dev = sub(k, "device"), *axes = sub(k, "axes"), *exp = sub(k, "expected");
    if (!json_object_get(dev, "role"))
        json_object_set_new(dev, "role", json_string("client"));
    if (!json_object_get(dev, "verify"))
        json_object_set_new(dev, "verify", json_string("required"));
    /* The user's files: read and checked now, the case pointed at REPORT/field/. */
    s->field = field_plan(k, s->o.report_dir, err);
    if (s->field == NULL)
        return NULL;
    if (!json_object_get(dev, "server_hostname"))
        json_object_set_new(dev, "server_hostname", json_string("test.local"));
    if (!json_object_get(axes, "backend"))
        json_object_set_new(axes, "backend", json_string("openssl"));
    if (!json_object_get(axes, "proto"))
        json_object_set_new(axes, "proto", json_string("tls"));
    json_object_set_new(axes, "keytype", json_string("custom"));
    sub(k, "peer");
    if (!json_object_get(exp, "device"))
        json_object_set_new(exp, "device", json_pack("[s]", "ok"));
    if (!json_object_get(exp, "peer"))   /* a real server's side is not ours to see */
        json_object_set_new(exp, "peer", json_pack("[s]", json_object_get(k, "target") ? "*" : "ok"));
    char id[256];
    snprintf(id, sizeof id, "repro/%s/custom/%s", json_string_value(json_object_get(axes, "backend")),
             json_string_value(json_object_get(axes, "proto")));
    json_object_set_new(k, "id", json_string(id));
    json_object_set_new(k, "scenario", json_string("repro"));
    json_object_set_new(k, "doc", json_string("reproduction from command-line options"));
    json_object_set_new(k, "tags", json_pack("[s]", "repro"));
    json_object_set_new(k, "insecure", json_false());
    if (!json_object_get(k, "proxy"))
        json_object_set_new(k, "proxy", json_null());
    /* The same validator as scenario files: a typo in --expect-device gets the
     * words the loader gives the same typo in a file. */
    struct tm_case typed;
    if (case_build(k, &typed, err) != 0)
        return NULL;
    case_free(&typed);
    return json_pack("[O]", k);
}

int cli_repro(int argc, char **argv, int full_argc, char **full_argv)
{
    struct cli_state s;
    struct tm_err err = { 0 };
    init(&s, "repro", full_argc, full_argv);
    s.custom = json_object();
    int rc = parse(&s, argc, argv, 1);
    if (rc == 0 && s.case_id != NULL && s.custom_used)
        rc = cli_usage_error("repro", "--case takes the case from the catalogue; "
                             "do not combine it with case-building options");
    if (rc == 0 && s.case_id == NULL && !s.custom_used)
        rc = cli_usage_error("repro", "give --case ID, or describe the case (--ca, --chain, "
                             "--peer-cert, …)");
    if (s.o.report_dir == NULL)
        s.o.report_dir = "results/repro";
    json_t *cases = rc == 0 ? repro_case(&s, &err) : NULL;
    if (rc == 0 && cases == NULL) {
        tm_say("tlsmatrix repro: %s", err.msg);
        rc = 2;
    }
    if (rc == 0 && s.save != NULL) {
        if (s.case_id != NULL)
            rc = cli_usage_error("repro", "--save-scenario writes a case built from options; "
                                 "--case is already a scenario's");
        else if (field_save(s.save, json_array_get(cases, 0), s.field, &err) != 0) {
            tm_say("tlsmatrix repro: %s", err.msg);
            rc = 2;
        } else {
            tm_say("tlsmatrix repro: scenario written to %s.yaml%s%s%s", s.save,
                   field_used(s.field) ? " and its certificates' description to " : "",
                   field_used(s.field) ? s.save : "", field_used(s.field) ? ".pki.yaml" : "");
        }
    }
    if (rc == 0) {
        if (field_used(s.field)) {
            s.o.prepare = field_prepare;
            s.o.prepare_arg = s.field;
        }
        s.o.start_failure_is_setup = 1;
        if (s.o.until_fail && s.o.repeat <= 0)
            s.o.repeat = 1000;
        s.o.cases = cases;
        s.o.cases_file = s.cases_file;
        s.o.retries = s.o.retries < 0 ? 0 : s.o.retries;
        rc = finish(&s);
    }
    json_decref(cases);
    json_decref(s.custom);
    lab_free(&s.lab);
    field_free(s.field);
    return rc;
}
