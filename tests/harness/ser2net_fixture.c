#include "ser2net_fixture.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tm_fs.h"
#include "tm_time.h"

#define READY_MS 30000   /* a hang guard: ser2net listens within milliseconds */

/* A loopback port nobody listens on now: bound, read, closed for ser2net to take. */
static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    return ntohs(a.sin_port);
}

static int accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

void ser2net_start(struct ser2net_fixture *s, const char *tty)
{
    ser2net_start_shared(s, tty, 1);
}

void ser2net_start_shared(struct ser2net_fixture *s, const char *tty, int max_conn)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(s->dir, sizeof s->dir, "%s/tm-ser2net-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(s->dir));
    s->port = free_port();
    char cfg[300], pid[300], log[300], text[600];
    snprintf(cfg, sizeof cfg, "%s/ser2net.yaml", s->dir);
    snprintf(pid, sizeof pid, "%s/ser2net.pid", s->dir);
    snprintf(log, sizeof log, "%s/ser2net.log", s->dir);
    /* kickolduser: the readiness probe below never holds the port from the real user */
    int n = snprintf(text, sizeof text,
                     "%%YAML 1.1\n---\nconnection: &board\n"
                     "  accepter: telnet(rfc2217),tcp,127.0.0.1,%d\n"
                     "  connector: serialdev,%s,115200n81,local\n"
                     "  options:\n    kickolduser: true\n    max-connections: %d\n", s->port, tty,
                     max_conn);
    ck_assert_int_eq(tm_write_file(cfg, text, (size_t)n, 0644, NULL), 0);
    char *argv[] = { "ser2net", "-n", "-d", "-c", cfg, "-P", pid, NULL };
    struct tm_err err;
    ck_assert_msg(tm_proc_spawn(&s->proc, argv, log, &err) == 0,
                  "ser2net (Debian package ser2net, scripts/deps.sh): %s", err.msg);
    tm_ms until = tm_deadline_in(READY_MS);
    while (!accepts(s->port)) {
        ck_assert_msg(!tm_expired(until), "ser2net did not listen on %d", s->port);
        ck_assert_msg(tm_proc_wait(&s->proc, tm_deadline_in(20)) != 0,
                      "ser2net exited before listening (log %s)", log);
    }
}

void ser2net_stop(struct ser2net_fixture *s)
{
    tm_proc_stop(&s->proc, 500);
    tm_rmtree(s->dir, NULL);
}
