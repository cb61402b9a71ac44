/* cmd_infer.c — the audit commands `blasto infer` and `blasto grad`: one forward (and, for grad, one backward of a
 * given upstream gradient) of a whole ImageNet network on inputs and weights read from safetensors files, with
 * the results written to a safetensors file so they can be diffed against PyTorch (`blasto diff`).
 *
 * What it is: a thin, strict driver over models/ — parse the model flags (shared by both commands), validate the
 * input files completely BEFORE any work, build the model, load the weights (bl_model_load validates them), run,
 * write every output atomically (nothing is written unless everything succeeded). Contract: docs/cli.md.
 *
 * What it is not: a training loop (dropout is identity, optimizers are never touched) or a preprocessing tool
 * (the input is already normalised). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "core/fileio.h"
#include "core/build_info.h"
#include "core/cpu/threads.h"
#include "core/tensor_host.h"
#include "models/models.h"
#include "core/device.h"
#include "study/files.h"

#define ACTIVATIONS_FILE "activations.safetensors"
#define MIN_INPUT_SIZE 32 /* five stride-2 stages: every architecture's last feature map is then at least 1×1 */

/* ---- the model flags, shared by infer and grad ------------------------------------------------------------- */

typedef struct audit_options {
    const char *cmd;                           /* "infer" or "grad" (for messages) */
    int is_grad;
    const char *arch_name, *weights, *input, *output, *grad_output, *dump_dir, *backend, *device, *bn;
    bl_arch arch;
    bl_bn_mode bn_mode;
    long threads;
    bl_device_options dev;                     /* --device, --deterministic, --tf32 */
} audit_options;

static void infer_help(void) {
    printf("usage: blasto infer --arch A --weights W.safetensors --input X.safetensors --output Y.safetensors\n"
           "                    [--backend ref|cpu] [--device cpu|cuda] [--deterministic] [--tf32]\n"
           "                    [--bn running|batch] [--threads N] [--dump-activations DIR]\n\n"
           "One forward pass of an ImageNet network, written to a file you can diff against PyTorch.\n\n"
           "  --arch A             vgg16 | resnet50 (torchvision v1.5) | resnet50-keras (Keras v1) | densenet121\n"
           "  --weights W          safetensors with every tensor of A incl. the ImageNet head (blasto convert makes\n"
           "                       it); a metadata \"arch\" in W must equal A\n"
           "  --input X            safetensors holding `input`: float32 [N,3,H,W], already normalised, H,W >= %d,\n"
           "                       all finite (other tensors in X are ignored)\n"
           "  --output Y           written atomically: `output` float32 [N,1000] (the logits) + __metadata__\n"
           "                       (command, arch, bn, backend, device, version, weights, input)\n"
           "  --backend ref|cpu    on --device cpu: ref = the readable reference kernels, cpu = the fast kernels\n"
           "                       (default)\n"
           "  --device cpu|cuda    default cpu; cuda: one NVIDIA GPU (a build configured with -DBLASTO_CUDA=ON)\n"
           "  --deterministic      cuda: deterministic algorithms only (bitwise reproducible run to run)\n"
           "  --tf32               cuda: allow TF32 tensor-core math (off: strict fp32)\n"
           "  --bn running|batch   running: normalise with the running statistics (eval mode, default);\n"
           "                       batch: with the batch's statistics (train-mode BN), running stats untouched\n"
           "  --threads N          worker threads (default: BLASTO_THREADS or all cores); results do not depend on N\n"
           "  --dump-activations DIR\n"
           "                       also write DIR/" ACTIVATIONS_FILE " (DIR is created if missing): every\n"
           "                       module's output under its torchvision module path (`layer3.2.relu`, `fc`), in\n"
           "                       execution order. A module called k > 1 times (ResNet's `relu`) is stored as\n"
           "                       `path#1` … `path#k`, and `path` holds the last call, as a dict filled by PyTorch\n"
           "                       forward hooks would. Memory: about one more copy of the forward's activations.\n\n"
           "Dropout is the identity. Progress and timing go to stderr. Exit 0 ok, 1 input/runtime error (one line\n"
           "naming the file and tensor; no output written), 2 usage error.\n",
           MIN_INPUT_SIZE);
}

static void grad_help(void) {
    printf("usage: blasto grad --arch A --weights W.safetensors --input X.safetensors --grad-output G.safetensors\n"
           "                   --output D.safetensors [--backend ref|cpu] [--device cpu|cuda] [--deterministic]\n"
           "                   [--tf32] [--bn running|batch] [--threads N] [--dump-activations DIR]\n\n"
           "One forward pass, then the backward pass of a given upstream gradient dL/d(logits): the gradients of\n"
           "the input and of every parameter, written to a file you can diff against PyTorch's .grad.\n\n"
           "  --grad-output G      safetensors holding `grad_output`: float32 [N,1000] (N = the input's batch),\n"
           "                       all finite\n"
           "  --output D           written atomically: `grad.input` [N,3,H,W] and `grad.<name>` for every\n"
           "                       parameter (every tensor with requires_grad, in state_dict order; no BN running\n"
           "                       statistics) + __metadata__ (command, arch, bn, backend, device, version, …)\n"
           "  other flags          as `blasto infer` (see blasto infer --help); --dump-activations writes the\n"
           "                       forward's activations\n\n"
           "--bn running differentiates the eval-mode network (running statistics are constants); --bn batch the\n"
           "train-mode one (the batch statistics depend on the input), running statistics untouched. Dropout is\n"
           "the identity. Exit codes as blasto infer.\n");
}

/* Parses argv[1..argc) into o. Returns 0 ok, -1 after printing --help, 2 after a usage error. */
static int parse_audit_options(int argc, char **argv, audit_options *o) {
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            if (o->is_grad) grad_help();
            else infer_help();
            return -1;
        }
        int device_rc = cli_device_option(o->cmd, argc, argv, &i, &o->dev);
        if (device_rc == 2) return 2;
        if (device_rc == 1) continue;
        const char **slot = NULL;
        if (strcmp(opt, "--arch") == 0) slot = &o->arch_name;
        else if (strcmp(opt, "--weights") == 0) slot = &o->weights;
        else if (strcmp(opt, "--input") == 0) slot = &o->input;
        else if (strcmp(opt, "--output") == 0) slot = &o->output;
        else if (strcmp(opt, "--backend") == 0) slot = &o->backend;
        else if (strcmp(opt, "--bn") == 0) slot = &o->bn;
        else if (strcmp(opt, "--dump-activations") == 0) slot = &o->dump_dir;
        else if (strcmp(opt, "--grad-output") == 0 && o->is_grad) slot = &o->grad_output;
        else if (strcmp(opt, "--threads") == 0) {
            int rc = cli_parse_int(o->cmd, opt, i + 1 < argc ? argv[i + 1] : NULL, 1, 1024, &o->threads);
            if (rc) return rc;
            i++;
            continue;
        } else {
            fprintf(stderr, "blasto %s: unknown option '%s' (blasto %s --help)\n", o->cmd, opt, o->cmd);
            return 2;
        }
        if (i + 1 >= argc || argv[i + 1][0] == '\0') {
            fprintf(stderr, "blasto %s: %s: missing value\n", o->cmd, opt);
            return 2;
        }
        if (*slot) {
            fprintf(stderr, "blasto %s: %s: given twice\n", o->cmd, opt);
            return 2;
        }
        *slot = argv[++i];
    }

    const char *required[] = {"--arch", o->arch_name, "--weights", o->weights, "--input", o->input,
                              "--output", o->output, "--grad-output", o->is_grad ? o->grad_output : "-"};
    for (int k = 0; k < 10; k += 2)
        if (!required[k + 1]) {
            fprintf(stderr, "blasto %s: %s: required (blasto %s --help)\n", o->cmd, required[k], o->cmd);
            return 2;
        }
    if (bl_arch_from_name(o->arch_name, &o->arch) != BL_OK) {
        fprintf(stderr, "blasto %s: --arch: %s\n", o->cmd, bl_last_error());
        return 2;
    }
    int on_cuda = strcmp(o->dev.name, "cuda") == 0;
    o->device = on_cuda ? "cuda" : "cpu";
    if (o->backend && strcmp(o->backend, "cpu") != 0 && strcmp(o->backend, "ref") != 0) {
        fprintf(stderr, "blasto %s: --backend: expected ref or cpu, got '%s'\n", o->cmd, o->backend);
        return 2;
    }
    if (on_cuda && o->backend) {
        fprintf(stderr, "blasto %s: --backend %s: chooses the CPU kernels; leave it out with --device cuda\n", o->cmd,
                o->backend);
        return 2;
    }
    if (!o->backend) o->backend = on_cuda ? "cuda" : "cpu";
    /* the op table: ref or cpu on --device cpu, else the device's own */
    if (bl_device_options_set(&o->dev, on_cuda ? "cuda" : o->backend) != BL_OK) return 2;
    if (!o->bn) o->bn = "running";
    if (strcmp(o->bn, "running") == 0) o->bn_mode = BL_BN_RUNNING;
    else if (strcmp(o->bn, "batch") == 0) o->bn_mode = BL_BN_BATCH;
    else {
        fprintf(stderr, "blasto %s: --bn: expected running or batch, got '%s'\n", o->cmd, o->bn);
        return 2;
    }
    return 0;
}

/* ---- file checks ------------------------------------------------------------------------------------------- */

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}


/* "[1,0,3,4]": the multi-index of flat element `flat` of a row-major shape[ndim]. */
static void multi_index_text(int ndim, const int *shape, int64_t flat, char *buf, size_t size) {
    int64_t index[BL_MAX_DIMS];
    for (int d = ndim - 1; d >= 0; d--) {
        index[d] = shape[d] > 0 ? flat % shape[d] : 0;
        flat = shape[d] > 0 ? flat / shape[d] : 0;
    }
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", d ? "," : "", (long long)index[d]);
    if (used < size) snprintf(buf + used, size - used, "]");
}

static void shape_text(int ndim, const int *shape, char *buf, size_t size) {
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && used < size; d++) used += (size_t)snprintf(buf + used, size - used, "%s%d", d ? "," : "", shape[d]);
    if (used < size) snprintf(buf + used, size - used, "]");
}

/* Reads the float32 tensor `name` of file `path` (already open as st) into a malloc'ed buffer *data with its
 * shape in shape[BL_MAX_DIMS]; refuses a missing tensor, another dtype, a shape of `want_ndim` dimensions
 * other than `want_shape` (entries < 0 = any extent ≥ 1; `what` describes the expected shape in messages), and
 * NaN/Inf. Prints the one-line error and returns 1, or returns 0. */
static int read_checked_tensor(const audit_options *o, const bl_safetensors *st, const char *path, const char *name,
                               int want_ndim, const int *want_shape, const char *what, float **data, int *shape) {
    *data = NULL;
    const bl_st_entry *e = bl_safetensors_find(st, name);
    if (!e) {
        fprintf(stderr, "blasto %s: %s: %s: missing (expected a float32 tensor %s)\n", o->cmd, path, name, what);
        return 1;
    }
    if (e->dtype != BL_DTYPE_F32) {
        fprintf(stderr, "blasto %s: %s: %s: dtype %s (expected F32)\n", o->cmd, path, name, bl_dtype_name(e->dtype));
        return 1;
    }
    int ok = e->ndim == want_ndim;
    for (int d = 0; ok && d < want_ndim; d++) {
        if (e->shape[d] < 1 || e->shape[d] > 0x7fffffff || (want_shape[d] >= 0 && e->shape[d] != want_shape[d])) ok = 0;
        else shape[d] = (int)e->shape[d];
    }
    if (!ok) {
        char got[160] = "[";
        size_t used = 1;
        for (int d = 0; d < e->ndim && used < sizeof got; d++)
            used += (size_t)snprintf(got + used, sizeof got - used, "%s%lld", d ? "," : "", (long long)e->shape[d]);
        if (used < sizeof got) snprintf(got + used, sizeof got - used, "]");
        fprintf(stderr, "blasto %s: %s: %s: shape %s (expected %s)\n", o->cmd, path, name, got, what);
        return 1;
    }
    float *values = malloc((size_t)e->numel * sizeof(float));
    if (!values) {
        fprintf(stderr, "blasto %s: %s: %s: cannot allocate %lld bytes\n", o->cmd, path, name,
                (long long)e->numel * 4);
        return 1;
    }
    if (bl_safetensors_read_f32(st, name, -1, NULL, e->numel, values) != BL_OK) {
        fprintf(stderr, "blasto %s: %s\n", o->cmd, bl_last_error());
        free(values);
        return 1;
    }
    for (int64_t i = 0; i < e->numel; i++)
        if (!isfinite(values[i])) {
            char where[160];
            multi_index_text(e->ndim, shape, i, where, sizeof where);
            fprintf(stderr, "blasto %s: %s: %s: element %s is %s (expected finite values)\n", o->cmd, path, name,
                    where, isnan(values[i]) ? "NaN" : values[i] > 0 ? "+Inf" : "-Inf");
            free(values);
            return 1;
        }
    *data = values;
    return 0;
}

/* Opens X and reads `input` [N,3,H,W] with H, W ≥ MIN_INPUT_SIZE. Returns 0, or 1 after printing the error. */
static int read_input(const audit_options *o, float **data, int *shape) {
    bl_safetensors *st = NULL;
    if (bl_safetensors_open(o->input, &st) != BL_OK) {
        fprintf(stderr, "blasto %s: %s\n", o->cmd, bl_last_error());
        return 1;
    }
    const int want[4] = {-1, 3, -1, -1};
    int rc = read_checked_tensor(o, st, o->input, "input", 4, want, "[N,3,H,W]", data, shape);
    if (rc == 0 && (shape[2] < MIN_INPUT_SIZE || shape[3] < MIN_INPUT_SIZE)) {
        fprintf(stderr, "blasto %s: %s: input: spatial size %dx%d is too small (expected H, W >= %d)\n", o->cmd,
                o->input, shape[2], shape[3], MIN_INPUT_SIZE);
        free(*data);
        *data = NULL;
        rc = 1;
    }
    bl_safetensors_close(st);
    return rc;
}

/* Opens G and reads `grad_output`, which must be [batch,1000]. Returns 0, or 1 after printing the error. */
static int read_grad_output(const audit_options *o, int batch, float **data) {
    bl_safetensors *st = NULL;
    if (bl_safetensors_open(o->grad_output, &st) != BL_OK) {
        fprintf(stderr, "blasto %s: %s\n", o->cmd, bl_last_error());
        return 1;
    }
    const int want[2] = {batch, 1000};
    char what[64];
    snprintf(what, sizeof what, "[%d,1000]: the logits' shape", batch);
    int shape[BL_MAX_DIMS];
    int rc = read_checked_tensor(o, st, o->grad_output, "grad_output", 2, want, what, data, shape);
    bl_safetensors_close(st);
    return rc;
}

/* ---- --dump-activations: copies of every module output, kept in arrival order ------------------------------ */

typedef struct activation_record {
    char *path;
    int ndim, shape[BL_MAX_DIMS];
    float *data;
} activation_record;

typedef struct activation_dump {
    bl_ctx *ctx;                  /* the values are downloaded from its backend */
    activation_record *records;
    int count, capacity;
    int64_t bytes;
    int failed;                   /* an allocation failed: *failed_path could not be kept */
    char failed_path[BL_MODULE_PATH_MAX];
} activation_dump;

/* The bl_run hook: t [any shape] read, copied (a later module may reuse its memory). */
static void keep_activation(void *user, const char *path, const bl_tensor *t) {
    activation_dump *dump = user;
    if (dump->failed) return;
    if (dump->count == dump->capacity) {
        int capacity = dump->capacity ? 2 * dump->capacity : 256;
        activation_record *grown = realloc(dump->records, (size_t)capacity * sizeof *grown);
        if (!grown) goto fail;
        dump->records = grown;
        dump->capacity = capacity;
    }
    activation_record *r = &dump->records[dump->count];
    r->path = malloc(strlen(path) + 1);
    r->data = malloc((size_t)(t->numel > 0 ? t->numel : 1) * sizeof(float));
    if (!r->path || !r->data) {
        free(r->path);
        free(r->data);
        goto fail;
    }
    strcpy(r->path, path);
    r->ndim = t->ndim;
    memcpy(r->shape, t->shape, sizeof r->shape);
    if (bl_tensor_download(dump->ctx, t, r->data) != BL_OK) {
        free(r->path);
        free(r->data);
        goto fail;
    }
    dump->count++;
    dump->bytes += t->numel * (int64_t)sizeof(float);
    return;
fail:
    dump->failed = 1;
    snprintf(dump->failed_path, sizeof dump->failed_path, "%s", path);
}

static void free_activation_dump(activation_dump *dump) {
    for (int i = 0; i < dump->count; i++) {
        free(dump->records[i].path);
        free(dump->records[i].data);
    }
    free(dump->records);
}

/* Creates DIR when missing (one level). Returns 0, or 1 after printing the error. */
/* 1 when this run created the --dump-activations folder: a failure then removes it (no empty folder left) */
static int dump_dir_created;

static int prepare_dump_dir(const audit_options *o) {
    if (bl_make_dir(o->dump_dir, &dump_dir_created) == BL_OK) {
        if (dump_dir_created) bl_cleanup_add_tree(o->dump_dir); /* Ctrl-C removes it too */
        return 0;
    }
    fprintf(stderr, "blasto %s: --dump-activations: %s\n", o->cmd, bl_last_error());
    return 1;
}

/* Adds the output metadata shared by Y, D and the activation dump. */
static bl_status add_metadata(bl_st_writer *w, const audit_options *o) {
    const char *pairs[][2] = {
        {"command", o->cmd},          {"arch", bl_arch_name(o->arch)}, {"bn", o->bn},
        {"backend", o->backend},      {"device", o->device},           {"version", bl_build()->version},
        {"weights", base_name(o->weights)}, {"input", base_name(o->input)},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        if (bl_st_writer_add_metadata(w, pairs[i][0], pairs[i][1]) != BL_OK) return BL_ERR_INVALID;
    if (o->is_grad && bl_st_writer_add_metadata(w, "grad_output", base_name(o->grad_output)) != BL_OK)
        return BL_ERR_INVALID;
    return BL_OK;
}

/* Number of records with this record's path and this record's 1-based rank among them. */
static void path_occurrence(const activation_dump *dump, int index, int *total, int *rank) {
    *total = 0;
    *rank = 0;
    for (int i = 0; i < dump->count; i++)
        if (strcmp(dump->records[i].path, dump->records[index].path) == 0) {
            (*total)++;
            if (i <= index) (*rank)++;
        }
}

/* Writes DIR/activations.safetensors atomically; *written_path gets its path (caller frees). 0, or 1 + message. */
static int write_activation_dump(const audit_options *o, const activation_dump *dump, char **written_path) {
    size_t n = strlen(o->dump_dir) + sizeof "/" ACTIVATIONS_FILE;
    char *path = malloc(n);
    bl_st_writer *w = NULL;
    if (!path || bl_st_writer_create(&w) != BL_OK) {
        fprintf(stderr, "blasto %s: --dump-activations: out of memory\n", o->cmd);
        free(path);
        return 1;
    }
    snprintf(path, n, "%s/" ACTIVATIONS_FILE, o->dump_dir);
    bl_status status = add_metadata(w, o);
    for (int i = 0; i < dump->count && status == BL_OK; i++) {
        const activation_record *r = &dump->records[i];
        int total, rank;
        path_occurrence(dump, i, &total, &rank);
        if (total == 1) {
            status = bl_st_writer_add_f32(w, r->path, r->ndim, r->shape, r->data);
            continue;
        }
        char name[BL_MODULE_PATH_MAX + 16];
        snprintf(name, sizeof name, "%s#%d", r->path, rank);
        status = bl_st_writer_add_f32(w, name, r->ndim, r->shape, r->data);
        if (status == BL_OK && rank == total) status = bl_st_writer_add_f32(w, r->path, r->ndim, r->shape, r->data);
    }
    if (status == BL_OK) status = bl_st_writer_save(w, path);
    bl_st_writer_free(w);
    if (status != BL_OK) {
        fprintf(stderr, "blasto %s: %s\n", o->cmd, bl_last_error());
        free(path);
        return 1;
    }
    *written_path = path;
    return 0;
}

/* ---- the run ---------------------------------------------------------------------------------------------- */

/* Everything one audit run holds; freed by release_session. */
typedef struct audit_session {
    bl_ctx *ctx;
    bl_model *model;
    float *input, *grad_output;
    int input_shape[BL_MAX_DIMS];
    activation_dump dump;
    char *dump_path;
    bl_host_copies copies;        /* host copies of the outputs, alive until the writer saved */
} audit_session;

static void release_session(audit_session *s) {
    bl_model_free(s->model);
    bl_ctx_free(s->ctx);
    free(s->input);
    free(s->grad_output);
    free_activation_dump(&s->dump);
    free(s->dump_path);
    bl_host_copies_free(&s->copies);
}

/* 1 (after printing the error) when the directory that is to receive --output does not exist: found before the
 * weights are loaded and the network is run, not at the end. */
static int output_directory_missing(const audit_options *o) {
    const char *slash = strrchr(o->output, '/');
    size_t n = slash ? (size_t)(slash - o->output) : 0;
    char dir[4096];
    if (!slash || n >= sizeof dir) return 0;
    memcpy(dir, o->output, n);
    dir[n ? n : 1] = '\0';
    if (n == 0) dir[0] = '/';
    struct stat s;
    if (stat(dir, &s) == 0 && S_ISDIR(s.st_mode)) return 0;
    fprintf(stderr, "blasto %s: --output: %s: directory %s does not exist\n", o->cmd, o->output, dir);
    return 1;
}

/* Validates the files, builds the model and loads W. Returns 0, or 1 after printing the error. */
static int prepare_session(const audit_options *o, audit_session *s) {
    const bl_kernels *kernels = NULL;
    if (bl_device_open_options(&o->dev, &kernels) != BL_OK) {
        fprintf(stderr, "blasto %s: %s\n", o->cmd, bl_last_error());
        return 1;
    }
    const char *inputs[] = {o->weights, o->input, o->grad_output};
    if (bl_output_check(o->output, 3, inputs) != BL_OK) {
        fprintf(stderr, "blasto %s: --output: %s\n", o->cmd, bl_last_error());
        return 2;
    }
    const char *recorded[3][2] = {{"--weights", o->weights}, {"--input", o->input}, {"--grad-output", o->grad_output}};
    for (int k = 0; k < 3; k++) /* the output's __metadata__ names them */
        if (recorded[k][1] && bl_check_recorded_path(recorded[k][0], base_name(recorded[k][1])) != BL_OK) {
            fprintf(stderr, "blasto %s: %s\n", o->cmd, bl_last_error());
            return 2;
        }
    if (output_directory_missing(o)) return 1;
    if (cli_apply_threads(o->cmd, o->threads)) return 1;
    if (read_input(o, &s->input, s->input_shape)) return 1;
    if (o->is_grad && read_grad_output(o, s->input_shape[0], &s->grad_output)) return 1;
    if (o->dump_dir && prepare_dump_dir(o)) return 1;

    double t0 = bl_seconds_now();
    bl_safetensors *weights = NULL;
    if (bl_safetensors_open(o->weights, &weights) != BL_OK) {
        fprintf(stderr, "blasto %s: %s\n", o->cmd, bl_last_error());
        return 1;
    }
    bl_status status = bl_ctx_create(kernels, &s->ctx);
    s->dump.ctx = s->ctx;
    if (status == BL_OK) status = bl_model_create(s->ctx, o->arch, BL_HEAD_IMAGENET, &s->model);
    if (status == BL_OK) status = bl_model_load(s->model, weights);
    bl_safetensors_close(weights);
    if (status != BL_OK) {
        fprintf(stderr, "blasto %s: %s\n", o->cmd, bl_last_error());
        return 1;
    }
    fprintf(stderr, "blasto %s: %s: %lld parameters loaded from %s in %.2f s\n", o->cmd, bl_arch_name(o->arch),
            (long long)bl_model_parameter_count(s->model), o->weights, bl_seconds_now() - t0);
    return 0;
}

/* x [N,3,H,W] → logits [N,1000] in the step arena (x requires a gradient for grad). NULL after printing. */
static bl_tensor *run_forward(const audit_options *o, audit_session *s, bl_tensor **x_out) {
    bl_ctx *ctx = s->ctx;
    bl_set_training(ctx, 0); /* dropout = identity; BN follows run.bn_mode, never the context */
    bl_set_grad_enabled(ctx, o->is_grad);
    bl_run run = {.ctx = ctx, .bn_mode = o->bn_mode, .hook = o->dump_dir ? keep_activation : NULL,
                  .hook_user = &s->dump};
    bl_tensor *x = bl_tensor_from(ctx, 4, s->input_shape, s->input);
    if (x && o->is_grad) bl_requires_grad(x);
    bl_tensor *y = bl_model_forward(s->model, &run, x);
    if (bl_ctx_status(ctx) != BL_OK || !y) {
        fprintf(stderr, "blasto %s: forward: %s\n", o->cmd,
                bl_ctx_status(ctx) != BL_OK ? bl_ctx_error(ctx) : "no output");
        return NULL;
    }
    if (s->dump.failed) {
        fprintf(stderr, "blasto %s: --dump-activations: out of memory keeping '%s' (%lld bytes kept so far)\n",
                o->cmd, s->dump.failed_path, (long long)s->dump.bytes);
        return NULL;
    }
    if (y->ndim != 2 || y->shape[0] != s->input_shape[0] || y->shape[1] != 1000) {
        char got[64];
        fprintf(stderr, "blasto %s: forward: output shape %s (expected [%d,1000])\n", o->cmd,
                bl_shape_str(y, got, sizeof got), s->input_shape[0]);
        return NULL;
    }
    *x_out = x;
    return y;
}

/* Saves w to o->output after the activation dump (if any); on failure removes the dump again. 0 or 1. */
static int save_outputs(const audit_options *o, audit_session *s, bl_st_writer *w) {
    if (o->dump_dir && write_activation_dump(o, &s->dump, &s->dump_path)) return 1;
    if (bl_st_writer_save(w, o->output) != BL_OK) {
        fprintf(stderr, "blasto %s: %s\n", o->cmd, bl_last_error());
        if (s->dump_path) unlink(s->dump_path);
        return 1;
    }
    return 0;
}

static void report_done(const audit_options *o, const audit_session *s, const char *what, double seconds) {
    char in[64];
    shape_text(4, s->input_shape, in, sizeof in);
    fprintf(stderr, "blasto %s: %s %s %s on %s (%d threads, bn %s): %.3f s → %s\n", o->cmd, bl_arch_name(o->arch),
            what, in, o->backend, bl_threads_get(), o->bn, seconds, o->output);
    if (s->dump_path)
        fprintf(stderr, "blasto %s: %d module outputs (%.1f MB) → %s\n", o->cmd, s->dump.count,
                (double)s->dump.bytes / 1e6, s->dump_path);
}

/* `blasto infer`: Y.output [N,1000] = the network's logits for X.input [N,3,H,W]. */
static int run_infer(const audit_options *o) {
    audit_session s = {0};
    int rc = prepare_session(o, &s);
    bl_st_writer *w = NULL;
    if (rc == 0) {
        double t0 = bl_seconds_now();
        bl_tensor *x = NULL, *y = run_forward(o, &s, &x);
        rc = y ? 0 : 1;
        const float *logits = rc == 0 ? bl_host_copy(s.ctx, &s.copies, y) : NULL;
        double seconds = bl_seconds_now() - t0; /* after the download: a device computes asynchronously */
        if (rc == 0 && !logits) {
            fprintf(stderr, "blasto infer: %s\n", bl_ctx_error(s.ctx));
            rc = 1;
        }
        if (rc == 0) {
            int64_t bad = 0;
            for (int64_t i = 0; i < y->numel; i++) bad += !isfinite(logits[i]);
            if (bad) fprintf(stderr, "blasto infer: warning: output has %lld non-finite values\n", (long long)bad);
            if (bl_st_writer_create(&w) != BL_OK || add_metadata(w, o) != BL_OK ||
                bl_st_writer_add_f32(w, "output", 2, y->shape, logits) != BL_OK) {
                fprintf(stderr, "blasto infer: %s\n", bl_last_error());
                rc = 1;
            }
        }
        if (rc == 0) rc = save_outputs(o, &s, w);
        if (rc == 0) report_done(o, &s, "forward", seconds);
    }
    bl_st_writer_free(w);
    release_session(&s);
    return rc;
}

/* Adds grad.input (x->grad [N,3,H,W]) and grad.<name> for every parameter of the model (tensors with
 * requires_grad, state_dict order; buffers skipped) to w. Returns 0, or 1 after printing the error. */
static int add_gradients(const audit_options *o, audit_session *s, const bl_tensor *x, bl_st_writer *w) {
    if (bl_st_writer_add_tensor(w, "grad.input", s->ctx, x->grad, &s->copies) != BL_OK) {
        fprintf(stderr, "blasto %s: %s\n", o->cmd, bl_last_error());
        return 1;
    }
    for (int i = 0; i < bl_model_tensor_count(s->model); i++) {
        const bl_tensor *t = bl_model_tensor_at(s->model, i);
        if (!t->requires_grad) continue; /* a buffer (BN running statistics) */
        if (!t->grad || !t->name) {
            fprintf(stderr, "blasto %s: parameter %d (%s) has no gradient buffer\n", o->cmd, i, t->name ? t->name : "?");
            return 1;
        }
        char name[BL_MODULE_PATH_MAX + 8];
        snprintf(name, sizeof name, "grad.%s", t->name);
        if (bl_st_writer_add_tensor(w, name, s->ctx, t->grad, &s->copies) != BL_OK) {
            fprintf(stderr, "blasto %s: %s\n", o->cmd, bl_last_error());
            return 1;
        }
    }
    return 0;
}

/* `blasto grad`: D.grad.input [N,3,H,W] and D.grad.<name> [shape of name] = ∂(Σ G.grad_output ⊙ logits)/∂·. */
static int run_grad(const audit_options *o) {
    audit_session s = {0};
    int rc = prepare_session(o, &s);
    bl_st_writer *w = NULL;
    if (rc == 0) {
        double t0 = bl_seconds_now();
        bl_tensor *x = NULL, *y = run_forward(o, &s, &x);
        rc = y ? 0 : 1;
        if (rc == 0) {
            bl_zero_grad(s.ctx);
            if (bl_backward_with(s.ctx, y, s.grad_output) != BL_OK || !x->grad) {
                fprintf(stderr, "blasto grad: backward: %s\n",
                        bl_ctx_status(s.ctx) != BL_OK ? bl_ctx_error(s.ctx) : "no gradient reached the input");
                rc = 1;
            }
        }
        double seconds = bl_seconds_now() - t0;
        if (rc == 0 && (bl_st_writer_create(&w) != BL_OK || add_metadata(w, o) != BL_OK)) {
            fprintf(stderr, "blasto grad: %s\n", bl_last_error());
            rc = 1;
        }
        if (rc == 0) rc = add_gradients(o, &s, x, w);
        if (rc == 0) rc = save_outputs(o, &s, w);
        if (rc == 0) report_done(o, &s, "forward + backward", seconds);
    }
    bl_st_writer_free(w);
    release_session(&s);
    return rc;
}

int cmd_infer(int argc, char **argv) {
    audit_options o = {.cmd = "infer", .is_grad = 0};
    int rc = parse_audit_options(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    rc = run_infer(&o);
    if (rc && dump_dir_created) bl_remove_tree(o.dump_dir); /* a failed run leaves no partial dump */
    if (dump_dir_created) bl_cleanup_forget(o.dump_dir);
    return rc;
}

int cmd_grad(int argc, char **argv) {
    audit_options o = {.cmd = "grad", .is_grad = 1};
    int rc = parse_audit_options(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    rc = run_grad(&o);
    if (rc && dump_dir_created) bl_remove_tree(o.dump_dir); /* a failed run leaves no partial dump */
    if (dump_dir_created) bl_cleanup_forget(o.dump_dir);
    return rc;
}
