/* Report writers. run.json (docs/contracts.md §6) is the source of truth; every
 * other report is rendered from it, so reports can be regenerated from a stored run. */
#ifndef TM_REPORT_H
#define TM_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "tm_err.h"

/* Write run.json, junit.xml, summary.md and matrix.html into dir (created).
 * baseline (a previous run, may be NULL) adds the regression/fix column.
 * Returns 0, or REPORT_NONE_WRITTEN when run.json could not be written (nothing
 * else is tried), or REPORT_SOME_WRITTEN when run.json was and another report
 * was not; err says what failed first. */
enum { REPORT_NONE_WRITTEN = -1, REPORT_SOME_WRITTEN = -2 };
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

/* Report directories (report_dir.c). A run or a merge writes only into a new or
 * empty directory, or one a tlsmatrix run wrote (its marker file, checked for
 * content); "/" and files are refused. The directory is locked (flock on
 * DIR/.tlsmatrix-lock) while held: a second claim fails at once naming the holder
 * (pid, host, start time). */
struct report_dir;
struct report_dir *report_dir_claim(const char *dir, struct tm_err *err);
/* 0 while the directory is still there (not removed under the run). */
int report_dir_check(const struct report_dir *d, struct tm_err *err);
void report_dir_release(struct report_dir *d);

/* Load and check a run.json (format field, cases array); errors name the file.
 * A directory is read as its run.json. */
json_t *report_load_run(const char *path, struct tm_err *err);

/* Compare two runs by case id: {"regressions":[…],"fixes":[…],"new":[…],
 * "removed":[…],"changed":[…]}; each item {"id","old","new"} (verdicts; null for
 * the missing side). regression: old in {pass, xfail, skip} and new in {fail, error};
 * fix: old in {fail, error} and new in {pass, xfail}; new/removed: the id is in
 * only one run; changed: any other verdict change (e.g. xfail -> xpass,
 * pass -> skip). Items follow the new run's order, removed ones the old run's. */
json_t *report_diff(const json_t *old_run, const json_t *new_run);
/* Print a diff for people; returns the number of regressions plus removed cases
 * (a case that vanished is a regression for a CI job). */
int report_print_diff(const json_t *diff, FILE *out);

/* Fidelity: the device side of two runs of one catalog on two devices, case by
 * case (outcome class, exception type and text, stage). {"totals":{compared,
 * same, same_skipped, explained, unexplained, only_a, only_b}, "explained":[…],
 * "unexplained":[…], "missing":[{id, in}]}; each differing item {id, differs_in,
 * a, b, why}. A difference is explained when one device skipped the case (its
 * hello lacks what the case needs: why.by "hello") or a run's profile expects
 * the case to deviate (why.by "profile", with the xfail's reason). */
json_t *report_fidelity(const json_t *run_a, const json_t *run_b);
/* Print it for people (differences listed, unexplained first); returns the number
 * of unexplained differences. */
int report_print_fidelity(const json_t *fidelity, const char *name_a, const char *name_b,
                          FILE *out);

/* Merge shard runs into one run (cases concatenated by id, totals recomputed,
 * header from the first with the earliest "started", latest "finished", every
 * shard's devices, "shard":"merged" and "shards":[each run's shard]). Only a
 * complete, consistent set merges: shards K/N of one N, each K once; one profile;
 * one selection (header "selection": same digest, and as many cases as it
 * counts). Errors name the runs; duplicate case ids name the id and both runs. */
json_t *report_merge(const json_t *const *runs, size_t n, struct tm_err *err);

/* Runs side by side (`tlsmatrix compare`), the first the reference: {"runs":[{name,
 * label (firmware, build, started), totals, regressions}], "cases":[{id, changed,
 * cells:[{verdict, reason, change}] one per run]}}. A later run's regressions are
 * report_diff(first, it)'s regressions and removed cases; a cell's change is
 * against the first run (regression, fix, changed, new, removed). */
json_t *report_compare(const json_t *const *runs, const char *const *names, size_t n);
/* The regressions of every later run against the first. */
size_t report_compare_regressions(const json_t *cmp);
/* compare.html (one self-contained page: a column group per run, changed cells
 * highlighted, totals per run) and compare.md into dir. */
int report_write_compare(const json_t *cmp, const char *dir, struct tm_err *err);

/* Recompute "totals" from the cases' verdicts. */
void report_update_totals(json_t *run);

#endif
