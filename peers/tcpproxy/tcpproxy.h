/* tcpproxy: a TLS-record-aware TCP impairment proxy between one client and one
 * server on loopback (udpproxy's sibling for TLS over TCP). It parses the records
 * (and the handshake message headers inside plaintext records) of both directions
 * so that one action can be placed at a point of the handshake: a FIN or an RST
 * after ServerHello, a stall in the middle of the Certificate message, a corrupted
 * Finished. The seed picks the corrupted byte; the same seed and the same byte
 * stream give the same log. */
#ifndef TCPPROXY_H
#define TCPPROXY_H

#include <stddef.h>
#include <stdint.h>

enum tp_side { TP_CLIENT = 0, TP_SERVER = 1 };   /* also the direction: bytes FROM that side */

/* Where the action happens (one row each in tcpproxy_opts.c's place table). */
enum tp_place {
    TP_AT_BEFORE,    /* before handshake message TYPE from SIDE */
    TP_AT_MID,       /* in the middle of its body */
    TP_AT_AFTER,     /* after it */
    TP_AT_BYTES,     /* after the first N bytes from SIDE */
    TP_AT_APPDATA,   /* after the first application-data record from SIDE */
    TP_AT_TIME,      /* N ms after the connection was accepted */
};

/* What happens (one row each in the action table). Record actions act on the record
 * that holds the first byte at or after the place; stream actions act at the place. */
enum tp_action {
    TP_DO_FIN,       /* close both connections with FIN */
    TP_DO_RST,       /* reset both (SO_LINGER 0) */
    TP_DO_STALL,     /* forward nothing either way for N ms (0: until --timeout) */
    TP_DO_DRIP,      /* from here on, K bytes every N ms in SIDE's direction */
    TP_DO_SEGMENT,   /* from here on, K-byte writes (TCP_NODELAY) */
    TP_DO_CORRUPT,   /* flip one payload byte (seeded) of the record */
    TP_DO_DROP,      /* leave the record out */
    TP_DO_DUP,       /* send the record twice */
    TP_DO_INSERT,    /* insert the given bytes into SIDE's stream */
};

#define TP_MAX_INSERT 256

struct tp_opts {
    char listen_addr[64];
    int listen_port;
    char server_addr[64];
    int server_port;
    uint64_t seed;
    int has_rule;             /* --at and --do given */
    enum tp_place place;
    enum tp_side side;
    int hs_type;              /* TP_AT_BEFORE/MID/AFTER */
    long long place_n;        /* TP_AT_BYTES: bytes; TP_AT_TIME: ms */
    enum tp_action action;
    long act_k, act_ms;       /* drip K:MS, segment K, stall MS */
    unsigned char insert[TP_MAX_INSERT];
    size_t insert_len;
    char place_text[96], action_text[96];   /* as given, for the log */
    char log_path[512];       /* "" = stdout */
    int timeout_ms;           /* whole-run deadline */
};

/* 0 ok, 1 help printed, 2 usage error (message on stderr naming the flag). */
int tp_parse_args(int argc, char **argv, struct tp_opts *o);
/* Parse one --at / --do value into o; -1 with a message in msg. Exposed for tests. */
int tp_parse_place(const char *s, struct tp_opts *o, char *msg, size_t msglen);
int tp_parse_action(const char *s, struct tp_opts *o, char *msg, size_t msglen);
/* 1 for record actions (corrupt, drop, dup), 0 for stream actions. */
int tp_action_is_record(enum tp_action a);

/* ---- TLS stream parser (tcpproxy_tls.c) -------------------------------------- */

#define TP_HS_FINISHED 20
#define TP_HS_ENCRYPTED (-1)      /* an encrypted handshake message other than Finished */

enum tp_ev_kind {
    TP_EV_MSG_START,   /* off: first byte of a handshake message (its header), or of
                          its record when it is the record's first message */
    TP_EV_MSG_MID,     /* off: the middle of its body */
    TP_EV_MSG_END,     /* off: just after its last byte */
    TP_EV_RECORD_END,  /* a whole record seen: [rec_start, off) */
};

struct tp_event {
    enum tp_ev_kind kind;
    uint64_t off;            /* absolute stream offset, see the kinds */
    uint64_t rec_start;      /* start of the record the event belongs to */
    unsigned content_type;   /* 20 ccs, 21 alert, 22 handshake, 23 application data */
    int hs_type;             /* message events: type number, TP_HS_ENCRYPTED */
    const char *desc;        /* TP_EV_RECORD_END: "handshake/server_hello+certificate" … */
};

typedef void (*tp_event_fn)(void *ctx, const struct tp_event *ev);

/* One direction of a TLS connection, fed in whatever pieces TCP delivers. After a
 * Change Cipher Spec the handshake records of that direction are encrypted: the
 * first is named finished (TLS 1.2), later ones "encrypted". Bytes that are not TLS
 * (a bad record header) switch the stream to opaque: no more events. */
struct tp_stream {
    uint64_t off;                 /* offset of the next byte */
    uint64_t complete;            /* end of the last whole record */
    int opaque;
    unsigned char hdr[5];
    unsigned hdr_have;
    uint64_t rec_start;
    size_t rec_len, rec_have;
    int encrypted, finished_seen;
    /* plaintext handshake message in progress (it may span records) */
    unsigned char hs_hdr[4];
    unsigned hs_have;
    size_t hs_len, hs_got;
    uint64_t hs_start;
    int hs_mid_sent;
    /* the current record's alert bytes, for its description */
    unsigned char alert[2];
    unsigned alert_have;
    char desc[160];
};

void tp_stream_init(struct tp_stream *s);
/* Feed n bytes; events go to fn in stream order. */
void tp_stream_feed(struct tp_stream *s, const unsigned char *d, size_t n, tp_event_fn fn,
                    void *ctx);
/* Name of a handshake type number, "encrypted" for TP_HS_ENCRYPTED (tm_net.h has
 * the table). */
const char *tp_hs_type_name(int type);

#endif
