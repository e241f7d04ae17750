/* The scenario loader's pieces (load.c, load_fields.c, load_expect.c). */
#ifndef TM_SCENARIO_LOAD_H
#define TM_SCENARIO_LOAD_H

#include <jansson.h>

#include "case/case.h"
#include "scenario_internal.h"

/* out[t->field] = the value of map[t->field] if it is one of t's names (the case
 * validator's check and words), names[dflt] when absent. */
int sl_enum(struct tm_yaml *y, yaml_node_t *map, const struct case_names *t, int dflt,
            json_t *out, struct tm_err *err);

json_t *sl_device(struct tm_yaml *y, yaml_node_t *n, struct tm_err *err);
json_t *sl_peer(struct tm_yaml *y, yaml_node_t *n, struct tm_err *err);
json_t *sl_proxy(struct tm_yaml *y, yaml_node_t *n, struct tm_err *err);
/* {"backend":[…],"keytype":[…],"proto":[…]} with the defaults of §5. */
json_t *sl_axes(struct tm_yaml *y, yaml_node_t *n, struct tm_err *err);
/* {"device":[…],"peer":[…],"when":[{"match":{axis:[…]},"device"?,"peer"?}…]} */
json_t *sl_expect(struct tm_yaml *y, yaml_node_t *n, const json_t *axes, struct tm_err *err);

/* The fixture names a scenario uses (device ca/chain, peer cert/key/ca/send_file)
 * as {name: line}, placeholders unsubstituted; NULL with FILE:LINE when one is not
 * a plain file name of the fixture directory. */
json_t *sl_fixtures(struct tm_yaml *y, yaml_node_t *root, struct tm_err *err);

/* s with {kt}, {backend}, {proto} replaced by v (sl_axis_names order); caller frees. */
char *sl_substitute(const char *s, const char *const v[3]);

/* The axes in case-id order, and the values each may take. */
extern const char *const sl_axis_names[];
const char *const *sl_axis_values(const char *axis);

#endif
