/* Setup checks a run makes before any device or peer starts: whatever would make
 * every case fail the same way is a usage or setup error (exit 2), not a device
 * lost or a device verdict. */
#include "runner_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "link/link.h"

int preflight_devices(const struct runner_opts *o, struct tm_err *err)
{
    static const char *const dflt[] = { "virtual" };
    const char *const *devs = o->ndevices ? o->devices : dflt;
    size_t n = o->ndevices ? o->ndevices : 1;
    for (size_t i = 0; i < n; i++)
        if (link_preflight(devs[i], err) != 0)
            return tm_err_prefix(err, "--device");
    return 0;
}

/* The device connects to the peers at this address: it must be a numeric address
 * of this host (peers bind it, or the wildcard), else every case would end in a
 * connect failure that looks like the device's. */
int preflight_peer_host(const char *host, struct tm_err *err)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        len = sizeof *a4;
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        len = sizeof *a6;
    } else {
        return tm_err_set(err, "--peer-host '%s': not a numeric IPv4 or IPv6 address", host);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return tm_err_set(err, "--peer-host '%s': socket: %s", host, strerror(errno));
    int rc = bind(fd, (struct sockaddr *)&ss, len), e = errno;
    close(fd);
    if (rc != 0)
        return tm_err_set(err, "--peer-host '%s': not an address of this host (%s)", host,
                          strerror(e));
    return 0;
}

/* A selection that is empty is a mistake in the command, not a green run. */
int preflight_selection(const struct runner_opts *o, const struct case_set *s,
                        struct tm_err *err)
{
    if (s->n > 0)
        return 0;
    if (s->total == 0)
        return tm_err_set(err, "--scenarios: no cases in the scenarios given");
    if (o->filter != NULL && s->filtered == 0)
        return tm_err_set(err, "--filter '%s' selects none of the %zu cases; it is a glob over "
                               "case ids (SCENARIO/BACKEND/KEYTYPE/PROTO), e.g. '%s/*'",
                          o->filter, s->total, o->filter);
    return tm_err_set(err, "--shard %d/%d holds none of the %zu selected cases", o->shard_k,
                      o->shard_n, s->filtered);
}
