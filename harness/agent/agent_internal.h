/* Internal to harness/agent: the agent object and the receive buffer shared by
 * the bootstrap (byte patterns) and the client (lines). */
#ifndef TM_AGENT_INTERNAL_H
#define TM_AGENT_INTERNAL_H

#include "agent/agent.h"

#define AGENT_RX_MAX (2u << 20)   /* a longer unterminated line is garbage */

struct agent {
    struct link *link;
    char spec[1024];
    struct agent_opts opts;
    unsigned char *rx;
    size_t rxlen, rxcap;
    json_t *hello;
    json_t *transcript;       /* borrowed */
    json_t *puts;             /* device path → sha256 held since the last bootstrap */
    long next_id;
    int bootstraps;           /* successful bootstraps */
    int recoveries;           /* agent_recover() attempts */
    int lost;                 /* last failure was a lost device */
    int lost_reset;           /* ... that reset itself (reboot banner, raw REPL, the
                               * program's end, a second hello): it may come back */
    int fresh;                /* exec-agent: the program (re)started, its hello not read yet */
    int soft_reset;           /* the next bootstrap soft-resets the board in the raw REPL */
    const char *mode;
    size_t upload_bytes;      /* bytes of the programs sent by the last bootstrap */
    const char *start;        /* how the last bootstrap started the agent (agent_start) */
    struct agent_starts starts;
    char store_off[200];      /* why the board does not keep the agent; "" while it may */
    struct agent_traffic traffic;
    int proto;                /* requests go in this protocol (1 until negotiated) */
    int rx2;                  /* replies are read as proto 2 (from the `tpl` that switches) */
    json_t *tpl;              /* proto 2: the template the agent holds, NULL before one is set */
    /* the session holder (lock.c) */
    char lock_token[17], lock_host[256], lock_since[32];
    int lock_held;            /* the agent names us as its holder */
    int recovering;           /* inside a rung of agent_recover() (it peeked already) */
    tm_ms lock_renewed;
    json_t *lock_note;        /* the board taken from another holder, or NULL */
};

/* After a hello (check_hello): switch to proto 2 when the agent offers it and the
 * options allow it (a `tpl` request with v 2). 0 also when it stays at 1. */
int agent_negotiate(struct agent *a, tm_ms deadline, struct tm_err *err);

/* link_write of the agent's link, counted in its traffic. */
int agent_link_write(struct agent *a, const void *p, size_t n, tm_ms deadline,
                     struct tm_err *err);

/* Read more bytes into rx. >0 bytes, 0 deadline, -1 link closed, -2 error. */
int agent_rx_fill(struct agent *a, tm_ms deadline, struct tm_err *err);
void agent_rx_consume(struct agent *a, size_t n);
void agent_note(struct agent *a, const char *prefix, const char *text, size_t len);
/* agent_note of a formatted harness note ("! …"). */
void agent_notef(struct agent *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* lock.c. After a hello: take the board, or TM_E_HELD when another live session
 * holds it (unless opts.steal). */
int agent_lock_claim(struct agent *a, tm_ms deadline, struct tm_err *err);
/* Before a request: renew the lease when a quarter of it has passed; -1
 * (TM_E_HELD) when another harness took the board meanwhile. */
int agent_lock_renew(struct agent *a, tm_ms deadline, struct tm_err *err);
/* Free the board (agent_close). */
void agent_lock_release(struct agent *a);
/* On a link others can reach (not one the harness spawned), before the first
 * bootstrap and before each rung of a recovery: ask a running agent for its
 * holder without interrupting it (no Ctrl-C, no reset); TM_E_HELD when another
 * live session has it. 0 otherwise (nothing answered: nobody to disturb). */
int agent_lock_peek(struct agent *a, tm_ms deadline, struct tm_err *err);

/* bootstrap.c, shared with store.c. Send a program to the raw REPL (raw-paste,
 * else classic raw; a->mode says which); the device's output follows. */
int agent_send_program(struct agent *a, const unsigned char *code, size_t len, tm_ms deadline,
                       struct tm_err *err);
/* Read until pattern appears and consume through it: 0 found, 1 deadline, -1 error. */
int agent_read_until(struct agent *a, const char *pat, size_t plen, tm_ms deadline,
                     struct tm_err *err);
/* One \x04-terminated section of a raw-REPL reply (consumed with its \x04), into
 * the transcript and, when copy is not NULL, its start into copy (NUL-terminated). */
int agent_read_section(struct agent *a, char *copy, size_t cap, tm_ms deadline,
                       struct tm_err *err);
/* 1: the firmware has deflate (the compressed forms will run); 0: it has not;
 * -1: the device broke the framing. */
int agent_probe_deflate(struct agent *a, tm_ms deadline, struct tm_err *err);

/* store.c: start the agent from the board's file system, writing it there first
 * when it is missing or stale. 1: started (its hello follows); 0: not, the board
 * cannot keep it (a->store_off says why: send it whole); -1: lost or failed. */
int agent_store_start(struct agent *a, const unsigned char *code, size_t len, tm_ms deadline,
                      struct tm_err *err);

/* pack.c: the agent zlib-compressed (level 9, a 4 KB window) in base64;
 * caller-freed. */
int agent_pack_b64(const unsigned char *code, size_t len, char **b64, struct tm_err *err);
/* pack.c: the stored agent's writer carrying that payload, inflated on the
 * device (`deflate`); caller-freed. */
int agent_pack_writer(const unsigned char *code, size_t len, char **prog, struct tm_err *err);

/* The compressed loader (pack.c): code's first line verbatim (the header the
 * virtual camera recognises), then a program that inflates code with the
 * firmware's `deflate` module and execs it. *out is caller-freed. */
int agent_pack_loader(const unsigned char *code, size_t len, unsigned char **out,
                      size_t *outlen, struct tm_err *err);

#endif
