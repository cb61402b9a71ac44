/* test_gemm.c — the fast CPU SGEMM (core/cpu/gemm.c + micro-kernels), the thread pool and the CPU feature switch.
 *
 * Every result is compared with a naive loop written here that accumulates in double. The error bound is a
 * rigorous one for the way bl_sgemm_cpu rounds (gemm.h): per K block a chain of kc roundings (FMA or multiply-add
 * per step), then alpha·acc, beta·c and the add — at most k + 3·⌈k/KC⌉ + 2 ≤ 2k + 5 roundings for KC ≥ 3 — so
 *     |got − exact| ≤ γ_{2k+5} · (|alpha|·Σ_p |a_ip·b_pj| + |beta|·|c0_ij|),   γ_n = n·u/(1 − n·u), u = 2⁻²⁴,
 * which we apply as 2.02·(k + 8)·u·(…) (k ≤ 1100 keeps n·u < 1e-3). A wrong index, a dropped or doubled term
 * gives an error of order |a·b| ≫ this bound. The worst measured error, in units of u·Σ|a·b|, is printed.
 *
 * Also checked: beta == 0 never reads C (NaN there must not leak), alpha == 0 and k == 0 never read A/B, padding
 * between rows (lda/ldb/ldc larger than a row) is neither read nor written, every kernel variant this CPU has,
 * bitwise equality for 1, 2 and 3 threads and across runs, and that a tile's position in C never changes its
 * bits (a product computed in two pieces equals the product computed whole). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu/cpu.h"
#include "core/cpu/cpu_features.h"
#include "core/cpu/gemm.h"
#include "core/cpu/scratch.h"
#include "core/cpu/threads.h"
#include "harness.h"

/* the GEMM under test: main() runs every case once per micro-kernel this CPU has */
static bl_gemm_config gemm_cfg = {.kernel = BL_GEMM_KERNEL_GENERIC, .b_direct = 1};

static const double unit_roundoff = 1.0 / 16777216.0; /* u = 2^-24 */
static double worst_error_in_u; /* largest |got − exact| / (u·magnitude) seen, for the report */

typedef struct gemm_case {
    int trans_a, trans_b, m, n, k;
    float alpha, beta;
    int pad_a, pad_b, pad_c; /* extra floats between rows (lda = row length + pad) */
} gemm_case;

/* op(X)[i,p] for a row-major X with row stride ld, transposed when trans. */
static double element(const float *x, int ld, int trans, int i, int p) {
    return trans ? x[(size_t)p * ld + i] : x[(size_t)i * ld + p];
}

/* Fill with the test RNG; the pad entries get a sentinel that would show up in the result if read. */
static float *make_matrix(int rows, int cols, int ld, uint64_t seed, uint64_t index, float pad_value) {
    float *x = malloc(sizeof(float) * ((size_t)rows * ld + 1));
    test_fill_uniform(x, (int64_t)rows * ld, seed, index, -1.0f, 1.0f);
    for (int r = 0; r < rows; r++)
        for (int c = cols; c < ld; c++) x[(size_t)r * ld + c] = pad_value;
    return x;
}

/* Run one case with the current kernel and thread count and check it against the double loop. */
static void check_case(const gemm_case *t, uint64_t seed) {
    int a_rows = t->trans_a ? t->k : t->m, a_cols = t->trans_a ? t->m : t->k;
    int b_rows = t->trans_b ? t->n : t->k, b_cols = t->trans_b ? t->k : t->n;
    int lda = a_cols + t->pad_a, ldb = b_cols + t->pad_b, ldc = t->n + t->pad_c;
    if (lda < 1) lda = 1;
    if (ldb < 1) ldb = 1;
    float *a = make_matrix(a_rows, a_cols, lda, seed, 1, NAN);
    float *b = make_matrix(b_rows, b_cols, ldb, seed, 2, NAN);
    float *c = make_matrix(t->m, t->n, ldc, seed, 3, 12345.0f);
    float *c0 = malloc(sizeof(float) * ((size_t)t->m * ldc + 1));
    if (t->beta == 0.0f)
        for (int i = 0; i < t->m; i++)
            for (int j = 0; j < t->n; j++) c[(size_t)i * ldc + j] = NAN; /* must never be read */
    memcpy(c0, c, sizeof(float) * (size_t)t->m * ldc);

    bl_sgemm_cpu(&gemm_cfg, t->trans_a, t->trans_b, t->m, t->n, t->k, t->alpha, a, lda, b, ldb, t->beta, c, ldc);

    double bound_factor = 2.02 * (t->k + 8) * unit_roundoff;
    int bad = 0, pad_touched = 0;
    for (int i = 0; i < t->m; i++) {
        for (int j = 0; j < t->n; j++) {
            double sum = 0.0, magnitude = 0.0;
            for (int p = 0; p < t->k; p++) {
                double product = element(a, lda, t->trans_a, i, p) * element(b, ldb, t->trans_b, p, j);
                sum += product;
                magnitude += fabs(product);
            }
            double c_old = t->beta == 0.0f ? 0.0 : c0[(size_t)i * ldc + j];
            double exact = t->alpha * sum + t->beta * c_old;
            double scale = fabs(t->alpha) * magnitude + fabs(t->beta) * fabs(c_old);
            double got = c[(size_t)i * ldc + j];
            double error = fabs(got - exact);
            if (!(error <= bound_factor * scale + 1e-30)) {
                if (bad++ == 0)
                    CHECK(0, "gemm ta=%d tb=%d %dx%dx%d alpha=%g beta=%g [%s]: C[%d,%d] = %.9g, want %.9g (bound %.3g)",
                          t->trans_a, t->trans_b, t->m, t->n, t->k, t->alpha, t->beta,
                          bl_gemm_kernel_name(gemm_cfg.kernel), i, j, got, exact, bound_factor * scale);
            }
            if (scale > 0 && error / (unit_roundoff * scale) > worst_error_in_u)
                worst_error_in_u = error / (unit_roundoff * scale);
        }
        for (int j = t->n; j < ldc; j++) pad_touched |= c[(size_t)i * ldc + j] != 12345.0f;
    }
    if (!bad) CHECK(1, "gemm case");
    CHECK(!pad_touched, "gemm %dx%dx%d: wrote into the padding between rows of C", t->m, t->n, t->k);
    free(a), free(b), free(c), free(c0);
}

/* All four transposes × sizes (1, 7, 17, 33, 130, 257 …) × alpha/beta × row padding, for the current kernel. */
static void check_all_cases(uint64_t seed) {
    static const int sizes[][3] = {{1, 1, 1},    {7, 17, 33},  {17, 7, 1},    {33, 33, 33}, {1, 130, 17},
                                   {130, 1, 257}, {29, 65, 130}, {15, 31, 257}, {130, 257, 7}, {64, 96, 1030}};
    static const float alpha_beta[][2] = {{1.0f, 0.0f}, {-0.75f, 0.0f}, {1.0f, 1.0f}, {1.5f, -0.5f}};
    int case_number = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int trans = 0; trans < 4; trans++)
            for (size_t ab = 0; ab < sizeof alpha_beta / sizeof alpha_beta[0]; ab++) {
                gemm_case t = {.trans_a = trans & 1, .trans_b = trans >> 1, .m = sizes[s][0], .n = sizes[s][1],
                               .k = sizes[s][2], .alpha = alpha_beta[ab][0], .beta = alpha_beta[ab][1],
                               .pad_a = (int)(s % 3) * 3, .pad_b = (int)(ab % 2) * 5, .pad_c = (int)(trans % 3) * 2};
                check_case(&t, seed + (uint64_t)case_number++);
            }
}

/* alpha == 0 and k == 0: C = beta·C, A and B never read (they hold NaN here); beta == 0 then writes zeros. */
static void check_degenerate(void) {
    float a[12], b[12], c[6], want[6];
    for (int i = 0; i < 12; i++) a[i] = b[i] = NAN;
    for (int i = 0; i < 6; i++) c[i] = (float)i - 2.5f, want[i] = 0.5f * c[i];
    bl_sgemm_cpu(&gemm_cfg, 0, 0, 2, 3, 4, 0.0f, a, 4, b, 3, 0.5f, c, 3);
    CHECK(memcmp(c, want, sizeof c) == 0, "alpha = 0: C = beta·C exactly, A/B not read");
    bl_sgemm_cpu(&gemm_cfg, 0, 0, 2, 3, 0, 1.0f, a, 1, b, 3, 0.5f, c, 3);
    for (int i = 0; i < 6; i++) want[i] *= 0.5f;
    CHECK(memcmp(c, want, sizeof c) == 0, "k = 0: C = beta·C exactly");
    for (int i = 0; i < 6; i++) c[i] = NAN;
    bl_sgemm_cpu(&gemm_cfg, 0, 0, 2, 3, 4, 0.0f, a, 4, b, 3, 0.0f, c, 3);
    int zeros = 1;
    for (int i = 0; i < 6; i++) zeros &= c[i] == 0.0f;
    CHECK(zeros, "alpha = 0, beta = 0: C = 0 even where C held NaN");
    bl_sgemm_cpu(&gemm_cfg, 0, 0, 0, 3, 4, 1.0f, a, 4, b, 3, 0.0f, c, 3); /* m = 0: must not touch anything */
    CHECK(1, "m = 0 returns");
}

/* One product computed whole, at 1, 2 and 3 threads and twice, and in two pieces (rows split at 5, columns at 19
 * — neither a multiple of any MR or NR): all bitwise equal. Shapes cross several K, M and N blocks. */
static void check_determinism(uint64_t seed) {
    static const int shapes[][5] = {/* m, n, k, trans_a, trans_b */
                                    {203, 301, 1000, 0, 0}, {96, 1500, 147, 0, 1}, {130, 77, 700, 1, 0}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], ta = shapes[s][3], tb = shapes[s][4];
        int lda = ta ? m : k, ldb = tb ? k : n;
        float *a = make_matrix(ta ? k : m, lda, lda, seed, 10 + s, 0), *b = make_matrix(tb ? n : k, ldb, ldb, seed, 20 + s, 0);
        float *c0 = make_matrix(m, n, n, seed, 30 + s, 0);
        size_t bytes = sizeof(float) * (size_t)m * n;
        float *first = malloc(bytes), *other = malloc(bytes);
        CHECK(bl_threads_set(1) == BL_OK, "threads 1");
        memcpy(first, c0, bytes);
        bl_sgemm_cpu(&gemm_cfg, ta, tb, m, n, k, 1.25f, a, lda, b, ldb, 0.5f, first, n);
        static const int thread_counts[] = {2, 3, 2, 1};
        for (int t = 0; t < 4; t++) {
            CHECK(bl_threads_set(thread_counts[t]) == BL_OK, "threads %d", thread_counts[t]);
            memcpy(other, c0, bytes);
            bl_sgemm_cpu(&gemm_cfg, ta, tb, m, n, k, 1.25f, a, lda, b, ldb, 0.5f, other, n);
            CHECK(memcmp(first, other, bytes) == 0, "gemm %dx%dx%d [%s]: %d threads bitwise equal to 1 thread",
                  m, n, k, bl_gemm_kernel_name(gemm_cfg.kernel), thread_counts[t]);
        }
        /* pieces: rows [0,5) and [5,m), then columns [0,19) and [19,n) */
        memcpy(other, c0, bytes);
        const float *a_rows5 = ta ? a + 5 : a + (size_t)5 * lda;
        bl_sgemm_cpu(&gemm_cfg, ta, tb, 5, n, k, 1.25f, a, lda, b, ldb, 0.5f, other, n);
        bl_sgemm_cpu(&gemm_cfg, ta, tb, m - 5, n, k, 1.25f, a_rows5, lda, b, ldb, 0.5f, other + (size_t)5 * n, n);
        CHECK(memcmp(first, other, bytes) == 0, "gemm %dx%dx%d: row pieces bitwise equal to the whole", m, n, k);
        memcpy(other, c0, bytes);
        const float *b_cols19 = tb ? b + (size_t)19 * ldb : b + 19;
        bl_sgemm_cpu(&gemm_cfg, ta, tb, m, 19, k, 1.25f, a, lda, b, ldb, 0.5f, other, n);
        bl_sgemm_cpu(&gemm_cfg, ta, tb, m, n - 19, k, 1.25f, a, lda, b_cols19, ldb, 0.5f, other + 19, n);
        CHECK(memcmp(first, other, bytes) == 0, "gemm %dx%dx%d: column pieces bitwise equal to the whole", m, n, k);
        free(a), free(b), free(c0), free(first), free(other);
    }
    bl_threads_set(2);
}

/* ---------------------------------------------------------------------------------------- thread pool ---- */

typedef struct pool_probe {
    int counts[1000];
    int nested_total[16];
} pool_probe;

static void count_task(void *arg, int task) {
    pool_probe *probe = arg;
    probe->counts[task]++; /* each task index is owned by one participant: no race */
}

static void nested_inner(void *arg, int task) { (*(int *)arg) += task + 1; }

static void nested_outer(void *arg, int task) {
    pool_probe *probe = arg;
    int total = 0;
    bl_parallel_for(10, nested_inner, &total); /* nested: must run serially in this thread */
    probe->nested_total[task] = total;
}

static void resize_inside_task(void *arg, int task) {
    if (task == 0) *(bl_status *)arg = bl_threads_set(1); /* would deadlock if allowed: must be refused */
}

static void check_thread_pool(void) {
    CHECK(bl_threads_set(0) == BL_ERR_INVALID, "threads 0 rejected");
    CHECK(bl_threads_set(1025) == BL_ERR_INVALID, "threads 1025 rejected");
    static const int thread_counts[] = {1, 2, 3, 7};
    static const int task_counts[] = {1, 2, 5, 999};
    for (int t = 0; t < 4; t++) {
        CHECK(bl_threads_set(thread_counts[t]) == BL_OK && bl_threads_get() == thread_counts[t], "threads set/get");
        for (int n = 0; n < 4; n++) {
            pool_probe *probe = calloc(1, sizeof *probe);
            for (int repeat = 0; repeat < 50; repeat++) bl_parallel_for(task_counts[n], count_task, probe);
            int all_fifty = 1;
            for (int i = 0; i < 1000; i++) all_fifty &= probe->counts[i] == (i < task_counts[n] ? 50 : 0);
            CHECK(all_fifty, "%d threads, %d tasks: every task ran exactly once per call", thread_counts[t],
                  task_counts[n]);
            free(probe);
        }
        pool_probe *probe = calloc(1, sizeof *probe);
        bl_parallel_for(16, nested_outer, probe);
        int nested_ok = 1;
        for (int i = 0; i < 16; i++) nested_ok &= probe->nested_total[i] == 55;
        CHECK(nested_ok, "%d threads: nested bl_parallel_for runs every inner task", thread_counts[t]);
        free(probe);
    }
    bl_status inside = BL_OK;
    bl_parallel_for(2, resize_inside_task, &inside);
    CHECK(inside == BL_ERR_INVALID, "bl_threads_set inside a task is refused");
    bl_parallel_for(0, count_task, NULL); /* zero tasks: no call */
    bl_threads_shutdown();
    pool_probe *probe = calloc(1, sizeof *probe);
    bl_parallel_for(4, count_task, probe); /* the pool restarts after a shutdown */
    CHECK(probe->counts[0] == 1 && probe->counts[3] == 1, "pool restarts after shutdown");
    free(probe);
}

/* --------------------------------------------------------------------------------------- features ------- */

static void check_features_and_scratch(void) {
    const char *features = bl_cpu_features();
    CHECK(features && features[0], "bl_cpu_features non-empty: '%s'", features ? features : "(null)");
    CHECK(bl_gemm_kernel_name(gemm_cfg.kernel)[0] != '\0', "kernel name");
    CHECK(bl_gemm_kernel_available(BL_GEMM_KERNEL_GENERIC), "generic kernel always available");
    /* a cpu backend refuses an instruction set it cannot run */
    bl_cpu_options o = bl_cpu_options_default();
    bl_kernels *backend = NULL;
    o.simd = (bl_gemm_kernel_kind)7;
    CHECK(bl_kernels_cpu_create(&o, &backend) == BL_ERR_INVALID && !backend, "unknown kernel kind rejected");
    o.simd = BL_GEMM_KERNEL_AVX512;
    if (!bl_gemm_kernel_available(BL_GEMM_KERNEL_AVX512))
        CHECK(bl_kernels_cpu_create(&o, &backend) == BL_ERR_UNSUPPORTED && strstr(bl_last_error(), "avx512"),
              "avx512 refused where absent: %s", bl_last_error());
    /* the environment override only ever narrows */
    setenv("BLASTO_GEMM_KERNEL", "generic", 1);
    CHECK(bl_gemm_kernel_default() == BL_GEMM_KERNEL_GENERIC, "BLASTO_GEMM_KERNEL=generic");
    setenv("BLASTO_GEMM_KERNEL", "avx2", 1);
    CHECK(bl_gemm_kernel_default() ==
              (bl_gemm_kernel_available(BL_GEMM_KERNEL_AVX2) ? BL_GEMM_KERNEL_AVX2
               : bl_gemm_kernel_available(BL_GEMM_KERNEL_AVX512) ? BL_GEMM_KERNEL_AVX512 : BL_GEMM_KERNEL_GENERIC),
          "BLASTO_GEMM_KERNEL=avx2");
    setenv("BLASTO_GEMM_KERNEL", "no-such-kernel", 1);
    bl_gemm_kernel_kind best = bl_gemm_kernel_default();
    unsetenv("BLASTO_GEMM_KERNEL");
    CHECK(best == bl_gemm_kernel_default(), "unknown BLASTO_GEMM_KERNEL keeps the best kernel");

    bl_scratch *h1 = NULL, *h2 = NULL;
    float *p1 = bl_scratch_acquire(1000, &h1);
    float *p2 = bl_scratch_acquire(10, &h2);
    CHECK(p1 && p2 && p1 != p2, "two scratch buffers held at once are distinct");
    CHECK(((uintptr_t)p1 % 64) == 0 && ((uintptr_t)p2 % 64) == 0, "scratch is 64-byte aligned");
    p1[999] = 1.0f, p2[9] = 2.0f; /* writable to the requested length (ASan checks the bounds) */
    bl_scratch_release(h1);
    bl_scratch *h3 = NULL;
    float *p3 = bl_scratch_acquire(500, &h3);
    CHECK(p3 == p1, "a released buffer is reused");
    bl_scratch_release(h3), bl_scratch_release(h2);
}

int main(void) {
    uint64_t seed = 20240611;
    check_thread_pool();
    check_features_and_scratch();
    CHECK(bl_threads_set(2) == BL_OK, "threads 2");
    static const bl_gemm_kernel_kind kinds[] = {BL_GEMM_KERNEL_GENERIC, BL_GEMM_KERNEL_AVX2, BL_GEMM_KERNEL_AVX512};
    for (int i = 0; i < 3; i++) {
        if (!bl_gemm_kernel_available(kinds[i])) {
            printf("kernel %d not available on this CPU/build: skipped\n", (int)kinds[i]);
            continue;
        }
        gemm_cfg.kernel = kinds[i];
        worst_error_in_u = 0;
        check_all_cases(seed);
        check_degenerate();
        check_determinism(seed);
        printf("kernel %-16s worst |error| = %.3f u·Σ|a·b|\n", bl_gemm_kernel_name(gemm_cfg.kernel), worst_error_in_u);
    }
    bl_threads_shutdown();
    bl_scratch_free_all();
    return test_summary("test_gemm");
}
