/* Device profiles (scenarios/profiles/NAME.yaml): what a firmware family is known to
 * get wrong, as expected failures with a reason and a reference. */
#ifndef TM_PROFILE_H
#define TM_PROFILE_H

#include <jansson.h>

#include "tm_err.h"

/* Load a profile file or a profile name (looked up in scenarios/profiles/).
 * Returns {"name","doc","file","match":{…},"device":{…},"xfail":[{"case","reason","ref"}…]}. */
json_t *profile_load(const char *name_or_path, struct tm_err *err);
/* 1 when profile_load reads the argument as a file (a '/' or a .yaml name), 0
 * for a profile name (scenarios/profiles/NAME.yaml). */
int profile_is_path(const char *name_or_path);

/* How well a profile's `match` block fits a device's hello: the number of keys
 * that hold (impl, machine, mbedtls, pem), or -1 when one does not or the
 * profile has no match block. */
int profile_match_score(const json_t *profile, const json_t *hello);

/* The profile in dir (NULL: scenarios/profiles/) that fits the hello best; NULL
 * with err when none fits, two fit equally well, or a profile file is broken. */
json_t *profile_for_hello(const char *dir, const json_t *hello, struct tm_err *err);

/* The xfail entry whose glob matches case_id, or NULL (borrowed reference). */
const json_t *profile_xfail_for(const json_t *profile, const char *case_id);

#endif
