/* The lab's conventions: case selection (--filter, --tag, --exclude-tag) that
 * `list` and `run` share. The real program, the virtual camera and real tlspeer
 * processes on loopback. */
#include <check.h>
#include <jansson.h>
#include <poll.h>
#include <pty.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "ser2net_fixture.h"
#include "tm_fs.h"
#include "tm_proc.h"

#define TLSMATRIX TM_BIN_DIR "/tlsmatrix"

static char tmpdir[256], scen[300], report[300];

/* A one-case device-client scenario NAME.yaml with these tags (YAML list body)
 * and expectation (a YAML flow mapping). */
static void put_scenario_expecting(const char *name, const char *tags, const char *expect)
{
    char *text = NULL, path[600];
    ck_assert_int_gt(asprintf(&text,
        "name: %s\n"
        "doc: device client trusts the root; the peer serves leaf and intermediate\n"
        "tags: [%s]\n"
        "device: {role: client, layer: tls, verify: required, ca: [\"{kt}-root.der\"],\n"
        "         server_hostname: test.local}\n"
        "peer: {cert: [\"{kt}-server.der\", \"{kt}-int.der\"], key: \"{kt}-server.key.der\"}\n"
        "axes: {backend: [openssl], keytype: [p256], proto: [tls]}\n"
        "expect: %s\n", name, tags, expect), 0);
    snprintf(path, sizeof path, "%s/%s.yaml", scen, name);
    ck_assert_int_eq(tm_write_file(path, text, strlen(text), 0644, NULL), 0);
    free(text);
}

static void put_scenario(const char *name, const char *tags)
{
    put_scenario_expecting(name, tags, "{device: ok, peer: ok}");
}

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/tm-lab-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(scen, sizeof scen, "%s/scenarios", tmpdir);
    snprintf(report, sizeof report, "%s/report", tmpdir);
    ck_assert_int_eq(tm_mkdirs(scen, 0755, NULL), 0);
    put_scenario("lab-a", "client, chain");
    put_scenario("lab-b", "client, slow");
    put_scenario("lab-c", "hostname");
}

static void teardown(void)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

/* A file's text, NUL-terminated ("" when it is missing). */
static char *slurp(const char *path)
{
    unsigned char *d = NULL;
    size_t len = 0;
    if (tm_read_file(path, &d, &len, NULL) != 0)
        return strdup("");
    char *t = realloc(d, len + 1);
    t[len] = '\0';
    return t;
}

/* `tlsmatrix ARGS…` (NULL-terminated) within limit_s: its exit code; stdout in
 * *out and stderr in *errtext (malloc'd, NUL-terminated). */
static int tlsmatrix(int limit_s, char **out, char **errtext, ...)
{
    char *argv[48] = { TLSMATRIX }, errpath[400], outpath[400];
    int n = 1;
    va_list ap;
    va_start(ap, errtext);
    for (char *a; n < 46 && (a = va_arg(ap, char *)) != NULL;)
        argv[n++] = a;
    va_end(ap);
    snprintf(errpath, sizeof errpath, "%s/stderr.txt", tmpdir);
    snprintf(outpath, sizeof outpath, "%s/stdout.txt", tmpdir);
    unlink(errpath);
    unlink(outpath);
    struct tm_proc p;
    struct tm_err err = { 0 };
    ck_assert_msg(tm_proc_spawn(&p, argv, errpath, &err) == 0, "%s", err.msg);
    int rc = tm_proc_finish(&p, outpath, tm_deadline_in(limit_s * 1000), &err);
    ck_assert_msg(err.code != TM_E_TIMEOUT, "tlsmatrix did not finish within %d s", limit_s);
    *out = slurp(outpath);
    *errtext = slurp(errpath);
    return rc;
}

/* The ids of a JSON array of cases, one per line. */
static void ids_of(const json_t *cases, char *buf, size_t len)
{
    size_t i, used = 0;
    json_t *c;
    buf[0] = '\0';
    json_array_foreach(cases, i, c)
        used += (size_t)snprintf(buf + used, len - used, "%s\n",
                                 json_string_value(json_object_get(c, "id")));
}

/* `list --json` with the selection options: the ids it lists. A selection of
 * nothing is exit 2 with run's message (want_rc 2), nothing on stdout. */
static void listed(char *ids, size_t len, int want_rc, ...)
{
    char *argv[16] = { "list", "--json", "--scenarios", scen }, *out, *errtext;
    int n = 4;
    va_list ap;
    va_start(ap, want_rc);
    for (char *a; n < 14 && (a = va_arg(ap, char *)) != NULL;)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    int rc = tlsmatrix(30, &out, &errtext, argv[0], argv[1], argv[2], argv[3], argv[4], argv[5],
                       argv[6], argv[7], argv[8], argv[9], argv[10], argv[11], argv[12], argv[13],
                       NULL);
    ck_assert_msg(rc == want_rc, "list exit %d, expected %d: %s", rc, want_rc, errtext);
    ids[0] = '\0';
    if (want_rc == 0) {
        json_t *cases = json_loads(out, 0, NULL);
        ck_assert_msg(json_is_array(cases), "not JSON: %s", out);
        ids_of(cases, ids, len);
        json_decref(cases);
    } else {
        ck_assert_msg(out[0] == '\0', "stdout of a failed list: %s", out);
        ck_assert_msg(strstr(errtext, "selects none of the 3 cases") != NULL, "%s", errtext);
    }
    free(out);
    free(errtext);
}

START_TEST(tags_and_filters_select_as_list_shows)
{
    char ids[1024];
    listed(ids, sizeof ids, 0, "--tag", "client", "--exclude-tag", "slow", NULL);
    ck_assert_str_eq(ids, "lab-a/openssl/p256/tls\n");
    /* Repeated tags are a union; an excluded tag wins over a wanted one. */
    listed(ids, sizeof ids, 0, "--tag", "chain", "--tag", "hostname", NULL);
    ck_assert_str_eq(ids, "lab-a/openssl/p256/tls\nlab-c/openssl/p256/tls\n");
    listed(ids, sizeof ids, 2, "--tag", "client", "--exclude-tag", "chain", "--exclude-tag",
           "slow", NULL);
    /* Repeated filters are a union (the last one used to win), and a bare
     * scenario name selects its cases. */
    listed(ids, sizeof ids, 0, "--filter", "lab-a", "--filter", "lab-c/*/tls", NULL);
    ck_assert_str_eq(ids, "lab-a/openssl/p256/tls\nlab-c/openssl/p256/tls\n");
    listed(ids, sizeof ids, 0, "--filter", "lab-?", "--exclude-tag", "client", NULL);
    ck_assert_str_eq(ids, "lab-c/openssl/p256/tls\n");
}
END_TEST

/* A run with the same options runs what list showed, and says how it selected. */
START_TEST(run_runs_what_list_shows)
{
    char want[1024], got[1024], path[400], *out, *errtext;
    listed(want, sizeof want, 0, "--filter", "lab-*", "--exclude-tag", "chain", "--exclude-tag",
           "hostname", NULL);
    ck_assert_str_eq(want, "lab-b/openssl/p256/tls\n");
    int rc = tlsmatrix(90, &out, &errtext, "run", "--quiet", "--scenarios", scen, "--report",
                       report, "--filter", "lab-*", "--exclude-tag", "chain", "--exclude-tag",
                       "hostname", NULL);
    ck_assert_msg(rc == 0, "run exit %d: %s", rc, errtext);
    free(out);
    free(errtext);
    snprintf(path, sizeof path, "%s/run.json", report);
    json_t *run = json_load_file(path, 0, NULL);
    ck_assert_ptr_nonnull(run);
    ids_of(json_object_get(run, "cases"), got, sizeof got);
    ck_assert_str_eq(got, want);
    json_t *sel = json_object_get(json_object_get(run, "header"), "selection");
    char *s = json_dumps(sel, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_ptr_nonnull(strstr(s, "\"exclude_tags\":[\"chain\",\"hostname\"],"
                                    "\"filters\":[\"lab-*\"],\"tags\":[]"));
    free(s);
    json_decref(run);
}
END_TEST

START_TEST(a_selection_of_nothing_is_a_setup_error)
{
    char *out, *errtext;
    int rc = tlsmatrix(30, &out, &errtext, "run", "--scenarios", scen, "--report", report,
                       "--tag", "nope", "--filter", "lab-a", NULL);
    ck_assert_int_eq(rc, 2);
    ck_assert_msg(strstr(errtext, "--filter 'lab-a' --tag 'nope' selects none of the 3 cases"),
                  "%s", errtext);
    free(out);
    free(errtext);
    /* list refuses it the same way (it used to print "0 scenarios, 0 cases", exit 0). */
    rc = tlsmatrix(30, &out, &errtext, "list", "--scenarios", scen, "--filter", "nope*", NULL);
    ck_assert_int_eq(rc, 2);
    ck_assert_msg(strstr(errtext, "tlsmatrix list: --filter 'nope*' selects none of the 3 cases"),
                  "%s", errtext);
    ck_assert_str_eq(out, "");
    free(out);
    free(errtext);
    /* the shard is a hash of the case id: lab-a's one case is in 3/3, none in 1/3 */
    rc = tlsmatrix(30, &out, &errtext, "list", "--scenarios", scen, "--shard", "1/3", "--filter",
                   "lab-a", NULL);
    ck_assert_int_eq(rc, 2);
    ck_assert_msg(strstr(errtext, "--shard 1/3 holds none of the 1 selected cases"), "%s", errtext);
    free(out);
    free(errtext);
    rc = tlsmatrix(30, &out, &errtext, "list", "--scenarios", scen, "--tag", "", NULL);
    ck_assert_int_eq(rc, 2);
    ck_assert_msg(strstr(errtext, "--tag: an empty value selects nothing"), "%s", errtext);
    free(out);
    free(errtext);
}
END_TEST

static void put_lab(const char *name, const char *text)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    ck_assert_int_eq(tm_write_file(path, text, strlen(text), 0644, NULL), 0);
}

/* `run ARGS…` must exit 2 with want in its message. */
static void refused(const char *want, const char *a1, const char *a2, const char *a3,
                    const char *a4)
{
    char *out, *errtext;
    int rc = tlsmatrix(30, &out, &errtext, "run", "--scenarios", scen, "--report", report, a1,
                       a2, a3, a4, NULL);
    ck_assert_msg(rc == 2 && strstr(errtext, want), "exit %d, wanted '%s' in: %s", rc, want,
                  errtext);
    free(out);
    free(errtext);
}

/* A place of a lab file runs on its link and with its profile. */
START_TEST(lab_file_places_run)
{
    char lab[400], path[400], *out, *errtext;
    put_lab("lab.yaml",
            "boards:\n"
            "  - name: sim-a\n"
            "    link: virtual\n"
            "    profile: micropython-unix\n"
            "    reset: \"true\"\n"
            "  - {name: bench-2, link: \"serial:id=3F0049000651\"}\n");
    snprintf(lab, sizeof lab, "%s/lab.yaml", tmpdir);
    int rc = tlsmatrix(90, &out, &errtext, "run", "--quiet", "--scenarios", scen, "--report",
                       report, "--filter", "lab-a", "--devices", lab, "--place", "sim-a", NULL);
    ck_assert_msg(rc == 0, "run exit %d: %s", rc, errtext);
    free(out);
    free(errtext);
    snprintf(path, sizeof path, "%s/run.json", report);
    json_t *run = json_load_file(path, 0, NULL);
    json_t *h = json_object_get(run, "header");
    ck_assert_str_eq(json_string_value(json_object_get(h, "profile")), "micropython-unix");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(h, "devices"), 0),
                                                       "link")), "virtual");
    json_decref(run);
    refused("--place 'sim-b': no such board in", "--devices", lab, "--place", "sim-b");
    refused("(boards: sim-a, bench-2)", "--devices", lab, "--place", "sim-b");
    refused("--place needs --devices FILE", "--place", "sim-a", "--quiet", "--quiet");
    refused("name the boards to use with --place NAME", "--devices", lab, "--quiet", "--quiet");
}
END_TEST

START_TEST(bad_lab_files_name_the_line)
{
    static const struct { const char *text, *want; } bad[] = {
        { "boards:\n  - name: a\n    lnk: virtual\n", "lab.yaml:3: unknown field 'lnk'" },
        { "boards:\n  - {name: a, link: virtual}\n  - {name: a, link: virtual}\n",
          "lab.yaml:3: board 'a' named twice" },
        { "boards:\n  - {name: a, link: \"bogus:x\"}\n", "lab.yaml:2: board 'a': link 'bogus:x': unknown kind" },
        { "boards:\n  - {link: virtual}\n", "missing field 'name'" },
        { "places: []\n", "expected a mapping with a list `boards:`" },
        { "boards:\n  - {name: a, link: virtual, profile: micropython-unix}\n"
          "  - {name: b, link: virtual, profile: micropython-openmv-default}\n",
          "a run judges by one profile" },
    };
    char lab[400];
    snprintf(lab, sizeof lab, "%s/lab.yaml", tmpdir);
    for (size_t i = 0; i + 1 < sizeof bad / sizeof bad[0]; i++) {
        put_lab("lab.yaml", bad[i].text);
        refused(bad[i].want, "--devices", lab, "--place", "a");
    }
    put_lab("lab.yaml", bad[5].text);
    char *out, *errtext;
    int rc = tlsmatrix(30, &out, &errtext, "run", "--scenarios", scen, "--report", report,
                       "--devices", lab, "--place", "a", "--place", "b", NULL);
    ck_assert_msg(rc == 2 && strstr(errtext, "--place a has profile micropython-unix, --place b "
                                             "micropython-openmv-default"), "%d %s", rc, errtext);
    free(out);
    free(errtext);
}
END_TEST

/* ---- progress on a terminal ---- */

/* The live line on a 60-column pseudo-terminal: never wider than 59 columns,
 * xfail apart from pass, the unexpected result printed when it happens and
 * listed at the end. */
START_TEST(progress_fits_the_terminal)
{
    char prof[400], rep[400];
    put_scenario("lab-progress-a-long-scenario-name-that-would-wrap-at-sixty", "client");
    put_scenario_expecting("lab-progress-known-deviation", "client",
                           "{device: \"verify-failed:untrusted\", peer: ok}");
    put_scenario_expecting("lab-progress-unexpected", "client",
                           "{device: \"verify-failed:expired\", peer: ok}");
    snprintf(prof, sizeof prof, "%s/lab-test.yaml", tmpdir);
    const char *p = "name: lab-test\ndoc: the progress test's profile\nxfail:\n  - case: \"lab-progress-known-deviation/*\"\n"
                    "    reason: the test's known deviation\n";
    ck_assert_int_eq(tm_write_file(prof, p, strlen(p), 0644, NULL), 0);
    int master, slave;
    struct winsize ws = { .ws_row = 24, .ws_col = 60 };
    ck_assert_int_eq(openpty(&master, &slave, NULL, NULL, &ws), 0);
    snprintf(rep, sizeof rep, "%s/progress", tmpdir);
    char *argv[] = { TLSMATRIX, "run", "--scenarios", scen, "--filter", "lab-progress-*",
                     "--profile", prof, "--report", rep, NULL };
    struct tm_proc proc;
    struct tm_err err;
    ck_assert_msg(tm_proc_spawn(&proc, argv, ptsname(master), &err) == 0, "%s", err.msg);
    close(slave);
    char out[1 << 16];
    size_t len = 0;
    tm_ms until = tm_deadline_in(90000);
    for (int last = 0; !last;) {
        last = tm_proc_wait(&proc, tm_deadline_in(50)) == 0 || tm_expired(until);
        struct pollfd pfd = { master, POLLIN, 0 };
        while (len + 1 < sizeof out && poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLIN)) {
            ssize_t r = read(master, out + len, sizeof out - 1 - len);
            if (r <= 0)
                break;
            len += (size_t)r;
        }
    }
    out[len] = '\0';
    ck_assert_msg(proc.exited, "tlsmatrix did not finish");
    ck_assert_int_eq(tm_proc_exit_code(&proc), 1);   /* one unexpected result */
    tm_proc_stop(&proc, 500);
    close(master);
    /* Every redraw of the live line (after "\r\033[K") fits in 59 columns. */
    int lines = 0;
    for (char *s = out; (s = strstr(s, "\r\033[K[")) != NULL; s++) {
        s += 4;
        size_t n = strcspn(s, "\r\n");
        ck_assert_msg(n <= 59, "live line of %zu columns: %.*s", n, (int)n, s);
        lines++;
    }
    ck_assert_int_ge(lines, 3);
    ck_assert_msg(strstr(out, "[3/3] pass 1 xfail 1 unexpected 1 skip 0"), "%s", out);
    const char *now = strstr(out, "UNEXPECTED fail  lab-progress-unexpected/openssl/p256/tls — ");
    const char *end = strstr(out, "1 unexpected result:");
    end = end ? strstr(end, "  fail  lab-progress-unexpected/openssl/p256/tls — ") : NULL;
    ck_assert_msg(now != NULL && end != NULL && now < end, "%s", out);
}
END_TEST

/* compare on the command line: a planted regression in a later run exits 1 and
 * is named; the same run twice exits 0. */
START_TEST(compare_exits_1_on_a_regression)
{
    char a[400], b[400], dir[400], *out, *errtext;
    int rc = tlsmatrix(90, &out, &errtext, "run", "--quiet", "--scenarios", scen, "--report",
                       report, "--filter", "lab-a", "--filter", "lab-b", NULL);
    ck_assert_msg(rc == 0, "run exit %d: %s", rc, errtext);
    free(out);
    free(errtext);
    snprintf(a, sizeof a, "%s/run.json", report);
    json_t *run = json_load_file(a, 0, NULL);
    ck_assert_ptr_nonnull(run);
    json_object_set_new(json_array_get(json_object_get(run, "cases"), 1), "verdict",
                        json_string("fail"));
    snprintf(b, sizeof b, "%s/planted.json", tmpdir);
    ck_assert_int_eq(json_dump_file(run, b, 0), 0);
    json_decref(run);
    snprintf(dir, sizeof dir, "%s/cmp", tmpdir);
    rc = tlsmatrix(30, &out, &errtext, "compare", a, b, "--report", dir, NULL);
    ck_assert_msg(rc == 1, "compare exit %d: %s", rc, errtext);
    ck_assert_msg(strstr(out, ": 1 regression against A\n    lab-b/openssl/p256/tls  pass -> fail\n"),
                  "%s", out);
    free(out);
    free(errtext);
    rc = tlsmatrix(30, &out, &errtext, "compare", a, a, "--report", dir, NULL);
    ck_assert_msg(rc == 0 && strstr(out, ": 0 regressions against A"), "%d %s %s", rc, out, errtext);
    free(out);
    free(errtext);
    rc = tlsmatrix(30, &out, &errtext, "compare", a, "--report", dir, NULL);
    ck_assert_msg(rc == 2 && strstr(errtext, "expected at least two runs"), "%d %s", rc, errtext);
    free(out);
    free(errtext);
}
END_TEST

/* ---- a remote board through RFC 2217 ---- */

/* The virtual camera on a pty (the master is the camera's port) behind ser2net's
 * RFC 2217 port on loopback, taking up to max_conn connections at once (a lab
 * board two harnesses can reach). */
struct board {
    int master, slave;
    pid_t cam;
    struct ser2net_fixture s2n;
    char spec[64];
};

static void board_start(struct board *b, int max_conn)
{
    ck_assert_int_eq(openpty(&b->master, &b->slave, NULL, NULL, NULL), 0);
    b->cam = fork();
    ck_assert_int_ge(b->cam, 0);
    if (b->cam == 0) {
        setsid();
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(b->master, 0);
        dup2(b->master, 1);
        execl(TM_BIN_DIR "/vcam", "vcam", (char *)NULL);
        _exit(127);
    }
    ser2net_start_shared(&b->s2n, ptsname(b->master), max_conn);   /* ready once it accepts */
    snprintf(b->spec, sizeof b->spec, "rfc2217:127.0.0.1:%d", b->s2n.port);
}

static void board_stop(struct board *b)
{
    ser2net_stop(&b->s2n);
    kill(b->cam, SIGKILL);
    waitpid(b->cam, NULL, 0);
    close(b->master);
    close(b->slave);
}

/* run.json's first device record (new reference to the whole run in *run). */
static json_t *first_device(json_t **run)
{
    char path[400];
    snprintf(path, sizeof path, "%s/run.json", report);
    *run = json_load_file(path, 0, NULL);
    ck_assert_ptr_nonnull(*run);
    return json_array_get(json_object_get(json_object_get(*run, "header"), "devices"), 0);
}

/* A run through ser2net's RFC 2217 port in front of the virtual camera: the
 * cases complete as on a local link. */
START_TEST(run_through_ser2net_rfc2217)
{
    struct board b;
    board_start(&b, 1);
    char *out, *errtext;
    int rc = tlsmatrix(90, &out, &errtext, "run", "--quiet", "--scenarios", scen, "--report",
                       report, "--filter", "lab-a", "--filter", "lab-b", "--device", b.spec, NULL);
    board_stop(&b);
    ck_assert_msg(rc == 0, "run exit %d: %s", rc, errtext);
    free(out);
    free(errtext);
    json_t *run;
    json_t *dev = first_device(&run);
    ck_assert_str_eq(json_string_value(json_object_get(dev, "link")), b.spec);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(run, "totals"), "pass")), 2);
    /* the board's machine.unique_id(): in the hello, on the reports' device line */
    const char *uid = json_string_value(json_object_get(json_object_get(dev, "hello"), "unique_id"));
    ck_assert_msg(uid != NULL && strlen(uid) == 24, "unique_id %s", uid ? uid : "(none)");
    char want[64], path[400];
    snprintf(want, sizeof want, "unique_id %s", uid);
    unsigned char *md = NULL, *html = NULL;
    size_t len;
    snprintf(path, sizeof path, "%s/summary.md", report);
    ck_assert_int_eq(tm_read_file(path, &md, &len, NULL), 0);
    snprintf(path, sizeof path, "%s/matrix.html", report);
    ck_assert_int_eq(tm_read_file(path, &html, &len, NULL), 0);
    /* summary.md escapes Markdown: unique\_id */
    ck_assert_msg(strstr((char *)md, uid) && strstr((char *)html, want), "no '%s' in the reports", want);
    free(md);
    free(html);
    json_decref(run);
}
END_TEST

/* ---- board locking ---- */

/* This test process is harness A: it holds the board through the agent client. */
static struct agent *hold(const char *spec, long lease_ms, int steal)
{
    struct agent_opts o = { .lease_ms = lease_ms, .steal = steal };
    struct tm_err err = { 0 };
    struct agent *a = agent_open(spec, &o, &err);
    ck_assert_msg(a != NULL, "%s", err.msg);
    ck_assert_msg(agent_bootstrap(a, tm_deadline_in(30000), &err) == 0, "%s", err.msg);
    return a;
}

static int run_one(const char *spec, const char *extra, char **errtext)
{
    char *out;
    int rc = tlsmatrix(90, &out, errtext, "run", "--quiet", "--scenarios", scen, "--report",
                       report, "--filter", "lab-a", "--device", spec, extra, NULL);
    free(out);
    return rc;
}

/* Two harnesses on one remote board (ser2net lets both connect): the second is
 * refused naming the first, without disturbing it; once the first ends normally
 * the board is free; --steal takes a held board, and a lease that ran out is
 * taken with a note in run.json. */
START_TEST(second_harness_is_refused_naming_the_first)
{
    struct board b;
    board_start(&b, 2);
    struct agent *a = hold(b.spec, 0, 0);
    char *errtext, want[128];
    int rc = run_one(b.spec, NULL, &errtext);
    snprintf(want, sizeof want, "pid %d since ", (int)getpid());
    ck_assert_msg(rc == 2 && strstr(errtext, "board in use by ") && strstr(errtext, want),
                  "exit %d: %s", rc, errtext);
    free(errtext);
    char *out;   /* info and list --device keep off a held board too */
    rc = tlsmatrix(60, &out, &errtext, "info", "--device", b.spec, NULL);
    ck_assert_msg(rc == 2 && strstr(errtext, want), "info: exit %d: %s", rc, errtext);
    free(out);
    free(errtext);
    rc = tlsmatrix(60, &out, &errtext, "list", "--scenarios", scen, "--device", b.spec, NULL);
    ck_assert_msg(rc == 2 && strstr(errtext, want), "list: exit %d: %s", rc, errtext);
    free(out);
    free(errtext);
    json_t *reply = NULL;
    struct tm_err err = { 0 };
    ck_assert_msg(agent_call(a, "info", NULL, tm_deadline_in(10000), &reply, &err) == 0,
                  "the holder lost its board to a refused harness: %s", err.msg);
    json_t *holder = json_object_get(reply, "lock");
    ck_assert_int_eq(json_integer_value(json_object_get(holder, "pid")), getpid());
    json_decref(reply);
    agent_close(a);   /* ends normally: the board is free */
    rc = run_one(b.spec, NULL, &errtext);
    ck_assert_msg(rc == 0, "after the holder ended: exit %d: %s", rc, errtext);
    free(errtext);

    a = hold(b.spec, 0, 0);
    rc = run_one(b.spec, "--steal", &errtext);
    ck_assert_msg(rc == 0, "--steal: exit %d: %s", rc, errtext);
    free(errtext);
    json_t *run;
    json_t *took = json_object_get(first_device(&run), "lock");
    ck_assert_str_eq(json_string_value(json_object_get(took, "took")), "stolen");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(took, "from"), "pid")),
                     getpid());
    json_decref(run);
    agent_close(a);

    /* The holder that lost its board recovers without resetting it: the new
     * holder's run goes on. */
    a = hold(b.spec, 0, 0);
    struct agent *thief = hold(b.spec, 0, 1);
    if (agent_call(a, "info", NULL, tm_deadline_in(3000), &reply, &err) == 0)
        json_decref(reply);   /* the thief's bootstrap crossed the shared line */
    ck_assert_int_ne(agent_recover(a, tm_deadline_in(30000), 0, &err), 0);
    ck_assert_msg(tm_err_code(&err) == TM_E_HELD && strstr(err.msg, "board in use by "), "%s", err.msg);
    ck_assert_msg(agent_call(thief, "info", NULL, tm_deadline_in(10000), &reply, &err) == 0,
                  "the recovery disturbed the new holder: %s", err.msg);
    json_decref(reply);
    agent_close(a);
    agent_close(thief);

    a = hold(b.spec, 1000, 0);   /* a holder that stops working: its lease runs out */
    tm_sleep_ms(2100);
    rc = run_one(b.spec, NULL, &errtext);
    ck_assert_msg(rc == 0, "expired lease: exit %d: %s", rc, errtext);
    free(errtext);
    took = json_object_get(first_device(&run), "lock");
    ck_assert_str_eq(json_string_value(json_object_get(took, "took")), "lease expired");
    json_decref(run);
    agent_close(a);

    a = hold(b.spec, 0, 0);
    rc = tlsmatrix(60, &out, &errtext, "info", "--device", b.spec, "--steal", NULL);
    ck_assert_msg(rc == 0 && strstr(out, "\"unique_id\""), "info --steal: exit %d: %s", rc, errtext);
    free(out);
    free(errtext);
    agent_close(a);
    board_stop(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lab");
    TCase *tc = tcase_create("selection");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 150);
    tcase_add_test(tc, tags_and_filters_select_as_list_shows);
    tcase_add_test(tc, run_runs_what_list_shows);
    tcase_add_test(tc, a_selection_of_nothing_is_a_setup_error);
    tcase_add_test(tc, lab_file_places_run);
    tcase_add_test(tc, bad_lab_files_name_the_line);
    tcase_add_test(tc, progress_fits_the_terminal);
    tcase_add_test(tc, compare_exits_1_on_a_regression);
    tcase_add_test(tc, run_through_ser2net_rfc2217);
    tcase_add_test(tc, second_harness_is_refused_naming_the_first);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
