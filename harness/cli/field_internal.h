/* Internal to harness/cli's field files: field.c reads the user's files and plans
 * REPORT/field/; field_save.c writes a case as a scenario and a PKI description. */
#ifndef TM_FIELD_INTERNAL_H
#define TM_FIELD_INTERNAL_H

#include <limits.h>

#include "cli.h"
#include "lookalike.h"

#define FIXTURE_PREFIX "fixture:"
#define LK_SET_MAX 64

/* One file of the user's, as given. */
struct ufile {
    const char *opt;            /* "--ca", "--peer-cert", … */
    char *path;                 /* as given (relative to the cwd) */
    struct lk_certs certs;      /* a certificate file */
    EVP_PKEY *key;              /* a key file */
    size_t first;               /* its first certificate in the clone set */
};

/* A file REPORT/field/REL to write: certificates or a key. */
struct out {
    char rel[96];
    X509 **certs;               /* references into ufiles or the look-alike set */
    size_t n;
    int own;                    /* certs is this out's own one-slot array */
    EVP_PKEY *key;
};

struct field {
    char base[PATH_MAX];        /* REPORT (absolute)/field */
    struct ufile *u;
    size_t nu;
    struct out *o;
    size_t no;
    int lookalike;
    struct lk_set set;
    char *labels[LK_SET_MAX];   /* the set's "from" labels */
    size_t nlabels;
    char **notes;
    size_t nnotes;
};

#endif
