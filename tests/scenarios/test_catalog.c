/* The scenario catalog (scenarios/NAME.yaml) as data: it loads without errors, every
 * scenario explains itself, expands into the cases its axes promise, names fixture
 * files that exist, and the coverage manifest (scenarios/coverage.yml) and the
 * device profiles agree with it. Adding a scenario needs no change here. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profile/profile.h"
#include "scenario/scenario.h"
#include "tm_yaml.h"

#define CATALOG TM_SOURCE_DIR "/scenarios"
#define COVERAGE CATALOG "/coverage.yml"
#define MIN_SCENARIOS 45

static const char *const profiles[] = { "micropython-openmv-default", "micropython-openmv-rt1060",
                                        NULL };

/* The catalog, loaded once per test (fork mode: each test is its own process). */
static json_t *load_catalog(void)
{
    const char *paths[] = { CATALOG };
    json_t *errors = json_array();
    json_t *sc = scenario_load_all(paths, 1, errors);
    char *msg = json_dumps(errors, JSON_INDENT(1));
    ck_assert_msg(json_array_size(errors) == 0, "catalog errors: %s", msg);
    free(msg);
    json_decref(errors);
    ck_assert_ptr_nonnull(sc);
    return sc;
}

static json_t *expand(const json_t *sc)
{
    struct tm_err err = { 0 };
    json_t *cases = scenario_expand(sc, &err);
    ck_assert_msg(cases != NULL, "scenario_expand: %s", err.msg);
    return cases;
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

START_TEST(loads_without_errors)
{
    json_t *sc = load_catalog();
    ck_assert_msg(json_array_size(sc) >= MIN_SCENARIOS, "only %zu scenarios (want >= %d)",
                  json_array_size(sc), MIN_SCENARIOS);
    json_decref(sc);
}
END_TEST

/* Every scenario says what it proves and cites the device behaviour it probes. */
START_TEST(every_scenario_has_a_doc)
{
    json_t *sc = load_catalog(), *s;
    size_t i;
    json_array_foreach(sc, i, s) {
        const char *doc = str(s, "doc");
        ck_assert_msg(doc != NULL && strlen(doc) >= 40, "%s: doc missing or too short", str(s, "name"));
        ck_assert_msg(strstr(doc, "docs/device-model.md §") != NULL,
                      "%s: doc cites no docs/device-model.md section", str(s, "name"));
    }
    json_decref(sc);
}
END_TEST

static size_t axis_len(const json_t *s, const char *axis)
{
    return json_array_size(json_object_get(json_object_get(s, "axes"), axis));
}

/* The expansion yields exactly the product of each scenario's axes, with unique
 * ids NAME/BACKEND/KEYTYPE/PROTO and no placeholder left unsubstituted. */
START_TEST(expansion_matches_axes)
{
    json_t *sc = load_catalog(), *cases = expand(sc), *s, *c;
    size_t i, want = 0;
    json_array_foreach(sc, i, s)
        want += axis_len(s, "backend") * axis_len(s, "keytype") * axis_len(s, "proto");
    ck_assert_uint_eq(json_array_size(cases), want);
    ck_assert_uint_ge(want, 2 * MIN_SCENARIOS);
    json_t *seen = json_object();
    json_array_foreach(cases, i, c) {
        const char *id = str(c, "id");
        const json_t *ax = json_object_get(c, "axes");
        char expect_id[512];
        snprintf(expect_id, sizeof expect_id, "%s/%s/%s/%s", str(c, "scenario"), str(ax, "backend"),
                 str(ax, "keytype"), str(ax, "proto"));
        ck_assert_str_eq(id, expect_id);
        ck_assert_msg(json_object_get(seen, id) == NULL, "duplicate case id %s", id);
        json_object_set_new(seen, id, json_true());
        char *dump = json_dumps(c, 0);
        ck_assert_msg(strstr(dump, "{kt}") == NULL && strstr(dump, "{backend}") == NULL
                      && strstr(dump, "{proto}") == NULL, "%s: placeholder left: %s", id, dump);
        free(dump);
        const json_t *exp = json_object_get(c, "expected");
        ck_assert_msg(json_array_size(json_object_get(exp, "device")) > 0, "%s: no device expectation", id);
        ck_assert_msg(json_array_size(json_object_get(exp, "peer")) > 0, "%s: no peer expectation", id);
    }
    json_decref(seen);
    json_decref(cases);
    json_decref(sc);
}
END_TEST

/* Issue 6: every scenario runs against both peer stacks. */
START_TEST(every_scenario_on_both_backends)
{
    json_t *sc = load_catalog(), *s;
    size_t i;
    json_array_foreach(sc, i, s) {
        const json_t *b = json_object_get(json_object_get(s, "axes"), "backend");
        ck_assert_msg(json_array_size(b) == 2, "%s: runs on %zu backend(s)", str(s, "name"),
                      json_array_size(b));
    }
    json_decref(sc);
}
END_TEST

/* The insecure flag and the insecure-default tag say the same thing, so the
 * report's insecure-by-design rows are exactly the documented-default rows. */
START_TEST(insecure_rows_are_tagged)
{
    json_t *sc = load_catalog(), *s, *t;
    size_t i, k, n = 0;
    json_array_foreach(sc, i, s) {
        int tagged = 0;
        json_array_foreach(json_object_get(s, "tags"), k, t)
            tagged |= strcmp(json_string_value(t), "insecure-default") == 0;
        int flag = json_is_true(json_object_get(s, "insecure"));
        ck_assert_msg(tagged == flag, "%s: insecure=%d but insecure-default tag=%d", str(s, "name"),
                      flag, tagged);
        n += flag;
    }
    ck_assert_uint_ge(n, 7);   /* ssl default + CERT_NONE ×3 + CERT_OPTIONAL ×3 */
    json_decref(sc);
}
END_TEST

static void check_fixture(const char *id, const char *what, const json_t *v)
{
    if (!json_is_string(v))
        return;   /* {b64: …} / {str: …}: inline data */
    char path[1200];
    snprintf(path, sizeof path, "%s/fixtures/certs/%s", getenv("TM_BUILD_DIR"), json_string_value(v));
    ck_assert_msg(access(path, R_OK) == 0, "%s: %s names a missing fixture %s", id, what,
                  json_string_value(v));
}

static void check_fixture_list(const char *id, const char *what, const json_t *v)
{
    size_t i;
    json_t *it;
    if (json_is_string(v))
        check_fixture(id, what, v);
    json_array_foreach(v, i, it) check_fixture(id, what, it);
}

/* Every fixture a case names exists in the generated PKI (typos fail here, not
 * as a puzzling setup error in a run). */
START_TEST(fixtures_exist)
{
    ck_assert_ptr_nonnull(getenv("TM_BUILD_DIR"));
    json_t *sc = load_catalog(), *cases = expand(sc), *c, *it;
    size_t i, k;
    json_array_foreach(cases, i, c) {
        const char *id = str(c, "id");
        const json_t *d = json_object_get(c, "device"), *p = json_object_get(c, "peer");
        check_fixture_list(id, "device.ca", json_object_get(d, "ca"));
        json_array_foreach(json_object_get(d, "chain"), k, it) {
            check_fixture(id, "device.chain.cert", json_object_get(it, "cert"));
            check_fixture(id, "device.chain.key", json_object_get(it, "key"));
        }
        check_fixture_list(id, "peer.cert", json_object_get(p, "cert"));
        check_fixture_list(id, "peer.key", json_object_get(p, "key"));
        check_fixture_list(id, "peer.ca", json_object_get(p, "ca"));
    }
    json_decref(cases);
    json_decref(sc);
}
END_TEST

/* Each profile loads, and each of its xfail globs covers at least one case (a
 * stale entry would hide nothing and mislead the reader). */
START_TEST(profiles_match_cases)
{
    json_t *sc = load_catalog(), *cases = expand(sc), *x, *c;
    for (size_t p = 0; profiles[p]; p++) {
        struct tm_err err = { 0 };
        json_t *prof = profile_load(profiles[p], &err);
        ck_assert_msg(prof != NULL, "profile %s: %s", profiles[p], err.msg);
        ck_assert_str_eq(str(prof, "name"), profiles[p]);
        ck_assert_ptr_nonnull(str(json_object_get(prof, "device"), "clock_unset"));
        size_t i, k;
        json_array_foreach(json_object_get(prof, "xfail"), i, x) {
            ck_assert_msg(str(x, "ref") != NULL, "%s xfail %s: no ref", profiles[p], str(x, "case"));
            size_t hits = 0;
            json_array_foreach(cases, k, c) hits += profile_xfail_for(prof, str(c, "id")) == x;
            ck_assert_msg(hits > 0, "%s: xfail '%s' matches no case", profiles[p], str(x, "case"));
        }
        json_decref(prof);
    }
    json_decref(cases);
    json_decref(sc);
}
END_TEST

/* coverage.yml: behaviours → scenario names, as {name: count of behaviours}. */
static json_t *load_coverage(json_t *known)
{
    struct tm_yaml y;
    struct tm_err err = { 0 };
    ck_assert_msg(tm_yaml_load(&y, COVERAGE, &err) == 0, "%s", err.msg);
    yaml_node_t *list = tm_yaml_get(&y, tm_yaml_root(&y), "behaviours");
    ck_assert_msg(list != NULL && tm_yaml_is_seq(list), COVERAGE ": no behaviours list");
    json_t *used = json_object();
    size_t n = tm_yaml_seq_len(list);
    ck_assert_uint_gt(n, 0);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *b = tm_yaml_seq_item(&y, list, i);
        const char *what = tm_yaml_str(&y, tm_yaml_get(&y, b, "behaviour"), "behaviour", &err);
        ck_assert_msg(what != NULL && *what, "%s", err.msg);
        yaml_node_t *names = tm_yaml_get(&y, b, "scenarios");
        ck_assert_msg(names != NULL && tm_yaml_seq_len(names) > 0, "'%s': no scenarios", what);
        for (size_t k = 0; k < tm_yaml_seq_len(names); k++) {
            const char *s = tm_yaml_str(&y, tm_yaml_seq_item(&y, names, k), "scenarios", &err);
            ck_assert_msg(s != NULL, "%s", err.msg);
            ck_assert_msg(json_object_get(known, s) != NULL,
                          "coverage '%s' names scenario '%s', which does not exist", what, s);
            json_object_set_new(used, s, json_true());
        }
    }
    tm_yaml_free(&y);
    return used;
}

START_TEST(coverage_maps_both_ways)
{
    json_t *sc = load_catalog(), *known = json_object(), *s;
    size_t i;
    json_array_foreach(sc, i, s) json_object_set_new(known, str(s, "name"), json_true());
    json_t *used = load_coverage(known);
    json_array_foreach(sc, i, s)
        ck_assert_msg(json_object_get(used, str(s, "name")) != NULL,
                      "scenario %s is in no coverage entry of coverage.yml", str(s, "name"));
    json_decref(used);
    json_decref(known);
    json_decref(sc);
}
END_TEST

/* The checks above must be able to fail: a broken file is reported with its
 * line and the rest of the directory still loads. */
START_TEST(bad_file_is_reported)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/tm-catalog-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char p[400];
    snprintf(p, sizeof p, "%s/broken.yaml", dir);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs("name: broken\ndoc: x\ndevice: {role: client}\nexpect: {device: no-such-class}\n", f);
    fclose(f);
    const char *paths[] = { dir, CATALOG };
    json_t *errors = json_array();
    json_t *sc = scenario_load_all(paths, 2, errors);
    int reported = json_array_size(errors) == 1
                   && strstr(json_string_value(json_array_get(errors, 0)), "broken.yaml:4") != NULL;
    char *msg = json_dumps(errors, 0);
    unlink(p);
    rmdir(dir);
    ck_assert_msg(reported, "errors: %s", msg);
    free(msg);
    ck_assert_uint_ge(json_array_size(sc), MIN_SCENARIOS);
    json_decref(errors);
    json_decref(sc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scenarios");
    TCase *tc = tcase_create("catalog");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, loads_without_errors);
    tcase_add_test(tc, every_scenario_has_a_doc);
    tcase_add_test(tc, expansion_matches_axes);
    tcase_add_test(tc, every_scenario_on_both_backends);
    tcase_add_test(tc, insecure_rows_are_tagged);
    tcase_add_test(tc, fixtures_exist);
    tcase_add_test(tc, profiles_match_cases);
    tcase_add_test(tc, coverage_maps_both_ways);
    tcase_add_test(tc, bad_file_is_reported);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
