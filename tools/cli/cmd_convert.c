/* cmd_convert.c — `blasto convert IN OUT --from torchvision|timm|keras [--arch A]`: turn a checkpoint of another
 * framework (already in safetensors form: tools/export_torchvision.py makes one from a .pth) into blasto weights.
 *
 * Steps: read and validate IN (core/safetensors.c) → map every name (tools/cli/weights_map.c: DenseNet old keys, timm's
 * VGG head, drop num_batches_tracked) → infer the architecture from the names, or check that --arch agrees with
 * them → build that architecture with its ImageNet head in a context (models/models.h) and check every tensor
 * against it: present once, same shape, a float dtype; nothing extra → copy as float32, refusing NaN/Inf → write
 * OUT with bl_model_save (atomic: temp + rename) and __metadata__ arch, variant, source, converter_version,
 * source_file, and the export script's provenance keys when IN has them (exporter, origin, origin_md5,
 * keras_version, keras_layout, keras_layer_names). Any failure is one line "blasto convert: <IN>: <tensor>: <problem> (expected …, got …)", exit 1,
 * and OUT is not touched. Not here: downloading weights (docs/weights.md says where they come from). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "core/fileio.h"
#include "study/files.h"
#include "core/autograd.h"
#include "core/build_info.h"
#include "core/kernels.h"
#include "core/safetensors.h"
#include "models/models.h"
#include "core/device.h"
#include "weights_map.h"

/* Version of the name/shape rules above; recorded in every converted file's __metadata__. */
#define CONVERTER_VERSION "1"

static const char *const convert_usage =
    "usage: blasto convert IN.safetensors OUT.safetensors --from torchvision|timm|keras [--arch A] [--quiet]\n"
    "\n"
    "Convert ImageNet weights exported from torchvision / timm (or Keras, via tools/export_keras_h5.py) into\n"
    "blasto weights: names are mapped, every tensor is checked against the architecture, OUT is written with\n"
    "__metadata__ {arch, variant, source, converter_version, source_file} (and the export script's origin,\n"
    "origin_md5, keras_version, keras_layout when IN has them).\n"
    "\n"
    "  --from S     where IN comes from: torchvision (state_dict keys; DenseNet's old `norm.1` keys are renamed),\n"
    "               timm (as torchvision, plus VGG's pre_logits.fc1/fc2 + head.fc → classifier.0/3/6),\n"
    "               keras (a file written by tools/export_keras_h5.py)\n"
    "  --arch A     vgg16 | resnet50 | resnet50-keras | densenet121. Without it the architecture is inferred from\n"
    "               the tensor names and said; with it, names that look like another architecture are refused.\n"
    "               resnet50 (torchvision, v1.5) and resnet50-keras (v1) differ in conv biases and stride place.\n"
    "  --quiet      no progress on stderr\n"
    "\n"
    "IN: any safetensors file (make one from a .pth with tools/export_torchvision.py). `*.num_batches_tracked`\n"
    "is dropped; F16/BF16/F64 tensors are converted to F32; integer tensors, missing or extra tensors, wrong\n"
    "shapes and non-finite values are errors. OUT is written only when everything checks (exit 0), else one\n"
    "line on stderr and exit 1 (2 for bad usage). docs/weights.md lists real weight files and their commands.\n";

/* One tensor of IN with its blasto name; `model_index` is the model tensor it fills (−1: none yet). */
typedef struct source_tensor {
    const bl_st_entry *entry;
    wm_mapping map;
    int mapped_ndim;
    int64_t mapped_shape[BL_MAX_DIMS];
    int model_index;
} source_tensor;

typedef struct convert_job {
    const char *in_path, *out_path;
    wm_source source;
    int have_arch, quiet;
    bl_arch arch;
    bl_safetensors *st;
    source_tensor *tensors; /* [n_tensors], in IN's data order */
    int n_tensors, n_renamed, n_reshaped, n_dropped;
    wm_guess guess;
} convert_job;

static void progress(const convert_job *job, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void progress(const convert_job *job, const char *fmt, ...) {
    if (job->quiet) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "blasto convert: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int fail_line(const char *message) {
    fprintf(stderr, "blasto convert: %s\n", message);
    return 1;
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int is_float_dtype(bl_dtype d) {
    return d == BL_DTYPE_F32 || d == BL_DTYPE_F16 || d == BL_DTYPE_BF16 || d == BL_DTYPE_F64;
}

/* Map every name of IN; refuse two source tensors that land on one blasto name. */
static bl_status map_names(convert_job *job) {
    int count = bl_safetensors_count(job->st);
    job->tensors = calloc((size_t)(count > 0 ? count : 1), sizeof *job->tensors);
    if (!job->tensors) return bl_fail(BL_ERR_NOMEM, "convert: out of memory for %d tensor names", count);
    for (int i = 0; i < count; i++) {
        source_tensor *t = &job->tensors[job->n_tensors];
        t->entry = bl_safetensors_entry(job->st, i);
        t->model_index = -1;
        if (wm_map_name(job->source, t->entry->name, &t->map) != BL_OK)
            return bl_fail(BL_ERR_FORMAT, "%s: %s", job->in_path, bl_last_error());
        if (t->map.rule == WM_RULE_DROP_BN_COUNTER) {
            job->n_dropped++;
            continue;
        }
        wm_mapped_shape(&t->map, t->entry->ndim, t->entry->shape, &t->mapped_ndim, t->mapped_shape);
        job->n_renamed += t->map.rule != WM_RULE_SAME;
        job->n_reshaped += t->map.flatten;
        for (int j = 0; j < job->n_tensors; j++)
            if (strcmp(job->tensors[j].map.name, t->map.name) == 0)
                return bl_fail(BL_ERR_FORMAT, "%s: %s: duplicate after renaming (expected one tensor named %s, got "
                               "%s and %s)", job->in_path, t->entry->name, t->map.name, job->tensors[j].entry->name,
                               t->entry->name);
        job->n_tensors++;
    }
    return BL_OK;
}

/* Infer the architecture from the mapped names, or check --arch (and IN's own __metadata__ arch) against them. */
static bl_status settle_arch(convert_job *job) {
    wm_tensor *view = calloc((size_t)(job->n_tensors > 0 ? job->n_tensors : 1), sizeof *view);
    if (!view) return bl_fail(BL_ERR_NOMEM, "convert: out of memory");
    for (int i = 0; i < job->n_tensors; i++) {
        view[i].name = job->tensors[i].map.name;
        view[i].ndim = job->tensors[i].mapped_ndim;
        memcpy(view[i].shape, job->tensors[i].mapped_shape, sizeof view[i].shape);
    }
    wm_guess_arch(job->n_tensors, view, &job->guess);
    free(view);
    const wm_guess *g = &job->guess;
    if (!job->have_arch) {
        if (!g->known)
            return bl_fail(BL_ERR_FORMAT, "%s: architecture: cannot infer one blasto builds (expected vgg16, "
                           "resnet50, resnet50-keras or densenet121, got tensors that look like %s)",
                           job->in_path, g->description);
        job->arch = g->arch;
    } else if (g->family >= 0 && (!g->known || g->arch != job->arch)) {
        /* A recognisable family that is not the requested architecture: refuse before any tensor check, with
         * what it looks like. An unrecognisable name set falls through to the per-tensor check instead. */
        return bl_fail(BL_ERR_FORMAT, "%s: architecture mismatch (expected %s from --arch, got tensors that look "
                       "like %s)", job->in_path, bl_arch_name(job->arch), g->description);
    }
    if (job->source == WM_SOURCE_KERAS && job->arch == BL_ARCH_RESNET50)
        return bl_fail(BL_ERR_FORMAT, "%s: architecture mismatch (expected resnet50-keras for --from keras: Keras "
                       "ResNet50 is v1 with conv biases, got %s)", job->in_path, g->description);
    const char *meta_arch = bl_safetensors_metadata(job->st, "arch");
    if (meta_arch && strcmp(meta_arch, bl_arch_name(job->arch)) != 0)
        return bl_fail(BL_ERR_FORMAT, "%s: __metadata__ arch: mismatch (expected %s, got %s)", job->in_path,
                       bl_arch_name(job->arch), meta_arch);
    return BL_OK;
}

/* Everything that is wrong, counted per kind; the message reports the first of the first kind found and the
 * totals. The order (missing, unexpected, shape, dtype) puts the most telling problem first. */
typedef struct check_report {
    int missing, extra, shape, dtype;
    char first[4][512];
} check_report;

static void note(check_report *r, int kind, int *counter, const char *text) {
    if ((*counter)++ == 0) snprintf(r->first[kind], sizeof r->first[kind], "%s", text);
}

/* Check IN's mapped tensors against the model's (state_dict order); sets model_index on every match. */
static bl_status check_tensors(convert_job *job, const bl_model *model) {
    check_report r;
    memset(&r, 0, sizeof r);
    char text[512], want[96], got[96];
    int n_model = bl_model_tensor_count(model), missing_head_only = 1;
    for (int i = 0; i < n_model; i++) {
        const bl_tensor *mt = bl_model_tensor_at(model, i);
        int64_t model_shape[BL_MAX_DIMS];
        for (int d = 0; d < mt->ndim; d++) model_shape[d] = mt->shape[d];
        wm_shape_str(mt->ndim, model_shape, want, sizeof want);
        source_tensor *found = NULL;
        for (int j = 0; j < job->n_tensors && !found; j++)
            if (strcmp(job->tensors[j].map.name, mt->name) == 0) found = &job->tensors[j];
        if (!found) {
            snprintf(text, sizeof text, "%s: %s: missing (expected F32 %s for %s, got no such tensor)", job->in_path,
                     mt->name, want, bl_arch_name(job->arch));
            note(&r, 0, &r.missing, text);
            missing_head_only &= strncmp(mt->name, "fc.", 3) == 0 || strncmp(mt->name, "classifier.", 11) == 0;
            continue;
        }
        found->model_index = i;
        const bl_st_entry *e = found->entry;
        int same = found->mapped_ndim == mt->ndim;
        for (int d = 0; same && d < mt->ndim; d++) same = found->mapped_shape[d] == mt->shape[d];
        if (!same) {
            wm_shape_str(e->ndim, e->shape, got, sizeof got);
            snprintf(text, sizeof text, "%s: %s: wrong shape (expected %s, got %s)", job->in_path, e->name, want, got);
            note(&r, 2, &r.shape, text);
        }
        if (!is_float_dtype(e->dtype)) {
            snprintf(text, sizeof text, "%s: %s: wrong dtype (expected a float type F32, F16, BF16 or F64, got %s)",
                     job->in_path, e->name, bl_dtype_name(e->dtype));
            note(&r, 3, &r.dtype, text);
        }
    }
    int timm_names = 0;
    for (int j = 0; j < job->n_tensors; j++) {
        if (job->tensors[j].model_index >= 0) continue;
        const char *name = job->tensors[j].entry->name;
        timm_names |= strncmp(name, "pre_logits.", 11) == 0 || strncmp(name, "head.fc.", 8) == 0;
        if (job->tensors[j].map.rule == WM_RULE_SAME)
            snprintf(text, sizeof text, "%s: %s: unexpected tensor (expected only the %d tensors of %s, got this one "
                     "too)", job->in_path, name, n_model, bl_arch_name(job->arch));
        else
            snprintf(text, sizeof text, "%s: %s: unexpected tensor (renamed %s; expected only the %d tensors of %s, "
                     "got this one too)", job->in_path, name, job->tensors[j].map.name, n_model,
                     bl_arch_name(job->arch));
        note(&r, 1, &r.extra, text);
    }
    int total = r.missing + r.extra + r.shape + r.dtype;
    if (total == 0) return BL_OK;
    int kind = r.missing ? 0 : r.extra ? 1 : r.shape ? 2 : 3;
    char hint[160] = "";
    if (timm_names && job->source != WM_SOURCE_TIMM)
        snprintf(hint, sizeof hint, " — IN has timm's VGG head names (pre_logits.*, head.fc.*): use --from timm");
    else if (kind == 0 && missing_head_only)
        snprintf(hint, sizeof hint, " — IN has no ImageNet classifier (a notop/headless export?); convert needs "
                 "the full model");
    if (total == 1) return bl_fail(BL_ERR_FORMAT, "%s%s", r.first[kind], hint);
    return bl_fail(BL_ERR_FORMAT, "%s%s [%d problems in all: %d missing, %d unexpected, %d wrong shape, %d wrong "
                   "dtype; `blasto inspect` lists IN]", r.first[kind], hint, total, r.missing, r.extra, r.shape,
                   r.dtype);
}

/* Copy every source tensor into its model tensor as float32 (converting F16/BF16/F64), refusing NaN/Inf. */
static bl_status copy_tensors(convert_job *job, const bl_model *model) {
    double total = 0, done = 0, next_report = 0.25;
    int64_t largest = 1;
    for (int j = 0; j < job->n_tensors; j++) {
        total += (double)(job->tensors[j].entry->end - job->tensors[j].entry->begin);
        int64_t numel = bl_model_tensor_at(model, job->tensors[j].model_index)->numel;
        if (numel > largest) largest = numel;
    }
    int report = total > 64e6;
    float *values = malloc((size_t)largest * sizeof *values); /* host staging: the model's memory is the backend's */
    if (!values) return bl_fail(BL_ERR_NOMEM, "out of memory for %lld floats", (long long)largest);
    for (int j = 0; j < job->n_tensors; j++) {
        const source_tensor *t = &job->tensors[j];
        bl_tensor *mt = bl_model_tensor_at(model, t->model_index);
        bl_status st = bl_safetensors_read_f32(job->st, t->entry->name, -1, NULL, mt->numel, values);
        size_t name_len = strlen(mt->name);
        if (!st && name_len > 12 && !strcmp(mt->name + name_len - 12, ".running_var"))
            st = bl_check_variances(job->st, t->entry->name, mt->numel);
        for (int64_t k = 0; !st && k < mt->numel; k++)
            if (!isfinite(values[k]))
                st = bl_fail(BL_ERR_NUMERIC, "%s: %s: element %lld is %s (expected finite weights, got %g)",
                             job->in_path, t->entry->name, (long long)k, isnan(values[k]) ? "NaN" : "infinite",
                             (double)values[k]);
        if (!st) st = bl_tensor_upload(bl_model_ctx(model), mt, values);
        if (st) {
            free(values);
            return st;
        }
        done += (double)(t->entry->end - t->entry->begin);
        if (report && done >= next_report * total) {
            progress(job, "copying tensors: %.0f%%", 100.0 * done / total);
            while (next_report * total <= done) next_report += 0.25;
        }
    }
    free(values);
    return BL_OK;
}

static int parse_args(int argc, char **argv, convert_job *job) {
    const char *positional[2] = {NULL, NULL};
    int n_positional = 0, have_source = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(convert_usage, stdout);
            return -1;
        } else if (strcmp(a, "--quiet") == 0) {
            job->quiet = 1;
        } else if (strcmp(a, "--from") == 0 || strcmp(a, "--arch") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "blasto convert: %s: missing value (blasto convert --help)\n", a);
                return 2;
            }
            const char *v = argv[++i];
            if (strcmp(a, "--from") == 0) {
                if (wm_source_from_name(v, &job->source) != BL_OK) {
                    fprintf(stderr, "blasto convert: %s\n", bl_last_error());
                    return 2;
                }
                have_source = 1;
            } else {
                if (bl_arch_from_name(v, &job->arch) != BL_OK) {
                    fprintf(stderr, "blasto convert: --arch: %s\n", bl_last_error());
                    return 2;
                }
                job->have_arch = 1;
            }
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "blasto convert: unknown option '%s' (blasto convert --help)\n", a);
            return 2;
        } else if (n_positional < 2) {
            positional[n_positional++] = a;
        } else {
            fprintf(stderr, "blasto convert: unexpected argument '%s' (expected IN OUT)\n", a);
            return 2;
        }
    }
    if (n_positional != 2) {
        fprintf(stderr, "blasto convert: expected IN.safetensors OUT.safetensors (blasto convert --help)\n");
        return 2;
    }
    if (!have_source) {
        fprintf(stderr, "blasto convert: --from: missing (expected torchvision, timm or keras)\n");
        return 2;
    }
    job->in_path = positional[0];
    job->out_path = positional[1];
    if (bl_output_check(job->out_path, 1, &job->in_path) != BL_OK) { /* never the input, never a device */
        fprintf(stderr, "blasto convert: OUT: %s\n", bl_last_error());
        return 2;
    }
    if (bl_check_recorded_path("IN", base_name(job->in_path)) != BL_OK) { /* __metadata__ source_file */
        fprintf(stderr, "blasto convert: %s\n", bl_last_error());
        return 2;
    }
    return 0;
}

static void print_summary(const convert_job *job, const bl_model *model) {
    int64_t params = bl_model_parameter_count(model), buffers = 0;
    for (int i = 0; i < bl_model_tensor_count(model); i++) {
        const bl_tensor *t = bl_model_tensor_at(model, i);
        if (!t->requires_grad) buffers += t->numel;
    }
    printf("converted %s -> %s\n", job->in_path, job->out_path);
    if (job->have_arch)
        printf("  arch:       %s (from --arch; the names agree: %s)\n", bl_arch_name(job->arch),
               job->guess.description);
    else
        printf("  arch:       %s (inferred from the tensor names: %s)\n", bl_arch_name(job->arch),
               job->guess.description);
    printf("  source:     %s\n", wm_source_name(job->source));
    printf("  tensors:    %d written; %d renamed, %d reshaped, %d num_batches_tracked dropped\n", job->n_tensors,
           job->n_renamed, job->n_reshaped, job->n_dropped);
    printf("  parameters: %lld (+ %lld in BatchNorm running statistics)\n", (long long)params, (long long)buffers);
}

/* Provenance: a file written by one of blasto's export scripts says so in __metadata__.exporter. The Keras script
 * maps Keras names to torchvision-style ones, so the tensors alone cannot tell a Keras export from a torchvision
 * one; the exporter can, and --from must agree with it (the output's `source` never claims what the file is not). */
static bl_status check_exporter(const convert_job *job) {
    const char *exporter = bl_safetensors_metadata(job->st, "exporter");
    if (!exporter) return BL_OK; /* not one of ours: the names (and the architecture checks) are the evidence */
    const char *says = !strcmp(exporter, "tools/export_keras_h5.py")      ? "keras"
                       : !strcmp(exporter, "tools/export_torchvision.py") ? NULL /* torchvision or timm names */
                                                                          : "";
    if (!says) return job->source == WM_SOURCE_KERAS
                          ? bl_fail(BL_ERR_FORMAT, "%s: __metadata__.exporter: written by %s (torchvision or timm "
                                    "weights), not a Keras export (expected --from torchvision or timm, got --from "
                                    "keras)", job->in_path, exporter)
                          : BL_OK;
    if (!*says) return BL_OK; /* another exporter: nothing known about it */
    if (job->source != WM_SOURCE_KERAS)
        return bl_fail(BL_ERR_FORMAT, "%s: __metadata__.exporter: written by %s, a Keras export (expected --from keras, "
                       "got --from %s)", job->in_path, exporter, wm_source_name(job->source));
    return BL_OK;
}

int cmd_convert(int argc, char **argv) {
    convert_job job;
    memset(&job, 0, sizeof job);
    int usage = parse_args(argc, argv, &job);
    if (usage) return usage < 0 ? 0 : usage;

    int rc = 1;
    bl_ctx *ctx = NULL;
    bl_model *model = NULL;
    struct stat info;
    if (stat(job.in_path, &info) == 0)
        progress(&job, "reading %s (%.1f MB)", job.in_path, (double)info.st_size / 1e6);
    if (bl_safetensors_open(job.in_path, &job.st) != BL_OK) {
        fail_line(bl_last_error());
        goto done;
    }
    if (check_exporter(&job) != BL_OK || map_names(&job) != BL_OK || settle_arch(&job) != BL_OK) {
        fail_line(bl_last_error());
        goto done;
    }
    if (!job.have_arch) progress(&job, "inferred architecture: %s", job.guess.description);
    const bl_kernels *kernels = NULL; /* the model is only a validated container: the host's cpu backend */
    if (bl_device_open("cpu", 0, 0, &kernels) != BL_OK || bl_ctx_create(kernels, &ctx) != BL_OK ||
        bl_model_create(ctx, job.arch, BL_HEAD_IMAGENET, &model) != BL_OK) {
        fail_line(bl_last_error());
        goto done;
    }
    if (check_tensors(&job, model) != BL_OK || copy_tensors(&job, model) != BL_OK) {
        fail_line(bl_last_error());
        goto done;
    }
    progress(&job, "writing %s", job.out_path);
    /* The exporter's provenance (which original file, its md5, the Keras version and layout it came in) travels
     * with the weights, so the converted file still names what it was made from. */
    static const char *const carried[] = {"exporter", "origin", "origin_md5", "keras_version", "keras_layout",
                                          "keras_layer_names"};
    const char *keys[3 + sizeof carried / sizeof *carried] = {"source", "converter_version", "source_file"};
    const char *values[3 + sizeof carried / sizeof *carried] = {wm_source_name(job.source), CONVERTER_VERSION,
                                                                base_name(job.in_path)};
    int nkeys = 3;
    for (size_t k = 0; k < sizeof carried / sizeof *carried; k++) {
        const char *value = bl_safetensors_metadata(job.st, carried[k]);
        if (value) keys[nkeys] = carried[k], values[nkeys++] = value;
    }
    if (bl_model_save(model, job.out_path, nkeys, keys, values) != BL_OK) {
        fail_line(bl_last_error());
        goto done;
    }
    print_summary(&job, model);
    rc = 0;
done:
    if (model) bl_model_free(model);
    if (ctx) bl_ctx_free(ctx);
    free(job.tensors);
    if (job.st) bl_safetensors_close(job.st);
    return rc;
}
