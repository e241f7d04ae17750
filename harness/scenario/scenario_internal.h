/* Internals shared by the judge parts (scenario loader and profiles): YAML values
 * as JSON, and the glob matcher both use. Not part of the public interface. */
#ifndef TM_SCENARIO_INTERNAL_H
#define TM_SCENARIO_INTERNAL_H

#include <jansson.h>

#include "tm_yaml.h"

/* A YAML node as JSON. Plain scalars are typed the way YAML 1.2's core schema
 * does (null/~/empty, true/false, integers, floats); quoted scalars stay strings,
 * so `"7"` is the string "7". Mappings need scalar keys. NULL (err set, with
 * FILE:LINE) on a bad node. */
json_t *judge_yaml_json(struct tm_yaml *y, yaml_node_t *n, const char *field,
                        struct tm_err *err);

/* A list of strings from a scalar or a sequence of scalars (`x: a` == `x: [a]`). */
json_t *judge_yaml_strings(struct tm_yaml *y, yaml_node_t *n, const char *field,
                           struct tm_err *err);


#endif
