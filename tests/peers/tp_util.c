#include "tp_util.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tm_fs.h"
#include "tm_time.h"

/* One directory per suite, made and removed by the unchecked fixture in the
 * parent: the PKI and every test's own directory live in it, so a test that
 * fails (check ends its child with _exit, skipping any cleanup) leaves nothing. */
static char suite_dir[512];
static char pki_dir[600];
static char test_dir[640];   /* per test, in the forked child */

static void rm_rf(const char *dir)
{
    if (dir[0] != '\0')
        tm_rmtree(dir, NULL);
}

static void make_dir(char *out, size_t cap, const char *parent, const char *tag)
{
    snprintf(out, cap, "%s/%s-XXXXXX", parent, tag);
    ck_assert_msg(mkdtemp(out) != NULL, "mkdtemp %s", out);
}

void tp_pki_setup(void)
{
    char ref[32];
    const char *tmp = getenv("TMPDIR");
    make_dir(suite_dir, sizeof suite_dir, tmp && *tmp ? tmp : "/tmp", "tlspeer");
    make_dir(pki_dir, sizeof pki_dir, suite_dir, "pki");
    snprintf(ref, sizeof ref, "%lld", (long long)tm_wall_s());
    char *argv[] = {TM_BIN_DIR "/pkigen", "--desc", TM_SOURCE_DIR "/fixtures/certs/pki.yaml",
                    "--out", pki_dir, "--ref-time", ref,
                    "--only", "p256-server", "--only", "p256-client",
                    "--only", "p256-server-untrusted", "--only", "p256-server-sha1", NULL};
    struct tm_proc p;
    struct tm_err err;
    if (tm_proc_spawn(&p, argv, NULL, &err) < 0 || tm_proc_wait(&p, tm_deadline_in(20000)) != 0 ||
        tm_proc_exit_code(&p) != 0) {
        fprintf(stderr, "pkigen failed (%s)\n", err.msg);
        tm_proc_stop(&p, 100);
        rm_rf(suite_dir);
        exit(99);   /* harness error, not a test failure */
    }
}

void tp_pki_teardown(void)
{
    rm_rf(suite_dir);
}

void tp_dir_setup(void)
{
    make_dir(test_dir, sizeof test_dir, suite_dir, "test");
}

void tp_dir_teardown(void)
{
    rm_rf(test_dir);
}

const char *tp_dir(void)
{
    return test_dir;
}

const char *tp_pki(const char *name)
{
    static char ring[32][640];
    static int next;
    char *b = ring[next++ % 32];
    snprintf(b, sizeof ring[0], "%s/%s", pki_dir, name);
    return b;
}

static void print_stderr(const struct tp_proc *p)
{
    unsigned char *text = NULL;
    size_t len = 0;
    if (tm_read_file(p->err_path, &text, &len, NULL) == 0 && len > 0)
        fprintf(stderr, "--- stderr of pid %d:\n%s\n", (int)p->proc.pid, (char *)text);
    free(text);
}

void tp_tool_start(struct tp_proc *p, const char *const argv[])
{
    static int seq;
    struct tm_err err;
    memset(p, 0, sizeof *p);
    snprintf(p->err_path, sizeof p->err_path, "%.400s/stderr-%d", test_dir, seq++);
    ck_assert_msg(tm_proc_spawn(&p->proc, (char *const *)argv, p->err_path, &err) == 0,
                  "spawn %s: %s", argv[0], err.msg);
    tm_lines_init(&p->lines, p->proc.out_fd, 1 << 20);
}

void tp_peer_spawn(struct tp_proc *p, const char *const args[], int port)
{
    const char *argv[64] = {TLSPEER};
    char hostport[64], *owned[64] = {0};
    int n = 1;
    for (int i = 0; args[i] != NULL && n < 62; i++) {
        const char *at = strstr(args[i], "PORT");
        if (at == NULL) {
            argv[n++] = args[i];
            continue;
        }
        snprintf(hostport, sizeof hostport, "%.*s%d%s", (int)(at - args[i]), args[i], port, at + 4);
        owned[n] = strdup(hostport);
        argv[n] = owned[n];
        n++;
    }
    argv[n] = NULL;
    tp_tool_start(p, argv);
    for (int i = 0; i < n; i++)
        free(owned[i]);
}

void tp_peer_start(struct tp_proc *p, const char *const args[], int port)
{
    tp_peer_spawn(p, args, port);
    int is_server = 0;
    for (int i = 0; args[i] != NULL; i++)
        is_server |= strcmp(args[i], "server") == 0;
    if (!is_server)
        return;
    char *line = NULL;
    struct tm_err err;
    int rc = tm_lines_read(&p->lines, tm_deadline_in(TP_WAIT_MS), &line, &err);   /* a hang guard */
    if (rc != 1)
        print_stderr(p);
    ck_assert_msg(rc == 1, "no ready line from the server");
    json_t *j = json_loads(line, 0, NULL);
    ck_assert_msg(j != NULL, "ready line is not JSON: %s", line);
    tp_expect_str(j, "event", "ready");
    tp_expect_str(j, "addr", "127.0.0.1");
    p->port = (int)json_integer_value(json_object_get(j, "port"));
    ck_assert_int_gt(p->port, 0);
    json_decref(j);
    free(line);
}

json_t *tp_peer_result(struct tp_proc *p, int timeout_ms)
{
    tm_ms deadline = tm_deadline_in(timeout_ms);
    json_t *res = NULL;
    for (;;) {   /* bounded by the deadline */
        char *line = NULL;
        struct tm_err err;
        int rc = tm_lines_read(&p->lines, deadline, &line, &err);
        if (rc != 1)
            break;
        json_t *j = json_loads(line, 0, NULL);
        free(line);
        if (j && strcmp(tp_str(j, "event"), "result") == 0) {
            res = j;
            break;
        }
        json_decref(j);
    }
    if (res == NULL)
        print_stderr(p);
    ck_assert_msg(res != NULL, "no result line from tlspeer within %d ms", timeout_ms);
    ck_assert_msg(tm_proc_wait(&p->proc, deadline) == 0, "tlspeer did not exit");
    ck_assert_int_eq(tm_proc_exit_code(&p->proc), 0);
    tp_proc_end(p);
    return res;
}

void tp_pair(const char *const srv[], const char *const cli[], json_t **sres, json_t **cres)
{
    struct tp_proc s, c;
    tp_peer_start(&s, srv, 0);
    tp_peer_start(&c, cli, s.port);
    *cres = tp_peer_result(&c, TP_WAIT_MS);
    *sres = tp_peer_result(&s, TP_WAIT_MS);
}

int tp_tool_wait_line(struct tp_proc *p, const char *needle, int timeout_ms, char **out)
{
    tm_ms deadline = tm_deadline_in(timeout_ms);
    for (;;) {   /* bounded by the deadline */
        char *line = NULL;
        struct tm_err err;
        if (tm_lines_read(&p->lines, deadline, &line, &err) != 1)
            return 0;
        if (strstr(line, needle) != NULL) {
            if (out)
                *out = line;
            else
                free(line);
            return 1;
        }
        free(line);
    }
}

char *tp_tool_output(struct tp_proc *p, int timeout_ms)
{
    tm_ms deadline = tm_deadline_in(timeout_ms);
    size_t len = 0;
    char *all = calloc(1, 1);
    for (;;) {   /* bounded by the deadline */
        char *line = NULL;
        struct tm_err err;
        if (tm_lines_read(&p->lines, deadline, &line, &err) != 1)
            break;
        size_t l = strlen(line);
        all = realloc(all, len + l + 2);
        memcpy(all + len, line, l);
        len += l;
        all[len++] = '\n';
        all[len] = '\0';
        free(line);
    }
    return all;
}

void tp_proc_end(struct tp_proc *p)
{
    if (!p->proc.exited)
        tm_proc_stop(&p->proc, 1000);
    tm_lines_free(&p->lines);
}

int tp_free_port(int type)
{
    int s = socket(AF_INET, type, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    getsockname(s, (struct sockaddr *)&a, &len);
    close(s);
    return ntohs(a.sin_port);
}

const char *tp_str(json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));
    return s ? s : "";
}

void tp_expect_str(json_t *j, const char *key, const char *want)
{
    json_t *v = json_object_get(j, key);
    char *dump = json_dumps(j, JSON_COMPACT);
    if (want == NULL)
        ck_assert_msg(json_is_null(v), "%s: want null in %s", key, dump);
    else
        ck_assert_msg(json_is_string(v) && strcmp(json_string_value(v), want) == 0,
                      "%s: want \"%s\" in %s", key, want, dump);
    free(dump);
}

void tp_expect_int(json_t *j, const char *key, long long want)
{
    json_t *v = json_object_get(j, key);
    char *dump = json_dumps(j, JSON_COMPACT);
    ck_assert_msg(json_is_integer(v) && json_integer_value(v) == want, "%s: want %lld in %s",
                  key, want, dump);
    free(dump);
}

void tp_expect_bool(json_t *j, const char *key, int want)
{
    json_t *v = json_object_get(j, key);
    char *dump = json_dumps(j, JSON_COMPACT);
    if (want < 0)
        ck_assert_msg(json_is_null(v), "%s: want null in %s", key, dump);
    else
        ck_assert_msg(json_is_boolean(v) && json_is_true(v) == (want != 0),
                      "%s: want %s in %s", key, want ? "true" : "false", dump);
    free(dump);
}

const char *tp_manifest_sha256(const char *name)
{
    static char sha[65];
    json_error_t jerr;
    json_t *m = json_load_file(tp_pki("manifest.json"), 0, &jerr);
    ck_assert_msg(m != NULL, "manifest.json: %s", jerr.text);
    json_t *certs = json_object_get(m, "certs"), *c;
    size_t i;
    sha[0] = '\0';
    json_array_foreach(certs, i, c) {
        if (strcmp(tp_str(c, "name"), name) == 0)
            snprintf(sha, sizeof sha, "%s", tp_str(c, "sha256"));
    }
    json_decref(m);
    ck_assert_msg(sha[0] != '\0', "%s not in manifest.json", name);
    return sha;
}

void tp_expect_cert(json_t *res, const char *name, int verified)
{
    json_t *pc = json_object_get(res, "peer_cert");
    char *dump = json_dumps(res, JSON_COMPACT);
    ck_assert_msg(json_is_object(pc), "peer_cert: want an object in %s", dump);
    free(dump);
    tp_expect_str(pc, "sha256", tp_manifest_sha256(name));
    tp_expect_bool(pc, "verified", verified);
    if (verified)
        tp_expect_str(pc, "verify_error", NULL);
    else
        ck_assert_msg(strlen(tp_str(pc, "verify_error")) > 0, "verify_error empty");
}
