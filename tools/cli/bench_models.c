/* bench_models.c — `blasto bench infer|train`: whole-model throughput (images per second) of the three backbones.
 *
 * What it is: a timing harness around bl_model_forward. The model gets deterministic random weights
 * (bl_model_fill_deterministic) and the ImageNet head; the input is uniform noise in [−1, 1).
 *   infer: eval mode, BN on its running statistics (BL_BN_RUNNING), grad mode off — one forward per step.
 *   train: training mode (BN batch statistics + running update, dropout active), forward, backward, one SGD step
 *          (lr 1e-4, momentum 0.9) and zero_grad per step. The loss is L = Σ_{n,k} R[n,k]·logits[n,k] with a fixed
 *          random R [N,1000] (uniform in [−1/N, 1/N)), i.e. backward is seeded with ∂L/∂logits = R through
 *          bl_backward_with — no loss op at all, so the timed work is the backbone's. PyTorch's twin
 *          (tools/bench/pytorch_models.py) does logits.backward(R), the same work.
 * Each step runs `warmup` untimed times, then `repeats` timed times; one line per timed step, then the medians and
 * the final line `img/s: <median>` (batch / median step time), which scripts rely on.
 *
 * FLOPs are counted, not estimated from a table: during a one-image forward before the warm-up (gradients off, not
 * timed; one image so that the hooked, unfused network does not size the step arena) the activation hook records the output
 * shape of every module whose parameter `<path>.weight` has 2 or more dimensions (every conv and linear layer), and
 * FLOPs = Σ 2·MACs = Σ 2 · numel(output) · (numel(weight) / out_channels). BN, ReLU, pooling, additions and
 * concatenations are not counted (as in the usual published 4.1 GMAC for ResNet50). Training counts 3× forward:
 * forward, backward data and backward filter each cost one forward's MACs (the stem's backward data is skipped in
 * practice, so 3× slightly overstates training GFLOP/s — by 1–2 % for these networks).
 *
 * What it is not: a profiler (no per-layer times) or a correctness check (the golden tests are). */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_models.h"
#include "commands.h"
#include "core/cpu/cpu.h"
#include "core/cpu/cpu_features.h"
#include "core/optim.h"
#include "core/rng.h"
#include "core/cpu/threads.h"
#include "models/models.h"
#include "core/device.h"
#include "study/files.h"

typedef struct model_bench_options {
    int training;        /* 0: infer, 1: train */
    const char *arch_name;
    int batch, size, warmup, repeats;
    long threads;
    const char *backend; /* "cpu" | "ref" */
    const char *device;  /* "cpu" | "cuda" */
    int deterministic, tf32; /* cuda only */
} model_bench_options;

/* One conv or linear layer found in the model: the module path is the weight's name minus ".weight". */
typedef struct counted_layer {
    const char *weight_name;
    size_t path_length;
    int64_t macs_per_output; /* numel(weight) / out_channels = Cin·kh·kw (conv) or in_features (linear) */
    int64_t macs;            /* accumulated over the hooked forward */
    int reported;
} counted_layer;

typedef struct flop_counter {
    counted_layer *layers;
    int count;
} flop_counter;

static int compare_doubles(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* seconds[count] (sorted in place) → median (mean of the two middle values when count is even). */
static double median_of(double *seconds, int count) {
    qsort(seconds, (size_t)count, sizeof(double), compare_doubles);
    return count % 2 ? seconds[count / 2] : 0.5 * (seconds[count / 2 - 1] + seconds[count / 2]);
}

static double peak_rss_mib(void) {
    struct rusage usage;
    if (getrusage(RUSAGE_SELF, &usage) != 0) return 0.0;
    return (double)usage.ru_maxrss / 1024.0; /* Linux reports KiB */
}

/* The model's conv/linear weights (ndim ≥ 2, name ending in ".weight") → counter->layers. 0 or 1 (out of memory). */
static int flop_counter_init(flop_counter *counter, const bl_model *model) {
    int total = bl_model_tensor_count(model);
    counter->count = 0;
    counter->layers = calloc((size_t)(total > 0 ? total : 1), sizeof *counter->layers);
    if (!counter->layers) return 1;
    static const char suffix[] = ".weight";
    const size_t suffix_length = sizeof suffix - 1;
    for (int i = 0; i < total; i++) {
        const bl_tensor *t = bl_model_tensor_at(model, i);
        if (!t || !t->name || t->ndim < 2 || t->shape[0] < 1) continue;
        size_t length = strlen(t->name);
        if (length <= suffix_length || strcmp(t->name + length - suffix_length, suffix) != 0) continue;
        counted_layer *layer = &counter->layers[counter->count++];
        layer->weight_name = t->name;
        layer->path_length = length - suffix_length;
        layer->macs_per_output = t->numel / t->shape[0];
    }
    return 0;
}

/* Activation hook: t is the output [N,Cout,Ho,Wo] or [N,out] of the module at `path`. */
static void flop_counter_hook(void *user, const char *path, const bl_tensor *t) {
    flop_counter *counter = user;
    for (int i = 0; i < counter->count; i++) {
        counted_layer *layer = &counter->layers[i];
        if (strncmp(path, layer->weight_name, layer->path_length) == 0 && path[layer->path_length] == '\0') {
            layer->macs += t->numel * layer->macs_per_output;
            layer->reported = 1;
            return;
        }
    }
}

/* Total forward FLOPs (2·MACs) of the hooked forward, or −1 when a layer reported no output (*missing names it). */
static double flop_counter_total(const flop_counter *counter, const char **missing) {
    double macs = 0.0;
    for (int i = 0; i < counter->count; i++) {
        if (!counter->layers[i].reported) {
            *missing = counter->layers[i].weight_name;
            return -1.0;
        }
        macs += (double)counter->layers[i].macs;
    }
    return 2.0 * macs;
}

/* count floats uniform in [lo, hi) from the test stream (seed 1, index). */
static float *random_floats(int64_t count, uint64_t index, float lo, float hi) {
    float *x = malloc(sizeof(float) * (size_t)(count > 0 ? count : 1));
    if (!x) return NULL;
    bl_rng rng = bl_rng_stream(1, BL_RNG_TEST, index);
    for (int64_t i = 0; i < count; i++) x[i] = bl_rng_uniform_range(&rng, lo, hi);
    return x;
}

/* "25557032" → "25,557,032" */
static const char *with_thousands(int64_t value, char *buf, size_t size) {
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%lld", (long long)value), out = 0;
    for (int i = 0; i < n && (size_t)out + 2 < size; i++) {
        if (i > 0 && digits[0] != '-' && (n - i) % 3 == 0) buf[out++] = ',';
        buf[out++] = digits[i];
    }
    buf[out] = '\0';
    return buf;
}

static void model_bench_usage(FILE *out) {
    fprintf(out,
            "usage: blasto bench infer --arch A [--batch N] [--size S] [options]\n"
            "       blasto bench train --arch A [--batch N] [--size S] [options]\n\n"
            "Times a whole network on random input with deterministic random weights and the ImageNet head.\n"
            "  infer  eval mode, BN running statistics, no gradients: one forward per step.\n"
            "  train  training mode: forward, backward of L = sum(R * logits) for a fixed random R [N,1000]\n"
            "         (no loss op: the work is the backbone's), SGD step (lr 1e-4, momentum 0.9), zero_grad.\n"
            "Prints one line per timed step, the median GFLOP/s (FLOPs = 2*MACs of every conv and linear layer,\n"
            "counted from the layer shapes during the first forward; training counts 3x forward), the peak\n"
            "resident memory, and last the line `img/s: <median>` (batch / median step time).\n\n"
            "options:\n"
            "  --arch A        vgg16, resnet50, resnet50-keras or densenet121 (required)\n"
            "  --batch N       images per step (default 8)\n"
            "  --size S        input height and width, 32 ... 2048 (default 224)\n"
            "  --warmup W      untimed steps first (default 2: step 1 grows the step arena, step 2 page-faults\n"
            "                  its consolidated chunk in; from step 3 on a step allocates nothing)\n"
            "  --repeats R     timed steps (default 5)\n"
            "  --threads T     worker threads (default: BLASTO_THREADS or all cores)\n"
            "  --backend B     cpu (default, packed SIMD GEMM) or ref (the plain-loop oracle: very slow)\n"
            "  --device D      cpu (default) or cuda (one GPU; a build configured with -DBLASTO_CUDA=ON)\n"
            "  --deterministic cuda: deterministic algorithms only    --tf32  cuda: allow TF32 math\n"
            "  --help          this text\n\n"
            "tools/bench/models_vs_pytorch.sh compares these numbers with PyTorch CPU (docs/benchmarks.md).\n");
}

/* argv[2…] → opt. 0, or 2 after printing the usage error; *help set when --help was given. */
static int parse_model_bench_options(int argc, char **argv, model_bench_options *opt, int *help) {
    *help = 0;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        long number = 0;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            *help = 1;
            return 0;
        } else if (strcmp(arg, "--arch") == 0 && value) {
            bl_arch arch;
            if (bl_arch_from_name(value, &arch) != BL_OK) {
                fprintf(stderr, "blasto bench: %s\n", bl_last_error()); /* "arch: unknown … (expected …)" */
                return 2;
            }
            opt->arch_name = value, i++;
        } else if (strcmp(arg, "--batch") == 0) {
            if (cli_parse_int("bench", arg, value, 1, 4096, &number)) return 2;
            opt->batch = (int)number, i++;
        } else if (strcmp(arg, "--size") == 0) {
            if (cli_parse_int("bench", arg, value, 32, 2048, &number)) return 2;
            opt->size = (int)number, i++;
        } else if (strcmp(arg, "--warmup") == 0) {
            if (cli_parse_int("bench", arg, value, 0, 100000, &number)) return 2;
            opt->warmup = (int)number, i++;
        } else if (strcmp(arg, "--repeats") == 0) {
            if (cli_parse_int("bench", arg, value, 1, 100000, &number)) return 2;
            opt->repeats = (int)number, i++;
        } else if (strcmp(arg, "--threads") == 0) {
            if (cli_parse_int("bench", arg, value, 1, 1024, &opt->threads)) return 2;
            i++;
        } else if (strcmp(arg, "--backend") == 0 && value) {
            if (strcmp(value, "cpu") != 0 && strcmp(value, "ref") != 0) {
                fprintf(stderr, "blasto bench: --backend: expected cpu or ref, got '%s'\n", value);
                return 2;
            }
            opt->backend = value, i++;
        } else if (strcmp(arg, "--deterministic") == 0) {
            opt->deterministic = 1;
        } else if (strcmp(arg, "--tf32") == 0) {
            opt->tf32 = 1;
        } else if (strcmp(arg, "--device") == 0 && value) {
            if (strcmp(value, "cpu") != 0 && strcmp(value, "cuda") != 0) {
                fprintf(stderr, "blasto bench: --device: expected cpu or cuda, got '%s'\n", value);
                return 2;
            }
            opt->device = value, i++;
        } else {
            fprintf(stderr, "blasto bench: %s: unknown or incomplete option '%s' (blasto bench %s --help)\n", argv[1],
                    arg, argv[1]);
            return 2;
        }
    }
    if (!opt->arch_name) {
        fprintf(stderr, "blasto bench: %s: --arch is required (expected vgg16, resnet50, resnet50-keras or "
                        "densenet121)\n", argv[1]);
        return 2;
    }
    return 0;
}

/* One step on input [N,3,S,S] (copied into the step arena), timed without the copy. Returns seconds, or −1 with
 * the context's error set. loss_weights [N,1000] is R of the training loss (unused for inference). */
static double run_step(bl_ctx *ctx, const bl_model *model, const bl_run *run, bl_optimizer *sgd,
                       const model_bench_options *opt, const float *input, const float *loss_weights) {
    int input_shape[4] = {opt->batch, 3, opt->size, opt->size};
    bl_tensor *x = bl_tensor_from(ctx, 4, input_shape, input);
    if (!x) return -1.0;
    double start = bl_seconds_now();
    bl_tensor *logits = bl_model_forward(model, run, x);
    if (opt->training && logits) {
        if (bl_backward_with(ctx, logits, loss_weights) == BL_OK) bl_optimizer_step(sgd);
        bl_zero_grad(ctx);
    }
    if (bl_ctx_status(ctx) == BL_OK && !logits) bl_fail(BL_ERR_INVALID, "bench: the forward returned no output");
    if (logits && !bl_ctx_host_memory(ctx)) { /* a device runs asynchronously: wait for the step's last kernel */
        float probe;
        bl_ctx_kernels(ctx)->download(&probe, logits->data, sizeof probe);
    }
    int failed = bl_ctx_status(ctx) != BL_OK || !logits;
    bl_step_end(ctx);
    double elapsed = bl_seconds_now() - start;
    return failed ? -1.0 : elapsed;
}

/* The timed loop; prints per-step lines and the summary. 0 or 1 (runtime error, message printed). */
static int time_model(bl_ctx *ctx, const bl_model *model, bl_optimizer *sgd, const model_bench_options *opt) {
    const int64_t input_count = (int64_t)opt->batch * 3 * opt->size * opt->size;
    float *input = random_floats(input_count, 0, -1.0f, 1.0f);
    float *loss_weights = random_floats((int64_t)opt->batch * 1000, 1, -1.0f / (float)opt->batch,
                                        1.0f / (float)opt->batch);
    double *seconds = malloc(sizeof(double) * (size_t)opt->repeats);
    flop_counter counter = {0};
    if (!input || !loss_weights || !seconds || flop_counter_init(&counter, model)) {
        fprintf(stderr, "blasto bench: out of memory for the input (%.1f MB)\n", 4e-6 * (double)input_count);
        free(input), free(loss_weights), free(seconds), free(counter.layers);
        return 1;
    }
    bl_run run = {.ctx = ctx, .bn_mode = opt->training ? BL_BN_FOLLOW_CONTEXT : BL_BN_RUNNING,
                  .hook = flop_counter_hook, .hook_user = &counter};
    double flops_per_step = 0.0;
    int status = 0;
    /* The counting forward: ONE image, gradients off, untimed, before the warm-up. One image because the hook
     * makes layers skip their fused inference paths (a hook wants every module's output), so a full batch here
     * would size the step arena — and the peak RSS reported below — for the unfused network; FLOPs scale with the
     * batch exactly. */
    model_bench_options counting = *opt;
    counting.batch = 1, counting.training = 0;
    int grad_was = bl_grad_enabled(ctx);
    bl_set_grad_enabled(ctx, 0);
    if (run_step(ctx, model, &run, sgd, &counting, input, loss_weights) < 0.0) {
        fprintf(stderr, "blasto bench: %s\n", bl_ctx_status(ctx) ? bl_ctx_error(ctx) : bl_last_error());
        status = 1;
    }
    bl_set_grad_enabled(ctx, grad_was);
    run.hook = NULL;
    for (int r = 0; status == 0 && r < opt->warmup + opt->repeats; r++) {
        int timed = r >= opt->warmup;
        if (!timed) fprintf(stderr, "blasto bench: warm-up step %d of %d\n", r + 1, opt->warmup);
        double elapsed = run_step(ctx, model, &run, sgd, opt, input, loss_weights);
        if (elapsed < 0.0) {
            fprintf(stderr, "blasto bench: %s\n", bl_ctx_status(ctx) ? bl_ctx_error(ctx) : bl_last_error());
            status = 1;
            break;
        }
        if (r == 0) { /* report the model's size once, from the counting forward */
            const char *missing = NULL;
            double forward_flops = flop_counter_total(&counter, &missing) * opt->batch;
            char parameters[32];
            with_thousands(bl_model_parameter_count(model), parameters, sizeof parameters);
            if (forward_flops < 0.0) {
                printf("# model: %s parameters; FLOPs unknown: layer '%.*s' reported no output\n", parameters,
                       (int)strlen(missing) - 7, missing);
            } else {
                flops_per_step = forward_flops * (opt->training ? 3.0 : 1.0);
                printf("# model: %s parameters, %d conv/linear layers; forward FLOPs per image: %.0f "
                       "(%.3f GFLOP, 2*MACs); per %s step: %.3f GFLOP\n",
                       parameters, counter.count, forward_flops / opt->batch, forward_flops / opt->batch / 1e9,
                       opt->training ? "training (3x forward)" : "inference", flops_per_step / 1e9);
            }
        }
        if (timed) {
            int i = r - opt->warmup;
            seconds[i] = elapsed;
            printf("step %d of %d: %.4f s  %.3f img/s", i + 1, opt->repeats, elapsed, opt->batch / elapsed);
            if (flops_per_step > 0.0) printf("  %.1f GFLOP/s", flops_per_step / elapsed / 1e9);
            printf("\n");
            fflush(stdout);
        }
    }
    if (status == 0) {
        double median = median_of(seconds, opt->repeats);
        printf("time per step: median %.4f s, min %.4f, max %.4f (%d timed steps)\n", median, seconds[0],
               seconds[opt->repeats - 1], opt->repeats);
        if (flops_per_step > 0.0) printf("GFLOP/s: %.1f\n", flops_per_step / median / 1e9);
        printf("peak RSS: %.1f MiB\n", peak_rss_mib());
        if (!bl_ctx_host_memory(ctx))
            printf("peak device memory: %.1f MiB\n", (double)bl_device_peak_bytes(bl_ctx_kernels(ctx)) / 1048576.0);
        printf("img/s: %.3f\n", opt->batch / median);
    }
    free(input), free(loss_weights), free(seconds), free(counter.layers);
    return status;
}

int bench_model_command(int argc, char **argv) {
    model_bench_options opt = {.training = strcmp(argv[1], "train") == 0, .arch_name = NULL, .batch = 8, .size = 224,
                               .warmup = 2, .repeats = 5, .threads = 0, .backend = "cpu", .device = "cpu"};
    int help = 0, rc = parse_model_bench_options(argc, argv, &opt, &help);
    if (rc) return rc;
    if (help) {
        model_bench_usage(stdout);
        return 0;
    }
    if (strcmp(opt.device, "cuda") == 0) opt.backend = "cuda"; /* --backend picks CPU kernels only */
    const bl_kernels *kernels = NULL;
    if (bl_device_open(opt.backend, opt.deterministic, opt.tf32, &kernels) != BL_OK) {
        fprintf(stderr, "blasto bench: %s\n", bl_last_error());
        return 1;
    }
    if (cli_apply_threads("bench", opt.threads)) return 1;
    bl_arch arch;
    bl_arch_from_name(opt.arch_name, &arch); /* validated while parsing */
    const int cpu_backend = strcmp(opt.backend, "cpu") == 0;
    printf("# blasto bench %s: arch %s, batch %d, size %dx%d, backend %s (gemm kernel %s), threads %d, cpu %s, "
           "warmup %d, repeats %d\n",
           argv[1], bl_arch_name(arch), opt.batch, opt.size, opt.size, opt.backend,
           cpu_backend ? bl_gemm_kernel_name(bl_kernels_cpu_options(bl_kernels_cpu())->simd) : "none", bl_threads_get(), bl_cpu_features(), opt.warmup,
           opt.repeats);
    if (opt.training)
        printf("# train step: forward (BN batch statistics, dropout on), backward of sum(R*logits), SGD lr 1e-4 "
               "momentum 0.9, zero_grad\n");
    else
        printf("# infer step: forward only, eval mode, BN running statistics, no gradients\n");
    fflush(stdout);
    fprintf(stderr, "blasto bench: building %s with deterministic random weights\n", bl_arch_name(arch));

    bl_ctx *ctx = NULL;
    bl_model *model = NULL;
    bl_optimizer *sgd = NULL;
    int status = 0;
    if (bl_ctx_create(kernels, &ctx) != BL_OK || bl_model_create(ctx, arch, BL_HEAD_IMAGENET, &model) != BL_OK ||
        bl_model_fill_deterministic(model, 1) != BL_OK) {
        fprintf(stderr, "blasto bench: %s\n", ctx && bl_ctx_status(ctx) ? bl_ctx_error(ctx) : bl_last_error());
        status = 1;
    } else {
        bl_set_training(ctx, opt.training);
        bl_set_grad_enabled(ctx, opt.training);
        if (opt.training && bl_sgd_create(ctx, 1e-4f, 0.9f, 0.0f, 0.0f, 0, &sgd) != BL_OK) {
            fprintf(stderr, "blasto bench: %s\n", bl_last_error());
            status = 1;
        }
    }
    if (status == 0) status = time_model(ctx, model, sgd, &opt);
    bl_optimizer_free(sgd);
    if (model) bl_model_free(model);
    bl_ctx_free(ctx);
    return status;
}
