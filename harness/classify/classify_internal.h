/* Shared by the classify sources: the class vocabulary. */
#ifndef TM_CLASSIFY_INTERNAL_H
#define TM_CLASSIFY_INTERNAL_H

#include <stddef.h>

/* Classes that mean "no verdict possible": infrastructure, never a pass or fail. */
int classify_is_infra(const char *cls);

#endif
