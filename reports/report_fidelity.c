/* Fidelity: two runs of the same catalog on two devices (the virtual camera and a
 * board, or a real MicroPython), compared case by case on the device side only:
 * what the device did, not whether it met the scenario. A difference is explained
 * when a device's capabilities (its hello) made the harness skip the case on it,
 * or when a profile expects that case to deviate (an xfail entry with a reason). */
#include "report.h"
#include "report_int.h"

#include <string.h>

/* The device side of a case: skipped (with the reason) or what the device did. */
struct device_view {
    int skipped;
    const char *reason;     /* skip reason */
    const char *cls;        /* actual.device outcome class */
    const char *stage;      /* device_reply.stage, NULL when none */
    const char *exc_type;   /* device_reply.exc.type */
    const char *exc_text;   /* device_reply.exc.text */
};

static struct device_view view_of(const json_t *c)
{
    struct device_view v = { 0 };
    const json_t *reply = json_object_get(c, "device_reply");
    const json_t *exc = json_object_get(reply, "exc");
    v.skipped = strcmp(rpt_case_verdict(c), "skip") == 0;
    v.reason = rpt_str(c, "reason", "");
    v.cls = rpt_str(json_object_get(c, "actual"), "device", "(none)");
    v.stage = rpt_str(reply, "stage", NULL);
    v.exc_type = rpt_str(exc, "type", NULL);
    v.exc_text = rpt_str(exc, "text", NULL);
    return v;
}

static int same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The first field in which two executed cases differ, NULL when none. */
static const char *first_difference(const struct device_view *a, const struct device_view *b)
{
    if (!same_str(a->cls, b->cls))
        return "outcome";
    if (!same_str(a->exc_type, b->exc_type))
        return "exception type";
    if (!same_str(a->exc_text, b->exc_text))
        return "exception text";
    if (!same_str(a->stage, b->stage))
        return "stage";
    return NULL;
}

static json_t *side_json(const struct device_view *v)
{
    if (v->skipped)
        return json_pack("{s:s, s:s}", "skipped", "yes", "reason", v->reason);
    return json_pack("{s:s, s:s?, s:s?, s:s?}", "outcome", v->cls, "stage", v->stage,
                     "exc_type", v->exc_type, "exc_text", v->exc_text);
}

/* Why two devices may differ on a case: a capability skip from one device's hello,
 * or an xfail of one run's profile. NULL when nothing explains it. */
static json_t *explanation(const json_t *ca, const json_t *cb, const struct device_view *a,
                           const struct device_view *b, const json_t *run_a, const json_t *run_b)
{
    const json_t *runs[2] = { run_a, run_b }, *cases[2] = { ca, cb };
    const struct device_view *views[2] = { a, b };
    for (int i = 0; i < 2; i++)
        if (views[i]->skipped)
            return json_pack("{s:s, s:s, s:s}", "by", "hello", "run", i ? "b" : "a", "reason",
                             views[i]->reason);
    for (int i = 0; i < 2; i++) {
        const json_t *xf = json_object_get(cases[i], "xfail");
        if (json_is_object(xf))
            return json_pack("{s:s, s:s, s:s?, s:s, s:s?}", "by", "profile", "run", i ? "b" : "a",
                             "profile", rpt_str(json_object_get(runs[i], "header"), "profile", NULL),
                             "reason", rpt_str(xf, "reason", ""), "ref", rpt_str(xf, "ref", NULL));
    }
    return NULL;
}

json_t *report_fidelity(const json_t *run_a, const json_t *run_b)
{
    json_t *out = json_pack("{s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i}, s:[], s:[], s:[]}",
                            "totals", "compared", 0, "same", 0, "same_skipped", 0, "explained", 0,
                            "unexplained", 0, "only_a", 0, "only_b", 0,
                            "explained", "unexplained", "missing");
    json_t *idx_b = json_object();
    if (out == NULL || idx_b == NULL)
        goto fail;
    json_t *totals = json_object_get(out, "totals");
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(run_b, "cases"), i, c) {
        const char *id = rpt_str(c, "id", NULL);
        if (id != NULL)
            json_object_set(idx_b, id, c);
    }
    json_array_foreach(json_object_get(run_a, "cases"), i, c) {
        const char *id = rpt_str(c, "id", NULL);
        const json_t *cb = id != NULL ? json_object_get(idx_b, id) : NULL;
        if (id == NULL)
            continue;
        if (cb == NULL) {
            json_array_append_new(json_object_get(out, "missing"),
                                  json_pack("{s:s, s:s}", "id", id, "in", "a"));
            json_object_set_new(totals, "only_a", json_integer(
                json_integer_value(json_object_get(totals, "only_a")) + 1));
            continue;
        }
        json_object_del(idx_b, id);
        struct device_view a = view_of(c), b = view_of(cb);
        const char *kind;
        const char *field = NULL;
        if (a.skipped && b.skipped)
            kind = "same_skipped";
        else if (!a.skipped && !b.skipped && (field = first_difference(&a, &b)) == NULL)
            kind = "same";
        else
            kind = NULL;
        json_object_set_new(totals, "compared", json_integer(
            json_integer_value(json_object_get(totals, "compared")) + 1));
        if (kind == NULL) {
            json_t *why = explanation(c, cb, &a, &b, run_a, run_b);
            kind = why != NULL ? "explained" : "unexplained";
            json_t *item = json_pack("{s:s, s:s, s:o, s:o, s:o}", "id", id, "differs_in",
                                     field ? field : "skip", "a", side_json(&a), "b",
                                     side_json(&b), "why", why ? why : json_null());
            json_array_append_new(json_object_get(out, kind), item);
        }
        json_object_set_new(totals, kind, json_integer(
            json_integer_value(json_object_get(totals, kind)) + 1));
    }
    const char *id;
    json_object_foreach(idx_b, id, c) {
        json_array_append_new(json_object_get(out, "missing"),
                              json_pack("{s:s, s:s}", "id", id, "in", "b"));
        json_object_set_new(totals, "only_b", json_integer(
            json_integer_value(json_object_get(totals, "only_b")) + 1));
    }
    json_decref(idx_b);
    return out;
fail:
    json_decref(idx_b);
    json_decref(out);
    return NULL;
}

/* One line per side: an exception text can hold line breaks (mbedTLS's verify
 * messages), shown as \n. */
static void print_line_text(const char *s, FILE *out)
{
    for (; *s; s++)
        fputs(*s == '\n' ? "\\n" : (char[2]){ *s, '\0' }, out);
}

static void print_side(const char *label, const json_t *s, FILE *out)
{
    if (json_object_get(s, "skipped") != NULL) {
        fprintf(out, "    %s: skipped (%s)\n", label, rpt_str(s, "reason", ""));
        return;
    }
    fprintf(out, "    %s: %s at %s", label, rpt_str(s, "outcome", "?"),
            rpt_str(s, "stage", "(no stage)"));
    if (json_is_string(json_object_get(s, "exc_type"))) {
        fprintf(out, ", %s ", rpt_str(s, "exc_type", ""));
        print_line_text(rpt_str(s, "exc_text", ""), out);
    }
    fputc('\n', out);
}

int report_print_fidelity(const json_t *f, const char *name_a, const char *name_b, FILE *out)
{
    const json_t *t = json_object_get(f, "totals");
    json_int_t compared = json_integer_value(json_object_get(t, "compared"));
    json_int_t same = json_integer_value(json_object_get(t, "same"))
                      + json_integer_value(json_object_get(t, "same_skipped"));
    json_int_t expl = json_integer_value(json_object_get(t, "explained"));
    json_int_t unexpl = json_integer_value(json_object_get(t, "unexplained"));
    fprintf(out, "device side, a = %s, b = %s\n", name_a, name_b);
    fprintf(out, "%lld cases compared: %lld the same (%lld skipped on both), %lld differ "
            "explained, %lld differ unexplained; %lld only in a, %lld only in b\n",
            (long long)compared, (long long)same,
            (long long)json_integer_value(json_object_get(t, "same_skipped")), (long long)expl,
            (long long)unexpl, (long long)json_integer_value(json_object_get(t, "only_a")),
            (long long)json_integer_value(json_object_get(t, "only_b")));
    fprintf(out, "explained: %.1f %% of the cases compared (same or explained)\n",
            compared ? 100.0 * (double)(same + expl) / (double)compared : 100.0);
    const char *kinds[2] = { "unexplained", "explained" };
    for (int k = 0; k < 2; k++) {
        size_t i;
        const json_t *it;
        json_array_foreach(json_object_get(f, kinds[k]), i, it) {
            const json_t *why = json_object_get(it, "why");
            fprintf(out, "%s  %s (differs in %s)\n", kinds[k], rpt_str(it, "id", "?"),
                    rpt_str(it, "differs_in", "?"));
            print_side("a", json_object_get(it, "a"), out);
            print_side("b", json_object_get(it, "b"), out);
            if (strcmp(rpt_str(why, "by", ""), "hello") == 0)
                fprintf(out, "    why: run %s skipped it, from its device's hello\n",
                        rpt_str(why, "run", "?"));
            else if (json_is_object(why))
                fprintf(out, "    why: profile %s of run %s expects it: %s\n",
                        rpt_str(why, "profile", "?"), rpt_str(why, "run", "?"),
                        rpt_str(why, "reason", ""));
        }
    }
    return (int)unexpl;
}
