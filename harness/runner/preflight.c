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

/* "--filter 'a' --tag 'b'": the options that made a selection, for its message. */
static const char *sel_words(const struct runner_sel *sel, char *buf, size_t len)
{
    const struct { const char *flag; const char *const *v; size_t n; } opts[] = {
        { "--filter", sel->filters, sel->nfilters },
        { "--tag", sel->tags, sel->ntags },
        { "--exclude-tag", sel->exclude_tags, sel->nexclude_tags },
    };
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        for (size_t k = 0; k < opts[i].n && used < len; k++) {
            int w = snprintf(buf + used, len - used, "%s%s '%s'", used ? " " : "", opts[i].flag,
                             opts[i].v[k]);
            used += w > 0 ? (size_t)w : 0;
        }
    return buf;
}

/* A selection that is empty is a mistake in the command, not a green run. */
int preflight_selection(const struct runner_opts *o, const struct case_set *s,
                        struct tm_err *err)
{
    char words[512];
    if (s->n > 0)
        return 0;
    if (s->total == 0)
        return tm_err_set(err, "--scenarios: no cases in the scenarios given");
    if (runner_sel_given(&o->sel) && s->filtered == 0)
        return tm_err_set(err, "%s selects none of the %zu cases; --filter is a glob over "
                               "case ids (SCENARIO/BACKEND/KEYTYPE/PROTO) or scenario names, "
                               "--tag a scenario's tag (see `tlsmatrix list`)",
                          sel_words(&o->sel, words, sizeof words), s->total);
    return tm_err_set(err, "--shard %d/%d holds none of the %zu selected cases", o->shard_k,
                      o->shard_n, s->filtered);
}
