/* ser2net (Debian's) in telnet(rfc2217) mode on loopback, in front of a serial
 * device: the remote board of the rfc2217: link, shared by test_link and test_lab. */
#ifndef TM_TEST_SER2NET_FIXTURE_H
#define TM_TEST_SER2NET_FIXTURE_H

#include "tm_proc.h"

struct ser2net_fixture {
    struct tm_proc proc;
    char dir[256];   /* its config, pid file and log (removed by ser2net_stop) */
    int port;
};

/* Start ser2net for tty on a free loopback port and return once it accepts
 * connections (an event, bounded by 30 s); a check failure otherwise. */
void ser2net_start(struct ser2net_fixture *s, const char *tty);
/* The same, with up to max_conn connections at once (a board two harnesses reach). */
void ser2net_start_shared(struct ser2net_fixture *s, const char *tty, int max_conn);
void ser2net_stop(struct ser2net_fixture *s);

#endif
