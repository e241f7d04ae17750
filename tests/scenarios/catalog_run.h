/* Shared by the tests that run the whole catalog (the default run on the virtual
 * camera, the real MicroPython): run a tlsmatrix command to its end, and count the
 * cases the catalog expands into. */
#ifndef TM_TEST_CATALOG_RUN_H
#define TM_TEST_CATALOG_RUN_H

#include <stddef.h>
#include <stdint.h>

/* Run argv (argv[0] the program) with its stdout and stderr appended to out_path,
 * killing it after limit_s seconds (a check failure then). Returns its exit code;
 * *took (may be NULL) gets the wall time in ms. */
int catalog_run_tool(char *const argv[], const char *out_path, int limit_s, int64_t *took);

/* Cases of SOURCE/scenarios after expansion (the catalog loads without errors). */
size_t catalog_run_case_count(void);
/* Those of them whose id matches glob (fnmatch), as `--filter GLOB` selects them. */
size_t catalog_run_case_count_of(const char *glob);

#endif
