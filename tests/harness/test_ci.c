/* Runs a CI job can trust: `tlsmatrix` as a pipeline runs it, checked for exit
 * codes that cannot lie, report directories that are never clobbered, results
 * that survive write errors and signals, and replays that keep their evidence.
 * The real program, the virtual camera and real tlspeer processes on loopback. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness_kit.h"
#include "tm_fs.h"
#include "tm_proc.h"

#define TLSMATRIX TM_BIN_DIR "/tlsmatrix"

static char tmpdir[256], scen[300], report[300], out_path[300];

/* A device-client scenario file NAME.yaml in dir: the device trusts the root,
 * the peer serves leaf and intermediate; backends and proto as given, and the
 * peer's misbehaviour (NULL: none). */
static void put_scenario(const char *dir, const char *name, const char *backends,
                         const char *proto, const char *misbehave)
{
    char *text = NULL, path[600];
    ck_assert_int_gt(asprintf(&text,
        "name: %s\n"
        "doc: device client trusts the root; the peer serves leaf and intermediate\n"
        "tags: [client]\n"
        "device: {role: client, layer: tls, verify: required, ca: [\"{kt}-root.der\"],\n"
        "         server_hostname: test.local}\n"
        "peer: {cert: [\"{kt}-server.der\", \"{kt}-int.der\"], key: \"{kt}-server.key.der\"%s%s%s}\n"
        "axes: {backend: [%s], keytype: [p256], proto: [%s]}\n"
        "expect: {device: ok, peer: ok}\n", name, misbehave ? ",\n       misbehave: \"" : "",
        misbehave ? misbehave : "", misbehave ? "\"" : "", backends, proto), 0);
    snprintf(path, sizeof path, "%s/%s.yaml", dir, name);
    ck_assert_int_eq(tm_write_file(path, text, strlen(text), 0644, NULL), 0);
    free(text);
}

static void put(const char *dir, const char *name, const char *text)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    ck_assert_int_eq(tm_write_file(p, text, strlen(text), 0644, NULL), 0);
}

static void setup(void)
{
    hk_dir_make(tmpdir, sizeof tmpdir, "ci");
    snprintf(scen, sizeof scen, "%s/scenarios", tmpdir);
    snprintf(report, sizeof report, "%s/report", tmpdir);
    snprintf(out_path, sizeof out_path, "%s/output.txt", tmpdir);
    ck_assert_int_eq(tm_mkdirs(scen, 0755, NULL), 0);
    put_scenario(scen, "ci-client-ok", "openssl, gnutls", "tls", NULL);
}

static void teardown(void)
{
    hk_dir_remove(tmpdir);
}

/* Start `tlsmatrix ARGS…` (NULL-terminated) with stdout and stderr in out_path. */
static void start_v(struct tm_proc *p, const char *cwd, va_list ap)
{
    char *argv[48] = { TLSMATRIX };
    int n = 1;
    for (char *a; n < 46 && (a = va_arg(ap, char *)) != NULL;)
        argv[n++] = a;
    argv[n] = NULL;
    unlink(out_path);
    char here[512];
    ck_assert_ptr_nonnull(getcwd(here, sizeof here));
    ck_assert_int_eq(chdir(cwd ? cwd : here), 0);
    struct tm_err err;
    int rc = tm_proc_spawn(p, argv, out_path, &err);
    ck_assert_int_eq(chdir(here), 0);
    ck_assert_msg(rc == 0, "%s", err.msg);
}

static void start(struct tm_proc *p, ...)
{
    va_list ap;
    va_start(ap, p);
    start_v(p, NULL, ap);
    va_end(ap);
}

/* Wait for the program (draining its stdout into out_path); its exit code. */
static int finish(struct tm_proc *p, int limit_s)
{
    struct tm_err err = { 0 };
    int rc = tm_proc_finish(p, out_path, tm_deadline_in(limit_s * 1000), &err);
    ck_assert_msg(err.code != TM_E_TIMEOUT, "tlsmatrix did not finish within %d s", limit_s);
    return rc;
}

static int tlsmatrix(int limit_s, ...)
{
    struct tm_proc p;
    va_list ap;
    va_start(ap, limit_s);
    start_v(&p, NULL, ap);
    va_end(ap);
    return finish(&p, limit_s);
}

static char *slurp(const char *path)
{
    unsigned char *d = NULL;
    size_t len;
    return tm_read_file(path, &d, &len, NULL) == 0 ? (char *)d : strdup("");
}

static char *output(void)
{
    return slurp(out_path);
}

static int exists(const char *dir, const char *name)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

/* Exit code and output of a command that must be a usage/setup error: exit 2,
 * the message containing want, and the report directory never created. */
static void assert_setup_error(const char *want, ...)
{
    struct tm_proc p;
    va_list ap;
    va_start(ap, want);
    start_v(&p, NULL, ap);
    va_end(ap);
    int rc = finish(&p, 30);
    char *o = output();
    ck_assert_msg(rc == 2 && strstr(o, want) != NULL, "exit %d, want '%s' in:\n%.2000s", rc, want, o);
    ck_assert_msg(access(report, F_OK) != 0, "%s was created for '%s'", report, want);
    free(o);
}

/* Every mistake in a command is exit 2 before any device or peer starts: bad
 * device specs (the virtual camera's own message with file and line), a peer
 * host that is not this host's, a baseline that cannot be read, a filter or a
 * shard that selects nothing. */
START_TEST(setup_errors_exit_2_before_any_device)
{
    static const char *const specs[][2] = {
        { "tcp:127.0.0.1", "expected HOST:PORT" },
        { "tcp:127.0.0.1:99999", "port '99999' is not a number in 1..65535" },
        { "serial:X,baud=abc", "bad baud" },
        { "exec:\"unclosed", "cannot parse command" },
        { "exec:/nonexistent/prog", "/nonexistent/prog: No such file" },
        { "virtual:--bogus", "vcam: --bogus: unknown option" },
        { "virtual:--fault nonsense", "vcam: --fault nonsense: nonsense: unknown kind" },
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        assert_setup_error(specs[i][1], "run", "--scenarios", scen, "--report", report,
                           "--device", specs[i][0], NULL);
    char prof[400], spec[500], want[500];
    snprintf(prof, sizeof prof, "%s/bad-profile.yaml", tmpdir);
    put(tmpdir, "bad-profile.yaml", "name: bad\nheap: [1, 2\n");
    snprintf(spec, sizeof spec, "virtual:--profile %s", prof);
    snprintf(want, sizeof want, "%s:", prof);   /* the camera's FILE:LINE message */
    assert_setup_error(want, "run", "--scenarios", scen, "--report", report, "--device", spec,
                       NULL);
    assert_setup_error("--peer-host '999.1.1.1': not a numeric", "run", "--scenarios", scen,
                       "--report", report, "--peer-host", "999.1.1.1", NULL);
    assert_setup_error("--peer-host '192.0.2.1': not an address of this host", "run",
                       "--scenarios", scen, "--report", report, "--peer-host", "192.0.2.1", NULL);
    assert_setup_error("--baseline: /nonexistent.json", "run", "--scenarios", scen, "--report",
                       report, "--baseline", "/nonexistent.json", NULL);
    assert_setup_error("--filter 'ci-server-*' selects none of the 2 cases", "run",
                       "--scenarios", scen, "--report", report, "--filter", "ci-server-*", NULL);
    assert_setup_error("--shard 4/4 holds none of the 2", "run", "--scenarios", scen,
                       "--report", report, "--shard", "4/4", NULL);
    /* A character device that is not a terminal is found only when the link opens
     * it (a probe would have to open the port too): still the user's spec, exit 2. */
    struct tm_proc p;
    start(&p, "run", "--scenarios", scen, "--report", report, "--device", "serial:/dev/null",
          NULL);
    int rc = finish(&p, 30);
    char *o = output();
    ck_assert_msg(rc == 2 && strstr(o, "/dev/null: not a serial port"), "exit %d:\n%.2000s",
                  rc, o);
    free(o);
}
END_TEST

/* A device that skips every case tested nothing: exit 1, unless the job says
 * skips are fine (--allow-skips) or how many cases must run (--min). */
START_TEST(all_skipped_is_not_green)
{
    char prof[400], spec[500];
    snprintf(prof, sizeof prof, "%s/no-dtls.yaml", tmpdir);
    char *base = slurp(TM_SOURCE_DIR "/camera/sim/profiles/openmv-default.yaml");
    char *at = strstr(base, "\ndtls: true\n"), *text = NULL;
    ck_assert_ptr_nonnull(at);
    *at = '\0';
    ck_assert_int_gt(asprintf(&text, "%s\ndtls: false\n%s", base, at + 12), 0);
    put(tmpdir, "no-dtls.yaml", text);
    free(text);
    free(base);
    snprintf(spec, sizeof spec, "virtual:--profile %s", prof);
    put_scenario(tmpdir, "ci-dtls-ok", "openssl, gnutls", "dtls", NULL);
    char dtls[400];
    snprintf(dtls, sizeof dtls, "%s/ci-dtls-ok.yaml", tmpdir);
    int rc = tlsmatrix(60, "run", "--scenarios", dtls, "--report", report, "--device", spec, NULL);
    char *o = output();
    ck_assert_msg(rc == 1 && strstr(o, "every case was skipped"), "exit %d\n%.3000s", rc, o);
    free(o);
    ck_assert_int_eq(tlsmatrix(60, "run", "--scenarios", dtls, "--report", report, "--device",
                               spec, "--allow-skips", NULL), 0);
    ck_assert_int_eq(tlsmatrix(60, "run", "--scenarios", dtls, "--report", report, "--device",
                               spec, "--min", "0", NULL), 0);
}
END_TEST

/* Report directories: only a new or empty one, or one a tlsmatrix run marked
 * (the marker's content checked); never "/", never a file; nothing of what was
 * there is touched. A held lock refuses a second run at once, naming the holder. */
START_TEST(report_dir_never_clobbered)
{
    char foreign[400], mine[500], fake[500];
    snprintf(foreign, sizeof foreign, "%s/foreign", tmpdir);
    ck_assert_int_eq(tm_mkdirs(foreign, 0755, NULL), 0);
    put(foreign, "run.json", "{\"mine\": true}\n");
    ck_assert_int_eq(tm_mkdirs(strcat(strcpy(mine, foreign), "/cases"), 0755, NULL), 0);
    put(mine, "notes.txt", "keep me\n");
    int rc = tlsmatrix(30, "run", "--scenarios", scen, "--report", foreign, NULL);
    char *o = output();
    ck_assert_msg(rc == 2 && strstr(o, "tlsmatrix did not write it"), "exit %d\n%.2000s", rc, o);
    free(o);
    char *kept = slurp(strcat(strcpy(mine, foreign), "/run.json"));
    ck_assert_str_eq(kept, "{\"mine\": true}\n");
    free(kept);
    ck_assert(exists(foreign, "cases/notes.txt") && !exists(foreign, ".tlsmatrix-report"));
    /* A marker of the right name but not tlsmatrix's content proves nothing. */
    snprintf(fake, sizeof fake, "%s/fake", tmpdir);
    ck_assert_int_eq(tm_mkdirs(fake, 0755, NULL), 0);
    put(fake, ".tlsmatrix-report", "");
    put(fake, "data.csv", "1,2\n");
    ck_assert_int_eq(tlsmatrix(30, "run", "--scenarios", scen, "--report", fake, NULL), 2);
    ck_assert_int_eq(tlsmatrix(30, "run", "--scenarios", scen, "--report", "/", NULL), 2);
    o = output();
    ck_assert_msg(strstr(o, "root directory") != NULL, "%.2000s", o);
    free(o);
    snprintf(fake, sizeof fake, "%s/data.csv", foreign);
    put(foreign, "data.csv", "1,2\n");
    ck_assert_int_eq(tlsmatrix(30, "run", "--scenarios", scen, "--report", fake, NULL), 2);
    o = output();
    ck_assert_msg(strstr(o, "is a file, not a directory") != NULL, "%.2000s", o);
    free(o);

    /* Another run holds the directory: refused at once, naming it. */
    ck_assert_int_eq(tlsmatrix(60, "run", "--scenarios", scen, "--report", report, NULL), 0);
    char lock[400];
    snprintf(lock, sizeof lock, "%s/.tlsmatrix-lock", report);
    int fd = open(lock, O_RDWR);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
    ck_assert_int_eq(ftruncate(fd, 0), 0);
    ck_assert_int_eq(pwrite(fd, "pid 4242 on ci-host, since 2026-01-01T00:00:00Z\n", 48, 0), 48);
    /* The lock stays held until the run ends: a run that waited for it would meet
     * the 30 s hang guard instead of the refusal. */
    rc = tlsmatrix(30, "run", "--scenarios", scen, "--report", report, NULL);
    o = output();
    ck_assert_msg(rc == 2 && strstr(o, "in use by another run: pid 4242 on ci-host, since "
                                       "2026-01-01T00:00:00Z"), "exit %d\n%.2000s", rc, o);
    free(o);
    close(fd);
    ck_assert(exists(report, "run.json") && exists(report, "cases"));
}
END_TEST

/* Bundles are named relative to the report directory, and replay.sh writes into
 * a fresh directory beside its bundle, from any directory, as often as it runs:
 * the report it came from stays as it was, even after the report was moved. */
START_TEST(replay_keeps_its_evidence)
{
    ck_assert_int_eq(tlsmatrix(60, "run", "--scenarios", scen, "--report", report, "--filter",
                               "ci-client-ok/openssl/*", NULL), 0);
    char moved[400], run_path[500], bundle[700], script[800];
    snprintf(moved, sizeof moved, "%s/artifact", tmpdir);
    ck_assert_int_eq(rename(report, moved), 0);
    snprintf(run_path, sizeof run_path, "%s/run.json", moved);
    json_t *run = json_load_file(run_path, 0, NULL);
    ck_assert_ptr_nonnull(run);
    const char *rel = json_string_value(json_object_get(json_array_get(json_object_get(run, "cases"), 0),
                                                        "bundle"));
    ck_assert_msg(rel != NULL && rel[0] != '/', "bundle %s", rel ? rel : "(none)");
    snprintf(bundle, sizeof bundle, "%s/%s", moved, rel);
    json_decref(run);
    char *before = slurp(strcat(strcpy(script, bundle), "/case.json"));
    ck_assert(strlen(before) > 0);
    snprintf(script, sizeof script, "%s/replay.sh", bundle);
    for (int i = 0; i < 2; i++) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "cd / && sh '%s' --quiet > '%s' 2>&1", script, out_path);
        int st = system(cmd);
        char *o = output();
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "replay %d: status %d\n%.3000s", i + 1, st, o);
        ck_assert_msg(strstr(o, ".replay-") != NULL, "%.2000s", o);
        free(o);
    }
    char *after = slurp(strcat(strcpy(script, bundle), "/case.json"));
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
    /* Two fresh directories beside the bundle, each a complete report. */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "test $(ls -d '%s'.replay-*/run.json | wc -l) -eq 2", bundle);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* diff: a case that vanished is a regression, and a report directory stands for
 * its run.json. merge: only a complete set of shards. */
START_TEST(diff_and_merge_refuse_partial_results)
{
    char r1[400], r2[400], all[400];
    snprintf(r1, sizeof r1, "%s/shard1", tmpdir);
    snprintf(r2, sizeof r2, "%s/shard2", tmpdir);
    snprintf(all, sizeof all, "%s/all", tmpdir);
    ck_assert_int_eq(tlsmatrix(60, "run", "--scenarios", scen, "--report", all, NULL), 0);
    /* Two cases split in two: by the id hash each shard may hold 0, 1 or 2, so
     * the split is found, not assumed. */
    int rc1 = tlsmatrix(60, "run", "--scenarios", scen, "--report", r1, "--shard", "1/2", NULL);
    int rc2 = tlsmatrix(60, "run", "--scenarios", scen, "--report", r2, "--shard", "2/2", NULL);
    const char *half = rc1 == 0 ? r1 : r2;
    ck_assert_msg(rc1 == 0 || rc2 == 0, "no shard ran: %d %d", rc1, rc2);
    ck_assert_int_eq(tlsmatrix(30, "diff", all, all, NULL), 0);
    int rc = tlsmatrix(30, "diff", all, half, NULL);
    char *o = output();
    ck_assert_msg(rc == 1 && strstr(o, "Removed cases: 1"), "exit %d\n%.2000s", rc, o);
    free(o);
    char merged[400];
    snprintf(merged, sizeof merged, "%s/merged", tmpdir);
    rc = tlsmatrix(30, "merge", half, "--report", merged, NULL);
    o = output();
    ck_assert_msg(rc == 2 && strstr(o, "is missing"), "exit %d\n%.2000s", rc, o);
    free(o);
    if (rc1 == 0 && rc2 == 0)
        ck_assert_int_eq(tlsmatrix(30, "merge", r1, r2, "--report", merged, NULL), 0);
    snprintf(merged, sizeof merged, "%s/merged-one", tmpdir);
    rc = tlsmatrix(30, "merge", all, "--report", merged, NULL);
    o = output();
    ck_assert_msg(rc == 0 && strstr(o, "merge: 1 run, 2 cases"), "exit %d\n%.2000s", rc, o);
    free(o);
}
END_TEST

/* The program an exec: link runs says why it failed: its stderr is kept in the
 * report directory and its last lines are in the error. */
START_TEST(device_stderr_reaches_the_user)
{
    int rc = tlsmatrix(60, "run", "--scenarios", scen, "--report", report, "--device",
                       "exec:sh -c 'echo no camera on /dev/ttyACM9 >&2; exit 1'", NULL);
    char *o = output();
    ck_assert_msg(rc == 3 && strstr(o, "its stderr ends: no camera on /dev/ttyACM9"),
                  "exit %d\n%.3000s", rc, o);
    free(o);
    char p[400];
    snprintf(p, sizeof p, "%s/device-1.stderr", report);
    char *kept = slurp(p);
    ck_assert_msg(strstr(kept, "no camera on /dev/ttyACM9") != NULL, "%s: '%s'", p, kept);
    free(kept);
}
END_TEST

/* The children of a run, from /proc (threads' children included). */
static int children_of(pid_t pid, pid_t *out, int max)
{
    char p[128];
    int n = 0;
    snprintf(p, sizeof p, "/proc/%d/task", (int)pid);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "cat %s/*/children 2>/dev/null", p);
    FILE *f = popen(cmd, "r");
    if (f == NULL)
        return 0;
    int c;
    while (n < max && fscanf(f, "%d", &c) == 1)
        out[n++] = c;
    pclose(f);
    return n;
}

/* Wait until the run has finished a case (its progress line). */
static void wait_first_case(struct tm_proc *p)
{
    tm_ms until = tm_deadline_in(60000);
    int fd = open(out_path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    for (;;) {
        char buf[4096];
        ssize_t r;
        while ((r = read(p->out_fd, buf, sizeof buf)) > 0)
            ck_assert_int_eq(write(fd, buf, (size_t)r), r);
        char *o = output();
        int seen = strstr(o, "[1/") != NULL;
        free(o);
        if (seen)
            break;
        ck_assert_msg(!tm_expired(until) && tm_proc_wait(p, tm_deadline_in(50)) != 0,
                      "no case finished");
    }
    close(fd);
}

/* SIGHUP (a closed SSH session) stops a run like SIGINT: the cases that finished
 * are reported, the rest are "not run: interrupted", exit 4. A harness killed
 * outright takes its children with it. */
START_TEST(sighup_reports_and_no_child_outlives)
{
    struct tm_proc p;
    start(&p, "run", "--scenarios", scen, "--report", report, "--repeat", "200", NULL);
    wait_first_case(&p);
    kill(p.pid, SIGHUP);
    int rc = finish(&p, 60);
    char *o = output();
    ck_assert_msg(rc == 4 && strstr(o, "interrupted"), "exit %d\n%.3000s", rc, o);
    free(o);
    ck_assert(exists(report, "run.json") && exists(report, "junit.xml"));

    start(&p, "run", "--scenarios", scen, "--report", report, "--repeat", "200", NULL);
    wait_first_case(&p);
    pid_t kids[16];
    int n = children_of(p.pid, kids, 16);
    ck_assert_msg(n >= 2, "expected a camera and a peer, found %d children", n);
    kill(p.pid, SIGKILL);
    finish(&p, 10);
    tm_ms until = tm_deadline_in(5000);
    for (int i = 0; i < n; i++) {
        while (kill(kids[i], 0) == 0 && !tm_expired(until))
            tm_sleep_ms(20);
        ck_assert_msg(kill(kids[i], 0) != 0, "child %d outlived the harness", (int)kids[i]);
    }
}
END_TEST

/* A report directory removed under a run stops it at once (exit 2) instead of
 * running every case into nowhere; the finished cases are named. */
START_TEST(report_dir_removed_stops_the_run)
{
    struct tm_proc p;
    start(&p, "run", "--scenarios", scen, "--report", report, "--repeat", "200", NULL);
    wait_first_case(&p);
    char cmd[400];
    /* rm may race the bundle the run is writing and leave that behind: the files
     * go first, the lock file among them, and that is what the run notices. */
    snprintf(cmd, sizeof cmd, "rm -rf '%s' 2>/dev/null", report);
    if (system(cmd) != 0)
        fprintf(stderr, "rm -rf raced the run's writes (expected now and then)\n");
    int rc = finish(&p, 60);
    char *o = output();
    ck_assert_msg(rc == 2 && strstr(o, "was removed during the run")
                  && strstr(o, "results of these cases are lost") && strstr(o, "ci-client-ok/"),
                  "exit %d\n%.3000s", rc, o);
    ck_assert_msg(strstr(o, "[400/400]") == NULL, "the run went on\n%.3000s", o);
    free(o);
}
END_TEST

/* A full disk (a small tmpfs; needs root) stops the run at its first write error
 * with exit 2; what finished is reported where space allows, or named; the
 * progress counter never passes its total. */
START_TEST(disk_full_stops_and_keeps_what_finished)
{
    char mnt[400];
    snprintf(mnt, sizeof mnt, "%s/small", tmpdir);
    ck_assert_int_eq(tm_mkdirs(mnt, 0755, NULL), 0);
    if (geteuid() != 0 || mount("tmpfs", mnt, "tmpfs", 0, "size=256k") != 0) {
        fprintf(stderr, "disk-full test skipped: cannot mount a tmpfs (%s)\n", strerror(errno));
        return;
    }
    char dir[500];
    snprintf(dir, sizeof dir, "%s/report", mnt);
    int rc = tlsmatrix(120, "run", "--scenarios", scen, "--report", dir, "--repeat", "500", NULL);
    char *o = output();
    int reported = exists(dir, "run.json") && exists(dir, "junit.xml");
    int named = strstr(o, "results of these cases are lost") != NULL;
    umount2(mnt, MNT_DETACH);
    ck_assert_msg(rc == 2 && strstr(o, "No space left on device") && strstr(o, "stopping the run"),
                  "exit %d\n%.3000s", rc, o);
    ck_assert_msg(reported || named, "neither reports nor the lost cases\n%.3000s", o);
    /* Every progress line [done/total] has done <= total. */
    for (const char *l = strchr(o, '['); l != NULL; l = strchr(l + 1, '[')) {
        unsigned done, total;
        if (sscanf(l, "[%u/%u]", &done, &total) == 2)
            ck_assert_msg(done <= total, "progress %u/%u\n%.3000s", done, total, o);
    }
    ck_assert_msg(strstr(o, "[1000/1000]") == NULL, "the run went on\n%.3000s", o);
    free(o);
}
END_TEST

/* A tlspeer the run started whose command line holds mark, or -1. */
static pid_t find_peer(pid_t harness, const char *mark)
{
    pid_t kids[16];
    int n = children_of(harness, kids, 16);
    for (int i = 0; i < n; i++) {
        char p[64], *cmd = NULL;
        size_t len = 0;
        snprintf(p, sizeof p, "/proc/%d/cmdline", (int)kids[i]);
        if (tm_read_file(p, (unsigned char **)&cmd, &len, NULL) != 0)
            continue;
        for (size_t k = 0; k + 1 < len; k++)   /* NUL-separated arguments */
            if (cmd[k] == '\0')
                cmd[k] = ' ';
        int match = strstr(cmd, "tlspeer") != NULL && strstr(cmd, mark) != NULL;
        free(cmd);
        if (match)
            return kids[i];
    }
    return -1;
}

/* --case-timeout bounds the whole case, the peer's shutdown included: a peer that
 * never answers and never gives up by itself (its stall and its own --timeout last
 * ten minutes) is stopped by the harness at the case deadline. Only that bound can
 * end the case, so the outcome does not depend on speed: the device times out at
 * its own deadline (the case's minus 3 s), the harness kills the peer and says so,
 * the case is judged once. The 60 s limit on the run is only a hang guard. */
START_TEST(case_timeout_bounds_the_peer)
{
    char file[400], run_path[400];
    put(tmpdir, "ci-peer-hung.yaml",
        "name: ci-peer-hung\n"
        "doc: the peer accepts and then hangs for ten minutes; only the case deadline ends it\n"
        "tags: [client]\n"
        "device: {role: client, layer: tls, verify: required, ca: [\"{kt}-root.der\"],\n"
        "         server_hostname: test.local}\n"
        "peer: {cert: [\"{kt}-server.der\"], key: \"{kt}-server.key.der\",\n"
        "       misbehave: \"stall:600000\", args: [--timeout, \"600000\"]}\n"
        "axes: {backend: [openssl], keytype: [p256], proto: [tls]}\n"
        "expect: {device: timeout, peer: timeout}\n");
    snprintf(file, sizeof file, "%s/ci-peer-hung.yaml", tmpdir);
    int rc = tlsmatrix(60, "run", "--scenarios", file, "--report", report, "--case-timeout",
                       "5000", "--retries", "1", NULL);
    snprintf(run_path, sizeof run_path, "%s/run.json", report);
    json_t *run = json_load_file(run_path, 0, NULL);
    char *o = output();
    ck_assert_msg(rc == 0 && run != NULL, "exit %d\n%.3000s", rc, o);
    const json_t *c = json_array_get(json_object_get(run, "cases"), 0);
    ck_assert_msg(strcmp(json_string_value(json_object_get(c, "verdict")), "pass") == 0,
                  "%s\n%.3000s", json_string_value(json_object_get(c, "reason")), o);
    const json_t *actual = json_object_get(c, "actual");
    ck_assert_str_eq(json_string_value(json_object_get(actual, "device")), "timeout");
    ck_assert_str_eq(json_string_value(json_object_get(actual, "peer")), "timeout");
    /* The peer's result is the harness's note, not tlspeer's own line. */
    const char *note = json_string_value(json_object_get(json_object_get(c, "peer_result"),
                                                         "harness_note"));
    ck_assert_msg(note != NULL && strstr(note, "tlspeer reported nothing before the deadline; "
                                               "killed") != NULL, "peer note: %s",
                  note ? note : "(none: tlspeer answered by itself)");
    ck_assert_int_eq(json_integer_value(json_object_get(c, "attempts")), 1);
    ck_assert(json_is_false(json_object_get(c, "flaky")));
    free(o);
    json_decref(run);
}
END_TEST

/* A peer that stops answering (SIGSTOP) is the harness's error, within the case
 * deadline, and retried like any infrastructure error, never a device verdict.
 * Placed by events, not by speed: the peer never answers on its own (its stall
 * and its own --timeout outlast the case), so the device's timeout is the
 * expected result of every attempt that the test leaves alone, and the test has
 * the whole first attempt to stop its peer; the retry passes however slow the
 * machine is. The run's 60 s limit is only a hang guard. */
START_TEST(stopped_peer_is_an_infrastructure_error)
{
    char file[400], run_path[400];
    put(tmpdir, "ci-peer-mute.yaml",
        "name: ci-peer-mute\n"
        "doc: the peer accepts and never answers; the device times out\n"
        "tags: [client]\n"
        "device: {role: client, layer: tls, verify: required, ca: [\"{kt}-root.der\"],\n"
        "         server_hostname: test.local}\n"
        "peer: {cert: [\"{kt}-server.der\"], key: \"{kt}-server.key.der\",\n"
        "       misbehave: \"stall:600000\", args: [--timeout, \"600000\"]}\n"
        "axes: {backend: [openssl], keytype: [p256], proto: [tls]}\n"
        "expect: {device: timeout, peer: \"*\"}\n");
    snprintf(file, sizeof file, "%s/ci-peer-mute.yaml", tmpdir);
    struct tm_proc p;
    start(&p, "run", "--scenarios", file, "--report", report, "--retries", "1",
          "--case-timeout", "5000", NULL);
    pid_t peer = -1;
    tm_ms until = tm_deadline_in(30000);
    while (peer < 0 && !tm_expired(until) && tm_proc_wait(&p, tm_deadline_in(10)) != 0)
        peer = find_peer(p.pid, "stall:600000");
    ck_assert_msg(peer > 0, "no mute peer seen");
    kill(peer, SIGSTOP);
    int rc = finish(&p, 60);
    snprintf(run_path, sizeof run_path, "%s/run.json", report);
    json_t *run = json_load_file(run_path, 0, NULL);
    char *o = output();
    ck_assert_msg(rc == 0 && run != NULL, "exit %d\n%.3000s", rc, o);
    const json_t *kept = json_array_get(json_object_get(run, "cases"), 0);
    const json_t *first = json_object_get(kept, "previous_attempt");
    ck_assert_msg(first != NULL, "no retry\n%.3000s", o);
    ck_assert_str_eq(json_string_value(json_object_get(first, "verdict")), "error");
    ck_assert_msg(strstr(json_string_value(json_object_get(first, "reason")),
                         "peer stopped answering") != NULL, "%s",
                  json_string_value(json_object_get(first, "reason")));
    ck_assert_str_eq(json_string_value(json_object_get(kept, "verdict")), "pass");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(kept, "actual"), "device")),
                     "timeout");
    ck_assert_int_eq(json_integer_value(json_object_get(kept, "attempts")), 2);
    ck_assert(json_is_true(json_object_get(kept, "flaky")));
    free(o);
    json_decref(run);
}
END_TEST

int main(void)
{
    if (hk_skip_unless_built() != 0)
        return 77;
    Suite *s = suite_create("harness_ci");
    TCase *tc = tcase_create("ci");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 150);
    tcase_add_test(tc, setup_errors_exit_2_before_any_device);
    tcase_add_test(tc, all_skipped_is_not_green);
    tcase_add_test(tc, report_dir_never_clobbered);
    tcase_add_test(tc, replay_keeps_its_evidence);
    tcase_add_test(tc, diff_and_merge_refuse_partial_results);
    tcase_add_test(tc, device_stderr_reaches_the_user);
    tcase_add_test(tc, sighup_reports_and_no_child_outlives);
    tcase_add_test(tc, report_dir_removed_stops_the_run);
    tcase_add_test(tc, disk_full_stops_and_keeps_what_finished);
    tcase_add_test(tc, case_timeout_bounds_the_peer);
    tcase_add_test(tc, stopped_peer_is_an_infrastructure_error);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
