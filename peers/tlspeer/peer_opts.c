/* Command line → struct peer_opts. Every bad value is one stderr line naming the flag. */
#include <arpa/inet.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peer.h"
#include "peer_flags.h"

void peer_usage(FILE *f);

enum { O_FIRST = 255,
#define X_ENUM(id, name, arg, kind, field, min, max, key, help) id,
       PEER_FLAGS(X_ENUM)
#undef X_ENUM
};

enum flag_kind { F_STR, F_ON, F_INT, F_LONG, F_FILE, F_OWN };

/* The table's rows as parsing needs them. */
static const struct flag {
    int id;
    const char *name;
    int has_arg;
    enum flag_kind kind;
    size_t off;              /* the field in struct peer_opts */
    long min, max;
} flags[] = {
#define X_ROW(id, name, arg, kind, field, min, max, key, help) \
    { id, name, arg[0] != '\0', kind, offsetof(struct peer_opts, field), min, max },
    PEER_FLAGS(X_ROW)
#undef X_ROW
};
#define NFLAGS (sizeof flags / sizeof flags[0])
/* F_FILE stores into FIELD[PEER_MAX_FILES] and the count right after it. */
_Static_assert(offsetof(struct peer_opts, ncert) == offsetof(struct peer_opts, cert)
               + PEER_MAX_FILES * sizeof(const char *), "ncert follows cert[]");
_Static_assert(offsetof(struct peer_opts, ncafile) == offsetof(struct peer_opts, cafile)
               + PEER_MAX_FILES * sizeof(const char *), "ncafile follows cafile[]");

static int bad(const char *flag, const char *what, const char *val)
{
    fprintf(stderr, "tlspeer: --%s: %s%s%s%s\n", flag, what, val ? " '" : "", val ? val : "",
            val ? "'" : "");
    return -1;
}

static int parse_long(const char *flag, const char *s, long min, long max, long *out)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < min || v > max) {
        char what[96];
        snprintf(what, sizeof what, "expected an integer %ld..%ld, got", min, max);
        return bad(flag, what, s);
    }
    *out = v;
    return 0;
}

static int parse_int(const char *flag, const char *s, long min, long max, int *out)
{
    long v = 0;
    if (parse_long(flag, s, min, max, &v) < 0)
        return -1;
    *out = (int)v;
    return 0;
}

/* s must be one of names; *out is its index. The error lists the choices. */
static int pick(const char *flag, const char *s, const char *const names[], int *out)
{
    char what[256] = "expected";
    for (int i = 0; names[i] != NULL; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return 0;
        }
        snprintf(what + strlen(what), sizeof what - strlen(what), "%s %s",
                 i == 0 ? "" : names[i + 1] ? "," : " or", names[i]);
    }
    strncat(what, ", got", sizeof what - strlen(what) - 1);
    return bad(flag, what, s);
}

static int parse_version(const char *flag, const char *s, enum peer_ver *v)
{
    static const char *const names[] = {"tls1.2", "tls1.3", "dtls1.2", NULL};
    int i = 0;
    if (pick(flag, s, names, &i) < 0)
        return -1;
    *v = (enum peer_ver)(i + 1);
    return 0;
}

static int parse_connect(struct peer_opts *o, const char *s)
{
    const char *colon = strrchr(s, ':');
    const char *host = s;
    size_t hlen = colon ? (size_t)(colon - s) : 0;
    if (colon == NULL || hlen == 0)
        return bad("connect", "expected HOST:PORT, got", s);
    if (host[0] == '[' && hlen >= 2 && host[hlen - 1] == ']') {
        host++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof o->connect_host)
        return bad("connect", "bad host in", s);
    memcpy(o->connect_host, host, hlen);
    o->connect_host[hlen] = '\0';
    return parse_int("connect", colon + 1, 1, 65535, &o->connect_port);
}

static int parse_misbehave(struct peer_opts *o, const char *s)
{
    if (strcmp(s, "close-after-hello") == 0)
        o->misbehave = PEER_MB_CLOSE_AFTER_HELLO;
    else if (strcmp(s, "garbage") == 0)
        o->misbehave = PEER_MB_GARBAGE;
    else if (strcmp(s, "big-record") == 0)
        o->misbehave = PEER_MB_BIG_RECORD;
    else if (strncmp(s, "stall:", 6) == 0) {
        o->misbehave = PEER_MB_STALL;
        return parse_int("misbehave", s + 6, 0, 3600000, &o->stall_ms);
    } else if (strncmp(s, "alert:", 6) == 0) {
        o->misbehave = PEER_MB_ALERT;
        o->alert_code = peer_alert_code(s + 6);
        if (o->alert_code < 0)
            return bad("misbehave", "unknown IANA alert name in", s);
    } else
        return bad("misbehave", "expected close-after-hello, garbage, stall:MS, alert:NAME "
                   "or big-record, got", s);
    return 0;
}

/* serve=CHAINFILE[,KEY] into the chain's slot (copies: the comma splits it). */
static int parse_serve(struct peer_opts *o, const char *flag, const char *s,
                       enum peer_chain_id id)
{
    const char *comma = strchr(s, ',');
    size_t flen = comma ? (size_t)(comma - s) : strlen(s);
    const char *key = comma ? comma + 1 : "";
    if (flen == 0 || (comma != NULL && *key == '\0'))
        return bad(flag, "expected serve=CHAINFILE or serve=CHAINFILE,KEY, got", s);
    if (flen >= PEER_PATH_CAP || strlen(key) >= PEER_PATH_CAP)
        return bad(flag, "file name too long in", s);
    memcpy(o->serve_chain[id], s, flen);
    o->serve_chain[id][flen] = '\0';
    memcpy(o->serve_key[id], key, strlen(key) + 1);
    return 0;
}

/* close | alert | alert:NAME (default unrecognized_name) | serve=CHAINFILE[,KEY]. */
static int parse_sni_action(struct peer_opts *o, const char *flag, const char *s,
                            enum peer_chain_id id, enum peer_sni_act *act, int *alert)
{
    *alert = 112;   /* unrecognized_name */
    o->serve_chain[id][0] = o->serve_key[id][0] = '\0';   /* the last flag given counts */
    if (strcmp(s, "close") == 0)
        *act = PEER_SNI_CLOSE;
    else if (strcmp(s, "alert") == 0)
        *act = PEER_SNI_ALERT;
    else if (strncmp(s, "alert:", 6) == 0 && (*alert = peer_alert_code(s + 6)) >= 0)
        *act = PEER_SNI_ALERT;
    else if (strncmp(s, "serve=", 6) == 0) {
        *act = PEER_SNI_SERVE;
        return parse_serve(o, flag, s + 6, id);
    } else
        return bad(flag, "expected close, alert, alert:NAME (IANA) or serve=CHAINFILE[,KEY], "
                   "got", s);
    return 0;
}

/* NAME:ACTION; the name stays in argv (the options live no longer than argv). */
static int parse_on_sni(struct peer_opts *o, const char *s)
{
    const char *colon = strchr(s, ':');
    if (colon == NULL || colon == s || colon - s > 255)
        return bad("on-sni", "expected NAME:ACTION, got", s);
    o->on_sni_name = s;
    o->on_sni_name_len = (size_t)(colon - s);
    return parse_sni_action(o, "on-sni", colon + 1, PEER_CHAIN_SNI_NAME, &o->on_sni_act,
                            &o->on_sni_alert);
}

static int add_file(const char *flag, const char *s, const char *list[], int *n)
{
    if (*n >= PEER_MAX_FILES)
        return bad(flag, "too many files (16 at most), at", s);
    list[(*n)++] = s;
    return 0;
}

/* A flag the table alone describes: stored at its field, checked by its kind. */
static int parse_plain(struct peer_opts *o, const struct flag *f, const char *a)
{
    char *field = (char *)o + f->off;
    switch (f->kind) {
    case F_STR: *(const char **)field = a; return 0;
    case F_ON: *(int *)field = 1; return 0;
    case F_INT: return parse_int(f->name, a, f->min, f->max, (int *)field);
    case F_LONG: return parse_long(f->name, a, f->min, f->max, (long *)field);
    case F_FILE:   /* FIELD[] then its count nFIELD, as struct peer_opts lays them out */
        return add_file(f->name, a, (const char **)field,
                        (int *)(field + PEER_MAX_FILES * sizeof(const char *)));
    case F_OWN: break;
    }
    return -1;
}

static int parse_one(struct peer_opts *o, const struct flag *f, const char *a)
{
    int c = f->id;
    if (f->kind != F_OWN)
        return parse_plain(o, f, a);
    static const char *const backends[] = {"openssl", "gnutls", NULL};
    static const char *const roles[] = {"server", "client", NULL};
    static const char *const protos[] = {"tls", "dtls", NULL};
    static const char *const verifies[] = {"none", "optional", "require", NULL};
    static const char *const cookies[] = {"off", "on", "changing", "never", NULL};
    static const char *const closes[] = {"notify", "abrupt", "half", "silent", NULL};
    static const char *const sni[] = {"log", "reject", NULL};
    int i = 0;
    switch (c) {
    case O_BACKEND:
        if (pick("backend", a, backends, &i) < 0) return -1;
        o->backend = backends[i];
        return 0;
    case O_ROLE:
        if (pick("role", a, roles, &i) < 0) return -1;
        o->role = (enum peer_role)i;
        return 0;
    case O_PROTO:
        if (pick("proto", a, protos, &i) < 0) return -1;
        o->proto = (enum peer_proto)i;
        return 0;
    case O_CONNECT: return parse_connect(o, a);
    case O_VERIFY:
        if (pick("verify", a, verifies, &i) < 0) return -1;
        o->verify = (enum peer_verify)(i + 1);
        return 0;
    case O_SNI_MISMATCH: return pick("sni-mismatch", a, sni, &o->sni_reject);
    case O_MINV: return parse_version("min-version", a, &o->min_version);
    case O_MAXV: return parse_version("max-version", a, &o->max_version);
    case O_TLS13: o->min_version = o->max_version = PEER_TLS13; return 0;
    case O_TLS12: o->min_version = o->max_version = PEER_TLS12; return 0;
    case O_MAXFRAG:
        if (parse_int("max-fragment", a, f->min, f->max, &o->max_fragment) < 0) return -1;
        if (o->max_fragment & (o->max_fragment - 1))
            return bad("max-fragment", "expected 512, 1024, 2048 or 4096, got", a);
        return 0;
    case O_COOKIE:
        if (pick("cookie", a, cookies, &i) < 0) return -1;
        o->cookie = (enum peer_cookie)i;
        return 0;
    case O_CLOSE:
        if (pick("close", a, closes, &i) < 0) return -1;
        o->close_mode = (enum peer_close)i;
        return 0;
    case O_ON_SNI_MISSING:
        return parse_sni_action(o, "on-sni-missing", a, PEER_CHAIN_SNI_MISSING,
                                &o->on_sni_missing, &o->on_sni_missing_alert);
    case O_ON_SNI: return parse_on_sni(o, a);
    case O_MISBEHAVE: return parse_misbehave(o, a);
    default: return -1;
    }
}

/* getopt's table, from the flag table. */
static void long_options(struct option *out)
{
    for (size_t i = 0; i < NFLAGS; i++)
        out[i] = (struct option){ flags[i].name, flags[i].has_arg, NULL, flags[i].id };
    out[NFLAGS] = (struct option){ NULL, 0, NULL, 0 };
}

static const struct flag *flag_by_id(int id)
{
    return id > O_FIRST && id - O_FIRST - 1 < (int)NFLAGS ? &flags[id - O_FIRST - 1] : NULL;
}

static int check_version(const struct peer_opts *o, enum peer_ver v, const char *flag)
{
    if (v == PEER_VER_ANY)
        return 0;
    if ((o->proto == PEER_DTLS) != (v == PEER_DTLS12))
        return bad(flag, o->proto == PEER_DTLS ? "only dtls1.2 goes with --proto dtls"
                                                : "dtls1.2 needs --proto dtls", NULL);
    return 0;
}

static int is_ip_literal(const char *host)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* Cross-flag rules, after every flag is known. */
static int check_combination(struct peer_opts *o)
{
    if (o->backend == NULL)
        return bad("backend", "required (openssl or gnutls)", NULL);
    if ((int)o->role < 0)
        return bad("role", "required (server or client)", NULL);
    if ((int)o->proto < 0)
        return bad("proto", "required (tls or dtls)", NULL);
    if (o->role == PEER_CLIENT && o->connect_port == 0)
        return bad("connect", "required for --role client", NULL);
    if (check_version(o, o->min_version, "min-version") < 0 ||
        check_version(o, o->max_version, "max-version") < 0)
        return -1;
    if (o->min_version && o->max_version && o->min_version > o->max_version)
        return bad("min-version", "is above --max-version", NULL);
    int replaces = o->misbehave == PEER_MB_CLOSE_AFTER_HELLO ||
                   o->misbehave == PEER_MB_GARBAGE || o->misbehave == PEER_MB_ALERT;
    if (o->role == PEER_SERVER && !replaces && (o->ncert == 0 || o->key == NULL))
        return bad(o->ncert == 0 ? "cert" : "key", "required for --role server", NULL);
    if (o->ncert > 0 && o->key == NULL)
        return bad("key", "required with --cert", NULL);
    if (o->verify == PEER_VERIFY_DEFAULT)
        o->verify = o->role == PEER_CLIENT && o->ncafile > 0 ? PEER_VERIFY_REQUIRE
                                                             : PEER_VERIFY_NONE;
    if (o->verify == PEER_VERIFY_REQUIRE && o->ncafile == 0)
        return bad("verify", "require needs --CAfile", NULL);
    if (o->servername && o->noservername)
        return bad("noservername", "conflicts with --servername", NULL);
    if (o->role == PEER_CLIENT && o->servername == NULL && !o->noservername &&
        !is_ip_literal(o->connect_host))
        o->servername = o->connect_host;   /* as openssl s_client does */
    if (o->role == PEER_CLIENT && o->verify == PEER_VERIFY_OPTIONAL)
        return bad("verify", "optional is for servers; clients take require or none", NULL);
    if ((o->send_text != NULL) + (o->send_file != NULL) + (o->send_size > 0) > 1)
        return bad("send", "give only one of --send, --send-file, --send-size", NULL);
    if (o->expect_text != NULL && o->expect_size >= 0)
        return bad("expect-size", "give --expect or --expect-size, not both", NULL);
    if ((o->on_sni_missing || o->on_sni_name) && (o->role != PEER_SERVER || o->proto != PEER_TLS))
        return bad(o->on_sni_name ? "on-sni" : "on-sni-missing", "is for --role server "
                   "--proto tls (it reads the ClientHello from the TCP stream)", NULL);
    for (int i = PEER_CHAIN_SNI_MISSING; i < PEER_NCHAIN; i++)
        if (o->serve_chain[i][0] != '\0' && o->serve_key[i][0] == '\0' && o->key == NULL)
            return bad(i == PEER_CHAIN_SNI_NAME ? "on-sni" : "on-sni-missing",
                       "serve=CHAINFILE without ,KEY needs --key", NULL);
    if (o->renegotiate && (o->proto != PEER_TLS || o->min_version == PEER_TLS13))
        return bad("renegotiate", "is for TLS 1.2 (--proto tls, not --min-version tls1.3)", NULL);
    if (o->renegotiate && o->no_renegotiation)
        return bad("renegotiate", "conflicts with --no-renegotiation", NULL);
    if (o->cookie >= PEER_COOKIE_CHANGING && (o->role != PEER_SERVER || o->proto != PEER_DTLS))
        return bad("cookie", "changing and never are for --role server --proto dtls", NULL);
    return 0;
}

int peer_opts_parse(struct peer_opts *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->role = (enum peer_role)-1;
    o->proto = (enum peer_proto)-1;
    o->bind_addr = "127.0.0.1";
    o->sni_reject = 1;
    o->cookie = PEER_COOKIE_ON;
    o->expect_size = -1;
    o->close_after = -1;
    o->seclevel = -1;
    o->timeout_ms = 10000;
    struct option longopts[NFLAGS + 1];
    long_options(longopts);
    opterr = 0;
    optind = 0;   /* 0, not 1: glibc re-initialises its scan state (--serve parses again) */
    for (;;) {
        int c = getopt_long(argc, argv, ":", longopts, NULL);
        if (c == -1)
            break;
        if (c == O_HELP) {
            peer_usage(stdout);
            return 1;
        }
        if (c == ':') {
            fprintf(stderr, "tlspeer: %s: needs a value\n", argv[optind - 1]);
            return -1;
        }
        if (c == '?') {
            fprintf(stderr, "tlspeer: unknown flag '%s' (see --help)\n", argv[optind - 1]);
            return -1;
        }
        const struct flag *f = flag_by_id(c);
        if (f == NULL || parse_one(o, f, optarg) < 0)
            return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "tlspeer: unexpected argument '%s' (see --help)\n", argv[optind]);
        return -1;
    }
    return check_combination(o);
}
