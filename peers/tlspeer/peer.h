/* tlspeer internals: the flat option struct (one field per flag, docs/contracts.md §2),
 * the result that becomes the JSON result line, and the backend vtable that OpenSSL
 * and GnuTLS implement. Nothing here is used outside peers/tlspeer/. */
#ifndef PEER_H
#define PEER_H

#include <stddef.h>
#include <sys/socket.h>

#include <jansson.h>
#include <openssl/types.h>

#include "tm_err.h"
#include "tm_time.h"

#define PEER_MAX_FILES 16

enum peer_role { PEER_SERVER, PEER_CLIENT };
enum peer_proto { PEER_TLS, PEER_DTLS };
enum peer_ver { PEER_VER_ANY = 0, PEER_TLS12, PEER_TLS13, PEER_DTLS12 };
enum peer_verify { PEER_VERIFY_DEFAULT, PEER_VERIFY_NONE, PEER_VERIFY_OPTIONAL,
                   PEER_VERIFY_REQUIRE };
enum peer_misbehave { PEER_MB_NONE, PEER_MB_CLOSE_AFTER_HELLO, PEER_MB_GARBAGE,
                      PEER_MB_STALL, PEER_MB_ALERT, PEER_MB_BIG_RECORD };
/* --cookie: off, on, a fresh cookie per HelloVerifyRequest accepted only from the
 * second one on (changing), or never accepted (never). */
enum peer_cookie { PEER_COOKIE_OFF, PEER_COOKIE_ON, PEER_COOKIE_CHANGING, PEER_COOKIE_NEVER };
/* How the connection ends (--close). */
enum peer_close { PEER_CLOSE_NOTIFY, PEER_CLOSE_ABRUPT, PEER_CLOSE_HALF, PEER_CLOSE_SILENT };
/* What a TLS server does on the ClientHello's SNI (--on-sni-missing, --on-sni):
 * go on, close or alert from the raw stream, or present another chain (serve=). */
enum peer_sni_act { PEER_SNI_GO = 0, PEER_SNI_CLOSE, PEER_SNI_ALERT, PEER_SNI_SERVE };
/* The chains a server can present: its own (--cert/--key) and the ones the serve=
 * actions name, picked by the SNI during the handshake. */
enum peer_chain_id { PEER_CHAIN_OWN, PEER_CHAIN_SNI_MISSING, PEER_CHAIN_SNI_NAME, PEER_NCHAIN };
#define PEER_PATH_CAP 1024

struct peer_opts {
    const char *backend;
    enum peer_role role;
    enum peer_proto proto;
    int accept_port;
    const char *bind_addr;
    char connect_host[256];
    int connect_port;
    const char *cert[PEER_MAX_FILES];
    int ncert;
    const char *key;
    int skip_key_match;           /* --key need not belong to --cert (x509-limbo chains) */
    const char *cafile[PEER_MAX_FILES];
    int ncafile;
    enum peer_verify verify;
    const char *servername;       /* client: SNI + name to verify (NULL: none) */
    int noservername;
    const char *expect_servername;
    int sni_reject;               /* --sni-mismatch reject (default) vs log */
    enum peer_sni_act on_sni_missing, on_sni_act;
    int on_sni_missing_alert, on_sni_alert;   /* alert numbers for PEER_SNI_ALERT */
    const char *on_sni_name;      /* --on-sni NAME:ACTION: NAME is its first name_len bytes */
    size_t on_sni_name_len;
    /* serve=CHAINFILE[,KEY] per chain id (PEER_CHAIN_OWN unused); "" when not given,
     * an empty key means --key. Copies: the value splits at the comma. */
    char serve_chain[PEER_NCHAIN][PEER_PATH_CAP], serve_key[PEER_NCHAIN][PEER_PATH_CAP];
    enum peer_ver min_version, max_version;
    const char *ciphers, *ciphersuites, *groups, *sigalgs, *alpn;
    int no_tickets, no_renegotiation;
    int renegotiate;              /* --renegotiate: a second handshake, TLS 1.2 */
    int max_fragment, record_size_limit;
    int max_send_frag;            /* records we send, handshake included; 0: default */
    int seclevel;                 /* OpenSSL security level; -1: the library's default */
    enum peer_cookie cookie;
    int mtu, dtls_timeout_ms;
    const char *send_text, *send_file;
    long send_size;
    const char *expect_text;
    long expect_size;             /* -1: not given */
    int echo;
    enum peer_close close_mode;
    long close_after;             /* --close-after N: end after N payload bytes; -1 none */
    int app_record;               /* --app-record N: payload writes (records) of N bytes */
    enum peer_misbehave misbehave;
    int stall_ms;
    int alert_code;               /* for alert:NAME */
    int nodelay;
    int timeout_ms;
    const char *keylog;
};

/* Parse argv into o; prints the usage for --help (exit 0) and one stderr line for
 * bad input. Returns 0 to run, 1 when --help was printed, -1 on a usage error. */
int peer_opts_parse(struct peer_opts *o, int argc, char **argv);

/* DER blobs loaded from the files named by the options (setup, before listening). */
struct peer_blob {
    unsigned char *data;
    size_t len;
};

#define PEER_MAX_CERTS (PEER_MAX_FILES * 8)

/* One chain to present and its key: DER for GnuTLS and the parsed OpenSSL objects
 * (one reference each) for OpenSSL, from the same parse. */
struct peer_chain {
    struct peer_blob cert[PEER_MAX_CERTS];      /* send order */
    X509 *cert_x509[PEER_MAX_CERTS];
    int ncert;                                  /* 0: not given */
    struct peer_blob key;                       /* PKCS#8 DER, len 0 when none */
    EVP_PKEY *key_pkey;
};

/* The identities, trust anchors and payload of one session. */
struct peer_pki {
    struct peer_chain chain[PEER_NCHAIN];       /* [PEER_CHAIN_OWN]: --cert/--key */
    struct peer_blob ca[PEER_MAX_CERTS];
    X509 *ca_x509[PEER_MAX_CERTS];
    int nca;
    struct peer_blob payload;                   /* --send/--send-file/--send-size */
};

/* Files parsed once and kept for the next sessions of a --serve process, checked
 * against the file's identity (device, inode, size, times) on every use: parsing a
 * key costs OpenSSL 3 more than the handshake that uses it. Bounded. */
struct peer_pki_cache;
struct peer_pki_cache *peer_pki_cache_new(void);
void peer_pki_cache_free(struct peer_pki_cache *c);

/* Loads certificates (PEM with several, or DER), the key and the payload, through
 * the cache. Errors name the flag and file. */
int peer_pki_load(const struct peer_opts *o, struct peer_pki_cache *cache,
                  struct peer_pki *pki, struct tm_err *err);
void peer_pki_free(struct peer_pki *pki);

#define PEER_NONE (-1)

struct peer_result {
    const char *handshake;     /* "ok", "failed", "timeout", "not-started" */
    int alert_sent, alert_received;   /* alert number or PEER_NONE */
    int has_error;
    long long error_code;
    char error_text[512];
    char version[16], cipher[96], group[32];
    char alpn[256], sni[256];
    int has_alpn, has_sni;
    int has_peer_cert;
    char peer_subject[512], peer_sha256[65], verify_error[256];
    int peer_verified, has_verify_error;
    long long bytes_sent, bytes_received;
    int data_ok;               /* 1, 0, PEER_NONE */
    const char *closed_by;     /* "peer", "self", NULL */
    long long hello_verify;    /* DTLS HelloVerifyRequests sent (server) / seen (client) */
    int renegotiated;          /* --renegotiate: 1 done, 0 refused or failed; PEER_NONE */
};

/* Set the error once (the first error explains the failure). */
void peer_result_error(struct peer_result *r, long long code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Record an alert in one direction; the first one other than close_notify wins. */
void peer_result_alert(int *slot, int desc);
/* Subject (RFC 2253 order as OpenSSL prints) and SHA-256 of a DER certificate. */
void peer_result_cert(struct peer_result *r, const unsigned char *der, size_t len);

/* One connection: what the backends see. */
struct peer_conn {
    const struct peer_opts *o;
    const struct peer_pki *pki;
    int fd;
    struct sockaddr_storage addr;   /* the remote peer */
    socklen_t addrlen;
    tm_ms deadline;
    struct peer_result *res;
    void *cfg;    /* backend configuration (SSL_CTX, credentials) */
    void *sess;   /* backend session */
};

enum peer_io { PEER_IO_DONE, PEER_IO_WANT_READ, PEER_IO_WANT_WRITE, PEER_IO_EOF,
               PEER_IO_ERROR };

/* The backend vtable. Every step is non-blocking; peer_io.c waits with the deadline. */
struct peer_backend {
    const char *name;
    /* Build the configuration from options and PKI; errors are setup errors (exit 2). */
    void *(*config_new)(const struct peer_opts *o, const struct peer_pki *pki,
                        struct tm_err *err);
    void (*config_free)(void *cfg);
    int (*session_new)(struct peer_conn *c, struct tm_err *err);
    /* DTLS server: one step of the cookie exchange on the connected socket. */
    enum peer_io (*cookie_step)(struct peer_conn *c);
    enum peer_io (*handshake)(struct peer_conn *c);
    enum peer_io (*read)(struct peer_conn *c, void *buf, size_t len, size_t *n);
    enum peer_io (*write)(struct peer_conn *c, const void *buf, size_t len, size_t *n);
    enum peer_io (*shutdown)(struct peer_conn *c);
    /* --renegotiate (TLS 1.2): first = 1 asks for a new handshake, later calls drive
     * it: DONE when it completed, ERROR when refused or failed (res says which). */
    enum peer_io (*renegotiate)(struct peer_conn *c, int first);
    long (*timer_ms)(struct peer_conn *c);       /* DTLS retransmission, -1 none */
    void (*timer_expired)(struct peer_conn *c);
    void (*report)(struct peer_conn *c);         /* negotiated parameters into res */
    void (*session_free)(struct peer_conn *c);
};

extern const struct peer_backend peer_backend_openssl;
extern const struct peer_backend peer_backend_gnutls;

/* IANA names (peer_names.c). */
const char *peer_alert_name(int desc);          /* NULL when unknown */
int peer_alert_code(const char *name);          /* -1 when unknown */
/* IANA cipher suite name <-> two-byte id, from OpenSSL's full table. */
int peer_cipher_id(const char *iana, unsigned char id[2]);
const char *peer_cipher_iana(const unsigned char id[2]);

/* Sockets (peer_net.c). */
int peer_listen(const struct peer_opts *o, int *port, struct tm_err *err);
int peer_accept(struct peer_conn *c, int lfd);        /* 0, 1 deadline, -1 error */
int peer_dtls_first(struct peer_conn *c, int lfd);    /* wait + connect; same codes */
int peer_connect(struct peer_conn *c);                /* 0 or -1 (res has error) */
void peer_set_nodelay(int fd);

/* Waiting (peer_io.c): 0 ready, 1 deadline passed. */
int peer_wait(const struct peer_backend *be, struct peer_conn *c, enum peer_io want);
/* Drive a step to completion: returns the final peer_io (DONE, EOF, ERROR) or -1
 * when the deadline passed. */
int peer_pump_handshake(const struct peer_backend *be, struct peer_conn *c);

/* The run after the handshake (peer_data.c) and the misbehaviours (peer_misbehave.c). */
void peer_data_run(const struct peer_backend *be, struct peer_conn *c);
void peer_close(const struct peer_backend *be, struct peer_conn *c);
/* --renegotiate: 0 when the new handshake completed, -1 (result says why). */
int peer_renegotiate(const struct peer_backend *be, struct peer_conn *c);
/* TLS: send FIN and read (dropping) until the peer closes, for a short while, so our
 * last bytes (an alert) are not destroyed by a reset for unread data. */
void peer_drain_raw(struct peer_conn *c);
/* Returns 1 when the misbehaviour replaced the handshake (result is complete). */
int peer_misbehave_before(const struct peer_backend *be, struct peer_conn *c);

/* SNI from the raw ClientHello (peer_sni.c): FOUND with the name in name (cap
 * bytes with the NUL), NONE without one, MORE when d is not the whole first
 * record yet, NOT_HELLO for anything else. */
enum { PEER_SNI_FOUND, PEER_SNI_NONE, PEER_SNI_MORE, PEER_SNI_NOT_HELLO };
int peer_sni_from_hello(const unsigned char *d, size_t n, char *name, size_t cap);
/* The action for a ClientHello's SNI (NULL: none sent), with the alert number of
 * PEER_SNI_ALERT and the chain id of PEER_SNI_SERVE. The same rule for the raw
 * stream and for both backends' callbacks. */
enum peer_sni_act peer_sni_action(const struct peer_opts *o, const char *sni, int *alert,
                                  enum peer_chain_id *chain);

/* JSON lines (peer_json.c). */
void peer_json_ready(const struct peer_opts *o, int port);
void peer_json_result(const struct peer_opts *o, const struct peer_result *r,
                      long long elapsed_ms);

/* One run as the command line describes it (peer_main.c): the exit code of a
 * one-shot tlspeer (0 after a result line, 2 on a setup or usage error). Everything
 * it allocates is freed before it returns, except what it leaves in the cache, so
 * --serve can call it again. */
int peer_session(int argc, char **argv, struct peer_pki_cache *cache);
/* --serve [CONTROL] (peer_serve.c): sessions from JSON lines on stdin or on the
 * abstract Unix socket @NAME; returns the process exit code. */
int peer_serve(int argc, char **argv);
/* One control line of --serve: the session's argv (strings owned by *cmd, which
 * the caller frees; free the array itself) and its stderr file; NULL with err. */
char **peer_serve_command(const char *line, json_t **cmd, int *argc, const char **stderr_path,
                          struct tm_err *err);

#endif
