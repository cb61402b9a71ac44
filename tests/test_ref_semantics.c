/* test_ref_semantics.c — what the ref backend must get right that a gradient check cannot see, in double and
 * against the float variant (the gradients themselves are the op-test harness's float64 check, tests/ops/).
 *
 * It checks: the torch semantics of pooling (maxpool ties go to the first maximum, padding is −inf, NaN
 * propagates to its windows only; the avgpool divisor with and without count_include_pad), sgemm against a
 * plain triple loop for every transpose and beta (padded leading dimensions, C's row padding untouched), and the
 * optimizers (SGD with weight decay/momentum/dampening/Nesterov, Adam with L2, AdamW) over 5 steps against an
 * independent re-statement of torch.optim's documented formulas; and the dropout mask keeps about 1 − p of the
 * elements. The float variants are held to the double ones as in the float64 gradient check (tests/ops/gradcheck64.h:
 * within 1 ulp; 1e-6 relative for the 5-step optimizers).
 *
 * The random streams start at a fixed stream number, so sgemm and the optimizers see the same data every run and the
 * numbers quoted in docs/numerics.md hold. */
#include <math.h>
#include <stdio.h>

#include "core/ref/ref.h"
#include "harness.h"
#include "ops/gradcheck64.h"

#define FIRST_STREAM 133 /* the first stream check_sgemm() draws (the data the numbers in docs/numerics.md came from) */

/* ---------------------------------------------------------------------------------------------------------- */
/* pooling semantics                                                                                          */
/* ---------------------------------------------------------------------------------------------------------- */

/* What gradients cannot see: tie-breaking, −inf padding, NaN, and the avgpool divisor rule. */
static void check_pool2d_semantics(void) {
    /* ties: the first maximum in row-major window order takes the gradient */
    double tie[8] = {1, 5, 5, 2, /* second plane: */ 7, 7, 7, 7}, y[2], dx[8] = {0}, dy[2] = {1, 1};
    bl_pool2d_shape s = {1, 2, 2, 2, 1, 1, 2, 2, 2, 2, 0, 0, 1};
    maxpool2d_forward_ref_f64(&s, tie, y);
    maxpool2d_backward_ref_f64(&s, tie, dy, dx);
    CHECK(y[0] == 5 && y[1] == 7, "maxpool2d: tie forward gives %g %g", y[0], y[1]);
    CHECK(dx[1] == 1 && dx[2] == 0 && dx[4] == 1 && dx[5] == 0 && dx[6] == 0 && dx[7] == 0,
          "maxpool2d: ties must route the gradient to the first maximum");
    /* padding is −inf, not 0: an all-negative image pools to its own values */
    double negative[16], y_neg[4];
    for (int i = 0; i < 16; i++) negative[i] = -5 - i;
    bl_pool2d_shape padded = {1, 1, 4, 4, 2, 2, 3, 3, 2, 2, 1, 1, 1};
    maxpool2d_forward_ref_f64(&padded, negative, y_neg);
    CHECK(y_neg[0] == -5 && y_neg[1] == -6 && y_neg[2] == -9 && y_neg[3] == -10,
          "maxpool2d: padding must act as -inf (got %g %g %g %g)", y_neg[0], y_neg[1], y_neg[2], y_neg[3]);
    /* NaN propagates (torch: val > max || isnan(val)) */
    negative[0] = NAN; /* only in window (0,0) */
    maxpool2d_forward_ref_f64(&padded, negative, y_neg);
    CHECK(isnan(y_neg[0]) && !isnan(y_neg[1]) && !isnan(y_neg[2]) && !isnan(y_neg[3]),
          "maxpool2d: NaN must propagate to its windows only");

    /* avgpool divisor: on an image of ones, y = (in-image elements)/divisor. With count_include_pad the divisor
     * is the whole 3×3 window (padding included): corners 4/9, edges 6/9; without it every window averages ones. */
    double ones[35], y_avg[35];
    for (int i = 0; i < 35; i++) ones[i] = 1;
    for (int include = 0; include <= 1; include++) {
        bl_pool2d_shape a = {1, 1, 5, 7, 5, 7, 3, 3, 1, 1, 1, 1, include};
        avgpool2d_forward_ref_f64(&a, ones, y_avg);
        for (int oh = 0; oh < 5; oh++)
            for (int ow = 0; ow < 7; ow++) {
                int rows = (oh > 0) + 1 + (oh < 4), cols = (ow > 0) + 1 + (ow < 6);
                double want = include ? rows * cols / 9.0 : 1.0;
                CHECK(fabs(y_avg[oh * 7 + ow] - want) <= 1e-15,
                      "avgpool2d: count_include_pad=%d y[%d,%d] = %.17g, want %.17g", include, oh, ow,
                      y_avg[oh * 7 + ow], want);
            }
    }
}

/* ---------------------------------------------------------------------------------------------------------- */
/* sgemm (no gradient of its own: linear and conv use it in the fast backends)                               */
/* ---------------------------------------------------------------------------------------------------------- */

static void check_sgemm(void) {
    const int m = 5, n = 4, k = 3, pad = 2, ldc = n + 1;
    const double alpha = -1.25;
    for (int trans = 0; trans < 4; trans++) {
        int trans_a = trans & 1, trans_b = trans >> 1;
        int lda = (trans_a ? m : k) + pad, ldb = (trans_b ? k : n) + pad;
        double *a = random_doubles((int64_t)(trans_a ? k : m) * lda, -1, 1);
        double *b = random_doubles((int64_t)(trans_b ? n : k) * ldb, -1, 1);
        for (int with_beta = 0; with_beta <= 1; with_beta++) {
            double beta = with_beta ? 0.5 : 0.0;
            double *c0 = random_doubles((int64_t)m * ldc, -1, 1), *c = doubles((int64_t)m * ldc);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < ldc; j++) c[i * ldc + j] = (j < n && !with_beta) ? NAN : c0[i * ldc + j];
            sgemm_ref_f64(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < ldc; j++) {
                    double dot = 0;
                    for (int p = 0; p < k && j < n; p++) /* columns j ≥ n are C's row padding: untouched */
                        dot += (trans_a ? a[p * lda + i] : a[i * lda + p]) *
                               (trans_b ? b[j * ldb + p] : b[p * ldb + j]);
                    double want = j < n ? alpha * dot + beta * c0[i * ldc + j] : c0[i * ldc + j];
                    CHECK(fabs(c[i * ldc + j] - want) <= 1e-14,
                          "sgemm: trans %d%d beta %g: C[%d,%d] = %.17g, want %.17g", trans_a, trans_b, beta, i, j,
                          c[i * ldc + j], want);
                }
            float *af = to_floats(a, (int64_t)(trans_a ? k : m) * lda);
            float *bf = to_floats(b, (int64_t)(trans_b ? n : k) * ldb);
            float *cf = to_floats(c0, (int64_t)m * ldc);
            sgemm_ref(NULL, trans_a, trans_b, m, n, k, (float)alpha, af, lda, bf, ldb, (float)beta, cf, ldc);
            check_float_variant("sgemm", "C", cf, c, (int64_t)m * ldc);
            record_for("sgemm")->checked += (int64_t)m * n;
        }
    }
    free_case_buffers();
}

/* ---------------------------------------------------------------------------------------------------------- */
/* optimizers: 5 steps against a re-statement of torch.optim's documented algorithm                           */
/* ---------------------------------------------------------------------------------------------------------- */

typedef struct optim_config {
    const char *name;
    int adam, decoupled, nesterov;
    float lr, momentum, dampening, weight_decay;
} optim_config;

/* Float vs double after 5 steps: the float variant rounds after each tensor op as torch does (≈ 8 roundings
 * per step), so p drifts from the double trajectory by a few float ulps of max(|p|, 1); we allow 1e-6 (≈ 8 ulp). */
#define OPTIM_FLOAT_TOLERANCE 1e-6

static void check_optimizer(optim_config cfg) {
    const int64_t count = 40;
    const int steps = 5;
    const float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
    double *p = random_doubles(count, -1, 1), *want_p = copy_doubles(p, count);
    double *m = doubles(count), *v = doubles(count), *want_m = doubles(count), *want_v = doubles(count);
    float *pf = to_floats(p, count), *mf = floats(count), *vf = floats(count);
    double lr = cfg.lr, mu = cfg.momentum, tau = cfg.dampening, wd = cfg.weight_decay, b1 = beta1, b2 = beta2;
    for (int t = 1; t <= steps; t++) {
        double *grad = random_doubles(count, -1, 1);
        float *grad_f = to_floats(grad, count);
        if (cfg.adam) {
            adam_update_ref_f64(count, p, grad, m, v, cfg.lr, beta1, beta2, eps, cfg.weight_decay, cfg.decoupled, t);
            adam_update_ref(NULL, count, pf, grad_f, mf, vf, cfg.lr, beta1, beta2, eps, cfg.weight_decay, cfg.decoupled,
                            t);
            for (int64_t i = 0; i < count; i++) { /* torch.optim.Adam / AdamW documentation, with m̂ and v̂ */
                double g = grad[i];
                if (cfg.decoupled) want_p[i] -= lr * wd * want_p[i];
                else g += wd * want_p[i];
                want_m[i] = b1 * want_m[i] + (1 - b1) * g;
                want_v[i] = b2 * want_v[i] + (1 - b2) * g * g;
                double m_hat = want_m[i] / (1 - pow(b1, t)), v_hat = want_v[i] / (1 - pow(b2, t));
                want_p[i] -= lr * m_hat / (sqrt(v_hat) + (double)eps);
            }
        } else {
            double *buf = mu != 0 ? m : NULL;
            float *buf_f = mu != 0 ? mf : NULL;
            sgd_update_ref_f64(count, p, grad, buf, cfg.lr, cfg.momentum, cfg.dampening, cfg.weight_decay,
                               cfg.nesterov, t == 1);
            sgd_update_ref(NULL, count, pf, grad_f, buf_f, cfg.lr, cfg.momentum, cfg.dampening, cfg.weight_decay,
                           cfg.nesterov, t == 1);
            for (int64_t i = 0; i < count; i++) { /* torch.optim.SGD documentation */
                double g = grad[i] + wd * want_p[i];
                if (mu != 0) {
                    want_m[i] = t > 1 ? mu * want_m[i] + (1 - tau) * g : g;
                    g = cfg.nesterov ? g + mu * want_m[i] : want_m[i];
                }
                want_p[i] -= lr * g;
            }
        }
    }
    double worst = 0, worst_float = 0;
    for (int64_t i = 0; i < count; i++) {
        worst = fmax(worst, fabs(p[i] - want_p[i]) / fmax(fabs(want_p[i]), 1));
        worst = fmax(worst, fabs(m[i] - want_m[i]) / fmax(fabs(want_m[i]), 1));
        if (cfg.adam) worst = fmax(worst, fabs(v[i] - want_v[i]) / fmax(fabs(want_v[i]), 1e-3));
        worst_float = fmax(worst_float, fabs(pf[i] - p[i]) / fmax(fabs(p[i]), 1));
    }
    CHECK(worst <= 1e-13, "%s: double variant deviates from torch's algorithm by %g after %d steps", cfg.name, worst,
          steps);
    CHECK(worst_float <= OPTIM_FLOAT_TOLERANCE, "%s: float variant deviates from the double one by %g", cfg.name,
          worst_float);
    printf("  %-28s 5 steps: double vs restatement %.2g, float vs double %.2g (relative)\n", cfg.name, worst,
           worst_float);
    free_case_buffers();
}

/* The dropout mask is a Bernoulli draw per element: for p = 0.3 over 100003 elements the kept fraction is 0.7 ± 0.0015
 * (one standard deviation); anything outside (0.5, 0.9) means the stream or the comparison is wrong. The kept value is
 * exactly 1/(1 − p) rounded to float. */
static void check_dropout_mask(void) {
    enum { COUNT = 100003 };
    static float mask[COUNT];
    const uint64_t keys[] = {0, 0x123456789abcdefULL, ~0ULL};
    const float p = 0.3f, keep = 1.0f / (1.0f - p);
    for (int k = 0; k < 3; k++) {
        dropout_mask_ref(NULL, COUNT, keys[k], p, keep, mask);
        int64_t kept = 0, other = 0;
        for (int64_t i = 0; i < COUNT; i++) kept += mask[i] == keep, other += mask[i] != keep && mask[i] != 0.0f;
        CHECK(kept > COUNT / 2 && kept < COUNT * 9 / 10 && other == 0,
              "dropout mask key %d keeps %lld of %d (p = 0.3), %lld values neither 0 nor 1/(1-p)", k, (long long)kept,
              COUNT, (long long)other);
    }
}

int main(void) {
    set_next_stream(FIRST_STREAM);
    check_dropout_mask();
    check_pool2d_semantics();
    check_sgemm();
    printf("optimizers:\n");
    const optim_config optimizers[] = {
        {"sgd", 0, 0, 0, 0.1f, 0, 0, 0},
        {"sgd weight_decay", 0, 0, 0, 0.1f, 0, 0, 0.01f},
        {"sgd momentum", 0, 0, 0, 0.1f, 0.9f, 0, 0},
        {"sgd momentum dampening", 0, 0, 0, 0.1f, 0.9f, 0.1f, 0},
        {"sgd nesterov weight_decay", 0, 0, 1, 0.1f, 0.9f, 0, 0.01f},
        {"adam", 1, 0, 0, 0.01f, 0, 0, 0},
        {"adam weight_decay (L2)", 1, 0, 0, 0.01f, 0, 0, 0.01f},
        {"adamw (decoupled)", 1, 1, 0, 0.01f, 0, 0, 0.01f},
    };
    for (size_t i = 0; i < sizeof optimizers / sizeof optimizers[0]; i++) check_optimizer(optimizers[i]);

    print_records();
    release_case_buffers();
    return test_summary("test_ref_semantics");
}
