/* The one place that waits: poll the connection for what the backend asked for,
 * never past the run's deadline, and wake early for a DTLS retransmission timer. */
#include <errno.h>
#include <poll.h>

#include "peer.h"

int peer_wait(const struct peer_backend *be, struct peer_conn *c, enum peer_io want)
{
    for (;;) {   /* bounded: each pass sleeps until the deadline or an event */
        if (tm_expired(c->deadline))
            return 1;
        long ms = (long)tm_remaining_ms(c->deadline);
        long timer = be->timer_ms ? be->timer_ms(c) : -1;
        int timer_first = timer >= 0 && timer < ms;
        struct pollfd p = { c->fd, want == PEER_IO_WANT_WRITE ? POLLOUT : POLLIN, 0 };
        int n = poll(&p, 1, (int)(timer_first ? timer : ms));
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return 0;   /* let the backend's next call report the socket error */
        if (n == 0 && timer_first) {
            be->timer_expired(c);   /* DTLS retransmission */
            return 0;
        }
    }
}

int peer_pump_handshake(const struct peer_backend *be, struct peer_conn *c)
{
    for (;;) {   /* bounded by the deadline inside peer_wait */
        enum peer_io st = be->handshake(c);
        if (st != PEER_IO_WANT_READ && st != PEER_IO_WANT_WRITE)
            return st;
        if (peer_wait(be, c, st) != 0)
            return -1;
    }
}
