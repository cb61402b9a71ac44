/* main.c — the `blasto` command: git-style subcommands. Each subcommand lives in tools/cli/cmd_<name>.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "core/build_info.h"
#include "core/collective.h"
#include "core/cpu/cpu_features.h"
#include "core/fileio.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"demo", cmd_demo, "the whole paper on a synthetic cohort (~600 images, ≤ 10 min on 2 cores) → an HTML report"},
    {"tutorial", cmd_tutorial, "train a small CNN on generated data and show the loss falling (the API in one page)"},
    {"info", cmd_info, "version, build flags, compiler, CPU features, GEMM kernel, threads, CUDA"},
    {"segment", cmd_segment, "ICM/TE segmentation: train a U-Net, predict masks and labelme polygons, score them"},
    {"selftest", cmd_selftest, "every op against PyTorch's frozen results and the reference, on every backend here"},
    {"bench", cmd_bench, "benchmarks: `bench gemm`, `bench conv` (GFLOP/s), `bench infer`, `bench train` (img/s)"},
    {"infer", cmd_infer, "logits of vgg16/resnet50/densenet121 for an input file (audit: diff with PyTorch)"},
    {"grad", cmd_grad, "input and parameter gradients for a given dL/dlogits (audit)"},
    {"diff", cmd_diff, "compare two safetensors files tensor by tensor (max abs/rel error, worst index)"},
    {"convert", cmd_convert, "torchvision/timm/Keras weights (safetensors) → checked blasto weights"},
    {"inspect", cmd_inspect, "every tensor of a safetensors file: dtype, shape, min/max/mean, checksum"},
    {"split", cmd_split, "stratified fixed test set + K cross-validation folds of a cohort → split.csv"},
    {"synth", cmd_synth, "render the synthetic blastocyst cohort: images, labelme ICM/TE polygons, cohort.csv"},
    {"enhance", cmd_enhance, "enhanced ICM/TE images (gray, gray·ICM, gray·TE) of a cohort or one image"},
    {"train", cmd_train, "train the pregnancy model on one fold: log, checkpoints, bit-identical --resume"},
    {"predict", cmd_predict, "score cohort rows with a trained checkpoint → predictions CSV (id,label,score)"},
    {"gradcam", cmd_gradcam, "Grad-CAM overlays and ICM/TE focus scores of a trained checkpoint → DIR/*.png, focus.csv"},
    {"metrics", cmd_metrics, "AUROC + DeLong CI, sens/spec, Youden, Brier, Hosmer–Lemeshow; paired DeLong test"},
    {"calibrate", cmd_calibrate, "isotonic calibration as sklearn: fit → model JSON, apply → calibrated CSV"},
    {"stats", cmd_stats, "Table 1: age t-tests (Student and Welch) per group, from a cohort or published summaries"},
    {"focus-compare", cmd_focus_compare, "Table 3: focus rates of two models by agreement category + McNemar"},
    {"experiment", cmd_experiment, "the paper as one resumable run: split, train/predict per arch × input × fold, Table 2, DeLong"},
    {"report", cmd_report, "one self-contained HTML report of an experiment: tables, SVG figures, Grad-CAM gallery"},
};
#define N_COMMANDS (int)(sizeof commands / sizeof commands[0])

static void usage(FILE *out) {
    fprintf(out,
            "blasto %s — a deep-learning framework you can audit, in C.\n\n"
            "usage: blasto <command> [options]     (blasto <command> --help for its options)\n\n"
            "commands:\n",
            bl_build()->version);
    for (int i = 0; i < N_COMMANDS; i++) fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\nglobal options:\n"
            "  --help       this text\n"
            "  --version    print the version\n"
            "environment:\n"
            "  BLASTO_THREADS  worker threads (default: all cores; --threads N overrides)\n"
            "  BLASTO_CPU_ISA  generic | avx2 | avx512: the widest instructions the cpu backend uses (default: all\n"
            "                  the CPU has; avx2 runs exactly what an AVX2-only machine runs)\n");
}

int main(int argc, char **argv) {
    /* first, before any thread exists: Ctrl-C, SIGTERM and SIGHUP remove this run's temporaries and staging
     * folders before the process ends (core/fileio.h) */
    bl_cleanup_install();
    bl_input_guard_enable(); /* an output of this command never replaces one of its inputs */
    /* the library ignores a BLASTO_THREADS it cannot use (its default is then the core count); the command says so */
    const char *threads = getenv("BLASTO_THREADS");
    if (threads && *threads) {
        char *end = NULL;
        long n = strtol(threads, &end, 10);
        if (*end || n < 1 || n > 1024) {
            char shown[64];
            fprintf(stderr, "blasto: BLASTO_THREADS: expected a whole number in [1, 1024], got '%s'\n",
                    bl_printable(threads, shown, sizeof shown));
            return 2;
        }
    }
    const char *isa = getenv("BLASTO_CPU_ISA");
    bl_gemm_kernel_kind cap;
    if (isa && *isa && !bl_cpu_isa_parse(isa, &cap)) {
        char shown[64];
        fprintf(stderr, "blasto: BLASTO_CPU_ISA: expected generic, avx2 or avx512, got '%s'\n",
                bl_printable(isa, shown, sizeof shown));
        return 2;
    }
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("blasto %s\n", bl_build()->version);
        return 0;
    }
    /* every option at most once, for every command: with two values, which one counts would be a guess */
    for (int i = 2; i < argc; i++)
        for (int j = 2; j < i && !strncmp(argv[i], "--", 2) && argv[i][2]; j++)
            if (!strcmp(argv[i], argv[j])) {
                fprintf(stderr, "blasto %s: %s given twice (each option at most once)\n", argv[1], argv[i]);
                return 2;
            }
    /* under an MPI launcher with several processes only the commands that share their work between ranks run: any
     * other would run K times, every copy writing the same files (docs/distributed.md) */
    int launched = bl_world_launched_size();
    if (launched > 1 && strcmp(argv[1], "experiment") != 0 && strcmp(argv[1], "train") != 0) {
        fprintf(stderr, "blasto %s: runs as one process, but an MPI launcher started %d (only experiment and train "
                "share their work between ranks; run it without mpirun/srun)\n", argv[1], launched);
        return 2;
    }
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0) {
            int rc = commands[i].run(argc - 1, argv + 1);
            return rc != 0 && bl_output_refused() ? 2 : rc; /* an output refused is a usage error (core/fileio.h) */
        }
    fprintf(stderr, "blasto: unknown command '%s' (blasto --help lists them)\n", argv[1]);
    return 2;
}
