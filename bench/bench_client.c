/* One device-like client handshake for the shell-loop baseline (bench/shell_loop.sh):
 * the virtual camera's own device TLS code (devtls: mbedTLS configured like the
 * camera) connects once, verifies the server against one DER anchor, and exits.
 * It plays the part ssl_client2 plays in mbedTLS's ssl-opt.sh: one process per case.
 * Prints the device reply (docs/contracts.md §3) as one JSON line.
 * Exit 0 when the handshake succeeded, 1 when it failed, 2 on usage/setup errors. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "devtls.h"
#include "tm_fs.h"

struct client_opt {
    const char *proto;      /* tls | dtls */
    int port;
    const char *ca_der;     /* trust anchor file */
    const char *servername;
    int nodelay;
    int deadline_ms;
};

static int64_t host_rtc(void *ctx) { (void)ctx; return (int64_t)time(NULL); }
static void drop_event(void *ctx, json_t *ev) { (void)ctx; json_decref(ev); }
static int never(void *ctx) { (void)ctx; return 0; }

static int usage(const char *why)
{
    fprintf(stderr, "bench_client: %s\n"
                    "usage: bench_client --port N --ca ROOT.der [--proto tls|dtls]"
                    " [--servername NAME] [--nodelay] [--deadline MS]\n", why);
    return 2;
}

static int parse(int argc, char **argv, struct client_opt *o)
{
    static const struct option longs[] = {
        { "proto", required_argument, 0, 'p' }, { "port", required_argument, 0, 'P' },
        { "ca", required_argument, 0, 'c' },    { "servername", required_argument, 0, 's' },
        { "nodelay", no_argument, 0, 'n' },     { "deadline", required_argument, 0, 'd' },
        { 0, 0, 0, 0 } };
    int c;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (c) {
        case 'p': o->proto = optarg; break;
        case 'P': o->port = atoi(optarg); break;
        case 'c': o->ca_der = optarg; break;
        case 's': o->servername = optarg; break;
        case 'n': o->nodelay = 1; break;
        case 'd': o->deadline_ms = atoi(optarg); break;
        default: return usage("unknown option");
        }
    }
    if (o->port <= 0 || o->port > 65535)
        return usage("--port: 1..65535 required");
    if (o->ca_der == NULL)
        return usage("--ca: a DER trust anchor is required");
    if (strcmp(o->proto, "tls") != 0 && strcmp(o->proto, "dtls") != 0)
        return usage("--proto: tls or dtls");
    if (o->deadline_ms <= 0)
        return usage("--deadline: a positive number of ms");
    return 0;
}

int main(int argc, char **argv)
{
    struct client_opt o = { .proto = "tls", .servername = "test.local", .deadline_ms = 10000 };
    if (parse(argc, argv, &o) != 0)
        return 2;
    unsigned char *der;
    size_t len;
    struct tm_err err;
    if (tm_read_file(o.ca_der, &der, &len, &err) != 0) {
        fprintf(stderr, "bench_client: --ca: %s\n", err.msg);
        return 2;
    }
    char *b64 = tm_b64_encode(der, len);
    free(der);
    char flash[512];
    if (b64 == NULL || tm_mkdtemp(flash, sizeof flash, "tm-bench-client-", &err) != 0) {
        free(b64);
        fprintf(stderr, "bench_client: cannot prepare the device flash directory: %s\n",
                b64 == NULL ? "out of memory" : err.msg);
        return 2;
    }
    struct devtls_env env = { .flash_dir = flash, .rtc_now = host_rtc, .emit = drop_event,
                              .interrupted = never, .heap_total = 1 << 20 };
    json_t *req = json_pack("{s:i,s:s,s:s,s:s,s:i,s:s,s:[{s:s}],s:b,s:i}", "id", 1, "op",
                            strcmp(o.proto, "dtls") == 0 ? "dtls_client" : "tls_client",
                            "layer", "tls", "host", "127.0.0.1", "port", o.port,
                            "server_hostname", o.servername, "ca", "b64", b64, "nodelay",
                            o.nodelay, "deadline_ms", o.deadline_ms);
    json_t *reply = devtls_run(&env, req);
    const char *outcome = json_string_value(json_object_get(reply, "outcome"));
    int rc = outcome != NULL && strcmp(outcome, "ok") == 0 ? 0 : 1;
    json_dumpf(reply, stdout, JSON_COMPACT);
    putchar('\n');
    json_decref(req);
    json_decref(reply);
    free(b64);
    rmdir(flash);
    return rc;
}
