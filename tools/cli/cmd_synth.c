/* cmd_synth.c — `blasto synth`: writes the built-in synthetic cohort (tools/study/synth.h, docs/synthetic.md):
 * DIR/images/<id>.png, DIR/annotations/<id>.json (labelme), DIR/latent.csv and DIR/cohort.csv (last).
 * Progress with an ETA goes to stderr: one updating line on a terminal, plain lines otherwise. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "core/cpu/threads.h"
#include "study/files.h"
#include "study/synth.h"

static int synth_help(void) {
    printf("usage: blasto synth --out DIR --n N [--seed S] [--size PIXELS] [--threads N] [--quiet]\n\n"
           "Renders N blastocyst-like grayscale images (zona pellucida, a ring of trophectoderm cells, blastocoel,\n"
           "an inner-cell-mass cluster, debris, noise, blur, uneven light; five clinics A-E with different imaging)\n"
           "and writes:\n"
           "  DIR/images/<id>.png          8-bit gray, PIXELS x PIXELS (default 256, 64 to 2048)\n"
           "  DIR/annotations/<id>.json    labelme: polygon 'icm' and one polygon 'te_<n>' per TE cell\n"
           "  DIR/latent.csv               the hidden variables (quality, feature z-scores, cell counts)\n"
           "  DIR/cohort.csv               id,image,annotation,age,clinic,label (written last)\n"
           "Outcome: label ~ Bernoulli(0.32); age | label like the paper's Table 1; ICM size/compactness and\n"
           "TE cell count/regularity depend on the label through a latent quality (docs/synthetic.md).\n"
           "Same seed -> byte-identical files for any --threads. Default seed 1.\n");
    return 0;
}

typedef struct progress_state {
    double start;
    int tty, quiet;
    double last_print;
} progress_state;

/* "synth: 320/600 images, 2.1 s, ETA 1.8 s" — on a terminal rewritten in place; otherwise a line at most every
 * 2 seconds and at the end */
static void show_progress(void *arg, int done, int total) {
    progress_state *p = arg;
    if (p->quiet) return;
    double t = bl_seconds_now(), elapsed = t - p->start;
    double eta = done ? elapsed * (total - done) / done : 0.0;
    if (!p->tty && done < total && t - p->last_print < 2.0) return;
    p->last_print = t;
    fprintf(stderr, "%ssynth: %d/%d images, %.1f s, ETA %.1f s%s", p->tty ? "\r" : "", done, total, elapsed, eta,
            p->tty ? (done == total ? "\n" : "") : "\n");
    fflush(stderr);
}

int cmd_synth(int argc, char **argv) {
    const char *dir = NULL;
    long n = -1, seed = 1, size = 256, threads = 0;
    int quiet = 0;
    for (int i = 1; i < argc; i += 2) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) return synth_help();
        if (strcmp(opt, "--quiet") == 0) {
            quiet = 1;
            i--;
            continue;
        }
        if (strcmp(opt, "--out") == 0 && val) dir = val;
        else if (strcmp(opt, "--n") == 0) rc = cli_parse_int("synth", opt, val, 1, 1000000, &n);
        else if (strcmp(opt, "--seed") == 0) rc = cli_parse_int("synth", opt, val, 0, 0x7fffffffL, &seed);
        else if (strcmp(opt, "--size") == 0) rc = cli_parse_int("synth", opt, val, 64, 2048, &size);
        else if (strcmp(opt, "--threads") == 0) rc = cli_parse_int("synth", opt, val, 1, 1024, &threads);
        else {
            fprintf(stderr, "blasto synth: bad option '%s'%s%s (blasto synth --help)\n", opt, val ? " " : "",
                    val ? val : "");
            return 2;
        }
        if (rc) return rc;
    }
    if (!dir || n < 0) {
        fprintf(stderr, "blasto synth: %s is required (blasto synth --help)\n", !dir ? "--out DIR" : "--n N");
        return 2;
    }
    if (cli_apply_threads("synth", threads)) return 1;
    bl_synth_options o = {.n = (int)n, .seed = (uint64_t)seed, .size = (int)size};
    progress_state progress = {.start = bl_seconds_now(), .tty = isatty(2), .quiet = quiet};
    progress.last_print = progress.start;
    bl_status st = bl_synth_write_cohort(dir, &o, show_progress, &progress);
    if (st) {
        if (progress.tty && !quiet) fputc('\n', stderr);
        fprintf(stderr, "blasto synth: %s\n", bl_last_error());
        return 1;
    }
    printf("synth: %ld images %ldx%ld (seed %ld, %d threads) in %.1f s -> %s/cohort.csv\n", n, size, size, seed,
           bl_threads_get(), bl_seconds_now() - progress.start, dir);
    return 0;
}
