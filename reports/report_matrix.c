/* The scenario × axes layout both human-readable reports draw. */
#include "report_int.h"

#include <stdlib.h>
#include <string.h>

static int cmp_labels(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Columns sorted so backends group together regardless of run order. */
static json_t *sorted_labels(json_t *set)
{
    size_t n = json_object_size(set), i = 0;
    const char **keys = calloc(n ? n : 1, sizeof *keys);
    json_t *out = json_array();
    const char *k;
    json_t *v;
    if (keys == NULL || out == NULL) {
        free(keys);
        json_decref(out);
        return NULL;
    }
    json_object_foreach(set, k, v) keys[i++] = k;
    qsort(keys, n, sizeof *keys, cmp_labels);
    for (i = 0; i < n; i++)
        json_array_append_new(out, json_string(keys[i]));
    free(keys);
    return out;
}

int rpt_matrix_build(const json_t *run, const json_t *baseline, struct rpt_matrix *m)
{
    json_t *labels = json_object();
    size_t i;
    json_t *c;
    memset(m, 0, sizeof *m);
    m->rows = json_array();
    m->cells = json_object();
    m->insecure = json_object();
    m->base = rpt_verdicts_by_id(baseline);
    if ((baseline != NULL && m->base == NULL) || labels == NULL || m->rows == NULL || m->cells == NULL || m->insecure == NULL)
        goto fail;
    json_array_foreach(json_object_get(run, "cases"), i, c) {
        char label[512];
        const char *s = rpt_str(c, "scenario", "(none)");
        rpt_axes_label(c, label, sizeof label);
        json_t *row = json_object_get(m->cells, s);
        if (row == NULL) {
            row = json_object();
            json_object_set_new(m->cells, s, row);
            json_array_append_new(m->rows, json_string(s));
        }
        json_t *cell = json_object_get(row, label);
        if (cell == NULL) {
            cell = json_array();
            json_object_set_new(row, label, cell);
        }
        json_array_append(cell, c);
        json_object_set_new(labels, label, json_true());
        if (json_is_true(json_object_get(c, "insecure")))
            json_object_set_new(m->insecure, s, json_true());
    }
    m->cols = sorted_labels(labels);
    json_decref(labels);
    return m->cols != NULL ? 0 : -1;
fail:
    json_decref(labels);
    rpt_matrix_free(m);
    return -1;
}

void rpt_matrix_free(struct rpt_matrix *m)
{
    json_decref(m->rows);
    json_decref(m->cols);
    json_decref(m->cells);
    json_decref(m->insecure);
    json_decref(m->base);
    memset(m, 0, sizeof *m);
}

char *rpt_expected_text(const json_t *side)
{
    size_t i, len = 0;
    const json_t *v;
    if (!json_is_array(side))
        return rpt_dump(side);
    json_array_foreach(side, i, v) {
        if (!json_is_string(v))
            return rpt_dump(side);
        len += strlen(json_string_value(v)) + 4;
    }
    char *out = malloc(len + 1), *o = out;
    if (out == NULL)
        return NULL;
    *o = '\0';
    json_array_foreach(side, i, v) o += sprintf(o, "%s%s", i ? " or " : "", json_string_value(v));
    return out;
}
