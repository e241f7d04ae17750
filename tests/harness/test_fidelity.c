/* Fidelity races pinned by running a case many times on the virtual camera.
 * Device as server, the client aborting right after the server's first flight:
 * a board raised CONN_EOF 20 times out of 20, while the virtual camera sometimes
 * completed the handshake, because the peer library, finding the server's first
 * flight already there, answered it (peers/tlspeer/peer_misbehave.c). Every run
 * must now give CONN_EOF, on both backends. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness_kit.h"
#include "tm_fs.h"

#define TLSMATRIX TM_BIN_DIR "/tlsmatrix"
#define SCENARIO TM_SOURCE_DIR "/scenarios/server-peer-aborts-after-first-flight.yaml"
#define RUNS "20"

static char tmpdir[256];

static void setup(void)
{
    hk_dir_make(tmpdir, sizeof tmpdir, "fid");
}

static void teardown(void)
{
    hk_dir_remove(tmpdir);
}

START_TEST(server_abort_after_first_flight_is_always_conn_eof)
{
    char cmd[1400], path[400];
    snprintf(cmd, sizeof cmd, "timeout 150 %s run --device virtual --quiet --repeat " RUNS
             " --scenarios %s --report %s/rep >%s/out.txt 2>&1", TLSMATRIX, SCENARIO, tmpdir, tmpdir);
    int st = system(cmd);
    snprintf(path, sizeof path, "%s/rep/run.json", tmpdir);
    json_t *run = json_load_file(path, 0, NULL);
    ck_assert_msg(run != NULL, "exit %d, no run.json", WEXITSTATUS(st));
    json_t *cases = json_object_get(run, "cases"), *c;
    size_t i;
    ck_assert_uint_eq(json_array_size(cases), 2);   /* openssl and gnutls clients */
    json_array_foreach(cases, i, c) {
        const json_t *rep = json_object_get(c, "repeats");
        char *text = json_dumps(rep, JSON_COMPACT);
        ck_assert_msg(json_integer_value(json_object_get(json_object_get(rep, "verdicts"), "pass"))
                          == atoi(RUNS), "%s: %s (worst run: device %s)",
                      json_string_value(json_object_get(c, "id")), text,
                      json_string_value(json_object_get(json_object_get(c, "actual"), "device")));
        free(text);
    }
    ck_assert_int_eq(WEXITSTATUS(st), 0);
    json_decref(run);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fidelity");
    TCase *tc = tcase_create("fidelity");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 160);
    tcase_add_test(tc, server_abort_after_first_flight_is_always_conn_eof);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
