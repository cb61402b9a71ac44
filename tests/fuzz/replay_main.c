/* replay_main.c — runs a fuzz target once on each file named on the command line (the build without libFuzzer:
 * gcc, the sanitizer build, valgrind). A folder argument replays every regular file in it. Exit 0 when every
 * input ran (a crash or a sanitizer report ends the process with a non-zero status). */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"

static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    size_t cap = 1 << 16, size = 0;
    unsigned char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + size, 1, cap - size, f)) > 0;) {
        size += got;
        if (size == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    if (!buf) return 1;
    /* a private exact-size copy, so an over-read by one byte is caught by ASan as with libFuzzer */
    unsigned char *exact = malloc(size ? size : 1);
    memcpy(exact, buf, size);
    free(buf);
    LLVMFuzzerTestOneInput(exact, size);
    free(exact);
    return 0;
}

int main(int argc, char **argv) {
    int files = 0, bad = 0;
    for (int i = 1; i < argc; i++) {
        struct stat s;
        if (stat(argv[i], &s) != 0) {
            perror(argv[i]);
            bad++;
            continue;
        }
        if (!S_ISDIR(s.st_mode)) {
            bad += replay_file(argv[i]);
            files++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        for (struct dirent *e; d && (e = readdir(d));) {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", argv[i], e->d_name);
            if (e->d_name[0] == '.' || stat(p, &s) != 0 || !S_ISREG(s.st_mode)) continue;
            bad += replay_file(p);
            files++;
        }
        if (d) closedir(d);
    }
    printf("%s: replayed %d inputs, %d unreadable\n", argv[0], files, bad);
    return bad ? 1 : 0;
}
