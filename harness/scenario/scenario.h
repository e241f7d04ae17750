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

/* Every fixture name of every scenario, with each axis value substituted, must be
 * a file the fixture manifest (contracts §1) lists; one "FILE:LINE: unknown
 * fixture …" into errors for each scenario that names another. where names the
 * manifest in the message. */
void scenario_check_fixtures(const json_t *scenarios, const json_t *manifest,
                             const char *where, json_t *errors);

/* Expand scenarios into cases sorted by id (docs/contracts.md §5 "Case id").
 * Each case: {"id","scenario","file","doc","tags","insecure","axes":{…},
 * "device":{…},"peer":{…},"proxy":null|{…},"expected":{"device":[…],"peer":[…]}}
 * with {kt}/{backend}/{proto} substituted everywhere. */
json_t *scenario_expand(const json_t *scenarios, struct tm_err *err);

/* A case by reference, a few bytes instead of its expanded object (issue 7: a
 * run keeps its selected cases for the whole run): the index of its scenario in
 * the scenarios array and of each axis value in that scenario's axes lists
 * (backend, keytype, proto). Valid as long as the scenarios array is. */
struct scenario_ref {
    unsigned int scenario;
    unsigned short axis[3];
};

/* Every case of scenarios as references, in scenario_expand's order (by id), with
 * its errors; *n gets the count. Free the result with free(). */
struct scenario_ref *scenario_refs(const json_t *scenarios, size_t *n, struct tm_err *err);

/* The id of a reference in buf; NULL (buf "") when it does not fit. */
const char *scenario_ref_id(const json_t *scenarios, const struct scenario_ref *r, char *buf,
                            size_t len);

/* The case of a reference: equal to its element of scenario_expand. NULL only
 * out of memory (scenario_refs checked that the case expands). */
json_t *scenario_ref_case(const json_t *scenarios, const struct scenario_ref *r);

/* The case with this id, equal to its element of scenario_expand; NULL with err
 * set when no scenario of the array makes that id. */
json_t *scenario_expand_one(const json_t *scenarios, const char *case_id, struct tm_err *err);

/* fnmatch-style glob over case ids; a NULL or empty glob matches everything. */
int scenario_filter_match(const char *glob, const char *case_id);

/* Stable shard membership of a case id for shard k of n (1 <= k <= n):
 * FNV-1a of the id modulo n, so shards never change with the catalog order. */
int scenario_in_shard(const char *case_id, int k, int n);

/* Deterministic order for a seed: a Fisher-Yates shuffle of cases driven by a
 * fixed PRNG seeded with seed (seed 0 keeps id order). */
void scenario_order(json_t *cases, unsigned long seed);

/* scenario_order over references: the same permutation for the same seed and n. */
void scenario_order_refs(struct scenario_ref *refs, size_t n, unsigned long seed);

#endif
