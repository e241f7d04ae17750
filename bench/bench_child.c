/* Child programs of the bench driver: captured JSON lines, wall time and peak RSS.
 * The harness's own peak comes from sampling /proc/PID/status (VmHWM, which the
 * kernel keeps as a high-water mark, so a 10 ms sampling period loses only what
 * happens after the last sample); wait4's ru_maxrss is kept as an upper bound
 * because it also covers the peers and cameras the child started and reaped. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_run.h"
#include "tm_proc.h"
#include "tm_time.h"

#define SAMPLE_MS 10
#define MAX_LINE (1 << 20)
#define MAX_TEXT (16 << 20)

static long read_hwm_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

/* The process's own CPU time (user + system, all its threads; not its children)
 * from /proc/PID/stat, in ms; -1 when it is gone. */
static double read_cpu_ms(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the command name (which may hold spaces): state is field 3,
     * utime and stime are 14 and 15. */
    const char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    if (p == NULL || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                            &ut, &st) != 2)
        return -1;
    return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

static void sample(pid_t pid, struct bench_child *out)
{
    long kb = read_hwm_kb(pid);
    double cpu = read_cpu_ms(pid);
    if (kb > out->peak_rss_kb)
        out->peak_rss_kb = kb;
    if (cpu > out->cpu_ms)
        out->cpu_ms = cpu;
}

static double now_ms_f(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Keep a line when it is a JSON object; progress text and the like are dropped. */
static void keep_line(json_t *lines, const char *line)
{
    if (line[0] != '{')
        return;
    json_t *v = json_loads(line, 0, NULL);
    if (json_is_object(v))
        json_array_append_new(lines, v);
    else
        json_decref(v);
}

/* The whole stdout too, for programs that print one pretty-printed document. */
static void keep_text(struct bench_child *out, const char *line)
{
    size_t n = strlen(line);
    if (out->text_len + n + 2 > MAX_TEXT)
        return;
    char *grown = realloc(out->text, out->text_len + n + 2);
    if (grown == NULL)
        return;
    out->text = grown;
    memcpy(out->text + out->text_len, line, n);
    out->text_len += n;
    out->text[out->text_len++] = '\n';
    out->text[out->text_len] = '\0';
}

/* Drain stdout until EOF or the deadline, sampling the peak RSS meanwhile. */
static void drain(struct tm_proc *p, tm_ms deadline, struct bench_child *out)
{
    struct tm_lines lr;
    tm_lines_init(&lr, p->out_fd, MAX_LINE);
    for (;;) {
        sample(p->pid, out);
        if (tm_expired(deadline))
            break;
        char *line = NULL;
        struct tm_err err;
        int r = tm_lines_read(&lr, tm_deadline_in(SAMPLE_MS), &line, &err);
        if (r == 1) {
            keep_line(out->lines, line);
            keep_text(out, line);
            free(line);
        } else if (r < 0) {
            break;
        }
    }
    tm_lines_free(&lr);
}

/* Reap with rusage; the stdout EOF can come a little before the exit. */
static void reap(struct tm_proc *p, tm_ms deadline, struct bench_child *out)
{
    for (;;) {
        int st;
        struct rusage ru;
        pid_t r = wait4(p->pid, &st, WNOHANG, &ru);
        if (r == p->pid) {
            p->exited = 1;
            p->status = st;
            out->ru_maxrss_kb = ru.ru_maxrss;
            out->cpu_all_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
                              (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
            out->exit_code = tm_proc_exit_code(p);
            return;
        }
        if (r < 0 && errno != EINTR)
            break;
        sample(p->pid, out);
        if (tm_expired(deadline))
            break;
        tm_sleep_ms(2);
    }
    tm_proc_stop(p, 1000);
    out->exit_code = -1;
}

int bench_child_run(char *const argv[], const char *stderr_path, int timeout_ms,
                    struct bench_child *out)
{
    memset(out, 0, sizeof *out);
    out->lines = json_array();
    out->peak_rss_kb = -1;
    out->ru_maxrss_kb = -1;
    out->cpu_ms = -1;
    out->cpu_all_ms = -1;
    struct tm_proc p;
    struct tm_err err;
    double t0 = now_ms_f();
    if (tm_proc_spawn(&p, argv, stderr_path, &err) != 0) {
        fprintf(stderr, "bench_run: %s: %s\n", argv[0], err.msg);
        return -1;
    }
    tm_ms deadline = tm_deadline_in(timeout_ms);
    drain(&p, deadline, out);
    reap(&p, deadline, out);
    out->wall_ms = now_ms_f() - t0;
    if (p.out_fd >= 0)
        close(p.out_fd);
    if (out->exit_code == -1)
        fprintf(stderr, "bench_run: %s: stopped after %d ms\n", argv[0], timeout_ms);
    return 0;
}

void bench_child_free(struct bench_child *c)
{
    json_decref(c->lines);
    c->lines = NULL;
    free(c->text);
    c->text = NULL;
}
