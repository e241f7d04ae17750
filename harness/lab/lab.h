/* Lab files: the boards of a lab by name (`--devices FILE --place NAME`), as a
 * hardware map (Zephyr twister) or a place (labgrid) describes them:
 *
 *   boards:
 *     - name: cam-a                    # what --place names
 *       link: serial:id=3F0049000651   # any device LINK (tlsmatrix --help)
 *       profile: micropython-openmv-default   # optional
 *       reset: uhubctl -l 1-1 -p 2 -a cycle   # optional: resets or power-cycles it
 *
 * Read with libyaml (tm_yaml.h); every error names FILE:LINE. */
#ifndef TM_LAB_H
#define TM_LAB_H

#include <stddef.h>

#include "tm_err.h"

struct lab_board {
    char *name, *link;
    char *profile;   /* NULL: picked from the device's hello */
    char *reset;     /* the recovery ladder's hard reset (agent_recover); NULL none */
};

struct lab {
    struct lab_board *boards;
    size_t n;
    char path[1024];
};

/* Load and check a lab file: known keys only, names unique and non-empty, links
 * well formed (link_spec_check). 0, or -1 with err "FILE:LINE: …" (TM_E_INPUT). */
int lab_load(const char *path, struct lab *lab, struct tm_err *err);
/* The board named name, or NULL with err listing the names there are. */
const struct lab_board *lab_find(const struct lab *lab, const char *name, struct tm_err *err);
void lab_free(struct lab *lab);

#endif
