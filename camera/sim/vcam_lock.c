/* vcam_lock.c: the agent's session holder (docs/contracts.md §3, `lock`) and the
 * board's unique id. As agent.py keeps it: in RAM (__main__'s globals, which a new
 * agent started without a boot finds again) and in the flash directory, written
 * only when the holder changes, so it outlives a soft reset and vcam itself when
 * --flash names a kept directory. A read-only or full file system loses only the
 * file's copy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tm_fs.h"
#include "vcam.h"

#define LOCK_FILE ".tm_lock"

/* The holder (new reference): RAM's, else the file's; JSON null when free or
 * unreadable (agent.py's held()). */
json_t *vcam_lock_holder(const struct vcam *vc)
{
    if (json_is_object(vc->lock_ram))
        return json_incref(vc->lock_ram);
    char path[1100];
    snprintf(path, sizeof path, "%s/" LOCK_FILE, vc->flash_dir);
    unsigned char *data = NULL;
    size_t len = 0;
    struct tm_err err;
    if (tm_read_file(path, &data, &len, &err) != 0)
        return json_null();
    json_t *h = json_loadb((const char *)data, len, JSON_DECODE_ANY, NULL);
    free(data);
    if (h == NULL || !json_is_object(h)) {
        json_decref(h);
        return json_null();
    }
    return h;
}

static void lock_store(const struct vcam *vc, const json_t *holder)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/" LOCK_FILE, vc->flash_dir);
    char *text = json_dumps(holder, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text != NULL)
        vcam_fs_write(vc, path, text, strlen(text));   /* read-only or full: as the agent, silent */
    free(text);
}

/* {"op":"lock"[,"if":TOKEN][,"set":HOLDER|null]}: compare-and-set; the reply's
 * holder is the one after the request. NULL with *why for a bad field. */
json_t *vcam_lock_op(struct vcam *vc, json_t *req, const char **why)
{
    json_t *set = json_object_get(req, "set"), *cond = json_object_get(req, "if");
    if (set != NULL && !json_is_object(set) && !json_is_null(set)) {
        *why = "wrong type: set must be dict";
        return NULL;
    }
    if (cond != NULL && !json_is_string(cond) && !json_is_null(cond)) {
        *why = "wrong type: if must be str";
        return NULL;
    }
    json_t *h = vcam_lock_holder(vc);
    const char *tok = json_string_value(json_object_get(h, "token"));
    const char *want = json_string_value(cond);
    int match = tok == NULL ? want == NULL : want != NULL && strcmp(tok, want) == 0;
    if (set != NULL && match) {
        /* a renewal (same token) stays in RAM: no flash wear per renewal */
        const char *next = json_string_value(json_object_get(set, "token"));
        if ((tok == NULL) != (next == NULL) || (tok != NULL && strcmp(tok, next) != 0))
            lock_store(vc, set);
        json_decref(vc->lock_ram);
        vc->lock_ram = json_incref(set);
        json_decref(h);
        h = json_incref(set);
    }
    return h;
}

/* The board's machine.unique_id() in hex: 12 bytes as on an STM32, derived from
 * the profile name so a board keeps it across runs. */
json_t *vcam_unique_id(const struct vcam *vc)
{
    char hex[65];
    tm_sha256_hex((const unsigned char *)vc->prof.name, strlen(vc->prof.name), hex);
    hex[24] = '\0';
    return json_string(hex);
}
