/* Lab files (lab.h). */
#include "lab/lab.h"

#include <stdlib.h>
#include <string.h>

#include "link/link.h"
#include "tm_yaml.h"

#define LAB_MAX_BOARDS 1024

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

/* One entry of boards: into b. */
static int load_board(struct tm_yaml *y, yaml_node_t *n, const struct lab *lab,
                      struct lab_board *b, struct tm_err *err)
{
    static const char *const keys[] = { "name", "link", "profile", "reset", NULL };
    if (!tm_yaml_is_map(n))
        return tm_yaml_fail(y, n, err, "a board is a mapping with name and link");
    if (tm_yaml_check_keys(y, n, keys, err) != 0)
        return -1;
    int bad = 0;
    const char *name = tm_yaml_str(y, tm_yaml_get(y, n, "name"), "name", err);
    const char *link = name ? tm_yaml_str(y, tm_yaml_get(y, n, "link"), "link", err) : NULL;
    const char *profile = tm_yaml_str_or(y, tm_yaml_get(y, n, "profile"), "profile", NULL, err, &bad);
    const char *reset = tm_yaml_str_or(y, tm_yaml_get(y, n, "reset"), "reset", NULL, err, &bad);
    if (name == NULL || link == NULL || bad)
        return -1;
    if (*name == '\0')
        return tm_yaml_fail(y, n, err, "field 'name': empty");
    for (size_t i = 0; i < lab->n; i++)
        if (strcmp(lab->boards[i].name, name) == 0)
            return tm_yaml_fail(y, n, err, "board '%s' named twice", name);
    struct tm_err lerr = { 0 };
    if (link_spec_check(link, &lerr) != 0)
        return tm_yaml_fail(y, tm_yaml_get(y, n, "link"), err, "board '%s': %s", name, lerr.msg);
    if (reset != NULL && *reset == '\0')
        return tm_yaml_fail(y, n, err, "board '%s': empty reset command", name);
    b->name = strdup(name);
    b->link = strdup(link);
    b->profile = dup_or_null(profile);
    b->reset = dup_or_null(reset);
    if (b->name == NULL || b->link == NULL || (profile && !b->profile) || (reset && !b->reset))
        return tm_err_set(err, "%s: out of memory", lab->path);
    return 0;
}

int lab_load(const char *path, struct lab *lab, struct tm_err *err)
{
    static const char *const top[] = { "boards", NULL };
    struct tm_yaml y;
    memset(lab, 0, sizeof *lab);
    snprintf(lab->path, sizeof lab->path, "%s", path);
    if (tm_yaml_load(&y, path, err) != 0)
        return err->code = TM_E_INPUT, -1;
    yaml_node_t *root = tm_yaml_root(&y), *boards = tm_yaml_get(&y, root, "boards");
    int rc = -1;
    if (!tm_yaml_is_map(root) || boards == NULL || !tm_yaml_is_seq(boards)) {
        tm_yaml_fail(&y, root, err, "expected a mapping with a list `boards:` (name, link, "
                                    "profile, reset)");
        goto out;
    }
    if (tm_yaml_check_keys(&y, root, top, err) != 0)
        goto out;
    size_t n = tm_yaml_seq_len(boards);
    if (n == 0 || n > LAB_MAX_BOARDS) {
        tm_yaml_fail(&y, boards, err, "boards: expected 1..%d boards, got %zu", LAB_MAX_BOARDS, n);
        goto out;
    }
    lab->boards = calloc(n, sizeof *lab->boards);
    if (lab->boards == NULL) {
        tm_err_set(err, "%s: out of memory", path);
        goto out;
    }
    for (size_t i = 0; i < n; i++, lab->n++)
        if (load_board(&y, tm_yaml_seq_item(&y, boards, i), lab, &lab->boards[i], err) != 0)
            goto out;
    rc = 0;
out:
    tm_yaml_free(&y);
    if (rc != 0) {
        err->code = TM_E_INPUT;
        lab->n++;   /* the board that failed may hold some strings */
        lab_free(lab);
    }
    return rc;
}

const struct lab_board *lab_find(const struct lab *lab, const char *name, struct tm_err *err)
{
    char names[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < lab->n; i++) {
        if (strcmp(lab->boards[i].name, name) == 0)
            return &lab->boards[i];
        int w = snprintf(names + used, sizeof names - used, "%s%s", used ? ", " : "",
                         lab->boards[i].name);
        used += w > 0 && (size_t)w < sizeof names - used ? (size_t)w : 0;
    }
    tm_err_setc(err, TM_E_INPUT, "--place '%s': no such board in %s (boards: %s)", name,
                lab->path, names);
    return NULL;
}

void lab_free(struct lab *lab)
{
    for (size_t i = 0; lab->boards != NULL && i < lab->n; i++) {
        free(lab->boards[i].name);
        free(lab->boards[i].link);
        free(lab->boards[i].profile);
        free(lab->boards[i].reset);
    }
    free(lab->boards);
    lab->boards = NULL;
    lab->n = 0;
}
