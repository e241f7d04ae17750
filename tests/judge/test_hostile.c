/* Hostile input to the judge's readers (scenario files, profiles, the YAML layer
 * under them) and to what prints device text: each case here crashed, blew up,
 * blocked, read outside the fixtures, leaked garbage or was silently accepted
 * before it was refused. Every refusal names FILE:LINE. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "classify/classify.h"
#include "profile/profile.h"
#include "runner/runner_internal.h"
#include "scenario/scenario.h"
#include "judge_dir.h"
#include "tm_fs.h"
#include "tm_yaml.h"

/* The errors of loading directory sub, one string per bad file. */
static json_t *load_errors(const char *sub, size_t *nscen)
{
    const char *paths[] = { jd_subdir(sub) };
    json_t *errors = json_array();
    json_t *sc = scenario_load_all(paths, 1, errors);
    *nscen = json_array_size(sc);
    json_decref(sc);
    return errors;
}

/* "name: x" + body: a scenario that is fine except for what body adds. */
#define SCEN(body) "name: x\ndoc: d\n" body "expect: {device: ok}\n"

static const struct {
    const char *what, *text, *want;
} k_hostile[] = {
    { "alias cycle", SCEN("device:\n  options: &a {x: *a}\n"),
      "x.yaml:4: an alias refers to a node that contains it" },
    { "deep nesting", NULL, "x.yaml:66: nested deeper than 64 levels" },
    { "alias bomb", NULL, "aliases expand to more than 100000 nodes" },
    { "second document", SCEN("device: {}\n") "---\nname: y\n",
      "x.yaml:5: a second YAML document (one per file)" },
    { "NUL in a string", "name: x\ndoc: \"d\\0zz\"\ndevice: {}\nexpect: {device: ok}\n",
      "x.yaml:2: a NUL character in a string" },
    { "duplicate key", SCEN("device:\n  role: client\n  role: server\n"),
      "x.yaml:5: duplicate key 'role' (first at line 4)" },
    { "complex key", SCEN("device: {? [a]: b}\n"),
      "x.yaml:3: a mapping key must be a plain string, not a list" },
    { "chain item without key", SCEN("device:\n  role: server\n  chain: [{cert: a.der}]\n"),
      "x.yaml:5: field 'chain': item without 'key'" },
    { "proxy drop -5", SCEN("device: {}\nproxy: {drop: -5}\naxes: {proto: dtls}\n"),
      "x.yaml:4: proxy.drop: expected a number 0..1" },
    { "proxy drop banana", SCEN("device: {}\nproxy: {drop: banana}\naxes: {proto: dtls}\n"),
      "x.yaml:4: proxy.drop: expected a number 0..1" },
    { "proxy drop 1e308", SCEN("device: {}\nproxy: {drop: 1e308}\naxes: {proto: dtls}\n"),
      "x.yaml:4: proxy.drop: expected a number 0..1" },
    { "proxy mtu", SCEN("device: {}\nproxy: {mtu: 70000}\naxes: {proto: dtls}\n"),
      "x.yaml:4: proxy.mtu: expected an integer 0..65535" },
    { "ca: 5", SCEN("device: {ca: 5}\n"), "x.yaml:3: field 'ca': '5' is not a fixture file name" },
    { "fixture outside", SCEN("device: {ca: ['../../../../etc/passwd']}\n"),
      "x.yaml:3: field 'ca': '../../../../etc/passwd' is not a fixture file name" },
    { "absolute peer cert", SCEN("device: {}\npeer: {cert: /etc/passwd.pem}\n"),
      "x.yaml:4: field 'cert': '/etc/passwd.pem' is not a fixture file name" },
    { "unknown placeholder", SCEN("device: {ca: ['{zz}.der']}\n"),
      "x.yaml:3: field 'ca': '{zz}.der' has an unknown placeholder" },
    { "name with a newline", "name: \"x\\ny\"\ndoc: d\ndevice: {}\nexpect: {device: ok}\n",
      "x.yaml:1: name 'x\\x0ay' does not match" },
    { "long line", NULL, "x.yaml:3: line longer than 4096 bytes" },
};

static char *deep_text(void)
{
    size_t n = 50000;
    char *t = malloc(4 * n + 100), *o = t;
    o += sprintf(o, "name: x\ndoc: d\ndevice:\n  options:\n    x: [\n");
    for (size_t i = 1; i < n; i++)
        o += sprintf(o, "[\n");
    for (size_t i = 0; i < n; i++)
        o += sprintf(o, "]\n");
    sprintf(o, "expect: {device: ok}\n");
    return t;
}

/* 9 levels of 9 aliases each: 9^9 nodes once expanded, from under 1 KB. */
static char *bomb_text(void)
{
    char *t = malloc(4096), *o = t;
    o += sprintf(o, "name: x\ndoc: d\ndevice:\n  options:\n    a0: &a0 [x,x,x,x,x,x,x,x,x]\n");
    for (int i = 1; i < 10; i++) {
        o += sprintf(o, "    a%d: &a%d [", i, i);
        for (int k = 0; k < 9; k++)
            o += sprintf(o, "%s*a%d", k ? "," : "", i - 1);
        o += sprintf(o, "]\n");
    }
    sprintf(o, "expect: {device: ok}\n");
    return t;
}

static char *long_line_text(void)
{
    char *t = malloc(6000);
    int n = sprintf(t, "name: x\ndoc: d\ndevice: {server_hostname: ");
    memset(t + n, 'a', 5000);
    sprintf(t + n + 5000, "}\nexpect: {device: ok}\n");
    return t;
}

START_TEST(hostile_scenarios)
{
    char sub[32];
    snprintf(sub, sizeof sub, "h%d", _i);
    char *own = !strcmp(k_hostile[_i].what, "deep nesting") ? deep_text()
                : !strcmp(k_hostile[_i].what, "alias bomb") ? bomb_text()
                : !strcmp(k_hostile[_i].what, "long line") ? long_line_text() : NULL;
    const char *text = own ? own : k_hostile[_i].text;
    jd_put_len(sub, "x.yaml", text, strlen(text));
    if (strstr(k_hostile[_i].what, "NUL") != NULL)   /* the bytes \0, as YAML spells it */
        ck_assert_ptr_nonnull(strstr(text, "\\0"));
    free(own);
    size_t n;
    json_t *errors = load_errors(sub, &n);
    ck_assert_msg(n == 0, "%s: accepted", k_hostile[_i].what);
    ck_assert_int_eq(json_array_size(errors), 1);
    const char *e = json_string_value(json_array_get(errors, 0));
    ck_assert_msg(strstr(e, k_hostile[_i].want) != NULL, "%s: got '%s', want '%s'",
                  k_hostile[_i].what, e, k_hostile[_i].want);
    ck_assert_msg(strchr(e, '\n') == NULL, "%s: a two-line message: %s", k_hostile[_i].what, e);
    json_decref(errors);
}
END_TEST

/* A FIFO and a directory named like scenario files: refused at once, by kind
 * (the FIFO used to block the loader forever; this test then hits its timeout). */
START_TEST(special_files)
{
    char path[600];
    snprintf(path, sizeof path, "%s/z.yaml", jd_subdir("special"));
    ck_assert_int_eq(mkfifo(path, 0644), 0);
    snprintf(path, sizeof path, "%s/y.yaml", jd_subdir("special"));
    ck_assert_int_eq(mkdir(path, 0755), 0);
    size_t n;
    json_t *errors = load_errors("special", &n);
    ck_assert_int_eq(json_array_size(errors), 2);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_array_get(errors, 0)),
                                 "y.yaml: is a directory, not a regular file"));
    ck_assert_ptr_nonnull(strstr(json_string_value(json_array_get(errors, 1)),
                                 "z.yaml: is a FIFO, not a regular file"));
    json_decref(errors);
    /* A file over the size limit is refused before it is parsed. */
    char *big = malloc(TM_YAML_MAX_BYTES + 2);
    memset(big, '#', TM_YAML_MAX_BYTES + 1);
    big[TM_YAML_MAX_BYTES + 1] = '\0';
    for (size_t i = 100; i < TM_YAML_MAX_BYTES; i += 100)
        big[i] = '\n';
    jd_put("big", "x.yaml", big);
    free(big);
    errors = load_errors("big", &n);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_array_get(errors, 0)),
                                 "more than the limit of 1048576"));
    json_decref(errors);
}
END_TEST

/* An empty directory: no cases, and (ASan/UBSan build) no qsort(NULL, 0). */
START_TEST(empty_catalog)
{
    size_t n;
    json_t *errors = load_errors("empty", &n);
    ck_assert_int_eq(n, 0);
    json_decref(errors);
    json_t *none = json_array();
    struct tm_err err = { 0 };
    size_t count = 7;
    struct scenario_ref *refs = scenario_refs(none, &count, &err);
    ck_assert_ptr_nonnull(refs);
    ck_assert_int_eq(count, 0);
    free(refs);
    json_t *cases = scenario_expand(none, &err);
    ck_assert_int_eq(json_array_size(cases), 0);
    json_decref(cases);
    json_decref(none);
}
END_TEST

/* Fixture names are checked against the fixture set's manifest, per axis value. */
START_TEST(unknown_fixtures)
{
    jd_put("fx", "a.yaml", "name: a\ndoc: d\ndevice:\n  ca: ['{kt}-root.der']\n"
        "axes: {keytype: [p256, p384]}\nexpect: {device: ok}\n");
    jd_put("fx", "b.yaml", "name: b\ndoc: d\ndevice:\n  role: server\n"
        "  chain: [{cert: p256-root.der, key: nope.der}]\nexpect: {device: ok}\n");
    jd_put("fx", "c.yaml", "name: c\ndoc: d\ndevice: {ca: [p256-root.der]}\nexpect: {device: ok}\n");
    const char *paths[] = { jd_subdir("fx") };
    json_t *errors = json_array();
    json_t *sc = scenario_load_all(paths, 1, errors);
    ck_assert_int_eq(json_array_size(errors), 0);
    json_t *m = json_loads("{\"certs\":[{\"files\":{\"der\":\"p256-root.der\"}}]}", 0, NULL);
    scenario_check_fixtures(sc, m, "MANIFEST", errors);
    ck_assert_int_eq(json_array_size(errors), 2);
    const char *e0 = json_string_value(json_array_get(errors, 0));
    const char *e1 = json_string_value(json_array_get(errors, 1));
    ck_assert_msg(strstr(e0, "a.yaml:4: unknown fixture '{kt}-root.der' (MANIFEST lists no "
                             "'p384-root.der')") != NULL, "%s", e0);
    ck_assert_msg(strstr(e1, "b.yaml:5: unknown fixture 'nope.der'") != NULL, "%s", e1);
    json_decref(m);
    json_decref(sc);
    json_decref(errors);
}
END_TEST

START_TEST(profile_globs)
{
    jd_put("prof", "p.yaml", "name: p\ndoc: d\nxfail:\n  - case: \"client-*\"\n    reason: r\n"
        "  - case: \"[[[\"\n    reason: never matches\n");
    char path[600];
    snprintf(path, sizeof path, "%s/prof/p.yaml", jd_dir());
    struct tm_err err = { 0 };
    ck_assert_ptr_null(profile_load(path, &err));
    ck_assert_msg(strstr(err.msg, "p.yaml:6: xfail case '[[[': '[' without a closing ']'") != NULL,
                  "%s", err.msg);
    jd_put("prof", "q.yaml",
        "name: q\ndoc: d\nxfail:\n  - case: \"[a-c]*/openssl/*\"\n    reason: r\n");
    snprintf(path, sizeof path, "%s/prof/q.yaml", jd_dir());
    json_t *p = profile_load(path, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    ck_assert_ptr_nonnull(profile_xfail_for(p, "b-x/openssl/p256/tls"));
    json_decref(p);
}
END_TEST

/* Leaves non-zero garbage where classify_verdict's locals will be. */
static __attribute__((noinline)) void dirty_stack(void)
{
    volatile char junk[4096];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(0x70 + (i % 13));
}

/* A negative expectation met with evidence: the reason is the one line saying so
 * (it used to be the uninitialised buffer handshake_reached() did not write). */
START_TEST(reason_after_evidence)
{
    json_t *expected = json_loads("{\"device\":[\"verify-failed:hostname\"],"
                                  "\"peer\":[\"alert-received:bad_certificate\"]}", 0, NULL);
    json_t *reply = json_pack("{s:s}", "stage", "handshake");
    json_t *peer = json_pack("{s:s}", "handshake", "failed");
    char reason[512];
    dirty_stack();
    const char *v = classify_verdict(expected, "verify-failed:hostname",
                                     "alert-received:bad_certificate", reply, peer, NULL, reason,
                                     sizeof reason);
    ck_assert_str_eq(v, "pass");
    ck_assert_str_eq(reason, "device verify-failed:hostname, peer alert-received:bad_certificate, "
                             "as expected");
    json_decref(expected);
    json_decref(reply);
    json_decref(peer);
}
END_TEST

/* Found by fuzz_classify: an OSError text whose code saturates at LONG_MIN. */
START_TEST(device_code_long_min)
{
    json_t *r = json_loads("{\"id\":1,\"outcome\":\"error\",\"exc\":{\"type\":\"OSError\","
                           "\"args\":[],\"text\":\"(-611841111111111111111111111, 'X')\"}}", 0,
                           NULL);
    char *c = classify_device(r);
    ck_assert_str_eq(c, "error:unknown-0x8000000000000000");
    free(c);
    json_decref(r);
}
END_TEST

START_TEST(printable)
{
    char out[128];
    ck_assert_str_eq(tm_printable("OSError\033]0;pwn\007\033[31m", out, sizeof out),
                     "OSError\\x1b]0;pwn\\x07\\x1b[31m");
    ck_assert_str_eq(tm_printable("a\xc2\x9b" "1m b\x9b", out, sizeof out), "a\\xc2\\x9b1m b\\x9b");
    ck_assert_str_eq(tm_printable("→ ok é", out, sizeof out), "→ ok é");
    ck_assert_str_eq(tm_printable("\033\033\033\033", out, 9), "\\x1b\\x1b");
}
END_TEST

/* The progress line of a case whose reason carries the device's exception text:
 * no escape byte reaches stderr. */
START_TEST(progress_line_is_printable)
{
    char path[600];
    snprintf(path, sizeof path, "%s/progress.txt", jd_subdir("prog"));
    fflush(stderr);
    int saved = dup(2), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    dup2(fd, 2);
    struct progress p;
    progress_start(&p, 1, 1);
    json_t *rec = json_pack("{s:s, s:s, s:s, s:{s:i}}", "id", "c\033[2J/openssl/p256/tls",
                            "verdict", "fail", "reason",
                            "device error:\033]0;owned\007\033[31mOSError", "timings_ms",
                            "total", 5);
    progress_current(&p, "c\033[2J/openssl/p256/tls");
    progress_case(&p, rec);
    progress_end(&p);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    json_decref(rec);
    unsigned char *text = NULL;
    size_t len = 0;
    ck_assert_int_eq(tm_read_file(path, &text, &len, NULL), 0);
    ck_assert_ptr_nonnull(strstr((char *)text, "\\x1b]0;owned\\x07"));
    ck_assert_ptr_null(memchr(text, 0x07, len));
    ck_assert_ptr_null(memchr(text, 0x1b, len));   /* not a TTY: no live line of ours */
    free(text);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("hostile");
    TCase *t = tcase_create("inputs");
    tcase_add_unchecked_fixture(t, jd_setup, jd_teardown);
    tcase_set_timeout(t, 20);
    tcase_add_loop_test(t, hostile_scenarios, 0, sizeof k_hostile / sizeof *k_hostile);
    tcase_add_test(t, special_files);
    tcase_add_test(t, empty_catalog);
    tcase_add_test(t, unknown_fixtures);
    tcase_add_test(t, profile_globs);
    tcase_add_test(t, reason_after_evidence);
    tcase_add_test(t, device_code_long_min);
    tcase_add_test(t, printable);
    tcase_add_test(t, progress_line_is_printable);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
