/* The typed case: what one row of the matrix asks of the device, the peer and
 * the proxy, and what it expects (docs/contracts.md §5). Every source of cases
 * (scenario files through scenario_expand, `tlsmatrix repro` options, `repro
 * --cases FILE`) builds it through case_build, the one validator; the runner
 * reads only this struct. JSON is met only at the edges: the case JSON that
 * scenario expansion and case files carry, and the agent request `options`
 * passed to the device as they are. */
#ifndef TM_CASE_H
#define TM_CASE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "tm_err.h"

enum case_role { CASE_CLIENT, CASE_SERVER };                   /* the device's role */
enum case_layer { CASE_LAYER_TLS, CASE_LAYER_SSL };            /* MicroPython module */
enum case_verify { CASE_VERIFY_DEFAULT, CASE_VERIFY_NONE, CASE_VERIFY_OPTIONAL,
                   CASE_VERIFY_REQUIRED };
/* reference: the fixtures' reference time; unset: the RTC's power-on value;
 * keep: the device's own clock, as it was when the run met the device; now: this
 * host's time when the case runs (the user's own certificates); at: a given
 * time (an ISO-8601 value in the case, device.clock_at). */
enum case_clock { CASE_CLOCK_REFERENCE, CASE_CLOCK_UNSET, CASE_CLOCK_KEEP, CASE_CLOCK_NOW,
                  CASE_CLOCK_AT };
enum case_backend { CASE_OPENSSL, CASE_GNUTLS };
enum case_proto { CASE_TLS, CASE_DTLS };
enum case_side { CASE_SIDE_DEVICE, CASE_SIDE_PEER };

/* Outcome classes by kind (the part before ':' of "verify-failed:expired"):
 * which ones a side can have is in case_class_check's table. */
enum case_outcome {
    CASE_OC_OK, CASE_OC_HELLO_VERIFY_RETRY, CASE_OC_VERIFY_FAILED, CASE_OC_ERROR,
    CASE_OC_ERRNO, CASE_OC_TIMEOUT, CASE_OC_UNSUPPORTED, CASE_OC_ALERT_SENT,
    CASE_OC_ALERT_RECEIVED, CASE_OC_CLOSED, CASE_OC_NOT_STARTED,
    CASE_OC_RECOVERED,  /* "recovered:CLASS": failed as CLASS, then ok on the retry */
    CASE_OC_RESET,      /* the device reset (or crashed and came back) at a step */
    CASE_OC_ANY,        /* "*" or a glob: whatever came */
    CASE_OC_INFRA,      /* lost, crashed, bad-request: never expected */
    CASE_OC_COUNT
};

/* One name table per enum: names[value]; n entries. */
struct case_names {
    const char *field;          /* the scenario key, for messages */
    const char *const *names;
    int n;
};
extern const struct case_names case_role_names, case_layer_names, case_verify_names,
    case_clock_names, case_backend_names, case_proto_names;

/* A certificate, key or CA for the device: a fixture file name, or inline data. */
enum case_source_kind { CASE_SRC_FIXTURE, CASE_SRC_B64, CASE_SRC_STR, CASE_SRC_FILE };
struct case_source {
    enum case_source_kind kind;
    char *value;                /* fixture name ({kt} substituted), base64, text or path */
};
struct case_chain_item {
    struct case_source cert;
    struct case_source key;     /* value NULL: no key given */
};

struct case_device {
    enum case_role role;
    enum case_layer layer;
    enum case_verify verify;
    enum case_clock clock;
    int64_t clock_at;           /* CASE_CLOCK_AT: UTC epoch seconds */
    /* CASE_CLOCK_AT from a case source with device.clock_span (x509-limbo): the
     * device times that test the same as clock_at (no certificate of the case
     * changes validity between them); a device that cannot set its clock runs the
     * case when its own time is inside. Else both are clock_at. */
    int64_t clock_span[2];
    int has_ca;                 /* 0: no load_verify_locations at all */
    struct case_source *ca;
    size_t nca;
    struct case_chain_item *chain;
    size_t nchain;
    char *server_hostname;      /* NULL: not passed */
    char **ciphers;             /* NULL: not set */
    size_t nciphers;
    char *send;                 /* NULL: nothing written after the handshake */
    /* Bytes of GC heap the device keeps free for its operation: the agent holds
     * the rest while it runs (docs/device-model.md §9). 0: not set. It is a field
     * of the agent request, so it applies to the one operation that request
     * makes; a session step that sends a request can carry its own. */
    long heap_free;
    json_t *options;            /* other agent request fields, passed as is; NULL none */
};

/* 0 when a scenario's peer block may have key: cert, key, ca, args, or a tlspeer
 * flag its table marks as a scenario key (`max_version` for --max-version); else
 * -1 with err (TM_E_INPUT) "peer: unknown key 'k' (the keys)". */
int case_peer_key_check(const char *key, struct tm_err *err);

/* The `proxy` block's keys (docs/contracts.md §5) and the proto each belongs to:
 * "dtls" keys are udpproxy's, "tls" keys tcpproxy's, NULL both (seed). Ends with
 * a NULL key. */
struct case_proxy_key {
    const char *key;
    const char *proto;
};
extern const struct case_proxy_key case_proxy_keys[];
/* The proto a proxy block is for: "tls" when it has tcpproxy's keys, else "dtls".
 * NULL with err set for an unknown key or a mix of both. */
const char *case_proxy_proto(const json_t *spec, struct tm_err *err);

/* A tlspeer flag the scenario sets by key (peer.verify: none → --verify none). */
struct case_peer_flag {
    char *key;                  /* scenario key: "verify", "max_version", "no_tickets" */
    char *value;                /* its argument; NULL for a flag without one (true) */
};
struct case_peer {
    char **cert;                /* fixture names, in send order */
    size_t ncert;
    char *key;                  /* NULL: none */
    char **ca;
    size_t nca;
    struct case_peer_flag *flags;
    size_t nflags;
    char **args;                /* extra tlspeer arguments, verbatim, last */
    size_t nargs;
};

/* Accepted outcome classes of one side: any of them passes. */
struct case_classes {
    char **v;
    size_t n;
};
struct case_expect {
    struct case_classes device, peer;
};

/* Multi-step device sessions (docs/contracts.md §5 `steps`): instead of one TLS
 * operation, the device runs a sequence. An `open` step is the operation the
 * device part describes (its expectation defaults to the case's), kept open
 * for the steps after it unless `keep: false`; the others act on the last
 * connection opened, or on the device. nsteps 0: the case is one operation. */
enum case_step_kind { CASE_STEP_OPEN, CASE_STEP_WRITE, CASE_STEP_READ, CASE_STEP_CLOSE,
                      CASE_STEP_GC, CASE_STEP_SLEEP, CASE_STEP_RESET, CASE_STEP_FAULT,
                      CASE_STEP_REPEAT, CASE_STEP_KIND_COUNT };
/* close: tls = close() on the TLS socket; raw = only the raw socket's close(), the
 * TLS object is kept; leave = kept open and referenced; abort = RST (SO_LINGER 0). */
enum case_close { CASE_CLOSE_TLS, CASE_CLOSE_RAW, CASE_CLOSE_LEAVE, CASE_CLOSE_ABORT };
extern const struct case_names case_step_names, case_close_names;

#define CASE_STEP_REPEAT_MAX 1000     /* times of one repeat block */
#define CASE_STEPS_RUN_MAX 20000      /* steps a session runs, repeats unrolled */
#define CASE_STEP_DEPTH_MAX 4         /* repeat blocks inside repeat blocks */
#define CASE_STEP_DATA_MAX (1L << 20) /* bytes one write or read moves */

struct case_step {
    enum case_step_kind kind;
    int keep;                   /* open: the connection stays for later steps */
    int asyncio;                /* open: through asyncio.open_connection (client only) */
    char **peer_args;           /* open: tlspeer arguments added for this connection */
    size_t npeer_args;
    unsigned char *data;        /* write: the bytes; read: the bytes expected (NULL: any) */
    long n;                     /* write/read: bytes; sleep: ms; repeat: times */
    int echo;                   /* read: the bytes must be what this connection wrote */
    enum case_close close;
    char *fault;                /* fault: a vcam fault spec (common/tm_fault.h) */
    json_t *options;            /* agent request fields for this step; NULL none */
    int has_expect;             /* 0: open steps take the case's, others device ok */
    struct case_expect expect;
    struct case_step *steps;    /* repeat: the block */
    size_t nsteps;
};

/* Bounds on what a session's repetitions show (expect.trend): -1 = no bound. */
struct case_bound {
    long min, max;
};
struct case_trend {
    struct case_bound heap_growth;  /* bytes per iteration, gc.mem_free() after gc.collect() */
    struct case_bound open;         /* most connections the device held at an iteration's end */
    struct case_bound handshake_ms; /* the slowest open step's handshake */
};

struct tm_case {
    char *id;                   /* "NAME/BACKEND/KEYTYPE/PROTO" */
    char *scenario, *file, *doc;
    char **tags;
    size_t ntags;
    int insecure;
    enum case_backend backend;  /* axes */
    char *keytype;              /* p256, p384, rsa2048, rsa4096, or custom (repro) */
    enum case_proto proto;
    struct case_device device;
    struct case_peer peer;
    json_t *proxy;              /* udpproxy (DTLS) or tcpproxy (TLS) settings, NULL for none */
    char *target;               /* "HOST:PORT": a real server instead of the peer (repro
                                   --target; device client only); NULL: the local peer */
    struct case_expect expect;
    struct case_step *steps;
    size_t nsteps;
    struct case_trend trend;
    char *skip;                 /* the source already knows the case cannot run: why */
};

/* The validator: a case's JSON (as scenario_expand makes it, or from a cases
 * file or repro's options) → c. On error returns -1 with err code TM_E_INPUT and
 * a message naming the field ("device.role: 'x' is not one of client, server",
 * "expect.device: 'verify-failed:expird': unknown verify reason …"), the same
 * words the scenario loader puts after FILE:LINE. c is then empty. */
int case_build(const json_t *j, struct tm_case *c, struct tm_err *err);
void case_free(struct tm_case *c);
/* {"device": class|list, "peer": class|list (absent: "*")} → e, checked as
 * case_build checks the case's; -1 with err (TM_E_INPUT), e then empty. */
int case_expect_build(const json_t *j, struct case_expect *e, struct tm_err *err);
void case_expect_free(struct case_expect *e);

/* The value named s in t, or -1 with err (TM_E_INPUT) "field 'F': 's' is not
 * one of a, b, c". */
int case_enum_parse(const struct case_names *t, const char *s, struct tm_err *err);
/* names[v] of t, NULL out of range. */
const char *case_enum_name(const struct case_names *t, int v);

/* 0 when cls is an outcome class (or a glob of them) a scenario may expect on
 * side, or one prefixed with '!' (the class is excluded: "error:*" with
 * "!error:ecp-verify-failed" is any error but that one); else -1 with err
 * (TM_E_INPUT): "expect.SIDE: 'cls': why". kind (may be NULL) gets its enum
 * case_outcome. */
int case_class_check(enum case_side side, const char *cls, enum case_outcome *kind,
                     struct tm_err *err);
/* 0 when v is a heap_free figure a case may ask for; else -1 with err
 * (TM_E_INPUT) "field 'heap_free': …". The scenario loader, case_build and
 * `repro --heap-free` share it, so all three refuse with the same words. */
#define CASE_HEAP_FREE_MAX (1L << 30)
int case_heap_free_check(long long v, struct tm_err *err);
/* A `steps` item's JSON → st (docs/contracts.md §5); depth is its repeat nesting.
 * -1 with err (TM_E_INPUT) "steps[i]…: why" (prefix names the item). *runs adds
 * the steps it makes a session run, repeats unrolled. */
int case_step_build(const json_t *j, const char *prefix, int depth, struct case_step *st,
                    long *runs, struct tm_err *err);
void case_step_free(struct case_step *st);
/* How many steps of kind the n steps v run, repeat blocks unrolled. */
long case_steps_count(const struct case_step *v, size_t n, enum case_step_kind kind);
/* expect.trend's JSON (NULL: none) → t. -1 with err (TM_E_INPUT). */
int case_trend_build(const json_t *j, struct case_trend *t, struct tm_err *err);

/* 1 for lost, crashed, bad-request (and NULL): no verdict can come of them. */
int case_class_is_infra(const char *cls);

#endif
