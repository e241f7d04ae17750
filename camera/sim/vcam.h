/* vcam internals: the virtual camera's serial side (docs/device-model.md §4.2) shared by
 * vcam_*.c. vcam is a program; its public interface is the command line and the
 * byte stream (docs/contracts.md §3, §4), so this header is private to camera/sim. */
#ifndef VCAM_H
#define VCAM_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "devtls.h"
#include "tm_err.h"
#include "tm_fault.h"
#include "tm_time.h"

/* Device profile: data from camera/sim/profiles/NAME.yaml. */
struct vcam_profile {
    char name[64];
    char openmv[64];        /* banner tag, "v5.0.0" */
    char micropython[64];   /* banner tag, "v1.27.0-r1" */
    char board[64];         /* "OpenMV4P" */
    char mcu[64];           /* "STM32H743" */
    char impl_version[32];  /* sys.implementation.version as text, "1.27.0" */
    char sysname[64];       /* os.uname().sysname */
    int64_t clock_unset;    /* RTC value after power-on (UTC epoch) */
    int rtc;                /* machine.RTC present (default); false: the clock is the host's
                               and cannot be set (the unix port, docs/device-model.md §7) */
    int pem;                /* PEM parsing compiled in: picks vcam or vcam-pem */
    int tls13;              /* TLS 1.3 compiled in; only false (the device's build) */
    /* Version-dependent features (docs/device-model.md §0), all present by default: */
    int dtls;               /* PROTOCOL_DTLS_* (merged 2025-02) */
    int client_id;          /* wrap_socket(client_id=) for HelloVerify (2025-07) */
    int io_error_text;      /* read/write errors carry the mbedTLS name (2026-02) */
    long heap;              /* GC heap size in bytes */
    long agent_heap;        /* heap the running agent itself occupies */
};

int vcam_profile_load(struct vcam_profile *p, const char *name_or_file, struct tm_err *err);

/* Results of the blocking input primitives and of the REPL functions. Non-negative
 * values from vcam_getc are bytes. */
enum {
    VC_EOF = -1,        /* stdin closed, a terminating signal, or a drop fault: exit */
    VC_REBOOT = -2,     /* a reboot fault fired: unwind to the top, reboot */
    VC_TIMEOUT = -3,    /* the caller's deadline passed */
    VC_KBD = -4,        /* Ctrl-C while the interrupt char was armed (KeyboardInterrupt) */
    VC_SOFT_RESET = -5, /* soft reset requested (raw empty line, Ctrl-D, reset op) */
    VC_RESTART = -6,    /* restart the current REPL (prints its header again) */
    VC_SWITCH = -7,     /* REPL mode switched (friendly <-> raw) */
    VC_OK = 0
};

/* One armed fault (tm_fault.h). Counted places fire when their event counter
 * reaches target; ms places at a time, once armed. */
struct vcam_fault {
    int used;
    int requested;      /* by the agent's fault op: lost at a reboot, counted from its reply */
    int armed;          /* --fault ms= faults arm at the first agent start; requested ones
                         * after their reply */
    struct tm_fault spec;
    tm_ms at;           /* TM_AT_MS: when it fires, once armed */
    int64_t target;     /* counted places: the event count it fires at, once armed */
};
#define VCAM_MAX_FAULTS 8
#define VCAM_MAX_CONNS 64     /* kept connections (session steps) the agent holds */
#define VCAM_IN_CAP 4096
#define VCAM_EXIT_DROPPED 3   /* exit status after a drop fault */
#define VCAM_NOT_IMPL "NotImplementedError: the virtual camera runs only the tlsmatrix agent " \
                      "(upload camera/agent/agent.py in the raw REPL)"

/* The file system as scripts see it (--fs): writable, read-only, or full. */
enum vcam_fs { VCAM_FS_RW = 0, VCAM_FS_RO, VCAM_FS_FULL };

struct vcam {
    struct vcam_profile prof;
    char flash_dir[1024];
    int flash_is_temp;
    enum vcam_fs fs;
    int af_open;        /* the stored agent's loader opened the temporary file (its _f) */
    json_t *lock_ram;   /* the session holder in the agent's RAM (__main__): outlives an
                         * agent's end, not a boot */

    int in_fd, out_fd;
    unsigned char in[VCAM_IN_CAP];
    size_t in_pos, in_len;
    int eof;
    int intr_active;    /* the interrupt char is armed (docs/device-model.md §4.2) */
    int kbd_pending;    /* a 0x03 was taken out of the stream while armed */
    size_t read_limit;  /* raw-paste: never read more than the granted window */

    long baud;          /* line rate both ways (8N1), 0 = unthrottled */
    int64_t tx_next;    /* throttle: when the next byte may leave (µs) */
    int64_t rx_next;    /* throttle: when the next byte may come in (µs) */

    int raw_mode;       /* REPL kind: 0 friendly, 1 raw */
    long busy_ms;       /* --busy-main: a main.py printing a line every busy_ms ms (0: none) */
    long busy_swallow;  /* ... that catches its first busy_swallow KeyboardInterrupts */
    int garbage_lines;  /* --fault garbage: a noise line before each agent line */
    int agent_started;  /* the flag faults are armed at the first agent start */
    int exit_code;
    int pending;        /* VC_REBOOT / VC_EOF decided inside a devtls callback */
    int proto;          /* the agent protocol spoken now (1 until a `tpl` asks for 2) */
    json_t *tpl;        /* proto 2: the template under TLS requests (contracts §3.1) */
    int due;            /* VC_REBOOT / VC_EOF of a fault that fired inside vcam_out */
    int muted;          /* output after such a fault is lost with the device */

    struct devtls_conn *conns[VCAM_MAX_CONNS];   /* kept connections, by id - 1 */
    long conn_ids[VCAM_MAX_CONNS];
    long next_conn;

    int64_t rtc_base;   /* RTC = rtc_base + (monotonic - rtc_mono)/1000 */
    tm_ms rtc_mono;
    long heap_free;     /* what gc.mem_free() answers between operations */
    long leaked;        /* leak faults since the last boot: never given back */

    struct vcam_fault faults[VCAM_MAX_FAULTS];
    /* Event counts since power-on, for counted fault places: requests, bytes and
     * boots by enum tm_fault_place, stages by enum tm_fault_stage. */
    int64_t events[TM_AT_COUNT];
    int64_t stage_events[TM_STAGE_COUNT];
    uint64_t rng;
};

/* vcam_io.c: the byte stream, throttled output and signals. */
void vcam_signals_install(void);
int vcam_signalled(void);
void vcam_out(struct vcam *vc, const void *data, size_t len);
void vcam_puts(struct vcam *vc, const char *s);
/* Next input byte, or VC_EOF / VC_REBOOT / VC_TIMEOUT / VC_KBD (only while armed).
 * deadline 0 = none (the device waits for its host for ever). Faults fire in here. */
int vcam_getc(struct vcam *vc, tm_ms deadline);
/* Non-blocking: take what stdin has, run due faults. Returns VC_OK, VC_KBD, VC_REBOOT
 * or VC_EOF; used by the devtls interrupted() callback. */
int vcam_poll(struct vcam *vc);
void vcam_garbage_line(struct vcam *vc);
int64_t vcam_rtc_now(struct vcam *vc);
void vcam_rtc_set(struct vcam *vc, int64_t epoch);

/* vcam_fault.c: the fault table and the event counters that place faults. */
/* Stall (answer nothing, take in input) for ms, 0 = until the line closes. */
int vcam_stall(struct vcam *vc, int64_t ms);
/* A fault that fired inside vcam_out, then the due ms faults: VC_OK or what to unwind. */
int vcam_faults_run(struct vcam *vc);
/* ms until the next ms-placed fault, -1 none. */
int64_t vcam_next_fault_in(struct vcam *vc);
/* How many of len bytes may be written before a byte-placed fault is due; after
 * writing them, vcam_bytes_written counts them and fires it. */
size_t vcam_bytes_before_fault(struct vcam *vc, size_t len);
int vcam_bytes_written(struct vcam *vc, size_t n);
/* Add a fault; requested = by the agent's fault op (armed by
 * vcam_faults_arm_requested, dropped at a reboot). -1 when the table is full. */
int vcam_fault_add(struct vcam *vc, const struct tm_fault *spec, int requested);
void vcam_faults_arm_flags(struct vcam *vc);
/* After the fault op's reply: requested faults count from here. */
void vcam_faults_arm_requested(struct vcam *vc);
void vcam_faults_drop_requests(struct vcam *vc);
/* An event of a counted place happened (stage: for TM_AT_STAGE): count it and fire
 * the faults placed on it. VC_OK, or VC_REBOOT / VC_EOF to unwind. */
int vcam_event(struct vcam *vc, enum tm_fault_place place, int stage);

/* vcam_repl.c: power on, then the REPL until the line closes; the exit status. */
int vcam_run(struct vcam *vc);

/* vcam_store.c: the file system's mode and the stored agent. */
/* Write a file in the flash directory as a script would: 0, or the errno of the
 * OSError it raises (EROFS read-only, ENOSPC full, EIO). */
int vcam_fs_write(const struct vcam *vc, const char *full, const void *data, size_t len);
/* A boot: what lived on the heap is gone. */
void vcam_store_boot(struct vcam *vc);
/* Run code when it is the stored agent's loader or writer (*handled 1): prints
 * its status line, or runs the agent; *exc gets a traceback line when it raises.
 * Returns VC_OK or, when the agent ran, what vcam_agent_run returned. */
int vcam_store_exec(struct vcam *vc, const unsigned char *code, size_t len, int *handled,
                    const char **exc);
/* code starts with the agent's header line (docs/contracts.md §3). */
int vcam_is_agent(const unsigned char *p, size_t len);

/* vcam_lock.c: the session holder in RAM and in the flash directory (new references). */
json_t *vcam_lock_holder(const struct vcam *vc);
/* The lock op's compare-and-set: the holder after it, or NULL with *why. */
json_t *vcam_lock_op(struct vcam *vc, json_t *req, const char **why);
json_t *vcam_unique_id(const struct vcam *vc);

/* vcam_agent.c: serve the agent protocol; returns VC_KBD, VC_SOFT_RESET, VC_EOF
 * or VC_REBOOT. */
int vcam_agent_run(struct vcam *vc);

#endif
