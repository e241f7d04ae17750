/* The floor: N full handshakes in one process between the virtual camera's own
 * device TLS code (devtls, an mbedTLS client configured like the camera) and an
 * OpenSSL server thread, per key type, TLS and DTLS, for the two bench cases
 * (happy path; failing verify: the server presents a leaf from an unrelated root),
 * TLS with and without TCP_NODELAY on both ends. One JSON object per line:
 *   {"bench":"bare","case":"happy","keytype":"p256","proto":"tls","nodelay":true,
 *    "handshakes":N,"as_expected":N,"ms_per_handshake":6.85}
 * "nodelay" is null for DTLS (no Nagle, no delayed ACK). Exit 1 when any handshake
 * ended otherwise than expected, 2 on usage or setup errors. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bare_server.h"
#include "devtls.h"
#include "tm_fs.h"
#include "tm_time.h"

/* Longest wait for the server thread to be ready for the next handshake. */
#define BARE_READY_WAIT_MS 5000

struct bare_opt {
    int n;                  /* handshakes per configuration */
    const char *fixtures;   /* pkigen output */
    const char *only_kt;    /* NULL: all key types */
    int tls_delay;          /* also run TLS without TCP_NODELAY (the ~40 ms trap) */
};

struct bare_config {
    const char *kt;
    int dtls;
    int nodelay;
    int fail;               /* 1: the server's leaf is KT-server-untrusted */
};

static int64_t host_rtc(void *ctx) { (void)ctx; return (int64_t)time(NULL); }
static void drop_event(void *ctx, json_t *ev) { (void)ctx; json_decref(ev); }
static int never(void *ctx) { (void)ctx; return 0; }

/* Microseconds on CLOCK_MONOTONIC: a P-256 handshake is a few ms, so tm_now_ms
 * alone would round a short run away. */
static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static char *file_b64(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unsigned char *data;
    size_t len;
    struct tm_err err;
    if (tm_read_file(path, &data, &len, &err) != 0) {
        fprintf(stderr, "bench_bare: %s\n", err.msg);
        return NULL;
    }
    char *b64 = tm_b64_encode(data, len);
    free(data);
    return b64;
}

/* One device-side handshake; returns 1 when it ended as the configuration expects
 * (ok for the happy path, a verify failure at stage "handshake" otherwise). */
static int one_handshake(const struct devtls_env *env, const struct bare_config *c, int port,
                         const char *root_b64, int id, int report)
{
    json_t *req = json_pack("{s:i,s:s,s:s,s:s,s:i,s:s,s:[{s:s}],s:b,s:i}", "id", id,
                            "op", c->dtls ? "dtls_client" : "tls_client", "layer", "tls",
                            "host", "127.0.0.1", "port", port, "server_hostname", "test.local",
                            "ca", "b64", root_b64, "nodelay", c->nodelay, "deadline_ms", 10000);
    json_t *reply = devtls_run(env, req);
    const char *outcome = json_string_value(json_object_get(reply, "outcome"));
    const char *stage = json_string_value(json_object_get(reply, "stage"));
    int good = c->fail ? (outcome != NULL && strcmp(outcome, "error") == 0 && stage != NULL &&
                          strcmp(stage, "handshake") == 0)
                       : (outcome != NULL && strcmp(outcome, "ok") == 0);
    if (!good && report) {
        char *dump = json_dumps(reply, JSON_COMPACT);
        fprintf(stderr, "bench_bare: %s %s %s: unexpected reply %s\n", c->kt,
                c->dtls ? "dtls" : "tls", c->fail ? "untrusted" : "happy", dump);
        free(dump);
    }
    json_decref(req);
    json_decref(reply);
    return good;
}

/* One configuration: ms per handshake, or -1 on a setup error. */
static double run_config(const struct bare_opt *o, const struct bare_config *c,
                         const char *flash, int *as_expected)
{
    char chain[1024], key[1024], root[64];
    const char *leaf = c->fail ? "server-untrusted" : "server";
    snprintf(chain, sizeof chain, "%s/%s-%s.fullchain.pem", o->fixtures, c->kt, leaf);
    snprintf(key, sizeof key, "%s/%s-%s.key.pem", o->fixtures, c->kt, leaf);
    snprintf(root, sizeof root, "%s-root.der", c->kt);
    char *root_b64 = file_b64(o->fixtures, root);
    if (root_b64 == NULL)
        return -1;
    struct bare_server srv = { .dtls = c->dtls, .nodelay = c->nodelay, .count = o->n,
                               .chain_pem = chain, .key_pem = key, .fd = -1 };
    if (bare_server_start(&srv) != 0) {
        fprintf(stderr, "bench_bare: cannot start the OpenSSL server with %s\n", chain);
        bare_server_join(&srv);
        free(root_b64);
        return -1;
    }
    struct devtls_env env = { .flash_dir = flash, .rtc_now = host_rtc, .emit = drop_event,
                              .interrupted = never, .heap_total = 1 << 20 };
    *as_expected = 0;
    double t0 = now_us();
    for (int i = 0; i < o->n; i++) {
        if (bare_server_wait_ready(&srv, i, BARE_READY_WAIT_MS) != 0)
            break;
        *as_expected += one_handshake(&env, c, srv.port, root_b64, i, *as_expected == i);
    }
    double ms = (now_us() - t0) / 1000.0 / o->n;
    bare_server_join(&srv);
    free(root_b64);
    return ms;
}

static void print_result(const struct bare_opt *o, const struct bare_config *c, int ok, double ms)
{
    json_t *line = json_pack("{s:s,s:s,s:s,s:s,s:o,s:i,s:i,s:f}", "bench", "bare", "case",
                             c->fail ? "untrusted" : "happy", "keytype", c->kt, "proto",
                             c->dtls ? "dtls" : "tls", "nodelay",
                             c->dtls ? json_null() : json_boolean(c->nodelay), "handshakes",
                             o->n, "as_expected", ok, "ms_per_handshake", ms);
    json_dumpf(line, stdout, JSON_COMPACT);
    putchar('\n');
    fflush(stdout);
    json_decref(line);
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_bare [-n HANDSHAKES] [-f FIXTURES_DIR] [-k p256|p384|rsa2048]"
                    " [-D (skip TLS without TCP_NODELAY)]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct bare_opt o = { .n = 50, .fixtures = TM_FIXTURES_DIR, .tls_delay = 1 };
    int opt;
    while ((opt = getopt(argc, argv, "n:f:k:D")) != -1) {
        if (opt == 'n' && atoi(optarg) > 0)
            o.n = atoi(optarg);
        else if (opt == 'f')
            o.fixtures = optarg;
        else if (opt == 'k')
            o.only_kt = optarg;
        else if (opt == 'D')
            o.tls_delay = 0;
        else
            return usage();
    }
    char flash[512];
    struct tm_err err;
    if (tm_mkdtemp(flash, sizeof flash, "tm-bench-flash-", &err) != 0) {
        fprintf(stderr, "bench_bare: %s\n", err.msg);
        return 2;
    }
    static const char *const kts[] = { "p256", "p384", "rsa2048" };
    int rc = 0;
    for (int k = 0; k < 3 && rc != 2; k++) {
        if (o.only_kt != NULL && strcmp(o.only_kt, kts[k]) != 0)
            continue;
        for (int fail = 0; fail <= 1 && rc != 2; fail++)
            for (int dtls = 0; dtls <= 1 && rc != 2; dtls++)
                for (int nodelay = 1; nodelay >= (dtls || !o.tls_delay ? 1 : 0); nodelay--) {
                    struct bare_config c = { kts[k], dtls, nodelay, fail };
                    int ok = 0;
                    double ms = run_config(&o, &c, flash, &ok);
                    if (ms < 0) {
                        rc = 2;
                        break;
                    }
                    if (ok != o.n)
                        rc = 1;
                    print_result(&o, &c, ok, ms);
                }
    }
    rmdir(flash);
    return rc;
}
