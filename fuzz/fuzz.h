/* libFuzzer targets for every reader of outside input (fuzz/README.md). Each
 * target defines LLVMFuzzerTestOneInput; clang's -fsanitize=fuzzer supplies main
 * in the fuzz build (TM_FUZZ), replay_main.c in the normal one, where a ctest
 * replays the committed corpus. */
#ifndef TM_FUZZ_H
#define TM_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* data written to NAME in this process's own temporary directory (made once,
 * removed at exit); returns the path (static buffer). For readers that take a
 * path: the file name is part of what they check. */
const char *fuzz_file(const char *name, const uint8_t *data, size_t size);

/* data as a NUL-terminated string (NUL bytes inside stay; readers of C strings
 * see the first part). Caller frees. */
char *fuzz_text(const uint8_t *data, size_t size);

/* data as an argument list: prog, then the NUL-separated pieces of data, at most max
 * entries in all; argv needs max + 1 slots (NULL-terminated, as main's). The
 * strings live in *text, which the caller frees. Returns argc. */
int fuzz_argv(const uint8_t *data, size_t size, const char *prog, char **argv, int max,
              char **text);

#endif
