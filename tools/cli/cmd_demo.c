/* cmd_demo.c — `blasto demo`: the whole paper on the built-in synthetic cohort, sized for 2 CPU cores.
 *
 * 1. `blasto synth`: DIR/cohort/ — 600 images (5 clinics, docs/synthetic.md), unless DIR/cohort/cohort.csv exists;
 * 2. DIR/demo.json — the experiment config below (`"demo": true`, so the report says it is not the paper's
 *    setting), written only when absent so that a rerun resumes the same experiment;
 * 3. `blasto experiment --config DIR/demo.json --out DIR/run` (resumable unit by unit);
 * 4. the report, DIR/run/report.html, whose path is printed last.
 *
 * The demo configuration (docs/pipeline.md, "The demo"): ResNet50 from random initialisation (no ImageNet
 * weights can be downloaded on an offline machine), original and enhanced input, 3 folds, a stratified test set of
 * 150, 80×80 images (the smallest size at which ResNet50's layer4 map is 3×3, so that the Grad-CAM maximum can
 * lie elsewhere than in a corner), 3 epochs, batch 16, Adam lr 1e-3. The paper's setting is 224×224, ImageNet
 * weights, all three architectures: docs/pipeline.md says how to run it. Nothing here is tuned to favour either
 * input. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "core/status.h"
#include "core/cpu/threads.h"
#include "experiment_ui.h"
#include "study/csv.h"
#include "study/experiment.h"
#include "study/files.h"
#include "study/synth.h"

typedef struct demo_settings {
    long n, test_count, folds, epochs, size, seed;
} demo_settings;

static int demo_help(void) {
    printf("usage: blasto demo [--out DIR] [--threads N]\n"
           "                   [--n IMAGES] [--test-count N] [--folds K] [--epochs E] [--size PIXELS] [--seed S]\n\n"
           "Runs the paper's pipeline on the built-in synthetic cohort and writes an HTML report:\n"
           "  DIR/cohort/       600 synthetic blastocyst images of 5 clinics with ICM/TE polygons (blasto synth)\n"
           "  DIR/demo.json     the experiment config (a reduced demo configuration, marked as such)\n"
           "  DIR/run/          blasto experiment: split, ResNet50 on original and enhanced input, 3 folds,\n"
           "                    Tables 1-3, DeLong, isotonic calibration, Grad-CAM\n"
           "  DIR/run/report.html  the report (path printed last)\n"
           "Default DIR: blasto-demo. About 5-10 minutes on 2 CPU cores. Rerunning resumes where it stopped;\n"
           "the settings of an existing DIR/demo.json win over the options. The options shrink the run for a quick\n"
           "look (defaults: --n 600 --test-count 150 --folds 3 --epochs 3 --size 80 --seed 1).\n"
           "Not the paper's setting (224x224, ImageNet weights, three architectures): see docs/pipeline.md.\n");
    return 0;
}

static void synth_progress(void *arg, int done, int total) {
    int *tty = arg;
    if (*tty) fprintf(stderr, "\r\033[Kblasto demo: synth %d/%d images", done, total);
}

int cmd_demo(int argc, char **argv) {
    const char *out = "blasto-demo";
    long threads = 0;
    demo_settings d = {.n = 600, .test_count = 150, .folds = 3, .epochs = 3, .size = 80, .seed = 1};
    for (int i = 1; i < argc; i += 2) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (!strcmp(opt, "--help")) return demo_help();
        if (!val) {
            fprintf(stderr, "blasto demo: %s: missing value (blasto demo --help)\n", opt);
            return 2;
        }
        if (!strcmp(opt, "--out")) out = val;
        else if (!strcmp(opt, "--threads")) rc = cli_parse_int("demo", opt, val, 1, 1024, &threads);
        else if (!strcmp(opt, "--n")) rc = cli_parse_int("demo", opt, val, 20, 100000, &d.n);
        else if (!strcmp(opt, "--test-count")) rc = cli_parse_int("demo", opt, val, 2, 100000, &d.test_count);
        else if (!strcmp(opt, "--folds")) rc = cli_parse_int("demo", opt, val, 2, 10, &d.folds);
        else if (!strcmp(opt, "--epochs")) rc = cli_parse_int("demo", opt, val, 1, 1000, &d.epochs);
        else if (!strcmp(opt, "--size")) rc = cli_parse_int("demo", opt, val, 32, 512, &d.size);
        else if (!strcmp(opt, "--seed")) rc = cli_parse_int("demo", opt, val, 0, 0x7fffffffL, &d.seed);
        else {
            fprintf(stderr, "blasto demo: bad option '%s' %s (blasto demo --help)\n", opt, val);
            return 2;
        }
        if (rc) return rc;
    }
    if (d.test_count >= d.n) {
        fprintf(stderr, "blasto demo: --test-count: expected fewer than --n (%ld), got %ld\n", d.n, d.test_count);
        return 2;
    }
    if (cli_apply_threads("demo", threads)) return 1;
    char cohort_dir[1100], cohort_csv[1200], config[1100], run[1100], report[1200];
    if ((size_t)snprintf(cohort_dir, sizeof cohort_dir, "%s/cohort", out) >= sizeof cohort_dir) {
        fprintf(stderr, "blasto demo: --out: path too long\n");
        return 2;
    }
    snprintf(cohort_csv, sizeof cohort_csv, "%s/cohort.csv", cohort_dir);
    snprintf(config, sizeof config, "%s/demo.json", out);
    snprintf(run, sizeof run, "%s/run", out);
    snprintf(report, sizeof report, "%s/report.html", run);
    if (bl_make_dir(out, NULL)) {
        fprintf(stderr, "blasto demo: %s\n", bl_last_error());
        return 1;
    }
    time_t t0 = time(NULL);

    /* 1. the cohort (cohort.csv is written last by synth: its presence means complete) */
    if (access(cohort_csv, F_OK) != 0) {
        int tty = isatty(2);
        bl_synth_options so = {.n = (int)d.n, .seed = (uint64_t)d.seed, .size = 128};
        fprintf(stderr, "blasto demo: rendering %ld synthetic images (128x128, seed %ld) into %s\n", d.n, d.seed,
                cohort_dir);
        bl_status st = bl_synth_write_cohort(cohort_dir, &so, synth_progress, &tty);
        if (tty) fputs("\r\033[K", stderr);
        if (st) {
            fprintf(stderr, "blasto demo: %s\n", bl_last_error());
            return 1;
        }
    } else {
        fprintf(stderr, "blasto demo: %s exists: using it\n", cohort_csv);
    }
    /* 2. the config (kept when present: a rerun resumes the same experiment) */
    if (access(config, F_OK) != 0) {
        char json[1024];
        int len = snprintf(json, sizeof json,
                           "{\n  \"demo\": true,\n  \"cohort\": \"cohort/cohort.csv\",\n  \"test_count\": %ld,\n"
                           "  \"folds\": %ld,\n  \"seed\": %ld,\n  \"archs\": [\"resnet50\"],\n"
                           "  \"inputs\": [\"original\", \"enhanced\"],\n  \"epochs\": %ld,\n  \"batch\": 16,\n"
                           "  \"lr\": 0.001,\n  \"optimizer\": \"adam\",\n  \"size\": %ld\n}\n",
                           d.test_count, d.folds, d.seed, d.epochs, d.size);
        if (bl_write_file_atomic(config, json, (size_t)len)) {
            fprintf(stderr, "blasto demo: %s\n", bl_last_error());
            return 1;
        }
    }
    /* 3. the experiment */
    bl_experiment_config c;
    if (bl_experiment_config_read(config, &c)) {
        fprintf(stderr, "blasto demo: %s\n", bl_last_error());
        return 1;
    }
    c.rerun_changed = 1; /* the demo's folder is blasto's own: results another run left there are replaced */
    fprintf(stderr, "blasto demo: experiment %s -> %s (%d threads; demo configuration, see %s)\n", config, run,
            bl_threads_get(), config);
    experiment_ui u;
    experiment_ui_init(&u, "blasto demo");
    bl_status st = bl_experiment_run(&c, run, &u.cb);
    experiment_ui_clear(&u);
    /* 4. the report: written by the experiment as its last step */
    if (st) {
        fprintf(stderr, "blasto demo: %s\n", bl_last_error());
        return 1;
    }
    long secs = (long)difftime(time(NULL), t0);
    fprintf(stderr, "blasto demo: done in %ld:%02ld\n", secs / 60, secs % 60);
    printf("%s\n", report);
    return 0;
}
