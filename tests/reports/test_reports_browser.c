/* matrix.html in a real browser: headless Chromium driven over the DevTools protocol
 * (--remote-debugging-pipe: NUL-separated JSON on fds 3/4, so no WebSocket client is
 * needed). A real mouse click (Input.dispatchMouseEvent) on a matrix cell must open
 * that case's <details> with its transcript; the "#open=<case>" hash hook must do the
 * same on load; the page must raise no JavaScript exception. The sign-off parts: the
 * verdict banner, the "failures only" toggle (a real click) and a case's bundle link
 * (followed to the file). Exits 77 (skipped) when chromium is not installed. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report.h"
#include "run_fixture.h"
#include "tm_fs.h"
#include "tm_time.h"

#define CASE_CLICK "server-verify-none.gnutls.rsa2048.tls"  /* the error case */
#define CASE_HASH "client-chain-root-anchor.gnutls.p256.tls"
#define BUNDLE "server-verify-none_gnutls_rsa2048_tls"

static char *tmpdir;

static void setup(void)
{
    tmpdir = fixture_tmpdir("browser");
    if (tmpdir == NULL) {
        perror("mkdtemp");
        exit(99);
    }
}

/* A failed assertion ends the forked test at once, browser still running: the
 * parent kills its process group (pid noted in chromium.pid) before removing the
 * profile it writes to. */
static void teardown(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/chromium.pid", tmpdir);
    FILE *f = fopen(path, "r");
    long pid = 0;
    if (f != NULL) {
        if (fscanf(f, "%ld", &pid) == 1 && pid > 1)
            kill(-(pid_t)pid, SIGKILL);
        fclose(f);
        tm_sleep_ms(200);  /* let the killed group release the profile */
    }
    fixture_rmtree(tmpdir);
    free(tmpdir);
    tmpdir = NULL;
}

/* ---- a minimal CDP client over the pipe ---- */

struct cdp {
    pid_t pid;
    int to_fd, from_fd;
    char *buf;
    size_t len, cap;
    int next_id;
    tm_ms deadline;
    json_t *events;     /* events seen while waiting for replies */
    char log[512];      /* chromium's stderr */
};

static int start_chromium(struct cdp *b, const char *profile)
{
    int to[2], from[2];
    if (pipe2(to, O_CLOEXEC) != 0 || pipe2(from, O_CLOEXEC) != 0)
        return -1;
    snprintf(b->log, sizeof b->log, "%s/chromium.log", tmpdir);
    char udd[700];
    snprintf(udd, sizeof udd, "--user-data-dir=%s", profile);
    char *argv[] = {"chromium", "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--no-default-browser-check",
                    "--remote-debugging-pipe", udd, "about:blank", NULL};
    b->pid = fork();
    if (b->pid < 0)
        return -1;
    if (b->pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);  /* never outlive the test */
        /* chromium reads commands on fd 3 and writes replies on fd 4 */
        int r = fcntl(to[0], F_DUPFD, 10), w = fcntl(from[1], F_DUPFD, 10);
        int log = open(b->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int null = open("/dev/null", O_RDWR);
        if (r < 0 || w < 0 || log < 0 || null < 0 || dup2(r, 3) < 0 || dup2(w, 4) < 0 ||
            dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
            _exit(127);
        execvp(argv[0], argv);
        _exit(127);
    }
    setpgid(b->pid, b->pid);  /* also here: no race with the kill below */
    char pidfile[600];
    snprintf(pidfile, sizeof pidfile, "%s/chromium.pid", tmpdir);
    FILE *f = fopen(pidfile, "w");
    if (f != NULL) {
        fprintf(f, "%ld\n", (long)b->pid);
        fclose(f);
    }
    close(to[0]);
    close(from[1]);
    b->to_fd = to[1];
    b->from_fd = from[0];
    b->events = json_array();
    return 0;
}

/* Wait for the browser to exit (after Browser.close it shuts down by itself, and
 * must, or it keeps writing the profile while teardown removes it), then kill
 * whatever is left of its process group and reap every helper: the test process
 * is a child subreaper, so orphaned helpers are ours to reap. */
static void stop_chromium(struct cdp *b)
{
    if (b->pid > 0) {
        tm_ms d = tm_deadline_in(5000);
        int st;
        while (waitpid(b->pid, &st, WNOHANG) == 0 && !tm_expired(d))
            tm_sleep_ms(20);
        kill(-b->pid, SIGKILL);
        d = tm_deadline_in(5000);
        pid_t p;
        while ((p = waitpid(-1, &st, WNOHANG)) >= 0 && !tm_expired(d))
            if (p == 0)
                tm_sleep_ms(20);
    }
    if (b->to_fd >= 0)
        close(b->to_fd);
    if (b->from_fd >= 0)
        close(b->from_fd);
    free(b->buf);
    json_decref(b->events);
}

/* Next NUL-terminated message, or NULL on deadline/EOF. */
static json_t *cdp_read(struct cdp *b)
{
    for (;;) {
        char *nul = b->len ? memchr(b->buf, '\0', b->len) : NULL;
        if (nul != NULL) {
            size_t n = (size_t)(nul - b->buf);
            json_error_t e;
            json_t *msg = json_loadb(b->buf, n, 0, &e);
            memmove(b->buf, nul + 1, b->len - n - 1);
            b->len -= n + 1;
            ck_assert_msg(msg != NULL, "bad CDP message: %s", e.text);
            return msg;
        }
        struct pollfd p = {b->from_fd, POLLIN, 0};
        int rc = poll(&p, 1, (int)tm_remaining_ms(b->deadline));
        if (rc <= 0)
            return NULL;
        if (b->cap - b->len < 65536) {
            b->cap = b->cap * 2 + 65536;
            b->buf = realloc(b->buf, b->cap);
            ck_assert_ptr_nonnull(b->buf);
        }
        ssize_t got = read(b->from_fd, b->buf + b->len, b->cap - b->len);
        if (got <= 0 && errno != EINTR)
            return NULL;
        if (got > 0)
            b->len += (size_t)got;
    }
}

/* Send a command (params stolen) and wait for its result; events are queued. */
static json_t *cdp_call(struct cdp *b, const char *session, const char *method, json_t *params)
{
    int id = ++b->next_id;
    json_t *msg = json_pack("{s:i, s:s, s:o}", "id", id, "method", method, "params",
                            params ? params : json_object());
    if (session != NULL)
        json_object_set_new(msg, "sessionId", json_string(session));
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    size_t len = strlen(text) + 1;  /* the NUL is the frame separator */
    ck_assert_int_eq(write(b->to_fd, text, len), (ssize_t)len);
    free(text);
    for (;;) {
        json_t *m = cdp_read(b);
        ck_assert_msg(m != NULL, "no reply to %s before the deadline (see %s)", method, b->log);
        if (json_integer_value(json_object_get(m, "id")) == id) {
            json_t *err = json_object_get(m, "error");
            ck_assert_msg(err == NULL, "%s failed: %s", method,
                          json_string_value(json_object_get(err, "message")));
            json_t *result = json_incref(json_object_get(m, "result"));
            json_decref(m);
            return result;
        }
        json_array_append_new(b->events, m);
    }
}

/* Wait for an event by method (already queued or still to come). */
static void cdp_wait_event(struct cdp *b, const char *method)
{
    for (;;) {
        size_t i;
        json_t *e;
        json_array_foreach(b->events, i, e) {
            const char *m = json_string_value(json_object_get(e, "method"));
            if (m != NULL && strcmp(m, method) == 0) {
                json_array_remove(b->events, i);
                return;
            }
        }
        json_t *m = cdp_read(b);
        ck_assert_msg(m != NULL, "no %s before the deadline", method);
        json_array_append_new(b->events, m);
    }
}

/* Evaluate JS in the page; the value as JSON (caller decrefs). */
static json_t *eval(struct cdp *b, const char *session, const char *expr)
{
    json_t *r = cdp_call(b, session, "Runtime.evaluate",
                         json_pack("{s:s, s:b}", "expression", expr, "returnByValue", 1));
    json_t *exc = json_object_get(r, "exceptionDetails");
    ck_assert_msg(exc == NULL, "JS exception in %s", expr);
    json_t *v = json_incref(json_object_get(json_object_get(r, "result"), "value"));
    json_decref(r);
    return v;
}

static int eval_true(struct cdp *b, const char *session, const char *expr)
{
    json_t *v = eval(b, session, expr);
    int t = json_is_true(v);
    json_decref(v);
    return t;
}

static void navigate(struct cdp *b, const char *session, const char *url)
{
    json_decref(cdp_call(b, session, "Page.navigate", json_pack("{s:s}", "url", url)));
    cdp_wait_event(b, "Page.loadEventFired");
}

static void assert_no_js_errors(struct cdp *b)
{
    size_t i;
    json_t *e;
    json_array_foreach(b->events, i, e) {
        const char *m = json_string_value(json_object_get(e, "method"));
        ck_assert_msg(m == NULL || strcmp(m, "Runtime.exceptionThrown") != 0,
                      "the page threw a JavaScript exception");
    }
}

static void click(struct cdp *b, const char *session, double x, double y)
{
    static const char *const types[] = {"mouseMoved", "mousePressed", "mouseReleased"};
    for (int i = 0; i < 3; i++)
        json_decref(cdp_call(b, session, "Input.dispatchMouseEvent",
                             json_pack("{s:s, s:f, s:f, s:s, s:i}", "type", types[i], "x", x,
                                       "y", y, "button", i ? "left" : "none", "clickCount",
                                       i ? 1 : 0)));
}

START_TEST(t_click_opens_details)
{
    struct cdp b = {.to_fd = -1, .from_fd = -1};
    char dir[600], profile[600], url[700], expr[1024];
    struct tm_err err = { 0 };
    json_t *run = fixture_run();
    snprintf(dir, sizeof dir, "%s/report", tmpdir);
    snprintf(profile, sizeof profile, "%s/profile", tmpdir);
    /* One scenario without an unexpected result (for the toggle), and a bundle file
     * the clicked case links. */
    json_object_set_new(fixture_case(run, "dtls-cookie/gnutls/rsa2048/dtls"), "verdict",
                        json_string("pass"));
    json_object_set_new(fixture_case(run, "server-verify-none/gnutls/rsa2048/tls"), "bundle",
                        json_string("cases/" BUNDLE));
    report_update_totals(run);
    ck_assert_msg(report_write_all(run, NULL, dir, &err) == 0, "%s", err.msg);
    json_decref(run);
    char bpath[900];
    snprintf(bpath, sizeof bpath, "%s/cases/" BUNDLE, dir);
    ck_assert_int_eq(tm_mkdirs(bpath, 0755, NULL), 0);
    snprintf(bpath, sizeof bpath, "%s/cases/" BUNDLE "/serial.log", dir);
    ck_assert_int_eq(tm_write_file(bpath, "serial-log-of-the-case\n", 23, 0644, NULL), 0);
    snprintf(url, sizeof url, "file://%s/matrix.html", dir);

    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    ck_assert_int_eq(start_chromium(&b, profile), 0);
    b.deadline = tm_deadline_in(60000);   /* a hang guard: Chromium starts slowly on a loaded machine */
    json_t *r = cdp_call(&b, NULL, "Target.createTarget", json_pack("{s:s}", "url", "about:blank"));
    const char *target = json_string_value(json_object_get(r, "targetId"));
    ck_assert_ptr_nonnull(target);
    json_t *a = cdp_call(&b, NULL, "Target.attachToTarget",
                         json_pack("{s:s, s:b}", "targetId", target, "flatten", 1));
    const char *s = json_string_value(json_object_get(a, "sessionId"));
    ck_assert_ptr_nonnull(s);
    json_decref(cdp_call(&b, s, "Page.enable", NULL));
    json_decref(cdp_call(&b, s, "Runtime.enable", NULL));
    navigate(&b, s, url);

    /* the verdict comes first: red, with the unexpected count */
    ck_assert(eval_true(&b, s, "(function(){var v=document.getElementById('verdict');"
        "return v.classList.contains('bad') && v.innerText.indexOf('FAIL: 3 unexpected results "
        "of 8 cases')===0 && document.body.firstElementChild.nextElementSibling===v;})()"));
    ck_assert(eval_true(&b, s, "getComputedStyle(document.getElementById('verdict'))"
                               ".backgroundColor === 'rgb(185, 28, 28)'"));
    /* failures only: a real click on the box hides the row with no unexpected cell */
    ck_assert(eval_true(&b, s, "document.querySelectorAll('#matrix tbody tr:not([hidden])').length === 3"));
    json_t *box = eval(&b, s,
        "(function(){var c=document.getElementById('failures-only');c.scrollIntoView();"
        "var r=c.getBoundingClientRect();return {x:r.left+r.width/2,y:r.top+r.height/2};})()");
    click(&b, s, json_number_value(json_object_get(box, "x")), json_number_value(json_object_get(box, "y")));
    json_decref(box);
    ck_assert(eval_true(&b, s, "document.getElementById('failures-only').checked"));
    ck_assert(eval_true(&b, s, "(function(){var r=document.querySelectorAll('#matrix tbody tr');"
        "return r.length===3 && r[2].dataset.scenario==='dtls-cookie' && r[2].hidden && "
        "r[2].offsetParent===null && !r[0].hidden && !r[1].hidden;})()"));

    /* closed before the click */
    ck_assert(eval_true(&b, s, "document.getElementById('case-" CASE_CLICK "').open === false"));
    /* centre of the cell, scrolled into view, and the cell is what is there */
    json_t *pt = eval(&b, s,
        "(function(){var c=document.getElementById('cell-" CASE_CLICK "');"
        "c.scrollIntoView({block:'center'});var r=c.getBoundingClientRect();"
        "var x=r.left+r.width/2,y=r.top+r.height/2;"
        "return {x:x,y:y,hit:document.elementFromPoint(x,y)===c};})()");
    ck_assert(json_is_true(json_object_get(pt, "hit")));
    click(&b, s, json_number_value(json_object_get(pt, "x")), json_number_value(json_object_get(pt, "y")));
    json_decref(pt);
    ck_assert(eval_true(&b, s, "document.getElementById('case-" CASE_CLICK "').open === true"));
    ck_assert(eval_true(&b, s, "location.hash === '#open=" CASE_CLICK "'"));
    ck_assert(eval_true(&b, s, "document.getElementById('cell-" CASE_CLICK "').classList.contains('selected')"));
    /* the panel shows the transcript and the device string, as text */
    snprintf(expr, sizeof expr,
             "(function(){var d=document.getElementById('case-" CASE_CLICK "');"
             "var t=d.querySelector('pre.transcript[data-source=agent]');"
             "return t!==null && t.innerText.indexOf('Traceback (most recent call last):')===0"
             " && d.innerText.indexOf('<script>alert(1)</script>')>=0"
             " && document.querySelectorAll('script').length===1;})()");
    ck_assert(eval_true(&b, s, expr));
    /* other cases stay closed */
    ck_assert(eval_true(&b, s, "document.querySelectorAll('details.case[open]').length === 1"));
    /* its bundle link, clicked, shows the case's serial log */
    json_t *ln = eval(&b, s,
        "(function(){var a=document.getElementById('case-" CASE_CLICK "')"
        ".querySelector('a.bundle[data-file=\"serial.log\"]');"
        "a.scrollIntoView({block:'center'});var r=a.getBoundingClientRect();"
        "return {x:r.left+r.width/2,y:r.top+r.height/2,href:a.getAttribute('href')};})()");
    ck_assert_str_eq(json_string_value(json_object_get(ln, "href")), "cases/" BUNDLE "/serial.log");
    click(&b, s, json_number_value(json_object_get(ln, "x")), json_number_value(json_object_get(ln, "y")));
    json_decref(ln);
    cdp_wait_event(&b, "Page.loadEventFired");
    ck_assert(eval_true(&b, s, "location.pathname.endsWith('/cases/" BUNDLE "/serial.log') && "
                               "document.body.innerText.indexOf('serial-log-of-the-case')===0"));

    /* the hash hook opens another case on load */
    navigate(&b, s, "about:blank");
    snprintf(url, sizeof url, "file://%s/matrix.html#open=" CASE_HASH, dir);
    navigate(&b, s, url);
    ck_assert(eval_true(&b, s, "document.getElementById('case-" CASE_HASH "').open === true"));
    ck_assert(eval_true(&b, s, "document.getElementById('case-" CASE_CLICK "').open === false"));
    ck_assert(eval_true(&b, s, "document.getElementById('cell-" CASE_HASH "').classList.contains('selected')"));
    assert_no_js_errors(&b);
    json_decref(a);
    json_decref(r);
    json_decref(cdp_call(&b, NULL, "Browser.close", NULL));
    stop_chromium(&b);
}
END_TEST

static int have_chromium(void)
{
    const char *path = getenv("PATH");
    char *copy = strdup(path ? path : "/usr/bin:/bin"), *save = NULL;
    int found = 0;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char p[4096];
        snprintf(p, sizeof p, "%s/chromium", d);
        found = access(p, X_OK) == 0;
    }
    free(copy);
    return found;
}

int main(void)
{
    if (!have_chromium()) {
        fprintf(stderr, "chromium not installed (apt-get install chromium): skipped\n");
        return 77;
    }
    Suite *s = suite_create("reports-browser");
    TCase *tc = tcase_create("browser");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, t_click_opens_details);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
