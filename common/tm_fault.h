/* Fault specs for the virtual camera: what goes wrong (KIND) and where it lands
 * (PLACE), one syntax for `vcam --fault`, the agent's `fault` op (`at`) and the
 * scenarios that expect a device reset (docs/contracts.md §4):
 *
 *   SPEC  = KIND [":" ARG] ["@" PLACE]
 *   KIND  = reboot | drop | stall[:MS] | garbage | baud:RATE | leak:BYTES
 *   PLACE = ms=N | request=N | byte=N | boot=N | stage=NAME[#N]
 *
 * Places other than ms= are events, so a fault lands in the same place on a fast
 * and on a slow machine; ms= stays for what it models (a board that fails after a
 * while). `garbage` without a place is the line-noise mode (a noise line before
 * every agent line). */
#ifndef TM_FAULT_H
#define TM_FAULT_H

#include <stddef.h>
#include <stdint.h>

#include "tm_err.h"

enum tm_fault_kind {
    TM_FAULT_REBOOT,    /* soft-reboot banner, agent lost, friendly REPL */
    TM_FAULT_STALL,     /* answer nothing for arg ms (0: until the line closes) */
    TM_FAULT_GARBAGE,   /* one line of random bytes */
    TM_FAULT_DROP,      /* close the line: vcam exits 3 */
    TM_FAULT_BAUD,      /* output throttled to arg baud from then on (0: unthrottled) */
    TM_FAULT_LEAK,      /* test-only: arg bytes of heap never freed (until a reset) */
    TM_FAULT_KIND_COUNT
};

enum tm_fault_place {
    TM_AT_NONE,         /* bare `garbage`: the line-noise mode */
    TM_AT_MS,           /* n ms after the agent first starts (or after the fault op) */
    TM_AT_REQUEST,      /* the n-th agent request line, before it is handled */
    TM_AT_BYTE,         /* right after the n-th byte written to the line */
    TM_AT_BOOT,         /* the n-th boot (power-on is boot 1), before its banner */
    TM_AT_STAGE,        /* the n-th time a TLS operation reaches `stage` */
    TM_AT_COUNT
};

/* Points of a TLS operation a fault can be placed at (docs/contracts.md §4). */
enum tm_fault_stage {
    TM_STAGE_LISTENING,     /* a server emitted `listening` */
    TM_STAGE_CONNECTED,     /* a client connected; a server accepted its client */
    TM_STAGE_CLIENT_HELLO,  /* client: the ClientHello left; server: it arrived */
    TM_STAGE_HANDSHAKE,     /* the handshake completed */
    TM_STAGE_WRITE,         /* the application data was written */
    TM_STAGE_READ,          /* a read began, before its first byte is taken */
    TM_STAGE_COUNT
};

/* Why a spec was refused; err's message names the part. */
enum tm_fault_error {
    TM_FAULT_OK = 0,
    TM_FAULT_E_KIND,        /* unknown kind */
    TM_FAULT_E_ARG,         /* argument missing, not allowed or not a number */
    TM_FAULT_E_PLACE,       /* unknown place, or a place this kind cannot take */
    TM_FAULT_E_COUNT,       /* the place's number is missing, malformed or out of range */
    TM_FAULT_E_STAGE,       /* unknown stage name */
};

struct tm_fault {
    enum tm_fault_kind kind;
    int64_t arg;                /* stall: ms (0 = until the line closes); baud: rate;
                                 * leak: bytes */
    enum tm_fault_place place;
    enum tm_fault_stage stage;  /* TM_AT_STAGE only */
    int64_t n;                  /* ms for TM_AT_MS (>= 0), else the count (>= 1) */
};

/* Parse a whole spec ("reboot@request=3", "stall:500@stage=read#2"). The old
 * spellings KIND-after-ms=N (reboot, stall, drop) read as KIND@ms=N. Returns
 * TM_FAULT_OK or the code; err gets "SPEC: PART: what is wrong with it". */
int tm_fault_parse(const char *spec, struct tm_fault *out, struct tm_err *err);

/* Parse only a PLACE ("request=3") into out->place/stage/n. Same codes. */
int tm_fault_parse_place(const char *place, struct tm_fault *out, struct tm_err *err);

/* A kind by its name alone ("reboot"): TM_FAULT_OK or TM_FAULT_E_KIND. */
int tm_fault_kind_lookup(const char *name, enum tm_fault_kind *out);

/* Names as the syntax spells them. */
const char *tm_fault_kind_name(enum tm_fault_kind k);
const char *tm_fault_stage_name(enum tm_fault_stage s);

/* The place back as text ("stage=read#2"); "" for TM_AT_NONE. */
void tm_fault_place_format(const struct tm_fault *f, char *buf, size_t len);

#endif
