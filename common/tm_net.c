#include "tm_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tm_net_hostport(const char *prog, const char *flag, const char *s, char *addr, size_t alen,
                    int *port)
{
    const char *colon = strrchr(s, ':');
    char *end = NULL;
    if (colon == NULL || colon == s || (size_t)(colon - s) >= alen) {
        fprintf(stderr, "%s: %s: expected ADDR:PORT, got '%s'\n", prog, flag, s);
        return -1;
    }
    long p = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || p < 0 || p > 65535) {
        fprintf(stderr, "%s: %s: bad port in '%s'\n", prog, flag, s);
        return -1;
    }
    size_t n = (size_t)(colon - s);
    if (n >= 2 && s[0] == '[' && colon[-1] == ']') {   /* [::1]:443 */
        s++;
        n -= 2;
    }
    memcpy(addr, s, n);
    addr[n] = '\0';
    *port = (int)p;
    return 0;
}

int tm_net_resolve(const char *addr, int port, int socktype, struct sockaddr_storage *ss,
                   socklen_t *len)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = socktype,
                              .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
    struct addrinfo *res = NULL;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(addr, ps, &hints, &res) != 0 || res == NULL)
        return -1;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

void tm_net_print_ready(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?", port[16] = "0";
    getsockname(fd, (struct sockaddr *)&ss, &len);
    getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, port, sizeof port,
                NI_NUMERICHOST | NI_NUMERICSERV);
    printf("{\"event\":\"ready\",\"addr\":\"%s\",\"port\":%s}\n", host, port);
    fflush(stdout);
}

uint64_t tm_net_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* One table for both proxies: DTLS adds hello_verify_request, TLS 1.3
 * encrypted_extensions; the numbers never clash. */
static const char *const hs_names[] = {
    [0] = "hello_request",        [1] = "client_hello",
    [2] = "server_hello",         [3] = "hello_verify_request",
    [4] = "new_session_ticket",   [8] = "encrypted_extensions",
    [11] = "certificate",         [12] = "server_key_exchange",
    [13] = "certificate_request", [14] = "server_hello_done",
    [15] = "certificate_verify",  [16] = "client_key_exchange",
    [20] = "finished",
};
#define HS_NAMES_LEN (sizeof hs_names / sizeof hs_names[0])

int tm_tls_hs_type_from_name(const char *name)
{
    for (size_t i = 0; i < HS_NAMES_LEN; i++)
        if (hs_names[i] != NULL && strcmp(hs_names[i], name) == 0)
            return (int)i;
    return -1;
}

const char *tm_tls_hs_type_name(int type)
{
    if (type >= 0 && (size_t)type < HS_NAMES_LEN && hs_names[type] != NULL)
        return hs_names[type];
    return "unknown";
}

const char *tm_tls_content_name(unsigned ct)
{
    switch (ct) {
    case 20: return "change_cipher_spec";
    case 21: return "alert";
    case 22: return "handshake";
    case 23: return "application_data";
    case 24: return "heartbeat";
    default: return "unknown";
    }
}

/* Decimal 0..max, no sign, nothing after it. */
static int flag_number(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end = NULL;
    if (s[0] < '0' || s[0] > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || errno == ERANGE || v > max)
        return -1;
    *out = v;
    return 0;
}

/* One value into opts as its row says; -1 after one stderr line naming the flag. */
static int flag_value(const char *prog, const struct tm_flag *f, const char *s, void *opts)
{
    char *field = (char *)opts + f->off, flag[64];
    unsigned long long v = 0;
    snprintf(flag, sizeof flag, "--%s", f->name);
    switch (f->kind) {
    case TM_FLAG_HOSTPORT:
        return tm_net_hostport(prog, flag, s, field, f->cap, (int *)((char *)opts + f->off2));
    case TM_FLAG_INT:
    case TM_FLAG_U64:
        if (flag_number(s, f->max, &v) != 0) {
            fprintf(stderr, "%s: %s: expected an integer 0..%llu, got '%s'\n", prog, flag, f->max, s);
            return -1;
        }
        if (f->kind == TM_FLAG_INT)
            *(int *)field = (int)v;
        else
            *(uint64_t *)field = v;
        return 0;
    case TM_FLAG_RATE: {
        char *end = NULL;
        double r = strtod(s, &end);
        if (end == s || *end != '\0' || !(r >= 0 && r <= 1)) {
            fprintf(stderr, "%s: %s: expected a rate between 0 and 1, got '%s'\n", prog, flag, s);
            return -1;
        }
        *(double *)field = r;
        return 0;
    }
    case TM_FLAG_PATH:
        if (strlen(s) >= f->cap) {
            fprintf(stderr, "%s: %s: path too long\n", prog, flag);
            return -1;
        }
        memcpy(field, s, strlen(s) + 1);
        return 0;
    case TM_FLAG_ON:
        *(int *)field = 1;
        return 0;
    case TM_FLAG_FN:
        return f->fn(s, opts);
    case TM_FLAG_HELP:
        break;
    }
    return -1;
}

int tm_net_parse_flags(const char *prog, const struct tm_flag *flags, size_t nflags, int argc,
                       char **argv, void *opts, int *seen)
{
    struct option longopts[TM_FLAGS_MAX + 1];
    if (nflags > TM_FLAGS_MAX)
        nflags = TM_FLAGS_MAX;
    for (size_t i = 0; i < nflags; i++) {
        longopts[i] = (struct option){ flags[i].name, flags[i].arg ? required_argument
                                                                  : no_argument, NULL, (int)i };
        seen[i] = 0;
    }
    longopts[nflags] = (struct option){ NULL, 0, NULL, 0 };
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {   /* bounded by argc */
        if (c < 0 || (size_t)c >= nflags) {
            fprintf(stderr, "%s: unknown or incomplete option '%s' (see --help)\n", prog,
                    argv[optind - 1]);
            return 2;
        }
        seen[c]++;
        if (flags[c].kind == TM_FLAG_HELP)
            return 1;
        if (flag_value(prog, &flags[c], optarg, opts) != 0)
            return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
        return 2;
    }
    for (size_t i = 0; i < nflags; i++)
        if (flags[i].required && seen[i] == 0) {
            fprintf(stderr, "%s: --%s %s is required (see --help)\n", prog, flags[i].name,
                    flags[i].arg ? flags[i].arg : "");
            return 2;
        }
    return 0;
}
