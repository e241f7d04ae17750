/* Data files (PKI description, scenarios, profiles) are YAML read by libyaml's
 * document loader. These helpers add typed access whose errors name the file,
 * line and field, so no part re-implements that reporting. */
#ifndef TM_YAML_H
#define TM_YAML_H

#include <stddef.h>
#include <yaml.h>

#include "tm_err.h"

struct tm_yaml {
    yaml_document_t doc;
    char path[1024];
    int loaded;
};

/* Limits on every YAML file the harness reads (docs/contracts.md "Input limits"):
 * a file over a limit is refused with FILE:LINE before it is used. */
#define TM_YAML_MAX_BYTES (1 << 20)   /* file size */
#define TM_YAML_MAX_LINE 4096         /* bytes per line */
#define TM_YAML_MAX_DEPTH 64          /* nesting, also with aliases expanded */
#define TM_YAML_MAX_ALIASES 256       /* alias uses per file */
#define TM_YAML_MAX_NODES 100000      /* nodes with aliases expanded */

/* Load path, a regular file holding one YAML document. Refused, with "PATH:LINE:
 * <problem>" (syntax errors "PATH:LINE:COL: <problem>"): a limit above exceeded,
 * an alias inside the node it names, a second document, a NUL in a string, a
 * non-scalar mapping key, a key twice in one mapping. */
int tm_yaml_load(struct tm_yaml *y, const char *path, struct tm_err *err);
/* Same, from memory; name is used in messages. */
int tm_yaml_load_string(struct tm_yaml *y, const char *name, const char *text,
                        struct tm_err *err);
void tm_yaml_free(struct tm_yaml *y);

yaml_node_t *tm_yaml_root(struct tm_yaml *y);
int tm_yaml_line(const yaml_node_t *n);  /* 1-based */

/* "PATH:LINE: <message>" at node n; returns -1. */
int tm_yaml_fail(struct tm_yaml *y, const yaml_node_t *n, struct tm_err *err,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

int tm_yaml_is_map(const yaml_node_t *n);
int tm_yaml_is_seq(const yaml_node_t *n);
int tm_yaml_is_scalar(const yaml_node_t *n);

/* Value of key in a mapping, or NULL when absent (or map is not a mapping). */
yaml_node_t *tm_yaml_get(struct tm_yaml *y, yaml_node_t *map, const char *key);
/* Every key of map must be in allowed (NULL-terminated); else an error naming it. */
int tm_yaml_check_keys(struct tm_yaml *y, yaml_node_t *map, const char *const allowed[],
                       struct tm_err *err);

/* Mapping iteration by index: key text and value node. */
size_t tm_yaml_map_len(const yaml_node_t *map);
const char *tm_yaml_map_key(struct tm_yaml *y, yaml_node_t *map, size_t i);
yaml_node_t *tm_yaml_map_value(struct tm_yaml *y, yaml_node_t *map, size_t i);

/* Sequence iteration. A scalar counts as a one-item sequence (so `x: a` == `x: [a]`). */
size_t tm_yaml_seq_len(const yaml_node_t *n);
yaml_node_t *tm_yaml_seq_item(struct tm_yaml *y, yaml_node_t *n, size_t i);

/* Typed scalars. `field` names the key for the message. Missing (n == NULL) gives
 * the default for the *_or variants and an error for the plain ones. */
const char *tm_yaml_str(struct tm_yaml *y, yaml_node_t *n, const char *field,
                        struct tm_err *err);
const char *tm_yaml_str_or(struct tm_yaml *y, yaml_node_t *n, const char *field,
                           const char *dflt, struct tm_err *err, int *bad);
int tm_yaml_int(struct tm_yaml *y, yaml_node_t *n, const char *field, long long *out,
                struct tm_err *err);
int tm_yaml_bool(struct tm_yaml *y, yaml_node_t *n, const char *field, int *out,
                 struct tm_err *err);

#endif
