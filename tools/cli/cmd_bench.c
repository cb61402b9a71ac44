/* cmd_bench.c — `blasto bench gemm|conv`: GFLOP/s of the cpu backend's GEMM and convolutions; `bench infer|train`
 * (whole models, images per second) are in bench_models.c and dispatched from here.
 *
 * What it is: a timing harness. For each shape it runs `warmup` untimed calls, then `repeats` timed ones, and
 * prints the median, min and max GFLOP/s (FLOPs counted as 2·M·N·K for a GEMM and 2·N·Cout·Ho·Wo·Cin·kh·kw for
 * each convolution pass). One line per result, starting with the benchmark name, so scripts can grep it; header
 * lines start with '#'. tools/bench/openblas_gemm.c prints the same format, and tools/bench/gemm_vs_openblas.sh
 * alternates the two and builds the comparison table of docs/benchmarks.md.
 *
 * What it is not: a profiler or a correctness test (tests/test_gemm.c and tests/test_conv_cpu.c are). */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_models.h"
#include "commands.h"
#include "core/cpu/cpu.h"
#include "core/cpu/cpu_features.h"
#include "core/kernels.h"
#include "core/rng.h"
#include "core/cpu/threads.h"
#include "study/files.h"

enum { MAX_SHAPES = 64 };

/* The ResNet50 convolutions at batch 8 as GEMMs, M×N×K: A = weights [Cout, Cin·k·k], B = im2col [Cin·k·k, N·Ho·Wo]. */
static const int resnet50_gemm_shapes[][3] = {
    {64, 25088, 576}, {256, 25088, 64}, {128, 6272, 1152}, {256, 1568, 2304}, {512, 392, 4608}, {64, 100352, 147},
};

/* Representative ResNet50 convolutions at batch 8: N, Cin, H, W, Cout, k, stride, pad. */
static const int resnet50_conv_shapes[][8] = {
    {8, 3, 224, 224, 64, 7, 2, 3},  {8, 64, 56, 56, 64, 3, 1, 1},   {8, 256, 56, 56, 64, 1, 1, 0},
    {8, 128, 28, 28, 128, 3, 1, 1}, {8, 256, 14, 14, 256, 3, 1, 1}, {8, 512, 7, 7, 512, 3, 1, 1},
    {8, 1024, 14, 14, 2048, 1, 2, 0},
};

typedef struct bench_options {
    int repeats, warmup;
    long threads;
    const char *kernel;
} bench_options;

static int compare_doubles(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Sorts seconds[count] and prints "<label> median M min L max H GFLOP/s repeats R" for `flops` per call. */
static void report(const char *label, double flops, double *seconds, int count) {
    qsort(seconds, (size_t)count, sizeof(double), compare_doubles);
    double median = count % 2 ? seconds[count / 2] : 0.5 * (seconds[count / 2 - 1] + seconds[count / 2]);
    printf("%s median %.2f min %.2f max %.2f GFLOP/s repeats %d\n", label, flops / median / 1e9,
           flops / seconds[count - 1] / 1e9, flops / seconds[0] / 1e9, count);
    fflush(stdout);
}

static float *random_floats(int64_t count, uint64_t index) {
    float *x = malloc(sizeof(float) * (size_t)(count > 0 ? count : 1));
    if (!x) return NULL;
    bl_rng rng = bl_rng_stream(42, BL_RNG_TEST, index);
    for (int64_t i = 0; i < count; i++) x[i] = bl_rng_uniform_range(&rng, -1.0f, 1.0f);
    return x;
}

/* "64x25088x576,256×1568×2304" → shapes (× may be the ASCII letter x/X or the UTF-8 sign). 0 or 2 (usage). */
static int parse_gemm_shapes(const char *text, int shapes[][3], int *count) {
    *count = 0;
    if (strcmp(text, "resnet50") == 0) {
        for (size_t i = 0; i < sizeof resnet50_gemm_shapes / sizeof resnet50_gemm_shapes[0]; i++)
            memcpy(shapes[(*count)++], resnet50_gemm_shapes[i], sizeof shapes[0]);
        return 0;
    }
    const char *p = text;
    while (*p) {
        if (*count == MAX_SHAPES) {
            fprintf(stderr, "blasto bench: --shapes: too many shapes (expected at most %d)\n", MAX_SHAPES);
            return 2;
        }
        for (int d = 0; d < 3; d++) {
            char *end = NULL;
            long v = strtol(p, &end, 10);
            if (end == p || v < 1 || v > 1000000) {
                fprintf(stderr, "blasto bench: --shapes: bad dimension at '%s' (expected M×N×K with each in 1 … 1000000)\n", p);
                return 2;
            }
            shapes[*count][d] = (int)v;
            p = end;
            if (d < 2) {
                if (*p == 'x' || *p == 'X') p += 1;
                else if ((unsigned char)p[0] == 0xC3 && (unsigned char)p[1] == 0x97) p += 2; /* × in UTF-8 */
                else {
                    fprintf(stderr, "blasto bench: --shapes: expected 'x' between dimensions at '%s'\n", p);
                    return 2;
                }
            }
        }
        (*count)++;
        if (*p == ',') p++;
        else if (*p) {
            fprintf(stderr, "blasto bench: --shapes: expected ',' between shapes at '%s'\n", p);
            return 2;
        }
    }
    if (*count == 0) {
        fprintf(stderr, "blasto bench: --shapes: empty list\n");
        return 2;
    }
    return 0;
}

/* "generic" | "avx2" | "avx512" → *kind; 0, or 2 (usage error) for any other name. */
static int parse_kernel_name(const char *name, bl_gemm_kernel_kind *kind) {
    if (strcmp(name, "generic") == 0) *kind = BL_GEMM_KERNEL_GENERIC;
    else if (strcmp(name, "avx2") == 0) *kind = BL_GEMM_KERNEL_AVX2;
    else if (strcmp(name, "avx512") == 0) *kind = BL_GEMM_KERNEL_AVX512;
    else {
        fprintf(stderr, "blasto bench: --kernel: unknown kernel '%s' (expected generic, avx2 or avx512)\n", name);
        return 2;
    }
    return 0;
}

/* Apply --threads, and create the cpu backend the benchmark runs on (--kernel: its instruction set; the rest of its
 * options are the defaults); prints the '#' header. 0, or 1 (runtime error: e.g. the CPU lacks the kernel). */
static int apply_options(const char *what, const bench_options *opt, bl_kernels **cpu) {
    if (cli_apply_threads("bench", opt->threads)) return 1;
    bl_cpu_options o = bl_cpu_options_default();
    if (opt->kernel) parse_kernel_name(opt->kernel, &o.simd); /* validated while parsing the options */
    if (bl_kernels_cpu_create(&o, cpu) != BL_OK) {
        fprintf(stderr, "blasto bench: --kernel: %s\n", bl_last_error());
        return 1;
    }
    printf("# blasto bench %s: kernel %s, threads %d, cpu %s, warmup %d, repeats %d\n", what,
           bl_gemm_kernel_name(o.simd), bl_threads_get(), bl_cpu_features(), opt->warmup, opt->repeats);
    return 0;
}

static int bench_gemm(const bench_options *opt, int shapes[][3], int count) {
    bl_kernels *cpu = NULL;
    if (apply_options("gemm", opt, &cpu)) return 1;
    double *seconds = malloc(sizeof(double) * (size_t)opt->repeats);
    for (int s = 0; s < count; s++) {
        int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *a = random_floats((int64_t)m * k, 1), *b = random_floats((int64_t)k * n, 2);
        float *c = random_floats((int64_t)m * n, 3);
        if (!a || !b || !c || !seconds) {
            fprintf(stderr, "blasto bench: gemm %dx%dx%d: out of memory (needs %.1f MB)\n", m, n, k,
                    4e-6 * ((double)m * k + (double)k * n + (double)m * n));
            free(a), free(b), free(c), free(seconds);
            bl_kernels_cpu_free(cpu);
            return 1;
        }
        for (int r = 0; r < opt->warmup; r++) cpu->sgemm(cpu, 0, 0, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
        for (int r = 0; r < opt->repeats; r++) {
            double start = bl_seconds_now();
            cpu->sgemm(cpu, 0, 0, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
            seconds[r] = bl_seconds_now() - start;
        }
        char label[96];
        snprintf(label, sizeof label, "gemm %dx%dx%d", m, n, k);
        report(label, 2.0 * m * n * k, seconds, opt->repeats);
        free(a), free(b), free(c);
    }
    free(seconds);
    bl_kernels_cpu_free(cpu);
    return 0;
}

/* "N,C,H,W,Cout,k,stride,pad" → shape. 0 or 2 (usage). */
static int parse_conv_shape(const char *text, int out[8]) {
    const char *p = text;
    for (int i = 0; i < 8; i++) {
        char *end = NULL;
        long v = strtol(p, &end, 10);
        long lo = i == 7 ? 0 : 1;
        if (end == p || v < lo || v > 100000 || (i < 7 && *end != ',') || (i == 7 && *end != '\0')) {
            fprintf(stderr, "blasto bench: --shape: expected N,C,H,W,Cout,k,stride,pad (8 integers), got '%s'\n", text);
            return 2;
        }
        out[i] = (int)v;
        p = end + 1;
    }
    return 0;
}

/* passes: bit 0 forward (the training forward, conv2d_forward), bit 1 backward data, bit 2 backward filter, bit 3
 * the forward without gradients (conv2d_forward_nograd: Winograd where it takes the shape) */
static int bench_conv(const bench_options *opt, const int (*shapes)[8], int count, int passes) {
    bl_kernels *cpu = NULL;
    if (apply_options("conv", opt, &cpu)) return 1;
    double *seconds = malloc(sizeof(double) * (size_t)opt->repeats);
    for (int i = 0; i < count; i++) {
        const int *d = shapes[i];
        bl_conv2d_shape s = {.n = d[0], .c_in = d[1], .h_in = d[2], .w_in = d[3], .c_out = d[4], .kh = d[5],
                             .kw = d[5], .stride_h = d[6], .stride_w = d[6], .pad_h = d[7], .pad_w = d[7],
                             .dil_h = 1, .dil_w = 1};
        s.h_out = (s.h_in + 2 * s.pad_h - (s.kh - 1) - 1) / s.stride_h + 1;
        s.w_out = (s.w_in + 2 * s.pad_w - (s.kw - 1) - 1) / s.stride_w + 1;
        if (s.h_out < 1 || s.w_out < 1) {
            fprintf(stderr, "blasto bench: --shape: the kernel does not fit the padded image (output %dx%d)\n",
                    s.h_out, s.w_out);
            free(seconds);
            bl_kernels_cpu_free(cpu);
            return 2;
        }
        int64_t x_count = (int64_t)s.n * s.c_in * s.h_in * s.w_in, w_count = (int64_t)s.c_out * s.c_in * s.kh * s.kw;
        int64_t y_count = (int64_t)s.n * s.c_out * s.h_out * s.w_out;
        float *x = random_floats(x_count, 4), *w = random_floats(w_count, 5), *b = random_floats(s.c_out, 6);
        float *y = random_floats(y_count, 7), *dx = random_floats(x_count, 8), *dw = random_floats(w_count, 9);
        float *db = random_floats(s.c_out, 10);
        if (!x || !w || !b || !y || !dx || !dw || !db || !seconds) {
            fprintf(stderr, "blasto bench: conv: out of memory (needs %.1f MB)\n",
                    4e-6 * (2.0 * x_count + 2.0 * w_count + y_count));
            free(x), free(w), free(b), free(y), free(dx), free(dw), free(db), free(seconds);
            bl_kernels_cpu_free(cpu);
            return 1;
        }
        double flops = 2.0 * s.n * s.c_out * s.h_out * s.w_out * (double)s.c_in * s.kh * s.kw;
        static const char *const pass_names[] = {"forward", "backward-data", "backward-filter", "forward-eval"};
        for (int pass = 0; pass < 4; pass++) {
            if (!(passes & (1 << pass))) continue;
            for (int r = 0; r < opt->warmup + opt->repeats; r++) {
                double start = bl_seconds_now();
                if (pass == 0) cpu->conv2d_forward(cpu, &s, x, w, b, y);
                else if (pass == 3) cpu->conv2d_forward_nograd(cpu, &s, x, w, b, y);
                else if (pass == 1) cpu->conv2d_backward_data(cpu, &s, y, w, dx);
                else cpu->conv2d_backward_filter(cpu, &s, x, y, dw, db);
                if (r >= opt->warmup) seconds[r - opt->warmup] = bl_seconds_now() - start;
            }
            char label[160];
            snprintf(label, sizeof label, "conv %s %d,%d,%d,%d,%d,%d,%d,%d", pass_names[pass], d[0], d[1], d[2], d[3],
                     d[4], d[5], d[6], d[7]);
            report(label, flops, seconds, opt->repeats);
        }
        free(x), free(w), free(b), free(y), free(dx), free(dw), free(db);
    }
    free(seconds);
    bl_kernels_cpu_free(cpu);
    return 0;
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: blasto bench gemm [--shapes resnet50|MxNxK,…] [options]\n"
            "       blasto bench conv [--shape N,C,H,W,Cout,k,stride,pad] [--pass forward|forward-eval|\n"
            "                         backward-data|backward-filter|all] [options]\n"
            "       blasto bench infer|train --arch A [--batch N] [--size S] ...   (whole models, img/s: see\n"
            "                                      `blasto bench infer --help`)\n\n"
            "Times the cpu backend and prints, per shape, the median, min and max GFLOP/s over the timed repeats\n"
            "(GEMM: 2·M·N·K FLOPs, C = A·B row-major, A = [M,K], B = [K,N]; conv: 2·N·Cout·Ho·Wo·Cin·k·k per pass).\n"
            "gemm defaults to the ResNet50 batch-8 convolution GEMMs; conv to seven ResNet50 batch-8 layers.\n"
            "conv passes: forward is the training forward (direct); forward-eval the forward without gradients\n"
            "(Winograd F(4x4,3x3) for 3x3 stride-1 layers with >= 32 channels and >= 14x14 maps, as backward data\n"
            "and the weight gradient; the environment\n"
            "variable BLASTO_CONV_ALGO=direct|winograd|auto changes that rule); all = the four passes.\n\n"
            "options:\n"
            "  --repeats N   timed calls per shape (default 7)\n"
            "  --warmup N    untimed calls first (default 2)\n"
            "  --threads N   worker threads (default: BLASTO_THREADS or all cores)\n"
            "  --kernel K    GEMM micro-kernel: generic, avx2 or avx512 (default: the best this CPU has)\n"
            "  --help        this text\n");
}

int cmd_bench(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *what = argv[1];
    if (strcmp(what, "infer") == 0 || strcmp(what, "train") == 0) return bench_model_command(argc, argv);
    if (strcmp(what, "gemm") != 0 && strcmp(what, "conv") != 0) {
        fprintf(stderr, "blasto bench: unknown benchmark '%s' (expected gemm, conv, infer or train)\n", what);
        return 2;
    }
    bench_options opt = {.repeats = 7, .warmup = 2, .threads = 0, .kernel = NULL};
    static int gemm_shapes[MAX_SHAPES][3];
    int gemm_count = 0, conv_shape[8], have_conv_shape = 0, passes = 15;
    parse_gemm_shapes("resnet50", gemm_shapes, &gemm_count);
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        long number = 0;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(arg, "--repeats") == 0) {
            if (cli_parse_int("bench", arg, value, 1, 100000, &number)) return 2;
            opt.repeats = (int)number, i++;
        } else if (strcmp(arg, "--warmup") == 0) {
            if (cli_parse_int("bench", arg, value, 0, 100000, &number)) return 2;
            opt.warmup = (int)number, i++;
        } else if (strcmp(arg, "--threads") == 0) {
            if (cli_parse_int("bench", arg, value, 1, 1024, &opt.threads)) return 2;
            i++;
        } else if (strcmp(arg, "--kernel") == 0 && value) {
            bl_gemm_kernel_kind kind;
            if (parse_kernel_name(value, &kind)) return 2;
            opt.kernel = value, i++;
        } else if (strcmp(arg, "--shapes") == 0 && value && strcmp(what, "gemm") == 0) {
            if (parse_gemm_shapes(value, gemm_shapes, &gemm_count)) return 2;
            i++;
        } else if (strcmp(arg, "--shape") == 0 && value && strcmp(what, "conv") == 0) {
            if (parse_conv_shape(value, conv_shape)) return 2;
            have_conv_shape = 1, i++;
        } else if (strcmp(arg, "--pass") == 0 && value && strcmp(what, "conv") == 0) {
            if (strcmp(value, "forward") == 0) passes = 1;
            else if (strcmp(value, "forward-eval") == 0) passes = 8;
            else if (strcmp(value, "backward-data") == 0) passes = 2;
            else if (strcmp(value, "backward-filter") == 0) passes = 4;
            else if (strcmp(value, "all") == 0) passes = 15;
            else {
                fprintf(stderr, "blasto bench: --pass: expected forward, forward-eval, backward-data, backward-filter "
                                "or all, "
                                "got '%s'\n", value);
                return 2;
            }
            i++;
        } else {
            fprintf(stderr, "blasto bench: %s: unknown or incomplete option '%s' (blasto bench --help)\n", what, arg);
            return 2;
        }
    }
    if (strcmp(what, "gemm") == 0) return bench_gemm(&opt, gemm_shapes, gemm_count);
    if (have_conv_shape) return bench_conv(&opt, (const int(*)[8])&conv_shape, 1, passes);
    return bench_conv(&opt, resnet50_conv_shapes, (int)(sizeof resnet50_conv_shapes / sizeof resnet50_conv_shapes[0]),
                      passes);
}
