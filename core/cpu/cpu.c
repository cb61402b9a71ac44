/* cpu.c — the `cpu` backend's table and its creation with options (core/cpu/cpu.h).
 *
 * What it is: ref's table named "cpu" whose sgemm, conv2d_* and linear_* slots are the packed, threaded SIMD GEMM
 * (gemm.c, micro-kernel chosen by the options) and the convolution paths built on it (conv2d.c, conv2d_grid.c,
 * conv2d_winograd.c), and whose batchnorm, pooling, elementwise, concat and optimizer slots are threaded versions
 * that are bitwise equal to ref (the argument is in cpu_ops.h). Each backend created here carries its options in
 * its table's `state`, which every kernel reads through its first argument.
 *
 * What it is not: sigmoid, the dropout mask, sum and the BCE loss stay ref (scalar-sized work in every model). */
#include "core/cpu/cpu.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu/cpu_ops.h"
#include "core/ref/ref.h"

/* the sgemm slot: the packed GEMM of gemm.c with this backend's micro-kernel */
static bl_sgemm_fn sgemm_cpu;
static void sgemm_cpu(const bl_kernels *self, int trans_a, int trans_b, int m, int n, int k, float alpha,
                      const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    bl_sgemm_cpu(&bl_cpu_state_of(self)->gemm, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* A cpu backend: the table first, so a bl_kernels * of one is a pointer to the whole. */
typedef struct cpu_backend {
    bl_kernels table;
    bl_cpu_state state;
} cpu_backend;

static void fill_table(bl_kernels *k, const bl_cpu_state *state) {
    *k = *bl_kernels_ref();
    k->name = "cpu";
    k->state = state;
    k->sgemm = sgemm_cpu;
    bl_cpu_conv2d_slots(k);
    bl_cpu_linear_slots(k);
    bl_cpu_batchnorm2d_slots(k);
    bl_cpu_pool2d_slots(k);
    bl_cpu_elementwise_slots(k);
    bl_cpu_concat_channels_slots(k);
    bl_cpu_optim_slots(k);
}

enum { WINOGRAD_CHUNK_TILES_DEFAULT = 256 };
#define FORWARD_CHUNK_BYTES_DEFAULT ((size_t)4 << 20)

bl_cpu_options bl_cpu_options_default(void) {
    const char *algo = getenv("BLASTO_CONV_ALGO");
    int winograd = algo && strcmp(algo, "direct") == 0 ? 0 : algo && strcmp(algo, "winograd") == 0 ? 2 : 1;
    return (bl_cpu_options){
        .simd = bl_gemm_kernel_default(),
        .winograd = winograd,
        .winograd_chunk_tiles = WINOGRAD_CHUNK_TILES_DEFAULT,
        .conv_forward_chunk_bytes = FORWARD_CHUNK_BYTES_DEFAULT,
        .conv_forward_fused = 1,
        .conv_backward_filter_dot = 1,
        .gemm_b_direct = 1,
    };
}

/* Check the options and derive the state; BL_OK or a one-line error. */
static bl_status make_state(const bl_cpu_options *o, bl_cpu_state *state) {
    if ((int)o->simd < BL_GEMM_KERNEL_GENERIC || (int)o->simd > BL_GEMM_KERNEL_AVX512)
        return bl_fail(BL_ERR_INVALID, "cpu backend: simd: unknown level %d (expected generic, avx2 or avx512)",
                       (int)o->simd);
    if (!bl_gemm_kernel_available(o->simd))
        return bl_fail(BL_ERR_UNSUPPORTED, "cpu backend: simd: %s is not available (this build or CPU lacks it; "
                                           "CPU has: %s)", bl_gemm_kernel_kind_name(o->simd), bl_cpu_features());
    if (o->winograd < 0 || o->winograd > 2 || o->conv_backward_filter_dot < 0 || o->conv_backward_filter_dot > 2)
        return bl_fail(BL_ERR_INVALID, "cpu backend: winograd %d, conv_backward_filter_dot %d: expected 0, 1 or 2",
                       o->winograd, o->conv_backward_filter_dot);
    if (o->winograd_chunk_tiles < 32 || o->conv_forward_chunk_bytes < sizeof(float))
        return bl_fail(BL_ERR_INVALID, "cpu backend: winograd_chunk_tiles %d (expected ≥ 32), conv_forward_chunk_bytes "
                                       "%zu (expected ≥ 4)", o->winograd_chunk_tiles, o->conv_forward_chunk_bytes);
    state->options = *o;
    state->options.conv_forward_fused = o->conv_forward_fused != 0;
    state->options.gemm_b_direct = o->gemm_b_direct != 0;
    state->gemm = (bl_gemm_config){.kernel = o->simd, .b_direct = state->options.gemm_b_direct};
    return BL_OK;
}

bl_status bl_kernels_cpu_create(const bl_cpu_options *options, bl_kernels **out) {
    *out = NULL;
    bl_cpu_options o = options ? *options : bl_cpu_options_default();
    cpu_backend *b = calloc(1, sizeof *b);
    if (!b) return bl_fail(BL_ERR_NOMEM, "cpu backend: out of memory (%zu bytes)", sizeof *b);
    bl_status s = make_state(&o, &b->state);
    if (s != BL_OK) {
        free(b);
        return s;
    }
    fill_table(&b->table, &b->state);
    *out = &b->table;
    return BL_OK;
}

void bl_kernels_cpu_free(bl_kernels *k) {
    if (k && k != bl_kernels_cpu()) free(k); /* the table is the first member of its cpu_backend */
}

const bl_cpu_options *bl_kernels_cpu_options(const bl_kernels *k) {
    return k && k->sgemm == sgemm_cpu ? &bl_cpu_state_of(k)->options : NULL;
}

/* ---- the process's default backend ---- */

static cpu_backend default_backend;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void make_default(void) {
    bl_cpu_options o = bl_cpu_options_default(); /* valid: simd is a level this CPU has */
    make_state(&o, &default_backend.state);
    fill_table(&default_backend.table, &default_backend.state);
}

const bl_kernels *bl_kernels_cpu(void) {
    pthread_once(&default_once, make_default);
    return &default_backend.table;
}
