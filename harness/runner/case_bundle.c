/* A case's bundle directory (docs/contracts.md §6): serial.log, peer.log,
 * case.json, replay.sh (and case-def.json for a case built from repro options),
 * and the record's "bundle" and "replay" fields that point at them. */
#include "case_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "peer/peer.h"
#include "profile/profile.h"
#include "tm_fs.h"

/* A field of the case as selected (the typed case is empty when it was invalid). */
static const char *kase_str(const struct case_run *r, const char *k)
{
    return json_string_value(json_object_get(r->kase, k));
}

/* A bundle file that cannot be written stops the run (runner.c check_writes):
 * the first failure is kept in the worker's write_err. */
void case_bundle_failed(struct case_run *r, const struct tm_err *err)
{
    if (r->w->write_err.msg[0] == '\0')
        tm_err_set(&r->w->write_err, "%s", err->msg);
}

/* One bundle file (text NULL: it could not be made, out of memory). */
static void write_text(struct case_run *r, const char *path, const char *text, mode_t mode)
{
    struct tm_err err = { 0 };
    if (text == NULL)
        tm_err_setc(&err, TM_E_NOMEM, "%s: out of memory", path);
    if (text == NULL || tm_write_new_file(path, text, strlen(text), mode, &err) != 0)
        case_bundle_failed(r, &err);
}

static void write_lines(struct case_run *r, const char *path, const json_t *lines, mode_t mode)
{
    size_t i, cap = 1, len = 0;
    json_t *v;
    json_array_foreach(lines, i, v) cap += strlen(json_string_value(v) ? json_string_value(v) : "") + 1;
    char *buf = malloc(cap);
    json_array_foreach(lines, i, v) {
        const char *s = json_string_value(v) ? json_string_value(v) : "";
        if (buf == NULL)
            break;
        memcpy(buf + len, s, strlen(s));
        len += strlen(s);
        buf[len++] = '\n';
    }
    if (buf != NULL)
        buf[len] = '\0';
    write_text(r, path, buf, mode);
    free(buf);
}

/* path made absolute (when it exists), so a replay works from any directory. */
static json_t *abs_path(const char *path)
{
    char real[PATH_MAX];
    return json_string(realpath(path, real) != NULL ? real : path);
}

/* A peer file of the case under the run's scratch directory, copied into the
 * bundle; v then names the copy. Keys stay private (0600). */
static void keep_scratch_file(struct case_run *r, json_t *v, int key)
{
    const char *scratch = r->ctx->o->scratch_dir, *p = json_string_value(v);
    size_t n = scratch ? strlen(scratch) : 0;
    if (p == NULL || n == 0 || strncmp(p, scratch, n) != 0 || p[n] != '/')
        return;
    char dst[1400];
    unsigned char *data = NULL;
    size_t len = 0;
    struct tm_err err = { 0 };
    snprintf(dst, sizeof dst, "%s/%s", r->dir, strrchr(p, '/') + 1);
    if (tm_read_file(p, &data, &len, &err) != 0
        || tm_write_file(dst, data, len, key ? 0600 : 0644, &err) != 0)
        case_bundle_failed(r, &err);
    else
        json_string_set(v, dst);
    free(data);
}

/* The case as case-def.json holds it: its own peer files when they would not
 * outlive the run (replay.sh must work after it). */
static json_t *case_def(struct case_run *r)
{
    json_t *k = json_deep_copy(r->kase), *peer = json_object_get(k, "peer"), *v;
    size_t i;
    json_array_foreach(json_object_get(peer, "cert"), i, v)
        keep_scratch_file(r, v, 0);
    keep_scratch_file(r, json_object_get(peer, "key"), 1);
    return k;
}

/* The repro command for this case, every path absolute. def: the case's own
 * definition, written into the bundle (a case built from repro options), whose
 * --cases the caller appends; NULL: from its scenario or cases file. */
static char *replay_line(struct case_run *r, int *def)
{
    const struct runner_opts *o = r->ctx->o;
    const char *file = o->cases_file ? o->cases_file : kase_str(r, "file");
    int from_cases = o->cases != NULL;
    *def = from_cases && o->cases_file == NULL;
    if (*def) {
        json_t *one = json_pack("[o]", case_def(r));
        char path[1300];
        snprintf(path, sizeof path, "%s/case-def.json", r->dir);
        char *text = json_dumps(one, JSON_INDENT(2));
        write_text(r, path, text, 0644);
        free(text);
        json_decref(one);
        file = NULL;
    }
    json_t *a = json_pack("[s, s, s, s, s, s]", TM_BIN_DIR "/tlsmatrix", "repro", "--case",
                          kase_str(r, "id"), "--device", r->w->spec);
    if (o->agent_script != NULL) {
        json_array_append_new(a, json_string("--agent"));
        json_array_append_new(a, abs_path(o->agent_script));
    }
    if (o->peer_host != NULL) {
        json_array_append_new(a, json_string("--peer-host"));
        json_array_append_new(a, json_string(o->peer_host));
    }
    if (file) {
        json_array_append_new(a, json_string(from_cases ? "--cases" : "--scenarios"));
        json_array_append_new(a, abs_path(file));
    }
    if (o->case_timeout_ms > 0) {   /* a tight deadline can be the cause under study */
        char ms[24];
        snprintf(ms, sizeof ms, "%d", o->case_timeout_ms);
        json_array_append_new(a, json_string("--case-timeout"));
        json_array_append_new(a, json_string(ms));
    }
    json_array_append_new(a, json_string("--profile"));   /* a user's file: its path */
    json_array_append_new(a, o->profile != NULL && profile_is_path(o->profile)
                                 ? abs_path(o->profile) : json_string(r->ctx->profile_name));
    json_array_append_new(a, json_string("--fixtures"));
    json_array_append_new(a, abs_path(worker_fixtures(r->w)));
    char *s = peer_argv_string(a);
    json_decref(a);
    return s;
}

/* replay.sh runs the case again into a fresh directory beside its bundle
 * (BUNDLE.replay-XXXXXX), from any current directory, as often as it is run: it
 * never writes into the report directory's own files. */
static void write_replay(struct case_run *r, const char *replay, int def)
{
    char path[1400], *sh = NULL;
    if (asprintf(&sh, "#!/bin/sh\n# replay of %s; arguments are added to the repro command\n"
                      "here=$(cd \"$(dirname \"$0\")\" && pwd) || exit 2\n"
                      "out=$(mktemp -d \"$here.replay-XXXXXX\") || exit 2\n"
                      "echo \"replay: reports in $out\" >&2\n"
                      "exec %s%s --report \"$out\" \"$@\"\n",
                 kase_str(r, "id"), replay, def ? " --cases \"$here/case-def.json\"" : "") < 0)
        sh = NULL;
    snprintf(path, sizeof path, "%s/replay.sh", r->dir);
    write_text(r, path, sh, 0755);
    free(sh);
}

static void write_files(struct case_run *r, const char *replay, int def)
{
    char path[1400];
    /* Kept secrets stay readable by the owner only (pkigen writes keys 0600). */
    mode_t mode = r->ctx->o->keep_secrets ? 0600 : 0644;
    snprintf(path, sizeof path, "%s/serial.log", r->dir);
    write_lines(r, path, r->t_agent, mode);
    snprintf(path, sizeof path, "%s/peer.log", r->dir);
    write_lines(r, path, r->t_peer, mode);
    if (replay != NULL)
        write_replay(r, replay, def);
    char *js = json_dumps(r->rec, JSON_INDENT(2) | JSON_SORT_KEYS);
    snprintf(path, sizeof path, "%s/case.json", r->dir);
    write_text(r, path, js, mode);
    free(js);
}

void case_bundle_write(struct case_run *r)
{
    int def = 0;
    char *replay = replay_line(r, &def), *shown = NULL;
    if (replay != NULL && def) {   /* run.json names the bundle's definition itself */
        char path[1300];
        snprintf(path, sizeof path, "%s/case-def.json", r->dir);
        json_t *q = json_pack("[o]", abs_path(path));
        char *qs = peer_argv_string(q);
        if (qs == NULL || asprintf(&shown, "%s --cases %s", replay, qs) < 0)
            shown = NULL;
        free(qs);
        json_decref(q);
    }
    json_object_set_new(r->rec, "replay", json_string(shown ? shown : replay ? replay : ""));
    free(shown);
    write_files(r, replay, def);
    free(replay);
}
