/* A board in a nightly rack, without the hardware: `tlsmatrix` against the virtual
 * camera with a busy main.py (vcam --busy-main), and a serial: link to a board
 * behind usbsim, which moves it to a new pseudo-terminal when it resets, as USB
 * re-enumeration does (ttyACM0 -> ttyACM1), with a by-id directory that follows. */
#include <check.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tm_fs.h"
#include "tm_proc.h"

#define TLSMATRIX TM_BIN_DIR "/tlsmatrix"
#define USBSIM TM_BIN_DIR "/usbsim"
#define VCAM TM_BIN_DIR "/vcam"
#define BOARD "usb-TM_Virtual_Camera_0001-if00"
/* The second case in id order; its handshake is the camera's second. */
#define FILTER "client-chain-[eir]*/openssl/p256/tls"   /* extra-cert, int-anchor, root-anchor */
#define MOVED_CASE "client-chain-int-anchor/openssl/p256/tls"

static char tmpdir[256], byid[300], report[300], out_path[300];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/tm-rack-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(byid, sizeof byid, "%s/by-id", tmpdir);
    snprintf(report, sizeof report, "%s/report", tmpdir);
    snprintf(out_path, sizeof out_path, "%s/out.txt", tmpdir);
    ck_assert_int_eq(tm_mkdirs(byid, 0755, NULL), 0);
}

static void teardown(void)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

/* Run argv (stdout and stderr into out_path) until it exits; limit_s is a hang guard. */
static int run(char *const argv[], int limit_s)
{
    struct tm_err err = { 0 };
    unlink(out_path);
    int rc = tm_proc_run(argv, out_path, tm_deadline_in(limit_s * 1000), &err);
    ck_assert_msg(err.code != TM_E_TIMEOUT, "%s %s did not finish within %d s (hang)", argv[0],
                  argv[1], limit_s);
    ck_assert_msg(rc >= 0, "%s", err.msg);
    return rc;
}

static char *output(void)
{
    unsigned char *d = NULL;
    size_t len;
    return tm_read_file(out_path, &d, &len, NULL) == 0 ? (char *)d : strdup("");
}

/* A main.py that swallows two Ctrl-C: the bootstrap interrupts until the output
 * stops and gets the hello. */
START_TEST(busy_main_gets_the_hello)
{
    char *argv[] = { TLSMATRIX, "info", "--device", "virtual:--busy-main 5:2", NULL };
    int rc = run(argv, 60);
    char *o = output();
    ck_assert_msg(rc == 0 && strstr(o, "\"tlsmatrix-agent\"") != NULL, "exit %d\n%s", rc, o);
    free(o);
}
END_TEST

/* One that swallows every Ctrl-C: exit 3 (device lost), the cause named. The
 * bootstrap gives up after its sixth interrupt (a count, not its 30 s deadline,
 * which would say "no raw REPL banner"), also when a stall of the loaded machine
 * looked like quiet once and a second attempt began part-way through the count
 * (it said "ignored 7" then). */
START_TEST(busy_main_that_never_yields_is_named)
{
    char *argv[] = { TLSMATRIX, "info", "--device", "virtual:--busy-main 5:1000", NULL };
    int rc = run(argv, 60);
    char *o = output();
    ck_assert_msg(rc == 3 && strstr(o, "kept printing and ignored 6 interrupts") != NULL,
                  "exit %d\n%s", rc, o);
    free(o);
}
END_TEST

/* The new options are checked before any device starts: exit 2, the place named. */
START_TEST(bad_rack_specs_are_usage_errors)
{
    static const char *const bad[][2] = {
        { "serial:/dev/null,baud=1234", "baud 1234 is not a standard rate" },
        { "serial:/dev/null,reset=x", "unknown option 'reset=x'" },
        { "serial:/dev/null,by-id=", "by-id needs a value" },
        { "virtual:--busy-main 0", "--busy-main: expected MS[:N]" },
        { "virtual:--busy-main 5:x", "--busy-main: expected MS[:N]" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *argv[] = { TLSMATRIX, "run", "--device", (char *)bad[i][0], "--report", report,
                         "--filter", FILTER, NULL };
        int rc = run(argv, 60);
        char *o = output();
        ck_assert_msg(rc == 2 && strstr(o, bad[i][1]) != NULL, "%s: exit %d\n%s", bad[i][0], rc, o);
        free(o);
    }
}
END_TEST

/* usbsim running vcam behind DIR/BOARD; *tty gets the first port's device node. */
static void start_board(struct tm_proc *p, char *const first[], char tty[256])
{
    char *argv[16] = { USBSIM };
    int n = 1;
    for (int i = 0; first[i] != NULL; i++) {
        argv[n++] = "--first";
        argv[n++] = first[i];
    }
    argv[n++] = byid;
    argv[n++] = BOARD;
    argv[n++] = "--";
    argv[n++] = VCAM;
    argv[n] = NULL;
    struct tm_err err;
    ck_assert_int_eq(tm_proc_spawn(p, argv, NULL, &err), 0);
    struct tm_lines lr;
    char *line = NULL;
    tm_lines_init(&lr, p->out_fd, 1024);
    ck_assert_int_eq(tm_lines_read(&lr, tm_deadline_in(10000), &line, &err), 1);
    ck_assert_msg(sscanf(line, "board 0 on %255s", tty) == 1, "%s", line);
    free(line);
    tm_lines_free(&lr);
}

static json_t *load_run(void)
{
    char p[400];
    snprintf(p, sizeof p, "%s/run.json", report);
    json_error_t je;
    json_t *doc = json_load_file(p, 0, &je);
    char *o = output();
    ck_assert_msg(doc != NULL, "run.json: %s\n%.4000s", je.text, o);
    free(o);
    return doc;
}

/* 1 when a line of the recovery steps kept with the moved case's first attempt
 * holds part. */
static int recovery_says(const json_t *c, const char *part)
{
    const json_t *prev = json_object_get(c, "previous_attempt");
    const json_t *steps = json_object_get(json_object_get(prev, "transcript"), "recovery");
    size_t i;
    json_t *line;
    json_array_foreach(steps, i, line)
        if (strstr(json_string_value(line), part) != NULL)
            return 1;
    return 0;
}

/* The moved case: a retry after the reset, a pass, flaky, with the rung that
 * worked (rung) and the move in its recovery steps; the others pass once. The
 * run header names the move from the first port to another one. */
static void assert_moved(const char *tty, int rc, const char *rung)
{
    json_t *doc = load_run();
    char *o = output();
    ck_assert_msg(rc == 0, "exit %d\n%.4000s", rc, o);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(doc, "cases"), i, c) {
        const char *id = json_string_value(json_object_get(c, "id"));
        int moved = strcmp(id, MOVED_CASE) == 0;
        ck_assert_msg(strcmp(json_string_value(json_object_get(c, "verdict")), "pass") == 0,
                      "%s: %s\n%.4000s", id, json_string_value(json_object_get(c, "reason")), o);
        ck_assert_int_eq(json_integer_value(json_object_get(c, "attempts")), moved ? 2 : 1);
        ck_assert_int_eq(json_is_true(json_object_get(c, "flaky")), moved);
        if (moved) {
            ck_assert_msg(recovery_says(c, rung), "%s: no '%s' in the recovery\n%.4000s", id,
                          rung, o);
            ck_assert_msg(recovery_says(c, "re-enumerated as /dev/pts/"), "%s: no move in the "
                          "recovery\n%.4000s", id, o);
        }
    }
    ck_assert_uint_eq(json_array_size(json_object_get(doc, "cases")), 3);
    const json_t *dev = json_array_get(json_object_get(json_object_get(doc, "header"), "devices"), 0);
    const json_t *m = json_array_get(json_object_get(dev, "reenumerations"), 0);
    ck_assert_msg(m != NULL, "no re-enumeration in the header\n%.4000s", o);
    ck_assert_str_eq(json_string_value(json_object_get(m, "from")), tty);
    const char *to = json_string_value(json_object_get(m, "to"));
    ck_assert_msg(strncmp(to, "/dev/pts/", 9) == 0 && strcmp(to, tty) != 0, "moved to %s", to);
    ck_assert_int_eq(json_integer_value(json_object_get(dev, "reenumeration_count")), 1);
    free(o);
    json_decref(doc);
}

/* The board dies right after the second handshake (a hard fault: vcam drops the
 * line and exits) and comes back on another pseudo-terminal. The link was opened
 * by its device node; it finds the board again through the by-id directory. */
START_TEST(board_moves_to_a_new_port_mid_run)
{
    struct tm_proc board;
    char tty[256], dev[700];
    char *first[] = { "--fault", "drop@stage=handshake#2", NULL };
    start_board(&board, first, tty);
    snprintf(dev, sizeof dev, "serial:%s,by-id=%s", tty, byid);
    char *argv[] = { TLSMATRIX, "run", "--device", dev, "--scenarios", TM_SOURCE_DIR "/scenarios",
                     "--filter", FILTER, "--report", report, "--retries", "1", NULL };
    int rc = run(argv, 150);
    tm_proc_stop(&board, 1000);
    assert_moved(tty, rc, "recovery: reopen: the agent is back");
}
END_TEST

/* The board stalls for good after the second handshake (answers nothing, stays
 * on the bus): no soft reset or interrupt gets it back, the port has no DTR/RTS,
 * and the lab file's reset command (here: usbsim's power switch) is the rung that
 * works; the board re-enumerates and the case is retried. Only the case deadline
 * ends the stalled attempt; it is the default one (20 s), as in any run, so the
 * retried case has the time a real case has, however loaded the machine. */
START_TEST(reset_command_power_cycles_a_stalled_board)
{
    struct tm_proc board;
    char tty[256], lab[400], text[1200];
    char *first[] = { "--fault", "stall@stage=handshake#2", NULL };
    start_board(&board, first, tty);
    snprintf(lab, sizeof lab, "%s/lab.yaml", tmpdir);
    int n = snprintf(text, sizeof text, "boards:\n  - name: rack-cam\n    link: \"serial:%s,by-id=%s\"\n"
                     "    reset: \"kill -USR1 %d\"\n", tty, byid, (int)board.pid);
    ck_assert_int_eq(tm_write_file(lab, text, (size_t)n, 0644, NULL), 0);
    char *argv[] = { TLSMATRIX, "run", "--devices", lab, "--place", "rack-cam", "--scenarios",
                     TM_SOURCE_DIR "/scenarios", "--filter", FILTER, "--report", report,
                     "--retries", "1", NULL };
    int rc = run(argv, 150);
    tm_proc_stop(&board, 1000);
    assert_moved(tty, rc, "recovery: reset command ran");
}
END_TEST

int main(void)
{
    if (access(TLSMATRIX, X_OK) != 0 || access(VCAM, X_OK) != 0 || access(USBSIM, X_OK) != 0) {
        fprintf(stderr, "skip: %s, %s or %s not built\n", TLSMATRIX, VCAM, USBSIM);
        return 77;
    }
    Suite *s = suite_create("harness_rack");
    TCase *tc = tcase_create("rack");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 160);
    tcase_add_test(tc, busy_main_gets_the_hello);
    tcase_add_test(tc, busy_main_that_never_yields_is_named);
    tcase_add_test(tc, bad_rack_specs_are_usage_errors);
    tcase_add_test(tc, board_moves_to_a_new_port_mid_run);
    tcase_add_test(tc, reset_command_power_cycles_a_stalled_board);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
