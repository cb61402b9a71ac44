/* test_support.c — see test_support.h. */
#include "support/test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/collective.h"
#include "core/safetensors.h"
#include "harness.h"

int test_run_cli(const char *args, int merge_stderr, char *out, size_t size) {
    const char *redirect = merge_stderr ? "2>&1" : "2>/dev/null";
    size_t len = strlen(BLASTO_CLI) + strlen(args) + strlen(redirect) + 3;
    char *cmd = malloc(len);
    if (!cmd) return -1;
    snprintf(cmd, len, "%s %s %s", BLASTO_CLI, args, redirect);
    FILE *p = popen(cmd, "r");
    free(cmd);
    if (!p) return -1;
    size_t k = size > 0 ? fread(out, 1, size - 1, p) : 0;
    if (size > 0) out[k] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int test_write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fputs(text, f);
    fclose(f);
    return 0;
}

void test_write_text(const char *path, const char *text) {
    CHECK(test_write_file(path, text) == 0, "cannot create %s", path);
}

char *test_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) free(buf), buf = NULL;
    fclose(f);
    if (!buf) return NULL;
    buf[n] = '\0';
    if (size) *size = (size_t)n;
    return buf;
}

const char *test_make_tmp_dir(char *buf, size_t size, const char *prefix) {
    const char *base = getenv("TMPDIR");
    int n = snprintf(buf, size, "%s/%s_XXXXXX", base && *base ? base : "/tmp", prefix);
    if (n < 0 || (size_t)n >= size) return NULL;
    return mkdtemp(buf);
}

const char *test_path_in(char *buf, size_t size, const char *dir, const char *name) {
    snprintf(buf, size, "%s/%s", dir, name);
    return buf;
}

void test_remove_tree(const char *dir) {
    if (getenv("BLASTO_KEEP_TMP")) {
        fprintf(stderr, "note: files kept in %s\n", dir);
        return;
    }
    size_t len = strlen(dir) + 16;
    char *cmd = malloc(len);
    if (!cmd) return;
    snprintf(cmd, len, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", dir);
    free(cmd);
}

int test_run_shell(const char *cmdline, const char *scratch_dir, char *err, size_t err_size) {
    char errpath[1024];
    snprintf(errpath, sizeof errpath, "%s/last.err", scratch_dir);
    size_t len = strlen(cmdline) + strlen(errpath) + 8;
    char *cmd = malloc(len);
    if (!cmd) return -1;
    snprintf(cmd, len, "%s 2>%s", cmdline, errpath);
    int rc = system(cmd);
    free(cmd);
    if (err) {
        err[0] = 0;
        FILE *f = fopen(errpath, "r");
        if (f) {
            size_t n = fread(err, 1, err_size - 1, f);
            err[n] = 0;
            fclose(f);
        }
    }
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

int test_same_tensors(const char *a, const char *b) {
    bl_safetensors *sa = NULL, *sb = NULL;
    int same = bl_safetensors_open(a, &sa) == BL_OK && bl_safetensors_open(b, &sb) == BL_OK &&
               bl_safetensors_count(sa) == bl_safetensors_count(sb) && bl_safetensors_count(sa) > 0;
    for (int i = 0; same && i < bl_safetensors_count(sa); i++) {
        const bl_st_entry *ea = bl_safetensors_entry(sa, i), *eb = bl_safetensors_find(sb, ea->name);
        same = eb && ea->dtype == eb->dtype && ea->end - ea->begin == eb->end - eb->begin &&
               memcmp(ea->data, eb->data, (size_t)(ea->end - ea->begin)) == 0;
        if (!same) printf("  tensor %s differs between %s and %s\n", ea->name, a, b);
    }
    bl_safetensors_close(sa);
    bl_safetensors_close(sb);
    return same;
}

int test_same_bytes(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *x = test_read_file(a, &na), *y = test_read_file(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

int test_tiny_experiment(const char *dir, char *config, size_t size) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s synth --out %s/c --n 40 --size 64 --seed 3 --quiet", BLASTO_CLI, dir);
    if (test_run_shell(cmd, dir, NULL, 0) != 0) return -1;
    snprintf(config, size, "%s/exp.json", dir);
    return test_write_file(config, "{\"cohort\": \"c/cohort.csv\", \"test_count\": 8, \"folds\": 2, \"seed\": 1,"
                           " \"archs\": [\"resnet50\"], \"inputs\": [\"original\", \"enhanced\"], \"epochs\": 2,"
                           " \"batch\": 4, \"lr\": 1e-3, \"optimizer\": \"adam\", \"size\": 32,"
                           " \"annotations\": \"predicted\", \"segment_epochs\": 4, \"segment_size\": 32,"
                           " \"segment_width\": 4, \"segment_batch\": 4}\n");
}

const char *test_mpirun(char *launcher, size_t size) {
    if (!bl_world_mpi_built()) return "this build has no MPI (apt-get install libopenmpi-dev openmpi-bin)";
    if (system("command -v mpirun >/dev/null 2>&1") != 0) return "mpirun is not installed (apt-get install openmpi-bin)";
    snprintf(launcher, size, "ASAN_OPTIONS=detect_leaks=0 mpirun --oversubscribe%s",
             geteuid() == 0 ? " --allow-run-as-root" : "");
    return NULL;
}
