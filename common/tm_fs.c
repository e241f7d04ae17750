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
#include <openssl/x509.h>

/* What a non-regular file is, for the message. */
static const char *file_kind(mode_t m)
{
    return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device"
           : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

/* Reads at most max bytes from fd into a NUL-terminated buffer; -1 when the file
 * holds more (it may grow while read) or on a read error. */
static int read_fd(int fd, size_t max, unsigned char **out, size_t *len)
{
    size_t cap = 4096, n = 0;
    unsigned char *buf = malloc(cap + 1);
    for (;;) {
        if (buf == NULL)
            return -1;
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            break;
        if (r < 0 || (n += (size_t)r) > max) {
            free(buf);
            return -1;
        }
        if (n == cap) {
            unsigned char *nb = realloc(buf, cap * 2 + 1);
            if (nb == NULL)
                free(buf);
            buf = nb;
            cap *= 2;
        }
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

int tm_read_file_max(const char *path, size_t max, unsigned char **data, size_t *len,
                     struct tm_err *err)
{
    *data = NULL;
    *len = 0;
    /* O_NONBLOCK: opening a FIFO for reading must not wait for a writer. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return tm_err_set(err, "%s: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0)
        rc = tm_err_set(err, "%s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = tm_err_setc(err, TM_E_INPUT, "%s: is %s, not a regular file", path,
                         file_kind(st.st_mode));
    else if ((unsigned long long)st.st_size > max)
        rc = tm_err_setc(err, TM_E_INPUT, "%s: %lld bytes, more than the limit of %zu", path,
                        (long long)st.st_size, max);
    else if (read_fd(fd, max, data, len) != 0)
        rc = tm_err_setc(err, TM_E_IO, "%s: read error or larger than %zu bytes", path, max);
    close(fd);
    return rc;
}

int tm_read_file(const char *path, unsigned char **data, size_t *len, struct tm_err *err)
{
    return tm_read_file_max(path, TM_READ_MAX, data, len, err);
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

int tm_mkdtemp(char *buf, size_t len, const char *prefix, struct tm_err *err)
{
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] != '/' || strlen(tmp) + strlen(prefix) + 8 > len)
        tmp = "/tmp";
    if ((size_t)snprintf(buf, len, "%s/%sXXXXXX", tmp, prefix) >= len) {
        buf[0] = '\0';
        return tm_err_setc(err, TM_E_INPUT, "%s: temporary directory name too long", prefix);
    }
    if (mkdtemp(buf) == NULL) {
        int e = errno;
        tm_err_setc(err, TM_E_IO, "%s: cannot make a temporary directory: %s", buf, strerror(e));
        buf[0] = '\0';
        return -1;
    }
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

int tm_is_private_key(const void *data, size_t len)
{
    if (memmem(data, len, "PRIVATE KEY-----", 16) != NULL)
        return 1;
    const unsigned char *p = data;
    EVP_PKEY *k = d2i_AutoPrivateKey(NULL, &p, (long)len);
    EVP_PKEY_free(k);
    return k != NULL;
}
