/* A run's records → limbo results, and the summary line. The device outcome
 * decides SUCCESS or FAILURE by the same table the cases' expectations were
 * made from (limbo_accepted_classes), so a result and its case's verdict agree. */
#include "limbo/limbo.h"
#include "limbo_internal.h"

#include <string.h>

#include "case/case.h"

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int accepted(const char *cls)
{
    for (size_t i = 0; cls != NULL && limbo_accepted_classes[i]; i++)
        if (strcmp(cls, limbo_accepted_classes[i]) == 0)
            return 1;
    return 0;
}

/* "ValueError: invalid cert" from the device's reply, "" without an exception.
 * A verify failure's text is one line per flag (docs/device-model.md §2.2):
 * here one line, the flags separated by "; ". */
static void exc_text(const json_t *reply, char *out, size_t len)
{
    const json_t *exc = json_object_get(reply, "exc");
    const char *text = str(exc, "text") ?: "";
    size_t o = 0;
    out[0] = '\0';
    if (!json_is_object(exc) || len < 8)
        return;
    o = (size_t)snprintf(out, len, "%s: ", str(exc, "type") ?: "?");
    for (const char *p = text; *p && o + 3 < len; p++) {
        if (*p != '\n')
            out[o++] = *p;
        else if (o > 0 && out[o - 1] != ' ' && p[1] != '\0')
            out[o++] = ';', out[o++] = ' ';
    }
    out[o < len ? o : len - 1] = '\0';
}

/* The result and its context for one record. */
static const char *judge(const json_t *rec, char *ctx, size_t len)
{
    const char *verdict = str(rec, "verdict"), *dc = str(json_object_get(rec, "actual"), "device");
    const json_t *reply = json_object_get(rec, "device_reply");
    const char *stage = str(reply, "stage") ?: "none";
    char exc[600];
    exc_text(reply, exc, sizeof exc);
    if (verdict != NULL && strcmp(verdict, "skip") == 0) {
        snprintf(ctx, len, "%s", str(rec, "reason") ?: "skipped");
        return "SKIPPED";
    }
    if (verdict == NULL || strcmp(verdict, "error") == 0 || case_class_is_infra(dc)) {
        snprintf(ctx, len, "not decided: harness error (%s)", str(rec, "reason") ?: "no record");
        return "SKIPPED";
    }
    if (accepted(dc)) {
        if (strcmp(dc, "ok") == 0)
            snprintf(ctx, len, "ok: chain accepted, handshake completed");
        else
            snprintf(ctx, len, "chain accepted; then %s (%s) on the peer's signature, made with "
                     "a key of its own", dc, exc);
        return "SUCCESS";
    }
    if (strncmp(dc, "verify-failed:", 14) == 0 || strncmp(dc, "error:", 6) == 0) {
        snprintf(ctx, len, "%s%s (%s) at stage %s",
                 strcmp(stage, "load_ca") == 0 ? "trust anchor refused: " : "", dc, exc, stage);
        return "FAILURE";
    }
    snprintf(ctx, len, "not decided: %s at stage %s (%s)", dc, stage, exc);
    return "SKIPPED";
}

json_t *limbo_results(const json_t *cases, const json_t *run, const json_t *notes,
                      const char *harness)
{
    json_t *by_id = json_object(), *out = json_array();
    size_t i;
    const json_t *rec, *k;
    json_array_foreach(json_object_get(run, "cases"), i, rec)
        if (str(rec, "id") != NULL)
            json_object_set(by_id, str(rec, "id"), (json_t *)rec);
    json_array_foreach(cases, i, k) {
        char ctx[1600];
        const char *lid = str(k, "scenario");
        const json_t *r = json_object_get(by_id, str(k, "id"));
        const char *res = "SKIPPED";
        if (r == NULL)
            snprintf(ctx, sizeof ctx, "not run (the run stopped before it)");
        else
            res = judge(r, ctx, sizeof ctx);
        const json_t *xf = json_object_get(r, "xfail");
        size_t n = strlen(ctx);
        if (json_is_object(xf) && n < sizeof ctx)
            n += (size_t)snprintf(ctx + n, sizeof ctx - n, "; known deviation (profile): %s",
                                  str(xf, "reason") ?: "");
        if (str(notes, lid) != NULL && n < sizeof ctx)
            snprintf(ctx + n, sizeof ctx - n, "; %s", str(notes, lid));
        json_array_append_new(out, json_pack("{s:s, s:s, s:s}", "id", lid, "actual_result", res,
                                             "context", ctx));
    }
    json_decref(by_id);
    return json_pack("{s:i, s:s, s:o}", "version", 1, "harness", harness, "results", out);
}

/* Up to 5 ids of a list, then "…". */
static void list_ids(const json_t *ids, char *out, size_t len)
{
    size_t i, n = 0;
    const json_t *it;
    out[0] = '\0';
    json_array_foreach(ids, i, it) {
        if (i == 5) {
            snprintf(out + n, len - n, ", …");
            break;
        }
        n += (size_t)snprintf(out + n, len - n, "%s%s", i ? ", " : "", json_string_value(it));
        if (n >= len)
            break;
    }
}

void limbo_summary(const json_t *limbo, const json_t *results, const json_t *baseline,
                   FILE *out)
{
    json_t *expected = json_object(), *old = json_object(), *disagree = json_array(),
           *changed = json_array();
    size_t i, run = 0, skipped = 0;
    const json_t *it;
    json_array_foreach(json_object_get(limbo, "testcases"), i, it)
        json_object_set(expected, str(it, "id"), json_object_get(it, "expected_result"));
    json_array_foreach(json_object_get(baseline, "results"), i, it)
        json_object_set(old, str(it, "id"), json_object_get(it, "actual_result"));
    json_array_foreach(json_object_get(results, "results"), i, it) {
        const char *id = str(it, "id"), *act = str(it, "actual_result");
        const char *was = str(old, id);
        if (strcmp(act, "SKIPPED") == 0)
            skipped++;
        else if (run++, strcmp(act, str(expected, id) ?: "") != 0)
            json_array_append_new(disagree, json_string(id));
        if (was != NULL && strcmp(was, act) != 0)
            json_array_append_new(changed, json_sprintf("%s: %s → %s", id, was, act));
    }
    char dl[700], cl[900];
    list_ids(disagree, dl, sizeof dl);
    list_ids(changed, cl, sizeof cl);
    fprintf(out, "tlsmatrix limbo: %zu test cases: %zu run, %zu skipped; %zu of %zu agree with "
            "expected_result%s%s%s", run + skipped, run, skipped, run - json_array_size(disagree),
            run, json_array_size(disagree) ? " (differ: " : "", dl,
            json_array_size(disagree) ? ")" : "");
    if (baseline != NULL)
        fprintf(out, "; %zu changed since the baseline%s%s%s", json_array_size(changed),
                json_array_size(changed) ? " (" : "", cl, json_array_size(changed) ? ")" : "");
    fputc('\n', out);
    json_decref(expected);
    json_decref(old);
    json_decref(disagree);
    json_decref(changed);
}
