/* tcpproxy's TLS stream parser and option parsers, in process: the same bytes cut
 * into any TCP pieces give the same events at the same offsets. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcpproxy.h"

/* A TLS 1.2 record header + body. */
static size_t rec(unsigned char *out, unsigned ct, const unsigned char *body, size_t len)
{
    out[0] = (unsigned char)ct;
    out[1] = 3;
    out[2] = 3;
    out[3] = (unsigned char)(len >> 8);
    out[4] = (unsigned char)len;
    memcpy(out + 5, body, len);
    return 5 + len;
}

/* A handshake message: type + 24-bit length + len bytes of filler. */
static size_t msg(unsigned char *out, int type, size_t len)
{
    out[0] = (unsigned char)type;
    out[1] = (unsigned char)(len >> 16);
    out[2] = (unsigned char)(len >> 8);
    out[3] = (unsigned char)len;
    memset(out + 4, 0xab, len);
    return 4 + len;
}

/* A server's TLS 1.2 flight and more:
 *  r1 [0,583):    ServerHello(70) + Certificate(500)
 *  r2 [583,592):  ServerHelloDone(0)
 *  r3 [592,598):  ChangeCipherSpec
 *  r4 [598,643):  encrypted Finished (40)
 *  r5 [643,678):  application data (30) */
static size_t flight(unsigned char *out)
{
    unsigned char body[2048];
    size_t n = 0, b = msg(body, 2, 70);
    b += msg(body + b, 11, 500);
    n += rec(out + n, 22, body, b);
    b = msg(body, 14, 0);
    n += rec(out + n, 22, body, b);
    n += rec(out + n, 20, (const unsigned char *)"\1", 1);
    memset(body, 0x5a, 40);
    n += rec(out + n, 22, body, 40);
    memset(body, 0x17, 30);
    n += rec(out + n, 23, body, 30);
    return n;
}

struct trace {
    char text[4096];
};

static void collect(void *ctx, const struct tp_event *ev)
{
    static const char *const kinds[] = { "start", "mid", "end", "record" };
    struct trace *t = ctx;
    size_t used = strlen(t->text);
    snprintf(t->text + used, sizeof t->text - used, "%s:%s@%llu[%llu]%s%s\n", kinds[ev->kind],
             ev->kind == TP_EV_RECORD_END ? "" : tp_hs_type_name(ev->hs_type),
             (unsigned long long)ev->off, (unsigned long long)ev->rec_start,
             ev->desc ? " " : "", ev->desc ? ev->desc : "");
}

/* Feed d in pieces of the given sizes (cycled), return the trace. */
static void feed_pieces(const unsigned char *d, size_t n, const size_t *sizes, size_t nsizes,
                        struct trace *t)
{
    struct tp_stream s;
    tp_stream_init(&s);
    memset(t, 0, sizeof *t);
    size_t off = 0, k = 0;
    while (off < n) {
        size_t m = sizes[k++ % nsizes];
        if (m > n - off)
            m = n - off;
        tp_stream_feed(&s, d + off, m, collect, t);
        off += m;
    }
    ck_assert_uint_eq(s.off, n);
    ck_assert_uint_eq(s.complete, n);
}

static const char expected_flight[] =
    "start:server_hello@0[0]\n"
    "mid:server_hello@44[0]\n"
    "end:server_hello@79[0]\n"
    "start:certificate@79[0]\n"
    "mid:certificate@333[0]\n"
    "end:certificate@583[0]\n"
    "record:@583[0] handshake/server_hello+certificate\n"
    "start:server_hello_done@583[583]\n"
    "mid:server_hello_done@592[583]\n"
    "end:server_hello_done@592[583]\n"
    "record:@592[583] handshake/server_hello_done\n"
    "record:@598[592] change_cipher_spec\n"
    "start:finished@598[598]\n"
    "mid:finished@623[598]\n"
    "end:finished@643[598]\n"
    "record:@643[598] handshake/finished\n"
    "record:@678[643] application_data\n";

START_TEST(one_read_names_every_boundary)
{
    unsigned char d[4096];
    size_t n = flight(d);
    ck_assert_uint_eq(n, 678);
    struct trace t;
    size_t all[] = { n };
    feed_pieces(d, n, all, 1, &t);
    ck_assert_str_eq(t.text, expected_flight);
}
END_TEST

/* Records split across reads (1 byte at a time, header split 3+2, odd sizes) and
 * several records in one read give the same events. */
START_TEST(any_split_same_events)
{
    unsigned char d[4096];
    size_t n = flight(d);
    static const size_t splits[][4] = { { 1 }, { 3, 2 }, { 7, 13, 1, 200 }, { 590, 88 } };
    static const size_t nsplits[] = { 1, 2, 4, 2 };
    for (size_t i = 0; i < 4; i++) {
        struct trace t;
        feed_pieces(d, n, splits[i], nsplits[i], &t);
        ck_assert_msg(strcmp(t.text, expected_flight) == 0, "split %zu:\n%s", i, t.text);
    }
}
END_TEST

/* A Certificate larger than one record (a peer with a small max fragment): the
 * message ends in the second record, which is named as its rest. */
START_TEST(message_across_records)
{
    unsigned char body[2048], d[4096];
    size_t b = msg(body, 11, 300);
    size_t n = rec(d, 22, body, 100);
    n += rec(d + n, 22, body + 100, b - 100);
    struct trace t;
    size_t sizes[] = { 1 };
    feed_pieces(d, n, sizes, 1, &t);
    ck_assert_str_eq(t.text,
                     "start:certificate@0[0]\n"
                     "record:@105[0] handshake/certificate\n"
                     "mid:certificate@164[105]\n"
                     "end:certificate@314[105]\n"
                     "record:@314[105] handshake/(rest)\n");
}
END_TEST

START_TEST(alerts_and_encrypted_alerts)
{
    unsigned char d[256];
    size_t n = rec(d, 21, (const unsigned char *)"\2\50", 2);
    n += rec(d + n, 21, (const unsigned char *)"\1\0", 2);
    n += rec(d + n, 20, (const unsigned char *)"\1", 1);
    n += rec(d + n, 21, (const unsigned char *)"0123456789abcdef0123", 20);
    struct trace t;
    size_t sizes[] = { 4 };
    feed_pieces(d, n, sizes, 1, &t);
    ck_assert_str_eq(t.text,
                     "record:@7[0] alert/fatal.40\n"
                     "record:@14[7] alert/warning.0\n"
                     "record:@20[14] change_cipher_spec\n"
                     "record:@45[20] alert/encrypted\n");
}
END_TEST

/* HTTP (not TLS): the stream turns opaque, counts bytes and reports nothing. */
START_TEST(not_tls_is_opaque)
{
    const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    struct tp_stream s;
    struct trace t;
    memset(&t, 0, sizeof t);
    tp_stream_init(&s);
    tp_stream_feed(&s, (const unsigned char *)http, strlen(http), collect, &t);
    ck_assert_int_eq(s.opaque, 1);
    ck_assert_uint_eq(s.off, strlen(http));
    ck_assert_str_eq(t.text, "");
}
END_TEST

/* A record over the TLSCiphertext limit is not TLS either. */
START_TEST(oversized_record_is_opaque)
{
    unsigned char d[5] = { 23, 3, 3, 0x48, 0x01 };
    struct tp_stream s;
    tp_stream_init(&s);
    tp_stream_feed(&s, d, 5, NULL, NULL);
    ck_assert_int_eq(s.opaque, 1);
}
END_TEST

START_TEST(places_and_actions_parse)
{
    struct tp_opts o;
    char msg[512];
    memset(&o, 0, sizeof o);
    ck_assert_int_eq(tp_parse_place("after:server:server_hello", &o, msg, sizeof msg), 0);
    ck_assert_int_eq(o.place, TP_AT_AFTER);
    ck_assert_int_eq(o.side, TP_SERVER);
    ck_assert_int_eq(o.hs_type, 2);
    ck_assert_int_eq(tp_parse_place("bytes:client:100", &o, msg, sizeof msg), 0);
    ck_assert_int_eq(o.place, TP_AT_BYTES);
    ck_assert_int_eq(o.place_n, 100);
    ck_assert_int_eq(tp_parse_place("appdata:server", &o, msg, sizeof msg), 0);
    ck_assert_int_eq(tp_parse_action("drip:16:20", &o, msg, sizeof msg), 0);
    ck_assert_int_eq(o.action, TP_DO_DRIP);
    ck_assert_int_eq(o.act_k, 16);
    ck_assert_int_eq(o.act_ms, 20);
    ck_assert_int_eq(tp_parse_action("stall", &o, msg, sizeof msg), 0);
    ck_assert_int_eq(o.act_ms, 0);
    ck_assert_int_eq(tp_parse_action("insert:15030300020228", &o, msg, sizeof msg), 0);
    ck_assert_uint_eq(o.insert_len, 7);
    ck_assert_int_eq(o.insert[6], 0x28);
    ck_assert(tp_action_is_record(TP_DO_CORRUPT) && !tp_action_is_record(TP_DO_RST));
}
END_TEST

START_TEST(bad_places_and_actions_say_why)
{
    static const char *const bad_places[][2] = {
        { "nowhere:server", "unknown place 'nowhere'" },
        { "after:middle:finished", "expected SIDE client or server" },
        { "after:server:goodbye", "unknown handshake message 'goodbye'" },
        { "after:server", "needs one argument" },
        { "appdata:server:3", "takes no argument" },
        { "bytes:client:-1", "expected a count" },
        { "time:client:1:2", "needs one argument" },
        { "", "unknown place ''" },
    };
    static const char *const bad_actions[][2] = {
        { "explode", "unknown action 'explode'" },
        { "drip:0:10", "drip:K:MS" },
        { "drip:10", "drip:K:MS" },
        { "segment:x", "segment:K" },
        { "insert:abc", "insert:HEX" },
        { "insert:zz", "insert:HEX" },
        { "fin:now", "close both" },
        { "stall:1:2", "stall:MS" },
    };
    struct tp_opts o;
    char msg[512];
    for (size_t i = 0; i < sizeof bad_places / sizeof bad_places[0]; i++) {
        ck_assert_int_eq(tp_parse_place(bad_places[i][0], &o, msg, sizeof msg), -1);
        ck_assert_msg(strstr(msg, bad_places[i][1]) != NULL, "%s: %s", bad_places[i][0], msg);
    }
    for (size_t i = 0; i < sizeof bad_actions / sizeof bad_actions[0]; i++) {
        ck_assert_int_eq(tp_parse_action(bad_actions[i][0], &o, msg, sizeof msg), -1);
        ck_assert_msg(strstr(msg, bad_actions[i][1]) != NULL, "%s: %s", bad_actions[i][0], msg);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tcpproxy_tls");
    TCase *tc = tcase_create("parser");
    tcase_add_test(tc, one_read_names_every_boundary);
    tcase_add_test(tc, any_split_same_events);
    tcase_add_test(tc, message_across_records);
    tcase_add_test(tc, alerts_and_encrypted_alerts);
    tcase_add_test(tc, not_tls_is_opaque);
    tcase_add_test(tc, oversized_record_is_opaque);
    tcase_add_test(tc, places_and_actions_parse);
    tcase_add_test(tc, bad_places_and_actions_say_why);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
