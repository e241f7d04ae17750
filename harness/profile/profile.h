/* Device profiles (scenarios/profiles/NAME.yaml): what a firmware family is known to
 * get wrong, as expected failures with a reason and a reference. */
#ifndef TM_PROFILE_H
#define TM_PROFILE_H

#include <jansson.h>

#include "tm_err.h"

/* Load a profile file or a profile name (looked up in scenarios/profiles/).
 * Returns {"name","doc","file","device":{…},"xfail":[{"case","reason","ref"}…]}. */
json_t *profile_load(const char *name_or_path, struct tm_err *err);

/* The xfail entry whose glob matches case_id, or NULL (borrowed reference). */
const json_t *profile_xfail_for(const json_t *profile, const char *case_id);

#endif
