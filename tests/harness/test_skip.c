/* Capability skips from the agent's hello (contracts §3) and bundle names. */
#include <check.h>
#include <string.h>

#include "tm_time.h"

#include "runner/runner.h"

static json_t *kase(const char *proto, const char *clock, int ciphers)
{
    json_t *k = json_pack("{s:s, s:{s:s}, s:{s:s}}", "id", "x/openssl/p256/tls", "axes", "proto",
                          proto, "device", "role", "client");
    if (clock)
        json_object_set_new(json_object_get(k, "device"), "clock", json_string(clock));
    if (ciphers)
        json_object_set_new(json_object_get(k, "device"), "ciphers",
                            json_pack("[s]", "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"));
    return k;
}

static json_t *hello(int settable, int dtls, int set_ciphers)
{
    return json_pack("{s:s, s:i, s:{s:b}, s:{s:b, s:b}, s:{s:b, s:b}}", "event", "hello", "proto",
                     1, "clock", "settable", settable, "caps", "dtls", dtls, "set_ciphers",
                     set_ciphers, "modules", "ssl", 1, "tls", 1);
}

#define DAY 86400
#define REF 1795478400   /* 2026-11-24T00:00:00Z */

/* A manifest as pkigen writes it (contracts §1), the windows of pki.yaml. */
static json_t *manifest(void)
{
    return json_pack("{s:I, s:[{s:s, s:s, s:s, s:{s:s}, s:[]}, {s:s, s:s, s:s, s:{s:s, s:s}, s:[s]},"
                     " {s:s, s:s, s:s, s:{s:s}, s:[]}]}",
                     "reference_epoch", (json_int_t)REF, "certs",
                     "name", "root", "not_before", "2026-11-23T00:00:00Z",
                     "not_after", "2036-11-21T00:00:00Z", "files", "der", "root.der", "chain",
                     "name", "srv", "not_before", "2026-11-23T00:00:00Z",
                     "not_after", "2027-11-24T00:00:00Z", "files", "der", "srv.der",
                     "fullchain_pem", "srv.fullchain.pem", "chain", "future",
                     "name", "future", "not_before", "2026-12-24T00:00:00Z",
                     "not_after", "2027-12-24T00:00:00Z", "files", "der", "future.der", "chain");
}

static json_t *clock_hello(int settable, json_int_t epoch)
{
    json_t *h = hello(settable, 1, 1);
    json_object_set_new(json_object_get(h, "clock"), "epoch", json_integer(epoch));
    return h;
}

/* A device that cannot set its clock: `unset` cannot run, `keep` always runs,
 * the reference clock runs at the device's time while the certificates the case
 * names keep their intended state there (docs/device-model.md §7). */
START_TEST(clock_not_settable_runs_where_certificates_hold)
{
    char buf[400];
    json_t *m = manifest(), *h = clock_hello(0, REF + DAY);
    json_t *a = kase("tls", NULL, 0), *b = kase("tls", "unset", 0), *c = kase("tls", "keep", 0);
    json_object_set_new(json_object_get(a, "device"), "ca", json_pack("[s]", "root.der"));
    json_object_set_new(a, "peer", json_pack("{s:[s]}", "cert", "srv.der"));
    ck_assert_ptr_null(runner_skip_reason(a, h, m, buf, sizeof buf));
    const char *why = runner_skip_reason(b, h, m, buf, sizeof buf);
    ck_assert_msg(why && strstr(why, "clock.settable=false") && strstr(why, "unset"), "%s", why);
    ck_assert_ptr_null(runner_skip_reason(c, h, m, buf, sizeof buf));
    /* A year on, the leaf has expired: the case would not test what it says. */
    json_decref(h);
    h = clock_hello(0, REF + 400 * DAY);
    why = runner_skip_reason(a, h, m, buf, sizeof buf);
    ck_assert_msg(why && strstr(why, "certificate srv is expired, not valid"), "%s", why);
    ck_assert_ptr_null(runner_skip_reason(c, h, m, buf, sizeof buf));
    /* A fullchain file brings its chain: "future" has started 40 days on. */
    json_decref(h);
    h = clock_hello(0, REF + 40 * DAY);
    json_object_set_new(json_object_get(a, "peer"), "cert", json_pack("[s]", "srv.fullchain.pem"));
    why = runner_skip_reason(a, h, m, buf, sizeof buf);
    ck_assert_msg(why && strstr(why, "certificate future is valid, not not yet valid"), "%s", why);
    /* Files that are not generated fixtures are judged as they are. */
    json_object_set_new(json_object_get(a, "peer"), "cert", json_pack("[s]", "mine.der"));
    ck_assert_ptr_null(runner_skip_reason(a, h, m, buf, sizeof buf));
    /* A settable clock is set: nothing to check. */
    json_decref(h);
    h = clock_hello(1, REF + 400 * DAY);
    ck_assert_ptr_null(runner_skip_reason(a, h, m, buf, sizeof buf));
    ck_assert_ptr_null(runner_skip_reason(b, h, m, buf, sizeof buf));
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(h);
    json_decref(m);
}
END_TEST

/* A case at a given time (x509-limbo's validation_time) on a device that
 * cannot set its clock runs at its own time only inside the case's clock_span,
 * with an hour to spare; a skip its source already knows wins. */
START_TEST(clock_at_runs_inside_its_span)
{
    char buf[400];
    json_t *k = kase("tls", NULL, 0), *h = clock_hello(0, REF);
    char at[40];
    tm_format_utc(REF - 10 * DAY, at, sizeof at);
    json_object_set_new(json_object_get(k, "device"), "clock", json_string(at));
    json_object_set_new(json_object_get(k, "device"), "clock_span",
                        json_pack("[I, I]", (json_int_t)(REF - 20 * DAY), (json_int_t)(REF + DAY)));
    ck_assert_ptr_null(runner_skip_reason(k, h, NULL, buf, sizeof buf));
    json_decref(h);
    h = clock_hello(0, REF + DAY - 60);   /* the run's hour would cross the edge */
    const char *why = runner_skip_reason(k, h, NULL, buf, sizeof buf);
    ck_assert_msg(why && strstr(why, "clock.settable=false") && strstr(why, "validates at"), "%s", why);
    json_decref(h);
    h = clock_hello(1, REF + 400 * DAY);  /* settable: the clock is set to clock_at */
    ck_assert_ptr_null(runner_skip_reason(k, h, NULL, buf, sizeof buf));
    json_object_set_new(k, "skip", json_string("validation_kind CLIENT: why"));
    ck_assert_str_eq(runner_skip_reason(k, h, NULL, buf, sizeof buf), "validation_kind CLIENT: why");
    json_decref(h);
    json_decref(k);
}
END_TEST

/* No ssl wrapper (MicroPython's unix port from Debian's +ds source): ssl-layer
 * cases are skipped, tls-layer ones run. */
START_TEST(missing_ssl_wrapper_skips_ssl_layer)
{
    char buf[300];
    json_t *h = hello(1, 1, 1);
    json_object_set_new(json_object_get(h, "modules"), "ssl", json_false());
    json_t *w = kase("tls", "keep", 0), *n = kase("tls", "keep", 0);
    json_object_set_new(json_object_get(w, "device"), "layer", json_string("ssl"));
    ck_assert_str_eq(runner_skip_reason(w, h, NULL, buf, sizeof buf),
                     "device has no ssl wrapper (hello modules.ssl=false)");
    ck_assert_ptr_null(runner_skip_reason(n, h, NULL, buf, sizeof buf));
    json_decref(w);
    json_decref(n);
    json_decref(h);
}
END_TEST

/* heap_free (docs/device-model.md §9): a device with less free than the figure, or
 * whose mbedTLS is not on the GC heap (unix port), cannot run the case as meant. */
START_TEST(heap_free_needs_the_heap_and_gc_tls)
{
    char buf[300];
    json_t *h = hello(1, 1, 1), *k = kase("tls", NULL, 0), *plain = kase("tls", NULL, 0);
    json_object_set_new(json_object_get(k, "device"), "heap_free", json_integer(40000));
    json_object_set_new(h, "heap_free", json_integer(39000));
    ck_assert_str_eq(runner_skip_reason(k, h, NULL, buf, sizeof buf),
                     "device has 39000 bytes of heap free (hello heap_free), fewer than the "
                     "case's heap_free 40000");
    ck_assert_ptr_null(runner_skip_reason(plain, h, NULL, buf, sizeof buf));
    json_object_set_new(h, "heap_free", json_integer(200000));
    ck_assert_ptr_null(runner_skip_reason(k, h, NULL, buf, sizeof buf));
    json_object_set_new(json_object_get(h, "caps"), "tls_gc_heap", json_false());
    ck_assert_ptr_nonnull(strstr(runner_skip_reason(k, h, NULL, buf, sizeof buf),
                                 "caps.tls_gc_heap=false"));
    ck_assert_ptr_null(runner_skip_reason(plain, h, NULL, buf, sizeof buf));
    json_decref(h);
    json_decref(k);
    json_decref(plain);
}
END_TEST

START_TEST(missing_dtls_and_set_ciphers_skip)
{
    char buf[300];
    json_t *h = hello(1, 0, 0);
    json_t *d = kase("dtls", NULL, 0), *c = kase("tls", NULL, 1), *t = kase("tls", NULL, 0);
    ck_assert_str_eq(runner_skip_reason(d, h, NULL, buf, sizeof buf), "device has no DTLS (hello caps.dtls)");
    ck_assert_ptr_nonnull(strstr(runner_skip_reason(c, h, NULL, buf, sizeof buf), "set_ciphers"));
    ck_assert_ptr_null(runner_skip_reason(t, h, NULL, buf, sizeof buf));
    /* Without a device: the requirements, for `tlsmatrix list`. */
    ck_assert_str_eq(runner_skip_reason(d, NULL, NULL, buf, sizeof buf), "needs dtls");
    json_object_set_new(json_object_get(d, "device"), "clock", json_string("unset"));
    ck_assert_str_eq(runner_skip_reason(d, NULL, NULL, buf, sizeof buf), "needs settable-clock dtls");
    json_decref(d);
    json_decref(c);
    json_decref(t);
    json_decref(h);
}
END_TEST

/* Firmware before 2025-07 has DTLS but no client_id keyword: a native-layer case
 * that passes one is skipped; on the ssl wrapper its TypeError is the result. */
START_TEST(missing_client_id_skips_native_layer_only)
{
    char buf[300];
    json_t *h = hello(1, 1, 1);
    json_object_set_new(json_object_get(h, "caps"), "client_id", json_false());
    json_t *n = kase("dtls", "keep", 0), *w = kase("dtls", "keep", 0);
    json_object_set_new(json_object_get(n, "device"), "options", json_pack("{s:s}", "client_id", "auto"));
    json_object_set_new(json_object_get(w, "device"), "options", json_pack("{s:s}", "client_id", "auto"));
    json_object_set_new(json_object_get(w, "device"), "layer", json_string("ssl"));
    ck_assert_str_eq(runner_skip_reason(n, h, NULL, buf, sizeof buf),
                     "device has no DTLS client_id (hello caps.client_id=false)");
    ck_assert_ptr_null(runner_skip_reason(w, h, NULL, buf, sizeof buf));
    json_object_set_new(json_object_get(h, "caps"), "client_id", json_true());
    ck_assert_ptr_null(runner_skip_reason(n, h, NULL, buf, sizeof buf));
    json_decref(n);
    json_decref(w);
    json_decref(h);
}
END_TEST

/* A session runs where the hello has what its steps need: the session ops, a
 * soft reset (MicroPython's unix port has none), asyncio, the virtual camera's
 * faults (nested in repeat blocks too). */
START_TEST(session_steps_need_their_caps)
{
    char buf[300];
    json_t *h = hello(1, 1, 1), *caps = json_object_get(h, "caps");
    json_t *k = kase("tls", NULL, 0);
    json_object_set_new(k, "steps", json_pack("[s, {s:i, s:[s]}]", "open", "repeat", 2, "steps",
                                              "reset"));
    ck_assert_str_eq(runner_skip_reason(k, h, NULL, buf, sizeof buf),
                     "device agent has no session steps (hello caps.sessions)");
    json_object_set_new(caps, "sessions", json_true());
    json_object_set_new(caps, "soft_reset", json_false());
    ck_assert_str_eq(runner_skip_reason(k, h, NULL, buf, sizeof buf),
                     "device cannot soft reset (hello caps.soft_reset=false)");
    json_object_set_new(caps, "soft_reset", json_true());
    ck_assert_ptr_null(runner_skip_reason(k, h, NULL, buf, sizeof buf));
    json_object_set_new(k, "steps", json_pack("[s, {s:{s:b}}]", "open", "open", "keep", 0));
    ck_assert_ptr_null(runner_skip_reason(k, h, NULL, buf, sizeof buf));   /* no asyncio step */
    json_object_set_new(k, "steps", json_pack("[s, {s:i, s:[{s:{s:b, s:b}}]}]", "open", "repeat", 2,
                                              "steps", "open", "keep", 0, "asyncio", 1));
    ck_assert_str_eq(runner_skip_reason(k, h, NULL, buf, sizeof buf),
                     "device has no asyncio (hello caps.asyncio=false)");
    json_object_set_new(caps, "asyncio", json_true());
    ck_assert_ptr_null(runner_skip_reason(k, h, NULL, buf, sizeof buf));
    json_object_set_new(k, "steps", json_pack("[{s:s}, s]", "fault", "reboot@request=1", "open"));
    ck_assert_str_eq(runner_skip_reason(k, h, NULL, buf, sizeof buf),
                     "fault steps need the virtual camera (hello virtual=false)");
    json_object_set_new(h, "virtual", json_true());
    ck_assert_ptr_null(runner_skip_reason(k, h, NULL, buf, sizeof buf));
    json_decref(k);
    json_decref(h);
}
END_TEST

START_TEST(sanitised_ids)
{
    char out[64];
    runner_sanitise_id("client-x/openssl/p256/tls", out, sizeof out);
    ck_assert_str_eq(out, "client-x_openssl_p256_tls");
    runner_sanitise_id("../../etc/passwd", out, sizeof out);
    ck_assert_ptr_null(strchr(out, '/'));
    runner_sanitise_id("a-very-long-id-that-does-not-fit-in-the-buffer-given-here/x/y/z", out, 16);
    ck_assert_uint_eq(strlen(out), 15);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("harness_skip");
    TCase *tc = tcase_create("skip");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, clock_not_settable_runs_where_certificates_hold);
    tcase_add_test(tc, missing_ssl_wrapper_skips_ssl_layer);
    tcase_add_test(tc, missing_dtls_and_set_ciphers_skip);
    tcase_add_test(tc, heap_free_needs_the_heap_and_gc_tls);
    tcase_add_test(tc, missing_client_id_skips_native_layer_only);
    tcase_add_test(tc, session_steps_need_their_caps);
    tcase_add_test(tc, sanitised_ids);
    tcase_add_test(tc, clock_at_runs_inside_its_span);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
