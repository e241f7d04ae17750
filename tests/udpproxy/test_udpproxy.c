/* udpproxy on real UDP sockets and a real DTLS handshake (OpenSSL's s_server and
 * s_client) on loopback. */
#include <arpa/inet.h>
#include <check.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tm_fs.h"
#include "tm_proc.h"

#define PROXY TM_BIN_DIR "/udpproxy"
/* The bound of a wait for what must happen (a bound port, a log line, a
 * datagram): reached only by a hang, never by a slow machine. */
#define HANG_MS 30000

struct proxy_run {
    struct tm_proc proc;
    struct tm_lines lines;
    int port;
};

static int udp_bound(int *port)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return s;
}

static void proxy_start(struct proxy_run *r, int server_port, const char *log, char **extra)
{
    char server[64];
    snprintf(server, sizeof server, "127.0.0.1:%d", server_port);
    char *argv[32] = { PROXY, "--server", server, "--log", (char *)log, "--timeout", "60000" };
    int n = 7;
    for (; extra && *extra && n < 30; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    struct tm_err err;
    ck_assert_int_eq(tm_proc_spawn(&r->proc, argv, NULL, &err), 0);
    tm_lines_init(&r->lines, r->proc.out_fd, 0);
    char *line = NULL;
    /* its ready line: a bound only a hang reaches */
    ck_assert_int_eq(tm_lines_read(&r->lines, tm_deadline_in(30000), &line, &err), 1);
    json_t *j = json_loads(line, 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "event")), "ready");
    ck_assert_str_eq(json_string_value(json_object_get(j, "addr")), "127.0.0.1");
    r->port = (int)json_integer_value(json_object_get(j, "port"));
    ck_assert_int_gt(r->port, 0);
    json_decref(j);
    free(line);
}

static void proxy_stop(struct proxy_run *r)
{
    tm_proc_stop(&r->proc, 2000);
    ck_assert_int_eq(tm_proc_exit_code(&r->proc), 0);   /* SIGTERM is a clean stop */
    tm_lines_free(&r->lines);
}

/* 1 when file (/proc/net/udp or udp6) lists a socket on port. */
static int lists_port(const char *file, int port)
{
    char want[16];
    snprintf(want, sizeof want, ":%04X ", port);   /* ADDR:PORT, in hex */
    unsigned char *text = NULL;
    size_t len = 0;
    int found = tm_read_file(file, &text, &len, NULL) == 0 && strstr((char *)text, want) != NULL;
    free(text);
    return found;
}

/* Wait until a UDP socket is bound to port (IPv4 or IPv6), so a server is ready
 * by its state, not by a guess at how long it takes to start. */
static void wait_udp_bound(int port)
{
    tm_ms deadline = tm_deadline_in(HANG_MS);
    while (!lists_port("/proc/net/udp", port) && !lists_port("/proc/net/udp6", port)) {
        ck_assert_msg(!tm_expired(deadline), "nothing bound UDP port %d (hang)", port);
        tm_sleep_ms(10);
    }
}

/* A DTLS 1.2 record header + body: content type ct, epoch 0, handshake type hs. */
static size_t make_record(unsigned char *buf, int ct, int hs, size_t body)
{
    memset(buf, 0, 13 + body);
    buf[0] = (unsigned char)ct;
    buf[1] = 0xfe;
    buf[2] = 0xfd;
    buf[11] = (unsigned char)(body >> 8);
    buf[12] = (unsigned char)body;
    if (body > 0)
        buf[13] = (unsigned char)hs;
    return 13 + body;
}

/* Lines of the proxy's log, and how many of them end in " pass". */
static int log_lines(const char *log, int *passed)
{
    unsigned char *text = NULL;
    size_t tl = 0;
    int lines = 0;
    *passed = 0;
    if (tm_read_file(log, &text, &tl, NULL) != 0)
        return 0;
    for (const char *l = (char *)text, *nl; (nl = strchr(l, '\n')) != NULL; l = nl + 1) {
        lines++;
        *passed += nl - l >= 5 && memcmp(nl - 5, " pass", 5) == 0;
    }
    free(text);
    return lines;
}

/* Send n datagrams through the proxy, one at a time, waiting for each to show in
 * the log so the proxy sees them in order. Returns how many reached the server:
 * the ones the log says passed, each of them awaited at the sink (the proxy logs
 * a datagram before it forwards it). */
static int send_sequence(int port, int sink, const char *log, int n, int ct, int hs, size_t body)
{
    int c = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    ck_assert_int_eq(connect(c, (struct sockaddr *)&a, sizeof a), 0);
    unsigned char buf[2048];
    size_t len = make_record(buf, ct, hs, body);
    int before, passed;
    before = log_lines(log, &passed);
    int passed_before = passed;
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(send(c, buf, len, 0), (ssize_t)len);
        tm_ms deadline = tm_deadline_in(HANG_MS);
        while (log_lines(log, &passed) <= before + i) {   /* bounded by the deadline */
            ck_assert_msg(!tm_expired(deadline), "datagram %d never reached the log", i + 1);
            tm_sleep_ms(1);
        }
    }
    close(c);
    int got = passed - passed_before;
    struct pollfd pfd = { sink, POLLIN, 0 };
    for (int i = 0; i < got; i++) {
        ck_assert_msg(poll(&pfd, 1, HANG_MS) == 1, "datagram %d of %d logged as passed never "
                      "reached the server", i + 1, got);
        recv(sink, buf, sizeof buf, 0);
    }
    ck_assert_msg(recv(sink, buf, sizeof buf, MSG_DONTWAIT) < 0, "more datagrams reached the "
                  "server than the log says passed");
    return got;
}

static char *actions_of(const char *log)
{
    unsigned char *text = NULL;
    size_t len = 0;
    ck_assert_int_eq(tm_read_file(log, &text, &len, NULL), 0);
    char *out = calloc(1, len + 1);
    for (char *save = NULL, *l = strtok_r((char *)text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        const char *sp = strrchr(l, ' ');
        strcat(out, sp ? sp + 1 : "?");
        strcat(out, ",");
    }
    free(text);
    return out;
}

static char *run_lossy(const char *dir, const char *seed, int *delivered)
{
    int sport;
    int sink = udp_bound(&sport);
    char log[256];
    snprintf(log, sizeof log, "%s/log-%s", dir, seed);
    char *extra[] = { "--seed", (char *)seed, "--drop", "0.3", NULL };
    struct proxy_run r;
    proxy_start(&r, sport, log, extra);
    *delivered = send_sequence(r.port, sink, log, 200, 23, 0, 32);
    proxy_stop(&r);
    close(sink);
    return actions_of(log);
}

static char tmpdir[64];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tm-udpproxy-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

START_TEST(same_seed_same_decisions)
{
    int d1, d2, d3;
    char *a1 = run_lossy(tmpdir, "7", &d1);
    char *a2 = run_lossy(tmpdir, "7", &d2);
    char *a3 = run_lossy(tmpdir, "8", &d3);
    ck_assert_str_eq(a1, a2);
    ck_assert_str_ne(a1, a3);
    ck_assert_int_eq(d1, d2);
    /* 30 % of 200: the binomial's 4-sigma range is 34..86 drops. */
    int drops = 0;
    for (const char *p = a1; (p = strstr(p, "drop")) != NULL; p++)
        drops++;
    ck_assert_int_ge(drops, 34);
    ck_assert_int_le(drops, 86);
    ck_assert_int_eq(d1, 200 - drops);
    free(a1);
    free(a2);
    free(a3);
}
END_TEST

START_TEST(names_types_and_drops_first_of_type)
{
    int sport;
    int sink = udp_bound(&sport);
    char log[256];
    snprintf(log, sizeof log, "%s/log", tmpdir);
    char *extra[] = { "--drop-type", "client_hello", "--mtu", "1000", NULL };
    struct proxy_run r;
    proxy_start(&r, sport, log, extra);
    int got = send_sequence(r.port, sink, log, 3, 22, 1, 100);
    ck_assert_int_eq(got, 2);   /* only the first ClientHello is dropped */
    got = send_sequence(r.port, sink, log, 1, 22, 11, 1200);
    ck_assert_int_eq(got, 0);   /* over the MTU: cut */
    proxy_stop(&r);
    close(sink);
    unsigned char *text = NULL;
    size_t len = 0;
    ck_assert_int_eq(tm_read_file(log, &text, &len, NULL), 0);
    ck_assert_msg(strstr((char *)text, "c2s handshake/client_hello 113 drop\n") != NULL, "%s", text);
    ck_assert_msg(strstr((char *)text, "c2s handshake/client_hello 113 pass\n") != NULL, "%s", text);
    ck_assert_msg(strstr((char *)text, "c2s handshake/certificate 1213 cut\n") != NULL, "%s", text);
    free(text);
}
END_TEST

START_TEST(bad_flags_exit_2)
{
    const char *cases[][3] = {
        { "--drop", "1.5", "--drop" }, { "--drop-type", "nonsense", "--drop-type" },
        { "--mtu", "x", "--mtu" },     { "--server", "nohost", "--server" },
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "%s --server 127.0.0.1:1 %s %s 2>%s/err; echo $? >%s/rc",
                 PROXY, cases[i][0], cases[i][1], tmpdir, tmpdir);
        ck_assert_int_eq(system(cmd), 0);
        char path[256];
        unsigned char *text = NULL;
        size_t len;
        snprintf(path, sizeof path, "%s/rc", tmpdir);
        ck_assert_int_eq(tm_read_file(path, &text, &len, NULL), 0);
        ck_assert_str_eq((char *)text, "2\n");
        free(text);
        snprintf(path, sizeof path, "%s/err", tmpdir);
        ck_assert_int_eq(tm_read_file(path, &text, &len, NULL), 0);
        ck_assert_msg(strstr((char *)text, cases[i][2]) != NULL, "%s", text);
        free(text);
    }
}
END_TEST

/* A real DTLS 1.2 handshake (OpenSSL s_server with cookie exchange, s_client)
 * through the proxy: the log names the HelloVerifyRequest, and the handshake
 * completes through 30 % loss with a fixed seed. */
static void dtls_through_proxy(const char *drop, const char *seed)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout k.pem -out c.pem -subj /CN=test.local -days 2 2>/dev/null", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
    int sport;
    int probe = udp_bound(&sport);
    close(probe);
    /* s_server ends at EOF on stdin, so keep its stdin open for the test's length. */
    char script[512];
    snprintf(script, sizeof script,
             "sleep 45 | exec openssl s_server -dtls1_2 -listen -accept %d -key %s/k.pem "
             "-cert %s/c.pem -naccept 1 -quiet", sport, tmpdir, tmpdir);
    char *sargv[] = { "sh", "-c", script, NULL };
    struct tm_proc server;
    struct tm_err err;
    ck_assert_int_eq(tm_proc_spawn(&server, sargv, "/dev/null", &err), 0);
    wait_udp_bound(sport);
    char log[256];
    snprintf(log, sizeof log, "%s/dtls-log", tmpdir);
    char *extra[] = { "--seed", (char *)seed, "--drop", (char *)drop, "--protect-hvr", NULL };
    struct proxy_run r;
    proxy_start(&r, sport, log, extra);
    snprintf(cmd, sizeof cmd,
             "echo ping | timeout 40 openssl s_client -dtls1_2 -connect 127.0.0.1:%d -brief "
             "-timeout >%s/client.out 2>&1", r.port, tmpdir);
    int rc = system(cmd);
    proxy_stop(&r);
    tm_proc_stop(&server, 500);
    char path[256];
    unsigned char *text = NULL;
    size_t len;
    snprintf(path, sizeof path, "%s/client.out", tmpdir);
    ck_assert_int_eq(tm_read_file(path, &text, &len, NULL), 0);
    ck_assert_msg(rc == 0 && strstr((char *)text, "Protocol version: DTLSv1.2") != NULL,
                  "rc=%d: %s", rc, text);
    free(text);
    ck_assert_int_eq(tm_read_file(log, &text, &len, NULL), 0);
    ck_assert_msg(strstr((char *)text, "s2c handshake/hello_verify_request") != NULL, "%s", text);
    if (strcmp(drop, "0") != 0)
        ck_assert_msg(strstr((char *)text, " drop\n") != NULL, "%s", text);
    free(text);
}

START_TEST(dtls_hello_verify_seen)
{
    dtls_through_proxy("0", "1");
}
END_TEST

START_TEST(dtls_completes_at_30_percent_loss)
{
    dtls_through_proxy("0.3", "3");
}
END_TEST

/* CPU seconds (user + system) a process has used so far, from /proc. */
static double cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    unsigned long ut = 0, st = 0;
    const char *p = strrchr(buf, ')');   /* the command name may hold spaces */
    ck_assert(p != NULL && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                                  &ut, &st) == 2);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The server has gone (the peer exits after its result) and the client sends
 * on: the ICMP port-unreachable leaves an error on the proxy's socket, which it
 * must clear rather than spin on. */
START_TEST(server_gone_does_not_spin)
{
    int sport;
    int s = udp_bound(&sport);
    close(s);                                    /* nobody listens there now */
    char log[400];
    snprintf(log, sizeof log, "%s/gone.log", tmpdir);
    struct proxy_run r;
    proxy_start(&r, sport, log, NULL);
    int c = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)r.port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    unsigned char rec[64];
    size_t len = make_record(rec, 22, 1, 20);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(sendto(c, rec, len, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)len);
    double before = cpu_seconds(r.proc.pid);
    tm_sleep_ms(1000);
    double used = cpu_seconds(r.proc.pid) - before;
    close(c);
    ck_assert_msg(used < 0.3, "udpproxy used %.2f s of CPU in 1 s with its server gone", used);
    proxy_stop(&r);
}
END_TEST


/* With reorder on every datagram, each one is held until the next goes out the
 * same way; the last of a flight has none after it and must still go out after a
 * bounded hold (not wait for ever). Arrival order B, A, then C alone. */
START_TEST(reorder_releases_the_last_held)
{
    int sport;
    int sink = udp_bound(&sport);
    char log[256];
    snprintf(log, sizeof log, "%s/reorder.log", tmpdir);
    char *extra[] = { "--reorder", "1", NULL };
    struct proxy_run r;
    proxy_start(&r, sport, log, extra);
    int c = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)r.port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    ck_assert_int_eq(connect(c, (struct sockaddr *)&a, sizeof a), 0);
    unsigned char buf[64];
    size_t len = make_record(buf, 23, 0, 8);
    /* Back to back: a datagram socket on loopback delivers them in order, and no
     * pause in this process can let A's hold run out before B arrives. */
    for (int i = 0; i < 3; i++) {
        buf[13] = (unsigned char)('A' + i);
        ck_assert_int_eq(send(c, buf, len, 0), (ssize_t)len);
    }
    char order[8] = "";
    struct pollfd pfd = { sink, POLLIN, 0 };
    tm_ms deadline = tm_deadline_in(3000);
    while (strlen(order) < 3 && poll(&pfd, 1, (int)tm_remaining_ms(deadline)) > 0) {
        unsigned char got[64];
        if (recv(sink, got, sizeof got, 0) > 13)
            order[strlen(order)] = (char)got[13];
    }
    close(c);
    proxy_stop(&r);
    close(sink);
    ck_assert_str_eq(order, "BAC");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("udpproxy");
    TCase *tc = tcase_create("proxy");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, same_seed_same_decisions);
    tcase_add_test(tc, names_types_and_drops_first_of_type);
    tcase_add_test(tc, bad_flags_exit_2);
    tcase_add_test(tc, dtls_hello_verify_seen);
    tcase_add_test(tc, dtls_completes_at_30_percent_loss);
    tcase_add_test(tc, server_gone_does_not_spin);
    tcase_add_test(tc, reorder_releases_the_last_held);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
