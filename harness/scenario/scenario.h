/* Scenario files → cases. Scenarios are data (docs/contracts.md §5); this part
 * loads them with file:line errors and expands their axes into cases. */
#ifndef TM_SCENARIO_H
#define TM_SCENARIO_H

#include <jansson.h>
#include <stddef.h>

#include "tm_err.h"

/* Load every scenario file named by paths (files, or directories scanned for
 * *.yaml, not recursing into profiles/). A bad file is reported as one string
 * "FILE:LINE: message" appended to errors, and loading goes on with the rest.
 * Returns a JSON array of normalised scenarios (defaults applied, "file" added),
 * sorted by name; duplicate names are errors. */
json_t *scenario_load_all(const char *const *paths, size_t n, json_t *errors);

/* Expand scenarios into cases sorted by id (docs/contracts.md §5 "Case id").
 * Each case: {"id","scenario","file","doc","tags","insecure","axes":{…},
 * "device":{…},"peer":{…},"proxy":null|{…},"expected":{"device":[…],"peer":[…]}}
 * with {kt}/{backend}/{proto} substituted everywhere. */
json_t *scenario_expand(const json_t *scenarios, struct tm_err *err);

/* fnmatch-style glob over case ids; a NULL or empty glob matches everything. */
int scenario_filter_match(const char *glob, const char *case_id);

/* Stable shard membership of a case id for shard k of n (1 <= k <= n):
 * FNV-1a of the id modulo n, so shards never change with the catalog order. */
int scenario_in_shard(const char *case_id, int k, int n);

/* Deterministic order for a seed: a Fisher-Yates shuffle of cases driven by a
 * fixed PRNG seeded with seed (seed 0 keeps id order). */
void scenario_order(json_t *cases, unsigned long seed);

#endif
