/* The judge tests' scratch directory (test_judge, test_hostile): one per suite (an
 * unchecked fixture), with the files the tests write in sub-directories of it. */
#ifndef TM_TEST_JUDGE_DIR_H
#define TM_TEST_JUDGE_DIR_H

#include <stddef.h>

void jd_setup(void);      /* $TMPDIR/tm-judge-XXXXXX, made */
void jd_teardown(void);   /* removed with all it holds */
const char *jd_dir(void);
/* sub/ under it, made; its path (static buffer). */
const char *jd_subdir(const char *sub);
/* Write sub/name (len bytes, or the string); its path (static buffer). */
const char *jd_put_len(const char *sub, const char *name, const char *text, size_t len);
const char *jd_put(const char *sub, const char *name, const char *text);

#endif
