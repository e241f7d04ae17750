/* rfc2217: links — a serial port on another machine behind a telnet server that
 * speaks RFC 2217's COM-PORT-OPTION (ser2net's telnet(rfc2217) accepter, labgrid's
 * default remote serial; pyserial, esptool and mpremote speak it): the line
 * settings, DTR/RTS and break travel in the same TCP stream as the port's bytes,
 * so a remote board is configured and reset as a local one is.
 *
 * The stream is telnet (RFC 854): a data byte 0xFF is doubled, commands start
 * with IAC. Reads decode in place (the decoder's state survives across reads: a
 * command may be split between two), answer the server's option requests, and
 * note which COM-PORT commands the server acknowledged. */
#include "link_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_BAUD 115200
#define NEGOTIATE_MS 5000

enum { IAC = 255, DONT = 254, DO = 253, WONT = 252, WILL = 251, SB = 250, SE = 240 };
enum { OPT_BINARY = 0, OPT_SGA = 3, OPT_COM_PORT = 44 };
/* COM-PORT-OPTION commands (client to server; the server answers with +100). */
enum { CP_SET_BAUDRATE = 1, CP_SET_DATASIZE = 2, CP_SET_PARITY = 3, CP_SET_STOPSIZE = 4,
       CP_SET_CONTROL = 5, CP_PURGE_DATA = 12 };
enum { CTL_NO_FLOW = 1, CTL_BREAK_ON = 5, CTL_BREAK_OFF = 6, CTL_DTR_ON = 8, CTL_DTR_OFF = 9,
       CTL_RTS_ON = 11, CTL_RTS_OFF = 12 };
enum { PARITY_NONE = 1, STOP_1 = 1, PURGE_RX = 1 };
/* The decoder's states. */
enum { TN_DATA, TN_IAC, TN_OPT, TN_SB, TN_SB_IAC };

/* "HOST:PORT[,baud=N]": the TCP part into hostport. */
static int parse_arg(const char *arg, char *hostport, size_t len, int *baud, struct tm_err *err)
{
    const char *comma = strchr(arg, ',');
    size_t n = comma ? (size_t)(comma - arg) : strlen(arg);
    if (n == 0 || n >= len)
        return tm_err_set(err, "rfc2217: expected HOST:PORT[,baud=N], got '%s'", arg);
    memcpy(hostport, arg, n);
    hostport[n] = '\0';
    *baud = DEFAULT_BAUD;
    if (comma != NULL) {
        char *end = NULL;
        long v = strncmp(comma + 1, "baud=", 5) == 0 ? strtol(comma + 6, &end, 10) : -1;
        if (end == NULL || end == comma + 6 || *end != '\0' || v <= 0 || v > 12000000)
            return tm_err_set(err, "rfc2217: unknown or bad option '%s' (only baud=N)", comma + 1);
        *baud = (int)v;
    }
    return link_tcp_check(hostport, err);
}

int link_rfc2217_check(const char *arg, struct tm_err *err)
{
    char hostport[300];
    int baud;
    return parse_arg(arg, hostport, sizeof hostport, &baud, err);
}

/* Raw bytes to the server (telnet commands: nothing to escape). */
static int send_raw(struct link *l, const unsigned char *p, size_t n, struct tm_err *err)
{
    tm_ms deadline = tm_deadline_in(NEGOTIATE_MS);
    for (size_t done = 0; done < n;) {
        ssize_t w = write(l->fd, p + done, n - done);
        if (w > 0)
            done += (size_t)w;
        else if (w < 0 && errno != EAGAIN && errno != EINTR)
            return tm_err_setc(err, TM_E_LOST, "rfc2217: write: %s", strerror(errno));
        else if (tm_expired(deadline))
            return tm_err_setc(err, TM_E_TIMEOUT, "rfc2217: the server takes no data");
        else
            tm_sleep_ms(5);
    }
    return 0;
}

/* IAC SB COM-PORT-OPTION cmd value… IAC SE, value bytes escaped. */
static int com_port(struct link *l, int cmd, const unsigned char *value, size_t n,
                    struct tm_err *err)
{
    unsigned char msg[32];
    size_t k = 0;
    msg[k++] = IAC, msg[k++] = SB, msg[k++] = OPT_COM_PORT, msg[k++] = (unsigned char)cmd;
    for (size_t i = 0; i < n && k + 4 < sizeof msg; i++) {
        msg[k++] = value[i];
        if (value[i] == IAC)
            msg[k++] = IAC;
    }
    msg[k++] = IAC, msg[k++] = SE;
    return send_raw(l, msg, k, err);
}

static int control(struct link *l, int what, struct tm_err *err)
{
    unsigned char v = (unsigned char)what;
    return com_port(l, CP_SET_CONTROL, &v, 1, err);
}

/* Our answer to the server's WILL/WONT/DO/DONT opt: we offered BINARY, SGA and
 * COM-PORT (WILL) and asked for BINARY and SGA (DO), so accepting those needs no
 * answer; anything else is refused. */
static void answer(struct link *l, int verb, int opt)
{
    int ours = opt == OPT_BINARY || opt == OPT_SGA || opt == OPT_COM_PORT;
    if (verb == DO && opt == OPT_COM_PORT)
        l->tn_acks |= 1u;   /* bit 0: the server takes COM-PORT-OPTION */
    if (ours || verb == WONT || verb == DONT)
        return;
    unsigned char no[3] = { IAC, (unsigned char)(verb == DO ? WONT : DONT), (unsigned char)opt };
    struct tm_err ignored;
    send_raw(l, no, sizeof no, &ignored);
}

/* A finished subnegotiation: COM-PORT answers (cmd + 100) set their bit. */
static void subnegotiation(struct link *l)
{
    if (l->tn_sblen >= 2 && l->tn_sb[0] == OPT_COM_PORT && l->tn_sb[1] >= 100
        && l->tn_sb[1] < 100 + 31)
        l->tn_acks |= 1u << (l->tn_sb[1] - 100);
}

size_t link_rfc2217_decode(struct link *l, unsigned char *buf, size_t n)
{
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = buf[i];
        switch (l->tn_state) {
        case TN_DATA:
            if (c == IAC)
                l->tn_state = TN_IAC;
            else
                buf[out++] = c;
            break;
        case TN_IAC:
            l->tn_state = TN_DATA;
            if (c == IAC)
                buf[out++] = c;   /* an escaped data byte 0xFF */
            else if (c >= WILL && c <= DONT)
                l->tn_verb = c, l->tn_state = TN_OPT;
            else if (c == SB)
                l->tn_sblen = 0, l->tn_state = TN_SB;
            break;   /* NOP, GA, …: nothing to do */
        case TN_OPT:
            answer(l, l->tn_verb, c);
            l->tn_state = TN_DATA;
            break;
        case TN_SB:
            if (c == IAC)
                l->tn_state = TN_SB_IAC;
            else if (l->tn_sblen < sizeof l->tn_sb)
                l->tn_sb[l->tn_sblen++] = c;
            break;
        case TN_SB_IAC:
            if (c == SE) {
                subnegotiation(l);
                l->tn_state = TN_DATA;
            } else {   /* IAC IAC inside: a value byte 0xFF */
                if (l->tn_sblen < sizeof l->tn_sb)
                    l->tn_sb[l->tn_sblen++] = c;
                l->tn_state = TN_SB;
            }
            break;
        }
    }
    return out;
}

unsigned char *link_rfc2217_escape(const void *data, size_t n, size_t *out_len)
{
    const unsigned char *p = data;
    unsigned char *out = malloc(2 * n + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        *o++ = p[i];
        if (p[i] == IAC)
            *o++ = IAC;
    }
    *out_len = (size_t)(o - out);
    return out;
}

/* Read (and drop: the bootstrap starts from a fresh prompt) until the acks in
 * want have all arrived. */
static int await_acks(struct link *l, unsigned want, const char *what, struct tm_err *err)
{
    tm_ms deadline = tm_deadline_in(NEGOTIATE_MS);
    unsigned char buf[512];
    while ((l->tn_acks & want) != want) {
        ssize_t r = link_read_raw(l, buf, sizeof buf, deadline, err);
        if (r < 0)
            return -1;
        if (r == 0)
            return tm_err_setc(err, TM_E_TIMEOUT, "rfc2217: no answer to %s within %d s "
                               "(is it an RFC 2217 server? a raw port is tcp:)", what,
                               NEGOTIATE_MS / 1000);
        link_rfc2217_decode(l, buf, (size_t)r);
    }
    return 0;
}

int link_rfc2217_open(struct link *l, const char *arg, struct tm_err *err)
{
    char hostport[300];
    int baud;
    if (parse_arg(arg, hostport, sizeof hostport, &baud, err) != 0
        || link_tcp_open(l, hostport, err) != 0)
        return -1;
    l->kind = LINK_RFC2217;
    static const unsigned char hello[] = { IAC, WILL, OPT_BINARY, IAC, DO, OPT_BINARY,
                                           IAC, WILL, OPT_SGA, IAC, DO, OPT_SGA,
                                           IAC, WILL, OPT_COM_PORT };
    if (send_raw(l, hello, sizeof hello, err) != 0
        || await_acks(l, 1u, "WILL COM-PORT-OPTION", err) != 0)
        return -1;
    /* 8N1 at the baud, no flow control, DTR up (many CDC stacks only send with
     * DTR asserted), as link_serial configures a local port. */
    unsigned char b[4] = { (unsigned char)(baud >> 24), (unsigned char)(baud >> 16),
                           (unsigned char)(baud >> 8), (unsigned char)baud };
    unsigned char eight = 8, none = PARITY_NONE, one = STOP_1;
    if (com_port(l, CP_SET_BAUDRATE, b, 4, err) != 0
        || com_port(l, CP_SET_DATASIZE, &eight, 1, err) != 0
        || com_port(l, CP_SET_PARITY, &none, 1, err) != 0
        || com_port(l, CP_SET_STOPSIZE, &one, 1, err) != 0
        || control(l, CTL_NO_FLOW, err) != 0 || control(l, CTL_DTR_ON, err) != 0)
        return -1;
    unsigned want = 1u << CP_SET_BAUDRATE | 1u << CP_SET_DATASIZE | 1u << CP_SET_PARITY
                    | 1u << CP_SET_STOPSIZE;
    return await_acks(l, want, "the line settings (baud, data bits, parity, stop bits)", err);
}

/* The DTR/RTS pulse of a local port's reset (link_serial_reset), sent to the
 * remote port, then the server's receive buffer purged. */
int link_rfc2217_reset(struct link *l, struct tm_err *err)
{
    unsigned char rx = PURGE_RX;
    if (control(l, CTL_DTR_OFF, err) != 0 || control(l, CTL_RTS_ON, err) != 0)
        return -1;
    tm_sleep_ms(100);
    if (control(l, CTL_RTS_OFF, err) != 0 || control(l, CTL_DTR_ON, err) != 0)
        return -1;
    tm_sleep_ms(50);
    /* The purge is the server's to do: it is over when it says so, and what the
     * board printed before it (the old session) is dropped with it. */
    l->tn_acks &= ~(1u << CP_PURGE_DATA);
    if (com_port(l, CP_PURGE_DATA, &rx, 1, err) != 0)
        return -1;
    return await_acks(l, 1u << CP_PURGE_DATA, "PURGE-DATA", err);
}

int link_rfc2217_break(struct link *l, int ms, struct tm_err *err)
{
    if (control(l, CTL_BREAK_ON, err) != 0)
        return -1;
    tm_sleep_ms(ms);
    return control(l, CTL_BREAK_OFF, err);
}
