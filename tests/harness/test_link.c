/* Links on real pseudo-terminals, real processes and real loopback sockets. */
#include <arpa/inet.h>
#include <check.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <errno.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <termios.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "link/link.h"
#include "ser2net_fixture.h"
#include "tm_proc.h"

/* The bound of a wait for what must happen (bytes, a close): reached only by a
 * hang, never by a slow machine. Waits whose expiry is the subject keep their own. */
#define HANG_MS 10000

/* Read until want bytes, the link closes or the deadline; returns the count. */
static size_t read_n(struct link *l, char *buf, size_t want, tm_ms deadline)
{
    size_t got = 0;
    struct tm_err err;
    while (got < want) {
        ssize_t r = link_read(l, buf + got, want - got, deadline, &err);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    return got;
}

/* Read one line (up to and without its \n) within the hang bound. */
static void read_line(struct link *l, char *buf, size_t len)
{
    size_t got = 0;
    struct tm_err err = { 0 };
    tm_ms until = tm_deadline_in(HANG_MS);
    while (got + 1 < len) {
        ssize_t r = link_read(l, buf + got, 1, until, &err);
        ck_assert_msg(r == 1, "no full line (have \"%.*s\"): %s", (int)got, buf,
                      r == 0 ? "hang" : err.msg);
        if (buf[got] == '\n')
            break;
        got++;
    }
    buf[got] = '\0';
}

/* Raw mode: \r stays \r (no ICRNL), \n stays \n (no ONLCR), Ctrl-C is a byte (no
 * ISIG), no echo. The program copies the 9 bytes (a NUL last), says END and exits: all
 * the line carried up to the close is exactly that (an echoing pty would add a
 * second copy before END; a cooked one would change the bytes or stop the program). */
START_TEST(exec_echo_raw_mode)
{
    struct tm_err err = { 0 };
    struct link *l = link_open("exec:/bin/sh -c 'head -c 9; printf END'", &err);
    ck_assert_msg(l != NULL, "%s", err.msg);
    ck_assert_int_eq(link_kind(l), LINK_EXEC);
    ck_assert_int_eq(link_write(l, "a\rb\n\x03\x01x\n\0", 9, tm_deadline_in(HANG_MS), &err), 0);
    char buf[64];
    size_t n = read_n(l, buf, sizeof buf - 1, tm_deadline_in(HANG_MS));
    ck_assert_int_eq(link_read(l, buf + n, 1, tm_deadline_in(HANG_MS), &err), -1);   /* closed */
    char hex[200] = "";
    for (size_t i = 0; i < n; i++)
        snprintf(hex + strlen(hex), sizeof hex - strlen(hex), " %02x", (unsigned char)buf[i]);
    ck_assert_msg(n == 12 && memcmp(buf, "a\rb\n\x03\x01x\n\0" "END", 12) == 0, "%zu bytes:%s", n,
                  hex);
    link_close(l);
}
END_TEST

/* A program that prints its pid and then nothing for an hour: a read returns 0
 * once its deadline has passed (never before), and closing the link ends the
 * program (SIGTERM) instead of waiting for it. Only the deadline and the close can
 * end these waits; the test's bounds are hang guards far above them. */
START_TEST(exec_read_deadline_is_respected)
{
    struct tm_err err = { 0 };
    struct link *l = link_open("exec:/bin/sh -c 'echo $$; exec sleep 3600'", &err);
    ck_assert_msg(l != NULL, "%s", err.msg);
    char line[32];
    read_line(l, line, sizeof line);
    pid_t child = (pid_t)atoi(line);
    ck_assert_int_gt(child, 1);
    char buf[16];
    tm_ms dl = tm_deadline_in(300), t0 = tm_now_ms();
    ck_assert_int_eq(link_read(l, buf, sizeof buf, dl, &err), 0);
    ck_assert_msg(tm_expired(dl), "the read returned 0 before its deadline");
    ck_assert_msg(tm_now_ms() - t0 < HANG_MS, "the read ignored its deadline (hang)");
    t0 = tm_now_ms();
    link_close(l);
    ck_assert_msg(tm_now_ms() - t0 < HANG_MS, "link_close waited for the program (hang)");
    ck_assert_msg(kill(child, 0) != 0 && errno == ESRCH, "the program (pid %d) outlived the "
                  "link", (int)child);
}
END_TEST

START_TEST(exec_child_exit_is_closed)
{
    struct tm_err err = { 0 };
    struct link *l = link_open("exec:/bin/sh -c 'printf \"abc\\r\\r\\n\"'", &err);
    ck_assert_msg(l != NULL, "%s", err.msg);
    char buf[64];
    ck_assert_uint_eq(read_n(l, buf, 5, tm_deadline_in(HANG_MS)), 5);
    ck_assert_int_eq(memcmp(buf, "abc\r\r", 5), 0);
    ssize_t r = 1;
    for (int i = 0; i < 10 && r > 0; i++)
        r = link_read(l, buf, sizeof buf, tm_deadline_in(HANG_MS), &err);
    ck_assert_int_eq(r, -1);
    ck_assert_msg(strstr(err.msg, "link closed") != NULL, "%s", err.msg);
    link_close(l);
}
END_TEST

START_TEST(exec_reset_restarts_program)
{
    struct tm_err err = { 0 };
    struct link *l = link_open("exec:/bin/sh -c 'echo started $$; exec sleep 30'", &err);
    ck_assert_msg(l != NULL, "%s", err.msg);
    char a[64], b[64];
    /* The line is "started PID\n" (ONLCR is off in raw mode). */
    read_line(l, a, sizeof a);
    ck_assert_int_eq(link_reset(l, &err), 0);
    read_line(l, b, sizeof b);
    ck_assert_int_eq(strncmp(a, "started ", 8), 0);
    ck_assert_int_eq(strncmp(b, "started ", 8), 0);
    ck_assert_str_ne(a, b);   /* a new process (new pid) */
    link_close(l);
}
END_TEST

/* exec-agent: the program runs in a private directory (the files it is sent go
 * there, not into the harness's directory), made absolute paths in CMD still
 * work, and the directory goes with the link. */
START_TEST(exec_agent_runs_in_a_private_directory)
{
    struct tm_err err = { 0 };
    char here[512], spec[700];
    ck_assert_ptr_nonnull(getcwd(here, sizeof here));
    ck_assert_int_eq(chdir(TM_SOURCE_DIR), 0);
    snprintf(spec, sizeof spec, "exec-agent:/bin/sh -c 'pwd; test -f \"$1\" && echo found' sh "
             "scenarios/profiles/micropython-unix.yaml");
    struct link *l = link_open(spec, &err);
    ck_assert_int_eq(chdir(here), 0);
    ck_assert_msg(l != NULL, "%s", err.msg);
    ck_assert_int_eq(link_is_agent(l), 1);
    char out[300];
    size_t n = read_n(l, out, sizeof out - 1, tm_deadline_in(HANG_MS));   /* until it exits */
    out[n] = '\0';
    char *nl = strchr(out, '\n');
    ck_assert_ptr_nonnull(nl);
    *nl = '\0';
    ck_assert_msg(strstr(out, "/tm-agent-") != NULL, "%s", out);
    ck_assert_msg(strstr(nl + 1, "found") != NULL, "relative path not resolved: %s", nl + 1);
    struct stat st;
    ck_assert_int_eq(stat(out, &st), 0);
    link_close(l);
    ck_assert_int_ne(stat(out, &st), 0);   /* removed with the link */
    l = link_open("exec:/bin/true", &err);
    ck_assert_int_eq(link_is_agent(l), 0);
    link_close(l);
    ck_assert_int_eq(link_spec_spawns("exec-agent:x"), 1);
    ck_assert_int_eq(link_spec_spawns("tcp:h:1"), 0);
}
END_TEST

START_TEST(virtual_is_exec_of_vcam)
{
    ck_assert_int_eq(link_is_virtual_spec("virtual"), 1);
    ck_assert_int_eq(link_is_virtual_spec("virtual:--fault garbage"), 1);
    ck_assert_int_eq(link_is_virtual_spec("exec:vcam"), 0);
}
END_TEST

START_TEST(bad_specs_name_the_problem)
{
    struct tm_err err = { 0 };
    ck_assert_ptr_null(link_open("bogus:x", &err));
    ck_assert_msg(strstr(err.msg, "unknown kind") && strstr(err.msg, "bogus:x"), "%s", err.msg);
    ck_assert_ptr_null(link_open("exec:", &err));
    ck_assert_msg(strstr(err.msg, "exec:") != NULL, "%s", err.msg);
    ck_assert_ptr_null(link_open("exec:/nonexistent/prog", &err));
    ck_assert_msg(strstr(err.msg, "/nonexistent/prog") != NULL, "%s", err.msg);
    ck_assert_ptr_null(link_open("exec:foo $(id)", &err));
    ck_assert_msg(strstr(err.msg, "command substitution") != NULL, "%s", err.msg);
    ck_assert_ptr_null(link_open("serial:/dev/tm-no-such-port", &err));
    ck_assert_msg(strstr(err.msg, "/dev/tm-no-such-port") != NULL, "%s", err.msg);
    ck_assert_ptr_null(link_open("serial:/etc/hostname", &err));   /* a regular file */
    ck_assert_msg(strstr(err.msg, "/etc/hostname: not a serial port"), "%s", err.msg);
    ck_assert_ptr_null(link_open("serial:/dev/null", &err));   /* a device, not a port */
    ck_assert_msg(strstr(err.msg, "/dev/null: not a serial port"), "%s", err.msg);
    ck_assert_ptr_null(link_open("serial:/dev/ttyS0,baud=921600", &err));
    ck_assert_msg(strstr(err.msg, "IDE protocol") != NULL, "%s", err.msg);
    ck_assert_ptr_null(link_open("serial:/dev/ttyS0,parity=odd", &err));
    ck_assert_msg(strstr(err.msg, "unknown option 'parity=odd'") != NULL, "%s", err.msg);
    ck_assert_ptr_null(link_open("tcp:nohostport", &err));
    ck_assert_msg(strstr(err.msg, "HOST:PORT") != NULL, "%s", err.msg);
    ck_assert_int_eq(link_error_is_busy(&err), 0);
}
END_TEST

static int listener(int *port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(s, 1), 0);
    socklen_t len = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return s;
}

START_TEST(tcp_roundtrip_and_close)
{
    int port, ls = listener(&port);
    char spec[64], buf[64];
    struct tm_err err = { 0 };
    snprintf(spec, sizeof spec, "tcp:127.0.0.1:%d", port);
    struct link *l = link_open(spec, &err);
    ck_assert_msg(l != NULL, "%s", err.msg);
    int c = accept(ls, NULL, NULL);
    ck_assert_int_ge(c, 0);
    ck_assert_int_eq(write(c, ">>> ", 4), 4);
    ck_assert_uint_eq(read_n(l, buf, 4, tm_deadline_in(HANG_MS)), 4);
    ck_assert_str_eq(buf, ">>> ");
    ck_assert_int_eq(link_write(l, "\r\x01", 2, tm_deadline_in(HANG_MS), &err), 0);
    ck_assert_int_eq(read(c, buf, 2), 2);
    ck_assert_int_eq(memcmp(buf, "\r\x01", 2), 0);
    ck_assert_int_eq(link_reset(l, &err), -1);
    ck_assert_msg(strstr(err.msg, "cannot reset") != NULL, "%s", err.msg);
    close(c);
    ck_assert_int_eq(link_read(l, buf, sizeof buf, tm_deadline_in(HANG_MS), &err), -1);
    link_close(l);
    close(ls);
    /* Nobody listening: a clear connect error, quickly. */
    snprintf(spec, sizeof spec, "tcp:127.0.0.1:%d", port);
    ck_assert_ptr_null(link_open(spec, &err));
    ck_assert_msg(strstr(err.msg, "connect") != NULL, "%s", err.msg);
}
END_TEST

START_TEST(camera_boards_by_usb_id)
{
    ck_assert_str_eq(link_board_name(0x37C5, 0x1204), "OpenMV Cam 4");
    ck_assert_str_eq(link_board_name(0x37C5, 0x124A), "OpenMV Cam 4 Plus");
    ck_assert_str_eq(link_board_name(0x2341, 0x045F), "Arduino Nicla Vision");
    ck_assert_ptr_null(link_board_name(0x0403, 0x6001));
    char m[128];
    ck_assert_str_eq(link_board_machine(0x37C5, 0x1060, m, sizeof m), "OpenMV Cam RT1060 with MIMXRT1062");
    ck_assert_ptr_null(link_board_machine(0x37C5, 0x9204, m, sizeof m));   /* a bootloader */
    ck_assert_ptr_null(link_board_machine(0x0403, 0x6001, m, sizeof m));
    struct tm_err err;
    size_t n = 99;
    struct link_port *ports = link_ports_list(&n, &err);
    ck_assert_msg(ports != NULL, "%s", err.msg);
    free(ports);
}
END_TEST

/* A lab file's reset command: a TCP link (which cannot reset by itself) resets
 * the board by running it (the recovery ladder's hard reset); without one there
 * is nothing to run; a failing command is an error naming it. */
START_TEST(reset_command_is_the_hard_reset)
{
    int port, ls = listener(&port);
    char spec[64], cmd[256], mark[64] = "/tmp/tm-link-reset-XXXXXX";
    struct tm_err err = { 0 };
    int fd = mkstemp(mark);
    ck_assert_int_ge(fd, 0);
    close(fd);
    snprintf(spec, sizeof spec, "tcp:127.0.0.1:%d", port);
    struct link *l = link_open(spec, &err);
    ck_assert_msg(l != NULL, "%s", err.msg);
    ck_assert_int_eq(link_hard_reset(l, tm_deadline_in(10000), &err), 1);
    snprintf(cmd, sizeof cmd, "echo cycled >> '%s'", mark);
    ck_assert_int_eq(link_set_reset_command(l, cmd, &err), 0);
    ck_assert_int_eq(link_hard_reset(l, tm_deadline_in(10000), &err), 0);
    ck_assert_int_eq(link_hard_reset(l, tm_deadline_in(10000), &err), 0);
    FILE *f = fopen(mark, "r");
    char text[64] = "";
    ck_assert_uint_eq(fread(text, 1, sizeof text - 1, f), 14);
    fclose(f);
    ck_assert_str_eq(text, "cycled\ncycled\n");
    ck_assert_int_eq(link_set_reset_command(l, "exit 3", &err), 0);
    ck_assert_int_eq(link_hard_reset(l, tm_deadline_in(10000), &err), -1);
    ck_assert_msg(strstr(err.msg, "reset command `exit 3` failed (exit 3)"), "%s", err.msg);
    link_close(l);
    close(ls);
    unlink(mark);
}
END_TEST

/* auto, serial:id= and bare paths among a given port list (what libserialport
 * lists on a lab host; this host has no camera attached). */
START_TEST(board_selection_among_ports)
{
    struct link_port ports[] = {
        { "/dev/ttyS0", "ttyS0", 0, 0, 0, "" },
        { "/dev/ttyACM0", "OpenMV", 1, 0x37C5, 0x1204, "AAA" },
        { "/dev/ttyACM1", "OpenMV", 1, 0x37C5, 0x9204, "BBB" },   /* bootloader: no REPL */
        { "/dev/ttyUSB0", "FT232R", 1, 0x0403, 0x6001, "CCC" },
        { "/dev/ttyACM2", "Nicla", 1, 0x2341, 0x045F, "DDD" },
    };
    char out[256];
    struct tm_err err = { 0 };
    ck_assert_int_eq(link_resolve_in("auto", ports, 4, out, sizeof out, &err), 0);
    ck_assert_str_eq(out, "serial:/dev/ttyACM0");
    ck_assert_int_eq(link_resolve_in("auto", ports, 5, out, sizeof out, &err), -1);
    ck_assert_int_eq(err.code, TM_E_INPUT);
    ck_assert_msg(strstr(err.msg, "2 boards found") && strstr(err.msg, "/dev/ttyACM0 (OpenMV Cam 4, serial AAA)")
                  && strstr(err.msg, "/dev/ttyACM2 (Arduino Nicla Vision, serial DDD)")
                  && !strstr(err.msg, "ttyACM1"), "%s", err.msg);
    ck_assert_int_eq(link_resolve_in("auto", ports + 2, 2, out, sizeof out, &err), -1);
    ck_assert_msg(strstr(err.msg, "no MicroPython/OpenMV board found among 2"), "%s", err.msg);
    ck_assert_int_eq(link_resolve_in("serial:id=CCC,baud=57600", ports, 5, out, sizeof out, &err), 0);
    ck_assert_str_eq(out, "serial:/dev/ttyUSB0,baud=57600");
    ck_assert_int_eq(link_resolve_in("serial:id=DDD", ports, 5, out, sizeof out, &err), 0);
    ck_assert_str_eq(out, "serial:/dev/ttyACM2");
    ck_assert_int_eq(link_resolve_in("serial:id=CC", ports, 5, out, sizeof out, &err), -1);
    ck_assert_msg(strstr(err.msg, "no USB serial port with serial number 'CC'"), "%s", err.msg);
    ck_assert_int_eq(link_resolve_in("/dev/ttyACM7", ports, 5, out, sizeof out, &err), 0);
    ck_assert_str_eq(out, "serial:/dev/ttyACM7");
    ck_assert_int_eq(link_resolve_in("virtual", ports, 5, out, sizeof out, &err), 0);
    ck_assert_str_eq(out, "virtual");
    ck_assert_int_eq(link_spec_check("auto", &err), 0);
    ck_assert_int_eq(link_spec_check("/dev/ttyACM7,baud=57600", &err), 0);
    ck_assert_int_eq(link_spec_check("serial:id=", &err), -1);
    ck_assert_msg(strstr(err.msg, "id= needs the board's USB serial number"), "%s", err.msg);
    /* A bare path opens as serial: (this one is no character device). */
    ck_assert_ptr_null(link_open("/dev/null-not-a-port", &err));
    ck_assert_msg(strstr(err.msg, "/dev/null-not-a-port: No such file"), "%s", err.msg);
}
END_TEST

/* The line settings reach the remote port, data crosses both ways with 0xFF
 * escaped, and a reset (DTR/RTS) leaves the link working; a server that does not
 * speak RFC 2217 is refused with a clear message. */
START_TEST(rfc2217_through_ser2net)
{
    int master, slave, port;
    ck_assert_int_eq(openpty(&master, &slave, NULL, NULL, NULL), 0);
    struct ser2net_fixture s2n;   /* the master plays the board */
    ser2net_start(&s2n, ptsname(master));
    char spec[64], buf[64];
    struct tm_err err = { 0 };
    snprintf(spec, sizeof spec, "rfc2217:127.0.0.1:%d,baud=57600", s2n.port);
    struct link *l = link_open(spec, &err);
    ck_assert_msg(l != NULL, "%s", err.msg);
    struct termios t;
    ck_assert_int_eq(tcgetattr(slave, &t), 0);
    ck_assert_int_eq(cfgetospeed(&t), B57600);   /* SET-BAUDRATE applied to the port */
    ck_assert_int_eq(write(master, "boot\xff ok\n", 9), 9);
    ck_assert_uint_eq(read_n(l, buf, 9, tm_deadline_in(HANG_MS)), 9);
    ck_assert_int_eq(memcmp(buf, "boot\xff ok\n", 9), 0);
    ck_assert_int_eq(link_write(l, "x\xffy", 3, tm_deadline_in(HANG_MS), &err), 0);
    size_t got = 0;
    tm_ms until = tm_deadline_in(HANG_MS);
    while (got < 3 && !tm_expired(until)) {
        ssize_t r = read(master, buf + got, 3 - got);
        if (r > 0)
            got += (size_t)r;
    }
    ck_assert_int_eq(memcmp(buf, "x\xffy", 3), 0);
    ck_assert_int_eq(link_reset(l, &err), 0);
    ck_assert_int_eq(write(master, "again\n", 6), 6);
    ck_assert_uint_eq(read_n(l, buf, 6, tm_deadline_in(HANG_MS)), 6);
    link_close(l);
    ser2net_stop(&s2n);
    close(master);
    close(slave);
    /* a raw TCP port (no telnet): refused, naming the likely mistake */
    int ls = listener(&port);
    snprintf(spec, sizeof spec, "rfc2217:127.0.0.1:%d", port);
    ck_assert_ptr_null(link_open(spec, &err));
    ck_assert_msg(strstr(err.msg, "no answer to WILL COM-PORT-OPTION") && strstr(err.msg, "tcp:"),
                  "%s", err.msg);
    close(ls);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("harness_link");
    TCase *tc = tcase_create("link");
    tcase_set_timeout(tc, 40);   /* above the HANG_MS waits, which fail with a message */
    tcase_add_test(tc, exec_echo_raw_mode);
    tcase_add_test(tc, exec_read_deadline_is_respected);
    tcase_add_test(tc, exec_child_exit_is_closed);
    tcase_add_test(tc, exec_reset_restarts_program);
    tcase_add_test(tc, exec_agent_runs_in_a_private_directory);
    tcase_add_test(tc, virtual_is_exec_of_vcam);
    tcase_add_test(tc, bad_specs_name_the_problem);
    tcase_add_test(tc, tcp_roundtrip_and_close);
    tcase_add_test(tc, camera_boards_by_usb_id);
    tcase_add_test(tc, board_selection_among_ports);
    tcase_add_test(tc, reset_command_is_the_hard_reset);
    tcase_add_test(tc, rfc2217_through_ser2net);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
