/* Capability skips from the agent's hello (contracts §3) and bundle names. */
#include <check.h>
#include <string.h>

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

START_TEST(clock_not_settable_skips_reference_and_unset)
{
    char buf[300];
    json_t *h = hello(0, 1, 1);
    json_t *a = kase("tls", NULL, 0), *b = kase("tls", "unset", 0), *c = kase("tls", "keep", 0);
    const char *why = runner_skip_reason(a, h, buf, sizeof buf);
    ck_assert_msg(why && strstr(why, "clock.settable=false") && strstr(why, "reference"), "%s", why);
    why = runner_skip_reason(b, h, buf, sizeof buf);
    ck_assert_msg(why && strstr(why, "unset"), "%s", why);
    ck_assert_ptr_null(runner_skip_reason(c, h, buf, sizeof buf));   /* keep: runs */
    json_decref(h);
    h = hello(1, 1, 1);
    ck_assert_ptr_null(runner_skip_reason(a, h, buf, sizeof buf));
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(h);
}
END_TEST

START_TEST(missing_dtls_and_set_ciphers_skip)
{
    char buf[300];
    json_t *h = hello(1, 0, 0);
    json_t *d = kase("dtls", NULL, 0), *c = kase("tls", NULL, 1), *t = kase("tls", NULL, 0);
    ck_assert_str_eq(runner_skip_reason(d, h, buf, sizeof buf), "device has no DTLS (hello caps.dtls)");
    ck_assert_ptr_nonnull(strstr(runner_skip_reason(c, h, buf, sizeof buf), "set_ciphers"));
    ck_assert_ptr_null(runner_skip_reason(t, h, buf, sizeof buf));
    /* Without a device: the requirements, for `tlsmatrix list`. */
    ck_assert_str_eq(runner_skip_reason(d, NULL, buf, sizeof buf), "needs settable-clock dtls");
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
    ck_assert_str_eq(runner_skip_reason(n, h, buf, sizeof buf),
                     "device has no DTLS client_id (hello caps.client_id=false)");
    ck_assert_ptr_null(runner_skip_reason(w, h, buf, sizeof buf));
    json_object_set_new(json_object_get(h, "caps"), "client_id", json_true());
    ck_assert_ptr_null(runner_skip_reason(n, h, buf, sizeof buf));
    json_decref(n);
    json_decref(w);
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
    tcase_add_test(tc, clock_not_settable_skips_reference_and_unset);
    tcase_add_test(tc, missing_dtls_and_set_ciphers_skip);
    tcase_add_test(tc, missing_client_id_skips_native_layer_only);
    tcase_add_test(tc, sanitised_ids);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
