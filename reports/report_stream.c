/* Reports for runs too big to hold: case records spooled to disk while the run goes,
 * and the one entry point that renders every report reading one full case at a
 * time. Only "light" cases (no transcripts, no raw replies) stay in memory for the
 * layout, totals and tables. */
#include "report.h"
#include "report_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tm_fs.h"

struct spool_entry {
    off_t off;
    size_t len;
};

struct report_spool {
    int fd;
    off_t end;
    struct spool_entry *v;
    size_t n, cap;
};

struct report_spool *report_spool_open(const char *dir, struct tm_err *err)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/.cases-spool-XXXXXX", dir) >= (int)sizeof path) {
        tm_err_set(err, "%s: path too long", dir);
        return NULL;
    }
    struct report_spool *s = calloc(1, sizeof *s);
    if (s == NULL) {
        tm_err_set(err, "out of memory");
        return NULL;
    }
    s->fd = mkstemp(path);
    if (s->fd < 0) {
        tm_err_set(err, "%s: %s", path, strerror(errno));
        free(s);
        return NULL;
    }
    /* Unlinked at once: the data lives as long as the descriptor, and a crashed
     * run leaves nothing behind in the report directory. */
    unlink(path);
    (void)fcntl(s->fd, F_SETFD, FD_CLOEXEC);
    return s;
}

static int write_all(int fd, const char *p, size_t len, off_t off)
{
    while (len > 0) {
        ssize_t w = pwrite(fd, p, len, off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        off += w;
        len -= (size_t)w;
    }
    return 0;
}

long report_spool_put(struct report_spool *s, const json_t *rec)
{
    if (s->n == s->cap) {
        size_t ncap = s->cap * 2 + 64;
        struct spool_entry *nv = realloc(s->v, ncap * sizeof *nv);
        if (nv == NULL)
            return -1;
        s->v = nv;
        s->cap = ncap;
    }
    char *text = json_dumps(rec, JSON_COMPACT);
    if (text == NULL)
        return -1;
    size_t len = strlen(text);
    int rc = write_all(s->fd, text, len, s->end);
    free(text);
    if (rc != 0)
        return -1;
    s->v[s->n] = (struct spool_entry){s->end, len};
    s->end += (off_t)len;
    return (long)s->n++;
}

json_t *report_spool_get(const struct report_spool *s, long idx)
{
    if (idx < 0 || (size_t)idx >= s->n)
        return NULL;
    const struct spool_entry *e = &s->v[idx];
    char *buf = malloc(e->len ? e->len : 1);
    size_t got = 0;
    while (buf != NULL && got < e->len) {
        ssize_t r = pread(s->fd, buf + got, e->len - got, e->off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    json_t *rec = NULL;
    if (buf != NULL && got == e->len)
        rec = json_loadb(buf, e->len, 0, NULL);
    free(buf);
    return rec;
}

void report_spool_close(struct report_spool *s)
{
    if (s == NULL)
        return;
    close(s->fd);
    free(s->v);
    free(s);
}

/* v, or the equal value pool already holds (added when new): many cases share
 * their axes, scenario, verdict and attempts, and the light list is read only,
 * so one copy serves them all (issue 7: the list is the report phase's per-case
 * memory). The key is the compact text, key order kept, so a shared value prints
 * exactly as the case's own would. Without a pool, v itself. */
static json_t *interned(json_t *pool, json_t *v)
{
    if (pool == NULL || v == NULL)
        return v;
    char *key = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (key == NULL)
        return v;
    json_t *have = json_object_get(pool, key);
    if (have == NULL && json_object_set(pool, key, v) == 0)
        have = v;
    free(key);
    return have != NULL ? have : v;
}

/* A field every reader takes as its default when absent (json_is_true for the
 * flags, rpt_num(c, "attempts", 1)): most cases have all three, so the light
 * list leaves them out (about 70 bytes a field). */
static int is_default(const char *key, const json_t *v)
{
    if (strcmp(key, "insecure") == 0 || strcmp(key, "flaky") == 0)
        return json_is_false(v);
    if (strcmp(key, "attempts") == 0)
        return json_is_integer(v) && json_integer_value(v) == 1;
    return 0;
}

/* Small on purpose (well under 1 KB a case with a pool): everything else is read
 * from the full record of one case at a time. */
static json_t *light_case(const json_t *c, json_t *pool)
{
    static const char *const keep[] = {"id", "scenario", "verdict", "axes", "insecure",
                                       "attempts", "flaky"};
    static const int shared[] = {0, 1, 1, 1, 0, 1, 0};
    json_t *out = json_object();
    for (size_t i = 0; out != NULL && i < sizeof keep / sizeof keep[0]; i++) {
        json_t *v = json_object_get(c, keep[i]);
        if (is_default(keep[i], v))
            continue;
        if (v != NULL && shared[i])
            v = interned(pool, v);
        if (v != NULL && json_object_set(out, keep[i], v) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    const json_t *total = json_object_get(json_object_get(c, "timings_ms"), "total");
    json_t *t = out != NULL && total != NULL ? json_pack("{s:O}", "total", total) : NULL;
    if (t != NULL) {   /* a few distinct totals (whole ms) over a whole run */
        json_object_set(out, "timings_ms", interned(pool, t));
        json_decref(t);
    }
    return out;
}

json_t *rpt_light_case(const json_t *c)
{
    return light_case(c, NULL);
}

json_t *rpt_totals(const json_t *cases)
{
    long long n[RPT_NVERDICTS] = {0};
    size_t i;
    const json_t *c;
    json_array_foreach(cases, i, c) n[rpt_verdict_index(rpt_case_verdict(c))]++;
    json_t *t = json_object();
    for (int v = 0; t != NULL && v < RPT_NVERDICTS; v++)
        json_object_set_new(t, tm_verdict_name(v), json_integer(n[v]));
    return t;
}

FILE *rpt_out_open(const char *path, char *tmp, size_t tmplen, struct tm_err *err)
{
    if (snprintf(tmp, tmplen, "%s.tmp.%d", path, (int)getpid()) >= (int)tmplen) {
        tm_err_set(err, "%s: path too long", path);
        return NULL;
    }
    FILE *f = fopen(tmp, "we");
    if (f == NULL)
        tm_err_set(err, "%s: %s", tmp, strerror(errno));
    return f;
}

int rpt_out_close(FILE *f, const char *tmp, const char *path, int failed, struct tm_err *err)
{
    int bad = ferror(f);
    int e = bad ? EIO : 0;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (!failed && !bad && rename(tmp, path) == 0)
        return 0;
    if (!failed && !bad)
        e = errno;
    unlink(tmp);
    if (failed)
        return -1;   /* the writer set err */
    return tm_err_set(err, "%s: %s", path, strerror(e));
}

static json_t *array_case(void *ctx, size_t i)
{
    return json_incref(json_array_get((const json_t *)ctx, i));
}

void rpt_src_of_run(struct rpt_src *s, const json_t *run)
{
    s->run = run;
    s->full = array_case;
    s->ctx = (void *)json_object_get(run, "cases");
}

json_t *rpt_src_case(const struct rpt_src *s, size_t i, const char *path, struct tm_err *err)
{
    json_t *c = s->full(s->ctx, i);
    if (c == NULL)
        tm_err_set(err, "%s: case %zu cannot be read back", path, i);
    return c;
}

int rpt_write_all_src(const struct rpt_src *s, const json_t *baseline, const char *dir,
                      struct tm_err *err)
{
    char path[4096];
    if (strlen(dir) > sizeof path - 32)
        return tm_err_set(err, "%s: report directory path too long", dir);
    if (tm_mkdirs(dir, 0755, err) != 0)
        return REPORT_NONE_WRITTEN;
    snprintf(path, sizeof path, "%s/run.json", dir);
    if (rpt_write_json_src(s, path, err) != 0)
        return REPORT_NONE_WRITTEN;
    /* run.json is there: the others are each worth a try (a full disk may still
     * take the smaller ones); the first failure is the one reported. */
    struct tm_err e2;
    int failed = 0;
    snprintf(path, sizeof path, "%s/junit.xml", dir);
    failed |= rpt_write_junit_src(s, path, failed ? &e2 : err) != 0;
    snprintf(path, sizeof path, "%s/summary.md", dir);
    failed |= rpt_write_markdown_src(s, baseline, path, failed ? &e2 : err) != 0;
    snprintf(path, sizeof path, "%s/matrix.html", dir);
    failed |= rpt_write_html_src(s, baseline, path, failed ? &e2 : err) != 0;
    return failed ? REPORT_SOME_WRITTEN : 0;
}

int report_write_stream(const json_t *header, size_t ncases, report_case_fn get, void *ctx,
                        const json_t *baseline, const char *dir, struct tm_err *err)
{
    json_t *light = json_array(), *pool = json_object();
    int rc = -1;
    for (size_t i = 0; light != NULL && i < ncases; i++) {
        json_t *c = get(ctx, i);
        json_t *l = c != NULL ? light_case(c, pool) : NULL;
        json_decref(c);
        if (l == NULL) {
            json_decref(light);
            json_decref(pool);
            return tm_err_set(err, "%s: case %zu cannot be read back", dir, i);
        }
        json_array_append_new(light, l);
    }
    json_decref(pool);   /* the cases hold what they share */
    json_t *totals = rpt_totals(light);
    json_t *run = json_pack("{s:s, s:O, s:o, s:o}", "format", "tlsmatrix-run/1", "header",
                            header, "cases", light, "totals", totals);
    if (run == NULL)
        return tm_err_set(err, "%s: out of memory", dir);
    struct rpt_src s = {run, get, ctx};
    rc = rpt_write_all_src(&s, baseline, dir, err);
    json_decref(run);
    return rc;
}
