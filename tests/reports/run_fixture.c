#include "run_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report.h"
#include "tm_fs.h"

static json_t *make_case(const char *scenario, const char *backend, const char *keytype,
                         const char *proto, const char *verdict, const char *reason)
{
    char id[256];
    snprintf(id, sizeof id, "%s/%s/%s/%s", scenario, backend, keytype, proto);
    return json_pack(
        "{s:s, s:s, s:s, s:[s], s:{s:s, s:s, s:s}, s:s, s:b, s:{s:[s], s:[s]}, s:{s:s, s:s},"
        " s:s, s:s, s:n, s:i, s:b, s:{s:i, s:i, s:i, s:i, s:i, s:i}, s:i, s:{s:s, s:i},"
        " s:{s:s}, s:{s:[s, s], s:[s], s:[]}, s:s}",
        "id", id, "scenario", scenario, "doc", "Chain to a root anchor.", "tags", "chain",
        "axes", "backend", backend, "keytype", keytype, "proto", proto,
        "device", "virtual", "insecure", 0,
        "expected", "device", "ok", "peer", "ok",
        "actual", "device", "ok", "peer", "ok",
        "verdict", verdict, "reason", reason, "xfail", "attempts", 1, "flaky", 0,
        "timings_ms", "peer_start", 3, "device_request", 40, "handshake", 35, "classify", 0,
        "report", 0, "total", 1250,
        "heap_delta", -64, "device_reply", "outcome", "ok", "id", 7,
        "peer_result", "outcome", "ok",
        "transcript", "agent", "> {\"id\":7,\"op\":\"tls_client\"}", "< {\"id\":7,\"outcome\":\"ok\"}",
        "peer", "handshake ok", "proxy",
        "replay", "tlsmatrix repro --case 'x'");
}

static void set_actual(json_t *c, const char *device, const char *peer)
{
    json_object_set_new(c, "actual", json_pack("{s:s, s:s}", "device", device, "peer", peer));
}

json_t *fixture_run(void)
{
    json_t *cases = json_array();
    json_t *c;
    /* scenario 1: pass, fail, xfail */
    c = make_case("client-chain-root-anchor", "openssl", "p256", "tls", "pass", "as expected");
    json_object_set_new(c, "heap", json_pack("{s:i, s:i, s:i, s:i}", "before", 237568, "after",
                                             237568, "free_asked", 40000, "free_reached", 40012));
    json_array_append_new(cases, c);
    c = make_case("client-chain-root-anchor", "gnutls", "p256", "tls", "fail",
                  "device said error:handshake, expected ok");
    set_actual(c, "error:handshake", "alert:bad_certificate");
    json_array_append_new(cases, c);
    c = make_case("client-chain-root-anchor", "openssl", "rsa2048", "dtls", "xfail",
                  "known deviation happened");
    json_object_set_new(c, "xfail", json_pack("{s:s, s:s}", "reason", "DTLS chain order",
                                              "ref", "docs/device-model.md §2.3"));
    set_actual(c, "error:handshake", "alert:unknown_ca");
    json_array_append_new(cases, c);
    /* scenario 2: insecure by design; xpass and an error full of device garbage */
    c = make_case("server-verify-none", "openssl", "p256", "tls", "xpass",
                  "known deviation did not happen");
    json_object_set_new(c, "insecure", json_true());
    json_object_set_new(c, "xfail", json_pack("{s:s, s:s}", "reason", "verify none accepted",
                                              "ref", "docs/device-model.md §1.2"));
    json_array_append_new(cases, c);
    c = make_case("server-verify-none", "gnutls", "rsa2048", "tls", "error", NASTY);
    json_object_set_new(c, "insecure", json_true());
    json_object_set_new(c, "doc", json_string(NASTY));
    set_actual(c, "error:" NASTY, "timeout");
    json_object_set_new(c, "device_reply",
                        json_pack("{s:s, s:{s:s, s:s}}", "outcome", "error", "exc", "type",
                                  "OSError", "text", NASTY));
    json_object_set_new(c, "transcript",
                        json_pack("{s:[s, s], s:[]}", "agent", "Traceback (most recent call last):",
                                  NASTY, "peer"));
    json_array_append_new(cases, c);
    /* scenario 3: skip and a flaky pass */
    c = make_case("dtls-cookie", "openssl", "p256", "dtls", "skip", "device has no DTLS");
    json_array_append_new(cases, c);
    c = make_case("dtls-cookie", "gnutls", "p256", "dtls", "pass", "as expected after a retry");
    json_object_set_new(c, "attempts", json_integer(2));
    json_object_set_new(c, "flaky", json_true());
    json_array_append_new(cases, c);
    c = make_case("dtls-cookie", "gnutls", "rsa2048", "dtls", "fail", "peer saw no ClientHello");
    set_actual(c, "timeout", "timeout");
    json_array_append_new(cases, c);

    json_t *run = json_pack(
        "{s:s, s:{s:s, s:s, s:s, s:[s, s], s:{s:s, s:s, s:s}, s:i, s:s, s:s, s:s, s:b,"
        " s:[{s:s, s:{s:s, s:{s:s, s:s, s:s}, s:s, s:b}}]}, s:o}",
        "format", "tlsmatrix-run/1", "header", "started", "2026-11-24T10:00:00Z", "finished",
        "2026-11-24T10:05:00Z", "harness", "0.1.0", "command", "tlsmatrix", "run",
        "versions", "openssl", "OpenSSL 3.0.17", "gnutls", "3.7.9", "mbedtls_host", "2.28.3",
        "seed", 42, "shard", "1/1", "profile", "micropython-openmv-default",
        "fixture_reference_time", "2026-01-01T00:00:00Z", "tcp_nodelay", 1,
        "devices", "link", "virtual", "hello", "event", "hello", "impl", "name", "micropython",
        "version", "1.27.0", "machine", "OpenMV <Cam> & \"H7\"", "mbedtls", "Mbed TLS 3.6.6",
        "virtual", 1,
        "cases", cases);
    report_update_totals(run);
    return run;
}

json_t *fixture_case(json_t *run, const char *id)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(run, "cases"), i, c) {
        if (strcmp(json_string_value(json_object_get(c, "id")), id) == 0)
            return c;
    }
    return NULL;
}

char *fixture_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char *path = NULL;
    if (asprintf(&path, "%s/tm-reports-%s-XXXXXX", base && *base ? base : "/tmp", tag) < 0)
        return NULL;
    if (mkdtemp(path) == NULL) {
        free(path);
        return NULL;
    }
    return path;
}

void fixture_rmtree(const char *path)
{
    if (path != NULL)
        tm_rmtree(path, NULL);
}

char *fixture_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0;
    if (f == NULL)
        return NULL;
    FILE *m = open_memstream(&buf, &len);
    char chunk[8192];
    size_t n;
    while (m != NULL && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(f);
    if (m != NULL)
        fclose(m);
    return buf;
}
