/* test_batchnorm_sync.c — synchronised batchnorm (bl_set_batch_reduce; docs/distributed.md): a batch split over
 * "processes" that sum their statistics must normalise, update the running statistics and back-propagate as one
 * pass over the whole batch does.
 *
 * Two processes are two threads here, each with its own context on the ref backend and half of the batch; their
 * reducer is a barrier: each deposits its values, thread 0 sums them in rank order, both read the sums — what
 * bl_world_allreduce_sum_f64 does between MPI ranks. The loss is Σ relu(BN₂(relu(y))); against the whole batch in one
 * context (plain training batchnorm), through two batchnorm layers (the second one's statistics depend on every
 * process's first output, so the gradient crosses between processes):
 *   y, ∂L/∂x of each half, the running statistics of each thread, ∂L/∂γ and ∂L/∂β summed over the halves —
 *   within 1e-5 relative to the largest magnitude (the synchronised path rounds mean and variance to float before
 *   normalising, the plain one normalises with them in double; measured 1.7e-6 and 2.5e-6: docs/numerics.md,
 *   "Synchronised batchnorm");
 * the same with one process on the cpu backend (the reducer of a world of one); the halves without synchronisation differ by far
 * more (so the comparison can fail); and a backend without the two kernel slots is refused by name. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/autograd.h"
#include "core/kernels.h"
#include "harness.h"

enum { N = 6, C = 5, H = 4, W = 7, PLANE = H * W, SAMPLE = C * PLANE, TOTAL = N * SAMPLE };

static float xs[TOTAL], gamma0[C], beta0[C], rm0[C], rv0[C];

typedef struct result {
    float y[TOTAL], dx[TOTAL], dgamma[C], dbeta[C], rm[C], rv[C];
} result;

/* one context's batchnorm over samples [first, first + count) of xs, with reducer `sum` (NULL: none) */
static int run_bn(const bl_kernels *k, int first, int count, bl_batch_reduce_fn *sum, void *user, result *out) {
    bl_ctx *ctx = NULL;
    if (bl_ctx_create(k, &ctx) != BL_OK) return 1;
    int c = C, shape[4] = {count, C, H, W};
    bl_tensor *g = bl_param(ctx, "g", 1, &c), *b = bl_param(ctx, "b", 1, &c);
    bl_tensor *rm = bl_buffer(ctx, "rm", 1, &c), *rv = bl_buffer(ctx, "rv", 1, &c);
    memcpy(g->data, gamma0, sizeof gamma0), memcpy(b->data, beta0, sizeof beta0);
    memcpy(rm->data, rm0, sizeof rm0), memcpy(rv->data, rv0, sizeof rv0);
    bl_set_training(ctx, 1);
    bl_set_batch_reduce(ctx, sum, user);
    bl_tensor *x = bl_tensor_from(ctx, 4, shape, xs + (size_t)first * SAMPLE);
    bl_requires_grad(x);
    bl_tensor *y = bl_batchnorm2d(ctx, x, g, b, rm, rv, 1e-5f, 0.1f);
    /* a second batchnorm after a ReLU: its statistics depend on every process's y, so ∂L/∂y reaches across */
    bl_tensor *g2 = bl_param(ctx, "g2", 1, &c), *b2 = bl_param(ctx, "b2", 1, &c);
    memcpy(g2->data, beta0, sizeof beta0), memcpy(b2->data, gamma0, sizeof gamma0);
    bl_tensor *z = bl_batchnorm2d(ctx, bl_relu(ctx, y), g2, b2, NULL, NULL, 1e-5f, 0.1f);
    int failed = bl_backward(ctx, bl_sum(ctx, bl_relu(ctx, z))) != BL_OK;
    if (!failed) {
        memcpy(out->y + (size_t)first * SAMPLE, y->data, sizeof(float) * (size_t)count * SAMPLE);
        memcpy(out->dx + (size_t)first * SAMPLE, x->grad->data, sizeof(float) * (size_t)count * SAMPLE);
        for (int i = 0; i < C; i++) {
            out->dgamma[i] += g->grad->data[i];
            out->dbeta[i] += b->grad->data[i];
        }
        memcpy(out->rm, rm->data, sizeof rm0), memcpy(out->rv, rv->data, sizeof rv0);
    } else {
        printf("  batchnorm failed: %s\n", bl_ctx_error(ctx));
    }
    bl_ctx_free(ctx);
    return failed;
}

/* ---- two threads as two processes ---- */
typedef struct twin {
    pthread_barrier_t barrier;
    double *deposit[2];
    int64_t n;
    double sum[64];
} twin;

typedef struct twin_rank {
    twin *t;
    int rank, failed;
    result *out;
    float rm[C], rv[C];
} twin_rank;

static _Thread_local twin_rank *self_rank;

static bl_status twin_sum(void *user, double *values, int64_t n) {
    twin *t = user;
    t->deposit[self_rank->rank] = values;
    t->n = n;
    pthread_barrier_wait(&t->barrier);
    if (self_rank->rank == 0)
        for (int64_t i = 0; i < n; i++) t->sum[i] = t->deposit[0][i] + t->deposit[1][i]; /* rank order */
    pthread_barrier_wait(&t->barrier);
    memcpy(values, t->sum, sizeof(double) * (size_t)n);
    pthread_barrier_wait(&t->barrier); /* no one deposits again before everyone has read */
    return BL_OK;
}

static void *twin_main(void *arg) {
    twin_rank *r = arg;
    self_rank = r;
    result *own = calloc(1, sizeof *own);
    r->failed = !own || run_bn(bl_kernels_ref(), r->rank * (N / 2), N / 2, twin_sum, r->t, own);
    if (own) {
        size_t at = (size_t)r->rank * (N / 2) * SAMPLE, bytes = sizeof(float) * (N / 2) * SAMPLE;
        memcpy(r->out->y + at, own->y + at, bytes);
        memcpy(r->out->dx + at, own->dx + at, bytes);
        memcpy(r->rm, own->rm, sizeof r->rm), memcpy(r->rv, own->rv, sizeof r->rv);
    }
    for (int i = 0; own && i < C; i++) { /* summed by the caller in rank order */
        r->out->dgamma[i] = own->dgamma[i];
        r->out->dbeta[i] = own->dbeta[i];
    }
    free(own);
    return NULL;
}

static bl_status one_process(void *user, double *values, int64_t n) {
    (void)user, (void)values, (void)n;
    return BL_OK; /* the sum over a world of one */
}

/* max |a − b| / max |b| over n values */
static double rel_diff(const float *a, const float *b, int n) {
    double d = 0, m = 0;
    for (int i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return m > 0 ? d / m : d;
}

int main(void) {
    test_fill_uniform(xs, TOTAL, 11, 1, 1.0f, 5.0f); /* a mean far from 0: the combination must handle it */
    for (int n = 0; n < N; n++) /* the halves differ: their own statistics are not the batch's */
        for (int i = 0; i < SAMPLE; i++) xs[n * SAMPLE + i] += n < N / 2 ? 0.0f : 1.5f;
    test_fill_uniform(gamma0, C, 11, 2, 0.5f, 1.5f);
    test_fill_uniform(beta0, C, 11, 3, -0.5f, 0.5f);
    test_fill_uniform(rm0, C, 11, 4, -0.2f, 0.2f);
    test_fill_uniform(rv0, C, 11, 5, 0.5f, 1.5f);
    static result whole, single, twin_out, unsynced;
    CHECK(run_bn(bl_kernels_ref(), 0, N, NULL, NULL, &whole) == 0, "the whole batch, plain batchnorm");

    /* a world of one: the synchronised path on its own batch */
    CHECK(run_bn(bl_kernels_cpu(), 0, N, one_process, NULL, &single) == 0, "one process (cpu backend), synchronised");
    double e1[6] = {rel_diff(single.y, whole.y, TOTAL), rel_diff(single.dx, whole.dx, TOTAL),
                    rel_diff(single.dgamma, whole.dgamma, C), rel_diff(single.dbeta, whole.dbeta, C),
                    rel_diff(single.rm, whole.rm, C), rel_diff(single.rv, whole.rv, C)};
    for (int i = 0; i < 6; i++)
        CHECK(e1[i] <= 1e-5, "one process: quantity %d (y, dx, dγ, dβ, running mean, running var) within 1e-5 "
              "relative (%.3g)", i, e1[i]);

    /* two processes */
    twin t;
    pthread_barrier_init(&t.barrier, NULL, 2);
    twin_rank ranks[2] = {{.t = &t, .rank = 0, .out = &twin_out}, {.t = &t, .rank = 1, .out = &twin_out}};
    result *halves[2] = {calloc(1, sizeof(result)), calloc(1, sizeof(result))};
    ranks[0].out = halves[0], ranks[1].out = halves[1];
    pthread_t th[2];
    for (int r = 0; r < 2; r++) pthread_create(&th[r], NULL, twin_main, &ranks[r]);
    for (int r = 0; r < 2; r++) pthread_join(th[r], NULL);
    pthread_barrier_destroy(&t.barrier);
    CHECK(!ranks[0].failed && !ranks[1].failed, "two processes ran");
    size_t half = (size_t)(N / 2) * SAMPLE;
    memcpy(twin_out.y, halves[0]->y, sizeof(float) * half);
    memcpy(twin_out.y + half, halves[1]->y + half, sizeof(float) * half);
    memcpy(twin_out.dx, halves[0]->dx, sizeof(float) * half);
    memcpy(twin_out.dx + half, halves[1]->dx + half, sizeof(float) * half);
    for (int i = 0; i < C; i++) {
        twin_out.dgamma[i] = halves[0]->dgamma[i] + halves[1]->dgamma[i];
        twin_out.dbeta[i] = halves[0]->dbeta[i] + halves[1]->dbeta[i];
    }
    double e2[4] = {rel_diff(twin_out.y, whole.y, TOTAL), rel_diff(twin_out.dx, whole.dx, TOTAL),
                    rel_diff(twin_out.dgamma, whole.dgamma, C), rel_diff(twin_out.dbeta, whole.dbeta, C)};
    for (int i = 0; i < 4; i++)
        CHECK(e2[i] <= 1e-5, "two processes: quantity %d (y, dx, dγ summed, dβ summed) within 1e-5 relative (%.3g)",
              i, e2[i]);
    for (int r = 0; r < 2; r++)
        CHECK(rel_diff(ranks[r].rm, whole.rm, C) <= 1e-5 && rel_diff(ranks[r].rv, whole.rv, C) <= 1e-5,
              "two processes: rank %d's running statistics are the whole batch's (%.3g, %.3g)", r,
              rel_diff(ranks[r].rm, whole.rm, C), rel_diff(ranks[r].rv, whole.rv, C));
    printf("synchronised vs whole batch, largest relative difference: one process %.2g, two processes %.2g\n",
           fmax(fmax(e1[0], e1[1]), fmax(e1[2], e1[3])), fmax(fmax(e2[0], e2[1]), fmax(e2[2], e2[3])));

    /* without synchronisation each half uses its own statistics: far from the whole batch */
    CHECK(run_bn(bl_kernels_ref(), 0, N / 2, NULL, NULL, &unsynced) == 0 &&
              run_bn(bl_kernels_ref(), N / 2, N / 2, NULL, NULL, &unsynced) == 0,
          "the halves alone");
    double e3 = rel_diff(unsynced.y, whole.y, TOTAL);
    CHECK(e3 > 1e-2, "unsynchronised halves differ from the whole batch (%.3g): the comparison above can fail", e3);

    /* a backend without the two slots is refused */
    bl_kernels bare = *bl_kernels_ref();
    bare.batchnorm2d_moments = NULL;
    bl_ctx *ctx = NULL;
    CHECK(bl_ctx_create(&bare, &ctx) == BL_OK, "a backend without the optional slots is a backend");
    if (ctx) {
        int c = C, shape[4] = {N, C, H, W};
        bl_tensor *g = bl_param(ctx, "g", 1, &c), *b = bl_param(ctx, "b", 1, &c);
        bl_set_training(ctx, 1);
        bl_set_batch_reduce(ctx, one_process, NULL);
        bl_tensor *y = bl_batchnorm2d(ctx, bl_tensor_from(ctx, 4, shape, xs), g, b, NULL, NULL, 1e-5f, 0.1f);
        CHECK(!y && bl_ctx_status(ctx) == BL_ERR_UNSUPPORTED && strstr(bl_ctx_error(ctx), "batchnorm2d_moments"),
              "synchronised batchnorm on a backend without its slots: refused by name (%s)", bl_ctx_error(ctx));
        bl_ctx_free(ctx);
    }
    free(halves[0]);
    free(halves[1]);
    return test_summary("test_batchnorm_sync");
}
