/* test_support.h — small helpers the end-to-end tests share: run the blasto CLI and capture its output, make and
 * remove a temporary directory, build paths in it, write a text file, read a whole file, compare checkpoints.
 * Compiled into every test executable (tests/CMakeLists.txt adds each .c file in tests/support). */
#ifndef BLASTO_TEST_SUPPORT_H
#define BLASTO_TEST_SUPPORT_H

#include <stddef.h>

/* Runs `BLASTO_CLI args` through the shell; stdout (and stderr when merge_stderr, else stderr goes to /dev/null)
 * into out (at most size − 1 bytes, NUL-terminated). Returns the exit code, or −1 when it could not run or did
 * not exit normally. */
int test_run_cli(const char *args, int merge_stderr, char *out, size_t size);
/* Run a whole shell command line with stderr sent to <scratch_dir>/last.err; the stderr text is copied into err
 * (may be NULL). Returns the exit code, or −1. */
int test_run_shell(const char *cmdline, const char *scratch_dir, char *err, size_t err_size);

/* Writes text to path; returns 0, or −1 when the file cannot be created (no CHECK). */
int test_write_file(const char *path, const char *text);
/* Writes text to path and CHECKs that the file could be created (one passed check per call). */
void test_write_text(const char *path, const char *text);

/* The whole file, NUL-terminated, in a malloc'd buffer (free it); *size (when size is not NULL) gets its length.
 * NULL when it cannot be opened or read in full. */
char *test_read_file(const char *path, size_t *size);

/* Creates a fresh directory "$TMPDIR/<prefix>_XXXXXX" ($TMPDIR unset or empty: /tmp) into buf; returns buf, or
 * NULL when it cannot be created. */
const char *test_make_tmp_dir(char *buf, size_t size, const char *prefix);
/* "<dir>/<name>" into buf; returns buf. */
const char *test_path_in(char *buf, size_t size, const char *dir, const char *name);
/* rm -rf dir (a note on stderr when that fails); kept, with a note, when BLASTO_KEEP_TMP is set. */
void test_remove_tree(const char *dir);

/* 1 when both safetensors files open and hold the same tensors (names, dtypes, bytes; the metadata may differ:
 * it records each run's own paths and times); a differing tensor is printed. */
int test_same_tensors(const char *a, const char *b);
/* 1 when both files can be read and hold the same bytes. */
int test_same_bytes(const char *a, const char *b);
/* The tiny experiment of the experiment tests: 40 synthetic images (64×64, seed 3) rendered into <dir>/c and the
 * config <dir>/exp.json (→ config[size]): ResNet50 at 32×32, 2 folds, 2 epochs, batch 4, both inputs, predicted
 * annotations from a 4-epoch width-4 U-Net. 0, or −1 when a step failed. */
int test_tiny_experiment(const char *dir, char *config, size_t size);
/* The MPI launcher prefix of the multi-rank tests → launcher[size] ("ASAN_OPTIONS=detect_leaks=0 mpirun
 * --oversubscribe", with --allow-run-as-root as root; Open MPI's own allocations outlive MPI_Finalize, so the ranks
 * run without leak detection under the sanitizers): NULL, or why the test must be skipped (no MPI in this build, no
 * mpirun). */
const char *test_mpirun(char *launcher, size_t size);

#endif
