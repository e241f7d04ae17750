/* A realistic run.json built in memory for the report tests, and temp-dir helpers. */
#ifndef TM_TEST_RUN_FIXTURE_H
#define TM_TEST_RUN_FIXTURE_H

#include <jansson.h>

/* The hostile device string every report must carry safely. */
#define NASTY "<script>alert(1)</script> & \"quoted\" 'single' a|b\nline2 \x04 end"

/* 8 cases over 3 scenarios: all six verdicts, an insecure-by-design row, a flaky
 * pass (attempts 2), NASTY in a reason, a transcript, a device reply and a doc. */
json_t *fixture_run(void);
/* The case with this id inside run (borrowed), or NULL. */
json_t *fixture_case(json_t *run, const char *id);

/* mkdtemp under $TMPDIR (or /tmp); the caller frees the path. */
char *fixture_tmpdir(const char *tag);
/* rm -rf */
void fixture_rmtree(const char *path);
/* Whole file as a NUL-terminated string, or NULL. Caller frees. */
char *fixture_slurp(const char *path);

#endif
