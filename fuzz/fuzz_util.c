/* Shared by the fuzz targets: a private temporary directory for readers that take
 * a path, C strings and argument lists from fuzz data. */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static char g_dir[256];

static void remove_dir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", g_dir);
}

const char *fuzz_file(const char *name, const uint8_t *data, size_t size)
{
    static char path[512];
    if (g_dir[0] == '\0') {
        /* Memory-backed when there is one: a file per input is the bulk of the cost. */
        const char *t = getenv("TMPDIR");
        if (t == NULL || *t == '\0')
            t = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(g_dir, sizeof g_dir, "%s/tm-fuzz-XXXXXX", t);
        if (mkdtemp(g_dir) == NULL)
            abort();   /* no place to put inputs: nothing can be fuzzed */
        atexit(remove_dir);
    }
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");   /* in place: nobody else reads this directory */
    if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();
    return path;
}

char *fuzz_text(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

int fuzz_argv(const uint8_t *data, size_t size, const char *prog, char **argv, int max,
              char **text)
{
    *text = fuzz_text(data, size);
    int argc = 0;
    argv[argc++] = (char *)prog;
    for (size_t at = 0; at <= size && argc < max; at += strlen(*text + at) + 1)
        argv[argc++] = *text + at;
    argv[argc] = NULL;
    return argc;
}
