/* Verdicts of a case (docs/contracts.md §6): the one table of their names and of
 * what each means, read by the runner, progress lines, reports, merge and diff. */
#ifndef TM_VERDICT_H
#define TM_VERDICT_H

/* In the order reports list them (run.json "totals", summary tables). */
enum tm_verdict {
    TM_PASS,    /* the case met its expectation */
    TM_FAIL,    /* it did not */
    TM_XFAIL,   /* it did not, and the profile names it as a known deviation */
    TM_XPASS,   /* it did, although the profile expects a deviation (stale profile) */
    TM_ERROR,   /* the harness could not judge it (device lost, peer crashed, setup) */
    TM_SKIP,    /* not run: the device cannot do what the case needs */
    TM_VERDICT_COUNT
};

/* "pass", "fail", …; NULL out of range. */
const char *tm_verdict_name(enum tm_verdict v);
/* The verdict named s, or -1 for NULL or any other text. */
int tm_verdict_parse(const char *s);
/* 1 for fail, xpass and error: the verdicts that make a run exit 1 and that a
 * progress line explains. */
int tm_verdict_unexpected(enum tm_verdict v);
/* 1 for pass, xfail and skip: what a baseline may hold for a later unexpected
 * verdict to count as a regression (xpass is left out: a known deviation that
 * went away is news, not a regression). */
int tm_verdict_settled(enum tm_verdict v);
/* Which of several runs of one case reports it: lower is worse (fail, xpass,
 * error, xfail, pass, skip); TM_VERDICT_COUNT for -1 (unknown). */
int tm_verdict_severity(int v);
/* JUnit element of a verdict: NULL (pass), "failure", "error" or "skipped". */
const char *tm_verdict_junit(enum tm_verdict v);

#endif
