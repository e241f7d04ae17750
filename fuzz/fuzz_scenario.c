/* Scenario loader and expander: one scenario file (named f.yaml, so `name: f`
 * loads) through load, the fixture check and expansion into cases. */
#include <jansson.h>
#include <stdlib.h>

#include "fuzz.h"
#include "scenario/scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static json_t *manifest;
    if (manifest == NULL)   /* a small fixture set: what the seeds name */
        manifest = json_loads("{\"certs\":[{\"files\":{\"d\":\"p256-root.der\","
                              "\"k\":\"p256-server.key.der\",\"s\":\"p256-server.der\","
                              "\"i\":\"p256-int.der\"}}]}", 0, NULL);
    const char *paths[] = { fuzz_file("f.yaml", data, size) };
    json_t *errors = json_array();
    json_t *sc = scenario_load_all(paths, 1, errors);
    scenario_check_fixtures(sc, manifest, "manifest", errors);
    struct tm_err err = { 0 };
    json_t *cases = scenario_expand(sc, &err);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *id = json_string_value(json_object_get(c, "id"));
        json_t *one = id ? scenario_expand_one(sc, id, &err) : NULL;
        json_decref(one);
    }
    json_decref(cases);
    json_decref(sc);
    json_decref(errors);
    return 0;
}
