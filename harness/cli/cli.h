/* Internal to harness/cli: one function per subcommand, returning the exit code. */
#ifndef TM_CLI_H
#define TM_CLI_H

#include <jansson.h>
#include <stdio.h>

#include "runner/runner.h"
#include "tm_err.h"

enum { EXIT_USAGE = 2 };

int cli_run(int argc, char **argv, int full_argc, char **full_argv);
int cli_repro(int argc, char **argv, int full_argc, char **full_argv);
int cli_limbo(int argc, char **argv, int full_argc, char **full_argv);
int cli_list(int argc, char **argv);
int cli_ports(int argc, char **argv);
int cli_info(int argc, char **argv);
int cli_diff(int argc, char **argv);
int cli_merge(int argc, char **argv);
int cli_compare(int argc, char **argv);

/* The help text of a subcommand (NULL: the overview). 0 when it exists. */
int cli_help(const char *cmd, FILE *out);
/* "tlsmatrix CMD: message" + a pointer to --help on stderr; returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Option values shared by the subcommands: 0 when valid, else the usage error (2). */
int cli_parse_int(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out);
int cli_parse_shard(const char *cmd, const char *s, int *k, int *n);

/* --filter, --tag, --exclude-tag: the case selection `run`, `repro` and `list`
 * share, so `list` shows what a run with the same options runs. */
#define CLI_MAX_SEL 64
struct cli_sel {
    const char *filters[CLI_MAX_SEL], *tags[CLI_MAX_SEL], *exclude_tags[CLI_MAX_SEL];
};
/* Add one value of flag ("--filter", "--tag", "--exclude-tag") to cs and point
 * sel at it; 0, or the usage error (2). */
int cli_sel_add(const char *cmd, struct cli_sel *cs, struct runner_sel *sel, const char *flag,
                const char *arg);
/* repro with the user's own files (field.c): the case's file references read and
 * checked (FILE a path relative to the cwd, `fixture:NAME` a fixture), look-alikes
 * made when the peer's certificates come without a key, and the case rewritten to
 * the files REPORT/field/ will hold. NULL with err (exit 2) for a bad file. */
struct field;
struct field *field_plan(json_t *kase, const char *report_dir, struct tm_err *err);
int field_used(const struct field *f);   /* 1 when the case names a file of the user's */
/* runner_opts.prepare: writes REPORT/field/ (originals, the files used, notes.txt,
 * lookalike.txt). */
int field_prepare(const char *report_dir, void *arg, struct tm_err *err);
void field_free(struct field *f);
/* repro --save-scenario NAME: the case (as repro built it) as NAME.yaml and, when it
 * names the user's certificates, NAME.pki.yaml; neither is overwritten. */
int field_save(const char *name_path, const json_t *kase, const struct field *f,
               struct tm_err *err);

#endif
