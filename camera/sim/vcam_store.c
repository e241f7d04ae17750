/* vcam_store.c: the device's file system as a script sees it, and the stored
 * agent (docs/contracts.md §3, "Stored agent"). The flash directory is the file
 * system; `--fs ro` makes it read-only (every open for writing raises
 * OSError(EROFS)), `--fs full` a full one (files can be created, no byte can be
 * written: OSError(ENOSPC)). The loader and writer programs the harness sends
 * (common/tm_agentfile.h) are acted out here, as MicroPython would run them:
 * the loader hashes the stored file and runs the agent only when the hash is
 * the one it names, else it opens the temporary file and says why; the writer
 * fills that file and renames it into place. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tm_agentfile.h"
#include "tm_fs.h"
#include "vcam.h"

#define EROFS_NO 30    /* MicroPython's errno numbers (py/mperrno.h) */
#define ENOSPC_NO 28
#define EIO_NO 5

static void flash_file(const struct vcam *vc, const char *name, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s", vc->flash_dir, name);
}

int vcam_fs_write(const struct vcam *vc, const char *full, const void *data, size_t len)
{
    if (vc->fs == VCAM_FS_RO)
        return EROFS_NO;
    if (vc->fs == VCAM_FS_FULL && len > 0)
        return ENOSPC_NO;
    struct tm_err err;
    return tm_write_file(full, data, len, 0644, &err) == 0 ? 0 : EIO_NO;
}

void vcam_store_boot(struct vcam *vc)
{
    vc->af_open = 0;   /* the loader's open temp file went with the heap */
}

static void status(struct vcam *vc, const char *why)
{
    vcam_puts(vc, TM_AF_MARK);
    vcam_puts(vc, why);
    vcam_puts(vc, "\r\n");
}

/* The stored file's state against the hash the loader names: 1 it is that
 * agent, 0 nofile/stale (*why), -1 it matches but is not an agent (vcam runs
 * nothing else). */
static int check_file(struct vcam *vc, const char *sha_hex, const char **why)
{
    char path[1100], got[65];
    flash_file(vc, TM_AF_FILE, path, sizeof path);
    unsigned char *data = NULL;
    size_t len = 0;
    struct tm_err err;
    if (tm_read_file(path, &data, &len, &err) != 0) {
        *why = "nofile";
        return 0;
    }
    tm_sha256_hex(data, len, got);
    int agent = vcam_is_agent(data, len);
    free(data);
    if (strcmp(got, sha_hex) != 0) {
        *why = "stale";
        return 0;
    }
    return agent ? 1 : -1;
}

static int run_loader(struct vcam *vc, const struct tm_af_prog *p, const char **exc)
{
    const char *why = NULL;
    int ok = check_file(vc, p->sha_hex, &why);
    if (ok > 0)
        return vcam_agent_run(vc);
    if (ok < 0) {
        *exc = VCAM_NOT_IMPL;
        return VC_OK;
    }
    char path[1100], text[32];
    flash_file(vc, TM_AF_TEMP, path, sizeof path);
    int eno = vcam_fs_write(vc, path, "", 0);   /* open(TEMP, 'wb'): creates it empty */
    if (eno != 0) {
        snprintf(text, sizeof text, "nostore %d", eno);
        why = text;
    } else {
        vc->af_open = 1;
    }
    status(vc, why);
    return VC_OK;
}

static int run_writer(struct vcam *vc, const struct tm_af_prog *p, const char **exc)
{
    if (!vc->af_open) {
        *exc = "NameError: name '_f' isn't defined";
        return VC_OK;
    }
    vc->af_open = 0;   /* _f.close() on every path */
    char tmp[1100], dst[1100], text[32];
    flash_file(vc, TM_AF_TEMP, tmp, sizeof tmp);
    flash_file(vc, TM_AF_FILE, dst, sizeof dst);
    int eno = vcam_fs_write(vc, tmp, p->payload, p->payload_len);
    if (eno == 0 && rename(tmp, dst) != 0)
        eno = EIO_NO;
    if (eno != 0) {
        unlink(tmp);
        snprintf(text, sizeof text, "nostore %d", eno);
        status(vc, text);
    } else {
        status(vc, "stored");
    }
    return VC_OK;
}

int vcam_store_exec(struct vcam *vc, const unsigned char *code, size_t len, int *handled,
                    const char **exc)
{
    struct tm_af_prog p;
    *handled = 0;
    if (tm_af_parse(code, len, &p) != 0 || p.kind == TM_AF_OTHER) {
        tm_af_prog_free(&p);
        return VC_OK;
    }
    *handled = 1;
    int r = p.kind == TM_AF_LOADER ? run_loader(vc, &p, exc) : run_writer(vc, &p, exc);
    tm_af_prog_free(&p);
    return r;
}
