/* vcam: the virtual camera (docs/contracts.md §4). Command line, flash directory,
 * terminal setup; the REPL and the agent live in vcam_repl.c and vcam_agent.c. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <mbedtls/version.h>

#include "devtls.h"
#include "tm_fs.h"
#include "vcam.h"

static const char usage[] =
    "usage: vcam [--profile NAME|FILE] [--flash DIR] [--fs rw|ro|full] [--pem]\n"
    "            [--unset-clock EPOCH] [--fault SPEC]... [--baud N] [--busy-main MS[:N]]\n"
    "            | --version\n"
    "The virtual camera: speaks the camera's USB serial protocol on stdin/stdout\n"
    "(raw REPL, raw-paste, soft reset) and serves the tlsmatrix agent natively.\n"
    "  --profile NAME|FILE  device profile (default openmv-default, from\n"
    "                       camera/sim/profiles/NAME.yaml)\n"
    "  --flash DIR          the device file system (default: a fresh temp dir,\n"
    "                       removed at exit)\n"
    "  --fs rw|ro|full      the file system as scripts see it: writable (default),\n"
    "                       read-only (writes raise OSError EROFS) or full (files can\n"
    "                       be created, no byte written: OSError ENOSPC)\n"
    "  --pem                PEM parsing compiled in (overrides the profile): runs\n"
    "                       vcam-pem, the build with PEM, as a profile's pem: true does\n"
    "  --unset-clock EPOCH  RTC value at power-on (epoch or YYYY-MM-DDTHH:MM:SSZ)\n"
    "  --fault SPEC         KIND[:ARG][@PLACE], repeatable (docs/contracts.md §4):\n"
    "                       KIND reboot (soft-reboot banner, agent lost, friendly\n"
    "                       REPL) | drop (close the line, exit 3) | stall[:MS]\n"
    "                       (answer nothing; 0 = until the line closes) | garbage\n"
    "                       (a noise line; bare: one before each agent line) |\n"
    "                       baud:RATE; PLACE ms=N (after the first agent start) |\n"
    "                       request=N | byte=N | boot=N | stage=NAME[#N] with NAME\n"
    "                       listening|connected|client-hello|handshake|write|read\n"
    "  --baud N             a UART at N baud (8N1): input and output both\n"
    "                       throttled to N/10 bytes per second\n"
    "  --busy-main MS[:N]   a main.py runs after power-on (not after a soft reset):\n"
    "                       it prints a line every MS ms (a camera loop), reads no\n"
    "                       input and catches its first N Ctrl-C (default 0), as a\n"
    "                       try/except KeyboardInterrupt loop does; the next ends it\n"
    "  --check              check the options and the profile, then exit (0 when\n"
    "                       the camera would start; the harness runs this first)\n"

    "  --version            the linked mbedTLS version and build (of the profile's\n"
    "                       choice: with --pem or a pem: true profile, vcam-pem's)\n";

struct opts {
    const char *profile;
    const char *flash;
    int pem;
    const char *unset_clock;
    long baud;
    int check;
    int version;
};

static int die_usage(const char *flag, const char *msg, const char *arg)
{
    fprintf(stderr, "vcam: %s: %s%s%s\n%s", flag, msg, arg ? ": " : "", arg ? arg : "",
            usage);
    return 2;
}

static int parse_long(const char *s, long min, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min)
        return -1;
    *out = v;
    return 0;
}

/* 0, or 2 after printing the parser's message (it names the bad part). */
static int parse_fault(struct vcam *vc, const char *text)
{
    struct tm_fault spec;
    struct tm_err err;
    if (tm_fault_parse(text, &spec, &err) != TM_FAULT_OK) {
        fprintf(stderr, "vcam: --fault %s\n(vcam --help shows the syntax)\n", err.msg);
        return 2;
    }
    if (spec.place == TM_AT_NONE) {   /* bare garbage: the line-noise mode */
        vc->garbage_lines = 1;
        return 0;
    }
    if (vcam_fault_add(vc, &spec, 0) != 0) {
        fprintf(stderr, "vcam: --fault %s: more than %d faults\n", text, VCAM_MAX_FAULTS);
        return 2;
    }
    return 0;
}

static int parse_fs(const char *arg, struct vcam *vc)
{
    static const char *const names[] = { "rw", "ro", "full" };
    for (int i = 0; i < 3; i++)
        if (strcmp(arg, names[i]) == 0) {
            vc->fs = (enum vcam_fs)i;
            return 0;
        }
    return -1;
}

/* MS[:N] */
static int parse_busy(const char *arg, struct vcam *vc)
{
    char ms[32];
    const char *colon = strchr(arg, ':');
    size_t n = colon ? (size_t)(colon - arg) : strlen(arg);
    if (n == 0 || n >= sizeof ms)
        return -1;
    memcpy(ms, arg, n);
    ms[n] = '\0';
    vc->busy_swallow = 0;
    if (parse_long(ms, 1, &vc->busy_ms) != 0 || vc->busy_ms > 3600000)
        return -1;
    return colon ? parse_long(colon + 1, 0, &vc->busy_swallow) : 0;
}

static int parse_opts(int argc, char **argv, struct opts *o, struct vcam *vc)
{
    static const struct option longopts[] = {
        { "profile", required_argument, NULL, 'p' },
        { "flash", required_argument, NULL, 'f' },
        { "fs", required_argument, NULL, 's' },
        { "pem", no_argument, NULL, 'P' },
        { "unset-clock", required_argument, NULL, 'c' },
        { "fault", required_argument, NULL, 'F' },
        { "baud", required_argument, NULL, 'b' },
        { "busy-main", required_argument, NULL, 'B' },
        { "help", no_argument, NULL, 'h' },
        { "check", no_argument, NULL, 'C' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': o->profile = optarg; break;
        case 'f': o->flash = optarg; break;
        case 's':
            if (parse_fs(optarg, vc) != 0)
                return die_usage("--fs", "expected rw, ro or full, got", optarg);
            break;
        case 'P': o->pem = 1; break;
        case 'C': o->check = 1; break;
        case 'c': o->unset_clock = optarg; break;
        case 'F':
            if (parse_fault(vc, optarg) != 0)
                return 2;
            break;
        case 'b':
            if (parse_long(optarg, 1, &o->baud) != 0)
                return die_usage("--baud", "expected a positive integer, got", optarg);
            break;
        case 'B':
            if (parse_busy(optarg, vc) != 0)
                return die_usage("--busy-main", "expected MS[:N] (MS >= 1, N >= 0), got", optarg);
            break;
        case 'h':
            fputs(usage, stdout);
            return 1;
        case 'V': o->version = 1; break;
        default:
            return die_usage(argv[optind - 1], "unknown option or missing argument", NULL);
        }
    }
    if (optind < argc)
        return die_usage(argv[optind], "unexpected argument", NULL);
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    return remove(path) == 0 ? 0 : 0;   /* best effort: keep removing the rest */
}

/* The profile's `pem` picks the mbedTLS build (camera/sim/mbedtls.cmake): this binary
 * links one; for the other, exec the sibling built with it, same arguments. The
 * environment mark stops a loop if the sibling is not the build it should be. */
static int exec_variant(int want_pem, char **argv)
{
    static const char mark[] = "TM_VCAM_VARIANT_EXEC";
    if (want_pem == devtls_pem())
        return 0;
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0 || getenv(mark) != NULL) {
        fprintf(stderr, "vcam: the profile needs the mbedTLS build %s PEM, and this is "
                "the build %s it\n", want_pem ? "with" : "without", want_pem ? "without" : "with");
        return 2;
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    snprintf(slash + 1, sizeof self - (size_t)(slash + 1 - self), "%s",
             want_pem ? "vcam-pem" : "vcam");
    setenv(mark, "1", 1);
    execv(self, argv);
    fprintf(stderr, "vcam: cannot run %s (the build with%s PEM): %s\n", self,
            want_pem ? "" : "out", strerror(errno));
    return 2;
}

static int setup(struct vcam *vc, const struct opts *o, char **argv)
{
    struct tm_err err;
    if (vcam_profile_load(&vc->prof, o->profile ? o->profile : "openmv-default", &err) != 0) {
        fprintf(stderr, "vcam: %s\n", err.msg);
        return 2;
    }
    int rc = exec_variant(o->pem || vc->prof.pem, argv);
    if (rc != 0)
        return rc;
    if (o->version) {
        char v[64];
        mbedtls_version_get_string_full(v);
        printf("%s (%s)\n", v, devtls_pem() ? "PEM parsing compiled in" : "DER only");
        return 1;
    }
    int64_t unset = vc->prof.clock_unset;
    if (o->unset_clock && tm_parse_utc(o->unset_clock, &unset) != 0)
        return die_usage("--unset-clock", "expected an epoch or YYYY-MM-DDTHH:MM:SSZ, got",
                         o->unset_clock);
    /* Without machine.RTC the clock is the host's, right and not settable. */
    vcam_rtc_set(vc, vc->prof.rtc ? unset : tm_wall_s());
    vc->baud = o->baud;
    if (o->check)
        return 0;   /* everything that could stop the camera starting is checked */
    if (o->flash) {
        if (tm_mkdirs(o->flash, 0755, &err) != 0) {
            fprintf(stderr, "vcam: --flash %s: %s\n", o->flash, err.msg);
            return 2;
        }
        snprintf(vc->flash_dir, sizeof vc->flash_dir, "%s", o->flash);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(vc->flash_dir, sizeof vc->flash_dir, "%s/vcam-flash-XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (mkdtemp(vc->flash_dir) == NULL) {
            fprintf(stderr, "vcam: temporary flash directory %s: %s\n", vc->flash_dir,
                    strerror(errno));
            return 2;
        }
        vc->flash_is_temp = 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct vcam vc;   /* large (input buffer); one per process */
    struct opts o = { 0 };
    vc.in_fd = 0;
    vc.out_fd = 1;
    vc.rng = 0x9E3779B97F4A7C15ull;
    int rc = parse_opts(argc, argv, &o, &vc);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    rc = setup(&vc, &o, argv);
    if (rc != 0 || o.check)
        return rc == 1 ? 0 : rc;
    vc.heap_free = vc.prof.heap;

    /* The harness gives us a pty in raw mode; by hand (or a cooked pty) we make it
     * raw ourselves so the bytes are exactly the device's: no echo, no \n -> \r\n. */
    struct termios saved;
    int restore_tty = isatty(vc.in_fd) && tcgetattr(vc.in_fd, &saved) == 0;
    if (restore_tty) {
        struct termios raw = saved;
        cfmakeraw(&raw);
        tcsetattr(vc.in_fd, TCSANOW, &raw);
    }
    vcam_signals_install();
    rc = vcam_run(&vc);
    if (restore_tty)
        tcsetattr(vc.in_fd, TCSANOW, &saved);
    json_decref(vc.lock_ram);
    if (vc.flash_is_temp)
        nftw(vc.flash_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
