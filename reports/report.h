/* Report writers. run.json (docs/contracts.md §6) is the source of truth; every
 * other report is rendered from it, so reports can be regenerated from a stored run. */
#ifndef TM_REPORT_H
#define TM_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "tm_err.h"

/* Write run.json, junit.xml, summary.md and matrix.html into dir (created).
 * baseline (a previous run, may be NULL) adds the regression/fix column. */
int report_write_all(const json_t *run, const json_t *baseline, const char *dir,
                     struct tm_err *err);

/* Case i of a run in full, as a new reference (NULL when it cannot be read). */
typedef json_t *(*report_case_fn)(void *ctx, size_t i);

/* report_write_all for a run whose cases are not all in memory (the runner's): the
 * writers hold one full case at a time; header is the run header (§6). */
int report_write_stream(const json_t *header, size_t ncases, report_case_fn get, void *ctx,
                        const json_t *baseline, const char *dir, struct tm_err *err);

/* Finished case records kept on disk during a run (an unlinked file in the report
 * directory), so memory does not grow with every case's transcripts. Not thread
 * safe: callers serialise put and get. */
struct report_spool;
struct report_spool *report_spool_open(const char *dir, struct tm_err *err);
/* Append a record; returns its index, or -1 when it cannot be written. */
long report_spool_put(struct report_spool *s, const json_t *rec);
/* Record idx, a new reference, or NULL. */
json_t *report_spool_get(const struct report_spool *s, long idx);
void report_spool_close(struct report_spool *s);

int report_write_json(const json_t *run, const char *path, struct tm_err *err);
int report_write_junit(const json_t *run, const char *path, struct tm_err *err);
int report_write_markdown(const json_t *run, const json_t *baseline, const char *path,
                          struct tm_err *err);
int report_write_html(const json_t *run, const json_t *baseline, const char *path,
                      struct tm_err *err);

/* Load and check a run.json (format field, cases array); errors name the file. */
json_t *report_load_run(const char *path, struct tm_err *err);

/* Compare two runs by case id: {"regressions":[…],"fixes":[…],"new":[…],
 * "removed":[…],"changed":[…]}; each item {"id","old","new"} (verdicts; null for
 * the missing side). regression: old in {pass, xfail, skip} and new in {fail, error};
 * fix: old in {fail, error} and new in {pass, xfail}; new/removed: the id is in
 * only one run; changed: any other verdict change (e.g. xfail -> xpass,
 * pass -> skip). Items follow the new run's order, removed ones the old run's. */
json_t *report_diff(const json_t *old_run, const json_t *new_run);
/* Print a diff for people; returns the number of regressions. */
int report_print_diff(const json_t *diff, FILE *out);

/* Merge shard runs into one run (cases concatenated by id, totals recomputed,
 * header from the first with the earliest "started", latest "finished", every
 * shard's devices, "shard":"merged" and "shards":[each run's shard]). Duplicate
 * case ids are an error naming the id and both runs. */
json_t *report_merge(const json_t *const *runs, size_t n, struct tm_err *err);

/* Recompute "totals" from the cases' verdicts. */
void report_update_totals(json_t *run);

#endif
