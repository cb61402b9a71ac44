/* fuzz_common.h — what the fuzz targets share: the libFuzzer entry point's prototype and a private scratch folder
 * for targets whose parser takes a path (the input is written to a file there, then parsed from it).
 *
 * Every target is one LLVMFuzzerTestOneInput. Built with -DBLASTO_FUZZ=ON (clang) it is a libFuzzer binary; in
 * any other build it is linked with replay_main.c into a plain program that runs the target once per file named
 * on its command line (ctest replays tests/fuzz/seeds and tests/fuzz/regressions that way). A target never
 * asserts on an error status — refusing bad input is the expected outcome; only a crash, a sanitizer report, a
 * leak or a broken invariant (fuzz_check) is a finding. */
#ifndef BLASTO_FUZZ_COMMON_H
#define BLASTO_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant: print it and abort, so libFuzzer records the input as a crash. */
#define fuzz_check(cond)                                                                     \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

/* The scratch folder (created on first use under $TMPDIR or /tmp, removed at exit with what fuzz_path made). */
const char *fuzz_dir(void);
/* "<scratch>/<name>" (a static buffer per call site is not needed: the result stays valid until the next call
 * with the same name slot; targets use at most 4 names). */
const char *fuzz_path(const char *name);
/* Write bytes to "<scratch>/<name>" (replacing it) and return that path; aborts if the scratch disk fails. */
const char *fuzz_write(const char *name, const void *data, size_t size);

#endif
