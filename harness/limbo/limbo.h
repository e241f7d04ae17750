/* x509-limbo (C2SP) test cases run as real handshakes: the device is the TLS
 * client that validates the chain a peer presents (docs/contracts.md §7). A limbo
 * file is read and checked against limbo-schema.json's rules, each SERVER test
 * case becomes a typed case through case_build (harness/case), the runner runs
 * them, and the run's records become limbo's result format. */
#ifndef TM_LIMBO_H
#define TM_LIMBO_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "tm_err.h"

/* Read a limbo file (path "-": stdin) and check its structure: version 1,
 * testcases with the schema's required fields, types and enums, ids of the
 * schema's pattern and unique. Errors have code TM_E_INPUT and name the place:
 * "FILE: testcases[3] (id x).peer_certificate: expected a string". The schema's
 * lists may also be null (files from 2023 write null for empty lists). */
json_t *limbo_load(const char *path, struct tm_err *err);

struct limbo_opts {
    const char *file;       /* for the cases' "file" field */
    const char *filter;     /* glob over limbo ids; NULL: every test case */
    const char *backend;    /* the peer's stack: openssl or gnutls */
    const char *workdir;    /* an existing directory for the peer's chains and keys */
    int64_t now;            /* the time of a test case without validation_time */
};

/* The selected test cases as case JSON (each checked by case_build), in file
 * order, one per test case: a case the device cannot run carries "skip" with
 * the reason. notes (an object, limbo id → text) gets what each case's context
 * must say besides its outcome (a check the device's own rules decide, the
 * peer name it was given). Certificates are converted here, once: anchors to
 * DER for the device, one load call each; the peer's chain to a PEM file; a
 * key of the leaf's algorithm is made once per algorithm. NULL with err. */
json_t *limbo_cases(const json_t *limbo, const struct limbo_opts *o, json_t *notes,
                    struct tm_err *err);

/* The limbo result document ({"version":1,"harness":…,"results":[…]}) of a
 * finished run (run.json): one result per case, in the cases' order; a case
 * without a record (interrupted) is SKIPPED. */
json_t *limbo_results(const json_t *cases, const json_t *run, const json_t *notes,
                      const char *harness);

/* Check a limbo result document (a --baseline): version 1, harness, results
 * with id, actual_result and context. NULL with err (TM_E_INPUT) naming FILE. */
json_t *limbo_load_results(const char *path, struct tm_err *err);

/* One summary line: cases run and skipped, agreement with expected_result and,
 * with a baseline (NULL: none), the cases whose actual_result changed. */
void limbo_summary(const json_t *limbo, const json_t *results, const json_t *baseline,
                   FILE *out);

#endif
