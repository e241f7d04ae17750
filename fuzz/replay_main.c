/* main for the normal build: run the target once on every file under the paths
 * given (the committed corpus), so a crash found once stays fixed (ctest
 * fuzz_replay_NAME). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "tm_fs.h"

static int replay_file(const char *path)
{
    unsigned char *data = NULL;
    size_t len = 0;
    struct tm_err err = { 0 };
    if (tm_read_file(path, &data, &len, &err) != 0) {
        fprintf(stderr, "replay: %s\n", err.msg);
        return 1;
    }
    LLVMFuzzerTestOneInput(data, len);
    free(data);
    return 0;
}

static int replay(const char *path, int *count)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: no such file or directory\n", path);
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        (*count)++;
        return replay_file(path);
    }
    DIR *d = opendir(path);
    int bad = d == NULL;
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        char sub[2048];
        if (e->d_name[0] == '.')
            continue;
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        bad |= replay(sub, count);
    }
    if (d != NULL)
        closedir(d);
    return bad;
}

int main(int argc, char **argv)
{
    int bad = 0, count = 0;
    for (int i = 1; i < argc; i++)
        bad |= replay(argv[i], &count);
    printf("replayed %d inputs\n", count);
    return bad || count == 0;
}
