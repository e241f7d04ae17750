/* Report directories: a run writes only into a new or empty directory, or one an
 * earlier tlsmatrix run marked as its own, and holds an exclusive lock on it while
 * it writes, so two runs never mix their cases in one directory (docs/contracts.md
 * §6, "Report directories"). */
#include "report.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tm_fs.h"
#include "tm_time.h"

#define MARKER ".tlsmatrix-report"
#define LOCK ".tlsmatrix-lock"
/* The marker's first line: its content, not its mere presence, says the
 * directory is tlsmatrix's (an empty file of that name proves nothing). */
#define MARKER_TEXT "tlsmatrix report directory: each run replaces cases/ and the reports.\n"
#define MARKER_MAX 4096

struct report_dir {
    int lock_fd;
    char path[PATH_MAX];
};

static int join(char *out, size_t len, const char *dir, const char *name)
{
    return snprintf(out, len, "%s/%s", dir, name) >= (int)len ? -1 : 0;
}

/* 1 when DIR/MARKER is a regular file that begins with MARKER_TEXT. */
static int marked(const char *dir)
{
    char path[PATH_MAX];
    struct stat st;
    if (join(path, sizeof path, dir, MARKER) != 0 || lstat(path, &st) != 0
        || !S_ISREG(st.st_mode) || st.st_size > MARKER_MAX)
        return 0;
    unsigned char *text = NULL;
    size_t len = 0;
    int ok = tm_read_file(path, &text, &len, NULL) == 0
             && strncmp((const char *)text, MARKER_TEXT, strlen(MARKER_TEXT)) == 0;
    free(text);
    return ok;
}

/* 1 when dir holds nothing (or only an unowned lock file: a run that stopped
 * between taking the lock and marking the directory). */
static int empty_dir(const char *dir, struct tm_err *err)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return tm_err_set(err, "%s: %s", dir, strerror(errno));
    int empty = 1;
    for (struct dirent *e; empty && (e = readdir(d)) != NULL;)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0
                || strcmp(e->d_name, LOCK) == 0;
    closedir(d);
    return empty;
}

/* The root and the directories a system keeps its own files in are never a
 * report directory, whatever they hold. */
static int is_root(const char *dir)
{
    char real[PATH_MAX];
    return realpath(dir, real) != NULL && strcmp(real, "/") == 0;
}

static int check_owner(const char *dir, struct tm_err *err)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno != ENOENT)
            return tm_err_set(err, "%s: %s", dir, strerror(errno));
        return tm_mkdirs(dir, 0755, err);
    }
    if (!S_ISDIR(st.st_mode))
        return tm_err_set(err, "%s is a file, not a directory: --report names the directory "
                               "the reports go into", dir);
    if (is_root(dir))
        return tm_err_set(err, "%s is the root directory; choose a directory of its own", dir);
    if (marked(dir))
        return 0;
    int empty = empty_dir(dir, err);
    if (empty < 0)
        return -1;
    if (!empty)
        return tm_err_set(err, "%s is not empty and tlsmatrix did not write it (no valid "
                               MARKER "); choose a new or empty directory", dir);
    return 0;
}

/* "pid 123 on host, since 2026-…Z", from the lock file of the run holding it. */
static void describe_holder(int fd, char *out, size_t len)
{
    char buf[256];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) {
        snprintf(out, len, "another tlsmatrix run (it has not written its details yet)");
        return;
    }
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    snprintf(out, len, "%s", buf);
}

static int take_lock(struct report_dir *d, struct tm_err *err)
{
    char path[PATH_MAX], who[300], host[128] = "?", now[32];
    if (join(path, sizeof path, d->path, LOCK) != 0)
        return tm_err_set(err, "%s: path too long", d->path);
    d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (d->lock_fd < 0)
        return tm_err_set(err, "%s: %s", path, strerror(errno));
    if (flock(d->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        describe_holder(d->lock_fd, who, sizeof who);
        if (e == EWOULDBLOCK)
            return tm_err_set(err, "%s is in use by another run: %s", d->path, who);
        return tm_err_set(err, "%s: lock: %s", path, strerror(e));
    }
    gethostname(host, sizeof host - 1);
    tm_format_utc(tm_wall_s(), now, sizeof now);
    int n = snprintf(who, sizeof who, "pid %d on %s, since %s\n", (int)getpid(), host, now);
    if (ftruncate(d->lock_fd, 0) != 0 || pwrite(d->lock_fd, who, (size_t)n, 0) != n)
        return tm_err_set(err, "%s: %s", path, strerror(errno));
    return 0;
}

static int write_marker(const char *dir, struct tm_err *err)
{
    char path[PATH_MAX];
    if (marked(dir))
        return 0;
    if (join(path, sizeof path, dir, MARKER) != 0)
        return tm_err_set(err, "%s: path too long", dir);
    return tm_write_file(path, MARKER_TEXT, strlen(MARKER_TEXT), 0644, err);
}

struct report_dir *report_dir_claim(const char *dir, struct tm_err *err)
{
    struct report_dir *d = calloc(1, sizeof *d);
    if (d == NULL) {
        tm_err_set(err, "out of memory");
        return NULL;
    }
    d->lock_fd = -1;
    if (snprintf(d->path, sizeof d->path, "%s", dir) >= (int)sizeof d->path) {
        tm_err_set(err, "%s: path too long", dir);
        free(d);
        return NULL;
    }
    /* Checked before the lock is taken, so a foreign directory gets no lock file;
     * checked again under the lock, for a run that marked it in between. */
    if (check_owner(dir, err) != 0 || take_lock(d, err) != 0 || check_owner(dir, err) != 0
        || write_marker(dir, err) != 0) {
        report_dir_release(d);
        return NULL;
    }
    return d;
}

int report_dir_check(const struct report_dir *d, struct tm_err *err)
{
    struct stat st;
    if (fstat(d->lock_fd, &st) != 0)
        return tm_err_set(err, "%s: %s", d->path, strerror(errno));
    if (st.st_nlink == 0)
        return tm_err_set(err, "%s was removed during the run", d->path);
    return 0;
}

void report_dir_release(struct report_dir *d)
{
    if (d == NULL)
        return;
    if (d->lock_fd >= 0)
        close(d->lock_fd);   /* drops the lock; the file stays for the next run */
    free(d);
}
