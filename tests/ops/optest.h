/* optest.h — the one op-test harness: a table of cases per op, run on every backend present against the ref oracle,
 * replayed against frozen PyTorch results, and (where the case asks) gradient-checked in float64.
 *
 * An op (tests/ops/<op>.c) is an optest_op: its name, its inputs (name, role), a table of cases (shapes and
 * attributes), a build function that calls the public bl_<op> through the autograd API, the tolerance each output
 * gets on each kind of backend, and optionally a float64 gradient check of ref's kernels on a case's shapes. The
 * harness does the rest, the same way for every op:
 *
 *   parity     each case on each backend configuration (ref is the oracle; guard, cpu at 1/2/3 threads and every
 *              narrower instruction set, cuda deterministic / non-deterministic / TF32): fresh random inputs (seeded,
 *              printed), forward, backward seeded with a random dy, parameter gradients accumulated onto random
 *              starts (the += rule); every output — y, each input's gradient, each buffer updated in place — is
 *              compared with ref's by the tolerance the op names for it: bitwise, ulps (|got − want| ≤ 2⁻²²·|want|
 *              + 1e-12·max|want|) or the dot-product bound of docs/numerics.md ("Backend parity"):
 *                  |got − ref| ≤ (K + ⌈K/64⌉ + 2)·u·(|A|·|B|) + u·|ref|,   u = 2⁻²⁴ (TF32: + 2⁻⁹·(|A|·|B|))
 *              with |A|·|B| the same case run on ref with every input, dy and gradient start replaced by its
 *              absolute value. Then the case runs again on the same backend and must give the same bits
 *              (determinism; not for cuda's non-deterministic configuration).
 *   golden     every case of tests/golden/ops.safetensors whose op this op replays, built by the same build
 *              function from the file's tensors, compared with torch's within the file's tolerance inputs
 *              (docs/numerics.md, "Golden tests"), on every backend configuration.
 *   gradcheck  cases flagged OPTEST_GRADCHECK: central differences in double against ref's float64 backward kernels
 *              (tests/ops/gradcheck64.h), the accumulate and NULL-gradient rules, and the float variant within 1 ulp
 *              of the double one.
 *
 * Results: one line per (op, check) with the cases run and the worst error as a fraction of its tolerance; a failure
 * names the op, backend, case, tensor and element. tests/test_op.c runs one op (ctest registers test_op_<op>),
 * `blasto selftest` runs them all (tools/cli/cmd_selftest.c). */
#ifndef BLASTO_OPTEST_H
#define BLASTO_OPTEST_H

#include <stddef.h>
#include <stdint.h>

#include "core/autograd.h"
#include "core/kernels.h"

#define OPTEST_MAX_INPUTS 8
#define OPTEST_MAX_OUTPUTS 12

/* ---- inputs ---- */

typedef enum optest_role {
    OPTEST_DEFAULT = 0, /* in a case: the op's default role for this input */
    OPTEST_GRAD,       /* a step tensor that requires a gradient (compared as "d<name>") */
    OPTEST_NOGRAD,     /* a step tensor without gradient (targets, weights, masks) */
    OPTEST_PARAM,      /* a parameter: its gradient starts from random values and accumulates ("d<name>") */
    OPTEST_BUFFER,     /* a persistent buffer the op updates in place (compared as "<name>" afterwards) */
    OPTEST_ABSENT,     /* not given (an optional input left NULL in this case) */
} optest_role;

/* How a case's input is filled (all deterministic in the run's seed). */
typedef enum optest_fill {
    OPTEST_UNIFORM = 0, /* uniform in [lo, hi) */
    OPTEST_AWKWARD,     /* uniform, then exact zeros and −0 sprinkled in (ReLU's kink, −0 + 0 = +0) */
    OPTEST_AWKWARD_NAN, /* AWKWARD plus a NaN every ~1000 elements */
    OPTEST_TIES,        /* uniform rounded to multiples of 1/4 (pooling windows hold ties), with NaNs */
    OPTEST_CLASSES,     /* ⌊uniform⌋: integers lo … hi−1 (class labels; lo = −1 gives ignored pixels) */
} optest_fill;

typedef struct optest_input {
    int ndim;
    int shape[4];
    float lo, hi;       /* the fill range; lo == hi == 0 means [−1, 1) */
    optest_fill fill;
    optest_role role;   /* OPTEST_DEFAULT: the op's default_roles[i] */
} optest_input;

/* ---- attributes: every op reads the fields it needs ---- */

typedef struct optest_attrs {
    int stride[2], pad[2], dil[2], kernel[2];
    int count_include_pad;
    int training;        /* batchnorm2d, dropout: 1 = training mode */
    int variant;         /* an op's own sub-case selector (e.g. batchnorm2d's fused forms) */
    float eps, momentum, p, alpha, scale;
    int steps;           /* optimizers */
    float lr, momentum_sgd, dampening, weight_decay, beta1, beta2;
    int nesterov, decoupled;
    int trans_a, trans_b, m, n, k; /* sgemm: C = alpha·op(A)·op(B) + beta·C */
    float beta;
    uint64_t key;        /* dropout's mask stream */
    int ndim, shape[4];  /* reshape's target */
    int out_pad[2];      /* conv_transpose2d */
    int size[2];         /* upsample_bilinear2d: h_out, w_out */
    int ignore_index, skip_background; /* class losses */
    float smooth;
} optest_attrs;

/* ---- tolerances ---- */

typedef enum optest_tol {
    OPTEST_BITWISE = 0,
    OPTEST_ULPS,        /* |got − want| ≤ 2⁻²²·|want| + 1e-12·max|want| */
    OPTEST_DOT,         /* the K-term dot-product bound with |A|·|B| from ref on absolute values */
} optest_tol;

/* What kind of backend a result comes from: the tolerance an op names may depend on it. */
typedef enum optest_class {
    OPTEST_EXACT_BACKEND = 0, /* runs ref's own kernels (guard): everything bitwise */
    OPTEST_CPU,
    OPTEST_CUDA,
    OPTEST_CUDA_TF32,         /* cuda with TF32 tensor-core math: the dot bound gains 2⁻⁹·(|A|·|B|) per element */
} optest_class;

typedef struct optest_case {
    const char *name;
    optest_input in[OPTEST_MAX_INPUTS]; /* in the op's input order */
    optest_attrs a;
    unsigned flags;
} optest_case;

enum {
    OPTEST_GRADCHECK = 1u << 0,    /* also run the op's float64 gradient check on this case's shapes */
    OPTEST_FORWARD_ONLY = 1u << 1, /* no backward: the build's result is compared as it is (optimizer steps) */
};

/* ---- the case being built: what a build function gets ---- */

typedef struct optest_run optest_run;

/* The case's input `i` as a tensor of the run's context (NULL when absent in this case). */
bl_tensor *optest_in(optest_run *r, int i);
/* Declare an extra output to compare (e.g. a tensor the op wrote that is neither y nor a gradient). */
void optest_output(optest_run *r, const char *name, bl_tensor *t);
/* Random host values for this run (deterministic in the seed, the case and `index`); freed with the run. */
float *optest_random(optest_run *r, int64_t count, uint64_t index, float lo, float hi);
/* The run's context and the case's attributes. */
bl_ctx *optest_ctx(optest_run *r);
const optest_attrs *optest_attrs_of(optest_run *r);

typedef struct optest_op {
    const char *name;            /* "conv2d": the test is test_op_conv2d */
    const char *doc;             /* docs/ops/<op>.md */
    int n_inputs;
    const char *input_names[OPTEST_MAX_INPUTS];
    optest_role default_roles[OPTEST_MAX_INPUTS];
    const optest_case *cases;
    int n_cases;
    /* y = the op on optest_in(r, …), built through the public API; NULL on failure (the context's error). A few
     * cases call a kernel slot directly on the context's tensors (bl_ctx_kernels(ctx)->slot(…)) to reach arguments
     * the API never passes (axpy's α, an arbitrary dropout mask, a strided batchnorm input): their y requires no
     * gradient, and the harness compares y and the declared outputs only. */
    bl_tensor *(*build)(optest_run *r);
    /* The tolerance of output `tensor` ("y", "dx", "running_mean", …) on a backend of class cls, and for
     * OPTEST_DOT the number of terms K of its dot products. */
    optest_tol (*tolerance)(const optest_case *c, const char *tensor, optest_class cls, int64_t *k);
    /* Golden replay: the op names of tests/golden/ops.safetensors this op builds (NULL-terminated), and the
     * attributes of a golden case (from the file's JSON, read through optest_golden_attr); NULL: no golden. */
    const char *golden_ops[4];
    void (*golden_attrs)(const void *json_attrs, const char *golden_op, optest_attrs *a);
    /* The float64 gradient check of ref's kernels on this case's shapes (cases flagged OPTEST_GRADCHECK). */
    void (*gradcheck)(const optest_case *c);
} optest_op;

/* attrs[key] (or attrs[key][index] when it is an array) of a golden case's JSON, as a number; `fallback` if absent */
double optest_golden_attr(const void *json_attrs, const char *key, int index, double fallback);

/* ---- backends ---- */

typedef struct optest_backend {
    char name[48];              /* "cpu avx2, 2 threads" */
    const bl_kernels *k;
    optest_class cls;
    int threads;                /* bl_threads_set before its runs (0: leave as is) */
    int deterministic;          /* its second run must give the same bits */
} optest_backend;

/* The host backends to compare with ref: the cpu backend with the best instruction set this machine has at 1, 2 and
 * 3 threads, and with every narrower one (AVX2, portable C) at 2 threads — Winograd off in all of them (its own bound
 * is tests/test_conv_cpu.c's: the harness holds convolutions to the direct dot-product bound). `only` (NULL: all)
 * keeps those whose name starts with it. Fills out[] (at most max), returns the count; free with
 * optest_backends_free. */
int optest_host_backends(optest_backend *out, int max, const char *only);
void optest_backends_free(optest_backend *b, int n);
/* The cuda backend in configuration i (0 deterministic, 1 non-deterministic, 2 TF32): opened (a previous one
 * closed), into *out. 0 when this build has no CUDA, no device is visible, or i is out of range; −1 when opening
 * failed (bl_last_error). optest_cuda_close closes it. */
int optest_cuda_backend(int i, optest_backend *out);
void optest_cuda_close(void);

/* ---- running ---- */

typedef struct optest_options {
    uint64_t seed;
    const optest_backend *backends; /* compared with ref, in order (ref itself is the oracle, not in the list) */
    int n_backends;
    const char *golden_path;    /* tests/golden/ops.safetensors, or NULL: no golden replay */
    int parity, golden, gradcheck;
    int print_checks;           /* one line per check (parity, golden, gradcheck) with where its worst error was */
} optest_options;

/* What one check of an op found: cases run, the worst error as a fraction of its tolerance (> 1 fails), failures. */
typedef struct optest_check {
    int cases, failures;
    double worst;
    char worst_at[256];
} optest_check;

typedef struct optest_result {
    optest_check parity, golden, gradcheck;
} optest_result;

/* Runs the checks o asks for on one op; every failure is printed on stderr as "FAIL <op>: <backend>, case '…',
 * <tensor> element i: got …, ref … (…)". Returns the number of failures (0: the op passed); *result may be NULL. */
int optest_run_op(const optest_op *op, const optest_options *o, optest_result *result);

/* The ops of the harness, in order, and lookup by name (NULL when unknown). */
int optest_op_count(void);
const optest_op *optest_op_at(int i);
const optest_op *optest_op_find(const char *name);

#endif
