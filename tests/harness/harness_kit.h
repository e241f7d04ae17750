/* What the harness tests share: the programs the end-to-end tests of `tlsmatrix
 * run` drive (test_run, test_ci), and a scratch directory per test (all). */
#ifndef TM_TEST_HARNESS_KIT_H
#define TM_TEST_HARNESS_KIT_H

#include <stddef.h>

/* 77 (ctest's skip) after a line naming the first of tlsmatrix, vcam, tlspeer and
 * pkigen that is not built; 0 when all are. */
int hk_skip_unless_built(void);
/* $TMPDIR/tm-NAME-XXXXXX, made, into dir; and removed with all it holds. */
void hk_dir_make(char *dir, size_t len, const char *name);
void hk_dir_remove(const char *dir);

#endif
