#include "tm_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

int tm_read_file(const char *path, unsigned char **data, size_t *len, struct tm_err *err)
{
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return tm_err_set(err, "%s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    unsigned char *buf = malloc(cap + 1);
    while (buf != NULL) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
        if (n == cap) {
            unsigned char *nb = realloc(buf, cap * 2 + 1);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (buf == NULL)
        return tm_err_set(err, "%s: out of memory", path);
    if (bad) {
        free(buf);
        return tm_err_set(err, "%s: read error", path);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Writes data to path (created or truncated) with exactly mode. */
static int write_to(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    if (write_all(fd, data, len) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    /* umask must not widen or narrow what the caller asked for; a file system that
     * has no modes (vfat) refuses, and the data is written all the same */
    (void)fchmod(fd, mode);
    return close(fd);
}

int tm_write_file(const char *path, const void *data, size_t len, mode_t mode,
                  struct tm_err *err)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp)
        return tm_err_set(err, "%s: path too long", path);
    if (write_to(tmp, data, len, mode) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return tm_err_set(err, "%s: %s", path, strerror(e));
    }
    return 0;
}

int tm_write_new_file(const char *path, const void *data, size_t len, mode_t mode,
                      struct tm_err *err)
{
    if (write_to(path, data, len, mode) != 0)
        return tm_err_set(err, "%s: %s", path, strerror(errno));
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);   /* keep walking: one failure should leave the least behind */
    return 0;
}

int tm_rmtree(const char *path, struct tm_err *err)
{
    struct stat st;
    if (lstat(path, &st) != 0 && errno == ENOENT)
        return 0;
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (lstat(path, &st) == 0 || errno != ENOENT)
        return tm_err_set(err, "cannot remove everything under %s", path);
    return 0;
}

int tm_mkdirs(const char *path, mode_t mode, struct tm_err *err)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return tm_err_set(err, "%s: path too long", path);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, mode) != 0 && errno != EEXIST)
                return tm_err_set(err, "mkdir %s: %s", buf, strerror(errno));
            *p = c;
            if (c == '\0')
                break;
        }
    }
    return 0;
}

void tm_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[64] = '\0';
}

char *tm_b64_encode(const void *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (out != NULL)
        EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

long tm_b64_decode(const char *text, unsigned char **out)
{
    size_t n = strlen(text);
    *out = NULL;
    if (n % 4 != 0)
        return -1;
    unsigned char *buf = malloc(n / 4 * 3 + 1);
    if (buf == NULL)
        return -1;
    int r = EVP_DecodeBlock(buf, (const unsigned char *)text, (int)n);
    if (r < 0) {
        free(buf);
        return -1;
    }
    /* EVP_DecodeBlock counts padding as zero bytes; remove them. */
    if (n >= 1 && text[n - 1] == '=')
        r--;
    if (n >= 2 && text[n - 2] == '=')
        r--;
    *out = buf;
    return r;
}
