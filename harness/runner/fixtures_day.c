/* Fixtures around a device's own clock: a device that cannot set its clock
 * (MicroPython's unix port, docs/device-model.md §7) runs at its own time, and
 * fixtures generated long before that time no longer mean what the scenarios
 * say (a "future" leaf has become valid). pkigen, with its key cache, makes a
 * set for the device's UTC day in about a second; sets are kept per day. */
#include "runner_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "tm_fs.h"
#include "tm_time.h"

#define DAY_LOCK_MS 200000   /* another run making the same day's set: pkigen's bound, and some */

const char *worker_fixtures(const struct worker *w)
{
    return w->fx_manifest != NULL ? w->fx_dir : w->ctx->fixtures;
}

const json_t *worker_manifest(const struct worker *w)
{
    return w->fx_manifest != NULL ? w->fx_manifest : w->ctx->manifest;
}

/* An exclusive lock on PATH, bounded: two workers or two runs wanting the
 * same day's set make it once. The fd, or -1 with err. */
static int lock_bounded(const char *path, struct tm_err *err)
{
    int fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (fd < 0)
        return tm_err_set(err, "%s: %s", path, strerror(errno));
    tm_ms deadline = tm_deadline_in(DAY_LOCK_MS);
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK || tm_now_ms() > deadline) {
            close(fd);
            return tm_err_set(err, "%s: not free after %d s", path, DAY_LOCK_MS / 1000);
        }
        usleep(100 * 1000);
    }
    return fd;
}

int worker_day_fixtures(struct worker *w, struct tm_err *err)
{
    struct run_ctx *c = w->ctx;
    const json_t *clock = json_object_get(agent_hello(w->agent), "clock");
    char why[600], day[32], lock[1300], cache[1300], parent[1300];
    if (!json_is_false(json_object_get(clock, "settable")) || !w->own_clock_known
        || !runner_fixtures_drift(c->manifest, w->own_clock, why, sizeof why))
        return 0;
    int64_t t = w->own_clock;
    tm_format_utc(t - t % 86400, day, sizeof day);
    day[10] = '\0';   /* YYYY-MM-DD: the set's reference time is the day's start */
    const char *path = w->fx_dir;
    if (snprintf(w->fx_dir, sizeof w->fx_dir, "%s.days/%s", c->fixtures, day) >= (int)sizeof w->fx_dir)
        return tm_err_set(err, "%s: path too long", c->fixtures);
    snprintf(lock, sizeof lock, "%s.lock", path);
    snprintf(cache, sizeof cache, "%s/../key-cache", c->fixtures);
    snprintf(parent, sizeof parent, "%s.days", c->fixtures);
    tm_ms t0 = tm_now_ms();
    if (tm_mkdirs(parent, 0755, err) != 0)
        return tm_err_prefix(err, "fixtures for the device's day");
    int fd = lock_bounded(lock, err);
    if (fd < 0)
        return -1;
    w->fx_manifest = runner_fixtures_at(path, day, cache, err);
    close(fd);
    if (w->fx_manifest == NULL)
        return tm_err_prefix(err, "fixtures for the device's day %s", day);
    tm_say("tlsmatrix: device %s: its cases use fixtures for its own day %s (%s, %lld ms): %s",
           w->spec, day, path, (long long)(tm_now_ms() - t0), why);
    pthread_mutex_lock(&c->mu);
    json_object_set_new(w->device_entry, "fixtures", json_pack("{s:s, s:O?}", "dir", path,
                        "reference_time", json_object_get(w->fx_manifest, "reference_time")));
    pthread_mutex_unlock(&c->mu);
    return 0;
}
